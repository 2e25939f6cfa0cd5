/* physnn — PhysnnQuantPlan: per-layer precisions of a model's weights, their
 * scales and zero points, optional int8 activations, as JSON.
 *
 * A layer is a Gemm, MatMul or Conv node whose weight (input B, or W) is a
 * float initializer. Weights are quantized per output channel or per
 * tensor, symmetrically (int8 in [-127, 127], int4 in [-7, 7], zero point
 * 0) or asymmetrically (uint8 / uint4 with a zero point that makes 0.0
 * exact). Biases stay float32. The arithmetic is ONNX's: a float32 scale,
 * q = saturate (round_half_even (w / scale) + zero_point), and the
 * dequantized weight (q - zero_point) * scale.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/quant-private.h"
#include "physnn/error.h"
#include "physnn/model-private.h"
#include "physnn/tensor-private.h"

#include <json-glib/json-glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#define VAL(g, i) ((PhysnnValue *)g_ptr_array_index ((g)->values, (i)))
#define PLAN_FORMAT "physnn-quantization-plan"
#define MSE_STEPS 64

struct _PhysnnQuantPlan {
  GObject parent;
  PhysnnModel *model;
  GPtrArray *layers;     /* PhysnnQuantLayer* */
  GHashTable *originals; /* weight name -> gdouble* (shared) */
  gboolean per_channel;
  gboolean symmetric;
  PhysnnCalibration wcal;
  gdouble wpercentile;
  guint64 other_bytes; /* initializers that are not layer weights */
};

G_DEFINE_FINAL_TYPE (PhysnnQuantPlan, physnn_quant_plan, G_TYPE_OBJECT)

static const gchar *precision_names[] = { "fp32", "fp16", "int8", "int4" };
static const gchar *calibration_names[] = { "minmax", "percentile", "mse",
  "kl" };

/**
 * physnn_precision_get_bits:
 * @precision: a #PhysnnPrecision
 *
 * Returns: the bits per weight: 32, 16, 8 or 4
 */
guint
physnn_precision_get_bits (PhysnnPrecision precision)
{
  static const guint bits[] = { 32, 16, 8, 4 };
  return (guint)precision < 4 ? bits[precision] : 0;
}

/**
 * physnn_precision_to_string:
 * @precision: a #PhysnnPrecision
 *
 * Returns: "fp32", "fp16", "int8" or "int4"
 */
const gchar *
physnn_precision_to_string (PhysnnPrecision precision)
{
  return (guint)precision < 4 ? precision_names[precision] : "invalid";
}

/**
 * physnn_precision_from_string:
 * @name: "fp32", "fp16", "int8" or "int4"
 * @precision: (out): the precision
 *
 * Returns: %TRUE if @name is a precision
 */
gboolean
physnn_precision_from_string (const gchar *name, PhysnnPrecision *precision)
{
  for (guint i = 0; name && i < G_N_ELEMENTS (precision_names); i++)
    if (g_ascii_strcasecmp (name, precision_names[i]) == 0) {
      *precision = (PhysnnPrecision)i;
      return TRUE;
    }
  return FALSE;
}

/**
 * physnn_calibration_to_string:
 * @method: a #PhysnnCalibration
 *
 * Returns: "minmax", "percentile", "mse" or "kl"
 */
const gchar *
physnn_calibration_to_string (PhysnnCalibration method)
{
  return (guint)method < 4 ? calibration_names[method] : "invalid";
}

/**
 * physnn_calibration_from_string:
 * @name: "minmax", "percentile", "mse" or "kl" ("entropy" is accepted for
 *   "kl")
 * @method: (out): the method
 *
 * Returns: %TRUE if @name is a calibration method
 */
gboolean
physnn_calibration_from_string (const gchar *name, PhysnnCalibration *method)
{
  if (name && g_ascii_strcasecmp (name, "entropy") == 0) {
    *method = PHYSNN_CALIBRATION_KL;
    return TRUE;
  }
  for (guint i = 0; name && i < G_N_ELEMENTS (calibration_names); i++)
    if (g_ascii_strcasecmp (name, calibration_names[i]) == 0) {
      *method = (PhysnnCalibration)i;
      return TRUE;
    }
  return FALSE;
}

/* ------------------------------------------------------------------------ */

static void
weights_free (PhysnnQuantWeights *w)
{
  g_free (w->scale);
  g_free (w->zero);
  g_clear_object (&w->stored);
  g_free (w->deq);
}

static void
weights_unref (PhysnnQuantWeights *w)
{
  if (w)
    g_atomic_rc_box_release_full (w, (GDestroyNotify)weights_free);
}

static void
layer_clear_weights (PhysnnQuantLayer *l)
{
  for (guint p = 0; p < 4; p++)
    g_clear_pointer (&l->qw[p], weights_unref);
}

static void
layer_free (PhysnnQuantLayer *l)
{
  layer_clear_weights (l);
  g_free (l->name);
  g_free (l->op_type);
  g_free (l->weight);
  g_free (l->input);
  g_free (l->given_scale);
  g_free (l->given_zero);
  g_free (l->bias);
  g_free (l->bias_fix);
  g_free (l->tuned);
  g_free (l);
}

static PhysnnQuantLayer *
layer_copy (const PhysnnQuantLayer *s)
{
  PhysnnQuantLayer *l = g_memdup2 (s, sizeof *s);
  l->name = g_strdup (s->name);
  l->op_type = g_strdup (s->op_type);
  l->weight = g_strdup (s->weight);
  l->input = g_strdup (s->input);
  l->given_scale = s->given_scale ? g_memdup2 (s->given_scale,
                                        s->given_channels * sizeof (gfloat))
                                  : NULL;
  l->given_zero = s->given_zero ? g_memdup2 (s->given_zero,
                                      s->given_channels * sizeof (gint32))
                                : NULL;
  l->bias = g_strdup (s->bias);
  l->bias_fix = s->bias_fix
                    ? g_memdup2 (s->bias_fix, s->bias_size * sizeof (gdouble))
                    : NULL;
  l->tuned =
      s->tuned ? g_memdup2 (s->tuned, s->size * sizeof (gdouble)) : NULL;
  for (guint p = 0; p < 4; p++)
    l->qw[p] = s->qw[p] ? g_atomic_rc_box_acquire (s->qw[p]) : NULL;
  return l;
}

static void
physnn_quant_plan_finalize (GObject *object)
{
  PhysnnQuantPlan *self = PHYSNN_QUANT_PLAN (object);
  g_ptr_array_unref (self->layers);
  g_hash_table_unref (self->originals);
  g_clear_object (&self->model);
  G_OBJECT_CLASS (physnn_quant_plan_parent_class)->finalize (object);
}

static void
physnn_quant_plan_class_init (PhysnnQuantPlanClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = physnn_quant_plan_finalize;
}

static void
physnn_quant_plan_init (PhysnnQuantPlan *self)
{
  self->layers = g_ptr_array_new_with_free_func ((GDestroyNotify)layer_free);
  self->per_channel = TRUE;
  self->symmetric = TRUE;
  self->wcal = PHYSNN_CALIBRATION_MSE;
  self->wpercentile = 99.99;
}

/* Given scales and fine-tuned weights belong to one precision and one set
 * of weight settings: forget them (and the weights cached from them) when
 * either changes. */
static void
layer_forget_given (PhysnnQuantLayer *l)
{
  layer_clear_weights (l);
  g_clear_pointer (&l->tuned, g_free);
  g_clear_pointer (&l->given_scale, g_free);
  g_clear_pointer (&l->given_zero, g_free);
  l->given_channels = 0;
}

/* The weight settings changed: cached weights are stale, and given scales
 * and fine-tuned integers belong to the old channel layout and ranges. */
static void
clear_all_weights (PhysnnQuantPlan *self)
{
  for (guint i = 0; i < self->layers->len; i++)
    layer_forget_given (g_ptr_array_index (self->layers, i));
}

/* ------------------------------------------------------------------------ */
/* Finding layers */

/* Multiply-accumulates per sample of every layer, from the output shapes of
 * one reference run on a batch of one (symbolic dimensions set to 1). */
