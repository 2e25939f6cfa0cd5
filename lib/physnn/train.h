/* physnn — training: physics-informed networks from a PDE, a domain and
 * boundary/initial conditions, and fine-tuning of any ONNX model on data or
 * physics; Adam then L-BFGS; writes ONNX.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "physnn/grad.h"
#include "physnn/model.h"
#include "physnn/tensor.h"

G_BEGIN_DECLS

/**
 * PhysnnSampling:
 * @PHYSNN_SAMPLING_UNIFORM: independent uniform points
 * @PHYSNN_SAMPLING_LATIN_HYPERCUBE: Latin hypercube: every coordinate's
 *   range cut into as many strata as points, one point per stratum
 * @PHYSNN_SAMPLING_ADAPTIVE: residual-adaptive: collocation points drawn
 *   from a uniform pool with probability ∝ |residual| / mean |residual| + 1
 *   (Wu et al. 2023, RAD); before each L-BFGS round, the worst points of
 *   a uniform pool are added to the fixed set (sizes from
 *   #PhysnnTrainer:refine-points and #PhysnnTrainer:refine-pool, the pick
 *   from #PhysnnTrainer:refinement)
 *
 * How collocation and condition points are drawn.
 */
typedef enum {
  PHYSNN_SAMPLING_UNIFORM,
  PHYSNN_SAMPLING_LATIN_HYPERCUBE,
  PHYSNN_SAMPLING_ADAPTIVE,
} PhysnnSampling;

/**
 * PhysnnRefinement:
 * @PHYSNN_REFINEMENT_LARGEST: the points of the pool with the largest
 *   residuals (residual-based adaptive refinement, RAR)
 * @PHYSNN_REFINEMENT_DRAW: a draw from the pool without replacement, with
 *   probability ∝ residual² / mean residual² + 1 (RAD-style, as the
 *   Burgers training script in models/ does)
 *
 * How adaptive sampling picks the points it adds to the L-BFGS set before
 * each round.
 */
typedef enum {
  PHYSNN_REFINEMENT_LARGEST,
  PHYSNN_REFINEMENT_DRAW,
} PhysnnRefinement;

/**
 * PhysnnDataLoss:
 * @PHYSNN_DATA_LOSS_MSE: mean squared error against targets
 * @PHYSNN_DATA_LOSS_CROSS_ENTROPY: cross-entropy of logits against class
 *   indices
 *
 * The loss of a data term.
 */
typedef enum {
  PHYSNN_DATA_LOSS_MSE,
  PHYSNN_DATA_LOSS_CROSS_ENTROPY,
} PhysnnDataLoss;

#define PHYSNN_TYPE_TRAINER (physnn_trainer_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnTrainer, physnn_trainer, PHYSNN, TRAINER, GObject)

PhysnnModel *physnn_model_new_mlp (const gchar *coords, const gchar *outputs,
    const gchar *hidden, const gchar *activation, const gchar *ansatz,
    guint64 seed, GError **error);

PhysnnModel *physnn_model_new_mlp_full (const gchar *coords,
    const gchar *outputs, const gchar *hidden, const gchar *activation,
    const gchar *ansatz, const gchar *domain, guint64 seed, GError **error);

PhysnnTrainer *physnn_trainer_new (PhysnnModel *model, GError **error);
PhysnnLoss *physnn_trainer_get_loss (PhysnnTrainer *self);

gboolean physnn_trainer_set_domain (
    PhysnnTrainer *self, const gchar *domain, GError **error);
gboolean physnn_trainer_define (
    PhysnnTrainer *self, const gchar *name, gdouble value, GError **error);
gint physnn_trainer_add_pde (PhysnnTrainer *self, const gchar *pde,
    guint n_points, gdouble weight, GError **error);
gint physnn_trainer_add_condition (PhysnnTrainer *self, const gchar *where,
    const gchar *expression, guint n_points, gdouble weight, GError **error);
gint physnn_trainer_add_data (PhysnnTrainer *self, PhysnnTensor **inputs,
    guint n_inputs, guint output, PhysnnTensor *target, PhysnnDataLoss kind,
    guint batch, gdouble weight, GError **error);

gboolean physnn_trainer_train (
    PhysnnTrainer *self, GCancellable *cancellable, GError **error);

guint physnn_trainer_get_iterations (PhysnnTrainer *self);
gdouble physnn_trainer_get_elapsed (PhysnnTrainer *self);
gdouble physnn_trainer_get_final_loss (PhysnnTrainer *self);
const gchar *physnn_trainer_get_stop_reason (PhysnnTrainer *self);
PhysnnTensor *physnn_trainer_get_history (PhysnnTrainer *self);

gboolean physnn_trainer_save (
    PhysnnTrainer *self, const gchar *path, GError **error);
PhysnnModel *physnn_trainer_dup_model (PhysnnTrainer *self, GError **error);
gboolean physnn_trainer_write_loss_plot (
    PhysnnTrainer *self, const gchar *path, GError **error);

G_END_DECLS
