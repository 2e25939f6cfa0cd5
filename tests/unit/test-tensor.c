/* Unit tests: PhysnnTensor and dtypes.
 * The float16 conversions are checked against the compiler's own _Float16
 * conversions (IEEE round-to-nearest-even), a reference we did not write. */
#include <physnn/physnn.h>

#include <math.h>
#include <string.h>

static void
test_shape (void)
{
  gsize shape[3] = { 2, 3, 4 };
  g_autoptr (PhysnnTensor) t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 3,
      shape);
  guint rank = 0;
  const gsize *s = physnn_tensor_get_shape (t, &rank);

  g_assert_cmpuint (rank, ==, 3);
  g_assert_cmpuint (s[0], ==, 2);
  g_assert_cmpuint (s[2], ==, 4);
  g_assert_cmpuint (physnn_tensor_get_n_elements (t), ==, 24);
  g_assert_cmpuint (physnn_tensor_get_nbytes (t), ==, 96);
  g_assert_cmpuint (physnn_tensor_get_dim (t, 7), ==, 1);
  g_autofree gchar *d = physnn_tensor_describe (t);
  g_assert_cmpstr (d, ==, "float32[2,3,4]");
  /* Zero-filled. */
  for (gsize i = 0; i < 24; i++)
    g_assert_cmpfloat (physnn_tensor_get_value (t, i), ==, 0.0);

  /* Rank limit and overflow are refused. */
  gsize big[17];
  for (guint i = 0; i < 17; i++)
    big[i] = 2;
  g_assert_null (physnn_tensor_new (PHYSNN_DTYPE_UINT8, 17, big));
  gsize huge[2] = { G_MAXSIZE / 2, 3 };
  g_assert_null (physnn_tensor_new (PHYSNN_DTYPE_UINT8, 2, huge));

  /* A scalar has one element. */
  g_autoptr (PhysnnTensor) scalar = physnn_tensor_new (PHYSNN_DTYPE_FLOAT64,
      0, NULL);
  g_assert_cmpuint (physnn_tensor_get_n_elements (scalar), ==, 1);
}

static void
test_dtype_names (void)
{
  for (guint i = 0; i < PHYSNN_N_DTYPES; i++) {
    PhysnnDType back;
    const gchar *name = physnn_dtype_to_string (i);
    g_assert_true (physnn_dtype_from_string (name, &back));
    g_assert_cmpint (back, ==, i);
    g_assert_cmpuint (physnn_dtype_get_size (i), >, 0);
  }
  PhysnnDType d;
  g_assert_false (physnn_dtype_from_string ("float", &d));
  g_assert_false (physnn_dtype_from_string (NULL, &d));
  g_assert_cmpuint (physnn_dtype_get_size (PHYSNN_DTYPE_FLOAT16), ==, 2);
  g_assert_cmpuint (physnn_dtype_get_size (PHYSNN_DTYPE_UINT64), ==, 8);
}

static void
test_conversion (void)
{
  gsize shape[1] = { 8 };
  gdouble in[8] = { 2.5, 3.5, -2.5, 300.0, -1.0, NAN, 1e300, -0.4 };
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnTensor) f = physnn_tensor_new_from_doubles
      (PHYSNN_DTYPE_FLOAT64, 1, shape, in, 8, &error);
  g_assert_no_error (error);

  /* uint8: half to even, saturation, NaN -> 0. */
  g_autoptr (PhysnnTensor) u8 = physnn_tensor_convert (f, PHYSNN_DTYPE_UINT8);
  gdouble want_u8[8] = { 2, 4, 0, 255, 0, 0, 255, 0 };
  for (guint i = 0; i < 8; i++)
    g_assert_cmpfloat (physnn_tensor_get_value (u8, i), ==, want_u8[i]);

  g_autoptr (PhysnnTensor) i8 = physnn_tensor_convert (f, PHYSNN_DTYPE_INT8);
  gdouble want_i8[8] = { 2, 4, -2, 127, -1, 0, 127, 0 };
  for (guint i = 0; i < 8; i++)
    g_assert_cmpfloat (physnn_tensor_get_value (i8, i), ==, want_i8[i]);

  g_autoptr (PhysnnTensor) i64 = physnn_tensor_convert (f, PHYSNN_DTYPE_INT64);
  g_assert_cmpfloat (physnn_tensor_get_value (i64, 6), >, 9.2e18);

  /* Wrong value count is an error, not a crash. */
  g_autoptr (PhysnnTensor) bad = physnn_tensor_new_from_doubles
      (PHYSNN_DTYPE_FLOAT32, 1, shape, in, 7, &error);
  g_assert_null (bad);
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE);
}

static void
test_half_exhaustive (void)
{
  /* Every binary16 pattern survives half -> float -> half and the float
   * value equals the compiler's conversion. */
  for (guint32 h = 0; h < 65536; h++) {
    _Float16 ref;
    guint16 bits = (guint16) h;
    memcpy (&ref, &bits, 2);
    gfloat f = physnn_half_to_float (bits);
    if (isnan ((float) ref)) {
      g_assert_true (isnan (f));
      g_assert_true (isnan (physnn_half_to_float (physnn_half_from_float (f))));
      continue;
    }
    g_assert_cmpfloat (f, ==, (float) ref);
    g_assert_cmpuint (physnn_half_from_float (f), ==, bits);
  }
}

