/* physnn — ONNX ModelProto reader and writer over protobuf-c.
 *
 * The schema comes from the system's onnx package at build time (see
 * meson.build); nothing of it is committed here. Every file is hostile:
 *   - its size is bounded before it is read;
 *   - message nesting is bounded by a pre-scan of the wire format (protobuf-c
 *     itself recurses without limit);
 *   - after unpacking, every count, name, dtype, dimension and data length is
 *     checked, and each failure names the file, the node or tensor, the field
 *     and what was expected.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/onnx-private.h"
#include "physnn/error.h"
#include "physnn/tensor-private.h"

#include "onnx.pb-c.h"

#include <glib/gstdio.h>
#include <string.h>

#define MAX_DEPTH PHYSNN_ONNX_MAX_MESSAGE_DEPTH
#define MAX_ATTRS 1024
#define MAX_TEXT 65536          /* attribute strings, metadata values */
#define MAX_IO 4096
#define MAX_ELEMENTS (G_GINT64_CONSTANT (1) << 31)

/* ------------------------------------------------------------------------ */
/* Data-model helpers */

PhysnnOnnxModel *
physnn_onnx_model_new (void)
{
  PhysnnOnnxModel *m = g_new0 (PhysnnOnnxModel, 1);
  m->nodes = g_ptr_array_new_with_free_func ((GDestroyNotify)
      physnn_onnx_node_free);
  m->inputs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      physnn_onnx_value_info_free);
  m->outputs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      physnn_onnx_value_info_free);
  m->value_infos = g_ptr_array_new_with_free_func ((GDestroyNotify)
      physnn_onnx_value_info_free);
  m->initializer_names = g_ptr_array_new_with_free_func (g_free);
  m->initializers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_object_unref);
  m->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);
  m->domain_opsets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);
  m->int4_initializers = g_hash_table_new_full (g_str_hash, g_str_equal,
      g_free, NULL);
  m->opset = 0;
  return m;
}

void
physnn_onnx_model_free (PhysnnOnnxModel *m)
{
  if (m == NULL)
    return;
  g_free (m->path);
  g_free (m->producer_name);
  g_free (m->producer_version);
  g_free (m->graph_name);
  g_free (m->doc_string);
  g_ptr_array_unref (m->nodes);
  g_ptr_array_unref (m->inputs);
  g_ptr_array_unref (m->outputs);
  g_ptr_array_unref (m->value_infos);
  g_ptr_array_unref (m->initializer_names);
  g_hash_table_unref (m->initializers);
  g_hash_table_unref (m->metadata);
  g_hash_table_unref (m->domain_opsets);
  g_hash_table_unref (m->int4_initializers);
  g_free (m);
}

PhysnnOnnxNode *
physnn_onnx_node_new (const gchar *op_type, const gchar *name)
{
  PhysnnOnnxNode *n = g_new0 (PhysnnOnnxNode, 1);
  n->op_type = g_strdup (op_type ? op_type : "");
  n->name = g_strdup (name ? name : "");
  n->domain = g_strdup ("");
  n->inputs = g_ptr_array_new_with_free_func (g_free);
  n->outputs = g_ptr_array_new_with_free_func (g_free);
  n->attributes = g_ptr_array_new_with_free_func ((GDestroyNotify)
      physnn_onnx_attribute_free);
  return n;
}

void
physnn_onnx_node_free (PhysnnOnnxNode *n)
{
  if (n == NULL)
    return;
  g_free (n->name);
  g_free (n->op_type);
  g_free (n->domain);
  g_ptr_array_unref (n->inputs);
  g_ptr_array_unref (n->outputs);
  g_ptr_array_unref (n->attributes);
  g_free (n);
}

PhysnnOnnxAttribute *
physnn_onnx_attribute_new (const gchar *name, PhysnnOnnxAttrType type)
{
  PhysnnOnnxAttribute *a = g_new0 (PhysnnOnnxAttribute, 1);
  a->name = g_strdup (name);
  a->type = type;
  return a;
}

void
physnn_onnx_attribute_free (PhysnnOnnxAttribute *a)
{
  if (a == NULL)
    return;
  g_free (a->name);
  g_free (a->s);
  g_clear_object (&a->t);
  if (a->floats)
    g_array_unref (a->floats);
  if (a->ints)
    g_array_unref (a->ints);
  if (a->strings)
    g_ptr_array_unref (a->strings);
  g_free (a);
}

const PhysnnOnnxAttribute *
physnn_onnx_node_get_attribute (const PhysnnOnnxNode *node, const gchar *name)
{
  for (guint i = 0; i < node->attributes->len; i++) {
    const PhysnnOnnxAttribute *a = g_ptr_array_index (node->attributes, i);
    if (g_strcmp0 (a->name, name) == 0)
      return a;
  }
  return NULL;
}

PhysnnOnnxValueInfo *
physnn_onnx_value_info_new (const gchar *name, PhysnnDType dtype, guint rank,
    const gint64 *dims)
{
  PhysnnOnnxValueInfo *v = g_new0 (PhysnnOnnxValueInfo, 1);
  v->name = g_strdup (name);
  v->dtype = dtype;
  v->has_shape = dims != NULL || rank == 0;
  v->rank = MIN (rank, PHYSNN_MAX_RANK);
  for (guint i = 0; i < v->rank; i++)
    v->dims[i] = dims ? dims[i] : -1;
  return v;
}

void
physnn_onnx_value_info_free (PhysnnOnnxValueInfo *v)
{
  if (v == NULL)
    return;
  g_free (v->name);
  for (guint i = 0; i < PHYSNN_MAX_RANK; i++)
    g_free (v->dim_params[i]);
  g_free (v);
}

/* ------------------------------------------------------------------------ */
/* Wire-format pre-scan: bounds nesting before protobuf-c recurses. */

static gboolean
read_varint (const guint8 **p, const guint8 *end, guint64 *out)
{
  guint64 v = 0;
  for (guint shift = 0; shift < 64; shift += 7) {
    if (*p >= end)
      return FALSE;
    guint8 b = *(*p)++;
    v |= (guint64) (b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return TRUE;
    }
  }
  return FALSE;
}

static const ProtobufCFieldDescriptor *
field_by_number (const ProtobufCMessageDescriptor *d, guint32 number)
{
  for (guint i = 0; i < d->n_fields; i++)
    if (d->fields[i].id == number)
      return &d->fields[i];
  return NULL;
}

