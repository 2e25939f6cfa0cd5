/* physnn — PhysnnDevice: OpenCL context, queue, program builds with an
 * on-disk binary cache, and the reference C path.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/device-private.h"
#include "physnn/error.h"

#include <gio/gio.h>
#include "physnn/version.h"
#include <string.h>

#define KERNEL_RESOURCE_DIR "/org/physnn/kernels"
#define KERNEL_COMMON "common.cl"
#define MAX_PLATFORMS 16
#define MAX_DEVICES 32

struct _PhysnnDevice {
  GObject parent;

  gchar *spec;
  PhysnnDeviceKind kind;
  PhysnnDeviceType device_type;
  gchar *name;
  gchar *vendor;
  gchar *driver_version;
  gchar *device_version;
  gchar *platform_name;
  gchar *fallback_reason;
  guint compute_units;
  gsize max_work_group_size;
  guint64 global_mem_size;
  guint64 local_mem_size;
  gboolean fp16;
  gboolean fp64;

  cl_platform_id platform;
  cl_device_id id;
  cl_context context;
  cl_command_queue queue;

  GMutex lock;
  GHashTable *programs;         /* "source|options" -> cl_program */
  GHashTable *kernels;          /* "source|options|kernel" -> cl_kernel */
  PhysnnKernelCacheStats cache_stats;

  gboolean profiling;
  guint64 kernel_time_ns;
  guint64 kernel_launches;
};

enum {
  PROP_0,
  PROP_SPEC,
  PROP_KIND,
  PROP_DEVICE_TYPE,
  PROP_NAME,
  PROP_VENDOR,
  PROP_DRIVER_VERSION,
  PROP_PLATFORM_NAME,
  PROP_COMPUTE_UNITS,
  PROP_GLOBAL_MEM_SIZE,
  PROP_FALLBACK_REASON,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (PhysnnDevice, physnn_device, G_TYPE_OBJECT)

/* ------------------------------------------------------------------------ */
/* OpenCL status codes */

const gchar *
_physnn_cl_status_name (cl_int status)
{
  switch (status) {
#define C(x) case x: return #x
      C (CL_SUCCESS);
      C (CL_DEVICE_NOT_FOUND);
      C (CL_DEVICE_NOT_AVAILABLE);
      C (CL_COMPILER_NOT_AVAILABLE);
      C (CL_MEM_OBJECT_ALLOCATION_FAILURE);
      C (CL_OUT_OF_RESOURCES);
      C (CL_OUT_OF_HOST_MEMORY);
      C (CL_PROFILING_INFO_NOT_AVAILABLE);
      C (CL_MEM_COPY_OVERLAP);
      C (CL_IMAGE_FORMAT_MISMATCH);
      C (CL_IMAGE_FORMAT_NOT_SUPPORTED);
      C (CL_BUILD_PROGRAM_FAILURE);
      C (CL_MAP_FAILURE);
      C (CL_MISALIGNED_SUB_BUFFER_OFFSET);
      C (CL_COMPILE_PROGRAM_FAILURE);
      C (CL_LINKER_NOT_AVAILABLE);
      C (CL_LINK_PROGRAM_FAILURE);
      C (CL_INVALID_VALUE);
      C (CL_INVALID_DEVICE_TYPE);
      C (CL_INVALID_PLATFORM);
      C (CL_INVALID_DEVICE);
      C (CL_INVALID_CONTEXT);
      C (CL_INVALID_QUEUE_PROPERTIES);
      C (CL_INVALID_COMMAND_QUEUE);
      C (CL_INVALID_HOST_PTR);
      C (CL_INVALID_MEM_OBJECT);
      C (CL_INVALID_BINARY);
      C (CL_INVALID_BUILD_OPTIONS);
      C (CL_INVALID_PROGRAM);
      C (CL_INVALID_PROGRAM_EXECUTABLE);
      C (CL_INVALID_KERNEL_NAME);
      C (CL_INVALID_KERNEL_DEFINITION);
      C (CL_INVALID_KERNEL);
      C (CL_INVALID_ARG_INDEX);
      C (CL_INVALID_ARG_VALUE);
      C (CL_INVALID_ARG_SIZE);
      C (CL_INVALID_KERNEL_ARGS);
      C (CL_INVALID_WORK_DIMENSION);
      C (CL_INVALID_WORK_GROUP_SIZE);
      C (CL_INVALID_WORK_ITEM_SIZE);
      C (CL_INVALID_GLOBAL_OFFSET);
      C (CL_INVALID_EVENT_WAIT_LIST);
      C (CL_INVALID_EVENT);
      C (CL_INVALID_OPERATION);
      C (CL_INVALID_BUFFER_SIZE);
      C (CL_INVALID_GLOBAL_WORK_SIZE);
#undef C
    case -1001:
      return "CL_PLATFORM_NOT_FOUND_KHR";
    default:
      return "unknown OpenCL status";
  }
}

gboolean
_physnn_cl_check (cl_int status, const gchar *what, GError **error)
{
  if (status == CL_SUCCESS)
    return TRUE;
  g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_DEVICE,
      "%s failed: %s (%d)", what, _physnn_cl_status_name (status), status);
  return FALSE;
}

/* ------------------------------------------------------------------------ */
/* GObject boilerplate */

