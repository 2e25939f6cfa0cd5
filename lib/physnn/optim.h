/* physnn — optimizers: Adam, and L-BFGS with a strong-Wolfe line search.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "physnn/grad.h"
#include "physnn/tensor.h"

G_BEGIN_DECLS

#define PHYSNN_TYPE_ADAM (physnn_adam_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnAdam, physnn_adam, PHYSNN, ADAM, GObject)

PhysnnAdam *physnn_adam_new (gdouble learning_rate);
gboolean physnn_adam_step (PhysnnAdam *self, PhysnnTensor *params,
    PhysnnTensor *gradient, GError **error);
void physnn_adam_reset (PhysnnAdam *self);
guint64 physnn_adam_get_steps (PhysnnAdam *self);

#define PHYSNN_TYPE_LBFGS (physnn_lbfgs_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnLbfgs, physnn_lbfgs, PHYSNN, LBFGS, GObject)

PhysnnLbfgs *physnn_lbfgs_new (void);
gboolean physnn_lbfgs_minimize (PhysnnLbfgs *self, PhysnnLoss *loss,
    guint *iterations, gdouble *value, GError **error);

G_END_DECLS
