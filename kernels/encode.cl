/* physnn — spike encoders (see lib/physnn/encode.c for the formulas).
 *
 * Bit-identical to the reference C path: the deterministic helpers below
 * repeat lib/physnn/snn-math-private.h operation for operation, using only
 * correctly rounded operations (+ − × fma), and contraction of a·b + c into
 * fma is off so that the compiler cannot change a rounding. */
#pragma OPENCL FP_CONTRACT OFF

ulong
physnn_mix64 (ulong z)
{
  z ^= z >> 30;
  z *= 0xbf58476d1ce4e5b9UL;
  z ^= z >> 27;
  z *= 0x94d049bb133111ebUL;
  z ^= z >> 31;
  return z;
}

float
physnn_uniform (ulong seed, ulong index, ulong step)
{
  ulong h = physnn_mix64 (seed ^ 0x9e3779b97f4a7c15UL);
  h = physnn_mix64 (h ^ index);
  h = physnn_mix64 (h ^ step);
  return (float) (uint) (h >> 40) * 5.9604644775390625e-8f;
}

float
physnn_det_recip (float b)
{
  float r = as_float (0x7ef311c7u - as_uint (b));
  for (int i = 0; i < 4; i++) {
    float e = fma (-b, r, 1.0f);
    r = fma (r, e, r);
  }
  return r;
}

float
physnn_det_log (float x)
{
  uint bits = as_uint (x);
  int e = (int) ((bits >> 23) & 0xffu) - 127;
  float m = as_float ((bits & 0x7fffffu) | 0x3f800000u);
  if (m > 1.41421356f) {
    m = m * 0.5f;
    e = e + 1;
  }
  float s = (m - 1.0f) * physnn_det_recip (m + 1.0f);
  float s2 = s * s;
  float p = fma (s2, 0.0769230769f, 0.0909090909f);
  p = fma (s2, p, 0.111111111f);
  p = fma (s2, p, 0.142857143f);
  p = fma (s2, p, 0.2f);
  p = fma (s2, p, 0.333333333f);
  p = fma (s2, p, 1.0f);
  float lm = 2.0f * s * p;
  float fe = (float) e;
  return fma (fe, 0.693147182f, fma (fe, -1.90465421e-9f, lm));
}

float
physnn_det_exp (float x)
{
  if (x < -87.0f)
    return 0.0f;
  if (x > 88.0f)
    x = 88.0f;
  float k = rint (x * 1.44269504f);
  float r = fma (-k, 0.693145752f, x);
  r = fma (-k, 1.42860677e-6f, r);
  float p = fma (r, 1.98412698e-4f, 1.38888889e-3f);
  p = fma (r, p, 8.33333333e-3f);
  p = fma (r, p, 4.16666667e-2f);
  p = fma (r, p, 0.166666667f);
  p = fma (r, p, 0.5f);
  p = fma (r, p, 1.0f);
  p = fma (r, p, 1.0f);
  int ki = (int) k;
  if (ki < -126)
    return 0.0f;
  return p * as_float ((uint) (ki + 127) << 23);
}

float
physnn_clamp01 (float v)
{
  return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
}

/* rate (mode 0), poisson (1), population (2): one work-item per output
 * neuron and step. */
__kernel void
physnn_encode_bernoulli (uint total, uint n, uint n_out, uint steps,
    uint per_input, uint mode, float a, float b, float mu0, float mu_step,
    float inv2s2, ulong seed, ulong step0, __global const float *x, uint xoff,
    __global uchar *out, uint ooff)
{
  uint gid = get_global_id (0);
  PHYSNN_GUARD (gid, total);
  uint s = gid / n_out, j = gid % n_out;
  uint i = j / per_input, m = j % per_input;
  float v = x[xoff + (s / steps) * n + i], prob;
  if (mode == 1u) {
    prob = v * a;
  } else if (mode == 2u) {
    float d = v - fma ((float) m, mu_step, mu0);
    float g = physnn_det_exp (-(d * d) * inv2s2);
    prob = physnn_clamp01 (fma (g, a, b));
  } else {
    prob = physnn_clamp01 (fma (v, a, b));
  }
  out[ooff + gid] = physnn_uniform (seed, j, step0 + s) < prob;
}

