/* Element tests: spikeenc on tensor, audio and gray video streams; dense
 * output equal to the engine's encoder, the same spikes as address events
 * with per-step timestamps, state across buffers and its reset, the meta,
 * and the errors a user meets. The event codec is also fed corrupt data. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <physnn/physnn.h>

#include "gstsnnmeta.h"
#include "gstspikeevents.h"

#include <math.h>
#include <string.h>

static GstHarness *
spikeenc (const gchar *first_prop, ...)
{
  GstElement *e = gst_element_factory_make ("spikeenc", NULL);
  va_list ap;
  va_start (ap, first_prop);
  g_object_set_valist (G_OBJECT (e), first_prop, ap);
  va_end (ap);
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

static GstBuffer *
float_buffer (const gfloat *v, guint n, GstClockTime pts, GstClockTime dur)
{
  GstBuffer *b = gst_buffer_new_memdup (v, n * sizeof (gfloat));
  GST_BUFFER_PTS (b) = pts;
  GST_BUFFER_DURATION (b) = dur;
  return b;
}

/* The engine's encoder with the same settings, on the C path. */
static guint8 *
reference (
    PhysnnEncoder *enc, const gfloat *v, guint n_samples, guint n, gsize *size)
{
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", NULL);
  gsize shape[2] = { n_samples, n };
  g_autoptr (PhysnnTensor) in =
      physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  memcpy (physnn_tensor_map (in, PHYSNN_MAP_WRITE, NULL), v,
      sizeof (gfloat) * n_samples * n);
  physnn_tensor_unmap (in);
  g_autoptr (PhysnnTensor) out =
      physnn_encoder_encode_new (enc, cpu, in, n_samples, NULL);
  fail_unless (out != NULL);
  const guint8 *p = physnn_tensor_map (out, PHYSNN_MAP_READ, size);
  guint8 *copy = g_memdup2 (p, *size);
  physnn_tensor_unmap (out);
  return copy;
}

static gchar *
caps_field (GstHarness *h, const gchar *field)
{
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  const GValue *v =
      gst_structure_get_value (gst_caps_get_structure (caps, 0), field);
  gchar *s = v ? gst_value_serialize (v) : NULL;
  gst_caps_unref (caps);
  return s;
}

/* Rate coding of a tensor stream, on the C path and the auto device: the
 * element's spikes are the engine's, buffer after buffer (the random
 * step runs on), with the meta counting them. */
GST_START_TEST (test_dense_tensor)
{
  const gchar *devices[] = { "cpu", "auto" };
  for (guint d = 0; d < 2; d++) {
    GstHarness *h = spikeenc ("method", PHYSNN_ENCODE_RATE, "num-steps", 6,
        "seed", (guint64)4, "gain", 0.8, "device", devices[d], NULL);
    gst_harness_set_src_caps_str (h,
        "other/tensors, format=static, "
        "types=float32, dimensions=(string)\"5\", framerate=10/1");
    g_autoptr (PhysnnEncoder) ref = physnn_encoder_new (PHYSNN_ENCODE_RATE);
    g_object_set (ref, "num-steps", 6, "seed", (guint64)4, "gain", 0.8, NULL);
    for (guint b = 0; b < 3; b++) {
      gfloat v[5] = { 0.1f * b, 0.3f, 0.5f, 0.9f, 1.2f };
      GstBuffer *out = gst_harness_push_and_pull (
          h, float_buffer (v, 5, b * GST_SECOND / 10, GST_SECOND / 10));
      gsize size;
      g_autofree guint8 *want = reference (ref, v, 1, 5, &size);
      fail_unless_equals_int (size, 30);
      fail_unless (gst_buffer_memcmp (out, 0, want, size) == 0);
      fail_unless_equals_uint64 (GST_BUFFER_PTS (out), b * GST_SECOND / 10);
      fail_unless_equals_uint64 (GST_BUFFER_DURATION (out), GST_SECOND / 10);
      GstSnnMeta *meta = gst_buffer_get_snn_meta (out);
      fail_unless (meta != NULL);
      guint64 count = 0;
      for (gsize i = 0; i < size; i++)
        count += want[i];
      fail_unless_equals_uint64 (meta->spikes, count);
      fail_unless_equals_uint64 (meta->steps, 6);
      fail_unless_equals_uint64 (meta->neurons, 5);
      gst_buffer_unref (out);
    }
    g_autofree gchar *dims = caps_field (h, "dimensions");
    fail_unless_equals_string (dims, "5:6");
    g_autofree gchar *types = caps_field (h, "types");
    fail_unless_equals_string (types, "uint8");
    gst_harness_teardown (h);
  }
}
GST_END_TEST;

