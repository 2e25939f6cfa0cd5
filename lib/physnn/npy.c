/* physnn — NumPy .npy files (format versions 1.0, 2.0 and 3.0).
 *
 * Layout (numpy's NEP 1 and numpy.lib.format): the magic "\x93NUMPY", a
 * major and a minor version byte, the header length (2 bytes little-endian
 * in version 1, 4 bytes in 2 and 3), then the header: a Python dict literal
 * with 'descr' (the dtype, e.g. '<f4'), 'fortran_order' and 'shape', padded
 * with spaces and ended by a newline; then the raw elements.
 *
 * Files are treated as hostile: the header is bounded and parsed by a small
 * tokenizer that accepts exactly that dict, the shape's element count is
 * checked for overflow and against the bytes present, and every failure
 * names the file and the field.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/npy.h"
#include "physnn/error.h"
#include "physnn/tensor-private.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#define MAX_HEADER 65536
#define MAX_BYTES (G_GUINT64_CONSTANT (1) << 34) /* 16 GiB */

static gboolean npy_fail (GError **error, const gchar *label, const gchar *fmt,
    ...) G_GNUC_PRINTF (3, 4);

static gboolean
npy_fail (GError **error, const gchar *label, const gchar *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree gchar *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT,
      "%s: not a valid "
      ".npy file: %s",
      label, msg);
  return FALSE;
}

typedef struct {
  const gchar *p, *end;
} Lex;

