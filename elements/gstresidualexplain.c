/* physnn — residualexplain: the PDE residual of a model on the stream, as
 * numbers, a heatmap, attributions and anomaly flags.
 *
 * Two ways to find the model and its points. Downstream of pinninfer, each
 * buffer's GstPhysnnModelMeta names the model and the exact inputs it ran
 * on: only `pde` is needed. When the buffer already holds every derivative
 * the PDE needs (pinninfer derivatives=...), the residual is evaluated from
 * those tensors with no model run; otherwise a private copy of the model is
 * run with exactly the derivatives the PDE needs. Standalone, `model` and
 * `grid` (or coordinates in the stream) make the element evaluate a model
 * itself; then the stream may also carry sensor readings (pdesrc), and the
 * data misfit at the sensors is judged next to the physics residual.
 *
 * Output by caps: other/tensors (the residual, then attributions when
 * asked) or video/x-raw RGB (a heatmap of |residual|). Statistics travel as
 * a GstResidualMeta and a `physnn-residual` element message.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-residualexplain
 * @title: residualexplain
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 pdesrc num-buffers=100 ! pinninfer model=builtin:heat1d-pinn
 * grid=x=0:1:128 ! residualexplain pde="u_t - 0.1*u_xx" ! videoconvert !
 * autovideosink gst-launch-1.0 pdesrc sensors=8 outputs=sensors,positions
 * noise-sigma=0.01 fault=drift fault-sensor=3 fault-start=0.5 ! residualexplain
 * model=builtin:heat1d-pinn grid=x=0:1:64 pde="u_t - alpha*u_xx"
 * parameters=alpha=0.1 ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstresidualexplain.h"
#include "gstphysnnmodelmeta.h"
#include "gstresidualmeta.h"

#include <gst/video/video.h>
#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_residual_explain_debug);
#define GST_CAT_DEFAULT gst_residual_explain_debug

#define DEFAULT_PDE NULL
#define DEFAULT_PARAMETERS NULL
#define DEFAULT_MODEL NULL
#define DEFAULT_GRID NULL
#define DEFAULT_TIME_INPUT "t"
#define DEFAULT_TIME_SCALE 1.0
#define DEFAULT_CONDITIONS NULL
#define DEFAULT_TOP_K 5
#define DEFAULT_ATTRIBUTION GST_RESIDUAL_EXPLAIN_ATTRIBUTION_NONE
#define DEFAULT_ATTRIBUTION_INPUT NULL
#define DEFAULT_ATTRIBUTION_OUTPUT NULL
#define DEFAULT_N_STEPS 50
#define DEFAULT_INTEGRATION PHYSNN_INTEGRATION_GAUSS_LEGENDRE
#define DEFAULT_BASELINE NULL
#define DEFAULT_SMOOTHGRAD_SAMPLES 25
#define DEFAULT_SMOOTHGRAD_SIGMA 0.05
#define DEFAULT_SEED 0
#define DEFAULT_LOG_SCALE FALSE
#define DEFAULT_RANGE_MIN 0.0
#define DEFAULT_RANGE_MAX 0.0
#define DEFAULT_COLORMAP PHYSNN_COLORMAP_INFERNO
#define DEFAULT_COLORBAR 16
#define DEFAULT_WIDTH 320
#define DEFAULT_HEIGHT 256
#define DEFAULT_HISTORY 128
#define DEFAULT_SENSOR_TENSOR -1
#define DEFAULT_POSITIONS_TENSOR -1
#define DEFAULT_SENSOR_POSITIONS NULL
#define DEFAULT_NOISE_SIGMA 0.0
#define DEFAULT_CUSUM_DRIFT 0.5
#define DEFAULT_CUSUM_THRESHOLD 8.0
#define DEFAULT_SPIKE_THRESHOLD 5.0
#define DEFAULT_PHYSICS_THRESHOLD 0.1
#define DEFAULT_POST_MESSAGES TRUE
#define DEFAULT_SENSOR_MARKERS TRUE

#define LOG_DECADES 4 /* adaptive log range: the maximum and 4 decades */
#define MAX_AXES 3
#define MAX_INPUTS 16
#define MAX_COORDS 8
#define MAX_CONDITIONS 16
#define MAX_DERIVS 32

enum {
  PROP_0,
  PROP_PDE,
  PROP_PARAMETERS,
  PROP_MODEL,
  PROP_GRID,
  PROP_TIME_INPUT,
  PROP_TIME_SCALE,
  PROP_CONDITIONS,
  PROP_TOP_K,
  PROP_ATTRIBUTION,
  PROP_ATTRIBUTION_INPUT,
  PROP_ATTRIBUTION_OUTPUT,
  PROP_N_STEPS,
  PROP_INTEGRATION,
  PROP_BASELINE,
  PROP_SMOOTHGRAD_SAMPLES,
  PROP_SMOOTHGRAD_SIGMA,
  PROP_SEED,
  PROP_LOG_SCALE,
  PROP_RANGE_MIN,
  PROP_RANGE_MAX,
  PROP_COLORMAP,
  PROP_COLORBAR,
  PROP_WIDTH,
  PROP_HEIGHT,
  PROP_HISTORY,
  PROP_SENSOR_TENSOR,
  PROP_POSITIONS_TENSOR,
  PROP_SENSOR_POSITIONS,
  PROP_NOISE_SIGMA,
  PROP_CUSUM_DRIFT,
  PROP_CUSUM_THRESHOLD,
  PROP_SPIKE_THRESHOLD,
  PROP_PHYSICS_THRESHOLD,
  PROP_POST_MESSAGES,
  PROP_SENSOR_MARKERS,
};

typedef struct {
  gchar *name;
  gdouble lo, hi;
  gsize n;
} Axis;

/* A boundary or initial condition: on the face coord = value, expr = 0. */
typedef struct {
  gchar *text;
  gchar *coord;
  gdouble value;
  PhysnnPde *pde;
  PhysnnModel *model; /* private copy with the condition's derivatives */
} Condition;

struct _GstResidualExplain {
  GstPhysnnFilter parent;

  /* properties (strings under the object lock) */
  gchar *pde_text, *parameters, *model_path, *grid, *time_input, *conditions;
  gdouble time_scale;
  guint top_k;
  GstResidualExplainAttribution attribution;
  gchar *attribution_input, *attribution_output, *baseline;
  guint n_steps;
  PhysnnIntegrationRule integration;
  guint smoothgrad_samples;
  gdouble smoothgrad_sigma;
  guint64 seed;
  gboolean log_scale;
  gdouble range_min, range_max;
  PhysnnColormap colormap;
  guint colorbar, width, height, history;
  gint sensor_tensor, positions_tensor;
  gchar *sensor_positions;
  gdouble noise_sigma, cusum_drift, cusum_threshold, spike_threshold;
  gdouble physics_threshold;
  gboolean post_messages;
  gboolean sensor_markers;

  /* set up at start */
  PhysnnPde *pde;
  GArray *conds;          /* Condition */
  PhysnnModel *own_model; /* standalone; NULL downstream of pinninfer */
  gchar *time_name;
  gdouble tscale;
  Axis axes[MAX_AXES];
  guint n_axes;
  gsize n_grid;
  gint coord_input;
  guint n_coord_cols;
  gint coord_source[MAX_COORDS]; /* grid axis, or -2: the buffer time */
  PhysnnTensor *grid_coords;
  gdouble *fixed_positions; /* sensor-positions, [sensors][dims] */
  guint n_fixed_positions;
  gdouble *baseline_values;
  guint n_baseline;

  /* negotiated */
  gboolean video;
  guint vid_w, vid_h;
  gsize vid_stride;
  guint n_model_inputs;
  gint source[MAX_INPUTS]; /* stream tensor per model input, -1: grid */
  gint sens_tensor, pos_tensor;
  guint n_sensors, pos_dims;

  /* per model: our own, or the last one a meta named */
  PhysnnModel *base;
  PhysnnModel *res_model, *pred_model;
  PhysnnExplainer *explainer;
  gboolean direct;
  gint deriv_map[MAX_DERIVS];

  PhysnnAnomalyDetector *detector;
  PhysnnTensor *waterfall;
  gdouble *marker_pos; /* the sensors at the last buffer, [S][pos_dims] */
  gboolean *marker_flag;
  guint n_markers;
  guint64 frame;
};

G_DEFINE_TYPE (
    GstResidualExplain, gst_residual_explain, GST_TYPE_PHYSNN_FILTER);
GST_ELEMENT_REGISTER_DEFINE (residualexplain, "residualexplain", GST_RANK_NONE,
    GST_TYPE_RESIDUAL_EXPLAIN);

#define VIDEO_CAPS                                                             \
  "video/x-raw, format = (string) RGB, width = (int) [ 1, 16384 ], "           \
  "height = (int) [ 1, 16384 ], framerate = (fraction) [ 0/1, MAX ]"

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
        GST_STATIC_CAPS (GST_PHYSNN_TENSORS_CAPS_ANY
            "; " GST_PHYSNN_AUDIO_CAPS "; " GST_PHYSNN_VIDEO_GRAY_CAPS));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
        GST_STATIC_CAPS (GST_PHYSNN_TENSORS_CAPS_ANY "; " VIDEO_CAPS));

GType
gst_residual_explain_attribution_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_RESIDUAL_EXPLAIN_ATTRIBUTION_NONE, "Residual only", "none" },
    { GST_RESIDUAL_EXPLAIN_ATTRIBUTION_INTEGRATED_GRADIENTS,
        "Integrated gradients and the completeness delta",
        "integrated-gradients" },
    { GST_RESIDUAL_EXPLAIN_ATTRIBUTION_SALIENCY, "Saliency |du/dx|",
        "saliency" },
    { GST_RESIDUAL_EXPLAIN_ATTRIBUTION_SMOOTHGRAD,
        "SmoothGrad: mean gradient over noisy inputs", "smoothgrad" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstResidualExplainAttribution", values);
    g_once_init_leave (&type, t);
  }
  return type;
}
#define GST_TYPE_RESIDUAL_EXPLAIN_ATTRIBUTION                                  \
  (gst_residual_explain_attribution_get_type ())

/* ------------------------------------------------------------------------ */
/* Parsing properties (start) */

static void
clear_axes (GstResidualExplain *self)
{
  for (guint i = 0; i < self->n_axes; i++)
    g_clear_pointer (&self->axes[i].name, g_free);
  self->n_axes = 0;
}

/* "x=-1:1:256,y=0:1:64", as pinninfer takes it; x varies fastest. */
static gboolean
parse_grid (GstResidualExplain *self, const gchar *text, GError **error)
{
  g_auto (GStrv) items = g_strsplit (text, ",", -1);
  guint n = g_strv_length (items);
  gsize total = 1;

  clear_axes (self);
  if (n == 0 || n > MAX_AXES) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
        "grid \"%s\": 1 to %d axes expected, as in x=0:1:256,y=0:1:64", text,
        MAX_AXES);
    return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    gchar *eq = strchr (items[i], '=');
    g_auto (GStrv) parts = NULL;
    Axis *ax = &self->axes[i];
    gchar *end;
    if (eq != NULL) {
      *eq = '\0';
      parts = g_strsplit (eq + 1, ":", -1);
    }
    if (parts == NULL || g_strv_length (parts) != 3) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "grid \"%s\": axis %u needs name=min:max:count", text, i + 1);
      return FALSE;
    }
    ax->lo = g_ascii_strtod (parts[0], &end);
    gboolean ok = end != parts[0] && *end == '\0' && isfinite (ax->lo);
    ax->hi = g_ascii_strtod (parts[1], &end);
    ok = ok && end != parts[1] && *end == '\0' && isfinite (ax->hi);
    guint64 cnt = g_ascii_strtoull (parts[2], &end, 10);
    ok = ok && end != parts[2] && *end == '\0' && cnt >= 1 && cnt <= (1u << 24);
    if (!ok) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "grid \"%s\": axis \"%s\": min and max must be numbers and count "
          "an integer from 1 to 16777216",
          text, g_strstrip (items[i]));
      return FALSE;
    }
    ax->n = (gsize)cnt;
    ax->name = g_strdup (g_strstrip (items[i]));
    self->n_axes++;
    total *= ax->n;
    if (total > (1u << 24)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "grid \"%s\" has more than 2^24 points", text);
      return FALSE;
    }
  }
  self->n_grid = total;
  return TRUE;
}

/* A list of numbers separated by ',' (and ':' inside an item when @dims >
 * 1): the baseline, or sensor positions. */
