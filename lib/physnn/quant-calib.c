/* physnn — calibration: value histograms of the inputs of every quantizable
 * layer, collected from data (a file or a live stream), and the ranges the
 * calibration methods choose from them.
 *
 * A histogram covers [-R, R] with a fixed number of bins; when a value falls
 * outside, R doubles and neighbouring bins merge, so memory stays constant
 * however long the stream. The exact minimum and maximum are kept beside it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/quant-private.h"
#include "physnn/error.h"
#include "physnn/model-private.h"
#include "physnn/tensor-private.h"

#include <math.h>
#include <string.h>

#define VAL(g, i) ((PhysnnValue *) g_ptr_array_index ((g)->values, (i)))
#define HBINS 4096              /* even, and a multiple of 4 */
#define RANGE_STEPS 128

struct _PhysnnHistogram {
  gdouble R;
  gdouble counts[HBINS];
  guint64 n;
  gdouble min, max;
};

PhysnnHistogram *
_physnn_histogram_new (void)
{
  PhysnnHistogram *h = g_new0 (PhysnnHistogram, 1);
  h->min = G_MAXDOUBLE;
  h->max = -G_MAXDOUBLE;
  return h;
}

void
_physnn_histogram_free (PhysnnHistogram *h)
{
  g_free (h);
}

guint64
_physnn_histogram_count (PhysnnHistogram *h)
{
  return h->n;
}

/* Doubles the covered range: the old range is the middle half of the new
 * one, so old bins 2k and 2k+1 of that half merge into one new bin. */
static void
grow (PhysnnHistogram *h)
{
  gdouble c[HBINS] = { 0 };
  for (guint i = 0; i < HBINS; i++)
    c[(i + HBINS / 2) / 2] += h->counts[i];
  memcpy (h->counts, c, sizeof c);
  h->R *= 2;
}

void
_physnn_histogram_add (PhysnnHistogram *h, const gdouble *x, gsize n,
    gsize stride)
{
  gdouble big = 0;
  for (gsize i = 0; i < n; i++) {
    gdouble v = x[i * stride];
    if (isfinite (v))
      big = MAX (big, fabs (v));
  }
  if (h->R == 0)
    h->R = big > 0 ? big : 1e-30;
  while (big > h->R)
    grow (h);
  for (gsize i = 0; i < n; i++) {
    gdouble v = x[i * stride];
    if (!isfinite (v))
      continue;
    h->min = MIN (h->min, v);
    h->max = MAX (h->max, v);
    gint b = (gint) floor ((v + h->R) / (2 * h->R) * HBINS);
    h->counts[CLAMP (b, 0, HBINS - 1)] += 1;
    h->n++;
  }
}

static gdouble
center (PhysnnHistogram *h, guint b)
{
  return -h->R + (b + 0.5) * 2 * h->R / HBINS;
}

/* The value below which a fraction `q` of the samples lie. */
static gdouble
quantile (PhysnnHistogram *h, gdouble q)
{
  gdouble want = q * h->n, acc = 0;
  for (guint b = 0; b < HBINS; b++) {
    acc += h->counts[b];
    if (acc >= want)
      return -h->R + (b + 1) * 2 * h->R / HBINS;
  }
  return h->max;
}

/* |x| below which a fraction `q` lies. */
static gdouble
abs_quantile (PhysnnHistogram *h, gdouble q)
{
  gdouble want = q * h->n, acc = 0;
  for (guint k = 0; k < HBINS / 2; k++) {
    acc += h->counts[HBINS / 2 + k] + h->counts[HBINS / 2 - 1 - k];
    if (acc >= want)
      return (k + 1) * 2 * h->R / HBINS;
  }
  return MAX (fabs (h->min), fabs (h->max));
}

