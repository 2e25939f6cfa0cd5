/* physnn — explaining a model.
 *
 * Residual statistics: RMS, mean |r|, max, the 99th percentile (by
 * selection, not sorting: a frame of 65536 points costs one pass) and the
 * top-k hotspots, which are local maxima of |r| on the grid so that one
 * peak does not fill the list with its neighbours.
 *
 * Attributions of one output component F to the features (columns) of one
 * model input x, per point:
 *   gradient            ∂F/∂x_j, from the model's forward-mode jets (one
 *                       first-order direction per feature; up to 16)
 *   saliency            |∂F/∂x_j|
 *   integrated gradients (x_j − b_j) Σ_k w_k ∂F/∂x_j (b + α_k (x − b)),
 *                       with the completeness delta
 *                       Σ_j IG_j − (F(x) − F(b)) per point
 *   SmoothGrad          (1/S) Σ_s ∂F/∂x_j (x + ε_s), ε_s ~ N(0, σ²)
 * The input may hold one row per point (a PINN's coordinates) or one row
 * for all points (a DeepONet's sensor vector): then every point's output is
 * attributed to the shared features. Each quadrature node costs one model
 * evaluation of all points. On the C path gradients and sums are float64.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/explain.h"
#include "physnn/device-private.h"
#include "physnn/error.h"
#include "physnn/model-private.h"
#include "physnn/tensor-private.h"

#include <math.h>
#include <string.h>

#define MAX_FEATURES 16 /* first-order jet directions */
#define MAX_TOP_K 1024
#define MAX_STEPS 100000

/* ------------------------------------------------------------------------ */
/* Quadrature */

/* Gauss–Legendre nodes and weights on [-1, 1] by Newton's method on P_n,
 * from the usual initial guesses; converges to machine precision in a few
 * steps for any n we allow. */
static void
gauss_legendre (guint n, gdouble *x, gdouble *w)
{
  for (guint i = 0; i < (n + 1) / 2; i++) {
    gdouble z = cos (G_PI * (i + 0.75) / (n + 0.5)), dp = 0;
    for (guint it = 0; it < 100; it++) {
      gdouble p0 = 1.0, p1 = z;
      for (guint k = 2; k <= n; k++) {
        gdouble p2 = ((2.0 * k - 1.0) * z * p1 - (k - 1.0) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      if (n == 1) {
        p1 = z;
        p0 = 1.0;
      }
      dp = n * (z * p1 - p0) / (z * z - 1.0);
      gdouble dz = p1 / dp;
      z -= dz;
      if (fabs (dz) < 1e-16)
        break;
    }
    /* recompute the derivative at the converged node */
    gdouble p0 = 1.0, p1 = z;
    for (guint k = 2; k <= n; k++) {
      gdouble p2 = ((2.0 * k - 1.0) * z * p1 - (k - 1.0) * p0) / k;
      p0 = p1;
      p1 = p2;
    }
    dp = n == 1 ? 1.0 : n * (z * p1 - p0) / (z * z - 1.0);
    x[i] = -z;
    x[n - 1 - i] = z;
    w[i] = w[n - 1 - i] = 2.0 / ((1.0 - z * z) * dp * dp);
  }
  if (n % 2 == 1)
    x[n / 2] = 0.0;
}

static gboolean
rule_points (PhysnnIntegrationRule rule, guint n, gdouble *alpha,
    gdouble *weight, GError **error)
{
  if (n < 1 || n > MAX_STEPS ||
      (rule == PHYSNN_INTEGRATION_RIEMANN_TRAPEZOID && n < 2)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "integration steps: %u; 1 to %d expected (at least 2 for the "
        "trapezoid rule)",
        n, MAX_STEPS);
    return FALSE;
  }
  switch (rule) {
    case PHYSNN_INTEGRATION_GAUSS_LEGENDRE:
      gauss_legendre (n, alpha, weight);
      for (guint k = 0; k < n; k++) {
        alpha[k] = 0.5 * (alpha[k] + 1.0);
        weight[k] *= 0.5;
      }
      return TRUE;
    case PHYSNN_INTEGRATION_RIEMANN_LEFT:
    case PHYSNN_INTEGRATION_RIEMANN_RIGHT:
    case PHYSNN_INTEGRATION_RIEMANN_MIDDLE: {
      gdouble shift = rule == PHYSNN_INTEGRATION_RIEMANN_LEFT    ? 0.0
                      : rule == PHYSNN_INTEGRATION_RIEMANN_RIGHT ? 1.0
                                                                 : 0.5;
      for (guint k = 0; k < n; k++) {
        alpha[k] = (k + shift) / n;
        weight[k] = 1.0 / n;
      }
      return TRUE;
    }
    case PHYSNN_INTEGRATION_RIEMANN_TRAPEZOID:
      for (guint k = 0; k < n; k++) {
        alpha[k] = (gdouble)k / (n - 1);
        weight[k] = 1.0 / (n - 1);
      }
      weight[0] *= 0.5;
      weight[n - 1] *= 0.5;
      return TRUE;
  }
  g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
      "unknown integration rule %d", rule);
  return FALSE;
}

/**
 * physnn_integration_points:
 * @rule: a quadrature rule
 * @n_steps: the number of nodes
 * @error: return location for a #GError
 *
 * The nodes α_k and weights w_k on [0, 1] that integrated gradients uses.
 *
 * Returns: (transfer full): a float64 tensor [2, n_steps]: the nodes, then
 *   the weights; %NULL with @error set
 */
PhysnnTensor *
physnn_integration_points (
    PhysnnIntegrationRule rule, guint n_steps, GError **error)
{
  if (n_steps < 1 || n_steps > MAX_STEPS)
    return rule_points (rule, n_steps, NULL, NULL, error) ? NULL : NULL;
  gsize shape[2] = { 2, n_steps };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, 2, shape);
  gdouble *d = _physnn_tensor_host (t, PHYSNN_ACCESS_WRITE);
  if (!rule_points (rule, n_steps, d, d + n_steps, error))
    g_clear_object (&t);
  return t;
}

/* ------------------------------------------------------------------------ */
/* Residual statistics */

struct _PhysnnResidualStats {
  GObject parent;
  gsize n, n_nonfinite;
  gdouble rms, mean_abs, max, p99;
  guint n_hot;
  gsize *hot_index;
  gdouble *hot_value;
  PhysnnTensor *magnitude;
};

G_DEFINE_FINAL_TYPE (PhysnnResidualStats, physnn_residual_stats, G_TYPE_OBJECT)

static void
physnn_residual_stats_finalize (GObject *object)
{
  PhysnnResidualStats *self = PHYSNN_RESIDUAL_STATS (object);
  g_free (self->hot_index);
  g_free (self->hot_value);
  g_clear_object (&self->magnitude);
  G_OBJECT_CLASS (physnn_residual_stats_parent_class)->finalize (object);
}

