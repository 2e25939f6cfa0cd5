/* physnn — `physnn quantize`: per-layer mixed precision for an ONNX model.
 *
 *   physnn quantize MODEL --data x.npy --labels y.npy --target-bits 6.5 \
 *       -o plan.json --onnx model-q.onnx --front front.json --plot front.png
 *   physnn quantize builtin:heat1d_pinn --pde model --target-bits 6.5 ...
 *   physnn quantize MODEL --data x.npy --uniform int8 --activations percentile
 *   physnn quantize builtin:heat1d_pinn --layer-precisions int8,int4,int4,int8
 *
 * The objective: classification (--data and --labels: cross-entropy,
 * accuracy), regression (--data and --targets, or --data alone: the float
 * model's own outputs), or physics (--pde STRING, or "model" for the
 * model's physnn.pde; the default when the model carries a PDE and no data
 * is given). Every plan is evaluated by running the quantized model.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "commands.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"

static void
on_progress (PhysnnQuantSearch *s, const gchar *stage, guint done, guint total,
    gdouble best, gpointer user)
{
  gchar detail[48];
  g_snprintf (detail, sizeof detail, "best loss %.4g", best);
  cli_progress_update (user, stage, done, total, detail);
}

/* Fine-tuning progress over several plans: one bar for all of them. */
typedef struct {
  CliProgress *bar;
  guint plan, n_plans, last;
} TuneProgress;

static void
on_tune_progress (PhysnnQuantObjective *o, const gchar *stage, guint done,
    guint total, gdouble loss, gpointer user)
{
  TuneProgress *t = user;
  guint at = t->plan * total + done;
  gchar detail[64];
  if (at == t->last && at > 0)
    return; /* the closing report repeats the last iteration's */
  t->last = at;
  g_snprintf (detail, sizeof detail, "plan %u/%u, loss %.4g", t->plan + 1,
      t->n_plans, loss);
  cli_progress_update (t->bar, stage, at, t->n_plans * total, detail);
}

/* How many of the candidate plans (ranked by their bias-corrected loss)
 * --fine-tune fits: fine-tuning costs tens of times a bias correction. */
#define FINE_TUNE_CANDIDATES 4

static gint
by_loss (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *)g_object_get_data (
              G_OBJECT (*(PhysnnQuantPlan *const *)a), "loss"),
          y = *(const gdouble *)g_object_get_data (
              G_OBJECT (*(PhysnnQuantPlan *const *)b), "loss");
  return (x > y) - (x < y);
}

static int
fail (const gchar *what, GError *error)
{
  g_printerr ("physnn quantize: %s%s%s\n", what ? what : "", what ? ": " : "",
      error ? error->message : "");
  return 1;
}

static void
report (const gchar *label, PhysnnQuantObjective *obj, PhysnnQuantPlan *plan)
{
  gdouble loss, acc;
  g_autoptr (GError) error = NULL;
  guint64 f, b;
  gdouble ratio;
  if (!physnn_quant_objective_evaluate (obj, plan, &loss, &acc, &error)) {
    g_print ("%-22s evaluation failed: %s\n", label, error->message);
    return;
  }
  gdouble ref = physnn_quant_objective_get_reference_loss (obj);
  gdouble racc = physnn_quant_objective_get_reference_accuracy (obj);
  physnn_quant_plan_estimate_compression (plan, &f, &b, &ratio, NULL);
  g_print ("%-22s %5.2f bits  %8" G_GUINT64_FORMAT " bytes (%5.2fx)  loss "
           "%.4g (%+.1f %%)",
      label, physnn_quant_plan_get_average_bits (plan), b, ratio, loss,
      100 * (loss - ref) / fabs (ref));
  if (isfinite (acc))
    g_print (
        "  accuracy %.2f %% (%+.2f points)", 100 * acc, 100 * (acc - racc));
  g_print ("\n");
}

