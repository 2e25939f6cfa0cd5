/* physnn — Loihi fixed point: the integer parameters a Lava-dl NetX file
 * carries for each layer, and a bit-accurate simulation of them.
 *
 * Loihi's CUBA neuron (Lava's fixed-point LIF, REFERENCES.md), per step:
 *   u ← u·(4096 − du) >> 12 + (a_in << 6),  a_in = Σ w·s (8-bit w)
 *   v ← v·(4096 − dv) >> 12 + u + bias,     bias = mant << exp
 *   spike where v > vth << 6, then v ← 0
 * with >> on the magnitude (sign kept), u wrapping at 24 bits and v
 * saturating at ±(2^23 − 1).
 *
 * From physnn's float dynamics (exact integration over dt, as snninfer):
 *   LIF  v ← α v + (1 − α)(R I + v_leak), α = e^(−dt/τ):
 *        du = 4096 (no current state), dv = round(4096 (1 − α)),
 *        integer weight = k (1 − α) R W
 *   IF   v ← v + dt R I: du = 4096, dv = 0, weight = k dt R W
 *   CubaLIF: du = round(4096 (1 − a)), dv = round(4096 (1 − b)),
 *        weight = k (1 − a) w_in (1 − b) R W (Loihi adds the current of the
 *        same step to v; NIR's exact solution spreads it — an approximation)
 * with one scale k per layer chosen so the largest weight is ±254 (even
 * mantissas, Lava-dl's 8-bit grid) and the threshold mantissa fits 17
 * bits. Resets to v_reset ≠ 0 and leaks to v_leak ≠ 0 become a shift of
 * v (threshold θ − v_reset, reset to 0) and a constant bias; the initial
 * state (v = v_leak in snninfer, 0 on Loihi) then differs and is not
 * modelled. Loihi needs one decay per layer: a layer whose τ differ
 * between neurons is refused.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/neuro-private.h"
#include "physnn/error.h"

#include <math.h>
#include <string.h>

#define VTH_MAX 131071     /* 17-bit threshold mantissa */
#define BIAS_MANT_MAX 4095 /* 13-bit signed bias mantissa */
#define BIAS_EXP_MAX 7

static gboolean
uniform (const NeuroLayer *l, const gdouble *v, const gchar *what, gdouble *out,
    GError **error)
{
  for (gsize i = 1; i < l->n_out; i++)
    if (fabs (v[i] - v[0]) > 1e-9 * fabs (v[0])) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
          "layer \"%s\": Loihi takes one %s per layer; neuron 0 has %g and "
          "neuron %" G_GSIZE_FORMAT " has %g",
          l->neu_name, what, v[0], i, v[i]);
      return FALSE;
    }
  *out = v[0];
  return TRUE;
}

void
_physnn_neuro_loihi_layer_clear (NeuroLoihiLayer *l)
{
  g_clear_pointer (&l->w, g_free);
  g_clear_pointer (&l->bias, g_free);
}

