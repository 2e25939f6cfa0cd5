/* physnn — the PDE language: residual expressions over a model's outputs,
 * their derivatives and its coordinates.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "physnn/device.h"
#include "physnn/model.h"
#include "physnn/tensor.h"

G_BEGIN_DECLS

/**
 * PhysnnPdeSymbolKind:
 * @PHYSNN_PDE_SYMBOL_UNRESOLVED: not bound to a model yet
 * @PHYSNN_PDE_SYMBOL_OUTPUT: a model output component, such as `u`
 * @PHYSNN_PDE_SYMBOL_DERIVATIVE: a derivative of an output component by one
 *   or two coordinates, such as `u_t`, `u_xx`, `u_xt`
 * @PHYSNN_PDE_SYMBOL_COORDINATE: a coordinate, such as `x` or `t`
 * @PHYSNN_PDE_SYMBOL_PARAMETER: a named parameter set with
 *   physnn_pde_set_parameter(), such as `alpha`
 *
 * What a name in a PDE stands for once the PDE is bound to a model.
 */
typedef enum {
  PHYSNN_PDE_SYMBOL_UNRESOLVED,
  PHYSNN_PDE_SYMBOL_OUTPUT,
  PHYSNN_PDE_SYMBOL_DERIVATIVE,
  PHYSNN_PDE_SYMBOL_COORDINATE,
  PHYSNN_PDE_SYMBOL_PARAMETER,
} PhysnnPdeSymbolKind;

#define PHYSNN_TYPE_PDE (physnn_pde_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnPde, physnn_pde, PHYSNN, PDE, GObject)

PhysnnPde *physnn_pde_new (const gchar *text, GError **error);
const gchar *physnn_pde_get_text (PhysnnPde *self);
guint physnn_pde_get_n_equations (PhysnnPde *self);
gchar *physnn_pde_get_equation (PhysnnPde *self, guint index);

guint physnn_pde_get_n_symbols (PhysnnPde *self);
const gchar *physnn_pde_get_symbol (PhysnnPde *self, guint index);
PhysnnPdeSymbolKind physnn_pde_get_symbol_kind (PhysnnPde *self, guint index);

gboolean physnn_pde_set_parameter (
    PhysnnPde *self, const gchar *name, gdouble value, GError **error);
gboolean physnn_pde_set_parameters (
    PhysnnPde *self, const gchar *assignments, GError **error);
gboolean physnn_pde_get_parameter (
    PhysnnPde *self, const gchar *name, gdouble *value);

gboolean physnn_pde_bind (PhysnnPde *self, PhysnnModel *model, GError **error);
gboolean physnn_pde_is_bound (PhysnnPde *self);
const gchar *physnn_pde_get_derivatives (PhysnnPde *self);
guint physnn_pde_get_n_derivatives (PhysnnPde *self);
const gchar *physnn_pde_get_derivative (PhysnnPde *self, guint index);

PhysnnTensor *physnn_pde_evaluate (PhysnnPde *self, PhysnnDevice *device,
    PhysnnTensor **inputs, guint n_inputs, PhysnnTensor **outputs,
    guint n_outputs, PhysnnTensor **derivatives, guint n_derivatives,
    PhysnnTensor **scale, GError **error);
PhysnnTensor *physnn_pde_residual (PhysnnPde *self, PhysnnModel *model,
    PhysnnDevice *device, PhysnnTensor **inputs, guint n_inputs,
    PhysnnTensor **scale, GError **error);

gchar *physnn_pde_get_kernel_source (PhysnnPde *self);

G_END_DECLS
