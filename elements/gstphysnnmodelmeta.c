/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstphysnnmodelmeta.h"

#include <math.h>

GType
gst_physnn_model_meta_api_get_type (void)
{
  static GType type = 0;
  static const gchar *tags[] = { NULL };
  if (g_once_init_enter (&type)) {
    /* The plugin and programs linking this code statically (tests) share
     * one registration. */
    GType t = g_type_from_name ("GstPhysnnModelMetaAPI");
    if (t == 0)
      t = gst_meta_api_type_register ("GstPhysnnModelMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
meta_init (GstMeta *meta, gpointer params, GstBuffer *buffer)
{
  GstPhysnnModelMeta *m = (GstPhysnnModelMeta *) meta;
  m->model = NULL;
  m->n_inputs = 0;
  m->inputs = NULL;
  m->coord_input = -1;
  m->grid = NULL;
  m->grid_shape[0] = m->grid_shape[1] = m->grid_shape[2] = 0;
  m->time = NAN;
  m->derivatives = NULL;
  return TRUE;
}

static void
meta_free (GstMeta *meta, GstBuffer *buffer)
{
  GstPhysnnModelMeta *m = (GstPhysnnModelMeta *) meta;
  g_clear_object (&m->model);
  for (guint i = 0; i < m->n_inputs; i++)
    g_clear_object (&m->inputs[i]);
  g_free (m->inputs);
  g_free (m->grid);
  g_free (m->derivatives);
}

/* The meta describes the points, not the payload layout: it survives any
 * transform that keeps one buffer per evaluation. */
static gboolean
meta_transform (GstBuffer *dest, GstMeta *meta, GstBuffer *buffer,
    GQuark type, gpointer data)
{
  GstPhysnnModelMeta *m = (GstPhysnnModelMeta *) meta;
  GstPhysnnModelMeta *d = gst_buffer_add_physnn_model_meta (dest, m->model,
      m->inputs, m->n_inputs, m->coord_input);
  if (d == NULL)
    return FALSE;
  d->grid = g_strdup (m->grid);
  for (guint i = 0; i < 3; i++)
    d->grid_shape[i] = m->grid_shape[i];
  d->time = m->time;
  d->derivatives = g_strdup (m->derivatives);
  return TRUE;
}

const GstMetaInfo *
gst_physnn_model_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;
  if (g_once_init_enter ((GstMetaInfo **) & info)) {
    const GstMetaInfo *mi = gst_meta_get_info ("GstPhysnnModelMeta");
    if (mi == NULL)
      mi = gst_meta_register (GST_PHYSNN_MODEL_META_API_TYPE,
          "GstPhysnnModelMeta", sizeof (GstPhysnnModelMeta), meta_init,
          meta_free, meta_transform);
    g_once_init_leave ((GstMetaInfo **) & info, (GstMetaInfo *) mi);
  }
  return info;
}

GstPhysnnModelMeta *
gst_buffer_add_physnn_model_meta (GstBuffer *buffer, PhysnnModel *model,
    PhysnnTensor **inputs, guint n_inputs, gint coord_input)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (PHYSNN_IS_MODEL (model), NULL);
  GstPhysnnModelMeta *m = (GstPhysnnModelMeta *) gst_buffer_add_meta (buffer,
      GST_PHYSNN_MODEL_META_INFO, NULL);
  if (m == NULL)
    return NULL;
  m->model = g_object_ref (model);
  m->n_inputs = n_inputs;
  m->inputs = g_new0 (PhysnnTensor *, MAX (n_inputs, 1));
  for (guint i = 0; i < n_inputs; i++)
    m->inputs[i] = g_object_ref (inputs[i]);
  m->coord_input = coord_input;
  return m;
}
