/* physnn — PhysnnSnn: a spiking network built from a NIR graph, run in
 * discrete time on the reference C path or OpenCL.
 *
 * Graph. Subgraphs are flattened (their Input and Output nodes become
 * identities); a node's input is the sum of its incoming edges. Edges that
 * close a cycle (found by depth-first search from the Input) carry the
 * source's value of the previous step, so recurrent graphs run; a graph
 * without cycles runs node by node over a whole window of steps, which is
 * what makes batched kernels possible.
 *
 * Time. NIR is continuous-time; every node's input is held constant over a
 * step of `dt` seconds. With exact integration (the default) the linear
 * dynamics are solved exactly over the step; forward Euler is the option.
 * Per neuron, the step is an affine map with coefficients computed once in
 * double precision:
 *
 *   LI, LIF   τ v̇ = (v_leak − v) + R I
 *             exact: v ← α v + (1 − α) R I + (1 − α) v_leak, α = e^(−dt/τ)
 *             Euler: v ← (1 − dt/τ) v + (dt/τ) R I + (dt/τ) v_leak
 *   I, IF     v̇ = R I:  v ← v + dt R I (exact either way)
 *   CubaLI(F) τ_s İ = −I + w_in x;  τ_m v̇ = (v_leak − v) + R I
 *             exact (x held, I exponential within the step):
 *               I ← a I + (1 − a) w_in x,      a = e^(−dt/τ_s)
 *               v ← b v + R c I + R w_in (1 − b − c) x + (1 − b) v_leak,
 *               b = e^(−dt/τ_m), c = τ_s (a − b)/(τ_s − τ_m)
 *               (c = (dt/τ) e^(−dt/τ) when τ_s = τ_m)
 *             Euler: I ← (1 − dt/τ_s) I + (dt/τ_s) w_in x;
 *               v ← (1 − dt/τ_m) v + (dt/τ_m)(R I_old + v_leak)
 *             semi-implicit: the same with I_new in v's update (snnTorch)
 *   firing    after the update, a spike where v > v_threshold, and then
 *             v ← v_reset (the same step; NIR's semantics)
 *   Threshold spike where x > threshold; Delay y[t] = x[t − round(d/dt)];
 *   Affine, Linear, Scale, Conv1d/2d, SumPool2d, AvgPool2d (÷ kernel
 *   area), Flatten: as NIR defines them, per step.
 *
 * Initial state: v = v_leak for leaky neurons, 0 for I and IF; I_syn = 0.
 *
 * Synaptic accumulation. An Affine/Linear whose input is binary (spikes of
 * a firing node or a spiking Input) can run event-driven: the active inputs
 * of each step are listed, and only their weight rows are added. Otherwise
 * it runs dense. Both sum each output over inputs in increasing order, so
 * they give identical bits (x·w is w or 0 exactly); the path is chosen per
 * layer from the input activity measured in the previous call
 * (`event-threshold`). Weights are stored transposed, [in][out], so that a
 * work-item per output reads consecutive addresses on a GPU.
 *
 * Determinism. Every per-element formula uses fma where it multiplies and
 * adds, in the same order on both paths, and OpenCL contraction is off:
 * the C path and OpenCL give identical spikes and potentials.
 *
 * Plasticity (see docs/snn.md for the equations and ranges):
 * synaptic scaling and intrinsic plasticity at `homeostasis-interval`
 * boundaries from spike counts (an EMA rate per neuron), sleep
 * consolidation at `sleep-interval` boundaries, and pair-based STDP with
 * traces every step (which makes the network run one step at a time).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize ("O3", "fp-contract=off")
#endif

#include "physnn/snn.h"
#include "physnn/enums.h"
#include "physnn/error.h"
#include "physnn/nir-private.h"
#include "physnn/tensor-private.h"

#include <math.h>
#include <string.h>

#define MAX_WINDOW 4096
#define N_COEF 8

typedef enum {
  OP_IDENTITY,
  OP_AFFINE,
  OP_SCALE,
  OP_CONV,
  OP_POOL,
  OP_THRESHOLD,
  OP_DELAY,
  OP_NEURON,
} OpKind;

typedef enum {
  NEU_I,
  NEU_IF,
  NEU_LI,
  NEU_LIF,
  NEU_CUBALI,
  NEU_CUBALIF,
} NeuronType;

typedef struct {
  gchar *name;                  /* flat name, subgraphs joined with '.' */
  GStrv path;                   /* NIR node names from the root */
  gchar *type;                  /* NIR class */
  OpKind kind;
  gsize n_in, n_out;
  guint out_rank;
  gsize out_shape[PHYSNN_NIR_MAX_RANK];
  GArray *sources;              /* guint */
  GArray *back;                 /* gboolean: previous step's value */
  gboolean binary;              /* output is 0/1 */
  gboolean needs_prev;          /* source of a back edge */

  /* parameters */
  PhysnnTensor *wt;             /* affine [n_in][n_out]; conv as in NIR */
  PhysnnTensor *bias;           /* [n_out] or NULL */
  PhysnnTensor *vec;            /* scale s, threshold θ; delay: int steps */
  gint32 geo[16];               /* conv/pool geometry, see conv_geometry */
  gboolean avg;
  gfloat inv_area;
  gdouble macs;                 /* dense multiply-adds per step (conv) */

  /* neurons */
  NeuronType ntype;
  gboolean fires, cuba;
  PhysnnTensor *coef;           /* [N_COEF][n], coefficient-major */
  PhysnnTensor *theta;          /* [n] */
  gdouble *theta0;
  PhysnnTensor *vreset;         /* [n] */
  gdouble *v_init;
  PhysnnTensor *v, *isyn;
  PhysnnTensor *counts;         /* uint32 [n], spikes since reset */
  guint32 *counts_seen;         /* host copy at the last window end */
  guint32 *counts_mark;         /* at the last homeostasis boundary */
  gdouble *rate;                /* EMA rate, Hz */
  guint64 window_spikes;

  /* delay */
  PhysnnTensor *ring;
  guint32 ring_len, head;

  /* buffers */
  PhysnnTensor *out;            /* [W][n_out] */
  PhysnnTensor *sum;            /* [W][n_in] when several sources */
  PhysnnTensor *prev;           /* [n_out] last step, for back edges */
  PhysnnTensor *vrec;           /* [W][n] membrane record */
  PhysnnTensor *idx, *cnt;      /* compaction of the input */
  gsize cap;                    /* steps the buffers hold */
  gdouble activity;             /* measured input activity, -1 unknown */
  gboolean used_event;

  /* plasticity (affine into a firing neuron) */
  gint post;                    /* the neuron op fed, or -1 */
  gboolean stdp_ok;             /* binary input: STDP applies */
  PhysnnTensor *xtrace, *ytrace;
  PhysnnTensor *mask;           /* uint8 [n_in][n_out], 1 = pruned */
} Op;

struct _PhysnnSnn {
  GObject parent;

  PhysnnNirGraph *graph;
  GPtrArray *ops;               /* Op, in evaluation order */
  guint input_op, output_op;
  gint membrane_op;             /* neuron op feeding the Output, or -1 */
  gboolean cyclic;
  gsize n_neurons;

  /* properties */
  gdouble dt;
  PhysnnSnnIntegration integration;
  gdouble event_threshold;
  gboolean scaling;
  gdouble scaling_alpha, target_rate, rate_tau, interval, scaling_max;
  gboolean intrinsic;
  gdouble ip_eta, ip_min, ip_max;
  gboolean sleep;
  gdouble sleep_interval, sleep_downscale, prune_threshold;
  gboolean stdp;
  gdouble a_plus, a_minus, tau_plus, tau_minus, w_min, w_max;

  /* run state */
  gboolean coef_dirty;
  gdouble coef_dt;
  PhysnnSnnIntegration coef_integration;
  guint64 step;
  guint64 next_homeo, next_sleep;
  guint64 counters[PHYSNN_SNN_N_COUNTERS];
  guint64 totals[PHYSNN_SNN_N_COUNTERS];
};

enum {
  PROP_0,
  PROP_DT,
  PROP_INTEGRATION,
  PROP_EVENT_THRESHOLD,
  PROP_SCALING,
  PROP_SCALING_ALPHA,
  PROP_TARGET_RATE,
  PROP_RATE_TAU,
  PROP_HOMEOSTASIS_INTERVAL,
  PROP_SCALING_MAX_FACTOR,
  PROP_INTRINSIC,
  PROP_IP_ETA,
  PROP_IP_MIN_FACTOR,
  PROP_IP_MAX_FACTOR,
  PROP_SLEEP,
  PROP_SLEEP_INTERVAL,
  PROP_SLEEP_DOWNSCALE,
  PROP_PRUNE_THRESHOLD,
  PROP_STDP,
  PROP_STDP_A_PLUS,
  PROP_STDP_A_MINUS,
  PROP_STDP_TAU_PLUS,
  PROP_STDP_TAU_MINUS,
  PROP_STDP_W_MIN,
  PROP_STDP_W_MAX,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

G_DEFINE_FINAL_TYPE (PhysnnSnn, physnn_snn, G_TYPE_OBJECT);

/* ------------------------------------------------------------------------ */
/* Ops */

static void
op_free (gpointer p)
{
  Op *op = p;
  g_free (op->name);
  g_strfreev (op->path);
  g_free (op->type);
  g_array_unref (op->sources);
  g_array_unref (op->back);
  PhysnnTensor **ts[] = { &op->wt, &op->bias, &op->vec, &op->coef,
    &op->theta, &op->vreset, &op->v, &op->isyn, &op->counts, &op->ring,
    &op->out, &op->sum, &op->prev, &op->vrec, &op->idx, &op->cnt,
    &op->xtrace, &op->ytrace, &op->mask
  };
  for (guint i = 0; i < G_N_ELEMENTS (ts); i++)
    g_clear_object (ts[i]);
  g_free (op->theta0);
  g_free (op->v_init);
  g_free (op->counts_seen);
  g_free (op->counts_mark);
  g_free (op->rate);
  g_free (op);
}

static Op *
op_new (const gchar *name, GStrv path, const gchar *type, OpKind kind)
{
  Op *op = g_new0 (Op, 1);
  op->name = g_strdup (name);
  op->path = g_strdupv (path);
  op->type = g_strdup (type);
  op->kind = kind;
  op->sources = g_array_new (FALSE, FALSE, sizeof (guint));
  op->back = g_array_new (FALSE, FALSE, sizeof (gboolean));
  op->post = -1;
  op->activity = -1;
  return op;
}

#define OP(self, i) ((Op *) g_ptr_array_index ((self)->ops, (i)))

static PhysnnTensor *
vector_f32 (gsize n, gdouble fill)
{
  gsize shape[1] = { n };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, shape);
  physnn_tensor_fill (t, fill);
  return t;
}

static PhysnnTensor *
vector_u32 (gsize n)
{
  gsize shape[1] = { MAX (n, 1) };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_UINT32, 1, shape);
  physnn_tensor_fill (t, 0);
  return t;
}

/* A NIR parameter as float64 values broadcast to n (scalars repeat). */
static gdouble *
param_values (PhysnnNirNode *node, const gchar *name, gsize n,
    gdouble fallback)
{
  gdouble *v = g_new (gdouble, MAX (n, 1));
  PhysnnNirValue *p = _physnn_nir_node_find (node, name);
  gsize m = p && p->tensor ? physnn_tensor_get_n_elements (p->tensor) : 0;
  for (gsize i = 0; i < n; i++)
    v[i] = m == 0 ? fallback : physnn_tensor_get_value (p->tensor,
        m == 1 ? 0 : MIN (i, m - 1));
  return v;
}

static gint64
int_param (PhysnnNirNode *node, const gchar *name, guint i, gint64 fallback)
{
  PhysnnNirValue *p = _physnn_nir_node_find (node, name);
  if (p == NULL || p->tensor == NULL)
    return fallback;
  gsize m = physnn_tensor_get_n_elements (p->tensor);
  if (m == 0)
    return fallback;
  return (gint64) physnn_tensor_get_value (p->tensor, m == 1 ? 0 :
      MIN (i, m - 1));
}

/* geo: cin, cout, groups, ih, iw, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw */
enum {
  G_CIN, G_COUT, G_GROUPS, G_IH, G_IW, G_OH, G_OW, G_KH, G_KW, G_SH, G_SW,
  G_PH, G_PW, G_DH, G_DW
};

