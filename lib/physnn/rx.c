/* physnn — residual expressions for training (see rx-private.h).
 *
 * An expression compiles to a straight-line program (one instruction per
 * tree node, operands by index), run per point forwards for the value and
 * backwards for the adjoints of every symbol.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/rx-private.h"
#include "physnn/error.h"

#include <math.h>
#include <string.h>

#define MAX_INSTR 4096
#define MAX_DEPTH 64

typedef enum {
  I_NUM,
  I_SYM,
  I_ADD,
  I_SUB,
  I_MUL,
  I_DIV,
  I_POW,
  I_NEG,
  I_SIN,
  I_COS,
  I_TAN,
  I_EXP,
  I_LOG,
  I_SQRT,
  I_ABS,
  I_TANH
} Op;

typedef struct {
  Op op;
  gint a, b;   /* operand instructions */
  gdouble num; /* I_NUM */
  guint sym;   /* I_SYM */
} Instr;

struct _PhysnnRx {
  gchar *text;
  GArray *code;       /* Instr */
  GPtrArray *symbols; /* gchar* */
};

static const struct {
  const gchar *name;
  Op op;
} funcs[] = {
  { "sin", I_SIN },
  { "cos", I_COS },
  { "tan", I_TAN },
  { "exp", I_EXP },
  { "log", I_LOG },
  { "sqrt", I_SQRT },
  { "abs", I_ABS },
  { "tanh", I_TANH },
};

typedef struct {
  const gchar *text, *p;
  PhysnnRx *rx;
  GError **error;
  guint depth;
} Parser;

static gint
fail (Parser *ps, const gchar *what)
{
  if (ps->error && *ps->error == NULL)
    g_set_error (ps->error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
        "expression \"%s\", column %d: %s", ps->text,
        (gint)(ps->p - ps->text) + 1, what);
  return -1;
}

static gint
emit (Parser *ps, Op op, gint a, gint b)
{
  Instr in = { op, a, b, 0, 0 };
  if (a < -1 || b < -1 || (op != I_NUM && op != I_SYM && a < 0))
    return -1;
  if (ps->rx->code->len >= MAX_INSTR)
    return fail (ps, "expression too long");
  g_array_append_val (ps->rx->code, in);
  return (gint)ps->rx->code->len - 1;
}

static void
skip (Parser *ps)
{
  while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n')
    ps->p++;
}

static gint parse_expr (Parser *ps);
static gint parse_unary (Parser *ps);

static gint
parse_primary (Parser *ps)
{
  skip (ps);
  if (g_ascii_isdigit (*ps->p) ||
      (*ps->p == '.' && g_ascii_isdigit (ps->p[1]))) {
    gchar *end = NULL;
    gdouble v = g_ascii_strtod (ps->p, &end);
    if (end == ps->p || !isfinite (v))
      return fail (ps, "bad number");
    ps->p = end;
    gint i = emit (ps, I_NUM, -1, -1);
    if (i >= 0)
      g_array_index (ps->rx->code, Instr, i).num = v;
    return i;
  }
  if (g_ascii_isalpha (*ps->p)) {
    const gchar *s = ps->p;
    while (g_ascii_isalnum (*ps->p) || *ps->p == '_')
      ps->p++;
    g_autofree gchar *name = g_strndup (s, ps->p - s);
    skip (ps);
    if (*ps->p == '(') {
      for (guint f = 0; f < G_N_ELEMENTS (funcs); f++) {
        if (strcmp (name, funcs[f].name) != 0)
          continue;
        ps->p++;
        gint a = parse_expr (ps);
        if (a < 0)
          return -1;
        skip (ps);
        if (*ps->p != ')')
          return fail (ps, "expected ')'");
        ps->p++;
        return emit (ps, funcs[f].op, a, -1);
      }
      ps->p = s;
      return fail (ps, "unknown function (sin, cos, tan, exp, log, sqrt, "
                       "abs, tanh are known)");
    }
    if (strcmp (name, "pi") == 0) {
      gint i = emit (ps, I_NUM, -1, -1);
      if (i >= 0)
        g_array_index (ps->rx->code, Instr, i).num = G_PI;
      return i;
    }
    guint sym;
    for (sym = 0; sym < ps->rx->symbols->len; sym++)
      if (strcmp (g_ptr_array_index (ps->rx->symbols, sym), name) == 0)
        break;
    if (sym == ps->rx->symbols->len)
      g_ptr_array_add (ps->rx->symbols, g_strdup (name));
    gint i = emit (ps, I_SYM, -1, -1);
    if (i >= 0)
      g_array_index (ps->rx->code, Instr, i).sym = sym;
    return i;
  }
  if (*ps->p == '(') {
    ps->p++;
    gint a = parse_expr (ps);
    if (a < 0)
      return -1;
    skip (ps);
    if (*ps->p != ')')
      return fail (ps, "expected ')'");
    ps->p++;
    return a;
  }
  return fail (ps, *ps->p ? "expected a number, a name or '('"
                          : "unexpected end of the expression");
}

