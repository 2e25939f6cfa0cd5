/* physnn — spikeenc: turns a stream of samples into spike trains.
 *
 * Every input buffer holds T samples of N values: T = 1 for a tensor (all of
 * its values are the neurons) and for a gray video frame (pixels are the
 * neurons), T = frames for audio (channels are the neurons; set
 * frames-per-tensor to cut the stream into fixed chunks). Each sample
 * becomes num-steps time steps, so a buffer becomes S = T·num-steps steps
 * spread evenly over its duration: step k starts at
 * PTS + floor(k·duration/S).
 *
 * Output, chosen by caps negotiation (dense first):
 *   other/tensors   uint8 [S][P][sample shape][M], 1 = spike. P = 2 (on
 *                   plane, then off plane) only with off-spikes for delta
 *                   and sigma-delta; M only for population coding (fields
 *                   of one input adjacent). NNStreamer dimension strings
 *                   list these innermost first.
 *   application/x-spike-events  the same spikes as address events, see
 *                   docs/spike-events.md.
 *
 * Integer media are read as fractions of full scale: GRAY8 / 255,
 * GRAY16 / 65535, S16 audio / 32768; tensors are taken as they are. The
 * encoder state (previous sample, sigma-delta residue, random-number step)
 * runs on across buffers and is reset by a flush, a discontinuity and
 * stop. Each output buffer carries a GstSnnMeta with its spike count.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-spikeenc
 * @title: spikeenc
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 pdesrc sensors=16 outputs=sensors ! spikeenc
 * method=sigma-delta threshold=0.02 num-steps=4 ! fakesink gst-launch-1.0
 * videotestsrc ! videoconvert ! video/x-raw,format=GRAY8 ! spikeenc
 * method=delta num-steps=1 off-spikes=true ! application/x-spike-events !
 * fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstspikeenc.h"
#include "gstsnnmeta.h"
#include "gstspikeevents.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_spike_enc_debug);
#define GST_CAT_DEFAULT gst_spike_enc_debug

#define DEFAULT_POST_MESSAGES FALSE

enum {
  PROP_0,
  PROP_POST_MESSAGES,
  PROP_ENCODER_FIRST, /* then one per PhysnnEncoder property */
};

struct _GstSpikeEnc {
  GstPhysnnFilter parent;

  PhysnnEncoder *encoder; /* holds the encoding properties */
  GMutex lock;            /* guards encoder property access vs. use */
  gboolean post_messages;

  guint n_samples; /* T of the negotiated input */
  gfloat scale;    /* integer media to fractions */
};

G_DEFINE_TYPE (GstSpikeEnc, gst_spike_enc, GST_TYPE_PHYSNN_FILTER);
GST_ELEMENT_REGISTER_DEFINE (
    spikeenc, "spikeenc", GST_RANK_NONE, GST_TYPE_SPIKE_ENC);

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
        GST_STATIC_CAPS (GST_PHYSNN_TENSORS_CAPS_ANY
            "; " GST_PHYSNN_AUDIO_CAPS "; " GST_PHYSNN_VIDEO_GRAY_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_PHYSNN_TENSORS_CAPS_ANY "; " GST_SPIKE_EVENTS_CAPS));

/* The encoder's parameters are the element's properties: the engine's
 * param specs, with their ranges, defaults and blurbs, are copied. Those
 * that change the output layout can only change in READY. */
static guint n_encoder_props;
static GParamSpec **encoder_props;

static gboolean
changes_layout (const gchar *name)
{
  return strcmp (name, "method") == 0 || strcmp (name, "num-steps") == 0 ||
         strcmp (name, "off-spikes") == 0 ||
         strcmp (name, "population-size") == 0;
}