/* Expected squared error of quantizing the histogram over [lo, hi]. */
static gdouble
hist_error (PhysnnHistogram *h, gdouble lo, gdouble hi, guint bits,
    gboolean sym)
{
  gfloat s;
  gint32 z, qmin, qmax;
  gdouble e = 0;
  _physnn_quant_params (lo, hi, bits, sym, &s, &z, &qmin, &qmax);
  for (guint b = 0; b < HBINS; b++) {
    if (h->counts[b] == 0)
      continue;
    gdouble c = center (h, b);
    gdouble q = CLAMP (nearbyint (c / s) + z, qmin, qmax);
    gdouble d = (q - z) * s - c;
    e += h->counts[b] * d * d;
  }
  return e;
}

/* TensorRT-style entropy calibration on the |x| histogram: the threshold
 * whose clipped distribution P (outliers folded into the last bin) loses
 * least information when merged into `levels` quantization bins. */
static gdouble
kl_threshold (PhysnnHistogram *h, guint levels)
{
  const guint nb = HBINS / 2;
  g_autofree gdouble *a = g_new (gdouble, nb);
  g_autofree gdouble *p = g_new (gdouble, nb);
  g_autofree gdouble *q = g_new (gdouble, nb);
  gdouble width = 2 * h->R / HBINS;
  for (guint k = 0; k < nb; k++)
    a[k] = h->counts[nb + k] + h->counts[nb - 1 - k];
  guint last = 0;
  for (guint k = 0; k < nb; k++)
    if (a[k] > 0)
      last = k;
  if (last + 1 <= levels)
    return (last + 1) * width;
  gdouble best = G_MAXDOUBLE;
  guint best_i = last + 1;
  for (guint i = levels; i <= last + 1; i++) {
    gdouble outliers = 0, ptot = 0;
    memcpy (p, a, i * sizeof (gdouble));
    for (guint k = i; k < nb; k++)
      outliers += a[k];
    p[i - 1] += outliers;
    for (guint k = 0; k < i; k++)
      ptot += p[k];
    /* Q: each of `levels` groups spreads its mass over its non-empty bins */
    for (guint g = 0; g < levels; g++) {
      guint b0 = (guint) ((guint64) g * i / levels);
      guint b1 = (guint) ((guint64) (g + 1) * i / levels);
      gdouble mass = 0;
      guint nz = 0;
      for (guint k = b0; k < b1; k++) {
        mass += a[k];
        nz += a[k] > 0;
      }
      for (guint k = b0; k < b1; k++)
        q[k] = a[k] > 0 && nz ? mass / nz : 0;
    }
    gdouble qtot = 0;
    for (guint k = 0; k < i; k++)
      qtot += q[k];
    gdouble kl = 0;
    for (guint k = 0; k < i; k++) {
      if (p[k] == 0)
        continue;
      gdouble pp = p[k] / ptot;
      /* a bin with mass in P but none in Q: smooth instead of infinity */
      gdouble qq = q[k] > 0 ? q[k] / qtot : 1e-12;
      kl += pp * log (pp / qq);
    }
    if (kl < best) {
      best = kl;
      best_i = i;
    }
  }
  return best_i * width;
}

