/* Element tests: residualexplain on a model written by the test, whose
 * residual, condition values, attributions and sensor predictions are known
 * in closed form: u = tanh (ax x + at t + b), so with s = 1 - u²
 *   u_x = ax s, u_t = at s, u_xx = -2 ax² u s,
 *   integrated gradients from 0: IG_j = a_j c_j (u(c) - tanh b) / (a·c).
 * Downstream of pinninfer (from the meta, with and without the buffer's
 * derivative tensors) and standalone; tensors and heatmap output; the
 * sensor misfit and its flags; the errors a user meets. */
#include <gst/app/gstappsrc.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <physnn/onnx-private.h>
#include <physnn/physnn.h>

#include "gstresidualmeta.h"

#include <gst/video/video.h>

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#define AX 0.7
#define AT (-1.3)
#define B 0.2
#define ALPHA 0.1

static gchar *tmpdir;
static gchar *model_path;

/* u = tanh (coords · [AX, AT] + B), coords [N,2] named x,t; with @branch
 * > 0 also a DeepONet-like "branch" input [1,branch] whose sum is added. */
static gchar *
write_model (guint branch, const gchar *name)
{
  g_autoptr (PhysnnOnnxModel) m = physnn_onnx_model_new ();
  gint64 cdims[2] = { -1, 2 }, odims[2] = { -1, 1 }, bdims[2] = { 1, branch };
  gsize wshape[2] = { 2, 1 }, bshape[1] = { 1 };
  gdouble w[2] = { AX, AT }, bb = B;

  m->opset = 13;
  if (branch)
    g_ptr_array_add (m->inputs,
        physnn_onnx_value_info_new ("branch", PHYSNN_DTYPE_FLOAT32, 2, bdims));
  g_ptr_array_add (m->inputs,
      physnn_onnx_value_info_new ("coords", PHYSNN_DTYPE_FLOAT32, 2, cdims));
  g_ptr_array_add (m->outputs,
      physnn_onnx_value_info_new ("u", PHYSNN_DTYPE_FLOAT32, 2, odims));
  g_ptr_array_add (m->initializer_names, g_strdup ("w"));
  g_hash_table_insert (m->initializers, g_strdup ("w"),
      physnn_tensor_new_from_doubles (
          PHYSNN_DTYPE_FLOAT32, 2, wshape, w, 2, NULL));
  g_ptr_array_add (m->initializer_names, g_strdup ("b"));
  g_hash_table_insert (m->initializers, g_strdup ("b"),
      physnn_tensor_new_from_doubles (
          PHYSNN_DTYPE_FLOAT32, 1, bshape, &bb, 1, NULL));
  PhysnnOnnxNode *n = physnn_onnx_node_new ("Gemm", "lin");
  g_ptr_array_add (n->inputs, g_strdup ("coords"));
  g_ptr_array_add (n->inputs, g_strdup ("w"));
  g_ptr_array_add (n->inputs, g_strdup ("b"));
  g_ptr_array_add (n->outputs, g_strdup ("z"));
  g_ptr_array_add (m->nodes, n);
  n = physnn_onnx_node_new ("Tanh", "act");
  g_ptr_array_add (n->inputs, g_strdup ("z"));
  g_ptr_array_add (n->outputs, g_strdup (branch ? "h" : "u"));
  g_ptr_array_add (m->nodes, n);
  if (branch) {
    n = physnn_onnx_node_new ("ReduceSum", "bsum");
    g_ptr_array_add (n->inputs, g_strdup ("branch"));
    g_ptr_array_add (n->outputs, g_strdup ("s"));
    PhysnnOnnxAttribute *k =
        physnn_onnx_attribute_new ("keepdims", PHYSNN_ONNX_ATTR_INT);
    k->i = 1;
    g_ptr_array_add (n->attributes, k);
    g_ptr_array_add (m->nodes, n);
    n = physnn_onnx_node_new ("Add", "plus");
    g_ptr_array_add (n->inputs, g_strdup ("h"));
    g_ptr_array_add (n->inputs, g_strdup ("s"));
    g_ptr_array_add (n->outputs, g_strdup ("u"));
    g_ptr_array_add (m->nodes, n);
  }
  g_hash_table_insert (
      m->metadata, g_strdup ("physnn.coords"), g_strdup ("x,t"));
  gchar *path = g_build_filename (tmpdir, name, NULL);
  g_assert_true (physnn_onnx_model_save (m, path, NULL));
  return path;
}

