/* physnn — NIR graphs and their HDF5 files.
 *
 * Layout (nir ≥ 1.0, as the reference `nir` package writes and reads it):
 *
 *   /version                       scalar string
 *   /node/type                     "NIRGraph"
 *   /node/nodes/<name>/type        class name ("LIF", "Affine", …)
 *   /node/nodes/<name>/<param>     one dataset per parameter
 *   /node/nodes/<name>/metadata/   optional group of extra datasets
 *   /node/edges                    E×2 strings (source, target)
 *
 * A NIRGraph node nests the same structure. No attributes are used.
 *
 * The reader treats the file as hostile: only hard links, nesting depth,
 * member counts, dataset ranks and sizes and string lengths are bounded
 * before anything is allocated; every dataset's class is checked against
 * what the node type needs; unknown node types and unknown parameters are
 * refused as the reference reader refuses them; every error names the file,
 * the node and the field. Shapes are then inferred from the Input nodes as
 * `nir`'s infer_types does, and every edge's source output must equal its
 * target's input.
 *
 * libhdf5 (Debian's serial build) is not thread-safe: every call into it
 * holds one lock, and its error printing is turned off while we hold it.
 *
 * The writer writes a temporary file beside the target and renames it over
 * the target only when complete.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/nir-private.h"
#include "physnn/error.h"
#include "physnn/tensor-private.h"

#include <errno.h>
#include <glib/gstdio.h>
#ifdef G_OS_UNIX
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#endif
#include <hdf5.h>
#include <math.h>
#include <string.h>

#define NIR_VERSION "1.0"
#define MAX_DEPTH 8
#define MAX_MEMBERS 65536
#define MAX_NAME 256
#define MAX_STRING 4096
#define MAX_EDGES 1000000
#define MAX_ELEMENTS (1u << 28)

G_DEFINE_FINAL_TYPE (PhysnnNirGraph, physnn_nir_graph, G_TYPE_OBJECT);

static GMutex hdf5_lock;

/* ------------------------------------------------------------------------ */
/* Values, nodes, graphs */

static PhysnnNirValue *
value_new (const gchar *name, PhysnnTensor *t, const gchar *s)
{
  PhysnnNirValue *v = g_new0 (PhysnnNirValue, 1);
  v->name = g_strdup (name);
  v->tensor = t ? g_object_ref (t) : NULL;
  v->string = g_strdup (s);
  return v;
}

static void
value_free (gpointer p)
{
  PhysnnNirValue *v = p;
  g_free (v->name);
  g_clear_object (&v->tensor);
  g_free (v->string);
  g_free (v);
}

static PhysnnNirValue *
value_copy (const PhysnnNirValue *v)
{
  PhysnnNirValue *c = value_new (v->name, NULL, v->string);
  if (v->tensor)
    c->tensor = physnn_tensor_copy (v->tensor);
  return c;
}

static PhysnnNirNode *
node_new (const gchar *name, const gchar *type)
{
  PhysnnNirNode *n = g_new0 (PhysnnNirNode, 1);
  n->name = g_strdup (name);
  n->type = g_strdup (type);
  n->params = g_ptr_array_new_with_free_func (value_free);
  n->metadata = g_ptr_array_new_with_free_func (value_free);
  return n;
}

static void
node_free (gpointer p)
{
  PhysnnNirNode *n = p;
  g_free (n->name);
  g_free (n->type);
  g_ptr_array_unref (n->params);
  g_ptr_array_unref (n->metadata);
  g_clear_object (&n->sub);
  g_free (n);
}

static void
physnn_nir_graph_finalize (GObject *object)
{
  PhysnnNirGraph *self = PHYSNN_NIR_GRAPH (object);
  g_free (self->version);
  g_free (self->path);
  g_ptr_array_unref (self->nodes);
  g_ptr_array_unref (self->edges);
  g_ptr_array_unref (self->metadata);
  G_OBJECT_CLASS (physnn_nir_graph_parent_class)->finalize (object);
}

static void
physnn_nir_graph_class_init (PhysnnNirGraphClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = physnn_nir_graph_finalize;
}

static void
physnn_nir_graph_init (PhysnnNirGraph *self)
{
  self->nodes = g_ptr_array_new_with_free_func (node_free);
  self->edges = g_ptr_array_new_with_free_func (g_free);
  self->metadata = g_ptr_array_new_with_free_func (value_free);
}

/**
 * physnn_nir_graph_new:
 *
 * Returns: (transfer full): an empty graph, for building one to save
 */
PhysnnNirGraph *
physnn_nir_graph_new (void)
{
  PhysnnNirGraph *g = g_object_new (PHYSNN_TYPE_NIR_GRAPH, NULL);
  g->version = g_strdup (NIR_VERSION);
  return g;
}

/**
 * physnn_nir_graph_copy:
 * @self: a #PhysnnNirGraph
 *
 * Returns: (transfer full): a deep copy (parameters are copied too)
 */
PhysnnNirGraph *
physnn_nir_graph_copy (PhysnnNirGraph *self)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), NULL);
  PhysnnNirGraph *g = g_object_new (PHYSNN_TYPE_NIR_GRAPH, NULL);
  g->version = g_strdup (self->version);
  g->path = g_strdup (self->path);
  g->checked = self->checked;
  for (guint i = 0; i < self->nodes->len; i++) {
    PhysnnNirNode *n = g_ptr_array_index (self->nodes, i);
    PhysnnNirNode *c = node_new (n->name, n->type);
    for (guint k = 0; k < n->params->len; k++)
      g_ptr_array_add (
          c->params, value_copy (g_ptr_array_index (n->params, k)));
    for (guint k = 0; k < n->metadata->len; k++)
      g_ptr_array_add (
          c->metadata, value_copy (g_ptr_array_index (n->metadata, k)));
    if (n->sub)
      c->sub = physnn_nir_graph_copy (n->sub);
    c->typed = n->typed;
    c->in_rank = n->in_rank;
    c->out_rank = n->out_rank;
    memcpy (c->in_shape, n->in_shape, sizeof c->in_shape);
    memcpy (c->out_shape, n->out_shape, sizeof c->out_shape);
    g_ptr_array_add (g->nodes, c);
  }
  for (guint i = 0; i < self->edges->len; i++)
    g_ptr_array_add (g->edges, g_strdup (g_ptr_array_index (self->edges, i)));
  for (guint k = 0; k < self->metadata->len; k++)
    g_ptr_array_add (
        g->metadata, value_copy (g_ptr_array_index (self->metadata, k)));
  return g;
}

PhysnnNirNode *
_physnn_nir_graph_node (PhysnnNirGraph *self, guint node)
{
  g_return_val_if_fail (node < self->nodes->len, NULL);
  return g_ptr_array_index (self->nodes, node);
}

static PhysnnNirValue *
find_value (GPtrArray *values, const gchar *name)
{
  for (guint i = 0; i < values->len; i++) {
    PhysnnNirValue *v = g_ptr_array_index (values, i);
    if (strcmp (v->name, name) == 0)
      return v;
  }
  return NULL;
}

PhysnnNirValue *
_physnn_nir_node_find (PhysnnNirNode *node, const gchar *name)
{
  return find_value (node->params, name);
}

gsize
_physnn_nir_shape_count (guint rank, const gsize *shape)
{
  gsize n = 1;
  for (guint i = 0; i < rank; i++)
    n *= shape[i];
  return n;
}

gchar *
_physnn_nir_shape_string (guint rank, const gsize *shape)
{
  GString *s = g_string_new ("[");
  for (guint i = 0; i < rank; i++)
    g_string_append_printf (s, "%s%" G_GSIZE_FORMAT, i ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Accessors */

/**
 * physnn_nir_graph_get_version:
 * @self: a #PhysnnNirGraph
 *
 * Returns: (nullable): the file's NIR version string
 */
const gchar *
physnn_nir_graph_get_version (PhysnnNirGraph *self)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), NULL);
  return self->version;
}

/**
 * physnn_nir_graph_get_path:
 * @self: a #PhysnnNirGraph
 *
 * Returns: (nullable): the file the graph was loaded from
 */
const gchar *
physnn_nir_graph_get_path (PhysnnNirGraph *self)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), NULL);
  return self->path;
}

/**
 * physnn_nir_graph_get_n_nodes:
 * @self: a #PhysnnNirGraph
 *
 * Returns: the number of nodes at this level (subgraphs count as one)
 */
guint
physnn_nir_graph_get_n_nodes (PhysnnNirGraph *self)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), 0);
  return self->nodes->len;
}

/**
 * physnn_nir_graph_find_node:
 * @self: a #PhysnnNirGraph
 * @name: a node name
 *
 * Returns: the node's index, or -1
 */
gint
physnn_nir_graph_find_node (PhysnnNirGraph *self, const gchar *name)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), -1);
  for (guint i = 0; i < self->nodes->len; i++)
    if (strcmp (((PhysnnNirNode *)g_ptr_array_index (self->nodes, i))->name,
            name) == 0)
      return (gint)i;
  return -1;
}

/**
 * physnn_nir_graph_get_node_name:
 * @self: a #PhysnnNirGraph
 * @node: a node index
 *
 * Returns: the node's name
 */
const gchar *
physnn_nir_graph_get_node_name (PhysnnNirGraph *self, guint node)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), NULL);
  g_return_val_if_fail (node < self->nodes->len, NULL);
  return _physnn_nir_graph_node (self, node)->name;
}

/**
 * physnn_nir_graph_get_node_type:
 * @self: a #PhysnnNirGraph
 * @node: a node index
 *
 * Returns: the node's NIR class name, such as "LIF" or "NIRGraph"
 */
const gchar *
physnn_nir_graph_get_node_type (PhysnnNirGraph *self, guint node)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), NULL);
  g_return_val_if_fail (node < self->nodes->len, NULL);
  return _physnn_nir_graph_node (self, node)->type;
}

