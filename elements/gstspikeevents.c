/* physnn — application/x-spike-events encoding and decoding.
 *
 * A buffer is a 32-byte header and 16-byte events, little endian (see
 * docs/spike-events.md):
 *
 *   header  u32 magic "SPEV", u16 version 1, u16 header size 32,
 *           u32 events, u32 steps, u64 t0 (ns), u64 duration (ns)
 *   event   u64 timestamp (ns), u32 address, u32 step | off << 31
 *
 * Step k of a buffer starts at t0 + floor(k · duration / steps), the time
 * every event of that step carries; the step index travels too, so a
 * reader never has to invert the rounding. Events are sorted by step, on
 * before off, then by address.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "gstspikeevents.h"

#include <physnn/physnn.h>
#include <string.h>

GstClockTime
gst_spike_events_step_time (
    GstClockTime pts, GstClockTime duration, guint steps, guint step)
{
  if (!GST_CLOCK_TIME_IS_VALID (pts))
    return GST_CLOCK_TIME_NONE;
  if (!GST_CLOCK_TIME_IS_VALID (duration) || steps == 0)
    return pts;
  return pts + gst_util_uint64_scale_int (duration, (gint)step, (gint)steps);
}

/**
 * gst_spike_events_encode:
 * @dense: uint8 [steps][planes][neurons]; nonzero is a spike
 * @steps: time steps in @dense
 * @planes: 1, or 2 with an off plane after the on plane
 * @neurons: neurons per plane
 * @pts: time of step 0, or GST_CLOCK_TIME_NONE
 * @duration: time covered by the @steps steps, or GST_CLOCK_TIME_NONE
 * @n_events: (out): events written
 *
 * Returns: (transfer full): a memory holding the header and the events
 */
GstMemory *
gst_spike_events_encode (const guint8 *dense, guint steps, guint planes,
    guint neurons, GstClockTime pts, GstClockTime duration, guint64 *n_events)
{
  guint64 count = 0;
  gsize cells = (gsize)steps * planes * neurons;
  for (gsize i = 0; i < cells; i++)
    count += dense[i] != 0;
  /* At most steps·planes·neurons events; the caps limit each to 2^31. */
  gsize size = GST_SPIKE_EVENTS_HEADER_SIZE + count * GST_SPIKE_EVENT_SIZE;
  GstMemory *mem = gst_allocator_alloc (NULL, size, NULL);
  GstMapInfo map;
  if (mem == NULL || !gst_memory_map (mem, &map, GST_MAP_WRITE)) {
    if (mem)
      gst_memory_unref (mem);
    return NULL;
  }
  guint8 *p = map.data;
  guint64 none = G_MAXUINT64;
  GST_WRITE_UINT32_LE (p, GST_SPIKE_EVENTS_MAGIC);
  GST_WRITE_UINT16_LE (p + 4, GST_SPIKE_EVENTS_VERSION);
  GST_WRITE_UINT16_LE (p + 6, GST_SPIKE_EVENTS_HEADER_SIZE);
  GST_WRITE_UINT32_LE (p + 8, (guint32)MIN (count, G_MAXUINT32));
  GST_WRITE_UINT32_LE (p + 12, steps);
  GST_WRITE_UINT64_LE (p + 16, GST_CLOCK_TIME_IS_VALID (pts) ? pts : none);
  GST_WRITE_UINT64_LE (
      p + 24, GST_CLOCK_TIME_IS_VALID (duration) ? duration : none);
  p += GST_SPIKE_EVENTS_HEADER_SIZE;
  for (guint s = 0; s < steps; s++) {
    GstClockTime t = gst_spike_events_step_time (pts, duration, steps, s);
    for (guint pl = 0; pl < planes; pl++) {
      const guint8 *row = dense + ((gsize)s * planes + pl) * neurons;
      for (guint a = 0; a < neurons; a++) {
        if (!row[a])
          continue;
        GST_WRITE_UINT64_LE (p, GST_CLOCK_TIME_IS_VALID (t) ? t : none);
        GST_WRITE_UINT32_LE (p + 8, a);
        GST_WRITE_UINT32_LE (p + 12, s | (pl ? GST_SPIKE_EVENT_OFF : 0));
        p += GST_SPIKE_EVENT_SIZE;
      }
    }
  }
  gst_memory_unmap (mem, &map);
  *n_events = count;
  return mem;
}

