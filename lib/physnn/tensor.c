/* physnn — PhysnnTensor: dtype, shape, contiguous host storage shared by
 * views, and an optional device copy kept coherent lazily.
 *
 * Shapes are listed outermost first, as in C, NumPy and PyTorch. The caps
 * layer of the GStreamer plugin reverses them into NNStreamer dimension
 * strings (innermost first).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/tensor-private.h"
#include "physnn/error.h"

#include <math.h>
#include <string.h>

/* Storage is shared by a tensor and all its views. Host and device copies
 * are synchronised on demand: `host_valid`/`device_valid` say which copy is
 * current; at least one always is. */
typedef struct {
  gint ref;
  guint8 *data;
  gsize size;
  GDestroyNotify notify;
  gpointer user_data;
  PhysnnDevice *device;
  cl_mem mem;
  gboolean host_valid;
  gboolean device_valid;
  GMutex lock;
} Storage;

struct _PhysnnTensor {
  GObject parent;
  PhysnnDType dtype;
  guint rank;
  gsize shape[PHYSNN_MAX_RANK];
  gsize n_elements;
  gsize offset;                 /* bytes into storage */
  Storage *storage;
  gint map_count;
  PhysnnMapFlags map_flags;
};

G_DEFINE_FINAL_TYPE (PhysnnTensor, physnn_tensor, G_TYPE_OBJECT)

static Storage *
storage_new (gsize size)
{
  Storage *s = g_new0 (Storage, 1);
  s->ref = 1;
  /* g_malloc0 (0) returns NULL; keep a valid pointer for empty tensors. */
  s->data = g_malloc0 (MAX (size, 1));
  s->size = size;
  s->notify = g_free;
  s->user_data = s->data;
  s->host_valid = TRUE;
  g_mutex_init (&s->lock);
  return s;
}

static Storage *
storage_ref (Storage *s)
{
  g_atomic_int_inc (&s->ref);
  return s;
}

static void
storage_unref (Storage *s)
{
  if (!g_atomic_int_dec_and_test (&s->ref))
    return;
  if (s->mem)
    clReleaseMemObject (s->mem);
  g_clear_object (&s->device);
  if (s->notify)
    s->notify (s->user_data);
  g_mutex_clear (&s->lock);
  g_free (s);
}

static void
physnn_tensor_finalize (GObject *object)
{
  PhysnnTensor *self = PHYSNN_TENSOR (object);
  if (self->storage)
    storage_unref (self->storage);
  G_OBJECT_CLASS (physnn_tensor_parent_class)->finalize (object);
}

static void
physnn_tensor_class_init (PhysnnTensorClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = physnn_tensor_finalize;
}

static void
physnn_tensor_init (PhysnnTensor *self)
{
}

/* Validates a shape and computes its element count; FALSE on overflow or an
 * invalid rank. A rank-0 tensor is a scalar with one element. */
static gboolean
shape_count (guint rank, const gsize *shape, gsize *count)
{
  gsize n = 1;
  if (rank > PHYSNN_MAX_RANK || (rank > 0 && shape == NULL))
    return FALSE;
  for (guint i = 0; i < rank; i++) {
    if (shape[i] != 0 && n > G_MAXSIZE / shape[i])
      return FALSE;
    n *= shape[i];
  }
  *count = n;
  return TRUE;
}

static PhysnnTensor *
tensor_alloc (PhysnnDType dtype, guint rank, const gsize *shape, gsize count)
{
  PhysnnTensor *self = g_object_new (PHYSNN_TYPE_TENSOR, NULL);
  self->dtype = dtype;
  self->rank = rank;
  if (rank > 0)
    memcpy (self->shape, shape, rank * sizeof (gsize));
  self->n_elements = count;
  return self;
}

/**
 * physnn_tensor_new:
 * @dtype: element type
 * @rank: number of dimensions, at most %PHYSNN_MAX_RANK
 * @shape: (array length=rank): dimensions, outermost first
 *
 * Creates a zero-filled tensor in host memory.
 *
 * Returns: (transfer full) (nullable): the tensor, or %NULL if the shape is
 *   invalid or too large
 */
