/* physnn — optimizers on raw float64 vectors, for the trainer.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "physnn/optim.h"

G_BEGIN_DECLS

/* One Adam update of x (n values) with gradient g, in place. */
void _physnn_adam_update (
    PhysnnAdam *self, gdouble *x, const gdouble *g, gsize n);

/* f(x) and its gradient g; FALSE with @error set to abort. A non-finite f
 * is not an error: the line search steps back from it. */
typedef gboolean (*PhysnnObjectiveFunc) (
    gpointer user, const gdouble *x, gdouble *f, gdouble *g, GError **error);
/* Called after each accepted iteration; FALSE stops. */
typedef gboolean (*PhysnnIterationFunc) (gpointer user, guint iteration,
    gdouble f, const gdouble *x, const gdouble *g);

/* Minimises from x (updated in place to the best point found). Stops after
 * max-iterations, when max|g| <= tolerance-grad, when a step or the change
 * of f falls below tolerance-change, or when the line search fails to
 * decrease f. @reason (optional) tells which. */
gboolean _physnn_lbfgs_run (PhysnnLbfgs *self, gdouble *x, gsize n,
    PhysnnObjectiveFunc func, PhysnnIterationFunc iter, gpointer user,
    guint *iterations, gdouble *value, const gchar **reason, GError **error);

G_END_DECLS
