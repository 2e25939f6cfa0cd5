/* physnn — PhysnnNeuroNet: a spiking network as the layers neuromorphic
 * toolchains think in (weights into a population of neurons), read from a
 * NIR graph; the platform table and platform fitting.
 *
 * Accepted graphs: one Input, then a chain of (Affine or Linear) → neuron
 * node (IF, LIF, LI, CubaLIF, CubaLI) pairs, then one Output. This is the
 * shape every exporter target can express; anything else fails naming the
 * node and what was expected, before any file is written.
 *
 * Fitting quantizes each layer's weights symmetrically to the platform's
 * weight bits (one scale per layer, the largest |w| on the largest level),
 * checks fan-in and synapse memory, and allocates neurons to cores: a core
 * takes as many neurons as its neuron limit and its synaptic memory allow
 * (dense synapses, weight_bits per synapse). Layers never share a core, as
 * Lava and sPyNNaker place populations.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/neuro-private.h"
#include "physnn/error.h"
#include "physnn/snn.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

G_DEFINE_FINAL_TYPE (PhysnnNeuroNet, physnn_neuro_net, G_TYPE_OBJECT);

/* Sources: see docs/neuromorphic.md, "Platform table". Figures not in
 * ../shared/REFERENCES.md say so. */
static const PhysnnNeuroLimits platforms[] = {
  { "generic", 0, 0, 0, 0, 0,
      "no limits; float32 weights (a reference point, not a chip)" },
  { "loihi", 128, 1024, 4096, 8, 128 * 1024,
      "Davies et al., IEEE Micro 2018: 128 cores, 1,024 compartments and "
      "4,096 fan-in axons per core, 16 MB synaptic memory in all (128 KiB "
      "per core); 8-bit weights as Lava-dl NetX stores them (hardware: 1-9 "
      "bits). Core figures are not in REFERENCES.md (secondary)" },
  { "loihi2", 128, 8192, 0, 8, 192 * 1024,
      "Intel Loihi 2 brief (2021): up to 1 M neurons on 128 cores (8,192 "
      "per core), up to 8-bit weights, 192 KiB memory per core shared by "
      "synapses and state (vendor figures, secondary)" },
  { "spinnaker2", 152, 256, 0, 16, 128 * 1024,
      "Mayr et al. 2019 / Hoeppner et al.: 152 ARM processing elements with "
      "128 KiB SRAM each (shared with code); 256 neurons per PE and 16-bit "
      "fixed-point weights are sPyNNaker-style software choices "
      "(secondary)" },
  { "akida", 80, 0, 0, 4, 100 * 1024,
      "BrainChip AKD1000: 80 NPUs with 8 MB SRAM (100 KiB each, vendor "
      "brief, secondary); 1/2/4-bit weights beyond the input layer "
      "(REFERENCES.md); physnn exports 4-bit" },
  { "akida2", 0, 0, 0, 8, 0,
      "BrainChip Akida 2.0: 8- or 4-bit weights (REFERENCES.md); an IP "
      "whose node count and memory depend on the licensee's configuration, "
      "so no core or memory limit is applied" },
};

/**
 * physnn_neuro_platform_get_limits: (skip)
 * @platform: a #PhysnnNeuroPlatform
 *
 * Returns: (transfer none): the platform's limits and their source
 */
const PhysnnNeuroLimits *
physnn_neuro_platform_get_limits (PhysnnNeuroPlatform platform)
{
  g_return_val_if_fail ((guint)platform < G_N_ELEMENTS (platforms), NULL);
  return &platforms[platform];
}

/**
 * physnn_neuro_platform_from_string:
 * @name: "generic", "loihi", "loihi2", "spinnaker2", "akida" or "akida2"
 * @platform: (out): the platform
 * @error: return location for a #GError
 *
 * Returns: %TRUE if @name is a known platform
 */
gboolean
physnn_neuro_platform_from_string (
    const gchar *name, PhysnnNeuroPlatform *platform, GError **error)
{
  for (guint i = 0; name && i < G_N_ELEMENTS (platforms); i++)
    if (g_ascii_strcasecmp (name, platforms[i].name) == 0) {
      *platform = (PhysnnNeuroPlatform)i;
      return TRUE;
    }
  g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
      "unknown platform \"%s\" (known: generic, loihi, loihi2, spinnaker2, "
      "akida, akida2)",
      name ? name : "(null)");
  return FALSE;
}

static const gchar *format_names[] = { "nir", "lava-netx", "pynn", "spike-json",
  "akida" };

/**
 * physnn_neuro_format_from_string:
 * @name: "nir", "lava-netx", "pynn", "spike-json" or "akida"
 * @format: (out): the format
 * @error: return location for a #GError
 *
 * Returns: %TRUE if @name is a known format
 */
gboolean
physnn_neuro_format_from_string (
    const gchar *name, PhysnnNeuroFormat *format, GError **error)
{
  for (guint i = 0; name && i < G_N_ELEMENTS (format_names); i++)
    if (g_ascii_strcasecmp (name, format_names[i]) == 0) {
      *format = (PhysnnNeuroFormat)i;
      return TRUE;
    }
  g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
      "unknown export format \"%s\" (known: nir, lava-netx, pynn, "
      "spike-json, akida)",
      name ? name : "(null)");
  return FALSE;
}

