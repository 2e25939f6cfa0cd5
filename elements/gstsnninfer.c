/* physnn — snninfer: runs a spiking network from a NIR file on the stream.
 *
 * The stream is one long simulation: every buffer continues from the state
 * the previous one left (membrane potentials, synaptic currents, delay
 * lines, STDP traces, rate estimates); a flush, a discontinuity, new caps
 * and stop start a new one. Learned weights and thresholds survive resets.
 *
 * Input: each buffer holds S steps of the network's Input node:
 *   other/tensors    one tensor of exactly the Input's values (S = 1) or
 *                    [S][Input's values] (e.g. spikeenc's [steps][neurons]);
 *                    uint8 spikes or any numeric currents
 *   application/x-spike-events  S = the caps' steps
 *   audio/x-raw      S = frames (frames-per-tensor), channels = inputs
 *   video/x-raw GRAY one step per frame, pixels = inputs
 * Each step may be held for steps-per-sample network steps.
 *
 * Output (property `output`): spikes (uint8 [steps][outputs], which may
 * leave as application/x-spike-events), values, membrane potentials, or
 * rates. Every buffer carries a GstSnnMeta with its step, spike and
 * synaptic-operation counts; post-messages also posts them on the bus.
 *
 * The network's parameters (dt, integration, homeostasis, STDP) are the
 * engine's PhysnnSnn properties, copied here with their blurbs and ranges;
 * they are checked when the element starts and whenever they change, and
 * an out-of-range value stops the stream with an error naming it.
 * save-location writes the learned network back to NIR at end of stream.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-snninfer
 * @title: snninfer
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 pdesrc sensors=16 outputs=sensors ! spikeenc method=rate
 * num-steps=20 ! snninfer model=net.nir output=rates ! fakesink
 * gst-launch-1.0 videotestsrc ! videoconvert ! video/x-raw,format=GRAY8,
 * width=28,height=28 ! spikeenc method=delta num-steps=1 ! snninfer
 * model=net.nir stdp=true save-location=learned.nir !
 * application/x-spike-events ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsnninfer.h"
#include "gstsnnmeta.h"
#include "gstspikeevents.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_snn_infer_debug);
#define GST_CAT_DEFAULT gst_snn_infer_debug

#define DEFAULT_MODEL NULL
#define DEFAULT_OUTPUT GST_SNN_INFER_OUTPUT_AUTO
#define DEFAULT_STEPS_PER_SAMPLE 1
#define DEFAULT_SAVE_LOCATION NULL
#define DEFAULT_POST_MESSAGES FALSE
#define MAX_STEPS_PER_SAMPLE 100000

enum {
  PROP_0,
  PROP_MODEL,
  PROP_OUTPUT,
  PROP_STEPS_PER_SAMPLE,
  PROP_SAVE_LOCATION,
  PROP_POST_MESSAGES,
  PROP_ENGINE_FIRST, /* then one per PhysnnSnn property */
};

struct _GstSnnInfer {
  GstPhysnnFilter parent;

  GMutex lock; /* guards everything below against property changes */
  gchar *model_path;
  GstSnnInferOutput output;
  guint steps_per_sample;
  gchar *save_location;
  gboolean post_messages;
  GValue *engine_values; /* one per engine property, applied at start */

  PhysnnSnn *snn;
  GstSnnInferOutput mode; /* output resolved at negotiation */
  guint in_steps;         /* S of the negotiated input */
  gboolean dirty;         /* learned state not yet saved */
};

G_DEFINE_TYPE (GstSnnInfer, gst_snn_infer, GST_TYPE_PHYSNN_FILTER);
GST_ELEMENT_REGISTER_DEFINE (
    snninfer, "snninfer", GST_RANK_NONE, GST_TYPE_SNN_INFER);

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
        GST_STATIC_CAPS (GST_PHYSNN_TENSORS_CAPS_ANY
            "; " GST_SPIKE_EVENTS_CAPS "; " GST_PHYSNN_AUDIO_CAPS
            "; " GST_PHYSNN_VIDEO_GRAY_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_PHYSNN_TENSORS_CAPS_ANY "; " GST_SPIKE_EVENTS_CAPS));

