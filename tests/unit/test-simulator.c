/* Unit tests: PhysnnSimulator against exact solutions (heat 1-D and 2-D,
 * standing wave, discrete decay rates, a Cole–Hopf Burgers reference) and
 * PhysnnSensors (noise statistics, faults and their mask, determinism).
 * tests/crosscheck/burgers_colehopf.py checks Burgers through Python too. */
#include <physnn/physnn.h>

#include <math.h>
#include <string.h>

/* Relative L2 distance between the field and f(x, y) on the output grid. */
static gdouble
relative_l2 (PhysnnSimulator *sim,
    gdouble (*f) (gdouble x, gdouble y, gdouble t, gpointer data),
    gpointer data)
{
  gsize n = 0;
  const gdouble *u = physnn_simulator_peek_field (sim, &n);
  gsize nx = physnn_simulator_get_grid_size (sim, 0);
  gsize ny = physnn_simulator_get_grid_size (sim, 1);
  gboolean two_d = physnn_simulator_get_ndim (sim) == 2;
  gdouble t = physnn_simulator_get_time (sim), num = 0.0, den = 0.0;

  g_assert_nonnull (u);
  g_assert_cmpuint (n, ==, nx * ny);
  for (gsize j = 0; j < ny; j++) {
    gdouble y = two_d ? physnn_simulator_get_coordinate (sim, 1, j) : 0.0;
    for (gsize i = 0; i < nx; i++) {
      gdouble x = physnn_simulator_get_coordinate (sim, 0, i);
      gdouble e = f (x, y, t, data);
      num += (u[j * nx + i] - e) * (u[j * nx + i] - e);
      den += e * e;
    }
  }
  return sqrt (num / den);
}

static void
advance_ok (PhysnnSimulator *sim, gdouble t)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (physnn_simulator_advance (sim, t, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (physnn_simulator_get_time (sim), ==, t);
}

static void
reset_ok (PhysnnSimulator *sim)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (physnn_simulator_reset (sim, &error));
  g_assert_no_error (error);
}

/* ------------------------------------------------------------------------ */
/* Heat */

static gdouble
heat_1d_exact (gdouble x, gdouble y, gdouble t, gpointer data)
{
  gdouble alpha = *(gdouble *)data;
  return exp (-alpha * G_PI * G_PI * t) * sin (G_PI * x);
}

static void
test_heat_1d (void)
{
  g_autoptr (PhysnnSimulator) sim = physnn_simulator_new (PHYSNN_PDE_HEAT_1D);
  gdouble alpha = 0.1;
  const gdouble times[] = { 0.05, 0.25, 0.5, 1.0, 2.0 };

  reset_ok (sim);
  g_assert_cmpuint (physnn_simulator_get_grid_size (sim, 0), ==, 256);
  g_assert_cmpuint (physnn_simulator_get_grid_size (sim, 1), ==, 1);
  g_assert_cmpfloat (relative_l2 (sim, heat_1d_exact, &alpha), <, 1e-15);
  for (guint k = 0; k < G_N_ELEMENTS (times); k++) {
    advance_ok (sim, times[k]);
    gdouble err = relative_l2 (sim, heat_1d_exact, &alpha);
    g_test_message (
        "heat-1d, 256 points: t = %g s, relative L2 = %.2e", times[k], err);
    g_assert_cmpfloat (err, <=, 1e-4);
  }
  g_assert_cmpuint (physnn_simulator_get_steps (sim), >, 0);

  /* Advancing to the current time does nothing. */
  guint64 steps = physnn_simulator_get_steps (sim);
  advance_ok (sim, 2.0);
  g_assert_cmpuint (physnn_simulator_get_steps (sim), ==, steps);
}

static gdouble
heat_2d_exact (gdouble x, gdouble y, gdouble t, gpointer data)
{
  gdouble alpha = *(gdouble *)data;
  return exp (-2.0 * alpha * G_PI * G_PI * t) * sin (G_PI * x) * sin (G_PI * y);
}

static void
test_heat_2d (void)
{
  g_autoptr (PhysnnSimulator) sim = physnn_simulator_new (PHYSNN_PDE_HEAT_2D);
  gdouble alpha = 0.1;
  const gdouble times[] = { 0.1, 0.5, 1.0 };

  reset_ok (sim);
  g_assert_cmpuint (physnn_simulator_get_ndim (sim), ==, 2);
  g_assert_cmpuint (physnn_simulator_get_grid_size (sim, 0), ==, 64);
  g_assert_cmpuint (physnn_simulator_get_grid_size (sim, 1), ==, 64);
  for (guint k = 0; k < G_N_ELEMENTS (times); k++) {
    advance_ok (sim, times[k]);
    gdouble err = relative_l2 (sim, heat_2d_exact, &alpha);
    g_test_message (
        "heat-2d, 64 x 64: t = %g s, relative L2 = %.2e", times[k], err);
    /* The O(h²) spatial error of the 5-point Laplacian, 2·π²h²/12 in the
     * decay rate, dominates: 4e-4 · t at h = 1/63. */
    g_assert_cmpfloat (err, <=, 1e-3);
  }

  /* The field is [ny, nx] with y outermost: a non-square grid shows it. */
  g_object_set (sim, "nx", 40, "ny", 20, "y-max", 2.0, NULL);
  reset_ok (sim);
  g_autoptr (PhysnnTensor) field = physnn_simulator_get_field (sim);
  g_assert_cmpuint (physnn_tensor_get_rank (field), ==, 2);
  g_assert_cmpuint (physnn_tensor_get_dim (field, 0), ==, 20);
  g_assert_cmpuint (physnn_tensor_get_dim (field, 1), ==, 40);
  g_assert_cmpint (physnn_tensor_get_dtype (field), ==, PHYSNN_DTYPE_FLOAT64);
  /* u(0) = sin(πx) sin(πy/2) on [0,1] × [0,2]: row j = 10 is y = 20/19. */
  gdouble y = physnn_simulator_get_coordinate (sim, 1, 10);
  gdouble x = physnn_simulator_get_coordinate (sim, 0, 7);
  g_assert_cmpfloat_with_epsilon (y, 20.0 / 19.0, 1e-15);
  g_assert_cmpfloat_with_epsilon (physnn_tensor_get_value (field, 10 * 40 + 7),
      sin (G_PI * x) * sin (G_PI * y / 2.0), 1e-14);
}