gboolean
_physnn_histogram_range (PhysnnHistogram *h, PhysnnCalibration method,
    gdouble percentile, guint bits, gboolean symmetric, gdouble *lo,
    gdouble *hi)
{
  if (h->n == 0)
    return FALSE;
  gdouble mn = h->min, mx = h->max;
  *lo = mn;
  *hi = mx;
  switch (method) {
    case PHYSNN_CALIBRATION_MINMAX:
      break;
    case PHYSNN_CALIBRATION_PERCENTILE:{
      gdouble p = percentile / 100.0;
      if (symmetric) {
        gdouble r = abs_quantile (h, p);
        *lo = MAX (mn, -r);
        *hi = MIN (mx, r);
      } else {
        gdouble tail = (1.0 - p) / 2;
        *lo = MAX (mn, quantile (h, tail));
        *hi = MIN (mx, quantile (h, 1.0 - tail));
      }
      break;
    }
    case PHYSNN_CALIBRATION_MSE:{
      gdouble best = G_MAXDOUBLE;
      for (guint k = 0; k < RANGE_STEPS; k++) {
        gdouble f = 1.0 - 0.9 * k / RANGE_STEPS;
        gdouble e = hist_error (h, mn * f, mx * f, bits, symmetric);
        if (e < best) {
          best = e;
          *lo = mn * f;
          *hi = mx * f;
        }
      }
      break;
    }
    case PHYSNN_CALIBRATION_KL:{
      guint levels = symmetric || mn < 0 ? 1u << (bits - 1) : 1u << bits;
      gdouble t = kl_threshold (h, levels);
      *lo = MAX (mn, -t);
      *hi = MIN (mx, t);
      break;
    }
  }
  if (*lo > *hi)
    *lo = *hi;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* PhysnnQuantCalibrator */

typedef struct {
  gchar *value;                 /* the activation's name */
  gint index;                   /* graph value index */
  PhysnnHistogram *hist;
} Tap;

struct _PhysnnQuantCalibrator {
  GObject parent;
  PhysnnModel *model;
  PhysnnQuantPlan *layout;      /* the layers (all fp32) */
  GPtrArray *taps;              /* Tap*, one per distinct layer input */
  gint *tap_of_layer;
  guint64 n_batches, n_samples;
};

G_DEFINE_FINAL_TYPE (PhysnnQuantCalibrator, physnn_quant_calibrator,
    G_TYPE_OBJECT)

static void
tap_free (Tap *t)
{
  g_free (t->value);
  _physnn_histogram_free (t->hist);
  g_free (t);
}

static void
physnn_quant_calibrator_finalize (GObject *object)
{
  PhysnnQuantCalibrator *self = PHYSNN_QUANT_CALIBRATOR (object);
  g_ptr_array_unref (self->taps);
  g_free (self->tap_of_layer);
  g_clear_object (&self->layout);
  g_clear_object (&self->model);
  G_OBJECT_CLASS (physnn_quant_calibrator_parent_class)->finalize (object);
}

static void
physnn_quant_calibrator_class_init (PhysnnQuantCalibratorClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = physnn_quant_calibrator_finalize;
}

static void
physnn_quant_calibrator_init (PhysnnQuantCalibrator *self)
{
  self->taps = g_ptr_array_new_with_free_func ((GDestroyNotify) tap_free);
}

/**
 * physnn_quant_calibrator_new:
 * @model: the float32 model whose activations are observed
 * @error: return location for a #GError
 *
 * Returns: (transfer full): a calibrator with empty histograms, or %NULL
 *   with @error set when the model has no quantizable layer
 */
PhysnnQuantCalibrator *
physnn_quant_calibrator_new (PhysnnModel *model, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (model), NULL);
  g_autoptr (PhysnnQuantPlan) layout = physnn_quant_plan_new (model, error);
  if (layout == NULL)
    return NULL;
  PhysnnQuantCalibrator *self = g_object_new (PHYSNN_TYPE_QUANT_CALIBRATOR,
      NULL);
  PhysnnGraph *g = _physnn_model_get_graph (model);
  guint n = physnn_quant_plan_get_n_layers (layout);
  self->model = g_object_ref (model);
  self->layout = g_steal_pointer (&layout);
  self->tap_of_layer = g_new (gint, MAX (n, 1));
  for (guint i = 0; i < n; i++) {
    PhysnnQuantLayer *l = _physnn_quant_plan_layer (self->layout, i);
    self->tap_of_layer[i] = -1;
    for (guint t = 0; t < self->taps->len; t++)
      if (strcmp (((Tap *) g_ptr_array_index (self->taps, t))->value,
              l->input) == 0)
        self->tap_of_layer[i] = (gint) t;
    if (self->tap_of_layer[i] >= 0)
      continue;
    gpointer idx = g_hash_table_lookup (g->by_name, l->input);
    if (idx == NULL)
      continue;
    Tap *tap = g_new0 (Tap, 1);
    tap->value = g_strdup (l->input);
    tap->index = GPOINTER_TO_INT (idx) - 1;
    tap->hist = _physnn_histogram_new ();
    self->tap_of_layer[i] = (gint) self->taps->len;
    g_ptr_array_add (self->taps, tap);
  }
  return self;
}

