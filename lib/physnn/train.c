/* physnn — PhysnnTrainer: trains a model's parameters on physics
 * (PDE residual at collocation points in a box domain, boundary and
 * initial conditions on faces of the box) and data, with Adam and then
 * L-BFGS, deterministically from a seed; writes the result as ONNX next to,
 * never over, the input model.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/train.h"
#include "physnn/enums.h"
#include "physnn/error.h"
#include "physnn/grad-private.h"
#include "physnn/model-private.h"
#include "physnn/onnx-private.h"
#include "physnn/optim-private.h"
#include "physnn/pde.h"
#include "physnn/plot-private.h"
#include "physnn/rx-private.h"
#include "physnn/tensor-private.h"
#include "physnn/version.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#define MAX_COORDS 16

typedef enum { T_PDE, T_CONDITION, T_DATA } TKind;

typedef struct {
  guint coord;
  gdouble value;
} Face;

typedef struct {
  TKind kind;
  gint term; /* in the loss */
  gchar *name;
  gchar *expr;
  guint n_points;
  GArray *faces; /* Face; conditions: one face each */
  /* data */
  PhysnnTensor **data;
  guint n_data;
  PhysnnTensor *target;
  gsize rows;
  guint batch;
  guint output;
  PhysnnDataLoss loss;
} TTerm;

struct _PhysnnTrainer {
  GObject parent;

  PhysnnModel *model;
  PhysnnLoss *loss;
  GPtrArray *terms; /* TTerm* */

  guint n_coords;
  gchar *coord_names[MAX_COORDS];
  gint coord_input[MAX_COORDS];
  gint coord_column[MAX_COORDS]; /* -1: a single-column input */
  gdouble lo[MAX_COORDS], hi[MAX_COORDS];
  gboolean have_domain;
  gchar *domain_text;
  gchar *pde_text;

  /* properties */
  guint64 seed;
  PhysnnSampling sampling;
  guint resample_every;
  guint adam_iterations;
  gdouble learning_rate;
  guint lbfgs_iterations;
  guint lbfgs_rounds;
  gdouble lbfgs_points_scale;
  guint lbfgs_history;
  guint progress_interval;
  gdouble learning_rate_final;
  guint refine_points, refine_pool;
  PhysnnRefinement refinement;

  GRand *rand;

  /* results */
  GArray *hist; /* gdouble rows: iteration, total, terms */
  guint hist_cols;
  guint adam_done, lbfgs_done;
  gdouble elapsed;
  gdouble final_loss;
  gchar *stop_reason;
  gchar *summary;
};

G_DEFINE_FINAL_TYPE (PhysnnTrainer, physnn_trainer, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_SEED,
  PROP_SAMPLING,
  PROP_RESAMPLE,
  PROP_ADAM,
  PROP_LR,
  PROP_LBFGS,
  PROP_LBFGS_ROUNDS,
  PROP_LBFGS_SCALE,
  PROP_LBFGS_HISTORY,
  PROP_PROGRESS,
  PROP_LR_FINAL,
  PROP_REFINE_POINTS,
  PROP_REFINE_POOL,
  PROP_REFINEMENT
};

enum { SIGNAL_PROGRESS, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
tterm_free (TTerm *t)
{
  g_free (t->name);
  g_free (t->expr);
  if (t->faces)
    g_array_unref (t->faces);
  for (guint i = 0; i < t->n_data; i++)
    g_clear_object (&t->data[i]);
  g_free (t->data);
  g_clear_object (&t->target);
  g_free (t);
}

static void
physnn_trainer_set_property (
    GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  PhysnnTrainer *self = PHYSNN_TRAINER (object);
  switch (id) {
    case PROP_SEED:
      self->seed = g_value_get_uint64 (value);
      break;
    case PROP_SAMPLING:
      self->sampling = g_value_get_enum (value);
      break;
    case PROP_RESAMPLE:
      self->resample_every = g_value_get_uint (value);
      break;
    case PROP_ADAM:
      self->adam_iterations = g_value_get_uint (value);
      break;
    case PROP_LR:
      self->learning_rate = g_value_get_double (value);
      break;
    case PROP_LBFGS:
      self->lbfgs_iterations = g_value_get_uint (value);
      break;
    case PROP_LBFGS_ROUNDS:
      self->lbfgs_rounds = g_value_get_uint (value);
      break;
    case PROP_LBFGS_SCALE:
      self->lbfgs_points_scale = g_value_get_double (value);
      break;
    case PROP_LBFGS_HISTORY:
      self->lbfgs_history = g_value_get_uint (value);
      break;
    case PROP_PROGRESS:
      self->progress_interval = g_value_get_uint (value);
      break;
    case PROP_LR_FINAL:
      self->learning_rate_final = g_value_get_double (value);
      break;
    case PROP_REFINE_POINTS:
      self->refine_points = g_value_get_uint (value);
      break;
    case PROP_REFINE_POOL:
      self->refine_pool = g_value_get_uint (value);
      break;
    case PROP_REFINEMENT:
      self->refinement = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
  }
}

static void
physnn_trainer_get_property (
    GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  PhysnnTrainer *self = PHYSNN_TRAINER (object);
  switch (id) {
    case PROP_SEED:
      g_value_set_uint64 (value, self->seed);
      break;
    case PROP_SAMPLING:
      g_value_set_enum (value, self->sampling);
      break;
    case PROP_RESAMPLE:
      g_value_set_uint (value, self->resample_every);
      break;
    case PROP_ADAM:
      g_value_set_uint (value, self->adam_iterations);
      break;
    case PROP_LR:
      g_value_set_double (value, self->learning_rate);
      break;
    case PROP_LBFGS:
      g_value_set_uint (value, self->lbfgs_iterations);
      break;
    case PROP_LBFGS_ROUNDS:
      g_value_set_uint (value, self->lbfgs_rounds);
      break;
    case PROP_LBFGS_SCALE:
      g_value_set_double (value, self->lbfgs_points_scale);
      break;
    case PROP_LBFGS_HISTORY:
      g_value_set_uint (value, self->lbfgs_history);
      break;
    case PROP_PROGRESS:
      g_value_set_uint (value, self->progress_interval);
      break;
    case PROP_LR_FINAL:
      g_value_set_double (value, self->learning_rate_final);
      break;
    case PROP_REFINE_POINTS:
      g_value_set_uint (value, self->refine_points);
      break;
    case PROP_REFINE_POOL:
      g_value_set_uint (value, self->refine_pool);
      break;
    case PROP_REFINEMENT:
      g_value_set_enum (value, self->refinement);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
  }
}

static void
physnn_trainer_finalize (GObject *object)
{
  PhysnnTrainer *self = PHYSNN_TRAINER (object);
  g_ptr_array_unref (self->terms);
  for (guint i = 0; i < self->n_coords; i++)
    g_free (self->coord_names[i]);
  g_clear_object (&self->loss);
  g_clear_object (&self->model);
  g_array_unref (self->hist);
  g_rand_free (self->rand);
  g_free (self->domain_text);
  g_free (self->pde_text);
  g_free (self->stop_reason);
  g_free (self->summary);
  G_OBJECT_CLASS (physnn_trainer_parent_class)->finalize (object);
}

static void
physnn_trainer_class_init (PhysnnTrainerClass *klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GParamFlags f =
      G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS;
  oc->set_property = physnn_trainer_set_property;
  oc->get_property = physnn_trainer_get_property;
  oc->finalize = physnn_trainer_finalize;

  g_object_class_install_property (oc, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed",
          "Seed of every random draw "
          "(collocation points, batches); default 0",
          0, G_MAXUINT64, 0, f));
  g_object_class_install_property (oc, PROP_SAMPLING,
      g_param_spec_enum ("sampling", "Sampling",
          "How collocation points "
          "are drawn; default uniform",
          PHYSNN_TYPE_SAMPLING, PHYSNN_SAMPLING_UNIFORM, f));
  g_object_class_install_property (oc, PROP_RESAMPLE,
      g_param_spec_uint ("resample-every", "Resample every",
          "Adam iterations between fresh collocation points and batches; "
          "0 keeps the first draw; default 1",
          0, G_MAXUINT, 1, f));
  g_object_class_install_property (oc, PROP_ADAM,
      g_param_spec_uint ("adam-iterations", "Adam iterations",
          "Adam steps; default 1000", 0, G_MAXUINT, 1000, f));
  g_object_class_install_property (oc, PROP_LR,
      g_param_spec_double ("learning-rate", "Learning rate",
          "Adam's step size; default 0.001", 0, G_MAXDOUBLE, 1e-3, f));
  g_object_class_install_property (oc, PROP_LBFGS,
      g_param_spec_uint ("lbfgs-iterations", "L-BFGS iterations",
          "L-BFGS iterations per round after Adam, on a fixed set of "
          "points; default 0 (none)",
          0, G_MAXUINT, 0, f));
  g_object_class_install_property (oc, PROP_LBFGS_ROUNDS,
      g_param_spec_uint ("lbfgs-rounds", "L-BFGS rounds",
          "L-BFGS rounds; with adaptive sampling each round "
          "adds the worst residual points of a pool; default 1",
          1, 1000, 1, f));
  g_object_class_install_property (oc, PROP_LBFGS_SCALE,
      g_param_spec_double ("lbfgs-points-scale", "L-BFGS points scale",
          "Points of the fixed L-BFGS set per term, relative to the term's "
          "Adam points; default 2",
          0.01, 1000, 2.0, f));
  g_object_class_install_property (oc, PROP_LBFGS_HISTORY,
      g_param_spec_uint ("lbfgs-history", "L-BFGS history",
          "L-BFGS correction pairs; default 50", 1, 1000, 50, f));
  g_object_class_install_property (oc, PROP_PROGRESS,
      g_param_spec_uint ("progress-interval", "Progress interval",
          "Iterations between progress signals; default 10", 1, G_MAXUINT, 10,
          f));
  g_object_class_install_property (oc, PROP_LR_FINAL,
      g_param_spec_double ("learning-rate-final", "Final learning rate",
          "Adam's step size at the last iteration, reached by exponential "
          "decay from learning-rate (PyTorch's ExponentialLR with gamma = "
          "(final/initial)^(1/iterations)); 0 keeps it constant; default 0",
          0, G_MAXDOUBLE, 0, f));
  g_object_class_install_property (oc, PROP_REFINE_POINTS,
      g_param_spec_uint ("refine-points", "Refinement points",
          "Points added by residual to each PDE term's L-BFGS set before "
          "every round; with adaptive sampling 0 means an eighth of the set, "
          "with other sampling a non-zero value turns refinement on alone; "
          "default 0",
          0, G_MAXUINT, 0, f));
  g_object_class_install_property (oc, PROP_REFINE_POOL,
      g_param_spec_uint ("refine-pool", "Refinement pool",
          "Refinement: uniform candidates the added points are picked "
          "from, by residual; 0 means 5 times the set; default 0",
          0, G_MAXUINT, 0, f));
  g_object_class_install_property (oc, PROP_REFINEMENT,
      g_param_spec_enum ("refinement", "Refinement",
          "Refinement: how the added points are picked from the pool: the "
          "largest residuals, or a draw weighted by residual²; default "
          "largest",
          PHYSNN_TYPE_REFINEMENT, PHYSNN_REFINEMENT_LARGEST, f));

