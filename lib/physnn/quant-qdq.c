/* physnn — a quantization plan as a QDQ ONNX model, the form ONNX Runtime's
 * quantize_static writes:
 *   - an int8/int4 weight becomes a DequantizeLinear of an integer
 *     initializer (two int4 per byte in the file, opset 21) with float32
 *     scales per tensor or per output channel (opset 13 per-axis);
 *   - an fp16 weight becomes a Cast of a float16 initializer;
 *   - an int8 activation becomes a QuantizeLinear/DequantizeLinear pair
 *     (uint8 with a zero point) in front of the layer.
 * The dequantized values keep the original weight names, so every other
 * node is untouched. physnn runs the result itself (PhysnnModel), and so
 * can ONNX Runtime.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/quant-private.h"
#include "physnn/error.h"
#include "physnn/model-private.h"

#include <string.h>

static void
add_init (PhysnnOnnxModel *m, const gchar *name, PhysnnTensor *t)
{
  g_hash_table_replace (m->initializers, g_strdup (name), t);
  g_ptr_array_add (m->initializer_names, g_strdup (name));
}

static void
remove_init (PhysnnOnnxModel *m, const gchar *name)
{
  g_hash_table_remove (m->initializers, name);
  for (guint i = 0; i < m->initializer_names->len; i++)
    if (strcmp (g_ptr_array_index (m->initializer_names, i), name) == 0) {
      g_ptr_array_remove_index (m->initializer_names, i);
      break;
    }
  /* an initializer may also be declared as a graph input (a default) */
  for (guint i = 0; i < m->inputs->len; i++)
    if (strcmp (((PhysnnOnnxValueInfo *)g_ptr_array_index (m->inputs, i))->name,
            name) == 0) {
      g_ptr_array_remove_index (m->inputs, i);
      break;
    }
}

static gchar *
unique (PhysnnOnnxModel *m, GHashTable *used, const gchar *base,
    const gchar *suffix)
{
  gchar *name = g_strconcat (base, suffix, NULL);
  for (guint k = 2; g_hash_table_contains (used, name) ||
                    g_hash_table_contains (m->initializers, name);
       k++) {
    g_free (name);
    name = g_strdup_printf ("%s%s_%u", base, suffix, k);
  }
  g_hash_table_add (used, g_strdup (name));
  return name;
}

static PhysnnTensor *
float_tensor (const gfloat *v, gsize n, gboolean scalar)
{
  gsize shape[1] = { n };
  PhysnnTensor *t =
      physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, scalar ? 0 : 1, shape);
  memcpy (physnn_tensor_map (t, PHYSNN_MAP_WRITE, NULL), v, n * 4);
  physnn_tensor_unmap (t);
  return t;
}

static PhysnnTensor *
zero_tensor (const gint32 *z, gsize n, gboolean scalar, gboolean sgn)
{
  gsize shape[1] = { n };
  PhysnnTensor *t = physnn_tensor_new (
      sgn ? PHYSNN_DTYPE_INT8 : PHYSNN_DTYPE_UINT8, scalar ? 0 : 1, shape);
  guint8 *p = physnn_tensor_map (t, PHYSNN_MAP_WRITE, NULL);
  for (gsize i = 0; i < n; i++)
    p[i] = (guint8)z[i];
  physnn_tensor_unmap (t);
  return t;
}

static void
set_int_attr (PhysnnOnnxNode *n, const gchar *name, gint64 v)
{
  PhysnnOnnxAttribute *a =
      physnn_onnx_attribute_new (name, PHYSNN_ONNX_ATTR_INT);
  a->i = v;
  g_ptr_array_add (n->attributes, a);
}

static PhysnnOnnxNode *
new_node (const gchar *op, const gchar *name, const gchar *const *in,
    const gchar *out)
{
  PhysnnOnnxNode *n = physnn_onnx_node_new (op, name);
  for (guint i = 0; in[i]; i++)
    g_ptr_array_add (n->inputs, g_strdup (in[i]));
  g_ptr_array_add (n->outputs, g_strdup (out));
  return n;
}