/* Events carry the dense spikes, step k at PTS + k·duration/steps. */
GST_START_TEST (test_events)
{
  GstHarness *h = spikeenc ("method", PHYSNN_ENCODE_SIGMA_DELTA, "num-steps", 3,
      "threshold", 0.1, "off-spikes", TRUE, NULL);
  gst_harness_set_src_caps_str (h,
      "other/tensors, format=static, "
      "types=float32, dimensions=(string)\"4\", framerate=30/1");
  gst_harness_set_sink_caps_str (h, GST_SPIKE_EVENTS_MEDIA_TYPE);
  g_autoptr (PhysnnEncoder) ref =
      physnn_encoder_new (PHYSNN_ENCODE_SIGMA_DELTA);
  g_object_set (
      ref, "num-steps", 3, "threshold", 0.1, "off-spikes", TRUE, NULL);
  const GstClockTime dur = GST_SECOND / 30;
  gfloat series[3][4] = { { 0.25f, 0.0f, -0.15f, 0.05f },
    { 0.05f, 0.31f, -0.35f, 0.05f }, { 0.05f, 0.0f, 0.0f, 0.3f } };
  guint64 total = 0;
  for (guint b = 0; b < 3; b++) {
    GstBuffer *out = gst_harness_push_and_pull (
        h, float_buffer (series[b], 4, 1000 + b * dur, dur));
    gsize dsize;
    g_autofree guint8 *want = reference (ref, series[b], 1, 4, &dsize);
    fail_unless_equals_int (dsize, 3 * 2 * 4);
    GstMapInfo map;
    fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
    guint8 dense[24];
    guint64 n = 0;
    GError *err = NULL;
    fail_unless (
        gst_spike_events_decode (map.data, map.size, 3, 2, 4, dense, &n, &err));
    fail_unless (memcmp (dense, want, 24) == 0);
    fail_unless_equals_uint64 (
        GST_READ_UINT64_LE (map.data + 16), 1000 + b * dur);
    fail_unless_equals_uint64 (GST_READ_UINT64_LE (map.data + 24), dur);
    for (guint64 e = 0; e < n; e++) {
      const guint8 *ev = map.data + 32 + e * 16;
      guint32 step = GST_READ_UINT32_LE (ev + 12) & ~GST_SPIKE_EVENT_OFF;
      fail_unless_equals_uint64 (GST_READ_UINT64_LE (ev),
          1000 + b * dur + gst_util_uint64_scale_int (dur, step, 3));
    }
    total += n;
    gst_buffer_unmap (out, &map);
    gst_buffer_unref (out);
  }
  fail_unless (total > 4);
  g_autofree gchar *neurons = caps_field (h, "neurons");
  fail_unless_equals_string (neurons, "4");
  g_autofree gchar *pol = caps_field (h, "polarity");
  fail_unless_equals_string (pol, "true");
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Audio: channels are neurons, frames are samples, chunked by the base
 * class; S16 is read as a fraction of full scale. */
GST_START_TEST (test_audio)
{
  GstHarness *h = spikeenc ("method", PHYSNN_ENCODE_DELTA, "num-steps", 2,
      "threshold", 0.2, "frames-per-tensor", 4, NULL);
  gst_harness_set_src_caps_str (h, "audio/x-raw, format=S16LE, "
                                   "layout=interleaved, rate=8000, channels=2");
  gint16 pcm[8 * 2];
  for (guint i = 0; i < 8; i++) {
    pcm[2 * i] = (i % 2) ? 16384 : 0; /* 0, 0.5, 0, 0.5 … */
    pcm[2 * i + 1] = 1000;            /* constant 0.03 */
  }
  GstBuffer *in = gst_buffer_new_memdup (pcm, sizeof pcm);
  GST_BUFFER_PTS (in) = 0;
  GST_BUFFER_DURATION (in) = GST_SECOND / 1000;
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  for (guint chunk = 0; chunk < 2; chunk++) {
    GstBuffer *out = gst_harness_pull (h);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (out), chunk * GST_SECOND / 2000);
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (out), GST_SECOND / 2000);
    GstMapInfo map;
    gst_buffer_map (out, &map, GST_MAP_READ);
    fail_unless_equals_int (map.size, 4 * 2 * 2);
    for (guint k = 0; k < 4; k++) {
      /* channel 0 rises by 0.5 at odd frames */
      fail_unless_equals_int (map.data[(k * 2) * 2], k % 2);
      fail_unless_equals_int (map.data[(k * 2 + 1) * 2], 0);
      fail_unless_equals_int (map.data[(k * 2) * 2 + 1], 0);
    }
    gst_buffer_unmap (out, &map);
    gst_buffer_unref (out);
  }
  g_autofree gchar *dims = caps_field (h, "dimensions");
  fail_unless_equals_string (dims, "2:8");
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Gray video through delta with off spikes: [steps][2][H][W]; a
 * discontinuity restarts from zero, a flush too. */
