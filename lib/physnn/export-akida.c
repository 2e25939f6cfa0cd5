/* physnn — Akida export. BrainChip's .fbz model format is closed, so
 * physnn writes what BrainChip's QuantizeML/CNN2SNN tools consume: an ONNX
 * model whose weights are 4-bit integers (stored as int8 in −7…7, per
 * output channel scales, DequantizeLinear at opset 13 so that Debian's
 * onnx 1.12 and any ONNX Runtime read it), in the rate-coded form Akida
 * runs: MatMul → Add(bias) → Relu per layer, the spiking neuron replaced
 * by the rectified activation its firing rate approximates. Platform
 * constraints (AKD1000: 1/2/4-bit weights beyond the input layer) are
 * checked before writing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/neuro-private.h"
#include "physnn/error.h"
#include "physnn/onnx-private.h"
#include "physnn/version.h"

#include <math.h>
#include <string.h>

#define LEVELS 7 /* symmetric 4-bit: −7…7 (int4 holds −8…7) */

static void
add_init (PhysnnOnnxModel *m, const gchar *name, PhysnnTensor *t)
{
  g_hash_table_replace (m->initializers, g_strdup (name), t);
  g_ptr_array_add (m->initializer_names, g_strdup (name));
}

static PhysnnOnnxNode *
node (PhysnnOnnxModel *m, const gchar *op, const gchar *name, const gchar *a,
    const gchar *b, const gchar *c, const gchar *out)
{
  PhysnnOnnxNode *n = physnn_onnx_node_new (op, name);
  const gchar *in[] = { a, b, c };
  for (guint i = 0; i < 3 && in[i]; i++)
    g_ptr_array_add (n->inputs, g_strdup (in[i]));
  g_ptr_array_add (n->outputs, g_strdup (out));
  g_ptr_array_add (m->nodes, n);
  return n;
}

gboolean
_physnn_neuro_write_akida (
    PhysnnNeuroNet *net, const gchar *path, GError **error)
{
  g_autoptr (PhysnnOnnxModel) m = physnn_onnx_model_new ();
  m->ir_version = 7;
  m->opset = 13;
  m->producer_name = g_strdup ("physnn");
  m->producer_version = g_strdup (PHYSNN_VERSION_STRING);
  m->graph_name = g_strdup ("physnn_akida");
  m->doc_string = g_strdup (
      "Rate-coded form of a spiking network for BrainChip QuantizeML: "
      "4-bit weights (int8 storage, -7..7, per-channel scales). Akida's "
      ".fbz format is closed; convert this model with BrainChip's tools.");
  g_hash_table_insert (
      m->metadata, g_strdup ("physnn_weight_bits"), g_strdup ("4"));
  g_hash_table_insert (
      m->metadata, g_strdup ("physnn_dt"), g_strdup_printf ("%g", net->dt));

  gint64 in_dims[2] = { 1, (gint64)net->n_inputs };
  g_ptr_array_add (m->inputs,
      physnn_onnx_value_info_new ("rates", PHYSNN_DTYPE_FLOAT32, 2, in_dims));
  g_autofree gchar *cur = g_strdup ("rates");
  for (guint li = 0; li < net->layers->len; li++) {
    NeuroLayer *l = g_ptr_array_index (net->layers, li);
    /* ONNX MatMul: x [1, in] · W [in, out]; NIR stores (out, in). */
    gsize wshape[2] = { l->n_in, l->n_out };
    PhysnnTensor *q = physnn_tensor_new (PHYSNN_DTYPE_INT8, 2, wshape);
    gint8 *qp = physnn_tensor_map (q, PHYSNN_MAP_WRITE, NULL);
    g_autofree gfloat *scale = g_new (gfloat, l->n_out);
    for (gsize o = 0; o < l->n_out; o++) {
      gdouble amax = 0;
      for (gsize k = 0; k < l->n_in; k++)
        amax = MAX (amax, fabs (l->w[o * l->n_in + k]));
      gdouble s = amax > 0 ? amax / LEVELS : 1.0;
      scale[o] = (gfloat)s;
      for (gsize k = 0; k < l->n_in; k++) {
        gdouble v = nearbyint (l->w[o * l->n_in + k] / scale[o]);
        qp[k * l->n_out + o] = (gint8)CLAMP (v, -LEVELS, LEVELS);
      }
    }
    physnn_tensor_unmap (q);
    gsize sshape[1] = { l->n_out };
    PhysnnTensor *st = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, sshape);
    memcpy (physnn_tensor_map (st, PHYSNN_MAP_WRITE, NULL), scale,
        l->n_out * sizeof (gfloat));
    physnn_tensor_unmap (st);
    PhysnnTensor *zt = physnn_tensor_new (PHYSNN_DTYPE_INT8, 1, sshape);
    physnn_tensor_fill (zt, 0);
    PhysnnTensor *bt = physnn_tensor_new_from_doubles (
        PHYSNN_DTYPE_FLOAT32, 1, sshape, l->b, l->n_out, NULL);

    g_autofree gchar *wq = g_strdup_printf ("%s_weight_q4", l->syn_name);
    g_autofree gchar *ws = g_strdup_printf ("%s_weight_scale", l->syn_name);
    g_autofree gchar *wz = g_strdup_printf ("%s_weight_zero", l->syn_name);
    g_autofree gchar *wf = g_strdup_printf ("%s_weight", l->syn_name);
    g_autofree gchar *bn = g_strdup_printf ("%s_bias", l->syn_name);
    g_autofree gchar *mm = g_strdup_printf ("%s_matmul", l->syn_name);
    g_autofree gchar *ad = g_strdup_printf ("%s_current", l->syn_name);
    g_autofree gchar *out = li + 1 == net->layers->len
                                ? g_strdup ("output_rates")
                                : g_strdup_printf ("%s_rates", l->neu_name);
    add_init (m, wq, q);
    add_init (m, ws, st);
    add_init (m, wz, zt);
    add_init (m, bn, bt);

    g_autofree gchar *n1 = g_strdup_printf ("%s_DequantizeLinear", l->syn_name);
    PhysnnOnnxNode *dq = node (m, "DequantizeLinear", n1, wq, ws, wz, wf);
    PhysnnOnnxAttribute *axis =
        physnn_onnx_attribute_new ("axis", PHYSNN_ONNX_ATTR_INT);
    axis->i = 1;
    g_ptr_array_add (dq->attributes, axis);
    g_autofree gchar *n2 = g_strdup_printf ("%s_MatMul", l->syn_name);
    node (m, "MatMul", n2, cur, wf, NULL, mm);
    g_autofree gchar *n3 = g_strdup_printf ("%s_Add", l->syn_name);
    node (m, "Add", n3, mm, bn, NULL, ad);
    g_autofree gchar *n4 = g_strdup_printf ("%s_Relu", l->neu_name);
    node (m, "Relu", n4, ad, NULL, NULL, out);
    g_free (cur);
    cur = g_strdup (out);
  }
  gint64 out_dims[2] = { 1, (gint64)physnn_neuro_net_get_n_outputs (net) };
  g_ptr_array_add (m->outputs,
      physnn_onnx_value_info_new (cur, PHYSNN_DTYPE_FLOAT32, 2, out_dims));
  return physnn_onnx_model_save (m, path, error);
}
