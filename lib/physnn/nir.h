/* physnn — NIR (Neuromorphic Intermediate Representation) graphs: reading
 * and writing NIR HDF5 files, node parameters, edges, type checking.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "physnn/tensor.h"

G_BEGIN_DECLS

#define PHYSNN_TYPE_NIR_GRAPH (physnn_nir_graph_get_type ())
G_DECLARE_FINAL_TYPE (
    PhysnnNirGraph, physnn_nir_graph, PHYSNN, NIR_GRAPH, GObject)

PhysnnNirGraph *physnn_nir_graph_new (void);
PhysnnNirGraph *physnn_nir_graph_load (const gchar *path, GError **error);
gboolean physnn_nir_graph_save (
    PhysnnNirGraph *self, const gchar *path, GError **error);
PhysnnNirGraph *physnn_nir_graph_copy (PhysnnNirGraph *self);
gboolean physnn_nir_graph_check (PhysnnNirGraph *self, GError **error);

const gchar *physnn_nir_graph_get_version (PhysnnNirGraph *self);
const gchar *physnn_nir_graph_get_path (PhysnnNirGraph *self);

guint physnn_nir_graph_get_n_nodes (PhysnnNirGraph *self);
gint physnn_nir_graph_find_node (PhysnnNirGraph *self, const gchar *name);
const gchar *physnn_nir_graph_get_node_name (PhysnnNirGraph *self, guint node);
const gchar *physnn_nir_graph_get_node_type (PhysnnNirGraph *self, guint node);
PhysnnNirGraph *physnn_nir_graph_get_subgraph (
    PhysnnNirGraph *self, guint node);
gchar **physnn_nir_graph_list_params (PhysnnNirGraph *self, guint node);
PhysnnTensor *physnn_nir_graph_get_param (
    PhysnnNirGraph *self, guint node, const gchar *name);
const gchar *physnn_nir_graph_get_param_string (
    PhysnnNirGraph *self, guint node, const gchar *name);
const gsize *physnn_nir_graph_get_node_input_shape (
    PhysnnNirGraph *self, guint node, guint *rank);
const gsize *physnn_nir_graph_get_node_output_shape (
    PhysnnNirGraph *self, guint node, guint *rank);

guint physnn_nir_graph_add_node (
    PhysnnNirGraph *self, const gchar *name, const gchar *type);
guint physnn_nir_graph_add_subgraph (
    PhysnnNirGraph *self, const gchar *name, PhysnnNirGraph *subgraph);
void physnn_nir_graph_set_param (
    PhysnnNirGraph *self, guint node, const gchar *name, PhysnnTensor *value);
void physnn_nir_graph_set_param_string (
    PhysnnNirGraph *self, guint node, const gchar *name, const gchar *value);
void physnn_nir_graph_add_edge (
    PhysnnNirGraph *self, const gchar *source, const gchar *target);

guint physnn_nir_graph_get_n_edges (PhysnnNirGraph *self);
void physnn_nir_graph_get_edge (PhysnnNirGraph *self, guint index,
    const gchar **source, const gchar **target);

void physnn_nir_graph_set_metadata (
    PhysnnNirGraph *self, gint node, const gchar *name, PhysnnTensor *value);
void physnn_nir_graph_set_metadata_string (
    PhysnnNirGraph *self, gint node, const gchar *name, const gchar *value);
PhysnnTensor *physnn_nir_graph_get_metadata (
    PhysnnNirGraph *self, gint node, const gchar *name);
const gchar *physnn_nir_graph_get_metadata_string (
    PhysnnNirGraph *self, gint node, const gchar *name);

G_END_DECLS