PhysnnTensor *
physnn_tensor_new (PhysnnDType dtype, guint rank, const gsize *shape)
{
  gsize count, esize = physnn_dtype_get_size (dtype);

  g_return_val_if_fail (esize != 0, NULL);
  if (!shape_count (rank, shape, &count) || count > G_MAXSIZE / esize)
    return NULL;
  PhysnnTensor *self = tensor_alloc (dtype, rank, shape, count);
  self->storage = storage_new (count * esize);
  return self;
}

/**
 * physnn_tensor_new_from_bytes:
 * @dtype: element type
 * @rank: number of dimensions
 * @shape: (array length=rank): dimensions, outermost first
 * @data: the elements, packed, in host byte order
 * @error: return location for a #GError
 *
 * Creates a tensor holding a copy of @data.
 *
 * Returns: (transfer full): the tensor, or %NULL if the size of @data does
 *   not match the shape
 */
PhysnnTensor *
physnn_tensor_new_from_bytes (PhysnnDType dtype, guint rank,
    const gsize *shape, GBytes *data, GError **error)
{
  gsize size = 0;
  const guint8 *bytes;
  PhysnnTensor *self;

  g_return_val_if_fail (data != NULL, NULL);
  self = physnn_tensor_new (dtype, rank, shape);
  if (self == NULL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "invalid tensor shape (rank %u)", rank);
    return NULL;
  }
  bytes = g_bytes_get_data (data, &size);
  if (size != self->storage->size) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "%" G_GSIZE_FORMAT " bytes given for a %s tensor of %" G_GSIZE_FORMAT
        " elements (%" G_GSIZE_FORMAT " bytes expected)", size,
        physnn_dtype_to_string (dtype), self->n_elements, self->storage->size);
    g_object_unref (self);
    return NULL;
  }
  if (size)
    memcpy (self->storage->data, bytes, size);
  return self;
}

/**
 * physnn_tensor_new_from_doubles:
 * @dtype: element type
 * @rank: number of dimensions
 * @shape: (array length=rank): dimensions, outermost first
 * @values: (array length=n_values): values in row-major order
 * @n_values: number of values; must equal the element count
 * @error: return location for a #GError
 *
 * Creates a tensor from doubles, converting each to @dtype (integers are
 * rounded half to even and saturated).
 *
 * Returns: (transfer full): the tensor, or %NULL on a count mismatch
 */
PhysnnTensor *
physnn_tensor_new_from_doubles (PhysnnDType dtype, guint rank,
    const gsize *shape, const gdouble *values, gsize n_values, GError **error)
{
  PhysnnTensor *self = physnn_tensor_new (dtype, rank, shape);
  if (self == NULL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "invalid tensor shape (rank %u)", rank);
    return NULL;
  }
  if (n_values != self->n_elements) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "%" G_GSIZE_FORMAT " values given for a tensor of %" G_GSIZE_FORMAT
        " elements", n_values, self->n_elements);
    g_object_unref (self);
    return NULL;
  }
  for (gsize i = 0; i < n_values; i++)
    _physnn_dtype_write (dtype, self->storage->data, i, values[i]);
  return self;
}

/**
 * physnn_tensor_new_wrapped: (skip)
 * @dtype: element type
 * @rank: number of dimensions
 * @shape: (array length=rank): dimensions
 * @data: host memory holding the elements; must stay valid until @notify
 * @size: size of @data in bytes; at least the tensor's byte size
 * @notify: (nullable): called with @user_data when the storage is released
 * @user_data: data for @notify
 *
 * Wraps existing host memory without copying (GStreamer buffers, mmap).
 *
 * Returns: (transfer full) (nullable): the tensor, or %NULL if @size is too
 *   small for the shape
 */
