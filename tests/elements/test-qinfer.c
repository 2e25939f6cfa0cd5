/* qinfer (and pinninfer's plan property) through GstHarness: the element's
 * outputs equal the quantized model run by the library, calibration writes a
 * plan after calibration-buffers or at EOS and announces it on the bus, and
 * the errors a user meets (no plan, a plan for another model, an empty
 * calibration stream, a stream that does not fit) name the problem.
 * ONNX Runtime and PyTorch references: tests/crosscheck/quant_vs_ort.py. */
#include <gst/app/gstappsrc.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <physnn/physnn.h>

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static gchar *tmpdir;

#define CAPS                                                                   \
  "other/tensors, format=static, types=float32, "                              \
  "dimensions=(string)\"2:64\", framerate=(fraction)10/1"

static GstHarness *
element (const gchar *factory, const gchar *first_prop, ...)
{
  GstElement *e = gst_element_factory_make (factory, NULL);
  va_list ap;
  va_start (ap, first_prop);
  g_object_set_valist (G_OBJECT (e), first_prop, ap);
  va_end (ap);
  GstHarness *h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  return h;
}

static gfloat *
coords (guint seed)
{
  gfloat *x = g_new (gfloat, 128);
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  for (guint i = 0; i < 128; i++)
    x[i] = (gfloat)g_rand_double (r);
  return x;
}

static GstBuffer *
buffer_of (const gfloat *x, guint i)
{
  GstBuffer *b = gst_buffer_new_memdup (x, 128 * sizeof (gfloat));
  GST_BUFFER_PTS (b) = i * GST_SECOND / 10;
  return b;
}

/* The library's answer: the model (quantized by plan_path, if any) on the
 * reference path. */
static gfloat *
library_run (const gchar *plan_path, const gfloat *x)
{
  g_autoptr (PhysnnModel) m = physnn_model_new_builtin ("heat1d_pinn", NULL);
  g_autoptr (PhysnnModel) q = NULL;
  if (plan_path) {
    g_autoptr (GError) error = NULL;
    g_autoptr (PhysnnQuantPlan) p =
        physnn_quant_plan_new_from_file (m, plan_path, &error);
    g_assert_no_error (error);
    q = physnn_quant_plan_apply (p, &error);
    g_assert_no_error (error);
  }
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", NULL);
  gsize shape[2] = { 64, 2 };
  g_autoptr (PhysnnTensor) t =
      physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  memcpy (physnn_tensor_map (t, PHYSNN_MAP_WRITE, NULL), x, 128 * 4);
  physnn_tensor_unmap (t);
  g_autoptr (GPtrArray) out = physnn_model_run (q ? q : m, cpu, &t, 1, NULL);
  g_assert_nonnull (out);
  gfloat *y = g_new (gfloat, 64);
  memcpy (y,
      physnn_tensor_map (g_ptr_array_index (out, 0), PHYSNN_MAP_READ, NULL),
      64 * 4);
  physnn_tensor_unmap (g_ptr_array_index (out, 0));
  return y;
}

static gdouble
max_diff (GstBuffer *b, const gfloat *y)
{
  GstMapInfo info;
  gdouble d = 0;
  fail_unless (gst_buffer_map (b, &info, GST_MAP_READ));
  fail_unless_equals_int (info.size, 64 * 4);
  for (guint i = 0; i < 64; i++)
    d = MAX (d, fabs (((gfloat *)info.data)[i] - y[i]));
  gst_buffer_unmap (b, &info);
  return d;
}

static gchar *
write_plan (const gchar *name, PhysnnPrecision prec)
{
  g_autoptr (PhysnnModel) m = physnn_model_new_builtin ("heat1d_pinn", NULL);
  g_autoptr (PhysnnQuantPlan) p = physnn_quant_plan_new (m, NULL);
  physnn_quant_plan_set_all (p, prec, NULL);
  physnn_quant_plan_set_precision (p, 0, PHYSNN_PRECISION_FP16, NULL);
  gchar *path = g_build_filename (tmpdir, name, NULL);
  fail_unless (physnn_quant_plan_save (p, path, NULL));
  return path;
}