GST_START_TEST (test_video_delta_and_reset)
{
  GstHarness *h = spikeenc ("method", PHYSNN_ENCODE_DELTA, "num-steps", 1,
      "threshold", 0.1, "off-spikes", TRUE, NULL);
  gst_harness_set_src_caps_str (h, "video/x-raw, format=GRAY8, width=4, "
                                   "height=2, framerate=25/1");
  guint8 f1[8] = { 0, 255, 0, 255, 0, 0, 0, 0 };
  guint8 f2[8] = { 0, 0, 255, 255, 0, 0, 0, 0 };
  GstBuffer *out = gst_harness_push_and_pull (h, gst_buffer_new_memdup (f1, 8));
  guint8 want1[16] = { 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
  fail_unless (gst_buffer_memcmp (out, 0, want1, 16) == 0);
  gst_buffer_unref (out);
  out = gst_harness_push_and_pull (h, gst_buffer_new_memdup (f2, 8));
  guint8 want2[16] = { 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
  fail_unless (gst_buffer_memcmp (out, 0, want2, 16) == 0);
  gst_buffer_unref (out);
  /* discontinuity: f2 compared with 0 again */
  GstBuffer *in = gst_buffer_new_memdup (f2, 8);
  GST_BUFFER_FLAG_SET (in, GST_BUFFER_FLAG_DISCONT);
  out = gst_harness_push_and_pull (h, in);
  guint8 want3[16] = { 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
  fail_unless (gst_buffer_memcmp (out, 0, want3, 16) == 0);
  gst_buffer_unref (out);
  /* flush: the same */
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_harness_set_src_caps_str (h, "video/x-raw, format=GRAY8, width=4, "
                                   "height=2, framerate=25/1");
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  gst_harness_push_event (h, gst_event_new_segment (&seg));
  out = gst_harness_push_and_pull (h, gst_buffer_new_memdup (f2, 8));
  fail_unless (gst_buffer_memcmp (out, 0, want3, 16) == 0);
  gst_buffer_unref (out);
  g_autofree gchar *dims = caps_field (h, "dimensions");
  fail_unless_equals_string (dims, "4:2:2:1");
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_messages_and_population_layout)
{
  GstHarness *h = spikeenc ("method", PHYSNN_ENCODE_POPULATION,
      "population-size", 3, "num-steps", 2, "post-messages", TRUE, NULL);
  GstBus *bus = attach_bus (h);
  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
                                   "types=float32, dimensions=(string)\"2:2\"");
  gfloat v[4] = { 0.0f, 0.5f, 1.0f, 0.25f };
  GstBuffer *out = gst_harness_push_and_pull (
      h, float_buffer (v, 4, 0, GST_CLOCK_TIME_NONE));
  fail_unless_equals_int (gst_buffer_get_size (out), 2 * 4 * 3);
  g_autofree gchar *dims = caps_field (h, "dimensions");
  fail_unless_equals_string (dims, "3:2:2:2");
  GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  fail_unless (m != NULL);
  const GstStructure *s = gst_message_get_structure (m);
  fail_unless (gst_structure_has_name (s, "spikeenc"));
  guint64 spikes = 0;
  fail_unless (gst_structure_get_uint64 (s, "spikes", &spikes));
  fail_unless_equals_uint64 (spikes, gst_buffer_get_snn_meta (out)->spikes);
  gst_message_unref (m);
  gst_buffer_unref (out);
  detach_bus (h, bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_user_errors)
{
  /* NaN samples */
  GstHarness *h = spikeenc ("method", PHYSNN_ENCODE_RATE, NULL);
  GstBus *bus = attach_bus (h);
  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
                                   "types=float32, dimensions=(string)\"2\"");
  gfloat v[2] = { 0.5f, NAN };
  fail_unless_equals_int (
      gst_harness_push (h, float_buffer (v, 2, 0, GST_CLOCK_TIME_NONE)),
      GST_FLOW_ERROR);
  g_autofree gchar *text = error_text (bus);
  fail_unless (text && strstr (text, "NaN"), "%s", text);
  detach_bus (h, bus);
  gst_harness_teardown (h);

  /* parameters that cannot work together */
  h = spikeenc ("method", PHYSNN_ENCODE_POPULATION, "population-min", 2.0,
      "population-max", 1.0, NULL);
  bus = attach_bus (h);
  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
                                   "types=float32, dimensions=(string)\"2\"");
  gfloat ok[2] = { 0.5f, 0.2f };
  fail_if (gst_harness_push (h, float_buffer (ok, 2, 0, GST_CLOCK_TIME_NONE)) ==
           GST_FLOW_OK);
  g_autofree gchar *text2 = error_text (bus);
  fail_unless (text2 && strstr (text2, "population-max"), "%s", text2);
  detach_bus (h, bus);
  gst_harness_teardown (h);

  /* several tensors */
  h = spikeenc ("method", PHYSNN_ENCODE_RATE, NULL);
  bus = attach_bus (h);
  gst_harness_set_src_caps_str (h,
      "other/tensors, format=static, "
      "num_tensors=2, types=\"float32,float32\", dimensions=\"2,2\"");
  gfloat four[4] = { 0 };
  fail_if (gst_harness_push (h,
               float_buffer (four, 4, 0, GST_CLOCK_TIME_NONE)) == GST_FLOW_OK);
  g_autofree gchar *text3 = error_text (bus);
  fail_unless (text3 && strstr (text3, "one tensor"), "%s", text3);
  detach_bus (h, bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* The codec refuses what does not match the caps, naming the field. */
GST_START_TEST (test_event_codec_errors)
{
  guint8 dense[2 * 3] = { 1, 0, 1, 0, 1, 0 };
  guint64 n = 0;
  GstMemory *mem = gst_spike_events_encode (dense, 2, 1, 3, 0, 100, &n);
  fail_unless_equals_uint64 (n, 3);
  GstMapInfo map;
  gst_memory_map (mem, &map, GST_MAP_READ);
  guint8 *copy = g_memdup2 (map.data, map.size);
  gsize size = map.size;
  gst_memory_unmap (mem, &map);
  gst_memory_unref (mem);

  guint8 out[6];
  GError *err = NULL;
  fail_unless (gst_spike_events_decode (copy, size, 2, 1, 3, out, &n, NULL));
  fail_unless (memcmp (out, dense, 6) == 0);
  const struct {
    guint steps, planes, neurons;
    gsize size;
    guint offset;
    guint32 value;
    const gchar *needle;
  } cases[] = {
    { 2, 1, 3, 20, 0, 0, "shorter than" },
    { 2, 1, 3, 0, 0, 0x12345678, "magic" },
    { 3, 1, 3, 0, 0, GST_SPIKE_EVENTS_MAGIC, "steps=3" },
    { 2, 1, 3, 0, 8, 9, "announces 9 events" },
    { 2, 1, 2, 0, 0, GST_SPIKE_EVENTS_MAGIC, "address 2" },
    { 2, 1, 3, 0, 32 + 12, GST_SPIKE_EVENT_OFF, "polarity=false" },
    { 2, 1, 3, 0, 32 + 12, 7, "step 7" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    guint8 *bad = g_memdup2 (copy, size);
    guint steps = cases[i].steps;
    if (cases[i].value != GST_SPIKE_EVENTS_MAGIC || cases[i].offset != 0)
      GST_WRITE_UINT32_LE (bad + cases[i].offset, cases[i].value);
    gsize sz = cases[i].size ? cases[i].size : size;
    fail_if (gst_spike_events_decode (bad, sz, steps, cases[i].planes,
                 cases[i].neurons, out, &n, &err),
        "case %u decoded", i);
    fail_unless (strstr (err->message, cases[i].needle) != NULL,
        "case %u: \"%s\" does not mention %s", i, err->message,
        cases[i].needle);
    g_clear_error (&err);
    g_free (bad);
  }
  g_free (copy);
}
GST_END_TEST;

static Suite *
spikeenc_suite (void)
{
  Suite *s = suite_create ("spikeenc");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_dense_tensor);
  tcase_add_test (tc, test_events);
  tcase_add_test (tc, test_audio);
  tcase_add_test (tc, test_video_delta_and_reset);
  tcase_add_test (tc, test_messages_and_population_layout);
  tcase_add_test (tc, test_user_errors);
  tcase_add_test (tc, test_event_codec_errors);
  return s;
}

GST_CHECK_MAIN (spikeenc);
