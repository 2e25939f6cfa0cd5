/* Unit tests of the anomaly detector: the Shewhart and CUSUM statistics
 * recomputed here from their textbook definitions, the noise estimate
 * (1.4826 × MAD), non-finite readings, region classification by nearest
 * sensor, and bad input. (Detection and false-alarm rates on simulated
 * faults: tests/pipelines/anomaly_eval.py.) */
#include <physnn/physnn.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

static PhysnnTensor *
vec (const gdouble *v, gsize n)
{
  gsize shape[1] = { n };
  return physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_FLOAT64, 1, shape, v, n, NULL);
}

/* With a known sigma, every score is max(S+/h, S-/h, |z|/spike) with
 * S± the clipped two-sided CUSUM, updated from the first buffer. */
static void
test_cusum (void)
{
  const guint ns = 3, nb = 60;
  const gdouble sigma = 0.02, k = 0.5, h = 8, spike = 5;
  g_autoptr (PhysnnAnomalyDetector) d = physnn_anomaly_detector_new (ns);
  g_object_set (d, "noise-sigma", sigma, NULL);
  gdouble sp[3] = { 0 }, sn[3] = { 0 };
  GRand *rand = g_rand_new_with_seed (3);
  for (guint b = 0; b < nb; b++) {
    gdouble r[3], p[3];
    for (guint i = 0; i < ns; i++) {
      p[i] = sin (0.1 * b + i);
      /* sensor 1 drifts upward from buffer 20; sensor 2 has one spike */
      r[i] = p[i] + g_rand_double_range (rand, -sigma, sigma) +
             (i == 1 && b >= 20 ? 0.01 * (b - 19) : 0) +
             (i == 2 && b == 40 ? 0.2 : 0);
    }
    g_autoptr (PhysnnTensor) rt = vec (r, ns);
    g_autoptr (PhysnnTensor) pt = vec (p, ns);
    g_assert_true (physnn_anomaly_detector_update (d, rt, pt, NULL));
    for (guint i = 0; i < ns; i++) {
      gdouble m = r[i] - p[i], z = m / sigma;
      gdouble zc = CLAMP (z, -spike, spike);
      sp[i] = MAX (0, sp[i] + zc - k);
      sn[i] = MAX (0, sn[i] - zc - k);
      gdouble score = MAX (MAX (sp[i], sn[i]) / h, fabs (z) / spike);
      g_assert_cmpfloat_with_epsilon (
          physnn_anomaly_detector_get_misfit (d, i), m, 1e-12);
      g_assert_cmpfloat_with_epsilon (
          physnn_anomaly_detector_get_score (d, i), score, 1e-9);
      g_assert_cmpint (
          physnn_anomaly_detector_get_flag (d, i), ==, score >= 1.0);
    }
  }
  g_rand_free (rand);
  g_assert_true (physnn_anomaly_detector_get_flag (d, 1));
  g_assert_cmpfloat (physnn_anomaly_detector_get_sigma (d), ==, sigma);
}

static int
cmp (const void *a, const void *b)
{
  gdouble x = *(const gdouble *)a, y = *(const gdouble *)b;
  return (x > y) - (x < y);
}

