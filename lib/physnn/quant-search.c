/* physnn — PhysnnQuantSearch: per-layer sensitivities and the search for
 * per-layer precisions.
 *
 * Sensitivity (per layer l and precision p, Δw = dequantized − float weights
 * of that layer alone):
 *   measured  the objective's loss change when only l is quantized to p
 *             (the quantized model is run);
 *   gradient  |gᵀΔw| with the exact gradient g at the float weights;
 *   hessian   ½ΔwᵀHΔw from one Hessian-vector product;
 *   hawq      Tr(H_ll)/n_l · ‖Δw‖², Tr from Hutchinson probes (HAWQ-V3).
 * Scores are normalised to 0..1 by the largest magnitude of each measure;
 * each proxy's Spearman rank correlation with the measured change says how
 * well it ranks the layers.
 *
 * Search: NSGA-II (Deb et al. 2002) over the precision of every layer that
 * is not pinned. Objectives: the loss (evaluated by running the quantized
 * model, never estimated) and a cost (exact bytes, or bit-operations under a
 * hardware profile). Constraints (average weight bits, bytes, loss
 * increase) enter through constrained domination: a feasible plan dominates
 * an infeasible one, infeasible plans compare by their violation. Every
 * evaluated plan is kept; the reported front is the non-dominated set of the
 * feasible ones. A GRand seeded by the user makes runs repeatable.
 *
 * The sensitivity-greedy baseline lowers, one step at a time, the layer
 * whose measured single-layer loss change per byte saved is smallest, and
 * evaluates each plan on the way.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/quant-private.h"
#include "physnn/error.h"
#include "physnn/grad.h"
#include "physnn/plot-private.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#define N_KINDS 4
#define N_PREC 4

typedef struct {
  const gchar *name;
  const gchar *description;
  guint compute_bits[N_PREC]; /* arithmetic width per weight precision */
  gboolean low_precision_math;
} Profile;

static const Profile profiles[] = {
  { "generic", "arithmetic at the weight precision (bit-ops scale with bits)",
      { 32, 16, 8, 4 }, TRUE },
  { "polaris",
      "AMD Polaris (RX 580, GCN4): 256 GB/s, 6.17 TFLOPS fp32, "
      "wavefront 64; no packed fp16 or int8 math, so low precision saves "
      "bytes and bandwidth but not arithmetic",
      { 32, 32, 32, 32 }, FALSE },
  { "h100",
      "NVIDIA H100: tensor cores at fp16, int8 (and int4 through "
      "int8 kernels)",
      { 32, 16, 8, 8 }, TRUE },
};

typedef struct {
  guint8 *g; /* precision per layer */
  gdouble loss, accuracy, bits, cost, violation;
  guint64 bytes, bitops;
  guint rank;
  gdouble crowd;
} Individual;

struct _PhysnnQuantSearch {
  GObject parent;
  PhysnnQuantPlan *base;
  PhysnnQuantObjective *objective;
  guint n_layers;
  guint64 seed;
  guint population, generations;
  gdouble target_bits;
  guint64 max_bytes;
  gdouble max_increase;
  const Profile *hw;
  PhysnnQuantCost cost;
  gboolean allowed[N_PREC];
  guint hutchinson_samples;

  gboolean have_sens;
  gdouble *sens[N_KINDS]; /* [layer * N_PREC + precision], raw */
  gdouble sens_max[N_KINDS];

  GHashTable *cache;    /* genome key -> Individual* */
  GPtrArray *archive;   /* Individual*, owned, evaluation order */
  GPtrArray *front;     /* borrowed, by cost */
  GPtrArray *front_all; /* borrowed: ignoring the constraints */
  GPtrArray *greedy;    /* borrowed, path order */
  gboolean ran_nsga;
};

G_DEFINE_FINAL_TYPE (PhysnnQuantSearch, physnn_quant_search, G_TYPE_OBJECT)

enum { SIGNAL_PROGRESS, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
individual_free (Individual *ind)
{
  g_free (ind->g);
  g_free (ind);
}

static void
physnn_quant_search_finalize (GObject *object)
{
  PhysnnQuantSearch *self = PHYSNN_QUANT_SEARCH (object);
  g_clear_object (&self->base);
  g_clear_object (&self->objective);
  for (guint k = 0; k < N_KINDS; k++)
    g_free (self->sens[k]);
  g_hash_table_unref (self->cache);
  g_ptr_array_unref (self->front);
  g_ptr_array_unref (self->front_all);
  g_ptr_array_unref (self->greedy);
  g_ptr_array_unref (self->archive);
  G_OBJECT_CLASS (physnn_quant_search_parent_class)->finalize (object);
}

static void
physnn_quant_search_class_init (PhysnnQuantSearchClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = physnn_quant_search_finalize;
  /**
   * PhysnnQuantSearch::progress:
   * @search: the search
   * @stage: "sensitivity", "nsga2" or "greedy"
   * @done: steps done
   * @total: steps in all
   * @best_loss: the lowest loss of a plan meeting the constraints so far
   *   (NaN if none yet)
   *
   * Emitted after every generation (NSGA-II), layer (sensitivity) or step
   * (greedy), in the thread that runs the search.
   */
  signals[SIGNAL_PROGRESS] = g_signal_new ("progress",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 4, G_TYPE_STRING, G_TYPE_UINT, G_TYPE_UINT, G_TYPE_DOUBLE);
}

static void
physnn_quant_search_init (PhysnnQuantSearch *self)
{
  self->seed = 1;
  self->population = 24;
  self->generations = 20;
  self->max_increase = -1;
  self->hw = &profiles[0];
  self->cost = PHYSNN_QUANT_COST_BYTES;
  for (guint p = 0; p < N_PREC; p++)
    self->allowed[p] = TRUE;
  self->hutchinson_samples = 16;
  self->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->archive =
      g_ptr_array_new_with_free_func ((GDestroyNotify)individual_free);
  self->front = g_ptr_array_new ();
  self->front_all = g_ptr_array_new ();
  self->greedy = g_ptr_array_new ();
}

/**
 * physnn_quant_search_new:
 * @base: the plan whose settings (granularity, symmetry, calibration,
 *   pinned layers, activation ranges) every candidate shares
 * @objective: the loss candidates are evaluated by, for the same model
 * @error: return location for a #GError
 *
 * Returns: (transfer full): a search, or %NULL with @error set
 */
PhysnnQuantSearch *
physnn_quant_search_new (
    PhysnnQuantPlan *base, PhysnnQuantObjective *objective, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (base), NULL);
  g_return_val_if_fail (PHYSNN_IS_QUANT_OBJECTIVE (objective), NULL);
  if (physnn_quant_plan_get_model (base) !=
      physnn_quant_objective_get_model (objective)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "the plan and the objective are for different models");
    return NULL;
  }
  PhysnnQuantSearch *self = g_object_new (PHYSNN_TYPE_QUANT_SEARCH, NULL);
  self->base = physnn_quant_plan_copy (base);
  self->objective = g_object_ref (objective);
  self->n_layers = physnn_quant_plan_get_n_layers (base);
  return self;
}

