/* physnn — qinfer: runs an ONNX model with per-layer mixed precision (fp32,
 * fp16, int8, int4 weights; optional int8 activations) from a plan, or
 * calibrates one from the live stream.
 *
 * mode=infer reads `plan` (JSON, from `physnn quantize` or mode=calibrate)
 * and runs the quantized model: on OpenCL the kernels read the packed
 * weights and dequantize them in registers; on the CPU the reference path
 * computes in float64 from the stored integers. Stream tensors feed the
 * model inputs in order; the output is the model's outputs.
 *
 * mode=calibrate runs the float model (its outputs flow on), observes the
 * input of every quantizable layer, and writes `plan` after
 * `calibration-buffers` buffers or at EOS: weights at `precision`, or, with
 * `target-bits`, the precisions an NSGA-II search picks to keep the
 * quantized outputs closest to the float ones (progress is posted on the
 * bus as "physnn-quant-progress" element messages); int8 activation ranges
 * from the observed values by `calibration`. A "physnn-quant-plan" element
 * message reports the written plan.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-qinfer
 * @title: qinfer
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 filesrc location=digits.raw !
 * other/tensors,format=static,num_tensors=1,types=float32,dimensions=64:16 !
 * qinfer model=mlp.onnx mode=calibrate plan=mlp-plan.json target-bits=6.5 !
 * fakesink gst-launch-1.0 filesrc location=digits.raw !
 * other/tensors,format=static,num_tensors=1,types=float32,dimensions=64:16 !
 * qinfer model=mlp.onnx plan=mlp-plan.json ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstqinfer.h"

#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_qinfer_debug);
#define GST_CAT_DEFAULT gst_qinfer_debug

#define DEFAULT_MODEL NULL
#define DEFAULT_PLAN NULL
#define DEFAULT_MODE GST_QINFER_MODE_INFER
#define DEFAULT_CALIBRATION_BUFFERS 0
#define DEFAULT_CALIBRATION PHYSNN_CALIBRATION_PERCENTILE
#define DEFAULT_PERCENTILE 99.99
#define DEFAULT_PRECISION PHYSNN_PRECISION_INT8
#define DEFAULT_TARGET_BITS 0.0
#define DEFAULT_ACTIVATIONS TRUE
#define DEFAULT_SEED 1
#define MAX_INPUTS 16
#define SEARCH_SAMPLES 1024

enum {
  PROP_0,
  PROP_MODEL,
  PROP_PLAN,
  PROP_MODE,
  PROP_CALIBRATION_BUFFERS,
  PROP_CALIBRATION,
  PROP_PERCENTILE,
  PROP_PRECISION,
  PROP_TARGET_BITS,
  PROP_ACTIVATIONS,
  PROP_SEED,
};

struct _GstQInfer {
  GstPhysnnFilter parent;

  /* properties (object lock) */
  gchar *model_path;
  gchar *plan_path;
  GstQInferMode mode;
  guint calibration_buffers;
  PhysnnCalibration calibration;
  gdouble percentile;
  PhysnnPrecision precision;
  gdouble target_bits;
  gboolean activations;
  guint64 seed;

  /* streaming state */
  PhysnnModel *model;     /* the float model */
  PhysnnModel *run_model; /* what process runs */
  PhysnnQuantCalibrator *calibrator;
  GPtrArray *kept[MAX_INPUTS]; /* input copies for the search */
  gsize kept_rows;
  guint64 n_buffers;
  gboolean written;
};

G_DEFINE_TYPE (GstQInfer, gst_qinfer, GST_TYPE_PHYSNN_FILTER);
GST_ELEMENT_REGISTER_DEFINE (qinfer, "qinfer", GST_RANK_NONE, GST_TYPE_QINFER);

GType
gst_qinfer_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_QINFER_MODE_INFER, "Run the model quantized by the plan", "infer" },
    { GST_QINFER_MODE_CALIBRATE,
        "Run the float model, collect activation "
        "statistics and write the plan",
        "calibrate" },
    { 0, NULL, NULL }
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstQInferMode", values));
  return type;
}

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
        GST_STATIC_CAPS (GST_PHYSNN_TENSORS_CAPS_ANY
            "; " GST_PHYSNN_AUDIO_CAPS "; " GST_PHYSNN_VIDEO_GRAY_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_PHYSNN_TENSORS_CAPS_ANY));

