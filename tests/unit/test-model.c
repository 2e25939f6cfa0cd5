/* Unit tests: ONNX reading and writing, graph errors, derivative requests.
 * Values and derivatives themselves are checked against PyTorch in
 * tests/crosscheck/model_vs_torch.py; here the engine's own checks and a
 * model small enough to differentiate by hand. */
#include <physnn/physnn.h>
#include <physnn/onnx-private.h>
#include <physnn/graph-private.h>

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* u(x) = w2 · tanh (w1 x + b1) + b2 with one hidden unit: u_x and u_xx in
 * closed form. */
static const gfloat W1 = 1.5f, B1 = -0.25f, W2 = 0.8f, B2 = 0.1f;

static PhysnnTensor *
scalar2d (gfloat v)
{
  gsize shape[2] = { 1, 1 };
  gdouble d = v;
  return physnn_tensor_new_from_doubles (PHYSNN_DTYPE_FLOAT32, 2, shape, &d,
      1, NULL);
}

static PhysnnOnnxNode *
node (const gchar *op, const gchar *name, const gchar *in0, const gchar *in1,
    const gchar *in2, const gchar *out)
{
  PhysnnOnnxNode *n = physnn_onnx_node_new (op, name);
  g_ptr_array_add (n->inputs, g_strdup (in0));
  if (in1)
    g_ptr_array_add (n->inputs, g_strdup (in1));
  if (in2)
    g_ptr_array_add (n->inputs, g_strdup (in2));
  g_ptr_array_add (n->outputs, g_strdup (out));
  return n;
}

static PhysnnOnnxModel *
tiny_model (void)
{
  PhysnnOnnxModel *m = physnn_onnx_model_new ();
  gint64 dims[2] = { -1, 1 };
  m->path = g_strdup ("tiny.onnx");
  m->opset = 13;
  g_ptr_array_add (m->inputs, physnn_onnx_value_info_new ("x",
          PHYSNN_DTYPE_FLOAT32, 2, dims));
  g_ptr_array_add (m->outputs, physnn_onnx_value_info_new ("u",
          PHYSNN_DTYPE_FLOAT32, 2, dims));
  const gchar *names[4] = { "w1", "b1", "w2", "b2" };
  gfloat vals[4] = { W1, B1, W2, B2 };
  for (guint i = 0; i < 4; i++) {
    g_ptr_array_add (m->initializer_names, g_strdup (names[i]));
    g_hash_table_insert (m->initializers, g_strdup (names[i]),
        scalar2d (vals[i]));
  }
  g_ptr_array_add (m->nodes, node ("Gemm", "l1", "x", "w1", "b1", "h"));
  g_ptr_array_add (m->nodes, node ("Tanh", "act", "h", NULL, NULL, "a"));
  g_ptr_array_add (m->nodes, node ("Gemm", "l2", "a", "w2", "b2", "u"));
  g_hash_table_insert (m->metadata, g_strdup ("physnn.pde"),
      g_strdup ("u_x"));
  return m;
}

static PhysnnModel *
model_from (PhysnnOnnxModel *m, GError **error)
{
  g_autoptr (GBytes) bytes = physnn_onnx_model_serialize (m, error);
  if (bytes == NULL)
    return NULL;
  return physnn_model_new_from_bytes (bytes, m->path, error);
}

static void
check_tiny (const gchar *device_spec)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnOnnxModel) om = tiny_model ();
  g_autoptr (PhysnnModel) model = model_from (om, &error);
  g_assert_no_error (error);
  g_autoptr (PhysnnDevice) dev = physnn_device_new (device_spec, &error);
  if (dev == NULL) {
    g_test_skip_printf ("%s", error->message);
    return;
  }
  g_assert_cmpstr (physnn_model_get_coordinate_names (model), ==, "x");
  g_assert_true (physnn_model_set_derivatives (model, "u_x,u_xx", &error));
  g_assert_no_error (error);

  gdouble xs[5] = { -1.0, -0.3, 0.0, 0.4, 2.0 };
  gsize shape[2] = { 5, 1 };
  PhysnnTensor *in = physnn_tensor_new_from_doubles (PHYSNN_DTYPE_FLOAT32, 2,
      shape, xs, 5, NULL);
  g_autoptr (GPtrArray) out = physnn_model_run (model, dev, &in, 1, &error);
  g_object_unref (in);
  g_assert_no_error (error);
  g_assert_cmpuint (out->len, ==, 3);
  for (guint i = 0; i < 5; i++) {
    gdouble z = W1 * (gfloat) xs[i] + B1, th = tanh (z);
    gdouble u = W2 * th + B2;
    gdouble ux = W2 * (1 - th * th) * W1;
    gdouble uxx = W2 * (-2 * th * (1 - th * th)) * W1 * W1;
    g_assert_cmpfloat_with_epsilon (physnn_tensor_get_value (out->pdata[0], i),
        u, 2e-6);
    g_assert_cmpfloat_with_epsilon (physnn_tensor_get_value (out->pdata[1], i),
        ux, 2e-6);
    g_assert_cmpfloat_with_epsilon (physnn_tensor_get_value (out->pdata[2], i),
        uxx, 2e-6);
  }
}

