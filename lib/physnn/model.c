/* physnn — PhysnnModel: loading, naming of coordinates and outputs,
 * derivative requests, and dispatch to the reference or OpenCL executor.
 *
 * Derivatives are named as a PDE writes them: `u_t`, `u_xx`, `u_xt` — an
 * output component, an underscore, and the coordinates differentiated by.
 * Coordinates are the columns of the model's coordinate input (named by the
 * ONNX metadata "physnn.coords", by physnn_model_set_coordinates(), or by
 * default x / x,t / x,y,t / x,y,z,t), or several single-column inputs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/model.h"
#include "physnn/error.h"
#include "physnn/graph-private.h"
#include "physnn/model-private.h"
#include "physnn/fused-private.h"
#include "physnn/tensor-private.h"

#include <gio/gio.h>
#include <string.h>

#define VAL(g, i) ((PhysnnValue *) g_ptr_array_index ((g)->values, (i)))
#define MAX_COORDS 16
#define MAX_DERIVATIVES 32

typedef struct {
  gchar *name;
  guint output;                 /* model output index */
  guint column;                 /* column in its last axis */
} OutputComponent;

typedef struct {
  gchar *name;
  guint component;              /* index into components */
  guint order;
  guint dir_a, dir_b;           /* jet directions */
} Derivative;

struct _PhysnnModel {
  GObject parent;

  gchar *path;
  PhysnnOnnxModel *onnx;
  PhysnnGraph *graph;

  /* coordinates: either columns of one input, or one input per name */
  gint coord_input;             /* graph input index, -1 if per-input */
  gchar *coord_input_name;
  guint n_coords;
  gchar *coord_names[MAX_COORDS];
  gint coord_value[MAX_COORDS]; /* value index of each coordinate's input */
  gint coord_column[MAX_COORDS];        /* column, or -1 for a whole input */
  gchar *coord_names_joined;

  GArray *components;           /* OutputComponent */
  gchar *output_names_joined;

  guint n_derivatives;
  Derivative derivatives[MAX_DERIVATIVES];
  PhysnnJetSpec spec;
  gchar *derivatives_joined;

  PhysnnClPlan *cl_plan;        /* OpenCL executor state, per device */
  gboolean allow_fused;
  PhysnnFusedPlan *fused;       /* fused kernel for device + request */
  PhysnnMlpPlan *mlp;           /* tiled dense-chain kernel (GPUs) */
  PhysnnDevice *fused_device;
  gboolean fused_tried;
  gchar *fused_why;             /* why the graph is not fusable */
  gchar *exec_desc;
};

G_DEFINE_FINAL_TYPE (PhysnnModel, physnn_model, G_TYPE_OBJECT)

static void
clear_derivatives (PhysnnModel *self)
{
  for (guint i = 0; i < self->n_derivatives; i++)
    g_free (self->derivatives[i].name);
  self->n_derivatives = 0;
  memset (&self->spec, 0, sizeof self->spec);
  self->spec.n_comp = 1;
  g_clear_pointer (&self->derivatives_joined, g_free);
  self->derivatives_joined = g_strdup ("");
  g_clear_pointer (&self->cl_plan, _physnn_cl_plan_free);
  g_clear_pointer (&self->fused, _physnn_fused_plan_free);
  g_clear_pointer (&self->mlp, _physnn_mlp_plan_free);
  g_clear_object (&self->fused_device);
  g_clear_pointer (&self->fused_why, g_free);
  self->fused_tried = FALSE;
}

static void
clear_coords (PhysnnModel *self)
{
  for (guint i = 0; i < self->n_coords; i++)
    g_clear_pointer (&self->coord_names[i], g_free);
  self->n_coords = 0;
  self->coord_input = -1;
  g_clear_pointer (&self->coord_input_name, g_free);
  g_clear_pointer (&self->coord_names_joined, g_free);
  self->coord_names_joined = g_strdup ("");
}

static void
clear_components (GArray *a)
{
  for (guint i = 0; i < a->len; i++)
    g_free (g_array_index (a, OutputComponent, i).name);
  g_array_set_size (a, 0);
}

static void
physnn_model_finalize (GObject *object)
{
  PhysnnModel *self = PHYSNN_MODEL (object);
  clear_derivatives (self);
  clear_coords (self);
  clear_components (self->components);
  g_array_unref (self->components);
  g_free (self->output_names_joined);
  g_free (self->coord_names_joined);
  g_free (self->derivatives_joined);
  g_free (self->exec_desc);
  g_free (self->path);
  physnn_graph_free (self->graph);
  physnn_onnx_model_free (self->onnx);
  G_OBJECT_CLASS (physnn_model_parent_class)->finalize (object);
}

static void
physnn_model_class_init (PhysnnModelClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = physnn_model_finalize;
}

static void
physnn_model_init (PhysnnModel *self)
{
  self->components = g_array_new (FALSE, TRUE, sizeof (OutputComponent));
  self->coord_input = -1;
  self->spec.n_comp = 1;
  self->allow_fused = g_strcmp0 (g_getenv ("PHYSNN_FUSED"), "0") != 0;
  self->coord_names_joined = g_strdup ("");
  self->derivatives_joined = g_strdup ("");
}

/* ------------------------------------------------------------------------ */
/* I/O description */

static const PhysnnOnnxValueInfo *
input_info (PhysnnModel *self, guint index)
{
  gint value = g_array_index (self->graph->inputs, gint, index);
  const gchar *name = VAL (self->graph, value)->name;
  for (guint i = 0; i < self->onnx->inputs->len; i++) {
    const PhysnnOnnxValueInfo *vi = g_ptr_array_index (self->onnx->inputs, i);
    if (strcmp (vi->name, name) == 0)
      return vi;
  }
  return NULL;
}

