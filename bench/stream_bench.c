/* physnn — streaming benchmark: a live source at a fixed rate through a
 * physnn pipeline into a synchronising sink. Reports buffers produced and
 * received, buffers dropped (QoS), how late buffers reach the sink against
 * the clock, and per-element processing latency from GStreamer's own
 * latency tracer (GST_TRACERS=latency(flags=element)).
 *
 *   stream-bench [--seconds 5] [--rate 1000] PIPELINE-WITHOUT-SOURCE-AND-SINK
 *   stream-bench "pinninfer model=builtin:heat1d-pinn grid=x=0:1:256"
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/gst.h>
#include <gst/base/gstbasesink.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  guint64 received;
  GstClockTime max_late, sum_late;
  GArray *elem_lat;             /* element latency samples, ns */
  GString *elem_name;
} Stats;

static Stats stats;

static void
on_handoff (GstElement *sink, GstBuffer *buf, GstPad *pad, gpointer data)
{
  GstClock *clock = gst_element_get_clock (sink);
  if (clock == NULL)
    return;
  GstClockTime now = gst_clock_get_time (clock);
  GstClockTime base = gst_element_get_base_time (sink);
  GstSegment *seg = &GST_BASE_SINK (sink)->segment;
  GstClockTime rt = gst_segment_to_running_time (seg, GST_FORMAT_TIME,
      GST_BUFFER_PTS (buf));
  gst_object_unref (clock);
  stats.received++;
  if (GST_CLOCK_TIME_IS_VALID (rt) && now > base + rt) {
    GstClockTime late = now - base - rt;
    stats.sum_late += late;
    stats.max_late = MAX (stats.max_late, late);
  }
}

/* The latency tracer logs "element-latency, element=..., time=..." records;
 * collect those of the element under test. */
static void
log_func (GstDebugCategory *cat, GstDebugLevel level, const gchar *file,
    const gchar *function, gint line, GObject *object, GstDebugMessage *msg,
    gpointer data)
{
  if (g_strcmp0 (gst_debug_category_get_name (cat), "GST_TRACER") != 0)
    return;
  const gchar *text = gst_debug_message_get (msg);
  if (text == NULL || !g_str_has_prefix (text, "element-latency"))
    return;
  GstStructure *s = gst_structure_from_string (text, NULL);
  if (s == NULL)
    return;
  const gchar *elem = gst_structure_get_string (s, "element");
  guint64 t;
  if (elem && strcmp (elem, stats.elem_name->str) == 0 &&
      gst_structure_get_uint64 (s, "time", &t))
    g_array_append_val (stats.elem_lat, t);
  gst_structure_free (s);
}

static int
cmp_u64 (gconstpointer a, gconstpointer b)
{
  guint64 x = *(const guint64 *) a, y = *(const guint64 *) b;
  return x < y ? -1 : x > y;
}

