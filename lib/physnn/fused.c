/* physnn — fused per-point kernels.
 *
 * A physics network evaluates every point independently: rows of the
 * coordinate input never mix. Such a graph (Gemm/MatMul with weights,
 * elementwise ops, concatenation and slicing along features, reductions
 * over features) is compiled here into one OpenCL kernel where each
 * work-item carries a few points through the whole network with all
 * activations and their jets in private memory: no intermediate buffers, no
 * launches per layer, weights read once per vector of points.
 *
 * The analysis runs the reference executor on 2 and 3 rows to learn which
 * values are per point ([N, width]) and which are uniform (weights, or
 * values computed from uniform inputs such as a DeepONet's branch — those
 * are recomputed each run on the host with a single row). Anything else
 * makes the graph ineligible and the node-by-node executor runs it.
 *
 * Derivative components are tracked symbolically while generating code:
 * seeds are one-hot and second derivatives of inputs are zero, so the
 * first layer's jets cost nothing and zero terms are never computed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/fused-private.h"
#include "physnn/device-private.h"
#include "physnn/error.h"
#include "physnn/tensor-private.h"
#include "physnn/quant-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VAL(g, i) ((PhysnnValue *) g_ptr_array_index ((g)->values, (i)))
#define MAX_WIDTH 4096

enum { K_ZERO, K_GEN, K_ONEHOT };

typedef struct {
  gboolean pp;                  /* per point */
  gboolean shape_int;           /* integer value that depends on N */
  guint width;
  guint rank;                   /* 1 for [N], 2 for [N, width] */
  guint ncomp;
  guint8 kind[PHYSNN_MAX_COMPONENTS];
  gint onehot[PHYSNN_MAX_COMPONENTS];
  gint slot;
  gint root;                    /* value whose arrays this one uses */
  gint last_use;
  gboolean dynamic_uniform;     /* uniform, but computed from inputs */
  gint uarg;                    /* kernel argument of a uniform value */
  gint pparg;                   /* kernel argument of a per-point input */
  /* A weight kept in packed storage (int8/int4/fp16) and dequantized in
   * registers where the kernel reads it: U<n> holds the stored integers or
   * halves, US<n>/UZ<n> the scales and zero points. */
  gboolean packed;
  PhysnnPackedWeight pw;
  gsize q_inner, q_channels;
} FV;

struct _PhysnnFusedPlan {
  PhysnnGraph *graph;
  PhysnnJetSpec spec;
  PhysnnDevice *device;
  gchar *source;
  cl_program program;
  cl_kernel kernel;
  guint vw;                     /* points per work-item */
  guint n_values;
  FV *fv;
  GArray *pp_inputs;            /* graph input index per per-point arg */
  GArray *uniform_values;       /* value index per uniform arg */
  PhysnnTensor **uniform_static;        /* per uniform arg: constant upload */
  PhysnnTensor **uniform_scale; /* packed weights: scales, zero points */
  PhysnnTensor **uniform_zero;
  gboolean needs_uniform_run;
  gboolean *per_point_input;
};

typedef struct {
  PhysnnFusedPlan *p;
  GString *s;
  gchar **why;
  guint max_width;
  guint n_slots;
  gboolean *slot_busy;
  guint slot_cap;
  GPtrArray *strings;           /* literals handed out by fl() */
  GString *consts;              /* program-scope constant arrays */
} Gen;

/* An OpenCL float literal: "%.9g" plus what makes it a float ("1" -> "1.0f"). */
static const gchar *
fl (Gen *gen, gdouble v)
{
  gchar buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd (buf, sizeof buf, "%.9g", v);
  gchar *s = strpbrk (buf, ".eEn") ? g_strconcat (buf, "f", NULL) :
      g_strconcat (buf, ".0f", NULL);
  g_ptr_array_add (gen->strings, s);
  return s;
}

/* ------------------------------------------------------------------------ */

void
_physnn_fused_plan_free (PhysnnFusedPlan *p)
{
  if (p == NULL)
    return;
  if (p->kernel)
    clReleaseKernel (p->kernel);
  if (p->program)
    clReleaseProgram (p->program);
  for (guint i = 0; p->uniform_static && p->uniform_values &&
      i < p->uniform_values->len; i++) {
    g_clear_object (&p->uniform_static[i]);
    g_clear_object (&p->uniform_scale[i]);
    g_clear_object (&p->uniform_zero[i]);
  }
  g_free (p->uniform_static);
  g_free (p->uniform_scale);
  g_free (p->uniform_zero);
  if (p->uniform_values)
    g_array_unref (p->uniform_values);
  if (p->pp_inputs)
    g_array_unref (p->pp_inputs);
  g_clear_object (&p->device);
  g_free (p->fv);
  g_free (p->source);
  g_free (p->per_point_input);
  g_free (p);
}

const gchar *
_physnn_fused_plan_get_source (PhysnnFusedPlan *p)
{
  return p->source;
}