static gboolean
build_op (PhysnnSnn *self, Op *op, PhysnnNirNode *node, GError **error)
{
  const gchar *t = node->type;
  op->n_in = _physnn_nir_shape_count (node->in_rank, node->in_shape);
  op->n_out = _physnn_nir_shape_count (node->out_rank, node->out_shape);
  op->out_rank = node->out_rank;
  memcpy (op->out_shape, node->out_shape, sizeof op->out_shape);

  if (strcmp (t, "Affine") == 0 || strcmp (t, "Linear") == 0) {
    PhysnnTensor *w = _physnn_nir_node_find (node, "weight")->tensor;
    gsize shape[2] = { op->n_in, op->n_out };
    op->kind = OP_AFFINE;
    op->wt = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
    gfloat *p = physnn_tensor_map (op->wt, PHYSNN_MAP_WRITE, NULL);
    for (gsize j = 0; j < op->n_out; j++)
      for (gsize i = 0; i < op->n_in; i++)
        p[i * op->n_out + j] = (gfloat) physnn_tensor_get_value (w,
            j * op->n_in + i);
    physnn_tensor_unmap (op->wt);
    PhysnnNirValue *b = _physnn_nir_node_find (node, "bias");
    if (b && b->tensor) {
      gsize m = physnn_tensor_get_n_elements (b->tensor);
      if (m != op->n_out && m != 1) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
            "node \"%s\": bias has %" G_GSIZE_FORMAT " values for %"
            G_GSIZE_FORMAT " outputs", op->name, m, op->n_out);
        return FALSE;
      }
      g_autofree gdouble *bv = param_values (node, "bias", op->n_out, 0);
      op->bias = vector_f32 (op->n_out, 0);
      gfloat *q = physnn_tensor_map (op->bias, PHYSNN_MAP_WRITE, NULL);
      for (gsize j = 0; j < op->n_out; j++)
        q[j] = (gfloat) bv[j];
      physnn_tensor_unmap (op->bias);
    }
    op->macs = (gdouble) op->n_in * op->n_out;
  } else if (strcmp (t, "Scale") == 0 || strcmp (t, "Threshold") == 0) {
    gboolean scale = strcmp (t, "Scale") == 0;
    g_autofree gdouble *v = param_values (node, scale ? "scale" :
        "threshold", op->n_out, 0);
    op->kind = scale ? OP_SCALE : OP_THRESHOLD;
    op->vec = vector_f32 (op->n_out, 0);
    gfloat *q = physnn_tensor_map (op->vec, PHYSNN_MAP_WRITE, NULL);
    for (gsize j = 0; j < op->n_out; j++)
      q[j] = (gfloat) v[j];
    physnn_tensor_unmap (op->vec);
    if (!scale) {
      op->binary = TRUE;
      op->counts = vector_u32 (op->n_out);
      op->counts_seen = g_new0 (guint32, MAX (op->n_out, 1));
    }
  } else if (strcmp (t, "Delay") == 0) {
    op->kind = OP_DELAY;        /* steps set in prepare_coefficients */
  } else if (g_str_has_prefix (t, "Conv") || g_str_has_suffix (t, "Pool2d")) {
    gboolean conv = g_str_has_prefix (t, "Conv");
    gboolean one_d = strcmp (t, "Conv1d") == 0;
    gint32 *g = op->geo;
    op->kind = conv ? OP_CONV : OP_POOL;
    g[G_CIN] = (gint32) node->in_shape[0];
    g[G_COUT] = (gint32) node->out_shape[0];
    g[G_IH] = one_d ? 1 : (gint32) node->in_shape[1];
    g[G_IW] = (gint32) node->in_shape[one_d ? 1 : 2];
    g[G_OH] = one_d ? 1 : (gint32) node->out_shape[1];
    g[G_OW] = (gint32) node->out_shape[one_d ? 1 : 2];
    const gchar *pad_s = NULL;
    PhysnnNirValue *pv = _physnn_nir_node_find (node, "padding");
    if (pv)
      pad_s = pv->string;
    if (conv) {
      PhysnnTensor *w = _physnn_nir_node_find (node, "weight")->tensor;
      g[G_GROUPS] = (gint32) int_param (node, "groups", 0, 1);
      g[G_KH] = one_d ? 1 : (gint32) physnn_tensor_get_dim (w, 2);
      g[G_KW] = (gint32) physnn_tensor_get_dim (w, one_d ? 2 : 3);
      g[G_DH] = one_d ? 1 : (gint32) int_param (node, "dilation", 0, 1);
      g[G_DW] = (gint32) int_param (node, "dilation", one_d ? 0 : 1, 1);
      op->wt = physnn_tensor_convert (w, PHYSNN_DTYPE_FLOAT32);
      PhysnnNirValue *b = _physnn_nir_node_find (node, "bias");
      g_autofree gdouble *bv = param_values (node, "bias", g[G_COUT], 0);
      if (b && b->tensor && physnn_tensor_get_n_elements (b->tensor) !=
          (gsize) g[G_COUT] && physnn_tensor_get_n_elements (b->tensor) != 1) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
            "node \"%s\": bias has %" G_GSIZE_FORMAT " values for %d output "
            "channels", op->name, physnn_tensor_get_n_elements (b->tensor),
            g[G_COUT]);
        return FALSE;
      }
      op->bias = vector_f32 (g[G_COUT], 0);
      gfloat *q = physnn_tensor_map (op->bias, PHYSNN_MAP_WRITE, NULL);
      for (gint j = 0; j < g[G_COUT]; j++)
        q[j] = (gfloat) bv[j];
      physnn_tensor_unmap (op->bias);
      op->macs = (gdouble) g[G_COUT] * g[G_OH] * g[G_OW] *
          (g[G_CIN] / MAX (g[G_GROUPS], 1)) * g[G_KH] * g[G_KW];
    } else {
      g[G_GROUPS] = g[G_CIN];
      g[G_KH] = (gint32) int_param (node, "kernel_size", 0, 1);
      g[G_KW] = (gint32) int_param (node, "kernel_size", 1, 1);
      g[G_DH] = g[G_DW] = 1;
      op->avg = strcmp (t, "AvgPool2d") == 0;
      op->inv_area = (gfloat) (1.0 / ((gdouble) g[G_KH] * g[G_KW]));
    }
    g[G_SH] = one_d ? 1 : (gint32) int_param (node, "stride", 0, 1);
    g[G_SW] = (gint32) int_param (node, "stride", one_d ? 0 : 1, 1);
    if (pad_s && strcmp (pad_s, "same") == 0) {
      g[G_PH] = g[G_DH] * (g[G_KH] - 1) / 2;
      g[G_PW] = g[G_DW] * (g[G_KW] - 1) / 2;
    } else if (pad_s) {
      g[G_PH] = g[G_PW] = 0;
    } else {
      g[G_PH] = one_d ? 0 : (gint32) int_param (node, "padding", 0, 0);
      g[G_PW] = (gint32) int_param (node, "padding", one_d ? 0 : 1, 0);
    }
  } else if (strcmp (t, "I") == 0 || strcmp (t, "IF") == 0 ||
      strcmp (t, "LI") == 0 || strcmp (t, "LIF") == 0 ||
      strcmp (t, "CubaLI") == 0 || strcmp (t, "CubaLIF") == 0) {
    gsize n = op->n_out;
    op->kind = OP_NEURON;
    op->ntype = strcmp (t, "I") == 0 ? NEU_I : strcmp (t, "IF") == 0 ?
        NEU_IF : strcmp (t, "LI") == 0 ? NEU_LI : strcmp (t, "LIF") == 0 ?
        NEU_LIF : strcmp (t, "CubaLI") == 0 ? NEU_CUBALI : NEU_CUBALIF;
    op->fires = op->ntype == NEU_IF || op->ntype == NEU_LIF ||
        op->ntype == NEU_CUBALIF;
    op->cuba = op->ntype == NEU_CUBALI || op->ntype == NEU_CUBALIF;
    op->binary = op->fires;
    gsize cshape[2] = { N_COEF, MAX (n, 1) };
    op->coef = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, cshape);
    g_autofree gdouble *th = param_values (node, "v_threshold", n, 0);
    g_autofree gdouble *vr = param_values (node, "v_reset", n, 0);
    g_autofree gdouble *vl = param_values (node, "v_leak", n, 0);
    op->theta = vector_f32 (n, 0);
    op->vreset = vector_f32 (n, 0);
    op->theta0 = g_new (gdouble, MAX (n, 1));
    op->v_init = g_new (gdouble, MAX (n, 1));
    gfloat *pt = physnn_tensor_map (op->theta, PHYSNN_MAP_WRITE, NULL);
    for (gsize j = 0; j < n; j++) {
      op->theta0[j] = th[j];
      pt[j] = (gfloat) th[j];
      op->v_init[j] = (op->ntype == NEU_I || op->ntype == NEU_IF) ? 0 : vl[j];
    }
    physnn_tensor_unmap (op->theta);
    gfloat *pr = physnn_tensor_map (op->vreset, PHYSNN_MAP_WRITE, NULL);
    for (gsize j = 0; j < n; j++)
      pr[j] = (gfloat) vr[j];
    physnn_tensor_unmap (op->vreset);
    op->v = vector_f32 (n, 0);
    op->isyn = vector_f32 (n, 0);
    op->counts = vector_u32 (n);
    op->counts_seen = g_new0 (guint32, MAX (n, 1));
    op->counts_mark = g_new0 (guint32, MAX (n, 1));
    op->rate = g_new0 (gdouble, MAX (n, 1));
    self->n_neurons += n;
  } else {
    op->kind = OP_IDENTITY;     /* Input, Output, Flatten */
  }
  return TRUE;
}

/* Neuron coefficients and delay steps for the current dt and method. */
static gboolean
prepare_coefficients (PhysnnSnn *self, GError **error)
{
  gdouble dt = self->dt;
  gboolean euler = self->integration != PHYSNN_SNN_INTEGRATION_EXACT;
  gboolean semi = self->integration == PHYSNN_SNN_INTEGRATION_SEMI_IMPLICIT;

  for (guint k = 0; k < self->ops->len; k++) {
    Op *op = OP (self, k);
    PhysnnNirNode *node = NULL;
    if (op->kind != OP_NEURON && op->kind != OP_DELAY)
      continue;
    /* find the NIR node again (parameters live there) */
    PhysnnNirGraph *g = self->graph;
    for (guint d = 0; op->path[d]; d++) {
      gint i = physnn_nir_graph_find_node (g, op->path[d]);
      node = _physnn_nir_graph_node (g, (guint) i);
      if (op->path[d + 1])
        g = node->sub;
    }
    gsize n = op->n_out;
    if (op->kind == OP_DELAY) {
      g_autofree gdouble *d = param_values (node, "delay", n, 0);
      gsize shape[1] = { MAX (n, 1) };
      guint32 longest = 0;
      g_clear_object (&op->vec);
      op->vec = physnn_tensor_new (PHYSNN_DTYPE_INT32, 1, shape);
      gint32 *p = physnn_tensor_map (op->vec, PHYSNN_MAP_WRITE, NULL);
      for (gsize j = 0; j < n; j++) {
        gdouble s = nearbyint (d[j] / dt);
        if (!(s >= 0) || s > 65536) {
          physnn_tensor_unmap (op->vec);
          g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
              "node \"%s\": delay %g s is %g steps of dt = %g s; 0 to 65536 "
              "steps are supported", op->name, d[j], s, dt);
          return FALSE;
        }
        p[j] = (gint32) s;
        longest = MAX (longest, (guint32) s);
      }
      physnn_tensor_unmap (op->vec);
      if (op->ring == NULL || op->ring_len != longest + 1) {
        gsize rshape[2] = { longest + 1, MAX (n, 1) };
        g_clear_object (&op->ring);
        op->ring = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, rshape);
        physnn_tensor_fill (op->ring, 0);
        op->ring_len = longest + 1;
        op->head = 0;
      }
      continue;
    }

    g_autofree gdouble *tau = param_values (node, op->cuba ? "tau_mem" :
        "tau", n, 1);
    g_autofree gdouble *tau_s = param_values (node, "tau_syn", n, 1);
    g_autofree gdouble *r = param_values (node, "r", n, 1);
    g_autofree gdouble *vl = param_values (node, "v_leak", n, 0);
    g_autofree gdouble *w_in = param_values (node, "w_in", n, 1);
    gfloat *c = physnn_tensor_map (op->coef, PHYSNN_MAP_WRITE, NULL);
    for (gsize j = 0; j < n; j++) {
      gdouble a = 1, b = dt * r[j], cc = 0, as = 0, ix = 0, ki = 0, kx = 0;
      gboolean leaky = op->ntype != NEU_I && op->ntype != NEU_IF;
      if (leaky && (!(tau[j] > 0) || (op->cuba && !(tau_s[j] > 0)))) {
        physnn_tensor_unmap (op->coef);
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
            "node \"%s\": time constants must be positive (neuron %"
            G_GSIZE_FORMAT ": %s %g%s)", op->name, j, op->cuba ? "tau_mem" :
            "tau", tau[j], op->cuba ? ", tau_syn given too" : "");
        return FALSE;
      }
      if (leaky && euler && (dt / tau[j] > 2 || (op->cuba && dt / tau_s[j] >
                  2))) {
        physnn_tensor_unmap (op->coef);
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
            "node \"%s\": forward Euler with dt = %g s is unstable for a "
            "time constant of %g s (dt must be at most 2τ); use the exact "
            "integration or a smaller dt", op->name, dt, op->cuba ?
            MIN (tau[j], tau_s[j]) : tau[j]);
        return FALSE;
      }
      if (op->cuba) {
        gdouble tm = tau[j], ts = tau_s[j];
        if (euler) {
          as = 1 - dt / ts;
          ix = dt / ts * w_in[j];
          a = 1 - dt / tm;
          ki = dt / tm * r[j];
          kx = 0;
          cc = dt / tm * vl[j];
          if (semi) {
            /* v sees I_new = as·I + ix·x */
            kx = ki * ix;
            ki = ki * as;
          }
        } else {
          gdouble ea = exp (-dt / ts), eb = exp (-dt / tm), cs;
          if (fabs (ts - tm) > 1e-9 * tm)
            cs = ts * (ea - eb) / (ts - tm);
          else
            cs = dt / tm * eb;
          as = ea;
          ix = -expm1 (-dt / ts) * w_in[j];
          a = eb;
          ki = r[j] * cs;
          kx = r[j] * w_in[j] * (-expm1 (-dt / tm) - cs);
          cc = -expm1 (-dt / tm) * vl[j];
        }
        b = 0;
      } else if (leaky) {
        if (euler) {
          a = 1 - dt / tau[j];
          b = dt / tau[j] * r[j];
          cc = dt / tau[j] * vl[j];
        } else {
          gdouble om = -expm1 (-dt / tau[j]);
          a = exp (-dt / tau[j]);
          b = om * r[j];
          cc = om * vl[j];
        }
      }
      gdouble cv[N_COEF] = { a, b, cc, as, ix, ki, kx, 0 };
      for (guint q = 0; q < N_COEF; q++)
        c[q * MAX (n, 1) + j] = (gfloat) cv[q];
    }
    physnn_tensor_unmap (op->coef);
  }
  self->coef_dirty = FALSE;
  self->coef_dt = self->dt;
  self->coef_integration = self->integration;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Building from a graph */

typedef struct {
  guint in_op, out_op;
} Ends;

