/* physnn — pinninfer: evaluates a physics-informed network (or DeepONet)
 * from ONNX on the stream, with the derivatives a PDE needs.
 *
 * Two ways to feed it: the stream carries the coordinates (an [N][d]
 * float32 tensor), or `grid` generates them, with the buffer time fed to
 * the `time-input` coordinate, while the stream carries the model's other
 * inputs (a DeepONet's sensor readings). Output: the model outputs, then one
 * tensor per requested derivative. A GstPhysnnModelMeta on each buffer
 * records the model and the points for downstream explainers.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-pinninfer
 * @title: pinninfer
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 pdesrc ! pinninfer model=builtin:heat1d-pinn grid=x=0:1:256 derivatives=u_t,u_xx ! fakesink
 * gst-launch-1.0 pdesrc sensors=16 outputs=sensors ! pinninfer model=builtin:heat1d-deeponet grid=x=0:1:128 ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstpinninfer.h"
#include "gstphysnnmodelmeta.h"

#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_pinn_infer_debug);
#define GST_CAT_DEFAULT gst_pinn_infer_debug

#define DEFAULT_MODEL NULL
#define DEFAULT_DERIVATIVES NULL
#define DEFAULT_GRID NULL
#define DEFAULT_TIME_INPUT "t"
#define DEFAULT_TIME_SCALE 1.0
#define DEFAULT_COORDINATES NULL
#define DEFAULT_OUTPUT_NAMES NULL
#define DEFAULT_INPUT_MAP NULL
#define DEFAULT_PLAN NULL
#define MAX_GRID_AXES 3
#define MAX_INPUTS 16

enum {
  PROP_0,
  PROP_MODEL,
  PROP_DERIVATIVES,
  PROP_GRID,
  PROP_TIME_INPUT,
  PROP_TIME_SCALE,
  PROP_COORDINATES,
  PROP_OUTPUT_NAMES,
  PROP_INPUT_MAP,
  PROP_PLAN,
};

typedef struct {
  gchar *name;
  gdouble lo, hi;
  gsize n;
} GridAxis;

struct _GstPinnInfer {
  GstPhysnnFilter parent;

  /* properties (object lock) */
  gchar *model_path;
  gchar *derivatives;
  gchar *grid;
  gchar *time_input;
  gdouble time_scale;
  gchar *coordinates;
  gchar *output_names;
  gchar *input_map;
  gchar *plan_path;

  /* configured at start/caps */
  PhysnnModel *model;
  guint n_axes;
  GridAxis axes[MAX_GRID_AXES];
  gint time_column;             /* coordinate fed with the buffer time, -1 */
  guint n_coord_cols;
  gint coord_source[8];         /* per coordinate: grid axis, or -2 = time */
  gsize n_points;
  guint n_model_inputs;
  gint source[MAX_INPUTS];      /* per model input: stream tensor, -1 = grid */
  gint coord_input;
  PhysnnTensor *grid_coords;    /* generated coordinates; time column
                                 * rewritten per buffer */
};

G_DEFINE_TYPE (GstPinnInfer, gst_pinn_infer, GST_TYPE_PHYSNN_FILTER);
GST_ELEMENT_REGISTER_DEFINE (pinninfer, "pinninfer", GST_RANK_NONE,
    GST_TYPE_PINN_INFER);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_PHYSNN_TENSORS_CAPS_ANY "; " GST_PHYSNN_AUDIO_CAPS
        "; " GST_PHYSNN_VIDEO_GRAY_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_PHYSNN_TENSORS_CAPS_ANY));

/* ------------------------------------------------------------------------ */
/* Grid */

static void
clear_grid (GstPinnInfer *self)
{
  for (guint i = 0; i < self->n_axes; i++)
    g_clear_pointer (&self->axes[i].name, g_free);
  self->n_axes = 0;
}

/* "x=-1:1:256,y=0:1:64": axis names, ranges and point counts; x varies
 * fastest in the point order. */