static gboolean
ineligible (Gen *g, const gchar *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
ineligible (Gen *g, const gchar *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  if (g->why && *g->why == NULL)
    *g->why = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  return FALSE;
}

/* ------------------------------------------------------------------------ */
/* Analysis */

static PhysnnTensor *
rows (PhysnnTensor *t, gsize n)
{
  guint rank;
  const gsize *shape = physnn_tensor_get_shape (t, &rank);
  gsize s[PHYSNN_MAX_RANK];
  memcpy (s, shape, rank * sizeof (gsize));
  if (shape[0] >= n) {
    s[0] = n;
    return physnn_tensor_view (t, 0, rank, s, NULL);
  }
  s[0] = n;
  PhysnnTensor *z = physnn_tensor_new (physnn_tensor_get_dtype (t), rank, s);
  physnn_tensor_fill (z, 0.5);
  return z;
}

/* Runs the reference path on the uniform inputs and `n` rows of the
 * per-point ones; returns every value. */
static PhysnnJetValue *
probe (PhysnnFusedPlan *p, PhysnnTensor **inputs, gsize n, GError **error)
{
  PhysnnGraph *g = p->graph;
  g_autofree PhysnnTensor **in = g_new0 (PhysnnTensor *, g->inputs->len);
  PhysnnJetValue *all = NULL;
  for (guint i = 0; i < g->inputs->len; i++)
    in[i] = p->per_point_input[i] ? rows (inputs[i], n) :
        g_object_ref (inputs[i]);
  gboolean ok = _physnn_graph_run_reference_all (g, NULL, in, NULL, &all,
      error);
  for (guint i = 0; i < g->inputs->len; i++)
    g_object_unref (in[i]);
  return ok ? all : NULL;
}

static void
free_probe (PhysnnGraph *g, PhysnnJetValue *all)
{
  if (all == NULL)
    return;
  for (guint i = 0; i < g->values->len; i++)
    physnn_jet_value_clear (&all[i]);
  g_free (all);
}

/* Integers made by QuantizeLinear are per-point data (quantized
 * activations), not shape arithmetic. */
static gboolean
quantized_output (PhysnnGraph *g, gint v)
{
  for (guint i = 0; i < g->nodes->len; i++) {
    const PhysnnNode *n = g_ptr_array_index (g->nodes, i);
    if (n->kind == PHYSNN_OP_QUANTIZE_LINEAR && n->outputs[0] == v)
      return TRUE;
  }
  return FALSE;
}

static gboolean
classify (Gen *gen, PhysnnJetValue *a2, PhysnnJetValue *a3)
{
  PhysnnFusedPlan *p = gen->p;
  PhysnnGraph *g = p->graph;

  for (guint i = 0; i < g->values->len; i++) {
    FV *f = &p->fv[i];
    f->slot = -1;
    f->root = (gint) i;
    f->uarg = -1;
    f->pparg = -1;
    f->last_use = -1;
    if (a2[i].comp[0] == NULL)
      continue;
    guint r2, r3;
    const gsize *s2 = physnn_tensor_get_shape (a2[i].comp[0], &r2);
    const gsize *s3 = physnn_tensor_get_shape (a3[i].comp[0], &r3);
    gboolean same = r2 == r3 && memcmp (s2, s3, r2 * sizeof (gsize)) == 0;
    gboolean is_float = physnn_dtype_is_float (physnn_tensor_get_dtype
        (a2[i].comp[0]));
    if (same)
      continue;
    if (!is_float && !quantized_output (g, (gint) i)) {
      f->shape_int = TRUE;
      continue;
    }
    /* per point: [N] or [N, width], N on axis 0 */
    if (!(r2 == r3 && (r2 == 1 || r2 == 2) && s2[0] == 2 && s3[0] == 3 &&
            (r2 == 1 || s2[1] == s3[1])))
      return ineligible (gen, "value \"%s\" is not laid out as [points, "
          "features]", VAL (g, i)->name);
    f->pp = TRUE;
    f->rank = r2;
    f->width = r2 == 2 ? (guint) s2[1] : 1;
    if (f->width == 0 || f->width > MAX_WIDTH)
      return ineligible (gen, "value \"%s\" has %u features", VAL (g, i)->name,
          f->width);
    gen->max_width = MAX (gen->max_width, f->width);
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Code generation helpers */

#define E(...) g_string_append_printf (gen->s, __VA_ARGS__)

static const gchar *
lane_suffix (guint l)
{
  static const gchar *s[16] = { "s0", "s1", "s2", "s3", "s4", "s5", "s6",
    "s7", "s8", "s9", "sa", "sb", "sc", "sd", "se", "sf"
  };
  return s[l];
}

static gint
slot_get (Gen *gen)
{
  for (guint i = 0; i < gen->n_slots; i++)
    if (!gen->slot_busy[i]) {
      gen->slot_busy[i] = TRUE;
      return (gint) i;
    }
  if (gen->n_slots == gen->slot_cap) {
    gen->slot_cap = MAX (8, gen->slot_cap * 2);
    gen->slot_busy = g_renew (gboolean, gen->slot_busy, gen->slot_cap);
  }
  gen->slot_busy[gen->n_slots] = TRUE;
  return (gint) gen->n_slots++;
}

static FV *
fvr (Gen *gen, gint v)
{
  return &gen->p->fv[gen->p->fv[v].root];
}

/* Expression for component c of per-point value v at feature index j. */
static gchar *
acc (Gen *gen, gint v, guint c, const gchar *j)
{
  FV *f = &gen->p->fv[v];
  FV *r = fvr (gen, v);
  if (c >= f->ncomp || f->kind[c] == K_ZERO)
    return g_strdup ("((VT) (0.0f))");
  if (f->kind[c] == K_ONEHOT)
    return g_strdup_printf ("((%s) == %d ? (VT) (1.0f) : (VT) (0.0f))", j,
        f->onehot[c]);
  /* width-1 operands broadcast */
  return g_strdup_printf ("s%d_%u[%s]", r->slot, c, f->width == 1 ? "0" : j);
}

/* Expression for element `ix` of a uniform value: a float array, or packed
 * storage dequantized here, in registers, with the ONNX DequantizeLinear
 * arithmetic (x - zero_point) * scale in float32. */
static gchar *
uread (Gen *gen, gint v, const gchar *ix)
{
  FV *f = &gen->p->fv[v];
  if (!f->packed)
    return g_strdup_printf ("U%d[%s]", f->uarg, ix);
  if (f->pw.fp16)
    return g_strdup_printf ("vload_half (%s, U%d)", ix, f->uarg);
  g_autofree gchar *ch = f->q_channels > 1 ?
      g_strdup_printf ("(((%s) / %" G_GSIZE_FORMAT ") %% %" G_GSIZE_FORMAT ")",
      ix, f->q_inner, f->q_channels) : g_strdup ("0");
  g_autofree gchar *q = f->pw.bits == 4 ?
      g_strdup_printf ("physnn_q4%s (U%d, %s)", f->pw.sgn ? "s" : "u",
      f->uarg, ix) : g_strdup_printf ("(float) U%d[%s]", f->uarg, ix);
  return g_strdup_printf ("((%s - UZ%d[%s]) * US%d[%s])", q, f->uarg, ch,
      f->uarg, ch);
}

/* Expression for a uniform operand broadcast over features. */
static gchar *
uacc (Gen *gen, gint v, const gchar *j)
{
  FV *f = &gen->p->fv[v];
  gsize n = f->width;           /* set for uniform values in prepare */
  return uread (gen, v, n <= 1 ? "0" : j);
}

static gboolean
need_uniform (Gen *gen, gint v, guint expect_elems)
{
  PhysnnFusedPlan *p = gen->p;
  FV *f = &p->fv[v];
  if (f->uarg < 0) {
    f->uarg = (gint) p->uniform_values->len;
    g_array_append_val (p->uniform_values, v);
    if (_physnn_graph_packed_weight (p->graph, v, &f->pw)) {
      guint rank;
      const gsize *shape = physnn_tensor_get_shape (f->pw.stored, &rank);
      PhysnnQdqParams qp = { 0 };
      f->packed = f->pw.fp16 || _physnn_qdq_params (p->graph, f->pw.node,
          rank, shape, &qp, NULL);
      f->q_inner = qp.inner;
      f->q_channels = qp.channels;
      _physnn_qdq_params_clear (&qp);
    }
  }
  return TRUE;
}

static void
alloc_out (Gen *gen, gint out, guint width, gboolean active)
{
  FV *f = &gen->p->fv[out];
  f->width = width;
  f->ncomp = active ? gen->p->spec.n_comp : 1;
  f->slot = slot_get (gen);
  f->root = out;
  for (guint c = 0; c < PHYSNN_MAX_COMPONENTS; c++)
    f->kind[c] = K_ZERO;
}

/* ------------------------------------------------------------------------ */
/* Ops */

static gboolean
gen_gemm (Gen *gen, const PhysnnNode *n)
{
  PhysnnFusedPlan *p = gen->p;
  gint a = n->inputs[0], b = n->inputs[1], out = n->outputs[0];
  gint c = n->n_inputs > 2 ? n->inputs[2] : -1;
  gboolean gemm = n->kind == PHYSNN_OP_GEMM;
  FV *fa = &p->fv[a], *fb = &p->fv[b];
  gboolean tb = gemm && n->attrs.trans_b;
  gfloat alpha = gemm ? n->attrs.alpha : 1.0f, beta = gemm ? n->attrs.beta :
      0.0f;

  if (!fa->pp || fb->pp || (gemm && n->attrs.trans_a) ||
      (c >= 0 && p->fv[c].pp))
    return ineligible (gen, "%s %s is not per-point activations times "
        "weights", n->op_type, n->name);
  PhysnnTensor *bt = VAL (p->graph, b)->constant;
  guint K = fa->width, M = p->fv[out].width;
  if (fa->rank != 2)
    return ineligible (gen, "%s %s on a 1-D value", n->op_type, n->name);
  (void) bt;
  need_uniform (gen, b, K * M);
  if (c >= 0 && beta != 0.0f)
    need_uniform (gen, c, M);
  alloc_out (gen, out, M, fa->ncomp > 1);
  FV *fo = &p->fv[out];
  fo->rank = 2;

  /* Several outputs per pass (ju): independent FMA chains hide the FMA
   * latency and each activation is loaded once for ju weights. ju shrinks
   * as components grow, to stay within the vector registers. */
  guint n_gen = 0;
  for (guint cc = 0; cc < fo->ncomp; cc++) {
    guint8 kin = cc < fa->ncomp ? fa->kind[cc] : K_ZERO;
    if (cc == 0 || kin == K_GEN)
      n_gen++;
  }
  guint regs_per_vt = MAX (p->vw / 8, 1);
  guint ju = 8 / MAX (n_gen * regs_per_vt, 1);
  ju = CLAMP (ju, 1, 4);
  if (p->vw == 1)
    ju = 1;
  guint main_end = M / ju * ju;
  FV *ro = fvr (gen, out);

  for (guint pass = 0; pass < 2; pass++) {
    guint step = pass == 0 ? ju : 1;
    guint j0 = pass == 0 ? 0 : main_end, j1 = pass == 0 ? main_end : M;
    if (j0 >= j1)
      continue;
    E ("  for (int j = %u; j < %u; j += %u) {\n", j0, j1, step);
    for (guint cc = 0; cc < fo->ncomp; cc++) {
      guint8 kin = cc < fa->ncomp ? fa->kind[cc] : K_ZERO;
      if (kin == K_GEN || cc == 0)
        for (guint u = 0; u < step; u++)
          E ("    VT a%u_%u = (VT) (0.0f);\n", cc, u);
    }
    E ("    for (int k = 0; k < %u; k++) {\n", K);
    for (guint u = 0; u < step; u++) {
      g_autofree gchar *ix = tb ? g_strdup_printf ("(j + %u) * %u + k", u, K)
          : g_strdup_printf ("k * %u + j + %u", M, u);
      g_autofree gchar *w = uread (gen, b, ix);
      E ("      const VT w%u = (VT) (%s);\n", u, w);
    }
    for (guint cc = 0; cc < fo->ncomp; cc++) {
      guint8 kin = cc < fa->ncomp ? fa->kind[cc] : K_ZERO;
      if (cc == 0 || kin == K_GEN) {
        g_autofree gchar *x = acc (gen, a, cc, "k");
        E ("      { const VT x = %s;\n", x);
        for (guint u = 0; u < step; u++)
          E ("        a%u_%u = fma (w%u, x, a%u_%u);\n", cc, u, u, cc, u);
        E ("      }\n");
      }
    }
    E ("    }\n");
    for (guint cc = 0; cc < fo->ncomp; cc++) {
      guint8 kin = cc < fa->ncomp ? fa->kind[cc] : K_ZERO;
      if (cc > 0 && kin == K_ZERO) {
        fo->kind[cc] = K_ZERO;
        continue;
      }
      fo->kind[cc] = K_GEN;
      for (guint u = 0; u < step; u++) {
        if (cc > 0 && kin == K_ONEHOT) {
          /* d/dx of W·x: the weight column of the seeded coordinate */
          gint col = fa->onehot[cc];
          g_autofree gchar *ix = tb ?
              g_strdup_printf ("(j + %u) * %u + %d", u, K, col) :
              g_strdup_printf ("%d * %u + j + %u", col, M, u);
          g_autofree gchar *w = uread (gen, b, ix);
          E ("    s%d_%u[j + %u] = (VT) (%s * %s);\n", ro->slot, cc, u,
              fl (gen, alpha), w);
        } else if (cc == 0 && c >= 0 && beta != 0.0f) {
          g_autofree gchar *ju_ix = g_strdup_printf ("j + %u", u);
          g_autofree gchar *cv = uacc (gen, c, ju_ix);
          E ("    s%d_0[j + %u] = %s * a0_%u + %s * %s;\n", ro->slot, u,
              fl (gen, alpha), u, fl (gen, beta), cv);
        } else {
          E ("    s%d_%u[j + %u] = %s * a%u_%u;\n", ro->slot, cc, u,
              fl (gen, alpha), cc, u);
        }
      }
    }
    E ("  }\n");
  }
  return TRUE;
}

/* f, f1, f2 of a unary op into VT variables f, f1, f2 given x. */
static gboolean
unary_code (Gen *gen, const PhysnnNode *n)
{
  gdouble pw = n->attrs.exponent;
  switch (n->kind) {
    case PHYSNN_OP_IDENTITY:
      E ("      f = x; f1 = (VT) (1.0f); f2 = (VT) (0.0f);\n");
      break;
    case PHYSNN_OP_NEG:
      E ("      f = -x; f1 = (VT) (-1.0f); f2 = (VT) (0.0f);\n");
      break;
    case PHYSNN_OP_TANH:
      E ("      f = tanh (x); f1 = 1.0f - f * f; f2 = -2.0f * f * f1;\n");
      break;
    case PHYSNN_OP_SIGMOID:
      E ("      f = 1.0f / (1.0f + exp (-x)); f1 = f * (1.0f - f);"
          " f2 = f1 * (1.0f - 2.0f * f);\n");
      break;
    case PHYSNN_OP_RELU:
      E ("      f1 = POS (x); f = x * f1; f2 = (VT) (0.0f);\n");
      break;
    case PHYSNN_OP_LEAKY_RELU:
      E ("      f1 = select ((VT) (%s), (VT) (1.0f), ISPOS (x)); f = x * f1;"
          " f2 = (VT) (0.0f);\n", fl (gen, n->attrs.leaky_alpha));
      break;
    case PHYSNN_OP_SIN:
      E ("      f = sin (x); f1 = cos (x); f2 = -f;\n");
      break;
    case PHYSNN_OP_COS:
      E ("      f = cos (x); f1 = -sin (x); f2 = -f;\n");
      break;
    case PHYSNN_OP_EXP:
      E ("      f = exp (x); f1 = f; f2 = f;\n");
      break;
    case PHYSNN_OP_LOG:
      E ("      f = log (x); f1 = 1.0f / x; f2 = -f1 * f1;\n");
      break;
    case PHYSNN_OP_SOFTPLUS:
      E ("      f1 = 1.0f / (1.0f + exp (-x));"
          " f = select (log1p (exp (x)), x + log1p (exp (-x)), ISPOS (x));"
          " f2 = f1 * (1.0f - f1);\n");
      break;
    case PHYSNN_OP_ERF:
      E ("      f = erf (x); f1 = 1.1283791670955126f * exp (-x * x);"
          " f2 = -2.0f * x * f1;\n");
      break;
    case PHYSNN_OP_SQRT:
      E ("      f = sqrt (x); f1 = 0.5f / f; f2 = -0.5f * f1 / x;\n");
      break;
    case PHYSNN_OP_ABS:
      E ("      f = fabs (x); f1 = sign (x); f2 = (VT) (0.0f);\n");
      break;
    case PHYSNN_OP_POW:
      if (pw == floor (pw) && fabs (pw) <= 64) {
        gint e = (gint) pw;
        E ("      f = pown (x, (IT) (%d)); f1 = %d.0f * pown (x, (IT) (%d));"
            " f2 = %d.0f * pown (x, (IT) (%d));\n", e, e, e - 1,
            e * (e - 1), e - 2);
      } else {
        E ("      f = pow (x, (VT) (%s)); f1 = %s * pow (x, (VT) (%s));"
            " f2 = %s * pow (x, (VT) (%s));\n", fl (gen, pw), fl (gen, pw),
            fl (gen, pw - 1), fl (gen, pw * (pw - 1)), fl (gen, pw - 2));
      }
      break;
    default:
      return ineligible (gen, "no fused code for %s", n->op_type);
  }
  return TRUE;
}

static gboolean
gen_unary (Gen *gen, const PhysnnNode *n)
{
  PhysnnFusedPlan *p = gen->p;
  const PhysnnJetSpec *s = &p->spec;
  gint a = n->inputs[0], out = n->outputs[0];
  FV *fa = &p->fv[a];

  if (!fa->pp)
    return ineligible (gen, "unary %s on a uniform value", n->name);
  alloc_out (gen, out, fa->width, fa->ncomp > 1);
  FV *fo = &p->fv[out];
  fo->rank = fa->rank;
  gint so = fo->slot;
  E ("  for (int j = 0; j < %u; j++) {\n", fo->width);
  g_autofree gchar *x0 = acc (gen, a, 0, "j");
  E ("    { VT x = %s, f, f1, f2;\n", x0);
  if (!unary_code (gen, n))
    return FALSE;
  E ("      s%d_0[j] = f;\n", so);
  fo->kind[0] = K_GEN;
  for (guint d = 0; d < s->n_first && fo->ncomp > 1; d++) {
    guint c = 1 + d;
    if (fa->kind[c] == K_ZERO)
      continue;
    g_autofree gchar *xc = acc (gen, a, c, "j");
    E ("      s%d_%u[j] = f1 * %s;\n", so, c, xc);
    fo->kind[c] = K_GEN;
  }
  for (guint q = 0; q < s->n_second && fo->ncomp > 1; q++) {
    guint pa = 1 + s->second_dirs[q][0], pb = 1 + s->second_dirs[q][1];
    guint c = 1 + s->n_first + q;
    gboolean t1 = fa->kind[pa] != K_ZERO && fa->kind[pb] != K_ZERO;
    gboolean t2 = fa->kind[c] != K_ZERO;
    if (!t1 && !t2)
      continue;
    g_autofree gchar *xa = acc (gen, a, pa, "j");
    g_autofree gchar *xb = acc (gen, a, pb, "j");
    g_autofree gchar *xc = acc (gen, a, c, "j");
    E ("      s%d_%u[j] = %s%s%s%s%s;\n", so, c,
        t1 ? "f2 * " : "", t1 ? xa : "", t1 ? " * " : "", t1 ? xb : "",
        t2 ? (t1 ? g_strdup_printf (" + f1 * %s", xc) : g_strdup_printf
            ("f1 * %s", xc)) : "");
    fo->kind[c] = K_GEN;
  }
  E ("    }\n  }\n");
  return TRUE;
}

static gboolean
gen_binary (Gen *gen, const PhysnnNode *n)
{
  PhysnnFusedPlan *p = gen->p;
  const PhysnnJetSpec *s = &p->spec;
  gint a = n->inputs[0], b = n->inputs[1], out = n->outputs[0];
  FV *fa = &p->fv[a], *fb = &p->fv[b];
  guint wa = fa->pp ? fa->width : 0, wb = fb->pp ? fb->width : 0;

  /* uniform operands: their element count decides broadcasting */
  if (!fa->pp)
    wa = fa->width;
  if (!fb->pp)
    wb = fb->width;
  guint w = MAX (wa, wb);
  if ((wa != w && wa != 1) || (wb != w && wb != 1))
    return ineligible (gen, "%s %s: widths %u and %u do not broadcast",
        n->op_type, n->name, wa, wb);
  if (!fa->pp)
    need_uniform (gen, a, wa);
  if (!fb->pp)
    need_uniform (gen, b, wb);
  gboolean active = (fa->pp && fa->ncomp > 1) || (fb->pp && fb->ncomp > 1);
  alloc_out (gen, out, w, active);
  FV *fo = &p->fv[out];
  fo->rank = MAX (fa->pp ? fa->rank : 1, fb->pp ? fb->rank : 1);
  if (!fa->pp && fa->width > 1)
    fo->rank = 2;
  if (!fb->pp && fb->width > 1)
    fo->rank = 2;
  gint so = fo->slot;

#define OPA(c) (fa->pp ? acc (gen, a, (c), "j") : ((c) == 0 ? uacc (gen, a, \
        "j") : g_strdup ("((VT) (0.0f))")))
#define OPB(c) (fb->pp ? acc (gen, b, (c), "j") : ((c) == 0 ? uacc (gen, b, \
        "j") : g_strdup ("((VT) (0.0f))")))
