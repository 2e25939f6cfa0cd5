/* physnn — on-disk cache of compiled OpenCL program binaries.
 *
 * Building kernels takes from tens of milliseconds (PoCL) to seconds (some
 * GPU drivers), so binaries are kept under $XDG_CACHE_HOME/physnn/kernels,
 * keyed by a hash of the device identity, driver version, build options and
 * source. Each file carries a header with a magic, the payload length and its
 * SHA-256, so a truncated or corrupted entry is detected here and rebuilt
 * instead of being handed to a driver that might crash on it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/device-private.h"
#include "physnn/error.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#define CACHE_MAGIC "PHYSNNKC"
#define CACHE_FORMAT 1u
#define CACHE_MAX_BYTES (256u * 1024u * 1024u)
#define SHA256_LEN 32

typedef struct {
  gchar magic[8];
  guint32 format;
  guint32 reserved;
  guint64 payload_size;
  guint8 sha256[SHA256_LEN];
} CacheHeader;

gboolean
_physnn_kernel_cache_enabled (void)
{
  const gchar *env = g_getenv ("PHYSNN_KERNEL_CACHE");
  return env == NULL || (strcmp (env, "0") != 0 && g_ascii_strcasecmp (env,
          "off") != 0);
}

gchar *
_physnn_kernel_cache_dir (void)
{
  const gchar *env = g_getenv ("PHYSNN_CACHE_DIR");
  if (env != NULL && *env != '\0')
    return g_build_filename (env, "kernels", NULL);
  return g_build_filename (g_get_user_cache_dir (), "physnn", "kernels", NULL);
}

static gchar *
cache_path (const gchar *key)
{
  g_autofree gchar *dir = _physnn_kernel_cache_dir ();
  g_autofree gchar *name = g_strconcat (key, ".bin", NULL);
  return g_build_filename (dir, name, NULL);
}

static void
sha256 (const guint8 *data, gsize size, guint8 out[SHA256_LEN])
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize len = SHA256_LEN;
  g_checksum_update (sum, data, size);
  g_checksum_get_digest (sum, out, &len);
}

/* Returns the cached binary, or NULL. Sets @corrupt when a file existed but
 * failed validation (it is removed). */
GBytes *
_physnn_kernel_cache_load (const gchar *key, gboolean *corrupt)
{
  g_autofree gchar *path = cache_path (key);
  gchar *contents = NULL;
  gsize length = 0;
  CacheHeader header;
  guint8 digest[SHA256_LEN];

  *corrupt = FALSE;
  if (!g_file_get_contents (path, &contents, &length, NULL))
    return NULL;

  if (length < sizeof header)
    goto bad;
  memcpy (&header, contents, sizeof header);
  if (memcmp (header.magic, CACHE_MAGIC, 8) != 0 ||
      header.format != CACHE_FORMAT ||
      header.payload_size != length - sizeof header ||
      header.payload_size == 0 || header.payload_size > CACHE_MAX_BYTES)
    goto bad;
  sha256 ((const guint8 *) contents + sizeof header, header.payload_size,
      digest);
  if (memcmp (digest, header.sha256, SHA256_LEN) != 0)
    goto bad;

  GBytes *bytes = g_bytes_new (contents + sizeof header, header.payload_size);
  g_free (contents);
  return bytes;

bad:
  g_free (contents);
  *corrupt = TRUE;
  g_unlink (path);
  return NULL;
}

/* Writes atomically: a temporary file in the same directory, then rename, so
 * concurrent processes never read a half-written entry. */
gboolean
_physnn_kernel_cache_store (const gchar *key, const guint8 *binary,
    gsize size, GError **error)
{
  g_autofree gchar *dir = _physnn_kernel_cache_dir ();
  g_autofree gchar *path = cache_path (key);
  CacheHeader header;

  if (size == 0 || size > CACHE_MAX_BYTES) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "kernel binary of %" G_GSIZE_FORMAT " bytes not cached", size);
    return FALSE;
  }
  if (g_mkdir_with_parents (dir, 0700) != 0) {
    int err = errno;
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO,
        "cannot create kernel cache directory %s: %s", dir, g_strerror (err));
    return FALSE;
  }

  memset (&header, 0, sizeof header);
  memcpy (header.magic, CACHE_MAGIC, 8);
  header.format = CACHE_FORMAT;
  header.payload_size = size;
  sha256 (binary, size, header.sha256);

  gsize total = sizeof header + size;
  g_autofree guint8 *buf = g_malloc (total);
  memcpy (buf, &header, sizeof header);
  memcpy (buf + sizeof header, binary, size);

  GError *local = NULL;
  if (!g_file_set_contents_full (path, (const gchar *) buf, (gssize) total,
          G_FILE_SET_CONTENTS_CONSISTENT, 0600, &local)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO,
        "cannot write kernel cache entry %s: %s", path, local->message);
    g_error_free (local);
    return FALSE;
  }
  return TRUE;
}

void
_physnn_kernel_cache_remove (const gchar *key)
{
  g_autofree gchar *path = cache_path (key);
  g_unlink (path);
}
