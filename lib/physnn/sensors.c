/* physnn — PhysnnSensors: point sensors reading a PhysnnSimulator, with
 * Gaussian noise and injected faults whose ground truth comes back as a
 * mask, for anomaly-detection demos and tests.
 *
 * Order of effects in one reading: sample the simulated field at each
 * position (linear or bilinear interpolation), apply the fault (stuck, drift
 * or spike), then add noise to every sensor that is not stuck. The noise
 * stream is drawn for every sensor of every reading, stuck or not, so that
 * enabling a fault never changes the noise of the healthy sensors and a
 * seed gives the same readings whatever the fault settings.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/sensors.h"
#include "physnn/error.h"
#include "physnn/enums.h"

#include <math.h>
#include <string.h>

struct _PhysnnSensors {
  GObject parent;

  guint n;
  gdouble *x;
  gdouble *y; /* zeros when has_y is FALSE */
  gboolean has_y;

  gdouble noise_sigma;
  guint64 seed;
  PhysnnFaultKind fault;
  gint fault_sensor;
  gdouble fault_start;
  gdouble fault_duration;
  gdouble fault_magnitude;

  GRand *rand;
  gboolean have_spare; /* Box–Muller makes deviates in pairs */
  gdouble spare;

  gdouble *held; /* stuck: the value read at the onset */
  gboolean held_valid;
  gboolean spiked;
  gdouble last_t;
};

