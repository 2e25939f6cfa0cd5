/* Unit tests: NNStreamer-compatible caps parsing and serialisation. */
#include <gst/gst.h>

#include "gstphysnncaps.h"

#include <string.h>

static GstPhysnnTensorsInfo info;

static gboolean
parse (const gchar *caps_str, GError **error)
{
  g_autoptr (GstCaps) caps = gst_caps_from_string (caps_str);
  g_assert_nonnull (caps);
  return gst_physnn_tensors_info_from_caps (&info, caps, error);
}

static void
test_dimension_order (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (parse ("other/tensors, format=static, num_tensors=2, "
          "types=\"float32,uint8\", dimensions=(string)\"3:224:224:1,10\", "
          "framerate=30/1", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (info.n_tensors, ==, 2);
  g_assert_cmpint (info.tensors[0].dtype, ==, PHYSNN_DTYPE_FLOAT32);
  g_assert_cmpuint (info.tensors[0].rank, ==, 4);
  /* Innermost first in caps, outermost first inside. */
  g_assert_cmpuint (info.tensors[0].shape[0], ==, 1);
  g_assert_cmpuint (info.tensors[0].shape[1], ==, 224);
  g_assert_cmpuint (info.tensors[0].shape[3], ==, 3);
  g_assert_cmpuint (gst_physnn_tensor_info_get_size (&info.tensors[0]), ==,
      224 * 224 * 3 * 4);
  g_assert_cmpint (info.tensors[1].dtype, ==, PHYSNN_DTYPE_UINT8);
  g_assert_cmpint (info.fps_n, ==, 30);

  /* Round trip. */
  g_autoptr (GstCaps) out = gst_physnn_tensors_info_to_caps (&info);
  GstStructure *s = gst_caps_get_structure (out, 0);
  g_assert_cmpstr (gst_structure_get_string (s, "dimensions"), ==,
      "3:224:224:1,10");
  g_assert_cmpstr (gst_structure_get_string (s, "types"), ==,
      "float32,uint8");

  /* Trailing (outer) 1s do not change the layout. */
  GstPhysnnTensorInfo a = info.tensors[0], b;
  gsize shape3[3] = { 224, 224, 3 };
  gst_physnn_tensor_info_set (&b, PHYSNN_DTYPE_FLOAT32, 3, shape3);
  g_assert_true (gst_physnn_tensor_info_same_layout (&a, &b));
  b.dtype = PHYSNN_DTYPE_UINT8;
  g_assert_false (gst_physnn_tensor_info_same_layout (&a, &b));
}

static void
test_bad_fields (void)
{
  struct {
    const gchar *caps;
    const gchar *needle;
  } cases[] = {
    {"other/tensors, format=static, types=float32, dimensions=(string)\"3:x\"",
        "\"x\""},
    {"other/tensors, format=static, types=float32, dimensions=(string)\"3:0\"",
        "\"0\""},
    {"other/tensors, format=static, types=float32, dimensions=(string)\"\"",
        "empty"},
    {"other/tensors, format=static, types=floaty, dimensions=3",
        "\"floaty\""},
    {"other/tensors, format=static, num_tensors=2, types=float32, "
          "dimensions=3", "num_tensors=2"},
    {"other/tensors, format=flexible, types=float32, dimensions=3",
        "format=flexible"},
    {"other/tensors, format=static, types=float32", "dimensions"},
    {"other/tensors, format=static, types=float32, "
          "dimensions=(string)\"1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1\"", "rank 17"},
    {"other/tensors, format=static, types=float32, "
          "dimensions=(string)\"65536:65536\"", "2^31"},
    {"video/x-raw, format=RGB, width=4, height=4, framerate=1/1", "RGB"},
    {"audio/x-raw, format=S32LE, layout=interleaved, rate=8000, channels=2",
        "S32LE"},
    {"application/x-foo", "application/x-foo"},
    {"other/tensors, format=static, types=float32, dimensions=(GstFlagSet)3:f",
        "dimensions=(string)"},
    {"other/tensors, format=static, types=float32, dimensions=(int)-3",
        "\"-3\""},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;
    g_assert_false (parse (cases[i].caps, &error));
    g_assert_nonnull (error);
    if (strstr (error->message, cases[i].needle) == NULL)
      g_error ("caps %s: message \"%s\" does not quote \"%s\"",
          cases[i].caps, error->message, cases[i].needle);
  }
}

static void
test_raw_media (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (parse ("audio/x-raw, format=S16LE, layout=interleaved, "
          "rate=8000, channels=3", &error));
  g_assert_cmpint (info.media, ==, GST_PHYSNN_MEDIA_AUDIO);
  g_assert_cmpint (info.tensors[0].dtype, ==, PHYSNN_DTYPE_INT16);
  g_assert_cmpuint (info.tensors[0].shape[1], ==, 3);

  g_assert_true (parse ("video/x-raw, format=GRAY16_LE, width=5, height=3, "
          "framerate=10/1", &error));
  g_assert_cmpint (info.media, ==, GST_PHYSNN_MEDIA_VIDEO);
  g_assert_cmpint (info.tensors[0].dtype, ==, PHYSNN_DTYPE_UINT16);
  g_assert_cmpuint (info.tensors[0].shape[0], ==, 3);
  g_assert_cmpuint (info.tensors[0].shape[1], ==, 5);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/caps/dimension-order", test_dimension_order);
  g_test_add_func ("/caps/bad-fields", test_bad_fields);
  g_test_add_func ("/caps/raw-media", test_raw_media);
  return g_test_run ();
}
