/* Unit tests: PhysnnSnn. Graphs it refuses (with the node named), every
 * plasticity parameter out of range (with the property named), inputs
 * that do not fit; the event-driven and dense paths, the C path and OpenCL,
 * one long run and the same steps in pieces all give identical bits,
 * feed-forward and recurrent. The dynamics are checked against Brian2,
 * plasticity against closed forms and NIR files against the nir package in
 * tests/crosscheck/. */
#include <physnn/physnn.h>

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static PhysnnTensor *
vec (gsize n, gdouble v)
{
  gsize shape[1] = { n };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, shape);
  physnn_tensor_fill (t, v);
  return t;
}

static PhysnnTensor *
shape_param (gsize n)
{
  gsize shape[1] = { 1 };
  gdouble d = (gdouble)n;
  return physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_INT64, 1, shape, &d, 1, NULL);
}

static void
set (PhysnnNirGraph *g, guint node, const gchar *name, PhysnnTensor *t)
{
  physnn_nir_graph_set_param (g, node, name, t);
  g_object_unref (t);
}

static PhysnnTensor *
weights (gsize out, gsize in, guint32 seed, gdouble scale)
{
  gsize shape[2] = { out, in };
  PhysnnTensor *w = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  gfloat *p = physnn_tensor_map (w, PHYSNN_MAP_WRITE, NULL);
  for (gsize k = 0; k < out * in; k++) {
    seed = seed * 1664525u + 1013904223u;
    p[k] = (gfloat)(((seed >> 8) / 16777216.0 - 0.3) * scale);
  }
  physnn_tensor_unmap (w);
  return w;
}

static void
add_lif (PhysnnNirGraph *g, const gchar *name, gsize n, const gchar *type)
{
  guint i = physnn_nir_graph_add_node (g, name, type);
  gboolean cuba = g_str_has_prefix (type, "Cuba");
  set (g, i, cuba ? "tau_mem" : "tau", vec (n, 0.02));
  if (cuba) {
    set (g, i, "tau_syn", vec (n, 0.005));
    set (g, i, "w_in", vec (n, 1.0));
  }
  set (g, i, "r", vec (n, 20.0));
  set (g, i, "v_leak", vec (n, 0.0));
  set (g, i, "v_threshold", vec (n, 1.0));
  set (g, i, "v_reset", vec (n, 0.0));
}

/* input [n_in] -> fc -> LIF [n_h] -> fc2 -> CubaLIF [n_out] -> output;
 * with recurrent, LIF -> rec -> LIF as well */
static PhysnnNirGraph *
net (gsize n_in, gsize n_h, gsize n_out, gboolean recurrent)
{
  PhysnnNirGraph *g = physnn_nir_graph_new ();
  guint i = physnn_nir_graph_add_node (g, "input", "Input");
  set (g, i, "shape", shape_param (n_in));
  i = physnn_nir_graph_add_node (g, "fc", "Linear");
  set (g, i, "weight", weights (n_h, n_in, 1, 1.0));
  add_lif (g, "lif", n_h, "LIF");
  i = physnn_nir_graph_add_node (g, "fc2", "Affine");
  set (g, i, "weight", weights (n_out, n_h, 2, 0.5));
  set (g, i, "bias", vec (n_out, 0.01));
  add_lif (g, "out", n_out, "CubaLIF");
  i = physnn_nir_graph_add_node (g, "output", "Output");
  set (g, i, "shape", shape_param (n_out));
  physnn_nir_graph_add_edge (g, "input", "fc");
  physnn_nir_graph_add_edge (g, "fc", "lif");
  physnn_nir_graph_add_edge (g, "lif", "fc2");
  physnn_nir_graph_add_edge (g, "fc2", "out");
  physnn_nir_graph_add_edge (g, "out", "output");
  if (recurrent) {
    i = physnn_nir_graph_add_node (g, "rec", "Linear");
    set (g, i, "weight", weights (n_h, n_h, 3, 0.3));
    physnn_nir_graph_add_edge (g, "lif", "rec");
    physnn_nir_graph_add_edge (g, "rec", "lif");
  }
  return g;
}

