/* Unit tests of the PDE language: parsing, canonical printing, errors with
 * their columns, binding to a model's names, evaluation on the C and
 * OpenCL paths, the scale of the terms, and a deterministic fuzzer. (The
 * residual of real networks against torch.autograd is
 * tests/crosscheck/residual_vs_torch.py.) */
#include <physnn/physnn.h>

#include <math.h>
#include <string.h>

/* A model with outputs u,v ([N,2]) of coordinates x,t ([N,2]); its
 * values are never computed here: binding reads names only. */
static PhysnnModel *
names_model (void)
{
  /* the builtin heat PINN has coords x,t and output u */
  g_autoptr (GError) error = NULL;
  PhysnnModel *m = physnn_model_new_builtin ("heat1d-pinn", &error);
  g_assert_no_error (error);
  return m;
}

static void
test_canonical (void)
{
  const struct {
    const gchar *in, *out;
  } cases[] = {
    { "u_t - alpha*u_xx", "u_t - alpha*u_xx" },
    { "u_t+u*u_x-nu*u_xx", "u_t + u*u_x - nu*u_xx" },
    { "u_tt - c^2*(u_xx + u_yy)", "u_tt - c^2*(u_xx + u_yy)" },
    { "a - (b - c)", "a - (b - c)" },
    { "(a - b) - c", "a - b - c" },
    { "a/(b*c)", "a/(b*c)" },
    { "(a/b)*c", "a/b*c" },
    { "a^b^c", "a^b^c" },
    { "(a^b)^c", "(a^b)^c" },
    { "-a^2", "-a^2" },
    { "(-a)^2", "(-a)^2" },
    { "a**2", "a^2" },
    { "sin(pi*x)*exp(-t)", "sin(pi*x)*exp(-t)" },
    { "u_t = nu*u_xx", "u_t = nu*u_xx" },
    { "1e-3*u + 2.5E+2", "0.001*u + 250" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (PhysnnPde) p = physnn_pde_new (cases[i].in, &error);
    g_assert_no_error (error);
    g_autofree gchar *eq = physnn_pde_get_equation (p, 0);
    g_assert_cmpstr (eq, ==, cases[i].out);
    g_autoptr (PhysnnPde) q = physnn_pde_new (eq, &error);
    g_assert_no_error (error);
    g_autofree gchar *eq2 = physnn_pde_get_equation (q, 0);
    g_assert_cmpstr (eq2, ==, eq);
  }
  g_autoptr (PhysnnPde) sys = physnn_pde_new ("u_t - v; v_t - u_xx;", NULL);
  g_assert_nonnull (sys);
  g_assert_cmpuint (physnn_pde_get_n_equations (sys), ==, 2);
}

static void
test_syntax_errors (void)
{
  const struct {
    const gchar *text;
    guint column;
    const gchar *needle;
  } cases[] = {
    { "u_t - * u", 7, "expected a number, a name or '('" },
    { "u_t - ", 7, "ends where" },
    { "u_t alpha*u_xx", 5, "operator" },
    { "u_t - alpha u_xx", 13, "write '*' for a product" },
    { "u_t - (u_xx", 12, "to close the '(' at column 7" },
    { "u_t - u_xx)", 11, "without a matching '('" },
    { "u_t - sinh(u)", 7, "unknown function \"sinh\"" },
    { "u_t - sin u", 11, "expected '(' after the function sin" },
    { "u_t - 1e*u", 8, "exponent" },
    { "u_t - u_ ", 8, "cannot end with '_'" },
    { "u_t = a = b", 9, "second '='" },
    { "u_t − u_xx", 5, "U+2212" },
    { "ü_t - u", 1, "U+00FC" },
    { "u_t - ü", 7, "U+00FC" },
    { "u_t # u", 5, "unexpected character '#'" },
    { "_u", 1, "start with a letter" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (PhysnnPde) p = physnn_pde_new (cases[i].text, &error);
    g_assert_null (p);
    g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE);
    g_autofree gchar *col = g_strdup_printf ("column %u:", cases[i].column);
    if (strstr (error->message, col) == NULL ||
        strstr (error->message, cases[i].needle) == NULL)
      g_error ("\"%s\": %s (want %s and %s)", cases[i].text, error->message,
          col, cases[i].needle);
  }
}

static void
test_binding (void)
{
  g_autoptr (PhysnnModel) m = names_model ();
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnPde) p =
      physnn_pde_new ("u_t + u*u_x - nu*u_xx + x*t + u_xt", &error);
  g_assert_no_error (error);
  /* nu is not set yet: an unknown symbol, named, with its column */
  g_assert_false (physnn_pde_bind (p, m, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "column 15"));
  g_assert_nonnull (strstr (error->message, "unknown symbol \"nu\""));
  g_clear_error (&error);
  g_assert_true (physnn_pde_set_parameter (p, "nu", 0.01, &error));
  g_assert_true (physnn_pde_bind (p, m, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (physnn_pde_get_derivatives (p), ==, "u_t,u_x,u_xx,u_xt");
  for (guint i = 0; i < physnn_pde_get_n_symbols (p); i++) {
    const gchar *s = physnn_pde_get_symbol (p, i);
    PhysnnPdeSymbolKind k = physnn_pde_get_symbol_kind (p, i);
    PhysnnPdeSymbolKind want = g_str_equal (s, "u") ? PHYSNN_PDE_SYMBOL_OUTPUT
                               : g_str_equal (s, "nu")
                                   ? PHYSNN_PDE_SYMBOL_PARAMETER
                               : (g_str_equal (s, "x") || g_str_equal (s, "t"))
                                   ? PHYSNN_PDE_SYMBOL_COORDINATE
                                   : PHYSNN_PDE_SYMBOL_DERIVATIVE;
    g_assert_cmpint (k, ==, want);
  }

  const struct {
    const gchar *text, *needle;
    gint code;
  } bad[] = {
    { "u_xxx", "order 3", PHYSNN_ERROR_NOT_SUPPORTED },
    { "u_q", "\"q\", which is not a coordinate",
        PHYSNN_ERROR_INVALID_ARGUMENT },
    { "w_t", "unknown symbol \"w_t\"", PHYSNN_ERROR_INVALID_ARGUMENT },
    { "u + zeta", "column 5", PHYSNN_ERROR_INVALID_ARGUMENT },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (PhysnnPde) q = physnn_pde_new (bad[i].text, &error);
    g_assert_no_error (error);
    g_assert_false (physnn_pde_bind (q, m, &error));
    g_assert_error (error, PHYSNN_ERROR, bad[i].code);
    if (strstr (error->message, bad[i].needle) == NULL)
      g_error ("%s: %s", bad[i].text, error->message);
    g_clear_error (&error);
  }
  /* parameters: names and values are checked */
  g_assert_false (physnn_pde_set_parameter (p, "sin", 1, &error));
  g_clear_error (&error);
  g_assert_false (physnn_pde_set_parameter (p, "a", NAN, &error));
  g_clear_error (&error);
  g_assert_false (physnn_pde_set_parameters (p, "a=1, b", &error));
  g_clear_error (&error);
  g_assert_false (physnn_pde_set_parameters (p, "a=x", &error));
  g_clear_error (&error);
  g_assert_true (physnn_pde_set_parameters (p, "a=1; b=-2.5e-3", &error));
  gdouble v;
  g_assert_true (physnn_pde_get_parameter (p, "b", &v));
  g_assert_cmpfloat (v, ==, -2.5e-3);
}

static PhysnnTensor *
column (const gdouble *v, gsize n)
{
  gsize shape[1] = { n };
  return physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_FLOAT32, 1, shape, v, n, NULL);
}

/* Evaluation from given values, on every device, against the expression
 * written out in C; the scale is the largest |additive term|. */
static void
test_evaluate (void)
{
  g_autoptr (PhysnnModel) m = names_model ();
  g_autoptr (GError) error = NULL;
  const gsize n = 300;
  g_autofree gdouble *x = g_new (gdouble, 2 * n);
  g_autofree gdouble *u = g_new (gdouble, n);
  g_autofree gdouble *ut = g_new (gdouble, n);
  g_autofree gdouble *uxx = g_new (gdouble, n);
  for (gsize i = 0; i < n; i++) {
    x[2 * i] = (gdouble)i / n;
    x[2 * i + 1] = 0.3 + 0.001 * i;
    u[i] = sin (3.0 * i);
    ut[i] = cos (1.7 * i);
    uxx[i] = 2.0 * sin (0.37 * i + 1);
  }
  gsize cs[2] = { n, 2 };
  g_autoptr (PhysnnTensor) coords = physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_FLOAT32, 2, cs, x, 2 * n, NULL);
  g_autoptr (PhysnnTensor) tu = column (u, n);
  g_autoptr (PhysnnTensor) tut = column (ut, n);
  g_autoptr (PhysnnTensor) tuxx = column (uxx, n);
  g_autoptr (PhysnnPde) p = physnn_pde_new (
      "u_t = k*u_xx - sin(pi*x)*exp(-t)*u^2 + abs(u)/(2 + tanh(u_t))", &error);
  g_assert_no_error (error);
  g_assert_true (physnn_pde_set_parameter (p, "k", 0.25, &error));
  g_assert_true (physnn_pde_bind (p, m, &error));
  g_assert_cmpstr (physnn_pde_get_derivatives (p), ==, "u_t,u_xx");

  g_autoptr (GPtrArray) devices = physnn_device_enumerate (NULL);
  for (guint d = 0; d < devices->len; d++) {
    PhysnnDevice *dev = g_ptr_array_index (devices, d);
    PhysnnTensor *ins[1] = { coords }, *outs[1] = { tu };
    PhysnnTensor *ders[2] = { tut, tuxx };
    g_autoptr (PhysnnTensor) scale = NULL;
    g_autoptr (PhysnnTensor) r =
        physnn_pde_evaluate (p, dev, ins, 1, outs, 1, ders, 2, &scale, &error);
    g_assert_no_error (error);
    for (gsize i = 0; i < n; i++) {
      /* the inputs as float32, as the tensors hold them */
      gdouble xi = (gfloat)x[2 * i], ti = (gfloat)x[2 * i + 1];
      gdouble ui = (gfloat)u[i], uti = (gfloat)ut[i], uxxi = (gfloat)uxx[i];
      gdouble t1 = 0.25 * uxxi, t2 = sin (G_PI * xi) * exp (-ti) * ui * ui;
      gdouble t3 = fabs (ui) / (2 + tanh (uti));
      gdouble want = uti - (t1 - t2 + t3);
      gdouble sc =
          MAX (MAX (fabs (uti), fabs (t1)), MAX (fabs (t2), fabs (t3)));
      g_assert_cmpfloat_with_epsilon (
          physnn_tensor_get_value (r, i), want, 2e-6);
      g_assert_cmpfloat_with_epsilon (
          physnn_tensor_get_value (scale, i), sc, 2e-6);
    }
    /* a tensor with the wrong number of points is refused, named */
    g_autoptr (PhysnnTensor) short_t = column (ut, n - 1);
    PhysnnTensor *bad[2] = { short_t, tuxx };
    g_autoptr (PhysnnTensor) r2 =
        physnn_pde_evaluate (p, dev, ins, 1, outs, 1, bad, 2, NULL, &error);
    g_assert_null (r2);
    g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE);
    g_assert_nonnull (strstr (error->message, "u_t"));
    g_clear_error (&error);
  }
}

