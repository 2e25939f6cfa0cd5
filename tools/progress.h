/* physnn — the progress bar of the long-running commands (train, quantize).
 *
 * On a terminal: one redrawn line (at most 10 redraws a second) with a bar,
 * counts, elapsed time and an ETA; otherwise (logs, CI): a line every 10 %
 * or every 30 s.
 */
#pragma once

#include <glib.h>

typedef struct {
  gboolean tty, quiet;
  gint64 t0, last;
  guint last_pct;
  gboolean mid_line; /* a bar is drawn, no newline yet */
} CliProgress;

void cli_progress_init (CliProgress *p, gboolean quiet);
void cli_progress_update (CliProgress *p, const gchar *stage, guint done,
    guint total, const gchar *detail);
void cli_progress_finish (CliProgress *p);
