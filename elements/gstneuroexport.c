/* physnn — neuroexport: the neuromorphic exporter.
 *
 * SECTION:element-neuroexport
 *
 * Sits in a spike stream and, at the end of the stream, writes the spiking
 * network of `model` (NIR) in the chosen `formats` — NIR, Lava-dl NetX,
 * a PyNN script, spike JSON, an Akida-ready 4-bit ONNX — fitted to
 * `platform`, with the spikes it saw. Buffers pass through unchanged.
 *
 * The stream is either the network's input (its neurons per step equal
 * the network's inputs: put neuroexport between spikeenc and snninfer, or
 * use it alone) or its output (after snninfer). On the input, neuroexport
 * runs the network itself with the engine snninfer uses, to count the
 * work and record the output spikes; on the output it takes the counts of
 * snninfer's GstSnnMeta. Per buffer it attaches a GstEnergyMeta and posts
 * an element message "neuroexport-energy" with energy estimates on each
 * target (published per-operation energies, sources in
 * docs/neuromorphic.md); at EOS a "neuroexport-summary" message with the
 * totals and the files written.
 *
 * Every file is written under a temporary name and renamed. A stream
 * stopped before EOS still gets its exports (with a warning saying so);
 * an unwritable location or a network that does not fit the platform
 * fails at start, before any buffer flows.
 *
 * |[
 * gst-launch-1.0 pdesrc outputs=sensors ! spikeenc method=rate ! \
 *   neuroexport model=net.nir location=out/net platform=loihi ! \
 *   snninfer model=net.nir ! fakesink
 * ]|
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstneuroexport.h"
#include "gstenergymeta.h"
#include "gstsnnmeta.h"
#include "gstspikeevents.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

GST_DEBUG_CATEGORY_STATIC (gst_neuro_export_debug);
#define GST_CAT_DEFAULT gst_neuro_export_debug

#define ALL_FORMATS 0x1f
#define DEFAULT_FORMATS ALL_FORMATS
#define DEFAULT_PLATFORM PHYSNN_NEURO_PLATFORM_GENERIC
#define DEFAULT_DT 1e-3
#define DEFAULT_POST_MESSAGES TRUE

enum {
  PROP_0,
  PROP_MODEL,
  PROP_LOCATION,
  PROP_FORMATS,
  PROP_PLATFORM,
  PROP_DT,
  PROP_RECORD_LOCATION,
  PROP_REPORT_LOCATION,
  PROP_POST_MESSAGES,
};

enum { C_STEPS, C_SYNOPS, C_DENSE, C_UPDATES, C_SPIKES, N_C };

struct _GstNeuroExport {
  GstPhysnnFilter parent;

  GMutex lock; /* properties vs. streaming */
  gchar *model, *location, *record_location, *report_location;
  guint formats;
  PhysnnNeuroPlatform platform;
  gdouble dt;
  gboolean post_messages;

  /* from start to stop */
  PhysnnNeuroNet *net;    /* as read */
  PhysnnNeuroNet *target; /* fitted to the platform (or net) */
  PhysnnSnn *snn;         /* when the stream is the network input */
  gboolean is_input;
  gsize width;
  guint steps;
  PhysnnSpikeRecord *in_rec, *out_rec;
  guint64 totals[N_C];
  guint64 buffers;
  gboolean finished;
};

G_DEFINE_TYPE (GstNeuroExport, gst_neuro_export, GST_TYPE_PHYSNN_FILTER);
GST_ELEMENT_REGISTER_DEFINE (
    neuroexport, "neuroexport", GST_RANK_NONE, GST_TYPE_NEURO_EXPORT);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_PHYSNN_TENSORS_CAPS_ANY "; " GST_SPIKE_EVENTS_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_PHYSNN_TENSORS_CAPS_ANY "; " GST_SPIKE_EVENTS_CAPS));