static void
physnn_device_finalize (GObject *object)
{
  PhysnnDevice *self = PHYSNN_DEVICE (object);

  g_clear_pointer (&self->kernels, g_hash_table_unref);
  g_clear_pointer (&self->programs, g_hash_table_unref);
  if (self->queue)
    clReleaseCommandQueue (self->queue);
  if (self->context)
    clReleaseContext (self->context);
  g_mutex_clear (&self->lock);
  g_free (self->spec);
  g_free (self->name);
  g_free (self->vendor);
  g_free (self->driver_version);
  g_free (self->device_version);
  g_free (self->platform_name);
  g_free (self->fallback_reason);

  G_OBJECT_CLASS (physnn_device_parent_class)->finalize (object);
}

static void
physnn_device_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  PhysnnDevice *self = PHYSNN_DEVICE (object);

  switch (prop_id) {
    case PROP_SPEC:
      g_value_set_string (value, self->spec);
      break;
    case PROP_KIND:
      g_value_set_int (value, self->kind);
      break;
    case PROP_DEVICE_TYPE:
      g_value_set_int (value, self->device_type);
      break;
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case PROP_VENDOR:
      g_value_set_string (value, self->vendor);
      break;
    case PROP_DRIVER_VERSION:
      g_value_set_string (value, self->driver_version);
      break;
    case PROP_PLATFORM_NAME:
      g_value_set_string (value, self->platform_name);
      break;
    case PROP_COMPUTE_UNITS:
      g_value_set_uint (value, self->compute_units);
      break;
    case PROP_GLOBAL_MEM_SIZE:
      g_value_set_uint64 (value, self->global_mem_size);
      break;
    case PROP_FALLBACK_REASON:
      g_value_set_string (value, self->fallback_reason);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
physnn_device_class_init (PhysnnDeviceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  object_class->finalize = physnn_device_finalize;
  object_class->get_property = physnn_device_get_property;

  /**
   * PhysnnDevice:spec:
   *
   * The canonical specification of this device: "cpu" or "opencl:P.D".
   */
  properties[PROP_SPEC] = g_param_spec_string ("spec", "Spec",
      "Canonical device specification (cpu or opencl:P.D)", NULL, ro);
  /**
   * PhysnnDevice:kind:
   *
   * A #PhysnnDeviceKind value.
   */
  properties[PROP_KIND] = g_param_spec_int ("kind", "Kind",
      "PhysnnDeviceKind: 0 reference C path, 1 OpenCL", 0, 1, 0, ro);
  /**
   * PhysnnDevice:device-type:
   *
   * A #PhysnnDeviceType value.
   */
  properties[PROP_DEVICE_TYPE] = g_param_spec_int ("device-type",
      "Device type", "PhysnnDeviceType: host, gpu, cpu, accelerator", 0, 3, 0,
      ro);
  properties[PROP_NAME] = g_param_spec_string ("name", "Name",
      "Device name as the driver reports it", NULL, ro);
  properties[PROP_VENDOR] = g_param_spec_string ("vendor", "Vendor",
      "Device vendor", NULL, ro);
  properties[PROP_DRIVER_VERSION] = g_param_spec_string ("driver-version",
      "Driver version", "OpenCL driver version", NULL, ro);
  properties[PROP_PLATFORM_NAME] = g_param_spec_string ("platform-name",
      "Platform name", "OpenCL platform name", NULL, ro);
  properties[PROP_COMPUTE_UNITS] = g_param_spec_uint ("compute-units",
      "Compute units", "Number of compute units", 0, G_MAXUINT, 0, ro);
  properties[PROP_GLOBAL_MEM_SIZE] = g_param_spec_uint64 ("global-mem-size",
      "Global memory", "Device global memory in bytes", 0, G_MAXUINT64, 0, ro);
  /**
   * PhysnnDevice:fallback-reason:
   *
   * Why "auto" chose the reference C path, or %NULL when it did not fall
   * back. Elements post this as a warning on the bus.
   */
  properties[PROP_FALLBACK_REASON] = g_param_spec_string ("fallback-reason",
      "Fallback reason", "Why automatic selection fell back to the C path",
      NULL, ro);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
physnn_device_init (PhysnnDevice *self)
{
  g_mutex_init (&self->lock);
  self->programs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      (GDestroyNotify) clReleaseProgram);
  self->kernels = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      (GDestroyNotify) clReleaseKernel);
}

/* ------------------------------------------------------------------------ */
/* Enumeration */

static PhysnnDevice *
device_new_cpu (void)
{
  PhysnnDevice *self = g_object_new (PHYSNN_TYPE_DEVICE, NULL);
  self->spec = g_strdup ("cpu");
  self->kind = PHYSNN_DEVICE_KIND_CPU;
  self->device_type = PHYSNN_DEVICE_TYPE_HOST;
  self->name = g_strdup ("reference C path");
  self->vendor = g_strdup ("physnn");
  self->driver_version = g_strdup (PHYSNN_VERSION_STRING);
  self->platform_name = g_strdup ("host");
  self->compute_units = 1;
  self->max_work_group_size = 1;
  self->fp16 = TRUE;            /* converted in software */
  self->fp64 = TRUE;
  return self;
}

static gchar *
cl_device_string (cl_device_id id, cl_device_info param)
{
  size_t size = 0;
  if (clGetDeviceInfo (id, param, 0, NULL, &size) != CL_SUCCESS || size == 0)
    return g_strdup ("");
  gchar *s = g_malloc0 (size + 1);
  if (clGetDeviceInfo (id, param, size, s, NULL) != CL_SUCCESS)
    s[0] = '\0';
  return g_strstrip (s);
}