static const PhysnnOnnxValueInfo *
output_info (PhysnnModel *self, guint index)
{
  return index < self->onnx->outputs->len ?
      g_ptr_array_index (self->onnx->outputs, index) : NULL;
}

/* Width of the last axis of an input/output, or -1 when unknown. */
static gint64
last_dim (const PhysnnOnnxValueInfo *vi)
{
  if (vi == NULL || !vi->has_shape || vi->rank == 0)
    return -1;
  return vi->dims[vi->rank - 1];
}

/**
 * physnn_model_get_path:
 * @self: a #PhysnnModel
 *
 * Returns: the file the model was loaded from
 */
const gchar *
physnn_model_get_path (PhysnnModel *self)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), NULL);
  return self->path;
}

/**
 * physnn_model_get_n_inputs:
 * @self: a #PhysnnModel
 *
 * Returns: the number of graph inputs (initializers excluded)
 */
guint
physnn_model_get_n_inputs (PhysnnModel *self)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), 0);
  return self->graph->inputs->len;
}

/**
 * physnn_model_get_input_name:
 * @self: a #PhysnnModel
 * @index: an input index
 *
 * Returns: (nullable): the input's name
 */
const gchar *
physnn_model_get_input_name (PhysnnModel *self, guint index)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), NULL);
  if (index >= self->graph->inputs->len)
    return NULL;
  return VAL (self->graph, g_array_index (self->graph->inputs, gint,
          index))->name;
}

/**
 * physnn_model_get_input_shape:
 * @self: a #PhysnnModel
 * @index: an input index
 * @rank: (out): the rank
 *
 * Returns: (array length=rank) (transfer none) (nullable): the declared
 *   shape, -1 where a dimension is symbolic (such as the number of points)
 */
const gint64 *
physnn_model_get_input_shape (PhysnnModel *self, guint index, guint *rank)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), NULL);
  const PhysnnOnnxValueInfo *vi = index < self->graph->inputs->len ?
      input_info (self, index) : NULL;
  *rank = vi && vi->has_shape ? vi->rank : 0;
  return vi ? vi->dims : NULL;
}

/**
 * physnn_model_find_input:
 * @self: a #PhysnnModel
 * @name: an input name
 *
 * Returns: the index of the input called @name, or -1
 */
gint
physnn_model_find_input (PhysnnModel *self, const gchar *name)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), -1);
  for (guint i = 0; i < self->graph->inputs->len; i++)
    if (g_strcmp0 (physnn_model_get_input_name (self, i), name) == 0)
      return (gint) i;
  return -1;
}

/**
 * physnn_model_get_n_outputs:
 * @self: a #PhysnnModel
 *
 * Returns: the number of graph outputs
 */
guint
physnn_model_get_n_outputs (PhysnnModel *self)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), 0);
  return self->graph->outputs->len;
}

/**
 * physnn_model_get_output_name:
 * @self: a #PhysnnModel
 * @index: an output index
 *
 * Returns: (nullable): the output's name
 */
const gchar *
physnn_model_get_output_name (PhysnnModel *self, guint index)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), NULL);
  if (index >= self->graph->outputs->len)
    return NULL;
  return VAL (self->graph, g_array_index (self->graph->outputs, gint,
          index))->name;
}

/**
 * physnn_model_get_output_shape:
 * @self: a #PhysnnModel
 * @index: an output index
 * @rank: (out): the rank
 *
 * Returns: (array length=rank) (transfer none) (nullable): the declared
 *   shape, -1 where a dimension is symbolic
 */
const gint64 *
physnn_model_get_output_shape (PhysnnModel *self, guint index, guint *rank)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), NULL);
  const PhysnnOnnxValueInfo *vi = output_info (self, index);
  *rank = vi && vi->has_shape ? vi->rank : 0;
  return vi ? vi->dims : NULL;
}

/**
 * physnn_model_get_metadata:
 * @self: a #PhysnnModel
 * @key: a metadata_props key, such as "physnn.pde"
 *
 * Returns: (nullable): the value stored in the ONNX file
 */
const gchar *
physnn_model_get_metadata (PhysnnModel *self, const gchar *key)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), NULL);
  return self->onnx->metadata ? g_hash_table_lookup (self->onnx->metadata,
      key) : NULL;
}

/**
 * physnn_model_get_n_parameters:
 * @self: a #PhysnnModel
 *
 * Returns: the number of floating-point parameters (initializer elements)
 */
guint64
physnn_model_get_n_parameters (PhysnnModel *self)
{
  guint64 n = 0;
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), 0);
  for (guint i = 0; i < self->graph->values->len; i++) {
    PhysnnValue *v = VAL (self->graph, i);
    if (v->constant && physnn_dtype_is_float (physnn_tensor_get_dtype
            (v->constant)))
      n += physnn_tensor_get_n_elements (v->constant);
  }
  return n;
}

static void
describe_value (GString *s, const PhysnnOnnxValueInfo *vi)
{
  g_string_append_printf (s, "%s %s[", vi->name,
      physnn_dtype_to_string (vi->dtype));
  for (guint d = 0; vi->has_shape && d < vi->rank; d++) {
    if (vi->dims[d] >= 0)
      g_string_append_printf (s, "%s%" G_GINT64_FORMAT, d ? "," : "",
          vi->dims[d]);
    else
      g_string_append_printf (s, "%s%s", d ? "," : "",
          vi->dim_params[d] ? vi->dim_params[d] : "?");
  }
  g_string_append_c (s, ']');
}

/**
 * physnn_model_describe:
 * @self: a #PhysnnModel
 *
 * Returns: (transfer full): a multi-line summary: inputs, outputs,
 *   coordinates, op counts, parameters
 */
