/* physnn — PyNN export: a runnable script and its data file
 * (`PATH.data.json`: neuron parameters, FromListConnector lists, the
 * recorded input spikes).
 *
 * Unit mapping (NIR's dimensionless volts become mV, seconds become ms;
 * cm = 1 nF throughout; docs/neuromorphic.md explains it):
 *   LIF   → IF_curr_exp: tau_m = 1000 τ, v_rest = v_leak, v_thresh = θ,
 *           v_reset = v_reset, v = v_leak at start. A presynaptic spike of
 *           step k adds (1 − α) R W to v by the end of the step in physnn
 *           (input held over the step); PyNN delivers it as a current
 *           w e^(−t/τ_syn) with τ_syn = h = dt/10 (the PyNN timestep),
 *           the input spike at 0.1 dt into its step and one timestep of
 *           delay, so the charge is in by ≈0.3 dt. Hence
 *           w = cm (1 − α) R W e^(0.7 dt/τ) / τ_syn, where e^(0.7 dt/τ)
 *           undoes the leak over the rest of the step.
 *   IF    → IF_curr_exp with tau_m = 10^9 ms (no leak):
 *           w = cm R W dt / τ_syn; i_offset = cm R b / 1000.
 *   CubaLIF → IF_curr_exp with tau_syn = 1000 τ_syn (the same current):
 *           w = cm R w_in W dt / (τ_mem τ_syn[ms]).
 *   Affine bias → i_offset = cm R b / tau_m[ms] (LIF; CubaLIF × w_in).
 *   Positive weights go to the excitatory receptor, negative ones (kept
 *   negative, as PyNN's current-based synapses expect) to the inhibitory.
 *   physnn fires at most once per step and the reset discards the excess
 *   input of that step; PyNN would fire again while the rest of the
 *   step's charge arrives, so tau_refrac = 0.4 dt (NIR itself has no
 *   refractory period; this only swallows the remainder of the step).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/neuro-private.h"
#include "physnn/error.h"
#include "physnn/version.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#define SUBSTEPS 10.0    /* PyNN timestep h = dt / SUBSTEPS */
#define SPIKE_OFFSET 0.1 /* input spike time within its step, in steps */
#define ARRIVAL 0.3      /* offset + delay + tau_syn, in steps */
#define REFRACTORY 0.4   /* tau_refrac, in steps */

static void
member_doubles (JsonBuilder *b, const gchar *name, const gdouble *v, gsize n,
    gdouble scale, gdouble add)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (gsize i = 0; i < n; i++)
    json_builder_add_double_value (b, v[i] * scale + add);
  json_builder_end_array (b);
}

static void
member_const (JsonBuilder *b, const gchar *name, gdouble v, gsize n)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (gsize i = 0; i < n; i++)
    json_builder_add_double_value (b, v);
  json_builder_end_array (b);
}

