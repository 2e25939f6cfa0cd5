/* Element tests: neuroexport passes spikes through unchanged, counts the
 * network's work with the engine snninfer uses (or takes snninfer's
 * counts), attaches energy estimates that follow the input rate, writes
 * every export at EOS and at an early stop, records the stream for
 * replay, and refuses bad settings at start with messages naming them. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <physnn/physnn.h>

#include "gstenergymeta.h"
#include "gstsnnmeta.h"
#include "gstspikeevents.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define N_IN 20
#define N_HID 30
#define N_OUT 10
#define STEPS 10

static gchar *tmpdir;

static PhysnnTensor *
filled (gsize n, gdouble v)
{
  gsize shape[1] = { n };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, shape);
  physnn_tensor_fill (t, v);
  return t;
}

/* input(20) -> fc1 -> lif1(30) -> fc2 -> lif2(10, of @last_type) */
static gchar *
write_net (const gchar *name, const gchar *last_type)
{
  const gsize sizes[] = { N_IN, N_HID, N_OUT };
  g_autoptr (PhysnnNirGraph) g = physnn_nir_graph_new ();
  GRand *r = g_rand_new_with_seed (11);
  gsize one = 1;
  gdouble s0 = N_IN, s2 = N_OUT;
  g_autoptr (PhysnnTensor) ishape = physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_INT64, 1, &one, &s0, 1, NULL);
  g_autoptr (PhysnnTensor) oshape = physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_INT64, 1, &one, &s2, 1, NULL);
  physnn_nir_graph_set_param (
      g, physnn_nir_graph_add_node (g, "input", "Input"), "shape", ishape);
  physnn_nir_graph_set_param (
      g, physnn_nir_graph_add_node (g, "output", "Output"), "shape", oshape);
  const gchar *prev = "input";
  const gchar *fcs[] = { "fc1", "fc2" }, *lifs[] = { "lif1", "lif2" };
  for (guint k = 0; k < 2; k++) {
    gsize shape[2] = { sizes[k + 1], sizes[k] };
    gsize n = shape[0] * shape[1];
    g_autofree gdouble *w = g_new (gdouble, n);
    for (gsize i = 0; i < n; i++)
      w[i] = g_rand_double_range (r, -1, 1) * 3 * sqrt (3.0 / sizes[k]);
    g_autoptr (PhysnnTensor) wt = physnn_tensor_new_from_doubles (
        PHYSNN_DTYPE_FLOAT32, 2, shape, w, n, NULL);
    g_autoptr (PhysnnTensor) b = filled (shape[0], 0);
    guint a = physnn_nir_graph_add_node (g, fcs[k], "Affine");
    physnn_nir_graph_set_param (g, a, "weight", wt);
    physnn_nir_graph_set_param (g, a, "bias", b);
    const gchar *type = k == 1 ? last_type : "LIF";
    guint l = physnn_nir_graph_add_node (g, lifs[k], type);
    g_autoptr (PhysnnTensor) tau = filled (shape[0], 0.02);
    g_autoptr (PhysnnTensor) rr = filled (shape[0], 10);
    g_autoptr (PhysnnTensor) zero = filled (shape[0], 0);
    g_autoptr (PhysnnTensor) th = filled (shape[0], 1);
    physnn_nir_graph_set_param (g, l, "tau", tau);
    physnn_nir_graph_set_param (g, l, "r", rr);
    physnn_nir_graph_set_param (g, l, "v_leak", zero);
    if (strcmp (type, "LIF") == 0) {
      physnn_nir_graph_set_param (g, l, "v_threshold", th);
      physnn_nir_graph_set_param (g, l, "v_reset", zero);
    }
    physnn_nir_graph_add_edge (g, prev, fcs[k]);
    physnn_nir_graph_add_edge (g, fcs[k], lifs[k]);
    prev = lifs[k];
  }
  physnn_nir_graph_add_edge (g, prev, "output");
  g_rand_free (r);
  gchar *path = g_build_filename (tmpdir, name, NULL);
  g_autoptr (GError) error = NULL;
  fail_unless (physnn_nir_graph_save (g, path, &error), "%s",
      error ? error->message : "");
  return path;
}

