/* physnn — GstPhysnnFilter, the shared base of physnn filter elements.
 *
 * It turns buffers into PhysnnTensor views and back, so elements only deal
 * with engine calls: caps → tensor descriptions (with messages that quote
 * the bad field), one GstMemory per output tensor, the compute device, NaN
 * screening, and measured processing time that feeds both the `stats`
 * property and the latency query.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstphysnnfilter.h"
#include "gstspikeevents.h"

#include <gst/base/gstadapter.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_physnn_filter_debug);
#define GST_CAT_DEFAULT gst_physnn_filter_debug

#define DEFAULT_DEVICE "auto"
#define DEFAULT_NONFINITE GST_PHYSNN_NONFINITE_ERROR
#define DEFAULT_FRAMES_PER_TENSOR 0

enum {
  PROP_0,
  PROP_DEVICE,
  PROP_NONFINITE,
  PROP_FRAMES_PER_TENSOR,
  PROP_STATS,
};

typedef struct {
  gchar *device_spec;
  GstPhysnnNonfinite nonfinite;
  guint frames_per_tensor;
  GstAdapter *adapter;

  PhysnnDevice *device;
  GstPhysnnTensorsInfo *in_info;
  GstPhysnnTensorsInfo *out_info;
  gboolean configured;

  GMutex stats_lock;
  guint64 buffers;
  guint64 dropped;
  gint64 total_us;
  gint64 max_us;
  gint64 last_us;
  GstClockTime reported_latency;
} GstPhysnnFilterPrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (GstPhysnnFilter, gst_physnn_filter,
    GST_TYPE_BASE_TRANSFORM);

#define PRIV(f) \
  ((GstPhysnnFilterPrivate *) gst_physnn_filter_get_instance_private (f))

GType
gst_physnn_nonfinite_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_PHYSNN_NONFINITE_ERROR, "Stop with an error", "error"},
    {GST_PHYSNN_NONFINITE_DROP, "Drop the buffer and warn", "drop"},
    {GST_PHYSNN_NONFINITE_PASS, "Process the buffer anyway", "pass"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstPhysnnNonfinite", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

/* ------------------------------------------------------------------------ */
/* Errors */

/* Maps an engine error to a GStreamer error domain and posts it. */
void
gst_physnn_filter_post_error (GstPhysnnFilter *self, const GError *error,
    const gchar *context)
{
  GQuark domain = GST_STREAM_ERROR;
  gint code = GST_STREAM_ERROR_FAILED;

  if (error->domain == PHYSNN_ERROR) {
    switch (error->code) {
      case PHYSNN_ERROR_NO_DEVICE:
      case PHYSNN_ERROR_DEVICE:
      case PHYSNN_ERROR_KERNEL_BUILD:
        domain = GST_RESOURCE_ERROR;
        code = GST_RESOURCE_ERROR_FAILED;
        break;
      case PHYSNN_ERROR_INVALID_ARGUMENT:
        domain = GST_RESOURCE_ERROR;
        code = GST_RESOURCE_ERROR_SETTINGS;
        break;
      case PHYSNN_ERROR_IO:
        domain = GST_RESOURCE_ERROR;
        code = GST_RESOURCE_ERROR_READ;
        break;
      case PHYSNN_ERROR_SHAPE:
      case PHYSNN_ERROR_PARSE:
      case PHYSNN_ERROR_NOT_SUPPORTED:
        code = GST_STREAM_ERROR_FORMAT;
        break;
      default:
        break;
    }
  }
  gst_element_message_full (GST_ELEMENT (self), GST_MESSAGE_ERROR, domain,
      code, g_strdup (error->message), context ? g_strdup (context) : NULL,
      __FILE__, GST_FUNCTION, __LINE__);
}

/* ------------------------------------------------------------------------ */
/* Properties */