gchar *
physnn_model_describe (PhysnnModel *self)
{
  GString *s = g_string_new (NULL);
  g_autoptr (GHashTable) counts = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) names = g_ptr_array_new ();

  g_return_val_if_fail (PHYSNN_IS_MODEL (self), NULL);
  g_string_append_printf (s, "model: %s (opset %" G_GINT64_FORMAT ")\n",
      self->path, self->onnx->opset);
  for (guint i = 0; i < self->graph->inputs->len; i++) {
    g_string_append (s, "input:  ");
    const PhysnnOnnxValueInfo *vi = input_info (self, i);
    if (vi)
      describe_value (s, vi);
    g_string_append_c (s, '\n');
  }
  for (guint i = 0; i < self->onnx->outputs->len; i++) {
    g_string_append (s, "output: ");
    describe_value (s, g_ptr_array_index (self->onnx->outputs, i));
    g_string_append_c (s, '\n');
  }
  if (self->n_coords)
    g_string_append_printf (s, "coordinates: %s (%s)\n",
        self->coord_names_joined, self->coord_input_name ?
        self->coord_input_name : "one input each");
  g_string_append_printf (s, "output components: %s\n",
      self->output_names_joined);
  for (guint i = 0; i < self->graph->nodes->len; i++) {
    PhysnnNode *n = g_ptr_array_index (self->graph->nodes, i);
    gpointer c = g_hash_table_lookup (counts, n->op_type);
    if (c == NULL)
      g_ptr_array_add (names, n->op_type);
    g_hash_table_insert (counts, n->op_type,
        GINT_TO_POINTER (GPOINTER_TO_INT (c) + 1));
  }
  g_string_append (s, "ops:");
  for (guint i = 0; i < names->len; i++)
    g_string_append_printf (s, " %s×%d", (gchar *) names->pdata[i],
        GPOINTER_TO_INT (g_hash_table_lookup (counts, names->pdata[i])));
  g_string_append_printf (s, "\nparameters: %" G_GUINT64_FORMAT "\n",
      physnn_model_get_n_parameters (self));
  const gchar *pde = physnn_model_get_metadata (self, "physnn.pde");
  if (pde)
    g_string_append_printf (s, "pde: %s\n", pde);
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Coordinates and output components */

static const gchar *default_coords[] = { NULL, "x", "x,t", "x,y,t",
  "x,y,z,t"
};

static gboolean
valid_identifier (const gchar *s)
{
  if (s == NULL || !(g_ascii_isalpha (*s)))
    return FALSE;
  for (const gchar *p = s; *p; p++)
    if (!g_ascii_isalnum (*p))
      return FALSE;
  return TRUE;
}

/**
 * physnn_model_set_coordinates:
 * @self: a #PhysnnModel
 * @input: (nullable): the input holding coordinates as columns, or %NULL
 *   when each name in @names is a single-column input of its own
 * @names: (nullable): comma-separated coordinate names, one per column
 *   (e.g. "x,t"); %NULL for the default for the input's width
 * @error: return location for a #GError
 *
 * Says which input carries the coordinates that derivatives are taken by,
 * and how its columns are called. Clears the derivative request.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_model_set_coordinates (PhysnnModel *self, const gchar *input,
    const gchar *names, GError **error)
{
  g_auto (GStrv) list = NULL;
  guint n;

  g_return_val_if_fail (PHYSNN_IS_MODEL (self), FALSE);

  if (input != NULL) {
    gint idx = physnn_model_find_input (self, input);
    if (idx < 0) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "%s: no input called \"%s\"", self->path, input);
      return FALSE;
    }
    gint64 width = last_dim (input_info (self, (guint) idx));
    if (names == NULL) {
      if (width < 1 || width >= (gint64) G_N_ELEMENTS (default_coords)) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
            "%s: input \"%s\" has %s columns; name them (e.g. \"x,y,t\")",
            self->path, input, width < 0 ? "an unknown number of" : "many");
        return FALSE;
      }
      names = default_coords[width];
    }
    list = g_strsplit (names, ",", -1);
    n = g_strv_length (list);
    if (width >= 0 && (gint64) n != width) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "%s: %u coordinate names \"%s\" for input \"%s\" of width %"
          G_GINT64_FORMAT, self->path, n, names, input, width);
      return FALSE;
    }
  } else {
    if (names == NULL) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "%s: coordinate names are needed", self->path);
      return FALSE;
    }
    list = g_strsplit (names, ",", -1);
    n = g_strv_length (list);
    for (guint i = 0; i < n; i++) {
      gint idx = physnn_model_find_input (self, g_strstrip (list[i]));
      gint64 width = idx >= 0 ? last_dim (input_info (self, (guint) idx)) :
          -1;
      if (idx < 0 || (width != -1 && width != 1)) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
            "%s: coordinate \"%s\" is not a single-column input", self->path,
            list[i]);
        return FALSE;
      }
    }
  }
  if (n == 0 || n > MAX_COORDS) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "%s: %u coordinates; 1 to %d are supported", self->path, n,
        MAX_COORDS);
    return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    g_strstrip (list[i]);
    if (!valid_identifier (list[i])) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "coordinate name \"%s\" must be letters and digits, starting with "
          "a letter", list[i]);
      return FALSE;
    }
    for (guint j = 0; j < i; j++)
      if (strcmp (list[i], list[j]) == 0) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
            "coordinate \"%s\" is named twice", list[i]);
        return FALSE;
      }
  }

  clear_derivatives (self);
  clear_coords (self);
  self->n_coords = n;
  self->coord_input_name = g_strdup (input);
  self->coord_input = input ? physnn_model_find_input (self, input) : -1;
  for (guint i = 0; i < n; i++) {
    self->coord_names[i] = g_strdup (list[i]);
    gint inp = input ? self->coord_input : physnn_model_find_input (self,
        list[i]);
    self->coord_value[i] = g_array_index (self->graph->inputs, gint, inp);
    self->coord_column[i] = input ? (gint) i : -1;
  }
  g_free (self->coord_names_joined);
  self->coord_names_joined = g_strjoinv (",", list);
  return TRUE;
}

/**
 * physnn_model_get_coordinate_input:
 * @self: a #PhysnnModel
 *
 * Returns: (nullable): the coordinate input, or %NULL when coordinates are
 *   separate inputs or not set
 */