#define KA(c) (fa->pp && (c) < fa->ncomp ? fa->kind[c] : ((c) == 0 ? K_GEN : \
        K_ZERO))
#define KB(c) (fb->pp && (c) < fb->ncomp ? fb->kind[c] : ((c) == 0 ? K_GEN : \
        K_ZERO))

  E ("  for (int j = 0; j < %u; j++) {\n", w);
  g_autofree gchar *a0 = OPA (0);
  g_autofree gchar *b0 = OPB (0);
  E ("    const VT xa = %s, xb = %s;\n", a0, b0);
  fo->kind[0] = K_GEN;
  switch (n->kind) {
    case PHYSNN_OP_ADD:
    case PHYSNN_OP_SUB:{
      const gchar *op = n->kind == PHYSNN_OP_ADD ? "+" : "-";
      E ("    s%d_0[j] = xa %s xb;\n", so, op);
      for (guint c = 1; c < fo->ncomp; c++) {
        if (KA (c) == K_ZERO && KB (c) == K_ZERO)
          continue;
        g_autofree gchar *ac = OPA (c);
        g_autofree gchar *bc = OPB (c);
        E ("    s%d_%u[j] = %s %s %s;\n", so, c, ac, op, bc);
        fo->kind[c] = K_GEN;
      }
      break;
    }
    case PHYSNN_OP_MUL:
    case PHYSNN_OP_DIV:{
      gboolean div = n->kind == PHYSNN_OP_DIV;
      /* a / b = a * r: r = 1/b, r' = -b' r², r'' = 2 b'b'' r³ - b'' r² */
      if (div) {
        E ("    const VT r = 1.0f / xb, r2 = r * r;\n");
        E ("    s%d_0[j] = xa * r;\n", so);
      } else {
        E ("    s%d_0[j] = xa * xb;\n", so);
      }
      /* first derivatives of the second factor (b or r) */
      for (guint d = 0; d < s->n_first && fo->ncomp > 1; d++) {
        guint c = 1 + d;
        if (KB (c) != K_ZERO) {
          g_autofree gchar *bc = OPB (c);
          if (div)
            E ("    const VT g%u = -%s * r2;\n", c, bc);
          else
            E ("    const VT g%u = %s;\n", c, bc);
        }
      }
      const gchar *second = div ? "r" : "xb";
      for (guint d = 0; d < s->n_first && fo->ncomp > 1; d++) {
        guint c = 1 + d;
        GString *e = g_string_new (NULL);
        if (KA (c) != K_ZERO) {
          g_autofree gchar *ac = OPA (c);
          g_string_append_printf (e, "%s * %s", ac, second);
        }
        if (KB (c) != K_ZERO)
          g_string_append_printf (e, "%sxa * g%u", e->len ? " + " : "", c);
        if (e->len) {
          E ("    s%d_%u[j] = %s;\n", so, c, e->str);
          fo->kind[c] = K_GEN;
        }
        g_string_free (e, TRUE);
      }
      for (guint q = 0; q < s->n_second && fo->ncomp > 1; q++) {
        guint pa = 1 + s->second_dirs[q][0], pb = 1 + s->second_dirs[q][1];
        guint c = 1 + s->n_first + q;
        GString *e = g_string_new (NULL);
        /* second factor's second derivative */
        g_autofree gchar *gs = NULL;
        gboolean has_gs = FALSE;
        if (div) {
          GString *t = g_string_new (NULL);
          if (KB (pa) != K_ZERO && KB (pb) != K_ZERO) {
            g_autofree gchar *ba = OPB (pa);
            g_autofree gchar *bb = OPB (pb);
            g_string_append_printf (t, "2.0f * %s * %s * r2 * r", ba, bb);
          }
          if (KB (c) != K_ZERO) {
            g_autofree gchar *bc = OPB (c);
            g_string_append_printf (t, "%s%s * r2", t->len ? " - " : "-", bc);
          }
          has_gs = t->len > 0;
          gs = g_string_free (t, FALSE);
        } else if (KB (c) != K_ZERO) {
          gs = OPB (c);
          has_gs = TRUE;
        }
        if (KA (c) != K_ZERO) {
          g_autofree gchar *ac = OPA (c);
          g_string_append_printf (e, "%s * %s", ac, second);
        }
        if (KA (pa) != K_ZERO && KB (pb) != K_ZERO) {
          g_autofree gchar *aa = OPA (pa);
          g_string_append_printf (e, "%s%s * g%u", e->len ? " + " : "", aa,
              pb);
        }
        if (KA (pb) != K_ZERO && KB (pa) != K_ZERO) {
          g_autofree gchar *ab = OPA (pb);
          g_string_append_printf (e, "%s%s * g%u", e->len ? " + " : "", ab,
              pa);
        }
        if (has_gs)
          g_string_append_printf (e, "%sxa * (%s)", e->len ? " + " : "", gs);
        if (e->len) {
          E ("    s%d_%u[j] = %s;\n", so, c, e->str);
          fo->kind[c] = K_GEN;
        }
        g_string_free (e, TRUE);
      }
      break;
    }
    default:
      return ineligible (gen, "no fused code for %s", n->op_type);
  }
  E ("  }\n");
