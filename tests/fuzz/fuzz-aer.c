/* libFuzzer harness: the physnn-aer spike-record reader on arbitrary
 * bytes, then the dense conversion of whatever it accepts. Built and run
 * by run-fuzz-aer.sh (clang, ASan, UBSan, LeakSanitizer); any crash,
 * undefined behaviour or leak fails the test suite. */
#include <physnn/neuro-private.h>
#include <physnn/spike-record.h>

#include <stdint.h>

/* The reader's file needs only this from the exporters (for saving). */
gboolean
_physnn_neuro_write_file (
    const gchar *path, const gchar *data, gsize len, GError **error)
{
  return g_file_set_contents (path, data, len, error);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GBytes *bytes = g_bytes_new_static (data, size);
  GError *error = NULL;
  PhysnnSpikeRecord *r =
      physnn_spike_record_load_from_bytes (bytes, "fuzz.aer", &error);
  if (r != NULL) {
    /* dense only when small: the reader may accept huge claimed sizes
     * (steps are not bounded by events), to_dense must refuse them */
    PhysnnTensor *t = physnn_spike_record_to_dense (r, NULL);
    if (t)
      g_object_unref (t);
    g_object_unref (r);
  }
  g_clear_error (&error);
  g_bytes_unref (bytes);
  return 0;
}
