/* physnn — physics versus data.
 *
 * Each buffer, every sensor's misfit m = reading − model prediction at the
 * sensor is standardised by the noise level σ (given, or estimated as
 * 1.4826 × the median absolute deviation of recent misfits of unflagged
 * sensors, never below a floor) and fed to two textbook detectors:
 *   Shewhart   |z| ≥ spike-threshold: a single wild reading
 *   CUSUM      S⁺ ← max(0, S⁺ + z − k), S⁻ ← max(0, S⁻ − z − k) with z
 *              clipped to ±spike-threshold (so one wild reading does not
 *              keep the alarm up for many buffers), alarm while S ≥ h:
 *              slow faults (drift, a stuck sensor, heat nobody modelled)
 * For a shift of δσ the CUSUM alarms after about (h + 1.17)/(δ − k)
 * buffers; with no fault its false-alarm rate per sensor and side is about
 * 2k² / (exp(2k(h + 1.17)) − 2k(h + 1.17) − 1) per buffer (Siegmund's
 * approximation).
 *
 * Regions: the points nearer to a sensor than to any other form its
 * region. A region is data-inconsistent when its sensor is flagged and
 * physics-inconsistent when the model's relative residual somewhere in it
 * exceeds a threshold.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/anomaly.h"
#include "physnn/error.h"
#include "physnn/tensor-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_NOISE_SIGMA 0.0
#define DEFAULT_SIGMA_FLOOR 1e-3
#define DEFAULT_CUSUM_DRIFT 0.5
#define DEFAULT_CUSUM_THRESHOLD 8.0
#define DEFAULT_SPIKE_THRESHOLD 5.0
#define DEFAULT_WINDOW 32
#define MIN_ESTIMATE_BUFFERS 3

enum {
  PROP_0,
  PROP_NOISE_SIGMA,
  PROP_SIGMA_FLOOR,
  PROP_CUSUM_DRIFT,
  PROP_CUSUM_THRESHOLD,
  PROP_SPIKE_THRESHOLD,
  PROP_WINDOW,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

typedef struct {
  gdouble misfit, z, s_pos, s_neg, score;
  gboolean flag;
  guint8 region;
  gdouble region_residual;
} Sensor;

struct _PhysnnAnomalyDetector {
  GObject parent;

  gdouble noise_sigma, sigma_floor, k, h, spike;
  guint window;

  guint n;
  Sensor *sensors;
  gdouble sigma;   /* in use at the last update */
  gfloat *history; /* window × n misfits, NaN = excluded */
  guint filled, head;

  /* region assignment, cached for unchanged positions */
  guint *owner;
  gsize n_points;
  gfloat *pos_key;
  gsize pos_key_len;
};

G_DEFINE_FINAL_TYPE (
    PhysnnAnomalyDetector, physnn_anomaly_detector, G_TYPE_OBJECT)

static void
physnn_anomaly_detector_finalize (GObject *object)
{
  PhysnnAnomalyDetector *self = PHYSNN_ANOMALY_DETECTOR (object);
  g_free (self->sensors);
  g_free (self->history);
  g_free (self->owner);
  g_free (self->pos_key);
  G_OBJECT_CLASS (physnn_anomaly_detector_parent_class)->finalize (object);
}

static void
set_property (GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  PhysnnAnomalyDetector *self = PHYSNN_ANOMALY_DETECTOR (object);
  switch (id) {
    case PROP_NOISE_SIGMA:
      self->noise_sigma = g_value_get_double (value);
      break;
    case PROP_SIGMA_FLOOR:
      self->sigma_floor = g_value_get_double (value);
      break;
    case PROP_CUSUM_DRIFT:
      self->k = g_value_get_double (value);
      break;
    case PROP_CUSUM_THRESHOLD:
      self->h = g_value_get_double (value);
      break;
    case PROP_SPIKE_THRESHOLD:
      self->spike = g_value_get_double (value);
      break;
    case PROP_WINDOW:
      self->window = g_value_get_uint (value);
      g_free (self->history);
      self->history = g_new (gfloat, (gsize)self->window * MAX (self->n, 1));
      self->filled = self->head = 0;
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
  }
}

