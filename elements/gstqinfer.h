/* physnn — qinfer: mixed-precision quantized inference and live calibration.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstphysnnfilter.h"

G_BEGIN_DECLS

/**
 * GstQInferMode:
 * @GST_QINFER_MODE_INFER: run the model quantized by `plan`
 * @GST_QINFER_MODE_CALIBRATE: run the float model, collect activation
 *   statistics and write `plan`
 *
 * What qinfer does with the stream.
 */
typedef enum {
  GST_QINFER_MODE_INFER,
  GST_QINFER_MODE_CALIBRATE,
} GstQInferMode;

#define GST_TYPE_QINFER_MODE (gst_qinfer_mode_get_type ())
GType gst_qinfer_mode_get_type (void);

#define GST_TYPE_QINFER (gst_qinfer_get_type ())
G_DECLARE_FINAL_TYPE (GstQInfer, gst_qinfer, GST, QINFER, GstPhysnnFilter)

GST_ELEMENT_REGISTER_DECLARE (qinfer);

G_END_DECLS