static PhysnnTensor *
spikes (gsize steps, gsize n, gdouble p, guint32 seed)
{
  gsize shape[2] = { steps, n };
  PhysnnTensor *x = physnn_tensor_new (PHYSNN_DTYPE_UINT8, 2, shape);
  guint8 *d = physnn_tensor_map (x, PHYSNN_MAP_WRITE, NULL);
  for (gsize k = 0; k < steps * n; k++) {
    seed = seed * 1664525u + 1013904223u;
    d[k] = (seed >> 8) / 16777216.0 < p;
  }
  physnn_tensor_unmap (x);
  return x;
}

static PhysnnTensor *
run_pieces (PhysnnSnn *snn, PhysnnDevice *dev, PhysnnTensor *x, gsize steps,
    gsize n_in, const guint *cuts, PhysnnSnnRecord rec)
{
  gsize per = physnn_snn_get_n_recorded (snn, rec);
  gsize shape[2] = { steps, per };
  PhysnnTensor *y = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  gfloat *py = physnn_tensor_map (y, PHYSNN_MAP_WRITE, NULL);
  const guint8 *px = physnn_tensor_map (x, PHYSNN_MAP_READ, NULL);
  gsize at = 0;
  for (guint c = 0; at < steps; c++) {
    gsize len = cuts ? MIN (cuts[c], steps - at) : steps;
    gsize s1[2] = { len, n_in };
    g_autoptr (PhysnnTensor) part =
        physnn_tensor_new (PHYSNN_DTYPE_UINT8, 2, s1);
    memcpy (physnn_tensor_map (part, PHYSNN_MAP_WRITE, NULL), px + at * n_in,
        len * n_in);
    physnn_tensor_unmap (part);
    g_autoptr (GError) err = NULL;
    g_autoptr (PhysnnTensor) out =
        physnn_snn_run_new (snn, dev, part, (guint)len, rec, &err);
    g_assert_no_error (err);
    memcpy (py + at * per, physnn_tensor_map (out, PHYSNN_MAP_READ, NULL),
        len * per * sizeof (gfloat));
    physnn_tensor_unmap (out);
    at += len;
  }
  physnn_tensor_unmap (x);
  physnn_tensor_unmap (y);
  return y;
}

static void
assert_same_bits (PhysnnTensor *a, PhysnnTensor *b, const gchar *what)
{
  gsize na, nb;
  const gfloat *pa = physnn_tensor_map (a, PHYSNN_MAP_READ, &na);
  const gfloat *pb = physnn_tensor_map (b, PHYSNN_MAP_READ, &nb);
  g_assert_cmpuint (na, ==, nb);
  for (gsize k = 0; k < na / sizeof (gfloat); k++)
    if (memcmp (pa + k, pb + k, sizeof (gfloat)) != 0)
      g_error ("%s: value %" G_GSIZE_FORMAT " differs: %.9g vs %.9g", what, k,
          pa[k], pb[k]);
  physnn_tensor_unmap (a);
  physnn_tensor_unmap (b);
}

static gdouble
total (PhysnnTensor *t)
{
  gsize n;
  const gfloat *p = physnn_tensor_map (t, PHYSNN_MAP_READ, &n);
  gdouble s = 0;
  for (gsize k = 0; k < n / sizeof (gfloat); k++)
    s += p[k];
  physnn_tensor_unmap (t);
  return s;
}

/* Every path gives the same bits: C and OpenCL, event-driven and dense,
 * one run and pieces of 1, 7, 300 … steps; feed-forward and recurrent;
 * spikes out and membranes. */