static gboolean
flatten (PhysnnSnn *self, PhysnnNirGraph *g, const gchar *prefix,
    GPtrArray *path, gboolean top, GHashTable *ends, GError **error)
{
  g_autoptr (GHashTable) local = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree Ends *e = g_new (Ends, MAX (g->nodes->len, 1));

  for (guint i = 0; i < g->nodes->len; i++) {
    PhysnnNirNode *node = g_ptr_array_index (g->nodes, i);
    g_autofree gchar *flat = g_strconcat (prefix, node->name, NULL);
    g_ptr_array_add (path, node->name);
    if (node->sub) {
      g_autofree gchar *inner = g_strconcat (flat, ".", NULL);
      g_autoptr (GHashTable) sub_ends = g_hash_table_new_full (g_str_hash,
          g_str_equal, NULL, g_free);
      if (!flatten (self, node->sub, inner, path, FALSE, sub_ends, error))
        return FALSE;
      Ends *se = g_hash_table_lookup (sub_ends, "");
      e[i] = *se;
    } else {
      g_ptr_array_add (path, NULL);
      Op *op = op_new (flat, (GStrv) path->pdata, node->type, OP_IDENTITY);
      g_ptr_array_remove_index (path, path->len - 1);
      g_ptr_array_add (self->ops, op);
      if (!build_op (self, op, node, error))
        return FALSE;
      e[i].in_op = e[i].out_op = self->ops->len - 1;
      if (strcmp (node->type, "Input") == 0) {
        Ends *io = g_hash_table_lookup (ends, "");
        if (io == NULL) {
          io = g_new0 (Ends, 1);
          io->in_op = io->out_op = G_MAXUINT;
          g_hash_table_insert (ends, (gpointer) "", io);
        }
        if (io->in_op != G_MAXUINT) {
          g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
              "%s: %s graph has several Input nodes (\"%s\" is the second); "
              "one is supported", self->graph->path ? self->graph->path : "",
              top ? "the" : "a sub", flat);
          return FALSE;
        }
        io->in_op = e[i].in_op;
      } else if (strcmp (node->type, "Output") == 0) {
        Ends *io = g_hash_table_lookup (ends, "");
        if (io == NULL) {
          io = g_new0 (Ends, 1);
          io->in_op = io->out_op = G_MAXUINT;
          g_hash_table_insert (ends, (gpointer) "", io);
        }
        if (io->out_op != G_MAXUINT) {
          g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
              "%s: %s graph has several Output nodes (\"%s\" is the second); "
              "one is supported", self->graph->path ? self->graph->path : "",
              top ? "the" : "a sub", flat);
          return FALSE;
        }
        io->out_op = e[i].out_op;
      }
    }
    g_ptr_array_remove_index (path, path->len - 1);
    g_hash_table_insert (local, node->name, &e[i]);
  }
  for (guint k = 0; k < g->edges->len / 2; k++) {
    Ends *a = g_hash_table_lookup (local, g_ptr_array_index (g->edges, 2 * k));
    Ends *b = g_hash_table_lookup (local, g_ptr_array_index (g->edges,
            2 * k + 1));
    g_assert (a && b);          /* checked by physnn_nir_graph_check */
    Op *dst = OP (self, b->in_op);
    gboolean f = FALSE;
    g_array_append_val (dst->sources, a->out_op);
    g_array_append_val (dst->back, f);
  }
  Ends *io = g_hash_table_lookup (ends, "");
  if (io == NULL || io->in_op == G_MAXUINT || io->out_op == G_MAXUINT) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "%s: %s%s needs one Input and one Output node",
        self->graph->path ? self->graph->path : "", top ? "the graph" :
        "subgraph ", top ? "" : prefix);
    return FALSE;
  }
  return TRUE;
}

/* Depth-first search from the Input (then from any node not reached);
 * an edge to a node on the stack closes a cycle and reads the previous
 * step. The evaluation order is the reverse post-order. */
static gboolean
order_ops (PhysnnSnn *self, GError **error)
{
  guint n = self->ops->len;
  GPtrArray *outs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      g_array_unref);
  for (guint v = 0; v < n; v++)
    g_ptr_array_add (outs, g_array_new (FALSE, FALSE, sizeof (guint)));
  for (guint v = 0; v < n; v++) {
    Op *op = OP (self, v);
    for (guint s = 0; s < op->sources->len; s++) {
      guint src = g_array_index (op->sources, guint, s);
      g_array_append_val ((GArray *) g_ptr_array_index (outs, src), v);
    }
  }

  /* depth-first search over real arrays */
  g_autofree guint8 *state = g_new0 (guint8, MAX (n, 1));
  GArray *order = g_array_new (FALSE, FALSE, sizeof (guint));
  GArray *stack_v = g_array_new (FALSE, FALSE, sizeof (guint));
  GArray *stack_k = g_array_new (FALSE, FALSE, sizeof (guint));
  for (guint r = 0; r <= n; r++) {
    guint root = r == 0 ? self->input_op : r - 1;
    if (state[root])
      continue;
    guint zero = 0;
    state[root] = 1;
    g_array_append_val (stack_v, root);
    g_array_append_val (stack_k, zero);
    while (stack_v->len) {
      guint v = g_array_index (stack_v, guint, stack_v->len - 1);
      guint *k = &g_array_index (stack_k, guint, stack_k->len - 1);
      GArray *a = g_ptr_array_index (outs, v);
      if (*k < a->len) {
        guint w = g_array_index (a, guint, (*k)++);
        if (state[w] == 1) {
          Op *dst = OP (self, w);
          for (guint s = 0; s < dst->sources->len; s++)
            if (g_array_index (dst->sources, guint, s) == v)
              g_array_index (dst->back, gboolean, s) = TRUE;
          OP (self, v)->needs_prev = TRUE;
          self->cyclic = TRUE;
        } else if (state[w] == 0) {
          state[w] = 1;
          g_array_append_val (stack_v, w);
          g_array_append_val (stack_k, zero);
        }
      } else {
        state[v] = 2;
        g_array_append_val (order, v);
        g_array_set_size (stack_v, stack_v->len - 1);
        g_array_set_size (stack_k, stack_k->len - 1);
      }
    }
  }
  g_array_unref (stack_v);
  g_array_unref (stack_k);
  g_ptr_array_unref (outs);

  /* reverse post-order; remap indices */
  g_autofree guint *pos = g_new (guint, MAX (n, 1));
  GPtrArray *sorted = g_ptr_array_new_with_free_func (op_free);
  for (guint i = 0; i < n; i++) {
    guint v = g_array_index (order, guint, n - 1 - i);
    pos[v] = i;
    g_ptr_array_add (sorted, OP (self, v));
  }
  g_array_unref (order);
  g_ptr_array_set_free_func (self->ops, NULL);
  g_ptr_array_unref (self->ops);
  self->ops = sorted;
  for (guint i = 0; i < n; i++) {
    Op *op = OP (self, i);
    for (guint s = 0; s < op->sources->len; s++)
      g_array_index (op->sources, guint, s) =
          pos[g_array_index (op->sources, guint, s)];
    if (op->post >= 0)
      op->post = (gint) pos[op->post];
  }
  self->input_op = pos[self->input_op];
  self->output_op = pos[self->output_op];
  (void) error;
  return TRUE;
}

/* Binary outputs propagate through identities and delays; plastic
 * projections are Affine/Linear nodes that feed one firing neuron node. */
static void
classify (PhysnnSnn *self)
{
  for (guint i = 0; i < self->ops->len; i++) {
    Op *op = OP (self, i);
    if ((op->kind == OP_IDENTITY || op->kind == OP_DELAY) &&
        op->sources->len == 1 && !g_array_index (op->back, gboolean, 0))
      op->binary = OP (self, g_array_index (op->sources, guint, 0))->binary;
  }
  for (guint i = 0; i < self->ops->len; i++) {
    Op *op = OP (self, i);
    if (op->kind != OP_NEURON || !op->fires)
      continue;
    for (guint s = 0; s < op->sources->len; s++) {
      guint src = g_array_index (op->sources, guint, s);
      Op *a = OP (self, src);
      guint uses = 0;
      for (guint k = 0; k < self->ops->len; k++) {
        Op *o = OP (self, k);
        for (guint q = 0; q < o->sources->len; q++)
          uses += g_array_index (o->sources, guint, q) == src;
      }
      if (a->kind == OP_AFFINE && uses == 1)
        a->post = (gint) i;
    }
  }
  self->membrane_op = -1;
  Op *out = OP (self, self->output_op);
  if (out->sources->len == 1) {
    guint s = g_array_index (out->sources, guint, 0);
    while (OP (self, s)->kind == OP_IDENTITY && OP (self, s)->sources->len == 1)
      s = g_array_index (OP (self, s)->sources, guint, 0);
    if (OP (self, s)->kind == OP_NEURON)
      self->membrane_op = (gint) s;
  }
}

/**
 * physnn_snn_new:
 * @graph: a NIR graph (checked if it was not)
 * @error: return location for a #GError
 *
 * Builds a network from a NIR graph: one Input node, one Output node,
 * any of the NIR node types, nested subgraphs and recurrent edges.
 *
 * Returns: (transfer full) (nullable): the network, or %NULL on error
 */
PhysnnSnn *
physnn_snn_new (PhysnnNirGraph *graph, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (graph), NULL);
  if (!graph->checked && !physnn_nir_graph_check (graph, error))
    return NULL;
  PhysnnSnn *self = g_object_new (PHYSNN_TYPE_SNN, NULL);
  self->graph = g_object_ref (graph);
  g_autoptr (GHashTable) ends = g_hash_table_new_full (g_str_hash,
      g_str_equal, NULL, g_free);
  g_autoptr (GPtrArray) path = g_ptr_array_new ();
  if (!flatten (self, graph, "", path, TRUE, ends, error)) {
    g_object_unref (self);
    return NULL;
  }
  Ends *io = g_hash_table_lookup (ends, "");
  self->input_op = io->in_op;
  self->output_op = io->out_op;
  if (OP (self, self->input_op)->sources->len > 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: the Input node \"%s\" has incoming edges",
        graph->path ? graph->path : "", OP (self, self->input_op)->name);
    g_object_unref (self);
    return NULL;
  }
  if (!order_ops (self, error)) {
    g_object_unref (self);
    return NULL;
  }
  classify (self);
  /* sources of back edges: their previous step starts at zero */
  for (guint i = 0; i < self->ops->len; i++)
    if (OP (self, i)->needs_prev)
      OP (self, i)->prev = vector_f32 (MAX (OP (self, i)->n_out, 1), 0);
  /* the initial state (v = v_leak for leaky neurons) */
  physnn_snn_reset (self);
  return self;
}

/**
 * physnn_snn_new_from_file:
 * @path: a NIR HDF5 file
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the network, or %NULL on error
 */
PhysnnSnn *
physnn_snn_new_from_file (const gchar *path, GError **error)
{
  g_autoptr (PhysnnNirGraph) g = physnn_nir_graph_load (path, error);
  return g ? physnn_snn_new (g, error) : NULL;
}

/* ------------------------------------------------------------------------ */
/* GObject */