static gboolean
parse_grid (GstPinnInfer *self, const gchar *text, GError **error)
{
  g_auto (GStrv) items = g_strsplit (text, ",", -1);
  guint n = g_strv_length (items);
  gsize total = 1;

  clear_grid (self);
  if (n == 0 || n > MAX_GRID_AXES) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
        "grid \"%s\": 1 to %d axes expected, as in x=0:1:256,y=0:1:64", text,
        MAX_GRID_AXES);
    return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    gchar *eq = strchr (items[i], '=');
    g_auto (GStrv) parts = NULL;
    GridAxis *ax = &self->axes[i];
    gchar *end;
    if (eq == NULL) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "grid \"%s\": axis \"%s\" needs name=min:max:count", text, items[i]);
      return FALSE;
    }
    *eq = '\0';
    parts = g_strsplit (eq + 1, ":", -1);
    if (g_strv_length (parts) != 3) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "grid \"%s\": axis \"%s\" needs min:max:count", text,
          g_strstrip (items[i]));
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
          "grid \"%s\": axis \"%s\": min and max must be numbers and count an "
          "integer from 1 to 16777216", text, g_strstrip (items[i]));
      return FALSE;
    }
    ax->n = (gsize) cnt;
    ax->name = g_strdup (g_strstrip (items[i]));
    total *= ax->n;
    self->n_axes++;
    if (total > (1u << 26)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "grid \"%s\" has more than 2^26 points", text);
      return FALSE;
    }
  }
  self->n_points = total;
  return TRUE;
}

static gdouble
axis_value (const GridAxis *ax, gsize i)
{
  return ax->n == 1 ? ax->lo : ax->lo + (ax->hi - ax->lo) * (gdouble) i /
      (gdouble) (ax->n - 1);
}

/* ------------------------------------------------------------------------ */
/* Model setup (start) */

static gboolean
load_model (GstPinnInfer *self, GError **error)
{
  g_autofree gchar *path = NULL, *derivs = NULL, *coords = NULL,
      *outs = NULL, *grid = NULL, *time_input = NULL, *plan = NULL;

  GST_OBJECT_LOCK (self);
  path = g_strdup (self->model_path);
  derivs = g_strdup (self->derivatives);
  coords = g_strdup (self->coordinates);
  outs = g_strdup (self->output_names);
  grid = g_strdup (self->grid);
  time_input = g_strdup (self->time_input);
  plan = g_strdup (self->plan_path);
  GST_OBJECT_UNLOCK (self);

  if (path == NULL || *path == '\0') {
    g_autofree gchar *list = physnn_model_list_builtins ();
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "no model: set model to an ONNX file or to a builtin (%s)", list);
    return FALSE;
  }
  g_clear_object (&self->model);
  if (g_str_has_prefix (path, "builtin:"))
    self->model = physnn_model_new_builtin (path + 8, error);
  else
    self->model = physnn_model_new_from_file (path, error);
  if (self->model == NULL)
    return FALSE;
  /* A quantization plan (physnn quantize, qinfer mode=calibrate): run the
   * quantized model; its weights are dequantized in registers, and the
   * derivatives still come from forward-mode propagation. */
  if (plan != NULL && *plan != '\0') {
    g_autoptr (PhysnnQuantPlan) qp = physnn_quant_plan_new_from_file
        (self->model, plan, error);
    if (qp == NULL)
      return FALSE;
    if (physnn_quant_plan_get_activations (qp)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "plan %s quantizes activations to int8; a quantized activation "
          "has no useful derivatives, so pinninfer takes weights-only plans",
          plan);
      return FALSE;
    }
    PhysnnModel *q = physnn_quant_plan_apply (qp, error);
    if (q == NULL)
      return FALSE;
    g_object_unref (self->model);
    self->model = q;
  }

  if (coords != NULL && !physnn_model_set_coordinates (self->model,
          physnn_model_get_coordinate_input (self->model), coords, error))
    return FALSE;
  if (outs != NULL && !physnn_model_set_output_names (self->model, outs,
          error))
    return FALSE;
  if (!physnn_model_set_derivatives (self->model, derivs, error))
    return FALSE;

  self->coord_input = -1;
  self->time_column = -1;
  self->n_coord_cols = 0;
  if (grid != NULL && *grid != '\0') {
    const gchar *cin = physnn_model_get_coordinate_input (self->model);
    g_auto (GStrv) names = g_strsplit (physnn_model_get_coordinate_names
        (self->model), ",", -1);
    if (!parse_grid (self, grid, error))
      return FALSE;
    if (cin == NULL) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "grid mode needs the model's coordinates in one input; this model "
          "has %s", names[0] ? "one input per coordinate" : "no coordinate "
          "input (set coordinates)");
      return FALSE;
    }
    self->coord_input = physnn_model_find_input (self->model, cin);
    self->n_coord_cols = g_strv_length (names);
    for (guint c = 0; c < self->n_coord_cols; c++) {
      self->coord_source[c] = -1;
      for (guint a = 0; a < self->n_axes; a++)
        if (strcmp (names[c], self->axes[a].name) == 0)
          self->coord_source[c] = (gint) a;
      if (self->coord_source[c] < 0 && time_input &&
          strcmp (names[c], time_input) == 0) {
        self->coord_source[c] = -2;
        self->time_column = (gint) c;
      }
      if (self->coord_source[c] == -1) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
            "grid \"%s\" does not cover coordinate \"%s\" of the model "
            "(coordinates %s; time-input is \"%s\")", grid, names[c],
            physnn_model_get_coordinate_names (self->model),
            time_input ? time_input : "");
        return FALSE;
      }
    }
    for (guint a = 0; a < self->n_axes; a++) {
      gboolean used = FALSE;
      for (guint c = 0; c < self->n_coord_cols; c++)
        used |= self->coord_source[c] == (gint) a;
      if (!used) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
            "grid axis \"%s\" is not a coordinate of the model (%s)",
            self->axes[a].name,
            physnn_model_get_coordinate_names (self->model));
        return FALSE;
      }
    }
    /* The grid part of the coordinates is fixed: build it once. */
    gsize shape[2] = { self->n_points, self->n_coord_cols };
    g_clear_object (&self->grid_coords);
    self->grid_coords = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
    gfloat *p = physnn_tensor_map (self->grid_coords, PHYSNN_MAP_WRITE, NULL);
    for (gsize i = 0; i < self->n_points; i++) {
      gsize rem = i, idx[MAX_GRID_AXES];
      for (guint a = 0; a < self->n_axes; a++) {
        idx[a] = rem % self->axes[a].n;
        rem /= self->axes[a].n;
      }
      for (guint c = 0; c < self->n_coord_cols; c++) {
        gint s = self->coord_source[c];
        p[i * self->n_coord_cols + c] = s >= 0 ?
            (gfloat) axis_value (&self->axes[s], idx[s]) : 0.0f;
      }
    }
    physnn_tensor_unmap (self->grid_coords);
  }
  g_autofree gchar *desc = physnn_model_describe (self->model);
  GST_INFO_OBJECT (self, "loaded %s", desc);
  return TRUE;
}