static void
physnn_residual_stats_class_init (PhysnnResidualStatsClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = physnn_residual_stats_finalize;
}

static void
physnn_residual_stats_init (PhysnnResidualStats *self)
{
}

/* Is m[i] (at grid index idx, x fastest) above its neighbours within one
 * step along every axis? The x neighbours are compared first: in a smooth
 * field most points fail there. */
static gboolean
is_local_max (const gfloat *m, gsize i, const gsize *idx, const gsize *dims,
    const gsize *stride)
{
  gint lo[3], hi[3];
  for (guint a = 0; a < 3; a++) {
    lo[a] = idx[a] > 0 ? -1 : 0;
    hi[a] = idx[a] + 1 < dims[a] ? 1 : 0;
  }
  const gfloat v = m[i];
  /* ties go to the lower index so a plateau gives one hotspot */
  if ((lo[0] && m[i - 1] >= v) || (hi[0] && m[i + 1] > v))
    return FALSE;
  for (gint dz = lo[2]; dz <= hi[2]; dz++)
    for (gint dy = lo[1]; dy <= hi[1]; dy++) {
      if (!dy && !dz)
        continue;
      gssize row = dy * (gssize)stride[1] + dz * (gssize)stride[2];
      for (gint dx = lo[0]; dx <= hi[0]; dx++) {
        gsize j = i + row + dx;
        if (m[j] > v || (m[j] == v && j < i))
          return FALSE;
      }
    }
  return TRUE;
}

/**
 * physnn_residual_stats_new:
 * @residual: a residual, [N] or [equations, N] (float32 or float64)
 * @top_k: how many hotspots to find (at most 1024)
 * @grid_shape: (array length=grid_rank) (nullable): points per grid axis,
 *   x fastest, when the points lie on a grid; %NULL treats them as a line
 * @grid_rank: the number of grid axes (0 to 3)
 * @error: return location for a #GError
 *
 * Summarises |r| over the points (for a system, the Euclidean norm of the
 * equations' residuals at each point): RMS, mean, maximum, 99th
 * percentile, and the @top_k largest local maxima of |r| on the grid.
 * Non-finite residuals are counted and left out of the statistics.
 *
 * Returns: (transfer full): the statistics, or %NULL with @error set
 */
PhysnnResidualStats *
physnn_residual_stats_new (PhysnnTensor *residual, guint top_k,
    const gsize *grid_shape, guint grid_rank, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (residual), NULL);
  guint rank;
  const gsize *shape = physnn_tensor_get_shape (residual, &rank);
  gsize n = rank >= 1 ? shape[rank - 1] : 1;
  gsize ne = n ? physnn_tensor_get_n_elements (residual) / n : 0;
  gsize grid_n = 1;
  gsize dims[3] = { n, 1, 1 };

  if (top_k > MAX_TOP_K || grid_rank > 3) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "residual statistics: top_k %u (at most %d), grid rank %u (at most "
        "3)",
        top_k, MAX_TOP_K, grid_rank);
    return NULL;
  }
  for (guint a = 0; a < grid_rank; a++) {
    dims[a] = grid_shape[a];
    grid_n *= grid_shape[a];
  }
  if (grid_rank == 0)
    grid_rank = 1;
  else if (grid_n != n) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "residual statistics: a grid of %" G_GSIZE_FORMAT " points for a "
        "residual of %" G_GSIZE_FORMAT,
        grid_n, n);
    return NULL;
  }
  PhysnnResidualStats *self = g_object_new (PHYSNN_TYPE_RESIDUAL_STATS, NULL);
  self->n = n;
  gsize s1[1] = { n };
  self->magnitude = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, s1);
  gfloat *mag = _physnn_tensor_host (self->magnitude, PHYSNN_ACCESS_WRITE);
  PhysnnDType dt = physnn_tensor_get_dtype (residual);
  gconstpointer base = _physnn_tensor_host (residual, PHYSNN_ACCESS_READ);
  gdouble sum2 = 0, sum1 = 0, mx = 0;
  gsize good = 0;

  for (gsize p = 0; p < n; p++) {
    gdouble a = 0;
    if (ne == 1) {
      a = fabs (dt == PHYSNN_DTYPE_FLOAT32 ? ((const gfloat *)base)[p]
                                           : _physnn_dtype_read (dt, base, p));
    } else {
      for (gsize e = 0; e < ne; e++) {
        gdouble v = _physnn_dtype_read (dt, base, e * n + p);
        a += v * v;
      }
      a = sqrt (a);
    }
    if (!isfinite (a)) {
      self->n_nonfinite++;
      mag[p] = -1.0f; /* below every finite magnitude */
      continue;
    }
    mag[p] = (gfloat)a;
    sum2 += a * a;
    sum1 += a;
    mx = MAX (mx, a);
    good++;
  }
  if (good) {
    self->rms = sqrt (sum2 / good);
    self->mean_abs = sum1 / good;
    self->max = mx;
    /* the 99th percentile by linear interpolation between order
     * statistics k and k + 1, as numpy.percentile does: both are among the
     * good - k largest magnitudes, which a min-heap of that size collects
     * in one pass (about 1 % of the points: most are rejected by one
     * comparison with the heap's minimum) */
    gdouble pos = 0.99 * (good - 1);
    gsize k = (gsize)floor (pos), m = good - k, used = 0;
    gfloat *heap = g_new (gfloat, m);
    for (gsize p = 0; p < n; p++) {
      gfloat v = mag[p];
      if (v < 0 || (used == m && v <= heap[0]))
        continue;
      gsize i;
      if (used < m) { /* sift up */
        i = used++;
        while (i > 0 && heap[(i - 1) / 2] > v) {
          heap[i] = heap[(i - 1) / 2];
          i = (i - 1) / 2;
        }
        heap[i] = v;
        continue;
      }
      i = 0; /* replace the minimum, sift down */
      for (;;) {
        gsize c = 2 * i + 1;
        if (c >= m)
          break;
        if (c + 1 < m && heap[c + 1] < heap[c])
          c++;
        if (heap[c] >= v)
          break;
        heap[i] = heap[c];
        i = c;
      }
      heap[i] = v;
    }
    gdouble lo = heap[0], hi = lo;
    if (m >= 2)
      hi = m >= 3 ? MIN (heap[1], heap[2]) : heap[1];
    self->p99 = lo + (pos - k) * (hi - lo);
    g_free (heap);
  } else {
    self->rms = self->mean_abs = self->max = self->p99 = NAN;
  }

  /* hotspots: the top_k local maxima, kept sorted (descending) */
  self->hot_index = g_new0 (gsize, MAX (top_k, 1));
  self->hot_value = g_new0 (gdouble, MAX (top_k, 1));
  gsize idx[3] = { 0, 0, 0 }, gd[3] = { 1, 1, 1 };
  for (guint a = 0; a < grid_rank; a++)
    gd[a] = dims[a];
  gsize stride[3] = { 1, gd[0], gd[0] * gd[1] };
  for (gsize p = 0; p < n && top_k > 0; p++) {
    if (p > 0 && ++idx[0] == gd[0]) { /* the grid index of p, carried */
      idx[0] = 0;
      if (++idx[1] == gd[1]) {
        idx[1] = 0;
        idx[2]++;
      }
    }
    if (mag[p] < 0 ||
        (self->n_hot == top_k && mag[p] <= self->hot_value[top_k - 1]))
      continue;
    if (!is_local_max (mag, p, idx, gd, stride))
      continue;
    guint pos = self->n_hot < top_k ? self->n_hot++ : top_k - 1;
    while (pos > 0 && self->hot_value[pos - 1] < mag[p]) {
      self->hot_value[pos] = self->hot_value[pos - 1];
      self->hot_index[pos] = self->hot_index[pos - 1];
      pos--;
    }
    self->hot_value[pos] = mag[p];
    self->hot_index[pos] = p;
  }
  for (gsize p = 0; p < n; p++)
    if (mag[p] < 0)
      mag[p] = NAN;
  return self;
}

