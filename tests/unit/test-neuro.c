/* Unit tests of neuromorphic deployment: the layered view of NIR graphs,
 * platform fitting and its errors, the Loihi fixed-point simulation
 * against the float engine, exports (atomic, errors), spike records
 * (round trip, hostile files) and the energy model's proportionality.
 * Files are judged by reference readers in tests/crosscheck/neuro_*.py.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <physnn/physnn.h>

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static PhysnnTensor *
vec (PhysnnDType dt, gsize n, const gdouble *v)
{
  gsize shape[1] = { n };
  return physnn_tensor_new_from_doubles (dt, 1, shape, v, n, NULL);
}

static PhysnnTensor *
filled (gsize n, gdouble v)
{
  gsize shape[1] = { n };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, shape);
  physnn_tensor_fill (t, v);
  return t;
}

/* Input(n0) -> [fc_k Affine -> lif_k LIF]… -> Output, Gaussian weights
 * of std gain/sqrt(fan-in) from a fixed seed. @last_type: the last
 * layer's neuron class. */
static PhysnnNirGraph *
make_net (const gsize *sizes, guint n, const gchar *last_type, gdouble gain,
    guint32 seed)
{
  PhysnnNirGraph *g = physnn_nir_graph_new ();
  GRand *r = g_rand_new_with_seed (seed);
  gdouble s0 = (gdouble)sizes[0];
  guint in = physnn_nir_graph_add_node (g, "input", "Input");
  g_autoptr (PhysnnTensor) ishape = vec (PHYSNN_DTYPE_INT64, 1, &s0);
  physnn_nir_graph_set_param (g, in, "shape", ishape);
  gchar prev[32] = "input";
  for (guint k = 1; k < n; k++) {
    gchar fc[32], lif[32];
    g_snprintf (fc, sizeof fc, "fc%u", k);
    g_snprintf (lif, sizeof lif, "lif%u", k);
    gsize shape[2] = { sizes[k], sizes[k - 1] };
    g_autofree gdouble *w = g_new (gdouble, sizes[k] * sizes[k - 1]);
    for (gsize i = 0; i < sizes[k] * sizes[k - 1]; i++)
      w[i] = g_rand_double_range (r, -1, 1) * gain * sqrt (3.0 / sizes[k - 1]);
    g_autoptr (PhysnnTensor) wt = physnn_tensor_new_from_doubles (
        PHYSNN_DTYPE_FLOAT32, 2, shape, w, sizes[k] * sizes[k - 1], NULL);
    g_autoptr (PhysnnTensor) b = filled (sizes[k], 0);
    guint a = physnn_nir_graph_add_node (g, fc, "Affine");
    physnn_nir_graph_set_param (g, a, "weight", wt);
    physnn_nir_graph_set_param (g, a, "bias", b);
    const gchar *type = k + 1 == n ? last_type : "LIF";
    guint l = physnn_nir_graph_add_node (g, lif, type);
    g_autoptr (PhysnnTensor) tau = filled (sizes[k], 0.02);
    g_autoptr (PhysnnTensor) rr = filled (sizes[k], 10);
    g_autoptr (PhysnnTensor) zero = filled (sizes[k], 0);
    g_autoptr (PhysnnTensor) one = filled (sizes[k], 1);
    if (strcmp (type, "IF") == 0) {
      g_autoptr (PhysnnTensor) r_if = filled (sizes[k], 200);
      physnn_nir_graph_set_param (g, l, "r", r_if);
    } else if (g_str_has_prefix (type, "Cuba")) {
      g_autoptr (PhysnnTensor) ts = filled (sizes[k], 0.005);
      g_autoptr (PhysnnTensor) r_c = filled (sizes[k], 20);
      physnn_nir_graph_set_param (g, l, "tau_mem", tau);
      physnn_nir_graph_set_param (g, l, "tau_syn", ts);
      physnn_nir_graph_set_param (g, l, "r", r_c);
      physnn_nir_graph_set_param (g, l, "v_leak", zero);
    } else {
      physnn_nir_graph_set_param (g, l, "tau", tau);
      physnn_nir_graph_set_param (g, l, "r", rr);
      physnn_nir_graph_set_param (g, l, "v_leak", zero);
    }
    if (g_str_has_suffix (type, "IF")) {
      physnn_nir_graph_set_param (g, l, "v_threshold", one);
      physnn_nir_graph_set_param (g, l, "v_reset", zero);
    }
    physnn_nir_graph_add_edge (g, prev, fc);
    physnn_nir_graph_add_edge (g, fc, lif);
    g_strlcpy (prev, lif, sizeof prev);
  }
  gdouble so = (gdouble)sizes[n - 1];
  guint out = physnn_nir_graph_add_node (g, "output", "Output");
  g_autoptr (PhysnnTensor) oshape = vec (PHYSNN_DTYPE_INT64, 1, &so);
  physnn_nir_graph_set_param (g, out, "shape", oshape);
  physnn_nir_graph_add_edge (g, prev, "output");
  g_rand_free (r);
  return g;
}