const gchar *
physnn_model_get_coordinate_input (PhysnnModel *self)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), NULL);
  return self->coord_input_name;
}

/**
 * physnn_model_get_coordinate_names:
 * @self: a #PhysnnModel
 *
 * Returns: the coordinate names, comma separated ("" if none)
 */
const gchar *
physnn_model_get_coordinate_names (PhysnnModel *self)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), NULL);
  return self->coord_names_joined;
}

/**
 * physnn_model_set_output_names:
 * @self: a #PhysnnModel
 * @names: (nullable): comma-separated names of the output components: the
 *   columns of the outputs' last axes in order (e.g. "u" or "u,v,p");
 *   %NULL for the defaults
 * @error: return location for a #GError
 *
 * Names the quantities derivatives are requested of. Clears the derivative
 * request.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_model_set_output_names (PhysnnModel *self, const gchar *names,
    GError **error)
{
  g_auto (GStrv) list = names ? g_strsplit (names, ",", -1) : NULL;
  guint given = list ? g_strv_length (list) : 0, used = 0;
  g_autoptr (GArray) comps = g_array_new (FALSE, TRUE,
      sizeof (OutputComponent));

  g_return_val_if_fail (PHYSNN_IS_MODEL (self), FALSE);
  for (guint o = 0; o < self->graph->outputs->len; o++) {
    const gchar *oname = physnn_model_get_output_name (self, o);
    gint64 width = last_dim (output_info (self, o));
    if (width < 1)
      width = 1;
    if (list && width > 64) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "%s: output \"%s\" has %" G_GINT64_FORMAT " columns; too many to "
          "name", self->path, oname, width);
      for (guint i = 0; i < comps->len; i++)
        g_free (g_array_index (comps, OutputComponent, i).name);
      return FALSE;
    }
    for (gint64 c = 0; c < MIN (width, 64); c++) {
      OutputComponent oc = { NULL, o, (guint) c };
      if (list && used < given)
        oc.name = g_strdup (g_strstrip (list[used]));
      else if (list)
        oc.name = NULL;
      else if (width == 1)
        oc.name = g_strdup (oname);
      else
        oc.name = g_strdup_printf ("%s%" G_GINT64_FORMAT, oname, c);
      used++;
      g_array_append_val (comps, oc);
    }
  }
  if (list && given != used) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "%s: %u output names \"%s\" for %u output components", self->path,
        given, names, used);
    for (guint i = 0; i < comps->len; i++)
      g_free (g_array_index (comps, OutputComponent, i).name);
    return FALSE;
  }
  clear_derivatives (self);
  clear_components (self->components);
  g_array_append_vals (self->components, comps->data, comps->len);
  g_array_set_size (comps, 0);
  GString *joined = g_string_new (NULL);
  for (guint i = 0; i < self->components->len; i++)
    g_string_append_printf (joined, "%s%s", i ? "," : "",
        g_array_index (self->components, OutputComponent, i).name);
  g_free (self->output_names_joined);
  self->output_names_joined = g_string_free (joined, FALSE);
  return TRUE;
}

/**
 * physnn_model_get_output_names:
 * @self: a #PhysnnModel
 *
 * Returns: the output component names, comma separated
 */
const gchar *
physnn_model_get_output_names (PhysnnModel *self)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), NULL);
  return self->output_names_joined;
}

/* ------------------------------------------------------------------------ */
/* Derivatives */

static gint
find_coord (PhysnnModel *self, const gchar *s, gsize *len)
{
  gint best = -1;
  gsize best_len = 0;
  for (guint i = 0; i < self->n_coords; i++) {
    gsize l = strlen (self->coord_names[i]);
    if (l > best_len && strncmp (s, self->coord_names[i], l) == 0) {
      best = (gint) i;
      best_len = l;
    }
  }
  *len = best_len;
  return best;
}

/* "u_xt" -> component u, directions (x, t). */
static gboolean
parse_derivative (PhysnnModel *self, const gchar *text, Derivative *d,
    guint *coords, GError **error)
{
  const gchar *us = NULL;
  gint comp = -1;

  /* The longest component name followed by '_' wins: outputs may contain
   * underscores themselves. */
  for (guint i = 0; i < self->components->len; i++) {
    const gchar *name = g_array_index (self->components, OutputComponent,
        i).name;
    gsize l = strlen (name);
    if (strncmp (text, name, l) == 0 && text[l] == '_' &&
        (us == NULL || text + l > us)) {
      us = text + l;
      comp = (gint) i;
    }
  }
  if (comp < 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "derivative \"%s\": expected an output name (%s), '_' and "
        "coordinates (%s), as in \"%s_%s\"", text, self->output_names_joined,
        self->n_coords ? self->coord_names_joined : "none set",
        g_array_index (self->components, OutputComponent, 0).name,
        self->n_coords ? self->coord_names[0] : "x");
    return FALSE;
  }
  if (self->n_coords == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "derivative \"%s\": the model has no coordinate input; set the "
        "coordinates first", text);
    return FALSE;
  }
  const gchar *p = us + 1;
  guint order = 0;
  while (*p) {
    gsize len;
    gint c = find_coord (self, p, &len);
    if (c < 0) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "derivative \"%s\": \"%s\" is not a coordinate (coordinates: %s)",
          text, p, self->coord_names_joined);
      return FALSE;
    }
    if (order == 2) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "derivative \"%s\": order 3 and above are not supported (first, "
          "second and mixed second derivatives are)", text);
      return FALSE;
    }
    coords[order++] = (guint) c;
    p += len;
  }
  if (order == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "derivative \"%s\" names no coordinate", text);
    return FALSE;
  }
  d->name = g_strdup (text);
  d->component = (guint) comp;
  d->order = order;
  return TRUE;
}

