/* physnn — NNStreamer-compatible tensor caps.
 *
 * `other/tensors, format=static, num_tensors=N, types="float32,uint8",
 * dimensions="3:224:224:1,10"`: one type and one dimension string per tensor,
 * comma separated; a dimension string lists the innermost dimension first,
 * so "3:224:224:1" is the C array [1][224][224][3]. We keep shapes outermost
 * first internally and reverse here. Every failure quotes the field and the
 * offending text, because a caps string typed on a gst-launch line is the
 * most common way to get here.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "gstphysnncaps.h"
#include "gstspikeevents.h"

#include <string.h>

void
gst_physnn_tensors_info_init (GstPhysnnTensorsInfo *info)
{
  memset (info, 0, sizeof *info);
  info->fps_d = 1;
}

gsize
gst_physnn_tensor_info_get_count (const GstPhysnnTensorInfo *t)
{
  gsize n = 1;
  for (guint i = 0; i < t->rank; i++)
    n *= t->shape[i];
  return n;
}

gsize
gst_physnn_tensor_info_get_size (const GstPhysnnTensorInfo *t)
{
  return gst_physnn_tensor_info_get_count (t) * physnn_dtype_get_size (t->dtype);
}

void
gst_physnn_tensor_info_set (GstPhysnnTensorInfo *t, PhysnnDType dtype,
    guint rank, const gsize *shape)
{
  g_return_if_fail (rank <= PHYSNN_MAX_RANK);
  t->dtype = dtype;
  t->rank = rank;
  memcpy (t->shape, shape, rank * sizeof (gsize));
}

/* Parses one dimension string such as "3:224:224:1" into an outermost-first
 * shape. Dimensions must be positive integers; at most PHYSNN_MAX_RANK. */
gboolean
gst_physnn_parse_dimension (const gchar *str, guint *rank, gsize *shape,
    GError **error)
{
  g_auto (GStrv) parts = NULL;
  guint n;
  gsize total = 1;

  if (str == NULL || str[strspn (str, " \t")] == '\0') {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
        "empty dimension string");
    return FALSE;
  }
  parts = g_strsplit (str, ":", -1);
  n = g_strv_length (parts);
  if (n > PHYSNN_MAX_RANK) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
        "dimension \"%s\" has rank %u; at most %d dimensions are supported",
        str, n, PHYSNN_MAX_RANK);
    return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    gchar *p = g_strstrip (parts[i]);
    gchar *end = NULL;
    guint64 v;
    if (!g_ascii_isdigit (*p)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "dimension \"%s\": \"%s\" is not a positive integer", str, p);
      return FALSE;
    }
    v = g_ascii_strtoull (p, &end, 10);
    if (*end != '\0' || v == 0 || v > G_MAXINT32) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "dimension \"%s\": \"%s\" is not a positive integer below 2^31",
          str, p);
      return FALSE;
    }
    if (total > G_MAXINT32 / v) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "dimension \"%s\" describes more than 2^31 elements", str);
      return FALSE;
    }
    total *= v;
    shape[n - 1 - i] = (gsize) v;  /* innermost first -> outermost first */
  }
  *rank = n;
  return TRUE;
}

gchar *
gst_physnn_dimension_to_string (const GstPhysnnTensorInfo *t)
{
  GString *s = g_string_new (NULL);
  if (t->rank == 0)
    g_string_append (s, "1");
  for (gint i = (gint) t->rank - 1; i >= 0; i--)
    g_string_append_printf (s, "%s%" G_GSIZE_FORMAT,
        i == (gint) t->rank - 1 ? "" : ":", t->shape[i]);
  return g_string_free (s, FALSE);
}

