/* physnn — application/x-spike-events: a sparse address-event (AER) spike
 * stream, and its conversion to and from dense uint8 spike trains.
 * The format is specified in docs/spike-events.md.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_SPIKE_EVENTS_MEDIA_TYPE "application/x-spike-events"

#define GST_SPIKE_EVENTS_CAPS                                                  \
  GST_SPIKE_EVENTS_MEDIA_TYPE                                                  \
      ", neurons = (int) [ 1, MAX ], "                                         \
      "steps = (int) [ 1, MAX ], polarity = (boolean) { false, true }, "       \
      "framerate = (fraction) [ 0/1, MAX ]"

/* "SPEV" read as a little-endian 32-bit word */
#define GST_SPIKE_EVENTS_MAGIC 0x56455053u
#define GST_SPIKE_EVENTS_VERSION 1
#define GST_SPIKE_EVENTS_HEADER_SIZE 32
#define GST_SPIKE_EVENT_SIZE 16
/* bit 31 of an event's step word: an off (negative) spike */
#define GST_SPIKE_EVENT_OFF 0x80000000u

GstMemory *gst_spike_events_encode (const guint8 *dense, guint steps,
    guint planes, guint neurons, GstClockTime pts, GstClockTime duration,
    guint64 *n_events);
gboolean gst_spike_events_decode (const guint8 *data, gsize size, guint steps,
    guint planes, guint neurons, guint8 *dense, guint64 *n_events,
    GError **error);
GstClockTime gst_spike_events_step_time (
    GstClockTime pts, GstClockTime duration, guint steps, guint step);

G_END_DECLS