#undef OPA
#undef OPB
#undef KA
#undef KB
  return TRUE;
}

/* Quantized activations: QuantizeLinear / DequantizeLinear of a per-point
 * value, per tensor or per feature, with scales and zero points compiled in
 * as constant arrays. The integers carry no derivatives (a quantized value
 * is a step function of its input), as on the reference path. */
static gboolean
gen_qdq (Gen *gen, const PhysnnNode *n)
{
  PhysnnFusedPlan *p = gen->p;
  gint a = n->inputs[0], out = n->outputs[0];
  FV *fa = &p->fv[a];
  gboolean quant = n->kind == PHYSNN_OP_QUANTIZE_LINEAR;
  gsize shape[2] = { 1, fa->width };
  PhysnnQdqParams qp;

  if (!fa->pp)
    return ineligible (gen, "%s %s of a uniform value", n->op_type, n->name);
  if (!_physnn_qdq_params (p->graph, n, fa->rank == 2 ? 2 : 1,
          fa->rank == 2 ? shape : shape + 1, &qp, NULL))
    return ineligible (gen, "%s %s: parameters", n->op_type, n->name);
  if (qp.channels > 1 && (fa->rank != 2 || qp.inner != 1))
    return ineligible (gen, "%s %s is per axis across points", n->op_type,
        n->name), _physnn_qdq_params_clear (&qp), FALSE;
  guint id = gen->strings->len;
  g_string_append_printf (gen->consts, "__constant float QS%u[%"
      G_GSIZE_FORMAT "] = {", id, qp.channels);
  for (gsize c = 0; c < qp.channels; c++)
    g_string_append_printf (gen->consts, "%s%s", c ? ", " : " ",
        fl (gen, qp.scale[c]));
  g_string_append_printf (gen->consts, " };\n__constant float QZ%u[%"
      G_GSIZE_FORMAT "] = {", id, qp.channels);
  for (gsize c = 0; c < qp.channels; c++)
    g_string_append_printf (gen->consts, "%s%s", c ? ", " : " ",
        fl (gen, qp.zero[c]));
  g_string_append (gen->consts, " };\n");
  const gchar *ch = qp.channels > 1 ? "j" : "0";
  _physnn_qdq_params_clear (&qp);

  alloc_out (gen, out, fa->width, FALSE);
  FV *fo = &p->fv[out];
  fo->rank = fa->rank;
  fo->kind[0] = K_GEN;
  g_autofree gchar *x = acc (gen, a, 0, "j");
  E ("  for (int j = 0; j < %u; j++) {\n", fo->width);
  E ("    const VT x = %s;\n", x);
  if (quant) {
    E ("    VT q = rint (x / QS%u[%s]) + QZ%u[%s];\n", id, ch, id, ch);
    E ("    q = select (q, (VT) (QZ%u[%s]), isnan (q));\n", id, ch);
    E ("    s%d_0[j] = clamp (q, (VT) (%s), (VT) (%s));\n", fo->slot,
        fl (gen, n->attrs.qmin), fl (gen, n->attrs.qmax));
  } else {
    E ("    s%d_0[j] = (x - QZ%u[%s]) * QS%u[%s];\n", fo->slot, id, ch, id,
        ch);
  }
  E ("  }\n");
  return TRUE;
}