/**
 * physnn_model_set_derivatives:
 * @self: a #PhysnnModel
 * @derivatives: (nullable): comma-separated derivatives such as
 *   "u_t,u_xx,u_xt"; %NULL or "" for none
 * @error: return location for a #GError
 *
 * Requests derivatives of output components with respect to coordinates.
 * physnn_model_run() then returns, after the model outputs, one tensor per
 * derivative with one value per point, computed by forward-mode propagation
 * through every op (no finite differences).
 *
 * Returns: %TRUE on success; on failure the previous request is cleared
 */
gboolean
physnn_model_set_derivatives (PhysnnModel *self, const gchar *derivatives,
    GError **error)
{
  g_auto (GStrv) list = NULL;
  guint coords[MAX_DERIVATIVES][2];
  gint dir_of_coord[MAX_COORDS];
  PhysnnJetSpec spec = { 0 };

  g_return_val_if_fail (PHYSNN_IS_MODEL (self), FALSE);
  clear_derivatives (self);
  if (derivatives == NULL || *derivatives == '\0')
    return TRUE;

  list = g_strsplit (derivatives, ",", -1);
  if (g_strv_length (list) > MAX_DERIVATIVES) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "%u derivatives requested; at most %d", g_strv_length (list),
        MAX_DERIVATIVES);
    return FALSE;
  }
  for (guint i = 0; list[i]; i++) {
    Derivative *d = &self->derivatives[self->n_derivatives];
    g_strstrip (list[i]);
    if (!parse_derivative (self, list[i], d, coords[i], error)) {
      clear_derivatives (self);
      return FALSE;
    }
    self->n_derivatives++;
  }

  /* Directions: the coordinates used, in coordinate order. */
  for (guint c = 0; c < MAX_COORDS; c++)
    dir_of_coord[c] = -1;
  for (guint c = 0; c < self->n_coords; c++) {
    gboolean used = FALSE;
    for (guint i = 0; i < self->n_derivatives; i++)
      for (guint k = 0; k < self->derivatives[i].order; k++)
        used |= coords[i][k] == c;
    if (!used)
      continue;
    if (spec.n_dirs == PHYSNN_MAX_DIRS) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "derivatives along more than %d coordinates at once",
          PHYSNN_MAX_DIRS);
      clear_derivatives (self);
      return FALSE;
    }
    dir_of_coord[c] = (gint) spec.n_dirs;
    spec.dir_input[spec.n_dirs] = self->coord_value[c];
    spec.dir_column[spec.n_dirs] = self->coord_column[c];
    spec.n_dirs++;
  }
  spec.n_first = spec.n_dirs;
  for (guint i = 0; i < self->n_derivatives; i++) {
    Derivative *d = &self->derivatives[i];
    d->dir_a = (guint) dir_of_coord[coords[i][0]];
    d->dir_b = d->order > 1 ? (guint) dir_of_coord[coords[i][1]] : d->dir_a;
    if (d->order == 2) {
      guint a = MIN (d->dir_a, d->dir_b), b = MAX (d->dir_a, d->dir_b);
      if (physnn_jet_second (&spec, a, b) < 0) {
        if (spec.n_second == PHYSNN_MAX_SECOND) {
          g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
              "more than %d distinct second derivatives requested",
              PHYSNN_MAX_SECOND);
          clear_derivatives (self);
          return FALSE;
        }
        spec.second_dirs[spec.n_second][0] = a;
        spec.second_dirs[spec.n_second][1] = b;
        spec.n_second++;
      }
    }
  }
  spec.n_comp = 1 + spec.n_first + spec.n_second;
  self->spec = spec;
  g_free (self->derivatives_joined);
  GString *joined = g_string_new (NULL);
  for (guint i = 0; i < self->n_derivatives; i++)
    g_string_append_printf (joined, "%s%s", i ? "," : "",
        self->derivatives[i].name);
  self->derivatives_joined = g_string_free (joined, FALSE);
  return TRUE;
}

/**
 * physnn_model_get_n_derivatives:
 * @self: a #PhysnnModel
 *
 * Returns: the number of requested derivatives
 */
guint
physnn_model_get_n_derivatives (PhysnnModel *self)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), 0);
  return self->n_derivatives;
}

/**
 * physnn_model_get_derivative_name:
 * @self: a #PhysnnModel
 * @index: a derivative index
 *
 * Returns: (nullable): the derivative's name as requested, e.g. "u_xx"
 */
const gchar *
physnn_model_get_derivative_name (PhysnnModel *self, guint index)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), NULL);
  return index < self->n_derivatives ? self->derivatives[index].name : NULL;
}

/* ------------------------------------------------------------------------ */
/* Loading */

