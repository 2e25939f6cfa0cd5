/* physnn — optimizers.
 *
 * Adam (Kingma & Ba 2015) as PyTorch implements it (torch.optim.Adam,
 * amsgrad off): bias-corrected first and second moments, the step
 * lr / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε), weight decay added to the
 * gradient.
 *
 * L-BFGS (Nocedal & Wright, Numerical Optimization, 2nd ed., algorithm 7.4
 * with the two-loop recursion 7.5 and H₀ = sᵀy / yᵀy) with a line search
 * satisfying the strong Wolfe conditions (algorithms 3.5 and 3.6, c₁ = 10⁻⁴,
 * c₂ = 0.9, cubic interpolation, eq. 3.59). A trial point with a NaN or
 * infinite loss counts as a point of infinite loss: the search steps back.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/optim-private.h"
#include "physnn/grad-private.h"
#include "physnn/error.h"
#include "physnn/tensor-private.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Adam */

struct _PhysnnAdam {
  GObject parent;
  gdouble lr, beta1, beta2, eps, weight_decay;
  guint64 t;
  gdouble *m, *v;
  gsize n;
};

G_DEFINE_FINAL_TYPE (PhysnnAdam, physnn_adam, G_TYPE_OBJECT)

enum {
  PROP_A_0,
  PROP_A_LR,
  PROP_A_BETA1,
  PROP_A_BETA2,
  PROP_A_EPS,
  PROP_A_WD,
  N_A_PROPS
};