static void
gst_physnn_filter_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstPhysnnFilterPrivate *priv = PRIV (GST_PHYSNN_FILTER (object));

  switch (prop_id) {
    case PROP_DEVICE:
      GST_OBJECT_LOCK (object);
      g_free (priv->device_spec);
      priv->device_spec = g_value_dup_string (value);
      GST_OBJECT_UNLOCK (object);
      break;
    case PROP_NONFINITE:
      priv->nonfinite = g_value_get_enum (value);
      break;
    case PROP_FRAMES_PER_TENSOR:
      priv->frames_per_tensor = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static GstStructure *
make_stats (GstPhysnnFilter *self)
{
  GstPhysnnFilterPrivate *priv = PRIV (self);
  GstStructure *s;

  g_mutex_lock (&priv->stats_lock);
  s = gst_structure_new ("physnn-stats",
      "buffers", G_TYPE_UINT64, priv->buffers,
      "dropped", G_TYPE_UINT64, priv->dropped,
      "mean-ms", G_TYPE_DOUBLE, priv->buffers ?
      priv->total_us / 1000.0 / priv->buffers : 0.0,
      "max-ms", G_TYPE_DOUBLE, priv->max_us / 1000.0,
      "last-ms", G_TYPE_DOUBLE, priv->last_us / 1000.0,
      "device", G_TYPE_STRING, priv->device ?
      physnn_device_get_spec (priv->device) : "(not open)",
      "device-name", G_TYPE_STRING, priv->device ?
      physnn_device_get_name (priv->device) : "", NULL);
  g_mutex_unlock (&priv->stats_lock);
  return s;
}

static void
gst_physnn_filter_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec)
{
  GstPhysnnFilter *self = GST_PHYSNN_FILTER (object);
  GstPhysnnFilterPrivate *priv = PRIV (self);

  switch (prop_id) {
    case PROP_DEVICE:
      GST_OBJECT_LOCK (object);
      g_value_set_string (value, priv->device_spec);
      GST_OBJECT_UNLOCK (object);
      break;
    case PROP_NONFINITE:
      g_value_set_enum (value, priv->nonfinite);
      break;
    case PROP_FRAMES_PER_TENSOR:
      g_value_set_uint (value, priv->frames_per_tensor);
      break;
    case PROP_STATS:
      g_value_take_boxed (value, make_stats (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

/* ------------------------------------------------------------------------ */
/* Lifecycle */

static gboolean
gst_physnn_filter_start (GstBaseTransform *trans)
{
  GstPhysnnFilter *self = GST_PHYSNN_FILTER (trans);
  GstPhysnnFilterPrivate *priv = PRIV (self);
  g_autoptr (GError) error = NULL;
  g_autofree gchar *spec = NULL;

  GST_OBJECT_LOCK (self);
  spec = g_strdup (priv->device_spec);
  GST_OBJECT_UNLOCK (self);

  priv->device = physnn_device_new (spec, &error);
  if (priv->device == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", error->message),
        ("device property is \"%s\"", spec ? spec : "(null)"));
    return FALSE;
  }
  if (physnn_device_get_fallback_reason (priv->device) != NULL)
    GST_ELEMENT_WARNING (self, RESOURCE, NOT_FOUND,
        ("No OpenCL device; computing on the reference C path"),
        ("%s", physnn_device_get_fallback_reason (priv->device)));
  GST_INFO_OBJECT (self, "computing on %s (%s)",
      physnn_device_get_spec (priv->device),
      physnn_device_get_name (priv->device));

  g_mutex_lock (&priv->stats_lock);
  priv->buffers = priv->dropped = 0;
  priv->total_us = priv->max_us = priv->last_us = 0;
  priv->reported_latency = 0;
  g_mutex_unlock (&priv->stats_lock);
  priv->configured = FALSE;
  return TRUE;
}

static gboolean
gst_physnn_filter_stop (GstBaseTransform *trans)
{
  GstPhysnnFilterPrivate *priv = PRIV (GST_PHYSNN_FILTER (trans));
  g_mutex_lock (&priv->stats_lock);
  g_clear_object (&priv->device);
  g_mutex_unlock (&priv->stats_lock);
  gst_adapter_clear (priv->adapter);
  priv->configured = FALSE;
  return TRUE;
}

static void
gst_physnn_filter_finalize (GObject *object)
{
  GstPhysnnFilterPrivate *priv = PRIV (GST_PHYSNN_FILTER (object));
  g_free (priv->device_spec);
  g_clear_object (&priv->device);
  g_clear_object (&priv->adapter);
  g_free (priv->in_info);
  g_free (priv->out_info);
  g_mutex_clear (&priv->stats_lock);
  G_OBJECT_CLASS (gst_physnn_filter_parent_class)->finalize (object);
}

/* ------------------------------------------------------------------------ */
/* Negotiation */

static gboolean
default_get_output_info (GstPhysnnFilter *self, const GstPhysnnTensorsInfo *in,
    GstPhysnnTensorsInfo *out, GError **error)
{
  if (in->media == GST_PHYSNN_MEDIA_AUDIO && in->tensors[0].shape[0] == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "audio input needs frames-per-tensor > 0 so that tensors have a "
        "fixed number of samples");
    return FALSE;
  }
  memcpy (out, in, sizeof *out);
  out->media = GST_PHYSNN_MEDIA_TENSORS;
  return TRUE;
}

/* Audio is cut into tensors of frames-per-tensor samples when set. */
static gboolean
parse_input (GstPhysnnFilter *self, const GstStructure *s,
    GstPhysnnTensorsInfo *in, GError **error)
{
  if (!gst_physnn_tensors_info_from_structure (in, s, error))
    return FALSE;
  if (in->media == GST_PHYSNN_MEDIA_AUDIO) {
    guint n = PRIV (self)->frames_per_tensor;
    in->tensors[0].shape[0] = n;
    if (n > 0) {
      /* One tensor per n frames: that is the tensor rate. */
      in->fps_n = GST_AUDIO_INFO_RATE (&in->audio);
      in->fps_d = (gint) n;
    }
  }
  return TRUE;
}

static gboolean
get_output_info (GstPhysnnFilter *self, const GstPhysnnTensorsInfo *in,
    GstPhysnnTensorsInfo *out, GError **error)
{
  GstPhysnnFilterClass *klass = GST_PHYSNN_FILTER_GET_CLASS (self);
  gst_physnn_tensors_info_init (out);
  if (!klass->get_output_info (self, in, out, error))
    return FALSE;
  if (out->fps_n == 0 && out->fps_d == 1) {
    out->fps_n = in->fps_n;
    out->fps_d = in->fps_d;
  }
  return TRUE;
}

static GstCaps *
gst_physnn_filter_transform_caps (GstBaseTransform *trans,
    GstPadDirection direction, GstCaps *caps, GstCaps *filter)
{
  GstPhysnnFilter *self = GST_PHYSNN_FILTER (trans);
  GstCaps *result;

  if (direction == GST_PAD_SINK) {
    g_autofree GstPhysnnTensorsInfo *in = g_new (GstPhysnnTensorsInfo, 1);
    g_autofree GstPhysnnTensorsInfo *out = g_new (GstPhysnnTensorsInfo, 1);
    g_autoptr (GstCaps) templ =
        gst_pad_get_pad_template_caps (GST_BASE_TRANSFORM_SRC_PAD (trans));

    result = gst_caps_new_empty ();
    for (guint i = 0; i < gst_caps_get_size (caps); i++) {
      GstStructure *s = gst_caps_get_structure (caps, i);
      g_autoptr (GstCaps) one = gst_caps_new_full (gst_structure_copy (s),
          NULL);
      g_autoptr (GError) error = NULL;

      /* Unfixed or unparseable input maps to "anything we produce": a bad
       * caps string must reach the CAPS event, where its error is posted
       * with the offending field quoted, rather than fail silently here. */
      if (gst_caps_is_fixed (one) && parse_input (self, s, in, NULL)) {
        if (get_output_info (self, in, out, &error)) {
          result = gst_caps_merge (result,
              gst_physnn_tensors_info_to_caps (out));
          /* A dense spike train may also leave as events, where the
           * element's source template allows them. */
          if (out->spike_steps > 0 && out->media == GST_PHYSNN_MEDIA_TENSORS) {
            GstCaps *ev = gst_physnn_tensors_info_to_spike_events_caps (out);
            GstCaps *ok = gst_caps_intersect (ev, templ);
            gst_caps_unref (ev);
            result = gst_caps_merge (result, ok);
          }
          continue;
        }
        GST_DEBUG_OBJECT (self, "no output for %" GST_PTR_FORMAT ": %s", one,
            error->message);
      }
      result = gst_caps_merge (result, gst_caps_ref (templ));
    }
  } else {
    result = gst_pad_get_pad_template_caps (GST_BASE_TRANSFORM_SINK_PAD
        (trans));
  }

  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, result,
        GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (result);
    result = tmp;
  }
  GST_LOG_OBJECT (self, "%s %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT,
      direction == GST_PAD_SINK ? "sink" : "src", caps, result);
  return result;
}

static void clear_adapter_on (GstBaseTransform *trans, GstEvent *event);

static gboolean
gst_physnn_filter_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstPhysnnFilter *self = GST_PHYSNN_FILTER (trans);

  if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS) {
    GstCaps *caps;
    g_autofree GstPhysnnTensorsInfo *in = g_new (GstPhysnnTensorsInfo, 1);
    g_autofree GstPhysnnTensorsInfo *out = g_new (GstPhysnnTensorsInfo, 1);
    g_autoptr (GError) error = NULL;

    gst_event_parse_caps (event, &caps);
    if (gst_caps_get_size (caps) == 0) {
      g_set_error (&error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE, "empty caps");
    } else if (parse_input (self, gst_caps_get_structure (caps, 0), in,
            &error)) {
      get_output_info (self, in, out, &error);
    }
    if (error != NULL) {
      g_autofree gchar *str = gst_caps_to_string (caps);
      GST_ELEMENT_ERROR (self, STREAM, FORMAT,
          ("Cannot process input caps: %s", error->message),
          ("input caps: %s", str));
      gst_event_unref (event);
      return FALSE;
    }
  }
  clear_adapter_on (trans, event);
  return GST_BASE_TRANSFORM_CLASS (gst_physnn_filter_parent_class)->sink_event
      (trans, event);
}