static PhysnnTensor *
bernoulli (gsize steps, gsize n, gdouble p, guint32 seed)
{
  gsize shape[2] = { steps, n };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_UINT8, 2, shape);
  guint8 *d = physnn_tensor_map (t, PHYSNN_MAP_WRITE, NULL);
  GRand *r = g_rand_new_with_seed (seed);
  for (gsize i = 0; i < steps * n; i++)
    d[i] = g_rand_double (r) < p;
  g_rand_free (r);
  physnn_tensor_unmap (t);
  return t;
}

static gdouble
total (PhysnnTensor *t)
{
  gsize n;
  g_autofree gdouble *v = physnn_tensor_to_doubles (t, &n);
  gdouble s = 0;
  for (gsize i = 0; i < n; i++)
    s += v[i];
  return s;
}

static const gsize sizes3[] = { 20, 30, 10 };

static void
test_layers (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnNirGraph) g = make_net (sizes3, 3, "LIF", 3, 1);
  g_autoptr (PhysnnNeuroNet) net = physnn_neuro_net_new (g, 1e-3, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (physnn_neuro_net_get_n_layers (net), ==, 2);
  g_assert_cmpuint (physnn_neuro_net_get_n_inputs (net), ==, 20);
  g_assert_cmpuint (physnn_neuro_net_get_n_outputs (net), ==, 10);
  g_assert_cmpuint (physnn_neuro_net_get_n_neurons (net), ==, 40);
  g_assert_cmpuint (physnn_neuro_net_get_n_synapses (net), ==, 900);
  g_assert_cmpstr (physnn_neuro_net_get_layer_name (net, 1), ==, "lif2");

  /* the exporters' view runs exactly as the graph does in PhysnnSnn */
  g_autoptr (PhysnnTensor) x = bernoulli (200, 20, 0.2, 7);
  g_autoptr (PhysnnTensor) a = physnn_neuro_net_run (net, NULL, x, &error);
  g_assert_no_error (error);
  g_autoptr (PhysnnNirGraph) g2 = physnn_neuro_net_to_nir (net);
  g_autoptr (PhysnnNeuroNet) net2 = physnn_neuro_net_new (g2, 1e-3, &error);
  g_assert_no_error (error);
  g_autoptr (PhysnnTensor) b = physnn_neuro_net_run (net2, NULL, x, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (total (a), >, 10);
  g_assert_cmpfloat (physnn_spike_agreement (a, b), ==, 1.0);

  /* bad dt, wrong input width */
  g_assert_null (physnn_neuro_net_new (g, 0, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_autoptr (PhysnnTensor) bad = bernoulli (10, 21, 0.2, 7);
  g_assert_null (physnn_neuro_net_run_loihi (net, bad, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE);
}

static void
test_bad_graphs (void)
{
  g_autoptr (GError) error = NULL;
  /* a Scale node in the chain */
  g_autoptr (PhysnnNirGraph) g = physnn_nir_graph_new ();
  gdouble four = 4;
  g_autoptr (PhysnnTensor) s4 = vec (PHYSNN_DTYPE_INT64, 1, &four);
  guint i = physnn_nir_graph_add_node (g, "input", "Input");
  physnn_nir_graph_set_param (g, i, "shape", s4);
  guint s = physnn_nir_graph_add_node (g, "gain", "Scale");
  g_autoptr (PhysnnTensor) sc = filled (4, 2);
  physnn_nir_graph_set_param (g, s, "scale", sc);
  guint o = physnn_nir_graph_add_node (g, "output", "Output");
  physnn_nir_graph_set_param (g, o, "shape", s4);
  physnn_nir_graph_add_edge (g, "input", "gain");
  physnn_nir_graph_add_edge (g, "gain", "output");
  g_assert_null (physnn_neuro_net_new (g, 1e-3, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "\"gain\""));
  g_assert_nonnull (strstr (error->message, "Scale"));
}

static void
test_platform_errors (void)
{
  g_autoptr (GError) error = NULL;
  /* fan-in over Loihi's 4096 */
  const gsize wide[] = { 5000, 4 };
  g_autoptr (PhysnnNirGraph) g = make_net (wide, 2, "LIF", 1, 2);
  g_autoptr (PhysnnNeuroNet) net = physnn_neuro_net_new (g, 1e-3, &error);
  g_assert_no_error (error);
  g_assert_null (
      physnn_neuro_net_fit (net, PHYSNN_NEURO_PLATFORM_LOIHI, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "\"lif1\""));
  g_assert_nonnull (strstr (error->message, "5000"));
  g_assert_nonnull (strstr (error->message, "4096"));
  g_clear_error (&error);
  /* …but generic takes it */
  g_autoptr (PhysnnNeuroNet) gen =
      physnn_neuro_net_fit (net, PHYSNN_NEURO_PLATFORM_GENERIC, &error);
  g_assert_no_error (error);

  /* a non-spiking readout: fine for NIR, refused for Loihi and NetX */
  g_autoptr (PhysnnNirGraph) g2 = make_net (sizes3, 3, "LI", 1, 3);
  g_autoptr (PhysnnNeuroNet) li = physnn_neuro_net_new (g2, 1e-3, &error);
  g_assert_no_error (error);
  g_assert_null (
      physnn_neuro_net_fit (li, PHYSNN_NEURO_PLATFORM_LOIHI2, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "\"lif2\" (LI)"));
  g_clear_error (&error);
  g_autofree gchar *dir = g_dir_make_tmp ("physnn-neuro-XXXXXX", NULL);
  g_autofree gchar *path = g_build_filename (dir, "li.netx.h5", NULL);
  g_assert_false (physnn_neuro_net_export (
      li, PHYSNN_NEURO_FORMAT_LAVA_NETX, path, NULL, NULL, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_autofree gchar *nir = g_build_filename (dir, "li.nir", NULL);
  g_assert_true (physnn_neuro_net_export (
      li, PHYSNN_NEURO_FORMAT_NIR, nir, NULL, NULL, &error));
  g_assert_no_error (error);
  g_unlink (nir);
  g_rmdir (dir);

  PhysnnNeuroPlatform p;
  g_assert_false (physnn_neuro_platform_from_string ("truenorth", &p, &error));
  g_assert_nonnull (strstr (error->message, "truenorth"));
}

/* Fitting quantizes to the platform's levels, and the spike agreement it
 * costs is measured (not assumed). */
static void
test_fit (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnNirGraph) g = make_net (sizes3, 3, "LIF", 3, 1);
  g_autoptr (PhysnnNeuroNet) net = physnn_neuro_net_new (g, 1e-3, &error);
  const PhysnnNeuroPlatform ps[] = { PHYSNN_NEURO_PLATFORM_LOIHI,
    PHYSNN_NEURO_PLATFORM_SPINNAKER2, PHYSNN_NEURO_PLATFORM_AKIDA };
  g_autoptr (PhysnnTensor) x = bernoulli (300, 20, 0.2, 5);
  g_autoptr (PhysnnTensor) ref = physnn_neuro_net_run (net, NULL, x, &error);
  g_assert_no_error (error);
  for (guint k = 0; k < G_N_ELEMENTS (ps); k++) {
    const PhysnnNeuroLimits *lim = physnn_neuro_platform_get_limits (ps[k]);
    g_autoptr (PhysnnNeuroNet) fit = physnn_neuro_net_fit (net, ps[k], &error);
    g_assert_no_error (error);
    g_autoptr (PhysnnNirGraph) fg = physnn_neuro_net_to_nir (fit);
    for (guint l = 1; l <= 2; l++) {
      g_autofree gchar *name = g_strdup_printf ("fc%u", l);
      PhysnnTensor *w = physnn_nir_graph_get_param (
          fg, physnn_nir_graph_find_node (fg, name), "weight");
      gsize n;
      g_autofree gdouble *v = physnn_tensor_to_doubles (w, &n);
      gdouble amax = 0;
      for (gsize i = 0; i < n; i++)
        amax = MAX (amax, fabs (v[i]));
      gdouble step = amax / (ldexp (1, lim->weight_bits - 1) - 1);
      for (gsize i = 0; i < n; i++) {
        gdouble q = v[i] / step;
        /* float32 storage: relative error 2^-24 of the level */
        g_assert_cmpfloat (fabs (q - nearbyint (q)), <, 1e-4 + 1e-6 * fabs (q));
      }
    }
    g_autofree gchar *rep = physnn_neuro_net_get_fit_report (fit);
    g_assert_nonnull (strstr (rep, "\"cores\""));
    g_autoptr (PhysnnTensor) y = physnn_neuro_net_run (fit, NULL, x, &error);
    g_assert_no_error (error);
    gdouble agree = physnn_spike_agreement (ref, y);
    g_test_message ("%s (%u-bit weights): spike agreement after fitting %.4f",
        lim->name, lim->weight_bits, agree);
    /* Measured on this chaotic 3-gain network: 16-bit 1.00, 8-bit 0.83,
     * 4-bit 0.29 (per-layer scales; spike timing diverges and cascades).
     * The bounds catch a broken quantizer, not a precise figure. */
    gdouble bound = lim->weight_bits >= 16  ? 0.95
                    : lim->weight_bits >= 8 ? 0.7
                                            : 0.15;
    g_assert_cmpfloat (agree, >=, bound);
  }
}

/* Agreement allowing a spike to move by one step. */
static gdouble
agreement_pm1 (PhysnnTensor *a, PhysnnTensor *b)
{
  gsize n, steps = physnn_tensor_get_dim (a, 0),
           w = physnn_tensor_get_dim (a, 1);
  g_autofree gdouble *x = physnn_tensor_to_doubles (a, &n);
  g_autofree gdouble *y = physnn_tensor_to_doubles (b, &n);
  gdouble hit = 0, tot = 0;
  for (gsize t = 0; t < steps; t++)
    for (gsize j = 0; j < w; j++) {
      for (guint k = 0; k < 2; k++) {
        const gdouble *p = k ? y : x, *q = k ? x : y;
        if (p[t * w + j] == 0)
          continue;
        tot++;
        gboolean near = q[t * w + j] != 0 ||
                        (t > 0 && q[(t - 1) * w + j] != 0) ||
                        (t + 1 < steps && q[(t + 1) * w + j] != 0);
        hit += near;
      }
    }
  return tot > 0 ? hit / tot : 1.0;
}

/* The Loihi fixed-point simulation (what the NetX file describes) against
 * the float engine on a single layer, where quantization cannot cascade.
 * Measured on these seeds: LIF 0.95-0.97, IF 0.95 on the step; CubaLIF
 * 0.41 on the step but 0.87 within ±1 step (Loihi adds a step's current
 * to v in the same step, NIR's exact solution spreads it). The bounds
 * leave room. */
static void
test_loihi (void)
{
  g_autoptr (GError) error = NULL;
  const gsize one[] = { 40, 50 };
  const gchar *types[] = { "IF", "CubaLIF" };
  for (guint i = 0; i < 2; i++) {
    g_autoptr (PhysnnNirGraph) g = make_net (one, 2, types[i], 2, 4);
    g_autoptr (PhysnnNeuroNet) net = physnn_neuro_net_new (g, 1e-3, &error);
    g_assert_no_error (error);
    g_autoptr (PhysnnTensor) x = bernoulli (500, 40, 0.1, 4);
    g_autoptr (PhysnnTensor) f = physnn_neuro_net_run (net, NULL, x, &error);
    g_assert_no_error (error);
    g_autoptr (PhysnnTensor) q = physnn_neuro_net_run_loihi (net, x, &error);
    g_assert_no_error (error);
    gdouble a = physnn_spike_agreement (f, q), a1 = agreement_pm1 (f, q);
    g_test_message ("%s: %.0f float spikes, %.0f Loihi spikes, agreement "
                    "%.4f on the step, %.4f within +-1 step",
        types[i], total (f), total (q), a, a1);
    g_assert_cmpfloat (total (f), >, 100);
    g_assert_cmpfloat (i == 0 ? a : a1, >=, i == 0 ? 0.85 : 0.75);
  }
  for (guint seed = 1; seed <= 3; seed++) {
    g_autoptr (PhysnnNirGraph) g = make_net (one, 2, "LIF", 2, seed);
    g_autoptr (PhysnnNeuroNet) net = physnn_neuro_net_new (g, 1e-3, &error);
    g_autoptr (PhysnnTensor) x = bernoulli (500, 40, 0.1, seed);
    g_autoptr (PhysnnTensor) f = physnn_neuro_net_run (net, NULL, x, &error);
    g_assert_no_error (error);
    g_autoptr (PhysnnTensor) q = physnn_neuro_net_run_loihi (net, x, &error);
    g_assert_no_error (error);
    gdouble agree = physnn_spike_agreement (f, q);
    g_test_message ("seed %u: %.0f float spikes, %.0f Loihi spikes, "
                    "agreement %.4f",
        seed, total (f), total (q), agree);
    g_assert_cmpfloat (total (f), >, 100);
    g_assert_cmpfloat (agree, >=, 0.85);
  }
}

static void
test_atomic_export (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnNirGraph) g = make_net (sizes3, 3, "LIF", 3, 1);
  g_autoptr (PhysnnNeuroNet) net = physnn_neuro_net_new (g, 1e-3, &error);
  g_autofree gchar *dir = g_dir_make_tmp ("physnn-neuro-XXXXXX", NULL);
  const gchar *names[] = { "a.nir", "a.netx.h5", "a.py", "a.json", "a.onnx" };
  g_autoptr (PhysnnTensor) x = bernoulli (50, 20, 0.2, 5);
  g_autoptr (PhysnnTensor) bad = bernoulli (50, 19, 0.2, 5);
  for (guint f = 0; f < 5; f++) {
    g_autofree gchar *path = g_build_filename (dir, names[f], NULL);
    g_assert_true (physnn_neuro_net_export (net, f, path, x, NULL, &error));
    g_assert_no_error (error);
    g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
    /* spikes of the wrong width: refused before anything is written */
    g_autofree gchar *p2 = g_build_filename (dir, "b", NULL);
    g_assert_false (physnn_neuro_net_export (net, f, p2, bad, NULL, &error));
    g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE);
    g_clear_error (&error);
    g_assert_false (g_file_test (p2, G_FILE_TEST_EXISTS));
    /* a missing directory: an I/O error naming the path */
    g_autofree gchar *p3 = g_build_filename (dir, "no", "such", names[f], NULL);
    g_assert_false (physnn_neuro_net_export (net, f, p3, x, NULL, &error));
    g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO);
    g_assert_nonnull (strstr (error->message, p3));
    g_clear_error (&error);
  }
  /* nothing but the finished files: no temporaries left behind */
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *e;
  guint count = 0;
  while ((e = g_dir_read_name (d))) {
    g_assert_false (e[0] == '.');
    g_autofree gchar *p = g_build_filename (dir, e, NULL);
    g_unlink (p);
    count++;
  }
  g_dir_close (d);
  g_assert_cmpuint (count, ==, 6); /* + the PyNN data file */
  g_rmdir (dir);
}

static void
test_record (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *dir = g_dir_make_tmp ("physnn-neuro-XXXXXX", NULL);
  g_autofree gchar *path = g_build_filename (dir, "r.aer", NULL);
  g_autoptr (PhysnnSpikeRecord) r = physnn_spike_record_new (7, 1e-3);
  g_autoptr (PhysnnTensor) a = bernoulli (30, 7, 0.3, 1);
  g_autoptr (PhysnnTensor) b = bernoulli (20, 7, 0.3, 2);
  g_assert_true (physnn_spike_record_append (r, a, &error));
  g_assert_true (physnn_spike_record_append (r, b, &error));
  g_assert_cmpuint (physnn_spike_record_get_n_steps (r), ==, 50);
  g_assert_cmpuint (
      physnn_spike_record_get_n_events (r), ==, total (a) + total (b));
  g_assert_true (physnn_spike_record_save (r, path, &error));
  g_assert_no_error (error);
  g_autoptr (PhysnnSpikeRecord) back = physnn_spike_record_load (path, &error);
  g_assert_no_error (error);
  g_autoptr (PhysnnTensor) d = physnn_spike_record_to_dense (back, &error);
  g_assert_no_error (error);
  guint8 *p = physnn_tensor_map (d, PHYSNN_MAP_READ, NULL);
  const guint8 *pa = physnn_tensor_map (a, PHYSNN_MAP_READ, NULL);
  const guint8 *pb = physnn_tensor_map (b, PHYSNN_MAP_READ, NULL);
  g_assert_cmpmem (p, 30 * 7, pa, 30 * 7);
  g_assert_cmpmem (p + 30 * 7, 20 * 7, pb, 20 * 7);
  physnn_tensor_unmap (a);
  physnn_tensor_unmap (b);
  physnn_tensor_unmap (d);

  /* hostile files: truncated, bad address, wrong format */
  gchar *data;
  gsize len;
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_assert_true (g_file_set_contents (path, data, len - 5, NULL));
  g_assert_null (physnn_spike_record_load (path, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT);
  g_clear_error (&error);
  data[len - 4] = (gchar)0xff; /* last record's address → huge */
  g_assert_true (g_file_set_contents (path, data, len, NULL));
  g_assert_null (physnn_spike_record_load (path, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "address"));
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (path, "{\"format\": \"x\"}\n", -1, NULL));
  g_assert_null (physnn_spike_record_load (path, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT);
  g_clear_error (&error);
  /* two top-level values in the header (a json-glib leak, found by fuzzing) */
  g_assert_true (g_file_set_contents (path,
      "{\"format\":\"physnn-aer\"}{\"format\":\"physnn-aer\"}\n", -1, NULL));
  g_assert_null (physnn_spike_record_load (path, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "single-object"));
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (path, "garbage", -1, NULL));
  g_assert_null (physnn_spike_record_load (path, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_FORMAT);
  g_free (data);
  g_unlink (path);
  g_rmdir (dir);
}

/* Energy follows the counts: twice the synaptic events, twice the
 * synaptic energy; every figure carries a source; no figure, no number. */
static void
test_energy (void)
{
  for (guint t = 0; t < PHYSNN_ENERGY_N_TARGETS; t++) {
    gdouble e1, s1, n1, e2, s2, n2;
    gboolean ok =
        physnn_energy_estimate (t, 1000, 50000, 400, 30, &e1, &s1, &n1);
    physnn_energy_estimate (t, 2000, 100000, 400, 30, &e2, &s2, &n2);
    g_assert_nonnull (strstr (physnn_energy_target_get_source (t), " "));
    if (!ok) {
      g_assert_true (isnan (e1));
      continue;
    }
    g_assert_cmpfloat (s1, >, 0);
    g_assert_cmpfloat_with_epsilon (s2 / s1, 2.0, 1e-12);
  }
  /* Loihi, by hand from Davies et al.: 23.6 pJ/synop, 81/52 pJ per
   * active/idle update (active ≤ synops), 1.7 pJ/spike */
  gdouble e;
  physnn_energy_estimate (
      PHYSNN_ENERGY_TARGET_LOIHI, 100, 0, 400, 10, &e, NULL, NULL);
  g_assert_cmpfloat_with_epsilon (
      e, (100 * 23.6 + 100 * 81 + 300 * 52 + 10 * 1.7) * 1e-12, 1e-18);
  g_autofree gchar *json = physnn_energy_report_json (10, 100, 1000, 40, 5);
  g_assert_nonnull (strstr (json, "\"estimate\" : true"));
  g_assert_nonnull (strstr (json, "pre-silicon"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/neuro/layers", test_layers);
  g_test_add_func ("/neuro/bad-graphs", test_bad_graphs);
  g_test_add_func ("/neuro/platform-errors", test_platform_errors);
  g_test_add_func ("/neuro/fit", test_fit);
  g_test_add_func ("/neuro/loihi", test_loihi);
  g_test_add_func ("/neuro/atomic-export", test_atomic_export);
  g_test_add_func ("/neuro/record", test_record);
  g_test_add_func ("/neuro/energy", test_energy);
  return g_test_run ();
}