/**
 * physnn_nir_graph_get_subgraph:
 * @self: a #PhysnnNirGraph
 * @node: a node index
 *
 * Returns: (transfer none) (nullable): the nested graph of a NIRGraph node
 */
PhysnnNirGraph *
physnn_nir_graph_get_subgraph (PhysnnNirGraph *self, guint node)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), NULL);
  g_return_val_if_fail (node < self->nodes->len, NULL);
  return _physnn_nir_graph_node (self, node)->sub;
}

/**
 * physnn_nir_graph_list_params:
 * @self: a #PhysnnNirGraph
 * @node: a node index
 *
 * Returns: (transfer full): the node's parameter names
 */
gchar **
physnn_nir_graph_list_params (PhysnnNirGraph *self, guint node)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), NULL);
  g_return_val_if_fail (node < self->nodes->len, NULL);
  PhysnnNirNode *n = _physnn_nir_graph_node (self, node);
  gchar **names = g_new0 (gchar *, n->params->len + 1);
  for (guint i = 0; i < n->params->len; i++)
    names[i] =
        g_strdup (((PhysnnNirValue *)g_ptr_array_index (n->params, i))->name);
  return names;
}

/**
 * physnn_nir_graph_get_param:
 * @self: a #PhysnnNirGraph
 * @node: a node index
 * @name: a parameter name, such as "tau" or "weight"
 *
 * Returns: (transfer none) (nullable): the numeric parameter
 */
PhysnnTensor *
physnn_nir_graph_get_param (PhysnnNirGraph *self, guint node, const gchar *name)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), NULL);
  g_return_val_if_fail (node < self->nodes->len, NULL);
  PhysnnNirValue *v =
      find_value (_physnn_nir_graph_node (self, node)->params, name);
  return v ? v->tensor : NULL;
}

/**
 * physnn_nir_graph_get_param_string:
 * @self: a #PhysnnNirGraph
 * @node: a node index
 * @name: a parameter name
 *
 * Returns: (nullable): a string parameter (a convolution's padding "same")
 */
const gchar *
physnn_nir_graph_get_param_string (
    PhysnnNirGraph *self, guint node, const gchar *name)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), NULL);
  g_return_val_if_fail (node < self->nodes->len, NULL);
  PhysnnNirValue *v =
      find_value (_physnn_nir_graph_node (self, node)->params, name);
  return v ? v->string : NULL;
}

/**
 * physnn_nir_graph_get_node_input_shape:
 * @self: a checked #PhysnnNirGraph
 * @node: a node index
 * @rank: (out): the rank
 *
 * Returns: (array length=rank) (nullable): the inferred input shape
 */
const gsize *
physnn_nir_graph_get_node_input_shape (
    PhysnnNirGraph *self, guint node, guint *rank)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), NULL);
  g_return_val_if_fail (node < self->nodes->len, NULL);
  PhysnnNirNode *n = _physnn_nir_graph_node (self, node);
  *rank = n->typed ? n->in_rank : 0;
  return n->typed ? n->in_shape : NULL;
}

/**
 * physnn_nir_graph_get_node_output_shape:
 * @self: a checked #PhysnnNirGraph
 * @node: a node index
 * @rank: (out): the rank
 *
 * Returns: (array length=rank) (nullable): the inferred output shape
 */
const gsize *
physnn_nir_graph_get_node_output_shape (
    PhysnnNirGraph *self, guint node, guint *rank)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), NULL);
  g_return_val_if_fail (node < self->nodes->len, NULL);
  PhysnnNirNode *n = _physnn_nir_graph_node (self, node);
  *rank = n->typed ? n->out_rank : 0;
  return n->typed ? n->out_shape : NULL;
}

/**
 * physnn_nir_graph_add_node:
 * @self: a #PhysnnNirGraph
 * @name: a new node name
 * @type: its NIR class name
 *
 * Returns: the new node's index
 */
guint
physnn_nir_graph_add_node (
    PhysnnNirGraph *self, const gchar *name, const gchar *type)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), 0);
  g_ptr_array_add (self->nodes, node_new (name, type));
  self->checked = FALSE;
  return self->nodes->len - 1;
}

/**
 * physnn_nir_graph_add_subgraph:
 * @self: a #PhysnnNirGraph
 * @name: a new node name
 * @subgraph: the nested graph (a reference is kept)
 *
 * Returns: the new node's index
 */
guint
physnn_nir_graph_add_subgraph (
    PhysnnNirGraph *self, const gchar *name, PhysnnNirGraph *subgraph)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), 0);
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (subgraph), 0);
  guint i = physnn_nir_graph_add_node (self, name, "NIRGraph");
  _physnn_nir_graph_node (self, i)->sub = g_object_ref (subgraph);
  return i;
}

static void
set_value (
    GPtrArray *values, const gchar *name, PhysnnTensor *t, const gchar *s)
{
  for (guint i = 0; i < values->len; i++) {
    PhysnnNirValue *v = g_ptr_array_index (values, i);
    if (strcmp (v->name, name) == 0) {
      g_ptr_array_index (values, i) = value_new (name, t, s);
      value_free (v);
      return;
    }
  }
  g_ptr_array_add (values, value_new (name, t, s));
}

/**
 * physnn_nir_graph_set_param:
 * @self: a #PhysnnNirGraph
 * @node: a node index
 * @name: the parameter name
 * @value: its value (a reference is kept)
 *
 * Sets or replaces a numeric parameter.
 */
void
physnn_nir_graph_set_param (
    PhysnnNirGraph *self, guint node, const gchar *name, PhysnnTensor *value)
{
  g_return_if_fail (PHYSNN_IS_NIR_GRAPH (self));
  g_return_if_fail (node < self->nodes->len);
  g_return_if_fail (PHYSNN_IS_TENSOR (value));
  set_value (_physnn_nir_graph_node (self, node)->params, name, value, NULL);
  self->checked = FALSE;
}

/**
 * physnn_nir_graph_set_param_string:
 * @self: a #PhysnnNirGraph
 * @node: a node index
 * @name: the parameter name
 * @value: its value
 *
 * Sets or replaces a string parameter.
 */
void
physnn_nir_graph_set_param_string (
    PhysnnNirGraph *self, guint node, const gchar *name, const gchar *value)
{
  g_return_if_fail (PHYSNN_IS_NIR_GRAPH (self));
  g_return_if_fail (node < self->nodes->len);
  set_value (_physnn_nir_graph_node (self, node)->params, name, NULL, value);
  self->checked = FALSE;
}

/**
 * physnn_nir_graph_add_edge:
 * @self: a #PhysnnNirGraph
 * @source: the source node's name
 * @target: the target node's name
 */
void
physnn_nir_graph_add_edge (
    PhysnnNirGraph *self, const gchar *source, const gchar *target)
{
  g_return_if_fail (PHYSNN_IS_NIR_GRAPH (self));
  g_ptr_array_add (self->edges, g_strdup (source));
  g_ptr_array_add (self->edges, g_strdup (target));
  self->checked = FALSE;
}

/**
 * physnn_nir_graph_get_n_edges:
 * @self: a #PhysnnNirGraph
 *
 * Returns: the number of edges at this level
 */
guint
physnn_nir_graph_get_n_edges (PhysnnNirGraph *self)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), 0);
  return self->edges->len / 2;
}

/**
 * physnn_nir_graph_get_edge:
 * @self: a #PhysnnNirGraph
 * @index: an edge index
 * @source: (out) (transfer none): the source node's name
 * @target: (out) (transfer none): the target node's name
 */
void
physnn_nir_graph_get_edge (PhysnnNirGraph *self, guint index,
    const gchar **source, const gchar **target)
{
  g_return_if_fail (PHYSNN_IS_NIR_GRAPH (self));
  g_return_if_fail (index < self->edges->len / 2);
  *source = g_ptr_array_index (self->edges, 2 * index);
  *target = g_ptr_array_index (self->edges, 2 * index + 1);
}

static GPtrArray *
metadata_of (PhysnnNirGraph *self, gint node)
{
  if (node < 0)
    return self->metadata;
  g_return_val_if_fail ((guint)node < self->nodes->len, NULL);
  return _physnn_nir_graph_node (self, (guint)node)->metadata;
}

/**
 * physnn_nir_graph_set_metadata:
 * @self: a #PhysnnNirGraph
 * @node: a node index, or -1 for the graph itself
 * @name: the entry's name
 * @value: its value (a reference is kept)
 *
 * Sets an entry of the `metadata` group, where NIR keeps what is not a
 * parameter (physnn puts homeostasis and learning state there).
 */
void
physnn_nir_graph_set_metadata (
    PhysnnNirGraph *self, gint node, const gchar *name, PhysnnTensor *value)
{
  g_return_if_fail (PHYSNN_IS_NIR_GRAPH (self));
  GPtrArray *md = metadata_of (self, node);
  if (md)
    set_value (md, name, value, NULL);
}

/**
 * physnn_nir_graph_set_metadata_string:
 * @self: a #PhysnnNirGraph
 * @node: a node index, or -1 for the graph itself
 * @name: the entry's name
 * @value: its value
 */
void
physnn_nir_graph_set_metadata_string (
    PhysnnNirGraph *self, gint node, const gchar *name, const gchar *value)
{
  g_return_if_fail (PHYSNN_IS_NIR_GRAPH (self));
  GPtrArray *md = metadata_of (self, node);
  if (md)
    set_value (md, name, NULL, value);
}

/**
 * physnn_nir_graph_get_metadata:
 * @self: a #PhysnnNirGraph
 * @node: a node index, or -1 for the graph itself
 * @name: the entry's name
 *
 * Returns: (transfer none) (nullable): a numeric metadata entry
 */