/**
 * physnn_residual_stats_get_n_points:
 * @self: statistics
 *
 * Returns: the number of points
 */
gsize
physnn_residual_stats_get_n_points (PhysnnResidualStats *self)
{
  g_return_val_if_fail (PHYSNN_IS_RESIDUAL_STATS (self), 0);
  return self->n;
}

/**
 * physnn_residual_stats_get_n_nonfinite:
 * @self: statistics
 *
 * Returns: the number of points whose residual is NaN or infinite
 */
gsize
physnn_residual_stats_get_n_nonfinite (PhysnnResidualStats *self)
{
  g_return_val_if_fail (PHYSNN_IS_RESIDUAL_STATS (self), 0);
  return self->n_nonfinite;
}

/**
 * physnn_residual_stats_get_rms:
 * @self: statistics
 *
 * Returns: sqrt(mean |r|²) over the finite points
 */
gdouble
physnn_residual_stats_get_rms (PhysnnResidualStats *self)
{
  g_return_val_if_fail (PHYSNN_IS_RESIDUAL_STATS (self), NAN);
  return self->rms;
}

/**
 * physnn_residual_stats_get_mean_abs:
 * @self: statistics
 *
 * Returns: mean |r| over the finite points
 */
gdouble
physnn_residual_stats_get_mean_abs (PhysnnResidualStats *self)
{
  g_return_val_if_fail (PHYSNN_IS_RESIDUAL_STATS (self), NAN);
  return self->mean_abs;
}

/**
 * physnn_residual_stats_get_max:
 * @self: statistics
 *
 * Returns: max |r| over the finite points
 */
gdouble
physnn_residual_stats_get_max (PhysnnResidualStats *self)
{
  g_return_val_if_fail (PHYSNN_IS_RESIDUAL_STATS (self), NAN);
  return self->max;
}

/**
 * physnn_residual_stats_get_p99:
 * @self: statistics
 *
 * Returns: the 99th percentile of |r| over the finite points (linear
 *   interpolation between order statistics)
 */
gdouble
physnn_residual_stats_get_p99 (PhysnnResidualStats *self)
{
  g_return_val_if_fail (PHYSNN_IS_RESIDUAL_STATS (self), NAN);
  return self->p99;
}

/**
 * physnn_residual_stats_get_n_hotspots:
 * @self: statistics
 *
 * Returns: the number of hotspots found (at most the top_k asked for)
 */
guint
physnn_residual_stats_get_n_hotspots (PhysnnResidualStats *self)
{
  g_return_val_if_fail (PHYSNN_IS_RESIDUAL_STATS (self), 0);
  return self->n_hot;
}

/**
 * physnn_residual_stats_get_hotspot_index:
 * @self: statistics
 * @rank: 0 for the largest hotspot
 *
 * Returns: the point index of the hotspot
 */
gsize
physnn_residual_stats_get_hotspot_index (PhysnnResidualStats *self, guint rank)
{
  g_return_val_if_fail (PHYSNN_IS_RESIDUAL_STATS (self), 0);
  return rank < self->n_hot ? self->hot_index[rank] : 0;
}

/**
 * physnn_residual_stats_get_hotspot_value:
 * @self: statistics
 * @rank: 0 for the largest hotspot
 *
 * Returns: |r| at the hotspot
 */
gdouble
physnn_residual_stats_get_hotspot_value (PhysnnResidualStats *self, guint rank)
{
  g_return_val_if_fail (PHYSNN_IS_RESIDUAL_STATS (self), NAN);
  return rank < self->n_hot ? self->hot_value[rank] : NAN;
}

/**
 * physnn_residual_stats_get_magnitude:
 * @self: statistics
 *
 * Returns: (transfer none): |r| per point, float32 [N] (NaN where the
 *   residual is not finite)
 */
PhysnnTensor *
physnn_residual_stats_get_magnitude (PhysnnResidualStats *self)
{
  g_return_val_if_fail (PHYSNN_IS_RESIDUAL_STATS (self), NULL);
  return self->magnitude;
}

/* ------------------------------------------------------------------------ */
/* Attributions */

struct _PhysnnExplainer {
  GObject parent;
  PhysnnModel *model; /* our own copy */
  gchar *input_name, *output_name;
  guint input; /* index of the attributed input */
  guint m;     /* its features (columns) */
  guint out_index, out_col;
};

G_DEFINE_FINAL_TYPE (PhysnnExplainer, physnn_explainer, G_TYPE_OBJECT)

static void
physnn_explainer_finalize (GObject *object)
{
  PhysnnExplainer *self = PHYSNN_EXPLAINER (object);
  g_clear_object (&self->model);
  g_free (self->input_name);
  g_free (self->output_name);
  G_OBJECT_CLASS (physnn_explainer_parent_class)->finalize (object);
}

static void
physnn_explainer_class_init (PhysnnExplainerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = physnn_explainer_finalize;
}

static void
physnn_explainer_init (PhysnnExplainer *self)
{
}

/**
 * physnn_explainer_new:
 * @model: the model to explain (it is copied: @model itself is not
 *   reconfigured)
 * @input: (nullable): the input whose features are attributed, such as
 *   "coords" or a DeepONet's "branch"; %NULL picks the one input that is
 *   not the coordinate input if there is exactly one (a DeepONet's
 *   sensors), else the coordinate input
 * @output: (nullable): the output component explained, such as "u"; %NULL
 *   for the first
 * @error: return location for a #GError
 *
 * Prepares attributions of one output component to the features (last-axis
 * columns, at most 16) of one input.
 *
 * Returns: (transfer full): the explainer, or %NULL with @error set
 */