static void
set_default_names (PhysnnModel *self)
{
  const gchar *coords = physnn_model_get_metadata (self, "physnn.coords");
  const gchar *cin = physnn_model_get_metadata (self, "physnn.coords_input");
  const gchar *outs = physnn_model_get_metadata (self, "physnn.outputs");
  guint n_in = self->graph->inputs->len;

  if (outs == NULL || !physnn_model_set_output_names (self, outs, NULL))
    physnn_model_set_output_names (self, NULL, NULL);

  if (cin && physnn_model_set_coordinates (self, cin, coords, NULL))
    return;
  if (physnn_model_find_input (self, "coords") >= 0 &&
      physnn_model_set_coordinates (self, "coords", coords, NULL))
    return;
  /* Separate single-column inputs named like coordinates. */
  if (n_in > 1) {
    GString *names = g_string_new (NULL);
    for (guint i = 0; i < n_in; i++)
      g_string_append_printf (names, "%s%s", i ? "," : "",
          physnn_model_get_input_name (self, i));
    gboolean ok = physnn_model_set_coordinates (self, NULL, names->str, NULL);
    g_string_free (names, TRUE);
    if (ok)
      return;
  }
  if (n_in == 1)
    physnn_model_set_coordinates (self, physnn_model_get_input_name (self, 0),
        coords, NULL);
}

static PhysnnModel *
model_new (PhysnnOnnxModel *onnx, GError **error)
{
  PhysnnGraph *graph = physnn_graph_new_from_onnx (onnx, error);
  if (graph == NULL) {
    physnn_onnx_model_free (onnx);
    return NULL;
  }
  PhysnnModel *self = g_object_new (PHYSNN_TYPE_MODEL, NULL);
  self->onnx = onnx;
  self->graph = graph;
  self->path = g_strdup (onnx->path ? onnx->path : "(memory)");
  set_default_names (self);
  return self;
}

/**
 * physnn_model_new_from_file:
 * @path: an ONNX file
 * @error: return location for a #GError
 *
 * Loads an ONNX model. The file is treated as hostile: a malformed file or
 * an unsupported op fails here with the file, node and field named.
 *
 * Returns: (transfer full): the model, or %NULL with @error set
 */
PhysnnModel *
physnn_model_new_from_file (const gchar *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  PhysnnOnnxModel *onnx = physnn_onnx_model_load (path, error);
  return onnx ? model_new (onnx, error) : NULL;
}

/**
 * physnn_model_new_from_bytes:
 * @data: a serialised ONNX ModelProto
 * @label: (nullable): a name for messages
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the model, or %NULL with @error set
 */
PhysnnModel *
physnn_model_new_from_bytes (GBytes *data, const gchar *label, GError **error)
{
  g_return_val_if_fail (data != NULL, NULL);
  PhysnnOnnxModel *onnx = physnn_onnx_model_load_from_bytes (data,
      label ? label : "(memory)", error);
  return onnx ? model_new (onnx, error) : NULL;
}

#define BUILTIN_DIR "/org/physnn/models"

/**
 * physnn_model_list_builtins:
 *
 * Returns: (transfer full): the names of the models compiled into the
 *   library, comma separated (e.g. "heat1d-pinn, burgers-pinn")
 */
gchar *
physnn_model_list_builtins (void)
{
  g_auto (GStrv) names = g_resources_enumerate_children (BUILTIN_DIR,
      G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  GString *s = g_string_new (NULL);
  for (guint i = 0; names && names[i]; i++) {
    if (!g_str_has_suffix (names[i], ".onnx"))
      continue;
    g_autofree gchar *n = g_strndup (names[i], strlen (names[i]) - 5);
    g_strdelimit (n, "_", '-');
    g_string_append_printf (s, "%sbuiltin:%s", s->len ? ", " : "", n);
  }
  if (s->len == 0)
    g_string_append (s, "none built in");
  return g_string_free (s, FALSE);
}

/**
 * physnn_model_new_builtin:
 * @name: a shipped model, such as "heat1d-pinn"
 * @error: return location for a #GError
 *
 * Loads a model compiled into the library (see models/ in the sources).
 *
 * Returns: (transfer full): the model, or %NULL with @error set
 */
PhysnnModel *
physnn_model_new_builtin (const gchar *name, GError **error)
{
  g_return_val_if_fail (name != NULL, NULL);
  g_autofree gchar *file = g_strdup (name);
  g_strdelimit (file, "-", '_');
  g_autofree gchar *path = g_strdup_printf (BUILTIN_DIR "/%s.onnx", file);
  g_autoptr (GBytes) bytes = g_resources_lookup_data (path,
      G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  if (bytes == NULL) {
    g_autofree gchar *list = physnn_model_list_builtins ();
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "no builtin model \"%s\" (available: %s)", name, list);
    return NULL;
  }
  g_autofree gchar *label = g_strdup_printf ("builtin:%s", name);
  return physnn_model_new_from_bytes (bytes, label, error);
}

/* ------------------------------------------------------------------------ */
/* Running */

static gboolean
check_inputs (PhysnnModel *self, PhysnnTensor **inputs, guint n_inputs,
    GError **error)
{
  if (n_inputs != self->graph->inputs->len) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "%s: %u input tensors given; the model takes %u", self->path,
        n_inputs, self->graph->inputs->len);
    return FALSE;
  }
  for (guint i = 0; i < n_inputs; i++) {
    const PhysnnOnnxValueInfo *vi = input_info (self, i);
    guint rank;
    const gsize *shape = physnn_tensor_get_shape (inputs[i], &rank);
    if (vi == NULL || !vi->has_shape)
      continue;
    gboolean ok = rank == vi->rank;
    for (guint d = 0; ok && d < rank; d++)
      ok = vi->dims[d] < 0 || (gsize) vi->dims[d] == shape[d];
    if (!ok) {
      g_autofree gchar *have = physnn_tensor_describe (inputs[i]);
      GString *want = g_string_new (NULL);
      describe_value (want, vi);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "%s: input %u is %s, the model expects %s", self->path, i, have,
          want->str);
      g_string_free (want, TRUE);
      return FALSE;
    }
  }
  return TRUE;
}

