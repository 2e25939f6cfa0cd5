/* physnn — PINN inference benchmark: forward pass and the heat-residual
 * inputs (u, u_t, u_xx) of an ONNX MLP on N points, on one device, plus the
 * device's measured FP32 peak as the ceiling. Prints one JSON object.
 *
 *   pinn-bench --model mlp.onnx --points 262144 --device opencl [--repeat 5]
 *
 * Times are the best of --repeat runs: wall time per evaluation including
 * host<->device transfers ("*_s"), and the summed kernel time from OpenCL
 * profiling events ("*_kernel_s"), which is what the device itself spent.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <physnn/physnn.h>
#include <physnn/device-private.h>
#include <physnn/model-private.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

/* A chain of independent FMAs on float8 vectors: the compute ceiling as an
 * OpenCL kernel sees it (what clpeak measures), 2 FLOP per FMA lane. */
static const gchar *peak_src =
    "__kernel void peak (__global float *out, const float a, const float b)\n"
    "{\n"
    "  float8 x = (float8) (get_global_id (0) * 1e-9f), y = x + 1.0f;\n"
    "  float8 z = y + 2.0f, w = z + 3.0f;\n"
    "  for (int i = 0; i < 256; i++) {\n"
    "    x = fma (x, a, b); y = fma (y, a, b); z = fma (z, a, b); w = fma (w, a, b);\n"
    "    x = fma (x, a, b); y = fma (y, a, b); z = fma (z, a, b); w = fma (w, a, b);\n"
    "  }\n"
    "  float8 s = x + y + z + w;\n"
    "  out[get_global_id (0)] = s.s0 + s.s1 + s.s2 + s.s3 + s.s4 + s.s5 + s.s6 + s.s7;\n"
    "}\n";

static gdouble
measure_peak (PhysnnDevice *dev)
{
  g_autoptr (GError) error = NULL;
  cl_program prog = _physnn_device_build_source (dev, "peak", peak_src,
      "-cl-mad-enable", &error);
  if (prog == NULL) {
    g_printerr ("peak kernel: %s\n", error->message);
    return NAN;
  }
  cl_int st;
  cl_kernel k = clCreateKernel (prog, "peak", &st);
  gsize global = (gsize) physnn_device_get_compute_units (dev) * 4096;
  cl_mem out = clCreateBuffer (_physnn_device_get_context (dev),
      CL_MEM_WRITE_ONLY, global * 4, NULL, &st);
  gfloat a = 0.999f, b = 0.001f;
  clSetKernelArg (k, 0, sizeof out, &out);
  clSetKernelArg (k, 1, sizeof a, &a);
  clSetKernelArg (k, 2, sizeof b, &b);
  gdouble best = 0;
  physnn_device_set_profiling (dev, TRUE);
  for (int rep = 0; rep < 5; rep++) {
    physnn_device_reset_counters (dev);
    if (!_physnn_device_enqueue (dev, k, 1, &global, NULL, &error))
      break;
    gdouble s = physnn_device_get_kernel_time_ns (dev) * 1e-9;
    gdouble flops = (gdouble) global * 256 * 8 * 8 * 2;
    if (s > 0)
      best = MAX (best, flops / s);
  }
  physnn_device_set_profiling (dev, FALSE);
  clReleaseMemObject (out);
  clReleaseKernel (k);
  clReleaseProgram (prog);
  return best / 1e9;
}

/* JSON has no NaN: unmeasured figures are null. */
static const gchar *
num (gchar *buf, gdouble v)
{
  if (isnan (v))
    return "null";
  g_snprintf (buf, 32, "%.6g", v);
  return buf;
}

