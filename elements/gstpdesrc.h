/* physnn — pdesrc: a physics sensor simulator source.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/base/gstpushsrc.h>
#include <physnn/physnn.h>

G_BEGIN_DECLS

/**
 * GstPdeSrcOutputs:
 * @GST_PDE_SRC_OUTPUT_FIELD: the whole field on its grid, float32
 * @GST_PDE_SRC_OUTPUT_SENSORS: sensor readings, float32 [sensors]
 * @GST_PDE_SRC_OUTPUT_MASK: ground-truth fault mask, uint8 [sensors]
 * @GST_PDE_SRC_OUTPUT_POSITIONS: sensor coordinates, float32 [sensors][d]
 *
 * Tensors in an `other/tensors` buffer of pdesrc, in this order. Sensor
 * tensors are present only when there are sensors.
 */
typedef enum {
  GST_PDE_SRC_OUTPUT_FIELD = 1 << 0,
  GST_PDE_SRC_OUTPUT_SENSORS = 1 << 1,
  GST_PDE_SRC_OUTPUT_MASK = 1 << 2,
  GST_PDE_SRC_OUTPUT_POSITIONS = 1 << 3,
} GstPdeSrcOutputs;

#define GST_TYPE_PDE_SRC (gst_pde_src_get_type ())
G_DECLARE_FINAL_TYPE (GstPdeSrc, gst_pde_src, GST, PDE_SRC, GstPushSrc)

GST_ELEMENT_REGISTER_DECLARE (pdesrc);

G_END_DECLS
