/* Unit tests of the training path's own logic: .npy files (round trips and
 * hostile files), residual expressions, bad losses and training inputs
 * (PDEs the model cannot satisfy, empty domains, NaN losses), sampling,
 * determinism, and that training reduces a loss. Gradients themselves are
 * checked against PyTorch in tests/crosscheck/grad_vs_torch.py. */
#include <physnn/physnn.h>
#include <physnn/grad-private.h>
#include <physnn/rx-private.h>

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static gchar *tmpdir;

static gchar *
tmp_path (const gchar *name)
{
  return g_build_filename (tmpdir, name, NULL);
}

/* ------------------------------------------------------------------------ */
/* .npy */

static GBytes *
npy_bytes (const gchar *header, const void *data, gsize len, guint major)
{
  GByteArray *b = g_byte_array_new ();
  gsize hl = strlen (header);
  guint8 pre[12] = { 0x93, 'N', 'U', 'M', 'P', 'Y', (guint8)major, 0 };
  if (major == 1) {
    pre[8] = hl & 0xff;
    pre[9] = hl >> 8;
    g_byte_array_append (b, pre, 10);
  } else {
    pre[8] = hl & 0xff;
    pre[9] = (hl >> 8) & 0xff;
    pre[10] = (hl >> 16) & 0xff;
    pre[11] = hl >> 24;
    g_byte_array_append (b, pre, 12);
  }
  g_byte_array_append (b, (const guint8 *)header, hl);
  g_byte_array_append (b, data, len);
  return g_byte_array_free_to_bytes (b);
}

static void
test_npy_roundtrip (void)
{
  PhysnnDType types[] = { PHYSNN_DTYPE_FLOAT32, PHYSNN_DTYPE_FLOAT64,
    PHYSNN_DTYPE_INT64, PHYSNN_DTYPE_UINT8, PHYSNN_DTYPE_INT16 };
  for (guint k = 0; k < G_N_ELEMENTS (types); k++) {
    gsize shape[3] = { 3, 2, 5 };
    g_autoptr (PhysnnTensor) t = physnn_tensor_new (types[k], 3, shape);
    for (gsize i = 0; i < 30; i++)
      physnn_tensor_set_value (t, i, (gdouble)(i * 7 % 23));
    g_autofree gchar *p = tmp_path ("rt.npy");
    g_autoptr (GError) error = NULL;
    g_assert_true (physnn_npy_save (t, p, &error));
    g_assert_no_error (error);
    g_autoptr (PhysnnTensor) r = physnn_npy_load (p, &error);
    g_assert_no_error (error);
    g_assert_cmpint (physnn_tensor_get_dtype (r), ==, types[k]);
    g_assert_true (physnn_tensor_shape_equal (r, t));
    for (gsize i = 0; i < 30; i++)
      g_assert_cmpfloat (
          physnn_tensor_get_value (r, i), ==, physnn_tensor_get_value (t, i));
  }
}

static void
test_npy_layouts (void)
{
  g_autoptr (GError) error = NULL;
  /* Fortran order: a 2x3 array stored column by column */
  gdouble f[6] = { 0, 3, 1, 4, 2, 5 };
  g_autoptr (GBytes) b = npy_bytes ("{'descr': '<f8', 'fortran_order': True, "
                                    "'shape': (2, 3), }      \n",
      f, sizeof f, 1);
  g_autoptr (PhysnnTensor) t = physnn_npy_load_from_bytes (b, "f.npy", &error);
  g_assert_no_error (error);
  for (gsize i = 0; i < 6; i++)
    g_assert_cmpfloat (physnn_tensor_get_value (t, i), ==, (gdouble)i);
  /* big-endian int32, version 2 header, a scalar-shaped 1-D array */
  guint8 be[8] = { 0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe };
  g_autoptr (GBytes) b2 = npy_bytes ("{'descr': '>i4', 'fortran_order': "
                                     "False, 'shape': (2,)}\n",
      be, 8, 2);
  g_autoptr (PhysnnTensor) t2 =
      physnn_npy_load_from_bytes (b2, "be.npy", &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (physnn_tensor_get_value (t2, 0), ==, 258);
  g_assert_cmpfloat (physnn_tensor_get_value (t2, 1), ==, -2);
  /* booleans become 0/1 bytes */
  guint8 bo[3] = { 0, 1, 7 };
  g_autoptr (GBytes) b3 = npy_bytes ("{'descr': '|b1', 'fortran_order': "
                                     "False, 'shape': (3,), }\n",
      bo, 3, 1);
  g_autoptr (PhysnnTensor) t3 =
      physnn_npy_load_from_bytes (b3, "b.npy", &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (physnn_tensor_get_value (t3, 2), ==, 1);
}

static void
expect_npy_error (
    const gchar *header, gsize data_len, guint major, const gchar *fragment)
{
  g_autofree guint8 *data = g_malloc0 (MAX (data_len, 1));
  g_autoptr (GBytes) b = npy_bytes (header, data, data_len, major);
  g_autoptr (GError) error = NULL;
  PhysnnTensor *t = physnn_npy_load_from_bytes (b, "bad.npy", &error);
  g_assert_null (t);
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "bad.npy"));
  if (!strstr (error->message, fragment))
    g_error ("\"%s\" does not mention \"%s\"", error->message, fragment);
}

