/* physnn — PhysnnSpikeRecord: a spike stream kept as address events.
 *
 * File ("physnn-aer", version 1): one line of JSON, then the events.
 *   {"format": "physnn-aer", "version": 1, "neurons": N, "steps": T,
 *    "events": E, "dt": seconds, "record": "u64le step, u32le address"}\n
 *   E records of 12 bytes: step (u64, little endian), address (u32)
 * sorted by step, then address. The reader treats the file as hostile:
 * header length and fields bounded, the size must match E exactly, every
 * record is range-checked.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/spike-record.h"
#include "physnn/error.h"
#include "physnn/neuro-private.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#define MAX_HEADER 65536
#define RECORD 12
#define MAX_DENSE (G_GUINT64_CONSTANT (1) << 28) /* 256 MiB of uint8 */

struct _PhysnnSpikeRecord {
  GObject parent;
  gsize neurons;
  gdouble dt;
  guint64 steps;
  GArray *events; /* guint64 step, then guint32 address, packed in pairs */
};

typedef struct {
  guint64 step;
  guint32 address;
} Event;

G_DEFINE_FINAL_TYPE (PhysnnSpikeRecord, physnn_spike_record, G_TYPE_OBJECT);

static void
physnn_spike_record_finalize (GObject *o)
{
  g_array_unref (PHYSNN_SPIKE_RECORD (o)->events);
  G_OBJECT_CLASS (physnn_spike_record_parent_class)->finalize (o);
}

static void
physnn_spike_record_class_init (PhysnnSpikeRecordClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = physnn_spike_record_finalize;
}

static void
physnn_spike_record_init (PhysnnSpikeRecord *self)
{
  self->events = g_array_new (FALSE, FALSE, sizeof (Event));
}

/**
 * physnn_spike_record_new:
 * @neurons: neuron addresses per step
 * @dt: seconds per step (metadata for replay)
 *
 * Returns: (transfer full): an empty record
 */
PhysnnSpikeRecord *
physnn_spike_record_new (gsize neurons, gdouble dt)
{
  g_return_val_if_fail (neurons > 0 && neurons <= G_MAXUINT32, NULL);
  PhysnnSpikeRecord *self = g_object_new (PHYSNN_TYPE_SPIKE_RECORD, NULL);
  self->neurons = neurons;
  self->dt = dt;
  return self;
}

/**
 * physnn_spike_record_append:
 * @self: a #PhysnnSpikeRecord
 * @spikes: [steps][neurons…] spikes (nonzero is a spike); every dimension
 *   after the first is flattened into the address
 * @error: return location for a #GError
 *
 * Appends the steps of @spikes after those recorded so far.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_spike_record_append (
    PhysnnSpikeRecord *self, PhysnnTensor *spikes, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_SPIKE_RECORD (self), FALSE);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (spikes), FALSE);
  gsize n = physnn_tensor_get_n_elements (spikes);
  gsize steps =
      physnn_tensor_get_rank (spikes) ? physnn_tensor_get_dim (spikes, 0) : 0;
  if (steps == 0 || n != steps * self->neurons) {
    g_autofree gchar *d = physnn_tensor_describe (spikes);
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "cannot record %s spikes in a record of %" G_GSIZE_FORMAT
        " neurons per step",
        d, self->neurons);
    return FALSE;
  }
  g_autoptr (PhysnnTensor) u8 =
      physnn_tensor_convert (spikes, PHYSNN_DTYPE_UINT8);
  const guint8 *p = physnn_tensor_map (u8, PHYSNN_MAP_READ, NULL);
  for (gsize t = 0; t < steps; t++)
    for (gsize j = 0; j < self->neurons; j++)
      if (p[t * self->neurons + j]) {
        Event e = { self->steps + t, (guint32)j };
        g_array_append_val (self->events, e);
      }
  physnn_tensor_unmap (u8);
  self->steps += steps;
  return TRUE;
}

/**
 * physnn_spike_record_get_neurons:
 * @self: a #PhysnnSpikeRecord
 *
 * Returns: addresses per step
 */
gsize
physnn_spike_record_get_neurons (PhysnnSpikeRecord *self)
{
  g_return_val_if_fail (PHYSNN_IS_SPIKE_RECORD (self), 0);
  return self->neurons;
}

/**
 * physnn_spike_record_get_n_steps:
 * @self: a #PhysnnSpikeRecord
 *
 * Returns: steps recorded
 */
guint64
physnn_spike_record_get_n_steps (PhysnnSpikeRecord *self)
{
  g_return_val_if_fail (PHYSNN_IS_SPIKE_RECORD (self), 0);
  return self->steps;
}

