/* physnn — quantization internals shared by the executors, the fused
 * kernel generator and the plan code.
 * Engine-internal. SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "physnn/graph-private.h"

G_BEGIN_DECLS

/* Scales and zero points of a QuantizeLinear/DequantizeLinear node applied
 * to a value of @rank/@shape, as float32 (the ONNX arithmetic's precision):
 * element i uses index (i / inner) % channels. */
typedef struct {
  gsize inner, channels;
  gfloat *scale;                /* channels */
  gfloat *zero;                 /* channels */
} PhysnnQdqParams;

gboolean _physnn_qdq_params (PhysnnGraph *graph, const PhysnnNode *node,
    guint rank, const gsize *shape, PhysnnQdqParams *out, GError **error);
void _physnn_qdq_params_clear (PhysnnQdqParams *p);

/* Packs stored integers (an int8/uint8 tensor; 4-bit values held one per
 * element) into bytes: one per byte for 8 bits, two per byte for 4 bits,
 * the first in the low nibble (the ONNX INT4/UINT4 layout). */
GBytes *_physnn_quant_pack (PhysnnTensor *q, guint bits);

/* A weight read by the fused kernels from packed storage: the value is
 * DequantizeLinear of a constant (int8/uint8/int4/uint4), or Cast of a
 * float16 constant. Returns FALSE for anything else. */
typedef struct {
  const PhysnnNode *node;       /* the DequantizeLinear or Cast */
  gboolean fp16;
  guint bits;                   /* 8 or 4 (integers) */
  gboolean sgn;
  PhysnnTensor *stored;         /* the constant (borrowed) */
} PhysnnPackedWeight;

gboolean _physnn_graph_packed_weight (PhysnnGraph *graph, gint value,
    PhysnnPackedWeight *out);

G_END_DECLS

/* ------------------------------------------------------------------------ */
/* Plans (quant-plan.c) */

#include "physnn/quant.h"
#include "physnn/onnx-private.h"

G_BEGIN_DECLS

/* A layer's weights at one precision under the plan's settings: what is
 * stored (int8/uint8 with 4-bit values for int4, or float16), the float32
 * scales and zero points, and the dequantized values in float64 (what the
 * float64 fake-quantization reference uses). Shared between plan copies. */
typedef struct {
  PhysnnPrecision precision;
  gsize channels;
  gfloat *scale;
  gint32 *zero;
  gboolean sgn;                 /* int8/int4 (symmetric) or uint8/uint4 */
  PhysnnTensor *stored;
  gdouble *deq;                 /* dequantized, one per weight */
  gdouble sq_error;             /* sum of squared weight errors */
} PhysnnQuantWeights;

typedef struct {
  gchar *name;                  /* node name */
  gchar *op_type;
  gchar *weight;                /* initializer name */
  gchar *input;                 /* activation value name */
  guint rank;
  gsize shape[PHYSNN_MAX_RANK];
  gsize size;
  guint axis;                   /* output-channel axis of the weight */
  guint64 macs;                 /* multiply-accumulates per sample */
  gboolean pinned;
  PhysnnPrecision precision;
  PhysnnQuantWeights *qw[4];    /* per precision, computed on demand */
  /* scales/zero points given by a plan file for its precision */
  gfloat *given_scale;
  gint32 *given_zero;
  gsize given_channels;
  /* the float bias (Gemm/Conv input C/B), and physics-aware corrected
   * values for it (NULL: the model's own) */
  gchar *bias;
  gsize bias_size;
  gdouble *bias_fix;
  /* fine-tuned weights (physnn_quant_objective_fine_tune()), valid while
   * the layer's precision is tuned_precision: the stored integers (before
   * subtracting zero points; scales and zero points in given_*) for int8/
   * int4, the float values for fp16 (half-representable) and fp32 */
  gdouble *tuned;
  PhysnnPrecision tuned_precision;
  /* activation quantization (int8) of the layer's input */
  gboolean act;
  gdouble act_min, act_max;
  PhysnnCalibration act_method;
  gfloat act_scale;
  gint32 act_zero;
} PhysnnQuantLayer;

