/* Unit tests of the ONNX reader and writer (lib/physnn/onnx.c).
 *
 * References no one here wrote: tests/crosscheck/make_onnx_models.py makes
 * models with PyTorch's exporter and the onnx package's helpers at test
 * time, and describes each file as the onnx package reads it (models.json);
 * every field physnn reads is compared with that description. Those cases
 * are skipped, loudly, when /usr/bin/python3 lacks torch or onnx.
 *
 * Hostile files are built here with a minimal protobuf wire encoder (so that
 * they do not depend on our own writer) and must each give a GError that
 * names the file and the problem. The writer is checked by round trips
 * (lossless and a fixed point) and, independently, by onnx.checker in
 * tests/crosscheck/onnx_writer_check.py.
 */
#include <physnn/physnn.h>
#include <physnn/onnx-private.h>
#include <physnn/tensor-private.h>

#include <json-glib/json-glib.h>

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#define LABEL "heat.onnx"

/* ------------------------------------------------------------------------ */
/* A minimal protobuf wire encoder. Field numbers are those of onnx.proto. */

enum {
  M_IR_VERSION = 1,
  M_PRODUCER_NAME = 2,
  M_GRAPH = 7,
  M_OPSET = 8,
  M_METADATA = 14,
  OP_DOMAIN = 1,
  OP_VERSION = 2,
  KV_KEY = 1,
  KV_VALUE = 2,
  G_NODE = 1,
  G_NAME = 2,
  G_INITIALIZER = 5,
  G_INPUT = 11,
  G_OUTPUT = 12,
  G_SPARSE_INITIALIZER = 15,
  N_INPUT = 1,
  N_OUTPUT = 2,
  N_NAME = 3,
  N_OP_TYPE = 4,
  N_ATTRIBUTE = 5,
  A_NAME = 1,
  A_F = 2,
  A_I = 3,
  A_S = 4,
  A_T = 5,
  A_G = 6,
  A_TYPE = 20,
  A_REF_ATTR_NAME = 21,
  T_DIMS = 1,
  T_DATA_TYPE = 2,
  T_SEGMENT = 3,
  T_FLOAT_DATA = 4,
  T_INT32_DATA = 5,
  T_INT64_DATA = 7,
  T_NAME = 8,
  T_RAW_DATA = 9,
  T_EXTERNAL_DATA = 13,
  T_DATA_LOCATION = 14,
  SP_VALUES = 1,
  SP_DIMS = 3,
  VI_NAME = 1,
  VI_TYPE = 2,
  TY_TENSOR = 1,
  TY_SEQUENCE = 4,
  TT_ELEM_TYPE = 1,
  TT_SHAPE = 2,
  SH_DIM = 1,
  D_VALUE = 1,
  D_PARAM = 2,
};

enum { ONNX_FLOAT = 1, ONNX_INT8 = 3, ONNX_STRING = 8, ONNX_INT64 = 7 };
enum { ATTR_TYPE_GRAPH = 5 };

typedef GByteArray Pb;

static Pb *
pb_new (void)
{
  return g_byte_array_new ();
}

static void
pb_varint (Pb *b, guint64 v)
{
  do {
    guint8 c = v & 0x7f;
    v >>= 7;
    if (v)
      c |= 0x80;
    g_byte_array_append (b, &c, 1);
  } while (v);
}

static void
pb_key (Pb *b, guint field, guint wire)
{
  pb_varint (b, ((guint64)field << 3) | wire);
}

static void
pb_int (Pb *b, guint field, gint64 v)
{
  pb_key (b, field, 0);
  pb_varint (b, (guint64)v);
}

static void
pb_len (Pb *b, guint field, gconstpointer data, gsize len)
{
  pb_key (b, field, 2);
  pb_varint (b, len);
  g_byte_array_append (b, data, (guint)len);
}

static void
pb_str (Pb *b, guint field, const gchar *s)
{
  pb_len (b, field, s, strlen (s));
}

/* Appends @sub as a length-delimited field and frees it. */
static void
pb_msg (Pb *b, guint field, Pb *sub)
{
  pb_len (b, field, sub->data, sub->len);
  g_byte_array_unref (sub);
}

static Pb *
tensor_pb (const gchar *name, gint data_type, guint rank, const gint64 *dims)
{
  Pb *t = pb_new ();
  for (guint i = 0; i < rank; i++)
    pb_int (t, T_DIMS, dims[i]);
  pb_int (t, T_DATA_TYPE, data_type);
  if (name)
    pb_str (t, T_NAME, name);
  return t;
}

/* float32 values little-endian, as raw_data or a packed float_data */
static void
pb_floats (Pb *t, guint field, guint n)
{
  gfloat v[64];
  g_assert_cmpuint (n, <=, 64);
  for (guint i = 0; i < n; i++)
    v[i] = 0.5f * (gfloat)i;
  pb_len (t, field, v, n * sizeof (gfloat));
}

static Pb *
value_info_pb (const gchar *name, gint elem, guint rank, const gint64 *dims)
{
  Pb *shape = pb_new ();
  for (guint i = 0; i < rank; i++) {
    Pb *d = pb_new ();
    pb_int (d, D_VALUE, dims[i]);
    pb_msg (shape, SH_DIM, d);
  }
  Pb *tt = pb_new ();
  pb_int (tt, TT_ELEM_TYPE, elem);
  pb_msg (tt, TT_SHAPE, shape);
  Pb *ty = pb_new ();
  pb_msg (ty, TY_TENSOR, tt);
  Pb *vi = pb_new ();
  pb_str (vi, VI_NAME, name);
  pb_msg (vi, VI_TYPE, ty);
  return vi;
}

static Pb *
node_pb (
    const gchar *op_type, const gchar *name, const gchar *in, const gchar *out)
{
  Pb *n = pb_new ();
  if (in)
    pb_str (n, N_INPUT, in);
  if (out)
    pb_str (n, N_OUTPUT, out);
  if (name)
    pb_str (n, N_NAME, name);
  if (op_type)
    pb_str (n, N_OP_TYPE, op_type);
  return n;
}

/* y = Identity (x), x and y float[2]: a valid graph to spoil. */
static Pb *
graph_pb (void)
{
  const gint64 two = 2;
  Pb *g = pb_new ();
  pb_msg (g, G_NODE, node_pb ("Identity", "id", "x", "y"));
  pb_str (g, G_NAME, "g");
  pb_msg (g, G_INPUT, value_info_pb ("x", ONNX_FLOAT, 1, &two));
  pb_msg (g, G_OUTPUT, value_info_pb ("y", ONNX_FLOAT, 1, &two));
  return g;
}

static Pb *
model_head (void)
{
  Pb *m = pb_new ();
  pb_int (m, M_IR_VERSION, 8);
  Pb *op = pb_new ();
  pb_str (op, OP_DOMAIN, "");
  pb_int (op, OP_VERSION, 13);
  pb_msg (m, M_OPSET, op);
  return m;
}

/* A model around @graph (taken; may be NULL). */
static GBytes *
model_bytes (Pb *graph)
{
  Pb *m = model_head ();
  if (graph)
    pb_msg (m, M_GRAPH, graph);
  return g_byte_array_free_to_bytes (m);
}

/* Loads @bytes (taken) as LABEL and asserts a format error whose message
 * starts with the file name and contains @needle. */
static void
expect_error (GBytes *bytes, const gchar *needle)
{
  g_autoptr (GError) error = NULL;
  PhysnnOnnxModel *m = physnn_onnx_model_load_from_bytes (bytes, LABEL, &error);
  g_bytes_unref (bytes);
  if (m != NULL)
    g_error ("the model loaded, but \"%s\" was expected", needle);
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT);
  g_assert_true (g_str_has_prefix (error->message, LABEL ": "));
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  if (strstr (error->message, needle) == NULL)
    g_error ("expected \"%s\" in: %s", needle, error->message);
  g_test_message ("refused: %s", error->message);
}

/* ------------------------------------------------------------------------ */
/* Reference models from PyTorch and onnx.helper */

static gchar *ref_dir;
static JsonParser *ref_parser;
static gchar *ref_skip;

static const gchar *
source_dir (void)
{
  const gchar *s = g_getenv ("PHYSNN_SOURCE_DIR");
  return s ? s : PHYSNN_SOURCE_DIR;
}