static gdouble *
parse_numbers (const gchar *what, const gchar *text, guint *n, GError **error)
{
  g_auto (GStrv) items = g_strsplit_set (text, ",:", -1);
  guint len = g_strv_length (items);
  gdouble *v = g_new (gdouble, MAX (len, 1));
  for (guint i = 0; i < len; i++) {
    gchar *s = g_strstrip (items[i]), *end = NULL;
    v[i] = g_ascii_strtod (s, &end);
    if (end == s || *end != '\0' || !isfinite (v[i])) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "%s \"%s\": \"%s\" is not a finite number", what, text, s);
      g_free (v);
      return NULL;
    }
  }
  if (len == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE, "%s is empty", what);
    g_free (v);
    return NULL;
  }
  *n = len;
  return v;
}

static void
condition_clear (Condition *c)
{
  g_free (c->text);
  g_free (c->coord);
  g_clear_object (&c->pde);
  g_clear_object (&c->model);
}

/* "x=0: u; x=1: u; t=0: u - sin(pi*x)": on each face, an expression that
 * should vanish there. */
static gboolean
parse_conditions (GstResidualExplain *self, const gchar *text,
    const gchar *params, GError **error)
{
  g_auto (GStrv) items = g_strsplit (text, ";", -1);
  for (guint i = 0; items[i]; i++) {
    gchar *item = g_strstrip (items[i]);
    if (*item == '\0')
      continue;
    gchar *colon = strchr (item, ':'), *eq = strchr (item, '=');
    Condition c = { 0 };
    gchar *end = NULL;
    if (colon == NULL || eq == NULL || eq > colon) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "conditions: \"%s\" must be coordinate=value: expression, as in "
          "\"x=0: u; t=0: u - sin(pi*x)\"",
          item);
      return FALSE;
    }
    if (self->conds->len == MAX_CONDITIONS) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "conditions: more than %d", MAX_CONDITIONS);
      return FALSE;
    }
    c.text = g_strdup (item);
    *colon = '\0';
    *eq = '\0';
    c.coord = g_strdup (g_strstrip (item));
    gchar *val = g_strstrip (eq + 1);
    c.value = g_ascii_strtod (val, &end);
    if (end == val || *end != '\0' || !isfinite (c.value) || *c.coord == '\0') {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "conditions: in \"%s\", \"%s=%s\" must be a coordinate name and a "
          "finite number",
          c.text, c.coord, val);
      condition_clear (&c);
      return FALSE;
    }
    g_autoptr (GError) err = NULL;
    c.pde = physnn_pde_new (g_strstrip (colon + 1), &err);
    if (c.pde == NULL ||
        !physnn_pde_set_parameters (c.pde, params, err ? NULL : &err)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "conditions: \"%s\": %s", c.text, err->message);
      condition_clear (&c);
      return FALSE;
    }
    if (physnn_pde_get_n_equations (c.pde) != 1) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "conditions: \"%s\" holds %u equations; give one per face", c.text,
          physnn_pde_get_n_equations (c.pde));
      condition_clear (&c);
      return FALSE;
    }
    g_array_append_val (self->conds, c);
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Models */

/* Drops everything derived from the model in use. */
static void
clear_model_state (GstResidualExplain *self)
{
  g_clear_object (&self->base);
  g_clear_object (&self->res_model);
  g_clear_object (&self->pred_model);
  g_clear_object (&self->explainer);
  for (guint i = 0; self->conds && i < self->conds->len; i++)
    g_clear_object (&g_array_index (self->conds, Condition, i).model);
  self->direct = FALSE;
}

static gchar *
coordinate_names (PhysnnModel *m)
{
  return g_strdup (physnn_model_get_coordinate_names (m));
}

/* Is the coordinate named @name the time coordinate? */
static gboolean
is_time (GstResidualExplain *self, const gchar *name)
{
  return self->time_name && g_strcmp0 (name, self->time_name) == 0;
}

/* The grid covers the model's coordinates: each one an axis, or the time
 * fed from the buffer timestamp. */
static gboolean
setup_grid (GstResidualExplain *self, const gchar *grid, GError **error)
{
  PhysnnModel *m = self->own_model;
  const gchar *cin = physnn_model_get_coordinate_input (m);
  g_autofree gchar *cn = coordinate_names (m);
  g_auto (GStrv) names = g_strsplit (cn, ",", -1);

  if (!parse_grid (self, grid, error))
    return FALSE;
  if (cin == NULL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "grid needs the model's coordinates in one input; %s has %s",
        physnn_model_get_path (m),
        names[0] && *names[0] ? "one input per coordinate"
                              : "no coordinate input");
    return FALSE;
  }
  self->coord_input = physnn_model_find_input (m, cin);
  self->n_coord_cols = g_strv_length (names);
  if (self->n_coord_cols > MAX_COORDS) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "the model has %u coordinates; at most %d are supported",
        self->n_coord_cols, MAX_COORDS);
    return FALSE;
  }
  for (guint c = 0; c < self->n_coord_cols; c++) {
    self->coord_source[c] = -1;
    for (guint a = 0; a < self->n_axes; a++)
      if (strcmp (names[c], self->axes[a].name) == 0)
        self->coord_source[c] = (gint)a;
    if (self->coord_source[c] < 0 && is_time (self, names[c]))
      self->coord_source[c] = -2;
    if (self->coord_source[c] == -1) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "grid \"%s\" does not cover coordinate \"%s\" of the model "
          "(coordinates %s; time-input is \"%s\")",
          grid, names[c], cn, self->time_name ? self->time_name : "");
      return FALSE;
    }
  }
  for (guint a = 0; a < self->n_axes; a++) {
    gboolean used = FALSE;
    for (guint c = 0; c < self->n_coord_cols; c++)
      used |= self->coord_source[c] == (gint)a;
    if (!used) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "grid axis \"%s\" is not a coordinate of the model (%s)",
          self->axes[a].name, cn);
      return FALSE;
    }
  }
  gsize shape[2] = { self->n_grid, self->n_coord_cols };
  g_clear_object (&self->grid_coords);
  self->grid_coords = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  gfloat *p = physnn_tensor_map (self->grid_coords, PHYSNN_MAP_WRITE, NULL);
  for (gsize i = 0; i < self->n_grid; i++) {
    gsize rem = i, idx[MAX_AXES] = { 0 };
    for (guint a = 0; a < self->n_axes; a++) {
      idx[a] = rem % self->axes[a].n;
      rem /= self->axes[a].n;
    }
    for (guint c = 0; c < self->n_coord_cols; c++) {
      gint s = self->coord_source[c];
      const Axis *ax = s >= 0 ? &self->axes[s] : NULL;
      p[i * self->n_coord_cols + c] =
          ax == NULL   ? 0.0f
          : ax->n == 1 ? (gfloat)ax->lo
                       : (gfloat)(ax->lo + (ax->hi - ax->lo) * (gdouble)idx[s] /
                                               (gdouble)(ax->n - 1));
    }
  }
  physnn_tensor_unmap (self->grid_coords);
  return TRUE;
}

/* The attribution explainer of the model in use; its feature count sizes
 * the attribution tensor. */
static gboolean
ensure_explainer (GstResidualExplain *self, GError **error)
{
  if (self->explainer ||
      self->attribution == GST_RESIDUAL_EXPLAIN_ATTRIBUTION_NONE)
    return TRUE;
  g_autofree gchar *in = NULL, *out = NULL;
  GST_OBJECT_LOCK (self);
  in = g_strdup (self->attribution_input);
  out = g_strdup (self->attribution_output);
  GST_OBJECT_UNLOCK (self);
  self->explainer = physnn_explainer_new (
      self->base, in && *in ? in : NULL, out && *out ? out : NULL, error);
  if (self->explainer == NULL)
    return FALSE;
  guint m = physnn_explainer_get_n_features (self->explainer);
  if (self->baseline_values && self->n_baseline != m) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "baseline has %u values; input \"%s\" has %u features",
        self->n_baseline, physnn_explainer_get_input (self->explainer), m);
    g_clear_object (&self->explainer);
    return FALSE;
  }
  return TRUE;
}

/* Makes @model the model in use (a meta's, or our own): binds the PDE and
 * decides whether the buffer's own derivative tensors suffice. */
static gboolean
use_model (GstResidualExplain *self, PhysnnModel *model,
    const gchar *buffer_derivs, guint n_buffer_tensors, GError **error)
{
  if (self->base == model)
    return TRUE;
  clear_model_state (self);
  self->base = g_object_ref (model);
  if (!physnn_pde_bind (self->pde, model, error))
    return FALSE;

  /* Downstream of pinninfer: are all derivatives the PDE needs already in
   * the buffer, after the model outputs? */
  guint n_out = physnn_model_get_n_outputs (model);
  guint nd = physnn_pde_get_n_derivatives (self->pde);
  self->direct = buffer_derivs != NULL && nd <= MAX_DERIVS;
  if (self->direct) {
    g_auto (GStrv) have = g_strsplit (buffer_derivs, ",", -1);
    guint n_have = *buffer_derivs ? g_strv_length (have) : 0;
    self->direct = n_buffer_tensors == n_out + n_have;
    for (guint k = 0; k < nd && self->direct; k++) {
      const gchar *want = physnn_pde_get_derivative (self->pde, k);
      self->deriv_map[k] = -1;
      for (guint j = 0; j < n_have; j++)
        if (g_strcmp0 (g_strstrip (have[j]), want) == 0)
          self->deriv_map[k] = (gint)(n_out + j);
      self->direct = self->deriv_map[k] >= 0;
    }
  }
  if (!self->direct) {
    self->res_model = physnn_model_copy (model, error);
    if (self->res_model == NULL)
      return FALSE;
  }
  GST_INFO_OBJECT (self, "PDE \"%s\" needs %s; %s",
      physnn_pde_get_text (self->pde), physnn_pde_get_derivatives (self->pde),
      self->direct ? "evaluated from the buffer's derivative tensors"
                   : "evaluating a copy of the model");
  return ensure_explainer (self, error);
}

static gboolean
load (GstResidualExplain *self, GError **error)
{
  g_autofree gchar *pde = NULL, *params = NULL, *path = NULL, *grid = NULL,
                   *conds = NULL, *baseline = NULL, *positions = NULL;

  GST_OBJECT_LOCK (self);
  pde = g_strdup (self->pde_text);
  params = g_strdup (self->parameters);
  path = g_strdup (self->model_path);
  grid = g_strdup (self->grid);
  conds = g_strdup (self->conditions);
  baseline = g_strdup (self->baseline);
  positions = g_strdup (self->sensor_positions);
  g_free (self->time_name);
  self->time_name = g_strdup (self->time_input);
  self->tscale = self->time_scale;
  GST_OBJECT_UNLOCK (self);

  if (self->log_scale && self->range_max > self->range_min &&
      !(self->range_min > 0)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "a log-scale heatmap needs range-min > 0 (it is %g)", self->range_min);
    return FALSE;
  }
  if (path && *path) {
    self->own_model = g_str_has_prefix (path, "builtin:")
                          ? physnn_model_new_builtin (path + 8, error)
                          : physnn_model_new_from_file (path, error);
    if (self->own_model == NULL)
      return FALSE;
  }
  if (pde == NULL || *pde == '\0') {
    const gchar *meta = self->own_model ? physnn_model_get_metadata (
                                              self->own_model, "physnn.pde")
                                        : NULL;
    if (meta == NULL) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "no PDE: set pde, e.g. pde=\"u_t - alpha*u_xx\" "
          "parameters=alpha=0.1");
      return FALSE;
    }
    g_free (pde);
    pde = g_strdup (meta);
  }
  self->pde = physnn_pde_new (pde, error);
  if (self->pde == NULL ||
      !physnn_pde_set_parameters (self->pde, params, error))
    return FALSE;
  if (conds && *conds && !parse_conditions (self, conds, params, error))
    return FALSE;
  if (baseline && *baseline) {
    self->baseline_values =
        parse_numbers ("baseline", baseline, &self->n_baseline, error);
    if (self->baseline_values == NULL)
      return FALSE;
  }
  if (positions && *positions) {
    self->fixed_positions = parse_numbers (
        "sensor-positions", positions, &self->n_fixed_positions, error);
    if (self->fixed_positions == NULL)
      return FALSE;
  }

  self->coord_input = -1;
  if (self->own_model) {
    if (grid && *grid && !setup_grid (self, grid, error))
      return FALSE;
    if (!use_model (self, self->own_model, NULL, 0, error))
      return FALSE;
  } else if (grid && *grid) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "grid needs model: without a model, residualexplain takes the model "
        "and its points from the buffers of pinninfer");
    return FALSE;
  } else if (self->attribution != GST_RESIDUAL_EXPLAIN_ATTRIBUTION_NONE) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "attributions downstream of pinninfer need model (the same one) so "
        "that the size of the attribution tensor is known when caps are "
        "negotiated");
    return FALSE;
  }
  return TRUE;
}