/* Returns the depth reached, or -1 on malformed wire data. */
static gint
scan_depth (const ProtobufCMessageDescriptor *d, const guint8 *p,
    const guint8 *end, gint depth)
{
  gint deepest = depth;
  if (depth > MAX_DEPTH)
    return depth;
  while (p < end) {
    guint64 key, v;
    if (!read_varint (&p, end, &key))
      return -1;
    guint wire = (guint) (key & 7);
    guint32 number = (guint32) (key >> 3);
    switch (wire) {
      case 0:
        if (!read_varint (&p, end, &v))
          return -1;
        break;
      case 1:
        if (end - p < 8)
          return -1;
        p += 8;
        break;
      case 5:
        if (end - p < 4)
          return -1;
        p += 4;
        break;
      case 2:{
        if (!read_varint (&p, end, &v) || v > (guint64) (end - p))
          return -1;
        const ProtobufCFieldDescriptor *f = d ? field_by_number (d, number) :
            NULL;
        if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
          gint sub = scan_depth (f->descriptor, p, p + v, depth + 1);
          if (sub < 0)
            return -1;
          deepest = MAX (deepest, sub);
          if (deepest > MAX_DEPTH)
            return deepest;
        }
        p += v;
        break;
      }
      default:
        /* groups (3, 4) are not used by ONNX */
        return -1;
    }
  }
  return deepest;
}

/* ------------------------------------------------------------------------ */
/* Reading */

typedef struct {
  const gchar *path;
  GError **error;
  gchar *dir;                   /* for external data; NULL when from memory */
  GHashTable *files;            /* external file name -> GMappedFile */
} Reader;

static gboolean
rfail (Reader *r, const gchar *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
rfail (Reader *r, const gchar *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree gchar *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (r->error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT, "%s: %s", r->path,
      msg);
  return FALSE;
}

/* Names must be short, NUL-free (protobuf-c guarantees NUL termination but
 * not the absence of embedded NULs) and UTF-8. */
static gboolean
check_name (Reader *r, const gchar *s, const gchar *what)
{
  if (s == NULL)
    return TRUE;
  gsize len = strnlen (s, PHYSNN_ONNX_MAX_NAME + 1);
  if (len > PHYSNN_ONNX_MAX_NAME)
    return rfail (r, "%s is longer than %d bytes", what, PHYSNN_ONNX_MAX_NAME);
  if (!g_utf8_validate (s, (gssize) len, NULL))
    return rfail (r, "%s is not valid UTF-8", what);
  return TRUE;
}

/* How messages name an element: by its name where that is printable (so
 * that messages stay valid UTF-8), else by its position. */
static gchar *
label_for (const gchar *kind, const gchar *name, gsize index)
{
  if (name && *name && strnlen (name, 201) <= 200 &&
      g_utf8_validate (name, -1, NULL))
    return g_strdup_printf ("%s \"%s\"", kind, name);
  return g_strdup_printf ("%s #%" G_GSIZE_FORMAT, kind, index);
}

static gboolean
dtype_from_onnx (gint32 t, PhysnnDType *out)
{
  switch (t) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: *out = PHYSNN_DTYPE_FLOAT32;
      return TRUE;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: *out = PHYSNN_DTYPE_UINT8;
      return TRUE;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: *out = PHYSNN_DTYPE_INT8;
      return TRUE;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: *out = PHYSNN_DTYPE_UINT16;
      return TRUE;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: *out = PHYSNN_DTYPE_INT16;
      return TRUE;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: *out = PHYSNN_DTYPE_INT32;
      return TRUE;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: *out = PHYSNN_DTYPE_INT64;
      return TRUE;
    /* bool is stored as one byte per element; we read it as uint8 */
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: *out = PHYSNN_DTYPE_UINT8;
      return TRUE;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: *out = PHYSNN_DTYPE_FLOAT16;
      return TRUE;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: *out = PHYSNN_DTYPE_FLOAT64;
      return TRUE;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: *out = PHYSNN_DTYPE_UINT32;
      return TRUE;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: *out = PHYSNN_DTYPE_UINT64;
      return TRUE;
    /* 4-bit integers: held unpacked, one per byte */
    case PHYSNN_ONNX_INT4: *out = PHYSNN_DTYPE_INT8;
      return TRUE;
    case PHYSNN_ONNX_UINT4: *out = PHYSNN_DTYPE_UINT8;
      return TRUE;
    default:
      return FALSE;
  }
}

static gint32
dtype_to_onnx (PhysnnDType d)
{
  switch (d) {
    case PHYSNN_DTYPE_FLOAT32: return ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    case PHYSNN_DTYPE_UINT8: return ONNX__TENSOR_PROTO__DATA_TYPE__UINT8;
    case PHYSNN_DTYPE_INT8: return ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
    case PHYSNN_DTYPE_UINT16: return ONNX__TENSOR_PROTO__DATA_TYPE__UINT16;
    case PHYSNN_DTYPE_INT16: return ONNX__TENSOR_PROTO__DATA_TYPE__INT16;
    case PHYSNN_DTYPE_INT32: return ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
    case PHYSNN_DTYPE_INT64: return ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    case PHYSNN_DTYPE_FLOAT16: return ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16;
    case PHYSNN_DTYPE_FLOAT64: return ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    case PHYSNN_DTYPE_UINT32: return ONNX__TENSOR_PROTO__DATA_TYPE__UINT32;
    case PHYSNN_DTYPE_UINT64: return ONNX__TENSOR_PROTO__DATA_TYPE__UINT64;
  }
  return ONNX__TENSOR_PROTO__DATA_TYPE__UNDEFINED;
}

static const gchar *
onnx_type_name (gint32 t)
{
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value
      (&onnx__tensor_proto__data_type__descriptor, t);
  return v ? v->name : "unknown";
}

/* External data (what recent PyTorch exporters write by default): a file
 * beside the model, named by a relative path that must stay in the model's
 * directory, and a byte range inside it, all checked before anything is
 * allocated. Returns a pointer to the @want bytes in the mapped file. */
