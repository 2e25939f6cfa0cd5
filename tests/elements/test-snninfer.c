/* Element tests: snninfer. Its output is the engine's, buffer after buffer
 * (state carried across buffers, reset by a discontinuity and a flush), on
 * the C path and the auto device; spikes as address events; rates and
 * membrane outputs; the meta's counts; steps-per-sample; the learned
 * network saved at EOS; and the errors a user meets: a malformed or
 * missing NIR file, an input that does not fit the network, NaN samples,
 * homeostasis parameters out of range. The dynamics themselves are checked
 * against Brian2 in tests/crosscheck/snn_vs_brian2.py. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <physnn/physnn.h>

#include "gstsnnmeta.h"
#include "gstspikeevents.h"

#include <glib/gstdio.h>
#include <math.h>
#include <unistd.h>
#include <string.h>

#define N_IN 12
#define N_OUT 7
#define STEPS 25

static gchar *tmpdir;
static gchar *model_path;

static void
set (PhysnnNirGraph *g, guint node, const gchar *name, PhysnnTensor *t)
{
  physnn_nir_graph_set_param (g, node, name, t);
  g_object_unref (t);
}

static PhysnnTensor *
vec (gsize n, gdouble v)
{
  gsize shape[1] = { n };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, shape);
  physnn_tensor_fill (t, v);
  return t;
}

static PhysnnTensor *
shape_param (gsize n)
{
  gsize shape[1] = { 1 };
  gdouble d = (gdouble)n;
  return physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_INT64, 1, shape, &d, 1, NULL);
}

/* input [12] -> affine -> LIF [7] -> output, weights from a fixed LCG */
static void
write_model (void)
{
  g_autoptr (PhysnnNirGraph) g = physnn_nir_graph_new ();
  guint i = physnn_nir_graph_add_node (g, "input", "Input");
  set (g, i, "shape", shape_param (N_IN));
  i = physnn_nir_graph_add_node (g, "fc", "Affine");
  gsize wshape[2] = { N_OUT, N_IN };
  PhysnnTensor *w = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, wshape);
  gfloat *p = physnn_tensor_map (w, PHYSNN_MAP_WRITE, NULL);
  guint32 s = 12345;
  for (guint k = 0; k < N_OUT * N_IN; k++) {
    s = s * 1664525u + 1013904223u;
    p[k] = (gfloat)((s >> 8) / 16777216.0) * 0.5f;
  }
  physnn_tensor_unmap (w);
  set (g, i, "weight", w);
  set (g, i, "bias", vec (N_OUT, 0.05));
  i = physnn_nir_graph_add_node (g, "lif", "LIF");
  set (g, i, "tau", vec (N_OUT, 0.01));
  set (g, i, "r", vec (N_OUT, 4.0));
  set (g, i, "v_leak", vec (N_OUT, 0.0));
  set (g, i, "v_threshold", vec (N_OUT, 1.0));
  set (g, i, "v_reset", vec (N_OUT, 0.0));
  i = physnn_nir_graph_add_node (g, "output", "Output");
  set (g, i, "shape", shape_param (N_OUT));
  physnn_nir_graph_add_edge (g, "input", "fc");
  physnn_nir_graph_add_edge (g, "fc", "lif");
  physnn_nir_graph_add_edge (g, "lif", "output");
  g_autoptr (GError) err = NULL;
  model_path = g_build_filename (tmpdir, "net.nir", NULL);
  if (!physnn_nir_graph_save (g, model_path, &err))
    g_error ("cannot write the test model: %s", err->message);
}

static GstElement *
make (const gchar *first_prop, ...)
{
  GstElement *e = gst_element_factory_make ("snninfer", NULL);
  g_object_set (e, "model", model_path, NULL);
  if (first_prop) {
    va_list ap;
    va_start (ap, first_prop);
    g_object_set_valist (G_OBJECT (e), first_prop, ap);
    va_end (ap);
  }
  return e;
}

static GstHarness *
harness (GstElement *e)
{
  GstHarness *h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  return h;
}

static GstBus *
attach_bus (GstElement *e)
{
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  return bus;
}