static gboolean
gst_pinn_infer_start (GstBaseTransform *trans)
{
  GstPinnInfer *self = GST_PINN_INFER (trans);
  g_autoptr (GError) error = NULL;

  if (!GST_BASE_TRANSFORM_CLASS (gst_pinn_infer_parent_class)->start (trans))
    return FALSE;
  if (!load_model (self, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", error->message),
        ("model=%s", self->model_path ? self->model_path : "(none)"));
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_pinn_infer_stop (GstBaseTransform *trans)
{
  GstPinnInfer *self = GST_PINN_INFER (trans);
  g_clear_object (&self->model);
  g_clear_object (&self->grid_coords);
  clear_grid (self);
  return GST_BASE_TRANSFORM_CLASS (gst_pinn_infer_parent_class)->stop (trans);
}

/* ------------------------------------------------------------------------ */
/* Matching stream tensors to model inputs */

/* Does a stream tensor fit a model input? Outer 1s are ignored and symbolic
 * dimensions match anything; N (points) is returned when the input is the
 * coordinate input. */
static gboolean
fits (const GstPhysnnTensorInfo *t, const gint64 *dims, guint rank)
{
  if (!physnn_dtype_is_float (t->dtype) && t->dtype != PHYSNN_DTYPE_INT16 &&
      t->dtype != PHYSNN_DTYPE_UINT8 && t->dtype != PHYSNN_DTYPE_UINT16)
    return FALSE;
  return gst_physnn_tensor_info_fits_shape (t, dims, rank);
}

static gchar *
describe_dims (const gint64 *dims, guint rank)
{
  GString *s = g_string_new ("[");
  for (guint i = 0; i < rank; i++)
    if (dims[i] >= 0)
      g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? "," : "",
          dims[i]);
    else
      g_string_append_printf (s, "%sN", i ? "," : "");
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static gboolean
map_inputs (GstPinnInfer *self, const GstPhysnnTensorsInfo *in,
    GError **error)
{
  guint n = physnn_model_get_n_inputs (self->model);
  gboolean used[GST_PHYSNN_MAX_TENSORS] = { 0 };
  g_autofree gchar *map = NULL;

  if (n > MAX_INPUTS) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "the model has %u inputs; at most %d are supported", n, MAX_INPUTS);
    return FALSE;
  }
  self->n_model_inputs = n;
  GST_OBJECT_LOCK (self);
  map = g_strdup (self->input_map);
  GST_OBJECT_UNLOCK (self);

  for (guint i = 0; i < n; i++)
    self->source[i] = (gint) i == self->coord_input && self->grid_coords ?
        -1 : -3;

  if (map && *map) {
    g_auto (GStrv) items = g_strsplit (map, ",", -1);
    for (guint k = 0; items[k]; k++) {
      g_auto (GStrv) kv = g_strsplit (items[k], "=", 2);
      gchar *end = NULL;
      gint idx = kv[0] ? physnn_model_find_input (self->model,
          g_strstrip (kv[0])) : -1;
      guint64 t = kv[0] && kv[1] ? g_ascii_strtoull (kv[1], &end, 10) :
          G_MAXUINT64;
      if (idx < 0 || end == NULL || *end != '\0' || t >= in->n_tensors) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
            "input-map \"%s\": \"%s\" must be model-input=stream-tensor with "
            "a model input name and a tensor index below %u", map, items[k],
            in->n_tensors);
        return FALSE;
      }
      self->source[idx] = (gint) t;
      used[t] = TRUE;
    }
  }

  /* The rest: the first unused stream tensor that fits, in order. */
  for (guint i = 0; i < n; i++) {
    if (self->source[i] != -3)
      continue;
    guint rank;
    const gint64 *dims = physnn_model_get_input_shape (self->model, i, &rank);
    for (guint t = 0; t < in->n_tensors; t++) {
      if (used[t] || (dims && !fits (&in->tensors[t], dims, rank)))
        continue;
      self->source[i] = (gint) t;
      used[t] = TRUE;
      break;
    }
    if (self->source[i] == -3) {
      g_autofree gchar *want = dims ? describe_dims (dims, rank) :
          g_strdup ("?");
      GString *have = g_string_new (NULL);
      for (guint t = 0; t < in->n_tensors; t++) {
        g_autofree gchar *d = gst_physnn_dimension_to_string (&in->tensors[t]);
        g_string_append_printf (have, "%s%s %s", t ? ", " : "",
            physnn_dtype_to_string (in->tensors[t].dtype), d);
      }
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "model input \"%s\" %s has no matching stream tensor (the stream "
          "carries %s%s); set input-map, or grid to generate coordinates",
          physnn_model_get_input_name (self->model, i), want, have->str,
          in->n_tensors ? "" : "nothing");
      g_string_free (have, TRUE);
      return FALSE;
    }
  }
  return TRUE;
}