static const guint8 *
locate_external (Reader *r, const Onnx__TensorProto *tp, const gchar *what,
    const gchar *desc, gsize want)
{
  const gchar *location = NULL;
  gint64 offset = 0, length = -1;

  if (r->dir == NULL)
    return rfail (r, "%s: the data is in an external file, which a model "
        "read from memory cannot reach; load it from its file", what), NULL;
  for (gsize i = 0; i < tp->n_external_data; i++) {
    const Onnx__StringStringEntryProto *e = tp->external_data[i];
    gchar *end = NULL;
    if (e->key == NULL || e->value == NULL)
      continue;
    if (strcmp (e->key, "location") == 0)
      location = e->value;
    else if (strcmp (e->key, "offset") == 0)
      offset = g_ascii_strtoll (e->value, &end, 10);
    else if (strcmp (e->key, "length") == 0)
      length = g_ascii_strtoll (e->value, &end, 10);
    if (end && *end != '\0')
      return rfail (r, "%s: external_data %s=\"%.64s\" is not a number", what,
          e->key, e->value), NULL;
  }
  if (location == NULL || *location == '\0')
    return rfail (r, "%s: external data without a location", what), NULL;
  if (!check_name (r, location, "an external data location"))
    return NULL;
  if (g_path_is_absolute (location) || strstr (location, "..") ||
      strchr (location, '\\'))
    return rfail (r, "%s: external data location \"%s\" must be a file name "
        "beside the model", what, location), NULL;
  if (offset < 0 || (length >= 0 && length != (gint64) want))
    return rfail (r, "%s: external data length %" G_GINT64_FORMAT " at "
        "offset %" G_GINT64_FORMAT ", expected %" G_GSIZE_FORMAT " bytes for "
        "%s", what, length, offset, want, desc), NULL;

  GMappedFile *mf = g_hash_table_lookup (r->files, location);
  if (mf == NULL) {
    g_autofree gchar *path = g_build_filename (r->dir, location, NULL);
    GError *local = NULL;
    mf = g_mapped_file_new (path, FALSE, &local);
    if (mf == NULL) {
      rfail (r, "%s: cannot read external data file %s: %s", what, path,
          local->message);
      g_error_free (local);
      return NULL;
    }
    g_hash_table_insert (r->files, g_strdup (location), mf);
  }
  gsize fsize = g_mapped_file_get_length (mf);
  if ((guint64) offset > fsize || want > fsize - (gsize) offset)
    return rfail (r, "%s: external data range %" G_GINT64_FORMAT "+%"
        G_GSIZE_FORMAT " is beyond the end of %s (%" G_GSIZE_FORMAT
        " bytes)", what, offset, want, location, fsize), NULL;
  return (const guint8 *) g_mapped_file_get_contents (mf) + offset;
}

/* Converts a TensorProto, from raw_data or the typed repeated field. */
static PhysnnTensor *
read_tensor (Reader *r, const Onnx__TensorProto *tp, const gchar *what)
{
  PhysnnDType dt;
  gsize shape[PHYSNN_MAX_RANK];
  gint64 count = 1;

  g_autofree gchar *name_what = g_strdup_printf ("%s: the name", what);
  if (!check_name (r, tp->name, name_what))
    return NULL;
  gboolean external = tp->has_data_location &&
      tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
  if (tp->segment) {
    rfail (r, "%s: segmented tensors are not supported", what);
    return NULL;
  }
  if (!dtype_from_onnx (tp->data_type, &dt)) {
    rfail (r, "%s: data type %s (%d) is not supported", what,
        onnx_type_name (tp->data_type), tp->data_type);
    return NULL;
  }
  if (tp->n_dims > PHYSNN_MAX_RANK) {
    rfail (r, "%s: rank %zu is above %d", what, tp->n_dims, PHYSNN_MAX_RANK);
    return NULL;
  }
  for (gsize i = 0; i < tp->n_dims; i++) {
    if (tp->dims[i] < 0) {
      rfail (r, "%s: dimension %zu is negative (%" G_GINT64_FORMAT ")", what,
          i, (gint64) tp->dims[i]);
      return NULL;
    }
    /* each dimension too: shape arithmetic downstream multiplies them
     * even when another dimension is 0 */
    if (tp->dims[i] > MAX_ELEMENTS) {
      rfail (r, "%s: dimension %zu is %" G_GINT64_FORMAT ", above 2^31",
          what, i, (gint64) tp->dims[i]);
      return NULL;
    }
    if (tp->dims[i] != 0 && count > MAX_ELEMENTS / tp->dims[i]) {
      rfail (r, "%s: more than 2^31 elements", what);
      return NULL;
    }
    count *= tp->dims[i];
    shape[i] = (gsize) tp->dims[i];
  }
  gsize esize = physnn_dtype_get_size (dt);
  g_autofree gchar *desc = NULL;
  {
    GString *s = g_string_new (physnn_dtype_to_string (dt));
    g_string_append_c (s, '[');
    for (gsize i = 0; i < tp->n_dims; i++)
      g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? "," : "",
          (gint64) tp->dims[i]);
    g_string_append_c (s, ']');
    desc = g_string_free (s, FALSE);
  }

  gsize n = (gsize) count;
  gboolean four = tp->data_type == PHYSNN_ONNX_INT4 ||
      tp->data_type == PHYSNN_ONNX_UINT4;
  /* 4-bit data is packed two per byte (per int32_data entry) */
  gsize stored = four ? (n + 1) / 2 : n * esize;

  /* The data must be there before anything is allocated: a hostile file
   * can claim any dimensions. */
  const guint8 *src = NULL;
  if (external) {
    src = locate_external (r, tp, what, desc, stored);
    if (src == NULL)
      return NULL;
  } else if (tp->has_raw_data) {
    if (tp->raw_data.len != stored) {
      rfail (r, "%s: raw_data has %zu bytes, expected %" G_GSIZE_FORMAT
          " for %s", what, tp->raw_data.len, stored, desc);
      return NULL;
    }
    src = tp->raw_data.data;
  } else if (four) {
    if (tp->n_int32_data != stored) {
      rfail (r, "%s: int32_data has %zu values, expected %" G_GSIZE_FORMAT
          " packed pairs for %s (and there is no raw_data)", what,
          tp->n_int32_data, stored, desc);
      return NULL;
    }
  } else {
    gsize have = 0;
    const gchar *field;
    switch (tp->data_type) {
      case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
        have = tp->n_float_data, field = "float_data";
        break;
      case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
        have = tp->n_double_data, field = "double_data";
        break;
      case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
        have = tp->n_int64_data, field = "int64_data";
        break;
      case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
      case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
        have = tp->n_uint64_data, field = "uint64_data";
        break;
      default:
        have = tp->n_int32_data, field = "int32_data";
        break;
    }
    if (have != n) {
      rfail (r, "%s: %s has %zu values, expected %" G_GSIZE_FORMAT " for %s "
          "(and there is no raw_data)", what, field, have, n, desc);
      return NULL;
    }
  }

  PhysnnTensor *t = physnn_tensor_new (dt, (guint) tp->n_dims, shape);
  if (t == NULL) {
    rfail (r, "%s: cannot allocate %s", what, desc);
    return NULL;
  }
  guint8 *dst = _physnn_tensor_host (t, PHYSNN_ACCESS_WRITE);
  if (four) {
    gboolean sgn = tp->data_type == PHYSNN_ONNX_INT4;
    for (gsize i = 0; i < n; i++) {
      guint8 b = src ? src[i / 2] : (guint8) tp->int32_data[i / 2];
      gint v = (i & 1) ? b >> 4 : b & 15;
      dst[i] = (guint8) (sgn && v > 7 ? v - 16 : v);
    }
    return t;
  }
  if (src) {
    if (n)
      memcpy (dst, src, n * esize);
    return t;
  }
  /* an empty tensor has no typed field: memcpy from NULL is undefined even
   * for 0 bytes (a fuzzer finding) */
  if (n == 0)
    return t;

  /* Typed fields (counts checked above). */
  switch (tp->data_type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
      memcpy (dst, tp->float_data, n * 4);
      break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
      memcpy (dst, tp->double_data, n * 8);
      break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
      memcpy (dst, tp->int64_data, n * 8);
      break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
      /* not through a double: values above 2^53 must stay exact */
      memcpy (dst, tp->uint64_data, n * 8);
      break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
      for (gsize i = 0; i < n; i++)
        ((guint32 *) dst)[i] = (guint32) MIN (tp->uint64_data[i],
            G_MAXUINT32);
      break;
    default:
      /* int32, int16, int8, uint16, uint8, bool and float16 (as bits) */
      for (gsize i = 0; i < n; i++) {
        gint32 v = tp->int32_data[i];
        if (dt == PHYSNN_DTYPE_FLOAT16)
          ((guint16 *) dst)[i] = (guint16) v;
        else
          _physnn_dtype_write (dt, dst, i, (gdouble) v);
      }
      break;
  }
  return t;
}