static const struct {
  guint flag;
  PhysnnNeuroFormat format;
  const gchar *suffix;
} outputs[] = {
  { GST_NEURO_EXPORT_NIR, PHYSNN_NEURO_FORMAT_NIR, ".nir" },
  { GST_NEURO_EXPORT_LAVA_NETX, PHYSNN_NEURO_FORMAT_LAVA_NETX, ".netx.h5" },
  { GST_NEURO_EXPORT_PYNN, PHYSNN_NEURO_FORMAT_PYNN, ".pynn.py" },
  { GST_NEURO_EXPORT_SPIKE_JSON, PHYSNN_NEURO_FORMAT_SPIKE_JSON,
      ".spikes.json" },
  { GST_NEURO_EXPORT_AKIDA, PHYSNN_NEURO_FORMAT_AKIDA, ".akida.onnx" },
};

GType
gst_neuro_export_formats_get_type (void)
{
  static GType type = 0;
  static const GFlagsValue values[] = { { GST_NEURO_EXPORT_NIR,
                                            "NIR HDF5 (LOCATION.nir)", "nir" },
    { GST_NEURO_EXPORT_LAVA_NETX,
        "Lava-dl NetX HDF5 with Loihi fixed point (LOCATION.netx.h5)",
        "lava-netx" },
    { GST_NEURO_EXPORT_PYNN,
        "PyNN script and its data (LOCATION.pynn.py, .pynn.py.data.json)",
        "pynn" },
    { GST_NEURO_EXPORT_SPIKE_JSON,
        "spike JSON with the recorded spikes (LOCATION.spikes.json)",
        "spike-json" },
    { GST_NEURO_EXPORT_AKIDA,
        "Akida constraint check and 4-bit ONNX for QuantizeML "
        "(LOCATION.akida.onnx)",
        "akida" },
    { 0, NULL, NULL } };
  if (g_once_init_enter (&type)) {
    GType t = g_flags_register_static ("GstNeuroExportFormats", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

/* ------------------------------------------------------------------------ */

static void
clear_stream (GstNeuroExport *self)
{
  g_clear_object (&self->net);
  g_clear_object (&self->target);
  g_clear_object (&self->snn);
  g_clear_object (&self->in_rec);
  g_clear_object (&self->out_rec);
  memset (self->totals, 0, sizeof self->totals);
  self->buffers = 0;
  self->finished = FALSE;
  self->width = 0;
}

/* Can files be created beside @path? */
static gboolean
check_writable (GstNeuroExport *self, const gchar *what, const gchar *path)
{
  g_autofree gchar *dir = g_path_get_dirname (path);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR)) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
        ("%s \"%s\": the directory \"%s\" does not exist", what, path, dir),
        (NULL));
    return FALSE;
  }
  if (g_access (dir, W_OK) != 0) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
        ("%s \"%s\": the directory \"%s\" is not writable", what, path, dir),
        (NULL));
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_neuro_export_start (GstBaseTransform *trans)
{
  GstNeuroExport *self = GST_NEURO_EXPORT (trans);
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnNirGraph) g = NULL;

  if (!GST_BASE_TRANSFORM_CLASS (gst_neuro_export_parent_class)->start (trans))
    return FALSE;

  g_mutex_lock (&self->lock);
  clear_stream (self);
  gboolean ok = FALSE;
  if (self->model == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No model: set the model property to a NIR file"), (NULL));
    goto out;
  }
  if (self->formats && self->location == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No location: set location to the base name of the exported files "
         "(or formats to none)"),
        (NULL));
    goto out;
  }
  if ((self->formats && !check_writable (self, "location", self->location)) ||
      (self->record_location &&
          !check_writable (self, "record-location", self->record_location)) ||
      (self->report_location &&
          !check_writable (self, "report-location", self->report_location)))
    goto out;

  g = physnn_nir_graph_load (self->model, &error);
  if (g)
    self->net = physnn_neuro_net_new (g, self->dt, &error);
  if (self->net == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("Cannot export the network of %s", self->model),
        ("%s", error->message));
    goto out;
  }
  if (self->platform == PHYSNN_NEURO_PLATFORM_GENERIC)
    self->target = g_object_ref (self->net);
  else
    self->target = physnn_neuro_net_fit (self->net, self->platform, &error);
  /* The formats' own platforms too: fail now, not at EOS. */
  static const struct {
    guint flag;
    PhysnnNeuroPlatform p;
  } needs[] = { { GST_NEURO_EXPORT_LAVA_NETX, PHYSNN_NEURO_PLATFORM_LOIHI },
    { GST_NEURO_EXPORT_PYNN, PHYSNN_NEURO_PLATFORM_SPINNAKER2 },
    { GST_NEURO_EXPORT_AKIDA, PHYSNN_NEURO_PLATFORM_AKIDA } };
  for (guint i = 0; self->target && i < G_N_ELEMENTS (needs); i++)
    if ((self->formats & needs[i].flag) &&
        !physnn_neuro_net_check_platform (self->net, needs[i].p, &error))
      g_clear_object (&self->target);
  if (self->target == NULL) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("The network of %s does not fit the chosen platform or formats",
            self->model),
        ("%s", error->message));
    goto out;
  }
  ok = TRUE;
