/* physnn — spike JSON export: neurons, parameters, weights, connectivity
 * and recorded spikes in one JSON document, specified by
 * docs/spike-json.schema.json (JSON Schema draft 2020-12).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/neuro-private.h"
#include "physnn/error.h"

#include <string.h>

static void
add_doubles (JsonBuilder *b, const gchar *name, const gdouble *v, gsize n)
{
  if (v == NULL)
    return;
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (gsize i = 0; i < n; i++)
    json_builder_add_double_value (b, v[i]);
  json_builder_end_array (b);
}

/* spikes [steps][n] → {"population", "steps", "neurons": [[steps]…]} */
static void
add_spikes (JsonBuilder *b, const gchar *population, PhysnnTensor *t)
{
  gsize steps = physnn_tensor_get_dim (t, 0), n = physnn_tensor_get_dim (t, 1);
  g_autofree gdouble *x = _physnn_neuro_doubles (t);
  guint64 total = 0;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "population");
  json_builder_add_string_value (b, population);
  json_builder_set_member_name (b, "steps");
  json_builder_add_int_value (b, steps);
  json_builder_set_member_name (b, "neurons");
  json_builder_begin_array (b);
  for (gsize j = 0; j < n; j++) {
    json_builder_begin_array (b);
    for (gsize t2 = 0; t2 < steps; t2++)
      if (x[t2 * n + j] != 0) {
        json_builder_add_int_value (b, t2);
        total++;
      }
    json_builder_end_array (b);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "count");
  json_builder_add_int_value (b, total);
  json_builder_end_object (b);
}

gboolean
_physnn_neuro_write_json (PhysnnNeuroNet *net, const gchar *path,
    PhysnnTensor *input_spikes, PhysnnTensor *output_spikes, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_string_value (b, "physnn-spike-json");
  json_builder_set_member_name (b, "version");
  json_builder_add_int_value (b, 1);
  json_builder_set_member_name (b, "dt");
  json_builder_add_double_value (b, net->dt);
  json_builder_set_member_name (b, "time_unit");
  json_builder_add_string_value (b, "step");
  json_builder_set_member_name (b, "platform");
  json_builder_add_string_value (
      b, physnn_neuro_platform_get_limits (net->platform)->name);
  json_builder_set_member_name (b, "dynamics");
  json_builder_add_string_value (b,
      "NIR continuous-time equations, exact integration over dt with the "
      "input held within a step; a neuron spikes when v > v_threshold and "
      "is then set to v_reset in the same step");

  json_builder_set_member_name (b, "populations");
  json_builder_begin_array (b);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, net->input_name);
  json_builder_set_member_name (b, "size");
  json_builder_add_int_value (b, net->n_inputs);
  json_builder_set_member_name (b, "model");
  json_builder_add_string_value (b, "input");
  json_builder_end_object (b);
  for (guint i = 0; i < net->layers->len; i++) {
    NeuroLayer *l = g_ptr_array_index (net->layers, i);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "name");
    json_builder_add_string_value (b, l->neu_name);
    json_builder_set_member_name (b, "size");
    json_builder_add_int_value (b, l->n_out);
    json_builder_set_member_name (b, "model");
    json_builder_add_string_value (b, l->neu_type);
    json_builder_set_member_name (b, "parameters");
    json_builder_begin_object (b);
    gboolean cuba = l->kind == NEURO_CUBALIF || l->kind == NEURO_CUBALI;
    add_doubles (b, cuba ? "tau_mem" : "tau", l->tau, l->n_out);
    add_doubles (b, "tau_syn", l->tau_syn, l->n_out);
    add_doubles (b, "r", l->r, l->n_out);
    if (l->kind != NEURO_IF)
      add_doubles (b, "v_leak", l->v_leak, l->n_out);
    add_doubles (b, "v_threshold", l->v_th, l->n_out);
    add_doubles (b, "v_reset", l->v_reset, l->n_out);
    add_doubles (b, "w_in", l->w_in, l->n_out);
    json_builder_end_object (b);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);

  json_builder_set_member_name (b, "projections");
  json_builder_begin_array (b);
  const gchar *pre = net->input_name;
  for (guint i = 0; i < net->layers->len; i++) {
    NeuroLayer *l = g_ptr_array_index (net->layers, i);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "name");
    json_builder_add_string_value (b, l->syn_name);
    json_builder_set_member_name (b, "pre");
    json_builder_add_string_value (b, pre);
    json_builder_set_member_name (b, "post");
    json_builder_add_string_value (b, l->neu_name);
    json_builder_set_member_name (b, "connectivity");
    json_builder_add_string_value (b, "dense");
    json_builder_set_member_name (b, "weights");
    json_builder_begin_array (b);
    for (gsize o = 0; o < l->n_out; o++) {
      json_builder_begin_array (b);
      for (gsize k = 0; k < l->n_in; k++)
        json_builder_add_double_value (b, l->w[o * l->n_in + k]);
      json_builder_end_array (b);
    }
    json_builder_end_array (b);
    add_doubles (b, "bias", l->b, l->n_out);
    if (l->weight_step > 0) {
      json_builder_set_member_name (b, "weight_bits");
      json_builder_add_int_value (b, l->weight_bits);
      json_builder_set_member_name (b, "weight_step");
      json_builder_add_double_value (b, l->weight_step);
    }
    json_builder_end_object (b);
    pre = l->neu_name;
  }
  json_builder_end_array (b);

  json_builder_set_member_name (b, "spikes");
  json_builder_begin_array (b);
  if (input_spikes)
    add_spikes (b, net->input_name, input_spikes);
  if (output_spikes) {
    NeuroLayer *last = g_ptr_array_index (net->layers, net->layers->len - 1);
    add_spikes (b, last->neu_name, output_spikes);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);

  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, root);
  gsize len = 0;
  g_autofree gchar *text = json_generator_to_data (gen, &len);
  return _physnn_neuro_write_file (path, text, len, error);
}