static gint
parse_power (Parser *ps)
{
  gint a = parse_primary (ps);
  if (a < 0)
    return -1;
  skip (ps);
  if (*ps->p == '^' || (ps->p[0] == '*' && ps->p[1] == '*')) {
    ps->p += *ps->p == '^' ? 1 : 2;
    gint b = parse_unary (ps); /* right associative: a^-b, a^b^c */
    return b < 0 ? -1 : emit (ps, I_POW, a, b);
  }
  return a;
}

static gint
parse_unary (Parser *ps)
{
  skip (ps);
  if (++ps->depth > MAX_DEPTH)
    return fail (ps, "nested too deeply");
  gint r;
  if (*ps->p == '-' || *ps->p == '+') {
    gboolean neg = *ps->p == '-';
    ps->p++;
    gint a = parse_unary (ps);
    r = a < 0 ? -1 : neg ? emit (ps, I_NEG, a, -1) : a;
  } else {
    r = parse_power (ps);
  }
  ps->depth--;
  return r;
}

static gint
parse_term (Parser *ps)
{
  gint a = parse_unary (ps);
  while (a >= 0) {
    skip (ps);
    if ((*ps->p == '*' && ps->p[1] != '*') || *ps->p == '/') {
      Op op = *ps->p == '*' ? I_MUL : I_DIV;
      ps->p++;
      gint b = parse_unary (ps);
      a = b < 0 ? -1 : emit (ps, op, a, b);
    } else {
      break;
    }
  }
  return a;
}

static gint
parse_expr (Parser *ps)
{
  if (++ps->depth > MAX_DEPTH)
    return fail (ps, "nested too deeply");
  gint a = parse_term (ps);
  while (a >= 0) {
    skip (ps);
    if (*ps->p == '+' || *ps->p == '-') {
      Op op = *ps->p == '+' ? I_ADD : I_SUB;
      ps->p++;
      gint b = parse_term (ps);
      a = b < 0 ? -1 : emit (ps, op, a, b);
    } else {
      break;
    }
  }
  ps->depth--;
  return a;
}

void
_physnn_rx_free (PhysnnRx *rx)
{
  if (rx == NULL)
    return;
  g_free (rx->text);
  g_array_unref (rx->code);
  g_ptr_array_unref (rx->symbols);
  g_free (rx);
}

PhysnnRx *
_physnn_rx_parse (const gchar *text, GError **error)
{
  g_autoptr (PhysnnRx) rx = g_new0 (PhysnnRx, 1);
  GError *local = NULL;

  g_return_val_if_fail (text != NULL, NULL);
  rx->text = g_strdup (text);
  rx->code = g_array_new (FALSE, FALSE, sizeof (Instr));
  rx->symbols = g_ptr_array_new_with_free_func (g_free);
  Parser ps = { text, text, rx, &local, 0 };
  if (strlen (text) > 65536) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "expression of %" G_GSIZE_FORMAT " bytes is too long", strlen (text));
    return NULL;
  }
  gint root = parse_expr (&ps);
  if (root >= 0) {
    skip (&ps);
    if (*ps.p != '\0')
      root = fail (&ps, "expected an operator or the end");
  }
  if (root < 0) {
    if (local == NULL)
      fail (&ps, "syntax error");
    g_propagate_error (error, local);
    return NULL;
  }
  /* The root is the last instruction emitted. */
  g_assert ((guint)root == rx->code->len - 1);
  return g_steal_pointer (&rx);
}

const gchar *
_physnn_rx_get_text (PhysnnRx *rx)
{
  return rx->text;
}

guint
_physnn_rx_get_n_symbols (PhysnnRx *rx)
{
  return rx->symbols->len;
}