static void
physnn_snn_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  PhysnnSnn *self = PHYSNN_SNN (object);
  switch (prop_id) {
    case PROP_DT:
      self->dt = g_value_get_double (value);
      self->coef_dirty = TRUE;
      break;
    case PROP_INTEGRATION:
      self->integration = g_value_get_enum (value);
      self->coef_dirty = TRUE;
      break;
    case PROP_EVENT_THRESHOLD:
      self->event_threshold = g_value_get_double (value);
      break;
#define B(P, f) case P: self->f = g_value_get_boolean (value); break;
#define D(P, f) case P: self->f = g_value_get_double (value); break;
      B (PROP_SCALING, scaling);
      D (PROP_SCALING_ALPHA, scaling_alpha);
      D (PROP_TARGET_RATE, target_rate);
      D (PROP_RATE_TAU, rate_tau);
      D (PROP_HOMEOSTASIS_INTERVAL, interval);
      D (PROP_SCALING_MAX_FACTOR, scaling_max);
      B (PROP_INTRINSIC, intrinsic);
      D (PROP_IP_ETA, ip_eta);
      D (PROP_IP_MIN_FACTOR, ip_min);
      D (PROP_IP_MAX_FACTOR, ip_max);
      B (PROP_SLEEP, sleep);
      D (PROP_SLEEP_INTERVAL, sleep_interval);
      D (PROP_SLEEP_DOWNSCALE, sleep_downscale);
      D (PROP_PRUNE_THRESHOLD, prune_threshold);
      B (PROP_STDP, stdp);
      D (PROP_STDP_A_PLUS, a_plus);
      D (PROP_STDP_A_MINUS, a_minus);
      D (PROP_STDP_TAU_PLUS, tau_plus);
      D (PROP_STDP_TAU_MINUS, tau_minus);
      D (PROP_STDP_W_MIN, w_min);
      D (PROP_STDP_W_MAX, w_max);
#undef B
#undef D
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
physnn_snn_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  PhysnnSnn *self = PHYSNN_SNN (object);
  switch (prop_id) {
    case PROP_DT:
      g_value_set_double (value, self->dt);
      break;
    case PROP_INTEGRATION:
      g_value_set_enum (value, self->integration);
      break;
    case PROP_EVENT_THRESHOLD:
      g_value_set_double (value, self->event_threshold);
      break;
#define B(P, f) case P: g_value_set_boolean (value, self->f); break;
#define D(P, f) case P: g_value_set_double (value, self->f); break;
      B (PROP_SCALING, scaling);
      D (PROP_SCALING_ALPHA, scaling_alpha);
      D (PROP_TARGET_RATE, target_rate);
      D (PROP_RATE_TAU, rate_tau);
      D (PROP_HOMEOSTASIS_INTERVAL, interval);
      D (PROP_SCALING_MAX_FACTOR, scaling_max);
      B (PROP_INTRINSIC, intrinsic);
      D (PROP_IP_ETA, ip_eta);
      D (PROP_IP_MIN_FACTOR, ip_min);
      D (PROP_IP_MAX_FACTOR, ip_max);
      B (PROP_SLEEP, sleep);
      D (PROP_SLEEP_INTERVAL, sleep_interval);
      D (PROP_SLEEP_DOWNSCALE, sleep_downscale);
      D (PROP_PRUNE_THRESHOLD, prune_threshold);
      B (PROP_STDP, stdp);
      D (PROP_STDP_A_PLUS, a_plus);
      D (PROP_STDP_A_MINUS, a_minus);
      D (PROP_STDP_TAU_PLUS, tau_plus);
      D (PROP_STDP_TAU_MINUS, tau_minus);
      D (PROP_STDP_W_MIN, w_min);
      D (PROP_STDP_W_MAX, w_max);
#undef B
#undef D
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
physnn_snn_finalize (GObject *object)
{
  PhysnnSnn *self = PHYSNN_SNN (object);
  g_clear_object (&self->graph);
  if (self->ops)
    g_ptr_array_unref (self->ops);
  G_OBJECT_CLASS (physnn_snn_parent_class)->finalize (object);
}

static void
physnn_snn_class_init (PhysnnSnnClass *klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      G_PARAM_EXPLICIT_NOTIFY;
  const gdouble M = G_MAXDOUBLE;

  oc->set_property = physnn_snn_set_property;
  oc->get_property = physnn_snn_get_property;
  oc->finalize = physnn_snn_finalize;

  /* Ranges are checked by physnn_snn_validate () with messages that say
   * what is wrong; the param specs accept any double so that a bad value
   * reaches it instead of being dropped with a GLib warning. */
  props[PROP_DT] = g_param_spec_double ("dt", "Time step",
      "Simulated seconds per step, positive (default 0.001; snnTorch's NIR "
      "files assume 0.0001, Norse's 0.001)", -M, M, 1e-3, rw);
  props[PROP_INTEGRATION] = g_param_spec_enum ("integration", "Integration",
      "How NIR's continuous dynamics become steps: exact (exponential, the "
      "input held over each step), euler (forward Euler, as Norse computes) "
      "or semi-implicit (Euler with the synaptic current updated first, as "
      "snnTorch computes) (default exact)", PHYSNN_TYPE_SNN_INTEGRATION,
      PHYSNN_SNN_INTEGRATION_EXACT, rw);
  props[PROP_EVENT_THRESHOLD] = g_param_spec_double ("event-threshold",
      "Event threshold", "Synaptic layers whose measured input activity "
      "(fraction of inputs spiking per step) is below this run event-driven, "
      "the others dense; both give identical results, in [0, 1] "
      "(default 0.25)", -M, M, 0.25, rw);
  props[PROP_SCALING] = g_param_spec_boolean ("scaling", "Synaptic scaling",
      "Homeostatic synaptic scaling: at every homeostasis-interval, each "
      "neuron's incoming weights are multiplied by (target-rate/rate)^"
      "scaling-alpha (default false)", FALSE, rw);
  props[PROP_SCALING_ALPHA] = g_param_spec_double ("scaling-alpha",
      "Scaling exponent", "Exponent of synaptic scaling, in (0, 1] "
      "(default 0.5)", -M, M, 0.5, rw);
  props[PROP_TARGET_RATE] = g_param_spec_double ("target-rate",
      "Target rate", "Firing rate homeostasis aims at, in Hz, positive and "
      "at most 1/dt (default 10)", -M, M, 10.0, rw);
  props[PROP_RATE_TAU] = g_param_spec_double ("rate-tau", "Rate time "
      "constant", "Time constant in seconds of the running rate estimate, "
      "positive (default 1)", -M, M, 1.0, rw);
  props[PROP_HOMEOSTASIS_INTERVAL] = g_param_spec_double
      ("homeostasis-interval", "Homeostasis interval", "Seconds between "
      "rate estimates and homeostatic updates, at least dt (default 0.1)",
      -M, M, 0.1, rw);
  props[PROP_SCALING_MAX_FACTOR] = g_param_spec_double ("scaling-max-factor",
      "Scaling limit", "Largest factor one scaling step may apply (and its "
      "inverse the smallest), at least 1 (default 2)", -M, M, 2.0, rw);
  props[PROP_INTRINSIC] = g_param_spec_boolean ("intrinsic", "Intrinsic "
      "plasticity", "Intrinsic plasticity: at every homeostasis-interval, "
      "θ ← θ·(1 + ip-eta·(rate − target-rate)), kept within ip-min-factor "
      "and ip-max-factor times the file's threshold (default false)", FALSE,
      rw);
  props[PROP_IP_ETA] = g_param_spec_double ("ip-eta", "IP rate",
      "Learning rate of intrinsic plasticity per Hz of rate error, "
      "positive, with ip-eta·target-rate at most 1 (default 0.01)", -M, M,
      0.01, rw);
  props[PROP_IP_MIN_FACTOR] = g_param_spec_double ("ip-min-factor",
      "IP lower bound", "Lowest threshold as a fraction of the file's, in "
      "(0, 1] (default 0.25)", -M, M, 0.25, rw);
  props[PROP_IP_MAX_FACTOR] = g_param_spec_double ("ip-max-factor",
      "IP upper bound", "Highest threshold as a multiple of the file's, at "
      "least 1 (default 4)", -M, M, 4.0, rw);
  props[PROP_SLEEP] = g_param_spec_boolean ("sleep", "Sleep consolidation",
      "Sleep consolidation: at every sleep-interval, plastic weights are "
      "multiplied by sleep-downscale and those below prune-threshold in "
      "magnitude are removed for good (default false)", FALSE, rw);
  props[PROP_SLEEP_INTERVAL] = g_param_spec_double ("sleep-interval",
      "Sleep interval", "Seconds between sleep phases, at least dt "
      "(default 10)", -M, M, 10.0, rw);
  props[PROP_SLEEP_DOWNSCALE] = g_param_spec_double ("sleep-downscale",
      "Sleep downscale", "Factor applied to weights in a sleep phase, in "
      "(0, 1] (default 0.9)", -M, M, 0.9, rw);
  props[PROP_PRUNE_THRESHOLD] = g_param_spec_double ("prune-threshold",
      "Prune threshold", "Weights smaller in magnitude after a sleep phase "
      "are pruned, not negative (default 0.001)", -M, M, 1e-3, rw);
  props[PROP_STDP] = g_param_spec_boolean ("stdp", "STDP",
      "Online pair-based STDP with traces and soft bounds on every Affine or "
      "Linear node between spikes and a firing neuron node; the network "
      "then runs one step at a time (default false)", FALSE, rw);
  props[PROP_STDP_A_PLUS] = g_param_spec_double ("stdp-a-plus", "A+",
      "Potentiation per pre-before-post pair at zero delay, times "
      "(w-max − w), in [0, 1] (default 0.01)", -M, M, 0.01, rw);
  props[PROP_STDP_A_MINUS] = g_param_spec_double ("stdp-a-minus", "A−",
      "Depression per post-before-pre pair at zero delay, times (w − w-min), "
      "in [0, 1] (default 0.012)", -M, M, 0.012, rw);
  props[PROP_STDP_TAU_PLUS] = g_param_spec_double ("stdp-tau-plus", "τ+",
      "Decay time of the presynaptic trace in seconds, positive (default "
      "0.02)", -M, M, 0.02, rw);
  props[PROP_STDP_TAU_MINUS] = g_param_spec_double ("stdp-tau-minus", "τ−",
      "Decay time of the postsynaptic trace in seconds, positive (default "
      "0.02)", -M, M, 0.02, rw);
  props[PROP_STDP_W_MIN] = g_param_spec_double ("stdp-w-min", "w min",
      "Soft lower bound of STDP weights (default 0)", -M, M, 0.0, rw);
  props[PROP_STDP_W_MAX] = g_param_spec_double ("stdp-w-max", "w max",
      "Soft upper bound of STDP weights, above stdp-w-min (default 1)", -M,
      M, 1.0, rw);
  g_object_class_install_properties (oc, N_PROPS, props);
}

static void
physnn_snn_init (PhysnnSnn *self)
{
  self->ops = g_ptr_array_new_with_free_func (op_free);
  self->dt = 1e-3;
  self->integration = PHYSNN_SNN_INTEGRATION_EXACT;
  self->event_threshold = 0.25;
  self->scaling_alpha = 0.5;
  self->target_rate = 10.0;
  self->rate_tau = 1.0;
  self->interval = 0.1;
  self->scaling_max = 2.0;
  self->ip_eta = 0.01;
  self->ip_min = 0.25;
  self->ip_max = 4.0;
  self->sleep_interval = 10.0;
  self->sleep_downscale = 0.9;
  self->prune_threshold = 1e-3;
  self->a_plus = 0.01;
  self->a_minus = 0.012;
  self->tau_plus = 0.02;
  self->tau_minus = 0.02;
  self->w_min = 0.0;
  self->w_max = 1.0;
  self->coef_dirty = TRUE;
}

/* ------------------------------------------------------------------------ */
/* Parameters */

/**
 * physnn_snn_validate:
 * @self: a #PhysnnSnn
 * @error: return location for a #GError
 *
 * Checks dt and every homeostasis and STDP parameter that is switched on
 * against its documented range; the message names the property, its value
 * and the range.
 *
 * Returns: %TRUE if the network can run with these settings
 */
gboolean
physnn_snn_validate (PhysnnSnn *self, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), FALSE);
#define CHECK(cond, ...) G_STMT_START { if (!(cond)) { \
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT, \
        __VA_ARGS__); return FALSE; } } G_STMT_END
  CHECK (isfinite (self->dt) && self->dt > 0 && self->dt <= 1,
      "dt = %g s is out of range: it must be positive and at most 1 s",
      self->dt);
  CHECK (self->event_threshold >= 0 && self->event_threshold <= 1,
      "event-threshold = %g is out of range [0, 1]", self->event_threshold);
  if (self->scaling || self->intrinsic) {
    CHECK (isfinite (self->target_rate) && self->target_rate > 0 &&
        self->target_rate <= 1 / self->dt, "target-rate = %g Hz is out of "
        "range: it must be positive and at most 1/dt = %g Hz",
        self->target_rate, 1 / self->dt);
    CHECK (isfinite (self->rate_tau) && self->rate_tau > 0,
        "rate-tau = %g s is out of range: it must be positive",
        self->rate_tau);
    CHECK (isfinite (self->interval) && self->interval >= self->dt &&
        self->interval <= 3600, "homeostasis-interval = %g s is out of range: "
        "it must be at least dt = %g s and at most 3600 s", self->interval,
        self->dt);
  }
  if (self->scaling) {
    CHECK (self->scaling_alpha > 0 && self->scaling_alpha <= 1,
        "scaling-alpha = %g is out of range (0, 1]", self->scaling_alpha);
    CHECK (isfinite (self->scaling_max) && self->scaling_max >= 1,
        "scaling-max-factor = %g is out of range: it must be at least 1",
        self->scaling_max);
  }
  if (self->intrinsic) {
    CHECK (self->ip_eta > 0 && self->ip_eta * self->target_rate <= 1,
        "ip-eta = %g is out of range: it must be positive and ip-eta·"
        "target-rate (%g) at most 1", self->ip_eta,
        self->ip_eta * self->target_rate);
    CHECK (self->ip_min > 0 && self->ip_min <= 1, "ip-min-factor = %g is "
        "out of range (0, 1]", self->ip_min);
    CHECK (isfinite (self->ip_max) && self->ip_max >= 1, "ip-max-factor = %g "
        "is out of range: it must be at least 1", self->ip_max);
  }
  if (self->sleep) {
    CHECK (isfinite (self->sleep_interval) && self->sleep_interval >=
        self->dt, "sleep-interval = %g s is out of range: it must be at "
        "least dt = %g s", self->sleep_interval, self->dt);
    CHECK (self->sleep_downscale > 0 && self->sleep_downscale <= 1,
        "sleep-downscale = %g is out of range (0, 1]", self->sleep_downscale);
    CHECK (isfinite (self->prune_threshold) && self->prune_threshold >= 0,
        "prune-threshold = %g is out of range: it must not be negative",
        self->prune_threshold);
  }
  if (self->stdp) {
    CHECK (self->a_plus >= 0 && self->a_plus <= 1, "stdp-a-plus = %g is out "
        "of range [0, 1]", self->a_plus);
    CHECK (self->a_minus >= 0 && self->a_minus <= 1, "stdp-a-minus = %g is "
        "out of range [0, 1]", self->a_minus);
    CHECK (isfinite (self->tau_plus) && self->tau_plus > 0, "stdp-tau-plus "
        "= %g s is out of range: it must be positive", self->tau_plus);
    CHECK (isfinite (self->tau_minus) && self->tau_minus > 0,
        "stdp-tau-minus = %g s is out of range: it must be positive",
        self->tau_minus);
    CHECK (isfinite (self->w_min) && isfinite (self->w_max) &&
        self->w_max > self->w_min, "stdp-w-max = %g must be above "
        "stdp-w-min = %g", self->w_max, self->w_min);
  }
#undef CHECK
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Accessors */

/**
 * physnn_snn_get_n_inputs:
 * @self: a #PhysnnSnn
 *
 * Returns: values per step the network takes
 */
gsize
physnn_snn_get_n_inputs (PhysnnSnn *self)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), 0);
  return OP (self, self->input_op)->n_out;
}

/**
 * physnn_snn_get_n_outputs:
 * @self: a #PhysnnSnn
 *
 * Returns: values per step the network gives
 */
gsize
physnn_snn_get_n_outputs (PhysnnSnn *self)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), 0);
  return OP (self, self->output_op)->n_out;
}

/**
 * physnn_snn_get_input_shape:
 * @self: a #PhysnnSnn
 * @rank: (out): the rank
 *
 * Returns: (array length=rank): the Input node's shape
 */
const gsize *
physnn_snn_get_input_shape (PhysnnSnn *self, guint *rank)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), NULL);
  *rank = OP (self, self->input_op)->out_rank;
  return OP (self, self->input_op)->out_shape;
}

/**
 * physnn_snn_get_output_shape:
 * @self: a #PhysnnSnn
 * @rank: (out): the rank
 *
 * Returns: (array length=rank): the Output node's shape
 */
const gsize *
physnn_snn_get_output_shape (PhysnnSnn *self, guint *rank)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), NULL);
  *rank = OP (self, self->output_op)->out_rank;
  return OP (self, self->output_op)->out_shape;
}

/**
 * physnn_snn_output_is_spiking:
 * @self: a #PhysnnSnn
 *
 * Returns: whether the Output node receives spikes (0 or 1 per step)
 */
gboolean
physnn_snn_output_is_spiking (PhysnnSnn *self)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), FALSE);
  Op *out = OP (self, self->output_op);
  return out->sources->len == 1 && out->binary;
}

/**
 * physnn_snn_get_n_recorded:
 * @self: a #PhysnnSnn
 * @record: what physnn_snn_run() would record
 *
 * Returns: values per step physnn_snn_run() writes for @record, or 0 when
 *   the network cannot record it (membrane potentials need a neuron node
 *   directly before the Output node)
 */
gsize
physnn_snn_get_n_recorded (PhysnnSnn *self, PhysnnSnnRecord record)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), 0);
  if (record == PHYSNN_SNN_RECORD_MEMBRANE)
    return self->membrane_op >= 0 ? OP (self, self->membrane_op)->n_out : 0;
  return OP (self, self->output_op)->n_out;
}

/**
 * physnn_snn_get_n_neurons:
 * @self: a #PhysnnSnn
 *
 * Returns: neurons in all neuron nodes
 */
gsize
physnn_snn_get_n_neurons (PhysnnSnn *self)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), 0);
  return self->n_neurons;
}

