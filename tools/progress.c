/* physnn — the progress bar of the long-running commands. */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

void
cli_progress_init (CliProgress *p, gboolean quiet)
{
  p->tty = isatty (2);
  p->quiet = quiet;
  p->t0 = g_get_monotonic_time ();
  p->last = 0;
  p->last_pct = 0;
  p->mid_line = FALSE;
}

/* detail: what the stage reports, e.g. "loss 1.2e-03" */
void
cli_progress_update (CliProgress *p, const gchar *stage, guint done,
    guint total, const gchar *detail)
{
  gint64 now = g_get_monotonic_time ();
  gdouble el = (now - p->t0) / 1e6;
  guint pct = total ? MIN (100, (guint64)done * 100 / total) : 100;

  if (p->quiet)
    return;
  if (p->tty) {
    if (now - p->last < 100000 && done < total)
      return; /* 10 redraws a second at most */
    p->last = now;
    gint bar = 30, fill = (gint)(bar * pct / 100);
    gchar b[64];
    for (gint i = 0; i < bar; i++)
      b[i] = i < fill ? '#' : '.';
    b[bar] = '\0';
    gdouble eta = done ? el * (total - MIN (done, total)) / done : 0;
    fprintf (stderr, "\r%-8s [%s] %3u%% %6u/%u  %s  %.1f s, ETA %.0f s ", stage,
        b, pct, done, total, detail, el, eta);
    p->mid_line = done < total;
    if (!p->mid_line)
      fputc ('\n', stderr);
    fflush (stderr);
  } else if (pct >= p->last_pct + 10 || done >= total ||
             now - p->last > 30 * G_USEC_PER_SEC) {
    p->last_pct = pct - pct % 10;
    p->last = now;
    fprintf (stderr, "%3u%% %s %u/%u %s (%.1f s)\n", pct, stage, done, total,
        detail, el);
  }
}

/* Ends a bar left mid-line (a stage that stopped early). */
void
cli_progress_finish (CliProgress *p)
{
  if (p->mid_line)
    fputc ('\n', stderr);
  p->mid_line = FALSE;
}