const gchar *
_physnn_rx_get_symbol (PhysnnRx *rx, guint i)
{
  return i < rx->symbols->len ? g_ptr_array_index (rx->symbols, i) : NULL;
}

static void
run_forward (const Instr *code, guint len, const gdouble *const *sym,
    const gsize *stride, gsize p, gdouble *v)
{
  for (guint i = 0; i < len; i++) {
    const Instr *in = &code[i];
    gdouble a = in->a >= 0 ? v[in->a] : 0, b = in->b >= 0 ? v[in->b] : 0;
    switch (in->op) {
      case I_NUM:
        v[i] = in->num;
        break;
      case I_SYM:
        v[i] = sym[in->sym][p * stride[in->sym]];
        break;
      case I_ADD:
        v[i] = a + b;
        break;
      case I_SUB:
        v[i] = a - b;
        break;
      case I_MUL:
        v[i] = a * b;
        break;
      case I_DIV:
        v[i] = a / b;
        break;
      case I_POW:
        /* integer exponents by pow() are exact for negative bases too */
        v[i] = pow (a, b);
        break;
      case I_NEG:
        v[i] = -a;
        break;
      case I_SIN:
        v[i] = sin (a);
        break;
      case I_COS:
        v[i] = cos (a);
        break;
      case I_TAN:
        v[i] = tan (a);
        break;
      case I_EXP:
        v[i] = exp (a);
        break;
      case I_LOG:
        v[i] = log (a);
        break;
      case I_SQRT:
        v[i] = sqrt (a);
        break;
      case I_ABS:
        v[i] = fabs (a);
        break;
      case I_TANH:
        v[i] = tanh (a);
        break;
    }
  }
}

void
_physnn_rx_eval (PhysnnRx *rx, gsize n, const gdouble *const *sym,
    const gsize *stride, gdouble *r)
{
  const Instr *code = (const Instr *)rx->code->data;
  guint len = rx->code->len;
  g_autofree gdouble *v = g_new (gdouble, len);
  for (gsize p = 0; p < n; p++) {
    run_forward (code, len, sym, stride, p, v);
    r[p] = v[len - 1];
  }
}

void
_physnn_rx_vjp (PhysnnRx *rx, gsize n, const gdouble *const *sym,
    const gsize *stride, const gdouble *r_bar, gdouble **sym_bar,
    const gsize *stride_bar, gdouble *r)
{
  const Instr *code = (const Instr *)rx->code->data;
  guint len = rx->code->len;
  g_autofree gdouble *v = g_new (gdouble, len);
  g_autofree gdouble *vb = g_new (gdouble, len);
  for (gsize p = 0; p < n; p++) {
    run_forward (code, len, sym, stride, p, v);
    if (r)
      r[p] = v[len - 1];
    memset (vb, 0, len * sizeof (gdouble));
    vb[len - 1] = r_bar[p];
    for (gint i = (gint)len - 1; i >= 0; i--) {
      const Instr *in = &code[i];
      gdouble g = vb[i];
      if (g == 0)
        continue;
      gdouble a = in->a >= 0 ? v[in->a] : 0, b = in->b >= 0 ? v[in->b] : 0;
      switch (in->op) {
        case I_NUM:
          break;
        case I_SYM:
          if (sym_bar[in->sym])
            sym_bar[in->sym][p * stride_bar[in->sym]] += g;
          break;
        case I_ADD:
          vb[in->a] += g;
          vb[in->b] += g;
          break;
        case I_SUB:
          vb[in->a] += g;
          vb[in->b] -= g;
          break;
        case I_MUL:
          vb[in->a] += g * b;
          vb[in->b] += g * a;
          break;
        case I_DIV:
          vb[in->a] += g / b;
          vb[in->b] -= g * a / (b * b);
          break;
        case I_POW:
          /* d/da a^b = b a^(b-1); d/db = a^b log a, only where the
           * exponent varies (a constant exponent has no adjoint use) */
          vb[in->a] += b == 0 ? 0 : g * b * pow (a, b - 1);
          if (code[in->b].op != I_NUM && a > 0)
            vb[in->b] += g * v[i] * log (a);
          break;
        case I_NEG:
          vb[in->a] -= g;
          break;
        case I_SIN:
          vb[in->a] += g * cos (a);
          break;
        case I_COS:
          vb[in->a] -= g * sin (a);
          break;
        case I_TAN: {
          gdouble c = cos (a);
          vb[in->a] += g / (c * c);
          break;
        }
        case I_EXP:
          vb[in->a] += g * v[i];
          break;
        case I_LOG:
          vb[in->a] += g / a;
          break;
        case I_SQRT:
          vb[in->a] += g * 0.5 / v[i];
          break;
        case I_ABS:
          vb[in->a] += a > 0 ? g : (a < 0 ? -g : 0);
          break;
        case I_TANH:
          vb[in->a] += g * (1 - v[i] * v[i]);
          break;
      }
    }
  }
}

