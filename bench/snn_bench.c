/* physnn — spiking-network benchmark: synaptic events per second of a
 * feed-forward LIF network (784-1000-10 by default) on Bernoulli input
 * spikes, on one device, with the counts that make the figure honest.
 *
 *   snn-bench [-d cpu|opencl|auto] [-s STEPS] [-a ACTIVITY] [-r REPEAT]
 *             [-l 784,1000,10] [-e EVENT_THRESHOLD] [--peak-gbs GB/s]
 *
 * The network's weights come from a fixed generator (normal, mean 0.005,
 * sd 0.1 into the first hidden layer; mean 0.01, sd 0.1 after), LIF with
 * tau = 20 ms, r = 20, threshold 1, dt = 1 ms: the network of
 * bench/snn_compare.py, which runs it side by side with Brian2 and
 * snnTorch. Events are (presynaptic spike, target) pairs. The weight bytes
 * an event-driven layer reads are 4 per event; a dense layer reads its
 * whole matrix every step; with --peak-gbs the benchmark prints that
 * traffic as a fraction of the device's memory bandwidth.
 *
 * Output: one JSON object on stdout.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <physnn/physnn.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static guint64 rng_state = 0x853c49e6748fea9bULL;

static gdouble
uniform (void)
{
  guint64 z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return ((z >> 11) + 0.5) / 9007199254740992.0;
}

static gdouble
normal (gdouble mean, gdouble sd)
{
  return mean + sd * sqrt (-2 * log (uniform ())) * cos (2 * G_PI * uniform ());
}

static void
set (PhysnnNirGraph *g, guint node, const gchar *name, PhysnnTensor *t)
{
  physnn_nir_graph_set_param (g, node, name, t);
  g_object_unref (t);
}

static PhysnnTensor *
filled (gsize n, gdouble v)
{
  gsize shape[1] = { n };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, shape);
  physnn_tensor_fill (t, v);
  return t;
}

static PhysnnTensor *
shape_of (gsize n)
{
  gsize shape[1] = { 1 };
  gdouble d = (gdouble) n;
  return physnn_tensor_new_from_doubles (PHYSNN_DTYPE_INT64, 1, shape, &d, 1,
      NULL);
}

static PhysnnNirGraph *
build (guint n_layers, const gsize *sizes)
{
  PhysnnNirGraph *g = physnn_nir_graph_new ();
  guint i = physnn_nir_graph_add_node (g, "input", "Input");
  set (g, i, "shape", shape_of (sizes[0]));
  const gchar *prev = "input";
  gchar fc[32], lif[32];
  for (guint l = 1; l < n_layers; l++) {
    gsize wshape[2] = { sizes[l], sizes[l - 1] };
    PhysnnTensor *w = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, wshape);
    gfloat *p = physnn_tensor_map (w, PHYSNN_MAP_WRITE, NULL);
    for (gsize k = 0; k < sizes[l] * sizes[l - 1]; k++)
      p[k] = (gfloat) normal (l == 1 ? 0.005 : 0.01, 0.1);
    physnn_tensor_unmap (w);
    g_snprintf (fc, sizeof fc, "fc%u", l);
    g_snprintf (lif, sizeof lif, "lif%u", l);
    i = physnn_nir_graph_add_node (g, fc, "Linear");
    set (g, i, "weight", w);
    i = physnn_nir_graph_add_node (g, lif, "LIF");
    set (g, i, "tau", filled (sizes[l], 0.02));
    set (g, i, "r", filled (sizes[l], 20.0));
    set (g, i, "v_leak", filled (sizes[l], 0.0));
    set (g, i, "v_threshold", filled (sizes[l], 1.0));
    set (g, i, "v_reset", filled (sizes[l], 0.0));
    physnn_nir_graph_add_edge (g, prev, fc);
    physnn_nir_graph_add_edge (g, fc, lif);
    prev = physnn_nir_graph_get_node_name (g, i);
  }
  i = physnn_nir_graph_add_node (g, "output", "Output");
  set (g, i, "shape", shape_of (sizes[n_layers - 1]));
  physnn_nir_graph_add_edge (g, prev, "output");
  return g;
}

int
main (int argc, char **argv)
{
  const gchar *device = "auto", *layers = "784,1000,10";
  gint steps = 5000, repeat = 5;
  gdouble activity = 0.05, event_threshold = 0.25, peak_gbs = 0;
  GOptionEntry entries[] = {
    {"device", 'd', 0, G_OPTION_ARG_STRING, &device, "cpu, opencl, opencl:P.D "
          "or auto", "DEV"},
    {"steps", 's', 0, G_OPTION_ARG_INT, &steps, "time steps per run", "N"},
    {"activity", 'a', 0, G_OPTION_ARG_DOUBLE, &activity, "input spike "
          "probability per step", "P"},
    {"repeat", 'r', 0, G_OPTION_ARG_INT, &repeat, "runs (best is kept)", "N"},
    {"layers", 'l', 0, G_OPTION_ARG_STRING, &layers, "layer sizes", "A,B,..."},
    {"event-threshold", 'e', 0, G_OPTION_ARG_DOUBLE, &event_threshold,
        "physnn event-threshold (0: always dense)", "X"},
    {"peak-gbs", 0, 0, G_OPTION_ARG_DOUBLE, &peak_gbs, "device memory "
          "bandwidth in GB/s, for the fraction", "GBS"},
    {NULL}
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- SNN benchmark");
  g_autoptr (GError) err = NULL;
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("%s\n", err->message);
    return 2;
  }
  g_auto (GStrv) parts = g_strsplit (layers, ",", -1);
  guint n_layers = g_strv_length (parts);
  gsize sizes[16];
  if (n_layers < 2 || n_layers > 16 || steps < 1 || repeat < 1) {
    g_printerr ("need 2 to 16 layer sizes, steps and repeat >= 1\n");
    return 2;
  }
  for (guint l = 0; l < n_layers; l++)
    sizes[l] = g_ascii_strtoull (parts[l], NULL, 10);

  g_autoptr (PhysnnDevice) dev = physnn_device_new (device, &err);
  if (dev == NULL) {
    g_printerr ("%s\n", err->message);
    return 1;
  }
  g_autoptr (PhysnnNirGraph) g = build (n_layers, sizes);
  g_autoptr (PhysnnSnn) snn = physnn_snn_new (g, &err);
  if (snn == NULL) {
    g_printerr ("%s\n", err->message);
    return 1;
  }
  g_object_set (snn, "event-threshold", event_threshold, NULL);
  gsize xshape[2] = { (gsize) steps, sizes[0] };
  g_autoptr (PhysnnTensor) x = physnn_tensor_new (PHYSNN_DTYPE_UINT8, 2,
      xshape);
  guint8 *px = physnn_tensor_map (x, PHYSNN_MAP_WRITE, NULL);
  for (gsize k = 0; k < (gsize) steps * sizes[0]; k++)
    px[k] = uniform () < activity;
  physnn_tensor_unmap (x);
  gsize yshape[2] = { (gsize) steps, sizes[n_layers - 1] };
  g_autoptr (PhysnnTensor) y = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2,
      yshape);

  /* warm-up: kernels built, buffers allocated */
  if (!physnn_snn_run (snn, dev, x, (guint) steps, y,
          PHYSNN_SNN_RECORD_OUTPUT, &err)) {
    g_printerr ("%s\n", err->message);
    return 1;
  }
  gdouble best = G_MAXDOUBLE;
  for (gint r = 0; r < repeat; r++) {
    physnn_snn_reset (snn);
    gint64 t0 = g_get_monotonic_time ();
    if (!physnn_snn_run (snn, dev, x, (guint) steps, y,
            PHYSNN_SNN_RECORD_OUTPUT, &err)) {
      g_printerr ("%s\n", err->message);
      return 1;
    }
    /* the results on the host: the run is complete */
    physnn_tensor_map (y, PHYSNN_MAP_READ, NULL);
    physnn_tensor_unmap (y);
    best = MIN (best, (g_get_monotonic_time () - t0) / 1e6);
  }
  guint64 synops = physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_SYNOPS);
  guint64 dense = physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_DENSE_SYNOPS);
  guint64 events = physnn_snn_get_counter (snn,
      PHYSNN_SNN_COUNTER_EVENT_LAYERS);
  /* weight bytes read: 4 per event when the layers run event-driven (at
   * this activity they do), the whole matrices per step when forced dense */
  gdouble bytes = event_threshold > 0 ? 4.0 * synops : 4.0 * dense;
  g_autofree gchar *name = g_strescape (physnn_device_get_name (dev), NULL);
  printf ("{\"bench\": \"snn\", \"device\": \"%s\", \"layers\": \"%s\", "
      "\"steps\": %d, \"activity\": %g, \"seconds\": %.6f, \"synops\": %"
      G_GUINT64_FORMAT ", \"dense_synops\": %" G_GUINT64_FORMAT
      ", \"spikes\": %" G_GUINT64_FORMAT ", \"input_spikes\": %"
      G_GUINT64_FORMAT ", \"event_layers\": %" G_GUINT64_FORMAT
      ", \"events_per_second\": %.4e, \"steps_per_second\": %.1f, "
      "\"weight_gbs\": %.2f", name, layers, steps, activity, best, synops,
      dense, physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_SPIKES),
      physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_INPUT_SPIKES), events,
      synops / best, steps / best, bytes / best / 1e9);
  if (peak_gbs > 0)
    printf (", \"bandwidth_fraction\": %.4f", bytes / best / 1e9 / peak_gbs);
  printf ("}\n");
  return 0;
}