/* Points per evaluation: the grid size, or N of the coordinate tensor. */
static gboolean
count_points (GstPinnInfer *self, const GstPhysnnTensorsInfo *in,
    GError **error)
{
  if (self->grid_coords)
    return TRUE;
  const gchar *cin = physnn_model_get_coordinate_input (self->model);
  gint ci = cin ? physnn_model_find_input (self->model, cin) : 0;
  if (ci < 0)
    ci = 0;
  const GstPhysnnTensorInfo *t = &in->tensors[self->source[ci]];
  gsize cols = t->rank ? t->shape[t->rank - 1] : 1;
  self->n_points = gst_physnn_tensor_info_get_count (t) / MAX (cols, 1);
  return TRUE;
}

static gboolean
gst_pinn_infer_get_output_info (GstPhysnnFilter *filter,
    const GstPhysnnTensorsInfo *in, GstPhysnnTensorsInfo *out, GError **error)
{
  GstPinnInfer *self = GST_PINN_INFER (filter);

  if (self->model == NULL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "no model loaded");
    return FALSE;
  }
  if (in->media == GST_PHYSNN_MEDIA_AUDIO && in->tensors[0].shape[0] == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "audio input needs frames-per-tensor");
    return FALSE;
  }
  if (!map_inputs (self, in, error) || !count_points (self, in, error))
    return FALSE;

  out->n_tensors = 0;
  for (guint o = 0; o < physnn_model_get_n_outputs (self->model); o++) {
    guint rank;
    const gint64 *dims = physnn_model_get_output_shape (self->model, o, &rank);
    gsize shape[PHYSNN_MAX_RANK];
    guint unknown = 0;
    if (dims == NULL || rank == 0) {
      /* Undeclared: one value per point. */
      shape[0] = self->n_points;
      rank = 1;
    } else {
      for (guint d = 0; d < rank; d++) {
        if (dims[d] < 0) {
          shape[d] = self->n_points;
          unknown++;
        } else {
          shape[d] = (gsize) dims[d];
        }
      }
      if (unknown > 1) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
            "output \"%s\" has %u symbolic dimensions; only the number of "
            "points may be symbolic", physnn_model_get_output_name
            (self->model, o), unknown);
        return FALSE;
      }
    }
    gst_physnn_tensor_info_set (&out->tensors[out->n_tensors++],
        PHYSNN_DTYPE_FLOAT32, rank, shape);
  }
  for (guint d = 0; d < physnn_model_get_n_derivatives (self->model); d++) {
    gsize shape[1] = { self->n_points };
    gst_physnn_tensor_info_set (&out->tensors[out->n_tensors++],
        PHYSNN_DTYPE_FLOAT32, 1, shape);
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Processing */

static PhysnnTensor *
model_input_from_stream (GstPinnInfer *self, guint i, PhysnnTensor *t,
    GError **error)
{
  guint rank;
  const gint64 *dims = physnn_model_get_input_shape (self->model, i, &rank);
  PhysnnTensor *f = physnn_tensor_get_dtype (t) == PHYSNN_DTYPE_FLOAT32 ?
      g_object_ref (t) : physnn_tensor_convert (t, PHYSNN_DTYPE_FLOAT32);
  if (dims == NULL || rank == 0)
    return f;
  /* Give the tensor the model's rank (outer 1s, symbolic N). */
  gsize shape[PHYSNN_MAX_RANK], known = 1;
  gint sym = -1;
  for (guint d = 0; d < rank; d++) {
    if (dims[d] < 0)
      sym = (gint) d;
    else
      known *= (gsize) dims[d];
    shape[d] = dims[d] < 0 ? 1 : (gsize) dims[d];
  }
  if (sym >= 0)
    shape[sym] = physnn_tensor_get_n_elements (f) / MAX (known, 1);
  PhysnnTensor *r = physnn_tensor_reshape (f, rank, shape, error);
  g_object_unref (f);
  return r;
}

static GstFlowReturn
gst_pinn_infer_process (GstPhysnnFilter *filter, GstBuffer *inbuf,
    PhysnnTensor **inputs, guint n_inputs, GstBuffer *outbuf,
    PhysnnTensor **outputs, guint n_outputs, GError **error)
{
  GstPinnInfer *self = GST_PINN_INFER (filter);
  PhysnnTensor *model_in[MAX_INPUTS] = { NULL };
  GstFlowReturn ret = GST_FLOW_ERROR;
  gdouble t = NAN;
  GPtrArray *results = NULL;

  for (guint i = 0; i < self->n_model_inputs; i++) {
    if (self->source[i] >= 0) {
      model_in[i] = model_input_from_stream (self, i,
          inputs[self->source[i]], error);
      if (model_in[i] == NULL)
        goto out;
      continue;
    }
    /* Generated coordinates: the grid, plus the buffer time. */
    model_in[i] = physnn_tensor_copy (self->grid_coords);
    if (self->time_column >= 0) {
      GstClockTime pts = GST_BUFFER_PTS (inbuf);
      if (!GST_CLOCK_TIME_IS_VALID (pts)) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
            "a buffer without a timestamp: time-input \"%s\" needs one",
            self->time_input);
        goto out;
      }
      t = (gdouble) pts / GST_SECOND * self->time_scale;
      gfloat *p = physnn_tensor_map (model_in[i], PHYSNN_MAP_WRITE, NULL);
      for (gsize k = 0; k < self->n_points; k++)
        p[k * self->n_coord_cols + self->time_column] = (gfloat) t;
      physnn_tensor_unmap (model_in[i]);
    }
  }

  results = physnn_model_run (self->model,
      gst_physnn_filter_get_device (filter), model_in, self->n_model_inputs,
      error);
  if (results == NULL)
    goto out;
  if (results->len != n_outputs) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "the model produced %u tensors, the caps say %u", results->len,
        n_outputs);
    goto out;
  }
  for (guint o = 0; o < n_outputs; o++) {
    PhysnnTensor *r = g_ptr_array_index (results, o);
    gsize size = 0;
    if (physnn_tensor_get_nbytes (r) != physnn_tensor_get_nbytes (outputs[o])) {
      g_autofree gchar *a = physnn_tensor_describe (r);
      g_autofree gchar *b = physnn_tensor_describe (outputs[o]);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "output %u is %s but the negotiated caps say %s", o, a, b);
      goto out;
    }
    gpointer dst = physnn_tensor_map (outputs[o], PHYSNN_MAP_WRITE, &size);
    memcpy (dst, physnn_tensor_map (r, PHYSNN_MAP_READ, NULL), size);
    physnn_tensor_unmap (r);
    physnn_tensor_unmap (outputs[o]);
  }

  GstPhysnnModelMeta *meta = gst_buffer_add_physnn_model_meta (outbuf,
      self->model, model_in, self->n_model_inputs, self->grid_coords ?
      self->coord_input : (gint) self->coord_input);
  if (meta) {
    meta->time = t;
    GST_OBJECT_LOCK (self);
    meta->grid = g_strdup (self->grid);
    GST_OBJECT_UNLOCK (self);
    for (guint a = 0; a < self->n_axes; a++)
      meta->grid_shape[a] = self->axes[a].n;
    GString *d = g_string_new (NULL);
    for (guint k = 0; k < physnn_model_get_n_derivatives (self->model); k++)
      g_string_append_printf (d, "%s%s", k ? "," : "",
          physnn_model_get_derivative_name (self->model, k));
    meta->derivatives = g_string_free (d, FALSE);
  }
  ret = GST_FLOW_OK;