/**
 * gst_spike_events_decode:
 * @data: a whole event buffer
 * @size: its size
 * @steps: steps the caps promise per buffer
 * @planes: 2 when the caps say polarity=true, else 1
 * @neurons: neurons the caps promise
 * @dense: (out caller-allocates): uint8 [steps][planes][neurons], cleared
 *   and filled with 1 at every event
 * @n_events: (out): events read
 * @error: return location for a #GError
 *
 * Every field is checked against the caps: a corrupt or foreign buffer
 * gives an error naming the field, never an out-of-range write.
 *
 * Returns: %TRUE on success
 */
gboolean
gst_spike_events_decode (const guint8 *data, gsize size, guint steps,
    guint planes, guint neurons, guint8 *dense, guint64 *n_events,
    GError **error)
{
  if (size < GST_SPIKE_EVENTS_HEADER_SIZE) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "spike-event buffer of %" G_GSIZE_FORMAT " bytes is shorter than "
        "its %d-byte header",
        size, GST_SPIKE_EVENTS_HEADER_SIZE);
    return FALSE;
  }
  guint32 magic = GST_READ_UINT32_LE (data);
  guint16 version = GST_READ_UINT16_LE (data + 4);
  guint16 hsize = GST_READ_UINT16_LE (data + 6);
  guint32 count = GST_READ_UINT32_LE (data + 8);
  guint32 nsteps = GST_READ_UINT32_LE (data + 12);
  if (magic != GST_SPIKE_EVENTS_MAGIC) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "spike-event buffer: magic is 0x%08x, expected 0x%08x (\"SPEV\")",
        magic, GST_SPIKE_EVENTS_MAGIC);
    return FALSE;
  }
  if (version != GST_SPIKE_EVENTS_VERSION ||
      hsize < GST_SPIKE_EVENTS_HEADER_SIZE || hsize > size) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "spike-event buffer: version %u with a %u-byte header is not "
        "supported (version 1, header of at least 32 bytes)",
        version, hsize);
    return FALSE;
  }
  if (nsteps != steps) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "spike-event buffer covers %u steps but the caps say steps=%u", nsteps,
        steps);
    return FALSE;
  }
  if ((size - hsize) / GST_SPIKE_EVENT_SIZE < count ||
      (size - hsize) % GST_SPIKE_EVENT_SIZE != 0 ||
      (size - hsize) / GST_SPIKE_EVENT_SIZE != count) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "spike-event buffer: the header announces %u events but "
        "%" G_GSIZE_FORMAT " bytes follow it (%d per event)",
        count, size - hsize, GST_SPIKE_EVENT_SIZE);
    return FALSE;
  }
  memset (dense, 0, (gsize)steps * planes * neurons);
  const guint8 *p = data + hsize;
  for (guint32 i = 0; i < count; i++, p += GST_SPIKE_EVENT_SIZE) {
    guint32 addr = GST_READ_UINT32_LE (p + 8);
    guint32 word = GST_READ_UINT32_LE (p + 12);
    guint32 step = word & ~GST_SPIKE_EVENT_OFF;
    guint plane = (word & GST_SPIKE_EVENT_OFF) ? 1 : 0;
    if (addr >= neurons || step >= steps || plane >= planes) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
          "spike event %u: address %u, step %u, %s spike is outside the "
          "stream's %u neurons, %u steps%s",
          i, addr, step, plane ? "off" : "on", neurons, steps,
          planes == 1 ? " and on spikes only (polarity=false)" : "");
      return FALSE;
    }
    dense[((gsize)step * planes + plane) * neurons + addr] = 1;
  }
  *n_events = count;
  return TRUE;
}