PhysnnTensor *
physnn_nir_graph_get_metadata (
    PhysnnNirGraph *self, gint node, const gchar *name)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), NULL);
  GPtrArray *md = metadata_of (self, node);
  PhysnnNirValue *v = md ? find_value (md, name) : NULL;
  return v ? v->tensor : NULL;
}

/**
 * physnn_nir_graph_get_metadata_string:
 * @self: a #PhysnnNirGraph
 * @node: a node index, or -1 for the graph itself
 * @name: the entry's name
 *
 * Returns: (nullable): a string metadata entry
 */
const gchar *
physnn_nir_graph_get_metadata_string (
    PhysnnNirGraph *self, gint node, const gchar *name)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), NULL);
  GPtrArray *md = metadata_of (self, node);
  PhysnnNirValue *v = md ? find_value (md, name) : NULL;
  return v ? v->string : NULL;
}

/* ------------------------------------------------------------------------ */
/* Node schemas: the parameters each NIR node type has, as the reference
 * package defines them. */

typedef enum {
  K_FLOAT,
  K_INT,
  K_INT_OR_STRING,
} Kind;

typedef struct {
  const gchar *name;
  Kind kind;
  gboolean required;
  gint8 rank_min, rank_max;
} Field;

typedef struct {
  const gchar *type;
  gboolean neuron; /* parameters share one shape */
  Field fields[8];
} Schema;

#define F(n, k, r, lo, hi)                                                     \
  {                                                                            \
    n, k, r, lo, hi                                                            \
  }
static const Schema schemas[] = {
  { "Input", FALSE, { F ("shape", K_INT, TRUE, 0, 1) } },
  { "Output", FALSE, { F ("shape", K_INT, TRUE, 0, 1) } },
  { "Affine", FALSE,
      { F ("weight", K_FLOAT, TRUE, 2, 2), F ("bias", K_FLOAT, TRUE, 0, 1) } },
  { "Linear", FALSE, { F ("weight", K_FLOAT, TRUE, 2, 2) } },
  { "Scale", FALSE, { F ("scale", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK) } },
  { "Conv1d", FALSE,
      { F ("weight", K_FLOAT, TRUE, 3, 3), F ("bias", K_FLOAT, TRUE, 0, 1),
          F ("stride", K_INT, TRUE, 0, 1),
          F ("padding", K_INT_OR_STRING, TRUE, 0, 1),
          F ("dilation", K_INT, TRUE, 0, 1), F ("groups", K_INT, TRUE, 0, 1),
          F ("input_shape", K_INT, FALSE, 0, 1) } },
  { "Conv2d", FALSE,
      { F ("weight", K_FLOAT, TRUE, 4, 4), F ("bias", K_FLOAT, TRUE, 0, 1),
          F ("stride", K_INT, TRUE, 0, 1),
          F ("padding", K_INT_OR_STRING, TRUE, 0, 1),
          F ("dilation", K_INT, TRUE, 0, 1), F ("groups", K_INT, TRUE, 0, 1),
          F ("input_shape", K_INT, FALSE, 0, 1) } },
  { "SumPool2d", FALSE,
      { F ("kernel_size", K_INT, TRUE, 0, 1), F ("stride", K_INT, TRUE, 0, 1),
          F ("padding", K_INT, TRUE, 0, 1) } },
  { "AvgPool2d", FALSE,
      { F ("kernel_size", K_INT, TRUE, 0, 1), F ("stride", K_INT, TRUE, 0, 1),
          F ("padding", K_INT, TRUE, 0, 1) } },
  { "Flatten", FALSE,
      { F ("start_dim", K_INT, FALSE, 0, 0), F ("end_dim", K_INT, FALSE, 0, 0),
          F ("input_type", K_INT, FALSE, 0, 1) } },
  { "Delay", TRUE, { F ("delay", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK) } },
  { "Threshold", TRUE,
      { F ("threshold", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK) } },
  { "I", TRUE, { F ("r", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK) } },
  { "IF", TRUE,
      { F ("r", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK),
          F ("v_threshold", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK),
          F ("v_reset", K_FLOAT, FALSE, 0, PHYSNN_NIR_MAX_RANK) } },
  { "LI", TRUE,
      { F ("tau", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK),
          F ("r", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK),
          F ("v_leak", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK) } },
  { "LIF", TRUE,
      { F ("tau", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK),
          F ("r", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK),
          F ("v_leak", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK),
          F ("v_threshold", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK),
          F ("v_reset", K_FLOAT, FALSE, 0, PHYSNN_NIR_MAX_RANK) } },
  { "CubaLI", TRUE,
      { F ("tau_syn", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK),
          F ("tau_mem", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK),
          F ("r", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK),
          F ("v_leak", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK),
          F ("w_in", K_FLOAT, FALSE, 0, PHYSNN_NIR_MAX_RANK) } },
  { "CubaLIF", TRUE,
      { F ("tau_syn", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK),
          F ("tau_mem", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK),
          F ("r", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK),
          F ("v_leak", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK),
          F ("v_threshold", K_FLOAT, TRUE, 0, PHYSNN_NIR_MAX_RANK),
          F ("v_reset", K_FLOAT, FALSE, 0, PHYSNN_NIR_MAX_RANK),
          F ("w_in", K_FLOAT, FALSE, 0, PHYSNN_NIR_MAX_RANK) } },
};
#undef F

static const Schema *
find_schema (const gchar *type)
{
  for (guint i = 0; i < G_N_ELEMENTS (schemas); i++)
    if (strcmp (schemas[i].type, type) == 0)
      return &schemas[i];
  return NULL;
}

static gchar *
known_types (void)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (schemas); i++)
    g_string_append_printf (s, "%s, ", schemas[i].type);
  g_string_append (s, "NIRGraph");
  return g_string_free (s, FALSE);
}

/* Checks a node's parameters against its schema. @where names the file and
 * node for messages. */
static gboolean
validate_node (PhysnnNirNode *n, const gchar *where, GError **error)
{
  if (strcmp (n->type, "NIRGraph") == 0)
    return TRUE;
  const Schema *sc = find_schema (n->type);
  if (sc == NULL) {
    g_autofree gchar *known = known_types ();
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "%s: unknown node type \"%s\" (known: %s)", where, n->type, known);
    return FALSE;
  }
  for (guint i = 0; i < n->params->len; i++) {
    PhysnnNirValue *v = g_ptr_array_index (n->params, i);
    gboolean known = FALSE;
    for (guint f = 0; f < G_N_ELEMENTS (sc->fields) && sc->fields[f].name; f++)
      known |= strcmp (sc->fields[f].name, v->name) == 0;
    if (!known) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
          "%s: %s has no parameter \"%s\" (extra data belongs in the "
          "node's metadata group)",
          where, n->type, v->name);
      return FALSE;
    }
  }
  const gsize *shape0 = NULL;
  guint rank0 = 0;
  const gchar *name0 = NULL;
  for (guint f = 0; f < G_N_ELEMENTS (sc->fields) && sc->fields[f].name; f++) {
    const Field *fd = &sc->fields[f];
    PhysnnNirValue *v = find_value (n->params, fd->name);
    if (v == NULL) {
      if (fd->required) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
            "%s: %s node without its \"%s\" parameter", where, n->type,
            fd->name);
        return FALSE;
      }
      continue;
    }
    if (v->string) {
      if (fd->kind != K_INT_OR_STRING ||
          (strcmp (v->string, "same") != 0 &&
              strcmp (v->string, "valid") != 0)) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
            "%s: field \"%s\" is the string \"%s\"; expected %s", where,
            fd->name, v->string,
            fd->kind == K_INT_OR_STRING ? "an integer, \"same\" or \"valid\""
            : fd->kind == K_INT         ? "integers"
                                        : "numbers");
        return FALSE;
      }
      continue;
    }
    PhysnnDType dt = physnn_tensor_get_dtype (v->tensor);
    guint rank = physnn_tensor_get_rank (v->tensor);
    if (fd->kind != K_FLOAT && physnn_dtype_is_float (dt)) {
      /* Integers stored as floats (some writers) must be whole. */
      gsize cnt = physnn_tensor_get_n_elements (v->tensor);
      for (gsize k = 0; k < cnt; k++) {
        gdouble x = physnn_tensor_get_value (v->tensor, k);
        if (x != floor (x) || fabs (x) > 1e9) {
          g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
              "%s: field \"%s\" must hold integers, found %g", where, fd->name,
              x);
          return FALSE;
        }
      }
    }
    if ((gint)rank < fd->rank_min || (gint)rank > fd->rank_max) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
          "%s: field \"%s\" has rank %u; %s expects rank %d to %d", where,
          fd->name, rank, n->type, fd->rank_min, fd->rank_max);
      return FALSE;
    }
    if (fd->kind == K_FLOAT) {
      gsize bad = physnn_tensor_count_nonfinite (v->tensor);
      if (bad) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
            "%s: field \"%s\" holds %" G_GSIZE_FORMAT " NaN or infinite "
            "value(s)",
            where, fd->name, bad);
        return FALSE;
      }
    }
    /* Neuron parameters share one shape; w_in and v_reset may be scalars
     * (older files store w_in = 1.0). */
    if (sc->neuron && fd->kind == K_FLOAT) {
      const gsize *shape = physnn_tensor_get_shape (v->tensor, &rank);
      gboolean scalar_ok = (strcmp (fd->name, "w_in") == 0 ||
                               strcmp (fd->name, "v_reset") == 0) &&
                           physnn_tensor_get_n_elements (v->tensor) == 1;
      if (shape0 == NULL) {
        shape0 = shape;
        rank0 = rank;
        name0 = fd->name;
      } else if (!scalar_ok &&
                 (rank != rank0 ||
                     memcmp (shape, shape0, rank * sizeof (gsize)) != 0)) {
        g_autofree gchar *a = _physnn_nir_shape_string (rank0, shape0);
        g_autofree gchar *b = _physnn_nir_shape_string (rank, shape);
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
            "%s: %s parameters must share one shape: \"%s\" is %s but "
            "\"%s\" is %s",
            where, n->type, name0, a, fd->name, b);
        return FALSE;
      }
    }
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Type inference, as nir's NIRGraph.infer_types/check_types */

