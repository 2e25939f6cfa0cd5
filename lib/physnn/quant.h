/* physnn — mixed-precision quantization: plans, calibration, objectives,
 * sensitivity analysis and the evolutionary search for per-layer precisions.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "physnn/device.h"
#include "physnn/grad.h"
#include "physnn/model.h"
#include "physnn/tensor.h"

G_BEGIN_DECLS

/**
 * PhysnnPrecision:
 * @PHYSNN_PRECISION_FP32: float32 weights (not quantized)
 * @PHYSNN_PRECISION_FP16: float16 storage, converted to float32 in registers
 * @PHYSNN_PRECISION_INT8: 8-bit integers with float32 scales
 * @PHYSNN_PRECISION_INT4: 4-bit integers, two per byte, with float32 scales
 *
 * Storage precision of a layer's weights.
 */
typedef enum {
  PHYSNN_PRECISION_FP32,
  PHYSNN_PRECISION_FP16,
  PHYSNN_PRECISION_INT8,
  PHYSNN_PRECISION_INT4,
} PhysnnPrecision;

/**
 * PhysnnCalibration:
 * @PHYSNN_CALIBRATION_MINMAX: the full observed range
 * @PHYSNN_CALIBRATION_PERCENTILE: clip to a percentile of |x| (outliers
 *   beyond it saturate)
 * @PHYSNN_CALIBRATION_MSE: the clipping range that minimises the mean
 *   squared quantization error (rounding plus clipping)
 * @PHYSNN_CALIBRATION_KL: the clipping range that minimises the
 *   Kullback-Leibler divergence between the value histogram and its
 *   quantized version (TensorRT-style entropy calibration)
 *
 * How a quantization range is chosen from observed values.
 */
typedef enum {
  PHYSNN_CALIBRATION_MINMAX,
  PHYSNN_CALIBRATION_PERCENTILE,
  PHYSNN_CALIBRATION_MSE,
  PHYSNN_CALIBRATION_KL,
} PhysnnCalibration;

guint physnn_precision_get_bits (PhysnnPrecision precision);
const gchar *physnn_precision_to_string (PhysnnPrecision precision);
gboolean physnn_precision_from_string (const gchar *name,
    PhysnnPrecision *precision);
const gchar *physnn_calibration_to_string (PhysnnCalibration method);
gboolean physnn_calibration_from_string (const gchar *name,
    PhysnnCalibration *method);

/* ------------------------------------------------------------------------ */
/* Plans */

#define PHYSNN_TYPE_QUANT_PLAN (physnn_quant_plan_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnQuantPlan, physnn_quant_plan, PHYSNN, QUANT_PLAN,
    GObject)

PhysnnQuantPlan *physnn_quant_plan_new (PhysnnModel *model, GError **error);
PhysnnQuantPlan *physnn_quant_plan_new_from_file (PhysnnModel *model,
    const gchar *path, GError **error);
PhysnnQuantPlan *physnn_quant_plan_new_from_data (PhysnnModel *model,
    const gchar *json, GError **error);
PhysnnQuantPlan *physnn_quant_plan_copy (PhysnnQuantPlan *self);
gchar *physnn_quant_plan_to_json (PhysnnQuantPlan *self);
gboolean physnn_quant_plan_save (PhysnnQuantPlan *self, const gchar *path,
    GError **error);

PhysnnModel *physnn_quant_plan_get_model (PhysnnQuantPlan *self);
guint physnn_quant_plan_get_n_layers (PhysnnQuantPlan *self);
const gchar *physnn_quant_plan_get_layer_name (PhysnnQuantPlan *self,
    guint layer);
const gchar *physnn_quant_plan_get_layer_weight (PhysnnQuantPlan *self,
    guint layer);
gsize physnn_quant_plan_get_layer_size (PhysnnQuantPlan *self, guint layer);
gint physnn_quant_plan_find_layer (PhysnnQuantPlan *self, const gchar *name);
PhysnnPrecision physnn_quant_plan_get_precision (PhysnnQuantPlan *self,
    guint layer);
gboolean physnn_quant_plan_set_precision (PhysnnQuantPlan *self, guint layer,
    PhysnnPrecision precision, GError **error);
gboolean physnn_quant_plan_set_all (PhysnnQuantPlan *self,
    PhysnnPrecision precision, GError **error);
gboolean physnn_quant_plan_get_pinned (PhysnnQuantPlan *self, guint layer);
guint physnn_quant_plan_pin (PhysnnQuantPlan *self, const gchar *pattern,
    GError **error);

void physnn_quant_plan_set_per_channel (PhysnnQuantPlan *self,
    gboolean per_channel);
gboolean physnn_quant_plan_get_per_channel (PhysnnQuantPlan *self);
void physnn_quant_plan_set_symmetric (PhysnnQuantPlan *self,
    gboolean symmetric);
gboolean physnn_quant_plan_get_symmetric (PhysnnQuantPlan *self);
gboolean physnn_quant_plan_set_weight_calibration (PhysnnQuantPlan *self,
    PhysnnCalibration method, gdouble percentile, GError **error);
