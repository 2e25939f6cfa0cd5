/* physnn — internals shared by the model and its executors.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "physnn/graph-private.h"
#include "physnn/model.h"

G_BEGIN_DECLS

/* OpenCL executor state for one model (compiled kernels, buffers), built
 * lazily and rebuilt when the device or the derivative request changes. */
typedef struct _PhysnnClPlan PhysnnClPlan;

void _physnn_cl_plan_free (PhysnnClPlan *plan);
gboolean _physnn_cl_run (PhysnnGraph *graph, const PhysnnJetSpec *spec,
    PhysnnClPlan **plan, PhysnnDevice *device, PhysnnTensor **inputs,
    PhysnnJetValue *outputs, GError **error);

PhysnnGraph *_physnn_model_get_graph (PhysnnModel *self);
const PhysnnJetSpec *_physnn_model_get_jet_spec (PhysnnModel *self);
/* The ONNX data model the graph was built from (initializer names, metadata):
 * training writes it back with new weights. */
const PhysnnOnnxModel *_physnn_model_get_onnx (PhysnnModel *self);

G_END_DECLS

G_BEGIN_DECLS
/* model.c: physnn_model_run() on the reference path with float64 results
 * (outputs, then derivatives, one value per point). */
GPtrArray *_physnn_model_run_reference_f64 (PhysnnModel *self,
    PhysnnTensor **inputs, guint n_inputs, GError **error);
G_END_DECLS
