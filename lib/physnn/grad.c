/* physnn — PhysnnLoss: weighted loss terms of a model's parameters, with
 * exact gradients by reverse mode (tape.c) over the float64 reference
 * executor.
 *
 * A residual term is the mean over its points of the squared residual of
 * each equation (summed over equations). The residual is an expression in
 * the model's output components (u), their derivatives by coordinates
 * (u_t, u_xx, u_xt: forward-mode jets), the coordinates (x, t) and named
 * constants. Its gradient flows from the residual into the jet components
 * of the outputs and from there, through every op's jet rule, into the
 * weights: the gradient of a PINN's physics loss, not an approximation.
 *
 * Points are processed in chunks of a fixed number of rows, in parallel
 * threads when the graph evaluates points independently (checked once by
 * evaluating two rows together and apart); chunk results are summed in
 * chunk order, so results do not depend on the number of threads.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/grad-private.h"
#include "physnn/error.h"
#include "physnn/grad-cl-private.h"
#include "physnn/model-private.h"
#include "physnn/pde.h"
#include "physnn/rx-private.h"
#include "physnn/tensor-private.h"

#include <math.h>
#include <string.h>

#define VAL(g, i) ((PhysnnValue *)g_ptr_array_index ((g)->values, (i)))
#define CHUNK_ROWS 1024
#define CL_CHUNK_ROWS 65536
#define MAX_COORDS 16

typedef enum { TERM_MSE, TERM_CE, TERM_RESIDUAL } TermKind;
typedef enum { B_COORD, B_OUTPUT, B_CONST } BindKind;

typedef struct {
  BindKind kind;
  guint input;        /* B_COORD: model input */
  guint column, cols; /* column and width of the input/output */
  guint output;       /* B_OUTPUT: model output */
  guint comp;         /* B_OUTPUT: jet component */
  gdouble value;      /* B_CONST */
  gchar *name;        /* B_CONST: looked up at each run */
} Binding;

typedef struct {
  PhysnnRx *rx;
  Binding *bind;
} Equation;

typedef struct {
  TermKind kind;
  gchar *name;
  gdouble weight;
  PhysnnTensor **inputs; /* float inputs as float64 */
  guint n_inputs;
  gsize n_points;
  PhysnnTensor *target; /* MSE: float64; CE: labels as float64 */
  guint output;
  GPtrArray *eqs; /* Equation* */
  PhysnnJetSpec spec;
  gchar *derivs;
  gdouble value; /* weighted, at the last evaluation */
  PhysnnDevice *ran_on; /* the last evaluation's device; NULL: reference */
} Term;

/* An OpenCL plan for one jet request (NULL plan: not possible, why). */
typedef struct {
  PhysnnJetSpec key;
  PhysnnClMlp *plan;
  gchar *why;
} ClEntry;

typedef struct {
  gchar *name;
  guint output, column, width;
} Component;

struct _PhysnnLoss {
  GObject parent;

  PhysnnModel *model;
  PhysnnGraph *graph;
  PhysnnParamSet *ps;
  gdouble *params;
  gchar **tensor_layers;
  GPtrArray *terms;      /* Term* */
  GHashTable *constants; /* name -> gdouble* */
  gint per_point;        /* -1 not yet known */
  guint n_threads;

  guint n_coords;
  gchar *coord_names[MAX_COORDS];
  guint coord_input[MAX_COORDS];
  gint coord_column[MAX_COORDS];
  guint coord_cols[MAX_COORDS];
  GArray *components; /* Component */

  PhysnnDevice *device; /* NULL: the reference path */
  GArray *cl_plans;     /* ClEntry */
};

G_DEFINE_FINAL_TYPE (PhysnnLoss, physnn_loss, G_TYPE_OBJECT)

static void
term_free (Term *t)
{
  for (guint i = 0; i < t->n_inputs; i++)
    g_clear_object (&t->inputs[i]);
  g_free (t->inputs);
  g_clear_object (&t->target);
  if (t->eqs)
    g_ptr_array_unref (t->eqs);
  g_free (t->name);
  g_free (t->derivs);
  g_free (t);
}

static void
equation_free (Equation *e)
{
  guint n = _physnn_rx_get_n_symbols (e->rx);
  for (guint i = 0; i < n; i++)
    g_free (e->bind[i].name);
  g_free (e->bind);
  _physnn_rx_free (e->rx);
  g_free (e);
}

static void
clear_cl_plans (PhysnnLoss *self)
{
  for (guint i = 0; i < self->cl_plans->len; i++) {
    ClEntry *e = &g_array_index (self->cl_plans, ClEntry, i);
    _physnn_cl_mlp_free (e->plan);
    g_free (e->why);
  }
  g_array_set_size (self->cl_plans, 0);
}

static void
physnn_loss_finalize (GObject *object)
{
  PhysnnLoss *self = PHYSNN_LOSS (object);
  clear_cl_plans (self);
  g_array_unref (self->cl_plans);
  g_clear_object (&self->device);
  g_ptr_array_unref (self->terms);
  g_hash_table_unref (self->constants);
  for (guint i = 0; i < self->n_coords; i++)
    g_free (self->coord_names[i]);
  for (guint i = 0; i < self->components->len; i++)
    g_free (g_array_index (self->components, Component, i).name);
  g_array_unref (self->components);
  if (self->ps)
    for (guint i = 0; i < self->ps->n; i++)
      g_free (self->tensor_layers[i]);
  g_free (self->tensor_layers);
  _physnn_param_set_free (self->ps);
  g_free (self->params);
  g_clear_object (&self->model);
  G_OBJECT_CLASS (physnn_loss_parent_class)->finalize (object);
}

static void
physnn_loss_class_init (PhysnnLossClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = physnn_loss_finalize;
}

static void
physnn_loss_init (PhysnnLoss *self)
{
  self->terms = g_ptr_array_new_with_free_func ((GDestroyNotify)term_free);
  self->constants =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->components = g_array_new (FALSE, TRUE, sizeof (Component));
  self->cl_plans = g_array_new (FALSE, TRUE, sizeof (ClEntry));
  self->per_point = -1;
  self->n_threads = MAX (g_get_num_processors (), 1);
  const gchar *env = g_getenv ("PHYSNN_THREADS");
  if (env && atoi (env) > 0)
    self->n_threads = (guint)atoi (env);
}

/* ------------------------------------------------------------------------ */
/* Names: coordinates and output components, as PhysnnModel defines them */

static gboolean
setup_names (PhysnnLoss *self, GError **error)
{
  PhysnnModel *m = self->model;
  const gchar *cin = physnn_model_get_coordinate_input (m);
  g_auto (GStrv) cn =
      g_strsplit (physnn_model_get_coordinate_names (m), ",", -1);

  for (guint i = 0; cn[i] && *cn[i] && i < MAX_COORDS; i++) {
    const gchar *in = cin ? cin : cn[i];
    gint idx = physnn_model_find_input (m, in);
    guint rank;
    const gint64 *dims;
    if (idx < 0)
      continue;
    dims = physnn_model_get_input_shape (m, (guint)idx, &rank);
    self->coord_names[self->n_coords] = g_strdup (cn[i]);
    self->coord_input[self->n_coords] = (guint)idx;
    self->coord_column[self->n_coords] = cin ? (gint)i : -1;
    self->coord_cols[self->n_coords] =
        cin && rank > 0 && dims && dims[rank - 1] > 0 ? (guint)dims[rank - 1]
                                                      : 1;
    self->n_coords++;
  }

  g_auto (GStrv) on = g_strsplit (physnn_model_get_output_names (m), ",", -1);
  guint used = 0;
  for (guint o = 0; o < physnn_model_get_n_outputs (m); o++) {
    guint rank;
    const gint64 *dims = physnn_model_get_output_shape (m, o, &rank);
    gint64 w = rank > 0 && dims && dims[rank - 1] > 0 ? dims[rank - 1] : 1;
    for (gint64 c = 0; c < MIN (w, 64); c++) {
      Component comp = { NULL, o, (guint)c, (guint)w };
      if (on[used] == NULL) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
            "%s: output components and their names do not match",
            physnn_model_get_path (m));
        return FALSE;
      }
      comp.name = g_strdup (g_strstrip (on[used++]));
      g_array_append_val (self->components, comp);
    }
  }
  return TRUE;
}

static gint
find_component (PhysnnLoss *self, const gchar *name, gsize len)
{
  for (guint i = 0; i < self->components->len; i++) {
    const gchar *n = g_array_index (self->components, Component, i).name;
    if (strlen (n) == len && strncmp (n, name, len) == 0)
      return (gint)i;
  }
  return -1;
}