GType
gst_snn_infer_output_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_SNN_INFER_OUTPUT_AUTO,
        "Spikes if the Output node receives spikes, values otherwise", "auto" },
    { GST_SNN_INFER_OUTPUT_SPIKES, "uint8 spikes [steps][outputs]", "spikes" },
    { GST_SNN_INFER_OUTPUT_VALUES,
        "float32 values reaching the Output node [steps][outputs]", "values" },
    { GST_SNN_INFER_OUTPUT_MEMBRANE,
        "float32 membrane potentials of the last neuron node [steps][neurons]",
        "membrane" },
    { GST_SNN_INFER_OUTPUT_RATES,
        "float32 firing rates in Hz over each buffer [outputs]", "rates" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstSnnInferOutput", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

/* The engine's parameters are element properties: its param specs, with
 * their blurbs and defaults, are copied. Their ranges are checked by
 * physnn_snn_validate () so that a bad value gets a message that names it
 * instead of a GLib warning. */
static guint n_engine_props;
static GParamSpec **engine_props;

static GParamSpec *
copy_pspec (GParamSpec *p)
{
  GParamFlags flags =
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING;
  const gchar *name = g_param_spec_get_name (p);
  const gchar *nick = g_param_spec_get_nick (p);
  const gchar *blurb = g_param_spec_get_blurb (p);

  if (G_IS_PARAM_SPEC_ENUM (p))
    return g_param_spec_enum (name, nick, blurb, p->value_type,
        G_PARAM_SPEC_ENUM (p)->default_value, flags);
  if (G_IS_PARAM_SPEC_DOUBLE (p)) {
    GParamSpecDouble *d = G_PARAM_SPEC_DOUBLE (p);
    return g_param_spec_double (
        name, nick, blurb, d->minimum, d->maximum, d->default_value, flags);
  }
  if (G_IS_PARAM_SPEC_BOOLEAN (p))
    return g_param_spec_boolean (
        name, nick, blurb, G_PARAM_SPEC_BOOLEAN (p)->default_value, flags);
  g_assert_not_reached ();
}

/* ------------------------------------------------------------------------ */
/* Model */

static gboolean
load_model (GstSnnInfer *self, GError **error)
{
  g_clear_object (&self->snn);
  if (self->model_path == NULL || *self->model_path == '\0') {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "no model: set the model property to a NIR (.nir, HDF5) file");
    return FALSE;
  }
  PhysnnSnn *snn = physnn_snn_new_from_file (self->model_path, error);
  if (snn == NULL)
    return FALSE;
  for (guint i = 0; i < n_engine_props; i++)
    g_object_set_property (
        G_OBJECT (snn), engine_props[i]->name, &self->engine_values[i]);
  if (!physnn_snn_validate (snn, error)) {
    g_object_unref (snn);
    return FALSE;
  }
  self->snn = snn;
  self->dirty = FALSE;
  g_autofree gchar *desc = physnn_snn_describe (snn);
  GST_INFO_OBJECT (self, "loaded %s:\n%s", self->model_path, desc);
  return TRUE;
}

static gboolean
gst_snn_infer_start (GstBaseTransform *trans)
{
  GstSnnInfer *self = GST_SNN_INFER (trans);
  g_autoptr (GError) error = NULL;

  if (!GST_BASE_TRANSFORM_CLASS (gst_snn_infer_parent_class)->start (trans))
    return FALSE;
  g_mutex_lock (&self->lock);
  gboolean ok = load_model (self, &error);
  g_mutex_unlock (&self->lock);
  if (!ok) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", error->message),
        ("model=%s", self->model_path ? self->model_path : "(none)"));
    return FALSE;
  }
  return TRUE;
}

/* Writes the learned network (locked). */
static gboolean
save_model (GstSnnInfer *self, GError **error)
{
  if (self->save_location == NULL || self->snn == NULL || !self->dirty)
    return TRUE;
  if (!physnn_snn_save (self->snn, self->save_location, error))
    return FALSE;
  GST_INFO_OBJECT (
      self, "saved the learned network to %s", self->save_location);
  self->dirty = FALSE;
  return TRUE;
}