/**
 * physnn_snn_describe:
 * @self: a #PhysnnSnn
 *
 * Returns: (transfer full): one line per node in evaluation order
 */
gchar *
physnn_snn_describe (PhysnnSnn *self)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), NULL);
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < self->ops->len; i++) {
    Op *op = OP (self, i);
    g_autofree gchar *sh = _physnn_nir_shape_string (op->out_rank,
        op->out_shape);
    g_string_append_printf (s, "%s%s (%s) -> %s", i ? "\n" : "", op->name,
        op->type, sh);
    for (guint k = 0; k < op->sources->len; k++)
      g_string_append_printf (s, "%s%s%s", k ? ", " : " from ",
          OP (self, g_array_index (op->sources, guint, k))->name,
          g_array_index (op->back, gboolean, k) ? " (previous step)" : "");
  }
  return g_string_free (s, FALSE);
}

/**
 * physnn_snn_get_counter:
 * @self: a #PhysnnSnn
 * @counter: which count
 *
 * Returns: the count for the last physnn_snn_run() call
 */
guint64
physnn_snn_get_counter (PhysnnSnn *self, PhysnnSnnCounter counter)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), 0);
  g_return_val_if_fail (counter < PHYSNN_SNN_N_COUNTERS, 0);
  return self->counters[counter];
}

/**
 * physnn_snn_get_total:
 * @self: a #PhysnnSnn
 * @counter: which count
 *
 * Returns: the count since the last reset
 */
guint64
physnn_snn_get_total (PhysnnSnn *self, PhysnnSnnCounter counter)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), 0);
  g_return_val_if_fail (counter < PHYSNN_SNN_N_COUNTERS, 0);
  return self->totals[counter];
}

/**
 * physnn_snn_get_step:
 * @self: a #PhysnnSnn
 *
 * Returns: steps run since the last reset
 */
guint64
physnn_snn_get_step (PhysnnSnn *self)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), 0);
  return self->step;
}

/* ------------------------------------------------------------------------ */
/* State */

static void
reset_op (Op *op)
{
  if (op->kind == OP_NEURON) {
    gfloat *v = physnn_tensor_map (op->v, PHYSNN_MAP_WRITE, NULL);
    for (gsize j = 0; j < op->n_out; j++)
      v[j] = (gfloat) op->v_init[j];
    physnn_tensor_unmap (op->v);
    physnn_tensor_fill (op->isyn, 0);
    memset (op->counts_mark, 0, sizeof (guint32) * MAX (op->n_out, 1));
    for (gsize j = 0; j < op->n_out; j++)
      op->rate[j] = 0;
  }
  if (op->counts) {
    physnn_tensor_fill (op->counts, 0);
    memset (op->counts_seen, 0, sizeof (guint32) * MAX (op->n_out, 1));
  }
  if (op->ring) {
    physnn_tensor_fill (op->ring, 0);
    op->head = 0;
  }
  if (op->prev)
    physnn_tensor_fill (op->prev, 0);
  if (op->xtrace)
    physnn_tensor_fill (op->xtrace, 0);
  if (op->ytrace)
    physnn_tensor_fill (op->ytrace, 0);
}

/**
 * physnn_snn_reset:
 * @self: a #PhysnnSnn
 *
 * Starts a new simulation: membrane potentials, synaptic currents, delay
 * lines, STDP traces, rate estimates and counters go back to their initial
 * values. Learned weights and thresholds are kept.
 */
void
physnn_snn_reset (PhysnnSnn *self)
{
  g_return_if_fail (PHYSNN_IS_SNN (self));
  for (guint i = 0; i < self->ops->len; i++)
    reset_op (OP (self, i));
  self->step = 0;
  self->next_homeo = self->next_sleep = 0;
  memset (self->counters, 0, sizeof self->counters);
  memset (self->totals, 0, sizeof self->totals);
  for (guint i = 0; i < self->ops->len; i++) {
    Op *op = OP (self, i);
    if (op->kind == OP_NEURON)
      for (gsize j = 0; j < op->n_out; j++)
        op->rate[j] = self->target_rate;
  }
}

static void
ensure_buffers (PhysnnSnn *self, Op *op, gsize w)
{
  if (op->cap >= w && op->out)
    return;
  gsize shape[2] = { w, MAX (op->n_out, 1) };
  g_clear_object (&op->out);
  op->out = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  if (op->sources->len > 1) {
    gsize s2[2] = { w, MAX (op->n_in, 1) };
    g_clear_object (&op->sum);
    op->sum = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, s2);
  }
  if (op->kind == OP_NEURON) {
    g_clear_object (&op->vrec);
    op->vrec = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  }
  if (op->kind == OP_AFFINE) {
    gsize s2[2] = { w, MAX (op->n_in, 1) }, s1[1] = { w };
    g_clear_object (&op->idx);
    g_clear_object (&op->cnt);
    op->idx = physnn_tensor_new (PHYSNN_DTYPE_UINT32, 2, s2);
    op->cnt = physnn_tensor_new (PHYSNN_DTYPE_UINT32, 1, s1);
  }
  op->cap = w;
}

/* ------------------------------------------------------------------------ */
/* Kernels: the reference C path and OpenCL, operation for operation alike */

typedef struct {
  gsize size;
  gconstpointer ptr;
} Arg;

#define ARG(v) ((Arg) { sizeof (v), &(v) })

static gboolean
launch (PhysnnDevice *dev, const gchar *name, gsize global, const Arg *args,
    guint n_args, GError **error)
{
  if (global == 0)
    return TRUE;
  cl_kernel k = _physnn_device_get_kernel (dev, "snn.cl", NULL, name, error);
  if (k == NULL)
    return FALSE;
  _physnn_device_lock (dev);
  for (guint i = 0; i < n_args; i++)
    clSetKernelArg (k, i, args[i].size, args[i].ptr);
  gboolean ok = _physnn_device_enqueue (dev, k, 1, &global, NULL, error);
  _physnn_device_unlock (dev);
  return ok;
}

static cl_mem
mem (PhysnnTensor *t, PhysnnDevice *dev, PhysnnAccess access, GError **error)
{
  gsize off = 0;
  if (t == NULL)
    return NULL;
  cl_mem m = _physnn_tensor_get_cl_mem (t, dev, access, &off, error);
  g_assert (m == NULL || off == 0);
  return m;
}

#define CL(dev) (physnn_device_get_kind (dev) == PHYSNN_DEVICE_KIND_OPENCL)
#define HOST(t, a) ((t) ? _physnn_tensor_host ((t), (a)) : NULL)
#define RD PHYSNN_ACCESS_READ
#define WR PHYSNN_ACCESS_WRITE
#define RW PHYSNN_ACCESS_READWRITE

/* Hot loops of the C path, built twice (x86-64-v3 with FMA and AVX2, and
 * the baseline) and picked at load time: fmaf is correctly rounded in both
 * (an instruction, or libm), so the bits do not depend on the clone. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    defined(__ELF__)
#define MULTI __attribute__ ((target_clones ("arch=x86-64-v3", "default")))
#else
#define MULTI
#endif

/* The indices of the nonzero values of x[n], in increasing order: a mask
 * per 8 values (one vector compare), then its set bits. */
MULTI static guint32
compact_row (const gfloat *restrict x, guint32 *restrict idx, guint32 n)
{
  guint32 k = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    guint32 m = 0;
    for (guint q = 0; q < 8; q++)
      m |= (guint32) (x[i + q] != 0.0f) << q;
    while (m) {
      idx[k++] = i + (guint32) __builtin_ctz (m);
      m &= m - 1;
    }
  }
  for (; i < n; i++)
    if (x[i] != 0.0f)
      idx[k++] = i;
  return k;
}

/* y += row, n values (an event: a presynaptic spike's weight row) */
MULTI static void
add_row (gfloat *restrict y, const gfloat *restrict row, guint32 n)
{
  for (guint32 j = 0; j < n; j++)
    y[j] = y[j] + row[j];
}

/* y += the rows of m events, in their order: four rows per pass over y,
 * added one after the other (the same roundings as four add_row calls) */
MULTI static void
add_rows (gfloat *restrict y, const gfloat *restrict w, const guint32 *idx,
    guint32 m, guint32 n)
{
  guint32 k = 0;
  for (; k + 4 <= m; k += 4) {
    const gfloat *restrict a = w + (gsize) idx[k] * n;
    const gfloat *restrict b = w + (gsize) idx[k + 1] * n;
    const gfloat *restrict c = w + (gsize) idx[k + 2] * n;
    const gfloat *restrict d = w + (gsize) idx[k + 3] * n;
    for (guint32 j = 0; j < n; j++)
      y[j] = (((y[j] + a[j]) + b[j]) + c[j]) + d[j];
  }
  for (; k < m; k++)
    add_row (y, w + (gsize) idx[k] * n, n);
}

MULTI static void
fma_row (gfloat *restrict y, const gfloat *restrict row, gfloat x, guint32 n)
{
  for (guint32 j = 0; j < n; j++)
    y[j] = fmaf (row[j], x, y[j]);
}

/* One step of n neurons: coefficients c[8][n] (a, b, c, a_syn, i_x, k_i,
 * k_x, unused; see prepare_coefficients), input x,
 * state v and i, output out (spikes, or v for non-firing neurons), spike
 * counts k. Step-major so that the arrays stream. */
MULTI static void
neuron_row (guint32 n, gboolean cuba, gboolean fires,
    const gfloat *restrict c, const gfloat *restrict th,
    const gfloat *restrict vr, const gfloat *restrict x, gfloat *restrict v,
    gfloat *restrict i, gfloat *restrict out, gfloat *restrict vrec,
    guint32 *restrict k)
{
  const gfloat *c0 = c, *c1 = c + n, *c2 = c + 2 * n, *c3 = c + 3 * n,
      *c4 = c + 4 * n, *c5 = c + 5 * n, *c6 = c + 6 * n;
  if (!cuba && fires && vrec == NULL) {
    /* the common case (LIF, IF), in a form the compiler vectorises */
    for (guint32 j = 0; j < n; j++) {
      gfloat vj = fmaf (c0[j], v[j], fmaf (c1[j], x[j], c2[j]));
      guint32 sp = vj > th[j];
      v[j] = sp ? vr[j] : vj;
      k[j] += sp;
      out[j] = sp ? 1.0f : 0.0f;
    }
    return;
  }
  for (guint32 j = 0; j < n; j++) {
    gfloat vj = v[j];
    if (cuba) {
      gfloat i_old = i[j];
      vj = fmaf (c0[j], vj, fmaf (c5[j], i_old, fmaf (c6[j], x[j], c2[j])));
      i[j] = fmaf (c3[j], i_old, c4[j] * x[j]);
    } else {
      vj = fmaf (c0[j], vj, fmaf (c1[j], x[j], c2[j]));
    }
    if (fires) {
      gboolean sp = vj > th[j];
      vj = sp ? vr[j] : vj;
      k[j] += sp;
      out[j] = sp ? 1.0f : 0.0f;
    } else {
      out[j] = vj;
    }
    if (vrec)
      vrec[j] = vj;
    v[j] = vj;
  }
}

/* y = a + b over n values */
static gboolean
k_add (PhysnnDevice *dev, guint32 n, PhysnnTensor *a, PhysnnTensor *b,
    PhysnnTensor *y, gboolean init, GError **error)
{
  if (CL (dev)) {
    cl_mem ma = init ? NULL : mem (a, dev, RD, error);
    cl_mem mb = mem (b, dev, RD, error), my = mem (y, dev, init ? WR : RW,
        error);
    guint32 in = init;
    if (!mb || !my)
      return FALSE;
    Arg args[] = { ARG (n), ARG (in), ARG (ma), ARG (mb), ARG (my) };
    return launch (dev, "physnn_snn_add", n, args, G_N_ELEMENTS (args),
        error);
  }
  const gfloat *pb = HOST (b, RD);
  gfloat *py = HOST (y, init ? WR : RW);
  for (guint32 i = 0; i < n; i++)
    py[i] = init ? pb[i] : py[i] + pb[i];
  return TRUE;
}

static gboolean
k_compact (PhysnnDevice *dev, guint32 w, guint32 n, PhysnnTensor *x,
    PhysnnTensor *idx, PhysnnTensor *cnt, GError **error)
{
  if (CL (dev)) {
    cl_mem mx = mem (x, dev, RD, error), mi = mem (idx, dev, WR, error),
        mc = mem (cnt, dev, WR, error);
    if (!mx || !mi || !mc)
      return FALSE;
    Arg args[] = { ARG (w), ARG (n), ARG (mx), ARG (mi), ARG (mc) };
    return launch (dev, "physnn_snn_compact", w, args, G_N_ELEMENTS (args),
        error);
  }
  const gfloat *px = HOST (x, RD);
  guint32 *pi = HOST (idx, WR), *pc = HOST (cnt, WR);
  for (guint32 t = 0; t < w; t++)
    pc[t] = compact_row (px + (gsize) t * n, pi + (gsize) t * n, n);
  return TRUE;
}

