/* physnn — internals of PhysnnNeuroNet shared by the exporters.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "physnn/neuro.h"

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef enum {
  NEURO_IF,
  NEURO_LIF,
  NEURO_LI,
  NEURO_CUBALIF,
  NEURO_CUBALI,
} NeuroKind;

/* One layer: a synapse node (Affine or Linear) into a neuron node. All
 * per-neuron parameters are expanded to n_out values. */
typedef struct {
  gchar *syn_name; /* NIR node of the weights */
  gchar *neu_name; /* NIR node of the neurons */
  gchar *neu_type; /* NIR class of the neurons */
  NeuroKind kind;
  gsize n_in, n_out;
  gdouble *w; /* [n_out][n_in] as NIR stores it */
  gdouble *b; /* [n_out], zeros for Linear */
  gboolean has_bias;
  gdouble *tau;     /* LIF/LI: tau; Cuba: tau_mem */
  gdouble *tau_syn; /* Cuba only */
  gdouble *r;
  gdouble *v_leak;
  gdouble *v_th; /* NULL for LI, CubaLI */
  gdouble *v_reset;
  gdouble *w_in; /* Cuba only */
  /* after fitting */
  guint weight_bits;
  gdouble weight_step; /* float weight per integer step, 0 if unquantized */
  guint cores;
} NeuroLayer;

struct _PhysnnNeuroNet {
  GObject parent;
  PhysnnNirGraph *graph; /* the source graph; weights replaced on export */
  gchar *input_name, *output_name;
  gsize n_inputs;
  gdouble dt;
  GPtrArray *layers; /* NeuroLayer */
  PhysnnNeuroPlatform platform;
  JsonNode *fit_report; /* NULL until fitted */
};

gboolean _physnn_neuro_write_netx (
    PhysnnNeuroNet *net, const gchar *path, GError **error);
gboolean _physnn_neuro_write_pynn (PhysnnNeuroNet *net, const gchar *path,
    PhysnnTensor *input_spikes, PhysnnTensor *output_spikes, GError **error);
gboolean _physnn_neuro_write_json (PhysnnNeuroNet *net, const gchar *path,
    PhysnnTensor *input_spikes, PhysnnTensor *output_spikes, GError **error);
gboolean _physnn_neuro_write_akida (
    PhysnnNeuroNet *net, const gchar *path, GError **error);

/* Loihi fixed point of one layer, see neuro-loihi.c */
typedef struct {
  gint32 *w;     /* [n_out][n_in] 8-bit mantissas (even, -256..254) */
  gint32 w_exp;  /* weight exponent: a_in << (6 + w_exp) */
  gint32 du, dv; /* 12-bit decays */
  gint32 vth;    /* threshold mantissa: test v > vth << 6 */
  gint32 *bias;  /* [n_out] mantissa */
  gint32 bias_exp;
} NeuroLoihiLayer;

gboolean _physnn_neuro_loihi_layer (
    PhysnnNeuroNet *net, guint layer, NeuroLoihiLayer *out, GError **error);
void _physnn_neuro_loihi_layer_clear (NeuroLoihiLayer *l);

/* Atomic file writing: a temporary file beside @path, renamed on success. */
gboolean _physnn_neuro_write_file (
    const gchar *path, const gchar *data, gsize len, GError **error);
gchar *_physnn_neuro_temp_path (const gchar *path, GError **error);
gboolean _physnn_neuro_commit (
    const gchar *tmp, const gchar *path, GError **error);

static inline gdouble *
_physnn_neuro_doubles (PhysnnTensor *t)
{
  gsize n;
  return physnn_tensor_to_doubles (t, &n);
}

G_END_DECLS