/**
 * physnn_spike_record_get_n_events:
 * @self: a #PhysnnSpikeRecord
 *
 * Returns: spikes recorded
 */
guint64
physnn_spike_record_get_n_events (PhysnnSpikeRecord *self)
{
  g_return_val_if_fail (PHYSNN_IS_SPIKE_RECORD (self), 0);
  return self->events->len;
}

/**
 * physnn_spike_record_get_dt:
 * @self: a #PhysnnSpikeRecord
 *
 * Returns: seconds per step
 */
gdouble
physnn_spike_record_get_dt (PhysnnSpikeRecord *self)
{
  g_return_val_if_fail (PHYSNN_IS_SPIKE_RECORD (self), 0);
  return self->dt;
}

/**
 * physnn_spike_record_to_dense:
 * @self: a #PhysnnSpikeRecord
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the spikes as uint8 [steps][neurons], or %NULL
 *   when the record is empty or too large to hold densely (2^28 values)
 */
PhysnnTensor *
physnn_spike_record_to_dense (PhysnnSpikeRecord *self, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_SPIKE_RECORD (self), NULL);
  /* divided, not multiplied: claimed sizes must not overflow */
  if (self->steps == 0 || self->steps > MAX_DENSE / self->neurons) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "a record of %" G_GUINT64_FORMAT " steps × %" G_GSIZE_FORMAT
        " neurons cannot be made dense (empty, or more than 2^28 values)",
        self->steps, self->neurons);
    return NULL;
  }
  gsize shape[2] = { self->steps, self->neurons };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_UINT8, 2, shape);
  guint8 *p = physnn_tensor_map (t, PHYSNN_MAP_WRITE, NULL);
  memset (p, 0, self->steps * self->neurons);
  for (guint i = 0; i < self->events->len; i++) {
    Event *e = &g_array_index (self->events, Event, i);
    p[e->step * self->neurons + e->address] = 1;
  }
  physnn_tensor_unmap (t);
  return t;
}

/**
 * physnn_spike_record_save:
 * @self: a #PhysnnSpikeRecord
 * @path: the file to write
 * @error: return location for a #GError
 *
 * Writes the record as a physnn-aer file, atomically.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_spike_record_save (
    PhysnnSpikeRecord *self, const gchar *path, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_SPIKE_RECORD (self), FALSE);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_string_value (b, "physnn-aer");
  json_builder_set_member_name (b, "version");
  json_builder_add_int_value (b, 1);
  json_builder_set_member_name (b, "neurons");
  json_builder_add_int_value (b, self->neurons);
  json_builder_set_member_name (b, "steps");
  json_builder_add_int_value (b, self->steps);
  json_builder_set_member_name (b, "events");
  json_builder_add_int_value (b, self->events->len);
  json_builder_set_member_name (b, "dt");
  json_builder_add_double_value (b, self->dt);
  json_builder_set_member_name (b, "record");
  json_builder_add_string_value (b, "u64le step, u32le address");
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree gchar *header = json_to_string (root, FALSE);

  GByteArray *out = g_byte_array_sized_new (
      strlen (header) + 1 + (gsize)self->events->len * RECORD);
  g_byte_array_append (out, (const guint8 *)header, strlen (header));
  g_byte_array_append (out, (const guint8 *)"\n", 1);
  for (guint i = 0; i < self->events->len; i++) {
    Event *e = &g_array_index (self->events, Event, i);
    guint64 s = GUINT64_TO_LE (e->step);
    guint32 a = GUINT32_TO_LE (e->address);
    g_byte_array_append (out, (const guint8 *)&s, 8);
    g_byte_array_append (out, (const guint8 *)&a, 4);
  }
  gboolean ok = _physnn_neuro_write_file (
      path, (const gchar *)out->data, out->len, error);
  g_byte_array_unref (out);
  return ok;
}

/* The header line holds exactly one JSON object: the outermost braces
 * close at its last non-blank character. Checked before json-glib sees
 * it (its parser leaks on several top-level values, found by fuzz-aer). */
static gboolean
single_object (const gchar *s, gsize n)
{
  while (n > 0 && g_ascii_isspace (s[n - 1]))
    n--;
  gint depth = 0;
  gboolean str = FALSE, esc = FALSE;
  for (gsize i = 0; i < n; i++) {
    gchar c = s[i];
    if (str) {
      if (esc)
        esc = FALSE;
      else if (c == '\\')
        esc = TRUE;
      else if (c == '"')
        str = FALSE;
      continue;
    }
    if (c == '"')
      str = TRUE;
    else if (c == '{' || c == '[')
      depth++;
    else if (c == '}' || c == ']') {
      if (--depth == 0 && i + 1 != n)
        return FALSE;
      if (depth < 0)
        return FALSE;
    } else if (c == '\0')
      return FALSE;
  }
  return depth == 0 && !str;
}

