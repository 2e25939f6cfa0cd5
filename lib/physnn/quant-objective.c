/* physnn — PhysnnQuantObjective: the loss of a quantized model, measured by
 * running it.
 *
 * Three kinds:
 *   - classification: cross-entropy of the logits and top-1 accuracy on
 *     labelled samples;
 *   - regression: mean squared error against targets (the float model's own
 *     outputs make a label-free fidelity objective);
 *   - physics: the mean squared PDE residual at collocation points plus
 *     optional condition terms (boundary, initial values), as PhysnnLoss
 *     computes it, through the derivative jets.
 *
 * Data objectives run the quantized model itself (physnn_quant_plan_apply()
 * and the float64 reference executor, which dequantizes the stored integers,
 * so int8 activations are included). Physics objectives set the model's
 * parameters to the plan's dequantized weights and evaluate the residual
 * loss: the same numbers the quantized graph computes on the reference
 * path, with derivatives (a QuantizeLinear on an activation has no useful
 * derivative, so physics plans quantize weights only). Both also own a
 * PhysnnLoss at the float weights for the gradient and Hessian based
 * sensitivities of the search.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/quant-private.h"
#include "physnn/error.h"
#include "physnn/grad.h"
#include "physnn/optim-private.h"
#include "physnn/model-private.h"
#include "physnn/tensor-private.h"

#include <math.h>
#include <string.h>

#define DEFAULT_POINTS 2048

typedef enum {
  KIND_CLASSIFICATION,
  KIND_REGRESSION,
  KIND_PHYSICS,
} Kind;

struct _PhysnnQuantObjective {
  GObject parent;
  PhysnnModel *model;
  Kind kind;
  PhysnnLoss *loss;
  PhysnnTensor **inputs;
  guint n_inputs;
  PhysnnTensor *targets; /* labels (float64) or targets */
  PhysnnDevice *cpu;
  gdouble *base; /* the float parameters */
  gsize n_params;
  gdouble ref_loss, ref_accuracy;
  guint64 n_evaluations;
};

G_DEFINE_FINAL_TYPE (
    PhysnnQuantObjective, physnn_quant_objective, G_TYPE_OBJECT)

enum { SIGNAL_PROGRESS, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
physnn_quant_objective_finalize (GObject *object)
{
  PhysnnQuantObjective *self = PHYSNN_QUANT_OBJECTIVE (object);
  for (guint i = 0; i < self->n_inputs; i++)
    g_clear_object (&self->inputs[i]);
  g_free (self->inputs);
  g_clear_object (&self->targets);
  g_clear_object (&self->loss);
  g_clear_object (&self->cpu);
  g_clear_object (&self->model);
  g_free (self->base);
  G_OBJECT_CLASS (physnn_quant_objective_parent_class)->finalize (object);
}

static void
physnn_quant_objective_class_init (PhysnnQuantObjectiveClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = physnn_quant_objective_finalize;
  /**
   * PhysnnQuantObjective::progress:
   * @objective: the objective
   * @stage: "fine-tune"
   * @done: optimizer iterations done (a step that stops early counts as
   *   all of its iterations)
   * @total: iterations in all (layers to quantize times iterations per
   *   step)
   * @loss: the loss of the partly quantized model now
   *
   * Emitted during physnn_quant_objective_fine_tune() after every L-BFGS
   * iteration, in the thread that runs it.
   */
  signals[SIGNAL_PROGRESS] = g_signal_new ("progress",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 4, G_TYPE_STRING, G_TYPE_UINT, G_TYPE_UINT, G_TYPE_DOUBLE);
}

void
_physnn_quant_objective_progress (PhysnnQuantObjective *self,
    const gchar *stage, guint done, guint total, gdouble loss)
{
  g_signal_emit (self, signals[SIGNAL_PROGRESS], 0, stage, done, total, loss);
}

const gdouble *
_physnn_quant_objective_base (PhysnnQuantObjective *self, gsize *n)
{
  *n = self->n_params;
  return self->base;
}

void
_physnn_quant_objective_restore (PhysnnQuantObjective *self)
{
  gsize shape[1] = { self->n_params };
  g_autoptr (PhysnnTensor) base = physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_FLOAT64, 1, shape, self->base, shape[0], NULL);
  physnn_loss_set_parameters (self->loss, base, NULL);
}

static void
physnn_quant_objective_init (PhysnnQuantObjective *self)
{
  self->ref_accuracy = NAN;
}

