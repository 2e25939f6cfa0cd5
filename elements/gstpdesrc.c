/* physnn — pdesrc: numerically solved PDE fields and simulated sensors.
 *
 * The numerics live in the engine (PhysnnSimulator, PhysnnSensors); this
 * element only maps properties, negotiates caps, timestamps and renders.
 * Its simulator and sensor properties are mirrored from the engine classes,
 * so `gst-inspect-1.0 pdesrc` and the API reference cannot drift apart.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-pdesrc
 * @title: pdesrc
 *
 * Streams a numerically solved PDE (heat 1-D/2-D, wave 1-D, viscous Burgers
 * 1-D) as the whole field and/or readings of simulated sensors with noise
 * and injected faults. Buffer n carries the state at simulated time
 * t = PTS · time-scale.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 pdesrc pde=heat-2d num-buffers=50 ! videoconvert ! pngenc ! multifilesink location=heat-%03d.png
 * gst-launch-1.0 pdesrc pde=burgers-1d sensors=8 noise-sigma=0.01 ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstpdesrc.h"
#include "gstphysnncaps.h"

#include <gst/video/video.h>
#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_pde_src_debug);
#define GST_CAT_DEFAULT gst_pde_src_debug

#define DEFAULT_SENSORS 0
#define DEFAULT_OUTPUTS (GST_PDE_SRC_OUTPUT_FIELD | GST_PDE_SRC_OUTPUT_SENSORS \
    | GST_PDE_SRC_OUTPUT_MASK)
#define DEFAULT_FPS_N 100
#define DEFAULT_FPS_D 1
#define DEFAULT_TIME_SCALE 1.0
#define DEFAULT_IS_LIVE FALSE
#define DEFAULT_COLORMAP PHYSNN_COLORMAP_VIRIDIS
#define DEFAULT_RANGE_MIN -1.0
#define DEFAULT_RANGE_MAX 1.0
#define DEFAULT_HISTORY 256
#define DEFAULT_SEED 0

enum {
  PROP_0,
  PROP_SENSORS,
  PROP_SENSOR_POSITIONS,
  PROP_OUTPUTS,
  PROP_FRAMERATE,
  PROP_TIME_SCALE,
  PROP_IS_LIVE,
  PROP_COLORMAP,
  PROP_RANGE_MIN,
  PROP_RANGE_MAX,
  PROP_HISTORY,
  PROP_SEED,
  PROP_MIRROR_BASE = 100,
};

typedef enum {
  TARGET_SIMULATOR,
  TARGET_SENSORS,
} MirrorTarget;

typedef struct {
  MirrorTarget target;
  GParamSpec *pspec;            /* the engine's property */
} Mirror;

/* Index = property id - PROP_MIRROR_BASE. Filled once in class_init. */
static GPtrArray *mirrors;

typedef enum {
  FORMAT_TENSORS,
  FORMAT_RGB,
  FORMAT_GRAY8,
  FORMAT_GRAY16,
} OutFormat;

struct _GstPdeSrc {
  GstPushSrc parent;

  /* properties */
  guint n_sensors;
  gchar *sensor_positions;
  GstPdeSrcOutputs outputs;
  gint fps_n, fps_d;
  gdouble time_scale;
  gboolean is_live;
  PhysnnColormap colormap;
  gdouble range_min, range_max;
  guint history;
  guint64 seed;
  GValue *sensor_props;         /* per mirror; unset for simulator mirrors */

  /* streaming state */
  PhysnnSimulator *sim;
  PhysnnSensors *sensors;
  guint64 frame;
  OutFormat format;
  GstVideoInfo vinfo;
  GstPhysnnTensorsInfo *tinfo;
  gfloat *waterfall;            /* 1-D video: history rows of nx values */
  guint waterfall_rows;
};

G_DEFINE_TYPE (GstPdeSrc, gst_pde_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE (pdesrc, "pdesrc", GST_RANK_NONE,
    GST_TYPE_PDE_SRC);

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("other/tensors, format = (string) static, "
        "num_tensors = (int) [ 1, 4 ], framerate = (fraction) [ 0/1, MAX ]; "
        "video/x-raw, format = (string) { RGB, GRAY8, GRAY16_LE }, "
        "width = (int) [ 1, MAX ], height = (int) [ 1, MAX ], "
        "framerate = (fraction) [ 0/1, MAX ]"));

GType gst_pde_src_outputs_get_type (void);
#define GST_TYPE_PDE_SRC_OUTPUTS (gst_pde_src_outputs_get_type ())