static void
test_tiny_cpu (void)
{
  check_tiny ("cpu");
}

static void
test_tiny_opencl (void)
{
  check_tiny ("opencl");
}

static void
test_round_trip (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnOnnxModel) om = tiny_model ();
  g_autofree gchar *dir = g_dir_make_tmp ("physnn-onnx-XXXXXX", NULL);
  g_autofree gchar *path = g_build_filename (dir, "tiny.onnx", NULL);
  g_assert_true (physnn_onnx_model_save (om, path, &error));
  g_assert_no_error (error);
  g_autoptr (PhysnnOnnxModel) back = physnn_onnx_model_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (back->nodes->len, ==, 3);
  g_assert_cmpint (back->opset, ==, 13);
  g_assert_cmpstr (g_hash_table_lookup (back->metadata, "physnn.pde"), ==,
      "u_x");
  PhysnnOnnxValueInfo *vi = g_ptr_array_index (back->inputs, 0);
  g_assert_cmpint (vi->dims[0], ==, -1);
  g_assert_cmpint (vi->dims[1], ==, 1);
  PhysnnTensor *w = g_hash_table_lookup (back->initializers, "w2");
  g_assert_cmpfloat (physnn_tensor_get_value (w, 0), ==, W2);
  g_autoptr (GBytes) a = physnn_onnx_model_serialize (om, NULL);
  g_autoptr (GBytes) b = physnn_onnx_model_serialize (back, NULL);
  g_assert_true (g_bytes_equal (a, b));
  g_unlink (path);

  /* An unwritable place is an error, not a crash. */
  g_assert_false (physnn_onnx_model_save (om, "/nonexistent/dir/x.onnx",
          &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO);
  g_rmdir (dir);
}

static void
test_corrupt_files (void)
{
  g_autoptr (PhysnnOnnxModel) om = tiny_model ();
  g_autoptr (GBytes) good = physnn_onnx_model_serialize (om, NULL);
  gsize size;
  const guint8 *data = g_bytes_get_data (good, &size);

  /* Every truncation and thousands of random corruptions: an error or a
   * valid model, never a crash (valgrind/ASan runs check memory). */
  for (gsize cut = 0; cut < size; cut++) {
    g_autoptr (GBytes) b = g_bytes_new (data, cut);
    g_autoptr (GError) error = NULL;
    g_autoptr (PhysnnModel) m = physnn_model_new_from_bytes (b, "cut.onnx",
        &error);
    if (m == NULL)
      g_assert_nonnull (strstr (error->message, "cut.onnx"));
  }
  GRand *rand = g_rand_new_with_seed (7);
  g_autofree guint8 *copy = g_memdup2 (data, size);
  for (guint i = 0; i < 3000; i++) {
    memcpy (copy, data, size);
    for (guint k = 0; k < 1 + i % 4; k++)
      copy[g_rand_int_range (rand, 0, (gint32) size)] = (guint8)
          g_rand_int (rand);
    g_autoptr (GBytes) b = g_bytes_new (copy, size);
    g_autoptr (GError) error = NULL;
    g_autoptr (PhysnnModel) m = physnn_model_new_from_bytes (b, "flip.onnx",
        &error);
    g_assert_true ((m == NULL) == (error != NULL));
  }
  g_rand_free (rand);

  g_autoptr (GError) error = NULL;
  g_assert_null (physnn_model_new_from_file ("/nonexistent.onnx", &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO);
  g_clear_error (&error);
  g_assert_null (physnn_model_new_from_file ("/", &error));
  g_assert_nonnull (strstr (error->message, "not a regular file"));
}

static void
expect_build_error (PhysnnOnnxModel *m, const gchar *needle)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnModel) model = model_from (m, &error);
  g_assert_null (model);
  g_assert_nonnull (error);
  if (strstr (error->message, needle) == NULL)
    g_error ("\"%s\" does not mention \"%s\"", error->message, needle);
}

