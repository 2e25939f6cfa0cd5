/* physnn — PhysnnEncoder: real-valued samples to binary spike trains.
 *
 * A call encodes n_samples samples of N values each (the input tensor holds
 * n_samples·N float32 values, sample-major) into n_samples·num_steps time
 * steps: sample k owns steps [k·num_steps, (k+1)·num_steps). Each step has
 * N·P·M output neurons, P = 2 when off spikes are on (an "on" plane then an
 * "off" plane, each N wide) and M the population size (population coding,
 * neuron i's fields adjacent). The output is uint8, 0 or 1.
 *
 * The formulas, with x the sample value and u a uniform draw:
 *
 *   rate        spike ⇔ u < clamp(x·gain + offset, 0, 1)     (snnTorch rate)
 *   poisson     spike ⇔ u < dt·f_max·x                          (Norse)
 *   latency     x' = clamp(x·gain + offset, 0, 1);
 *               log:    t = τ ln(x'/(x' − θ)), x' raised to θ + 1e-7
 *               linear: t = min(−τ(x' − 1), −τ(θ − 1))
 *               normalize: log t ← t·(num_steps − 1)/max t over the
 *               sample, linear τ ← num_steps − 1; one spike at step
 *               round-half-even(t) if that is < num_steps; clip drops
 *               x' < θ                                      (snnTorch latency)
 *   delta       d = x[k] − x[k−1]; on spike if d ≥ θ, off spike if
 *               d ≤ −θ, at the sample's first step; x[−1] = 0, or x[0]
 *               with padding                                  (snnTorch delta)
 *   sigma-delta r ← r + x[k] − x[k−1]; at each of the sample's steps, while
 *               r ≥ θ: on spike, r ← r − θ (off spikes: while r ≤ −θ: off
 *               spike, r ← r + θ; without them a negative r is dropped).
 *               Σ spikes·θ tracks x to within θ: the residue r carries sub-
 *               threshold change across samples and buffers (Lava Delta)
 *   population  M Gaussian fields, centres μ_m evenly from population-min to
 *               population-max, width σ (default: the centre spacing);
 *               g = exp(−(x − μ_m)²/(2σ²)), then rate coded with gain and
 *               offset
 *
 * u is a pure function of (seed, output neuron, global step), the global
 * step counting from the last reset: a stream encodes identically whatever
 * its buffer boundaries, on the C path and on OpenCL (tests check the bits).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "physnn/encode.h"
#include "physnn/enums.h"
#include "physnn/error.h"
#include "physnn/snn-math-private.h"
#include "physnn/tensor-private.h"

#include <math.h>
#include <string.h>

#define DEFAULT_METHOD PHYSNN_ENCODE_RATE
#define DEFAULT_NUM_STEPS 8
#define DEFAULT_SEED 0
#define DEFAULT_GAIN 1.0
#define DEFAULT_OFFSET 0.0
#define DEFAULT_F_MAX 100.0
#define DEFAULT_DT 1e-3
#define DEFAULT_TAU 1.0
#define DEFAULT_THRESHOLD 0.1
#define DEFAULT_POP_SIZE 8
#define DEFAULT_POP_MIN 0.0
#define DEFAULT_POP_MAX 1.0
#define DEFAULT_POP_SIGMA 0.0
#define MAX_NUM_STEPS 65536
#define MAX_POP_SIZE 1024
/* snnTorch's latency code raises inputs to threshold + epsilon. */
#define LATENCY_EPSILON 1e-7f

struct _PhysnnEncoder {
  GObject parent;

  PhysnnEncodeMethod method;
  guint num_steps;
  guint64 seed;
  gdouble gain, offset;
  gdouble f_max, dt;
  gdouble tau, threshold;
  gboolean linear, normalize, clip;
  gboolean off_spikes, padding;
  guint pop_size;
  gdouble pop_min, pop_max, pop_sigma;

  /* stream state */
  gsize n_neurons;       /* N of the running stream, 0 before */
  PhysnnTensor *prev;    /* float [N]: last sample (delta, Σ-Δ) */
  PhysnnTensor *residue; /* float [N]: Σ-Δ residue */
  gboolean started;
  guint64 step;
  guint64 spikes;
};

enum {
  PROP_0,
  PROP_METHOD,
  PROP_NUM_STEPS,
  PROP_SEED,
  PROP_GAIN,
  PROP_OFFSET,
  PROP_F_MAX,
  PROP_DT,
  PROP_TAU,
  PROP_THRESHOLD,
  PROP_LINEAR,
  PROP_NORMALIZE,
  PROP_CLIP,
  PROP_OFF_SPIKES,
  PROP_PADDING,
  PROP_POPULATION_SIZE,
  PROP_POPULATION_MIN,
  PROP_POPULATION_MAX,
  PROP_POPULATION_SIGMA,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

G_DEFINE_FINAL_TYPE (PhysnnEncoder, physnn_encoder, G_TYPE_OBJECT);

static void
physnn_encoder_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  PhysnnEncoder *self = PHYSNN_ENCODER (object);