static gdouble
u_at (gdouble x, gdouble t)
{
  return tanh (AX * x + AT * t + B);
}

/* u_t - ALPHA*u_xx */
static gdouble
residual_at (gdouble x, gdouble t)
{
  gdouble u = u_at (x, t), s = 1 - u * u;
  return AT * s - ALPHA * (-2 * AX * AX * u * s);
}

static gfloat
value_at (GstBuffer *b, guint mem, guint i)
{
  GstMapInfo map;
  gst_memory_map (gst_buffer_peek_memory (b, mem), &map, GST_MAP_READ);
  gfloat v = ((gfloat *)map.data)[i];
  gst_memory_unmap (gst_buffer_peek_memory (b, mem), &map);
  return v;
}

static GstBuffer *
tensors_buffer (guint n, const gfloat **data, const gsize *counts)
{
  GstBuffer *in = gst_buffer_new ();
  for (guint i = 0; i < n; i++) {
    gpointer p = g_memdup2 (data[i], counts[i] * sizeof (gfloat));
    gst_buffer_append_memory (
        in, gst_memory_new_wrapped (0, p, counts[i] * sizeof (gfloat), 0,
                counts[i] * sizeof (gfloat), p, g_free));
  }
  return in;
}

static GstBuffer *
dummy_buffer (GstClockTime pts)
{
  gfloat v[4] = { 0 };
  GstBuffer *b = gst_buffer_new_memdup (v, sizeof v);
  GST_BUFFER_PTS (b) = pts;
  return b;
}

static const GstStructure *
info_of (GstBuffer *out)
{
  GstResidualMeta *meta = gst_buffer_get_residual_meta (out);
  fail_unless (meta != NULL && meta->info != NULL);
  return meta->info;
}

static gdouble
dbl (const GstStructure *s, const gchar *field)
{
  gdouble v = NAN;
  fail_unless (gst_structure_get_double (s, field, &v), "no field %s", field);
  return v;
}

/* Downstream of pinninfer: the residual of the points it evaluated, at the
 * time it fed, from its meta alone; from the buffer's own derivative
 * tensors when they suffice. */
GST_START_TEST (test_after_pinninfer)
{
  const gchar *devices[] = { "cpu", "auto" };
  const gchar *derivs[] = { "", " derivatives=u_t,u_xx", " derivatives=u_xx" };
  for (guint d = 0; d < G_N_ELEMENTS (devices); d++)
    for (guint k = 0; k < G_N_ELEMENTS (derivs); k++) {
      g_autofree gchar *launch = g_strdup_printf (
          "pinninfer model=%s grid=x=0:1:11 device=%s%s ! residualexplain "
          "pde=\"u_t - alpha*u_xx\" parameters=alpha=%g device=%s top-k=3",
          model_path, devices[d], derivs[k], ALPHA, devices[d]);
      GstHarness *h = gst_harness_new_parse (launch);
      GstBus *bus = gst_bus_new ();
      gst_element_set_bus (h->element, bus);
      gst_harness_set_src_caps_str (h,
          "other/tensors, format=static, types=float32, "
          "dimensions=(string)4, framerate=10/1");
      GstBuffer *out = gst_harness_push_and_pull (h, dummy_buffer (GST_SECOND));
      gdouble ss = 0, mx = 0;
      guint arg = 0;
      for (guint i = 0; i < 11; i++) {
        gdouble r = residual_at (i / 10.0, 1.0);
        fail_unless (fabs (value_at (out, 0, i) - r) < 2e-5, "%s%s point %u",
            devices[d], derivs[k], i);
        ss += r * r;
        if (fabs (r) > mx) {
          mx = fabs (r);
          arg = i;
        }
      }
      const GstStructure *s = info_of (out);
      fail_unless (fabs (dbl (s, "rms") - sqrt (ss / 11)) < 2e-5);
      fail_unless (fabs (dbl (s, "max") - mx) < 2e-5);
      fail_unless (fabs (dbl (s, "time") - 1.0) < 1e-12);
      fail_unless_equals_string (gst_structure_get_string (s, "evaluation"),
          k == 1 ? "buffer" : "model");
      const GValue *hs = gst_structure_get_value (s, "hotspots");
      fail_unless (gst_value_list_get_size (hs) >= 1);
      const GstStructure *h0 =
          gst_value_get_structure (gst_value_list_get_value (hs, 0));
      guint64 idx;
      fail_unless (gst_structure_get_uint64 (h0, "index", &idx));
      fail_unless_equals_uint64 (idx, arg);
      fail_unless (fabs (dbl (h0, "x") - arg / 10.0) < 1e-6);
      fail_unless (fabs (dbl (h0, "t") - 1.0) < 1e-6);
      /* the same numbers on the bus */
      GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
      fail_unless (msg != NULL);
      const GstStructure *ms = gst_message_get_structure (msg);
      fail_unless (gst_structure_has_name (ms, "physnn-residual"));
      fail_unless (dbl (ms, "rms") == dbl (s, "rms"));
      gst_message_unref (msg);
      gst_buffer_unref (out);
      gst_bus_set_flushing (bus, TRUE);
      gst_element_set_bus (h->element, NULL);
      gst_object_unref (bus);
      gst_harness_teardown (h);
    }
}
GST_END_TEST;