static gchar *
cl_platform_string (cl_platform_id id, cl_platform_info param)
{
  size_t size = 0;
  if (clGetPlatformInfo (id, param, 0, NULL, &size) != CL_SUCCESS || size == 0)
    return g_strdup ("");
  gchar *s = g_malloc0 (size + 1);
  if (clGetPlatformInfo (id, param, size, s, NULL) != CL_SUCCESS)
    s[0] = '\0';
  return g_strstrip (s);
}

static PhysnnDevice *
device_new_opencl (cl_platform_id platform, cl_device_id id, guint p, guint d)
{
  PhysnnDevice *self = g_object_new (PHYSNN_TYPE_DEVICE, NULL);
  cl_device_type type = 0;
  cl_uint units = 0;
  size_t wg = 0;
  cl_ulong gmem = 0, lmem = 0;

  self->spec = g_strdup_printf ("opencl:%u.%u", p, d);
  self->kind = PHYSNN_DEVICE_KIND_OPENCL;
  self->platform = platform;
  self->id = id;
  clGetDeviceInfo (id, CL_DEVICE_TYPE, sizeof type, &type, NULL);
  if (type & CL_DEVICE_TYPE_GPU)
    self->device_type = PHYSNN_DEVICE_TYPE_GPU;
  else if (type & CL_DEVICE_TYPE_CPU)
    self->device_type = PHYSNN_DEVICE_TYPE_CPU;
  else
    self->device_type = PHYSNN_DEVICE_TYPE_ACCELERATOR;
  self->name = cl_device_string (id, CL_DEVICE_NAME);
  self->vendor = cl_device_string (id, CL_DEVICE_VENDOR);
  self->driver_version = cl_device_string (id, CL_DRIVER_VERSION);
  self->device_version = cl_device_string (id, CL_DEVICE_VERSION);
  self->platform_name = cl_platform_string (platform, CL_PLATFORM_NAME);
  clGetDeviceInfo (id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units,
      NULL);
  clGetDeviceInfo (id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
  clGetDeviceInfo (id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gmem, &gmem, NULL);
  clGetDeviceInfo (id, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lmem, &lmem, NULL);
  self->compute_units = units;
  self->max_work_group_size = wg ? wg : 1;
  self->global_mem_size = gmem;
  self->local_mem_size = lmem;
  g_autofree gchar *ext = cl_device_string (id, CL_DEVICE_EXTENSIONS);
  self->fp16 = strstr (ext, "cl_khr_fp16") != NULL;
  self->fp64 = strstr (ext, "cl_khr_fp64") != NULL;
  return self;
}

/* Appends the OpenCL devices to @out. Returns FALSE and sets @error when
 * there is no usable OpenCL platform at all. */
static gboolean
enumerate_opencl (GPtrArray *out, GError **error)
{
  cl_platform_id platforms[MAX_PLATFORMS];
  cl_uint n_platforms = 0;
  cl_int status = clGetPlatformIDs (MAX_PLATFORMS, platforms, &n_platforms);

  if (status != CL_SUCCESS || n_platforms == 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NO_DEVICE,
        "no OpenCL platform found (clGetPlatformIDs: %s); is an ICD such as "
        "pocl-opencl-icd or a GPU driver installed?",
        status == CL_SUCCESS ? "0 platforms" : _physnn_cl_status_name (status));
    return FALSE;
  }
  n_platforms = MIN (n_platforms, MAX_PLATFORMS);
  for (cl_uint p = 0; p < n_platforms; p++) {
    cl_device_id ids[MAX_DEVICES];
    cl_uint n_ids = 0;
    if (clGetDeviceIDs (platforms[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, ids,
            &n_ids) != CL_SUCCESS)
      continue;
    n_ids = MIN (n_ids, MAX_DEVICES);
    for (cl_uint d = 0; d < n_ids; d++)
      g_ptr_array_add (out, device_new_opencl (platforms[p], ids[d], p, d));
  }
  return TRUE;
}

/**
 * physnn_device_enumerate:
 * @error: return location for a #GError
 *
 * Lists the compute devices: the reference C path first ("cpu"), then every
 * OpenCL device of every platform ("opencl:P.D"). A machine without an
 * OpenCL ICD still lists "cpu"; this call does not fail for that reason.
 * The devices are not opened; see physnn_device_open().
 *
 * Returns: (transfer container) (element-type PhysnnDevice): the devices;
 *   the array owns them, so g_ptr_array_unref() is all a caller does
 */
GPtrArray *
physnn_device_enumerate (GError **error)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (out, device_new_cpu ());
  enumerate_opencl (out, NULL);
  return out;
}

static gboolean
parse_opencl_spec (const gchar *spec, guint *p, guint *d)
{
  /* "opencl:P.D" */
  const gchar *s = spec + strlen ("opencl:");
  gchar *end = NULL;
  guint64 pv, dv;

  if (!g_ascii_isdigit (*s))
    return FALSE;
  pv = g_ascii_strtoull (s, &end, 10);
  if (*end != '.' || !g_ascii_isdigit (end[1]) || pv > MAX_PLATFORMS)
    return FALSE;
  dv = g_ascii_strtoull (end + 1, &end, 10);
  if (*end != '\0' || dv > MAX_DEVICES)
    return FALSE;
  *p = (guint) pv;
  *d = (guint) dv;
  return TRUE;
}