static void
detach_bus (GstElement *e, GstBus *bus)
{
  gst_bus_set_flushing (bus, TRUE);
  gst_element_set_bus (e, NULL);
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

#define SPIKE_CAPS                                                             \
  "other/tensors, format=static, types=uint8, "                                \
  "dimensions=(string)\"12:25\", framerate=40/1"

/* Deterministic input spikes, about 20 % activity. */
static void
fill_spikes (guint8 *x, guint n, guint seed)
{
  guint32 s = seed * 2654435761u + 1;
  for (guint i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    x[i] = (s >> 24) < 52;
  }
}

static GstBuffer *
spike_buffer (const guint8 *x, GstClockTime pts, GstClockTime dur)
{
  GstBuffer *b = gst_buffer_new_memdup (x, STEPS * N_IN);
  GST_BUFFER_PTS (b) = pts;
  GST_BUFFER_DURATION (b) = dur;
  return b;
}

/* The engine on the C path with the same model, fed buffer by buffer. */
static PhysnnSnn *
reference (void)
{
  g_autoptr (GError) err = NULL;
  PhysnnSnn *snn = physnn_snn_new_from_file (model_path, &err);
  fail_unless (snn != NULL, "%s", err ? err->message : "");
  return snn;
}

static PhysnnTensor *
run_ref (PhysnnSnn *snn, const guint8 *x, guint steps, PhysnnSnnRecord rec)
{
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", NULL);
  gsize shape[2] = { steps, N_IN };
  g_autoptr (PhysnnTensor) in =
      physnn_tensor_new (PHYSNN_DTYPE_UINT8, 2, shape);
  memcpy (physnn_tensor_map (in, PHYSNN_MAP_WRITE, NULL), x, steps * N_IN);
  physnn_tensor_unmap (in);
  g_autoptr (GError) err = NULL;
  PhysnnTensor *y = physnn_snn_run_new (snn, cpu, in, steps, rec, &err);
  fail_unless (y != NULL, "%s", err ? err->message : "");
  return y;
}

static gchar *
caps_field (GstHarness *h, const gchar *field)
{
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  gchar *v = gst_value_serialize (gst_structure_get_value (s, field));
  gst_caps_unref (caps);
  return v;
}

/* Spikes out, buffer after buffer, equal to the engine's; the meta counts
 * the input spikes, output spikes and the synaptic operations (one per
 * input spike and target); a DISCONT buffer starts again. */
GST_START_TEST (test_spikes_follow_engine)
{
  const gchar *devices[] = { "cpu", "auto" };
  for (guint d = 0; d < 2; d++) {
    GstHarness *h = harness (make ("device", devices[d], NULL));
    gst_harness_set_src_caps_str (h, SPIKE_CAPS);
    g_autoptr (PhysnnSnn) ref = reference ();
    guint8 first[STEPS * N_IN];
    guint64 total_spikes = 0;
    for (guint b = 0; b < 4; b++) {
      guint8 x[STEPS * N_IN];
      fill_spikes (x, STEPS * N_IN, b);
      if (b == 0)
        memcpy (first, x, sizeof x);
      GstBuffer *in = spike_buffer (x, b * GST_SECOND / 40, GST_SECOND / 40);
      if (b == 3) {
        /* a discontinuity: the network starts afresh */
        GST_BUFFER_FLAG_SET (in, GST_BUFFER_FLAG_DISCONT);
        memcpy (x, first, sizeof x);
        gst_buffer_fill (in, 0, x, sizeof x);
        physnn_snn_reset (ref);
      }
      GstBuffer *out = gst_harness_push_and_pull (h, in);
      g_autoptr (PhysnnTensor) want =
          run_ref (ref, x, STEPS, PHYSNN_SNN_RECORD_OUTPUT);
      const gfloat *w = physnn_tensor_map (want, PHYSNN_MAP_READ, NULL);
      GstMapInfo map;
      fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
      fail_unless_equals_int (map.size, STEPS * N_OUT);
      guint64 spikes = 0, in_spikes = 0;
      for (guint k = 0; k < STEPS * N_OUT; k++) {
        fail_unless_equals_int (map.data[k], w[k] != 0.0f);
        spikes += map.data[k];
      }
      for (guint k = 0; k < STEPS * N_IN; k++)
        in_spikes += x[k];
      gst_buffer_unmap (out, &map);
      physnn_tensor_unmap (want);
      total_spikes += spikes;
      GstSnnMeta *meta = gst_buffer_get_snn_meta (out);
      fail_unless (meta != NULL);
      fail_unless_equals_uint64 (meta->steps, STEPS);
      fail_unless_equals_uint64 (meta->neurons, N_OUT);
      fail_unless_equals_uint64 (meta->spikes, spikes);
      fail_unless_equals_uint64 (meta->input_spikes, in_spikes);
      fail_unless_equals_uint64 (meta->synops, in_spikes * N_OUT);
      fail_unless_equals_uint64 (meta->dense_synops, STEPS * N_IN * N_OUT);
      fail_unless_equals_uint64 (meta->neuron_updates, STEPS * N_OUT);
      fail_unless_equals_uint64 (GST_BUFFER_PTS (out), b * GST_SECOND / 40);
      gst_buffer_unref (out);
    }
    fail_unless (total_spikes > 10 && total_spikes < 4 * STEPS * N_OUT / 2,
        "%" G_GUINT64_FORMAT " spikes: the test network should be active "
        "but not saturated",
        total_spikes);
    g_autofree gchar *dims = caps_field (h, "dimensions");
    fail_unless_equals_string (dims, "7:25");
    gst_harness_teardown (h);
  }
}
GST_END_TEST;

/* A flush starts a new simulation too. */
GST_START_TEST (test_flush_resets)
{
  GstHarness *h = harness (make (NULL));
  gst_harness_set_src_caps_str (h, SPIKE_CAPS);
  guint8 x[STEPS * N_IN];
  fill_spikes (x, sizeof x, 7);
  GstBuffer *a = gst_harness_push_and_pull (h, spike_buffer (x, 0, 1000));
  GstBuffer *b = gst_harness_push_and_pull (h, spike_buffer (x, 1000, 1000));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_harness_set_src_caps_str (h, SPIKE_CAPS);
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  gst_harness_push_event (h, gst_event_new_segment (&seg));
  GstBuffer *c = gst_harness_push_and_pull (h, spike_buffer (x, 0, 1000));
  GstMapInfo ma, mb, mc;
  gst_buffer_map (a, &ma, GST_MAP_READ);
  gst_buffer_map (b, &mb, GST_MAP_READ);
  gst_buffer_map (c, &mc, GST_MAP_READ);
  /* the second buffer starts from the first's state: it differs */
  fail_unless (memcmp (ma.data, mb.data, ma.size) != 0);
  fail_unless (memcmp (ma.data, mc.data, ma.size) == 0);
  gst_buffer_unmap (a, &ma);
  gst_buffer_unmap (b, &mb);
  gst_buffer_unmap (c, &mc);
  gst_buffer_unref (a);
  gst_buffer_unref (b);
  gst_buffer_unref (c);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Spikes as address events, in and out. */
GST_START_TEST (test_events)
{
  GstHarness *h = harness (make (NULL));
  gst_harness_set_src_caps_str (h,
      GST_SPIKE_EVENTS_MEDIA_TYPE ", neurons=(int)12, steps=(int)25, "
                                  "polarity=(boolean)false, framerate=40/1");
  gst_harness_set_sink_caps_str (h, GST_SPIKE_EVENTS_MEDIA_TYPE);
  g_autoptr (PhysnnSnn) ref = reference ();
  for (guint b = 0; b < 3; b++) {
    guint8 x[STEPS * N_IN];
    fill_spikes (x, sizeof x, 20 + b);
    guint64 n_in = 0;
    GstMemory *m = gst_spike_events_encode (
        x, STEPS, 1, N_IN, b * GST_SECOND / 40, GST_SECOND / 40, &n_in);
    GstBuffer *in = gst_buffer_new ();
    gst_buffer_append_memory (in, m);
    GST_BUFFER_PTS (in) = b * GST_SECOND / 40;
    GST_BUFFER_DURATION (in) = GST_SECOND / 40;
    GstBuffer *out = gst_harness_push_and_pull (h, in);
    g_autoptr (PhysnnTensor) want =
        run_ref (ref, x, STEPS, PHYSNN_SNN_RECORD_OUTPUT);
    const gfloat *w = physnn_tensor_map (want, PHYSNN_MAP_READ, NULL);
    GstMapInfo map;
    fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
    guint8 dense[STEPS * N_OUT];
    guint64 n = 0;
    GError *err = NULL;
    fail_unless (gst_spike_events_decode (
        map.data, map.size, STEPS, 1, N_OUT, dense, &n, &err));
    for (guint k = 0; k < STEPS * N_OUT; k++)
      fail_unless_equals_int (dense[k], w[k] != 0.0f);
    fail_unless_equals_uint64 (
        GST_READ_UINT64_LE (map.data + 16), b * GST_SECOND / 40);
    gst_buffer_unmap (out, &map);
    physnn_tensor_unmap (want);
    gst_buffer_unref (out);
  }
  g_autofree gchar *neurons = caps_field (h, "neurons");
  fail_unless_equals_string (neurons, "7");
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Rates in Hz over each buffer; membrane potentials; steps-per-sample
 * holds a float current for several steps. */
GST_START_TEST (test_rates_membrane_hold)
{
  GstHarness *h = harness (make ("output", 4 /* rates */, "dt", 0.002, NULL));
  gst_harness_set_src_caps_str (h, SPIKE_CAPS);
  g_autoptr (PhysnnSnn) ref = reference ();
  g_object_set (ref, "dt", 0.002, NULL);
  guint8 x[STEPS * N_IN];
  fill_spikes (x, sizeof x, 3);
  GstBuffer *out = gst_harness_push_and_pull (h, spike_buffer (x, 0, 1000));
  g_autoptr (PhysnnTensor) want =
      run_ref (ref, x, STEPS, PHYSNN_SNN_RECORD_OUTPUT);
  const gfloat *w = physnn_tensor_map (want, PHYSNN_MAP_READ, NULL);
  gfloat rates[N_OUT];
  fail_unless_equals_int (gst_buffer_get_size (out), sizeof rates);
  gst_buffer_extract (out, 0, rates, sizeof rates);
  for (guint j = 0; j < N_OUT; j++) {
    guint c = 0;
    for (guint t = 0; t < STEPS; t++)
      c += w[t * N_OUT + j] != 0.0f;
    fail_unless (fabs (rates[j] - c / (STEPS * 0.002)) < 1e-3);
  }
  physnn_tensor_unmap (want);
  gst_buffer_unref (out);
  gst_harness_teardown (h);

  /* a float current held for 10 steps */
  h = harness (make ("output", 3 /* membrane */, "steps-per-sample", 10, NULL));
  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
                                   "types=float32, dimensions=(string)\"12\"");
  g_autoptr (PhysnnSnn) ref2 = reference ();
  gfloat cur[N_IN];
  for (guint i = 0; i < N_IN; i++)
    cur[i] = 0.05f * i;
  GstBuffer *in = gst_buffer_new_memdup (cur, sizeof cur);
  out = gst_harness_push_and_pull (h, in);
  gsize shape[2] = { 10, N_IN };
  g_autoptr (PhysnnTensor) held =
      physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  gfloat *p = physnn_tensor_map (held, PHYSNN_MAP_WRITE, NULL);
  for (guint t = 0; t < 10; t++)
    memcpy (p + t * N_IN, cur, sizeof cur);
  physnn_tensor_unmap (held);
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", NULL);
  g_autoptr (PhysnnTensor) v = physnn_snn_run_new (
      ref2, cpu, held, 10, PHYSNN_SNN_RECORD_MEMBRANE, NULL);
  fail_unless_equals_int (gst_buffer_get_size (out), 10 * N_OUT * 4);
  fail_unless (
      gst_buffer_memcmp (out, 0, physnn_tensor_map (v, PHYSNN_MAP_READ, NULL),
          10 * N_OUT * 4) == 0);
  physnn_tensor_unmap (v);
  gst_buffer_unref (out);
  g_autofree gchar *dims = caps_field (h, "dimensions");
  fail_unless_equals_string (dims, "7:10");
  gst_harness_teardown (h);
}
GST_END_TEST;

/* STDP changes the weights; at EOS they are written to save-location and
 * read back into a network that has them. */
GST_START_TEST (test_save_learned)
{
  g_autofree gchar *out_path = g_build_filename (tmpdir, "learned.nir", NULL);
  GstHarness *h = harness (make ("stdp", TRUE, "save-location", out_path,
      "intrinsic", TRUE, "homeostasis-interval", 0.01, NULL));
  gst_harness_set_src_caps_str (h, SPIKE_CAPS);
  for (guint b = 0; b < 4; b++) {
    guint8 x[STEPS * N_IN];
    fill_spikes (x, sizeof x, 40 + b);
    GstBuffer *out = gst_harness_push_and_pull (h, spike_buffer (x, 0, 1000));
    GstSnnMeta *meta = gst_buffer_get_snn_meta (out);
    fail_unless (meta->plastic_updates > 0);
    gst_buffer_unref (out);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless (g_file_test (out_path, G_FILE_TEST_EXISTS));
  g_autoptr (GError) err = NULL;
  g_autoptr (PhysnnSnn) learned = physnn_snn_new_from_file (out_path, &err);
  fail_unless (learned != NULL, "%s", err ? err->message : "");
  g_autoptr (PhysnnSnn) orig = reference ();
  g_autoptr (PhysnnTensor) w1 = physnn_snn_get_weights (learned, "fc", NULL);
  g_autoptr (PhysnnTensor) w0 = physnn_snn_get_weights (orig, "fc", NULL);
  fail_unless (w1 && w0);
  const gfloat *a = physnn_tensor_map (w0, PHYSNN_MAP_READ, NULL);
  const gfloat *b = physnn_tensor_map (w1, PHYSNN_MAP_READ, NULL);
  guint changed = 0;
  for (guint k = 0; k < N_IN * N_OUT; k++)
    changed += a[k] != b[k];
  physnn_tensor_unmap (w0);
  physnn_tensor_unmap (w1);
  fail_unless (changed > N_IN * N_OUT / 4, "%u weights changed", changed);
  g_autoptr (PhysnnTensor) th =
      physnn_snn_get_thresholds (learned, "lif", NULL);
  fail_unless (th != NULL);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Audio: channels are inputs, frames-per-tensor frames are steps; gray
 * video: pixels are inputs (as their integer values), a frame is a step. */
GST_START_TEST (test_media)
{
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", NULL);
  GstHarness *h = harness (make ("frames-per-tensor", 25, NULL));
  gst_harness_set_src_caps_str (h,
      "audio/x-raw, format=F32LE, "
      "layout=interleaved, rate=1000, channels=12");
  g_autoptr (PhysnnSnn) ref = reference ();
  for (guint b = 0; b < 2; b++) {
    gfloat a[STEPS * N_IN];
    guint8 sp[STEPS * N_IN];
    fill_spikes (sp, sizeof sp, 60 + b);
    for (guint k = 0; k < STEPS * N_IN; k++)
      a[k] = sp[k] * 0.8f;
    GstBuffer *in = gst_buffer_new_memdup (a, sizeof a);
    GST_BUFFER_PTS (in) = b * 25 * GST_MSECOND;
    GST_BUFFER_DURATION (in) = 25 * GST_MSECOND;
    GstBuffer *out = gst_harness_push_and_pull (h, in);
    gsize shape[2] = { STEPS, N_IN };
    g_autoptr (PhysnnTensor) x =
        physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
    memcpy (physnn_tensor_map (x, PHYSNN_MAP_WRITE, NULL), a, sizeof a);
    physnn_tensor_unmap (x);
    g_autoptr (PhysnnTensor) want =
        physnn_snn_run_new (ref, cpu, x, STEPS, PHYSNN_SNN_RECORD_OUTPUT, NULL);
    const gfloat *w = physnn_tensor_map (want, PHYSNN_MAP_READ, NULL);
    GstMapInfo map;
    fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
    fail_unless_equals_int (map.size, STEPS * N_OUT);
    for (guint k = 0; k < STEPS * N_OUT; k++)
      fail_unless_equals_int (map.data[k], w[k] != 0.0f);
    gst_buffer_unmap (out, &map);
    physnn_tensor_unmap (want);
    gst_buffer_unref (out);
  }
  gst_harness_teardown (h);

  /* a 4x3 GRAY8 frame of 0/1 pixels: one step */
  h = harness (make ("output", 2 /* values */, NULL));
  gst_harness_set_src_caps_str (h, "video/x-raw, format=GRAY8, width=4, "
                                   "height=3, framerate=30/1");
  g_autoptr (PhysnnSnn) ref2 = reference ();
  guint8 frame[N_IN] = { 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0 };
  GstBuffer *out = gst_harness_push_and_pull (
      h, gst_buffer_new_memdup (frame, sizeof frame));
  gsize shape[2] = { 1, N_IN };
  g_autoptr (PhysnnTensor) x = physnn_tensor_new (PHYSNN_DTYPE_UINT8, 2, shape);
  memcpy (physnn_tensor_map (x, PHYSNN_MAP_WRITE, NULL), frame, N_IN);
  physnn_tensor_unmap (x);
  g_autoptr (PhysnnTensor) want =
      physnn_snn_run_new (ref2, cpu, x, 1, PHYSNN_SNN_RECORD_OUTPUT, NULL);
  fail_unless_equals_int (gst_buffer_get_size (out), N_OUT * 4);
  fail_unless (
      gst_buffer_memcmp (out, 0,
          physnn_tensor_map (want, PHYSNN_MAP_READ, NULL), N_OUT * 4) == 0);
  physnn_tensor_unmap (want);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Sets up an element without a harness and returns the error posted. */
static gchar *
start_error (GstElement *e, const gchar *caps)
{
  GstBus *bus = attach_bus (e);
  gchar *text = NULL;
  if (caps == NULL) {
    fail_unless (gst_element_set_state (e, GST_STATE_PAUSED) ==
                 GST_STATE_CHANGE_FAILURE);
    text = error_text (bus);
  }
  detach_bus (e, bus);
  gst_element_set_state (e, GST_STATE_NULL);
  return text;
}

GST_START_TEST (test_user_errors)
{
  /* no model, a missing file, a file that is not NIR, a truncated one */
  GstElement *e = gst_element_factory_make ("snninfer", NULL);
  g_autofree gchar *t1 = start_error (e, NULL);
  fail_unless (t1 && strstr (t1, "model"), "%s", t1);
  gst_object_unref (e);

  e = make ("model", "/nonexistent/net.nir", NULL);
  g_autofree gchar *t2 = start_error (e, NULL);
  fail_unless (t2 && strstr (t2, "/nonexistent/net.nir"), "%s", t2);
  gst_object_unref (e);

  g_autofree gchar *junk = g_build_filename (tmpdir, "junk.nir", NULL);
  fail_unless (g_file_set_contents (junk, "not a NIR file", -1, NULL));
  e = make ("model", junk, NULL);
  g_autofree gchar *t3 = start_error (e, NULL);
  fail_unless (t3 && strstr (t3, "HDF5"), "%s", t3);
  gst_object_unref (e);

  gchar *data;
  gsize len;
  fail_unless (g_file_get_contents (model_path, &data, &len, NULL));
  g_autofree gchar *cut = g_build_filename (tmpdir, "cut.nir", NULL);
  fail_unless (g_file_set_contents (cut, data, len / 2, NULL));
  g_free (data);
  e = make ("model", cut, NULL);
  g_autofree gchar *t4 = start_error (e, NULL);
  fail_unless (t4 && strstr (t4, "cut.nir"), "%s", t4);
  gst_object_unref (e);

  /* homeostasis parameters out of range */
  e = make ("scaling", TRUE, "scaling-alpha", 1.5, NULL);
  g_autofree gchar *t5 = start_error (e, NULL);
  fail_unless (t5 && strstr (t5, "scaling-alpha"), "%s", t5);
  gst_object_unref (e);
  e = make ("intrinsic", TRUE, "ip-min-factor", 0.0, NULL);
  g_autofree gchar *t6 = start_error (e, NULL);
  fail_unless (t6 && strstr (t6, "ip-min-factor"), "%s", t6);
  gst_object_unref (e);
  e = make ("sleep", TRUE, "sleep-downscale", 2.0, NULL);
  g_autofree gchar *t7 = start_error (e, NULL);
  fail_unless (t7 && strstr (t7, "sleep-downscale"), "%s", t7);
  gst_object_unref (e);

  /* an input that does not fit the network */
  GstHarness *h = harness (make (NULL));
  GstBus *bus = attach_bus (h->element);
  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
                                   "types=uint8, dimensions=(string)\"10:25\"");
  guint8 x[250] = { 0 };
  fail_if (gst_harness_push (h, gst_buffer_new_memdup (x, 250)) == GST_FLOW_OK);
  g_autofree gchar *t8 = error_text (bus);
  fail_unless (t8 && strstr (t8, "takes 12 values per step"), "%s", t8);
  detach_bus (h->element, bus);
  gst_harness_teardown (h);

  /* NaN currents */
  h = harness (make (NULL));
  bus = attach_bus (h->element);
  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
                                   "types=float32, dimensions=(string)\"12\"");
  gfloat cur[N_IN] = { 0 };
  cur[3] = NAN;
  fail_unless_equals_int (
      gst_harness_push (h, gst_buffer_new_memdup (cur, sizeof cur)),
      GST_FLOW_ERROR);
  g_autofree gchar *t9 = error_text (bus);
  fail_unless (t9 && strstr (t9, "NaN"), "%s", t9);
  detach_bus (h->element, bus);
  gst_harness_teardown (h);

  /* a parameter set out of range while playing stops the stream */
  h = harness (make (NULL));
  bus = attach_bus (h->element);
  gst_harness_set_src_caps_str (h, SPIKE_CAPS);
  guint8 y[STEPS * N_IN] = { 0 };
  GstBuffer *ok = gst_harness_push_and_pull (h, spike_buffer (y, 0, 1000));
  gst_buffer_unref (ok);
  g_object_set (h->element, "stdp", TRUE, "stdp-w-max", -1.0, NULL);
  fail_unless_equals_int (
      gst_harness_push (h, spike_buffer (y, 1000, 1000)), GST_FLOW_ERROR);
  g_autofree gchar *t10 = error_text (bus);
  fail_unless (t10 && strstr (t10, "stdp-w-max"), "%s", t10);
  detach_bus (h->element, bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

static GPid main_pid;

/* at exit of the main process only (check forks a child per test) */
static void
cleanup (void)
{
  if (getpid () != main_pid)
    return;
  const gchar *names[] = { "net.nir", "learned.nir", "junk.nir", "cut.nir" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    g_autofree gchar *p = g_build_filename (tmpdir, names[i], NULL);
    g_unlink (p);
  }
  g_rmdir (tmpdir);
  g_free (tmpdir);
  g_free (model_path);
}

static Suite *
snninfer_suite (void)
{
  Suite *s = suite_create ("snninfer");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 300);
  tmpdir = g_dir_make_tmp ("physnn-snninfer-XXXXXX", NULL);
  write_model ();
  main_pid = getpid ();
  atexit (cleanup);
  tcase_add_test (tc, test_spikes_follow_engine);
  tcase_add_test (tc, test_flush_resets);
  tcase_add_test (tc, test_events);
  tcase_add_test (tc, test_rates_membrane_hold);
  tcase_add_test (tc, test_save_learned);
  tcase_add_test (tc, test_media);
  tcase_add_test (tc, test_user_errors);
  return s;
}

GST_CHECK_MAIN (snninfer);