static gboolean
from_tensors (GstPhysnnTensorsInfo *info, const GstStructure *s,
    GError **error)
{
  const gchar *format = gst_structure_get_string (s, "format");
  const gchar *types = gst_structure_get_string (s, "types");
  const gchar *dims = gst_structure_get_string (s, "dimensions");
  gchar int_dims[16];
  gint single = 0;
  /* `dimensions=256` parses as an integer: a single-dimension tensor. */
  if (dims == NULL && gst_structure_get_int (s, "dimensions", &single)) {
    g_snprintf (int_dims, sizeof int_dims, "%d", single);
    dims = int_dims;
  }
  gint num = 0;
  g_auto (GStrv) type_list = NULL;
  g_auto (GStrv) dim_list = NULL;

  if (format == NULL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
        "other/tensors caps without a fixed format field; expected "
        "format=static");
    return FALSE;
  }
  if (strcmp (format, "static") != 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "format=%s is not supported; physnn elements take format=static",
        format);
    return FALSE;
  }
  /* GStreamer reads an unquoted or quoted "2:256" as a GstFlagSet: say how
   * to write it instead of reporting a missing field. */
  for (guint f = 0; f < 2; f++) {
    const gchar *field = f ? "dimensions" : "types";
    const GValue *v = gst_structure_get_value (s, field);
    if (v != NULL && !G_VALUE_HOLDS_STRING (v) && !(f && G_VALUE_HOLDS_INT (v))) {
      g_autofree gchar *val = gst_value_serialize (v);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "%s=%s was read as a %s, not a string; write %s=(string)\"%s\"",
          field, val ? val : "?", G_VALUE_TYPE_NAME (v), field,
          val ? val : "...");
      return FALSE;
    }
  }
  if (types == NULL || dims == NULL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
        "other/tensors caps need fixed \"types\" and \"dimensions\" fields "
        "(got types=%s, dimensions=%s)", types ? types : "(none)",
        dims ? dims : "(none)");
    return FALSE;
  }
  if (*types == '\0' || *dims == '\0') {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
        "%s is empty; every tensor needs a type and a dimension string",
        *types == '\0' ? "types" : "dimensions");
    return FALSE;
  }
  type_list = g_strsplit (types, ",", -1);
  dim_list = g_strsplit (dims, ",", -1);
  guint nt = g_strv_length (type_list), nd = g_strv_length (dim_list);
  if (gst_structure_get_int (s, "num_tensors", &num)) {
    if (num < 1 || num > GST_PHYSNN_MAX_TENSORS) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "num_tensors=%d is out of range [1, %d]", num,
          GST_PHYSNN_MAX_TENSORS);
      return FALSE;
    }
  } else {
    num = (gint) nt;
  }
  if ((guint) num != nt || (guint) num != nd) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
        "num_tensors=%d but types=\"%s\" lists %u and dimensions=\"%s\" "
        "lists %u", num, types, nt, dims, nd);
    return FALSE;
  }
  if (num > GST_PHYSNN_MAX_TENSORS) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
        "%d tensors; at most %d are supported", num, GST_PHYSNN_MAX_TENSORS);
    return FALSE;
  }
  info->media = GST_PHYSNN_MEDIA_TENSORS;
  info->n_tensors = (guint) num;
  for (guint i = 0; i < (guint) num; i++) {
    GstPhysnnTensorInfo *t = &info->tensors[i];
    gchar *tname = g_strstrip (type_list[i]);
    if (!physnn_dtype_from_string (tname, &t->dtype)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "types=\"%s\": unknown type \"%s\" for tensor %u (known: float32, "
          "float64, float16, int8, uint8, int16, uint16, int32, uint32, "
          "int64, uint64)", types, tname, i);
      return FALSE;
    }
    GError *local = NULL;
    if (!gst_physnn_parse_dimension (dim_list[i], &t->rank, t->shape,
            &local)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "dimensions=\"%s\", tensor %u: %s", dims, i, local->message);
      g_error_free (local);
      return FALSE;
    }
  }
  return TRUE;
}

/* A spike-event stream reads as its dense equivalent: uint8
 * [steps][neurons], or [steps][2][neurons] with polarity. */
static gboolean
from_spike_events (GstPhysnnTensorsInfo *info, const GstStructure *s,
    GError **error)
{
  gint neurons = 0, steps = 0;
  gboolean polarity = FALSE;

  if (!gst_structure_get_int (s, "neurons", &neurons) || neurons < 1 ||
      !gst_structure_get_int (s, "steps", &steps) || steps < 1) {
    g_autofree gchar *str = gst_structure_to_string (s);
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
        "%s caps need positive integer fields neurons and steps: %s",
        GST_SPIKE_EVENTS_MEDIA_TYPE, str);
    return FALSE;
  }
  if (gst_structure_has_field (s, "polarity") &&
      !gst_structure_get_boolean (s, "polarity", &polarity)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
        "%s caps: polarity must be a fixed boolean",
        GST_SPIKE_EVENTS_MEDIA_TYPE);
    return FALSE;
  }
  if ((guint64) neurons * (guint64) steps * (polarity ? 2 : 1) > G_MAXINT32) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
        "%s caps: %d neurons x %d steps is more than 2^31 spikes per buffer",
        GST_SPIKE_EVENTS_MEDIA_TYPE, neurons, steps);
    return FALSE;
  }
  GstPhysnnTensorInfo *t = &info->tensors[0];
  info->media = GST_PHYSNN_MEDIA_SPIKE_EVENTS;
  info->n_tensors = 1;
  info->spike_steps = (guint) steps;
  info->spike_planes = polarity ? 2 : 1;
  t->dtype = PHYSNN_DTYPE_UINT8;
  t->rank = 0;
  t->shape[t->rank++] = (gsize) steps;
  if (polarity)
    t->shape[t->rank++] = 2;
  t->shape[t->rank++] = (gsize) neurons;
  return TRUE;
}