PhysnnExplainer *
physnn_explainer_new (
    PhysnnModel *model, const gchar *input, const gchar *output, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (model), NULL);
  const gchar *path = physnn_model_get_path (model);
  guint n_in = physnn_model_get_n_inputs (model);
  gint idx = -1;

  if (input == NULL) {
    const gchar *cin = physnn_model_get_coordinate_input (model);
    gint other = -1, n_other = 0;
    for (guint i = 0; i < n_in; i++) {
      const gchar *name = physnn_model_get_input_name (model, i);
      if (cin == NULL || g_strcmp0 (name, cin) != 0) {
        other = (gint)i;
        n_other++;
      }
    }
    idx = n_other == 1 && cin ? other
          : cin               ? physnn_model_find_input (model, cin)
          : n_in == 1         ? 0
                              : -1;
    if (idx < 0) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "%s: say which of the model's %u inputs to attribute to", path, n_in);
      return NULL;
    }
  } else {
    idx = physnn_model_find_input (model, input);
    if (idx < 0) {
      GString *s = g_string_new (NULL);
      for (guint i = 0; i < n_in; i++)
        g_string_append_printf (
            s, "%s%s", i ? ", " : "", physnn_model_get_input_name (model, i));
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "%s: no input called \"%s\" to attribute to (inputs: %s)", path,
          input, s->str);
      g_string_free (s, TRUE);
      return NULL;
    }
  }
  guint rank;
  const gint64 *dims = physnn_model_get_input_shape (model, (guint)idx, &rank);
  gint64 m = rank > 0 && dims ? dims[rank - 1] : 1;
  if (rank < 2 && rank > 0)
    m = 1; /* [N]: one feature */
  if (m < 1 || m > MAX_FEATURES) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "%s: input \"%s\" has %s features; attributions cover 1 to %d (one "
        "forward-mode direction each)",
        path, physnn_model_get_input_name (model, (guint)idx),
        m < 1 ? "an unknown number of" : "too many", MAX_FEATURES);
    return NULL;
  }

  g_autoptr (PhysnnExplainer) self = g_object_new (PHYSNN_TYPE_EXPLAINER, NULL);
  self->model = physnn_model_copy (model, error);
  if (self->model == NULL)
    return NULL;
  self->input = (guint)idx;
  self->m = (guint)m;
  self->input_name = g_strdup (physnn_model_get_input_name (model, (guint)idx));

  /* the output component, as the model names them */
  g_auto (GStrv) names =
      g_strsplit (physnn_model_get_output_names (model), ",", -1);
  guint used = 0;
  gboolean found = FALSE;
  for (guint o = 0; o < physnn_model_get_n_outputs (model) && !found; o++) {
    const gint64 *od = physnn_model_get_output_shape (model, o, &rank);
    gint64 w = rank > 1 && od && od[rank - 1] > 0 ? od[rank - 1] : 1;
    for (gint64 c = 0; c < MIN (w, 64) && names[used]; c++, used++)
      if (output == NULL || g_str_equal (g_strstrip (names[used]), output)) {
        self->output_name = g_strdup (g_strstrip (names[used]));
        self->out_index = o;
        self->out_col = (guint)c;
        found = TRUE;
        break;
      }
  }
  if (!found) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "%s: no output component \"%s\" to explain (outputs: %s)", path,
        output ? output : "", physnn_model_get_output_names (model));
    return NULL;
  }

  /* Our copy differentiates by the attributed input's columns. */
  GString *coords = g_string_new (NULL), *derivs = g_string_new (NULL);
  for (guint j = 0; j < self->m; j++) {
    g_string_append_printf (coords, "%sig%u", j ? "," : "", j);
    g_string_append_printf (
        derivs, "%s%s_ig%u", j ? "," : "", self->output_name, j);
  }
  gboolean ok = physnn_model_set_coordinates (
                    self->model, self->input_name, coords->str, error) &&
                physnn_model_set_derivatives (self->model, derivs->str, error);
  g_string_free (coords, TRUE);
  g_string_free (derivs, TRUE);
  return ok ? g_steal_pointer (&self) : NULL;
}

/**
 * physnn_explainer_get_input:
 * @self: an explainer
 *
 * Returns: the name of the attributed input
 */
const gchar *
physnn_explainer_get_input (PhysnnExplainer *self)
{
  g_return_val_if_fail (PHYSNN_IS_EXPLAINER (self), NULL);
  return self->input_name;
}

/**
 * physnn_explainer_get_input_index:
 * @self: an explainer
 *
 * Returns: the index of the attributed input among the model's inputs
 */
gint
physnn_explainer_get_input_index (PhysnnExplainer *self)
{
  g_return_val_if_fail (PHYSNN_IS_EXPLAINER (self), -1);
  return (gint)self->input;
}

/**
 * physnn_explainer_get_output:
 * @self: an explainer
 *
 * Returns: the name of the explained output component
 */
const gchar *
physnn_explainer_get_output (PhysnnExplainer *self)
{
  g_return_val_if_fail (PHYSNN_IS_EXPLAINER (self), NULL);
  return self->output_name;
}

/**
 * physnn_explainer_get_n_features:
 * @self: an explainer
 *
 * Returns: the number of features (columns) of the attributed input
 */
guint
physnn_explainer_get_n_features (PhysnnExplainer *self)
{
  g_return_val_if_fail (PHYSNN_IS_EXPLAINER (self), 0);
  return self->m;
}

typedef struct {
  gsize n;    /* points */
  gsize rows; /* rows of the attributed input: n or 1 */
  gdouble *x; /* the attributed input [rows][m] */
} Setup;

static gboolean
setup (PhysnnExplainer *self, PhysnnTensor **inputs, guint n_inputs, Setup *s,
    GError **error)
{
  guint want = physnn_model_get_n_inputs (self->model);
  if (n_inputs != want) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "%s: %u input tensors for a model of %u inputs",
        physnn_model_get_path (self->model), n_inputs, want);
    return FALSE;
  }
  PhysnnTensor *x = inputs[self->input];
  gsize total = physnn_tensor_get_n_elements (x);
  if (total % self->m != 0) {
    g_autofree gchar *d = physnn_tensor_describe (x);
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "input \"%s\" is %s, not rows of %u features", self->input_name, d,
        self->m);
    return FALSE;
  }
  s->rows = total / self->m;
  gsize n_x;
  s->x = physnn_tensor_to_doubles (x, &n_x);
  return TRUE;
}