static void
probe_macs (PhysnnQuantPlan *self)
{
  PhysnnGraph *g = _physnn_model_get_graph (self->model);
  guint n_in = g->inputs->len;
  g_autofree PhysnnTensor **in = g_new0 (PhysnnTensor *, n_in);
  PhysnnJetValue *all = NULL;

  for (guint i = 0; i < n_in; i++) {
    guint rank;
    const gint64 *dims = physnn_model_get_input_shape (self->model, i, &rank);
    gsize shape[PHYSNN_MAX_RANK];
    if (dims == NULL)
      goto out;
    for (guint d = 0; d < rank; d++)
      shape[d] = dims[d] > 0 ? (gsize)dims[d] : 1;
    gint v = g_array_index (g->inputs, gint, i);
    in[i] = physnn_tensor_new (VAL (g, v)->dtype, rank, shape);
    physnn_tensor_fill (in[i], 0.5);
  }
  if (!_physnn_graph_run_reference_all (g, NULL, in, NULL, &all, NULL))
    goto out;
  for (guint i = 0; i < self->layers->len; i++) {
    PhysnnQuantLayer *l = g_ptr_array_index (self->layers, i);
    gsize out_ch = l->shape[l->axis];
    for (guint k = 0; k < g->nodes->len; k++) {
      const PhysnnNode *n = g_ptr_array_index (g->nodes, k);
      if (n->n_inputs < 2 || n->inputs[1] < 0 ||
          strcmp (VAL (g, n->inputs[1])->name, l->weight) != 0 ||
          all[n->outputs[0]].comp[0] == NULL)
        continue;
      gsize outn = physnn_tensor_get_n_elements (all[n->outputs[0]].comp[0]);
      l->macs = (guint64)outn * (l->size / MAX (out_ch, 1));
    }
  }
out:
  for (guint i = 0; i < n_in; i++)
    g_clear_object (&in[i]);
  if (all) {
    for (guint i = 0; i < g->values->len; i++)
      physnn_jet_value_clear (&all[i]);
    g_free (all);
  }
}

static gboolean
find_layers (PhysnnQuantPlan *self, GError **error)
{
  const PhysnnOnnxModel *m = _physnn_model_get_onnx (self->model);
  GHashTable *seen = g_hash_table_new (g_str_hash, g_str_equal);
  guint64 total = 0;

  for (guint i = 0; i < m->nodes->len; i++) {
    const PhysnnOnnxNode *n = g_ptr_array_index (m->nodes, i);
    gboolean gemm = strcmp (n->op_type, "Gemm") == 0;
    gboolean conv = strcmp (n->op_type, "Conv") == 0;
    if (!gemm && !conv && strcmp (n->op_type, "MatMul") != 0)
      continue;
    if (n->inputs->len < 2)
      continue;
    const gchar *wname = g_ptr_array_index (n->inputs, 1);
    PhysnnTensor *w = g_hash_table_lookup (m->initializers, wname);
    if (w == NULL || !physnn_dtype_is_float (physnn_tensor_get_dtype (w)) ||
        physnn_tensor_get_rank (w) < 1 || g_hash_table_contains (seen, wname))
      continue;
    PhysnnQuantLayer *l = g_new0 (PhysnnQuantLayer, 1);
    l->name =
        n->name && *n->name ? g_strdup (n->name) : g_strdup_printf ("#%u", i);
    l->op_type = g_strdup (n->op_type);
    l->weight = g_strdup (wname);
    l->input = g_strdup (g_ptr_array_index (n->inputs, 0));
    const gsize *shape = physnn_tensor_get_shape (w, &l->rank);
    memcpy (l->shape, shape, l->rank * sizeof (gsize));
    l->size = physnn_tensor_get_n_elements (w);
    if (conv)
      l->axis = 0;
    else if (gemm) {
      const PhysnnOnnxAttribute *tb =
          physnn_onnx_node_get_attribute (n, "transB");
      l->axis = tb && tb->type == PHYSNN_ONNX_ATTR_INT && tb->i ? 0 : 1;
    } else
      l->axis = l->rank - 1;
    if (l->axis >= l->rank)
      l->axis = 0;
    l->precision = PHYSNN_PRECISION_FP32;
    if (n->inputs->len > 2) {
      const gchar *bname = g_ptr_array_index (n->inputs, 2);
      PhysnnTensor *bt =
          bname ? g_hash_table_lookup (m->initializers, bname) : NULL;
      if (bt && physnn_dtype_is_float (physnn_tensor_get_dtype (bt))) {
        l->bias = g_strdup (bname);
        l->bias_size = physnn_tensor_get_n_elements (bt);
      }
    }
    g_hash_table_add (seen, l->weight);
    gsize nv;
    g_hash_table_insert (
        self->originals, g_strdup (wname), physnn_tensor_to_doubles (w, &nv));
    g_ptr_array_add (self->layers, l);
  }
  g_hash_table_unref (seen);

  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init (&it, m->initializers);
  while (g_hash_table_iter_next (&it, &key, &value))
    if (!g_hash_table_contains (self->originals, key))
      total += physnn_tensor_get_nbytes (value);
  self->other_bytes = total;

  if (self->layers->len == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "%s: no layer to quantize (Gemm, MatMul or Conv with constant "
        "weights)",
        physnn_model_get_path (self->model));
    return FALSE;
  }
  probe_macs (self);
  return TRUE;
}

/**
 * physnn_quant_plan_new:
 * @model: the model the plan is for
 * @error: return location for a #GError
 *
 * Makes a plan for @model with every layer (Gemm, MatMul and Conv with
 * constant weights) at fp32, per-channel symmetric weights calibrated by
 * minimum squared error, and no activation quantization.
 *
 * Returns: (transfer full): the plan, or %NULL with @error set
 */
PhysnnQuantPlan *
physnn_quant_plan_new (PhysnnModel *model, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (model), NULL);
  PhysnnQuantPlan *self = g_object_new (PHYSNN_TYPE_QUANT_PLAN, NULL);
  self->model = g_object_ref (model);
  self->originals =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (!find_layers (self, error)) {
    g_object_unref (self);
    return NULL;
  }
  return self;
}

/**
 * physnn_quant_plan_copy:
 * @self: a #PhysnnQuantPlan
 *
 * Returns: (transfer full): an independent copy
 */
PhysnnQuantPlan *
physnn_quant_plan_copy (PhysnnQuantPlan *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), NULL);
  PhysnnQuantPlan *c = g_object_new (PHYSNN_TYPE_QUANT_PLAN, NULL);
  c->model = g_object_ref (self->model);
  c->originals = g_hash_table_ref (self->originals);
  c->per_channel = self->per_channel;
  c->symmetric = self->symmetric;
  c->wcal = self->wcal;
  c->wpercentile = self->wpercentile;
  c->other_bytes = self->other_bytes;
  for (guint i = 0; i < self->layers->len; i++)
    g_ptr_array_add (
        c->layers, layer_copy (g_ptr_array_index (self->layers, i)));
  return c;
}

/* ------------------------------------------------------------------------ */
/* Accessors */

PhysnnQuantLayer *
_physnn_quant_plan_layer (PhysnnQuantPlan *self, guint i)
{
  return i < self->layers->len ? g_ptr_array_index (self->layers, i) : NULL;
}

/**
 * physnn_quant_plan_get_model:
 * @self: a #PhysnnQuantPlan
 *
 * Returns: (transfer none): the model the plan quantizes
 */
PhysnnModel *
physnn_quant_plan_get_model (PhysnnQuantPlan *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), NULL);
  return self->model;
}

/**
 * physnn_quant_plan_get_n_layers:
 * @self: a #PhysnnQuantPlan
 *
 * Returns: the number of quantizable layers
 */
guint
physnn_quant_plan_get_n_layers (PhysnnQuantPlan *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), 0);
  return self->layers->len;
}

/**
 * physnn_quant_plan_get_layer_name:
 * @self: a #PhysnnQuantPlan
 * @layer: a layer index
 *
 * Returns: (nullable): the layer's node name ("#N" for an unnamed node)
 */
const gchar *
physnn_quant_plan_get_layer_name (PhysnnQuantPlan *self, guint layer)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), NULL);
  PhysnnQuantLayer *l = _physnn_quant_plan_layer (self, layer);
  return l ? l->name : NULL;
}

/**
 * physnn_quant_plan_get_layer_weight:
 * @self: a #PhysnnQuantPlan
 * @layer: a layer index
 *
 * Returns: (nullable): the name of the layer's weight initializer
 */
const gchar *
physnn_quant_plan_get_layer_weight (PhysnnQuantPlan *self, guint layer)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), NULL);
  PhysnnQuantLayer *l = _physnn_quant_plan_layer (self, layer);
  return l ? l->weight : NULL;
}

/**
 * physnn_quant_plan_get_layer_size:
 * @self: a #PhysnnQuantPlan
 * @layer: a layer index
 *
 * Returns: the number of weights of the layer
 */
gsize
physnn_quant_plan_get_layer_size (PhysnnQuantPlan *self, guint layer)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), 0);
  PhysnnQuantLayer *l = _physnn_quant_plan_layer (self, layer);
  return l ? l->size : 0;
}

/**
 * physnn_quant_plan_find_layer:
 * @self: a #PhysnnQuantPlan
 * @name: a node name or a weight initializer name
 *
 * Returns: the layer index, or -1
 */
gint
physnn_quant_plan_find_layer (PhysnnQuantPlan *self, const gchar *name)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), -1);
  for (guint i = 0; name && i < self->layers->len; i++) {
    PhysnnQuantLayer *l = g_ptr_array_index (self->layers, i);
    if (strcmp (l->name, name) == 0 || strcmp (l->weight, name) == 0)
      return (gint)i;
  }
  return -1;
}