gboolean physnn_quant_plan_get_activations (PhysnnQuantPlan *self);
gboolean physnn_quant_plan_set_activation_range (PhysnnQuantPlan *self,
    guint layer, gdouble min, gdouble max, PhysnnCalibration method,
    GError **error);
void physnn_quant_plan_clear_activations (PhysnnQuantPlan *self);
gboolean physnn_quant_plan_set_bias_correction (PhysnnQuantPlan *self,
    guint layer, const gdouble *values, gsize n, GError **error);
gboolean physnn_quant_plan_get_bias_corrected (PhysnnQuantPlan *self,
    guint layer);
gboolean physnn_quant_plan_get_fine_tuned (PhysnnQuantPlan *self,
    guint layer);

gdouble physnn_quant_plan_get_average_bits (PhysnnQuantPlan *self);
gboolean physnn_quant_plan_estimate_compression (PhysnnQuantPlan *self,
    guint64 *fp32_bytes, guint64 *bytes, gdouble *ratio,
    gdouble *memory_reduction);
gchar *physnn_quant_plan_describe (PhysnnQuantPlan *self);

PhysnnModel *physnn_quant_plan_apply (PhysnnQuantPlan *self, GError **error);
gboolean physnn_quant_plan_export_onnx (PhysnnQuantPlan *self,
    const gchar *path, GError **error);

/* ------------------------------------------------------------------------ */
/* Calibration of activation ranges from data */

#define PHYSNN_TYPE_QUANT_CALIBRATOR (physnn_quant_calibrator_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnQuantCalibrator, physnn_quant_calibrator, PHYSNN,
    QUANT_CALIBRATOR, GObject)

PhysnnQuantCalibrator *physnn_quant_calibrator_new (PhysnnModel *model,
    GError **error);
gboolean physnn_quant_calibrator_add_batch (PhysnnQuantCalibrator *self,
    PhysnnTensor **inputs, guint n_inputs, GError **error);
guint64 physnn_quant_calibrator_get_n_batches (PhysnnQuantCalibrator *self);
guint64 physnn_quant_calibrator_get_n_samples (PhysnnQuantCalibrator *self);
gboolean physnn_quant_calibrator_get_range (PhysnnQuantCalibrator *self,
    const gchar *layer, PhysnnCalibration method, gdouble percentile,
    guint bits, gdouble *min, gdouble *max, GError **error);
gboolean physnn_quant_calibrator_apply (PhysnnQuantCalibrator *self,
    PhysnnQuantPlan *plan, PhysnnCalibration method, gdouble percentile,
    GError **error);

/* ------------------------------------------------------------------------ */
/* Objectives: the loss of a quantized model */

#define PHYSNN_TYPE_QUANT_OBJECTIVE (physnn_quant_objective_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnQuantObjective, physnn_quant_objective, PHYSNN,
    QUANT_OBJECTIVE, GObject)

PhysnnQuantObjective *physnn_quant_objective_new_classification (
    PhysnnModel *model, PhysnnTensor **inputs, guint n_inputs,
    PhysnnTensor *labels, GError **error);
PhysnnQuantObjective *physnn_quant_objective_new_regression (
    PhysnnModel *model, PhysnnTensor **inputs, guint n_inputs,
    PhysnnTensor *targets, GError **error);
PhysnnQuantObjective *physnn_quant_objective_new_physics (PhysnnModel *model,
    const gchar *pde, const gchar *parameters, PhysnnTensor *points,
    GError **error);
gboolean physnn_quant_objective_add_condition (PhysnnQuantObjective *self,
    const gchar *name, PhysnnTensor *points, PhysnnTensor *targets,
    gdouble weight, GError **error);
gboolean physnn_quant_objective_is_physics (PhysnnQuantObjective *self);
const gchar *physnn_quant_objective_get_kind_name (
    PhysnnQuantObjective *self);
PhysnnModel *physnn_quant_objective_get_model (PhysnnQuantObjective *self);
PhysnnLoss *physnn_quant_objective_get_loss (PhysnnQuantObjective *self);
gboolean physnn_quant_objective_evaluate (PhysnnQuantObjective *self,
    PhysnnQuantPlan *plan, gdouble *loss, gdouble *accuracy, GError **error);
gdouble physnn_quant_objective_get_reference_loss (PhysnnQuantObjective *self);
gdouble physnn_quant_objective_get_reference_accuracy (
    PhysnnQuantObjective *self);
guint64 physnn_quant_objective_get_n_evaluations (PhysnnQuantObjective *self);
gboolean physnn_quant_objective_correct_biases (PhysnnQuantObjective *self,
    PhysnnQuantPlan *plan, guint max_iterations, gdouble *loss,
    GError **error);
gboolean physnn_quant_objective_fine_tune (PhysnnQuantObjective *self,
    PhysnnQuantPlan *plan, guint max_iterations, gdouble *loss,
    GError **error);
