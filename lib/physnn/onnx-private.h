/* physnn — ONNX files as a plain data model (ModelProto subset).
 *
 * The reader treats every file as hostile: sizes, counts, recursion depth
 * and tensor byte lengths are bounded and checked, and every failure is a
 * GError naming the file, the node or field and what was expected. The graph
 * builder (graph.c) turns this model into an executable PhysnnModel; the
 * writer serialises it back (atomically: temporary file, then rename).
 *
 * Not introspected; engine-internal.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "physnn/tensor.h"

G_BEGIN_DECLS

/* Hostile-input limits. */
#define PHYSNN_ONNX_MAX_FILE_BYTES (G_GINT64_CONSTANT (1) << 31)  /* 2 GiB */
#define PHYSNN_ONNX_MAX_NODES 100000
#define PHYSNN_ONNX_MAX_NAME 4096
#define PHYSNN_ONNX_MAX_SUBGRAPH_DEPTH 8
/* Subgraphs (If/Loop bodies, GRAPH/GRAPHS attributes) are not converted:
 * they become PHYSNN_ONNX_ATTR_OTHER, kept by name only, and the writer
 * refuses to write such an attribute rather than drop its body. Their
 * nesting is bounded on the wire before protobuf-c recurses into it:
 * each level is node -> attribute -> graph (3 messages), plus the deepest
 * chain inside a graph (value_info -> type -> tensor -> shape -> dim). */
#define PHYSNN_ONNX_MAX_MESSAGE_DEPTH (3 * PHYSNN_ONNX_MAX_SUBGRAPH_DEPTH + 8)

typedef enum {
  PHYSNN_ONNX_ATTR_FLOAT,
  PHYSNN_ONNX_ATTR_INT,
  PHYSNN_ONNX_ATTR_STRING,
  PHYSNN_ONNX_ATTR_TENSOR,
  PHYSNN_ONNX_ATTR_FLOATS,
  PHYSNN_ONNX_ATTR_INTS,
  PHYSNN_ONNX_ATTR_STRINGS,
  PHYSNN_ONNX_ATTR_OTHER,       /* graphs etc.: kept by name only */
} PhysnnOnnxAttrType;

typedef struct {
  gchar *name;
  PhysnnOnnxAttrType type;
  gfloat f;
  gint64 i;
  gchar *s;                     /* NUL-terminated copy of the bytes */
  gsize s_len;
  PhysnnTensor *t;
  GArray *floats;               /* gfloat */
  GArray *ints;                 /* gint64 */
  GPtrArray *strings;           /* gchar* */
} PhysnnOnnxAttribute;

typedef struct {
  gchar *name;                  /* may be "" in files; never NULL here */
  gchar *op_type;
  gchar *domain;                /* "" for the default ai.onnx domain */
  GPtrArray *inputs;            /* gchar*; "" marks an omitted optional input */
  GPtrArray *outputs;           /* gchar* */
  GPtrArray *attributes;        /* PhysnnOnnxAttribute* */
} PhysnnOnnxNode;

typedef struct {
  gchar *name;
  PhysnnDType dtype;
  gboolean has_shape;
  guint rank;
  gint64 dims[PHYSNN_MAX_RANK]; /* -1 where the dimension is symbolic or unknown */
  gchar *dim_params[PHYSNN_MAX_RANK];   /* symbolic names, or NULL */
} PhysnnOnnxValueInfo;

typedef struct {
  gchar *path;                  /* for messages; "(memory)" when from bytes */
  gint64 ir_version;
  gint64 opset;                 /* of the default domain */
  gchar *producer_name;
  gchar *producer_version;
  gchar *graph_name;
  gchar *doc_string;
  GPtrArray *nodes;             /* PhysnnOnnxNode*, in file order */
  GPtrArray *inputs;            /* PhysnnOnnxValueInfo*, initializers excluded */
  GPtrArray *outputs;           /* PhysnnOnnxValueInfo* */
  GPtrArray *value_infos;       /* PhysnnOnnxValueInfo* (intermediate shapes) */
  GPtrArray *initializer_names; /* gchar*, file order */
  GHashTable *initializers;     /* name -> PhysnnTensor* */
  GHashTable *metadata;         /* metadata_props: key -> value */
  /* opset_import of the other domains (custom ops): domain -> gint64*
   * version. The writer refuses a node whose non-default domain has none. */
  GHashTable *domain_opsets;
  /* Initializers the file stores as 4-bit integers (ONNX INT4/UINT4, opset
   * 21, two per byte, low nibble first): held here unpacked, one int8/uint8
   * element per value; name -> GINT_TO_POINTER (PHYSNN_ONNX_INT4 or
   * PHYSNN_ONNX_UINT4). The writer packs them again. */
  GHashTable *int4_initializers;
} PhysnnOnnxModel;

/* TensorProto.DataType numbers of the 4-bit types (newer than the schema
 * Debian's onnx package ships, so not in the generated enum). */
#define PHYSNN_ONNX_UINT4 21
#define PHYSNN_ONNX_INT4 22

PhysnnOnnxModel *physnn_onnx_model_new (void);
void physnn_onnx_model_free (PhysnnOnnxModel *model);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhysnnOnnxModel, physnn_onnx_model_free)

PhysnnOnnxModel *physnn_onnx_model_load (const gchar *path, GError **error);
PhysnnOnnxModel *physnn_onnx_model_load_from_bytes (GBytes *bytes,
    const gchar *label, GError **error);
gboolean physnn_onnx_model_save (const PhysnnOnnxModel *model,
    const gchar *path, GError **error);
GBytes *physnn_onnx_model_serialize (const PhysnnOnnxModel *model,
    GError **error);

/* Helpers for builders and tests. */
const PhysnnOnnxAttribute *physnn_onnx_node_get_attribute (
    const PhysnnOnnxNode *node, const gchar *name);
PhysnnOnnxNode *physnn_onnx_node_new (const gchar *op_type,
    const gchar *name);
PhysnnOnnxAttribute *physnn_onnx_attribute_new (const gchar *name,
    PhysnnOnnxAttrType type);
void physnn_onnx_attribute_free (PhysnnOnnxAttribute *attr);
void physnn_onnx_node_free (PhysnnOnnxNode *node);
PhysnnOnnxValueInfo *physnn_onnx_value_info_new (const gchar *name,
    PhysnnDType dtype, guint rank, const gint64 *dims);
void physnn_onnx_value_info_free (PhysnnOnnxValueInfo *info);

G_END_DECLS
