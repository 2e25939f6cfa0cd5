/* physnn — the reference executor: the golden model.
 *
 * Every float value is computed in double precision whatever the model's
 * dtype, so this path is more accurate than any float32 implementation and
 * the tests can hold OpenCL and other tools to it. Derivatives are
 * forward-mode jets: each active value carries its first derivatives along
 * the requested directions and the requested second derivatives, and each
 * op propagates them exactly (chain and product rules), never by finite
 * differences.
 *
 * Integer values (shapes, indices) are host int64 arithmetic.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/graph-private.h"
#include "physnn/error.h"
#include "physnn/tensor-private.h"

#include <math.h>
#include <string.h>

#define VAL(g, i) ((PhysnnValue *) g_ptr_array_index ((g)->values, (i)))

typedef struct {
  PhysnnGraph *g;
  const PhysnnJetSpec *spec;
  PhysnnJetValue *vals;         /* one per graph value */
  const PhysnnNode *node;
  GError **error;
  const PhysnnRefHooks *hooks;
} Run;

static gboolean
node_fail (Run *r, gint code, const gchar *fmt, ...) G_GNUC_PRINTF (3, 4);

static gboolean
node_fail (Run *r, gint code, const gchar *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree gchar *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (r->error, PHYSNN_ERROR, code, "%s: node %s (%s): %s",
      r->g->path, r->node->name, r->node->op_type, msg);
  return FALSE;
}

/* ------------------------------------------------------------------------ */
/* Small helpers on float64 / int64 tensors */

static PhysnnTensor *
new_f64 (guint rank, const gsize *shape)
{
  return physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, rank, shape);
}

static gdouble *
D (PhysnnTensor *t)
{
  return _physnn_tensor_host (t, PHYSNN_ACCESS_READWRITE);
}

static const gdouble *
CD (PhysnnTensor *t)
{
  return _physnn_tensor_host (t, PHYSNN_ACCESS_READ);
}

static PhysnnTensor *
as_f64 (PhysnnTensor *t)
{
  if (physnn_tensor_get_dtype (t) == PHYSNN_DTYPE_FLOAT64)
    return g_object_ref (t);
  return physnn_tensor_convert (t, PHYSNN_DTYPE_FLOAT64);
}

static gsize
numel (guint rank, const gsize *shape)
{
  gsize n = 1;
  for (guint i = 0; i < rank; i++)
    n *= shape[i];
  return n;
}

/* Intermediate values are bounded: a hostile or mistaken model must not be
 * able to exhaust memory through broadcasting, outer products or padding. */
#define MAX_VALUE_ELEMENTS (G_GUINT64_CONSTANT (1) << 31)

static gboolean
too_big (Run *r, guint rank, const gsize *shape)
{
  guint64 n = 1;
  for (guint i = 0; i < rank; i++) {
    if (shape[i] != 0 && n > MAX_VALUE_ELEMENTS / shape[i])
      n = MAX_VALUE_ELEMENTS + 1;
    else
      n *= shape[i];
  }
  if (n <= MAX_VALUE_ELEMENTS)
    return FALSE;
  node_fail (r, PHYSNN_ERROR_SHAPE, "the result would have more than 2^31 "
      "elements");
  return TRUE;
}

/* Reads an int64 host vector (shape arithmetic). */
static gboolean
read_ints (Run *r, gint value, GArray **out, const gchar *what)
{
  if (value < 0) {
    *out = NULL;
    return TRUE;
  }
  PhysnnTensor *t = r->vals[value].comp[0];
  if (t == NULL)
    return node_fail (r, PHYSNN_ERROR_FORMAT, "%s is not computed", what);
  if (physnn_dtype_is_float (physnn_tensor_get_dtype (t)))
    return node_fail (r, PHYSNN_ERROR_FORMAT, "%s must be an integer tensor",
        what);
  gsize n = physnn_tensor_get_n_elements (t);
  if (n > 4096)
    return node_fail (r, PHYSNN_ERROR_FORMAT, "%s has %" G_GSIZE_FORMAT
        " entries", what, n);
  *out = g_array_sized_new (FALSE, FALSE, sizeof (gint64), (guint) n);
  for (gsize i = 0; i < n; i++) {
    gint64 v = (gint64) physnn_tensor_get_value (t, i);
    g_array_append_val (*out, v);
  }
  return TRUE;
}