static void
unload (GstResidualExplain *self)
{
  clear_model_state (self);
  g_clear_object (&self->pde);
  g_clear_object (&self->own_model);
  g_clear_object (&self->grid_coords);
  g_clear_object (&self->detector);
  g_clear_object (&self->waterfall);
  g_clear_pointer (&self->marker_pos, g_free);
  g_clear_pointer (&self->marker_flag, g_free);
  self->n_markers = 0;
  g_clear_pointer (&self->baseline_values, g_free);
  g_clear_pointer (&self->fixed_positions, g_free);
  g_clear_pointer (&self->time_name, g_free);
  if (self->conds)
    g_array_set_size (self->conds, 0);
  clear_axes (self);
}

static gboolean
gst_residual_explain_start (GstBaseTransform *trans)
{
  GstResidualExplain *self = GST_RESIDUAL_EXPLAIN (trans);
  g_autoptr (GError) error = NULL;

  if (!GST_BASE_TRANSFORM_CLASS (gst_residual_explain_parent_class)
           ->start (trans))
    return FALSE;
  self->frame = 0;
  if (!load (self, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", error->message),
        ("pde=\"%s\" model=%s", self->pde_text ? self->pde_text : "",
            self->model_path ? self->model_path : "(none)"));
    unload (self);
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_residual_explain_stop (GstBaseTransform *trans)
{
  unload (GST_RESIDUAL_EXPLAIN (trans));
  return GST_BASE_TRANSFORM_CLASS (gst_residual_explain_parent_class)
      ->stop (trans);
}

/* ------------------------------------------------------------------------ */
/* Negotiation */

/* Does a stream tensor fit a model input? Outer 1s are ignored and symbolic
 * dimensions match anything. */
static gboolean
fits (const GstPhysnnTensorInfo *t, const gint64 *dims, guint rank)
{
  if (!physnn_dtype_is_float (t->dtype))
    return FALSE;
  return gst_physnn_tensor_info_fits_shape (t, dims, rank);
}

static gchar *
describe_stream (const GstPhysnnTensorsInfo *in)
{
  GString *have = g_string_new (NULL);
  for (guint t = 0; t < in->n_tensors; t++) {
    g_autofree gchar *d = gst_physnn_dimension_to_string (&in->tensors[t]);
    g_string_append_printf (have, "%s%u: %s %s", t ? ", " : "", t,
        physnn_dtype_to_string (in->tensors[t].dtype), d);
  }
  return g_string_free (have, FALSE);
}

static guint
n_spatial (GstResidualExplain *self, PhysnnModel *m)
{
  g_autofree gchar *cn = coordinate_names (m);
  g_auto (GStrv) names = g_strsplit (cn, ",", -1);
  guint n = 0;
  for (guint i = 0; names[i] && *names[i]; i++)
    n += !is_time (self, names[i]);
  return n;
}

/* Standalone: which stream tensor feeds which model input, and where the
 * sensor readings and positions are. */
static gboolean
map_stream (GstResidualExplain *self, const GstPhysnnTensorsInfo *in,
    gsize *n_points, GError **error)
{
  PhysnnModel *m = self->own_model;
  guint n = physnn_model_get_n_inputs (m);
  gboolean used[GST_PHYSNN_MAX_TENSORS] = { 0 };

  if (n > MAX_INPUTS) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "the model has %u inputs; at most %d are supported", n, MAX_INPUTS);
    return FALSE;
  }
  self->n_model_inputs = n;
  const gchar *cin = physnn_model_get_coordinate_input (m);
  gint ci = cin ? physnn_model_find_input (m, cin) : -1;
  *n_points = self->grid_coords ? self->n_grid : 0;
  for (guint i = 0; i < n; i++) {
    self->source[i] = -3;
    if ((gint)i == self->coord_input && self->grid_coords) {
      self->source[i] = -1;
      continue;
    }
    guint rank;
    const gint64 *dims = physnn_model_get_input_shape (m, i, &rank);
    for (guint t = 0; t < in->n_tensors; t++) {
      if (used[t] || (dims && !fits (&in->tensors[t], dims, rank)))
        continue;
      self->source[i] = (gint)t;
      used[t] = TRUE;
      break;
    }
    if (self->source[i] == -3) {
      g_autofree gchar *have = describe_stream (in);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "model input \"%s\" has no matching stream tensor (the stream "
          "carries %s)%s",
          physnn_model_get_input_name (m, i), in->n_tensors ? have : "nothing",
          (gint)i == ci ? "; the stream carries no coordinates: set grid to "
                          "generate them"
                        : "");
      return FALSE;
    }
    if ((gint)i == ci) {
      const GstPhysnnTensorInfo *t = &in->tensors[self->source[i]];
      gsize cols = t->rank > 1 ? t->shape[t->rank - 1] : 1;
      *n_points = gst_physnn_tensor_info_get_count (t) / MAX (cols, 1);
    }
  }
  if (*n_points == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "cannot tell the number of points: the model has no coordinate "
        "input; set grid");
    return FALSE;
  }

  /* Sensors: positions [S][d] (a tensor, or sensor-positions) and readings
   * [S], the last unused ones that fit unless the properties say which. */
  guint d = n_spatial (self, m);
  gsize s = 0;
  self->sens_tensor = self->pos_tensor = -1;
  self->n_sensors = 0;
  self->pos_dims = d;
  if (self->fixed_positions) {
    if (d == 0 || self->n_fixed_positions % d != 0) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "sensor-positions has %u numbers; the model has %u spatial "
          "coordinates per position",
          self->n_fixed_positions, d);
      return FALSE;
    }
    s = self->n_fixed_positions / d;
  } else if (self->positions_tensor >= 0) {
    const GstPhysnnTensorInfo *t = (guint)self->positions_tensor < in->n_tensors
                                       ? &in->tensors[self->positions_tensor]
                                       : NULL;
    if (t == NULL || !physnn_dtype_is_float (t->dtype) || t->rank != 2 ||
        t->shape[1] != d) {
      g_autofree gchar *have = describe_stream (in);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "positions-tensor %d is not a float [sensors][%u] tensor (the "
          "stream carries %s)",
          self->positions_tensor, d, have);
      return FALSE;
    }
    self->pos_tensor = self->positions_tensor;
    s = t->shape[0];
  } else if (d > 0) {
    for (gint t = (gint)in->n_tensors - 1; t >= 0; t--) {
      const GstPhysnnTensorInfo *ti = &in->tensors[t];
      if (!used[t] && ti->dtype == PHYSNN_DTYPE_FLOAT32 && ti->rank == 2 &&
          ti->shape[1] == d) {
        self->pos_tensor = t;
        s = ti->shape[0];
        break;
      }
    }
  }
  if (self->pos_tensor >= 0)
    used[self->pos_tensor] = TRUE;
  if (self->sensor_tensor >= 0) {
    const GstPhysnnTensorInfo *t = (guint)self->sensor_tensor < in->n_tensors
                                       ? &in->tensors[self->sensor_tensor]
                                       : NULL;
    if (t == NULL || !physnn_dtype_is_float (t->dtype) ||
        (s && gst_physnn_tensor_info_get_count (t) != s) || s == 0) {
      g_autofree gchar *have = describe_stream (in);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "sensor-tensor %d is not a float tensor of one reading per sensor "
          "position (%" G_GSIZE_FORMAT " positions%s; the stream carries %s)",
          self->sensor_tensor, s,
          s ? "" : ": set sensor-positions or positions-tensor", have);
      return FALSE;
    }
    self->sens_tensor = self->sensor_tensor;
  } else if (s > 0) {
    for (gint t = (gint)in->n_tensors - 1; t >= 0; t--) {
      const GstPhysnnTensorInfo *ti = &in->tensors[t];
      if (!used[t] && physnn_dtype_is_float (ti->dtype) &&
          gst_physnn_tensor_info_get_count (ti) == s &&
          ti->shape[ti->rank - 1] == s) {
        self->sens_tensor = t;
        break;
      }
    }
  }
  if (self->sens_tensor >= 0)
    self->n_sensors = (guint)s;
  else if (self->fixed_positions || self->positions_tensor >= 0) {
    g_autofree gchar *have = describe_stream (in);
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "%" G_GSIZE_FORMAT
        " sensor positions but no stream tensor of %" G_GSIZE_FORMAT
        " readings (the stream carries %s)",
        s, s, have);
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_residual_explain_get_output_info (GstPhysnnFilter *filter,
    const GstPhysnnTensorsInfo *in, GstPhysnnTensorsInfo *out, GError **error)
{
  GstResidualExplain *self = GST_RESIDUAL_EXPLAIN (filter);
  gsize n = 0;

  if (self->pde == NULL) {
    g_set_error (
        error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT, "not started");
    return FALSE;
  }
  if (in->media == GST_PHYSNN_MEDIA_AUDIO && in->tensors[0].shape[0] == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "audio input needs frames-per-tensor");
    return FALSE;
  }
  if (self->own_model) {
    if (!map_stream (self, in, &n, error))
      return FALSE;
  } else {
    /* pinninfer's layout: the model outputs first, points outermost. */
    const GstPhysnnTensorInfo *t = &in->tensors[0];
    gsize cols = t->rank > 1 ? t->shape[t->rank - 1] : 1;
    n = gst_physnn_tensor_info_get_count (t) / MAX (cols, 1);
    if (in->media != GST_PHYSNN_MEDIA_TENSORS || n == 0) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "without model, residualexplain reads what pinninfer produces "
          "(other/tensors with a GstPhysnnModelMeta); set model and grid to "
          "explain any other stream");
      return FALSE;
    }
  }
  guint ne = physnn_pde_get_n_equations (self->pde);
  gsize shape[2] = { ne, n };
  out->n_tensors = 0;
  if (ne == 1)
    gst_physnn_tensor_info_set (
        &out->tensors[out->n_tensors++], PHYSNN_DTYPE_FLOAT32, 1, shape + 1);
  else
    gst_physnn_tensor_info_set (
        &out->tensors[out->n_tensors++], PHYSNN_DTYPE_FLOAT32, 2, shape);
  if (self->explainer) {
    gsize as[2] = { n, physnn_explainer_get_n_features (self->explainer) };
    gst_physnn_tensor_info_set (
        &out->tensors[out->n_tensors++], PHYSNN_DTYPE_FLOAT32, 2, as);
    if (self->attribution ==
        GST_RESIDUAL_EXPLAIN_ATTRIBUTION_INTEGRATED_GRADIENTS)
      gst_physnn_tensor_info_set (
          &out->tensors[out->n_tensors++], PHYSNN_DTYPE_FLOAT32, 1, as);
  }
  return TRUE;
}

/* Besides the tensors the base class describes, a heatmap: the configured
 * size first, then any size a capsfilter may ask for. */
