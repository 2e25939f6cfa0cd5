/* Unit tests: spike encoders.
 *
 * Formulas are checked against closed forms computed here in double
 * precision with libm (latency, delta, sigma-delta, population, the
 * deterministic log/exp/reciprocal), random encoders against binomial
 * bounds; OpenCL against the C path bit for bit, over several calls so the
 * carried state is covered; buffer boundaries must not change a stream.
 * snnTorch and Norse themselves are compared in
 * tests/crosscheck/encode_vs_snntorch.py. */
#include <physnn/physnn.h>
#include <physnn/snn-math-private.h>

#include <math.h>
#include <string.h>

static PhysnnDevice *
cpu (void)
{
  return physnn_device_new ("cpu", NULL);
}

static PhysnnDevice *
opencl_or_skip (void)
{
  g_autoptr (GError) error = NULL;
  PhysnnDevice *dev = physnn_device_new ("opencl", &error);
  if (dev == NULL)
    g_test_skip_printf ("no OpenCL device: %s", error->message);
  return dev;
}

static PhysnnTensor *
samples (guint n_samples, guint n, const gfloat *values)
{
  gsize shape[2] = { n_samples, n };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  gfloat *p = physnn_tensor_map (t, PHYSNN_MAP_WRITE, NULL);
  memcpy (p, values, sizeof (gfloat) * n_samples * n);
  physnn_tensor_unmap (t);
  return t;
}

/* A smooth pseudo-random walk in [0, 1]: deterministic test input. */
static gfloat *
walk (guint n_samples, guint n, guint32 seed)
{
  gfloat *v = g_new (gfloat, (gsize)n_samples * n);
  GRand *r = g_rand_new_with_seed (seed);
  for (guint i = 0; i < n; i++) {
    gdouble x = g_rand_double (r);
    for (guint k = 0; k < n_samples; k++) {
      x += g_rand_double_range (r, -0.15, 0.15);
      x = CLAMP (x, 0.0, 1.0);
      v[(gsize)k * n + i] = (gfloat)x;
    }
  }
  g_rand_free (r);
  return v;
}

static guint8 *
encode (PhysnnEncoder *enc, PhysnnDevice *dev, guint n_samples, guint n,
    const gfloat *x, gsize *n_out)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnTensor) in = samples (n_samples, n, x);
  g_autoptr (PhysnnTensor) out =
      physnn_encoder_encode_new (enc, dev, in, n_samples, &error);
  g_assert_no_error (error);
  gsize size;
  const guint8 *p = physnn_tensor_map (out, PHYSNN_MAP_READ, &size);
  guint8 *copy = g_memdup2 (p, size);
  physnn_tensor_unmap (out);
  *n_out = size;
  return copy;
}

/* ------------------------------------------------------------------------ */

static void
test_det_math (void)
{
  gdouble worst_log = 0, worst_exp = 0, worst_recip = 0;
  for (gint k = -2000; k <= 2000; k++) {
    gdouble x = pow (10.0, k / 200.0); /* 1e-10 … 1e10 */
    gfloat xf = (gfloat)x;
    gdouble l = _physnn_det_log (xf), lr = log ((gdouble)xf);
    worst_log = MAX (worst_log, fabs (l - lr) / MAX (fabs (lr), 1.0));
    gdouble rr = 1.0 / (gdouble)xf;
    worst_recip = MAX (worst_recip, fabs (_physnn_det_recip (xf) - rr) / rr);
  }
  for (gint k = -8600; k <= 0; k++) {
    gfloat xf = k / 100.0f;
    gdouble e = _physnn_det_exp (xf), er = exp ((gdouble)xf);
    worst_exp = MAX (worst_exp, fabs (e - er) / er);
  }
  g_test_message ("deterministic log %.2g, exp %.2g, 1/x %.2g (relative)",
      worst_log, worst_exp, worst_recip);
  g_assert_cmpfloat (worst_log, <, 3e-7);
  g_assert_cmpfloat (worst_exp, <, 3e-7);
  g_assert_cmpfloat (worst_recip, <, 1.2e-7);
}

/* The counter-based generator: uniform, and independent of the order in
 * which (index, step) pairs are drawn. */
