/* physnn — the executable graph: an ONNX graph lowered to physnn ops, with
 * the static facts the executors need (topological order, which values
 * depend on the differentiated inputs, constants) and the run-time values.
 *
 * Engine-internal. SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "physnn/onnx-private.h"
#include "physnn/tensor.h"
#include "physnn/device.h"

G_BEGIN_DECLS

typedef enum {
  /* elementwise unary */
  PHYSNN_OP_IDENTITY,
  PHYSNN_OP_NEG,
  PHYSNN_OP_TANH,
  PHYSNN_OP_SIGMOID,
  PHYSNN_OP_RELU,
  PHYSNN_OP_LEAKY_RELU,
  PHYSNN_OP_SIN,
  PHYSNN_OP_COS,
  PHYSNN_OP_EXP,
  PHYSNN_OP_LOG,
  PHYSNN_OP_SOFTPLUS,
  PHYSNN_OP_ERF,
  PHYSNN_OP_SQRT,
  PHYSNN_OP_ABS,
  PHYSNN_OP_POW,                /* constant scalar exponent */
  /* elementwise binary, numpy broadcasting */
  PHYSNN_OP_ADD,
  PHYSNN_OP_SUB,
  PHYSNN_OP_MUL,
  PHYSNN_OP_DIV,
  /* linear algebra */
  PHYSNN_OP_GEMM,
  PHYSNN_OP_MATMUL,
  /* data movement (linear, jets pass through) */
  PHYSNN_OP_CONCAT,
  PHYSNN_OP_SLICE,
  PHYSNN_OP_SPLIT,
  PHYSNN_OP_RESHAPE,
  PHYSNN_OP_FLATTEN,
  PHYSNN_OP_UNSQUEEZE,
  PHYSNN_OP_SQUEEZE,
  PHYSNN_OP_TRANSPOSE,
  PHYSNN_OP_PAD,                /* constant mode */
  PHYSNN_OP_REDUCE_SUM,
  PHYSNN_OP_REDUCE_MEAN,
  /* convolutional */
  PHYSNN_OP_CONV,
  PHYSNN_OP_MAX_POOL,
  PHYSNN_OP_AVERAGE_POOL,
  /* constants and shape arithmetic (host, int64) */
  PHYSNN_OP_CONSTANT,
  PHYSNN_OP_SHAPE,
  PHYSNN_OP_GATHER,
  PHYSNN_OP_CAST,
  /* quantization: ONNX QuantizeLinear / DequantizeLinear */
  PHYSNN_OP_QUANTIZE_LINEAR,
  PHYSNN_OP_DEQUANTIZE_LINEAR,
  PHYSNN_N_OPS
} PhysnnOpKind;

/* Op attributes, parsed and validated at load time. */
typedef struct {
  /* Gemm */
  gfloat alpha, beta;
  gboolean trans_a, trans_b;
  /* LeakyRelu */
  gfloat leaky_alpha;
  /* Pow */
  gdouble exponent;
  /* Concat, Flatten, Gather, Split, Softmax-like axis ops */
  gint64 axis;
  /* Reduce*, Squeeze/Unsqueeze (opset < 13), Transpose perm, Slice consts */
  GArray *ints;                 /* gint64: axes or perm */
  gboolean keepdims;
  gboolean noop_with_empty_axes;
  /* Split sizes (attribute form) */
  GArray *split;
  /* Conv/Pool */
  guint n_spatial;
  gint64 kernel[3], strides[3], pads[6], dilations[3];
  gint64 group;
  gboolean auto_pad_same;
  gboolean count_include_pad;
  gboolean ceil_mode;
  /* Cast */
  PhysnnDType to;
  /* Constant */
  PhysnnTensor *value;
  /* QuantizeLinear/DequantizeLinear: the integer side's type and range
   * ([-8, 7] and [0, 15] for the 4-bit types, held in int8/uint8);
   * `axis` is the per-axis dimension, normalised at run time. */
  PhysnnDType qtype;
  gint32 qmin, qmax;
  gboolean q4;
} PhysnnOpAttrs;

typedef struct {
  PhysnnOpKind kind;
  gchar *name;                  /* node name, or "#index" when unnamed */
  gchar *op_type;               /* the ONNX op type, for messages */
  guint n_inputs;
  gint *inputs;                 /* value indices; -1 for an omitted input */
  guint n_outputs;
  gint *outputs;
  PhysnnOpAttrs attrs;
} PhysnnNode;

