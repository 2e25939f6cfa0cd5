/* Element tests: the GstPhysnnFilter base class, through a small test
 * element that doubles its input as float32 on the selected device. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "gstphysnnfilter.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* physnntestdouble: out = 2 * in, as float32, per tensor */

#define TEST_TYPE_DOUBLE (test_double_get_type ())
G_DECLARE_FINAL_TYPE (TestDouble, test_double, TEST, DOUBLE, GstPhysnnFilter)
struct _TestDouble {
  GstPhysnnFilter parent;
};
G_DEFINE_TYPE (TestDouble, test_double, GST_TYPE_PHYSNN_FILTER);

static gboolean
test_double_get_output_info (GstPhysnnFilter *f,
    const GstPhysnnTensorsInfo *in, GstPhysnnTensorsInfo *out, GError **error)
{
  if (in->media == GST_PHYSNN_MEDIA_AUDIO && in->tensors[0].shape[0] == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "set frames-per-tensor");
    return FALSE;
  }
  out->n_tensors = in->n_tensors;
  for (guint i = 0; i < in->n_tensors; i++)
    gst_physnn_tensor_info_set (&out->tensors[i], PHYSNN_DTYPE_FLOAT32,
        in->tensors[i].rank, in->tensors[i].shape);
  return TRUE;
}

static GstFlowReturn
test_double_process (GstPhysnnFilter *f, GstBuffer *inbuf,
    PhysnnTensor **in, guint n_in, GstBuffer *outbuf, PhysnnTensor **out,
    guint n_out, GError **error)
{
  PhysnnDevice *dev = gst_physnn_filter_get_device (f);
  g_assert_cmpuint (n_in, ==, n_out);
  for (guint i = 0; i < n_in; i++) {
    if (!physnn_ops_cast (dev, in[i], out[i], error) ||
        !physnn_ops_axpy (dev, 1.0f, out[i], out[i], error))
      return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static void
test_double_class_init (TestDoubleClass *klass)
{
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  GstPhysnnFilterClass *fc = GST_PHYSNN_FILTER_CLASS (klass);
  gst_element_class_add_pad_template (ec,
      gst_pad_template_new ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
          gst_caps_from_string (GST_PHYSNN_TENSORS_CAPS_ANY "; "
              GST_PHYSNN_AUDIO_CAPS "; " GST_PHYSNN_VIDEO_GRAY_CAPS)));
  gst_element_class_add_pad_template (ec,
      gst_pad_template_new ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
          gst_caps_from_string (GST_PHYSNN_TENSORS_CAPS_ANY)));
  gst_element_class_set_static_metadata (ec, "test double", "Filter",
      "doubles", "tests");
  fc->get_output_info = test_double_get_output_info;
  fc->process = test_double_process;
}

static void
test_double_init (TestDouble *self)
{
}

/* ------------------------------------------------------------------------ */

static GstHarness *
harness_new (const gchar *device)
{
  GstHarness *h = gst_harness_new ("physnntestdouble");
  g_object_set (h->element, "device", device, NULL);
  return h;
}

static GstBus *
attach_bus (GstHarness *h)
{
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  return bus;
}

/* Messages hold their source element and the element holds the bus: flush
 * before dropping the bus so neither leaks. */
static void
detach_bus (GstHarness *h, GstBus *bus)
{
  gst_bus_set_flushing (bus, TRUE);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
}

static gchar *
pop_message_text (GstBus *bus, GstMessageType type)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, type);
  GError *err = NULL;
  gchar *dbg = NULL, *text;
  if (msg == NULL)
    return NULL;
  if (type == GST_MESSAGE_ERROR)
    gst_message_parse_error (msg, &err, &dbg);
  else
    gst_message_parse_warning (msg, &err, &dbg);
  text = g_strdup_printf ("%s | %s", err->message, dbg ? dbg : "");
  g_error_free (err);
  g_free (dbg);
  gst_message_unref (msg);
  return text;
}

