/* physnn — quantization-aware fine-tuning of a plan's weights by
 * progressive (incremental) quantization.
 *
 * Starting from the float model, the plan's quantized layers are quantized
 * one at a time, the layer whose quantization alone raises the loss most
 * first. A layer is quantized from its current (already adapted) float
 * values by the plan's own settings — granularity, symmetry, weight
 * calibration — and its integers are frozen from then on; every parameter
 * still free is then fitted to the objective by L-BFGS with exact
 * gradients (for a PINN the PDE residual, through the derivative jets):
 * the float weights of the layers not yet quantized, every bias (float32
 * anyway) and the scales of the layers already quantized (the integers
 * stay fixed: w = (q − z)·s is smooth in s; scales are fitted as
 * s₀·exp(t), which keeps them positive). The layers still in float absorb
 * the error of the ones quantized before them; the last layer's error is
 * absorbed by the biases and scales only, which is why the least sensitive
 * layer goes last.
 *
 * Why not straight-through-estimator training: its gradient is that of a
 * piecewise constant function, so the loss seen by the optimizer is not
 * the one it steps on; that rules out L-BFGS's line search (the optimizer
 * that fits PINNs to residuals of 1e-8) and needs many noisy first-order
 * steps instead. Every sub-problem here is smooth, and nothing is random:
 * the result is deterministic.
 *
 * Stored sizes do not change: the integers, scales and zero points of a
 * layer have the same counts, biases stay float32, fp16 layers hold
 * half-representable values and fp32 layers float32 ones.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/quant-private.h"
#include "physnn/error.h"
#include "physnn/grad.h"
#include "physnn/optim-private.h"
#include "physnn/tensor-private.h"

#include <math.h>
#include <string.h>

/* A layer quantized to integers: its weights are q·s with q the stored
 * integer minus the zero point, s its channel's scale. */
typedef struct {
  guint layer;
  gsize offset; /* of the weight in the parameter vector */
  gsize size, channels, inner;
  gdouble *q;  /* per weight, zero point subtracted */
  gdouble *s0; /* per channel: the scale the log-scales are relative to */
  gint32 *zero;
  gdouble *stored; /* the stored integers */
  gsize var;       /* index of its first log-scale variable */
} QLayer;

typedef struct {
  PhysnnQuantObjective *obj;
  PhysnnLoss *loss;
  gsize np;
  gdouble *params;
  GArray *direct; /* gsize: parameter index of each direct variable */
  GPtrArray *ql;  /* QLayer*, every integer layer quantized so far */
  gsize n_vars;
  /* progress */
  guint done, total;
} Tune;

static void
qlayer_free (QLayer *q)
{
  g_free (q->q);
  g_free (q->s0);
  g_free (q->zero);
  g_free (q->stored);
  g_free (q);
}

static inline gsize
channel_of (const QLayer *q, gsize i)
{
  return (i / q->inner) % q->channels;
}

/* x -> parameters */
static void
tune_set (Tune *t, const gdouble *x)
{
  for (guint k = 0; k < t->direct->len; k++)
    t->params[g_array_index (t->direct, gsize, k)] = x[k];
  for (guint j = 0; j < t->ql->len; j++) {
    QLayer *q = g_ptr_array_index (t->ql, j);
    for (gsize i = 0; i < q->size; i++) {
      gsize c = channel_of (q, i);
      t->params[q->offset + i] = q->q[i] * q->s0[c] * exp (x[q->var + c]);
    }
  }
}

static gboolean
tune_func (
    gpointer user, const gdouble *x, gdouble *f, gdouble *g, GError **error)
{
  Tune *t = user;
  tune_set (t, x);
  gsize shape[1] = { t->np };
  g_autoptr (PhysnnTensor) pt = physnn_tensor_new_from_doubles (
      PHYSNN_DTYPE_FLOAT64, 1, shape, t->params, t->np, NULL);
  g_autoptr (PhysnnTensor) gt = NULL;
  if (!physnn_loss_set_parameters (t->loss, pt, error) ||
      !physnn_loss_evaluate (t->loss, f, g ? &gt : NULL, error))
    return FALSE;
  if (g == NULL)
    return TRUE;
  const gdouble *gp = _physnn_tensor_host (gt, PHYSNN_ACCESS_READ);
  for (guint k = 0; k < t->direct->len; k++)
    g[k] = gp[g_array_index (t->direct, gsize, k)];
  for (guint j = 0; j < t->ql->len; j++) {
    QLayer *q = g_ptr_array_index (t->ql, j);
    for (gsize c = 0; c < q->channels; c++)
      g[q->var + c] = 0;
    /* d w / d t = w */
    for (gsize i = 0; i < q->size; i++)
      g[q->var + channel_of (q, i)] +=
          gp[q->offset + i] * t->params[q->offset + i];
  }
  return TRUE;
}