static gint64
int_at (PhysnnTensor *t, guint i)
{
  gsize n = physnn_tensor_get_n_elements (t);
  return (gint64)physnn_tensor_get_value (t, n == 1 ? 0 : MIN (i, n - 1));
}

static void
set_shape (guint *rank, gsize *dst, guint r, const gsize *src)
{
  *rank = r;
  memcpy (dst, src, r * sizeof (gsize));
}

/* Output size of a convolution or pooling along one axis, nir's
 * calculate_conv_output. */
static gboolean
conv_axis (
    gsize in, gint64 pad, gint64 dil, gint64 k, gint64 stride, gsize *out)
{
  gint64 num = (gint64)in + 2 * pad - dil * (k - 1) - 1;
  if (stride <= 0 || num < 0)
    return FALSE;
  *out = (gsize)(num / stride + 1);
  return TRUE;
}

/* Shapes a node fixes by itself: both for neurons, Affine, Input …; only
 * the input for a convolution with input_shape. */
static void
own_shapes (PhysnnNirNode *n)
{
  n->in_rank = n->out_rank = G_MAXUINT;
  const gchar *t = n->type;
  PhysnnNirValue *v;
  guint r;

  if (strcmp (t, "Input") == 0 || strcmp (t, "Output") == 0) {
    PhysnnTensor *s = _physnn_nir_node_find (n, "shape")->tensor;
    gsize shape[PHYSNN_NIR_MAX_RANK];
    r = (guint)MIN (physnn_tensor_get_n_elements (s), PHYSNN_NIR_MAX_RANK);
    if (physnn_tensor_get_rank (s) == 0)
      r = 1;
    for (guint i = 0; i < r; i++)
      shape[i] = (gsize)MAX (int_at (s, i), 0);
    set_shape (&n->in_rank, n->in_shape, r, shape);
    set_shape (&n->out_rank, n->out_shape, r, shape);
  } else if (strcmp (t, "Affine") == 0 || strcmp (t, "Linear") == 0) {
    const gsize *w = physnn_tensor_get_shape (
        _physnn_nir_node_find (n, "weight")->tensor, &r);
    set_shape (&n->in_rank, n->in_shape, 1, &w[1]);
    set_shape (&n->out_rank, n->out_shape, 1, &w[0]);
  } else if (strcmp (t, "Conv1d") == 0 || strcmp (t, "Conv2d") == 0) {
    v = _physnn_nir_node_find (n, "input_shape");
    if (v && v->tensor) {
      const gsize *w = physnn_tensor_get_shape (
          _physnn_nir_node_find (n, "weight")->tensor, &r);
      gint64 groups = int_at (_physnn_nir_node_find (n, "groups")->tensor, 0);
      guint sp = strcmp (t, "Conv1d") == 0 ? 1 : 2;
      gsize shape[3] = { w[1] * (gsize)MAX (groups, 1), 0, 0 };
      for (guint i = 0; i < sp; i++)
        shape[1 + i] = (gsize)MAX (int_at (v->tensor, i), 0);
      set_shape (&n->in_rank, n->in_shape, 1 + sp, shape);
    }
  } else if (strcmp (t, "Flatten") == 0) {
    v = _physnn_nir_node_find (n, "input_type");
    if (v && v->tensor) {
      gsize shape[PHYSNN_NIR_MAX_RANK];
      r = (guint)MIN (
          physnn_tensor_get_n_elements (v->tensor), PHYSNN_NIR_MAX_RANK);
      for (guint i = 0; i < r; i++)
        shape[i] = (gsize)MAX (int_at (v->tensor, i), 0);
      set_shape (&n->in_rank, n->in_shape, r, shape);
    }
  } else if (strcmp (t, "NIRGraph") != 0 && strcmp (t, "SumPool2d") != 0 &&
             strcmp (t, "AvgPool2d") != 0) {
    /* Scale, Delay, Threshold and neurons: the parameters' shape */
    PhysnnNirValue *p = g_ptr_array_index (n->params, 0);
    for (guint i = 0; i < n->params->len; i++) {
      PhysnnNirValue *q = g_ptr_array_index (n->params, i);
      if (q->tensor && physnn_tensor_get_n_elements (q->tensor) >
                           physnn_tensor_get_n_elements (p->tensor))
        p = q;
    }
    const gsize *s = physnn_tensor_get_shape (p->tensor, &r);
    set_shape (&n->in_rank, n->in_shape, r, s);
    set_shape (&n->out_rank, n->out_shape, r, s);
  }
}

/* The output shape from a known input shape, where the node does not fix
 * it itself. */
static gboolean
derive_output (PhysnnNirNode *n, const gchar *where, GError **error)
{
  const gchar *t = n->type;
  gboolean conv = g_str_has_prefix (t, "Conv");
  gboolean pool = g_str_has_suffix (t, "Pool2d");

  if (n->out_rank != G_MAXUINT)
    return TRUE;
  if (conv || pool) {
    guint sp = strcmp (t, "Conv1d") == 0 ? 1 : 2;
    if (n->in_rank != 1 + sp) {
      g_autofree gchar *s = _physnn_nir_shape_string (n->in_rank, n->in_shape);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "%s: %s needs a %u-D input [channels, %s], got %s", where, t, 1 + sp,
          sp == 1 ? "length" : "height, width", s);
      return FALSE;
    }
    gsize out[3];
    const gchar *pad_s = NULL;
    PhysnnTensor *pad, *stride, *dil = NULL, *k = NULL;
    PhysnnNirValue *pv = _physnn_nir_node_find (n, "padding");
    pad = pv->tensor;
    pad_s = pv->string;
    stride = _physnn_nir_node_find (n, "stride")->tensor;
    if (conv) {
      PhysnnTensor *w = _physnn_nir_node_find (n, "weight")->tensor;
      gint64 groups = int_at (_physnn_nir_node_find (n, "groups")->tensor, 0);
      dil = _physnn_nir_node_find (n, "dilation")->tensor;
      out[0] = physnn_tensor_get_dim (w, 0);
      if (groups < 1 ||
          physnn_tensor_get_dim (w, 1) * (gsize)groups != n->in_shape[0] ||
          out[0] % (gsize)groups != 0) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
            "%s: weight %" G_GSIZE_FORMAT "×%" G_GSIZE_FORMAT "×… with "
            "groups=%" G_GINT64_FORMAT " does not take %" G_GSIZE_FORMAT
            " input channels",
            where, out[0], physnn_tensor_get_dim (w, 1), groups,
            n->in_shape[0]);
        return FALSE;
      }
    } else {
      k = _physnn_nir_node_find (n, "kernel_size")->tensor;
      out[0] = n->in_shape[0];
    }
    for (guint i = 0; i < sp; i++) {
      gint64 kk = conv ? (gint64)physnn_tensor_get_dim (
                             _physnn_nir_node_find (n, "weight")->tensor, 2 + i)
                       : int_at (k, i);
      gint64 p = pad_s ? 0 : int_at (pad, i);
      if (pad_s && strcmp (pad_s, "same") == 0) {
        out[1 + i] = n->in_shape[1 + i];
        continue;
      }
      if (kk < 1 || p < 0 ||
          !conv_axis (n->in_shape[1 + i], p, dil ? int_at (dil, i) : 1, kk,
              int_at (stride, i), &out[1 + i]) ||
          (dil && int_at (dil, i) < 1)) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
            "%s: kernel %" G_GINT64_FORMAT ", stride %" G_GINT64_FORMAT
            ", padding %" G_GINT64_FORMAT
            " do not fit an input of %" G_GSIZE_FORMAT " along axis %u",
            where, kk, int_at (stride, i), p, n->in_shape[1 + i], i);
        return FALSE;
      }
    }
    set_shape (&n->out_rank, n->out_shape, 1 + sp, out);
    return TRUE;
  }
  if (strcmp (t, "Flatten") == 0) {
    PhysnnNirValue *sv = _physnn_nir_node_find (n, "start_dim");
    PhysnnNirValue *ev = _physnn_nir_node_find (n, "end_dim");
    gint64 start = sv ? int_at (sv->tensor, 0) : 1;
    gint64 end = ev ? int_at (ev->tensor, 0) : -1;
    gint64 r = n->in_rank;
    gint64 s0 = start < 0 ? start + r : start;
    gint64 e0 = end == -1 ? r - 1 : (end < 0 ? end + r : end);
    if (s0 < 0 || s0 > r || e0 >= r || (r > 0 && e0 < s0 - 1)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "%s: start_dim %" G_GINT64_FORMAT " and end_dim %" G_GINT64_FORMAT
          " do not fit an input of rank %" G_GINT64_FORMAT,
          where, start, end, r);
      return FALSE;
    }
    gsize out[PHYSNN_NIR_MAX_RANK];
    guint o = 0;
    gsize mid = 1;
    for (gint64 i = 0; i < s0 && start != 0; i++)
      out[o++] = n->in_shape[i];
    for (gint64 i = s0; i <= e0; i++)
      mid *= n->in_shape[i];
    out[o++] = mid;
    for (gint64 i = e0 + 1; i < r && end != -1 && end != r - 1; i++)
      out[o++] = n->in_shape[i];
    if (_physnn_nir_shape_count (o, out) !=
        _physnn_nir_shape_count (n->in_rank, n->in_shape)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "%s: Flatten must not change the number of elements", where);
      return FALSE;
    }
    set_shape (&n->out_rank, n->out_shape, o, out);
    return TRUE;
  }
  /* anything else passes its input through */
  set_shape (&n->out_rank, n->out_shape, n->in_rank, n->in_shape);
  return TRUE;
}