/* ------------------------------------------------------------------------ */

static void
layer_free (gpointer p)
{
  NeuroLayer *l = p;
  g_free (l->syn_name);
  g_free (l->neu_name);
  g_free (l->neu_type);
  g_free (l->w);
  g_free (l->b);
  g_free (l->tau);
  g_free (l->tau_syn);
  g_free (l->r);
  g_free (l->v_leak);
  g_free (l->v_th);
  g_free (l->v_reset);
  g_free (l->w_in);
  g_free (l);
}

static NeuroLayer *
layer_copy (const NeuroLayer *s)
{
  NeuroLayer *l = g_memdup2 (s, sizeof *s);
  gsize o = s->n_out;
  l->syn_name = g_strdup (s->syn_name);
  l->neu_name = g_strdup (s->neu_name);
  l->neu_type = g_strdup (s->neu_type);
  l->w = g_memdup2 (s->w, sizeof (gdouble) * o * s->n_in);
#define DUP(f) l->f = s->f ? g_memdup2 (s->f, sizeof (gdouble) * o) : NULL
  DUP (b);
  DUP (tau);
  DUP (tau_syn);
  DUP (r);
  DUP (v_leak);
  DUP (v_th);
  DUP (v_reset);
  DUP (w_in);
#undef DUP
  return l;
}

static void
physnn_neuro_net_finalize (GObject *object)
{
  PhysnnNeuroNet *self = PHYSNN_NEURO_NET (object);
  g_clear_object (&self->graph);
  g_free (self->input_name);
  g_free (self->output_name);
  g_ptr_array_unref (self->layers);
  if (self->fit_report)
    json_node_unref (self->fit_report);
  G_OBJECT_CLASS (physnn_neuro_net_parent_class)->finalize (object);
}

static void
physnn_neuro_net_class_init (PhysnnNeuroNetClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = physnn_neuro_net_finalize;
}

static void
physnn_neuro_net_init (PhysnnNeuroNet *self)
{
  self->layers = g_ptr_array_new_with_free_func (layer_free);
}

/* The single edge leaving @name, or NULL with an error. */
static const gchar *
next_node (PhysnnNirGraph *g, const gchar *name, GError **error)
{
  const gchar *found = NULL;
  guint n = 0;
  for (guint e = 0; e < physnn_nir_graph_get_n_edges (g); e++) {
    const gchar *s, *t;
    physnn_nir_graph_get_edge (g, e, &s, &t);
    if (strcmp (s, name) == 0) {
      found = t;
      n++;
    }
  }
  if (n != 1) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "node \"%s\" has %u outgoing edges; the neuromorphic exporters take "
        "a chain Input → (Affine|Linear → neuron)… → Output",
        name, n);
    return NULL;
  }
  return found;
}

static guint
incoming (PhysnnNirGraph *g, const gchar *name)
{
  guint n = 0;
  for (guint e = 0; e < physnn_nir_graph_get_n_edges (g); e++) {
    const gchar *s, *t;
    physnn_nir_graph_get_edge (g, e, &s, &t);
    n += strcmp (t, name) == 0;
  }
  return n;
}

/* A per-neuron parameter expanded to @n values; @def when absent and
 * optional (has_def). */
static gdouble *
neuron_param (PhysnnNirGraph *g, guint node, const gchar *pname, gsize n,
    gboolean has_def, gdouble def, GError **error)
{
  const gchar *name = physnn_nir_graph_get_node_name (g, node);
  PhysnnTensor *t = physnn_nir_graph_get_param (g, node, pname);
  gdouble *v = g_new (gdouble, n);
  if (t == NULL) {
    if (!has_def) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
          "node \"%s\": parameter %s is missing", name, pname);
      g_free (v);
      return NULL;
    }
    for (gsize i = 0; i < n; i++)
      v[i] = def;
    return v;
  }
  gsize m = physnn_tensor_get_n_elements (t);
  if (m != 1 && m != n) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "node \"%s\": parameter %s has %" G_GSIZE_FORMAT
        " values for %" G_GSIZE_FORMAT " neurons",
        name, pname, m, n);
    g_free (v);
    return NULL;
  }
  for (gsize i = 0; i < n; i++) {
    v[i] = physnn_tensor_get_value (t, m == 1 ? 0 : i);
    if (!isfinite (v[i])) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
          "node \"%s\": parameter %s[%" G_GSIZE_FORMAT "] is not finite", name,
          pname, i);
      g_free (v);
      return NULL;
    }
  }
  return v;
}

static gboolean
positive (
    const NeuroLayer *l, const gdouble *v, const gchar *what, GError **error)
{
  for (gsize i = 0; v && i < l->n_out; i++)
    if (!(v[i] > 0)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "node \"%s\": %s[%" G_GSIZE_FORMAT "] = %g must be positive",
          l->neu_name, what, i, v[i]);
      return FALSE;
    }
  return TRUE;
}