/* Feature-axis copies (concat, slice, split) as explicit index lists. */
static gboolean
gen_copy (Gen *gen, gint out, guint width, const gint *src_value,
    const guint *src_index)
{
  PhysnnFusedPlan *p = gen->p;
  gboolean active = FALSE;
  for (guint j = 0; j < width; j++)
    active |= p->fv[src_value[j]].ncomp > 1;
  alloc_out (gen, out, width, active);
  FV *fo = &p->fv[out];
  fo->rank = 2;
  for (guint c = 0; c < fo->ncomp; c++) {
    gboolean any = FALSE;
    for (guint j = 0; j < width; j++) {
      FV *fs = &p->fv[src_value[j]];
      any |= c < fs->ncomp && fs->kind[c] != K_ZERO;
    }
    if (!any && c > 0)
      continue;
    fo->kind[c] = K_GEN;
    for (guint j = 0; j < width; j++) {
      g_autofree gchar *ix = g_strdup_printf ("%u", src_index[j]);
      g_autofree gchar *x = acc (gen, src_value[j], c, ix);
      E ("  s%d_%u[%u] = %s;\n", fo->slot, c, j, x);
    }
  }
  return TRUE;
}

static gboolean
uniform_ints (Gen *gen, PhysnnJetValue *probe2, gint v, GArray **out)
{
  *out = NULL;
  if (v < 0)
    return TRUE;
  if (gen->p->fv[v].shape_int || probe2[v].comp[0] == NULL)
    return ineligible (gen, "slice bounds depend on the number of points");
  PhysnnTensor *t = probe2[v].comp[0];
  *out = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (gsize i = 0; i < physnn_tensor_get_n_elements (t); i++) {
    gint64 x = (gint64) physnn_tensor_get_value (t, i);
    g_array_append_val (*out, x);
  }
  return TRUE;
}

static gboolean
feature_axis (Gen *gen, gint64 axis, guint rank, const PhysnnNode *n)
{
  if (axis < 0)
    axis += rank;
  if (axis != 1)
    return ineligible (gen, "%s %s works across points (axis %" G_GINT64_FORMAT
        ")", n->op_type, n->name, axis);
  return TRUE;
}

static gboolean
gen_layout (Gen *gen, const PhysnnNode *n, PhysnnJetValue *probe2)
{
  PhysnnFusedPlan *p = gen->p;
  gint a = n->inputs[0];
  FV *fa = &p->fv[a];

  switch (n->kind) {
    case PHYSNN_OP_CONCAT:{
      guint total = 0;
      for (guint k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] >= 0) {
          if (!p->fv[n->inputs[k]].pp)
            return ineligible (gen, "Concat %s of a uniform value", n->name);
          total += p->fv[n->inputs[k]].width;
        }
      if (!feature_axis (gen, n->attrs.axis, 2, n))
        return FALSE;
      g_autofree gint *sv = g_new (gint, MAX (total, 1));
      g_autofree guint *si = g_new (guint, MAX (total, 1));
      guint o = 0;
      for (guint k = 0; k < n->n_inputs; k++) {
        gint v = n->inputs[k];
        if (v < 0)
          continue;
        for (guint j = 0; j < p->fv[v].width; j++, o++) {
          sv[o] = v;
          si[o] = j;
        }
      }
      return gen_copy (gen, n->outputs[0], total, sv, si);
    }
    case PHYSNN_OP_SLICE:{
      g_autoptr (GArray) st = NULL, en = NULL, ax = NULL, sp = NULL;
      if (!fa->pp || fa->rank != 2 ||
          !uniform_ints (gen, probe2, n->inputs[1], &st) ||
          !uniform_ints (gen, probe2, n->n_inputs > 2 ? n->inputs[2] : -1,
              &en) ||
          !uniform_ints (gen, probe2, n->n_inputs > 3 ? n->inputs[3] : -1,
              &ax) ||
          !uniform_ints (gen, probe2, n->n_inputs > 4 ? n->inputs[4] : -1,
              &sp))
        return ineligible (gen, "Slice %s", n->name);
      gint64 s0 = 0, e0 = fa->width, step = 1;
      for (guint i = 0; st && i < st->len; i++) {
        gint64 axis = ax ? g_array_index (ax, gint64, i) : (gint64) i;
        if (axis < 0)
          axis += 2;
        gint64 s = g_array_index (st, gint64, i), e = g_array_index (en,
            gint64, i), stp = sp ? g_array_index (sp, gint64, i) : 1;
        if (axis == 0) {
          if (!(s == 0 && e >= G_MAXINT32 && stp == 1))
            return ineligible (gen, "Slice %s selects points", n->name);
          continue;
        }
        if (stp <= 0)
          return ineligible (gen, "Slice %s with step %" G_GINT64_FORMAT,
              n->name, stp);
        if (s < 0)
          s += fa->width;
        if (e < 0)
          e += fa->width;
        s0 = CLAMP (s, 0, (gint64) fa->width);
        e0 = CLAMP (e, 0, (gint64) fa->width);
        step = stp;
      }
      guint w = e0 > s0 ? (guint) ((e0 - s0 + step - 1) / step) : 0;
      if (w == 0 || w != p->fv[n->outputs[0]].width)
        return ineligible (gen, "Slice %s width", n->name);
      g_autofree gint *sv = g_new (gint, w);
      g_autofree guint *si = g_new (guint, w);
      for (guint j = 0; j < w; j++) {
        sv[j] = a;
        si[j] = (guint) (s0 + j * step);
      }
      return gen_copy (gen, n->outputs[0], w, sv, si);
    }
    case PHYSNN_OP_SPLIT:{
      if (!fa->pp || fa->rank != 2 ||
          !feature_axis (gen, n->attrs.axis, 2, n))
        return FALSE;
      guint off = 0;
      for (guint k = 0; k < n->n_outputs; k++) {
        guint w = p->fv[n->outputs[k]].width;
        g_autofree gint *sv = g_new (gint, MAX (w, 1));
        g_autofree guint *si = g_new (guint, MAX (w, 1));
        for (guint j = 0; j < w; j++) {
          sv[j] = a;
          si[j] = off + j;
        }
        if (!gen_copy (gen, n->outputs[k], w, sv, si))
          return FALSE;
        off += w;
      }
      return TRUE;
    }
    case PHYSNN_OP_REDUCE_SUM:
    case PHYSNN_OP_REDUCE_MEAN:{
      g_autoptr (GArray) axes = NULL;
      if (n->attrs.ints)
        axes = g_array_ref (n->attrs.ints);
      else if (!uniform_ints (gen, probe2, n->n_inputs > 1 ? n->inputs[1] :
              -1, &axes))
        return FALSE;
      if (!fa->pp || axes == NULL || axes->len != 1 ||
          !feature_axis (gen, g_array_index (axes, gint64, 0), fa->rank, n))
        return ineligible (gen, "%s %s is not over features", n->op_type,
            n->name);
      gint out = n->outputs[0];
      alloc_out (gen, out, 1, fa->ncomp > 1);
      FV *fo = &p->fv[out];
      fo->rank = n->attrs.keepdims ? 2 : 1;
      gfloat scale = n->kind == PHYSNN_OP_REDUCE_MEAN ? 1.0f / fa->width :
          1.0f;
      for (guint c = 0; c < fo->ncomp; c++) {
        if (c > 0 && (c >= fa->ncomp || fa->kind[c] == K_ZERO))
          continue;
        fo->kind[c] = K_GEN;
        E ("  { VT t = (VT) (0.0f);\n");
        E ("    for (int j = 0; j < %u; j++) {\n", fa->width);
        g_autofree gchar *x = acc (gen, a, c, "j");
        E ("      t += %s;\n    }\n", x);
        E ("    s%d_%u[0] = %s * t;\n  }\n", fo->slot, c, fl (gen, scale));
      }
      return TRUE;
    }
    default:
      return ineligible (gen, "no fused code for %s", n->op_type);
  }
}