static void
test_paths_agree (void)
{
  const gsize n_in = 40, n_h = 50, n_out = 6, steps = 900;
  const guint cuts[] = { 1, 7, 300, 3, 4096, 0 };
  g_autoptr (PhysnnTensor) x = spikes (steps, n_in, 0.15, 9);
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", NULL);
  g_autoptr (PhysnnDevice) cl = physnn_device_new ("opencl", NULL);
  for (guint rec_net = 0; rec_net < 2; rec_net++) {
    g_autoptr (PhysnnNirGraph) g = net (n_in, n_h, n_out, rec_net);
    for (guint r = 0; r < 2; r++) {
      PhysnnSnnRecord rec =
          r ? PHYSNN_SNN_RECORD_MEMBRANE : PHYSNN_SNN_RECORD_OUTPUT;
      g_autoptr (GError) err = NULL;
      g_autoptr (PhysnnSnn) ref = physnn_snn_new (g, &err);
      g_assert_no_error (err);
      g_autoptr (PhysnnTensor) want =
          run_pieces (ref, cpu, x, steps, n_in, NULL, rec);
      if (!r)
        g_assert_cmpfloat (total (want), >, 20);
      for (guint d = 0; d < 2; d++) {
        if (d == 1 && cl == NULL)
          continue;
        for (guint mode = 0; mode < 3; mode++) {
          g_autoptr (PhysnnSnn) snn = physnn_snn_new (g, NULL);
          /* mode 0: automatic, 1: always dense, 2: always event-driven */
          g_object_set (snn, "event-threshold",
              mode == 0   ? 0.25
              : mode == 1 ? 0.0
                          : 1.0,
              NULL);
          g_autoptr (PhysnnTensor) got = run_pieces (
              snn, d ? cl : cpu, x, steps, n_in, mode == 0 ? cuts : NULL, rec);
          g_autofree gchar *what = g_strdup_printf ("%s, %s, %s, mode %u",
              rec_net ? "recurrent" : "feed-forward", r ? "membrane" : "spikes",
              d ? "OpenCL" : "C", mode);
          assert_same_bits (want, got, what);
        }
      }
    }
  }
  if (cl == NULL)
    g_test_message ("no OpenCL device: C path only");
}

/* Synaptic operations: one per presynaptic spike and target. */
static void
test_counters (void)
{
  g_autoptr (PhysnnNirGraph) g = net (30, 20, 4, FALSE);
  g_autoptr (PhysnnSnn) snn = physnn_snn_new (g, NULL);
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", NULL);
  g_autoptr (PhysnnTensor) x = spikes (200, 30, 0.1, 3);
  g_autoptr (PhysnnTensor) y =
      physnn_snn_run_new (snn, cpu, x, 200, PHYSNN_SNN_RECORD_OUTPUT, NULL);
  guint64 in = physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_INPUT_SPIKES);
  guint64 all = physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_SPIKES);
  guint64 outs = (guint64)total (y);
  guint64 hidden = all - outs;
  gsize nx;
  const guint8 *px = physnn_tensor_map (x, PHYSNN_MAP_READ, &nx);
  guint64 sent = 0;
  for (gsize k = 0; k < nx; k++)
    sent += px[k];
  physnn_tensor_unmap (x);
  g_assert_cmpuint (in, ==, sent);
  g_assert_cmpuint (sent, >, 100);
  g_assert_cmpuint (hidden, >, 20);
  g_assert_cmpuint (physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_SYNOPS), ==,
      in * 20 + hidden * 4);
  g_assert_cmpuint (
      physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_DENSE_SYNOPS), ==,
      200 * (30 * 20 + 20 * 4));
  g_assert_cmpuint (
      physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_NEURON_UPDATES), ==,
      200 * 24);
  g_assert_cmpuint (
      physnn_snn_get_counter (snn, PHYSNN_SNN_COUNTER_STEPS), ==, 200);
  g_assert_cmpuint (
      physnn_snn_get_total (snn, PHYSNN_SNN_COUNTER_STEPS), ==, 200);
  g_assert_cmpuint (physnn_snn_get_step (snn), ==, 200);
  physnn_snn_reset (snn);
  g_assert_cmpuint (physnn_snn_get_step (snn), ==, 0);
}

static void
expect_new_error (PhysnnNirGraph *g, const gchar *needle)
{
  g_autoptr (GError) err = NULL;
  g_autoptr (PhysnnSnn) snn = physnn_snn_new (g, &err);
  g_assert_null (snn);
  g_assert_nonnull (err);
  if (strstr (err->message, needle) == NULL)
    g_error ("error \"%s\" does not mention \"%s\"", err->message, needle);
}