/**
 * physnn_quant_calibrator_add_batch:
 * @self: a #PhysnnQuantCalibrator
 * @inputs: (array length=n_inputs): one tensor per model input
 * @n_inputs: the number of inputs
 * @error: return location for a #GError
 *
 * Runs the float model on the batch (reference path, float64) and adds the
 * inputs of every quantizable layer to their histograms.
 *
 * Returns: %TRUE on success; inputs of the wrong count or shape are an
 *   error naming the input and both shapes
 */
gboolean
physnn_quant_calibrator_add_batch (PhysnnQuantCalibrator *self,
    PhysnnTensor **inputs, guint n_inputs, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_CALIBRATOR (self), FALSE);
  PhysnnModel *model = self->model;
  PhysnnGraph *g = _physnn_model_get_graph (model);
  if (n_inputs != physnn_model_get_n_inputs (model)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "calibration data has %u input tensors; %s takes %u", n_inputs,
        physnn_model_get_path (model), physnn_model_get_n_inputs (model));
    return FALSE;
  }
  for (guint i = 0; i < n_inputs; i++) {
    guint rank, want;
    const gsize *shape = physnn_tensor_get_shape (inputs[i], &rank);
    const gint64 *dims = physnn_model_get_input_shape (model, i, &want);
    gboolean ok = dims == NULL || rank == want;
    for (guint d = 0; ok && dims && d < rank; d++)
      ok = dims[d] < 0 || (gsize) dims[d] == shape[d];
    if (!ok || physnn_tensor_get_n_elements (inputs[i]) == 0) {
      g_autofree gchar *have = physnn_tensor_describe (inputs[i]);
      GString *exp = g_string_new ("[");
      for (guint d = 0; dims && d < want; d++) {
        if (dims[d] < 0)
          g_string_append_printf (exp, "%sN", d ? "," : "");
        else
          g_string_append_printf (exp, "%s%" G_GINT64_FORMAT, d ? "," : "",
              dims[d]);
      }
      g_string_append_c (exp, ']');
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "calibration input %u (\"%s\") is %s; %s expects %s", i,
          physnn_model_get_input_name (model, i), have,
          physnn_model_get_path (model), exp->str);
      g_string_free (exp, TRUE);
      return FALSE;
    }
  }
  PhysnnJetValue *all = NULL;
  if (!_physnn_graph_run_reference_all (g, NULL, inputs, NULL, &all, error))
    return FALSE;
  for (guint t = 0; t < self->taps->len; t++) {
    Tap *tap = g_ptr_array_index (self->taps, t);
    PhysnnTensor *v = all[tap->index].comp[0];
    if (v == NULL || !physnn_dtype_is_float (physnn_tensor_get_dtype (v)))
      continue;
    const gdouble *x = _physnn_tensor_host (v, PHYSNN_ACCESS_READ);
    _physnn_histogram_add (tap->hist, x, physnn_tensor_get_n_elements (v), 1);
  }
  for (guint i = 0; i < g->values->len; i++)
    physnn_jet_value_clear (&all[i]);
  g_free (all);
  self->n_batches++;
  self->n_samples += physnn_tensor_get_rank (inputs[0]) ?
      physnn_tensor_get_dim (inputs[0], 0) : 1;
  return TRUE;
}

/**
 * physnn_quant_calibrator_get_n_batches:
 * @self: a #PhysnnQuantCalibrator
 *
 * Returns: the number of batches added
 */