/**
 * physnn_quant_plan_get_precision:
 * @self: a #PhysnnQuantPlan
 * @layer: a layer index
 *
 * Returns: the layer's weight precision
 */
PhysnnPrecision
physnn_quant_plan_get_precision (PhysnnQuantPlan *self, guint layer)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), PHYSNN_PRECISION_FP32);
  PhysnnQuantLayer *l = _physnn_quant_plan_layer (self, layer);
  return l ? l->precision : PHYSNN_PRECISION_FP32;
}

/**
 * physnn_quant_plan_set_precision:
 * @self: a #PhysnnQuantPlan
 * @layer: a layer index
 * @precision: the weight precision
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success; a pinned layer only accepts fp32
 */
gboolean
physnn_quant_plan_set_precision (PhysnnQuantPlan *self, guint layer,
    PhysnnPrecision precision, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), FALSE);
  PhysnnQuantLayer *l = _physnn_quant_plan_layer (self, layer);
  if (l == NULL || (guint)precision > PHYSNN_PRECISION_INT4) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "layer %u or precision %d does not exist (%u layers)", layer, precision,
        self->layers->len);
    return FALSE;
  }
  if (l->pinned && precision != PHYSNN_PRECISION_FP32) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "layer \"%s\" is pinned to fp32", l->name);
    return FALSE;
  }
  if (precision != l->precision && (l->given_scale || l->tuned))
    layer_forget_given (l);
  l->precision = precision;
  return TRUE;
}

/**
 * physnn_quant_plan_set_all:
 * @self: a #PhysnnQuantPlan
 * @precision: the weight precision
 * @error: return location for a #GError
 *
 * Sets every layer that is not pinned to @precision.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_plan_set_all (
    PhysnnQuantPlan *self, PhysnnPrecision precision, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), FALSE);
  for (guint i = 0; i < self->layers->len; i++) {
    PhysnnQuantLayer *l = g_ptr_array_index (self->layers, i);
    if (!l->pinned &&
        !physnn_quant_plan_set_precision (self, i, precision, error))
      return FALSE;
  }
  return TRUE;
}

/**
 * physnn_quant_plan_get_pinned:
 * @self: a #PhysnnQuantPlan
 * @layer: a layer index
 *
 * Returns: whether the layer is held at fp32
 */
gboolean
physnn_quant_plan_get_pinned (PhysnnQuantPlan *self, guint layer)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), FALSE);
  PhysnnQuantLayer *l = _physnn_quant_plan_layer (self, layer);
  return l && l->pinned;
}

/**
 * physnn_quant_plan_pin:
 * @self: a #PhysnnQuantPlan
 * @pattern: a glob pattern (`*` and `?`) matched against layer names and
 *   weight names, e.g. "*koopman*"; several separated by commas
 * @error: return location for a #GError
 *
 * Holds the matching layers at fp32 (a Koopman regularizer head, an output
 * layer). A pattern that matches no layer is an error.
 *
 * Returns: the number of layers pinned, 0 with @error set on failure
 */
guint
physnn_quant_plan_pin (
    PhysnnQuantPlan *self, const gchar *pattern, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), 0);
  g_return_val_if_fail (pattern != NULL, 0);
  g_auto (GStrv) pats = g_strsplit (pattern, ",", -1);
  guint pinned = 0;
  for (guint p = 0; pats[p]; p++) {
    g_strstrip (pats[p]);
    if (*pats[p] == '\0')
      continue;
    g_autoptr (GPatternSpec) spec = g_pattern_spec_new (pats[p]);
    guint hits = 0;
    for (guint i = 0; i < self->layers->len; i++) {
      PhysnnQuantLayer *l = g_ptr_array_index (self->layers, i);
      if (g_pattern_spec_match_string (spec, l->name) ||
          g_pattern_spec_match_string (spec, l->weight)) {
        hits++;
        if (!l->pinned)
          pinned++;
        l->pinned = TRUE;
        l->precision = PHYSNN_PRECISION_FP32;
      }
    }
    if (hits == 0) {
      GString *names = g_string_new (NULL);
      for (guint i = 0; i < self->layers->len; i++)
        g_string_append_printf (names, "%s%s", i ? ", " : "",
            ((PhysnnQuantLayer *)g_ptr_array_index (self->layers, i))->name);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "pattern \"%s\" matches no layer (layers: %s)", pats[p], names->str);
      g_string_free (names, TRUE);
      return 0;
    }
  }
  return MAX (pinned, 1);
}

/**
 * physnn_quant_plan_set_per_channel:
 * @self: a #PhysnnQuantPlan
 * @per_channel: scales per output channel (default) or one per tensor
 */
void
physnn_quant_plan_set_per_channel (PhysnnQuantPlan *self, gboolean per_channel)
{
  g_return_if_fail (PHYSNN_IS_QUANT_PLAN (self));
  if (self->per_channel != per_channel)
    clear_all_weights (self);
  self->per_channel = per_channel;
}

/**
 * physnn_quant_plan_get_per_channel:
 * @self: a #PhysnnQuantPlan
 *
 * Returns: whether weight scales are per output channel
 */
gboolean
physnn_quant_plan_get_per_channel (PhysnnQuantPlan *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), FALSE);
  return self->per_channel;
}

/**
 * physnn_quant_plan_set_symmetric:
 * @self: a #PhysnnQuantPlan
 * @symmetric: symmetric signed weights (default) or asymmetric unsigned
 *   ones with zero points
 */
void
physnn_quant_plan_set_symmetric (PhysnnQuantPlan *self, gboolean symmetric)
{
  g_return_if_fail (PHYSNN_IS_QUANT_PLAN (self));
  if (self->symmetric != symmetric)
    clear_all_weights (self);
  self->symmetric = symmetric;
}

/**
 * physnn_quant_plan_get_symmetric:
 * @self: a #PhysnnQuantPlan
 *
 * Returns: whether weights are quantized symmetrically
 */
gboolean
physnn_quant_plan_get_symmetric (PhysnnQuantPlan *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), FALSE);
  return self->symmetric;
}

/**
 * physnn_quant_plan_set_weight_calibration:
 * @self: a #PhysnnQuantPlan
 * @method: how weight ranges are chosen (default: mse)
 * @percentile: for %PHYSNN_CALIBRATION_PERCENTILE, in (50, 100]
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_plan_set_weight_calibration (PhysnnQuantPlan *self,
    PhysnnCalibration method, gdouble percentile, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), FALSE);
  if ((guint)method > PHYSNN_CALIBRATION_KL ||
      !(percentile > 50.0 && percentile <= 100.0)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "calibration %d with percentile %g: the percentile must be in "
        "(50, 100]",
        method, percentile);
    return FALSE;
  }
  if (self->wcal != method || self->wpercentile != percentile)
    clear_all_weights (self);
  self->wcal = method;
  self->wpercentile = percentile;
  return TRUE;
}

/**
 * physnn_quant_plan_get_activations:
 * @self: a #PhysnnQuantPlan
 *
 * Returns: whether any layer input is quantized to int8
 */
gboolean
physnn_quant_plan_get_activations (PhysnnQuantPlan *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), FALSE);
  for (guint i = 0; i < self->layers->len; i++)
    if (((PhysnnQuantLayer *)g_ptr_array_index (self->layers, i))->act)
      return TRUE;
  return FALSE;
}

/**
 * physnn_quant_plan_set_activation_range:
 * @self: a #PhysnnQuantPlan
 * @layer: a layer index
 * @min: the lower end of the input's range
 * @max: the upper end
 * @method: how the range was found (recorded in the plan)
 * @error: return location for a #GError
 *
 * Quantizes the layer's input activation to uint8 over [@min, @max]
 * (extended to include 0) whenever the layer's weights are quantized to
 * int8 or int4.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_plan_set_activation_range (PhysnnQuantPlan *self, guint layer,
    gdouble min, gdouble max, PhysnnCalibration method, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), FALSE);
  PhysnnQuantLayer *l = _physnn_quant_plan_layer (self, layer);
  if (l == NULL || !isfinite (min) || !isfinite (max) || min > max) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "layer %u: activation range [%g, %g] is not a finite interval", layer,
        min, max);
    return FALSE;
  }
  l->act = TRUE;
  l->act_min = min;
  l->act_max = max;
  l->act_method = method;
  gint32 qmin, qmax;
  _physnn_quant_params (
      min, max, 8, FALSE, &l->act_scale, &l->act_zero, &qmin, &qmax);
  return TRUE;
}

/**
 * physnn_quant_plan_clear_activations:
 * @self: a #PhysnnQuantPlan
 *
 * Switches activation quantization off (weights only).
 */
void
physnn_quant_plan_clear_activations (PhysnnQuantPlan *self)
{
  g_return_if_fail (PHYSNN_IS_QUANT_PLAN (self));
  for (guint i = 0; i < self->layers->len; i++)
    ((PhysnnQuantLayer *)g_ptr_array_index (self->layers, i))->act = FALSE;
}

