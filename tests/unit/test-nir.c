/* Unit tests: NIR files. Round trips through our writer and reader; every
 * malformed or hostile file gives an error naming the file, node and field
 * (never a crash: truncations and byte flips of a valid file are read in a
 * loop); shape inference through convolutions, pooling, flatten and
 * subgraphs; atomic writes. Files written by the reference `nir` package
 * are read in tests/crosscheck/nir_interop.py. */
#include <physnn/physnn.h>
#include <physnn/nir-private.h>

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static gchar *tmpdir;

static PhysnnTensor *
filled (PhysnnDType dt, guint rank, const gsize *shape, gdouble v)
{
  PhysnnTensor *t = physnn_tensor_new (dt, rank, shape);
  physnn_tensor_fill (t, v);
  return t;
}

static PhysnnTensor *
ints (guint n, const gint64 *v)
{
  gsize shape[1] = { n };
  gdouble d[8];
  for (guint i = 0; i < n; i++)
    d[i] = (gdouble)v[i];
  return physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_INT64, 1, shape, d, n, NULL);
}

static void
set (PhysnnNirGraph *g, guint node, const gchar *name, PhysnnTensor *t)
{
  physnn_nir_graph_set_param (g, node, name, t);
  g_object_unref (t);
}

/* input [n] -> affine -> lif [m] -> output */
static PhysnnNirGraph *
mlp (gsize n, gsize m)
{
  PhysnnNirGraph *g = physnn_nir_graph_new ();
  gint64 in_shape[1] = { (gint64)n }, out_shape[1] = { (gint64)m };
  gsize w[2] = { m, n }, b[1] = { m };
  guint i = physnn_nir_graph_add_node (g, "input", "Input");
  set (g, i, "shape", ints (1, in_shape));
  i = physnn_nir_graph_add_node (g, "fc", "Affine");
  set (g, i, "weight", filled (PHYSNN_DTYPE_FLOAT32, 2, w, 0.5));
  set (g, i, "bias", filled (PHYSNN_DTYPE_FLOAT32, 1, b, 0.1));
  i = physnn_nir_graph_add_node (g, "lif", "LIF");
  set (g, i, "tau", filled (PHYSNN_DTYPE_FLOAT32, 1, b, 0.02));
  set (g, i, "r", filled (PHYSNN_DTYPE_FLOAT32, 1, b, 1.0));
  set (g, i, "v_leak", filled (PHYSNN_DTYPE_FLOAT32, 1, b, 0.0));
  set (g, i, "v_threshold", filled (PHYSNN_DTYPE_FLOAT32, 1, b, 1.0));
  set (g, i, "v_reset", filled (PHYSNN_DTYPE_FLOAT32, 1, b, 0.0));
  i = physnn_nir_graph_add_node (g, "output", "Output");
  set (g, i, "shape", ints (1, out_shape));
  physnn_nir_graph_add_edge (g, "input", "fc");
  physnn_nir_graph_add_edge (g, "fc", "lif");
  physnn_nir_graph_add_edge (g, "lif", "output");
  return g;
}

static gchar *
save_tmp (PhysnnNirGraph *g, const gchar *name)
{
  g_autoptr (GError) error = NULL;
  gchar *path = g_build_filename (tmpdir, name, NULL);
  g_assert_true (physnn_nir_graph_save (g, path, &error));
  g_assert_no_error (error);
  return path;
}

static void
expect_load_error (
    const gchar *path, const gchar *needle1, const gchar *needle2)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnNirGraph) g = physnn_nir_graph_load (path, &error);
  g_assert_null (g);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  if (strstr (error->message, needle1) == NULL ||
      (needle2 && strstr (error->message, needle2) == NULL))
    g_error ("\"%s\" does not mention \"%s\" and \"%s\"", error->message,
        needle1, needle2 ? needle2 : "");
}

/* ------------------------------------------------------------------------ */