/* Deterministic fuzzing: random texts from the language's alphabet and
 * random bytes. Nothing crashes; a failure names a column within the text;
 * what parses prints to a canonical form that parses to itself. */
static void
test_fuzz (void)
{
  static const gchar *pieces[] = { "u", "u_t", "u_xx", "x", "t", "alpha", "1",
    "2.5", "1e-3", "pi", "+", "-", "*", "/", "^", "**", "(", ")", ";", "=", " ",
    "sin(", "exp(", "tanh(", "abs(", "sqrt(", ".", "e", "_", "9e9999",
    "\xc3\xbc", "\xe2\x88\x92", "\xff", "\t", "#" };
  GRand *rand = g_rand_new_with_seed (20261125);
  guint parsed = 0, failed = 0;
  for (guint it = 0; it < 30000; it++) {
    GString *s = g_string_new (NULL);
    guint len = g_rand_int_range (rand, 0, 24);
    if (it % 4 == 3) {
      for (guint i = 0; i < len; i++)
        g_string_append_c (s, (gchar)g_rand_int_range (rand, 1, 256));
    } else {
      for (guint i = 0; i < len; i++)
        g_string_append (
            s, pieces[g_rand_int_range (rand, 0, G_N_ELEMENTS (pieces))]);
    }
    GError *error = NULL;
    PhysnnPde *p = physnn_pde_new (s->str, &error);
    if (p == NULL) {
      failed++;
      g_assert_nonnull (error);
      g_assert_true (error->domain == PHYSNN_ERROR);
      const gchar *c = strstr (error->message, "column ");
      if (g_utf8_validate (s->str, -1, NULL)) {
        g_assert_nonnull (c);
        guint col = (guint)g_ascii_strtoull (c + 7, NULL, 10);
        g_assert_cmpuint (col, >=, 1);
        g_assert_cmpuint (col, <=, g_utf8_strlen (s->str, -1) + 1);
      }
      g_error_free (error);
    } else {
      parsed++;
      for (guint e = 0; e < physnn_pde_get_n_equations (p); e++) {
        g_autofree gchar *eq = physnn_pde_get_equation (p, e);
        PhysnnPde *q = physnn_pde_new (eq, &error);
        g_assert_no_error (error);
        g_autofree gchar *eq2 = physnn_pde_get_equation (q, 0);
        g_assert_cmpstr (eq2, ==, eq);
        g_object_unref (q);
      }
      g_object_unref (p);
    }
    g_string_free (s, TRUE);
  }
  g_rand_free (rand);
  g_test_message ("fuzz: %u parsed, %u refused", parsed, failed);
  g_assert_cmpuint (parsed, >, 100); /* the generator reaches valid PDEs */
  /* deep nesting and long texts are refused, not a stack overflow */
  GString *deep = g_string_new (NULL);
  for (guint i = 0; i < 5000; i++)
    g_string_append_c (deep, '(');
  g_string_append (deep, "u");
  GError *error = NULL;
  g_assert_null (physnn_pde_new (deep->str, &error));
  g_assert_nonnull (error);
  g_error_free (error);
  g_string_free (deep, TRUE);
}