/**
 * physnn_quant_plan_set_bias_correction:
 * @self: a #PhysnnQuantPlan
 * @layer: a layer index
 * @values: (array length=n) (nullable): the layer's new float32 bias, or
 *   %NULL to use the model's own
 * @n: the number of values (the bias's size)
 * @error: return location for a #GError
 *
 * Replaces a layer's (float32) bias in the quantized model: biases that
 * compensate the weights' quantization error, as
 * physnn_quant_objective_correct_biases() finds them.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_plan_set_bias_correction (PhysnnQuantPlan *self, guint layer,
    const gdouble *values, gsize n, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), FALSE);
  PhysnnQuantLayer *l = _physnn_quant_plan_layer (self, layer);
  if (l == NULL || (values && (l->bias == NULL || n != l->bias_size))) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "layer %u: %" G_GSIZE_FORMAT
        " bias values for a bias of %" G_GSIZE_FORMAT,
        layer, n, l ? l->bias_size : 0);
    return FALSE;
  }
  for (gsize i = 0; values && i < n; i++)
    if (!isfinite (values[i]) || !isfinite ((gfloat)values[i])) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
          "layer \"%s\": bias value %" G_GSIZE_FORMAT " is %g", l->name, i,
          values[i]);
      return FALSE;
    }
  g_clear_pointer (&l->bias_fix, g_free);
  if (values) {
    l->bias_fix = g_new (gdouble, n);
    /* float32, as stored */
    for (gsize i = 0; i < n; i++)
      l->bias_fix[i] = (gfloat)values[i];
  }
  return TRUE;
}

/**
 * physnn_quant_plan_get_bias_corrected:
 * @self: a #PhysnnQuantPlan
 * @layer: a layer index
 *
 * Returns: whether the layer's bias is replaced by corrected values
 */
gboolean
physnn_quant_plan_get_bias_corrected (PhysnnQuantPlan *self, guint layer)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), FALSE);
  PhysnnQuantLayer *l = _physnn_quant_plan_layer (self, layer);
  return l && l->bias_fix;
}

gboolean
_physnn_quant_plan_set_tuned (PhysnnQuantPlan *self, guint layer,
    const gdouble *values, gsize n, const gfloat *scales, const gint32 *zeros,
    gsize channels, GError **error)
{
  PhysnnQuantLayer *l = _physnn_quant_plan_layer (self, layer);
  if (l == NULL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "no layer %u (%u layers)", layer, self->layers->len);
    return FALSE;
  }
  PhysnnPrecision p = l->precision;
  if (values == NULL) {
    g_clear_pointer (&l->tuned, g_free);
    g_clear_pointer (&l->qw[p], weights_unref);
    return TRUE;
  }
  if (n != l->size) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "layer \"%s\": %" G_GSIZE_FORMAT " fine-tuned weights for a weight "
        "of %" G_GSIZE_FORMAT,
        l->name, n, l->size);
    return FALSE;
  }
  if (l->pinned) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "layer \"%s\" is pinned: it keeps the model's own weights", l->name);
    return FALSE;
  }
  if (p >= PHYSNN_PRECISION_INT8) {
    guint bits = physnn_precision_get_bits (p);
    gint32 qmin = self->symmetric ? -((1 << (bits - 1)) - 1) : 0;
    gint32 qmax = self->symmetric ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
    gsize C = self->per_channel ? l->shape[l->axis] : 1;
    if (scales == NULL || channels != C) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "layer \"%s\": fine-tuned %s weights need %" G_GSIZE_FORMAT
          " scales (%s), got %" G_GSIZE_FORMAT,
          l->name, physnn_precision_to_string (p), C,
          self->per_channel ? "one per output channel" : "per tensor",
          scales ? channels : 0);
      return FALSE;
    }
    for (gsize c = 0; c < C; c++) {
      gint32 z = zeros ? zeros[c] : 0;
      if (!(scales[c] > 0) || !isfinite (scales[c]) || z < qmin || z > qmax ||
          (self->symmetric && z != 0)) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
            "layer \"%s\": channel %" G_GSIZE_FORMAT " has scale %g and "
            "zero point %d; scales must be positive finite numbers and zero "
            "points %s",
            l->name, c, scales[c], z,
            self->symmetric ? "0 (symmetric)" : "in range");
        return FALSE;
      }
    }
    for (gsize i = 0; i < n; i++)
      if (!(values[i] >= qmin && values[i] <= qmax) ||
          values[i] != nearbyint (values[i])) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
            "layer \"%s\": fine-tuned integer %" G_GSIZE_FORMAT " is %g; "
            "%s weights are integers in [%d, %d]",
            l->name, i, values[i], physnn_precision_to_string (p), qmin, qmax);
        return FALSE;
      }
    /* copies first: @scales may be the layer's own given scales */
    gfloat *sc = g_memdup2 (scales, C * sizeof (gfloat));
    gint32 *zc = g_new0 (gint32, C);
    if (zeros)
      memcpy (zc, zeros, C * sizeof (gint32));
    g_free (l->given_scale);
    g_free (l->given_zero);
    l->given_channels = C;
    l->given_scale = sc;
    l->given_zero = zc;
  } else {
    for (gsize i = 0; i < n; i++) {
      gfloat f = (gfloat)values[i];
      if (!isfinite (f) || (p == PHYSNN_PRECISION_FP16 &&
                               physnn_half_to_float (physnn_half_from_float (
                                   f)) != f)) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
            "layer \"%s\": fine-tuned weight %" G_GSIZE_FORMAT " is %.9g, "
            "not a finite %s number",
            l->name, i, values[i],
            p == PHYSNN_PRECISION_FP16 ? "float16" : "float32");
        return FALSE;
      }
    }
  }
  g_free (l->tuned);
  l->tuned = g_new (gdouble, n);
  for (gsize i = 0; i < n; i++)
    l->tuned[i] =
        p >= PHYSNN_PRECISION_INT8 ? values[i] : (gdouble)(gfloat)values[i];
  l->tuned_precision = p;
  g_clear_pointer (&l->qw[p], weights_unref);
  return TRUE;
}

/**
 * physnn_quant_plan_get_fine_tuned:
 * @self: a #PhysnnQuantPlan
 * @layer: a layer index
 *
 * Returns: whether the layer carries fine-tuned weights for its precision
 *   (physnn_quant_objective_fine_tune()): stored integers and scales for
 *   int8/int4, float values for fp16/fp32
 */
gboolean
physnn_quant_plan_get_fine_tuned (PhysnnQuantPlan *self, guint layer)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), FALSE);
  PhysnnQuantLayer *l = _physnn_quant_plan_layer (self, layer);
  return l && l->tuned && l->tuned_precision == l->precision;
}

/* ------------------------------------------------------------------------ */
/* Weight quantization */

void
_physnn_quant_params (gdouble lo, gdouble hi, guint bits, gboolean symmetric,
    gfloat *scale, gint32 *zero, gint32 *qmin, gint32 *qmax)
{
  if (symmetric) {
    gdouble r = MAX (fabs (lo), fabs (hi));
    *qmax = (1 << (bits - 1)) - 1;
    *qmin = -*qmax;
    *scale = r > 0 && isfinite (r) ? (gfloat)(r / *qmax) : 1.0f;
    if (!(*scale > 0) || !isfinite (*scale))
      *scale = 1.0f;
    *zero = 0;
    return;
  }
  lo = MIN (lo, 0.0);
  hi = MAX (hi, 0.0);
  *qmin = 0;
  *qmax = (1 << bits) - 1;
  *scale = hi > lo && isfinite (hi - lo) ? (gfloat)((hi - lo) / *qmax) : 1.0f;
  if (!(*scale > 0) || !isfinite (*scale))
    *scale = 1.0f;
  gdouble z = *qmin - nearbyint (lo / *scale);
  *zero = (gint32)CLAMP (z, *qmin, *qmax);
}

static inline gdouble
quantize_one (gdouble w, gfloat scale, gint32 zero, gint32 qmin, gint32 qmax)
{
  gdouble q = nearbyint (w / (gdouble)scale) + zero;
  return CLAMP (q, qmin, qmax);
}

/* Sum of squared errors of quantizing `n` values (stride apart) over the
 * range [lo, hi]. */
static gdouble
range_error (const gdouble *w, gsize n, gsize stride, gdouble lo, gdouble hi,
    guint bits, gboolean sym)
{
  gfloat s;
  gint32 z, qmin, qmax;
  gdouble e = 0;
  _physnn_quant_params (lo, hi, bits, sym, &s, &z, &qmin, &qmax);
  for (gsize i = 0; i < n; i++) {
    gdouble x = w[i * stride];
    gdouble d = (quantize_one (x, s, z, qmin, qmax) - z) * s - x;
    e += d * d;
  }
  return e;
}

static int
cmp_double (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *)a, y = *(const gdouble *)b;
  return x < y ? -1 : (x > y ? 1 : 0);
}