static gint
find_coord (PhysnnLoss *self, const gchar *s, gsize *len)
{
  gint best = -1;
  gsize best_len = 0;
  for (guint i = 0; i < self->n_coords; i++) {
    gsize l = strlen (self->coord_names[i]);
    if (l > best_len && strncmp (s, self->coord_names[i], l) == 0) {
      best = (gint)i;
      best_len = l;
    }
  }
  *len = best_len;
  return best;
}

static gchar *
names_list (PhysnnLoss *self, gboolean coords)
{
  GString *s = g_string_new (NULL);
  guint n = coords ? self->n_coords : self->components->len;
  for (guint i = 0; i < n; i++)
    g_string_append_printf (s, "%s%s", i ? ", " : "",
        coords ? self->coord_names[i]
               : g_array_index (self->components, Component, i).name);
  if (n == 0)
    g_string_append (s, "none");
  return g_string_free (s, FALSE);
}

/* "u_xt" -> component, coordinates (up to 2). Returns the order, 0 when the
 * name is not a derivative, -1 with @error set when it looks like one but
 * cannot be satisfied. */
static gint
parse_derivative (PhysnnLoss *self, const gchar *sym, const gchar *expr,
    guint *comp, guint coords[2], GError **error)
{
  const gchar *us = NULL;
  gint best = -1;
  for (const gchar *p = strchr (sym, '_'); p; p = strchr (p + 1, '_')) {
    gint c = find_component (self, sym, p - sym);
    if (c >= 0) {
      us = p;
      best = c;
    }
  }
  if (best < 0)
    return 0;
  const gchar *p = us + 1;
  guint order = 0;
  if (*p == '\0')
    return 0;
  while (*p) {
    gsize len;
    gint c = find_coord (self, p, &len);
    if (c < 0) {
      g_autofree gchar *cl = names_list (self, TRUE);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "\"%s\": %s is a derivative by \"%s\", which is not a coordinate "
          "of the model (coordinates: %s)",
          expr, sym, p, cl);
      return -1;
    }
    if (order == 2) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "\"%s\": %s is a derivative of order 3 or more; the jets carry "
          "first and second derivatives",
          expr, sym);
      return -1;
    }
    coords[order++] = (guint)c;
    p += len;
  }
  *comp = (guint)best;
  return (gint)order;
}

/* ------------------------------------------------------------------------ */
/* Construction */

/**
 * physnn_loss_new:
 * @model: the model whose parameters the loss is a function of
 * @error: return location for a #GError
 *
 * Creates an empty loss. The parameters are the model's floating-point
 * initializers (weights and biases), copied: changing them through the loss
 * never changes @model. Coordinates and output names are the model's (see
 * physnn_model_set_coordinates() and physnn_model_set_output_names()), as
 * they are when the loss is created.
 *
 * Returns: (transfer full): the loss, or %NULL with @error set
 */
PhysnnLoss *
physnn_loss_new (PhysnnModel *model, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (model), NULL);
  g_autoptr (PhysnnLoss) self = g_object_new (PHYSNN_TYPE_LOSS, NULL);
  self->model = g_object_ref (model);
  self->graph = _physnn_model_get_graph (model);
  self->ps =
      _physnn_param_set_new (self->graph, _physnn_model_get_onnx (model));
  self->params = g_new0 (gdouble, MAX (self->ps->total, 1));
  self->tensor_layers = g_new0 (gchar *, MAX (self->ps->n, 1));
  for (guint p = 0; p < self->ps->n; p++) {
    PhysnnValue *v = VAL (self->graph, self->ps->value[p]);
    for (gsize i = 0; i < self->ps->size[p]; i++)
      self->params[self->ps->offset[p] + i] =
          physnn_tensor_get_value (v->constant, i);
    for (guint k = 0; k < self->graph->nodes->len && !self->tensor_layers[p];
         k++) {
      PhysnnNode *n = g_ptr_array_index (self->graph->nodes, k);
      for (guint j = 0; j < n->n_inputs; j++)
        if (n->inputs[j] == self->ps->value[p]) {
          self->tensor_layers[p] = g_strdup (n->name);
          break;
        }
    }
    if (!self->tensor_layers[p])
      self->tensor_layers[p] = g_strdup ("");
  }
  if (self->ps->n == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "%s: the model has no floating-point parameters to differentiate "
        "by",
        physnn_model_get_path (model));
    return NULL;
  }
  if (!setup_names (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

/**
 * physnn_loss_get_model:
 * @self: a #PhysnnLoss
 *
 * Returns: (transfer none): the model
 */
PhysnnModel *
physnn_loss_get_model (PhysnnLoss *self)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), NULL);
  return self->model;
}

/* Checks the inputs against the model and converts float inputs to
 * float64; the number of points is the largest leading dimension. */
static gboolean
take_inputs (
    PhysnnLoss *self, Term *t, PhysnnTensor **inputs, guint n, GError **error)
{
  guint want = physnn_model_get_n_inputs (self->model);
  if (n != want) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "%s: %u input tensors for a model of %u inputs",
        physnn_model_get_path (self->model), n, want);
    return FALSE;
  }
  gsize points = 0;
  for (guint i = 0; i < n; i++) {
    g_return_val_if_fail (PHYSNN_IS_TENSOR (inputs[i]), FALSE);
    guint rank;
    const gsize *shape = physnn_tensor_get_shape (inputs[i], &rank);
    guint drank;
    const gint64 *dims = physnn_model_get_input_shape (self->model, i, &drank);
    if (dims && drank > 0) {
      gboolean ok = rank == drank;
      for (guint d = 0; ok && d < rank; d++)
        ok = dims[d] < 0 || (gsize)dims[d] == shape[d];
      if (!ok) {
        g_autofree gchar *have = physnn_tensor_describe (inputs[i]);
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
            "%s: input \"%s\" given as %s does not fit the model's declared "
            "shape",
            physnn_model_get_path (self->model),
            physnn_model_get_input_name (self->model, i), have);
        return FALSE;
      }
    }
    if (rank > 0)
      points = MAX (points, shape[0]);
  }
  if (points == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "loss term \"%s\": no points (the inputs have no rows)", t->name);
    return FALSE;
  }
  for (guint i = 0; i < t->n_inputs; i++)
    g_clear_object (&t->inputs[i]);
  g_free (t->inputs);
  t->inputs = g_new0 (PhysnnTensor *, n);
  t->n_inputs = n;
  for (guint i = 0; i < n; i++) {
    PhysnnDType dt = physnn_tensor_get_dtype (inputs[i]);
    t->inputs[i] = physnn_dtype_is_float (dt) && dt != PHYSNN_DTYPE_FLOAT64
                       ? physnn_tensor_convert (inputs[i], PHYSNN_DTYPE_FLOAT64)
                       : physnn_tensor_copy (inputs[i]);
    gsize bad = physnn_dtype_is_float (dt)
                    ? physnn_tensor_count_nonfinite (inputs[i])
                    : 0;
    if (bad) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "loss term \"%s\": input \"%s\" holds %" G_GSIZE_FORMAT " NaN or "
          "infinite values",
          t->name, physnn_model_get_input_name (self->model, i), bad);
      return FALSE;
    }
  }
  t->n_points = points;
  return TRUE;
}

static gint
add_term (PhysnnLoss *self, Term *t)
{
  g_ptr_array_add (self->terms, t);
  return (gint)self->terms->len - 1;
}

static gchar *
default_name (PhysnnLoss *self, const gchar *name, const gchar *kind)
{
  return name ? g_strdup (name)
              : g_strdup_printf ("%s%u", kind, self->terms->len);
}

/**
 * physnn_loss_add_mse:
 * @self: a #PhysnnLoss
 * @name: (nullable): a name for progress reports, or %NULL
 * @inputs: (array length=n_inputs): one tensor per model input
 * @n_inputs: the number of inputs
 * @output: the model output compared with @target
 * @target: the wanted output, the output's shape
 * @weight: the term's factor in the loss
 * @error: return location for a #GError
 *
 * Adds @weight · mean((output − target)²) over all elements, as
 * torch.nn.MSELoss computes it.
 *
 * Returns: the term's index, or -1 with @error set
 */