float
physnn_latency_time (uint linear, float tau, float thr, float thr_eps,
    float cap, float v)
{
  if (linear) {
    float t = -tau * (v - 1.0f);
    return t < cap ? t : cap;
  }
  float vc = v < thr_eps ? thr_eps : v;
  return tau * (physnn_det_log (vc) - physnn_det_log (vc - thr));
}

/* Per sample: the factor that stretches log spike times over the window
 * (normalize), or -1 for none. */
__kernel void
physnn_encode_latency_scale (uint n_samples, uint n, uint steps,
    uint log_norm, float a, float b, float tau, float thr, float thr_eps,
    __global const float *x, uint xoff, __global float *scale)
{
  uint k = get_global_id (0);
  PHYSNN_GUARD (k, n_samples);
  if (!log_norm) {
    scale[k] = -1.0f;
    return;
  }
  float mx = 0.0f;
  for (uint i = 0; i < n; i++) {
    float v = physnn_clamp01 (fma (x[xoff + k * n + i], a, b));
    float t = physnn_latency_time (0u, tau, thr, thr_eps, 0.0f, v);
    mx = t > mx ? t : mx;
  }
  scale[k] = mx > 0.0f ? (float) (steps - 1u) * physnn_det_recip (mx) : 0.0f;
}

/* One work-item per input and sample: writes the sample's whole window. */
__kernel void
physnn_encode_latency (uint total, uint n, uint steps, uint linear,
    uint clip, float a, float b, float tau, float thr, float thr_eps,
    float cap, __global const float *x, uint xoff,
    __global const float *scale, __global uchar *out, uint ooff)
{
  uint gid = get_global_id (0);
  PHYSNN_GUARD (gid, total);
  uint k = gid / n, i = gid % n;
  float v = physnn_clamp01 (fma (x[xoff + gid], a, b));
  float t = physnn_latency_time (linear, tau, thr, thr_eps, cap, v);
  float sc = scale[k];
  int step = -1;
  if (!(clip && v < thr)) {
    if (sc >= 0.0f)
      t = t * sc;
    float r = rint (t);
    if (r <= (float) (steps - 1u))
      step = (int) r;
  }
  for (uint s = 0; s < steps; s++)
    out[ooff + (k * steps + s) * n + i] = (int) s == step;
}

/* delta and sigma-delta: one work-item per input, sequential in time. */
__kernel void
physnn_encode_delta (uint n, uint n_samples, uint steps, uint sigma,
    uint off, uint pad_first, float thr, __global const float *x, uint xoff,
    __global float *prev, __global float *res, __global uchar *out,
    uint ooff)
{
  uint i = get_global_id (0);
  PHYSNN_GUARD (i, n);
  uint planes = off ? 2u : 1u;
  float pv = prev[i], r = res[i];
  for (uint k = 0; k < n_samples; k++) {
    float v = x[xoff + k * n + i];
    if (k == 0u && pad_first)
      pv = v;
    uint s0 = k * steps;
    for (uint s = 0; s < steps; s++) {
      out[ooff + ((s0 + s) * planes) * n + i] = 0;
      if (off)
        out[ooff + ((s0 + s) * planes + 1u) * n + i] = 0;
    }
    if (!sigma) {
      float d = v - pv;
      out[ooff + (s0 * planes) * n + i] = d >= thr;
      if (off)
        out[ooff + (s0 * planes + 1u) * n + i] = d <= -thr;
    } else {
      r = (v - pv) + r;
      for (uint s = 0; s < steps; s++) {
        if (r >= thr) {
          out[ooff + ((s0 + s) * planes) * n + i] = 1;
          r = r - thr;
        } else if (off && r <= -thr) {
          out[ooff + ((s0 + s) * planes + 1u) * n + i] = 1;
          r = r + thr;
        } else {
          break;
        }
      }
      if (!off && r < 0.0f)
        r = 0.0f;
    }
    pv = v;
  }
  prev[i] = pv;
  res[i] = r;
}