/* One evaluation at @x (the attributed input, [rows][m] doubles): F per
 * point into *@f and ∂F/∂x_j into *@g [n][m], each allocated when NULL;
 * @f and @g may be NULL themselves. */
static gboolean
evaluate (PhysnnExplainer *self, PhysnnDevice *device, PhysnnTensor **inputs,
    guint n_inputs, Setup *s, const gdouble *x, gdouble **f, gdouble **g,
    GError **error)
{
  gboolean cl = physnn_device_get_kind (device) == PHYSNN_DEVICE_KIND_OPENCL;
  PhysnnTensor *orig = inputs[self->input];
  guint rank;
  const gsize *shape = physnn_tensor_get_shape (orig, &rank);
  g_autoptr (PhysnnTensor) xt = physnn_tensor_new (
      cl ? PHYSNN_DTYPE_FLOAT32 : PHYSNN_DTYPE_FLOAT64, rank, shape);
  gpointer d = _physnn_tensor_host (xt, PHYSNN_ACCESS_WRITE);
  gsize cnt = s->rows * self->m;
  if (cl)
    for (gsize i = 0; i < cnt; i++)
      ((gfloat *)d)[i] = (gfloat)x[i];
  else
    memcpy (d, x, cnt * sizeof (gdouble));

  g_autofree PhysnnTensor **in = g_new0 (PhysnnTensor *, n_inputs);
  for (guint i = 0; i < n_inputs; i++)
    in[i] = i == self->input ? xt : inputs[i];
  g_autoptr (GPtrArray) res =
      cl ? physnn_model_run (self->model, device, in, n_inputs, error)
         : _physnn_model_run_reference_f64 (self->model, in, n_inputs, error);
  if (res == NULL)
    return FALSE;

  guint n_out = physnn_model_get_n_outputs (self->model);
  PhysnnTensor *out = g_ptr_array_index (res, self->out_index);
  const gsize *os = physnn_tensor_get_shape (out, &rank);
  gsize w = rank > 1 ? os[rank - 1] : 1;
  gsize n = physnn_tensor_get_n_elements (out) / MAX (w, 1);
  if (s->n == 0)
    s->n = n;
  if (n != s->n || (s->rows != n && s->rows != 1)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "input \"%s\" has %" G_GSIZE_FORMAT " rows for %" G_GSIZE_FORMAT
        " points: attributions need one row per point or one row for all",
        self->input_name, s->rows, n);
    return FALSE;
  }
  if (f) {
    gsize nv;
    g_autofree gdouble *v = physnn_tensor_to_doubles (out, &nv);
    if (*f == NULL)
      *f = g_new (gdouble, n);
    for (gsize p = 0; p < n; p++)
      (*f)[p] = v[p * w + self->out_col];
  }
  if (g) {
    if (*g == NULL)
      *g = g_new (gdouble, n * self->m);
    for (guint j = 0; j < self->m; j++) {
      gsize nv;
      g_autofree gdouble *gj =
          physnn_tensor_to_doubles (g_ptr_array_index (res, n_out + j), &nv);
      for (gsize p = 0; p < n; p++)
        (*g)[p * self->m + j] = gj[p];
    }
  }
  return TRUE;
}

static PhysnnTensor *
to_tensor (const gdouble *v, gsize n, guint m)
{
  gsize shape[2] = { n, m };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  gfloat *d = _physnn_tensor_host (t, PHYSNN_ACCESS_WRITE);
  for (gsize i = 0; i < n * m; i++)
    d[i] = (gfloat)v[i];
  return t;
}

/* The number of points, learnt from a run at the input itself. */
static gboolean
first_run (PhysnnExplainer *self, PhysnnDevice *device, PhysnnTensor **inputs,
    guint n_inputs, Setup *s, gdouble **f, gdouble **g, GError **error)
{
  return evaluate (self, device, inputs, n_inputs, s, s->x, f, g, error);
}

/**
 * physnn_explainer_gradient:
 * @self: an explainer
 * @device: where to compute
 * @inputs: (array length=n_inputs): one tensor per model input
 * @n_inputs: the number of inputs
 * @values: (out) (optional) (transfer full): F per point, float32 [N]
 * @error: return location for a #GError
 *
 * Returns: (transfer full): ∂F/∂x_j per point and feature, float32 [N, m];
 *   %NULL with @error set
 */
PhysnnTensor *
physnn_explainer_gradient (PhysnnExplainer *self, PhysnnDevice *device,
    PhysnnTensor **inputs, guint n_inputs, PhysnnTensor **values,
    GError **error)
{
  Setup s = { 0 };
  g_autofree gdouble *f = NULL, *g = NULL;
  g_return_val_if_fail (PHYSNN_IS_EXPLAINER (self), NULL);
  g_return_val_if_fail (PHYSNN_IS_DEVICE (device), NULL);
  if (!setup (self, inputs, n_inputs, &s, error))
    return NULL;
  gboolean ok = first_run (self, device, inputs, n_inputs, &s, &f, &g, error);
  g_free (s.x);
  if (!ok)
    return NULL;
  if (values) {
    gsize shape[1] = { s.n };
    *values = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, shape);
    gfloat *d = _physnn_tensor_host (*values, PHYSNN_ACCESS_WRITE);
    for (gsize p = 0; p < s.n; p++)
      d[p] = (gfloat)f[p];
  }
  return to_tensor (g, s.n, self->m);
}

/**
 * physnn_explainer_saliency:
 * @self: an explainer
 * @device: where to compute
 * @inputs: (array length=n_inputs): one tensor per model input
 * @n_inputs: the number of inputs
 * @error: return location for a #GError
 *
 * Returns: (transfer full): |∂F/∂x_j| per point and feature, float32
 *   [N, m]; %NULL with @error set
 */
PhysnnTensor *
physnn_explainer_saliency (PhysnnExplainer *self, PhysnnDevice *device,
    PhysnnTensor **inputs, guint n_inputs, GError **error)
{
  PhysnnTensor *g =
      physnn_explainer_gradient (self, device, inputs, n_inputs, NULL, error);
  if (g == NULL)
    return NULL;
  gfloat *d = _physnn_tensor_host (g, PHYSNN_ACCESS_READWRITE);
  for (gsize i = 0; i < physnn_tensor_get_n_elements (g); i++)
    d[i] = fabsf (d[i]);
  return g;
}

