/* physnn — losses of a model's parameters and their exact gradients:
 * data losses (mean squared error, cross-entropy) and physics losses (the
 * mean squared PDE residual at collocation points, with boundary and initial
 * conditions as further residual terms), Hessian-vector products and
 * Hutchinson estimates of per-tensor Hessian traces.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "physnn/device.h"
#include "physnn/model.h"
#include "physnn/tensor.h"

G_BEGIN_DECLS

#define PHYSNN_TYPE_LOSS (physnn_loss_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnLoss, physnn_loss, PHYSNN, LOSS, GObject)

PhysnnLoss *physnn_loss_new (PhysnnModel *model, GError **error);
PhysnnModel *physnn_loss_get_model (PhysnnLoss *self);

gint physnn_loss_add_mse (PhysnnLoss *self, const gchar *name,
    PhysnnTensor **inputs, guint n_inputs, guint output, PhysnnTensor *target,
    gdouble weight, GError **error);
gint physnn_loss_add_cross_entropy (PhysnnLoss *self, const gchar *name,
    PhysnnTensor **inputs, guint n_inputs, guint output, PhysnnTensor *labels,
    gdouble weight, GError **error);
gint physnn_loss_add_residual (PhysnnLoss *self, const gchar *name,
    const gchar *expression, PhysnnTensor **inputs, guint n_inputs,
    gdouble weight, GError **error);
gboolean physnn_loss_set_term_inputs (PhysnnLoss *self, guint term,
    PhysnnTensor **inputs, guint n_inputs, GError **error);
gboolean physnn_loss_set_term_weight (
    PhysnnLoss *self, guint term, gdouble weight);
gboolean physnn_loss_define (
    PhysnnLoss *self, const gchar *name, gdouble value, GError **error);

guint physnn_loss_get_n_terms (PhysnnLoss *self);
const gchar *physnn_loss_get_term_name (PhysnnLoss *self, guint term);
gdouble physnn_loss_get_term_value (PhysnnLoss *self, guint term);
gchar *physnn_loss_get_term_derivatives (PhysnnLoss *self, guint term);

guint physnn_loss_get_n_tensors (PhysnnLoss *self);
const gchar *physnn_loss_get_tensor_name (PhysnnLoss *self, guint index);
const gchar *physnn_loss_get_tensor_layer (PhysnnLoss *self, guint index);
gsize physnn_loss_get_tensor_offset (PhysnnLoss *self, guint index);
gsize physnn_loss_get_tensor_size (PhysnnLoss *self, guint index);
gsize physnn_loss_get_n_parameters (PhysnnLoss *self);
PhysnnTensor *physnn_loss_get_parameters (PhysnnLoss *self);
gboolean physnn_loss_set_parameters (
    PhysnnLoss *self, PhysnnTensor *params, GError **error);

gboolean physnn_loss_evaluate (
    PhysnnLoss *self, gdouble *value, PhysnnTensor **gradient, GError **error);
PhysnnTensor *physnn_loss_residuals (
    PhysnnLoss *self, guint term, GError **error);
PhysnnTensor *physnn_loss_hessian_vector_product (
    PhysnnLoss *self, PhysnnTensor *vector, GError **error);
gboolean physnn_loss_hutchinson (PhysnnLoss *self, guint n_samples,
    guint64 seed, PhysnnTensor **traces, PhysnnTensor **std_errors,
    GError **error);

void physnn_loss_set_threads (PhysnnLoss *self, guint n_threads);
void physnn_loss_set_device (PhysnnLoss *self, PhysnnDevice *device);
PhysnnDevice *physnn_loss_get_term_device (PhysnnLoss *self, guint term);

G_END_DECLS
