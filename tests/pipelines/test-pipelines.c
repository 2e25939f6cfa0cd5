/* Pipeline tests: every file in pipelines/ runs through gst_parse_launch to
 * EOS without errors and writes its output; typical mistakes give errors
 * that say what is wrong. */
#include <gst/check/gstcheck.h>

#include <glib/gstdio.h>
#include <string.h>

static gchar *
read_pipeline (const gchar *path, const gchar *outdir)
{
  g_autofree gchar *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  GString *s = g_string_new (NULL);
  for (guint i = 0; lines[i]; i++)
    if (lines[i][0] != '#')
      g_string_append_printf (s, "%s ", lines[i]);
  g_autofree gchar *launch = g_string_free (s, FALSE);
  g_auto (GStrv) parts = g_strsplit (launch, "@OUTDIR@", -1);
  g_autofree gchar *with_out = g_strjoinv (outdir, parts);
  /* @SRCDIR@: the source tree, for models shipped in models/ */
  g_auto (GStrv) src_parts = g_strsplit (with_out, "@SRCDIR@", -1);
  return g_strjoinv (g_getenv ("PHYSNN_SOURCE_DIR"), src_parts);
}

/* Runs to EOS; returns the first error message or NULL. */
static gchar *
run_launch (const gchar *launch, guint timeout_s)
{
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (launch, &error);
  gchar *result = NULL;

  if (pipeline == NULL) {
    result = g_strdup (error->message);
    g_error_free (error);
    return result;
  }
  if (error != NULL) {
    /* A pipeline with a link error: gst-launch would refuse it too. */
    result = g_strdup (error->message);
    g_error_free (error);
    gst_object_unref (pipeline);
    return result;
  }
  GstBus *bus = gst_element_get_bus (pipeline);
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    if (m) {
      gst_message_parse_error (m, &error, NULL);
      result = g_strdup (error->message);
      g_error_free (error);
      gst_message_unref (m);
    } else {
      result = g_strdup ("state change failed without an error message");
    }
  } else {
    GstMessage *m = gst_bus_timed_pop_filtered (bus, timeout_s * GST_SECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    if (m == NULL) {
      result = g_strdup ("timeout");
    } else {
      if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
        gchar *dbg = NULL;
        gst_message_parse_error (m, &error, &dbg);
        result = g_strdup_printf ("%s (%s)", error->message, dbg);
        g_error_free (error);
        g_free (dbg);
      }
      gst_message_unref (m);
    }
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return result;
}

static guint
count_files (const gchar *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  guint n = 0;
  if (d == NULL)
    return 0;
  while (g_dir_read_name (d))
    n++;
  g_dir_close (d);
  return n;
}

GST_START_TEST (test_shipped_pipelines)
{
  const gchar *src = g_getenv ("PHYSNN_SOURCE_DIR");
  fail_unless (src != NULL, "PHYSNN_SOURCE_DIR not set");
  g_autofree gchar *dir = g_build_filename (src, "pipelines", NULL);
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *name;
  guint ran = 0;

  fail_unless (d != NULL);
  while ((name = g_dir_read_name (d))) {
    if (!g_str_has_suffix (name, ".pipeline"))
      continue;
    g_autofree gchar *path = g_build_filename (dir, name, NULL);
    g_autofree gchar *out = g_dir_make_tmp ("physnn-pipe-XXXXXX", NULL);
    g_autofree gchar *launch = read_pipeline (path, out);
    g_autofree gchar *err = run_launch (launch, 120);
    fail_unless (err == NULL, "%s: %s\n%s", name, err, launch);
    fail_unless (count_files (out) > 0, "%s wrote nothing to %s", name, out);
    g_print ("%s: %u files\n", name, count_files (out));
    ran++;
  }
  g_dir_close (d);
  fail_unless (ran >= 2);
}
GST_END_TEST;

GST_START_TEST (test_user_mistakes)
{
  const struct {
    const gchar *launch;
    const gchar *needle;
  } cases[] = {
    /* impossible simulator settings */
    {"pdesrc nx=2 num-buffers=1 ! fakesink", "nx"},
    {"pdesrc sensors=2 sensor-positions=0.1:0.2 num-buffers=1 ! fakesink",
        "sensor-positions"},
    {"pdesrc range-min=1 range-max=0 num-buffers=1 ! fakesink", "range-max"},
    /* caps that cannot be produced */
    {"pdesrc num-buffers=1 ! video/x-raw,format=I420 ! fakesink",
        "could not link"},
    {"pdesrc num-buffers=1 ! video/x-raw,format=GRAY8,width=17 ! fakesink",
        "downstream accepts video/x-raw, format=(string)GRAY8, width=(int)17"},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree gchar *err = run_launch (cases[i].launch, 30);
    fail_unless (err != NULL, "no error for: %s", cases[i].launch);
    g_print ("%s\n  -> %s\n", cases[i].launch, err);
    fail_unless (strstr (err, cases[i].needle) != NULL,
        "error \"%s\" for %s does not mention %s", err, cases[i].launch,
        cases[i].needle);
  }
}
GST_END_TEST;

static Suite *
pipelines_suite (void)
{
  Suite *s = suite_create ("pipelines");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 600);
  tcase_add_test (tc, test_shipped_pipelines);
  tcase_add_test (tc, test_user_mistakes);
  return s;
}

GST_CHECK_MAIN (pipelines);
