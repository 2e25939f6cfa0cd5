/* physnn — the tiled MLP kernel: the usual PINN (dense layers with one
 * activation between them) as one generated kernel shaped for GPUs.
 *
 * A work-group carries a tile of points through every layer. Activations
 * and their jet components live in local memory ([component][feature]
 * [point]); each layer is a small matrix product where every thread owns a
 * register tile of RN neurons x RP points x all jet components, streaming
 * the transposed weights from global memory (read by every work-group, so
 * they stay in cache). Bias, activation and the jet rules (f', f'') are
 * applied in registers before the tile is written back. Only the inputs
 * and the final outputs touch global memory.
 *
 * Tile shapes come from the device's local memory and work-group limits;
 * PHYSNN_MLP_RN, PHYSNN_MLP_RP and PHYSNN_MLP_P override them for tuning.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/fused-private.h"
#include "physnn/device-private.h"
#include "physnn/error.h"
#include "physnn/tensor-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VAL(g, i) ((PhysnnValue *) g_ptr_array_index ((g)->values, (i)))
#define MAX_LAYERS 32

typedef struct {
  guint in, out;
  PhysnnOpKind act;             /* PHYSNN_OP_IDENTITY for none */
  gfloat act_param;
  PhysnnTensor *wt;             /* [in][out], alpha folded in */
  PhysnnTensor *bias;           /* [out], beta folded in */
  PhysnnTensor *frag;           /* tensor-core path: hidden-layer weights in
                                 * mma fragment order, hi and lo TF32 parts */
} Layer;

struct _PhysnnMlpPlan {
  PhysnnGraph *graph;
  PhysnnJetSpec spec;
  PhysnnDevice *device;
  guint n_layers;
  Layer layers[MAX_LAYERS];
  guint input_width;
  guint rn, rp, p, threads;
  gboolean tc;                  /* NVIDIA tensor cores (3xTF32) */
  gboolean tc_emulated;         /* ... with mma emulated, for testing */
  gchar *source;
  cl_program program;
  cl_kernel kernel;
  guint out_rank;
};

void
_physnn_mlp_plan_free (PhysnnMlpPlan *p)
{
  if (p == NULL)
    return;
  for (guint i = 0; i < p->n_layers; i++) {
    g_clear_object (&p->layers[i].wt);
    g_clear_object (&p->layers[i].bias);
    g_clear_object (&p->layers[i].frag);
  }
  if (p->kernel)
    clReleaseKernel (p->kernel);
  if (p->program)
    clReleaseProgram (p->program);
  g_clear_object (&p->device);
  g_free (p->source);
  g_free (p);
}

/* ------------------------------------------------------------------------ */
/* Recognising input -> (Gemm -> act?)* -> output */

static gboolean
not_mlp (gchar **why, const gchar *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
not_mlp (gchar **why, const gchar *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  if (why && *why == NULL)
    *why = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  return FALSE;
}

static gboolean
match_chain (PhysnnMlpPlan *p, gchar **why)
{
  PhysnnGraph *g = p->graph;
  if (g->inputs->len != 1 || g->outputs->len != 1)
    return not_mlp (why, "not one input and one output");
  gint cur = g_array_index (g->inputs, gint, 0);
  guint i = 0;

  while (i < g->nodes->len) {
    PhysnnNode *n = g_ptr_array_index (g->nodes, i);
    if (n->kind != PHYSNN_OP_GEMM || n->inputs[0] != cur ||
        n->attrs.trans_a)
      return not_mlp (why, "node %s is not a dense layer", n->name);
    PhysnnValue *w = VAL (g, n->inputs[1]);
    PhysnnValue *b = n->n_inputs > 2 && n->inputs[2] >= 0 ?
        VAL (g, n->inputs[2]) : NULL;
    if (w->constant == NULL || physnn_tensor_get_rank (w->constant) != 2 ||
        (b && b->constant == NULL))
      return not_mlp (why, "layer %s has non-constant weights", n->name);
    if (p->n_layers == MAX_LAYERS)
      return not_mlp (why, "more than %d layers", MAX_LAYERS);
    Layer *L = &p->layers[p->n_layers++];
    gboolean tb = n->attrs.trans_b;
    L->in = (guint) physnn_tensor_get_dim (w->constant, tb ? 1 : 0);
    L->out = (guint) physnn_tensor_get_dim (w->constant, tb ? 0 : 1);
    if (b && physnn_tensor_get_n_elements (b->constant) != L->out &&
        physnn_tensor_get_n_elements (b->constant) != 1)
      return not_mlp (why, "layer %s bias is not per neuron", n->name);
    gsize wshape[2] = { L->in, L->out }, bshape[1] = { L->out };
    L->wt = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, wshape);
    L->bias = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, bshape);
    gfloat *wt = physnn_tensor_map (L->wt, PHYSNN_MAP_WRITE, NULL);
    for (guint k = 0; k < L->in; k++)
      for (guint j = 0; j < L->out; j++)
        wt[k * L->out + j] = n->attrs.alpha * (gfloat)
            physnn_tensor_get_value (w->constant, tb ? j * L->in + k :
            k * L->out + j);
    physnn_tensor_unmap (L->wt);
    gfloat *bb = physnn_tensor_map (L->bias, PHYSNN_MAP_WRITE, NULL);
    for (guint j = 0; j < L->out; j++)
      bb[j] = b ? n->attrs.beta * (gfloat) physnn_tensor_get_value
          (b->constant, physnn_tensor_get_n_elements (b->constant) == 1 ? 0 :
          j) : 0.0f;
    physnn_tensor_unmap (L->bias);
    L->act = PHYSNN_OP_IDENTITY;
    cur = n->outputs[0];
    i++;
    if (i < g->nodes->len) {
      PhysnnNode *a = g_ptr_array_index (g->nodes, i);
      if (physnn_op_is_unary (a->kind) && a->kind != PHYSNN_OP_POW &&
          a->inputs[0] == cur) {
        L->act = a->kind;
        L->act_param = a->attrs.leaky_alpha;
        cur = a->outputs[0];
        i++;
      }
    }
  }
  if (p->n_layers < 2 || cur != g_array_index (g->outputs, gint, 0))
    return not_mlp (why, "not a chain of dense layers ending at the output");
  for (guint l = 1; l < p->n_layers; l++)
    if (p->layers[l].in != p->layers[l - 1].out)
      return not_mlp (why, "layer widths do not chain");
  p->input_width = p->layers[0].in;
  for (guint d = 0; d < p->spec.n_dirs; d++)
    if (p->spec.dir_input[d] != g_array_index (g->inputs, gint, 0))
      return not_mlp (why, "derivatives by another input");
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Code generation */