  switch (prop_id) {
    case PROP_METHOD:
      self->method = g_value_get_enum (value);
      break;
    case PROP_NUM_STEPS:
      self->num_steps = g_value_get_uint (value);
      break;
    case PROP_SEED:
      self->seed = g_value_get_uint64 (value);
      break;
    case PROP_GAIN:
      self->gain = g_value_get_double (value);
      break;
    case PROP_OFFSET:
      self->offset = g_value_get_double (value);
      break;
    case PROP_F_MAX:
      self->f_max = g_value_get_double (value);
      break;
    case PROP_DT:
      self->dt = g_value_get_double (value);
      break;
    case PROP_TAU:
      self->tau = g_value_get_double (value);
      break;
    case PROP_THRESHOLD:
      self->threshold = g_value_get_double (value);
      break;
    case PROP_LINEAR:
      self->linear = g_value_get_boolean (value);
      break;
    case PROP_NORMALIZE:
      self->normalize = g_value_get_boolean (value);
      break;
    case PROP_CLIP:
      self->clip = g_value_get_boolean (value);
      break;
    case PROP_OFF_SPIKES:
      self->off_spikes = g_value_get_boolean (value);
      break;
    case PROP_PADDING:
      self->padding = g_value_get_boolean (value);
      break;
    case PROP_POPULATION_SIZE:
      self->pop_size = g_value_get_uint (value);
      break;
    case PROP_POPULATION_MIN:
      self->pop_min = g_value_get_double (value);
      break;
    case PROP_POPULATION_MAX:
      self->pop_max = g_value_get_double (value);
      break;
    case PROP_POPULATION_SIGMA:
      self->pop_sigma = g_value_get_double (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
physnn_encoder_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  PhysnnEncoder *self = PHYSNN_ENCODER (object);

  switch (prop_id) {
    case PROP_METHOD:
      g_value_set_enum (value, self->method);
      break;
    case PROP_NUM_STEPS:
      g_value_set_uint (value, self->num_steps);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, self->seed);
      break;
    case PROP_GAIN:
      g_value_set_double (value, self->gain);
      break;
    case PROP_OFFSET:
      g_value_set_double (value, self->offset);
      break;
    case PROP_F_MAX:
      g_value_set_double (value, self->f_max);
      break;
    case PROP_DT:
      g_value_set_double (value, self->dt);
      break;
    case PROP_TAU:
      g_value_set_double (value, self->tau);
      break;
    case PROP_THRESHOLD:
      g_value_set_double (value, self->threshold);
      break;
    case PROP_LINEAR:
      g_value_set_boolean (value, self->linear);
      break;
    case PROP_NORMALIZE:
      g_value_set_boolean (value, self->normalize);
      break;
    case PROP_CLIP:
      g_value_set_boolean (value, self->clip);
      break;
    case PROP_OFF_SPIKES:
      g_value_set_boolean (value, self->off_spikes);
      break;
    case PROP_PADDING:
      g_value_set_boolean (value, self->padding);
      break;
    case PROP_POPULATION_SIZE:
      g_value_set_uint (value, self->pop_size);
      break;
    case PROP_POPULATION_MIN:
      g_value_set_double (value, self->pop_min);
      break;
    case PROP_POPULATION_MAX:
      g_value_set_double (value, self->pop_max);
      break;
    case PROP_POPULATION_SIGMA:
      g_value_set_double (value, self->pop_sigma);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
physnn_encoder_finalize (GObject *object)
{
  PhysnnEncoder *self = PHYSNN_ENCODER (object);
  g_clear_object (&self->prev);
  g_clear_object (&self->residue);
  G_OBJECT_CLASS (physnn_encoder_parent_class)->finalize (object);
}

static void
physnn_encoder_class_init (PhysnnEncoderClass *klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GParamFlags rw =
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  oc->set_property = physnn_encoder_set_property;
  oc->get_property = physnn_encoder_get_property;
  oc->finalize = physnn_encoder_finalize;

  props[PROP_METHOD] = g_param_spec_enum ("method", "Method",
      "Encoding: rate, poisson, latency, delta, sigma-delta or population "
      "(default rate)",
      PHYSNN_TYPE_ENCODE_METHOD, DEFAULT_METHOD, rw);
  props[PROP_NUM_STEPS] = g_param_spec_uint ("num-steps", "Steps per sample",
      "Time steps generated per input sample, 1 to 65536 (default 8)", 1,
      MAX_NUM_STEPS, DEFAULT_NUM_STEPS, rw);
  props[PROP_SEED] = g_param_spec_uint64 ("seed", "Seed",
      "Seed of the counter-based random numbers (rate, poisson, population): "
      "equal seeds give identical spikes on every device (default 0)",
      0, G_MAXUINT64, DEFAULT_SEED, rw);
  props[PROP_GAIN] = g_param_spec_double ("gain", "Gain",
      "rate, latency, population: the input (population: each field's "
      "response) is multiplied by gain before offset is added (default 1)",
      -G_MAXDOUBLE, G_MAXDOUBLE, DEFAULT_GAIN, rw);
  props[PROP_OFFSET] = g_param_spec_double ("offset", "Offset",
      "rate, latency, population: added after gain; the result is clamped "
      "to [0, 1] (default 0)",
      -G_MAXDOUBLE, G_MAXDOUBLE, DEFAULT_OFFSET, rw);
  props[PROP_F_MAX] = g_param_spec_double ("f-max", "Maximum rate",
      "poisson: firing rate in Hz of an input of 1 (default 100, as Norse)", 0,
      G_MAXDOUBLE, DEFAULT_F_MAX, rw);
  props[PROP_DT] = g_param_spec_double ("dt", "Step",
      "poisson: time step in seconds; the spike probability per step is "
      "dt·f_max·x (default 0.001, as Norse)",
      0, G_MAXDOUBLE, DEFAULT_DT, rw);
  props[PROP_TAU] = g_param_spec_double ("tau", "Tau",
      "latency: time constant in steps, positive (default 1, as snnTorch)", 0,
      G_MAXDOUBLE, DEFAULT_TAU, rw);
  props[PROP_THRESHOLD] = g_param_spec_double ("threshold", "Threshold",
      "latency: inputs below it fire last (or never, with clip), in [0, 1); "
      "delta and sigma-delta: the change that makes one spike, positive "
      "(default 0.1; snnTorch's latency default is 0.01)",
      0, G_MAXDOUBLE, DEFAULT_THRESHOLD, rw);
  props[PROP_LINEAR] = g_param_spec_boolean ("linear", "Linear",
      "latency: linear instead of logarithmic time code (default false)", FALSE,
      rw);
  props[PROP_NORMALIZE] = g_param_spec_boolean ("normalize", "Normalize",
      "latency: stretch the spike times over the sample's steps (default "
      "false)",
      FALSE, rw);
  props[PROP_CLIP] = g_param_spec_boolean ("clip", "Clip",
      "latency: inputs below the threshold do not spike (default false)", FALSE,
      rw);
  props[PROP_OFF_SPIKES] = g_param_spec_boolean ("off-spikes", "Off spikes",
      "delta, sigma-delta: also spike on decreases, on a second plane of "
      "neurons (default false)",
      FALSE, rw);
  props[PROP_PADDING] = g_param_spec_boolean ("padding", "Padding",
      "delta, sigma-delta: compare the first sample of a stream with itself "
      "instead of with 0 (default false)",
      FALSE, rw);
  props[PROP_POPULATION_SIZE] =
      g_param_spec_uint ("population-size", "Population size",
          "population: receptive fields per input, 2 to 1024 "
          "(default 8)",
          2, MAX_POP_SIZE, DEFAULT_POP_SIZE, rw);
  props[PROP_POPULATION_MIN] =
      g_param_spec_double ("population-min", "Population minimum",
          "population: centre of the first field "
          "(default 0)",
          -G_MAXDOUBLE, G_MAXDOUBLE, DEFAULT_POP_MIN, rw);
  props[PROP_POPULATION_MAX] =
      g_param_spec_double ("population-max", "Population maximum",
          "population: centre of the last field, above "
          "population-min (default 1)",
          -G_MAXDOUBLE, G_MAXDOUBLE, DEFAULT_POP_MAX, rw);
  props[PROP_POPULATION_SIGMA] =
      g_param_spec_double ("population-sigma", "Population width",
          "population: standard deviation of each field; "
          "0 = the spacing of the centres (default 0)",
          0, G_MAXDOUBLE, DEFAULT_POP_SIGMA, rw);
  g_object_class_install_properties (oc, N_PROPS, props);
}

static void
physnn_encoder_init (PhysnnEncoder *self)
{
  self->method = DEFAULT_METHOD;
  self->num_steps = DEFAULT_NUM_STEPS;
  self->seed = DEFAULT_SEED;
  self->gain = DEFAULT_GAIN;
  self->offset = DEFAULT_OFFSET;
  self->f_max = DEFAULT_F_MAX;
  self->dt = DEFAULT_DT;
  self->tau = DEFAULT_TAU;
  self->threshold = DEFAULT_THRESHOLD;
  self->pop_size = DEFAULT_POP_SIZE;
  self->pop_min = DEFAULT_POP_MIN;
  self->pop_max = DEFAULT_POP_MAX;
  self->pop_sigma = DEFAULT_POP_SIGMA;
}

/**
 * physnn_encoder_new:
 * @method: the encoding
 *
 * Creates an encoder; set its other parameters as properties.
 *
 * Returns: (transfer full): a new #PhysnnEncoder
 */
PhysnnEncoder *
physnn_encoder_new (PhysnnEncodeMethod method)
{
  return g_object_new (PHYSNN_TYPE_ENCODER, "method", method, NULL);
}

/**
 * physnn_encoder_validate:
 * @self: a #PhysnnEncoder
 * @error: return location for a #GError
 *
 * Checks that the parameters the method uses are finite and in range (the
 * property ranges check each alone; this checks what they mean together).
 *
 * Returns: %TRUE if the encoder can run
 */
gboolean
physnn_encoder_validate (PhysnnEncoder *self, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_ENCODER (self), FALSE);
#define BAD(...)                                                               \
  G_STMT_START                                                                 \
  {                                                                            \
    g_set_error (                                                              \
        error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT, __VA_ARGS__);      \
    return FALSE;                                                              \
  }                                                                            \
  G_STMT_END

  if (!isfinite (self->gain) || !isfinite (self->offset))
    BAD ("encoder: gain and offset must be finite (gain %g, offset %g)",
        self->gain, self->offset);
  switch (self->method) {
    case PHYSNN_ENCODE_POISSON:
      if (!isfinite (self->f_max * self->dt))
        BAD ("poisson encoder: dt·f-max must be finite (dt %g, f-max %g)",
            self->dt, self->f_max);
      break;
    case PHYSNN_ENCODE_LATENCY:
      if (!(self->tau > 0) || !isfinite (self->tau))
        BAD ("latency encoder: tau must be positive and finite, not %g",
            self->tau);
      if (!(self->threshold >= 0 && self->threshold < 1))
        BAD ("latency encoder: threshold must be in [0, 1), not %g",
            self->threshold);
      break;
    case PHYSNN_ENCODE_DELTA:
    case PHYSNN_ENCODE_SIGMA_DELTA:
      if (!(self->threshold > 0) || !isfinite (self->threshold))
        BAD ("%s encoder: threshold must be positive and finite, not %g",
            self->method == PHYSNN_ENCODE_DELTA ? "delta" : "sigma-delta",
            self->threshold);
      break;
    case PHYSNN_ENCODE_POPULATION:
      if (!isfinite (self->pop_min) || !isfinite (self->pop_max) ||
          !(self->pop_max > self->pop_min))
        BAD ("population encoder: population-max (%g) must be above "
             "population-min (%g)",
            self->pop_max, self->pop_min);
      if (!isfinite (self->pop_sigma))
        BAD ("population encoder: population-sigma must be finite");
      break;
    default:
      break;
  }
#undef BAD
  return TRUE;
}

/**
 * physnn_encoder_get_outputs_per_input:
 * @self: a #PhysnnEncoder
 *
 * Returns: output neurons per input value and step: 2 with off spikes
 *   (delta, sigma-delta), the population size for population coding, else 1
 */
guint
physnn_encoder_get_outputs_per_input (PhysnnEncoder *self)
{
  g_return_val_if_fail (PHYSNN_IS_ENCODER (self), 1);
  if (self->method == PHYSNN_ENCODE_POPULATION)
    return self->pop_size;
  return physnn_encoder_has_polarity (self) ? 2 : 1;
}

/**
 * physnn_encoder_has_polarity:
 * @self: a #PhysnnEncoder
 *
 * Returns: whether the output has an off plane after the on plane
 */
gboolean
physnn_encoder_has_polarity (PhysnnEncoder *self)
{
  g_return_val_if_fail (PHYSNN_IS_ENCODER (self), FALSE);
  return self->off_spikes && (self->method == PHYSNN_ENCODE_DELTA ||
                                 self->method == PHYSNN_ENCODE_SIGMA_DELTA);
}

/**
 * physnn_encoder_get_num_steps:
 * @self: a #PhysnnEncoder
 *
 * Returns: time steps per input sample
 */
guint
physnn_encoder_get_num_steps (PhysnnEncoder *self)
{
  g_return_val_if_fail (PHYSNN_IS_ENCODER (self), 1);
  return self->num_steps;
}

/**
 * physnn_encoder_reset:
 * @self: a #PhysnnEncoder
 *
 * Starts a new stream: forgets the previous sample and the sigma-delta
 * residue, and restarts the step counter of the random numbers.
 */
void
physnn_encoder_reset (PhysnnEncoder *self)
{
  g_return_if_fail (PHYSNN_IS_ENCODER (self));
  g_clear_object (&self->prev);
  g_clear_object (&self->residue);
  self->n_neurons = 0;
  self->started = FALSE;
  self->step = 0;
  self->spikes = 0;
}

/**
 * physnn_encoder_get_step:
 * @self: a #PhysnnEncoder
 *
 * Returns: time steps generated since the last reset
 */
guint64
physnn_encoder_get_step (PhysnnEncoder *self)
{
  g_return_val_if_fail (PHYSNN_IS_ENCODER (self), 0);
  return self->step;
}

/**
 * physnn_encoder_get_spike_count:
 * @self: a #PhysnnEncoder
 *
 * Returns: spikes generated since the last reset (on and off)
 */
guint64
physnn_encoder_get_spike_count (PhysnnEncoder *self)
{
  g_return_val_if_fail (PHYSNN_IS_ENCODER (self), 0);
  return self->spikes;
}

/* ------------------------------------------------------------------------ */
/* Parameters as the kernels see them: float, computed once on the host so
 * both paths start from the same bits. */

typedef struct {
  guint32 n, steps, n_samples, per_input, n_out;
  gfloat a, b;                   /* gain/offset, or dt·f_max */
  gfloat mu0, mu_step, inv2s2;   /* population */
  gfloat tau, thr, thr_eps, cap; /* latency */
  guint32 mode;                  /* 0 rate, 1 poisson, 2 population */
} EncParams;

static void
make_params (PhysnnEncoder *self, gsize n, guint n_samples, EncParams *p)
{
  memset (p, 0, sizeof *p);
  p->n = (guint32)n;
  p->steps = self->num_steps;
  p->n_samples = n_samples;
  p->per_input = physnn_encoder_get_outputs_per_input (self);
  p->n_out = (guint32)(n * p->per_input);
  p->a = (gfloat)self->gain;
  p->b = (gfloat)self->offset;
  switch (self->method) {
    case PHYSNN_ENCODE_POISSON:
      p->mode = 1;
      p->a = (gfloat)(self->dt * self->f_max);
      p->b = 0.0f;
      break;
    case PHYSNN_ENCODE_POPULATION: {
      gdouble spacing = (self->pop_max - self->pop_min) / (self->pop_size - 1);
      gdouble sigma = self->pop_sigma > 0 ? self->pop_sigma : spacing;
      p->mode = 2;
      p->mu0 = (gfloat)self->pop_min;
      p->mu_step = (gfloat)spacing;
      p->inv2s2 = (gfloat)(1.0 / (2.0 * sigma * sigma));
      break;
    }
    case PHYSNN_ENCODE_LATENCY: {
      gfloat thr = (gfloat)self->threshold;
      p->thr = thr;
      p->thr_eps = thr + LATENCY_EPSILON;
      if (self->linear && self->normalize)
        p->tau = (gfloat)(self->num_steps - 1);
      else
        p->tau = (gfloat)self->tau;
      /* snnTorch: clamp_max(−τ(x − 1), −τ(θ − 1)) */
      p->cap = -p->tau * (thr - 1.0f);
      break;
    }
    default:
      p->thr = (gfloat)self->threshold;
      break;
  }
}

/* ------------------------------------------------------------------------ */
/* Reference C path */

static void
ref_bernoulli (const EncParams *p, guint64 seed, guint64 step0, const gfloat *x,
    guint8 *out)
{
  gsize total = (gsize)p->n_samples * p->steps;
  for (gsize s = 0; s < total; s++) {
    const gfloat *xs = x + (s / p->steps) * p->n;
    guint8 *os = out + s * p->n_out;
    for (guint32 j = 0; j < p->n_out; j++) {
      guint32 i = j / p->per_input, m = j % p->per_input;
      gfloat v = xs[i], prob;
      if (p->mode == 1) {
        prob = v * p->a;
      } else if (p->mode == 2) {
        gfloat d = v - fmaf ((gfloat)m, p->mu_step, p->mu0);
        gfloat g = _physnn_det_exp (-(d * d) * p->inv2s2);
        prob = _physnn_clamp01 (fmaf (g, p->a, p->b));
      } else {
        prob = _physnn_clamp01 (fmaf (v, p->a, p->b));
      }
      os[j] = _physnn_uniform (seed, j, step0 + s) < prob;
    }
  }
}

static gfloat
latency_time (const EncParams *p, gboolean linear, gfloat v)
{
  if (linear) {
    gfloat t = -p->tau * (v - 1.0f);
    return t < p->cap ? t : p->cap;
  }
  gfloat vc = v < p->thr_eps ? p->thr_eps : v;
  return p->tau * (_physnn_det_log (vc) - _physnn_det_log (vc - p->thr));
}

/* The step of the spike, or -1 for none. */
static gint
latency_step (
    const EncParams *p, gboolean clip, gfloat v, gfloat t, gfloat scale)
{
  if (clip && v < p->thr)
    return -1;
  if (scale >= 0.0f)
    t = t * scale;
  gfloat k = rintf (t);
  if (!(k <= (gfloat)(p->steps - 1)))
    return -1;
  return (gint)k;
}

static void
ref_latency (
    PhysnnEncoder *self, const EncParams *p, const gfloat *x, guint8 *out)
{
  gboolean log_norm = self->normalize && !self->linear;
  for (guint32 k = 0; k < p->n_samples; k++) {
    const gfloat *xs = x + (gsize)k * p->n;
    gfloat scale = -1.0f;
    if (log_norm) {
      gfloat mx = 0.0f;
      for (guint32 i = 0; i < p->n; i++) {
        gfloat t =
            latency_time (p, FALSE, _physnn_clamp01 (fmaf (xs[i], p->a, p->b)));
        mx = t > mx ? t : mx;
      }
      scale =
          mx > 0.0f ? (gfloat)(p->steps - 1) * _physnn_det_recip (mx) : 0.0f;
    }
    for (guint32 i = 0; i < p->n; i++) {
      gfloat v = _physnn_clamp01 (fmaf (xs[i], p->a, p->b));
      gfloat t = latency_time (p, self->linear, v);
      gint step = latency_step (p, self->clip, v, t, scale);
      for (guint32 s = 0; s < p->steps; s++)
        out[((gsize)k * p->steps + s) * p->n + i] = (gint)s == step;
    }
  }
}

static void
ref_delta (PhysnnEncoder *self, const EncParams *p, gboolean sigma,
    gboolean pad_first, const gfloat *x, gfloat *prev, gfloat *res, guint8 *out)
{
  guint32 planes = self->off_spikes ? 2 : 1;
  gboolean off = self->off_spikes;
  for (guint32 i = 0; i < p->n; i++) {
    gfloat pv = prev[i], r = res[i];
    for (guint32 k = 0; k < p->n_samples; k++) {
      gfloat v = x[(gsize)k * p->n + i];
      if (k == 0 && pad_first)
        pv = v;
      gsize s0 = (gsize)k * p->steps;
      for (guint32 s = 0; s < p->steps; s++) {
        out[((s0 + s) * planes) * p->n + i] = 0;
        if (off)
          out[((s0 + s) * planes + 1) * p->n + i] = 0;
      }
      if (!sigma) {
        gfloat d = v - pv;
        out[(s0 * planes) * p->n + i] = d >= p->thr;
        if (off)
          out[(s0 * planes + 1) * p->n + i] = d <= -p->thr;
      } else {
        r = (v - pv) + r;
        for (guint32 s = 0; s < p->steps; s++) {
          if (r >= p->thr) {
            out[((s0 + s) * planes) * p->n + i] = 1;
            r = r - p->thr;
          } else if (off && r <= -p->thr) {
            out[((s0 + s) * planes + 1) * p->n + i] = 1;
            r = r + p->thr;
          } else {
            break;
          }
        }
        if (!off && r < 0.0f)
          r = 0.0f;
      }
      pv = v;
    }
    prev[i] = pv;
    res[i] = r;
  }
}

/* ------------------------------------------------------------------------ */
/* OpenCL path */

#define SET(k, i, v) clSetKernelArg ((k), (i), sizeof (v), &(v))

static gboolean
cl_bernoulli (PhysnnDevice *dev, const EncParams *p, guint64 seed,
    guint64 step0, cl_mem xm, guint32 xoff, cl_mem om, guint32 ooff,
    GError **error)
{
  cl_kernel k = _physnn_device_get_kernel (
      dev, "encode.cl", NULL, "physnn_encode_bernoulli", error);
  if (k == NULL)
    return FALSE;
  cl_ulong s = seed, st = step0;
  gsize global = (gsize)p->n_out * p->n_samples * p->steps;
  guint32 total = (guint32)global;
  _physnn_device_lock (dev);
  SET (k, 0, total);
  SET (k, 1, p->n);
  SET (k, 2, p->n_out);
  SET (k, 3, p->steps);
  SET (k, 4, p->per_input);
  SET (k, 5, p->mode);
  SET (k, 6, p->a);
  SET (k, 7, p->b);
  SET (k, 8, p->mu0);
  SET (k, 9, p->mu_step);
  SET (k, 10, p->inv2s2);
  SET (k, 11, s);
  SET (k, 12, st);
  SET (k, 13, xm);
  SET (k, 14, xoff);
  SET (k, 15, om);
  SET (k, 16, ooff);
  gboolean ok = _physnn_device_enqueue (dev, k, 1, &global, NULL, error);
  _physnn_device_unlock (dev);
  return ok;
}

static gboolean
cl_latency (PhysnnEncoder *self, PhysnnDevice *dev, const EncParams *p,
    cl_mem xm, guint32 xoff, cl_mem om, guint32 ooff, GError **error)
{
  guint32 log_norm = self->normalize && !self->linear;
  guint32 linear = self->linear, clip = self->clip;
  g_autoptr (PhysnnTensor) scale = NULL;
  cl_mem sm = NULL;
  gsize soff = 0;
  gboolean ok;

  gsize shape[1] = { MAX (p->n_samples, 1) };
  scale = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, shape);
  sm =
      _physnn_tensor_get_cl_mem (scale, dev, PHYSNN_ACCESS_WRITE, &soff, error);
  if (sm == NULL)
    return FALSE;

  cl_kernel ks = _physnn_device_get_kernel (
      dev, "encode.cl", NULL, "physnn_encode_latency_scale", error);
  if (ks == NULL)
    return FALSE;
  cl_kernel kl = _physnn_device_get_kernel (
      dev, "encode.cl", NULL, "physnn_encode_latency", error);
  if (kl == NULL)
    return FALSE;

  _physnn_device_lock (dev);
  gsize g1 = p->n_samples;
  SET (ks, 0, p->n_samples);
  SET (ks, 1, p->n);
  SET (ks, 2, p->steps);
  SET (ks, 3, log_norm);
  SET (ks, 4, p->a);
  SET (ks, 5, p->b);
  SET (ks, 6, p->tau);
  SET (ks, 7, p->thr);
  SET (ks, 8, p->thr_eps);
  SET (ks, 9, xm);
  SET (ks, 10, xoff);
  SET (ks, 11, sm);
  ok = _physnn_device_enqueue (dev, ks, 1, &g1, NULL, error);
  if (ok) {
    gsize g2 = (gsize)p->n_samples * p->n;
    guint32 total = (guint32)g2;
    SET (kl, 0, total);
    SET (kl, 1, p->n);
    SET (kl, 2, p->steps);
    SET (kl, 3, linear);
    SET (kl, 4, clip);
    SET (kl, 5, p->a);
    SET (kl, 6, p->b);
    SET (kl, 7, p->tau);
    SET (kl, 8, p->thr);
    SET (kl, 9, p->thr_eps);
    SET (kl, 10, p->cap);
    SET (kl, 11, xm);
    SET (kl, 12, xoff);
    SET (kl, 13, sm);
    SET (kl, 14, om);
    SET (kl, 15, ooff);
    ok = _physnn_device_enqueue (dev, kl, 1, &g2, NULL, error);
  }
  _physnn_device_unlock (dev);
  return ok;
}

static gboolean
cl_delta (PhysnnEncoder *self, PhysnnDevice *dev, const EncParams *p,
    gboolean sigma, gboolean pad_first, cl_mem xm, guint32 xoff, cl_mem om,
    guint32 ooff, GError **error)
{
  gsize poff = 0, roff = 0;
  cl_mem pm = _physnn_tensor_get_cl_mem (
      self->prev, dev, PHYSNN_ACCESS_READWRITE, &poff, error);
  if (pm == NULL)
    return FALSE;
  cl_mem rm = _physnn_tensor_get_cl_mem (
      self->residue, dev, PHYSNN_ACCESS_READWRITE, &roff, error);
  if (rm == NULL)
    return FALSE;
  cl_kernel k = _physnn_device_get_kernel (
      dev, "encode.cl", NULL, "physnn_encode_delta", error);
  if (k == NULL)
    return FALSE;
  guint32 sg = sigma, off = self->off_spikes, pad = pad_first;
  gsize global = p->n;
  _physnn_device_lock (dev);
  SET (k, 0, p->n);
  SET (k, 1, p->n_samples);
  SET (k, 2, p->steps);
  SET (k, 3, sg);
  SET (k, 4, off);
  SET (k, 5, pad);
  SET (k, 6, p->thr);
  SET (k, 7, xm);
  SET (k, 8, xoff);
  SET (k, 9, pm);
  SET (k, 10, rm);
  SET (k, 11, om);
  SET (k, 12, ooff);
  gboolean ok = _physnn_device_enqueue (dev, k, 1, &global, NULL, error);
  _physnn_device_unlock (dev);
  return ok;
}

#undef SET

/* ------------------------------------------------------------------------ */

static gboolean
ensure_state (PhysnnEncoder *self, gsize n, GError **error)
{
  if (self->n_neurons == n)
    return TRUE;
  if (self->n_neurons != 0 && (self->method == PHYSNN_ENCODE_DELTA ||
                                  self->method == PHYSNN_ENCODE_SIGMA_DELTA)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "encoder: the stream had %" G_GSIZE_FORMAT " inputs per sample and "
        "now has %" G_GSIZE_FORMAT "; reset the encoder first",
        self->n_neurons, n);
    return FALSE;
  }
  gsize shape[1] = { n };
  g_clear_object (&self->prev);
  g_clear_object (&self->residue);
  self->prev = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, shape);
  self->residue = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, shape);
  physnn_tensor_fill (self->prev, 0.0);
  physnn_tensor_fill (self->residue, 0.0);
  self->n_neurons = n;
  return TRUE;
}

