/* physnn — element types of tensors and their NNStreamer names.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * PHYSNN_MAX_RANK:
 *
 * Highest tensor rank physnn handles; the NNStreamer caps convention
 * allows the same.
 */
#define PHYSNN_MAX_RANK 16

/**
 * PhysnnDType:
 * @PHYSNN_DTYPE_FLOAT32: IEEE 754 binary32
 * @PHYSNN_DTYPE_FLOAT64: IEEE 754 binary64
 * @PHYSNN_DTYPE_FLOAT16: IEEE 754 binary16 (storage; converted for math)
 * @PHYSNN_DTYPE_INT8: signed 8-bit integer
 * @PHYSNN_DTYPE_UINT8: unsigned 8-bit integer
 * @PHYSNN_DTYPE_INT16: signed 16-bit integer
 * @PHYSNN_DTYPE_UINT16: unsigned 16-bit integer
 * @PHYSNN_DTYPE_INT32: signed 32-bit integer
 * @PHYSNN_DTYPE_UINT32: unsigned 32-bit integer
 * @PHYSNN_DTYPE_INT64: signed 64-bit integer
 * @PHYSNN_DTYPE_UINT64: unsigned 64-bit integer
 *
 * Element type of a #PhysnnTensor. Values are stored little-endian in the
 * host's native layout.
 */
typedef enum {
  PHYSNN_DTYPE_FLOAT32,
  PHYSNN_DTYPE_FLOAT64,
  PHYSNN_DTYPE_FLOAT16,
  PHYSNN_DTYPE_INT8,
  PHYSNN_DTYPE_UINT8,
  PHYSNN_DTYPE_INT16,
  PHYSNN_DTYPE_UINT16,
  PHYSNN_DTYPE_INT32,
  PHYSNN_DTYPE_UINT32,
  PHYSNN_DTYPE_INT64,
  PHYSNN_DTYPE_UINT64,
} PhysnnDType;

#define PHYSNN_N_DTYPES (PHYSNN_DTYPE_UINT64 + 1)

gsize physnn_dtype_get_size (PhysnnDType dtype);
const gchar *physnn_dtype_to_string (PhysnnDType dtype);
gboolean physnn_dtype_from_string (const gchar *name, PhysnnDType *dtype);
gboolean physnn_dtype_is_float (PhysnnDType dtype);

guint16 physnn_half_from_float (gfloat value);
gfloat physnn_half_to_float (guint16 half);

G_END_DECLS