/**
 * physnn_quant_search_set_seed:
 * @self: a #PhysnnQuantSearch
 * @seed: the random seed (default 1); equal seeds give equal results
 */
void
physnn_quant_search_set_seed (PhysnnQuantSearch *self, guint64 seed)
{
  g_return_if_fail (PHYSNN_IS_QUANT_SEARCH (self));
  self->seed = seed;
}

/**
 * physnn_quant_search_set_population:
 * @self: a #PhysnnQuantSearch
 * @population: plans per generation (default 24, at least 4; rounded up to
 *   an even number)
 * @generations: generations (default 20, at least 1)
 */
void
physnn_quant_search_set_population (
    PhysnnQuantSearch *self, guint population, guint generations)
{
  g_return_if_fail (PHYSNN_IS_QUANT_SEARCH (self));
  population = MAX (population, 4);
  self->population = population + (population & 1);
  self->generations = MAX (generations, 1);
}

/**
 * physnn_quant_search_set_hutchinson_samples:
 * @self: a #PhysnnQuantSearch
 * @samples: Hutchinson probes for the HAWQ traces (default 16, at least 2)
 */
void
physnn_quant_search_set_hutchinson_samples (
    PhysnnQuantSearch *self, guint samples)
{
  g_return_if_fail (PHYSNN_IS_QUANT_SEARCH (self));
  self->hutchinson_samples = MAX (samples, 2);
}

/**
 * physnn_quant_search_set_target_bits:
 * @self: a #PhysnnQuantSearch
 * @bits: the largest average bits per weight a plan may have (weighted by
 *   layer sizes), in [4, 32]; 0 for no limit
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_search_set_target_bits (
    PhysnnQuantSearch *self, gdouble bits, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), FALSE);
  if (bits != 0 && !(bits >= 4 && bits <= 32)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "target of %g average bits per weight is impossible: precisions "
        "range from 4 (int4) to 32 (fp32) bits",
        bits);
    return FALSE;
  }
  self->target_bits = bits;
  return TRUE;
}

/**
 * physnn_quant_search_set_max_bytes:
 * @self: a #PhysnnQuantSearch
 * @bytes: the largest model size in bytes a plan may have; 0 for no limit
 */
void
physnn_quant_search_set_max_bytes (PhysnnQuantSearch *self, guint64 bytes)
{
  g_return_if_fail (PHYSNN_IS_QUANT_SEARCH (self));
  self->max_bytes = bytes;
}

/**
 * physnn_quant_search_set_max_loss_increase:
 * @self: a #PhysnnQuantSearch
 * @increase: the largest relative loss increase over the float model a plan
 *   may have (0.1 = +10 %); negative for no limit (default)
 */
void
physnn_quant_search_set_max_loss_increase (
    PhysnnQuantSearch *self, gdouble increase)
{
  g_return_if_fail (PHYSNN_IS_QUANT_SEARCH (self));
  self->max_increase = increase;
}

static gchar *
profile_names (void)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (profiles); i++)
    g_string_append_printf (s, "%s%s", i ? ", " : "", profiles[i].name);
  return g_string_free (s, FALSE);
}

static gboolean
check_cost (PhysnnQuantSearch *self, GError **error)
{
  if (self->cost == PHYSNN_QUANT_COST_BITOPS && !self->hw->low_precision_math) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "the %s profile has no low-precision arithmetic, so bit-operations "
        "do not depend on the precision there; use the bytes cost",
        self->hw->name);
    return FALSE;
  }
  return TRUE;
}

/**
 * physnn_quant_search_set_hardware:
 * @self: a #PhysnnQuantSearch
 * @profile: "generic" (default), "polaris" or "h100"
 * @error: return location for a #GError
 *
 * The profile sets the arithmetic width of each precision for the bit-ops
 * cost. On Polaris every precision computes at fp32 (no packed fp16 or int8
 * math): low precision saves bytes and bandwidth only, so only the bytes
 * cost is meaningful there.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_search_set_hardware (
    PhysnnQuantSearch *self, const gchar *profile, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), FALSE);
  for (guint i = 0; profile && i < G_N_ELEMENTS (profiles); i++)
    if (g_ascii_strcasecmp (profile, profiles[i].name) == 0) {
      const Profile *old = self->hw;
      self->hw = &profiles[i];
      if (!check_cost (self, error)) {
        self->hw = old;
        return FALSE;
      }
      return TRUE;
    }
  g_autofree gchar *names = profile_names ();
  g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
      "unknown hardware profile \"%s\" (known: %s)",
      profile ? profile : "(null)", names);
  return FALSE;
}

/**
 * physnn_quant_search_set_cost:
 * @self: a #PhysnnQuantSearch
 * @cost: the second objective (default: bytes)
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success; bit-ops under a profile without low-precision
 *   arithmetic (polaris) is an error
 */
gboolean
physnn_quant_search_set_cost (
    PhysnnQuantSearch *self, PhysnnQuantCost cost, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), FALSE);
  PhysnnQuantCost old = self->cost;
  self->cost = cost;
  if (!check_cost (self, error)) {
    self->cost = old;
    return FALSE;
  }
  return TRUE;
}

/**
 * physnn_quant_search_set_precisions:
 * @self: a #PhysnnQuantSearch
 * @list: the precisions layers may take, e.g. "fp16,int8,int4" (default:
 *   all four); pinned layers stay fp32 regardless
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_search_set_precisions (
    PhysnnQuantSearch *self, const gchar *list, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), FALSE);
  gboolean allowed[N_PREC] = { FALSE };
  guint n = 0;
  g_auto (GStrv) parts = g_strsplit (list ? list : "", ",", -1);
  for (guint i = 0; parts[i]; i++) {
    PhysnnPrecision p;
    if (*g_strstrip (parts[i]) == '\0')
      continue;
    if (!physnn_precision_from_string (parts[i], &p)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "\"%s\" is not a precision (fp32, fp16, int8, int4)", parts[i]);
      return FALSE;
    }
    n += !allowed[p];
    allowed[p] = TRUE;
  }
  if (n == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "no precision in \"%s\"", list ? list : "");
    return FALSE;
  }
  memcpy (self->allowed, allowed, sizeof allowed);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Plans of genomes */

static gboolean
free_layer (PhysnnQuantSearch *self, guint l)
{
  return !physnn_quant_plan_get_pinned (self->base, l);
}

static PhysnnQuantPlan *
plan_of (PhysnnQuantSearch *self, const guint8 *g)
{
  PhysnnQuantPlan *p = physnn_quant_plan_copy (self->base);
  for (guint l = 0; l < self->n_layers; l++)
    physnn_quant_plan_set_precision (
        p, l, free_layer (self, l) ? g[l] : PHYSNN_PRECISION_FP32, NULL);
  return p;
}

static gdouble
bits_of (PhysnnQuantSearch *self, const guint8 *g)
{
  gdouble b = 0, n = 0;
  for (guint l = 0; l < self->n_layers; l++) {
    gsize s = physnn_quant_plan_get_layer_size (self->base, l);
    b += (gdouble)s * physnn_precision_get_bits (g[l]);
    n += s;
  }
  return n > 0 ? b / n : 32;
}

