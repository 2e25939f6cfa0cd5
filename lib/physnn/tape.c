/* physnn — reverse mode over the reference executor (see tape-private.h).
 *
 * The forward pass is the reference executor's, node by node (dense
 * products go through the faster kernels of tape-kernels.c, with the same
 * jets), and keeps every value. The backward pass visits the nodes in
 * reverse and, for each, turns the cotangents of its output components into
 * cotangents of its input components. For an elementwise f with jets
 *   y = f(x),  y_a = f'(x) x_a,  y_ab = f''(x) x_a x_b + f'(x) x_ab
 * that needs f' , f'' and f''' (the cotangent of x picks up
 * ȳ_ab (f''' x_a x_b + f'' x_ab)); products and quotients follow the same
 * product rule as the forward jets; linear data movement scatters back
 * through the index map the reference executor builds (its hooks hand it
 * over), so the shape logic lives in one place.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/tape-private.h"
#include "physnn/error.h"
#include "physnn/tensor-private.h"

#include <math.h>
#include <string.h>

#define VAL(g, i) ((PhysnnValue *)g_ptr_array_index ((g)->values, (i)))

struct _PhysnnTape {
  PhysnnGraph *graph;
  PhysnnJetSpec spec;
  const PhysnnParamSet *ps;
  PhysnnJetValue *vals;
  PhysnnJetValue *bars;
  gboolean *req; /* depends on a trainable parameter */
  guint n_values;
  const PhysnnTapeSegment *seg; /* nodes run elsewhere, or NULL */
};

/* ------------------------------------------------------------------------ */
/* Parameters */

PhysnnParamSet *
_physnn_param_set_new (PhysnnGraph *g, const PhysnnOnnxModel *onnx)
{
  PhysnnParamSet *ps = g_new0 (PhysnnParamSet, 1);
  GArray *vals = g_array_new (FALSE, FALSE, sizeof (gint));

  ps->n_values = g->values->len;
  ps->param_of_value = g_new (gint, MAX (ps->n_values, 1));
  for (guint i = 0; i < ps->n_values; i++)
    ps->param_of_value[i] = -1;
  /* The floating-point initializers, in file order. PyTorch's exporter
   * stores folded scalar constants (the pi of sin(pi x), the 1 of 1 - x,
   * exponents) as initializers named "onnx::..."; they are not
   * parameters. (Folded tensors, such as a transposed weight, are.) */
  for (guint i = 0; onnx && i < onnx->initializer_names->len; i++) {
    const gchar *name = g_ptr_array_index (onnx->initializer_names, i);
    gint idx = GPOINTER_TO_INT (g_hash_table_lookup (g->by_name, name)) - 1;
    if (idx < 0)
      continue;
    PhysnnValue *v = VAL (g, idx);
    if (g_str_has_prefix (name, "onnx::") && v->constant &&
        physnn_tensor_get_n_elements (v->constant) <= 1)
      continue;
    if (v->constant == NULL || v->is_input || v->producer >= 0 ||
        !physnn_dtype_is_float (physnn_tensor_get_dtype (v->constant)) ||
        physnn_tensor_get_n_elements (v->constant) == 0 ||
        ps->param_of_value[idx] >= 0)
      continue;
    ps->param_of_value[idx] = (gint)vals->len;
    g_array_append_val (vals, idx);
  }
  ps->n = vals->len;
  ps->value = (gint *)g_array_free (vals, FALSE);
  ps->offset = g_new (gsize, MAX (ps->n, 1));
  ps->size = g_new (gsize, MAX (ps->n, 1));
  for (guint p = 0; p < ps->n; p++) {
    ps->offset[p] = ps->total;
    ps->size[p] =
        physnn_tensor_get_n_elements (VAL (g, ps->value[p])->constant);
    ps->total += ps->size[p];
  }
  return ps;
}

void
_physnn_param_set_free (PhysnnParamSet *ps)
{
  if (ps == NULL)
    return;
  g_free (ps->value);
  g_free (ps->offset);
  g_free (ps->size);
  g_free (ps->param_of_value);
  g_free (ps);
}

/* ------------------------------------------------------------------------ */
/* Helpers */

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

static gboolean
is_float (PhysnnTensor *t)
{
  return t && physnn_dtype_is_float (physnn_tensor_get_dtype (t));
}

static gsize
numel (guint rank, const gsize *shape)
{
  gsize n = 1;
  for (guint i = 0; i < rank; i++)
    n *= shape[i];
  return n;
}

static gboolean tape_fail (PhysnnTape *t, const PhysnnNode *n, GError **error,
    const gchar *fmt, ...) G_GNUC_PRINTF (4, 5);

static gboolean
tape_fail (
    PhysnnTape *t, const PhysnnNode *n, GError **error, const gchar *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree gchar *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
      "%s: node %s (%s): %s", t->graph->path, n->name, n->op_type, msg);
  return FALSE;
}

const PhysnnJetValue *
_physnn_tape_get_value (PhysnnTape *tape, gint value)
{
  g_return_val_if_fail (value >= 0 && (guint)value < tape->n_values, NULL);
  return &tape->vals[value];
}

PhysnnJetValue *
_physnn_tape_get_cotangent (PhysnnTape *tape, gint value)
{
  g_return_val_if_fail (value >= 0 && (guint)value < tape->n_values, NULL);
  PhysnnJetValue *b = &tape->bars[value];
  PhysnnJetValue *v = &tape->vals[value];
  if (b->n_comp == 0 && v->comp[0] && is_float (v->comp[0])) {
    b->n_comp = v->n_comp;
    for (guint c = 0; c < v->n_comp; c++) {
      guint rank;
      const gsize *shape = physnn_tensor_get_shape (v->comp[c], &rank);
      b->comp[c] = physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, rank, shape);
    }
  }
  return b;
}

/* Cotangent of an input if it needs one, else NULL. */
static PhysnnJetValue *
bar_of (PhysnnTape *t, gint value)
{
  if (value < 0 || !t->req[value])
    return NULL;
  return _physnn_tape_get_cotangent (t, value);
}

static const gdouble *
comp_or_null (const PhysnnJetValue *v, guint c)
{
  return v && c < v->n_comp && v->comp[c] ? CD (v->comp[c]) : NULL;
}

static gdouble *
bcomp_or_null (PhysnnJetValue *b, guint c)
{
  return b && c < b->n_comp && b->comp[c] ? D (b->comp[c]) : NULL;
}

/* ------------------------------------------------------------------------ */
/* Elementwise unary: f and its first three derivatives. */

static void
unary3 (PhysnnOpKind k, const PhysnnOpAttrs *a, gdouble x, gdouble *f1,
    gdouble *f2, gdouble *f3)
{
  switch (k) {
    case PHYSNN_OP_IDENTITY:
      *f1 = 1, *f2 = *f3 = 0;
      break;
    case PHYSNN_OP_NEG:
      *f1 = -1, *f2 = *f3 = 0;
      break;
    case PHYSNN_OP_TANH: {
      gdouble t = tanh (x), s = 1 - t * t;
      *f1 = s, *f2 = -2 * t * s, *f3 = -2 * s * (1 - 3 * t * t);
      break;
    }
    case PHYSNN_OP_SIGMOID: {
      gdouble s = x >= 0 ? 1 / (1 + exp (-x)) : exp (x) / (1 + exp (x));
      gdouble d = s * (1 - s);
      *f1 = d, *f2 = d * (1 - 2 * s), *f3 = d * (1 - 6 * s + 6 * s * s);
      break;
    }
    case PHYSNN_OP_RELU:
      *f1 = x > 0 ? 1 : 0, *f2 = *f3 = 0;
      break;
    case PHYSNN_OP_LEAKY_RELU:
      *f1 = x > 0 ? 1 : a->leaky_alpha, *f2 = *f3 = 0;
      break;
    case PHYSNN_OP_SIN:
      *f1 = cos (x), *f2 = -sin (x), *f3 = -cos (x);
      break;
    case PHYSNN_OP_COS:
      *f1 = -sin (x), *f2 = -cos (x), *f3 = sin (x);
      break;
    case PHYSNN_OP_EXP:
      *f1 = *f2 = *f3 = exp (x);
      break;
    case PHYSNN_OP_LOG:
      *f1 = 1 / x, *f2 = -1 / (x * x), *f3 = 2 / (x * x * x);
      break;
    case PHYSNN_OP_SOFTPLUS: {
      gdouble s = x >= 0 ? 1 / (1 + exp (-x)) : exp (x) / (1 + exp (x));
      *f1 = s, *f2 = s * (1 - s), *f3 = s * (1 - s) * (1 - 2 * s);
      break;
    }
    case PHYSNN_OP_ERF: {
      gdouble g = 2 / sqrt (G_PI) * exp (-x * x);
      *f1 = g, *f2 = -2 * x * g, *f3 = (4 * x * x - 2) * g;
      break;
    }
    case PHYSNN_OP_SQRT: {
      gdouble s = sqrt (x);
      *f1 = 0.5 / s, *f2 = -0.25 / (s * x), *f3 = 0.375 / (s * x * x);
      break;
    }
    case PHYSNN_OP_ABS:
      *f1 = x > 0 ? 1 : (x < 0 ? -1 : 0), *f2 = *f3 = 0;
      break;
    case PHYSNN_OP_POW: {
      gdouble p = a->exponent;
      *f1 = p == 0 ? 0 : p * pow (x, p - 1);
      *f2 = (p == 0 || p == 1) ? 0 : p * (p - 1) * pow (x, p - 2);
      *f3 = (p == 0 || p == 1 || p == 2)
                ? 0
                : p * (p - 1) * (p - 2) * pow (x, p - 3);
      break;
    }
    default:
      *f1 = *f2 = *f3 = NAN;
  }
}