static PhysnnOnnxValueInfo *
read_value_info (Reader *r, const Onnx__ValueInfoProto *vp, const gchar *kind,
    gsize index)
{
  g_autofree gchar *what = label_for (kind, vp->name, index);
  g_autofree gchar *name_what = g_strdup_printf ("%s: the name", what);
  if (vp->name == NULL) {
    rfail (r, "%s has no name", what);
    return NULL;
  }
  if (!check_name (r, vp->name, name_what))
    return NULL;
  PhysnnOnnxValueInfo *v = g_new0 (PhysnnOnnxValueInfo, 1);
  v->name = g_strdup (vp->name);
  v->dtype = PHYSNN_DTYPE_FLOAT32;
  if (vp->type == NULL)
    return v;
  if (vp->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
    rfail (r, "%s: only tensor types are supported (not sequences, maps "
        "or optionals)", what);
    physnn_onnx_value_info_free (v);
    return NULL;
  }
  const Onnx__TypeProto__Tensor *tt = vp->type->tensor_type;
  if (tt && tt->has_elem_type && !dtype_from_onnx (tt->elem_type,
          &v->dtype)) {
    rfail (r, "%s: element type %s (%d) is not supported", what,
        onnx_type_name (tt->elem_type), tt->elem_type);
    physnn_onnx_value_info_free (v);
    return NULL;
  }
  if (tt && tt->shape) {
    if (tt->shape->n_dim > PHYSNN_MAX_RANK) {
      rfail (r, "%s: rank %zu is above %d", what, tt->shape->n_dim,
          PHYSNN_MAX_RANK);
      physnn_onnx_value_info_free (v);
      return NULL;
    }
    v->has_shape = TRUE;
    v->rank = (guint) tt->shape->n_dim;
    for (guint i = 0; i < v->rank; i++) {
      const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
      v->dims[i] = -1;
      if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
        if (d->dim_value < 0 || d->dim_value > MAX_ELEMENTS) {
          rfail (r, "%s: dimension %u is %" G_GINT64_FORMAT ", expected 0 to "
              "2^31", what, i, (gint64) d->dim_value);
          physnn_onnx_value_info_free (v);
          return NULL;
        }
        v->dims[i] = d->dim_value;
      } else if (d->value_case ==
          ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM) {
        g_autofree gchar *param = g_strdup_printf ("%s: the name of "
            "dimension %u", what, i);
        if (!check_name (r, d->dim_param, param)) {
          physnn_onnx_value_info_free (v);
          return NULL;
        }
        v->dim_params[i] = g_strdup (d->dim_param);
      }
    }
  }
  return v;
}

static PhysnnOnnxAttribute *
read_attribute (Reader *r, const Onnx__AttributeProto *ap, const gchar *node,
    gsize index)
{
  g_autofree gchar *label = label_for ("attribute", ap->name, index);
  g_autofree gchar *what = g_strdup_printf ("%s: %s", node, label);
  g_autofree gchar *name_what = g_strdup_printf ("%s: the name", what);
  if (ap->name == NULL || *ap->name == '\0') {
    rfail (r, "%s has no name", what);
    return NULL;
  }
  if (!check_name (r, ap->name, name_what))
    return NULL;
  if (ap->ref_attr_name && *ap->ref_attr_name) {
    rfail (r, "%s refers to a function attribute, which is not supported",
        what);
    return NULL;
  }
  PhysnnOnnxAttribute *a = g_new0 (PhysnnOnnxAttribute, 1);
  a->name = g_strdup (ap->name);
  switch (ap->type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
      a->type = PHYSNN_ONNX_ATTR_FLOAT;
      a->f = ap->f;
      break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
      a->type = PHYSNN_ONNX_ATTR_INT;
      a->i = ap->i;
      break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
      a->type = PHYSNN_ONNX_ATTR_STRING;
      if (ap->s.len > MAX_TEXT) {
        rfail (r, "%s: string of %zu bytes; at most %d are supported", what,
            ap->s.len, MAX_TEXT);
        physnn_onnx_attribute_free (a);
        return NULL;
      }
      /* bytes, not C string semantics: an embedded NUL must survive */
      a->s = g_malloc (ap->s.len + 1);
      if (ap->s.len)
        memcpy (a->s, ap->s.data, ap->s.len);
      a->s[ap->s.len] = '\0';
      a->s_len = ap->s.len;
      break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
      a->type = PHYSNN_ONNX_ATTR_TENSOR;
      if (ap->t == NULL) {
        rfail (r, "%s: tensor attribute without a tensor", what);
        physnn_onnx_attribute_free (a);
        return NULL;
      }
      a->t = read_tensor (r, ap->t, what);
      if (a->t == NULL) {
        physnn_onnx_attribute_free (a);
        return NULL;
      }
      break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
      a->type = PHYSNN_ONNX_ATTR_FLOATS;
      a->floats = g_array_sized_new (FALSE, FALSE, sizeof (gfloat),
          (guint) ap->n_floats);
      g_array_append_vals (a->floats, ap->floats, (guint) ap->n_floats);
      break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
      a->type = PHYSNN_ONNX_ATTR_INTS;
      a->ints = g_array_sized_new (FALSE, FALSE, sizeof (gint64),
          (guint) ap->n_ints);
      g_array_append_vals (a->ints, ap->ints, (guint) ap->n_ints);
      break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
      a->type = PHYSNN_ONNX_ATTR_STRINGS;
      a->strings = g_ptr_array_new_with_free_func (g_free);
      for (gsize i = 0; i < ap->n_strings; i++) {
        if (ap->strings[i].len > MAX_TEXT) {
          rfail (r, "%s: string %zu has %zu bytes; at most %d are supported",
              what, i, ap->strings[i].len, MAX_TEXT);
          physnn_onnx_attribute_free (a);
          return NULL;
        }
        /* an empty string has no data pointer in protobuf-c */
        g_ptr_array_add (a->strings, ap->strings[i].len ?
            g_strndup ((const gchar *) ap->strings[i].data,
                ap->strings[i].len) : g_strdup (""));
      }
      break;
    default:
      /* Graphs, sparse tensors, type protos: kept by name only. An op that
       * needs them is refused when the graph is built. */
      a->type = PHYSNN_ONNX_ATTR_OTHER;
      break;
  }
  return a;
}