static GstCaps *
gst_residual_explain_transform_caps (GstBaseTransform *trans,
    GstPadDirection direction, GstCaps *caps, GstCaps *filter)
{
  GstResidualExplain *self = GST_RESIDUAL_EXPLAIN (trans);
  GstCaps *result = GST_BASE_TRANSFORM_CLASS (gst_residual_explain_parent_class)
                        ->transform_caps (trans, direction, caps, NULL);

  if (direction == GST_PAD_SINK) {
    GstCaps *video = gst_caps_new_empty ();
    for (guint i = 0; i < gst_caps_get_size (caps); i++) {
      const GstStructure *s = gst_caps_get_structure (caps, i);
      const GValue *fr = gst_structure_get_value (s, "framerate");
      GstStructure *v = gst_structure_new ("video/x-raw", "format",
          G_TYPE_STRING, "RGB", "width", G_TYPE_INT, (gint)self->width,
          "height", G_TYPE_INT, (gint)self->height, NULL);
      if (fr)
        gst_structure_set_value (v, "framerate", fr);
      else
        gst_structure_set (
            v, "framerate", GST_TYPE_FRACTION_RANGE, 0, 1, G_MAXINT, 1, NULL);
      GstStructure *any = gst_structure_copy (v);
      gst_structure_set (any, "width", GST_TYPE_INT_RANGE, 1, 16384, "height",
          GST_TYPE_INT_RANGE, 1, 16384, NULL);
      video = gst_caps_merge_structure (video, v);
      video = gst_caps_merge_structure (video, any);
    }
    result = gst_caps_merge (result, video);
  }
  if (filter) {
    GstCaps *tmp =
        gst_caps_intersect_full (filter, result, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (result);
    result = tmp;
  }
  return result;
}

/* A heatmap leaves as one uint8 tensor of the frame's bytes, [height]
 * [stride], so the base class allocates and maps it like any tensor. */
static gboolean
gst_residual_explain_set_caps (
    GstBaseTransform *trans, GstCaps *incaps, GstCaps *outcaps)
{
  GstResidualExplain *self = GST_RESIDUAL_EXPLAIN (trans);
  GstBaseTransformClass *parent =
      GST_BASE_TRANSFORM_CLASS (gst_residual_explain_parent_class);
  const GstStructure *s = gst_caps_get_structure (outcaps, 0);

  self->video = gst_structure_has_name (s, "video/x-raw");
  if (!self->video)
    return parent->set_caps (trans, incaps, outcaps);

  GstVideoInfo vi;
  if (!gst_video_info_from_caps (&vi, outcaps) ||
      GST_VIDEO_INFO_FORMAT (&vi) != GST_VIDEO_FORMAT_RGB) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("The heatmap is packed RGB video; cannot produce %" GST_PTR_FORMAT,
            outcaps),
        (NULL));
    return FALSE;
  }
  self->vid_w = GST_VIDEO_INFO_WIDTH (&vi);
  self->vid_h = GST_VIDEO_INFO_HEIGHT (&vi);
  self->vid_stride = GST_VIDEO_INFO_PLANE_STRIDE (&vi, 0);
  GstPhysnnTensorsInfo *info = g_new (GstPhysnnTensorsInfo, 1);
  gst_physnn_tensors_info_init (info);
  gsize shape[2] = { self->vid_h, self->vid_stride };
  gst_physnn_tensor_info_set (&info->tensors[0], PHYSNN_DTYPE_UINT8, 2, shape);
  info->n_tensors = 1;
  gst_structure_get_fraction (s, "framerate", &info->fps_n, &info->fps_d);
  GstCaps *as_tensors = gst_physnn_tensors_info_to_caps (info);
  g_free (info);
  gboolean ok = parent->set_caps (trans, incaps, as_tensors);
  gst_caps_unref (as_tensors);
  return ok;
}

static gboolean
gst_residual_explain_setup (GstPhysnnFilter *filter,
    const GstPhysnnTensorsInfo *in, const GstPhysnnTensorsInfo *out,
    GError **error)
{
  GstResidualExplain *self = GST_RESIDUAL_EXPLAIN (filter);
  gsize n = 0;

  if (self->own_model && !map_stream (self, in, &n, error))
    return FALSE;
  g_clear_object (&self->waterfall);
  g_clear_object (&self->detector);
  if (self->n_sensors > 0) {
    self->detector = physnn_anomaly_detector_new (self->n_sensors);
    g_object_set (self->detector, "noise-sigma", self->noise_sigma,
        "cusum-drift", self->cusum_drift, "cusum-threshold",
        self->cusum_threshold, "spike-threshold", self->spike_threshold, NULL);
    GST_INFO_OBJECT (self, "%u sensors: readings in tensor %d, positions %s",
        self->n_sensors, self->sens_tensor,
        self->pos_tensor >= 0 ? "from the stream" : "from sensor-positions");
  } else if (self->own_model) {
    /* Readings without positions cannot be judged: say so once, since a
     * pdesrc stream carries no positions unless asked. */
    gboolean used[GST_PHYSNN_MAX_TENSORS] = { 0 };
    for (guint i = 0; i < self->n_model_inputs; i++)
      if (self->source[i] >= 0)
        used[self->source[i]] = TRUE;
    for (guint t = in->n_tensors; t-- > 0;) /* readings come last */
      if (!used[t] && in->tensors[t].rank == 1 &&
          physnn_dtype_is_float (in->tensors[t].dtype)) {
        g_autofree gchar *msg = g_strdup_printf (
            "Stream tensor %u (%" G_GSIZE_FORMAT " values) is not used; to "
            "judge sensor readings against the model, give their positions "
            "(pdesrc outputs=sensors+positions, or sensor-positions)",
            t, in->tensors[t].shape[0]);
        /* gst-launch prints the debug part of an INFO message */
        GST_ELEMENT_INFO (self, STREAM, FORMAT, ("%s", msg), ("%s", msg));
        break;
      }
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Processing */

/* The points' coordinates, [N][nc] doubles, from the model's inputs. */
static gdouble *
point_coordinates (PhysnnModel *m, PhysnnTensor **inputs, guint n_inputs,
    gsize n, GStrv *names_out, guint *nc_out)
{
  g_autofree gchar *cn = coordinate_names (m);
  g_auto (GStrv) names = g_strsplit (cn, ",", -1);
  guint nc = *cn ? g_strv_length (names) : 0;
  const gchar *cin = physnn_model_get_coordinate_input (m);
  gdouble *p = g_new0 (gdouble, MAX (n * nc, 1));

  for (guint c = 0; c < nc; c++) {
    gint idx = physnn_model_find_input (m, cin ? cin : names[c]);
    if (idx < 0 || (guint)idx >= n_inputs)
      continue;
    gsize cnt;
    g_autofree gdouble *v = physnn_tensor_to_doubles (inputs[idx], &cnt);
    guint cols = cin ? nc : 1, col = cin ? c : 0;
    gsize rows = cnt / MAX (cols, 1);
    for (gsize i = 0; i < n; i++)
      p[i * nc + c] = rows == n ? v[i * cols + col] : rows ? v[col] : NAN;
  }
  *names_out = g_steal_pointer (&names);
  *nc_out = nc;
  return p;
}

static PhysnnTensor *
tensor_from_doubles (const gdouble *v, guint rank, const gsize *shape)
{
  gsize n = 1;
  for (guint i = 0; i < rank; i++)
    n *= shape[i];
  return physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_FLOAT32, rank, shape, v, n, NULL);
}

/* Standalone: the model inputs of this buffer. */
static gboolean
standalone_inputs (GstResidualExplain *self, GstBuffer *inbuf,
    PhysnnTensor **stream, PhysnnTensor **model_in, gdouble *t, GError **error)
{
  GstClockTime pts = GST_BUFFER_PTS (inbuf);
  *t = GST_CLOCK_TIME_IS_VALID (pts) ? (gdouble)pts / GST_SECOND * self->tscale
                                     : NAN;
  for (guint i = 0; i < self->n_model_inputs; i++) {
    if (self->source[i] >= 0) {
      PhysnnTensor *s = stream[self->source[i]];
      guint rank;
      const gint64 *dims =
          physnn_model_get_input_shape (self->own_model, i, &rank);
      g_autoptr (PhysnnTensor) f =
          physnn_tensor_get_dtype (s) == PHYSNN_DTYPE_FLOAT32
              ? g_object_ref (s)
              : physnn_tensor_convert (s, PHYSNN_DTYPE_FLOAT32);
      if (dims == NULL || rank == 0) {
        model_in[i] = g_steal_pointer (&f);
        continue;
      }
      gsize shape[PHYSNN_MAX_RANK], known = 1;
      gint sym = -1;
      for (guint d = 0; d < rank; d++) {
        if (dims[d] < 0)
          sym = (gint)d;
        else
          known *= (gsize)dims[d];
        shape[d] = dims[d] < 0 ? 1 : (gsize)dims[d];
      }
      if (sym >= 0)
        shape[sym] = physnn_tensor_get_n_elements (f) / MAX (known, 1);
      model_in[i] = physnn_tensor_reshape (f, rank, shape, error);
      if (model_in[i] == NULL)
        return FALSE;
      continue;
    }
    gboolean timed = FALSE;
    for (guint c = 0; c < self->n_coord_cols; c++)
      timed |= self->coord_source[c] == -2;
    /* the grid stays as it is (and where it is, on the device) unless the
     * buffer time goes into it */
    model_in[i] = timed ? physnn_tensor_copy (self->grid_coords)
                        : g_object_ref (self->grid_coords);
    for (guint c = 0; c < self->n_coord_cols; c++) {
      if (self->coord_source[c] != -2)
        continue;
      if (isnan (*t)) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
            "a buffer without a timestamp: the time coordinate \"%s\" needs "
            "one",
            self->time_name);
        return FALSE;
      }
      gfloat *p = physnn_tensor_map (model_in[i], PHYSNN_MAP_WRITE, NULL);
      for (gsize k = 0; k < self->n_grid; k++)
        p[k * self->n_coord_cols + c] = (gfloat)*t;
      physnn_tensor_unmap (model_in[i]);
    }
  }
  return TRUE;
}

/* RMS and max of |condition| on its face: the points of the buffer with
 * the face coordinate set to its value, without duplicates. */
static gboolean
condition_residual (GstResidualExplain *self, Condition *c,
    PhysnnDevice *device, PhysnnTensor **inputs, guint n_inputs,
    GstStructure *s, GError **error)
{
  PhysnnModel *m = self->base;
  const gchar *cin = physnn_model_get_coordinate_input (m);
  g_autofree gchar *cn = coordinate_names (m);
  g_auto (GStrv) names = g_strsplit (cn, ",", -1);
  guint nc = g_strv_length (names);
  gint col = -1;
  for (guint i = 0; i < nc; i++)
    if (g_strcmp0 (names[i], c->coord) == 0)
      col = (gint)i;
  gint ci = cin ? physnn_model_find_input (m, cin) : -1;
  if (col < 0 || ci < 0 || (guint)ci >= n_inputs) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "condition \"%s\": \"%s\" is not a coordinate of the model "
        "(coordinates: %s)%s",
        c->text, c->coord, cn, ci < 0 ? " or they are not in one input" : "");
    return FALSE;
  }
  if (c->model == NULL && (c->model = physnn_model_copy (m, error)) == NULL)
    return FALSE;
  gsize cnt;
  g_autofree gdouble *v = physnn_tensor_to_doubles (inputs[ci], &cnt);
  gsize rows = cnt / nc, kept = 0;
  g_autoptr (GHashTable) seen = g_hash_table_new (g_bytes_hash, g_bytes_equal);
  GPtrArray *keys =
      g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  for (gsize r = 0; r < rows; r++) {
    gdouble *row = v + r * nc;
    row[col] = c->value;
    GBytes *k = g_bytes_new (row, nc * sizeof (gdouble));
    if (g_hash_table_contains (seen, k)) {
      g_bytes_unref (k);
      continue;
    }
    g_hash_table_add (seen, k);
    g_ptr_array_add (keys, k);
    memmove (v + kept * nc, row, nc * sizeof (gdouble));
    kept++;
  }
  g_hash_table_remove_all (seen);
  g_ptr_array_unref (keys);
  gsize shape[2] = { kept, nc };
  g_autoptr (PhysnnTensor) face = tensor_from_doubles (v, 2, shape);
  g_autofree PhysnnTensor **in = g_new (PhysnnTensor *, n_inputs);
  for (guint i = 0; i < n_inputs; i++)
    in[i] = (gint)i == ci ? face : inputs[i];
  g_autoptr (PhysnnTensor) r =
      physnn_pde_residual (c->pde, c->model, device, in, n_inputs, NULL, error);
  if (r == NULL) {
    g_prefix_error (error, "condition \"%s\": ", c->text);
    return FALSE;
  }
  gsize nr;
  g_autofree gdouble *rv = physnn_tensor_to_doubles (r, &nr);
  gdouble ss = 0, mx = 0;
  for (gsize i = 0; i < nr; i++) {
    ss += rv[i] * rv[i];
    mx = MAX (mx, fabs (rv[i]));
  }
  GstStructure *cs = gst_structure_new ("condition", "condition", G_TYPE_STRING,
      c->text, "points", G_TYPE_UINT64, (guint64)kept, "rms", G_TYPE_DOUBLE,
      nr ? sqrt (ss / nr) : 0.0, "max", G_TYPE_DOUBLE, mx, NULL);
  GValue item = G_VALUE_INIT;
  g_value_init (&item, GST_TYPE_STRUCTURE);
  gst_value_set_structure (&item, cs);
  gst_structure_free (cs);
  GValue *list = (GValue *)gst_structure_get_value (s, "conditions");
  gst_value_list_append_and_take_value (list, &item);
  return TRUE;
}