gint
physnn_loss_add_mse (PhysnnLoss *self, const gchar *name, PhysnnTensor **inputs,
    guint n_inputs, guint output, PhysnnTensor *target, gdouble weight,
    GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), -1);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (target), -1);
  Term *t = g_new0 (Term, 1);
  t->kind = TERM_MSE;
  t->name = default_name (self, name, "mse");
  t->weight = weight;
  t->output = output;
  t->spec.n_comp = 1;
  if (output >= physnn_model_get_n_outputs (self->model)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "the model has %u outputs; output %u does not exist",
        physnn_model_get_n_outputs (self->model), output);
    term_free (t);
    return -1;
  }
  if (!take_inputs (self, t, inputs, n_inputs, error)) {
    term_free (t);
    return -1;
  }
  if (physnn_tensor_count_nonfinite (target)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "loss term \"%s\": the target holds NaN or infinite values", t->name);
    term_free (t);
    return -1;
  }
  t->target = physnn_tensor_convert (target, PHYSNN_DTYPE_FLOAT64);
  return add_term (self, t);
}

/**
 * physnn_loss_add_cross_entropy:
 * @self: a #PhysnnLoss
 * @name: (nullable): a name for progress reports, or %NULL
 * @inputs: (array length=n_inputs): one tensor per model input
 * @n_inputs: the number of inputs
 * @output: the model output holding logits, [N, classes]
 * @labels: class indices, [N], integer or float
 * @weight: the term's factor in the loss
 * @error: return location for a #GError
 *
 * Adds @weight · mean over samples of −log softmax(logits)[label], as
 * torch.nn.CrossEntropyLoss computes it from logits.
 *
 * Returns: the term's index, or -1 with @error set
 */
gint
physnn_loss_add_cross_entropy (PhysnnLoss *self, const gchar *name,
    PhysnnTensor **inputs, guint n_inputs, guint output, PhysnnTensor *labels,
    gdouble weight, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), -1);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (labels), -1);
  Term *t = g_new0 (Term, 1);
  t->kind = TERM_CE;
  t->name = default_name (self, name, "cross-entropy");
  t->weight = weight;
  t->output = output;
  t->spec.n_comp = 1;
  if (output >= physnn_model_get_n_outputs (self->model)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "the model has %u outputs; output %u does not exist",
        physnn_model_get_n_outputs (self->model), output);
    term_free (t);
    return -1;
  }
  if (!take_inputs (self, t, inputs, n_inputs, error)) {
    term_free (t);
    return -1;
  }
  if (physnn_tensor_get_n_elements (labels) != t->n_points) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "loss term \"%s\": %" G_GSIZE_FORMAT " labels for %" G_GSIZE_FORMAT
        " samples",
        t->name, physnn_tensor_get_n_elements (labels), t->n_points);
    term_free (t);
    return -1;
  }
  t->target = physnn_tensor_convert (labels, PHYSNN_DTYPE_FLOAT64);
  const gdouble *l = _physnn_tensor_host (t->target, PHYSNN_ACCESS_READ);
  for (gsize i = 0; i < t->n_points; i++)
    if (!(l[i] >= 0 && l[i] == floor (l[i]) && l[i] < 1e9)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "loss term \"%s\": label %" G_GSIZE_FORMAT " is %g, not a class "
          "index",
          t->name, i, l[i]);
      term_free (t);
      return -1;
    }
  return add_term (self, t);
}

/* Resolves the symbols of every equation of a residual term and builds the
 * jet request they need. */
static gboolean
bind_residual (PhysnnLoss *self, Term *t, GError **error)
{
  PhysnnJetSpec spec = { 0 };
  gint dir_of_coord[MAX_COORDS];
  GString *derivs = g_string_new (NULL);

  for (guint c = 0; c < MAX_COORDS; c++)
    dir_of_coord[c] = -1;
  /* Pass 1: which coordinates are differentiated by. */
  for (guint pass = 0; pass < 2; pass++) {
    for (guint e = 0; e < t->eqs->len; e++) {
      Equation *eq = g_ptr_array_index (t->eqs, e);
      const gchar *text = _physnn_rx_get_text (eq->rx);
      for (guint s = 0; s < _physnn_rx_get_n_symbols (eq->rx); s++) {
        const gchar *sym = _physnn_rx_get_symbol (eq->rx, s);
        Binding *b = &eq->bind[s];
        guint comp, coords[2];
        gsize len;
        gint c = find_coord (self, sym, &len);
        if (c >= 0 && len == strlen (sym)) {
          b->kind = B_COORD;
          b->input = self->coord_input[c];
          b->column =
              self->coord_column[c] < 0 ? 0 : (guint)self->coord_column[c];
          b->cols = self->coord_cols[c];
          continue;
        }
        gint oc = find_component (self, sym, strlen (sym));
        if (oc >= 0) {
          Component *co = &g_array_index (self->components, Component, oc);
          b->kind = B_OUTPUT;
          b->output = co->output;
          b->column = co->column;
          b->cols = co->width;
          b->comp = 0;
          continue;
        }
        if (g_hash_table_contains (self->constants, sym)) {
          b->kind = B_CONST;
          g_free (b->name);
          b->name = g_strdup (sym);
          continue;
        }
        gint order = parse_derivative (self, sym, text, &comp, coords, error);
        if (order < 0) {
          g_string_free (derivs, TRUE);
          return FALSE;
        }
        if (order == 0) {
          g_autofree gchar *ol = names_list (self, FALSE);
          g_autofree gchar *cl = names_list (self, TRUE);
          g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
              "\"%s\": unknown symbol \"%s\" (the model's outputs: %s; its "
              "coordinates: %s; derivatives are written like %s_%s; other "
              "names must be defined as constants)",
              text, sym, ol, cl,
              g_array_index (self->components, Component, 0).name,
              self->n_coords ? self->coord_names[0] : "x");
          g_string_free (derivs, TRUE);
          return FALSE;
        }
        if (pass == 0) {
          for (gint k = 0; k < order; k++)
            dir_of_coord[coords[k]] = 0;
          continue;
        }
        Component *co = &g_array_index (self->components, Component, comp);
        guint a = (guint)dir_of_coord[coords[0]];
        guint bb = order > 1 ? (guint)dir_of_coord[coords[1]] : a;
        gint jc;
        if (order == 1) {
          jc = physnn_jet_first (&spec, a);
        } else {
          jc = physnn_jet_second (&spec, MIN (a, bb), MAX (a, bb));
          if (jc < 0) {
            if (spec.n_second == PHYSNN_MAX_SECOND) {
              g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
                  "\"%s\": more than %d distinct second derivatives", text,
                  PHYSNN_MAX_SECOND);
              g_string_free (derivs, TRUE);
              return FALSE;
            }
            spec.second_dirs[spec.n_second][0] = MIN (a, bb);
            spec.second_dirs[spec.n_second][1] = MAX (a, bb);
            spec.n_second++;
            spec.n_comp = 1 + spec.n_first + spec.n_second;
            jc = physnn_jet_second (&spec, a, bb);
          }
        }
        b->kind = B_OUTPUT;
        b->output = co->output;
        b->column = co->column;
        b->cols = co->width;
        b->comp = (guint)jc;
        /* list each distinct derivative once */
        g_auto (GStrv) have = g_strsplit (derivs->str, ",", -1);
        if (!g_strv_contains ((const gchar *const *)have, sym))
          g_string_append_printf (derivs, "%s%s", derivs->len ? "," : "", sym);
      }
    }
    if (pass == 0) {
      /* Directions: the coordinates used, in coordinate order. */
      for (guint c = 0; c < self->n_coords; c++) {
        if (dir_of_coord[c] < 0)
          continue;
        if (spec.n_dirs == PHYSNN_MAX_DIRS) {
          g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
              "derivatives along more than %d coordinates", PHYSNN_MAX_DIRS);
          g_string_free (derivs, TRUE);
          return FALSE;
        }
        dir_of_coord[c] = (gint)spec.n_dirs;
        spec.dir_input[spec.n_dirs] =
            g_array_index (self->graph->inputs, gint, self->coord_input[c]);
        spec.dir_column[spec.n_dirs] = self->coord_column[c];
        spec.n_dirs++;
      }
      spec.n_first = spec.n_dirs;
      spec.n_comp = 1 + spec.n_first;
    }
  }
  t->spec = spec;
  g_free (t->derivs);
  t->derivs = g_string_free (derivs, FALSE);
  return TRUE;
}