static gboolean
norm_axis (Run *r, gint64 axis, guint rank, guint *out)
{
  gint64 a = axis < 0 ? axis + (gint64) rank : axis;
  if (a < 0 || a >= (gint64) MAX (rank, 1))
    return node_fail (r, PHYSNN_ERROR_SHAPE, "axis %" G_GINT64_FORMAT
        " is out of range for rank %u", axis, rank);
  *out = (guint) a;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Elementwise unary ops: f, f', f'' */

static void
unary_eval (PhysnnOpKind k, const PhysnnOpAttrs *a, gdouble x, gdouble *f,
    gdouble *f1, gdouble *f2)
{
  switch (k) {
    case PHYSNN_OP_IDENTITY:
      *f = x, *f1 = 1, *f2 = 0;
      break;
    case PHYSNN_OP_NEG:
      *f = -x, *f1 = -1, *f2 = 0;
      break;
    case PHYSNN_OP_TANH:{
      gdouble t = tanh (x);
      *f = t, *f1 = 1 - t * t, *f2 = -2 * t * (1 - t * t);
      break;
    }
    case PHYSNN_OP_SIGMOID:{
      gdouble s = x >= 0 ? 1 / (1 + exp (-x)) : exp (x) / (1 + exp (x));
      *f = s, *f1 = s * (1 - s), *f2 = s * (1 - s) * (1 - 2 * s);
      break;
    }
    case PHYSNN_OP_RELU:
      *f = x > 0 ? x : 0, *f1 = x > 0 ? 1 : 0, *f2 = 0;
      break;
    case PHYSNN_OP_LEAKY_RELU:
      *f = x > 0 ? x : a->leaky_alpha * x;
      *f1 = x > 0 ? 1 : a->leaky_alpha, *f2 = 0;
      break;
    case PHYSNN_OP_SIN:
      *f = sin (x), *f1 = cos (x), *f2 = -sin (x);
      break;
    case PHYSNN_OP_COS:
      *f = cos (x), *f1 = -sin (x), *f2 = -cos (x);
      break;
    case PHYSNN_OP_EXP:
      *f = *f1 = *f2 = exp (x);
      break;
    case PHYSNN_OP_LOG:
      *f = log (x), *f1 = 1 / x, *f2 = -1 / (x * x);
      break;
    case PHYSNN_OP_SOFTPLUS:{
      /* log(1 + e^x) without overflow */
      gdouble s = x >= 0 ? 1 / (1 + exp (-x)) : exp (x) / (1 + exp (x));
      *f = x > 0 ? x + log1p (exp (-x)) : log1p (exp (x));
      *f1 = s, *f2 = s * (1 - s);
      break;
    }
    case PHYSNN_OP_ERF:{
      gdouble g = 2 / sqrt (G_PI) * exp (-x * x);
      *f = erf (x), *f1 = g, *f2 = -2 * x * g;
      break;
    }
    case PHYSNN_OP_SQRT:{
      gdouble s = sqrt (x);
      *f = s, *f1 = 0.5 / s, *f2 = -0.25 / (s * x);
      break;
    }
    case PHYSNN_OP_ABS:
      *f = fabs (x), *f1 = x > 0 ? 1 : (x < 0 ? -1 : 0), *f2 = 0;
      break;
    case PHYSNN_OP_POW:{
      gdouble p = a->exponent;
      *f = pow (x, p);
      *f1 = p == 0 ? 0 : p * pow (x, p - 1);
      *f2 = (p == 0 || p == 1) ? 0 : p * (p - 1) * pow (x, p - 2);
      break;
    }
    default:
      *f = *f1 = *f2 = NAN;
  }
}

static void
alloc_like (Run *r, PhysnnJetValue *out, PhysnnTensor *like, gboolean active)
{
  guint rank;
  const gsize *shape = physnn_tensor_get_shape (like, &rank);
  out->n_comp = active ? r->spec->n_comp : 1;
  for (guint c = 0; c < out->n_comp; c++)
    out->comp[c] = new_f64 (rank, shape);
}

static gboolean
run_unary (Run *r)
{
  const PhysnnNode *n = r->node;
  PhysnnJetValue *in = &r->vals[n->inputs[0]];
  PhysnnJetValue *out = &r->vals[n->outputs[0]];
  const PhysnnJetSpec *s = r->spec;
  gboolean active = in->n_comp > 1;

  alloc_like (r, out, in->comp[0], active);
  gsize len = physnn_tensor_get_n_elements (in->comp[0]);
  const gdouble *x = CD (in->comp[0]);
  gdouble *y = D (out->comp[0]);
  const gdouble *xi[PHYSNN_MAX_COMPONENTS];
  gdouble *yi[PHYSNN_MAX_COMPONENTS];
  for (guint c = 1; c < out->n_comp; c++) {
    xi[c] = CD (in->comp[c]);
    yi[c] = D (out->comp[c]);
  }
  for (gsize i = 0; i < len; i++) {
    gdouble f, f1, f2;
    unary_eval (n->kind, &n->attrs, x[i], &f, &f1, &f2);
    y[i] = f;
    if (!active)
      continue;
    for (guint d = 0; d < s->n_first; d++)
      yi[1 + d][i] = f1 * xi[1 + d][i];
    for (guint q = 0; q < s->n_second; q++) {
      guint a = s->second_dirs[q][0], b = s->second_dirs[q][1];
      guint c = 1 + s->n_first + q;
      yi[c][i] = f2 * xi[1 + a][i] * xi[1 + b][i] + f1 * xi[c][i];
    }
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Broadcasting binary ops */

typedef struct {
  guint rank;
  gsize shape[PHYSNN_MAX_RANK];
  gsize sa[PHYSNN_MAX_RANK], sb[PHYSNN_MAX_RANK];       /* strides, 0 = bcast */
  gsize n;
} Bcast;

static gboolean
broadcast (Run *r, PhysnnTensor *a, PhysnnTensor *b, Bcast *bc)
{
  guint ra, rb;
  const gsize *sha = physnn_tensor_get_shape (a, &ra);
  const gsize *shb = physnn_tensor_get_shape (b, &rb);
  guint rank = MAX (ra, rb);
  gsize stride_a = 1, stride_b = 1;

  bc->rank = rank;
  for (gint i = (gint) rank - 1; i >= 0; i--) {
    gint ia = i - (gint) (rank - ra), ib = i - (gint) (rank - rb);
    gsize da = ia >= 0 ? sha[ia] : 1, db = ib >= 0 ? shb[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return node_fail (r, PHYSNN_ERROR_SHAPE, "shapes do not broadcast: "
          "dimension %d is %" G_GSIZE_FORMAT " and %" G_GSIZE_FORMAT, i, da,
          db);
    bc->shape[i] = MAX (da, db);
    if (da == 0 || db == 0)
      bc->shape[i] = 0;
    bc->sa[i] = da == 1 ? 0 : stride_a;
    bc->sb[i] = db == 1 ? 0 : stride_b;
    stride_a *= da;
    stride_b *= db;
  }
  if (too_big (r, rank, bc->shape))
    return FALSE;
  bc->n = numel (rank, bc->shape);
  return TRUE;
}

/* Offsets of flat output index i in a and b. */
static inline void
bcast_offsets (const Bcast *bc, gsize i, gsize *oa, gsize *ob)
{
  gsize a = 0, b = 0;
  for (gint d = (gint) bc->rank - 1; d >= 0; d--) {
    gsize idx = i % bc->shape[d];
    i /= bc->shape[d];
    a += idx * bc->sa[d];
    b += idx * bc->sb[d];
  }
  *oa = a;
  *ob = b;
}

static gboolean
run_binary (Run *r)
{
  const PhysnnNode *n = r->node;
  PhysnnJetValue *A = &r->vals[n->inputs[0]], *B = &r->vals[n->inputs[1]];
  PhysnnJetValue *out = &r->vals[n->outputs[0]];
  const PhysnnJetSpec *s = r->spec;
  Bcast bc;

  if (!broadcast (r, A->comp[0], B->comp[0], &bc))
    return FALSE;
  if (!physnn_dtype_is_float (physnn_tensor_get_dtype (A->comp[0])) &&
      !physnn_dtype_is_float (physnn_tensor_get_dtype (B->comp[0]))) {
    /* shape arithmetic: int64, division truncates as in C */
    out->n_comp = 1;
    out->comp[0] = physnn_tensor_new (PHYSNN_DTYPE_INT64, bc.rank, bc.shape);
    for (gsize i = 0; i < bc.n; i++) {
      gsize oa, ob;
      bcast_offsets (&bc, i, &oa, &ob);
      gint64 x = (gint64) physnn_tensor_get_value (A->comp[0], oa);
      gint64 z = (gint64) physnn_tensor_get_value (B->comp[0], ob);
      gint64 v = n->kind == PHYSNN_OP_ADD ? x + z : n->kind == PHYSNN_OP_SUB ?
          x - z : n->kind == PHYSNN_OP_MUL ? x * z : (z ? x / z : 0);
      physnn_tensor_set_value (out->comp[0], i, (gdouble) v);
    }
    return TRUE;
  }
  gboolean aa = A->n_comp > 1, ba = B->n_comp > 1, active = aa || ba;
  out->n_comp = active ? s->n_comp : 1;
  for (guint c = 0; c < out->n_comp; c++)
    out->comp[c] = new_f64 (bc.rank, bc.shape);

  g_autoptr (PhysnnTensor) fa = NULL, fb = NULL;
  if (!physnn_dtype_is_float (physnn_tensor_get_dtype (A->comp[0])))
    fa = as_f64 (A->comp[0]);
  if (!physnn_dtype_is_float (physnn_tensor_get_dtype (B->comp[0])))
    fb = as_f64 (B->comp[0]);
  const gdouble *a[PHYSNN_MAX_COMPONENTS] = { 0 }, *b[PHYSNN_MAX_COMPONENTS] =
  { 0 };
  gdouble *y[PHYSNN_MAX_COMPONENTS];
  for (guint c = 0; c < out->n_comp; c++) {
    a[c] = c < A->n_comp ? CD (A->comp[c]) : NULL;
    b[c] = c < B->n_comp ? CD (B->comp[c]) : NULL;
    y[c] = D (out->comp[c]);
  }
  if (fa)
    a[0] = CD (fa);
  if (fb)
    b[0] = CD (fb);

#define AC(c) (a[c] ? a[c][oa] : 0.0)
#define BC(c) (b[c] ? b[c][ob] : 0.0)
  for (gsize i = 0; i < bc.n; i++) {
    gsize oa, ob;
    bcast_offsets (&bc, i, &oa, &ob);
    gdouble x = a[0][oa], z = b[0][ob];
    switch (n->kind) {
      case PHYSNN_OP_ADD:
      case PHYSNN_OP_SUB:{
        gdouble sg = n->kind == PHYSNN_OP_ADD ? 1.0 : -1.0;
        y[0][i] = x + sg * z;
        for (guint c = 1; c < out->n_comp; c++)
          y[c][i] = AC (c) + sg * BC (c);
        break;
      }
      case PHYSNN_OP_MUL:
        y[0][i] = x * z;
        for (guint d = 0; d < s->n_first && active; d++)
          y[1 + d][i] = AC (1 + d) * z + x * BC (1 + d);
        for (guint q = 0; q < s->n_second && active; q++) {
          guint p = s->second_dirs[q][0] + 1, t = s->second_dirs[q][1] + 1;
          guint c = 1 + s->n_first + q;
          y[c][i] = AC (c) * z + AC (p) * BC (t) + AC (t) * BC (p) + x * BC (c);
        }
        break;
      case PHYSNN_OP_DIV:{
        /* a / b = a * r with r = 1/b: r' = -b'/b², r'' = 2b'b'/b³ - b''/b² */
        gdouble rr = 1.0 / z, r2 = rr * rr, r3 = r2 * rr;
        gdouble rf[PHYSNN_MAX_DIRS];
        y[0][i] = x * rr;
        for (guint d = 0; d < s->n_first && active; d++) {
          rf[d] = -BC (1 + d) * r2;
          y[1 + d][i] = AC (1 + d) * rr + x * rf[d];
        }
        for (guint q = 0; q < s->n_second && active; q++) {
          guint p = s->second_dirs[q][0], t = s->second_dirs[q][1];
          guint c = 1 + s->n_first + q;
          gdouble rs = 2 * BC (1 + p) * BC (1 + t) * r3 - BC (c) * r2;
          y[c][i] = AC (c) * rr + AC (1 + p) * rf[t] + AC (1 + t) * rf[p] +
              x * rs;
        }
        break;
      }
      default:
        return node_fail (r, PHYSNN_ERROR_NOT_SUPPORTED, "not a binary op");
    }
  }
#undef AC
#undef BC
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Bilinear ops (MatMul, Gemm without C, Conv without bias): the product rule
 * over components, with `fn` computing out += M(a, b). */

typedef gboolean (*BilinearFn) (Run *r, PhysnnTensor *a, PhysnnTensor *b,
    PhysnnTensor *out, gdouble scale);
typedef gboolean (*ShapeFn) (Run *r, PhysnnTensor *a, PhysnnTensor *b,
    guint *rank, gsize *shape);

static gboolean
run_bilinear (Run *r, PhysnnJetValue *A, PhysnnJetValue *B,
    PhysnnJetValue *out, ShapeFn shape_fn, BilinearFn fn, gdouble scale)
{
  const PhysnnJetSpec *s = r->spec;
  guint rank;
  gsize shape[PHYSNN_MAX_RANK];
  gboolean active = A->n_comp > 1 || B->n_comp > 1;

  if (!shape_fn (r, A->comp[0], B->comp[0], &rank, shape))
    return FALSE;
  out->n_comp = active ? s->n_comp : 1;
  for (guint c = 0; c < out->n_comp; c++)
    out->comp[c] = new_f64 (rank, shape);

#define AX(c) ((c) < A->n_comp ? A->comp[c] : NULL)
#define BX(c) ((c) < B->n_comp ? B->comp[c] : NULL)
#define TERM(ta, tb, o) \
  if ((ta) && (tb) && !fn (r, (ta), (tb), out->comp[o], scale)) return FALSE
  TERM (A->comp[0], B->comp[0], 0);
  if (!active)
    return TRUE;
  for (guint d = 0; d < s->n_first; d++) {
    TERM (AX (1 + d), B->comp[0], 1 + d);
    TERM (A->comp[0], BX (1 + d), 1 + d);
  }
  for (guint q = 0; q < s->n_second; q++) {
    guint p = s->second_dirs[q][0] + 1, t = s->second_dirs[q][1] + 1;
    guint c = 1 + s->n_first + q;
    TERM (AX (c), B->comp[0], c);
    TERM (AX (p), BX (t), c);
    TERM (AX (t), BX (p), c);
    TERM (A->comp[0], BX (c), c);
  }
#undef TERM
#undef AX
#undef BX
  return TRUE;
}

/* MatMul with NumPy semantics: 1-D operands are promoted, batch dims
 * broadcast. */
static gboolean
matmul_shape (Run *r, PhysnnTensor *a, PhysnnTensor *b, guint *rank,
    gsize *shape)
{
  guint ra, rb;
  const gsize *sa = physnn_tensor_get_shape (a, &ra);
  const gsize *sb = physnn_tensor_get_shape (b, &rb);
  if (ra == 0 || rb == 0)
    return node_fail (r, PHYSNN_ERROR_SHAPE, "MatMul of a scalar");
  gsize k_a = sa[ra - 1];
  gsize k_b = rb == 1 ? sb[0] : sb[rb - 2];
  if (k_a != k_b)
    return node_fail (r, PHYSNN_ERROR_SHAPE, "inner dimensions differ: %"
        G_GSIZE_FORMAT " and %" G_GSIZE_FORMAT, k_a, k_b);
  guint ba = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0;
  guint br = MAX (ba, bb);
  for (guint i = 0; i < br; i++) {
    gint ia = (gint) i - (gint) (br - ba), ib = (gint) i - (gint) (br - bb);
    gsize da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return node_fail (r, PHYSNN_ERROR_SHAPE, "batch dimensions do not "
          "broadcast");
    shape[i] = MAX (da, db);
  }
  *rank = br;
  if (ra >= 2)
    shape[(*rank)++] = sa[ra - 2];
  if (rb >= 2)
    shape[(*rank)++] = sb[rb - 1];
  return !too_big (r, *rank, shape);
}

static gboolean
matmul_acc (Run *r, PhysnnTensor *a, PhysnnTensor *b, PhysnnTensor *out,
    gdouble scale)
{
  guint ra, rb, ro;
  const gsize *sa = physnn_tensor_get_shape (a, &ra);
  const gsize *sb = physnn_tensor_get_shape (b, &rb);
  const gsize *so = physnn_tensor_get_shape (out, &ro);
  gsize M = ra >= 2 ? sa[ra - 2] : 1, K = sa[ra - 1];
  gsize N = rb >= 2 ? sb[rb - 1] : 1;
  guint ba = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0;
  guint br = MAX (ba, bb);
  gsize batches = numel (br, so);
  const gdouble *A = CD (a), *B = CD (b);
  gdouble *O = D (out);

  for (gsize bi = 0; bi < batches; bi++) {
    /* Batch offsets with broadcasting. */
    gsize rem = bi, offa = 0, offb = 0, stra = M * K, strb = K * N;
    for (gint d = (gint) br - 1; d >= 0; d--) {
      gsize idx = rem % so[d];
      rem /= so[d];
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
    const gdouble *Ab = A + offa, *Bb = B + offb;
    gdouble *Ob = O + bi * M * N;
    for (gsize i = 0; i < M; i++)
      for (gsize j = 0; j < N; j++) {
        gdouble acc = 0;
        for (gsize k = 0; k < K; k++)
          acc += Ab[i * K + k] * Bb[k * N + j];
        Ob[i * N + j] += scale * acc;
      }
  }
  return TRUE;
}

static gboolean
gemm_shape (Run *r, PhysnnTensor *a, PhysnnTensor *b, guint *rank,
    gsize *shape)
{
  const PhysnnOpAttrs *at = &r->node->attrs;
  if (physnn_tensor_get_rank (a) != 2 || physnn_tensor_get_rank (b) != 2)
    return node_fail (r, PHYSNN_ERROR_SHAPE, "Gemm needs 2-D inputs, got "
        "ranks %u and %u", physnn_tensor_get_rank (a),
        physnn_tensor_get_rank (b));
  gsize M = physnn_tensor_get_dim (a, at->trans_a ? 1 : 0);
  gsize Ka = physnn_tensor_get_dim (a, at->trans_a ? 0 : 1);
  gsize Kb = physnn_tensor_get_dim (b, at->trans_b ? 1 : 0);
  gsize N = physnn_tensor_get_dim (b, at->trans_b ? 0 : 1);
  if (Ka != Kb)
    return node_fail (r, PHYSNN_ERROR_SHAPE, "inner dimensions differ: A has "
        "%" G_GSIZE_FORMAT ", B has %" G_GSIZE_FORMAT, Ka, Kb);
  *rank = 2;
  shape[0] = M;
  shape[1] = N;
  return !too_big (r, 2, shape);
}

static gboolean
gemm_acc (Run *r, PhysnnTensor *a, PhysnnTensor *b, PhysnnTensor *out,
    gdouble scale)
{
  const PhysnnOpAttrs *at = &r->node->attrs;
  gsize M = physnn_tensor_get_dim (out, 0), N = physnn_tensor_get_dim (out, 1);
  gsize K = physnn_tensor_get_dim (a, at->trans_a ? 0 : 1);
  const gdouble *A = CD (a), *B = CD (b);
  gdouble *O = D (out);
  for (gsize i = 0; i < M; i++)
    for (gsize j = 0; j < N; j++) {
      gdouble acc = 0;
      for (gsize k = 0; k < K; k++) {
        gdouble av = at->trans_a ? A[k * M + i] : A[i * K + k];
        gdouble bv = at->trans_b ? B[j * K + k] : B[k * N + j];
        acc += av * bv;
      }
      O[i * N + j] += scale * acc;
    }
  return TRUE;
}

static gboolean
run_gemm (Run *r)
{
  const PhysnnNode *n = r->node;
  PhysnnJetValue *out = &r->vals[n->outputs[0]];
  if (!run_bilinear (r, &r->vals[n->inputs[0]], &r->vals[n->inputs[1]], out,
          gemm_shape, gemm_acc, n->attrs.alpha))
    return FALSE;
  if (n->n_inputs < 3 || n->inputs[2] < 0 || n->attrs.beta == 0.0f)
    return TRUE;
  PhysnnJetValue *C = &r->vals[n->inputs[2]];
  Bcast bc;
  if (!broadcast (r, out->comp[0], C->comp[0], &bc))
    return FALSE;
  if (bc.n != physnn_tensor_get_n_elements (out->comp[0]))
    return node_fail (r, PHYSNN_ERROR_SHAPE, "C does not broadcast to the "
        "output");
  for (guint c = 0; c < MIN (C->n_comp, out->n_comp); c++) {
    gdouble *o = D (out->comp[c]);
    const gdouble *cv = CD (C->comp[c]);
    for (gsize i = 0; i < bc.n; i++) {
      gsize oa, ob;
      bcast_offsets (&bc, i, &oa, &ob);
      o[i] += n->attrs.beta * cv[ob];
    }
  }
  return TRUE;
}

static gboolean
run_matmul (Run *r)
{
  const PhysnnNode *n = r->node;
  return run_bilinear (r, &r->vals[n->inputs[0]], &r->vals[n->inputs[1]],
      &r->vals[n->outputs[0]], matmul_shape, matmul_acc, 1.0);
}

/* ------------------------------------------------------------------------ */
/* Linear data movement: the same index map applied to every component. */

/* Copies `out[o] = in[map[o]]`; map built once per node. */
static void
gather_copy (PhysnnTensor *in, PhysnnTensor *out, const gsize *map, gsize n)
{
  if (physnn_dtype_is_float (physnn_tensor_get_dtype (in))) {
    const gdouble *s = CD (in);
    gdouble *d = D (out);
    for (gsize i = 0; i < n; i++)
      d[i] = s[map ? map[i] : i];
  } else {
    for (gsize i = 0; i < n; i++)
      physnn_tensor_set_value (out, i, physnn_tensor_get_value (in,
              map ? map[i] : i));
  }
}

static PhysnnTensor *
new_like_dtype (PhysnnTensor *like, guint rank, const gsize *shape)
{
  PhysnnDType dt = physnn_dtype_is_float (physnn_tensor_get_dtype (like)) ?
      PHYSNN_DTYPE_FLOAT64 : PHYSNN_DTYPE_INT64;
  return physnn_tensor_new (dt, rank, shape);
}

/* Applies an index map from input value `in` to output value `out`. Another
 * executor can take over the copy (the OpenCL one does it on the device). */
static gboolean
apply_map (Run *r, gint in, gint out, guint rank, const gsize *shape,
    const gsize *map)
{
  PhysnnJetValue *I = &r->vals[in], *O = &r->vals[out];
  gsize n = numel (rank, shape);
  if (r->hooks && physnn_dtype_is_float (physnn_tensor_get_dtype
          (I->comp[0])))
    return r->hooks->apply_map (r->hooks->user, I, O, rank, shape, map,
        r->error);
  O->n_comp = I->n_comp;
  for (guint c = 0; c < I->n_comp; c++) {
    O->comp[c] = new_like_dtype (I->comp[c], rank, shape);
    gather_copy (I->comp[c], O->comp[c], map, n);
  }
  return TRUE;
}

static void
strides_of (guint rank, const gsize *shape, gsize *strides)
{
  gsize s = 1;
  for (gint i = (gint) rank - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
}

static gboolean
run_reshape_like (Run *r, guint rank, const gsize *shape)
{
  const PhysnnNode *n = r->node;
  PhysnnTensor *x = r->vals[n->inputs[0]].comp[0];
  gsize cnt = numel (rank, shape);
  if (cnt != physnn_tensor_get_n_elements (x))
    return node_fail (r, PHYSNN_ERROR_SHAPE, "cannot reshape %" G_GSIZE_FORMAT
        " elements into %" G_GSIZE_FORMAT, physnn_tensor_get_n_elements (x),
        cnt);
  /* NULL map: the identity, which an executor may implement by aliasing. */
  return apply_map (r, n->inputs[0], n->outputs[0], rank, shape, NULL);
}

static gboolean
run_reshape (Run *r)
{
  const PhysnnNode *n = r->node;
  PhysnnTensor *x = r->vals[n->inputs[0]].comp[0];
  g_autoptr (GArray) spec = NULL;
  guint xr;
  const gsize *xs = physnn_tensor_get_shape (x, &xr);
  gsize shape[PHYSNN_MAX_RANK];
  gint infer = -1;
  gsize known = 1;

  if (!read_ints (r, n->inputs[1], &spec, "the shape input"))
    return FALSE;
  if (spec->len > PHYSNN_MAX_RANK)
    return node_fail (r, PHYSNN_ERROR_SHAPE, "target rank %u", spec->len);
  for (guint i = 0; i < spec->len; i++) {
    gint64 v = g_array_index (spec, gint64, i);
    if (v == -1) {
      if (infer >= 0)
        return node_fail (r, PHYSNN_ERROR_SHAPE, "two -1 in the shape");
      infer = (gint) i;
      shape[i] = 1;
    } else if (v == 0) {
      if (i >= xr)
        return node_fail (r, PHYSNN_ERROR_SHAPE, "0 refers to a missing "
            "input dimension");
      shape[i] = xs[i];
    } else if (v < 0) {
      return node_fail (r, PHYSNN_ERROR_SHAPE, "negative dimension %"
          G_GINT64_FORMAT, v);
    } else {
      shape[i] = (gsize) v;
    }
    known *= shape[i];
  }
  if (infer >= 0) {
    gsize total = physnn_tensor_get_n_elements (x);
    if (known == 0 || total % known != 0)
      return node_fail (r, PHYSNN_ERROR_SHAPE, "cannot infer -1: %"
          G_GSIZE_FORMAT " elements are not divisible by %" G_GSIZE_FORMAT,
          total, known);
    shape[infer] = total / known;
  }
  return run_reshape_like (r, spec->len, shape);
}

static gboolean
run_flatten (Run *r)
{
  PhysnnTensor *x = r->vals[r->node->inputs[0]].comp[0];
  guint xr, axis = 0;
  const gsize *xs = physnn_tensor_get_shape (x, &xr);
  gint64 a = r->node->attrs.axis;
  if (a < 0)
    a += xr;
  if (a < 0 || a > (gint64) xr)
    return node_fail (r, PHYSNN_ERROR_SHAPE, "axis out of range");
  axis = (guint) a;
  gsize shape[2] = { numel (axis, xs), numel (xr - axis, xs + axis) };
  return run_reshape_like (r, 2, shape);
}

static gboolean
axes_list (Run *r, GArray **axes)
{
  const PhysnnNode *n = r->node;
  if (n->attrs.ints) {
    *axes = g_array_ref (n->attrs.ints);
    return TRUE;
  }
  return read_ints (r, n->n_inputs > 1 ? n->inputs[1] : -1, axes, "axes");
}

static gboolean
run_unsqueeze_squeeze (Run *r)
{
  const PhysnnNode *n = r->node;
  PhysnnTensor *x = r->vals[n->inputs[0]].comp[0];
  g_autoptr (GArray) axes = NULL;
  guint xr;
  const gsize *xs = physnn_tensor_get_shape (x, &xr);
  gsize shape[PHYSNN_MAX_RANK];
  guint rank = 0;

  if (!axes_list (r, &axes))
    return FALSE;
  if (n->kind == PHYSNN_OP_UNSQUEEZE) {
    guint out_rank = xr + (axes ? axes->len : 0);
    gboolean mark[PHYSNN_MAX_RANK] = { 0 };
    if (out_rank > PHYSNN_MAX_RANK)
      return node_fail (r, PHYSNN_ERROR_SHAPE, "rank above %d",
          PHYSNN_MAX_RANK);
    for (guint i = 0; axes && i < axes->len; i++) {
      guint ax = 0;
      if (!norm_axis (r, g_array_index (axes, gint64, i), out_rank, &ax))
        return FALSE;
      mark[ax] = TRUE;
    }
    guint src = 0;
    for (guint i = 0; i < out_rank; i++)
      shape[rank++] = mark[i] ? 1 : xs[src++];
  } else {
    gboolean mark[PHYSNN_MAX_RANK] = { 0 };
    for (guint i = 0; axes && i < axes->len; i++) {
      guint ax = 0;
      if (!norm_axis (r, g_array_index (axes, gint64, i), xr, &ax))
        return FALSE;
      if (xs[ax] != 1)
        return node_fail (r, PHYSNN_ERROR_SHAPE, "cannot squeeze axis %u of "
            "size %" G_GSIZE_FORMAT, ax, xs[ax]);
      mark[ax] = TRUE;
    }
    for (guint i = 0; i < xr; i++)
      if (!(axes ? mark[i] : xs[i] == 1))
        shape[rank++] = xs[i];
  }
  return run_reshape_like (r, rank, shape);
}

static gboolean
run_transpose (Run *r)
{
  const PhysnnNode *n = r->node;
  PhysnnTensor *x = r->vals[n->inputs[0]].comp[0];
  guint xr;
  const gsize *xs = physnn_tensor_get_shape (x, &xr);
  guint perm[PHYSNN_MAX_RANK];
  gsize shape[PHYSNN_MAX_RANK], in_str[PHYSNN_MAX_RANK];
  gboolean seen[PHYSNN_MAX_RANK] = { 0 };

  for (guint i = 0; i < xr; i++)
    perm[i] = xr - 1 - i;
  if (n->attrs.ints) {
    if (n->attrs.ints->len != xr)
      return node_fail (r, PHYSNN_ERROR_SHAPE, "perm has %u entries for rank "
          "%u", n->attrs.ints->len, xr);
    for (guint i = 0; i < xr; i++) {
      guint ax = 0;
      if (!norm_axis (r, g_array_index (n->attrs.ints, gint64, i), xr, &ax))
        return FALSE;
      if (seen[ax])
        return node_fail (r, PHYSNN_ERROR_SHAPE, "perm repeats axis %u", ax);
      seen[ax] = TRUE;
      perm[i] = ax;
    }
  }
  strides_of (xr, xs, in_str);
  for (guint i = 0; i < xr; i++)
    shape[i] = xs[perm[i]];
  gsize cnt = numel (xr, shape);
  g_autofree gsize *map = g_new (gsize, MAX (cnt, 1));
  for (gsize o = 0; o < cnt; o++) {
    gsize rem = o, src = 0;
    for (gint d = (gint) xr - 1; d >= 0; d--) {
      gsize idx = rem % shape[d];
      rem /= shape[d];
      src += idx * in_str[perm[d]];
    }
    map[o] = src;
  }
  return apply_map (r, n->inputs[0], n->outputs[0], xr, shape, map);
}

/* Pad, constant mode. The pad value has no derivative, so derivative
 * components are padded with zeros. Implemented as an index map with
 * G_MAXSIZE marking padding. */
static gboolean
run_pad (Run *r)
{
  const PhysnnNode *n = r->node;
  PhysnnTensor *x = r->vals[n->inputs[0]].comp[0];
  g_autoptr (GArray) pads = NULL;
  guint xr;
  const gsize *xs = physnn_tensor_get_shape (x, &xr);
  gsize shape[PHYSNN_MAX_RANK], in_str[PHYSNN_MAX_RANK];
  gint64 before[PHYSNN_MAX_RANK] = { 0 };
  gdouble value = n->attrs.exponent;

  if (n->attrs.ints)
    pads = g_array_ref (n->attrs.ints);
  else if (!read_ints (r, n->n_inputs > 1 ? n->inputs[1] : -1, &pads, "pads"))
    return FALSE;
  if (n->n_inputs > 2 && n->inputs[2] >= 0)
    value = physnn_tensor_get_value (r->vals[n->inputs[2]].comp[0], 0);
  if (n->n_inputs > 3 && n->inputs[3] >= 0)
    return node_fail (r, PHYSNN_ERROR_NOT_SUPPORTED, "the axes input is not "
        "supported");
  if (pads == NULL || pads->len != 2 * xr)
    return node_fail (r, PHYSNN_ERROR_SHAPE, "pads must list %u values", 2 * xr);
  for (guint d = 0; d < xr; d++) {
    gint64 b = g_array_index (pads, gint64, d);
    gint64 e = g_array_index (pads, gint64, d + xr);
    if (b < 0 || e < 0 || b > 65536 || e > 65536)
      return node_fail (r, PHYSNN_ERROR_NOT_SUPPORTED, "negative or huge pads");
    before[d] = b;
    shape[d] = xs[d] + (gsize) (b + e);
  }
  if (too_big (r, xr, shape))
    return FALSE;
  strides_of (xr, xs, in_str);
  gsize cnt = numel (xr, shape);
  PhysnnJetValue *I = &r->vals[n->inputs[0]], *O = &r->vals[n->outputs[0]];
  g_autofree gsize *map = g_new (gsize, MAX (cnt, 1));
  for (gsize o = 0; o < cnt; o++) {
    gsize rem = o, src = 0;
    gboolean inside = TRUE;
    for (gint d = (gint) xr - 1; d >= 0; d--) {
      gint64 idx = (gint64) (rem % shape[d]) - before[d];
      rem /= shape[d];
      if (idx < 0 || idx >= (gint64) xs[d])
        inside = FALSE;
      else
        src += (gsize) idx * in_str[d];
    }
    map[o] = inside ? src : G_MAXSIZE;
  }
  if (r->hooks && physnn_dtype_is_float (physnn_tensor_get_dtype (x)))
    return r->hooks->apply_pad (r->hooks->user, I, O, xr, shape, map, value,
        r->error);
  O->n_comp = I->n_comp;
  for (guint c = 0; c < I->n_comp; c++) {
    O->comp[c] = new_like_dtype (I->comp[c], xr, shape);
    for (gsize o = 0; o < cnt; o++)
      physnn_tensor_set_value (O->comp[c], o, map[o] == G_MAXSIZE ?
          (c == 0 ? value : 0.0) : physnn_tensor_get_value (I->comp[c],
              map[o]));
  }
  return TRUE;
}

static gboolean
run_concat (Run *r)
{
  const PhysnnNode *n = r->node;
  PhysnnTensor *first = NULL;
  guint rank = 0, axis = 0;
  gsize shape[PHYSNN_MAX_RANK];
  gboolean active = FALSE;
  guint n_in = 0;

  for (guint k = 0; k < n->n_inputs; k++) {
    if (n->inputs[k] < 0)
      continue;
    PhysnnTensor *t = r->vals[n->inputs[k]].comp[0];
    active |= r->vals[n->inputs[k]].n_comp > 1;
    if (first == NULL) {
      first = t;
      const gsize *fs = physnn_tensor_get_shape (t, &rank);
      memcpy (shape, fs, rank * sizeof (gsize));
      if (!norm_axis (r, n->attrs.axis, rank, &axis))
        return FALSE;
      shape[axis] = 0;
    }
    guint tr;
    const gsize *ts = physnn_tensor_get_shape (t, &tr);
    if (tr != rank)
      return node_fail (r, PHYSNN_ERROR_SHAPE, "inputs have ranks %u and %u",
          rank, tr);
    for (guint d = 0; d < rank; d++)
      if (d != axis && ts[d] != shape[d])
        return node_fail (r, PHYSNN_ERROR_SHAPE, "input %u has %"
            G_GSIZE_FORMAT " in dimension %u, expected %" G_GSIZE_FORMAT, k,
            ts[d], d, shape[d]);
    shape[axis] += ts[axis];
    n_in++;
  }
  if (first == NULL)
    return node_fail (r, PHYSNN_ERROR_FORMAT, "no inputs");

  PhysnnJetValue *O = &r->vals[n->outputs[0]];
  gsize outer = numel (axis, shape), inner = numel (rank - axis - 1,
      shape + axis + 1);
  O->n_comp = active ? r->spec->n_comp : 1;
  for (guint c = 0; c < O->n_comp; c++) {
    O->comp[c] = new_like_dtype (first, rank, shape);
    gsize off = 0;
    for (guint k = 0; k < n->n_inputs; k++) {
      if (n->inputs[k] < 0)
        continue;
      PhysnnJetValue *I = &r->vals[n->inputs[k]];
      gsize len = physnn_tensor_get_dim (I->comp[0], axis);
      for (gsize o = 0; o < outer; o++)
        for (gsize j = 0; j < len * inner; j++) {
          gsize dst = (o * shape[axis] + off) * inner + j;
          gdouble v = c < I->n_comp ?
              physnn_tensor_get_value (I->comp[c], o * len * inner + j) : 0.0;
          if (physnn_dtype_is_float (physnn_tensor_get_dtype (O->comp[c])))
            D (O->comp[c])[dst] = v;
          else
            physnn_tensor_set_value (O->comp[c], dst, v);
        }
      off += len;
    }
  }
  return TRUE;
}

static gboolean
run_slice (Run *r)
{
  const PhysnnNode *n = r->node;
  PhysnnTensor *x = r->vals[n->inputs[0]].comp[0];
  g_autoptr (GArray) starts = NULL, ends = NULL, axes = NULL, steps = NULL;
  guint xr;
  const gsize *xs = physnn_tensor_get_shape (x, &xr);
  gint64 st[PHYSNN_MAX_RANK], sp[PHYSNN_MAX_RANK];
  gsize shape[PHYSNN_MAX_RANK], in_str[PHYSNN_MAX_RANK];

  if (!read_ints (r, n->inputs[1], &starts, "starts") ||
      !read_ints (r, n->n_inputs > 2 ? n->inputs[2] : -1, &ends, "ends") ||
      !read_ints (r, n->n_inputs > 3 ? n->inputs[3] : -1, &axes, "axes") ||
      !read_ints (r, n->n_inputs > 4 ? n->inputs[4] : -1, &steps, "steps"))
    return FALSE;
  if (starts == NULL || ends == NULL || starts->len != ends->len ||
      (axes && axes->len != starts->len) || (steps && steps->len !=
          starts->len))
    return node_fail (r, PHYSNN_ERROR_FORMAT, "starts, ends, axes and steps "
        "must have the same length");
  for (guint d = 0; d < xr; d++) {
    st[d] = 0;
    sp[d] = 1;
    shape[d] = xs[d];
  }
  for (guint i = 0; i < starts->len; i++) {
    guint ax = i;
    if (axes && !norm_axis (r, g_array_index (axes, gint64, i), xr, &ax))
      return FALSE;
    if (ax >= xr)
      return node_fail (r, PHYSNN_ERROR_SHAPE, "more slice axes than rank");
    gint64 dim = (gint64) xs[ax];
    gint64 s = g_array_index (starts, gint64, i);
    gint64 e = g_array_index (ends, gint64, i);
    gint64 step = steps ? g_array_index (steps, gint64, i) : 1;
    if (step == 0)
      return node_fail (r, PHYSNN_ERROR_FORMAT, "step 0");
    if (s < 0)
      s += dim;
    if (e < 0)
      e += dim;
    if (step > 0) {
      s = CLAMP (s, 0, dim);
      e = CLAMP (e, 0, dim);
      shape[ax] = e > s ? (gsize) ((e - s + step - 1) / step) : 0;
    } else {
      s = CLAMP (s, 0, dim - 1);
      e = CLAMP (e, -1, dim - 1);
      shape[ax] = s > e ? (gsize) ((s - e + (-step) - 1) / (-step)) : 0;
    }
    st[ax] = s;
    sp[ax] = step;
  }
  strides_of (xr, xs, in_str);
  gsize cnt = numel (xr, shape);
  g_autofree gsize *map = g_new (gsize, MAX (cnt, 1));
  for (gsize o = 0; o < cnt; o++) {
    gsize rem = o, src = 0;
    for (gint d = (gint) xr - 1; d >= 0; d--) {
      gsize idx = rem % shape[d];
      rem /= shape[d];
      src += (gsize) (st[d] + (gint64) idx * sp[d]) * in_str[d];
    }
    map[o] = src;
  }
  return apply_map (r, n->inputs[0], n->outputs[0], xr, shape, map);
}

static gboolean
run_split (Run *r)
{
  const PhysnnNode *n = r->node;
  PhysnnTensor *x = r->vals[n->inputs[0]].comp[0];
  g_autoptr (GArray) sizes = NULL;
  guint xr, axis = 0;
  const gsize *xs = physnn_tensor_get_shape (x, &xr);
  gsize in_str[PHYSNN_MAX_RANK];

  if (!norm_axis (r, n->attrs.axis, xr, &axis))
    return FALSE;
  if (n->attrs.split)
    sizes = g_array_ref (n->attrs.split);
  else if (n->n_inputs > 1 && !read_ints (r, n->inputs[1], &sizes, "split"))
    return FALSE;
  if (sizes == NULL) {
    if (xs[axis] % n->n_outputs != 0)
      return node_fail (r, PHYSNN_ERROR_SHAPE, "axis of %" G_GSIZE_FORMAT
          " does not split evenly into %u", xs[axis], n->n_outputs);
    sizes = g_array_new (FALSE, FALSE, sizeof (gint64));
    for (guint k = 0; k < n->n_outputs; k++) {
      gint64 v = (gint64) (xs[axis] / n->n_outputs);
      g_array_append_val (sizes, v);
    }
  }
  gint64 total = 0;
  for (guint k = 0; k < sizes->len; k++)
    total += g_array_index (sizes, gint64, k);
  if (sizes->len != n->n_outputs || total != (gint64) xs[axis])
    return node_fail (r, PHYSNN_ERROR_SHAPE, "split sizes do not match axis "
        "%u of %" G_GSIZE_FORMAT, axis, xs[axis]);
  strides_of (xr, xs, in_str);
  gsize off = 0;
  for (guint k = 0; k < n->n_outputs; k++) {
    gsize shape[PHYSNN_MAX_RANK];
    memcpy (shape, xs, xr * sizeof (gsize));
    shape[axis] = (gsize) g_array_index (sizes, gint64, k);
    gsize cnt = numel (xr, shape);
    g_autofree gsize *map = g_new (gsize, MAX (cnt, 1));
    for (gsize o = 0; o < cnt; o++) {
      gsize rem = o, src = 0;
      for (gint d = (gint) xr - 1; d >= 0; d--) {
        gsize idx = rem % shape[d];
        rem /= shape[d];
        src += (idx + ((guint) d == axis ? off : 0)) * in_str[d];
      }
      map[o] = src;
    }
    if (!apply_map (r, n->inputs[0], n->outputs[k], xr, shape, map))
      return FALSE;
    off += shape[axis];
  }
  return TRUE;
}

static gboolean
run_reduce (Run *r)
{
  const PhysnnNode *n = r->node;
  PhysnnJetValue *I = &r->vals[n->inputs[0]], *O = &r->vals[n->outputs[0]];
  g_autoptr (GArray) axes = NULL;
  guint xr;
  const gsize *xs = physnn_tensor_get_shape (I->comp[0], &xr);
  gboolean mark[PHYSNN_MAX_RANK] = { 0 };
  gsize shape[PHYSNN_MAX_RANK], kshape[PHYSNN_MAX_RANK];
  guint rank = 0;

  if (!axes_list (r, &axes))
    return FALSE;
  if (axes == NULL || axes->len == 0) {
    if (n->attrs.noop_with_empty_axes)
      return run_reshape_like (r, xr, xs);
    for (guint d = 0; d < xr; d++)
      mark[d] = TRUE;
  }
  for (guint i = 0; axes && i < axes->len; i++) {
    guint ax = 0;
    if (!norm_axis (r, g_array_index (axes, gint64, i), xr, &ax))
      return FALSE;
    mark[ax] = TRUE;
  }
  gsize count = 1;
  for (guint d = 0; d < xr; d++) {
    kshape[d] = mark[d] ? 1 : xs[d];
    if (mark[d])
      count *= xs[d];
    if (!mark[d] || n->attrs.keepdims)
      shape[rank++] = kshape[d];
  }
  gdouble scale = n->kind == PHYSNN_OP_REDUCE_MEAN ? 1.0 / MAX (count, 1) :
      1.0;
  gsize total = numel (xr, xs);
  O->n_comp = I->n_comp;
  for (guint c = 0; c < I->n_comp; c++) {
    O->comp[c] = new_f64 (rank, shape);
    const gdouble *x = CD (I->comp[c]);
    gdouble *y = D (O->comp[c]);
    for (gsize i = 0; i < total; i++) {
      gsize rem = i, dst = 0, mul = 1;
      for (gint d = (gint) xr - 1; d >= 0; d--) {
        gsize idx = rem % xs[d];
        rem /= xs[d];
        dst += (mark[d] ? 0 : idx) * mul;
        mul *= kshape[d];
      }
      y[dst] += scale * x[i];
    }
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Convolution and pooling (N, C, spatial...) */

typedef struct {
  guint ns;
  gsize N, C, M;
  gsize in[3], out[3], k[3];
  gint64 s[3], d[3], pb[3], pe[3];
  gsize group;
} ConvGeom;

static gboolean
conv_geometry (Run *r, PhysnnTensor *x, const gsize *kernel, gsize M,
    ConvGeom *g)
{
  const PhysnnOpAttrs *a = &r->node->attrs;
  guint xr;
  const gsize *xs = physnn_tensor_get_shape (x, &xr);
  if (xr != 2 + a->n_spatial)
    return node_fail (r, PHYSNN_ERROR_SHAPE, "input has rank %u; expected %u "
        "(N, C and %u spatial)", xr, 2 + a->n_spatial, a->n_spatial);
  g->ns = a->n_spatial;
  g->N = xs[0];
  g->C = xs[1];
  g->M = M;
  g->group = (gsize) a->group;
  for (guint i = 0; i < g->ns; i++) {
    g->in[i] = xs[2 + i];
    g->k[i] = kernel[i];
    g->s[i] = a->strides[i];
    g->d[i] = a->dilations[i];
    g->pb[i] = a->pads[i];
    g->pe[i] = a->pads[i + g->ns];
    gint64 ext = (gint64) (g->k[i] - 1) * g->d[i] + 1;
    if (a->auto_pad_same) {
      gint64 o = ((gint64) g->in[i] + g->s[i] - 1) / g->s[i];
      gint64 pad = MAX ((o - 1) * g->s[i] + ext - (gint64) g->in[i], 0);
      g->pb[i] = pad / 2;
      g->pe[i] = pad - pad / 2;
    }
    gint64 span = (gint64) g->in[i] + g->pb[i] + g->pe[i] - ext;
    if (span < 0)
      return node_fail (r, PHYSNN_ERROR_SHAPE, "kernel larger than the "
          "padded input along spatial axis %u", i);
    gint64 o = a->ceil_mode ? (span + g->s[i] - 1) / g->s[i] + 1 :
        span / g->s[i] + 1;
    g->out[i] = (gsize) o;
  }
  for (guint i = g->ns; i < 3; i++) {
    g->in[i] = g->out[i] = g->k[i] = 1;
    g->s[i] = g->d[i] = 1;
    g->pb[i] = g->pe[i] = 0;
  }
  return TRUE;
}

static void
conv_out_shape (const ConvGeom *g, gsize channels, guint *rank, gsize *shape)
{
  shape[0] = g->N;
  shape[1] = channels;
  for (guint i = 0; i < g->ns; i++)
    shape[2 + i] = g->out[i];
  *rank = 2 + g->ns;
}

static gboolean
conv_shape (Run *r, PhysnnTensor *x, PhysnnTensor *w, guint *rank,
    gsize *shape)
{
  ConvGeom g;
  guint wr;
  const gsize *ws = physnn_tensor_get_shape (w, &wr);
  if (wr != 2 + r->node->attrs.n_spatial)
    return node_fail (r, PHYSNN_ERROR_SHAPE, "weight has rank %u", wr);
  if (!conv_geometry (r, x, ws + 2, ws[0], &g))
    return FALSE;
  if (g.C % g.group || g.M % g.group || ws[1] * g.group != g.C)
    return node_fail (r, PHYSNN_ERROR_SHAPE, "channels %" G_GSIZE_FORMAT
        " and weight %" G_GSIZE_FORMAT "x%" G_GSIZE_FORMAT " do not fit group "
        "%" G_GSIZE_FORMAT, g.C, ws[0], ws[1], g.group);
  conv_out_shape (&g, g.M, rank, shape);
  return !too_big (r, *rank, shape);
}

static gboolean
conv_acc (Run *r, PhysnnTensor *x, PhysnnTensor *w, PhysnnTensor *out,
    gdouble scale)
{
  ConvGeom g;
  const gsize *ws = physnn_tensor_get_shape (w, NULL);
  if (!conv_geometry (r, x, ws + 2, ws[0], &g))
    return FALSE;
  const gdouble *X = CD (x), *W = CD (w);
  gdouble *Y = D (out);
  gsize cg = g.C / g.group, mg = g.M / g.group;
  gsize osz = g.out[0] * g.out[1] * g.out[2], isz = g.in[0] * g.in[1] *
      g.in[2];
  gsize ksz = g.k[0] * g.k[1] * g.k[2];

  for (gsize nb = 0; nb < g.N; nb++)
    for (gsize m = 0; m < g.M; m++) {
      gsize grp = m / mg;
      for (gsize o0 = 0; o0 < g.out[0]; o0++)
        for (gsize o1 = 0; o1 < g.out[1]; o1++)
          for (gsize o2 = 0; o2 < g.out[2]; o2++) {
            gdouble acc = 0;
            for (gsize c = 0; c < cg; c++) {
              gsize ci = grp * cg + c;
              const gdouble *xc = X + (nb * g.C + ci) * isz;
              const gdouble *wc = W + (m * cg + c) * ksz;
              for (gsize k0 = 0; k0 < g.k[0]; k0++) {
                gint64 i0 = (gint64) o0 * g.s[0] - g.pb[0] + (gint64) k0 *
                    g.d[0];
                if (i0 < 0 || i0 >= (gint64) g.in[0])
                  continue;
                for (gsize k1 = 0; k1 < g.k[1]; k1++) {
                  gint64 i1 = (gint64) o1 * g.s[1] - g.pb[1] + (gint64) k1 *
                      g.d[1];
                  if (i1 < 0 || i1 >= (gint64) g.in[1])
                    continue;
                  for (gsize k2 = 0; k2 < g.k[2]; k2++) {
                    gint64 i2 = (gint64) o2 * g.s[2] - g.pb[2] + (gint64) k2 *
                        g.d[2];
                    if (i2 < 0 || i2 >= (gint64) g.in[2])
                      continue;
                    acc += xc[((gsize) i0 * g.in[1] + (gsize) i1) * g.in[2] +
                        (gsize) i2] * wc[(k0 * g.k[1] + k1) * g.k[2] + k2];
                  }
                }
              }
            }
            Y[(nb * g.M + m) * osz + (o0 * g.out[1] + o1) * g.out[2] + o2] +=
                scale * acc;
          }
    }
  return TRUE;
}

static gboolean
run_conv (Run *r)
{
  const PhysnnNode *n = r->node;
  PhysnnJetValue *O = &r->vals[n->outputs[0]];
  if (!run_bilinear (r, &r->vals[n->inputs[0]], &r->vals[n->inputs[1]], O,
          conv_shape, conv_acc, 1.0))
    return FALSE;
  if (n->n_inputs < 3 || n->inputs[2] < 0)
    return TRUE;
  PhysnnJetValue *B = &r->vals[n->inputs[2]];
  gsize M = physnn_tensor_get_dim (O->comp[0], 1);
  if (physnn_tensor_get_n_elements (B->comp[0]) != M)
    return node_fail (r, PHYSNN_ERROR_SHAPE, "bias has %" G_GSIZE_FORMAT
        " values for %" G_GSIZE_FORMAT " channels",
        physnn_tensor_get_n_elements (B->comp[0]), M);
  gsize N = physnn_tensor_get_dim (O->comp[0], 0);
  gsize sp = physnn_tensor_get_n_elements (O->comp[0]) / MAX (N * M, 1);
  for (guint c = 0; c < MIN (B->n_comp, O->n_comp); c++) {
    gdouble *y = D (O->comp[c]);
    const gdouble *b = CD (B->comp[c]);
    for (gsize i = 0; i < N * M; i++)
      for (gsize j = 0; j < sp; j++)
        y[i * sp + j] += b[i % M];
  }
  return TRUE;
}

static gboolean
run_pool (Run *r)
{
  const PhysnnNode *n = r->node;
  PhysnnJetValue *I = &r->vals[n->inputs[0]], *O = &r->vals[n->outputs[0]];
  ConvGeom g;
  gsize kernel[3] = { 1, 1, 1 };
  guint rank;
  gsize shape[PHYSNN_MAX_RANK];

  for (guint i = 0; i < n->attrs.n_spatial; i++)
    kernel[i] = (gsize) n->attrs.kernel[i];
  if (!conv_geometry (r, I->comp[0], kernel, 0, &g))
    return FALSE;
  conv_out_shape (&g, g.C, &rank, shape);
  O->n_comp = I->n_comp;
  for (guint c = 0; c < O->n_comp; c++)
    O->comp[c] = new_f64 (rank, shape);
  gsize osz = g.out[0] * g.out[1] * g.out[2], isz = g.in[0] * g.in[1] *
      g.in[2];
  const gdouble *X = CD (I->comp[0]);
  gboolean is_max = n->kind == PHYSNN_OP_MAX_POOL;

  for (gsize p = 0; p < g.N * g.C; p++)
    for (gsize o = 0; o < osz; o++) {
      gsize o0 = o / (g.out[1] * g.out[2]), o1 = (o / g.out[2]) % g.out[1],
          o2 = o % g.out[2];
      gdouble best = -INFINITY;
      gssize arg = -1;
      gsize count = 0;
      gdouble sums[PHYSNN_MAX_COMPONENTS] = { 0 };
      for (gsize k0 = 0; k0 < g.k[0]; k0++)
        for (gsize k1 = 0; k1 < g.k[1]; k1++)
          for (gsize k2 = 0; k2 < g.k[2]; k2++) {
            gint64 i0 = (gint64) o0 * g.s[0] - g.pb[0] + (gint64) k0 * g.d[0];
            gint64 i1 = (gint64) o1 * g.s[1] - g.pb[1] + (gint64) k1 * g.d[1];
            gint64 i2 = (gint64) o2 * g.s[2] - g.pb[2] + (gint64) k2 * g.d[2];
            gboolean inside = i0 >= 0 && i0 < (gint64) g.in[0] && i1 >= 0 &&
                i1 < (gint64) g.in[1] && i2 >= 0 && i2 < (gint64) g.in[2];
            if (!inside) {
              /* padding counts for the average only when asked, and only
               * within the padded extent */
              if (!is_max && n->attrs.count_include_pad &&
                  i0 < (gint64) g.in[0] + g.pe[0] &&
                  i1 < (gint64) g.in[1] + g.pe[1] &&
                  i2 < (gint64) g.in[2] + g.pe[2])
                count++;
              continue;
            }
            gsize idx = p * isz + ((gsize) i0 * g.in[1] + (gsize) i1) *
                g.in[2] + (gsize) i2;
            count++;
            if (is_max) {
              if (X[idx] > best || arg < 0) {
                best = X[idx];
                arg = (gssize) idx;
              }
            } else {
              for (guint c = 0; c < I->n_comp; c++)
                sums[c] += CD (I->comp[c])[idx];
            }
          }
      for (guint c = 0; c < O->n_comp; c++) {
        gdouble v;
        if (is_max)
          v = arg >= 0 ? CD (I->comp[c])[arg] : 0.0;
        else
          v = count ? sums[c] / count : 0.0;
        D (O->comp[c])[p * osz + o] = v;
      }
    }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Constants and shape arithmetic */

static gboolean
run_shape_op (Run *r)
{
  const PhysnnNode *n = r->node;
  PhysnnJetValue *O = &r->vals[n->outputs[0]];
  O->n_comp = 1;
  switch (n->kind) {
    case PHYSNN_OP_CONSTANT:
      O->comp[0] = physnn_dtype_is_float (physnn_tensor_get_dtype
          (n->attrs.value)) ? as_f64 (n->attrs.value) :
          physnn_tensor_convert (n->attrs.value, PHYSNN_DTYPE_INT64);
      return TRUE;
    case PHYSNN_OP_SHAPE:{
      guint xr;
      const gsize *xs = physnn_tensor_get_shape (r->vals[n->inputs[0]].comp[0],
          &xr);
      gsize shape[1] = { xr };
      O->comp[0] = physnn_tensor_new (PHYSNN_DTYPE_INT64, 1, shape);
      for (guint i = 0; i < xr; i++)
        physnn_tensor_set_value (O->comp[0], i, (gdouble) xs[i]);
      return TRUE;
    }
    case PHYSNN_OP_CAST:{
      PhysnnJetValue *I = &r->vals[n->inputs[0]];
      if (physnn_dtype_is_float (n->attrs.to)) {
        /* float -> float casts keep the executor's precision and jets */
        O->n_comp = I->n_comp;
        for (guint c = 0; c < I->n_comp; c++)
          O->comp[c] = as_f64 (I->comp[c]);
      } else {
        O->comp[0] = physnn_tensor_convert (I->comp[0], PHYSNN_DTYPE_INT64);
      }
      return TRUE;
    }
    case PHYSNN_OP_GATHER:{
      PhysnnTensor *x = r->vals[n->inputs[0]].comp[0];
      PhysnnTensor *ind = r->vals[n->inputs[1]].comp[0];
      guint xr, ir, axis = 0;
      const gsize *xs = physnn_tensor_get_shape (x, &xr);
      const gsize *is = physnn_tensor_get_shape (ind, &ir);
      gsize shape[PHYSNN_MAX_RANK], in_str[PHYSNN_MAX_RANK];
      guint rank = 0;
      if (!norm_axis (r, n->attrs.axis, xr, &axis))
        return FALSE;
      if (xr + ir - 1 > PHYSNN_MAX_RANK)
        return node_fail (r, PHYSNN_ERROR_SHAPE, "result rank too high");
      for (guint d = 0; d < axis; d++)
        shape[rank++] = xs[d];
      for (guint d = 0; d < ir; d++)
        shape[rank++] = is[d];
      for (guint d = axis + 1; d < xr; d++)
        shape[rank++] = xs[d];
      strides_of (xr, xs, in_str);
      gsize cnt = numel (rank, shape), ni = physnn_tensor_get_n_elements (ind);
      gsize inner = numel (xr - axis - 1, xs + axis + 1);
      g_autofree gsize *map = g_new (gsize, MAX (cnt, 1));
      for (gsize o = 0; o < cnt; o++) {
        gsize inn = o % inner, rest = o / inner;
        gsize ii = rest % MAX (ni, 1), outer = rest / MAX (ni, 1);
        gint64 idx = (gint64) physnn_tensor_get_value (ind, ii);
        if (idx < 0)
          idx += (gint64) xs[axis];
        if (idx < 0 || idx >= (gint64) xs[axis])
          return node_fail (r, PHYSNN_ERROR_SHAPE, "index %" G_GINT64_FORMAT
              " out of range", idx);
        map[o] = (outer * xs[axis] + (gsize) idx) * inner + inn;
      }
      return apply_map (r, n->inputs[0], n->outputs[0], rank, shape, map);
    }
    default:
      return node_fail (r, PHYSNN_ERROR_NOT_SUPPORTED, "not a shape op");
  }
}

/* ------------------------------------------------------------------------ */
/* Quantization: QuantizeLinear and DequantizeLinear with the exact ONNX
 * semantics, in double precision:
 *   y = saturate (round_half_even (x / scale) + zero_point)
 *   y = (x - zero_point) * scale
 * per tensor (scalar scale) or per axis (1-D scale along `axis`). Integer
 * results are host int64 values like every integer here, so they carry no
 * derivatives: a quantized activation is a step function of its input. */

static gboolean
run_qdq (Run *r)
{
  const PhysnnNode *n = r->node;
  gboolean quant = n->kind == PHYSNN_OP_QUANTIZE_LINEAR;
  PhysnnTensor *x = r->vals[n->inputs[0]].comp[0];
  PhysnnTensor *st = r->vals[n->inputs[1]].comp[0];
  gint zi = n->n_inputs > 2 ? n->inputs[2] : -1;
  PhysnnTensor *zt = zi >= 0 ? r->vals[zi].comp[0] : NULL;
  guint rank;
  const gsize *shape = physnn_tensor_get_shape (x, &rank);
  gsize len = physnn_tensor_get_n_elements (x);
  gsize ns = physnn_tensor_get_n_elements (st), inner = 1;

  if (ns > 1) {
    guint axis = 0;
    if (!norm_axis (r, n->attrs.axis, rank, &axis))
      return FALSE;
    if (shape[axis] != ns)
      return node_fail (r, PHYSNN_ERROR_SHAPE, "%" G_GSIZE_FORMAT " scales "
          "for axis %u of size %" G_GSIZE_FORMAT, ns, axis, shape[axis]);
    inner = numel (rank - axis - 1, shape + axis + 1);
  }
  gsize nv;
  g_autofree gdouble *scale = physnn_tensor_to_doubles (st, &nv);
  g_autofree gdouble *zero = zt ? physnn_tensor_to_doubles (zt, &nv) :
      g_new0 (gdouble, ns);
  PhysnnJetValue *O = &r->vals[n->outputs[0]];
  O->n_comp = 1;
  if (quant) {
    g_autoptr (PhysnnTensor) xf = as_f64 (x);
    const gdouble *xv = CD (xf);
    O->comp[0] = physnn_tensor_new (PHYSNN_DTYPE_INT64, rank, shape);
    gint64 *y = _physnn_tensor_host (O->comp[0], PHYSNN_ACCESS_WRITE);
    for (gsize i = 0; i < len; i++) {
      gsize ch = ns > 1 ? (i / inner) % ns : 0;
      gdouble q = nearbyint (xv[i] / scale[ch]) + zero[ch];
      if (isnan (q))
        q = zero[ch];
      y[i] = (gint64) CLAMP (q, (gdouble) n->attrs.qmin,
          (gdouble) n->attrs.qmax);
    }
  } else {
    g_autofree gdouble *xv = physnn_tensor_to_doubles (x, &nv);
    O->comp[0] = new_f64 (rank, shape);
    gdouble *y = D (O->comp[0]);
    for (gsize i = 0; i < len; i++) {
      gsize ch = ns > 1 ? (i / inner) % ns : 0;
      y[i] = (xv[i] - zero[ch]) * scale[ch];
    }
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */

static gboolean
run_node (Run *r)
{
  switch (r->node->kind) {
    case PHYSNN_OP_ADD:
    case PHYSNN_OP_SUB:
    case PHYSNN_OP_MUL:
    case PHYSNN_OP_DIV:
      return run_binary (r);
    case PHYSNN_OP_GEMM:
      return run_gemm (r);
    case PHYSNN_OP_MATMUL:
      return run_matmul (r);
    case PHYSNN_OP_CONCAT:
      return run_concat (r);
    case PHYSNN_OP_SLICE:
      return run_slice (r);
    case PHYSNN_OP_SPLIT:
      return run_split (r);
    case PHYSNN_OP_RESHAPE:
      return run_reshape (r);
    case PHYSNN_OP_FLATTEN:
      return run_flatten (r);
    case PHYSNN_OP_UNSQUEEZE:
    case PHYSNN_OP_SQUEEZE:
      return run_unsqueeze_squeeze (r);
    case PHYSNN_OP_TRANSPOSE:
      return run_transpose (r);
    case PHYSNN_OP_PAD:
      return run_pad (r);
    case PHYSNN_OP_REDUCE_SUM:
    case PHYSNN_OP_REDUCE_MEAN:
      return run_reduce (r);
    case PHYSNN_OP_CONV:
      return run_conv (r);
    case PHYSNN_OP_MAX_POOL:
    case PHYSNN_OP_AVERAGE_POOL:
      return run_pool (r);
    case PHYSNN_OP_CONSTANT:
    case PHYSNN_OP_SHAPE:
    case PHYSNN_OP_GATHER:
    case PHYSNN_OP_CAST:
      return run_shape_op (r);
    case PHYSNN_OP_QUANTIZE_LINEAR:
    case PHYSNN_OP_DEQUANTIZE_LINEAR:
      return run_qdq (r);
    default:
      if (physnn_op_is_unary (r->node->kind))
        return run_unary (r);
      return node_fail (r, PHYSNN_ERROR_NOT_SUPPORTED, "no reference kernel");
  }
}

/* Seeds the jets of the differentiated inputs: d(column c)/d(dir) = 1. */
static void
seed_input (Run *r, gint value)
{
  const PhysnnJetSpec *s = r->spec;
  PhysnnJetValue *v = &r->vals[value];
  guint rank;
  const gsize *shape = physnn_tensor_get_shape (v->comp[0], &rank);
  gsize cols = rank ? shape[rank - 1] : 1;
  gsize n = physnn_tensor_get_n_elements (v->comp[0]);

  v->n_comp = s->n_comp;
  for (guint c = 1; c < s->n_comp; c++)
    v->comp[c] = new_f64 (rank, shape);
  for (guint d = 0; d < s->n_dirs; d++) {
    if (s->dir_input[d] != value)
      continue;
    gdouble *p = D (v->comp[1 + d]);
    for (gsize i = 0; i < n; i++)
      if (s->dir_column[d] < 0 || (gint) (i % cols) == s->dir_column[d])
        p[i] = 1.0;
  }
}

gboolean
_physnn_ref_run_node (PhysnnGraph *g, const PhysnnJetSpec *spec,
    PhysnnJetValue *vals, const PhysnnNode *node, const PhysnnRefHooks *hooks,
    GError **error)
{
  Run r = { g, spec, vals, node, error, hooks };
  return run_node (&r);
}

gboolean
physnn_graph_run_reference (PhysnnGraph *g, const PhysnnJetSpec *spec,
    PhysnnTensor **inputs, PhysnnJetValue *outputs, GError **error)
{
  return _physnn_graph_run_reference_all (g, spec, inputs, outputs, NULL,
      error);
}

/* As physnn_graph_run_reference(), and if @all is given it receives every
 * graph value (caller clears them and frees the array). */
gboolean
_physnn_graph_run_reference_all (PhysnnGraph *g, const PhysnnJetSpec *spec,
    PhysnnTensor **inputs, PhysnnJetValue *outputs, PhysnnJetValue **all,
    GError **error)
{
  PhysnnJetSpec none = { 0 };
  Run r = { g, spec ? spec : &none, NULL, NULL, error, NULL };
  gboolean ok = TRUE;

  none.n_comp = 1;
  r.vals = g_new0 (PhysnnJetValue, g->values->len);
  physnn_graph_mark_active (g, r.spec);

  for (guint i = 0; i < g->values->len; i++) {
    PhysnnValue *v = VAL (g, i);
    if (v->constant) {
      r.vals[i].n_comp = 1;
      r.vals[i].comp[0] = physnn_dtype_is_float (physnn_tensor_get_dtype
          (v->constant)) ? as_f64 (v->constant) :
          physnn_tensor_convert (v->constant, PHYSNN_DTYPE_INT64);
    }
  }
  for (guint i = 0; i < g->inputs->len; i++) {
    gint idx = g_array_index (g->inputs, gint, i);
    PhysnnTensor *t = inputs[i];
    r.vals[idx].n_comp = 1;
    r.vals[idx].comp[0] = physnn_dtype_is_float (physnn_tensor_get_dtype (t))
        ? as_f64 (t) : physnn_tensor_convert (t, PHYSNN_DTYPE_INT64);
    if (VAL (g, idx)->active)
      seed_input (&r, idx);
  }

  for (guint i = 0; i < g->nodes->len && ok; i++) {
    r.node = g_ptr_array_index (g->nodes, i);
    for (guint k = 0; k < r.node->n_inputs; k++) {
      gint in = r.node->inputs[k];
      if (in >= 0 && r.vals[in].comp[0] == NULL) {
        ok = node_fail (&r, PHYSNN_ERROR_FORMAT, "input \"%s\" has no value",
            VAL (g, in)->name);
        break;
      }
    }
    if (ok)
      ok = run_node (&r);
    /* Values nobody reads later could be freed here; graphs of physics
     * networks are small, so keep it simple. */
  }

  for (guint i = 0; i < g->outputs->len && ok && outputs; i++) {
    gint idx = g_array_index (g->outputs, gint, i);
    outputs[i] = r.vals[idx];
    for (guint c = 0; c < outputs[i].n_comp; c++)
      g_object_ref (outputs[i].comp[c]);
  }
  if (all && ok) {
    *all = r.vals;
    return TRUE;
  }
  for (guint i = 0; i < g->values->len; i++)
    physnn_jet_value_clear (&r.vals[i]);
  g_free (r.vals);
  return ok;
}
