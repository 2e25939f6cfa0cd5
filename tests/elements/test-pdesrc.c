/* Element tests: pdesrc caps, timestamps, values, sensors, faults, video
 * and errors. The numerical accuracy itself is tested in unit/simulator. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <gst/base/gstbasesrc.h>

#include <math.h>
#include <string.h>

static GstHarness *
src_harness (const gchar *props)
{
  g_autofree gchar *desc = g_strdup_printf ("pdesrc %s", props ? props : "");
  GstHarness *h = gst_harness_new_parse (desc);
  gst_harness_play (h);
  return h;
}

static GstStructure *
current_caps_structure (GstHarness *h, GstCaps **caps)
{
  *caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (*caps != NULL);
  return gst_caps_get_structure (*caps, 0);
}

static const gfloat *
map_mem (GstBuffer *b, guint idx, GstMapInfo *map)
{
  fail_unless (gst_memory_map (gst_buffer_peek_memory (b, idx), map,
          GST_MAP_READ));
  return (const gfloat *) map->data;
}

GST_START_TEST (test_default_heat1d)
{
  GstHarness *h = src_harness ("framerate=50/1");
  GstBuffer *b0 = gst_harness_pull (h);
  GstBuffer *b1 = gst_harness_pull (h);
  GstCaps *caps;
  GstStructure *s = current_caps_structure (h, &caps);

  fail_unless (gst_structure_has_name (s, "other/tensors"));
  fail_unless_equals_string (gst_structure_get_string (s, "types"),
      "float32");
  fail_unless_equals_string (gst_structure_get_string (s, "dimensions"),
      "256");
  gst_caps_unref (caps);

  fail_unless_equals_uint64 (GST_BUFFER_PTS (b0), 0);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (b1), 20 * GST_MSECOND);
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (b1), 20 * GST_MSECOND);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (b1), 1);
  fail_unless (GST_BUFFER_FLAG_IS_SET (b0, GST_BUFFER_FLAG_DISCONT));

  /* Frame 0 is the initial state sin(pi x) on [0, 1]. */
  GstMapInfo map;
  const gfloat *u = map_mem (b0, 0, &map);
  fail_unless_equals_uint64 (map.size, 256 * 4);
  for (guint i = 0; i < 256; i++)
    fail_unless (fabs (u[i] - sin (M_PI * i / 255.0)) < 1e-6);
  gst_memory_unmap (gst_buffer_peek_memory (b0, 0), &map);

  /* Frame 1 decayed as exp(-alpha pi^2 t), alpha = 0.1, t = 0.02. */
  u = map_mem (b1, 0, &map);
  gdouble decay = exp (-0.1 * M_PI * M_PI * 0.02);
  fail_unless (fabs (u[128] - decay * sin (M_PI * 128 / 255.0)) < 1e-5);
  gst_memory_unmap (gst_buffer_peek_memory (b1, 0), &map);

  gst_buffer_unref (b0);
  gst_buffer_unref (b1);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_sensors_and_mask)
{
  GstHarness *h = src_harness ("sensors=4 outputs=field+sensors+mask+positions "
      "fault=stuck fault-sensor=2 fault-start=0.05 framerate=100/1");
  GstCaps *caps;
  GstBuffer *b = gst_harness_pull (h);
  GstStructure *s = current_caps_structure (h, &caps);
  fail_unless_equals_string (gst_structure_get_string (s, "types"),
      "float32,float32,uint8,float32");
  fail_unless_equals_string (gst_structure_get_string (s, "dimensions"),
      "256,4,4,1:4");
  gst_caps_unref (caps);
  fail_unless_equals_int (gst_buffer_n_memory (b), 4);

  /* Evenly spaced interior positions: 0.2, 0.4, 0.6, 0.8. */
  GstMapInfo pm, sm, mm;
  const gfloat *pos = map_mem (b, 3, &pm);
  const gfloat *val = map_mem (b, 1, &sm);
  for (guint i = 0; i < 4; i++) {
    fail_unless (fabs (pos[i] - 0.2 * (i + 1)) < 1e-6);
    fail_unless (fabs (val[i] - sin (M_PI * pos[i])) < 2e-3);
  }
  gst_memory_unmap (gst_buffer_peek_memory (b, 3), &pm);
  gst_memory_unmap (gst_buffer_peek_memory (b, 1), &sm);
  gst_buffer_unref (b);

  /* After the onset, sensor 2 repeats its value and the mask says so. */
  gfloat stuck = NAN;
  for (guint f = 1; f < 12; f++) {
    b = gst_harness_pull (h);
    const gfloat *v = map_mem (b, 1, &sm);
    const guint8 *m = (const guint8 *) map_mem (b, 2, &mm);
    gboolean after = f >= 5;
    fail_unless_equals_int (m[2], after ? 1 : 0);
    fail_unless_equals_int (m[0], 0);
    if (f == 5)
      stuck = v[2];
    if (after)
      fail_unless_equals_float (v[2], stuck);
    gst_memory_unmap (gst_buffer_peek_memory (b, 1), &sm);
    gst_memory_unmap (gst_buffer_peek_memory (b, 2), &mm);
    gst_buffer_unref (b);
  }
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_seed_determinism)
{
  gfloat first[2][8];
  for (guint run = 0; run < 2; run++) {
    GstHarness *h = src_harness ("pde=burgers-1d sensors=8 noise-sigma=0.05 "
        "seed=42 outputs=sensors");
    gst_buffer_unref (gst_harness_pull (h));
    GstBuffer *b = gst_harness_pull (h);
    GstMapInfo m;
    memcpy (first[run], map_mem (b, 0, &m), sizeof first[run]);
    gst_memory_unmap (gst_buffer_peek_memory (b, 0), &m);
    gst_buffer_unref (b);
    gst_harness_teardown (h);
  }
  fail_unless (memcmp (first[0], first[1], sizeof first[0]) == 0);
}
GST_END_TEST;

