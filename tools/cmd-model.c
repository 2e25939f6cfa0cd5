/* physnn — `physnn inspect` and `physnn infer`.
 *
 *   physnn inspect MODEL
 *   physnn infer MODEL --grid x=0:1:256 --time 0.5 [--derivatives u_t,u_xx]
 *       [--device D] [--compare heat-1d|burgers-1d] [--csv FILE]
 *
 * MODEL is an ONNX file or builtin:NAME.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "commands.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

PhysnnModel *
physnn_cli_load_model (const gchar *spec, GError **error)
{
  if (g_str_has_prefix (spec, "builtin:"))
    return physnn_model_new_builtin (spec + 8, error);
  return physnn_model_new_from_file (spec, error);
}

int
physnn_cmd_inspect (int argc, char **argv)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new ("MODEL - describe "
      "an ONNX model: inputs, outputs, coordinates, ops, parameters, PDE");
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2) {
    g_printerr ("physnn inspect: %s\n", error ? error->message :
        "give one model (a file or builtin:NAME)");
    g_autofree gchar *list = physnn_model_list_builtins ();
    g_printerr ("builtins: %s\n", list);
    return 2;
  }
  g_autoptr (PhysnnModel) m = physnn_cli_load_model (argv[1], &error);
  if (m == NULL) {
    g_printerr ("physnn inspect: %s\n", error->message);
    return 1;
  }
  g_autofree gchar *d = physnn_model_describe (m);
  g_print ("%s", d);
  const gchar *keys[] = { "physnn.domain", "physnn.branch",
    "physnn.description", NULL
  };
  for (guint i = 0; keys[i]; i++)
    if (physnn_model_get_metadata (m, keys[i]))
      g_print ("%s: %s\n", keys[i] + 7, physnn_model_get_metadata (m,
              keys[i]));
  return 0;
}

/* "x=0:1:256" -> points */
static gboolean
parse_axis (const gchar *grid, gchar **name, gdouble *lo, gdouble *hi,
    gint *n)
{
  g_auto (GStrv) kv = g_strsplit (grid, "=", 2);
  if (!kv[0] || !kv[1])
    return FALSE;
  g_auto (GStrv) p = g_strsplit (kv[1], ":", 3);
  if (g_strv_length (p) != 3)
    return FALSE;
  *name = g_strdup (kv[0]);
  *lo = g_ascii_strtod (p[0], NULL);
  *hi = g_ascii_strtod (p[1], NULL);
  *n = atoi (p[2]);
  return *n >= 1 && *n <= (1 << 24);
}