static void
test_round_trip (void)
{
  g_autoptr (PhysnnNirGraph) g = mlp (4, 3);
  physnn_nir_graph_set_metadata_string (g, 2, "note", "learned");
  gsize two[1] = { 3 };
  physnn_nir_graph_set_metadata (
      g, 2, "rate", filled (PHYSNN_DTYPE_FLOAT64, 1, two, 7.5));
  g_object_unref (physnn_nir_graph_get_metadata (g, 2, "rate"));
  g_autofree gchar *path = save_tmp (g, "rt.nir");
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnNirGraph) r = physnn_nir_graph_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (physnn_nir_graph_get_n_nodes (r), ==, 4);
  g_assert_cmpuint (physnn_nir_graph_get_n_edges (r), ==, 3);
  gint lif = physnn_nir_graph_find_node (r, "lif");
  g_assert_cmpint (lif, >=, 0);
  g_assert_cmpstr (physnn_nir_graph_get_node_type (r, lif), ==, "LIF");
  PhysnnTensor *tau = physnn_nir_graph_get_param (r, lif, "tau");
  g_assert_cmpfloat (physnn_tensor_get_value (tau, 2), ==, 0.02f);
  g_assert_cmpstr (
      physnn_nir_graph_get_metadata_string (r, lif, "note"), ==, "learned");
  g_assert_cmpfloat (physnn_tensor_get_value (
                         physnn_nir_graph_get_metadata (r, lif, "rate"), 1),
      ==, 7.5);
  guint rank;
  const gsize *s = physnn_nir_graph_get_node_output_shape (
      r, physnn_nir_graph_find_node (r, "fc"), &rank);
  g_assert_cmpuint (rank, ==, 1);
  g_assert_cmpuint (s[0], ==, 3);
  /* a second save replaces the file and leaves no temporary behind */
  g_assert_true (physnn_nir_graph_save (r, path, &error));
  GDir *d = g_dir_open (tmpdir, 0, NULL);
  const gchar *name;
  while ((name = g_dir_read_name (d)))
    g_assert_false (g_str_has_prefix (name, ".rt.nir"));
  g_dir_close (d);
}

/* conv2d -> sumpool -> flatten -> affine, and a subgraph, inferred as nir
 * does: output = floor((in + 2p − d(k−1) − 1)/s + 1). */