static guint64
bitops_of (PhysnnQuantSearch *self, const guint8 *g)
{
  guint64 ops = 0;
  for (guint l = 0; l < self->n_layers; l++) {
    PhysnnQuantLayer *L = _physnn_quant_plan_layer (self->base, l);
    guint abits =
        L->act && g[l] >= PHYSNN_PRECISION_INT8 && self->hw->low_precision_math
            ? 8
            : 32;
    ops += L->macs * self->hw->compute_bits[g[l]] * abits;
  }
  return ops;
}

static gchar *
key_of (PhysnnQuantSearch *self, const guint8 *g)
{
  gchar *k = g_malloc (self->n_layers + 1);
  for (guint l = 0; l < self->n_layers; l++)
    k[l] = '0' + g[l];
  k[self->n_layers] = '\0';
  return k;
}

static gdouble
violation (PhysnnQuantSearch *self, Individual *ind)
{
  gdouble v = 0;
  gdouble ref = physnn_quant_objective_get_reference_loss (self->objective);
  if (self->target_bits > 0 && ind->bits > self->target_bits + 1e-9)
    v += (ind->bits - self->target_bits) / 32.0;
  if (self->max_bytes > 0 && ind->bytes > self->max_bytes)
    v += (gdouble)(ind->bytes - self->max_bytes) /
         _physnn_quant_plan_fp32_bytes (self->base);
  if (self->max_increase >= 0) {
    gdouble inc = (ind->loss - ref) / MAX (fabs (ref), 1e-300);
    if (!(inc <= self->max_increase))
      v += isfinite (inc) ? inc - self->max_increase : 1e6;
  }
  if (!isfinite (ind->loss))
    v += 1e6;
  return v;
}

/* Evaluates (once: results are cached by genome) and returns the borrowed
 * individual. */
static Individual *
evaluate (PhysnnQuantSearch *self, const guint8 *g, GError **error)
{
  gchar *key = key_of (self, g);
  Individual *ind = g_hash_table_lookup (self->cache, key);
  if (ind) {
    g_free (key);
    return ind;
  }
  g_autoptr (PhysnnQuantPlan) plan = plan_of (self, g);
  ind = g_new0 (Individual, 1);
  ind->g = g_memdup2 (g, self->n_layers);
  for (guint l = 0; l < self->n_layers; l++)
    ind->g[l] = physnn_quant_plan_get_precision (plan, l);
  if (!physnn_quant_objective_evaluate (
          self->objective, plan, &ind->loss, &ind->accuracy, error)) {
    individual_free (ind);
    g_free (key);
    return NULL;
  }
  ind->bits = bits_of (self, ind->g);
  ind->bytes = _physnn_quant_plan_bytes_of (plan, NULL);
  ind->bitops = bitops_of (self, ind->g);
  ind->cost = self->cost == PHYSNN_QUANT_COST_BYTES ? (gdouble)ind->bytes
                                                    : (gdouble)ind->bitops;
  ind->violation = violation (self, ind);
  g_hash_table_insert (self->cache, key, ind);
  g_ptr_array_add (self->archive, ind);
  return ind;
}

/* Lowest average bits and bytes any plan can reach. */
static gboolean
check_feasible_bounds (PhysnnQuantSearch *self, GError **error)
{
  PhysnnPrecision low = PHYSNN_PRECISION_FP32;
  for (guint p = 0; p < N_PREC; p++)
    if (self->allowed[p])
      low = p;
  g_autofree guint8 *g = g_new (guint8, MAX (self->n_layers, 1));
  GString *pinned = g_string_new (NULL);
  for (guint l = 0; l < self->n_layers; l++) {
    g[l] = free_layer (self, l) ? low : PHYSNN_PRECISION_FP32;
    if (!free_layer (self, l))
      g_string_append_printf (pinned, "%s%s", pinned->len ? ", " : "",
          physnn_quant_plan_get_layer_name (self->base, l));
  }
  gdouble bits = bits_of (self, g);
  g_autofree PhysnnPrecision *pr =
      g_new (PhysnnPrecision, MAX (self->n_layers, 1));
  for (guint l = 0; l < self->n_layers; l++)
    pr[l] = g[l];
  guint64 bytes = _physnn_quant_plan_bytes_of (self->base, pr);
  gboolean ok = TRUE;
  if (self->target_bits > 0 && bits > self->target_bits + 1e-9) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "target of %g average bits is impossible: the lowest reachable is "
        "%.3f (every free layer at %s%s%s%s)",
        self->target_bits, bits, physnn_precision_to_string (low),
        pinned->len ? "; pinned to fp32: " : "", pinned->str, "");
    ok = FALSE;
  } else if (self->max_bytes > 0 && bytes > self->max_bytes) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "a limit of %" G_GUINT64_FORMAT " bytes is impossible: the smallest "
        "plan has %" G_GUINT64_FORMAT " bytes",
        self->max_bytes, bytes);
    ok = FALSE;
  }
  g_string_free (pinned, TRUE);
  return ok;
}

/* ------------------------------------------------------------------------ */
/* Sensitivity */

static void
progress (PhysnnQuantSearch *self, const gchar *stage, guint done, guint total)
{
  gdouble best = NAN;
  for (guint i = 0; i < self->archive->len; i++) {
    Individual *ind = g_ptr_array_index (self->archive, i);
    if (ind->violation == 0 && !(ind->loss >= best))
      best = ind->loss;
  }
  g_signal_emit (self, signals[SIGNAL_PROGRESS], 0, stage, done, total, best);
}

/* Spearman's rho with average ranks for ties; NaN for fewer than 2 values
 * or a constant series. */
static gdouble
spearman (const gdouble *a, const gdouble *b, guint n)
{
  if (n < 2)
    return NAN;
  g_autofree gdouble *ra = g_new (gdouble, n);
  g_autofree gdouble *rb = g_new (gdouble, n);
  const gdouble *src[2] = { a, b };
  gdouble *dst[2] = { ra, rb };
  for (guint s = 0; s < 2; s++)
    for (guint i = 0; i < n; i++) {
      guint less = 0, equal = 0;
      for (guint j = 0; j < n; j++) {
        less += src[s][j] < src[s][i];
        equal += src[s][j] == src[s][i];
      }
      dst[s][i] = less + (equal + 1) / 2.0;
    }
  gdouble ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
  for (guint i = 0; i < n; i++) {
    ma += ra[i] / n;
    mb += rb[i] / n;
  }
  for (guint i = 0; i < n; i++) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  return saa > 0 && sbb > 0 ? sab / sqrt (saa * sbb) : NAN;
}