  /**
   * PhysnnTrainer::progress:
   * @trainer: the trainer
   * @iteration: iterations done (Adam, then L-BFGS)
   * @planned: iterations planned (L-BFGS may stop earlier)
   * @phase: "adam" or "lbfgs"
   * @loss: the loss at this iteration
   *
   * Emitted every #PhysnnTrainer:progress-interval iterations and at the
   * end of each phase, in the thread that runs physnn_trainer_train().
   */
  signals[SIGNAL_PROGRESS] = g_signal_new ("progress",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 4, G_TYPE_UINT, G_TYPE_UINT, G_TYPE_STRING, G_TYPE_DOUBLE);
}

static void
physnn_trainer_init (PhysnnTrainer *self)
{
  self->terms = g_ptr_array_new_with_free_func ((GDestroyNotify)tterm_free);
  self->hist = g_array_new (FALSE, FALSE, sizeof (gdouble));
  self->rand = g_rand_new_with_seed (0);
  self->final_loss = NAN;
}

/* ------------------------------------------------------------------------ */
/* A new network */

static const gchar *
activation_op (const gchar *a)
{
  static const gchar *ok[][2] = {
    { "tanh", "Tanh" },
    { "sin", "Sin" },
    { "sigmoid", "Sigmoid" },
    { "softplus", "Softplus" },
    { "relu", "Relu" },
    { "swish", "swish" },
    { "silu", "swish" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (ok); i++)
    if (g_ascii_strcasecmp (a, ok[i][0]) == 0)
      return ok[i][1];
  return NULL;
}

static void
add_node (PhysnnOnnxModel *m, const gchar *op, const gchar *name,
    const gchar *a, const gchar *b, const gchar *c, const gchar *out)
{
  PhysnnOnnxNode *n = physnn_onnx_node_new (op, name);
  g_ptr_array_add (n->inputs, g_strdup (a));
  if (b)
    g_ptr_array_add (n->inputs, g_strdup (b));
  if (c)
    g_ptr_array_add (n->inputs, g_strdup (c));
  g_ptr_array_add (n->outputs, g_strdup (out));
  if (strcmp (op, "Gemm") == 0) {
    PhysnnOnnxAttribute *at =
        physnn_onnx_attribute_new ("transB", PHYSNN_ONNX_ATTR_INT);
    at->i = 1;
    g_ptr_array_add (n->attributes, at);
  }
  g_ptr_array_add (m->nodes, n);
}

static void
add_int_constant (PhysnnOnnxModel *m, const gchar *name, gint64 v)
{
  gsize shape[1] = { 1 };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_INT64, 1, shape);
  physnn_tensor_set_value (t, 0, (gdouble)v);
  g_autofree gchar *nn = g_strconcat (name, "_node", NULL);
  PhysnnOnnxNode *n = physnn_onnx_node_new ("Constant", nn);
  PhysnnOnnxAttribute *at =
      physnn_onnx_attribute_new ("value", PHYSNN_ONNX_ATTR_TENSOR);
  at->t = t;
  g_ptr_array_add (n->attributes, at);
  g_ptr_array_add (n->outputs, g_strdup (name));
  g_ptr_array_add (m->nodes, n);
}

static void
add_initializer (PhysnnOnnxModel *m, const gchar *name, PhysnnTensor *t)
{
  g_ptr_array_add (m->initializer_names, g_strdup (name));
  g_hash_table_insert (m->initializers, g_strdup (name), t);
}

typedef struct {
  GStrv coords;
  const gchar *net;
  GHashTable *slices; /* coord -> value name */
  PhysnnOnnxModel *m;
} AnsatzCtx;

static const gchar *
ansatz_resolve (gpointer user, const gchar *sym)
{
  AnsatzCtx *a = user;
  if (strcmp (sym, "N") == 0)
    return a->net;
  for (guint i = 0; a->coords[i]; i++) {
    if (strcmp (sym, a->coords[i]) != 0)
      continue;
    const gchar *have = g_hash_table_lookup (a->slices, sym);
    if (have)
      return have;
    gchar *out = g_strdup_printf ("coord_%s", sym);
    g_autofree gchar *s = g_strdup_printf ("%s_start", out);
    g_autofree gchar *e = g_strdup_printf ("%s_end", out);
    g_autofree gchar *ax = g_strdup_printf ("%s_axis", out);
    g_autofree gchar *nn = g_strdup_printf ("%s_slice", out);
    add_int_constant (a->m, s, i);
    add_int_constant (a->m, e, i + 1);
    add_int_constant (a->m, ax, 1);
    PhysnnOnnxNode *n = physnn_onnx_node_new ("Slice", nn);
    g_ptr_array_add (n->inputs, g_strdup ("coords"));
    g_ptr_array_add (n->inputs, g_strdup (s));
    g_ptr_array_add (n->inputs, g_strdup (e));
    g_ptr_array_add (n->inputs, g_strdup (ax));
    g_ptr_array_add (n->outputs, g_strdup (out));
    g_ptr_array_add (a->m->nodes, n);
    g_hash_table_insert (a->slices, g_strdup (sym), out);
    return out;
  }
  return NULL;
}

static gboolean parse_number (const gchar *s, gdouble *v);

/* A float32 tensor [1, d] as a Constant node (not an initializer: not a
 * trainable parameter). */
static void
add_row_constant (
    PhysnnOnnxModel *m, const gchar *name, const gdouble *v, guint d)
{
  gsize shape[2] = { 1, d };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  for (guint i = 0; i < d; i++)
    physnn_tensor_set_value (t, i, v[i]);
  g_autofree gchar *nn = g_strconcat (name, "_node", NULL);
  PhysnnOnnxNode *n = physnn_onnx_node_new ("Constant", nn);
  PhysnnOnnxAttribute *at =
      physnn_onnx_attribute_new ("value", PHYSNN_ONNX_ATTR_TENSOR);
  at->t = t;
  g_ptr_array_add (n->attributes, at);
  g_ptr_array_add (n->outputs, g_strdup (name));
  g_ptr_array_add (m->nodes, n);
}

/* "x=lo:hi,t=lo:hi" -> the affine map of each coordinate onto [-1, 1]. */
static gboolean
input_scaling (const gchar *domain, GStrv cn, guint d, gdouble *scale,
    gdouble *shift, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (domain, ",", -1);
  guint seen = 0;
  for (guint i = 0; parts[i]; i++) {
    g_auto (GStrv) kv = g_strsplit (parts[i], "=", 2);
    g_auto (GStrv) r = kv[0] && kv[1] ? g_strsplit (kv[1], ":", 2) : NULL;
    gdouble lo, hi;
    if (r == NULL || r[0] == NULL || r[1] == NULL ||
        !parse_number (r[0], &lo) || !parse_number (r[1], &hi)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "domain \"%s\": \"%s\" is not NAME=MIN:MAX", domain, parts[i]);
      return FALSE;
    }
    gint c = -1;
    for (guint j = 0; j < d; j++)
      if (strcmp (cn[j], g_strstrip (kv[0])) == 0)
        c = (gint)j;
    if (c < 0 || !(lo < hi)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "domain \"%s\": %s", domain,
          c < 0 ? "names a coordinate the network does not have"
                : "has an empty range");
      return FALSE;
    }
    scale[c] = 2.0 / (hi - lo);
    shift[c] = -(hi + lo) / (hi - lo);
    seen |= 1u << c;
  }
  if (seen != (1u << d) - 1) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "domain \"%s\" does not give the range of every coordinate", domain);
    return FALSE;
  }
  return TRUE;
}