static void
test_uniform (void)
{
  guint bins[16] = { 0 };
  const guint n = 1 << 16;
  gdouble sum = 0;
  for (guint i = 0; i < n; i++) {
    gfloat u = _physnn_uniform (42, i % 256, i / 256);
    g_assert_cmpfloat (u, >=, 0.0f);
    g_assert_cmpfloat (u, <, 1.0f);
    bins[(guint)(u * 16)]++;
    sum += u;
  }
  gdouble chi2 = 0, e = n / 16.0;
  for (guint b = 0; b < 16; b++)
    chi2 += (bins[b] - e) * (bins[b] - e) / e;
  /* 15 degrees of freedom: P(chi2 > 37.7) = 0.001 */
  g_assert_cmpfloat (chi2, <, 37.7);
  g_assert_cmpfloat (fabs (sum / n - 0.5), <, 0.005);
  g_assert_cmpfloat (_physnn_uniform (1, 2, 3), !=, _physnn_uniform (2, 2, 3));
  g_assert_cmpfloat (_physnn_uniform (1, 2, 3), !=, _physnn_uniform (1, 3, 2));
}

static void
test_rate_statistics (void)
{
  g_autoptr (PhysnnDevice) dev = cpu ();
  g_autoptr (PhysnnEncoder) enc = physnn_encoder_new (PHYSNN_ENCODE_RATE);
  const gfloat x[5] = { 0.0f, 0.1f, 0.45f, 0.9f, 1.0f };
  const guint steps = 20000;
  gsize size;
  g_object_set (enc, "num-steps", steps, "gain", 2.0, "offset", -0.5, "seed",
      (guint64)7, NULL);
  g_autofree guint8 *s = encode (enc, dev, 1, 5, x, &size);
  g_assert_cmpuint (size, ==, steps * 5);
  for (guint i = 0; i < 5; i++) {
    gdouble p = CLAMP (x[i] * 2.0 - 0.5, 0.0, 1.0), count = 0;
    for (guint t = 0; t < steps; t++)
      count += s[t * 5 + i];
    gdouble sd = sqrt (steps * p * (1 - p));
    g_test_message ("p %.3f: %.0f spikes in %u steps", p, count, steps);
    /* 5 standard deviations; exact at p = 0 and p = 1 */
    g_assert_cmpfloat (fabs (count - steps * p), <=, 5 * sd + 1e-9);
  }
  g_assert_cmpuint (physnn_encoder_get_spike_count (enc), >, 0);
  g_assert_cmpuint (physnn_encoder_get_step (enc), ==, steps);
}

static void
test_poisson_statistics (void)
{
  g_autoptr (PhysnnDevice) dev = cpu ();
  g_autoptr (PhysnnEncoder) enc = physnn_encoder_new (PHYSNN_ENCODE_POISSON);
  const gfloat x[3] = { 0.0f, 0.5f, 2.0f };
  const guint steps = 40000;
  gsize size;
  g_object_set (enc, "num-steps", steps, "f-max", 200.0, "dt", 1e-3, NULL);
  g_autofree guint8 *s = encode (enc, dev, 1, 3, x, &size);
  for (guint i = 0; i < 3; i++) {
    gdouble p = MIN (1e-3 * 200.0 * x[i], 1.0), count = 0;
    for (guint t = 0; t < steps; t++)
      count += s[t * 3 + i];
    g_assert_cmpfloat (
        fabs (count - steps * p), <=, 5 * sqrt (steps * p * (1 - p)) + 1e-9);
  }
}

static gdouble
half_distance (gdouble t)
{
  gdouble f = t - floor (t);
  return fabs (f - 0.5);
}