out:
  g_mutex_unlock (&self->lock);
  return ok;
}

/* A pass-through: what comes in goes out in the same form (address events
 * stay events; dense trains stay dense, or become events downstream asks). */
static gboolean
gst_neuro_export_get_output_info (GstPhysnnFilter *filter,
    const GstPhysnnTensorsInfo *in, GstPhysnnTensorsInfo *out, GError **error)
{
  memcpy (out, in, sizeof *out);
  return TRUE;
}

static gboolean
gst_neuro_export_setup (GstPhysnnFilter *filter, const GstPhysnnTensorsInfo *in,
    const GstPhysnnTensorsInfo *out, GError **error)
{
  GstNeuroExport *self = GST_NEURO_EXPORT (filter);
  const GstPhysnnTensorInfo *t = &in->tensors[0];

  if (in->n_tensors != 1 || t->rank < 1 ||
      (in->media != GST_PHYSNN_MEDIA_TENSORS &&
          in->media != GST_PHYSNN_MEDIA_SPIKE_EVENTS)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "neuroexport takes one spike train per buffer ([steps][neurons] "
        "tensor or spike events)");
    return FALSE;
  }
  guint steps = in->spike_steps ? in->spike_steps : (guint)t->shape[0];
  gsize width = gst_physnn_tensor_info_get_count (t) / MAX (steps, 1);

  g_mutex_lock (&self->lock);
  gboolean ok = TRUE;
  gsize n_in = physnn_neuro_net_get_n_inputs (self->net);
  gsize n_out = physnn_neuro_net_get_n_outputs (self->net);
  if (width == n_in) {
    self->is_input = TRUE;
  } else if (width == n_out) {
    self->is_input = FALSE;
  } else {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "the stream has %" G_GSIZE_FORMAT " neurons per step; the network "
        "of %s has %" G_GSIZE_FORMAT " inputs and %" G_GSIZE_FORMAT " outputs",
        width, self->model, n_in, n_out);
    ok = FALSE;
  }
  if (ok && (self->width != width || self->steps != steps)) {
    /* New layout, new recording (renegotiation mid-stream). */
    g_clear_object (&self->in_rec);
    g_clear_object (&self->out_rec);
    g_clear_object (&self->snn);
    self->width = width;
    self->steps = steps;
    if (self->is_input) {
      g_autoptr (PhysnnNirGraph) g = physnn_neuro_net_to_nir (self->net);
      self->snn = physnn_snn_new (g, error);
      if (self->snn)
        g_object_set (self->snn, "dt", self->dt, NULL);
      else
        ok = FALSE;
      self->in_rec = physnn_spike_record_new (n_in, self->dt);
    }
    self->out_rec = physnn_spike_record_new (n_out, self->dt);
  }
  GST_INFO_OBJECT (self,
      "stream is the network's %s: %u steps x %" G_GSIZE_FORMAT
      " neurons per buffer",
      self->is_input ? "input" : "output", steps, width);
  g_mutex_unlock (&self->lock);
  return ok;
}

