/* physnn — `physnn train`: train a PINN for a PDE, or fine-tune an ONNX
 * model on data (.npy) or physics.
 *
 *   physnn train --pde "u_t - 0.1*u_xx" --domain x=0:1,t=0:1 \
 *       --condition "t=0: u - sin(pi*x)" --condition "x=0|x=1: u" \
 *       --layers 32,32,32 --adam 3000 --lbfgs 1000 -o heat.onnx --plot loss.png
 *   physnn train MODEL.onnx --data x.npy --targets y.npy -o tuned.onnx
 *   physnn train MODEL.onnx --pde "..." -o tuned.onnx   (physics fine-tune)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "commands.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "progress.h"

static void
on_progress (PhysnnTrainer *tr, guint it, guint planned, const gchar *phase,
    gdouble loss, gpointer user)
{
  gchar detail[48];
  g_snprintf (detail, sizeof detail, "loss %.3e", loss);
  cli_progress_update (user, phase, it, planned, detail);
}

static PhysnnSampling
parse_sampling (const gchar *s, gboolean *ok)
{
  *ok = TRUE;
  if (s == NULL || strcmp (s, "uniform") == 0)
    return PHYSNN_SAMPLING_UNIFORM;
  if (strcmp (s, "lhs") == 0 || strcmp (s, "latin-hypercube") == 0)
    return PHYSNN_SAMPLING_LATIN_HYPERCUBE;
  if (strcmp (s, "adaptive") == 0 || strcmp (s, "rad") == 0)
    return PHYSNN_SAMPLING_ADAPTIVE;
  *ok = FALSE;
  return PHYSNN_SAMPLING_UNIFORM;
}

static int
fail (const gchar *what, GError *error)
{
  g_printerr ("physnn train: %s%s%s\n", what ? what : "", what ? ": " : "",
      error ? error->message : "");
  return 1;
}

int
physnn_cmd_train (int argc, char **argv)
{
  gchar *pde = NULL, *domain = NULL, *coords = NULL, *outputs = NULL,
        *layers = NULL, *activation = NULL, *ansatz = NULL, *output = NULL,
        *plot = NULL, *sampling = NULL, *refinement = NULL, *targets = NULL,
        *loss_kind = NULL, *weights = NULL, *device = NULL;
  gchar **conditions = NULL, **defines = NULL, **data = NULL;
  gint points = 2048, cpoints = 256, adam = 1000, lbfgs = 0, rounds = 1,
       resample = 1, threads = 0, batch = 0, history = 50, added = 0, pool = 0;
  gdouble lr = 1e-3, lscale = 2.0, lr_final = 0;
  gint64 seed = 0;
  gboolean quiet = FALSE, scale_inputs = FALSE;
  GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
        "Write the trained model here (ONNX; never the input model)", "FILE" },
    { "pde", 0, 0, G_OPTION_ARG_STRING, &pde,
        "PDE residual, e.g. \"u_t - 0.1*u_xx\" (default for a model: its "
        "physnn.pde metadata when --domain or physnn.domain is set and no "
        "--data is given)",
        "EXPR" },
    { "domain", 0, 0, G_OPTION_ARG_STRING, &domain,
        "Box of the coordinates, e.g. x=0:1,t=0:1", "BOX" },
    { "condition", 'c', 0, G_OPTION_ARG_STRING_ARRAY, &conditions,
        "A condition on faces of the box, e.g. \"t=0: u - sin(pi*x)\" or "
        "\"x=0|x=1: u\" (repeatable)",
        "WHERE:EXPR" },
    { "define", 'D', 0, G_OPTION_ARG_STRING_ARRAY, &defines,
        "A named constant, e.g. nu=0.00318 (repeatable)", "NAME=VALUE" },
    { "weights", 0, 0, G_OPTION_ARG_STRING, &weights,
        "Term weights: the PDE's, then each condition's (default 1)",
        "W,W,..." },
    { "coords", 0, 0, G_OPTION_ARG_STRING, &coords,
        "New network: coordinate names (default from --domain)", "x,t" },
    { "outputs", 0, 0, G_OPTION_ARG_STRING, &outputs,
        "New network: output names (default u)", "u" },
    { "layers", 0, 0, G_OPTION_ARG_STRING, &layers,
        "New network: hidden widths (default 32,32,32)", "W,W,..." },
    { "activation", 0, 0, G_OPTION_ARG_STRING, &activation,
        "New network: tanh, sin, sigmoid, softplus, swish, relu (default "
        "tanh)",
        "NAME" },
    { "ansatz", 0, 0, G_OPTION_ARG_STRING, &ansatz,
        "New network: hard constraints, u in terms of the coordinates and "
        "the network output N, e.g. \"sin(pi*x) + t*x*(1-x)*N\"",
        "EXPR" },
    { "scale-inputs", 0, 0, G_OPTION_ARG_NONE, &scale_inputs,
        "New network: map every coordinate from --domain onto [-1,1] before "
        "the first layer",
        NULL },
    { "data", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &data,
        "Fine-tune on data: a .npy file per model input (repeat in input "
        "order)",
        "FILE.npy" },
    { "targets", 0, 0, G_OPTION_ARG_FILENAME, &targets,
        "Targets (.npy) for --data: values (mse) or class indices "
        "(cross-entropy)",
        "FILE.npy" },
    { "loss", 0, 0, G_OPTION_ARG_STRING, &loss_kind,
        "Data loss: mse or cross-entropy (default mse)", "KIND" },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch,
        "Data samples per Adam step (default 0: all)", "N" },
    { "points", 'n', 0, G_OPTION_ARG_INT, &points,
        "Collocation points per Adam step (default 2048)", "N" },
    { "condition-points", 0, 0, G_OPTION_ARG_INT, &cpoints,
        "Points per condition per Adam step (default 256)", "N" },
    { "sampling", 0, 0, G_OPTION_ARG_STRING, &sampling,
        "uniform, lhs (Latin hypercube) or adaptive (residual-based) "
        "(default uniform)",
        "HOW" },
    { "resample", 0, 0, G_OPTION_ARG_INT, &resample,
        "Adam steps between fresh points (default 1; 0: never)", "N" },
    { "adam", 0, 0, G_OPTION_ARG_INT, &adam, "Adam steps (default 1000)", "N" },
    { "lr", 0, 0, G_OPTION_ARG_DOUBLE, &lr,
        "Adam learning rate (default 0.001)", "LR" },
    { "lr-final", 0, 0, G_OPTION_ARG_DOUBLE, &lr_final,
        "Adam learning rate at the last step, by exponential decay (default "
        "0: constant)",
        "LR" },
    { "lbfgs", 0, 0, G_OPTION_ARG_INT, &lbfgs,
        "L-BFGS iterations per round after Adam (default 0)", "N" },
    { "lbfgs-rounds", 0, 0, G_OPTION_ARG_INT, &rounds,
        "L-BFGS rounds (refinement adds points between them; "
        "default 1)",
        "N" },
    { "lbfgs-points-scale", 0, 0, G_OPTION_ARG_DOUBLE, &lscale,
        "Points of the fixed L-BFGS set relative to Adam's (default 2)", "S" },
    { "lbfgs-added", 0, 0, G_OPTION_ARG_INT, &added,
        "Points added by residual before each L-BFGS round (default 0: an "
        "eighth of the set with --sampling adaptive, none otherwise)",
        "N" },
    { "lbfgs-pool", 0, 0, G_OPTION_ARG_INT, &pool,
        "Refinement: uniform candidates the added points are picked from "
        "(default 0: 5 times the set)",
        "N" },
    { "refine", 0, 0, G_OPTION_ARG_STRING, &refinement,
        "Refinement: how the added points are picked: largest "
        "(residuals, default) or draw (weighted by residual squared)",
        "HOW" },
    { "lbfgs-history", 0, 0, G_OPTION_ARG_INT, &history,
        "L-BFGS history size (default 50)", "N" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &seed,
        "Seed of the initial weights and of every draw (default 0)", "N" },
    { "threads", 'j', 0, G_OPTION_ARG_INT, &threads,
        "Threads (default: one per processor; results do not depend on "
        "it)",
        "N" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device,
        "Where the loss and its gradient are computed: cpu (the reference "
        "path) or an OpenCL device (opencl, opencl:P.D; dense MLPs only, "
        "other networks stay on cpu) (default cpu)",
        "DEVICE" },
    { "plot", 0, 0, G_OPTION_ARG_FILENAME, &plot,
        "Write the loss curve as a PNG", "FILE.png" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress bar", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (
      "[MODEL] - train a "
      "physics-informed network, or fine-tune MODEL (ONNX or builtin:NAME)");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_description (ctx,
      "Examples:\n"
      "  physnn train --pde \"u_t - 0.1*u_xx\" --domain x=0:1,t=0:1 \\\n"
      "      --condition \"t=0: u - sin(pi*x)\" --condition \"x=0|x=1: u\" \\\n"
      "      --adam 3000 --lr 2e-3 --lbfgs 1000 -o heat.onnx --plot loss.png\n"
      "  physnn train builtin:heat1d-pinn --data x.npy --targets u.npy "
      "-o tuned.onnx\n\n"
      "PDEs and conditions are written in the PDE language: the outputs (u), "
      "their derivatives (u_t, u_xx, u_xt), the coordinates, constants from "
      "--define, pi, numbers, + - * / ^ and sin cos tan exp log sqrt abs "
      "tanh; \"lhs = rhs\" means lhs - rhs, ';' separates equations.\n"
      "Training stops with an error if the loss becomes NaN; the last good "
      "weights are still written.");
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return fail (NULL, error) + 1;
  if (argc > 2) {
    g_printerr (
        "physnn train: one model at most (got %d arguments)\n", argc - 1);
    return 2;
  }
  if (output == NULL) {
    g_printerr ("physnn train: give the output file with -o FILE.onnx\n");
    return 2;
  }
  if (points < 1 || cpoints < 1 || adam < 0 || lbfgs < 0 || rounds < 1 ||
      resample < 0 || batch < 0 || history < 1 || !(lr > 0) || added < 0 ||
      pool < 0 || !(lr_final >= 0)) {
    g_printerr (
        "physnn train: counts must be positive (points, "
        "condition-points, lbfgs-rounds, lbfgs-history) or non-negative, and "
        "the learning rate above 0\n");
    return 2;
  }
  gboolean sok;
  PhysnnSampling how = parse_sampling (sampling, &sok);
  if (!sok) {
    g_printerr (
        "physnn train: --sampling %s: uniform, lhs or adaptive\n", sampling);
    return 2;
  }
  PhysnnRefinement pick = PHYSNN_REFINEMENT_LARGEST;
  if (refinement && strcmp (refinement, "draw") == 0)
    pick = PHYSNN_REFINEMENT_DRAW;
  else if (refinement && strcmp (refinement, "largest") != 0) {
    g_printerr ("physnn train: --refine %s: largest or draw\n", refinement);
    return 2;
  }
  /* The tapes allocate and free large buffers every step: keep them in the
   * heap instead of mapping fresh zeroed pages each time. */
  mallopt (M_MMAP_THRESHOLD, 256 << 20);
  mallopt (M_TRIM_THRESHOLD, 512 << 20);

  g_autoptr (PhysnnModel) model = NULL;
  if (argc == 2) {
    model = physnn_cli_load_model (argv[1], &error);
    if (model == NULL)
      return fail (NULL, error);
    if (ansatz || layers || activation || coords || outputs || scale_inputs) {
      g_printerr (
          "physnn train: --layers, --activation, --ansatz, --coords, "
          "--outputs and --scale-inputs describe a new network; they do not "
          "apply to %s\n",
          argv[1]);
      return 2;
    }
  } else {
    if (pde == NULL || domain == NULL) {
      g_printerr ("physnn train: a new network needs --pde and --domain (or "
                  "give a MODEL to fine-tune)\n");
      return 2;
    }
    g_autofree gchar *cn = NULL;
    if (coords == NULL) {
      /* the names of the domain, in its order */
      g_auto (GStrv) parts = g_strsplit (domain, ",", -1);
      GString *s = g_string_new (NULL);
      for (guint i = 0; parts[i]; i++) {
        g_auto (GStrv) kv = g_strsplit (parts[i], "=", 2);
        g_string_append_printf (s, "%s%s", i ? "," : "", g_strstrip (kv[0]));
      }
      cn = g_string_free (s, FALSE);
    }
    model = physnn_model_new_mlp_full (coords ? coords : cn,
        outputs ? outputs : "u", layers ? layers : "32,32,32",
        activation ? activation : "tanh", ansatz, scale_inputs ? domain : NULL,
        (guint64)seed, &error);
    if (model == NULL)
      return fail ("the network", error);
  }

  g_autoptr (PhysnnTrainer) tr = physnn_trainer_new (model, &error);
  if (tr == NULL)
    return fail (NULL, error);
  g_object_set (tr, "seed", (guint64)seed, "sampling", how, "resample-every",
      (guint)resample, "adam-iterations", (guint)adam, "learning-rate", lr,
      "lbfgs-iterations", (guint)lbfgs, "lbfgs-rounds", (guint)rounds,
      "lbfgs-points-scale", lscale, "lbfgs-history", (guint)history,
      "progress-interval", 1u, "learning-rate-final", lr_final, "refine-points",
      (guint)added, "refine-pool", (guint)pool, "refinement", pick, NULL);
  if (threads > 0)
    physnn_loss_set_threads (physnn_trainer_get_loss (tr), (guint)threads);
  g_autoptr (PhysnnDevice) dev = NULL;
  if (device) {
    dev = physnn_device_new (device, &error);
    if (dev == NULL)
      return fail (NULL, error);
    physnn_loss_set_device (physnn_trainer_get_loss (tr), dev);
  }
  if (domain && !physnn_trainer_set_domain (tr, domain, &error))
    return fail (NULL, error);
  for (guint i = 0; defines && defines[i]; i++) {
    g_auto (GStrv) kv = g_strsplit (defines[i], "=", 2);
    gchar *end = NULL;
    gdouble v = kv[0] && kv[1] ? g_ascii_strtod (kv[1], &end) : NAN;
    if (!kv[1] || end == kv[1] || *end) {
      g_printerr (
          "physnn train: --define %s: expected NAME=NUMBER\n", defines[i]);
      return 2;
    }
    if (!physnn_trainer_define (tr, g_strstrip (kv[0]), v, &error))
      return fail (NULL, error);
  }

  g_auto (GStrv) wl = weights ? g_strsplit (weights, ",", -1) : NULL;
  guint wi = 0;
  gdouble w;