static gboolean
gst_snn_infer_stop (GstBaseTransform *trans)
{
  GstSnnInfer *self = GST_SNN_INFER (trans);
  g_autoptr (GError) error = NULL;

  g_mutex_lock (&self->lock);
  /* a stream stopped before its end is saved too */
  if (!save_model (self, &error))
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
        ("Could not save the learned network: %s", error->message),
        ("save-location=%s", self->save_location));
  g_clear_object (&self->snn);
  g_mutex_unlock (&self->lock);
  return GST_BASE_TRANSFORM_CLASS (gst_snn_infer_parent_class)->stop (trans);
}

/* ------------------------------------------------------------------------ */
/* Negotiation */

static gchar *
shape_string (guint rank, const gsize *shape)
{
  GString *s = g_string_new ("[");
  for (guint i = 0; i < rank; i++)
    g_string_append_printf (s, "%s%" G_GSIZE_FORMAT, i ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* Steps per buffer of the input, from its layout (locked). */
static gboolean
input_steps (GstSnnInfer *self, const GstPhysnnTensorsInfo *in, guint *steps,
    GError **error)
{
  gsize n_in = physnn_snn_get_n_inputs (self->snn);
  guint rank;
  const gsize *ishape = physnn_snn_get_input_shape (self->snn, &rank);
  g_autofree gchar *want = shape_string (rank, ishape);
  const GstPhysnnTensorInfo *t = &in->tensors[0];
  gsize count = gst_physnn_tensor_info_get_count (t);
  g_autofree gchar *have = shape_string (t->rank, t->shape);

  if (in->n_tensors != 1) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "snninfer takes one tensor per buffer; the stream has %u",
        in->n_tensors);
    return FALSE;
  }
  switch (in->media) {
    case GST_PHYSNN_MEDIA_AUDIO:
      if (t->shape[0] == 0) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
            "audio input needs frames-per-tensor > 0 so that buffers have a "
            "fixed number of steps");
        return FALSE;
      }
      if (t->shape[1] != n_in) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
            "the network input takes %" G_GSIZE_FORMAT " values per step "
            "(Input shape %s) but the audio has %" G_GSIZE_FORMAT " channels",
            n_in, want, t->shape[1]);
        return FALSE;
      }
      *steps = (guint)t->shape[0];
      return TRUE;
    case GST_PHYSNN_MEDIA_SPIKE_EVENTS:
      if (count / in->spike_steps != n_in) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
            "the network input takes %" G_GSIZE_FORMAT " values per step "
            "(Input shape %s) but the spike events have %" G_GSIZE_FORMAT
            " neurons%s per step",
            n_in, want, count / in->spike_steps,
            in->spike_planes == 2 ? " (two polarity planes)" : "");
        return FALSE;
      }
      *steps = in->spike_steps;
      return TRUE;
    default:
      break;
  }
  if (count == n_in) {
    *steps = 1;
    return TRUE;
  }
  if (t->rank >= 2 && count / t->shape[0] == n_in && count % t->shape[0] == 0 &&
      t->shape[0] <= G_MAXINT32) {
    *steps = (guint)t->shape[0];
    return TRUE;
  }
  g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
      "the network input takes %" G_GSIZE_FORMAT " values per step (Input "
      "shape %s), but the stream's tensor %s has %" G_GSIZE_FORMAT " values: "
      "neither one step nor [steps]%s",
      n_in, want, have, count, want);
  return FALSE;
}

