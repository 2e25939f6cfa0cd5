/* physnn — small PNG charts through cairo: axes with ticks on linear or
 * decade scales, a light grid, one colour per series, a legend, optional
 * dashed vertical markers (e.g. where training switched optimizer).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/plot-private.h"
#include "physnn/error.h"

#include <cairo.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

static const gdouble palette[][3] = {
  { 0.12, 0.47, 0.71 },
  { 0.84, 0.15, 0.16 },
  { 0.17, 0.63, 0.17 },
  { 1.00, 0.50, 0.05 },
  { 0.58, 0.40, 0.74 },
  { 0.55, 0.34, 0.29 },
  { 0.89, 0.47, 0.76 },
  { 0.50, 0.50, 0.50 },
};

typedef struct {
  gdouble lo, hi;
  gboolean log;
  gdouble p0, p1; /* pixel range */
} Axis;

static gboolean
usable (const Axis *a, gdouble v)
{
  return isfinite (v) && (!a->log || v > 0);
}

static gdouble
map (const Axis *a, gdouble v)
{
  gdouble u =
      a->log ? (log10 (v) - log10 (a->lo)) / (log10 (a->hi) - log10 (a->lo))
             : (v - a->lo) / (a->hi - a->lo);
  return a->p0 + u * (a->p1 - a->p0);
}

static void
fit_axis (Axis *a, const PhysnnPlotSeries *s, guint n, gboolean is_x)
{
  gdouble lo = INFINITY, hi = -INFINITY;
  for (guint k = 0; k < n; k++)
    for (gsize i = 0; i < s[k].n; i++) {
      gdouble v = is_x ? s[k].x[i] : s[k].y[i];
      if (!usable (a, v))
        continue;
      lo = MIN (lo, v);
      hi = MAX (hi, v);
    }
  if (!isfinite (lo)) {
    lo = a->log ? 1e-3 : 0;
    hi = 1;
  }
  if (a->log) {
    lo = pow (10, floor (log10 (lo)));
    hi = pow (10, ceil (log10 (hi)));
    if (hi <= lo)
      hi = lo * 10;
  } else {
    if (hi <= lo) {
      hi = lo + 1;
      lo -= 1;
    }
    gdouble pad = is_x ? 0 : 0.05 * (hi - lo);
    lo -= pad;
    hi += pad;
  }
  a->lo = lo;
  a->hi = hi;
}