/* The cotangent rule of one jet through an elementwise function with
 * derivatives f1..f3 at x: adds to xb[] (n_comp entries) from yb[]. xi[] are
 * the input components (NULL when inactive). */
static inline void
unary_jet_vjp (const PhysnnJetSpec *s, guint n_comp, gdouble f1, gdouble f2,
    gdouble f3, const gdouble *xi, const gdouble *yb, gdouble *xb)
{
  xb[0] += yb[0] * f1;
  if (n_comp <= 1)
    return;
  for (guint d = 0; d < s->n_first; d++) {
    xb[1 + d] += yb[1 + d] * f1;
    xb[0] += yb[1 + d] * f2 * xi[1 + d];
  }
  for (guint q = 0; q < s->n_second; q++) {
    guint a = s->second_dirs[q][0], b = s->second_dirs[q][1];
    guint c = 1 + s->n_first + q;
    gdouble y = yb[c];
    xb[c] += y * f1;
    xb[1 + a] += y * f2 * xi[1 + b];
    xb[1 + b] += y * f2 * xi[1 + a];
    xb[0] += y * (f3 * xi[1 + a] * xi[1 + b] + f2 * xi[c]);
  }
}

/* f', f'' and f''' at every element; from the forward output where that
 * saves a transcendental (tanh, sigmoid, exp). */
static void
unary_derivatives (const PhysnnNode *n, gsize len, const gdouble *x,
    const gdouble *y, gdouble *f1, gdouble *f2, gdouble *f3)
{
  switch (n->kind) {
    case PHYSNN_OP_TANH:
      for (gsize i = 0; i < len; i++) {
        gdouble t = y[i], s = 1 - t * t;
        f1[i] = s;
        f2[i] = -2 * t * s;
        f3[i] = -2 * s * (1 - 3 * t * t);
      }
      return;
    case PHYSNN_OP_SIGMOID:
      for (gsize i = 0; i < len; i++) {
        gdouble s = y[i], d = s * (1 - s);
        f1[i] = d;
        f2[i] = d * (1 - 2 * s);
        f3[i] = d * (1 - 6 * s + 6 * s * s);
      }
      return;
    case PHYSNN_OP_EXP:
      for (gsize i = 0; i < len; i++)
        f1[i] = f2[i] = f3[i] = y[i];
      return;
    default:
      for (gsize i = 0; i < len; i++)
        unary3 (n->kind, &n->attrs, x[i], &f1[i], &f2[i], &f3[i]);
  }
}

