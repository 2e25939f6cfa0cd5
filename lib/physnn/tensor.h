/* physnn — n-dimensional tensors with host and optional device storage.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "physnn/dtype.h"
#include "physnn/device.h"

G_BEGIN_DECLS

/**
 * PhysnnMapFlags:
 * @PHYSNN_MAP_READ: map for reading; device data is copied back first
 * @PHYSNN_MAP_WRITE: map for writing; the device copy is stale afterwards
 *
 * Access requested by physnn_tensor_map().
 */
typedef enum {
  PHYSNN_MAP_READ = 1 << 0,
  PHYSNN_MAP_WRITE = 1 << 1,
} PhysnnMapFlags;

#define PHYSNN_TYPE_TENSOR (physnn_tensor_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnTensor, physnn_tensor, PHYSNN, TENSOR, GObject)

PhysnnTensor *physnn_tensor_new (PhysnnDType dtype, guint rank,
    const gsize *shape);
PhysnnTensor *physnn_tensor_new_from_bytes (PhysnnDType dtype, guint rank,
    const gsize *shape, GBytes *data, GError **error);
PhysnnTensor *physnn_tensor_new_from_doubles (PhysnnDType dtype, guint rank,
    const gsize *shape, const gdouble *values, gsize n_values, GError **error);
PhysnnTensor *physnn_tensor_new_wrapped (PhysnnDType dtype, guint rank,
    const gsize *shape, gpointer data, gsize size, GDestroyNotify notify,
    gpointer user_data);

PhysnnTensor *physnn_tensor_copy (PhysnnTensor *self);
PhysnnTensor *physnn_tensor_view (PhysnnTensor *self, gsize offset,
    guint rank, const gsize *shape, GError **error);
PhysnnTensor *physnn_tensor_reshape (PhysnnTensor *self, guint rank,
    const gsize *shape, GError **error);
PhysnnTensor *physnn_tensor_convert (PhysnnTensor *self, PhysnnDType dtype);

PhysnnDType physnn_tensor_get_dtype (PhysnnTensor *self);
guint physnn_tensor_get_rank (PhysnnTensor *self);
const gsize *physnn_tensor_get_shape (PhysnnTensor *self, guint *rank);
gsize physnn_tensor_get_dim (PhysnnTensor *self, guint axis);
gsize physnn_tensor_get_n_elements (PhysnnTensor *self);
gsize physnn_tensor_get_nbytes (PhysnnTensor *self);
gboolean physnn_tensor_shape_equal (PhysnnTensor *self, PhysnnTensor *other);
gchar *physnn_tensor_describe (PhysnnTensor *self);

gpointer physnn_tensor_map (PhysnnTensor *self, PhysnnMapFlags flags,
    gsize *size);
void physnn_tensor_unmap (PhysnnTensor *self);

GBytes *physnn_tensor_get_bytes (PhysnnTensor *self);
gdouble *physnn_tensor_to_doubles (PhysnnTensor *self, gsize *n_values);
gdouble physnn_tensor_get_value (PhysnnTensor *self, gsize index);
void physnn_tensor_set_value (PhysnnTensor *self, gsize index, gdouble value);
void physnn_tensor_fill (PhysnnTensor *self, gdouble value);
gsize physnn_tensor_count_nonfinite (PhysnnTensor *self);

gboolean physnn_tensor_upload (PhysnnTensor *self, PhysnnDevice *device,
    GError **error);
gboolean physnn_tensor_is_on_device (PhysnnTensor *self);
PhysnnDevice *physnn_tensor_get_device (PhysnnTensor *self);

G_END_DECLS