/* snnTorch's latency formulas, evaluated here in double. */
static void
test_latency_formula (void)
{
  g_autoptr (PhysnnDevice) dev = cpu ();
  const guint n = 200, steps = 12;
  g_autofree gfloat *x = g_new (gfloat, n);
  for (guint i = 0; i < n; i++)
    x[i] = i / (gfloat)(n - 1);
  for (guint variant = 0; variant < 4; variant++) {
    gboolean linear = (variant & 1) != 0, normalize = (variant & 2) != 0;
    g_autoptr (PhysnnEncoder) enc = physnn_encoder_new (PHYSNN_ENCODE_LATENCY);
    gdouble tau = 3.0, thr = 0.05;
    gsize size;
    g_object_set (enc, "num-steps", steps, "tau", tau, "threshold", thr,
        "linear", linear, "normalize", normalize, "clip", variant == 1, NULL);
    g_autofree guint8 *s = encode (enc, dev, 1, n, x, &size);
    gdouble t[200], mx = 0;
    for (guint i = 0; i < n; i++) {
      gdouble v = x[i];
      if (linear) {
        gdouble ta = normalize ? steps - 1 : tau;
        t[i] = MIN (-ta * (v - 1), -ta * (thr - 1));
      } else {
        gdouble vc = MAX (v, thr + 1e-7);
        t[i] = tau * log (vc / (vc - thr));
      }
      mx = MAX (mx, t[i]);
    }
    guint checked = 0;
    for (guint i = 0; i < n; i++) {
      gdouble ti = (normalize && !linear) ? t[i] * (steps - 1) / mx : t[i];
      gint want = (gint)nearbyint (ti);
      if (want > (gint)steps - 1 || (variant == 1 && x[i] < thr))
        want = -1;
      gint got = -1, count = 0;
      for (guint k = 0; k < steps; k++)
        if (s[k * n + i]) {
          got = (gint)k;
          count++;
        }
      g_assert_cmpint (count, <=, 1);
      if (half_distance (ti) < 1e-4)
        continue; /* float vs double rounding: either is right */
      checked++;
      if (got != want)
        g_error ("latency variant %u, x %g: step %d, expected %d (t %g)",
            variant, x[i], got, want, ti);
    }
    g_assert_cmpuint (checked, >, n - 5);
  }
}

static void
test_delta_formula (void)
{
  g_autoptr (PhysnnDevice) dev = cpu ();
  const guint n = 16, ns = 40, steps = 3;
  g_autofree gfloat *x = walk (ns, n, 3);
  for (guint variant = 0; variant < 4; variant++) {
    gboolean off = (variant & 1) != 0, pad = (variant & 2) != 0;
    g_autoptr (PhysnnEncoder) enc = physnn_encoder_new (PHYSNN_ENCODE_DELTA);
    gsize size;
    g_object_set (enc, "num-steps", steps, "threshold", 0.05, "off-spikes", off,
        "padding", pad, NULL);
    /* two calls: the previous sample carries over */
    g_autofree guint8 *a = encode (enc, dev, ns / 2, n, x, &size);
    g_autofree guint8 *b = encode (enc, dev, ns / 2, n, x + ns / 2 * n, &size);
    guint planes = off ? 2 : 1;
    gsize half = size;
    for (guint k = 0; k < ns; k++) {
      const guint8 *o = k < ns / 2 ? a : b;
      guint kk = k % (ns / 2);
      for (guint i = 0; i < n; i++) {
        gfloat prev = k == 0 ? (pad ? x[i] : 0.0f) : x[(k - 1) * n + i];
        gfloat d = x[k * n + i] - prev;
        for (guint s = 0; s < steps; s++) {
          gsize base = ((gsize)(kk * steps + s) * planes) * n + i;
          g_assert_cmpuint (base, <, half);
          g_assert_cmpuint (o[base], ==, s == 0 && d >= 0.05f);
          if (off)
            g_assert_cmpuint (o[base + n], ==, s == 0 && d <= -0.05f);
        }
      }
    }
  }
}

/* Sigma-delta: the spikes, times the threshold, reconstruct the signal to
 * within one threshold when the steps suffice, whatever the buffers. */