/**
 * physnn_quant_search_sensitivity:
 * @self: a #PhysnnQuantSearch
 * @error: return location for a #GError
 *
 * Computes every layer's sensitivity to every allowed precision below fp32
 * by the four measures (see the file comment of quant-search.c).
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_search_sensitivity (PhysnnQuantSearch *self, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), FALSE);
  PhysnnLoss *loss = physnn_quant_objective_get_loss (self->objective);
  gdouble ref = physnn_quant_objective_get_reference_loss (self->objective);
  guint L = self->n_layers;
  for (guint k = 0; k < N_KINDS; k++) {
    g_free (self->sens[k]);
    self->sens[k] = g_new (gdouble, MAX (L, 1) * N_PREC);
    for (guint i = 0; i < L * N_PREC; i++)
      self->sens[k][i] = NAN;
    self->sens_max[k] = 0;
  }
  g_autoptr (PhysnnTensor) gt = NULL;
  g_autoptr (PhysnnTensor) traces = NULL;
  if (!physnn_loss_evaluate (loss, NULL, &gt, error) ||
      !physnn_loss_hutchinson (
          loss, self->hutchinson_samples, self->seed, &traces, NULL, error))
    return FALSE;
  gsize np;
  g_autofree gdouble *grad = physnn_tensor_to_doubles (gt, &np);
  g_autofree gdouble *v = g_new0 (gdouble, MAX (np, 1));
  g_autofree guint8 *g = g_new (guint8, MAX (L, 1));

  for (guint l = 0; l < L; l++) {
    if (!free_layer (self, l))
      continue;
    const gchar *w = physnn_quant_plan_get_layer_weight (self->base, l);
    gint ti = -1;
    for (guint k = 0; k < physnn_loss_get_n_tensors (loss); k++)
      if (strcmp (physnn_loss_get_tensor_name (loss, k), w) == 0)
        ti = (gint)k;
    gsize n = physnn_quant_plan_get_layer_size (self->base, l);
    if (ti < 0) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "weight \"%s\" is not a parameter of the loss", w);
      return FALSE;
    }
    gsize off = physnn_loss_get_tensor_offset (loss, ti);
    gdouble trace = physnn_tensor_get_value (traces, ti);
    const gdouble *orig = _physnn_quant_plan_original (self->base, l);
    for (guint p = PHYSNN_PRECISION_FP16; p < N_PREC; p++) {
      if (!self->allowed[p])
        continue;
      const PhysnnQuantWeights *qw =
          _physnn_quant_plan_weights (self->base, l, p, error);
      if (qw == NULL)
        return FALSE;
      /* measured: only this layer quantized */
      for (guint k = 0; k < L; k++)
        g[k] = PHYSNN_PRECISION_FP32;
      g[l] = p;
      Individual *ind = evaluate (self, g, error);
      if (ind == NULL)
        return FALSE;
      gdouble gd = 0, n2 = 0;
      memset (v, 0, np * sizeof (gdouble));
      for (gsize i = 0; i < n; i++) {
        gdouble d = qw->deq[i] - orig[i];
        v[off + i] = d;
        gd += grad[off + i] * d;
        n2 += d * d;
      }
      gsize shape[1] = { np };
      g_autoptr (PhysnnTensor) vt = physnn_tensor_new_from_doubles (
          PHYSNN_DTYPE_FLOAT64, 1, shape, v, np, NULL);
      g_autoptr (PhysnnTensor) hv =
          physnn_loss_hessian_vector_product (loss, vt, error);
      if (hv == NULL)
        return FALSE;
      gdouble vhv = 0;
      for (gsize i = 0; i < n; i++)
        vhv += v[off + i] * physnn_tensor_get_value (hv, off + i);
      /* off-diagonal blocks of H do not enter: v is zero outside the layer */
      gsize at = l * N_PREC + p;
      self->sens[PHYSNN_SENSITIVITY_MEASURED][at] = ind->loss - ref;
      self->sens[PHYSNN_SENSITIVITY_GRADIENT][at] = fabs (gd);
      self->sens[PHYSNN_SENSITIVITY_HESSIAN][at] = 0.5 * vhv;
      self->sens[PHYSNN_SENSITIVITY_HAWQ][at] = trace / n * n2;
    }
    progress (self, "sensitivity", l + 1, L);
  }
  for (guint k = 0; k < N_KINDS; k++)
    for (guint i = 0; i < L * N_PREC; i++)
      if (isfinite (self->sens[k][i]))
        self->sens_max[k] = MAX (self->sens_max[k], fabs (self->sens[k][i]));
  self->have_sens = TRUE;
  return TRUE;
}

/**
 * physnn_quant_search_get_sensitivity:
 * @self: a #PhysnnQuantSearch
 * @kind: the measure
 * @layer: a layer index
 * @precision: a precision below fp32
 *
 * Returns: the score in [0, 1] (the magnitude divided by the largest of the
 *   measure over all layers and precisions; higher = needs more precision),
 *   or NaN when not computed (pinned layer, precision not allowed)
 */
gdouble
physnn_quant_search_get_sensitivity (PhysnnQuantSearch *self,
    PhysnnSensitivity kind, guint layer, PhysnnPrecision precision)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), NAN);
  if (!self->have_sens || (guint)kind >= N_KINDS || layer >= self->n_layers ||
      (guint)precision >= N_PREC)
    return NAN;
  gdouble v = self->sens[kind][layer * N_PREC + precision];
  if (!isfinite (v))
    return NAN;
  if (kind == PHYSNN_SENSITIVITY_MEASURED)
    v = MAX (v, 0); /* a loss that falls needs no precision */
  return self->sens_max[kind] > 0 ? fabs (v) / self->sens_max[kind] : 0;
}

/**
 * physnn_quant_search_get_sensitivity_raw:
 * @self: a #PhysnnQuantSearch
 * @kind: the measure
 * @layer: a layer index
 * @precision: a precision below fp32
 *
 * Returns: the measure itself (a loss change, signed for measured and
 *   hessian), or NaN when not computed
 */
gdouble
physnn_quant_search_get_sensitivity_raw (PhysnnQuantSearch *self,
    PhysnnSensitivity kind, guint layer, PhysnnPrecision precision)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), NAN);
  if (!self->have_sens || (guint)kind >= N_KINDS || layer >= self->n_layers ||
      (guint)precision >= N_PREC)
    return NAN;
  return self->sens[kind][layer * N_PREC + precision];
}

/**
 * physnn_quant_search_get_spearman:
 * @self: a #PhysnnQuantSearch
 * @kind: a proxy measure
 * @precision: a precision below fp32
 *
 * Returns: Spearman's rank correlation, over the layers that are not
 *   pinned, between the proxy and the measured loss change at @precision;
 *   NaN with fewer than two layers or a constant series
 */
gdouble
physnn_quant_search_get_spearman (
    PhysnnQuantSearch *self, PhysnnSensitivity kind, PhysnnPrecision precision)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), NAN);
  if (!self->have_sens || (guint)kind >= N_KINDS || (guint)precision >= N_PREC)
    return NAN;
  g_autofree gdouble *a = g_new (gdouble, MAX (self->n_layers, 1));
  g_autofree gdouble *b = g_new (gdouble, MAX (self->n_layers, 1));
  guint n = 0;
  for (guint l = 0; l < self->n_layers; l++) {
    gdouble x = self->sens[kind][l * N_PREC + precision];
    gdouble y = self->sens[PHYSNN_SENSITIVITY_MEASURED][l * N_PREC + precision];
    if (isfinite (x) && isfinite (y)) {
      a[n] = x;
      b[n++] = y;
    }
  }
  return spearman (a, b, n);
}