static GstBuffer *
float_buffer (const gfloat *v, gsize n, GstClockTime pts)
{
  GstBuffer *b = gst_buffer_new_memdup (v, n * sizeof (gfloat));
  GST_BUFFER_PTS (b) = pts;
  GST_BUFFER_DURATION (b) = 10 * GST_MSECOND;
  return b;
}

static void
assert_floats (GstBuffer *b, guint mem, const gfloat *want, gsize n)
{
  GstMapInfo map;
  GstMemory *m = gst_buffer_peek_memory (b, mem);
  fail_unless (gst_memory_map (m, &map, GST_MAP_READ));
  fail_unless_equals_uint64 (map.size, n * sizeof (gfloat));
  for (gsize i = 0; i < n; i++)
    fail_unless_equals_float (((gfloat *) map.data)[i], want[i]);
  gst_memory_unmap (m, &map);
}

static const gchar *devices[] = { "cpu", "auto" };

GST_START_TEST (test_tensors_two_tensors)
{
  for (guint d = 0; d < G_N_ELEMENTS (devices); d++) {
    GstHarness *h = harness_new (devices[d]);
    gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
        "num_tensors=2, types=(string)\"float32,uint8\", "
        "dimensions=(string)\"4:2,3\", framerate=10/1");
    gfloat a[8] = { 0, 1, 2, 3, -4, 5.5f, 6, 7 };
    guint8 u[3] = { 1, 2, 255 };
    GstBuffer *in = gst_buffer_new ();
    gpointer pa = g_memdup2 (a, sizeof a), pu = g_memdup2 (u, 3);
    gst_buffer_append_memory (in, gst_memory_new_wrapped (0, pa, sizeof a,
            0, sizeof a, pa, g_free));
    gst_buffer_append_memory (in, gst_memory_new_wrapped (0, pu, 3, 0, 3, pu,
            g_free));
    GST_BUFFER_PTS (in) = 123 * GST_MSECOND;
    GST_BUFFER_DURATION (in) = 100 * GST_MSECOND;
    GstBuffer *out = gst_harness_push_and_pull (h, in);
    fail_unless (out != NULL);
    fail_unless_equals_int (gst_buffer_n_memory (out), 2);
    gfloat want_a[8] = { 0, 2, 4, 6, -8, 11, 12, 14 };
    gfloat want_u[3] = { 2, 4, 510 };
    assert_floats (out, 0, want_a, 8);
    assert_floats (out, 1, want_u, 3);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 123 * GST_MSECOND);
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (out), 100 * GST_MSECOND);

    /* Output caps: float32 with the same dimension strings. */
    GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
    GstStructure *s = gst_caps_get_structure (caps, 0);
    fail_unless_equals_string (gst_structure_get_string (s, "types"),
        "float32,float32");
    fail_unless_equals_string (gst_structure_get_string (s, "dimensions"),
        "4:2,3");
    gst_caps_unref (caps);
    gst_buffer_unref (out);
    gst_harness_teardown (h);
  }
}
GST_END_TEST;

GST_START_TEST (test_tensors_one_memory)
{
  /* Producers that pack all tensors in one memory are split by size. */
  GstHarness *h = harness_new ("cpu");
  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
      "num_tensors=2, types=(string)\"float32,float32\", "
      "dimensions=(string)\"2,3\"");
  gfloat v[5] = { 1, 2, 3, 4, 5 };
  GstBuffer *out = gst_harness_push_and_pull (h, float_buffer (v, 5, 0));
  gfloat w0[2] = { 2, 4 }, w1[3] = { 6, 8, 10 };
  assert_floats (out, 0, w0, 2);
  assert_floats (out, 1, w1, 3);
  gst_buffer_unref (out);

  /* A buffer of the wrong size is an error naming the sizes. */
  GstBus *bus = attach_bus (h);
  fail_unless_equals_int (gst_harness_push (h, float_buffer (v, 4, 0)),
      GST_FLOW_ERROR);
  g_autofree gchar *msg = pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg && strstr (msg, "16 bytes"), "%s", msg);
  detach_bus (h, bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_bad_caps_message)
{
  const struct {
    const gchar *caps;
    const gchar *needle;
  } cases[] = {
    {"other/tensors, format=static, types=float32, "
          "dimensions=(string)\"3:x\"", "\"x\""},
    {"other/tensors, format=static, types=float77, dimensions=(string)3",
        "\"float77\""},
    {"other/tensors, format=static, num_tensors=3, types=float32, "
          "dimensions=(string)3", "num_tensors=3"},
    {"audio/x-raw, format=S16LE, layout=interleaved, rate=8000, channels=2",
        "frames-per-tensor"},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GstHarness *h = harness_new ("cpu");
    GstBus *bus = attach_bus (h);
    gst_harness_set_src_caps_str (h, cases[i].caps);
    gfloat v[3] = { 1, 2, 3 };
    fail_if (gst_harness_push (h, float_buffer (v, 3, 0)) == GST_FLOW_OK);
    g_autofree gchar *msg = pop_message_text (bus, GST_MESSAGE_ERROR);
    fail_unless (msg != NULL, "no error for %s", cases[i].caps);
    fail_unless (strstr (msg, cases[i].needle) != NULL,
        "error \"%s\" does not quote %s", msg, cases[i].needle);
    detach_bus (h, bus);
    gst_harness_teardown (h);
  }
}
GST_END_TEST;