static gboolean
gst_snn_infer_get_output_info (GstPhysnnFilter *filter,
    const GstPhysnnTensorsInfo *in, GstPhysnnTensorsInfo *out, GError **error)
{
  GstSnnInfer *self = GST_SNN_INFER (filter);
  gboolean ok = FALSE;
  guint steps = 0;

  g_mutex_lock (&self->lock);
  if (self->snn == NULL) {
    g_set_error (
        error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT, "no model loaded");
    goto done;
  }
  if (!input_steps (self, in, &steps, error))
    goto done;
  guint64 total = (guint64)steps * self->steps_per_sample;
  GstSnnInferOutput mode = self->output;
  gboolean spiking = physnn_snn_output_is_spiking (self->snn);
  if (mode == GST_SNN_INFER_OUTPUT_AUTO)
    mode = spiking ? GST_SNN_INFER_OUTPUT_SPIKES : GST_SNN_INFER_OUTPUT_VALUES;
  if ((mode == GST_SNN_INFER_OUTPUT_SPIKES ||
          mode == GST_SNN_INFER_OUTPUT_RATES) &&
      !spiking) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "output=%s needs spikes at the network's Output node, which "
        "receives continuous values here (use output=values or membrane)",
        mode == GST_SNN_INFER_OUTPUT_SPIKES ? "spikes" : "rates");
    goto done;
  }
  gsize per;
  guint rank = 0;
  gsize shape[PHYSNN_MAX_RANK];
  if (mode == GST_SNN_INFER_OUTPUT_MEMBRANE) {
    per = physnn_snn_get_n_recorded (self->snn, PHYSNN_SNN_RECORD_MEMBRANE);
    if (per == 0) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "output=membrane needs a neuron node directly before the "
          "network's Output node");
      goto done;
    }
    shape[rank++] = per;
  } else {
    guint orank;
    const gsize *oshape = physnn_snn_get_output_shape (self->snn, &orank);
    per = physnn_snn_get_n_outputs (self->snn);
    for (guint i = 0; i < orank && rank < PHYSNN_MAX_RANK - 1; i++)
      shape[rank++] = oshape[i];
    if (rank == 0)
      shape[rank++] = 1;
  }
  if (total * per > G_MAXINT32 || total == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "%" G_GUINT64_FORMAT " steps of %" G_GSIZE_FORMAT " outputs per buffer "
        "is out of range (at most 2^31 values)",
        total, per);
    goto done;
  }
  if (mode != GST_SNN_INFER_OUTPUT_RATES) {
    memmove (shape + 1, shape, rank * sizeof (gsize));
    shape[0] = (gsize)total;
    rank++;
  }
  out->media = GST_PHYSNN_MEDIA_TENSORS;
  out->n_tensors = 1;
  gst_physnn_tensor_info_set (&out->tensors[0],
      mode == GST_SNN_INFER_OUTPUT_SPIKES ? PHYSNN_DTYPE_UINT8
                                          : PHYSNN_DTYPE_FLOAT32,
      rank, shape);
  if (mode == GST_SNN_INFER_OUTPUT_SPIKES) {
    out->spike_steps = (guint)total;
    out->spike_planes = 1;
  }
  ok = TRUE;
done:
  g_mutex_unlock (&self->lock);
  return ok;
}

static gboolean
gst_snn_infer_setup (GstPhysnnFilter *filter, const GstPhysnnTensorsInfo *in,
    const GstPhysnnTensorsInfo *out, GError **error)
{
  GstSnnInfer *self = GST_SNN_INFER (filter);
  g_autofree GstPhysnnTensorsInfo *o = g_new0 (GstPhysnnTensorsInfo, 1);

  /* resolve the mode and the steps again, as negotiation did */
  if (!gst_snn_infer_get_output_info (filter, in, o, error))
    return FALSE;
  g_mutex_lock (&self->lock);
  gboolean ok = input_steps (self, in, &self->in_steps, error);
  self->mode = self->output;
  if (self->mode == GST_SNN_INFER_OUTPUT_AUTO)
    self->mode = physnn_snn_output_is_spiking (self->snn)
                     ? GST_SNN_INFER_OUTPUT_SPIKES
                     : GST_SNN_INFER_OUTPUT_VALUES;
  /* new caps, new stream */
  physnn_snn_reset (self->snn);
  g_mutex_unlock (&self->lock);
  return ok;
}

/* ------------------------------------------------------------------------ */
/* Processing */