/* Cross-entropy (mean −log softmax[label]) and accuracy of logits [N, C]. */
static void
score_logits (const gdouble *z, gsize n, gsize c, const gdouble *labels,
    gdouble *ce, gdouble *acc)
{
  gdouble sum = 0;
  gsize right = 0;
  for (gsize i = 0; i < n; i++) {
    const gdouble *r = z + i * c;
    gsize arg = 0;
    gdouble mx = r[0];
    for (gsize k = 1; k < c; k++)
      if (r[k] > mx) {
        mx = r[k];
        arg = k;
      }
    gdouble s = 0;
    for (gsize k = 0; k < c; k++)
      s += exp (r[k] - mx);
    gsize lab = (gsize)labels[i];
    sum += -(r[lab] - mx - log (s));
    right += arg == lab;
  }
  *ce = n ? sum / n : NAN;
  *acc = n ? (gdouble)right / n : NAN;
}

/* Runs @model on the objective's data and scores its first output. */
static gboolean
score_model (PhysnnQuantObjective *self, PhysnnModel *model, gdouble *loss,
    gdouble *accuracy, GError **error)
{
  g_autoptr (GPtrArray) outs =
      physnn_model_run (model, self->cpu, self->inputs, self->n_inputs, error);
  if (outs == NULL)
    return FALSE;
  PhysnnTensor *y = g_ptr_array_index (outs, 0);
  gsize n;
  g_autofree gdouble *v = physnn_tensor_to_doubles (y, &n);
  const gdouble *t = _physnn_tensor_host (self->targets, PHYSNN_ACCESS_READ);
  if (self->kind == KIND_CLASSIFICATION) {
    gsize rows = physnn_tensor_get_n_elements (self->targets);
    score_logits (v, rows, n / MAX (rows, 1), t, loss, accuracy);
  } else {
    gdouble s = 0;
    for (gsize i = 0; i < n; i++)
      s += (v[i] - t[i]) * (v[i] - t[i]);
    *loss = n ? s / n : NAN;
    *accuracy = NAN;
  }
  return TRUE;
}

static gboolean
take_data (PhysnnQuantObjective *self, PhysnnTensor **inputs, guint n_inputs,
    GError **error)
{
  guint want = physnn_model_get_n_inputs (self->model);
  if (n_inputs != want) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "%u input tensors given; %s takes %u", n_inputs,
        physnn_model_get_path (self->model), want);
    return FALSE;
  }
  self->n_inputs = n_inputs;
  self->inputs = g_new0 (PhysnnTensor *, MAX (n_inputs, 1));
  for (guint i = 0; i < n_inputs; i++) {
    if (physnn_tensor_get_n_elements (inputs[i]) == 0) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "input %u (\"%s\") holds no samples", i,
          physnn_model_get_input_name (self->model, i));
      return FALSE;
    }
    if (physnn_tensor_count_nonfinite (inputs[i])) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "input %u (\"%s\") holds NaN or infinite values", i,
          physnn_model_get_input_name (self->model, i));
      return FALSE;
    }
    self->inputs[i] = g_object_ref (inputs[i]);
  }
  return TRUE;
}

static gboolean
finish (PhysnnQuantObjective *self, GError **error)
{
  g_autoptr (PhysnnTensor) p = physnn_loss_get_parameters (self->loss);
  self->base = physnn_tensor_to_doubles (p, &self->n_params);
  if (self->kind == KIND_PHYSICS) {
    if (!physnn_loss_evaluate (self->loss, &self->ref_loss, NULL, error))
      return FALSE;
  } else if (!score_model (self, self->model, &self->ref_loss,
                 &self->ref_accuracy, error))
    return FALSE;
  if (!isfinite (self->ref_loss)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
        "the float model's loss on the objective's data is %g", self->ref_loss);
    return FALSE;
  }
  return TRUE;
}

static PhysnnQuantObjective *
objective_new (PhysnnModel *model, Kind kind, GError **error)
{
  PhysnnQuantObjective *self = g_object_new (PHYSNN_TYPE_QUANT_OBJECTIVE, NULL);
  self->model = g_object_ref (model);
  self->kind = kind;
  self->cpu = physnn_device_new ("cpu", error);
  if (self->cpu == NULL)
    g_clear_object (&self);
  return self;
}