static gboolean
valid_name (const gchar *s)
{
  if (!g_ascii_isalpha (*s))
    return FALSE;
  for (const gchar *p = s; *p; p++)
    if (!g_ascii_isalnum (*p))
      return FALSE;
  return TRUE;
}

/**
 * physnn_model_new_mlp:
 * @coords: coordinate names, e.g. "x,t": the columns of the input "coords"
 * @outputs: output component names, e.g. "u" or "u,v"
 * @hidden: hidden layer widths, e.g. "32,32,32"
 * @activation: tanh, sin, sigmoid, softplus, swish (silu) or relu
 * @ansatz: (nullable): a hard-constraint form of the single output, as for
 *   physnn_model_new_mlp_full()
 * @seed: seed of the initial weights
 * @error: return location for a #GError
 *
 * physnn_model_new_mlp_full() without input scaling.
 *
 * Returns: (transfer full): the model, or %NULL with @error set
 */
PhysnnModel *
physnn_model_new_mlp (const gchar *coords, const gchar *outputs,
    const gchar *hidden, const gchar *activation, const gchar *ansatz,
    guint64 seed, GError **error)
{
  return physnn_model_new_mlp_full (
      coords, outputs, hidden, activation, ansatz, NULL, seed, error);
}

/**
 * physnn_model_new_mlp_full:
 * @coords: coordinate names, e.g. "x,t": the columns of the input "coords"
 * @outputs: output component names, e.g. "u" or "u,v"
 * @hidden: hidden layer widths, e.g. "32,32,32"
 * @activation: tanh, sin, sigmoid, softplus, swish (silu) or relu
 * @ansatz: (nullable): a hard-constraint form of the single output in the
 *   coordinates and N, the network's output, e.g. "sin(pi*x) +
 *   t*x*(1-x)*N" (u = sin(πx) at t = 0 and u = 0 at x = 0 and 1 whatever
 *   N is), or %NULL for u = N
 * @domain: (nullable): a box such as "x=-1:1,t=0:1": the network then sees
 *   every coordinate mapped linearly onto [-1, 1] (a fixed Mul and Add
 *   before the first layer, as Raissi et al. scale their inputs); %NULL
 *   for the raw coordinates
 * @seed: seed of the initial weights
 * @error: return location for a #GError
 *
 * Creates a fully connected network as an ONNX graph (Gemm layers; the
 * ansatz, if any, as ONNX ops after them). Weights and biases are drawn
 * uniformly from ±1/√fan-in, PyTorch's default for nn.Linear.
 *
 * Returns: (transfer full): the model, or %NULL with @error set
 */
PhysnnModel *
physnn_model_new_mlp_full (const gchar *coords, const gchar *outputs,
    const gchar *hidden, const gchar *activation, const gchar *ansatz,
    const gchar *domain, guint64 seed, GError **error)
{
  g_return_val_if_fail (coords && outputs && hidden && activation, NULL);
  g_auto (GStrv) cn = g_strsplit (coords, ",", -1);
  g_auto (GStrv) on = g_strsplit (outputs, ",", -1);
  g_auto (GStrv) hn = g_strsplit (hidden, ",", -1);
  guint d = g_strv_length (cn), k = g_strv_length (on), L = 0;
  gint64 widths[66];
  const gchar *act = activation_op (activation);

  for (guint i = 0; i < d; i++)
    g_strstrip (cn[i]);
  for (guint i = 0; i < k; i++)
    g_strstrip (on[i]);
  if (d == 0 || d > MAX_COORDS || k == 0 || k > 64) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "a network needs 1 to %d coordinates and 1 to 64 outputs (got \"%s\" "
        "and \"%s\")",
        MAX_COORDS, coords, outputs);
    return NULL;
  }
  for (guint i = 0; i < d + k; i++) {
    const gchar *nm = i < d ? cn[i] : on[i - d];
    if (!valid_name (nm) || strcmp (nm, "N") == 0 || strcmp (nm, "pi") == 0) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "\"%s\" is not a usable name (letters and digits, starting with a "
          "letter; not N or pi)",
          nm);
      return NULL;
    }
    for (guint j = 0; j < i; j++)
      if (strcmp (nm, j < d ? cn[j] : on[j - d]) == 0) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
            "\"%s\" is named twice", nm);
        return NULL;
      }
  }
  if (act == NULL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "activation \"%s\" is not one of tanh, sin, sigmoid, softplus, swish, "
        "relu",
        activation);
    return NULL;
  }
  widths[L++] = d;
  for (guint i = 0; hn[i]; i++) {
    gchar *end = NULL;
    gint64 w = g_ascii_strtoll (g_strstrip (hn[i]), &end, 10);
    if (*hn[i] == '\0' && hn[1] == NULL && i == 0)
      break; /* no hidden layers */
    if (end == hn[i] || *end || w < 1 || w > 4096 || L > 64) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "hidden layers \"%s\": expected up to 64 widths of 1 to 4096, "
          "comma separated",
          hidden);
      return NULL;
    }
    widths[L++] = w;
  }
  widths[L++] = k;
  if (ansatz && k != 1) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "an ansatz is supported for one output; the network has %u", k);
    return NULL;
  }

  gdouble scale[MAX_COORDS], shift[MAX_COORDS];
  if (domain && !input_scaling (domain, cn, d, scale, shift, error))
    return NULL;

  g_autoptr (PhysnnOnnxModel) m = physnn_onnx_model_new ();
  GRand *rand = g_rand_new_with_seed ((guint32)(seed ^ (seed >> 32)));
  m->ir_version = 8;
  m->opset = 13;
  m->producer_name = g_strdup ("physnn");
  m->producer_version = g_strdup (PHYSNN_VERSION_STRING);
  m->graph_name = g_strdup ("pinn");
  gint64 in_dims[2] = { -1, d };
  PhysnnOnnxValueInfo *vi =
      physnn_onnx_value_info_new ("coords", PHYSNN_DTYPE_FLOAT32, 2, in_dims);
  vi->dim_params[0] = g_strdup ("points");
  g_ptr_array_add (m->inputs, vi);

  g_autofree gchar *h = g_strdup ("coords");
  if (domain) {
    add_row_constant (m, "input_scale", scale, d);
    add_row_constant (m, "input_shift", shift, d);
    add_node (m, "Mul", "input_scaling", "coords", "input_scale", NULL,
        "coords_times_scale");
    add_node (m, "Add", "input_shifting", "coords_times_scale", "input_shift",
        NULL, "coords_scaled");
    g_free (h);
    h = g_strdup ("coords_scaled");
  }
  const gchar *out_name = k == 1 ? on[0] : "fields";
  for (guint l = 0; l + 1 < L; l++) {
    gsize ws[2] = { (gsize)widths[l + 1], (gsize)widths[l] };
    gsize bs[1] = { (gsize)widths[l + 1] };
    PhysnnTensor *W = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, ws);
    PhysnnTensor *B = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, bs);
    gdouble bound = 1.0 / sqrt ((gdouble)widths[l]);
    for (gsize i = 0; i < ws[0] * ws[1]; i++)
      physnn_tensor_set_value (W, i, g_rand_double_range (rand, -bound, bound));
    for (gsize i = 0; i < bs[0]; i++)
      physnn_tensor_set_value (B, i, g_rand_double_range (rand, -bound, bound));
    g_autofree gchar *wn = g_strdup_printf ("layers.%u.weight", l);
    g_autofree gchar *bn = g_strdup_printf ("layers.%u.bias", l);
    g_autofree gchar *gn = g_strdup_printf ("layer%u", l);
    gboolean last = l + 2 == L;
    g_autofree gchar *pre = last ? g_strdup (ansatz ? "net" : out_name)
                                 : g_strdup_printf ("layer%u_pre", l);
    add_initializer (m, wn, W);
    add_initializer (m, bn, B);
    add_node (m, "Gemm", gn, h, wn, bn, pre);
    g_free (h);
    if (last) {
      h = g_strdup (pre);
      break;
    }
    h = g_strdup_printf ("layer%u_act", l);
    g_autofree gchar *an = g_strdup_printf ("layer%u_%s", l, act);
    if (strcmp (act, "swish") == 0) {
      g_autofree gchar *sg = g_strdup_printf ("layer%u_sig", l);
      g_autofree gchar *sn = g_strdup_printf ("layer%u_sigmoid", l);
      add_node (m, "Sigmoid", sn, pre, NULL, NULL, sg);
      add_node (m, "Mul", an, pre, sg, NULL, h);
    } else {
      add_node (m, act, an, pre, NULL, NULL, h);
    }
  }
  g_rand_free (rand);

  if (ansatz) {
    /* the PDE language's grammar and messages; one expression, no '=' */
    g_autoptr (PhysnnPde) pde = physnn_pde_new (ansatz, error);
    if (pde == NULL) {
      g_prefix_error (error, "ansatz: ");
      return NULL;
    }
    g_autofree gchar *canon = physnn_pde_get_equation (pde, 0);
    if (physnn_pde_get_n_equations (pde) != 1 || strchr (canon, '=')) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "ansatz \"%s\": one expression for the output in terms of the "
          "coordinates and N, without '=' or ';'",
          ansatz);
      return NULL;
    }
    g_autoptr (PhysnnRx) rx = _physnn_rx_parse (canon, error);
    if (rx == NULL)
      return NULL;
    AnsatzCtx a = { cn, "net",
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free), m };
    g_autofree gchar *res =
        _physnn_rx_to_onnx (rx, m, "ansatz_", ansatz_resolve, &a, error);
    g_hash_table_unref (a.slices);
    if (res == NULL)
      return NULL;
    /* the result gets the output's name */
    PhysnnOnnxNode *id = physnn_onnx_node_new ("Identity", "output");
    g_ptr_array_add (id->inputs, g_strdup (res));
    g_ptr_array_add (id->outputs, g_strdup (out_name));
    g_ptr_array_add (m->nodes, id);
  }
  gint64 out_dims[2] = { -1, k };
  vi = physnn_onnx_value_info_new (out_name, PHYSNN_DTYPE_FLOAT32, 2, out_dims);
  vi->dim_params[0] = g_strdup ("points");
  g_ptr_array_add (m->outputs, vi);

  g_hash_table_insert (
      m->metadata, g_strdup ("physnn.coords"), g_strjoinv (",", cn));
  g_hash_table_insert (
      m->metadata, g_strdup ("physnn.coords_input"), g_strdup ("coords"));
  g_hash_table_insert (
      m->metadata, g_strdup ("physnn.outputs"), g_strjoinv (",", on));
  GString *desc = g_string_new (NULL);
  g_string_append_printf (desc, "MLP %" G_GINT64_FORMAT, widths[0]);
  for (guint l = 1; l < L; l++)
    g_string_append_printf (desc, "-%" G_GINT64_FORMAT, widths[l]);
  g_string_append_printf (desc, " %s", activation);
  if (domain)
    g_string_append_printf (
        desc, " on inputs scaled to [-1,1] from %s", domain);
  if (ansatz)
    g_string_append_printf (desc, ", %s = %s", on[0], ansatz);
  g_hash_table_insert (m->metadata, g_strdup ("physnn.description"),
      g_string_free (desc, FALSE));

  g_autoptr (GBytes) bytes = physnn_onnx_model_serialize (m, error);
  if (bytes == NULL)
    return NULL;
  return physnn_model_new_from_bytes (bytes, "new network", error);
}