GType
gst_pde_src_outputs_get_type (void)
{
  static GType type = 0;
  static const GFlagsValue values[] = {
    {GST_PDE_SRC_OUTPUT_FIELD, "Whole field, float32 on its grid", "field"},
    {GST_PDE_SRC_OUTPUT_SENSORS, "Sensor readings, float32 [sensors]",
        "sensors"},
    {GST_PDE_SRC_OUTPUT_MASK, "Ground-truth fault mask, uint8 [sensors] "
          "(0 healthy, else the fault kind number)", "mask"},
    {GST_PDE_SRC_OUTPUT_POSITIONS, "Sensor coordinates, float32 "
          "[sensors][dims]", "positions"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&type)) {
    GType t = g_flags_register_static ("GstPdeSrcOutputs", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

/* ------------------------------------------------------------------------ */
/* Property mirroring */

static GParamSpec *
mirror_pspec (GParamSpec *p)
{
  const gchar *name = g_param_spec_get_name (p);
  const gchar *nick = g_param_spec_get_nick (p);
  const gchar *blurb = g_param_spec_get_blurb (p);
  GParamFlags flags = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;
  GType vt = G_PARAM_SPEC_VALUE_TYPE (p);

  if (G_IS_PARAM_SPEC_DOUBLE (p)) {
    GParamSpecDouble *d = G_PARAM_SPEC_DOUBLE (p);
    return g_param_spec_double (name, nick, blurb, d->minimum, d->maximum,
        d->default_value, flags);
  }
  if (G_IS_PARAM_SPEC_UINT (p)) {
    GParamSpecUInt *u = G_PARAM_SPEC_UINT (p);
    return g_param_spec_uint (name, nick, blurb, u->minimum, u->maximum,
        u->default_value, flags);
  }
  if (G_IS_PARAM_SPEC_INT (p)) {
    GParamSpecInt *i = G_PARAM_SPEC_INT (p);
    return g_param_spec_int (name, nick, blurb, i->minimum, i->maximum,
        i->default_value, flags);
  }
  if (G_IS_PARAM_SPEC_UINT64 (p)) {
    GParamSpecUInt64 *u = G_PARAM_SPEC_UINT64 (p);
    return g_param_spec_uint64 (name, nick, blurb, u->minimum, u->maximum,
        u->default_value, flags);
  }
  if (G_IS_PARAM_SPEC_INT64 (p)) {
    GParamSpecInt64 *i = G_PARAM_SPEC_INT64 (p);
    return g_param_spec_int64 (name, nick, blurb, i->minimum, i->maximum,
        i->default_value, flags);
  }
  if (G_IS_PARAM_SPEC_BOOLEAN (p))
    return g_param_spec_boolean (name, nick, blurb,
        G_PARAM_SPEC_BOOLEAN (p)->default_value, flags);
  if (G_IS_PARAM_SPEC_ENUM (p))
    return g_param_spec_enum (name, nick, blurb, vt,
        G_PARAM_SPEC_ENUM (p)->default_value, flags);
  if (G_IS_PARAM_SPEC_STRING (p))
    return g_param_spec_string (name, nick, blurb,
        G_PARAM_SPEC_STRING (p)->default_value, flags);
  g_warning ("pdesrc: cannot mirror property %s of type %s", name,
      g_type_name (vt));
  return NULL;
}

static void
install_mirrors (GObjectClass *gobject_class, GType engine_type,
    MirrorTarget target)
{
  GObjectClass *engine_class = g_type_class_ref (engine_type);
  guint n = 0;
  GParamSpec **specs = g_object_class_list_properties (engine_class, &n);

  for (guint i = 0; i < n; i++) {
    const gchar *name = g_param_spec_get_name (specs[i]);
    if (!(specs[i]->flags & G_PARAM_WRITABLE))
      continue;
    /* One seed for the whole element: see the "seed" property. */
    if (target == TARGET_SENSORS && strcmp (name, "seed") == 0)
      continue;
    if (target == TARGET_SIMULATOR && strcmp (name, "seed") == 0)
      continue;
    GParamSpec *copy = mirror_pspec (specs[i]);
    if (copy == NULL)
      continue;
    Mirror *m = g_new0 (Mirror, 1);
    m->target = target;
    m->pspec = specs[i];
    g_ptr_array_add (mirrors, m);
    g_object_class_install_property (gobject_class,
        PROP_MIRROR_BASE + mirrors->len - 1, copy);
  }
  g_free (specs);
  /* engine_class stays referenced: the mirrors point into it. */
}

/* ------------------------------------------------------------------------ */

static void
gst_pde_src_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  GstPdeSrc *self = GST_PDE_SRC (object);

  if (prop_id >= PROP_MIRROR_BASE && prop_id - PROP_MIRROR_BASE <
      mirrors->len) {
    guint idx = prop_id - PROP_MIRROR_BASE;
    Mirror *m = g_ptr_array_index (mirrors, idx);
    if (m->target == TARGET_SIMULATOR)
      g_object_set_property (G_OBJECT (self->sim), m->pspec->name, value);
    else
      g_value_copy (value, &self->sensor_props[idx]);
    return;
  }

  switch (prop_id) {
    case PROP_SENSORS:
      self->n_sensors = g_value_get_uint (value);
      break;
    case PROP_SENSOR_POSITIONS:
      g_free (self->sensor_positions);
      self->sensor_positions = g_value_dup_string (value);
      break;
    case PROP_OUTPUTS:
      self->outputs = g_value_get_flags (value);
      break;
    case PROP_FRAMERATE:
      self->fps_n = gst_value_get_fraction_numerator (value);
      self->fps_d = gst_value_get_fraction_denominator (value);
      break;
    case PROP_TIME_SCALE:
      self->time_scale = g_value_get_double (value);
      break;
    case PROP_IS_LIVE:
      self->is_live = g_value_get_boolean (value);
      gst_base_src_set_live (GST_BASE_SRC (self), self->is_live);
      break;
    case PROP_COLORMAP:
      self->colormap = g_value_get_enum (value);
      break;
    case PROP_RANGE_MIN:
      self->range_min = g_value_get_double (value);
      break;
    case PROP_RANGE_MAX:
      self->range_max = g_value_get_double (value);
      break;
    case PROP_HISTORY:
      self->history = g_value_get_uint (value);
      break;
    case PROP_SEED:
      self->seed = g_value_get_uint64 (value);
      g_object_set (self->sim, "seed", self->seed, NULL);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
gst_pde_src_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstPdeSrc *self = GST_PDE_SRC (object);

  if (prop_id >= PROP_MIRROR_BASE && prop_id - PROP_MIRROR_BASE <
      mirrors->len) {
    guint idx = prop_id - PROP_MIRROR_BASE;
    Mirror *m = g_ptr_array_index (mirrors, idx);
    if (m->target == TARGET_SIMULATOR)
      g_object_get_property (G_OBJECT (self->sim), m->pspec->name, value);
    else
      g_value_copy (&self->sensor_props[idx], value);
    return;
  }

  switch (prop_id) {
    case PROP_SENSORS:
      g_value_set_uint (value, self->n_sensors);
      break;
    case PROP_SENSOR_POSITIONS:
      g_value_set_string (value, self->sensor_positions);
      break;
    case PROP_OUTPUTS:
      g_value_set_flags (value, self->outputs);
      break;
    case PROP_FRAMERATE:
      gst_value_set_fraction (value, self->fps_n, self->fps_d);
      break;
    case PROP_TIME_SCALE:
      g_value_set_double (value, self->time_scale);
      break;
    case PROP_IS_LIVE:
      g_value_set_boolean (value, self->is_live);
      break;
    case PROP_COLORMAP:
      g_value_set_enum (value, self->colormap);
      break;
    case PROP_RANGE_MIN:
      g_value_set_double (value, self->range_min);
      break;
    case PROP_RANGE_MAX:
      g_value_set_double (value, self->range_max);
      break;
    case PROP_HISTORY:
      g_value_set_uint (value, self->history);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, self->seed);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

/* ------------------------------------------------------------------------ */
/* Start / stop */

/* "0.1,0.5,0.9" in 1-D, "0.2:0.3,0.5:0.5" (x:y) in 2-D. */
static PhysnnSensors *
parse_positions (GstPdeSrc *self, guint ndim, GError **error)
{
  g_auto (GStrv) items = g_strsplit (self->sensor_positions, ",", -1);
  guint n = g_strv_length (items);
  g_autofree gdouble *xs = g_new0 (gdouble, MAX (n, 1));
  g_autofree gdouble *ys = g_new0 (gdouble, MAX (n, 1));

  for (guint i = 0; i < n; i++) {
    g_auto (GStrv) xy = g_strsplit (g_strstrip (items[i]), ":", -1);
    guint k = g_strv_length (xy);
    gchar *end = NULL;
    if (k != ndim) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "sensor-positions \"%s\": position %u \"%s\" has %u coordinate(s), "
          "the %u-D domain needs %u", self->sensor_positions, i, items[i], k,
          ndim, ndim);
      return NULL;
    }
    for (guint c = 0; c < k; c++) {
      gdouble v = g_ascii_strtod (xy[c], &end);
      if (end == xy[c] || *end != '\0' || !isfinite (v)) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
            "sensor-positions \"%s\": \"%s\" is not a number",
            self->sensor_positions, xy[c]);
        return NULL;
      }
      (c == 0 ? xs : ys)[i] = v;
    }
  }
  if (n == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
        "sensor-positions is empty");
    return NULL;
  }
  return physnn_sensors_new (n, xs, ndim > 1 ? ys : NULL);
}