PhysnnTensor *
physnn_tensor_new_wrapped (PhysnnDType dtype, guint rank, const gsize *shape,
    gpointer data, gsize size, GDestroyNotify notify, gpointer user_data)
{
  gsize count, esize = physnn_dtype_get_size (dtype);

  g_return_val_if_fail (esize != 0, NULL);
  if (!shape_count (rank, shape, &count) || count > G_MAXSIZE / esize ||
      count * esize > size || (data == NULL && count > 0))
    return NULL;
  PhysnnTensor *self = tensor_alloc (dtype, rank, shape, count);
  Storage *s = g_new0 (Storage, 1);
  s->ref = 1;
  s->data = data;
  s->size = count * esize;
  s->notify = notify;
  s->user_data = user_data;
  s->host_valid = TRUE;
  g_mutex_init (&s->lock);
  self->storage = s;
  return self;
}

/**
 * physnn_tensor_copy:
 * @self: a #PhysnnTensor
 *
 * Returns: (transfer full): a deep copy in host memory
 */
PhysnnTensor *
physnn_tensor_copy (PhysnnTensor *self)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), NULL);
  PhysnnTensor *copy = physnn_tensor_new (self->dtype, self->rank,
      self->shape);
  gsize nbytes = physnn_tensor_get_nbytes (self);
  if (nbytes)
    memcpy (copy->storage->data, _physnn_tensor_host (self, PHYSNN_ACCESS_READ),
        nbytes);
  return copy;
}

/**
 * physnn_tensor_view:
 * @self: a #PhysnnTensor
 * @offset: first element of the view, in elements of @self
 * @rank: rank of the view
 * @shape: (array length=rank): shape of the view
 * @error: return location for a #GError
 *
 * Creates a tensor sharing storage with @self: a contiguous range of its
 * elements with another shape. Writes through either are seen by both.
 *
 * Returns: (transfer full): the view, or %NULL if it does not fit
 */
PhysnnTensor *
physnn_tensor_view (PhysnnTensor *self, gsize offset, guint rank,
    const gsize *shape, GError **error)
{
  gsize count;

  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), NULL);
  if (!shape_count (rank, shape, &count) || offset > self->n_elements ||
      count > self->n_elements - offset) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "view of %" G_GSIZE_FORMAT " elements at offset %" G_GSIZE_FORMAT
        " does not fit a tensor of %" G_GSIZE_FORMAT " elements",
        shape_count (rank, shape, &count) ? count : 0, offset,
        self->n_elements);
    return NULL;
  }
  PhysnnTensor *view = tensor_alloc (self->dtype, rank, shape, count);
  view->storage = storage_ref (self->storage);
  view->offset = self->offset + offset * physnn_dtype_get_size (self->dtype);
  return view;
}

/**
 * physnn_tensor_reshape:
 * @self: a #PhysnnTensor
 * @rank: new rank
 * @shape: (array length=rank): new shape with the same element count
 * @error: return location for a #GError
 *
 * Returns: (transfer full): a view of @self with another shape
 */
PhysnnTensor *
physnn_tensor_reshape (PhysnnTensor *self, guint rank, const gsize *shape,
    GError **error)
{
  gsize count;

  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), NULL);
  if (!shape_count (rank, shape, &count) || count != self->n_elements) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "cannot reshape %" G_GSIZE_FORMAT " elements to a shape of another "
        "size", self->n_elements);
    return NULL;
  }
  return physnn_tensor_view (self, 0, rank, shape, error);
}

/**
 * physnn_tensor_convert:
 * @self: a #PhysnnTensor
 * @dtype: target type
 *
 * Converts element by element: float16 with round-to-nearest-even, integers
 * rounded half to even and saturated, NaN to 0 for integer targets.
 *
 * Returns: (transfer full): a new host tensor of type @dtype
 */
PhysnnTensor *
physnn_tensor_convert (PhysnnTensor *self, PhysnnDType dtype)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), NULL);
  if (dtype == self->dtype)
    return physnn_tensor_copy (self);
  PhysnnTensor *out = physnn_tensor_new (dtype, self->rank, self->shape);
  g_return_val_if_fail (out != NULL, NULL);
  gconstpointer src = _physnn_tensor_host (self, PHYSNN_ACCESS_READ);
  for (gsize i = 0; i < self->n_elements; i++)
    _physnn_dtype_write (dtype, out->storage->data, i,
        _physnn_dtype_read (self->dtype, src, i));
  return out;
}

