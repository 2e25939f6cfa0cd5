/* physnn — quantization kernels: ONNX QuantizeLinear / DequantizeLinear on
 * activations, and dequantization of packed weight storage.
 *
 * Scales and zero points are per tensor (channels == 1) or per axis: the
 * parameters of element i are at (i / inner) % channels. Quantized values
 * travel as floats holding integers (exact up to 2^24), so the node-by-node
 * executor keeps one buffer type.
 */

/* y = saturate (round_half_even (x / scale) + zero_point); rint rounds half
 * to even in the default rounding mode, as ONNX requires. */
__kernel void
physnn_quantize (const uint n, __global const float *x, __global float *y,
    __global const float *scale, __global const float *zero, const uint inner,
    const uint channels, const float qmin, const float qmax)
{
  const uint i = get_global_id (0);
  PHYSNN_GUARD (i, n);
  const uint c = channels > 1 ? (i / inner) % channels : 0;
  const float q = rint (x[i] / scale[c]) + zero[c];
  y[i] = isnan (q) ? zero[c] : clamp (q, qmin, qmax);
}

/* y = (x - zero_point) * scale */
__kernel void
physnn_dequantize (const uint n, __global const float *x, __global float *y,
    __global const float *scale, __global const float *zero, const uint inner,
    const uint channels)
{
  const uint i = get_global_id (0);
  PHYSNN_GUARD (i, n);
  const uint c = channels > 1 ? (i / inner) % channels : 0;
  y[i] = (x[i] - zero[c]) * scale[c];
}

/* One stored integer of packed weights: bits is 8 or 4 (two per byte, the
 * first in the low nibble, as ONNX INT4/UINT4), signed or not. */
static inline float
physnn_unpack (__global const uchar *q, const uint i, const int bits,
    const int sgn)
{
  int v;
  if (bits == 4) {
    const uint b = q[i >> 1];
    v = (i & 1) ? (int) (b >> 4) : (int) (b & 15u);
    if (sgn)
      v -= (v & 8) << 1;
  } else {
    v = sgn ? (int) (char) q[i] : (int) q[i];
  }
  return (float) v;
}

/* Dequantizes packed int8/uint8/int4/uint4 weights into float32. */
__kernel void
physnn_dequantize_packed (const uint n, __global const uchar *q,
    const int bits, const int sgn, __global float *y,
    __global const float *scale, __global const float *zero, const uint inner,
    const uint channels)
{
  const uint i = get_global_id (0);
  PHYSNN_GUARD (i, n);
  const uint c = channels > 1 ? (i / inner) % channels : 0;
  y[i] = (physnn_unpack (q, i, bits, sgn) - zero[c]) * scale[c];
}
