/* physnn — recorded spike streams: address events kept for replay, saved
 * as an AER binary file with a JSON header (docs/neuromorphic.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "physnn/tensor.h"

G_BEGIN_DECLS

#define PHYSNN_TYPE_SPIKE_RECORD (physnn_spike_record_get_type ())
G_DECLARE_FINAL_TYPE (
    PhysnnSpikeRecord, physnn_spike_record, PHYSNN, SPIKE_RECORD, GObject)

PhysnnSpikeRecord *physnn_spike_record_new (gsize neurons, gdouble dt);
PhysnnSpikeRecord *physnn_spike_record_load (const gchar *path, GError **error);
PhysnnSpikeRecord *physnn_spike_record_load_from_bytes (
    GBytes *bytes, const gchar *label, GError **error);
gboolean physnn_spike_record_append (
    PhysnnSpikeRecord *self, PhysnnTensor *spikes, GError **error);
gboolean physnn_spike_record_save (
    PhysnnSpikeRecord *self, const gchar *path, GError **error);
gsize physnn_spike_record_get_neurons (PhysnnSpikeRecord *self);
guint64 physnn_spike_record_get_n_steps (PhysnnSpikeRecord *self);
guint64 physnn_spike_record_get_n_events (PhysnnSpikeRecord *self);
gdouble physnn_spike_record_get_dt (PhysnnSpikeRecord *self);
PhysnnTensor *physnn_spike_record_to_dense (
    PhysnnSpikeRecord *self, GError **error);

G_END_DECLS