static void
test_npy_hostile (void)
{
  const gchar *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,)}";
  expect_npy_error (ok, 12, 1, "data bytes"); /* truncated */
  expect_npy_error (ok, 20, 1, "data bytes"); /* trailing bytes */
  expect_npy_error ("{'descr': '<c16', 'fortran_order': False, 'shape': "
                    "(1,)}",
      16, 1, "not supported");
  expect_npy_error ("{'descr': [('a', '<f4')], 'fortran_order': False, "
                    "'shape': (1,)}",
      4, 1, "structured");
  expect_npy_error ("{'descr': '<f4', 'shape': (1,)}", 4, 1, "fortran_order");
  expect_npy_error ("{'descr': '<f4', 'fortran_order': False, 'shape': "
                    "(-1,)}",
      4, 1, "shape");
  expect_npy_error ("{'descr': '<f4', 'fortran_order': False, 'shape': "
                    "(4294967296, 4294967296, 4294967296)}",
      4, 1, "overflow");
  expect_npy_error ("{'descr': '<f4', 'fortran_order': False, 'shape': "
                    "(1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1)}",
      4, 1, "dimensions");
  expect_npy_error ("{'descr': '<f4', 'fortran_order': Maybe, 'shape': "
                    "(1,)}",
      4, 1, "True or False");
  expect_npy_error ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,),"
                    " 'x': 1}",
      4, 1, "unknown header key");
  expect_npy_error ("not a dict", 4, 1, "dict");
  expect_npy_error (ok, 16, 7, "version");

  /* no magic; header length beyond the file */
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) junk = g_bytes_new_static ("PK\3\4 not numpy at all", 22);
  g_assert_null (physnn_npy_load_from_bytes (junk, "junk.npy", &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT);
  g_clear_error (&error);
  guint8 shortfile[12] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xff, 0x7f };
  g_autoptr (GBytes) sb = g_bytes_new (shortfile, 12);
  g_assert_null (physnn_npy_load_from_bytes (sb, "short.npy", &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT);
  g_clear_error (&error);
  g_autofree gchar *missing = tmp_path ("does-not-exist.npy");
  g_assert_null (physnn_npy_load (missing, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO);

  /* every truncation of a valid file is an error, never a crash */
  gfloat v[4] = { 1, 2, 3, 4 };
  g_autoptr (GBytes) good = npy_bytes (ok, v, sizeof v, 1);
  gsize n;
  const guint8 *d = g_bytes_get_data (good, &n);
  for (gsize cut = 0; cut < n; cut++) {
    g_autoptr (GBytes) part = g_bytes_new (d, cut);
    g_autoptr (GError) e = NULL;
    g_assert_null (physnn_npy_load_from_bytes (part, "cut.npy", &e));
    g_assert_nonnull (e);
  }
  g_autoptr (GError) e = NULL;
  g_autoptr (PhysnnTensor) t = physnn_npy_load_from_bytes (good, "g", &e);
  g_assert_no_error (e);
}

/* ------------------------------------------------------------------------ */
/* Residual expressions */

static void
test_rx (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnRx) rx = _physnn_rx_parse ("u_t + u*u_x - nu*u_xx + "
                                              "x^2 - -sin(pi*t)/2",
      &error);
  g_assert_no_error (error);
  g_assert_cmpuint (_physnn_rx_get_n_symbols (rx), ==, 7);
  /* value and partials at one point, against hand-computed ones */
  gdouble ut = 0.3, u = 1.5, ux = -2, nu = 0.1, uxx = 4, x = 0.7, t = 0.25;
  const gdouble *sym[7];
  gsize stride[7] = { 0 };
  gdouble vals[7];
  const gchar *names[7] = { "u_t", "u", "u_x", "nu", "u_xx", "x", "t" };
  gdouble given[7] = { ut, u, ux, nu, uxx, x, t };
  for (guint i = 0; i < 7; i++) {
    g_assert_cmpstr (_physnn_rx_get_symbol (rx, i), ==, names[i]);
    vals[i] = given[i];
    sym[i] = &vals[i];
  }
  gdouble r, rb = 1, bars[7] = { 0 };
  gdouble *symb[7];
  gsize sb[7] = { 0 };
  for (guint i = 0; i < 7; i++)
    symb[i] = &bars[i];
  _physnn_rx_eval (rx, 1, sym, stride, &r);
  gdouble want = ut + u * ux - nu * uxx + x * x + sin (G_PI * t) / 2;
  g_assert_cmpfloat_with_epsilon (r, want, 1e-14);
  _physnn_rx_vjp (rx, 1, sym, stride, &rb, symb, sb, NULL);
  g_assert_cmpfloat_with_epsilon (bars[0], 1, 1e-14);
  g_assert_cmpfloat_with_epsilon (bars[1], ux, 1e-14);
  g_assert_cmpfloat_with_epsilon (bars[2], u, 1e-14);
  g_assert_cmpfloat_with_epsilon (bars[3], -uxx, 1e-14);
  g_assert_cmpfloat_with_epsilon (bars[4], -nu, 1e-14);
  g_assert_cmpfloat_with_epsilon (bars[5], 2 * x, 1e-14);
  g_assert_cmpfloat_with_epsilon (bars[6], G_PI * cos (G_PI * t) / 2, 1e-14);

  const struct {
    const gchar *text;
    gint column;
  } bad[] = {
    { "u_t - ", 7 },
    { "u_t + (u", 9 },
    { "u $ 2", 3 },
    { "foo(u)", 1 },
    { "2 3", 3 },
    { "", 1 },
    { "u)", 2 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) e = NULL;
    g_assert_null (_physnn_rx_parse (bad[i].text, &e));
    g_assert_error (e, PHYSNN_ERROR, PHYSNN_ERROR_PARSE);
    g_autofree gchar *col = g_strdup_printf ("column %d", bad[i].column);
    if (!strstr (e->message, col))
      g_error ("\"%s\": expected %s in \"%s\"", bad[i].text, col, e->message);
  }
  /* deep nesting is refused, not a stack overflow */
  GString *deep = g_string_new (NULL);
  for (guint i = 0; i < 10000; i++)
    g_string_append_c (deep, '(');
  g_string_append_c (deep, 'u');
  g_autoptr (GError) e = NULL;
  g_assert_null (_physnn_rx_parse (deep->str, &e));
  g_assert_error (e, PHYSNN_ERROR, PHYSNN_ERROR_PARSE);
  g_string_free (deep, TRUE);
}

/* ------------------------------------------------------------------------ */
/* Losses and training */