/* Reshape-like ops that keep [N, w]: the output shares the input's arrays. */
static gboolean
gen_alias (Gen *gen, const PhysnnNode *n)
{
  PhysnnFusedPlan *p = gen->p;
  gint a = n->inputs[0], out = n->outputs[0];
  FV *fa = &p->fv[a], *fo = &p->fv[out];
  if (!fa->pp || fa->width != fo->width)
    return ineligible (gen, "%s %s changes the per-point layout", n->op_type,
        n->name);
  guint rank = fo->rank;
  *fo = *fa;
  fo->rank = rank;
  fo->root = fa->root;
  return TRUE;
}

/* ------------------------------------------------------------------------ */

static void
compute_last_use (PhysnnFusedPlan *p)
{
  PhysnnGraph *g = p->graph;
  for (guint i = 0; i < g->nodes->len; i++) {
    PhysnnNode *n = g_ptr_array_index (g->nodes, i);
    for (guint k = 0; k < n->n_inputs; k++)
      if (n->inputs[k] >= 0)
        p->fv[n->inputs[k]].last_use = (gint) i;
  }
}

/* Aliases extend their root's life. */
static gint
root_last_use (PhysnnFusedPlan *p, gint root)
{
  gint last = p->fv[root].last_use;
  for (guint v = 0; v < p->n_values; v++)
    if (p->fv[v].root == root)
      last = MAX (last, p->fv[v].last_use);
  return last;
}

