/* physnn — energy estimates of spiking workloads from measured activity
 * (synaptic operations, neuron updates, spikes) and published energies
 * per operation. Every figure is an estimate and carries its source.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * PhysnnEnergyTarget:
 * @PHYSNN_ENERGY_TARGET_LOIHI: Intel Loihi (Davies et al. 2018, pre-silicon)
 * @PHYSNN_ENERGY_TARGET_LOIHI2: Intel Loihi 2 (no public per-operation
 *   figure: no estimate)
 * @PHYSNN_ENERGY_TARGET_SPINNAKER: SpiNNaker 1 (via Hoeppner et al. 2019)
 * @PHYSNN_ENERGY_TARGET_SPINNAKER2: SpiNNaker 2 prototype (Hoeppner et al.
 *   2019)
 * @PHYSNN_ENERGY_TARGET_TRUENORTH: IBM TrueNorth (Merolla et al. 2014)
 * @PHYSNN_ENERGY_TARGET_AKIDA: BrainChip AKD1000 (only a per-frame board
 *   figure is public: no per-operation estimate)
 * @PHYSNN_ENERGY_TARGET_RX580: the same work done densely on an AMD RX 580
 *   at ≈30 pJ/FLOP (TDP / peak)
 * @PHYSNN_ENERGY_TARGET_CPU_45NM: the same dense work's arithmetic alone
 *   in 45 nm (Horowitz 2014), a lower bound for any CPU
 *
 * Where an energy estimate applies.
 */
typedef enum {
  PHYSNN_ENERGY_TARGET_LOIHI,
  PHYSNN_ENERGY_TARGET_LOIHI2,
  PHYSNN_ENERGY_TARGET_SPINNAKER,
  PHYSNN_ENERGY_TARGET_SPINNAKER2,
  PHYSNN_ENERGY_TARGET_TRUENORTH,
  PHYSNN_ENERGY_TARGET_AKIDA,
  PHYSNN_ENERGY_TARGET_RX580,
  PHYSNN_ENERGY_TARGET_CPU_45NM,
} PhysnnEnergyTarget;

#define PHYSNN_ENERGY_N_TARGETS (PHYSNN_ENERGY_TARGET_CPU_45NM + 1)

const gchar *physnn_energy_target_get_name (PhysnnEnergyTarget target);
const gchar *physnn_energy_target_get_source (PhysnnEnergyTarget target);
const gchar *physnn_energy_target_get_caveat (PhysnnEnergyTarget target);

gboolean physnn_energy_estimate (PhysnnEnergyTarget target, guint64 synops,
    guint64 dense_synops, guint64 neuron_updates, guint64 spikes,
    gdouble *total_joules, gdouble *synaptic_joules, gdouble *neuron_joules);

gchar *physnn_energy_report_json (guint64 steps, guint64 synops,
    guint64 dense_synops, guint64 neuron_updates, guint64 spikes);

G_END_DECLS