/* The range of one channel's weights (`n` values, `stride` apart) by the
 * plan's weight calibration method. */
static void
weight_range (PhysnnQuantPlan *self, const gdouble *w, gsize n, gsize stride,
    guint bits, gdouble *lo, gdouble *hi)
{
  gdouble mn = G_MAXDOUBLE, mx = -G_MAXDOUBLE;
  for (gsize i = 0; i < n; i++) {
    mn = MIN (mn, w[i * stride]);
    mx = MAX (mx, w[i * stride]);
  }
  *lo = mn;
  *hi = mx;
  switch (self->wcal) {
    case PHYSNN_CALIBRATION_MINMAX:
      return;
    case PHYSNN_CALIBRATION_PERCENTILE: {
      g_autofree gdouble *v = g_new (gdouble, n);
      for (gsize i = 0; i < n; i++)
        v[i] = self->symmetric ? fabs (w[i * stride]) : w[i * stride];
      qsort (v, n, sizeof (gdouble), cmp_double);
      gdouble p = self->wpercentile / 100.0;
      if (self->symmetric) {
        *hi = v[(gsize)MIN (n - 1, floor (p * (n - 1) + 0.5))];
        *lo = -*hi;
      } else {
        gdouble tail = (1.0 - p) / 2;
        *lo = v[(gsize)floor (tail * (n - 1) + 0.5)];
        *hi = v[(gsize)floor ((1.0 - tail) * (n - 1) + 0.5)];
      }
      return;
    }
    case PHYSNN_CALIBRATION_MSE:
    case PHYSNN_CALIBRATION_KL: {
      /* Outlier-aware: shrink the range while the squared error (rounding
       * inside, clipping outside) falls. For weights the KL criterion
       * reduces to the same search over clipping ranges. */
      gdouble best = G_MAXDOUBLE, blo = mn, bhi = mx;
      for (guint k = 0; k < MSE_STEPS; k++) {
        gdouble f = 1.0 - 0.7 * k / MSE_STEPS;
        gdouble e =
            range_error (w, n, stride, mn * f, mx * f, bits, self->symmetric);
        if (e < best) {
          best = e;
          blo = mn * f;
          bhi = mx * f;
        }
      }
      *lo = blo;
      *hi = bhi;
      return;
    }
  }
}

/* Quantizes @w (the layer's weights or fine-tuned float values) at @p; with
 * @use_given, scales and zero points the plan gives for the layer's
 * precision are used as given, and fine-tuned integers for it replace the
 * rounding of @w. */
static PhysnnQuantWeights *
quantize_values (PhysnnQuantPlan *self, PhysnnQuantLayer *l, PhysnnPrecision p,
    const gdouble *w, gboolean use_given)
{
  PhysnnQuantWeights *qw = g_atomic_rc_box_new0 (PhysnnQuantWeights);
  gsize n = l->size;
  qw->precision = p;
  qw->deq = g_new (gdouble, n);

  if (p == PHYSNN_PRECISION_FP32) {
    memcpy (qw->deq, w, n * sizeof (gdouble));
    return qw;
  }
  if (p == PHYSNN_PRECISION_FP16) {
    qw->stored = physnn_tensor_new (PHYSNN_DTYPE_FLOAT16, l->rank, l->shape);
    guint16 *h = physnn_tensor_map (qw->stored, PHYSNN_MAP_WRITE, NULL);
    for (gsize i = 0; i < n; i++) {
      h[i] = physnn_half_from_float ((gfloat)w[i]);
      qw->deq[i] = physnn_half_to_float (h[i]);
      qw->sq_error += (qw->deq[i] - w[i]) * (qw->deq[i] - w[i]);
    }
    physnn_tensor_unmap (qw->stored);
    return qw;
  }

  guint bits = physnn_precision_get_bits (p);
  gsize C = self->per_channel ? l->shape[l->axis] : 1;
  gsize inner = 1;
  for (guint d = l->axis + 1; d < l->rank; d++)
    inner *= l->shape[d];
  gsize outer = n / (C * inner);
  qw->channels = C;
  qw->sgn = self->symmetric;
  qw->scale = g_new (gfloat, C);
  qw->zero = g_new0 (gint32, C);
  qw->stored = physnn_tensor_new (
      self->symmetric ? PHYSNN_DTYPE_INT8 : PHYSNN_DTYPE_UINT8, l->rank,
      l->shape);
  guint8 *st = physnn_tensor_map (qw->stored, PHYSNN_MAP_WRITE, NULL);
  gboolean given = use_given && l->given_scale && l->precision == p &&
                   l->given_channels == C;
  const gdouble *tq =
      given && l->tuned && l->tuned_precision == p ? l->tuned : NULL;
  g_autofree gdouble *chan = g_new (gdouble, n / C);

  for (gsize c = 0; c < C; c++) {
    gint32 qmin, qmax;
    /* gather the channel's weights */
    gsize m = 0;
    for (gsize o = 0; o < outer; o++)
      for (gsize k = 0; k < inner; k++)
        chan[m++] = w[(o * C + c) * inner + k];
    if (given) {
      qw->scale[c] = l->given_scale[c];
      qw->zero[c] = l->given_zero ? l->given_zero[c] : 0;
      qmax = self->symmetric ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
      qmin = self->symmetric ? -qmax : 0;
    } else {
      gdouble lo, hi;
      weight_range (self, chan, m, 1, bits, &lo, &hi);
      _physnn_quant_params (lo, hi, bits, self->symmetric, &qw->scale[c],
          &qw->zero[c], &qmin, &qmax);
    }
    for (gsize o = 0; o < outer; o++)
      for (gsize k = 0; k < inner; k++) {
        gsize i = (o * C + c) * inner + k;
        gdouble q = tq ? tq[i]
                       : quantize_one (
                             w[i], qw->scale[c], qw->zero[c], qmin, qmax);
        if (self->symmetric)
          ((gint8 *)st)[i] = (gint8)q;
        else
          st[i] = (guint8)q;
        qw->deq[i] = (q - qw->zero[c]) * (gdouble)qw->scale[c];
        qw->sq_error += (qw->deq[i] - w[i]) * (qw->deq[i] - w[i]);
      }
  }
  physnn_tensor_unmap (qw->stored);
  return qw;
}

static PhysnnQuantWeights *
compute_weights (PhysnnQuantPlan *self, PhysnnQuantLayer *l, PhysnnPrecision p)
{
  const gdouble *w = g_hash_table_lookup (self->originals, l->weight);
  /* fine-tuned float values take the place of the model's weights */
  if (l->tuned && l->tuned_precision == p && p <= PHYSNN_PRECISION_FP16)
    w = l->tuned;
  return quantize_values (self, l, p, w, TRUE);
}

PhysnnQuantWeights *
_physnn_quant_plan_quantize_values (PhysnnQuantPlan *self, guint layer,
    PhysnnPrecision precision, const gdouble *w)
{
  PhysnnQuantLayer *l = _physnn_quant_plan_layer (self, layer);
  g_return_val_if_fail (l != NULL, NULL);
  return quantize_values (self, l, precision, w, FALSE);
}

void
_physnn_quant_weights_unref (PhysnnQuantWeights *w)
{
  weights_unref (w);
}

const PhysnnQuantWeights *
_physnn_quant_plan_weights (
    PhysnnQuantPlan *self, guint layer, PhysnnPrecision p, GError **error)
{
  PhysnnQuantLayer *l = _physnn_quant_plan_layer (self, layer);
  if (l == NULL || (guint)p > PHYSNN_PRECISION_INT4) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "no layer %u", layer);
    return NULL;
  }
  if (l->qw[p] == NULL)
    l->qw[p] = compute_weights (self, l, p);
  return l->qw[p];
}

const gdouble *
_physnn_quant_plan_dequantized (
    PhysnnQuantPlan *self, guint layer, GError **error)
{
  PhysnnQuantLayer *l = _physnn_quant_plan_layer (self, layer);
  const PhysnnQuantWeights *qw =
      l ? _physnn_quant_plan_weights (self, layer, l->precision, error) : NULL;
  return qw ? qw->deq : NULL;
}

const gdouble *
_physnn_quant_plan_original (PhysnnQuantPlan *self, guint layer)
{
  PhysnnQuantLayer *l = _physnn_quant_plan_layer (self, layer);
  return l ? g_hash_table_lookup (self->originals, l->weight) : NULL;
}

/* ------------------------------------------------------------------------ */
/* Sizes */

static guint64
layer_bytes (PhysnnQuantPlan *self, PhysnnQuantLayer *l, PhysnnPrecision p)
{
  gsize C = self->per_channel ? l->shape[l->axis] : 1;
  guint64 b;
  switch (p) {
    case PHYSNN_PRECISION_FP32:
      return (guint64)l->size * 4;
    case PHYSNN_PRECISION_FP16:
      return (guint64)l->size * 2;
    case PHYSNN_PRECISION_INT8:
      b = l->size + C * 4 + (self->symmetric ? 0 : C);
      break;
    default:
      b = (l->size + 1) / 2 + C * 4 + (self->symmetric ? 0 : (C + 1) / 2);
      break;
  }
  /* an int8 input activation: its scale and zero point */
  if (l->act)
    b += 4 + 1;
  return b;
}