static gdouble
median (gdouble *v, gsize n)
{
  qsort (v, n, sizeof *v, cmp);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Estimated sigma: 1.4826 × MAD of the misfits of the buffers before. */
static void
test_noise_estimate (void)
{
  const guint ns = 4, nb = 10;
  g_autoptr (PhysnnAnomalyDetector) d = physnn_anomaly_detector_new (ns);
  g_object_set (d, "window", 32, "sigma-floor", 0.0, NULL);
  gdouble hist[40];
  guint n = 0;
  GRand *rand = g_rand_new_with_seed (9);
  for (guint b = 0; b < nb; b++) {
    gdouble r[4], p[4] = { 0, 0, 0, 0 };
    for (guint i = 0; i < ns; i++)
      r[i] = g_rand_double_range (rand, -0.05, 0.05);
    g_autoptr (PhysnnTensor) rt = vec (r, ns);
    g_autoptr (PhysnnTensor) pt = vec (p, ns);
    g_assert_true (physnn_anomaly_detector_update (d, rt, pt, NULL));
    if (n >= 3) {
      gdouble v[40], dev[40];
      memcpy (v, hist, n * sizeof (gdouble));
      gdouble med = median (v, n);
      for (guint j = 0; j < n; j++)
        dev[j] = fabs ((gfloat)hist[j] - (gfloat)med);
      gdouble want = 1.4826 * median (dev, n);
      g_assert_cmpfloat_with_epsilon (
          physnn_anomaly_detector_get_sigma (d), want, 1e-6);
    }
    for (guint i = 0; i < ns; i++)
      hist[n++] = (gfloat)r[i];
  }
  g_rand_free (rand);
}

/* A NaN reading flags its sensor at once; regions go to the nearest
 * sensor; a region is physics-inconsistent when its largest relative
 * residual passes the threshold. */
static void
test_regions_and_nan (void)
{
  g_autoptr (PhysnnAnomalyDetector) d = physnn_anomaly_detector_new (3);
  g_object_set (d, "noise-sigma", 0.01, NULL);
  gdouble r[3] = { 0.1, NAN, 0.3 }, p[3] = { 0.1, 0.2, 0.3 };
  g_autoptr (PhysnnTensor) rt = vec (r, 3);
  g_autoptr (PhysnnTensor) pt = vec (p, 3);
  g_assert_true (physnn_anomaly_detector_update (d, rt, pt, NULL));
  g_assert_false (physnn_anomaly_detector_get_flag (d, 0));
  g_assert_true (physnn_anomaly_detector_get_flag (d, 1));
  g_assert_cmpuint (physnn_anomaly_detector_get_n_flagged (d), ==, 1);

  gdouble sx[3] = { 0.2, 0.5, 0.8 }, qx[11], rel[11];
  for (guint q = 0; q < 11; q++) {
    qx[q] = q / 10.0;
    rel[q] = q == 9 ? 0.5 : 0.01; /* x = 0.9: nearest to the third sensor */
  }
  g_autoptr (PhysnnTensor) st = vec (sx, 3);
  g_autoptr (PhysnnTensor) qt = vec (qx, 11);
  g_autoptr (PhysnnTensor) relt = vec (rel, 11);
  g_assert_true (physnn_anomaly_detector_classify (d, st, qt, relt, 0.1, NULL));
  g_assert_cmpint (physnn_anomaly_detector_get_region_class (d, 0), ==,
      PHYSNN_REGION_CONSISTENT);
  g_assert_cmpint (physnn_anomaly_detector_get_region_class (d, 1), ==,
      PHYSNN_REGION_DATA_INCONSISTENT);
  g_assert_cmpint (physnn_anomaly_detector_get_region_class (d, 2), ==,
      PHYSNN_REGION_PHYSICS_INCONSISTENT);
  g_assert_cmpfloat (
      physnn_anomaly_detector_get_region_residual (d, 2), ==, 0.5);

  /* bad input is an error, named */
  GError *error = NULL;
  g_autoptr (PhysnnTensor) short_t = vec (p, 2);
  g_assert_false (physnn_anomaly_detector_update (d, short_t, pt, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE);
  g_assert_nonnull (strstr (error->message, "3 sensors"));
  g_clear_error (&error);
  g_autoptr (PhysnnTensor) qbad = vec (qx, 10);
  g_assert_false (
      physnn_anomaly_detector_classify (d, st, qbad, relt, 0.1, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE);
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/anomaly/cusum", test_cusum);
  g_test_add_func ("/anomaly/noise-estimate", test_noise_estimate);
  g_test_add_func ("/anomaly/regions-and-nan", test_regions_and_nan);
  return g_test_run ();
}
