/* physnn — lowering an ONNX graph to physnn ops.
 *
 * Every node is checked here, at load time: an unsupported op, a missing
 * input, an attribute out of range or a non-constant exponent fails with
 * the file, the node and what was expected, so that a model either loads
 * completely or not at all.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/graph-private.h"
#include "physnn/error.h"

#include <math.h>
#include <string.h>

static const struct {
  const gchar *onnx;
  PhysnnOpKind kind;
  guint min_in, max_in;
} op_table[] = {
  {"Identity", PHYSNN_OP_IDENTITY, 1, 1},
  {"Neg", PHYSNN_OP_NEG, 1, 1},
  {"Tanh", PHYSNN_OP_TANH, 1, 1},
  {"Sigmoid", PHYSNN_OP_SIGMOID, 1, 1},
  {"Relu", PHYSNN_OP_RELU, 1, 1},
  {"LeakyRelu", PHYSNN_OP_LEAKY_RELU, 1, 1},
  {"Sin", PHYSNN_OP_SIN, 1, 1},
  {"Cos", PHYSNN_OP_COS, 1, 1},
  {"Exp", PHYSNN_OP_EXP, 1, 1},
  {"Log", PHYSNN_OP_LOG, 1, 1},
  {"Softplus", PHYSNN_OP_SOFTPLUS, 1, 1},
  {"Erf", PHYSNN_OP_ERF, 1, 1},
  {"Sqrt", PHYSNN_OP_SQRT, 1, 1},
  {"Abs", PHYSNN_OP_ABS, 1, 1},
  {"Pow", PHYSNN_OP_POW, 2, 2},
  {"Add", PHYSNN_OP_ADD, 2, 2},
  {"Sub", PHYSNN_OP_SUB, 2, 2},
  {"Mul", PHYSNN_OP_MUL, 2, 2},
  {"Div", PHYSNN_OP_DIV, 2, 2},
  {"Gemm", PHYSNN_OP_GEMM, 2, 3},
  {"MatMul", PHYSNN_OP_MATMUL, 2, 2},
  {"Concat", PHYSNN_OP_CONCAT, 1, 256},
  {"Slice", PHYSNN_OP_SLICE, 1, 5},
  {"Split", PHYSNN_OP_SPLIT, 1, 2},
  {"Reshape", PHYSNN_OP_RESHAPE, 2, 2},
  {"Flatten", PHYSNN_OP_FLATTEN, 1, 1},
  {"Unsqueeze", PHYSNN_OP_UNSQUEEZE, 1, 2},
  {"Squeeze", PHYSNN_OP_SQUEEZE, 1, 2},
  {"Transpose", PHYSNN_OP_TRANSPOSE, 1, 1},
  {"Pad", PHYSNN_OP_PAD, 1, 4},
  {"ReduceSum", PHYSNN_OP_REDUCE_SUM, 1, 2},
  {"ReduceMean", PHYSNN_OP_REDUCE_MEAN, 1, 2},
  {"Conv", PHYSNN_OP_CONV, 2, 3},
  {"MaxPool", PHYSNN_OP_MAX_POOL, 1, 1},
  {"AveragePool", PHYSNN_OP_AVERAGE_POOL, 1, 1},
  {"Constant", PHYSNN_OP_CONSTANT, 0, 0},
  {"Shape", PHYSNN_OP_SHAPE, 1, 1},
  {"Gather", PHYSNN_OP_GATHER, 2, 2},
  {"Cast", PHYSNN_OP_CAST, 1, 1},
  {"QuantizeLinear", PHYSNN_OP_QUANTIZE_LINEAR, 2, 3},
  {"DequantizeLinear", PHYSNN_OP_DEQUANTIZE_LINEAR, 2, 3},
};

const gchar *
physnn_op_name (PhysnnOpKind kind)
{
  for (guint i = 0; i < G_N_ELEMENTS (op_table); i++)
    if (op_table[i].kind == kind)
      return op_table[i].onnx;
  return "?";
}

gboolean
physnn_op_is_unary (PhysnnOpKind kind)
{
  return kind <= PHYSNN_OP_POW;
}

static gchar *
supported_list (void)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (op_table); i++)
    g_string_append_printf (s, "%s%s", i ? ", " : "", op_table[i].onnx);
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------------ */

static void
node_free (PhysnnNode *n)
{
  g_free (n->name);
  g_free (n->op_type);
  g_free (n->inputs);
  g_free (n->outputs);
  if (n->attrs.ints)
    g_array_unref (n->attrs.ints);
  if (n->attrs.split)
    g_array_unref (n->attrs.split);
  g_clear_object (&n->attrs.value);
  g_free (n);
}

static void
value_free (PhysnnValue *v)
{
  g_free (v->name);
  g_clear_object (&v->constant);
  g_free (v);
}

void
physnn_graph_free (PhysnnGraph *graph)
{
  if (graph == NULL)
    return;
  g_ptr_array_unref (graph->nodes);
  g_ptr_array_unref (graph->values);
  g_hash_table_unref (graph->by_name);
  g_array_unref (graph->inputs);
  g_array_unref (graph->outputs);
  g_free (graph->path);
  g_free (graph);
}