guint64
_physnn_quant_plan_bytes_of (
    PhysnnQuantPlan *self, const PhysnnPrecision *precisions)
{
  guint64 total = self->other_bytes;
  for (guint i = 0; i < self->layers->len; i++) {
    PhysnnQuantLayer *l = g_ptr_array_index (self->layers, i);
    total += layer_bytes (self, l, precisions ? precisions[i] : l->precision);
  }
  return total;
}

guint64
_physnn_quant_plan_fp32_bytes (PhysnnQuantPlan *self)
{
  guint64 total = self->other_bytes;
  for (guint i = 0; i < self->layers->len; i++)
    total += (guint64)((PhysnnQuantLayer *)g_ptr_array_index (self->layers, i))
                 ->size *
             4;
  return total;
}

/**
 * physnn_quant_plan_get_average_bits:
 * @self: a #PhysnnQuantPlan
 *
 * Returns: the average bits per weight over all layers, weighted by their
 *   sizes (scales, zero points and biases not counted; see
 *   physnn_quant_plan_estimate_compression() for exact bytes)
 */
gdouble
physnn_quant_plan_get_average_bits (PhysnnQuantPlan *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), 0);
  gdouble bits = 0, n = 0;
  for (guint i = 0; i < self->layers->len; i++) {
    PhysnnQuantLayer *l = g_ptr_array_index (self->layers, i);
    bits += (gdouble)l->size * physnn_precision_get_bits (l->precision);
    n += l->size;
  }
  return n > 0 ? bits / n : 32.0;
}

/**
 * physnn_quant_plan_estimate_compression:
 * @self: a #PhysnnQuantPlan
 * @fp32_bytes: (out) (optional): bytes of the model's initializers as
 *   shipped (float32 weights)
 * @bytes: (out) (optional): exact bytes of the quantized model's
 *   initializers: packed weights (two int4 per byte), float32 scales, zero
 *   points, float32 biases and everything else unchanged
 * @ratio: (out) (optional): @fp32_bytes / @bytes
 * @memory_reduction: (out) (optional): 1 - @bytes / @fp32_bytes
 *
 * The figures are exact counts, not estimates: they equal the initializer
 * payload of the exported QDQ model. Speed-ups are not estimated here: the
 * benchmark (bench/quant-bench) measures them.
 *
 * Returns: %TRUE
 */
gboolean
physnn_quant_plan_estimate_compression (PhysnnQuantPlan *self,
    guint64 *fp32_bytes, guint64 *bytes, gdouble *ratio,
    gdouble *memory_reduction)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), FALSE);
  guint64 f = _physnn_quant_plan_fp32_bytes (self);
  guint64 b = _physnn_quant_plan_bytes_of (self, NULL);
  if (fp32_bytes)
    *fp32_bytes = f;
  if (bytes)
    *bytes = b;
  if (ratio)
    *ratio = b ? (gdouble)f / b : 0;
  if (memory_reduction)
    *memory_reduction = f ? 1.0 - (gdouble)b / f : 0;
  return TRUE;
}

/**
 * physnn_quant_plan_describe:
 * @self: a #PhysnnQuantPlan
 *
 * Returns: (transfer full): one line per layer and a summary, for people
 */
gchar *
physnn_quant_plan_describe (PhysnnQuantPlan *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), NULL);
  GString *s = g_string_new (NULL);
  guint64 f, b;
  gdouble ratio;
  for (guint i = 0; i < self->layers->len; i++) {
    PhysnnQuantLayer *l = g_ptr_array_index (self->layers, i);
    g_string_append_printf (s,
        "  %-28s %-6s %7" G_GSIZE_FORMAT " weights  "
        "%s%s%s%s%s\n",
        l->name, l->op_type, l->size, physnn_precision_to_string (l->precision),
        l->pinned ? " (pinned)" : "",
        l->act && l->precision >= PHYSNN_PRECISION_INT8 ? ", int8 input" : "",
        physnn_quant_plan_get_fine_tuned (self, i) ? ", fine-tuned" : "",
        l->bias_fix ? ", bias corrected" : "");
  }
  physnn_quant_plan_estimate_compression (self, &f, &b, &ratio, NULL);
  g_string_append_printf (s,
      "average %.2f bits per weight; %" G_GUINT64_FORMAT
      " bytes vs %" G_GUINT64_FORMAT " fp32 (%.2fx); weights %s %s, "
      "calibrated by %s",
      physnn_quant_plan_get_average_bits (self), b, f, ratio,
      self->per_channel ? "per channel" : "per tensor",
      self->symmetric ? "symmetric" : "asymmetric",
      physnn_calibration_to_string (self->wcal));
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------------ */
/* JSON */

static JsonNode *
float_array (const gfloat *v, gsize n)
{
  JsonArray *a = json_array_sized_new (n);
  for (gsize i = 0; i < n; i++)
    json_array_add_double_element (a, v[i]);
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (node, a);
  return node;
}

/**
 * physnn_quant_plan_to_json:
 * @self: a #PhysnnQuantPlan
 *
 * The plan as JSON: the weight and activation settings, a summary (average
 * bits, exact bytes, compression) and per layer its node, weight, shape,
 * precision, scales and zero points (for integer precisions) and, when
 * calibrated, its input's range, scale and zero point.
 *
 * Returns: (transfer full): the JSON text
 */
gchar *
physnn_quant_plan_to_json (PhysnnQuantPlan *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), NULL);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  guint64 f, bytes;
  gdouble ratio;
  physnn_quant_plan_estimate_compression (self, &f, &bytes, &ratio, NULL);
  g_autofree gchar *base =
      g_path_get_basename (physnn_model_get_path (self->model));

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_string_value (b, PLAN_FORMAT);
  json_builder_set_member_name (b, "version");
  json_builder_add_int_value (b, 1);
  json_builder_set_member_name (b, "model");
  json_builder_add_string_value (b, base);
  json_builder_set_member_name (b, "weights");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "granularity");
  json_builder_add_string_value (
      b, self->per_channel ? "per-channel" : "per-tensor");
  json_builder_set_member_name (b, "symmetric");
  json_builder_add_boolean_value (b, self->symmetric);
  json_builder_set_member_name (b, "calibration");
  json_builder_add_string_value (b, physnn_calibration_to_string (self->wcal));
  json_builder_set_member_name (b, "percentile");
  json_builder_add_double_value (b, self->wpercentile);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "summary");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "average_bits");
  json_builder_add_double_value (b, physnn_quant_plan_get_average_bits (self));
  json_builder_set_member_name (b, "bytes");
  json_builder_add_int_value (b, (gint64)bytes);
  json_builder_set_member_name (b, "fp32_bytes");
  json_builder_add_int_value (b, (gint64)f);
  json_builder_set_member_name (b, "compression");
  json_builder_add_double_value (b, ratio);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "layers");
  json_builder_begin_array (b);
  for (guint i = 0; i < self->layers->len; i++) {
    PhysnnQuantLayer *l = g_ptr_array_index (self->layers, i);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "name");
    json_builder_add_string_value (b, l->name);
    json_builder_set_member_name (b, "op");
    json_builder_add_string_value (b, l->op_type);
    json_builder_set_member_name (b, "weight");
    json_builder_add_string_value (b, l->weight);
    json_builder_set_member_name (b, "shape");
    json_builder_begin_array (b);
    for (guint d = 0; d < l->rank; d++)
      json_builder_add_int_value (b, (gint64)l->shape[d]);
    json_builder_end_array (b);
    json_builder_set_member_name (b, "precision");
    json_builder_add_string_value (
        b, physnn_precision_to_string (l->precision));
    json_builder_set_member_name (b, "pinned");
    json_builder_add_boolean_value (b, l->pinned);
    if (l->precision >= PHYSNN_PRECISION_INT8) {
      const PhysnnQuantWeights *qw =
          _physnn_quant_plan_weights (self, i, l->precision, NULL);
      json_builder_set_member_name (b, "axis");
      json_builder_add_int_value (b, self->per_channel ? (gint64)l->axis : -1);
      json_builder_set_member_name (b, "scales");
      json_builder_add_value (b, float_array (qw->scale, qw->channels));
      json_builder_set_member_name (b, "zero_points");
      json_builder_begin_array (b);
      for (gsize c = 0; c < qw->channels; c++)
        json_builder_add_int_value (b, qw->zero[c]);
      json_builder_end_array (b);
      json_builder_set_member_name (b, "calibration");
      json_builder_add_string_value (
          b, physnn_calibration_to_string (self->wcal));
    }
    if (physnn_quant_plan_get_fine_tuned (self, i)) {
      /* integers as integers: the stored values, exactly */
      gboolean ints = l->precision >= PHYSNN_PRECISION_INT8;
      json_builder_set_member_name (b, ints ? "q" : "values");
      JsonArray *ta = json_array_sized_new (l->size);
      for (gsize k = 0; k < l->size; k++)
        if (ints)
          json_array_add_int_element (ta, (gint64)l->tuned[k]);
        else
          json_array_add_double_element (ta, l->tuned[k]);
      JsonNode *tn = json_node_new (JSON_NODE_ARRAY);
      json_node_take_array (tn, ta);
      json_builder_add_value (b, tn);
    }
    if (l->bias_fix) {
      json_builder_set_member_name (b, "bias");
      JsonArray *ba = json_array_sized_new (l->bias_size);
      for (gsize k = 0; k < l->bias_size; k++)
        json_array_add_double_element (ba, l->bias_fix[k]);
      JsonNode *bn = json_node_new (JSON_NODE_ARRAY);
      json_node_take_array (bn, ba);
      json_builder_add_value (b, bn);
    }
    if (l->act) {
      json_builder_set_member_name (b, "activation");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "precision");
      json_builder_add_string_value (b, "int8");
      json_builder_set_member_name (b, "min");
      json_builder_add_double_value (b, l->act_min);
      json_builder_set_member_name (b, "max");
      json_builder_add_double_value (b, l->act_max);
      json_builder_set_member_name (b, "scale");
      json_builder_add_double_value (b, l->act_scale);
      json_builder_set_member_name (b, "zero_point");
      json_builder_add_int_value (b, l->act_zero);
      json_builder_set_member_name (b, "calibration");
      json_builder_add_string_value (
          b, physnn_calibration_to_string (l->act_method));
      json_builder_end_object (b);
    }
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);

  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_indent (gen, 2);
  return json_generator_to_data (gen, NULL);
}