static void
test_shape_inference (void)
{
  g_autoptr (PhysnnNirGraph) g = physnn_nir_graph_new ();
  gint64 in_shape[3] = { 2, 9, 8 };
  guint i = physnn_nir_graph_add_node (g, "in", "Input");
  set (g, i, "shape", ints (3, in_shape));
  gsize w[4] = { 4, 2, 3, 3 }, b[1] = { 4 };
  i = physnn_nir_graph_add_node (g, "conv", "Conv2d");
  set (g, i, "weight", filled (PHYSNN_DTYPE_FLOAT32, 4, w, 0.1));
  set (g, i, "bias", filled (PHYSNN_DTYPE_FLOAT32, 1, b, 0.0));
  gint64 st[2] = { 2, 1 }, pad[2] = { 1, 0 }, dil[2] = { 1, 1 }, one = 1;
  set (g, i, "stride", ints (2, st));
  set (g, i, "padding", ints (2, pad));
  set (g, i, "dilation", ints (2, dil));
  set (g, i, "groups", ints (1, &one));
  i = physnn_nir_graph_add_node (g, "pool", "SumPool2d");
  gint64 k[2] = { 2, 2 }, zero[2] = { 0, 0 };
  set (g, i, "kernel_size", ints (2, k));
  set (g, i, "stride", ints (2, k));
  set (g, i, "padding", ints (2, zero));
  i = physnn_nir_graph_add_node (g, "flat", "Flatten");
  gint64 s0 = 0;
  gsize scalar[1] = { 1 };
  g_autoptr (PhysnnTensor) sd = ints (1, &s0);
  set (g, i, "start_dim", physnn_tensor_reshape (sd, 0, scalar, NULL));

  /* subgraph: Input [24] -> Affine 24->5 -> Output [5] */
  PhysnnNirGraph *sub = physnn_nir_graph_new ();
  gint64 s12 = 24, s5 = 5;
  guint j = physnn_nir_graph_add_node (sub, "i", "Input");
  set (sub, j, "shape", ints (1, &s12));
  gsize aw[2] = { 5, 24 }, ab[1] = { 5 };
  j = physnn_nir_graph_add_node (sub, "a", "Affine");
  set (sub, j, "weight", filled (PHYSNN_DTYPE_FLOAT32, 2, aw, 0.1));
  set (sub, j, "bias", filled (PHYSNN_DTYPE_FLOAT32, 1, ab, 0.0));
  j = physnn_nir_graph_add_node (sub, "o", "Output");
  set (sub, j, "shape", ints (1, &s5));
  physnn_nir_graph_add_edge (sub, "i", "a");
  physnn_nir_graph_add_edge (sub, "a", "o");
  physnn_nir_graph_add_subgraph (g, "head", sub);
  g_object_unref (sub);
  i = physnn_nir_graph_add_node (g, "out", "Output");
  set (g, i, "shape", ints (1, &s5));
  physnn_nir_graph_add_edge (g, "in", "conv");
  physnn_nir_graph_add_edge (g, "conv", "pool");
  physnn_nir_graph_add_edge (g, "pool", "flat");
  physnn_nir_graph_add_edge (g, "flat", "head");
  physnn_nir_graph_add_edge (g, "head", "out");

  g_autofree gchar *path = save_tmp (g, "conv.nir");
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnNirGraph) r = physnn_nir_graph_load (path, &error);
  g_assert_no_error (error);
  guint rank;
  /* conv: H (9+2-2-1)/2+1 = 5, W (8-2-1)/1+1 = 6 */
  const gsize *s = physnn_nir_graph_get_node_output_shape (
      r, physnn_nir_graph_find_node (r, "conv"), &rank);
  g_assert_cmpuint (rank, ==, 3);
  g_assert_cmpuint (s[0], ==, 4);
  g_assert_cmpuint (s[1], ==, 5);
  g_assert_cmpuint (s[2], ==, 6);
  s = physnn_nir_graph_get_node_output_shape (
      r, physnn_nir_graph_find_node (r, "pool"), &rank);
  g_assert_cmpuint (s[1], ==, 2);
  g_assert_cmpuint (s[2], ==, 3);
  s = physnn_nir_graph_get_node_output_shape (
      r, physnn_nir_graph_find_node (r, "flat"), &rank);
  g_assert_cmpuint (rank, ==, 1);
  g_assert_cmpuint (s[0], ==, 24);
  gint head = physnn_nir_graph_find_node (r, "head");
  g_assert_nonnull (physnn_nir_graph_get_subgraph (r, head));
  g_assert_cmpstr (physnn_nir_graph_get_node_type (r, head), ==, "NIRGraph");
  s = physnn_nir_graph_get_node_input_shape (r, head, &rank);
  g_assert_cmpuint (s[0], ==, 24);

  /* the same subgraph behind a Flatten of the wrong size: named */
  gint sub_in =
      physnn_nir_graph_find_node (physnn_nir_graph_get_subgraph (r, head), "i");
  gint64 s12b = 12;
  PhysnnNirGraph *rs = physnn_nir_graph_get_subgraph (r, head);
  set (rs, sub_in, "shape", ints (1, &s12b));
  gsize aw12[2] = { 5, 12 };
  set (rs, physnn_nir_graph_find_node (rs, "a"), "weight",
      filled (PHYSNN_DTYPE_FLOAT32, 2, aw12, 0.1));
  g_autofree gchar *path2 = save_tmp (r, "conv-bad.nir");
  expect_load_error (path2, "\"head\" (NIRGraph) takes [12]", "[24]");
}

