/* physnn — OpenCL internals of PhysnnDevice, for engine sources only.
 * Not installed, not introspected.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <CL/cl.h>

#include "physnn/device.h"

G_BEGIN_DECLS

const gchar *_physnn_cl_status_name (cl_int status);
gboolean _physnn_cl_check (cl_int status, const gchar *what, GError **error);

cl_context _physnn_device_get_context (PhysnnDevice *self);
cl_command_queue _physnn_device_get_queue (PhysnnDevice *self);
cl_device_id _physnn_device_get_id (PhysnnDevice *self);

cl_program _physnn_device_get_program (PhysnnDevice *self,
    const gchar *source_name, const gchar *options, GError **error);
cl_kernel _physnn_device_get_kernel (PhysnnDevice *self,
    const gchar *source_name, const gchar *options, const gchar *kernel_name,
    GError **error);
cl_program _physnn_device_build_source (PhysnnDevice *self,
    const gchar *label, const gchar *source, const gchar *options,
    GError **error);

/* Serialises kernel-argument setting and launch on one device. */
void _physnn_device_lock (PhysnnDevice *self);
void _physnn_device_unlock (PhysnnDevice *self);

gsize _physnn_device_pick_local_size (PhysnnDevice *self, cl_kernel kernel,
    gsize global);
gboolean _physnn_device_enqueue (PhysnnDevice *self, cl_kernel kernel,
    guint work_dim, const gsize *global, const gsize *local, GError **error);

/* Kernel binary cache counters, for tests and `physnn devices -v`. */
typedef struct {
  guint hits;
  guint misses;
  guint rejected;
  guint stored;
} PhysnnKernelCacheStats;

void _physnn_device_get_cache_stats (PhysnnDevice *self,
    PhysnnKernelCacheStats *stats);

/* kernel-cache.c */
gchar *_physnn_kernel_cache_dir (void);
gboolean _physnn_kernel_cache_enabled (void);
GBytes *_physnn_kernel_cache_load (const gchar *key, gboolean *corrupt);
gboolean _physnn_kernel_cache_store (const gchar *key, const guint8 *binary,
    gsize size, GError **error);
void _physnn_kernel_cache_remove (const gchar *key);

G_END_DECLS
