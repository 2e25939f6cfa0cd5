/* physnn — internals of PhysnnLoss for the optimizers and the trainer:
 * value and gradient at a raw float64 parameter vector, no copies.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "physnn/grad.h"
#include "physnn/tape-private.h"

G_BEGIN_DECLS

/* Loss at @params (NULL: the loss's own parameters) and, if @grad is not
 * NULL, its gradient (overwritten). Term values are updated. */
gboolean _physnn_loss_eval (PhysnnLoss *self, const gdouble *params,
    gdouble *value, gdouble *grad, GError **error);

/* H·v at the loss's own parameters (central differences of gradients). */
gboolean _physnn_loss_hvp (
    PhysnnLoss *self, const gdouble *v, gdouble *hv, GError **error);

/* The loss's own parameter vector (physnn_loss_get_n_parameters()
 * elements); writable. */
gdouble *_physnn_loss_peek_parameters (PhysnnLoss *self);
const PhysnnParamSet *_physnn_loss_get_param_set (PhysnnLoss *self);

/* Sum over the term's equations of r² at each of @n_points points given
 * by @inputs (model inputs, one row per point), at the loss's own
 * parameters: what residual-adaptive sampling ranks candidates by. */
gboolean _physnn_loss_residual_sq (PhysnnLoss *self, guint term,
    PhysnnTensor **inputs, guint n_inputs, gdouble *out, GError **error);

/* Replaces a data term's inputs and targets together (a new batch). */
gboolean _physnn_loss_set_term_data (PhysnnLoss *self, guint term,
    PhysnnTensor **inputs, guint n_inputs, PhysnnTensor *target,
    GError **error);
/* The term's current inputs (float64 copies, owned by the loss). */
PhysnnTensor **_physnn_loss_get_term_inputs (PhysnnLoss *self, guint term,
    guint *n_inputs);

G_END_DECLS
