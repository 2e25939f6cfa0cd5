/* physnn — colour maps for field and residual pictures.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * PhysnnColormap:
 * @PHYSNN_COLORMAP_VIRIDIS: perceptually uniform, colour-blind safe
 * @PHYSNN_COLORMAP_INFERNO: perceptually uniform, dark to bright; for magnitudes
 * @PHYSNN_COLORMAP_COOLWARM: diverging blue–white–red; for signed fields
 * @PHYSNN_COLORMAP_GRAY: black to white
 *
 * Colour maps (sampled from the matplotlib maps of the same names, which are
 * public domain (viridis, inferno) and BSD (coolwarm, K. Moreland), at 17
 * anchors with linear interpolation in between).
 */
typedef enum {
  PHYSNN_COLORMAP_VIRIDIS,
  PHYSNN_COLORMAP_INFERNO,
  PHYSNN_COLORMAP_COOLWARM,
  PHYSNN_COLORMAP_GRAY,
} PhysnnColormap;

void physnn_colormap_lookup (PhysnnColormap map, gdouble position,
    guint8 rgb[3]);
void physnn_colormap_apply (PhysnnColormap map, const gfloat *values,
    gsize n_values, gdouble vmin, gdouble vmax, gboolean log_scale,
    guint8 *rgb);

G_END_DECLS