static void
lex_space (Lex *l)
{
  while (l->p < l->end &&
         (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r'))
    l->p++;
}

static gboolean
lex_char (Lex *l, gchar c)
{
  lex_space (l);
  if (l->p < l->end && *l->p == c) {
    l->p++;
    return TRUE;
  }
  return FALSE;
}

/* A Python string literal in single or double quotes, no escapes. */
static gchar *
lex_string (Lex *l)
{
  lex_space (l);
  if (l->p >= l->end || (*l->p != '\'' && *l->p != '"'))
    return NULL;
  gchar q = *l->p++;
  const gchar *s = l->p;
  while (l->p < l->end && *l->p != q) {
    if (*l->p == '\\' || (guchar)*l->p < 0x20)
      return NULL;
    l->p++;
  }
  if (l->p >= l->end)
    return NULL;
  gchar *r = g_strndup (s, l->p - s);
  l->p++;
  return r;
}

typedef struct {
  PhysnnDType dtype;
  gboolean swap;
  gboolean is_bool;
  gboolean fortran;
  guint rank;
  gsize shape[PHYSNN_MAX_RANK];
} Header;

static gboolean
parse_descr (const gchar *d, Header *h)
{
  gchar order = d[0];
  if (order != '<' && order != '>' && order != '|' && order != '=')
    return FALSE;
  gboolean little = G_BYTE_ORDER == G_LITTLE_ENDIAN;
  h->swap = (order == '>' && little) || (order == '<' && !little);
  const gchar *t = d + 1;
  static const struct {
    const gchar *code;
    PhysnnDType dt;
  } map[] = {
    { "f2", PHYSNN_DTYPE_FLOAT16 },
    { "f4", PHYSNN_DTYPE_FLOAT32 },
    { "f8", PHYSNN_DTYPE_FLOAT64 },
    { "i1", PHYSNN_DTYPE_INT8 },
    { "u1", PHYSNN_DTYPE_UINT8 },
    { "i2", PHYSNN_DTYPE_INT16 },
    { "u2", PHYSNN_DTYPE_UINT16 },
    { "i4", PHYSNN_DTYPE_INT32 },
    { "u4", PHYSNN_DTYPE_UINT32 },
    { "i8", PHYSNN_DTYPE_INT64 },
    { "u8", PHYSNN_DTYPE_UINT64 },
    { "b1", PHYSNN_DTYPE_UINT8 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (map); i++)
    if (strcmp (t, map[i].code) == 0) {
      h->dtype = map[i].dt;
      h->is_bool = t[0] == 'b';
      return TRUE;
    }
  return FALSE;
}

static gboolean
parse_header (
    const gchar *label, const gchar *text, gsize len, Header *h, GError **error)
{
  Lex l = { text, text + len };
  gboolean have_descr = FALSE, have_fortran = FALSE, have_shape = FALSE;

  if (!lex_char (&l, '{'))
    return npy_fail (error, label, "the header is not a dict");
  for (;;) {
    if (lex_char (&l, '}'))
      break;
    g_autofree gchar *key = lex_string (&l);
    if (key == NULL || !lex_char (&l, ':'))
      return npy_fail (error, label, "a header key is malformed");
    if (strcmp (key, "descr") == 0) {
      g_autofree gchar *d = lex_string (&l);
      if (d == NULL)
        return npy_fail (error, label,
            "'descr' is not a string (structured "
            "dtypes are not supported)");
      if (!parse_descr (d, h))
        return npy_fail (error, label,
            "dtype '%s' is not supported (float "
            "16/32/64, signed and unsigned integers of 8 to 64 bits, bool)",
            d);
      have_descr = TRUE;
    } else if (strcmp (key, "fortran_order") == 0) {
      lex_space (&l);
      if (l.end - l.p >= 4 && strncmp (l.p, "True", 4) == 0) {
        h->fortran = TRUE;
        l.p += 4;
      } else if (l.end - l.p >= 5 && strncmp (l.p, "False", 5) == 0) {
        h->fortran = FALSE;
        l.p += 5;
      } else {
        return npy_fail (error, label,
            "'fortran_order' is not True or "
            "False");
      }
      have_fortran = TRUE;
    } else if (strcmp (key, "shape") == 0) {
      if (!lex_char (&l, '('))
        return npy_fail (error, label, "'shape' is not a tuple");
      h->rank = 0;
      for (;;) {
        if (lex_char (&l, ')'))
          break;
        lex_space (&l);
        const gchar *s = l.p;
        guint64 v = 0;
        while (l.p < l.end && g_ascii_isdigit (*l.p)) {
          if (v > G_MAXUINT64 / 10 - 10)
            return npy_fail (error, label, "a dimension is too large");
          v = v * 10 + (guint64)(*l.p - '0');
          l.p++;
        }
        if (l.p < l.end && *l.p == 'L')
          l.p++; /* Python 2 longs */
        if (l.p == s)
          return npy_fail (error, label,
              "'shape' holds something that is "
              "not a non-negative integer");
        if (h->rank == PHYSNN_MAX_RANK)
          return npy_fail (
              error, label, "more than %d dimensions", PHYSNN_MAX_RANK);
        if (v > G_MAXSIZE)
          return npy_fail (error, label, "a dimension is too large");
        h->shape[h->rank++] = (gsize)v;
        if (!lex_char (&l, ',')) {
          if (!lex_char (&l, ')'))
            return npy_fail (error, label,
                "'shape' is not a tuple of "
                "integers");
          break;
        }
      }
      have_shape = TRUE;
    } else {
      return npy_fail (error, label, "unknown header key '%s'", key);
    }
    if (!lex_char (&l, ',')) {
      if (!lex_char (&l, '}'))
        return npy_fail (error, label, "the header dict is malformed");
      break;
    }
  }
  lex_space (&l);
  if (l.p != l.end)
    return npy_fail (error, label, "text after the header dict");
  if (!have_descr || !have_fortran || !have_shape)
    return npy_fail (error, label, "the header lacks %s",
        !have_descr     ? "'descr'"
        : !have_fortran ? "'fortran_order'"
                        : "'shape'");
  return TRUE;
}

/**
 * physnn_npy_load_from_bytes:
 * @data: the contents of a .npy file
 * @label: (nullable): a name for messages
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the array (C order, host byte order; bool as
 *   uint8), or %NULL with @error set
 */
PhysnnTensor *
physnn_npy_load_from_bytes (GBytes *data, const gchar *label, GError **error)
{
  gsize size;
  const guint8 *b = g_bytes_get_data (data, &size);
  Header h = { 0 };
  gsize hlen, off;

  if (label == NULL)
    label = "(memory)";
  if (size < 10 || memcmp (b, "\x93NUMPY", 6) != 0) {
    npy_fail (error, label, "the magic \\x93NUMPY is missing");
    return NULL;
  }
  guint major = b[6];
  if (major == 1) {
    hlen = b[8] | ((gsize)b[9] << 8);
    off = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) {
      npy_fail (error, label, "the file ends inside the preamble");
      return NULL;
    }
    hlen =
        b[8] | ((gsize)b[9] << 8) | ((gsize)b[10] << 16) | ((gsize)b[11] << 24);
    off = 12;
  } else {
    npy_fail (error, label, "format version %u.%u is not supported (1 to 3)",
        major, b[7]);
    return NULL;
  }
  if (hlen > MAX_HEADER || hlen > size - off) {
    npy_fail (error, label,
        "the header length %" G_GSIZE_FORMAT " is beyond "
        "the file or above %d bytes",
        hlen, MAX_HEADER);
    return NULL;
  }
  for (gsize i = 0; i < hlen; i++)
    if (b[off + i] == 0 || (major < 3 && b[off + i] >= 0x80)) {
      npy_fail (error, label, "the header holds non-text bytes");
      return NULL;
    }
  if (!parse_header (label, (const gchar *)b + off, hlen, &h, error))
    return NULL;
  off += hlen;

  gsize esize = physnn_dtype_get_size (h.dtype), count = 1;
  for (guint d = 0; d < h.rank; d++) {
    if (h.shape[d] != 0 && count > G_MAXSIZE / h.shape[d]) {
      npy_fail (error, label, "the shape's element count overflows");
      return NULL;
    }
    count *= h.shape[d];
  }
  if (count > MAX_BYTES / esize) {
    npy_fail (error, label,
        "%" G_GSIZE_FORMAT " elements are more than "
        "physnn reads (16 GiB)",
        count);
    return NULL;
  }
  gsize nbytes = count * esize;
  if (size - off != nbytes) {
    npy_fail (error, label,
        "the shape needs %" G_GSIZE_FORMAT " data bytes, "
        "the file has %" G_GSIZE_FORMAT,
        nbytes, size - off);
    return NULL;
  }
  PhysnnTensor *t = physnn_tensor_new (h.dtype, h.rank, h.shape);
  if (t == NULL) {
    npy_fail (error, label, "cannot hold that shape");
    return NULL;
  }
  guint8 *dst = _physnn_tensor_host (t, PHYSNN_ACCESS_WRITE);
  const guint8 *src = b + off;
  if (!h.fortran) {
    memcpy (dst, src, nbytes);
  } else {
    /* column-major: element (i0, ..., ir-1) is at Σ i_d Π_{e<d} n_e */
    for (gsize i = 0; i < count; i++) {
      gsize rem = i, f = 0, mul = 1;
      gsize idx[PHYSNN_MAX_RANK];
      for (gint d = (gint)h.rank - 1; d >= 0; d--) {
        idx[d] = rem % h.shape[d];
        rem /= h.shape[d];
      }
      for (guint d = 0; d < h.rank; d++) {
        f += idx[d] * mul;
        mul *= h.shape[d];
      }
      memcpy (dst + i * esize, src + f * esize, esize);
    }
  }
  if (h.swap && esize > 1)
    for (gsize i = 0; i < count; i++) {
      guint8 *e = dst + i * esize;
      for (gsize k = 0; k < esize / 2; k++) {
        guint8 tmp = e[k];
        e[k] = e[esize - 1 - k];
        e[esize - 1 - k] = tmp;
      }
    }
  if (h.is_bool)
    for (gsize i = 0; i < count; i++)
      dst[i] = dst[i] != 0;
  return t;
}

/**
 * physnn_npy_load:
 * @path: a .npy file
 * @error: return location for a #GError
 *
 * Reads a NumPy array file (numpy.save's format). The file is treated as
 * hostile: a truncated file, a malformed header, an unsupported dtype or a
 * shape that does not match the data gives an error naming the file and
 * the field.
 *
 * Returns: (transfer full): the array, or %NULL with @error set
 */
PhysnnTensor *
physnn_npy_load (const gchar *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  GError *local = NULL;
  g_autoptr (GMappedFile) mf = g_mapped_file_new (path, FALSE, &local);
  if (mf == NULL) {
    g_set_error (
        error, PHYSNN_ERROR, PHYSNN_ERROR_IO, "%s: %s", path, local->message);
    g_error_free (local);
    return NULL;
  }
  g_autoptr (GBytes) bytes = g_mapped_file_get_bytes (mf);
  return physnn_npy_load_from_bytes (bytes, path, error);
}

static const gchar *
descr_of (PhysnnDType dt)
{
  switch (dt) {
    case PHYSNN_DTYPE_FLOAT16:
      return "<f2";
    case PHYSNN_DTYPE_FLOAT32:
      return "<f4";
    case PHYSNN_DTYPE_FLOAT64:
      return "<f8";
    case PHYSNN_DTYPE_INT8:
      return "|i1";
    case PHYSNN_DTYPE_UINT8:
      return "|u1";
    case PHYSNN_DTYPE_INT16:
      return "<i2";
    case PHYSNN_DTYPE_UINT16:
      return "<u2";
    case PHYSNN_DTYPE_INT32:
      return "<i4";
    case PHYSNN_DTYPE_UINT32:
      return "<u4";
    case PHYSNN_DTYPE_INT64:
      return "<i8";
    case PHYSNN_DTYPE_UINT64:
      return "<u8";
  }
  return NULL;
}

/**
 * physnn_npy_save:
 * @tensor: the array
 * @path: the file to write (through a temporary file and a rename)
 * @error: return location for a #GError
 *
 * Writes a version 1.0 .npy file that numpy.load reads.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_npy_save (PhysnnTensor *tensor, const gchar *path, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (tensor), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  guint rank;
  const gsize *shape = physnn_tensor_get_shape (tensor, &rank);
  GString *hdr = g_string_new (NULL);
  g_string_append_printf (hdr,
      "{'descr': '%s', 'fortran_order': False, "
      "'shape': (",
      descr_of (physnn_tensor_get_dtype (tensor)));
  for (guint d = 0; d < rank; d++)
    g_string_append_printf (hdr, "%" G_GSIZE_FORMAT "%s", shape[d],
        rank == 1 ? "," : (d + 1 < rank ? ", " : ""));
  g_string_append (hdr, "), }");
  /* pad so that the data starts at a multiple of 64 bytes */
  gsize total = 10 + hdr->len + 1;
  while (total % 64) {
    g_string_append_c (hdr, ' ');
    total++;
  }
  g_string_append_c (hdr, '\n');
  if (hdr->len > 65535 || G_BYTE_ORDER != G_LITTLE_ENDIAN) {
    g_string_free (hdr, TRUE);
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "%s: cannot write this array as .npy", path);
    return FALSE;
  }
  GByteArray *out = g_byte_array_new ();
  guint8 pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
    (guint8)(hdr->len & 0xff), (guint8)(hdr->len >> 8) };
  g_byte_array_append (out, pre, 10);
  g_byte_array_append (out, (const guint8 *)hdr->str, hdr->len);
  g_string_free (hdr, TRUE);
  g_byte_array_append (out, _physnn_tensor_host (tensor, PHYSNN_ACCESS_READ),
      physnn_tensor_get_nbytes (tensor));
  GError *local = NULL;
  gboolean ok = g_file_set_contents_full (path, (const gchar *)out->data,
      out->len, G_FILE_SET_CONTENTS_CONSISTENT, 0644, &local);
  g_byte_array_unref (out);
  if (!ok) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO, "%s", local->message);
    g_error_free (local);
  }
  return ok;
}
