/* physnn — the command-line tool.
 *
 *   physnn devices [-v]     list compute devices (what device= accepts)
 *   physnn inspect MODEL    describe an ONNX model
 *   physnn infer MODEL ...  evaluate a PINN on a grid
 *   physnn quantize MODEL   mixed-precision quantization plans
 *   physnn export NIR -o B  neuromorphic formats, fitting, energy
 *   physnn version          print the library version
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <physnn/physnn.h>
#include <physnn/device-private.h>

#include "commands.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

typedef int (*CommandFunc) (int argc, char **argv);

static int
cmd_devices (int argc, char **argv)
{
  gboolean verbose = FALSE, warm = FALSE;
  GOptionEntry entries[] = {
    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
        "Show memory, work-group and extension details", NULL},
    {"build", 'b', 0, G_OPTION_ARG_NONE, &warm,
        "Build (and cache) every kernel on every OpenCL device", NULL},
    {NULL}
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- list devices");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("physnn devices: %s\n", error->message);
    return 2;
  }

  g_autoptr (GPtrArray) devices = physnn_device_enumerate (NULL);
  g_autoptr (PhysnnDevice) chosen = physnn_device_new ("auto", NULL);
  for (guint i = 0; i < devices->len; i++) {
    PhysnnDevice *d = g_ptr_array_index (devices, i);
    g_autofree gchar *line = physnn_device_describe (d);
    gboolean is_auto = chosen && strcmp (physnn_device_get_spec (d),
        physnn_device_get_spec (chosen)) == 0;
    g_print ("%s %s\n", is_auto ? "*" : " ", line);
    if (verbose && physnn_device_get_kind (d) == PHYSNN_DEVICE_KIND_OPENCL) {
      g_print ("      vendor %s, max work-group %" G_GSIZE_FORMAT
          ", local memory %" G_GUINT64_FORMAT " KiB, fp16 math %s, fp64 %s\n",
          physnn_device_get_vendor (d),
          physnn_device_get_max_work_group_size (d),
          physnn_device_get_local_mem_size (d) >> 10,
          physnn_device_has_fp16 (d) ? "yes" : "no (storage only)",
          physnn_device_has_fp64 (d) ? "yes" : "no");
    }
    if (warm && physnn_device_get_kind (d) == PHYSNN_DEVICE_KIND_OPENCL) {
      g_autoptr (GError) werr = NULL;
      PhysnnKernelCacheStats st;
      gint64 t0 = g_get_monotonic_time ();
      if (!physnn_device_warm_up (d, &werr)) {
        g_print ("      kernels: FAILED: %s\n", werr->message);
        continue;
      }
      _physnn_device_get_cache_stats (d, &st);
      g_print ("      kernels built in %.1f ms (cache: %u hit, %u miss, "
          "%u rejected)\n", (g_get_monotonic_time () - t0) / 1000.0, st.hits,
          st.misses, st.rejected);
    }
  }
  if (chosen && physnn_device_get_fallback_reason (chosen))
    g_print ("\nwarning: %s\n", physnn_device_get_fallback_reason (chosen));
  if (verbose) {
    g_autofree gchar *dir = _physnn_kernel_cache_dir ();
    g_print ("\nkernel cache: %s%s\n", dir, _physnn_kernel_cache_enabled ()?
        "" : " (disabled by PHYSNN_KERNEL_CACHE)");
  }
  g_print ("\n* = what device=auto picks here\n");
  return 0;
}

static int
cmd_version (int argc, char **argv)
{
  g_print ("physnn %s\n", PHYSNN_VERSION_STRING);
  return 0;
}

static const struct {
  const gchar *name;
  CommandFunc func;
  const gchar *help;
} commands[] = {
  {"devices", cmd_devices, "list compute devices (values for device=)"},
  {"inspect", physnn_cmd_inspect, "describe an ONNX model"},
  {"infer", physnn_cmd_infer, "evaluate a PINN on a grid, compare with the "
        "simulator"},
  {"train", physnn_cmd_train, "train a PINN for a PDE, or fine-tune a "
        "model on data or physics"},
  {"quantize", physnn_cmd_quantize, "choose per-layer precisions (fp32, "
        "fp16, int8, int4); write a plan and a QDQ ONNX model"},
  {"export", physnn_cmd_export, "export a spiking network (NIR) to NIR, "
        "Lava-dl NetX, PyNN, spike JSON, Akida; fit, agreement, energy"},
  {"version", cmd_version, "print the version"},
};

static void
usage (FILE *out)
{
  fprintf (out, "usage: physnn COMMAND [OPTIONS]\n\ncommands:\n");
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-10s %s\n", commands[i].name, commands[i].help);
  fprintf (out, "\nphysnn COMMAND --help shows the options of a command.\n");
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  if (argc < 2) {
    usage (stderr);
    return 2;
  }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0 ||
      strcmp (argv[1], "help") == 0) {
    usage (stdout);
    return 0;
  }
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].func (argc - 1, argv + 1);
  fprintf (stderr, "physnn: unknown command \"%s\"\n\n", argv[1]);
  usage (stderr);
  return 2;
}
