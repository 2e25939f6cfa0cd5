/* physnn — small PNG charts through cairo (loss curves, Pareto fronts).
 * Engine-internal. SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  const gchar *label;
  const gdouble *x, *y;
  gsize n;
  gboolean markers; /* points instead of a line */
} PhysnnPlotSeries;

typedef struct {
  const gchar *title, *xlabel, *ylabel;
  gboolean log_x, log_y;
  const gdouble *vlines; /* dashed vertical markers at these x */
  const gchar *const *vlabels;
  guint n_vlines;
  guint width, height; /* 0: 960 x 600 */
} PhysnnPlotStyle;

/* Draws the series (non-finite points, and non-positive ones on log axes,
 * are skipped) and writes a PNG through a temporary file and a rename. */
gboolean _physnn_plot_png (const gchar *path, const PhysnnPlotStyle *style,
    const PhysnnPlotSeries *series, guint n_series, GError **error);

G_END_DECLS