/* ------------------------------------------------------------------------ */
/* NSGA-II */

static gboolean
dominates (const Individual *a, const Individual *b)
{
  if (a->violation == 0 && b->violation > 0)
    return TRUE;
  if (a->violation > 0)
    return b->violation > 0 && a->violation < b->violation;
  if (b->violation > 0)
    return FALSE;
  return a->loss <= b->loss && a->cost <= b->cost &&
         (a->loss < b->loss || a->cost < b->cost);
}

/* Deb's fast non-dominated sort: ranks from 0, then crowding distances
 * within each front. */
static void
rank_and_crowd (GPtrArray *pop)
{
  guint n = pop->len;
  g_autofree guint *count = g_new0 (guint, MAX (n, 1));
  g_autofree gboolean *done = g_new0 (gboolean, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    for (guint j = 0; j < n; j++)
      if (i != j &&
          dominates (g_ptr_array_index (pop, j), g_ptr_array_index (pop, i)))
        count[i]++;
  guint ranked = 0;
  for (guint r = 0; ranked < n; r++) {
    g_autoptr (GPtrArray) front = g_ptr_array_new ();
    for (guint i = 0; i < n; i++)
      if (!done[i] && count[i] == 0) {
        Individual *ind = g_ptr_array_index (pop, i);
        ind->rank = r;
        ind->crowd = 0;
        g_ptr_array_add (front, GUINT_TO_POINTER (i + 1));
      }
    for (guint f = 0; f < front->len; f++) {
      guint i = GPOINTER_TO_UINT (g_ptr_array_index (front, f)) - 1;
      done[i] = TRUE;
      ranked++;
    }
    for (guint f = 0; f < front->len; f++) {
      guint i = GPOINTER_TO_UINT (g_ptr_array_index (front, f)) - 1;
      for (guint j = 0; j < n; j++)
        if (!done[j] &&
            dominates (g_ptr_array_index (pop, i), g_ptr_array_index (pop, j)))
          count[j]--;
    }
    /* crowding distance over the two objectives */
    guint m = front->len;
    g_autofree Individual **fi = g_new (Individual *, MAX (m, 1));
    for (guint f = 0; f < m; f++)
      fi[f] = g_ptr_array_index (
          pop, GPOINTER_TO_UINT (g_ptr_array_index (front, f)) - 1);
    for (guint obj = 0; obj < 2; obj++) {
      /* insertion sort by the objective: fronts are small */
      for (guint a = 1; a < m; a++)
        for (guint b = a; b > 0; b--) {
          gdouble x = obj ? fi[b - 1]->cost : fi[b - 1]->loss;
          gdouble y = obj ? fi[b]->cost : fi[b]->loss;
          if (!(x > y))
            break;
          Individual *t = fi[b];
          fi[b] = fi[b - 1];
          fi[b - 1] = t;
        }
      if (m == 0)
        continue;
      gdouble lo = obj ? fi[0]->cost : fi[0]->loss;
      gdouble hi = obj ? fi[m - 1]->cost : fi[m - 1]->loss;
      fi[0]->crowd = fi[m - 1]->crowd = INFINITY;
      for (guint a = 1; a + 1 < m; a++) {
        gdouble x = obj ? fi[a + 1]->cost - fi[a - 1]->cost
                        : fi[a + 1]->loss - fi[a - 1]->loss;
        if (hi > lo && isfinite (x))
          fi[a]->crowd += x / (hi - lo);
      }
    }
  }
}

static gint
crowded_cmp (gconstpointer pa, gconstpointer pb)
{
  const Individual *a = *(Individual *const *)pa;
  const Individual *b = *(Individual *const *)pb;
  if (a->rank != b->rank)
    return a->rank < b->rank ? -1 : 1;
  if (a->crowd != b->crowd)
    return a->crowd > b->crowd ? -1 : 1;
  /* deterministic tie-break: cheaper, then lower loss */
  if (a->cost != b->cost)
    return a->cost < b->cost ? -1 : 1;
  return a->loss < b->loss ? -1 : (a->loss > b->loss ? 1 : 0);
}

static Individual *
tournament (GPtrArray *pop, GRand *rng)
{
  Individual *a = g_ptr_array_index (pop, g_rand_int_range (rng, 0, pop->len));
  Individual *b = g_ptr_array_index (pop, g_rand_int_range (rng, 0, pop->len));
  return crowded_cmp (&a, &b) <= 0 ? a : b;
}

static guint8
random_precision (PhysnnQuantSearch *self, GRand *rng)
{
  guint n = 0;
  guint8 list[N_PREC];
  for (guint p = 0; p < N_PREC; p++)
    if (self->allowed[p])
      list[n++] = p;
  return list[g_rand_int_range (rng, 0, n)];
}

static gboolean
dominates_unconstrained (const Individual *a, const Individual *b)
{
  return a->loss <= b->loss && a->cost <= b->cost &&
         (a->loss < b->loss || a->cost < b->cost);
}

/* The non-dominated plans of the archive, by cost then loss: among the
 * feasible ones (constrained), or among all, ignoring the constraints. */
static void
pareto (PhysnnQuantSearch *self, GPtrArray *dst, gboolean constrained)
{
  g_ptr_array_set_size (dst, 0);
  for (guint i = 0; i < self->archive->len; i++) {
    Individual *a = g_ptr_array_index (self->archive, i);
    gboolean dominated = constrained ? a->violation > 0 : !isfinite (a->loss);
    for (guint j = 0; j < self->archive->len && !dominated; j++) {
      Individual *b = g_ptr_array_index (self->archive, j);
      dominated = b != a && (constrained ? dominates (b, a)
                                         : dominates_unconstrained (b, a));
    }
    if (!dominated)
      g_ptr_array_add (dst, a);
  }
  for (guint a = 1; a < dst->len; a++)
    for (guint b = a; b > 0; b--) {
      Individual *x = g_ptr_array_index (dst, b - 1);
      Individual *y = g_ptr_array_index (dst, b);
      if (x->cost < y->cost || (x->cost == y->cost && x->loss <= y->loss))
        break;
      dst->pdata[b] = x;
      dst->pdata[b - 1] = y;
    }
}

static void
rebuild_front (PhysnnQuantSearch *self)
{
  pareto (self, self->front, TRUE);
  pareto (self, self->front_all, FALSE);
}

static gboolean
seed_population (
    PhysnnQuantSearch *self, GRand *rng, GPtrArray *pop, GError **error)
{
  g_autofree guint8 *g = g_new (guint8, MAX (self->n_layers, 1));
  /* the uniform plans of every allowed precision, then random ones */
  for (guint p = 0; p < N_PREC && pop->len < self->population; p++) {
    if (!self->allowed[p])
      continue;
    for (guint l = 0; l < self->n_layers; l++)
      g[l] = p;
    Individual *ind = evaluate (self, g, error);
    if (ind == NULL)
      return FALSE;
    if (!g_ptr_array_find (pop, ind, NULL))
      g_ptr_array_add (pop, ind);
  }
  for (guint tries = 0;
       pop->len < self->population && tries < 20 * self->population; tries++) {
    for (guint l = 0; l < self->n_layers; l++)
      g[l] = random_precision (self, rng);
    Individual *ind = evaluate (self, g, error);
    if (ind == NULL)
      return FALSE;
    if (!g_ptr_array_find (pop, ind, NULL))
      g_ptr_array_add (pop, ind);
  }
  return TRUE;
}

/**
 * physnn_quant_search_run:
 * @self: a #PhysnnQuantSearch
 * @error: return location for a #GError
 *
 * Runs NSGA-II. Afterwards physnn_quant_search_get_front_size() and
 * physnn_quant_search_get_front_plan() give the Pareto front of the plans
 * that meet the constraints, and physnn_quant_search_get_best() the one with
 * the lowest loss. A constraint no plan can meet (a target below what the
 * pinned layers allow) is an error before anything runs.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_search_run (PhysnnQuantSearch *self, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), FALSE);
  if (!check_feasible_bounds (self, error) || !check_cost (self, error))
    return FALSE;
  g_autoptr (GRand) rng = g_rand_new ();
  guint32 sa[2] = { (guint32)self->seed, (guint32)(self->seed >> 32) };
  g_rand_set_seed_array (rng, sa, 2);
  g_autoptr (GPtrArray) pop = g_ptr_array_new ();
  if (!seed_population (self, rng, pop, error))
    return FALSE;
  rank_and_crowd (pop);
  g_autofree guint8 *child = g_new (guint8, MAX (self->n_layers, 1));
  gdouble pm = 1.0 / MAX (self->n_layers, 1);

  for (guint gen = 0; gen < self->generations; gen++) {
    g_autoptr (GPtrArray) merged = g_ptr_array_new ();
    for (guint i = 0; i < pop->len; i++)
      g_ptr_array_add (merged, g_ptr_array_index (pop, i));
    for (guint k = 0; k < self->population; k++) {
      Individual *a = tournament (pop, rng);
      Individual *b = tournament (pop, rng);
      gboolean cross = g_rand_double (rng) < 0.9;
      for (guint l = 0; l < self->n_layers; l++) {
        child[l] = cross && g_rand_boolean (rng) ? b->g[l] : a->g[l];
        if (g_rand_double (rng) < pm)
          child[l] = random_precision (self, rng);
      }
      Individual *c = evaluate (self, child, error);
      if (c == NULL)
        return FALSE;
      if (!g_ptr_array_find (merged, c, NULL))
        g_ptr_array_add (merged, c);
    }
    rank_and_crowd (merged);
    g_ptr_array_sort (merged, crowded_cmp);
    g_ptr_array_set_size (pop, 0);
    for (guint i = 0; i < merged->len && i < self->population; i++)
      g_ptr_array_add (pop, g_ptr_array_index (merged, i));
    /* crowding among the survivors for the next tournaments */
    rank_and_crowd (pop);
    progress (self, "nsga2", gen + 1, self->generations);
  }
  self->ran_nsga = TRUE;
  rebuild_front (self);
  if (self->front->len == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
        "no evaluated plan meets the constraints (%u plans tried); relax "
        "max-loss-increase or the target",
        self->archive->len);
    return FALSE;
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Greedy baseline */