/**
 * physnn_quant_plan_save:
 * @self: a #PhysnnQuantPlan
 * @path: the JSON file to write
 * @error: return location for a #GError
 *
 * Writes the plan to a temporary file beside @path and renames it, so that
 * readers never see a partial plan.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_plan_save (
    PhysnnQuantPlan *self, const gchar *path, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (self), FALSE);
  g_autofree gchar *json = physnn_quant_plan_to_json (self);
  /* g_file_set_contents writes a temporary file and renames it */
  return g_file_set_contents (path, json, -1, error);
}

/* Reading: every field is checked; an error names the plan, the field and
 * what was expected. */
typedef struct {
  const gchar *label;
  GError **error;
} Reader;

static gboolean bad (Reader *r, const gchar *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
bad (Reader *r, const gchar *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree gchar *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (
      r->error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT, "%s: %s", r->label, msg);
  return FALSE;
}

static const gchar *
get_string (JsonObject *o, const gchar *member)
{
  JsonNode *n = json_object_get_member (o, member);
  return n && JSON_NODE_HOLDS_VALUE (n) &&
                 json_node_get_value_type (n) == G_TYPE_STRING
             ? json_node_get_string (n)
             : NULL;
}

static gboolean
get_number (JsonObject *o, const gchar *member, gdouble *out)
{
  JsonNode *n = json_object_get_member (o, member);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return FALSE;
  GType t = json_node_get_value_type (n);
  if (t == G_TYPE_DOUBLE)
    *out = json_node_get_double (n);
  else if (t == G_TYPE_INT64)
    *out = (gdouble)json_node_get_int (n);
  else
    return FALSE;
  return isfinite (*out);
}

static gboolean
read_layer (Reader *r, PhysnnQuantPlan *self, JsonNode *node, guint index,
    gboolean *seen)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return bad (r, "layers[%u] is not an object", index);
  JsonObject *o = json_node_get_object (node);
  const gchar *name = get_string (o, "name");
  if (name == NULL)
    return bad (r, "layers[%u] has no \"name\" string", index);
  gint li = physnn_quant_plan_find_layer (self, name);
  if (li < 0) {
    GString *names = g_string_new (NULL);
    for (guint i = 0; i < self->layers->len; i++)
      g_string_append_printf (names, "%s\"%s\"", i ? ", " : "",
          ((PhysnnQuantLayer *)g_ptr_array_index (self->layers, i))->name);
    bad (r,
        "layers[%u] names \"%s\", which is not a quantizable layer of "
        "%s (its layers: %s)",
        index, name, physnn_model_get_path (self->model), names->str);
    g_string_free (names, TRUE);
    return FALSE;
  }
  if (seen[li])
    return bad (r, "layer \"%s\" appears twice", name);
  seen[li] = TRUE;
  PhysnnQuantLayer *l = g_ptr_array_index (self->layers, li);

  JsonNode *sn = json_object_get_member (o, "shape");
  if (sn) {
    JsonArray *a = JSON_NODE_HOLDS_ARRAY (sn) ? json_node_get_array (sn) : NULL;
    gboolean same = a && json_array_get_length (a) == l->rank;
    for (guint d = 0; same && d < l->rank; d++) {
      JsonNode *e = json_array_get_element (a, d);
      same = JSON_NODE_HOLDS_VALUE (e) &&
             json_node_get_value_type (e) == G_TYPE_INT64 &&
             json_node_get_int (e) == (gint64)l->shape[d];
    }
    if (!same)
      return bad (r,
          "layer \"%s\": the plan's weight shape does not match "
          "the model's (the plan was made for another model?)",
          name);
  }
  const gchar *ps = get_string (o, "precision");
  PhysnnPrecision p;
  if (ps == NULL || !physnn_precision_from_string (ps, &p))
    return bad (r,
        "layer \"%s\": precision \"%s\" is not one of fp32, fp16, "
        "int8, int4",
        name, ps ? ps : "(missing)");
  JsonNode *pn = json_object_get_member (o, "pinned");
  if (pn && JSON_NODE_HOLDS_VALUE (pn) && json_node_get_boolean (pn))
    l->pinned = TRUE;
  if (l->pinned && p != PHYSNN_PRECISION_FP32)
    return bad (r, "layer \"%s\" is pinned but has precision %s", name, ps);
  l->precision = p;

  JsonNode *scn = json_object_get_member (o, "scales");
  if (scn && p >= PHYSNN_PRECISION_INT8) {
    JsonArray *a =
        JSON_NODE_HOLDS_ARRAY (scn) ? json_node_get_array (scn) : NULL;
    gsize C = self->per_channel ? l->shape[l->axis] : 1;
    if (a == NULL || json_array_get_length (a) != C)
      return bad (r,
          "layer \"%s\": %u scales, expected %" G_GSIZE_FORMAT " (%s)", name,
          a ? json_array_get_length (a) : 0, C,
          self->per_channel ? "one per output channel" : "per tensor");
    JsonNode *zn = json_object_get_member (o, "zero_points");
    JsonArray *za =
        zn && JSON_NODE_HOLDS_ARRAY (zn) ? json_node_get_array (zn) : NULL;
    if (za && json_array_get_length (za) != C)
      return bad (r,
          "layer \"%s\": %u zero points for %" G_GSIZE_FORMAT " scales", name,
          json_array_get_length (za), C);
    guint bits = physnn_precision_get_bits (p);
    gint32 qmin = self->symmetric ? -((1 << (bits - 1)) - 1) : 0;
    gint32 qmax = self->symmetric ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
    l->given_channels = C;
    l->given_scale = g_new (gfloat, C);
    l->given_zero = g_new0 (gint32, C);
    for (gsize c = 0; c < C; c++) {
      JsonNode *e = json_array_get_element (a, c);
      gdouble v = JSON_NODE_HOLDS_VALUE (e) ? json_node_get_double (e) : -1;
      if (!(v > 0) || !isfinite (v) || !isfinite ((gfloat)v))
        return bad (r,
            "layer \"%s\": scale %" G_GSIZE_FORMAT " is %g; "
            "scales must be positive finite float32 numbers",
            name, c, v);
      l->given_scale[c] = (gfloat)v;
      if (za) {
        JsonNode *ze = json_array_get_element (za, c);
        gint64 z = JSON_NODE_HOLDS_VALUE (ze) &&
                           json_node_get_value_type (ze) == G_TYPE_INT64
                       ? json_node_get_int (ze)
                       : G_MININT64;
        if (z < qmin || z > qmax || (self->symmetric && z != 0))
          return bad (r,
              "layer \"%s\": zero point %" G_GSIZE_FORMAT " is "
              "%" G_GINT64_FORMAT "; expected %s",
              name, c, z,
              self->symmetric ? "0 (symmetric)" : "an integer in range");
        l->given_zero[c] = (gint32)z;
      }
    }
  }
  JsonNode *bn = json_object_get_member (o, "bias");
  if (bn) {
    JsonArray *a = JSON_NODE_HOLDS_ARRAY (bn) ? json_node_get_array (bn) : NULL;
    if (a == NULL || l->bias == NULL ||
        json_array_get_length (a) != l->bias_size)
      return bad (r,
          "layer \"%s\": \"bias\" must be an array of %" G_GSIZE_FORMAT
          " numbers (the layer's bias)",
          name, l->bias_size);
    g_autofree gdouble *v = g_new (gdouble, l->bias_size);
    for (gsize k = 0; k < l->bias_size; k++) {
      JsonNode *e = json_array_get_element (a, k);
      GType t = JSON_NODE_HOLDS_VALUE (e) ? json_node_get_value_type (e) : 0;
      if (t != G_TYPE_DOUBLE && t != G_TYPE_INT64)
        return bad (r,
            "layer \"%s\": bias %" G_GSIZE_FORMAT " is not a "
            "number",
            name, k);
      v[k] = json_node_get_double (e);
    }
    GError *e = NULL;
    if (!physnn_quant_plan_set_bias_correction (
            self, (guint)li, v, l->bias_size, &e)) {
      bad (r, "%s", e->message);
      g_error_free (e);
      return FALSE;
    }
  }
  JsonNode *qn = json_object_get_member (o, "q");
  JsonNode *vn = json_object_get_member (o, "values");
  if (qn || vn) {
    gboolean ints = p >= PHYSNN_PRECISION_INT8;
    const gchar *field = qn ? "q" : "values";
    if (qn && vn)
      return bad (r, "layer \"%s\" has both \"q\" and \"values\"", name);
    if ((qn != NULL) != ints)
      return bad (r,
          "layer \"%s\": \"%s\" does not fit precision %s (fine-tuned "
          "int8/int4 weights are \"q\", fp16/fp32 ones \"values\")",
          name, field, ps);
    if (ints && l->given_scale == NULL)
      return bad (r, "layer \"%s\": fine-tuned integers need \"scales\"",
          name);
    JsonNode *tn = qn ? qn : vn;
    JsonArray *a = JSON_NODE_HOLDS_ARRAY (tn) ? json_node_get_array (tn) : NULL;
    if (a == NULL || json_array_get_length (a) != l->size)
      return bad (r,
          "layer \"%s\": \"%s\" must be an array of %" G_GSIZE_FORMAT
          " numbers (the weight's size)",
          name, field, l->size);
    g_autofree gdouble *v = g_new (gdouble, l->size);
    for (gsize k = 0; k < l->size; k++) {
      JsonNode *e = json_array_get_element (a, k);
      GType t = JSON_NODE_HOLDS_VALUE (e) ? json_node_get_value_type (e) : 0;
      if (t != G_TYPE_INT64 && (ints || t != G_TYPE_DOUBLE))
        return bad (r, "layer \"%s\": %s[%" G_GSIZE_FORMAT "] is not %s",
            name, field, k, ints ? "an integer" : "a number");
      v[k] = t == G_TYPE_INT64 ? (gdouble)json_node_get_int (e)
                               : json_node_get_double (e);
    }
    GError *e = NULL;
    if (!_physnn_quant_plan_set_tuned (self, (guint)li, v, l->size,
            l->given_scale, l->given_zero, l->given_channels, &e)) {
      bad (r, "%s", e->message);
      g_error_free (e);
      return FALSE;
    }
  }
  JsonNode *an = json_object_get_member (o, "activation");
  if (an) {
    JsonObject *ao =
        JSON_NODE_HOLDS_OBJECT (an) ? json_node_get_object (an) : NULL;
    gdouble mn, mx;
    PhysnnCalibration m = PHYSNN_CALIBRATION_MINMAX;
    const gchar *ms = ao ? get_string (ao, "calibration") : NULL;
    if (ao == NULL || !get_number (ao, "min", &mn) ||
        !get_number (ao, "max", &mx) || mn > mx)
      return bad (r, "layer \"%s\": activation needs numbers min <= max", name);
    if (ms && !physnn_calibration_from_string (ms, &m))
      return bad (r,
          "layer \"%s\": activation calibration \"%s\" is not "
          "one of minmax, percentile, mse, kl",
          name, ms);
    physnn_quant_plan_set_activation_range (self, (guint)li, mn, mx, m, NULL);
  }
  return TRUE;
}