static GstHarness *
harness (GstBus *bus, const gchar *first_prop, ...)
{
  GstElement *e = gst_element_factory_make ("neuroexport", NULL);
  fail_unless (e != NULL);
  va_list ap;
  va_start (ap, first_prop);
  g_object_set_valist (G_OBJECT (e), first_prop, ap);
  va_end (ap);
  if (bus)
    gst_element_set_bus (e, bus);
  GstHarness *h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  return h;
}

static gchar *
message_text (GstBus *bus, GstMessageType type)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, type);
  GError *err = NULL;
  gchar *dbg = NULL;
  if (msg == NULL)
    return NULL;
  if (type == GST_MESSAGE_ERROR)
    gst_message_parse_error (msg, &err, &dbg);
  else
    gst_message_parse_warning (msg, &err, &dbg);
  gchar *text = g_strdup_printf ("%s | %s", err->message, dbg ? dbg : "");
  g_error_free (err);
  g_free (dbg);
  gst_message_unref (msg);
  return text;
}

static void
release (GstHarness *h, GstBus *bus)
{
  gst_harness_teardown (h);
  if (bus) {
    gst_bus_set_flushing (bus, TRUE);
    gst_object_unref (bus);
  }
}

static const gchar *input_caps = "other/tensors, format=static, "
                                 "types=uint8, dimensions=(string)\"20:10\", "
                                 "framerate=(fraction)100/1";

static GstBuffer *
spikes (GRand *r, gdouble p, guint8 *copy)
{
  guint8 d[STEPS * N_IN];
  for (guint i = 0; i < sizeof d; i++)
    d[i] = g_rand_double (r) < p;
  if (copy)
    memcpy (copy, d, sizeof d);
  return gst_buffer_new_memdup (d, sizeof d);
}

static gchar *
out_path (const gchar *base, const gchar *suffix)
{
  g_autofree gchar *b = g_build_filename (tmpdir, base, NULL);
  return g_strconcat (b, suffix, NULL);
}

static const gchar *suffixes[] = { ".nir", ".netx.h5", ".pynn.py",
  ".pynn.py.data.json", ".spikes.json", ".akida.onnx" };

/* Runs @n buffers at rate @p; returns the summed Loihi synaptic joules of
 * the metas and the synops; checks passthrough and counts against the
 * engine. */