static gboolean
gst_physnn_filter_set_caps (GstBaseTransform *trans, GstCaps *incaps,
    GstCaps *outcaps)
{
  GstPhysnnFilter *self = GST_PHYSNN_FILTER (trans);
  GstPhysnnFilterPrivate *priv = PRIV (self);
  GstPhysnnFilterClass *klass = GST_PHYSNN_FILTER_GET_CLASS (self);
  g_autoptr (GError) error = NULL;

  if (priv->in_info == NULL) {
    priv->in_info = g_new (GstPhysnnTensorsInfo, 1);
    priv->out_info = g_new (GstPhysnnTensorsInfo, 1);
  }
  if (!parse_input (self, gst_caps_get_structure (incaps, 0), priv->in_info,
          &error) ||
      !gst_physnn_tensors_info_from_caps (priv->out_info, outcaps, &error)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("%s", error->message),
        ("in %" GST_PTR_FORMAT ", out %" GST_PTR_FORMAT, incaps, outcaps));
    return FALSE;
  }
  if (klass->setup && !klass->setup (self, priv->in_info, priv->out_info,
          &error)) {
    gst_physnn_filter_post_error (self, error, NULL);
    return FALSE;
  }
  priv->configured = TRUE;
  return TRUE;
}

/* One GstMemory per output tensor, as NNStreamer does. */
static GstFlowReturn
gst_physnn_filter_prepare_output_buffer (GstBaseTransform *trans,
    GstBuffer *input, GstBuffer **outbuf)
{
  GstPhysnnFilterPrivate *priv = PRIV (GST_PHYSNN_FILTER (trans));
  GstBaseTransformClass *bclass = GST_BASE_TRANSFORM_GET_CLASS (trans);

  if (!gst_base_transform_is_passthrough (trans) && priv->configured &&
      priv->out_info->media == GST_PHYSNN_MEDIA_SPIKE_EVENTS) {
    /* Events: the size is known only after processing, see transform. */
    *outbuf = gst_buffer_new ();
    if (bclass->copy_metadata && !bclass->copy_metadata (trans, input,
            *outbuf))
      GST_WARNING_OBJECT (trans, "could not copy metadata");
    return GST_FLOW_OK;
  }
  if (gst_base_transform_is_passthrough (trans) || !priv->configured ||
      priv->out_info->media != GST_PHYSNN_MEDIA_TENSORS)
    return GST_BASE_TRANSFORM_CLASS
        (gst_physnn_filter_parent_class)->prepare_output_buffer (trans, input,
        outbuf);

  *outbuf = gst_buffer_new ();
  for (guint i = 0; i < priv->out_info->n_tensors; i++) {
    gsize size = gst_physnn_tensor_info_get_size (&priv->out_info->tensors[i]);
    GstMemory *mem = gst_allocator_alloc (NULL, MAX (size, 1), NULL);
    if (mem == NULL) {
      gst_buffer_unref (*outbuf);
      *outbuf = NULL;
      GST_ELEMENT_ERROR (trans, RESOURCE, NO_SPACE_LEFT,
          ("Cannot allocate %" G_GSIZE_FORMAT " bytes for output tensor %u",
              size, i), (NULL));
      return GST_FLOW_ERROR;
    }
    gst_memory_resize (mem, 0, size);
    gst_buffer_append_memory (*outbuf, mem);
  }
  if (bclass->copy_metadata && !bclass->copy_metadata (trans, input, *outbuf))
    GST_WARNING_OBJECT (trans, "could not copy metadata");
  return GST_FLOW_OK;
}

