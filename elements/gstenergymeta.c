/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstenergymeta.h"

#include <math.h>
#include <string.h>

GType
gst_energy_meta_api_get_type (void)
{
  static GType type = 0;
  static const gchar *tags[] = { NULL };
  if (g_once_init_enter (&type)) {
    /* one registration shared by the plugin and statically linked tests */
    GType t = g_type_from_name ("GstEnergyMetaAPI");
    if (t == 0)
      t = gst_meta_api_type_register ("GstEnergyMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
meta_init (GstMeta *meta, gpointer params, GstBuffer *buffer)
{
  memset ((guint8 *)meta + sizeof (GstMeta), 0,
      sizeof (GstEnergyMeta) - sizeof (GstMeta));
  return TRUE;
}

/* Counts and energies of a time span stay true for any buffer that keeps
 * it, so the meta is copied as is. */
static gboolean
meta_transform (GstBuffer *dest, GstMeta *meta, GstBuffer *buffer, GQuark type,
    gpointer data)
{
  GstMeta *d = gst_buffer_add_meta (dest, GST_ENERGY_META_INFO, NULL);
  if (d == NULL)
    return FALSE;
  memcpy ((guint8 *)d + sizeof (GstMeta), (guint8 *)meta + sizeof (GstMeta),
      sizeof (GstEnergyMeta) - sizeof (GstMeta));
  return TRUE;
}

const GstMetaInfo *
gst_energy_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;
  if (g_once_init_enter ((GstMetaInfo **)&info)) {
    const GstMetaInfo *mi = gst_meta_get_info ("GstEnergyMeta");
    if (mi == NULL)
      mi = gst_meta_register (GST_ENERGY_META_API_TYPE, "GstEnergyMeta",
          sizeof (GstEnergyMeta), meta_init, NULL, meta_transform);
    g_once_init_leave ((GstMetaInfo **)&info, (GstMetaInfo *)mi);
  }
  return info;
}

/**
 * gst_buffer_add_energy_meta:
 * @buffer: a writable buffer
 * @steps: steps of the buffer
 * @synops: synaptic events
 * @dense_synops: dense multiply-accumulates
 * @neuron_updates: neuron updates
 * @spikes: spikes
 *
 * Attaches the estimate of every target for these counts.
 *
 * Returns: (transfer none): the meta
 */
GstEnergyMeta *
gst_buffer_add_energy_meta (GstBuffer *buffer, guint64 steps, guint64 synops,
    guint64 dense_synops, guint64 neuron_updates, guint64 spikes)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  GstEnergyMeta *m =
      (GstEnergyMeta *)gst_buffer_add_meta (buffer, GST_ENERGY_META_INFO, NULL);
  if (m == NULL)
    return NULL;
  m->steps = steps;
  m->synops = synops;
  m->dense_synops = dense_synops;
  m->neuron_updates = neuron_updates;
  m->spikes = spikes;
  for (guint i = 0; i < PHYSNN_ENERGY_N_TARGETS; i++)
    physnn_energy_estimate (i, synops, dense_synops, neuron_updates, spikes,
        &m->joules[i], &m->synaptic_joules[i], NULL);
  return m;
}

/* Counts and, per target, "<target>-joules" and "<target>-synaptic-joules"
 * (absent where no figure exists): the body of neuroexport's messages. */
GstStructure *
gst_energy_structure_new (const gchar *name, guint64 steps, guint64 synops,
    guint64 dense_synops, guint64 neuron_updates, guint64 spikes)
{
  GstStructure *s = gst_structure_new (name, "estimate", G_TYPE_BOOLEAN, TRUE,
      "steps", G_TYPE_UINT64, steps, "synops", G_TYPE_UINT64, synops,
      "dense-synops", G_TYPE_UINT64, dense_synops, "neuron-updates",
      G_TYPE_UINT64, neuron_updates, "spikes", G_TYPE_UINT64, spikes, NULL);
  for (guint i = 0; i < PHYSNN_ENERGY_N_TARGETS; i++) {
    gdouble tot, syn;
    if (!physnn_energy_estimate (
            i, synops, dense_synops, neuron_updates, spikes, &tot, &syn, NULL))
      continue;
    g_autofree gchar *k1 =
        g_strdup_printf ("%s-joules", physnn_energy_target_get_name (i));
    g_autofree gchar *k2 = g_strdup_printf (
        "%s-synaptic-joules", physnn_energy_target_get_name (i));
    gst_structure_set (s, k1, G_TYPE_DOUBLE, tot, k2, G_TYPE_DOUBLE, syn, NULL);
  }
  return s;
}