static guint64
forward_flops (PhysnnModel *model)
{
  /* 2 FLOP per weight of each Gemm: the count everyone quotes. */
  PhysnnGraph *g = _physnn_model_get_graph (model);
  guint64 f = 0;
  for (guint i = 0; i < g->nodes->len; i++) {
    PhysnnNode *n = g_ptr_array_index (g->nodes, i);
    if (n->kind == PHYSNN_OP_GEMM || n->kind == PHYSNN_OP_MATMUL) {
      PhysnnValue *w = g_ptr_array_index (g->values, n->inputs[1]);
      if (w->constant)
        f += 2 * physnn_tensor_get_n_elements (w->constant);
    }
  }
  return f;
}

/* readback: the results count once they are in host memory; without it,
 * once the device has finished (results left on the device, as PyTorch CUDA
 * leaves its tensors: the like-for-like comparison). */
static gboolean
time_run (PhysnnModel *model, PhysnnDevice *dev, PhysnnTensor *pts,
    gint repeat, gboolean readback, gdouble *wall, gdouble *kernel,
    GError **error)
{
  *wall = *kernel = INFINITY;
  for (gint r = -1; r < repeat; r++) {        /* r = -1: warm-up */
    physnn_device_reset_counters (dev);
    gint64 t0 = g_get_monotonic_time ();
    g_autoptr (GPtrArray) out = physnn_model_run (model, dev, &pts, 1, error);
    if (out == NULL)
      return FALSE;
    if (readback) {
      for (guint i = 0; i < out->len; i++) {
        physnn_tensor_map (out->pdata[i], PHYSNN_MAP_READ, NULL);
        physnn_tensor_unmap (out->pdata[i]);
      }
    } else if (!physnn_device_finish (dev, error)) {
      return FALSE;
    }
    gint64 t1 = g_get_monotonic_time ();
    if (r >= 0) {
      *wall = MIN (*wall, (t1 - t0) * 1e-6);
      *kernel = MIN (*kernel, physnn_device_get_kernel_time_ns (dev) * 1e-9);
    }
  }
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_autofree gchar *model_path = NULL, *device = NULL, *dump = NULL;
  gint points = 262144, repeat = 5;
  gboolean profile = FALSE;
  GOptionEntry entries[] = {
    {"model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, "ONNX MLP", NULL},
    {"points", 'n', 0, G_OPTION_ARG_INT, &points, "points per run", NULL},
    {"device", 'd', 0, G_OPTION_ARG_STRING, &device, "device spec", NULL},
    {"repeat", 'r', 0, G_OPTION_ARG_INT, &repeat, "timed runs", NULL},
    {"kernel-time", 'k', 0, G_OPTION_ARG_NONE, &profile,
        "also sum kernel times (serialises launches)", NULL},
    {"dump", 0, 0, G_OPTION_ARG_FILENAME, &dump,
        "write points and results (u, u_t, u_xx) of the first 4096 points as "
        "raw float32 to PREFIX.{x,u,ut,uxx,uf}.f32 for checking (uf: values "
        "computed without derivatives)", "PREFIX"},
    {NULL}
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- PINN benchmark");
  g_autoptr (GError) error = NULL;
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || !model_path) {
    g_printerr ("pinn-bench: %s\n", error ? error->message : "--model needed");
    return 2;
  }
  g_autoptr (PhysnnDevice) dev = physnn_device_new (device, &error);
  g_autoptr (PhysnnModel) model = dev ? physnn_model_new_from_file (model_path,
      &error) : NULL;
  if (model == NULL) {
    g_printerr ("pinn-bench: %s\n", error->message);
    return 1;
  }
  gsize shape[2] = { (gsize) points, 2 };
  g_autoptr (PhysnnTensor) pts = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2,
      shape);
  gfloat *p = physnn_tensor_map (pts, PHYSNN_MAP_WRITE, NULL);
  GRand *rand = g_rand_new_with_seed (1);
  for (gsize i = 0; i < (gsize) points * 2; i++)
    p[i] = (gfloat) g_rand_double (rand);
  g_rand_free (rand);
  physnn_tensor_unmap (pts);

  gdouble peak = physnn_device_get_kind (dev) == PHYSNN_DEVICE_KIND_OPENCL ?
      measure_peak (dev) : NAN;
  gdouble fw, fk, rw, rk, fd, rd, unused;
  physnn_model_set_coordinates (model, physnn_model_get_input_name (model, 0),
      "x,t", NULL);
  /* first without profiling (which serialises launches): results left on
   * the device; then with it, reading the results back */
  if (!time_run (model, dev, pts, repeat, FALSE, &fd, &unused, &error) ||
      !physnn_model_set_derivatives (model, "u_t,u_xx", &error) ||
      !time_run (model, dev, pts, repeat, FALSE, &rd, &unused, &error) ||
      !physnn_model_set_derivatives (model, NULL, &error)) {
    g_printerr ("pinn-bench: %s\n", error->message);
    return 1;
  }
  physnn_device_set_profiling (dev, profile);
  if (!time_run (model, dev, pts, repeat, TRUE, &fw, &fk, &error) ||
      !physnn_model_set_derivatives (model, "u_t,u_xx", &error) ||
      !time_run (model, dev, pts, repeat, TRUE, &rw, &rk, &error)) {
    g_printerr ("pinn-bench: %s\n", error->message);
    return 1;
  }
  if (dump) {
    /* results on a small batch, for an independent check against PyTorch */
    gsize cshape[2] = { MIN ((gsize) points, 4096), 2 };
    g_autoptr (PhysnnTensor) few = physnn_tensor_view (pts, 0, 2, cshape,
        NULL);
    g_autoptr (GPtrArray) out = physnn_model_run (model, dev, &few, 1, &error);
    if (out == NULL) {
      g_printerr ("pinn-bench: %s\n", error->message);
      return 1;
    }
    const gchar *names[4] = { "x", "u", "ut", "uxx" };
    for (guint i = 0; i < 4; i++) {
      PhysnnTensor *t = i == 0 ? few : out->pdata[i - 1];
      g_autofree gchar *path = g_strdup_printf ("%s.%s.f32", dump, names[i]);
      g_autoptr (GBytes) b = physnn_tensor_get_bytes (t);
      g_file_set_contents (path, g_bytes_get_data (b, NULL),
          (gssize) g_bytes_get_size (b), NULL);
    }
    /* and the values alone, which run another kernel shape */
    g_autoptr (GPtrArray) fwd = NULL;
    if (!physnn_model_set_derivatives (model, NULL, &error) ||
        !(fwd = physnn_model_run (model, dev, &few, 1, &error))) {
      g_printerr ("pinn-bench: %s\n", error->message);
      return 1;
    }
    g_autofree gchar *path = g_strdup_printf ("%s.uf.f32", dump);
    g_autoptr (GBytes) b = physnn_tensor_get_bytes (fwd->pdata[0]);
    g_file_set_contents (path, g_bytes_get_data (b, NULL),
        (gssize) g_bytes_get_size (b), NULL);
  }
  guint64 flops = forward_flops (model);
  gchar b[4][32];
  g_print ("{\"tool\": \"physnn (%s)\", \"device\": \"%s\", \"points\": %d, "
      "\"forward_s\": %.6g, \"forward_mpts\": %.6g, \"forward_gflops\": %.6g, "
      "\"residual_s\": %.6g, \"residual_mpts\": %.6g, "
      "\"forward_on_device_s\": %.6g, \"forward_on_device_mpts\": %.6g, "
      "\"residual_on_device_s\": %.6g, \"residual_on_device_mpts\": %.6g, "
      "\"forward_kernel_s\": %s, \"residual_kernel_s\": %s, "
      "\"peak_gflops\": %s, \"execution\": \"%s\"}\n",
      physnn_device_get_spec (dev), physnn_device_get_name (dev), points, fw,
      points / fw / 1e6, points * (gdouble) flops / fw / 1e9, rw,
      points / rw / 1e6, fd, points / fd / 1e6, rd, points / rd / 1e6,
      num (b[0], profile ? fk : NAN),
      num (b[1], profile ? rk : NAN), num (b[2], peak),
      physnn_model_get_execution (model));
  return 0;
}
