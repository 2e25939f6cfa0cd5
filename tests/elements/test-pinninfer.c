/* Element tests: pinninfer with models written by the test (values and
 * derivatives in closed form), both feeding modes, the buffer meta, and the
 * errors a user meets. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/app/gstappsrc.h>
#include <physnn/physnn.h>
#include <physnn/onnx-private.h>

#include "gstphysnnmodelmeta.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static gchar *tmpdir;

/* u = tanh (a·coords + b), one output column; coords [N,d]; optionally a
 * "branch" input [1,k] whose sum is added: u = tanh (a·coords + b) + Σ br. */
static gchar *
write_model (const gchar *name, guint d, const gfloat *a, gfloat b,
    guint branch)
{
  g_autoptr (PhysnnOnnxModel) m = physnn_onnx_model_new ();
  gint64 cdims[2] = { -1, d }, bdims[2] = { 1, branch }, odims[2] = { -1, 1 };
  gsize wshape[2] = { d, 1 }, bshape[1] = { 1 };
  gdouble w[8], bb = b;

  m->opset = 13;
  if (branch)
    g_ptr_array_add (m->inputs, physnn_onnx_value_info_new ("branch",
            PHYSNN_DTYPE_FLOAT32, 2, bdims));
  g_ptr_array_add (m->inputs, physnn_onnx_value_info_new ("coords",
          PHYSNN_DTYPE_FLOAT32, 2, cdims));
  g_ptr_array_add (m->outputs, physnn_onnx_value_info_new ("u",
          PHYSNN_DTYPE_FLOAT32, 2, odims));
  for (guint i = 0; i < d; i++)
    w[i] = a[i];
  g_ptr_array_add (m->initializer_names, g_strdup ("w"));
  g_hash_table_insert (m->initializers, g_strdup ("w"),
      physnn_tensor_new_from_doubles (PHYSNN_DTYPE_FLOAT32, 2, wshape, w, d,
          NULL));
  g_ptr_array_add (m->initializer_names, g_strdup ("b"));
  g_hash_table_insert (m->initializers, g_strdup ("b"),
      physnn_tensor_new_from_doubles (PHYSNN_DTYPE_FLOAT32, 1, bshape, &bb, 1,
          NULL));

  PhysnnOnnxNode *n = physnn_onnx_node_new ("Gemm", "lin");
  g_ptr_array_add (n->inputs, g_strdup ("coords"));
  g_ptr_array_add (n->inputs, g_strdup ("w"));
  g_ptr_array_add (n->inputs, g_strdup ("b"));
  g_ptr_array_add (n->outputs, g_strdup ("z"));
  g_ptr_array_add (m->nodes, n);
  n = physnn_onnx_node_new ("Tanh", "act");
  g_ptr_array_add (n->inputs, g_strdup ("z"));
  g_ptr_array_add (n->outputs, g_strdup (branch ? "h" : "u"));
  g_ptr_array_add (m->nodes, n);
  if (branch) {
    n = physnn_onnx_node_new ("ReduceSum", "bsum");
    g_ptr_array_add (n->inputs, g_strdup ("branch"));
    g_ptr_array_add (n->outputs, g_strdup ("s"));
    PhysnnOnnxAttribute *k = physnn_onnx_attribute_new ("keepdims",
        PHYSNN_ONNX_ATTR_INT);
    k->i = 1;
    g_ptr_array_add (n->attributes, k);
    g_ptr_array_add (m->nodes, n);
    n = physnn_onnx_node_new ("Add", "plus");
    g_ptr_array_add (n->inputs, g_strdup ("h"));
    g_ptr_array_add (n->inputs, g_strdup ("s"));
    g_ptr_array_add (n->outputs, g_strdup ("u"));
    g_ptr_array_add (m->nodes, n);
  }
  g_hash_table_insert (m->metadata, g_strdup ("physnn.coords"),
      g_strdup (d == 1 ? "x" : "x,t"));
  gchar *path = g_build_filename (tmpdir, name, NULL);
  g_assert_true (physnn_onnx_model_save (m, path, NULL));
  return path;
}

/* A harness around pinninfer with properties set before it starts. */
static GstHarness *
pinninfer (const gchar *first_prop, ...)
{
  GstElement *e = gst_element_factory_make ("pinninfer", NULL);
  va_list ap;
  va_start (ap, first_prop);
  g_object_set_valist (G_OBJECT (e), first_prop, ap);
  va_end (ap);
  /* the harness starts the element: properties must be set before */
  GstHarness *h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  return h;
}

static GstBus *
attach_bus (GstHarness *h)
{
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  return bus;
}


static void
detach_bus (GstHarness *h, GstBus *bus)
{
  gst_bus_set_flushing (bus, TRUE);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
}

static gchar *
error_text (GstBus *bus)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  GError *err = NULL;
  gchar *dbg = NULL;
  if (msg == NULL)
    return NULL;
  gst_message_parse_error (msg, &err, &dbg);
  gchar *text = g_strdup_printf ("%s | %s", err->message, dbg ? dbg : "");
  g_error_free (err);
  g_free (dbg);
  gst_message_unref (msg);
  return text;
}