static gint
lookup (PhysnnGraph *g, const gchar *name)
{
  gpointer p = g_hash_table_lookup (g->by_name, name);
  return p ? GPOINTER_TO_INT (p) - 1 : -1;
}

static gint
add_value (PhysnnGraph *g, const gchar *name, PhysnnDType dtype)
{
  PhysnnValue *v = g_new0 (PhysnnValue, 1);
  v->name = g_strdup (name);
  v->dtype = dtype;
  v->producer = -1;
  g_ptr_array_add (g->values, v);
  g_hash_table_insert (g->by_name, v->name,
      GINT_TO_POINTER ((gint) g->values->len));
  return (gint) g->values->len - 1;
}

#define VAL(g, i) ((PhysnnValue *) g_ptr_array_index ((g)->values, (i)))

/* ------------------------------------------------------------------------ */
/* Attributes */

typedef struct {
  const gchar *path;
  const PhysnnOnnxNode *onnx;
  const gchar *label;
  const PhysnnOnnxModel *model;
} Ctx;

static gboolean
fail (const Ctx *c, GError **error, const gchar *fmt, ...) G_GNUC_PRINTF (3, 4);

static gboolean
fail (const Ctx *c, GError **error, const gchar *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree gchar *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
      "%s: node %s (%s): %s", c->path, c->label, c->onnx->op_type, msg);
  return FALSE;
}

static const PhysnnOnnxAttribute *
attr (const Ctx *c, const gchar *name)
{
  return physnn_onnx_node_get_attribute (c->onnx, name);
}

static gboolean
attr_int (const Ctx *c, const gchar *name, gint64 def, gint64 *out,
    GError **error)
{
  const PhysnnOnnxAttribute *a = attr (c, name);
  if (a == NULL) {
    *out = def;
    return TRUE;
  }
  if (a->type != PHYSNN_ONNX_ATTR_INT)
    return fail (c, error, "attribute %s must be an integer", name);
  *out = a->i;
  return TRUE;
}

static gboolean
attr_float (const Ctx *c, const gchar *name, gfloat def, gfloat *out,
    GError **error)
{
  const PhysnnOnnxAttribute *a = attr (c, name);
  if (a == NULL) {
    *out = def;
    return TRUE;
  }
  if (a->type != PHYSNN_ONNX_ATTR_FLOAT)
    return fail (c, error, "attribute %s must be a float", name);
  *out = a->f;
  return TRUE;
}

static GArray *
attr_ints (const Ctx *c, const gchar *name)
{
  const PhysnnOnnxAttribute *a = attr (c, name);
  if (a == NULL || a->type != PHYSNN_ONNX_ATTR_INTS || a->ints == NULL)
    return NULL;
  return g_array_ref (a->ints);
}

static gboolean
fixed_ints (const Ctx *c, const gchar *name, guint n, gint64 *out,
    gint64 def, gboolean required, GError **error)
{
  const PhysnnOnnxAttribute *a = attr (c, name);
  for (guint i = 0; i < n; i++)
    out[i] = def;
  if (a == NULL)
    return required ? fail (c, error, "attribute %s is required", name) :
        TRUE;
  if (a->type != PHYSNN_ONNX_ATTR_INTS || a->ints == NULL ||
      a->ints->len != n)
    return fail (c, error, "attribute %s must list %u integers", name, n);
  for (guint i = 0; i < n; i++)
    out[i] = g_array_index (a->ints, gint64, i);
  return TRUE;
}

static gboolean
parse_conv_pool (const Ctx *c, PhysnnNode *node, guint n_spatial,
    GError **error)
{
  PhysnnOpAttrs *a = &node->attrs;
  const PhysnnOnnxAttribute *ap = attr (c, "auto_pad");
  a->n_spatial = n_spatial;
  if (n_spatial < 1 || n_spatial > 3)
    return fail (c, error, "%u spatial dimensions; 1 to 3 are supported",
        n_spatial);
  if (ap && ap->type == PHYSNN_ONNX_ATTR_STRING && ap->s &&
      strcmp (ap->s, "NOTSET") != 0 && strcmp (ap->s, "VALID") != 0) {
    if (strcmp (ap->s, "SAME_UPPER") != 0)
      return fail (c, error, "auto_pad=%s is not supported (NOTSET, VALID "
          "and SAME_UPPER are)", ap->s);
    a->auto_pad_same = TRUE;
  }
  gboolean pool = node->kind != PHYSNN_OP_CONV;
  if (!fixed_ints (c, "kernel_shape", n_spatial, a->kernel, 0, pool, error) ||
      !fixed_ints (c, "strides", n_spatial, a->strides, 1, FALSE, error) ||
      !fixed_ints (c, "dilations", n_spatial, a->dilations, 1, FALSE, error) ||
      !fixed_ints (c, "pads", 2 * n_spatial, a->pads, 0, FALSE, error))
    return FALSE;
  for (guint i = 0; i < n_spatial; i++) {
    if (a->strides[i] < 1 || a->dilations[i] < 1 || a->pads[i] < 0 ||
        a->pads[i + n_spatial] < 0 || a->strides[i] > 65536 ||
        a->dilations[i] > 65536 || a->pads[i] > 65536 ||
        a->pads[i + n_spatial] > 65536 || a->kernel[i] < 0 ||
        a->kernel[i] > 65536)
      return fail (c, error, "strides, dilations, pads or kernel_shape out "
          "of range");
  }
  if (!attr_int (c, "group", 1, &a->group, error))
    return FALSE;
  if (a->group < 1)
    return fail (c, error, "group=%" G_GINT64_FORMAT " must be positive",
        a->group);
  gint64 v = 0;
  if (!attr_int (c, "count_include_pad", 0, &v, error))
    return FALSE;
  a->count_include_pad = v != 0;
  if (!attr_int (c, "ceil_mode", 0, &v, error))
    return FALSE;
  a->ceil_mode = v != 0;
  if (node->kind == PHYSNN_OP_MAX_POOL && c->onnx->outputs->len > 1)
    return fail (c, error, "the Indices output is not supported");
  return TRUE;
}