/**
 * physnn_quant_search_run_greedy:
 * @self: a #PhysnnQuantSearch
 * @error: return location for a #GError
 *
 * The sensitivity-greedy baseline (computes the sensitivities first if
 * needed): from every free layer at its highest allowed precision, lower
 * one layer by one precision step at a time, always the one whose measured
 * single-layer loss change per byte saved is smallest, evaluating every plan
 * on the way, down to the lowest precisions.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_search_run_greedy (PhysnnQuantSearch *self, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), FALSE);
  if (!check_feasible_bounds (self, error) || !check_cost (self, error))
    return FALSE;
  if (!self->have_sens && !physnn_quant_search_sensitivity (self, error))
    return FALSE;
  guint L = self->n_layers;
  g_autofree guint8 *g = g_new (guint8, MAX (L, 1));
  guint8 high = PHYSNN_PRECISION_FP32;
  for (gint p = N_PREC - 1; p >= 0; p--)
    if (self->allowed[p])
      high = p;
  for (guint l = 0; l < L; l++)
    g[l] = high;
  g_ptr_array_set_size (self->greedy, 0);
  Individual *ind = evaluate (self, g, error);
  if (ind == NULL)
    return FALSE;
  g_ptr_array_add (self->greedy, ind);
  g_autofree PhysnnPrecision *pr = g_new (PhysnnPrecision, MAX (L, 1));
  guint steps = 0, max_steps = L * N_PREC;
  for (;;) {
    gint best_l = -1;
    guint8 best_p = 0;
    gdouble best_score = INFINITY;
    for (guint l = 0; l < L; l++)
      pr[l] = g[l];
    guint64 now = _physnn_quant_plan_bytes_of (self->base, pr);
    for (guint l = 0; l < L; l++) {
      if (!free_layer (self, l))
        continue;
      guint8 next = g[l] + 1;
      while (next < N_PREC && !self->allowed[next])
        next++;
      if (next >= N_PREC)
        continue;
      pr[l] = next;
      guint64 after = _physnn_quant_plan_bytes_of (self->base, pr);
      pr[l] = g[l];
      gdouble d = self->sens[PHYSNN_SENSITIVITY_MEASURED][l * N_PREC + next];
      gdouble score = (MAX (d, 0) + 1e-300) / MAX ((gdouble)now - after, 1);
      if (score < best_score) {
        best_score = score;
        best_l = (gint)l;
        best_p = next;
      }
    }
    if (best_l < 0)
      break;
    g[best_l] = best_p;
    ind = evaluate (self, g, error);
    if (ind == NULL)
      return FALSE;
    g_ptr_array_add (self->greedy, ind);
    progress (self, "greedy", ++steps, max_steps);
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Results */

/**
 * physnn_quant_search_get_front_size:
 * @self: a #PhysnnQuantSearch
 *
 * Returns: the number of plans on the Pareto front (after a run)
 */
guint
physnn_quant_search_get_front_size (PhysnnQuantSearch *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), 0);
  return self->front->len;
}

/**
 * physnn_quant_search_get_front_plan:
 * @self: a #PhysnnQuantSearch
 * @index: a position on the front, by increasing cost
 *
 * Returns: (transfer full) (nullable): the plan, or %NULL
 */
PhysnnQuantPlan *
physnn_quant_search_get_front_plan (PhysnnQuantSearch *self, guint index)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), NULL);
  if (index >= self->front->len)
    return NULL;
  return plan_of (
      self, ((Individual *)g_ptr_array_index (self->front, index))->g);
}

/**
 * physnn_quant_search_get_front_point:
 * @self: a #PhysnnQuantSearch
 * @index: a position on the front
 * @loss: (out) (optional): the plan's loss
 * @accuracy: (out) (optional): its accuracy (NaN if not classification)
 * @bits: (out) (optional): its average weight bits
 * @bytes: (out) (optional): its exact bytes
 *
 * Returns: %TRUE if @index is on the front
 */
