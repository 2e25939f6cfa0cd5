/* physnn — `physnn export`: a spiking network (NIR) to neuromorphic
 * formats, fitted to a platform, with spike agreement and energy.
 *
 *   physnn export MODEL.nir -o BASE [--format nir,lava-netx,pynn,spike-json,
 *       akida|all] [--platform loihi|loihi2|spinnaker2|akida|akida2|generic]
 *       [--dt SECONDS] [--input SPIKES.npy|SPIKES.aer | --steps N --rate P
 *       --seed S] [--record SPIKES.aer] [--report REPORT.json]
 *
 * Files: BASE.nir, BASE.netx.h5, BASE.pynn.py (+ .data.json),
 * BASE.spikes.json, BASE.akida.onnx. With a platform other than generic
 * the exported weights are the fitted (quantized) ones.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "commands.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const gchar *suffixes[] = { ".nir", ".netx.h5", ".pynn.py",
  ".spikes.json", ".akida.onnx" };
static const gchar *format_names[] = { "nir", "lava-netx", "pynn", "spike-json",
  "akida" };

static PhysnnTensor *
load_input (const gchar *path, GError **error)
{
  if (g_str_has_suffix (path, ".npy"))
    return physnn_npy_load (path, error);
  g_autoptr (PhysnnSpikeRecord) rec = physnn_spike_record_load (path, error);
  return rec ? physnn_spike_record_to_dense (rec, error) : NULL;
}

static PhysnnTensor *
bernoulli (guint steps, gsize n, gdouble rate, guint32 seed)
{
  gsize shape[2] = { steps, n };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_UINT8, 2, shape);
  guint8 *p = physnn_tensor_map (t, PHYSNN_MAP_WRITE, NULL);
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  for (gsize i = 0; i < steps * n; i++)
    p[i] = g_rand_double (r) < rate;
  physnn_tensor_unmap (t);
  return t;
}

/* Runs @net's graph through PhysnnSnn as snninfer would; fills @counts. */
static PhysnnTensor *
run_counted (
    PhysnnNeuroNet *net, PhysnnTensor *input, guint64 *counts, GError **error)
{
  g_autoptr (PhysnnNirGraph) g = physnn_neuro_net_to_nir (net);
  g_autoptr (PhysnnSnn) snn = physnn_snn_new (g, error);
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", error);
  if (snn == NULL || cpu == NULL)
    return NULL;
  g_object_set (snn, "dt", physnn_neuro_net_get_dt (net), NULL);
  g_autoptr (PhysnnTensor) x =
      physnn_tensor_convert (input, PHYSNN_DTYPE_FLOAT32);
  PhysnnTensor *out = physnn_snn_run_new (snn, cpu, x,
      (guint)physnn_tensor_get_dim (input, 0), PHYSNN_SNN_RECORD_OUTPUT, error);
  for (guint c = 0; out && c < PHYSNN_SNN_N_COUNTERS; c++)
    counts[c] = physnn_snn_get_counter (snn, c);
  return out;
}

static void
print_energy (const gchar *json, gdouble dt)
{
  g_autoptr (JsonParser) p = json_parser_new ();
  if (!json_parser_load_from_data (p, json, -1, NULL))
    return;
  JsonObject *o = json_node_get_object (json_parser_get_root (p));
  JsonObject *c = json_object_get_object_member (o, "counts");
  gint64 steps = json_object_get_int_member (c, "steps");
  g_print ("energy (ESTIMATES from measured counts x published energy per "
           "operation, not measurements;\n  power in real time counts "
           "operations only, no static or idle power):\n  %" G_GINT64_FORMAT
           " steps, %" G_GINT64_FORMAT " synaptic events, %" G_GINT64_FORMAT
           " dense MACs, %" G_GINT64_FORMAT " neuron updates, %" G_GINT64_FORMAT
           " spikes\n",
      steps, json_object_get_int_member (c, "synops"),
      json_object_get_int_member (c, "dense_synops"),
      json_object_get_int_member (c, "neuron_updates"),
      json_object_get_int_member (c, "spikes"));
  JsonArray *a = json_object_get_array_member (o, "targets");
  for (guint i = 0; i < json_array_get_length (a); i++) {
    JsonObject *t = json_array_get_object_element (a, i);
    JsonNode *j = json_object_get_member (t, "joules");
    if (JSON_NODE_HOLDS_NULL (j)) {
      g_print ("  %-11s      n/a       %s\n",
          json_object_get_string_member (t, "target"),
          json_object_get_string_member (t, "source"));
      continue;
    }
    gdouble e = json_node_get_double (j);
    /* power if the network ran in real time, one step per dt */
    g_print ("  %-11s %10.3e J  %8.3e J/step  %8.3e W in real time  (%s; "
             "%s)\n",
        json_object_get_string_member (t, "target"), e, steps ? e / steps : NAN,
        steps ? e / (steps * dt) : NAN,
        json_object_get_string_member (t, "source"),
        json_object_get_string_member (t, "caveat"));
  }
}

