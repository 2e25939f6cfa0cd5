/* physnn — physics-informed and spiking neural networks: the engine.
 *
 * libphysnn-1.0 is a GObject library with no GStreamer dependency. Include
 * this header only.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#define __PHYSNN_H_INSIDE__

#include "physnn/version.h"
#include "physnn/error.h"
#include "physnn/dtype.h"
#include "physnn/device.h"
#include "physnn/tensor.h"
#include "physnn/ops.h"
#include "physnn/simulator.h"
#include "physnn/sensors.h"
#include "physnn/colormap.h"
#include "physnn/model.h"
#include "physnn/encode.h"
#include "physnn/nir.h"
#include "physnn/snn.h"
#include "physnn/grad.h"
#include "physnn/optim.h"
#include "physnn/npy.h"
#include "physnn/train.h"
#include "physnn/pde.h"
#include "physnn/explain.h"
#include "physnn/anomaly.h"
#include "physnn/quant.h"
#include "physnn/neuro.h"
#include "physnn/energy.h"
#include "physnn/spike-record.h"
#include "physnn/enums.h"

#undef __PHYSNN_H_INSIDE__