static void
set_double_array (GstStructure *s, const gchar *field, const gdouble *v,
    guint n, gboolean as_bool)
{
  GValue arr = G_VALUE_INIT;
  gst_value_array_init (&arr, n);
  for (guint i = 0; i < n; i++) {
    GValue x = G_VALUE_INIT;
    if (as_bool) {
      g_value_init (&x, G_TYPE_BOOLEAN);
      g_value_set_boolean (&x, v[i] != 0);
    } else {
      g_value_init (&x, G_TYPE_DOUBLE);
      g_value_set_double (&x, v[i]);
    }
    gst_value_array_append_and_take_value (&arr, &x);
  }
  gst_structure_take_value (s, field, &arr);
}

/* The data misfit at the sensors, the detectors' flags and the class of
 * each sensor's region. */
static gboolean
judge_sensors (GstResidualExplain *self, PhysnnDevice *device,
    PhysnnTensor **stream, PhysnnTensor **inputs, guint n_inputs, gdouble t,
    const gdouble *coords, guint nc, GStrv names, PhysnnTensor *rel,
    GstStructure *s, GError **error)
{
  PhysnnModel *m = self->base;
  guint ns = self->n_sensors, d = self->pos_dims;
  const gchar *cin = physnn_model_get_coordinate_input (m);
  gint ci = cin ? physnn_model_find_input (m, cin) : -1;
  if (ci < 0 || (guint)ci >= n_inputs) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "sensors: the model's coordinates are not in one input");
    return FALSE;
  }
  g_autofree gdouble *pos = NULL;
  if (self->pos_tensor >= 0) {
    gsize cnt;
    pos = physnn_tensor_to_doubles (stream[self->pos_tensor], &cnt);
  } else {
    pos = g_memdup2 (self->fixed_positions, ns * d * sizeof (gdouble));
  }
  /* the sensor points: spatial columns from the positions, time from t */
  g_autofree gdouble *sp = g_new0 (gdouble, (gsize)ns * nc);
  for (guint k = 0; k < ns; k++)
    for (guint c = 0, j = 0; c < nc; c++) {
      if (is_time (self, names[c]))
        sp[k * nc + c] = t;
      else
        sp[k * nc + c] = pos[k * d + j++];
    }
  gsize shape[2] = { ns, nc };
  g_autoptr (PhysnnTensor) pts = tensor_from_doubles (sp, 2, shape);
  if (self->pred_model == NULL &&
      (self->pred_model = physnn_model_copy (m, error)) == NULL)
    return FALSE;
  g_autofree PhysnnTensor **in = g_new (PhysnnTensor *, n_inputs);
  for (guint i = 0; i < n_inputs; i++)
    in[i] = (gint)i == ci ? pts : inputs[i];
  g_autoptr (GPtrArray) res =
      physnn_model_run (self->pred_model, device, in, n_inputs, error);
  if (res == NULL) {
    g_prefix_error (error, "predicting the sensors: ");
    return FALSE;
  }
  PhysnnTensor *u = g_ptr_array_index (res, 0);
  gsize nu;
  g_autofree gdouble *uv = physnn_tensor_to_doubles (u, &nu);
  gsize w = nu / MAX (ns, 1);
  g_autofree gdouble *pred = g_new (gdouble, ns);
  for (guint k = 0; k < ns; k++)
    pred[k] = uv[k * w];
  gsize s1[1] = { ns };
  g_autoptr (PhysnnTensor) pt = tensor_from_doubles (pred, 1, s1);
  if (!physnn_anomaly_detector_update (
          self->detector, stream[self->sens_tensor], pt, error))
    return FALSE;

  /* regions: the points' spatial coordinates against the sensors' */
  gsize n = physnn_tensor_get_n_elements (rel);
  g_autofree gdouble *qp = g_new (gdouble, MAX (n * d, 1));
  for (gsize q = 0; q < n; q++)
    for (guint c = 0, j = 0; c < nc; c++)
      if (!is_time (self, names[c]))
        qp[q * d + j++] = coords[q * nc + c];
  gsize ps[2] = { ns, d }, qs[2] = { n, d };
  g_autoptr (PhysnnTensor) post = tensor_from_doubles (pos, 2, ps);
  g_autoptr (PhysnnTensor) qt = tensor_from_doubles (qp, 2, qs);
  if (!physnn_anomaly_detector_classify (
          self->detector, post, qt, rel, self->physics_threshold, error))
    return FALSE;

  g_autofree gdouble *misfit = g_new (gdouble, ns);
  g_autofree gdouble *score = g_new (gdouble, ns);
  g_autofree gdouble *flag = g_new (gdouble, ns);
  GValue regions = G_VALUE_INIT;
  gst_value_array_init (&regions, ns);
  GEnumClass *ec = g_type_class_ref (PHYSNN_TYPE_REGION_CLASS);
  gdouble ss = 0, mx = 0;
  guint n_data = 0, n_phys = 0;
  for (guint k = 0; k < ns; k++) {
    misfit[k] = physnn_anomaly_detector_get_misfit (self->detector, k);
    score[k] = physnn_anomaly_detector_get_score (self->detector, k);
    flag[k] = physnn_anomaly_detector_get_flag (self->detector, k);
    if (isfinite (misfit[k])) {
      ss += misfit[k] * misfit[k];
      mx = MAX (mx, fabs (misfit[k]));
    }
    PhysnnRegionClass rc =
        physnn_anomaly_detector_get_region_class (self->detector, k);
    n_data += (rc & PHYSNN_REGION_DATA_INCONSISTENT) != 0;
    n_phys += (rc & PHYSNN_REGION_PHYSICS_INCONSISTENT) != 0;
    GEnumValue *ev = g_enum_get_value (ec, rc);
    GValue x = G_VALUE_INIT;
    g_value_init (&x, G_TYPE_STRING);
    g_value_set_string (&x, ev ? ev->value_nick : "?");
    gst_value_array_append_and_take_value (&regions, &x);
  }
  g_type_class_unref (ec);
  /* for the heatmap's markers */
  g_free (self->marker_pos);
  g_free (self->marker_flag);
  self->marker_pos = g_memdup2 (pos, (gsize)ns * d * sizeof (gdouble));
  self->marker_flag = g_new (gboolean, ns);
  for (guint k = 0; k < ns; k++)
    self->marker_flag[k] = flag[k] != 0;
  self->n_markers = ns;
  gst_structure_set (s, "sensors", G_TYPE_UINT, ns, "noise-sigma",
      G_TYPE_DOUBLE, physnn_anomaly_detector_get_sigma (self->detector),
      "misfit-rms", G_TYPE_DOUBLE, sqrt (ss / ns), "misfit-max", G_TYPE_DOUBLE,
      mx, "flagged", G_TYPE_UINT,
      physnn_anomaly_detector_get_n_flagged (self->detector),
      "data-inconsistent", G_TYPE_UINT, n_data, "physics-inconsistent",
      G_TYPE_UINT, n_phys, "data-anomaly", G_TYPE_BOOLEAN, n_data > 0, NULL);
  set_double_array (s, "misfit", misfit, ns, FALSE);
  set_double_array (s, "score", score, ns, FALSE);
  set_double_array (s, "flags", flag, ns, TRUE);
  gst_structure_take_value (s, "regions", &regions);
  return TRUE;
}

/* The picture's data: a 2-D grid as it is (a third axis by its maximum),
 * anything else as a waterfall of the last `history` buffers, newest at
 * the top. */
static PhysnnTensor *
heatmap_data (GstResidualExplain *self, PhysnnTensor *mag, const gsize *gs,
    guint grid_rank, guint *w, guint *h)
{
  gsize n = physnn_tensor_get_n_elements (mag);
  const gfloat *m = physnn_tensor_map (mag, PHYSNN_MAP_READ, NULL);
  PhysnnTensor *out;
  if (grid_rank >= 2 && gs[1] > 1) {
    gsize layer = gs[0] * gs[1];
    gsize shape[2] = { gs[1], gs[0] };
    out = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
    gfloat *o = physnn_tensor_map (out, PHYSNN_MAP_WRITE, NULL);
    memcpy (o, m, layer * sizeof (gfloat));
    for (gsize z = 1; grid_rank == 3 && z < gs[2]; z++)
      for (gsize i = 0; i < layer; i++)
        o[i] = isnan (o[i]) ? o[i] : MAX (o[i], m[z * layer + i]);
    physnn_tensor_unmap (out);
    *w = (guint)gs[0];
    *h = (guint)gs[1];
  } else {
    guint rows = self->history;
    if (self->waterfall == NULL ||
        physnn_tensor_get_dim (self->waterfall, 1) != n) {
      gsize shape[2] = { rows, n };
      g_clear_object (&self->waterfall);
      self->waterfall = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
      physnn_tensor_fill (self->waterfall, NAN);
    }
    gfloat *o = physnn_tensor_map (
        self->waterfall, PHYSNN_MAP_READ | PHYSNN_MAP_WRITE, NULL);
    /* row 0 is drawn at the bottom: the oldest */
    memmove (o, o + n, (gsize)(rows - 1) * n * sizeof (gfloat));
    memcpy (o + (gsize)(rows - 1) * n, m, n * sizeof (gfloat));
    physnn_tensor_unmap (self->waterfall);
    out = g_object_ref (self->waterfall);
    *w = (guint)n;
    *h = rows;
  }
  physnn_tensor_unmap (mag);
  return out;
}

/* Sensors on the picture: where a grid axis carries a sensor coordinate
 * (axis 0 across, axis 1 upwards when it is spatial, else the top edge). */
static void
draw_markers (GstResidualExplain *self, PhysnnTensor *frame, guint grid_rank)
{
  if (!self->sensor_markers || self->n_markers == 0 || self->n_axes == 0 ||
      self->grid_coords == NULL)
    return;
  g_autofree gchar *cn = coordinate_names (self->own_model);
  g_auto (GStrv) names = g_strsplit (cn, ",", -1);
  gint dim_of_axis[MAX_AXES] = { -1, -1, -1 };
  for (guint c = 0, j = 0; names[c]; c++) {
    if (is_time (self, names[c]))
      continue;
    for (guint a = 0; a < self->n_axes; a++)
      if (g_strcmp0 (self->axes[a].name, names[c]) == 0)
        dim_of_axis[a] = (gint)j;
    j++;
  }
  if (dim_of_axis[0] < 0 || !(self->axes[0].hi != self->axes[0].lo))
    return;
  guint bar = self->colorbar + 2 < self->vid_w ? self->colorbar : 0;
  guint img_w = bar ? self->vid_w - bar - 2 : self->vid_w;
  gboolean plane = grid_rank >= 2 && dim_of_axis[1] >= 0 &&
                   self->axes[1].hi != self->axes[1].lo;
  guint8 *rgb =
      physnn_tensor_map (frame, PHYSNN_MAP_READ | PHYSNN_MAP_WRITE, NULL);
  for (guint k = 0; k < self->n_markers; k++) {
    const Axis *ax = &self->axes[0];
    gdouble fx =
        (self->marker_pos[k * self->pos_dims + dim_of_axis[0]] - ax->lo) /
        (ax->hi - ax->lo);
    gdouble fy = 1.0;
    if (plane) {
      const Axis *ay = &self->axes[1];
      fy = (self->marker_pos[k * self->pos_dims + dim_of_axis[1]] - ay->lo) /
           (ay->hi - ay->lo);
    }
    if (!(fx >= 0 && fx <= 1 && fy >= 0 && fy <= 1))
      continue;
    gint cx = (gint)(fx * (img_w - 1) + 0.5);
    gint cy = plane ? (gint)((1 - fy) * (self->vid_h - 1) + 0.5) : 2;
    static const guint8 red[3] = { 255, 0, 0 }, cyan[3] = { 0, 255, 255 };
    const guint8 *col = self->marker_flag[k] ? red : cyan;
    for (gint y = cy - 2; y <= cy + 2; y++)
      for (gint x = cx - 2; x <= cx + 2; x++)
        if (x >= 0 && y >= 0 && x < (gint)img_w && y < (gint)self->vid_h)
          memcpy (rgb + (gsize)y * self->vid_stride + 3 * x, col, 3);
  }
  physnn_tensor_unmap (frame);
}