int
physnn_cmd_infer (int argc, char **argv)
{
  gchar *grid = NULL, *derivs = NULL, *device = NULL, *compare = NULL,
      *csv = NULL;
  gdouble t = 0.0;
  GOptionEntry entries[] = {
    {"grid", 'g', 0, G_OPTION_ARG_STRING, &grid,
        "1-D grid of the space coordinate, e.g. x=0:1:256", "AXIS"},
    {"time", 't', 0, G_OPTION_ARG_DOUBLE, &t, "time coordinate", "T"},
    {"derivatives", 'D', 0, G_OPTION_ARG_STRING, &derivs,
        "derivatives to compute, e.g. u_t,u_xx", "LIST"},
    {"device", 'd', 0, G_OPTION_ARG_STRING, &device, "compute device",
        "SPEC"},
    {"compare", 'c', 0, G_OPTION_ARG_STRING, &compare,
        "compare u with the pdesrc simulator: heat-1d or burgers-1d "
        "(default settings)", "PDE"},
    {"csv", 0, 0, G_OPTION_ARG_FILENAME, &csv, "write x, u and derivatives",
        "FILE"},
    {NULL}
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("MODEL - evaluate "
      "a PINN with coordinates (x, t) on a grid at one time");
  g_autoptr (GError) error = NULL;
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2) {
    g_printerr ("physnn infer: %s\n", error ? error->message :
        "give one model");
    return 2;
  }
  g_autofree gchar *axis = NULL;
  gdouble lo, hi;
  gint n;
  if (!parse_axis (grid ? grid : "x=0:1:256", &axis, &lo, &hi, &n)) {
    g_printerr ("physnn infer: --grid must be NAME=MIN:MAX:COUNT\n");
    return 2;
  }
  g_autoptr (PhysnnModel) m = physnn_cli_load_model (argv[1], &error);
  g_autoptr (PhysnnDevice) dev = m ? physnn_device_new (device, &error) :
      NULL;
  if (dev == NULL || !physnn_model_set_derivatives (m, derivs, &error)) {
    g_printerr ("physnn infer: %s\n", error->message);
    return 1;
  }
  if (physnn_device_get_fallback_reason (dev))
    g_printerr ("warning: %s\n", physnn_device_get_fallback_reason (dev));
  g_auto (GStrv) names = g_strsplit (physnn_model_get_coordinate_names (m),
      ",", -1);
  guint d = g_strv_length (names);
  gsize shape[2] = { (gsize) n, d };
  g_autoptr (PhysnnTensor) pts = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2,
      shape);
  gfloat *p = physnn_tensor_map (pts, PHYSNN_MAP_WRITE, NULL);
  for (gint i = 0; i < n; i++)
    for (guint c = 0; c < d; c++)
      p[i * d + c] = strcmp (names[c], axis) == 0 ? (gfloat) (n == 1 ? lo :
          lo + (hi - lo) * i / (n - 1)) : (gfloat) t;
  physnn_tensor_unmap (pts);
  if (physnn_model_get_n_inputs (m) != 1) {
    g_printerr ("physnn infer: the model has %u inputs; this command feeds "
        "coordinates only (use pinninfer in a pipeline for DeepONets)\n",
        physnn_model_get_n_inputs (m));
    return 1;
  }
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (GPtrArray) out = physnn_model_run (m, dev, &pts, 1, &error);
  if (out == NULL) {
    g_printerr ("physnn infer: %s\n", error->message);
    return 1;
  }
  gdouble ms = (g_get_monotonic_time () - t0) / 1000.0;
  g_print ("%s: %d points at t = %g on %s in %.2f ms (%s)\n", argv[1], n, t,
      physnn_device_get_spec (dev), ms, physnn_model_get_execution (m));

  if (csv) {
    GString *s = g_string_new (axis);
    g_string_append (s, ",u");
    for (guint k = 0; k < physnn_model_get_n_derivatives (m); k++)
      g_string_append_printf (s, ",%s", physnn_model_get_derivative_name (m,
              k));
    g_string_append_c (s, '\n');
    for (gint i = 0; i < n; i++) {
      g_string_append_printf (s, "%.7g", n == 1 ? lo : lo + (hi - lo) * i /
          (n - 1));
      for (guint k = 0; k < out->len; k++)
        g_string_append_printf (s, ",%.7g",
            physnn_tensor_get_value (out->pdata[k], (gsize) i *
                (k == 0 ? physnn_tensor_get_n_elements (out->pdata[0]) / n :
                    1)));
      g_string_append_c (s, '\n');
    }
    if (!g_file_set_contents (csv, s->str, (gssize) s->len, &error)) {
      g_printerr ("physnn infer: %s\n", error->message);
      return 1;
    }
    g_string_free (s, TRUE);
    g_print ("wrote %s\n", csv);
  }

  if (compare) {
    PhysnnPdeKind kind;
    if (strcmp (compare, "heat-1d") == 0)
      kind = PHYSNN_PDE_HEAT_1D;
    else if (strcmp (compare, "burgers-1d") == 0)
      kind = PHYSNN_PDE_BURGERS_1D;
    else {
      g_printerr ("physnn infer: --compare takes heat-1d or burgers-1d\n");
      return 2;
    }
    g_autoptr (PhysnnSimulator) sim = physnn_simulator_new (kind);
    if (!physnn_simulator_reset (sim, &error) ||
        !physnn_simulator_advance (sim, t, &error)) {
      g_printerr ("physnn infer: %s\n", error->message);
      return 1;
    }
    gdouble num = 0, den = 0;
    for (gint i = 0; i < n; i++) {
      gdouble x = n == 1 ? lo : lo + (hi - lo) * i / (n - 1);
      gdouble ref = physnn_simulator_sample (sim, x, 0);
      gdouble u = physnn_tensor_get_value (out->pdata[0], (gsize) i);
      num += (u - ref) * (u - ref);
      den += ref * ref;
    }
    g_print ("relative L2 error against the %s simulator at t = %g: %.3g\n",
        compare, t, sqrt (num / MAX (den, 1e-300)));
  }
  return 0;
}