static PhysnnTensor *
constant_from_attr (const Ctx *c, GError **error)
{
  const PhysnnOnnxAttribute *a;
  gsize scalar_shape[1] = { 1 };

  if ((a = attr (c, "value")) && a->type == PHYSNN_ONNX_ATTR_TENSOR && a->t)
    return g_object_ref (a->t);
  if ((a = attr (c, "value_float")) && a->type == PHYSNN_ONNX_ATTR_FLOAT) {
    gdouble v = a->f;
    return physnn_tensor_new_from_doubles (PHYSNN_DTYPE_FLOAT32, 0,
        scalar_shape, &v, 1, error);
  }
  if ((a = attr (c, "value_int")) && a->type == PHYSNN_ONNX_ATTR_INT) {
    PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_INT64, 0, NULL);
    gint64 *p = physnn_tensor_map (t, PHYSNN_MAP_WRITE, NULL);
    *p = a->i;
    physnn_tensor_unmap (t);
    return t;
  }
  if ((a = attr (c, "value_floats")) && a->type == PHYSNN_ONNX_ATTR_FLOATS &&
      a->floats) {
    gsize shape[1] = { a->floats->len };
    PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, shape);
    gfloat *p = physnn_tensor_map (t, PHYSNN_MAP_WRITE, NULL);
    /* an empty list maps to no storage: memcpy from/to NULL is undefined
     * even for 0 bytes */
    if (a->floats->len)
      memcpy (p, a->floats->data, a->floats->len * sizeof (gfloat));
    physnn_tensor_unmap (t);
    return t;
  }
  if ((a = attr (c, "value_ints")) && a->type == PHYSNN_ONNX_ATTR_INTS &&
      a->ints) {
    gsize shape[1] = { a->ints->len };
    PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_INT64, 1, shape);
    gint64 *p = physnn_tensor_map (t, PHYSNN_MAP_WRITE, NULL);
    if (a->ints->len)
      memcpy (p, a->ints->data, a->ints->len * sizeof (gint64));
    physnn_tensor_unmap (t);
    return t;
  }
  fail (c, error, "needs a value, value_float, value_floats, value_int or "
      "value_ints attribute (sparse and string constants are not "
      "supported)");
  return NULL;
}

/* The integer range of a quantized type; 4-bit types are held in int8/uint8
 * and marked by the model (int4_initializers). */
static gboolean
qrange (PhysnnDType dt, gboolean q4, PhysnnOpAttrs *a)
{
  a->qtype = dt;
  a->q4 = q4;
  switch (dt) {
    case PHYSNN_DTYPE_INT8:
      a->qmin = q4 ? -8 : G_MININT8;
      a->qmax = q4 ? 7 : G_MAXINT8;
      return TRUE;
    case PHYSNN_DTYPE_UINT8:
      a->qmin = 0;
      a->qmax = q4 ? 15 : G_MAXUINT8;
      return TRUE;
    case PHYSNN_DTYPE_INT16:
      a->qmin = G_MININT16;
      a->qmax = G_MAXINT16;
      return !q4;
    case PHYSNN_DTYPE_UINT16:
      a->qmin = 0;
      a->qmax = G_MAXUINT16;
      return !q4;
    case PHYSNN_DTYPE_INT32:
      a->qmin = G_MININT32;
      a->qmax = G_MAXINT32;
      return !q4;
    default:
      return FALSE;
  }
}

static gboolean
is_int4 (const Ctx *c, PhysnnGraph *g, gint value)
{
  return value >= 0 && VAL (g, value)->constant &&
      g_hash_table_contains (c->model->int4_initializers,
      VAL (g, value)->name);
}