/* A 2-D grid is drawn from the residual where it is (on an OpenCL device,
 * by a kernel: only the picture travels); anything else from |r| on the
 * host, through heatmap_data(). */
static gboolean
render (GstResidualExplain *self, PhysnnDevice *device, PhysnnTensor *residual,
    PhysnnResidualStats *stats, const gsize *gs, guint grid_rank,
    PhysnnTensor *frame, GstStructure *s, GError **error)
{
  gboolean plane = grid_rank == 2 && gs[1] > 1;
  g_autoptr (PhysnnTensor) data = NULL;
  guint w = 0, h = 0;
  gdouble lo = self->range_min, hi = self->range_max;

  if (!plane)
    data = heatmap_data (self, physnn_residual_stats_get_magnitude (stats), gs,
        grid_rank, &w, &h);
  if (!(hi > lo)) {
    /* adaptive: from what the picture shows */
    gdouble mx = 0;
    if (plane) {
      mx = physnn_residual_stats_get_max (stats);
    } else {
      gsize n = physnn_tensor_get_n_elements (data);
      const gfloat *v = physnn_tensor_map (data, PHYSNN_MAP_READ, NULL);
      for (gsize i = 0; i < n; i++)
        if (isfinite (v[i]))
          mx = MAX (mx, v[i]);
      physnn_tensor_unmap (data);
    }
    hi = mx > 0 && isfinite (mx) ? mx : 1.0;
    lo = self->log_scale ? hi * pow (10.0, -LOG_DECADES) : 0.0;
  }
  gst_structure_set (s, "heatmap-min", G_TYPE_DOUBLE, lo, "heatmap-max",
      G_TYPE_DOUBLE, hi, NULL);
  if (plane)
    return physnn_heatmap_render_residual (device, residual, (guint)gs[0],
        (guint)gs[1], lo, hi, self->log_scale, self->colormap, self->colorbar,
        frame, self->vid_w, error);
  guint8 *rgb = physnn_tensor_map (frame, PHYSNN_MAP_WRITE, NULL);
  gboolean ok = physnn_heatmap_render (data, w, h, lo, hi, self->log_scale,
      self->colormap, self->colorbar, rgb, self->vid_w, self->vid_h,
      self->vid_stride, error);
  physnn_tensor_unmap (frame);
  return ok;
}

static gboolean
attribute (GstResidualExplain *self, PhysnnDevice *device,
    PhysnnTensor **inputs, guint n_inputs, PhysnnTensor **outputs,
    guint n_outputs, GstStructure *s, GError **error)
{
  g_autoptr (PhysnnTensor) a = NULL;
  g_autoptr (PhysnnTensor) delta = NULL;
  const gchar *method = "";
  switch (self->attribution) {
    case GST_RESIDUAL_EXPLAIN_ATTRIBUTION_INTEGRATED_GRADIENTS: {
      g_autoptr (PhysnnTensor) b = NULL;
      if (self->baseline_values) {
        gsize shape[1] = { self->n_baseline };
        b = physnn_tensor_new_from_doubles (PHYSNN_DTYPE_FLOAT64, 1, shape,
            self->baseline_values, self->n_baseline, NULL);
      }
      a = physnn_explainer_integrated_gradients (self->explainer, device,
          inputs, n_inputs, b, self->n_steps, self->integration, &delta, error);
      method = "integrated-gradients";
      break;
    }
    case GST_RESIDUAL_EXPLAIN_ATTRIBUTION_SALIENCY:
      a = physnn_explainer_saliency (
          self->explainer, device, inputs, n_inputs, error);
      method = "saliency";
      break;
    case GST_RESIDUAL_EXPLAIN_ATTRIBUTION_SMOOTHGRAD:
      a = physnn_explainer_smoothgrad (self->explainer, device, inputs,
          n_inputs, self->smoothgrad_samples, self->smoothgrad_sigma,
          self->seed, error);
      method = "smoothgrad";
      break;
    default:
      return TRUE;
  }
  if (a == NULL)
    return FALSE;
  gst_structure_set (s, "attribution", G_TYPE_STRING, method,
      "attribution-input", G_TYPE_STRING,
      physnn_explainer_get_input (self->explainer), "attribution-output",
      G_TYPE_STRING, physnn_explainer_get_output (self->explainer), NULL);
  PhysnnTensor *results[2] = { a, delta };
  for (guint i = 0; i < 2 && results[i] && 1 + i < n_outputs; i++) {
    if (physnn_tensor_get_nbytes (results[i]) !=
        physnn_tensor_get_nbytes (outputs[1 + i])) {
      g_autofree gchar *x = physnn_tensor_describe (results[i]);
      g_autofree gchar *y = physnn_tensor_describe (outputs[1 + i]);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "attributions are %s but the negotiated caps say %s", x, y);
      return FALSE;
    }
    gsize size;
    gpointer dst = physnn_tensor_map (outputs[1 + i], PHYSNN_MAP_WRITE, &size);
    memcpy (dst, physnn_tensor_map (results[i], PHYSNN_MAP_READ, NULL), size);
    physnn_tensor_unmap (results[i]);
    physnn_tensor_unmap (outputs[1 + i]);
  }
  if (delta) {
    gsize nd;
    g_autofree gdouble *dv = physnn_tensor_to_doubles (delta, &nd);
    gdouble mx = 0;
    for (gsize i = 0; i < nd; i++)
      mx = MAX (mx, fabs (dv[i]));
    gst_structure_set (s, "completeness-delta", G_TYPE_DOUBLE, mx, NULL);
  }
  return TRUE;
}

static GstFlowReturn
gst_residual_explain_process (GstPhysnnFilter *filter, GstBuffer *inbuf,
    PhysnnTensor **inputs, guint n_inputs, GstBuffer *outbuf,
    PhysnnTensor **outputs, guint n_outputs, GError **error)
{
  GstResidualExplain *self = GST_RESIDUAL_EXPLAIN (filter);
  PhysnnDevice *device = gst_physnn_filter_get_device (filter);
  PhysnnTensor *own_in[MAX_INPUTS] = { NULL };
  PhysnnTensor **model_in;
  guint n_model_in;
  gdouble t = NAN;
  gsize gs[MAX_AXES] = { 0 };
  guint grid_rank = 0;
  GstFlowReturn ret = GST_FLOW_ERROR;
  GstStructure *s = NULL;
  g_autoptr (PhysnnTensor) residual = NULL;
  g_autoptr (PhysnnTensor) scale = NULL;
  g_autoptr (PhysnnResidualStats) stats = NULL;
  g_autoptr (PhysnnTensor) rel = NULL;
  g_autofree gdouble *coords = NULL;
  g_auto (GStrv) names = NULL;
  guint nc = 0;

  /* 1. the model and the points */
  if (self->own_model) {
    if (!standalone_inputs (self, inbuf, inputs, own_in, &t, error))
      goto out;
    model_in = own_in;
    n_model_in = self->n_model_inputs;
    if (self->grid_coords) {
      grid_rank = self->n_axes;
      for (guint a = 0; a < self->n_axes; a++)
        gs[a] = self->axes[a].n;
    }
  } else {
    GstPhysnnModelMeta *mm = gst_buffer_get_physnn_model_meta (inbuf);
    if (mm == NULL || mm->model == NULL) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "the buffer carries no model and no coordinates (no "
          "GstPhysnnModelMeta): put residualexplain downstream of pinninfer, "
          "or set model and grid so that it evaluates a model itself");
      goto out;
    }
    if (!use_model (self, mm->model, mm->derivatives, n_inputs, error))
      goto out;
    model_in = mm->inputs;
    n_model_in = mm->n_inputs;
    t = mm->time;
    if (isnan (t) && GST_BUFFER_PTS_IS_VALID (inbuf))
      t = (gdouble)GST_BUFFER_PTS (inbuf) / GST_SECOND * self->tscale;
    for (guint a = 0; a < MAX_AXES && mm->grid_shape[a]; a++)
      gs[grid_rank++] = mm->grid_shape[a];
  }

  /* 2. the residual */
  if (self->direct) {
    guint n_out = physnn_model_get_n_outputs (self->base);
    guint nd = physnn_pde_get_n_derivatives (self->pde);
    PhysnnTensor *d[MAX_DERIVS];
    for (guint k = 0; k < nd; k++)
      d[k] = inputs[self->deriv_map[k]];
    residual = physnn_pde_evaluate (self->pde, device, model_in, n_model_in,
        inputs, n_out, d, nd, &scale, error);
  } else {
    residual = physnn_pde_residual (self->pde, self->res_model, device,
        model_in, n_model_in, &scale, error);
  }
  if (residual == NULL)
    goto out;
  gsize n = physnn_tensor_get_n_elements (scale);
  gsize grid_n = grid_rank ? 1 : 0;
  for (guint a = 0; a < grid_rank; a++)
    grid_n *= gs[a];
  if (grid_n != n)
    grid_rank = 0; /* the points are not the grid the meta describes */
  stats =
      physnn_residual_stats_new (residual, self->top_k, gs, grid_rank, error);
  if (stats == NULL)
    goto out;

  /* 3. statistics, relative to the size of the PDE's terms */
  PhysnnTensor *mag = physnn_residual_stats_get_magnitude (stats);
  gsize rel_shape[1] = { n };
  rel = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, rel_shape);
  {
    const gfloat *mv = physnn_tensor_map (mag, PHYSNN_MAP_READ, NULL);
    const gfloat *sv = physnn_tensor_map (scale, PHYSNN_MAP_READ, NULL);
    gfloat *rv = physnn_tensor_map (rel, PHYSNN_MAP_WRITE, NULL);
    gdouble ss = 0;
    for (gsize i = 0; i < n; i++)
      if (isfinite (sv[i]))
        ss += (gdouble)sv[i] * sv[i];
    /* a floor of 10 % of the terms' RMS keeps regions where every term
     * nears zero (a boundary held at 0) from dividing by nothing */
    gdouble floor = MAX (0.1 * (n ? sqrt (ss / n) : 0.0), G_MINFLOAT);
    gdouble rmax = 0;
    for (gsize i = 0; i < n; i++) {
      rv[i] = (gfloat)(mv[i] / MAX ((gdouble)sv[i], floor));
      if (isfinite (rv[i]))
        rmax = MAX (rmax, rv[i]);
    }
    physnn_tensor_unmap (rel);
    physnn_tensor_unmap (scale);
    physnn_tensor_unmap (mag);
    gdouble rms = physnn_residual_stats_get_rms (stats);
    gdouble srms = n ? sqrt (ss / n) : 0;
    GstClockTime pts = GST_BUFFER_PTS (inbuf);
    s = gst_structure_new ("physnn-residual", "frame", G_TYPE_UINT64,
        self->frame, "timestamp", G_TYPE_UINT64, (guint64)pts, "time",
        G_TYPE_DOUBLE, t, "pde", G_TYPE_STRING, physnn_pde_get_text (self->pde),
        "points", G_TYPE_UINT64, (guint64)n, "nonfinite", G_TYPE_UINT64,
        (guint64)physnn_residual_stats_get_n_nonfinite (stats), "rms",
        G_TYPE_DOUBLE, rms, "mean-abs", G_TYPE_DOUBLE,
        physnn_residual_stats_get_mean_abs (stats), "max", G_TYPE_DOUBLE,
        physnn_residual_stats_get_max (stats), "p99", G_TYPE_DOUBLE,
        physnn_residual_stats_get_p99 (stats), "term-rms", G_TYPE_DOUBLE, srms,
        "relative-rms", G_TYPE_DOUBLE, srms > 0 ? rms / srms : 0.0,
        "relative-max", G_TYPE_DOUBLE, rmax, "physics-anomaly", G_TYPE_BOOLEAN,
        rmax > self->physics_threshold, "evaluation", G_TYPE_STRING,
        self->direct ? "buffer" : "model", NULL);
  }

  /* 4. hotspots, with their coordinates */
  coords = point_coordinates (self->base, model_in, n_model_in, n, &names, &nc);
  {
    GValue list = G_VALUE_INIT;
    gst_value_list_init (&list, physnn_residual_stats_get_n_hotspots (stats));
    for (guint k = 0; k < physnn_residual_stats_get_n_hotspots (stats); k++) {
      gsize idx = physnn_residual_stats_get_hotspot_index (stats, k);
      GstStructure *h = gst_structure_new ("hotspot", "index", G_TYPE_UINT64,
          (guint64)idx, "residual", G_TYPE_DOUBLE,
          physnn_residual_stats_get_hotspot_value (stats, k), NULL);
      for (guint c = 0; c < nc && idx < n; c++)
        gst_structure_set (
            h, names[c], G_TYPE_DOUBLE, coords[idx * nc + c], NULL);
      GValue item = G_VALUE_INIT;
      g_value_init (&item, GST_TYPE_STRUCTURE);
      gst_value_set_structure (&item, h);
      gst_structure_free (h);
      gst_value_list_append_and_take_value (&list, &item);
    }
    gst_structure_take_value (s, "hotspots", &list);
  }

  /* 5. boundary and initial conditions */
  if (self->conds->len) {
    GValue list = G_VALUE_INIT;
    gst_value_list_init (&list, self->conds->len);
    gst_structure_take_value (s, "conditions", &list);
    for (guint i = 0; i < self->conds->len; i++)
      if (!condition_residual (self, &g_array_index (self->conds, Condition, i),
              device, model_in, n_model_in, s, error))
        goto out;
  }

  /* 6. physics versus data */
  if (self->detector && !judge_sensors (self, device, inputs, model_in,
                            n_model_in, t, coords, nc, names, rel, s, error))
    goto out;

  /* 7. the output */
  if (self->video) {
    if (!render (
            self, device, residual, stats, gs, grid_rank, outputs[0], s, error))
      goto out;
    draw_markers (self, outputs[0], grid_rank);
  } else {
    gsize size;
    if (physnn_tensor_get_nbytes (residual) !=
        physnn_tensor_get_nbytes (outputs[0])) {
      g_autofree gchar *a = physnn_tensor_describe (residual);
      g_autofree gchar *b = physnn_tensor_describe (outputs[0]);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "the residual is %s but the negotiated caps say %s (did the number "
          "of points change?)",
          a, b);
      goto out;
    }
    gpointer dst = physnn_tensor_map (outputs[0], PHYSNN_MAP_WRITE, &size);
    memcpy (dst, physnn_tensor_map (residual, PHYSNN_MAP_READ, NULL), size);
    physnn_tensor_unmap (residual);
    physnn_tensor_unmap (outputs[0]);
    if (self->explainer && !attribute (self, device, model_in, n_model_in,
                               outputs, n_outputs, s, error))
      goto out;
  }

  /* 8. meta and message */
  gst_buffer_add_residual_meta (outbuf, s);
  if (self->post_messages)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_element (GST_OBJECT (self), g_steal_pointer (&s)));
  self->frame++;
  ret = GST_FLOW_OK;