static void
get_property (GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  PhysnnAnomalyDetector *self = PHYSNN_ANOMALY_DETECTOR (object);
  switch (id) {
    case PROP_NOISE_SIGMA:
      g_value_set_double (value, self->noise_sigma);
      break;
    case PROP_SIGMA_FLOOR:
      g_value_set_double (value, self->sigma_floor);
      break;
    case PROP_CUSUM_DRIFT:
      g_value_set_double (value, self->k);
      break;
    case PROP_CUSUM_THRESHOLD:
      g_value_set_double (value, self->h);
      break;
    case PROP_SPIKE_THRESHOLD:
      g_value_set_double (value, self->spike);
      break;
    case PROP_WINDOW:
      g_value_set_uint (value, self->window);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
  }
}

static void
physnn_anomaly_detector_class_init (PhysnnAnomalyDetectorClass *klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GParamFlags f =
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
  oc->finalize = physnn_anomaly_detector_finalize;
  oc->set_property = set_property;
  oc->get_property = get_property;

  /**
   * PhysnnAnomalyDetector:noise-sigma:
   *
   * Standard deviation of the sensor noise in field units; 0 estimates it.
   */
  props[PROP_NOISE_SIGMA] = g_param_spec_double ("noise-sigma", "Noise sigma",
      "Standard deviation of the sensor noise in field units; 0 estimates "
      "it from recent misfits of unflagged sensors (1.4826 x median "
      "absolute deviation) (default 0)",
      0, G_MAXDOUBLE, DEFAULT_NOISE_SIGMA, f);
  /**
   * PhysnnAnomalyDetector:sigma-floor:
   *
   * Smallest noise level used, in field units.
   */
  props[PROP_SIGMA_FLOOR] = g_param_spec_double ("sigma-floor", "Sigma floor",
      "Smallest noise level used, in field units: misfits much below it "
      "never raise an alarm, however quiet the sensors (default 0.001)",
      0, G_MAXDOUBLE, DEFAULT_SIGMA_FLOOR, f);
  /**
   * PhysnnAnomalyDetector:cusum-drift:
   *
   * CUSUM reference value k, in noise standard deviations.
   */
  props[PROP_CUSUM_DRIFT] = g_param_spec_double ("cusum-drift", "CUSUM drift",
      "CUSUM reference value k in noise standard deviations: half the "
      "smallest shift worth detecting quickly (default 0.5)",
      0, 100, DEFAULT_CUSUM_DRIFT, f);
  /**
   * PhysnnAnomalyDetector:cusum-threshold:
   *
   * CUSUM decision threshold h, in noise standard deviations.
   */
  props[PROP_CUSUM_THRESHOLD] =
      g_param_spec_double ("cusum-threshold", "CUSUM threshold",
          "CUSUM decision threshold h in noise standard deviations: larger "
          "means fewer false alarms and later detection (default 8)",
          0.1, 1e6, DEFAULT_CUSUM_THRESHOLD, f);
  /**
   * PhysnnAnomalyDetector:spike-threshold:
   *
   * A single misfit of this many noise standard deviations raises an
   * alarm.
   */
  props[PROP_SPIKE_THRESHOLD] =
      g_param_spec_double ("spike-threshold", "Spike threshold",
          "A single misfit of this many noise standard deviations raises an "
          "alarm at once (default 5)",
          0.1, 1e6, DEFAULT_SPIKE_THRESHOLD, f);
  /**
   * PhysnnAnomalyDetector:window:
   *
   * Buffers of misfits the noise estimate looks back over.
   */
  props[PROP_WINDOW] = g_param_spec_uint ("window", "Window",
      "Buffers of misfits the noise estimate looks back over (default 32)", 4,
      4096, DEFAULT_WINDOW, f);
  g_object_class_install_properties (oc, N_PROPS, props);
}

static void
physnn_anomaly_detector_init (PhysnnAnomalyDetector *self)
{
  self->noise_sigma = DEFAULT_NOISE_SIGMA;
  self->sigma_floor = DEFAULT_SIGMA_FLOOR;
  self->k = DEFAULT_CUSUM_DRIFT;
  self->h = DEFAULT_CUSUM_THRESHOLD;
  self->spike = DEFAULT_SPIKE_THRESHOLD;
  self->window = DEFAULT_WINDOW;
}