gboolean
gst_physnn_tensors_info_from_structure (GstPhysnnTensorsInfo *info,
    const GstStructure *s, GError **error)
{
  gst_physnn_tensors_info_init (info);
  if (gst_structure_has_field (s, "framerate") &&
      !gst_structure_get_fraction (s, "framerate", &info->fps_n,
          &info->fps_d)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
        "framerate is not a fixed fraction");
    return FALSE;
  }

  if (gst_structure_has_name (s, "other/tensors"))
    return from_tensors (info, s, error);

  if (gst_structure_has_name (s, "other/tensor")) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "other/tensor (singular) caps are not supported; use other/tensors "
        "with num_tensors=1");
    return FALSE;
  }

  if (gst_structure_has_name (s, "audio/x-raw")) {
    GstStructure *copy = gst_structure_copy (s);
    gint channels = 0;
    /* Sensor channels have no speaker positions: treat a missing
     * channel-mask as unpositioned rather than refusing > 2 channels. */
    if (gst_structure_get_int (copy, "channels", &channels) && channels > 2 &&
        !gst_structure_has_field (copy, "channel-mask"))
      gst_structure_set (copy, "channel-mask", GST_TYPE_BITMASK,
          (guint64) 0, NULL);
    g_autoptr (GstCaps) caps = gst_caps_new_full (copy, NULL);
    if (!gst_audio_info_from_caps (&info->audio, caps)) {
      g_autofree gchar *str = gst_structure_to_string (s);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "incomplete or invalid audio caps: %s", str);
      return FALSE;
    }
    GstAudioFormat f = GST_AUDIO_INFO_FORMAT (&info->audio);
    if (f != GST_AUDIO_FORMAT_F32LE && f != GST_AUDIO_FORMAT_S16LE) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "audio format %s is not supported; use F32LE or S16LE "
          "(audioconvert can convert)", gst_audio_format_to_string (f));
      return FALSE;
    }
    if (GST_AUDIO_INFO_LAYOUT (&info->audio) !=
        GST_AUDIO_LAYOUT_INTERLEAVED) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "non-interleaved audio is not supported");
      return FALSE;
    }
    info->media = GST_PHYSNN_MEDIA_AUDIO;
    info->n_tensors = 1;
    info->tensors[0].dtype = f == GST_AUDIO_FORMAT_F32LE ?
        PHYSNN_DTYPE_FLOAT32 : PHYSNN_DTYPE_INT16;
    info->tensors[0].rank = 2;
    info->tensors[0].shape[0] = 0;      /* samples: known per buffer */
    info->tensors[0].shape[1] = (gsize) GST_AUDIO_INFO_CHANNELS (&info->audio);
    info->fps_n = 0;
    info->fps_d = 1;
    return TRUE;
  }

  if (gst_structure_has_name (s, "video/x-raw")) {
    g_autoptr (GstCaps) caps = gst_caps_new_full (gst_structure_copy (s),
        NULL);
    if (!gst_video_info_from_caps (&info->video, caps)) {
      g_autofree gchar *str = gst_structure_to_string (s);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "incomplete or invalid video caps: %s", str);
      return FALSE;
    }
    GstVideoFormat f = GST_VIDEO_INFO_FORMAT (&info->video);
    if (f != GST_VIDEO_FORMAT_GRAY8 && f != GST_VIDEO_FORMAT_GRAY16_LE) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "video format %s is not supported; use GRAY8 or GRAY16_LE "
          "(videoconvert can convert)", gst_video_format_to_string (f));
      return FALSE;
    }
    info->media = GST_PHYSNN_MEDIA_VIDEO;
    info->n_tensors = 1;
    info->tensors[0].dtype = f == GST_VIDEO_FORMAT_GRAY8 ?
        PHYSNN_DTYPE_UINT8 : PHYSNN_DTYPE_UINT16;
    info->tensors[0].rank = 2;
    info->tensors[0].shape[0] = (gsize) GST_VIDEO_INFO_HEIGHT (&info->video);
    info->tensors[0].shape[1] = (gsize) GST_VIDEO_INFO_WIDTH (&info->video);
    return TRUE;
  }

  if (gst_structure_has_name (s, GST_SPIKE_EVENTS_MEDIA_TYPE))
    return from_spike_events (info, s, error);

  g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
      "media type %s is not supported; expected other/tensors, audio/x-raw "
      "or video/x-raw", gst_structure_get_name (s));
  return FALSE;
}