static gboolean
gst_pde_src_start (GstBaseSrc *src)
{
  GstPdeSrc *self = GST_PDE_SRC (src);
  g_autoptr (GError) error = NULL;

  if (self->fps_n <= 0) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("framerate must be positive, got %d/%d", self->fps_n, self->fps_d),
        (NULL));
    return FALSE;
  }
  if (!(self->time_scale > 0) || !isfinite (self->time_scale)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("time-scale must be a positive number, got %g", self->time_scale),
        (NULL));
    return FALSE;
  }
  if (!(self->range_max > self->range_min)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("range-max (%g) must be greater than range-min (%g)",
            self->range_max, self->range_min), (NULL));
    return FALSE;
  }
  if (!physnn_simulator_reset (self->sim, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", error->message),
        (NULL));
    return FALSE;
  }

  guint ndim = physnn_simulator_get_ndim (self->sim);
  if (self->sensor_positions && *self->sensor_positions) {
    self->sensors = parse_positions (self, ndim, &error);
    if (self->sensors == NULL) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", error->message),
          (NULL));
      return FALSE;
    }
  } else if (self->n_sensors > 0) {
    self->sensors = physnn_sensors_new_evenly (self->sim, self->n_sensors);
  }
  if (self->sensors) {
    for (guint i = 0; i < mirrors->len; i++) {
      Mirror *m = g_ptr_array_index (mirrors, i);
      if (m->target == TARGET_SENSORS)
        g_object_set_property (G_OBJECT (self->sensors), m->pspec->name,
            &self->sensor_props[i]);
    }
    g_object_set (self->sensors, "seed", self->seed, NULL);
    physnn_sensors_reset (self->sensors);
  }
  self->frame = 0;
  self->waterfall_rows = 0;
  GST_INFO_OBJECT (self, "simulating with %s",
      physnn_simulator_get_scheme (self->sim));
  return TRUE;
}

