/* physnn — GstSnnMeta: what a spiking stage did for one buffer: spikes,
 * synaptic operations and neuron updates, the counts that neuromorphic
 * energy models multiply by per-operation energies.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/**
 * GstSnnMeta:
 * @meta: the parent
 * @element: name of the element that attached it (spikeenc, snninfer)
 * @steps: time steps the buffer covers
 * @neurons: neurons per step at the producing stage (encoder outputs, or
 *   every neuron of the network)
 * @input_spikes: spikes that entered the stage (0 for an encoder)
 * @spikes: spikes the stage emitted (all spiking nodes of a network)
 * @synops: synaptic operations: one per (presynaptic spike, target) pair,
 *   the event-driven count a neuromorphic chip performs
 * @dense_synops: multiply-accumulates a dense evaluation performs
 * @neuron_updates: neuron state updates (neurons × steps)
 * @plastic_updates: weight updates made by STDP and homeostasis
 *
 * Attached to every buffer by spikeenc and snninfer. Survives elements
 * that keep one output buffer per input buffer (the transform copies it).
 */
typedef struct {
  GstMeta meta;

  GQuark element;
  guint64 steps;
  guint64 neurons;
  guint64 input_spikes;
  guint64 spikes;
  guint64 synops;
  guint64 dense_synops;
  guint64 neuron_updates;
  guint64 plastic_updates;
} GstSnnMeta;

GType gst_snn_meta_api_get_type (void);
const GstMetaInfo *gst_snn_meta_get_info (void);
#define GST_SNN_META_API_TYPE (gst_snn_meta_api_get_type ())
#define GST_SNN_META_INFO (gst_snn_meta_get_info ())

GstSnnMeta *gst_buffer_add_snn_meta (GstBuffer *buffer, const gchar *element);
#define gst_buffer_get_snn_meta(b)                                             \
  ((GstSnnMeta *)gst_buffer_get_meta ((b), GST_SNN_META_API_TYPE))

GstStructure *gst_snn_meta_to_structure (
    const GstSnnMeta *meta, const gchar *name);

G_END_DECLS