static void
test_heat_neumann_conserves (void)
{
  g_autoptr (PhysnnSimulator) sim = physnn_simulator_new (PHYSNN_PDE_HEAT_1D);
  g_object_set (sim, "boundary", PHYSNN_BOUNDARY_NEUMANN, "initial",
      PHYSNN_INITIAL_GAUSSIAN, "center-x", 0.3, "width", 0.08, "nx", 101, NULL);
  reset_ok (sim);

  gsize n;
  const gdouble *u = physnn_simulator_peek_field (sim, &n);
  gdouble h = physnn_simulator_get_coordinate (sim, 0, 1);
  gdouble mass0 = 0.0;
  for (gsize i = 0; i < n; i++)
    mass0 += (i == 0 || i == n - 1 ? 0.5 : 1.0) * h * u[i];

  const gdouble times[] = { 0.1, 1.0, 5.0 };
  gdouble spread[3];
  for (guint k = 0; k < G_N_ELEMENTS (times); k++) {
    advance_ok (sim, times[k]);
    u = physnn_simulator_peek_field (sim, &n);
    gdouble mass = 0.0, lo = G_MAXDOUBLE, hi = -G_MAXDOUBLE;
    for (gsize i = 0; i < n; i++) {
      mass += (i == 0 || i == n - 1 ? 0.5 : 1.0) * h * u[i];
      lo = MIN (lo, u[i]);
      hi = MAX (hi, u[i]);
    }
    spread[k] = hi - lo;
    g_test_message ("neumann: t = %g s, mass %.15g (initial %.15g), "
                    "spread %.3g",
        times[k], mass, mass0, spread[k]);
    /* Insulated ends: the trapezoidal integral is invariant, up to the
     * rounding of thousands of steps (a first-order boundary would lose
     * about 1e-3 of it here). */
    g_assert_cmpfloat (fabs (mass - mass0), <=, 1e-11 * mass0);
  }
  /* Late on only the slowest Neumann mode, cos πx, is left; it decays as
   * e^{−απ²t}. */
  gdouble ratio = spread[2] / spread[1];
  gdouble expected = exp (-0.1 * G_PI * G_PI * 4.0);
  g_test_message (
      "neumann: spread ratio %.5f, slowest mode %.5f", ratio, expected);
  g_assert_cmpfloat (fabs (ratio / expected - 1.0), <, 0.05);
}

static void
test_heat_periodic_rate (void)
{
  g_autoptr (PhysnnSimulator) sim = physnn_simulator_new (PHYSNN_PDE_HEAT_1D);
  const guint nx = 64, steps = 50;
  const gdouble alpha = 0.1, dt = 0.01;

  g_object_set (sim, "boundary", PHYSNN_BOUNDARY_PERIODIC, "initial",
      PHYSNN_INITIAL_SINE, "mode", 2, "nx", nx, "dt", dt, NULL);
  reset_ok (sim);
  /* A periodic grid leaves out x-max. */
  g_assert_cmpfloat_with_epsilon (
      physnn_simulator_get_coordinate (sim, 0, nx - 1), 1.0 - 1.0 / nx, 1e-15);
  advance_ok (sim, steps * dt);
  g_assert_cmpuint (physnn_simulator_get_steps (sim), ==, steps);

  /* sin(2πx) is a discrete Fourier mode (θ = 2πh per point) that
   * Crank–Nicolson multiplies by (1 − λΔt/2) / (1 + λΔt/2) per step,
   * λ = 4α sin²(θ/2) / h². */
  gdouble h = 1.0 / nx, theta = 2.0 * G_PI * h;
  gdouble lambda = 4.0 * alpha * pow (sin (theta / 2.0), 2) / (h * h);
  gdouble g = (1.0 - 0.5 * lambda * dt) / (1.0 + 0.5 * lambda * dt);
  gdouble amp = pow (g, steps);
  gdouble continuous = exp (-alpha * 4.0 * G_PI * G_PI * steps * dt);
  gsize n;
  const gdouble *u = physnn_simulator_peek_field (sim, &n);
  gdouble err = 0.0;
  for (gsize i = 0; i < n; i++)
    err = MAX (err, fabs (u[i] - amp * sin (2.0 * G_PI * i * h)));
  g_test_message ("periodic: discrete amplitude %.12f, continuous %.12f, "
                  "max deviation from the discrete rate %.2e",
      amp, continuous, err);
  g_assert_cmpfloat (err, <, 1e-12);
  /* The check can tell the discrete rate from the continuous one. */
  g_assert_cmpfloat (fabs (amp - continuous), >, 1e-5);
}