static gboolean
generate (Gen *gen, PhysnnJetValue *probe2)
{
  PhysnnFusedPlan *p = gen->p;
  PhysnnGraph *g = p->graph;
  const PhysnnJetSpec *s = &p->spec;
  GString *body = gen->s;
  guint vw = p->vw;

  compute_last_use (p);
  /* uniform values: element counts from the probe */
  for (guint v = 0; v < p->n_values; v++) {
    FV *f = &p->fv[v];
    if (!f->pp && probe2[v].comp[0] != NULL &&
        physnn_dtype_is_float (physnn_tensor_get_dtype (probe2[v].comp[0])))
      f->width = (guint) physnn_tensor_get_n_elements (probe2[v].comp[0]);
  }

  /* per-point inputs: load, with seeds as symbolic one-hots */
  for (guint i = 0; i < g->inputs->len; i++) {
    if (!p->per_point_input[i])
      continue;
    gint v = g_array_index (g->inputs, gint, i);
    FV *f = &p->fv[v];
    if (!f->pp)
      return ineligible (gen, "input %u is not [points, features]", i);
    f->pparg = (gint) p->pp_inputs->len;
    g_array_append_val (p->pp_inputs, i);
    alloc_out (gen, v, f->width, VAL (g, v)->active);
    f->rank = 2;
    f->kind[0] = K_GEN;
    for (guint d = 0; d < s->n_dirs && f->ncomp > 1; d++) {
      if (s->dir_input[d] != v)
        continue;
      f->kind[1 + d] = K_ONEHOT;
      f->onehot[1 + d] = s->dir_column[d] < 0 ? 0 : s->dir_column[d];
    }
    for (guint j = 0; j < f->width; j++) {
      E ("  s%d_0[%u] = ", f->slot, j);
      if (vw == 1)
        E ("P%d[p0 * %u + %u];\n", f->pparg, f->width, j);
      else {
        E ("(VT) (");
        for (guint l = 0; l < vw; l++)
          E ("%sP%d[min (p0 + %u, last) * %u + %u]", l ? ", " : "", f->pparg,
              l, f->width, j);
        E (");\n");
      }
    }
    /* One-hot seeds stay symbolic only if every reader is a Gemm/MatMul;
     * otherwise write them out. */
    gboolean only_linear = TRUE;
    for (guint k = 0; k < g->nodes->len; k++) {
      PhysnnNode *n = g_ptr_array_index (g->nodes, k);
      for (guint q = 0; q < n->n_inputs; q++)
        if (n->inputs[q] == v && !((n->kind == PHYSNN_OP_GEMM ||
                    n->kind == PHYSNN_OP_MATMUL) && q == 0))
          only_linear = FALSE;
    }
    for (guint c = 1; c < f->ncomp && !only_linear; c++) {
      if (f->kind[c] != K_ONEHOT)
        continue;
      for (guint j = 0; j < f->width; j++)
        E ("  s%d_%u[%u] = (VT) (%s);\n", f->slot, c, j,
            (gint) j == f->onehot[c] ? "1.0f" : "0.0f");
      f->kind[c] = K_GEN;
    }
  }

  for (guint i = 0; i < g->nodes->len; i++) {
    PhysnnNode *n = g_ptr_array_index (g->nodes, i);
    gboolean any_pp = FALSE;
    for (guint k = 0; k < n->n_outputs; k++)
      any_pp |= p->fv[n->outputs[k]].pp;
    if (!any_pp) {
      /* uniform or shape arithmetic: computed on the host */
      for (guint k = 0; k < n->n_outputs; k++)
        if (!p->fv[n->outputs[k]].shape_int)
          p->fv[n->outputs[k]].dynamic_uniform = TRUE;
      continue;
    }
    for (guint k = 0; k < n->n_outputs; k++)
      if (!p->fv[n->outputs[k]].pp)
        return ineligible (gen, "%s %s mixes per-point and uniform outputs",
            n->op_type, n->name);
    E ("  /* %s %s */\n", n->op_type, n->name);
    gboolean ok;
    switch (n->kind) {
      case PHYSNN_OP_GEMM:
      case PHYSNN_OP_MATMUL:
        ok = gen_gemm (gen, n);
        break;
      case PHYSNN_OP_ADD:
      case PHYSNN_OP_SUB:
      case PHYSNN_OP_MUL:
      case PHYSNN_OP_DIV:
        ok = gen_binary (gen, n);
        break;
      case PHYSNN_OP_CONCAT:
      case PHYSNN_OP_SLICE:
      case PHYSNN_OP_SPLIT:
      case PHYSNN_OP_REDUCE_SUM:
      case PHYSNN_OP_REDUCE_MEAN:
        ok = gen_layout (gen, n, probe2);
        break;
      case PHYSNN_OP_RESHAPE:
      case PHYSNN_OP_FLATTEN:
      case PHYSNN_OP_SQUEEZE:
      case PHYSNN_OP_UNSQUEEZE:
      case PHYSNN_OP_CAST:
        ok = gen_alias (gen, n);
        break;
      case PHYSNN_OP_QUANTIZE_LINEAR:
      case PHYSNN_OP_DEQUANTIZE_LINEAR:
        ok = gen_qdq (gen, n);
        break;
      default:
        ok = physnn_op_is_unary (n->kind) ? (n->kind == PHYSNN_OP_IDENTITY ?
            gen_alias (gen, n) : gen_unary (gen, n)) :
            ineligible (gen, "no fused code for %s", n->op_type);
        break;
    }
    if (!ok)
      return FALSE;
    /* free slots whose values (and aliases) are dead */
    for (guint k = 0; k < n->n_inputs; k++) {
      gint v = n->inputs[k];
      if (v < 0 || !p->fv[v].pp)
        continue;
      gint root = p->fv[v].root;
      if (root_last_use (p, root) <= (gint) i && !VAL (g, root)->is_output &&
          p->fv[root].slot >= 0) {
        gboolean out_alias = FALSE;
        for (guint q = 0; q < g->outputs->len; q++)
          out_alias |= p->fv[g_array_index (g->outputs, gint, q)].root == root;
        if (!out_alias)
          gen->slot_busy[p->fv[root].slot] = FALSE;
      }
    }
  }

  /* outputs: every component of every output, [N, width] each */
  for (guint o = 0; o < g->outputs->len; o++) {
    gint v = g_array_index (g->outputs, gint, o);
    FV *f = &p->fv[v];
    if (!f->pp)
      return ineligible (gen, "output \"%s\" is not per point",
          VAL (g, v)->name);
    for (guint c = 0; c < f->ncomp; c++) {
      for (guint j = 0; j < f->width; j++) {
        g_autofree gchar *ix = g_strdup_printf ("%u", j);
        g_autofree gchar *x = acc (gen, v, c, ix);
        if (vw == 1) {
          E ("  O%u_%u[p0 * %u + %u] = %s;\n", o, c, f->width, j, x);
        } else {
          E ("  { const VT y = %s;\n", x);
          for (guint l = 0; l < vw; l++)
            E ("    if (p0 + %u < n) O%u_%u[(p0 + %u) * %u + %u] = y.%s;\n", l, o,
                c, l, f->width, j, lane_suffix (l));
          E ("  }\n");
        }
      }
    }
  }

  /* the kernel around the body */
  GString *k = g_string_new (NULL);
  if (vw == 1)
    g_string_append (k, "typedef float VT;\ntypedef int IT;\n"
        "#define ISPOS(x) isgreater ((x), 0.0f)\n");
  else
    g_string_append_printf (k, "typedef float%u VT;\ntypedef int%u IT;\n"
        "#define ISPOS(x) isgreater ((x), (VT) (0.0f))\n", vw, vw);
  g_string_append (k, "#define POS(x) select ((VT) (0.0f), (VT) (1.0f), "
      "ISPOS (x))\n");
  /* 4-bit weights: two per byte, the first in the low nibble */
  g_string_append (k, "static inline float\nphysnn_q4u (__global const uchar "
      "*q, const uint i)\n{\n  const uint b = q[i >> 1];\n"
      "  return (float) ((i & 1) ? (b >> 4) : (b & 15u));\n}\n"
      "static inline float\nphysnn_q4s (__global const uchar *q, const uint "
      "i)\n{\n  const uint b = q[i >> 1];\n"
      "  const int v = (int) ((i & 1) ? (b >> 4) : (b & 15u));\n"
      "  return (float) (v - ((v & 8) << 1));\n}\n");
  g_string_append (k, gen->consts->str);
  g_string_append (k, "\n__kernel void\nphysnn_fused (const uint n");
  for (guint i = 0; i < p->pp_inputs->len; i++)
    g_string_append_printf (k, ", __global const float *restrict P%u", i);
  for (guint i = 0; i < p->uniform_values->len; i++) {
    FV *f = &p->fv[g_array_index (p->uniform_values, gint, i)];
    if (!f->packed)
      g_string_append_printf (k, ", __global const float *restrict U%u", i);
    else if (f->pw.fp16)
      g_string_append_printf (k, ", __global const half *restrict U%u", i);
    else
      g_string_append_printf (k, ", __global const %s *restrict U%u, "
          "__global const float *restrict US%u, "
          "__global const float *restrict UZ%u",
          f->pw.bits == 8 && f->pw.sgn ? "char" : "uchar", i, i, i);
  }
  for (guint o = 0; o < g->outputs->len; o++) {
    FV *f = &p->fv[g_array_index (g->outputs, gint, o)];
    for (guint c = 0; c < f->ncomp; c++)
      g_string_append_printf (k, ", __global float *restrict O%u_%u", o, c);
  }
  g_string_append_printf (k, ")\n{\n  const uint p0 = get_global_id (0) * %u;\n"
      "  if (p0 >= n)\n    return;\n  const uint last = n - 1;\n"
      "  (void) last;\n", vw);
  guint mw = MAX (gen->max_width, 1);
  for (guint sl = 0; sl < gen->n_slots; sl++)
    for (guint c = 0; c < s->n_comp; c++)
      g_string_append_printf (k, "  VT s%u_%u[%u];\n", sl, c, mw);
  g_string_append (k, body->str);
  g_string_append (k, "}\n");
  g_string_assign (gen->s, k->str);
  g_string_free (k, TRUE);
  return TRUE;
}

/* ------------------------------------------------------------------------ */

/* Packed weights go to the device as stored: int8 one per byte, int4 two per
 * byte, fp16 as halves; scales and zero points as float32. */
static gboolean
upload_packed (PhysnnFusedPlan *p, FV *f, guint i, GError **error)
{
  const PhysnnPackedWeight *pw = &f->pw;
  if (pw->fp16) {
    p->uniform_static[i] = g_object_ref (pw->stored);
    return physnn_tensor_upload (p->uniform_static[i], p->device, error);
  }
  g_autoptr (GBytes) bytes = _physnn_quant_pack (pw->stored, pw->bits);
  gsize shape[1] = { MAX (g_bytes_get_size (bytes), 1) };
  p->uniform_static[i] = physnn_tensor_new (PHYSNN_DTYPE_UINT8, 1, shape);
  guint8 *dst = physnn_tensor_map (p->uniform_static[i], PHYSNN_MAP_WRITE,
      NULL);
  memcpy (dst, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  physnn_tensor_unmap (p->uniform_static[i]);
  guint rank;
  const gsize *wshape = physnn_tensor_get_shape (pw->stored, &rank);
  PhysnnQdqParams qp;
  if (!_physnn_qdq_params (p->graph, pw->node, rank, wshape, &qp, error))
    return FALSE;
  gsize cs[1] = { qp.channels };
  p->uniform_scale[i] = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, cs);
  p->uniform_zero[i] = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, cs);
  memcpy (physnn_tensor_map (p->uniform_scale[i], PHYSNN_MAP_WRITE, NULL),
      qp.scale, qp.channels * 4);
  physnn_tensor_unmap (p->uniform_scale[i]);
  memcpy (physnn_tensor_map (p->uniform_zero[i], PHYSNN_MAP_WRITE, NULL),
      qp.zero, qp.channels * 4);
  physnn_tensor_unmap (p->uniform_zero[i]);
  _physnn_qdq_params_clear (&qp);
  return physnn_tensor_upload (p->uniform_static[i], p->device, error) &&
      physnn_tensor_upload (p->uniform_scale[i], p->device, error) &&
      physnn_tensor_upload (p->uniform_zero[i], p->device, error);
}