static PhysnnOnnxNode *
read_node (Reader *r, const Onnx__NodeProto *np, guint index)
{
  g_autofree gchar *label = label_for ("node", np->name, index);
  g_autofree gchar *name_what = g_strdup_printf ("%s: the name", label);
  g_autofree gchar *op_what = g_strdup_printf ("%s: op_type", label);
  g_autofree gchar *domain_what = g_strdup_printf ("%s: domain", label);
  if (!check_name (r, np->name, name_what) ||
      !check_name (r, np->op_type, op_what) ||
      !check_name (r, np->domain, domain_what))
    return NULL;
  if (np->op_type == NULL || *np->op_type == '\0') {
    rfail (r, "%s has no op_type", label);
    return NULL;
  }
  if (np->n_input > MAX_IO || np->n_output > MAX_IO ||
      np->n_attribute > MAX_ATTRS) {
    rfail (r, "%s has %zu inputs, %zu outputs and %zu attributes; "
        "limits are %d, %d and %d", label, np->n_input, np->n_output,
        np->n_attribute, MAX_IO, MAX_IO, MAX_ATTRS);
    return NULL;
  }
  PhysnnOnnxNode *n = physnn_onnx_node_new (np->op_type, np->name);
  g_free (n->domain);
  n->domain = g_strdup (np->domain ? np->domain : "");
  for (gsize i = 0; i < np->n_input; i++) {
    g_autofree gchar *io = g_strdup_printf ("%s: input %zu", label, i);
    if (!check_name (r, np->input[i], io)) {
      physnn_onnx_node_free (n);
      return NULL;
    }
    g_ptr_array_add (n->inputs, g_strdup (np->input[i] ? np->input[i] : ""));
  }
  for (gsize i = 0; i < np->n_output; i++) {
    g_autofree gchar *io = g_strdup_printf ("%s: output %zu", label, i);
    if (!check_name (r, np->output[i], io)) {
      physnn_onnx_node_free (n);
      return NULL;
    }
    g_ptr_array_add (n->outputs, g_strdup (np->output[i] ? np->output[i] :
            ""));
  }
  for (gsize i = 0; i < np->n_attribute; i++) {
    PhysnnOnnxAttribute *a = read_attribute (r, np->attribute[i], label, i);
    if (a == NULL) {
      physnn_onnx_node_free (n);
      return NULL;
    }
    g_ptr_array_add (n->attributes, a);
  }
  return n;
}