/**
 * physnn_encoder_encode:
 * @self: a #PhysnnEncoder
 * @device: where to compute
 * @input: float32 samples, @n_samples · N values, sample-major
 * @n_samples: samples in @input, at least 1
 * @output: uint8 spikes, n_samples · num-steps · N · outputs-per-input
 *   values, step-major (see physnn_encoder_get_outputs_per_input())
 * @error: return location for a #GError
 *
 * Encodes the samples, continuing the stream: the previous sample, the
 * sigma-delta residue and the random-number step carry over from the last
 * call. NaN or infinite inputs are an error.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_encoder_encode (PhysnnEncoder *self, PhysnnDevice *device,
    PhysnnTensor *input, guint n_samples, PhysnnTensor *output, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_ENCODER (self), FALSE);
  g_return_val_if_fail (PHYSNN_IS_DEVICE (device), FALSE);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (input), FALSE);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (output), FALSE);

  if (!physnn_encoder_validate (self, error))
    return FALSE;
  if (physnn_tensor_get_dtype (input) != PHYSNN_DTYPE_FLOAT32 ||
      physnn_tensor_get_dtype (output) != PHYSNN_DTYPE_UINT8) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "encoder: float32 input and uint8 output expected, got %s and %s",
        physnn_dtype_to_string (physnn_tensor_get_dtype (input)),
        physnn_dtype_to_string (physnn_tensor_get_dtype (output)));
    return FALSE;
  }
  gsize n_in = physnn_tensor_get_n_elements (input);
  if (n_samples == 0 || n_in == 0 || n_in % n_samples != 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "encoder: %" G_GSIZE_FORMAT " input values do not split into %u "
        "samples",
        n_in, n_samples);
    return FALSE;
  }
  gsize n = n_in / n_samples;
  guint per = physnn_encoder_get_outputs_per_input (self);
  gsize want = n_in * self->num_steps * per;
  if (want / self->num_steps / per != n_in || want > G_MAXUINT32) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "encoder: %" G_GSIZE_FORMAT " inputs × %u steps × %u outputs is "
        "more than 2^32 spikes per call",
        n_in, self->num_steps, per);
    return FALSE;
  }
  if (physnn_tensor_get_n_elements (output) != want) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "encoder: output has %" G_GSIZE_FORMAT " values, %u samples × %u "
        "steps × %" G_GSIZE_FORMAT " neurons need %" G_GSIZE_FORMAT,
        physnn_tensor_get_n_elements (output), n_samples, self->num_steps,
        n * per, want);
    return FALSE;
  }
  gsize bad = physnn_tensor_count_nonfinite (input);
  if (bad > 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
        "encoder: the input has %" G_GSIZE_FORMAT " NaN or infinite "
        "value(s)",
        bad);
    return FALSE;
  }
  if (!ensure_state (self, n, error))
    return FALSE;

  EncParams p;
  make_params (self, n, n_samples, &p);
  gboolean delta = self->method == PHYSNN_ENCODE_DELTA ||
                   self->method == PHYSNN_ENCODE_SIGMA_DELTA;
  gboolean sigma = self->method == PHYSNN_ENCODE_SIGMA_DELTA;
  gboolean pad_first = !self->started && self->padding;
  gboolean ok = TRUE;

  if (physnn_device_get_kind (device) == PHYSNN_DEVICE_KIND_OPENCL) {
    gsize xoff = 0, ooff = 0;
    cl_mem xm = _physnn_tensor_get_cl_mem (
        input, device, PHYSNN_ACCESS_READ, &xoff, error);
    if (xm == NULL)
      return FALSE;
    cl_mem om = _physnn_tensor_get_cl_mem (
        output, device, PHYSNN_ACCESS_WRITE, &ooff, error);
    if (om == NULL)
      return FALSE;
    guint32 xo = (guint32)(xoff / sizeof (gfloat)), oo = (guint32)ooff;
    if (delta)
      ok = cl_delta (self, device, &p, sigma, pad_first, xm, xo, om, oo, error);
    else if (self->method == PHYSNN_ENCODE_LATENCY)
      ok = cl_latency (self, device, &p, xm, xo, om, oo, error);
    else
      ok = cl_bernoulli (
          device, &p, self->seed, self->step, xm, xo, om, oo, error);
  } else {
    const gfloat *x = _physnn_tensor_host (input, PHYSNN_ACCESS_READ);
    guint8 *out = _physnn_tensor_host (output, PHYSNN_ACCESS_WRITE);
    if (delta)
      ref_delta (self, &p, sigma, pad_first, x,
          _physnn_tensor_host (self->prev, PHYSNN_ACCESS_READWRITE),
          _physnn_tensor_host (self->residue, PHYSNN_ACCESS_READWRITE), out);
    else if (self->method == PHYSNN_ENCODE_LATENCY)
      ref_latency (self, &p, x, out);
    else
      ref_bernoulli (&p, self->seed, self->step, x, out);
  }
  if (!ok)
    return FALSE;

  /* Spike counts for the caller's statistics: the output is read on the
   * host by every caller anyway. */
  const guint8 *o = physnn_tensor_map (output, PHYSNN_MAP_READ, NULL);
  guint64 count = 0;
  for (gsize i = 0; i < want; i++)
    count += o[i];
  physnn_tensor_unmap (output);
  self->spikes += count;
  self->step += (guint64)n_samples * self->num_steps;
  self->started = TRUE;
  return TRUE;
}