static void
test_heat_source (void)
{
  g_autoptr (PhysnnSimulator) sim = physnn_simulator_new (PHYSNN_PDE_HEAT_1D);
  const gdouble start = 0.2, rate = 3.0;

  g_object_set (sim, "initial", PHYSNN_INITIAL_SINE, "amplitude", 0.0,
      "source-x", 0.4, "source-width", 0.05, "source-start", start,
      "source-amplitude", rate, NULL);
  reset_ok (sim);
  g_assert_false (physnn_simulator_source_active (sim, 0.4, 0.0, 0.1));
  g_assert_true (physnn_simulator_source_active (sim, 0.4, 0.0, start));
  g_assert_true (physnn_simulator_source_active (sim, 0.49, 0.0, 1.0));
  g_assert_false (physnn_simulator_source_active (sim, 0.51, 0.0, 1.0));

  /* The frame interval straddles the onset: only the part after it heats. */
  advance_ok (sim, 0.15);
  g_assert_cmpfloat (physnn_simulator_sample (sim, 0.4, 0.0), ==, 0.0);
  advance_ok (sim, start + 0.01);
  /* Far from the ends the Gaussian source spreads as on the whole line:
   * u(centre) = ∫₀ᵗ A w / √(w² + 2αs) ds = A w² (√(1 + 2αt/w²) − 1) / α,
   * with A in field units per second. */
  gdouble w = 0.05, alpha = 0.1, dt = 0.01;
  gdouble exact =
      rate * w * w * (sqrt (1.0 + 2.0 * alpha * dt / (w * w)) - 1.0) / alpha;
  gdouble centre = physnn_simulator_sample (sim, 0.4, 0.0);
  g_test_message ("source: u(centre) = %.6f after 0.01 s, exact %.6f "
                  "(no diffusion: %.6f)",
      centre, exact, rate * dt);
  g_assert_cmpfloat (fabs (centre - exact), <, 2e-3 * exact);

  advance_ok (sim, 1.0);
  gdouble near = physnn_simulator_sample (sim, 0.4, 0.0);
  gdouble far = physnn_simulator_sample (sim, 0.9, 0.0);
  g_assert_cmpfloat (near, >, 0.05);
  g_assert_cmpfloat (far, >=, 0.0);
  g_assert_cmpfloat (near, >, 5.0 * far);
  /* Dirichlet ends stay put. */
  g_assert_cmpfloat (physnn_simulator_sample (sim, 0.0, 0.0), ==, 0.0);

  /* 2-D: the source heats around (source-x, source-y). */
  g_autoptr (PhysnnSimulator) sim2 = physnn_simulator_new (PHYSNN_PDE_HEAT_2D);
  g_object_set (sim2, "initial", PHYSNN_INITIAL_SINE, "amplitude", 0.0,
      "source-x", 0.3, "source-y", 0.7, "source-amplitude", 1.0, NULL);
  reset_ok (sim2);
  advance_ok (sim2, 0.5);
  gdouble at = physnn_simulator_sample (sim2, 0.3, 0.7);
  gdouble mirrored = physnn_simulator_sample (sim2, 0.7, 0.3);
  g_assert_cmpfloat (at, >, 0.02);
  g_assert_cmpfloat (at, >, 5.0 * mirrored);
  g_assert_true (physnn_simulator_source_active (sim2, 0.35, 0.75, 0.5));
  g_assert_false (physnn_simulator_source_active (sim2, 0.7, 0.3, 0.5));
  g_assert_false (physnn_simulator_source_active (sim2, 0.3, 0.2, 0.5));
}

/* ------------------------------------------------------------------------ */
/* Wave */

static void
test_wave_standing (void)
{
  g_autoptr (PhysnnSimulator) sim = physnn_simulator_new (PHYSNN_PDE_WAVE_1D);
  const gdouble c = 1.5;
  const gdouble times[] = { 0.1, 1.0 / 3.0, 0.5, 1.0, 2.0 };

  g_object_set (sim, "c", c, NULL);
  reset_ok (sim);
  gsize n = physnn_simulator_get_grid_size (sim, 0);
  for (guint k = 0; k < G_N_ELEMENTS (times); k++) {
    gdouble t = times[k], num = 0.0, den = 0.0;
    advance_ok (sim, t);
    const gdouble *u = physnn_simulator_peek_field (sim, NULL);
    for (gsize i = 0; i < n; i++) {
      gdouble x = physnn_simulator_get_coordinate (sim, 0, i);
      gdouble e = sin (G_PI * x) * cos (c * G_PI * t);
      num += (u[i] - e) * (u[i] - e);
      den += sin (G_PI * x) * sin (G_PI * x);
    }
    /* Relative to the initial amplitude: cos(cπt) passes through 0. */
    gdouble err = sqrt (num / den);
    g_test_message ("wave: t = %g s, L2 error / |u0| = %.2e", t, err);
    g_assert_cmpfloat (err, <=, 1e-4);
  }
}

/* ------------------------------------------------------------------------ */
/* Burgers */

/* Cole–Hopf for u(0,x) = −sin πx on [−1, 1]: the odd, 2-periodic extension
 * turns the heat kernel integral into one over a period, where the
 * trapezoidal rule converges geometrically. Scaled by the largest exponent
 * so that e^{cos/(2πν)} stays finite. */
static gdouble
cole_hopf (gdouble x, gdouble t, gdouble nu)
{
  const gint m = 4096;
  gdouble big = -G_MAXDOUBLE, num = 0.0, den = 0.0;
  gdouble *e = g_new (gdouble, m * 5);

  for (gint pass = 0; pass < 2; pass++) {
    for (gint j = 0; j < m; j++) {
      gdouble y = -1.0 + 2.0 * j / m;
      for (gint k = -2; k <= 2; k++) {
        gdouble d = x - y + 2.0 * k;
        gdouble *ek = &e[j * 5 + k + 2];
        if (pass == 0) {
          *ek = -cos (G_PI * y) / (2.0 * G_PI * nu) - d * d / (4.0 * nu * t);
          big = MAX (big, *ek);
        } else {
          gdouble w = exp (*ek - big);
          num += -sin (G_PI * y) * w;
          den += w;
        }
      }
    }
  }
  g_free (e);
  return num / den;
}

