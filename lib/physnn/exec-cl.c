/* physnn — the OpenCL executor: node by node on device buffers.
 *
 * Values stay on the device from the inputs to the outputs; a value with
 * derivatives is one buffer holding its components back to back
 * ([value | first derivatives | second derivatives], see kernels/graph.cl),
 * so linear ops process all components in one launch (a GEMM simply gets
 * more rows). Integer shape arithmetic runs on the host with the reference
 * code, and data movement reuses the reference path's index maps, copied on
 * the device.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/model-private.h"
#include "physnn/error.h"
#include "physnn/tensor-private.h"
#include "physnn/quant-private.h"

#include <math.h>
#include <string.h>

#define VAL(g, i) ((PhysnnValue *) g_ptr_array_index ((g)->values, (i)))
#define KSRC "graph.cl"
#define MAX_KERNEL_RANK 6

struct _PhysnnClPlan {
  PhysnnDevice *device;
  PhysnnJetSpec spec;
  gchar *options;
  GHashTable *constants;        /* value index -> float32 PhysnnTensor */
};

void
_physnn_cl_plan_free (PhysnnClPlan *plan)
{
  if (plan == NULL)
    return;
  g_clear_object (&plan->device);
  g_free (plan->options);
  g_hash_table_unref (plan->constants);
  g_free (plan);
}

static PhysnnClPlan *
plan_new (PhysnnDevice *device, const PhysnnJetSpec *spec)
{
  PhysnnClPlan *p = g_new0 (PhysnnClPlan, 1);
  GString *pairs = g_string_new (NULL);
  p->device = g_object_ref (device);
  p->spec = *spec;
  for (guint q = 0; q < spec->n_second; q++)
    g_string_append_printf (pairs, "%u,%u,", spec->second_dirs[q][0],
        spec->second_dirs[q][1]);
  g_string_append (pairs, "0,0");
  p->options = g_strdup_printf ("-DJET_NF=%u -DJET_NS=%u -DJET_PAIRS=%s",
      spec->n_first, spec->n_second, pairs->str);
  g_string_free (pairs, TRUE);
  p->constants = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
      g_object_unref);
  return p;
}

/* ------------------------------------------------------------------------ */
/* Run state */

typedef struct {
  PhysnnGraph *g;
  PhysnnClPlan *plan;
  PhysnnDevice *dev;
  const PhysnnJetSpec *spec;
  PhysnnJetValue *vals;         /* comp[c]: shaped views of `flat` */
  PhysnnTensor **flat;          /* per value: float32 [n_comp * numel] */
  const PhysnnNode *node;
  GError **error;
} Exec;

static gboolean
exec_fail (Exec *x, gint code, const gchar *fmt, ...) G_GNUC_PRINTF (3, 4);

static gboolean
exec_fail (Exec *x, gint code, const gchar *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree gchar *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (x->error, PHYSNN_ERROR, code, "%s: node %s (%s) on %s: %s",
      x->g->path, x->node ? x->node->name : "(inputs)",
      x->node ? x->node->op_type : "-", physnn_device_get_spec (x->dev), msg);
  return FALSE;
}

static gsize
numel (guint rank, const gsize *shape)
{
  gsize n = 1;
  for (guint i = 0; i < rank; i++)
    n *= shape[i];
  return n;
}

/* Creates the device value for graph value `idx`: a flat buffer of n_comp
 * components and shaped views of each. */
static gboolean
value_alloc (Exec *x, gint idx, guint n_comp, guint rank, const gsize *shape)
{
  gsize n = numel (rank, shape);
  gsize flat_shape[1] = { MAX (n * n_comp, 1) };
  PhysnnJetValue *v = &x->vals[idx];

  if (n * n_comp > G_MAXUINT32)
    return exec_fail (x, PHYSNN_ERROR_NOT_SUPPORTED, "value of %"
        G_GSIZE_FORMAT " floats exceeds the 2^32 element limit", n * n_comp);
  physnn_jet_value_clear (v);
  g_clear_object (&x->flat[idx]);
  x->flat[idx] = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, flat_shape);
  if (x->flat[idx] == NULL)
    return exec_fail (x, PHYSNN_ERROR_SHAPE, "cannot allocate");
  v->n_comp = n_comp;
  for (guint c = 0; c < n_comp; c++)
    v->comp[c] = physnn_tensor_view (x->flat[idx], c * n, rank, shape, NULL);
  return TRUE;
}

/* An alias: the output shares the input's buffer with another shape. */
static void
value_alias (Exec *x, gint in, gint out, guint rank, const gsize *shape)
{
  PhysnnJetValue *I = &x->vals[in], *O = &x->vals[out];
  gsize n = numel (rank, shape);
  physnn_jet_value_clear (O);
  g_clear_object (&x->flat[out]);
  x->flat[out] = g_object_ref (x->flat[in]);
  O->n_comp = I->n_comp;
  for (guint c = 0; c < O->n_comp; c++)
    O->comp[c] = physnn_tensor_view (x->flat[out], c * n, rank, shape, NULL);
}

static cl_mem
mem_of (Exec *x, gint idx, PhysnnAccess access)
{
  gsize off;
  return _physnn_tensor_get_cl_mem (x->flat[idx], x->dev, access, &off,
      x->error);
}

static gsize
value_n (Exec *x, gint idx)
{
  return physnn_tensor_get_n_elements (x->vals[idx].comp[0]);
}

static cl_kernel
kernel (Exec *x, const gchar *name)
{
  return _physnn_device_get_kernel (x->dev, KSRC, x->plan->options, name,
      x->error);
}

/* A kernel of another program (no jet options). */
static cl_kernel
kernel_in (Exec *x, const gchar *name)
{
  return _physnn_device_get_kernel (x->dev, "quant.cl", NULL, name, x->error);
}

/* A small read-only device buffer holding `size` bytes of `data`. */
static cl_mem
small_buffer (Exec *x, gconstpointer data, gsize size)
{
  cl_int st;
  cl_mem m = clCreateBuffer (_physnn_device_get_context (x->dev),
      CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, MAX (size, 4), (gpointer) data,
      &st);
  if (!_physnn_cl_check (st, "clCreateBuffer", x->error))
    return NULL;
  return m;
}

#define ARG(k, i, v) clSetKernelArg ((k), (i), sizeof (v), &(v))

static gboolean
launch (Exec *x, cl_kernel k, gsize global)
{
  return _physnn_device_enqueue (x->dev, k, 1, &global, NULL, x->error);
}

/* ------------------------------------------------------------------------ */
/* Inputs and constants */

static gboolean
upload_float (Exec *x, gint idx, PhysnnTensor *src, guint n_comp)
{
  guint rank;
  const gsize *shape = physnn_tensor_get_shape (src, &rank);
  if (!value_alloc (x, idx, n_comp, rank, shape))
    return FALSE;
  gsize n = physnn_tensor_get_n_elements (src);
  gfloat *dst = _physnn_tensor_host (x->flat[idx], PHYSNN_ACCESS_WRITE);
  if (physnn_tensor_get_dtype (src) == PHYSNN_DTYPE_FLOAT32)
    memcpy (dst, _physnn_tensor_host (src, PHYSNN_ACCESS_READ), n * 4);
  else {
    g_autoptr (PhysnnTensor) f = physnn_tensor_convert (src,
        PHYSNN_DTYPE_FLOAT32);
    memcpy (dst, _physnn_tensor_host (f, PHYSNN_ACCESS_READ), n * 4);
  }
  return TRUE;
}