static NeuroLayer *
read_layer (PhysnnNirGraph *g, gint syn, gint neu, gsize n_in, GError **error)
{
  const gchar *stype = physnn_nir_graph_get_node_type (g, syn);
  const gchar *ntype = physnn_nir_graph_get_node_type (g, neu);
  g_autoptr (GPtrArray) keep = NULL;
  NeuroLayer *l = g_new0 (NeuroLayer, 1);
  l->syn_name = g_strdup (physnn_nir_graph_get_node_name (g, syn));
  l->neu_name = g_strdup (physnn_nir_graph_get_node_name (g, neu));
  l->neu_type = g_strdup (ntype);

  PhysnnTensor *w = physnn_nir_graph_get_param (g, syn, "weight");
  guint rank = 0;
  const gsize *shape = w ? physnn_tensor_get_shape (w, &rank) : NULL;
  if (w == NULL || rank != 2 || shape[1] != n_in) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "node \"%s\" (%s): weight must be (out, %" G_GSIZE_FORMAT ")",
        l->syn_name, stype, n_in);
    goto fail;
  }
  l->n_in = n_in;
  l->n_out = shape[0];
  gsize nw = l->n_out * l->n_in;
  l->w = _physnn_neuro_doubles (w);
  for (gsize i = 0; i < nw; i++)
    if (!isfinite (l->w[i])) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
          "node \"%s\": weight value %" G_GSIZE_FORMAT " is not finite",
          l->syn_name, i);
      goto fail;
    }
  l->has_bias = strcmp (stype, "Affine") == 0;
  if (l->has_bias) {
    if (!(l->b = neuron_param (g, syn, "bias", l->n_out, TRUE, 0, error)))
      goto fail;
  } else {
    l->b = g_new0 (gdouble, l->n_out);
  }

  gsize n = l->n_out;
  if (strcmp (ntype, "LIF") == 0 || strcmp (ntype, "LI") == 0) {
    gboolean fires = ntype[2] == 'F';
    l->kind = fires ? NEURO_LIF : NEURO_LI;
    if (!(l->tau = neuron_param (g, neu, "tau", n, FALSE, 0, error)) ||
        !(l->r = neuron_param (g, neu, "r", n, FALSE, 0, error)) ||
        !(l->v_leak = neuron_param (g, neu, "v_leak", n, FALSE, 0, error)))
      goto fail;
    if (fires && (!(l->v_th = neuron_param (
                        g, neu, "v_threshold", n, FALSE, 0, error)) ||
                     !(l->v_reset = neuron_param (
                           g, neu, "v_reset", n, TRUE, 0, error))))
      goto fail;
    if (!positive (l, l->tau, "tau", error))
      goto fail;
  } else if (strcmp (ntype, "IF") == 0) {
    l->kind = NEURO_IF;
    if (!(l->r = neuron_param (g, neu, "r", n, FALSE, 0, error)) ||
        !(l->v_th = neuron_param (g, neu, "v_threshold", n, FALSE, 0, error)) ||
        !(l->v_reset = neuron_param (g, neu, "v_reset", n, TRUE, 0, error)))
      goto fail;
    l->v_leak = g_new0 (gdouble, n);
  } else if (strcmp (ntype, "CubaLIF") == 0 || strcmp (ntype, "CubaLI") == 0) {
    gboolean fires = ntype[6] == 'F';
    l->kind = fires ? NEURO_CUBALIF : NEURO_CUBALI;
    if (!(l->tau = neuron_param (g, neu, "tau_mem", n, FALSE, 0, error)) ||
        !(l->tau_syn = neuron_param (g, neu, "tau_syn", n, FALSE, 0, error)) ||
        !(l->r = neuron_param (g, neu, "r", n, FALSE, 0, error)) ||
        !(l->v_leak = neuron_param (g, neu, "v_leak", n, FALSE, 0, error)) ||
        !(l->w_in = neuron_param (g, neu, "w_in", n, TRUE, 1, error)))
      goto fail;
    if (fires && (!(l->v_th = neuron_param (
                        g, neu, "v_threshold", n, FALSE, 0, error)) ||
                     !(l->v_reset = neuron_param (
                           g, neu, "v_reset", n, TRUE, 0, error))))
      goto fail;
    if (!positive (l, l->tau, "tau_mem", error) ||
        !positive (l, l->tau_syn, "tau_syn", error))
      goto fail;
  } else {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "node \"%s\" (%s) after \"%s\": the neuromorphic exporters take IF, "
        "LIF, LI, CubaLIF or CubaLI neurons",
        l->neu_name, ntype, l->syn_name);
    goto fail;
  }
  return l;

fail:
  layer_free (l);
  return NULL;
}

/**
 * physnn_neuro_net_new:
 * @graph: a NIR graph: Input, then (Affine|Linear → neuron) pairs, Output
 * @dt: simulated seconds per step (what `snninfer`'s `dt` is set to)
 * @error: return location for a #GError
 *
 * Reads the layered view of @graph. The graph is type-checked first.
 *
 * Returns: (transfer full): the network, or %NULL with @error naming the
 *   node that does not fit the layered form
 */