static gboolean
k_affine (PhysnnDevice *dev, gboolean event, guint32 w, guint32 n_in,
    guint32 n_out, PhysnnTensor *wt, PhysnnTensor *bias, PhysnnTensor *x,
    PhysnnTensor *idx, PhysnnTensor *cnt, PhysnnTensor *y, GError **error)
{
  guint32 has_bias = bias != NULL;
  if (CL (dev)) {
    cl_mem mw = mem (wt, dev, RD, error), mb = mem (bias, dev, RD, error),
        my = mem (y, dev, WR, error);
    if (!mw || !my || (bias && !mb))
      return FALSE;
    if (event) {
      cl_mem mi = mem (idx, dev, RD, error), mc = mem (cnt, dev, RD, error);
      if (!mi || !mc)
        return FALSE;
      Arg args[] = { ARG (w), ARG (n_in), ARG (n_out), ARG (mw),
        ARG (has_bias), ARG (mb), ARG (mi), ARG (mc), ARG (my)
      };
      return launch (dev, "physnn_snn_affine_event", (gsize) w * n_out, args,
          G_N_ELEMENTS (args), error);
    }
    cl_mem mx = mem (x, dev, RD, error);
    if (!mx)
      return FALSE;
    Arg args[] = { ARG (w), ARG (n_in), ARG (n_out), ARG (mw),
      ARG (has_bias), ARG (mb), ARG (mx), ARG (my)
    };
    return launch (dev, "physnn_snn_affine_dense", (gsize) w * n_out, args,
        G_N_ELEMENTS (args), error);
  }
  const gfloat *pw = HOST (wt, RD), *pb = HOST (bias, RD);
  gfloat *py = HOST (y, WR);
  for (guint32 t = 0; t < w; t++) {
    gfloat *yt = py + (gsize) t * n_out;
    for (guint32 j = 0; j < n_out; j++)
      yt[j] = has_bias ? pb[j] : 0.0f;
    if (event) {
      const guint32 *pi = HOST (idx, RD), *pc = HOST (cnt, RD);
      const guint32 *it = pi + (gsize) t * n_in;
      add_rows (yt, pw, it, pc[t], n_out);
    } else {
      const gfloat *xt = (const gfloat *) HOST (x, RD) + (gsize) t * n_in;
      for (guint32 i = 0; i < n_in; i++) {
        const gfloat *row = pw + (gsize) i * n_out;
        gfloat xi = xt[i];
        /* fma (w, 0, y) = y and fma (w, 1, y) = y + w exactly: spikes skip
         * the (slow, libm) fma and give the same bits as the kernel */
        if (xi == 0.0f)
          continue;
        if (xi == 1.0f)
          add_row (yt, row, n_out);
        else
          fma_row (yt, row, xi, n_out);
      }
    }
  }
  return TRUE;
}

static gboolean
k_neuron (PhysnnDevice *dev, Op *op, guint32 w, PhysnnTensor *x,
    gboolean record, GError **error)
{
  guint32 n = (guint32) op->n_out, fires = op->fires, cuba = op->cuba,
      rec = record;
  if (CL (dev)) {
    cl_mem mc = mem (op->coef, dev, RD, error),
        mt = mem (op->theta, dev, RD, error),
        mr = mem (op->vreset, dev, RD, error),
        mv = mem (op->v, dev, RW, error), mi = mem (op->isyn, dev, RW, error),
        mx = mem (x, dev, RD, error), mo = mem (op->out, dev, WR, error),
        mvr = record ? mem (op->vrec, dev, WR, error) : NULL,
        mk = mem (op->counts, dev, RW, error);
    if (!mc || !mt || !mr || !mv || !mi || !mx || !mo || !mk || (record &&
            !mvr))
      return FALSE;
    Arg args[] = { ARG (n), ARG (w), ARG (fires), ARG (cuba), ARG (rec),
      ARG (mc), ARG (mt), ARG (mr), ARG (mv), ARG (mi), ARG (mx), ARG (mo),
      ARG (mvr), ARG (mk)
    };
    return launch (dev, "physnn_snn_neuron", n, args, G_N_ELEMENTS (args),
        error);
  }
  const gfloat *pc = HOST (op->coef, RD), *pt = HOST (op->theta, RD),
      *pr = HOST (op->vreset, RD), *px = HOST (x, RD);
  gfloat *pv = HOST (op->v, RW), *pi = HOST (op->isyn, RW),
      *po = HOST (op->out, WR), *pvr = record ? HOST (op->vrec, WR) : NULL;
  guint32 *pk = HOST (op->counts, RW);
  for (guint32 t = 0; t < w; t++) {
    gsize at = (gsize) t * n;
    neuron_row (n, cuba, fires, pc, pt, pr, px + at, pv, pi, po + at,
        rec ? pvr + at : NULL, pk);
  }
  return TRUE;
}

/* scale (mode 0) and threshold (mode 1) */
static gboolean
k_elementwise (PhysnnDevice *dev, Op *op, guint32 w, PhysnnTensor *x,
    GError **error)
{
  guint32 n = (guint32) op->n_out, mode = op->kind == OP_THRESHOLD;
  if (CL (dev)) {
    cl_mem mv = mem (op->vec, dev, RD, error), mx = mem (x, dev, RD, error),
        my = mem (op->out, dev, WR, error),
        mk = mode ? mem (op->counts, dev, RW, error) : NULL;
    if (!mv || !mx || !my || (mode && !mk))
      return FALSE;
    Arg args[] = { ARG (n), ARG (w), ARG (mode), ARG (mv), ARG (mx), ARG (my),
      ARG (mk)
    };
    return launch (dev, "physnn_snn_elementwise", n, args,
        G_N_ELEMENTS (args), error);
  }
  const gfloat *pv = HOST (op->vec, RD), *px = HOST (x, RD);
  gfloat *py = HOST (op->out, WR);
  guint32 *pk = mode ? HOST (op->counts, RW) : NULL;
  for (guint32 j = 0; j < n; j++)
    for (guint32 t = 0; t < w; t++) {
      gsize at = (gsize) t * n + j;
      if (mode) {
        gboolean s = px[at] > pv[j];
        py[at] = s ? 1.0f : 0.0f;
        pk[j] += s;
      } else {
        py[at] = px[at] * pv[j];
      }
    }
  return TRUE;
}

static gboolean
k_delay (PhysnnDevice *dev, Op *op, guint32 w, PhysnnTensor *x,
    GError **error)
{
  guint32 n = (guint32) op->n_out, len = op->ring_len, head = op->head;
  if (CL (dev)) {
    cl_mem md = mem (op->vec, dev, RD, error),
        mr = mem (op->ring, dev, RW, error), mx = mem (x, dev, RD, error),
        my = mem (op->out, dev, WR, error);
    if (!md || !mr || !mx || !my)
      return FALSE;
    Arg args[] = { ARG (n), ARG (w), ARG (len), ARG (head), ARG (md),
      ARG (mr), ARG (mx), ARG (my)
    };
    if (!launch (dev, "physnn_snn_delay", n, args, G_N_ELEMENTS (args),
            error))
      return FALSE;
  } else {
    const gint32 *pd = HOST (op->vec, RD);
    const gfloat *px = HOST (x, RD);
    gfloat *pr = HOST (op->ring, RW), *py = HOST (op->out, WR);
    for (guint32 j = 0; j < n; j++)
      for (guint32 t = 0; t < w; t++) {
        guint32 pos = (head + t) % len;
        pr[(gsize) pos * n + j] = px[(gsize) t * n + j];
        py[(gsize) t * n + j] = pr[(gsize) ((pos + len - (guint32) pd[j]) %
                len) * n + j];
      }
  }
  op->head = (head + w) % len;
  return TRUE;
}

static gboolean
k_conv (PhysnnDevice *dev, Op *op, guint32 w, PhysnnTensor *x,
    GError **error)
{
  const gint32 *g = op->geo;
  guint32 n_out = (guint32) op->n_out, pool = op->kind == OP_POOL,
      avg = op->avg;
  gfloat inv = op->inv_area;
  if (CL (dev)) {
    gsize gshape[1] = { 16 };
    g_autoptr (PhysnnTensor) geo = physnn_tensor_new (PHYSNN_DTYPE_INT32, 1,
        gshape);
    memcpy (physnn_tensor_map (geo, PHYSNN_MAP_WRITE, NULL), g,
        sizeof op->geo);
    physnn_tensor_unmap (geo);
    cl_mem mg = mem (geo, dev, RD, error), mw = mem (op->wt, dev, RD, error),
        mb = mem (op->bias, dev, RD, error), mx = mem (x, dev, RD, error),
        my = mem (op->out, dev, WR, error);
    if (!mg || !mx || !my || (!pool && (!mw || !mb)))
      return FALSE;
    Arg args[] = { ARG (w), ARG (n_out), ARG (pool), ARG (avg), ARG (inv),
      ARG (mg), ARG (mw), ARG (mb), ARG (mx), ARG (my)
    };
    return launch (dev, "physnn_snn_conv", (gsize) w * n_out, args,
        G_N_ELEMENTS (args), error);
  }
  const gfloat *pw = HOST (op->wt, RD), *pb = HOST (op->bias, RD),
      *px = HOST (x, RD);
  gfloat *py = HOST (op->out, WR);
  gint cin = g[G_CIN], cout = g[G_COUT], groups = MAX (g[G_GROUPS], 1);
  gint cpg = cin / groups, opg = cout / groups;
  gsize n_in = (gsize) cin * g[G_IH] * g[G_IW];
  for (guint32 t = 0; t < w; t++)
    for (gint co = 0; co < cout; co++)
      for (gint oy = 0; oy < g[G_OH]; oy++)
        for (gint ox = 0; ox < g[G_OW]; ox++) {
          gfloat acc = pool ? 0.0f : pb[co];
          gint grp = pool ? co : co / opg;
          gint c0 = pool ? co : grp * cpg, c1 = pool ? co + 1 : c0 + cpg;
          for (gint ci = c0; ci < c1; ci++)
            for (gint ky = 0; ky < g[G_KH]; ky++) {
              gint iy = oy * g[G_SH] - g[G_PH] + ky * g[G_DH];
              if (iy < 0 || iy >= g[G_IH])
                continue;
              for (gint kx = 0; kx < g[G_KW]; kx++) {
                gint ix = ox * g[G_SW] - g[G_PW] + kx * g[G_DW];
                if (ix < 0 || ix >= g[G_IW])
                  continue;
                gfloat xv = px[t * n_in + ((gsize) ci * g[G_IH] + iy) *
                    g[G_IW] + ix];
                if (pool)
                  acc = acc + xv;
                else
                  acc = fmaf (pw[(((gsize) co * cpg + (ci - c0)) * g[G_KH] +
                              ky) * g[G_KW] + kx], xv, acc);
              }
            }
          if (avg)
            acc = acc * inv;
          py[(gsize) t * n_out + ((gsize) co * g[G_OH] + oy) * g[G_OW] +
              ox] = acc;
        }
  return TRUE;
}