/* Reduce ops whose axes moved from an attribute to an input in opset 18:
 * raising a model's opset to 21 for int4 would change their meaning. */
static gboolean
check_opset_raise (const PhysnnOnnxModel *m, gint64 to, GError **error)
{
  static const gchar *moved[] = { "ReduceMean", "ReduceMax", "ReduceMin",
    "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
    "ReduceSumSquare" };
  if (m->opset >= 18 || to < 18)
    return TRUE;
  for (guint i = 0; i < m->nodes->len; i++) {
    const PhysnnOnnxNode *n = g_ptr_array_index (m->nodes, i);
    for (guint k = 0; k < G_N_ELEMENTS (moved); k++)
      if (strcmp (n->op_type, moved[k]) == 0 &&
          physnn_onnx_node_get_attribute (n, "axes")) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
            "int4 weights need opset 21, but node \"%s\" (%s) uses the axes "
            "attribute of opset %" G_GINT64_FORMAT "; export the model with "
            "opset 18 or newer, or use int8",
            n->name, n->op_type, m->opset);
        return FALSE;
      }
  }
  return TRUE;
}

PhysnnOnnxModel *
_physnn_quant_build_qdq (PhysnnQuantPlan *plan, GError **error)
{
  PhysnnModel *model = physnn_quant_plan_get_model (plan);
  const PhysnnOnnxModel *src = _physnn_model_get_onnx (model);
  g_autoptr (GBytes) bytes = physnn_onnx_model_serialize (src, error);
  if (bytes == NULL)
    return NULL;
  g_autoptr (PhysnnOnnxModel) m = physnn_onnx_model_load_from_bytes (
      bytes, physnn_model_get_path (model), error);
  if (m == NULL)
    return NULL;
  g_autoptr (GHashTable) used =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GHashTable) act_done =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  guint n_layers = physnn_quant_plan_get_n_layers (plan);
  gboolean any4 = FALSE, per_axis = FALSE;
  for (guint i = 0; i < m->nodes->len; i++) {
    PhysnnOnnxNode *n = g_ptr_array_index (m->nodes, i);
    for (guint k = 0; k < n->outputs->len; k++)
      g_hash_table_add (used, g_strdup (g_ptr_array_index (n->outputs, k)));
  }

  /* the layer nodes, found before anything is inserted */
  g_autofree PhysnnOnnxNode **layer_node =
      g_new0 (PhysnnOnnxNode *, MAX (n_layers, 1));
  for (guint li = 0; li < n_layers; li++) {
    PhysnnQuantLayer *l = _physnn_quant_plan_layer (plan, li);
    for (guint i = 0; i < m->nodes->len && layer_node[li] == NULL; i++) {
      PhysnnOnnxNode *n = g_ptr_array_index (m->nodes, i);
      g_autofree gchar *label =
          n->name && *n->name ? g_strdup (n->name) : g_strdup_printf ("#%u", i);
      if (strcmp (label, l->name) == 0)
        layer_node[li] = n;
    }
    if (layer_node[li] == NULL) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "%s: layer \"%s\" of the plan is not in the model",
          physnn_model_get_path (model), l->name);
      return NULL;
    }
  }

  /* corrected float32 biases replace the model's */
  for (guint li = 0; li < n_layers; li++) {
    PhysnnQuantLayer *l = _physnn_quant_plan_layer (plan, li);
    PhysnnTensor *old =
        l->bias_fix ? g_hash_table_lookup (m->initializers, l->bias) : NULL;
    if (old == NULL)
      continue;
    guint rank;
    const gsize *shape = physnn_tensor_get_shape (old, &rank);
    PhysnnTensor *t = physnn_tensor_new_from_doubles (
        PHYSNN_DTYPE_FLOAT32, rank, shape, l->bias_fix, l->bias_size, error);
    if (t == NULL)
      return NULL;
    g_hash_table_replace (m->initializers, g_strdup (l->bias), t);
  }

  g_autoptr (GPtrArray) front = g_ptr_array_new ();
  for (guint li = 0; li < n_layers; li++) {
    PhysnnQuantLayer *l = _physnn_quant_plan_layer (plan, li);
    if (l->precision == PHYSNN_PRECISION_FP32) {
      /* fine-tuned float32 weights replace the model's */
      PhysnnTensor *old =
          physnn_quant_plan_get_fine_tuned (plan, li)
              ? g_hash_table_lookup (m->initializers, l->weight)
              : NULL;
      if (old) {
        PhysnnTensor *t = physnn_tensor_new_from_doubles (
            PHYSNN_DTYPE_FLOAT32, l->rank, l->shape, l->tuned, l->size, error);
        if (t == NULL)
          return NULL;
        g_hash_table_replace (m->initializers, g_strdup (l->weight), t);
      }
      continue;
    }
    const PhysnnQuantWeights *qw =
        _physnn_quant_plan_weights (plan, li, l->precision, error);
    if (qw == NULL)
      return NULL;
    if (!g_hash_table_contains (m->initializers, l->weight))
      continue; /* shared weight, replaced already */
    remove_init (m, l->weight);
    if (l->precision == PHYSNN_PRECISION_FP16) {
      g_autofree gchar *h = unique (m, used, l->weight, "_fp16");
      g_autofree gchar *nn = unique (m, used, l->weight, "_cast");
      add_init (m, h, g_object_ref (qw->stored));
      const gchar *in[] = { h, NULL };
      PhysnnOnnxNode *n = new_node ("Cast", nn, in, l->weight);
      set_int_attr (n, "to", 1);
      g_ptr_array_add (front, n);
      continue;
    }
    gboolean four = l->precision == PHYSNN_PRECISION_INT4;
    gboolean scalar =
        qw->channels == 1 && !physnn_quant_plan_get_per_channel (plan);
    g_autofree gchar *qn = unique (m, used, l->weight, "_quantized");
    g_autofree gchar *sn = unique (m, used, l->weight, "_scale");
    g_autofree gchar *zn = unique (m, used, l->weight, "_zero_point");
    g_autofree gchar *nn = unique (m, used, l->weight, "_DequantizeLinear");
    add_init (m, qn, physnn_tensor_copy (qw->stored));
    add_init (m, sn, float_tensor (qw->scale, qw->channels, scalar));
    if (four) {
      g_hash_table_insert (m->int4_initializers, g_strdup (qn),
          GINT_TO_POINTER (qw->sgn ? PHYSNN_ONNX_INT4 : PHYSNN_ONNX_UINT4));
      any4 = TRUE;
    }
    const gchar *in[] = { qn, sn, qw->sgn ? NULL : zn, NULL };
    if (!qw->sgn) {
      add_init (m, zn, zero_tensor (qw->zero, qw->channels, scalar, FALSE));
      if (four)
        g_hash_table_insert (m->int4_initializers, g_strdup (zn),
            GINT_TO_POINTER (PHYSNN_ONNX_UINT4));
    }
    PhysnnOnnxNode *n = new_node ("DequantizeLinear", nn, in, l->weight);
    if (!scalar) {
      set_int_attr (n, "axis", l->axis);
      per_axis = TRUE;
    }
    g_ptr_array_add (front, n);
  }

  /* int8 inputs: a Q/DQ pair before each layer that asks for one, shared by
   * layers reading the same value */
  for (guint li = 0; li < n_layers; li++) {
    PhysnnQuantLayer *l = _physnn_quant_plan_layer (plan, li);
    if (!l->act || l->precision < PHYSNN_PRECISION_INT8)
      continue;
    PhysnnOnnxNode *ln = layer_node[li];
    const gchar *a = g_ptr_array_index (ln->inputs, 0);
    const gchar *dq = g_hash_table_lookup (act_done, a);
    if (dq == NULL) {
      g_autofree gchar *sn = unique (m, used, a, "_scale");
      g_autofree gchar *zn = unique (m, used, a, "_zero_point");
      g_autofree gchar *qv = unique (m, used, a, "_quantized");
      gchar *dv = unique (m, used, a, "_dequantized");
      g_autofree gchar *qnn = unique (m, used, a, "_QuantizeLinear");
      g_autofree gchar *dnn = unique (m, used, a, "_DequantizeLinear");
      add_init (m, sn, float_tensor (&l->act_scale, 1, TRUE));
      add_init (m, zn, zero_tensor (&l->act_zero, 1, TRUE, FALSE));
      const gchar *qin[] = { a, sn, zn, NULL };
      const gchar *din[] = { qv, sn, zn, NULL };
      guint pos = 0;
      while (g_ptr_array_index (m->nodes, pos) != ln)
        pos++;
      g_ptr_array_insert (
          m->nodes, pos, new_node ("DequantizeLinear", dnn, din, dv));
      g_ptr_array_insert (
          m->nodes, pos, new_node ("QuantizeLinear", qnn, qin, qv));
      g_hash_table_insert (act_done, g_strdup (a), dv);
      dq = dv;
    }
    g_free (g_ptr_array_index (ln->inputs, 0));
    g_ptr_array_index (ln->inputs, 0) = g_strdup (dq);
  }
  for (guint i = 0; i < front->len; i++)
    g_ptr_array_insert (m->nodes, i, g_ptr_array_index (front, i));

  gint64 opset = MAX (m->opset, per_axis ? 13 : 10);
  if (any4)
    opset = MAX (opset, 21);
  if (!check_opset_raise (m, opset, error))
    return NULL;
  m->opset = opset;
  if (any4)
    m->ir_version = MAX (m->ir_version, 10);
  g_autofree gchar *desc = g_strdup_printf (
      "%.3g average weight bits", physnn_quant_plan_get_average_bits (plan));
  g_hash_table_replace (
      m->metadata, g_strdup ("physnn.quantization"), g_steal_pointer (&desc));
  return g_steal_pointer (&m);
}

