/* physnn — tensor internals for engine sources (device buffers, raw data).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "physnn/device-private.h"
#include "physnn/tensor.h"

G_BEGIN_DECLS

typedef enum {
  PHYSNN_ACCESS_READ = 1 << 0,
  PHYSNN_ACCESS_WRITE = 1 << 1,
  PHYSNN_ACCESS_READWRITE = 3,
} PhysnnAccess;

/* Returns the device buffer holding this tensor's storage and the byte
 * offset of the tensor inside it; uploads host data first if the device copy
 * is stale and @access reads. With WRITE, the host copy becomes stale. */
cl_mem _physnn_tensor_get_cl_mem (PhysnnTensor *self, PhysnnDevice *device,
    PhysnnAccess access, gsize *offset, GError **error);

/* Host pointer of the tensor's first element, after syncing from the device
 * when needed. With WRITE, the device copy becomes stale. */
gpointer _physnn_tensor_host (PhysnnTensor *self, PhysnnAccess access);

gdouble _physnn_dtype_read (PhysnnDType dtype, gconstpointer base, gsize i);
void _physnn_dtype_write (PhysnnDType dtype, gpointer base, gsize i,
    gdouble value);

G_END_DECLS
