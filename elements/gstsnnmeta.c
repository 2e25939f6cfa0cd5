/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstsnnmeta.h"

#include <string.h>

GType
gst_snn_meta_api_get_type (void)
{
  static GType type = 0;
  static const gchar *tags[] = { NULL };
  if (g_once_init_enter (&type)) {
    /* The plugin and programs linking this code statically (tests) share
     * one registration. */
    GType t = g_type_from_name ("GstSnnMetaAPI");
    if (t == 0)
      t = gst_meta_api_type_register ("GstSnnMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
meta_init (GstMeta *meta, gpointer params, GstBuffer *buffer)
{
  GstSnnMeta *m = (GstSnnMeta *)meta;
  memset ((guint8 *)m + sizeof (GstMeta), 0,
      sizeof (GstSnnMeta) - sizeof (GstMeta));
  return TRUE;
}

/* Plain counts about the buffer's time span: they stay true for any
 * element that keeps one buffer per buffer, whatever it does to the data. */
static gboolean
meta_transform (GstBuffer *dest, GstMeta *meta, GstBuffer *buffer, GQuark type,
    gpointer data)
{
  GstSnnMeta *m = (GstSnnMeta *)meta;
  GstSnnMeta *d =
      (GstSnnMeta *)gst_buffer_add_meta (dest, GST_SNN_META_INFO, NULL);
  if (d == NULL)
    return FALSE;
  memcpy ((guint8 *)d + sizeof (GstMeta), (guint8 *)m + sizeof (GstMeta),
      sizeof (GstSnnMeta) - sizeof (GstMeta));
  return TRUE;
}

const GstMetaInfo *
gst_snn_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;
  if (g_once_init_enter ((GstMetaInfo **)&info)) {
    const GstMetaInfo *mi = gst_meta_get_info ("GstSnnMeta");
    if (mi == NULL)
      mi = gst_meta_register (GST_SNN_META_API_TYPE, "GstSnnMeta",
          sizeof (GstSnnMeta), meta_init, NULL, meta_transform);
    g_once_init_leave ((GstMetaInfo **)&info, (GstMetaInfo *)mi);
  }
  return info;
}

/**
 * gst_buffer_add_snn_meta:
 * @buffer: a writable buffer
 * @element: the producing element's factory name
 *
 * Returns: (transfer none): the new meta, counts zero
 */
GstSnnMeta *
gst_buffer_add_snn_meta (GstBuffer *buffer, const gchar *element)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  GstSnnMeta *m =
      (GstSnnMeta *)gst_buffer_add_meta (buffer, GST_SNN_META_INFO, NULL);
  if (m)
    m->element = g_quark_from_string (element);
  return m;
}

/* The counts as a structure, for element messages. */
GstStructure *
gst_snn_meta_to_structure (const GstSnnMeta *m, const gchar *name)
{
  return gst_structure_new (name, "element", G_TYPE_STRING,
      g_quark_to_string (m->element), "steps", G_TYPE_UINT64, m->steps,
      "neurons", G_TYPE_UINT64, m->neurons, "input-spikes", G_TYPE_UINT64,
      m->input_spikes, "spikes", G_TYPE_UINT64, m->spikes, "synops",
      G_TYPE_UINT64, m->synops, "dense-synops", G_TYPE_UINT64, m->dense_synops,
      "neuron-updates", G_TYPE_UINT64, m->neuron_updates, "plastic-updates",
      G_TYPE_UINT64, m->plastic_updates, NULL);
}