static gboolean check_graph (PhysnnNirGraph *self, const gchar *file,
    const gchar *prefix, GError **error);

static gchar *
node_where (const gchar *file, const gchar *prefix, const gchar *name)
{
  return g_strdup_printf (
      "%s%snode \"%s%s\"", file ? file : "", file ? ": " : "", prefix, name);
}

/* A subgraph's shapes are those of its single Input and Output nodes. */
static gboolean
subgraph_shapes (
    PhysnnNirNode *n, const gchar *file, const gchar *prefix, GError **error)
{
  g_autofree gchar *inner = g_strdup_printf ("%s%s.", prefix, n->name);
  if (!check_graph (n->sub, file, inner, error))
    return FALSE;
  gint in = -1, out = -1;
  guint n_in = 0, n_out = 0;
  for (guint i = 0; i < n->sub->nodes->len; i++) {
    PhysnnNirNode *c = g_ptr_array_index (n->sub->nodes, i);
    if (strcmp (c->type, "Input") == 0) {
      in = (gint)i;
      n_in++;
    } else if (strcmp (c->type, "Output") == 0) {
      out = (gint)i;
      n_out++;
    }
  }
  if (n_in != 1 || n_out != 1) {
    g_autofree gchar *where = node_where (file, prefix, n->name);
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "%s: a subgraph needs exactly one Input and one Output node, it has "
        "%u and %u",
        where, n_in, n_out);
    return FALSE;
  }
  PhysnnNirNode *ni = g_ptr_array_index (n->sub->nodes, in);
  PhysnnNirNode *no = g_ptr_array_index (n->sub->nodes, out);
  set_shape (&n->in_rank, n->in_shape, ni->in_rank, ni->in_shape);
  set_shape (&n->out_rank, n->out_shape, no->out_rank, no->out_shape);
  return TRUE;
}

static gboolean
check_graph (PhysnnNirGraph *self, const gchar *file, const gchar *prefix,
    GError **error)
{
  guint nn = self->nodes->len, ne = self->edges->len / 2;
  g_autofree gint *src = g_new (gint, MAX (ne, 1));
  g_autofree gint *dst = g_new (gint, MAX (ne, 1));

  /* Structure: edges name existing nodes, no duplicates. */
  for (guint e = 0; e < ne; e++) {
    const gchar *a = g_ptr_array_index (self->edges, 2 * e);
    const gchar *b = g_ptr_array_index (self->edges, 2 * e + 1);
    src[e] = physnn_nir_graph_find_node (self, a);
    dst[e] = physnn_nir_graph_find_node (self, b);
    if (src[e] < 0 || dst[e] < 0) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
          "%s%sedge %s%s -> %s%s references node \"%s%s\", which does not "
          "exist",
          file ? file : "", file ? ": " : "", prefix, a, prefix, b, prefix,
          src[e] < 0 ? a : b);
      return FALSE;
    }
    for (guint f = 0; f < e; f++)
      if (src[f] == src[e] && dst[f] == dst[e]) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
            "%s%sduplicate edge %s%s -> %s%s", file ? file : "",
            file ? ": " : "", prefix, a, prefix, b);
        return FALSE;
      }
  }
  for (guint i = 0; i < nn; i++) {
    PhysnnNirNode *n = g_ptr_array_index (self->nodes, i);
    g_autofree gchar *where = node_where (file, prefix, n->name);
    n->typed = FALSE;
    if (n->sub) {
      if (!subgraph_shapes (n, file, prefix, error))
        return FALSE;
    } else {
      if (!validate_node (n, where, error))
        return FALSE;
      own_shapes (n);
    }
  }

  /* Propagate from nodes with a known output, breadth first. */
  g_autofree gboolean *done = g_new0 (gboolean, MAX (nn, 1));
  gboolean progress = TRUE;
  for (guint i = 0; i < nn; i++) {
    PhysnnNirNode *n = g_ptr_array_index (self->nodes, i);
    g_autofree gchar *where = node_where (file, prefix, n->name);
    if (n->in_rank != G_MAXUINT && !derive_output (n, where, error))
      return FALSE;
  }
  while (progress) {
    progress = FALSE;
    for (guint e = 0; e < ne; e++) {
      PhysnnNirNode *a = g_ptr_array_index (self->nodes, src[e]);
      PhysnnNirNode *b = g_ptr_array_index (self->nodes, dst[e]);
      if (a->out_rank == G_MAXUINT)
        continue;
      if (b->in_rank == G_MAXUINT) {
        g_autofree gchar *where = node_where (file, prefix, b->name);
        set_shape (&b->in_rank, b->in_shape, a->out_rank, a->out_shape);
        if (!derive_output (b, where, error))
          return FALSE;
        progress = TRUE;
      }
      if (!done[e]) {
        done[e] = TRUE;
        progress = TRUE;
        if (a->out_rank != b->in_rank ||
            memcmp (a->out_shape, b->in_shape, a->out_rank * sizeof (gsize)) !=
                0) {
          g_autofree gchar *sa =
              _physnn_nir_shape_string (a->out_rank, a->out_shape);
          g_autofree gchar *sb =
              _physnn_nir_shape_string (b->in_rank, b->in_shape);
          g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
              "%s%sshape mismatch on edge %s%s -> %s%s: node \"%s%s\" (%s) "
              "outputs %s but node \"%s%s\" (%s) takes %s",
              file ? file : "", file ? ": " : "", prefix, a->name, prefix,
              b->name, prefix, a->name, a->type, sa, prefix, b->name, b->type,
              sb);
          return FALSE;
        }
      }
    }
  }
  for (guint i = 0; i < nn; i++) {
    PhysnnNirNode *n = g_ptr_array_index (self->nodes, i);
    if (n->in_rank == G_MAXUINT || n->out_rank == G_MAXUINT) {
      g_autofree gchar *where = node_where (file, prefix, n->name);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "%s: the %s's shape cannot be inferred: no input reaches it from "
          "an Input node",
          where, n->type);
      return FALSE;
    }
    n->typed = TRUE;
  }
  return TRUE;
}

/**
 * physnn_nir_graph_check:
 * @self: a #PhysnnNirGraph
 * @error: return location for a #GError
 *
 * Checks every node's parameters against its NIR type, infers every node's
 * input and output shape from the Input nodes (as the reference package's
 * type inference does) and checks that each edge connects equal shapes.
 * Subgraphs are checked too. physnn_nir_graph_load() calls this.
 *
 * Returns: %TRUE if the graph is well typed
 */
gboolean
physnn_nir_graph_check (PhysnnNirGraph *self, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), FALSE);
  if (!check_graph (self, self->path, "", error))
    return FALSE;
  self->checked = TRUE;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Reading */

typedef struct {
  const gchar *file;
  guint n_nodes;
  gsize n_elements;
} ReadCtx;

#define READ_FAIL(code, ...)                                                   \
  G_STMT_START                                                                 \
  {                                                                            \
    g_set_error (error, PHYSNN_ERROR, code, __VA_ARGS__);                      \
    goto out;                                                                  \
  }                                                                            \
  G_STMT_END

/* Names of a group's members, hard links only, bounded. */
static gchar **
member_names (hid_t gid, const gchar *file, const gchar *where, GError **error)
{
  H5G_info_t info;
  if (H5Gget_info (gid, &info) < 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: %s: cannot list the group", file, where);
    return NULL;
  }
  if (info.nlinks > MAX_MEMBERS) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: %s has %llu members; at most %d are read", file, where,
        (unsigned long long)info.nlinks, MAX_MEMBERS);
    return NULL;
  }
  gchar **names = g_new0 (gchar *, info.nlinks + 1);
  for (hsize_t i = 0; i < info.nlinks; i++) {
    gchar buf[MAX_NAME + 1];
    ssize_t len = H5Lget_name_by_idx (
        gid, ".", H5_INDEX_NAME, H5_ITER_INC, i, buf, sizeof buf, H5P_DEFAULT);
    if (len < 0 || len > MAX_NAME) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
          "%s: %s: member %llu has no name or one longer than %d bytes", file,
          where, (unsigned long long)i, MAX_NAME);
      g_strfreev (names);
      return NULL;
    }
    H5L_info_t li;
    if (H5Lget_info (gid, buf, &li, H5P_DEFAULT) < 0 ||
        li.type != H5L_TYPE_HARD) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
          "%s: %s: member \"%s\" is a soft or external link; NIR files "
          "hold plain groups and datasets",
          file, where, buf);
      g_strfreev (names);
      return NULL;
    }
    names[i] = g_strndup (buf, (gsize)len);
  }
  return names;
}

static H5I_type_t
object_kind (hid_t gid, const gchar *name, hid_t *obj)
{
  *obj = H5Oopen (gid, name, H5P_DEFAULT);
  if (*obj < 0)
    return H5I_BADID;
  return H5Iget_type (*obj);
}

/* Dataspace → rank and dims, bounded. Returns the element count or -1. */
static gssize
space_shape (hid_t ds, guint *rank, gsize *shape)
{
  hid_t sp = H5Dget_space (ds);
  gssize count = -1;
  if (sp < 0)
    return -1;
  H5S_class_t cls = H5Sget_simple_extent_type (sp);
  if (cls == H5S_SCALAR) {
    *rank = 0;
    count = 1;
  } else if (cls == H5S_SIMPLE) {
    int r = H5Sget_simple_extent_ndims (sp);
    hsize_t dims[PHYSNN_NIR_MAX_RANK];
    if (r >= 0 && r <= PHYSNN_NIR_MAX_RANK &&
        H5Sget_simple_extent_dims (sp, dims, NULL) == r) {
      guint64 n = 1;
      *rank = (guint)r;
      count = 0;
      for (int i = 0; i < r; i++) {
        if (dims[i] > MAX_ELEMENTS) {
          n = G_MAXUINT64;
          break;
        }
        shape[i] = (gsize)dims[i];
        n *= dims[i];
        if (n > MAX_ELEMENTS)
          break;
      }
      count = n > MAX_ELEMENTS ? -2 : (gssize)n;
    }
  }
  H5Sclose (sp);
  return count;
}