static PhysnnDevice *
pick_opencl (GPtrArray *all, gboolean gpu_only, GError **last_error)
{
  for (guint i = 0; i < all->len; i++) {
    PhysnnDevice *dev = g_ptr_array_index (all, i);
    if (dev->kind != PHYSNN_DEVICE_KIND_OPENCL)
      continue;
    if (gpu_only && dev->device_type != PHYSNN_DEVICE_TYPE_GPU)
      continue;
    g_clear_error (last_error);
    if (physnn_device_open (dev, last_error))
      return g_object_ref (dev);
  }
  return NULL;
}

/**
 * physnn_device_new:
 * @spec: (nullable): "auto" (default), "cpu", "opencl" or "opencl:P.D"
 * @error: return location for a #GError
 *
 * Opens a compute device.
 *
 * - "auto" takes the environment variable `PHYSNN_DEVICE` if it is set,
 *   otherwise the first OpenCL GPU, otherwise any OpenCL device (PoCL on a
 *   CPU), otherwise the reference C path; in the last case
 *   physnn_device_get_fallback_reason() says why.
 * - "cpu" is the reference C path.
 * - "opencl" is the first OpenCL device that opens; it fails if none does.
 * - "opencl:P.D" is device D of platform P, as `physnn devices` lists them.
 *
 * Returns: (transfer full): the device, or %NULL with @error set
 */
PhysnnDevice *
physnn_device_new (const gchar *spec, GError **error)
{
  g_autoptr (GPtrArray) all = NULL;
  g_autoptr (GError) local = NULL;
  PhysnnDevice *dev = NULL;

  if (spec == NULL || *spec == '\0')
    spec = "auto";
  if (strcmp (spec, "auto") == 0) {
    const gchar *env = g_getenv ("PHYSNN_DEVICE");
    if (env != NULL && *env != '\0' && strcmp (env, "auto") != 0)
      return physnn_device_new (env, error);
  }

  if (strcmp (spec, "cpu") == 0)
    return device_new_cpu ();

  if (strcmp (spec, "auto") != 0 && strcmp (spec, "opencl") != 0 &&
      !g_str_has_prefix (spec, "opencl:")) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "unknown device \"%s\": expected auto, cpu, opencl or opencl:P.D "
        "(run `physnn devices` to list them)", spec);
    return NULL;
  }

  all = g_ptr_array_new_with_free_func (g_object_unref);
  gboolean have_cl = enumerate_opencl (all, &local);

  if (g_str_has_prefix (spec, "opencl:")) {
    guint p, d;
    g_autofree gchar *want = NULL;
    if (!parse_opencl_spec (spec, &p, &d)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "malformed device \"%s\": expected opencl:P.D with platform and "
          "device numbers, e.g. opencl:0.0", spec);
      return NULL;
    }
    if (!have_cl) {
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
    want = g_strdup_printf ("opencl:%u.%u", p, d);
    for (guint i = 0; i < all->len; i++) {
      PhysnnDevice *cand = g_ptr_array_index (all, i);
      if (strcmp (cand->spec, want) == 0) {
        if (!physnn_device_open (cand, error))
          return NULL;
        return g_object_ref (cand);
      }
    }
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NO_DEVICE,
        "no OpenCL device %s: %u device(s) found (run `physnn devices`)",
        want, all->len);
    return NULL;
  }

  if (have_cl) {
    if (strcmp (spec, "auto") == 0)
      dev = pick_opencl (all, TRUE, &local);
    if (dev == NULL)
      dev = pick_opencl (all, FALSE, &local);
    if (dev != NULL)
      return dev;
    if (local == NULL)
      g_set_error (&local, PHYSNN_ERROR, PHYSNN_ERROR_NO_DEVICE,
          "OpenCL platforms found but they have no devices");
  }

  if (strcmp (spec, "opencl") == 0) {
    g_propagate_error (error, g_steal_pointer (&local));
    return NULL;
  }

  dev = device_new_cpu ();
  dev->fallback_reason = g_strdup_printf ("using the reference C path: %s",
      local ? local->message : "no OpenCL device");
  return dev;
}

/* ------------------------------------------------------------------------ */
/* Accessors */

/**
 * physnn_device_get_spec:
 * @self: a #PhysnnDevice
 *
 * Returns: the canonical specification, "cpu" or "opencl:P.D"
 */
const gchar *
physnn_device_get_spec (PhysnnDevice *self)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), NULL);
  return self->spec;
}

/**
 * physnn_device_get_kind:
 * @self: a #PhysnnDevice
 *
 * Returns: whether the device is the reference C path or OpenCL
 */
PhysnnDeviceKind
physnn_device_get_kind (PhysnnDevice *self)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), PHYSNN_DEVICE_KIND_CPU);
  return self->kind;
}

/**
 * physnn_device_get_device_type:
 * @self: a #PhysnnDevice
 *
 * Returns: the hardware class
 */
PhysnnDeviceType
physnn_device_get_device_type (PhysnnDevice *self)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), PHYSNN_DEVICE_TYPE_HOST);
  return self->device_type;
}

/**
 * physnn_device_get_name:
 * @self: a #PhysnnDevice
 *
 * Returns: the device name
 */
const gchar *
physnn_device_get_name (PhysnnDevice *self)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), NULL);
  return self->name;
}

