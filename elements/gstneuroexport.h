/* physnn — neuroexport: exports the spiking network of a stream to
 * neuromorphic formats, records its spikes and estimates its energy.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstphysnnfilter.h"

G_BEGIN_DECLS

/**
 * GstNeuroExportFormats:
 * @GST_NEURO_EXPORT_NIR: LOCATION.nir
 * @GST_NEURO_EXPORT_LAVA_NETX: LOCATION.netx.h5
 * @GST_NEURO_EXPORT_PYNN: LOCATION.pynn.py and LOCATION.pynn.py.data.json
 * @GST_NEURO_EXPORT_SPIKE_JSON: LOCATION.spikes.json
 * @GST_NEURO_EXPORT_AKIDA: LOCATION.akida.onnx
 *
 * The files neuroexport writes at the end of the stream.
 */
typedef enum {
  GST_NEURO_EXPORT_NIR = 1 << 0,
  GST_NEURO_EXPORT_LAVA_NETX = 1 << 1,
  GST_NEURO_EXPORT_PYNN = 1 << 2,
  GST_NEURO_EXPORT_SPIKE_JSON = 1 << 3,
  GST_NEURO_EXPORT_AKIDA = 1 << 4,
} GstNeuroExportFormats;

#define GST_TYPE_NEURO_EXPORT_FORMATS (gst_neuro_export_formats_get_type ())
GType gst_neuro_export_formats_get_type (void);

#define GST_TYPE_NEURO_EXPORT (gst_neuro_export_get_type ())
G_DECLARE_FINAL_TYPE (
    GstNeuroExport, gst_neuro_export, GST, NEURO_EXPORT, GstPhysnnFilter)

GST_ELEMENT_REGISTER_DECLARE (neuroexport);

G_END_DECLS