static gboolean
reference_models (void)
{
  static gboolean tried;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *out = NULL, *err = NULL;
  gint status;

  if (tried)
    return ref_parser != NULL;
  tried = TRUE;
  const gchar *python = "/usr/bin/python3";
  g_autofree gchar *script = g_build_filename (
      source_dir (), "tests", "crosscheck", "make_onnx_models.py", NULL);
  if (!g_file_test (python, G_FILE_TEST_IS_EXECUTABLE)) {
    ref_skip = g_strdup ("/usr/bin/python3 is missing: the reference ONNX "
                         "models (PyTorch, onnx.helper) cannot be made");
    return FALSE;
  }
  ref_dir = g_dir_make_tmp ("physnn-onnx-ref-XXXXXX", &error);
  g_assert_no_error (error);
  const gchar *argv[] = { python, script, ref_dir, NULL };
  g_spawn_sync (NULL, (gchar **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
      &err, &status, &error);
  g_assert_no_error (error);
  if (WIFEXITED (status) && WEXITSTATUS (status) == 77) {
    ref_skip = g_strdup_printf ("reference ONNX models cannot be made "
                                "(install python3-torch and python3-onnx): %s",
        err);
    return FALSE;
  }
  if (!g_spawn_check_wait_status (status, &error))
    g_error ("%s failed: %s\n%s%s", script, error->message, out, err);
  g_autofree gchar *index = g_build_filename (ref_dir, "models.json", NULL);
  ref_parser = json_parser_new ();
  json_parser_load_from_file (ref_parser, index, &error);
  g_assert_no_error (error);
  return TRUE;
}

static void
remove_reference_models (void)
{
  if (ref_dir == NULL)
    return;
  GDir *d = g_dir_open (ref_dir, 0, NULL);
  const gchar *name;
  while (d && (name = g_dir_read_name (d))) {
    g_autofree gchar *p = g_build_filename (ref_dir, name, NULL);
    g_unlink (p);
  }
  if (d)
    g_dir_close (d);
  g_rmdir (ref_dir);
  g_clear_pointer (&ref_dir, g_free);
  g_clear_object (&ref_parser);
  g_clear_pointer (&ref_skip, g_free);
}

/* Returns the description of reference model @name, or NULL after a loud
 * skip. */
static JsonObject *
reference (const gchar *name)
{
  if (!reference_models ()) {
    g_printerr ("\n*** SKIPPED (LOUDLY): %s\n", ref_skip);
    g_test_skip (ref_skip);
    return NULL;
  }
  JsonObject *all = json_node_get_object (json_parser_get_root (ref_parser));
  if (!json_object_has_member (all, name))
    g_error ("models.json has no model \"%s\"", name);
  return json_object_get_object_member (all, name);
}

/* The physnn type of an ONNX element type; bool is read as uint8. */
static PhysnnDType
dtype_of (const gchar *onnx_name)
{
  static const struct {
    const gchar *onnx;
    PhysnnDType dtype;
  } map[] = {
    { "FLOAT", PHYSNN_DTYPE_FLOAT32 },
    { "DOUBLE", PHYSNN_DTYPE_FLOAT64 },
    { "FLOAT16", PHYSNN_DTYPE_FLOAT16 },
    { "INT8", PHYSNN_DTYPE_INT8 },
    { "UINT8", PHYSNN_DTYPE_UINT8 },
    { "INT16", PHYSNN_DTYPE_INT16 },
    { "UINT16", PHYSNN_DTYPE_UINT16 },
    { "INT32", PHYSNN_DTYPE_INT32 },
    { "UINT32", PHYSNN_DTYPE_UINT32 },
    { "INT64", PHYSNN_DTYPE_INT64 },
    { "UINT64", PHYSNN_DTYPE_UINT64 },
    { "BOOL", PHYSNN_DTYPE_UINT8 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (map); i++)
    if (strcmp (map[i].onnx, onnx_name) == 0)
      return map[i].dtype;
  g_error ("unexpected ONNX type %s in models.json", onnx_name);
  return PHYSNN_DTYPE_FLOAT32;
}

static void
check_str (const gchar *got, const gchar *want, const gchar *what)
{
  if (g_strcmp0 (got ? got : "", want) != 0)
    g_error ("%s: got \"%s\", expected \"%s\"", what, got, want);
}

/* Compares one element with its exact text from models.json. */
static void
check_value (PhysnnDType dt, gconstpointer data, gsize i, const gchar *text,
    const gchar *what)
{
  gdouble got, want;
  switch (dt) {
    case PHYSNN_DTYPE_FLOAT32:
      got = ((const gfloat *)data)[i];
      break;
    case PHYSNN_DTYPE_FLOAT64:
      got = ((const gdouble *)data)[i];
      break;
    case PHYSNN_DTYPE_FLOAT16:
      got = physnn_half_to_float (((const guint16 *)data)[i]);
      break;
    case PHYSNN_DTYPE_INT64: {
      gint64 v = ((const gint64 *)data)[i];
      if (v != g_ascii_strtoll (text, NULL, 10))
        g_error ("%s[%zu]: %" G_GINT64_FORMAT " != %s", what, i, v, text);
      return;
    }
    case PHYSNN_DTYPE_UINT64: {
      guint64 v = ((const guint64 *)data)[i];
      if (v != g_ascii_strtoull (text, NULL, 10))
        g_error ("%s[%zu]: %" G_GUINT64_FORMAT " != %s", what, i, v, text);
      return;
    }
    default:
      /* every other integer type is exact in a double */
      got = _physnn_dtype_read (dt, data, i);
      want = g_ascii_strtod (text, NULL);
      if (got != want)
        g_error ("%s[%zu]: %.17g != %s", what, i, got, text);
      return;
  }
  want = g_ascii_strtod (text, NULL);
  if (isnan (want) ? !isnan (got)
                   : (got != want || signbit (got) != signbit (want)))
    g_error ("%s[%zu]: %.17g != %s", what, i, got, text);
}

static void
check_tensor (PhysnnTensor *t, JsonObject *d, const gchar *what)
{
  g_assert_nonnull (t);
  PhysnnDType dt = dtype_of (json_object_get_string_member (d, "data_type"));
  g_assert_cmpstr (physnn_dtype_to_string (physnn_tensor_get_dtype (t)), ==,
      physnn_dtype_to_string (dt));
  JsonArray *dims = json_object_get_array_member (d, "dims");
  guint rank;
  const gsize *shape = physnn_tensor_get_shape (t, &rank);
  g_assert_cmpuint (rank, ==, json_array_get_length (dims));
  for (guint i = 0; i < rank; i++)
    g_assert_cmpint (
        (gint64)shape[i], ==, json_array_get_int_element (dims, i));
  JsonArray *values = json_object_get_array_member (d, "values");
  gsize n = json_array_get_length (values);
  g_assert_cmpuint (physnn_tensor_get_n_elements (t), ==, n);
  gconstpointer data = _physnn_tensor_host (t, PHYSNN_ACCESS_READ);
  for (gsize i = 0; i < n; i++)
    check_value (
        dt, data, i, json_array_get_string_element (values, (guint)i), what);
}

static void
check_value_infos (GPtrArray *got, JsonArray *want, const gchar *kind)
{
  g_assert_cmpuint (got->len, ==, json_array_get_length (want));
  for (guint i = 0; i < got->len; i++) {
    const PhysnnOnnxValueInfo *v = g_ptr_array_index (got, i);
    JsonObject *d = json_array_get_object_element (want, i);
    g_autofree gchar *what = g_strdup_printf ("%s %s", kind, v->name);
    check_str (v->name, json_object_get_string_member (d, "name"), what);
    g_assert_cmpint (v->dtype, ==,
        dtype_of (json_object_get_string_member (d, "elem_type")));
    g_assert_cmpint (
        v->has_shape, ==, json_object_get_boolean_member (d, "has_shape"));
    JsonArray *dims = json_object_get_array_member (d, "dims");
    g_assert_cmpuint (v->rank, ==, json_array_get_length (dims));
    for (guint k = 0; k < v->rank; k++) {
      JsonNode *dn = json_array_get_element (dims, k);
      if (JSON_NODE_HOLDS_NULL (dn)) {
        g_assert_cmpint (v->dims[k], ==, -1);
        g_assert_null (v->dim_params[k]);
      } else if (json_node_get_value_type (dn) == G_TYPE_STRING) {
        g_assert_cmpint (v->dims[k], ==, -1);
        check_str (v->dim_params[k], json_node_get_string (dn), what);
      } else {
        g_assert_cmpint (v->dims[k], ==, json_node_get_int (dn));
        g_assert_null (v->dim_params[k]);
      }
    }
  }
}

static void
check_attribute (const PhysnnOnnxAttribute *a, JsonObject *d, const gchar *node)
{
  static const gchar *types[] = { "FLOAT", "INT", "STRING", "TENSOR", "FLOATS",
    "INTS", "STRINGS", "OTHER" };
  g_autofree gchar *what =
      g_strdup_printf ("node %s attribute %s", node, a->name);
  check_str (a->name, json_object_get_string_member (d, "name"), what);
  g_assert_cmpstr (
      types[a->type], ==, json_object_get_string_member (d, "type"));
  JsonNode *value = json_object_get_member (d, "value");
  switch (a->type) {
    case PHYSNN_ONNX_ATTR_FLOAT:
      g_assert_true (
          a->f == (gfloat)g_ascii_strtod (json_node_get_string (value), NULL));
      break;
    case PHYSNN_ONNX_ATTR_INT:
      g_assert_cmpint (
          a->i, ==, g_ascii_strtoll (json_node_get_string (value), NULL, 10));
      break;
    case PHYSNN_ONNX_ATTR_STRING:
      check_str (a->s, json_node_get_string (value), what);
      g_assert_cmpuint (a->s_len, ==, strlen (json_node_get_string (value)));
      break;
    case PHYSNN_ONNX_ATTR_TENSOR:
      check_tensor (a->t, json_node_get_object (value), what);
      break;
    case PHYSNN_ONNX_ATTR_FLOATS: {
      JsonArray *arr = json_node_get_array (value);
      g_assert_cmpuint (a->floats->len, ==, json_array_get_length (arr));
      for (guint i = 0; i < a->floats->len; i++)
        g_assert_true (g_array_index (a->floats, gfloat, i) ==
                       (gfloat)g_ascii_strtod (
                           json_array_get_string_element (arr, i), NULL));
      break;
    }
    case PHYSNN_ONNX_ATTR_INTS: {
      JsonArray *arr = json_node_get_array (value);
      g_assert_cmpuint (a->ints->len, ==, json_array_get_length (arr));
      for (guint i = 0; i < a->ints->len; i++)
        g_assert_cmpint (g_array_index (a->ints, gint64, i), ==,
            g_ascii_strtoll (json_array_get_string_element (arr, i), NULL, 10));
      break;
    }
    case PHYSNN_ONNX_ATTR_STRINGS: {
      JsonArray *arr = json_node_get_array (value);
      g_assert_cmpuint (a->strings->len, ==, json_array_get_length (arr));
      for (guint i = 0; i < a->strings->len; i++)
        check_str (g_ptr_array_index (a->strings, i),
            json_array_get_string_element (arr, i), what);
      break;
    }
    case PHYSNN_ONNX_ATTR_OTHER:
      break;
  }
}

/* Everything physnn reads from a file against the onnx package's reading. */
static void
check_against (const PhysnnOnnxModel *m, JsonObject *d)
{
  g_assert_cmpint (
      m->ir_version, ==, json_object_get_int_member (d, "ir_version"));
  g_assert_cmpint (m->opset, ==, json_object_get_int_member (d, "opset"));
  check_str (m->producer_name,
      json_object_get_string_member (d, "producer_name"), "producer_name");
  check_str (m->producer_version,
      json_object_get_string_member (d, "producer_version"),
      "producer_version");
  check_str (m->doc_string, json_object_get_string_member (d, "doc_string"),
      "doc_string");
  check_str (m->graph_name, json_object_get_string_member (d, "graph_name"),
      "graph name");

  JsonObject *meta = json_object_get_object_member (d, "metadata");
  g_assert_cmpuint (
      g_hash_table_size (m->metadata), ==, json_object_get_size (meta));
  g_autoptr (GList) keys = json_object_get_members (meta);
  for (GList *l = keys; l; l = l->next)
    check_str (g_hash_table_lookup (m->metadata, l->data),
        json_object_get_string_member (meta, l->data), l->data);

  JsonObject *domains = json_object_get_object_member (d, "domains");
  g_assert_cmpuint (
      g_hash_table_size (m->domain_opsets), ==, json_object_get_size (domains));
  g_autoptr (GList) dkeys = json_object_get_members (domains);
  for (GList *l = dkeys; l; l = l->next) {
    const gint64 *v = g_hash_table_lookup (m->domain_opsets, l->data);
    g_assert_nonnull (v);
    g_assert_cmpint (*v, ==, json_object_get_int_member (domains, l->data));
  }

  check_value_infos (
      m->inputs, json_object_get_array_member (d, "inputs"), "input");
  check_value_infos (
      m->outputs, json_object_get_array_member (d, "outputs"), "output");
  check_value_infos (m->value_infos,
      json_object_get_array_member (d, "value_infos"), "value_info");

  JsonArray *inits = json_object_get_array_member (d, "initializers");
  g_assert_cmpuint (
      m->initializer_names->len, ==, json_array_get_length (inits));
  g_assert_cmpuint (
      g_hash_table_size (m->initializers), ==, json_array_get_length (inits));
  for (guint i = 0; i < m->initializer_names->len; i++) {
    JsonObject *t = json_array_get_object_element (inits, i);
    const gchar *name = g_ptr_array_index (m->initializer_names, i);
    check_str (
        name, json_object_get_string_member (t, "name"), "initializer order");
    check_tensor (g_hash_table_lookup (m->initializers, name), t, name);
  }

  JsonArray *nodes = json_object_get_array_member (d, "nodes");
  g_assert_cmpuint (m->nodes->len, ==, json_array_get_length (nodes));
  for (guint i = 0; i < m->nodes->len; i++) {
    const PhysnnOnnxNode *n = g_ptr_array_index (m->nodes, i);
    JsonObject *nd = json_array_get_object_element (nodes, i);
    g_autofree gchar *what = g_strdup_printf ("#%u %s", i, n->name);
    check_str (n->name, json_object_get_string_member (nd, "name"), what);
    check_str (n->op_type, json_object_get_string_member (nd, "op_type"), what);
    check_str (n->domain, json_object_get_string_member (nd, "domain"), what);
    JsonArray *ins = json_object_get_array_member (nd, "inputs");
    JsonArray *outs = json_object_get_array_member (nd, "outputs");
    g_assert_cmpuint (n->inputs->len, ==, json_array_get_length (ins));
    for (guint k = 0; k < n->inputs->len; k++)
      check_str (g_ptr_array_index (n->inputs, k),
          json_array_get_string_element (ins, k), what);
    g_assert_cmpuint (n->outputs->len, ==, json_array_get_length (outs));
    for (guint k = 0; k < n->outputs->len; k++)
      check_str (g_ptr_array_index (n->outputs, k),
          json_array_get_string_element (outs, k), what);
    JsonArray *attrs = json_object_get_array_member (nd, "attributes");
    g_assert_cmpuint (n->attributes->len, ==, json_array_get_length (attrs));
    for (guint k = 0; k < n->attributes->len; k++)
      check_attribute (g_ptr_array_index (n->attributes, k),
          json_array_get_object_element (attrs, k), what);
  }
}

static void
test_reference (gconstpointer data)
{
  const gchar *name = data;
  g_autoptr (GError) error = NULL;
  JsonObject *d = reference (name);
  if (d == NULL)
    return;
  g_autofree gchar *file = g_strconcat (name, ".onnx", NULL);
  g_autofree gchar *path = g_build_filename (ref_dir, file, NULL);
  g_autoptr (PhysnnOnnxModel) m = physnn_onnx_model_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (m->path, ==, path);
  check_against (m, d);

  /* the same bytes from memory read the same */
  g_autoptr (GMappedFile) mf = g_mapped_file_new (path, FALSE, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) bytes = g_mapped_file_get_bytes (mf);
  g_autoptr (PhysnnOnnxModel) m2 =
      physnn_onnx_model_load_from_bytes (bytes, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (m2->path, ==, "(memory)");
  check_against (m2, d);
}

/* Written back and read again, a reference model still matches the onnx
 * package's description of the original (bool becomes uint8, as the data
 * model has no bool), and writing is a fixed point. */
static void
test_reference_round_trip (gconstpointer data)
{
  const gchar *name = data;
  g_autoptr (GError) error = NULL;
  JsonObject *d = reference (name);
  if (d == NULL)
    return;
  g_autofree gchar *file = g_strconcat (name, ".onnx", NULL);
  g_autofree gchar *path = g_build_filename (ref_dir, file, NULL);
  g_autoptr (PhysnnOnnxModel) m = physnn_onnx_model_load (path, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) once = physnn_onnx_model_serialize (m, &error);
  g_assert_no_error (error);
  g_autoptr (PhysnnOnnxModel) back =
      physnn_onnx_model_load_from_bytes (once, "again.onnx", &error);
  g_assert_no_error (error);
  check_against (back, d);
  g_autoptr (GBytes) twice = physnn_onnx_model_serialize (back, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (once, twice));
}

/* If/Loop bodies are kept by name only, and the writer says so rather than
 * writing a model without them. */
static void
test_reference_subgraph (void)
{
  g_autoptr (GError) error = NULL;
  JsonObject *d = reference ("subgraph");
  if (d == NULL)
    return;
  g_autofree gchar *path = g_build_filename (ref_dir, "subgraph.onnx", NULL);
  g_autoptr (PhysnnOnnxModel) m = physnn_onnx_model_load (path, &error);
  g_assert_no_error (error);
  check_against (m, d);
  const PhysnnOnnxNode *n = g_ptr_array_index (m->nodes, 1);
  g_assert_cmpstr (n->op_type, ==, "If");
  const PhysnnOnnxAttribute *a =
      physnn_onnx_node_get_attribute (n, "then_branch");
  g_assert_nonnull (a);
  g_assert_cmpint (a->type, ==, PHYSNN_ONNX_ATTR_OTHER);
  g_assert_null (physnn_onnx_model_serialize (m, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT);
  /* the first of the branches in file order is named */
  const PhysnnOnnxAttribute *first = g_ptr_array_index (n->attributes, 0);
  g_autofree gchar *want = g_strdup_printf ("node \"if\" (If): attribute "
                                            "\"%s\"",
      first->name);
  g_assert_nonnull (strstr (error->message, want));
  g_assert_nonnull (strstr (error->message, "cannot be written"));
}

/* ------------------------------------------------------------------------ */
/* Round trips of a model built here with every feature of the data model */

static PhysnnTensor *
tensor_of (PhysnnDType dt, guint rank, const gsize *shape, gconstpointer data)
{
  PhysnnTensor *t = physnn_tensor_new (dt, rank, shape);
  gpointer dst = _physnn_tensor_host (t, PHYSNN_ACCESS_WRITE);
  memcpy (dst, data, physnn_tensor_get_nbytes (t));
  return t;
}

static void
add_init (PhysnnOnnxModel *m, const gchar *name, PhysnnTensor *t)
{
  g_ptr_array_add (m->initializer_names, g_strdup (name));
  g_hash_table_insert (m->initializers, g_strdup (name), t);
}

static PhysnnOnnxModel *
full_model (void)
{
  PhysnnOnnxModel *m = physnn_onnx_model_new ();
  m->path = g_strdup ("full.onnx");
  m->ir_version = 9;
  m->opset = 17;
  m->producer_name = g_strdup ("test-onnx");
  m->producer_version = g_strdup ("0.1");
  m->graph_name = g_strdup ("everything");
  m->doc_string = g_strdup ("heat equation, u_t = α u_xx");
  g_hash_table_insert (
      m->metadata, g_strdup ("physnn.coords"), g_strdup ("x,t"));
  g_hash_table_insert (m->metadata, g_strdup ("empty"), g_strdup (""));
  g_hash_table_insert (m->metadata, g_strdup ("ünï"), g_strdup ("✓"));
  gint64 *v = g_new (gint64, 1);
  *v = 2;
  g_hash_table_insert (m->domain_opsets, g_strdup ("com.example"), v);

  gint64 dims[3] = { -1, 2, -1 };
  PhysnnOnnxValueInfo *x =
      physnn_onnx_value_info_new ("x", PHYSNN_DTYPE_FLOAT32, 3, dims);
  x->dim_params[0] = g_strdup ("N"); /* dims[2] stays unknown */
  g_ptr_array_add (m->inputs, x);
  g_ptr_array_add (
      m->inputs, physnn_onnx_value_info_new ("s", PHYSNN_DTYPE_INT64, 0, NULL));
  PhysnnOnnxValueInfo *u =
      physnn_onnx_value_info_new ("u", PHYSNN_DTYPE_FLOAT64, 0, NULL);
  u->has_shape = FALSE;
  g_ptr_array_add (m->outputs, u);
  gint64 hd[2] = { -1, 8 };
  PhysnnOnnxValueInfo *h =
      physnn_onnx_value_info_new ("h", PHYSNN_DTYPE_FLOAT16, 2, hd);
  h->dim_params[0] = g_strdup ("N");
  g_ptr_array_add (m->value_infos, h);

  /* one initializer per type, with extreme values */
  const gsize s4[2] = { 2, 2 }, s3[1] = { 3 }, s0[2] = { 0, 5 };
  const gfloat f32[4] = { 1.5f, -0.0f, INFINITY, 1e-45f };
  const gdouble f64[3] = { M_PI, -1e308, 5e-324 };
  const guint16 f16[3] = { 0x3c00, 0x7bff, 0x0001 };
  const gint8 i8[3] = { -128, 127, 0 };
  const guint8 u8[3] = { 0, 255, 1 };
  const gint16 i16[3] = { G_MININT16, G_MAXINT16, -1 };
  const guint16 u16[3] = { 0, G_MAXUINT16, 300 };
  const gint32 i32[3] = { G_MININT32, G_MAXINT32, -7 };
  const guint32 u32[3] = { 0, G_MAXUINT32, 3000000000u };
  const gint64 i64[3] = { G_MININT64, G_MAXINT64,
    (G_GINT64_CONSTANT (1) << 53) + 1 };
  const guint64 u64[3] = { 0, G_MAXUINT64, (G_GUINT64_CONSTANT (1) << 63) + 5 };
  add_init (m, "f32", tensor_of (PHYSNN_DTYPE_FLOAT32, 2, s4, f32));
  add_init (m, "f64", tensor_of (PHYSNN_DTYPE_FLOAT64, 1, s3, f64));
  add_init (m, "f16", tensor_of (PHYSNN_DTYPE_FLOAT16, 1, s3, f16));
  add_init (m, "i8", tensor_of (PHYSNN_DTYPE_INT8, 1, s3, i8));
  add_init (m, "u8", tensor_of (PHYSNN_DTYPE_UINT8, 1, s3, u8));
  add_init (m, "i16", tensor_of (PHYSNN_DTYPE_INT16, 1, s3, i16));
  add_init (m, "u16", tensor_of (PHYSNN_DTYPE_UINT16, 1, s3, u16));
  add_init (m, "i32", tensor_of (PHYSNN_DTYPE_INT32, 1, s3, i32));
  add_init (m, "u32", tensor_of (PHYSNN_DTYPE_UINT32, 1, s3, u32));
  add_init (m, "i64", tensor_of (PHYSNN_DTYPE_INT64, 1, s3, i64));
  add_init (m, "u64", tensor_of (PHYSNN_DTYPE_UINT64, 1, s3, u64));
  add_init (m, "scalar", tensor_of (PHYSNN_DTYPE_FLOAT32, 0, NULL, f32));
  add_init (m, "empty", tensor_of (PHYSNN_DTYPE_FLOAT32, 2, s0, f32));

  PhysnnOnnxNode *n = physnn_onnx_node_new ("Everything", "every");
  g_free (n->domain);
  n->domain = g_strdup ("com.example");
  g_ptr_array_add (n->inputs, g_strdup ("x"));
  g_ptr_array_add (n->inputs, g_strdup ("")); /* omitted optional input */
  g_ptr_array_add (n->inputs, g_strdup ("f32"));
  g_ptr_array_add (n->outputs, g_strdup ("h"));
  PhysnnOnnxAttribute *a;
  a = physnn_onnx_attribute_new ("alpha", PHYSNN_ONNX_ATTR_FLOAT);
  a->f = -0.125f;
  g_ptr_array_add (n->attributes, a);
  a = physnn_onnx_attribute_new ("count", PHYSNN_ONNX_ATTR_INT);
  a->i = G_MININT64;
  g_ptr_array_add (n->attributes, a);
  a = physnn_onnx_attribute_new ("bytes", PHYSNN_ONNX_ATTR_STRING);
  a->s = g_malloc (5);
  memcpy (a->s, "a\0b\xff", 5); /* an embedded NUL, not UTF-8 */
  a->s_len = 4;
  g_ptr_array_add (n->attributes, a);
  a = physnn_onnx_attribute_new ("value", PHYSNN_ONNX_ATTR_TENSOR);
  a->t = tensor_of (PHYSNN_DTYPE_FLOAT16, 1, s3, f16);
  g_ptr_array_add (n->attributes, a);
  a = physnn_onnx_attribute_new ("scales", PHYSNN_ONNX_ATTR_FLOATS);
  a->floats = g_array_new (FALSE, FALSE, sizeof (gfloat));
  g_array_append_vals (a->floats, f32, 4);
  g_ptr_array_add (n->attributes, a);
  a = physnn_onnx_attribute_new ("axes", PHYSNN_ONNX_ATTR_INTS);
  a->ints = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_array_append_vals (a->ints, i64, 3);
  g_ptr_array_add (n->attributes, a);
  a = physnn_onnx_attribute_new ("labels", PHYSNN_ONNX_ATTR_STRINGS);
  a->strings = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (a->strings, g_strdup ("x"));
  g_ptr_array_add (a->strings, g_strdup (""));
  g_ptr_array_add (a->strings, g_strdup ("t₀"));
  g_ptr_array_add (n->attributes, a);
  a = physnn_onnx_attribute_new ("none", PHYSNN_ONNX_ATTR_INTS);
  a->ints = g_array_new (FALSE, FALSE, sizeof (gint64)); /* empty list */
  g_ptr_array_add (n->attributes, a);
  g_ptr_array_add (m->nodes, n);

  n = physnn_onnx_node_new ("Cast", NULL); /* unnamed */
  g_ptr_array_add (n->inputs, g_strdup ("h"));
  g_ptr_array_add (n->outputs, g_strdup ("u"));
  a = physnn_onnx_attribute_new ("to", PHYSNN_ONNX_ATTR_INT);
  a->i = 11;
  g_ptr_array_add (n->attributes, a);
  g_ptr_array_add (m->nodes, n);
  return m;
}

static void
assert_tensors_equal (PhysnnTensor *a, PhysnnTensor *b)
{
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  g_assert_cmpint (
      physnn_tensor_get_dtype (a), ==, physnn_tensor_get_dtype (b));
  g_assert_true (physnn_tensor_shape_equal (a, b));
  g_assert_cmpmem (_physnn_tensor_host (a, PHYSNN_ACCESS_READ),
      physnn_tensor_get_nbytes (a), _physnn_tensor_host (b, PHYSNN_ACCESS_READ),
      physnn_tensor_get_nbytes (b));
}

static void
assert_value_infos_equal (GPtrArray *a, GPtrArray *b)
{
  g_assert_cmpuint (a->len, ==, b->len);
  for (guint i = 0; i < a->len; i++) {
    const PhysnnOnnxValueInfo *x = g_ptr_array_index (a, i);
    const PhysnnOnnxValueInfo *y = g_ptr_array_index (b, i);
    g_assert_cmpstr (x->name, ==, y->name);
    g_assert_cmpint (x->dtype, ==, y->dtype);
    g_assert_cmpint (x->has_shape, ==, y->has_shape);
    g_assert_cmpuint (x->rank, ==, y->rank);
    for (guint k = 0; k < x->rank; k++) {
      g_assert_cmpint (x->dims[k], ==, y->dims[k]);
      g_assert_cmpstr (x->dim_params[k], ==, y->dim_params[k]);
    }
  }
}

static void
assert_hash_equal (GHashTable *a, GHashTable *b, gboolean int64_values)
{
  GHashTableIter it;
  gpointer k, v;
  g_assert_cmpuint (g_hash_table_size (a), ==, g_hash_table_size (b));
  g_hash_table_iter_init (&it, a);
  while (g_hash_table_iter_next (&it, &k, &v)) {
    gpointer w = g_hash_table_lookup (b, k);
    g_assert_nonnull (w);
    if (int64_values)
      g_assert_cmpint (*(gint64 *)v, ==, *(gint64 *)w);
    else
      g_assert_cmpstr (v, ==, w);
  }
}

static void
assert_models_equal (const PhysnnOnnxModel *a, const PhysnnOnnxModel *b)
{
  g_assert_cmpint (a->ir_version, ==, b->ir_version);
  g_assert_cmpint (a->opset, ==, b->opset);
  g_assert_cmpstr (a->producer_name, ==, b->producer_name);
  g_assert_cmpstr (a->producer_version, ==, b->producer_version);
  g_assert_cmpstr (a->graph_name, ==, b->graph_name);
  g_assert_cmpstr (a->doc_string, ==, b->doc_string);
  assert_hash_equal (a->metadata, b->metadata, FALSE);
  assert_hash_equal (a->domain_opsets, b->domain_opsets, TRUE);
  assert_value_infos_equal (a->inputs, b->inputs);
  assert_value_infos_equal (a->outputs, b->outputs);
  assert_value_infos_equal (a->value_infos, b->value_infos);
  g_assert_cmpuint (a->initializer_names->len, ==, b->initializer_names->len);
  for (guint i = 0; i < a->initializer_names->len; i++) {
    const gchar *name = g_ptr_array_index (a->initializer_names, i);
    g_assert_cmpstr (name, ==, g_ptr_array_index (b->initializer_names, i));
    assert_tensors_equal (g_hash_table_lookup (a->initializers, name),
        g_hash_table_lookup (b->initializers, name));
  }
  g_assert_cmpuint (a->nodes->len, ==, b->nodes->len);
  for (guint i = 0; i < a->nodes->len; i++) {
    const PhysnnOnnxNode *x = g_ptr_array_index (a->nodes, i);
    const PhysnnOnnxNode *y = g_ptr_array_index (b->nodes, i);
    g_assert_cmpstr (x->name, ==, y->name);
    g_assert_cmpstr (x->op_type, ==, y->op_type);
    g_assert_cmpstr (x->domain, ==, y->domain);
    g_assert_cmpuint (x->inputs->len, ==, y->inputs->len);
    for (guint k = 0; k < x->inputs->len; k++)
      g_assert_cmpstr (g_ptr_array_index (x->inputs, k), ==,
          g_ptr_array_index (y->inputs, k));
    g_assert_cmpuint (x->outputs->len, ==, y->outputs->len);
    for (guint k = 0; k < x->outputs->len; k++)
      g_assert_cmpstr (g_ptr_array_index (x->outputs, k), ==,
          g_ptr_array_index (y->outputs, k));
    g_assert_cmpuint (x->attributes->len, ==, y->attributes->len);
    for (guint k = 0; k < x->attributes->len; k++) {
      const PhysnnOnnxAttribute *p = g_ptr_array_index (x->attributes, k);
      const PhysnnOnnxAttribute *q = g_ptr_array_index (y->attributes, k);
      g_assert_cmpstr (p->name, ==, q->name);
      g_assert_cmpint (p->type, ==, q->type);
      switch (p->type) {
        case PHYSNN_ONNX_ATTR_FLOAT:
          g_assert_cmpmem (&p->f, sizeof p->f, &q->f, sizeof q->f);
          break;
        case PHYSNN_ONNX_ATTR_INT:
          g_assert_cmpint (p->i, ==, q->i);
          break;
        case PHYSNN_ONNX_ATTR_STRING:
          g_assert_cmpmem (p->s, p->s_len, q->s, q->s_len);
          break;
        case PHYSNN_ONNX_ATTR_TENSOR:
          assert_tensors_equal (p->t, q->t);
          break;
        case PHYSNN_ONNX_ATTR_FLOATS:
          g_assert_cmpmem (p->floats->data, p->floats->len * sizeof (gfloat),
              q->floats->data, q->floats->len * sizeof (gfloat));
          break;
        case PHYSNN_ONNX_ATTR_INTS:
          g_assert_cmpmem (p->ints->data, p->ints->len * sizeof (gint64),
              q->ints->data, q->ints->len * sizeof (gint64));
          break;
        case PHYSNN_ONNX_ATTR_STRINGS:
          g_assert_cmpuint (p->strings->len, ==, q->strings->len);
          for (guint s = 0; s < p->strings->len; s++)
            g_assert_cmpstr (g_ptr_array_index (p->strings, s), ==,
                g_ptr_array_index (q->strings, s));
          break;
        case PHYSNN_ONNX_ATTR_OTHER:
          break;
      }
    }
  }
}

static gchar *
tmp_dir (void)
{
  g_autoptr (GError) error = NULL;
  gchar *dir = g_dir_make_tmp ("physnn-onnx-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

static guint
count_entries (const gchar *dir)
{
  guint n = 0;
  GDir *d = g_dir_open (dir, 0, NULL);
  g_assert_nonnull (d);
  while (g_dir_read_name (d))
    n++;
  g_dir_close (d);
  return n;
}

static void
test_round_trip_memory (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnOnnxModel) m = full_model ();
  g_autoptr (GBytes) once = physnn_onnx_model_serialize (m, &error);
  g_assert_no_error (error);
  g_autoptr (PhysnnOnnxModel) back =
      physnn_onnx_model_load_from_bytes (once, "full.onnx", &error);
  g_assert_no_error (error);
  assert_models_equal (m, back);
  g_autoptr (GBytes) twice = physnn_onnx_model_serialize (back, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (once, twice));
}

static void
test_round_trip_file (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *dir = tmp_dir ();
  g_autofree gchar *path = g_build_filename (dir, "full.onnx", NULL);
  g_autoptr (PhysnnOnnxModel) m = full_model ();

  /* over an existing, longer file: replaced whole */
  g_autofree gchar *junk = g_strnfill (100000, 'j');
  g_assert_true (g_file_set_contents (path, junk, -1, NULL));
  g_assert_true (physnn_onnx_model_save (m, path, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_entries (dir), ==, 1); /* no temporary left */
  g_autoptr (PhysnnOnnxModel) back = physnn_onnx_model_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->path, ==, path);
  assert_models_equal (m, back);
  g_unlink (path);
  g_rmdir (dir);
}

/* Defaults the writer fills in for a model built with nothing set. */
static void
test_writer_defaults (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnOnnxModel) m = physnn_onnx_model_new ();
  g_autoptr (GBytes) bytes = physnn_onnx_model_serialize (m, &error);
  g_assert_no_error (error);
  g_autoptr (PhysnnOnnxModel) back =
      physnn_onnx_model_load_from_bytes (bytes, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (back->ir_version, ==, 8);
  g_assert_cmpint (back->opset, ==, 13);
  g_assert_cmpstr (back->producer_name, ==, "physnn");
  g_assert_cmpuint (back->nodes->len, ==, 0);
}

static void
test_writer_errors (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnOnnxModel) m = full_model ();

  g_assert_false (
      physnn_onnx_model_save (m, "/nonexistent/dir/x.onnx", &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "/nonexistent/dir/x.onnx"));
  g_clear_error (&error);

  /* a directory in the way */
  g_autofree gchar *dir = tmp_dir ();
  g_assert_false (physnn_onnx_model_save (m, dir, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO);
  g_assert_nonnull (strstr (error->message, dir));
  g_clear_error (&error);
  g_assert_cmpuint (count_entries (dir), ==, 0);
  g_rmdir (dir);

  /* a custom domain without an opset version to import */
  g_hash_table_remove (m->domain_opsets, "com.example");
  g_assert_null (physnn_onnx_model_serialize (m, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "node \"every\" (Everything) is "
                                            "in domain \"com.example\""));
  g_clear_error (&error);

  /* an attribute kept by name only */
  g_autoptr (PhysnnOnnxModel) o = physnn_onnx_model_new ();
  PhysnnOnnxNode *n = physnn_onnx_node_new ("Loop", NULL);
  g_ptr_array_add (n->attributes,
      physnn_onnx_attribute_new ("body", PHYSNN_ONNX_ATTR_OTHER));
  g_ptr_array_add (o->nodes, physnn_onnx_node_new ("Relu", "r"));
  g_ptr_array_add (o->nodes, n);
  g_assert_null (physnn_onnx_model_serialize (o, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "node #1 (Loop): attribute "
                                            "\"body\""));
  g_clear_error (&error);

  /* a listed initializer without a tensor */
  g_ptr_array_set_size (o->nodes, 0);
  g_ptr_array_add (o->initializer_names, g_strdup ("ghost"));
  g_assert_null (physnn_onnx_model_serialize (o, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "\"ghost\""));
}

/* ------------------------------------------------------------------------ */
/* Files that are not models */

static void
test_files (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *dir = tmp_dir ();

  g_assert_null (physnn_onnx_model_load ("/nonexistent/model.onnx", &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO);
  g_assert_true (g_str_has_prefix (
      error->message, "/nonexistent/model.onnx: cannot open"));
  g_clear_error (&error);

  g_assert_null (physnn_onnx_model_load (dir, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "not a regular file"));
  g_assert_true (g_str_has_prefix (error->message, dir));
  g_clear_error (&error);

  g_autofree gchar *empty = g_build_filename (dir, "empty.onnx", NULL);
  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  g_assert_null (physnn_onnx_model_load (empty, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT);
  g_assert_true (g_str_has_prefix (error->message, empty));
  g_assert_nonnull (strstr (error->message, "empty file"));
  g_clear_error (&error);

  g_autofree gchar *text = g_build_filename (dir, "text.onnx", NULL);
  g_assert_true (g_file_set_contents (text, "this is not a model\n", -1, NULL));
  g_assert_null (physnn_onnx_model_load (text, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "not an ONNX model"));
  g_clear_error (&error);

  /* over the size limit: refused from its size, before any read (a sparse
   * file, so it costs no disk) */
  g_autofree gchar *big = g_build_filename (dir, "big.onnx", NULL);
  int fd = g_open (big, O_CREAT | O_WRONLY, 0644);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (ftruncate (fd, PHYSNN_ONNX_MAX_FILE_BYTES + 1), ==, 0);
  close (fd);
  g_assert_null (physnn_onnx_model_load (big, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "above 2 GiB"));
  g_clear_error (&error);

  g_unlink (empty);
  g_unlink (text);
  g_unlink (big);
  g_rmdir (dir);
}

/* ------------------------------------------------------------------------ */
/* Hostile contents, each refused with a message naming the problem */

static void
test_valid_base (void)
{
  /* the encoder's base model is valid, so each refusal below is caused by
   * the one thing spoiled */
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) b = model_bytes (graph_pb ());
  g_autoptr (PhysnnOnnxModel) m =
      physnn_onnx_model_load_from_bytes (b, LABEL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (m->nodes->len, ==, 1);
  g_assert_cmpuint (m->inputs->len, ==, 1);
  g_assert_cmpint (m->opset, ==, 13);
}

static GBytes *
with_initializer (Pb *t)
{
  Pb *g = graph_pb ();
  pb_msg (g, G_INITIALIZER, t);
  return model_bytes (g);
}

static void
test_bad_tensor_data (void)
{
  const gint64 d22[2] = { 2, 2 }, d3[1] = { 3 }, d2[1] = { 2 };
  Pb *t;
  g_autoptr (GError) error = NULL;

  /* the message of the brief, in full */
  t = tensor_pb ("W1", ONNX_FLOAT, 2, d22);
  pb_floats (t, T_RAW_DATA, 3);
  g_autoptr (GBytes) b = with_initializer (t);
  g_assert_null (physnn_onnx_model_load_from_bytes (b, LABEL, &error));
  g_assert_cmpstr (error->message, ==,
      "heat.onnx: initializer \"W1\": "
      "raw_data has 12 bytes, expected 16 for float32[2,2]");

  t = tensor_pb ("W1", ONNX_FLOAT, 2, d22);
  pb_floats (t, T_RAW_DATA, 5);
  expect_error (with_initializer (t), "raw_data has 20 bytes, expected 16");

  t = tensor_pb ("W2", ONNX_FLOAT, 2, d22);
  pb_floats (t, T_FLOAT_DATA, 3);
  expect_error (with_initializer (t), "initializer \"W2\": float_data has 3 "
                                      "values, expected 4 for float32[2,2]");

  t = tensor_pb ("steps", ONNX_INT64, 1, d3);
  pb_int (t, T_INT64_DATA, 1);
  pb_int (t, T_INT64_DATA, 2);
  expect_error (with_initializer (t), "int64_data has 2 values, expected 3");

  t = tensor_pb ("q", ONNX_INT8, 1, d2);
  expect_error (with_initializer (t),
      "initializer \"q\": int32_data has 0 "
      "values, expected 2 for int8[2] (and there is no raw_data)");
}

static void
test_bad_dims (void)
{
  const gint64 huge[2] = { G_GINT64_CONSTANT (1) << 31, G_GINT64_CONSTANT (1)
                                                            << 31 };
  const gint64 over[2] = { 1 << 20, 1 << 20 };
  const gint64 giant[2] = { 0, G_GINT64_CONSTANT (1) << 62 };
  const gint64 neg[2] = { 2, -2 };
  const gint64 deep[17] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
  Pb *t;

  /* claimed sizes are refused before any allocation */
  expect_error (with_initializer (tensor_pb ("big", ONNX_FLOAT, 2, huge)),
      "initializer \"big\": more than 2^31 elements");
  expect_error (with_initializer (tensor_pb ("big", ONNX_FLOAT, 2, over)),
      "more than 2^31 elements");
  expect_error (with_initializer (tensor_pb ("zero", ONNX_FLOAT, 2, giant)),
      "initializer \"zero\": dimension 1 is 4611686018427387904, above 2^31");
  t = tensor_pb ("neg", ONNX_FLOAT, 2, neg);
  pb_floats (t, T_RAW_DATA, 4);
  expect_error (with_initializer (t), "initializer \"neg\": dimension 1 is "
                                      "negative (-2)");
  expect_error (with_initializer (tensor_pb ("r", ONNX_FLOAT, 17, deep)),
      "initializer \"r\": rank 17 is above 16");

  /* graph inputs too */
  const gint64 minus3 = -3;
  Pb *g = graph_pb ();
  pb_msg (g, G_INPUT, value_info_pb ("z", ONNX_FLOAT, 1, &minus3));
  expect_error (model_bytes (g), "input \"z\": dimension 0 is -3, expected "
                                 "0 to 2^31");
  g = graph_pb ();
  pb_msg (g, G_OUTPUT, value_info_pb ("w", ONNX_FLOAT, 17, deep));
  expect_error (model_bytes (g), "output \"w\": rank 17 is above 16");
}

static void
test_bad_types (void)
{
  const gint64 d1 = 1;
  Pb *t = tensor_pb ("s", ONNX_STRING, 1, &d1);
  expect_error (with_initializer (t), "initializer \"s\": data type STRING "
                                      "(8) is not supported");
  t = tensor_pb ("u", 999, 1, &d1);
  pb_floats (t, T_RAW_DATA, 1);
  expect_error (with_initializer (t), "initializer \"u\": data type unknown "
                                      "(999) is not supported");

  Pb *g = graph_pb ();
  pb_msg (g, G_INPUT, value_info_pb ("z", 999, 1, &d1));
  expect_error (model_bytes (g),
      "input \"z\": element type unknown (999) is not supported");

  /* a sequence where a tensor is expected */
  Pb *ty = pb_new ();
  pb_msg (ty, TY_SEQUENCE, pb_new ());
  Pb *vi = pb_new ();
  pb_str (vi, VI_NAME, "seq");
  pb_msg (vi, VI_TYPE, ty);
  g = graph_pb ();
  pb_msg (g, G_INPUT, vi);
  expect_error (model_bytes (g), "input \"seq\": only tensor types are "
                                 "supported");
}

static Pb *
external_tensor (const gchar *location, const gchar *length)
{
  const gint64 d2 = 2;
  Pb *t = tensor_pb ("ext", ONNX_FLOAT, 1, &d2);
  Pb *kv = pb_new ();
  pb_str (kv, KV_KEY, "location");
  pb_str (kv, KV_VALUE, location);
  pb_msg (t, T_EXTERNAL_DATA, kv);
  if (length) {
    kv = pb_new ();
    pb_str (kv, KV_KEY, "length");
    pb_str (kv, KV_VALUE, length);
    pb_msg (t, T_EXTERNAL_DATA, kv);
  }
  pb_int (t, T_DATA_LOCATION, 1);
  return t;
}

static void
expect_file_error (const gchar *dir, GBytes *bytes, const gchar *needle)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *path = g_build_filename (dir, "ext.onnx", NULL);
  g_assert_true (g_file_set_contents (path, g_bytes_get_data (bytes, NULL),
      (gssize)g_bytes_get_size (bytes), NULL));
  g_bytes_unref (bytes);
  g_assert_null (physnn_onnx_model_load (path, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT);
  g_assert_true (g_str_has_prefix (error->message, path));
  if (strstr (error->message, needle) == NULL)
    g_error ("expected \"%s\" in: %s", needle, error->message);
  g_test_message ("refused: %s", error->message);
  g_unlink (path);
}

/* External data (weights in a file beside the model, which PyTorch writes
 * for large models) is read from a file only, inside the model's
 * directory, and within the data file; the good case is checked against
 * onnx-written external data in tests/crosscheck/onnx_external.py. */
static void
test_external_data (void)
{
  g_autofree gchar *dir = tmp_dir ();

  expect_error (with_initializer (external_tensor ("w.bin", NULL)),
      "initializer \"ext\": the data is in an external file, which a model "
      "read from memory cannot reach");
  expect_file_error (dir, with_initializer (external_tensor ("../w.bin", NULL)),
      "external data location \"../w.bin\" must be a file "
      "name beside the model");
  expect_file_error (dir,
      with_initializer (external_tensor ("/etc/passwd", NULL)),
      "must be a file name beside the model");
  expect_file_error (dir, with_initializer (external_tensor ("w.bin", NULL)),
      "cannot read external data file");
  expect_file_error (dir, with_initializer (external_tensor ("w.bin", "12")),
      "external data length 12 at offset 0, expected 8 "
      "bytes for float32[2]");
  expect_file_error (dir, with_initializer (external_tensor ("w.bin", "8x")),
      "external_data length=\"8x\" is not a number");
  g_autofree gchar *bin = g_build_filename (dir, "w.bin", NULL);
  g_assert_true (g_file_set_contents (bin, "1234", 4, NULL));
  expect_file_error (dir, with_initializer (external_tensor ("w.bin", NULL)),
      "external data range 0+8 is beyond the end of w.bin");
  g_unlink (bin);
  g_rmdir (dir);
}

static void
test_unsupported_structures (void)
{
  const gint64 d1 = 1;
  Pb *g, *t;

  /* sparse initializers */
  Pb *sp = pb_new ();
  t = tensor_pb ("vals", ONNX_FLOAT, 1, &d1);
  pb_floats (t, T_RAW_DATA, 1);
  pb_msg (sp, SP_VALUES, t);
  pb_int (sp, SP_DIMS, 4);
  g = graph_pb ();
  pb_msg (g, G_SPARSE_INITIALIZER, sp);
  expect_error (model_bytes (g), "sparse initializers are not supported");

  /* segmented tensors */
  t = tensor_pb ("seg", ONNX_FLOAT, 1, &d1);
  Pb *seg = pb_new ();
  pb_int (seg, 1, 0);
  pb_int (seg, 2, 1);
  pb_msg (t, T_SEGMENT, seg);
  pb_floats (t, T_RAW_DATA, 1);
  expect_error (with_initializer (t), "initializer \"seg\": segmented "
                                      "tensors are not supported");

  /* no graph */
  expect_error (model_bytes (NULL), "the model has no graph");
}

static void
test_bad_names (void)
{
  const gint64 d1 = 1;
  Pb *g, *t;

  g = graph_pb ();
  pb_msg (g, G_NODE, node_pb ("Relu", "\xff\xfe", "y", "z"));
  expect_error (model_bytes (g), "node #1: the name is not valid UTF-8");

  g_autofree gchar *longname = g_strnfill (PHYSNN_ONNX_MAX_NAME + 1, 'n');
  g = graph_pb ();
  pb_msg (g, G_NODE, node_pb ("Relu", longname, "y", "z"));
  expect_error (model_bytes (g), "node #1: the name is longer than 4096 bytes");

  g = graph_pb ();
  pb_msg (g, G_NODE, node_pb ("Relu", "r", "y\xc3", "z"));
  expect_error (model_bytes (g), "node \"r\": input 0 is not valid UTF-8");

  /* an unnamed node is named by its index */
  g = graph_pb ();
  pb_msg (g, G_NODE, node_pb (NULL, NULL, "y", "z"));
  expect_error (model_bytes (g), "node #1 has no op_type");

  t = tensor_pb (NULL, ONNX_FLOAT, 1, &d1);
  pb_floats (t, T_RAW_DATA, 1);
  expect_error (with_initializer (t), "initializer #0 has no name");

  /* names that cannot be printed are replaced by positions */
  t = tensor_pb ("w\xe2\x82", ONNX_FLOAT, 1, &d1);
  pb_floats (t, T_RAW_DATA, 1);
  expect_error (
      with_initializer (t), "initializer #0: the name is not valid UTF-8");
  g = graph_pb ();
  pb_msg (g, G_INPUT, value_info_pb ("\xed\xa0\x80", ONNX_FLOAT, 1, &d1));
  expect_error (model_bytes (g), "input #1: the name is not valid UTF-8");
  g = graph_pb ();
  pb_msg (g, G_NODE, node_pb ("Relu\xff", "r", "y", "z"));
  expect_error (model_bytes (g), "node \"r\": op_type is not valid UTF-8");

  g = graph_pb ();
  for (guint i = 0; i < 2; i++) {
    t = tensor_pb ("W", ONNX_FLOAT, 1, &d1);
    pb_floats (t, T_RAW_DATA, 1);
    pb_msg (g, G_INITIALIZER, t);
  }
  expect_error (model_bytes (g), "initializer \"W\" is defined twice");

  Pb *m = model_head ();
  Pb *kv = pb_new ();
  pb_str (kv, KV_KEY, "physnn.coords");
  pb_str (kv, KV_VALUE, "x,\xc0t");
  pb_msg (m, M_METADATA, kv);
  pb_msg (m, M_GRAPH, graph_pb ());
  expect_error (g_byte_array_free_to_bytes (m), "metadata \"physnn.coords\": "
                                                "the value is not valid UTF-8");

  m = model_head ();
  pb_str (m, M_PRODUCER_NAME, "\x80");
  pb_msg (m, M_GRAPH, graph_pb ());
  expect_error (g_byte_array_free_to_bytes (m), "producer_name is not valid "
                                                "UTF-8");

  m = pb_new ();
  Pb *op = pb_new ();
  pb_int (op, OP_VERSION, -1);
  pb_msg (m, M_OPSET, op);
  pb_msg (m, M_GRAPH, graph_pb ());
  expect_error (g_byte_array_free_to_bytes (m), "opset_import of domain "
                                                "\"\": version -1 is negative");
}

static GBytes *
with_attribute (Pb *attr)
{
  Pb *n = node_pb ("Relu", "act", "y", "z");
  pb_msg (n, N_ATTRIBUTE, attr);
  Pb *g = graph_pb ();
  pb_msg (g, G_NODE, n);
  return model_bytes (g);
}

static void
test_bad_attributes (void)
{
  const gint64 d1 = 1;
  Pb *a;

  a = pb_new ();
  pb_int (a, A_TYPE, 2);
  pb_int (a, A_I, 3);
  expect_error (with_attribute (a), "node \"act\": attribute #0 has no name");

  a = pb_new ();
  pb_str (a, A_NAME, "alpha");
  pb_str (a, A_REF_ATTR_NAME, "outer_alpha");
  pb_int (a, A_TYPE, 1);
  expect_error (with_attribute (a), "node \"act\": attribute \"alpha\" "
                                    "refers to a function attribute");

  g_autofree gchar *big = g_strnfill (70000, 's');
  a = pb_new ();
  pb_str (a, A_NAME, "mode");
  pb_str (a, A_S, big);
  pb_int (a, A_TYPE, 3);
  expect_error (with_attribute (a), "attribute \"mode\": string of 70000 "
                                    "bytes");

  a = pb_new ();
  pb_str (a, A_NAME, "value");
  Pb *t = tensor_pb (NULL, ONNX_FLOAT, 1, &d1);
  pb_len (t, T_RAW_DATA, "abc", 3);
  pb_msg (a, A_T, t);
  pb_int (a, A_TYPE, 4);
  expect_error (with_attribute (a),
      "node \"act\": attribute \"value\": "
      "raw_data has 3 bytes, expected 4 for float32[1]");

  a = pb_new ();
  pb_str (a, A_NAME, "value");
  pb_int (a, A_TYPE, 4);
  expect_error (with_attribute (a), "node \"act\": attribute \"value\": "
                                    "tensor attribute without a tensor");
}

/* Subgraphs nested @levels deep: node -> attribute (GRAPH) -> graph ... */
static GBytes *
nested_graphs (guint levels)
{
  Pb *g = graph_pb ();
  for (guint i = 0; i < levels; i++) {
    Pb *a = pb_new ();
    pb_str (a, A_NAME, "body");
    pb_int (a, A_TYPE, ATTR_TYPE_GRAPH);
    pb_msg (a, A_G, g);
    Pb *n = node_pb ("Loop", "loop", NULL, NULL);
    pb_msg (n, N_ATTRIBUTE, a);
    g = pb_new ();
    pb_msg (g, G_NODE, n);
  }
  return model_bytes (g);
}

static void
test_nesting (void)
{
  g_autoptr (GError) error = NULL;

  /* within the limit: kept by name only */
  g_autoptr (GBytes) ok = nested_graphs (PHYSNN_ONNX_MAX_SUBGRAPH_DEPTH);
  g_autoptr (PhysnnOnnxModel) m =
      physnn_onnx_model_load_from_bytes (ok, LABEL, &error);
  g_assert_no_error (error);
  const PhysnnOnnxNode *n = g_ptr_array_index (m->nodes, 0);
  g_assert_cmpint (physnn_onnx_node_get_attribute (n, "body")->type, ==,
      PHYSNN_ONNX_ATTR_OTHER);

  /* far beyond it: refused before protobuf-c recurses */
  expect_error (nested_graphs (2000), "messages nested deeper than");
  expect_error (nested_graphs (PHYSNN_ONNX_MAX_SUBGRAPH_DEPTH + 3),
      "messages nested deeper than");
}

static void
test_too_many_nodes (void)
{
  Pb *g = pb_new ();
  Pb *n = node_pb ("Relu", NULL, NULL, NULL);
  for (guint i = 0; i <= PHYSNN_ONNX_MAX_NODES; i++)
    pb_len (g, G_NODE, n->data, n->len);
  g_byte_array_unref (n);
  expect_error (model_bytes (g), "100001 nodes; at most 100000 are "
                                 "supported");
}

static void
test_malformed_wire (void)
{
  g_autoptr (GBytes) good = model_bytes (graph_pb ());
  gsize len;
  const guint8 *data = g_bytes_get_data (good, &len);

  /* a length running past the end */
  GByteArray *b = g_byte_array_new ();
  g_byte_array_append (b, data, (guint)len);
  guint8 tail[] = { (M_GRAPH << 3) | 2, 0xff, 0x01, 0x00 };
  g_byte_array_append (b, tail, sizeof tail);
  expect_error (g_byte_array_free_to_bytes (b),
      "not an ONNX model: the "
      "protobuf wire format is malformed");

  /* a group (wire types 3 and 4 are not used by ONNX) */
  guint8 group[] = { (1 << 3) | 3 };
  expect_error (g_bytes_new (group, sizeof group), "not an ONNX model");

  /* a varint without end */
  guint8 varint[] = { (1 << 3) | 0, 0xff, 0xff };
  expect_error (g_bytes_new (varint, sizeof varint), "not an ONNX model");

  expect_error (g_bytes_new ("", 0), "empty file");
}

/* Every prefix of a real model: a GError naming the file or (at a message
 * boundary) a model, never a crash or a leak. */
static void
test_truncated (void)
{
  g_autoptr (PhysnnOnnxModel) full = full_model ();
  g_autoptr (GBytes) good = physnn_onnx_model_serialize (full, NULL);
  gsize len;
  const guint8 *data = g_bytes_get_data (good, &len);
  guint refused = 0, malformed = 0;

  for (gsize cut = 0; cut < len; cut++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (GBytes) b = g_bytes_new (data, cut);
    g_autoptr (PhysnnOnnxModel) m =
        physnn_onnx_model_load_from_bytes (b, "cut.onnx", &error);
    if (m == NULL) {
      g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT);
      g_assert_true (g_str_has_prefix (error->message, "cut.onnx: "));
      refused++;
      if (strstr (error->message, "malformed"))
        malformed++;
    }
  }
  g_test_message ("%" G_GSIZE_FORMAT " prefixes: %u refused (%u as "
                  "malformed wire data)",
      len, refused, malformed);
  /* the graph is the last field: a cut anywhere inside it is malformed */
  g_assert_cmpuint (malformed, >, len / 2);
  g_assert_cmpuint (refused, >=, malformed);
}

/* Random byte changes: each mutant is refused with a message naming the
 * file, or loads; whatever loads must also serialise or say why not. */
static void
test_byte_flips (void)
{
  g_autoptr (PhysnnOnnxModel) full = full_model ();
  g_autoptr (GBytes) good = physnn_onnx_model_serialize (full, NULL);
  gsize len;
  const guint8 *data = g_bytes_get_data (good, &len);
  g_autoptr (GRand) rand = g_rand_new_with_seed (20261125);
  guint loaded = 0, n = g_test_slow () ? 20000 : 2000;

  for (guint i = 0; i < n; i++) {
    g_autoptr (GError) error = NULL;
    guint8 *copy = g_memdup2 (data, len);
    guint flips = (guint)g_rand_int_range (rand, 1, 5);
    for (guint k = 0; k < flips; k++)
      copy[g_rand_int_range (rand, 0, (gint32)len)] ^=
          (guint8)g_rand_int_range (rand, 1, 256);
    g_autoptr (GBytes) b = g_bytes_new_take (copy, len);
    g_autoptr (PhysnnOnnxModel) m =
        physnn_onnx_model_load_from_bytes (b, "flip.onnx", &error);
    if (m == NULL) {
      g_assert_nonnull (error);
      g_assert_true (g_str_has_prefix (error->message, "flip.onnx: "));
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      continue;
    }
    loaded++;
    g_autoptr (GBytes) again = physnn_onnx_model_serialize (m, &error);
    g_assert_true ((again != NULL) == (error == NULL));
  }
  g_test_message ("%u mutants: %u loaded, %u refused", n, loaded, n - loaded);
  g_assert_cmpuint (loaded, <, n);
}

/* ------------------------------------------------------------------------ */

static const gchar *reference_names[] = {
  "mlp",
  "mlp_params_as_inputs",
  "dtypes_raw",
  "dtypes_typed",
  "attrs",
  "symbolic",
  "ai_onnx",
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (reference_names); i++) {
    g_autofree gchar *p =
        g_strdup_printf ("/onnx/reference/%s", reference_names[i]);
    g_autofree gchar *q =
        g_strdup_printf ("/onnx/reference-round-trip/%s", reference_names[i]);
    g_test_add_data_func (p, reference_names[i], test_reference);
    g_test_add_data_func (q, reference_names[i], test_reference_round_trip);
  }
  g_test_add_func ("/onnx/reference/subgraph", test_reference_subgraph);
  g_test_add_func ("/onnx/round-trip/memory", test_round_trip_memory);
  g_test_add_func ("/onnx/round-trip/file", test_round_trip_file);
  g_test_add_func ("/onnx/writer/defaults", test_writer_defaults);
  g_test_add_func ("/onnx/writer/errors", test_writer_errors);
  g_test_add_func ("/onnx/hostile/files", test_files);
  g_test_add_func ("/onnx/hostile/valid-base", test_valid_base);
  g_test_add_func ("/onnx/hostile/tensor-data", test_bad_tensor_data);
  g_test_add_func ("/onnx/hostile/dims", test_bad_dims);
  g_test_add_func ("/onnx/hostile/types", test_bad_types);
  g_test_add_func ("/onnx/hostile/external-data", test_external_data);
  g_test_add_func ("/onnx/hostile/unsupported", test_unsupported_structures);
  g_test_add_func ("/onnx/hostile/names", test_bad_names);
  g_test_add_func ("/onnx/hostile/attributes", test_bad_attributes);
  g_test_add_func ("/onnx/hostile/nesting", test_nesting);
  g_test_add_func ("/onnx/hostile/too-many-nodes", test_too_many_nodes);
  g_test_add_func ("/onnx/hostile/malformed-wire", test_malformed_wire);
  g_test_add_func ("/onnx/hostile/truncated", test_truncated);
  g_test_add_func ("/onnx/hostile/byte-flips", test_byte_flips);
  int ret = g_test_run ();
  remove_reference_models ();
  return ret;
}