static gfloat
value_at (GstBuffer *b, guint mem, guint i)
{
  GstMapInfo map;
  gst_memory_map (gst_buffer_peek_memory (b, mem), &map, GST_MAP_READ);
  gfloat v = ((gfloat *) map.data)[i];
  gst_memory_unmap (gst_buffer_peek_memory (b, mem), &map);
  return v;
}

GST_START_TEST (test_stream_coordinates)
{
  const gchar *devices[] = { "cpu", "auto" };
  gfloat a[1] = { 1.5f };
  g_autofree gchar *path = write_model ("x.onnx", 1, a, -0.25f, 0);

  for (guint d = 0; d < 2; d++) {
    GstHarness *h = pinninfer ("model", path, "derivatives", "u_x,u_xx",
        "device", devices[d], NULL);
    gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
        "types=float32, dimensions=(string)\"1:5\", framerate=10/1");
    gfloat xs[5] = { -1, -0.3f, 0, 0.4f, 2 };
    GstBuffer *in = gst_buffer_new_memdup (xs, sizeof xs);
    GST_BUFFER_PTS (in) = 0;
    GstBuffer *out = gst_harness_push_and_pull (h, in);
    fail_unless_equals_int (gst_buffer_n_memory (out), 3);
    for (guint i = 0; i < 5; i++) {
      gdouble th = tanh (1.5 * xs[i] - 0.25);
      fail_unless (fabs (value_at (out, 0, i) - th) < 2e-6);
      fail_unless (fabs (value_at (out, 1, i) - 1.5 * (1 - th * th)) < 2e-6);
      fail_unless (fabs (value_at (out, 2, i) - 2.25 * (-2 * th * (1 - th *
                      th))) < 2e-6);
    }
    GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
    fail_unless_equals_string (gst_structure_get_string
        (gst_caps_get_structure (caps, 0), "dimensions"), "1:5,5,5");
    gst_caps_unref (caps);

    GstPhysnnModelMeta *meta = gst_buffer_get_physnn_model_meta (out);
    fail_unless (meta != NULL);
    fail_unless_equals_int (meta->n_inputs, 1);
    fail_unless_equals_string (meta->derivatives, "u_x,u_xx");
    fail_unless (meta->grid == NULL);
    gst_buffer_unref (out);
    gst_harness_teardown (h);
  }
}
GST_END_TEST;