GST_START_TEST (test_infer)
{
  g_autofree gchar *plan = write_plan ("int4.json", PHYSNN_PRECISION_INT4);
  g_autofree gfloat *x = coords (1);
  g_autofree gfloat *yq = library_run (plan, x);
  g_autofree gfloat *yf = library_run (NULL, x);
  const gchar *devices[] = { "cpu", "auto" };
  for (guint d = 0; d < 2; d++) {
    GstHarness *h = element ("qinfer", "model", "builtin:heat1d_pinn", "plan",
        plan, "device", devices[d], NULL);
    gst_harness_set_src_caps_str (h, CAPS);
    GstBuffer *out = gst_harness_push_and_pull (h, buffer_of (x, 0));
    fail_unless (out != NULL);
    /* the reference path exactly; OpenCL within float32 rounding */
    fail_unless (max_diff (out, yq) <= (d ? 1e-5 : 0), "%s: %g", devices[d],
        max_diff (out, yq));
    /* and int4 really changed the model */
    fail_unless (max_diff (out, yf) > 1e-4);
    gst_buffer_unref (out);
    gst_harness_teardown (h);
  }
}
GST_END_TEST;

/* pinninfer plan=: the quantized PINN with its derivatives. */
GST_START_TEST (test_pinninfer_plan)
{
  g_autofree gchar *plan = write_plan ("int8.json", PHYSNN_PRECISION_INT8);
  g_autofree gfloat *x = coords (2);
  g_autofree gfloat *yq = library_run (plan, x);
  GstHarness *h = element ("pinninfer", "model", "builtin:heat1d_pinn", "plan",
      plan, "derivatives", "u_t,u_xx", "device", "cpu", NULL);
  gst_harness_set_src_caps_str (h, CAPS);
  GstBuffer *out = gst_harness_push_and_pull (h, buffer_of (x, 0));
  fail_unless_equals_int (gst_buffer_n_memory (out), 3);
  GstBuffer *u =
      gst_buffer_copy_region (out, GST_BUFFER_COPY_MEMORY, 0, 64 * 4);
  fail_unless (max_diff (u, yq) == 0);
  gst_buffer_unref (u);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

static GstStructure *
element_message (GstBus *bus, const gchar *name)
{
  GstMessage *m;
  while ((m = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (m);
    if (gst_structure_has_name (s, name)) {
      GstStructure *c = gst_structure_copy (s);
      gst_message_unref (m);
      return c;
    }
    gst_message_unref (m);
  }
  return NULL;
}

GST_START_TEST (test_calibrate_after_buffers)
{
  g_autofree gchar *plan = g_build_filename (tmpdir, "cal.json", NULL);
  g_autofree gfloat *x = coords (3);
  g_autofree gfloat *yf = library_run (NULL, x);
  GstHarness *h = element ("qinfer", "model", "builtin:heat1d_pinn", "plan",
      plan, "mode", 1, "calibration-buffers", 2, "precision",
      PHYSNN_PRECISION_INT4, "device", "cpu", NULL);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  gst_harness_set_src_caps_str (h, CAPS);
  for (guint i = 0; i < 3; i++) {
    GstBuffer *out = gst_harness_push_and_pull (h, buffer_of (x, i));
    /* calibration passes the float model's outputs on */
    fail_unless (max_diff (out, yf) == 0);
    gst_buffer_unref (out);
    fail_unless_equals_int (g_file_test (plan, G_FILE_TEST_EXISTS), i >= 1);
  }
  GstStructure *s = element_message (bus, "physnn-quant-plan");
  fail_unless (s != NULL);
  guint64 buffers;
  gdouble bits;
  fail_unless (gst_structure_get_uint64 (s, "buffers", &buffers));
  fail_unless_equals_int (buffers, 2);
  fail_unless (gst_structure_get_double (s, "average-bits", &bits));
  fail_unless (bits < 5);
  gst_structure_free (s);
  g_autoptr (PhysnnModel) m = physnn_model_new_builtin ("heat1d_pinn", NULL);
  g_autoptr (PhysnnQuantPlan) p =
      physnn_quant_plan_new_from_file (m, plan, NULL);
  fail_unless (p != NULL);
  fail_unless (physnn_quant_plan_get_activations (p));
  for (guint l = 0; l < physnn_quant_plan_get_n_layers (p); l++)
    fail_unless_equals_int (
        physnn_quant_plan_get_precision (p, l), PHYSNN_PRECISION_INT4);
  gst_bus_set_flushing (bus, TRUE);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_calibrate_at_eos_and_empty)
{
  for (guint empty = 0; empty < 2; empty++) {
    g_autofree gchar *plan =
        g_build_filename (tmpdir, empty ? "e.json" : "eos.json", NULL);
    GstHarness *h = element ("qinfer", "model", "builtin:heat1d_pinn", "plan",
        plan, "mode", 1, "device", "cpu", NULL);
    GstBus *bus = gst_bus_new ();
    gst_element_set_bus (h->element, bus);
    gst_harness_set_src_caps_str (h, CAPS);
    if (!empty) {
      g_autofree gfloat *x = coords (4);
      gst_buffer_unref (gst_harness_push_and_pull (h, buffer_of (x, 0)));
      fail_if (g_file_test (plan, G_FILE_TEST_EXISTS));
    }
    fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
    GstMessage *err = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    if (empty) {
      fail_unless (err != NULL);
      GError *e = NULL;
      gst_message_parse_error (err, &e, NULL);
      fail_unless (strstr (e->message, "empty calibration stream") != NULL,
          "%s", e->message);
      g_error_free (e);
      fail_if (g_file_test (plan, G_FILE_TEST_EXISTS));
    } else {
      fail_unless (err == NULL);
      fail_unless (g_file_test (plan, G_FILE_TEST_EXISTS));
    }
    if (err)
      gst_message_unref (err);
    gst_bus_set_flushing (bus, TRUE);
    gst_element_set_bus (h->element, NULL);
    gst_object_unref (bus);
    gst_harness_teardown (h);
  }
}
GST_END_TEST;

GST_START_TEST (test_user_errors)
{
  g_autofree gchar *other = g_build_filename (tmpdir, "other.json", NULL);
  g_file_set_contents (other,
      "{\"format\":\"physnn-quantization-plan\","
      "\"version\":1,\"layers\":[{\"name\":\"/conv9\",\"precision\":"
      "\"int8\"}]}",
      -1, NULL);
  g_autofree gchar *good = write_plan ("good.json", PHYSNN_PRECISION_INT8);
  const struct {
    const gchar *model, *plan, *caps, *needle;
  } cases[] = {
    { NULL, good, NULL, "no model" },
    { "builtin:heat1d_pinn", NULL, NULL, "no plan" },
    { "builtin:heat1d_pinn", "/nonexistent/plan.json", NULL,
        "/nonexistent/plan.json" },
    { "builtin:heat1d_pinn", other, NULL, "/conv9" },
    { "builtin:heat1d_pinn", good,
        "other/tensors, format=static, "
        "types=float32, dimensions=(string)\"3:5\"",
        "does not fit" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GstElement *pipe = gst_pipeline_new (NULL);
    GstElement *src = gst_element_factory_make ("appsrc", NULL);
    GstElement *e = gst_element_factory_make ("qinfer", NULL);
    GstElement *sink = gst_element_factory_make ("fakesink", NULL);
    GstCaps *caps = gst_caps_from_string (
        cases[i].caps ? cases[i].caps
                      : "other/tensors, format=static, types=float32, "
                        "dimensions=(string)\"2:5\"");
    g_object_set (src, "caps", caps, "format", GST_FORMAT_TIME, NULL);
    gst_caps_unref (caps);
    gst_bin_add_many (GST_BIN (pipe), src, e, sink, NULL);
    fail_unless (gst_element_link_many (src, e, sink, NULL));
    g_object_set (e, "model", cases[i].model, "plan", cases[i].plan, "device",
        "cpu", NULL);
    gst_element_set_state (pipe, GST_STATE_PLAYING);
    gfloat v[15] = { 0 };
    gst_app_src_push_buffer (
        GST_APP_SRC (src), gst_buffer_new_memdup (v, sizeof v));
    GstBus *bus = gst_element_get_bus (pipe);
    GstMessage *msg =
        gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND, GST_MESSAGE_ERROR);
    fail_unless (msg != NULL, "no error message for case %u", i);
    GError *err = NULL;
    gst_message_parse_error (msg, &err, NULL);
    fail_unless (strstr (err->message, cases[i].needle) != NULL,
        "case %u: \"%s\" does not mention %s", i, err->message,
        cases[i].needle);
    g_error_free (err);
    gst_message_unref (msg);
    gst_element_set_state (pipe, GST_STATE_NULL);
    gst_object_unref (bus);
    gst_object_unref (pipe);
  }
}
GST_END_TEST;

static Suite *
qinfer_suite (void)
{
  Suite *s = suite_create ("qinfer");
  TCase *tc = tcase_create ("general");
  tmpdir = g_dir_make_tmp ("physnn-qinfer-XXXXXX", NULL);
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_infer);
  tcase_add_test (tc, test_pinninfer_plan);
  tcase_add_test (tc, test_calibrate_after_buffers);
  tcase_add_test (tc, test_calibrate_at_eos_and_empty);
  tcase_add_test (tc, test_user_errors);
  return s;
}

GST_CHECK_MAIN (qinfer);
