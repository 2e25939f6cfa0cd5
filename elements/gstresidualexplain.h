/* physnn — residualexplain: where a model (or the data) breaks physics.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstphysnnfilter.h"

G_BEGIN_DECLS

/**
 * GstResidualExplainAttribution:
 * @GST_RESIDUAL_EXPLAIN_ATTRIBUTION_NONE: residual only
 * @GST_RESIDUAL_EXPLAIN_ATTRIBUTION_INTEGRATED_GRADIENTS: integrated
 *   gradients, plus the completeness delta per point
 * @GST_RESIDUAL_EXPLAIN_ATTRIBUTION_SALIENCY: |∂u/∂x|
 * @GST_RESIDUAL_EXPLAIN_ATTRIBUTION_SMOOTHGRAD: mean gradient over noisy
 *   copies of the input
 *
 * Attributions residualexplain adds to its tensor output.
 */
typedef enum {
  GST_RESIDUAL_EXPLAIN_ATTRIBUTION_NONE,
  GST_RESIDUAL_EXPLAIN_ATTRIBUTION_INTEGRATED_GRADIENTS,
  GST_RESIDUAL_EXPLAIN_ATTRIBUTION_SALIENCY,
  GST_RESIDUAL_EXPLAIN_ATTRIBUTION_SMOOTHGRAD,
} GstResidualExplainAttribution;

#define GST_TYPE_RESIDUAL_EXPLAIN (gst_residual_explain_get_type ())
G_DECLARE_FINAL_TYPE (GstResidualExplain, gst_residual_explain, GST,
    RESIDUAL_EXPLAIN, GstPhysnnFilter)

GST_ELEMENT_REGISTER_DECLARE (residualexplain);

G_END_DECLS
