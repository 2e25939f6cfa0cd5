/* physnn — GstEnergyMeta: the energy estimate of one buffer's spiking work
 * on each neuromorphic and dense target (see physnn/energy.h), attached by
 * neuroexport. Estimates, not measurements.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>
#include <physnn/energy.h>

G_BEGIN_DECLS

/**
 * GstEnergyMeta:
 * @meta: the parent
 * @steps: time steps of the buffer
 * @synops: synaptic events counted
 * @dense_synops: multiply-accumulates of a dense evaluation
 * @neuron_updates: neuron updates counted
 * @spikes: spikes of the network
 * @joules: estimate per #PhysnnEnergyTarget, NaN where no published
 *   per-operation figure exists
 * @synaptic_joules: the synaptic part of @joules
 *
 * Energy estimate of the buffer from measured counts.
 */
typedef struct {
  GstMeta meta;

  guint64 steps;
  guint64 synops;
  guint64 dense_synops;
  guint64 neuron_updates;
  guint64 spikes;
  gdouble joules[PHYSNN_ENERGY_N_TARGETS];
  gdouble synaptic_joules[PHYSNN_ENERGY_N_TARGETS];
} GstEnergyMeta;

GType gst_energy_meta_api_get_type (void);
const GstMetaInfo *gst_energy_meta_get_info (void);
#define GST_ENERGY_META_API_TYPE (gst_energy_meta_api_get_type ())
#define GST_ENERGY_META_INFO (gst_energy_meta_get_info ())

GstEnergyMeta *gst_buffer_add_energy_meta (GstBuffer *buffer, guint64 steps,
    guint64 synops, guint64 dense_synops, guint64 neuron_updates,
    guint64 spikes);
#define gst_buffer_get_energy_meta(b)                                          \
  ((GstEnergyMeta *)gst_buffer_get_meta ((b), GST_ENERGY_META_API_TYPE))

GstStructure *gst_energy_structure_new (const gchar *name, guint64 steps,
    guint64 synops, guint64 dense_synops, guint64 neuron_updates,
    guint64 spikes);

G_END_DECLS