PhysnnNeuroNet *
physnn_neuro_net_new (PhysnnNirGraph *graph, gdouble dt, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_NIR_GRAPH (graph), NULL);

  if (!(dt > 0) || !isfinite (dt)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "dt = %g s must be positive", dt);
    return NULL;
  }
  if (!physnn_nir_graph_check (graph, error))
    return NULL;

  g_autoptr (PhysnnNeuroNet) self = g_object_new (PHYSNN_TYPE_NEURO_NET, NULL);
  self->graph = physnn_nir_graph_copy (graph);
  self->dt = dt;

  gint input = -1;
  guint n_nodes = physnn_nir_graph_get_n_nodes (graph);
  for (guint i = 0; i < n_nodes; i++) {
    const gchar *type = physnn_nir_graph_get_node_type (graph, i);
    if (strcmp (type, "Input") == 0) {
      if (input >= 0) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
            "the graph has several Input nodes (\"%s\", \"%s\"); the "
            "exporters take one",
            physnn_nir_graph_get_node_name (graph, input),
            physnn_nir_graph_get_node_name (graph, i));
        return NULL;
      }
      input = i;
    }
  }
  if (input < 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "the graph has no Input node");
    return NULL;
  }
  guint rank;
  const gsize *shape =
      physnn_nir_graph_get_node_output_shape (graph, input, &rank);
  self->input_name = g_strdup (physnn_nir_graph_get_node_name (graph, input));
  self->n_inputs = 1;
  for (guint i = 0; i < rank; i++)
    self->n_inputs *= shape[i];

  const gchar *cur = self->input_name;
  gsize width = self->n_inputs;
  for (guint guard = 0; guard <= n_nodes; guard++) {
    const gchar *syn = next_node (graph, cur, error);
    if (syn == NULL)
      return NULL;
    gint si = physnn_nir_graph_find_node (graph, syn);
    const gchar *stype = physnn_nir_graph_get_node_type (graph, si);
    if (strcmp (stype, "Output") == 0) {
      if (self->layers->len == 0) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
            "the graph has no synaptic layer between \"%s\" and \"%s\"",
            self->input_name, syn);
        return NULL;
      }
      self->output_name = g_strdup (syn);
      break;
    }
    if (strcmp (stype, "Affine") != 0 && strcmp (stype, "Linear") != 0) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "node \"%s\" (%s) after \"%s\": expected Affine or Linear weights "
          "(the exporters take fully connected layers; convolutions, pools, "
          "delays and recurrent edges are not exported)",
          syn, stype, cur);
      return NULL;
    }
    const gchar *neu = next_node (graph, syn, error);
    if (neu == NULL)
      return NULL;
    if (incoming (graph, syn) != 1 || incoming (graph, neu) != 1) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "nodes \"%s\"/\"%s\" have more than one incoming edge "
          "(recurrence or skip connections are not exported)",
          syn, neu);
      return NULL;
    }
    NeuroLayer *l = read_layer (
        graph, si, physnn_nir_graph_find_node (graph, neu), width, error);
    if (l == NULL)
      return NULL;
    g_ptr_array_add (self->layers, l);
    width = l->n_out;
    cur = l->neu_name;
  }
  if (self->output_name == NULL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "the chain from \"%s\" does not reach an Output node",
        self->input_name);
    return NULL;
  }
  for (guint i = 0; i + 1 < self->layers->len; i++) {
    NeuroLayer *l = g_ptr_array_index (self->layers, i);
    if (l->v_th == NULL) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "node \"%s\" (%s) is a hidden layer that does not spike; only the "
          "last layer may be a leaky integrator",
          l->neu_name, l->neu_type);
      return NULL;
    }
  }
  return g_steal_pointer (&self);
}

/**
 * physnn_neuro_net_get_dt:
 * @self: a #PhysnnNeuroNet
 *
 * Returns: seconds per step
 */
gdouble
physnn_neuro_net_get_dt (PhysnnNeuroNet *self)
{
  g_return_val_if_fail (PHYSNN_IS_NEURO_NET (self), 0);
  return self->dt;
}

/**
 * physnn_neuro_net_get_n_layers:
 * @self: a #PhysnnNeuroNet
 *
 * Returns: the number of (weights, neurons) layers
 */
guint
physnn_neuro_net_get_n_layers (PhysnnNeuroNet *self)
{
  g_return_val_if_fail (PHYSNN_IS_NEURO_NET (self), 0);
  return self->layers->len;
}

/**
 * physnn_neuro_net_get_layer_name:
 * @self: a #PhysnnNeuroNet
 * @layer: a layer index
 *
 * Returns: the NIR name of the layer's neuron node
 */
const gchar *
physnn_neuro_net_get_layer_name (PhysnnNeuroNet *self, guint layer)
{
  g_return_val_if_fail (PHYSNN_IS_NEURO_NET (self), NULL);
  g_return_val_if_fail (layer < self->layers->len, NULL);
  return ((NeuroLayer *)g_ptr_array_index (self->layers, layer))->neu_name;
}

/**
 * physnn_neuro_net_get_layer_type:
 * @self: a #PhysnnNeuroNet
 * @layer: a layer index
 *
 * Returns: the NIR class of the layer's neurons ("LIF" …)
 */
const gchar *
physnn_neuro_net_get_layer_type (PhysnnNeuroNet *self, guint layer)
{
  g_return_val_if_fail (PHYSNN_IS_NEURO_NET (self), NULL);
  g_return_val_if_fail (layer < self->layers->len, NULL);
  return ((NeuroLayer *)g_ptr_array_index (self->layers, layer))->neu_type;
}

/**
 * physnn_neuro_net_get_n_inputs:
 * @self: a #PhysnnNeuroNet
 *
 * Returns: input neurons
 */
gsize
physnn_neuro_net_get_n_inputs (PhysnnNeuroNet *self)
{
  g_return_val_if_fail (PHYSNN_IS_NEURO_NET (self), 0);
  return self->n_inputs;
}