/* The rule of unary_jet_vjp() as loops over elements (vectorisable). */
static gboolean
back_unary (PhysnnTape *t, const PhysnnNode *n)
{
  PhysnnJetValue *X = &t->vals[n->inputs[0]];
  PhysnnJetValue *Y = &t->vals[n->outputs[0]];
  PhysnnJetValue *Yb = &t->bars[n->outputs[0]];
  PhysnnJetValue *Xb = bar_of (t, n->inputs[0]);
  const PhysnnJetSpec *s = &t->spec;
  if (Xb == NULL || Yb->n_comp == 0)
    return TRUE;
  guint nc = MIN (X->n_comp, Yb->n_comp);
  gsize len = physnn_tensor_get_n_elements (X->comp[0]);
  const gdouble *x[PHYSNN_MAX_COMPONENTS], *yb[PHYSNN_MAX_COMPONENTS];
  gdouble *xb[PHYSNN_MAX_COMPONENTS];
  for (guint c = 0; c < nc; c++) {
    x[c] = CD (X->comp[c]);
    yb[c] = CD (Yb->comp[c]);
    xb[c] = D (Xb->comp[c]);
  }
  g_autofree gdouble *f = g_new (gdouble, 3 * MAX (len, 1));
  gdouble *restrict f1 = f, *restrict f2 = f + len, *restrict f3 = f + 2 * len;
  unary_derivatives (n, len, x[0], CD (Y->comp[0]), f1, f2, f3);

  gdouble *restrict x0b = xb[0];
  const gdouble *restrict y0b = yb[0];
  for (gsize i = 0; i < len; i++)
    x0b[i] += y0b[i] * f1[i];
  if (nc <= 1)
    return TRUE;
  for (guint d = 0; d < s->n_first; d++) {
    gdouble *restrict xdb = xb[1 + d];
    const gdouble *restrict ydb = yb[1 + d], *restrict xd = x[1 + d];
    for (gsize i = 0; i < len; i++) {
      xdb[i] += ydb[i] * f1[i];
      x0b[i] += ydb[i] * f2[i] * xd[i];
    }
  }
  for (guint q = 0; q < s->n_second; q++) {
    guint a = 1 + s->second_dirs[q][0], b = 1 + s->second_dirs[q][1];
    guint c = 1 + s->n_first + q;
    const gdouble *restrict yqb = yb[c], *restrict xq = x[c];
    const gdouble *restrict xa = x[a], *restrict xbv = x[b];
    gdouble *restrict xqb = xb[c];
    for (gsize i = 0; i < len; i++) {
      xqb[i] += yqb[i] * f1[i];
      x0b[i] += yqb[i] * (f3[i] * xa[i] * xbv[i] + f2[i] * xq[i]);
    }
    /* separate loops: a and b may be the same component */
    gdouble *restrict xab = xb[a];
    for (gsize i = 0; i < len; i++)
      xab[i] += yqb[i] * f2[i] * xbv[i];
    gdouble *restrict xbb = xb[b];
    for (gsize i = 0; i < len; i++)
      xbb[i] += yqb[i] * f2[i] * xa[i];
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Broadcasting binary ops */

typedef struct {
  guint rank;
  gsize shape[PHYSNN_MAX_RANK];
  gsize sa[PHYSNN_MAX_RANK], sb[PHYSNN_MAX_RANK];
  gsize n;
} Bcast;

static void
broadcast (PhysnnTensor *a, PhysnnTensor *b, Bcast *bc)
{
  guint ra, rb;
  const gsize *sha = physnn_tensor_get_shape (a, &ra);
  const gsize *shb = physnn_tensor_get_shape (b, &rb);
  guint rank = MAX (ra, rb);
  gsize stride_a = 1, stride_b = 1;
  bc->rank = rank;
  for (gint i = (gint)rank - 1; i >= 0; i--) {
    gint ia = i - (gint)(rank - ra), ib = i - (gint)(rank - rb);
    gsize da = ia >= 0 ? sha[ia] : 1, db = ib >= 0 ? shb[ib] : 1;
    bc->shape[i] = (da == 0 || db == 0) ? 0 : MAX (da, db);
    bc->sa[i] = da == 1 ? 0 : stride_a;
    bc->sb[i] = db == 1 ? 0 : stride_b;
    stride_a *= da;
    stride_b *= db;
  }
  bc->n = numel (rank, bc->shape);
}

static inline void
bcast_offsets (const Bcast *bc, gsize i, gsize *oa, gsize *ob)
{
  gsize a = 0, b = 0;
  for (gint d = (gint)bc->rank - 1; d >= 0; d--) {
    gsize idx = i % bc->shape[d];
    i /= bc->shape[d];
    a += idx * bc->sa[d];
    b += idx * bc->sb[d];
  }
  *oa = a;
  *ob = b;
}

/* Mul rule: adds the cotangents of x (xb) and z (zb) of y = x z, per
 * element, from yb. Missing components are zero. */
static inline void
mul_jet_vjp (const PhysnnJetSpec *s, guint nc, const gdouble *x,
    const gdouble *z, const gdouble *yb, gdouble *xb, gdouble *zb)
{
  xb[0] += yb[0] * z[0];
  zb[0] += yb[0] * x[0];
  if (nc <= 1)
    return;
  for (guint d = 0; d < s->n_first; d++) {
    xb[0] += yb[1 + d] * z[1 + d];
    xb[1 + d] += yb[1 + d] * z[0];
    zb[0] += yb[1 + d] * x[1 + d];
    zb[1 + d] += yb[1 + d] * x[0];
  }
  for (guint q = 0; q < s->n_second; q++) {
    guint a = 1 + s->second_dirs[q][0], b = 1 + s->second_dirs[q][1];
    guint c = 1 + s->n_first + q;
    gdouble y = yb[c];
    xb[0] += y * z[c];
    xb[c] += y * z[0];
    xb[a] += y * z[b];
    xb[b] += y * z[a];
    zb[0] += y * x[c];
    zb[c] += y * x[0];
    zb[a] += y * x[b];
    zb[b] += y * x[a];
  }
}

static gboolean
back_binary (PhysnnTape *t, const PhysnnNode *n)
{
  PhysnnJetValue *A = &t->vals[n->inputs[0]], *B = &t->vals[n->inputs[1]];
  PhysnnJetValue *Yb = &t->bars[n->outputs[0]];
  if (!is_float (t->vals[n->outputs[0]].comp[0]) || Yb->n_comp == 0)
    return TRUE;
  PhysnnJetValue *Ab = bar_of (t, n->inputs[0]);
  PhysnnJetValue *Bb = bar_of (t, n->inputs[1]);
  if (Ab == NULL && Bb == NULL)
    return TRUE;
  const PhysnnJetSpec *s = &t->spec;
  guint nc = Yb->n_comp;
  Bcast bc;
  broadcast (A->comp[0], B->comp[0], &bc);

  g_autoptr (PhysnnTensor) fa = NULL, fb = NULL;
  const gdouble *a[PHYSNN_MAX_COMPONENTS] = { 0 },
                *b[PHYSNN_MAX_COMPONENTS] = { 0 },
                *yb[PHYSNN_MAX_COMPONENTS] = { 0 };
  gdouble *ab[PHYSNN_MAX_COMPONENTS] = { 0 },
          *bb[PHYSNN_MAX_COMPONENTS] = { 0 };
  if (!is_float (A->comp[0]))
    fa = physnn_tensor_convert (A->comp[0], PHYSNN_DTYPE_FLOAT64);
  if (!is_float (B->comp[0]))
    fb = physnn_tensor_convert (B->comp[0], PHYSNN_DTYPE_FLOAT64);
  for (guint c = 0; c < nc; c++) {
    a[c] = comp_or_null (A, c);
    b[c] = comp_or_null (B, c);
    yb[c] = CD (Yb->comp[c]);
    ab[c] = bcomp_or_null (Ab, c);
    bb[c] = bcomp_or_null (Bb, c);
  }
  if (fa)
    a[0] = CD (fa);
  if (fb)
    b[0] = CD (fb);

  for (gsize i = 0; i < bc.n; i++) {
    gsize oa, ob;
    gdouble x[PHYSNN_MAX_COMPONENTS], z[PHYSNN_MAX_COMPONENTS],
        y[PHYSNN_MAX_COMPONENTS], xb[PHYSNN_MAX_COMPONENTS] = { 0 },
                                  zb[PHYSNN_MAX_COMPONENTS] = { 0 };
    bcast_offsets (&bc, i, &oa, &ob);
    for (guint c = 0; c < nc; c++) {
      x[c] = a[c] ? a[c][oa] : 0.0;
      z[c] = b[c] ? b[c][ob] : 0.0;
      y[c] = yb[c][i];
    }
    switch (n->kind) {
      case PHYSNN_OP_ADD:
      case PHYSNN_OP_SUB: {
        gdouble sg = n->kind == PHYSNN_OP_ADD ? 1.0 : -1.0;
        for (guint c = 0; c < nc; c++) {
          xb[c] = y[c];
          zb[c] = sg * y[c];
        }
        break;
      }
      case PHYSNN_OP_MUL:
        mul_jet_vjp (s, nc, x, z, y, xb, zb);
        break;
      case PHYSNN_OP_DIV: {
        /* x / z = x r, r = 1/z: the product rule, then r's cotangent
         * through g(z) = 1/z with g' = -r², g'' = 2r³, g''' = -6r⁴. */
        gdouble r[PHYSNN_MAX_COMPONENTS], rb[PHYSNN_MAX_COMPONENTS] = { 0 };
        gdouble r0 = 1.0 / z[0], r2 = r0 * r0, r3 = r2 * r0;
        r[0] = r0;
        for (guint d = 0; d < s->n_first && nc > 1; d++)
          r[1 + d] = -z[1 + d] * r2;
        for (guint q = 0; q < s->n_second && nc > 1; q++) {
          guint p = 1 + s->second_dirs[q][0], u = 1 + s->second_dirs[q][1];
          guint c = 1 + s->n_first + q;
          r[c] = 2 * z[p] * z[u] * r3 - z[c] * r2;
        }
        mul_jet_vjp (s, nc, x, r, y, xb, rb);
        unary_jet_vjp (s, nc, -r2, 2 * r3, -6 * r2 * r2, z, rb, zb);
        break;
      }
      default:
        return tape_fail (t, n, NULL, "not a binary op");
    }
    for (guint c = 0; c < nc; c++) {
      if (ab[c])
        ab[c][oa] += xb[c];
      if (bb[c])
        bb[c][ob] += zb[c];
    }
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Dense products */

/* The terms of the product rule over jet components, as in the reference
 * executor: output component o gets op(A_i, B_j). Calls fn for each term
 * whose operands exist. */
typedef void (*TermFn) (gpointer user, guint ia, guint ib, guint o);

static void
for_each_term (const PhysnnJetSpec *s, guint na, guint nb, guint no, TermFn fn,
    gpointer user)
{
#define TERM(i, j, o)                                                          \
  if ((i) < na && (j) < nb && (o) < no)                                        \
  fn (user, i, j, o)
  TERM (0, 0, 0);
  if (no <= 1)
    return;
  for (guint d = 0; d < s->n_first; d++) {
    TERM (1 + d, 0, 1 + d);
    TERM (0, 1 + d, 1 + d);
  }
  for (guint q = 0; q < s->n_second; q++) {
    guint p = s->second_dirs[q][0] + 1, u = s->second_dirs[q][1] + 1;
    guint c = 1 + s->n_first + q;
    TERM (c, 0, c);
    TERM (p, u, c);
    TERM (u, p, c);
    TERM (0, c, c);
  }
#undef TERM
}

/* A transposed copy of a small [r, c] matrix. */
static gdouble *
transpose_copy (const gdouble *m, gsize r, gsize c)
{
  gdouble *t = g_new (gdouble, MAX (r * c, 1));
  for (gsize i = 0; i < r; i++)
    for (gsize j = 0; j < c; j++)
      t[j * r + i] = m[i * c + j];
  return t;
}

/* Gemm: Y[M,N] += alpha op(A)[M,K] op(B)[K,N]; the three products below
 * are the forward one and its two adjoints. */
typedef struct {
  gsize M, N, K;
  gboolean ta, tb;
  gdouble alpha;
} GemmDims;

static void
gemm_fwd (const GemmDims *g, const gdouble *A, const gdouble *B, gdouble *Y)
{
  if (!g->ta) {
    if (g->tb) {
      g_autofree gdouble *bt = transpose_copy (B, g->N, g->K);
      _physnn_k_rows_times (g->M, g->K, g->N, g->alpha, A, g->K, bt, Y, g->N);
    } else {
      _physnn_k_rows_times (g->M, g->K, g->N, g->alpha, A, g->K, B, Y, g->N);
    }
    return;
  }
  for (gsize i = 0; i < g->M; i++)
    for (gsize j = 0; j < g->N; j++) {
      gdouble acc = 0;
      for (gsize k = 0; k < g->K; k++)
        acc += A[k * g->M + i] * (g->tb ? B[j * g->K + k] : B[k * g->N + j]);
      Y[i * g->N + j] += g->alpha * acc;
    }
}

/* Ā += alpha Ȳ op(B)^T (in A's layout). */
static void
gemm_da (const GemmDims *g, const gdouble *Yb, const gdouble *B, gdouble *Ab)
{
  if (!g->ta) {
    if (g->tb) {
      _physnn_k_rows_times (g->M, g->N, g->K, g->alpha, Yb, g->N, B, Ab, g->K);
    } else {
      g_autofree gdouble *bt = transpose_copy (B, g->K, g->N);
      _physnn_k_rows_times (g->M, g->N, g->K, g->alpha, Yb, g->N, bt, Ab, g->K);
    }
    return;
  }
  for (gsize i = 0; i < g->M; i++)
    for (gsize k = 0; k < g->K; k++) {
      gdouble acc = 0;
      for (gsize j = 0; j < g->N; j++)
        acc += Yb[i * g->N + j] * (g->tb ? B[j * g->K + k] : B[k * g->N + j]);
      Ab[k * g->M + i] += g->alpha * acc;
    }
}

/* B̄ += alpha op(A)^T Ȳ (in B's layout). */
static void
gemm_db (const GemmDims *g, const gdouble *A, const gdouble *Yb, gdouble *Bb)
{
  if (!g->ta) {
    if (g->tb)
      _physnn_k_tn (g->M, g->N, g->K, g->alpha, Yb, g->N, A, g->K, Bb);
    else
      _physnn_k_tn (g->M, g->K, g->N, g->alpha, A, g->K, Yb, g->N, Bb);
    return;
  }
  for (gsize k = 0; k < g->K; k++)
    for (gsize j = 0; j < g->N; j++) {
      gdouble acc = 0;
      for (gsize i = 0; i < g->M; i++)
        acc += A[k * g->M + i] * Yb[i * g->N + j];
      if (g->tb)
        Bb[j * g->K + k] += g->alpha * acc;
      else
        Bb[k * g->N + j] += g->alpha * acc;
    }
}

typedef struct {
  PhysnnTape *t;
  GemmDims g;
  PhysnnJetValue *A, *B, *Y, *Ab, *Bb, *Yb;
} GemmCtx;

static void
gemm_fwd_term (gpointer user, guint ia, guint ib, guint o)
{
  GemmCtx *c = user;
  gemm_fwd (&c->g, CD (c->A->comp[ia]), CD (c->B->comp[ib]), D (c->Y->comp[o]));
}

static void
gemm_back_term (gpointer user, guint ia, guint ib, guint o)
{
  GemmCtx *c = user;
  const gdouble *yb = CD (c->Yb->comp[o]);
  gdouble *ab = bcomp_or_null (c->Ab, ia), *bb = bcomp_or_null (c->Bb, ib);
  if (ab)
    gemm_da (&c->g, yb, CD (c->B->comp[ib]), ab);
  if (bb)
    gemm_db (&c->g, CD (c->A->comp[ia]), yb, bb);
}

static gboolean
gemm_dims (const PhysnnNode *n, PhysnnTensor *a, PhysnnTensor *b, GemmDims *g)
{
  if (physnn_tensor_get_rank (a) != 2 || physnn_tensor_get_rank (b) != 2)
    return FALSE;
  g->ta = n->attrs.trans_a;
  g->tb = n->attrs.trans_b;
  g->alpha = n->attrs.alpha;
  g->M = physnn_tensor_get_dim (a, g->ta ? 1 : 0);
  g->K = physnn_tensor_get_dim (a, g->ta ? 0 : 1);
  g->N = physnn_tensor_get_dim (b, g->tb ? 0 : 1);
  return physnn_tensor_get_dim (b, g->tb ? 1 : 0) == g->K;
}

/* Forward Gemm with the fast kernels; the same jets and bias handling as
 * the reference executor. FALSE (no error) hands it to the reference. */
static gboolean
fwd_gemm (PhysnnTape *t, const PhysnnNode *n, gboolean *handled)
{
  GemmCtx c = { t };
  c.A = &t->vals[n->inputs[0]];
  c.B = &t->vals[n->inputs[1]];
  c.Y = &t->vals[n->outputs[0]];
  *handled = FALSE;
  if (!is_float (c.A->comp[0]) || !is_float (c.B->comp[0]) ||
      !gemm_dims (n, c.A->comp[0], c.B->comp[0], &c.g))
    return TRUE;
  PhysnnJetValue *C =
      n->n_inputs > 2 && n->inputs[2] >= 0 && n->attrs.beta != 0.0f
          ? &t->vals[n->inputs[2]]
          : NULL;
  Bcast bc;
  gsize shape[2] = { c.g.M, c.g.N };
  g_autoptr (PhysnnTensor) probe = NULL;
  if (C) {
    if (!is_float (C->comp[0]))
      return TRUE;
    probe = physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, 2, shape);
    broadcast (probe, C->comp[0], &bc);
    if (bc.n != c.g.M * c.g.N || bc.rank != 2 || bc.shape[0] != c.g.M ||
        bc.shape[1] != c.g.N)
      return TRUE; /* the reference reports the error */
  }
  gboolean active = c.A->n_comp > 1 || c.B->n_comp > 1;
  c.Y->n_comp = active ? t->spec.n_comp : 1;
  for (guint o = 0; o < c.Y->n_comp; o++)
    c.Y->comp[o] = physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, 2, shape);
  for_each_term (
      &t->spec, c.A->n_comp, c.B->n_comp, c.Y->n_comp, gemm_fwd_term, &c);
  if (C) {
    for (guint o = 0; o < MIN (C->n_comp, c.Y->n_comp); o++) {
      gdouble *y = D (c.Y->comp[o]);
      const gdouble *cv = CD (C->comp[o]);
      gdouble beta = n->attrs.beta;
      if (bc.sb[0] == 0 && bc.sb[1] == 1) {
        for (gsize i = 0; i < c.g.M; i++)
          for (gsize j = 0; j < c.g.N; j++)
            y[i * c.g.N + j] += beta * cv[j];
      } else {
        for (gsize i = 0; i < bc.n; i++) {
          gsize oa, ob;
          bcast_offsets (&bc, i, &oa, &ob);
          y[i] += beta * cv[ob];
        }
      }
    }
  }
  *handled = TRUE;
  return TRUE;
}

static gboolean
back_gemm (PhysnnTape *t, const PhysnnNode *n)
{
  GemmCtx c = { t };
  c.A = &t->vals[n->inputs[0]];
  c.B = &t->vals[n->inputs[1]];
  c.Yb = &t->bars[n->outputs[0]];
  c.Ab = bar_of (t, n->inputs[0]);
  c.Bb = bar_of (t, n->inputs[1]);
  if (c.Yb->n_comp == 0)
    return TRUE;
  if (!gemm_dims (n, c.A->comp[0], c.B->comp[0], &c.g))
    return tape_fail (t, n, NULL, "unexpected shapes");
  if (c.Ab || c.Bb)
    for_each_term (
        &t->spec, c.A->n_comp, c.B->n_comp, c.Yb->n_comp, gemm_back_term, &c);
  if (n->n_inputs > 2 && n->inputs[2] >= 0 && n->attrs.beta != 0.0f) {
    PhysnnJetValue *Cv = &t->vals[n->inputs[2]];
    PhysnnJetValue *Cb = bar_of (t, n->inputs[2]);
    if (Cb) {
      Bcast bc;
      broadcast (t->vals[n->outputs[0]].comp[0], Cv->comp[0], &bc);
      for (guint o = 0; o < MIN (Cb->n_comp, c.Yb->n_comp); o++) {
        const gdouble *yb = CD (c.Yb->comp[o]);
        gdouble *cb = D (Cb->comp[o]);
        gdouble beta = n->attrs.beta;
        if (bc.rank == 2 && bc.sb[0] == 0 && bc.sb[1] == 1) {
          /* a bias row: sum the cotangent over points */
          for (gsize i = 0; i < c.g.M; i++)
            for (gsize j = 0; j < c.g.N; j++)
              cb[j] += beta * yb[i * c.g.N + j];
          continue;
        }
        for (gsize i = 0; i < bc.n; i++) {
          gsize oa, ob;
          bcast_offsets (&bc, i, &oa, &ob);
          cb[ob] += beta * yb[i];
        }
      }
    }
  }
  return TRUE;
}

/* MatMul with NumPy semantics (batch broadcasting, 1-D promotion). */
typedef struct {
  gsize M, K, N, batches;
  guint br, ba, bb;
  const gsize *sa, *sb, *so;
  guint ra, rb;
} MmDims;

static gboolean
mm_dims (PhysnnTensor *a, PhysnnTensor *b, PhysnnTensor *out, MmDims *m)
{
  guint ro;
  m->sa = physnn_tensor_get_shape (a, &m->ra);
  m->sb = physnn_tensor_get_shape (b, &m->rb);
  m->so = physnn_tensor_get_shape (out, &ro);
  if (m->ra == 0 || m->rb == 0)
    return FALSE;
  m->M = m->ra >= 2 ? m->sa[m->ra - 2] : 1;
  m->K = m->sa[m->ra - 1];
  m->N = m->rb >= 2 ? m->sb[m->rb - 1] : 1;
  m->ba = m->ra > 2 ? m->ra - 2 : 0;
  m->bb = m->rb > 2 ? m->rb - 2 : 0;
  m->br = MAX (m->ba, m->bb);
  m->batches = numel (m->br, m->so);
  return TRUE;
}

static void
mm_offsets (const MmDims *m, gsize bi, gsize *offa, gsize *offb)
{
  gsize rem = bi, oa = 0, ob = 0, stra = m->M * m->K, strb = m->K * m->N;
  for (gint d = (gint)m->br - 1; d >= 0; d--) {
    gsize idx = rem % m->so[d];
    rem /= m->so[d];
    gint ia = d - (gint)(m->br - m->ba), ib = d - (gint)(m->br - m->bb);
    if (ia >= 0) {
      if (m->sa[ia] != 1)
        oa += idx * stra;
      stra *= m->sa[ia];
    }
    if (ib >= 0) {
      if (m->sb[ib] != 1)
        ob += idx * strb;
      strb *= m->sb[ib];
    }
  }
  *offa = oa;
  *offb = ob;
}

typedef struct {
  PhysnnTape *t;
  MmDims m;
  PhysnnJetValue *A, *B, *Y, *Ab, *Bb, *Yb;
} MmCtx;

static void
mm_fwd_term (gpointer user, guint ia, guint ib, guint o)
{
  MmCtx *c = user;
  const gdouble *A = CD (c->A->comp[ia]), *B = CD (c->B->comp[ib]);
  gdouble *Y = D (c->Y->comp[o]);
  for (gsize bi = 0; bi < c->m.batches; bi++) {
    gsize oa, ob;
    mm_offsets (&c->m, bi, &oa, &ob);
    _physnn_k_rows_times (c->m.M, c->m.K, c->m.N, 1.0, A + oa, c->m.K, B + ob,
        Y + bi * c->m.M * c->m.N, c->m.N);
  }
}

static void
mm_back_term (gpointer user, guint ia, guint ib, guint o)
{
  MmCtx *c = user;
  const gdouble *A = CD (c->A->comp[ia]), *B = CD (c->B->comp[ib]);
  const gdouble *Yb = CD (c->Yb->comp[o]);
  gdouble *ab = bcomp_or_null (c->Ab, ia), *bb = bcomp_or_null (c->Bb, ib);
  for (gsize bi = 0; bi < c->m.batches; bi++) {
    gsize oa, ob;
    const gdouble *yb = Yb + bi * c->m.M * c->m.N;
    mm_offsets (&c->m, bi, &oa, &ob);
    if (ab) {
      g_autofree gdouble *bt = transpose_copy (B + ob, c->m.K, c->m.N);
      _physnn_k_rows_times (
          c->m.M, c->m.N, c->m.K, 1.0, yb, c->m.N, bt, ab + oa, c->m.K);
    }
    if (bb)
      _physnn_k_tn (
          c->m.M, c->m.K, c->m.N, 1.0, A + oa, c->m.K, yb, c->m.N, bb + ob);
  }
}

/* Forward MatMul with the fast kernels; anything unusual goes to the
 * reference executor, which also reports shape errors. */
static gboolean
fwd_matmul (PhysnnTape *t, const PhysnnNode *n, gboolean *handled)
{
  MmCtx c = { t };
  c.A = &t->vals[n->inputs[0]];
  c.B = &t->vals[n->inputs[1]];
  c.Y = &t->vals[n->outputs[0]];
  *handled = FALSE;
  if (!is_float (c.A->comp[0]) || !is_float (c.B->comp[0]))
    return TRUE;
  guint ra, rb, rank = 0;
  const gsize *sa = physnn_tensor_get_shape (c.A->comp[0], &ra);
  const gsize *sb = physnn_tensor_get_shape (c.B->comp[0], &rb);
  gsize shape[PHYSNN_MAX_RANK];
  if (ra == 0 || rb == 0 || sa[ra - 1] != (rb == 1 ? sb[0] : sb[rb - 2]))
    return TRUE;
  guint ba = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0;
  guint br = MAX (ba, bb);
  for (guint i = 0; i < br; i++) {
    gint ia = (gint)i - (gint)(br - ba), ib = (gint)i - (gint)(br - bb);
    gsize da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return TRUE;
    shape[rank++] = MAX (da, db);
  }
  if (ra >= 2)
    shape[rank++] = sa[ra - 2];
  if (rb >= 2)
    shape[rank++] = sb[rb - 1];
  gboolean active = c.A->n_comp > 1 || c.B->n_comp > 1;
  c.Y->n_comp = active ? t->spec.n_comp : 1;
  for (guint o = 0; o < c.Y->n_comp; o++)
    c.Y->comp[o] = physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, rank, shape);
  if (!mm_dims (c.A->comp[0], c.B->comp[0], c.Y->comp[0], &c.m))
    return TRUE;
  for_each_term (
      &t->spec, c.A->n_comp, c.B->n_comp, c.Y->n_comp, mm_fwd_term, &c);
  *handled = TRUE;
  return TRUE;
}

static gboolean
back_matmul (PhysnnTape *t, const PhysnnNode *n)
{
  MmCtx c = { t };
  c.A = &t->vals[n->inputs[0]];
  c.B = &t->vals[n->inputs[1]];
  c.Yb = &t->bars[n->outputs[0]];
  c.Ab = bar_of (t, n->inputs[0]);
  c.Bb = bar_of (t, n->inputs[1]);
  if (c.Yb->n_comp == 0 || (c.Ab == NULL && c.Bb == NULL))
    return TRUE;
  if (!mm_dims (
          c.A->comp[0], c.B->comp[0], t->vals[n->outputs[0]].comp[0], &c.m))
    return tape_fail (t, n, NULL, "unexpected shapes");
  for_each_term (
      &t->spec, c.A->n_comp, c.B->n_comp, c.Yb->n_comp, mm_back_term, &c);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Convolution and pooling: the geometry of the reference executor. */

typedef struct {
  guint ns;
  gsize N, C, M;
  gsize in[3], out[3], k[3];
  gint64 s[3], d[3], pb[3], pe[3];
  gsize group;
} ConvGeom;

static void
conv_geometry (const PhysnnNode *node, PhysnnTensor *x, const gsize *kernel,
    gsize M, ConvGeom *g)
{
  const PhysnnOpAttrs *a = &node->attrs;
  const gsize *xs = physnn_tensor_get_shape (x, NULL);
  g->ns = a->n_spatial;
  g->N = xs[0];
  g->C = xs[1];
  g->M = M;
  g->group = (gsize)MAX (a->group, 1);
  for (guint i = 0; i < g->ns; i++) {
    g->in[i] = xs[2 + i];
    g->k[i] = kernel[i];
    g->s[i] = a->strides[i];
    g->d[i] = a->dilations[i];
    g->pb[i] = a->pads[i];
    g->pe[i] = a->pads[i + g->ns];
    gint64 ext = (gint64)(g->k[i] - 1) * g->d[i] + 1;
    if (a->auto_pad_same) {
      gint64 o = ((gint64)g->in[i] + g->s[i] - 1) / g->s[i];
      gint64 pad = MAX ((o - 1) * g->s[i] + ext - (gint64)g->in[i], 0);
      g->pb[i] = pad / 2;
      g->pe[i] = pad - pad / 2;
    }
    gint64 span = (gint64)g->in[i] + g->pb[i] + g->pe[i] - ext;
    gint64 o =
        a->ceil_mode ? (span + g->s[i] - 1) / g->s[i] + 1 : span / g->s[i] + 1;
    g->out[i] = (gsize)MAX (o, 0);
  }
  for (guint i = g->ns; i < 3; i++) {
    g->in[i] = g->out[i] = g->k[i] = 1;
    g->s[i] = g->d[i] = 1;
    g->pb[i] = g->pe[i] = 0;
  }
}

/* Visits every (output, input, weight) triple of a convolution. */
#define CONV_LOOP(g, BODY)                                                     \
  do {                                                                         \
    gsize cg_ = (g).C / (g).group, mg_ = (g).M / (g).group;                    \
    gsize osz_ = (g).out[0] * (g).out[1] * (g).out[2];                         \
    gsize isz_ = (g).in[0] * (g).in[1] * (g).in[2];                            \
    gsize ksz_ = (g).k[0] * (g).k[1] * (g).k[2];                               \
    for (gsize nb = 0; nb < (g).N; nb++)                                       \
      for (gsize m = 0; m < (g).M; m++) {                                      \
        gsize grp_ = m / mg_;                                                  \
        for (gsize o0 = 0; o0 < (g).out[0]; o0++)                              \
          for (gsize o1 = 0; o1 < (g).out[1]; o1++)                            \
            for (gsize o2 = 0; o2 < (g).out[2]; o2++) {                        \
              gsize yi = (nb * (g).M + m) * osz_ +                             \
                         (o0 * (g).out[1] + o1) * (g).out[2] + o2;             \
              for (gsize cc_ = 0; cc_ < cg_; cc_++) {                          \
                gsize ci_ = grp_ * cg_ + cc_;                                  \
                for (gsize k0 = 0; k0 < (g).k[0]; k0++) {                      \
                  gint64 i0 = (gint64)o0 * (g).s[0] - (g).pb[0] +              \
                              (gint64)k0 * (g).d[0];                           \
                  if (i0 < 0 || i0 >= (gint64)(g).in[0])                       \
                    continue;                                                  \
                  for (gsize k1 = 0; k1 < (g).k[1]; k1++) {                    \
                    gint64 i1 = (gint64)o1 * (g).s[1] - (g).pb[1] +            \
                                (gint64)k1 * (g).d[1];                         \
                    if (i1 < 0 || i1 >= (gint64)(g).in[1])                     \
                      continue;                                                \
                    for (gsize k2 = 0; k2 < (g).k[2]; k2++) {                  \
                      gint64 i2 = (gint64)o2 * (g).s[2] - (g).pb[2] +          \
                                  (gint64)k2 * (g).d[2];                       \
                      if (i2 < 0 || i2 >= (gint64)(g).in[2])                   \
                        continue;                                              \
                      gsize xi =                                               \
                          (nb * (g).C + ci_) * isz_ +                          \
                          ((gsize)i0 * (g).in[1] + (gsize)i1) * (g).in[2] +    \
                          (gsize)i2;                                           \
                      gsize wi = (m * cg_ + cc_) * ksz_ +                      \
                                 (k0 * (g).k[1] + k1) * (g).k[2] + k2;         \
                      BODY;                                                    \
                    }                                                          \
                  }                                                            \
                }                                                              \
              }                                                                \
            }                                                                  \
      }                                                                        \
  } while (0)

typedef struct {
  PhysnnTape *t;
  const PhysnnNode *n;
  ConvGeom g;
  PhysnnJetValue *X, *W, *Xb, *Wb, *Yb;
} ConvCtx;

static void
conv_back_term (gpointer user, guint ix, guint iw, guint o)
{
  ConvCtx *ctx = user;
  ConvGeom geo = ctx->g;
  const gdouble *X = CD (ctx->X->comp[ix]), *W = CD (ctx->W->comp[iw]);
  const gdouble *Y = CD (ctx->Yb->comp[o]);
  gdouble *xb = bcomp_or_null (ctx->Xb, ix), *wb = bcomp_or_null (ctx->Wb, iw);
  if (xb)
    CONV_LOOP (geo, xb[xi] += Y[yi] * W[wi]);
  if (wb)
    CONV_LOOP (geo, wb[wi] += Y[yi] * X[xi]);
}

static gboolean
back_conv (PhysnnTape *t, const PhysnnNode *n)
{
  ConvCtx c = { t, n };
  c.X = &t->vals[n->inputs[0]];
  c.W = &t->vals[n->inputs[1]];
  c.Yb = &t->bars[n->outputs[0]];
  c.Xb = bar_of (t, n->inputs[0]);
  c.Wb = bar_of (t, n->inputs[1]);
  if (c.Yb->n_comp == 0)
    return TRUE;
  const gsize *ws = physnn_tensor_get_shape (c.W->comp[0], NULL);
  conv_geometry (n, c.X->comp[0], ws + 2, ws[0], &c.g);
  if (c.Xb || c.Wb)
    for_each_term (
        &t->spec, c.X->n_comp, c.W->n_comp, c.Yb->n_comp, conv_back_term, &c);
  if (n->n_inputs > 2 && n->inputs[2] >= 0) {
    PhysnnJetValue *Bb = bar_of (t, n->inputs[2]);
    PhysnnTensor *y = t->vals[n->outputs[0]].comp[0];
    gsize N = physnn_tensor_get_dim (y, 0), M = physnn_tensor_get_dim (y, 1);
    gsize sp = physnn_tensor_get_n_elements (y) / MAX (N * M, 1);
    for (guint o = 0; Bb && o < MIN (Bb->n_comp, c.Yb->n_comp); o++) {
      gdouble *b = D (Bb->comp[o]);
      const gdouble *yb = CD (c.Yb->comp[o]);
      for (gsize i = 0; i < N * M; i++)
        for (gsize j = 0; j < sp; j++)
          b[i % M] += yb[i * sp + j];
    }
  }
  return TRUE;
}

static gboolean
back_pool (PhysnnTape *t, const PhysnnNode *n)
{
  PhysnnJetValue *I = &t->vals[n->inputs[0]];
  PhysnnJetValue *Ib = bar_of (t, n->inputs[0]);
  PhysnnJetValue *Ob = &t->bars[n->outputs[0]];
  ConvGeom g;
  gsize kernel[3] = { 1, 1, 1 };
  if (Ib == NULL || Ob->n_comp == 0)
    return TRUE;
  for (guint i = 0; i < n->attrs.n_spatial; i++)
    kernel[i] = (gsize)n->attrs.kernel[i];
  conv_geometry (n, I->comp[0], kernel, 0, &g);
  gsize osz = g.out[0] * g.out[1] * g.out[2], isz = g.in[0] * g.in[1] * g.in[2];
  const gdouble *X = CD (I->comp[0]);
  gboolean is_max = n->kind == PHYSNN_OP_MAX_POOL;
  guint nc = MIN (Ib->n_comp, Ob->n_comp);
  g_autofree gsize *idxs = g_new (gsize, g.k[0] * g.k[1] * g.k[2] + 1);

  for (gsize p = 0; p < g.N * g.C; p++)
    for (gsize o = 0; o < osz; o++) {
      gsize o0 = o / (g.out[1] * g.out[2]), o1 = (o / g.out[2]) % g.out[1],
            o2 = o % g.out[2];
      gdouble best = -INFINITY;
      gssize arg = -1;
      gsize count = 0, n_idx = 0;
      for (gsize k0 = 0; k0 < g.k[0]; k0++)
        for (gsize k1 = 0; k1 < g.k[1]; k1++)
          for (gsize k2 = 0; k2 < g.k[2]; k2++) {
            gint64 i0 = (gint64)o0 * g.s[0] - g.pb[0] + (gint64)k0 * g.d[0];
            gint64 i1 = (gint64)o1 * g.s[1] - g.pb[1] + (gint64)k1 * g.d[1];
            gint64 i2 = (gint64)o2 * g.s[2] - g.pb[2] + (gint64)k2 * g.d[2];
            gboolean inside = i0 >= 0 && i0 < (gint64)g.in[0] && i1 >= 0 &&
                              i1 < (gint64)g.in[1] && i2 >= 0 &&
                              i2 < (gint64)g.in[2];
            if (!inside) {
              if (!is_max && n->attrs.count_include_pad &&
                  i0 < (gint64)g.in[0] + g.pe[0] &&
                  i1 < (gint64)g.in[1] + g.pe[1] &&
                  i2 < (gint64)g.in[2] + g.pe[2])
                count++;
              continue;
            }
            gsize idx = p * isz + ((gsize)i0 * g.in[1] + (gsize)i1) * g.in[2] +
                        (gsize)i2;
            count++;
            idxs[n_idx++] = idx;
            if (X[idx] > best || arg < 0) {
              best = X[idx];
              arg = (gssize)idx;
            }
          }
      for (guint c = 0; c < nc; c++) {
        gdouble yb = CD (Ob->comp[c])[p * osz + o];
        gdouble *xb = D (Ib->comp[c]);
        if (is_max) {
          if (arg >= 0)
            xb[arg] += yb;
        } else if (count) {
          for (gsize k = 0; k < n_idx; k++)
            xb[idxs[k]] += yb / count;
        }
      }
    }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Linear data movement */

typedef struct {
  PhysnnTape *t;
} MapCtx;

/* Called by the reference executor with the index map of a node: scatters
 * the output's cotangent back (out[o] = in[map[o]]). */
static gboolean
scatter_back (gpointer user, PhysnnJetValue *in, PhysnnJetValue *out,
    guint rank, const gsize *shape, const gsize *map, GError **error)
{
  MapCtx *m = user;
  gint vi = (gint)(in - m->t->vals), vo = (gint)(out - m->t->vals);
  PhysnnJetValue *Ob = &m->t->bars[vo];
  PhysnnJetValue *Ib = bar_of (m->t, vi);
  gsize n = numel (rank, shape);
  if (Ib == NULL || Ob->n_comp == 0)
    return TRUE;
  for (guint c = 0; c < MIN (Ib->n_comp, Ob->n_comp); c++) {
    const gdouble *ob = CD (Ob->comp[c]);
    gdouble *ib = D (Ib->comp[c]);
    for (gsize o = 0; o < n; o++) {
      gsize src = map ? map[o] : o;
      if (src != G_MAXSIZE)
        ib[src] += ob[o];
    }
  }
  return TRUE;
}

static gboolean
scatter_back_pad (gpointer user, PhysnnJetValue *in, PhysnnJetValue *out,
    guint rank, const gsize *shape, const gsize *map, gdouble value,
    GError **error)
{
  return scatter_back (user, in, out, rank, shape, map, error);
}

static gboolean
back_concat (PhysnnTape *t, const PhysnnNode *n)
{
  PhysnnJetValue *Ob = &t->bars[n->outputs[0]];
  PhysnnTensor *y = t->vals[n->outputs[0]].comp[0];
  guint rank;
  const gsize *shape = physnn_tensor_get_shape (y, &rank);
  gint64 a = n->attrs.axis < 0 ? n->attrs.axis + rank : n->attrs.axis;
  guint axis = (guint)CLAMP (a, 0, (gint64)MAX (rank, 1) - 1);
  gsize outer = numel (axis, shape),
        inner = numel (rank - axis - 1, shape + axis + 1);
  gsize off = 0;
  if (Ob->n_comp == 0)
    return TRUE;
  for (guint k = 0; k < n->n_inputs; k++) {
    if (n->inputs[k] < 0)
      continue;
    PhysnnJetValue *I = &t->vals[n->inputs[k]];
    PhysnnJetValue *Ib = bar_of (t, n->inputs[k]);
    gsize len = physnn_tensor_get_dim (I->comp[0], axis);
    for (guint c = 0; Ib && c < MIN (Ib->n_comp, Ob->n_comp); c++) {
      const gdouble *ob = CD (Ob->comp[c]);
      gdouble *ib = D (Ib->comp[c]);
      for (gsize o = 0; o < outer; o++)
        for (gsize j = 0; j < len * inner; j++)
          ib[o * len * inner + j] += ob[(o * shape[axis] + off) * inner + j];
    }
    off += len;
  }
  return TRUE;
}

static gboolean
back_reduce (PhysnnTape *t, const PhysnnNode *n)
{
  PhysnnJetValue *I = &t->vals[n->inputs[0]];
  PhysnnJetValue *Ib = bar_of (t, n->inputs[0]);
  PhysnnJetValue *Ob = &t->bars[n->outputs[0]];
  if (Ib == NULL || Ob->n_comp == 0)
    return TRUE;
  guint xr;
  const gsize *xs = physnn_tensor_get_shape (I->comp[0], &xr);
  gboolean mark[PHYSNN_MAX_RANK] = { 0 };
  gsize kshape[PHYSNN_MAX_RANK];
  GArray *axes = n->attrs.ints;
  g_autoptr (GArray) dyn = NULL;

  if (axes == NULL && n->n_inputs > 1 && n->inputs[1] >= 0) {
    PhysnnTensor *at = t->vals[n->inputs[1]].comp[0];
    dyn = g_array_new (FALSE, FALSE, sizeof (gint64));
    for (gsize i = 0; at && i < physnn_tensor_get_n_elements (at); i++) {
      gint64 v = (gint64)physnn_tensor_get_value (at, i);
      g_array_append_val (dyn, v);
    }
    axes = dyn;
  }
  if (axes == NULL || axes->len == 0) {
    if (n->attrs.noop_with_empty_axes) {
      for (guint c = 0; c < MIN (Ib->n_comp, Ob->n_comp); c++) {
        const gdouble *ob = CD (Ob->comp[c]);
        gdouble *ib = D (Ib->comp[c]);
        for (gsize i = 0; i < numel (xr, xs); i++)
          ib[i] += ob[i];
      }
      return TRUE;
    }
    for (guint d = 0; d < xr; d++)
      mark[d] = TRUE;
  }
  for (guint i = 0; axes && i < axes->len; i++) {
    gint64 ax = g_array_index (axes, gint64, i);
    if (ax < 0)
      ax += xr;
    if (ax >= 0 && ax < (gint64)xr)
      mark[ax] = TRUE;
  }
  gsize count = 1;
  for (guint d = 0; d < xr; d++) {
    kshape[d] = mark[d] ? 1 : xs[d];
    if (mark[d])
      count *= xs[d];
  }
  gdouble scale = n->kind == PHYSNN_OP_REDUCE_MEAN ? 1.0 / MAX (count, 1) : 1.0;
  gsize total = numel (xr, xs);
  for (guint c = 0; c < MIN (Ib->n_comp, Ob->n_comp); c++) {
    const gdouble *ob = CD (Ob->comp[c]);
    gdouble *ib = D (Ib->comp[c]);
    for (gsize i = 0; i < total; i++) {
      gsize rem = i, dst = 0, mul = 1;
      for (gint d = (gint)xr - 1; d >= 0; d--) {
        gsize idx = rem % xs[d];
        rem /= xs[d];
        dst += (mark[d] ? 0 : idx) * mul;
        mul *= kshape[d];
      }
      ib[i] += scale * ob[dst];
    }
  }
  return TRUE;
}

static gboolean
back_node (PhysnnTape *t, const PhysnnNode *n, GError **error)
{
  gboolean any_out = FALSE, any_in = FALSE;
  for (guint k = 0; k < n->n_outputs; k++)
    any_out |= t->bars[n->outputs[k]].n_comp > 0;
  for (guint k = 0; k < n->n_inputs; k++)
    any_in |= n->inputs[k] >= 0 && t->req[n->inputs[k]];
  if (!any_out || !any_in)
    return TRUE;

  switch (n->kind) {
    case PHYSNN_OP_ADD:
    case PHYSNN_OP_SUB:
    case PHYSNN_OP_MUL:
    case PHYSNN_OP_DIV:
      return back_binary (t, n);
    case PHYSNN_OP_GEMM:
      return back_gemm (t, n);
    case PHYSNN_OP_MATMUL:
      return back_matmul (t, n);
    case PHYSNN_OP_CONV:
      return back_conv (t, n);
    case PHYSNN_OP_MAX_POOL:
    case PHYSNN_OP_AVERAGE_POOL:
      return back_pool (t, n);
    case PHYSNN_OP_CONCAT:
      return back_concat (t, n);
    case PHYSNN_OP_REDUCE_SUM:
    case PHYSNN_OP_REDUCE_MEAN:
      return back_reduce (t, n);
    case PHYSNN_OP_CAST: {
      PhysnnJetValue *Ib = bar_of (t, n->inputs[0]);
      PhysnnJetValue *Ob = &t->bars[n->outputs[0]];
      if (Ib == NULL || !is_float (t->vals[n->outputs[0]].comp[0]))
        return TRUE;
      for (guint c = 0; c < MIN (Ib->n_comp, Ob->n_comp); c++) {
        const gdouble *ob = CD (Ob->comp[c]);
        gdouble *ib = D (Ib->comp[c]);
        for (gsize i = 0; i < physnn_tensor_get_n_elements (Ob->comp[c]); i++)
          ib[i] += ob[i];
      }
      return TRUE;
    }
    case PHYSNN_OP_RESHAPE:
    case PHYSNN_OP_FLATTEN:
    case PHYSNN_OP_UNSQUEEZE:
    case PHYSNN_OP_SQUEEZE:
    case PHYSNN_OP_TRANSPOSE:
    case PHYSNN_OP_SLICE:
    case PHYSNN_OP_SPLIT:
    case PHYSNN_OP_PAD:
    case PHYSNN_OP_GATHER: {
      /* The reference executor rebuilds the index map and hands it to
       * the hooks; the outputs stay as they are. */
      if (!is_float (t->vals[n->inputs[0]].comp[0]))
        return TRUE;
      MapCtx m = { t };
      PhysnnRefHooks hooks = { scatter_back, scatter_back_pad, &m };
      return _physnn_ref_run_node (
          t->graph, &t->spec, t->vals, n, &hooks, error);
    }
    case PHYSNN_OP_CONSTANT:
    case PHYSNN_OP_SHAPE:
      return TRUE;
    default:
      if (physnn_op_is_unary (n->kind))
        return back_unary (t, n);
      return tape_fail (t, n, error, "no reverse-mode rule");
  }
}

gboolean
_physnn_tape_backward (PhysnnTape *t, gdouble *grad, GError **error)
{
  for (gint i = (gint)t->graph->nodes->len - 1; i >= 0; i--) {
    const PhysnnNode *n = g_ptr_array_index (t->graph->nodes, i);
    GError *local = NULL;
    if (t->seg && i == (gint)t->seg->last_node) {
      /* the segment's parameters get their gradient from its engine */
      const PhysnnJetValue *ob = &t->bars[t->seg->out_value];
      if (grad && ob->n_comp > 0 &&
          !t->seg->backward (t->seg->user, ob, bar_of (t, t->seg->in_value),
              grad, error))
        return FALSE;
      i = (gint)t->seg->first_node;
      continue;
    }
    if (!back_node (t, n, &local)) {
      if (local == NULL)
        tape_fail (t, n, &local, "reverse pass failed");
      g_propagate_error (error, local);
      return FALSE;
    }
  }
  if (grad == NULL || t->ps == NULL)
    return TRUE;
  for (guint p = 0; p < t->ps->n; p++) {
    PhysnnJetValue *b = &t->bars[t->ps->value[p]];
    if (b->n_comp == 0)
      continue;
    const gdouble *g = CD (b->comp[0]);
    gdouble *dst = grad + t->ps->offset[p];
    for (gsize i = 0; i < t->ps->size[p]; i++)
      dst[i] += g[i];
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Forward */

static void
seed_input (PhysnnTape *t, gint value)
{
  const PhysnnJetSpec *s = &t->spec;
  PhysnnJetValue *v = &t->vals[value];
  guint rank;
  const gsize *shape = physnn_tensor_get_shape (v->comp[0], &rank);
  gsize cols = rank ? shape[rank - 1] : 1;
  gsize n = physnn_tensor_get_n_elements (v->comp[0]);

  v->n_comp = s->n_comp;
  for (guint c = 1; c < s->n_comp; c++)
    v->comp[c] = physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, rank, shape);
  for (guint d = 0; d < s->n_dirs; d++) {
    if (s->dir_input[d] != value)
      continue;
    gdouble *p = D (v->comp[1 + d]);
    for (gsize i = 0; i < n; i++)
      if (s->dir_column[d] < 0 || (gint)(i % cols) == s->dir_column[d])
        p[i] = 1.0;
  }
}

static PhysnnTensor *
to_f64_or_int (PhysnnTensor *t)
{
  PhysnnDType dt = physnn_tensor_get_dtype (t);
  if (dt == PHYSNN_DTYPE_FLOAT64)
    return g_object_ref (t);
  return physnn_tensor_convert (t,
      physnn_dtype_is_float (dt) ? PHYSNN_DTYPE_FLOAT64 : PHYSNN_DTYPE_INT64);
}

void
_physnn_tape_free (PhysnnTape *t)
{
  if (t == NULL)
    return;
  for (guint i = 0; i < t->n_values; i++) {
    physnn_jet_value_clear (&t->vals[i]);
    physnn_jet_value_clear (&t->bars[i]);
  }
  g_free (t->vals);
  g_free (t->bars);
  g_free (t->req);
  g_free (t);
}

PhysnnTape *
_physnn_tape_forward (PhysnnGraph *g, const PhysnnJetSpec *spec,
    const PhysnnParamSet *ps, const gdouble *params, PhysnnTensor **inputs,
    GError **error)
{
  return _physnn_tape_forward_segment (
      g, spec, ps, params, inputs, NULL, error);
}

PhysnnTape *
_physnn_tape_forward_segment (PhysnnGraph *g, const PhysnnJetSpec *spec,
    const PhysnnParamSet *ps, const gdouble *params, PhysnnTensor **inputs,
    const PhysnnTapeSegment *seg, GError **error)
{
  g_autoptr (PhysnnTape) t = g_new0 (PhysnnTape, 1);

  t->seg = seg;

  t->graph = g;
  if (spec)
    t->spec = *spec;
  else
    t->spec.n_comp = 1;
  t->ps = ps;
  t->n_values = g->values->len;
  t->vals = g_new0 (PhysnnJetValue, t->n_values);
  t->bars = g_new0 (PhysnnJetValue, t->n_values);
  t->req = g_new0 (gboolean, t->n_values);
  /* The graph's "active" marks are not touched: tapes of different
   * requests may run in parallel threads. */

  for (guint i = 0; i < t->n_values; i++) {
    PhysnnValue *v = VAL (g, i);
    if (v->constant == NULL)
      continue;
    gint p = ps && i < ps->n_values ? ps->param_of_value[i] : -1;
    t->vals[i].n_comp = 1;
    if (p >= 0 && params) {
      guint rank;
      const gsize *shape = physnn_tensor_get_shape (v->constant, &rank);
      t->vals[i].comp[0] = physnn_tensor_new_wrapped (PHYSNN_DTYPE_FLOAT64,
          rank, shape, (gpointer)(params + ps->offset[p]),
          ps->size[p] * sizeof (gdouble), NULL, NULL);
    } else {
      t->vals[i].comp[0] = to_f64_or_int (v->constant);
    }
    t->req[i] = p >= 0;
  }
  for (guint i = 0; i < g->inputs->len; i++) {
    gint idx = g_array_index (g->inputs, gint, i);
    t->vals[idx].n_comp = 1;
    t->vals[idx].comp[0] = to_f64_or_int (inputs[i]);
    gboolean active = FALSE;
    for (guint d = 0; d < t->spec.n_dirs; d++)
      active |= t->spec.dir_input[d] == idx;
    if (active && is_float (t->vals[idx].comp[0]))
      seed_input (t, idx);
  }

  for (guint i = 0; i < g->nodes->len; i++) {
    const PhysnnNode *n = g_ptr_array_index (g->nodes, i);
    gboolean req = FALSE, handled = FALSE;
    if (seg && i == seg->first_node) {
      if (t->vals[seg->in_value].comp[0] == NULL) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
            "%s: node %s: its input has no value", g->path, n->name);
        return NULL;
      }
      if (!seg->forward (seg->user, &t->vals[seg->in_value],
              &t->vals[seg->out_value], error))
        return NULL;
      t->req[seg->out_value] = TRUE;
      i = seg->last_node;
      continue;
    }
    for (guint k = 0; k < n->n_inputs; k++) {
      gint in = n->inputs[k];
      if (in < 0)
        continue;
      if (t->vals[in].comp[0] == NULL) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
            "%s: node %s (%s): input \"%s\" has no value", g->path, n->name,
            n->op_type, VAL (g, in)->name);
        return NULL;
      }
      req |= t->req[in];
    }
    if (n->kind == PHYSNN_OP_GEMM && !fwd_gemm (t, n, &handled))
      return NULL;
    if (n->kind == PHYSNN_OP_MATMUL && !fwd_matmul (t, n, &handled))
      return NULL;
    if (!handled &&
        !_physnn_ref_run_node (g, &t->spec, t->vals, n, NULL, error))
      return NULL;
    for (guint k = 0; k < n->n_outputs; k++)
      t->req[n->outputs[k]] = req && n->kind != PHYSNN_OP_SHAPE &&
                              is_float (t->vals[n->outputs[k]].comp[0]);
  }
  return g_steal_pointer (&t);
}