/* STDP for one step: pre spikes in x (row 0), post spikes in post->out. */
static gboolean
k_stdp (PhysnnSnn *self, PhysnnDevice *dev, Op *op, PhysnnTensor *x,
    GError **error)
{
  Op *post = OP (self, op->post);
  guint32 n_in = (guint32) op->n_in, n_out = (guint32) op->n_out;
  gfloat dp = (gfloat) exp (-self->dt / self->tau_plus);
  gfloat dm = (gfloat) exp (-self->dt / self->tau_minus);
  gfloat ap = (gfloat) self->a_plus, am = (gfloat) self->a_minus;
  gfloat wmin = (gfloat) self->w_min, wmax = (gfloat) self->w_max;
  guint32 has_mask = op->mask != NULL;

  if (CL (dev)) {
    cl_mem mw = mem (op->wt, dev, RW, error),
        mxt = mem (op->xtrace, dev, RW, error),
        myt = mem (op->ytrace, dev, RW, error),
        mi = mem (op->idx, dev, RD, error), mc = mem (op->cnt, dev, RD, error),
        mx = mem (x, dev, RD, error), mp = mem (post->out, dev, RD, error),
        mm = has_mask ? mem (op->mask, dev, RD, error) : NULL;
    if (!mw || !mxt || !myt || !mi || !mc || !mx || !mp || (has_mask && !mm))
      return FALSE;
    Arg a1[] = { ARG (n_in), ARG (n_out), ARG (dm), ARG (am), ARG (wmin),
      ARG (has_mask), ARG (mm), ARG (mi), ARG (mc), ARG (myt), ARG (mw)
    };
    Arg a2[] = { ARG (n_in), ARG (n_out), ARG (dp), ARG (ap), ARG (wmax),
      ARG (has_mask), ARG (mm), ARG (mx), ARG (mp), ARG (mxt), ARG (mw)
    };
    Arg a3[] = { ARG (n_out), ARG (mp), ARG (myt) };
    return launch (dev, "physnn_snn_stdp_pre", n_out, a1, G_N_ELEMENTS (a1),
        error) && launch (dev, "physnn_snn_stdp_post", n_in, a2,
        G_N_ELEMENTS (a2), error) && launch (dev, "physnn_snn_stdp_trace",
        n_out, a3, G_N_ELEMENTS (a3), error);
  }
  gfloat *pw = HOST (op->wt, RW), *xt = HOST (op->xtrace, RW),
      *yt = HOST (op->ytrace, RW);
  const guint32 *pi = HOST (op->idx, RD), *pc = HOST (op->cnt, RD);
  const gfloat *px = HOST (x, RD), *pp = HOST (post->out, RD);
  const guint8 *pm = has_mask ? HOST (op->mask, RD) : NULL;
  /* 1: decay the post traces; depress w_ij for active pre i */
  for (guint32 j = 0; j < n_out; j++) {
    gfloat y = yt[j] * dm;
    gfloat f = am * y;
    for (guint32 k = 0; k < pc[0]; k++) {
      gsize at = (gsize) pi[k] * n_out + j;
      if (!(has_mask && pm[at]))
        pw[at] = fmaf (-f, pw[at] - wmin, pw[at]);
    }
    yt[j] = y;
  }
  /* 2: decay and bump the pre traces; potentiate w_ij for post j */
  for (guint32 i = 0; i < n_in; i++) {
    gfloat xv = xt[i] * dp + px[i];
    gfloat f = ap * xv;
    for (guint32 j = 0; j < n_out; j++) {
      gsize at = (gsize) i * n_out + j;
      if (pp[j] != 0.0f && !(has_mask && pm[at]))
        pw[at] = fmaf (f, wmax - pw[at], pw[at]);
    }
    xt[i] = xv;
  }
  /* 3: bump the post traces */
  for (guint32 j = 0; j < n_out; j++)
    yt[j] = yt[j] + pp[j];
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Running */

/* Spikes a counting op made since the last look (host copy kept). */
static guint64
take_spikes (Op *op)
{
  const guint32 *c = physnn_tensor_map (op->counts, PHYSNN_MAP_READ, NULL);
  guint64 s = 0;
  for (gsize j = 0; j < op->n_out; j++) {
    s += (guint32) (c[j] - op->counts_seen[j]);
    op->counts_seen[j] = c[j];
  }
  physnn_tensor_unmap (op->counts);
  return s;
}

static PhysnnTensor *
op_input (PhysnnSnn *self, PhysnnDevice *dev, Op *op, guint32 w,
    GError **error)
{
  if (op->sources->len == 1) {
    Op *src = OP (self, g_array_index (op->sources, guint, 0));
    return g_array_index (op->back, gboolean, 0) ? src->prev : src->out;
  }
  if (op->sources->len == 0) {
    /* a node nothing feeds: its input is zero */
    if (op->sum == NULL || physnn_tensor_get_n_elements (op->sum) <
        (gsize) w * MAX (op->n_in, 1)) {
      gsize shape[2] = { MAX (op->cap, w), MAX (op->n_in, 1) };
      g_clear_object (&op->sum);
      op->sum = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
    }
    physnn_tensor_fill (op->sum, 0);
    return op->sum;
  }
  for (guint s = 0; s < op->sources->len; s++) {
    Op *src = OP (self, g_array_index (op->sources, guint, s));
    PhysnnTensor *from = g_array_index (op->back, gboolean, s) ? src->prev :
        src->out;
    if (!k_add (dev, (guint32) (w * op->n_in), op->sum, from, op->sum, s == 0,
            error))
      return NULL;
  }
  return op->sum;
}

static gboolean
run_window (PhysnnSnn *self, PhysnnDevice *dev, guint32 w, gboolean record,
    gboolean stdp, GError **error)
{
  for (guint k = 0; k < self->ops->len; k++) {
    Op *op = OP (self, k);
    if (k == self->input_op || (op->kind == OP_IDENTITY &&
            op->sources->len == 0))
      continue;
    ensure_buffers (self, op, w);
    PhysnnTensor *x = op_input (self, dev, op, w, error);
    if (x == NULL)
      return FALSE;
    gboolean ok = TRUE;
    switch (op->kind) {
      case OP_IDENTITY:{
        gsize n = (gsize) w * op->n_out;
        if (CL (dev)) {
          ok = k_add (dev, (guint32) n, NULL, x, op->out, TRUE, error);
        } else {
          memcpy (_physnn_tensor_host (op->out, WR), _physnn_tensor_host (x,
                  RD), n * sizeof (gfloat));
        }
        break;
      }
      case OP_AFFINE:{
        Op *src = op->sources->len == 1 ? OP (self,
            g_array_index (op->sources, guint, 0)) : NULL;
        gboolean binary = src && src->binary &&
            !g_array_index (op->back, gboolean, 0);
        gboolean event = binary && (op->activity < 0 ||
            op->activity < self->event_threshold);
        if (binary || (stdp && op->post >= 0))
          ok = k_compact (dev, w, (guint32) op->n_in, x, op->idx, op->cnt,
              error);
        ok = ok && k_affine (dev, event, w, (guint32) op->n_in,
            (guint32) op->n_out, op->wt, op->bias, x, op->idx, op->cnt,
            op->out, error);
        op->used_event = event;
        break;
      }
      case OP_SCALE:
      case OP_THRESHOLD:
        ok = k_elementwise (dev, op, w, x, error);
        break;
      case OP_DELAY:
        ok = k_delay (dev, op, w, x, error);
        break;
      case OP_CONV:
      case OP_POOL:
        ok = k_conv (dev, op, w, x, error);
        break;
      case OP_NEURON:
        ok = k_neuron (dev, op, w, x, record && (gint) k == self->membrane_op,
            error);
        break;
    }
    if (!ok)
      return FALSE;
  }
  /* plasticity of this step (w == 1) */
  if (stdp) {
    for (guint k = 0; k < self->ops->len; k++) {
      Op *op = OP (self, k);
      if (op->kind != OP_AFFINE || op->post < 0 || !op->stdp_ok)
        continue;
      PhysnnTensor *x = op_input (self, dev, op, 1, error);
      if (x == NULL || !k_stdp (self, dev, op, x, error))
        return FALSE;
    }
  }
  /* values for back edges */
  for (guint k = 0; k < self->ops->len; k++) {
    Op *op = OP (self, k);
    if (!op->needs_prev)
      continue;
    if (op->prev == NULL)
      op->prev = vector_f32 (MAX (op->n_out, 1), 0);
    gsize n = op->n_out;
    if (CL (dev)) {
      /* the last row of out, through the host (rare: recurrent graphs) */
      const gfloat *po = physnn_tensor_map (op->out, PHYSNN_MAP_READ, NULL);
      gfloat *pp = physnn_tensor_map (op->prev, PHYSNN_MAP_WRITE, NULL);
      memcpy (pp, po + (gsize) (w - 1) * n, n * sizeof (gfloat));
      physnn_tensor_unmap (op->prev);
      physnn_tensor_unmap (op->out);
    } else {
      memcpy (_physnn_tensor_host (op->prev, WR),
          (const gfloat *) _physnn_tensor_host (op->out, RD) +
          (gsize) (w - 1) * n, n * sizeof (gfloat));
    }
  }
  return TRUE;
}

/* Homeostasis at a boundary: rates from counts, then scaling and IP. */
static void
homeostasis (PhysnnSnn *self, guint64 interval_steps)
{
  gdouble span = interval_steps * self->dt;
  gdouble lambda = MIN (1.0, self->interval / self->rate_tau);
  for (guint k = 0; k < self->ops->len; k++) {
    Op *op = OP (self, k);
    if (op->kind != OP_NEURON || !op->fires)
      continue;
    const guint32 *c = physnn_tensor_map (op->counts, PHYSNN_MAP_READ, NULL);
    for (gsize j = 0; j < op->n_out; j++) {
      gdouble obs = (guint32) (c[j] - op->counts_mark[j]) / span;
      op->rate[j] += lambda * (obs - op->rate[j]);
      op->counts_mark[j] = c[j];
    }
    physnn_tensor_unmap (op->counts);
    if (self->intrinsic) {
      gfloat *th = physnn_tensor_map (op->theta, PHYSNN_MAP_READ |
          PHYSNN_MAP_WRITE, NULL);
      for (gsize j = 0; j < op->n_out; j++) {
        gdouble lo = op->theta0[j] * self->ip_min;
        gdouble hi = op->theta0[j] * self->ip_max;
        gdouble t = th[j] * (1 + self->ip_eta * (op->rate[j] -
                self->target_rate));
        th[j] = (gfloat) CLAMP (t, MIN (lo, hi), MAX (lo, hi));
      }
      physnn_tensor_unmap (op->theta);
      self->counters[PHYSNN_SNN_COUNTER_PLASTIC_UPDATES] += op->n_out;
    }
  }
  if (!self->scaling)
    return;
  for (guint k = 0; k < self->ops->len; k++) {
    Op *op = OP (self, k);
    if (op->kind != OP_AFFINE || op->post < 0)
      continue;
    Op *post = OP (self, op->post);
    g_autofree gfloat *f = g_new (gfloat, MAX (op->n_out, 1));
    for (gsize j = 0; j < op->n_out; j++) {
      gdouble r = MAX (post->rate[j], 1e-3 * self->target_rate);
      gdouble fac = pow (self->target_rate / r, self->scaling_alpha);
      f[j] = (gfloat) CLAMP (fac, 1 / self->scaling_max, self->scaling_max);
    }
    gfloat *w = physnn_tensor_map (op->wt, PHYSNN_MAP_READ | PHYSNN_MAP_WRITE,
        NULL);
    for (gsize i = 0; i < op->n_in; i++)
      for (gsize j = 0; j < op->n_out; j++)
        w[i * op->n_out + j] *= f[j];
    physnn_tensor_unmap (op->wt);
    self->counters[PHYSNN_SNN_COUNTER_PLASTIC_UPDATES] += op->n_in * op->n_out;
  }
}

static void
sleep_phase (PhysnnSnn *self)
{
  for (guint k = 0; k < self->ops->len; k++) {
    Op *op = OP (self, k);
    if (op->kind != OP_AFFINE || op->post < 0)
      continue;
    gsize n = op->n_in * op->n_out;
    if (op->mask == NULL) {
      gsize shape[2] = { MAX (op->n_in, 1), MAX (op->n_out, 1) };
      op->mask = physnn_tensor_new (PHYSNN_DTYPE_UINT8, 2, shape);
      physnn_tensor_fill (op->mask, 0);
    }
    gfloat *w = physnn_tensor_map (op->wt, PHYSNN_MAP_READ | PHYSNN_MAP_WRITE,
        NULL);
    guint8 *m = physnn_tensor_map (op->mask, PHYSNN_MAP_READ |
        PHYSNN_MAP_WRITE, NULL);
    gfloat down = (gfloat) self->sleep_downscale;
    for (gsize i = 0; i < n; i++) {
      w[i] *= down;
      if (m[i] || fabsf (w[i]) < self->prune_threshold) {
        w[i] = 0.0f;
        m[i] = 1;
      }
    }
    physnn_tensor_unmap (op->mask);
    physnn_tensor_unmap (op->wt);
    self->counters[PHYSNN_SNN_COUNTER_PLASTIC_UPDATES] += n;
  }
}

static void
prepare_plasticity (PhysnnSnn *self)
{
  for (guint k = 0; k < self->ops->len; k++) {
    Op *op = OP (self, k);
    if (op->kind != OP_AFFINE || op->post < 0)
      continue;
    Op *src = op->sources->len == 1 ? OP (self,
        g_array_index (op->sources, guint, 0)) : NULL;
    op->stdp_ok = src && src->binary && !g_array_index (op->back, gboolean, 0);
    if (self->stdp && op->stdp_ok && op->xtrace == NULL) {
      op->xtrace = vector_f32 (MAX (op->n_in, 1), 0);
      op->ytrace = vector_f32 (MAX (op->n_out, 1), 0);
    }
  }
}

/**
 * physnn_snn_run:
 * @self: a #PhysnnSnn
 * @device: where to compute
 * @input: @n_steps × inputs values, step-major, any numeric type (uint8
 *   spikes, float currents)
 * @n_steps: steps to run
 * @output: float32, @n_steps × outputs values
 * @record: what to write into @output
 * @error: return location for a #GError
 *
 * Runs @n_steps steps, continuing from the state the last call left.
 * Counters for this call are then available from physnn_snn_get_counter().
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_snn_run (PhysnnSnn *self, PhysnnDevice *device, PhysnnTensor *input,
    guint n_steps, PhysnnTensor *output, PhysnnSnnRecord record,
    GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), FALSE);
  g_return_val_if_fail (PHYSNN_IS_DEVICE (device), FALSE);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (input), FALSE);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (output), FALSE);

  if (!physnn_snn_validate (self, error))
    return FALSE;
  gsize n_in = physnn_snn_get_n_inputs (self);
  gsize n_out = physnn_snn_get_n_outputs (self);
  Op *rec_op = record == PHYSNN_SNN_RECORD_MEMBRANE && self->membrane_op >= 0 ?
      OP (self, self->membrane_op) : NULL;
  if (record == PHYSNN_SNN_RECORD_MEMBRANE && rec_op == NULL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "membrane output needs a neuron node directly before the Output "
        "node; \"%s\" is fed by something else",
        OP (self, self->output_op)->name);
    return FALSE;
  }
  gsize per_out = rec_op ? rec_op->n_out : n_out;
  if (physnn_tensor_get_n_elements (input) != (gsize) n_steps * n_in) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "the network's input node \"%s\" takes %" G_GSIZE_FORMAT " values "
        "per step; %" G_GSIZE_FORMAT " values do not make %u steps",
        OP (self, self->input_op)->name, n_in,
        physnn_tensor_get_n_elements (input), n_steps);
    return FALSE;
  }
  if (physnn_tensor_get_dtype (output) != PHYSNN_DTYPE_FLOAT32 ||
      physnn_tensor_get_n_elements (output) != (gsize) n_steps * per_out) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "the output tensor must be float32 with %u × %" G_GSIZE_FORMAT
        " values", n_steps, per_out);
    return FALSE;
  }
  gsize bad = physnn_tensor_count_nonfinite (input);
  if (bad) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
        "the network input has %" G_GSIZE_FORMAT " NaN or infinite "
        "value(s)", bad);
    return FALSE;
  }
  if ((self->coef_dirty || self->coef_dt != self->dt ||
          self->coef_integration != self->integration) &&
      !prepare_coefficients (self, error))
    return FALSE;
  /* a new simulation: rate estimates start at the target (set now, as the
   * target may have changed since the reset) */
  if (self->step == 0)
    for (guint i = 0; i < self->ops->len; i++) {
      Op *op = OP (self, i);
      if (op->kind == OP_NEURON)
        for (gsize j = 0; j < op->n_out; j++)
          op->rate[j] = self->target_rate;
    }
  prepare_plasticity (self);

  /* uint8 spikes and float32 are read as they are; other types converted */
  g_autoptr (PhysnnTensor) xf = NULL;
  PhysnnTensor *xsrc = input;
  if (physnn_tensor_get_dtype (input) != PHYSNN_DTYPE_UINT8 &&
      physnn_tensor_get_dtype (input) != PHYSNN_DTYPE_FLOAT32)
    xsrc = xf = physnn_tensor_convert (input, PHYSNN_DTYPE_FLOAT32);
  gboolean bytes = physnn_tensor_get_dtype (xsrc) == PHYSNN_DTYPE_UINT8;
  const guint8 *xin8 = physnn_tensor_map (xsrc, PHYSNN_MAP_READ, NULL);
  const gfloat *xin = (const gfloat *) xin8;
  Op *in_op = OP (self, self->input_op);
  gboolean binary = TRUE;
  guint64 input_spikes = 0;
  for (gsize i = 0; i < (gsize) n_steps * n_in; i++) {
    gfloat v = bytes ? xin8[i] : xin[i];
    input_spikes += v != 0.0f;
    binary &= v == 0.0f || v == 1.0f;
  }
  in_op->binary = binary;
  classify (self);
  prepare_plasticity (self);

  memset (self->counters, 0, sizeof self->counters);
  gfloat *yout = physnn_tensor_map (output, PHYSNN_MAP_WRITE, NULL);
  gboolean step_mode = self->cyclic || self->stdp;
  guint64 homeo_steps = (self->scaling || self->intrinsic) ?
      MAX (1, (guint64) llround (self->interval / self->dt)) : 0;
  guint64 sleep_steps = self->sleep ?
      MAX (1, (guint64) llround (self->sleep_interval / self->dt)) : 0;
  if (homeo_steps && self->next_homeo <= self->step)
    self->next_homeo = self->step + homeo_steps;
  if (sleep_steps && self->next_sleep <= self->step)
    self->next_sleep = self->step + sleep_steps;
  gboolean ok = TRUE;
  guint t = 0;

  while (ok && t < n_steps) {
    guint32 w = MIN (n_steps - t, MAX_WINDOW);
    if (step_mode)
      w = 1;
    if (homeo_steps)
      w = (guint32) MIN (w, self->next_homeo - self->step);
    if (sleep_steps)
      w = (guint32) MIN (w, self->next_sleep - self->step);

    ensure_buffers (self, in_op, w);
    guint64 win_spikes_in = 0;
    gfloat *dst = physnn_tensor_map (in_op->out, PHYSNN_MAP_WRITE, NULL);
    gsize off = (gsize) t * n_in, cnt = (gsize) w * n_in;
    if (bytes) {
      for (gsize i = 0; i < cnt; i++) {
        dst[i] = xin8[off + i];
        win_spikes_in += xin8[off + i] != 0;
      }
    } else {
      memcpy (dst, xin + off, cnt * sizeof (gfloat));
      for (gsize i = 0; i < cnt; i++)
        win_spikes_in += dst[i] != 0.0f;
    }
    physnn_tensor_unmap (in_op->out);

    ok = run_window (self, device, w, rec_op != NULL, self->stdp, error);
    if (!ok)
      break;

    /* results of the window */
    Op *src = rec_op ? rec_op : OP (self, self->output_op);
    PhysnnTensor *res = rec_op ? rec_op->vrec : src->out;
    const gfloat *pr = physnn_tensor_map (res, PHYSNN_MAP_READ, NULL);
    memcpy (yout + (gsize) t * per_out, pr, (gsize) w * per_out *
        sizeof (gfloat));
    physnn_tensor_unmap (res);

    in_op->window_spikes = win_spikes_in;
    for (guint k = 0; k < self->ops->len; k++) {
      Op *op = OP (self, k);
      if (op->counts)
        op->window_spikes = take_spikes (op);
      else if ((op->kind == OP_IDENTITY || op->kind == OP_DELAY) &&
          op->sources->len == 1 && k != self->input_op)
        op->window_spikes = OP (self, g_array_index (op->sources, guint,
                0))->window_spikes;
      if (op->counts)
        self->counters[PHYSNN_SNN_COUNTER_SPIKES] += op->window_spikes;
      if (op->kind == OP_NEURON)
        self->counters[PHYSNN_SNN_COUNTER_NEURON_UPDATES] +=
            (guint64) w * op->n_out;
      if (op->kind == OP_AFFINE || op->kind == OP_CONV) {
        Op *s = op->sources->len == 1 ? OP (self,
            g_array_index (op->sources, guint, 0)) : NULL;
        gdouble dense = op->macs * w;
        gdouble syn = dense;
        if (s && s->binary && op->n_in > 0)
          syn = (gdouble) s->window_spikes * (op->macs / op->n_in);
        self->counters[PHYSNN_SNN_COUNTER_DENSE_SYNOPS] += (guint64) dense;
        self->counters[PHYSNN_SNN_COUNTER_SYNOPS] += (guint64) llround (syn);
        if (op->kind == OP_AFFINE && s && s->binary) {
          gdouble act = (gdouble) s->window_spikes / ((gdouble) w *
              MAX (op->n_in, 1));
          op->activity = op->activity < 0 ? act : 0.5 * (op->activity + act);
          self->counters[PHYSNN_SNN_COUNTER_EVENT_LAYERS] += op->used_event;
          if (self->stdp && op->post >= 0 && op->stdp_ok)
            self->counters[PHYSNN_SNN_COUNTER_PLASTIC_UPDATES] +=
                s->window_spikes * op->n_out +
                OP (self, op->post)->window_spikes * op->n_in;
        }
      }
    }

    t += w;
    self->step += w;
    if (homeo_steps && self->step >= self->next_homeo) {
      homeostasis (self, homeo_steps);
      self->next_homeo += homeo_steps;
    }
    if (sleep_steps && self->step >= self->next_sleep) {
      sleep_phase (self);
      self->next_sleep += sleep_steps;
    }
  }
  physnn_tensor_unmap (output);
  physnn_tensor_unmap (xsrc);
  if (!ok)
    return FALSE;
  self->counters[PHYSNN_SNN_COUNTER_STEPS] = n_steps;
  self->counters[PHYSNN_SNN_COUNTER_INPUT_SPIKES] = input_spikes;
  for (guint c = 0; c < PHYSNN_SNN_N_COUNTERS; c++)
    self->totals[c] += self->counters[c];
  return TRUE;
}