/* Reads a string dataset (scalar or array; fixed or variable length). */
static gchar **
read_strings (hid_t ds, const gchar *file, const gchar *where, guint *rank,
    gsize *shape, GError **error)
{
  gchar **result = NULL;
  hid_t type = H5Dget_type (ds), mem = -1, space = -1;
  gssize n = space_shape (ds, rank, shape);
  if (type < 0 || H5Tget_class (type) != H5T_STRING)
    READ_FAIL (PHYSNN_ERROR_FORMAT, "%s: %s: expected strings", file, where);
  if (n < 0 || n > MAX_EDGES * 2)
    READ_FAIL (PHYSNN_ERROR_FORMAT,
        "%s: %s: unsupported dataspace or more "
        "than %d strings",
        file, where, MAX_EDGES * 2);
  result = g_new0 (gchar *, n + 1);
  if (n == 0)
    goto out;
  space = H5Dget_space (ds);
  mem = H5Tcopy (H5T_C_S1);
  if (H5Tis_variable_str (type) > 0) {
    /* Variable-length strings are allocated by libhdf5 as stored: their
     * total is bounded by the file size. (H5Dvlen_get_buf_size would tell
     * beforehand, but crashes on scalar dataspaces in libhdf5 1.10.) */
    H5Tset_size (mem, H5T_VARIABLE);
    H5Tset_cset (mem, H5Tget_cset (type));
    gchar **buf = g_new0 (gchar *, n);
    if (H5Dread (ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
      g_free (buf);
      READ_FAIL (
          PHYSNN_ERROR_FORMAT, "%s: %s: cannot read the strings", file, where);
    }
    for (gssize i = 0; i < n; i++)
      result[i] =
          buf[i] ? g_utf8_make_valid (buf[i], MIN (strlen (buf[i]), MAX_STRING))
                 : g_strdup ("");
    H5Dvlen_reclaim (mem, space, H5P_DEFAULT, buf);
    g_free (buf);
  } else {
    size_t size = H5Tget_size (type);
    if (size == 0 || size > MAX_STRING)
      READ_FAIL (PHYSNN_ERROR_FORMAT,
          "%s: %s: fixed strings of %zu bytes "
          "(at most %d)",
          file, where, size, MAX_STRING);
    H5Tset_size (mem, size);
    H5Tset_strpad (mem, H5T_STR_NULLPAD);
    gchar *buf = g_malloc0 (size * (gsize)n);
    if (H5Dread (ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
      g_free (buf);
      READ_FAIL (
          PHYSNN_ERROR_FORMAT, "%s: %s: cannot read the strings", file, where);
    }
    for (gssize i = 0; i < n; i++)
      result[i] =
          g_utf8_make_valid (buf + i * size, strnlen (buf + i * size, size));
    g_free (buf);
  }
out:
  if (mem >= 0)
    H5Tclose (mem);
  if (space >= 0)
    H5Sclose (space);
  if (type >= 0)
    H5Tclose (type);
  if (error && *error) {
    g_strfreev (result);
    return NULL;
  }
  return result;
}

static gchar *
read_scalar_string (
    hid_t ds, const gchar *file, const gchar *where, GError **error)
{
  guint rank;
  gsize shape[PHYSNN_NIR_MAX_RANK];
  gchar **s = read_strings (ds, file, where, &rank, shape, error);
  if (s == NULL)
    return NULL;
  if (g_strv_length (s) != 1) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: %s: expected one string, found %u", file, where,
        g_strv_length (s));
    g_strfreev (s);
    return NULL;
  }
  gchar *r = g_steal_pointer (&s[0]);
  g_strfreev (s);
  return r;
}

static PhysnnTensor *
read_numeric (hid_t ds, ReadCtx *ctx, const gchar *where, GError **error)
{
  PhysnnTensor *t = NULL;
  hid_t type = H5Dget_type (ds);
  guint rank = 0;
  gsize shape[PHYSNN_NIR_MAX_RANK];
  gssize n = space_shape (ds, &rank, shape);

  if (type < 0)
    READ_FAIL (PHYSNN_ERROR_FORMAT, "%s: %s: no datatype", ctx->file, where);
  H5T_class_t cls = H5Tget_class (type);
  if (cls != H5T_FLOAT && cls != H5T_INTEGER)
    READ_FAIL (PHYSNN_ERROR_FORMAT,
        "%s: %s: expected numbers, found HDF5 "
        "type class %d",
        ctx->file, where, (int)cls);
  if (n == -2 || (n >= 0 && ctx->n_elements + (gsize)n > MAX_ELEMENTS))
    READ_FAIL (PHYSNN_ERROR_FORMAT,
        "%s: %s: more than 2^28 values in the "
        "file",
        ctx->file, where);
  if (n < 0)
    READ_FAIL (PHYSNN_ERROR_FORMAT,
        "%s: %s: unsupported dataspace (rank "
        "above %d or null)",
        ctx->file, where, PHYSNN_NIR_MAX_RANK);
  ctx->n_elements += (gsize)n;
  PhysnnDType dt;
  hid_t mem;
  if (cls == H5T_FLOAT) {
    gboolean wide = H5Tget_size (type) > 4;
    dt = wide ? PHYSNN_DTYPE_FLOAT64 : PHYSNN_DTYPE_FLOAT32;
    mem = wide ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
  } else {
    dt = PHYSNN_DTYPE_INT64;
    mem = H5T_NATIVE_INT64;
  }
  t = physnn_tensor_new (dt, rank, shape);
  if (n > 0) {
    gpointer p = physnn_tensor_map (t, PHYSNN_MAP_WRITE, NULL);
    herr_t st = H5Dread (ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, p);
    physnn_tensor_unmap (t);
    if (st < 0) {
      g_clear_object (&t);
      READ_FAIL (PHYSNN_ERROR_FORMAT,
          "%s: %s: cannot read the values "
          "(corrupt or unsupported storage)",
          ctx->file, where);
    }
  }
out:
  if (type >= 0)
    H5Tclose (type);
  return t;
}

/* A dataset as a value: strings stay strings (a scalar one as a string, an
 * array as its first … we only need scalars), numbers become tensors. */
static PhysnnNirValue *
read_value (hid_t ds, const gchar *name, ReadCtx *ctx, const gchar *where,
    GError **error)
{
  hid_t type = H5Dget_type (ds);
  gboolean is_string = type >= 0 && H5Tget_class (type) == H5T_STRING;
  if (type >= 0)
    H5Tclose (type);
  if (is_string) {
    gchar *s = read_scalar_string (ds, ctx->file, where, error);
    if (s == NULL)
      return NULL;
    PhysnnNirValue *v = value_new (name, NULL, s);
    g_free (s);
    return v;
  }
  g_autoptr (PhysnnTensor) t = read_numeric (ds, ctx, where, error);
  return t ? value_new (name, t, NULL) : NULL;
}

static gboolean read_graph (hid_t gid, PhysnnNirGraph *graph, ReadCtx *ctx,
    const gchar *path, guint depth, GError **error);

static gboolean
read_metadata (hid_t gid, GPtrArray *into, ReadCtx *ctx, const gchar *where,
    GError **error)
{
  g_autofree gchar *md_where = g_strdup_printf ("%s, metadata", where);
  g_auto (GStrv) names = member_names (gid, ctx->file, md_where, error);
  if (names == NULL)
    return FALSE;
  for (guint i = 0; names[i]; i++) {
    hid_t obj;
    H5I_type_t kind = object_kind (gid, names[i], &obj);
    gboolean ok = TRUE;
    if (kind == H5I_DATASET) {
      g_autofree gchar *fw =
          g_strdup_printf ("%s, metadata \"%s\"", where, names[i]);
      PhysnnNirValue *v = read_value (obj, names[i], ctx, fw, error);
      ok = v != NULL;
      if (v)
        g_ptr_array_add (into, v);
    }
    /* nested metadata groups are not ours: skipped */
    if (obj >= 0)
      H5Oclose (obj);
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

static gboolean
read_node (hid_t gid, const gchar *name, PhysnnNirGraph *graph, ReadCtx *ctx,
    const gchar *path, guint depth, GError **error)
{
  g_autofree gchar *where = g_strdup_printf ("node \"%s%s\"", path, name);
  g_auto (GStrv) names = member_names (gid, ctx->file, where, error);
  hid_t tid = -1;
  g_autofree gchar *type = NULL;

  if (names == NULL)
    return FALSE;
  if (++ctx->n_nodes > MAX_MEMBERS) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: more than %d nodes", ctx->file, MAX_MEMBERS);
    return FALSE;
  }
  if (!g_strv_contains ((const gchar *const *)names, "type") ||
      object_kind (gid, "type", &tid) != H5I_DATASET) {
    if (tid >= 0)
      H5Oclose (tid);
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: %s has no \"type\" dataset", ctx->file, where);
    return FALSE;
  }
  g_autofree gchar *tw = g_strdup_printf ("%s, field \"type\"", where);
  type = read_scalar_string (tid, ctx->file, tw, error);
  H5Oclose (tid);
  if (type == NULL)
    return FALSE;

  PhysnnNirNode *node = node_new (name, type);
  g_ptr_array_add (graph->nodes, node);

  if (strcmp (type, "NIRGraph") == 0) {
    g_autofree gchar *inner = g_strdup_printf ("%s%s.", path, name);
    node->sub = g_object_new (PHYSNN_TYPE_NIR_GRAPH, NULL);
    return read_graph (gid, node->sub, ctx, inner, depth + 1, error);
  }
  if (find_schema (type) == NULL) {
    g_autofree gchar *known = known_types ();
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "%s: %s: unknown node type \"%s\" (known: %s)", ctx->file, where, type,
        known);
    return FALSE;
  }
  for (guint i = 0; names[i]; i++) {
    if (strcmp (names[i], "type") == 0)
      continue;
    hid_t obj;
    H5I_type_t kind = object_kind (gid, names[i], &obj);
    gboolean ok = TRUE;
    g_autofree gchar *fw =
        g_strdup_printf ("%s, field \"%s\"", where, names[i]);
    if (strcmp (names[i], "metadata") == 0 && kind == H5I_GROUP) {
      ok = read_metadata (obj, node->metadata, ctx, where, error);
    } else if (kind == H5I_DATASET) {
      PhysnnNirValue *v = read_value (obj, names[i], ctx, fw, error);
      ok = v != NULL;
      if (v)
        g_ptr_array_add (node->params, v);
    } else {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
          "%s: %s is a group; %s parameters are datasets", ctx->file, fw, type);
      ok = FALSE;
    }
    if (obj >= 0)
      H5Oclose (obj);
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

