/* physnn — the loss's OpenCL fast path: forward and reverse pass of a
 * dense MLP (input -> (Gemm -> activation)* -> output) with its derivative
 * jets, on a device (grad-cl.c). The loss computes residuals and their
 * cotangents on the host from the output jets, exactly as on the
 * reference path; only the network runs on the device.
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

/* Runs the network on @rows points of @input (float64 [rows, d]) with the
 * parameters @params (the flat float64 vector of @ps); fills @out with the
 * output's jet components as float64 [rows, k] tensors. The forward values
 * stay on the device for _physnn_cl_mlp_backward(). Not reentrant. */
gboolean _physnn_cl_mlp_forward (PhysnnClMlp *mlp, const gdouble *params,
    PhysnnTensor *input, gsize rows, PhysnnJetValue *out, GError **error);
/* From the cotangents of the output's components (float64 [rows, k] each,
 * NULL for zero), adds the parameter gradient to @grad. */
gboolean _physnn_cl_mlp_backward (PhysnnClMlp *mlp, const PhysnnJetValue *bar,
    gdouble *grad, GError **error);

G_END_DECLS
