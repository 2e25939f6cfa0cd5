/* physnn — GstPhysnnFilter: the base class of every physnn filter element.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/base/gstbasetransform.h>

#include "gstphysnncaps.h"

G_BEGIN_DECLS

/**
 * GstPhysnnNonfinite:
 * @GST_PHYSNN_NONFINITE_ERROR: stop the stream with an error naming the
 *   tensor and the number of bad values
 * @GST_PHYSNN_NONFINITE_DROP: drop the buffer and post a warning
 * @GST_PHYSNN_NONFINITE_PASS: process the buffer anyway
 *
 * What a filter does with NaN or infinite input samples.
 */
typedef enum {
  GST_PHYSNN_NONFINITE_ERROR,
  GST_PHYSNN_NONFINITE_DROP,
  GST_PHYSNN_NONFINITE_PASS,
} GstPhysnnNonfinite;

#define GST_TYPE_PHYSNN_NONFINITE (gst_physnn_nonfinite_get_type ())
GType gst_physnn_nonfinite_get_type (void);

#define GST_TYPE_PHYSNN_FILTER (gst_physnn_filter_get_type ())
G_DECLARE_DERIVABLE_TYPE (GstPhysnnFilter, gst_physnn_filter, GST,
    PHYSNN_FILTER, GstBaseTransform)

/**
 * GstPhysnnFilterClass:
 * @get_output_info: describe the output for a negotiated input; return
 *   %FALSE with @error set if the input cannot be processed. The default
 *   keeps the input description. Called during negotiation with fixed input
 *   caps; must not depend on state set up later.
 * @setup: prepare for streaming with the negotiated descriptions; the
 *   device is open. Errors stop the pipeline with their message.
 * @process: compute @outputs from @inputs (views on the mapped buffers;
 *   results may stay on the device, the base class maps them back). Return
 *   %GST_FLOW_OK, %GST_BASE_TRANSFORM_FLOW_DROPPED, or %GST_FLOW_ERROR with
 *   @error set.
 *
 * Subclasses get: caps parsing for other/tensors, audio/x-raw and GRAY
 * video; one GstMemory per output tensor; the `device` property and an open
 * #PhysnnDevice; NaN/Inf screening; processing-time statistics and a latency
 * answer based on them.
 */
struct _GstPhysnnFilterClass {
  GstBaseTransformClass parent_class;

  gboolean (*get_output_info) (GstPhysnnFilter *filter,
      const GstPhysnnTensorsInfo *in, GstPhysnnTensorsInfo *out,
      GError **error);
  gboolean (*setup) (GstPhysnnFilter *filter, const GstPhysnnTensorsInfo *in,
      const GstPhysnnTensorsInfo *out, GError **error);
  GstFlowReturn (*process) (GstPhysnnFilter *filter, GstBuffer *inbuf,
      PhysnnTensor **inputs, guint n_inputs, GstBuffer *outbuf,
      PhysnnTensor **outputs, guint n_outputs, GError **error);

  gpointer padding[8];
};

PhysnnDevice *gst_physnn_filter_get_device (GstPhysnnFilter *filter);
const GstPhysnnTensorsInfo *gst_physnn_filter_get_input_info (
    GstPhysnnFilter *filter);
const GstPhysnnTensorsInfo *gst_physnn_filter_get_output_info (
    GstPhysnnFilter *filter);
void gst_physnn_filter_post_error (GstPhysnnFilter *filter,
    const GError *error, const gchar *context);

G_END_DECLS