static PhysnnModel *
small_pinn (const gchar *ansatz, guint64 seed)
{
  g_autoptr (GError) error = NULL;
  PhysnnModel *m =
      physnn_model_new_mlp ("x,t", "u", "12,12", "tanh", ansatz, seed, &error);
  g_assert_no_error (error);
  return m;
}

static PhysnnTensor *
points (guint n, guint64 seed)
{
  gsize shape[2] = { n, 2 };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, 2, shape);
  GRand *r = g_rand_new_with_seed ((guint32)seed);
  for (gsize i = 0; i < 2 * n; i++)
    physnn_tensor_set_value (t, i, g_rand_double (r));
  g_rand_free (r);
  return t;
}

static void
expect_residual_error (
    PhysnnLoss *loss, const gchar *expr, gint code, const gchar *fragment)
{
  g_autoptr (PhysnnTensor) p = points (8, 1);
  g_autoptr (GError) error = NULL;
  g_assert_cmpint (
      physnn_loss_add_residual (loss, NULL, expr, &p, 1, 1.0, &error), ==, -1);
  g_assert_error (error, PHYSNN_ERROR, code);
  if (!strstr (error->message, fragment))
    g_error ("\"%s\": \"%s\" does not mention \"%s\"", expr, error->message,
        fragment);
}

static void
test_loss_bad_input (void)
{
  g_autoptr (PhysnnModel) m = small_pinn (NULL, 3);
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnLoss) loss = physnn_loss_new (m, &error);
  g_assert_no_error (error);
  /* a PDE the model's inputs cannot satisfy */
  expect_residual_error (loss, "u_t - u_yy", PHYSNN_ERROR_INVALID_ARGUMENT,
      "\"yy\", which is not a coordinate");
  expect_residual_error (loss, "v_t - u_xx", PHYSNN_ERROR_INVALID_ARGUMENT,
      "unknown symbol \"v_t\"");
  expect_residual_error (loss, "u_t - nu*u_xx", PHYSNN_ERROR_INVALID_ARGUMENT,
      "unknown symbol \"nu\"");
  expect_residual_error (loss, "u_xxx", PHYSNN_ERROR_NOT_SUPPORTED, "order 3");
  expect_residual_error (loss, "u_t - 0.1*", PHYSNN_ERROR_PARSE, "column 11");
  /* the PDE language's own syntax errors, with the column */
  expect_residual_error (loss, " ; ", PHYSNN_ERROR_PARSE, "column 2");
  expect_residual_error (loss, "u_t = u = 1", PHYSNN_ERROR_PARSE, "'='");
  g_assert_false (physnn_loss_define (loss, "x", 1.0, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_true (physnn_loss_define (loss, "nu", 0.1, &error));

  /* empty and non-finite points, wrong shapes, no terms */
  gsize zero[2] = { 0, 2 };
  g_autoptr (PhysnnTensor) empty =
      physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, 2, zero);
  g_assert_cmpint (physnn_loss_add_residual (
                       loss, "pde", "u_t - nu*u_xx", &empty, 1, 1.0, &error),
      ==, -1);
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "no points"));
  g_clear_error (&error);
  g_autoptr (PhysnnTensor) p = points (16, 2);
  physnn_tensor_set_value (p, 5, NAN);
  g_assert_cmpint (physnn_loss_add_residual (
                       loss, "pde", "u_t - nu*u_xx", &p, 1, 1.0, &error),
      ==, -1);
  g_assert_nonnull (strstr (error->message, "NaN"));
  g_clear_error (&error);
  gsize s3[2] = { 4, 3 };
  g_autoptr (PhysnnTensor) wide =
      physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, 2, s3);
  g_assert_cmpint (physnn_loss_add_residual (
                       loss, "pde", "u_t - nu*u_xx", &wide, 1, 1.0, &error),
      ==, -1);
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE);
  g_clear_error (&error);
  gdouble v;
  g_assert_false (physnn_loss_evaluate (loss, &v, NULL, &error));
  g_assert_nonnull (strstr (error->message, "no terms"));
  g_clear_error (&error);
  g_autoptr (PhysnnTensor) good = points (16, 3);
  g_assert_cmpint (physnn_loss_add_residual (
                       loss, "pde", "u_t - nu*u_xx", &good, 1, 1.0, &error),
      ==, 0);
  g_assert_true (physnn_loss_evaluate (loss, &v, NULL, &error));
  g_assert_true (isfinite (v) && v > 0);
  /* a target of the wrong size */
  gsize ts[2] = { 5, 1 };
  g_autoptr (PhysnnTensor) tgt =
      physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, 2, ts);
  gint term = physnn_loss_add_mse (loss, "data", &good, 1, 0, tgt, 1.0, &error);
  g_assert_no_error (error);
  g_assert_false (physnn_loss_evaluate (loss, &v, NULL, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE);
  physnn_loss_set_term_weight (loss, (guint)term, 0);
}