/**
 * physnn_device_get_vendor:
 * @self: a #PhysnnDevice
 *
 * Returns: the device vendor
 */
const gchar *
physnn_device_get_vendor (PhysnnDevice *self)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), NULL);
  return self->vendor;
}

/**
 * physnn_device_get_driver_version:
 * @self: a #PhysnnDevice
 *
 * Returns: the driver version string
 */
const gchar *
physnn_device_get_driver_version (PhysnnDevice *self)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), NULL);
  return self->driver_version;
}

/**
 * physnn_device_get_platform_name:
 * @self: a #PhysnnDevice
 *
 * Returns: the OpenCL platform name, or "host"
 */
const gchar *
physnn_device_get_platform_name (PhysnnDevice *self)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), NULL);
  return self->platform_name;
}

/**
 * physnn_device_get_compute_units:
 * @self: a #PhysnnDevice
 *
 * Returns: the number of compute units
 */
guint
physnn_device_get_compute_units (PhysnnDevice *self)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), 0);
  return self->compute_units;
}

/**
 * physnn_device_get_max_work_group_size:
 * @self: a #PhysnnDevice
 *
 * Returns: the largest work-group the device accepts
 */
gsize
physnn_device_get_max_work_group_size (PhysnnDevice *self)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), 0);
  return self->max_work_group_size;
}

/**
 * physnn_device_get_global_mem_size:
 * @self: a #PhysnnDevice
 *
 * Returns: global memory in bytes (0 for the C path)
 */
guint64
physnn_device_get_global_mem_size (PhysnnDevice *self)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), 0);
  return self->global_mem_size;
}

/**
 * physnn_device_get_local_mem_size:
 * @self: a #PhysnnDevice
 *
 * Returns: local (shared) memory per work-group in bytes
 */
guint64
physnn_device_get_local_mem_size (PhysnnDevice *self)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), 0);
  return self->local_mem_size;
}

/**
 * physnn_device_has_fp16:
 * @self: a #PhysnnDevice
 *
 * Whether the device does FP16 arithmetic (cl_khr_fp16). physnn never needs
 * it: FP16 is a storage format converted with vload_half/vstore_half.
 *
 * Returns: %TRUE if cl_khr_fp16 is available
 */
gboolean
physnn_device_has_fp16 (PhysnnDevice *self)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), FALSE);
  return self->fp16;
}

/**
 * physnn_device_has_fp64:
 * @self: a #PhysnnDevice
 *
 * Returns: %TRUE if the device supports double precision
 */
gboolean
physnn_device_has_fp64 (PhysnnDevice *self)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), FALSE);
  return self->fp64;
}

/**
 * physnn_device_get_fallback_reason:
 * @self: a #PhysnnDevice
 *
 * Returns: (nullable): why "auto" fell back to the C path, or %NULL
 */
const gchar *
physnn_device_get_fallback_reason (PhysnnDevice *self)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), NULL);
  return self->fallback_reason;
}

/**
 * physnn_device_describe:
 * @self: a #PhysnnDevice
 *
 * Returns: (transfer full): a one-line human description
 */
gchar *
physnn_device_describe (PhysnnDevice *self)
{
  static const gchar *types[] = { "host", "GPU", "CPU", "accelerator" };
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), NULL);
  if (self->kind == PHYSNN_DEVICE_KIND_CPU)
    return g_strdup_printf ("%-12s %s", self->spec, self->name);
  return g_strdup_printf ("%-12s %s %s (%s, %s; %u CU, %" G_GUINT64_FORMAT
      " MiB, driver %s)", self->spec, types[self->device_type], self->name,
      self->platform_name, self->device_version ? self->device_version : "",
      self->compute_units, self->global_mem_size >> 20, self->driver_version);
}

/* ------------------------------------------------------------------------ */
/* Context and queue */

/**
 * physnn_device_open:
 * @self: a #PhysnnDevice
 * @error: return location for a #GError
 *
 * Creates the OpenCL context and command queue. Devices returned by
 * physnn_device_new() are already open; enumerated ones open on first use.
 * Opening the C path always succeeds.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_device_open (PhysnnDevice *self, GError **error)
{
  cl_int status = CL_SUCCESS;

  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), FALSE);
  if (self->kind == PHYSNN_DEVICE_KIND_CPU || self->queue != NULL)
    return TRUE;

  g_mutex_lock (&self->lock);
  if (self->queue == NULL) {
    cl_context_properties props[] = {
      CL_CONTEXT_PLATFORM, (cl_context_properties) self->platform, 0
    };
    self->context = clCreateContext (props, 1, &self->id, NULL, NULL, &status);
    if (status == CL_SUCCESS) {
      /* Profiling is always enabled on the queue: it costs little and lets
       * benchmarks switch timing on without reopening the device. */
      self->queue = clCreateCommandQueue (self->context, self->id,
          CL_QUEUE_PROFILING_ENABLE, &status);
      if (status != CL_SUCCESS) {
        clReleaseContext (self->context);
        self->context = NULL;
      }
    }
  }
  g_mutex_unlock (&self->lock);

  if (status != CL_SUCCESS) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_DEVICE,
        "cannot open OpenCL device %s (%s): %s", self->spec, self->name,
        _physnn_cl_status_name (status));
    return FALSE;
  }
  return TRUE;
}