/* ------------------------------------------------------------------------ */
/* Setup */

static void
clear_kept (GstQInfer *self)
{
  for (guint i = 0; i < MAX_INPUTS; i++)
    g_clear_pointer (&self->kept[i], g_ptr_array_unref);
  self->kept_rows = 0;
}

static gboolean
load (GstQInfer *self, GError **error)
{
  g_autofree gchar *path = NULL, *plan = NULL;
  GstQInferMode mode;

  GST_OBJECT_LOCK (self);
  path = g_strdup (self->model_path);
  plan = g_strdup (self->plan_path);
  mode = self->mode;
  GST_OBJECT_UNLOCK (self);

  if (path == NULL || *path == '\0') {
    g_autofree gchar *list = physnn_model_list_builtins ();
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "no model: set model to an ONNX file or to a builtin (%s)", list);
    return FALSE;
  }
  if (plan == NULL || *plan == '\0') {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        mode == GST_QINFER_MODE_INFER
            ? "no plan: mode=infer runs the model "
              "quantized by plan (a JSON file from physnn quantize or "
              "mode=calibrate)"
            : "no plan: mode=calibrate writes the plan to "
              "the file named by plan");
    return FALSE;
  }
  g_clear_object (&self->model);
  g_clear_object (&self->run_model);
  g_clear_object (&self->calibrator);
  clear_kept (self);
  self->n_buffers = 0;
  self->written = FALSE;
  if (g_str_has_prefix (path, "builtin:"))
    self->model = physnn_model_new_builtin (path + 8, error);
  else
    self->model = physnn_model_new_from_file (path, error);
  if (self->model == NULL)
    return FALSE;
  if (physnn_model_get_n_inputs (self->model) > MAX_INPUTS) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "the model has %u inputs; at most %d are supported",
        physnn_model_get_n_inputs (self->model), MAX_INPUTS);
    return FALSE;
  }

  if (mode == GST_QINFER_MODE_INFER) {
    g_autoptr (PhysnnQuantPlan) qp =
        physnn_quant_plan_new_from_file (self->model, plan, error);
    if (qp == NULL)
      return FALSE;
    self->run_model = physnn_quant_plan_apply (qp, error);
    if (self->run_model == NULL)
      return FALSE;
    g_autofree gchar *d = physnn_quant_plan_describe (qp);
    GST_INFO_OBJECT (self, "running %s quantized:\n%s", path, d);
    return TRUE;
  }
  self->calibrator = physnn_quant_calibrator_new (self->model, error);
  if (self->calibrator == NULL)
    return FALSE;
  self->run_model = g_object_ref (self->model);
  return TRUE;
}