/* snninfer's counts on the buffer (the last SnnMeta it attached). */
static GstSnnMeta *
find_snninfer_meta (GstBuffer *buf)
{
  gpointer state = NULL;
  GstMeta *m;
  GstSnnMeta *found = NULL;
  GQuark q = g_quark_from_static_string ("snninfer");
  while ((m = gst_buffer_iterate_meta_filtered (
              buf, &state, GST_SNN_META_API_TYPE)))
    if (((GstSnnMeta *)m)->element == q)
      found = (GstSnnMeta *)m;
  return found;
}

static GstFlowReturn
gst_neuro_export_process (GstPhysnnFilter *filter, GstBuffer *inbuf,
    PhysnnTensor **inputs, guint n_inputs, GstBuffer *outbuf,
    PhysnnTensor **outputs, guint n_outputs, GError **error)
{
  GstNeuroExport *self = GST_NEURO_EXPORT (filter);
  gsize nbytes = physnn_tensor_get_nbytes (inputs[0]);
  const gpointer src = physnn_tensor_map (inputs[0], PHYSNN_MAP_READ, NULL);
  memcpy (physnn_tensor_map (outputs[0], PHYSNN_MAP_WRITE, NULL), src, nbytes);
  physnn_tensor_unmap (outputs[0]);
  physnn_tensor_unmap (inputs[0]);

  gsize shape[2] = { self->steps, self->width };
  g_autoptr (PhysnnTensor) x =
      physnn_tensor_reshape (inputs[0], 2, shape, error);
  if (x == NULL)
    return GST_FLOW_ERROR;

  guint64 c[N_C] = { 0 };
  gboolean counted = FALSE;
  g_mutex_lock (&self->lock);
  GstFlowReturn ret = GST_FLOW_OK;
  if (self->is_input) {
    if (GST_BUFFER_FLAG_IS_SET (inbuf, GST_BUFFER_FLAG_DISCONT) &&
        self->buffers > 0)
      physnn_snn_reset (self->snn);
    g_autoptr (PhysnnTensor) xf =
        physnn_tensor_convert (x, PHYSNN_DTYPE_FLOAT32);
    g_autoptr (PhysnnTensor) y =
        physnn_snn_run_new (self->snn, gst_physnn_filter_get_device (filter),
            xf, self->steps, PHYSNN_SNN_RECORD_OUTPUT, error);
    if (y == NULL || !physnn_spike_record_append (self->in_rec, x, error) ||
        !physnn_spike_record_append (self->out_rec, y, error)) {
      ret = GST_FLOW_ERROR;
    } else {
      c[C_STEPS] = physnn_snn_get_counter (self->snn, PHYSNN_SNN_COUNTER_STEPS);
      c[C_SYNOPS] =
          physnn_snn_get_counter (self->snn, PHYSNN_SNN_COUNTER_SYNOPS);
      c[C_DENSE] =
          physnn_snn_get_counter (self->snn, PHYSNN_SNN_COUNTER_DENSE_SYNOPS);
      c[C_UPDATES] =
          physnn_snn_get_counter (self->snn, PHYSNN_SNN_COUNTER_NEURON_UPDATES);
      c[C_SPIKES] =
          physnn_snn_get_counter (self->snn, PHYSNN_SNN_COUNTER_SPIKES);
      counted = TRUE;
    }
  } else {
    if (!physnn_spike_record_append (self->out_rec, x, error)) {
      ret = GST_FLOW_ERROR;
    } else {
      GstSnnMeta *m = find_snninfer_meta (inbuf);
      if (m) {
        c[C_STEPS] = m->steps;
        c[C_SYNOPS] = m->synops;
        c[C_DENSE] = m->dense_synops;
        c[C_UPDATES] = m->neuron_updates;
        c[C_SPIKES] = m->spikes;
        counted = TRUE;
      } else if (self->buffers == 0) {
        GST_ELEMENT_WARNING (self, STREAM, FORMAT,
            ("No energy estimates: the stream is the network's output but "
             "carries no snninfer counts (GstSnnMeta)"),
            ("place neuroexport right after snninfer, or on the network's "
             "input"));
      }
    }
  }
  if (ret == GST_FLOW_OK) {
    self->buffers++;
    for (guint i = 0; counted && i < N_C; i++)
      self->totals[i] += c[i];
  }
  gboolean post = self->post_messages;
  g_mutex_unlock (&self->lock);
  if (ret != GST_FLOW_OK || !counted)
    return ret;

  gst_buffer_add_energy_meta (
      outbuf, c[C_STEPS], c[C_SYNOPS], c[C_DENSE], c[C_UPDATES], c[C_SPIKES]);
  if (post)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_element (GST_OBJECT (self),
            gst_energy_structure_new ("neuroexport-energy", c[C_STEPS],
                c[C_SYNOPS], c[C_DENSE], c[C_UPDATES], c[C_SPIKES])));
  return GST_FLOW_OK;
}