gboolean
physnn_quant_search_get_front_point (PhysnnQuantSearch *self, guint index,
    gdouble *loss, gdouble *accuracy, gdouble *bits, guint64 *bytes)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), FALSE);
  if (index >= self->front->len)
    return FALSE;
  Individual *ind = g_ptr_array_index (self->front, index);
  if (loss)
    *loss = ind->loss;
  if (accuracy)
    *accuracy = ind->accuracy;
  if (bits)
    *bits = ind->bits;
  if (bytes)
    *bytes = ind->bytes;
  return TRUE;
}

static Individual *
best_of (GPtrArray *set)
{
  Individual *best = NULL;
  for (guint i = 0; i < set->len; i++) {
    Individual *a = g_ptr_array_index (set, i);
    if (a->violation > 0)
      continue;
    if (best == NULL || a->loss < best->loss ||
        (a->loss == best->loss && a->cost < best->cost))
      best = a;
  }
  return best;
}

/**
 * physnn_quant_search_get_best:
 * @self: a #PhysnnQuantSearch
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the plan meeting the constraints with the
 *   lowest loss found by NSGA-II (or, if only the greedy baseline ran, by
 *   it); %NULL with @error set if there is none
 */
PhysnnQuantPlan *
physnn_quant_search_get_best (PhysnnQuantSearch *self, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), NULL);
  Individual *best = best_of (self->ran_nsga ? self->front : self->greedy);
  if (best == NULL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "no plan meets the constraints%s",
        self->ran_nsga || self->greedy->len ? "" : " (the search has not run)");
    return NULL;
  }
  return plan_of (self, best->g);
}

/**
 * physnn_quant_search_get_greedy_best:
 * @self: a #PhysnnQuantSearch
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the greedy baseline's plan meeting the
 *   constraints with the lowest loss, or %NULL with @error set
 */
PhysnnQuantPlan *
physnn_quant_search_get_greedy_best (PhysnnQuantSearch *self, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), NULL);
  Individual *best = best_of (self->greedy);
  if (best == NULL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "no plan of the greedy baseline meets the constraints");
    return NULL;
  }
  return plan_of (self, best->g);
}

/**
 * physnn_quant_search_get_n_evaluations:
 * @self: a #PhysnnQuantSearch
 *
 * Returns: the number of distinct plans evaluated (each runs the model)
 */
guint64
physnn_quant_search_get_n_evaluations (PhysnnQuantSearch *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), 0);
  return self->archive->len;
}

static const gchar *kind_names[] = { "measured", "gradient", "hessian",
  "hawq" };

static void
add_number (JsonBuilder *b, const gchar *name, gdouble v)
{
  json_builder_set_member_name (b, name);
  if (isfinite (v))
    json_builder_add_double_value (b, v);
  else
    json_builder_add_null_value (b);
}

static void
add_point (PhysnnQuantSearch *self, JsonBuilder *b, Individual *ind)
{
  gdouble ref = physnn_quant_objective_get_reference_loss (self->objective);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "precisions");
  json_builder_begin_array (b);
  for (guint l = 0; l < self->n_layers; l++)
    json_builder_add_string_value (b, physnn_precision_to_string (ind->g[l]));
  json_builder_end_array (b);
  add_number (b, "average_bits", ind->bits);
  json_builder_set_member_name (b, "bytes");
  json_builder_add_int_value (b, (gint64)ind->bytes);
  add_number (b, "compression",
      (gdouble)_physnn_quant_plan_fp32_bytes (self->base) / ind->bytes);
  json_builder_set_member_name (b, "bitops");
  json_builder_add_int_value (b, (gint64)ind->bitops);
  add_number (b, "loss", ind->loss);
  add_number (b, "loss_increase", (ind->loss - ref) / fabs (ref));
  add_number (b, "accuracy", ind->accuracy);
  json_builder_set_member_name (b, "feasible");
  json_builder_add_boolean_value (b, ind->violation == 0);
  json_builder_end_object (b);
}

/**
 * physnn_quant_search_to_json:
 * @self: a #PhysnnQuantSearch
 *
 * Returns: (transfer full): the search as JSON: settings, the objective's
 *   reference, the sensitivities with their Spearman correlations, the
 *   Pareto front, the greedy path and the chosen plan's index on the front
 */
gchar *
physnn_quant_search_to_json (PhysnnQuantSearch *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), NULL);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  PhysnnModel *model = physnn_quant_plan_get_model (self->base);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_string_value (b, "physnn-quantization-search");
  json_builder_set_member_name (b, "model");
  json_builder_add_string_value (b, physnn_model_get_path (model));
  json_builder_set_member_name (b, "objective");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (
      b, physnn_quant_objective_get_kind_name (self->objective));
  add_number (b, "reference_loss",
      physnn_quant_objective_get_reference_loss (self->objective));
  add_number (b, "reference_accuracy",
      physnn_quant_objective_get_reference_accuracy (self->objective));
  json_builder_end_object (b);
  json_builder_set_member_name (b, "settings");
  json_builder_begin_object (b);
  add_number (
      b, "target_bits", self->target_bits > 0 ? self->target_bits : NAN);
  json_builder_set_member_name (b, "max_bytes");
  json_builder_add_int_value (b, (gint64)self->max_bytes);
  add_number (b, "max_loss_increase",
      self->max_increase >= 0 ? self->max_increase : NAN);
  json_builder_set_member_name (b, "hardware");
  json_builder_add_string_value (b, self->hw->name);
  json_builder_set_member_name (b, "hardware_note");
  json_builder_add_string_value (b, self->hw->description);
  json_builder_set_member_name (b, "cost");
  json_builder_add_string_value (
      b, self->cost == PHYSNN_QUANT_COST_BYTES ? "bytes" : "bitops");
  json_builder_set_member_name (b, "seed");
  json_builder_add_int_value (b, (gint64)self->seed);
  json_builder_set_member_name (b, "population");
  json_builder_add_int_value (b, self->population);
  json_builder_set_member_name (b, "generations");
  json_builder_add_int_value (b, self->generations);
  json_builder_set_member_name (b, "precisions");
  json_builder_begin_array (b);
  for (guint p = 0; p < N_PREC; p++)
    if (self->allowed[p])
      json_builder_add_string_value (b, physnn_precision_to_string (p));
  json_builder_end_array (b);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "fp32_bytes");
  json_builder_add_int_value (
      b, (gint64)_physnn_quant_plan_fp32_bytes (self->base));
  json_builder_set_member_name (b, "evaluations");
  json_builder_add_int_value (b, self->archive->len);

  json_builder_set_member_name (b, "layers");
  json_builder_begin_array (b);
  for (guint l = 0; l < self->n_layers; l++) {
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "name");
    json_builder_add_string_value (
        b, physnn_quant_plan_get_layer_name (self->base, l));
    json_builder_set_member_name (b, "weights");
    json_builder_add_int_value (
        b, physnn_quant_plan_get_layer_size (self->base, l));
    json_builder_set_member_name (b, "pinned");
    json_builder_add_boolean_value (b, !free_layer (self, l));
    if (self->have_sens && free_layer (self, l)) {
      json_builder_set_member_name (b, "sensitivity");
      json_builder_begin_object (b);
      for (guint k = 0; k < N_KINDS; k++) {
        json_builder_set_member_name (b, kind_names[k]);
        json_builder_begin_object (b);
        for (guint p = PHYSNN_PRECISION_FP16; p < N_PREC; p++) {
          if (!self->allowed[p])
            continue;
          g_autofree gchar *sn =
              g_strconcat (physnn_precision_to_string (p), "_score", NULL);
          add_number (b, physnn_precision_to_string (p),
              physnn_quant_search_get_sensitivity_raw (self, k, l, p));
          add_number (
              b, sn, physnn_quant_search_get_sensitivity (self, k, l, p));
        }
        json_builder_end_object (b);
      }
      json_builder_end_object (b);
    }
    json_builder_end_object (b);
  }
  json_builder_end_array (b);

  if (self->have_sens) {
    json_builder_set_member_name (b, "spearman");
    json_builder_begin_object (b);
    for (guint k = PHYSNN_SENSITIVITY_GRADIENT; k < N_KINDS; k++) {
      json_builder_set_member_name (b, kind_names[k]);
      json_builder_begin_object (b);
      for (guint p = PHYSNN_PRECISION_FP16; p < N_PREC; p++)
        if (self->allowed[p])
          add_number (b, physnn_precision_to_string (p),
              physnn_quant_search_get_spearman (self, k, p));
      json_builder_end_object (b);
    }
    json_builder_end_object (b);
  }

  Individual *best = best_of (self->ran_nsga ? self->front : self->greedy);
  json_builder_set_member_name (b, "front");
  json_builder_begin_array (b);
  gint chosen = -1;
  for (guint i = 0; i < self->front->len; i++) {
    add_point (self, b, g_ptr_array_index (self->front, i));
    if (g_ptr_array_index (self->front, i) == best)
      chosen = (gint)i;
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "front_unconstrained");
  json_builder_begin_array (b);
  for (guint i = 0; i < self->front_all->len; i++)
    add_point (self, b, g_ptr_array_index (self->front_all, i));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "greedy");
  json_builder_begin_array (b);
  for (guint i = 0; i < self->greedy->len; i++)
    add_point (self, b, g_ptr_array_index (self->greedy, i));
  json_builder_end_array (b);
  if (best) {
    json_builder_set_member_name (b, "chosen");
    add_point (self, b, best);
    json_builder_set_member_name (b, "chosen_from");
    json_builder_add_string_value (b, self->ran_nsga ? "nsga2" : "greedy");
    json_builder_set_member_name (b, "chosen_front_index");
    json_builder_add_int_value (b, chosen);
  }
  json_builder_end_object (b);

  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_indent (gen, 2);
  return json_generator_to_data (gen, NULL);
}

