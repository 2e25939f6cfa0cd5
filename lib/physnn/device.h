/* physnn — compute devices: OpenCL devices and the reference C path.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * PhysnnDeviceKind:
 * @PHYSNN_DEVICE_KIND_CPU: the reference C path, the golden model in tests
 * @PHYSNN_DEVICE_KIND_OPENCL: an OpenCL device
 *
 * How a #PhysnnDevice computes.
 */
typedef enum {
  PHYSNN_DEVICE_KIND_CPU,
  PHYSNN_DEVICE_KIND_OPENCL,
} PhysnnDeviceKind;

/**
 * PhysnnDeviceType:
 * @PHYSNN_DEVICE_TYPE_HOST: the host CPU running the reference C path
 * @PHYSNN_DEVICE_TYPE_GPU: an OpenCL GPU
 * @PHYSNN_DEVICE_TYPE_CPU: an OpenCL CPU device (for example PoCL)
 * @PHYSNN_DEVICE_TYPE_ACCELERATOR: another OpenCL accelerator
 *
 * The hardware class of a device, as OpenCL reports it.
 */
typedef enum {
  PHYSNN_DEVICE_TYPE_HOST,
  PHYSNN_DEVICE_TYPE_GPU,
  PHYSNN_DEVICE_TYPE_CPU,
  PHYSNN_DEVICE_TYPE_ACCELERATOR,
} PhysnnDeviceType;

#define PHYSNN_TYPE_DEVICE (physnn_device_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnDevice, physnn_device, PHYSNN, DEVICE, GObject)

GPtrArray *physnn_device_enumerate (GError **error);
PhysnnDevice *physnn_device_new (const gchar *spec, GError **error);

const gchar *physnn_device_get_spec (PhysnnDevice *self);
PhysnnDeviceKind physnn_device_get_kind (PhysnnDevice *self);
PhysnnDeviceType physnn_device_get_device_type (PhysnnDevice *self);
const gchar *physnn_device_get_name (PhysnnDevice *self);
const gchar *physnn_device_get_vendor (PhysnnDevice *self);
const gchar *physnn_device_get_driver_version (PhysnnDevice *self);
const gchar *physnn_device_get_platform_name (PhysnnDevice *self);
guint physnn_device_get_compute_units (PhysnnDevice *self);
gsize physnn_device_get_max_work_group_size (PhysnnDevice *self);
guint64 physnn_device_get_global_mem_size (PhysnnDevice *self);
guint64 physnn_device_get_local_mem_size (PhysnnDevice *self);
gboolean physnn_device_has_fp16 (PhysnnDevice *self);
gboolean physnn_device_has_fp64 (PhysnnDevice *self);
const gchar *physnn_device_get_fallback_reason (PhysnnDevice *self);
gchar *physnn_device_describe (PhysnnDevice *self);

gboolean physnn_device_open (PhysnnDevice *self, GError **error);
gboolean physnn_device_finish (PhysnnDevice *self, GError **error);

void physnn_device_set_profiling (PhysnnDevice *self, gboolean enable);
gboolean physnn_device_get_profiling (PhysnnDevice *self);
guint64 physnn_device_get_kernel_time_ns (PhysnnDevice *self);
guint64 physnn_device_get_kernel_launches (PhysnnDevice *self);
void physnn_device_reset_counters (PhysnnDevice *self);

gboolean physnn_device_warm_up (PhysnnDevice *self, GError **error);

G_END_DECLS
