/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstresidualmeta.h"

GType
gst_residual_meta_api_get_type (void)
{
  static GType type = 0;
  static const gchar *tags[] = { NULL };
  if (g_once_init_enter (&type)) {
    /* The plugin and programs linking this code statically (tests) share
     * one registration. */
    GType t = g_type_from_name ("GstResidualMetaAPI");
    if (t == 0)
      t = gst_meta_api_type_register ("GstResidualMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
meta_init (GstMeta *meta, gpointer params, GstBuffer *buffer)
{
  ((GstResidualMeta *)meta)->info = NULL;
  return TRUE;
}

static void
meta_free (GstMeta *meta, GstBuffer *buffer)
{
  GstResidualMeta *m = (GstResidualMeta *)meta;
  g_clear_pointer (&m->info, gst_structure_free);
}

static gboolean
meta_transform (GstBuffer *dest, GstMeta *meta, GstBuffer *buffer, GQuark type,
    gpointer data)
{
  GstResidualMeta *m = (GstResidualMeta *)meta;
  return gst_buffer_add_residual_meta (dest, m->info) != NULL;
}

const GstMetaInfo *
gst_residual_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;
  if (g_once_init_enter ((GstMetaInfo **)&info)) {
    const GstMetaInfo *mi = gst_meta_get_info ("GstResidualMeta");
    if (mi == NULL)
      mi = gst_meta_register (GST_RESIDUAL_META_API_TYPE, "GstResidualMeta",
          sizeof (GstResidualMeta), meta_init, meta_free, meta_transform);
    g_once_init_leave ((GstMetaInfo **)&info, (GstMetaInfo *)mi);
  }
  return info;
}

/**
 * gst_buffer_add_residual_meta:
 * @buffer: a buffer
 * @info: the statistics (copied)
 *
 * Returns: (transfer none): the meta
 */
GstResidualMeta *
gst_buffer_add_residual_meta (GstBuffer *buffer, const GstStructure *info)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (info != NULL, NULL);
  GstResidualMeta *m = (GstResidualMeta *)gst_buffer_add_meta (
      buffer, GST_RESIDUAL_META_INFO, NULL);
  if (m)
    m->info = gst_structure_copy (info);
  return m;
}