gboolean
_physnn_neuro_loihi_layer (
    PhysnnNeuroNet *net, guint index, NeuroLoihiLayer *out, GError **error)
{
  NeuroLayer *l = g_ptr_array_index (net->layers, index);
  gdouble dt = net->dt, r, th, reset, gain, alpha = 1, a = 0;
  memset (out, 0, sizeof *out);

  if (l->v_th == NULL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "layer \"%s\" (%s) does not spike; Loihi's CUBA neuron does",
        l->neu_name, l->neu_type);
    return FALSE;
  }
  if (!uniform (l, l->r, "r", &r, error) ||
      !uniform (l, l->v_th, "v_threshold", &th, error) ||
      !uniform (l, l->v_reset, "v_reset", &reset, error))
    return FALSE;
  switch (l->kind) {
    case NEURO_LIF: {
      gdouble tau;
      if (!uniform (l, l->tau, "tau", &tau, error))
        return FALSE;
      alpha = exp (-dt / tau);
      gain = (1 - alpha) * r;
      out->du = 4096;
      out->dv = (gint32)nearbyint (4096 * (1 - alpha));
      break;
    }
    case NEURO_IF:
      gain = dt * r;
      out->du = 4096;
      out->dv = 0;
      break;
    case NEURO_CUBALIF: {
      gdouble tm, ts, win;
      if (!uniform (l, l->tau, "tau_mem", &tm, error) ||
          !uniform (l, l->tau_syn, "tau_syn", &ts, error) ||
          !uniform (l, l->w_in, "w_in", &win, error))
        return FALSE;
      a = exp (-dt / ts);
      alpha = exp (-dt / tm);
      gain = (1 - a) * win * (1 - alpha) * r;
      out->du = (gint32)nearbyint (4096 * (1 - a));
      out->dv = (gint32)nearbyint (4096 * (1 - alpha));
      break;
    }
    default:
      g_assert_not_reached ();
  }
  gdouble theta = th - reset;
  if (!(theta > 0)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "layer \"%s\": v_threshold − v_reset = %g; Loihi needs a positive "
        "threshold above the reset",
        l->neu_name, theta);
    return FALSE;
  }

  gsize nw = l->n_out * l->n_in;
  gdouble wmax = 0;
  for (gsize i = 0; i < nw; i++)
    wmax = MAX (wmax, fabs (gain * l->w[i]));
  /* k: integer weight units per float volt */
  gdouble k = wmax > 0 ? 254.0 / wmax : 1.0;
  if (k * theta > VTH_MAX)
    k = VTH_MAX / theta;
  out->vth = (gint32)nearbyint (k * theta);
  if (out->vth < 1)
    out->vth = 1;
  out->w = g_new (gint32, nw);
  for (gsize i = 0; i < nw; i++) {
    gdouble q = 2 * nearbyint (k * gain * l->w[i] / 2);
    out->w[i] = (gint32)CLAMP (q, -256, 254);
  }
  /* Constant drive per step, in v units (64 per weight unit): the bias
   * current and the leak toward v_leak, shifted by the reset. */
  out->bias = g_new (gint32, l->n_out);
  gdouble leak_gain = l->kind == NEURO_IF ? 0 : (1 - alpha);
  gdouble bgain = l->kind == NEURO_CUBALIF ? (1 - alpha) * r : gain;
  gdouble bmax = 0;
  gdouble *bv = g_new (gdouble, l->n_out);
  for (gsize i = 0; i < l->n_out; i++) {
    gdouble drive = l->b[i] * (l->kind == NEURO_CUBALIF ? l->w_in[i] : 1);
    bv[i] = 64 * k * (bgain * drive + leak_gain * (l->v_leak[i] - reset));
    if (l->kind == NEURO_IF)
      bv[i] = 64 * k * gain * l->b[i];
    bmax = MAX (bmax, fabs (bv[i]));
  }
  out->bias_exp = 0;
  while (out->bias_exp < BIAS_EXP_MAX &&
         bmax / ldexp (1.0, out->bias_exp) > BIAS_MANT_MAX)
    out->bias_exp++;
  for (gsize i = 0; i < l->n_out; i++) {
    gdouble m = nearbyint (bv[i] / ldexp (1.0, out->bias_exp));
    out->bias[i] = (gint32)CLAMP (m, -BIAS_MANT_MAX - 1, BIAS_MANT_MAX);
  }
  g_free (bv);
  return TRUE;
}

static inline gint64
decay (gint64 x, gint32 d)
{
  gint64 p = x * (4096 - d);
  return p < 0 ? -((-p) >> 12) : p >> 12;
}