static gboolean
gst_pde_src_stop (GstBaseSrc *src)
{
  GstPdeSrc *self = GST_PDE_SRC (src);
  g_clear_object (&self->sensors);
  g_clear_pointer (&self->waterfall, g_free);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Caps */

static guint
n_sensors (GstPdeSrc *self)
{
  return self->sensors ? physnn_sensors_get_n_sensors (self->sensors) : 0;
}

static void
fill_tensors_info (GstPdeSrc *self, GstPhysnnTensorsInfo *info)
{
  guint ndim = physnn_simulator_get_ndim (self->sim);
  guint ns = n_sensors (self);

  gst_physnn_tensors_info_init (info);
  info->fps_n = self->fps_n;
  info->fps_d = self->fps_d;
  if (self->outputs & GST_PDE_SRC_OUTPUT_FIELD) {
    gsize shape[2];
    if (ndim == 2) {
      shape[0] = physnn_simulator_get_grid_size (self->sim, 1);
      shape[1] = physnn_simulator_get_grid_size (self->sim, 0);
    } else {
      shape[0] = physnn_simulator_get_grid_size (self->sim, 0);
    }
    gst_physnn_tensor_info_set (&info->tensors[info->n_tensors++],
        PHYSNN_DTYPE_FLOAT32, ndim, shape);
  }
  if (ns > 0) {
    gsize shape[2] = { ns, ndim };
    if (self->outputs & GST_PDE_SRC_OUTPUT_SENSORS)
      gst_physnn_tensor_info_set (&info->tensors[info->n_tensors++],
          PHYSNN_DTYPE_FLOAT32, 1, shape);
    if (self->outputs & GST_PDE_SRC_OUTPUT_MASK)
      gst_physnn_tensor_info_set (&info->tensors[info->n_tensors++],
          PHYSNN_DTYPE_UINT8, 1, shape);
    if (self->outputs & GST_PDE_SRC_OUTPUT_POSITIONS)
      gst_physnn_tensor_info_set (&info->tensors[info->n_tensors++],
          PHYSNN_DTYPE_FLOAT32, 2, shape);
  }
}

static void
video_size (GstPdeSrc *self, gint *width, gint *height)
{
  *width = (gint) physnn_simulator_get_grid_size (self->sim, 0);
  *height = physnn_simulator_get_ndim (self->sim) == 2 ?
      (gint) physnn_simulator_get_grid_size (self->sim, 1) :
      (gint) self->history;
}

static GstCaps *
gst_pde_src_get_caps (GstBaseSrc *src, GstCaps *filter)
{
  GstPdeSrc *self = GST_PDE_SRC (src);
  GstCaps *caps;

  if (!GST_OBJECT_FLAG_IS_SET (self, GST_BASE_SRC_FLAG_STARTED)) {
    caps = gst_pad_get_pad_template_caps (GST_BASE_SRC_PAD (src));
  } else {
    g_autofree GstPhysnnTensorsInfo *info = g_new (GstPhysnnTensorsInfo, 1);
    gint w, h;

    caps = gst_caps_new_empty ();
    fill_tensors_info (self, info);
    if (info->n_tensors > 0)
      caps = gst_caps_merge (caps, gst_physnn_tensors_info_to_caps (info));
    video_size (self, &w, &h);
    if (self->outputs & GST_PDE_SRC_OUTPUT_FIELD)
      caps = gst_caps_merge (caps, gst_caps_from_string ("video/x-raw, "
              "format = (string) { RGB, GRAY8, GRAY16_LE }"));
    for (guint i = 0; i < gst_caps_get_size (caps); i++) {
      GstStructure *s = gst_caps_get_structure (caps, i);
      if (gst_structure_has_name (s, "video/x-raw"))
        gst_structure_set (s, "width", G_TYPE_INT, w, "height", G_TYPE_INT, h,
            "framerate", GST_TYPE_FRACTION, self->fps_n, self->fps_d,
            "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
    }
  }
  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, caps,
        GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = tmp;
  }
  return caps;
}

static gboolean
gst_pde_src_set_caps (GstBaseSrc *src, GstCaps *caps)
{
  GstPdeSrc *self = GST_PDE_SRC (src);
  GstStructure *s = gst_caps_get_structure (caps, 0);

  if (gst_structure_has_name (s, "video/x-raw")) {
    if (!gst_video_info_from_caps (&self->vinfo, caps))
      return FALSE;
    switch (GST_VIDEO_INFO_FORMAT (&self->vinfo)) {
      case GST_VIDEO_FORMAT_RGB:
        self->format = FORMAT_RGB;
        break;
      case GST_VIDEO_FORMAT_GRAY8:
        self->format = FORMAT_GRAY8;
        break;
      default:
        self->format = FORMAT_GRAY16;
        break;
    }
    if (physnn_simulator_get_ndim (self->sim) == 1) {
      gsize nx = physnn_simulator_get_grid_size (self->sim, 0);
      g_free (self->waterfall);
      self->waterfall = g_new0 (gfloat, nx * self->history);
      self->waterfall_rows = 0;
    }
  } else {
    g_autoptr (GError) error = NULL;
    if (self->tinfo == NULL)
      self->tinfo = g_new (GstPhysnnTensorsInfo, 1);
    if (!gst_physnn_tensors_info_from_caps (self->tinfo, caps, &error)) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("%s", error->message),
          (NULL));
      return FALSE;
    }
    self->format = FORMAT_TENSORS;
  }
  GST_DEBUG_OBJECT (self, "negotiated %" GST_PTR_FORMAT, caps);
  return TRUE;
}