/* ------------------------------------------------------------------------ */
/* Setup */

/**
 * physnn_trainer_new:
 * @model: the model to train; it is never modified (the trainer trains a
 *   copy of its parameters)
 * @error: return location for a #GError
 *
 * Returns: (transfer full): a trainer, or %NULL with @error set
 */
PhysnnTrainer *
physnn_trainer_new (PhysnnModel *model, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (model), NULL);
  PhysnnLoss *loss = physnn_loss_new (model, error);
  if (loss == NULL)
    return NULL;
  PhysnnTrainer *self = g_object_new (PHYSNN_TYPE_TRAINER, NULL);
  self->model = g_object_ref (model);
  self->loss = loss;

  const gchar *cin = physnn_model_get_coordinate_input (model);
  g_auto (GStrv) cn =
      g_strsplit (physnn_model_get_coordinate_names (model), ",", -1);
  for (guint i = 0; cn[i] && *cn[i] && i < MAX_COORDS; i++) {
    self->coord_names[self->n_coords] = g_strdup (cn[i]);
    self->coord_input[self->n_coords] =
        physnn_model_find_input (model, cin ? cin : cn[i]);
    self->coord_column[self->n_coords] = cin ? (gint)i : -1;
    self->n_coords++;
  }
  return self;
}

/**
 * physnn_trainer_get_loss:
 * @self: a #PhysnnTrainer
 *
 * Returns: (transfer none): the loss the trainer minimises (its terms,
 *   parameters and gradients)
 */
PhysnnLoss *
physnn_trainer_get_loss (PhysnnTrainer *self)
{
  g_return_val_if_fail (PHYSNN_IS_TRAINER (self), NULL);
  return self->loss;
}

static gint
coord_index (PhysnnTrainer *self, const gchar *name)
{
  for (guint i = 0; i < self->n_coords; i++)
    if (strcmp (self->coord_names[i], name) == 0)
      return (gint)i;
  return -1;
}

static gchar *
coord_list (PhysnnTrainer *self)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < self->n_coords; i++)
    g_string_append_printf (s, "%s%s", i ? "," : "", self->coord_names[i]);
  return g_string_free (s, FALSE);
}

static gboolean
parse_number (const gchar *s, gdouble *v)
{
  gchar *end = NULL;
  g_autofree gchar *t = g_strstrip (g_strdup (s));
  if (strcmp (t, "pi") == 0 || strcmp (t, "-pi") == 0) {
    *v = t[0] == '-' ? -G_PI : G_PI;
    return TRUE;
  }
  *v = g_ascii_strtod (t, &end);
  return end != t && *end == '\0' && isfinite (*v);
}

/**
 * physnn_trainer_set_domain:
 * @self: a #PhysnnTrainer
 * @domain: the box of every coordinate, e.g. "x=0:1,t=0:1"
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success; an unknown coordinate, a missing one or an
 *   empty range (min >= max) is an error
 */
gboolean
physnn_trainer_set_domain (
    PhysnnTrainer *self, const gchar *domain, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_TRAINER (self), FALSE);
  g_return_val_if_fail (domain != NULL, FALSE);
  g_auto (GStrv) parts = g_strsplit (domain, ",", -1);
  gboolean seen[MAX_COORDS] = { 0 };
  gdouble lo[MAX_COORDS], hi[MAX_COORDS];
  g_autofree gchar *cl = coord_list (self);

  if (self->n_coords == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "%s: the model has no coordinate input to sample a domain for",
        physnn_model_get_path (self->model));
    return FALSE;
  }
  for (guint i = 0; parts[i]; i++) {
    g_auto (GStrv) kv = g_strsplit (parts[i], "=", 2);
    g_auto (GStrv) r = kv[0] && kv[1] ? g_strsplit (kv[1], ":", 2) : NULL;
    if (r == NULL || r[0] == NULL || r[1] == NULL) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "domain \"%s\": \"%s\" is not NAME=MIN:MAX", domain, parts[i]);
      return FALSE;
    }
    gint c = coord_index (self, g_strstrip (kv[0]));
    if (c < 0) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "domain \"%s\": \"%s\" is not a coordinate of the model "
          "(coordinates: %s)",
          domain, kv[0], cl);
      return FALSE;
    }
    if (!parse_number (r[0], &lo[c]) || !parse_number (r[1], &hi[c])) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "domain \"%s\": the range of %s is not two numbers", domain, kv[0]);
      return FALSE;
    }
    if (!(lo[c] < hi[c])) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "domain \"%s\": the range of %s is empty (%g to %g)", domain, kv[0],
          lo[c], hi[c]);
      return FALSE;
    }
    seen[c] = TRUE;
  }
  for (guint c = 0; c < self->n_coords; c++)
    if (!seen[c]) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "domain \"%s\" gives no range for %s (coordinates: %s)", domain,
          self->coord_names[c], cl);
      return FALSE;
    }
  memcpy (self->lo, lo, sizeof lo);
  memcpy (self->hi, hi, sizeof hi);
  self->have_domain = TRUE;
  g_free (self->domain_text);
  self->domain_text = g_strdup (domain);
  return TRUE;
}

static gboolean
need_domain (PhysnnTrainer *self, GError **error)
{
  if (self->have_domain)
    return TRUE;
  const gchar *meta = physnn_model_get_metadata (self->model, "physnn.domain");
  if (meta)
    return physnn_trainer_set_domain (self, meta, error);
  g_autofree gchar *cl = coord_list (self);
  g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
      "no domain: set one for the coordinates %s (e.g. \"x=0:1,t=0:1\")", cl);
  return FALSE;
}

/**
 * physnn_trainer_define:
 * @self: a #PhysnnTrainer
 * @name: a constant's name, e.g. "nu"
 * @value: its value
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_trainer_define (
    PhysnnTrainer *self, const gchar *name, gdouble value, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_TRAINER (self), FALSE);
  return physnn_loss_define (self->loss, name, value, error);
}

/* Model inputs holding n points (rows of pts, one column per coordinate). */
static PhysnnTensor **
make_inputs (PhysnnTrainer *self, const gdouble *pts, gsize n, guint *n_in,
    GError **error)
{
  guint ni = physnn_model_get_n_inputs (self->model);
  PhysnnTensor **in = g_new0 (PhysnnTensor *, ni);
  *n_in = ni;
  for (guint i = 0; i < ni; i++) {
    guint cols = 0;
    for (guint c = 0; c < self->n_coords; c++)
      if (self->coord_input[c] == (gint)i)
        cols++;
    if (cols == 0) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "%s: input \"%s\" is not a coordinate; physics terms can only be "
          "sampled for models whose inputs are all coordinates",
          physnn_model_get_path (self->model),
          physnn_model_get_input_name (self->model, i));
      for (guint j = 0; j < i; j++)
        g_object_unref (in[j]);
      g_free (in);
      return NULL;
    }
    gsize shape[2] = { n, cols };
    in[i] = physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, 2, shape);
    gdouble *d = _physnn_tensor_host (in[i], PHYSNN_ACCESS_WRITE);
    for (guint c = 0; c < self->n_coords; c++) {
      if (self->coord_input[c] != (gint)i)
        continue;
      guint col = self->coord_column[c] < 0 ? 0 : (guint)self->coord_column[c];
      for (gsize p = 0; p < n; p++)
        d[p * cols + col] = pts[p * self->n_coords + c];
    }
  }
  return in;
}

static void
free_inputs (PhysnnTensor **in, guint n)
{
  for (guint i = 0; in && i < n; i++)
    g_clear_object (&in[i]);
  g_free (in);
}