enum {
  PROP_0,
  PROP_NOISE_SIGMA,
  PROP_SEED,
  PROP_FAULT,
  PROP_FAULT_SENSOR,
  PROP_FAULT_START,
  PROP_FAULT_DURATION,
  PROP_FAULT_MAGNITUDE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (PhysnnSensors, physnn_sensors, G_TYPE_OBJECT)

static void
restart_faults (PhysnnSensors *self)
{
  self->held_valid = FALSE;
  self->spiked = FALSE;
  self->last_t = -INFINITY;
}

static void
restart_noise (PhysnnSensors *self)
{
  guint32 words[2] = { (guint32)self->seed, (guint32)(self->seed >> 32) };

  g_clear_pointer (&self->rand, g_rand_free);
  self->rand = g_rand_new_with_seed_array (words, 2);
  self->have_spare = FALSE;
}

/* Box–Muller; 1 − U keeps the logarithm finite. */
static gdouble
next_normal (PhysnnSensors *self)
{
  if (self->have_spare) {
    self->have_spare = FALSE;
    return self->spare;
  }
  gdouble r = sqrt (-2.0 * log (1.0 - g_rand_double (self->rand)));
  gdouble phi = 2.0 * G_PI * g_rand_double (self->rand);
  self->spare = r * sin (phi);
  self->have_spare = TRUE;
  return r * cos (phi);
}

static PhysnnSensors *
sensors_alloc (guint n)
{
  PhysnnSensors *self = g_object_new (PHYSNN_TYPE_SENSORS, NULL);

  self->n = n;
  self->x = g_new0 (gdouble, n);
  self->y = g_new0 (gdouble, n);
  self->held = g_new0 (gdouble, n);
  return self;
}

/**
 * physnn_sensors_new:
 * @n_sensors: number of sensors, at least 1
 * @x: (array length=n_sensors): x positions
 * @y: (array length=n_sensors) (nullable): y positions, or %NULL for a 1-D
 *   field
 *
 * Creates sensors at given positions. Positions outside the domain read the
 * nearest boundary value (see physnn_simulator_sample()).
 *
 * Returns: (transfer full): the sensors
 */
PhysnnSensors *
physnn_sensors_new (guint n_sensors, const gdouble *x, const gdouble *y)
{
  g_return_val_if_fail (n_sensors > 0, NULL);
  g_return_val_if_fail (x != NULL, NULL);

  PhysnnSensors *self = sensors_alloc (n_sensors);
  memcpy (self->x, x, n_sensors * sizeof (gdouble));
  if (y) {
    memcpy (self->y, y, n_sensors * sizeof (gdouble));
    self->has_y = TRUE;
  }
  return self;
}

/**
 * physnn_sensors_new_evenly:
 * @sim: the simulator whose domain the sensors cover
 * @n_sensors: number of sensors, at least 1
 *
 * Creates sensors spread evenly over the interior of @sim's domain, away
 * from the boundaries where Dirichlet values would make them uninformative.
 * In 1-D sensor i sits at x-min + (i + 1) L / (n + 1). In 2-D they form a
 * near-square grid: ⌈√n⌉ per row, as many rows as needed, each row (the last
 * one possibly shorter) spread the same way along x, the rows along y.
 *
 * Returns: (transfer full): the sensors
 */
PhysnnSensors *
physnn_sensors_new_evenly (PhysnnSimulator *sim, guint n_sensors)
{
  gdouble x0, x1, y0 = 0.0, y1 = 0.0;

  g_return_val_if_fail (PHYSNN_IS_SIMULATOR (sim), NULL);
  g_return_val_if_fail (n_sensors > 0, NULL);

  PhysnnSensors *self = sensors_alloc (n_sensors);
  physnn_simulator_get_domain (sim, 0, &x0, &x1);
  if (physnn_simulator_get_ndim (sim) == 1) {
    for (guint i = 0; i < n_sensors; i++)
      self->x[i] = x0 + (i + 1) * (x1 - x0) / (n_sensors + 1);
    return self;
  }

  physnn_simulator_get_domain (sim, 1, &y0, &y1);
  self->has_y = TRUE;
  guint per_row = (guint)ceil (sqrt ((gdouble)n_sensors));
  guint rows = (n_sensors + per_row - 1) / per_row;
  guint k = 0;
  for (guint j = 0; j < rows; j++) {
    guint count = MIN (per_row, n_sensors - k);
    for (guint i = 0; i < count; i++, k++) {
      self->x[k] = x0 + (i + 1) * (x1 - x0) / (count + 1);
      self->y[k] = y0 + (j + 1) * (y1 - y0) / (rows + 1);
    }
  }
  return self;
}

/**
 * physnn_sensors_get_n_sensors:
 * @self: a #PhysnnSensors
 *
 * Returns: the number of sensors
 */
guint
physnn_sensors_get_n_sensors (PhysnnSensors *self)
{
  g_return_val_if_fail (PHYSNN_IS_SENSORS (self), 0);
  return self->n;
}

/**
 * physnn_sensors_get_x:
 * @self: a #PhysnnSensors
 * @index: sensor index
 *
 * Returns: the x position of sensor @index
 */
gdouble
physnn_sensors_get_x (PhysnnSensors *self, guint index)
{
  g_return_val_if_fail (PHYSNN_IS_SENSORS (self), NAN);
  g_return_val_if_fail (index < self->n, NAN);
  return self->x[index];
}

/**
 * physnn_sensors_get_y:
 * @self: a #PhysnnSensors
 * @index: sensor index
 *
 * Returns: the y position of sensor @index (0 for sensors created without
 *   y positions)
 */
gdouble
physnn_sensors_get_y (PhysnnSensors *self, guint index)
{
  g_return_val_if_fail (PHYSNN_IS_SENSORS (self), NAN);
  g_return_val_if_fail (index < self->n, NAN);
  return self->y[index];
}

/**
 * physnn_sensors_reset:
 * @self: a #PhysnnSensors
 *
 * Restarts the noise sequence from #PhysnnSensors:seed and forgets the fault
 * state (the held value of a stuck sensor, whether the spike has fired).
 * Call it whenever the simulator is reset so that a run can be reproduced.
 * A reading at an earlier simulated time than the previous one restarts the
 * fault state by itself, but not the noise.
 */
void
physnn_sensors_reset (PhysnnSensors *self)
{
  g_return_if_fail (PHYSNN_IS_SENSORS (self));
  restart_noise (self);
  restart_faults (self);
}

static gboolean
targeted (PhysnnSensors *self, guint i)
{
  return self->fault_sensor < 0 || (guint)self->fault_sensor == i;
}

/**
 * physnn_sensors_read: (skip)
 * @self: a #PhysnnSensors
 * @sim: the simulator to read, at its current time
 * @values: (out caller-allocates): room for one value per sensor
 * @mask: (out caller-allocates) (nullable): room for one mask byte per
 *   sensor, or %NULL
 * @error: return location for a #GError
 *
 * Reads every sensor at the simulator's current time. @mask receives the
 * #PhysnnFaultKind of each faulty reading and 0 for a healthy one: stuck and
 * drift mark the targeted sensors for the whole fault window, spike only the
 * reading it offsets, and %PHYSNN_FAULT_SOURCE every sensor within two
 * source widths of an active heat source (see
 * physnn_simulator_source_active(); #PhysnnSensors:fault-sensor and the
 * fault window do not apply to it).
 *
 * Errors (%PHYSNN_ERROR_INVALID_ARGUMENT): the simulator has no state yet,
 * the sensors have no y positions but the field is 2-D, or
 * #PhysnnSensors:fault-sensor names a sensor that does not exist.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_sensors_read (PhysnnSensors *self, PhysnnSimulator *sim, gfloat *values,
    guint8 *mask, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_SENSORS (self), FALSE);
  g_return_val_if_fail (PHYSNN_IS_SIMULATOR (sim), FALSE);
  g_return_val_if_fail (values != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (physnn_simulator_peek_field (sim, NULL) == NULL) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "cannot read sensors: the simulator has no field yet (reset it "
        "first)");
    return FALSE;
  }
  if (!self->has_y && physnn_simulator_get_ndim (sim) == 2) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "cannot read a 2-D field with sensors that have only x positions");
    return FALSE;
  }
  PhysnnFaultKind fault = self->fault;
  gboolean per_sensor = fault == PHYSNN_FAULT_STUCK ||
                        fault == PHYSNN_FAULT_DRIFT ||
                        fault == PHYSNN_FAULT_SPIKE;
  if (per_sensor && self->fault_sensor >= 0 &&
      (guint)self->fault_sensor >= self->n) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "fault-sensor = %d does not exist: there are %u sensors (-1 selects "
        "all of them)",
        self->fault_sensor, self->n);
    return FALSE;
  }
  if (self->rand == NULL)
    restart_noise (self);

  gdouble t = physnn_simulator_get_time (sim);
  if (t < self->last_t)
    restart_faults (self);
  self->last_t = t;

  gboolean in_window = t >= self->fault_start &&
                       (self->fault_duration <= 0.0 ||
                           t < self->fault_start + self->fault_duration);
  gboolean stuck = fault == PHYSNN_FAULT_STUCK && in_window;
  gboolean drift = fault == PHYSNN_FAULT_DRIFT && in_window;
  gboolean spike = fault == PHYSNN_FAULT_SPIKE && in_window && !self->spiked;

  for (guint i = 0; i < self->n; i++) {
    gdouble clean = physnn_simulator_sample (sim, self->x[i], self->y[i]);
    gdouble v = clean;
    guint8 m = PHYSNN_FAULT_NONE;
    gboolean noisy = TRUE;

    if (stuck && targeted (self, i)) {
      if (!self->held_valid)
        self->held[i] = clean;
      v = self->held[i];
      m = PHYSNN_FAULT_STUCK;
      noisy = FALSE;
    } else if (drift && targeted (self, i)) {
      v += self->fault_magnitude * (t - self->fault_start);
      m = PHYSNN_FAULT_DRIFT;
    } else if (spike && targeted (self, i)) {
      v += self->fault_magnitude;
      m = PHYSNN_FAULT_SPIKE;
    } else if (fault == PHYSNN_FAULT_SOURCE &&
               physnn_simulator_source_active (
                   sim, self->x[i], self->y[i], t)) {
      m = PHYSNN_FAULT_SOURCE;
    }

    if (self->noise_sigma > 0.0) {
      gdouble noise = self->noise_sigma * next_normal (self);
      if (noisy)
        v += noise;
    }
    values[i] = (gfloat)v;
    if (mask)
      mask[i] = m;
  }
  if (stuck)
    self->held_valid = TRUE;
  if (spike)
    self->spiked = TRUE;
  return TRUE;
}

/**
 * physnn_sensors_read_values: (rename-to physnn_sensors_read)
 * @self: a #PhysnnSensors
 * @sim: the simulator to read, at its current time
 * @mask: (out) (optional) (array length=n_values) (transfer full): the
 *   fault mask, one byte per sensor
 * @n_values: (out): the number of sensors
 * @error: return location for a #GError
 *
 * physnn_sensors_read() with newly allocated arrays, for language
 * bindings.
 *
 * Returns: (array length=n_values) (transfer full) (nullable): one value per
 *   sensor, or %NULL on error
 */
gfloat *
physnn_sensors_read_values (PhysnnSensors *self, PhysnnSimulator *sim,
    guint8 **mask, guint *n_values, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_SENSORS (self), NULL);
  g_return_val_if_fail (n_values != NULL, NULL);