/**
 * physnn_explainer_integrated_gradients:
 * @self: an explainer
 * @device: where to compute
 * @inputs: (array length=n_inputs): one tensor per model input
 * @n_inputs: the number of inputs
 * @baseline: (nullable): the baseline of the attributed input: its shape,
 *   or one row of its features for every row; %NULL for zeros
 * @n_steps: quadrature nodes (Captum's default is 50)
 * @rule: the quadrature rule
 * @delta: (out) (optional) (transfer full): the completeness delta per
 *   point, Σ_j IG_j − (F(x) − F(baseline)), float32 [N]
 * @error: return location for a #GError
 *
 * Integrated gradients of the output component along the straight path
 * from @baseline to the input: one model evaluation per node.
 *
 * Returns: (transfer full): the attributions, float32 [N, m]; %NULL with
 *   @error set
 */
PhysnnTensor *
physnn_explainer_integrated_gradients (PhysnnExplainer *self,
    PhysnnDevice *device, PhysnnTensor **inputs, guint n_inputs,
    PhysnnTensor *baseline, guint n_steps, PhysnnIntegrationRule rule,
    PhysnnTensor **delta, GError **error)
{
  Setup s = { 0 };
  PhysnnTensor *result = NULL;
  g_autofree gdouble *alpha = NULL, *weight = NULL, *b = NULL, *xa = NULL;
  g_autofree gdouble *g = NULL, *acc = NULL, *fx = NULL, *fb = NULL;

  g_return_val_if_fail (PHYSNN_IS_EXPLAINER (self), NULL);
  g_return_val_if_fail (PHYSNN_IS_DEVICE (device), NULL);
  if (n_steps < 1 || n_steps > MAX_STEPS)
    return rule_points (rule, n_steps, NULL, NULL, error) ? NULL : NULL;
  alpha = g_new (gdouble, n_steps);
  weight = g_new (gdouble, n_steps);
  if (!rule_points (rule, n_steps, alpha, weight, error))
    return NULL;
  if (!setup (self, inputs, n_inputs, &s, error))
    return NULL;
  gsize cnt = s.rows * self->m;

  b = g_new0 (gdouble, cnt);
  if (baseline) {
    gsize nb;
    g_autofree gdouble *bv = physnn_tensor_to_doubles (baseline, &nb);
    if (nb != cnt && nb != self->m) {
      g_autofree gchar *d = physnn_tensor_describe (baseline);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "baseline %s fits neither input \"%s\" (%" G_GSIZE_FORMAT
          " values) nor one row of its %u features",
          d, self->input_name, cnt, self->m);
      goto out;
    }
    for (gsize i = 0; i < cnt; i++)
      b[i] = bv[nb == cnt ? i : i % self->m];
  }

  /* F(x) (and the number of points), F(baseline) */
  g_autofree gdouble *g0 = NULL;
  if (!first_run (self, device, inputs, n_inputs, &s, &fx, &g0, error))
    goto out;
  if (!evaluate (self, device, inputs, n_inputs, &s, b, &fb, NULL, error))
    goto out;

  xa = g_new (gdouble, cnt);
  g = g_new (gdouble, s.n * self->m);
  acc = g_new0 (gdouble, s.n * self->m);
  for (guint k = 0; k < n_steps; k++) {
    for (gsize i = 0; i < cnt; i++)
      xa[i] = b[i] + alpha[k] * (s.x[i] - b[i]);
    if (!evaluate (self, device, inputs, n_inputs, &s, xa, NULL, &g, error))
      goto out;
    for (gsize i = 0; i < s.n * self->m; i++)
      acc[i] += weight[k] * g[i];
  }
  for (gsize p = 0; p < s.n; p++) {
    gsize row = s.rows == 1 ? 0 : p;
    gdouble sum = 0;
    for (guint j = 0; j < self->m; j++) {
      gsize i = p * self->m + j;
      acc[i] *= s.x[row * self->m + j] - b[row * self->m + j];
      sum += acc[i];
    }
    fx[p] = sum - (fx[p] - fb[p]); /* the completeness delta */
  }
  result = to_tensor (acc, s.n, self->m);
  if (delta) {
    gsize shape[1] = { s.n };
    *delta = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, shape);
    gfloat *d = _physnn_tensor_host (*delta, PHYSNN_ACCESS_WRITE);
    for (gsize p = 0; p < s.n; p++)
      d[p] = (gfloat)fx[p];
  }
out:
  g_free (s.x);
  return result;
}

/* Standard normal deviates from a counter: splitmix64 of (seed, counter)
 * into two uniforms, then Box–Muller. The same (seed, sample, element)
 * always gives the same number, on every device and thread count. */