/* n points in the box with the coordinates of `faces` fixed, one face per
 * point in turn (n / faces each). */
static gdouble *
sample_points (PhysnnTrainer *self, gsize n, GArray *faces, PhysnnSampling how)
{
  guint d = self->n_coords;
  gdouble *pts = g_new (gdouble, MAX (n * d, 1));
  g_autofree guint *perm = g_new (guint, MAX (n, 1));
  for (guint c = 0; c < d; c++) {
    gdouble lo = self->lo[c], hi = self->hi[c];
    if (how == PHYSNN_SAMPLING_LATIN_HYPERCUBE) {
      for (gsize i = 0; i < n; i++)
        perm[i] = (guint)i;
      for (gsize i = n; i > 1; i--) {
        gsize j = (gsize)g_rand_int_range (self->rand, 0, (gint32)i);
        guint t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
      }
      for (gsize i = 0; i < n; i++)
        pts[i * d + c] =
            lo + (hi - lo) * (perm[i] + g_rand_double (self->rand)) / n;
    } else {
      for (gsize i = 0; i < n; i++)
        pts[i * d + c] = lo + (hi - lo) * g_rand_double (self->rand);
    }
  }
  if (faces && faces->len)
    for (gsize i = 0; i < n; i++) {
      Face *f = &g_array_index (faces, Face, i % faces->len);
      pts[i * d + f->coord] = f->value;
    }
  return pts;
}

/* Residual-adaptive draw (RAD): a uniform pool of `pool` points, n of them
 * taken with probability ∝ |r| / mean |r| + 1. */
static gdouble *
sample_adaptive (
    PhysnnTrainer *self, TTerm *t, gsize n, gsize pool, GError **error)
{
  guint d = self->n_coords, ni;
  g_autofree gdouble *cand =
      sample_points (self, pool, NULL, PHYSNN_SAMPLING_UNIFORM);
  PhysnnTensor **in = make_inputs (self, cand, pool, &ni, error);
  if (in == NULL)
    return NULL;
  g_autofree gdouble *r2 = g_new0 (gdouble, pool);
  gboolean ok =
      _physnn_loss_residual_sq (self->loss, (guint)t->term, in, ni, r2, error);
  free_inputs (in, ni);
  if (!ok)
    return NULL;
  gdouble mean = 0;
  for (gsize i = 0; i < pool; i++) {
    r2[i] = isfinite (r2[i]) ? sqrt (r2[i]) : 0;
    mean += r2[i] / pool;
  }
  g_autofree gdouble *cdf = g_new (gdouble, pool);
  gdouble acc = 0;
  for (gsize i = 0; i < pool; i++) {
    acc += (mean > 0 ? r2[i] / mean : 0) + 1;
    cdf[i] = acc;
  }
  gdouble *pts = g_new (gdouble, n * d);
  for (gsize k = 0; k < n; k++) {
    gdouble u = g_rand_double (self->rand) * acc;
    gsize lo = 0, hi = pool - 1;
    while (lo < hi) {
      gsize mid = (lo + hi) / 2;
      if (cdf[mid] < u)
        lo = mid + 1;
      else
        hi = mid;
    }
    memcpy (pts + k * d, cand + lo * d, d * sizeof (gdouble));
  }
  return pts;
}

/* Gives term t freshly drawn points (n of them). */
static gboolean
resample_term (PhysnnTrainer *self, TTerm *t, gsize n, GError **error)
{
  if (t->kind == T_DATA) {
    if (t->batch == 0 || t->batch >= t->rows)
      return TRUE; /* full batch: set once */
    g_autofree gsize *idx = g_new (gsize, t->rows);
    for (gsize i = 0; i < t->rows; i++)
      idx[i] = i;
    for (gsize i = 0; i < t->batch; i++) {
      gsize j = i + (gsize)g_rand_double_range (self->rand, 0, t->rows - i);
      j = MIN (j, t->rows - 1);
      gsize tmp = idx[i];
      idx[i] = idx[j];
      idx[j] = tmp;
    }
    PhysnnTensor **in = g_new0 (PhysnnTensor *, t->n_data);
    gboolean ok;
    for (guint k = 0; k < t->n_data; k++) {
      guint rank;
      const gsize *shape = physnn_tensor_get_shape (t->data[k], &rank);
      if (rank == 0 || shape[0] != t->rows) {
        in[k] = g_object_ref (t->data[k]);
        continue;
      }
      gsize s[PHYSNN_MAX_RANK],
          row = physnn_tensor_get_n_elements (t->data[k]) / t->rows,
          es = physnn_dtype_get_size (physnn_tensor_get_dtype (t->data[k]));
      memcpy (s, shape, rank * sizeof (gsize));
      s[0] = t->batch;
      in[k] = physnn_tensor_new (physnn_tensor_get_dtype (t->data[k]), rank, s);
      const guint8 *src = _physnn_tensor_host (t->data[k], PHYSNN_ACCESS_READ);
      guint8 *dst = _physnn_tensor_host (in[k], PHYSNN_ACCESS_WRITE);
      for (gsize i = 0; i < t->batch; i++)
        memcpy (dst + i * row * es, src + idx[i] * row * es, row * es);
    }
    /* the target rows follow the same indices */
    guint rank;
    const gsize *ts = physnn_tensor_get_shape (t->target, &rank);
    gsize s[PHYSNN_MAX_RANK],
        row = physnn_tensor_get_n_elements (t->target) / t->rows,
        es = physnn_dtype_get_size (physnn_tensor_get_dtype (t->target));
    memcpy (s, ts, rank * sizeof (gsize));
    s[0] = t->batch;
    g_autoptr (PhysnnTensor) tb =
        physnn_tensor_new (physnn_tensor_get_dtype (t->target), rank, s);
    const guint8 *src = _physnn_tensor_host (t->target, PHYSNN_ACCESS_READ);
    guint8 *dst = _physnn_tensor_host (tb, PHYSNN_ACCESS_WRITE);
    for (gsize i = 0; i < t->batch; i++)
      memcpy (dst + i * row * es, src + idx[i] * row * es, row * es);
    ok = _physnn_loss_set_term_data (
        self->loss, (guint)t->term, in, t->n_data, tb, error);
    free_inputs (in, t->n_data);
    return ok;
  }
  g_autofree gdouble *pts = NULL;
  if (t->kind == T_PDE && self->sampling == PHYSNN_SAMPLING_ADAPTIVE &&
      t->term >= 0)
    pts = sample_adaptive (self, t, n, 4 * n, error);
  else
    pts = sample_points (self, n, t->faces,
        self->sampling == PHYSNN_SAMPLING_ADAPTIVE ? PHYSNN_SAMPLING_UNIFORM
                                                   : self->sampling);
  if (pts == NULL)
    return FALSE;
  guint ni;
  PhysnnTensor **in = make_inputs (self, pts, n, &ni, error);
  if (in == NULL)
    return FALSE;
  gboolean ok;
  if (t->term < 0) {
    t->term = physnn_loss_add_residual (
        self->loss, t->name, t->expr, in, ni, 1.0, error);
    ok = t->term >= 0;
  } else {
    ok =
        physnn_loss_set_term_inputs (self->loss, (guint)t->term, in, ni, error);
  }
  free_inputs (in, ni);
  return ok;
}

static gint
add_physics (PhysnnTrainer *self, TKind kind, const gchar *name,
    const gchar *expr, GArray *faces, guint n_points, gdouble weight,
    GError **error)
{
  if (n_points == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "\"%s\": a term needs at least one point", expr);
    return -1;
  }
  TTerm *t = g_new0 (TTerm, 1);
  t->kind = kind;
  t->name = g_strdup (name);
  t->expr = g_strdup (expr);
  t->n_points = n_points;
  t->faces = faces ? g_array_ref (faces) : NULL;
  t->term = -1;
  /* the first draw is always uniform (adaptive needs a term to rank by) */
  PhysnnSampling keep = self->sampling;
  if (keep == PHYSNN_SAMPLING_ADAPTIVE)
    self->sampling = PHYSNN_SAMPLING_UNIFORM;
  gboolean ok = resample_term (self, t, n_points, error);
  self->sampling = keep;
  if (!ok) {
    tterm_free (t);
    return -1;
  }
  physnn_loss_set_term_weight (self->loss, (guint)t->term, weight);
  g_ptr_array_add (self->terms, t);
  return t->term;
}

/**
 * physnn_trainer_add_pde:
 * @self: a #PhysnnTrainer
 * @pde: the residual, e.g. "u_t - 0.1*u_xx" (several equations: ';')
 * @n_points: collocation points in the domain per Adam iteration
 * @weight: the term's factor
 * @error: return location for a #GError
 *
 * Adds the mean squared residual at collocation points drawn in the
 * domain (physnn_trainer_set_domain(), or the model's "physnn.domain"
 * metadata). A residual the model cannot provide (an unknown output, a
 * derivative by something that is not a coordinate) is an error naming it.
 *
 * Returns: the loss term's index, or -1 with @error set
 */
gint
physnn_trainer_add_pde (PhysnnTrainer *self, const gchar *pde, guint n_points,
    gdouble weight, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_TRAINER (self), -1);
  g_return_val_if_fail (pde != NULL, -1);
  if (!need_domain (self, error))
    return -1;
  gint r = add_physics (self, T_PDE, "pde", pde, NULL, n_points, weight, error);
  if (r >= 0 && self->pde_text == NULL)
    self->pde_text = g_strdup (pde);
  return r;
}