static void
physnn_adam_set_property (
    GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  PhysnnAdam *self = PHYSNN_ADAM (object);
  switch (id) {
    case PROP_A_LR:
      self->lr = g_value_get_double (value);
      break;
    case PROP_A_BETA1:
      self->beta1 = g_value_get_double (value);
      break;
    case PROP_A_BETA2:
      self->beta2 = g_value_get_double (value);
      break;
    case PROP_A_EPS:
      self->eps = g_value_get_double (value);
      break;
    case PROP_A_WD:
      self->weight_decay = g_value_get_double (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
  }
}

static void
physnn_adam_get_property (
    GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  PhysnnAdam *self = PHYSNN_ADAM (object);
  switch (id) {
    case PROP_A_LR:
      g_value_set_double (value, self->lr);
      break;
    case PROP_A_BETA1:
      g_value_set_double (value, self->beta1);
      break;
    case PROP_A_BETA2:
      g_value_set_double (value, self->beta2);
      break;
    case PROP_A_EPS:
      g_value_set_double (value, self->eps);
      break;
    case PROP_A_WD:
      g_value_set_double (value, self->weight_decay);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
  }
}

static void
physnn_adam_finalize (GObject *object)
{
  PhysnnAdam *self = PHYSNN_ADAM (object);
  g_free (self->m);
  g_free (self->v);
  G_OBJECT_CLASS (physnn_adam_parent_class)->finalize (object);
}

static void
physnn_adam_class_init (PhysnnAdamClass *klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GParamFlags f =
      G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS;
  oc->set_property = physnn_adam_set_property;
  oc->get_property = physnn_adam_get_property;
  oc->finalize = physnn_adam_finalize;
  g_object_class_install_property (oc, PROP_A_LR,
      g_param_spec_double ("learning-rate", "Learning rate",
          "Step size (lr); default 0.001", 0, G_MAXDOUBLE, 1e-3, f));
  g_object_class_install_property (oc, PROP_A_BETA1,
      g_param_spec_double ("beta1", "Beta 1",
          "Decay of the first moment, 0 to 1 (excluded); default 0.9", 0,
          0.999999999, 0.9, f));
  g_object_class_install_property (oc, PROP_A_BETA2,
      g_param_spec_double ("beta2", "Beta 2",
          "Decay of the second moment, 0 to 1 (excluded); default 0.999", 0,
          0.999999999, 0.999, f));
  g_object_class_install_property (oc, PROP_A_EPS,
      g_param_spec_double ("epsilon", "Epsilon",
          "Added to the denominator; default 1e-8", 0, 1, 1e-8, f));
  g_object_class_install_property (oc, PROP_A_WD,
      g_param_spec_double ("weight-decay", "Weight decay",
          "L2 penalty added to the gradient (PyTorch's weight_decay); "
          "default 0",
          0, G_MAXDOUBLE, 0, f));
}

static void
physnn_adam_init (PhysnnAdam *self)
{
}

/**
 * physnn_adam_new:
 * @learning_rate: the step size
 *
 * Returns: (transfer full): an Adam optimizer with PyTorch's defaults
 *   (β₁ = 0.9, β₂ = 0.999, ε = 10⁻⁸)
 */
PhysnnAdam *
physnn_adam_new (gdouble learning_rate)
{
  return g_object_new (PHYSNN_TYPE_ADAM, "learning-rate", learning_rate, NULL);
}

/**
 * physnn_adam_reset:
 * @self: a #PhysnnAdam
 *
 * Forgets the moments and the step count.
 */
void
physnn_adam_reset (PhysnnAdam *self)
{
  g_return_if_fail (PHYSNN_IS_ADAM (self));
  g_clear_pointer (&self->m, g_free);
  g_clear_pointer (&self->v, g_free);
  self->n = 0;
  self->t = 0;
}

/**
 * physnn_adam_get_steps:
 * @self: a #PhysnnAdam
 *
 * Returns: the number of updates since creation or the last reset
 */
guint64
physnn_adam_get_steps (PhysnnAdam *self)
{
  g_return_val_if_fail (PHYSNN_IS_ADAM (self), 0);
  return self->t;
}

void
_physnn_adam_update (PhysnnAdam *self, gdouble *x, const gdouble *g, gsize n)
{
  if (self->n != n) {
    physnn_adam_reset (self);
    self->m = g_new0 (gdouble, MAX (n, 1));
    self->v = g_new0 (gdouble, MAX (n, 1));
    self->n = n;
  }
  self->t++;
  gdouble b1 = self->beta1, b2 = self->beta2;
  gdouble bc1 = 1 - pow (b1, (gdouble)self->t);
  gdouble bc2 = 1 - pow (b2, (gdouble)self->t);
  gdouble step = self->lr / bc1, sbc2 = sqrt (bc2);
  for (gsize i = 0; i < n; i++) {
    gdouble gi = g[i] + self->weight_decay * x[i];
    self->m[i] = b1 * self->m[i] + (1 - b1) * gi;
    self->v[i] = b2 * self->v[i] + (1 - b2) * gi * gi;
    gdouble denom = sqrt (self->v[i]) / sbc2 + self->eps;
    x[i] -= step * self->m[i] / denom;
  }
}

/**
 * physnn_adam_step:
 * @self: a #PhysnnAdam
 * @params: the parameters, a float64 tensor, updated in place
 * @gradient: the gradient, as many values
 * @error: return location for a #GError
 *
 * One Adam update. The moments belong to the optimizer: use one optimizer
 * per parameter vector.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_adam_step (PhysnnAdam *self, PhysnnTensor *params,
    PhysnnTensor *gradient, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_ADAM (self), FALSE);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (params), FALSE);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (gradient), FALSE);
  gsize n = physnn_tensor_get_n_elements (params);
  if (physnn_tensor_get_dtype (params) != PHYSNN_DTYPE_FLOAT64 ||
      physnn_tensor_get_n_elements (gradient) != n) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "Adam needs float64 parameters and a gradient of as many values "
        "(%" G_GSIZE_FORMAT " parameters of %s, %" G_GSIZE_FORMAT
        " gradient values)",
        n, physnn_dtype_to_string (physnn_tensor_get_dtype (params)),
        physnn_tensor_get_n_elements (gradient));
    return FALSE;
  }
  if (physnn_tensor_count_nonfinite (gradient)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
        "the gradient holds NaN or infinite values; parameters unchanged");
    return FALSE;
  }
  g_autofree gdouble *g = physnn_tensor_to_doubles (gradient, &n);
  _physnn_adam_update (
      self, _physnn_tensor_host (params, PHYSNN_ACCESS_READWRITE), g, n);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* L-BFGS */

struct _PhysnnLbfgs {
  GObject parent;
  guint history;
  guint max_iter;
  gdouble tol_grad, tol_change, lr;
};

G_DEFINE_FINAL_TYPE (PhysnnLbfgs, physnn_lbfgs, G_TYPE_OBJECT)

enum {
  PROP_L_0,
  PROP_L_HISTORY,
  PROP_L_MAX_ITER,
  PROP_L_TOL_GRAD,
  PROP_L_TOL_CHANGE,
  PROP_L_LR
};

static void
physnn_lbfgs_set_property (
    GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  PhysnnLbfgs *self = PHYSNN_LBFGS (object);
  switch (id) {
    case PROP_L_HISTORY:
      self->history = g_value_get_uint (value);
      break;
    case PROP_L_MAX_ITER:
      self->max_iter = g_value_get_uint (value);
      break;
    case PROP_L_TOL_GRAD:
      self->tol_grad = g_value_get_double (value);
      break;
    case PROP_L_TOL_CHANGE:
      self->tol_change = g_value_get_double (value);
      break;
    case PROP_L_LR:
      self->lr = g_value_get_double (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
  }
}

static void
physnn_lbfgs_get_property (
    GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  PhysnnLbfgs *self = PHYSNN_LBFGS (object);
  switch (id) {
    case PROP_L_HISTORY:
      g_value_set_uint (value, self->history);
      break;
    case PROP_L_MAX_ITER:
      g_value_set_uint (value, self->max_iter);
      break;
    case PROP_L_TOL_GRAD:
      g_value_set_double (value, self->tol_grad);
      break;
    case PROP_L_TOL_CHANGE:
      g_value_set_double (value, self->tol_change);
      break;
    case PROP_L_LR:
      g_value_set_double (value, self->lr);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
  }
}

static void
physnn_lbfgs_class_init (PhysnnLbfgsClass *klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GParamFlags f =
      G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS;
  oc->set_property = physnn_lbfgs_set_property;
  oc->get_property = physnn_lbfgs_get_property;
  g_object_class_install_property (oc, PROP_L_HISTORY,
      g_param_spec_uint ("history-size", "History size",
          "Correction pairs kept, 1 to 1000; default 50", 1, 1000, 50, f));
  g_object_class_install_property (oc, PROP_L_MAX_ITER,
      g_param_spec_uint ("max-iterations", "Maximum iterations",
          "Iterations (line searches) at most; default 1000", 1, G_MAXUINT,
          1000, f));
  g_object_class_install_property (oc, PROP_L_TOL_GRAD,
      g_param_spec_double ("tolerance-grad", "Gradient tolerance",
          "Stop when the largest gradient entry is at most this; default "
          "1e-12",
          0, G_MAXDOUBLE, 1e-12, f));
  g_object_class_install_property (oc, PROP_L_TOL_CHANGE,
      g_param_spec_double ("tolerance-change", "Change tolerance",
          "Stop when the loss changes, or the largest step entry is, at "
          "most this; default 1e-16",
          0, G_MAXDOUBLE, 1e-16, f));
  g_object_class_install_property (oc, PROP_L_LR,
      g_param_spec_double ("learning-rate", "Learning rate",
          "First trial step of each line search (PyTorch's lr); default 1",
          1e-12, G_MAXDOUBLE, 1.0, f));
}

static void
physnn_lbfgs_init (PhysnnLbfgs *self)
{
}

/**
 * physnn_lbfgs_new:
 *
 * Returns: (transfer full): an L-BFGS optimizer with a strong-Wolfe line
 *   search
 */
PhysnnLbfgs *
physnn_lbfgs_new (void)
{
  return g_object_new (PHYSNN_TYPE_LBFGS, NULL);
}

static gdouble
dot (const gdouble *a, const gdouble *b, gsize n)
{
  gdouble s = 0;
  for (gsize i = 0; i < n; i++)
    s += a[i] * b[i];
  return s;
}

static gdouble
max_abs (const gdouble *a, gsize n)
{
  gdouble m = 0;
  for (gsize i = 0; i < n; i++)
    m = MAX (m, fabs (a[i]));
  return m;
}

/* Minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped
 * to [lo, hi]; the bisection of the bounds when it does not exist. */
static gdouble
cubic_min (gdouble x1, gdouble f1, gdouble g1, gdouble x2, gdouble f2,
    gdouble g2, gdouble lo, gdouble hi)
{
  if (!isfinite (f1) || !isfinite (f2) || !isfinite (g1) || !isfinite (g2) ||
      x1 == x2)
    return (lo + hi) / 2;
  gdouble d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  gdouble disc = d1 * d1 - g1 * g2;
  if (disc < 0)
    return (lo + hi) / 2;
  gdouble d2 = (x2 >= x1 ? 1 : -1) * sqrt (disc);
  gdouble den = g2 - g1 + 2 * d2;
  if (den == 0)
    return (lo + hi) / 2;
  gdouble t = x2 - (x2 - x1) * (g2 + d2 - d1) / den;
  if (!isfinite (t))
    return (lo + hi) / 2;
  return CLAMP (t, lo, hi);
}

typedef struct {
  PhysnnObjectiveFunc func;
  gpointer user;
  const gdouble *x0, *d;
  gdouble *xt;
  gsize n;
  guint evals;
} Line;

/* f and directional derivative at x0 + t d; g is filled. */
static gboolean
line_eval (
    Line *l, gdouble t, gdouble *f, gdouble *g, gdouble *gtd, GError **error)
{
  for (gsize i = 0; i < l->n; i++)
    l->xt[i] = l->x0[i] + t * l->d[i];
  l->evals++;
  if (!l->func (l->user, l->xt, f, g, error))
    return FALSE;
  *gtd = dot (g, l->d, l->n);
  if (!isfinite (*f) || !isfinite (*gtd)) {
    *f = INFINITY;
    *gtd = NAN;
  }
  return TRUE;
}

/* Strong-Wolfe line search from t (> 0). On return, t, f, g hold the
 * accepted point (or the best seen, if none satisfied the conditions). */
static gboolean
wolfe_search (Line *l, gdouble f0, gdouble gtd0, gdouble *t_io, gdouble *f,
    gdouble *g, gdouble tol_change, GError **error)
{
  const gdouble c1 = 1e-4, c2 = 0.9;
  const guint max_ls = 25;
  gsize n = l->n;
  gdouble t = *t_io, t_prev = 0, f_prev = f0, gtd_prev = gtd0, gtd;
  gdouble dmax = max_abs (l->d, n);
  g_autofree gdouble *g_prev = g_new0 (gdouble, n);
  g_autofree gdouble *g_best = g_new0 (gdouble, n);
  gdouble best_t = 0, best_f = f0;
  gdouble lo = 0, hi = 0, f_lo = 0, f_hi = 0, g_lo = 0, g_hi = 0;
  gboolean bracket = FALSE;
  guint i;

  for (i = 0; i < max_ls; i++) {
    if (!line_eval (l, t, f, g, &gtd, error))
      return FALSE;
    if (*f < best_f) {
      best_f = *f;
      best_t = t;
      memcpy (g_best, g, n * sizeof (gdouble));
    }
    if (*f > f0 + c1 * t * gtd0 || (i > 0 && *f >= f_prev)) {
      lo = t_prev, f_lo = f_prev, g_lo = gtd_prev;
      hi = t, f_hi = *f, g_hi = gtd;
      bracket = TRUE;
      break;
    }
    if (fabs (gtd) <= -c2 * gtd0) {
      *t_io = t;
      return TRUE;
    }
    if (gtd >= 0) {
      lo = t, f_lo = *f, g_lo = gtd;
      hi = t_prev, f_hi = f_prev, g_hi = gtd_prev;
      bracket = TRUE;
      break;
    }
    /* extrapolate */
    gdouble tn = cubic_min (
        t_prev, f_prev, gtd_prev, t, *f, gtd, t + 0.01 * (t - t_prev), t * 10);
    t_prev = t;
    f_prev = *f;
    gtd_prev = gtd;
    memcpy (g_prev, g, n * sizeof (gdouble));
    t = tn;
  }

  /* zoom */
  for (; bracket && i < max_ls; i++) {
    if (fabs (hi - lo) * dmax < tol_change)
      break;
    gdouble a = MIN (lo, hi), b = MAX (lo, hi);
    gdouble tt = cubic_min (lo, f_lo, g_lo, hi, f_hi, g_hi, a, b);
    /* keep away from the ends (Moré–Thuente style safeguard) */
    gdouble eps = 0.1 * (b - a);
    if (tt - a < eps || b - tt < eps)
      tt = (a + b) / 2;
    if (!line_eval (l, tt, f, g, &gtd, error))
      return FALSE;
    if (*f < best_f) {
      best_f = *f;
      best_t = tt;
      memcpy (g_best, g, n * sizeof (gdouble));
    }
    if (*f > f0 + c1 * tt * gtd0 || *f >= f_lo) {
      hi = tt, f_hi = *f, g_hi = gtd;
    } else {
      if (fabs (gtd) <= -c2 * gtd0) {
        *t_io = tt;
        return TRUE;
      }
      if (gtd * (hi - lo) >= 0) {
        hi = lo, f_hi = f_lo, g_hi = g_lo;
      }
      lo = tt, f_lo = *f, g_lo = gtd;
    }
  }
  /* No point met both conditions: take the best one seen (possibly t=0,
   * which the caller sees as no progress). */
  *t_io = best_t;
  *f = best_f;
  memcpy (g, g_best, n * sizeof (gdouble));
  return TRUE;
}

gboolean
_physnn_lbfgs_run (PhysnnLbfgs *self, gdouble *x, gsize n,
    PhysnnObjectiveFunc func, PhysnnIterationFunc iter, gpointer user,
    guint *iterations, gdouble *value, const gchar **reason, GError **error)
{
  guint m = self->history, k = 0, count = 0, head = 0;
  g_autofree gdouble *S = g_new0 (gdouble, (gsize)m * n);
  g_autofree gdouble *Y = g_new0 (gdouble, (gsize)m * n);
  g_autofree gdouble *rho = g_new0 (gdouble, m);
  g_autofree gdouble *alpha = g_new0 (gdouble, m);
  g_autofree gdouble *g = g_new0 (gdouble, n);
  g_autofree gdouble *g_new_ = g_new0 (gdouble, n);
  g_autofree gdouble *d = g_new0 (gdouble, n);
  g_autofree gdouble *x0 = g_new0 (gdouble, n);
  g_autofree gdouble *xt = g_new0 (gdouble, n);
  gdouble f, gamma = 1;
  const gchar *why = "maximum iterations";

  if (!func (user, x, &f, g, error))
    return FALSE;
  if (!isfinite (f) || !isfinite (max_abs (g, n))) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
        "L-BFGS: the loss or its gradient is not finite at the starting "
        "point (loss %g)",
        f);
    return FALSE;
  }
  Line l = { func, user, x0, d, xt, n, 1 };

  for (k = 0; k < self->max_iter; k++) {
    if (max_abs (g, n) <= self->tol_grad) {
      why = "gradient below tolerance-grad";
      break;
    }
    /* d = -H g by the two-loop recursion */
    for (gsize i = 0; i < n; i++)
      d[i] = -g[i];
    for (guint j = 0; j < count; j++) {
      guint s = (head + m - 1 - j) % m;
      alpha[s] = rho[s] * dot (S + (gsize)s * n, d, n);
      const gdouble *ys = Y + (gsize)s * n;
      for (gsize i = 0; i < n; i++)
        d[i] -= alpha[s] * ys[i];
    }
    for (gsize i = 0; i < n; i++)
      d[i] *= gamma;
    for (guint j = 0; j < count; j++) {
      guint s = (head + m - count + j) % m;
      gdouble beta = rho[s] * dot (Y + (gsize)s * n, d, n);
      const gdouble *ss = S + (gsize)s * n;
      for (gsize i = 0; i < n; i++)
        d[i] += (alpha[s] - beta) * ss[i];
    }
    gdouble gtd = dot (g, d, n);
    if (!(gtd < -self->tol_change)) {
      if (count == 0) {
        why = "no descent direction";
        break;
      }
      /* a stale curvature history: restart with steepest descent */
      count = 0;
      gamma = 1;
      k--;
      continue;
    }
    gdouble t = self->lr;
    if (k == 0) {
      gdouble l1 = 0;
      for (gsize i = 0; i < n; i++)
        l1 += fabs (g[i]);
      t = MIN (1.0, 1.0 / l1) * self->lr;
    }
    memcpy (x0, x, n * sizeof (gdouble));
    gdouble f_new;
    if (!wolfe_search (&l, f, gtd, &t, &f_new, g_new_, self->tol_change, error))
      return FALSE;
    if (t == 0 || !(f_new <= f)) {
      why = "the line search found no decrease";
      break;
    }
    /* s = t d, y = g_new - g */
    gdouble *sv = S + (gsize)head * n, *yv = Y + (gsize)head * n;
    for (gsize i = 0; i < n; i++) {
      sv[i] = t * d[i];
      yv[i] = g_new_[i] - g[i];
      x[i] = x0[i] + sv[i];
    }
    gdouble ys = dot (yv, sv, n);
    if (ys > 1e-10) {
      rho[head] = 1 / ys;
      gamma = ys / dot (yv, yv, n);
      head = (head + 1) % m;
      count = MIN (count + 1, m);
    }
    gdouble f_old = f;
    f = f_new;
    memcpy (g, g_new_, n * sizeof (gdouble));
    if (iter && !iter (user, k + 1, f, x, g)) {
      why = "stopped";
      k++;
      break;
    }
    if (t * max_abs (d, n) <= self->tol_change) {
      why = "step below tolerance-change";
      k++;
      break;
    }
    if (fabs (f - f_old) < self->tol_change) {
      why = "loss change below tolerance-change";
      k++;
      break;
    }
  }
  if (iterations)
    *iterations = k;
  if (value)
    *value = f;
  if (reason)
    *reason = why;
  return TRUE;
}

