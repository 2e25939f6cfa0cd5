/* Unit tests: PhysnnDevice selection, OpenCL vs the reference C path, the
 * kernel binary cache (including corrupt entries) and build errors.
 * OpenCL cases are skipped, loudly, when no OpenCL device exists. */
#include <physnn/physnn.h>
#include <physnn/device-private.h>

#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static gchar *cache_dir;

static PhysnnDevice *
opencl_or_skip (void)
{
  g_autoptr (GError) error = NULL;
  PhysnnDevice *dev = physnn_device_new ("opencl", &error);
  if (dev == NULL)
    g_test_skip_printf ("no OpenCL device: %s", error->message);
  return dev;
}

static void
test_enumerate (void)
{
  g_autoptr (GPtrArray) all = physnn_device_enumerate (NULL);
  g_assert_cmpuint (all->len, >=, 1);
  PhysnnDevice *first = g_ptr_array_index (all, 0);
  g_assert_cmpstr (physnn_device_get_spec (first), ==, "cpu");
  g_assert_cmpint (physnn_device_get_kind (first), ==,
      PHYSNN_DEVICE_KIND_CPU);
  for (guint i = 1; i < all->len; i++) {
    PhysnnDevice *d = g_ptr_array_index (all, i);
    g_assert_true (g_str_has_prefix (physnn_device_get_spec (d), "opencl:"));
    g_assert_cmpuint (physnn_device_get_compute_units (d), >, 0);
    /* Each enumerated spec opens as itself. */
    g_autoptr (GError) error = NULL;
    g_autoptr (PhysnnDevice) again =
        physnn_device_new (physnn_device_get_spec (d), &error);
    g_assert_no_error (error);
    g_assert_cmpstr (physnn_device_get_name (again), ==,
        physnn_device_get_name (d));
  }
}

static void
test_bad_specs (void)
{
  struct {
    const gchar *spec;
    gint code;
    const gchar *needle;
  } cases[] = {
    {"gpu0", PHYSNN_ERROR_INVALID_ARGUMENT, "\"gpu0\""},
    {"opencl:x", PHYSNN_ERROR_INVALID_ARGUMENT, "opencl:P.D"},
    {"opencl:1", PHYSNN_ERROR_INVALID_ARGUMENT, "opencl:P.D"},
    {"opencl:9.9", PHYSNN_ERROR_NO_DEVICE, NULL},
    {"opencl:0.31", PHYSNN_ERROR_NO_DEVICE, NULL},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (PhysnnDevice) d = physnn_device_new (cases[i].spec, &error);
    g_assert_null (d);
    g_assert_nonnull (error);
    g_assert_true (error->domain == PHYSNN_ERROR);
    g_assert_cmpint (error->code, ==, cases[i].code);
    if (cases[i].needle)
      g_assert_nonnull (strstr (error->message, cases[i].needle));
  }
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", NULL);
  g_assert_nonnull (cpu);
  g_assert_null (physnn_device_get_fallback_reason (cpu));
}

static void
test_env_override (void)
{
  g_setenv ("PHYSNN_DEVICE", "cpu", TRUE);
  g_autoptr (PhysnnDevice) d = physnn_device_new ("auto", NULL);
  g_unsetenv ("PHYSNN_DEVICE");
  g_assert_cmpint (physnn_device_get_kind (d), ==, PHYSNN_DEVICE_KIND_CPU);
}

/* Without any ICD, "auto" falls back with a reason and "opencl" fails.
 * Runs in a subprocess so ocl-icd reads the empty vendor directory before
 * anything else initialises it. */
static void
test_no_icd (void)
{
  if (g_test_subprocess ()) {
    g_setenv ("OCL_ICD_VENDORS", "/nonexistent-physnn-test", TRUE);
    g_setenv ("OPENCL_VENDOR_PATH", "/nonexistent-physnn-test", TRUE);
    g_autoptr (GError) error = NULL;
    g_autoptr (PhysnnDevice) d = physnn_device_new ("auto", &error);
    g_assert_no_error (error);
    g_assert_cmpint (physnn_device_get_kind (d), ==, PHYSNN_DEVICE_KIND_CPU);
    g_assert_nonnull (physnn_device_get_fallback_reason (d));
    g_print ("fallback: %s\n", physnn_device_get_fallback_reason (d));
    g_autoptr (PhysnnDevice) cl = physnn_device_new ("opencl", &error);
    g_assert_null (cl);
    g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NO_DEVICE);
    g_assert_nonnull (strstr (error->message, "no OpenCL platform"));
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("*fallback: using the reference C path: no "
      "OpenCL platform found*");
}

static PhysnnTensor *
ramp (gsize n, gdouble scale, gdouble offset)
{
  gsize shape[1] = { n };
  PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, shape);
  gfloat *p = physnn_tensor_map (t, PHYSNN_MAP_WRITE, NULL);
  for (gsize i = 0; i < n; i++)
    p[i] = (gfloat) (sin (i * scale) * 3.0 + offset);
  physnn_tensor_unmap (t);
  return t;
}