/**
 * physnn_trainer_add_condition:
 * @self: a #PhysnnTrainer
 * @where: faces of the domain: "t=0" (an initial condition), "x=0|x=1"
 *   (both ends); each value must lie in the coordinate's range
 * @expression: the residual there, e.g. "u - sin(pi*x)" or "u_x" (Neumann)
 * @n_points: points per Adam iteration, spread over the faces
 * @weight: the term's factor
 * @error: return location for a #GError
 *
 * Returns: the loss term's index, or -1 with @error set
 */
gint
physnn_trainer_add_condition (PhysnnTrainer *self, const gchar *where,
    const gchar *expression, guint n_points, gdouble weight, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_TRAINER (self), -1);
  g_return_val_if_fail (where != NULL && expression != NULL, -1);
  if (!need_domain (self, error))
    return -1;
  g_auto (GStrv) fs = g_strsplit (where, "|", -1);
  g_autoptr (GArray) faces = g_array_new (FALSE, FALSE, sizeof (Face));
  g_autofree gchar *cl = coord_list (self);
  for (guint i = 0; fs[i]; i++) {
    g_auto (GStrv) kv = g_strsplit (fs[i], "=", 2);
    Face f;
    gint c = kv[0] && kv[1] ? coord_index (self, g_strstrip (kv[0])) : -1;
    if (kv[0] == NULL || kv[1] == NULL) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "condition at \"%s\": \"%s\" is not COORDINATE=VALUE", where, fs[i]);
      return -1;
    }
    if (c < 0) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "condition at \"%s\": \"%s\" is not a coordinate (coordinates: %s)",
          where, kv[0], cl);
      return -1;
    }
    if (!parse_number (kv[1], &f.value)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "condition at \"%s\": \"%s\" is not a number", where, kv[1]);
      return -1;
    }
    gdouble tol = 1e-12 * (fabs (self->lo[c]) + fabs (self->hi[c]) + 1);
    if (f.value < self->lo[c] - tol || f.value > self->hi[c] + tol) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "condition at \"%s\": %s=%g lies outside the domain (%g to %g)",
          where, kv[0], f.value, self->lo[c], self->hi[c]);
      return -1;
    }
    f.coord = (guint)c;
    g_array_append_val (faces, f);
  }
  g_autofree gchar *name = g_strdup (where);
  g_strdelimit (name, " ", '_');
  return add_physics (
      self, T_CONDITION, name, expression, faces, n_points, weight, error);
}

/**
 * physnn_trainer_add_data:
 * @self: a #PhysnnTrainer
 * @inputs: (array length=n_inputs): one tensor per model input, one row
 *   per sample
 * @n_inputs: the number of inputs
 * @output: the model output compared with @target
 * @target: targets (MSE) or class indices (cross-entropy), one row per
 *   sample
 * @kind: the loss
 * @batch: samples per Adam iteration (a fresh random batch as often as
 *   #PhysnnTrainer:resample-every says); 0 for all; L-BFGS always uses all
 * @weight: the term's factor
 * @error: return location for a #GError
 *
 * Returns: the loss term's index, or -1 with @error set
 */
gint
physnn_trainer_add_data (PhysnnTrainer *self, PhysnnTensor **inputs,
    guint n_inputs, guint output, PhysnnTensor *target, PhysnnDataLoss kind,
    guint batch, gdouble weight, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_TRAINER (self), -1);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (target), -1);
  guint rank;
  const gsize *ts = physnn_tensor_get_shape (target, &rank);
  gsize rows = rank ? ts[0] : 1;
  for (guint i = 0; i < n_inputs; i++) {
    guint r;
    const gsize *s = physnn_tensor_get_shape (inputs[i], &r);
    if (r > 0 && s[0] != rows && s[0] != 1) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "data: input %u has %" G_GSIZE_FORMAT
          " rows, the targets %" G_GSIZE_FORMAT,
          i, s[0], rows);
      return -1;
    }
  }
  gint term = kind == PHYSNN_DATA_LOSS_MSE
                  ? physnn_loss_add_mse (self->loss, "data", inputs, n_inputs,
                        output, target, weight, error)
                  : physnn_loss_add_cross_entropy (self->loss, "data", inputs,
                        n_inputs, output, target, weight, error);
  if (term < 0)
    return -1;
  TTerm *t = g_new0 (TTerm, 1);
  t->kind = T_DATA;
  t->term = term;
  t->name = g_strdup ("data");
  t->rows = rows;
  t->batch = batch;
  t->output = output;
  t->loss = kind;
  t->n_data = n_inputs;
  t->data = g_new0 (PhysnnTensor *, MAX (n_inputs, 1));
  for (guint i = 0; i < n_inputs; i++)
    t->data[i] = g_object_ref (inputs[i]);
  t->target = g_object_ref (target);
  g_ptr_array_add (self->terms, t);
  return term;
}

/* ------------------------------------------------------------------------ */
/* Training */

static void
record (PhysnnTrainer *self, guint iteration, gdouble total)
{
  guint nt = physnn_loss_get_n_terms (self->loss);
  gdouble it = iteration;
  self->hist_cols = 2 + nt;
  g_array_append_val (self->hist, it);
  g_array_append_val (self->hist, total);
  for (guint i = 0; i < nt; i++) {
    gdouble v = physnn_loss_get_term_value (self->loss, i);
    g_array_append_val (self->hist, v);
  }
}

static gboolean
all_finite (const gdouble *g, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (!isfinite (g[i]))
      return FALSE;
  return TRUE;
}

static gchar *
term_report (PhysnnTrainer *self)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < physnn_loss_get_n_terms (self->loss); i++)
    g_string_append_printf (s, "%s%s = %g", i ? ", " : "",
        physnn_loss_get_term_name (self->loss, i),
        physnn_loss_get_term_value (self->loss, i));
  return g_string_free (s, FALSE);
}

static gboolean
resample_all (PhysnnTrainer *self, gdouble scale, GError **error)
{
  for (guint i = 0; i < self->terms->len; i++) {
    TTerm *t = g_ptr_array_index (self->terms, i);
    gsize n = (gsize)MAX (1, llround (t->n_points * scale));
    if (!resample_term (self, t, n, error))
      return FALSE;
  }
  return TRUE;
}

/* The data terms get all their rows (L-BFGS). */
static gboolean
full_data (PhysnnTrainer *self, GError **error)
{
  for (guint i = 0; i < self->terms->len; i++) {
    TTerm *t = g_ptr_array_index (self->terms, i);
    if (t->kind == T_DATA && t->batch && t->batch < t->rows &&
        !_physnn_loss_set_term_data (
            self->loss, (guint)t->term, t->data, t->n_data, t->target, error))
      return FALSE;
  }
  return TRUE;
}

typedef struct {
  PhysnnTrainer *self;
  GCancellable *cancellable;
  guint base, planned;
  gboolean cancelled;
  gdouble last_f;
} LbfgsCtx;

static gboolean
lbfgs_objective (
    gpointer user, const gdouble *x, gdouble *f, gdouble *g, GError **error)
{
  LbfgsCtx *c = user;
  return _physnn_loss_eval (c->self->loss, x, f, g, error);
}

static gboolean
lbfgs_iteration (gpointer user, guint iteration, gdouble f, const gdouble *x,
    const gdouble *g)
{
  LbfgsCtx *c = user;
  PhysnnTrainer *self = c->self;
  gsize n = physnn_loss_get_n_parameters (self->loss);
  /* The term values are those of the last evaluation, which may be a
   * rejected line-search trial: re-evaluating for the record would cost a
   * forward pass per iteration, so record the total only then. */
  memcpy (_physnn_loss_peek_parameters (self->loss), x, n * sizeof (gdouble));
  record (self, c->base + iteration, f);
  self->lbfgs_done++;
  c->last_f = f;
  if ((c->base + iteration) % self->progress_interval == 0)
    g_signal_emit (self, signals[SIGNAL_PROGRESS], 0, c->base + iteration,
        c->planned, "lbfgs", f);
  if (g_cancellable_is_cancelled (c->cancellable)) {
    c->cancelled = TRUE;
    return FALSE;
  }
  return TRUE;
}

