/* physnn — the commands of the `physnn` tool, one file each.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <physnn/physnn.h>

int physnn_cmd_inspect (int argc, char **argv);
int physnn_cmd_infer (int argc, char **argv);
int physnn_cmd_train (int argc, char **argv);
int physnn_cmd_export (int argc, char **argv);
int physnn_cmd_quantize (int argc, char **argv);

/* "builtin:NAME" or a path */
PhysnnModel *physnn_cli_load_model (const gchar *spec, GError **error);
