/* physnn — the GStreamer plugin: registers every physnn element.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstpdesrc.h"
#ifdef PHYSNN_HAVE_MODELS
#include "gstpinninfer.h"
#endif

static gboolean
plugin_init (GstPlugin *plugin)
{
  gboolean ret = FALSE;

  ret |= GST_ELEMENT_REGISTER (pdesrc, plugin);
#ifdef PHYSNN_HAVE_MODELS
  ret |= GST_ELEMENT_REGISTER (pinninfer, plugin);
#endif
  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, physnn,
    "Physics-informed and spiking neural networks on OpenCL",
    plugin_init, PACKAGE_VERSION, GST_LICENSE, GST_PACKAGE_NAME,
    GST_PACKAGE_ORIGIN)