/* Boundary and initial conditions: u and u_x on the faces x = 0 and 1, and
 * u at t = 0 against a closed form that is wrong by a known amount. */
GST_START_TEST (test_conditions)
{
  g_autofree gchar *launch = g_strdup_printf (
      "residualexplain model=%s grid=x=0:1:11 device=cpu "
      "pde=\"u_t - 0.1*u_xx\" conditions=\"x=0: u; x=1: u_x; t=0: u - "
      "tanh(0.7*x)\"",
      model_path);
  GstHarness *h = gst_harness_new_parse (launch);
  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
                                   "types=float32, dimensions=(string)4");
  GstBuffer *out = gst_harness_push_and_pull (h, dummy_buffer (GST_SECOND / 2));
  const GValue *cs = gst_structure_get_value (info_of (out), "conditions");
  fail_unless_equals_int (gst_value_list_get_size (cs), 3);
  const GstStructure *c0 =
      gst_value_get_structure (gst_value_list_get_value (cs, 0));
  const GstStructure *c1 =
      gst_value_get_structure (gst_value_list_get_value (cs, 1));
  const GstStructure *c2 =
      gst_value_get_structure (gst_value_list_get_value (cs, 2));
  guint64 pts;
  fail_unless (gst_structure_get_uint64 (c0, "points", &pts));
  fail_unless_equals_uint64 (pts, 1); /* one time: one point per face */
  fail_unless (fabs (dbl (c0, "max") - fabs (u_at (0, 0.5))) < 1e-6);
  gdouble u1 = u_at (1, 0.5);
  fail_unless (fabs (dbl (c1, "max") - fabs (AX * (1 - u1 * u1))) < 1e-6);
  /* t = 0: u - tanh(0.7x) = tanh(0.7x + 0.2) - tanh(0.7x) */
  gdouble ss = 0, mx = 0;
  for (guint i = 0; i < 11; i++) {
    gdouble v = u_at (i / 10.0, 0) - tanh (0.7 * i / 10.0);
    ss += v * v;
    mx = MAX (mx, fabs (v));
  }
  fail_unless (gst_structure_get_uint64 (c2, "points", &pts));
  fail_unless_equals_uint64 (pts, 11);
  fail_unless (fabs (dbl (c2, "rms") - sqrt (ss / 11)) < 1e-6);
  fail_unless (fabs (dbl (c2, "max") - mx) < 1e-6);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* The heatmap: a 2-D (x, t) grid drawn into RGB of a size a capsfilter
 * asks for, every pixel the colour map's colour of |residual| there. */