int
main (int argc, char **argv)
{
  gint seconds = 5, rate = 1000;
  gchar *src_props = NULL;
  GOptionEntry entries[] = {
    {"seconds", 's', 0, G_OPTION_ARG_INT, &seconds, "run time", NULL},
    {"rate", 'r', 0, G_OPTION_ARG_INT, &rate, "buffers per second", NULL},
    {"source", 0, 0, G_OPTION_ARG_STRING, &src_props, "pdesrc properties",
        NULL},
    {NULL}
  };
  stats.elem_lat = g_array_new (FALSE, FALSE, sizeof (guint64));
  stats.elem_name = g_string_new ("under-test");
  g_setenv ("GST_TRACERS", "latency(flags=element)", FALSE);
  g_setenv ("GST_DEBUG", "GST_TRACER:7", FALSE);
  /* only the tracer's records, not its chatter */
  gst_debug_remove_log_function (gst_debug_log_default);
  gst_debug_add_log_function (log_func, NULL, NULL);
  g_autoptr (GOptionContext) ctx = g_option_context_new ("ELEMENTS");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc < 2) {
    g_printerr ("stream-bench: %s\n", error ? error->message :
        "give the elements to test");
    return 2;
  }


  gint n = seconds * rate;
  g_autofree gchar *launch = g_strdup_printf ("pdesrc is-live=true "
      "framerate=%d/1 num-buffers=%d %s ! %s name=under-test ! fakesink "
      "name=sink sync=true signal-handoffs=true", rate, n,
      src_props ? src_props : "", argv[1]);
  GstElement *pipe = gst_parse_launch (launch, &error);
  if (pipe == NULL || error) {
    g_printerr ("stream-bench: %s\n", error->message);
    return 1;
  }
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipe), "sink");
  GstElement *elem = gst_bin_get_by_name (GST_BIN (pipe), "under-test");
  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), NULL);
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (pipe);
  guint64 dropped = 0;
  gboolean ok = TRUE;
  for (;;) {
    GstMessage *m = gst_bus_timed_pop_filtered (bus, (seconds + 30) *
        GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_QOS);
    if (m == NULL) {
      g_printerr ("stream-bench: timeout\n");
      ok = FALSE;
      break;
    }
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_QOS) {
      guint64 processed, d;
      GstFormat fmt;
      gst_message_parse_qos_stats (m, &fmt, &processed, &d);
      if (fmt == GST_FORMAT_BUFFERS)
        dropped = MAX (dropped, d);
      gst_message_unref (m);
      continue;
    }
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
      GError *e;
      gst_message_parse_error (m, &e, NULL);
      g_printerr ("stream-bench: %s\n", e->message);
      g_error_free (e);
      ok = FALSE;
    }
    gst_message_unref (m);
    break;
  }
  GstStructure *st = NULL;
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (elem), "stats"))
    g_object_get (elem, "stats", &st, NULL);
  gst_element_set_state (pipe, GST_STATE_NULL);

  g_array_sort (stats.elem_lat, cmp_u64);
  guint nl = stats.elem_lat->len;
  gdouble lat_mean = 0;
  for (guint i = 0; i < nl; i++)
    lat_mean += g_array_index (stats.elem_lat, guint64, i);
  lat_mean = nl ? lat_mean / nl / 1e3 : NAN;
  gdouble p99 = nl ? g_array_index (stats.elem_lat, guint64,
      MIN (nl - 1, nl * 99 / 100)) / 1e3 : NAN;
  gdouble lmax = nl ? g_array_index (stats.elem_lat, guint64, nl - 1) / 1e3 :
      NAN;
  gdouble mean_ms = NAN, max_ms = NAN;
  if (st) {
    gst_structure_get_double (st, "mean-ms", &mean_ms);
    gst_structure_get_double (st, "max-ms", &max_ms);
  }
  g_print ("{\"elements\": \"%s\", \"rate_hz\": %d, \"sent\": %d, "
      "\"received\": %" G_GUINT64_FORMAT ", \"dropped_qos\": %" G_GUINT64_FORMAT
      ", \"capture_to_sink_mean_us\": %.1f, \"capture_to_sink_max_us\": %.1f, "
      "\"tracer_latency_mean_us\": %.1f, \"tracer_latency_p99_us\": %.1f, "
      "\"tracer_latency_max_us\": %.1f, \"tracer_samples\": %u, "
      "\"element_mean_ms\": %.3f, \"element_max_ms\": %.3f, \"ok\": %s}\n",
      argv[1], rate, n, stats.received, dropped,
      stats.received ? stats.sum_late / 1e3 / stats.received : NAN,
      stats.max_late / 1e3, lat_mean, p99, lmax, nl, mean_ms, max_ms,
      /* keeping up: everything arrives, nothing dropped, and 99 % of
       * buffers are processed within one buffer period */
      ok && stats.received == (guint64) n && dropped == 0 &&
      p99 < 1e6 / rate ? "true" : "false");
  if (st)
    gst_structure_free (st);
  gst_object_unref (bus);
  gst_object_unref (sink);
  gst_object_unref (elem);
  gst_object_unref (pipe);
  return ok ? 0 : 1;
}