out:
  if (s)
    gst_structure_free (s);
  for (guint i = 0; i < MAX_INPUTS; i++)
    g_clear_object (&own_in[i]);
  return ret;
}

/* ------------------------------------------------------------------------ */
/* Properties */

static gchar **
string_prop (GstResidualExplain *self, guint prop_id)
{
  switch (prop_id) {
    case PROP_PDE:
      return &self->pde_text;
    case PROP_PARAMETERS:
      return &self->parameters;
    case PROP_MODEL:
      return &self->model_path;
    case PROP_GRID:
      return &self->grid;
    case PROP_TIME_INPUT:
      return &self->time_input;
    case PROP_CONDITIONS:
      return &self->conditions;
    case PROP_ATTRIBUTION_INPUT:
      return &self->attribution_input;
    case PROP_ATTRIBUTION_OUTPUT:
      return &self->attribution_output;
    case PROP_BASELINE:
      return &self->baseline;
    case PROP_SENSOR_POSITIONS:
      return &self->sensor_positions;
    default:
      return NULL;
  }
}

static void
gst_residual_explain_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstResidualExplain *self = GST_RESIDUAL_EXPLAIN (object);
  gchar **target = string_prop (self, prop_id);

  if (target) {
    GST_OBJECT_LOCK (self);
    g_free (*target);
    *target = g_value_dup_string (value);
    GST_OBJECT_UNLOCK (self);
    return;
  }
  switch (prop_id) {
    case PROP_TIME_SCALE:
      self->time_scale = g_value_get_double (value);
      break;
    case PROP_TOP_K:
      self->top_k = g_value_get_uint (value);
      break;
    case PROP_ATTRIBUTION:
      self->attribution = g_value_get_enum (value);
      break;
    case PROP_N_STEPS:
      self->n_steps = g_value_get_uint (value);
      break;
    case PROP_INTEGRATION:
      self->integration = g_value_get_enum (value);
      break;
    case PROP_SMOOTHGRAD_SAMPLES:
      self->smoothgrad_samples = g_value_get_uint (value);
      break;
    case PROP_SMOOTHGRAD_SIGMA:
      self->smoothgrad_sigma = g_value_get_double (value);
      break;
    case PROP_SEED:
      self->seed = g_value_get_uint64 (value);
      break;
    case PROP_LOG_SCALE:
      self->log_scale = g_value_get_boolean (value);
      break;
    case PROP_RANGE_MIN:
      self->range_min = g_value_get_double (value);
      break;
    case PROP_RANGE_MAX:
      self->range_max = g_value_get_double (value);
      break;
    case PROP_COLORMAP:
      self->colormap = g_value_get_enum (value);
      break;
    case PROP_COLORBAR:
      self->colorbar = g_value_get_uint (value);
      break;
    case PROP_WIDTH:
      self->width = g_value_get_uint (value);
      break;
    case PROP_HEIGHT:
      self->height = g_value_get_uint (value);
      break;
    case PROP_HISTORY:
      self->history = g_value_get_uint (value);
      break;
    case PROP_SENSOR_TENSOR:
      self->sensor_tensor = g_value_get_int (value);
      break;
    case PROP_POSITIONS_TENSOR:
      self->positions_tensor = g_value_get_int (value);
      break;
    case PROP_NOISE_SIGMA:
      self->noise_sigma = g_value_get_double (value);
      break;
    case PROP_CUSUM_DRIFT:
      self->cusum_drift = g_value_get_double (value);
      break;
    case PROP_CUSUM_THRESHOLD:
      self->cusum_threshold = g_value_get_double (value);
      break;
    case PROP_SPIKE_THRESHOLD:
      self->spike_threshold = g_value_get_double (value);
      break;
    case PROP_PHYSICS_THRESHOLD:
      self->physics_threshold = g_value_get_double (value);
      break;
    case PROP_POST_MESSAGES:
      self->post_messages = g_value_get_boolean (value);
      break;
    case PROP_SENSOR_MARKERS:
      self->sensor_markers = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
gst_residual_explain_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstResidualExplain *self = GST_RESIDUAL_EXPLAIN (object);
  gchar **target = string_prop (self, prop_id);

  if (target) {
    GST_OBJECT_LOCK (self);
    g_value_set_string (value, *target);
    GST_OBJECT_UNLOCK (self);
    return;
  }
  switch (prop_id) {
    case PROP_TIME_SCALE:
      g_value_set_double (value, self->time_scale);
      break;
    case PROP_TOP_K:
      g_value_set_uint (value, self->top_k);
      break;
    case PROP_ATTRIBUTION:
      g_value_set_enum (value, self->attribution);
      break;
    case PROP_N_STEPS:
      g_value_set_uint (value, self->n_steps);
      break;
    case PROP_INTEGRATION:
      g_value_set_enum (value, self->integration);
      break;
    case PROP_SMOOTHGRAD_SAMPLES:
      g_value_set_uint (value, self->smoothgrad_samples);
      break;
    case PROP_SMOOTHGRAD_SIGMA:
      g_value_set_double (value, self->smoothgrad_sigma);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, self->seed);
      break;
    case PROP_LOG_SCALE:
      g_value_set_boolean (value, self->log_scale);
      break;
    case PROP_RANGE_MIN:
      g_value_set_double (value, self->range_min);
      break;
    case PROP_RANGE_MAX:
      g_value_set_double (value, self->range_max);
      break;
    case PROP_COLORMAP:
      g_value_set_enum (value, self->colormap);
      break;
    case PROP_COLORBAR:
      g_value_set_uint (value, self->colorbar);
      break;
    case PROP_WIDTH:
      g_value_set_uint (value, self->width);
      break;
    case PROP_HEIGHT:
      g_value_set_uint (value, self->height);
      break;
    case PROP_HISTORY:
      g_value_set_uint (value, self->history);
      break;
    case PROP_SENSOR_TENSOR:
      g_value_set_int (value, self->sensor_tensor);
      break;
    case PROP_POSITIONS_TENSOR:
      g_value_set_int (value, self->positions_tensor);
      break;
    case PROP_NOISE_SIGMA:
      g_value_set_double (value, self->noise_sigma);
      break;
    case PROP_CUSUM_DRIFT:
      g_value_set_double (value, self->cusum_drift);
      break;
    case PROP_CUSUM_THRESHOLD:
      g_value_set_double (value, self->cusum_threshold);
      break;
    case PROP_SPIKE_THRESHOLD:
      g_value_set_double (value, self->spike_threshold);
      break;
    case PROP_PHYSICS_THRESHOLD:
      g_value_set_double (value, self->physics_threshold);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, self->post_messages);
      break;
    case PROP_SENSOR_MARKERS:
      g_value_set_boolean (value, self->sensor_markers);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
gst_residual_explain_finalize (GObject *object)
{
  GstResidualExplain *self = GST_RESIDUAL_EXPLAIN (object);
  unload (self);
  for (guint p = PROP_PDE; p <= PROP_POST_MESSAGES; p++) {
    gchar **target = string_prop (self, p);
    if (target)
      g_free (*target);
  }
  g_array_unref (self->conds);
  G_OBJECT_CLASS (gst_residual_explain_parent_class)->finalize (object);
}