/* Writes every export; called once, at EOS or at stop. Lock held. */
static void
finish (GstNeuroExport *self, gboolean early)
{
  if (self->finished || self->target == NULL)
    return;
  self->finished = TRUE;
  if (self->width == 0) {
    /* caps never accepted: the error said why; no files from a stream
     * that did not start */
    GST_INFO_OBJECT (self, "stream never negotiated: nothing exported");
    return;
  }

  if (early)
    GST_ELEMENT_WARNING (self, STREAM, FAILED,
        ("The stream stopped before EOS after %" G_GUINT64_FORMAT
         " buffers; exporting what was recorded",
            self->buffers),
        (NULL));
  else if (self->buffers == 0)
    GST_ELEMENT_WARNING (self, STREAM, FAILED,
        ("The stream ended without buffers; exporting the network without "
         "recorded spikes"),
        (NULL));

  g_autoptr (PhysnnTensor) in = NULL, out = NULL;
  PhysnnSpikeRecord *recs[2] = { self->in_rec, self->out_rec };
  PhysnnTensor **dense[2] = { &in, &out };
  for (guint k = 0; k < 2; k++) {
    if (recs[k] == NULL || physnn_spike_record_get_n_steps (recs[k]) == 0)
      continue;
    g_autoptr (GError) error = NULL;
    *dense[k] = physnn_spike_record_to_dense (recs[k], &error);
    if (*dense[k] == NULL)
      GST_ELEMENT_WARNING (self, STREAM, FAILED,
          ("The recorded %s spikes are too long for the PyNN and JSON "
           "exports; those carry none (the record-location file keeps them)",
              k ? "output" : "input"),
          ("%s", error->message));
  }

  if (!self->is_input &&
      (self->formats & (GST_NEURO_EXPORT_PYNN | GST_NEURO_EXPORT_SPIKE_JSON)))
    GST_ELEMENT_WARNING (self, STREAM, FAILED,
        ("The exports carry no input spikes: neuroexport saw the network's "
         "output"),
        ("put neuroexport before snninfer (on the network's input) to record "
         "the input for the PyNN SpikeSourceArray and the spike JSON"));

  /* What fitting costs, measured on this stream: the fitted network (float
   * dynamics) and, for Loihi, its fixed-point simulation, from a fresh
   * state over the recorded input, against what the stream produced. */
  gdouble fit_agree = -1, loihi_agree = -1;
  if (in && out && self->target != self->net) {
    g_autoptr (GError) error = NULL;
    g_autoptr (PhysnnTensor) y =
        physnn_neuro_net_run (self->target, NULL, in, &error);
    if (y)
      fit_agree = physnn_spike_agreement (out, y);
    else
      GST_WARNING_OBJECT (self, "fitted run: %s", error->message);
  }
  if (in && out &&
      (self->platform == PHYSNN_NEURO_PLATFORM_LOIHI ||
          self->platform == PHYSNN_NEURO_PLATFORM_LOIHI2)) {
    g_autoptr (PhysnnTensor) y =
        physnn_neuro_net_run_loihi (self->target, in, NULL);
    if (y)
      loihi_agree = physnn_spike_agreement (out, y);
  }

  g_autoptr (GString) files = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (outputs); i++) {
    if (!(self->formats & outputs[i].flag))
      continue;
    g_autoptr (GError) error = NULL;
    g_autofree gchar *path =
        g_strconcat (self->location, outputs[i].suffix, NULL);
    if (!physnn_neuro_net_export (
            self->target, outputs[i].format, path, in, out, &error)) {
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("Cannot write %s", path),
          ("%s", error->message));
      continue;
    }
    g_string_append_printf (files, "%s%s", files->len ? "," : "", path);
  }
  PhysnnSpikeRecord *rec = self->is_input ? self->in_rec : self->out_rec;
  if (self->record_location && rec) {
    g_autoptr (GError) error = NULL;
    if (!physnn_spike_record_save (rec, self->record_location, &error))
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
          ("Cannot write the spike record %s", self->record_location),
          ("%s", error->message));
    else
      g_string_append_printf (
          files, "%s%s", files->len ? "," : "", self->record_location);
  }
  if (self->report_location) {
    g_autoptr (GError) error = NULL;
    g_autofree gchar *energy = physnn_energy_report_json (self->totals[C_STEPS],
        self->totals[C_SYNOPS], self->totals[C_DENSE], self->totals[C_UPDATES],
        self->totals[C_SPIKES]);
    g_autofree gchar *fit = physnn_neuro_net_get_fit_report (self->target);
    g_autoptr (JsonBuilder) b = json_builder_new ();
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "model");
    json_builder_add_string_value (b, self->model);
    json_builder_set_member_name (b, "buffers");
    json_builder_add_int_value (b, self->buffers);
    json_builder_set_member_name (b, "ended_early");
    json_builder_add_boolean_value (b, early);
    json_builder_set_member_name (b, "fit");
    if (fit)
      json_builder_add_value (b, json_from_string (fit, NULL));
    else
      json_builder_add_null_value (b);
    json_builder_set_member_name (b, "agreement");
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "definition");
    json_builder_add_string_value (b, "2|A∩B|/(|A|+|B|) over (step, output "
                                      "neuron) spikes against the stream's "
                                      "own run; null where not measured");
    json_builder_set_member_name (b, "fitted_float");
    if (fit_agree >= 0)
      json_builder_add_double_value (b, fit_agree);
    else
      json_builder_add_null_value (b);
    json_builder_set_member_name (b, "loihi_fixed_point");
    if (loihi_agree >= 0)
      json_builder_add_double_value (b, loihi_agree);
    else
      json_builder_add_null_value (b);
    json_builder_end_object (b);
    json_builder_set_member_name (b, "energy");
    json_builder_add_value (b, json_from_string (energy, NULL));
    json_builder_end_object (b);
    g_autoptr (JsonNode) root = json_builder_get_root (b);
    g_autofree gchar *text = json_to_string (root, TRUE);
    if (!g_file_set_contents (self->report_location, text, -1, &error))
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
          ("Cannot write the report %s", self->report_location),
          ("%s", error->message));
    else
      g_string_append_printf (
          files, "%s%s", files->len ? "," : "", self->report_location);
  }

  GstStructure *s = gst_energy_structure_new ("neuroexport-summary",
      self->totals[C_STEPS], self->totals[C_SYNOPS], self->totals[C_DENSE],
      self->totals[C_UPDATES], self->totals[C_SPIKES]);
  gst_structure_set (s, "buffers", G_TYPE_UINT64, self->buffers, "ended-early",
      G_TYPE_BOOLEAN, early, "files", G_TYPE_STRING, files->str, NULL);
  if (fit_agree >= 0)
    gst_structure_set (s, "fit-agreement", G_TYPE_DOUBLE, fit_agree, NULL);
  if (loihi_agree >= 0)
    gst_structure_set (s, "loihi-agreement", G_TYPE_DOUBLE, loihi_agree, NULL);
  gst_element_post_message (
      GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

static gboolean
gst_neuro_export_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstNeuroExport *self = GST_NEURO_EXPORT (trans);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_EOS:
      g_mutex_lock (&self->lock);
      finish (self, FALSE);
      g_mutex_unlock (&self->lock);
      break;
    case GST_EVENT_FLUSH_STOP:
      g_mutex_lock (&self->lock);
      if (self->snn)
        physnn_snn_reset (self->snn);
      g_mutex_unlock (&self->lock);
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (gst_neuro_export_parent_class)
      ->sink_event (trans, event);
}