gboolean
gst_physnn_tensors_info_from_caps (GstPhysnnTensorsInfo *info,
    const GstCaps *caps, GError **error)
{
  if (caps == NULL || gst_caps_get_size (caps) == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE, "empty caps");
    return FALSE;
  }
  return gst_physnn_tensors_info_from_structure (info,
      gst_caps_get_structure (caps, 0), error);
}

/* The event form of a dense spike train (info->spike_steps > 0). */
GstCaps *
gst_physnn_tensors_info_to_spike_events_caps (const GstPhysnnTensorsInfo
    *info)
{
  const GstPhysnnTensorInfo *t = &info->tensors[0];
  g_return_val_if_fail (info->spike_steps > 0 && info->spike_planes > 0,
      NULL);
  gsize neurons = gst_physnn_tensor_info_get_count (t) / info->spike_steps /
      info->spike_planes;
  return gst_caps_new_simple (GST_SPIKE_EVENTS_MEDIA_TYPE,
      "neurons", G_TYPE_INT, (gint) neurons,
      "steps", G_TYPE_INT, (gint) info->spike_steps,
      "polarity", G_TYPE_BOOLEAN, info->spike_planes == 2,
      "framerate", GST_TYPE_FRACTION, info->fps_n, info->fps_d, NULL);
}

GstCaps *
gst_physnn_tensors_info_to_caps (const GstPhysnnTensorsInfo *info)
{
  if (info->media == GST_PHYSNN_MEDIA_SPIKE_EVENTS)
    return gst_physnn_tensors_info_to_spike_events_caps (info);
  GString *types = g_string_new (NULL);
  GString *dims = g_string_new (NULL);

  for (guint i = 0; i < info->n_tensors; i++) {
    g_autofree gchar *d = gst_physnn_dimension_to_string (&info->tensors[i]);
    g_string_append_printf (types, "%s%s", i ? "," : "",
        physnn_dtype_to_string (info->tensors[i].dtype));
    g_string_append_printf (dims, "%s%s", i ? "," : "", d);
  }
  GstCaps *caps = gst_caps_new_simple ("other/tensors",
      "format", G_TYPE_STRING, "static",
      "num_tensors", G_TYPE_INT, (gint) info->n_tensors,
      "types", G_TYPE_STRING, types->str,
      "dimensions", G_TYPE_STRING, dims->str,
      "framerate", GST_TYPE_FRACTION, info->fps_n, info->fps_d, NULL);
  g_string_free (types, TRUE);
  g_string_free (dims, TRUE);
  return caps;
}

/* NNStreamer treats "3:224:224" and "3:224:224:1" as the same tensor: outer
 * dimensions of size 1 do not change the layout. */
gboolean
gst_physnn_tensor_info_same_layout (const GstPhysnnTensorInfo *x,
    const GstPhysnnTensorInfo *y)
{
  guint sx = 0, sy = 0;
  if (x->dtype != y->dtype)
    return FALSE;
  while (sx + 1 < x->rank && x->shape[sx] == 1)
    sx++;
  while (sy + 1 < y->rank && y->shape[sy] == 1)
    sy++;
  if (x->rank - sx != y->rank - sy)
    return FALSE;
  return memcmp (x->shape + sx, y->shape + sy,
      (x->rank - sx) * sizeof (gsize)) == 0;
}

gboolean
gst_physnn_tensors_info_is_equal (const GstPhysnnTensorsInfo *a,
    const GstPhysnnTensorsInfo *b)
{
  if (a->media != b->media || a->n_tensors != b->n_tensors)
    return FALSE;
  for (guint i = 0; i < a->n_tensors; i++)
    if (!gst_physnn_tensor_info_same_layout (&a->tensors[i], &b->tensors[i]))
      return FALSE;
  return TRUE;
}

/* Does a stream tensor fit a model input's dimensions (outermost first, -1
 * for a symbolic one)? Outer dimensions of 1 are ignored on both sides and
 * symbolic dimensions match anything; dtypes are the caller's business. */
gboolean
gst_physnn_tensor_info_fits_shape (const GstPhysnnTensorInfo *t,
    const gint64 *dims, guint rank)
{
  guint st = 0, sd = 0;
  while (st + 1 < t->rank && t->shape[st] == 1)
    st++;
  while (sd + 1 < rank && dims[sd] == 1)
    sd++;
  if (t->rank - st != rank - sd)
    return FALSE;
  for (guint i = 0; i < rank - sd; i++)
    if (dims[sd + i] >= 0 && (gsize) dims[sd + i] != t->shape[st + i])
      return FALSE;
  return TRUE;
}
