/* physnn — the GStreamer plugin: registers every physnn element.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstpdesrc.h"
#include "gstpinninfer.h"
#include "gstspikeenc.h"
#include "gstsnninfer.h"
#include "gstresidualexplain.h"
#include "gstqinfer.h"
#include "gstneuroexport.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  gboolean ret = FALSE;

  ret |= GST_ELEMENT_REGISTER (pdesrc, plugin);
  ret |= GST_ELEMENT_REGISTER (pinninfer, plugin);
  ret |= GST_ELEMENT_REGISTER (spikeenc, plugin);
  ret |= GST_ELEMENT_REGISTER (snninfer, plugin);
  ret |= GST_ELEMENT_REGISTER (residualexplain, plugin);
  ret |= GST_ELEMENT_REGISTER (qinfer, plugin);
  ret |= GST_ELEMENT_REGISTER (neuroexport, plugin);
  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, physnn,
    "Physics-informed and spiking neural networks on OpenCL",
    plugin_init, PACKAGE_VERSION, GST_LICENSE, GST_PACKAGE_NAME,
    GST_PACKAGE_ORIGIN)