static void
test_trainer_bad_input (void)
{
  g_autoptr (PhysnnModel) m = small_pinn (NULL, 4);
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnTrainer) tr = physnn_trainer_new (m, &error);
  g_assert_no_error (error);
  const struct {
    const gchar *domain, *fragment;
  } bad[] = {
    { "x=1:1,t=0:1", "empty" },
    { "x=2:1,t=0:1", "empty" },
    { "x=0:1", "no range for t" },
    { "x=0:1,t=0:1,y=0:1", "not a coordinate" },
    { "x=0:1,t=0", "NAME=MIN:MAX" },
    { "x=a:1,t=0:1", "two numbers" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) e = NULL;
    g_assert_false (physnn_trainer_set_domain (tr, bad[i].domain, &e));
    g_assert_nonnull (e);
    if (!strstr (e->message, bad[i].fragment))
      g_error ("%s: \"%s\"", bad[i].domain, e->message);
  }
  /* no domain yet (and no physnn.domain metadata) */
  g_assert_cmpint (
      physnn_trainer_add_pde (tr, "u_t - u_xx", 64, 1.0, &error), ==, -1);
  g_assert_nonnull (strstr (error->message, "no domain"));
  g_clear_error (&error);
  g_assert_true (physnn_trainer_set_domain (tr, "x=0:1,t=0:1", &error));
  g_assert_cmpint (
      physnn_trainer_add_condition (tr, "t=2", "u", 16, 1.0, &error), ==, -1);
  g_assert_nonnull (strstr (error->message, "outside the domain"));
  g_clear_error (&error);
  g_assert_cmpint (
      physnn_trainer_add_condition (tr, "z=0", "u", 16, 1.0, &error), ==, -1);
  g_assert_nonnull (strstr (error->message, "not a coordinate"));
  g_clear_error (&error);
  g_assert_cmpint (
      physnn_trainer_add_pde (tr, "u_t - u_yy", 64, 1.0, &error), ==, -1);
  g_assert_nonnull (strstr (error->message, "not a coordinate"));
  g_clear_error (&error);
  g_assert_cmpint (
      physnn_trainer_add_pde (tr, "u_t - u_xx", 0, 1.0, &error), ==, -1);
  g_clear_error (&error);
  g_assert_false (physnn_trainer_train (tr, NULL, &error));
  g_assert_nonnull (strstr (error->message, "nothing to train"));
}

static gdouble
loss_of (PhysnnModel *m, const gchar *expr)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnLoss) loss = physnn_loss_new (m, &error);
  g_autoptr (PhysnnTensor) p = points (200, 9);
  g_assert_cmpint (
      physnn_loss_add_residual (loss, NULL, expr, &p, 1, 1.0, &error), ==, 0);
  gdouble v = NAN;
  physnn_loss_evaluate (loss, &v, NULL, &error);
  return v;
}

static void
test_trainer_nan (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *out = tmp_path ("nan.onnx");
  /* NaN at the start: nothing trained, nothing to keep */
  {
    g_autoptr (PhysnnModel) m = small_pinn (NULL, 5);
    g_autoptr (PhysnnTrainer) tr = physnn_trainer_new (m, &error);
    g_assert_true (physnn_trainer_set_domain (tr, "x=0:1,t=0:1", &error));
    g_assert_cmpint (
        physnn_trainer_add_pde (tr, "u - log(x - 0.5)", 64, 1.0, &error), >=,
        0);
    g_object_set (tr, "adam-iterations", 10u, NULL);
    g_assert_false (physnn_trainer_train (tr, NULL, &error));
    g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC);
    g_assert_nonnull (strstr (error->message, "initial weights"));
    g_assert_cmpuint (physnn_trainer_get_iterations (tr), ==, 0);
    g_clear_error (&error);
  }
  /* NaN in the middle: minimising mean(sqrt(u)^2) = mean(u) drives u below
   * zero somewhere, where sqrt gives NaN; the last good weights are kept */
  g_autoptr (PhysnnModel) m = small_pinn ("1 + N", 6);
  g_autoptr (PhysnnTrainer) tr = physnn_trainer_new (m, &error);
  g_assert_true (physnn_trainer_set_domain (tr, "x=0:1,t=0:1", &error));
  g_assert_cmpint (
      physnn_trainer_add_pde (tr, "sqrt(u)", 128, 1.0, &error), >=, 0);
  g_object_set (tr, "adam-iterations", 5000u, "learning-rate", 0.05, NULL);
  g_assert_false (physnn_trainer_train (tr, NULL, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC);
  g_assert_nonnull (strstr (error->message, "are kept"));
  guint it = physnn_trainer_get_iterations (tr);
  g_assert_cmpuint (it, >, 1);
  g_assert_cmpuint (it, <, 5000);
  g_clear_error (&error);
  g_assert_true (isfinite (physnn_trainer_get_final_loss (tr)));
  /* what is saved is the kept model: finite where it was trained */
  g_assert_true (physnn_trainer_save (tr, out, &error));
  g_assert_no_error (error);
  g_autoptr (PhysnnModel) back = physnn_model_new_from_file (out, &error);
  g_assert_no_error (error);
  gdouble before = loss_of (m, "u"), after = loss_of (back, "u");
  g_assert_true (isfinite (after));
  g_assert_cmpfloat (after, <, before);
  /* the history ends with the last good iteration */
  g_autoptr (PhysnnTensor) h = physnn_trainer_get_history (tr);
  g_assert_cmpuint (physnn_tensor_get_dim (h, 0), ==, it);
}

static void
test_trainer_never_overwrites (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnModel) fresh = small_pinn (NULL, 7);
  g_autofree gchar *in = tmp_path ("input.onnx");
  /* put the model in a file and train that file */
  {
    g_autoptr (PhysnnTrainer) tr = physnn_trainer_new (fresh, &error);
    g_assert_true (physnn_trainer_save (tr, in, &error));
    g_assert_no_error (error);
  }
  g_autoptr (PhysnnModel) m = physnn_model_new_from_file (in, &error);
  g_autoptr (PhysnnTrainer) tr = physnn_trainer_new (m, &error);
  g_assert_true (physnn_trainer_set_domain (tr, "x=0:1,t=0:1", &error));
  g_assert_cmpint (
      physnn_trainer_add_pde (tr, "u_t - u_xx", 32, 1.0, &error), >=, 0);
  g_object_set (tr, "adam-iterations", 3u, NULL);
  g_assert_true (physnn_trainer_train (tr, NULL, &error));
  gchar *before = NULL, *after = NULL;
  gsize lb, la;
  g_assert_true (g_file_get_contents (in, &before, &lb, NULL));
  g_assert_false (physnn_trainer_save (tr, in, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "input model"));
  g_clear_error (&error);
  /* the same file by another name */
  g_autofree gchar *alias = g_strdup_printf ("%s/./input.onnx", tmpdir);
  g_assert_false (physnn_trainer_save (tr, alias, &error));
  g_clear_error (&error);
  g_assert_true (g_file_get_contents (in, &after, &la, NULL));
  g_assert_cmpuint (la, ==, lb);
  g_assert_true (memcmp (before, after, la) == 0);
  g_free (before);
  g_free (after);
}