/* ------------------------------------------------------------------------ */
/* Buffers to tensors */

typedef struct {
  guint n;
  PhysnnTensor *tensors[GST_PHYSNN_MAX_TENSORS];
  GstMemory *mems[GST_PHYSNN_MAX_TENSORS];
  GstMapInfo maps[GST_PHYSNN_MAX_TENSORS];
  guint n_maps;
  GstBuffer *whole;             /* set when the whole buffer was mapped */
  GstMapInfo whole_map;
} TensorMapping;

static void
mapping_clear (TensorMapping *m)
{
  for (guint i = 0; i < m->n; i++)
    g_clear_object (&m->tensors[i]);
  for (guint i = 0; i < m->n_maps; i++)
    gst_memory_unmap (m->mems[i], &m->maps[i]);
  if (m->whole)
    gst_buffer_unmap (m->whole, &m->whole_map);
  m->n = m->n_maps = 0;
  m->whole = NULL;
}

static gboolean
map_tensors (GstPhysnnFilter *self, GstBuffer *buf,
    const GstPhysnnTensorsInfo *info, GstMapFlags flags, TensorMapping *m,
    GError **error)
{
  guint n_mem = gst_buffer_n_memory (buf);
  gsize expected = 0;

  memset (m, 0, sizeof *m);
  for (guint i = 0; i < info->n_tensors; i++)
    expected += gst_physnn_tensor_info_get_size (&info->tensors[i]);

  if (n_mem == info->n_tensors) {
    /* The usual case: map each tensor's memory, no copy. */
    for (guint i = 0; i < n_mem; i++) {
      const GstPhysnnTensorInfo *t = &info->tensors[i];
      gsize want = gst_physnn_tensor_info_get_size (t);
      m->mems[i] = gst_buffer_peek_memory (buf, i);
      if (!gst_memory_map (m->mems[i], &m->maps[i], flags)) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO,
            "cannot map memory of tensor %u", i);
        mapping_clear (m);
        return FALSE;
      }
      m->n_maps++;
      if (m->maps[i].size != want) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
            "tensor %u has %" G_GSIZE_FORMAT " bytes but the caps say %"
            G_GSIZE_FORMAT " (%s)", i, m->maps[i].size, want,
            physnn_dtype_to_string (t->dtype));
        mapping_clear (m);
        return FALSE;
      }
      m->tensors[i] = physnn_tensor_new_wrapped (t->dtype, t->rank, t->shape,
          m->maps[i].data, m->maps[i].size, NULL, NULL);
      m->n++;
    }
    return TRUE;
  }

  /* Other producers put all tensors in one memory: split by size. */
  if (!gst_buffer_map (buf, &m->whole_map, flags)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO, "cannot map buffer");
    return FALSE;
  }
  m->whole = buf;
  if (m->whole_map.size != expected) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "buffer of %" G_GSIZE_FORMAT " bytes in %u memories does not match "
        "the caps: %u tensors of %" G_GSIZE_FORMAT " bytes in all",
        m->whole_map.size, n_mem, info->n_tensors, expected);
    mapping_clear (m);
    return FALSE;
  }
  gsize off = 0;
  for (guint i = 0; i < info->n_tensors; i++) {
    const GstPhysnnTensorInfo *t = &info->tensors[i];
    gsize size = gst_physnn_tensor_info_get_size (t);
    m->tensors[i] = physnn_tensor_new_wrapped (t->dtype, t->rank, t->shape,
        m->whole_map.data + off, size, NULL, NULL);
    m->n++;
    off += size;
  }
  return TRUE;
}