GST_START_TEST (test_heatmap)
{
  const guint W = 19, H = 8, NX = 8, NT = 4;
  const gdouble R = 0.5;
  const gchar *devices[] = { "cpu", "auto" };
  for (guint d = 0; d < G_N_ELEMENTS (devices); d++) {
    g_autofree gchar *launch = g_strdup_printf (
        "residualexplain model=%s grid=x=0:1:%u,t=0:1:%u device=%s "
        "pde=\"u_t - 0.1*u_xx\" range-min=0 range-max=%g colorbar=0 "
        "colormap=viridis",
        model_path, NX, NT, devices[d], R);
    GstHarness *h = gst_harness_new_parse (launch);
    gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
                                     "types=float32, dimensions=(string)4");
    g_autofree gchar *sink =
        g_strdup_printf ("video/x-raw, format=RGB, width=%u, height=%u", W, H);
    gst_harness_set_sink_caps_str (h, sink);
    GstBuffer *out = gst_harness_push_and_pull (h, dummy_buffer (0));
    GstVideoInfo vi;
    GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
    fail_unless (gst_video_info_from_caps (&vi, caps));
    gst_caps_unref (caps);
    fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&vi), W);
    GstMapInfo map;
    fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
    fail_unless_equals_uint64 (map.size, GST_VIDEO_INFO_SIZE (&vi));
    gsize stride = GST_VIDEO_INFO_PLANE_STRIDE (&vi, 0);
    for (guint py = 0; py < H; py++)
      for (guint px = 0; px < W; px++) {
        guint col = px * NX / W, row = NT - 1 - py * NT / H;
        gdouble v = fabs (residual_at (col / (NX - 1.0), row / (NT - 1.0)));
        gint idx = (gint)(CLAMP (v / R, 0.0, 1.0) * 255.0 + 0.5);
        const guint8 *p = map.data + py * stride + 3 * px;
        /* an OpenCL device computes the colour index in float32: one step
         * off on a boundary between colours is allowed there */
        gboolean match = FALSE;
        for (gint k = d == 0 ? 0 : -1; k <= (d == 0 ? 0 : 1); k++) {
          guint8 rgb[3];
          physnn_colormap_lookup (
              PHYSNN_COLORMAP_VIRIDIS, CLAMP (idx + k, 0, 255) / 255.0, rgb);
          match |= memcmp (p, rgb, 3) == 0;
        }
        fail_unless (match, "%s: pixel %u,%u", devices[d], px, py);
      }
    gst_buffer_unmap (out, &map);
    gst_buffer_unref (out);
    gst_harness_teardown (h);
  }
}
GST_END_TEST;

/* Physics versus data: four sensors read the model's own field plus small
 * noise; from buffer 30 sensor 2 reads 0.08 (8 sigma) too high. The
 * misfit is reading minus model, only sensor 2 is flagged, within three
 * buffers, and its region is data-inconsistent. */