/**
 * physnn_device_finish:
 * @self: a #PhysnnDevice
 * @error: return location for a #GError
 *
 * Waits until all queued work on the device has completed.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_device_finish (PhysnnDevice *self, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), FALSE);
  if (self->queue == NULL)
    return TRUE;
  return _physnn_cl_check (clFinish (self->queue), "clFinish", error);
}

cl_context
_physnn_device_get_context (PhysnnDevice *self)
{
  return self->context;
}

cl_command_queue
_physnn_device_get_queue (PhysnnDevice *self)
{
  return self->queue;
}

cl_device_id
_physnn_device_get_id (PhysnnDevice *self)
{
  return self->id;
}

void
_physnn_device_lock (PhysnnDevice *self)
{
  g_mutex_lock (&self->lock);
}

void
_physnn_device_unlock (PhysnnDevice *self)
{
  g_mutex_unlock (&self->lock);
}

/* ------------------------------------------------------------------------ */
/* Programs */

static gchar *
load_kernel_source (const gchar *source_name, GError **error)
{
  g_autofree gchar *path = g_strconcat (KERNEL_RESOURCE_DIR "/", source_name,
      NULL);
  g_autofree gchar *common_path = g_strconcat (KERNEL_RESOURCE_DIR "/",
      KERNEL_COMMON, NULL);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GBytes) common = NULL;

  body = g_resources_lookup_data (path, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  if (body == NULL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "no kernel source \"%s\" in the physnn resources", source_name);
    return NULL;
  }
  common = g_resources_lookup_data (common_path, G_RESOURCE_LOOKUP_FLAGS_NONE,
      NULL);
  /* The common header is prepended so kernels share helpers without
   * relying on the driver's #include search path. */
  return g_strdup_printf ("%.*s\n#line 1\n%.*s",
      common ? (int) g_bytes_get_size (common) : 0,
      common ? (const gchar *) g_bytes_get_data (common, NULL) : "",
      (int) g_bytes_get_size (body), (const gchar *) g_bytes_get_data (body,
          NULL));
}

static gchar *
program_cache_key (PhysnnDevice *self, const gchar *source,
    const gchar *options)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  const gchar *parts[] = { self->platform_name, self->name, self->vendor,
    self->device_version, self->driver_version, options, source
  };
  for (guint i = 0; i < G_N_ELEMENTS (parts); i++) {
    const gchar *p = parts[i] ? parts[i] : "";
    g_checksum_update (sum, (const guchar *) p, strlen (p) + 1);
  }
  return g_strdup (g_checksum_get_string (sum));
}

static gchar *
program_build_log (PhysnnDevice *self, cl_program program)
{
  size_t size = 0;
  if (clGetProgramBuildInfo (program, self->id, CL_PROGRAM_BUILD_LOG, 0, NULL,
          &size) != CL_SUCCESS || size == 0)
    return g_strdup ("(no build log)");
  gchar *log = g_malloc0 (size + 1);
  clGetProgramBuildInfo (program, self->id, CL_PROGRAM_BUILD_LOG, size, log,
      NULL);
  return g_strstrip (log);
}

static cl_program
program_from_binary (PhysnnDevice *self, GBytes *binary)
{
  gsize size = 0;
  const guchar *data = g_bytes_get_data (binary, &size);
  cl_int status = CL_SUCCESS, bin_status = CL_SUCCESS;
  cl_program program = clCreateProgramWithBinary (self->context, 1, &self->id,
      &size, &data, &bin_status, &status);
  if (status != CL_SUCCESS || bin_status != CL_SUCCESS)
    goto fail;
  if (clBuildProgram (program, 1, &self->id, NULL, NULL, NULL) != CL_SUCCESS)
    goto fail;
  return program;

fail:
  if (program)
    clReleaseProgram (program);
  return NULL;
}

static void
program_store_binary (PhysnnDevice *self, cl_program program, const gchar *key)
{
  size_t size = 0;
  if (clGetProgramInfo (program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size,
          NULL) != CL_SUCCESS || size == 0)
    return;
  g_autofree guint8 *bin = g_malloc (size);
  guint8 *ptrs[1] = { bin };
  if (clGetProgramInfo (program, CL_PROGRAM_BINARIES, sizeof ptrs, ptrs,
          NULL) != CL_SUCCESS)
    return;
  /* A failed cache write only costs a rebuild next time. */
  if (_physnn_kernel_cache_store (key, bin, size, NULL))
    self->cache_stats.stored++;
}

/**
 * _physnn_device_build_source:
 * @label: names the program in error messages
 *
 * Builds OpenCL C @source for this device, through the binary cache.
 * Caller owns the returned program.
 */