static void
layer_json (JsonBuilder *b, PhysnnNeuroNet *net, const NeuroLayer *l)
{
  const gdouble cm = 1.0, dt = net->dt, dt_ms = 1000 * dt;
  const gdouble ts_ms = dt_ms / SUBSTEPS;
  gsize n = l->n_out;
  g_autofree gdouble *scale =
      g_new (gdouble, n); /* PyNN weight per NIR weight */
  g_autofree gdouble *tau_m = g_new (gdouble, n);
  g_autofree gdouble *tau_syn = g_new (gdouble, n);
  g_autofree gdouble *i_off = g_new (gdouble, n);
  g_autofree gdouble *v_rest = g_new (gdouble, n);

  for (gsize i = 0; i < n; i++) {
    switch (l->kind) {
      case NEURO_LIF: {
        gdouble a = exp (-dt / l->tau[i]);
        tau_m[i] = 1000 * l->tau[i];
        tau_syn[i] = ts_ms;
        scale[i] = cm * (1 - a) * l->r[i] *
                   exp ((1 - ARRIVAL) * dt / l->tau[i]) / ts_ms;
        i_off[i] = cm * l->r[i] * l->b[i] / tau_m[i];
        v_rest[i] = l->v_leak[i];
        break;
      }
      case NEURO_IF:
        tau_m[i] = 1e9;
        tau_syn[i] = ts_ms;
        scale[i] = cm * l->r[i] * dt / ts_ms;
        i_off[i] = cm * l->r[i] * l->b[i] / 1000;
        v_rest[i] = 0;
        break;
      case NEURO_CUBALIF:
        tau_m[i] = 1000 * l->tau[i];
        tau_syn[i] = 1000 * l->tau_syn[i];
        scale[i] = cm * l->r[i] * l->w_in[i] * dt / (l->tau[i] * tau_syn[i]);
        i_off[i] = cm * l->r[i] * l->w_in[i] * l->b[i] / tau_m[i];
        v_rest[i] = l->v_leak[i];
        break;
      default:
        g_assert_not_reached ();
    }
  }

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, l->neu_name);
  json_builder_set_member_name (b, "nir_type");
  json_builder_add_string_value (b, l->neu_type);
  json_builder_set_member_name (b, "size");
  json_builder_add_int_value (b, n);
  json_builder_set_member_name (b, "params");
  json_builder_begin_object (b);
  member_const (b, "cm", cm, n);
  member_doubles (b, "tau_m", tau_m, n, 1, 0);
  member_doubles (b, "tau_syn_E", tau_syn, n, 1, 0);
  member_doubles (b, "tau_syn_I", tau_syn, n, 1, 0);
  member_const (b, "tau_refrac", REFRACTORY * dt_ms, n);
  member_doubles (b, "v_rest", v_rest, n, 1, 0);
  member_doubles (b, "v_thresh", l->v_th, n, 1, 0);
  member_doubles (b, "v_reset", l->v_reset, n, 1, 0);
  member_doubles (b, "i_offset", i_off, n, 1, 0);
  json_builder_end_object (b);
  member_doubles (b, "v_init", v_rest, n, 1, 0);
  for (guint sign = 0; sign < 2; sign++) {
    json_builder_set_member_name (b, sign ? "inhibitory" : "excitatory");
    json_builder_begin_array (b);
    for (gsize o = 0; o < n; o++)
      for (gsize k = 0; k < l->n_in; k++) {
        gdouble w = l->w[o * l->n_in + k];
        if (w == 0 || (w < 0) != (sign == 1))
          continue;
        json_builder_begin_array (b);
        json_builder_add_int_value (b, k);
        json_builder_add_int_value (b, o);
        json_builder_add_double_value (b, w * scale[o]);
        json_builder_end_array (b);
      }
    json_builder_end_array (b);
  }
  json_builder_end_object (b);
}

static const gchar script_template[] =
    "#!/usr/bin/env python3\n"
    "\"\"\"PyNN model of the spiking network @SOURCE@, written by physnn "
    "@VERSION@.\n"
    "\n"
    "Populations of IF_curr_exp neurons with FromListConnector "
    "projections, driven by\n"
    "a SpikeSourceArray of the input spikes physnn recorded. The data "
    "(parameters,\n"
    "connection lists, spike times) is in @DATA@ beside this script. "
    "NIR units\n"
    "become mV, ms and nA with cm = 1 nF; physnn step k (dt = @DT_MS@ ms) "
    "is\n"
    "[k dt, (k+1) dt) and an output spike at time t belongs to step "
    "floor(t / dt).\n"
    "See physnn's docs/neuromorphic.md for the mapping and the agreement "
    "measured.\n"
    "\n"
    "    python3 @SCRIPT@ [--simulator brian2|nest|neuron|...] "
    "[--output spikes.json]\n"
    "\"\"\"\n"
    "import argparse\n"
    "import importlib\n"
    "import json\n"
    "import math\n"
    "import os\n"
    "\n"
    "\n"
    "def main():\n"
    "    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])\n"
    "    ap.add_argument('--simulator', default='brian2',\n"
    "                    help='PyNN backend module (pyNN.<name>), default "
    "brian2')\n"
    "    ap.add_argument('--data', default=os.path.join(\n"
    "        os.path.dirname(os.path.abspath(__file__)), '@DATA@'))\n"
    "    ap.add_argument('--output', help='write the recorded spikes here as "
    "JSON')\n"
    "    args = ap.parse_args()\n"
    "    with open(args.data) as f:\n"
    "        d = json.load(f)\n"
    "    if args.simulator == 'brian2':\n"
    "        # NumPy code generation: no compiler needed, no build cache.\n"
    "        import brian2\n"
    "        brian2.prefs.codegen.target = 'numpy'\n"
    "    sim = importlib.import_module('pyNN.' + args.simulator)\n"
    "    dt_ms, h = d['dt_ms'], d['timestep_ms']\n"
    "    sim.setup(timestep=h, min_delay=h)\n"
    "    times = [[(k + d['spike_offset']) * dt_ms for k in steps]\n"
    "             for steps in d['input_spikes']]\n"
    "    pre = sim.Population(d['n_inputs'], "
    "sim.SpikeSourceArray(spike_times=times),\n"
    "                         label=d['input_name'])\n"
    "    pops = []\n"
    "    for layer in d['layers']:\n"
    "        pop = sim.Population(layer['size'], "
    "sim.IF_curr_exp(**layer['params']),\n"
    "                             label=layer['name'])\n"
    "        pop.initialize(v=layer['v_init'])\n"
    "        for receptor in ('excitatory', 'inhibitory'):\n"
    "            conns = [(i, j, w, h) for i, j, w in layer[receptor]]\n"
    "            if conns:\n"
    "                sim.Projection(pre, pop, sim.FromListConnector(\n"
    "                    conns, column_names=['weight', 'delay']),\n"
    "                    sim.StaticSynapse(), receptor_type=receptor)\n"
    "        pop.record('spikes')\n"
    "        pops.append(pop)\n"
    "        pre = pop\n"
    "    sim.run(d['steps'] * dt_ms)\n"
    "    result = {'dt_ms': dt_ms, 'steps': d['steps'], 'populations': []}\n"
    "    for pop in pops:\n"
    "        trains = pop.get_data('spikes').segments[0].spiketrains\n"
    "        neurons = [sorted(int(math.floor(float(t) / dt_ms))\n"
    "                          for t in train.magnitude) for train in trains]\n"
    "        result['populations'].append({'name': pop.label, 'neurons': "
    "neurons})\n"
    "        print('%s: %d spikes' % (pop.label, sum(map(len, neurons))))\n"
    "    sim.end()\n"
    "    if args.output:\n"
    "        with open(args.output, 'w') as f:\n"
    "            json.dump(result, f)\n"
    "\n"
    "\n"
    "if __name__ == '__main__':\n"
    "    main()\n";