/* ------------------------------------------------------------------------ */
/* Accessors */

/**
 * physnn_tensor_get_dtype:
 * @self: a #PhysnnTensor
 *
 * Returns: the element type
 */
PhysnnDType
physnn_tensor_get_dtype (PhysnnTensor *self)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), PHYSNN_DTYPE_FLOAT32);
  return self->dtype;
}

/**
 * physnn_tensor_get_rank:
 * @self: a #PhysnnTensor
 *
 * Returns: the number of dimensions
 */
guint
physnn_tensor_get_rank (PhysnnTensor *self)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), 0);
  return self->rank;
}

/**
 * physnn_tensor_get_shape:
 * @self: a #PhysnnTensor
 * @rank: (out) (optional): the number of dimensions
 *
 * Returns: (array length=rank) (transfer none): the dimensions, outermost
 *   first
 */
const gsize *
physnn_tensor_get_shape (PhysnnTensor *self, guint *rank)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), NULL);
  if (rank)
    *rank = self->rank;
  return self->shape;
}

/**
 * physnn_tensor_get_dim:
 * @self: a #PhysnnTensor
 * @axis: a dimension index, outermost first
 *
 * Returns: the size of dimension @axis, or 1 beyond the rank
 */
gsize
physnn_tensor_get_dim (PhysnnTensor *self, guint axis)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), 0);
  return axis < self->rank ? self->shape[axis] : 1;
}

/**
 * physnn_tensor_get_n_elements:
 * @self: a #PhysnnTensor
 *
 * Returns: the number of elements
 */
gsize
physnn_tensor_get_n_elements (PhysnnTensor *self)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), 0);
  return self->n_elements;
}

/**
 * physnn_tensor_get_nbytes:
 * @self: a #PhysnnTensor
 *
 * Returns: the size of the elements in bytes
 */
gsize
physnn_tensor_get_nbytes (PhysnnTensor *self)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), 0);
  return self->n_elements * physnn_dtype_get_size (self->dtype);
}

/**
 * physnn_tensor_shape_equal:
 * @self: a #PhysnnTensor
 * @other: another #PhysnnTensor
 *
 * Returns: %TRUE if both have the same rank and dimensions
 */
gboolean
physnn_tensor_shape_equal (PhysnnTensor *self, PhysnnTensor *other)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), FALSE);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (other), FALSE);
  return self->rank == other->rank &&
      memcmp (self->shape, other->shape, self->rank * sizeof (gsize)) == 0;
}

/**
 * physnn_tensor_describe:
 * @self: a #PhysnnTensor
 *
 * Returns: (transfer full): e.g. "float32[256,3]"
 */