/* QuantizeLinear (x, y_scale, y_zero_point) and DequantizeLinear (x,
 * x_scale, x_zero_point): scales and zero points must be constants (as in
 * every QDQ model), scalars for per-tensor or 1-D for per-axis; blocked
 * quantization (opset 21 block_size) is not supported. */
static gboolean
parse_qdq (const Ctx *c, PhysnnGraph *g, PhysnnNode *node, GError **error)
{
  PhysnnOpAttrs *a = &node->attrs;
  gboolean quant = node->kind == PHYSNN_OP_QUANTIZE_LINEAR;
  gint x = node->inputs[0], s = node->inputs[1];
  gint z = node->n_inputs > 2 ? node->inputs[2] : -1;
  gint64 v = 0;

  if (!attr_int (c, "axis", 1, &a->axis, error) ||
      !attr_int (c, "block_size", 0, &v, error))
    return FALSE;
  if (v != 0)
    return fail (c, error, "blocked quantization (block_size=%" G_GINT64_FORMAT
        ") is not supported; per-tensor and per-axis are", v);
  if (s < 0 || VAL (g, s)->constant == NULL)
    return fail (c, error, "the scale must be a constant (initializer or "
        "Constant)");
  PhysnnTensor *st = VAL (g, s)->constant;
  gsize ns = physnn_tensor_get_n_elements (st);
  if (!physnn_dtype_is_float (physnn_tensor_get_dtype (st)) ||
      physnn_tensor_get_rank (st) > 1 || ns == 0)
    return fail (c, error, "the scale must be a float scalar or 1-D tensor");
  for (gsize i = 0; i < ns; i++) {
    gdouble sv = physnn_tensor_get_value (st, i);
    if (!(sv > 0.0) || !isfinite (sv))
      return fail (c, error, "scale %" G_GSIZE_FORMAT " is %g; scales must "
          "be positive and finite", i, sv);
  }
  if (z >= 0) {
    PhysnnTensor *zt = VAL (g, z)->constant;
    if (zt == NULL)
      return fail (c, error, "the zero point must be a constant");
    if (physnn_tensor_get_n_elements (zt) != ns ||
        physnn_tensor_get_rank (zt) != physnn_tensor_get_rank (st))
      return fail (c, error, "the zero point has %" G_GSIZE_FORMAT
          " elements, the scale %" G_GSIZE_FORMAT,
          physnn_tensor_get_n_elements (zt), ns);
  }
  if (quant) {
    /* the output type is the zero point's, uint8 without one */
    PhysnnDType dt = z >= 0 ? physnn_tensor_get_dtype (VAL (g, z)->constant) :
        PHYSNN_DTYPE_UINT8;
    if (!qrange (dt, is_int4 (c, g, z), a) || dt == PHYSNN_DTYPE_INT32)
      return fail (c, error, "quantizing to %s is not supported (int8, "
          "uint8, int16, uint16, int4 and uint4 are)",
          physnn_dtype_to_string (dt));
  } else if (x >= 0 && VAL (g, x)->constant) {
    PhysnnDType dt = physnn_tensor_get_dtype (VAL (g, x)->constant);
    if (!qrange (dt, is_int4 (c, g, x), a))
      return fail (c, error, "dequantizing %s is not supported (int8, "
          "uint8, int16, uint16, int32, int4 and uint4 are)",
          physnn_dtype_to_string (dt));
    if (z >= 0 && physnn_tensor_get_dtype (VAL (g, z)->constant) != dt)
      return fail (c, error, "the zero point is %s, the input %s",
          physnn_dtype_to_string (physnn_tensor_get_dtype
              (VAL (g, z)->constant)), physnn_dtype_to_string (dt));
  }
  /* a dequantized value computed by QuantizeLinear takes its range from
   * there once the graph is sorted */
  return TRUE;
}