static gdouble
run_stream (const gchar *model, const gchar *base, guint n, gdouble p,
    guint64 *synops_out, guint8 *all)
{
  g_autofree gchar *loc = g_build_filename (tmpdir, base, NULL);
  g_autofree gchar *rec = out_path (base, ".aer");
  g_autofree gchar *rep = out_path (base, ".report.json");
  GstBus *bus = gst_bus_new ();
  GstHarness *h = harness (bus, "model", model, "location", loc,
      "record-location", rec, "report-location", rep, "platform",
      PHYSNN_NEURO_PLATFORM_LOIHI, NULL);
  gst_harness_set_src_caps_str (h, input_caps);
  GRand *r = g_rand_new_with_seed (3);
  gdouble joules = 0;
  guint64 synops = 0;
  for (guint i = 0; i < n; i++) {
    guint8 *copy = all + (gsize)i * STEPS * N_IN;
    fail_unless_equals_int (
        gst_harness_push (h, spikes (r, p, copy)), GST_FLOW_OK);
    GstBuffer *out = gst_harness_pull (h);
    GstMapInfo map;
    gst_buffer_map (out, &map, GST_MAP_READ);
    fail_unless (
        map.size == STEPS * N_IN && memcmp (map.data, copy, map.size) == 0);
    gst_buffer_unmap (out, &map);
    GstEnergyMeta *m = gst_buffer_get_energy_meta (out);
    fail_unless (m != NULL);
    fail_unless_equals_uint64 (m->steps, STEPS);
    fail_unless_equals_uint64 (m->neuron_updates, STEPS * (N_HID + N_OUT));
    fail_unless_equals_uint64 (
        m->dense_synops, STEPS * (N_IN * N_HID + N_HID * N_OUT));
    fail_unless (isnan (m->joules[PHYSNN_ENERGY_TARGET_LOIHI2]));
    joules += m->synaptic_joules[PHYSNN_ENERGY_TARGET_LOIHI];
    synops += m->synops;
    gst_buffer_unref (out);
  }
  g_rand_free (r);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  /* the summary names the files */
  GstMessage *msg;
  gboolean summary = FALSE;
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, "neuroexport-summary")) {
      guint64 v;
      fail_unless (gst_structure_get_uint64 (s, "synops", &v));
      fail_unless_equals_uint64 (v, synops);
      fail_unless (strstr (gst_structure_get_string (s, "files"), ".nir"));
      /* fitted to Loihi: both agreements measured, and they are fractions */
      gdouble fa, la;
      fail_unless (gst_structure_get_double (s, "fit-agreement", &fa));
      fail_unless (gst_structure_get_double (s, "loihi-agreement", &la));
      fail_unless (fa > 0.3 && fa <= 1 && la > 0.3 && la <= 1, "%g %g", fa, la);
      summary = TRUE;
    }
    gst_message_unref (msg);
  }
  fail_unless (summary);
  g_autofree gchar *err = message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (err == NULL, "%s", err);
  release (h, bus);
  *synops_out = synops;
  return joules;
}

GST_START_TEST (test_stream_and_exports)
{
  g_autofree gchar *model = write_net ("net.nir", "LIF");
  const guint n = 12;
  g_autofree guint8 *all = g_new (guint8, n * STEPS * N_IN);
  guint64 synops;
  run_stream (model, "a", n, 0.2, &synops, all);

  /* the same input through the engine in one piece: the same counts */
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnSnn) snn = physnn_snn_new_from_file (model, &error);
  fail_unless (snn != NULL);
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", NULL);
  gsize shape[2] = { n * STEPS, N_IN };
  g_autoptr (PhysnnTensor) x =
      physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  gfloat *xp = physnn_tensor_map (x, PHYSNN_MAP_WRITE, NULL);
  for (gsize i = 0; i < n * STEPS * N_IN; i++)
    xp[i] = all[i];
  physnn_tensor_unmap (x);
  g_autoptr (PhysnnTensor) y = physnn_snn_run_new (
      snn, cpu, x, n * STEPS, PHYSNN_SNN_RECORD_OUTPUT, &error);
  fail_unless (y != NULL, "%s", error ? error->message : "");
  fail_unless_equals_uint64 (
      physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_SYNOPS), synops);

  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++) {
    g_autofree gchar *p = out_path ("a", suffixes[i]);
    fail_unless (g_file_test (p, G_FILE_TEST_IS_REGULAR), "%s missing", p);
  }
  /* the record replays the input exactly */
  g_autofree gchar *rec = out_path ("a", ".aer");
  g_autoptr (PhysnnSpikeRecord) r = physnn_spike_record_load (rec, &error);
  fail_unless (r != NULL, "%s", error ? error->message : "");
  g_autoptr (PhysnnTensor) dense = physnn_spike_record_to_dense (r, &error);
  fail_unless_equals_int (physnn_tensor_get_dim (dense, 0), n * STEPS);
  fail_unless (memcmp (physnn_tensor_map (dense, PHYSNN_MAP_READ, NULL), all,
                   n * STEPS * N_IN) == 0);
  physnn_tensor_unmap (dense);
  /* the exported NIR (fitted to Loihi: 8-bit weights) reloads */
  g_autofree gchar *nir = out_path ("a", ".nir");
  g_autoptr (PhysnnNirGraph) back = physnn_nir_graph_load (nir, &error);
  fail_unless (back != NULL, "%s", error ? error->message : "");
  fail_unless_equals_string (
      physnn_nir_graph_get_metadata_string (back, -1, "physnn_platform"),
      "loihi");
  g_autofree gchar *rep = out_path ("a", ".report.json");
  g_autofree gchar *text = NULL;
  fail_unless (g_file_get_contents (rep, &text, NULL, NULL));
  fail_unless (strstr (text, "\"estimate\" : true") != NULL);
  fail_unless (strstr (text, "\"cores\"") != NULL);
}
GST_END_TEST;