/**
 * physnn_neuro_net_run_loihi:
 * @self: a #PhysnnNeuroNet
 * @input: input spikes [steps][inputs]; nonzero is a spike
 * @error: return location for a #GError
 *
 * Simulates the network as its Lava-dl NetX export describes it, in
 * Loihi's integer arithmetic (see neuro-loihi.c): what Loihi would compute,
 * without the one-step delay per layer that Lava inserts between
 * processes.
 *
 * Returns: (transfer full): output spikes [steps][outputs] as uint8, or
 *   %NULL with @error set
 */
PhysnnTensor *
physnn_neuro_net_run_loihi (
    PhysnnNeuroNet *self, PhysnnTensor *input, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_NEURO_NET (self), NULL);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (input), NULL);
  if (physnn_tensor_get_rank (input) != 2 ||
      physnn_tensor_get_dim (input, 1) != self->n_inputs) {
    g_autofree gchar *d = physnn_tensor_describe (input);
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "input spikes are %s; expected [steps][%" G_GSIZE_FORMAT "]", d,
        self->n_inputs);
    return NULL;
  }
  guint nl = self->layers->len;
  NeuroLoihiLayer *q = g_new0 (NeuroLoihiLayer, nl);
  gint64 **u = g_new0 (gint64 *, nl), **v = g_new0 (gint64 *, nl);
  guint8 **s = g_new0 (guint8 *, nl);
  PhysnnTensor *result = NULL;
  gboolean ok = TRUE;
  for (guint i = 0; ok && i < nl; i++) {
    NeuroLayer *l = g_ptr_array_index (self->layers, i);
    ok = _physnn_neuro_loihi_layer (self, i, &q[i], error);
    u[i] = g_new0 (gint64, l->n_out);
    v[i] = g_new0 (gint64, l->n_out);
    s[i] = g_new0 (guint8, l->n_out);
  }
  if (ok) {
    gsize steps = physnn_tensor_get_dim (input, 0);
    g_autofree gdouble *x = _physnn_neuro_doubles (input);
    g_autofree guint8 *in = g_new (guint8, self->n_inputs);
    gsize shape[2] = { steps, physnn_neuro_net_get_n_outputs (self) };
    result = physnn_tensor_new (PHYSNN_DTYPE_UINT8, 2, shape);
    guint8 *o = physnn_tensor_map (result, PHYSNN_MAP_WRITE, NULL);
    for (gsize t = 0; t < steps; t++) {
      for (gsize j = 0; j < self->n_inputs; j++)
        in[j] = x[t * self->n_inputs + j] != 0;
      const guint8 *pre = in;
      for (guint i = 0; i < nl; i++) {
        NeuroLayer *l = g_ptr_array_index (self->layers, i);
        for (gsize n = 0; n < l->n_out; n++) {
          gint64 a_in = 0;
          const gint32 *w = q[i].w + n * l->n_in;
          for (gsize j = 0; j < l->n_in; j++)
            if (pre[j])
              a_in += w[j];
          gint64 cu = decay (u[i][n], q[i].du) + (a_in << 6);
          /* 24-bit two's complement wrap */
          cu = ((cu + (1 << 23)) & ((1 << 24) - 1)) - (1 << 23);
          u[i][n] = cu;
          gint64 cv = decay (v[i][n], q[i].dv) + cu +
                      ((gint64)q[i].bias[n] << q[i].bias_exp);
          cv = CLAMP (cv, -(1 << 23) + 1, (1 << 23) - 1);
          s[i][n] = cv > ((gint64)q[i].vth << 6);
          v[i][n] = s[i][n] ? 0 : cv;
        }
        pre = s[i];
      }
      memcpy (o + t * shape[1], s[nl - 1], shape[1]);
    }
    physnn_tensor_unmap (result);
  }
  for (guint i = 0; i < nl; i++) {
    _physnn_neuro_loihi_layer_clear (&q[i]);
    g_free (u[i]);
    g_free (v[i]);
    g_free (s[i]);
  }
  g_free (q);
  g_free (u);
  g_free (v);
  g_free (s);
  return result;
}