/**
 * physnn_loss_add_residual:
 * @self: a #PhysnnLoss
 * @name: (nullable): a name for progress reports, or %NULL
 * @expression: the residual in the PDE language (see physnn_pde_new()),
 *   e.g. "u_t - 0.1*u_xx" or "u_t = 0.1*u_xx" for the heat equation,
 *   "u - sin(pi*x)" for an initial condition; several equations separated
 *   by ';'
 * @inputs: (array length=n_inputs): one tensor per model input: the points
 *   (collocation points, boundary points ...), one row each
 * @n_inputs: the number of inputs
 * @weight: the term's factor in the loss
 * @error: return location for a #GError
 *
 * Adds @weight · Σ_equations mean over points of residual². The text is
 * parsed by the engine's PDE language (#PhysnnPde: its grammar, `lhs = rhs`
 * meaning lhs − rhs, and its syntax errors with the column); each equation's
 * canonical form is then compiled into the training path's differentiable
 * form. Symbols are the model's output components (u), their first and
 * second derivatives by coordinates (u_x, u_xx, u_xt), the coordinates (x,
 * t), constants set by physnn_loss_define() and pi. A symbol the model
 * cannot provide (an unknown output, a derivative by something that is not
 * a coordinate) is an error naming it.
 *
 * Returns: the term's index, or -1 with @error set
 */
gint
physnn_loss_add_residual (PhysnnLoss *self, const gchar *name,
    const gchar *expression, PhysnnTensor **inputs, guint n_inputs,
    gdouble weight, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), -1);
  g_return_val_if_fail (expression != NULL, -1);
  Term *t = g_new0 (Term, 1);
  t->kind = TERM_RESIDUAL;
  t->name = default_name (self, name, "residual");
  t->weight = weight;
  t->eqs = g_ptr_array_new_with_free_func ((GDestroyNotify)equation_free);
  g_autoptr (PhysnnPde) pde = physnn_pde_new (expression, error);
  if (pde == NULL) {
    g_prefix_error (error, "loss term \"%s\": ", t->name);
    term_free (t);
    return -1;
  }
  for (guint i = 0; i < physnn_pde_get_n_equations (pde); i++) {
    /* the canonical form has at most one '=', the equation's own */
    g_autofree gchar *eq_text = physnn_pde_get_equation (pde, i);
    gchar *eq_sign = strchr (eq_text, '=');
    g_autofree gchar *rx_text =
        eq_sign ? g_strdup_printf ("%.*s - (%s)", (gint)(eq_sign - eq_text),
                      eq_text, eq_sign + 1)
                : g_strdup (eq_text);
    PhysnnRx *rx = _physnn_rx_parse (g_strstrip (rx_text), error);
    if (rx == NULL) {
      term_free (t);
      return -1;
    }
    Equation *eq = g_new0 (Equation, 1);
    eq->rx = rx;
    eq->bind = g_new0 (Binding, MAX (_physnn_rx_get_n_symbols (rx), 1));
    g_ptr_array_add (t->eqs, eq);
  }
  if (t->eqs->len == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "loss term \"%s\": the residual expression is empty", t->name);
    term_free (t);
    return -1;
  }
  if (!bind_residual (self, t, error) ||
      !take_inputs (self, t, inputs, n_inputs, error)) {
    term_free (t);
    return -1;
  }
  return add_term (self, t);
}

/**
 * physnn_loss_set_term_inputs:
 * @self: a #PhysnnLoss
 * @term: a term index
 * @inputs: (array length=n_inputs): new points, one tensor per model input
 * @n_inputs: the number of inputs
 * @error: return location for a #GError
 *
 * Replaces the points of a term (resampled collocation points, the next
 * mini-batch).
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_loss_set_term_inputs (PhysnnLoss *self, guint term,
    PhysnnTensor **inputs, guint n_inputs, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), FALSE);
  g_return_val_if_fail (term < self->terms->len, FALSE);
  Term *t = g_ptr_array_index (self->terms, term);
  gsize before = t->n_points;
  if (!take_inputs (self, t, inputs, n_inputs, error))
    return FALSE;
  if (t->target && t->n_points != before &&
      physnn_tensor_get_dim (t->target, 0) != t->n_points) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "loss term \"%s\": %" G_GSIZE_FORMAT " points do not match the "
        "target's %" G_GSIZE_FORMAT " rows",
        t->name, t->n_points, physnn_tensor_get_dim (t->target, 0));
    return FALSE;
  }
  return TRUE;
}

gboolean
_physnn_loss_set_term_data (PhysnnLoss *self, guint term,
    PhysnnTensor **inputs, guint n_inputs, PhysnnTensor *target,
    GError **error)
{
  g_return_val_if_fail (term < self->terms->len, FALSE);
  Term *t = g_ptr_array_index (self->terms, term);
  if (!take_inputs (self, t, inputs, n_inputs, error))
    return FALSE;
  g_clear_object (&t->target);
  t->target = physnn_tensor_convert (target, PHYSNN_DTYPE_FLOAT64);
  return TRUE;
}

PhysnnTensor **
_physnn_loss_get_term_inputs (PhysnnLoss *self, guint term, guint *n_inputs)
{
  g_return_val_if_fail (term < self->terms->len, NULL);
  Term *t = g_ptr_array_index (self->terms, term);
  *n_inputs = t->n_inputs;
  return t->inputs;
}

/**
 * physnn_loss_set_term_weight:
 * @self: a #PhysnnLoss
 * @term: a term index
 * @weight: the new factor
 *
 * Returns: %FALSE if there is no such term
 */
gboolean
physnn_loss_set_term_weight (PhysnnLoss *self, guint term, gdouble weight)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), FALSE);
  if (term >= self->terms->len)
    return FALSE;
  ((Term *)g_ptr_array_index (self->terms, term))->weight = weight;
  return TRUE;
}

/**
 * physnn_loss_define:
 * @self: a #PhysnnLoss
 * @name: a constant's name, such as "nu"
 * @value: its value
 * @error: return location for a #GError
 *
 * Defines or changes a named constant that residual expressions can use.
 * Define constants before adding the terms that use them.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_loss_define (
    PhysnnLoss *self, const gchar *name, gdouble value, GError **error)
{
  gsize len;
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  gboolean ok = g_ascii_isalpha (*name);
  for (const gchar *p = name; *p && ok; p++)
    ok = g_ascii_isalnum (*p) || *p == '_';
  gint c = find_coord (self, name, &len);
  if (!ok || (c >= 0 && len == strlen (name)) ||
      find_component (self, name, strlen (name)) >= 0 ||
      strcmp (name, "pi") == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "\"%s\" cannot be a constant's name (a name is letters, digits and "
        "'_', starting with a letter, and not a coordinate, an output or pi)",
        name);
    return FALSE;
  }
  gdouble *v = g_new (gdouble, 1);
  *v = value;
  g_hash_table_replace (self->constants, g_strdup (name), v);
  return TRUE;
}

/**
 * physnn_loss_get_n_terms:
 * @self: a #PhysnnLoss
 *
 * Returns: the number of terms
 */
guint
physnn_loss_get_n_terms (PhysnnLoss *self)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), 0);
  return self->terms->len;
}

/**
 * physnn_loss_get_term_name:
 * @self: a #PhysnnLoss
 * @term: a term index
 *
 * Returns: (nullable): the term's name
 */
const gchar *
physnn_loss_get_term_name (PhysnnLoss *self, guint term)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), NULL);
  return term < self->terms->len
             ? ((Term *)g_ptr_array_index (self->terms, term))->name
             : NULL;
}

/**
 * physnn_loss_get_term_value:
 * @self: a #PhysnnLoss
 * @term: a term index
 *
 * Returns: the term's weighted contribution at the last evaluation
 */
gdouble
physnn_loss_get_term_value (PhysnnLoss *self, guint term)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), NAN);
  return term < self->terms->len
             ? ((Term *)g_ptr_array_index (self->terms, term))->value
             : NAN;
}

/**
 * physnn_loss_get_term_derivatives:
 * @self: a #PhysnnLoss
 * @term: a term index
 *
 * Returns: (transfer full): the derivatives a residual term needs, comma
 *   separated (e.g. "u_t,u_xx"); "" for other terms
 */
gchar *
physnn_loss_get_term_derivatives (PhysnnLoss *self, guint term)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), NULL);
  if (term >= self->terms->len)
    return NULL;
  Term *t = g_ptr_array_index (self->terms, term);
  return g_strdup (t->derivs ? t->derivs : "");
}

/* ------------------------------------------------------------------------ */
/* Parameters */

/**
 * physnn_loss_get_n_tensors:
 * @self: a #PhysnnLoss
 *
 * Returns: the number of parameter tensors (the model's float initializers)
 */
guint
physnn_loss_get_n_tensors (PhysnnLoss *self)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), 0);
  return self->ps->n;
}

/**
 * physnn_loss_get_tensor_name:
 * @self: a #PhysnnLoss
 * @index: a parameter tensor index
 *
 * Returns: (nullable): the initializer's name, e.g. "net.0.weight"
 */