static gboolean
map_input (GstPhysnnFilter *self, GstBuffer *buf, TensorMapping *m,
    GError **error)
{
  const GstPhysnnTensorsInfo *info = PRIV (self)->in_info;

  if (info->media == GST_PHYSNN_MEDIA_TENSORS)
    return map_tensors (self, buf, info, GST_MAP_READ, m, error);

  memset (m, 0, sizeof *m);
  if (!gst_buffer_map (buf, &m->whole_map, GST_MAP_READ)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO, "cannot map buffer");
    return FALSE;
  }
  m->whole = buf;
  const GstPhysnnTensorInfo *t = &info->tensors[0];

  if (info->media == GST_PHYSNN_MEDIA_SPIKE_EVENTS) {
    /* Events become the dense spike train they describe. */
    guint64 n_events = 0;
    gsize neurons = gst_physnn_tensor_info_get_count (t) / info->spike_steps /
        info->spike_planes;
    m->tensors[0] = physnn_tensor_new (PHYSNN_DTYPE_UINT8, t->rank, t->shape);
    m->n = 1;
    guint8 *dense = physnn_tensor_map (m->tensors[0], PHYSNN_MAP_WRITE, NULL);
    gboolean ok = gst_spike_events_decode (m->whole_map.data,
        m->whole_map.size, info->spike_steps, info->spike_planes,
        (guint) neurons, dense, &n_events, error);
    physnn_tensor_unmap (m->tensors[0]);
    if (!ok)
      mapping_clear (m);
    return ok;
  }

  if (info->media == GST_PHYSNN_MEDIA_AUDIO) {
    gsize frame = (gsize) GST_AUDIO_INFO_BPF (&info->audio);
    if (frame == 0 || m->whole_map.size % frame != 0) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "audio buffer of %" G_GSIZE_FORMAT " bytes is not a whole number "
          "of %" G_GSIZE_FORMAT "-byte frames", m->whole_map.size, frame);
      mapping_clear (m);
      return FALSE;
    }
    gsize shape[2] = { m->whole_map.size / frame, t->shape[1] };
    if (t->shape[0] != 0 && shape[0] != t->shape[0]) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "audio chunk of %" G_GSIZE_FORMAT " frames, expected %"
          G_GSIZE_FORMAT, shape[0], t->shape[0]);
      mapping_clear (m);
      return FALSE;
    }
    m->tensors[0] = physnn_tensor_new_wrapped (t->dtype, 2, shape,
        m->whole_map.data, m->whole_map.size, NULL, NULL);
    m->n = 1;
    return TRUE;
  }

  /* Video: rows may be padded (GStreamer aligns strides to 4 bytes), so
   * copy into a packed tensor when they are. */
  const GstVideoInfo *vi = &info->video;
  gsize height = t->shape[0], width = t->shape[1];
  gsize row = width * physnn_dtype_get_size (t->dtype);
  gsize stride = (gsize) GST_VIDEO_INFO_PLANE_STRIDE (vi, 0);
  gsize offset = GST_VIDEO_INFO_PLANE_OFFSET (vi, 0);
  if (m->whole_map.size < offset + (height - 1) * stride + row) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "video buffer of %" G_GSIZE_FORMAT " bytes is too small for %"
        G_GSIZE_FORMAT "x%" G_GSIZE_FORMAT " %s", m->whole_map.size, width,
        height, GST_VIDEO_INFO_NAME (vi));
    mapping_clear (m);
    return FALSE;
  }
  if (stride == row) {
    m->tensors[0] = physnn_tensor_new_wrapped (t->dtype, 2, t->shape,
        m->whole_map.data + offset, m->whole_map.size - offset, NULL, NULL);
  } else {
    m->tensors[0] = physnn_tensor_new (t->dtype, 2, t->shape);
    guint8 *dst = physnn_tensor_map (m->tensors[0], PHYSNN_MAP_WRITE, NULL);
    for (gsize y = 0; y < height; y++)
      memcpy (dst + y * row, m->whole_map.data + offset + y * stride, row);
    physnn_tensor_unmap (m->tensors[0]);
  }
  m->n = 1;
  return TRUE;
}