static gdouble
heat_exact (gdouble x, gdouble t)
{
  return exp (-0.1 * G_PI * G_PI * t) * sin (G_PI * x);
}

/* rel L2 error of a model against the exact heat solution on a grid */
static gdouble
heat_error (PhysnnModel *m)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", &error);
  gsize shape[2] = { 121, 2 };
  gdouble pts[242], num = 0, den = 0;
  for (guint i = 0; i < 121; i++) {
    pts[2 * i] = (i % 11) / 10.0;
    pts[2 * i + 1] = (i / 11) / 10.0;
  }
  g_autoptr (PhysnnTensor) in = physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_FLOAT32, 2, shape, pts, 242, &error);
  g_autoptr (GPtrArray) out = physnn_model_run (m, cpu, &in, 1, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 121; i++) {
    gdouble e = heat_exact (pts[2 * i], pts[2 * i + 1]);
    gdouble d = physnn_tensor_get_value (g_ptr_array_index (out, 0), i) - e;
    num += d * d;
    den += e * e;
  }
  return sqrt (num / den);
}

/* Fine-tuning an existing ONNX file on data from .npy files (samples of
 * the exact heat solution), and the shipped heat PINN on physics. */
static void
test_trainer_fine_tunes (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnModel) fresh = small_pinn (NULL, 21);
  g_autofree gchar *in = tmp_path ("to-tune.onnx");
  {
    g_autoptr (PhysnnTrainer) tr = physnn_trainer_new (fresh, &error);
    g_assert_true (physnn_trainer_save (tr, in, &error));
  }
  /* the data, through .npy files */
  gsize xs[2] = { 400, 2 }, us[2] = { 400, 1 };
  g_autoptr (PhysnnTensor) x = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, xs);
  g_autoptr (PhysnnTensor) u = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, us);
  GRand *r = g_rand_new_with_seed (4);
  for (guint i = 0; i < 400; i++) {
    gdouble a = g_rand_double (r), b = g_rand_double (r);
    physnn_tensor_set_value (x, 2 * i, a);
    physnn_tensor_set_value (x, 2 * i + 1, b);
    physnn_tensor_set_value (u, i, heat_exact (a, b));
  }
  g_rand_free (r);
  g_autofree gchar *xp = tmp_path ("x.npy"), *up = tmp_path ("u.npy");
  g_assert_true (physnn_npy_save (x, xp, &error));
  g_assert_true (physnn_npy_save (u, up, &error));
  g_autoptr (PhysnnTensor) xl = physnn_npy_load (xp, &error);
  g_autoptr (PhysnnTensor) ul = physnn_npy_load (up, &error);
  g_assert_no_error (error);

  g_autoptr (PhysnnModel) m = physnn_model_new_from_file (in, &error);
  gdouble before = heat_error (m);
  g_autoptr (PhysnnTrainer) tr = physnn_trainer_new (m, &error);
  g_assert_cmpint (physnn_trainer_add_data (tr, &xl, 1, 0, ul,
                       PHYSNN_DATA_LOSS_MSE, 64, 1.0, &error),
      ==, 0);
  g_object_set (tr, "adam-iterations", 300u, "learning-rate", 1e-2,
      "learning-rate-final", 1e-3, "lbfgs-iterations", 100u, NULL);
  g_assert_true (physnn_trainer_train (tr, NULL, &error));
  g_assert_no_error (error);
  g_autofree gchar *outp = tmp_path ("tuned.onnx");
  g_assert_true (physnn_trainer_save (tr, outp, &error));
  g_autoptr (PhysnnModel) tuned = physnn_model_new_from_file (outp, &error);
  g_assert_no_error (error);
  gdouble after = heat_error (tuned);
  /* an untrained network is off by about 100%; fitted samples bring it
   * within a few percent, and the input file is what it was */
  g_assert_cmpfloat (before, >, 0.5);
  g_assert_cmpfloat (after, <, 0.05);
  g_autoptr (PhysnnModel) again = physnn_model_new_from_file (in, &error);
  g_assert_cmpfloat (heat_error (again), ==, before);

  /* physics: the shipped heat PINN (its PDE from its metadata) under
   * L-BFGS on its own residual: the loss does not rise (line search) and
   * the model stays within its 1e-3 target */
  g_autoptr (PhysnnModel) heat =
      physnn_model_new_builtin ("heat1d-pinn", &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (heat_error (heat), <, 1e-3);
  g_autoptr (PhysnnTrainer) ht = physnn_trainer_new (heat, &error);
  g_assert_true (physnn_trainer_set_domain (
      ht, physnn_model_get_metadata (heat, "physnn.domain"), &error));
  gint pt = physnn_trainer_add_pde (
      ht, physnn_model_get_metadata (heat, "physnn.pde"), 512, 1.0, &error);
  g_assert_cmpint (pt, ==, 0);
  g_object_set (ht, "adam-iterations", 0u, "lbfgs-iterations", 20u,
      "lbfgs-points-scale", 1.0, NULL);
  PhysnnLoss *hl = physnn_trainer_get_loss (ht);
  g_assert_true (physnn_trainer_train (ht, NULL, &error));
  g_assert_no_error (error);
  g_autoptr (PhysnnTensor) hist = physnn_trainer_get_history (ht);
  g_assert_cmpfloat (physnn_trainer_get_final_loss (ht), <=,
      physnn_tensor_get_value (hist, 1));
  g_assert_cmpfloat (physnn_loss_get_term_value (hl, 0), >, 0);
  g_autoptr (PhysnnModel) ht_out = physnn_trainer_dup_model (ht, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (heat_error (ht_out), <, 1e-3);
}

static PhysnnTrainer *
heat_trainer (PhysnnModel *m, guint64 seed, PhysnnSampling how)
{
  g_autoptr (GError) error = NULL;
  PhysnnTrainer *tr = physnn_trainer_new (m, &error);
  g_assert_no_error (error);
  g_object_set (tr, "seed", seed, "sampling", how, "adam-iterations", 60u,
      "learning-rate", 5e-3, "lbfgs-iterations", 40u, NULL);
  g_assert_true (physnn_trainer_set_domain (tr, "x=0:1,t=0:1", &error));
  g_assert_cmpint (
      physnn_trainer_add_pde (tr, "u_t - 0.1*u_xx", 256, 1.0, &error), >=, 0);
  g_assert_cmpint (physnn_trainer_add_condition (
                       tr, "t=0", "u - sin(pi*x)", 64, 1.0, &error),
      >=, 0);
  g_assert_cmpint (
      physnn_trainer_add_condition (tr, "x=0|x=1", "u", 64, 1.0, &error), >=,
      0);
  g_assert_no_error (error);
  return tr;
}

static void
test_trainer_trains_and_is_deterministic (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnModel) m = small_pinn (NULL, 8);
  PhysnnTensor *h[3] = { NULL };
  gdouble final[3];
  for (guint k = 0; k < 3; k++) {
    g_autoptr (PhysnnTrainer) tr =
        heat_trainer (m, 11, PHYSNN_SAMPLING_LATIN_HYPERCUBE);
    physnn_loss_set_threads (physnn_trainer_get_loss (tr), k == 2 ? 1 : 2);
    g_assert_true (physnn_trainer_train (tr, NULL, &error));
    g_assert_no_error (error);
    h[k] = physnn_trainer_get_history (tr);
    final[k] = physnn_trainer_get_final_loss (tr);
  }
  /* the loss fell by at least 10x; runs with one seed agree bit for bit,
   * whatever the number of threads */
  gdouble first = physnn_tensor_get_value (h[0], 1);
  g_assert_cmpfloat (final[0], <, first / 10);
  g_assert_cmpfloat (final[0], ==, final[1]);
  g_assert_cmpfloat (final[0], ==, final[2]);
  g_assert_true (physnn_tensor_shape_equal (h[0], h[2]));
  for (gsize i = 0; i < physnn_tensor_get_n_elements (h[0]); i++)
    g_assert_cmpfloat (physnn_tensor_get_value (h[0], i), ==,
        physnn_tensor_get_value (h[2], i));
  for (guint k = 0; k < 3; k++)
    g_object_unref (h[k]);
  /* another seed, another run */
  g_autoptr (PhysnnTrainer) other =
      heat_trainer (m, 12, PHYSNN_SAMPLING_LATIN_HYPERCUBE);
  g_assert_true (physnn_trainer_train (other, NULL, &error));
  g_assert_cmpfloat (physnn_trainer_get_final_loss (other), !=, final[0]);

  /* the loss plot is a PNG */
  g_autoptr (PhysnnTrainer) tr = heat_trainer (m, 11, PHYSNN_SAMPLING_UNIFORM);
  g_assert_true (physnn_trainer_train (tr, NULL, &error));
  g_autofree gchar *png = tmp_path ("loss.png");
  g_assert_true (physnn_trainer_write_loss_plot (tr, png, &error));
  g_assert_no_error (error);
  gchar *data;
  gsize len;
  g_assert_true (g_file_get_contents (png, &data, &len, NULL));
  g_assert_cmpuint (len, >, 1000);
  g_assert_true (memcmp (data, "\x89PNG\r\n\x1a\n", 8) == 0);
  g_free (data);
}