static gboolean
parse_attrs (const Ctx *c, PhysnnGraph *g, PhysnnNode *node, GError **error)
{
  PhysnnOpAttrs *a = &node->attrs;
  gint64 v = 0;

  switch (node->kind) {
    case PHYSNN_OP_GEMM:
      if (!attr_float (c, "alpha", 1.0f, &a->alpha, error) ||
          !attr_float (c, "beta", 1.0f, &a->beta, error) ||
          !attr_int (c, "transA", 0, &v, error))
        return FALSE;
      a->trans_a = v != 0;
      if (!attr_int (c, "transB", 0, &v, error))
        return FALSE;
      a->trans_b = v != 0;
      return TRUE;
    case PHYSNN_OP_LEAKY_RELU:
      return attr_float (c, "alpha", 0.01f, &a->leaky_alpha, error);
    case PHYSNN_OP_SOFTPLUS:
    case PHYSNN_OP_IDENTITY:
      return TRUE;
    case PHYSNN_OP_POW:{
      /* The exponent must be a constant scalar: x^y with variable y is not
       * a physics-network op and has no cheap jet. */
      gint e = node->inputs[1];
      PhysnnValue *ev = e >= 0 ? VAL (g, e) : NULL;
      if (ev == NULL || ev->constant == NULL ||
          physnn_tensor_get_n_elements (ev->constant) != 1)
        return fail (c, error, "the exponent must be a constant scalar "
            "(initializer or Constant)");
      a->exponent = physnn_tensor_get_value (ev->constant, 0);
      if (!isfinite (a->exponent))
        return fail (c, error, "exponent is not finite");
      return TRUE;
    }
    case PHYSNN_OP_CONCAT:
      if (attr (c, "axis") == NULL)
        return fail (c, error, "attribute axis is required");
      return attr_int (c, "axis", 0, &a->axis, error);
    case PHYSNN_OP_FLATTEN:
      return attr_int (c, "axis", 1, &a->axis, error);
    case PHYSNN_OP_GATHER:
    case PHYSNN_OP_SPLIT:
      if (!attr_int (c, "axis", 0, &a->axis, error))
        return FALSE;
      a->split = node->kind == PHYSNN_OP_SPLIT ? attr_ints (c, "split") : NULL;
      return TRUE;
    case PHYSNN_OP_SLICE:
      if (node->n_inputs == 1) {
        /* opset < 10: starts/ends/axes attributes */
        return fail (c, error, "Slice with attributes (opset < 10) is not "
            "supported; export with opset 13 or newer");
      }
      return TRUE;
    case PHYSNN_OP_UNSQUEEZE:
    case PHYSNN_OP_SQUEEZE:
      a->ints = attr_ints (c, "axes");
      if (node->kind == PHYSNN_OP_UNSQUEEZE && a->ints == NULL &&
          node->n_inputs < 2)
        return fail (c, error, "needs axes (attribute before opset 13, "
            "input since)");
      return TRUE;
    case PHYSNN_OP_TRANSPOSE:
      a->ints = attr_ints (c, "perm");
      return TRUE;
    case PHYSNN_OP_PAD:{
      const PhysnnOnnxAttribute *mode = attr (c, "mode");
      if (mode && mode->s && strcmp (mode->s, "constant") != 0)
        return fail (c, error, "mode=%s is not supported (constant is)",
            mode->s);
      a->ints = attr_ints (c, "pads");  /* opset < 11 */
      gfloat v = 0.0f;
      if (!attr_float (c, "value", 0.0f, &v, error))
        return FALSE;
      a->exponent = v;          /* the constant value */
      return TRUE;
    }
    case PHYSNN_OP_REDUCE_SUM:
    case PHYSNN_OP_REDUCE_MEAN:
      a->ints = attr_ints (c, "axes");
      if (!attr_int (c, "keepdims", 1, &v, error))
        return FALSE;
      a->keepdims = v != 0;
      if (!attr_int (c, "noop_with_empty_axes", 0, &v, error))
        return FALSE;
      a->noop_with_empty_axes = v != 0;
      return TRUE;
    case PHYSNN_OP_CONV:{
      gint w = node->inputs[1];
      PhysnnValue *wv = w >= 0 ? VAL (g, w) : NULL;
      guint n_spatial = 0;
      if (wv && wv->constant)
        n_spatial = physnn_tensor_get_rank (wv->constant) - 2;
      else if (attr (c, "kernel_shape"))
        n_spatial = attr (c, "kernel_shape")->ints ?
            attr (c, "kernel_shape")->ints->len : 0;
      if (!parse_conv_pool (c, node, n_spatial, error))
        return FALSE;
      if (wv && wv->constant)
        for (guint i = 0; i < n_spatial; i++)
          if (a->kernel[i] == 0)
            a->kernel[i] = (gint64) physnn_tensor_get_dim (wv->constant, 2 + i);
      return TRUE;
    }
    case PHYSNN_OP_MAX_POOL:
    case PHYSNN_OP_AVERAGE_POOL:{
      const PhysnnOnnxAttribute *k = attr (c, "kernel_shape");
      if (k == NULL || k->type != PHYSNN_ONNX_ATTR_INTS || k->ints == NULL)
        return fail (c, error, "attribute kernel_shape is required");
      return parse_conv_pool (c, node, k->ints->len, error);
    }
    case PHYSNN_OP_CAST:
      if (!attr_int (c, "to", 0, &v, error))
        return FALSE;
      /* ONNX TensorProto.DataType numbers */
      switch (v) {
        case 1: a->to = PHYSNN_DTYPE_FLOAT32; break;
        case 2: a->to = PHYSNN_DTYPE_UINT8; break;
        case 3: a->to = PHYSNN_DTYPE_INT8; break;
        case 4: a->to = PHYSNN_DTYPE_UINT16; break;
        case 5: a->to = PHYSNN_DTYPE_INT16; break;
        case 6: a->to = PHYSNN_DTYPE_INT32; break;
        case 7: a->to = PHYSNN_DTYPE_INT64; break;
        case 10: a->to = PHYSNN_DTYPE_FLOAT16; break;
        case 11: a->to = PHYSNN_DTYPE_FLOAT64; break;
        case 12: a->to = PHYSNN_DTYPE_UINT32; break;
        case 13: a->to = PHYSNN_DTYPE_UINT64; break;
        default:
          return fail (c, error, "cast to ONNX type %" G_GINT64_FORMAT
              " is not supported", v);
      }
      return TRUE;
    case PHYSNN_OP_CONSTANT:
      a->value = constant_from_attr (c, error);
      return a->value != NULL;
    case PHYSNN_OP_QUANTIZE_LINEAR:
    case PHYSNN_OP_DEQUANTIZE_LINEAR:
      return parse_qdq (c, g, node, error);
    default:
      return TRUE;
  }
}