static void
gst_residual_explain_class_init (GstResidualExplainClass *klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *tc = GST_BASE_TRANSFORM_CLASS (klass);
  GstPhysnnFilterClass *fc = GST_PHYSNN_FILTER_CLASS (klass);
  GParamFlags ready =
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY;
  GParamFlags playing =
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING;

  GST_DEBUG_CATEGORY_INIT (gst_residual_explain_debug, "residualexplain", 0,
      "physnn PDE residual explainer");

  oc->set_property = gst_residual_explain_set_property;
  oc->get_property = gst_residual_explain_get_property;
  oc->finalize = gst_residual_explain_finalize;

  g_object_class_install_property (oc, PROP_PDE,
      g_param_spec_string ("pde", "PDE",
          "The PDE whose residual is computed, e.g. \"u_t - alpha*u_xx\", "
          "\"u_t + u*u_x = nu*u_xx\", \"u_tt - c^2*(u_xx + u_yy)\"; systems "
          "separated by ';'. Names: model outputs, derivatives by suffix "
          "(u_x, u_xt), coordinates, parameters, pi; + - * / ^, sin cos tan "
          "exp log sqrt abs tanh (default: the model's physnn.pde metadata "
          "when model is set)",
          DEFAULT_PDE, ready));
  g_object_class_install_property (oc, PROP_PARAMETERS,
      g_param_spec_string ("parameters", "Parameters",
          "Values of the PDE's named parameters, e.g. \"alpha=0.1, "
          "nu=0.00318\"",
          DEFAULT_PARAMETERS, ready));
  g_object_class_install_property (oc, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "Evaluate this model (ONNX file or builtin:NAME) instead of the one "
          "named by the buffers' GstPhysnnModelMeta (pinninfer); with grid, "
          "or with coordinates in the stream (default: none, from the meta)",
          DEFAULT_MODEL, ready));
  g_object_class_install_property (oc, PROP_GRID,
      g_param_spec_string ("grid", "Grid",
          "With model: generate the points on a grid, name=min:max:count per "
          "axis, comma separated, e.g. x=0:1:128 (x varies fastest); the "
          "time-input coordinate takes the buffer time",
          DEFAULT_GRID, ready));
  g_object_class_install_property (oc, PROP_TIME_INPUT,
      g_param_spec_string ("time-input", "Time input",
          "The time coordinate: fed with the buffer time on a grid, and "
          "excluded from sensor positions",
          DEFAULT_TIME_INPUT, ready));
  g_object_class_install_property (oc, PROP_TIME_SCALE,
      g_param_spec_double ("time-scale", "Time scale",
          "Model time units per second of stream time", 0, G_MAXDOUBLE,
          DEFAULT_TIME_SCALE, ready));
  g_object_class_install_property (oc, PROP_CONDITIONS,
      g_param_spec_string ("conditions", "Conditions",
          "Boundary and initial conditions whose residuals are reported, "
          "';'-separated coordinate=value: expression, e.g. \"x=0: u; x=1: "
          "u; t=0: u - sin(pi*x)\" (evaluated at the buffer's points moved "
          "onto the face)",
          DEFAULT_CONDITIONS, ready));
  g_object_class_install_property (oc, PROP_TOP_K,
      g_param_spec_uint ("top-k", "Top k",
          "Number of residual hotspots (largest local maxima of |residual|) "
          "reported per buffer",
          0, 1024, DEFAULT_TOP_K, playing));
  g_object_class_install_property (oc, PROP_ATTRIBUTION,
      g_param_spec_enum ("attribution", "Attribution",
          "Attributions added to the tensor output after the residual: "
          "[points][features] float32 (integrated gradients also adds the "
          "completeness delta per point); needs model",
          GST_TYPE_RESIDUAL_EXPLAIN_ATTRIBUTION, DEFAULT_ATTRIBUTION, ready));
  g_object_class_install_property (oc, PROP_ATTRIBUTION_INPUT,
      g_param_spec_string ("attribution-input", "Attribution input",
          "The model input whose features are attributed (default: a "
          "DeepONet's sensor input, else the coordinates)",
          DEFAULT_ATTRIBUTION_INPUT, ready));
  g_object_class_install_property (oc, PROP_ATTRIBUTION_OUTPUT,
      g_param_spec_string ("attribution-output", "Attribution output",
          "The output component explained (default: the first)",
          DEFAULT_ATTRIBUTION_OUTPUT, ready));
  g_object_class_install_property (oc, PROP_N_STEPS,
      g_param_spec_uint ("n-steps", "Steps",
          "Integrated gradients: quadrature nodes (one model evaluation "
          "each)",
          1, 100000, DEFAULT_N_STEPS, playing));
  g_object_class_install_property (oc, PROP_INTEGRATION,
      g_param_spec_enum ("integration", "Integration",
          "Integrated gradients: quadrature rule", PHYSNN_TYPE_INTEGRATION_RULE,
          DEFAULT_INTEGRATION, playing));
  g_object_class_install_property (oc, PROP_BASELINE,
      g_param_spec_string ("baseline", "Baseline",
          "Integrated gradients: baseline, one number per feature, comma "
          "separated (default: zeros)",
          DEFAULT_BASELINE, ready));
  g_object_class_install_property (oc, PROP_SMOOTHGRAD_SAMPLES,
      g_param_spec_uint ("smoothgrad-samples", "SmoothGrad samples",
          "SmoothGrad: noisy copies averaged", 1, 100000,
          DEFAULT_SMOOTHGRAD_SAMPLES, playing));
  g_object_class_install_property (oc, PROP_SMOOTHGRAD_SIGMA,
      g_param_spec_double ("smoothgrad-sigma", "SmoothGrad sigma",
          "SmoothGrad: standard deviation of the noise, in the input's units",
          0, G_MAXDOUBLE, DEFAULT_SMOOTHGRAD_SIGMA, playing));
  g_object_class_install_property (oc, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed",
          "SmoothGrad: noise seed (the same seed gives the same noise every "
          "buffer)",
          0, G_MAXUINT64, DEFAULT_SEED, playing));
  g_object_class_install_property (oc, PROP_LOG_SCALE,
      g_param_spec_boolean ("log-scale", "Log scale",
          "Heatmap: colour by log10 |residual| (adaptive range: the maximum "
          "and 4 decades below)",
          DEFAULT_LOG_SCALE, playing));
  g_object_class_install_property (oc, PROP_RANGE_MIN,
      g_param_spec_double ("range-min", "Range min",
          "Heatmap: |residual| drawn with the first colour; a fixed range "
          "when range-max > range-min, else adaptive per frame",
          0, G_MAXDOUBLE, DEFAULT_RANGE_MIN, playing));
  g_object_class_install_property (oc, PROP_RANGE_MAX,
      g_param_spec_double ("range-max", "Range max",
          "Heatmap: |residual| drawn with the last colour (0: adaptive, from "
          "0, or 4 decades below the maximum on a log scale, to the maximum "
          "shown)",
          0, G_MAXDOUBLE, DEFAULT_RANGE_MAX, playing));
  g_object_class_install_property (oc, PROP_COLORMAP,
      g_param_spec_enum ("colormap", "Colour map", "Heatmap: colour map",
          PHYSNN_TYPE_COLORMAP, DEFAULT_COLORMAP, playing));
  g_object_class_install_property (oc, PROP_COLORBAR,
      g_param_spec_uint ("colorbar", "Colour bar",
          "Heatmap: width in pixels of the colour bar at the right edge (0: "
          "none)",
          0, 1024, DEFAULT_COLORBAR, playing));
  g_object_class_install_property (oc, PROP_WIDTH,
      g_param_spec_uint ("width", "Width",
          "Heatmap: preferred width in pixels (a capsfilter may ask for "
          "another)",
          1, 16384, DEFAULT_WIDTH, ready));
  g_object_class_install_property (oc, PROP_HEIGHT,
      g_param_spec_uint ("height", "Height",
          "Heatmap: preferred height in pixels (a capsfilter may ask for "
          "another)",
          1, 16384, DEFAULT_HEIGHT, ready));
  g_object_class_install_property (oc, PROP_HISTORY,
      g_param_spec_uint ("history", "History",
          "Heatmap of points that are not a 2-D grid: buffers shown as rows "
          "of a waterfall, newest at the top",
          1, 16384, DEFAULT_HISTORY, ready));
  g_object_class_install_property (oc, PROP_SENSOR_TENSOR,
      g_param_spec_int ("sensor-tensor", "Sensor tensor",
          "With model: index of the stream tensor holding sensor readings "
          "(-1: the last float tensor with one value per sensor position)",
          -1, GST_PHYSNN_MAX_TENSORS - 1, DEFAULT_SENSOR_TENSOR, ready));
  g_object_class_install_property (oc, PROP_POSITIONS_TENSOR,
      g_param_spec_int ("positions-tensor", "Positions tensor",
          "With model: index of the stream tensor of sensor positions "
          "[sensors][spatial coordinates] (-1: the last float32 tensor of "
          "that shape, as pdesrc outputs=positions gives)",
          -1, GST_PHYSNN_MAX_TENSORS - 1, DEFAULT_POSITIONS_TENSOR, ready));
  g_object_class_install_property (oc, PROP_SENSOR_POSITIONS,
      g_param_spec_string ("sensor-positions", "Sensor positions",
          "With model: sensor positions when the stream carries none, as "
          "pdesrc takes them: \"0.1,0.5,0.9\" (1-D), \"0.2:0.3,0.5:0.5\" "
          "(x:y)",
          DEFAULT_SENSOR_POSITIONS, ready));
  g_object_class_install_property (oc, PROP_NOISE_SIGMA,
      g_param_spec_double ("noise-sigma", "Noise sigma",
          "Sensor noise standard deviation in field units; 0 estimates it "
          "(1.4826 x median absolute deviation of recent misfits)",
          0, G_MAXDOUBLE, DEFAULT_NOISE_SIGMA, ready));
  g_object_class_install_property (oc, PROP_CUSUM_DRIFT,
      g_param_spec_double ("cusum-drift", "CUSUM drift",
          "Anomaly detection: CUSUM reference value k, in noise standard "
          "deviations",
          0, 100, DEFAULT_CUSUM_DRIFT, ready));
  g_object_class_install_property (oc, PROP_CUSUM_THRESHOLD,
      g_param_spec_double ("cusum-threshold", "CUSUM threshold",
          "Anomaly detection: CUSUM alarm threshold h, in noise standard "
          "deviations (larger: fewer false alarms, later detection)",
          0.1, 1e6, DEFAULT_CUSUM_THRESHOLD, ready));
  g_object_class_install_property (oc, PROP_SPIKE_THRESHOLD,
      g_param_spec_double ("spike-threshold", "Spike threshold",
          "Anomaly detection: a single misfit of this many noise standard "
          "deviations raises a flag",
          0.1, 1e6, DEFAULT_SPIKE_THRESHOLD, ready));
  g_object_class_install_property (oc, PROP_PHYSICS_THRESHOLD,
      g_param_spec_double ("physics-threshold", "Physics threshold",
          "Relative residual (|residual| over the largest |term| of the PDE "
          "at the point, floored at 10 % of the terms' RMS over the points) "
          "above "
          "which the model is physics-inconsistent",
          0, G_MAXDOUBLE, DEFAULT_PHYSICS_THRESHOLD, playing));
  g_object_class_install_property (oc, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post a physnn-residual element message per buffer (the "
          "GstResidualMeta is attached either way)",
          DEFAULT_POST_MESSAGES, playing));
  g_object_class_install_property (oc, PROP_SENSOR_MARKERS,
      g_param_spec_boolean ("sensor-markers", "Sensor markers",
          "Heatmap with sensors: mark each sensor on a grid axis of its "
          "coordinate (a 5-pixel square; along the top edge when only x is "
          "on the picture), red while flagged, cyan otherwise",
          DEFAULT_SENSOR_MARKERS, playing));

  gst_element_class_add_static_pad_template (ec, &sink_template);
  gst_element_class_add_static_pad_template (ec, &src_template);
  gst_element_class_set_static_metadata (ec, "PDE residual explainer",
      "Filter/Analyzer/Physics",
      "Computes where a model violates its PDE (residual, statistics, "
      "hotspots, boundary conditions), renders it as a heatmap, attributes "
      "predictions to inputs (integrated gradients, saliency, SmoothGrad) "
      "and flags sensors that disagree with the model",
      "physnn developers");

  tc->start = GST_DEBUG_FUNCPTR (gst_residual_explain_start);
  tc->stop = GST_DEBUG_FUNCPTR (gst_residual_explain_stop);
  tc->transform_caps = GST_DEBUG_FUNCPTR (gst_residual_explain_transform_caps);
  tc->set_caps = GST_DEBUG_FUNCPTR (gst_residual_explain_set_caps);
  fc->get_output_info =
      GST_DEBUG_FUNCPTR (gst_residual_explain_get_output_info);
  fc->setup = GST_DEBUG_FUNCPTR (gst_residual_explain_setup);
  fc->process = GST_DEBUG_FUNCPTR (gst_residual_explain_process);

  gst_type_mark_as_plugin_api (GST_TYPE_RESIDUAL_EXPLAIN_ATTRIBUTION, 0);
}

static void
gst_residual_explain_init (GstResidualExplain *self)
{
  self->time_input = g_strdup (DEFAULT_TIME_INPUT);
  self->time_scale = DEFAULT_TIME_SCALE;
  self->top_k = DEFAULT_TOP_K;
  self->attribution = DEFAULT_ATTRIBUTION;
  self->n_steps = DEFAULT_N_STEPS;
  self->integration = DEFAULT_INTEGRATION;
  self->smoothgrad_samples = DEFAULT_SMOOTHGRAD_SAMPLES;
  self->smoothgrad_sigma = DEFAULT_SMOOTHGRAD_SIGMA;
  self->seed = DEFAULT_SEED;
  self->log_scale = DEFAULT_LOG_SCALE;
  self->range_min = DEFAULT_RANGE_MIN;
  self->range_max = DEFAULT_RANGE_MAX;
  self->colormap = DEFAULT_COLORMAP;
  self->colorbar = DEFAULT_COLORBAR;
  self->width = DEFAULT_WIDTH;
  self->height = DEFAULT_HEIGHT;
  self->history = DEFAULT_HISTORY;
  self->sensor_tensor = DEFAULT_SENSOR_TENSOR;
  self->positions_tensor = DEFAULT_POSITIONS_TENSOR;
  self->noise_sigma = DEFAULT_NOISE_SIGMA;
  self->cusum_drift = DEFAULT_CUSUM_DRIFT;
  self->cusum_threshold = DEFAULT_CUSUM_THRESHOLD;
  self->spike_threshold = DEFAULT_SPIKE_THRESHOLD;
  self->physics_threshold = DEFAULT_PHYSICS_THRESHOLD;
  self->post_messages = DEFAULT_POST_MESSAGES;
  self->sensor_markers = DEFAULT_SENSOR_MARKERS;
  self->conds = g_array_new (FALSE, TRUE, sizeof (Condition));
  g_array_set_clear_func (self->conds, (GDestroyNotify)condition_clear);
  self->coord_input = -1;
  self->sens_tensor = self->pos_tensor = -1;
}