static GstFlowReturn
gst_snn_infer_process (GstPhysnnFilter *filter, GstBuffer *inbuf,
    PhysnnTensor **inputs, guint n_inputs, GstBuffer *outbuf,
    PhysnnTensor **outputs, guint n_outputs, GError **error)
{
  GstSnnInfer *self = GST_SNN_INFER (filter);
  GstFlowReturn ret = GST_FLOW_ERROR;
  g_autoptr (PhysnnTensor) x = NULL;
  g_autoptr (PhysnnTensor) y = NULL;

  g_mutex_lock (&self->lock);
  PhysnnSnn *snn = self->snn;
  guint rep = self->steps_per_sample;
  guint steps = self->in_steps * rep;
  gsize n_in = physnn_snn_get_n_inputs (snn);

  if (GST_BUFFER_FLAG_IS_SET (inbuf, GST_BUFFER_FLAG_DISCONT) &&
      physnn_snn_get_step (snn) > 0) {
    GST_DEBUG_OBJECT (self, "discontinuity: network state reset");
    physnn_snn_reset (snn);
  }
  if (rep == 1) {
    x = g_object_ref (inputs[0]);
  } else {
    /* each step held for rep network steps */
    g_autoptr (PhysnnTensor) xf =
        physnn_tensor_convert (inputs[0], PHYSNN_DTYPE_FLOAT32);
    gsize shape[2] = { steps, n_in };
    x = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
    const gfloat *s = physnn_tensor_map (xf, PHYSNN_MAP_READ, NULL);
    gfloat *d = physnn_tensor_map (x, PHYSNN_MAP_WRITE, NULL);
    for (guint t = 0; t < self->in_steps; t++)
      for (guint k = 0; k < rep; k++)
        memcpy (d + ((gsize)t * rep + k) * n_in, s + (gsize)t * n_in,
            n_in * sizeof (gfloat));
    physnn_tensor_unmap (x);
    physnn_tensor_unmap (xf);
  }

  PhysnnDevice *dev = gst_physnn_filter_get_device (filter);
  PhysnnSnnRecord record = self->mode == GST_SNN_INFER_OUTPUT_MEMBRANE
                               ? PHYSNN_SNN_RECORD_MEMBRANE
                               : PHYSNN_SNN_RECORD_OUTPUT;
  PhysnnTensor *dest = outputs[0];
  if (physnn_tensor_get_dtype (dest) != PHYSNN_DTYPE_FLOAT32 ||
      self->mode == GST_SNN_INFER_OUTPUT_RATES) {
    gsize shape[2] = { steps, physnn_snn_get_n_recorded (snn, record) };
    y = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
    dest = y;
  }
  if (!physnn_snn_run (snn, dev, x, steps, dest, record, error))
    goto done;
  self->dirty = TRUE;

  if (self->mode == GST_SNN_INFER_OUTPUT_SPIKES) {
    const gfloat *s = physnn_tensor_map (y, PHYSNN_MAP_READ, NULL);
    gsize n;
    guint8 *d = physnn_tensor_map (outputs[0], PHYSNN_MAP_WRITE, &n);
    for (gsize i = 0; i < n; i++)
      d[i] = s[i] != 0.0f;
    physnn_tensor_unmap (outputs[0]);
    physnn_tensor_unmap (y);
  } else if (self->mode == GST_SNN_INFER_OUTPUT_RATES) {
    gdouble dt = 0;
    g_object_get (snn, "dt", &dt, NULL);
    gsize per = physnn_snn_get_n_outputs (snn);
    const gfloat *s = physnn_tensor_map (y, PHYSNN_MAP_READ, NULL);
    gfloat *d = physnn_tensor_map (outputs[0], PHYSNN_MAP_WRITE, NULL);
    for (gsize j = 0; j < per; j++) {
      guint64 c = 0;
      for (guint t = 0; t < steps; t++)
        c += s[(gsize)t * per + j] != 0.0f;
      d[j] = (gfloat)(c / (steps * dt));
    }
    physnn_tensor_unmap (outputs[0]);
    physnn_tensor_unmap (y);
  }

  GstSnnMeta *meta = gst_buffer_add_snn_meta (outbuf, "snninfer");
  if (meta) {
    meta->steps = physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_STEPS);
    meta->neurons = physnn_snn_get_n_neurons (snn);
    meta->input_spikes =
        physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_INPUT_SPIKES);
    meta->spikes = physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_SPIKES);
    meta->synops = physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_SYNOPS);
    meta->dense_synops =
        physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_DENSE_SYNOPS);
    meta->neuron_updates =
        physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_NEURON_UPDATES);
    meta->plastic_updates =
        physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_PLASTIC_UPDATES);
    if (self->post_messages)
      gst_element_post_message (GST_ELEMENT (self),
          gst_message_new_element (
              GST_OBJECT (self), gst_snn_meta_to_structure (meta, "snninfer")));
  }
  ret = GST_FLOW_OK;