static void
test_shape_mismatch_names_nodes (void)
{
  g_autoptr (PhysnnNirGraph) g = mlp (4, 3);
  /* the LIF now has 5 neurons, the Affine still outputs 3 */
  gsize five[1] = { 5 };
  gint lif = physnn_nir_graph_find_node (g, "lif");
  const gchar *p[] = { "tau", "r", "v_leak", "v_threshold", "v_reset" };
  for (guint k = 0; k < 5; k++)
    set (g, lif, p[k], filled (PHYSNN_DTYPE_FLOAT32, 1, five, 0.5));
  g_autofree gchar *path = save_tmp (g, "mismatch.nir");
  expect_load_error (path, "\"fc\"", "\"lif\"");
  expect_load_error (path, "shape mismatch", "[5]");
}

static void
test_malformed_nodes (void)
{
  gsize three[1] = { 3 }, four[1] = { 4 };
  struct {
    const gchar *what;
    const gchar *needle1, *needle2;
  } cases[] = {
    { "unknown type", "\"fc\"", "unknown node type \"Dense\"" },
    { "unknown param", "\"lif\"", "\"alpha\"" },
    { "missing param", "\"lif\"", "\"tau\"" },
    { "string param", "\"lif\"", "\"v_leak\"" },
    { "nan param", "\"lif\"", "NaN" },
    { "neuron shapes", "\"lif\"", "share one shape" },
    { "edge to nowhere", "\"nowhere\"", "does not exist" },
    { "duplicate edge", "duplicate edge", "fc" },
    { "weight rank", "\"fc\"", "\"weight\" has rank 1" },
  };
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    g_autoptr (PhysnnNirGraph) g = mlp (4, 3);
    gint fc = physnn_nir_graph_find_node (g, "fc");
    gint lif = physnn_nir_graph_find_node (g, "lif");
    switch (c) {
      case 0:
        _physnn_nir_graph_node (g, fc)->type =
            (g_free (_physnn_nir_graph_node (g, fc)->type), g_strdup ("Dense"));
        break;
      case 1:
        set (g, lif, "alpha", filled (PHYSNN_DTYPE_FLOAT32, 1, three, 1));
        break;
      case 2:
        g_ptr_array_remove_index (_physnn_nir_graph_node (g, lif)->params, 0);
        /* params are ordered as set: tau first */
        break;
      case 3:
        physnn_nir_graph_set_param_string (g, lif, "v_leak", "zero");
        break;
      case 4: {
        PhysnnTensor *t = filled (PHYSNN_DTYPE_FLOAT32, 1, three, 0.5);
        physnn_tensor_set_value (t, 1, NAN);
        set (g, lif, "r", t);
        break;
      }
      case 5:
        set (g, lif, "v_threshold", filled (PHYSNN_DTYPE_FLOAT32, 1, four, 1));
        break;
      case 6:
        physnn_nir_graph_add_edge (g, "lif", "nowhere");
        break;
      case 7:
        physnn_nir_graph_add_edge (g, "fc", "lif");
        break;
      case 8:
        set (g, fc, "weight", filled (PHYSNN_DTYPE_FLOAT32, 1, three, 1));
        break;
    }
    g_autofree gchar *name = g_strdup_printf ("bad%u.nir", c);
    g_autofree gchar *path = save_tmp (g, name);
    g_test_message ("case: %s", cases[c].what);
    expect_load_error (path, cases[c].needle1, cases[c].needle2);
    expect_load_error (path, name, NULL);
  }
}