gchar *
physnn_tensor_describe (PhysnnTensor *self)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), NULL);
  GString *s = g_string_new (physnn_dtype_to_string (self->dtype));
  g_string_append_c (s, '[');
  for (guint i = 0; i < self->rank; i++)
    g_string_append_printf (s, "%s%" G_GSIZE_FORMAT, i ? "," : "",
        self->shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Host access and device coherence */

/* Caller holds s->lock. */
static gboolean
storage_download (Storage *s, GError **error)
{
  if (s->host_valid || s->mem == NULL)
    return TRUE;
  cl_int status = clEnqueueReadBuffer (_physnn_device_get_queue (s->device),
      s->mem, CL_TRUE, 0, s->size, s->data, 0, NULL, NULL);
  if (!_physnn_cl_check (status, "clEnqueueReadBuffer", error))
    return FALSE;
  s->host_valid = TRUE;
  return TRUE;
}

gpointer
_physnn_tensor_host (PhysnnTensor *self, PhysnnAccess access)
{
  Storage *s = self->storage;
  g_autoptr (GError) error = NULL;

  g_mutex_lock (&s->lock);
  if (!storage_download (s, &error))
    g_critical ("physnn: cannot read tensor back from the device: %s",
        error->message);
  if (access & PHYSNN_ACCESS_WRITE)
    s->device_valid = FALSE;
  g_mutex_unlock (&s->lock);
  return s->data + self->offset;
}

cl_mem
_physnn_tensor_get_cl_mem (PhysnnTensor *self, PhysnnDevice *device,
    PhysnnAccess access, gsize *offset, GError **error)
{
  Storage *s = self->storage;
  cl_mem mem = NULL;
  cl_int status;

  g_return_val_if_fail (physnn_device_get_kind (device) ==
      PHYSNN_DEVICE_KIND_OPENCL, NULL);
  g_mutex_lock (&s->lock);
  if (s->device != NULL && s->device != device) {
    /* Moving between devices goes through the host. */
    if (!storage_download (s, error))
      goto out;
    clReleaseMemObject (s->mem);
    s->mem = NULL;
    g_clear_object (&s->device);
    s->device_valid = FALSE;
  }
  if (s->mem == NULL) {
    if (!physnn_device_open (device, error))
      goto out;
    s->mem = clCreateBuffer (_physnn_device_get_context (device),
        CL_MEM_READ_WRITE, MAX (s->size, 1), NULL, &status);
    if (!_physnn_cl_check (status, "clCreateBuffer", error)) {
      s->mem = NULL;
      goto out;
    }
    s->device = g_object_ref (device);
    s->device_valid = FALSE;
  }
  if ((access & PHYSNN_ACCESS_READ) && !s->device_valid && s->size > 0) {
    status = clEnqueueWriteBuffer (_physnn_device_get_queue (device), s->mem,
        CL_TRUE, 0, s->size, s->data, 0, NULL, NULL);
    if (!_physnn_cl_check (status, "clEnqueueWriteBuffer", error))
      goto out;
  }
  s->device_valid = TRUE;
  if (access & PHYSNN_ACCESS_WRITE)
    s->host_valid = FALSE;
  mem = s->mem;
  *offset = self->offset;
out:
  g_mutex_unlock (&s->lock);
  return mem;
}

/**
 * physnn_tensor_map: (skip)
 * @self: a #PhysnnTensor
 * @flags: #PhysnnMapFlags
 * @size: (out) (optional): the size of the mapped data in bytes
 *
 * Gives host access to the elements, copying them back from the device
 * first if needed. Pair with physnn_tensor_unmap().
 *
 * Returns: pointer to the first element
 */
gpointer
physnn_tensor_map (PhysnnTensor *self, PhysnnMapFlags flags, gsize *size)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), NULL);
  self->map_count++;
  self->map_flags |= flags;
  if (size)
    *size = physnn_tensor_get_nbytes (self);
  return _physnn_tensor_host (self, (flags & PHYSNN_MAP_WRITE) ?
      PHYSNN_ACCESS_READWRITE : PHYSNN_ACCESS_READ);
}

/**
 * physnn_tensor_unmap: (skip)
 * @self: a #PhysnnTensor
 *
 * Ends an access started with physnn_tensor_map().
 */
void
physnn_tensor_unmap (PhysnnTensor *self)
{
  g_return_if_fail (PHYSNN_IS_TENSOR (self));
  g_return_if_fail (self->map_count > 0);
  if (--self->map_count == 0) {
    /* Writes through the map invalidated the device copy at map time; a
     * device op started while mapped would re-upload anyway. */
    self->map_flags = 0;
  }
}

/**
 * physnn_tensor_get_bytes:
 * @self: a #PhysnnTensor
 *
 * Returns: (transfer full): a copy of the elements as bytes
 */
GBytes *
physnn_tensor_get_bytes (PhysnnTensor *self)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), NULL);
  return g_bytes_new (_physnn_tensor_host (self, PHYSNN_ACCESS_READ),
      physnn_tensor_get_nbytes (self));
}

/**
 * physnn_tensor_to_doubles:
 * @self: a #PhysnnTensor
 * @n_values: (out): the number of values
 *
 * Returns: (array length=n_values) (transfer full): the elements converted
 *   to double, row-major
 */