GST_START_TEST (test_grid_and_time)
{
  gfloat a[2] = { 0.7f, -1.3f };
  g_autofree gchar *path = write_model ("xt.onnx", 2, a, 0.2f, 0);
  GstHarness *h = pinninfer ("model", path, "grid", "x=0:1:11",
      "time-scale", 0.5, "derivatives", "u_t", NULL);
  /* any stream: it only clocks the evaluations */
  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
      "types=float32, dimensions=(string)4, framerate=10/1");
  gfloat dummy[4] = { 0 };
  GstBuffer *in = gst_buffer_new_memdup (dummy, sizeof dummy);
  GST_BUFFER_PTS (in) = 2 * GST_SECOND;        /* t = 2 s x 0.5 = 1 */
  GstBuffer *out = gst_harness_push_and_pull (h, in);
  for (guint i = 0; i < 11; i++) {
    gdouble x = i / 10.0, th = tanh (0.7 * x - 1.3 * 1.0 + 0.2);
    fail_unless (fabs (value_at (out, 0, i) - th) < 2e-6);
    fail_unless (fabs (value_at (out, 1, i) + 1.3 * (1 - th * th)) < 2e-6);
  }
  GstPhysnnModelMeta *meta = gst_buffer_get_physnn_model_meta (out);
  fail_unless_equals_string (meta->grid, "x=0:1:11");
  fail_unless_equals_int (meta->grid_shape[0], 11);
  fail_unless (fabs (meta->time - 1.0) < 1e-12);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 2 * GST_SECOND);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_branch_from_stream)
{
  gfloat a[2] = { 1.0f, 0.5f };
  g_autofree gchar *path = write_model ("don.onnx", 2, a, 0.0f, 3);
  GstHarness *h = pinninfer ("model", path, "grid", "x=-1:1:3", NULL);
  /* a field tensor first, then the 3 sensor values: the branch input takes
   * the first tensor that fits [1,3] */
  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
      "num_tensors=2, types=(string)\"float32,float32\", "
      "dimensions=(string)\"8,3\", framerate=10/1");
  gfloat field[8] = { 0 }, sensors[3] = { 0.1f, 0.2f, 0.3f };
  GstBuffer *in = gst_buffer_new ();
  gpointer pf = g_memdup2 (field, sizeof field);
  gpointer ps = g_memdup2 (sensors, sizeof sensors);
  gst_buffer_append_memory (in, gst_memory_new_wrapped (0, pf, sizeof field,
          0, sizeof field, pf, g_free));
  gst_buffer_append_memory (in, gst_memory_new_wrapped (0, ps,
          sizeof sensors, 0, sizeof sensors, ps, g_free));
  GST_BUFFER_PTS (in) = 0;
  GstBuffer *out = gst_harness_push_and_pull (h, in);
  for (guint i = 0; i < 3; i++) {
    gdouble x = -1.0 + i;
    fail_unless (fabs (value_at (out, 0, i) - (tanh (x) + 0.6)) < 2e-6);
  }
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_user_errors)
{
  gfloat a[1] = { 1.0f };
  g_autofree gchar *path = write_model ("e.onnx", 1, a, 0.0f, 0);
  g_autofree gchar *junk = g_build_filename (tmpdir, "junk.onnx", NULL);
  g_file_set_contents (junk, "this is not protobuf\x01\x02", -1, NULL);
  const struct {
    const gchar *model, *grid, *derivs, *caps, *needle;
  } cases[] = {
    {NULL, NULL, NULL, NULL, "no model"},
    {"/nonexistent.onnx", NULL, NULL, NULL, "/nonexistent.onnx"},
    {junk, NULL, NULL, NULL, "junk.onnx"},
    {"builtin:nope", NULL, NULL, NULL, "no builtin model \"nope\""},
    {path, NULL, "u_q", NULL, "\"q\" is not a coordinate"},
    {path, "x=0:1", NULL, NULL, "min:max:count"},
    {path, "y=0:1:4", NULL, NULL, "does not cover coordinate \"x\""},
    {path, NULL, NULL, "other/tensors, format=static, types=float32, "
          "dimensions=(string)\"2:5\"", "has no matching stream tensor"},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    /* Start errors would trip the harness' own assertions: run a real
     * pipeline instead and read the bus. */
    GstElement *pipe = gst_pipeline_new (NULL);
    GstElement *src = gst_element_factory_make ("appsrc", NULL);
    GstElement *e = gst_element_factory_make ("pinninfer", NULL);
    GstElement *sink = gst_element_factory_make ("fakesink", NULL);
    GstCaps *caps = gst_caps_from_string (cases[i].caps ? cases[i].caps :
        "other/tensors, format=static, types=float32, "
        "dimensions=(string)\"1:5\"");
    g_object_set (src, "caps", caps, "format", GST_FORMAT_TIME, NULL);
    gst_caps_unref (caps);
    gst_bin_add_many (GST_BIN (pipe), src, e, sink, NULL);
    fail_unless (gst_element_link_many (src, e, sink, NULL));
    gst_object_ref (e);
    gst_object_ref (src);
    g_object_set (e, "model", cases[i].model, "grid", cases[i].grid,
        "derivatives", cases[i].derivs, NULL);
    gst_element_set_state (pipe, GST_STATE_PLAYING);
    gfloat v[10] = { 0 };
    gst_app_src_push_buffer (GST_APP_SRC (src), gst_buffer_new_memdup (v,
            sizeof v));
    GstBus *bus = gst_element_get_bus (pipe);
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND,
        GST_MESSAGE_ERROR);
    fail_unless (msg != NULL, "no error message for case %u", i);
    GError *err = NULL;
    gchar *dbg = NULL;
    gst_message_parse_error (msg, &err, &dbg);
    fail_unless (strstr (err->message, cases[i].needle) != NULL,
        "case %u: \"%s\" does not mention %s", i, err->message,
        cases[i].needle);
    g_error_free (err);
    g_free (dbg);
    gst_message_unref (msg);
    gst_element_set_state (pipe, GST_STATE_NULL);
    gst_object_unref (bus);
    gst_object_unref (e);
    gst_object_unref (src);
    gst_object_unref (pipe);
  }
}
GST_END_TEST;

GST_START_TEST (test_nan_coordinates)
{
  gfloat a[1] = { 1.0f };
  g_autofree gchar *path = write_model ("n.onnx", 1, a, 0.0f, 0);
  GstHarness *h = pinninfer ("model", path, NULL);
  GstBus *bus = attach_bus (h);
  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
      "types=float32, dimensions=(string)\"1:2\"");
  gfloat v[2] = { 0.5f, NAN };
  fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_memdup (v,
              sizeof v)), GST_FLOW_ERROR);
  g_autofree gchar *text = error_text (bus);
  fail_unless (text && strstr (text, "NaN"), "%s", text);
  detach_bus (h, bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

static Suite *
pinninfer_suite (void)
{
  Suite *s = suite_create ("pinninfer");
  TCase *tc = tcase_create ("general");
  tmpdir = g_dir_make_tmp ("physnn-pinninfer-XXXXXX", NULL);
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_stream_coordinates);
  tcase_add_test (tc, test_grid_and_time);
  tcase_add_test (tc, test_branch_from_stream);
  tcase_add_test (tc, test_user_errors);
  tcase_add_test (tc, test_nan_coordinates);
  return s;
}

GST_CHECK_MAIN (pinninfer);
