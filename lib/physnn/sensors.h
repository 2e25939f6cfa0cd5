/* physnn — a sensor array reading a simulated field: positions, noise and
 * injected faults with a ground-truth mask.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "physnn/simulator.h"

G_BEGIN_DECLS

/**
 * PhysnnFaultKind:
 * @PHYSNN_FAULT_NONE: healthy sensors
 * @PHYSNN_FAULT_STUCK: from the onset the sensor repeats the value it read
 *   at the onset
 * @PHYSNN_FAULT_DRIFT: from the onset the sensor adds magnitude · (t − onset)
 *   (magnitude in field units per second of simulated time)
 * @PHYSNN_FAULT_SPIKE: the first reading at or after the onset is offset by
 *   magnitude
 * @PHYSNN_FAULT_SOURCE: an unmodelled heat source in the physics (see the
 *   simulator's source-* properties); sensors within two source widths are
 *   marked once it is active
 *
 * A fault injected for anomaly-detection tests. The mask value of a faulty
 * reading is the #PhysnnFaultKind number; 0 means healthy.
 */
typedef enum {
  PHYSNN_FAULT_NONE,
  PHYSNN_FAULT_STUCK,
  PHYSNN_FAULT_DRIFT,
  PHYSNN_FAULT_SPIKE,
  PHYSNN_FAULT_SOURCE,
} PhysnnFaultKind;

#define PHYSNN_TYPE_SENSORS (physnn_sensors_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnSensors, physnn_sensors, PHYSNN, SENSORS,
    GObject)

PhysnnSensors *physnn_sensors_new (guint n_sensors, const gdouble *x,
    const gdouble *y);
PhysnnSensors *physnn_sensors_new_evenly (PhysnnSimulator *sim,
    guint n_sensors);

guint physnn_sensors_get_n_sensors (PhysnnSensors *self);
gdouble physnn_sensors_get_x (PhysnnSensors *self, guint index);
gdouble physnn_sensors_get_y (PhysnnSensors *self, guint index);

void physnn_sensors_reset (PhysnnSensors *self);
gboolean physnn_sensors_read (PhysnnSensors *self, PhysnnSimulator *sim,
    gfloat *values, guint8 *mask, GError **error);
gfloat *physnn_sensors_read_values (PhysnnSensors *self, PhysnnSimulator *sim,
    guint8 **mask, guint *n_values, GError **error);

G_END_DECLS
