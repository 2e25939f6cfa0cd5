/* physnn — packed weight storage and the parameters of Q/DQ nodes, shared by
 * the node-by-node executor, the fused kernel generator and the plan code.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/quant-private.h"
#include "physnn/error.h"
#include "physnn/tensor-private.h"

#include <string.h>

#define VAL(g, i) ((PhysnnValue *) g_ptr_array_index ((g)->values, (i)))

gboolean
_physnn_qdq_params (PhysnnGraph *g, const PhysnnNode *node, guint rank,
    const gsize *shape, PhysnnQdqParams *out, GError **error)
{
  PhysnnTensor *st = VAL (g, node->inputs[1])->constant;
  gint zi = node->n_inputs > 2 ? node->inputs[2] : -1;
  PhysnnTensor *zt = zi >= 0 ? VAL (g, zi)->constant : NULL;

  memset (out, 0, sizeof *out);
  if (st == NULL || (zi >= 0 && zt == NULL)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "%s: node %s (%s): scale and zero point must be constants", g->path,
        node->name, node->op_type);
    return FALSE;
  }
  gsize ns = physnn_tensor_get_n_elements (st);
  out->channels = ns;
  out->inner = 1;
  if (ns > 1) {
    gint64 axis = node->attrs.axis < 0 ? node->attrs.axis + rank :
        node->attrs.axis;
    if (axis < 0 || axis >= (gint64) rank || shape[axis] != ns) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "%s: node %s (%s): %" G_GSIZE_FORMAT " scales do not match axis %"
          G_GINT64_FORMAT " of a rank-%u value", g->path, node->name,
          node->op_type, ns, node->attrs.axis, rank);
      return FALSE;
    }
    for (guint d = (guint) axis + 1; d < rank; d++)
      out->inner *= shape[d];
  }
  out->scale = g_new (gfloat, ns);
  out->zero = g_new0 (gfloat, ns);
  for (gsize i = 0; i < ns; i++) {
    out->scale[i] = (gfloat) physnn_tensor_get_value (st, i);
    if (zt)
      out->zero[i] = (gfloat) physnn_tensor_get_value (zt, i);
  }
  return TRUE;
}

void
_physnn_qdq_params_clear (PhysnnQdqParams *p)
{
  g_clear_pointer (&p->scale, g_free);
  g_clear_pointer (&p->zero, g_free);
}

GBytes *
_physnn_quant_pack (PhysnnTensor *q, guint bits)
{
  gsize n = physnn_tensor_get_n_elements (q);
  const guint8 *src = _physnn_tensor_host (q, PHYSNN_ACCESS_READ);
  if (bits == 8)
    return g_bytes_new (src, n);
  guint8 *dst = g_malloc0 (MAX ((n + 1) / 2, 1));
  for (gsize i = 0; i < n; i++)
    dst[i / 2] |= (guint8) ((src[i] & 15u) << ((i & 1) ? 4 : 0));
  return g_bytes_new_take (dst, (n + 1) / 2);
}

gboolean
_physnn_graph_packed_weight (PhysnnGraph *g, gint value,
    PhysnnPackedWeight *out)
{
  memset (out, 0, sizeof *out);
  if (value < 0)
    return FALSE;
  const PhysnnNode *node = NULL;
  for (guint i = 0; i < g->nodes->len && node == NULL; i++) {
    const PhysnnNode *n = g_ptr_array_index (g->nodes, i);
    if (n->n_outputs == 1 && n->outputs[0] == value)
      node = n;
  }
  if (node == NULL || node->inputs[0] < 0)
    return FALSE;
  PhysnnTensor *t = VAL (g, node->inputs[0])->constant;
  if (t == NULL)
    return FALSE;
  PhysnnDType dt = physnn_tensor_get_dtype (t);
  out->node = node;
  out->stored = t;
  if (node->kind == PHYSNN_OP_CAST)
    return (out->fp16 = dt == PHYSNN_DTYPE_FLOAT16 &&
        node->attrs.to == PHYSNN_DTYPE_FLOAT32);
  if (node->kind != PHYSNN_OP_DEQUANTIZE_LINEAR ||
      (dt != PHYSNN_DTYPE_INT8 && dt != PHYSNN_DTYPE_UINT8))
    return FALSE;
  out->bits = node->attrs.q4 ? 4 : 8;
  out->sgn = dt == PHYSNN_DTYPE_INT8;
  return TRUE;
}