static gboolean
gst_qinfer_start (GstBaseTransform *trans)
{
  GstQInfer *self = GST_QINFER (trans);
  g_autoptr (GError) error = NULL;

  if (!GST_BASE_TRANSFORM_CLASS (gst_qinfer_parent_class)->start (trans))
    return FALSE;
  if (!load (self, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", error->message),
        ("model=%s plan=%s", self->model_path ? self->model_path : "(none)",
            self->plan_path ? self->plan_path : "(none)"));
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_qinfer_stop (GstBaseTransform *trans)
{
  GstQInfer *self = GST_QINFER (trans);
  g_clear_object (&self->model);
  g_clear_object (&self->run_model);
  g_clear_object (&self->calibrator);
  clear_kept (self);
  return GST_BASE_TRANSFORM_CLASS (gst_qinfer_parent_class)->stop (trans);
}

static gchar *
describe_dims (const gint64 *dims, guint rank)
{
  GString *s = g_string_new ("[");
  for (guint i = 0; dims && i < rank; i++)
    if (dims[i] >= 0)
      g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? "," : "", dims[i]);
    else
      g_string_append_printf (s, "%sN", i ? "," : "");
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* The rows (symbolic N) of a stream tensor for model input i. */
static gsize
rows_of (PhysnnModel *model, guint i, gsize count)
{
  guint rank;
  const gint64 *dims = physnn_model_get_input_shape (model, i, &rank);
  gsize known = 1;
  for (guint d = 0; dims && d < rank; d++)
    if (dims[d] > 0)
      known *= (gsize)dims[d];
  return count / MAX (known, 1);
}

static gboolean
gst_qinfer_get_output_info (GstPhysnnFilter *filter,
    const GstPhysnnTensorsInfo *in, GstPhysnnTensorsInfo *out, GError **error)
{
  GstQInfer *self = GST_QINFER (filter);
  PhysnnModel *m = self->run_model;

  if (m == NULL) {
    g_set_error (
        error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT, "no model loaded");
    return FALSE;
  }
  guint n = physnn_model_get_n_inputs (m);
  if (in->n_tensors != n) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "the stream carries %u tensors; %s takes %u inputs", in->n_tensors,
        physnn_model_get_path (self->model), n);
    return FALSE;
  }
  gsize rows = 1;
  for (guint i = 0; i < n; i++) {
    guint rank;
    const gint64 *dims = physnn_model_get_input_shape (m, i, &rank);
    if (!physnn_dtype_is_float (in->tensors[i].dtype) ||
        (dims && !gst_physnn_tensor_info_fits_shape (&in->tensors[i], dims, rank))) {
      g_autofree gchar *want = describe_dims (dims, rank);
      g_autofree gchar *have = gst_physnn_dimension_to_string (&in->tensors[i]);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "stream tensor %u (%s, dimensions %s innermost first) does not fit "
          "model input \"%s\" %s (float)",
          i, physnn_dtype_to_string (in->tensors[i].dtype), have,
          physnn_model_get_input_name (m, i), want);
      return FALSE;
    }
    if (i == 0)
      rows = rows_of (m, 0, gst_physnn_tensor_info_get_count (&in->tensors[0]));
  }
  out->n_tensors = 0;
  for (guint o = 0; o < physnn_model_get_n_outputs (m); o++) {
    guint rank;
    const gint64 *dims = physnn_model_get_output_shape (m, o, &rank);
    gsize shape[PHYSNN_MAX_RANK];
    guint unknown = 0;
    if (dims == NULL || rank == 0) {
      shape[0] = rows;
      rank = 1;
    } else {
      for (guint d = 0; d < rank; d++) {
        unknown += dims[d] < 0;
        shape[d] = dims[d] < 0 ? rows : (gsize)dims[d];
      }
    }
    if (unknown > 1) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "output \"%s\" has %u symbolic dimensions; only the batch may be "
          "symbolic",
          physnn_model_get_output_name (m, o), unknown);
      return FALSE;
    }
    gst_physnn_tensor_info_set (
        &out->tensors[out->n_tensors++], PHYSNN_DTYPE_FLOAT32, rank, shape);
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Calibration */

/* Stacks kept input tensors along their first dimension. */
static PhysnnTensor *
stack (GPtrArray *parts, gsize rows)
{
  PhysnnTensor *first = g_ptr_array_index (parts, 0);
  guint rank;
  const gsize *s = physnn_tensor_get_shape (first, &rank);
  gsize shape[PHYSNN_MAX_RANK];
  memcpy (shape, s, rank * sizeof (gsize));
  shape[0] = rows;
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, rank, shape);
  guint8 *dst = physnn_tensor_map (t, PHYSNN_MAP_WRITE, NULL);
  gsize at = 0, total = physnn_tensor_get_nbytes (t);
  for (guint k = 0; k < parts->len && at < total; k++) {
    PhysnnTensor *p = g_ptr_array_index (parts, k);
    gsize n = MIN (physnn_tensor_get_nbytes (p), total - at);
    memcpy (dst + at, physnn_tensor_map (p, PHYSNN_MAP_READ, NULL), n);
    physnn_tensor_unmap (p);
    at += n;
  }
  physnn_tensor_unmap (t);
  return t;
}

