/* physnn — pinninfer: PINN and DeepONet inference with derivatives.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstphysnnfilter.h"

G_BEGIN_DECLS

#define GST_TYPE_PINN_INFER (gst_pinn_infer_get_type ())
G_DECLARE_FINAL_TYPE (GstPinnInfer, gst_pinn_infer, GST, PINN_INFER,
    GstPhysnnFilter)

GST_ELEMENT_REGISTER_DECLARE (pinninfer);

G_END_DECLS