gdouble *
physnn_tensor_to_doubles (PhysnnTensor *self, gsize *n_values)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), NULL);
  gconstpointer src = _physnn_tensor_host (self, PHYSNN_ACCESS_READ);
  gdouble *out = g_new (gdouble, MAX (self->n_elements, 1));
  for (gsize i = 0; i < self->n_elements; i++)
    out[i] = _physnn_dtype_read (self->dtype, src, i);
  *n_values = self->n_elements;
  return out;
}

/**
 * physnn_tensor_get_value:
 * @self: a #PhysnnTensor
 * @index: flat row-major index
 *
 * Returns: the element converted to double (NaN if @index is out of range)
 */
gdouble
physnn_tensor_get_value (PhysnnTensor *self, gsize index)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), NAN);
  g_return_val_if_fail (index < self->n_elements, NAN);
  return _physnn_dtype_read (self->dtype,
      _physnn_tensor_host (self, PHYSNN_ACCESS_READ), index);
}

/**
 * physnn_tensor_set_value:
 * @self: a #PhysnnTensor
 * @index: flat row-major index
 * @value: the value, converted to the tensor's type
 */
void
physnn_tensor_set_value (PhysnnTensor *self, gsize index, gdouble value)
{
  g_return_if_fail (PHYSNN_IS_TENSOR (self));
  g_return_if_fail (index < self->n_elements);
  _physnn_dtype_write (self->dtype,
      _physnn_tensor_host (self, PHYSNN_ACCESS_READWRITE), index, value);
}

/**
 * physnn_tensor_fill:
 * @self: a #PhysnnTensor
 * @value: the value, converted to the tensor's type
 *
 * Sets every element to @value.
 */
void
physnn_tensor_fill (PhysnnTensor *self, gdouble value)
{
  g_return_if_fail (PHYSNN_IS_TENSOR (self));
  gpointer dst = _physnn_tensor_host (self, PHYSNN_ACCESS_WRITE);
  for (gsize i = 0; i < self->n_elements; i++)
    _physnn_dtype_write (self->dtype, dst, i, value);
}

/**
 * physnn_tensor_count_nonfinite:
 * @self: a #PhysnnTensor
 *
 * Returns: how many elements are NaN or infinite (0 for integer types)
 */
gsize
physnn_tensor_count_nonfinite (PhysnnTensor *self)
{
  gsize bad = 0;
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), 0);
  if (!physnn_dtype_is_float (self->dtype))
    return 0;
  gconstpointer src = _physnn_tensor_host (self, PHYSNN_ACCESS_READ);
  if (self->dtype == PHYSNN_DTYPE_FLOAT32) {
    const gfloat *f = src;
    for (gsize i = 0; i < self->n_elements; i++)
      bad += !isfinite (f[i]);
  } else {
    for (gsize i = 0; i < self->n_elements; i++)
      bad += !isfinite (_physnn_dtype_read (self->dtype, src, i));
  }
  return bad;
}

/**
 * physnn_tensor_upload:
 * @self: a #PhysnnTensor
 * @device: an OpenCL #PhysnnDevice
 * @error: return location for a #GError
 *
 * Copies the elements to @device memory now rather than at first use. Does
 * nothing for the C path.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_tensor_upload (PhysnnTensor *self, PhysnnDevice *device,
    GError **error)
{
  gsize offset;
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), FALSE);
  g_return_val_if_fail (PHYSNN_IS_DEVICE (device), FALSE);
  if (physnn_device_get_kind (device) != PHYSNN_DEVICE_KIND_OPENCL)
    return TRUE;
  return _physnn_tensor_get_cl_mem (self, device, PHYSNN_ACCESS_READ, &offset,
      error) != NULL;
}

/**
 * physnn_tensor_is_on_device:
 * @self: a #PhysnnTensor
 *
 * Returns: %TRUE if an up-to-date copy lives in OpenCL device memory
 */