/**
 * physnn_quant_objective_new_classification:
 * @model: a classifier whose first output holds logits [N, classes]
 * @inputs: (array length=n_inputs): one tensor per model input, N samples
 * @n_inputs: the number of inputs
 * @labels: class indices, [N]
 * @error: return location for a #GError
 *
 * The loss is the cross-entropy of the quantized model's logits; the
 * accuracy is its top-1 accuracy.
 *
 * Returns: (transfer full): the objective, or %NULL with @error set (data
 *   of the wrong shape, labels that are not class indices)
 */
PhysnnQuantObjective *
physnn_quant_objective_new_classification (PhysnnModel *model,
    PhysnnTensor **inputs, guint n_inputs, PhysnnTensor *labels, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (model), NULL);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (labels), NULL);
  g_autoptr (PhysnnQuantObjective) self =
      objective_new (model, KIND_CLASSIFICATION, error);
  if (self == NULL || !take_data (self, inputs, n_inputs, error))
    return NULL;
  self->loss = physnn_loss_new (model, error);
  if (self->loss == NULL ||
      physnn_loss_add_cross_entropy (self->loss, "cross-entropy", inputs,
          n_inputs, 0, labels, 1.0, error) < 0)
    return NULL;
  /* the loss checked the labels: count and class indices */
  guint rank;
  const gint64 *dims = physnn_model_get_output_shape (model, 0, &rank);
  gsize n;
  g_autofree gdouble *l = physnn_tensor_to_doubles (labels, &n);
  for (gsize i = 0; dims && rank == 2 && dims[1] > 0 && i < n; i++)
    if (l[i] >= dims[1]) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "label %" G_GSIZE_FORMAT " is %g but %s has %" G_GINT64_FORMAT
          " classes",
          i, l[i], physnn_model_get_path (model), dims[1]);
      return NULL;
    }
  self->targets = physnn_tensor_convert (labels, PHYSNN_DTYPE_FLOAT64);
  if (!finish (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

/**
 * physnn_quant_objective_new_regression:
 * @model: the model
 * @inputs: (array length=n_inputs): one tensor per model input, N samples
 * @n_inputs: the number of inputs
 * @targets: the wanted first output, its shape
 * @error: return location for a #GError
 *
 * The loss is the mean squared error of the quantized model's first output.
 * Targets computed by the float model measure how far quantization moves
 * the outputs, with no labels needed.
 *
 * Returns: (transfer full): the objective, or %NULL with @error set
 */
PhysnnQuantObjective *
physnn_quant_objective_new_regression (PhysnnModel *model,
    PhysnnTensor **inputs, guint n_inputs, PhysnnTensor *targets,
    GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (model), NULL);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (targets), NULL);
  g_autoptr (PhysnnQuantObjective) self =
      objective_new (model, KIND_REGRESSION, error);
  if (self == NULL || !take_data (self, inputs, n_inputs, error))
    return NULL;
  self->loss = physnn_loss_new (model, error);
  if (self->loss == NULL || physnn_loss_add_mse (self->loss, "mse", inputs,
                                n_inputs, 0, targets, 1.0, error) < 0)
    return NULL;
  g_autoptr (GPtrArray) outs =
      physnn_model_run (model, self->cpu, inputs, n_inputs, error);
  if (outs == NULL)
    return NULL;
  if (physnn_tensor_get_n_elements (g_ptr_array_index (outs, 0)) !=
      physnn_tensor_get_n_elements (targets)) {
    g_autofree gchar *have = physnn_tensor_describe (targets);
    g_autofree gchar *want =
        physnn_tensor_describe (g_ptr_array_index (outs, 0));
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "targets are %s; the model's first output is %s", have, want);
    return NULL;
  }
  self->targets = physnn_tensor_convert (targets, PHYSNN_DTYPE_FLOAT64);
  if (!finish (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

/* Collocation points: a Latin hypercube (fixed seed) over the model's
 * "physnn.domain", columns in coordinate order. */
static PhysnnTensor *
sample_domain (PhysnnModel *model, gsize n, GError **error)
{
  const gchar *domain = physnn_model_get_metadata (model, "physnn.domain");
  const gchar *coords = physnn_model_get_coordinate_names (model);
  if (domain == NULL || coords == NULL || *coords == '\0' ||
      physnn_model_get_n_inputs (model) != 1) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "%s: no collocation points given and the model names no domain "
        "(metadata physnn.domain) over a single coordinate input",
        physnn_model_get_path (model));
    return NULL;
  }
  g_auto (GStrv) names = g_strsplit (coords, ",", -1);
  g_auto (GStrv) parts = g_strsplit (domain, ",", -1);
  guint d = g_strv_length (names);
  g_autofree gdouble *lo = g_new (gdouble, d);
  g_autofree gdouble *hi = g_new (gdouble, d);
  for (guint c = 0; c < d; c++) {
    gboolean found = FALSE;
    for (guint k = 0; parts[k] && !found; k++) {
      gchar *eq = strchr (parts[k], '=');
      gchar *colon = eq ? strchr (eq, ':') : NULL;
      if (eq == NULL || colon == NULL ||
          strncmp (g_strstrip (parts[k]), names[c], eq - parts[k]) != 0 ||
          (gsize)(eq - parts[k]) != strlen (names[c]))
        continue;
      lo[c] = g_ascii_strtod (eq + 1, NULL);
      hi[c] = g_ascii_strtod (colon + 1, NULL);
      found = isfinite (lo[c]) && isfinite (hi[c]) && hi[c] > lo[c];
    }
    if (!found) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "%s: domain \"%s\" gives no range for coordinate %s",
          physnn_model_get_path (model), domain, names[c]);
      return NULL;
    }
  }
  gsize shape[2] = { n, d };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  gfloat *p = physnn_tensor_map (t, PHYSNN_MAP_WRITE, NULL);
  g_autoptr (GRand) rng = g_rand_new_with_seed (7);
  g_autofree gsize *perm = g_new (gsize, n);
  for (guint c = 0; c < d; c++) {
    for (gsize i = 0; i < n; i++)
      perm[i] = i;
    for (gsize i = n - 1; i > 0; i--) {
      gsize j = (gsize)g_rand_int_range (rng, 0, (gint32)i + 1);
      gsize tmp = perm[i];
      perm[i] = perm[j];
      perm[j] = tmp;
    }
    for (gsize i = 0; i < n; i++) {
      gdouble u = (perm[i] + g_rand_double (rng)) / n;
      p[i * d + c] = (gfloat)(lo[c] + u * (hi[c] - lo[c]));
    }
  }
  physnn_tensor_unmap (t);
  return t;
}