static gboolean
get_uint (JsonObject *o, const gchar *name, guint64 max, guint64 *v,
    const gchar *path, GError **error)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL || json_node_get_value_type (n) != G_TYPE_INT64 ||
      json_node_get_int (n) < 0 || (guint64)json_node_get_int (n) > max) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: header field \"%s\" must be an integer in [0, %" G_GUINT64_FORMAT
        "]",
        path, name, max);
    return FALSE;
  }
  *v = (guint64)json_node_get_int (n);
  return TRUE;
}

/**
 * physnn_spike_record_load:
 * @path: a physnn-aer file
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the record, or %NULL with @error naming the
 *   file and the bad field or record
 */
PhysnnSpikeRecord *
physnn_spike_record_load (const gchar *path, GError **error)
{
  gchar *data = NULL;
  gsize len = 0;
  GError *local = NULL;
  if (!g_file_get_contents (path, &data, &len, &local)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO, "%s", local->message);
    g_error_free (local);
    return NULL;
  }
  g_autoptr (GBytes) bytes = g_bytes_new_take (data, len);
  return physnn_spike_record_load_from_bytes (bytes, path, error);
}

/**
 * physnn_spike_record_load_from_bytes:
 * @bytes: the contents of a physnn-aer file
 * @label: a name for messages (the file name)
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the record, or %NULL with @error naming @label
 *   and the bad field or record
 */
PhysnnSpikeRecord *
physnn_spike_record_load_from_bytes (
    GBytes *bytes, const gchar *label, GError **error)
{
  gsize len = 0;
  const gchar *data = g_bytes_get_data (bytes, &len);
  const gchar *path = label ? label : "(memory)";
  GError *local = NULL;
  if (data == NULL || len == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: empty, not a physnn-aer file", path);
    return NULL;
  }
  const gchar *nl = memchr (data, '\n', MIN (len, MAX_HEADER));
  if (nl == NULL || data[0] != '{' || !single_object (data, nl - data)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: not a physnn-aer file (no single-object JSON header line in "
        "the first %d bytes)",
        path, MAX_HEADER);
    return NULL;
  }
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, data, nl - data, &local)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT, "%s: header: %s",
        path, local->message);
    g_error_free (local);
    return NULL;
  }
  JsonNode *root = json_parser_get_root (parser);
  JsonObject *o =
      JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  const gchar *fmt =
      o ? json_object_get_string_member_with_default (o, "format", NULL) : NULL;
  if (fmt == NULL || strcmp (fmt, "physnn-aer") != 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: header field \"format\" must be \"physnn-aer\"", path);
    return NULL;
  }
  guint64 version, neurons, steps, events;
  if (!get_uint (o, "version", 1000, &version, path, error) ||
      !get_uint (o, "neurons", G_MAXUINT32, &neurons, path, error) ||
      !get_uint (o, "steps", G_MAXINT64, &steps, path, error) ||
      !get_uint (o, "events", G_MAXUINT32, &events, path, error))
    return NULL;
  if (version != 1 || neurons == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: version %" G_GUINT64_FORMAT " with %" G_GUINT64_FORMAT
        " neurons (expected version 1 and at least one neuron)",
        path, version, neurons);
    return NULL;
  }
  gdouble dt = json_object_get_double_member_with_default (o, "dt", NAN);
  gsize body = len - (gsize)(nl + 1 - data);
  if (body != events * RECORD) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: %" G_GSIZE_FORMAT " bytes of records for %" G_GUINT64_FORMAT
        " events (expected %" G_GUINT64_FORMAT ")",
        path, body, events, events * RECORD);
    return NULL;
  }
  PhysnnSpikeRecord *self = physnn_spike_record_new ((gsize)neurons, dt);
  self->steps = steps;
  g_array_set_size (self->events, (guint)events);
  const guint8 *p = (const guint8 *)nl + 1;
  for (guint64 i = 0; i < events; i++, p += RECORD) {
    guint64 s;
    guint32 a;
    memcpy (&s, p, 8);
    memcpy (&a, p + 8, 4);
    s = GUINT64_FROM_LE (s);
    a = GUINT32_FROM_LE (a);
    if (s >= steps || a >= neurons) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
          "%s: event %" G_GUINT64_FORMAT " (step %" G_GUINT64_FORMAT
          ", address %u) is outside %" G_GUINT64_FORMAT
          " steps × %" G_GUINT64_FORMAT " neurons",
          path, i, s, a, steps, neurons);
      g_object_unref (self);
      return NULL;
    }
    Event *e = &g_array_index (self->events, Event, i);
    e->step = s;
    e->address = a;
  }
  return self;
}
