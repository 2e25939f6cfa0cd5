/* physnn — GstPhysnnModelMeta: which model produced a buffer and at which
 * coordinates, so downstream elements (residualexplain) can re-evaluate
 * the model and its derivatives without configuration.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>
#include <physnn/physnn.h>

G_BEGIN_DECLS

typedef struct {
  GstMeta meta;

  PhysnnModel *model;           /* the model, with its coordinate and output
                                 * names */
  guint n_inputs;
  PhysnnTensor **inputs;        /* exactly what the model was run on */
  gint coord_input;             /* index into inputs, -1 if per-input */
  gchar *grid;                  /* the grid description, or NULL when the
                                 * stream carried coordinates */
  gsize grid_shape[3];          /* points per grid axis (x fastest), 0 = unused */
  gdouble time;                 /* the time coordinate fed, or NaN */
  gchar *derivatives;           /* derivative tensors in this buffer */
} GstPhysnnModelMeta;

GType gst_physnn_model_meta_api_get_type (void);
const GstMetaInfo *gst_physnn_model_meta_get_info (void);
#define GST_PHYSNN_MODEL_META_API_TYPE (gst_physnn_model_meta_api_get_type ())
#define GST_PHYSNN_MODEL_META_INFO (gst_physnn_model_meta_get_info ())

GstPhysnnModelMeta *gst_buffer_add_physnn_model_meta (GstBuffer *buffer,
    PhysnnModel *model, PhysnnTensor **inputs, guint n_inputs,
    gint coord_input);
#define gst_buffer_get_physnn_model_meta(b) ((GstPhysnnModelMeta *) \
    gst_buffer_get_meta ((b), GST_PHYSNN_MODEL_META_API_TYPE))

G_END_DECLS