static void
test_graph_errors (void)
{
  {
    g_autoptr (PhysnnOnnxModel) m = tiny_model ();
    PhysnnOnnxNode *n = g_ptr_array_index (m->nodes, 1);
    g_free (n->op_type);
    n->op_type = g_strdup ("Mish");
    expect_build_error (m, "node \"act\": op Mish is not supported");
  }
  {
    g_autoptr (PhysnnOnnxModel) m = tiny_model ();
    PhysnnOnnxNode *n = g_ptr_array_index (m->nodes, 2);
    g_free (g_ptr_array_index (n->inputs, 0));
    g_ptr_array_index (n->inputs, 0) = g_strdup ("nowhere");
    expect_build_error (m, "\"nowhere\" is never computed");
  }
  {
    /* x ^ h: the exponent must be a constant */
    g_autoptr (PhysnnOnnxModel) m = tiny_model ();
    g_ptr_array_add (m->nodes, node ("Pow", "p", "x", "h", NULL, "q"));
    expect_build_error (m, "exponent must be a constant");
  }
  {
    g_autoptr (PhysnnOnnxModel) m = tiny_model ();
    g_ptr_array_set_size (m->outputs, 0);
    g_ptr_array_add (m->outputs, physnn_onnx_value_info_new ("zz",
            PHYSNN_DTYPE_FLOAT32, 0, NULL));
    expect_build_error (m, "\"zz\" is not produced");
  }
  {
    g_autoptr (PhysnnOnnxModel) m = tiny_model ();
    PhysnnOnnxNode *n = g_ptr_array_index (m->nodes, 0);
    g_ptr_array_set_size (n->inputs, 1);
    expect_build_error (m, "node \"l1\" (Gemm): has 1 inputs");
  }
}

static void
test_derivative_requests (void)
{
  g_autoptr (PhysnnOnnxModel) om = tiny_model ();
  g_autoptr (PhysnnModel) model = model_from (om, NULL);
  const struct {
    const gchar *spec;
    const gchar *needle;
  } bad[] = {
    {"u_q", "\"q\" is not a coordinate"},
    {"u_xxx", "order 3"},
    {"v_x", "expected an output name"},
    {"u_", "names no coordinate"},
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) error = NULL;
    g_assert_false (physnn_model_set_derivatives (model, bad[i].spec, &error));
    if (strstr (error->message, bad[i].needle) == NULL)
      g_error ("%s: \"%s\" does not say %s", bad[i].spec, error->message,
          bad[i].needle);
    g_assert_cmpuint (physnn_model_get_n_derivatives (model), ==, 0);
  }
  g_autoptr (GError) error = NULL;
  g_assert_false (physnn_model_set_coordinates (model, "x", "a,b", &error));
  g_assert_nonnull (strstr (error->message, "width 1"));
  g_clear_error (&error);
  g_assert_true (physnn_model_set_coordinates (model, "x", "z", &error));
  g_assert_true (physnn_model_set_derivatives (model, "u_zz", &error));
  g_assert_cmpstr (physnn_model_get_derivative_name (model, 0), ==, "u_zz");

  /* wrong input shape at run time */
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", NULL);
  gsize shape[2] = { 4, 2 };
  g_autoptr (PhysnnTensor) in = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2,
      shape);
  PhysnnTensor *ins[1] = { in };
  g_autoptr (GPtrArray) out = physnn_model_run (model, cpu, ins, 1, &error);
  g_assert_null (out);
  g_assert_nonnull (strstr (error->message, "expects x float32[?,1]"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model/tiny-cpu", test_tiny_cpu);
  g_test_add_func ("/model/tiny-opencl", test_tiny_opencl);
  g_test_add_func ("/model/round-trip", test_round_trip);
  g_test_add_func ("/model/corrupt-files", test_corrupt_files);
  g_test_add_func ("/model/graph-errors", test_graph_errors);
  g_test_add_func ("/model/derivative-requests", test_derivative_requests);
  return g_test_run ();
}