guint64
physnn_quant_calibrator_get_n_batches (PhysnnQuantCalibrator *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_CALIBRATOR (self), 0);
  return self->n_batches;
}

/**
 * physnn_quant_calibrator_get_n_samples:
 * @self: a #PhysnnQuantCalibrator
 *
 * Returns: the number of samples (rows of the first input) added
 */
guint64
physnn_quant_calibrator_get_n_samples (PhysnnQuantCalibrator *self)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_CALIBRATOR (self), 0);
  return self->n_samples;
}

static gboolean
no_data (PhysnnQuantCalibrator *self, GError **error)
{
  if (self->n_batches > 0)
    return FALSE;
  g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
      "no calibration data for %s: 0 batches were observed (an empty file "
      "or stream?)", physnn_model_get_path (self->model));
  return TRUE;
}

/**
 * physnn_quant_calibrator_get_range:
 * @self: a #PhysnnQuantCalibrator
 * @layer: a layer name
 * @method: the calibration method
 * @percentile: for %PHYSNN_CALIBRATION_PERCENTILE, in (50, 100]
 * @bits: the integer width the range is for (8 for int8)
 * @min: (out): the lower end
 * @max: (out): the upper end
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_calibrator_get_range (PhysnnQuantCalibrator *self,
    const gchar *layer, PhysnnCalibration method, gdouble percentile,
    guint bits, gdouble *min, gdouble *max, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_CALIBRATOR (self), FALSE);
  if (no_data (self, error))
    return FALSE;
  gint li = physnn_quant_plan_find_layer (self->layout, layer);
  if (li < 0 || self->tap_of_layer[li] < 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "no quantizable layer \"%s\" in %s", layer,
        physnn_model_get_path (self->model));
    return FALSE;
  }
  if (bits < 2 || bits > 16 || !(percentile > 50 && percentile <= 100)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "%u bits, percentile %g: expected 2 to 16 bits and a percentile in "
        "(50, 100]", bits, percentile);
    return FALSE;
  }
  Tap *tap = g_ptr_array_index (self->taps, self->tap_of_layer[li]);
  if (!_physnn_histogram_range (tap->hist, method, percentile, bits, FALSE,
          min, max)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "layer \"%s\": its input never had a finite value", layer);
    return FALSE;
  }
  return TRUE;
}

/**
 * physnn_quant_calibrator_apply:
 * @self: a #PhysnnQuantCalibrator
 * @plan: a plan for the same model
 * @method: the calibration method for activation ranges
 * @percentile: for %PHYSNN_CALIBRATION_PERCENTILE, in (50, 100]
 * @error: return location for a #GError
 *
 * Sets the int8 input range of every layer of @plan from the histograms.
 *
 * Returns: %TRUE on success; no data at all is an error
 */
gboolean
physnn_quant_calibrator_apply (PhysnnQuantCalibrator *self,
    PhysnnQuantPlan *plan, PhysnnCalibration method, gdouble percentile,
    GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_CALIBRATOR (self), FALSE);
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (plan), FALSE);
  if (no_data (self, error))
    return FALSE;
  if (physnn_quant_plan_get_model (plan) != self->model &&
      physnn_quant_plan_get_n_layers (plan) !=
      physnn_quant_plan_get_n_layers (self->layout)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "the plan is for another model");
    return FALSE;
  }
  for (guint i = 0; i < physnn_quant_plan_get_n_layers (plan); i++) {
    gdouble lo, hi;
    const gchar *name = physnn_quant_plan_get_layer_name (plan, i);
    if (!physnn_quant_calibrator_get_range (self, name, method, percentile, 8,
            &lo, &hi, error))
      return FALSE;
    if (!physnn_quant_plan_set_activation_range (plan, i, lo, hi, method,
            error))
      return FALSE;
  }
  return TRUE;
}