static void
test_sampling (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnModel) m = small_pinn (NULL, 9);
  const guint n = 500;
  /* Latin hypercube: each of the n strata of each coordinate holds one
   * point */
  {
    g_autoptr (PhysnnTrainer) tr = physnn_trainer_new (m, &error);
    g_object_set (tr, "sampling", PHYSNN_SAMPLING_LATIN_HYPERCUBE,
        "adam-iterations", 1u, NULL);
    g_assert_true (physnn_trainer_set_domain (tr, "x=-1:1,t=0:2", &error));
    gint term = physnn_trainer_add_pde (tr, "u_t", n, 1.0, &error);
    g_assert_true (physnn_trainer_train (tr, NULL, &error));
    guint ni;
    PhysnnTensor **in = _physnn_loss_get_term_inputs (
        physnn_trainer_get_loss (tr), (guint)term, &ni);
    g_autofree guint *hits = g_new0 (guint, 2 * n);
    for (guint p = 0; p < n; p++) {
      gdouble x = physnn_tensor_get_value (in[0], 2 * p);
      gdouble t = physnn_tensor_get_value (in[0], 2 * p + 1);
      hits[(guint)((x + 1) / 2 * n)]++;
      hits[n + (guint)(t / 2 * n)]++;
    }
    for (guint i = 0; i < 2 * n; i++)
      g_assert_cmpuint (hits[i], ==, 1);
  }
  /* residual-adaptive: the residual x draws points with density ∝ 2x + 1
   * on [0, 1] (mean 7/12), where uniform points have mean 1/2 */
  {
    g_autoptr (PhysnnTrainer) tr = physnn_trainer_new (m, &error);
    g_object_set (tr, "sampling", PHYSNN_SAMPLING_ADAPTIVE, "adam-iterations",
        2u, "learning-rate", 1e-12, NULL);
    g_assert_true (physnn_trainer_set_domain (tr, "x=0:1,t=0:1", &error));
    gint term = physnn_trainer_add_pde (tr, "x + 0*u", 4000, 1.0, &error);
    g_assert_cmpint (term, >=, 0);
    g_assert_true (physnn_trainer_train (tr, NULL, &error));
    guint ni;
    PhysnnTensor **in = _physnn_loss_get_term_inputs (
        physnn_trainer_get_loss (tr), (guint)term, &ni);
    gdouble mean = 0;
    for (guint p = 0; p < 4000; p++)
      mean += physnn_tensor_get_value (in[0], 2 * p) / 4000;
    /* the standard error of the mean is about 0.0045 */
    g_assert_cmpfloat (fabs (mean - 7.0 / 12), <, 0.02);
  }
  /* refinement before an L-BFGS round, residual x on [0, 1] (the loss
   * does not depend on the weights, so L-BFGS stops at once): "largest"
   * adds the top 5 % of the pool (x above about 0.95); "draw" weights
   * points by r² / mean r² + 1 = 3x² + 1, density (3x² + 1) / 2, mean 5/8
   * (2000 of 40000 without replacement is close to a draw with it) */
  for (guint how = 0; how < 2; how++) {
    g_autoptr (PhysnnTrainer) tr = physnn_trainer_new (m, &error);
    /* "largest" with uniform sampling: refinement asked for alone */
    g_object_set (tr, "sampling", how ? PHYSNN_SAMPLING_ADAPTIVE :
        PHYSNN_SAMPLING_UNIFORM, "adam-iterations", 0u, "lbfgs-iterations", 1u, "lbfgs-rounds", 1u, "lbfgs-points-scale",
        1.0, "refine-points", 2000u, "refine-pool", 40000u, "refinement",
        how ? PHYSNN_REFINEMENT_DRAW : PHYSNN_REFINEMENT_LARGEST, "seed",
        (guint64) 5, NULL);
    g_assert_true (physnn_trainer_set_domain (tr, "x=0:1,t=0:1", &error));
    gint term = physnn_trainer_add_pde (tr, "x + 0*u", 1000, 1.0, &error);
    g_assert_cmpint (term, >=, 0);
    g_assert_true (physnn_trainer_train (tr, NULL, &error));
    g_assert_no_error (error);
    guint ni;
    PhysnnTensor **in = _physnn_loss_get_term_inputs (
        physnn_trainer_get_loss (tr), (guint)term, &ni);
    g_assert_cmpuint (physnn_tensor_get_dim (in[0], 0), ==, 3000);
    gdouble mean = 0, lo = 1;
    for (guint p = 1000; p < 3000; p++) {
      gdouble x = physnn_tensor_get_value (in[0], 2 * p);
      mean += x / 2000;
      lo = MIN (lo, x);
    }
    if (how == 0)
      g_assert_cmpfloat (lo, >, 0.93);
    else {
      /* standard error of the mean about 0.006 */
      g_assert_cmpfloat (fabs (mean - 5.0 / 8), <, 0.03);
      g_assert_cmpfloat (lo, <, 0.1);
    }
  }
  /* conditions lie on their faces, spread over them */
  {
    g_autoptr (PhysnnTrainer) tr = physnn_trainer_new (m, &error);
    g_object_set (tr, "adam-iterations", 1u, NULL);
    g_assert_true (physnn_trainer_set_domain (tr, "x=0:1,t=0:1", &error));
    gint term =
        physnn_trainer_add_condition (tr, "x=0|x=1", "u", 100, 1.0, &error);
    g_assert_true (physnn_trainer_train (tr, NULL, &error));
    guint ni, at0 = 0, at1 = 0;
    PhysnnTensor **in = _physnn_loss_get_term_inputs (
        physnn_trainer_get_loss (tr), (guint)term, &ni);
    for (guint p = 0; p < 100; p++) {
      gdouble x = physnn_tensor_get_value (in[0], 2 * p);
      at0 += x == 0;
      at1 += x == 1;
    }
    g_assert_cmpuint (at0, ==, 50);
    g_assert_cmpuint (at1, ==, 50);
  }
}