static gboolean
run_adam (PhysnnTrainer *self, GCancellable *cancellable, guint planned,
    GError **error)
{
  gsize n = physnn_loss_get_n_parameters (self->loss);
  gdouble *x = _physnn_loss_peek_parameters (self->loss);
  g_autofree gdouble *g = g_new0 (gdouble, n);
  g_autofree gdouble *good = g_memdup2 (x, n * sizeof (gdouble));
  g_autoptr (PhysnnAdam) adam = physnn_adam_new (self->learning_rate);
  gdouble good_f = NAN;
  /* exponential decay: the first step at learning-rate, the last at
   * learning-rate-final */
  gboolean decay = self->learning_rate_final > 0 &&
                   self->learning_rate_final != self->learning_rate;
  gdouble log_ratio =
      decay ? log (self->learning_rate_final / self->learning_rate) /
                  MAX (self->adam_iterations - 1, 1)
            : 0;

  for (guint it = 1; it <= self->adam_iterations; it++) {
    gdouble f;
    if (decay)
      g_object_set (adam, "learning-rate",
          self->learning_rate * exp (log_ratio * (it - 1)), NULL);
    if (it > 1 && self->resample_every &&
        (it - 1) % self->resample_every == 0 &&
        !resample_all (self, 1.0, error))
      return FALSE;
    if (!_physnn_loss_eval (self->loss, x, &f, g, error))
      return FALSE;
    if (!isfinite (f) || !all_finite (g, n)) {
      g_autofree gchar *terms = term_report (self);
      memcpy (x, good, n * sizeof (gdouble));
      if (it == 1)
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
            "the loss is not finite at the initial weights (%s); nothing "
            "was trained",
            terms);
      else
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
            "training stopped at Adam iteration %u: the loss or its gradient "
            "is not finite (%s); the weights of iteration %u (loss %g) are "
            "kept",
            it, terms, it - 1, good_f);
      g_free (self->stop_reason);
      self->stop_reason = g_strdup ("the loss became NaN or infinite");
      return FALSE;
    }
    record (self, it, f);
    self->adam_done = it;
    memcpy (good, x, n * sizeof (gdouble));
    good_f = f;
    _physnn_adam_update (adam, x, g, n);
    if (it % self->progress_interval == 0 || it == self->adam_iterations)
      g_signal_emit (self, signals[SIGNAL_PROGRESS], 0, it, planned, "adam", f);
    if (g_cancellable_set_error_if_cancelled (cancellable, error)) {
      memcpy (x, good, n * sizeof (gdouble));
      return FALSE;
    }
  }
  /* Adam's last update was not evaluated: a NaN there must not leak into
   * the result. */
  gdouble f;
  if (self->adam_iterations &&
      _physnn_loss_eval (self->loss, x, &f, NULL, NULL) && !isfinite (f))
    memcpy (x, good, n * sizeof (gdouble));
  return TRUE;
}

/* Residual-based refinement before an L-BFGS round: points of a uniform
 * pool join the PDE terms' fixed sets — by default the largest residuals
 * (the set grows where the PDE is worst satisfied), or a draw weighted by
 * the squared residual, which also keeps some points elsewhere. */
static gboolean
refine (PhysnnTrainer *self, gdouble scale, GError **error)
{
  for (guint i = 0; i < self->terms->len; i++) {
    TTerm *t = g_ptr_array_index (self->terms, i);
    if (t->kind != T_PDE)
      continue;
    gsize base = (gsize)MAX (1, llround (t->n_points * scale));
    gsize add = self->refine_points ? self->refine_points : MAX (base / 8, 1);
    gsize pool = self->refine_pool ? self->refine_pool : 5 * base;
    add = MIN (add, pool);
    guint d = self->n_coords, ni;
    g_autofree gdouble *cand =
        sample_points (self, pool, NULL, PHYSNN_SAMPLING_UNIFORM);
    PhysnnTensor **in = make_inputs (self, cand, pool, &ni, error);
    if (in == NULL)
      return FALSE;
    g_autofree gdouble *r2 = g_new0 (gdouble, pool);
    gboolean ok = _physnn_loss_residual_sq (
        self->loss, (guint)t->term, in, ni, r2, error);
    free_inputs (in, ni);
    if (!ok)
      return FALSE;
    /* the `add` largest residuals, or a weighted draw without replacement
     * (Efraimidis–Spirakis: the `add` largest keys log(u) / w with u
     * uniform in (0, 1] are such a draw, w = r² / mean r² + 1) */
    if (self->refinement == PHYSNN_REFINEMENT_DRAW) {
      gdouble mean = 0;
      for (gsize k = 0; k < pool; k++) {
        if (!isfinite (r2[k]))
          r2[k] = 0;
        mean += r2[k] / pool;
      }
      for (gsize k = 0; k < pool; k++) {
        gdouble w = (mean > 0 ? r2[k] / mean : 0) + 1;
        gdouble u = 1.0 - g_rand_double (self->rand);   /* (0, 1] */
        r2[k] = log (u) / w;
      }
    }
    g_autofree gsize *idx = g_new (gsize, pool);
    for (gsize k = 0; k < pool; k++)
      idx[k] = k;
    for (gsize k = 0; k < add; k++) {
      gsize best = k;
      for (gsize j = k + 1; j < pool; j++)
        if (r2[idx[j]] > r2[idx[best]])
          best = j;
      gsize tmp = idx[k];
      idx[k] = idx[best];
      idx[best] = tmp;
    }
    /* current points + the worst ones */
    guint nc;
    PhysnnTensor **cur =
        _physnn_loss_get_term_inputs (self->loss, (guint)t->term, &nc);
    gsize have = physnn_tensor_get_dim (cur[0], 0);
    g_autofree gdouble *pts = g_new (gdouble, (have + add) * d);
    for (guint c = 0; c < d; c++) {
      PhysnnTensor *src = cur[self->coord_input[c]];
      gsize cols = physnn_tensor_get_n_elements (src) / have;
      guint col = self->coord_column[c] < 0 ? 0 : (guint)self->coord_column[c];
      for (gsize p = 0; p < have; p++)
        pts[p * d + c] = physnn_tensor_get_value (src, p * cols + col);
    }
    for (gsize k = 0; k < add; k++)
      memcpy (pts + (have + k) * d, cand + idx[k] * d, d * sizeof (gdouble));
    in = make_inputs (self, pts, have + add, &ni, error);
    if (in == NULL)
      return FALSE;
    ok =
        physnn_loss_set_term_inputs (self->loss, (guint)t->term, in, ni, error);
    free_inputs (in, ni);
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

/**
 * physnn_trainer_train:
 * @self: a #PhysnnTrainer
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Runs Adam (#PhysnnTrainer:adam-iterations steps, fresh points every
 * #PhysnnTrainer:resample-every steps), then #PhysnnTrainer:lbfgs-rounds
 * rounds of L-BFGS on fixed points. If the loss or its gradient becomes
 * NaN or infinite, training stops with a %PHYSNN_ERROR_NUMERIC error and
 * the weights of the last iteration with a finite loss are kept (save them
 * with physnn_trainer_save()).
 *
 * Returns: %TRUE when training ran to the end
 */
gboolean
physnn_trainer_train (
    PhysnnTrainer *self, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_TRAINER (self), FALSE);
  gint64 t0 = g_get_monotonic_time ();
  gboolean ok = TRUE;
  guint planned = self->adam_iterations +
                  self->lbfgs_iterations *
                      (self->lbfgs_iterations ? self->lbfgs_rounds : 0);

  if (self->terms->len == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "nothing to train on: add a PDE, a condition or data");
    return FALSE;
  }
  g_rand_set_seed (self->rand, (guint32)(self->seed ^ (self->seed >> 32)));
  g_array_set_size (self->hist, 0);
  self->adam_done = self->lbfgs_done = 0;
  g_clear_pointer (&self->stop_reason, g_free);

  if (self->adam_iterations) {
    if (!resample_all (self, 1.0, error))
      ok = FALSE;
    else
      ok = run_adam (self, cancellable, planned, error);
  }
  for (guint r = 0; ok && self->lbfgs_iterations && r < self->lbfgs_rounds;
       r++) {
    if (r == 0)
      ok = resample_all (self, self->lbfgs_points_scale, error) &&
           full_data (self, error);
    /* refinement comes with adaptive sampling, or alone when asked for
     * (uniform Adam points, as PyTorch's Burgers script draws them) */
    if (ok && (self->sampling == PHYSNN_SAMPLING_ADAPTIVE ||
                  self->refine_points > 0))
      ok = refine (self, self->lbfgs_points_scale, error);
    if (!ok)
      break;
    g_autoptr (PhysnnLbfgs) lb =
        g_object_new (PHYSNN_TYPE_LBFGS, "max-iterations",
            self->lbfgs_iterations, "history-size", self->lbfgs_history, NULL);
    gsize n = physnn_loss_get_n_parameters (self->loss);
    g_autofree gdouble *x = g_memdup2 (
        _physnn_loss_peek_parameters (self->loss), n * sizeof (gdouble));
    LbfgsCtx c = { self, cancellable, self->adam_done + self->lbfgs_done,
      planned, FALSE, NAN };
    const gchar *why = NULL;
    guint iters;
    gdouble f;
    GError *local = NULL;
    if (!_physnn_lbfgs_run (lb, x, n, lbfgs_objective, lbfgs_iteration, &c,
            &iters, &f, &why, &local)) {
      if (local->code == PHYSNN_ERROR_NUMERIC) {
        g_autofree gchar *terms = term_report (self);
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
            "training stopped at the start of L-BFGS round %u: %s (%s); the "
            "weights after Adam are kept",
            r + 1, local->message, terms);
        g_error_free (local);
        g_free (self->stop_reason);
        self->stop_reason = g_strdup ("the loss became NaN or infinite");
      } else {
        g_propagate_error (error, local);
      }
      ok = FALSE;
      break;
    }
    memcpy (_physnn_loss_peek_parameters (self->loss), x, n * sizeof (gdouble));
    g_free (self->stop_reason);
    self->stop_reason = g_strdup (why);
    g_signal_emit (self, signals[SIGNAL_PROGRESS], 0,
        self->adam_done + self->lbfgs_done, planned, "lbfgs", f);
    if (c.cancelled) {
      g_cancellable_set_error_if_cancelled (cancellable, error);
      ok = FALSE;
    }
  }
  if (ok && self->stop_reason == NULL)
    self->stop_reason = g_strdup ("Adam iterations done");
  /* final loss and term values at the kept weights */
  gdouble f = NAN;
  _physnn_loss_eval (self->loss, NULL, &f, NULL, NULL);
  self->final_loss = f;
  self->elapsed = (g_get_monotonic_time () - t0) / 1e6;
  return ok;
}

/* ------------------------------------------------------------------------ */
/* Results */

