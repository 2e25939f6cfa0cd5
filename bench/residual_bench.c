/* physnn — residual explainer benchmark: what residualexplain does per
 * frame, through the engine, on one device. Prints one JSON object.
 *
 *   residual-bench [--model builtin:heat1d-pinn] [--pde "u_t - 0.1*u_xx"]
 *       [--grid 256x256] [--device opencl] [--frames 1000]
 *       [--points N]     (residual-only throughput on N random points)
 *
 * Frames: the model on an x-t grid (x fastest), its PDE residual by
 * forward-mode jets and the generated residual kernel, then, on the host,
 * |r| drawn as an RGB heatmap (nearest-neighbour, log scale, colour bar) of
 * the grid's size. Figures, each the mean over --frames frames after one
 * warm-up frame, wall time including every transfer:
 *   residual_fps       the residual, read back to host memory
 *   heatmap_fps        residual + heatmap drawn on the device, the picture
 *                      read back (what the issue's target counts)
 *   host_heatmap_fps   residual read back, heatmap drawn by the C path
 *   element_fps        residual + statistics on the host (RMS, p99, 5
 *                      hotspots) + heatmap on the device: residualexplain's
 *                      per-buffer work on a 2-D grid
 * With --points: the residual of N points, best of --repeat, in Mpts/s, to
 * set beside PyTorch autograd (bench/torch_residual.py).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <physnn/physnn.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

static gchar *model_spec = "builtin:heat1d-pinn";
static gchar *pde_text = "u_t - 0.1*u_xx";
static gchar *grid_spec = "256x256";
static gchar *device_spec = "opencl";
static gint frames = 1000;
static gint points = 0;
static gint repeat = 5;

static GOptionEntry entries[] = {
  { "model", 'm', 0, G_OPTION_ARG_STRING, &model_spec,
      "ONNX model or builtin:NAME", "M" },
  { "pde", 'p', 0, G_OPTION_ARG_STRING, &pde_text, "the PDE", "PDE" },
  { "grid", 'g', 0, G_OPTION_ARG_STRING, &grid_spec, "NXxNT points", "G" },
  { "device", 'd', 0, G_OPTION_ARG_STRING, &device_spec, "device", "D" },
  { "frames", 'f', 0, G_OPTION_ARG_INT, &frames, "frames timed", "F" },
  { "points", 'n', 0, G_OPTION_ARG_INT, &points, "residual-only on N points",
      "N" },
  { "repeat", 'r', 0, G_OPTION_ARG_INT, &repeat, "repeats (with --points)",
      "R" },
  { NULL },
};

static void
die (const gchar *what, GError *error)
{
  g_printerr ("residual-bench: %s: %s\n", what, error ? error->message : "");
  exit (1);
}

/* |r| per point, float32 */
static void
magnitude (PhysnnTensor *r, PhysnnTensor *mag)
{
  gsize n = physnn_tensor_get_n_elements (r);
  const gfloat *v = physnn_tensor_map (r, PHYSNN_MAP_READ, NULL);
  gfloat *m = physnn_tensor_map (mag, PHYSNN_MAP_WRITE, NULL);
  for (gsize i = 0; i < n; i++)
    m[i] = fabsf (v[i]);
  physnn_tensor_unmap (mag);
  physnn_tensor_unmap (r);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("- residual benchmark");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    die ("options", error);

  g_autoptr (PhysnnDevice) dev = physnn_device_new (device_spec, &error);
  if (dev == NULL)
    die ("device", error);
  g_autoptr (PhysnnModel) model =
      g_str_has_prefix (model_spec, "builtin:")
          ? physnn_model_new_builtin (model_spec + 8, &error)
          : physnn_model_new_from_file (model_spec, &error);
  if (model == NULL)
    die ("model", error);
  g_autoptr (PhysnnPde) pde = physnn_pde_new (pde_text, &error);
  if (pde == NULL)
    die ("pde", error);

  if (points > 0) {
    /* residual-only throughput on random points in [0,1]² */
    gsize shape[2] = { (gsize)points, 2 };
    g_autoptr (PhysnnTensor) x =
        physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
    gfloat *p = physnn_tensor_map (x, PHYSNN_MAP_WRITE, NULL);
    GRand *rand = g_rand_new_with_seed (1);
    for (gsize i = 0; i < 2 * (gsize)points; i++)
      p[i] = (gfloat)g_rand_double (rand);
    g_rand_free (rand);
    physnn_tensor_unmap (x);
    gdouble best = INFINITY;
    for (gint r = 0; r <= repeat; r++) {
      gint64 t0 = g_get_monotonic_time ();
      g_autoptr (PhysnnTensor) res =
          physnn_pde_residual (pde, model, dev, &x, 1, NULL, &error);
      if (res == NULL)
        die ("residual", error);
      physnn_tensor_map (res, PHYSNN_MAP_READ, NULL);
      physnn_tensor_unmap (res);
      gdouble s = (g_get_monotonic_time () - t0) * 1e-6;
      if (r > 0) /* the first run compiles */
        best = MIN (best, s);
    }
    printf (
        "{\"bench\": \"residual-points\", \"model\": \"%s\", \"pde\": \"%s\", "
        "\"device\": \"%s\", \"device_name\": \"%s\", \"execution\": \"%s\", "
        "\"points\": %d, \"best_s\": %.6g, \"mpts_per_s\": %.6g}\n",
        model_spec, pde_text, physnn_device_get_spec (dev),
        physnn_device_get_name (dev), physnn_model_get_execution (model),
        points, best, points / best / 1e6);
    return 0;
  }

  guint nx = 0, nt = 0;
  if (sscanf (grid_spec, "%ux%u", &nx, &nt) != 2 || nx == 0 || nt == 0)
    die ("grid must be NXxNT", NULL);
  gsize n = (gsize)nx * nt, shape[2] = { n, 2 }, s1[1] = { n };
  g_autoptr (PhysnnTensor) coords =
      physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  gfloat *c = physnn_tensor_map (coords, PHYSNN_MAP_WRITE, NULL);
  for (gsize i = 0; i < n; i++) {
    c[2 * i] = (gfloat)(i % nx) / MAX (nx - 1, 1);
    c[2 * i + 1] = (gfloat)(i / nx) / MAX (nt - 1, 1);
  }
  physnn_tensor_unmap (coords);
  g_autoptr (PhysnnTensor) mag =
      physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, s1);
  guint bar = 16, w = nx + bar + 2, h = nt;
  g_autofree guint8 *rgb = g_malloc ((gsize)w * h * 3);
  gsize pshape[3] = { h, w, 3 };
  g_autoptr (PhysnnTensor) pic =
      physnn_tensor_new (PHYSNN_DTYPE_UINT8, 3, pshape);
  gsize grid[2] = { nx, nt };
  gdouble fps[4] = { 0 };
  gdouble rms = 0;
  gsize differing = 0;

  for (gint mode = 0; mode < 4; mode++) {
    gint64 t0 = 0;
    for (gint f = -1; f < frames; f++) {
      if (f == 0)
        t0 = g_get_monotonic_time ();
      g_autoptr (PhysnnTensor) r =
          physnn_pde_residual (pde, model, dev, &coords, 1, NULL, &error);
      if (r == NULL)
        die ("residual", error);
      if (mode == 0) { /* the residual in host memory */
        physnn_tensor_map (r, PHYSNN_MAP_READ, NULL);
        physnn_tensor_unmap (r);
      } else if (mode == 2) { /* the residual back, drawn by the C path */
        magnitude (r, mag);
        if (!physnn_heatmap_render (mag, nx, nt, 1e-7, 1e-2, TRUE,
                PHYSNN_COLORMAP_INFERNO, bar, rgb, w, h, (gsize)w * 3, &error))
          die ("heatmap", error);
      } else {           /* drawn where it is, the picture to host memory */
        if (mode == 3) { /* and statistics on the host */
          g_autoptr (PhysnnResidualStats) st =
              physnn_residual_stats_new (r, 5, grid, 2, &error);
          if (st == NULL)
            die ("stats", error);
          rms = physnn_residual_stats_get_rms (st);
        }
        if (!physnn_heatmap_render_residual (dev, r, nx, nt, 1e-7, 1e-2, TRUE,
                PHYSNN_COLORMAP_INFERNO, bar, pic, w, &error))
          die ("heatmap", error);
        physnn_tensor_map (pic, PHYSNN_MAP_READ, NULL);
        physnn_tensor_unmap (pic);
      }
    }
    fps[mode] = frames / ((g_get_monotonic_time () - t0) * 1e-6);
  }
  /* the device's picture against the C path's: colour indices computed in
   * float32 may differ by one step on a boundary */
  const guint8 *a = physnn_tensor_map (pic, PHYSNN_MAP_READ, NULL);
  for (gsize i = 0; i < (gsize)w * h; i++)
    differing += memcmp (a + 3 * i, rgb + 3 * i, 3) != 0;
  physnn_tensor_unmap (pic);
  printf (
      "{\"bench\": \"residual-frames\", \"model\": \"%s\", \"pde\": \"%s\", "
      "\"device\": \"%s\", \"device_name\": \"%s\", \"execution\": \"%s\", "
      "\"grid\": \"%ux%u\", \"frames\": %d, \"residual_fps\": %.6g, "
      "\"heatmap_fps\": %.6g, \"host_heatmap_fps\": %.6g, "
      "\"element_fps\": %.6g, \"residual_rms\": %.6g, "
      "\"pixels_differing_from_c_path\": %" G_GSIZE_FORMAT "}\n",
      model_spec, pde_text, physnn_device_get_spec (dev),
      physnn_device_get_name (dev), physnn_model_get_execution (model), nx, nt,
      frames, fps[0], fps[1], fps[2], fps[3], rms, differing);
  return 0;
}