static gchar *
fill (const gchar *templ, const gchar *const *pairs)
{
  gchar *s = g_strdup (templ);
  for (guint i = 0; pairs[i]; i += 2) {
    g_auto (GStrv) parts = g_strsplit (s, pairs[i], -1);
    g_free (s);
    s = g_strjoinv (pairs[i + 1], parts);
  }
  return s;
}

gboolean
_physnn_neuro_write_pynn (PhysnnNeuroNet *net, const gchar *path,
    PhysnnTensor *input_spikes, PhysnnTensor *output_spikes, GError **error)
{
  (void)output_spikes;
  const gdouble dt_ms = 1000 * net->dt;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_string_value (b, "physnn-pynn-data");
  json_builder_set_member_name (b, "dt_ms");
  json_builder_add_double_value (b, dt_ms);
  json_builder_set_member_name (b, "timestep_ms");
  json_builder_add_double_value (b, dt_ms / SUBSTEPS);
  json_builder_set_member_name (b, "spike_offset");
  json_builder_add_double_value (b, SPIKE_OFFSET);
  json_builder_set_member_name (b, "input_name");
  json_builder_add_string_value (b, net->input_name);
  json_builder_set_member_name (b, "n_inputs");
  json_builder_add_int_value (b, net->n_inputs);
  gsize steps = input_spikes ? physnn_tensor_get_dim (input_spikes, 0) : 0;
  json_builder_set_member_name (b, "steps");
  json_builder_add_int_value (b, steps);
  json_builder_set_member_name (b, "input_spikes");
  json_builder_begin_array (b);
  g_autofree gdouble *x =
      input_spikes ? _physnn_neuro_doubles (input_spikes) : NULL;
  for (gsize j = 0; j < net->n_inputs; j++) {
    json_builder_begin_array (b);
    for (gsize t = 0; t < steps; t++)
      if (x[t * net->n_inputs + j] != 0)
        json_builder_add_int_value (b, t);
    json_builder_end_array (b);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "layers");
  json_builder_begin_array (b);
  for (guint i = 0; i < net->layers->len; i++)
    layer_json (b, net, g_ptr_array_index (net->layers, i));
  json_builder_end_array (b);
  json_builder_end_object (b);

  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, root);
  gsize len = 0;
  g_autofree gchar *data = json_generator_to_data (gen, &len);

  g_autofree gchar *data_path = g_strconcat (path, ".data.json", NULL);
  g_autofree gchar *data_base = g_path_get_basename (data_path);
  g_autofree gchar *script_base = g_path_get_basename (path);
  g_autofree gchar *dts = g_strdup_printf ("%g", dt_ms);
  const gchar *source = physnn_nir_graph_get_path (net->graph);
  const gchar *pairs[] = { "@SOURCE@", source ? source : "(in memory)",
    "@VERSION@", PHYSNN_VERSION_STRING, "@DATA@", data_base, "@DT_MS@", dts,
    "@SCRIPT@", script_base, NULL };
  g_autofree gchar *script = fill (script_template, pairs);

  /* The data first: a script never appears without its data. */
  if (!_physnn_neuro_write_file (data_path, data, len, error) ||
      !_physnn_neuro_write_file (path, script, strlen (script), error))
    return FALSE;
  g_chmod (path, 0755);
  return TRUE;
}