static PhysnnQuantPlan *
plan_read (PhysnnModel *model, const gchar *json, Reader *r)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  GError *local = NULL;
  if (!json_parser_load_from_data (parser, json, -1, &local)) {
    bad (r, "not JSON: %s", local->message);
    g_error_free (local);
    return NULL;
  }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    bad (r, "the top level is not an object");
    return NULL;
  }
  JsonObject *o = json_node_get_object (root);
  const gchar *format = get_string (o, "format");
  if (format == NULL || strcmp (format, PLAN_FORMAT) != 0) {
    bad (r, "\"format\" is \"%s\", expected \"" PLAN_FORMAT "\"",
        format ? format : "(missing)");
    return NULL;
  }
  gdouble version = 0;
  if (!get_number (o, "version", &version) || version != 1) {
    bad (r, "\"version\" %g is not supported (1 is)", version);
    return NULL;
  }
  g_autoptr (PhysnnQuantPlan) self = physnn_quant_plan_new (model, r->error);
  if (self == NULL)
    return NULL;

  JsonNode *wn = json_object_get_member (o, "weights");
  if (wn) {
    if (!JSON_NODE_HOLDS_OBJECT (wn)) {
      bad (r, "\"weights\" is not an object");
      return NULL;
    }
    JsonObject *w = json_node_get_object (wn);
    const gchar *g = get_string (w, "granularity");
    const gchar *c = get_string (w, "calibration");
    JsonNode *sym = json_object_get_member (w, "symmetric");
    gdouble pct = 99.99;
    if (g && strcmp (g, "per-channel") != 0 && strcmp (g, "per-tensor") != 0) {
      bad (r,
          "weights.granularity \"%s\" is not per-channel or "
          "per-tensor",
          g);
      return NULL;
    }
    if (g)
      self->per_channel = strcmp (g, "per-channel") == 0;
    if (sym) {
      if (!JSON_NODE_HOLDS_VALUE (sym) ||
          json_node_get_value_type (sym) != G_TYPE_BOOLEAN) {
        bad (r, "weights.symmetric is not true or false");
        return NULL;
      }
      self->symmetric = json_node_get_boolean (sym);
    }
    if (c && !physnn_calibration_from_string (c, &self->wcal)) {
      bad (r,
          "weights.calibration \"%s\" is not one of minmax, "
          "percentile, mse, kl",
          c);
      return NULL;
    }
    if (json_object_has_member (w, "percentile") &&
        (!get_number (w, "percentile", &pct) || pct <= 50 || pct > 100)) {
      bad (r, "weights.percentile must be a number in (50, 100]");
      return NULL;
    }
    self->wpercentile = pct;
  }
  JsonNode *ln = json_object_get_member (o, "layers");
  if (ln == NULL || !JSON_NODE_HOLDS_ARRAY (ln)) {
    bad (r, "\"layers\" is missing or not an array");
    return NULL;
  }
  JsonArray *layers = json_node_get_array (ln);
  g_autofree gboolean *seen = g_new0 (gboolean, self->layers->len);
  for (guint i = 0; i < json_array_get_length (layers); i++)
    if (!read_layer (r, self, json_array_get_element (layers, i), i, seen))
      return NULL;
  return g_steal_pointer (&self);
}

/**
 * physnn_quant_plan_new_from_data:
 * @model: the model the plan is for
 * @json: a plan as written by physnn_quant_plan_to_json()
 * @error: return location for a #GError
 *
 * Reads a plan. Layers the plan does not list stay fp32; a layer the model
 * does not have, a weight shape that differs, an unknown precision or
 * calibration method, or scales of the wrong count are errors. Scales and
 * zero points in the plan are used as given.
 *
 * Returns: (transfer full): the plan, or %NULL with @error set
 */
PhysnnQuantPlan *
physnn_quant_plan_new_from_data (
    PhysnnModel *model, const gchar *json, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (model), NULL);
  g_return_val_if_fail (json != NULL, NULL);
  Reader r = { "plan", error };
  return plan_read (model, json, &r);
}

/**
 * physnn_quant_plan_new_from_file:
 * @model: the model the plan is for
 * @path: a JSON plan file
 * @error: return location for a #GError
 *
 * As physnn_quant_plan_new_from_data(), from a file (at most 64 MiB).
 *
 * Returns: (transfer full): the plan, or %NULL with @error set
 */
PhysnnQuantPlan *
physnn_quant_plan_new_from_file (
    PhysnnModel *model, const gchar *path, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (model), NULL);
  g_return_val_if_fail (path != NULL, NULL);
  g_autofree gchar *text = NULL;
  gsize len;
  GStatBuf st;
  if (g_stat (path, &st) == 0 && st.st_size > (64 << 20)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: %" G_GINT64_FORMAT " bytes is too large for a plan", path,
        (gint64)st.st_size);
    return NULL;
  }
  if (!g_file_get_contents (path, &text, &len, error))
    return NULL;
  Reader r = { path, error };
  return plan_read (model, text, &r);
}