  gfloat *values = g_new (gfloat, self->n);
  guint8 *m = g_new (guint8, self->n);
  *n_values = 0;
  if (!physnn_sensors_read (self, sim, values, m, error)) {
    g_free (values);
    g_free (m);
    if (mask)
      *mask = NULL;
    return NULL;
  }
  *n_values = self->n;
  if (mask)
    *mask = m;
  else
    g_free (m);
  return values;
}

static void
physnn_sensors_finalize (GObject *object)
{
  PhysnnSensors *self = PHYSNN_SENSORS (object);

  g_free (self->x);
  g_free (self->y);
  g_free (self->held);
  g_clear_pointer (&self->rand, g_rand_free);
  G_OBJECT_CLASS (physnn_sensors_parent_class)->finalize (object);
}

static void
physnn_sensors_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  PhysnnSensors *self = PHYSNN_SENSORS (object);

  switch (prop_id) {
  case PROP_NOISE_SIGMA:
    self->noise_sigma = g_value_get_double (value);
    break;
  case PROP_SEED:
    self->seed = g_value_get_uint64 (value);
    restart_noise (self);
    break;
  case PROP_FAULT:
    self->fault = g_value_get_enum (value);
    break;
  case PROP_FAULT_SENSOR:
    self->fault_sensor = g_value_get_int (value);
    break;
  case PROP_FAULT_START:
    self->fault_start = g_value_get_double (value);
    break;
  case PROP_FAULT_DURATION:
    self->fault_duration = g_value_get_double (value);
    break;
  case PROP_FAULT_MAGNITUDE:
    self->fault_magnitude = g_value_get_double (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
physnn_sensors_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  PhysnnSensors *self = PHYSNN_SENSORS (object);

  switch (prop_id) {
  case PROP_NOISE_SIGMA:
    g_value_set_double (value, self->noise_sigma);
    break;
  case PROP_SEED:
    g_value_set_uint64 (value, self->seed);
    break;
  case PROP_FAULT:
    g_value_set_enum (value, self->fault);
    break;
  case PROP_FAULT_SENSOR:
    g_value_set_int (value, self->fault_sensor);
    break;
  case PROP_FAULT_START:
    g_value_set_double (value, self->fault_start);
    break;
  case PROP_FAULT_DURATION:
    g_value_set_double (value, self->fault_duration);
    break;
  case PROP_FAULT_MAGNITUDE:
    g_value_set_double (value, self->fault_magnitude);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
physnn_sensors_class_init (PhysnnSensorsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  object_class->finalize = physnn_sensors_finalize;
  object_class->set_property = physnn_sensors_set_property;
  object_class->get_property = physnn_sensors_get_property;

  /**
   * PhysnnSensors:noise-sigma:
   *
   * Standard deviation of the Gaussian noise added to every reading that
   * is not stuck, in field units. Takes effect at the next reading.
   */
  properties[PROP_NOISE_SIGMA] =
      g_param_spec_double ("noise-sigma", "Noise sigma",
          "Standard deviation of the Gaussian reading noise in field units "
          "(default 0)",
          0.0, G_MAXDOUBLE, 0.0, rw);
  /**
   * PhysnnSensors:seed:
   *
   * Seed of the noise. Setting it restarts the noise sequence, as does
   * physnn_sensors_reset().
   */
  properties[PROP_SEED] = g_param_spec_uint64 ("seed", "Seed",
      "Seed of the reading noise; any value, 0 included (default 0)", 0,
      G_MAXUINT64, 0, rw);
  /**
   * PhysnnSensors:fault:
   *
   * The fault to inject; see #PhysnnFaultKind.
   */
  properties[PROP_FAULT] =
      g_param_spec_enum ("fault", "Fault", "Fault to inject (default none)",
          PHYSNN_TYPE_FAULT_KIND, PHYSNN_FAULT_NONE, rw);
  properties[PROP_FAULT_SENSOR] =
      g_param_spec_int ("fault-sensor", "Fault sensor",
          "Index of the faulty sensor for stuck, drift and spike; -1 = all "
          "sensors (default 0)",
          -1, G_MAXINT, 0, rw);
  properties[PROP_FAULT_START] = g_param_spec_double ("fault-start",
      "Fault start", "Simulated time of the fault onset in seconds (default 0)",
      -G_MAXDOUBLE, G_MAXDOUBLE, 0.0, rw);
  properties[PROP_FAULT_DURATION] =
      g_param_spec_double ("fault-duration", "Fault duration",
          "Length of the fault window in simulated seconds; 0 = until the end "
          "(default 0)",
          0.0, G_MAXDOUBLE, 0.0, rw);
  /**
   * PhysnnSensors:fault-magnitude:
   *
   * Size of the fault: the spike offset in field units, or the drift rate
   * in field units per simulated second. Stuck sensors ignore it.
   */
  properties[PROP_FAULT_MAGNITUDE] = g_param_spec_double ("fault-magnitude",
      "Fault magnitude",
      "Spike offset in field units, or drift rate in field units per second "
      "(default 1)",
      -G_MAXDOUBLE, G_MAXDOUBLE, 1.0, rw);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
physnn_sensors_init (PhysnnSensors *self)
{
  self->fault_magnitude = 1.0;
  restart_faults (self);
}