const gchar *
physnn_loss_get_tensor_name (PhysnnLoss *self, guint index)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), NULL);
  return index < self->ps->n ? VAL (self->graph, self->ps->value[index])->name
                             : NULL;
}

/**
 * physnn_loss_get_tensor_layer:
 * @self: a #PhysnnLoss
 * @index: a parameter tensor index
 *
 * Returns: (nullable): the name of the first node that uses the tensor (the
 *   layer it belongs to)
 */
const gchar *
physnn_loss_get_tensor_layer (PhysnnLoss *self, guint index)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), NULL);
  return index < self->ps->n ? self->tensor_layers[index] : NULL;
}

/**
 * physnn_loss_get_tensor_offset:
 * @self: a #PhysnnLoss
 * @index: a parameter tensor index
 *
 * Returns: where the tensor starts in the flat parameter vector
 */
gsize
physnn_loss_get_tensor_offset (PhysnnLoss *self, guint index)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), 0);
  return index < self->ps->n ? self->ps->offset[index] : 0;
}

/**
 * physnn_loss_get_tensor_size:
 * @self: a #PhysnnLoss
 * @index: a parameter tensor index
 *
 * Returns: the tensor's number of elements
 */
gsize
physnn_loss_get_tensor_size (PhysnnLoss *self, guint index)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), 0);
  return index < self->ps->n ? self->ps->size[index] : 0;
}

/**
 * physnn_loss_get_n_parameters:
 * @self: a #PhysnnLoss
 *
 * Returns: the length of the flat parameter vector
 */
gsize
physnn_loss_get_n_parameters (PhysnnLoss *self)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), 0);
  return self->ps->total;
}

/**
 * physnn_loss_get_parameters:
 * @self: a #PhysnnLoss
 *
 * Returns: (transfer full): a copy of the parameters as one float64 vector,
 *   the tensors one after the other in their ONNX element order
 */
PhysnnTensor *
physnn_loss_get_parameters (PhysnnLoss *self)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), NULL);
  gsize shape[1] = { self->ps->total };
  return physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_FLOAT64, 1, shape, self->params, self->ps->total, NULL);
}

/**
 * physnn_loss_set_parameters:
 * @self: a #PhysnnLoss
 * @params: a vector of physnn_loss_get_n_parameters() values, any float
 *   type
 * @error: return location for a #GError
 *
 * Sets the parameters the loss is evaluated at (e.g. quantized weights).
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_loss_set_parameters (
    PhysnnLoss *self, PhysnnTensor *params, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), FALSE);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (params), FALSE);
  if (physnn_tensor_get_n_elements (params) != self->ps->total) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "%" G_GSIZE_FORMAT " parameters given; the model has %" G_GSIZE_FORMAT,
        physnn_tensor_get_n_elements (params), self->ps->total);
    return FALSE;
  }
  for (gsize i = 0; i < self->ps->total; i++)
    self->params[i] = physnn_tensor_get_value (params, i);
  return TRUE;
}

gdouble *
_physnn_loss_peek_parameters (PhysnnLoss *self)
{
  return self->params;
}

const PhysnnParamSet *
_physnn_loss_get_param_set (PhysnnLoss *self)
{
  return self->ps;
}

/**
 * physnn_loss_set_threads:
 * @self: a #PhysnnLoss
 * @n_threads: threads evaluating chunks of points; 0 for the number of
 *   processors
 *
 * Results do not depend on it: chunks are fixed and summed in order.
 */
void
physnn_loss_set_threads (PhysnnLoss *self, guint n_threads)
{
  g_return_if_fail (PHYSNN_IS_LOSS (self));
  self->n_threads = n_threads ? n_threads : MAX (g_get_num_processors (), 1);
}

/**
 * physnn_loss_set_device:
 * @self: a #PhysnnLoss
 * @device: (nullable): an OpenCL device, or %NULL (or a CPU device) for
 *   the reference path
 *
 * Evaluates the loss and its gradient on @device where the model contains
 * a dense MLP (consecutive Gemm layers with tanh, sin or sigmoid between
 * them, every weight and bias a parameter, no other node reading inside
 * it): its forward pass with the derivative jets and its reverse pass run
 * as OpenCL kernels, in double precision where the device supports it
 * (float otherwise). The rest of the graph (a fixed input scaling before
 * it, a hard-constraint ansatz after it), the residuals, targets and their
 * cotangents are computed on the host, on the reference path. A graph
 * without such layers, or a term whose request the kernels cannot serve,
 * stays entirely on the reference path (physnn_loss_get_term_device()
 * tells which ran).
 */
void
physnn_loss_set_device (PhysnnLoss *self, PhysnnDevice *device)
{
  g_return_if_fail (PHYSNN_IS_LOSS (self));
  g_return_if_fail (device == NULL || PHYSNN_IS_DEVICE (device));
  if (device && physnn_device_get_kind (device) != PHYSNN_DEVICE_KIND_OPENCL)
    device = NULL;
  if (device == self->device)
    return;
  clear_cl_plans (self);
  g_clear_object (&self->device);
  self->device = device ? g_object_ref (device) : NULL;
}

/**
 * physnn_loss_get_term_device:
 * @self: a #PhysnnLoss
 * @term: a term index
 *
 * Returns: (transfer none) (nullable): the device the term's last
 *   evaluation ran on, or %NULL for the reference path
 */
PhysnnDevice *
physnn_loss_get_term_device (PhysnnLoss *self, guint term)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), NULL);
  if (term >= self->terms->len)
    return NULL;
  return ((Term *)g_ptr_array_index (self->terms, term))->ran_on;
}

/* The OpenCL plan for a term's jet request, built once; NULL when the
 * reference path must serve it (or with @error set when building failed). */
static PhysnnClMlp *
cl_plan_for (PhysnnLoss *self, Term *t, GError **error)
{
  if (self->device == NULL)
    return NULL;
  for (guint i = 0; i < self->cl_plans->len; i++) {
    ClEntry *e = &g_array_index (self->cl_plans, ClEntry, i);
    if (memcmp (&e->key, &t->spec, sizeof t->spec) == 0)
      return e->plan;
  }
  ClEntry e = { t->spec, NULL, NULL };
  e.plan = _physnn_cl_mlp_new (
      self->graph, self->ps, &t->spec, self->device, &e.why, error);
  if (e.plan == NULL && e.why == NULL)
    return NULL; /* a build error: not cached, reported */
  if (e.plan == NULL)
    g_debug ("%s: loss terms stay on the reference path: %s",
        physnn_model_get_path (self->model), e.why);
  g_array_append_val (self->cl_plans, e);
  return e.plan;
}

/* ------------------------------------------------------------------------ */
/* Evaluation */

typedef struct {
  PhysnnLoss *loss;
  Term *term;
  gsize row0, rows;
  gboolean chunked;
  const gdouble *params;
  gboolean want_grad;
  gdouble value;
  gdouble *grad;
  gdouble *residual_sq; /* optional: per point */
  GError *error;
  PhysnnClMlp *cl; /* the dense layers on OpenCL, or NULL */
} Chunk;

static const PhysnnJetValue *
chunk_value (Chunk *c, PhysnnTape *tape, gint ov)
{
  return _physnn_tape_get_value (tape, ov);
}

static PhysnnJetValue *
chunk_cotangent (Chunk *c, PhysnnTape *tape, gint ov)
{
  return _physnn_tape_get_cotangent (tape, ov);
}

/* The rows of a chunk as tensors (views, no copies). */
static PhysnnTensor **
chunk_inputs (Chunk *c)
{
  Term *t = c->term;
  PhysnnTensor **in = g_new0 (PhysnnTensor *, t->n_inputs);
  for (guint i = 0; i < t->n_inputs; i++) {
    guint rank;
    const gsize *shape = physnn_tensor_get_shape (t->inputs[i], &rank);
    if (!c->chunked || rank == 0 || shape[0] != t->n_points) {
      in[i] = g_object_ref (t->inputs[i]);
      continue;
    }
    gsize vs[PHYSNN_MAX_RANK], row = 1;
    memcpy (vs, shape, rank * sizeof (gsize));
    for (guint d = 1; d < rank; d++)
      row *= shape[d];
    vs[0] = c->rows;
    in[i] = physnn_tensor_view (t->inputs[i], c->row0 * row, rank, vs, NULL);
  }
  return in;
}

static void
free_inputs (PhysnnTensor **in, guint n)
{
  for (guint i = 0; i < n; i++)
    g_clear_object (&in[i]);
  g_free (in);
}