/* The loss takes its PDE through the PDE language: "lhs = rhs", "**" and a
 * system give the same loss as the written-out residuals. */
static void
test_loss_pde_language (void)
{
  g_autoptr (PhysnnModel) m = small_pinn (NULL, 4);
  g_autoptr (PhysnnTensor) p = points (64, 5);
  g_autoptr (GError) error = NULL;
  const gchar *forms[][2] = {
    { "u_t - 0.1*u_xx", "u_t = 0.1*u_xx" },
    { "u_t + u*u_x - 0.01*u_xx", "u_t + u*u_x = 0.01*u_xx" },
    { "u^2 - x", "u**2 = x" },
    { "u_t - u_xx; u - sin(pi*x)", "u_t = u_xx; u = sin(pi*x)" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (forms); i++) {
    gdouble v[2];
    PhysnnTensor *g[2] = { NULL, NULL };
    for (guint k = 0; k < 2; k++) {
      g_autoptr (PhysnnLoss) loss = physnn_loss_new (m, &error);
      g_assert_cmpint (physnn_loss_add_residual (
                           loss, NULL, forms[i][k], &p, 1, 1.0, &error),
          ==, 0);
      g_assert_no_error (error);
      g_assert_true (physnn_loss_evaluate (loss, &v[k], &g[k], &error));
      g_assert_no_error (error);
    }
    g_assert_cmpfloat (v[0], >, 0);
    g_assert_cmpfloat_with_epsilon (v[0], v[1], 1e-12 * v[0]);
    for (gsize j = 0; j < physnn_tensor_get_n_elements (g[0]); j++)
      g_assert_cmpfloat_with_epsilon (physnn_tensor_get_value (g[0], j),
          physnn_tensor_get_value (g[1], j), 1e-12 * (1 + fabs (v[0])));
    g_object_unref (g[0]);
    g_object_unref (g[1]);
  }
}

/* Input scaling: the scaled network at (x, t) is the unscaled network with
 * the same weights at (2(x-lo)/(hi-lo) - 1, ...). */
static void
test_mlp_input_scaling (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnModel) plain =
      physnn_model_new_mlp ("x,t", "u", "8,8", "tanh", NULL, 7, &error);
  g_assert_no_error (error);
  g_autoptr (PhysnnModel) scaled = physnn_model_new_mlp_full (
      "x,t", "u", "8,8", "tanh", NULL, "t=0:1,x=-1:3", 7, &error);
  g_assert_no_error (error);
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", &error);
  gsize shape[2] = { 3, 2 };
  gdouble raw[6] = { -1, 0, 3, 1, 0.5, 0.25 };
  gdouble mapped[6];
  for (guint i = 0; i < 3; i++) {
    mapped[2 * i] = 2 * (raw[2 * i] + 1) / 4 - 1;
    mapped[2 * i + 1] = 2 * raw[2 * i + 1] - 1;
  }
  g_autoptr (PhysnnTensor) a = physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_FLOAT32, 2, shape, raw, 6, &error);
  g_autoptr (PhysnnTensor) b = physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_FLOAT32, 2, shape, mapped, 6, &error);
  g_autoptr (GPtrArray) ua = physnn_model_run (scaled, cpu, &a, 1, &error);
  g_assert_no_error (error);
  g_autoptr (GPtrArray) ub = physnn_model_run (plain, cpu, &b, 1, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpfloat_with_epsilon (
        physnn_tensor_get_value (g_ptr_array_index (ua, 0), i),
        physnn_tensor_get_value (g_ptr_array_index (ub, 0), i), 1e-6);
  /* the scaling is not trained: the same parameters as without it */
  g_autoptr (PhysnnLoss) la = physnn_loss_new (scaled, &error);
  g_autoptr (PhysnnLoss) lb = physnn_loss_new (plain, &error);
  g_assert_cmpuint (
      physnn_loss_get_n_parameters (la), ==, physnn_loss_get_n_parameters (lb));
  const gchar *bad[] = { "x=0:1", "x=0:1,t=1:1", "x=0:1,t=0:1,y=0:1",
    "x=0:1,t=a" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) e = NULL;
    g_assert_null (physnn_model_new_mlp_full (
        "x,t", "u", "8", "tanh", NULL, bad[i], 0, &e));
    g_assert_nonnull (e);
  }
}

