/* physnn — explaining a model: residual statistics and hotspots,
 * attributions (integrated gradients, saliency, SmoothGrad) and residual
 * heatmaps.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "physnn/colormap.h"
#include "physnn/device.h"
#include "physnn/model.h"
#include "physnn/tensor.h"

G_BEGIN_DECLS

/**
 * PhysnnIntegrationRule:
 * @PHYSNN_INTEGRATION_GAUSS_LEGENDRE: Gauss–Legendre nodes and weights on
 *   [0, 1] (Captum's default; exact for polynomials of degree 2n − 1)
 * @PHYSNN_INTEGRATION_RIEMANN_LEFT: α = k/n, k = 0 … n − 1, weights 1/n
 * @PHYSNN_INTEGRATION_RIEMANN_RIGHT: α = k/n, k = 1 … n, weights 1/n
 * @PHYSNN_INTEGRATION_RIEMANN_MIDDLE: α = (k + ½)/n, weights 1/n
 * @PHYSNN_INTEGRATION_RIEMANN_TRAPEZOID: α = k/(n − 1), k = 0 … n − 1,
 *   weights 1/(n − 1), halved at both ends
 *
 * Quadrature rule of the path integral of integrated gradients.
 */
typedef enum {
  PHYSNN_INTEGRATION_GAUSS_LEGENDRE,
  PHYSNN_INTEGRATION_RIEMANN_LEFT,
  PHYSNN_INTEGRATION_RIEMANN_RIGHT,
  PHYSNN_INTEGRATION_RIEMANN_MIDDLE,
  PHYSNN_INTEGRATION_RIEMANN_TRAPEZOID,
} PhysnnIntegrationRule;

/**
 * PhysnnAttributionMethod:
 * @PHYSNN_ATTRIBUTION_NONE: no attribution
 * @PHYSNN_ATTRIBUTION_INTEGRATED_GRADIENTS: integrated gradients along the
 *   straight path from a baseline (Sundararajan et al. 2017)
 * @PHYSNN_ATTRIBUTION_SALIENCY: |∂F/∂x| at the input
 * @PHYSNN_ATTRIBUTION_SMOOTHGRAD: the mean gradient over noisy copies of
 *   the input (Smilkov et al. 2017)
 *
 * How an output is attributed to the features of an input.
 */
typedef enum {
  PHYSNN_ATTRIBUTION_NONE,
  PHYSNN_ATTRIBUTION_INTEGRATED_GRADIENTS,
  PHYSNN_ATTRIBUTION_SALIENCY,
  PHYSNN_ATTRIBUTION_SMOOTHGRAD,
} PhysnnAttributionMethod;

PhysnnTensor *physnn_integration_points (
    PhysnnIntegrationRule rule, guint n_steps, GError **error);

/* Residual statistics */

#define PHYSNN_TYPE_RESIDUAL_STATS (physnn_residual_stats_get_type ())
G_DECLARE_FINAL_TYPE (
    PhysnnResidualStats, physnn_residual_stats, PHYSNN, RESIDUAL_STATS, GObject)

PhysnnResidualStats *physnn_residual_stats_new (PhysnnTensor *residual,
    guint top_k, const gsize *grid_shape, guint grid_rank, GError **error);
gsize physnn_residual_stats_get_n_points (PhysnnResidualStats *self);
gsize physnn_residual_stats_get_n_nonfinite (PhysnnResidualStats *self);
gdouble physnn_residual_stats_get_rms (PhysnnResidualStats *self);
gdouble physnn_residual_stats_get_mean_abs (PhysnnResidualStats *self);
gdouble physnn_residual_stats_get_max (PhysnnResidualStats *self);
gdouble physnn_residual_stats_get_p99 (PhysnnResidualStats *self);
guint physnn_residual_stats_get_n_hotspots (PhysnnResidualStats *self);
gsize physnn_residual_stats_get_hotspot_index (
    PhysnnResidualStats *self, guint rank);
gdouble physnn_residual_stats_get_hotspot_value (
    PhysnnResidualStats *self, guint rank);
PhysnnTensor *physnn_residual_stats_get_magnitude (PhysnnResidualStats *self);

/* Attributions */

#define PHYSNN_TYPE_EXPLAINER (physnn_explainer_get_type ())
G_DECLARE_FINAL_TYPE (
    PhysnnExplainer, physnn_explainer, PHYSNN, EXPLAINER, GObject)

PhysnnExplainer *physnn_explainer_new (PhysnnModel *model, const gchar *input,
    const gchar *output, GError **error);
const gchar *physnn_explainer_get_input (PhysnnExplainer *self);
gint physnn_explainer_get_input_index (PhysnnExplainer *self);
const gchar *physnn_explainer_get_output (PhysnnExplainer *self);
guint physnn_explainer_get_n_features (PhysnnExplainer *self);

PhysnnTensor *physnn_explainer_gradient (PhysnnExplainer *self,
    PhysnnDevice *device, PhysnnTensor **inputs, guint n_inputs,
    PhysnnTensor **values, GError **error);
PhysnnTensor *physnn_explainer_integrated_gradients (PhysnnExplainer *self,
    PhysnnDevice *device, PhysnnTensor **inputs, guint n_inputs,
    PhysnnTensor *baseline, guint n_steps, PhysnnIntegrationRule rule,
    PhysnnTensor **delta, GError **error);
PhysnnTensor *physnn_explainer_saliency (PhysnnExplainer *self,
    PhysnnDevice *device, PhysnnTensor **inputs, guint n_inputs,
    GError **error);
PhysnnTensor *physnn_explainer_smoothgrad (PhysnnExplainer *self,
    PhysnnDevice *device, PhysnnTensor **inputs, guint n_inputs,
    guint n_samples, gdouble sigma, guint64 seed, GError **error);

/* Heatmaps */

gboolean physnn_heatmap_render (PhysnnTensor *values, guint data_width,
    guint data_height, gdouble vmin, gdouble vmax, gboolean log_scale,
    PhysnnColormap colormap, guint colorbar, guint8 *rgb, guint width,
    guint height, gsize stride, GError **error);
PhysnnTensor *physnn_heatmap_new (PhysnnTensor *values, guint data_width,
    guint data_height, gdouble vmin, gdouble vmax, gboolean log_scale,
    PhysnnColormap colormap, guint colorbar, guint width, guint height,
    GError **error);
gboolean physnn_heatmap_render_residual (PhysnnDevice *device,
    PhysnnTensor *residual, guint data_width, guint data_height, gdouble vmin,
    gdouble vmax, gboolean log_scale, PhysnnColormap colormap, guint colorbar,
    PhysnnTensor *picture, guint width, GError **error);

G_END_DECLS