/* A NIRGraph group: type, nodes, edges (and metadata). */
static gboolean
read_graph (hid_t gid, PhysnnNirGraph *graph, ReadCtx *ctx, const gchar *path,
    guint depth, GError **error)
{
  g_autofree gchar *where = *path ? g_strdup_printf ("subgraph \"%.*s\"",
                                        (int)strlen (path) - 1, path)
                                  : g_strdup ("/node");
  hid_t nodes = -1, edges = -1, md = -1;
  gboolean ok = FALSE;
  g_auto (GStrv) names = NULL;
  g_auto (GStrv) strs = NULL;
  g_auto (GStrv) node_names = NULL;

  if (depth > MAX_DEPTH) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: %s: subgraphs nested deeper than %d", ctx->file, where, MAX_DEPTH);
    return FALSE;
  }
  names = member_names (gid, ctx->file, where, error);
  if (names == NULL)
    return FALSE;
  for (guint i = 0; names[i]; i++) {
    const gchar *m = names[i];
    if (strcmp (m, "type") != 0 && strcmp (m, "nodes") != 0 &&
        strcmp (m, "edges") != 0 && strcmp (m, "metadata") != 0) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
          "%s: %s has an unexpected member \"%s\" (a NIRGraph holds type, "
          "nodes, edges and metadata)",
          ctx->file, where, m);
      return FALSE;
    }
  }
  if (object_kind (gid, "nodes", &nodes) != H5I_GROUP)
    READ_FAIL (
        PHYSNN_ERROR_FORMAT, "%s: %s has no \"nodes\" group", ctx->file, where);
  node_names = member_names (nodes, ctx->file, where, error);
  if (node_names == NULL)
    goto out;
  for (guint i = 0; node_names[i]; i++) {
    hid_t nid;
    H5I_type_t kind = object_kind (nodes, node_names[i], &nid);
    gboolean nok = kind == H5I_GROUP;
    if (!nok)
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
          "%s: node \"%s%s\" is not a group", ctx->file, path, node_names[i]);
    else
      nok = read_node (nid, node_names[i], graph, ctx, path, depth, error);
    if (nid >= 0)
      H5Oclose (nid);
    if (!nok)
      goto out;
  }
  if (object_kind (gid, "edges", &edges) != H5I_DATASET)
    READ_FAIL (PHYSNN_ERROR_FORMAT, "%s: %s has no \"edges\" dataset",
        ctx->file, where);
  {
    guint rank = 0;
    gsize shape[PHYSNN_NIR_MAX_RANK];
    gssize n = space_shape (edges, &rank, shape);
    if (n != 0) {
      g_autofree gchar *ew = g_strdup_printf ("%s, edges", where);
      strs = read_strings (edges, ctx->file, ew, &rank, shape, error);
      if (strs == NULL)
        goto out;
      if (rank != 2 || shape[1] != 2)
        READ_FAIL (PHYSNN_ERROR_FORMAT,
            "%s: %s: edges must be an E×2 "
            "array of node names",
            ctx->file, where);
      for (guint i = 0; strs[i]; i++)
        g_ptr_array_add (graph->edges, g_strdup (strs[i]));
    }
  }
  if (g_strv_contains ((const gchar *const *)names, "metadata")) {
    if (object_kind (gid, "metadata", &md) == H5I_GROUP &&
        !read_metadata (md, graph->metadata, ctx, where, error))
      goto out;
  }
  ok = TRUE;
out:
  if (nodes >= 0)
    H5Oclose (nodes);
  if (edges >= 0)
    H5Oclose (edges);
  if (md >= 0)
    H5Oclose (md);
  return ok;
}

/* libhdf5's automatic error printing, off while we hold the lock. */
typedef struct {
  H5E_auto2_t func;
  void *data;
} SavedAuto;

static void
hdf5_enter (SavedAuto *saved)
{
  g_mutex_lock (&hdf5_lock);
  H5Eget_auto2 (H5E_DEFAULT, &saved->func, &saved->data);
  H5Eset_auto2 (H5E_DEFAULT, NULL, NULL);
}

static void
hdf5_leave (SavedAuto *saved)
{
  H5Eset_auto2 (H5E_DEFAULT, saved->func, saved->data);
  g_mutex_unlock (&hdf5_lock);
}

/* Parses a file image (the whole file in memory) into @graph. Called with
 * libhdf5 entered. */
static gboolean
parse_image (
    const gchar *path, GBytes *image, PhysnnNirGraph *graph, GError **error)
{
  ReadCtx ctx = { path, 0, 0 };
  hid_t fapl = -1, f = -1, root = -1, vid = -1, tid = -1;
  gboolean ok = FALSE;
  g_autofree gchar *type = NULL;
  gsize size;
  gconstpointer data = g_bytes_get_data (image, &size);

  /* The core driver reads from memory; libhdf5 copies the image. */
  fapl = H5Pcreate (H5P_FILE_ACCESS);
  if (fapl < 0 || H5Pset_fapl_core (fapl, 1 << 20, 0) < 0 ||
      H5Pset_file_image (fapl, (void *)data, size) < 0 ||
      H5Pset_fclose_degree (fapl, H5F_CLOSE_STRONG) < 0)
    READ_FAIL (PHYSNN_ERROR_FAILED, "%s: libhdf5 cannot set up reading", path);
  /* The name must not exist on disk, or the core driver refuses. */
  f = H5Fopen ("/dev/null/physnn-nir-image", H5F_ACC_RDONLY, fapl);
  if (f < 0)
    READ_FAIL (PHYSNN_ERROR_FORMAT,
        "%s: libhdf5 cannot open the file "
        "(truncated or corrupt?)",
        path);
  if (H5Lexists (f, "version", H5P_DEFAULT) > 0) {
    if (object_kind (f, "version", &vid) != H5I_DATASET)
      READ_FAIL (PHYSNN_ERROR_FORMAT, "%s: /version is not a dataset", path);
    graph->version = read_scalar_string (vid, path, "/version", error);
    if (graph->version == NULL)
      goto out;
  }
  if (H5Lexists (f, "node", H5P_DEFAULT) <= 0 ||
      object_kind (f, "node", &root) != H5I_GROUP)
    READ_FAIL (PHYSNN_ERROR_FORMAT,
        "%s: no /node group: not a NIR graph "
        "file",
        path);
  if (H5Lexists (root, "type", H5P_DEFAULT) <= 0 ||
      object_kind (root, "type", &tid) != H5I_DATASET)
    READ_FAIL (PHYSNN_ERROR_FORMAT, "%s: /node has no \"type\" dataset", path);
  type = read_scalar_string (tid, path, "/node, field \"type\"", error);
  if (type == NULL)
    goto out;
  if (strcmp (type, "NIRGraph") != 0)
    READ_FAIL (PHYSNN_ERROR_FORMAT,
        "%s: /node has type \"%s\"; a NIR "
        "file's root is a NIRGraph",
        path, type);
  ok = read_graph (root, graph, &ctx, "", 0, error);
out:
  if (tid >= 0)
    H5Oclose (tid);
  if (vid >= 0)
    H5Oclose (vid);
  if (root >= 0)
    H5Oclose (root);
  if (f >= 0)
    H5Fclose (f);
  if (fapl >= 0)
    H5Pclose (fapl);
  /* libhdf5 keeps blocks on its free lists after some read errors; give
   * them back rather than at exit. */
  if (!ok)
    H5garbage_collect ();
  return ok;
}

/* libhdf5 1.10 does not bound every read by what the file holds: some
 * corrupt files (a damaged global heap under a variable-length string, for
 * one) crash it. So a file is first parsed in a forked child; only if the
 * child survives is it parsed here. The caller holds the libhdf5 lock, so
 * no other thread of ours is inside libhdf5 at the fork; the child runs
 * alone and is killed by an alarm if it hangs. */
#define SANDBOX_SECONDS 30

static gboolean
survives_libhdf5 (const gchar *path, GBytes *image, GError **error)
{
#ifdef G_OS_UNIX
  pid_t pid = fork ();
  if (pid < 0)
    return TRUE; /* cannot isolate: parse in-process */
  if (pid == 0) {
    alarm (SANDBOX_SECONDS);
    PhysnnNirGraph *g = g_object_new (PHYSNN_TYPE_NIR_GRAPH, NULL);
    parse_image (path, image, g, NULL);
    _exit (0);
  }
  int status = 0;
  while (waitpid (pid, &status, 0) < 0) {
    if (errno != EINTR)
      return TRUE;
  }
  if (WIFSIGNALED (status)) {
    int sig = WTERMSIG (status);
    if (sig == SIGALRM)
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
          "%s: the file is corrupt: libhdf5 did not finish reading it in %d "
          "s",
          path, SANDBOX_SECONDS);
    else
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
          "%s: the file is corrupt: libhdf5 crashed reading it (%s)", path,
          g_strsignal (sig));
    return FALSE;
  }
#endif
  return TRUE;
}