static GParamSpec *
copy_pspec (GParamSpec *p)
{
  GParamFlags flags = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                      (changes_layout (p->name) ? GST_PARAM_MUTABLE_READY
                                                : GST_PARAM_MUTABLE_PLAYING);
  const gchar *name = g_param_spec_get_name (p);
  const gchar *nick = g_param_spec_get_nick (p);
  const gchar *blurb = g_param_spec_get_blurb (p);

  if (G_IS_PARAM_SPEC_ENUM (p)) {
    GParamSpecEnum *e = G_PARAM_SPEC_ENUM (p);
    return g_param_spec_enum (
        name, nick, blurb, p->value_type, e->default_value, flags);
  }
  if (G_IS_PARAM_SPEC_UINT (p)) {
    GParamSpecUInt *u = G_PARAM_SPEC_UINT (p);
    return g_param_spec_uint (
        name, nick, blurb, u->minimum, u->maximum, u->default_value, flags);
  }
  if (G_IS_PARAM_SPEC_UINT64 (p)) {
    GParamSpecUInt64 *u = G_PARAM_SPEC_UINT64 (p);
    return g_param_spec_uint64 (
        name, nick, blurb, u->minimum, u->maximum, u->default_value, flags);
  }
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

static gboolean
gst_spike_enc_get_output_info (GstPhysnnFilter *filter,
    const GstPhysnnTensorsInfo *in, GstPhysnnTensorsInfo *out, GError **error)
{
  GstSpikeEnc *self = GST_SPIKE_ENC (filter);
  const GstPhysnnTensorInfo *t = &in->tensors[0];
  gsize sample[PHYSNN_MAX_RANK];
  guint rank = 0, n_samples = 1;

  if (in->n_tensors != 1) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "spikeenc encodes one tensor per buffer; the stream has %u (select "
        "one, e.g. pdesrc outputs=sensors)",
        in->n_tensors);
    return FALSE;
  }
  switch (in->media) {
    case GST_PHYSNN_MEDIA_AUDIO:
      if (t->shape[0] == 0) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
            "audio input needs frames-per-tensor > 0 so that buffers have "
            "a fixed number of steps");
        return FALSE;
      }
      n_samples = (guint)t->shape[0];
      sample[rank++] = t->shape[1];
      break;
    case GST_PHYSNN_MEDIA_SPIKE_EVENTS:
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "the input is already spikes");
      return FALSE;
    default:
      for (guint i = 0; i < t->rank; i++)
        sample[rank++] = t->shape[i];
      if (rank == 0)
        sample[rank++] = 1;
      break;
  }

  g_mutex_lock (&self->lock);
  guint steps = physnn_encoder_get_num_steps (self->encoder);
  guint per = physnn_encoder_get_outputs_per_input (self->encoder);
  gboolean polarity = physnn_encoder_has_polarity (self->encoder);
  g_mutex_unlock (&self->lock);

  gsize shape[PHYSNN_MAX_RANK];
  guint r = 0;
  guint64 total = (guint64)n_samples * steps * per;
  shape[r++] = (gsize)n_samples * steps;
  if (polarity)
    shape[r++] = 2;
  for (guint i = 0; i < rank; i++) {
    total *= sample[i];
    shape[r++] = sample[i];
  }
  if (!polarity && per > 1)
    shape[r++] = per;
  if (r > PHYSNN_MAX_RANK || total > G_MAXINT32) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "the spike train would have rank %u and %" G_GUINT64_FORMAT " values "
        "per buffer (limits %d and 2^31)",
        r, total, PHYSNN_MAX_RANK);
    return FALSE;
  }
  out->media = GST_PHYSNN_MEDIA_TENSORS;
  out->n_tensors = 1;
  gst_physnn_tensor_info_set (&out->tensors[0], PHYSNN_DTYPE_UINT8, r, shape);
  out->spike_steps = n_samples * steps;
  out->spike_planes = polarity ? 2 : 1;
  return TRUE;
}