/**
 * physnn_quant_plan_apply:
 * @self: a #PhysnnQuantPlan
 * @error: return location for a #GError
 *
 * Builds the quantized model: the QDQ graph of
 * physnn_quant_plan_export_onnx(), with the original model's coordinate and
 * output names. On the C path it computes in float64 from the stored
 * integers (the fake-quantization reference); on OpenCL the fused kernels
 * read the packed weights and dequantize them in registers.
 *
 * Returns: (transfer full): the quantized model, or %NULL with @error set
 */
PhysnnModel *
physnn_quant_plan_apply (PhysnnQuantPlan *self, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), NULL);
  PhysnnModel *model = physnn_quant_plan_get_model (self);
  g_autoptr (PhysnnOnnxModel) m = _physnn_quant_build_qdq (self, error);
  if (m == NULL)
    return NULL;
  g_autoptr (GBytes) bytes = physnn_onnx_model_serialize (m, error);
  if (bytes == NULL)
    return NULL;
  g_autofree gchar *label =
      g_strdup_printf ("%s (quantized)", physnn_model_get_path (model));
  g_autoptr (PhysnnModel) q = physnn_model_new_from_bytes (bytes, label, error);
  if (q == NULL)
    return NULL;
  const gchar *names = physnn_model_get_coordinate_names (model);
  if (names && *names &&
      !physnn_model_set_coordinates (
          q, physnn_model_get_coordinate_input (model), names, error))
    return NULL;
  if (!physnn_model_set_output_names (
          q, physnn_model_get_output_names (model), error))
    return NULL;
  return g_steal_pointer (&q);
}

/**
 * physnn_quant_plan_export_onnx:
 * @self: a #PhysnnQuantPlan
 * @path: the ONNX file to write
 * @error: return location for a #GError
 *
 * Writes the quantized model in QDQ form (see the file comment of
 * quant-qdq.c), atomically. Models with int4 layers use opset 21 and need
 * ONNX Runtime 1.18 or newer.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_plan_export_onnx (
    PhysnnQuantPlan *self, const gchar *path, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_autoptr (PhysnnOnnxModel) m = _physnn_quant_build_qdq (self, error);
  return m && physnn_onnx_model_save (m, path, error);
}