/**
 * physnn_quant_objective_new_physics:
 * @model: a PINN (coordinates set, e.g. from its metadata)
 * @pde: (nullable): the residual, e.g. "u_t - 0.1*u_xx" (equations
 *   separated by ';'), or %NULL for the model's "physnn.pde" metadata
 * @parameters: (nullable): constants used by @pde, "nu=0.01,alpha=0.1"
 * @points: (nullable): collocation points [N, coordinates], or %NULL for
 *   2048 Latin-hypercube points over the model's "physnn.domain"
 * @error: return location for a #GError
 *
 * The loss is the mean squared PDE residual of the quantized PINN at the
 * points (plus terms added by physnn_quant_objective_add_condition()).
 *
 * Returns: (transfer full): the objective, or %NULL with @error set
 */
PhysnnQuantObjective *
physnn_quant_objective_new_physics (PhysnnModel *model, const gchar *pde,
    const gchar *parameters, PhysnnTensor *points, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (model), NULL);
  g_autoptr (PhysnnQuantObjective) self =
      objective_new (model, KIND_PHYSICS, error);
  if (self == NULL)
    return NULL;
  if (pde == NULL)
    pde = physnn_model_get_metadata (model, "physnn.pde");
  if (pde == NULL || *pde == '\0') {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "%s: no PDE given and the model carries none (metadata physnn.pde)",
        physnn_model_get_path (model));
    return NULL;
  }
  g_autoptr (PhysnnTensor) own = NULL;
  if (points == NULL) {
    own = sample_domain (model, DEFAULT_POINTS, error);
    if (own == NULL)
      return NULL;
    points = own;
  }
  if (!take_data (self, &points, 1, error))
    return NULL;
  self->loss = physnn_loss_new (model, error);
  if (self->loss == NULL)
    return NULL;
  if (parameters && *parameters) {
    g_auto (GStrv) defs = g_strsplit (parameters, ",", -1);
    for (guint i = 0; defs[i]; i++) {
      gchar *eq = strchr (defs[i], '=');
      gchar *end = NULL;
      gdouble v = eq ? g_ascii_strtod (eq + 1, &end) : NAN;
      if (eq == NULL || end == eq + 1 || !isfinite (v)) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
            "parameter \"%s\" is not NAME=NUMBER", defs[i]);
        return NULL;
      }
      *eq = '\0';
      if (!physnn_loss_define (self->loss, g_strstrip (defs[i]), v, error))
        return NULL;
    }
  }
  if (physnn_loss_add_residual (
          self->loss, "pde", pde, &points, 1, 1.0, error) < 0)
    return NULL;
  if (!finish (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

/**
 * physnn_quant_objective_add_condition:
 * @self: a physics #PhysnnQuantObjective
 * @name: a name for the term ("initial", "boundary" ...)
 * @points: points on the boundary or at the initial time, [M, coordinates]
 * @targets: the wanted first output there, [M] or [M, 1]
 * @weight: the term's factor in the loss
 * @error: return location for a #GError
 *
 * Adds @weight · mean((u − target)²) at @points to the physics loss.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_objective_add_condition (PhysnnQuantObjective *self,
    const gchar *name, PhysnnTensor *points, PhysnnTensor *targets,
    gdouble weight, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_OBJECTIVE (self), FALSE);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (points), FALSE);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (targets), FALSE);
  if (self->kind != KIND_PHYSICS) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "conditions belong to physics objectives");
    return FALSE;
  }
  if (!(weight >= 0) || !isfinite (weight)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "condition \"%s\": weight %g is not a finite number >= 0", name,
        weight);
    return FALSE;
  }
  if (physnn_tensor_get_dim (points, 0) !=
      physnn_tensor_get_n_elements (targets)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "condition \"%s\": %" G_GSIZE_FORMAT " targets for %" G_GSIZE_FORMAT
        " points",
        name, physnn_tensor_get_n_elements (targets),
        physnn_tensor_get_dim (points, 0));
    return FALSE;
  }
  gsize shape[2] = { physnn_tensor_get_n_elements (targets), 1 };
  g_autoptr (PhysnnTensor) t = physnn_tensor_reshape (targets, 2, shape, error);
  if (t == NULL || physnn_loss_add_mse (
                       self->loss, name, &points, 1, 0, t, weight, error) < 0)
    return FALSE;
  return physnn_loss_evaluate (self->loss, &self->ref_loss, NULL, error);
}

/**
 * physnn_quant_objective_is_physics:
 * @self: a #PhysnnQuantObjective
 *
 * Returns: whether the loss is a physics (PDE residual) loss
 */
gboolean
physnn_quant_objective_is_physics (PhysnnQuantObjective *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_OBJECTIVE (self), FALSE);
  return self->kind == KIND_PHYSICS;
}

/**
 * physnn_quant_objective_get_kind_name:
 * @self: a #PhysnnQuantObjective
 *
 * Returns: "classification", "regression" or "physics"
 */
const gchar *
physnn_quant_objective_get_kind_name (PhysnnQuantObjective *self)
{
  static const gchar *names[] = { "classification", "regression", "physics" };
  g_return_val_if_fail (PHYSNN_IS_QUANT_OBJECTIVE (self), NULL);
  return names[self->kind];
}

/**
 * physnn_quant_objective_get_model:
 * @self: a #PhysnnQuantObjective
 *
 * Returns: (transfer none): the float model
 */
PhysnnModel *
physnn_quant_objective_get_model (PhysnnQuantObjective *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_OBJECTIVE (self), NULL);
  return self->model;
}