static guint64
splitmix64 (guint64 z)
{
  z += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static gdouble
normal (guint64 seed, guint64 counter)
{
  guint64 a = splitmix64 (seed ^ splitmix64 (2 * counter));
  guint64 b = splitmix64 (seed ^ splitmix64 (2 * counter + 1));
  gdouble u1 = ((a >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
  gdouble u2 = (b >> 11) / 9007199254740992.0;
  return sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2);
}

/**
 * physnn_explainer_smoothgrad:
 * @self: an explainer
 * @device: where to compute
 * @inputs: (array length=n_inputs): one tensor per model input
 * @n_inputs: the number of inputs
 * @n_samples: noisy copies (at least 1)
 * @sigma: standard deviation of the Gaussian noise, in the input's units
 * @seed: seed of the noise: equal seeds give equal results
 * @error: return location for a #GError
 *
 * SmoothGrad: the mean of ∂F/∂x_j over @n_samples copies of the input with
 * independent Gaussian noise added to every element (to the one shared row
 * when the input has one row for all points).
 *
 * Returns: (transfer full): float32 [N, m]; %NULL with @error set
 */
PhysnnTensor *
physnn_explainer_smoothgrad (PhysnnExplainer *self, PhysnnDevice *device,
    PhysnnTensor **inputs, guint n_inputs, guint n_samples, gdouble sigma,
    guint64 seed, GError **error)
{
  Setup s = { 0 };
  PhysnnTensor *result = NULL;
  g_autofree gdouble *xn = NULL, *g = NULL, *acc = NULL, *f0 = NULL;
  g_autofree gdouble *g0 = NULL;

  g_return_val_if_fail (PHYSNN_IS_EXPLAINER (self), NULL);
  g_return_val_if_fail (PHYSNN_IS_DEVICE (device), NULL);
  if (n_samples < 1 || n_samples > MAX_STEPS || !(sigma >= 0) ||
      !isfinite (sigma)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "SmoothGrad: %u samples (1 to %d) with noise sigma %g (finite, not "
        "negative)",
        n_samples, MAX_STEPS, sigma);
    return NULL;
  }
  if (!setup (self, inputs, n_inputs, &s, error))
    return NULL;
  if (!first_run (self, device, inputs, n_inputs, &s, &f0, &g0, error))
    goto out;
  gsize cnt = s.rows * self->m;
  xn = g_new (gdouble, cnt);
  g = g_new (gdouble, s.n * self->m);
  acc = g_new0 (gdouble, s.n * self->m);
  for (guint k = 0; k < n_samples; k++) {
    for (gsize i = 0; i < cnt; i++)
      xn[i] = s.x[i] + sigma * normal (seed, (guint64)k * cnt + i);
    if (!evaluate (self, device, inputs, n_inputs, &s, xn, NULL, &g, error))
      goto out;
    for (gsize i = 0; i < s.n * self->m; i++)
      acc[i] += g[i];
  }
  for (gsize i = 0; i < s.n * self->m; i++)
    acc[i] /= n_samples;
  result = to_tensor (acc, s.n, self->m);
out:
  g_free (s.x);
  return result;
}

/* ------------------------------------------------------------------------ */
/* Heatmaps */

/**
 * physnn_heatmap_render: (skip)
 * @values: magnitudes, [data_height * data_width] (x fastest), float32
 * @data_width: values per row
 * @data_height: rows
 * @vmin: the value drawn with the first colour (for a log scale, > 0)
 * @vmax: the value drawn with the last colour
 * @log_scale: map log10 of the values
 * @colormap: the colour map
 * @colorbar: width in pixels of a colour bar at the right edge (0: none)
 * @rgb: the picture, packed RGB rows of @stride bytes
 * @width: picture width
 * @height: picture height
 * @stride: bytes per picture row (at least 3 * @width)
 * @error: return location for a #GError
 *
 * Draws the values as a picture, nearest-neighbour scaled to @width minus
 * the colour bar by @height, with data row 0 at the bottom (y and time grow
 * upwards). Values outside the range saturate; NaN is drawn black. The
 * colour bar runs from @vmin (bottom) to @vmax (top) with a two-pixel black
 * gap.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_heatmap_render (PhysnnTensor *values, guint data_width,
    guint data_height, gdouble vmin, gdouble vmax, gboolean log_scale,
    PhysnnColormap colormap, guint colorbar, guint8 *rgb, guint width,
    guint height, gsize stride, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (values), FALSE);
  if (data_width == 0 || data_height == 0 || width == 0 || height == 0 ||
      (gsize)data_width * data_height !=
          physnn_tensor_get_n_elements (values) ||
      stride < (gsize)width * 3 ||
      physnn_tensor_get_dtype (values) != PHYSNN_DTYPE_FLOAT32) {
    g_autofree gchar *d = physnn_tensor_describe (values);
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "heatmap: %s values for %ux%u data drawn %ux%u (stride %" G_GSIZE_FORMAT
        ")",
        d, data_width, data_height, width, height, stride);
    return FALSE;
  }
  if (!(vmax > vmin) || (log_scale && !(vmin > 0))) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "heatmap range %g to %g: the maximum must exceed the minimum%s", vmin,
        vmax, log_scale ? ", which must be positive on a log scale" : "");
    return FALSE;
  }
  guint bar = colorbar + 2 < width ? colorbar : 0;
  guint img_w = bar ? width - bar - 2 : width;
  const gfloat *v = _physnn_tensor_host (values, PHYSNN_ACCESS_READ);
  gdouble lo = log_scale ? log10 (vmin) : vmin;
  gdouble span = (log_scale ? log10 (vmax) : vmax) - lo;
  guint8 lut[256][3];
  for (guint i = 0; i < 256; i++)
    physnn_colormap_lookup (colormap, i / 255.0, lut[i]);
  g_autofree guint *col = g_new (guint, img_w);
  for (guint x = 0; x < img_w; x++)
    col[x] = (guint)((guint64)x * data_width / img_w);

  for (guint y = 0; y < height; y++) {
    guint8 *row = rgb + (gsize)y * stride;
    guint dy = data_height - 1 - (guint)((guint64)y * data_height / height);
    const gfloat *src = v + (gsize)dy * data_width;
    for (guint x = 0; x < img_w; x++) {
      gfloat a = src[col[x]];
      guint8 *px = row + 3 * x;
      if (isnan (a)) {
        px[0] = px[1] = px[2] = 0;
        continue;
      }
      gdouble t =
          log_scale ? (a > 0 ? (log10 (a) - lo) / span : 0.0) : (a - lo) / span;
      gint idx = (gint)(CLAMP (t, 0.0, 1.0) * 255.0 + 0.5);
      px[0] = lut[idx][0];
      px[1] = lut[idx][1];
      px[2] = lut[idx][2];
    }
    if (bar) {
      memset (row + 3 * img_w, 0, 6);
      gint idx = height > 1
                     ? (gint)((height - 1 - y) * 255.0 / (height - 1) + 0.5)
                     : 255;
      for (guint x = img_w + 2; x < width; x++) {
        row[3 * x] = lut[idx][0];
        row[3 * x + 1] = lut[idx][1];
        row[3 * x + 2] = lut[idx][2];
      }
    }
  }
  return TRUE;
}

/**
 * physnn_heatmap_new:
 * @values: magnitudes, float32, [data_height * data_width] (x fastest)
 * @data_width: values per row
 * @data_height: rows
 * @vmin: the value drawn with the first colour (for a log scale, > 0)
 * @vmax: the value drawn with the last colour
 * @log_scale: map log10 of the values
 * @colormap: the colour map
 * @colorbar: width of a colour bar at the right (0: none)
 * @width: picture width
 * @height: picture height
 * @error: return location for a #GError
 *
 * As physnn_heatmap_render(), into a new tensor.
 *
 * Returns: (transfer full): the picture, uint8 [height, width, 3]; %NULL
 *   with @error set
 */
PhysnnTensor *
physnn_heatmap_new (PhysnnTensor *values, guint data_width, guint data_height,
    gdouble vmin, gdouble vmax, gboolean log_scale, PhysnnColormap colormap,
    guint colorbar, guint width, guint height, GError **error)
{
  gsize shape[3] = { height, width, 3 };
  if (width == 0 || height == 0 || width > 16384 || height > 16384) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "heatmap size %ux%u: 1 to 16384 pixels each way", width, height);
    return NULL;
  }
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_UINT8, 3, shape);
  if (!physnn_heatmap_render (values, data_width, data_height, vmin, vmax,
          log_scale, colormap, colorbar,
          _physnn_tensor_host (t, PHYSNN_ACCESS_WRITE), width, height,
          (gsize)width * 3, error))
    g_clear_object (&t);
  return t;
}