gboolean
physnn_tensor_is_on_device (PhysnnTensor *self)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), FALSE);
  return self->storage->mem != NULL && self->storage->device_valid;
}

/**
 * physnn_tensor_get_device:
 * @self: a #PhysnnTensor
 *
 * Returns: (transfer none) (nullable): the device holding a copy, if any
 */
PhysnnDevice *
physnn_tensor_get_device (PhysnnTensor *self)
{
  g_return_val_if_fail (PHYSNN_IS_TENSOR (self), NULL);
  return self->storage->device;
}

/* ------------------------------------------------------------------------ */
/* Element conversion */

gdouble
_physnn_dtype_read (PhysnnDType dtype, gconstpointer base, gsize i)
{
  switch (dtype) {
    case PHYSNN_DTYPE_FLOAT32:
      return ((const gfloat *) base)[i];
    case PHYSNN_DTYPE_FLOAT64:
      return ((const gdouble *) base)[i];
    case PHYSNN_DTYPE_FLOAT16:
      return physnn_half_to_float (((const guint16 *) base)[i]);
    case PHYSNN_DTYPE_INT8:
      return ((const gint8 *) base)[i];
    case PHYSNN_DTYPE_UINT8:
      return ((const guint8 *) base)[i];
    case PHYSNN_DTYPE_INT16:
      return ((const gint16 *) base)[i];
    case PHYSNN_DTYPE_UINT16:
      return ((const guint16 *) base)[i];
    case PHYSNN_DTYPE_INT32:
      return ((const gint32 *) base)[i];
    case PHYSNN_DTYPE_UINT32:
      return ((const guint32 *) base)[i];
    case PHYSNN_DTYPE_INT64:
      return (gdouble) ((const gint64 *) base)[i];
    case PHYSNN_DTYPE_UINT64:
      return (gdouble) ((const guint64 *) base)[i];
  }
  return NAN;
}

static gdouble
saturate (gdouble v, gdouble lo, gdouble hi)
{
  if (isnan (v))
    return 0.0;
  v = nearbyint (v);            /* default rounding: half to even */
  return v < lo ? lo : (v > hi ? hi : v);
}

void
_physnn_dtype_write (PhysnnDType dtype, gpointer base, gsize i, gdouble v)
{
  switch (dtype) {
    case PHYSNN_DTYPE_FLOAT32:
      ((gfloat *) base)[i] = (gfloat) v;
      break;
    case PHYSNN_DTYPE_FLOAT64:
      ((gdouble *) base)[i] = v;
      break;
    case PHYSNN_DTYPE_FLOAT16:
      ((guint16 *) base)[i] = physnn_half_from_float ((gfloat) v);
      break;
    case PHYSNN_DTYPE_INT8:
      ((gint8 *) base)[i] = (gint8) saturate (v, G_MININT8, G_MAXINT8);
      break;
    case PHYSNN_DTYPE_UINT8:
      ((guint8 *) base)[i] = (guint8) saturate (v, 0, G_MAXUINT8);
      break;
    case PHYSNN_DTYPE_INT16:
      ((gint16 *) base)[i] = (gint16) saturate (v, G_MININT16, G_MAXINT16);
      break;
    case PHYSNN_DTYPE_UINT16:
      ((guint16 *) base)[i] = (guint16) saturate (v, 0, G_MAXUINT16);
      break;
    case PHYSNN_DTYPE_INT32:
      ((gint32 *) base)[i] = (gint32) saturate (v, G_MININT32, G_MAXINT32);
      break;
    case PHYSNN_DTYPE_UINT32:
      ((guint32 *) base)[i] = (guint32) saturate (v, 0, G_MAXUINT32);
      break;
    case PHYSNN_DTYPE_INT64:
      /* 2^63 is not representable; clamp just inside. */
      ((gint64 *) base)[i] = (gint64) saturate (v, -9223372036854775808.0,
          9223372036854774784.0);
      break;
    case PHYSNN_DTYPE_UINT64:
      ((guint64 *) base)[i] = (guint64) saturate (v, 0,
          18446744073709549568.0);
      break;
  }
}