#define E(...) g_string_append_printf (s, __VA_ARGS__)

static const gchar *
act_code (PhysnnOpKind k)
{
  switch (k) {
    case PHYSNN_OP_TANH:
      return "f = tanh (x); f1 = 1.0f - f * f; f2 = -2.0f * f * f1;";
    case PHYSNN_OP_SIGMOID:
      return "f = 1.0f / (1.0f + exp (-x)); f1 = f * (1.0f - f); "
          "f2 = f1 * (1.0f - 2.0f * f);";
    case PHYSNN_OP_SIN:
      return "f = sin (x); f1 = cos (x); f2 = -f;";
    case PHYSNN_OP_COS:
      return "f = cos (x); f1 = -sin (x); f2 = -f;";
    case PHYSNN_OP_EXP:
      return "f = exp (x); f1 = f; f2 = f;";
    case PHYSNN_OP_RELU:
      return "f1 = x > 0.0f ? 1.0f : 0.0f; f = x * f1; f2 = 0.0f;";
    case PHYSNN_OP_LEAKY_RELU:
      return "f1 = x > 0.0f ? 1.0f : ACT_P; f = x * f1; f2 = 0.0f;";
    case PHYSNN_OP_SOFTPLUS:
      return "f1 = 1.0f / (1.0f + exp (-x)); "
          "f = x > 0.0f ? x + log1p (exp (-x)) : log1p (exp (x)); "
          "f2 = f1 * (1.0f - f1);";
    case PHYSNN_OP_ERF:
      return "f = erf (x); f1 = 1.1283791670955126f * exp (-x * x); "
          "f2 = -2.0f * x * f1;";
    case PHYSNN_OP_NEG:
      return "f = -x; f1 = -1.0f; f2 = 0.0f;";
    case PHYSNN_OP_IDENTITY:
      return "f = x; f1 = 1.0f; f2 = 0.0f;";
    default:
      return NULL;
  }
}

/* Emits: given register values v[c] named by `reg` (printf with c), apply
 * the activation with the jet rules in place. */
static void
emit_activation (GString *s, const PhysnnJetSpec *sp, PhysnnOpKind act,
    const gchar *prefix, const gchar *suffix)
{
  if (act == PHYSNN_OP_IDENTITY)
    return;
  E ("{ float x = %s0%s, f, f1, f2; %s\n", prefix, suffix, act_code (act));
  for (guint q = 0; q < sp->n_second; q++) {
    guint a = 1 + sp->second_dirs[q][0], b = 1 + sp->second_dirs[q][1];
    guint c = 1 + sp->n_first + q;
    E ("  %s%u%s = f2 * %s%u%s * %s%u%s + f1 * %s%u%s;\n", prefix, c, suffix,
        prefix, a, suffix, prefix, b, suffix, prefix, c, suffix);
  }
  for (guint d = 0; d < sp->n_first; d++)
    E ("  %s%u%s *= f1;\n", prefix, 1 + d, suffix);
  E ("  %s0%s = f; }\n", prefix, suffix);
}

/* The first layer, straight from the coordinates: first derivatives are
 * the weight columns of the seeded coordinates, second derivatives zero.
 * Both kernel shapes use it, through their ACT() layout. */
static void
emit_first_layer (GString *s, const PhysnnMlpPlan *p, guint T)
{
  const PhysnnJetSpec *sp = &p->spec;
  guint C = sp->n_comp, d = p->input_width;
  const Layer *l0 = &p->layers[0];
  E ("  for (uint i = tid; i < %u * P; i += %u) {\n", l0->out, T);
  E ("    const uint j = i / P, pt = i %% P;\n");
  E ("    const uint gp = min (base + pt, n - 1);\n");
  E ("    float v0 = B0[j]");
  for (guint k = 0; k < d; k++)
    E (" + W0[%u * %u + j] * X[gp * %u + %u]", k, l0->out, d, k);
  E (";\n");
  for (guint q = 0; q < sp->n_first; q++) {
    gint col = sp->dir_column[q] < 0 ? 0 : sp->dir_column[q];
    E ("    float v%u = W0[%d * %u + j];\n", 1 + q, col, l0->out);
  }
  for (guint q = 0; q < sp->n_second; q++)
    E ("    float v%u = 0.0f;\n", 1 + sp->n_first + q);
  if (l0->act == PHYSNN_OP_LEAKY_RELU)
    E ("#define ACT_P %.9gf\n", (gdouble) l0->act_param);
  emit_activation (s, sp, l0->act, "v", "");
  if (l0->act == PHYSNN_OP_LEAKY_RELU)
    E ("#undef ACT_P\n");
  for (guint c = 0; c < C; c++)
    E ("    ACT (%u, j, pt) = v%u;\n", c, c);
  E ("  }\n  barrier (CLK_LOCAL_MEM_FENCE);\n\n");
}

/* The output layer: few outputs, one (point, output) per thread with all
 * its jet components. */