GST_START_TEST (test_sensors)
{
  const gdouble xs[4] = { 0.1, 0.35, 0.6, 0.85 };
  g_autofree gchar *launch =
      g_strdup_printf ("residualexplain model=%s grid=x=0:1:21 device=cpu "
                       "pde=\"u_t - 0.1*u_xx\" noise-sigma=0.01",
          model_path);
  GstHarness *h = gst_harness_new_parse (launch);
  gst_harness_set_src_caps_str (h,
      "other/tensors, format=static, num_tensors=2, "
      "types=(string)\"float32,float32\", dimensions=(string)\"4,1:4\", "
      "framerate=100/1");
  guint32 lcg = 12345;
  gint first_flag = -1;
  for (guint b = 0; b < 40; b++) {
    gdouble t = b / 100.0;
    gfloat readings[4], pos[4], noise[4];
    for (guint k = 0; k < 4; k++) {
      lcg = lcg * 1664525u + 1013904223u;
      /* uniform in ±0.01: sigma 0.0058 */
      noise[k] = (gfloat)((lcg >> 8) / 16777216.0 * 0.02 - 0.01);
      readings[k] = (gfloat)(u_at (xs[k], t) + noise[k] +
                             (k == 2 && b >= 30 ? 0.08 : 0.0));
      pos[k] = (gfloat)xs[k];
    }
    const gfloat *data[2] = { readings, pos };
    gsize counts[2] = { 4, 4 };
    GstBuffer *in = tensors_buffer (2, data, counts);
    GST_BUFFER_PTS (in) = b * GST_SECOND / 100;
    GstBuffer *out = gst_harness_push_and_pull (h, in);
    const GstStructure *s = info_of (out);
    guint ns = 0;
    fail_unless (gst_structure_get_uint (s, "sensors", &ns));
    fail_unless_equals_int (ns, 4);
    const GValue *mf = gst_structure_get_value (s, "misfit");
    const GValue *fl = gst_structure_get_value (s, "flags");
    const GValue *rg = gst_structure_get_value (s, "regions");
    for (guint k = 0; k < 4; k++) {
      gdouble want = readings[k] - (gfloat)u_at (xs[k], t);
      gdouble got = g_value_get_double (gst_value_array_get_value (mf, k));
      fail_unless (fabs (got - want) < 1e-5, "buffer %u sensor %u", b, k);
      gboolean f = g_value_get_boolean (gst_value_array_get_value (fl, k));
      if (k != 2 || b < 30)
        fail_unless (!f, "false alarm: buffer %u sensor %u", b, k);
      else if (f && first_flag < 0)
        first_flag = (gint)b;
      const gchar *region =
          g_value_get_string (gst_value_array_get_value (rg, k));
      if (f)
        fail_unless (
            g_str_has_prefix (region, "data") || g_str_equal (region, "both"),
            "%s", region);
    }
    gst_buffer_unref (out);
  }
  fail_unless (
      first_flag >= 30 && first_flag <= 32, "flagged at %d", first_flag);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* The same stream drawn: each sensor a 5-pixel square on the top edge at
 * its x, cyan while healthy, red once flagged. */
GST_START_TEST (test_sensor_markers)
{
  const gdouble xs[4] = { 0.1, 0.35, 0.6, 0.85 };
  const guint W = 101, H = 20;
  g_autofree gchar *launch = g_strdup_printf (
      "residualexplain model=%s grid=x=0:1:21 device=cpu colorbar=0 "
      "pde=\"u_t - 0.1*u_xx\" noise-sigma=0.01",
      model_path);
  GstHarness *h = gst_harness_new_parse (launch);
  gst_harness_set_src_caps_str (h,
      "other/tensors, format=static, num_tensors=2, "
      "types=(string)\"float32,float32\", dimensions=(string)\"4,1:4\", "
      "framerate=100/1");
  g_autofree gchar *sink =
      g_strdup_printf ("video/x-raw, format=RGB, width=%u, height=%u", W, H);
  gst_harness_set_sink_caps_str (h, sink);
  for (guint b = 0; b < 40; b++) {
    gdouble t = b / 100.0;
    gfloat readings[4], pos[4];
    for (guint k = 0; k < 4; k++) {
      readings[k] = (gfloat)(u_at (xs[k], t) + (k == 2 && b >= 30 ? 0.2 : 0));
      pos[k] = (gfloat)xs[k];
    }
    const gfloat *data[2] = { readings, pos };
    gsize counts[2] = { 4, 4 };
    GstBuffer *in = tensors_buffer (2, data, counts);
    GST_BUFFER_PTS (in) = b * GST_SECOND / 100;
    GstBuffer *out = gst_harness_push_and_pull (h, in);
    if (b == 10 || b == 39) {
      GstMapInfo map;
      gst_buffer_map (out, &map, GST_MAP_READ);
      gsize stride = GST_ROUND_UP_4 (W * 3);
      for (guint k = 0; k < 4; k++) {
        guint cx = (guint)(xs[k] * (W - 1) + 0.5);
        const guint8 *p = map.data + 2 * stride + 3 * cx;
        gboolean red = p[0] == 255 && p[1] == 0 && p[2] == 0;
        gboolean cyan = p[0] == 0 && p[1] == 255 && p[2] == 255;
        fail_unless (k == 2 && b == 39 ? red : cyan,
            "buffer %u sensor %u: %u,%u,%u", b, k, p[0], p[1], p[2]);
      }
      gst_buffer_unmap (out, &map);
    }
    gst_buffer_unref (out);
  }
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Attributions to the coordinates: integrated gradients from the zero
 * baseline in closed form, the completeness delta, saliency. */
GST_START_TEST (test_attributions)
{
  const gchar *devices[] = { "cpu", "auto" };
  for (guint d = 0; d < G_N_ELEMENTS (devices); d++) {
    g_autofree gchar *launch = g_strdup_printf (
        "residualexplain model=%s grid=x=0:1:6 device=%s "
        "pde=\"u_t - 0.1*u_xx\" attribution=integrated-gradients n-steps=50",
        model_path, devices[d]);
    GstHarness *h = gst_harness_new_parse (launch);
    gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
                                     "types=float32, dimensions=(string)4");
    GstBuffer *out = gst_harness_push_and_pull (h, dummy_buffer (GST_SECOND));
    fail_unless_equals_int (gst_buffer_n_memory (out), 3);
    for (guint i = 0; i < 6; i++) {
      gdouble c[2] = { i / 5.0, 1.0 }, a[2] = { AX, AT };
      gdouble dot = AX * c[0] + AT * c[1];
      gdouble total = u_at (c[0], c[1]) - tanh (B);
      for (guint j = 0; j < 2; j++) {
        gdouble want = a[j] * c[j] * total / dot;
        fail_unless (fabs (value_at (out, 1, i * 2 + j) - want) < 1e-5,
            "%s point %u feature %u: %g vs %g", devices[d], i, j,
            value_at (out, 1, i * 2 + j), want);
      }
      fail_unless (fabs (value_at (out, 2, i)) < 1e-5);
    }
    const GstStructure *s = info_of (out);
    fail_unless_equals_string (
        gst_structure_get_string (s, "attribution"), "integrated-gradients");
    fail_unless_equals_string (
        gst_structure_get_string (s, "attribution-input"), "coords");
    gst_buffer_unref (out);
    gst_harness_teardown (h);
  }
  /* saliency: |a_j| (1 - u²) */
  g_autofree gchar *launch =
      g_strdup_printf ("residualexplain model=%s grid=x=0:1:6 device=cpu "
                       "pde=\"u_t - 0.1*u_xx\" attribution=saliency",
          model_path);
  GstHarness *h = gst_harness_new_parse (launch);
  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
                                   "types=float32, dimensions=(string)4");
  GstBuffer *out = gst_harness_push_and_pull (h, dummy_buffer (GST_SECOND));
  fail_unless_equals_int (gst_buffer_n_memory (out), 2);
  for (guint i = 0; i < 6; i++) {
    gdouble u = u_at (i / 5.0, 1.0);
    fail_unless (fabs (value_at (out, 1, 2 * i) - AX * (1 - u * u)) < 1e-6);
    fail_unless (fabs (value_at (out, 1, 2 * i + 1) + AT * (1 - u * u)) < 1e-6);
  }
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A DeepONet's prediction attributed to its sensors: u = tanh (a·c + b) +
 * Σ s_j is linear in the sensors, so integrated gradients from 0 give
 * s_j at every point, and saliency 1. The stream carries the sensors. */
GST_START_TEST (test_deeponet_sensors)
{
  g_autofree gchar *path = write_model (3, "don.onnx");
  const gchar *methods[] = { "integrated-gradients", "saliency" };
  for (guint k = 0; k < G_N_ELEMENTS (methods); k++) {
    g_autofree gchar *launch =
        g_strdup_printf ("residualexplain model=%s grid=x=0:1:5 device=cpu "
                         "pde=\"u_t - 0.1*u_xx\" attribution=%s",
            path, methods[k]);
    GstHarness *h = gst_harness_new_parse (launch);
    gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
                                     "types=float32, dimensions=(string)3");
    gfloat sensors[3] = { 0.25f, -0.5f, 1.5f };
    GstBuffer *in = gst_buffer_new_memdup (sensors, sizeof sensors);
    GST_BUFFER_PTS (in) = GST_SECOND;
    GstBuffer *out = gst_harness_push_and_pull (h, in);
    /* the residual does not see the sensors: they add a constant */
    for (guint i = 0; i < 5; i++)
      fail_unless (
          fabs (value_at (out, 0, i) - residual_at (i / 4.0, 1.0)) < 1e-6);
    for (guint i = 0; i < 5; i++)
      for (guint j = 0; j < 3; j++) {
        gdouble want = k == 0 ? sensors[j] : 1.0;
        fail_unless (fabs (value_at (out, 1, i * 3 + j) - want) < 1e-6,
            "%s point %u sensor %u: %g", methods[k], i, j,
            value_at (out, 1, i * 3 + j));
      }
    fail_unless_equals_string (
        gst_structure_get_string (info_of (out), "attribution-input"),
        "branch");
    gst_buffer_unref (out);
    gst_harness_teardown (h);
  }
}
GST_END_TEST;