static gboolean
gst_neuro_export_stop (GstBaseTransform *trans)
{
  GstNeuroExport *self = GST_NEURO_EXPORT (trans);
  g_mutex_lock (&self->lock);
  if (self->buffers > 0)
    finish (self, TRUE);
  clear_stream (self);
  g_mutex_unlock (&self->lock);
  return GST_BASE_TRANSFORM_CLASS (gst_neuro_export_parent_class)->stop (trans);
}

/* ------------------------------------------------------------------------ */

static gboolean
settable (GstNeuroExport *self, GParamSpec *pspec)
{
  GstState state = GST_STATE (self);
  if (state > GST_STATE_READY && !(pspec->flags & GST_PARAM_MUTABLE_PLAYING)) {
    GST_WARNING_OBJECT (
        self, "%s can only be set in the NULL or READY state", pspec->name);
    return FALSE;
  }
  return TRUE;
}

static void
gst_neuro_export_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstNeuroExport *self = GST_NEURO_EXPORT (object);
  GST_OBJECT_LOCK (self);
  gboolean ok = settable (self, pspec);
  GST_OBJECT_UNLOCK (self);
  if (!ok)
    return;
  g_mutex_lock (&self->lock);
  switch (prop_id) {
    case PROP_MODEL:
      g_free (self->model);
      self->model = g_value_dup_string (value);
      break;
    case PROP_LOCATION:
      g_free (self->location);
      self->location = g_value_dup_string (value);
      break;
    case PROP_FORMATS:
      self->formats = g_value_get_flags (value);
      break;
    case PROP_PLATFORM:
      self->platform = g_value_get_enum (value);
      break;
    case PROP_DT:
      self->dt = g_value_get_double (value);
      break;
    case PROP_RECORD_LOCATION:
      g_free (self->record_location);
      self->record_location = g_value_dup_string (value);
      break;
    case PROP_REPORT_LOCATION:
      g_free (self->report_location);
      self->report_location = g_value_dup_string (value);
      break;
    case PROP_POST_MESSAGES:
      self->post_messages = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  g_mutex_unlock (&self->lock);
}