/* Checks the shape of an output: one row of `cols` values per point. */
static gboolean
output_rows (Chunk *c, PhysnnTensor *y, guint output, gsize *cols)
{
  guint rank;
  const gsize *shape = physnn_tensor_get_shape (y, &rank);
  gsize n = physnn_tensor_get_n_elements (y);
  *cols = rank >= 2 ? n / MAX (shape[0], 1) : 1;
  if (rank == 0 || shape[0] != c->rows || n != c->rows * *cols) {
    g_autofree gchar *d = physnn_tensor_describe (y);
    g_set_error (&c->error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "loss term \"%s\": output %u is %s for %" G_GSIZE_FORMAT " points; "
        "the model must give one row per point",
        c->term->name, output, d, c->rows);
    return FALSE;
  }
  return TRUE;
}

static void
run_chunk (Chunk *c)
{
  PhysnnLoss *self = c->loss;
  Term *t = c->term;
  PhysnnTensor **in = chunk_inputs (c);
  gdouble N = (gdouble)t->n_points;
  PhysnnTapeSegment seg;
  if (c->cl)
    _physnn_cl_mlp_segment (c->cl, c->params, &seg);
  PhysnnTape *tape = _physnn_tape_forward_segment (self->graph, &t->spec,
      self->ps, c->params, in, c->cl ? &seg : NULL, &c->error);
  if (tape == NULL)
    goto out;

  if (t->kind == TERM_MSE || t->kind == TERM_CE) {
    gint ov = g_array_index (self->graph->outputs, gint, t->output);
    PhysnnTensor *y = chunk_value (c, tape, ov)->comp[0];
    gsize cols;
    if (!output_rows (c, y, t->output, &cols))
      goto out;
    const gdouble *yv = _physnn_tensor_host (y, PHYSNN_ACCESS_READ);
    const gdouble *tv = _physnn_tensor_host (t->target, PHYSNN_ACCESS_READ);
    gdouble *yb = c->want_grad
                      ? _physnn_tensor_host (
                            chunk_cotangent (c, tape, ov)->comp[0],
                            PHYSNN_ACCESS_READWRITE)
                      : NULL;
    if (t->kind == TERM_MSE) {
      gsize total = physnn_tensor_get_n_elements (t->target);
      if (total != t->n_points * cols) {
        g_autofree gchar *d = physnn_tensor_describe (t->target);
        g_set_error (&c->error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
            "loss term \"%s\": the target is %s; the output has "
            "%" G_GSIZE_FORMAT " values per sample",
            t->name, d, cols);
        goto out;
      }
      gdouble scale = t->weight / (gdouble)total;
      const gdouble *tt = tv + c->row0 * cols;
      for (gsize i = 0; i < c->rows * cols; i++) {
        gdouble d = yv[i] - tt[i];
        c->value += scale * d * d;
        if (yb)
          yb[i] += 2 * scale * d;
      }
    } else {
      gdouble scale = t->weight / N;
      for (gsize p = 0; p < c->rows; p++) {
        const gdouble *z = yv + p * cols;
        gsize label = (gsize)tv[c->row0 + p];
        if (label >= cols) {
          g_set_error (&c->error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
              "loss term \"%s\": label %" G_GSIZE_FORMAT
              " of sample %" G_GSIZE_FORMAT " is not below the %" G_GSIZE_FORMAT
              " classes",
              t->name, label, c->row0 + p, cols);
          goto out;
        }
        gdouble mx = z[0];
        for (gsize k = 1; k < cols; k++)
          mx = MAX (mx, z[k]);
        gdouble sum = 0;
        for (gsize k = 0; k < cols; k++)
          sum += exp (z[k] - mx);
        gdouble lse = mx + log (sum);
        c->value += scale * (lse - z[label]);
        if (yb)
          for (gsize k = 0; k < cols; k++)
            yb[p * cols + k] += scale * (exp (z[k] - lse) - (k == label));
      }
    }
  } else {
    g_autofree gdouble *r = g_new (gdouble, c->rows);
    g_autofree gdouble *rb = g_new (gdouble, c->rows);
    for (guint e = 0; e < t->eqs->len; e++) {
      Equation *eq = g_ptr_array_index (t->eqs, e);
      guint ns = _physnn_rx_get_n_symbols (eq->rx);
      g_autofree const gdouble **sym = g_new0 (const gdouble *, MAX (ns, 1));
      g_autofree gdouble **symb = g_new0 (gdouble *, MAX (ns, 1));
      g_autofree gsize *stride = g_new0 (gsize, MAX (ns, 1));
      g_autofree gdouble *consts = g_new0 (gdouble, MAX (ns, 1));
      for (guint s = 0; s < ns; s++) {
        Binding *b = &eq->bind[s];
        switch (b->kind) {
          case B_COORD: {
            PhysnnTensor *x = in[b->input];
            gsize cols = physnn_tensor_get_n_elements (x) / MAX (c->rows, 1);
            if (!physnn_dtype_is_float (physnn_tensor_get_dtype (x)) ||
                physnn_tensor_get_n_elements (x) != c->rows * cols ||
                b->column >= cols) {
              g_set_error (&c->error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
                  "loss term \"%s\": input \"%s\" does not hold one row of "
                  "coordinates per point",
                  t->name, physnn_model_get_input_name (self->model, b->input));
              goto out;
            }
            sym[s] =
                (const gdouble *)_physnn_tensor_host (x, PHYSNN_ACCESS_READ) +
                b->column;
            stride[s] = cols;
            break;
          }
          case B_OUTPUT: {
            gint ov = g_array_index (self->graph->outputs, gint, b->output);
            const PhysnnJetValue *v = chunk_value (c, tape, ov);
            gsize cols;
            if (!output_rows (c, v->comp[0], b->output, &cols))
              goto out;
            if (b->column >= cols) {
              g_set_error (&c->error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
                  "loss term \"%s\": output %u has %" G_GSIZE_FORMAT
                  " columns, fewer than its declared shape",
                  t->name, b->output, cols);
              goto out;
            }
            if (b->comp >= v->n_comp) {
              /* The output does not depend on the coordinates: its
               * derivatives are zero. */
              consts[s] = 0;
              sym[s] = &consts[s];
              stride[s] = 0;
              break;
            }
            sym[s] = (const gdouble *)_physnn_tensor_host (
                         v->comp[b->comp], PHYSNN_ACCESS_READ) +
                     b->column;
            stride[s] = cols;
            if (c->want_grad)
              symb[s] =
                  (gdouble *)_physnn_tensor_host (
                      chunk_cotangent (c, tape, ov)->comp[b->comp],
                      PHYSNN_ACCESS_READWRITE) +
                  b->column;
            break;
          }
          case B_CONST: {
            gdouble *v = g_hash_table_lookup (self->constants, b->name);
            consts[s] = v ? *v : NAN;
            sym[s] = &consts[s];
            stride[s] = 0;
            break;
          }
        }
      }
      _physnn_rx_eval (eq->rx, c->rows, sym, stride, r);
      gdouble sum = 0;
      for (gsize p = 0; p < c->rows; p++) {
        sum += r[p] * r[p];
        rb[p] = 2 * t->weight * r[p] / N;
        if (c->residual_sq)
          c->residual_sq[c->row0 + p] += r[p] * r[p];
      }
      c->value += t->weight * sum / N;
      if (c->want_grad)
        _physnn_rx_vjp (eq->rx, c->rows, sym, stride, rb, symb, stride, NULL);
    }
  }
  if (c->want_grad && c->grad)
    _physnn_tape_backward (tape, c->grad, &c->error);
out:
  _physnn_tape_free (tape);
  free_inputs (in, t->n_inputs);
}

typedef struct {
  Chunk *chunks;
  guint n;
  gint next;
} Work;

static gpointer
worker (gpointer data)
{
  Work *w = data;
  for (;;) {
    gint i = g_atomic_int_add (&w->next, 1);
    if (i >= (gint)w->n)
      break;
    run_chunk (&w->chunks[i]);
  }
  return NULL;
}