/* ------------------------------------------------------------------------ */
/* Building */

static gboolean
lookup_kind (const gchar *op_type, const gchar *domain, PhysnnOpKind *kind,
    guint *min_in, guint *max_in)
{
  if (domain && *domain && strcmp (domain, "ai.onnx") != 0)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (op_table); i++) {
    if (strcmp (op_table[i].onnx, op_type) == 0) {
      *kind = op_table[i].kind;
      *min_in = op_table[i].min_in;
      *max_in = op_table[i].max_in;
      return TRUE;
    }
  }
  return FALSE;
}

/* Kahn's algorithm: files are supposed to be sorted but we do not rely on
 * it, and a cycle or a dangling input is an error naming the node. */
static gboolean
toposort (PhysnnGraph *g, GPtrArray *unsorted, GError **error)
{
  guint n = unsorted->len;
  g_autofree gboolean *done = g_new0 (gboolean, n);
  g_autofree gboolean *ready = g_new0 (gboolean, g->values->len);
  guint placed = 0;

  for (guint i = 0; i < g->values->len; i++)
    ready[i] = VAL (g, i)->is_input || VAL (g, i)->constant != NULL;

  while (placed < n) {
    gboolean progress = FALSE;
    for (guint i = 0; i < n; i++) {
      PhysnnNode *node = g_ptr_array_index (unsorted, i);
      gboolean ok = TRUE;
      if (done[i])
        continue;
      for (guint k = 0; k < node->n_inputs && ok; k++)
        ok = node->inputs[k] < 0 || ready[node->inputs[k]];
      if (!ok)
        continue;
      done[i] = TRUE;
      placed++;
      progress = TRUE;
      for (guint k = 0; k < node->n_outputs; k++)
        ready[node->outputs[k]] = TRUE;
      g_ptr_array_add (g->nodes, node);
    }
    if (!progress) {
      for (guint i = 0; i < n; i++) {
        PhysnnNode *node = g_ptr_array_index (unsorted, i);
        if (done[i])
          continue;
        for (guint k = 0; k < node->n_inputs; k++) {
          if (node->inputs[k] >= 0 && !ready[node->inputs[k]]) {
            g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
                "%s: node %s (%s): input \"%s\" is never computed (the "
                "graph has a cycle or a missing producer)", g->path,
                node->name, node->op_type, VAL (g, node->inputs[k])->name);
            return FALSE;
          }
        }
      }
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
          "%s: the graph cannot be ordered", g->path);
      return FALSE;
    }
  }
  return TRUE;
}