/* Graphs the engine refuses, each naming what is wrong. */
static void
test_bad_graphs (void)
{
  /* an unknown node type */
  g_autoptr (PhysnnNirGraph) g1 = net (4, 3, 2, FALSE);
  physnn_nir_graph_add_node (g1, "mystery", "Quantum");
  physnn_nir_graph_add_edge (g1, "lif", "mystery");
  expect_new_error (g1, "mystery");

  /* weights that do not fit the input */
  g_autoptr (PhysnnNirGraph) g2 = physnn_nir_graph_new ();
  guint i = physnn_nir_graph_add_node (g2, "input", "Input");
  set (g2, i, "shape", shape_param (4));
  i = physnn_nir_graph_add_node (g2, "fc", "Linear");
  set (g2, i, "weight", weights (3, 5, 1, 1));
  i = physnn_nir_graph_add_node (g2, "output", "Output");
  set (g2, i, "shape", shape_param (3));
  physnn_nir_graph_add_edge (g2, "input", "fc");
  physnn_nir_graph_add_edge (g2, "fc", "output");
  expect_new_error (g2, "fc");

  /* two Input nodes */
  g_autoptr (PhysnnNirGraph) g3 = net (4, 3, 2, FALSE);
  i = physnn_nir_graph_add_node (g3, "input2", "Input");
  set (g3, i, "shape", shape_param (3));
  physnn_nir_graph_add_edge (g3, "input2", "fc2");
  expect_new_error (g3, "input2");

  /* a neuron node without a required parameter */
  g_autoptr (PhysnnNirGraph) g4 = physnn_nir_graph_new ();
  i = physnn_nir_graph_add_node (g4, "input", "Input");
  set (g4, i, "shape", shape_param (2));
  i = physnn_nir_graph_add_node (g4, "lif", "LIF");
  set (g4, i, "tau", vec (2, 0.01));
  i = physnn_nir_graph_add_node (g4, "output", "Output");
  set (g4, i, "shape", shape_param (2));
  physnn_nir_graph_add_edge (g4, "input", "lif");
  physnn_nir_graph_add_edge (g4, "lif", "output");
  expect_new_error (g4, "lif");
}

static void
expect_run_error (PhysnnSnn *snn, PhysnnTensor *x, guint steps,
    PhysnnSnnRecord rec, const gchar *needle)
{
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", NULL);
  g_autoptr (GError) err = NULL;
  g_autoptr (PhysnnTensor) y =
      physnn_snn_run_new (snn, cpu, x, steps, rec, &err);
  g_assert_null (y);
  g_assert_nonnull (err);
  if (strstr (err->message, needle) == NULL)
    g_error ("error \"%s\" does not mention \"%s\"", err->message, needle);
}

/* Every parameter out of range is named; so are time constants and steps
 * the integration cannot take, and inputs that do not fit. */