/**
 * physnn_neuro_net_get_n_outputs:
 * @self: a #PhysnnNeuroNet
 *
 * Returns: neurons of the last layer
 */
gsize
physnn_neuro_net_get_n_outputs (PhysnnNeuroNet *self)
{
  g_return_val_if_fail (PHYSNN_IS_NEURO_NET (self), 0);
  NeuroLayer *l = g_ptr_array_index (self->layers, self->layers->len - 1);
  return l->n_out;
}

/**
 * physnn_neuro_net_get_n_neurons:
 * @self: a #PhysnnNeuroNet
 *
 * Returns: neurons of all layers (inputs not counted)
 */
gsize
physnn_neuro_net_get_n_neurons (PhysnnNeuroNet *self)
{
  g_return_val_if_fail (PHYSNN_IS_NEURO_NET (self), 0);
  gsize n = 0;
  for (guint i = 0; i < self->layers->len; i++)
    n += ((NeuroLayer *)g_ptr_array_index (self->layers, i))->n_out;
  return n;
}

/**
 * physnn_neuro_net_get_n_synapses:
 * @self: a #PhysnnNeuroNet
 *
 * Returns: nonzero weights of all layers
 */
gsize
physnn_neuro_net_get_n_synapses (PhysnnNeuroNet *self)
{
  g_return_val_if_fail (PHYSNN_IS_NEURO_NET (self), 0);
  gsize n = 0;
  for (guint i = 0; i < self->layers->len; i++) {
    NeuroLayer *l = g_ptr_array_index (self->layers, i);
    for (gsize k = 0; k < l->n_out * l->n_in; k++)
      n += l->w[k] != 0;
  }
  return n;
}

/**
 * physnn_neuro_net_to_nir:
 * @self: a #PhysnnNeuroNet
 *
 * The source graph with this network's weights (quantized ones after
 * physnn_neuro_net_fit()); a fitted network records its platform in the
 * graph's metadata.
 *
 * Returns: (transfer full): a new graph
 */
PhysnnNirGraph *
physnn_neuro_net_to_nir (PhysnnNeuroNet *self)
{
  g_return_val_if_fail (PHYSNN_IS_NEURO_NET (self), NULL);
  PhysnnNirGraph *g = physnn_nir_graph_copy (self->graph);
  for (guint i = 0; i < self->layers->len; i++) {
    NeuroLayer *l = g_ptr_array_index (self->layers, i);
    gint node = physnn_nir_graph_find_node (g, l->syn_name);
    gsize shape[2] = { l->n_out, l->n_in };
    g_autoptr (PhysnnTensor) w = physnn_tensor_new_from_doubles (
        PHYSNN_DTYPE_FLOAT32, 2, shape, l->w, l->n_out * l->n_in, NULL);
    physnn_nir_graph_set_param (g, node, "weight", w);
    if (l->has_bias) {
      g_autoptr (PhysnnTensor) b = physnn_tensor_new_from_doubles (
          PHYSNN_DTYPE_FLOAT32, 1, shape, l->b, l->n_out, NULL);
      physnn_nir_graph_set_param (g, node, "bias", b);
    }
  }
  if (self->fit_report) {
    physnn_nir_graph_set_metadata_string (
        g, -1, "physnn_platform", platforms[self->platform].name);
  }
  return g;
}

/* ------------------------------------------------------------------------ */
/* Platform checks and fitting */

static gboolean
layer_supported (PhysnnNeuroPlatform p, const NeuroLayer *l, GError **error)
{
  const gchar *why = NULL;
  switch (p) {
    case PHYSNN_NEURO_PLATFORM_GENERIC:
      return TRUE;
    case PHYSNN_NEURO_PLATFORM_LOIHI:
    case PHYSNN_NEURO_PLATFORM_LOIHI2:
      if (l->kind == NEURO_LI || l->kind == NEURO_CUBALI)
        why = "Lava's CUBA neuron always fires: a non-spiking readout has no "
              "equivalent (use a LIF with a high threshold)";
      break;
    case PHYSNN_NEURO_PLATFORM_SPINNAKER2:
      if (l->kind == NEURO_LI || l->kind == NEURO_CUBALI)
        why = "PyNN's IF_curr_exp always fires: a non-spiking readout has no "
              "equivalent";
      break;
    case PHYSNN_NEURO_PLATFORM_AKIDA:
    case PHYSNN_NEURO_PLATFORM_AKIDA2:
      if (l->kind != NEURO_LIF && l->kind != NEURO_IF)
        why = "Akida layers are rate-coded (quantized ReLU activations); only "
              "IF and LIF neurons map to them";
      break;
  }
  if (why) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "layer \"%s\" (%s) is not supported on %s: %s", l->neu_name,
        l->neu_type, platforms[p].name, why);
    return FALSE;
  }
  return TRUE;
}

/* Neurons one core of @p holds for layer @l; 0 when none fits. */
static guint64
neurons_per_core (const PhysnnNeuroLimits *lim, const NeuroLayer *l)
{
  guint bits = lim->weight_bits ? lim->weight_bits : 32;
  guint64 per = lim->neurons_per_core ? lim->neurons_per_core : G_MAXUINT64;
  if (lim->synapse_memory) {
    guint64 bytes = ((guint64)l->n_in * bits + 7) / 8;
    guint64 mem = bytes ? lim->synapse_memory / bytes : G_MAXUINT64;
    per = MIN (per, mem);
  }
  return per;
}

