/* physnn — reverse mode over the reference executor.
 *
 * A tape is one forward evaluation of a graph in double precision that keeps
 * every intermediate value with its derivative jet (value, first derivatives
 * along the jet directions, the requested second derivatives). Seeding
 * cotangents of output components and running the tape backwards gives the
 * cotangent of every value that depends on the trainable parameters: the
 * gradient of a loss built from outputs AND their coordinate derivatives
 * (a PDE residual), because each op's jet propagation is differentiated as
 * a function of its input components and the weights.
 *
 * Engine-internal. SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "physnn/graph-private.h"

G_BEGIN_DECLS

/* The trainable parameters of a graph: its floating-point initializers (not
 * folded Constant nodes, not integer shape data, not the "onnx::" scalars
 * PyTorch's exporter folds into initializers), as one flat vector. */
typedef struct {
  guint n;              /* tensors */
  gint *value;          /* graph value index of each */
  gsize *offset;        /* start in the flat vector */
  gsize *size;          /* elements */
  gsize total;          /* elements in all */
  gint *param_of_value; /* value index -> tensor index, or -1 */
  guint n_values;
} PhysnnParamSet;

PhysnnParamSet *_physnn_param_set_new (
    PhysnnGraph *graph, const PhysnnOnnxModel *onnx);
void _physnn_param_set_free (PhysnnParamSet *ps);

typedef struct _PhysnnTape PhysnnTape;

/* Runs the graph forward. @params, if given, is the flat parameter vector
 * (float64, ps->total elements) used instead of the initializers' values;
 * it must outlive the tape and stay unchanged until the tape is freed. */
PhysnnTape *_physnn_tape_forward (PhysnnGraph *graph, const PhysnnJetSpec *spec,
    const PhysnnParamSet *ps, const gdouble *params, PhysnnTensor **inputs,
    GError **error);
void _physnn_tape_free (PhysnnTape *tape);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhysnnTape, _physnn_tape_free)

/* A run of consecutive nodes (first_node..last_node) that another engine
 * computes: from the jets of value @in_value to those of @out_value
 * (forward), and from the cotangent of @out_value to the gradient of the
 * parameters inside the run and the cotangent of @in_value (backward, both
 * added to). The tape keeps no
 * values inside the run, so nothing outside it may read them. */
typedef struct {
  guint first_node, last_node;
  gint in_value, out_value;
  gboolean (*forward) (gpointer user, const PhysnnJetValue *in,
      PhysnnJetValue *out, GError **error);
  /* @in_bar: the cotangent of in_value to add to, NULL when nothing
   * before the run needs it */
  gboolean (*backward) (gpointer user, const PhysnnJetValue *out_bar,
      PhysnnJetValue *in_bar, gdouble *grad, GError **error);
  gpointer user;
} PhysnnTapeSegment;

/* _physnn_tape_forward() with @segment (may be NULL) run by its callbacks;
 * _physnn_tape_backward() then calls its backward. @segment must outlive
 * the tape. */
PhysnnTape *_physnn_tape_forward_segment (PhysnnGraph *graph,
    const PhysnnJetSpec *spec, const PhysnnParamSet *ps,
    const gdouble *params, PhysnnTensor **inputs,
    const PhysnnTapeSegment *segment, GError **error);

/* The forward value (with jet components) of graph value @value. */
const PhysnnJetValue *_physnn_tape_get_value (PhysnnTape *tape, gint value);

/* The cotangent of a value, allocated as zeros on first use with the same
 * components as the forward value: seed output cotangents through it. */
PhysnnJetValue *_physnn_tape_get_cotangent (PhysnnTape *tape, gint value);

/* Propagates the seeded cotangents back through every node and adds the
 * parameter gradient to @grad (ps->total elements; not cleared). */
gboolean _physnn_tape_backward (
    PhysnnTape *tape, gdouble *grad, GError **error);

/* Fast kernels shared with the reverse pass (tape-kernels.c): float64,
 * row-major. C[M,n] += alpha A[M,k] B[k,n] (lda, ldc = row strides). */
void _physnn_k_rows_times (gsize M, gsize k, gsize n, gdouble alpha,
    const gdouble *A, gsize lda, const gdouble *B, gdouble *C, gsize ldc);
/* C[k,n] += alpha A[M,k]^T B[M,n]. */
void _physnn_k_tn (gsize M, gsize k, gsize n, gdouble alpha, const gdouble *A,
    gsize lda, const gdouble *B, gsize ldb, gdouble *C);

G_END_DECLS