/**
 * physnn_quant_objective_get_loss:
 * @self: a #PhysnnQuantObjective
 *
 * Returns: (transfer none): the loss at the float weights, with exact
 *   gradients and Hessian-vector products (what the sensitivities use)
 */
PhysnnLoss *
physnn_quant_objective_get_loss (PhysnnQuantObjective *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_OBJECTIVE (self), NULL);
  return self->loss;
}

/**
 * physnn_quant_objective_get_reference_loss:
 * @self: a #PhysnnQuantObjective
 *
 * Returns: the float model's loss
 */
gdouble
physnn_quant_objective_get_reference_loss (PhysnnQuantObjective *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_OBJECTIVE (self), NAN);
  return self->ref_loss;
}

/**
 * physnn_quant_objective_get_reference_accuracy:
 * @self: a #PhysnnQuantObjective
 *
 * Returns: the float model's accuracy (classification), NaN otherwise
 */
gdouble
physnn_quant_objective_get_reference_accuracy (PhysnnQuantObjective *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_OBJECTIVE (self), NAN);
  return self->ref_accuracy;
}

/**
 * physnn_quant_objective_get_n_evaluations:
 * @self: a #PhysnnQuantObjective
 *
 * Returns: how many plans were evaluated
 */
guint64
physnn_quant_objective_get_n_evaluations (PhysnnQuantObjective *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_OBJECTIVE (self), 0);
  return self->n_evaluations;
}