/* Twice the input rate, about twice the synaptic energy: the estimate
 * follows measured activity (the hidden layer's activity moves too, so
 * "about"). */
GST_START_TEST (test_energy_follows_rate)
{
  g_autofree gchar *model = write_net ("rate.nir", "LIF");
  g_autofree guint8 *all = g_new (guint8, 20 * STEPS * N_IN);
  guint64 s1, s2;
  gdouble e1 = run_stream (model, "r1", 20, 0.05, &s1, all);
  gdouble e2 = run_stream (model, "r2", 20, 0.10, &s2, all);
  GST_INFO ("synaptic energy %g J at 5 %%, %g J at 10 %% (ratio %.3f)", e1, e2,
      e2 / e1);
  fail_unless (e1 > 0);
  fail_unless (e2 / e1 > 1.6 && e2 / e1 < 2.6, "ratio %g", e2 / e1);
  fail_unless (fabs (e1 - s1 * 23.6e-12) < 1e-9 * e1);
}
GST_END_TEST;

/* A pipeline stopped before EOS still leaves complete exports, with a
 * warning saying so. */
GST_START_TEST (test_early_stop)
{
  g_autofree gchar *model = write_net ("early.nir", "LIF");
  g_autofree gchar *loc = g_build_filename (tmpdir, "early", NULL);
  GstBus *bus = gst_bus_new ();
  GstHarness *h = harness (bus, "model", model, "location", loc, NULL);
  gst_harness_set_src_caps_str (h, input_caps);
  GRand *r = g_rand_new_with_seed (5);
  for (guint i = 0; i < 3; i++) {
    fail_unless_equals_int (
        gst_harness_push (h, spikes (r, 0.2, NULL)), GST_FLOW_OK);
    gst_buffer_unref (gst_harness_pull (h));
  }
  g_rand_free (r);
  gst_element_set_state (h->element, GST_STATE_NULL);
  g_autofree gchar *warn = message_text (bus, GST_MESSAGE_WARNING);
  fail_unless (warn && strstr (warn, "before EOS after 3 buffers"), "%s", warn);
  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++) {
    g_autofree gchar *p = out_path ("early", suffixes[i]);
    fail_unless (g_file_test (p, G_FILE_TEST_IS_REGULAR), "%s missing", p);
  }
  g_autofree gchar *json = out_path ("early", ".spikes.json");
  g_autofree gchar *text = NULL;
  fail_unless (g_file_get_contents (json, &text, NULL, NULL));
  fail_unless (strstr (text, "\"steps\":30,") != NULL);
  release (h, bus);
}
GST_END_TEST;

/* On the network's output, snninfer's counts are used as they are. */
GST_START_TEST (test_output_role)
{
  g_autofree gchar *model = write_net ("out.nir", "LIF");
  GstHarness *h = harness (NULL, "model", model, "formats", 0, NULL);
  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
                                   "types=uint8, dimensions=(string)\"10:10\"");
  guint8 d[100] = { 0 };
  d[3] = 1;
  GstBuffer *b = gst_buffer_new_memdup (d, sizeof d);
  GstSnnMeta *enc = gst_buffer_add_snn_meta (b, "spikeenc");
  enc->synops = 999999;
  GstSnnMeta *m = gst_buffer_add_snn_meta (b, "snninfer");
  m->steps = 10;
  m->synops = 1234;
  m->dense_synops = 9000;
  m->neuron_updates = 400;
  m->spikes = 1;
  fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
  GstBuffer *out = gst_harness_pull (h);
  GstEnergyMeta *e = gst_buffer_get_energy_meta (out);
  fail_unless (e != NULL);
  fail_unless_equals_uint64 (e->synops, 1234);
  fail_unless (fabs (e->synaptic_joules[PHYSNN_ENERGY_TARGET_SPINNAKER2] /
                         (1234 * 450e-12) -
                     1) < 1e-12);
  fail_unless (fabs (e->synaptic_joules[PHYSNN_ENERGY_TARGET_RX580] /
                         (2 * 9000 * 30e-12) -
                     1) < 1e-12);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* The error a pipeline appsrc ! neuroexport ! fakesink posts (GstHarness
 * cannot hold an element whose start fails). */