/* Negotiation failures are the most common pipeline mistake: say what we
 * offer and what downstream wanted instead of "Internal data stream
 * error". */
static gboolean
gst_pde_src_negotiate (GstBaseSrc *src)
{
  if (GST_BASE_SRC_CLASS (gst_pde_src_parent_class)->negotiate (src))
    return TRUE;
  g_autoptr (GstCaps) ours = gst_pad_query_caps (GST_BASE_SRC_PAD (src), NULL);
  g_autoptr (GstCaps) peer = gst_pad_peer_query_caps (GST_BASE_SRC_PAD (src),
      NULL);
  g_autofree gchar *ours_s = gst_caps_to_string (ours);
  g_autofree gchar *peer_s = gst_caps_to_string (peer);
  GST_ELEMENT_ERROR (src, CORE, NEGOTIATION,
      ("pdesrc cannot negotiate: it produces %s but downstream accepts %s",
          ours_s, peer_s), ("video output needs videoconvert for formats "
          "other than RGB, GRAY8 and GRAY16_LE"));
  return FALSE;
}

static GstCaps *
gst_pde_src_fixate (GstBaseSrc *src, GstCaps *caps)
{
  caps = gst_caps_make_writable (caps);
  /* Prefer the first structure: tensors, or RGB for video. */
  caps = gst_caps_truncate (caps);
  return GST_BASE_SRC_CLASS (gst_pde_src_parent_class)->fixate (src, caps);
}

/* ------------------------------------------------------------------------ */
/* Data */

static void
gst_pde_src_get_times (GstBaseSrc *src, GstBuffer *buffer,
    GstClockTime *start, GstClockTime *end)
{
  /* Only a live source waits for the clock before pushing. */
  if (gst_base_src_is_live (src)) {
    *start = GST_BUFFER_PTS (buffer);
    *end = *start + GST_BUFFER_DURATION (buffer);
  } else {
    *start = *end = GST_CLOCK_TIME_NONE;
  }
}