static void
test_burgers (void)
{
  g_autoptr (PhysnnSimulator) sim =
      physnn_simulator_new (PHYSNN_PDE_BURGERS_1D);
  const gdouble nu = 0.01 / G_PI;

  reset_ok (sim);
  gsize n = physnn_simulator_get_grid_size (sim, 0);
  g_assert_cmpuint (n, ==, 256);
  g_assert_cmpfloat (physnn_simulator_get_coordinate (sim, 0, 0), ==, -1.0);
  g_assert_cmpfloat (physnn_simulator_get_coordinate (sim, 0, n - 1), ==, 1.0);

  gint64 t0 = g_get_monotonic_time ();
  advance_ok (sim, 0.5);
  gdouble seconds = (g_get_monotonic_time () - t0) / 1e6;
  const gdouble *u = physnn_simulator_peek_field (sim, NULL);
  gdouble num = 0.0, den = 0.0, umax = 0.0, asym = 0.0;
  for (gsize i = 0; i < n; i++) {
    gdouble x = physnn_simulator_get_coordinate (sim, 0, i);
    gdouble e = cole_hopf (x, 0.5, nu);
    num += (u[i] - e) * (u[i] - e);
    den += e * e;
    umax = MAX (umax, fabs (u[i]));
    asym = MAX (asym, fabs (u[i] + u[n - 1 - i]));
  }
  gdouble err = sqrt (num / den);
  g_test_message ("burgers: t = 0.5 s (steepest shock), relative L2 vs "
                  "Cole-Hopf = %.2e in %.3f s, %" G_GUINT64_FORMAT " steps",
      err, seconds, physnn_simulator_get_steps (sim));
  /* 2.3e-4 measured; the crosscheck asserts 1e-3 at more times. */
  g_assert_cmpfloat (err, <=, 5e-4);
  /* The solution is odd and bounded by its initial maximum. */
  g_assert_cmpfloat (asym, <, 1e-12);
  g_assert_cmpfloat (umax, <=, 1.0);

  /* Periodic Burgers conserves the mean, as the flux form promises. */
  g_autoptr (PhysnnSimulator) per =
      physnn_simulator_new (PHYSNN_PDE_BURGERS_1D);
  g_object_set (per, "boundary", PHYSNN_BOUNDARY_PERIODIC, "initial",
      PHYSNN_INITIAL_GAUSSIAN, "center-x", 0.0, "width", 0.3, NULL);
  reset_ok (per);
  gdouble mean0 = 0.0, mean1 = 0.0;
  u = physnn_simulator_peek_field (per, &n);
  for (gsize i = 0; i < n; i++)
    mean0 += u[i] / n;
  advance_ok (per, 0.5);
  u = physnn_simulator_peek_field (per, &n);
  for (gsize i = 0; i < n; i++)
    mean1 += u[i] / n;
  /* The output grid samples every r-th point, so compare loosely; the
   * internal sum is conserved to rounding. */
  g_assert_cmpfloat (fabs (mean1 - mean0), <, 1e-3 * mean0);
}

/* ------------------------------------------------------------------------ */
/* Grid, sampling, defaults */