static gboolean
save_plot (PhysnnQuantSearch *self, const gchar *path, GError **error)
{
  GPtrArray *sets[4] = { self->archive, self->front_all, self->front,
    self->greedy };
  const gchar *labels[4] = { "evaluated plans", "Pareto front (all plans)",
    "Pareto front meeting the constraints", "sensitivity-greedy" };
  gdouble *xs[4] = { NULL }, *ys[4] = { NULL };
  PhysnnPlotSeries series[4];
  guint n = 0;
  for (guint s = 0; s < 4; s++) {
    if (sets[s]->len == 0)
      continue;
    xs[s] = g_new (gdouble, sets[s]->len);
    ys[s] = g_new (gdouble, sets[s]->len);
    for (guint i = 0; i < sets[s]->len; i++) {
      Individual *ind = g_ptr_array_index (sets[s], i);
      xs[s][i] = ind->bits;
      ys[s][i] = ind->loss;
    }
    series[n].label = labels[s];
    series[n].x = xs[s];
    series[n].y = ys[s];
    series[n].n = sets[s]->len;
    series[n].markers = s == 0;
    n++;
  }
  gdouble target = self->target_bits;
  const gchar *tl[1] = { "target bits" };
  g_autofree gchar *title = g_strdup_printf ("%s: %s loss vs average weight "
                                             "bits",
      physnn_model_get_path (physnn_quant_plan_get_model (self->base)),
      physnn_quant_objective_get_kind_name (self->objective));
  PhysnnPlotStyle style = {
    .title = title,
    .xlabel = "average bits per weight",
    .ylabel = "loss",
    .log_y = TRUE,
    .vlines = target > 0 ? &target : NULL,
    .vlabels = tl,
    .n_vlines = target > 0 ? 1 : 0,
  };
  gboolean ok = _physnn_plot_png (path, &style, series, n, error);
  for (guint s = 0; s < 4; s++) {
    g_free (xs[s]);
    g_free (ys[s]);
  }
  return ok;
}

/**
 * physnn_quant_search_save:
 * @self: a #PhysnnQuantSearch
 * @json_path: (nullable): where to write physnn_quant_search_to_json()
 * @plot_path: (nullable): where to write a PNG of loss against average
 *   bits: every evaluated plan, the front and the greedy path
 * @error: return location for a #GError
 *
 * Both files are written to temporary names and renamed.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_search_save (PhysnnQuantSearch *self, const gchar *json_path,
    const gchar *plot_path, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), FALSE);
  if (json_path) {
    g_autofree gchar *json = physnn_quant_search_to_json (self);
    if (!g_file_set_contents (json_path, json, -1, error))
      return FALSE;
  }
  return plot_path == NULL || save_plot (self, plot_path, error);
}

static gint
more_bits_first (gconstpointer pa, gconstpointer pb)
{
  const Individual *a = *(Individual *const *)pa;
  const Individual *b = *(Individual *const *)pb;
  if (a->bits != b->bits)
    return a->bits > b->bits ? -1 : 1;
  return a->loss < b->loss ? -1 : (a->loss > b->loss ? 1 : 0);
}

/**
 * physnn_quant_search_get_feasible_plans:
 * @self: a #PhysnnQuantSearch
 * @max: at most this many
 *
 * The evaluated plans that meet the constraints, those with the most
 * average bits first (the candidates worth refitting, e.g. by
 * physnn_quant_objective_correct_biases(): their ranking may change).
 *
 * Returns: (transfer full) (element-type PhysnnQuantPlan): the plans (C
 *   callers unref the elements and the array)
 */
GPtrArray *
physnn_quant_search_get_feasible_plans (PhysnnQuantSearch *self, guint max)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_SEARCH (self), NULL);
  g_autoptr (GPtrArray) f = g_ptr_array_new ();
  for (guint i = 0; i < self->archive->len; i++)
    if (((Individual *)g_ptr_array_index (self->archive, i))->violation == 0)
      g_ptr_array_add (f, g_ptr_array_index (self->archive, i));
  g_ptr_array_sort (f, more_bits_first);
  /* no free function: bindings unref the elements of a transfer-full
   * array themselves */
  GPtrArray *out = g_ptr_array_new ();
  for (guint i = 0; i < f->len && out->len < max; i++)
    g_ptr_array_add (
        out, plan_of (self, ((Individual *)g_ptr_array_index (f, i))->g));
  return out;
}