/* Decides once whether rows are independent (so chunks may split them). */
static gboolean
check_per_point (
    PhysnnLoss *self, Term *t, const gdouble *params, GError **error)
{
  if (self->per_point >= 0 || t->n_points < 2)
    return TRUE;
  PhysnnTape *tp[3] = { NULL };
  gboolean same = TRUE;
  for (guint k = 0; k < 3; k++) {
    Chunk c = { self, t, k == 2 ? 0 : k, k == 2 ? 2 : 1, TRUE };
    PhysnnTensor **in = chunk_inputs (&c);
    tp[k] =
        _physnn_tape_forward (self->graph, NULL, self->ps, params, in, error);
    free_inputs (in, t->n_inputs);
    if (tp[k] == NULL)
      goto done;
  }
  for (guint o = 0; o < self->graph->outputs->len && same; o++) {
    gint ov = g_array_index (self->graph->outputs, gint, o);
    PhysnnTensor *a = _physnn_tape_get_value (tp[0], ov)->comp[0];
    PhysnnTensor *b = _physnn_tape_get_value (tp[1], ov)->comp[0];
    PhysnnTensor *ab = _physnn_tape_get_value (tp[2], ov)->comp[0];
    gsize na = physnn_tensor_get_n_elements (a);
    if (physnn_tensor_get_n_elements (b) != na ||
        physnn_tensor_get_n_elements (ab) != 2 * na ||
        physnn_tensor_get_rank (ab) == 0 || physnn_tensor_get_dim (ab, 0) != 2)
      same = FALSE;
    for (gsize i = 0; same && i < 2 * na; i++) {
      gdouble x = physnn_tensor_get_value (ab, i);
      gdouble y = physnn_tensor_get_value (i < na ? a : b, i % MAX (na, 1));
      if (!(fabs (x - y) <= 1e-12 * (1 + fabs (y))))
        same = FALSE;
    }
  }
  self->per_point = same;
  if (!same)
    g_debug ("%s: rows are not independent; evaluating all points at once",
        physnn_model_get_path (self->model));
done:
  for (guint k = 0; k < 3; k++)
    _physnn_tape_free (tp[k]);
  return self->per_point >= 0;
}

/* The OpenCL path: chunks one after the other (the device runs each
 * chunk's points in parallel), summed in order. */
static gboolean
eval_term_cl (PhysnnLoss *self, Term *t, PhysnnClMlp *cl,
    const gdouble *params, gdouble *grad, gdouble *residual_sq,
    gdouble *value, GError **error)
{
  gdouble v = 0;
  gsize chunk = t->n_points;
  if (t->n_points > CL_CHUNK_ROWS) {
    if (!check_per_point (self, t, params, error))
      return FALSE;
    if (self->per_point == 1)
      chunk = CL_CHUNK_ROWS;
  }
  for (gsize row0 = 0; row0 < t->n_points; row0 += chunk) {
    Chunk c = { 0 };
    c.loss = self;
    c.term = t;
    c.chunked = chunk < t->n_points;
    c.row0 = row0;
    c.rows = MIN (chunk, t->n_points - row0);
    c.params = params;
    c.want_grad = grad != NULL;
    c.grad = grad;
    c.residual_sq = residual_sq;
    c.cl = cl;
    run_chunk (&c);
    if (c.error) {
      g_propagate_error (error, c.error);
      return FALSE;
    }
    v += c.value;
  }
  t->value = v;
  *value += v;
  return TRUE;
}

static gboolean
eval_term (PhysnnLoss *self, Term *t, const gdouble *params, gdouble *grad,
    gdouble *residual_sq, gdouble *value, GError **error)
{
  GError *cl_error = NULL;
  PhysnnClMlp *cl = cl_plan_for (self, t, &cl_error);
  if (cl_error) {
    g_propagate_error (error, cl_error);
    return FALSE;
  }
  t->ran_on = cl ? self->device : NULL;
  if (cl)
    return eval_term_cl (self, t, cl, params, grad, residual_sq, value, error);
  if (!check_per_point (self, t, params, error))
    return FALSE;
  gboolean split = self->per_point == 1;
  guint n = split ? (guint)((t->n_points + CHUNK_ROWS - 1) / CHUNK_ROWS) : 1;
  gsize total = self->ps->total;
  g_autofree Chunk *chunks = g_new0 (Chunk, n);
  for (guint i = 0; i < n; i++) {
    Chunk *c = &chunks[i];
    c->loss = self;
    c->term = t;
    c->chunked = split;
    c->row0 = split ? (gsize)i * CHUNK_ROWS : 0;
    c->rows = split ? MIN (CHUNK_ROWS, t->n_points - c->row0) : t->n_points;
    c->params = params;
    c->want_grad = grad != NULL;
    c->grad = grad ? g_new0 (gdouble, total) : NULL;
    c->residual_sq = residual_sq;
  }
  Work w = { chunks, n, 0 };
  guint nt = MIN (self->n_threads, n);
  g_autofree GThread **threads = g_new0 (GThread *, MAX (nt, 1));
  for (guint k = 1; k < nt; k++)
    threads[k] = g_thread_new ("physnn-loss", worker, &w);
  worker (&w);
  for (guint k = 1; k < nt; k++)
    g_thread_join (threads[k]);

  gboolean ok = TRUE;
  gdouble v = 0;
  for (guint i = 0; i < n; i++) {
    Chunk *c = &chunks[i];
    if (c->error && ok) {
      g_propagate_error (error, c->error);
      c->error = NULL;
      ok = FALSE;
    }
    g_clear_error (&c->error);
    v += c->value;
    if (grad && ok)
      for (gsize j = 0; j < total; j++)
        grad[j] += c->grad[j];
    g_free (c->grad);
  }
  t->value = v;
  *value += v;
  return ok;
}

gboolean
_physnn_loss_eval (PhysnnLoss *self, const gdouble *params, gdouble *value,
    gdouble *grad, GError **error)
{
  gdouble v = 0;
  if (params == NULL)
    params = self->params;
  if (grad)
    memset (grad, 0, self->ps->total * sizeof (gdouble));
  if (self->terms->len == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "the loss has no terms");
    return FALSE;
  }
  for (guint i = 0; i < self->terms->len; i++) {
    Term *t = g_ptr_array_index (self->terms, i);
    if (t->weight == 0) {
      t->value = 0;
      continue;
    }
    if (!eval_term (self, t, params, grad, NULL, &v, error))
      return FALSE;
  }
  if (value)
    *value = v;
  return TRUE;
}

gboolean
_physnn_loss_residual_sq (PhysnnLoss *self, guint term, PhysnnTensor **inputs,
    guint n_inputs, gdouble *out, GError **error)
{
  g_return_val_if_fail (term < self->terms->len, FALSE);
  Term *t = g_ptr_array_index (self->terms, term);
  if (t->kind != TERM_RESIDUAL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "loss term \"%s\" is not a residual", t->name);
    return FALSE;
  }
  /* A scratch term sharing the equations, with the candidate points. */
  Term tmp = *t;
  gdouble v = 0;
  tmp.inputs = NULL;
  tmp.n_inputs = 0;
  tmp.weight = 1;
  if (!take_inputs (self, &tmp, inputs, n_inputs, error))
    return FALSE;
  memset (out, 0, tmp.n_points * sizeof (gdouble));
  gboolean ok = eval_term (self, &tmp, self->params, NULL, out, &v, error);
  for (guint i = 0; i < tmp.n_inputs; i++)
    g_clear_object (&tmp.inputs[i]);
  g_free (tmp.inputs);
  return ok;
}

/**
 * physnn_loss_evaluate:
 * @self: a #PhysnnLoss
 * @value: (out) (optional): the loss
 * @gradient: (out) (optional) (transfer full): its gradient with respect to
 *   the parameters, float64, physnn_loss_get_n_parameters() values
 * @error: return location for a #GError
 *
 * Evaluates the loss at the current parameters in double precision. The
 * gradient is exact (reverse mode through the model and, for residual
 * terms, through the derivative jets), not a finite difference.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_loss_evaluate (
    PhysnnLoss *self, gdouble *value, PhysnnTensor **gradient, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), FALSE);
  gsize shape[1] = { self->ps->total };
  g_autofree gdouble *g = gradient ? g_new0 (gdouble, shape[0]) : NULL;
  gdouble v;
  if (!_physnn_loss_eval (self, NULL, &v, g, error))
    return FALSE;
  if (value)
    *value = v;
  if (gradient)
    *gradient = physnn_tensor_new_from_doubles (
        PHYSNN_DTYPE_FLOAT64, 1, shape, g, shape[0], NULL);
  return TRUE;
}

/**
 * physnn_loss_residuals:
 * @self: a #PhysnnLoss
 * @term: a residual term
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the term's residuals at its points, float64,
 *   [points] for one equation or [points, equations]; %NULL with @error set
 */