static gchar *
start_error (const gchar *caps, const gchar *first_prop, ...)
{
  g_autofree gchar *desc = g_strdup_printf (
      "appsrc name=src caps=\"%s\" ! neuroexport name=x ! fakesink",
      caps ? caps
           : "other/tensors, format=static, types=uint8, "
             "dimensions=(string)20:10");
  GstElement *pipe = gst_parse_launch (desc, NULL);
  fail_unless (pipe != NULL);
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipe), "x");
  va_list ap;
  va_start (ap, first_prop);
  g_object_set_valist (G_OBJECT (e), first_prop, ap);
  va_end (ap);
  gst_object_unref (e);
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  GstElement *src = gst_bin_get_by_name (GST_BIN (pipe), "src");
  /* one buffer of the caps' size, then the end */
  GstCaps *c = gst_caps_from_string (caps ? caps
                                          : "other/tensors, format=static, "
                                            "types=uint8, dimensions=20:10");
  GstFlowReturn ret;
  gint w = 0, n = 0;
  const gchar *dims =
      gst_structure_get_string (gst_caps_get_structure (c, 0), "dimensions");
  if (dims)
    sscanf (dims, "%d:%d", &w, &n);
  gst_caps_unref (c);
  GstBuffer *b = gst_buffer_new_allocate (NULL, MAX (w * n, 1), NULL);
  gst_buffer_memset (b, 0, 0, MAX (w * n, 1));
  g_signal_emit_by_name (src, "push-buffer", b, &ret);
  gst_buffer_unref (b);
  g_signal_emit_by_name (src, "end-of-stream", &ret);
  gst_object_unref (src);
  GstBus *bus = gst_element_get_bus (pipe);
  GstMessage *msg = gst_bus_timed_pop_filtered (
      bus, 10 * GST_SECOND, GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  gchar *text = NULL;
  if (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    gchar *dbg = NULL;
    gst_message_parse_error (msg, &err, &dbg);
    text = g_strdup_printf ("%s | %s", err->message, dbg ? dbg : "");
    g_error_free (err);
    g_free (dbg);
  }
  if (msg)
    gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  return text;
}

GST_START_TEST (test_errors)
{
  g_autofree gchar *model = write_net ("errmodel.nir", "LIF");
  g_autofree gchar *li = write_net ("li.nir", "LI");
  g_autofree gchar *nowhere = g_build_filename (tmpdir, "no", "dir", "x", NULL);
  g_autofree gchar *loc = g_build_filename (tmpdir, "err", NULL);

  g_autofree gchar *t1 =
      start_error (NULL, "model", model, "location", nowhere, NULL);
  fail_unless (t1 && strstr (t1, "does not exist"), "%s", t1);
  g_autofree gchar *t2 = start_error (NULL, "location", loc, NULL);
  fail_unless (t2 && strstr (t2, "model"), "%s", t2);
  /* an LI readout cannot go to Loihi: the layer is named */
  g_autofree gchar *t3 = start_error (NULL, "model", li, "location", loc,
      "platform", PHYSNN_NEURO_PLATFORM_LOIHI, NULL);
  fail_unless (t3 && strstr (t3, "\"lif2\" (LI)"), "%s", t3);
  /* …and neither can the default formats, which include lava-netx */
  g_autofree gchar *t4 = start_error (NULL, "model", li, "location", loc, NULL);
  fail_unless (t4 && strstr (t4, "loihi"), "%s", t4);
  g_autofree gchar *t5 =
      start_error (NULL, "model", "/nonexistent.nir", "location", loc, NULL);
  fail_unless (t5 && strstr (t5, "/nonexistent.nir"), "%s", t5);
  /* a stream that is neither the network's input nor its output */
  g_autofree gchar *t6 = start_error ("other/tensors, format=static, "
                                      "types=uint8, dimensions=(string)"
                                      "21:10",
      "model", model, "location", loc, NULL);
  fail_unless (t6 && strstr (t6, "21 neurons"), "%s", t6);
  /* nothing was written by any of them */
  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++) {
    g_autofree gchar *p = out_path ("err", suffixes[i]);
    fail_if (g_file_test (p, G_FILE_TEST_EXISTS), "%s written", p);
  }
}
GST_END_TEST;

