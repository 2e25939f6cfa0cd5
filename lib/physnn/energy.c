/* physnn — energy estimates from measured activity.
 *
 * E = synops · E_synop + neuron updates · E_update (+ spikes · E_spike),
 * with the per-operation energies of ../shared/REFERENCES.md, each cited.
 * Nothing here is a measurement of energy: the counts are measured (by
 * PhysnnSnn, per buffer), the energies per operation are published
 * figures, several of them pre-silicon or secondary. No constant reduction
 * factor appears anywhere: a workload with twice the synaptic events gets
 * twice the synaptic energy.
 *
 * Dense targets (GPU, CPU) do the same network's work without skipping
 * silent inputs: 2 FLOPs per dense multiply-accumulate (dense_synops) and
 * NEURON_FLOPS per neuron update (the exact LIF step is two multiply-adds
 * and a compare: v·α + c·I + d, v > θ).
 *
 * Loihi's neuron update costs 81 pJ when active and 52 pJ when not; an
 * update counts as active at most once per synaptic event received, so
 * active = min(updates, synops), an upper bound (the estimate errs high).
 * Loihi's 3–4 pJ per mesh hop is left out: hops depend on placement.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/energy.h"

#include <json-glib/json-glib.h>
#include <math.h>

#define PJ 1e-12
#define NJ 1e-9
#define NEURON_FLOPS 5.0

typedef struct {
  const gchar *name;
  gboolean available;
  gboolean dense;      /* costs from dense FLOPs rather than events */
  gdouble synop;       /* J per synaptic event (or per FLOP when dense) */
  gdouble update;      /* J per neuron update (active, for Loihi) */
  gdouble update_idle; /* J per inactive update (Loihi), else = update */
  gdouble spike;       /* J per emitted spike */
  const gchar *source;
  const gchar *caveat;
} Target;

static const Target targets[] = {
  { "loihi", TRUE, FALSE, 23.6 * PJ, 81 * PJ, 52 * PJ, 1.7 * PJ,
      "Davies et al., IEEE Micro 2018, Table 2: 23.6 pJ per synaptic op, "
      "81/52 pJ per active/inactive neuron update, 1.7 pJ per spike within "
      "a tile",
      "pre-silicon figures; mesh hops (3-4 pJ each) excluded; active "
      "updates bounded above by synaptic events" },
  { "loihi2", FALSE, FALSE, 0, 0, 0, 0,
      "none: no per-operation energy for Loihi 2 was found in public "
      "sources",
      "no estimate" },
  { "spinnaker", TRUE, FALSE, 13.3 * NJ, 26 * NJ, 26 * NJ, 0,
      "SpiNNaker 1 figures quoted by Hoeppner et al., IEEE TCAS-I 2019: "
      "13.3 nJ per synaptic event, 26 nJ per neuron update",
      "secondary source" },
  { "spinnaker2", TRUE, FALSE, 450 * PJ, 2.19 * NJ, 2.19 * NJ, 0,
      "Hoeppner et al., IEEE TCAS-I 2019 (SpiNNaker 2 prototype): 450 pJ "
      "per synaptic event, 2.19 nJ per neuron update",
      "prototype chip; secondary" },
  { "truenorth", TRUE, FALSE, 26 * PJ, 0, 0, 0,
      "Merolla et al., Science 2014: 26 pJ per synaptic event, whole chip",
      "whole-chip figure per synaptic event; neuron updates included in it" },
  { "akida", FALSE, FALSE, 0, 0, 0, 0,
      "BrainChip AKD1000 board measurement: AkidaNet-224 at 981 mW, 19.13 "
      "mJ/frame, 51 fps; no per-operation figure",
      "no estimate: a per-frame figure of another network does not scale "
      "to this one" },
  { "rx580", TRUE, TRUE, 30 * PJ, 30 * PJ *NEURON_FLOPS, 30 * PJ *NEURON_FLOPS,
      0,
      "AMD RX 580: 185 W TDP / 6.175 TFLOPS FP32 peak = 30 pJ per FLOP "
      "(derived from TDP)",
      "assumes full utilisation at TDP; dense evaluation (2 FLOPs per "
      "multiply-accumulate, 5 per neuron update)" },
  { "cpu-45nm", TRUE, TRUE, (0.9 + 3.7) / 2 * PJ, (2 * 3.7 + 3 * 0.9) * PJ,
      (2 * 3.7 + 3 * 0.9) * PJ, 0,
      "Horowitz, ISSCC 2014 (45 nm): fp32 add 0.9 pJ, mul 3.7 pJ",
      "arithmetic only, no memory traffic or control: a lower bound for a "
      "CPU doing the dense work" },
};

G_STATIC_ASSERT (G_N_ELEMENTS (targets) == PHYSNN_ENERGY_N_TARGETS);

/**
 * physnn_energy_target_get_name:
 * @target: a #PhysnnEnergyTarget
 *
 * Returns: a short name ("loihi", "rx580" …)
 */
const gchar *
physnn_energy_target_get_name (PhysnnEnergyTarget target)
{
  g_return_val_if_fail ((guint)target < PHYSNN_ENERGY_N_TARGETS, NULL);
  return targets[target].name;
}

/**
 * physnn_energy_target_get_source:
 * @target: a #PhysnnEnergyTarget
 *
 * Returns: the publication the energies come from, with the figures
 */