/**
 * physnn_heatmap_render_residual:
 * @device: where to draw: on an OpenCL device, a kernel reads the residual
 *   where it already is and only the picture travels back; elsewhere the C
 *   path of physnn_heatmap_render()
 * @residual: float32 [N] or [equations, N] with N = @data_width ×
 *   @data_height (x fastest); its magnitude is drawn (the Euclidean norm
 *   over the equations)
 * @data_width: values per row
 * @data_height: rows
 * @vmin: the magnitude drawn with the first colour (for a log scale, > 0)
 * @vmax: the magnitude drawn with the last colour
 * @log_scale: map log10 of the magnitudes
 * @colormap: the colour map
 * @colorbar: width in pixels of a colour bar at the right edge (0: none)
 * @picture: uint8, @height rows of at least 3 × @width bytes ([height,
 *   stride] or [height, width, 3])
 * @width: picture width in pixels
 * @error: return location for a #GError
 *
 * Draws |@residual| as physnn_heatmap_render() does (the device computes
 * the colour index in float32, so a value on a boundary between two of the
 * 256 colours may take the neighbouring one).
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_heatmap_render_residual (PhysnnDevice *device, PhysnnTensor *residual,
    guint data_width, guint data_height, gdouble vmin, gdouble vmax,
    gboolean log_scale, PhysnnColormap colormap, guint colorbar,
    PhysnnTensor *picture, guint width, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (device), FALSE);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (residual), FALSE);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (picture), FALSE);
  gsize n = (gsize)data_width * data_height;
  gsize total = physnn_tensor_get_n_elements (residual);
  guint rank;
  const gsize *ps = physnn_tensor_get_shape (picture, &rank);
  gsize height = rank >= 2 ? ps[0] : 0;
  gsize stride = height ? physnn_tensor_get_n_elements (picture) / height : 0;
  if (n == 0 || total % n != 0 ||
      physnn_tensor_get_dtype (residual) != PHYSNN_DTYPE_FLOAT32 ||
      physnn_tensor_get_dtype (picture) != PHYSNN_DTYPE_UINT8 || height == 0 ||
      width == 0 || stride < (gsize)width * 3 || total / n > 64 ||
      stride * height > G_MAXUINT32 || total > G_MAXUINT32) {
    g_autofree gchar *d = physnn_tensor_describe (residual);
    g_autofree gchar *pd = physnn_tensor_describe (picture);
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "heatmap: residual %s for %ux%u data drawn into %s, %u pixels wide", d,
        data_width, data_height, pd, width);
    return FALSE;
  }
  guint n_eq = (guint)(total / n);
  if (physnn_device_get_kind (device) != PHYSNN_DEVICE_KIND_OPENCL) {
    gsize s1[1] = { n };
    g_autoptr (PhysnnTensor) mag =
        physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, s1);
    const gfloat *r = _physnn_tensor_host (residual, PHYSNN_ACCESS_READ);
    gfloat *m = _physnn_tensor_host (mag, PHYSNN_ACCESS_WRITE);
    for (gsize p = 0; p < n; p++) {
      gdouble acc = 0;
      for (guint e = 0; e < n_eq; e++)
        acc += (gdouble)r[e * n + p] * r[e * n + p];
      m[p] = n_eq == 1 ? fabsf (r[p]) : (gfloat)sqrt (acc);
    }
    return physnn_heatmap_render (mag, data_width, data_height, vmin, vmax,
        log_scale, colormap, colorbar,
        _physnn_tensor_host (picture, PHYSNN_ACCESS_WRITE), width,
        (guint)height, stride, error);
  }
  if (!(vmax > vmin) || (log_scale && !(vmin > 0))) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "heatmap range %g to %g: the maximum must exceed the minimum%s", vmin,
        vmax, log_scale ? ", which must be positive on a log scale" : "");
    return FALSE;
  }
  gsize ls[2] = { 256, 3 };
  g_autoptr (PhysnnTensor) lut = physnn_tensor_new (PHYSNN_DTYPE_UINT8, 2, ls);
  guint8 *l = _physnn_tensor_host (lut, PHYSNN_ACCESS_WRITE);
  for (guint i = 0; i < 256; i++)
    physnn_colormap_lookup (colormap, i / 255.0, l + 3 * i);

  cl_kernel k = _physnn_device_get_kernel (
      device, "heatmap.cl", NULL, "physnn_heatmap", error);
  if (k == NULL)
    return FALSE;
  gsize voff, loff, poff;
  cl_mem vmem = _physnn_tensor_get_cl_mem (
      residual, device, PHYSNN_ACCESS_READ, &voff, error);
  cl_mem lmem = vmem ? _physnn_tensor_get_cl_mem (
                           lut, device, PHYSNN_ACCESS_READ, &loff, error)
                     : NULL;
  cl_mem pmem = lmem ? _physnn_tensor_get_cl_mem (
                           picture, device, PHYSNN_ACCESS_WRITE, &poff, error)
                     : NULL;
  if (pmem == NULL)
    return FALSE;
  if (loff != 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_DEVICE,
        "heatmap: colour table at an offset");
    return FALSE;
  }
  guint bar = colorbar + 2 < width ? colorbar : 0;
  guint32 img_w = bar ? width - bar - 2 : width;
  guint32 v_off = (guint32)(voff / sizeof (gfloat)), n32 = (guint32)n;
  guint32 ne = n_eq, dw = data_width, dh = data_height, w32 = width;
  guint32 h32 = (guint32)height, s32 = (guint32)stride, p_off = (guint32)poff;
  gfloat lo = (gfloat)(log_scale ? log10 (vmin) : vmin);
  gfloat span = (gfloat)((log_scale ? log10 (vmax) : vmax) - lo);
  gint ls32 = log_scale ? 1 : 0;
  guint arg = 0;
  _physnn_device_lock (device);
  clSetKernelArg (k, arg++, sizeof vmem, &vmem);
  clSetKernelArg (k, arg++, sizeof v_off, &v_off);
  clSetKernelArg (k, arg++, sizeof n32, &n32);
  clSetKernelArg (k, arg++, sizeof ne, &ne);
  clSetKernelArg (k, arg++, sizeof dw, &dw);
  clSetKernelArg (k, arg++, sizeof dh, &dh);
  clSetKernelArg (k, arg++, sizeof lmem, &lmem);
  clSetKernelArg (k, arg++, sizeof lo, &lo);
  clSetKernelArg (k, arg++, sizeof span, &span);
  clSetKernelArg (k, arg++, sizeof ls32, &ls32);
  clSetKernelArg (k, arg++, sizeof img_w, &img_w);
  clSetKernelArg (k, arg++, sizeof w32, &w32);
  clSetKernelArg (k, arg++, sizeof h32, &h32);
  clSetKernelArg (k, arg++, sizeof s32, &s32);
  clSetKernelArg (k, arg++, sizeof pmem, &pmem);
  clSetKernelArg (k, arg++, sizeof p_off, &p_off);
  gsize global[2] = { width, height };
  gboolean ok = _physnn_device_enqueue (device, k, 2, global, NULL, error);
  _physnn_device_unlock (device);
  return ok;
}