/* Returns the index of the first tensor with NaN/Inf values, or -1. */
static gint
find_nonfinite (TensorMapping *m, gsize *count)
{
  for (guint i = 0; i < m->n; i++) {
    gsize bad = physnn_tensor_count_nonfinite (m->tensors[i]);
    if (bad) {
      *count = bad;
      return (gint) i;
    }
  }
  return -1;
}

static void
record_time (GstPhysnnFilter *self, gint64 us)
{
  GstPhysnnFilterPrivate *priv = PRIV (self);
  gboolean post = FALSE;

  g_mutex_lock (&priv->stats_lock);
  priv->buffers++;
  priv->total_us += us;
  priv->last_us = us;
  if (us > priv->max_us) {
    priv->max_us = us;
    /* Ask the pipeline to re-query latency when our worst case grows
     * noticeably past what we last reported (25 % and 0.5 ms). */
    GstClockTime lat = (GstClockTime) us * GST_USECOND;
    if (lat > priv->reported_latency + 500 * GST_USECOND &&
        lat > priv->reported_latency + priv->reported_latency / 4)
      post = TRUE;
  }
  g_mutex_unlock (&priv->stats_lock);
  if (post)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
}

static GstFlowReturn
gst_physnn_filter_transform (GstBaseTransform *trans, GstBuffer *inbuf,
    GstBuffer *outbuf)
{
  GstPhysnnFilter *self = GST_PHYSNN_FILTER (trans);
  GstPhysnnFilterPrivate *priv = PRIV (self);
  GstPhysnnFilterClass *klass = GST_PHYSNN_FILTER_GET_CLASS (self);
  g_autofree TensorMapping *in = g_new0 (TensorMapping, 1);
  g_autofree TensorMapping *out = g_new0 (TensorMapping, 1);
  g_autoptr (GError) error = NULL;
  GstFlowReturn ret;
  gint64 start;

  if (!priv->configured || klass->process == NULL) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("no caps negotiated before the first buffer"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  start = g_get_monotonic_time ();

  if (!map_input (self, inbuf, in, &error)) {
    gst_physnn_filter_post_error (self, error, "mapping the input buffer");
    return GST_FLOW_ERROR;
  }

  if (priv->nonfinite != GST_PHYSNN_NONFINITE_PASS) {
    gsize bad = 0;
    gint which = find_nonfinite (in, &bad);
    if (which >= 0) {
      GstClockTime pts = GST_BUFFER_PTS (inbuf);
      if (priv->nonfinite == GST_PHYSNN_NONFINITE_ERROR) {
        GST_ELEMENT_ERROR (self, STREAM, FORMAT,
            ("Input tensor %d has %" G_GSIZE_FORMAT " NaN or infinite "
                "value(s) at %" GST_TIME_FORMAT, which, bad,
                GST_TIME_ARGS (pts)),
            ("set nonfinite=drop to skip such buffers, or pass to process "
                "them"));
        mapping_clear (in);
        return GST_FLOW_ERROR;
      }
      GST_ELEMENT_WARNING (self, STREAM, FORMAT,
          ("Dropped a buffer: input tensor %d has %" G_GSIZE_FORMAT
              " NaN or infinite value(s) at %" GST_TIME_FORMAT, which, bad,
              GST_TIME_ARGS (pts)), (NULL));
      mapping_clear (in);
      g_mutex_lock (&priv->stats_lock);
      priv->dropped++;
      g_mutex_unlock (&priv->stats_lock);
      return GST_BASE_TRANSFORM_FLOW_DROPPED;
    }
  }

  if (priv->out_info->media == GST_PHYSNN_MEDIA_TENSORS) {
    if (!map_tensors (self, outbuf, priv->out_info, GST_MAP_WRITE, out,
            &error)) {
      mapping_clear (in);
      gst_physnn_filter_post_error (self, error, "mapping the output buffer");
      return GST_FLOW_ERROR;
    }
  } else if (priv->out_info->media == GST_PHYSNN_MEDIA_SPIKE_EVENTS) {
    /* The subclass writes the dense spike train; it becomes events below. */
    const GstPhysnnTensorInfo *t = &priv->out_info->tensors[0];
    out->tensors[0] = physnn_tensor_new (PHYSNN_DTYPE_UINT8, t->rank,
        t->shape);
    out->n = 1;
  }

  ret = klass->process (self, inbuf, in->tensors, in->n, outbuf, out->tensors,
      out->n, &error);

  /* Results may still be on the device: bring them into the buffer. */
  for (guint i = 0; i < out->n && ret == GST_FLOW_OK; i++) {
    physnn_tensor_map (out->tensors[i], PHYSNN_MAP_READ, NULL);
    physnn_tensor_unmap (out->tensors[i]);
  }
  if (ret == GST_FLOW_OK &&
      priv->out_info->media == GST_PHYSNN_MEDIA_SPIKE_EVENTS) {
    const GstPhysnnTensorsInfo *oi = priv->out_info;
    guint64 n_events = 0;
    gsize neurons = gst_physnn_tensor_info_get_count (&oi->tensors[0]) /
        oi->spike_steps / oi->spike_planes;
    const guint8 *dense = physnn_tensor_map (out->tensors[0],
        PHYSNN_MAP_READ, NULL);
    GstMemory *mem = gst_spike_events_encode (dense, oi->spike_steps,
        oi->spike_planes, (guint) neurons, GST_BUFFER_PTS (outbuf),
        GST_BUFFER_DURATION (outbuf), &n_events);
    physnn_tensor_unmap (out->tensors[0]);
    if (mem == NULL) {
      mapping_clear (in);
      mapping_clear (out);
      GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
          ("Cannot allocate %" G_GUINT64_FORMAT " spike events", n_events),
          (NULL));
      return GST_FLOW_ERROR;
    }
    gst_buffer_append_memory (outbuf, mem);
  }
  mapping_clear (in);
  mapping_clear (out);

  if (ret == GST_FLOW_ERROR) {
    if (error)
      gst_physnn_filter_post_error (self, error, NULL);
    else
      GST_ELEMENT_ERROR (self, STREAM, FAILED, (NULL),
          ("processing failed without a message"));
    return ret;
  }
  record_time (self, g_get_monotonic_time () - start);
  return ret;
}

