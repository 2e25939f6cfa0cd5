/* physnn — the loss's OpenCL fast path: forward and reverse pass of a
 * dense MLP ((Gemm -> activation)* with trainable weights) with its
 * derivative jets, on a device (grad-cl.c), as a segment of the reference
 * tape: whatever comes before (a fixed input scaling) and after (a
 * hard-constraint ansatz) runs on the host, as do the residuals and their
 * cotangents.
 *
 * Engine-internal. SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "physnn/device.h"
#include "physnn/tape-private.h"

G_BEGIN_DECLS

typedef struct _PhysnnClMlp PhysnnClMlp;

/* NULL with @why set (and no error) when the graph is not a dense MLP this
 * path handles; NULL with @error set when building the kernels fails. */
PhysnnClMlp *_physnn_cl_mlp_new (PhysnnGraph *graph, const PhysnnParamSet *ps,
    const PhysnnJetSpec *spec, PhysnnDevice *device, gchar **why,
    GError **error);
void _physnn_cl_mlp_free (PhysnnClMlp *mlp);
const PhysnnJetSpec *_physnn_cl_mlp_get_spec (PhysnnClMlp *mlp);
/* TRUE when the device computes in double precision. */
gboolean _physnn_cl_mlp_is_fp64 (PhysnnClMlp *mlp);

/* Runs the dense layers on the jets of their input (float64 [rows, d]
 * per component) with the parameters @params (the flat float64 vector of
 * @ps); fills @out with the jet components of their output as float64
 * [rows, k] tensors. The forward values stay on the device for
 * _physnn_cl_mlp_backward(). Not reentrant. */
gboolean _physnn_cl_mlp_forward (PhysnnClMlp *mlp, const gdouble *params,
    const PhysnnJetValue *input, PhysnnJetValue *out, GError **error);
/* From the cotangents of the output's components (float64 [rows, k] each,
 * NULL for zero), adds the parameter gradient to @grad and, if @in_bar is
 * given, the input's cotangent to it. */
gboolean _physnn_cl_mlp_backward (PhysnnClMlp *mlp, const PhysnnJetValue *bar,
    PhysnnJetValue *in_bar, gdouble *grad, GError **error);

/* The dense layers as a segment of a reference tape, at @params (which
 * must outlive the tape). */
void _physnn_cl_mlp_segment (
    PhysnnClMlp *mlp, const gdouble *params, PhysnnTapeSegment *seg);

G_END_DECLS