done:
  g_mutex_unlock (&self->lock);
  return ret;
}

static gboolean
gst_snn_infer_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstSnnInfer *self = GST_SNN_INFER (trans);

  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP) {
    g_mutex_lock (&self->lock);
    if (self->snn)
      physnn_snn_reset (self->snn);
    g_mutex_unlock (&self->lock);
  } else if (GST_EVENT_TYPE (event) == GST_EVENT_EOS) {
    g_autoptr (GError) error = NULL;
    g_mutex_lock (&self->lock);
    gboolean ok = save_model (self, &error);
    g_mutex_unlock (&self->lock);
    if (!ok) {
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
          ("Could not save the learned network: %s", error->message),
          ("save-location=%s", self->save_location));
      gst_event_unref (event);
      return FALSE;
    }
  }
  return GST_BASE_TRANSFORM_CLASS (gst_snn_infer_parent_class)
      ->sink_event (trans, event);
}

/* ------------------------------------------------------------------------ */
/* Properties */

static void
gst_snn_infer_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstSnnInfer *self = GST_SNN_INFER (object);

  g_mutex_lock (&self->lock);
  switch (prop_id) {
    case PROP_MODEL:
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      break;
    case PROP_OUTPUT:
      self->output = g_value_get_enum (value);
      break;
    case PROP_STEPS_PER_SAMPLE:
      self->steps_per_sample = g_value_get_uint (value);
      break;
    case PROP_SAVE_LOCATION:
      g_free (self->save_location);
      self->save_location = g_value_dup_string (value);
      break;
    case PROP_POST_MESSAGES:
      self->post_messages = g_value_get_boolean (value);
      break;
    default:
      if (prop_id >= PROP_ENGINE_FIRST &&
          prop_id < PROP_ENGINE_FIRST + n_engine_props) {
        guint i = prop_id - PROP_ENGINE_FIRST;
        g_value_copy (value, &self->engine_values[i]);
        if (self->snn) {
          g_object_set_property (G_OBJECT (self->snn), pspec->name, value);
          /* a bad value stops the stream at the next buffer with the
           * engine's message; say so now as well */
          g_autoptr (GError) error = NULL;
          if (!physnn_snn_validate (self->snn, &error))
            GST_WARNING_OBJECT (self, "%s", error->message);
        }
      } else {
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      }
      break;
  }
  g_mutex_unlock (&self->lock);
}

static void
gst_snn_infer_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstSnnInfer *self = GST_SNN_INFER (object);

  g_mutex_lock (&self->lock);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, self->model_path);
      break;
    case PROP_OUTPUT:
      g_value_set_enum (value, self->output);
      break;
    case PROP_STEPS_PER_SAMPLE:
      g_value_set_uint (value, self->steps_per_sample);
      break;
    case PROP_SAVE_LOCATION:
      g_value_set_string (value, self->save_location);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, self->post_messages);
      break;
    default:
      if (prop_id >= PROP_ENGINE_FIRST &&
          prop_id < PROP_ENGINE_FIRST + n_engine_props) {
        guint i = prop_id - PROP_ENGINE_FIRST;
        if (self->snn)
          g_object_get_property (G_OBJECT (self->snn), pspec->name, value);
        else
          g_value_copy (&self->engine_values[i], value);
      } else {
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      }
      break;
  }
  g_mutex_unlock (&self->lock);
}