static void
test_sigma_delta_reconstruction (void)
{
  g_autoptr (PhysnnDevice) dev = cpu ();
  const guint n = 8, ns = 60, steps = 4;
  const gdouble thr = 0.1;
  g_autofree gfloat *x = walk (ns, n, 11);
  g_autoptr (PhysnnEncoder) enc =
      physnn_encoder_new (PHYSNN_ENCODE_SIGMA_DELTA);
  g_object_set (enc, "num-steps", steps, "threshold", thr, "off-spikes", TRUE,
      "padding", TRUE, NULL);
  gdouble recon[8] = { 0 };
  for (guint k = 0; k < ns; k++) {
    gsize size;
    g_autofree guint8 *o = encode (enc, dev, 1, n, x + k * n, &size);
    for (guint i = 0; i < n; i++) {
      for (guint s = 0; s < steps; s++)
        recon[i] += thr * ((gint)o[(s * 2) * n + i] - o[(s * 2 + 1) * n + i]);
      /* the walk moves < 0.15 + carry per sample, 4 steps of 0.1 suffice */
      g_assert_cmpfloat (
          fabs (recon[i] - (x[k * n + i] - x[i])), <, thr + 1e-5);
    }
  }
}

static void
test_population_formula (void)
{
  g_autoptr (PhysnnDevice) dev = cpu ();
  g_autoptr (PhysnnEncoder) enc = physnn_encoder_new (PHYSNN_ENCODE_POPULATION);
  const gfloat x[2] = { 0.3f, 0.8f };
  const guint steps = 20000, m = 5;
  gsize size;
  g_object_set (enc, "num-steps", steps, "population-size", m, "population-min",
      0.0, "population-max", 1.0, "population-sigma", 0.2, "seed", (guint64)3,
      NULL);
  g_assert_cmpuint (physnn_encoder_get_outputs_per_input (enc), ==, m);
  g_autofree guint8 *s = encode (enc, dev, 1, 2, x, &size);
  g_assert_cmpuint (size, ==, steps * 2 * m);
  for (guint i = 0; i < 2; i++)
    for (guint f = 0; f < m; f++) {
      gdouble mu = f / (gdouble)(m - 1), d = x[i] - mu;
      gdouble p = exp (-d * d / (2 * 0.04)), count = 0;
      for (guint t = 0; t < steps; t++)
        count += s[t * 2 * m + i * m + f];
      g_assert_cmpfloat (
          fabs (count - steps * p), <=, 5 * sqrt (steps * p * (1 - p)) + 2);
    }
}

/* ------------------------------------------------------------------------ */

static void
configure (PhysnnEncoder *enc, guint method)
{
  g_object_set (enc, "num-steps", 5, "seed", (guint64)99, "gain", 1.3, "offset",
      -0.1, "threshold", method == PHYSNN_ENCODE_LATENCY ? 0.02 : 0.04, "tau",
      2.0, "off-spikes", TRUE, "normalize", TRUE, "population-size", 4, "f-max",
      300.0, NULL);
}

/* Encoding a stream in one call or in pieces gives the same spikes. */
static void
test_buffer_invariance (void)
{
  g_autoptr (PhysnnDevice) dev = cpu ();
  const guint n = 10, ns = 12;
  g_autofree gfloat *x = walk (ns, n, 5);
  for (guint method = 0; method <= PHYSNN_ENCODE_POPULATION; method++) {
    g_autoptr (PhysnnEncoder) whole = physnn_encoder_new (method);
    g_autoptr (PhysnnEncoder) parts = physnn_encoder_new (method);
    configure (whole, method);
    configure (parts, method);
    gsize size, s1, s2;
    g_autofree guint8 *w = encode (whole, dev, ns, n, x, &size);
    g_autofree guint8 *a = encode (parts, dev, 5, n, x, &s1);
    g_autofree guint8 *b = encode (parts, dev, ns - 5, n, x + 5 * n, &s2);
    g_assert_cmpuint (s1 + s2, ==, size);
    g_assert_cmpmem (w, s1, a, s1);
    g_assert_cmpmem (w + s1, s2, b, s2);
  }
}

