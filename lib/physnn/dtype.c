/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "physnn/dtype.h"

#include <string.h>

/* Names follow the NNStreamer caps convention so that `types=` fields can be
 * parsed and written with this one table. */
static const struct {
  const gchar *name;
  gsize size;
} dtype_table[PHYSNN_N_DTYPES] = {
  [PHYSNN_DTYPE_FLOAT32] = {"float32", 4},
  [PHYSNN_DTYPE_FLOAT64] = {"float64", 8},
  [PHYSNN_DTYPE_FLOAT16] = {"float16", 2},
  [PHYSNN_DTYPE_INT8] = {"int8", 1},
  [PHYSNN_DTYPE_UINT8] = {"uint8", 1},
  [PHYSNN_DTYPE_INT16] = {"int16", 2},
  [PHYSNN_DTYPE_UINT16] = {"uint16", 2},
  [PHYSNN_DTYPE_INT32] = {"int32", 4},
  [PHYSNN_DTYPE_UINT32] = {"uint32", 4},
  [PHYSNN_DTYPE_INT64] = {"int64", 8},
  [PHYSNN_DTYPE_UINT64] = {"uint64", 8},
};

/**
 * physnn_dtype_get_size:
 * @dtype: a #PhysnnDType
 *
 * Returns: the size of one element in bytes, or 0 for an invalid value
 */
gsize
physnn_dtype_get_size (PhysnnDType dtype)
{
  if ((guint) dtype >= PHYSNN_N_DTYPES)
    return 0;
  return dtype_table[dtype].size;
}

/**
 * physnn_dtype_to_string:
 * @dtype: a #PhysnnDType
 *
 * Returns: the NNStreamer name of @dtype ("float32", "uint8", ...), or
 *   "invalid"
 */
const gchar *
physnn_dtype_to_string (PhysnnDType dtype)
{
  if ((guint) dtype >= PHYSNN_N_DTYPES)
    return "invalid";
  return dtype_table[dtype].name;
}

/**
 * physnn_dtype_from_string:
 * @name: an NNStreamer type name such as "float32"
 * @dtype: (out): the type
 *
 * Returns: %TRUE if @name is a known type name
 */
gboolean
physnn_dtype_from_string (const gchar *name, PhysnnDType *dtype)
{
  g_return_val_if_fail (dtype != NULL, FALSE);
  if (name == NULL)
    return FALSE;
  for (guint i = 0; i < PHYSNN_N_DTYPES; i++) {
    if (strcmp (name, dtype_table[i].name) == 0) {
      *dtype = (PhysnnDType) i;
      return TRUE;
    }
  }
  return FALSE;
}

/**
 * physnn_dtype_is_float:
 * @dtype: a #PhysnnDType
 *
 * Returns: %TRUE for the floating-point types
 */
gboolean
physnn_dtype_is_float (PhysnnDType dtype)
{
  return dtype == PHYSNN_DTYPE_FLOAT32 || dtype == PHYSNN_DTYPE_FLOAT64 ||
      dtype == PHYSNN_DTYPE_FLOAT16;
}

/**
 * physnn_half_from_float:
 * @value: a float
 *
 * Converts to IEEE binary16 with round-to-nearest-even, the rounding the
 * OpenCL `vstore_half` built-in uses by default, so host and device agree
 * bit for bit.
 *
 * Returns: the binary16 bit pattern
 */
guint16
physnn_half_from_float (gfloat value)
{
  guint32 f;
  memcpy (&f, &value, sizeof f);
  guint32 sign = (f >> 16) & 0x8000u;
  guint32 exp = (f >> 23) & 0xffu;
  guint32 mant = f & 0x7fffffu;

  if (exp == 0xff) /* Inf or NaN; keep NaN quiet and non-zero */
    return (guint16) (sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0));

  gint32 e = (gint32) exp - 127 + 15;
  if (e >= 0x1f) /* overflow to infinity */
    return (guint16) (sign | 0x7c00u);

  if (e <= 0) {
    /* Subnormal half (or zero): shift the mantissa with its implicit bit. */
    if (e < -10)
      return (guint16) sign;
    mant |= 0x800000u;
    guint32 shift = (guint32) (14 - e);
    guint32 half_mant = mant >> shift;
    guint32 rem = mant & ((1u << shift) - 1);
    guint32 halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half_mant & 1u)))
      half_mant++;
    return (guint16) (sign | half_mant);
  }

  guint32 half = sign | ((guint32) e << 10) | (mant >> 13);
  guint32 rem = mant & 0x1fffu;
  /* Carry from the mantissa into the exponent is the correct result. */
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u)))
    half++;
  return (guint16) half;
}

/**
 * physnn_half_to_float:
 * @half: a binary16 bit pattern
 *
 * Returns: the exact float value of @half
 */
gfloat
physnn_half_to_float (guint16 half)
{
  guint32 sign = ((guint32) half & 0x8000u) << 16;
  guint32 exp = (half >> 10) & 0x1fu;
  guint32 mant = half & 0x3ffu;
  guint32 f;

  if (exp == 0) {
    if (mant == 0) {
      f = sign;
    } else {
      /* Normalise the subnormal. */
      gint e = -1;
      do {
        e++;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      f = sign | ((guint32) (127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 0x1f) {
    f = sign | 0x7f800000u | (mant << 13);
  } else {
    f = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  gfloat out;
  memcpy (&out, &f, sizeof out);
  return out;
}