static void
render_rows (GstPdeSrc *self, GstVideoFrame *frame, const gfloat *values,
    gsize width, gsize rows, gsize first_row)
{
  guint8 *data = GST_VIDEO_FRAME_PLANE_DATA (frame, 0);
  gint stride = GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0);
  gdouble lo = self->range_min, span = self->range_max - self->range_min;

  for (gsize r = 0; r < rows; r++) {
    guint8 *row = data + (first_row + r) * stride;
    const gfloat *v = values + r * width;
    switch (self->format) {
      case FORMAT_RGB:
        physnn_colormap_apply (self->colormap, v, width, self->range_min,
            self->range_max, FALSE, row);
        break;
      case FORMAT_GRAY8:
        for (gsize x = 0; x < width; x++) {
          gdouble p = CLAMP ((v[x] - lo) / span, 0.0, 1.0);
          row[x] = isfinite (v[x]) ? (guint8) lrint (p * 255.0) : 0;
        }
        break;
      case FORMAT_GRAY16:
      default:
        for (gsize x = 0; x < width; x++) {
          gdouble p = CLAMP ((v[x] - lo) / span, 0.0, 1.0);
          GST_WRITE_UINT16_LE (row + 2 * x, isfinite (v[x]) ?
              (guint16) lrint (p * 65535.0) : 0);
        }
        break;
    }
  }
}

static GstFlowReturn
fill_video (GstPdeSrc *self, GstBuffer *buf)
{
  GstVideoFrame frame;
  gsize n = 0;
  const gdouble *field = physnn_simulator_peek_field (self->sim, &n);
  gsize width = (gsize) GST_VIDEO_INFO_WIDTH (&self->vinfo);
  gsize height = (gsize) GST_VIDEO_INFO_HEIGHT (&self->vinfo);

  if (!gst_video_frame_map (&frame, &self->vinfo, buf, GST_MAP_WRITE))
    return GST_FLOW_ERROR;

  if (physnn_simulator_get_ndim (self->sim) == 2) {
    g_autofree gfloat *f = g_new (gfloat, n);
    for (gsize i = 0; i < n; i++)
      f[i] = (gfloat) field[i];
    /* Row 0 of the field is y-min; draw it at the bottom like a plot. */
    for (gsize r = 0; r < height; r++)
      render_rows (self, &frame, f + (height - 1 - r) * width, width, 1, r);
  } else {
    /* 1-D: a scrolling space-time picture, newest state at the bottom. */
    if (self->waterfall_rows < height) {
      for (gsize x = 0; x < width; x++)
        self->waterfall[self->waterfall_rows * width + x] = (gfloat) field[x];
      self->waterfall_rows++;
    } else {
      memmove (self->waterfall, self->waterfall + width,
          (height - 1) * width * sizeof (gfloat));
      for (gsize x = 0; x < width; x++)
        self->waterfall[(height - 1) * width + x] = (gfloat) field[x];
    }
    gsize filled = self->waterfall_rows;
    guint8 *data = GST_VIDEO_FRAME_PLANE_DATA (&frame, 0);
    gint stride = GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);
    for (gsize r = 0; r < height - filled; r++)
      memset (data + r * stride, 0, (gsize) stride);
    render_rows (self, &frame, self->waterfall, width, filled,
        height - filled);
  }
  gst_video_frame_unmap (&frame);
  return GST_FLOW_OK;
}