static gboolean
check_layer (PhysnnNeuroPlatform p, const NeuroLayer *l, GError **error)
{
  const PhysnnNeuroLimits *lim = &platforms[p];
  if (!layer_supported (p, l, error))
    return FALSE;
  if (lim->fan_in && l->n_in > lim->fan_in) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "layer \"%s\" does not fit %s: fan-in %" G_GSIZE_FORMAT
        " exceeds the limit of %u presynaptic neurons per core",
        l->neu_name, lim->name, l->n_in, lim->fan_in);
    return FALSE;
  }
  if (neurons_per_core (lim, l) == 0) {
    guint bits = lim->weight_bits ? lim->weight_bits : 32;
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "layer \"%s\" does not fit %s: one neuron's %" G_GSIZE_FORMAT
        " synapses need %" G_GUINT64_FORMAT
        " bytes, more than the %" G_GUINT64_FORMAT
        " bytes of synaptic memory per core",
        l->neu_name, lim->name, l->n_in, ((guint64)l->n_in * bits + 7) / 8,
        lim->synapse_memory);
    return FALSE;
  }
  return TRUE;
}

/**
 * physnn_neuro_net_check_platform:
 * @self: a #PhysnnNeuroNet
 * @platform: the target
 * @error: return location for a #GError
 *
 * Checks every layer against @platform's neuron models, fan-in and
 * synaptic memory per core.
 *
 * Returns: %TRUE if the network can be fitted; else @error names the
 *   layer, the limit and the value
 */
gboolean
physnn_neuro_net_check_platform (
    PhysnnNeuroNet *self, PhysnnNeuroPlatform platform, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_NEURO_NET (self), FALSE);
  g_return_val_if_fail ((guint)platform < G_N_ELEMENTS (platforms), FALSE);
  for (guint i = 0; i < self->layers->len; i++)
    if (!check_layer (platform, g_ptr_array_index (self->layers, i), error))
      return FALSE;
  return TRUE;
}

/* Symmetric quantization of @w to @bits: levels −(2^(b−1)−1)…2^(b−1)−1
 * (Loihi's 8 bits: Lava-dl's even mantissas −254…254, the same levels).
 * Returns the step; 0 for an all-zero layer. */
static gdouble
quantize (gdouble *w, gsize n, guint bits, gdouble *max_err)
{
  gdouble amax = 0;
  for (gsize i = 0; i < n; i++)
    amax = MAX (amax, fabs (w[i]));
  *max_err = 0;
  if (amax == 0 || bits == 0)
    return 0;
  gdouble levels = ldexp (1.0, (gint)bits - 1) - 1;
  gdouble step = amax / levels;
  for (gsize i = 0; i < n; i++) {
    gdouble q = nearbyint (w[i] / step);
    q = CLAMP (q, -levels, levels) * step;
    *max_err = MAX (*max_err, fabs (q - w[i]));
    w[i] = q;
  }
  return step;
}

/**
 * physnn_neuro_net_fit:
 * @self: a #PhysnnNeuroNet
 * @platform: the target
 * @error: return location for a #GError
 *
 * Fits the network to @platform: checks it
 * (physnn_neuro_net_check_platform()), quantizes each layer's weights to
 * the platform's weight bits and allocates neurons to cores. The result's
 * physnn_neuro_net_get_fit_report() lists cores used, memory per core and
 * the quantization error per layer.
 *
 * Returns: (transfer full): the fitted copy, or %NULL with @error set
 */