#define MAX_FILE_SIZE ((guint64)1 << 30)

/* HDF5's signature is at offset 0, or after a user block of 512·2^k. */
static gboolean
has_hdf5_signature (const guint8 *d, gsize size)
{
  static const guint8 sig[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };
  for (gsize off = 0; off + 8 <= size; off = off ? off * 2 : 512)
    if (memcmp (d + off, sig, 8) == 0)
      return TRUE;
  return FALSE;
}

/**
 * physnn_nir_graph_load:
 * @path: a NIR HDF5 file
 * @error: return location for a #GError
 *
 * Reads and type-checks a NIR graph. Any malformed, foreign or hostile file
 * gives an error naming the file, the node and the field.
 *
 * Returns: (transfer full) (nullable): the graph, or %NULL on error
 */
PhysnnNirGraph *
physnn_nir_graph_load (const gchar *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  GStatBuf st;
  if (g_stat (path, &st) != 0 || !S_ISREG (st.st_mode)) {
    int e = errno;
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO,
        "%s: cannot read the NIR file: %s", path,
        g_stat (path, &st) == 0 ? "not a regular file" : g_strerror (e));
    return NULL;
  }
  if ((guint64)st.st_size > MAX_FILE_SIZE) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: %" G_GUINT64_FORMAT " bytes; NIR files above 1 GiB are not "
        "read",
        path, (guint64)st.st_size);
    return NULL;
  }
  gchar *contents = NULL;
  gsize size = 0;
  GError *local = NULL;
  if (!g_file_get_contents (path, &contents, &size, &local)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO,
        "%s: cannot read the NIR file: %s", path, local->message);
    g_error_free (local);
    return NULL;
  }
  g_autoptr (GBytes) image = g_bytes_new_take (contents, size);
  if (!has_hdf5_signature ((const guint8 *)contents, size)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: not an HDF5 file (NIR files are HDF5)", path);
    return NULL;
  }

  SavedAuto saved;
  PhysnnNirGraph *graph = g_object_new (PHYSNN_TYPE_NIR_GRAPH, NULL);
  graph->path = g_strdup (path);
  hdf5_enter (&saved);
  if (survives_libhdf5 (path, image, &local))
    parse_image (path, image, graph, &local);
  hdf5_leave (&saved);

  if (local == NULL)
    physnn_nir_graph_check (graph, &local);
  if (local) {
    g_propagate_error (error, local);
    g_clear_object (&graph);
  }
  return graph;
}

/* ------------------------------------------------------------------------ */
/* Writing */

static gboolean
write_string (hid_t loc, const gchar *name, const gchar *value)
{
  hid_t type = H5Tcopy (H5T_C_S1);
  H5Tset_size (type, H5T_VARIABLE);
  H5Tset_cset (type, H5T_CSET_UTF8);
  hid_t space = H5Screate (H5S_SCALAR);
  hid_t ds = H5Dcreate2 (
      loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  gboolean ok = ds >= 0 &&
                H5Dwrite (ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value) >= 0;
  if (ds >= 0)
    H5Dclose (ds);
  H5Sclose (space);
  H5Tclose (type);
  return ok;
}

static gboolean
write_tensor (hid_t loc, const gchar *name, PhysnnTensor *t)
{
  guint rank;
  const gsize *shape = physnn_tensor_get_shape (t, &rank);
  hsize_t dims[PHYSNN_MAX_RANK];
  for (guint i = 0; i < rank; i++)
    dims[i] = shape[i];
  g_autoptr (PhysnnTensor) conv = NULL;
  hid_t file_type, mem_type;
  switch (physnn_tensor_get_dtype (t)) {
    case PHYSNN_DTYPE_FLOAT64:
      file_type = H5T_IEEE_F64LE;
      mem_type = H5T_NATIVE_DOUBLE;
      break;
    case PHYSNN_DTYPE_FLOAT32:
    case PHYSNN_DTYPE_FLOAT16:
      conv = physnn_tensor_convert (t, PHYSNN_DTYPE_FLOAT32);
      file_type = H5T_IEEE_F32LE;
      mem_type = H5T_NATIVE_FLOAT;
      break;
    default:
      conv = physnn_tensor_convert (t, PHYSNN_DTYPE_INT64);
      file_type = H5T_STD_I64LE;
      mem_type = H5T_NATIVE_INT64;
      break;
  }
  PhysnnTensor *src = conv ? conv : t;
  hid_t space =
      rank ? H5Screate_simple ((int)rank, dims, NULL) : H5Screate (H5S_SCALAR);
  hid_t ds = H5Dcreate2 (
      loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  gboolean ok = ds >= 0;
  if (ok && physnn_tensor_get_n_elements (src) > 0) {
    gconstpointer p = physnn_tensor_map (src, PHYSNN_MAP_READ, NULL);
    ok = H5Dwrite (ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, p) >= 0;
    physnn_tensor_unmap (src);
  }
  if (ds >= 0)
    H5Dclose (ds);
  H5Sclose (space);
  return ok;
}

static gboolean
write_values (hid_t loc, GPtrArray *values)
{
  for (guint i = 0; i < values->len; i++) {
    PhysnnNirValue *v = g_ptr_array_index (values, i);
    if (!(v->string ? write_string (loc, v->name, v->string)
                    : write_tensor (loc, v->name, v->tensor)))
      return FALSE;
  }
  return TRUE;
}

static gboolean
write_graph (hid_t gid, PhysnnNirGraph *graph)
{
  gboolean ok = write_string (gid, "type", "NIRGraph");
  hid_t nodes =
      H5Gcreate2 (gid, "nodes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ok = ok && nodes >= 0;
  for (guint i = 0; ok && i < graph->nodes->len; i++) {
    PhysnnNirNode *n = g_ptr_array_index (graph->nodes, i);
    hid_t ng =
        H5Gcreate2 (nodes, n->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ok = ng >= 0;
    if (ok && n->sub) {
      ok = write_graph (ng, n->sub);
    } else if (ok) {
      ok = write_string (ng, "type", n->type) && write_values (ng, n->params);
    }
    if (ok && n->metadata->len > 0) {
      hid_t md =
          H5Gcreate2 (ng, "metadata", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      ok = md >= 0 && write_values (md, n->metadata);
      if (md >= 0)
        H5Gclose (md);
    }
    if (ng >= 0)
      H5Gclose (ng);
  }
  if (nodes >= 0)
    H5Gclose (nodes);
  if (!ok)
    return FALSE;

  /* edges: E×2 variable-length UTF-8 strings */
  hsize_t dims[2] = { graph->edges->len / 2, 2 };
  hid_t type = H5Tcopy (H5T_C_S1);
  H5Tset_size (type, H5T_VARIABLE);
  H5Tset_cset (type, H5T_CSET_UTF8);
  hid_t space = H5Screate_simple (2, dims, NULL);
  hid_t ds = H5Dcreate2 (
      gid, "edges", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ok = ds >= 0 && (dims[0] == 0 || H5Dwrite (ds, type, H5S_ALL, H5S_ALL,
                                       H5P_DEFAULT, graph->edges->pdata) >= 0);
  if (ds >= 0)
    H5Dclose (ds);
  H5Sclose (space);
  H5Tclose (type);
  if (ok && graph->metadata->len > 0) {
    hid_t md =
        H5Gcreate2 (gid, "metadata", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ok = md >= 0 && write_values (md, graph->metadata);
    if (md >= 0)
      H5Gclose (md);
  }
  return ok;
}

/**
 * physnn_nir_graph_save:
 * @self: a #PhysnnNirGraph
 * @path: the file to write
 * @error: return location for a #GError
 *
 * Writes the graph as a NIR HDF5 file that the reference `nir` package
 * reads. The file appears complete or not at all: it is written under a
 * temporary name in the same directory and renamed.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_nir_graph_save (PhysnnNirGraph *self, const gchar *path, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  g_autofree gchar *dir = g_path_get_dirname (path);
  g_autofree gchar *base = g_path_get_basename (path);
  g_autofree gchar *tmpl = g_strdup_printf ("%s/.%s.XXXXXX", dir, base);
  gint fd = g_mkstemp (tmpl);
  if (fd < 0) {
    int e = errno;
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO,
        "%s: cannot create a temporary file in %s: %s", path, dir,
        g_strerror (e));
    return FALSE;
  }
  g_close (fd, NULL);
  /* mkstemp makes 0600; a NIR file is meant to be read by other tools */
  g_chmod (tmpl, 0644);

  SavedAuto saved;
  gboolean ok = FALSE;
  hdf5_enter (&saved);
  hid_t f = H5Fcreate (tmpl, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f >= 0) {
    hid_t root = H5Gcreate2 (f, "node", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ok = root >= 0 &&
         write_string (
             f, "version", self->version ? self->version : NIR_VERSION) &&
         write_graph (root, self);
    if (root >= 0)
      H5Gclose (root);
    if (H5Fclose (f) < 0)
      ok = FALSE;
  }
  hdf5_leave (&saved);

  if (!ok) {
    g_unlink (tmpl);
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO,
        "%s: libhdf5 could not write the NIR file (disk full or not "
        "writable?)",
        path);
    return FALSE;
  }
  if (g_rename (tmpl, path) != 0) {
    int e = errno;
    g_unlink (tmpl);
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO,
        "%s: cannot rename the finished file into place: %s", path,
        g_strerror (e));
    return FALSE;
  }
  return TRUE;
}

/* libhdf5 for the other HDF5 writers of the engine (Lava-dl NetX): the same
 * lock and the same silenced error printing as NIR files use. */
gpointer
_physnn_hdf5_enter (void)
{
  SavedAuto *saved = g_new (SavedAuto, 1);
  hdf5_enter (saved);
  return saved;
}

void
_physnn_hdf5_leave (gpointer saved)
{
  hdf5_leave (saved);
  g_free (saved);
}