/* Address events in, the same events out, and the same counts as the
 * dense form of the same spikes. */
GST_START_TEST (test_spike_events)
{
  g_autofree gchar *model = write_net ("ev.nir", "LIF");
  guint64 synops[2];
  GRand *r = g_rand_new_with_seed (21);
  guint8 d[STEPS * N_IN];
  gst_buffer_unref (spikes (r, 0.3, d));
  g_rand_free (r);
  for (guint k = 0; k < 2; k++) {
    GstHarness *h = harness (NULL, "model", model, "formats", 0, NULL);
    GstBuffer *in;
    if (k == 0) {
      gst_harness_set_src_caps_str (h, input_caps);
      in = gst_buffer_new_memdup (d, sizeof d);
    } else {
      gst_harness_set_src_caps_str (h,
          "application/x-spike-events, neurons=(int)20, steps=(int)10, "
          "polarity=(boolean)false, framerate=(fraction)100/1");
      guint64 n;
      in = gst_buffer_new ();
      gst_buffer_append_memory (in,
          gst_spike_events_encode (d, STEPS, 1, N_IN, 0, GST_SECOND / 100, &n));
      GST_BUFFER_PTS (in) = 0;
      GST_BUFFER_DURATION (in) = GST_SECOND / 100;
    }
    GstMapInfo im;
    gst_buffer_map (in, &im, GST_MAP_READ);
    GBytes *sent = g_bytes_new (im.data, im.size);
    gst_buffer_unmap (in, &im);
    fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
    GstBuffer *out = gst_harness_pull (h);
    GstMapInfo om;
    gst_buffer_map (out, &om, GST_MAP_READ);
    gsize n_sent;
    const guint8 *ps = g_bytes_get_data (sent, &n_sent);
    gsize first = 0;
    while (first < MIN (om.size, n_sent) && om.data[first] == ps[first])
      first++;
    fail_unless (om.size == n_sent && first == n_sent,
        "form %u: output (%" G_GSIZE_FORMAT
        " bytes) differs from input (%" G_GSIZE_FORMAT
        ") from byte %" G_GSIZE_FORMAT,
        k, om.size, n_sent, first);
    gst_buffer_unmap (out, &om);
    g_bytes_unref (sent);
    GstEnergyMeta *m = gst_buffer_get_energy_meta (out);
    fail_unless (m != NULL);
    synops[k] = m->synops;
    gst_buffer_unref (out);
    gst_harness_teardown (h);
  }
  fail_unless (synops[0] > 0);
  fail_unless_equals_uint64 (synops[0], synops[1]);
}
GST_END_TEST;

/* neuroexport on the network's input (it runs the network) and after
 * snninfer (it reads snninfer's GstSnnMeta) counts the same work. */