/* ------------------------------------------------------------------------ */
/* Audio chunking: with frames-per-tensor set, input audio is collected in an
 * adapter and processed in chunks of exactly that many frames, timestamped
 * from the adapter (PTS of the first frame plus the frames since). */

static gboolean
chunking (GstPhysnnFilter *self)
{
  GstPhysnnFilterPrivate *priv = PRIV (self);
  return priv->configured && priv->in_info->media == GST_PHYSNN_MEDIA_AUDIO &&
      priv->in_info->tensors[0].shape[0] > 0;
}

static GstFlowReturn
gst_physnn_filter_submit_input_buffer (GstBaseTransform *trans,
    gboolean discont, GstBuffer *input)
{
  GstPhysnnFilter *self = GST_PHYSNN_FILTER (trans);
  GstPhysnnFilterPrivate *priv = PRIV (self);

  if (!chunking (self))
    return GST_BASE_TRANSFORM_CLASS
        (gst_physnn_filter_parent_class)->submit_input_buffer (trans, discont,
        input);
  if (discont)
    gst_adapter_clear (priv->adapter);
  gst_adapter_push (priv->adapter, input);
  return GST_FLOW_OK;
}

/* A partial chunk at EOS cannot make a tensor of the negotiated shape; say
 * so instead of dropping it silently. */
static void
clear_adapter_on (GstBaseTransform *trans, GstEvent *event)
{
  GstPhysnnFilter *self = GST_PHYSNN_FILTER (trans);
  GstPhysnnFilterPrivate *priv = PRIV (self);
  gsize left = gst_adapter_available (priv->adapter);

  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && left > 0 && chunking (self))
    GST_ELEMENT_WARNING (self, STREAM, FORMAT,
        ("%" G_GSIZE_FORMAT " audio frames at the end of the stream do not "
            "fill a tensor of %" G_GSIZE_FORMAT " frames and were not "
            "processed", left / GST_AUDIO_INFO_BPF (&priv->in_info->audio),
            priv->in_info->tensors[0].shape[0]), (NULL));
  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP ||
      GST_EVENT_TYPE (event) == GST_EVENT_EOS)
    gst_adapter_clear (priv->adapter);
}

static GstFlowReturn
gst_physnn_filter_generate_output (GstBaseTransform *trans,
    GstBuffer **outbuf)
{
  GstPhysnnFilter *self = GST_PHYSNN_FILTER (trans);
  GstPhysnnFilterPrivate *priv = PRIV (self);

  if (chunking (self) && trans->queued_buf == NULL) {
    const GstAudioInfo *ai = &priv->in_info->audio;
    gsize bpf = (gsize) GST_AUDIO_INFO_BPF (ai);
    gsize frames = priv->in_info->tensors[0].shape[0];
    guint64 dist = 0;
    GstClockTime pts;

    *outbuf = NULL;
    if (gst_adapter_available (priv->adapter) < frames * bpf)
      return GST_FLOW_OK;
    pts = gst_adapter_prev_pts (priv->adapter, &dist);
    GstBuffer *chunk = gst_adapter_take_buffer (priv->adapter, frames * bpf);
    chunk = gst_buffer_make_writable (chunk);
    if (GST_CLOCK_TIME_IS_VALID (pts))
      pts += gst_util_uint64_scale_int (dist / bpf, GST_SECOND,
          GST_AUDIO_INFO_RATE (ai));
    GST_BUFFER_PTS (chunk) = pts;
    GST_BUFFER_DTS (chunk) = GST_CLOCK_TIME_NONE;
    GST_BUFFER_DURATION (chunk) = gst_util_uint64_scale_int (frames,
        GST_SECOND, GST_AUDIO_INFO_RATE (ai));
    trans->queued_buf = chunk;
  }
  return GST_BASE_TRANSFORM_CLASS
      (gst_physnn_filter_parent_class)->generate_output (trans, outbuf);
}