/* Each mistake a user can make gives an error that names it. */
GST_START_TEST (test_user_errors)
{
  const struct {
    gboolean with_model;
    const gchar *props, *needle;
  } cases[] = {
    { TRUE, "pde=\"u_t - * u\"", "column 7" },
    { TRUE, "pde=\"u_t - beta*u_xx\"", "unknown symbol \"beta\"" },
    { TRUE, "pde=\"u_t - u_xxx\"", "order 3" },
    { TRUE, "pde=\"u_t - u_xq\"", "not a coordinate" },
    { FALSE, "pde=\"u_t - 0.1*u_xx\"", "no GstPhysnnModelMeta" },
    { FALSE, "", "no PDE" },
    { FALSE, "pde=u grid=x=0:1:4", "grid needs model" },
    { FALSE, "pde=u attribution=saliency", "need model" },
    { TRUE, "pde=u_t sensor-positions=0.1,0.2,0.3", "3 sensor positions" },
    { TRUE, "pde=u_t log-scale=true range-min=0 range-max=1", "range-min > 0" },
    { TRUE, "pde=u_t conditions=\"x 0: u\"", "coordinate=value" },
    { TRUE, "pde=u_t conditions=\"y=0: u\"", "\"y\" is not a coordinate" },
    { TRUE, "pde=u_t baseline=1,2,3 attribution=integrated-gradients",
        "baseline has 3 values" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree gchar *desc = g_strdup_printf (
        "appsrc name=src format=time caps=\"other/tensors, format=static, "
        "types=float32, dimensions=(string)5\" ! residualexplain "
        "name=r device=cpu %s %s%s ! fakesink",
        cases[i].props, cases[i].with_model ? "grid=x=0:1:4 model=" : "",
        cases[i].with_model ? model_path : "");
    GError *perr = NULL;
    GstElement *pipe = gst_parse_launch (desc, &perr);
    fail_unless (pipe != NULL && perr == NULL, "case %u: %s", i,
        perr ? perr->message : "");
    GstElement *src = gst_bin_get_by_name (GST_BIN (pipe), "src");
    gst_element_set_state (pipe, GST_STATE_PLAYING);
    gfloat v[5] = { 0 };
    GstBuffer *b = gst_buffer_new_memdup (v, sizeof v);
    GST_BUFFER_PTS (b) = 0;
    gst_app_src_push_buffer (GST_APP_SRC (src), b);
    GstBus *bus = gst_element_get_bus (pipe);
    GstMessage *msg =
        gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND, GST_MESSAGE_ERROR);
    fail_unless (msg != NULL, "no error message for case %u", i);
    GError *err = NULL;
    gchar *dbg = NULL;
    gst_message_parse_error (msg, &err, &dbg);
    fail_unless (strstr (err->message, cases[i].needle) != NULL,
        "case %u: \"%s\" does not mention %s", i, err->message,
        cases[i].needle);
    g_error_free (err);
    g_free (dbg);
    gst_message_unref (msg);
    gst_element_set_state (pipe, GST_STATE_NULL);
    gst_object_unref (bus);
    gst_object_unref (src);
    gst_object_unref (pipe);
  }
}
GST_END_TEST;

static Suite *
residualexplain_suite (void)
{
  Suite *s = suite_create ("residualexplain");
  TCase *tc = tcase_create ("general");
  tmpdir = g_dir_make_tmp ("physnn-residual-XXXXXX", NULL);
  model_path = write_model (0, "tanh.onnx");
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_after_pinninfer);
  tcase_add_test (tc, test_conditions);
  tcase_add_test (tc, test_heatmap);
  tcase_add_test (tc, test_sensors);
  tcase_add_test (tc, test_sensor_markers);
  tcase_add_test (tc, test_attributions);
  tcase_add_test (tc, test_deeponet_sensors);
  tcase_add_test (tc, test_user_errors);
  return s;
}

GST_CHECK_MAIN (residualexplain);