/**
 * physnn_anomaly_detector_new:
 * @n_sensors: the number of sensors (at least 1)
 *
 * Returns: (transfer full): a detector with the default thresholds
 */
PhysnnAnomalyDetector *
physnn_anomaly_detector_new (guint n_sensors)
{
  g_return_val_if_fail (n_sensors >= 1, NULL);
  PhysnnAnomalyDetector *self =
      g_object_new (PHYSNN_TYPE_ANOMALY_DETECTOR, NULL);
  self->n = n_sensors;
  self->sensors = g_new0 (Sensor, n_sensors);
  self->history = g_new (gfloat, (gsize)self->window * n_sensors);
  return self;
}

/**
 * physnn_anomaly_detector_get_n_sensors:
 * @self: a detector
 *
 * Returns: the number of sensors
 */
guint
physnn_anomaly_detector_get_n_sensors (PhysnnAnomalyDetector *self)
{
  g_return_val_if_fail (PHYSNN_IS_ANOMALY_DETECTOR (self), 0);
  return self->n;
}

/**
 * physnn_anomaly_detector_reset:
 * @self: a detector
 *
 * Forgets the detectors' state and the noise history (a new stream).
 */
void
physnn_anomaly_detector_reset (PhysnnAnomalyDetector *self)
{
  g_return_if_fail (PHYSNN_IS_ANOMALY_DETECTOR (self));
  memset (self->sensors, 0, self->n * sizeof (Sensor));
  self->filled = self->head = 0;
  self->sigma = 0;
}

static int
cmp_float (const void *a, const void *b)
{
  gfloat x = *(const gfloat *)a, y = *(const gfloat *)b;
  return (x > y) - (x < y);
}

static gdouble
median (gfloat *v, gsize n)
{
  qsort (v, n, sizeof (gfloat), cmp_float);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* 1.4826 × MAD of the misfits in the window (NaN entries excluded). */
static gdouble
estimate_sigma (PhysnnAnomalyDetector *self)
{
  gsize total = (gsize)self->filled * self->n, m = 0;
  g_autofree gfloat *v = g_new (gfloat, MAX (total, 1));
  for (gsize i = 0; i < total; i++)
    if (!isnan (self->history[i]))
      v[m++] = self->history[i];
  if (m < 3)
    return 0;
  gdouble med = median (v, m);
  for (gsize i = 0; i < m; i++)
    v[i] = fabsf (v[i] - (gfloat)med);
  return 1.4826 * median (v, m);
}

/**
 * physnn_anomaly_detector_update:
 * @self: a detector
 * @readings: the sensor readings, [sensors] (any float type)
 * @predictions: the model at the sensors, [sensors]
 * @error: return location for a #GError
 *
 * Takes one buffer's readings. A non-finite reading raises its sensor's
 * flag (a dead sensor is an anomaly too) and leaves its detector as it
 * was.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_anomaly_detector_update (PhysnnAnomalyDetector *self,
    PhysnnTensor *readings, PhysnnTensor *predictions, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_ANOMALY_DETECTOR (self), FALSE);
  gsize nr = physnn_tensor_get_n_elements (readings);
  gsize np = physnn_tensor_get_n_elements (predictions);
  if (nr != self->n || np != self->n) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "anomaly detector for %u sensors given %" G_GSIZE_FORMAT
        " readings and %" G_GSIZE_FORMAT " predictions",
        self->n, nr, np);
    return FALSE;
  }
  g_autofree gdouble *r = physnn_tensor_to_doubles (readings, &nr);
  g_autofree gdouble *p = physnn_tensor_to_doubles (predictions, &np);

  /* the noise level: from the history before this buffer */
  gboolean ready = TRUE;
  if (self->noise_sigma > 0) {
    self->sigma = self->noise_sigma;
  } else {
    self->sigma = estimate_sigma (self);
    ready = self->filled >= MIN_ESTIMATE_BUFFERS;
  }
  gdouble sigma = MAX (self->sigma, self->sigma_floor);
  if (!(sigma > 0))
    sigma = G_MINDOUBLE;

  gfloat *row = self->history + (gsize)self->head * self->n;
  for (guint i = 0; i < self->n; i++) {
    Sensor *s = &self->sensors[i];
    s->misfit = r[i] - p[i];
    if (!isfinite (s->misfit)) {
      s->flag = TRUE;
      s->score = INFINITY;
      row[i] = NAN;
      continue;
    }
    s->z = s->misfit / sigma;
    if (ready) {
      gdouble zc = CLAMP (s->z, -self->spike, self->spike);
      s->s_pos = MAX (0.0, s->s_pos + zc - self->k);
      s->s_neg = MAX (0.0, s->s_neg - zc - self->k);
    }
    s->score = ready ? MAX (MAX (s->s_pos, s->s_neg) / self->h,
                           fabs (s->z) / self->spike)
                     : 0.0;
    gboolean was = s->flag;
    s->flag = s->score >= 1.0;
    /* flagged sensors do not teach us what noise looks like */
    row[i] = s->flag || was ? NAN : (gfloat)s->misfit;
  }
  self->head = (self->head + 1) % self->window;
  self->filled = MIN (self->filled + 1, self->window);
  return TRUE;
}

