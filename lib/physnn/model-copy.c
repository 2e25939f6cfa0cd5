/* physnn — physnn_model_copy(): an independent model with the same graph,
 * weights and naming.
 *
 * A PhysnnModel carries per-request state (coordinates, derivative request,
 * compiled kernels) and runs one evaluation at a time, so an element that
 * re-evaluates a model it received from upstream (residualexplain, from a
 * buffer's GstPhysnnModelMeta) must not reconfigure the upstream element's
 * object. The copy goes through the ONNX writer and reader, which keeps this
 * file free of the model's internals.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/model.h"
#include "physnn/error.h"
#include "physnn/model-private.h"

/**
 * physnn_model_copy:
 * @model: a #PhysnnModel
 * @error: return location for a #GError
 *
 * Makes an independent copy of @model: the same graph and weights, the same
 * coordinate and output names, no derivative request. Changing the copy's
 * coordinates or derivatives, or running it, never affects @model.
 *
 * Returns: (transfer full): the copy, or %NULL with @error set
 */
PhysnnModel *
physnn_model_copy (PhysnnModel *model, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_MODEL (model), NULL);

  g_autoptr (GBytes) bytes =
      physnn_onnx_model_serialize (_physnn_model_get_onnx (model), error);
  if (bytes == NULL)
    return NULL;
  g_autoptr (PhysnnModel) copy =
      physnn_model_new_from_bytes (bytes, physnn_model_get_path (model), error);
  if (copy == NULL)
    return NULL;
  const gchar *names = physnn_model_get_coordinate_names (model);
  if (names && *names &&
      !physnn_model_set_coordinates (
          copy, physnn_model_get_coordinate_input (model), names, error))
    return NULL;
  if (!physnn_model_set_output_names (
          copy, physnn_model_get_output_names (model), error))
    return NULL;
  return g_steal_pointer (&copy);
}