/**
 * physnn_encoder_encode_new:
 * @self: a #PhysnnEncoder
 * @device: where to compute
 * @input: float32 samples, @n_samples · N values, sample-major
 * @n_samples: samples in @input
 * @error: return location for a #GError
 *
 * Like physnn_encoder_encode(), into a new uint8 tensor of shape
 * [n_samples · num-steps][N · outputs-per-input].
 *
 * Returns: (transfer full) (nullable): the spikes, or %NULL on error
 */
PhysnnTensor *
physnn_encoder_encode_new (PhysnnEncoder *self, PhysnnDevice *device,
    PhysnnTensor *input, guint n_samples, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_ENCODER (self), NULL);
  g_return_val_if_fail (PHYSNN_IS_TENSOR (input), NULL);
  gsize n_in = physnn_tensor_get_n_elements (input);
  if (n_samples == 0 || n_in % n_samples != 0) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "encoder: %" G_GSIZE_FORMAT " input values do not split into %u "
        "samples",
        n_in, n_samples);
    return NULL;
  }
  gsize shape[2] = { (gsize)n_samples * self->num_steps,
    n_in / n_samples * physnn_encoder_get_outputs_per_input (self) };
  PhysnnTensor *out = physnn_tensor_new (PHYSNN_DTYPE_UINT8, 2, shape);
  if (!physnn_encoder_encode (self, device, input, n_samples, out, error))
    g_clear_object (&out);
  return out;
}