static void
gst_neuro_export_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstNeuroExport *self = GST_NEURO_EXPORT (object);
  g_mutex_lock (&self->lock);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, self->model);
      break;
    case PROP_LOCATION:
      g_value_set_string (value, self->location);
      break;
    case PROP_FORMATS:
      g_value_set_flags (value, self->formats);
      break;
    case PROP_PLATFORM:
      g_value_set_enum (value, self->platform);
      break;
    case PROP_DT:
      g_value_set_double (value, self->dt);
      break;
    case PROP_RECORD_LOCATION:
      g_value_set_string (value, self->record_location);
      break;
    case PROP_REPORT_LOCATION:
      g_value_set_string (value, self->report_location);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, self->post_messages);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  g_mutex_unlock (&self->lock);
}

static void
gst_neuro_export_finalize (GObject *object)
{
  GstNeuroExport *self = GST_NEURO_EXPORT (object);
  clear_stream (self);
  g_free (self->model);
  g_free (self->location);
  g_free (self->record_location);
  g_free (self->report_location);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (gst_neuro_export_parent_class)->finalize (object);
}

static void
gst_neuro_export_class_init (GstNeuroExportClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstPhysnnFilterClass *filter_class = GST_PHYSNN_FILTER_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;
  /* files and the network are fixed while streaming */
  const GParamFlags rw_ready = rw | GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (
      gst_neuro_export_debug, "neuroexport", 0, "physnn neuromorphic exporter");

  gobject_class->set_property = gst_neuro_export_set_property;
  gobject_class->get_property = gst_neuro_export_get_property;
  gobject_class->finalize = gst_neuro_export_finalize;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "NIR file of the spiking network: Input, (Affine|Linear -> IF, "
          "LIF, LI, CubaLIF, CubaLI) layers, Output (required; default "
          "none)",
          NULL, rw_ready));
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "Base name of the exported files; each format appends its suffix "
          "(.nir, .netx.h5, .pynn.py, .spikes.json, .akida.onnx) (default "
          "none; required when formats is not empty)",
          NULL, rw_ready));
  g_object_class_install_property (gobject_class, PROP_FORMATS,
      g_param_spec_flags ("formats", "Formats",
          "What to write at the end of the stream (default all)",
          GST_TYPE_NEURO_EXPORT_FORMATS, DEFAULT_FORMATS, rw_ready));
  g_object_class_install_property (gobject_class, PROP_PLATFORM,
      g_param_spec_enum ("platform", "Platform",
          "Platform to fit the exported weights to (quantization, core "
          "allocation); a network that does not fit fails at start "
          "(default generic: float32, no limits)",
          PHYSNN_TYPE_NEURO_PLATFORM, DEFAULT_PLATFORM, rw_ready));
  g_object_class_install_property (gobject_class, PROP_DT,
      g_param_spec_double ("dt", "Time step",
          "Simulated seconds per step; set it to snninfer's dt (default "
          "0.001)",
          1e-9, 1e3, DEFAULT_DT, rw_ready));
  g_object_class_install_property (gobject_class, PROP_RECORD_LOCATION,
      g_param_spec_string ("record-location", "Record location",
          "Also save the stream's spikes for replay as a physnn-aer file "
          "(AER records after a JSON header; default none)",
          NULL, rw_ready));
  g_object_class_install_property (gobject_class, PROP_REPORT_LOCATION,
      g_param_spec_string ("report-location", "Report location",
          "Write fitting and total energy estimates as JSON at the end "
          "(default none)",
          NULL, rw_ready));
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post an element message \"neuroexport-energy\" per buffer with "
          "the counts and the energy estimate of each target (default true)",
          DEFAULT_POST_MESSAGES, rw | GST_PARAM_MUTABLE_PLAYING));
  gst_type_mark_as_plugin_api (GST_TYPE_NEURO_EXPORT_FORMATS, 0);
  gst_type_mark_as_plugin_api (PHYSNN_TYPE_NEURO_PLATFORM, 0);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Neuromorphic exporter",
      "Filter/Analyzer/Spiking",
      "Exports a spiking network with the stream's spikes to NIR, Lava-dl "
      "NetX (Loihi), PyNN (SpiNNaker), spike JSON and Akida ONNX, fitted to "
      "a platform, with per-buffer energy estimates",
      "physnn developers");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_neuro_export_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_neuro_export_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_neuro_export_sink_event);
  filter_class->get_output_info =
      GST_DEBUG_FUNCPTR (gst_neuro_export_get_output_info);
  filter_class->setup = GST_DEBUG_FUNCPTR (gst_neuro_export_setup);
  filter_class->process = GST_DEBUG_FUNCPTR (gst_neuro_export_process);
}

static void
gst_neuro_export_init (GstNeuroExport *self)
{
  g_mutex_init (&self->lock);
  self->formats = DEFAULT_FORMATS;
  self->platform = DEFAULT_PLATFORM;
  self->dt = DEFAULT_DT;
  self->post_messages = DEFAULT_POST_MESSAGES;
}