static GstFlowReturn
fill_tensors (GstPdeSrc *self, GstBuffer *buf, GError **error)
{
  guint ns = n_sensors (self);
  guint ndim = physnn_simulator_get_ndim (self->sim);
  g_autofree gfloat *values = g_new0 (gfloat, MAX (ns, 1));
  g_autofree guint8 *mask = g_new0 (guint8, MAX (ns, 1));

  if (ns > 0 && !physnn_sensors_read (self->sensors, self->sim, values, mask,
          error))
    return GST_FLOW_ERROR;

  for (guint i = 0; i < self->tinfo->n_tensors; i++) {
    gsize size = gst_physnn_tensor_info_get_size (&self->tinfo->tensors[i]);
    GstMemory *mem = gst_allocator_alloc (NULL, size, NULL);
    GstMapInfo map;
    gst_memory_map (mem, &map, GST_MAP_WRITE);
    gfloat *f = (gfloat *) map.data;
    /* Tensors come in the fixed order field, sensors, mask, positions,
     * each only if enabled. */
    guint kind = 0, seen = 0;
    for (guint k = 0; k < 4; k++) {
      gboolean present = (self->outputs & (1u << k)) && (k == 0 || ns > 0);
      if (present && seen++ == i) {
        kind = 1u << k;
        break;
      }
    }
    switch (kind) {
      case GST_PDE_SRC_OUTPUT_FIELD:{
        gsize n = 0;
        const gdouble *field = physnn_simulator_peek_field (self->sim, &n);
        for (gsize k = 0; k < n && k < size / 4; k++)
          f[k] = (gfloat) field[k];
        break;
      }
      case GST_PDE_SRC_OUTPUT_SENSORS:
        memcpy (f, values, ns * sizeof (gfloat));
        break;
      case GST_PDE_SRC_OUTPUT_MASK:
        memcpy (map.data, mask, ns);
        break;
      case GST_PDE_SRC_OUTPUT_POSITIONS:
        for (guint s = 0; s < ns; s++) {
          f[s * ndim] = (gfloat) physnn_sensors_get_x (self->sensors, s);
          if (ndim > 1)
            f[s * ndim + 1] = (gfloat) physnn_sensors_get_y (self->sensors, s);
        }
        break;
      default:
        memset (map.data, 0, size);
        break;
    }
    gst_memory_unmap (mem, &map);
    gst_buffer_append_memory (buf, mem);
  }
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_pde_src_create (GstPushSrc *src, GstBuffer **outbuf)
{
  GstPdeSrc *self = GST_PDE_SRC (src);
  g_autoptr (GError) error = NULL;
  GstClockTime pts, next;
  GstBuffer *buf;
  GstFlowReturn ret;

  pts = gst_util_uint64_scale (self->frame, (guint64) self->fps_d * GST_SECOND,
      (guint64) self->fps_n);
  next = gst_util_uint64_scale (self->frame + 1,
      (guint64) self->fps_d * GST_SECOND, (guint64) self->fps_n);

  gdouble t = (gdouble) pts / GST_SECOND * self->time_scale;
  if (!physnn_simulator_advance (self->sim, t, &error)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("%s", error->message),
        ("frame %" G_GUINT64_FORMAT, self->frame));
    return GST_FLOW_ERROR;
  }

  if (self->format == FORMAT_TENSORS) {
    buf = gst_buffer_new ();
    ret = fill_tensors (self, buf, &error);
    if (ret != GST_FLOW_OK) {
      gst_buffer_unref (buf);
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("%s", error ? error->message :
              "cannot read sensors"), (NULL));
      return ret;
    }
  } else {
    buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&self->vinfo),
        NULL);
    ret = fill_video (self, buf);
    if (ret != GST_FLOW_OK) {
      gst_buffer_unref (buf);
      return ret;
    }
  }

  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = next - pts;
  GST_BUFFER_OFFSET (buf) = self->frame;
  GST_BUFFER_OFFSET_END (buf) = self->frame + 1;
  if (self->frame == 0)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
  self->frame++;
  *outbuf = buf;
  return GST_FLOW_OK;
}

static gboolean
gst_pde_src_is_seekable (GstBaseSrc *src)
{
  return FALSE;
}

/* ------------------------------------------------------------------------ */

static void
gst_pde_src_finalize (GObject *object)
{
  GstPdeSrc *self = GST_PDE_SRC (object);

  g_clear_object (&self->sim);
  g_clear_object (&self->sensors);
  g_free (self->sensor_positions);
  g_free (self->waterfall);
  g_free (self->tinfo);
  for (guint i = 0; i < mirrors->len; i++)
    if (G_IS_VALUE (&self->sensor_props[i]))
      g_value_unset (&self->sensor_props[i]);
  g_free (self->sensor_props);
  G_OBJECT_CLASS (gst_pde_src_parent_class)->finalize (object);
}