/**
 * physnn_trainer_get_iterations:
 * @self: a #PhysnnTrainer
 *
 * Returns: Adam steps plus L-BFGS iterations done by the last training
 */
guint
physnn_trainer_get_iterations (PhysnnTrainer *self)
{
  g_return_val_if_fail (PHYSNN_IS_TRAINER (self), 0);
  return self->adam_done + self->lbfgs_done;
}

/**
 * physnn_trainer_get_elapsed:
 * @self: a #PhysnnTrainer
 *
 * Returns: the wall-clock seconds of the last training
 */
gdouble
physnn_trainer_get_elapsed (PhysnnTrainer *self)
{
  g_return_val_if_fail (PHYSNN_IS_TRAINER (self), 0);
  return self->elapsed;
}

/**
 * physnn_trainer_get_final_loss:
 * @self: a #PhysnnTrainer
 *
 * Returns: the loss at the kept weights after the last training (on the
 *   last set of points)
 */
gdouble
physnn_trainer_get_final_loss (PhysnnTrainer *self)
{
  g_return_val_if_fail (PHYSNN_IS_TRAINER (self), NAN);
  return self->final_loss;
}

/**
 * physnn_trainer_get_stop_reason:
 * @self: a #PhysnnTrainer
 *
 * Returns: (nullable): why the last training stopped
 */
const gchar *
physnn_trainer_get_stop_reason (PhysnnTrainer *self)
{
  g_return_val_if_fail (PHYSNN_IS_TRAINER (self), NULL);
  return self->stop_reason;
}

/**
 * physnn_trainer_get_history:
 * @self: a #PhysnnTrainer
 *
 * Returns: (transfer full) (nullable): float64 [iterations, 2 + terms]: the
 *   iteration, the loss, and each term's weighted value (L-BFGS rows hold
 *   the term values of the last evaluation, possibly a line-search trial);
 *   %NULL before training
 */
PhysnnTensor *
physnn_trainer_get_history (PhysnnTrainer *self)
{
  g_return_val_if_fail (PHYSNN_IS_TRAINER (self), NULL);
  if (self->hist->len == 0)
    return NULL;
  gsize shape[2] = { self->hist->len / self->hist_cols, self->hist_cols };
  return physnn_tensor_new_from_doubles (PHYSNN_DTYPE_FLOAT64, 2, shape,
      (const gdouble *)self->hist->data, self->hist->len, NULL);
}

/* The input model with the trained weights, as an ONNX data model. */
static PhysnnOnnxModel *
trained_onnx (PhysnnTrainer *self, GError **error)
{
  const PhysnnOnnxModel *src = _physnn_model_get_onnx (self->model);
  g_autoptr (GBytes) bytes = physnn_onnx_model_serialize (src, error);
  if (bytes == NULL)
    return NULL;
  PhysnnOnnxModel *m =
      physnn_onnx_model_load_from_bytes (bytes, "(copy)", error);
  if (m == NULL)
    return NULL;
  const gdouble *x = _physnn_loss_peek_parameters (self->loss);
  for (guint p = 0; p < physnn_loss_get_n_tensors (self->loss); p++) {
    const gchar *name = physnn_loss_get_tensor_name (self->loss, p);
    PhysnnTensor *old = g_hash_table_lookup (m->initializers, name);
    if (old == NULL)
      continue;
    guint rank;
    const gsize *shape = physnn_tensor_get_shape (old, &rank);
    gsize off = physnn_loss_get_tensor_offset (self->loss, p);
    gsize size = physnn_loss_get_tensor_size (self->loss, p);
    g_autoptr (PhysnnTensor) t64 = physnn_tensor_new_from_doubles (
        PHYSNN_DTYPE_FLOAT64, rank, shape, x + off, size, NULL);
    PhysnnTensor *t =
        physnn_tensor_convert (t64, physnn_tensor_get_dtype (old));
    g_hash_table_insert (m->initializers, g_strdup (name), t);
  }
  if (self->pde_text && !g_hash_table_contains (m->metadata, "physnn.pde"))
    g_hash_table_insert (
        m->metadata, g_strdup ("physnn.pde"), g_strdup (self->pde_text));
  if (self->domain_text)
    g_hash_table_insert (
        m->metadata, g_strdup ("physnn.domain"), g_strdup (self->domain_text));
  g_autofree gchar *terms = term_report (self);
  g_hash_table_insert (m->metadata, g_strdup ("physnn.training"),
      g_strdup_printf ("physnn %s: %u Adam steps (lr %g), %u L-BFGS "
                       "iterations; sampling %s, seed %" G_GUINT64_FORMAT
                       "; final loss %g "
                       "(%s); %.1f s",
          PHYSNN_VERSION_STRING, self->adam_done, self->learning_rate,
          self->lbfgs_done,
          self->sampling == PHYSNN_SAMPLING_UNIFORM ? "uniform"
          : self->sampling == PHYSNN_SAMPLING_LATIN_HYPERCUBE
              ? "latin-hypercube"
              : "adaptive",
          self->seed, self->final_loss, terms, self->elapsed));
  return m;
}

static gboolean
same_file (const gchar *a, const gchar *b)
{
  GStatBuf sa, sb;
  if (g_stat (a, &sa) != 0 || g_stat (b, &sb) != 0)
    return FALSE;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/**
 * physnn_trainer_save:
 * @self: a #PhysnnTrainer
 * @path: the ONNX file to write (through a temporary file and a rename)
 * @error: return location for a #GError
 *
 * Writes the model with the trained weights (in the initializers' own
 * types), the PDE and domain, and a "physnn.training" summary in the
 * metadata. Refuses to overwrite the file the model was loaded from.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_trainer_save (PhysnnTrainer *self, const gchar *path, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_TRAINER (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  const gchar *src = physnn_model_get_path (self->model);
  if (src && same_file (src, path)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "%s is the input model; write the trained model to another file", path);
    return FALSE;
  }
  g_autoptr (PhysnnOnnxModel) m = trained_onnx (self, error);
  return m && physnn_onnx_model_save (m, path, error);
}

/**
 * physnn_trainer_dup_model:
 * @self: a #PhysnnTrainer
 * @error: return location for a #GError
 *
 * Returns: (transfer full): a new model with the trained weights, or %NULL
 *   with @error set
 */
PhysnnModel *
physnn_trainer_dup_model (PhysnnTrainer *self, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_TRAINER (self), NULL);
  g_autoptr (PhysnnOnnxModel) m = trained_onnx (self, error);
  if (m == NULL)
    return NULL;
  g_autoptr (GBytes) bytes = physnn_onnx_model_serialize (m, error);
  if (bytes == NULL)
    return NULL;
  PhysnnModel *model =
      physnn_model_new_from_bytes (bytes, "trained model", error);
  if (model) {
    const gchar *names[2] = { physnn_model_get_coordinate_input (self->model),
      physnn_model_get_coordinate_names (self->model) };
    if (*names[1])
      physnn_model_set_coordinates (model, names[0], names[1], NULL);
    physnn_model_set_output_names (
        model, physnn_model_get_output_names (self->model), NULL);
  }
  return model;
}

/**
 * physnn_trainer_write_loss_plot:
 * @self: a #PhysnnTrainer
 * @path: a PNG file to write
 * @error: return location for a #GError
 *
 * Plots the loss and each term against the iteration on a logarithmic
 * scale, with a marker where L-BFGS took over.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_trainer_write_loss_plot (
    PhysnnTrainer *self, const gchar *path, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_TRAINER (self), FALSE);
  gsize rows = self->hist_cols ? self->hist->len / self->hist_cols : 0;
  if (rows == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "no training history to plot");
    return FALSE;
  }
  guint nt = self->hist_cols - 2, ns = 1 + (nt > 1 ? nt : 0);
  const gdouble *h = (const gdouble *)self->hist->data;
  g_autofree gdouble *xs = g_new (gdouble, rows);
  g_autofree gdouble *ys = g_new (gdouble, rows * ns);
  g_autofree PhysnnPlotSeries *s = g_new0 (PhysnnPlotSeries, ns);
  g_autoptr (GPtrArray) labels = g_ptr_array_new_with_free_func (g_free);
  for (gsize r = 0; r < rows; r++) {
    xs[r] = h[r * self->hist_cols];
    for (guint k = 0; k < ns; k++)
      ys[k * rows + r] = h[r * self->hist_cols + 1 + k];
  }
  for (guint k = 0; k < ns; k++) {
    s[k].x = xs;
    s[k].y = ys + k * rows;
    s[k].n = rows;
    gchar *l = k == 0 ? g_strdup ("loss")
                      : g_strdup_printf ("%s",
                            physnn_loss_get_term_name (self->loss, k - 1));
    g_ptr_array_add (labels, l);
    s[k].label = l;
  }
  /* per-term values of L-BFGS rows may be line-search trials: plot terms
   * over the Adam phase only */
  for (guint k = 1; k < ns; k++)
    s[k].n = MIN (rows, self->adam_done);
  gdouble vline = self->adam_done + 0.5;
  const gchar *vl[] = { "L-BFGS" };
  g_autofree gchar *title = g_strdup_printf ("physnn train%s%s",
      self->pde_text ? ": " : "", self->pde_text ? self->pde_text : "");
  PhysnnPlotStyle st = { title, "iteration", "loss", FALSE, TRUE, &vline, vl,
    self->lbfgs_done && self->adam_done ? 1 : 0, 0, 0 };
  return _physnn_plot_png (path, &st, s, ns, error);
}