static void
test_bad_settings (void)
{
  g_autoptr (PhysnnNirGraph) g = net (6, 5, 2, FALSE);
  g_autoptr (PhysnnTensor) x = spikes (10, 6, 0.2, 1);
  struct {
    const gchar *on, *prop;
    gdouble bad;
  } cases[] = {
    { NULL, "dt", 0.0 },
    { NULL, "dt", 2.0 },
    { NULL, "event-threshold", 1.5 },
    { "scaling", "scaling-alpha", 0.0 },
    { "scaling", "scaling-alpha", 2.0 },
    { "scaling", "target-rate", -1.0 },
    { "scaling", "target-rate", 5000.0 },
    { "scaling", "rate-tau", 0.0 },
    { "scaling", "homeostasis-interval", 1e-5 },
    { "scaling", "scaling-max-factor", 0.5 },
    { "intrinsic", "ip-eta", 0.0 },
    { "intrinsic", "ip-eta", 1.0 },
    { "intrinsic", "ip-min-factor", 1.5 },
    { "intrinsic", "ip-max-factor", 0.5 },
    { "sleep", "sleep-interval", 0.0 },
    { "sleep", "sleep-downscale", 0.0 },
    { "sleep", "prune-threshold", -1.0 },
    { "stdp", "stdp-a-plus", 2.0 },
    { "stdp", "stdp-a-minus", -0.1 },
    { "stdp", "stdp-tau-plus", 0.0 },
    { "stdp", "stdp-tau-minus", -1.0 },
    { "stdp", "stdp-w-max", -5.0 },
  };
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    g_autoptr (PhysnnSnn) snn = physnn_snn_new (g, NULL);
    if (cases[c].on)
      g_object_set (snn, cases[c].on, TRUE, NULL);
    g_object_set (snn, cases[c].prop, cases[c].bad, NULL);
    g_autoptr (GError) err = NULL;
    if (physnn_snn_validate (snn, &err))
      g_error ("%s = %g accepted", cases[c].prop, cases[c].bad);
    if (strstr (err->message, cases[c].prop) == NULL)
      g_error ("error \"%s\" does not name %s", err->message, cases[c].prop);
    expect_run_error (snn, x, 10, PHYSNN_SNN_RECORD_OUTPUT, cases[c].prop);
  }

  /* forward Euler past its stability limit; a delay longer than supported */
  g_autoptr (PhysnnSnn) e = physnn_snn_new (g, NULL);
  g_object_set (
      e, "integration", PHYSNN_SNN_INTEGRATION_EULER, "dt", 0.05, NULL);
  expect_run_error (e, x, 10, PHYSNN_SNN_RECORD_OUTPUT, "unstable");

  /* inputs that do not fit, NaN */
  g_autoptr (PhysnnSnn) s = physnn_snn_new (g, NULL);
  expect_run_error (s, x, 9, PHYSNN_SNN_RECORD_OUTPUT, "6 values per step");
  gsize shape[2] = { 2, 6 };
  g_autoptr (PhysnnTensor) nan =
      physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  physnn_tensor_fill (nan, 0);
  physnn_tensor_set_value (nan, 7, NAN);
  expect_run_error (s, nan, 2, PHYSNN_SNN_RECORD_OUTPUT, "NaN");

  /* learned state: names checked */
  g_autoptr (GError) err = NULL;
  g_assert_null (physnn_snn_get_weights (s, "lif", &err));
  g_assert_nonnull (strstr (err->message, "lif"));
  g_clear_error (&err);
  g_assert_null (physnn_snn_get_thresholds (s, "nowhere", &err));
  g_assert_nonnull (strstr (err->message, "nowhere"));
  g_clear_error (&err);
  g_autoptr (PhysnnTensor) w = weights (2, 2, 1, 1);
  g_assert_false (physnn_snn_set_weights (s, "fc", w, &err));
  g_assert_nonnull (strstr (err->message, "fc"));
}

/* Weights set through the API are the ones used and saved. */
static void
test_weights_round_trip (void)
{
  g_autoptr (PhysnnNirGraph) g = net (6, 5, 2, FALSE);
  g_autoptr (PhysnnSnn) s = physnn_snn_new (g, NULL);
  g_autoptr (PhysnnTensor) w = weights (5, 6, 77, 2.0);
  g_autoptr (GError) err = NULL;
  g_assert_true (physnn_snn_set_weights (s, "fc", w, &err));
  g_autoptr (PhysnnTensor) back = physnn_snn_get_weights (s, "fc", &err);
  assert_same_bits (w, back, "weights");
  g_autofree gchar *dir = g_dir_make_tmp ("physnn-snn-XXXXXX", NULL);
  g_autofree gchar *path = g_build_filename (dir, "w.nir", NULL);
  g_assert_true (physnn_snn_save (s, path, &err));
  g_autoptr (PhysnnSnn) s2 = physnn_snn_new_from_file (path, &err);
  g_assert_no_error (err);
  g_autoptr (PhysnnTensor) back2 = physnn_snn_get_weights (s2, "fc", &err);
  assert_same_bits (w, back2, "saved weights");
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/snn/paths-agree", test_paths_agree);
  g_test_add_func ("/snn/counters", test_counters);
  g_test_add_func ("/snn/bad-graphs", test_bad_graphs);
  g_test_add_func ("/snn/bad-settings", test_bad_settings);
  g_test_add_func ("/snn/weights-round-trip", test_weights_round_trip);
  return g_test_run ();
}