static PhysnnOnnxModel *
from_proto (Reader *r, const Onnx__ModelProto *mp)
{
  g_autoptr (PhysnnOnnxModel) m = physnn_onnx_model_new ();
  const Onnx__GraphProto *g = mp->graph;

  m->path = g_strdup (r->path);
  m->ir_version = mp->has_ir_version ? mp->ir_version : 0;
  if (!check_name (r, mp->producer_name, "producer_name") ||
      !check_name (r, mp->producer_version, "producer_version"))
    return NULL;
  /* absent text fields read as "" so that a round trip keeps them absent
   * (the writer only fills in NULL ones, for models built in memory) */
  m->producer_name = g_strdup (mp->producer_name ? mp->producer_name : "");
  m->producer_version = g_strdup (mp->producer_version ?
      mp->producer_version : "");
  /* Free text, shown to people only: kept whole, repaired if not UTF-8. */
  m->doc_string = g_utf8_make_valid (mp->doc_string ? mp->doc_string : "",
      -1);
  if (mp->n_opset_import > MAX_ATTRS)
    return rfail (r, "%zu opset imports; at most %d are supported",
        mp->n_opset_import, MAX_ATTRS), NULL;
  for (gsize i = 0; i < mp->n_opset_import; i++) {
    const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
    gint64 version = o->has_version ? o->version : 0;
    if (!check_name (r, o->domain, "an opset_import domain"))
      return NULL;
    if (version < 0)
      return rfail (r, "opset_import of domain \"%s\": version %"
          G_GINT64_FORMAT " is negative", o->domain ? o->domain : "",
          version), NULL;
    if (o->domain == NULL || *o->domain == '\0' ||
        strcmp (o->domain, "ai.onnx") == 0) {
      m->opset = version;
    } else {
      gint64 *v = g_new (gint64, 1);
      *v = version;
      g_hash_table_replace (m->domain_opsets, g_strdup (o->domain), v);
    }
  }
  for (gsize i = 0; i < mp->n_metadata_props; i++) {
    const Onnx__StringStringEntryProto *e = mp->metadata_props[i];
    if (e->key == NULL)
      continue;
    if (!check_name (r, e->key, "a metadata key"))
      return NULL;
    if (e->value && strnlen (e->value, MAX_TEXT + 1) > MAX_TEXT)
      return rfail (r, "metadata \"%s\" is longer than %d bytes", e->key,
          MAX_TEXT), NULL;
    if (e->value && !g_utf8_validate (e->value, -1, NULL))
      return rfail (r, "metadata \"%s\": the value is not valid UTF-8",
          e->key), NULL;
    g_hash_table_insert (m->metadata, g_strdup (e->key),
        g_strdup (e->value ? e->value : ""));
  }
  if (g == NULL)
    return rfail (r, "the model has no graph"), NULL;
  if (!check_name (r, g->name, "the graph name"))
    return NULL;
  m->graph_name = g_strdup (g->name ? g->name : "");
  if (g->n_node > PHYSNN_ONNX_MAX_NODES)
    return rfail (r, "%zu nodes; at most %d are supported", g->n_node,
        PHYSNN_ONNX_MAX_NODES), NULL;
  if (g->n_sparse_initializer > 0)
    return rfail (r, "sparse initializers are not supported"), NULL;
  if (g->n_input > MAX_IO || g->n_output > MAX_IO ||
      g->n_initializer > PHYSNN_ONNX_MAX_NODES ||
      g->n_value_info > PHYSNN_ONNX_MAX_NODES)
    return rfail (r, "too many graph inputs, outputs or initializers"), NULL;

  for (gsize i = 0; i < g->n_initializer; i++) {
    const Onnx__TensorProto *tp = g->initializer[i];
    g_autofree gchar *what = label_for ("initializer", tp->name, i);
    if (tp->name == NULL || *tp->name == '\0')
      return rfail (r, "%s has no name", what), NULL;
    if (g_hash_table_contains (m->initializers, tp->name))
      return rfail (r, "%s is defined twice", what), NULL;
    PhysnnTensor *t = read_tensor (r, tp, what);
    if (t == NULL)
      return NULL;
    g_hash_table_insert (m->initializers, g_strdup (tp->name), t);
    g_ptr_array_add (m->initializer_names, g_strdup (tp->name));
    if (tp->data_type == PHYSNN_ONNX_INT4 ||
        tp->data_type == PHYSNN_ONNX_UINT4)
      g_hash_table_insert (m->int4_initializers, g_strdup (tp->name),
          GINT_TO_POINTER (tp->data_type));
  }
  for (gsize i = 0; i < g->n_input; i++) {
    PhysnnOnnxValueInfo *v = read_value_info (r, g->input[i], "input", i);
    if (v == NULL)
      return NULL;
    /* Inputs that are also initializers are parameters with defaults. */
    if (g_hash_table_contains (m->initializers, v->name))
      physnn_onnx_value_info_free (v);
    else
      g_ptr_array_add (m->inputs, v);
  }
  for (gsize i = 0; i < g->n_output; i++) {
    PhysnnOnnxValueInfo *v = read_value_info (r, g->output[i], "output",
        i);
    if (v == NULL)
      return NULL;
    g_ptr_array_add (m->outputs, v);
  }
  for (gsize i = 0; i < g->n_value_info; i++) {
    PhysnnOnnxValueInfo *v = read_value_info (r, g->value_info[i],
        "value_info", i);
    if (v == NULL)
      return NULL;
    g_ptr_array_add (m->value_infos, v);
  }
  for (gsize i = 0; i < g->n_node; i++) {
    PhysnnOnnxNode *n = read_node (r, g->node[i], (guint) i);
    if (n == NULL)
      return NULL;
    g_ptr_array_add (m->nodes, n);
  }
  return g_steal_pointer (&m);
}

/**
 * physnn_onnx_model_load_from_bytes:
 * @label: names the data in messages (a file name)
 */
static PhysnnOnnxModel *
load_bytes (GBytes *bytes, const gchar *label, const gchar *dir,
    GError **error)
{
  Reader r = { label ? label : "(memory)", error, (gchar *) dir, NULL };
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (bytes, &size);

  if (size == 0)
    return rfail (&r, "empty file: not an ONNX model"), NULL;
  if ((gint64) size > PHYSNN_ONNX_MAX_FILE_BYTES)
    return rfail (&r, "%" G_GSIZE_FORMAT " bytes; models above 2 GiB are "
        "not supported", size), NULL;
  gint depth = scan_depth (&onnx__model_proto__descriptor, data, data + size,
      0);
  if (depth < 0)
    return rfail (&r, "not an ONNX model: the protobuf wire format is "
        "malformed (truncated or corrupt file?)"), NULL;
  if (depth > MAX_DEPTH)
    return rfail (&r, "messages nested deeper than %d levels", MAX_DEPTH),
        NULL;
  Onnx__ModelProto *mp = onnx__model_proto__unpack (NULL, size, data);
  if (mp == NULL)
    return rfail (&r, "not an ONNX model: protobuf decoding failed "
        "(truncated or corrupt file?)"), NULL;
  r.files = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      (GDestroyNotify) g_mapped_file_unref);
  PhysnnOnnxModel *m = from_proto (&r, mp);
  onnx__model_proto__free_unpacked (mp, NULL);
  g_hash_table_unref (r.files);
  return m;
}

PhysnnOnnxModel *
physnn_onnx_model_load_from_bytes (GBytes *bytes, const gchar *label,
    GError **error)
{
  return load_bytes (bytes, label, NULL, error);
}

PhysnnOnnxModel *
physnn_onnx_model_load (const gchar *path, GError **error)
{
  GStatBuf st;
  gchar *contents = NULL;
  gsize len = 0;
  GError *local = NULL;

  if (g_stat (path, &st) != 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO,
        "%s: cannot open: %s", path, g_strerror (errno));
    return NULL;
  }
  if (!S_ISREG (st.st_mode)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO,
        "%s: not a regular file", path);
    return NULL;
  }
  if ((gint64) st.st_size > PHYSNN_ONNX_MAX_FILE_BYTES) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
        "%s: %" G_GINT64_FORMAT " bytes; models above 2 GiB are not "
        "supported", path, (gint64) st.st_size);
    return NULL;
  }
  if (!g_file_get_contents (path, &contents, &len, &local)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO, "%s: %s", path,
        local->message);
    g_error_free (local);
    return NULL;
  }
  g_autoptr (GBytes) bytes = g_bytes_new_take (contents, len);
  g_autofree gchar *dir = g_path_get_dirname (path);
  return load_bytes (bytes, path, dir, error);
}

/* ------------------------------------------------------------------------ */
/* Writing: build protobuf-c messages that point into the data model, pack,
 * then free only what was allocated here. */

typedef struct {
  GPtrArray *allocs;            /* g_free'd after packing */
} Writer;

static gpointer
walloc (Writer *w, gsize size)
{
  gpointer p = g_malloc0 (MAX (size, 1));
  g_ptr_array_add (w->allocs, p);
  return p;
}