out:
  if (results)
    g_ptr_array_unref (results);
  for (guint i = 0; i < self->n_model_inputs; i++)
    g_clear_object (&model_in[i]);
  return ret;
}

/* ------------------------------------------------------------------------ */
/* Properties */

static void
gst_pinn_infer_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstPinnInfer *self = GST_PINN_INFER (object);
  gchar **target = NULL;

  switch (prop_id) {
    case PROP_MODEL:
      target = &self->model_path;
      break;
    case PROP_DERIVATIVES:
      target = &self->derivatives;
      break;
    case PROP_GRID:
      target = &self->grid;
      break;
    case PROP_TIME_INPUT:
      target = &self->time_input;
      break;
    case PROP_COORDINATES:
      target = &self->coordinates;
      break;
    case PROP_OUTPUT_NAMES:
      target = &self->output_names;
      break;
    case PROP_INPUT_MAP:
      target = &self->input_map;
      break;
    case PROP_PLAN:
      target = &self->plan_path;
      break;
    case PROP_TIME_SCALE:
      self->time_scale = g_value_get_double (value);
      return;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      return;
  }
  GST_OBJECT_LOCK (self);
  g_free (*target);
  *target = g_value_dup_string (value);
  GST_OBJECT_UNLOCK (self);
}

static void
gst_pinn_infer_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstPinnInfer *self = GST_PINN_INFER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, self->model_path);
      break;
    case PROP_DERIVATIVES:
      g_value_set_string (value, self->derivatives);
      break;
    case PROP_GRID:
      g_value_set_string (value, self->grid);
      break;
    case PROP_TIME_INPUT:
      g_value_set_string (value, self->time_input);
      break;
    case PROP_TIME_SCALE:
      g_value_set_double (value, self->time_scale);
      break;
    case PROP_COORDINATES:
      g_value_set_string (value, self->coordinates);
      break;
    case PROP_OUTPUT_NAMES:
      g_value_set_string (value, self->output_names);
      break;
    case PROP_INPUT_MAP:
      g_value_set_string (value, self->input_map);
      break;
    case PROP_PLAN:
      g_value_set_string (value, self->plan_path);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_pinn_infer_finalize (GObject *object)
{
  GstPinnInfer *self = GST_PINN_INFER (object);
  g_free (self->model_path);
  g_free (self->derivatives);
  g_free (self->grid);
  g_free (self->time_input);
  g_free (self->coordinates);
  g_free (self->output_names);
  g_free (self->input_map);
  g_free (self->plan_path);
  g_clear_object (&self->model);
  g_clear_object (&self->grid_coords);
  clear_grid (self);
  G_OBJECT_CLASS (gst_pinn_infer_parent_class)->finalize (object);
}