gboolean
_physnn_quant_objective_same_model (
    PhysnnQuantObjective *self, PhysnnQuantPlan *plan, GError **error)
{
  if (physnn_quant_plan_get_model (plan) == self->model)
    return TRUE;
  g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
      "the plan is for %s, the objective for %s",
      physnn_model_get_path (physnn_quant_plan_get_model (plan)),
      physnn_model_get_path (self->model));
  return FALSE;
}

/* The loss's parameter tensor holding a layer's bias, or -1. */
gint
_physnn_quant_objective_bias_tensor (
    PhysnnQuantObjective *self, PhysnnQuantLayer *l)
{
  for (guint k = 0; l->bias && k < physnn_loss_get_n_tensors (self->loss); k++)
    if (strcmp (physnn_loss_get_tensor_name (self->loss, k), l->bias) == 0 &&
        physnn_loss_get_tensor_size (self->loss, k) == l->bias_size)
      return (gint)k;
  return -1;
}

/* The parameter vector with every quantized layer's weights replaced by
 * their dequantized values; NULL with @error set if a layer's weight is not
 * a loss parameter. */
gdouble *
_physnn_quant_objective_parameters (PhysnnQuantObjective *self,
    PhysnnQuantPlan *plan, gint only_layer, PhysnnPrecision only_precision,
    GError **error)
{
  gdouble *p =
      g_memdup2 (self->base, MAX (self->n_params, 1) * sizeof (gdouble));
  for (guint li = 0; li < physnn_quant_plan_get_n_layers (plan); li++) {
    PhysnnPrecision prec =
        only_layer >= 0
            ? (li == (guint)only_layer ? only_precision : PHYSNN_PRECISION_FP32)
            : physnn_quant_plan_get_precision (plan, li);
    if (prec == PHYSNN_PRECISION_FP32 &&
        (only_layer >= 0 || !physnn_quant_plan_get_fine_tuned (plan, li)))
      continue;
    const gchar *w = physnn_quant_plan_get_layer_weight (plan, li);
    gint ti = -1;
    for (guint k = 0; k < physnn_loss_get_n_tensors (self->loss); k++)
      if (strcmp (physnn_loss_get_tensor_name (self->loss, k), w) == 0)
        ti = (gint)k;
    const PhysnnQuantWeights *qw =
        _physnn_quant_plan_weights (plan, li, prec, error);
    if (qw == NULL) {
      g_free (p);
      return NULL;
    }
    if (ti < 0 || physnn_loss_get_tensor_size (self->loss, ti) !=
                      physnn_quant_plan_get_layer_size (plan, li)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "weight \"%s\" is not a trainable parameter of the loss", w);
      g_free (p);
      return NULL;
    }
    memcpy (p + physnn_loss_get_tensor_offset (self->loss, ti), qw->deq,
        physnn_quant_plan_get_layer_size (plan, li) * sizeof (gdouble));
  }
  /* corrected biases */
  for (guint li = 0;
       only_layer < 0 && li < physnn_quant_plan_get_n_layers (plan); li++) {
    PhysnnQuantLayer *l = _physnn_quant_plan_layer (plan, li);
    gint bi = l->bias_fix ? _physnn_quant_objective_bias_tensor (self, l) : -1;
    if (bi >= 0)
      memcpy (p + physnn_loss_get_tensor_offset (self->loss, bi), l->bias_fix,
          l->bias_size * sizeof (gdouble));
  }
  return p;
}