gboolean physnn_quant_objective_validate_physics (PhysnnQuantObjective *self,
    PhysnnQuantPlan *plan, gdouble max_loss, gdouble max_increase,
    gdouble *loss, GError **error);

/* ------------------------------------------------------------------------ */
/* Sensitivity and search */

/**
 * PhysnnSensitivity:
 * @PHYSNN_SENSITIVITY_MEASURED: the loss change when only that layer is
 *   quantized
 * @PHYSNN_SENSITIVITY_GRADIENT: |gᵀΔw|, the first-order Taylor term with
 *   the exact gradient
 * @PHYSNN_SENSITIVITY_HESSIAN: ½ΔwᵀHΔw from a Hessian-vector product
 * @PHYSNN_SENSITIVITY_HAWQ: Tr(H)/n·‖Δw‖² with Tr(H) from Hutchinson
 *   samples (HAWQ-V3's cost)
 *
 * Per-layer sensitivity measures.
 */
typedef enum {
  PHYSNN_SENSITIVITY_MEASURED,
  PHYSNN_SENSITIVITY_GRADIENT,
  PHYSNN_SENSITIVITY_HESSIAN,
  PHYSNN_SENSITIVITY_HAWQ,
} PhysnnSensitivity;

/**
 * PhysnnQuantCost:
 * @PHYSNN_QUANT_COST_BYTES: model bytes (weights, biases, scales, zero
 *   points)
 * @PHYSNN_QUANT_COST_BITOPS: multiply-accumulates times weight bits times
 *   activation bits, as the hardware profile computes them
 *
 * The second objective of the search.
 */
typedef enum {
  PHYSNN_QUANT_COST_BYTES,
  PHYSNN_QUANT_COST_BITOPS,
} PhysnnQuantCost;

#define PHYSNN_TYPE_QUANT_SEARCH (physnn_quant_search_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnQuantSearch, physnn_quant_search, PHYSNN,
    QUANT_SEARCH, GObject)

PhysnnQuantSearch *physnn_quant_search_new (PhysnnQuantPlan *base,
    PhysnnQuantObjective *objective, GError **error);
void physnn_quant_search_set_seed (PhysnnQuantSearch *self, guint64 seed);
void physnn_quant_search_set_population (PhysnnQuantSearch *self,
    guint population, guint generations);
void physnn_quant_search_set_hutchinson_samples (PhysnnQuantSearch *self,
    guint samples);
gboolean physnn_quant_search_set_target_bits (PhysnnQuantSearch *self,
    gdouble bits, GError **error);
void physnn_quant_search_set_max_bytes (PhysnnQuantSearch *self,
    guint64 bytes);
void physnn_quant_search_set_max_loss_increase (PhysnnQuantSearch *self,
    gdouble increase);
gboolean physnn_quant_search_set_hardware (PhysnnQuantSearch *self,
    const gchar *profile, GError **error);
gboolean physnn_quant_search_set_cost (PhysnnQuantSearch *self,
    PhysnnQuantCost cost, GError **error);
gboolean physnn_quant_search_set_precisions (PhysnnQuantSearch *self,
    const gchar *list, GError **error);

gboolean physnn_quant_search_sensitivity (PhysnnQuantSearch *self,
    GError **error);
gdouble physnn_quant_search_get_sensitivity (PhysnnQuantSearch *self,
    PhysnnSensitivity kind, guint layer, PhysnnPrecision precision);
gdouble physnn_quant_search_get_sensitivity_raw (PhysnnQuantSearch *self,
    PhysnnSensitivity kind, guint layer, PhysnnPrecision precision);
gdouble physnn_quant_search_get_spearman (PhysnnQuantSearch *self,
    PhysnnSensitivity kind, PhysnnPrecision precision);

gboolean physnn_quant_search_run (PhysnnQuantSearch *self, GError **error);
gboolean physnn_quant_search_run_greedy (PhysnnQuantSearch *self,
    GError **error);
guint physnn_quant_search_get_front_size (PhysnnQuantSearch *self);
PhysnnQuantPlan *physnn_quant_search_get_front_plan (PhysnnQuantSearch *self,
    guint index);
gboolean physnn_quant_search_get_front_point (PhysnnQuantSearch *self,
    guint index, gdouble *loss, gdouble *accuracy, gdouble *bits,
    guint64 *bytes);
PhysnnQuantPlan *physnn_quant_search_get_best (PhysnnQuantSearch *self,
    GError **error);
PhysnnQuantPlan *physnn_quant_search_get_greedy_best (
    PhysnnQuantSearch *self, GError **error);
guint64 physnn_quant_search_get_n_evaluations (PhysnnQuantSearch *self);
GPtrArray *physnn_quant_search_get_feasible_plans (PhysnnQuantSearch *self,
    guint max);
gchar *physnn_quant_search_to_json (PhysnnQuantSearch *self);
gboolean physnn_quant_search_save (PhysnnQuantSearch *self,
    const gchar *json_path, const gchar *plot_path, GError **error);

G_END_DECLS