static void
test_grid_and_sample (void)
{
  g_autoptr (PhysnnSimulator) sim = physnn_simulator_new (PHYSNN_PDE_HEAT_1D);
  gdouble lo, hi;

  /* Geometry is known before the first reset; the field is not. */
  g_assert_cmpuint (physnn_simulator_get_grid_size (sim, 0), ==, 256);
  g_assert_null (physnn_simulator_peek_field (sim, NULL));
  g_assert_null (physnn_simulator_get_field (sim));
  g_assert_true (isnan (physnn_simulator_sample (sim, 0.5, 0.0)));
  g_assert_true (physnn_simulator_get_domain (sim, 0, &lo, &hi));
  g_assert_cmpfloat (lo, ==, 0.0);
  g_assert_cmpfloat (hi, ==, 1.0);
  g_assert_false (physnn_simulator_get_domain (sim, 1, &lo, &hi));

  g_object_set (sim, "nx", 11, "x-min", -2.0, "x-max", 3.0, "initial",
      PHYSNN_INITIAL_GAUSSIAN, "center-x", 0.0, "width", 1.0, NULL);
  /* advance() resets a simulator that never was. */
  advance_ok (sim, 0.0);
  g_assert_cmpfloat (physnn_simulator_get_coordinate (sim, 0, 0), ==, -2.0);
  g_assert_cmpfloat (physnn_simulator_get_coordinate (sim, 0, 10), ==, 3.0);
  g_assert_cmpfloat (physnn_simulator_get_coordinate (sim, 0, 4), ==, 0.0);

  g_autoptr (PhysnnTensor) field = physnn_simulator_get_field (sim);
  gsize n;
  const gdouble *u = physnn_simulator_peek_field (sim, &n);
  g_assert_cmpuint (n, ==, 11);
  g_assert_cmpuint (physnn_tensor_get_rank (field), ==, 1);
  for (gsize i = 0; i < n; i++)
    g_assert_cmpfloat (physnn_tensor_get_value (field, i), ==, u[i]);

  /* Nodes, linear interpolation between them, clamping outside. */
  g_assert_cmpfloat (physnn_simulator_sample (sim, 0.5, 0.0), ==, u[5]);
  g_assert_cmpfloat_with_epsilon (
      physnn_simulator_sample (sim, 0.2, 0.0), 0.6 * u[4] + 0.4 * u[5], 1e-15);
  g_assert_cmpfloat (physnn_simulator_sample (sim, -7.0, 0.0), ==, u[0]);
  g_assert_cmpfloat (physnn_simulator_sample (sim, 9.0, 0.0), ==, u[10]);

  /* Property changes wait for the next reset. */
  g_object_set (sim, "nx", 21, NULL);
  g_assert_cmpuint (physnn_simulator_get_grid_size (sim, 0), ==, 11);
  reset_ok (sim);
  g_assert_cmpuint (physnn_simulator_get_grid_size (sim, 0), ==, 21);

  /* Burgers gets its classical domain however it is created. */
  g_autoptr (PhysnnSimulator) b1 = physnn_simulator_new (PHYSNN_PDE_BURGERS_1D);
  g_autoptr (PhysnnSimulator) b2 =
      g_object_new (PHYSNN_TYPE_SIMULATOR, "pde", PHYSNN_PDE_BURGERS_1D, NULL);
  g_assert_true (physnn_simulator_get_domain (b1, 0, &lo, &hi));
  g_assert_cmpfloat (lo, ==, -1.0);
  g_assert_true (physnn_simulator_get_domain (b2, 0, &lo, &hi));
  g_assert_cmpfloat (lo, ==, -1.0);
  g_assert_cmpfloat (hi, ==, 1.0);
  gdouble nu;
  g_object_get (b1, "nu", &nu, NULL);
  g_assert_cmpfloat (nu, ==, 0.01 / G_PI);
  g_assert_true (strstr (physnn_simulator_get_scheme (b1), "Strang"));

  /* Periodic 2-D sampling wraps around. */
  g_autoptr (PhysnnSimulator) p2 = physnn_simulator_new (PHYSNN_PDE_HEAT_2D);
  g_object_set (p2, "boundary", PHYSNN_BOUNDARY_PERIODIC, "nx", 8, "ny", 8,
      "initial", PHYSNN_INITIAL_RANDOM, "seed", G_GUINT64_CONSTANT (1) << 40,
      NULL);
  reset_ok (p2);
  u = physnn_simulator_peek_field (p2, &n);
  g_assert_cmpuint (n, ==, 64);
  g_assert_cmpfloat_with_epsilon (
      physnn_simulator_sample (p2, 0.9375, 0.0), 0.5 * (u[7] + u[0]), 1e-15);
  g_assert_cmpfloat_with_epsilon (
      physnn_simulator_sample (p2, 1.25, -0.875), u[1 * 8 + 2], 1e-15);
}

static void
test_random_initial (void)
{
  g_autoptr (PhysnnSimulator) a = physnn_simulator_new (PHYSNN_PDE_HEAT_1D);
  g_autoptr (PhysnnSimulator) b = physnn_simulator_new (PHYSNN_PDE_HEAT_1D);
  gsize n;

  g_object_set (a, "initial", PHYSNN_INITIAL_RANDOM, "seed",
      G_GUINT64_CONSTANT (42), NULL);
  g_object_set (b, "initial", PHYSNN_INITIAL_RANDOM, "seed",
      G_GUINT64_CONSTANT (42), NULL);
  reset_ok (a);
  reset_ok (b);
  const gdouble *ua = physnn_simulator_peek_field (a, &n);
  const gdouble *ub = physnn_simulator_peek_field (b, NULL);
  g_assert_cmpmem (ua, n * sizeof (gdouble), ub, n * sizeof (gdouble));
  /* Zero at both ends, and not identically zero. */
  g_assert_cmpfloat (fabs (ua[0]) + fabs (ua[n - 1]), <, 1e-12);
  gdouble norm = 0.0;
  for (gsize i = 0; i < n; i++)
    norm += ua[i] * ua[i];
  g_assert_cmpfloat (norm, >, 1.0);

  g_object_set (b, "seed", G_GUINT64_CONSTANT (43), NULL);
  reset_ok (b);
  ub = physnn_simulator_peek_field (b, NULL);
  g_assert_true (memcmp (ua, ub, n * sizeof (gdouble)) != 0);
}

/* ------------------------------------------------------------------------ */
/* Errors */

static void
expect_reset_error (PhysnnSimulator *sim, gint code, const gchar *needle)
{
  g_autoptr (GError) error = NULL;
  g_assert_false (physnn_simulator_reset (sim, &error));
  g_assert_error (error, PHYSNN_ERROR, code);
  g_test_message ("expected error: %s", error->message);
  g_assert_nonnull (strstr (error->message, needle));
}