static void
on_progress (PhysnnQuantSearch *search, const gchar *stage, guint done,
    guint total, gdouble best, GstQInfer *self)
{
  GstStructure *s = gst_structure_new ("physnn-quant-progress", "stage",
      G_TYPE_STRING, stage, "done", G_TYPE_UINT, done, "total", G_TYPE_UINT,
      total, "best-loss", G_TYPE_DOUBLE, best, NULL);
  gst_element_post_message (
      GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

/* The plan from what was observed: uniform or searched weight precisions,
 * int8 activation ranges; written atomically, announced on the bus. */
static gboolean
write_plan (GstQInfer *self, GError **error)
{
  g_autofree gchar *path = NULL;
  PhysnnCalibration method;
  gdouble pct, target;
  PhysnnPrecision prec;
  gboolean acts;
  guint64 seed;

  GST_OBJECT_LOCK (self);
  path = g_strdup (self->plan_path);
  method = self->calibration;
  pct = self->percentile;
  prec = self->precision;
  target = self->target_bits;
  acts = self->activations;
  seed = self->seed;
  GST_OBJECT_UNLOCK (self);

  self->written = TRUE;
  if (physnn_quant_calibrator_get_n_batches (self->calibrator) == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "empty calibration stream: no buffer arrived before EOS, so no "
        "activation statistics exist and %s was not written",
        path);
    return FALSE;
  }
  g_autoptr (PhysnnQuantPlan) plan = physnn_quant_plan_new (self->model, error);
  if (plan == NULL)
    return FALSE;
  if (acts && !physnn_quant_calibrator_apply (
                  self->calibrator, plan, method, pct, error))
    return FALSE;
  if (target > 0) {
    guint n = physnn_model_get_n_inputs (self->model);
    PhysnnTensor *in[MAX_INPUTS] = { NULL };
    for (guint i = 0; i < n; i++)
      in[i] = stack (self->kept[i], self->kept_rows);
    g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", error);
    g_autoptr (GPtrArray) ref =
        cpu ? physnn_model_run (self->model, cpu, in, n, error) : NULL;
    g_autoptr (PhysnnQuantObjective) obj =
        ref ? physnn_quant_objective_new_regression (
                  self->model, in, n, g_ptr_array_index (ref, 0), error)
            : NULL;
    for (guint i = 0; i < n; i++)
      g_clear_object (&in[i]);
    if (obj == NULL)
      return FALSE;
    g_autoptr (PhysnnQuantSearch) search =
        physnn_quant_search_new (plan, obj, error);
    if (search == NULL)
      return FALSE;
    physnn_quant_search_set_seed (search, seed);
    g_signal_connect (search, "progress", G_CALLBACK (on_progress), self);
    if (!physnn_quant_search_set_target_bits (search, target, error) ||
        !physnn_quant_search_run (search, error))
      return FALSE;
    PhysnnQuantPlan *best = physnn_quant_search_get_best (search, error);
    if (best == NULL)
      return FALSE;
    g_object_unref (plan);
    plan = best;
  } else if (!physnn_quant_plan_set_all (plan, prec, error)) {
    return FALSE;
  }
  if (!physnn_quant_plan_save (plan, path, error))
    return FALSE;
  guint64 f, b;
  gdouble ratio;
  physnn_quant_plan_estimate_compression (plan, &f, &b, &ratio, NULL);
  GST_INFO_OBJECT (self, "wrote %s after %" G_GUINT64_FORMAT " buffers", path,
      self->n_buffers);
  GstStructure *s = gst_structure_new ("physnn-quant-plan", "location",
      G_TYPE_STRING, path, "buffers", G_TYPE_UINT64, self->n_buffers,
      "average-bits", G_TYPE_DOUBLE, physnn_quant_plan_get_average_bits (plan),
      "bytes", G_TYPE_UINT64, b, "fp32-bytes", G_TYPE_UINT64, f, "compression",
      G_TYPE_DOUBLE, ratio, NULL);
  gst_element_post_message (
      GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
  return TRUE;
}

static gboolean
gst_qinfer_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstQInfer *self = GST_QINFER (trans);
  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && self->calibrator &&
      !self->written) {
    g_autoptr (GError) error = NULL;
    if (!write_plan (self, &error))
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("%s", error->message),
          ("calibration at EOS after %" G_GUINT64_FORMAT " buffers",
              self->n_buffers));
  }
  return GST_BASE_TRANSFORM_CLASS (gst_qinfer_parent_class)
      ->sink_event (trans, event);
}

/* ------------------------------------------------------------------------ */
/* Processing */

static PhysnnTensor *
model_input (PhysnnModel *m, guint i, PhysnnTensor *t, GError **error)
{
  guint rank;
  const gint64 *dims = physnn_model_get_input_shape (m, i, &rank);
  g_autoptr (PhysnnTensor) f =
      physnn_tensor_get_dtype (t) == PHYSNN_DTYPE_FLOAT32
          ? g_object_ref (t)
          : physnn_tensor_convert (t, PHYSNN_DTYPE_FLOAT32);
  if (dims == NULL || rank == 0)
    return g_steal_pointer (&f);
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
  return physnn_tensor_reshape (f, rank, shape, error);
}