static void
test_half_rounding (void)
{
  /* Random floats across the whole range, plus halfway cases, rounded as
   * the compiler rounds. */
  GRand *rand = g_rand_new_with_seed (1234);
  for (guint i = 0; i < 2000000; i++) {
    guint32 bits = g_rand_int (rand);
    gfloat f;
    if (i % 4 == 0)             /* halfway between two halves */
      bits = (bits & 0xffffe000u) | 0x1000u;
    memcpy (&f, &bits, 4);
    if (isnan (f))
      continue;
    _Float16 ref = (_Float16) f;
    guint16 rbits;
    memcpy (&rbits, &ref, 2);
    guint16 ours = physnn_half_from_float (f);
    if (ours != rbits)
      g_error ("float %a (0x%08x): physnn 0x%04x, compiler 0x%04x", f, bits,
          ours, rbits);
  }
  g_rand_free (rand);
}

static void
test_views (void)
{
  gsize shape[2] = { 4, 5 };
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnTensor) t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2,
      shape);
  for (gsize i = 0; i < 20; i++)
    physnn_tensor_set_value (t, i, (gdouble) i);

  gsize row_shape[1] = { 5 };
  g_autoptr (PhysnnTensor) row = physnn_tensor_view (t, 10, 1, row_shape,
      &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (physnn_tensor_get_value (row, 0), ==, 10.0);
  physnn_tensor_set_value (row, 1, -7.0);
  g_assert_cmpfloat (physnn_tensor_get_value (t, 11), ==, -7.0);

  /* Out of range views and wrong reshapes fail with a message. */
  g_autoptr (PhysnnTensor) v2 = physnn_tensor_view (t, 16, 1, row_shape,
      &error);
  g_assert_null (v2);
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE);
  g_clear_error (&error);
  gsize flat[1] = { 21 };
  g_autoptr (PhysnnTensor) r = physnn_tensor_reshape (t, 1, flat, &error);
  g_assert_null (r);
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE);
  g_clear_error (&error);

  /* Views keep storage alive after the parent is gone. */
  g_autoptr (PhysnnTensor) copy = physnn_tensor_copy (t);
  g_clear_object (&t);
  g_assert_cmpfloat (physnn_tensor_get_value (row, 4), ==, 14.0);
  g_assert_cmpfloat (physnn_tensor_get_value (copy, 11), ==, -7.0);
}

static gint notified;

static void
on_release (gpointer data)
{
  notified++;
  g_free (data);
}

static void
test_wrapped (void)
{
  gsize shape[1] = { 4 };
  gfloat *mem = g_new0 (gfloat, 4);
  mem[2] = 3.0f;
  PhysnnTensor *t = physnn_tensor_new_wrapped (PHYSNN_DTYPE_FLOAT32, 1,
      shape, mem, 16, on_release, mem);
  g_assert_nonnull (t);
  g_assert_cmpfloat (physnn_tensor_get_value (t, 2), ==, 3.0);
  gsize size = 0;
  gfloat *p = physnn_tensor_map (t, PHYSNN_MAP_WRITE, &size);
  g_assert_true (p == mem);
  g_assert_cmpuint (size, ==, 16);
  p[0] = 1.5f;
  physnn_tensor_unmap (t);
  g_assert_cmpfloat (mem[0], ==, 1.5f);
  notified = 0;
  g_object_unref (t);
  g_assert_cmpint (notified, ==, 1);

  /* Too little memory for the shape is refused. */
  gfloat small[2];
  g_assert_null (physnn_tensor_new_wrapped (PHYSNN_DTYPE_FLOAT32, 1, shape,
          small, sizeof small, NULL, NULL));
}

static void
test_bytes_and_nonfinite (void)
{
  gsize shape[1] = { 3 };
  gfloat vals[3] = { 1.0f, NAN, INFINITY };
  g_autoptr (GBytes) bytes = g_bytes_new (vals, sizeof vals);
  g_autoptr (GError) error = NULL;
  g_autoptr (PhysnnTensor) t = physnn_tensor_new_from_bytes
      (PHYSNN_DTYPE_FLOAT32, 1, shape, bytes, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (physnn_tensor_count_nonfinite (t), ==, 2);
  g_autoptr (GBytes) back = physnn_tensor_get_bytes (t);
  g_assert_true (g_bytes_equal (bytes, back));

  g_autoptr (GBytes) short_bytes = g_bytes_new (vals, 8);
  g_autoptr (PhysnnTensor) bad = physnn_tensor_new_from_bytes
      (PHYSNN_DTYPE_FLOAT32, 1, shape, short_bytes, &error);
  g_assert_null (bad);
  g_assert_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE);
  g_assert_nonnull (strstr (error->message, "8 bytes"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tensor/shape", test_shape);
  g_test_add_func ("/tensor/dtype-names", test_dtype_names);
  g_test_add_func ("/tensor/conversion", test_conversion);
  g_test_add_func ("/tensor/half-exhaustive", test_half_exhaustive);
  g_test_add_func ("/tensor/half-rounding", test_half_rounding);
  g_test_add_func ("/tensor/views", test_views);
  g_test_add_func ("/tensor/wrapped", test_wrapped);
  g_test_add_func ("/tensor/bytes-and-nonfinite", test_bytes_and_nonfinite);
  return g_test_run ();
}