static gboolean
tune_iteration (gpointer user, guint iteration, gdouble f, const gdouble *x,
    const gdouble *g)
{
  Tune *t = user;
  _physnn_quant_objective_progress (
      t->obj, "fine-tune", MIN (t->done + iteration, t->total), t->total, f);
  return TRUE;
}

/* The loss's parameter tensor holding weight @name with @size values. */
static gint
weight_tensor (PhysnnLoss *loss, const gchar *name, gsize size)
{
  for (guint k = 0; k < physnn_loss_get_n_tensors (loss); k++)
    if (strcmp (physnn_loss_get_tensor_name (loss, k), name) == 0 &&
        physnn_loss_get_tensor_size (loss, k) == size)
      return (gint)k;
  return -1;
}

/* Fits the free variables (as set up in @t) by L-BFGS; leaves the best
 * point in t->params and re-bases the log-scales (s0 <- s, float32). */
static gboolean
tune_fit (Tune *t, guint max_iterations, GError **error)
{
  gsize nd = t->direct->len, n = nd;
  for (guint j = 0; j < t->ql->len; j++) {
    QLayer *q = g_ptr_array_index (t->ql, j);
    q->var = n;
    n += q->channels;
  }
  t->n_vars = n;
  g_autofree gdouble *x = g_new0 (gdouble, MAX (n, 1));
  for (gsize k = 0; k < nd; k++)
    x[k] = t->params[g_array_index (t->direct, gsize, k)];
  gboolean ok = TRUE;
  if (n > 0 && max_iterations > 0) {
    g_autoptr (PhysnnLbfgs) opt = physnn_lbfgs_new ();
    g_object_set (opt, "max-iterations", max_iterations, NULL);
    guint its;
    gdouble v;
    ok = _physnn_lbfgs_run (
        opt, x, n, tune_func, tune_iteration, t, &its, &v, NULL, error);
  }
  if (!ok)
    return FALSE;
  tune_set (t, x);
  /* scales are stored as float32: round them now, so the next step fits
   * the other variables to the scales the plan will hold */
  for (guint j = 0; j < t->ql->len; j++) {
    QLayer *q = g_ptr_array_index (t->ql, j);
    for (gsize c = 0; c < q->channels; c++) {
      gfloat s = (gfloat)(q->s0[c] * exp (x[q->var + c]));
      if (!(s > 0) || !isfinite (s))
        s = (gfloat)q->s0[c];
      q->s0[c] = s;
    }
    for (gsize i = 0; i < q->size; i++)
      t->params[q->offset + i] = q->q[i] * q->s0[channel_of (q, i)];
  }
  t->done += max_iterations;
  return TRUE;
}

typedef struct {
  guint layer;
  gdouble increase;
} Order;

static int
by_increase (gconstpointer a, gconstpointer b)
{
  const Order *x = a, *y = b;
  if (x->increase != y->increase)
    return x->increase > y->increase ? -1 : 1;
  return x->layer < y->layer ? -1 : (x->layer > y->layer);
}