static GstFlowReturn
gst_qinfer_process (GstPhysnnFilter *filter, GstBuffer *inbuf,
    PhysnnTensor **inputs, guint n_inputs, GstBuffer *outbuf,
    PhysnnTensor **outputs, guint n_outputs, GError **error)
{
  GstQInfer *self = GST_QINFER (filter);
  PhysnnTensor *in[MAX_INPUTS] = { NULL };
  GstFlowReturn ret = GST_FLOW_ERROR;
  GPtrArray *results = NULL;
  guint n = physnn_model_get_n_inputs (self->run_model);

  for (guint i = 0; i < n; i++) {
    in[i] = model_input (self->run_model, i, inputs[i], error);
    if (in[i] == NULL)
      goto out;
  }
  if (self->calibrator && !self->written) {
    guint limit;
    GST_OBJECT_LOCK (self);
    limit = self->calibration_buffers;
    GST_OBJECT_UNLOCK (self);
    if (!physnn_quant_calibrator_add_batch (self->calibrator, in, n, error))
      goto out;
    if (self->kept_rows < SEARCH_SAMPLES) {
      for (guint i = 0; i < n; i++) {
        if (self->kept[i] == NULL)
          self->kept[i] = g_ptr_array_new_with_free_func (g_object_unref);
        g_ptr_array_add (self->kept[i], physnn_tensor_copy (in[i]));
      }
      self->kept_rows +=
          physnn_tensor_get_rank (in[0]) ? physnn_tensor_get_dim (in[0], 0) : 1;
    }
    self->n_buffers++;
    if (limit > 0 && self->n_buffers >= limit && !write_plan (self, error))
      goto out;
  }
  results = physnn_model_run (
      self->run_model, gst_physnn_filter_get_device (filter), in, n, error);
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
  ret = GST_FLOW_OK;
out:
  if (results)
    g_ptr_array_unref (results);
  for (guint i = 0; i < n; i++)
    g_clear_object (&in[i]);
  return ret;
}

/* ------------------------------------------------------------------------ */
/* Properties */

static void
gst_qinfer_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstQInfer *self = GST_QINFER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      break;
    case PROP_PLAN:
      g_free (self->plan_path);
      self->plan_path = g_value_dup_string (value);
      break;
    case PROP_MODE:
      self->mode = g_value_get_enum (value);
      break;
    case PROP_CALIBRATION_BUFFERS:
      self->calibration_buffers = g_value_get_uint (value);
      break;
    case PROP_CALIBRATION:
      self->calibration = g_value_get_enum (value);
      break;
    case PROP_PERCENTILE:
      self->percentile = g_value_get_double (value);
      break;
    case PROP_PRECISION:
      self->precision = g_value_get_enum (value);
      break;
    case PROP_TARGET_BITS:
      self->target_bits = g_value_get_double (value);
      break;
    case PROP_ACTIVATIONS:
      self->activations = g_value_get_boolean (value);
      break;
    case PROP_SEED:
      self->seed = g_value_get_uint64 (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_qinfer_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstQInfer *self = GST_QINFER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, self->model_path);
      break;
    case PROP_PLAN:
      g_value_set_string (value, self->plan_path);
      break;
    case PROP_MODE:
      g_value_set_enum (value, self->mode);
      break;
    case PROP_CALIBRATION_BUFFERS:
      g_value_set_uint (value, self->calibration_buffers);
      break;
    case PROP_CALIBRATION:
      g_value_set_enum (value, self->calibration);
      break;
    case PROP_PERCENTILE:
      g_value_set_double (value, self->percentile);
      break;
    case PROP_PRECISION:
      g_value_set_enum (value, self->precision);
      break;
    case PROP_TARGET_BITS:
      g_value_set_double (value, self->target_bits);
      break;
    case PROP_ACTIVATIONS:
      g_value_set_boolean (value, self->activations);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, self->seed);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_qinfer_finalize (GObject *object)
{
  GstQInfer *self = GST_QINFER (object);
  g_free (self->model_path);
  g_free (self->plan_path);
  g_clear_object (&self->model);
  g_clear_object (&self->run_model);
  g_clear_object (&self->calibrator);
  clear_kept (self);
  G_OBJECT_CLASS (gst_qinfer_parent_class)->finalize (object);
}