static gchar *
onnx_node (PhysnnOnnxModel *m, const gchar *prefix, guint i, const gchar *op,
    const gchar *a, const gchar *b)
{
  gchar *out = g_strdup_printf ("%s%u", prefix, i);
  g_autofree gchar *nname = g_strdup_printf ("%s%s%u", prefix, op, i);
  PhysnnOnnxNode *n = physnn_onnx_node_new (op, nname);
  g_ptr_array_add (n->inputs, g_strdup (a));
  if (b)
    g_ptr_array_add (n->inputs, g_strdup (b));
  g_ptr_array_add (n->outputs, g_strdup (out));
  g_ptr_array_add (m->nodes, n);
  return out;
}

gchar *
_physnn_rx_to_onnx (PhysnnRx *rx, PhysnnOnnxModel *m, const gchar *prefix,
    PhysnnRxResolve resolve, gpointer user, GError **error)
{
  const Instr *code = (const Instr *) rx->code->data;
  guint len = rx->code->len;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  static const gchar *fn_op[] = {
    [I_SIN] = "Sin",[I_COS] = "Cos",[I_EXP] = "Exp",[I_LOG] = "Log",
    [I_SQRT] = "Sqrt",[I_ABS] = "Abs",[I_TANH] = "Tanh",[I_TAN] = NULL,
  };

  for (guint i = 0; i < len; i++) {
    const Instr *in = &code[i];
    const gchar *a = in->a >= 0 ? g_ptr_array_index (names, in->a) : NULL;
    const gchar *b = in->b >= 0 ? g_ptr_array_index (names, in->b) : NULL;
    gchar *out = NULL;
    switch (in->op) {
      case I_NUM:{
        gsize shape[1] = { 1 };
        PhysnnTensor *t = physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, shape);
        physnn_tensor_set_value (t, 0, in->num);
        out = g_strdup_printf ("%s%u", prefix, i);
        g_autofree gchar *nname = g_strdup_printf ("%sConstant%u", prefix, i);
        PhysnnOnnxNode *n = physnn_onnx_node_new ("Constant", nname);
        PhysnnOnnxAttribute *at = physnn_onnx_attribute_new ("value",
            PHYSNN_ONNX_ATTR_TENSOR);
        at->t = t;
        g_ptr_array_add (n->attributes, at);
        g_ptr_array_add (n->outputs, g_strdup (out));
        g_ptr_array_add (m->nodes, n);
        break;
      }
      case I_SYM:{
        const gchar *sym = g_ptr_array_index (rx->symbols, in->sym);
        const gchar *v = resolve (user, sym);
        if (v == NULL) {
          g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
              "\"%s\": unknown symbol \"%s\"", rx->text, sym);
          return NULL;
        }
        out = g_strdup (v);
        break;
      }
      case I_ADD:
        out = onnx_node (m, prefix, i, "Add", a, b);
        break;
      case I_SUB:
        out = onnx_node (m, prefix, i, "Sub", a, b);
        break;
      case I_MUL:
        out = onnx_node (m, prefix, i, "Mul", a, b);
        break;
      case I_DIV:
        out = onnx_node (m, prefix, i, "Div", a, b);
        break;
      case I_POW:
        if (code[in->b].op != I_NUM) {
          g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
              "\"%s\": only constant exponents can be part of a model",
              rx->text);
          return NULL;
        }
        out = onnx_node (m, prefix, i, "Pow", a, b);
        break;
      case I_NEG:
        out = onnx_node (m, prefix, i, "Neg", a, NULL);
        break;
      default:
        if (fn_op[in->op] == NULL) {
          g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
              "\"%s\": tan() cannot be part of a model (write "
              "sin()/cos())", rx->text);
          return NULL;
        }
        out = onnx_node (m, prefix, i, fn_op[in->op], a, NULL);
    }
    g_ptr_array_add (names, out);
  }
  return g_strdup (g_ptr_array_index (names, len - 1));
}