PhysnnNeuroNet *
physnn_neuro_net_fit (
    PhysnnNeuroNet *self, PhysnnNeuroPlatform platform, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_NEURO_NET (self), NULL);
  if (!physnn_neuro_net_check_platform (self, platform, error))
    return NULL;
  const PhysnnNeuroLimits *lim = &platforms[platform];

  PhysnnNeuroNet *fit = g_object_new (PHYSNN_TYPE_NEURO_NET, NULL);
  fit->graph = g_object_ref (self->graph);
  fit->input_name = g_strdup (self->input_name);
  fit->output_name = g_strdup (self->output_name);
  fit->n_inputs = self->n_inputs;
  fit->dt = self->dt;
  fit->platform = platform;

  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "platform");
  json_builder_add_string_value (b, lim->name);
  json_builder_set_member_name (b, "limits_source");
  json_builder_add_string_value (b, lim->source);
  json_builder_set_member_name (b, "weight_bits");
  json_builder_add_int_value (b, lim->weight_bits);
  json_builder_set_member_name (b, "layers");
  json_builder_begin_array (b);
  guint64 cores = 0;
  for (guint i = 0; i < self->layers->len; i++) {
    NeuroLayer *l = layer_copy (g_ptr_array_index (self->layers, i));
    g_ptr_array_add (fit->layers, l);
    gdouble err = 0;
    l->weight_bits = lim->weight_bits;
    l->weight_step =
        quantize (l->w, l->n_in * l->n_out, lim->weight_bits, &err);
    guint64 per = neurons_per_core (lim, l);
    guint64 c = per == G_MAXUINT64 ? 1 : (l->n_out + per - 1) / per;
    l->cores = (guint)c;
    cores += c;
    guint bits = lim->weight_bits ? lim->weight_bits : 32;
    guint64 per_used = (l->n_out + c - 1) / c;
    guint64 mem = per_used * (((guint64)l->n_in * bits + 7) / 8);

    json_builder_begin_object (b);
    json_builder_set_member_name (b, "layer");
    json_builder_add_string_value (b, l->neu_name);
    json_builder_set_member_name (b, "weights");
    json_builder_add_string_value (b, l->syn_name);
    json_builder_set_member_name (b, "neurons");
    json_builder_add_int_value (b, l->n_out);
    json_builder_set_member_name (b, "fan_in");
    json_builder_add_int_value (b, l->n_in);
    json_builder_set_member_name (b, "cores");
    json_builder_add_int_value (b, c);
    json_builder_set_member_name (b, "neurons_per_core");
    json_builder_add_int_value (b, per_used);
    json_builder_set_member_name (b, "synapse_bytes_per_core");
    json_builder_add_int_value (b, mem);
    json_builder_set_member_name (b, "weight_step");
    json_builder_add_double_value (b, l->weight_step);
    json_builder_set_member_name (b, "max_weight_error");
    json_builder_add_double_value (b, err);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "cores");
  json_builder_add_int_value (b, cores);
  json_builder_set_member_name (b, "chips");
  json_builder_add_int_value (
      b, lim->cores ? (cores + lim->cores - 1) / lim->cores : 1);
  json_builder_end_object (b);
  fit->fit_report = json_builder_get_root (b);
  return fit;
}

/**
 * physnn_neuro_net_get_platform:
 * @self: a #PhysnnNeuroNet
 *
 * Returns: the platform a fitted network was fitted to; generic otherwise
 */
PhysnnNeuroPlatform
physnn_neuro_net_get_platform (PhysnnNeuroNet *self)
{
  g_return_val_if_fail (PHYSNN_IS_NEURO_NET (self), 0);
  return self->platform;
}

/**
 * physnn_neuro_net_get_fit_report:
 * @self: a fitted #PhysnnNeuroNet
 *
 * Returns: (transfer full) (nullable): the fitting report as JSON, %NULL
 *   for a network that was not fitted
 */
gchar *
physnn_neuro_net_get_fit_report (PhysnnNeuroNet *self)
{
  g_return_val_if_fail (PHYSNN_IS_NEURO_NET (self), NULL);
  if (self->fit_report == NULL)
    return NULL;
  return json_to_string (self->fit_report, TRUE);
}

/* ------------------------------------------------------------------------ */

/**
 * physnn_spike_agreement:
 * @a: a spike train
 * @b: a spike train of the same shape
 *
 * The agreement of two spike trains: 2|A∩B| / (|A| + |B|) over the
 * (step, neuron) pairs that spiked (the Dice coefficient; 1 when neither
 * spiked). A value counts as a spike when nonzero.
 *
 * Returns: agreement in [0, 1], or -1 when the shapes differ
 */
gdouble
physnn_spike_agreement (PhysnnTensor *a, PhysnnTensor *b)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (a) && PHYSNN_IS_TENSOR (b), -1);
  gsize n = physnn_tensor_get_n_elements (a);
  if (n != physnn_tensor_get_n_elements (b))
    return -1;
  g_autofree gdouble *x = _physnn_neuro_doubles (a);
  g_autofree gdouble *y = _physnn_neuro_doubles (b);
  guint64 na = 0, nb = 0, both = 0;
  for (gsize i = 0; i < n; i++) {
    gboolean sa = x[i] != 0, sb = y[i] != 0;
    na += sa;
    nb += sb;
    both += sa && sb;
  }
  if (na + nb == 0)
    return 1.0;
  return 2.0 * (gdouble)both / (gdouble)(na + nb);
}

/**
 * physnn_neuro_net_run:
 * @self: a #PhysnnNeuroNet
 * @device: (nullable): where to run; %NULL for the reference C path
 * @input: input spikes [steps][inputs] (any numeric dtype)
 * @error: return location for a #GError
 *
 * Runs the network (with its current, possibly quantized, weights) through
 * the engine `snninfer` uses (#PhysnnSnn, exact integration, this
 * network's dt) from a fresh state.
 *
 * Returns: (transfer full): the output [steps][outputs] as float32, or
 *   %NULL with @error set
 */
PhysnnTensor *
physnn_neuro_net_run (PhysnnNeuroNet *self, PhysnnDevice *device,
    PhysnnTensor *input, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_NEURO_NET (self), NULL);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (input), NULL);
  if (physnn_tensor_get_rank (input) != 2 ||
      physnn_tensor_get_dim (input, 1) != self->n_inputs) {
    g_autofree gchar *d = physnn_tensor_describe (input);
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "input spikes are %s; expected [steps][%" G_GSIZE_FORMAT "]", d,
        self->n_inputs);
    return NULL;
  }
  g_autoptr (PhysnnDevice) cpu = NULL;
  if (device == NULL) {
    cpu = physnn_device_new ("cpu", error);
    if (cpu == NULL)
      return NULL;
    device = cpu;
  }
  g_autoptr (PhysnnNirGraph) g = physnn_neuro_net_to_nir (self);
  g_autoptr (PhysnnSnn) snn = physnn_snn_new (g, error);
  if (snn == NULL)
    return NULL;
  g_object_set (
      snn, "dt", self->dt, "integration", PHYSNN_SNN_INTEGRATION_EXACT, NULL);
  g_autoptr (PhysnnTensor) x =
      physnn_tensor_convert (input, PHYSNN_DTYPE_FLOAT32);
  guint steps = (guint)physnn_tensor_get_dim (input, 0);
  return physnn_snn_run_new (
      snn, device, x, steps, PHYSNN_SNN_RECORD_OUTPUT, error);
}