static gboolean
seed (Exec *x, gint idx)
{
  const PhysnnJetSpec *s = x->spec;
  gsize n = value_n (x, idx);
  guint rank = physnn_tensor_get_rank (x->vals[idx].comp[0]);
  guint32 cols = (guint32) physnn_tensor_get_dim (x->vals[idx].comp[0],
      rank ? rank - 1 : 0);
  gfloat *p = _physnn_tensor_host (x->flat[idx], PHYSNN_ACCESS_READWRITE);

  /* Derivative components of an input: one-hot columns along its own
   * directions, zero elsewhere. Written on the host together with the
   * values, in one upload. */
  memset (p + n, 0, (s->n_comp - 1) * n * sizeof (gfloat));
  for (guint d = 0; d < s->n_dirs; d++) {
    if (s->dir_input[d] != idx)
      continue;
    gfloat *c = p + (1 + d) * n;
    for (gsize i = 0; i < n; i++)
      if (s->dir_column[d] < 0 || (gint) (i % cols) == s->dir_column[d])
        c[i] = 1.0f;
  }
  return TRUE;
}

static gboolean
constant_value (Exec *x, gint idx)
{
  PhysnnValue *v = VAL (x->g, idx);
  PhysnnTensor *t = v->constant;

  if (!physnn_dtype_is_float (physnn_tensor_get_dtype (t))) {
    x->vals[idx].n_comp = 1;
    x->vals[idx].comp[0] = physnn_tensor_convert (t, PHYSNN_DTYPE_INT64);
    return TRUE;
  }
  /* Weights are uploaded once per plan and reused by every run. */
  PhysnnTensor *cached = g_hash_table_lookup (x->plan->constants,
      GINT_TO_POINTER (idx));
  if (cached == NULL) {
    if (!upload_float (x, idx, t, 1))
      return FALSE;
    if (!physnn_tensor_upload (x->flat[idx], x->dev, x->error))
      return FALSE;
    g_hash_table_insert (x->plan->constants, GINT_TO_POINTER (idx),
        g_object_ref (x->flat[idx]));
    return TRUE;
  }
  guint rank;
  const gsize *shape = physnn_tensor_get_shape (t, &rank);
  x->flat[idx] = g_object_ref (cached);
  x->vals[idx].n_comp = 1;
  x->vals[idx].comp[0] = physnn_tensor_view (cached, 0, rank, shape, NULL);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Elementwise */

static gint
unary_code (PhysnnOpKind k)
{
  return (gint) (k - PHYSNN_OP_IDENTITY);
}

static gboolean
run_unary (Exec *x)
{
  const PhysnnNode *n = x->node;
  gint in = n->inputs[0], out = n->outputs[0];
  PhysnnTensor *v = x->vals[in].comp[0];
  guint rank;
  const gsize *shape = physnn_tensor_get_shape (v, &rank);
  guint n_comp = x->vals[in].n_comp;

  if (n->kind == PHYSNN_OP_IDENTITY) {
    value_alias (x, in, out, rank, shape);
    return TRUE;
  }
  if (!value_alloc (x, out, n_comp, rank, shape))
    return FALSE;
  cl_kernel k = kernel (x, "physnn_unary");
  cl_mem xm = mem_of (x, in, PHYSNN_ACCESS_READ);
  cl_mem ym = mem_of (x, out, PHYSNN_ACCESS_WRITE);
  if (!k || !xm || !ym)
    return FALSE;
  guint32 cnt = (guint32) value_n (x, in), comp = n_comp;
  gint op = unary_code (n->kind);
  gfloat param = n->kind == PHYSNN_OP_POW ? (gfloat) n->attrs.exponent :
      n->attrs.leaky_alpha;
  _physnn_device_lock (x->dev);
  ARG (k, 0, cnt);
  ARG (k, 1, op);
  ARG (k, 2, param);
  ARG (k, 3, xm);
  ARG (k, 4, comp);
  ARG (k, 5, ym);
  gboolean ok = launch (x, k, cnt);
  _physnn_device_unlock (x->dev);
  return ok;
}

typedef struct {
  guint32 rank;
  guint32 shape[MAX_KERNEL_RANK];
  guint32 sa[MAX_KERNEL_RANK];
  guint32 sb[MAX_KERNEL_RANK];
} ClBcast;

static gboolean
make_bcast (Exec *x, PhysnnTensor *a, PhysnnTensor *b, ClBcast *bc,
    guint *rank, gsize *shape)
{
  guint ra, rb;
  const gsize *sha = physnn_tensor_get_shape (a, &ra);
  const gsize *shb = physnn_tensor_get_shape (b, &rb);
  guint r = MAX (ra, rb);
  gsize stra = 1, strb = 1;

  memset (bc, 0, sizeof *bc);
  if (r > MAX_KERNEL_RANK)
    return exec_fail (x, PHYSNN_ERROR_NOT_SUPPORTED, "broadcasting above "
        "rank %d is not supported on OpenCL", MAX_KERNEL_RANK);
  bc->rank = MAX (r, 1);
  for (gint i = (gint) r - 1; i >= 0; i--) {
    gint ia = i - (gint) (r - ra), ib = i - (gint) (r - rb);
    gsize da = ia >= 0 ? sha[ia] : 1, db = ib >= 0 ? shb[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return exec_fail (x, PHYSNN_ERROR_SHAPE, "shapes do not broadcast: "
          "dimension %d is %" G_GSIZE_FORMAT " and %" G_GSIZE_FORMAT, i, da,
          db);
    shape[i] = (da == 0 || db == 0) ? 0 : MAX (da, db);
    bc->shape[i] = (guint32) shape[i];
    bc->sa[i] = da == 1 ? 0 : (guint32) stra;
    bc->sb[i] = db == 1 ? 0 : (guint32) strb;
    stra *= da;
    strb *= db;
  }
  if (r == 0) {
    bc->shape[0] = 1;
    shape[0] = 1;
  }
  *rank = r;
  return TRUE;
}

static gboolean
run_binary (Exec *x)
{
  const PhysnnNode *n = x->node;
  gint a = n->inputs[0], b = n->inputs[1], out = n->outputs[0];
  ClBcast bc;
  guint rank;
  gsize shape[PHYSNN_MAX_RANK];

  if (!make_bcast (x, x->vals[a].comp[0], x->vals[b].comp[0], &bc, &rank,
          shape))
    return FALSE;
  guint n_comp = (x->vals[a].n_comp > 1 || x->vals[b].n_comp > 1) ?
      x->spec->n_comp : 1;
  if (!value_alloc (x, out, n_comp, rank, shape))
    return FALSE;
  cl_kernel k = kernel (x, "physnn_binary");
  cl_mem am = mem_of (x, a, PHYSNN_ACCESS_READ);
  cl_mem bm = mem_of (x, b, PHYSNN_ACCESS_READ);
  cl_mem ym = mem_of (x, out, PHYSNN_ACCESS_WRITE);
  cl_mem bcm = small_buffer (x, &bc, sizeof bc);
  if (!k || !am || !bm || !ym || !bcm) {
    if (bcm)
      clReleaseMemObject (bcm);
    return FALSE;
  }
  guint32 cnt = (guint32) numel (rank, shape);
  guint32 na = (guint32) value_n (x, a), nb = (guint32) value_n (x, b);
  guint32 ca = x->vals[a].n_comp, cb = x->vals[b].n_comp;
  gint op = (gint) (n->kind - PHYSNN_OP_ADD);
  _physnn_device_lock (x->dev);
  ARG (k, 0, cnt);
  ARG (k, 1, op);
  ARG (k, 2, bcm);
  ARG (k, 3, am);
  ARG (k, 4, na);
  ARG (k, 5, ca);
  ARG (k, 6, bm);
  ARG (k, 7, nb);
  ARG (k, 8, cb);
  ARG (k, 9, ym);
  gboolean ok = launch (x, k, cnt);
  _physnn_device_unlock (x->dev);
  clReleaseMemObject (bcm);
  return ok;
}

/* ------------------------------------------------------------------------ */
/* GEMM and MatMul */

typedef struct {
  guint32 M, N, K;
  gboolean ta, tb;
  GArray *a_off, *b_off, *c_off;        /* guint32, one per batch entry */
} GemmCall;

static gboolean
gemm_launch (Exec *x, gint a, gint b, gint c, const GemmCall *g, gfloat alpha,
    gboolean accumulate)
{
  guint batches = g->a_off->len;
  if (batches == 0 || g->M == 0 || g->N == 0)
    return TRUE;
  cl_kernel k = kernel (x, "physnn_gemm");
  cl_mem am = mem_of (x, a, PHYSNN_ACCESS_READ);
  cl_mem bm = mem_of (x, b, PHYSNN_ACCESS_READ);
  cl_mem cm = mem_of (x, c, accumulate ? PHYSNN_ACCESS_READWRITE :
      PHYSNN_ACCESS_WRITE);
  if (!k || !am || !bm || !cm)
    return FALSE;
  cl_mem ao = small_buffer (x, g->a_off->data, batches * 4);
  cl_mem bo = small_buffer (x, g->b_off->data, batches * 4);
  cl_mem co = small_buffer (x, g->c_off->data, batches * 4);
  gboolean ok = FALSE;
  if (ao && bo && co) {
    guint32 ta = g->ta, tb = g->tb, acc = accumulate;
    gsize global[3] = { g->N, g->M, batches }, local[3] = { 16, 16, 1 };
    global[0] = (global[0] + 15) / 16 * 16;
    global[1] = (global[1] + 15) / 16 * 16;
    _physnn_device_lock (x->dev);
    ARG (k, 0, g->M);
    ARG (k, 1, g->N);
    ARG (k, 2, g->K);
    ARG (k, 3, am);
    ARG (k, 4, ta);
    ARG (k, 5, bm);
    ARG (k, 6, tb);
    ARG (k, 7, cm);
    ARG (k, 8, alpha);
    ARG (k, 9, acc);
    ARG (k, 10, ao);
    ARG (k, 11, bo);
    ARG (k, 12, co);
    ok = _physnn_device_enqueue (x->dev, k, 3, global, local, x->error);
    _physnn_device_unlock (x->dev);
  }
  if (ao)
    clReleaseMemObject (ao);
  if (bo)
    clReleaseMemObject (bo);
  if (co)
    clReleaseMemObject (co);
  return ok;
}

/* Batch tables for out[comp co] (+)= A[comp ca] · B[comp cb]: the base
 * tables (per broadcast batch entry) shifted to the components. */
static void
gemm_shift (const GemmCall *base, GemmCall *g, gsize a_comp_size, guint ca,
    gsize b_comp_size, guint cb, gsize c_comp_size, guint co)
{
  *g = *base;
  g->a_off = g_array_new (FALSE, FALSE, 4);
  g->b_off = g_array_new (FALSE, FALSE, 4);
  g->c_off = g_array_new (FALSE, FALSE, 4);
  for (guint i = 0; i < base->a_off->len; i++) {
    guint32 va = g_array_index (base->a_off, guint32, i) + ca * a_comp_size;
    guint32 vb = g_array_index (base->b_off, guint32, i) + cb * b_comp_size;
    guint32 vc = g_array_index (base->c_off, guint32, i) + co * c_comp_size;
    g_array_append_val (g->a_off, va);
    g_array_append_val (g->b_off, vb);
    g_array_append_val (g->c_off, vc);
  }
}

static void
gemm_call_clear (GemmCall *g)
{
  g_clear_pointer (&g->a_off, g_array_unref);
  g_clear_pointer (&g->b_off, g_array_unref);
  g_clear_pointer (&g->c_off, g_array_unref);
}

/* The product rule over components with one GEMM per term. The common PINN
 * case (activations times constant weights, untransposed) becomes a single
 * GEMM with n_comp times the rows. */
static gboolean
bilinear_gemm (Exec *x, gint a, gint b, gint out, const GemmCall *base,
    gfloat alpha)
{
  const PhysnnJetSpec *s = x->spec;
  guint na = x->vals[a].n_comp, nb = x->vals[b].n_comp;
  guint nc = x->vals[out].n_comp;
  gsize asz = value_n (x, a), bsz = value_n (x, b), csz = value_n (x, out);

  if (nb == 1 && !base->ta && base->a_off->len == 1 &&
      g_array_index (base->c_off, guint32, 0) == 0 &&
      g_array_index (base->a_off, guint32, 0) == 0) {
    GemmCall g = *base;
    g.M = base->M * na;
    return gemm_launch (x, a, b, out, &g, alpha, FALSE);
  }

  struct {
    guint ca, cb, co;
  } terms[1 + 4 * PHYSNN_MAX_COMPONENTS];
  guint nt = 0;
  gboolean written[PHYSNN_MAX_COMPONENTS] = { 0 };
  terms[nt++] = (typeof (terms[0])) { 0, 0, 0 };
  if (nc > 1) {
    for (guint d = 0; d < s->n_first; d++) {
      if (na > 1)
        terms[nt++] = (typeof (terms[0])) { 1 + d, 0, 1 + d };
      if (nb > 1)
        terms[nt++] = (typeof (terms[0])) { 0, 1 + d, 1 + d };
    }
    for (guint q = 0; q < s->n_second; q++) {
      guint p = s->second_dirs[q][0] + 1, t = s->second_dirs[q][1] + 1;
      guint c = 1 + s->n_first + q;
      if (na > 1)
        terms[nt++] = (typeof (terms[0])) { c, 0, c };
      if (na > 1 && nb > 1) {
        terms[nt++] = (typeof (terms[0])) { p, t, c };
        terms[nt++] = (typeof (terms[0])) { t, p, c };
      }
      if (nb > 1)
        terms[nt++] = (typeof (terms[0])) { 0, c, c };
    }
  }
  for (guint i = 0; i < nt; i++) {
    GemmCall g;
    gemm_shift (base, &g, asz, terms[i].ca, bsz, terms[i].cb, csz,
        terms[i].co);
    gboolean ok = gemm_launch (x, a, b, out, &g, alpha, written[terms[i].co]);
    written[terms[i].co] = TRUE;
    gemm_call_clear (&g);
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

static gboolean
add_bias (Exec *x, gint out, gint bias_value, gfloat beta)
{
  ClBcast bc;
  guint rank;
  gsize shape[PHYSNN_MAX_RANK];
  if (!make_bcast (x, x->vals[out].comp[0], x->vals[bias_value].comp[0], &bc,
          &rank, shape))
    return FALSE;
  if (numel (rank, shape) != value_n (x, out))
    return exec_fail (x, PHYSNN_ERROR_SHAPE, "bias does not broadcast to "
        "the output");
  cl_kernel k = kernel (x, "physnn_add_bias");
  cl_mem ym = mem_of (x, out, PHYSNN_ACCESS_READWRITE);
  cl_mem bm = mem_of (x, bias_value, PHYSNN_ACCESS_READ);
  cl_mem bcm = small_buffer (x, &bc, sizeof bc);
  gboolean ok = FALSE;
  if (k && ym && bm && bcm) {
    guint32 cnt = (guint32) value_n (x, out);
    _physnn_device_lock (x->dev);
    ARG (k, 0, cnt);
    ARG (k, 1, ym);
    ARG (k, 2, bm);
    ARG (k, 3, bcm);
    ARG (k, 4, beta);
    ok = launch (x, k, cnt);
    _physnn_device_unlock (x->dev);
  }
  if (bcm)
    clReleaseMemObject (bcm);
  if (ok && x->vals[bias_value].n_comp > 1)
    return exec_fail (x, PHYSNN_ERROR_NOT_SUPPORTED, "a bias that depends "
        "on the coordinates is not supported on OpenCL");
  return ok;
}

static gboolean
run_gemm (Exec *x)
{
  const PhysnnNode *n = x->node;
  const PhysnnOpAttrs *at = &n->attrs;
  gint a = n->inputs[0], b = n->inputs[1], out = n->outputs[0];
  PhysnnTensor *av = x->vals[a].comp[0], *bv = x->vals[b].comp[0];

  if (physnn_tensor_get_rank (av) != 2 || physnn_tensor_get_rank (bv) != 2)
    return exec_fail (x, PHYSNN_ERROR_SHAPE, "Gemm needs 2-D inputs");
  GemmCall g = { 0 };
  g.M = (guint32) physnn_tensor_get_dim (av, at->trans_a ? 1 : 0);
  g.K = (guint32) physnn_tensor_get_dim (av, at->trans_a ? 0 : 1);
  g.N = (guint32) physnn_tensor_get_dim (bv, at->trans_b ? 0 : 1);
  if (physnn_tensor_get_dim (bv, at->trans_b ? 1 : 0) != g.K)
    return exec_fail (x, PHYSNN_ERROR_SHAPE, "inner dimensions differ");
  g.ta = at->trans_a;
  g.tb = at->trans_b;
  gsize shape[2] = { g.M, g.N };
  guint n_comp = (x->vals[a].n_comp > 1 || x->vals[b].n_comp > 1) ?
      x->spec->n_comp : 1;
  if (!value_alloc (x, out, n_comp, 2, shape))
    return FALSE;
  guint32 zero = 0;
  g.a_off = g_array_new (FALSE, FALSE, 4);
  g.b_off = g_array_new (FALSE, FALSE, 4);
  g.c_off = g_array_new (FALSE, FALSE, 4);
  g_array_append_val (g.a_off, zero);
  g_array_append_val (g.b_off, zero);
  g_array_append_val (g.c_off, zero);
  gboolean ok = bilinear_gemm (x, a, b, out, &g, at->alpha);
  gemm_call_clear (&g);
  if (ok && n->n_inputs > 2 && n->inputs[2] >= 0 && at->beta != 0.0f)
    ok = add_bias (x, out, n->inputs[2], at->beta);
  return ok;
}

static gboolean
run_matmul (Exec *x)
{
  const PhysnnNode *n = x->node;
  gint a = n->inputs[0], b = n->inputs[1], out = n->outputs[0];
  guint ra, rb;
  const gsize *sa = physnn_tensor_get_shape (x->vals[a].comp[0], &ra);
  const gsize *sb = physnn_tensor_get_shape (x->vals[b].comp[0], &rb);
  gsize shape[PHYSNN_MAX_RANK];
  guint rank = 0;

  if (ra == 0 || rb == 0)
    return exec_fail (x, PHYSNN_ERROR_SHAPE, "MatMul of a scalar");
  GemmCall g = { 0 };
  g.M = ra >= 2 ? (guint32) sa[ra - 2] : 1;
  g.K = (guint32) sa[ra - 1];
  g.N = rb >= 2 ? (guint32) sb[rb - 1] : 1;
  if ((rb == 1 ? sb[0] : sb[rb - 2]) != g.K)
    return exec_fail (x, PHYSNN_ERROR_SHAPE, "inner dimensions differ: %u "
        "and %" G_GSIZE_FORMAT, g.K, rb == 1 ? sb[0] : sb[rb - 2]);
  guint ba = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0;
  guint br = MAX (ba, bb);
  for (guint i = 0; i < br; i++) {
    gint ia = (gint) i - (gint) (br - ba), ib = (gint) i - (gint) (br - bb);
    gsize da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return exec_fail (x, PHYSNN_ERROR_SHAPE, "batch dimensions do not "
          "broadcast");
    shape[rank++] = MAX (da, db);
  }
  gsize batches = numel (br, shape);
  if (ra >= 2)
    shape[rank++] = g.M;
  if (rb >= 2)
    shape[rank++] = g.N;
  guint n_comp = (x->vals[a].n_comp > 1 || x->vals[b].n_comp > 1) ?
      x->spec->n_comp : 1;
  if (!value_alloc (x, out, n_comp, rank, shape))
    return FALSE;

  g.a_off = g_array_new (FALSE, FALSE, 4);
  g.b_off = g_array_new (FALSE, FALSE, 4);
  g.c_off = g_array_new (FALSE, FALSE, 4);
  for (gsize bi = 0; bi < batches; bi++) {
    gsize rem = bi, offa = 0, offb = 0, stra = (gsize) g.M * g.K,
        strb = (gsize) g.K * g.N;
    for (gint d = (gint) br - 1; d >= 0; d--) {
      gsize idx = rem % shape[d];
      rem /= shape[d];
      gint ia = d - (gint) (br - ba), ib = d - (gint) (br - bb);
      if (ia >= 0) {
        if (sa[ia] != 1)
          offa += idx * stra;
        stra *= sa[ia];
      }
      if (ib >= 0) {
        if (sb[ib] != 1)
          offb += idx * strb;
        strb *= sb[ib];
      }
    }
    guint32 oa = (guint32) offa, ob = (guint32) offb,
        oc = (guint32) (bi * g.M * g.N);
    g_array_append_val (g.a_off, oa);
    g_array_append_val (g.b_off, ob);
    g_array_append_val (g.c_off, oc);
  }
  gboolean ok = bilinear_gemm (x, a, b, out, &g, 1.0f);
  gemm_call_clear (&g);
  return ok;
}

/* ------------------------------------------------------------------------ */
/* Data movement */

static gboolean
gather_to (Exec *x, gint in, gint out, guint n_comp, const guint32 *map,
    gsize n_out, cl_mem device_map)
{
  cl_kernel k = kernel (x, "physnn_gather");
  cl_mem xm = mem_of (x, in, PHYSNN_ACCESS_READ);
  cl_mem ym = mem_of (x, out, PHYSNN_ACCESS_WRITE);
  cl_mem mm = device_map ? device_map : small_buffer (x, map, n_out * 4);
  gboolean ok = FALSE;
  if (k && xm && ym && mm) {
    guint32 no = (guint32) n_out, ni = (guint32) value_n (x, in), c = n_comp;
    _physnn_device_lock (x->dev);
    ARG (k, 0, no);
    ARG (k, 1, ni);
    ARG (k, 2, c);
    ARG (k, 3, mm);
    ARG (k, 4, xm);
    ARG (k, 5, ym);
    ARG (k, 6, no);
    ok = launch (x, k, no);
    _physnn_device_unlock (x->dev);
  }
  if (mm && !device_map)
    clReleaseMemObject (mm);
  return ok;
}

static gboolean
hook_apply_map (gpointer user, PhysnnJetValue *I, PhysnnJetValue *O,
    guint rank, const gsize *shape, const gsize *map, GError **error)
{
  Exec *x = user;
  gint in = (gint) (I - x->vals), out = (gint) (O - x->vals);
  gsize n = numel (rank, shape);

  if (map == NULL) {
    value_alias (x, in, out, rank, shape);
    return TRUE;
  }
  if (!value_alloc (x, out, I->n_comp, rank, shape))
    return FALSE;
  g_autofree guint32 *m32 = g_new (guint32, MAX (n, 1));
  for (gsize i = 0; i < n; i++)
    m32[i] = (guint32) map[i];
  return gather_to (x, in, out, I->n_comp, m32, n, NULL);
}

static gboolean
hook_apply_pad (gpointer user, PhysnnJetValue *I, PhysnnJetValue *O,
    guint rank, const gsize *shape, const gsize *map, gdouble value,
    GError **error)
{
  Exec *x = user;
  gint in = (gint) (I - x->vals), out = (gint) (O - x->vals);
  gsize n = numel (rank, shape), ni = value_n (x, in);

  if (!value_alloc (x, out, I->n_comp, rank, shape))
    return FALSE;
  /* fill (value, then zeros for derivatives), then scatter the input */
  cl_kernel kf = kernel (x, "physnn_fill");
  cl_mem ym = mem_of (x, out, PHYSNN_ACCESS_WRITE);
  if (!kf || !ym)
    return FALSE;
  for (guint c = 0; c < I->n_comp; c++) {
    g_autoptr (PhysnnTensor) part = physnn_tensor_view (x->flat[out], c * n, 1,
        &n, NULL);
    gfloat v = c == 0 ? (gfloat) value : 0.0f;
    gsize off;
    cl_mem pm = _physnn_tensor_get_cl_mem (part, x->dev, PHYSNN_ACCESS_WRITE,
        &off, error);
    if (pm == NULL)
      return FALSE;
    /* physnn_fill has no offset argument: fill via a sub-range copy */
    g_autofree gfloat *host = g_new (gfloat, MAX (n, 1));
    for (gsize i = 0; i < n; i++)
      host[i] = v;
    cl_int st = clEnqueueWriteBuffer (_physnn_device_get_queue (x->dev), pm,
        CL_TRUE, off, n * sizeof (gfloat), host, 0, NULL, NULL);
    if (!_physnn_cl_check (st, "clEnqueueWriteBuffer", error))
      return FALSE;
  }
  g_autofree guint32 *inv = g_new (guint32, MAX (ni, 1));
  for (gsize o = 0; o < n; o++)
    if (map[o] != G_MAXSIZE)
      inv[map[o]] = (guint32) o;
  cl_kernel k = kernel (x, "physnn_scatter");
  cl_mem xm = mem_of (x, in, PHYSNN_ACCESS_READ);
  cl_mem mm = small_buffer (x, inv, ni * 4);
  gboolean ok = FALSE;
  if (k && xm && mm) {
    guint32 n_in = (guint32) ni, c = I->n_comp, no = (guint32) n;
    _physnn_device_lock (x->dev);
    ARG (k, 0, n_in);
    ARG (k, 1, c);
    ARG (k, 2, c);
    ARG (k, 3, mm);
    ARG (k, 4, xm);
    ARG (k, 5, ym);
    ARG (k, 6, no);
    ok = launch (x, k, n_in);
    _physnn_device_unlock (x->dev);
  }
  if (mm)
    clReleaseMemObject (mm);
  return ok;
}

static gboolean
run_concat (Exec *x)
{
  const PhysnnNode *n = x->node;
  gint first = -1;
  guint rank = 0, axis = 0;
  gsize shape[PHYSNN_MAX_RANK];
  gboolean active = FALSE;

  for (guint k = 0; k < n->n_inputs; k++) {
    gint in = n->inputs[k];
    if (in < 0)
      continue;
    guint tr;
    const gsize *ts = physnn_tensor_get_shape (x->vals[in].comp[0], &tr);
    active |= x->vals[in].n_comp > 1;
    if (first < 0) {
      first = in;
      rank = tr;
      memcpy (shape, ts, rank * sizeof (gsize));
      gint64 ax = n->attrs.axis < 0 ? n->attrs.axis + rank : n->attrs.axis;
      if (ax < 0 || ax >= (gint64) rank)
        return exec_fail (x, PHYSNN_ERROR_SHAPE, "axis out of range");
      axis = (guint) ax;
      shape[axis] = 0;
    }
    if (tr != rank)
      return exec_fail (x, PHYSNN_ERROR_SHAPE, "inputs differ in rank");
    for (guint d = 0; d < rank; d++)
      if (d != axis && ts[d] != shape[d])
        return exec_fail (x, PHYSNN_ERROR_SHAPE, "input %u does not match "
            "in dimension %u", k, d);
    shape[axis] += ts[axis];
  }
  gint out = n->outputs[0];
  guint n_comp = active ? x->spec->n_comp : 1;
  if (!value_alloc (x, out, n_comp, rank, shape))
    return FALSE;
  gsize inner = numel (rank - axis - 1, shape + axis + 1);
  gsize outer = numel (axis, shape), off = 0, n_out = value_n (x, out);
  cl_kernel k = kernel (x, "physnn_scatter");
  cl_mem ym = mem_of (x, out, PHYSNN_ACCESS_WRITE);
  if (!k || !ym)
    return FALSE;
  for (guint i = 0; i < n->n_inputs; i++) {
    gint in = n->inputs[i];
    if (in < 0)
      continue;
    gsize len = physnn_tensor_get_dim (x->vals[in].comp[0], axis);
    gsize ni = value_n (x, in);
    g_autofree guint32 *map = g_new (guint32, MAX (ni, 1));
    for (gsize o = 0; o < outer; o++)
      for (gsize j = 0; j < len * inner; j++)
        map[o * len * inner + j] = (guint32) ((o * shape[axis] + off) * inner +
            j);
    cl_mem xm = mem_of (x, in, PHYSNN_ACCESS_READ);
    cl_mem mm = small_buffer (x, map, ni * 4);
    gboolean ok = FALSE;
    if (xm && mm) {
      guint32 n_in = (guint32) ni, c = n_comp, ic = x->vals[in].n_comp,
          no = (guint32) n_out;
      _physnn_device_lock (x->dev);
      ARG (k, 0, n_in);
      ARG (k, 1, c);
      ARG (k, 2, ic);
      ARG (k, 3, mm);
      ARG (k, 4, xm);
      ARG (k, 5, ym);
      ARG (k, 6, no);
      ok = launch (x, k, n_in);
      _physnn_device_unlock (x->dev);
    }
    if (mm)
      clReleaseMemObject (mm);
    if (!ok)
      return FALSE;
    off += len;
  }
  return TRUE;
}

/* Reduce: move the reduced axes innermost with a gather, then sum
 * contiguous segments. */
static gboolean
run_reduce (Exec *x)
{
  const PhysnnNode *n = x->node;
  gint in = n->inputs[0], out = n->outputs[0];
  guint xr;
  const gsize *xs = physnn_tensor_get_shape (x->vals[in].comp[0], &xr);
  gboolean mark[PHYSNN_MAX_RANK] = { 0 };
  g_autoptr (GArray) axes = NULL;

  if (n->attrs.ints)
    axes = g_array_ref (n->attrs.ints);
  else if (n->n_inputs > 1 && n->inputs[1] >= 0) {
    PhysnnTensor *t = x->vals[n->inputs[1]].comp[0];
    axes = g_array_new (FALSE, FALSE, sizeof (gint64));
    for (gsize i = 0; i < physnn_tensor_get_n_elements (t); i++) {
      gint64 v = (gint64) physnn_tensor_get_value (t, i);
      g_array_append_val (axes, v);
    }
  }
  if (axes == NULL || axes->len == 0) {
    if (n->attrs.noop_with_empty_axes) {
      value_alias (x, in, out, xr, xs);
      return TRUE;
    }
    for (guint d = 0; d < xr; d++)
      mark[d] = TRUE;
  }
  for (guint i = 0; axes && i < axes->len; i++) {
    gint64 a = g_array_index (axes, gint64, i);
    if (a < 0)
      a += xr;
    if (a < 0 || a >= (gint64) xr)
      return exec_fail (x, PHYSNN_ERROR_SHAPE, "axis out of range");
    mark[a] = TRUE;
  }
  guint perm[PHYSNN_MAX_RANK], np = 0;
  gsize shape[PHYSNN_MAX_RANK], kept = 1, len = 1;
  guint rank = 0;
  for (guint d = 0; d < xr; d++)
    if (!mark[d]) {
      perm[np++] = d;
      kept *= xs[d];
    }
  for (guint d = 0; d < xr; d++)
    if (mark[d]) {
      perm[np++] = d;
      len *= xs[d];
    }
  for (guint d = 0; d < xr; d++)
    if (!mark[d] || n->attrs.keepdims)
      shape[rank++] = mark[d] ? 1 : xs[d];

  /* gather into reduced-innermost order */
  gsize total = numel (xr, xs), strides[PHYSNN_MAX_RANK], pshape[PHYSNN_MAX_RANK];
  gsize s = 1;
  for (gint d = (gint) xr - 1; d >= 0; d--) {
    strides[d] = s;
    s *= xs[d];
  }
  for (guint d = 0; d < xr; d++)
    pshape[d] = xs[perm[d]];
  g_autofree guint32 *map = g_new (guint32, MAX (total, 1));
  for (gsize o = 0; o < total; o++) {
    gsize rem = o, src = 0;
    for (gint d = (gint) xr - 1; d >= 0; d--) {
      gsize idx = rem % pshape[d];
      rem /= pshape[d];
      src += idx * strides[perm[d]];
    }
    map[o] = (guint32) src;
  }
  guint n_comp = x->vals[in].n_comp;
  /* scratch value: reuse the output slot for the permuted copy first */
  gsize tmp_shape[1] = { total };
  if (!value_alloc (x, out, n_comp, 1, tmp_shape) ||
      !gather_to (x, in, out, n_comp, map, total, NULL))
    return FALSE;
  PhysnnTensor *tmp = g_object_ref (x->flat[out]);
  if (!value_alloc (x, out, n_comp, rank, shape)) {
    g_object_unref (tmp);
    return FALSE;
  }
  cl_kernel k = kernel (x, "physnn_segment_sum");
  gsize off;
  cl_mem tm = _physnn_tensor_get_cl_mem (tmp, x->dev, PHYSNN_ACCESS_READ, &off,
      x->error);
  cl_mem ym = mem_of (x, out, PHYSNN_ACCESS_WRITE);
  gboolean ok = FALSE;
  if (k && tm && ym) {
    guint32 segs = (guint32) (kept * n_comp), l = (guint32) len;
    gfloat scale = n->kind == PHYSNN_OP_REDUCE_MEAN ? 1.0f / MAX (len, 1) :
        1.0f;
    _physnn_device_lock (x->dev);
    ARG (k, 0, segs);
    ARG (k, 1, l);
    ARG (k, 2, scale);
    ARG (k, 3, tm);
    ARG (k, 4, ym);
    ok = launch (x, k, segs);
    _physnn_device_unlock (x->dev);
  }
  g_object_unref (tmp);
  return ok;
}

/* ------------------------------------------------------------------------ */
/* Convolution and pooling */

typedef struct {
  guint32 N, C, M, group;
  guint32 in[3], out[3], k[3];
  gint32 s[3], d[3], pb[3];
} ClConvGeom;

static gboolean
conv_geom (Exec *x, PhysnnTensor *v, const gint64 *kernel_shape, guint32 M,
    ClConvGeom *g)
{
  const PhysnnOpAttrs *a = &x->node->attrs;
  guint xr;
  const gsize *xs = physnn_tensor_get_shape (v, &xr);
  if (xr != 2 + a->n_spatial)
    return exec_fail (x, PHYSNN_ERROR_SHAPE, "input has rank %u, expected "
        "%u", xr, 2 + a->n_spatial);
  memset (g, 0, sizeof *g);
  g->N = (guint32) xs[0];
  g->C = (guint32) xs[1];
  g->M = M;
  g->group = (guint32) a->group;
  for (guint i = 0; i < 3; i++) {
    gboolean sp = i < a->n_spatial;
    g->in[i] = sp ? (guint32) xs[2 + i] : 1;
    g->k[i] = sp ? (guint32) kernel_shape[i] : 1;
    g->s[i] = sp ? (gint32) a->strides[i] : 1;
    g->d[i] = sp ? (gint32) a->dilations[i] : 1;
    gint64 pb = sp ? a->pads[i] : 0, pe = sp ? a->pads[i + a->n_spatial] : 0;
    gint64 ext = (gint64) (g->k[i] - 1) * g->d[i] + 1;
    if (sp && a->auto_pad_same) {
      gint64 o = ((gint64) g->in[i] + g->s[i] - 1) / g->s[i];
      gint64 pad = MAX ((o - 1) * g->s[i] + ext - (gint64) g->in[i], 0);
      pb = pad / 2;
      pe = pad - pad / 2;
    }
    gint64 span = (gint64) g->in[i] + pb + pe - ext;
    if (span < 0)
      return exec_fail (x, PHYSNN_ERROR_SHAPE, "kernel larger than input");
    g->out[i] = (guint32) (a->ceil_mode ? (span + g->s[i] - 1) / g->s[i] + 1 :
        span / g->s[i] + 1);
    g->pb[i] = (gint32) pb;
  }
  return TRUE;
}

static gboolean
run_conv (Exec *x)
{
  const PhysnnNode *n = x->node;
  gint in = n->inputs[0], w = n->inputs[1], out = n->outputs[0];
  if (x->vals[w].n_comp > 1)
    return exec_fail (x, PHYSNN_ERROR_NOT_SUPPORTED, "weights that depend "
        "on the coordinates are not supported on OpenCL");
  guint wr;
  const gsize *ws = physnn_tensor_get_shape (x->vals[w].comp[0], &wr);
  gint64 kshape[3] = { 1, 1, 1 };
  for (guint i = 0; i + 2 < wr && i < 3; i++)
    kshape[i] = (gint64) ws[2 + i];
  ClConvGeom g;
  if (!conv_geom (x, x->vals[in].comp[0], kshape, (guint32) ws[0], &g))
    return FALSE;
  if (g.C % g.group || g.M % g.group || ws[1] * g.group != g.C)
    return exec_fail (x, PHYSNN_ERROR_SHAPE, "channels do not fit the "
        "weight and group");
  guint n_comp = x->vals[in].n_comp;
  gsize shape[5] = { g.N, g.M, g.out[0], g.out[1], g.out[2] };
  if (!value_alloc (x, out, n_comp, 2 + n->attrs.n_spatial, shape))
    return FALSE;
  ClConvGeom gs = g;
  gs.N = g.N * n_comp;          /* components ride in the batch axis */
  cl_kernel k = kernel (x, "physnn_conv");
  cl_mem gm = small_buffer (x, &gs, sizeof gs);
  cl_mem xm = mem_of (x, in, PHYSNN_ACCESS_READ);
  cl_mem wm = mem_of (x, w, PHYSNN_ACCESS_READ);
  cl_mem ym = mem_of (x, out, PHYSNN_ACCESS_WRITE);
  gboolean ok = FALSE;
  if (k && gm && xm && wm && ym) {
    guint32 acc = 0;
    gsize total = (gsize) gs.N * gs.M * g.out[0] * g.out[1] * g.out[2];
    _physnn_device_lock (x->dev);
    ARG (k, 0, gm);
    ARG (k, 1, xm);
    ARG (k, 2, wm);
    ARG (k, 3, ym);
    ARG (k, 4, acc);
    ok = launch (x, k, total);
    _physnn_device_unlock (x->dev);
  }
  if (gm)
    clReleaseMemObject (gm);
  if (ok && n->n_inputs > 2 && n->inputs[2] >= 0) {
    /* bias [M] broadcast as [1, M, 1, ...] over the value component */
    gint b = n->inputs[2];
    if (physnn_tensor_get_n_elements (x->vals[b].comp[0]) != g.M)
      return exec_fail (x, PHYSNN_ERROR_SHAPE, "bias size");
    ClBcast bc = { 0 };
    gsize osz = (gsize) g.out[0] * g.out[1] * g.out[2];
    bc.rank = 3;
    bc.shape[0] = g.N;
    bc.shape[1] = g.M;
    bc.shape[2] = (guint32) osz;
    bc.sb[1] = 1;
    cl_kernel kb = kernel (x, "physnn_add_bias");
    cl_mem bcm = small_buffer (x, &bc, sizeof bc);
    cl_mem bm = mem_of (x, b, PHYSNN_ACCESS_READ);
    ok = FALSE;
    if (kb && bcm && bm) {
      guint32 cnt = (guint32) ((gsize) g.N * g.M * osz);
      gfloat one = 1.0f;
      _physnn_device_lock (x->dev);
      ARG (kb, 0, cnt);
      ARG (kb, 1, ym);
      ARG (kb, 2, bm);
      ARG (kb, 3, bcm);
      ARG (kb, 4, one);
      ok = launch (x, kb, cnt);
      _physnn_device_unlock (x->dev);
    }
    if (bcm)
      clReleaseMemObject (bcm);
  }
  return ok;
}

static gboolean
run_pool (Exec *x)
{
  const PhysnnNode *n = x->node;
  gint in = n->inputs[0], out = n->outputs[0];
  ClConvGeom g;
  if (!conv_geom (x, x->vals[in].comp[0], n->attrs.kernel, 0, &g))
    return FALSE;
  gboolean is_max = n->kind == PHYSNN_OP_MAX_POOL;
  guint n_comp = x->vals[in].n_comp;
  gsize shape[5] = { g.N, g.C, g.out[0], g.out[1], g.out[2] };
  if (!value_alloc (x, out, n_comp, 2 + n->attrs.n_spatial, shape))
    return FALSE;
  gsize osz = (gsize) g.out[0] * g.out[1] * g.out[2];
  gsize n_out = (gsize) g.N * g.C * osz;
  /* Average pooling is linear: all components as planes. Max pooling picks
   * from the value component, then gathers every component there. */
  guint32 planes = (guint32) (g.N * g.C * (is_max ? 1 : n_comp));
  cl_kernel k = kernel (x, "physnn_pool");
  cl_mem gm = small_buffer (x, &g, sizeof g);
  cl_mem xm = mem_of (x, in, PHYSNN_ACCESS_READ);
  cl_mem ym = mem_of (x, out, PHYSNN_ACCESS_WRITE);
  cl_int st;
  cl_mem am = clCreateBuffer (_physnn_device_get_context (x->dev),
      CL_MEM_READ_WRITE, MAX (n_out, 1) * 4, NULL, &st);
  gboolean ok = FALSE;
  if (k && gm && xm && ym && am) {
    guint32 im = is_max, cp = n->attrs.count_include_pad, z = 0;
    _physnn_device_lock (x->dev);
    ARG (k, 0, gm);
    ARG (k, 1, xm);
    ARG (k, 2, ym);
    ARG (k, 3, am);
    ARG (k, 4, im);
    ARG (k, 5, cp);
    ARG (k, 6, planes);
    ARG (k, 7, z);
    ARG (k, 8, z);
    ok = launch (x, k, planes * osz);
    _physnn_device_unlock (x->dev);
  }
  if (ok && is_max && n_comp > 1)
    ok = gather_to (x, in, out, n_comp, NULL, n_out, am);
  if (gm)
    clReleaseMemObject (gm);
  if (am)
    clReleaseMemObject (am);
  return ok;
}

/* ------------------------------------------------------------------------ */
/* Quantization (kernels/quant.cl). Quantized activations stay on the device
 * as floats holding integers. A DequantizeLinear of constant weights is
 * dequantized once per plan from packed storage (int8, or two int4 per
 * byte) into a float32 buffer that the following GEMM or convolution reads;
 * the fused kernels instead read the packed bytes in every run. */

static gboolean
qdq_launch (Exec *x, cl_kernel k, guint n_args, gsize n)
{
  gboolean ok = launch (x, k, n);
  _physnn_device_unlock (x->dev);
  return ok;
}

static gboolean
run_qdq (Exec *x)
{
  const PhysnnNode *n = x->node;
  gint in = n->inputs[0], out = n->outputs[0];
  gboolean quant = n->kind == PHYSNN_OP_QUANTIZE_LINEAR;
  PhysnnTensor *iv = x->vals[in].comp[0];
  guint rank;
  const gsize *shape = physnn_tensor_get_shape (iv, &rank);
  gsize cnt = physnn_tensor_get_n_elements (iv);
  gboolean cached_constant = !quant && VAL (x->g, in)->constant != NULL;

  if (cached_constant) {
    PhysnnTensor *cached = g_hash_table_lookup (x->plan->constants,
        GINT_TO_POINTER (out));
    if (cached) {
      x->flat[out] = g_object_ref (cached);
      x->vals[out].n_comp = 1;
      x->vals[out].comp[0] = physnn_tensor_view (cached, 0, rank, shape,
          NULL);
      return TRUE;
    }
  }
  PhysnnQdqParams qp;
  if (!_physnn_qdq_params (x->g, n, rank, shape, &qp, x->error))
    return FALSE;
  if (!value_alloc (x, out, 1, rank, shape)) {
    _physnn_qdq_params_clear (&qp);
    return FALSE;
  }
  cl_mem sm = small_buffer (x, qp.scale, qp.channels * 4);
  cl_mem zm = small_buffer (x, qp.zero, qp.channels * 4);
  cl_mem ym = mem_of (x, out, PHYSNN_ACCESS_WRITE);
  cl_mem qm = NULL;
  guint32 n32 = (guint32) cnt, inner = (guint32) qp.inner,
      ch = (guint32) qp.channels;
  gboolean ok = FALSE;
  cl_kernel k = NULL;

  if (sm && zm && ym) {
    if (quant) {
      cl_mem xm = mem_of (x, in, PHYSNN_ACCESS_READ);
      k = kernel_in (x, "physnn_quantize");
      if (xm && k) {
        gfloat lo = n->attrs.qmin, hi = n->attrs.qmax;
        _physnn_device_lock (x->dev);
        ARG (k, 0, n32);
        ARG (k, 1, xm);
        ARG (k, 2, ym);
        ARG (k, 3, sm);
        ARG (k, 4, zm);
        ARG (k, 5, inner);
        ARG (k, 6, ch);
        ARG (k, 7, lo);
        ARG (k, 8, hi);
        ok = qdq_launch (x, k, 9, cnt);
      }
    } else if (x->flat[in] != NULL) {
      /* quantized on the device by an earlier node */
      cl_mem xm = mem_of (x, in, PHYSNN_ACCESS_READ);
      k = kernel_in (x, "physnn_dequantize");
      if (xm && k) {
        _physnn_device_lock (x->dev);
        ARG (k, 0, n32);
        ARG (k, 1, xm);
        ARG (k, 2, ym);
        ARG (k, 3, sm);
        ARG (k, 4, zm);
        ARG (k, 5, inner);
        ARG (k, 6, ch);
        ok = qdq_launch (x, k, 7, cnt);
      }
    } else {
      /* stored integers on the host: packed weights when 8 or 4 bits */
      PhysnnPackedWeight pw;
      g_autoptr (PhysnnTensor) ints = NULL;
      g_autoptr (GBytes) packed = NULL;
      gint32 bits = 8, sgn = 1;
      if (_physnn_graph_packed_weight (x->g, out, &pw) && !pw.fp16) {
        packed = _physnn_quant_pack (pw.stored, pw.bits);
        bits = (gint32) pw.bits;
        sgn = pw.sgn;
      } else {
        /* other integer types: as exact floats through the plain kernel */
        ints = physnn_tensor_convert (iv, PHYSNN_DTYPE_FLOAT32);
      }
      if (packed) {
        gsize psize;
        gconstpointer pd = g_bytes_get_data (packed, &psize);
        qm = small_buffer (x, pd, psize);
        k = kernel_in (x, "physnn_dequantize_packed");
        if (qm && k) {
          _physnn_device_lock (x->dev);
          ARG (k, 0, n32);
          ARG (k, 1, qm);
          ARG (k, 2, bits);
          ARG (k, 3, sgn);
          ARG (k, 4, ym);
          ARG (k, 5, sm);
          ARG (k, 6, zm);
          ARG (k, 7, inner);
          ARG (k, 8, ch);
          ok = qdq_launch (x, k, 9, cnt);
        }
      } else {
        qm = small_buffer (x, _physnn_tensor_host (ints, PHYSNN_ACCESS_READ),
            cnt * 4);
        k = kernel_in (x, "physnn_dequantize");
        if (qm && k) {
          _physnn_device_lock (x->dev);
          ARG (k, 0, n32);
          ARG (k, 1, qm);
          ARG (k, 2, ym);
          ARG (k, 3, sm);
          ARG (k, 4, zm);
          ARG (k, 5, inner);
          ARG (k, 6, ch);
          ok = qdq_launch (x, k, 7, cnt);
        }
      }
    }
  }
  if (ok && cached_constant)
    g_hash_table_insert (x->plan->constants, GINT_TO_POINTER (out),
        g_object_ref (x->flat[out]));
  if (qm)
    clReleaseMemObject (qm);
  if (sm)
    clReleaseMemObject (sm);
  if (zm)
    clReleaseMemObject (zm);
  _physnn_qdq_params_clear (&qp);
  return ok;
}

/* ------------------------------------------------------------------------ */

static gboolean
host_node (Exec *x)
{
  const PhysnnNode *n = x->node;
  if (n->kind == PHYSNN_OP_SHAPE)
    return TRUE;
  for (guint k = 0; k < n->n_outputs; k++)
    if (physnn_dtype_is_float (VAL (x->g, n->outputs[k])->dtype))
      return FALSE;
  return TRUE;
}

static gboolean
run_node (Exec *x)
{
  const PhysnnNode *n = x->node;
  PhysnnRefHooks hooks = { hook_apply_map, hook_apply_pad, x };

  if (n->kind == PHYSNN_OP_QUANTIZE_LINEAR ||
      n->kind == PHYSNN_OP_DEQUANTIZE_LINEAR)
    return run_qdq (x);
  if (host_node (x))
    return _physnn_ref_run_node (x->g, x->spec, x->vals, n, NULL, x->error);

  switch (n->kind) {
    case PHYSNN_OP_ADD:
    case PHYSNN_OP_SUB:
    case PHYSNN_OP_MUL:
    case PHYSNN_OP_DIV:
      return run_binary (x);
    case PHYSNN_OP_GEMM:
      return run_gemm (x);
    case PHYSNN_OP_MATMUL:
      return run_matmul (x);
    case PHYSNN_OP_CONCAT:
      return run_concat (x);
    case PHYSNN_OP_REDUCE_SUM:
    case PHYSNN_OP_REDUCE_MEAN:
      return run_reduce (x);
    case PHYSNN_OP_CONV:
      return run_conv (x);
    case PHYSNN_OP_MAX_POOL:
    case PHYSNN_OP_AVERAGE_POOL:
      return run_pool (x);
    case PHYSNN_OP_CONSTANT:{
      PhysnnTensor *t = n->attrs.value;
      if (!upload_float (x, n->outputs[0], t, 1))
        return FALSE;
      return TRUE;
    }
    case PHYSNN_OP_CAST:
      if (x->flat[n->inputs[0]] == NULL)     /* integer (host) -> float */
        return upload_float (x, n->outputs[0], x->vals[n->inputs[0]].comp[0],
            1);
      /* float -> float keeps float32 on the device */
      value_alias (x, n->inputs[0], n->outputs[0],
          physnn_tensor_get_rank (x->vals[n->inputs[0]].comp[0]),
          physnn_tensor_get_shape (x->vals[n->inputs[0]].comp[0], NULL));
      return TRUE;
    case PHYSNN_OP_SLICE:
    case PHYSNN_OP_SPLIT:
    case PHYSNN_OP_RESHAPE:
    case PHYSNN_OP_FLATTEN:
    case PHYSNN_OP_UNSQUEEZE:
    case PHYSNN_OP_SQUEEZE:
    case PHYSNN_OP_TRANSPOSE:
    case PHYSNN_OP_PAD:
    case PHYSNN_OP_GATHER:
      return _physnn_ref_run_node (x->g, x->spec, x->vals, n, &hooks,
          x->error);
    default:
      if (physnn_op_is_unary (n->kind))
        return run_unary (x);
      return exec_fail (x, PHYSNN_ERROR_NOT_SUPPORTED, "no OpenCL kernel");
  }
}

gboolean
_physnn_cl_run (PhysnnGraph *g, const PhysnnJetSpec *spec,
    PhysnnClPlan **plan, PhysnnDevice *device, PhysnnTensor **inputs,
    PhysnnJetValue *outputs, GError **error)
{
  gboolean ok = TRUE;

  if (*plan == NULL || (*plan)->device != device ||
      memcmp (&(*plan)->spec, spec, sizeof *spec) != 0) {
    g_clear_pointer (plan, _physnn_cl_plan_free);
    *plan = plan_new (device, spec);
  }
  Exec x = { g, *plan, device, spec, NULL, NULL, NULL, error };
  x.vals = g_new0 (PhysnnJetValue, g->values->len);
  x.flat = g_new0 (PhysnnTensor *, g->values->len);
  physnn_graph_mark_active (g, spec);

  for (guint i = 0; i < g->values->len && ok; i++)
    if (VAL (g, i)->constant)
      ok = constant_value (&x, (gint) i);
  for (guint i = 0; i < g->inputs->len && ok; i++) {
    gint idx = g_array_index (g->inputs, gint, i);
    if (!physnn_dtype_is_float (physnn_tensor_get_dtype (inputs[i]))) {
      x.vals[idx].n_comp = 1;
      x.vals[idx].comp[0] = physnn_tensor_convert (inputs[i],
          PHYSNN_DTYPE_INT64);
      continue;
    }
    gboolean active = VAL (g, idx)->active;
    ok = upload_float (&x, idx, inputs[i], active ? spec->n_comp : 1);
    if (ok && active)
      ok = seed (&x, idx);
  }

  for (guint i = 0; i < g->nodes->len && ok; i++) {
    x.node = g_ptr_array_index (g->nodes, i);
    ok = run_node (&x);
  }

  for (guint o = 0; o < g->outputs->len && ok; o++) {
    gint idx = g_array_index (g->outputs, gint, o);
    outputs[o] = x.vals[idx];
    for (guint c = 0; c < outputs[o].n_comp; c++)
      g_object_ref (outputs[o].comp[c]);
  }
  for (guint i = 0; i < g->values->len; i++) {
    physnn_jet_value_clear (&x.vals[i]);
    g_clear_object (&x.flat[i]);
  }
  g_free (x.vals);
  g_free (x.flat);
  return ok;
}