static void
test_opencl_identical (void)
{
  g_autoptr (PhysnnDevice) cl = opencl_or_skip ();
  if (cl == NULL)
    return;
  g_autoptr (PhysnnDevice) ref = cpu ();
  const guint n = 300, ns = 6;
  g_autofree gfloat *x = walk (ns * 3, n, 8);
  guint64 total = 0;
  for (guint method = 0; method <= PHYSNN_ENCODE_POPULATION; method++) {
    for (guint linear = 0; linear < 2; linear++) {
      if (linear && method != PHYSNN_ENCODE_LATENCY)
        continue;
      g_autoptr (PhysnnEncoder) a = physnn_encoder_new (method);
      g_autoptr (PhysnnEncoder) b = physnn_encoder_new (method);
      configure (a, method);
      configure (b, method);
      g_object_set (a, "linear", (gboolean)linear, NULL);
      g_object_set (b, "linear", (gboolean)linear, NULL);
      for (guint call = 0; call < 3; call++) {
        gsize sa, sb;
        g_autofree guint8 *oa = encode (a, ref, ns, n, x + call * ns * n, &sa);
        g_autofree guint8 *ob = encode (b, cl, ns, n, x + call * ns * n, &sb);
        g_assert_cmpmem (oa, sa, ob, sb);
      }
      g_assert_cmpuint (physnn_encoder_get_spike_count (a), ==,
          physnn_encoder_get_spike_count (b));
      g_assert_cmpuint (physnn_encoder_get_spike_count (a), >, 0);
      total += physnn_encoder_get_spike_count (a);
    }
  }
  g_test_message ("%" G_GUINT64_FORMAT " spikes identical on %s", total,
      physnn_device_get_name (cl));
}

static void
test_errors (void)
{
  g_autoptr (PhysnnDevice) dev = cpu ();
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnEncoder) enc = physnn_encoder_new (PHYSNN_ENCODE_RATE);
  gfloat bad[3] = { 0.1f, NAN, 0.3f };
  g_autoptr (PhysnnTensor) in = samples (1, 3, bad);
  g_autoptr (PhysnnTensor) out =
      physnn_encoder_encode_new (enc, dev, in, 1, &error);
  g_assert_null (out);
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC);
  g_assert_nonnull (strstr (error->message, "NaN"));
  g_clear_error (&error);

  g_object_set (enc, "method", PHYSNN_ENCODE_POPULATION, "population-min", 1.0,
      "population-max", 0.5, NULL);
  g_assert_false (physnn_encoder_validate (enc, &error));
  g_assert_nonnull (strstr (error->message, "population-max"));
  g_clear_error (&error);

  g_object_set (enc, "method", PHYSNN_ENCODE_LATENCY, "threshold", 1.5, NULL);
  g_assert_false (physnn_encoder_validate (enc, &error));
  g_assert_nonnull (strstr (error->message, "threshold"));
  g_clear_error (&error);

  /* delta state is per input: a different width needs a reset */
  g_object_set (enc, "method", PHYSNN_ENCODE_DELTA, "threshold", 0.1, NULL);
  gfloat ok[4] = { 0.1f, 0.2f, 0.3f, 0.4f };
  g_autoptr (PhysnnTensor) three = samples (1, 3, ok);
  g_autoptr (PhysnnTensor) four = samples (1, 4, ok);
  g_autoptr (PhysnnTensor) o1 =
      physnn_encoder_encode_new (enc, dev, three, 1, &error);
  g_assert_no_error (error);
  g_autoptr (PhysnnTensor) o2 =
      physnn_encoder_encode_new (enc, dev, four, 1, &error);
  g_assert_null (o2);
  g_assert_nonnull (strstr (error->message, "reset"));
  g_clear_error (&error);
  physnn_encoder_reset (enc);
  g_autoptr (PhysnnTensor) o3 =
      physnn_encoder_encode_new (enc, dev, four, 1, &error);
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/encode/det-math", test_det_math);
  g_test_add_func ("/encode/uniform", test_uniform);
  g_test_add_func ("/encode/rate", test_rate_statistics);
  g_test_add_func ("/encode/poisson", test_poisson_statistics);
  g_test_add_func ("/encode/latency", test_latency_formula);
  g_test_add_func ("/encode/delta", test_delta_formula);
  g_test_add_func ("/encode/sigma-delta", test_sigma_delta_reconstruction);
  g_test_add_func ("/encode/population", test_population_formula);
  g_test_add_func ("/encode/buffer-invariance", test_buffer_invariance);
  g_test_add_func ("/encode/opencl-identical", test_opencl_identical);
  g_test_add_func ("/encode/errors", test_errors);
  return g_test_run ();
}