/* 1, 2 or 5 times a power of ten, about n steps over the range */
static gdouble
nice_step (gdouble range, gint n)
{
  gdouble raw = range / n, p = pow (10, floor (log10 (raw)));
  gdouble m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void
text_at (
    cairo_t *cr, const gchar *s, gdouble x, gdouble y, gdouble ax, gdouble ay)
{
  cairo_text_extents_t e;
  cairo_text_extents (cr, s, &e);
  cairo_move_to (
      cr, x - ax * e.width - e.x_bearing, y - ay * e.height - e.y_bearing);
  cairo_show_text (cr, s);
}

static void
ticks (
    cairo_t *cr, const Axis *a, gboolean is_x, gdouble other0, gdouble other1)
{
  gchar buf[64];
  GArray *vals = g_array_new (FALSE, FALSE, sizeof (gdouble));
  if (a->log) {
    gint e0 = (gint)floor (log10 (a->lo) + 1e-9);
    gint e1 = (gint)ceil (log10 (a->hi) - 1e-9);
    gint every = MAX (1, (e1 - e0 + 7) / 8);
    for (gint e = e0; e <= e1; e += every) {
      gdouble v = pow (10, e);
      g_array_append_val (vals, v);
    }
  } else {
    gdouble st = nice_step (a->hi - a->lo, is_x ? 8 : 6);
    for (gdouble v = ceil (a->lo / st) * st; v <= a->hi + st * 1e-9; v += st) {
      gdouble r = fabs (v) < st * 1e-9 ? 0 : v;
      g_array_append_val (vals, r);
    }
  }
  for (guint i = 0; i < vals->len; i++) {
    gdouble v = g_array_index (vals, gdouble, i), p = map (a, v);
    if (a->log)
      g_snprintf (buf, sizeof buf, "1e%d", (gint)lround (log10 (v)));
    else
      g_snprintf (buf, sizeof buf, "%g", v);
    cairo_set_source_rgb (cr, 0.88, 0.88, 0.88);
    cairo_set_line_width (cr, 1);
    if (is_x) {
      cairo_move_to (cr, p, other0);
      cairo_line_to (cr, p, other1);
    } else {
      cairo_move_to (cr, other0, p);
      cairo_line_to (cr, other1, p);
    }
    cairo_stroke (cr);
    cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
    if (is_x)
      text_at (cr, buf, p, other0 + 8, 0.5, 0);
    else
      text_at (cr, buf, other0 - 8, p, 1, 0.5);
  }
  g_array_unref (vals);
}

gboolean
_physnn_plot_png (const gchar *path, const PhysnnPlotStyle *st,
    const PhysnnPlotSeries *series, guint n_series, GError **error)
{
  gint W = st->width ? (gint)st->width : 960;
  gint H = st->height ? (gint)st->height : 600;
  gdouble left = 90, right = W - 30, top = 50, bottom = H - 60;
  Axis ax = { 0, 0, st->log_x, left, right };
  Axis ay = { 0, 0, st->log_y, bottom, top };

  fit_axis (&ax, series, n_series, TRUE);
  fit_axis (&ay, series, n_series, FALSE);

  cairo_surface_t *surf = cairo_image_surface_create (CAIRO_FORMAT_RGB24, W, H);
  cairo_t *cr = cairo_create (surf);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  cairo_select_font_face (
      cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, 13);

  ticks (cr, &ax, TRUE, bottom, top);
  ticks (cr, &ay, FALSE, left, right);
  cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
  cairo_set_line_width (cr, 1.2);
  cairo_rectangle (cr, left, top, right - left, bottom - top);
  cairo_stroke (cr);

  for (guint i = 0; i < st->n_vlines; i++) {
    gdouble v = st->vlines[i];
    if (!usable (&ax, v) || v < ax.lo || v > ax.hi)
      continue;
    gdouble p = map (&ax, v), dash[] = { 6, 4 };
    cairo_set_source_rgb (cr, 0.35, 0.35, 0.35);
    cairo_set_dash (cr, dash, 2, 0);
    cairo_move_to (cr, p, bottom);
    cairo_line_to (cr, p, top);
    cairo_stroke (cr);
    cairo_set_dash (cr, NULL, 0, 0);
    if (st->vlabels && st->vlabels[i])
      text_at (cr, st->vlabels[i], p + 4, top + 6, 0, 0);
  }

  cairo_save (cr);
  cairo_rectangle (cr, left, top, right - left, bottom - top);
  cairo_clip (cr);
  for (guint k = 0; k < n_series; k++) {
    const gdouble *c = palette[k % G_N_ELEMENTS (palette)];
    cairo_set_source_rgb (cr, c[0], c[1], c[2]);
    cairo_set_line_width (cr, k == 0 ? 1.8 : 1.2);
    gboolean pen = FALSE;
    for (gsize i = 0; i < series[k].n; i++) {
      gdouble x = series[k].x[i], y = series[k].y[i];
      if (!usable (&ax, x) || !usable (&ay, y)) {
        if (pen && !series[k].markers)
          cairo_stroke (cr);
        pen = FALSE;
        continue;
      }
      gdouble px = map (&ax, x), py = map (&ay, y);
      if (series[k].markers) {
        cairo_arc (cr, px, py, 3, 0, 2 * G_PI);
        cairo_fill (cr);
      } else if (!pen) {
        cairo_move_to (cr, px, py);
        pen = TRUE;
      } else {
        cairo_line_to (cr, px, py);
      }
    }
    if (pen)
      cairo_stroke (cr);
  }
  cairo_restore (cr);

  /* legend */
  gdouble ly = top + 14;
  for (guint k = 0; k < n_series; k++) {
    if (!series[k].label)
      continue;
    const gdouble *c = palette[k % G_N_ELEMENTS (palette)];
    cairo_text_extents_t e;
    cairo_text_extents (cr, series[k].label, &e);
    gdouble lx = right - 16 - e.width - 26;
    cairo_set_source_rgba (cr, 1, 1, 1, 0.85);
    cairo_rectangle (cr, lx - 4, ly - 9, e.width + 34, 18);
    cairo_fill (cr);
    cairo_set_source_rgb (cr, c[0], c[1], c[2]);
    cairo_set_line_width (cr, 2.5);
    cairo_move_to (cr, lx, ly);
    cairo_line_to (cr, lx + 20, ly);
    cairo_stroke (cr);
    cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
    text_at (cr, series[k].label, lx + 26, ly, 0, 0.5);
    ly += 18;
  }

  cairo_set_font_size (cr, 15);
  if (st->title)
    text_at (cr, st->title, (left + right) / 2, 18, 0.5, 0);
  cairo_set_font_size (cr, 13);
  if (st->xlabel)
    text_at (cr, st->xlabel, (left + right) / 2, H - 22, 0.5, 0);
  if (st->ylabel) {
    cairo_save (cr);
    cairo_translate (cr, 22, (top + bottom) / 2);
    cairo_rotate (cr, -G_PI / 2);
    text_at (cr, st->ylabel, 0, 0, 0.5, 0.5);
    cairo_restore (cr);
  }
  cairo_destroy (cr);

  g_autofree gchar *tmp = g_strdup_printf ("%s.tmp-%d", path, (gint)getpid ());
  cairo_status_t status = cairo_surface_write_to_png (surf, tmp);
  cairo_surface_destroy (surf);
  if (status != CAIRO_STATUS_SUCCESS) {
    g_unlink (tmp);
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO,
        "%s: cannot write the "
        "plot: %s",
        path, cairo_status_to_string (status));
    return FALSE;
  }
  if (g_rename (tmp, path) != 0) {
    gint e = errno;
    g_unlink (tmp);
    g_set_error (
        error, PHYSNN_ERROR, PHYSNN_ERROR_IO, "%s: %s", path, g_strerror (e));
    return FALSE;
  }
  return TRUE;
}