static Onnx__TensorProto *
write_tensor (Writer *w, const gchar *name, PhysnnTensor *t)
{
  Onnx__TensorProto *tp = walloc (w, sizeof *tp);
  onnx__tensor_proto__init (tp);
  guint rank;
  const gsize *shape = physnn_tensor_get_shape (t, &rank);
  tp->n_dims = rank;
  tp->dims = walloc (w, rank * sizeof (int64_t));
  for (guint i = 0; i < rank; i++)
    tp->dims[i] = (int64_t) shape[i];
  tp->has_data_type = TRUE;
  tp->data_type = dtype_to_onnx (physnn_tensor_get_dtype (t));
  tp->name = (gchar *) name;
  tp->has_raw_data = TRUE;
  tp->raw_data.len = physnn_tensor_get_nbytes (t);
  tp->raw_data.data = _physnn_tensor_host (t, PHYSNN_ACCESS_READ);
  return tp;
}

/* An initializer held unpacked as int8/uint8 and stored as INT4/UINT4: two
 * values per byte, the first in the low nibble. */
static gboolean
pack_int4 (Writer *w, Onnx__TensorProto *tp, PhysnnTensor *t, gint type,
    const gchar *name, GError **error)
{
  PhysnnDType dt = physnn_tensor_get_dtype (t);
  gboolean sgn = type == PHYSNN_ONNX_INT4;
  gsize n = physnn_tensor_get_n_elements (t);
  const guint8 *src = _physnn_tensor_host (t, PHYSNN_ACCESS_READ);
  if (dt != (sgn ? PHYSNN_DTYPE_INT8 : PHYSNN_DTYPE_UINT8)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "initializer \"%s\" is marked %s but holds %s values", name,
        sgn ? "INT4" : "UINT4", physnn_dtype_to_string (dt));
    return FALSE;
  }
  guint8 *packed = walloc (w, (n + 1) / 2);
  for (gsize i = 0; i < n; i++) {
    gint v = sgn ? (gint) (gint8) src[i] : (gint) src[i];
    if (v < (sgn ? -8 : 0) || v > (sgn ? 7 : 15)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "initializer \"%s\" is marked %s but element %" G_GSIZE_FORMAT
          " is %d", name, sgn ? "INT4" : "UINT4", i, v);
      return FALSE;
    }
    packed[i / 2] |= (guint8) ((v & 15) << ((i & 1) ? 4 : 0));
  }
  tp->data_type = type;
  tp->raw_data.len = (n + 1) / 2;
  tp->raw_data.data = packed;
  return TRUE;
}

static Onnx__ValueInfoProto *
write_value_info (Writer *w, const PhysnnOnnxValueInfo *v)
{
  Onnx__ValueInfoProto *vp = walloc (w, sizeof *vp);
  Onnx__TypeProto *type = walloc (w, sizeof *type);
  Onnx__TypeProto__Tensor *tt = walloc (w, sizeof *tt);
  onnx__value_info_proto__init (vp);
  onnx__type_proto__init (type);
  onnx__type_proto__tensor__init (tt);
  vp->name = v->name;
  vp->type = type;
  type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  type->tensor_type = tt;
  tt->has_elem_type = TRUE;
  tt->elem_type = dtype_to_onnx (v->dtype);
  if (v->has_shape) {
    Onnx__TensorShapeProto *sp = walloc (w, sizeof *sp);
    onnx__tensor_shape_proto__init (sp);
    sp->n_dim = v->rank;
    sp->dim = walloc (w, v->rank * sizeof (gpointer));
    for (guint i = 0; i < v->rank; i++) {
      Onnx__TensorShapeProto__Dimension *d = walloc (w, sizeof *d);
      onnx__tensor_shape_proto__dimension__init (d);
      if (v->dims[i] >= 0) {
        d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d->dim_value = v->dims[i];
      } else if (v->dim_params[i]) {
        d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
        d->dim_param = v->dim_params[i];
      }
      sp->dim[i] = d;
    }
    tt->shape = sp;
  }
  return vp;
}

static Onnx__AttributeProto *
write_attribute (Writer *w, const PhysnnOnnxNode *n,
    const PhysnnOnnxAttribute *a, guint index, GError **error)
{
  Onnx__AttributeProto *ap = walloc (w, sizeof *ap);
  onnx__attribute_proto__init (ap);
  ap->name = a->name;
  ap->has_type = TRUE;
  switch (a->type) {
    case PHYSNN_ONNX_ATTR_FLOAT:
      ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
      ap->has_f = TRUE;
      ap->f = a->f;
      break;
    case PHYSNN_ONNX_ATTR_INT:
      ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
      ap->has_i = TRUE;
      ap->i = a->i;
      break;
    case PHYSNN_ONNX_ATTR_STRING:
      ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
      ap->has_s = TRUE;
      ap->s.data = (guint8 *) a->s;
      ap->s.len = a->s ? (a->s_len ? a->s_len : strlen (a->s)) : 0;
      break;
    case PHYSNN_ONNX_ATTR_TENSOR:
      ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
      if (a->t == NULL) {
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
            "node #%u (%s): tensor attribute \"%s\" has no tensor", index,
            n->op_type, a->name);
        return NULL;
      }
      ap->t = write_tensor (w, NULL, a->t);
      break;
    case PHYSNN_ONNX_ATTR_FLOATS:
      ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
      ap->n_floats = a->floats ? a->floats->len : 0;
      ap->floats = a->floats ? (gfloat *) a->floats->data : NULL;
      break;
    case PHYSNN_ONNX_ATTR_INTS:
      ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
      ap->n_ints = a->ints ? a->ints->len : 0;
      ap->ints = a->ints ? (int64_t *) a->ints->data : NULL;
      break;
    case PHYSNN_ONNX_ATTR_STRINGS:
      ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
      ap->n_strings = a->strings ? a->strings->len : 0;
      ap->strings = walloc (w, ap->n_strings * sizeof (ProtobufCBinaryData));
      for (gsize i = 0; i < ap->n_strings; i++) {
        const gchar *s = g_ptr_array_index (a->strings, i);
        ap->strings[i].data = (guint8 *) s;
        ap->strings[i].len = s ? strlen (s) : 0;
      }
      break;
    default:
      /* Subgraphs are kept by name only: writing the attribute without its
       * body would make a different (and invalid) model. */
      if (n->name && *n->name)
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
            "node \"%s\" (%s): attribute \"%s\" holds a subgraph or another "
            "kind of value that physnn keeps by name only, so it cannot be "
            "written", n->name, n->op_type, a->name);
      else
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
            "node #%u (%s): attribute \"%s\" holds a subgraph or another "
            "kind of value that physnn keeps by name only, so it cannot be "
            "written", index, n->op_type, a->name);
      return NULL;
  }
  return ap;
}