static void
gst_pde_src_class_init (GstPdeSrcClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (gst_pde_src_debug, "pdesrc", 0,
      "physnn PDE simulator source");

  gobject_class->set_property = gst_pde_src_set_property;
  gobject_class->get_property = gst_pde_src_get_property;
  gobject_class->finalize = gst_pde_src_finalize;

  g_object_class_install_property (gobject_class, PROP_SENSORS,
      g_param_spec_uint ("sensors", "Sensors",
          "Number of evenly spaced interior sensors (0: none); ignored when "
          "sensor-positions is set", 0, 65536, DEFAULT_SENSORS, rw));
  g_object_class_install_property (gobject_class, PROP_SENSOR_POSITIONS,
      g_param_spec_string ("sensor-positions", "Sensor positions",
          "Explicit sensor coordinates: \"x1,x2,...\" in 1-D, "
          "\"x1:y1,x2:y2,...\" in 2-D", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_OUTPUTS,
      g_param_spec_flags ("outputs", "Outputs",
          "Tensors in each other/tensors buffer, in the order field, sensors, "
          "mask, positions (sensor tensors only when there are sensors)",
          GST_TYPE_PDE_SRC_OUTPUTS, DEFAULT_OUTPUTS, rw));
  g_object_class_install_property (gobject_class, PROP_FRAMERATE,
      gst_param_spec_fraction ("framerate", "Frame rate",
          "Buffers per second of stream time", 1, 1000000, 1000000, 1,
          DEFAULT_FPS_N, DEFAULT_FPS_D, rw));
  g_object_class_install_property (gobject_class, PROP_TIME_SCALE,
      g_param_spec_double ("time-scale", "Time scale",
          "Simulated seconds per second of stream time: buffer n shows the "
          "state at t = PTS x time-scale", 1e-9, 1e9, DEFAULT_TIME_SCALE, rw));
  g_object_class_install_property (gobject_class, PROP_IS_LIVE,
      g_param_spec_boolean ("is-live", "Is live",
          "Behave as a live sensor: produce buffers in real time against the "
          "pipeline clock", DEFAULT_IS_LIVE, rw));
  g_object_class_install_property (gobject_class, PROP_COLORMAP,
      g_param_spec_enum ("colormap", "Colour map",
          "Colour map for RGB video output", PHYSNN_TYPE_COLORMAP,
          DEFAULT_COLORMAP, rw));
  g_object_class_install_property (gobject_class, PROP_RANGE_MIN,
      g_param_spec_double ("range-min", "Range minimum",
          "Field value drawn as the first colour (video output)", -G_MAXDOUBLE,
          G_MAXDOUBLE, DEFAULT_RANGE_MIN, rw));
  g_object_class_install_property (gobject_class, PROP_RANGE_MAX,
      g_param_spec_double ("range-max", "Range maximum",
          "Field value drawn as the last colour (video output)", -G_MAXDOUBLE,
          G_MAXDOUBLE, DEFAULT_RANGE_MAX, rw));
  g_object_class_install_property (gobject_class, PROP_HISTORY,
      g_param_spec_uint ("history", "History",
          "1-D video output: rows of the scrolling space-time picture "
          "(the picture height)", 1, 8192, DEFAULT_HISTORY, rw));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed",
          "Seed of the random initial state and of the sensor noise: equal "
          "seeds give identical streams", 0, G_MAXUINT64, DEFAULT_SEED, rw));

  mirrors = g_ptr_array_new ();
  install_mirrors (gobject_class, PHYSNN_TYPE_SIMULATOR, TARGET_SIMULATOR);
  install_mirrors (gobject_class, PHYSNN_TYPE_SENSORS, TARGET_SENSORS);

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "PDE physics simulator", "Source/Sensor/Physics",
      "Numerically solves heat, wave and Burgers equations and streams the "
      "field and simulated sensor readings with noise and injected faults",
      "physnn developers");

  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_pde_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_pde_src_stop);
  basesrc_class->get_caps = GST_DEBUG_FUNCPTR (gst_pde_src_get_caps);
  basesrc_class->set_caps = GST_DEBUG_FUNCPTR (gst_pde_src_set_caps);
  basesrc_class->fixate = GST_DEBUG_FUNCPTR (gst_pde_src_fixate);
  basesrc_class->negotiate = GST_DEBUG_FUNCPTR (gst_pde_src_negotiate);
  basesrc_class->get_times = GST_DEBUG_FUNCPTR (gst_pde_src_get_times);
  basesrc_class->is_seekable = GST_DEBUG_FUNCPTR (gst_pde_src_is_seekable);
  pushsrc_class->create = GST_DEBUG_FUNCPTR (gst_pde_src_create);

  gst_type_mark_as_plugin_api (GST_TYPE_PDE_SRC_OUTPUTS, 0);
}

static void
gst_pde_src_init (GstPdeSrc *self)
{
  self->sim = physnn_simulator_new (PHYSNN_PDE_HEAT_1D);
  self->sensor_props = g_new0 (GValue, mirrors->len);
  for (guint i = 0; i < mirrors->len; i++) {
    Mirror *m = g_ptr_array_index (mirrors, i);
    if (m->target == TARGET_SENSORS) {
      g_value_init (&self->sensor_props[i], G_PARAM_SPEC_VALUE_TYPE (m->pspec));
      g_param_value_set_default (m->pspec, &self->sensor_props[i]);
    }
  }
  self->n_sensors = DEFAULT_SENSORS;
  self->outputs = DEFAULT_OUTPUTS;
  self->fps_n = DEFAULT_FPS_N;
  self->fps_d = DEFAULT_FPS_D;
  self->time_scale = DEFAULT_TIME_SCALE;
  self->is_live = DEFAULT_IS_LIVE;
  self->colormap = DEFAULT_COLORMAP;
  self->range_min = DEFAULT_RANGE_MIN;
  self->range_max = DEFAULT_RANGE_MAX;
  self->history = DEFAULT_HISTORY;
  self->seed = DEFAULT_SEED;
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
  gst_base_src_set_live (GST_BASE_SRC (self), DEFAULT_IS_LIVE);
}
