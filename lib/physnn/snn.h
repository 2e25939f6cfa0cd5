/* physnn — spiking neural networks from NIR graphs: discrete-time LIF, IF,
 * CubaLIF … dynamics, homeostasis and online STDP.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "physnn/device.h"
#include "physnn/nir.h"
#include "physnn/tensor.h"

G_BEGIN_DECLS

/**
 * PhysnnSnnIntegration:
 * @PHYSNN_SNN_INTEGRATION_EXACT: exact exponential integration of the
 *   linear dynamics with the input held constant over each step
 * @PHYSNN_SNN_INTEGRATION_EULER: forward Euler: every state from the
 *   previous step's values (what Brian2's `euler` and Norse's LIF compute)
 * @PHYSNN_SNN_INTEGRATION_SEMI_IMPLICIT: forward Euler with the synaptic
 *   current of CubaLI/CubaLIF updated first and used by the membrane in the
 *   same step (what snnTorch's Synaptic computes); the same as
 *   @PHYSNN_SNN_INTEGRATION_EULER for the other neurons
 *
 * See docs/snn.md for the mapping of snnTorch's and Norse's conventions.
 * How a #PhysnnSnn turns NIR's continuous-time equations into steps.
 */
typedef enum {
  PHYSNN_SNN_INTEGRATION_EXACT,
  PHYSNN_SNN_INTEGRATION_EULER,
  PHYSNN_SNN_INTEGRATION_SEMI_IMPLICIT,
} PhysnnSnnIntegration;

/**
 * PhysnnSnnRecord:
 * @PHYSNN_SNN_RECORD_OUTPUT: the values reaching the graph's Output node
 *   (spikes of a spiking layer, or a leaky integrator's potential)
 * @PHYSNN_SNN_RECORD_MEMBRANE: the membrane potential of the neuron layer
 *   that feeds the Output node
 *
 * What physnn_snn_run() writes per step.
 */
typedef enum {
  PHYSNN_SNN_RECORD_OUTPUT,
  PHYSNN_SNN_RECORD_MEMBRANE,
} PhysnnSnnRecord;

/**
 * PhysnnSnnCounter:
 * @PHYSNN_SNN_COUNTER_STEPS: time steps
 * @PHYSNN_SNN_COUNTER_INPUT_SPIKES: nonzero input values
 * @PHYSNN_SNN_COUNTER_SPIKES: spikes of all spiking nodes
 * @PHYSNN_SNN_COUNTER_SYNOPS: synaptic operations, one per (presynaptic
 *   spike, target neuron) pair: what event-driven hardware performs
 * @PHYSNN_SNN_COUNTER_DENSE_SYNOPS: multiply-accumulates of a dense
 *   evaluation of the same steps
 * @PHYSNN_SNN_COUNTER_NEURON_UPDATES: neuron state updates (neurons × steps)
 * @PHYSNN_SNN_COUNTER_PLASTIC_UPDATES: weight changes made by STDP,
 *   synaptic scaling and sleep, and threshold changes made by intrinsic
 *   plasticity
 * @PHYSNN_SNN_COUNTER_EVENT_LAYERS: synaptic layers evaluated on the
 *   event-driven path (the rest ran dense)
 *
 * Counts of the last physnn_snn_run() call; energy models multiply them by
 * per-operation energies.
 */
typedef enum {
  PHYSNN_SNN_COUNTER_STEPS,
  PHYSNN_SNN_COUNTER_INPUT_SPIKES,
  PHYSNN_SNN_COUNTER_SPIKES,
  PHYSNN_SNN_COUNTER_SYNOPS,
  PHYSNN_SNN_COUNTER_DENSE_SYNOPS,
  PHYSNN_SNN_COUNTER_NEURON_UPDATES,
  PHYSNN_SNN_COUNTER_PLASTIC_UPDATES,
  PHYSNN_SNN_COUNTER_EVENT_LAYERS,
} PhysnnSnnCounter;

#define PHYSNN_SNN_N_COUNTERS (PHYSNN_SNN_COUNTER_EVENT_LAYERS + 1)

#define PHYSNN_TYPE_SNN (physnn_snn_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnSnn, physnn_snn, PHYSNN, SNN, GObject)

PhysnnSnn *physnn_snn_new (PhysnnNirGraph *graph, GError **error);
PhysnnSnn *physnn_snn_new_from_file (const gchar *path, GError **error);

gboolean physnn_snn_validate (PhysnnSnn *self, GError **error);
gsize physnn_snn_get_n_inputs (PhysnnSnn *self);
gsize physnn_snn_get_n_outputs (PhysnnSnn *self);
const gsize *physnn_snn_get_input_shape (PhysnnSnn *self, guint *rank);
const gsize *physnn_snn_get_output_shape (PhysnnSnn *self, guint *rank);
gboolean physnn_snn_output_is_spiking (PhysnnSnn *self);
gsize physnn_snn_get_n_recorded (PhysnnSnn *self, PhysnnSnnRecord record);
gsize physnn_snn_get_n_neurons (PhysnnSnn *self);
gchar *physnn_snn_describe (PhysnnSnn *self);

gboolean physnn_snn_run (PhysnnSnn *self, PhysnnDevice *device,
    PhysnnTensor *input, guint n_steps, PhysnnTensor *output,
    PhysnnSnnRecord record, GError **error);
PhysnnTensor *physnn_snn_run_new (PhysnnSnn *self, PhysnnDevice *device,
    PhysnnTensor *input, guint n_steps, PhysnnSnnRecord record,
    GError **error);
void physnn_snn_reset (PhysnnSnn *self);
guint64 physnn_snn_get_counter (PhysnnSnn *self, PhysnnSnnCounter counter);
guint64 physnn_snn_get_total (PhysnnSnn *self, PhysnnSnnCounter counter);
guint64 physnn_snn_get_step (PhysnnSnn *self);

PhysnnTensor *physnn_snn_get_weights (PhysnnSnn *self, const gchar *node,
    GError **error);
gboolean physnn_snn_set_weights (PhysnnSnn *self, const gchar *node,
    PhysnnTensor *weights, GError **error);
PhysnnTensor *physnn_snn_get_thresholds (PhysnnSnn *self, const gchar *node,
    GError **error);
PhysnnTensor *physnn_snn_get_rates (PhysnnSnn *self, const gchar *node,
    GError **error);

PhysnnNirGraph *physnn_snn_to_nir (PhysnnSnn *self);
gboolean physnn_snn_save (PhysnnSnn *self, const gchar *path,
    GError **error);

G_END_DECLS