typedef struct {
  gchar *name;
  PhysnnDType dtype;            /* as declared; float values compute in the
                                 * executor's precision */
  PhysnnTensor *constant;       /* initializer or folded constant */
  gboolean is_input;
  gboolean is_output;
  gint producer;                /* node index, -1 for inputs/constants */
  /* Set per derivative request: depends on a differentiated input. */
  gboolean active;
} PhysnnValue;

/* Which derivatives propagate: `n_dirs` directions (an input column each),
 * first-order components for every direction used, second-order for the
 * requested pairs. Component 0 is the value. */
/* First derivatives along up to 16 directions (attributions to 16 sensors),
 * second derivatives for up to 10 pairs (every pair of 4 coordinates). */
#define PHYSNN_MAX_DIRS 16
#define PHYSNN_MAX_SECOND 10
#define PHYSNN_MAX_COMPONENTS (1 + PHYSNN_MAX_DIRS + PHYSNN_MAX_SECOND)

typedef struct {
  guint n_dirs;
  gint dir_input[PHYSNN_MAX_DIRS];      /* value index of the input */
  gint dir_column[PHYSNN_MAX_DIRS];     /* column in its last axis, or -1
                                         * for a whole single-column input */
  guint n_first;                /* first-order components: one per dir */
  guint n_second;
  guint second_dirs[PHYSNN_MAX_SECOND][2];
  guint n_comp;                 /* 1 + n_first + n_second */
} PhysnnJetSpec;

/* Component index of d/d(dir a) and d²/d(a)d(b) (a <= b), or -1. */
gint physnn_jet_first (const PhysnnJetSpec *spec, guint a);
gint physnn_jet_second (const PhysnnJetSpec *spec, guint a, guint b);

typedef struct {
  GPtrArray *nodes;             /* PhysnnNode*, topological order */
  GPtrArray *values;            /* PhysnnValue* */
  GHashTable *by_name;          /* name -> GINT_TO_POINTER (index + 1) */
  GArray *inputs;               /* gint value indices (graph inputs) */
  GArray *outputs;              /* gint value indices (graph outputs) */
  gchar *path;
  gint64 opset;
} PhysnnGraph;

PhysnnGraph *physnn_graph_new_from_onnx (const PhysnnOnnxModel *onnx,
    GError **error);
void physnn_graph_free (PhysnnGraph *graph);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhysnnGraph, physnn_graph_free)

const gchar *physnn_op_name (PhysnnOpKind kind);
gboolean physnn_op_is_unary (PhysnnOpKind kind);

/* Marks values that depend on the directions' inputs. */
void physnn_graph_mark_active (PhysnnGraph *graph, const PhysnnJetSpec *spec);

/* A run-time value: the value and, if active, its derivative components. */
typedef struct {
  guint n_comp;
  PhysnnTensor *comp[PHYSNN_MAX_COMPONENTS];
} PhysnnJetValue;

void physnn_jet_value_clear (PhysnnJetValue *v);

/* Reference executor (exec-ref.c): float64 internally, the golden model. */
gboolean physnn_graph_run_reference (PhysnnGraph *graph,
    const PhysnnJetSpec *spec, PhysnnTensor **inputs,
    PhysnnJetValue *outputs, GError **error);

gboolean _physnn_graph_run_reference_all (PhysnnGraph *graph,
    const PhysnnJetSpec *spec, PhysnnTensor **inputs, PhysnnJetValue *outputs,
    PhysnnJetValue **all, GError **error);

/* Lets another executor reuse the reference path's shape logic for data
 * movement and do only the copying itself. */
typedef struct {
  gboolean (*apply_map) (gpointer user, PhysnnJetValue *in,
      PhysnnJetValue *out, guint rank, const gsize *shape, const gsize *map,
      GError **error);
  /* map entries of G_MAXSIZE are padding: `value` in the value component,
   * 0 in derivatives */
  gboolean (*apply_pad) (gpointer user, PhysnnJetValue *in,
      PhysnnJetValue *out, guint rank, const gsize *shape, const gsize *map,
      gdouble value, GError **error);
  gpointer user;
} PhysnnRefHooks;

gboolean _physnn_ref_run_node (PhysnnGraph *graph, const PhysnnJetSpec *spec,
    PhysnnJetValue *vals, const PhysnnNode *node, const PhysnnRefHooks *hooks,
    GError **error);

G_END_DECLS
