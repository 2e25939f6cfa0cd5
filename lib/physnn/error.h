/* physnn — error domain shared by every engine call.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * PHYSNN_ERROR:
 *
 * Error domain of the physnn engine. Errors in this domain carry a
 * #PhysnnError code and a message that names the offending file, field,
 * node or property and what was expected.
 */
#define PHYSNN_ERROR (physnn_error_quark ())

/**
 * PhysnnError:
 * @PHYSNN_ERROR_FAILED: generic failure
 * @PHYSNN_ERROR_INVALID_ARGUMENT: an argument or property value is out of range
 * @PHYSNN_ERROR_NOT_SUPPORTED: the request is valid but not supported (op, dtype, layout)
 * @PHYSNN_ERROR_NO_DEVICE: the requested compute device does not exist
 * @PHYSNN_ERROR_DEVICE: an OpenCL call failed; the message carries the OpenCL status
 * @PHYSNN_ERROR_KERNEL_BUILD: an OpenCL program did not build; the message carries the build log
 * @PHYSNN_ERROR_PARSE: text input (caps field, grid, PDE, JSON) did not parse
 * @PHYSNN_ERROR_FORMAT: a model or data file is malformed
 * @PHYSNN_ERROR_SHAPE: tensor shapes or dtypes do not match
 * @PHYSNN_ERROR_NUMERIC: a computation produced NaN or Inf, or diverged
 * @PHYSNN_ERROR_IO: reading or writing a file failed
 *
 * Error codes in the #PHYSNN_ERROR domain.
 */
typedef enum {
  PHYSNN_ERROR_FAILED,
  PHYSNN_ERROR_INVALID_ARGUMENT,
  PHYSNN_ERROR_NOT_SUPPORTED,
  PHYSNN_ERROR_NO_DEVICE,
  PHYSNN_ERROR_DEVICE,
  PHYSNN_ERROR_KERNEL_BUILD,
  PHYSNN_ERROR_PARSE,
  PHYSNN_ERROR_FORMAT,
  PHYSNN_ERROR_SHAPE,
  PHYSNN_ERROR_NUMERIC,
  PHYSNN_ERROR_IO,
} PhysnnError;

GQuark physnn_error_quark (void);

G_END_DECLS