int
physnn_cmd_quantize (int argc, char **argv)
{
  g_auto (GStrv) data = NULL;
  g_autofree gchar *labels = NULL, *targets = NULL, *pde = NULL,
                   *defines = NULL, *precisions = NULL, *pin = NULL,
                   *wcal = NULL, *acal = NULL, *uniform = NULL,
                   *hardware = NULL, *cost = NULL, *out = NULL, *onnx = NULL,
                   *front = NULL, *plot = NULL, *points_file = NULL,
                   *method = NULL, *layer_precisions = NULL;
  gdouble target_bits = 0, max_increase = -1, percentile = 99.99,
          act_percentile = 99.99, validate = -1;
  gint64 max_bytes = 0, seed = 1;
  gint population = 24, generations = 20, hutchinson = 16, correct = 0,
       fine_tune = 0;
  gboolean per_tensor = FALSE, asymmetric = FALSE, greedy = FALSE,
           quiet = FALSE, sensitivity = FALSE;
  GOptionEntry entries[] = {
    { "data", 'd', 0, G_OPTION_ARG_FILENAME_ARRAY, &data,
        "Samples (.npy, one per model input; also the calibration data)",
        "FILE" },
    { "labels", 0, 0, G_OPTION_ARG_FILENAME, &labels,
        "Class labels (.npy): a classification objective", "FILE" },
    { "targets", 0, 0, G_OPTION_ARG_FILENAME, &targets,
        "Wanted outputs (.npy): a regression objective (default: the float "
        "model's outputs)",
        "FILE" },
    { "pde", 0, 0, G_OPTION_ARG_STRING, &pde,
        "Physics objective: the residual, e.g. \"u_t - 0.1*u_xx\", or "
        "\"model\" for the model's own",
        "STRING" },
    { "define", 0, 0, G_OPTION_ARG_STRING, &defines,
        "Constants of the PDE, e.g. nu=0.01,alpha=0.1", "LIST" },
    { "points", 0, 0, G_OPTION_ARG_FILENAME, &points_file,
        "Collocation points (.npy, [N, coordinates]; default: a Latin "
        "hypercube over the model's domain)",
        "FILE" },
    { "target-bits", 'b', 0, G_OPTION_ARG_DOUBLE, &target_bits,
        "Largest average bits per weight (4 to 32)", "BITS" },
    { "max-bytes", 0, 0, G_OPTION_ARG_INT64, &max_bytes,
        "Largest model size in bytes", "N" },
    { "max-loss-increase", 0, 0, G_OPTION_ARG_DOUBLE, &max_increase,
        "Largest relative loss increase (0.1 = +10 %)", "F" },
    { "precisions", 0, 0, G_OPTION_ARG_STRING, &precisions,
        "Precisions layers may take (default fp32,fp16,int8,int4)", "LIST" },
    { "pin", 0, 0, G_OPTION_ARG_STRING, &pin,
        "Hold layers at fp32 by name pattern, e.g. \"*koopman*,*head*\"",
        "PATTERNS" },
    { "per-tensor", 0, 0, G_OPTION_ARG_NONE, &per_tensor,
        "One weight scale per tensor (default: per output channel)", NULL },
    { "asymmetric", 0, 0, G_OPTION_ARG_NONE, &asymmetric,
        "Unsigned weights with zero points (default: symmetric)", NULL },
    { "weight-calibration", 0, 0, G_OPTION_ARG_STRING, &wcal,
        "Weight ranges: minmax, percentile, mse (default), kl", "METHOD" },
    { "percentile", 0, 0, G_OPTION_ARG_DOUBLE, &percentile,
        "Percentile for weight calibration (default 99.99)", "P" },
    { "activations", 0, 0, G_OPTION_ARG_STRING, &acal,
        "Quantize layer inputs to int8, ranges from --data by minmax, "
        "percentile, mse or kl",
        "METHOD" },
    { "activation-percentile", 0, 0, G_OPTION_ARG_DOUBLE, &act_percentile,
        "Percentile for --activations percentile (default 99.99)", "P" },
    { "uniform", 'u', 0, G_OPTION_ARG_STRING, &uniform,
        "No search: every layer at this precision", "PRECISION" },
    { "layer-precisions", 0, 0, G_OPTION_ARG_STRING, &layer_precisions,
        "No search: one precision per layer, in the model's layer order, "
        "e.g. int8,int4,int4,int8",
        "LIST" },
    { "method", 'm', 0, G_OPTION_ARG_STRING, &method,
        "Search: nsga2 (default) or greedy (the sensitivity-greedy "
        "baseline)",
        "NAME" },
    { "greedy", 0, 0, G_OPTION_ARG_NONE, &greedy,
        "Also run the sensitivity-greedy baseline (in the front JSON/plot)",
        NULL },
    { "sensitivity", 's', 0, G_OPTION_ARG_NONE, &sensitivity,
        "Print per-layer sensitivities and their Spearman correlations", NULL },
    { "hardware", 0, 0, G_OPTION_ARG_STRING, &hardware,
        "Hardware profile: generic (default), polaris, h100", "NAME" },
    { "cost", 0, 0, G_OPTION_ARG_STRING, &cost,
        "Second objective: bytes (default) or bitops", "NAME" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Random seed (default 1)", "N" },
    { "population", 0, 0, G_OPTION_ARG_INT, &population,
        "Plans per generation (default 24)", "N" },
    { "generations", 0, 0, G_OPTION_ARG_INT, &generations,
        "Generations (default 20)", "N" },
    { "hutchinson", 0, 0, G_OPTION_ARG_INT, &hutchinson,
        "Hutchinson probes for HAWQ traces (default 16)", "N" },
    { "correct-biases", 0, 0, G_OPTION_ARG_INT, &correct,
        "Physics-aware bias correction: refit the float biases of each "
        "plan on the Pareto front (or the uniform plan) to the objective "
        "with this many L-BFGS iterations, then choose (0: off)",
        "N" },
    { "fine-tune", 0, 0, G_OPTION_ARG_INT, &fine_tune,
        "Quantization-aware fine-tuning: quantize layer by layer and refit "
        "the free weights, biases and scales to the objective, this many "
        "L-BFGS iterations per layer; with a search, the candidates of "
        "--correct-biases (bias-corrected with N iterations if it is not "
        "given) are ranked and the best four fine-tuned (0: off)",
        "N" },
    { "validate-physics", 0, 0, G_OPTION_ARG_DOUBLE, &validate,
        "Fail (exit 3) unless the chosen plan's physics loss rises by at "
        "most this fraction",
        "F" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Write the plan (JSON)",
        "FILE" },
    { "onnx", 0, 0, G_OPTION_ARG_FILENAME, &onnx,
        "Write the quantized model in QDQ form (ONNX)", "FILE" },
    { "front", 0, 0, G_OPTION_ARG_FILENAME, &front,
        "Write the search (sensitivities, Pareto front, greedy path) as JSON",
        "FILE" },
    { "plot", 0, 0, G_OPTION_ARG_FILENAME, &plot, "Plot the front (PNG)",
        "FILE" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress bar", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("MODEL - choose "
                            "per-layer precisions (fp32, fp16, int8, int4)");
  g_autoptr (GError) error = NULL;
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2) {
    g_printerr ("physnn quantize: %s\n",
        error ? error->message
              : "give one model (a file or builtin:NAME); see --help");
    return 2;
  }
  if (population < 1 || generations < 0 || hutchinson < 0 || correct < 0 ||
      fine_tune < 0) {
    g_printerr ("physnn quantize: --population must be positive and "
                "--generations, --hutchinson, --correct-biases and "
                "--fine-tune non-negative\n");
    return 2;
  }
  g_autoptr (PhysnnModel) model = physnn_cli_load_model (argv[1], &error);
  if (model == NULL)
    return fail (NULL, error);

  /* the plan's settings */
  g_autoptr (PhysnnQuantPlan) base = physnn_quant_plan_new (model, &error);
  if (base == NULL)
    return fail (NULL, error);
  physnn_quant_plan_set_per_channel (base, !per_tensor);
  physnn_quant_plan_set_symmetric (base, !asymmetric);
  if (wcal) {
    PhysnnCalibration m;
    if (!physnn_calibration_from_string (wcal, &m)) {
      g_printerr ("physnn quantize: --weight-calibration \"%s\" is not one "
                  "of minmax, percentile, mse, kl\n",
          wcal);
      return 2;
    }
    if (!physnn_quant_plan_set_weight_calibration (base, m, percentile, &error))
      return fail ("--weight-calibration", error);
  }
  if (pin && physnn_quant_plan_pin (base, pin, &error) == 0)
    return fail ("--pin", error);

  /* data */
  guint n_data = data ? g_strv_length (data) : 0;
  g_autoptr (GPtrArray) inputs =
      g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < n_data; i++) {
    PhysnnTensor *t = physnn_npy_load (data[i], &error);
    if (t == NULL)
      return fail (data[i], error);
    g_ptr_array_add (inputs, t);
  }
  if (acal) {
    PhysnnCalibration m;
    if (!physnn_calibration_from_string (acal, &m)) {
      g_printerr ("physnn quantize: --activations \"%s\" is not one of "
                  "minmax, percentile, mse, kl\n",
          acal);
      return 2;
    }
    if (n_data == 0) {
      g_printerr ("physnn quantize: --activations needs calibration data "
                  "(--data)\n");
      return 2;
    }
    g_autoptr (PhysnnQuantCalibrator) cal =
        physnn_quant_calibrator_new (model, &error);
    if (cal == NULL ||
        !physnn_quant_calibrator_add_batch (
            cal, (PhysnnTensor **)inputs->pdata, inputs->len, &error) ||
        !physnn_quant_calibrator_apply (cal, base, m, act_percentile, &error))
      return fail ("calibration data", error);
  }

  /* the objective */
  g_autoptr (PhysnnQuantObjective) obj = NULL;
  if (pde == NULL && n_data == 0 &&
      physnn_model_get_metadata (model, "physnn.pde"))
    pde = g_strdup ("model");
  if (pde) {
    g_autoptr (PhysnnTensor) pts = NULL;
    if (points_file && (pts = physnn_npy_load (points_file, &error)) == NULL)
      return fail (points_file, error);
    obj = physnn_quant_objective_new_physics (
        model, strcmp (pde, "model") ? pde : NULL, defines, pts, &error);
  } else if (n_data > 0 && labels) {
    g_autoptr (PhysnnTensor) l = physnn_npy_load (labels, &error);
    if (l == NULL)
      return fail (labels, error);
    obj = physnn_quant_objective_new_classification (
        model, (PhysnnTensor **)inputs->pdata, inputs->len, l, &error);
  } else if (n_data > 0) {
    g_autoptr (PhysnnTensor) t = NULL;
    if (targets)
      t = physnn_npy_load (targets, &error);
    else {
      g_autoptr (PhysnnDevice) cpu = physnn_device_new ("cpu", &error);
      g_autoptr (GPtrArray) r =
          cpu ? physnn_model_run (model, cpu, (PhysnnTensor **)inputs->pdata,
                    inputs->len, &error)
              : NULL;
      if (r)
        t = g_object_ref (g_ptr_array_index (r, 0));
    }
    if (t == NULL)
      return fail (targets ? targets : "running the float model", error);
    obj = physnn_quant_objective_new_regression (
        model, (PhysnnTensor **)inputs->pdata, inputs->len, t, &error);
  } else {
    g_printerr ("physnn quantize: give --data FILE.npy (with --labels or "
                "--targets) or --pde STRING: plans are judged by running the "
                "quantized model on them\n");
    return 2;
  }
  if (obj == NULL)
    return fail ("objective", error);

  g_autoptr (PhysnnQuantPlan) chosen = NULL;
  g_autoptr (PhysnnQuantSearch) search = NULL;
  if (uniform && layer_precisions) {
    g_printerr ("physnn quantize: give --uniform or --layer-precisions, "
                "not both\n");
    return 2;
  }
  if (layer_precisions) {
    /* a plan fixed by hand (e.g. to fill a byte budget the search's
     * pre-fine-tuning ranking does not favour); same path as --uniform */
    g_auto (GStrv) names = g_strsplit (layer_precisions, ",", -1);
    guint n = physnn_quant_plan_get_n_layers (base);
    if (g_strv_length (names) != n) {
      g_autoptr (GString) layers = g_string_new (NULL);
      for (guint i = 0; i < n; i++)
        g_string_append_printf (layers, "%s%s", i ? ", " : "",
            physnn_quant_plan_get_layer_name (base, i));
      g_printerr ("physnn quantize: --layer-precisions gives %u "
                  "precisions; the model has %u layers (%s)\n",
          g_strv_length (names), n, layers->str);
      return 2;
    }
    chosen = physnn_quant_plan_copy (base);
    for (guint i = 0; i < n; i++) {
      PhysnnPrecision p;
      g_strstrip (names[i]);
      if (!physnn_precision_from_string (names[i], &p)) {
        g_printerr ("physnn quantize: --layer-precisions: \"%s\" (layer "
                    "%u) is not one of fp32, fp16, int8, int4\n",
            names[i], i + 1);
        return 2;
      }
      if (!physnn_quant_plan_set_precision (chosen, i, p, &error))
        return fail ("--layer-precisions", error);
    }
    if (target_bits > 0 &&
        physnn_quant_plan_get_average_bits (chosen) > target_bits + 1e-9) {
      g_printerr ("physnn quantize: --layer-precisions gives %.3f average "
                  "bits, above --target-bits %g\n",
          physnn_quant_plan_get_average_bits (chosen), target_bits);
      return 1;
    }
    guint64 f, b;
    physnn_quant_plan_estimate_compression (chosen, &f, &b, NULL, NULL);
    if (max_bytes > 0 && b > (guint64)max_bytes) {
      g_printerr ("physnn quantize: --layer-precisions gives %" G_GUINT64_FORMAT
                  " bytes, above --max-bytes %" G_GINT64_FORMAT "\n",
          b, max_bytes);
      return 1;
    }
  } else if (uniform) {
    PhysnnPrecision p;
    if (!physnn_precision_from_string (uniform, &p)) {
      g_printerr ("physnn quantize: --uniform \"%s\" is not one of fp32, "
                  "fp16, int8, int4\n",
          uniform);
      return 2;
    }
    chosen = physnn_quant_plan_copy (base);
    if (!physnn_quant_plan_set_all (chosen, p, &error))
      return fail (NULL, error);
    if (target_bits > 0 &&
        physnn_quant_plan_get_average_bits (chosen) > target_bits + 1e-9) {
      g_printerr ("physnn quantize: uniform %s gives %.3f average bits, "
                  "above --target-bits %g\n",
          uniform, physnn_quant_plan_get_average_bits (chosen), target_bits);
      return 1;
    }
  } else {
    CliProgress prog;
    cli_progress_init (&prog, quiet);
    search = physnn_quant_search_new (base, obj, &error);
    if (search == NULL)
      return fail (NULL, error);
    g_signal_connect (search, "progress", G_CALLBACK (on_progress), &prog);
    physnn_quant_search_set_seed (search, (guint64)seed);
    physnn_quant_search_set_population (
        search, MAX (population, 0), MAX (generations, 0));
    physnn_quant_search_set_hutchinson_samples (search, MAX (hutchinson, 0));
    physnn_quant_search_set_max_bytes (search, (guint64)MAX (max_bytes, 0));
    physnn_quant_search_set_max_loss_increase (search, max_increase);
    if (!physnn_quant_search_set_target_bits (search, target_bits, &error))
      return fail ("--target-bits", error);
    if (hardware &&
        !physnn_quant_search_set_hardware (search, hardware, &error))
      return fail ("--hardware", error);
    if (cost) {
      if (strcmp (cost, "bytes") != 0 && strcmp (cost, "bitops") != 0) {
        g_printerr ("physnn quantize: --cost \"%s\" is not bytes or "
                    "bitops\n",
            cost);
        return 2;
      }
      if (!physnn_quant_search_set_cost (search,
              strcmp (cost, "bytes") ? PHYSNN_QUANT_COST_BITOPS
                                     : PHYSNN_QUANT_COST_BYTES,
              &error))
        return fail ("--cost", error);
    }
    if (precisions &&
        !physnn_quant_search_set_precisions (search, precisions, &error))
      return fail ("--precisions", error);
    gboolean use_greedy = method && strcmp (method, "greedy") == 0;
    if (method && !use_greedy && strcmp (method, "nsga2") != 0) {
      g_printerr ("physnn quantize: --method \"%s\" is not nsga2 or "
                  "greedy\n",
          method);
      return 2;
    }
    if ((sensitivity || greedy || use_greedy) &&
        !physnn_quant_search_sensitivity (search, &error))
      return fail ("sensitivity", error);
    if (!use_greedy && !physnn_quant_search_run (search, &error))
      return fail ("search", error);
    if ((greedy || use_greedy) &&
        !physnn_quant_search_run_greedy (search, &error))
      return fail ("greedy baseline", error);
    chosen = physnn_quant_search_get_best (search, &error);
    if (chosen == NULL)
      return fail (NULL, error);
    if (correct > 0 || fine_tune > 0) {
      /* bias correction changes the ranking: refit the front and the
       * feasible plans with the most bits, then take the best; it also
       * ranks the candidates for fine-tuning */
      guint its = correct > 0 ? (guint)correct : (guint)fine_tune;
      g_autoptr (GPtrArray) cand =
          physnn_quant_search_get_feasible_plans (search, 12);
      g_ptr_array_set_free_func (cand, g_object_unref);
      for (guint i = 0; i < physnn_quant_search_get_front_size (search); i++)
        g_ptr_array_add (cand, physnn_quant_search_get_front_plan (search, i));
      for (guint i = 0; i < cand->len; i++) {
        PhysnnQuantPlan *fp = g_ptr_array_index (cand, i);
        gdouble *l = g_new (gdouble, 1);
        g_object_set_data_full (G_OBJECT (fp), "loss", l, g_free);
        if (!physnn_quant_objective_correct_biases (obj, fp, its, l, &error))
          return fail ("bias correction", error);
      }
      /* a stable sort: equal losses keep the search's order */
      g_ptr_array_sort (cand, by_loss);
      if (cand->len > 0) {
        g_object_unref (chosen);
        chosen = g_object_ref (g_ptr_array_index (cand, 0));
      }
      g_print ("bias correction: %u feasible plans refitted\n", cand->len);
      if (fine_tune > 0) {
        CliProgress bar;
        cli_progress_init (&bar, quiet);
        TuneProgress tp = { &bar, 0, MIN (cand->len, FINE_TUNE_CANDIDATES), 0 };
        gulong h = g_signal_connect (
            obj, "progress", G_CALLBACK (on_tune_progress), &tp);
        gdouble best = INFINITY;
        for (; tp.plan < tp.n_plans; tp.plan++) {
          PhysnnQuantPlan *fp = g_ptr_array_index (cand, tp.plan);
          gdouble l;
          if (!physnn_quant_objective_fine_tune (
                  obj, fp, (guint)fine_tune, &l, &error))
            return fail ("fine-tuning", error);
          if (l < best) {
            best = l;
            g_object_unref (chosen);
            chosen = g_object_ref (fp);
          }
        }
        g_signal_handler_disconnect (obj, h);
        cli_progress_finish (&bar);
        g_print ("fine-tuning: the %u best bias-corrected plans fine-tuned\n",
            tp.n_plans);
      }
    }
    if (sensitivity) {
      static const gchar *kn[] = { "measured", "gradient", "hessian", "hawq" };
      g_print ("sensitivity (scores 0-1; raw loss changes in the front "
               "JSON):\n  %-28s",
          "layer");
      for (guint k = 0; k < 4; k++)
        g_print (" %10s", kn[k]);
      g_print ("   (int8)\n");
      for (guint l = 0; l < physnn_quant_plan_get_n_layers (base); l++) {
        g_print ("  %-28s", physnn_quant_plan_get_layer_name (base, l));
        for (guint k = 0; k < 4; k++)
          g_print (" %10.3f", physnn_quant_search_get_sensitivity (
                                  search, k, l, PHYSNN_PRECISION_INT8));
        g_print ("\n");
      }
      for (guint k = 1; k < 4; k++)
        g_print ("Spearman %s vs measured: fp16 %.2f, int8 %.2f, int4 %.2f\n",
            kn[k],
            physnn_quant_search_get_spearman (search, k, PHYSNN_PRECISION_FP16),
            physnn_quant_search_get_spearman (search, k, PHYSNN_PRECISION_INT8),
            physnn_quant_search_get_spearman (
                search, k, PHYSNN_PRECISION_INT4));
    }
    g_print ("%" G_GUINT64_FORMAT " plans evaluated; Pareto front of %u\n",
        physnn_quant_search_get_n_evaluations (search),
        physnn_quant_search_get_front_size (search));
  }

  if ((uniform || layer_precisions) && correct > 0 &&
      !physnn_quant_objective_correct_biases (
          obj, chosen, correct, NULL, &error))
    return fail ("bias correction", error);
  if ((uniform || layer_precisions) && fine_tune > 0) {
    /* kept only if it beats the plan as it stands (bias-corrected or not) */
    CliProgress bar;
    cli_progress_init (&bar, quiet);
    TuneProgress tp = { &bar, 0, 1, 0 };
    gulong h =
        g_signal_connect (obj, "progress", G_CALLBACK (on_tune_progress), &tp);
    gboolean ok = physnn_quant_objective_fine_tune (
        obj, chosen, (guint)fine_tune, NULL, &error);
    g_signal_handler_disconnect (obj, h);
    cli_progress_finish (&bar);
    if (!ok)
      return fail ("fine-tuning", error);
  }
  g_autofree gchar *desc = physnn_quant_plan_describe (chosen);
  g_print ("%s\n", desc);
  g_print ("%-22s %5.2f bits  %8s                  loss %.4g", "float32", 32.0,
      "", physnn_quant_objective_get_reference_loss (obj));
  if (isfinite (physnn_quant_objective_get_reference_accuracy (obj)))
    g_print ("  accuracy %.2f %%",
        100 * physnn_quant_objective_get_reference_accuracy (obj));
  g_print ("\n");
  report ("chosen", obj, chosen);

  if (out && !physnn_quant_plan_save (chosen, out, &error))
    return fail (out, error);
  if (onnx && !physnn_quant_plan_export_onnx (chosen, onnx, &error))
    return fail (onnx, error);
  if (search && (front || plot) &&
      !physnn_quant_search_save (search, front, plot, &error))
    return fail (front ? front : plot, error);
  if (validate >= 0) {
    gdouble l;
    if (!physnn_quant_objective_validate_physics (
            obj, chosen, 0, validate, &l, &error)) {
      g_printerr ("physnn quantize: validate_physics: %s\n", error->message);
      return 3;
    }
    g_print ("validate_physics: passed (loss %.4g, at most %+.1f %% "
             "allowed)\n",
        l, 100 * validate);
  }
  return 0;
}