static void
gst_qinfer_class_init (GstQInferClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstPhysnnFilterClass *filter_class = GST_PHYSNN_FILTER_CLASS (klass);
  GParamFlags ready =
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (gst_qinfer_debug, "qinfer", 0,
      "physnn mixed-precision quantized inference");

  gobject_class->set_property = gst_qinfer_set_property;
  gobject_class->get_property = gst_qinfer_get_property;
  gobject_class->finalize = gst_qinfer_finalize;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "ONNX model (float32): a file path, or builtin:NAME for a shipped "
          "model",
          DEFAULT_MODEL, ready));
  g_object_class_install_property (gobject_class, PROP_PLAN,
      g_param_spec_string ("plan", "Plan",
          "Quantization plan (JSON): read in mode=infer, written (through a "
          "temporary file and a rename) in mode=calibrate",
          DEFAULT_PLAN, ready));
  g_object_class_install_property (gobject_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode",
          "infer: run the quantized model; calibrate: run the float model, "
          "collect activation statistics and write the plan",
          GST_TYPE_QINFER_MODE, DEFAULT_MODE, ready));
  g_object_class_install_property (gobject_class, PROP_CALIBRATION_BUFFERS,
      g_param_spec_uint ("calibration-buffers", "Calibration buffers",
          "In mode=calibrate, write the plan after this many buffers "
          "(0 = at EOS)",
          0, G_MAXUINT, DEFAULT_CALIBRATION_BUFFERS, ready));
  g_object_class_install_property (gobject_class, PROP_CALIBRATION,
      g_param_spec_enum ("calibration", "Calibration",
          "How int8 activation ranges are chosen from the observed values",
          PHYSNN_TYPE_CALIBRATION, DEFAULT_CALIBRATION, ready));
  g_object_class_install_property (gobject_class, PROP_PERCENTILE,
      g_param_spec_double ("percentile", "Percentile",
          "For calibration=percentile: the percentile of |x| kept in range "
          "(values beyond saturate)",
          50.0001, 100, DEFAULT_PERCENTILE, ready));
  g_object_class_install_property (gobject_class, PROP_PRECISION,
      g_param_spec_enum ("precision", "Precision",
          "In mode=calibrate without target-bits: the weight precision of "
          "every layer in the written plan",
          PHYSNN_TYPE_PRECISION, DEFAULT_PRECISION, ready));
  g_object_class_install_property (gobject_class, PROP_TARGET_BITS,
      g_param_spec_double ("target-bits", "Target bits",
          "In mode=calibrate: search per-layer precisions (NSGA-II, keeping "
          "the quantized outputs closest to the float ones on up to 1024 "
          "observed samples) with at most this many average bits per weight, "
          "4 to 32; 0 (default) uses precision for every layer",
          0, 32, DEFAULT_TARGET_BITS, ready));
  g_object_class_install_property (gobject_class, PROP_ACTIVATIONS,
      g_param_spec_boolean ("activations", "Activations",
          "In mode=calibrate: quantize the inputs of int8/int4 layers to "
          "int8 with the calibrated ranges",
          DEFAULT_ACTIVATIONS, ready));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed",
          "Random seed of the search (equal seeds, equal plans)", 0,
          G_MAXUINT64, DEFAULT_SEED, ready));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Quantized inference",
      "Filter/Analyzer",
      "Runs an ONNX model with per-layer mixed precision (fp32, fp16, int8, "
      "int4) from a plan, or calibrates a plan from the live stream",
      "physnn developers");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_qinfer_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_qinfer_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_qinfer_sink_event);
  filter_class->get_output_info =
      GST_DEBUG_FUNCPTR (gst_qinfer_get_output_info);
  filter_class->process = GST_DEBUG_FUNCPTR (gst_qinfer_process);

  gst_type_mark_as_plugin_api (GST_TYPE_QINFER_MODE, 0);
}

static void
gst_qinfer_init (GstQInfer *self)
{
  self->mode = DEFAULT_MODE;
  self->calibration = DEFAULT_CALIBRATION;
  self->percentile = DEFAULT_PERCENTILE;
  self->precision = DEFAULT_PRECISION;
  self->target_bits = DEFAULT_TARGET_BITS;
  self->activations = DEFAULT_ACTIVATIONS;
  self->seed = DEFAULT_SEED;
}
