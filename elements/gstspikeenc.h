/* physnn — spikeenc: spike encoding of tensor, audio and gray video streams.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstphysnnfilter.h"

G_BEGIN_DECLS

#define GST_TYPE_SPIKE_ENC (gst_spike_enc_get_type ())
G_DECLARE_FINAL_TYPE (
    GstSpikeEnc, gst_spike_enc, GST, SPIKE_ENC, GstPhysnnFilter)

GST_ELEMENT_REGISTER_DECLARE (spikeenc);

G_END_DECLS