GST_START_TEST (test_video_2d)
{
  GstHarness *h = gst_harness_new ("pdesrc");
  gst_util_set_object_arg (G_OBJECT (h->element), "pde", "heat-2d");
  g_object_set (h->element, "nx", 30, "ny", 20, "range-min", 0.0, NULL);
  gst_harness_set_sink_caps_str (h, "video/x-raw, format=GRAY8");
  gst_harness_play (h);
  GstBuffer *b = gst_harness_pull (h);
  GstCaps *caps;
  GstStructure *s = current_caps_structure (h, &caps);
  gint w, hh;
  fail_unless (gst_structure_get_int (s, "width", &w));
  fail_unless (gst_structure_get_int (s, "height", &hh));
  fail_unless_equals_int (w, 30);
  fail_unless_equals_int (hh, 20);
  GstVideoInfo vi;
  gst_video_info_from_caps (&vi, caps);
  gst_caps_unref (caps);
  /* sin(pi x) sin(pi y) peaks in the middle (255) and is 0 at the edges. */
  GstMapInfo map;
  gst_buffer_map (b, &map, GST_MAP_READ);
  gint stride = GST_VIDEO_INFO_PLANE_STRIDE (&vi, 0);
  fail_unless_equals_int (map.data[0], 0);
  fail_unless (map.data[10 * stride + 15] > 240);
  gst_buffer_unmap (b, &map);
  gst_buffer_unref (b);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_video_waterfall)
{
  GstHarness *h = gst_harness_new ("pdesrc");
  g_object_set (h->element, "history", 16, NULL);
  gst_harness_set_sink_caps_str (h, "video/x-raw, format=RGB");
  gst_harness_play (h);
  GstBuffer *b = gst_harness_pull (h);
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  GstVideoInfo vi;
  gst_video_info_from_caps (&vi, caps);
  gst_caps_unref (caps);
  fail_unless_equals_int (GST_VIDEO_INFO_HEIGHT (&vi), 16);
  fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&vi), 256);
  GstMapInfo map;
  gst_buffer_map (b, &map, GST_MAP_READ);
  /* Only the bottom row is filled after one frame; the rest is black. */
  gint stride = GST_VIDEO_INFO_PLANE_STRIDE (&vi, 0);
  fail_unless_equals_int (map.data[0 * stride + 3 * 128], 0);
  fail_unless (map.data[15 * stride + 3 * 128 + 1] > 100);
  gst_buffer_unmap (b, &map);
  gst_buffer_unref (b);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_live)
{
  GstHarness *h = gst_harness_new ("pdesrc");
  g_object_set (h->element, "is-live", TRUE, NULL);
  fail_unless (gst_base_src_is_live (GST_BASE_SRC (h->element)));
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_properties_documented)
{
  GstElement *e = gst_element_factory_make ("pdesrc", NULL);
  guint n = 0;
  GParamSpec **specs = g_object_class_list_properties (G_OBJECT_GET_CLASS (e),
      &n);
  const gchar *expected[] = { "pde", "alpha", "nu", "c", "nx", "ny", "dt",
    "initial", "boundary", "source-amplitude", "noise-sigma", "fault",
    "fault-start", "sensors", "framerate", "time-scale", "seed", NULL
  };
  for (guint i = 0; expected[i]; i++)
    fail_unless (g_object_class_find_property (G_OBJECT_GET_CLASS (e),
            expected[i]) != NULL, "no property %s", expected[i]);
  for (guint i = 0; i < n; i++) {
    const gchar *blurb = g_param_spec_get_blurb (specs[i]);
    fail_unless (blurb && strlen (blurb) > 10, "property %s has no blurb",
        specs[i]->name);
  }
  g_free (specs);
  gst_object_unref (e);
}
GST_END_TEST;

static Suite *
pdesrc_suite (void)
{
  Suite *s = suite_create ("pdesrc");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_default_heat1d);
  tcase_add_test (tc, test_sensors_and_mask);
  tcase_add_test (tc, test_seed_determinism);
  tcase_add_test (tc, test_video_2d);
  tcase_add_test (tc, test_video_waterfall);
  tcase_add_test (tc, test_live);
  tcase_add_test (tc, test_properties_documented);
  return s;
}

GST_CHECK_MAIN (pdesrc);