static void
test_axpy_matches_reference (void)
{
  g_autoptr (PhysnnDevice) cl = opencl_or_skip ();
  if (cl == NULL)
    return;
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", NULL);
  g_autoptr (GError) error = NULL;
  /* Not a multiple of any work-group size: exercises the index guard. */
  const gsize n = 100003;
  g_autoptr (PhysnnTensor) x = ramp (n, 0.001, 0.25);
  g_autoptr (PhysnnTensor) y1 = ramp (n, 0.0007, -1.0);
  g_autoptr (PhysnnTensor) y2 = physnn_tensor_copy (y1);

  g_assert_true (physnn_ops_axpy (cpu, 0.37f, x, y1, &error));
  g_assert_no_error (error);
  g_assert_true (physnn_ops_axpy (cl, 0.37f, x, y2, &error));
  g_assert_no_error (error);
  g_assert_true (physnn_tensor_is_on_device (y2));
  /* Both paths use a fused multiply-add: bit-identical results. */
  g_autoptr (GBytes) b1 = physnn_tensor_get_bytes (y1);
  g_autoptr (GBytes) b2 = physnn_tensor_get_bytes (y2);
  g_assert_true (g_bytes_equal (b1, b2));

  /* Views at an offset go to the right elements on the device. */
  gsize vshape[1] = { 10 };
  g_autoptr (PhysnnTensor) xv = physnn_tensor_view (x, 5, 1, vshape, &error);
  g_autoptr (PhysnnTensor) yv = physnn_tensor_view (y2, 20, 1, vshape,
      &error);
  gdouble before = physnn_tensor_get_value (y2, 20);
  g_assert_true (physnn_ops_axpy (cl, 2.0f, xv, yv, &error));
  g_assert_cmpfloat_with_epsilon (physnn_tensor_get_value (y2, 20),
      before + 2.0 * physnn_tensor_get_value (x, 5), 1e-5);
  g_assert_cmpfloat (physnn_tensor_get_value (y2, 19), ==,
      physnn_tensor_get_value (y1, 19));

  /* Shape mismatch is an error. */
  g_autoptr (PhysnnTensor) small = ramp (3, 1, 0);
  g_assert_false (physnn_ops_axpy (cl, 1.0f, small, y2, &error));
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE);
}

static void
test_half_kernels (void)
{
  g_autoptr (PhysnnDevice) cl = opencl_or_skip ();
  if (cl == NULL)
    return;
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", NULL);
  g_autoptr (GError) error = NULL;
  const gsize n = 65536;
  gsize shape[1] = { n };
  g_autoptr (PhysnnTensor) src = ramp (n, 0.37, 0.0);
  /* Include tiny, huge and halfway values. */
  physnn_tensor_set_value (src, 0, 70000.0);
  physnn_tensor_set_value (src, 1, 1e-7);
  physnn_tensor_set_value (src, 2, 1.0 + 1.0 / 2048.0);
  g_autoptr (PhysnnTensor) h_cpu = physnn_tensor_new (PHYSNN_DTYPE_FLOAT16, 1,
      shape);
  g_autoptr (PhysnnTensor) h_cl = physnn_tensor_new (PHYSNN_DTYPE_FLOAT16, 1,
      shape);
  g_assert_true (physnn_ops_cast (cpu, src, h_cpu, &error));
  g_assert_true (physnn_ops_cast (cl, src, h_cl, &error));
  g_assert_no_error (error);
  g_autoptr (GBytes) a = physnn_tensor_get_bytes (h_cpu);
  g_autoptr (GBytes) b = physnn_tensor_get_bytes (h_cl);
  g_assert_true (g_bytes_equal (a, b));

  g_autoptr (PhysnnTensor) back = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1,
      shape);
  g_assert_true (physnn_ops_cast (cl, h_cl, back, &error));
  g_assert_no_error (error);
  for (gsize i = 0; i < n; i++)
    g_assert_cmpfloat (physnn_tensor_get_value (back, i), ==,
        physnn_tensor_get_value (h_cpu, i));
}

static void
test_profiling (void)
{
  g_autoptr (PhysnnDevice) cl = opencl_or_skip ();
  if (cl == NULL)
    return;
  g_autoptr (PhysnnTensor) x = ramp (4096, 0.1, 0);
  g_autoptr (PhysnnTensor) y = ramp (4096, 0.2, 0);
  physnn_device_set_profiling (cl, TRUE);
  physnn_device_reset_counters (cl);
  for (int i = 0; i < 3; i++)
    g_assert_true (physnn_ops_axpy (cl, 1.0f, x, y, NULL));
  g_assert_cmpuint (physnn_device_get_kernel_launches (cl), ==, 3);
  g_assert_cmpuint (physnn_device_get_kernel_time_ns (cl), >, 0);
}

static gchar *
only_cache_file (void)
{
  g_autofree gchar *dir = _physnn_kernel_cache_dir ();
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const gchar *name;
  gchar *found = NULL;
  guint count = 0;
  while (d && (name = g_dir_read_name (d))) {
    if (g_str_has_suffix (name, ".bin")) {
      g_free (found);
      found = g_build_filename (dir, name, NULL);
      count++;
    }
  }
  g_assert_cmpuint (count, ==, 1);
  return found;
}

