/* physnn — residual expressions for training: a scalar expression per
 * point in named symbols (model outputs, their coordinate derivatives,
 * coordinates, constants), evaluated on many points at once, with the
 * reverse-mode partial derivatives a loss gradient needs.
 *
 * This is the training path's internal form. Text is parsed by a minimal
 * expression reader (numbers, symbols, + - * / ^, unary minus, parentheses,
 * sin cos tan exp log sqrt abs tanh, the constant pi) until the engine's PDE
 * language (pde.h, issue 4) lands; the loss then takes PDEs from there.
 *
 * Engine-internal. SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

#include "physnn/onnx-private.h"

G_BEGIN_DECLS

typedef struct _PhysnnRx PhysnnRx;

/* Parses one expression; errors name the column. */
PhysnnRx *_physnn_rx_parse (const gchar *text, GError **error);
void _physnn_rx_free (PhysnnRx *rx);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhysnnRx, _physnn_rx_free)

const gchar *_physnn_rx_get_text (PhysnnRx *rx);
/* Distinct symbols in order of first appearance. */
guint _physnn_rx_get_n_symbols (PhysnnRx *rx);
const gchar *_physnn_rx_get_symbol (PhysnnRx *rx, guint i);

/* r[p] for p < n; sym[i] points at n values of symbol i, each read with
 * stride[i] (0 for a constant). */
void _physnn_rx_eval (PhysnnRx *rx, gsize n, const gdouble *const *sym,
    const gsize *stride, gdouble *r);
/* As _physnn_rx_eval, and also sym_bar[i][p * stride_bar[i]] +=
 * r_bar[p] * dr/dsym_i (sym_bar[i] may be NULL). r may be NULL. */
void _physnn_rx_vjp (PhysnnRx *rx, gsize n, const gdouble *const *sym,
    const gsize *stride, const gdouble *r_bar, gdouble **sym_bar,
    const gsize *stride_bar, gdouble *r);

/* Appends ONNX nodes computing the expression to @m (numbers become
 * float32 Constant nodes; symbols are the value names @resolve gives, NULL
 * for an unknown one). Returns the name of the result value. */
typedef const gchar *(*PhysnnRxResolve) (gpointer user, const gchar *symbol);
gchar *_physnn_rx_to_onnx (PhysnnRx *rx, PhysnnOnnxModel *m,
    const gchar *prefix, PhysnnRxResolve resolve, gpointer user,
    GError **error);

G_END_DECLS