static void
gst_snn_infer_finalize (GObject *object)
{
  GstSnnInfer *self = GST_SNN_INFER (object);

  g_clear_object (&self->snn);
  g_free (self->model_path);
  g_free (self->save_location);
  for (guint i = 0; i < n_engine_props; i++)
    g_value_unset (&self->engine_values[i]);
  g_free (self->engine_values);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (gst_snn_infer_parent_class)->finalize (object);
}

static void
gst_snn_infer_class_init (GstSnnInferClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstPhysnnFilterClass *filter_class = GST_PHYSNN_FILTER_CLASS (klass);
  GParamFlags ready =
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (
      gst_snn_infer_debug, "snninfer", 0, "physnn spiking network inference");

  gobject_class->set_property = gst_snn_infer_set_property;
  gobject_class->get_property = gst_snn_infer_get_property;
  gobject_class->finalize = gst_snn_infer_finalize;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "NIR file (HDF5) of the spiking network: one Input and one Output "
          "node, any NIR neuron and synapse nodes, nested subgraphs "
          "(default none: required)",
          DEFAULT_MODEL, ready));
  g_object_class_install_property (gobject_class, PROP_OUTPUT,
      g_param_spec_enum ("output", "Output",
          "What each buffer carries: spikes, the Output node's values, "
          "membrane potentials or firing rates (default auto)",
          GST_TYPE_SNN_INFER_OUTPUT, DEFAULT_OUTPUT, ready));
  g_object_class_install_property (gobject_class, PROP_STEPS_PER_SAMPLE,
      g_param_spec_uint ("steps-per-sample", "Steps per sample",
          "Network steps each input step is held for (a constant current "
          "or a repeated spike pattern), 1 to 100000 (default 1)",
          1, MAX_STEPS_PER_SAMPLE, DEFAULT_STEPS_PER_SAMPLE, ready));
  g_object_class_install_property (gobject_class, PROP_SAVE_LOCATION,
      g_param_spec_string ("save-location", "Save location",
          "NIR file to write the learned weights and thresholds to (with "
          "the homeostasis state as metadata) at end of stream or stop, "
          "written to a temporary name and renamed (default none)",
          DEFAULT_SAVE_LOCATION,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post an element message \"snninfer\" per buffer with its steps, "
          "spikes and synaptic operations (also in the buffer's GstSnnMeta) "
          "(default false)",
          DEFAULT_POST_MESSAGES,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));

  GObjectClass *snn_class = g_type_class_ref (PHYSNN_TYPE_SNN);
  engine_props = g_object_class_list_properties (snn_class, &n_engine_props);
  for (guint i = 0; i < n_engine_props; i++)
    g_object_class_install_property (
        gobject_class, PROP_ENGINE_FIRST + i, copy_pspec (engine_props[i]));
  g_type_class_unref (snn_class);
  gst_type_mark_as_plugin_api (PHYSNN_TYPE_SNN_INTEGRATION, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_SNN_INFER_OUTPUT, 0);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "Spiking network inference", "Filter/Analyzer/Spiking",
      "Runs a spiking neural network from a NIR file (LIF, IF, LI, CubaLIF "
      "… dynamics) on spike or current streams, with optional homeostasis "
      "and online STDP",
      "physnn developers");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_snn_infer_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_snn_infer_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_snn_infer_sink_event);
  filter_class->get_output_info =
      GST_DEBUG_FUNCPTR (gst_snn_infer_get_output_info);
  filter_class->setup = GST_DEBUG_FUNCPTR (gst_snn_infer_setup);
  filter_class->process = GST_DEBUG_FUNCPTR (gst_snn_infer_process);
}

static void
gst_snn_infer_init (GstSnnInfer *self)
{
  g_mutex_init (&self->lock);
  self->output = DEFAULT_OUTPUT;
  self->steps_per_sample = DEFAULT_STEPS_PER_SAMPLE;
  self->post_messages = DEFAULT_POST_MESSAGES;
  self->engine_values = g_new0 (GValue, MAX (n_engine_props, 1));
  for (guint i = 0; i < n_engine_props; i++) {
    g_value_init (&self->engine_values[i], engine_props[i]->value_type);
    g_param_value_set_default (engine_props[i], &self->engine_values[i]);
  }
}