static PhysnnKernelCacheStats
run_axpy_fresh (void)
{
  /* A new device object has an empty in-memory program table, so its
   * first launch goes through the disk cache. */
  g_autoptr (PhysnnDevice) cl = physnn_device_new ("opencl", NULL);
  g_autoptr (PhysnnTensor) x = ramp (257, 0.3, 0);
  g_autoptr (PhysnnTensor) y = ramp (257, 0.5, 1);
  gdouble want = physnn_tensor_get_value (y, 100) +
      2 * physnn_tensor_get_value (x, 100);
  g_autoptr (GError) error = NULL;
  g_assert_true (physnn_ops_axpy (cl, 2.0f, x, y, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (physnn_tensor_get_value (y, 100), want,
      1e-5);
  PhysnnKernelCacheStats st;
  _physnn_device_get_cache_stats (cl, &st);
  return st;
}

static void
test_kernel_cache (void)
{
  g_autoptr (PhysnnDevice) probe = opencl_or_skip ();
  if (probe == NULL)
    return;
  g_autofree gchar *dir = g_build_filename (cache_dir, "cache-test", NULL);
  g_setenv ("PHYSNN_CACHE_DIR", dir, TRUE);

  PhysnnKernelCacheStats st = run_axpy_fresh ();
  g_assert_cmpuint (st.misses, ==, 1);
  g_assert_cmpuint (st.stored, ==, 1);
  g_autofree gchar *file = only_cache_file ();

  st = run_axpy_fresh ();
  g_assert_cmpuint (st.hits, ==, 1);
  g_assert_cmpuint (st.misses, ==, 0);

  /* Truncated entry: detected by the header, rebuilt, rewritten. */
  gchar *data = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (file, &data, &len, NULL));
  g_assert_true (g_file_set_contents (file, data, len / 2, NULL));
  st = run_axpy_fresh ();
  g_assert_cmpuint (st.rejected, ==, 1);
  g_assert_cmpuint (st.stored, ==, 1);

  /* Flipped payload byte: the checksum catches it. */
  data[len - 10] ^= 0x5a;
  g_assert_true (g_file_set_contents (file, data, len, NULL));
  st = run_axpy_fresh ();
  g_assert_cmpuint (st.rejected, ==, 1);

  /* Pure garbage of the right length. */
  memset (data, 0x42, len);
  g_assert_true (g_file_set_contents (file, data, len, NULL));
  st = run_axpy_fresh ();
  g_assert_cmpuint (st.rejected, ==, 1);
  g_free (data);

  /* Afterwards the entry is good again. */
  st = run_axpy_fresh ();
  g_assert_cmpuint (st.hits, ==, 1);

  /* Disabled cache: always builds, stores nothing. */
  g_setenv ("PHYSNN_KERNEL_CACHE", "0", TRUE);
  st = run_axpy_fresh ();
  g_assert_cmpuint (st.hits + st.misses + st.stored, ==, 0);
  g_unsetenv ("PHYSNN_KERNEL_CACHE");
  g_unsetenv ("PHYSNN_CACHE_DIR");
}

static void
test_build_error (void)
{
  g_autoptr (PhysnnDevice) cl = opencl_or_skip ();
  if (cl == NULL)
    return;
  g_autoptr (GError) error = NULL;
  cl_program p = _physnn_device_build_source (cl, "broken.cl",
      "__kernel void broken (__global float *x) { x[0] = undefined_thing; }",
      "", &error);
  g_assert_null (p);
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_KERNEL_BUILD);
  g_assert_nonnull (strstr (error->message, "broken.cl"));
  g_assert_nonnull (strstr (error->message, "build log"));
  g_assert_nonnull (strstr (error->message, "undefined_thing"));
}

static void
test_warm_up (void)
{
  g_autoptr (PhysnnDevice) cl = opencl_or_skip ();
  if (cl == NULL)
    return;
  g_autoptr (GError) error = NULL;
  g_assert_true (physnn_device_warm_up (cl, &error));
  g_assert_no_error (error);
  g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", NULL);
  g_assert_true (physnn_device_warm_up (cpu, &error));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  cache_dir = g_dir_make_tmp ("physnn-test-XXXXXX", NULL);
  g_test_add_func ("/device/enumerate", test_enumerate);
  g_test_add_func ("/device/bad-specs", test_bad_specs);
  g_test_add_func ("/device/env-override", test_env_override);
  g_test_add_func ("/device/no-icd", test_no_icd);
  g_test_add_func ("/device/axpy", test_axpy_matches_reference);
  g_test_add_func ("/device/half-kernels", test_half_kernels);
  g_test_add_func ("/device/profiling", test_profiling);
  g_test_add_func ("/device/kernel-cache", test_kernel_cache);
  g_test_add_func ("/device/build-error", test_build_error);
  g_test_add_func ("/device/warm-up", test_warm_up);
  int ret = g_test_run ();
  g_autofree gchar *cmd = g_strdup_printf ("rm -rf '%s'", cache_dir);
  if (system (cmd) != 0)
    g_printerr ("could not remove %s\n", cache_dir);
  return ret;
}