static int
fail (const GError *error)
{
  g_printerr ("physnn export: %s\n", error->message);
  return 1;
}

int
physnn_cmd_export (int argc, char **argv)
{
  g_autofree gchar *output = NULL, *formats = NULL, *platform_name = NULL;
  g_autofree gchar *input_path = NULL, *record = NULL, *report_path = NULL;
  gdouble dt = 1e-3, rate = 0.1;
  gint steps = 0, seed = 1;
  GOptionEntry entries[] = { { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
                                 "Base name of the written files (required)",
                                 "BASE" },
    { "format", 'f', 0, G_OPTION_ARG_STRING, &formats,
        "Comma-separated formats: nir, lava-netx, pynn, spike-json, akida, "
        "or all (default all)",
        "LIST" },
    { "platform", 'p', 0, G_OPTION_ARG_STRING, &platform_name,
        "Fit to generic, loihi, loihi2, spinnaker2, akida or akida2 (default "
        "generic)",
        "NAME" },
    { "dt", 0, 0, G_OPTION_ARG_DOUBLE, &dt,
        "Seconds per step, as snninfer's dt (default 0.001)", "S" },
    { "input", 'i', 0, G_OPTION_ARG_FILENAME, &input_path,
        "Input spikes: uint8/float .npy [steps][inputs] or a physnn-aer "
        "record",
        "FILE" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps,
        "Without --input: this many steps of Bernoulli input spikes", "N" },
    { "rate", 0, 0, G_OPTION_ARG_DOUBLE, &rate,
        "Spike probability per input and step for --steps (default 0.1)", "P" },
    { "seed", 0, 0, G_OPTION_ARG_INT, &seed, "Seed for --steps (default 1)",
        "S" },
    { "record", 0, 0, G_OPTION_ARG_FILENAME, &record,
        "Also save the input spikes as a physnn-aer record", "FILE" },
    { "report", 0, 0, G_OPTION_ARG_FILENAME, &report_path,
        "Write fitting, agreement and energy as JSON", "FILE" },
    { NULL } };
  g_autoptr (GOptionContext) ctx = g_option_context_new (
      "MODEL.nir - export a spiking network to neuromorphic formats");
  g_autoptr (GError) error = NULL;
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2 ||
      output == NULL) {
    g_printerr ("physnn export: %s\n",
        error ? error->message : "give one NIR model and --output BASE");
    return 2;
  }

  PhysnnNeuroPlatform platform = PHYSNN_NEURO_PLATFORM_GENERIC;
  if (platform_name &&
      !physnn_neuro_platform_from_string (platform_name, &platform, &error))
    return fail (error);
  gboolean want[G_N_ELEMENTS (format_names)] = { FALSE };
  if (formats == NULL || g_strcmp0 (formats, "all") == 0) {
    for (guint i = 0; i < G_N_ELEMENTS (want); i++)
      want[i] = TRUE;
  } else {
    g_auto (GStrv) list = g_strsplit (formats, ",", -1);
    for (guint i = 0; list[i]; i++) {
      PhysnnNeuroFormat f;
      if (!physnn_neuro_format_from_string (g_strstrip (list[i]), &f, &error))
        return fail (error);
      want[f] = TRUE;
    }
  }

  g_autoptr (PhysnnNirGraph) graph = physnn_nir_graph_load (argv[1], &error);
  if (graph == NULL)
    return fail (error);
  g_autoptr (PhysnnNeuroNet) net = physnn_neuro_net_new (graph, dt, &error);
  if (net == NULL)
    return fail (error);

  g_autoptr (PhysnnTensor) input = NULL;
  if (input_path) {
    input = load_input (input_path, &error);
    if (input == NULL)
      return fail (error);
  } else if (steps > 0) {
    if (!(rate >= 0 && rate <= 1)) {
      g_printerr ("physnn export: --rate %g must be in [0, 1]\n", rate);
      return 2;
    }
    input = bernoulli (
        (guint)steps, physnn_neuro_net_get_n_inputs (net), rate, (guint32)seed);
  }
  if (input && (physnn_tensor_get_rank (input) != 2 ||
                   physnn_tensor_get_dim (input, 1) !=
                       physnn_neuro_net_get_n_inputs (net))) {
    g_autofree gchar *d = physnn_tensor_describe (input);
    g_printerr ("physnn export: input spikes are %s; the network takes "
                "[steps][%" G_GSIZE_FORMAT "]\n",
        d, physnn_neuro_net_get_n_inputs (net));
    return 1;
  }

  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "model");
  json_builder_add_string_value (b, argv[1]);
  json_builder_set_member_name (b, "dt");
  json_builder_add_double_value (b, dt);

  g_print ("%s: %u layers, %" G_GSIZE_FORMAT " inputs, %" G_GSIZE_FORMAT
           " neurons, %" G_GSIZE_FORMAT " synapses, dt %g s\n",
      argv[1], physnn_neuro_net_get_n_layers (net),
      physnn_neuro_net_get_n_inputs (net), physnn_neuro_net_get_n_neurons (net),
      physnn_neuro_net_get_n_synapses (net), dt);

  g_autoptr (PhysnnNeuroNet) target = g_object_ref (net);
  if (platform != PHYSNN_NEURO_PLATFORM_GENERIC) {
    g_clear_object (&target);
    target = physnn_neuro_net_fit (net, platform, &error);
    if (target == NULL)
      return fail (error);
    g_autofree gchar *rep = physnn_neuro_net_get_fit_report (target);
    g_autoptr (JsonNode) node = json_from_string (rep, NULL);
    json_builder_set_member_name (b, "fit");
    json_builder_add_value (b, g_steal_pointer (&node));
    JsonObject *o = NULL;
    g_autoptr (JsonNode) again = json_from_string (rep, NULL);
    o = json_node_get_object (again);
    g_print ("fitted to %s: %" G_GINT64_FORMAT " cores on %" G_GINT64_FORMAT
             " chip(s), %" G_GINT64_FORMAT "-bit weights\n",
        physnn_neuro_platform_get_limits (platform)->name,
        json_object_get_int_member (o, "cores"),
        json_object_get_int_member (o, "chips"),
        json_object_get_int_member (o, "weight_bits"));
    JsonArray *layers = json_object_get_array_member (o, "layers");
    for (guint i = 0; i < json_array_get_length (layers); i++) {
      JsonObject *l = json_array_get_object_element (layers, i);
      g_print ("  %-12s %4" G_GINT64_FORMAT " neurons  %3" G_GINT64_FORMAT
               " core(s)  %6" G_GINT64_FORMAT " synapse bytes/core  max weight "
               "error %.3g\n",
          json_object_get_string_member (l, "layer"),
          json_object_get_int_member (l, "neurons"),
          json_object_get_int_member (l, "cores"),
          json_object_get_int_member (l, "synapse_bytes_per_core"),
          json_object_get_double_member (l, "max_weight_error"));
    }
  }

  g_autoptr (PhysnnTensor) reference = NULL;
  /* the output spikes that go with the exported weights */
  g_autoptr (PhysnnTensor) exported_out = NULL;
  if (input) {
    guint64 counts[PHYSNN_SNN_N_COUNTERS] = { 0 };
    reference = run_counted (net, input, counts, &error);
    if (reference == NULL)
      return fail (error);
    json_builder_set_member_name (b, "agreement");
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "definition");
    json_builder_add_string_value (b,
        "2|A∩B|/(|A|+|B|) over (step, "
        "output neuron) spikes, against snninfer's float run of the "
        "unfitted network");
    if (target != net) {
      PhysnnTensor *fitted = physnn_neuro_net_run (target, NULL, input, &error);
      if (fitted == NULL)
        return fail (error);
      gdouble a = physnn_spike_agreement (reference, fitted);
      exported_out = fitted;
      g_print ("spike agreement, float run before vs after fitting: %.4f\n", a);
      json_builder_set_member_name (b, "fitted_float");
      json_builder_add_double_value (b, a);
    }
    if (platform == PHYSNN_NEURO_PLATFORM_LOIHI ||
        platform == PHYSNN_NEURO_PLATFORM_LOIHI2 || want[1]) {
      g_autoptr (GError) lerr = NULL;
      g_autoptr (PhysnnTensor) lo =
          physnn_neuro_net_run_loihi (target, input, &lerr);
      if (lo) {
        gdouble a = physnn_spike_agreement (reference, lo);
        g_print ("spike agreement, Loihi fixed-point simulation of the NetX "
                 "export vs float: %.4f\n",
            a);
        json_builder_set_member_name (b, "loihi_fixed_point");
        json_builder_add_double_value (b, a);
      } else {
        g_print ("no Loihi simulation: %s\n", lerr->message);
      }
    }
    json_builder_end_object (b);

    g_autofree gchar *energy = physnn_energy_report_json (
        counts[PHYSNN_SNN_COUNTER_STEPS], counts[PHYSNN_SNN_COUNTER_SYNOPS],
        counts[PHYSNN_SNN_COUNTER_DENSE_SYNOPS],
        counts[PHYSNN_SNN_COUNTER_NEURON_UPDATES],
        counts[PHYSNN_SNN_COUNTER_SPIKES]);
    print_energy (energy, dt);
    json_builder_set_member_name (b, "energy");
    json_builder_add_value (b, json_from_string (energy, NULL));
  }

  if (record) {
    if (input == NULL) {
      g_printerr ("physnn export: --record needs --input or --steps\n");
      return 2;
    }
    g_autoptr (PhysnnSpikeRecord) rec =
        physnn_spike_record_new (physnn_neuro_net_get_n_inputs (net), dt);
    if (!physnn_spike_record_append (rec, input, &error) ||
        !physnn_spike_record_save (rec, record, &error))
      return fail (error);
    g_print ("wrote %s (%" G_GUINT64_FORMAT " input spikes)\n", record,
        physnn_spike_record_get_n_events (rec));
  }

  json_builder_set_member_name (b, "files");
  json_builder_begin_object (b);
  for (guint f = 0; f < G_N_ELEMENTS (want); f++) {
    if (!want[f])
      continue;
    g_autofree gchar *path = g_strconcat (output, suffixes[f], NULL);
    if (!physnn_neuro_net_export (target, f, path, input,
            exported_out ? exported_out : reference, &error)) {
      g_prefix_error (&error, "%s export: ", format_names[f]);
      return fail (error);
    }
    g_print ("wrote %s (%s)\n", path, format_names[f]);
    json_builder_set_member_name (b, format_names[f]);
    json_builder_add_string_value (b, path);
  }
  json_builder_end_object (b);
  json_builder_end_object (b);

  if (report_path) {
    g_autoptr (JsonNode) root = json_builder_get_root (b);
    g_autofree gchar *text = json_to_string (root, TRUE);
    if (!g_file_set_contents (report_path, text, -1, &error))
      return fail (error);
  }
  return 0;
}