/* Converts executor results to the public layout: outputs as float32 with
 * their shapes, then each derivative with one value per point. */
static GPtrArray *
collect (PhysnnModel *self, PhysnnJetValue *outs)
{
  GPtrArray *result = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint o = 0; o < self->graph->outputs->len; o++) {
    PhysnnTensor *t = outs[o].comp[0];
    g_ptr_array_add (result, physnn_tensor_get_dtype (t) ==
        PHYSNN_DTYPE_FLOAT32 ? g_object_ref (t) :
        physnn_tensor_convert (t, PHYSNN_DTYPE_FLOAT32));
  }
  for (guint i = 0; i < self->n_derivatives; i++) {
    const Derivative *d = &self->derivatives[i];
    const OutputComponent *oc = &g_array_index (self->components,
        OutputComponent, d->component);
    PhysnnJetValue *v = &outs[oc->output];
    guint rank;
    const gsize *shape = physnn_tensor_get_shape (v->comp[0], &rank);
    gsize cols = rank ? shape[rank - 1] : 1;
    gsize points = physnn_tensor_get_n_elements (v->comp[0]) / MAX (cols, 1);
    gint c = d->order == 1 ? physnn_jet_first (&self->spec, d->dir_a) :
        physnn_jet_second (&self->spec, d->dir_a, d->dir_b);
    gsize pshape[1] = { points };
    /* A single-column float32 component is the derivative itself: hand it
     * over as a view, still on the device if it was computed there. */
    if (c >= 0 && (guint) c < v->n_comp && cols == 1 &&
        physnn_tensor_get_dtype (v->comp[c]) == PHYSNN_DTYPE_FLOAT32) {
      g_ptr_array_add (result, physnn_tensor_reshape (v->comp[c], 1, pshape,
              NULL));
      continue;
    }
    PhysnnTensor *out = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, pshape);
    gfloat *dst = physnn_tensor_map (out, PHYSNN_MAP_WRITE, NULL);
    /* An output that does not depend on the coordinates has zero
     * derivatives. */
    if (c >= 0 && (guint) c < v->n_comp) {
      PhysnnTensor *src = v->comp[c];
      gsize n = 0;
      if (physnn_tensor_get_dtype (src) == PHYSNN_DTYPE_FLOAT32) {
        const gfloat *sp = physnn_tensor_map (src, PHYSNN_MAP_READ, &n);
        for (gsize p = 0; p < points; p++)
          dst[p] = sp[p * cols + oc->column];
        physnn_tensor_unmap (src);
      } else {
        g_autofree gdouble *d = physnn_tensor_to_doubles (src, &n);
        for (gsize p = 0; p < points; p++)
          dst[p] = (gfloat) d[p * cols + oc->column];
      }
    } else {
      memset (dst, 0, points * sizeof (gfloat));
    }
    physnn_tensor_unmap (out);
    g_ptr_array_add (result, out);
  }
  return result;
}

/**
 * physnn_model_run:
 * @self: a #PhysnnModel
 * @device: where to compute
 * @inputs: (array length=n_inputs): one tensor per model input, in order
 * @n_inputs: the number of inputs
 * @error: return location for a #GError
 *
 * Evaluates the model and the requested derivatives. On the C path values
 * are computed in double precision (the reference); on OpenCL in float32.
 * A model object runs one evaluation at a time.
 *
 * Returns: (transfer container) (element-type PhysnnTensor): the model
 *   outputs (float32), then one float32 tensor per requested derivative
 *   with one value per point; %NULL with @error set on failure
 */
GPtrArray *
physnn_model_run (PhysnnModel *self, PhysnnDevice *device,
    PhysnnTensor **inputs, guint n_inputs, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), NULL);
  g_return_val_if_fail (PHYSNN_IS_DEVICE (device), NULL);

  if (!check_inputs (self, inputs, n_inputs, error))
    return NULL;

  guint n_out = self->graph->outputs->len;
  g_autofree PhysnnJetValue *outs = g_new0 (PhysnnJetValue, n_out);
  gboolean ok;

  if (physnn_device_get_kind (device) == PHYSNN_DEVICE_KIND_OPENCL) {
    if (self->allow_fused && (!self->fused_tried ||
            self->fused_device != device)) {
      g_autofree gboolean *pp = g_new0 (gboolean, n_inputs);
      for (guint i = 0; i < n_inputs; i++) {
        const PhysnnOnnxValueInfo *vi = input_info (self, i);
        pp[i] = vi && vi->has_shape && vi->rank >= 1 && vi->dims[0] < 0;
      }
      g_clear_pointer (&self->fused, _physnn_fused_plan_free);
      g_clear_pointer (&self->mlp, _physnn_mlp_plan_free);
      g_clear_pointer (&self->fused_why, g_free);
      g_set_object (&self->fused_device, device);
      self->fused_tried = TRUE;
      /* GPUs: the tiled kernel for plain dense chains; elsewhere, or for
       * other graphs, the per-point kernel (PHYSNN_MLP=0/1 overrides). */
      const gchar *env = g_getenv ("PHYSNN_MLP");
      gboolean want_mlp = env ? strcmp (env, "0") != 0 :
          physnn_device_get_device_type (device) != PHYSNN_DEVICE_TYPE_CPU;
      if (want_mlp) {
        g_autofree gchar *why = NULL;
        self->mlp = _physnn_mlp_plan_new (self->graph, &self->spec, device,
            &why, error);
        if (self->mlp == NULL && why == NULL)
          return NULL;
        if (why)
          g_debug ("%s: no tiled MLP kernel: %s", self->path, why);
      }
      if (self->mlp == NULL) {
        self->fused = _physnn_fused_plan_new (self->graph, &self->spec,
            device, pp, inputs, &self->fused_why, error);
        if (self->fused == NULL && self->fused_why == NULL)
          return NULL;          /* a real failure, e.g. a kernel build */
        if (self->fused_why)
          g_debug ("%s: node-by-node execution: %s", self->path,
              self->fused_why);
      }
    }
    if (self->allow_fused && self->mlp)
      ok = _physnn_mlp_run (self->mlp, inputs, outs, error);
    else if (self->allow_fused && self->fused)
      ok = _physnn_fused_run (self->fused, inputs, outs, error);
    else
      ok = _physnn_cl_run (self->graph, &self->spec, &self->cl_plan, device,
          inputs, outs, error);
  }
  else
    ok = physnn_graph_run_reference (self->graph, &self->spec, inputs, outs,
        error);
  if (!ok) {
    for (guint o = 0; o < n_out; o++)
      physnn_jet_value_clear (&outs[o]);
    return NULL;
  }
  GPtrArray *result = collect (self, outs);
  for (guint o = 0; o < n_out; o++)
    physnn_jet_value_clear (&outs[o]);
  return result;
}