/**
 * physnn_anomaly_detector_get_sigma:
 * @self: a detector
 *
 * Returns: the noise level used at the last update, in field units
 *   (before the floor; 0 while too few buffers were seen to estimate it)
 */
gdouble
physnn_anomaly_detector_get_sigma (PhysnnAnomalyDetector *self)
{
  g_return_val_if_fail (PHYSNN_IS_ANOMALY_DETECTOR (self), 0);
  return MAX (self->sigma, self->sigma_floor);
}

/**
 * physnn_anomaly_detector_get_misfit:
 * @self: a detector
 * @sensor: a sensor index
 *
 * Returns: reading − prediction at the last update
 */
gdouble
physnn_anomaly_detector_get_misfit (PhysnnAnomalyDetector *self, guint sensor)
{
  g_return_val_if_fail (PHYSNN_IS_ANOMALY_DETECTOR (self), NAN);
  return sensor < self->n ? self->sensors[sensor].misfit : NAN;
}

/**
 * physnn_anomaly_detector_get_score:
 * @self: a detector
 * @sensor: a sensor index
 *
 * Returns: the larger of CUSUM/threshold and |z|/spike-threshold: 1 or
 *   more raises the sensor's flag
 */
gdouble
physnn_anomaly_detector_get_score (PhysnnAnomalyDetector *self, guint sensor)
{
  g_return_val_if_fail (PHYSNN_IS_ANOMALY_DETECTOR (self), NAN);
  return sensor < self->n ? self->sensors[sensor].score : NAN;
}

/**
 * physnn_anomaly_detector_get_flag:
 * @self: a detector
 * @sensor: a sensor index
 *
 * Returns: whether the sensor disagrees with the model
 */
gboolean
physnn_anomaly_detector_get_flag (PhysnnAnomalyDetector *self, guint sensor)
{
  g_return_val_if_fail (PHYSNN_IS_ANOMALY_DETECTOR (self), FALSE);
  return sensor < self->n && self->sensors[sensor].flag;
}

/**
 * physnn_anomaly_detector_get_n_flagged:
 * @self: a detector
 *
 * Returns: the number of flagged sensors
 */
guint
physnn_anomaly_detector_get_n_flagged (PhysnnAnomalyDetector *self)
{
  g_return_val_if_fail (PHYSNN_IS_ANOMALY_DETECTOR (self), 0);
  guint c = 0;
  for (guint i = 0; i < self->n; i++)
    c += self->sensors[i].flag;
  return c;
}

