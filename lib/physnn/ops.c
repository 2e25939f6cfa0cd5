/* physnn — elementary tensor operations, reference C and OpenCL.
 *
 * These are small on purpose: they are the end-to-end check that tensors
 * move to a device, kernels build (through the cache) and results come back
 * bit-compatible with the reference path.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/ops.h"
#include "physnn/error.h"
#include "physnn/tensor-private.h"

#include <math.h>

static gboolean
check_same (PhysnnTensor *a, PhysnnTensor *b, const gchar *op, GError **error)
{
  if (physnn_tensor_get_n_elements (a) != physnn_tensor_get_n_elements (b)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "%s: operands have %" G_GSIZE_FORMAT " and %" G_GSIZE_FORMAT
        " elements", op, physnn_tensor_get_n_elements (a),
        physnn_tensor_get_n_elements (b));
    return FALSE;
  }
  if (physnn_tensor_get_n_elements (a) > G_MAXUINT32) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "%s: more than 2^32 elements", op);
    return FALSE;
  }
  return TRUE;
}

static gboolean
launch_1d (PhysnnDevice *device, const gchar *kernel_name, guint32 n,
    PhysnnTensor *in, PhysnnTensor *out, const gfloat *alpha, GError **error)
{
  gsize in_off, out_off;
  cl_mem in_mem, out_mem;
  cl_kernel k;
  gsize esz_in = physnn_dtype_get_size (physnn_tensor_get_dtype (in));
  gsize esz_out = physnn_dtype_get_size (physnn_tensor_get_dtype (out));
  gboolean ok = TRUE;
  guint arg = 0;

  k = _physnn_device_get_kernel (device, "tensor.cl", NULL, kernel_name,
      error);
  if (k == NULL)
    return FALSE;
  in_mem = _physnn_tensor_get_cl_mem (in, device, PHYSNN_ACCESS_READ, &in_off,
      error);
  if (in_mem == NULL)
    return FALSE;
  out_mem = _physnn_tensor_get_cl_mem (out, device, alpha ?
      PHYSNN_ACCESS_READWRITE : PHYSNN_ACCESS_WRITE, &out_off, error);
  if (out_mem == NULL)
    return FALSE;
  guint32 ioff = (guint32) (in_off / esz_in);
  guint32 ooff = (guint32) (out_off / esz_out);

  _physnn_device_lock (device);
  clSetKernelArg (k, arg++, sizeof n, &n);
  if (alpha)
    clSetKernelArg (k, arg++, sizeof *alpha, alpha);
  clSetKernelArg (k, arg++, sizeof in_mem, &in_mem);
  clSetKernelArg (k, arg++, sizeof ioff, &ioff);
  clSetKernelArg (k, arg++, sizeof out_mem, &out_mem);
  clSetKernelArg (k, arg++, sizeof ooff, &ooff);
  gsize global = n;
  ok = _physnn_device_enqueue (device, k, 1, &global, NULL, error);
  _physnn_device_unlock (device);
  return ok;
}

/**
 * physnn_ops_axpy:
 * @device: where to compute
 * @alpha: the scale
 * @x: a float32 tensor
 * @y: a float32 tensor, updated in place, with as many elements as @x
 * @error: return location for a #GError
 *
 * y ← alpha·x + y, with a fused multiply-add on both paths so that the C path
 * and OpenCL agree exactly.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_ops_axpy (PhysnnDevice *device, gfloat alpha, PhysnnTensor *x,
    PhysnnTensor *y, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (device), FALSE);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (x) && PHYSNN_IS_TENSOR (y), FALSE);

  if (physnn_tensor_get_dtype (x) != PHYSNN_DTYPE_FLOAT32 ||
      physnn_tensor_get_dtype (y) != PHYSNN_DTYPE_FLOAT32) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "axpy: float32 operands expected, got %s and %s",
        physnn_dtype_to_string (physnn_tensor_get_dtype (x)),
        physnn_dtype_to_string (physnn_tensor_get_dtype (y)));
    return FALSE;
  }
  if (!check_same (x, y, "axpy", error))
    return FALSE;
  guint32 n = (guint32) physnn_tensor_get_n_elements (x);

  if (physnn_device_get_kind (device) == PHYSNN_DEVICE_KIND_OPENCL)
    return launch_1d (device, "physnn_axpy_f32", n, x, y, &alpha, error);

  const gfloat *xs = _physnn_tensor_host (x, PHYSNN_ACCESS_READ);
  gfloat *ys = _physnn_tensor_host (y, PHYSNN_ACCESS_READWRITE);
  for (guint32 i = 0; i < n; i++)
    ys[i] = fmaf (alpha, xs[i], ys[i]);
  return TRUE;
}

/**
 * physnn_ops_cast:
 * @device: where to compute
 * @src: the source tensor
 * @dst: the destination (written), same element count
 * @error: return location for a #GError
 *
 * Converts @src into @dst's type. On OpenCL, float32↔float16 run as kernels
 * (vload_half / vstore_half_rte); other pairs use the host conversion of
 * physnn_tensor_convert().
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_ops_cast (PhysnnDevice *device, PhysnnTensor *src, PhysnnTensor *dst,
    GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (device), FALSE);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (src) && PHYSNN_IS_TENSOR (dst),
      FALSE);
  if (!check_same (src, dst, "cast", error))
    return FALSE;

  PhysnnDType st = physnn_tensor_get_dtype (src);
  PhysnnDType dt = physnn_tensor_get_dtype (dst);
  guint32 n = (guint32) physnn_tensor_get_n_elements (src);

  if (physnn_device_get_kind (device) == PHYSNN_DEVICE_KIND_OPENCL) {
    if (st == PHYSNN_DTYPE_FLOAT16 && dt == PHYSNN_DTYPE_FLOAT32)
      return launch_1d (device, "physnn_half_to_float", n, src, dst, NULL,
          error);
    if (st == PHYSNN_DTYPE_FLOAT32 && dt == PHYSNN_DTYPE_FLOAT16)
      return launch_1d (device, "physnn_float_to_half", n, src, dst, NULL,
          error);
  }

  gconstpointer s = _physnn_tensor_host (src, PHYSNN_ACCESS_READ);
  gpointer d = _physnn_tensor_host (dst, PHYSNN_ACCESS_WRITE);
  for (guint32 i = 0; i < n; i++)
    _physnn_dtype_write (dt, d, i, _physnn_dtype_read (st, s, i));
  return TRUE;
}
