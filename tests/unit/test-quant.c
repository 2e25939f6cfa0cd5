/* Unit tests of quantization's own logic: plans (JSON round trips, every
 * kind of bad plan), exact byte counts against the exported file, the
 * calibrator's errors, the physics objective against an independent path
 * (the quantized graph's PDE residual), bias correction and fine-tuning,
 * validate_physics, the search's
 * constraints, errors and determinism. Numerics against references no one
 * here wrote (ONNX Runtime, PyTorch) are in tests/crosscheck/quant_vs_ort.py.
 */
#include <physnn/physnn.h>
#include <physnn/onnx-private.h>

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static gchar *tmpdir;

static PhysnnModel *
heat (void)
{
  g_autoptr (GError) error = NULL;
  PhysnnModel *m = physnn_model_new_builtin ("heat1d_pinn", &error);
  g_assert_no_error (error);
  return m;
}

static PhysnnTensor *
points (gsize n, guint seed)
{
  gsize shape[2] = { n, 2 };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  for (gsize i = 0; i < 2 * n; i++)
    physnn_tensor_set_value (t, i, g_rand_double (r));
  return t;
}

static void
test_plan_basics (void)
{
  g_autoptr (PhysnnModel) m = heat ();
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnQuantPlan) p = physnn_quant_plan_new (m, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (physnn_quant_plan_get_n_layers (p), ==, 4);
  g_assert_cmpfloat (physnn_quant_plan_get_average_bits (p), ==, 32.0);
  g_assert_cmpint (physnn_quant_plan_find_layer (p, "no such"), ==, -1);
  g_assert_false (
      physnn_quant_plan_set_precision (p, 9, PHYSNN_PRECISION_INT8, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_cmpuint (physnn_quant_plan_pin (p, "*koopman*", &error), ==, 0);
  g_assert_nonnull (strstr (error->message, "matches no layer"));
  g_clear_error (&error);
  g_assert_cmpuint (physnn_quant_plan_pin (p, "*net.6*", &error), ==, 1);
  g_assert_no_error (error);
  g_assert_false (
      physnn_quant_plan_set_precision (p, 3, PHYSNN_PRECISION_INT8, &error));
  g_assert_nonnull (strstr (error->message, "pinned"));
  g_clear_error (&error);
  g_assert_true (physnn_quant_plan_set_all (p, PHYSNN_PRECISION_INT4, NULL));
  g_assert_cmpint (
      physnn_quant_plan_get_precision (p, 3), ==, PHYSNN_PRECISION_FP32);
  /* average bits weighted by layer sizes */
  gdouble bits = 0, n = 0;
  for (guint l = 0; l < 4; l++) {
    gsize s = physnn_quant_plan_get_layer_size (p, l);
    bits +=
        s * physnn_precision_get_bits (physnn_quant_plan_get_precision (p, l));
    n += s;
  }
  g_assert_cmpfloat_with_epsilon (
      physnn_quant_plan_get_average_bits (p), bits / n, 1e-12);
}

/* The plan's exact byte count equals the initializer payload of the QDQ
 * file it exports (int4 two per byte). */
static void
test_exact_bytes (void)
{
  g_autoptr (PhysnnModel) m = heat ();
  g_autoptr (GError) error = NULL;
  PhysnnPrecision mixes[3][4] = {
    { PHYSNN_PRECISION_INT4, PHYSNN_PRECISION_INT8, PHYSNN_PRECISION_FP16,
        PHYSNN_PRECISION_FP32 },
    { PHYSNN_PRECISION_INT4, PHYSNN_PRECISION_INT4, PHYSNN_PRECISION_INT4,
        PHYSNN_PRECISION_INT4 },
    { PHYSNN_PRECISION_INT8, PHYSNN_PRECISION_FP32, PHYSNN_PRECISION_INT4,
        PHYSNN_PRECISION_INT8 },
  };
  for (guint k = 0; k < 3; k++)
    for (guint sym = 0; sym < 2; sym++) {
      g_autoptr (PhysnnQuantPlan) p = physnn_quant_plan_new (m, NULL);
      physnn_quant_plan_set_symmetric (p, sym);
      physnn_quant_plan_set_per_channel (p, k != 2);
      for (guint l = 0; l < 4; l++)
        physnn_quant_plan_set_precision (p, l, mixes[k][l], NULL);
      g_autofree gchar *path = g_build_filename (tmpdir, "b.onnx", NULL);
      g_assert_true (physnn_quant_plan_export_onnx (p, path, &error));
      g_assert_no_error (error);
      PhysnnOnnxModel *om = physnn_onnx_model_load (path, &error);
      g_assert_no_error (error);
      guint64 total = 0;
      GHashTableIter it;
      gpointer key, value;
      g_hash_table_iter_init (&it, om->initializers);
      while (g_hash_table_iter_next (&it, &key, &value)) {
        if (g_hash_table_contains (om->int4_initializers, key))
          total += (physnn_tensor_get_n_elements (value) + 1) / 2;
        else
          total += physnn_tensor_get_nbytes (value);
      }
      physnn_onnx_model_free (om);
      guint64 f, b;
      gdouble ratio;
      physnn_quant_plan_estimate_compression (p, &f, &b, &ratio, NULL);
      g_assert_cmpuint (b, ==, total);
      /* fp32 bytes: the payload of the unquantized export */
      if (k == 0 && sym == 0) {
        g_autoptr (PhysnnQuantPlan) z = physnn_quant_plan_new (m, NULL);
        g_assert_true (physnn_quant_plan_export_onnx (z, path, &error));
        PhysnnOnnxModel *zm = physnn_onnx_model_load (path, &error);
        guint64 zt = 0;
        g_hash_table_iter_init (&it, zm->initializers);
        while (g_hash_table_iter_next (&it, &key, &value))
          zt += physnn_tensor_get_nbytes (value);
        physnn_onnx_model_free (zm);
        g_assert_cmpuint (f, ==, zt);
      }
      g_assert_cmpfloat_with_epsilon (ratio, (gdouble)f / b, 1e-12);
    }
}

static void
test_plan_json (void)
{
  g_autoptr (PhysnnModel) m = heat ();
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnQuantPlan) p = physnn_quant_plan_new (m, NULL);
  physnn_quant_plan_set_symmetric (p, FALSE);
  g_assert_true (physnn_quant_plan_set_weight_calibration (
      p, PHYSNN_CALIBRATION_PERCENTILE, 99.5, NULL));
  physnn_quant_plan_set_precision (p, 0, PHYSNN_PRECISION_INT4, NULL);
  physnn_quant_plan_set_precision (p, 1, PHYSNN_PRECISION_INT8, NULL);
  physnn_quant_plan_set_precision (p, 2, PHYSNN_PRECISION_FP16, NULL);
  g_assert_true (physnn_quant_plan_set_activation_range (
      p, 1, -0.9, 1.1, PHYSNN_CALIBRATION_KL, NULL));
  g_autofree gchar *json = physnn_quant_plan_to_json (p);
  g_autoptr (PhysnnQuantPlan) q =
      physnn_quant_plan_new_from_data (m, json, &error);
  g_assert_no_error (error);
  g_autofree gchar *again = physnn_quant_plan_to_json (q);
  g_assert_cmpstr (json, ==, again);
  g_autofree gchar *path = g_build_filename (tmpdir, "plan.json", NULL);
  g_assert_true (physnn_quant_plan_save (p, path, &error));
  g_autoptr (PhysnnQuantPlan) r =
      physnn_quant_plan_new_from_file (m, path, &error);
  g_assert_no_error (error);
  g_autofree gchar *third = physnn_quant_plan_to_json (r);
  g_assert_cmpstr (json, ==, third);

  /* bad plans: each error names the problem */
  struct {
    const gchar *from, *to, *expect;
  } edits[] = {
    { "\"/net/net.2/Gemm\"", "\"/net/nope/Gemm\"", "/net/nope/Gemm" },
    { "\"precision\" : \"int8\"", "\"precision\" : \"int3\"", "int3" },
    { "physnn-quantization-plan", "something-else", "format" },
    { "\"version\" : 1", "\"version\" : 7", "version" },
    { "\"granularity\" : \"per-channel\"", "\"granularity\" : \"per-row\"",
        "per-row" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (edits); i++) {
    g_assert_nonnull (strstr (json, edits[i].from));
    g_auto (GStrv) parts = g_strsplit (json, edits[i].from, 2);
    g_autofree gchar *bad = g_strjoinv (edits[i].to, parts);
    g_autoptr (PhysnnQuantPlan) x =
        physnn_quant_plan_new_from_data (m, bad, &error);
    g_assert_null (x);
    g_assert_nonnull (error);
    if (strstr (error->message, edits[i].expect) == NULL)
      g_error ("edit %u: \"%s\" does not mention %s", i, error->message,
          edits[i].expect);
    g_clear_error (&error);
  }
  const gchar *hostile[] = {
    "",
    "[]",
    "{\"format\":",
    "not json",
    "{\"format\":\"physnn-quantization-plan\",\"version\":1}",
    "{\"format\":\"physnn-quantization-plan\",\"version\":1,\"layers\":"
    "[{\"name\":\"/net/net.0/Gemm\",\"precision\":\"int8\","
    "\"shape\":[3,3]}]}",
    "{\"format\":\"physnn-quantization-plan\",\"version\":1,\"layers\":"
    "[{\"name\":\"/net/net.0/Gemm\",\"precision\":\"int8\","
    "\"scales\":[1,2]}]}",
    "{\"format\":\"physnn-quantization-plan\",\"version\":1,\"layers\":"
    "[{\"name\":\"/net/net.0/Gemm\",\"precision\":\"int8\"},"
    "{\"name\":\"/net/net.0/Gemm\",\"precision\":\"int4\"}]}",
  };
  for (guint i = 0; i < G_N_ELEMENTS (hostile); i++) {
    g_autoptr (PhysnnQuantPlan) x =
        physnn_quant_plan_new_from_data (m, hostile[i], &error);
    g_assert_null (x);
    g_assert_nonnull (error);
    g_test_message ("hostile %u: %s", i, error->message);
    g_clear_error (&error);
  }
  g_autofree gchar *none = g_build_filename (tmpdir, "none.json", NULL);
  g_assert_null (physnn_quant_plan_new_from_file (m, none, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
}

static void
test_calibrator_errors (void)
{
  g_autoptr (PhysnnModel) m = heat ();
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnQuantCalibrator) c = physnn_quant_calibrator_new (m, &error);
  g_assert_no_error (error);
  g_autoptr (PhysnnQuantPlan) p = physnn_quant_plan_new (m, NULL);
  gdouble lo, hi;
  /* nothing observed yet */
  g_assert_false (physnn_quant_calibrator_apply (
      c, p, PHYSNN_CALIBRATION_MINMAX, 99.9, &error));
  g_assert_nonnull (strstr (error->message, "0 batches"));
  g_clear_error (&error);
  /* data of the wrong shape */
  gsize shape[2] = { 16, 3 };
  g_autoptr (PhysnnTensor) wrong =
      physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  g_assert_false (physnn_quant_calibrator_add_batch (c, &wrong, 1, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE);
  g_assert_nonnull (strstr (error->message, "expects"));
  g_clear_error (&error);
  g_assert_false (physnn_quant_calibrator_add_batch (c, NULL, 0, &error));
  g_clear_error (&error);
  /* real data: ranges by every method nest inside min-max */
  g_autoptr (PhysnnTensor) x = points (4096, 5);
  g_assert_true (physnn_quant_calibrator_add_batch (c, &x, 1, &error));
  g_assert_no_error (error);
  gdouble mlo, mhi;
  const gchar *layer = physnn_quant_plan_get_layer_name (p, 1);
  g_assert_true (physnn_quant_calibrator_get_range (
      c, layer, PHYSNN_CALIBRATION_MINMAX, 99.9, 8, &mlo, &mhi, &error));
  for (guint k = PHYSNN_CALIBRATION_PERCENTILE; k <= PHYSNN_CALIBRATION_KL;
       k++) {
    g_assert_true (physnn_quant_calibrator_get_range (
        c, layer, k, 99.0, 8, &lo, &hi, &error));
    g_assert_no_error (error);
    g_assert_cmpfloat (lo, >=, mlo - 1e-9);
    g_assert_cmpfloat (hi, <=, mhi + 1e-9);
    g_assert_cmpfloat (hi, >, lo);
  }
  g_assert_false (physnn_quant_calibrator_get_range (
      c, "nope", PHYSNN_CALIBRATION_MINMAX, 99.9, 8, &lo, &hi, &error));
  g_assert_nonnull (strstr (error->message, "nope"));
  g_clear_error (&error);
  g_assert_true (physnn_quant_calibrator_apply (
      c, p, PHYSNN_CALIBRATION_PERCENTILE, 99.99, &error));
  g_assert_true (physnn_quant_plan_get_activations (p));
}

/* The physics objective (the loss with dequantized parameters) equals the
 * mean squared PDE residual of the quantized QDQ graph itself. */
static void
test_physics_objective (void)
{
  g_autoptr (PhysnnModel) m = heat ();
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnTensor) pts = points (1024, 11);
  g_autoptr (PhysnnQuantObjective) obj =
      physnn_quant_objective_new_physics (m, NULL, NULL, pts, &error);
  g_assert_no_error (error);
  g_assert_true (physnn_quant_objective_is_physics (obj));
  g_autoptr (PhysnnQuantPlan) p = physnn_quant_plan_new (m, NULL);
  gdouble l, acc;
  g_assert_true (physnn_quant_objective_evaluate (obj, p, &l, &acc, &error));
  g_assert_cmpfloat (l, ==, physnn_quant_objective_get_reference_loss (obj));
  g_assert_true (isnan (acc));

  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", NULL);
  g_autoptr (PhysnnPde) pde = physnn_pde_new ("u_t - 0.1*u_xx", &error);
  g_assert_no_error (error);
  for (guint prec = PHYSNN_PRECISION_FP16; prec <= PHYSNN_PRECISION_INT4;
       prec++) {
    physnn_quant_plan_set_all (p, prec, NULL);
    g_assert_true (physnn_quant_objective_evaluate (obj, p, &l, NULL, &error));
    g_autoptr (PhysnnModel) q = physnn_quant_plan_apply (p, &error);
    g_assert_no_error (error);
    g_assert_true (physnn_pde_bind (pde, q, &error));
    g_autoptr (PhysnnTensor) r =
        physnn_pde_residual (pde, q, cpu, &pts, 1, NULL, &error);
    g_assert_no_error (error);
    gdouble ms = 0;
    for (gsize i = 0; i < 1024; i++)
      ms += pow (physnn_tensor_get_value (r, i), 2) / 1024;
    g_test_message ("%s: objective %.6g, QDQ graph residual %.6g",
        physnn_precision_to_string (prec), l, ms);
    /* the graph's residual is float32 output; the objective float64 */
    g_assert_cmpfloat (fabs (ms / l - 1), <, 1e-3);
    g_assert_cmpfloat (l, >, physnn_quant_objective_get_reference_loss (obj));
  }

  /* physics-aware bias correction: lowers the loss; the corrected plan
   * survives JSON, and the quantized graph's own residual agrees */
  physnn_quant_plan_set_all (p, PHYSNN_PRECISION_INT8, NULL);
  gdouble before, after, reread;
  g_assert_true (physnn_quant_objective_evaluate (obj, p, &before, NULL, NULL));
  g_assert_true (
      physnn_quant_objective_correct_biases (obj, p, 30, &after, &error));
  g_assert_no_error (error);
  g_test_message ("int8 bias correction: %.4g -> %.4g (float %.4g)", before,
      after, physnn_quant_objective_get_reference_loss (obj));
  g_assert_cmpfloat (after, <, 0.5 * before);
  g_assert_true (physnn_quant_plan_get_bias_corrected (p, 0));
  {
    g_autofree gchar *bj = physnn_quant_plan_to_json (p);
    g_assert_nonnull (strstr (bj, "\"bias\""));
    g_autoptr (PhysnnQuantPlan) back =
        physnn_quant_plan_new_from_data (m, bj, &error);
    g_assert_no_error (error);
    g_assert_true (
        physnn_quant_objective_evaluate (obj, back, &reread, NULL, NULL));
    g_assert_cmpfloat (reread, ==, after);
    g_autoptr (PhysnnModel) q = physnn_quant_plan_apply (back, &error);
    g_assert_true (physnn_pde_bind (pde, q, &error));
    g_autoptr (PhysnnTensor) r =
        physnn_pde_residual (pde, q, cpu, &pts, 1, NULL, &error);
    g_assert_no_error (error);
    gdouble ms = 0;
    for (gsize i = 0; i < 1024; i++)
      ms += pow (physnn_tensor_get_value (r, i), 2) / 1024;
    g_assert_cmpfloat (fabs (ms / after - 1), <, 1e-3);
    /* a bias of the wrong length is refused with the layer's size */
    g_auto (GStrv) parts = g_strsplit (bj, "\"bias\" : [", 2);
    g_autofree gchar *bad =
        g_strjoin ("\"bias\" : [1.5, ", parts[0], parts[1], NULL);
    g_autoptr (PhysnnQuantPlan) x =
        physnn_quant_plan_new_from_data (m, bad, &error);
    g_assert_null (x);
    g_assert_nonnull (strstr (error->message, "bias"));
    g_clear_error (&error);
  }
  for (guint l = 0; l < 4; l++) {
    g_assert_true (
        physnn_quant_plan_set_bias_correction (p, l, NULL, 0, &error));
    g_assert_false (physnn_quant_plan_get_bias_corrected (p, l));
  }

  /* validate_physics */
  physnn_quant_plan_set_all (p, PHYSNN_PRECISION_INT8, NULL);
  g_assert_false (
      physnn_quant_objective_validate_physics (obj, p, 0, 0.1, &l, &error));
  g_assert_nonnull (strstr (error->message, "allowed"));
  g_clear_error (&error);
  g_assert_false (physnn_quant_objective_validate_physics (
      obj, p, l / 2, -1, NULL, &error));
  g_assert_nonnull (strstr (error->message, "threshold"));
  g_clear_error (&error);
  g_assert_true (physnn_quant_objective_validate_physics (
      obj, p, 2 * l, -1, NULL, &error));
  physnn_quant_plan_set_all (p, PHYSNN_PRECISION_FP32, NULL);
  g_assert_true (
      physnn_quant_objective_validate_physics (obj, p, 0, 0, NULL, &error));
  g_assert_no_error (error);
  /* activations make no sense for a physics loss */
  physnn_quant_plan_set_activation_range (
      p, 0, 0, 1, PHYSNN_CALIBRATION_MINMAX, NULL);
  physnn_quant_plan_set_all (p, PHYSNN_PRECISION_INT8, NULL);
  g_assert_false (physnn_quant_objective_evaluate (obj, p, &l, NULL, &error));
  g_assert_nonnull (strstr (error->message, "derivatives"));
  g_clear_error (&error);

  /* a PDE the model cannot provide, and a bad parameter list */
  g_assert_null (
      physnn_quant_objective_new_physics (m, "u_t - v_xx", NULL, pts, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_null (physnn_quant_objective_new_physics (
      m, "u_t - a*u_xx", "a=", pts, &error));
  g_assert_nonnull (strstr (error->message, "NAME=NUMBER"));
  g_clear_error (&error);
}

/* The mean squared PDE residual of a plan's quantized QDQ graph itself
 * (not the objective's parameter path). */
static gdouble
graph_residual (PhysnnQuantPlan *p, PhysnnTensor *pts)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", NULL);
  g_autoptr (PhysnnPde) pde = physnn_pde_new ("u_t - 0.1*u_xx", &error);
  g_autoptr (PhysnnModel) q = physnn_quant_plan_apply (p, &error);
  g_assert_no_error (error);
  g_assert_true (physnn_pde_bind (pde, q, &error));
  g_autoptr (PhysnnTensor) r =
      physnn_pde_residual (pde, q, cpu, &pts, 1, NULL, &error);
  g_assert_no_error (error);
  gsize n = physnn_tensor_get_n_elements (r);
  gdouble ms = 0;
  for (gsize i = 0; i < n; i++)
    ms += pow (physnn_tensor_get_value (r, i), 2) / n;
  return ms;
}

static void
count_progress (PhysnnQuantObjective *o, const gchar *stage, guint done,
    guint total, gdouble loss, gpointer user)
{
  guint *last = user;
  g_assert_cmpstr (stage, ==, "fine-tune");
  g_assert_cmpuint (done, <=, total);
  g_assert_cmpuint (done, >=, *last);
  *last = done;
}

/* Quantization-aware fine-tuning: lowers the physics loss below what bias
 * correction alone reaches, is deterministic, survives JSON, and the
 * exported QDQ graph (its stored integers in range, its size unchanged)
 * has the residual the objective reports. */
static void
test_fine_tune (void)
{
  g_autoptr (PhysnnModel) m = heat ();
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnTensor) pts = points (1024, 11);
  g_autoptr (PhysnnQuantObjective) obj =
      physnn_quant_objective_new_physics (m, NULL, NULL, pts, &error);
  g_assert_no_error (error);
  gdouble ref = physnn_quant_objective_get_reference_loss (obj);
  /* int4 everywhere, and a mix of every precision (the fp16 layer keeps
   * half-representable values, the fp32 one float32 values) */
  PhysnnPrecision mixes[2][4] = {
    { PHYSNN_PRECISION_INT4, PHYSNN_PRECISION_INT4, PHYSNN_PRECISION_INT4,
        PHYSNN_PRECISION_INT4 },
    { PHYSNN_PRECISION_INT4, PHYSNN_PRECISION_INT8, PHYSNN_PRECISION_FP16,
        PHYSNN_PRECISION_FP32 },
  };
  for (guint k = 0; k < 2; k++) {
    g_autoptr (PhysnnQuantPlan) p = physnn_quant_plan_new (m, NULL);
    for (guint l = 0; l < 4; l++)
      physnn_quant_plan_set_precision (p, l, mixes[k][l], NULL);
    guint64 f0, b0;
    physnn_quant_plan_estimate_compression (p, &f0, &b0, NULL, NULL);
    g_autoptr (PhysnnQuantPlan) bc = physnn_quant_plan_copy (p);
    g_autoptr (PhysnnQuantPlan) ft = physnn_quant_plan_copy (p);
    g_autoptr (PhysnnQuantPlan) ft2 = physnn_quant_plan_copy (p);
    gdouble plain, corrected, tuned, tuned2;
    g_assert_true (physnn_quant_objective_evaluate (obj, p, &plain, NULL, NULL));
    g_assert_true (physnn_quant_objective_correct_biases (
        obj, bc, 20, &corrected, &error));
    guint last = 0;
    gulong h = g_signal_connect (
        obj, "progress", G_CALLBACK (count_progress), &last);
    g_assert_true (
        physnn_quant_objective_fine_tune (obj, ft, 20, &tuned, &error));
    g_assert_no_error (error);
    g_signal_handler_disconnect (obj, h);
    g_assert_cmpuint (last, >, 0);
    g_test_message ("mix %u: float %.4g, quantized %.4g, bias-corrected "
                    "%.4g, fine-tuned %.4g",
        k, ref, plain, corrected, tuned);
    g_assert_cmpfloat (tuned, <, corrected);
    g_assert_cmpfloat (tuned, <, 0.5 * plain);
    for (guint l = 0; l < 4; l++)
      g_assert_true (physnn_quant_plan_get_fine_tuned (ft, l));
    gdouble again;
    g_assert_true (physnn_quant_objective_evaluate (obj, ft, &again, NULL, NULL));
    g_assert_cmpfloat (again, ==, tuned);

    /* deterministic */
    g_assert_true (
        physnn_quant_objective_fine_tune (obj, ft2, 20, &tuned2, &error));
    g_assert_cmpfloat (tuned2, ==, tuned);
    g_autofree gchar *json = physnn_quant_plan_to_json (ft);
    g_autofree gchar *json2 = physnn_quant_plan_to_json (ft2);
    g_assert_cmpstr (json, ==, json2);

    /* the same size; the JSON round trip gives the same plan and loss */
    guint64 f1, b1;
    physnn_quant_plan_estimate_compression (ft, &f1, &b1, NULL, NULL);
    g_assert_cmpuint (f1, ==, f0);
    g_assert_cmpuint (b1, ==, b0);
    g_assert_nonnull (strstr (json, "\"q\""));
    g_autoptr (PhysnnQuantPlan) back =
        physnn_quant_plan_new_from_data (m, json, &error);
    g_assert_no_error (error);
    g_autofree gchar *json3 = physnn_quant_plan_to_json (back);
    g_assert_cmpstr (json, ==, json3);
    gdouble reread;
    g_assert_true (
        physnn_quant_objective_evaluate (obj, back, &reread, NULL, NULL));
    g_assert_cmpfloat (reread, ==, tuned);

    /* the QDQ graph's own residual (float32 outputs) */
    gdouble ms = graph_residual (back, pts);
    g_test_message ("mix %u: QDQ graph residual %.6g", k, ms);
    g_assert_cmpfloat (fabs (ms / tuned - 1), <, 1e-3);

    /* the exported file: stored integers in range, payload = bytes */
    g_autofree gchar *path = g_build_filename (tmpdir, "ft.onnx", NULL);
    g_assert_true (physnn_quant_plan_export_onnx (ft, path, &error));
    PhysnnOnnxModel *om = physnn_onnx_model_load (path, &error);
    g_assert_no_error (error);
    guint64 total = 0;
    guint n_int = 0;
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init (&it, om->initializers);
    while (g_hash_table_iter_next (&it, &key, &value)) {
      gboolean four = g_hash_table_contains (om->int4_initializers, key);
      PhysnnDType dt = physnn_tensor_get_dtype (value);
      gsize n = physnn_tensor_get_n_elements (value);
      total += four ? (n + 1) / 2 : physnn_tensor_get_nbytes (value);
      if (dt != PHYSNN_DTYPE_INT8 || n < 2)
        continue;
      n_int++;
      gdouble qmax = four ? 7 : 127;
      for (gsize i = 0; i < n; i++)
        g_assert_cmpfloat (fabs (physnn_tensor_get_value (value, i)), <=, qmax);
    }
    physnn_onnx_model_free (om);
    g_assert_cmpuint (n_int, ==, k == 0 ? 4 : 2);
    g_assert_cmpuint (total, ==, b1);

    /* a fine-tuned layer at another precision is rounded afresh */
    physnn_quant_plan_set_precision (ft, 0, PHYSNN_PRECISION_INT8, NULL);
    g_assert_false (physnn_quant_plan_get_fine_tuned (ft, 0));
    physnn_quant_plan_set_precision (ft, 0, PHYSNN_PRECISION_INT4, NULL);
    g_assert_false (physnn_quant_plan_get_fine_tuned (ft, 0));

    if (k != 0)
      continue;
    /* bad fine-tuned plans: each error names the problem */
    struct {
      const gchar *first, *expect;
    } edits[] = {
      { "9, 0", "array of 64" }, /* one integer too many */
      { "0.5", "not an integer" },
      { "8", "[-7, 7]" }, /* int4 symmetric */
      { "\"x\"", "not an integer" },
    };
    const gchar *at = strstr (json, "\"q\" : [");
    g_assert_nonnull (at);
    at += strlen ("\"q\" : [");
    const gchar *end = at + strcspn (at, ",]");
    g_autofree gchar *head = g_strndup (json, at - json);
    for (guint i = 0; i < G_N_ELEMENTS (edits); i++) {
      g_autofree gchar *bad = g_strconcat (head, edits[i].first, end, NULL);
      g_autoptr (PhysnnQuantPlan) x =
          physnn_quant_plan_new_from_data (m, bad, &error);
      g_assert_null (x);
      if (strstr (error->message, edits[i].expect) == NULL)
        g_error ("edit %u: \"%s\" does not mention %s", i, error->message,
            edits[i].expect);
      g_clear_error (&error);
    }
    /* integers where the layer is fp16, and a fine-tuned layer without
     * scales */
    g_auto (GStrv) parts = g_strsplit (json, "\"q\" : [", 2);
    g_autofree gchar *bad = g_strjoinv ("\"values\" : [", parts);
    g_autoptr (PhysnnQuantPlan) x =
        physnn_quant_plan_new_from_data (m, bad, &error);
    g_assert_null (x);
    g_assert_nonnull (strstr (error->message, "does not fit precision"));
    g_clear_error (&error);
    g_auto (GStrv) sp = g_strsplit (json, "\"scales\" : [", 2);
    g_autofree gchar *noscale = g_strjoinv ("\"no-scales\" : [", sp);
    g_autoptr (PhysnnQuantPlan) y =
        physnn_quant_plan_new_from_data (m, noscale, &error);
    g_assert_null (y);
    g_assert_nonnull (strstr (error->message, "need \"scales\""));
    g_clear_error (&error);
  }
}

static gchar *
run_search (PhysnnModel *m, PhysnnQuantObjective *obj, guint64 seed,
    gdouble target, PhysnnQuantPlan **best)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnQuantPlan) base = physnn_quant_plan_new (m, NULL);
  g_autoptr (PhysnnQuantSearch) s = physnn_quant_search_new (base, obj, &error);
  g_assert_no_error (error);
  physnn_quant_search_set_seed (s, seed);
  physnn_quant_search_set_population (s, 8, 4);
  g_assert_true (physnn_quant_search_set_target_bits (s, target, &error));
  g_assert_true (physnn_quant_search_run (s, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (physnn_quant_search_get_front_size (s), >, 0);
  for (guint i = 0; i < physnn_quant_search_get_front_size (s); i++) {
    gdouble loss, bits;
    guint64 bytes;
    g_assert_true (
        physnn_quant_search_get_front_point (s, i, &loss, NULL, &bits, &bytes));
    g_assert_cmpfloat (bits, <=, target + 1e-9);
    g_autoptr (PhysnnQuantPlan) fp = physnn_quant_search_get_front_plan (s, i);
    g_assert_cmpfloat_with_epsilon (
        physnn_quant_plan_get_average_bits (fp), bits, 1e-12);
    gdouble again;
    g_assert_true (
        physnn_quant_objective_evaluate (obj, fp, &again, NULL, NULL));
    g_assert_cmpfloat (again, ==, loss);
    /* the front is sorted by bytes and strictly improves the loss */
    if (i > 0) {
      gdouble pl;
      guint64 pb;
      physnn_quant_search_get_front_point (s, i - 1, &pl, NULL, NULL, &pb);
      g_assert_cmpuint (pb, <=, bytes);
      g_assert_cmpfloat (pl, >, loss);
    }
  }
  *best = physnn_quant_search_get_best (s, &error);
  g_assert_no_error (error);
  return physnn_quant_search_to_json (s);
}

static void
test_search (void)
{
  g_autoptr (PhysnnModel) m = heat ();
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnTensor) pts = points (256, 3);
  g_autoptr (PhysnnQuantObjective) obj =
      physnn_quant_objective_new_physics (m, NULL, NULL, pts, &error);
  g_assert_no_error (error);
  g_autoptr (PhysnnQuantPlan) b1 = NULL, b2 = NULL;
  g_autofree gchar *j1 = run_search (m, obj, 42, 6.5, &b1);
  g_autofree gchar *j2 = run_search (m, obj, 42, 6.5, &b2);
  g_assert_cmpstr (j1, ==, j2); /* deterministic with a seed */
  g_assert_cmpfloat (physnn_quant_plan_get_average_bits (b1), <=, 6.5);

  g_autoptr (PhysnnQuantPlan) base = physnn_quant_plan_new (m, NULL);
  g_autoptr (PhysnnQuantSearch) s = physnn_quant_search_new (base, obj, &error);
  /* impossible or invalid settings */
  g_assert_false (physnn_quant_search_set_target_bits (s, 3, &error));
  g_assert_nonnull (strstr (error->message, "impossible"));
  g_clear_error (&error);
  g_assert_false (physnn_quant_search_set_hardware (s, "rx9000", &error));
  g_assert_nonnull (strstr (error->message, "polaris"));
  g_clear_error (&error);
  g_assert_true (physnn_quant_search_set_hardware (s, "polaris", &error));
  g_assert_false (
      physnn_quant_search_set_cost (s, PHYSNN_QUANT_COST_BITOPS, &error));
  g_assert_nonnull (strstr (error->message, "bytes"));
  g_clear_error (&error);
  g_assert_false (physnn_quant_search_set_precisions (s, "int8,int2", &error));
  g_assert_nonnull (strstr (error->message, "int2"));
  g_clear_error (&error);
  g_assert_null (physnn_quant_search_get_best (s, &error));
  g_clear_error (&error);
  /* pinning the big layers makes 6.5 bits unreachable */
  g_assert_cmpuint (
      physnn_quant_plan_pin (base, "*net.2*,*net.4*", NULL), ==, 2);
  g_autoptr (PhysnnQuantSearch) s2 =
      physnn_quant_search_new (base, obj, &error);
  g_assert_true (physnn_quant_search_set_target_bits (s2, 6.5, &error));
  g_assert_false (physnn_quant_search_run (s2, &error));
  g_assert_nonnull (strstr (error->message, "impossible"));
  g_assert_nonnull (strstr (error->message, "net.2"));
  g_clear_error (&error);
  /* a loss limit nothing meets */
  g_autoptr (PhysnnQuantPlan) base3 = physnn_quant_plan_new (m, NULL);
  g_autoptr (PhysnnQuantSearch) s3 =
      physnn_quant_search_new (base3, obj, &error);
  physnn_quant_search_set_population (s3, 4, 1);
  physnn_quant_search_set_precisions (s3, "int4", NULL);
  physnn_quant_search_set_max_loss_increase (s3, 0.01);
  g_assert_false (physnn_quant_search_run (s3, &error));
  g_assert_nonnull (strstr (error->message, "constraints"));
  g_clear_error (&error);
}

/* Sensitivities: the Hessian term predicts the measured change of a
 * smooth loss for small perturbations (fp16), the ranks are defined, the
 * scores lie in [0, 1], and the greedy path only lowers precisions. */
static void
test_sensitivity (void)
{
  g_autoptr (PhysnnModel) m = heat ();
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnTensor) pts = points (256, 9);
  g_autoptr (PhysnnQuantObjective) obj =
      physnn_quant_objective_new_physics (m, NULL, NULL, pts, &error);
  g_autoptr (PhysnnQuantPlan) base = physnn_quant_plan_new (m, NULL);
  g_autoptr (PhysnnQuantSearch) s = physnn_quant_search_new (base, obj, &error);
  physnn_quant_search_set_hutchinson_samples (s, 8);
  g_assert_true (physnn_quant_search_sensitivity (s, &error));
  g_assert_no_error (error);
  for (guint l = 0; l < 4; l++)
    for (guint p = PHYSNN_PRECISION_FP16; p <= PHYSNN_PRECISION_INT4; p++)
      for (guint k = 0; k < 4; k++) {
        gdouble v = physnn_quant_search_get_sensitivity (s, k, l, p);
        g_assert_true (v >= 0 && v <= 1);
      }
  for (guint k = PHYSNN_SENSITIVITY_GRADIENT; k <= PHYSNN_SENSITIVITY_HAWQ;
       k++) {
    gdouble r = physnn_quant_search_get_spearman (s, k, PHYSNN_PRECISION_INT8);
    g_assert_true (r >= -1 && r <= 1);
  }
  /* second order: gradient + hessian terms approach the measured change as
   * the perturbation shrinks; int8 is small enough here */
  for (guint l = 0; l < 4; l++) {
    gdouble meas = physnn_quant_search_get_sensitivity_raw (
        s, PHYSNN_SENSITIVITY_MEASURED, l, PHYSNN_PRECISION_INT8);
    gdouble h = physnn_quant_search_get_sensitivity_raw (
        s, PHYSNN_SENSITIVITY_HESSIAN, l, PHYSNN_PRECISION_INT8);
    gdouble g = physnn_quant_search_get_sensitivity_raw (
        s, PHYSNN_SENSITIVITY_GRADIENT, l, PHYSNN_PRECISION_INT8);
    g_test_message ("layer %u int8: measured %.4g, |g.dw| %.4g, "
                    "1/2 dw.H.dw %.4g",
        l, meas, g, h);
    g_assert_cmpfloat (fabs (meas - h), <=, g + 0.05 * fabs (meas) + 1e-12);
  }
  g_assert_true (physnn_quant_search_run_greedy (s, &error));
  g_assert_no_error (error);
  g_autofree gchar *json = physnn_quant_search_to_json (s);
  g_assert_nonnull (strstr (json, "\"spearman\""));
  g_assert_nonnull (strstr (json, "\"greedy\""));
  g_autofree gchar *jp = g_build_filename (tmpdir, "front.json", NULL);
  g_autofree gchar *pp = g_build_filename (tmpdir, "front.png", NULL);
  g_assert_true (physnn_quant_search_save (s, jp, pp, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (pp, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("physnn-quant-XXXXXX", NULL);
  g_test_add_func ("/quant/plan/basics", test_plan_basics);
  g_test_add_func ("/quant/plan/exact-bytes", test_exact_bytes);
  g_test_add_func ("/quant/plan/json", test_plan_json);
  g_test_add_func ("/quant/calibrator/errors", test_calibrator_errors);
  g_test_add_func ("/quant/objective/physics", test_physics_objective);
  g_test_add_func ("/quant/objective/fine-tune", test_fine_tune);
  g_test_add_func ("/quant/search/constraints", test_search);
  g_test_add_func ("/quant/search/sensitivity", test_sensitivity);
  int ret = g_test_run ();
  g_autoptr (GDir) d = g_dir_open (tmpdir, 0, NULL);
  const gchar *n;
  while (d && (n = g_dir_read_name (d))) {
    g_autofree gchar *p = g_build_filename (tmpdir, n, NULL);
    g_unlink (p);
  }
  g_rmdir (tmpdir);
  g_free (tmpdir);
  return ret;
}