static void
gst_pinn_infer_class_init (GstPinnInferClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstPhysnnFilterClass *filter_class = GST_PHYSNN_FILTER_CLASS (klass);
  GParamFlags ready = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (gst_pinn_infer_debug, "pinninfer", 0,
      "physnn PINN inference");

  gobject_class->set_property = gst_pinn_infer_set_property;
  gobject_class->get_property = gst_pinn_infer_get_property;
  gobject_class->finalize = gst_pinn_infer_finalize;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "ONNX model: a file path, or builtin:NAME for a shipped model "
          "(builtin:heat1d-pinn, builtin:burgers-pinn, "
          "builtin:heat1d-deeponet)", DEFAULT_MODEL, ready));
  g_object_class_install_property (gobject_class, PROP_DERIVATIVES,
      g_param_spec_string ("derivatives", "Derivatives",
          "Derivatives to output after the model outputs, comma separated: "
          "an output name, '_' and coordinates, e.g. u_t,u_xx,u_xt (first, "
          "second and mixed; computed by forward-mode propagation, not "
          "finite differences)", DEFAULT_DERIVATIVES, ready));
  g_object_class_install_property (gobject_class, PROP_GRID,
      g_param_spec_string ("grid", "Grid",
          "Generate the coordinates on a grid instead of reading them from "
          "the stream: name=min:max:count per axis, comma separated, e.g. "
          "x=-1:1:256 or x=0:1:64,y=0:1:64 (x varies fastest)", DEFAULT_GRID,
          ready));
  g_object_class_install_property (gobject_class, PROP_TIME_INPUT,
      g_param_spec_string ("time-input", "Time input",
          "In grid mode, the coordinate fed with the buffer time (PTS in "
          "seconds x time-scale)", DEFAULT_TIME_INPUT, ready));
  g_object_class_install_property (gobject_class, PROP_TIME_SCALE,
      g_param_spec_double ("time-scale", "Time scale",
          "Model time units per second of stream time", 0, G_MAXDOUBLE,
          DEFAULT_TIME_SCALE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_COORDINATES,
      g_param_spec_string ("coordinates", "Coordinates",
          "Names of the coordinate input's columns, e.g. x,t (default: the "
          "model's physnn.coords metadata, else x / x,t / x,y,t by width)",
          DEFAULT_COORDINATES, ready));
  g_object_class_install_property (gobject_class, PROP_OUTPUT_NAMES,
      g_param_spec_string ("output-names", "Output names",
          "Names of the output components, e.g. u or u,v,p (default: the "
          "model's physnn.outputs metadata, else the output names)",
          DEFAULT_OUTPUT_NAMES, ready));
  g_object_class_install_property (gobject_class, PROP_INPUT_MAP,
      g_param_spec_string ("input-map", "Input map",
          "Which stream tensor feeds which model input, e.g. branch=1; "
          "unmapped inputs take the first unused stream tensor whose type "
          "and shape fit", DEFAULT_INPUT_MAP, ready));
  g_object_class_install_property (gobject_class, PROP_PLAN,
      g_param_spec_string ("plan", "Quantization plan",
          "A mixed-precision plan (JSON, from physnn quantize or qinfer "
          "mode=calibrate) to run the model with quantized weights; NULL "
          "(default) runs it in float32. Plans with int8 activations are "
          "refused: they have no useful derivatives", DEFAULT_PLAN, ready));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "PINN inference", "Filter/Analyzer/Physics",
      "Evaluates a physics-informed neural network or DeepONet from ONNX, "
      "with the derivatives a PDE needs, on coordinates from the stream or a "
      "grid", "physnn developers");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_pinn_infer_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_pinn_infer_stop);
  filter_class->get_output_info =
      GST_DEBUG_FUNCPTR (gst_pinn_infer_get_output_info);
  filter_class->process = GST_DEBUG_FUNCPTR (gst_pinn_infer_process);
}

static void
gst_pinn_infer_init (GstPinnInfer *self)
{
  self->time_input = g_strdup (DEFAULT_TIME_INPUT);
  self->time_scale = DEFAULT_TIME_SCALE;
  self->coord_input = -1;
  self->time_column = -1;
}
