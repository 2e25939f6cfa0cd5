/* physnn — tensor stream descriptions: NNStreamer-compatible `other/tensors`
 * caps, and raw audio/video read as tensors.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>
#include <gst/audio/audio.h>
#include <gst/video/video.h>
#include <physnn/physnn.h>

G_BEGIN_DECLS

/* NNStreamer allows up to 256 tensors per buffer; so do we. */
#define GST_PHYSNN_MAX_TENSORS 256

#define GST_PHYSNN_TENSORS_CAPS_ANY \
  "other/tensors, format = (string) static, " \
  "num_tensors = (int) [ 1, 256 ], framerate = (fraction) [ 0/1, MAX ]"

#define GST_PHYSNN_AUDIO_CAPS \
  "audio/x-raw, format = (string) { F32LE, S16LE }, " \
  "layout = (string) interleaved, rate = (int) [ 1, MAX ], " \
  "channels = (int) [ 1, MAX ]"

#define GST_PHYSNN_VIDEO_GRAY_CAPS \
  "video/x-raw, format = (string) { GRAY8, GRAY16_LE }, " \
  "width = (int) [ 1, MAX ], height = (int) [ 1, MAX ], " \
  "framerate = (fraction) [ 0/1, MAX ]"

typedef enum {
  GST_PHYSNN_MEDIA_TENSORS,
  GST_PHYSNN_MEDIA_AUDIO,
  GST_PHYSNN_MEDIA_VIDEO,
  GST_PHYSNN_MEDIA_SPIKE_EVENTS,
} GstPhysnnMedia;

typedef struct {
  PhysnnDType dtype;
  guint rank;
  gsize shape[PHYSNN_MAX_RANK];  /* outermost first, as in the engine */
} GstPhysnnTensorInfo;

/* How buffers of a negotiated stream map to tensors. For audio the single
 * tensor is [samples][channels] with samples known per buffer (shape[0] is
 * 0 until then); for video it is [height][width]. */
typedef struct {
  GstPhysnnMedia media;
  guint n_tensors;
  GstPhysnnTensorInfo tensors[GST_PHYSNN_MAX_TENSORS];
  gint fps_n;
  gint fps_d;
  GstAudioInfo audio;
  GstVideoInfo video;
  /* Spike trains: when spike_steps > 0, tensor 0 is a dense uint8 spike
   * train [spike_steps][spike_planes][neurons…] (plane 0 on spikes, plane
   * 1 off spikes) that can also travel as application/x-spike-events (see
   * gstspikeevents.h); with media SPIKE_EVENTS it does, and the base class
   * converts. */
  guint spike_steps;
  guint spike_planes;
} GstPhysnnTensorsInfo;

void gst_physnn_tensors_info_init (GstPhysnnTensorsInfo *info);
gboolean gst_physnn_tensors_info_from_caps (GstPhysnnTensorsInfo *info,
    const GstCaps *caps, GError **error);
gboolean gst_physnn_tensors_info_from_structure (GstPhysnnTensorsInfo *info,
    const GstStructure *s, GError **error);
GstCaps *gst_physnn_tensors_info_to_caps (const GstPhysnnTensorsInfo *info);
GstCaps *gst_physnn_tensors_info_to_spike_events_caps (
    const GstPhysnnTensorsInfo *info);
gboolean gst_physnn_tensors_info_is_equal (const GstPhysnnTensorsInfo *a,
    const GstPhysnnTensorsInfo *b);
gboolean gst_physnn_tensor_info_same_layout (const GstPhysnnTensorInfo *x,
    const GstPhysnnTensorInfo *y);
gsize gst_physnn_tensor_info_get_size (const GstPhysnnTensorInfo *t);
gsize gst_physnn_tensor_info_get_count (const GstPhysnnTensorInfo *t);
void gst_physnn_tensor_info_set (GstPhysnnTensorInfo *t, PhysnnDType dtype,
    guint rank, const gsize *shape);

gboolean gst_physnn_parse_dimension (const gchar *str, guint *rank,
    gsize *shape, GError **error);
gchar *gst_physnn_dimension_to_string (const GstPhysnnTensorInfo *t);
gboolean gst_physnn_tensor_info_fits_shape (const GstPhysnnTensorInfo *t,
    const gint64 *dims, guint rank);

G_END_DECLS