PhysnnGraph *
physnn_graph_new_from_onnx (const PhysnnOnnxModel *onnx, GError **error)
{
  g_autoptr (PhysnnGraph) g = g_new0 (PhysnnGraph, 1);
  /* Owns the nodes until they are sorted into g->nodes. */
  g_autoptr (GPtrArray) unsorted = g_ptr_array_new_with_free_func (
      (GDestroyNotify) node_free);
  const gchar *path = onnx->path ? onnx->path : "(model)";

  g->nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) node_free);
  g->values = g_ptr_array_new_with_free_func ((GDestroyNotify) value_free);
  g->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  g->inputs = g_array_new (FALSE, FALSE, sizeof (gint));
  g->outputs = g_array_new (FALSE, FALSE, sizeof (gint));
  g->path = g_strdup (path);
  g->opset = onnx->opset;

  if (onnx->opset > 0 && onnx->opset < 9) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "%s: opset %" G_GINT64_FORMAT " is too old; export with opset 13 "
        "or newer", path, onnx->opset);
    return NULL;
  }

  for (guint i = 0; i < onnx->initializer_names->len; i++) {
    const gchar *name = g_ptr_array_index (onnx->initializer_names, i);
    PhysnnTensor *t = g_hash_table_lookup (onnx->initializers, name);
    gint idx = add_value (g, name, physnn_tensor_get_dtype (t));
    VAL (g, idx)->constant = g_object_ref (t);
  }
  for (guint i = 0; i < onnx->inputs->len; i++) {
    const PhysnnOnnxValueInfo *vi = g_ptr_array_index (onnx->inputs, i);
    if (lookup (g, vi->name) >= 0)
      continue;                 /* an initializer with a default */
    gint idx = add_value (g, vi->name, vi->dtype);
    VAL (g, idx)->is_input = TRUE;
    g_array_append_val (g->inputs, idx);
  }

  for (guint i = 0; i < onnx->nodes->len; i++) {
    const PhysnnOnnxNode *on = g_ptr_array_index (onnx->nodes, i);
    g_autofree gchar *label = on->name && *on->name ?
        g_strdup_printf ("\"%s\"", on->name) : g_strdup_printf ("#%u", i);
    Ctx c = { path, on, label, onnx };
    PhysnnOpKind kind;
    guint min_in, max_in;

    if (!lookup_kind (on->op_type, on->domain, &kind, &min_in, &max_in)) {
      g_autofree gchar *list = supported_list ();
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "%s: node %s: op %s%s%s is not supported (supported: %s)", path,
          label, on->domain && *on->domain ? on->domain : "",
          on->domain && *on->domain ? "." : "", on->op_type, list);
      return NULL;
    }
    if (on->inputs->len < min_in || on->inputs->len > max_in) {
      fail (&c, error, "has %u inputs; %u to %u expected", on->inputs->len,
          min_in, max_in);
      return NULL;
    }
    if (on->outputs->len == 0) {
      fail (&c, error, "has no outputs");
      return NULL;
    }

    PhysnnNode *node = g_new0 (PhysnnNode, 1);
    node->kind = kind;
    node->name = g_steal_pointer (&label);
    node->op_type = g_strdup (on->op_type);
    node->n_inputs = on->inputs->len;
    node->inputs = g_new (gint, MAX (node->n_inputs, 1));
    node->n_outputs = on->outputs->len;
    node->outputs = g_new (gint, node->n_outputs);
    c.label = node->name;
    g_ptr_array_add (unsorted, node);

    for (guint k = 0; k < node->n_inputs; k++) {
      const gchar *in = g_ptr_array_index (on->inputs, k);
      if (in == NULL || *in == '\0') {
        node->inputs[k] = -1;
        continue;
      }
      node->inputs[k] = lookup (g, in);
      if (node->inputs[k] < 0) {
        /* Produced by a later node (unsorted file): create it now. */
        node->inputs[k] = add_value (g, in, PHYSNN_DTYPE_FLOAT32);
      }
    }
    for (guint k = 0; k < node->n_outputs; k++) {
      const gchar *out = g_ptr_array_index (on->outputs, k);
      gint idx = out && *out ? lookup (g, out) : -1;
      if (idx >= 0 && (VAL (g, idx)->producer >= 0 || VAL (g, idx)->is_input
              || VAL (g, idx)->constant)) {
        fail (&c, error, "output \"%s\" is already defined", out);
        return NULL;
      }
      if (idx < 0)
        idx = add_value (g, out && *out ? out : "", PHYSNN_DTYPE_FLOAT32);
      VAL (g, idx)->producer = (gint) i;
      node->outputs[k] = idx;
    }
    if (!parse_attrs (&c, g, node, error))
      return NULL;
    /* Integer outputs of shape ops are host values; the rest compute as
     * floats. */
    if (kind == PHYSNN_OP_CONSTANT) {
      /* Folded: its output is a constant from now on, so that ops which
       * need constant operands (Pow exponents, shapes) can see it. */
      PhysnnValue *out = VAL (g, node->outputs[0]);
      out->dtype = physnn_tensor_get_dtype (node->attrs.value);
      out->constant = g_object_ref (node->attrs.value);
      out->producer = -1;
      g_ptr_array_remove (unsorted, node);      /* frees it */
    }
  }

  if (!toposort (g, unsorted, error)) {
    /* unsorted still owns every node */
    g_ptr_array_set_free_func (g->nodes, NULL);
    g_ptr_array_set_size (g->nodes, 0);
    g_ptr_array_set_free_func (g->nodes, (GDestroyNotify) node_free);
    return NULL;
  }
  g_ptr_array_set_free_func (unsorted, NULL);   /* g->nodes owns them now */

  /* Integer-ness flows through shape arithmetic: data movement keeps its
   * input's type, elementwise ops of integers stay integers. Everything
   * else computes as floats. */
  for (guint i = 0; i < g->nodes->len; i++) {
    PhysnnNode *node = g_ptr_array_index (g->nodes, i);
    PhysnnDType dt = PHYSNN_DTYPE_FLOAT32;
    gboolean all_int = TRUE;
    for (guint k = 0; k < node->n_inputs; k++)
      if (node->inputs[k] >= 0 &&
          physnn_dtype_is_float (VAL (g, node->inputs[k])->dtype))
        all_int = FALSE;
    switch (node->kind) {
      case PHYSNN_OP_SHAPE:
        dt = PHYSNN_DTYPE_INT64;
        break;
      case PHYSNN_OP_CAST:
        dt = node->attrs.to;
        break;
      case PHYSNN_OP_QUANTIZE_LINEAR:
        dt = node->attrs.qtype;
        break;
      case PHYSNN_OP_DEQUANTIZE_LINEAR:{
        /* the range of an input quantized by an earlier node */
        gint x = node->inputs[0];
        gint pr = x >= 0 ? VAL (g, x)->producer : -1;
        if (x >= 0 && VAL (g, x)->constant == NULL) {
          const PhysnnNode *q = NULL;
          for (guint k = 0; k < i && pr >= 0; k++) {
            const PhysnnNode *m = g_ptr_array_index (g->nodes, k);
            for (guint o = 0; o < m->n_outputs; o++)
              if (m->outputs[o] == x)
                q = m;
          }
          if (q && q->kind == PHYSNN_OP_QUANTIZE_LINEAR) {
            node->attrs.qtype = q->attrs.qtype;
            node->attrs.qmin = q->attrs.qmin;
            node->attrs.qmax = q->attrs.qmax;
            node->attrs.q4 = q->attrs.q4;
          } else {
            node->attrs.qtype = VAL (g, x)->dtype;
          }
          if (physnn_dtype_is_float (node->attrs.qtype)) {
            g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
                "%s: node %s (DequantizeLinear): input \"%s\" is a float "
                "value, not a quantized one", path, node->name,
                VAL (g, x)->name);
            return NULL;
          }
        }
        break;
      }
      case PHYSNN_OP_GATHER:
      case PHYSNN_OP_CONCAT:
      case PHYSNN_OP_SLICE:
      case PHYSNN_OP_SPLIT:
      case PHYSNN_OP_UNSQUEEZE:
      case PHYSNN_OP_SQUEEZE:
      case PHYSNN_OP_RESHAPE:
      case PHYSNN_OP_FLATTEN:
      case PHYSNN_OP_TRANSPOSE:
      case PHYSNN_OP_PAD:
      case PHYSNN_OP_IDENTITY:
        if (node->inputs[0] >= 0 &&
            !physnn_dtype_is_float (VAL (g, node->inputs[0])->dtype))
          dt = VAL (g, node->inputs[0])->dtype;
        break;
      case PHYSNN_OP_ADD:
      case PHYSNN_OP_SUB:
      case PHYSNN_OP_MUL:
      case PHYSNN_OP_DIV:
      case PHYSNN_OP_NEG:
      case PHYSNN_OP_ABS:
        if (all_int)
          dt = PHYSNN_DTYPE_INT64;
        break;
      default:
        break;
    }
    for (guint k = 0; k < node->n_outputs; k++)
      VAL (g, node->outputs[k])->dtype = dt;
  }

  for (guint i = 0; i < onnx->outputs->len; i++) {
    const PhysnnOnnxValueInfo *vi = g_ptr_array_index (onnx->outputs, i);
    gint idx = lookup (g, vi->name);
    if (idx < 0 || (VAL (g, idx)->producer < 0 && !VAL (g, idx)->is_input &&
            VAL (g, idx)->constant == NULL)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
          "%s: graph output \"%s\" is not produced by any node", path,
          vi->name);
      return NULL;
    }
    VAL (g, idx)->is_output = TRUE;
    g_array_append_val (g->outputs, idx);
  }
  if (g->outputs->len == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: the graph has no outputs", path);
    return NULL;
  }
  if (g->inputs->len == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: the graph has no inputs", path);
    return NULL;
  }
  return g_steal_pointer (&g);
}