static void
test_errors (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnSimulator) sim = physnn_simulator_new (PHYSNN_PDE_HEAT_1D);

  g_object_set (sim, "nx", 2, NULL);
  expect_reset_error (sim, PHYSNN_ERROR_INVALID_ARGUMENT, "nx = 2");
  g_object_set (sim, "nx", 0, "alpha", 0.0, NULL);
  expect_reset_error (sim, PHYSNN_ERROR_INVALID_ARGUMENT, "alpha");
  g_object_set (sim, "alpha", 0.1, "x-min", 1.0, "x-max", 0.5, NULL);
  expect_reset_error (sim, PHYSNN_ERROR_INVALID_ARGUMENT, "x-max");
  g_object_set (
      sim, "x-min", 0.0, "x-max", 0.0, "nx", 1 << 20, "oversample", 64, NULL);
  expect_reset_error (sim, PHYSNN_ERROR_INVALID_ARGUMENT, "oversample");
  g_object_set (sim, "nx", 0, "oversample", 0, "initial",
      PHYSNN_INITIAL_GAUSSIAN, "width", 0.0, NULL);
  expect_reset_error (sim, PHYSNN_ERROR_INVALID_ARGUMENT, "width");
  g_object_set (sim, "initial", PHYSNN_INITIAL_DEFAULT, NULL);

  /* A failed reset leaves the running simulation alone. */
  reset_ok (sim);
  advance_ok (sim, 0.1);
  g_object_set (sim, "nx", 1, NULL);
  expect_reset_error (sim, PHYSNN_ERROR_INVALID_ARGUMENT, "nx = 1");
  g_assert_cmpuint (physnn_simulator_get_grid_size (sim, 0), ==, 256);
  advance_ok (sim, 0.2);
  g_object_set (sim, "nx", 0, NULL);

  /* No going back in time, and no infinite times. */
  g_assert_false (physnn_simulator_advance (sim, 0.15, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "before the current time"));
  g_clear_error (&error);
  g_assert_false (physnn_simulator_advance (sim, INFINITY, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_cmpfloat (physnn_simulator_get_time (sim), ==, 0.2);

  /* The source only exists for heat. */
  g_autoptr (PhysnnSimulator) wave = physnn_simulator_new (PHYSNN_PDE_WAVE_1D);
  g_object_set (wave, "source-amplitude", 1.0, NULL);
  expect_reset_error (wave, PHYSNN_ERROR_INVALID_ARGUMENT, "source-amplitude");
  g_object_set (wave, "source-amplitude", 0.0, "c", 0.0, NULL);
  expect_reset_error (wave, PHYSNN_ERROR_INVALID_ARGUMENT, "c = 0");

  g_autoptr (PhysnnSimulator) burgers =
      physnn_simulator_new (PHYSNN_PDE_BURGERS_1D);
  g_object_set (burgers, "nu", 0.0, NULL);
  expect_reset_error (burgers, PHYSNN_ERROR_INVALID_ARGUMENT, "nu");

  g_autoptr (PhysnnSimulator) two = physnn_simulator_new (PHYSNN_PDE_HEAT_2D);
  g_object_set (two, "ny", 2, NULL);
  expect_reset_error (two, PHYSNN_ERROR_INVALID_ARGUMENT, "ny = 2");
  g_object_set (two, "ny", 8, "y-min", 2.0, NULL);
  expect_reset_error (two, PHYSNN_ERROR_INVALID_ARGUMENT, "y-max");

  /* Overflow shows up as a numeric error that names the time, and sticks
   * until the next reset. */
  g_autoptr (PhysnnSimulator) blow = physnn_simulator_new (PHYSNN_PDE_HEAT_1D);
  g_object_set (blow, "initial", PHYSNN_INITIAL_SINE, "amplitude", 1e308, NULL);
  reset_ok (blow);
  g_assert_false (physnn_simulator_advance (blow, 0.01, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC);
  g_test_message ("expected error: %s", error->message);
  g_assert_nonnull (strstr (error->message, "t = "));
  g_clear_error (&error);
  g_assert_false (physnn_simulator_advance (blow, 0.02, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC);
  g_clear_error (&error);
  g_object_set (blow, "amplitude", 1.0, NULL);
  reset_ok (blow);
  advance_ok (blow, 0.02);
}

/* ------------------------------------------------------------------------ */
/* Sensors */

static PhysnnSimulator *
decaying_heat (void)
{
  PhysnnSimulator *sim = physnn_simulator_new (PHYSNN_PDE_HEAT_1D);
  g_object_set (sim, "alpha", 1.0, "nx", 65, NULL);
  reset_ok (sim);
  return sim;
}

static void
test_sensors_positions (void)
{
  g_autoptr (PhysnnSimulator) sim = physnn_simulator_new (PHYSNN_PDE_HEAT_1D);
  g_autoptr (PhysnnSensors) s = physnn_sensors_new_evenly (sim, 3);
  g_assert_cmpuint (physnn_sensors_get_n_sensors (s), ==, 3);
  g_assert_cmpfloat (physnn_sensors_get_x (s, 0), ==, 0.25);
  g_assert_cmpfloat (physnn_sensors_get_x (s, 2), ==, 0.75);
  g_assert_cmpfloat (physnn_sensors_get_y (s, 1), ==, 0.0);

  g_autoptr (PhysnnSimulator) sim2 = physnn_simulator_new (PHYSNN_PDE_HEAT_2D);
  g_object_set (sim2, "y-min", -1.0, "y-max", 1.0, NULL);
  g_autoptr (PhysnnSensors) s2 = physnn_sensors_new_evenly (sim2, 5);
  /* Rows of 3 and 2 at y = −1/3 and 1/3. */
  g_assert_cmpfloat (physnn_sensors_get_x (s2, 0), ==, 0.25);
  g_assert_cmpfloat (physnn_sensors_get_x (s2, 2), ==, 0.75);
  g_assert_cmpfloat_with_epsilon (
      physnn_sensors_get_y (s2, 2), -1.0 / 3, 1e-15);
  g_assert_cmpfloat_with_epsilon (physnn_sensors_get_x (s2, 3), 1.0 / 3, 1e-15);
  g_assert_cmpfloat_with_epsilon (physnn_sensors_get_y (s2, 4), 1.0 / 3, 1e-15);

  gdouble x[2] = { 0.1, 0.9 }, y[2] = { 0.2, 0.8 };
  g_autoptr (PhysnnSensors) s3 = physnn_sensors_new (2, x, y);
  g_assert_cmpfloat (physnn_sensors_get_y (s3, 1), ==, 0.8);

  /* Reading before the simulator has a field, or a 2-D field without y. */
  g_autoptr (GError) error = NULL;
  gfloat v[5];
  g_assert_false (physnn_sensors_read (s, sim, v, NULL, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  reset_ok (sim2);
  g_assert_false (physnn_sensors_read (s, sim2, v, NULL, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_true (physnn_sensors_read (s2, sim2, v, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (
      fabs (v[0] - physnn_simulator_sample (sim2, 0.25, -1.0 / 3)), <, 1e-7);
}

static void
test_sensors_noise (void)
{
  g_autoptr (PhysnnSimulator) sim = decaying_heat ();
  g_autoptr (PhysnnSensors) s = physnn_sensors_new_evenly (sim, 4);
  const guint reads = 5000;
  const gdouble sigma = 0.1;
  gdouble sum = 0.0, sum2 = 0.0, clean[4];
  gfloat v[4];
  guint8 mask[4];

  g_object_set (s, "noise-sigma", sigma, "seed", G_GUINT64_CONSTANT (7), NULL);
  for (guint i = 0; i < 4; i++)
    clean[i] = physnn_simulator_sample (sim, physnn_sensors_get_x (s, i), 0);
  for (guint k = 0; k < reads; k++) {
    g_assert_true (physnn_sensors_read (s, sim, v, mask, NULL));
    for (guint i = 0; i < 4; i++) {
      gdouble d = v[i] - clean[i];
      sum += d;
      sum2 += d * d;
      g_assert_cmpuint (mask[i], ==, 0);
    }
  }
  gdouble n = 4.0 * reads, mean = sum / n;
  gdouble std = sqrt (sum2 / n - mean * mean);
  g_test_message ("noise: mean %.2e, std %.5f (sigma %.2f, %g samples)", mean,
      std, sigma, n);
  /* 5 standard errors; float rounding of the readings is far below. */
  g_assert_cmpfloat (fabs (mean), <, 5.0 * sigma / sqrt (n));
  g_assert_cmpfloat (fabs (std - sigma), <, 5.0 * sigma / sqrt (2.0 * n));
}

static void
test_sensors_determinism (void)
{
  g_autoptr (PhysnnSimulator) sim = decaying_heat ();
  g_autoptr (PhysnnSensors) a = physnn_sensors_new_evenly (sim, 3);
  g_autoptr (PhysnnSensors) b = physnn_sensors_new_evenly (sim, 3);
  gfloat va[3], vb[3], first[3];

  g_object_set (a, "noise-sigma", 0.5, "seed", G_GUINT64_CONSTANT (99), NULL);
  g_object_set (b, "noise-sigma", 0.5, "seed", G_GUINT64_CONSTANT (99), "fault",
      PHYSNN_FAULT_STUCK, "fault-sensor", 1, NULL);
  for (guint k = 0; k < 10; k++) {
    g_assert_true (physnn_sensors_read (a, sim, va, NULL, NULL));
    g_assert_true (physnn_sensors_read (b, sim, vb, NULL, NULL));
    if (k == 0)
      memcpy (first, va, sizeof (va));
    /* Same seed, same noise; the fault on sensor 1 leaves the others'
     * noise as it was. */
    g_assert_cmpfloat (va[0], ==, vb[0]);
    g_assert_cmpfloat (va[2], ==, vb[2]);
    g_assert_cmpfloat (va[1], !=, vb[1]);
  }
  physnn_sensors_reset (a);
  g_assert_true (physnn_sensors_read (a, sim, va, NULL, NULL));
  g_assert_cmpmem (va, sizeof (va), first, sizeof (first));

  g_object_set (
      b, "seed", G_GUINT64_CONSTANT (100), "fault", PHYSNN_FAULT_NONE, NULL);
  g_assert_true (physnn_sensors_read (b, sim, vb, NULL, NULL));
  g_assert_cmpfloat (va[0], !=, vb[0]);
}

/* Reads at t = 0, 0.1, …, 0.9 and checks each against `expect`. */
typedef gdouble (*Expect) (
    gdouble t, gdouble clean, gdouble held, guint8 *mask);

static gdouble
expect_stuck (gdouble t, gdouble clean, gdouble held, guint8 *mask)
{
  gboolean on = t >= 0.3 - 1e-12 && t < 0.6 - 1e-12;
  *mask = on ? PHYSNN_FAULT_STUCK : 0;
  return on ? held : clean;
}

static gdouble
expect_drift (gdouble t, gdouble clean, gdouble held, guint8 *mask)
{
  gboolean on = t >= 0.3 - 1e-12;
  *mask = on ? PHYSNN_FAULT_DRIFT : 0;
  return on ? clean + 2.0 * (t - 0.3) : clean;
}

static gdouble
expect_spike (gdouble t, gdouble clean, gdouble held, guint8 *mask)
{
  /* The first reading at or after 0.25 is the one at 0.3. */
  gboolean on = fabs (t - 0.3) < 1e-12;
  *mask = on ? PHYSNN_FAULT_SPIKE : 0;
  return on ? clean + 2.0 : clean;
}

static void
run_fault (
    PhysnnFaultKind fault, gdouble start, gdouble duration, Expect expect)
{
  g_autoptr (PhysnnSimulator) sim = decaying_heat ();
  g_autoptr (PhysnnSensors) s = physnn_sensors_new_evenly (sim, 3);
  gdouble held = NAN;
  gfloat v[3];
  guint8 mask[3];

  g_object_set (s, "fault", fault, "fault-sensor", 1, "fault-start", start,
      "fault-duration", duration, "fault-magnitude", 2.0, NULL);
  for (guint pass = 0; pass < 2; pass++) {
    for (guint k = 0; k < 10; k++) {
      gdouble t = k / 10.0;
      advance_ok (sim, t);
      g_assert_true (physnn_sensors_read (s, sim, v, mask, NULL));
      for (guint i = 0; i < 3; i++) {
        gdouble clean =
            physnn_simulator_sample (sim, physnn_sensors_get_x (s, i), 0.0);
        guint8 m = 0;
        gdouble want = clean;
        if (i == 1) {
          if (isnan (held) && t >= 0.3 - 1e-12)
            held = clean;
          want = expect (t, clean, held, &m);
        }
        g_assert_cmpfloat (fabs (v[i] - want), <=, 1e-6 * (1 + fabs (want)));
        g_assert_cmpuint (mask[i], ==, m);
      }
    }
    /* After the simulator restarts, a sensor reset replays the same run. */
    reset_ok (sim);
    physnn_sensors_reset (s);
    held = NAN;
  }
}

static void
test_sensors_stuck (void)
{
  /* Stuck from 0.25 for 0.3 s: the readings at 0.3, 0.4 and 0.5. */
  run_fault (PHYSNN_FAULT_STUCK, 0.25, 0.3, expect_stuck);
}

static void
test_sensors_drift (void)
{
  run_fault (PHYSNN_FAULT_DRIFT, 0.3, 0.0, expect_drift);
}

static void
test_sensors_spike (void)
{
  run_fault (PHYSNN_FAULT_SPIKE, 0.25, 0.0, expect_spike);
}

static void
test_sensors_all_and_source (void)
{
  g_autoptr (PhysnnSimulator) sim = decaying_heat ();
  g_autoptr (PhysnnSensors) s = physnn_sensors_new_evenly (sim, 9);
  gfloat v[9];
  guint8 mask[9];

  /* fault-sensor = −1 hits every sensor; a stuck sensor gets no noise. */
  g_object_set (s, "fault", PHYSNN_FAULT_STUCK, "fault-sensor", -1,
      "noise-sigma", 0.1, NULL);
  g_assert_true (physnn_sensors_read (s, sim, v, mask, NULL));
  for (guint i = 0; i < 9; i++) {
    g_assert_cmpuint (mask[i], ==, PHYSNN_FAULT_STUCK);
    g_assert_cmpfloat (v[i], ==,
        (gfloat)physnn_simulator_sample (
            sim, physnn_sensors_get_x (s, i), 0.0));
  }
  g_object_set (s, "fault-sensor", 9, NULL);
  g_autoptr (GError) error = NULL;
  g_assert_false (physnn_sensors_read (s, sim, v, mask, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT);

  /* Source: sensors at 0.1 … 0.9, source at 0.55 with width 0.05: the
   * sensors at 0.5 and 0.6 lie within two widths once it is on. */
  g_autoptr (PhysnnSimulator) hot = physnn_simulator_new (PHYSNN_PDE_HEAT_1D);
  g_object_set (hot, "source-x", 0.55, "source-width", 0.05, "source-start",
      0.5, "source-amplitude", 2.0, NULL);
  reset_ok (hot);
  g_autoptr (PhysnnSensors) src = physnn_sensors_new_evenly (hot, 9);
  g_object_set (src, "fault", PHYSNN_FAULT_SOURCE, NULL);
  const gdouble times[] = { 0.4, 0.5, 1.0 };
  for (guint k = 0; k < G_N_ELEMENTS (times); k++) {
    advance_ok (hot, times[k]);
    g_assert_true (physnn_sensors_read (src, hot, v, mask, NULL));
    for (guint i = 0; i < 9; i++) {
      gboolean near = i == 4 || i == 5;
      g_assert_cmpuint (
          mask[i], ==, times[k] >= 0.5 && near ? PHYSNN_FAULT_SOURCE : 0);
    }
  }
  /* The source physically heats the marked sensors: without it the field
   * would be symmetric about 0.5. */
  g_assert_cmpfloat (v[5], >, v[3] + 0.05);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/simulator/heat-1d", test_heat_1d);
  g_test_add_func ("/simulator/heat-2d", test_heat_2d);
  g_test_add_func (
      "/simulator/heat-neumann-conserves", test_heat_neumann_conserves);
  g_test_add_func ("/simulator/heat-periodic-rate", test_heat_periodic_rate);
  g_test_add_func ("/simulator/heat-source", test_heat_source);
  g_test_add_func ("/simulator/wave-standing", test_wave_standing);
  g_test_add_func ("/simulator/burgers", test_burgers);
  g_test_add_func ("/simulator/grid-and-sample", test_grid_and_sample);
  g_test_add_func ("/simulator/random-initial", test_random_initial);
  g_test_add_func ("/simulator/errors", test_errors);
  g_test_add_func ("/sensors/positions", test_sensors_positions);
  g_test_add_func ("/sensors/noise", test_sensors_noise);
  g_test_add_func ("/sensors/determinism", test_sensors_determinism);
  g_test_add_func ("/sensors/stuck", test_sensors_stuck);
  g_test_add_func ("/sensors/drift", test_sensors_drift);
  g_test_add_func ("/sensors/spike", test_sensors_spike);
  g_test_add_func ("/sensors/all-and-source", test_sensors_all_and_source);
  return g_test_run ();
}
