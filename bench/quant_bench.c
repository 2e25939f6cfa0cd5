/* physnn — quant-bench: measured speed of quantized models against the
 * float32 model on one device, in one run, as JSON lines.
 *
 *   quant-bench -m MODEL.onnx|builtin:NAME [-p PLAN.json]... -n ROWS
 *       -d DEVICE -r REPEATS
 *
 * Inputs are uniform random numbers in [0, 1) shaped like the model's
 * inputs with ROWS rows. Each configuration runs once to warm up (kernel
 * builds, uploads), then REPEATS times; the median wall time of one
 * physnn_model_run (host to host) is reported. Compression figures are the
 * plan's exact bytes; the speed-up is this measurement, nothing estimated.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <physnn/physnn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
cmp_double (const void *a, const void *b)
{
  gdouble x = *(const gdouble *)a, y = *(const gdouble *)b;
  return x < y ? -1 : x > y;
}

static gdouble
time_model (PhysnnModel *m, PhysnnDevice *dev, PhysnnTensor **in, guint n,
    guint repeats, GError **error)
{
  g_autoptr (GPtrArray) w = physnn_model_run (m, dev, in, n, error);
  if (w == NULL)
    return -1;
  g_autofree gdouble *t = g_new (gdouble, repeats);
  for (guint r = 0; r < repeats; r++) {
    gint64 t0 = g_get_monotonic_time ();
    g_autoptr (GPtrArray) o = physnn_model_run (m, dev, in, n, error);
    if (o == NULL)
      return -1;
    /* results come back to the host: map the first output */
    physnn_tensor_map (g_ptr_array_index (o, 0), PHYSNN_MAP_READ, NULL);
    physnn_tensor_unmap (g_ptr_array_index (o, 0));
    t[r] = (g_get_monotonic_time () - t0) / 1e6;
  }
  qsort (t, repeats, sizeof (gdouble), cmp_double);
  return t[repeats / 2];
}

int
main (int argc, char **argv)
{
  gchar *model_spec = NULL, *device = NULL;
  gchar **plans = NULL;
  gint rows = 65536, repeats = 20;
  GOptionEntry entries[] = { { "model", 'm', 0, G_OPTION_ARG_STRING,
                                 &model_spec, "Model", "MODEL" },
    { "plan", 'p', 0, G_OPTION_ARG_FILENAME_ARRAY, &plans, "Plans", "FILE" },
    { "rows", 'n', 0, G_OPTION_ARG_INT, &rows, "Rows (samples, points)", "N" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "Device", "SPEC" },
    { "repeats", 'r', 0, G_OPTION_ARG_INT, &repeats, "Timed runs", "N" },
    { NULL } };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- quantized vs "
                                                         "float32 speed");
  g_autoptr (GError) error = NULL;
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || !model_spec ||
      rows < 1 || repeats < 1) {
    fprintf (
        stderr, "quant-bench: %s\n", error ? error->message : "give -m MODEL");
    return 2;
  }
  g_autoptr (PhysnnModel) m =
      g_str_has_prefix (model_spec, "builtin:")
          ? physnn_model_new_builtin (model_spec + 8, &error)
          : physnn_model_new_from_file (model_spec, &error);
  g_autoptr (PhysnnDevice) dev =
      m ? physnn_device_new (device ? device : "auto", &error) : NULL;
  if (dev == NULL) {
    fprintf (stderr, "quant-bench: %s\n", error->message);
    return 1;
  }
  guint n = physnn_model_get_n_inputs (m);
  g_autofree PhysnnTensor **in = g_new0 (PhysnnTensor *, n);
  g_autoptr (GRand) rng = g_rand_new_with_seed (1);
  for (guint i = 0; i < n; i++) {
    guint rank;
    const gint64 *dims = physnn_model_get_input_shape (m, i, &rank);
    gsize shape[8];
    for (guint d = 0; d < rank && d < 8; d++)
      shape[d] = dims[d] > 0 ? (gsize)dims[d] : (gsize)rows;
    in[i] = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, rank, shape);
    gfloat *p = physnn_tensor_map (in[i], PHYSNN_MAP_WRITE, NULL);
    for (gsize k = 0; k < physnn_tensor_get_n_elements (in[i]); k++)
      p[k] = (gfloat)g_rand_double (rng);
    physnn_tensor_unmap (in[i]);
  }
  gdouble tf = time_model (m, dev, in, n, repeats, &error);
  if (tf < 0) {
    fprintf (stderr, "quant-bench: float model: %s\n", error->message);
    return 1;
  }
  g_autofree gchar *exec = g_strescape (physnn_model_get_execution (m), NULL);
  printf (
      "{\"model\": \"%s\", \"device\": \"%s\", \"rows\": %d, "
      "\"precision\": \"fp32\", \"execution\": \"%s\", \"median_s\": %.6g}\n",
      model_spec, physnn_device_get_name (dev), rows, exec, tf);
  for (guint k = 0; plans && plans[k]; k++) {
    g_autoptr (PhysnnQuantPlan) p =
        physnn_quant_plan_new_from_file (m, plans[k], &error);
    g_autoptr (PhysnnModel) q = p ? physnn_quant_plan_apply (p, &error) : NULL;
    gdouble tq = q ? time_model (q, dev, in, n, repeats, &error) : -1;
    if (tq < 0) {
      fprintf (stderr, "quant-bench: %s: %s\n", plans[k], error->message);
      return 1;
    }
    guint64 f, b;
    gdouble ratio;
    physnn_quant_plan_estimate_compression (p, &f, &b, &ratio, NULL);
    g_autofree gchar *qexec =
        g_strescape (physnn_model_get_execution (q), NULL);
    printf ("{\"model\": \"%s\", \"device\": \"%s\", \"rows\": %d, "
            "\"plan\": \"%s\", \"average_bits\": %.4g, \"bytes\": "
            "%" G_GUINT64_FORMAT ", \"fp32_bytes\": %" G_GUINT64_FORMAT ", "
            "\"compression\": %.4g, \"execution\": \"%s\", \"median_s\": %.6g, "
            "\"fp32_median_s\": %.6g, \"measured_speedup\": %.4g}\n",
        model_spec, physnn_device_get_name (dev), rows, plans[k],
        physnn_quant_plan_get_average_bits (p), b, f, ratio, qexec, tq, tf,
        tf / tq);
    fflush (stdout);
  }
  for (guint i = 0; i < n; i++)
    g_object_unref (in[i]);
  g_strfreev (plans);
  g_free (model_spec);
  g_free (device);
  return 0;
}