/**
 * physnn_model_set_fused:
 * @self: a #PhysnnModel
 * @fused: whether OpenCL may run the model as one fused kernel
 *
 * On OpenCL, a network that evaluates points independently (the usual
 * PINN) runs as one generated kernel; other graphs run node by node. This
 * switches fusion off, e.g. to compare both paths. The environment variable
 * `PHYSNN_FUSED=0` sets the default.
 */
void
physnn_model_set_fused (PhysnnModel *self, gboolean fused)
{
  g_return_if_fail (PHYSNN_IS_MODEL (self));
  self->allow_fused = fused;
}

/**
 * physnn_model_get_execution:
 * @self: a #PhysnnModel
 *
 * Returns: how the last OpenCL run executed: "fused", or "node by node:
 *   " and the reason the graph could not be fused; "" before any run
 */
const gchar *
physnn_model_get_execution (PhysnnModel *self)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), NULL);
  if (!self->fused_tried)
    return self->allow_fused ? "" : "node by node: fusion switched off";
  if (self->mlp)
    return _physnn_mlp_plan_describe (self->mlp);
  if (self->fused)
    return "fused";
  g_free (self->exec_desc);
  self->exec_desc = g_strdup_printf ("node by node: %s", self->fused_why ?
      self->fused_why : "fusion switched off");
  return self->exec_desc;
}

/* For the OpenCL executor and tests. */
PhysnnGraph *
_physnn_model_get_graph (PhysnnModel *self)
{
  return self->graph;
}

const PhysnnJetSpec *
_physnn_model_get_jet_spec (PhysnnModel *self)
{
  return &self->spec;
}

const PhysnnOnnxModel *
_physnn_model_get_onnx (PhysnnModel *self)
{
  return self->onnx;
}

/* ------------------------------------------------------------------------ */
/* For the PDE residual (pde.c): the reference path's float64 results. */

/* As physnn_model_run() on the reference path, but the outputs and
 * derivatives are handed over in float64, as the reference executor
 * computed them: a residual is a difference of nearly cancelling terms, and
 * rounding each term to float32 first would cost it digits. */
GPtrArray *
_physnn_model_run_reference_f64 (PhysnnModel *self, PhysnnTensor **inputs,
    guint n_inputs, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (self), NULL);
  if (!check_inputs (self, inputs, n_inputs, error))
    return NULL;
  guint n_out = self->graph->outputs->len;
  g_autofree PhysnnJetValue *outs = g_new0 (PhysnnJetValue, n_out);
  if (!physnn_graph_run_reference (self->graph, &self->spec, inputs, outs,
          error)) {
    for (guint o = 0; o < n_out; o++)
      physnn_jet_value_clear (&outs[o]);
    return NULL;
  }
  GPtrArray *result = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint o = 0; o < n_out; o++)
    g_ptr_array_add (result, physnn_tensor_convert (outs[o].comp[0],
            PHYSNN_DTYPE_FLOAT64));
  for (guint i = 0; i < self->n_derivatives; i++) {
    const Derivative *d = &self->derivatives[i];
    const OutputComponent *oc = &g_array_index (self->components,
        OutputComponent, d->component);
    PhysnnJetValue *v = &outs[oc->output];
    guint rank;
    const gsize *shape = physnn_tensor_get_shape (v->comp[0], &rank);
    gsize cols = rank ? shape[rank - 1] : 1;
    gsize points = physnn_tensor_get_n_elements (v->comp[0]) / MAX (cols, 1);
    gint c = d->order == 1 ? physnn_jet_first (&self->spec, d->dir_a) :
        physnn_jet_second (&self->spec, d->dir_a, d->dir_b);
    gsize pshape[1] = { points };
    PhysnnTensor *out = physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, 1, pshape);
    gdouble *dst = physnn_tensor_map (out, PHYSNN_MAP_WRITE, NULL);
    if (c >= 0 && (guint) c < v->n_comp) {
      gsize n_src = 0;
      g_autofree gdouble *src = physnn_tensor_to_doubles (v->comp[c], &n_src);
      for (gsize p = 0; p < points; p++)
        dst[p] = src[p * cols + oc->column];
    } else {
      memset (dst, 0, points * sizeof (gdouble));
    }
    physnn_tensor_unmap (out);
    g_ptr_array_add (result, out);
  }
  for (guint o = 0; o < n_out; o++)
    physnn_jet_value_clear (&outs[o]);
  return result;
}