cl_program
_physnn_device_build_source (PhysnnDevice *self, const gchar *label,
    const gchar *source, const gchar *options, GError **error)
{
  g_autofree gchar *key = NULL;
  cl_program program = NULL;
  cl_int status;
  gboolean use_cache = _physnn_kernel_cache_enabled ();

  if (self->kind != PHYSNN_DEVICE_KIND_OPENCL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "device %s does not run OpenCL programs", self->spec);
    return NULL;
  }
  if (!physnn_device_open (self, error))
    return NULL;

  key = program_cache_key (self, source, options);
  if (use_cache) {
    gboolean corrupt = FALSE;
    g_autoptr (GBytes) binary = _physnn_kernel_cache_load (key, &corrupt);
    if (binary != NULL) {
      program = program_from_binary (self, binary);
      if (program != NULL) {
        self->cache_stats.hits++;
        return program;
      }
      /* Valid file, but the driver refused it (e.g. a driver update that
       * kept its version string): rebuild and overwrite. */
      self->cache_stats.rejected++;
      _physnn_kernel_cache_remove (key);
    } else if (corrupt) {
      self->cache_stats.rejected++;
    }
    self->cache_stats.misses++;
  }

  const gchar *src = source;
  program = clCreateProgramWithSource (self->context, 1, &src, NULL, &status);
  if (!_physnn_cl_check (status, "clCreateProgramWithSource", error))
    return NULL;
  status = clBuildProgram (program, 1, &self->id, options, NULL, NULL);
  if (status != CL_SUCCESS) {
    g_autofree gchar *log = program_build_log (self, program);
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_KERNEL_BUILD,
        "OpenCL program \"%s\" failed to build on %s (%s): %s\nbuild log:\n%s",
        label, self->spec, self->name, _physnn_cl_status_name (status), log);
    clReleaseProgram (program);
    return NULL;
  }
  if (use_cache)
    program_store_binary (self, program, key);
  return program;
}

/**
 * _physnn_device_get_program:
 * @source_name: a file in kernels/, e.g. "tensor.cl"
 *
 * Returns: (transfer none): the built program, owned by the device
 */
cl_program
_physnn_device_get_program (PhysnnDevice *self, const gchar *source_name,
    const gchar *options, GError **error)
{
  g_autofree gchar *id = g_strconcat (source_name, "|", options ? options : "",
      NULL);
  cl_program program;

  g_mutex_lock (&self->lock);
  program = g_hash_table_lookup (self->programs, id);
  g_mutex_unlock (&self->lock);
  if (program != NULL)
    return program;

  g_autofree gchar *source = load_kernel_source (source_name, error);
  if (source == NULL)
    return NULL;
  program = _physnn_device_build_source (self, source_name, source,
      options ? options : "", error);
  if (program == NULL)
    return NULL;

  g_mutex_lock (&self->lock);
  cl_program existing = g_hash_table_lookup (self->programs, id);
  if (existing != NULL) {
    clReleaseProgram (program);
    program = existing;
  } else {
    g_hash_table_insert (self->programs, g_steal_pointer (&id), program);
  }
  g_mutex_unlock (&self->lock);
  return program;
}

/**
 * _physnn_device_get_kernel:
 *
 * Returns: (transfer none): a kernel owned by the device. Set its arguments
 *   and enqueue it between _physnn_device_lock() and _physnn_device_unlock().
 */
cl_kernel
_physnn_device_get_kernel (PhysnnDevice *self, const gchar *source_name,
    const gchar *options, const gchar *kernel_name, GError **error)
{
  g_autofree gchar *id = g_strconcat (source_name, "|", options ? options : "",
      "|", kernel_name, NULL);
  cl_kernel kernel;
  cl_int status;

  g_mutex_lock (&self->lock);
  kernel = g_hash_table_lookup (self->kernels, id);
  g_mutex_unlock (&self->lock);
  if (kernel != NULL)
    return kernel;

  cl_program program = _physnn_device_get_program (self, source_name, options,
      error);
  if (program == NULL)
    return NULL;
  kernel = clCreateKernel (program, kernel_name, &status);
  if (status != CL_SUCCESS) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_KERNEL_BUILD,
        "no kernel \"%s\" in program \"%s\": %s", kernel_name, source_name,
        _physnn_cl_status_name (status));
    return NULL;
  }
  g_mutex_lock (&self->lock);
  cl_kernel existing = g_hash_table_lookup (self->kernels, id);
  if (existing != NULL) {
    clReleaseKernel (kernel);
    kernel = existing;
  } else {
    g_hash_table_insert (self->kernels, g_steal_pointer (&id), kernel);
  }
  g_mutex_unlock (&self->lock);
  return kernel;
}

void
_physnn_device_get_cache_stats (PhysnnDevice *self,
    PhysnnKernelCacheStats *stats)
{
  *stats = self->cache_stats;
}

/* ------------------------------------------------------------------------ */
/* Launch */

/* The work-group size comes from the kernel and device queries, never from a
 * constant: a multiple of the preferred size (wavefront 64 on GCN, warp 32 on
 * NVIDIA), capped by the kernel's limit and not much larger than the work. */
gsize
_physnn_device_pick_local_size (PhysnnDevice *self, cl_kernel kernel,
    gsize global)
{
  size_t max_wg = 0, multiple = 0;
  clGetKernelWorkGroupInfo (kernel, self->id, CL_KERNEL_WORK_GROUP_SIZE,
      sizeof max_wg, &max_wg, NULL);
  clGetKernelWorkGroupInfo (kernel, self->id,
      CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE, sizeof multiple, &multiple,
      NULL);
  if (max_wg == 0)
    max_wg = self->max_work_group_size;
  if (multiple == 0 || multiple > max_wg)
    multiple = 1;
  gsize local = multiple;
  /* Grow to 4 wavefronts where the kernel allows it; more rarely helps the
   * streaming kernels and hurts occupancy on register-heavy ones. Small
   * launches keep at least one work-group per compute unit, so that a CPU
   * device uses all its cores on a 256-point buffer. */
  gsize per_cu = global / MAX (self->compute_units, 1);
  while (local * 2 <= max_wg && local * 2 <= 4 * multiple && local < global &&
      local * 2 <= MAX (per_cu, multiple))
    local *= 2;
  if (local > per_cu && per_cu >= 1 && multiple > per_cu)
    local = per_cu;
  return MAX (local, 1);
}

