/* physnn — NumPy .npy files: training data in, arrays out.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "physnn/tensor.h"

G_BEGIN_DECLS

PhysnnTensor *physnn_npy_load (const gchar *path, GError **error);
PhysnnTensor *physnn_npy_load_from_bytes (
    GBytes *data, const gchar *label, GError **error);
gboolean physnn_npy_save (
    PhysnnTensor *tensor, const gchar *path, GError **error);

G_END_DECLS
