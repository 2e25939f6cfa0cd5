/* physnn — physics versus data: sensor misfit detection and region
 * classification.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "physnn/tensor.h"

G_BEGIN_DECLS

/**
 * PhysnnRegionClass:
 * @PHYSNN_REGION_CONSISTENT: data and model agree, and the model satisfies
 *   the PDE
 * @PHYSNN_REGION_DATA_INCONSISTENT: the sensor disagrees with the model
 *   (a sensor fault, or physics the model does not know)
 * @PHYSNN_REGION_PHYSICS_INCONSISTENT: the model violates the PDE there
 * @PHYSNN_REGION_BOTH: both
 *
 * The class of the region around a sensor (the points nearer to it than to
 * any other sensor). The values are bit flags: data 1, physics 2.
 */
typedef enum {
  PHYSNN_REGION_CONSISTENT = 0,
  PHYSNN_REGION_DATA_INCONSISTENT = 1,
  PHYSNN_REGION_PHYSICS_INCONSISTENT = 2,
  PHYSNN_REGION_BOTH = 3,
} PhysnnRegionClass;

#define PHYSNN_TYPE_ANOMALY_DETECTOR (physnn_anomaly_detector_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnAnomalyDetector, physnn_anomaly_detector, PHYSNN,
    ANOMALY_DETECTOR, GObject)

PhysnnAnomalyDetector *physnn_anomaly_detector_new (guint n_sensors);
guint physnn_anomaly_detector_get_n_sensors (PhysnnAnomalyDetector *self);
void physnn_anomaly_detector_reset (PhysnnAnomalyDetector *self);
gboolean physnn_anomaly_detector_update (PhysnnAnomalyDetector *self,
    PhysnnTensor *readings, PhysnnTensor *predictions, GError **error);
gdouble physnn_anomaly_detector_get_sigma (PhysnnAnomalyDetector *self);
gdouble physnn_anomaly_detector_get_misfit (
    PhysnnAnomalyDetector *self, guint sensor);
gdouble physnn_anomaly_detector_get_score (
    PhysnnAnomalyDetector *self, guint sensor);
gboolean physnn_anomaly_detector_get_flag (
    PhysnnAnomalyDetector *self, guint sensor);
guint physnn_anomaly_detector_get_n_flagged (PhysnnAnomalyDetector *self);

gboolean physnn_anomaly_detector_classify (PhysnnAnomalyDetector *self,
    PhysnnTensor *sensor_positions, PhysnnTensor *point_positions,
    PhysnnTensor *relative_residual, gdouble threshold, GError **error);
PhysnnRegionClass physnn_anomaly_detector_get_region_class (
    PhysnnAnomalyDetector *self, guint sensor);
gdouble physnn_anomaly_detector_get_region_residual (
    PhysnnAnomalyDetector *self, guint sensor);

G_END_DECLS