PhysnnTensor *
physnn_loss_residuals (PhysnnLoss *self, guint term, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), NULL);
  if (term >= self->terms->len ||
      ((Term *)g_ptr_array_index (self->terms, term))->kind != TERM_RESIDUAL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "term %u is not a residual term", term);
    return NULL;
  }
  Term *t = g_ptr_array_index (self->terms, term);
  guint ne = t->eqs->len;
  gsize shape[2] = { t->n_points, ne };
  PhysnnTensor *out =
      physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, ne > 1 ? 2 : 1, shape);
  gdouble *o = _physnn_tensor_host (out, PHYSNN_ACCESS_WRITE);
  g_autoptr (PhysnnTape) tape = _physnn_tape_forward (
      self->graph, &t->spec, self->ps, self->params, t->inputs, error);
  if (tape == NULL) {
    g_object_unref (out);
    return NULL;
  }
  /* One chunk of all points through the same code as the loss. */
  Chunk c = { self, t, 0, t->n_points, FALSE, self->params, FALSE };
  for (guint e = 0; e < ne; e++) {
    Equation *eq = g_ptr_array_index (t->eqs, e);
    guint ns = _physnn_rx_get_n_symbols (eq->rx);
    g_autofree const gdouble **sym = g_new0 (const gdouble *, MAX (ns, 1));
    g_autofree gsize *stride = g_new0 (gsize, MAX (ns, 1));
    g_autofree gdouble *consts = g_new0 (gdouble, MAX (ns, 1));
    g_autofree gdouble *r = g_new (gdouble, t->n_points);
    for (guint s = 0; s < ns; s++) {
      Binding *b = &eq->bind[s];
      if (b->kind == B_COORD) {
        PhysnnTensor *x = t->inputs[b->input];
        sym[s] = (const gdouble *)_physnn_tensor_host (x, PHYSNN_ACCESS_READ) +
                 b->column;
        stride[s] = physnn_tensor_get_n_elements (x) / t->n_points;
      } else if (b->kind == B_CONST) {
        gdouble *v = g_hash_table_lookup (self->constants, b->name);
        consts[s] = v ? *v : NAN;
        sym[s] = &consts[s];
      } else {
        gint ov = g_array_index (self->graph->outputs, gint, b->output);
        const PhysnnJetValue *v = _physnn_tape_get_value (tape, ov);
        gsize cols;
        if (!output_rows (&c, v->comp[0], b->output, &cols)) {
          g_propagate_error (error, c.error);
          g_object_unref (out);
          return NULL;
        }
        if (b->comp >= v->n_comp) {
          sym[s] = &consts[s];
        } else {
          sym[s] = (const gdouble *)_physnn_tensor_host (
                       v->comp[b->comp], PHYSNN_ACCESS_READ) +
                   b->column;
          stride[s] = cols;
        }
      }
    }
    _physnn_rx_eval (eq->rx, t->n_points, sym, stride, r);
    for (gsize p = 0; p < t->n_points; p++)
      o[p * ne + e] = r[p];
  }
  return out;
}

/**
 * physnn_loss_hessian_vector_product:
 * @self: a #PhysnnLoss
 * @vector: a direction in parameter space, physnn_loss_get_n_parameters()
 *   values
 * @error: return location for a #GError
 *
 * H·v, the Hessian of the loss at the current parameters times @vector, by
 * central differences of exact gradients: (∇L(θ + εv) − ∇L(θ − εv)) / 2ε
 * with ε·‖v‖ = 10⁻⁴·max(‖θ‖, 1). In double precision the error is about
 * 10⁻⁸ relative for smooth models (tanh, sin, softplus ...); across the
 * kinks of ReLU or max-pooling the difference quotient sees the kink, where
 * autograd's Hessian ignores it.
 *
 * Returns: (transfer full): H·v as float64, or %NULL with @error set
 */
PhysnnTensor *
physnn_loss_hessian_vector_product (
    PhysnnLoss *self, PhysnnTensor *vector, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), NULL);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (vector), NULL);
  gsize n = self->ps->total;
  if (physnn_tensor_get_n_elements (vector) != n) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "a vector of %" G_GSIZE_FORMAT " values for %" G_GSIZE_FORMAT
        " parameters",
        physnn_tensor_get_n_elements (vector), n);
    return NULL;
  }
  g_autofree gdouble *v = physnn_tensor_to_doubles (vector, &n);
  g_autofree gdouble *hv = g_new (gdouble, n);
  if (!_physnn_loss_hvp (self, v, hv, error))
    return NULL;
  gsize shape[1] = { n };
  return physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_FLOAT64, 1, shape, hv, n, NULL);
}

gboolean
_physnn_loss_hvp (
    PhysnnLoss *self, const gdouble *v, gdouble *hv, GError **error)
{
  gsize n = self->ps->total;
  gdouble nt = 0, nv = 0;
  for (gsize i = 0; i < n; i++) {
    nt += self->params[i] * self->params[i];
    nv += v[i] * v[i];
  }
  nt = sqrt (nt);
  nv = sqrt (nv);
  if (nv == 0) {
    memset (hv, 0, n * sizeof (gdouble));
    return TRUE;
  }
  gdouble eps = 1e-4 * MAX (nt, 1.0) / nv;
  g_autofree gdouble *p = g_new (gdouble, n);
  g_autofree gdouble *gm = g_new (gdouble, n);
  for (gsize i = 0; i < n; i++)
    p[i] = self->params[i] + eps * v[i];
  if (!_physnn_loss_eval (self, p, NULL, hv, error))
    return FALSE;
  for (gsize i = 0; i < n; i++)
    p[i] = self->params[i] - eps * v[i];
  if (!_physnn_loss_eval (self, p, NULL, gm, error))
    return FALSE;
  for (gsize i = 0; i < n; i++)
    hv[i] = (hv[i] - gm[i]) / (2 * eps);
  /* leave the term values as at the parameters themselves */
  return _physnn_loss_eval (self, NULL, NULL, NULL, error);
}

/**
 * physnn_loss_hutchinson:
 * @self: a #PhysnnLoss
 * @n_samples: random probes (at least 2)
 * @seed: seed of the probes
 * @traces: (out) (transfer full): per parameter tensor, the estimate of
 *   the trace of its diagonal block of the Hessian (float64)
 * @std_errors: (out) (optional) (transfer full): the standard error of each
 *   estimate (float64)
 * @error: return location for a #GError
 *
 * Hutchinson's estimator: for Rademacher vectors z (entries ±1) over all
 * parameters, E[z_Bᵀ (H z)_B] = Tr(H_BB) for each block B (one parameter
 * tensor), since the cross terms have mean zero. Each probe costs one
 * Hessian-vector product (two gradients). The mean of the traces divided
 * by the tensor's size is HAWQ's sensitivity.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_loss_hutchinson (PhysnnLoss *self, guint n_samples, guint64 seed,
    PhysnnTensor **traces, PhysnnTensor **std_errors, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_LOSS (self), FALSE);
  g_return_val_if_fail (traces != NULL, FALSE);
  if (n_samples < 2) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "Hutchinson's estimator needs at least 2 samples, got %u", n_samples);
    return FALSE;
  }
  gsize n = self->ps->total;
  guint nt = self->ps->n;
  g_autofree gdouble *z = g_new (gdouble, n);
  g_autofree gdouble *hz = g_new (gdouble, n);
  g_autofree gdouble *sum = g_new0 (gdouble, nt);
  g_autofree gdouble *sum2 = g_new0 (gdouble, nt);
  GRand *rand = g_rand_new_with_seed ((guint32)(seed ^ (seed >> 32)));
  for (guint s = 0; s < n_samples; s++) {
    for (gsize i = 0; i < n; i++)
      z[i] = g_rand_boolean (rand) ? 1.0 : -1.0;
    if (!_physnn_loss_hvp (self, z, hz, error)) {
      g_rand_free (rand);
      return FALSE;
    }
    for (guint p = 0; p < nt; p++) {
      gdouble e = 0;
      for (gsize i = self->ps->offset[p];
           i < self->ps->offset[p] + self->ps->size[p]; i++)
        e += z[i] * hz[i];
      sum[p] += e;
      sum2[p] += e * e;
    }
  }
  g_rand_free (rand);
  gsize shape[1] = { nt };
  *traces = physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, 1, shape);
  if (std_errors)
    *std_errors = physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, 1, shape);
  for (guint p = 0; p < nt; p++) {
    gdouble mean = sum[p] / n_samples;
    gdouble var = (sum2[p] - n_samples * mean * mean) / (n_samples - 1);
    physnn_tensor_set_value (*traces, p, mean);
    if (std_errors)
      physnn_tensor_set_value (*std_errors, p, sqrt (MAX (var, 0) / n_samples));
  }
  return TRUE;
}
