/* physnn — GstResidualMeta: what residualexplain found on one buffer.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/**
 * GstResidualMeta:
 * @meta: the parent
 * @info: the same `physnn-residual` structure residualexplain posts as an
 *   element message for this buffer: rms, mean-abs, max, p99, hotspots,
 *   condition residuals, the data misfit at the sensors and anomaly flags
 *   (see docs/residual.md for every field)
 *
 * Attached by residualexplain to each output buffer. A structure rather than
 * C fields so that the message, the meta and the documentation share one
 * definition; it survives transforms that keep one buffer per input buffer.
 */
typedef struct {
  GstMeta meta;
  GstStructure *info;
} GstResidualMeta;

GType gst_residual_meta_api_get_type (void);
const GstMetaInfo *gst_residual_meta_get_info (void);
#define GST_RESIDUAL_META_API_TYPE (gst_residual_meta_api_get_type ())
#define GST_RESIDUAL_META_INFO (gst_residual_meta_get_info ())

GstResidualMeta *gst_buffer_add_residual_meta (
    GstBuffer *buffer, const GstStructure *info);
#define gst_buffer_get_residual_meta(b)                                        \
  ((GstResidualMeta *)gst_buffer_get_meta ((b), GST_RESIDUAL_META_API_TYPE))

G_END_DECLS