/**
 * physnn_anomaly_detector_classify:
 * @self: a detector
 * @sensor_positions: [sensors, d] spatial coordinates of the sensors
 * @point_positions: [N, d] spatial coordinates of the residual's points
 * @relative_residual: [N] |r| relative to the size of the PDE's terms
 * @threshold: the relative residual above which the model is
 *   physics-inconsistent
 * @error: return location for a #GError
 *
 * Classifies the region of every sensor (the points nearer to it than to
 * any other) from the sensor's flag and the largest relative residual in
 * the region.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_anomaly_detector_classify (PhysnnAnomalyDetector *self,
    PhysnnTensor *sensor_positions, PhysnnTensor *point_positions,
    PhysnnTensor *relative_residual, gdouble threshold, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_ANOMALY_DETECTOR (self), FALSE);
  gsize ns = physnn_tensor_get_n_elements (sensor_positions);
  gsize nq = physnn_tensor_get_n_elements (point_positions);
  gsize n = physnn_tensor_get_n_elements (relative_residual);
  gsize d = ns / self->n;
  if (d == 0 || ns != d * self->n || nq != d * n) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "regions: %" G_GSIZE_FORMAT
        " sensor coordinates for %u sensors, %" G_GSIZE_FORMAT
        " point coordinates for %" G_GSIZE_FORMAT " points",
        ns, self->n, nq, n);
    return FALSE;
  }
  g_autofree gdouble *sp = physnn_tensor_to_doubles (sensor_positions, &ns);
  g_autofree gdouble *rr = physnn_tensor_to_doubles (relative_residual, &n);

  /* nearest sensor per point; recomputed only when positions change */
  gboolean same =
      self->owner && self->n_points == n && self->pos_key_len == ns + nq;
  g_autofree gdouble *qp = physnn_tensor_to_doubles (point_positions, &nq);
  for (gsize i = 0; same && i < ns; i++)
    same = self->pos_key[i] == (gfloat)sp[i];
  for (gsize i = 0; same && i < nq; i++)
    same = self->pos_key[ns + i] == (gfloat)qp[i];
  if (!same) {
    g_free (self->owner);
    g_free (self->pos_key);
    self->owner = g_new (guint, MAX (n, 1));
    self->n_points = n;
    self->pos_key_len = ns + nq;
    self->pos_key = g_new (gfloat, ns + nq);
    for (gsize i = 0; i < ns; i++)
      self->pos_key[i] = (gfloat)sp[i];
    for (gsize i = 0; i < nq; i++)
      self->pos_key[ns + i] = (gfloat)qp[i];
    for (gsize q = 0; q < n; q++) {
      gdouble best = INFINITY;
      guint who = 0;
      for (guint s = 0; s < self->n; s++) {
        gdouble dd = 0;
        for (gsize k = 0; k < d; k++) {
          gdouble t = qp[q * d + k] - sp[s * d + k];
          dd += t * t;
        }
        if (dd < best) {
          best = dd;
          who = s;
        }
      }
      self->owner[q] = who;
    }
  }
  for (guint s = 0; s < self->n; s++)
    self->sensors[s].region_residual = 0;
  for (gsize q = 0; q < n; q++) {
    Sensor *s = &self->sensors[self->owner[q]];
    gdouble v = isfinite (rr[q]) ? rr[q] : INFINITY;
    s->region_residual = MAX (s->region_residual, v);
  }
  for (guint s = 0; s < self->n; s++) {
    Sensor *x = &self->sensors[s];
    x->region =
        (x->flag ? PHYSNN_REGION_DATA_INCONSISTENT : 0) |
        (x->region_residual > threshold ? PHYSNN_REGION_PHYSICS_INCONSISTENT
                                        : 0);
  }
  return TRUE;
}

/**
 * physnn_anomaly_detector_get_region_class:
 * @self: a detector
 * @sensor: a sensor index
 *
 * Returns: the class of the sensor's region at the last classification
 */
PhysnnRegionClass
physnn_anomaly_detector_get_region_class (
    PhysnnAnomalyDetector *self, guint sensor)
{
  g_return_val_if_fail (PHYSNN_IS_ANOMALY_DETECTOR (self), 0);
  return sensor < self->n ? self->sensors[sensor].region : 0;
}

/**
 * physnn_anomaly_detector_get_region_residual:
 * @self: a detector
 * @sensor: a sensor index
 *
 * Returns: the largest relative residual in the sensor's region at the
 *   last classification
 */
gdouble
physnn_anomaly_detector_get_region_residual (
    PhysnnAnomalyDetector *self, guint sensor)
{
  g_return_val_if_fail (PHYSNN_IS_ANOMALY_DETECTOR (self), NAN);
  return sensor < self->n ? self->sensors[sensor].region_residual : NAN;
}