static void
test_ansatz_hard_constraints (void)
{
  /* u = sin(pi x) + t x (1 - x) N: the initial and boundary values hold
   * exactly whatever the weights */
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnModel) m = small_pinn ("sin(pi*x) + t*x*(1-x)*N", 10);
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", &error);
  gsize shape[2] = { 3, 2 };
  gdouble pts[6] = { 0.3, 0.0, 0.0, 0.7, 1.0, 0.4 };
  g_autoptr (PhysnnTensor) in = physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_FLOAT32, 2, shape, pts, 6, &error);
  g_autoptr (GPtrArray) out = physnn_model_run (m, cpu, &in, 1, &error);
  g_assert_no_error (error);
  PhysnnTensor *u = g_ptr_array_index (out, 0);
  g_assert_cmpfloat_with_epsilon (
      physnn_tensor_get_value (u, 0), sin (G_PI * 0.3f), 1e-6);
  g_assert_cmpfloat_with_epsilon (physnn_tensor_get_value (u, 1), 0, 1e-6);
  g_assert_cmpfloat_with_epsilon (physnn_tensor_get_value (u, 2), 0, 1e-6);
  /* the ansatz's constants are not parameters: 2-12-12-1 has 193 */
  g_autoptr (PhysnnLoss) loss = physnn_loss_new (m, &error);
  g_assert_cmpuint (physnn_loss_get_n_parameters (loss), ==,
      2 * 12 + 12 + 12 * 12 + 12 + 12 + 1);
  /* bad networks */
  const gchar *bad[][3] = {
    { "x,x", "12", "tanh" },
    { "x,t", "12,a", "tanh" },
    { "x,t", "12", "cube" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) e = NULL;
    g_assert_null (physnn_model_new_mlp (
        bad[i][0], "u", bad[i][1], bad[i][2], NULL, 0, &e));
    g_assert_error (e, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT);
  }
  g_assert_null (
      physnn_model_new_mlp ("x,t", "u", "8", "tanh", "tan(x)*N", 0, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);
  g_assert_null (
      physnn_model_new_mlp ("x,t", "u", "8", "tanh", "y*N", 0, &error));
  g_assert_nonnull (strstr (error->message, "unknown symbol \"y\""));
  g_clear_error (&error);
  g_assert_null (
      physnn_model_new_mlp ("x,t", "u", "8", "tanh", "u = N", 0, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (
      physnn_model_new_mlp ("x,t", "u", "8", "tanh", "x*(N", 0, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE);
  g_assert_nonnull (strstr (error->message, "column"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("physnn-train-XXXXXX", NULL);
  g_test_add_func ("/npy/roundtrip", test_npy_roundtrip);
  g_test_add_func ("/npy/layouts", test_npy_layouts);
  g_test_add_func ("/npy/hostile", test_npy_hostile);
  g_test_add_func ("/residual/parse-eval-vjp", test_rx);
  g_test_add_func ("/loss/bad-input", test_loss_bad_input);
  g_test_add_func ("/loss/pde-language", test_loss_pde_language);
  g_test_add_func ("/trainer/mlp-input-scaling", test_mlp_input_scaling);
  g_test_add_func ("/trainer/bad-input", test_trainer_bad_input);
  g_test_add_func ("/trainer/nan-keeps-last-good", test_trainer_nan);
  g_test_add_func (
      "/trainer/never-overwrites-input", test_trainer_never_overwrites);
  g_test_add_func ("/trainer/trains-deterministically",
      test_trainer_trains_and_is_deterministic);
  g_test_add_func ("/trainer/sampling", test_sampling);
  g_test_add_func ("/trainer/fine-tunes", test_trainer_fine_tunes);
  g_test_add_func ("/trainer/ansatz", test_ansatz_hard_constraints);
  int r = g_test_run ();
  g_autoptr (GDir) d = g_dir_open (tmpdir, 0, NULL);
  const gchar *name;
  while (d && (name = g_dir_read_name (d))) {
    g_autofree gchar *p = g_build_filename (tmpdir, name, NULL);
    g_unlink (p);
  }
  g_rmdir (tmpdir);
  g_free (tmpdir);
  return r;
}