GST_START_TEST (test_audio_chunks)
{
  GstHarness *h = harness_new ("auto");
  g_object_set (h->element, "frames-per-tensor", 3, NULL);
  gst_harness_set_src_caps_str (h, "audio/x-raw, format=S16LE, "
      "layout=interleaved, rate=1000, channels=2");
  /* 2 frames, then 5 frames: 7 frames make two tensors of 3. */
  gint16 a[4] = { 1, -1, 2, -2 };
  gint16 b[10] = { 3, -3, 4, -4, 5, -5, 6, -6, 7, -7 };
  GstBuffer *ba = gst_buffer_new_memdup (a, sizeof a);
  GstBuffer *bb = gst_buffer_new_memdup (b, sizeof b);
  GST_BUFFER_PTS (ba) = 0;
  GST_BUFFER_PTS (bb) = 2 * GST_MSECOND;
  fail_unless_equals_int (gst_harness_push (h, ba), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);
  fail_unless_equals_int (gst_harness_push (h, bb), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_received (h), 2);

  GstBuffer *o1 = gst_harness_pull (h), *o2 = gst_harness_pull (h);
  gfloat w1[6] = { 2, -2, 4, -4, 6, -6 }, w2[6] = { 8, -8, 10, -10, 12, -12 };
  assert_floats (o1, 0, w1, 6);
  assert_floats (o2, 0, w2, 6);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (o1), 0);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (o2), 3 * GST_MSECOND);
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (o2), 3 * GST_MSECOND);

  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  GstStructure *s = gst_caps_get_structure (caps, 0);
  fail_unless_equals_string (gst_structure_get_string (s, "dimensions"),
      "2:3");
  gint n, d;
  fail_unless (gst_structure_get_fraction (s, "framerate", &n, &d));
  fail_unless_equals_int (n * 3, 1000 * d);     /* 1000/3 tensors per s */
  gst_caps_unref (caps);
  gst_buffer_unref (o1);
  gst_buffer_unref (o2);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_video_stride)
{
  GstHarness *h = harness_new ("auto");
  /* GRAY8 5x3: rows are padded to 8 bytes. */
  gst_harness_set_src_caps_str (h, "video/x-raw, format=GRAY8, width=5, "
      "height=3, framerate=25/1");
  guint8 frame[24];
  for (guint y = 0; y < 3; y++)
    for (guint x = 0; x < 8; x++)
      frame[y * 8 + x] = x < 5 ? (guint8) (10 * y + x) : 0xee;
  GstBuffer *out = gst_harness_push_and_pull (h,
      gst_buffer_new_memdup (frame, sizeof frame));
  gfloat want[15];
  for (guint y = 0; y < 3; y++)
    for (guint x = 0; x < 5; x++)
      want[y * 5 + x] = 2.0f * (10 * y + x);
  assert_floats (out, 0, want, 15);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_nonfinite)
{
  GstHarness *h = harness_new ("cpu");
  GstBus *bus = attach_bus (h);
  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
      "types=float32, dimensions=(string)3");
  gfloat bad[3] = { 1, NAN, 3 }, good[3] = { 1, 2, 3 };

  /* Default: error that says which tensor, how many and when. */
  fail_unless_equals_int (gst_harness_push (h, float_buffer (bad, 3,
              GST_SECOND)), GST_FLOW_ERROR);
  g_autofree gchar *msg = pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg && strstr (msg, "tensor 0 has 1 NaN"), "%s", msg);
  fail_unless (strstr (msg, "0:00:01") != NULL, "%s", msg);

  /* drop: buffer dropped, warning posted, stream goes on. */
  g_object_set (h->element, "nonfinite", GST_PHYSNN_NONFINITE_DROP, NULL);
  fail_unless_equals_int (gst_harness_push (h, float_buffer (bad, 3, 0)),
      GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, float_buffer (good, 3, 0)),
      GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_received (h), 1);
  gst_buffer_unref (gst_harness_pull (h));
  g_autofree gchar *warn = pop_message_text (bus, GST_MESSAGE_WARNING);
  fail_unless (warn && strstr (warn, "Dropped"), "%s", warn);

  GstStructure *stats;
  guint64 buffers, dropped;
  g_object_get (h->element, "stats", &stats, NULL);
  fail_unless (gst_structure_get_uint64 (stats, "buffers", &buffers));
  fail_unless (gst_structure_get_uint64 (stats, "dropped", &dropped));
  fail_unless_equals_uint64 (buffers, 1);
  fail_unless_equals_uint64 (dropped, 1);
  gst_structure_free (stats);

  /* pass: processed anyway, NaN propagates. */
  g_object_set (h->element, "nonfinite", GST_PHYSNN_NONFINITE_PASS, NULL);
  GstBuffer *out = gst_harness_push_and_pull (h, float_buffer (bad, 3, 0));
  GstMapInfo map;
  gst_buffer_map (out, &map, GST_MAP_READ);
  fail_unless (isnan (((gfloat *) map.data)[1]));
  gst_buffer_unmap (out, &map);
  gst_buffer_unref (out);
  detach_bus (h, bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_latency_and_stats)
{
  GstHarness *h = harness_new ("auto");
  gst_harness_set_upstream_latency (h, 10 * GST_MSECOND);
  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
      "types=float32, dimensions=(string)1000");
  gfloat v[1000] = { 0 };
  for (guint i = 0; i < 20; i++)
    gst_buffer_unref (gst_harness_push_and_pull (h, float_buffer (v, 1000,
                i * 10 * GST_MSECOND)));

  GstStructure *stats;
  guint64 buffers;
  gdouble mean_ms, max_ms;
  g_object_get (h->element, "stats", &stats, NULL);
  fail_unless (gst_structure_get_uint64 (stats, "buffers", &buffers));
  fail_unless (gst_structure_get_double (stats, "mean-ms", &mean_ms));
  fail_unless (gst_structure_get_double (stats, "max-ms", &max_ms));
  fail_unless_equals_uint64 (buffers, 20);
  fail_unless (mean_ms > 0 && max_ms >= mean_ms);
  fail_unless (strlen (gst_structure_get_string (stats, "device")) > 0);
  gst_structure_free (stats);

  /* Our latency adds to upstream's: at least 10 ms plus the worst time. */
  GstClockTime lat = gst_harness_query_latency (h);
  fail_unless (lat >= 10 * GST_MSECOND + (GstClockTime) (max_ms * 1e6) - 1000,
      "latency %" GST_TIME_FORMAT " max-ms %f", GST_TIME_ARGS (lat), max_ms);
  fail_unless (lat < 10 * GST_MSECOND + 2 * GST_SECOND);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_bad_device)
{
  GstHarness *h = gst_harness_new_with_padnames ("physnntestdouble", "sink",
      "src");
  GstBus *bus = attach_bus (h);
  gst_element_set_state (h->element, GST_STATE_NULL);
  g_object_set (h->element, "device", "opencl:7.7", NULL);
  fail_unless_equals_int (gst_element_set_state (h->element,
          GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  g_autofree gchar *msg = pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg && strstr (msg, "opencl:7.7"), "%s", msg);

  g_object_set (h->element, "device", "fpga", NULL);
  fail_unless_equals_int (gst_element_set_state (h->element,
          GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  g_autofree gchar *msg2 = pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg2 && strstr (msg2, "unknown device \"fpga\""), "%s", msg2);
  gst_element_set_state (h->element, GST_STATE_NULL);
  detach_bus (h, bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* No OpenCL ICD at all: "auto" still works, on the C path, and the element
 * tells the application why with a warning on the bus. */
GST_START_TEST (test_no_icd_warning)
{
  g_setenv ("OCL_ICD_VENDORS", "/nonexistent-physnn-test", TRUE);
  g_setenv ("OPENCL_VENDOR_PATH", "/nonexistent-physnn-test", TRUE);
  g_unsetenv ("PHYSNN_DEVICE");
  {
    g_autoptr (PhysnnDevice) probe = physnn_device_new ("auto", NULL);
    if (physnn_device_get_fallback_reason (probe) == NULL) {
      /* The ICD loader was initialised before (tests not forked). */
      g_print ("test_no_icd_warning: skipped, OpenCL already initialised\n");
      return;
    }
  }
  GstHarness *h = harness_new ("auto");
  GstBus *bus = attach_bus (h);
  /* restart so that start() posts on our bus */
  gst_element_set_state (h->element, GST_STATE_NULL);
  gst_element_set_state (h->element, GST_STATE_PLAYING);
  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
      "types=float32, dimensions=(string)2");
  gfloat v[2] = { 1, 2 };
  GstBuffer *out = gst_harness_push_and_pull (h, float_buffer (v, 2, 0));
  gfloat want[2] = { 2, 4 };
  assert_floats (out, 0, want, 2);
  gst_buffer_unref (out);
  g_autofree gchar *warn = pop_message_text (bus, GST_MESSAGE_WARNING);
  fail_unless (warn && strstr (warn, "reference C path") &&
      strstr (warn, "no OpenCL platform"), "%s", warn);
  GstStructure *stats;
  g_object_get (h->element, "stats", &stats, NULL);
  fail_unless_equals_string (gst_structure_get_string (stats, "device"),
      "cpu");
  gst_structure_free (stats);
  detach_bus (h, bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_long_stream)
{
  /* Many buffers through the device path: no growth in held tensors or
   * device buffers (valgrind run checks leaks). */
  GstHarness *h = harness_new ("auto");
  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
      "types=float32, dimensions=(string)\"16:16\"");
  gfloat v[256];
  for (guint i = 0; i < 256; i++)
    v[i] = (gfloat) i;
  for (guint i = 0; i < 500; i++) {
    GstBuffer *out = gst_harness_push_and_pull (h, float_buffer (v, 256,
            i * GST_MSECOND));
    if (i == 499) {
      gfloat want[256];
      for (guint k = 0; k < 256; k++)
        want[k] = 2.0f * k;
      assert_floats (out, 0, want, 256);
    }
    gst_buffer_unref (out);
  }
  gst_harness_teardown (h);
}
GST_END_TEST;

static Suite *
filter_suite (void)
{
  Suite *s = suite_create ("physnnfilter");
  TCase *tc = tcase_create ("general");

  gst_element_register (NULL, "physnntestdouble", GST_RANK_NONE,
      TEST_TYPE_DOUBLE);
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_tensors_two_tensors);
  tcase_add_test (tc, test_tensors_one_memory);
  tcase_add_test (tc, test_bad_caps_message);
  tcase_add_test (tc, test_audio_chunks);
  tcase_add_test (tc, test_video_stride);
  tcase_add_test (tc, test_nonfinite);
  tcase_add_test (tc, test_latency_and_stats);
  tcase_add_test (tc, test_bad_device);
  tcase_add_test (tc, test_long_stream);
  tcase_add_test (tc, test_no_icd_warning);
  return s;
}

GST_CHECK_MAIN (filter);