static gboolean
gst_spike_enc_setup (GstPhysnnFilter *filter, const GstPhysnnTensorsInfo *in,
    const GstPhysnnTensorsInfo *out, GError **error)
{
  GstSpikeEnc *self = GST_SPIKE_ENC (filter);
  const GstPhysnnTensorInfo *t = &in->tensors[0];

  self->n_samples =
      in->media == GST_PHYSNN_MEDIA_AUDIO ? (guint)t->shape[0] : 1;
  self->scale = 1.0f;
  if (in->media == GST_PHYSNN_MEDIA_VIDEO)
    self->scale = t->dtype == PHYSNN_DTYPE_UINT8 ? 1.0f / 255 : 1.0f / 65535;
  else if (in->media == GST_PHYSNN_MEDIA_AUDIO &&
           t->dtype == PHYSNN_DTYPE_INT16)
    self->scale = 1.0f / 32768;

  g_mutex_lock (&self->lock);
  gboolean ok = physnn_encoder_validate (self->encoder, error);
  /* New caps, new stream. */
  physnn_encoder_reset (self->encoder);
  g_mutex_unlock (&self->lock);
  return ok;
}

static GstFlowReturn
gst_spike_enc_process (GstPhysnnFilter *filter, GstBuffer *inbuf,
    PhysnnTensor **inputs, guint n_inputs, GstBuffer *outbuf,
    PhysnnTensor **outputs, guint n_outputs, GError **error)
{
  GstSpikeEnc *self = GST_SPIKE_ENC (filter);
  g_autoptr (PhysnnTensor) x = NULL;

  if (physnn_tensor_get_dtype (inputs[0]) == PHYSNN_DTYPE_FLOAT32 &&
      self->scale == 1.0f) {
    x = g_object_ref (inputs[0]);
  } else {
    x = physnn_tensor_convert (inputs[0], PHYSNN_DTYPE_FLOAT32);
    if (self->scale != 1.0f) {
      gsize n;
      gfloat *p = physnn_tensor_map (x, PHYSNN_MAP_READ | PHYSNN_MAP_WRITE, &n);
      n /= sizeof (gfloat);
      for (gsize i = 0; i < n; i++)
        p[i] *= self->scale;
      physnn_tensor_unmap (x);
    }
  }

  g_mutex_lock (&self->lock);
  if (GST_BUFFER_FLAG_IS_SET (inbuf, GST_BUFFER_FLAG_DISCONT) &&
      physnn_encoder_get_step (self->encoder) > 0) {
    GST_DEBUG_OBJECT (self, "discontinuity: encoder state reset");
    physnn_encoder_reset (self->encoder);
  }
  guint64 before = physnn_encoder_get_spike_count (self->encoder);
  gboolean ok = physnn_encoder_encode (self->encoder,
      gst_physnn_filter_get_device (filter), x, self->n_samples, outputs[0],
      error);
  guint64 spikes = physnn_encoder_get_spike_count (self->encoder) - before;
  guint steps = physnn_encoder_get_num_steps (self->encoder) * self->n_samples;
  g_mutex_unlock (&self->lock);
  if (!ok)
    return GST_FLOW_ERROR;

  GstSnnMeta *meta = gst_buffer_add_snn_meta (outbuf, "spikeenc");
  if (meta) {
    meta->steps = steps;
    meta->neurons = physnn_tensor_get_n_elements (outputs[0]) / steps;
    meta->spikes = spikes;
    if (self->post_messages)
      gst_element_post_message (GST_ELEMENT (self),
          gst_message_new_element (
              GST_OBJECT (self), gst_snn_meta_to_structure (meta, "spikeenc")));
  }
  return GST_FLOW_OK;
}

static gboolean
gst_spike_enc_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstSpikeEnc *self = GST_SPIKE_ENC (trans);
  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP) {
    g_mutex_lock (&self->lock);
    physnn_encoder_reset (self->encoder);
    g_mutex_unlock (&self->lock);
  }
  return GST_BASE_TRANSFORM_CLASS (gst_spike_enc_parent_class)
      ->sink_event (trans, event);
}

