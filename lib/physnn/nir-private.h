/* physnn — NIR graph internals shared by nir.c and snn.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "physnn/nir.h"

G_BEGIN_DECLS

#define PHYSNN_NIR_MAX_RANK 8

typedef struct {
  gchar *name;
  PhysnnTensor *tensor; /* numeric value, or NULL */
  gchar *string;        /* string value, or NULL */
} PhysnnNirValue;

typedef struct {
  gchar *name;
  gchar *type;         /* NIR class name: "LIF", "NIRGraph" … */
  GPtrArray *params;   /* PhysnnNirValue */
  GPtrArray *metadata; /* PhysnnNirValue */
  PhysnnNirGraph *sub; /* type "NIRGraph" */
  /* from physnn_nir_graph_check () */
  gboolean typed;
  guint in_rank, out_rank;
  gsize in_shape[PHYSNN_NIR_MAX_RANK];
  gsize out_shape[PHYSNN_NIR_MAX_RANK];
} PhysnnNirNode;

struct _PhysnnNirGraph {
  GObject parent;

  gchar *version;
  gchar *path;         /* file it came from, for messages */
  GPtrArray *nodes;    /* PhysnnNirNode */
  GPtrArray *edges;    /* gchar*, source and target alternating */
  GPtrArray *metadata; /* PhysnnNirValue, the graph's own */
  gboolean checked;
};

PhysnnNirNode *_physnn_nir_graph_node (PhysnnNirGraph *self, guint node);
PhysnnNirValue *_physnn_nir_node_find (PhysnnNirNode *node, const gchar *name);
gsize _physnn_nir_shape_count (guint rank, const gsize *shape);
gchar *_physnn_nir_shape_string (guint rank, const gsize *shape);

/* Hold libhdf5 (not thread-safe in Debian's build) for other writers. */
gpointer _physnn_hdf5_enter (void);
void _physnn_hdf5_leave (gpointer saved);

G_END_DECLS