/**
 * _physnn_device_enqueue:
 * @global: global sizes; rounded up to a multiple of @local, so kernels
 *   must bounds-check their index
 * @local: (nullable): work-group sizes, or %NULL to pick from device queries
 *   (dimension 0 only; others 1)
 */
gboolean
_physnn_device_enqueue (PhysnnDevice *self, cl_kernel kernel, guint work_dim,
    const gsize *global, const gsize *local, GError **error)
{
  size_t g[3], l[3];
  cl_event event = NULL;
  cl_int status;

  g_return_val_if_fail (work_dim >= 1 && work_dim <= 3, FALSE);
  for (guint i = 0; i < work_dim; i++) {
    if (global[i] == 0)
      return TRUE;              /* nothing to do */
    if (local != NULL)
      l[i] = local[i];
    else
      l[i] = i == 0 ? _physnn_device_pick_local_size (self, kernel,
          global[0]) : 1;
    g[i] = (global[i] + l[i] - 1) / l[i] * l[i];
  }
  status = clEnqueueNDRangeKernel (self->queue, kernel, work_dim, NULL, g, l,
      0, NULL, self->profiling ? &event : NULL);
  if (!_physnn_cl_check (status, "clEnqueueNDRangeKernel", error))
    return FALSE;
  self->kernel_launches++;
  if (event != NULL) {
    cl_ulong start = 0, end = 0;
    clWaitForEvents (1, &event);
    if (clGetEventProfilingInfo (event, CL_PROFILING_COMMAND_START,
            sizeof start, &start, NULL) == CL_SUCCESS &&
        clGetEventProfilingInfo (event, CL_PROFILING_COMMAND_END, sizeof end,
            &end, NULL) == CL_SUCCESS && end >= start)
      self->kernel_time_ns += end - start;
    clReleaseEvent (event);
  }
  return TRUE;
}

/**
 * physnn_device_set_profiling:
 * @self: a #PhysnnDevice
 * @enable: whether to time kernels
 *
 * When enabled, each kernel launch waits for completion and adds its
 * device-side duration (OpenCL profiling events) to
 * physnn_device_get_kernel_time_ns(). For benchmarks; it serialises work.
 */
void
physnn_device_set_profiling (PhysnnDevice *self, gboolean enable)
{
  g_return_if_fail (PHYSNN_IS_DEVICE (self));
  self->profiling = enable;
}

/**
 * physnn_device_get_profiling:
 * @self: a #PhysnnDevice
 *
 * Returns: whether kernel profiling is on
 */
gboolean
physnn_device_get_profiling (PhysnnDevice *self)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), FALSE);
  return self->profiling;
}

/**
 * physnn_device_get_kernel_time_ns:
 * @self: a #PhysnnDevice
 *
 * Returns: the summed device time of profiled kernel launches
 */
guint64
physnn_device_get_kernel_time_ns (PhysnnDevice *self)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), 0);
  return self->kernel_time_ns;
}

/**
 * physnn_device_get_kernel_launches:
 * @self: a #PhysnnDevice
 *
 * Returns: the number of kernel launches since the last reset
 */
guint64
physnn_device_get_kernel_launches (PhysnnDevice *self)
{
  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), 0);
  return self->kernel_launches;
}

/**
 * physnn_device_reset_counters:
 * @self: a #PhysnnDevice
 *
 * Zeroes the kernel time and launch counters.
 */
void
physnn_device_reset_counters (PhysnnDevice *self)
{
  g_return_if_fail (PHYSNN_IS_DEVICE (self));
  self->kernel_time_ns = 0;
  self->kernel_launches = 0;
}

/**
 * physnn_device_warm_up:
 * @self: a #PhysnnDevice
 * @error: return location for a #GError
 *
 * Builds every kernel program physnn ships for this device (from the binary
 * cache when possible), so that the first buffer of a stream does not pay
 * for compilation. Does nothing on the C path.
 *
 * Returns: %TRUE if every program built
 */
gboolean
physnn_device_warm_up (PhysnnDevice *self, GError **error)
{
  g_auto (GStrv) names = NULL;

  g_return_val_if_fail (PHYSNN_IS_DEVICE (self), FALSE);
  if (self->kind != PHYSNN_DEVICE_KIND_OPENCL)
    return TRUE;
  names = g_resources_enumerate_children (KERNEL_RESOURCE_DIR,
      G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  for (guint i = 0; names && names[i]; i++) {
    if (strcmp (names[i], KERNEL_COMMON) == 0 ||
        !g_str_has_suffix (names[i], ".cl"))
      continue;
    /* Programs that need -D options from a model (marked in their source)
     * are built, and cached, when a model asks for them. */
    g_autofree gchar *path = g_strconcat (KERNEL_RESOURCE_DIR "/", names[i],
        NULL);
    g_autoptr (GBytes) src = g_resources_lookup_data (path,
        G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
    if (src && g_strstr_len (g_bytes_get_data (src, NULL),
            MIN (g_bytes_get_size (src), 2048), "physnn: parameterized"))
      continue;
    if (!_physnn_device_get_program (self, names[i], NULL, error))
      return FALSE;
  }
  return TRUE;
}
