/* physnn — elementary tensor kernels: the smallest end-to-end checks of the
 * OpenCL path and the FP16 storage conversions. */

/* y = alpha * x + y, float32. Offsets are in elements. */
__kernel void
physnn_axpy_f32 (const uint n, const float alpha,
    __global const float *x, const uint x_off,
    __global float *y, const uint y_off)
{
  size_t i = get_global_id (0);
  PHYSNN_GUARD (i, n);
  y[y_off + i] = fma (alpha, x[x_off + i], y[y_off + i]);
}

/* float16 storage -> float32, exact. */
__kernel void
physnn_half_to_float (const uint n, __global const half *src, const uint s_off,
    __global float *dst, const uint d_off)
{
  size_t i = get_global_id (0);
  PHYSNN_GUARD (i, n);
  dst[d_off + i] = vload_half (s_off + i, src);
}

/* float32 -> float16 storage, round to nearest even (vstore_half_rte). */
__kernel void
physnn_float_to_half (const uint n, __global const float *src,
    const uint s_off, __global half *dst, const uint d_off)
{
  size_t i = get_global_id (0);
  PHYSNN_GUARD (i, n);
  vstore_half_rte (src[s_off + i], d_off + i, dst);
}