#define NEXT_WEIGHT() (w = wl && wl[wi] ? g_ascii_strtod (wl[wi++], NULL) : 1.0)

  /* data */
  if (data) {
    if (targets == NULL) {
      g_printerr ("physnn train: --data needs --targets\n");
      return 2;
    }
    guint nd = g_strv_length (data);
    g_autoptr (GPtrArray) in = g_ptr_array_new_with_free_func (g_object_unref);
    for (guint i = 0; i < nd; i++) {
      PhysnnTensor *t = physnn_npy_load (data[i], &error);
      if (t == NULL)
        return fail (NULL, error);
      g_ptr_array_add (in, t);
    }
    g_autoptr (PhysnnTensor) tg = physnn_npy_load (targets, &error);
    if (tg == NULL)
      return fail (NULL, error);
    PhysnnDataLoss kind = PHYSNN_DATA_LOSS_MSE;
    if (loss_kind && strcmp (loss_kind, "cross-entropy") == 0)
      kind = PHYSNN_DATA_LOSS_CROSS_ENTROPY;
    else if (loss_kind && strcmp (loss_kind, "mse") != 0) {
      g_printerr ("physnn train: --loss %s: mse or cross-entropy\n", loss_kind);
      return 2;
    }
    if (physnn_trainer_add_data (tr, (PhysnnTensor **)in->pdata, in->len, 0, tg,
            kind, (guint)batch, 1.0, &error) < 0)
      return fail (NULL, error);
  }
  /* physics */
  const gchar *the_pde = pde;
  if (the_pde == NULL && data == NULL && argc == 2)
    the_pde = physnn_model_get_metadata (model, "physnn.pde");
  if (the_pde && physnn_trainer_add_pde (
                     tr, the_pde, (guint)points, NEXT_WEIGHT (), &error) < 0)
    return fail (NULL, error);
  for (guint i = 0; conditions && conditions[i]; i++) {
    gchar *colon = strchr (conditions[i], ':');
    if (colon == NULL) {
      g_printerr ("physnn train: --condition \"%s\": expected WHERE: "
                  "EXPRESSION, e.g. \"t=0: u - sin(pi*x)\"\n",
          conditions[i]);
      return 2;
    }
    *colon = '\0';
    if (physnn_trainer_add_condition (tr, g_strstrip (conditions[i]), colon + 1,
            (guint)cpoints, NEXT_WEIGHT (), &error) < 0)
      return fail (NULL, error);
  }
  if (physnn_loss_get_n_terms (physnn_trainer_get_loss (tr)) == 0) {
    g_printerr ("physnn train: nothing to train on: give --pde, --condition "
                "or --data\n");
    return 2;
  }

  PhysnnLoss *loss = physnn_trainer_get_loss (tr);
  if (!quiet) {
    g_printerr ("training %" G_GSIZE_FORMAT " parameters of %s on:\n",
        physnn_loss_get_n_parameters (loss), physnn_model_get_path (model));
    for (guint i = 0; i < physnn_loss_get_n_terms (loss); i++) {
      g_autofree gchar *dv = physnn_loss_get_term_derivatives (loss, i);
      g_printerr ("  %s%s%s%s\n", physnn_loss_get_term_name (loss, i),
          *dv ? " (derivatives " : "", dv, *dv ? ")" : "");
    }
  }
  CliProgress prog;
  cli_progress_init (&prog, quiet);
  g_signal_connect (tr, "progress", G_CALLBACK (on_progress), &prog);
  g_autoptr (GError) terr = NULL;
  struct rusage ru0, ru1;
  getrusage (RUSAGE_SELF, &ru0);
  gboolean ok = physnn_trainer_train (tr, NULL, &terr);
  getrusage (RUSAGE_SELF, &ru1);
  cli_progress_finish (&prog);

  /* Whatever happened, the kept weights are good ones: write them. */
  g_autoptr (GError) serr = NULL;
  gboolean wrote = physnn_trainer_get_iterations (tr) > 0 &&
                   physnn_trainer_save (tr, output, &serr);
  if (plot && physnn_trainer_get_iterations (tr) > 0 &&
      !physnn_trainer_write_loss_plot (tr, plot, &error))
    g_printerr ("physnn train: %s\n", error->message);
  g_clear_error (&error);

  g_print ("iterations: %u (%s)\n", physnn_trainer_get_iterations (tr),
      physnn_trainer_get_stop_reason (tr) ? physnn_trainer_get_stop_reason (tr)
                                          : "-");
  g_print ("loss: %.6e\n", physnn_trainer_get_final_loss (tr));
  for (guint i = 0; i < physnn_loss_get_n_terms (loss); i++)
    g_print ("  %s: %.6e\n", physnn_loss_get_term_name (loss, i),
        physnn_loss_get_term_value (loss, i));
  /* CPU seconds of all threads: the fair figure on a shared machine */
  gdouble cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
  g_print (
      "time: %.2f s wall, %.2f s CPU\n", physnn_trainer_get_elapsed (tr), cpu);
  if (dev) {
    guint on = 0;
    for (guint i = 0; i < physnn_loss_get_n_terms (loss); i++)
      on += physnn_loss_get_term_device (loss, i) != NULL;
    g_print ("device: %u of %u terms on %s\n", on,
        physnn_loss_get_n_terms (loss), physnn_device_get_spec (dev));
  }
  if (wrote)
    g_print ("wrote %s%s%s\n", output, plot ? " and " : "", plot ? plot : "");
  if (serr)
    g_printerr ("physnn train: %s\n", serr->message);
  else if (!wrote)
    g_printerr (
        "physnn train: no iteration completed; %s not written\n", output);
  if (!ok) {
    g_printerr ("physnn train: %s\n", terr->message);
    return 1;
  }
  return wrote ? 0 : 1;
}