static void
emit_output_layer (GString *s, const PhysnnMlpPlan *p, guint T)
{
  const PhysnnJetSpec *sp = &p->spec;
  guint C = sp->n_comp, L = p->n_layers, mout = p->layers[L - 1].out;
  const Layer *lo = &p->layers[L - 1];
  E ("  for (uint i = tid; i < %u * P; i += %u) {\n", mout, T);
  E ("    const uint j = i / P, pt = i %% P;\n");
  for (guint c = 0; c < C; c++)
    E ("    float o%u = 0.0f;\n", c);
  E ("    for (uint k = 0; k < %u; k++) {\n      const float w = W%u[k * %u + j];\n",
      lo->in, L - 1, mout);
  for (guint c = 0; c < C; c++)
    E ("      o%u = fma (w, ACT (%u, k, pt), o%u);\n", c, c, c);
  E ("    }\n");
  E ("    o0 += B%u[j];\n", L - 1);
  if (lo->act == PHYSNN_OP_LEAKY_RELU)
    E ("#define ACT_P %.9gf\n", (gdouble) lo->act_param);
  emit_activation (s, sp, lo->act, "o", "");
  E ("    if (base + pt < n) {\n");
  for (guint c = 0; c < C; c++)
    E ("      O%u[(base + pt) * %u + j] = o%u;\n", c, mout, c);
  E ("    }\n  }\n}\n");
}