/**
 * physnn_quant_objective_evaluate:
 * @self: a #PhysnnQuantObjective
 * @plan: a plan for the objective's model
 * @loss: (out) (optional): the quantized model's loss
 * @accuracy: (out) (optional): its accuracy (classification), NaN otherwise
 * @error: return location for a #GError
 *
 * Runs the quantized model on the objective's data (see the file comment).
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_objective_evaluate (PhysnnQuantObjective *self,
    PhysnnQuantPlan *plan, gdouble *loss, gdouble *accuracy, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_OBJECTIVE (self), FALSE);
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (plan), FALSE);
  if (!_physnn_quant_objective_same_model (self, plan, error))
    return FALSE;
  gdouble l = NAN, a = NAN;
  self->n_evaluations++;
  if (self->kind == KIND_PHYSICS) {
    if (physnn_quant_plan_get_activations (plan)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "physics objectives quantize weights only: a quantized activation "
          "has zero derivatives, so the PDE residual of such a model is "
          "meaningless; clear the plan's activation ranges");
      return FALSE;
    }
    g_autofree gdouble *p = _physnn_quant_objective_parameters (
        self, plan, -1, PHYSNN_PRECISION_FP32, error);
    gsize shape[1] = { self->n_params };
    if (p == NULL)
      return FALSE;
    g_autoptr (PhysnnTensor) pt = physnn_tensor_new_from_doubles (
        PHYSNN_DTYPE_FLOAT64, 1, shape, p, shape[0], NULL);
    g_autoptr (PhysnnTensor) base = physnn_tensor_new_from_doubles (
        PHYSNN_DTYPE_FLOAT64, 1, shape, self->base, shape[0], NULL);
    gboolean ok = physnn_loss_set_parameters (self->loss, pt, error) &&
                  physnn_loss_evaluate (self->loss, &l, NULL, error);
    physnn_loss_set_parameters (self->loss, base, NULL);
    if (!ok)
      return FALSE;
  } else {
    gboolean quantized = FALSE;
    for (guint i = 0; i < physnn_quant_plan_get_n_layers (plan); i++)
      quantized |=
          physnn_quant_plan_get_precision (plan, i) != PHYSNN_PRECISION_FP32 ||
          physnn_quant_plan_get_fine_tuned (plan, i) ||
          physnn_quant_plan_get_bias_corrected (plan, i);
    if (!quantized) {
      l = self->ref_loss;
      a = self->ref_accuracy;
    } else {
      g_autoptr (PhysnnModel) q = physnn_quant_plan_apply (plan, error);
      if (q == NULL || !score_model (self, q, &l, &a, error))
        return FALSE;
    }
  }
  if (loss)
    *loss = l;
  if (accuracy)
    *accuracy = a;
  return TRUE;
}

/**
 * physnn_quant_objective_validate_physics:
 * @self: a physics #PhysnnQuantObjective
 * @plan: a plan for the objective's model
 * @max_loss: the largest acceptable physics loss, or 0 for no limit
 * @max_increase: the largest acceptable relative increase over the float
 *   model's loss (0.1 = +10 %), or a negative number for no limit
 * @loss: (out) (optional): the quantized model's physics loss
 * @error: return location for a #GError
 *
 * validate_physics_accuracy: evaluates the quantized PINN's physics loss at
 * the objective's points and checks it against the thresholds.
 *
 * Returns: %TRUE if the plan passes; %FALSE with @error set (naming the
 *   loss, the threshold and the float model's loss) if not
 */
gboolean
physnn_quant_objective_validate_physics (PhysnnQuantObjective *self,
    PhysnnQuantPlan *plan, gdouble max_loss, gdouble max_increase,
    gdouble *loss, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_OBJECTIVE (self), FALSE);
  if (self->kind != KIND_PHYSICS) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "validate_physics needs a physics objective (this one is %s)",
        physnn_quant_objective_get_kind_name (self));
    return FALSE;
  }
  if (!(max_loss >= 0) || isnan (max_increase)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "max-loss %g must be >= 0 (0: no limit)", max_loss);
    return FALSE;
  }
  gdouble l;
  if (!physnn_quant_objective_evaluate (self, plan, &l, NULL, error))
    return FALSE;
  if (loss)
    *loss = l;
  gdouble inc = (l - self->ref_loss) / self->ref_loss;
  if (max_loss > 0 && !(l <= max_loss)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
        "physics loss %.4g of the quantized model exceeds the threshold %.4g "
        "(float model: %.4g)",
        l, max_loss, self->ref_loss);
    return FALSE;
  }
  if (max_increase >= 0 && !(inc <= max_increase)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
        "physics loss %.4g of the quantized model is %+.1f %% of the float "
        "model's %.4g; at most %+.1f %% is allowed",
        l, 100 * inc, self->ref_loss, 100 * max_increase);
    return FALSE;
  }
  return TRUE;
}

/* L-BFGS over the biases: the full parameter vector is the quantized one
 * with the bias entries taken from x. */
typedef struct {
  PhysnnQuantObjective *self;
  gdouble *params;
  gsize *index; /* bias entry -> parameter index */
  gsize n;
} BiasFit;

static gboolean
bias_fit_func (
    gpointer user, const gdouble *x, gdouble *f, gdouble *g, GError **error)
{
  BiasFit *b = user;
  gsize np = b->self->n_params;
  for (gsize i = 0; i < b->n; i++)
    b->params[b->index[i]] = x[i];
  gsize shape[1] = { np };
  g_autoptr (PhysnnTensor) pt = physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_FLOAT64, 1, shape, b->params, np, NULL);
  g_autoptr (PhysnnTensor) gt = NULL;
  if (!physnn_loss_set_parameters (b->self->loss, pt, error) ||
      !physnn_loss_evaluate (b->self->loss, f, g ? &gt : NULL, error))
    return FALSE;
  for (gsize i = 0; g && i < b->n; i++)
    g[i] = physnn_tensor_get_value (gt, b->index[i]);
  return TRUE;
}

