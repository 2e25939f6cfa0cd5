/* physnn — PhysnnModel: an ONNX model ready to run, with the derivatives a
 * PDE needs.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "physnn/device.h"
#include "physnn/tensor.h"

G_BEGIN_DECLS

#define PHYSNN_TYPE_MODEL (physnn_model_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnModel, physnn_model, PHYSNN, MODEL, GObject)

PhysnnModel *physnn_model_new_from_file (const gchar *path, GError **error);
PhysnnModel *physnn_model_new_from_bytes (GBytes *data, const gchar *label,
    GError **error);
PhysnnModel *physnn_model_new_builtin (const gchar *name, GError **error);
gchar *physnn_model_list_builtins (void);

const gchar *physnn_model_get_path (PhysnnModel *self);
guint physnn_model_get_n_inputs (PhysnnModel *self);
const gchar *physnn_model_get_input_name (PhysnnModel *self, guint index);
const gint64 *physnn_model_get_input_shape (PhysnnModel *self, guint index,
    guint *rank);
gint physnn_model_find_input (PhysnnModel *self, const gchar *name);
guint physnn_model_get_n_outputs (PhysnnModel *self);
const gchar *physnn_model_get_output_name (PhysnnModel *self, guint index);
const gint64 *physnn_model_get_output_shape (PhysnnModel *self, guint index,
    guint *rank);
const gchar *physnn_model_get_metadata (PhysnnModel *self, const gchar *key);
gchar *physnn_model_describe (PhysnnModel *self);
guint64 physnn_model_get_n_parameters (PhysnnModel *self);

gboolean physnn_model_set_coordinates (PhysnnModel *self,
    const gchar *input, const gchar *names, GError **error);
const gchar *physnn_model_get_coordinate_input (PhysnnModel *self);
const gchar *physnn_model_get_coordinate_names (PhysnnModel *self);
gboolean physnn_model_set_output_names (PhysnnModel *self,
    const gchar *names, GError **error);
const gchar *physnn_model_get_output_names (PhysnnModel *self);

gboolean physnn_model_set_derivatives (PhysnnModel *self,
    const gchar *derivatives, GError **error);
guint physnn_model_get_n_derivatives (PhysnnModel *self);
const gchar *physnn_model_get_derivative_name (PhysnnModel *self,
    guint index);

void physnn_model_set_fused (PhysnnModel *self, gboolean fused);
const gchar *physnn_model_get_execution (PhysnnModel *self);

GPtrArray *physnn_model_run (PhysnnModel *self, PhysnnDevice *device,
    PhysnnTensor **inputs, guint n_inputs, GError **error);

G_END_DECLS

G_BEGIN_DECLS
PhysnnModel *physnn_model_copy (PhysnnModel *model, GError **error);
G_END_DECLS