/**
 * physnn_quant_objective_fine_tune:
 * @self: a #PhysnnQuantObjective
 * @plan: a plan for the objective's model (changed in place)
 * @max_iterations: L-BFGS iterations per quantized layer (e.g. 50)
 * @loss: (out) (optional): the plan's loss afterwards
 * @error: return location for a #GError
 *
 * Quantization-aware fine-tuning by progressive quantization: starting from
 * the float model, quantizes the plan's layers one at a time (the layer
 * whose quantization alone raises the loss most first; scales from its
 * current weights by the plan's weight calibration) and after each fits
 * every parameter still free — the float weights of the layers not yet
 * quantized, all biases and the scales of the quantized layers (their
 * integers fixed) — to the objective's loss by L-BFGS with exact gradients;
 * for a PINN that is the PDE residual through the derivative jets. Pinned
 * layers keep the model's weights.
 *
 * The plan then carries the fine-tuned weights (stored integers and scales,
 * fp16/fp32 values; see physnn_quant_plan_get_fine_tuned()) and biases;
 * its JSON and its QDQ model hold them, and its size in bytes does not
 * change. Deterministic. If the result's loss is not lower than the plan's
 * loss as given, the plan is left unchanged. Progress: the
 * #PhysnnQuantObjective::progress signal.
 *
 * The gradient sees the weights only: a plan's int8 activation ranges are
 * kept but not modelled while fitting (the loss reported is measured with
 * them).
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_quant_objective_fine_tune (PhysnnQuantObjective *self,
    PhysnnQuantPlan *plan, guint max_iterations, gdouble *loss, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_QUANT_OBJECTIVE (self), FALSE);
  g_return_val_if_fail (PHYSNN_IS_QUANT_PLAN (plan), FALSE);
  if (!_physnn_quant_objective_same_model (self, plan, error))
    return FALSE;
  gdouble before;
  if (!physnn_quant_objective_evaluate (self, plan, &before, NULL, error))
    return FALSE;

  PhysnnLoss *ls = physnn_quant_objective_get_loss (self);
  gsize np;
  const gdouble *base = _physnn_quant_objective_base (self, &np);
  guint L = physnn_quant_plan_get_n_layers (plan);
  g_autofree gint *wt = g_new (gint, L);
  g_autofree gint *bt = g_new (gint, L);
  for (guint li = 0; li < L; li++) {
    PhysnnQuantLayer *l = _physnn_quant_plan_layer (plan, li);
    wt[li] = weight_tensor (ls, l->weight, l->size);
    bt[li] = _physnn_quant_objective_bias_tensor (self, l);
    if (wt[li] < 0 && !l->pinned) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "weight \"%s\" is not a trainable parameter of the loss", l->weight);
      return FALSE;
    }
  }

  /* the order: the loss increase of each layer quantized alone, largest
   * first */
  GArray *order = g_array_new (FALSE, FALSE, sizeof (Order));
  for (guint li = 0; li < L; li++) {
    PhysnnQuantLayer *l = _physnn_quant_plan_layer (plan, li);
    if (l->precision == PHYSNN_PRECISION_FP32)
      continue;
    Order o = { li, 0 };
    g_autoptr (PhysnnQuantPlan) one = physnn_quant_plan_copy (plan);
    /* through fp32 and back: the layer forgets scales or weights a
     * previous fine-tuning gave it, and is rounded from the model's own */
    for (guint k = 0; k < L; k++) {
      physnn_quant_plan_set_bias_correction (one, k, NULL, 0, NULL);
      if (!_physnn_quant_plan_layer (one, k)->pinned)
        physnn_quant_plan_set_precision (one, k, PHYSNN_PRECISION_FP32, NULL);
    }
    physnn_quant_plan_set_precision (one, li, l->precision, NULL);
    if (!physnn_quant_objective_evaluate (
            self, one, &o.increase, NULL, error)) {
      g_array_unref (order);
      return FALSE;
    }
    g_array_append_val (order, o);
  }
  g_array_sort (order, by_increase);

  Tune t = { self, ls, np, NULL, NULL, NULL, 0, 0, 0 };
  t.params = g_memdup2 (base, MAX (np, 1) * sizeof (gdouble));
  t.ql = g_ptr_array_new_with_free_func ((GDestroyNotify)qlayer_free);
  t.total = order->len * MAX (max_iterations, 1);
  g_autofree gboolean *fixed = g_new0 (gboolean, L);
  g_autoptr (PhysnnQuantPlan) trial = physnn_quant_plan_copy (plan);
  gboolean ok = TRUE;

  for (guint step = 0; ok && step < order->len; step++) {
    guint li = g_array_index (order, Order, step).layer;
    PhysnnQuantLayer *l = _physnn_quant_plan_layer (plan, li);
    gsize off = physnn_loss_get_tensor_offset (ls, wt[li]);
    PhysnnQuantWeights *qw = _physnn_quant_plan_quantize_values (
        plan, li, l->precision, t.params + off);
    memcpy (t.params + off, qw->deq, l->size * sizeof (gdouble));
    if (l->precision >= PHYSNN_PRECISION_INT8) {
      QLayer *q = g_new0 (QLayer, 1);
      q->layer = li;
      q->offset = off;
      q->size = l->size;
      q->channels = qw->channels;
      q->inner = 1;
      if (qw->channels > 1)
        for (guint d = l->axis + 1; d < l->rank; d++)
          q->inner *= l->shape[d];
      q->q = g_new (gdouble, l->size);
      q->stored = g_new (gdouble, l->size);
      q->s0 = g_new (gdouble, qw->channels);
      q->zero = g_memdup2 (qw->zero, qw->channels * sizeof (gint32));
      for (gsize c = 0; c < qw->channels; c++)
        q->s0[c] = qw->scale[c];
      for (gsize i = 0; i < l->size; i++) {
        /* the stored integer, back from the dequantized value */
        gsize c = channel_of (q, i);
        q->q[i] = nearbyint (qw->deq[i] / qw->scale[c]);
        q->stored[i] = q->q[i] + q->zero[c];
      }
      g_ptr_array_add (t.ql, q);
    }
    _physnn_quant_weights_unref (qw);
    fixed[li] = TRUE;

    /* the free variables: weights of layers still float, all biases */
    if (t.direct)
      g_array_unref (t.direct);
    t.direct = g_array_new (FALSE, FALSE, sizeof (gsize));
    for (guint k = 0; k < L; k++) {
      PhysnnQuantLayer *lk = _physnn_quant_plan_layer (plan, k);
      if (!fixed[k] && !lk->pinned && wt[k] >= 0)
        for (gsize i = 0; i < lk->size; i++) {
          gsize at = physnn_loss_get_tensor_offset (ls, wt[k]) + i;
          g_array_append_val (t.direct, at);
        }
      if (bt[k] >= 0)
        for (gsize i = 0; i < lk->bias_size; i++) {
          gsize at = physnn_loss_get_tensor_offset (ls, bt[k]) + i;
          g_array_append_val (t.direct, at);
        }
    }
    ok = tune_fit (&t, max_iterations, error);
  }
  _physnn_quant_objective_restore (self);

  /* the trial plan: fine-tuned integers and scales, fp16/fp32 values,
   * biases */
  for (guint li = 0; ok && li < L; li++) {
    PhysnnQuantLayer *l = _physnn_quant_plan_layer (trial, li);
    if (l->pinned || wt[li] < 0)
      continue;
    gsize off = physnn_loss_get_tensor_offset (ls, wt[li]);
    if (l->precision <= PHYSNN_PRECISION_FP16)
      ok = _physnn_quant_plan_set_tuned (
          trial, li, t.params + off, l->size, NULL, NULL, 0, error);
  }
  for (guint j = 0; ok && j < t.ql->len; j++) {
    QLayer *q = g_ptr_array_index (t.ql, j);
    g_autofree gfloat *s = g_new (gfloat, q->channels);
    for (gsize c = 0; c < q->channels; c++)
      s[c] = (gfloat)q->s0[c];
    ok = _physnn_quant_plan_set_tuned (
        trial, q->layer, q->stored, q->size, s, q->zero, q->channels, error);
  }
  for (guint li = 0; ok && li < L; li++)
    if (bt[li] >= 0)
      ok = physnn_quant_plan_set_bias_correction (trial, li,
          t.params + physnn_loss_get_tensor_offset (ls, bt[li]),
          _physnn_quant_plan_layer (trial, li)->bias_size, error);
  gdouble after = before;
  if (ok)
    ok = physnn_quant_objective_evaluate (self, trial, &after, NULL, error);
  if (ok && after < before) {
    /* keep it: copy the trial's weights and biases into the plan */
    for (guint li = 0; ok && li < L; li++) {
      PhysnnQuantLayer *tl = _physnn_quant_plan_layer (trial, li);
      gboolean tuned = physnn_quant_plan_get_fine_tuned (trial, li);
      ok = _physnn_quant_plan_set_tuned (plan, li, tuned ? tl->tuned : NULL,
               tl->size, tl->given_scale, tl->given_zero, tl->given_channels,
               error) &&
           physnn_quant_plan_set_bias_correction (
               plan, li, tl->bias_fix, tl->bias_fix ? tl->bias_size : 0, error);
    }
    before = after;
  }
  if (ok && loss)
    *loss = before;
  _physnn_quant_objective_progress (
      self, "fine-tune", t.total, t.total, before);
  g_array_unref (order);
  if (t.direct)
    g_array_unref (t.direct);
  g_ptr_array_unref (t.ql);
  g_free (t.params);
  return ok;
}