/**
 * physnn_quant_objective_correct_biases:
 * @self: a #PhysnnQuantObjective
 * @plan: a plan for the objective's model (changed in place)
 * @max_iterations: L-BFGS iterations at most (e.g. 50)
 * @loss: (out) (optional): the quantized model's loss afterwards
 * @error: return location for a #GError
 *
 * Physics-aware bias correction: with the plan's quantized weights fixed,
 * fits the float32 biases of every layer (which the plan keeps in float32
 * anyway) to minimise the objective's loss — for a PINN the PDE residual —
 * by L-BFGS with exact gradients, and stores them in the plan. The model
 * size does not change. A correction that does not lower the loss is not
 * kept.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_objective_correct_biases (PhysnnQuantObjective *self,
    PhysnnQuantPlan *plan, guint max_iterations, gdouble *loss, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_OBJECTIVE (self), FALSE);
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (plan), FALSE);
  if (!_physnn_quant_objective_same_model (self, plan, error))
    return FALSE;
  gdouble before;
  if (!physnn_quant_objective_evaluate (self, plan, &before, NULL, error))
    return FALSE;
  BiasFit b = { self, NULL, NULL, 0 };
  b.params = _physnn_quant_objective_parameters (
      self, plan, -1, PHYSNN_PRECISION_FP32, error);
  if (b.params == NULL)
    return FALSE;
  guint L = physnn_quant_plan_get_n_layers (plan);
  GArray *idx = g_array_new (FALSE, FALSE, sizeof (gsize));
  for (guint li = 0; li < L; li++) {
    PhysnnQuantLayer *l = _physnn_quant_plan_layer (plan, li);
    gint bi = _physnn_quant_objective_bias_tensor (self, l);
    for (gsize k = 0; bi >= 0 && k < l->bias_size; k++) {
      gsize at = physnn_loss_get_tensor_offset (self->loss, bi) + k;
      g_array_append_val (idx, at);
    }
  }
  b.n = idx->len;
  b.index = (gsize *)g_array_free (idx, FALSE);
  gboolean ok = TRUE;
  if (b.n > 0) {
    g_autofree gdouble *x = g_new (gdouble, b.n);
    for (gsize i = 0; i < b.n; i++)
      x[i] = b.params[b.index[i]];
    g_autoptr (PhysnnLbfgs) opt = physnn_lbfgs_new ();
    g_object_set (opt, "max-iterations", MAX (max_iterations, 1), NULL);
    guint its;
    gdouble v;
    ok = _physnn_lbfgs_run (
        opt, x, b.n, bias_fit_func, NULL, &b, &its, &v, NULL, error);
    /* keep the loss at the float weights for the sensitivities */
    gsize shape[1] = { self->n_params };
    g_autoptr (PhysnnTensor) base = physnn_tensor_new_from_doubles (
        PHYSNN_DTYPE_FLOAT64, 1, shape, self->base, shape[0], NULL);
    physnn_loss_set_parameters (self->loss, base, NULL);
    if (ok) {
      g_autoptr (PhysnnQuantPlan) trial = physnn_quant_plan_copy (plan);
      gsize at = 0;
      for (guint li = 0; ok && li < L; li++) {
        PhysnnQuantLayer *l = _physnn_quant_plan_layer (trial, li);
        if (_physnn_quant_objective_bias_tensor (self, l) < 0)
          continue;
        ok = physnn_quant_plan_set_bias_correction (
            trial, li, x + at, l->bias_size, error);
        at += l->bias_size;
      }
      gdouble after;
      ok = ok &&
           physnn_quant_objective_evaluate (self, trial, &after, NULL, error);
      if (ok && after < before) {
        for (guint li = 0; li < L; li++) {
          PhysnnQuantLayer *t = _physnn_quant_plan_layer (trial, li);
          physnn_quant_plan_set_bias_correction (
              plan, li, t->bias_fix, t->bias_fix ? t->bias_size : 0, NULL);
        }
        before = after;
      }
    }
  }
  g_free (b.params);
  g_free (b.index);
  if (ok && loss)
    *loss = before;
  return ok;
}
