/* physnn — elementary tensor operations on any device.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "physnn/device.h"
#include "physnn/tensor.h"

G_BEGIN_DECLS

gboolean physnn_ops_axpy (PhysnnDevice *device, gfloat alpha,
    PhysnnTensor *x, PhysnnTensor *y, GError **error);
gboolean physnn_ops_cast (PhysnnDevice *device, PhysnnTensor *src,
    PhysnnTensor *dst, GError **error);

G_END_DECLS