static gboolean
generate (PhysnnMlpPlan *p, guint local_mem, guint max_wg, gchar **why)
{
  const PhysnnJetSpec *sp = &p->spec;
  guint C = sp->n_comp;
  guint wmax = 0;
  for (guint l = 0; l + 1 < p->n_layers; l++)
    wmax = MAX (wmax, p->layers[l].out);
  guint hidden_ok = 1;
  for (guint l = 1; l + 1 < p->n_layers; l++)
    hidden_ok &= p->layers[l].in > 0;
  (void) hidden_ok;

  /* components padded to a vector width for local loads, unless padding
   * costs more than a third or the tile no longer fits */
  guint cp = C == 1 ? 1 : C == 2 ? 2 : C <= 4 ? 4 : (C >= 6 && C <= 8) ? 8 :
      C;
  if ((gsize) cp * wmax * 4 * (C == 1 ? 4 : 2) > local_mem)
    cp = C;

  /* tile: RN neurons x RP points per thread */
  guint rn = 8;
  while (rn > 1 && wmax % rn)
    rn /= 2;
  /* Defaults from the H100 sweeps (docs/performance.md): forward 8x8
   * with 64 points per tile, jets 8x2 with 16. */
  guint rp = C == 1 ? 8 : 2;
  if (g_getenv ("PHYSNN_MLP_RN"))
    rn = (guint) MAX (MIN (atoi (g_getenv ("PHYSNN_MLP_RN")), 16), 1);
  if (rn != 16 && rn != 8 && rn != 4 && rn != 2)
    rn = 1;
  if (g_getenv ("PHYSNN_MLP_RP"))
    rp = (guint) MAX (MIN (atoi (g_getenv ("PHYSNN_MLP_RP")), 8), 1);
  if (wmax % rn)
    return not_mlp (why, "width %u not divisible by %u", wmax, rn);
  guint P = C == 1 ? 64 : 16;
  while (P > rp && ((gsize) cp * wmax * P * 4 > local_mem ||
          (wmax / rn) * (P / rp) > max_wg))
    P /= 2;
  if (g_getenv ("PHYSNN_MLP_P"))
    P = (guint) MAX (MIN (atoi (g_getenv ("PHYSNN_MLP_P")), 1024), 1);
  if (P < rp || P % rp || (gsize) cp * wmax * P * 4 > local_mem)
    return not_mlp (why, "no tile fits %u bytes of local memory", local_mem);
  guint T = (wmax / rn) * (P / rp);
  if (T > max_wg || T == 0)
    return not_mlp (why, "tile needs %u threads", T);
  p->rn = rn;
  p->rp = rp;
  p->p = P;
  p->threads = T;

  GString *s = g_string_new (NULL);
  guint L = p->n_layers;
  E ("/* generated by physnn: %u-layer MLP, %u jet components, tile %u points,"
      " %u threads of %ux%u */\n", L, C, P, T, rn, rp);
  /* Jet components of one (feature, point) are adjacent in local memory,
   * padded to a vector width, so a thread reads them with one load. */
  E ("#define P %u\n#define WMAX %u\n#define CP %u\n"
      "#define ACT(c, k, p) act[(((k) * P) + (p)) * CP + (c)]\n\n", P, wmax,
      cp);
  E ("__kernel __attribute__ ((reqd_work_group_size (%u, 1, 1)))\nvoid\n"
      "physnn_mlp (const uint n, __global const float *restrict X", T);
  for (guint l = 0; l < L; l++)
    E (", __global const float *restrict W%u, __global const float "
        "*restrict B%u", l, l);
  for (guint c = 0; c < C; c++)
    E (", __global float *restrict O%u", c);
  E (")\n{\n  __local float act[%u];\n", cp * wmax * P);
  E ("  const uint tid = get_local_id (0);\n"
      "  const uint base = get_group_id (0) * P;\n\n");

  emit_first_layer (s, p, T);

  /* hidden layers: register-tiled products over local memory */
  E ("  const uint nb = tid / %u, pb = tid %% %u;\n", P / rp, P / rp);
  for (guint li = 1; li + 1 < L; li++) {
    Layer *ly = &p->layers[li];
    guint K = ly->in, M = ly->out;
    /* accumulators live across the barrier: every work-item must reach
     * the same barriers, so the work is guarded, not the barriers */
    E ("  /* layer %u: %u -> %u */\n  {\n", li, K, M);
    for (guint c = 0; c < C; c++)
      for (guint r = 0; r < rn; r++)
        for (guint q = 0; q < rp; q++)
          E ("    float a%u_%u_%u = 0.0f;\n", c, r, q);
    E ("    const bool busy = nb * %u < %u;\n", rn, M);
    E ("    if (busy) {\n");
    E ("    __global const float *w = W%u + nb * %u;\n", li, rn);
    E ("    #pragma unroll 4\n    for (uint k = 0; k < %u; k++) {\n", K);
    if (rn >= 2)
      E ("      const float%u wv = vload%u (0, w + k * %u);\n", rn, rn, M);
    for (guint r = 0; r < rn; r++) {
      if (rn >= 2)
        E ("      const float w%u = wv.s%x;\n", r, r);
      else
        E ("      const float w%u = w[k * %u + %u];\n", r, M, r);
    }
    /* one component: a thread's points are adjacent, one vector load */
    gboolean point_vector = cp == 1 && (rp == 2 || rp == 4 || rp == 8);
    if (point_vector) {
      E ("      const float%u xp = vload%u (0, &ACT (0, k, pb * %u));\n", rp,
          rp, rp);
      for (guint q = 0; q < rp; q++)
        E ("      const float x0_%u = xp.s%x;\n", q, q);
    }
    for (guint q = 0; q < rp && !point_vector; q++) {
      if (cp == 2 || cp == 3 || cp == 4 || cp == 8 || cp == 16) {
        E ("      const float%u xv%u = vload%u (0, &ACT (0, k, pb * %u + %u));\n",
            cp, q, cp, rp, q);
        for (guint c = 0; c < C; c++)
          E ("      const float x%u_%u = xv%u.s%x;\n", c, q, q, c);
      } else {
        for (guint c = 0; c < C; c++)
          E ("      const float x%u_%u = ACT (%u, k, pb * %u + %u);\n", c, q,
              c, rp, q);
      }
    }
    for (guint c = 0; c < C; c++)
      for (guint r = 0; r < rn; r++)
        for (guint q = 0; q < rp; q++)
          E ("      a%u_%u_%u = fma (w%u, x%u_%u, a%u_%u_%u);\n", c, r, q, r, c,
              q, c, r, q);
    E ("    }\n    }\n");
    E ("    barrier (CLK_LOCAL_MEM_FENCE);\n");
    E ("    if (busy) {\n");
    if (ly->act == PHYSNN_OP_LEAKY_RELU)
      E ("#define ACT_P %.9gf\n", (gdouble) ly->act_param);
    for (guint r = 0; r < rn; r++)
      for (guint q = 0; q < rp; q++) {
        E ("    a0_%u_%u += B%u[nb * %u + %u];\n", r, q, li, rn, r);
        gchar *suffix = g_strdup_printf ("_%u_%u", r, q);
        emit_activation (s, sp, ly->act, "a", suffix);
        g_free (suffix);
        for (guint c = 0; c < C; c++)
          E ("    ACT (%u, nb * %u + %u, pb * %u + %u) = a%u_%u_%u;\n", c, rn,
              r, rp, q, c, r, q);
      }
    if (ly->act == PHYSNN_OP_LEAKY_RELU)
      E ("#undef ACT_P\n");
    E ("    }\n  }\n");
    E ("  barrier (CLK_LOCAL_MEM_FENCE);\n\n");
  }

  emit_output_layer (s, p, T);
  p->source = g_string_free (s, FALSE);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The tensor-core variant (NVIDIA, compute capability 8.0 and later).
 *
 * The hidden layers are the whole cost of a PINN, and on NVIDIA GPUs their
 * FP32 units are half the story: the tensor cores' TF32 matrix-multiply
 * instructions (PTX mma.sync m16n8k8, reached through inline PTX, which
 * NVIDIA's OpenCL compiler accepts) are several times faster. TF32 keeps
 * 10 mantissa bits, too few for derivatives checked against float32, so
 * every product is split into hi + lo parts and three products are
 * accumulated: hi*hi + hi*lo + lo*hi ("3xTF32"), which leaves an error of
 * the order of float32 rounding. The weights are split and stored in
 * fragment order on the host; activations are split as they are loaded.
 *
 * Local memory holds one layer's activations as act[feature][column] with
 * column = component * P + point, so the jet components of a layer are
 * just more columns of one matrix product Z = W * act. A warp owns WM
 * output features x PW points x every component, so each thread ends the
 * product holding all components of the same (feature, point) in the same
 * accumulator slot and applies the jet rules in registers. The row stride
 * is padded to 8 modulo 32 floats: the fragment loads then hit 32
 * different banks. */

/* TF32 keeps the top 10 mantissa bits: round to nearest, ties away from
 * zero (PTX cvt.rna), by adding half of the dropped part to the
 * magnitude. */
static gfloat
tf32_round (gfloat v)
{
  union { gfloat f; guint32 u; } x = { v };
  if ((x.u & 0x7f800000u) == 0x7f800000u)
    return v;
  x.u = (x.u + 0x1000u) & 0xffffe000u;
  return x.f;
}

/* Fragment order for mma.m16n8k8 A operands (row major, 16 x 8): lane
 * (g = lane / 4, t = lane % 4) holds A[g][t], A[g+8][t], A[g][t+4],
 * A[g+8][t+4]. For every 16-row tile and 8-wide k step, 32 lanes x (4 hi,
 * 4 lo) floats, so a lane reads its fragment with two 16-byte loads. */
static PhysnnTensor *
make_fragments (const Layer *L)
{
  guint mt_n = L->out / 16, ks_n = L->in / 8;
  gsize shape[1] = { (gsize) mt_n * ks_n * 32 * 8 };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, shape);
  gfloat *f = physnn_tensor_map (t, PHYSNN_MAP_WRITE, NULL);
  const gfloat *wt = physnn_tensor_map (L->wt, PHYSNN_MAP_READ, NULL);
  for (guint mt = 0; mt < mt_n; mt++)
    for (guint ks = 0; ks < ks_n; ks++)
      for (guint lane = 0; lane < 32; lane++) {
        guint g = lane / 4, tq = lane % 4;
        guint rows[4] = { g, g + 8, g, g + 8 }, cols[4] = { tq, tq, tq + 4,
          tq + 4
        };
        gfloat *o = f + (((gsize) mt * ks_n + ks) * 32 + lane) * 8;
        for (guint r = 0; r < 4; r++) {
          guint m = mt * 16 + rows[r], k = ks * 8 + cols[r];
          gfloat w = wt[(gsize) k * L->out + m];
          gfloat hi = tf32_round (w);
          o[r] = hi;
          o[4 + r] = tf32_round (w - hi);
        }
      }
  physnn_tensor_unmap (L->wt);
  physnn_tensor_unmap (t);
  return t;
}

static guint
env_uint (const gchar *name, guint def)
{
  const gchar *v = g_getenv (name);
  return v && *v ? (guint) atoi (v) : def;
}

/* The emulation (PHYSNN_MLP_TC=emulate) runs the same kernel on any
 * OpenCL device, with cvt.rna and mma.sync written out in OpenCL C: the
 * 32 work-items of a warp exchange their fragments through local memory
 * between two barriers, following PTX's fragment layout (checked against
 * an H200 by a probe, docs/performance.md). Everything else — the weight
 * fragments, the activation layout, which accumulator holds which
 * (feature, point), the hi/lo split, the jet rules — is the code the GPU
 * runs, so the CPU tests check it against PyTorch. Barriers need uniform
 * control flow: the emulation takes only chains whose hidden layers all
 * have the widest width, so that every warp is busy. */
static const gchar tc_emulation[] =
    "inline uint\nTF32 (float x)\n{\n"
    "  const uint u = as_uint (x);\n"
    "  return (u & 0x7f800000u) == 0x7f800000u ? u :\n"
    "      (u + 0x1000u) & 0xffffe000u;\n}\n\n"
    /* the three products of one 3xTF32 step in one exchange: every
     * barrier costs PoCL's compiler time */
    "void\nmma3_emu (float *d0, float *d1, float *d2, float *d3, uint4 ah,\n"
    "    uint4 al, uint h0, uint h1, uint l0, uint l1, __local float *sc,\n"
    "    uint lane)\n{\n"
    "  const uint g = lane >> 2, t = lane & 3;\n"
    "  /* A[16][8] hi and lo, B[k][n] hi and lo */\n"
    "  __local float *Ah = sc, *Al = sc + 128, *Bh = sc + 256, *Bl = sc + 320;\n"
    "  Ah[g * 8 + t] = as_float (ah.s0);\n"
    "  Ah[(g + 8) * 8 + t] = as_float (ah.s1);\n"
    "  Ah[g * 8 + t + 4] = as_float (ah.s2);\n"
    "  Ah[(g + 8) * 8 + t + 4] = as_float (ah.s3);\n"
    "  Al[g * 8 + t] = as_float (al.s0);\n"
    "  Al[(g + 8) * 8 + t] = as_float (al.s1);\n"
    "  Al[g * 8 + t + 4] = as_float (al.s2);\n"
    "  Al[(g + 8) * 8 + t + 4] = as_float (al.s3);\n"
    "  Bh[t * 8 + g] = as_float (h0);\n"
    "  Bh[(t + 4) * 8 + g] = as_float (h1);\n"
    "  Bl[t * 8 + g] = as_float (l0);\n"
    "  Bl[(t + 4) * 8 + g] = as_float (l1);\n"
    "  barrier (CLK_LOCAL_MEM_FENCE);\n"
    "  const uint r[4] = { g, g, g + 8, g + 8 }, c[4] = { 2 * t, 2 * t + 1,\n"
    "    2 * t, 2 * t + 1 };\n"
    "  float sum[4];\n"
    "  for (uint i = 0; i < 4; i++) {\n"
    "    float sl = 0.0f, sm = 0.0f, sh = 0.0f;\n"
    "    for (uint k = 0; k < 8; k++) {\n"
    "      sl += Al[r[i] * 8 + k] * Bh[k * 8 + c[i]];\n"
    "      sm += Ah[r[i] * 8 + k] * Bl[k * 8 + c[i]];\n"
    "      sh += Ah[r[i] * 8 + k] * Bh[k * 8 + c[i]];\n"
    "    }\n"
    "    sum[i] = sl + sm + sh;\n"
    "  }\n"
    "  barrier (CLK_LOCAL_MEM_FENCE);\n"
    "  *d0 += sum[0];\n  *d1 += sum[1];\n  *d2 += sum[2];\n"
    "  *d3 += sum[3];\n}\n\n"
    "#define MMA3(d0, d1, d2, d3, ah, al, h0, h1, l0, l1) mma3_emu (&(d0), "
    "&(d1), &(d2), &(d3), ah, al, h0, h1, l0, l1, msc, lane)\n\n";

static gboolean
generate_tc (PhysnnMlpPlan *p, guint local_mem, guint max_wg,
    gboolean emulate, gchar **why)
{
  const PhysnnJetSpec *sp = &p->spec;
  guint C = sp->n_comp, L = p->n_layers;
  guint wmax = 0;
  for (guint l = 0; l + 1 < L; l++)
    wmax = MAX (wmax, p->layers[l].out);

  /* Defaults from the H100/H200 sweeps (docs/performance.md); the
   * PHYSNN_MLP_TC_* variables override them for tuning. */
  guint WM = env_uint ("PHYSNN_MLP_TC_WM", 32);
  guint PW = env_uint ("PHYSNN_MLP_TC_PW", C == 1 ? 32 : 8);
  guint P = env_uint ("PHYSNN_MLP_TC_P", C == 1 ? 64 : 16);
  if (WM != 16 && WM != 32 && WM != 64)
    return not_mlp (why, "tensor cores: bad warp rows %u", WM);
  if (PW == 0 || PW % 8 || P % PW)
    return not_mlp (why, "tensor cores: bad point tile %u/%u", PW, P);
  while (WM > 16 && wmax % WM)
    WM /= 2;
  for (guint l = 1; l + 1 < L; l++)
    if (p->layers[l].out % WM || p->layers[l].in % 8)
      return not_mlp (why, "tensor cores: layer %u is %u -> %u, not a "
          "multiple of 8 -> %u", l, p->layers[l].in, p->layers[l].out, WM);
  if (L < 3)
    return not_mlp (why, "tensor cores: no hidden layer");
  for (guint l = 1; emulate && l + 1 < L; l++)
    if (p->layers[l].out != wmax)
      return not_mlp (why, "tensor-core emulation: hidden layers of "
          "different widths");
  guint ncol = C * P, S = ncol + (40 - ncol % 32) % 32;
  guint RW = wmax / WM, T = 32 * RW * (P / PW);
  /* the emulation's fragment exchange: 384 floats per warp */
  guint scratch = emulate ? T / 32 * 384 : 0;
  if (((gsize) wmax * S + scratch) * 4 > local_mem)
    return not_mlp (why, "tensor cores: %u x %u floats exceed local memory",
        wmax, S);
  if (T > max_wg)
    return not_mlp (why, "tensor cores: tile needs %u threads", T);
  p->rn = WM;
  p->rp = PW;
  p->p = P;
  p->threads = T;
  guint MT = WM / 16, NT = PW / 8;

  GString *s = g_string_new (NULL);
  E ("/* generated by physnn: %u-layer MLP on tensor cores (3xTF32%s), %u "
      "jet components, tile %u points, %u warps of %u rows x %u points */\n",
      L, emulate ? ", emulated" : "", C, P, T / 32, WM, PW);
  E ("#define P %u\n#define S %u\n"
      "#define ACT(c, k, p) act[(k) * S + (c) * P + (p)]\n", P, S);
  if (emulate)
    g_string_append (s, tc_emulation);
  else {
    E ("inline uint\nTF32 (float x)\n{\n  uint r;\n"
        "  asm (\"cvt.rna.tf32.f32 %%0, %%1;\" : \"=r\" (r) : \"f\" (x));\n"
        "  return r;\n}\n\n");
    E ("#define MMA(d0, d1, d2, d3, a, b0, b1) asm (\"mma.sync.aligned.m16n8k8"
      ".row.col.f32.tf32.tf32.f32 {%%0, %%1, %%2, %%3}, {%%4, %%5, %%6, %%7}, "
      "{%%8, %%9}, {%%0, %%1, %%2, %%3};\" : \"+f\" (d0), \"+f\" (d1), "
      "\"+f\" (d2), \"+f\" (d3) : \"r\" (a.s0), \"r\" (a.s1), \"r\" (a.s2), "
      "\"r\" (a.s3), \"r\" (b0), \"r\" (b1))\n\n");
  }
  E ("__kernel __attribute__ ((reqd_work_group_size (%u, 1, 1)))\nvoid\n"
      "physnn_mlp (const uint n, __global const float *restrict X", T);
  for (guint l = 0; l < L; l++) {
    if (l > 0 && l + 1 < L)
      E (", __global const uint4 *restrict W%u", l);
    else
      E (", __global const float *restrict W%u", l);
    E (", __global const float *restrict B%u", l);
  }
  for (guint c = 0; c < C; c++)
    E (", __global float *restrict O%u", c);
  E (")\n{\n  __local float act[%u];\n", wmax * S);
  if (emulate)
    E ("  __local float mma_scratch[%u];\n", scratch);
  E ("  const uint tid = get_local_id (0);\n"
      "  const uint base = get_group_id (0) * P;\n"
      "  const uint lane = tid & 31, g = lane >> 2, tq = lane & 3;\n"
      "  const uint wr = (tid >> 5) %% %u, wp = (tid >> 5) / %u;\n\n", RW, RW);
  if (emulate)
    E ("  __local float *msc = mma_scratch + (tid >> 5) * 384;\n\n");

  emit_first_layer (s, p, T);

  for (guint li = 1; li + 1 < L; li++) {
    Layer *ly = &p->layers[li];
    guint K = ly->in, M = ly->out;
    E ("  /* layer %u: %u -> %u */\n  {\n", li, K, M);
    for (guint c = 0; c < C; c++)
      for (guint mt = 0; mt < MT; mt++)
        for (guint nt = 0; nt < NT; nt++)
          E ("    float a%u_%u_%u_0 = 0.0f, a%u_%u_%u_1 = 0.0f, "
              "a%u_%u_%u_2 = 0.0f, a%u_%u_%u_3 = 0.0f;\n", c, mt, nt, c, mt,
              nt, c, mt, nt, c, mt, nt);
    /* every work-item reaches the same barriers: work is guarded */
    if (emulate)
      E ("    const bool busy = true;\n");
    else
      E ("    const bool busy = wr * %u < %u;\n", WM, M);
    E ("    if (busy) {\n");
    E ("    __global const uint4 *f = W%u + (wr * %u * %u + lane) * 2;\n", li,
        MT, K / 8 * 32);
    E ("    __local const float *bp = act + tq * S + wp * %u + g;\n", PW);
    E ("    #pragma unroll %u\n    for (uint ks = 0; ks < %u; ks++) {\n",
        emulate ? 1 : 2, K / 8);
    for (guint mt = 0; mt < MT; mt++)
      E ("      const uint4 ah%u = f[(%u + ks * 32) * 2], al%u = "
          "f[(%u + ks * 32) * 2 + 1];\n", mt, mt * (K / 8) * 32, mt,
          mt * (K / 8) * 32);
    E ("      __local const float *bk = bp + ks * 8 * S;\n");
    for (guint c = 0; c < C; c++)
      for (guint nt = 0; nt < NT; nt++) {
        E ("      {\n        const float x0 = bk[%u], x1 = bk[4 * S + %u];\n",
            c * P + nt * 8, c * P + nt * 8);
        E ("        const uint h0 = TF32 (x0), h1 = TF32 (x1);\n");
        E ("        const uint l0 = TF32 (x0 - as_float (h0)), "
            "l1 = TF32 (x1 - as_float (h1));\n");
        for (guint mt = 0; mt < MT; mt++) {
          gchar *acc = g_strdup_printf ("a%u_%u_%u_0, a%u_%u_%u_1, "
              "a%u_%u_%u_2, a%u_%u_%u_3", c, mt, nt, c, mt, nt, c, mt, nt, c,
              mt, nt);
          /* small terms first */
          if (emulate)
            E ("        MMA3 (%s, ah%u, al%u, h0, h1, l0, l1);\n", acc, mt, mt);
          else {
            E ("        MMA (%s, al%u, h0, h1);\n", acc, mt);
            E ("        MMA (%s, ah%u, l0, l1);\n", acc, mt);
            E ("        MMA (%s, ah%u, h0, h1);\n", acc, mt);
          }
          g_free (acc);
        }
        E ("      }\n");
      }
    E ("    }\n    }\n");
    E ("    barrier (CLK_LOCAL_MEM_FENCE);\n");
    E ("    if (busy) {\n");
    if (ly->act == PHYSNN_OP_LEAKY_RELU)
      E ("#define ACT_P %.9gf\n", (gdouble) ly->act_param);
    for (guint mt = 0; mt < MT; mt++)
      for (guint nt = 0; nt < NT; nt++)
        for (guint r = 0; r < 4; r++) {
          E ("    {\n      const uint m = wr * %u + %u + g, pt = wp * %u + %u "
              "+ 2 * tq;\n", WM, mt * 16 + (r >= 2 ? 8 : 0), PW,
              nt * 8 + (r & 1));
          E ("      a0_%u_%u_%u += B%u[m];\n", mt, nt, r, li);
          gchar *suffix = g_strdup_printf ("_%u_%u_%u", mt, nt, r);
          emit_activation (s, sp, ly->act, "a", suffix);
          g_free (suffix);
          for (guint c = 0; c < C; c++)
            E ("      ACT (%u, m, pt) = a%u_%u_%u_%u;\n", c, c, mt, nt, r);
          E ("    }\n");
        }
    if (ly->act == PHYSNN_OP_LEAKY_RELU)
      E ("#undef ACT_P\n");
    E ("    }\n  }\n");
    E ("  barrier (CLK_LOCAL_MEM_FENCE);\n\n");
  }

  emit_output_layer (s, p, T);
  p->source = g_string_free (s, FALSE);
  return TRUE;
}

/* NVIDIA's compute capability through cl_nv_device_attribute_query; 0 for
 * other devices. */
static guint
nv_compute_capability (PhysnnDevice *device)
{
  cl_device_id id = _physnn_device_get_id (device);
  const gchar *vendor = physnn_device_get_vendor (device);
  cl_uint major = 0, minor = 0;
  if (id == NULL || vendor == NULL || strstr (vendor, "NVIDIA") == NULL)
    return 0;
  if (clGetDeviceInfo (id, 0x4000 /* COMPUTE_CAPABILITY_MAJOR_NV */ ,
          sizeof major, &major, NULL) != CL_SUCCESS ||
      clGetDeviceInfo (id, 0x4001 /* COMPUTE_CAPABILITY_MINOR_NV */ ,
          sizeof minor, &minor, NULL) != CL_SUCCESS)
    return 0;
  return major * 10 + minor;
}

/* ------------------------------------------------------------------------ */

/* PHYSNN_DUMP_FUSED=PATH writes the generated source (the tensor-core
 * variant to PATH.tc, so a fallback does not overwrite it). */
static void
dump_source (const PhysnnMlpPlan *p, const gchar *suffix)
{
  if (g_getenv ("PHYSNN_DUMP_FUSED")) {
    g_autofree gchar *path = g_strconcat (g_getenv ("PHYSNN_DUMP_FUSED"),
        suffix, NULL);
    g_file_set_contents (path, p->source, -1, NULL);
  }
}

/* Which kernel the plan runs, for physnn_model_get_execution(). */
const gchar *
_physnn_mlp_plan_describe (const PhysnnMlpPlan *p)
{
  if (p->tc_emulated)
    return "fused (tiled MLP, tensor cores 3xTF32, emulated)";
  return p->tc ? "fused (tiled MLP, tensor cores 3xTF32)" :
      "fused (tiled MLP)";
}

PhysnnMlpPlan *
_physnn_mlp_plan_new (PhysnnGraph *graph, const PhysnnJetSpec *spec,
    PhysnnDevice *device, gchar **why, GError **error)
{
  PhysnnMlpPlan *p = g_new0 (PhysnnMlpPlan, 1);
  p->graph = graph;
  p->spec = *spec;
  p->device = g_object_ref (device);

  for (guint q = 0; q < spec->n_first; q++)
    if (spec->dir_column[q] < -1) {
      not_mlp (why, "bad direction");
      goto fail;
    }
  if (!match_chain (p, why))
    goto fail;
  for (guint l = 0; l < p->n_layers; l++)
    if (act_code (p->layers[l].act) == NULL) {
      not_mlp (why, "activation %s has no tiled code",
          physnn_op_name (p->layers[l].act));
      goto fail;
    }
  guint local_mem = (guint) MIN (physnn_device_get_local_mem_size (device),
      64 * 1024);
  guint max_wg = (guint) MIN (physnn_device_get_max_work_group_size (device),
      1024);
  /* NVIDIA's tensor cores, opt-in until the kernel has been measured on a
   * GPU (docs/performance.md): PHYSNN_MLP_TC=1 uses them on devices of
   * compute capability 8.0 and later, =force tries them on any device (for
   * debugging), =emulate runs the tensor-core kernel with mma written out
   * in OpenCL C on any device (for the tests). A shape they cannot take or
   * a compiler that refuses the inline PTX falls back to the FP32 kernel. */
  const gchar *tc_env = g_getenv ("PHYSNN_MLP_TC");
  gboolean emulate = g_strcmp0 (tc_env, "emulate") == 0;
  if (emulate || g_strcmp0 (tc_env, "force") == 0 ||
      (g_strcmp0 (tc_env, "1") == 0 && nv_compute_capability (device) >= 80)) {
    g_autofree gchar *tc_why = NULL;
    g_autoptr (GError) tc_error = NULL;
    /* leave room for the runtime's own use of local memory */
    if (generate_tc (p, local_mem - 1024, max_wg, emulate, &tc_why)) {
      dump_source (p, ".tc");
      p->program = _physnn_device_build_source (device,
          emulate ? "mlp-tc-emulated.cl" : "mlp-tc.cl", p->source,
          "-cl-mad-enable", &tc_error);
      p->tc = p->program != NULL;
      p->tc_emulated = p->tc && emulate;
      if (!p->tc) {
        g_debug ("tensor-core MLP kernel not built: %s", tc_error->message);
        g_clear_pointer (&p->source, g_free);
      }
    } else
      g_debug ("no tensor-core MLP kernel: %s", tc_why);
  }
  if (!p->tc) {
    if (!generate (p, local_mem - 1024, max_wg, why))
      goto fail;
    dump_source (p, "");
    p->program = _physnn_device_build_source (device, "mlp.cl", p->source,
        "-cl-mad-enable", error);
    if (p->program == NULL)
      goto fail;
  }
  cl_int st;
  p->kernel = clCreateKernel (p->program, "physnn_mlp", &st);
  if (!_physnn_cl_check (st, "clCreateKernel (mlp)", error))
    goto fail;
  for (guint l = 0; l < p->n_layers; l++) {
    Layer *L = &p->layers[l];
    if (p->tc && l > 0 && l + 1 < p->n_layers) {
      L->frag = make_fragments (L);
      if (!physnn_tensor_upload (L->frag, device, error))
        goto fail;
    } else if (!physnn_tensor_upload (L->wt, device, error))
      goto fail;
    if (!physnn_tensor_upload (L->bias, device, error))
      goto fail;
  }
  return p;

fail:
  _physnn_mlp_plan_free (p);
  return NULL;
}

gboolean
_physnn_mlp_run (PhysnnMlpPlan *p, PhysnnTensor **inputs,
    PhysnnJetValue *outputs, GError **error)
{
  PhysnnDevice *dev = p->device;
  PhysnnTensor *x = inputs[0];
  g_autoptr (PhysnnTensor) xf = physnn_tensor_get_dtype (x) ==
      PHYSNN_DTYPE_FLOAT32 ? g_object_ref (x) : physnn_tensor_convert (x,
      PHYSNN_DTYPE_FLOAT32);
  gsize n = physnn_tensor_get_dim (xf, 0);
  guint C = p->spec.n_comp, mout = p->layers[p->n_layers - 1].out;
  gsize off;
  gboolean ok = FALSE;

  if (physnn_tensor_get_rank (xf) != 2 ||
      physnn_tensor_get_dim (xf, 1) != p->input_width || n == 0 ||
      n > G_MAXUINT32 / 2) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "MLP kernel: input is not [points, %u]", p->input_width);
    return FALSE;
  }
  cl_mem xm = _physnn_tensor_get_cl_mem (xf, dev, PHYSNN_ACCESS_READ, &off,
      error);
  if (xm == NULL)
    return FALSE;
  outputs[0].n_comp = C;
  gsize shape[2] = { n, mout };
  cl_mem om[PHYSNN_MAX_COMPONENTS];
  for (guint c = 0; c < C; c++) {
    outputs[0].comp[c] = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
    om[c] = _physnn_tensor_get_cl_mem (outputs[0].comp[c], dev,
        PHYSNN_ACCESS_WRITE, &off, error);
    if (om[c] == NULL)
      return FALSE;
  }
  _physnn_device_lock (dev);
  guint arg = 0;
  guint32 n32 = (guint32) n;
  clSetKernelArg (p->kernel, arg++, sizeof n32, &n32);
  clSetKernelArg (p->kernel, arg++, sizeof xm, &xm);
  for (guint l = 0; l < p->n_layers; l++) {
    const Layer *L = &p->layers[l];
    cl_mem w = _physnn_tensor_get_cl_mem (L->frag ? L->frag : L->wt, dev,
        PHYSNN_ACCESS_READ, &off, error);
    cl_mem b = _physnn_tensor_get_cl_mem (p->layers[l].bias, dev,
        PHYSNN_ACCESS_READ, &off, error);
    if (!w || !b)
      goto unlock;
    clSetKernelArg (p->kernel, arg++, sizeof w, &w);
    clSetKernelArg (p->kernel, arg++, sizeof b, &b);
  }
  for (guint c = 0; c < C; c++)
    clSetKernelArg (p->kernel, arg++, sizeof om[c], &om[c]);
  gsize groups = (n + p->p - 1) / p->p;
  gsize global = groups * p->threads, local = p->threads;
  ok = _physnn_device_enqueue (dev, p->kernel, 1, &global, &local, error);
unlock:
  _physnn_device_unlock (dev);
  return ok;
}
