/* physnn — objectives and the precision search (issue 7, work in progress).
 *
 * Declared here, outside the public headers, until quant-objective.c and
 * quant-search.c implement them; move back into quant.h when they do.
 */
#pragma once

#include "physnn/quant.h"

G_BEGIN_DECLS

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
gboolean physnn_quant_objective_evaluate (PhysnnQuantObjective *self,
    PhysnnQuantPlan *plan, gdouble *loss, gdouble *accuracy, GError **error);
gdouble physnn_quant_objective_get_reference_loss (PhysnnQuantObjective *self);
gboolean physnn_quant_objective_validate_physics (PhysnnQuantObjective *self,
    PhysnnQuantPlan *plan, gdouble max_loss, gdouble max_increase,
    gdouble *loss, GError **error);

#define PHYSNN_TYPE_QUANT_SEARCH (physnn_quant_search_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnQuantSearch, physnn_quant_search, PHYSNN,
    QUANT_SEARCH, GObject)

PhysnnQuantSearch *physnn_quant_search_new (PhysnnQuantPlan *base,
    PhysnnQuantObjective *objective, GError **error);
void physnn_quant_search_set_seed (PhysnnQuantSearch *self, guint64 seed);
void physnn_quant_search_set_population (PhysnnQuantSearch *self,
    guint population, guint generations);
gboolean physnn_quant_search_set_target_bits (PhysnnQuantSearch *self,
    gdouble bits, GError **error);
void physnn_quant_search_set_max_bytes (PhysnnQuantSearch *self,
    guint64 bytes);
void physnn_quant_search_set_max_loss_increase (PhysnnQuantSearch *self,
    gdouble increase);
gboolean physnn_quant_search_set_hardware (PhysnnQuantSearch *self,
    const gchar *profile, GError **error);
void physnn_quant_search_set_cost (PhysnnQuantSearch *self,
    PhysnnQuantCost cost);
gboolean physnn_quant_search_set_precisions (PhysnnQuantSearch *self,
    const gchar *list, GError **error);

gboolean physnn_quant_search_sensitivity (PhysnnQuantSearch *self,
    GError **error);
gdouble physnn_quant_search_get_sensitivity (PhysnnQuantSearch *self,
    PhysnnSensitivity kind, guint layer, PhysnnPrecision precision);
gdouble physnn_quant_search_get_spearman (PhysnnQuantSearch *self,
    PhysnnSensitivity kind, PhysnnPrecision precision);

gboolean physnn_quant_search_run (PhysnnQuantSearch *self, GError **error);
gboolean physnn_quant_search_run_greedy (PhysnnQuantSearch *self,
    GError **error);
guint physnn_quant_search_get_front_size (PhysnnQuantSearch *self);
PhysnnQuantPlan *physnn_quant_search_get_front_plan (PhysnnQuantSearch *self,
    guint index);
PhysnnQuantPlan *physnn_quant_search_get_best (PhysnnQuantSearch *self,
    GError **error);
guint64 physnn_quant_search_get_n_evaluations (PhysnnQuantSearch *self);
gchar *physnn_quant_search_to_json (PhysnnQuantSearch *self);
gboolean physnn_quant_search_save (PhysnnQuantSearch *self,
    const gchar *json_path, const gchar *plot_path, GError **error);

G_END_DECLS