const gchar *
physnn_energy_target_get_source (PhysnnEnergyTarget target)
{
  g_return_val_if_fail ((guint)target < PHYSNN_ENERGY_N_TARGETS, NULL);
  return targets[target].source;
}

/**
 * physnn_energy_target_get_caveat:
 * @target: a #PhysnnEnergyTarget
 *
 * Returns: what limits the estimate (pre-silicon, secondary …)
 */
const gchar *
physnn_energy_target_get_caveat (PhysnnEnergyTarget target)
{
  g_return_val_if_fail ((guint)target < PHYSNN_ENERGY_N_TARGETS, NULL);
  return targets[target].caveat;
}

/**
 * physnn_energy_estimate:
 * @target: where the work would run
 * @synops: synaptic events (one per presynaptic spike and target neuron)
 * @dense_synops: multiply-accumulates of a dense evaluation of the same
 *   steps
 * @neuron_updates: neuron state updates (neurons × steps)
 * @spikes: spikes emitted
 * @total_joules: (out) (optional): the estimate, joules
 * @synaptic_joules: (out) (optional): its synaptic part
 * @neuron_joules: (out) (optional): its neuron-update (and spike) part
 *
 * Estimates the energy of a measured workload on @target from published
 * energies per operation (see physnn_energy_target_get_source()). An
 * estimate, never a measurement.
 *
 * Returns: %FALSE (and NaN estimates) when no per-operation figure exists
 *   for @target
 */
gboolean
physnn_energy_estimate (PhysnnEnergyTarget target, guint64 synops,
    guint64 dense_synops, guint64 neuron_updates, guint64 spikes,
    gdouble *total_joules, gdouble *synaptic_joules, gdouble *neuron_joules)
{
  g_return_val_if_fail ((guint)target < PHYSNN_ENERGY_N_TARGETS, FALSE);
  const Target *t = &targets[target];
  gdouble syn = NAN, neu = NAN;
  if (t->available) {
    if (t->dense) {
      syn = 2.0 * (gdouble)dense_synops * t->synop;
      neu = (gdouble)neuron_updates * t->update;
    } else {
      gdouble active = (gdouble)MIN (neuron_updates, synops);
      syn = (gdouble)synops * t->synop;
      neu = active * t->update +
            ((gdouble)neuron_updates - active) * t->update_idle +
            (gdouble)spikes * t->spike;
    }
  }
  if (synaptic_joules)
    *synaptic_joules = syn;
  if (neuron_joules)
    *neuron_joules = neu;
  if (total_joules)
    *total_joules = syn + neu;
  return t->available;
}

/**
 * physnn_energy_report_json:
 * @steps: time steps covered
 * @synops: synaptic events
 * @dense_synops: dense multiply-accumulates
 * @neuron_updates: neuron updates
 * @spikes: spikes emitted
 *
 * The estimate on every target as JSON: per target the total, synaptic and
 * neuron parts in joules (null where no figure exists), the source and the
 * caveat, and the ratio of each target to the RX 580's dense figure.
 *
 * Returns: (transfer full): a JSON document
 */
gchar *
physnn_energy_report_json (guint64 steps, guint64 synops, guint64 dense_synops,
    guint64 neuron_updates, guint64 spikes)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  gdouble gpu = NAN;
  physnn_energy_estimate (PHYSNN_ENERGY_TARGET_RX580, synops, dense_synops,
      neuron_updates, spikes, &gpu, NULL, NULL);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "estimate");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_set_member_name (b, "note");
  json_builder_add_string_value (b,
      "estimates from measured operation counts and published energies "
      "per operation; not measured energy");
  json_builder_set_member_name (b, "counts");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "steps");
  json_builder_add_int_value (b, steps);
  json_builder_set_member_name (b, "synops");
  json_builder_add_int_value (b, synops);
  json_builder_set_member_name (b, "dense_synops");
  json_builder_add_int_value (b, dense_synops);
  json_builder_set_member_name (b, "neuron_updates");
  json_builder_add_int_value (b, neuron_updates);
  json_builder_set_member_name (b, "spikes");
  json_builder_add_int_value (b, spikes);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "targets");
  json_builder_begin_array (b);
  for (guint i = 0; i < PHYSNN_ENERGY_N_TARGETS; i++) {
    gdouble tot, syn, neu;
    gboolean ok = physnn_energy_estimate (
        i, synops, dense_synops, neuron_updates, spikes, &tot, &syn, &neu);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "target");
    json_builder_add_string_value (b, targets[i].name);
#define NUM(name, v)                                                           \
  json_builder_set_member_name (b, name);                                      \
  if (ok && isfinite (v))                                                      \
    json_builder_add_double_value (b, v);                                      \
  else                                                                         \
    json_builder_add_null_value (b);
    NUM ("joules", tot);
    NUM ("synaptic_joules", syn);
    NUM ("neuron_joules", neu);
    gdouble ratio = gpu > 0 ? tot / gpu : NAN;
    NUM ("ratio_to_rx580", ratio);
#undef NUM
    json_builder_set_member_name (b, "source");
    json_builder_add_string_value (b, targets[i].source);
    json_builder_set_member_name (b, "caveat");
    json_builder_add_string_value (b, targets[i].caveat);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, TRUE);
}