static void
test_not_nir (void)
{
  g_autofree gchar *text = g_build_filename (tmpdir, "text.nir", NULL);
  g_file_set_contents (text, "this is not HDF5\n", -1, NULL);
  expect_load_error (text, "text.nir", "not an HDF5 file");
  expect_load_error ("/nonexistent/dir/x.nir", "/nonexistent/dir/x.nir", NULL);
  expect_load_error (tmpdir, "not a regular file", NULL);

  /* an HDF5 file that is not NIR: our writer with an empty graph, then the
   * node group's type damaged is covered by byte flips below; here a file
   * whose root lacks /node */
  g_autoptr (PhysnnNirGraph) empty = physnn_nir_graph_new ();
  g_autofree gchar *e = save_tmp (empty, "empty.nir");
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnNirGraph) r = physnn_nir_graph_load (e, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (physnn_nir_graph_get_n_nodes (r), ==, 0);
}

/* Truncations and byte flips: errors, never crashes or hangs. */
static void
test_hostile_bytes (void)
{
  g_autoptr (PhysnnNirGraph) g = mlp (6, 5);
  g_autofree gchar *path = save_tmp (g, "good.nir");
  g_autofree gchar *data = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_autofree gchar *bad = g_build_filename (tmpdir, "hostile.nir", NULL);
  guint errors = 0, loaded = 0;

  for (gsize cut = 0; cut < len; cut += MAX (len / 64, 1)) {
    g_file_set_contents (bad, data, (gssize)cut, NULL);
    g_autoptr (GError) error = NULL;
    g_autoptr (PhysnnNirGraph) r = physnn_nir_graph_load (bad, &error);
    g_assert_true ((r == NULL) != (error == NULL));
    if (error) {
      g_assert_nonnull (strstr (error->message, "hostile.nir"));
      errors++;
    }
  }
  GRand *rnd = g_rand_new_with_seed (1234);
  g_autofree gchar *copy = g_malloc (len);
  for (guint k = 0; k < 300; k++) {
    memcpy (copy, data, len);
    guint flips = g_rand_int_range (rnd, 1, 8);
    for (guint f = 0; f < flips; f++)
      copy[g_rand_int_range (rnd, 0, (gint32)len)] ^=
          (gchar)g_rand_int_range (rnd, 1, 256);
    g_file_set_contents (bad, copy, (gssize)len, NULL);
    g_autoptr (GError) error = NULL;
    g_autoptr (PhysnnNirGraph) r = physnn_nir_graph_load (bad, &error);
    g_assert_true ((r == NULL) != (error == NULL));
    if (r)
      loaded++;
    else
      errors++;
  }
  g_rand_free (rnd);
  g_test_message ("%u hostile files refused, %u still loaded (bytes that do "
                  "not matter)",
      errors, loaded);
  g_assert_cmpuint (errors, >, 0);
}

static void
test_atomic_write (void)
{
  g_autoptr (PhysnnNirGraph) g = mlp (2, 2);
  g_autoptr (GError) error = NULL;
  g_assert_false (
      physnn_nir_graph_save (g, "/nonexistent/dir/out.nir", &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "/nonexistent/dir/out.nir"));
  g_assert_false (g_file_test ("/nonexistent/dir/out.nir", G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("physnn-nir-XXXXXX", NULL);
  g_test_add_func ("/nir/round-trip", test_round_trip);
  g_test_add_func ("/nir/shape-inference", test_shape_inference);
  g_test_add_func ("/nir/shape-mismatch", test_shape_mismatch_names_nodes);
  g_test_add_func ("/nir/malformed-nodes", test_malformed_nodes);
  g_test_add_func ("/nir/not-nir", test_not_nir);
  g_test_add_func ("/nir/hostile-bytes", test_hostile_bytes);
  g_test_add_func ("/nir/atomic-write", test_atomic_write);
  int ret = g_test_run ();
  g_autoptr (GDir) d = g_dir_open (tmpdir, 0, NULL);
  const gchar *n;
  while (d && (n = g_dir_read_name (d))) {
    g_autofree gchar *p = g_build_filename (tmpdir, n, NULL);
    g_unlink (p);
  }
  g_rmdir (tmpdir);
  return ret;
}