/* The processing latency we add is our worst measured processing time. */
static gboolean
gst_physnn_filter_query (GstBaseTransform *trans, GstPadDirection direction,
    GstQuery *query)
{
  GstPhysnnFilter *self = GST_PHYSNN_FILTER (trans);
  GstPhysnnFilterPrivate *priv = PRIV (self);

  if (direction == GST_PAD_SRC && GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    gboolean live;
    GstClockTime min, max, ours;

    if (!gst_pad_peer_query (GST_BASE_TRANSFORM_SINK_PAD (trans), query))
      return FALSE;
    gst_query_parse_latency (query, &live, &min, &max);
    g_mutex_lock (&priv->stats_lock);
    ours = (GstClockTime) priv->max_us * GST_USECOND;
    priv->reported_latency = ours;
    g_mutex_unlock (&priv->stats_lock);
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID (max))
      max += ours;
    GST_DEBUG_OBJECT (self, "adding measured latency %" GST_TIME_FORMAT,
        GST_TIME_ARGS (ours));
    gst_query_set_latency (query, live, min, max);
    return TRUE;
  }
  return GST_BASE_TRANSFORM_CLASS (gst_physnn_filter_parent_class)->query
      (trans, direction, query);
}

/* ------------------------------------------------------------------------ */

static void
gst_physnn_filter_class_init (GstPhysnnFilterClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_physnn_filter_debug, "physnnfilter", 0,
      "physnn filter base class");

  gobject_class->set_property = gst_physnn_filter_set_property;
  gobject_class->get_property = gst_physnn_filter_get_property;
  gobject_class->finalize = gst_physnn_filter_finalize;

  /**
   * GstPhysnnFilter:device:
   *
   * Compute device: "auto", "cpu", "opencl" or "opencl:P.D".
   */
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device",
          "Compute device: auto (first OpenCL GPU, else any OpenCL device, "
          "else the reference C path; the PHYSNN_DEVICE environment variable "
          "overrides), cpu (reference C path), opencl (first OpenCL device) "
          "or opencl:P.D (platform P, device D, as `physnn devices` lists)",
          DEFAULT_DEVICE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_NONFINITE,
      g_param_spec_enum ("nonfinite", "Non-finite input",
          "What to do with a buffer whose input holds NaN or infinite values",
          GST_TYPE_PHYSNN_NONFINITE, DEFAULT_NONFINITE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_FRAMES_PER_TENSOR,
      g_param_spec_uint ("frames-per-tensor", "Frames per tensor",
          "Audio input only: collect this many sample frames (one per "
          "channel each) into one tensor of shape [frames][channels]; 0 "
          "makes one tensor per incoming buffer, which only elements that "
          "accept a variable length allow",
          0, G_MAXINT32, DEFAULT_FRAMES_PER_TENSOR,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "Processing statistics: buffers, dropped, mean-ms, max-ms, last-ms "
          "(wall time per buffer including transfers), device, device-name",
          GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  trans_class->start = GST_DEBUG_FUNCPTR (gst_physnn_filter_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_physnn_filter_stop);
  trans_class->transform_caps =
      GST_DEBUG_FUNCPTR (gst_physnn_filter_transform_caps);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_physnn_filter_sink_event);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_physnn_filter_set_caps);
  trans_class->prepare_output_buffer =
      GST_DEBUG_FUNCPTR (gst_physnn_filter_prepare_output_buffer);
  trans_class->transform = GST_DEBUG_FUNCPTR (gst_physnn_filter_transform);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_physnn_filter_query);
  trans_class->submit_input_buffer =
      GST_DEBUG_FUNCPTR (gst_physnn_filter_submit_input_buffer);
  trans_class->generate_output =
      GST_DEBUG_FUNCPTR (gst_physnn_filter_generate_output);
  trans_class->passthrough_on_same_caps = FALSE;

  klass->get_output_info = default_get_output_info;

  gst_type_mark_as_plugin_api (GST_TYPE_PHYSNN_FILTER, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_PHYSNN_NONFINITE, 0);
}

static void
gst_physnn_filter_init (GstPhysnnFilter *self)
{
  GstPhysnnFilterPrivate *priv = PRIV (self);
  priv->device_spec = g_strdup (DEFAULT_DEVICE);
  priv->nonfinite = DEFAULT_NONFINITE;
  priv->frames_per_tensor = DEFAULT_FRAMES_PER_TENSOR;
  priv->adapter = gst_adapter_new ();
  g_mutex_init (&priv->stats_lock);
}

/* ------------------------------------------------------------------------ */
/* Subclass accessors */

/**
 * gst_physnn_filter_get_device:
 *
 * Returns: (transfer none): the open device (valid between start and stop)
 */
PhysnnDevice *
gst_physnn_filter_get_device (GstPhysnnFilter *filter)
{
  return PRIV (filter)->device;
}

const GstPhysnnTensorsInfo *
gst_physnn_filter_get_input_info (GstPhysnnFilter *filter)
{
  return PRIV (filter)->in_info;
}

const GstPhysnnTensorsInfo *
gst_physnn_filter_get_output_info (GstPhysnnFilter *filter)
{
  return PRIV (filter)->out_info;
}
