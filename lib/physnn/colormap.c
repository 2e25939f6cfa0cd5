/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "physnn/colormap.h"

#include <math.h>

#define N_ANCHORS 17

/* 17 evenly spaced samples of each map (see colormap.h for the sources). */
static const guint8 anchors[3][N_ANCHORS][3] = {
  [PHYSNN_COLORMAP_VIRIDIS] = {
        {68, 1, 84}, {72, 24, 106}, {71, 45, 123}, {66, 64, 134},
        {59, 82, 139}, {51, 99, 141}, {44, 114, 142}, {38, 130, 142},
        {33, 145, 140}, {31, 160, 136}, {40, 174, 128}, {63, 188, 115},
        {94, 201, 98}, {132, 212, 75}, {173, 220, 48}, {216, 226, 25},
      {253, 231, 37}},
  [PHYSNN_COLORMAP_INFERNO] = {
        {0, 0, 4}, {11, 7, 36}, {33, 12, 74}, {61, 9, 101}, {87, 16, 110},
        {113, 25, 110}, {138, 34, 106}, {163, 44, 97}, {188, 55, 84},
        {210, 70, 68}, {228, 90, 49}, {241, 115, 29}, {249, 142, 9},
      {252, 172, 17}, {249, 203, 53}, {242, 234, 105}, {252, 255, 164}},
  [PHYSNN_COLORMAP_COOLWARM] = {
        {59, 76, 192}, {78, 104, 216}, {98, 130, 234}, {119, 154, 247},
        {141, 176, 254}, {163, 194, 254}, {185, 208, 249}, {204, 217, 237},
        {221, 220, 220}, {236, 211, 197}, {245, 196, 172}, {247, 176, 147},
        {244, 152, 122}, {235, 125, 98}, {221, 95, 75}, {202, 59, 55},
      {180, 4, 38}},
};

/**
 * physnn_colormap_lookup:
 * @map: a #PhysnnColormap
 * @position: position in [0, 1]; clamped; NaN gives magenta
 * @rgb: (out caller-allocates) (array fixed-size=3): the colour
 *
 * Looks up one colour.
 */
void
physnn_colormap_lookup (PhysnnColormap map, gdouble position, guint8 rgb[3])
{
  if (isnan (position)) {
    /* Missing or invalid data must stand out, not blend in. */
    rgb[0] = 255;
    rgb[1] = 0;
    rgb[2] = 255;
    return;
  }
  position = CLAMP (position, 0.0, 1.0);
  if (map == PHYSNN_COLORMAP_GRAY || (guint) map > PHYSNN_COLORMAP_COOLWARM) {
    rgb[0] = rgb[1] = rgb[2] = (guint8) lrint (position * 255.0);
    return;
  }
  gdouble f = position * (N_ANCHORS - 1);
  guint i = (guint) f;
  if (i >= N_ANCHORS - 1)
    i = N_ANCHORS - 2;
  gdouble w = f - i;
  for (guint c = 0; c < 3; c++)
    rgb[c] = (guint8) lrint ((1.0 - w) * anchors[map][i][c] +
        w * anchors[map][i + 1][c]);
}

/**
 * physnn_colormap_apply:
 * @map: a #PhysnnColormap
 * @values: (array length=n_values): the data
 * @n_values: number of values
 * @vmin: value mapped to the first colour
 * @vmax: value mapped to the last colour
 * @log_scale: map log10(|v|) between log10(vmin) and log10(vmax) instead
 * @rgb: (out caller-allocates): 3 × @n_values bytes, packed RGB
 *
 * Colours an array of values. NaN or infinite values come out magenta.
 */
void
physnn_colormap_apply (PhysnnColormap map, const gfloat *values,
    gsize n_values, gdouble vmin, gdouble vmax, gboolean log_scale,
    guint8 *rgb)
{
  gdouble lo = vmin, hi = vmax;
  if (log_scale) {
    lo = log10 (MAX (vmin, 1e-30));
    hi = log10 (MAX (vmax, 1e-30));
  }
  gdouble span = hi - lo;
  for (gsize i = 0; i < n_values; i++) {
    gdouble v = values[i];
    gdouble p;
    if (!isfinite (v))
      p = NAN;
    else {
      if (log_scale)
        v = log10 (MAX (fabs (v), 1e-30));
      p = span > 0 ? (v - lo) / span : 0.5;
    }
    physnn_colormap_lookup (map, p, rgb + 3 * i);
  }
}
