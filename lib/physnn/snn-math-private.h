/* physnn — deterministic arithmetic shared by the spiking code's reference C
 * path and its OpenCL kernels.
 *
 * The C path is the golden model, and the OpenCL kernels must produce the
 * same spikes bit for bit. Only operations that both C and OpenCL C round
 * correctly are used: +, −, ×, fma and integer arithmetic. Division, log and
 * exp are not correctly rounded in OpenCL (2.5 to 4 ulp), so this header
 * builds them from those operations. kernels/encode.cl holds the same
 * functions, operation for operation; tests/unit/test-encode.c checks that
 * both give identical bits.
 *
 * Random numbers come from a counter-based generator: a hash of
 * (seed, neuron index, time step) with the splitmix64 finaliser, so that a
 * spike never depends on evaluation order, device or buffer boundaries.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>
#include <math.h>
#include <string.h>

G_BEGIN_DECLS

static inline guint64
_physnn_mix64 (guint64 z)
{
  z ^= z >> 30;
  z *= G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z ^= z >> 27;
  z *= G_GUINT64_CONSTANT (0x94d049bb133111eb);
  z ^= z >> 31;
  return z;
}

/* Uniform in [0, 1) on a grid of 2^-24: exactly representable in float. */
static inline gfloat
_physnn_uniform (guint64 seed, guint64 index, guint64 step)
{
  guint64 h = _physnn_mix64 (seed ^ G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));
  h = _physnn_mix64 (h ^ index);
  h = _physnn_mix64 (h ^ step);
  return (gfloat)(guint32)(h >> 40) * 5.9604644775390625e-8f;
}

static inline guint32
_physnn_f2u (gfloat f)
{
  guint32 u;
  memcpy (&u, &f, sizeof u);
  return u;
}

static inline gfloat
_physnn_u2f (guint32 u)
{
  gfloat f;
  memcpy (&f, &u, sizeof f);
  return f;
}

/* 1/b for positive normal b, within an ulp: a bit-trick first guess and four
 * Newton steps r ← r + r(1 − b r). */
static inline gfloat
_physnn_det_recip (gfloat b)
{
  gfloat r = _physnn_u2f (0x7ef311c7u - _physnn_f2u (b));
  for (int i = 0; i < 4; i++) {
    gfloat e = fmaf (-b, r, 1.0f);
    r = fmaf (r, e, r);
  }
  return r;
}

/* Natural logarithm of a positive normal x: x = m·2^e with m in
 * [√½, √2), ln m = 2 atanh(s), s = (m − 1)/(m + 1), |s| < 0.172. */
static inline gfloat
_physnn_det_log (gfloat x)
{
  guint32 bits = _physnn_f2u (x);
  gint e = (gint)((bits >> 23) & 0xffu) - 127;
  gfloat m = _physnn_u2f ((bits & 0x7fffffu) | 0x3f800000u);
  if (m > 1.41421356f) {
    m = m * 0.5f;
    e = e + 1;
  }
  gfloat s = (m - 1.0f) * _physnn_det_recip (m + 1.0f);
  gfloat s2 = s * s;
  gfloat p = fmaf (s2, 0.0769230769f, 0.0909090909f);
  p = fmaf (s2, p, 0.111111111f);
  p = fmaf (s2, p, 0.142857143f);
  p = fmaf (s2, p, 0.2f);
  p = fmaf (s2, p, 0.333333333f);
  p = fmaf (s2, p, 1.0f);
  gfloat lm = 2.0f * s * p;
  gfloat fe = (gfloat)e;
  return fmaf (fe, 0.693147182f, fmaf (fe, -1.90465421e-9f, lm));
}

/* e^x: x = k ln2 + r with |r| ≤ ln2/2, a degree-7 Taylor polynomial for
 * e^r, then 2^k from the exponent bits. Underflows to 0 below −87. */
static inline gfloat
_physnn_det_exp (gfloat x)
{
  if (x < -87.0f)
    return 0.0f;
  if (x > 88.0f)
    x = 88.0f;
  gfloat k = rintf (x * 1.44269504f);
  gfloat r = fmaf (-k, 0.693145752f, x);
  r = fmaf (-k, 1.42860677e-6f, r);
  gfloat p = fmaf (r, 1.98412698e-4f, 1.38888889e-3f);
  p = fmaf (r, p, 8.33333333e-3f);
  p = fmaf (r, p, 4.16666667e-2f);
  p = fmaf (r, p, 0.166666667f);
  p = fmaf (r, p, 0.5f);
  p = fmaf (r, p, 1.0f);
  p = fmaf (r, p, 1.0f);
  gint ki = (gint)k;
  if (ki < -126)
    return 0.0f;
  return p * _physnn_u2f ((guint32)(ki + 127) << 23);
}

static inline gfloat
_physnn_clamp01 (gfloat v)
{
  return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
}

G_END_DECLS