PhysnnQuantLayer *_physnn_quant_plan_layer (PhysnnQuantPlan *plan, guint i);
const PhysnnQuantWeights *_physnn_quant_plan_weights (PhysnnQuantPlan *plan,
    guint layer, PhysnnPrecision precision, GError **error);
/* The float64 weights of the plan's layer, fake-quantized (the original
 * weights for fp32). */
const gdouble *_physnn_quant_plan_dequantized (PhysnnQuantPlan *plan,
    guint layer, GError **error);
/* The original weights as float64 (owned by the plan). */
const gdouble *_physnn_quant_plan_original (PhysnnQuantPlan *plan,
    guint layer);
/* Quantizes arbitrary float64 values @w (the layer's shape) at @precision
 * under the plan's settings (scales from @w by the weight calibration
 * method); release with _physnn_quant_weights_unref(). */
PhysnnQuantWeights *_physnn_quant_plan_quantize_values (PhysnnQuantPlan *plan,
    guint layer, PhysnnPrecision precision, const gdouble *w);
void _physnn_quant_weights_unref (PhysnnQuantWeights *w);
/* Sets (values non-NULL) or clears a layer's fine-tuned weights at its
 * precision: for int8/int4 the stored integers, each in range, with
 * @channels scales (positive finite float32) and zero points; for fp16 the
 * half-representable values, for fp32 float32 ones. Checks everything. */
gboolean _physnn_quant_plan_set_tuned (PhysnnQuantPlan *plan, guint layer,
    const gdouble *values, gsize n, const gfloat *scales,
    const gint32 *zeros, gsize channels, GError **error);
guint64 _physnn_quant_plan_bytes_of (PhysnnQuantPlan *plan,
    const PhysnnPrecision *precisions);
guint64 _physnn_quant_plan_fp32_bytes (PhysnnQuantPlan *plan);

/* quant-objective.c internals shared with quant-finetune.c */
gdouble *_physnn_quant_objective_parameters (PhysnnQuantObjective *self,
    PhysnnQuantPlan *plan, gint only_layer, PhysnnPrecision only_precision,
    GError **error);
const gdouble *_physnn_quant_objective_base (PhysnnQuantObjective *self,
    gsize *n);
/* sets the loss back to the float parameters */
void _physnn_quant_objective_restore (PhysnnQuantObjective *self);
gboolean _physnn_quant_objective_same_model (PhysnnQuantObjective *self,
    PhysnnQuantPlan *plan, GError **error);
/* the loss's parameter tensor holding the layer's bias, or -1 */
gint _physnn_quant_objective_bias_tensor (PhysnnQuantObjective *self,
    PhysnnQuantLayer *l);
void _physnn_quant_objective_progress (PhysnnQuantObjective *self,
    const gchar *stage, guint done, guint total, gdouble loss);

/* quant-qdq.c: the plan as a QDQ ONNX data model. */
PhysnnOnnxModel *_physnn_quant_build_qdq (PhysnnQuantPlan *plan,
    GError **error);

/* quant-calib.c: a range from a value histogram. */
typedef struct _PhysnnHistogram PhysnnHistogram;
PhysnnHistogram *_physnn_histogram_new (void);
void _physnn_histogram_free (PhysnnHistogram *h);
void _physnn_histogram_add (PhysnnHistogram *h, const gdouble *x, gsize n,
    gsize stride);
guint64 _physnn_histogram_count (PhysnnHistogram *h);
gboolean _physnn_histogram_range (PhysnnHistogram *h,
    PhysnnCalibration method, gdouble percentile, guint bits,
    gboolean symmetric, gdouble *lo, gdouble *hi);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhysnnHistogram, _physnn_histogram_free)

/* Scale and zero point of a range for `bits` integers (float32 scale; the
 * zero point makes 0.0 exact). */
void _physnn_quant_params (gdouble lo, gdouble hi, guint bits,
    gboolean symmetric, gfloat *scale, gint32 *zero, gint32 *qmin,
    gint32 *qmax);

G_END_DECLS