GST_START_TEST (test_both_sides_of_snninfer)
{
  g_autofree gchar *model = write_net ("both.nir", "LIF");
  g_autofree gchar *desc = g_strdup_printf (
      "appsrc name=src format=time caps=\"other/tensors, format=static, "
      "types=uint8, dimensions=(string)20:10, framerate=100/1\" "
      "! neuroexport name=before model=%s formats=0 "
      "! snninfer model=%s output=spikes device=cpu "
      "! neuroexport name=after model=%s formats=0 ! fakesink",
      model, model, model);
  GError *err = NULL;
  GstElement *pipe = gst_parse_launch (desc, &err);
  if (pipe == NULL && err &&
      g_error_matches (err, GST_PARSE_ERROR, GST_PARSE_ERROR_NO_SUCH_ELEMENT)) {
    g_printerr ("SKIP part: %s\n", err->message); /* no snninfer built */
    g_error_free (err);
    return;
  }
  fail_unless (pipe != NULL, "%s", err ? err->message : "");
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  GstElement *src = gst_bin_get_by_name (GST_BIN (pipe), "src");
  GRand *r = g_rand_new_with_seed (9);
  GstFlowReturn ret;
  for (guint i = 0; i < 15; i++) {
    GstBuffer *b = spikes (r, 0.2, NULL);
    GST_BUFFER_PTS (b) = i * GST_SECOND / 100;
    GST_BUFFER_DURATION (b) = GST_SECOND / 100;
    g_signal_emit_by_name (src, "push-buffer", b, &ret);
    gst_buffer_unref (b);
  }
  g_rand_free (r);
  g_signal_emit_by_name (src, "end-of-stream", &ret);
  gst_object_unref (src);
  GstBus *bus = gst_element_get_bus (pipe);
  guint64 synops[2] = { 0, 0 }, updates[2] = { 0, 0 };
  gboolean eos = FALSE;
  while (!eos) {
    GstMessage *m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
        GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
    fail_unless (m != NULL);
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
      GError *e = NULL;
      gst_message_parse_error (m, &e, NULL);
      fail ("%s", e->message);
    }
    eos = GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS;
    const GstStructure *s = gst_message_get_structure (m);
    if (s && gst_structure_has_name (s, "neuroexport-summary")) {
      guint k = strcmp (GST_OBJECT_NAME (GST_MESSAGE_SRC (m)), "after") == 0;
      gst_structure_get_uint64 (s, "synops", &synops[k]);
      gst_structure_get_uint64 (s, "neuron-updates", &updates[k]);
    }
    gst_message_unref (m);
  }
  gst_object_unref (bus);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  fail_unless (synops[0] > 1000, "%" G_GUINT64_FORMAT, synops[0]);
  fail_unless_equals_uint64 (synops[0], synops[1]);
  fail_unless_equals_uint64 (updates[0], 150 * (N_HID + N_OUT));
  fail_unless_equals_uint64 (updates[0], updates[1]);
}
GST_END_TEST;

static void
rm_rf (const gchar *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *e;
  while (d && (e = g_dir_read_name (d))) {
    g_autofree gchar *p = g_build_filename (dir, e, NULL);
    if (g_file_test (p, G_FILE_TEST_IS_DIR))
      rm_rf (p);
    else
      g_unlink (p);
  }
  if (d)
    g_dir_close (d);
  g_rmdir (dir);
}

static void
setup (void)
{
  tmpdir = g_dir_make_tmp ("physnn-neuroexport-XXXXXX", NULL);
}

static void
teardown (void)
{
  rm_rf (tmpdir);
  g_clear_pointer (&tmpdir, g_free);
}

static Suite *
neuroexport_suite (void)
{
  Suite *s = suite_create ("neuroexport");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 300);
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_stream_and_exports);
  tcase_add_test (tc, test_energy_follows_rate);
  tcase_add_test (tc, test_early_stop);
  tcase_add_test (tc, test_output_role);
  tcase_add_test (tc, test_spike_events);
  tcase_add_test (tc, test_both_sides_of_snninfer);
  tcase_add_test (tc, test_errors);
  return s;
}

GST_CHECK_MAIN (neuroexport);