PhysnnFusedPlan *
_physnn_fused_plan_new (PhysnnGraph *graph, const PhysnnJetSpec *spec,
    PhysnnDevice *device, const gboolean *per_point_input,
    PhysnnTensor **inputs, gchar **why, GError **error)
{
  PhysnnFusedPlan *p = g_new0 (PhysnnFusedPlan, 1);
  Gen gen = { p, g_string_new (NULL), why, 0, 0, NULL, 0,
    g_ptr_array_new_with_free_func (g_free), g_string_new (NULL)
  };
  PhysnnJetValue *a2 = NULL, *a3 = NULL;
  gboolean any_pp = FALSE;

  p->graph = graph;
  p->spec = *spec;
  p->device = g_object_ref (device);
  p->n_values = graph->values->len;
  p->fv = g_new0 (FV, p->n_values);
  p->pp_inputs = g_array_new (FALSE, FALSE, sizeof (guint));
  p->uniform_values = g_array_new (FALSE, FALSE, sizeof (gint));
  p->per_point_input = g_memdup2 (per_point_input,
      graph->inputs->len * sizeof (gboolean));
  /* CPUs get vectors of points (AVX lanes); GPUs one point per work-item */
  p->vw = physnn_device_get_device_type (device) == PHYSNN_DEVICE_TYPE_CPU ?
      8 : 1;
  if (g_getenv ("PHYSNN_FUSED_VW"))
    p->vw = CLAMP (atoi (g_getenv ("PHYSNN_FUSED_VW")), 1, 16);
  if (p->vw != 1 && p->vw != 2 && p->vw != 4 && p->vw != 8 && p->vw != 16)
    p->vw = 8;

  for (guint i = 0; i < graph->inputs->len; i++)
    any_pp |= per_point_input[i];
  /* Derivatives by a uniform input (a DeepONet's sensors) would need jets
   * in the host part: leave those to the node-by-node executor. */
  for (guint d = 0; d < spec->n_dirs; d++)
    for (guint i = 0; i < graph->inputs->len; i++)
      if (g_array_index (graph->inputs, gint, i) == spec->dir_input[d] &&
          !per_point_input[i]) {
        ineligible (&gen, "derivatives by input \"%s\", which is the same "
            "for every point", VAL (graph, spec->dir_input[d])->name);
        goto fail;
      }
  if (!any_pp) {
    ineligible (&gen, "no input has a symbolic number of points");
    goto fail;
  }
  a2 = probe (p, inputs, 2, error);
  a3 = a2 ? probe (p, inputs, 3, error) : NULL;
  if (a3 == NULL)
    goto fail;
  /* after the probes: they run without derivatives and reset the marks */
  physnn_graph_mark_active (graph, spec);
  if (!classify (&gen, a2, a3) || !generate (&gen, a2))
    goto fail;

  p->source = g_string_free (gen.s, FALSE);
  gen.s = NULL;
  if (g_getenv ("PHYSNN_DUMP_FUSED"))
    g_file_set_contents (g_getenv ("PHYSNN_DUMP_FUSED"), p->source, -1, NULL);
  p->program = _physnn_device_build_source (device, "fused.cl", p->source,
      "-cl-mad-enable", error);
  if (p->program == NULL)
    goto fail;
  cl_int st;
  p->kernel = clCreateKernel (p->program, "physnn_fused", &st);
  if (!_physnn_cl_check (st, "clCreateKernel (fused)", error))
    goto fail;

  /* constant uniform values are uploaded once */
  p->uniform_static = g_new0 (PhysnnTensor *, MAX (p->uniform_values->len, 1));
  p->uniform_scale = g_new0 (PhysnnTensor *, MAX (p->uniform_values->len, 1));
  p->uniform_zero = g_new0 (PhysnnTensor *, MAX (p->uniform_values->len, 1));
  for (guint i = 0; i < p->uniform_values->len; i++) {
    gint v = g_array_index (p->uniform_values, gint, i);
    if (p->fv[v].packed) {
      if (!upload_packed (p, &p->fv[v], i, error))
        goto fail;
      continue;
    }
    if (VAL (graph, v)->constant == NULL) {
      p->needs_uniform_run = TRUE;
      continue;
    }
    p->uniform_static[i] = physnn_tensor_convert (a2[v].comp[0],
        PHYSNN_DTYPE_FLOAT32);
    if (!physnn_tensor_upload (p->uniform_static[i], device, error))
      goto fail;
  }
  free_probe (graph, a2);
  free_probe (graph, a3);
  g_free (gen.slot_busy);
  g_ptr_array_unref (gen.strings);
  g_string_free (gen.consts, TRUE);
  return p;

fail:
  free_probe (graph, a2);
  free_probe (graph, a3);
  g_free (gen.slot_busy);
  g_ptr_array_unref (gen.strings);
  g_string_free (gen.consts, TRUE);
  if (gen.s)
    g_string_free (gen.s, TRUE);
  _physnn_fused_plan_free (p);
  return NULL;
}

gboolean
_physnn_fused_run (PhysnnFusedPlan *p, PhysnnTensor **inputs,
    PhysnnJetValue *outputs, GError **error)
{
  PhysnnGraph *g = p->graph;
  PhysnnDevice *dev = p->device;
  PhysnnJetValue *uni = NULL;
  gboolean ok = FALSE;
  GPtrArray *keep = g_ptr_array_new_with_free_func (g_object_unref);
  gsize n = 0;

  for (guint i = 0; i < p->pp_inputs->len; i++) {
    guint in = g_array_index (p->pp_inputs, guint, i);
    n = physnn_tensor_get_dim (inputs[in], 0);
  }
  if (n > G_MAXUINT32 / 16) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "%" G_GSIZE_FORMAT " points in one run; split the batch", n);
    goto out;
  }
  if (p->needs_uniform_run) {
    /* uniform values computed from uniform inputs: one row on the host */
    uni = probe (p, inputs, 1, error);
    if (uni == NULL)
      goto out;
  }

  guint arg = 0;
  cl_kernel k = p->kernel;
  guint32 n32 = (guint32) n;
  _physnn_device_lock (dev);
  clSetKernelArg (k, arg++, sizeof n32, &n32);
  for (guint i = 0; i < p->pp_inputs->len; i++) {
    guint in = g_array_index (p->pp_inputs, guint, i);
    PhysnnTensor *t = physnn_tensor_get_dtype (inputs[in]) ==
        PHYSNN_DTYPE_FLOAT32 ? g_object_ref (inputs[in]) :
        physnn_tensor_convert (inputs[in], PHYSNN_DTYPE_FLOAT32);
    g_ptr_array_add (keep, t);
    gsize off;
    cl_mem m = _physnn_tensor_get_cl_mem (t, dev, PHYSNN_ACCESS_READ, &off,
        error);
    if (m == NULL || off != 0) {
      if (m && off)
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
            "fused kernel input at an offset");
      goto unlock;
    }
    clSetKernelArg (k, arg++, sizeof m, &m);
  }
  for (guint i = 0; i < p->uniform_values->len; i++) {
    PhysnnTensor *t = p->uniform_static[i];
    if (t == NULL) {
      gint v = g_array_index (p->uniform_values, gint, i);
      t = physnn_tensor_convert (uni[v].comp[0], PHYSNN_DTYPE_FLOAT32);
      g_ptr_array_add (keep, t);
    }
    gsize off;
    cl_mem m = _physnn_tensor_get_cl_mem (t, dev, PHYSNN_ACCESS_READ, &off,
        error);
    if (m == NULL)
      goto unlock;
    clSetKernelArg (k, arg++, sizeof m, &m);
    if (p->uniform_scale[i]) {
      cl_mem sm = _physnn_tensor_get_cl_mem (p->uniform_scale[i], dev,
          PHYSNN_ACCESS_READ, &off, error);
      cl_mem zm = _physnn_tensor_get_cl_mem (p->uniform_zero[i], dev,
          PHYSNN_ACCESS_READ, &off, error);
      if (sm == NULL || zm == NULL)
        goto unlock;
      clSetKernelArg (k, arg++, sizeof sm, &sm);
      clSetKernelArg (k, arg++, sizeof zm, &zm);
    }
  }
  for (guint o = 0; o < g->outputs->len; o++) {
    gint v = g_array_index (g->outputs, gint, o);
    FV *f = &p->fv[v];
    gsize shape[2] = { n, f->width };
    outputs[o].n_comp = f->ncomp;
    for (guint c = 0; c < f->ncomp; c++) {
      PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, f->rank,
          shape);
      outputs[o].comp[c] = t;
      gsize off;
      cl_mem m = _physnn_tensor_get_cl_mem (t, dev, PHYSNN_ACCESS_WRITE, &off,
          error);
      if (m == NULL)
        goto unlock;
      clSetKernelArg (k, arg++, sizeof m, &m);
    }
  }
  gsize global = (n + p->vw - 1) / p->vw;
  ok = _physnn_device_enqueue (dev, k, 1, &global, NULL, error);
unlock:
  _physnn_device_unlock (dev);
out:
  free_probe (g, uni);
  g_ptr_array_unref (keep);
  return ok;
}
