/* onnx-rewrite: reads an ONNX file with physnn and writes it back, or
 * writes a model built in memory, so that onnx_writer_check.py can judge
 * physnn's writer with the onnx package.
 *
 * usage: onnx-rewrite IN.onnx OUT.onnx
 *        onnx-rewrite --build OUT.onnx
 */
#include <physnn/physnn.h>
#include <physnn/onnx-private.h>
#include <physnn/tensor-private.h>

#include <string.h>

/* u = Gemm (tanh (Gemm (x, W1, b1)), W2, b2) on x of shape [N, 2], with
 * W1[i] = 0.25 i - 1, b1[i] = 0.5 i, W2[i] = -0.125 i, b2 = 3; nothing set
 * but what a builder must set, so the writer's defaults are exercised. */
static PhysnnOnnxModel *
build (void)
{
  PhysnnOnnxModel *m = physnn_onnx_model_new ();
  const gsize s_w1[2] = { 2, 4 }, s_b1[1] = { 4 }, s_w2[2] = { 4, 1 },
              s_b2[1] = { 1 };
  const gsize *shapes[4] = { s_w1, s_b1, s_w2, s_b2 };
  const guint ranks[4] = { 2, 1, 2, 1 };
  const gchar *names[4] = { "W1", "b1", "W2", "b2" };
  for (guint k = 0; k < 4; k++) {
    PhysnnTensor *t =
        physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, ranks[k], shapes[k]);
    gfloat *v = _physnn_tensor_host (t, PHYSNN_ACCESS_WRITE);
    for (gsize i = 0; i < physnn_tensor_get_n_elements (t); i++)
      v[i] = k == 0   ? 0.25f * i - 1.0f
             : k == 1 ? 0.5f * i
             : k == 2 ? -0.125f * i
                      : 3.0f;
    g_ptr_array_add (m->initializer_names, g_strdup (names[k]));
    g_hash_table_insert (m->initializers, g_strdup (names[k]), t);
  }
  gint64 din[2] = { -1, 2 }, dout[2] = { -1, 1 };
  PhysnnOnnxValueInfo *x =
      physnn_onnx_value_info_new ("x", PHYSNN_DTYPE_FLOAT32, 2, din);
  x->dim_params[0] = g_strdup ("N");
  PhysnnOnnxValueInfo *u =
      physnn_onnx_value_info_new ("u", PHYSNN_DTYPE_FLOAT32, 2, dout);
  u->dim_params[0] = g_strdup ("N");
  g_ptr_array_add (m->inputs, x);
  g_ptr_array_add (m->outputs, u);
  const gchar *io[3][4] = {
    { "Gemm", "x", "W1", "h" },
    { "Tanh", "h", NULL, "a" },
    { "Gemm", "a", "W2", "u" },
  };
  for (guint k = 0; k < 3; k++) {
    PhysnnOnnxNode *n = physnn_onnx_node_new (io[k][0], NULL);
    g_ptr_array_add (n->inputs, g_strdup (io[k][1]));
    if (io[k][2]) {
      g_ptr_array_add (n->inputs, g_strdup (io[k][2]));
      g_ptr_array_add (n->inputs, g_strdup (k == 0 ? "b1" : "b2"));
    }
    g_ptr_array_add (n->outputs, g_strdup (io[k][3]));
    g_ptr_array_add (m->nodes, n);
  }
  g_hash_table_insert (
      m->metadata, g_strdup ("physnn.coords"), g_strdup ("x,t"));
  return m;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnOnnxModel) m = NULL;

  if (argc != 3) {
    g_printerr ("usage: onnx-rewrite IN.onnx OUT.onnx | --build OUT.onnx\n");
    return 2;
  }
  if (strcmp (argv[1], "--build") == 0)
    m = build ();
  else
    m = physnn_onnx_model_load (argv[1], &error);
  if (m == NULL || !physnn_onnx_model_save (m, argv[2], &error)) {
    g_printerr ("onnx-rewrite: %s\n", error->message);
    return 1;
  }
  return 0;
}
