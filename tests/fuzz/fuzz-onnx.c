/* libFuzzer harness: the ONNX reader and the graph builder on arbitrary
 * bytes. Built and run by run-fuzz.sh (clang, ASan, UBSan, LeakSanitizer);
 * any crash, undefined behaviour or leak fails the test suite. */
#include <physnn/graph-private.h>
#include <physnn/onnx-private.h>

#include <stdint.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GBytes *bytes = g_bytes_new_static (data, size);
  GError *error = NULL;
  PhysnnOnnxModel *m = physnn_onnx_model_load_from_bytes (bytes, "fuzz.onnx",
      &error);
  if (m != NULL) {
    PhysnnGraph *g = physnn_graph_new_from_onnx (m, &error);
    if (g != NULL) {
      /* the writer too: whatever loads must serialise */
      GBytes *again = physnn_onnx_model_serialize (m, NULL);
      if (again)
        g_bytes_unref (again);
      physnn_graph_free (g);
    }
    physnn_onnx_model_free (m);
  }
  g_clear_error (&error);
  g_bytes_unref (bytes);
  return 0;
}
