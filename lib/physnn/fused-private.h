/* physnn — fused per-point kernels: a whole physics network and its jets
 * as one generated OpenCL kernel.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "physnn/graph-private.h"

G_BEGIN_DECLS

typedef struct _PhysnnFusedPlan PhysnnFusedPlan;

/* Analyses the graph for this request and device and builds the kernel.
 * Returns NULL when the graph is not a per-point program (with the reason
 * in @why, no error) or when building fails (@error set). */
PhysnnFusedPlan *_physnn_fused_plan_new (PhysnnGraph *graph,
    const PhysnnJetSpec *spec, PhysnnDevice *device,
    const gboolean *per_point_input, PhysnnTensor **inputs, gchar **why,
    GError **error);
void _physnn_fused_plan_free (PhysnnFusedPlan *plan);
gboolean _physnn_fused_run (PhysnnFusedPlan *plan, PhysnnTensor **inputs,
    PhysnnJetValue *outputs, GError **error);
const gchar *_physnn_fused_plan_get_source (PhysnnFusedPlan *plan);

/* The tiled kernel for plain dense chains (fused-mlp.c), shaped for GPUs. */
typedef struct _PhysnnMlpPlan PhysnnMlpPlan;

PhysnnMlpPlan *_physnn_mlp_plan_new (PhysnnGraph *graph,
    const PhysnnJetSpec *spec, PhysnnDevice *device, gchar **why,
    GError **error);
void _physnn_mlp_plan_free (PhysnnMlpPlan *plan);
const gchar *_physnn_mlp_plan_describe (const PhysnnMlpPlan *plan);
gboolean _physnn_mlp_run (PhysnnMlpPlan *plan, PhysnnTensor **inputs,
    PhysnnJetValue *outputs, GError **error);

G_END_DECLS