static gboolean
gst_spike_enc_stop (GstBaseTransform *trans)
{
  GstSpikeEnc *self = GST_SPIKE_ENC (trans);
  g_mutex_lock (&self->lock);
  physnn_encoder_reset (self->encoder);
  g_mutex_unlock (&self->lock);
  return GST_BASE_TRANSFORM_CLASS (gst_spike_enc_parent_class)->stop (trans);
}

/* ------------------------------------------------------------------------ */

static void
gst_spike_enc_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstSpikeEnc *self = GST_SPIKE_ENC (object);

  if (prop_id == PROP_POST_MESSAGES) {
    self->post_messages = g_value_get_boolean (value);
  } else if (prop_id >= PROP_ENCODER_FIRST &&
             prop_id < PROP_ENCODER_FIRST + n_encoder_props) {
    g_mutex_lock (&self->lock);
    g_object_set_property (G_OBJECT (self->encoder), pspec->name, value);
    g_mutex_unlock (&self->lock);
    if (changes_layout (pspec->name))
      gst_base_transform_reconfigure_src (GST_BASE_TRANSFORM (self));
  } else {
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
gst_spike_enc_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstSpikeEnc *self = GST_SPIKE_ENC (object);

  if (prop_id == PROP_POST_MESSAGES) {
    g_value_set_boolean (value, self->post_messages);
  } else if (prop_id >= PROP_ENCODER_FIRST &&
             prop_id < PROP_ENCODER_FIRST + n_encoder_props) {
    g_mutex_lock (&self->lock);
    g_object_get_property (G_OBJECT (self->encoder), pspec->name, value);
    g_mutex_unlock (&self->lock);
  } else {
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
gst_spike_enc_finalize (GObject *object)
{
  GstSpikeEnc *self = GST_SPIKE_ENC (object);
  g_clear_object (&self->encoder);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (gst_spike_enc_parent_class)->finalize (object);
}

static void
gst_spike_enc_class_init (GstSpikeEncClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstPhysnnFilterClass *filter_class = GST_PHYSNN_FILTER_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (
      gst_spike_enc_debug, "spikeenc", 0, "physnn spike encoder");

  gobject_class->set_property = gst_spike_enc_set_property;
  gobject_class->get_property = gst_spike_enc_get_property;
  gobject_class->finalize = gst_spike_enc_finalize;

  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post an element message \"spikeenc\" per buffer with its steps, "
          "neurons and spike count (also in the buffer's GstSnnMeta) "
          "(default false)",
          DEFAULT_POST_MESSAGES,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));

  GObjectClass *enc_class = g_type_class_ref (PHYSNN_TYPE_ENCODER);
  encoder_props = g_object_class_list_properties (enc_class, &n_encoder_props);
  for (guint i = 0; i < n_encoder_props; i++)
    g_object_class_install_property (
        gobject_class, PROP_ENCODER_FIRST + i, copy_pspec (encoder_props[i]));
  g_type_class_unref (enc_class);
  gst_type_mark_as_plugin_api (PHYSNN_TYPE_ENCODE_METHOD, 0);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Spike encoder",
      "Filter/Converter/Spiking",
      "Encodes tensor, audio or gray video samples as spike trains (rate, "
      "Poisson, latency, delta, sigma-delta, population), dense or as "
      "address events",
      "physnn developers");

  trans_class->stop = GST_DEBUG_FUNCPTR (gst_spike_enc_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_spike_enc_sink_event);
  filter_class->get_output_info =
      GST_DEBUG_FUNCPTR (gst_spike_enc_get_output_info);
  filter_class->setup = GST_DEBUG_FUNCPTR (gst_spike_enc_setup);
  filter_class->process = GST_DEBUG_FUNCPTR (gst_spike_enc_process);
}

static void
gst_spike_enc_init (GstSpikeEnc *self)
{
  g_mutex_init (&self->lock);
  self->encoder = physnn_encoder_new (PHYSNN_ENCODE_RATE);
  self->post_messages = DEFAULT_POST_MESSAGES;
  self->n_samples = 1;
  self->scale = 1.0f;
}
