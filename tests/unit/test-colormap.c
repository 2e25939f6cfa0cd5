/* Unit tests: colour maps. Anchors are checked against matplotlib in
 * tests/crosscheck; here the mapping itself. */
#include <physnn/physnn.h>

#include <math.h>

static void
test_ends_and_nan (void)
{
  guint8 rgb[3];
  physnn_colormap_lookup (PHYSNN_COLORMAP_VIRIDIS, 0.0, rgb);
  g_assert_cmpuint (rgb[0], ==, 68);
  g_assert_cmpuint (rgb[2], ==, 84);
  physnn_colormap_lookup (PHYSNN_COLORMAP_VIRIDIS, 2.0, rgb);   /* clamped */
  g_assert_cmpuint (rgb[0], ==, 253);
  physnn_colormap_lookup (PHYSNN_COLORMAP_GRAY, 0.5, rgb);
  g_assert_cmpuint (rgb[0], ==, 128);
  physnn_colormap_lookup (PHYSNN_COLORMAP_INFERNO, NAN, rgb);
  g_assert_cmpuint (rgb[0], ==, 255);
  g_assert_cmpuint (rgb[1], ==, 0);
  g_assert_cmpuint (rgb[2], ==, 255);
}

static void
test_apply_log (void)
{
  gfloat v[4] = { 1e-6f, 1e-3f, 1.0f, INFINITY };
  guint8 rgb[12];
  physnn_colormap_apply (PHYSNN_COLORMAP_GRAY, v, 4, 1e-6, 1.0, TRUE, rgb);
  g_assert_cmpuint (rgb[0], ==, 0);
  g_assert_cmpuint (rgb[3], ==, 128);   /* log midpoint */
  g_assert_cmpuint (rgb[6], ==, 255);
  g_assert_cmpuint (rgb[10], ==, 0);    /* Inf is magenta */
  /* Monotone luminance for viridis along the range. */
  gdouble last = -1;
  for (gint i = 0; i <= 100; i++) {
    physnn_colormap_lookup (PHYSNN_COLORMAP_VIRIDIS, i / 100.0, rgb);
    gdouble lum = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
    g_assert_cmpfloat (lum, >=, last - 0.5);
    last = lum;
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/colormap/ends-and-nan", test_ends_and_nan);
  g_test_add_func ("/colormap/apply-log", test_apply_log);
  return g_test_run ();
}
