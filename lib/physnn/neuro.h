/* physnn — neuromorphic deployment: a layered view of a spiking network,
 * platform fitting (weight quantization, core allocation), exporters (NIR,
 * Lava-dl NetX, PyNN, spike JSON, Akida) and a Loihi-style fixed-point
 * simulation of the exported network.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "physnn/device.h"
#include "physnn/nir.h"
#include "physnn/tensor.h"

G_BEGIN_DECLS

/**
 * PhysnnNeuroPlatform:
 * @PHYSNN_NEURO_PLATFORM_GENERIC: no limits, float32 weights
 * @PHYSNN_NEURO_PLATFORM_LOIHI: Intel Loihi (Lava-dl NetX fixed point)
 * @PHYSNN_NEURO_PLATFORM_LOIHI2: Intel Loihi 2
 * @PHYSNN_NEURO_PLATFORM_SPINNAKER2: SpiNNaker 2 (through PyNN)
 * @PHYSNN_NEURO_PLATFORM_AKIDA: BrainChip Akida AKD1000
 * @PHYSNN_NEURO_PLATFORM_AKIDA2: BrainChip Akida 2.0 (IP; 8- or 4-bit)
 *
 * A deployment target; physnn_neuro_platform_get_limits() gives its limits
 * and docs/neuromorphic.md their sources.
 */
typedef enum {
  PHYSNN_NEURO_PLATFORM_GENERIC,
  PHYSNN_NEURO_PLATFORM_LOIHI,
  PHYSNN_NEURO_PLATFORM_LOIHI2,
  PHYSNN_NEURO_PLATFORM_SPINNAKER2,
  PHYSNN_NEURO_PLATFORM_AKIDA,
  PHYSNN_NEURO_PLATFORM_AKIDA2,
} PhysnnNeuroPlatform;

/**
 * PhysnnNeuroFormat:
 * @PHYSNN_NEURO_FORMAT_NIR: NIR HDF5 (the network as physnn runs it)
 * @PHYSNN_NEURO_FORMAT_LAVA_NETX: Lava-dl NetX HDF5 with Loihi fixed point
 * @PHYSNN_NEURO_FORMAT_PYNN: a runnable PyNN script plus its weight file
 *   (`PATH.weights.npz`)
 * @PHYSNN_NEURO_FORMAT_SPIKE_JSON: physnn's spike JSON
 *   (docs/spike-json.schema.json)
 * @PHYSNN_NEURO_FORMAT_AKIDA: Akida constraint check and a 4-bit-weight
 *   quantized ONNX for BrainChip's QuantizeML (the .fbz format is closed)
 *
 * What physnn_neuro_net_export() writes.
 */
typedef enum {
  PHYSNN_NEURO_FORMAT_NIR,
  PHYSNN_NEURO_FORMAT_LAVA_NETX,
  PHYSNN_NEURO_FORMAT_PYNN,
  PHYSNN_NEURO_FORMAT_SPIKE_JSON,
  PHYSNN_NEURO_FORMAT_AKIDA,
} PhysnnNeuroFormat;

/**
 * PhysnnNeuroLimits:
 * @name: platform name ("loihi" …)
 * @cores: cores (or processing elements) per chip, 0 for no limit
 * @neurons_per_core: neurons one core holds, 0 for no limit
 * @fan_in: presynaptic neurons one neuron (or core) accepts, 0 for no limit
 * @weight_bits: weight precision in bits, 0 for float32
 * @synapse_memory: bytes of synaptic memory per core, 0 for no limit
 * @source: where the figures come from, with their caveats
 *
 * Per-platform limits used by platform fitting.
 */
typedef struct {
  const gchar *name;
  guint cores;
  guint neurons_per_core;
  guint fan_in;
  guint weight_bits;
  guint64 synapse_memory;
  const gchar *source;
} PhysnnNeuroLimits;

const PhysnnNeuroLimits *physnn_neuro_platform_get_limits (
    PhysnnNeuroPlatform platform);
gboolean physnn_neuro_platform_from_string (
    const gchar *name, PhysnnNeuroPlatform *platform, GError **error);
gboolean physnn_neuro_format_from_string (
    const gchar *name, PhysnnNeuroFormat *format, GError **error);

#define PHYSNN_TYPE_NEURO_NET (physnn_neuro_net_get_type ())
G_DECLARE_FINAL_TYPE (
    PhysnnNeuroNet, physnn_neuro_net, PHYSNN, NEURO_NET, GObject)

PhysnnNeuroNet *physnn_neuro_net_new (
    PhysnnNirGraph *graph, gdouble dt, GError **error);
gdouble physnn_neuro_net_get_dt (PhysnnNeuroNet *self);
guint physnn_neuro_net_get_n_layers (PhysnnNeuroNet *self);
const gchar *physnn_neuro_net_get_layer_name (
    PhysnnNeuroNet *self, guint layer);
const gchar *physnn_neuro_net_get_layer_type (
    PhysnnNeuroNet *self, guint layer);
gsize physnn_neuro_net_get_n_inputs (PhysnnNeuroNet *self);
gsize physnn_neuro_net_get_n_outputs (PhysnnNeuroNet *self);
gsize physnn_neuro_net_get_n_neurons (PhysnnNeuroNet *self);
gsize physnn_neuro_net_get_n_synapses (PhysnnNeuroNet *self);
PhysnnNirGraph *physnn_neuro_net_to_nir (PhysnnNeuroNet *self);

gboolean physnn_neuro_net_check_platform (
    PhysnnNeuroNet *self, PhysnnNeuroPlatform platform, GError **error);
PhysnnNeuroNet *physnn_neuro_net_fit (
    PhysnnNeuroNet *self, PhysnnNeuroPlatform platform, GError **error);
PhysnnNeuroPlatform physnn_neuro_net_get_platform (PhysnnNeuroNet *self);
gchar *physnn_neuro_net_get_fit_report (PhysnnNeuroNet *self);

PhysnnTensor *physnn_neuro_net_run (PhysnnNeuroNet *self, PhysnnDevice *device,
    PhysnnTensor *input, GError **error);
PhysnnTensor *physnn_neuro_net_run_loihi (
    PhysnnNeuroNet *self, PhysnnTensor *input, GError **error);

gboolean physnn_neuro_net_export (PhysnnNeuroNet *self,
    PhysnnNeuroFormat format, const gchar *path, PhysnnTensor *input_spikes,
    PhysnnTensor *output_spikes, GError **error);

gdouble physnn_spike_agreement (PhysnnTensor *a, PhysnnTensor *b);

G_END_DECLS