typedef struct {
  PhysnnLoss *loss;
} LossObj;

static gboolean
loss_objective (
    gpointer user, const gdouble *x, gdouble *f, gdouble *g, GError **error)
{
  LossObj *o = user;
  return _physnn_loss_eval (o->loss, x, f, g, error);
}

/**
 * physnn_lbfgs_minimize:
 * @self: a #PhysnnLbfgs
 * @loss: the loss to minimise over its parameters (updated in place)
 * @iterations: (out) (optional): iterations done
 * @value: (out) (optional): the final loss
 * @error: return location for a #GError
 *
 * Runs L-BFGS from the loss's current parameters.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_lbfgs_minimize (PhysnnLbfgs *self, PhysnnLoss *loss, guint *iterations,
    gdouble *value, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_LBFGS (self), FALSE);
  g_return_val_if_fail (PHYSNN_IS_LOSS (loss), FALSE);
  gsize n = physnn_loss_get_n_parameters (loss);
  g_autofree gdouble *x =
      g_memdup2 (_physnn_loss_peek_parameters (loss), n * sizeof (gdouble));
  LossObj o = { loss };
  if (!_physnn_lbfgs_run (
          self, x, n, loss_objective, NULL, &o, iterations, value, NULL, error))
    return FALSE;
  memcpy (_physnn_loss_peek_parameters (loss), x, n * sizeof (gdouble));
  /* term values at the final point */
  return _physnn_loss_eval (loss, NULL, value, NULL, error);
}
