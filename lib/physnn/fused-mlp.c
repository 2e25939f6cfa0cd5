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
} Layer;

struct _PhysnnMlpPlan {
  PhysnnGraph *graph;
  PhysnnJetSpec spec;
  PhysnnDevice *device;
  guint n_layers;
  Layer layers[MAX_LAYERS];
  guint input_width;
  guint rn, rp, p, threads;
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
  guint d = p->input_width, mout = p->layers[L - 1].out;
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

  /* first layer straight from the coordinates: first derivatives are the
   * weight columns of the seeded coordinates, second derivatives zero */
  Layer *l0 = &p->layers[0];
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

  /* output layer: few outputs, one (point, output, component) per thread */
  Layer *lo = &p->layers[L - 1];
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
  p->source = g_string_free (s, FALSE);
  return TRUE;
}

/* ------------------------------------------------------------------------ */

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
  /* leave room for the runtime's own use of local memory */
  if (!generate (p, local_mem - 1024, max_wg, why))
    goto fail;
  if (g_getenv ("PHYSNN_DUMP_FUSED"))
    g_file_set_contents (g_getenv ("PHYSNN_DUMP_FUSED"), p->source, -1, NULL);
  p->program = _physnn_device_build_source (device, "mlp.cl", p->source,
      "-cl-mad-enable", error);
  if (p->program == NULL)
    goto fail;
  cl_int st;
  p->kernel = clCreateKernel (p->program, "physnn_mlp", &st);
  if (!_physnn_cl_check (st, "clCreateKernel (mlp)", error))
    goto fail;
  for (guint l = 0; l < p->n_layers; l++)
    if (!physnn_tensor_upload (p->layers[l].wt, device, error) ||
        !physnn_tensor_upload (p->layers[l].bias, device, error))
      goto fail;
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
    cl_mem w = _physnn_tensor_get_cl_mem (p->layers[l].wt, dev,
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