GBytes *
physnn_onnx_model_serialize (const PhysnnOnnxModel *m, GError **error)
{
  Writer w = { g_ptr_array_new_with_free_func (g_free) };
  Onnx__ModelProto mp;
  Onnx__GraphProto gp;
  Onnx__OperatorSetIdProto opset;
  GBytes *result = NULL;

  onnx__model_proto__init (&mp);
  onnx__graph_proto__init (&gp);
  onnx__operator_set_id_proto__init (&opset);
  mp.has_ir_version = TRUE;
  mp.ir_version = m->ir_version > 0 ? m->ir_version : 8;
  mp.producer_name = m->producer_name == NULL ? "physnn" :
      *m->producer_name ? m->producer_name : NULL;
  mp.producer_version = m->producer_version && *m->producer_version ?
      m->producer_version : NULL;
  mp.doc_string = m->doc_string && *m->doc_string ? m->doc_string : NULL;
  opset.domain = "";
  opset.has_version = TRUE;
  opset.version = m->opset > 0 ? m->opset : 13;
  /* the default domain first, then the others in a stable order */
  g_autoptr (GList) domains = g_hash_table_get_keys (m->domain_opsets);
  domains = g_list_sort (domains, (GCompareFunc) strcmp);
  mp.opset_import = walloc (&w, (1 + g_list_length (domains)) *
      sizeof (gpointer));
  mp.opset_import[mp.n_opset_import++] = &opset;
  for (GList *l = domains; l; l = l->next) {
    Onnx__OperatorSetIdProto *o = walloc (&w, sizeof *o);
    onnx__operator_set_id_proto__init (o);
    o->domain = l->data;
    o->has_version = TRUE;
    o->version = *(gint64 *) g_hash_table_lookup (m->domain_opsets, l->data);
    mp.opset_import[mp.n_opset_import++] = o;
  }
  mp.graph = &gp;
  /* onnx.checker requires a graph name */
  gp.name = m->graph_name && *m->graph_name ? m->graph_name : "physnn";

  /* metadata in a stable order */
  g_autoptr (GList) keys = g_hash_table_get_keys (m->metadata);
  keys = g_list_sort (keys, (GCompareFunc) strcmp);
  mp.n_metadata_props = g_list_length (keys);
  mp.metadata_props = walloc (&w, mp.n_metadata_props * sizeof (gpointer));
  guint k = 0;
  for (GList *l = keys; l; l = l->next, k++) {
    Onnx__StringStringEntryProto *e = walloc (&w, sizeof *e);
    onnx__string_string_entry_proto__init (e);
    e->key = l->data;
    e->value = g_hash_table_lookup (m->metadata, l->data);
    mp.metadata_props[k] = e;
  }

  gp.n_initializer = m->initializer_names->len;
  gp.initializer = walloc (&w, gp.n_initializer * sizeof (gpointer));
  for (guint i = 0; i < gp.n_initializer; i++) {
    const gchar *name = g_ptr_array_index (m->initializer_names, i);
    PhysnnTensor *t = g_hash_table_lookup (m->initializers, name);
    if (t == NULL) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "initializer \"%s\" is listed but has no tensor", name);
      goto out;
    }
    gp.initializer[i] = write_tensor (&w, name, t);
    gint four = GPOINTER_TO_INT (g_hash_table_lookup (m->int4_initializers,
            name));
    if (four && !pack_int4 (&w, gp.initializer[i], t, four, name, error))
      goto out;
  }
  gp.n_input = m->inputs->len;
  gp.input = walloc (&w, gp.n_input * sizeof (gpointer));
  for (guint i = 0; i < gp.n_input; i++)
    gp.input[i] = write_value_info (&w, g_ptr_array_index (m->inputs, i));
  gp.n_output = m->outputs->len;
  gp.output = walloc (&w, gp.n_output * sizeof (gpointer));
  for (guint i = 0; i < gp.n_output; i++)
    gp.output[i] = write_value_info (&w, g_ptr_array_index (m->outputs, i));
  gp.n_value_info = m->value_infos->len;
  gp.value_info = walloc (&w, gp.n_value_info * sizeof (gpointer));
  for (guint i = 0; i < gp.n_value_info; i++)
    gp.value_info[i] = write_value_info (&w, g_ptr_array_index
        (m->value_infos, i));
  gp.n_node = m->nodes->len;
  gp.node = walloc (&w, gp.n_node * sizeof (gpointer));
  for (guint i = 0; i < gp.n_node; i++) {
    const PhysnnOnnxNode *n = g_ptr_array_index (m->nodes, i);
    Onnx__NodeProto *np = walloc (&w, sizeof *np);
    onnx__node_proto__init (np);
    np->name = n->name && *n->name ? n->name : NULL;
    np->op_type = n->op_type;
    np->domain = n->domain && *n->domain ? n->domain : NULL;
    if (np->domain && strcmp (np->domain, "ai.onnx") != 0 &&
        !g_hash_table_contains (m->domain_opsets, np->domain)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "node \"%s\" (%s) is in domain \"%s\", which has no opset "
          "version to import", n->name, n->op_type, np->domain);
      goto out;
    }
    np->n_input = n->inputs->len;
    np->input = (gchar **) n->inputs->pdata;
    np->n_output = n->outputs->len;
    np->output = (gchar **) n->outputs->pdata;
    np->attribute = walloc (&w, n->attributes->len * sizeof (gpointer));
    for (guint a = 0; a < n->attributes->len; a++) {
      Onnx__AttributeProto *ap = write_attribute (&w, n,
          g_ptr_array_index (n->attributes, a), i, error);
      if (ap == NULL)
        goto out;
      np->attribute[np->n_attribute++] = ap;
    }
    gp.node[i] = np;
  }

  gsize size = onnx__model_proto__get_packed_size (&mp);
  guint8 *buf = g_malloc (MAX (size, 1));
  onnx__model_proto__pack (&mp, buf);
  result = g_bytes_new_take (buf, size);
out:
  g_ptr_array_unref (w.allocs);
  return result;
}

/**
 * physnn_onnx_model_save:
 *
 * Writes atomically: a temporary file next to @path, then rename, so an
 * interrupted save never leaves a partial model.
 */
gboolean
physnn_onnx_model_save (const PhysnnOnnxModel *m, const gchar *path,
    GError **error)
{
  g_autoptr (GBytes) bytes = physnn_onnx_model_serialize (m, error);
  GError *local = NULL;
  if (bytes == NULL)
    return FALSE;
  gsize size;
  const gchar *data = g_bytes_get_data (bytes, &size);
  if (!g_file_set_contents_full (path, data, (gssize) size,
          G_FILE_SET_CONTENTS_CONSISTENT, 0644, &local)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO, "cannot write %s: %s",
        path, local->message);
    g_error_free (local);
    return FALSE;
  }
  return TRUE;
}