/* ------------------------------------------------------------------------ */
/* Jets */

gint
physnn_jet_first (const PhysnnJetSpec *spec, guint a)
{
  return a < spec->n_dirs ? (gint) (1 + a) : -1;
}

gint
physnn_jet_second (const PhysnnJetSpec *spec, guint a, guint b)
{
  if (a > b) {
    guint t = a;
    a = b;
    b = t;
  }
  for (guint i = 0; i < spec->n_second; i++)
    if (spec->second_dirs[i][0] == a && spec->second_dirs[i][1] == b)
      return (gint) (1 + spec->n_first + i);
  return -1;
}

void
physnn_graph_mark_active (PhysnnGraph *g, const PhysnnJetSpec *spec)
{
  for (guint i = 0; i < g->values->len; i++)
    VAL (g, i)->active = FALSE;
  if (spec == NULL || spec->n_dirs == 0)
    return;
  for (guint d = 0; d < spec->n_dirs; d++)
    VAL (g, spec->dir_input[d])->active = TRUE;
  for (guint i = 0; i < g->nodes->len; i++) {
    PhysnnNode *n = g_ptr_array_index (g->nodes, i);
    gboolean act = FALSE;
    /* Shape arithmetic never carries derivatives. */
    if (n->kind == PHYSNN_OP_SHAPE || n->kind == PHYSNN_OP_CONSTANT)
      continue;
    for (guint k = 0; k < n->n_inputs; k++)
      act |= n->inputs[k] >= 0 && VAL (g, n->inputs[k])->active;
    for (guint k = 0; k < n->n_outputs; k++)
      VAL (g, n->outputs[k])->active = act &&
          physnn_dtype_is_float (VAL (g, n->outputs[k])->dtype);
  }
}

void
physnn_jet_value_clear (PhysnnJetValue *v)
{
  for (guint i = 0; i < PHYSNN_MAX_COMPONENTS; i++)
    g_clear_object (&v->comp[i]);
  v->n_comp = 0;
}