static int
cmp_double (const void *a, const void *b)
{
  gdouble x = *(const gdouble *)a, y = *(const gdouble *)b;
  return (x > y) - (x < y);
}

/* Residual statistics against a direct computation: RMS, mean, max, the
 * 99th percentile as numpy.percentile interpolates it (from a sorted copy),
 * non-finite points left out, hotspots = the largest strict local maxima of
 * |r| on the grid (brute force over the 8 neighbours). */
static void
test_stats (void)
{
  const gsize nx = 37, ny = 23, n = nx * ny;
  GRand *rand = g_rand_new_with_seed (5);
  for (guint trial = 0; trial < 20; trial++) {
    g_autofree gdouble *v = g_new (gdouble, n);
    for (gsize i = 0; i < n; i++)
      v[i] = (gfloat)(g_rand_double_range (rand, -1, 1) *
                      (trial % 2 ? 1 : exp (-0.01 * (gdouble)i)));
    if (trial > 10)
      v[trial] = NAN;
    gsize shape[1] = { n }, grid[2] = { nx, ny };
    g_autoptr (PhysnnTensor) t = physnn_tensor_new_from_doubles (
        PHYSNN_DTYPE_FLOAT32, 1, shape, v, n, NULL);
    g_autoptr (GError) error = NULL;
    g_autoptr (PhysnnResidualStats) st =
        physnn_residual_stats_new (t, 5, grid, 2, &error);
    g_assert_no_error (error);
    g_autofree gdouble *a = g_new (gdouble, n);
    gsize good = 0;
    gdouble s2 = 0, s1 = 0;
    for (gsize i = 0; i < n; i++)
      if (isfinite (v[i])) {
        a[good++] = fabs (v[i]);
        s2 += v[i] * v[i];
        s1 += fabs (v[i]);
      }
    g_assert_cmpuint (physnn_residual_stats_get_n_nonfinite (st), ==, n - good);
    qsort (a, good, sizeof *a, cmp_double);
    gdouble pos = 0.99 * (good - 1);
    gsize k = (gsize)floor (pos);
    gdouble p99 = a[k] + (pos - k) * (a[MIN (k + 1, good - 1)] - a[k]);
    g_assert_cmpfloat_with_epsilon (
        physnn_residual_stats_get_rms (st), sqrt (s2 / good), 1e-9);
    g_assert_cmpfloat_with_epsilon (
        physnn_residual_stats_get_mean_abs (st), s1 / good, 1e-9);
    g_assert_cmpfloat (physnn_residual_stats_get_max (st), ==, a[good - 1]);
    g_assert_cmpfloat_with_epsilon (
        physnn_residual_stats_get_p99 (st), p99, 1e-12);
    /* hotspots */
    gdouble best[5] = { -1, -1, -1, -1, -1 };
    for (gsize y = 0; y < ny; y++)
      for (gsize x = 0; x < nx; x++) {
        gdouble c = fabs (v[y * nx + x]);
        if (!isfinite (c))
          continue;
        gboolean peak = TRUE;
        for (gint dy = -1; dy <= 1; dy++)
          for (gint dx = -1; dx <= 1; dx++) {
            gssize xx = (gssize)x + dx, yy = (gssize)y + dy;
            if ((!dx && !dy) || xx < 0 || yy < 0 || xx >= (gssize)nx ||
                yy >= (gssize)ny)
              continue;
            gdouble o = fabs (v[yy * nx + xx]);
            if (isfinite (o) && o >= c)
              peak = FALSE;
          }
        for (guint r = 0; peak && r < 5; r++)
          if (c > best[r]) {
            memmove (best + r + 1, best + r, (4 - r) * sizeof (gdouble));
            best[r] = c;
            break;
          }
      }
    g_assert_cmpuint (physnn_residual_stats_get_n_hotspots (st), ==, 5);
    for (guint r = 0; r < 5; r++)
      g_assert_cmpfloat (
          physnn_residual_stats_get_hotspot_value (st, r), ==, best[r]);
  }
  g_rand_free (rand);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pde/canonical", test_canonical);
  g_test_add_func ("/pde/syntax-errors", test_syntax_errors);
  g_test_add_func ("/pde/binding", test_binding);
  g_test_add_func ("/pde/evaluate", test_evaluate);
  g_test_add_func ("/pde/fuzz", test_fuzz);
  g_test_add_func ("/explain/stats", test_stats);
  return g_test_run ();
}
