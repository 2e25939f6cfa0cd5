/* physnn — snninfer: spiking network inference from NIR, with homeostasis
 * and online STDP.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstphysnnfilter.h"

G_BEGIN_DECLS

/**
 * GstSnnInferOutput:
 * @GST_SNN_INFER_OUTPUT_AUTO: spikes when the Output node receives spikes,
 *   values otherwise
 * @GST_SNN_INFER_OUTPUT_SPIKES: uint8 spikes [steps][outputs] (can leave as
 *   application/x-spike-events)
 * @GST_SNN_INFER_OUTPUT_VALUES: float32 values reaching the Output node
 *   [steps][outputs] (a leaky integrator's potential, or 0/1 spikes)
 * @GST_SNN_INFER_OUTPUT_MEMBRANE: float32 membrane potentials of the neuron
 *   node before the Output node [steps][neurons]
 * @GST_SNN_INFER_OUTPUT_RATES: float32 firing rates in Hz over the buffer
 *   [outputs]
 *
 * What snninfer emits per buffer.
 */
typedef enum {
  GST_SNN_INFER_OUTPUT_AUTO,
  GST_SNN_INFER_OUTPUT_SPIKES,
  GST_SNN_INFER_OUTPUT_VALUES,
  GST_SNN_INFER_OUTPUT_MEMBRANE,
  GST_SNN_INFER_OUTPUT_RATES,
} GstSnnInferOutput;

#define GST_TYPE_SNN_INFER_OUTPUT (gst_snn_infer_output_get_type ())
GType gst_snn_infer_output_get_type (void);

#define GST_TYPE_SNN_INFER (gst_snn_infer_get_type ())
G_DECLARE_FINAL_TYPE (
    GstSnnInfer, gst_snn_infer, GST, SNN_INFER, GstPhysnnFilter)

GST_ELEMENT_REGISTER_DECLARE (snninfer);

G_END_DECLS