/**
 * physnn_snn_run_new:
 * @self: a #PhysnnSnn
 * @device: where to compute
 * @input: @n_steps × inputs values
 * @n_steps: steps to run
 * @record: what to return
 * @error: return location for a #GError
 *
 * Like physnn_snn_run(), into a new float32 tensor [n_steps][values].
 *
 * Returns: (transfer full) (nullable): the recorded values
 */
PhysnnTensor *
physnn_snn_run_new (PhysnnSnn *self, PhysnnDevice *device,
    PhysnnTensor *input, guint n_steps, PhysnnSnnRecord record,
    GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), NULL);
  gsize per = physnn_snn_get_n_outputs (self);
  if (record == PHYSNN_SNN_RECORD_MEMBRANE && self->membrane_op >= 0)
    per = OP (self, self->membrane_op)->n_out;
  gsize shape[2] = { n_steps, MAX (per, 1) };
  PhysnnTensor *out = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  if (!physnn_snn_run (self, device, input, n_steps, out, record, error))
    g_clear_object (&out);
  return out;
}

/* ------------------------------------------------------------------------ */
/* Learned state */

static Op *
find_op (PhysnnSnn *self, const gchar *name, OpKind kind, GError **error)
{
  for (guint i = 0; i < self->ops->len; i++) {
    Op *op = OP (self, i);
    if (strcmp (op->name, name) == 0) {
      if (op->kind == kind)
        return op;
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "node \"%s\" is a %s, not %s", name, op->type, kind == OP_AFFINE ?
          "an Affine or Linear node" : "a neuron node");
      return NULL;
    }
  }
  g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
      "no node \"%s\" in the network", name);
  return NULL;
}

/**
 * physnn_snn_get_weights:
 * @self: a #PhysnnSnn
 * @node: an Affine or Linear node's name (subgraph nodes as "sub.node")
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the current weights, float32
 *   [outputs][inputs] as NIR stores them
 */
PhysnnTensor *
physnn_snn_get_weights (PhysnnSnn *self, const gchar *node, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), NULL);
  Op *op = find_op (self, node, OP_AFFINE, error);
  if (op == NULL)
    return NULL;
  gsize shape[2] = { op->n_out, op->n_in };
  PhysnnTensor *w = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  gfloat *d = physnn_tensor_map (w, PHYSNN_MAP_WRITE, NULL);
  const gfloat *s = physnn_tensor_map (op->wt, PHYSNN_MAP_READ, NULL);
  for (gsize i = 0; i < op->n_in; i++)
    for (gsize j = 0; j < op->n_out; j++)
      d[j * op->n_in + i] = s[i * op->n_out + j];
  physnn_tensor_unmap (op->wt);
  physnn_tensor_unmap (w);
  return w;
}

/**
 * physnn_snn_set_weights:
 * @self: a #PhysnnSnn
 * @node: an Affine or Linear node's name
 * @weights: [outputs][inputs] values
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_snn_set_weights (PhysnnSnn *self, const gchar *node,
    PhysnnTensor *weights, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), FALSE);
  Op *op = find_op (self, node, OP_AFFINE, error);
  if (op == NULL)
    return FALSE;
  if (physnn_tensor_get_n_elements (weights) != op->n_in * op->n_out) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "node \"%s\" has %" G_GSIZE_FORMAT "×%" G_GSIZE_FORMAT " weights",
        node, op->n_out, op->n_in);
    return FALSE;
  }
  gfloat *d = physnn_tensor_map (op->wt, PHYSNN_MAP_WRITE, NULL);
  for (gsize i = 0; i < op->n_in; i++)
    for (gsize j = 0; j < op->n_out; j++)
      d[i * op->n_out + j] = (gfloat) physnn_tensor_get_value (weights,
          j * op->n_in + i);
  physnn_tensor_unmap (op->wt);
  return TRUE;
}

/**
 * physnn_snn_get_thresholds:
 * @self: a #PhysnnSnn
 * @node: a firing neuron node's name
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the current thresholds (intrinsic
 *   plasticity changes them), float32
 */
PhysnnTensor *
physnn_snn_get_thresholds (PhysnnSnn *self, const gchar *node,
    GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), NULL);
  Op *op = find_op (self, node, OP_NEURON, error);
  return op ? physnn_tensor_copy (op->theta) : NULL;
}

/**
 * physnn_snn_get_rates:
 * @self: a #PhysnnSnn
 * @node: a neuron node's name
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the running rate estimates in Hz
 *   (float64) that homeostasis uses
 */
PhysnnTensor *
physnn_snn_get_rates (PhysnnSnn *self, const gchar *node, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), NULL);
  Op *op = find_op (self, node, OP_NEURON, error);
  if (op == NULL)
    return NULL;
  gsize shape[1] = { op->n_out };
  return physnn_tensor_new_from_doubles (PHYSNN_DTYPE_FLOAT64, 1, shape,
      op->rate, op->n_out, NULL);
}

static PhysnnNirNode *
resolve (PhysnnNirGraph *g, GStrv path)
{
  PhysnnNirNode *node = NULL;
  for (guint d = 0; path[d]; d++) {
    gint i = physnn_nir_graph_find_node (g, path[d]);
    if (i < 0)
      return NULL;
    node = _physnn_nir_graph_node (g, (guint) i);
    if (path[d + 1])
      g = node->sub;
  }
  return node;
}

static PhysnnTensor *
scalar (gdouble v)
{
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, 0, NULL);
  physnn_tensor_set_value (t, 0, v);
  return t;
}

/**
 * physnn_snn_to_nir:
 * @self: a #PhysnnSnn
 *
 * A copy of the network's graph with the learned weights and thresholds
 * as parameters, and the homeostasis state as a snapshot in `metadata`
 * groups (NIR has no plasticity primitive): per neuron node the rate
 * estimates (`physnn_rate_hz`) and spike counts; per plastic projection
 * the prune mask; for the graph, dt, the integration and the plasticity
 * settings.
 *
 * Returns: (transfer full): the graph
 */
PhysnnNirGraph *
physnn_snn_to_nir (PhysnnSnn *self)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), NULL);
  PhysnnNirGraph *g = physnn_nir_graph_copy (self->graph);
  for (guint k = 0; k < self->ops->len; k++) {
    Op *op = OP (self, k);
    PhysnnNirNode *node = resolve (g, op->path);
    if (node == NULL)
      continue;
    if (op->kind == OP_AFFINE) {
      PhysnnNirValue *v = _physnn_nir_node_find (node, "weight");
      g_clear_object (&v->tensor);
      v->tensor = physnn_snn_get_weights (self, op->name, NULL);
      if (op->mask) {
        PhysnnNirValue *m = g_new0 (PhysnnNirValue, 1);
        m->name = g_strdup ("physnn_pruned");
        m->tensor = physnn_tensor_copy (op->mask);
        g_ptr_array_add (node->metadata, m);
      }
      continue;
    }
    if (op->kind == OP_NEURON) {
      if (op->fires) {
        PhysnnNirValue *v = _physnn_nir_node_find (node, "v_threshold");
        if (v) {
          PhysnnTensor *th = physnn_tensor_convert (op->theta,
              physnn_tensor_get_dtype (v->tensor));
          guint rank;
          const gsize *shape = physnn_tensor_get_shape (v->tensor, &rank);
          PhysnnTensor *r = physnn_tensor_reshape (th, rank, shape, NULL);
          g_object_unref (th);
          if (r) {
            g_object_unref (v->tensor);
            v->tensor = r;
          }
        }
      }
      gsize shape[1] = { op->n_out };
      PhysnnNirValue *rate = g_new0 (PhysnnNirValue, 1);
      rate->name = g_strdup ("physnn_rate_hz");
      rate->tensor = physnn_tensor_new_from_doubles (PHYSNN_DTYPE_FLOAT64, 1,
          shape, op->rate, op->n_out, NULL);
      g_ptr_array_add (node->metadata, rate);
      if (op->counts) {
        PhysnnNirValue *c = g_new0 (PhysnnNirValue, 1);
        c->name = g_strdup ("physnn_spike_count");
        c->tensor = physnn_tensor_convert (op->counts, PHYSNN_DTYPE_INT64);
        g_ptr_array_add (node->metadata, c);
      }
    }
  }
  struct {
    const gchar *name;
    gdouble v;
  } md[] = {
    {"physnn_dt", self->dt},
    {"physnn_steps", (gdouble) self->step},
    {"physnn_scaling", self->scaling},
    {"physnn_scaling_alpha", self->scaling_alpha},
    {"physnn_target_rate", self->target_rate},
    {"physnn_rate_tau", self->rate_tau},
    {"physnn_homeostasis_interval", self->interval},
    {"physnn_intrinsic", self->intrinsic},
    {"physnn_ip_eta", self->ip_eta},
    {"physnn_sleep", self->sleep},
    {"physnn_sleep_downscale", self->sleep_downscale},
    {"physnn_prune_threshold", self->prune_threshold},
    {"physnn_stdp", self->stdp},
    {"physnn_stdp_a_plus", self->a_plus},
    {"physnn_stdp_a_minus", self->a_minus},
    {"physnn_stdp_tau_plus", self->tau_plus},
    {"physnn_stdp_tau_minus", self->tau_minus},
    {"physnn_stdp_w_min", self->w_min},
    {"physnn_stdp_w_max", self->w_max},
  };
  for (guint i = 0; i < G_N_ELEMENTS (md); i++) {
    g_autoptr (PhysnnTensor) t = scalar (md[i].v);
    physnn_nir_graph_set_metadata (g, -1, md[i].name, t);
  }
  physnn_nir_graph_set_metadata_string (g, -1, "physnn_integration",
      self->integration == PHYSNN_SNN_INTEGRATION_EULER ? "euler" :
      self->integration == PHYSNN_SNN_INTEGRATION_SEMI_IMPLICIT ?
      "semi-implicit" : "exact");
  return g;
}

/**
 * physnn_snn_save:
 * @self: a #PhysnnSnn
 * @path: the NIR file to write (atomically)
 * @error: return location for a #GError
 *
 * Saves physnn_snn_to_nir().
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_snn_save (PhysnnSnn *self, const gchar *path, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_SNN (self), FALSE);
  g_autoptr (PhysnnNirGraph) g = physnn_snn_to_nir (self);
  return physnn_nir_graph_save (g, path, error);
}