/* ------------------------------------------------------------------------ */
/* Atomic files */

gchar *
_physnn_neuro_temp_path (const gchar *path, GError **error)
{
  g_autofree gchar *dir = g_path_get_dirname (path);
  g_autofree gchar *base = g_path_get_basename (path);
  gchar *tmpl = g_strdup_printf ("%s/.%s.XXXXXX", dir, base);
  gint fd = g_mkstemp (tmpl);
  if (fd < 0) {
    int e = errno;
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO,
        "%s: cannot create a temporary file in %s: %s", path, dir,
        g_strerror (e));
    g_free (tmpl);
    return NULL;
  }
  g_close (fd, NULL);
  /* mkstemp makes 0600; exported files are meant to be shared */
  g_chmod (tmpl, 0644);
  return tmpl;
}

gboolean
_physnn_neuro_commit (const gchar *tmp, const gchar *path, GError **error)
{
  if (g_rename (tmp, path) != 0) {
    int e = errno;
    g_unlink (tmp);
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO,
        "%s: cannot rename the finished file into place: %s", path,
        g_strerror (e));
    return FALSE;
  }
  return TRUE;
}

gboolean
_physnn_neuro_write_file (
    const gchar *path, const gchar *data, gsize len, GError **error)
{
  g_autofree gchar *tmp = _physnn_neuro_temp_path (path, error);
  if (tmp == NULL)
    return FALSE;
  GError *local = NULL;
  if (!g_file_set_contents_full (
          tmp, data, len, G_FILE_SET_CONTENTS_NONE, 0644, &local)) {
    g_set_error (
        error, PHYSNN_ERROR, PHYSNN_ERROR_IO, "%s: %s", path, local->message);
    g_error_free (local);
    g_unlink (tmp);
    return FALSE;
  }
  return _physnn_neuro_commit (tmp, path, error);
}

/**
 * physnn_neuro_net_export:
 * @self: a #PhysnnNeuroNet (fitted or not)
 * @format: what to write
 * @path: the file to write (PyNN also writes `PATH.weights.npz`)
 * @input_spikes: (nullable): recorded input spikes [steps][inputs], for the
 *   PyNN script's SpikeSourceArray and the spike JSON
 * @output_spikes: (nullable): recorded output spikes [steps][outputs], for
 *   the spike JSON
 * @error: return location for a #GError
 *
 * Writes the network in @format. Every file appears complete or not at
 * all (temporary name, then rename). Lava-dl NetX and Akida exports need
 * a network that fits Loihi and Akida (physnn_neuro_net_check_platform());
 * they quantize as those platforms do.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_neuro_net_export (PhysnnNeuroNet *self, PhysnnNeuroFormat format,
    const gchar *path, PhysnnTensor *input_spikes, PhysnnTensor *output_spikes,
    GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_NEURO_NET (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  for (guint k = 0; k < 2; k++) {
    PhysnnTensor *t = k ? output_spikes : input_spikes;
    gsize want = k ? physnn_neuro_net_get_n_outputs (self) : self->n_inputs;
    if (t && (physnn_tensor_get_rank (t) != 2 ||
                 physnn_tensor_get_dim (t, 1) != want)) {
      g_autofree gchar *d = physnn_tensor_describe (t);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "%s spikes are %s; expected [steps][%" G_GSIZE_FORMAT "]",
          k ? "output" : "input", d, want);
      return FALSE;
    }
  }

  switch (format) {
    case PHYSNN_NEURO_FORMAT_NIR: {
      g_autoptr (PhysnnNirGraph) g = physnn_neuro_net_to_nir (self);
      return physnn_nir_graph_save (g, path, error);
    }
    case PHYSNN_NEURO_FORMAT_LAVA_NETX:
      return physnn_neuro_net_check_platform (
                 self, PHYSNN_NEURO_PLATFORM_LOIHI, error) &&
             _physnn_neuro_write_netx (self, path, error);
    case PHYSNN_NEURO_FORMAT_PYNN:
      return physnn_neuro_net_check_platform (
                 self, PHYSNN_NEURO_PLATFORM_SPINNAKER2, error) &&
             _physnn_neuro_write_pynn (
                 self, path, input_spikes, output_spikes, error);
    case PHYSNN_NEURO_FORMAT_SPIKE_JSON:
      return _physnn_neuro_write_json (
          self, path, input_spikes, output_spikes, error);
    case PHYSNN_NEURO_FORMAT_AKIDA:
      return physnn_neuro_net_check_platform (
                 self, PHYSNN_NEURO_PLATFORM_AKIDA, error) &&
             _physnn_neuro_write_akida (self, path, error);
  }
  g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
      "unknown export format %d", format);
  return FALSE;
}
