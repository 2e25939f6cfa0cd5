/* physnn — the PDE language.
 *
 * A PDE is text such as `u_t - alpha*u_xx`, `u_t + u*u_x = nu*u_xx` or a
 * system `u_t - v; v_t - c^2*u_xx` (equations separated by ';', each an
 * expression or `lhs = rhs`, which means lhs - rhs). Names stand for the
 * model's output components (u), their derivatives by suffix (u_x, u_xx,
 * u_xt: an output, '_', one or two coordinates), coordinates (x, t), named
 * parameters (alpha) and the constant pi; numbers, + - * / ^ (or **),
 * unary minus, parentheses and the functions sin cos tan exp log sqrt abs
 * tanh make the rest.
 *
 * Text → tokens → a tree built by recursive descent (post-order, so node
 * indices are a valid evaluation order) → bound to a model's names, which
 * yields the derivatives the residual needs: exactly those are requested
 * from the model's forward-mode jets. Every error names the column (in
 * characters) and what was expected there.
 *
 * The residual evaluates on the C path in float64 blocks of points, and on
 * OpenCL as a kernel generated from the tree, reading the model's outputs
 * and derivative tensors where they already are: on the device.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/pde.h"
#include "physnn/device-private.h"
#include "physnn/error.h"
#include "physnn/model-private.h"
#include "physnn/tensor-private.h"

#include <math.h>
#include <string.h>

#define MAX_TEXT 4096 /* characters */
#define MAX_NODES 4096
#define MAX_DEPTH 64
#define MAX_EQUATIONS 16
#define MAX_DERIVS 32 /* what PhysnnModel accepts in one request */
#define MAX_SECOND 10 /* distinct second-order pairs per request */
#define MAX_NAMES 64
#define BLOCK 256

typedef enum {
  N_NUM,
  N_SYM,
  N_ADD,
  N_SUB,
  N_MUL,
  N_DIV,
  N_POW,
  N_NEG,
  N_SIN,
  N_COS,
  N_TAN,
  N_EXP,
  N_LOG,
  N_SQRT,
  N_ABS,
  N_TANH,
} NodeOp;

static const struct {
  const gchar *name;
  NodeOp op;
  const gchar *cl;
} funcs[] = {
  { "sin", N_SIN, "sin" },
  { "cos", N_COS, "cos" },
  { "tan", N_TAN, "tan" },
  { "exp", N_EXP, "exp" },
  { "log", N_LOG, "log" },
  { "sqrt", N_SQRT, "sqrt" },
  { "abs", N_ABS, "fabs" },
  { "tanh", N_TANH, "tanh" },
};

typedef struct {
  NodeOp op;
  gint a, b;
  gdouble num;
  guint sym;
} Node;

typedef struct {
  gint root; /* lhs - rhs when has_rhs */
  gint lhs, rhs;
  gboolean has_rhs;
  guint term0, n_terms; /* its additive terms, in self->terms */
} Equation;

typedef struct {
  gchar *name;
  guint column; /* of its first appearance, from 1 */
  PhysnnPdeSymbolKind kind;
  /* bound: where the values are */
  guint index;     /* output/input/derivative index */
  guint column_in; /* column within that tensor's last axis */
  gdouble value;   /* parameter */
} Symbol;

struct _PhysnnPde {
  GObject parent;

  gchar *text;
  GArray *nodes;      /* Node */
  GArray *equations;  /* Equation */
  GArray *terms;      /* gint: node of each additive term */
  GPtrArray *symbols; /* Symbol* */
  GHashTable *params; /* name -> gdouble* */

  gboolean bound;
  PhysnnModel *bound_model; /* not a reference: compared only */
  gchar *bound_signature;
  GPtrArray *derivs; /* gchar*: the derivatives needed */
  gchar *derivs_joined;

  /* OpenCL */
  PhysnnDevice *cl_device;
  cl_program program;
  cl_kernel kernel;
  gchar *cl_source;
};

G_DEFINE_FINAL_TYPE (PhysnnPde, physnn_pde, G_TYPE_OBJECT)

static void
symbol_free (Symbol *s)
{
  g_free (s->name);
  g_free (s);
}

static void
clear_cl (PhysnnPde *self)
{
  if (self->kernel)
    clReleaseKernel (self->kernel);
  if (self->program)
    clReleaseProgram (self->program);
  self->kernel = NULL;
  self->program = NULL;
  g_clear_object (&self->cl_device);
  g_clear_pointer (&self->cl_source, g_free);
}

static void
physnn_pde_finalize (GObject *object)
{
  PhysnnPde *self = PHYSNN_PDE (object);
  clear_cl (self);
  g_free (self->text);
  g_array_unref (self->nodes);
  g_array_unref (self->equations);
  g_array_unref (self->terms);
  g_ptr_array_unref (self->symbols);
  g_hash_table_unref (self->params);
  g_ptr_array_unref (self->derivs);
  g_free (self->derivs_joined);
  g_free (self->bound_signature);
  G_OBJECT_CLASS (physnn_pde_parent_class)->finalize (object);
}

static void
physnn_pde_class_init (PhysnnPdeClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = physnn_pde_finalize;
}

static void
physnn_pde_init (PhysnnPde *self)
{
  self->nodes = g_array_new (FALSE, TRUE, sizeof (Node));
  self->equations = g_array_new (FALSE, TRUE, sizeof (Equation));
  self->terms = g_array_new (FALSE, FALSE, sizeof (gint));
  self->symbols = g_ptr_array_new_with_free_func ((GDestroyNotify)symbol_free);
  self->params =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->derivs = g_ptr_array_new_with_free_func (g_free);
  self->derivs_joined = g_strdup ("");
}

/* ------------------------------------------------------------------------ */
/* Tokens */

typedef enum {
  T_END,
  T_NUM,
  T_NAME,
  T_PLUS,
  T_MINUS,
  T_STAR,
  T_SLASH,
  T_POW,
  T_LPAREN,
  T_RPAREN,
  T_SEMI,
  T_EQUALS,
} TokKind;

typedef struct {
  TokKind kind;
  const gchar *start; /* in the text */
  gsize len;
  gdouble num;
} Token;

typedef struct {
  PhysnnPde *pde;
  const gchar *text;
  const gchar *p; /* scanner position */
  Token tok;      /* current token */
  guint depth;
  GError **error;
  gboolean failed;
} Parser;

static guint
column_of (const gchar *text, const gchar *at)
{
  return (guint)g_utf8_pointer_to_offset (text, at) + 1;
}

static const gchar *
tok_describe (const Token *t)
{
  switch (t->kind) {
    case T_END:
      return "the end of the text";
    case T_NUM:
      return "a number";
    case T_NAME:
      return "a name";
    case T_PLUS:
      return "'+'";
    case T_MINUS:
      return "'-'";
    case T_STAR:
      return "'*'";
    case T_SLASH:
      return "'/'";
    case T_POW:
      return "'^'";
    case T_LPAREN:
      return "'('";
    case T_RPAREN:
      return "')'";
    case T_SEMI:
      return "';'";
    case T_EQUALS:
      return "'='";
  }
  return "?";
}

/* "PDE "…", column N: message" and the text with a caret under column N, so
 * that the mistake shows in a terminal. */
static void set_error_at (GError **error, gint code, const gchar *text,
    const gchar *at, const gchar *fmt, ...) G_GNUC_PRINTF (5, 6);

static void
set_error_at (GError **error, gint code, const gchar *text, const gchar *at,
    const gchar *fmt, ...)
{
  va_list ap;
  g_autofree gchar *what = NULL;
  guint col = column_of (text, at);
  GString *caret = g_string_new (NULL);

  va_start (ap, fmt);
  what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  for (guint i = 1; i < col; i++)
    g_string_append_c (caret, ' ');
  g_string_append_c (caret, '^');
  /* Control characters would break the two-line picture. */
  g_autofree gchar *shown = g_strdup (text);
  for (gchar *c = shown; *c; c++)
    if ((guchar)*c < 0x20)
      *c = ' ';
  g_set_error (error, PHYSNN_ERROR, code,
      "PDE \"%s\", column %u: %s\n  %s\n  %s", shown, col, what, shown,
      caret->str);
  g_string_free (caret, TRUE);
}

static gboolean fail (Parser *ps, const gchar *at, const gchar *fmt, ...)
    G_GNUC_PRINTF (3, 4);

static gboolean
fail (Parser *ps, const gchar *at, const gchar *fmt, ...)
{
  va_list ap;
  g_autofree gchar *what = NULL;
  if (ps->failed)
    return FALSE;
  ps->failed = TRUE;
  va_start (ap, fmt);
  what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  set_error_at (ps->error, PHYSNN_ERROR_PARSE, ps->text, at, "%s", what);
  return FALSE;
}

static gboolean
scan_number (Parser *ps)
{
  const gchar *s = ps->p, *q = s;
  gboolean digits = FALSE;
  while (g_ascii_isdigit (*q)) {
    q++;
    digits = TRUE;
  }
  if (*q == '.') {
    q++;
    while (g_ascii_isdigit (*q)) {
      q++;
      digits = TRUE;
    }
  }
  if (!digits)
    return fail (ps, s, "a number needs at least one digit");
  if (*q == 'e' || *q == 'E') {
    const gchar *e = q++;
    if (*q == '+' || *q == '-')
      q++;
    if (!g_ascii_isdigit (*q))
      return fail (ps, e,
          "the exponent of this number has no digits (as in "
          "1e-3)");
    while (g_ascii_isdigit (*q))
      q++;
  }
  if (g_ascii_isalpha (*q) || *q == '_')
    return fail (ps, q,
        "a name cannot follow a number directly; write '*' "
        "for a product, as in 2*u");
  g_autofree gchar *copy = g_strndup (s, q - s);
  gdouble v = g_ascii_strtod (copy, NULL);
  if (!isfinite (v))
    return fail (ps, s, "the number %s is out of range", copy);
  ps->tok.kind = T_NUM;
  ps->tok.num = v;
  ps->tok.start = s;
  ps->tok.len = q - s;
  ps->p = q;
  return TRUE;
}

static gboolean
next (Parser *ps)
{
  while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
    ps->p++;
  const gchar *s = ps->p;
  ps->tok.start = s;
  ps->tok.len = 1;
  switch (*s) {
    case '\0':
      ps->tok.kind = T_END;
      ps->tok.len = 0;
      return TRUE;
    case '+':
      ps->tok.kind = T_PLUS;
      break;
    case '-':
      ps->tok.kind = T_MINUS;
      break;
    case '*':
      if (s[1] == '*') {
        ps->tok.kind = T_POW;
        ps->tok.len = 2;
      } else {
        ps->tok.kind = T_STAR;
      }
      break;
    case '/':
      ps->tok.kind = T_SLASH;
      break;
    case '^':
      ps->tok.kind = T_POW;
      break;
    case '(':
      ps->tok.kind = T_LPAREN;
      break;
    case ')':
      ps->tok.kind = T_RPAREN;
      break;
    case ';':
      ps->tok.kind = T_SEMI;
      break;
    case '=':
      ps->tok.kind = T_EQUALS;
      break;
    default:
      if (g_ascii_isdigit (*s) || *s == '.')
        return scan_number (ps);
      if (g_ascii_isalpha (*s)) {
        const gchar *q = s;
        while (g_ascii_isalnum (*q) || *q == '_')
          q++;
        ps->tok.kind = T_NAME;
        ps->tok.len = q - s;
        ps->p = q;
        return TRUE;
      }
      if ((guchar)*s >= 0x80) {
        gunichar c = g_utf8_get_char_validated (s, -1);
        if (c == 0x2212)
          return fail (ps, s,
              "'−' (U+2212 minus sign) is not an operator "
              "here; type '-'");
        if (c == 0xB7 || c == 0xD7 || c == 0x22C5)
          return fail (ps, s, "type '*' for a product");
        if (c == (gunichar)-1 || c == (gunichar)-2)
          return fail (ps, s, "the text is not valid UTF-8");
        return fail (ps, s,
            "unexpected character U+%04X; a PDE is written "
            "in ASCII: names, numbers, + - * / ^ ( ) ; =",
            c);
      }
      if (*s == '_')
        return fail (ps, s, "a name must start with a letter");
      return fail (ps, s,
          "unexpected character '%c'; expected a name, a "
          "number, an operator (+ - * / ^), '(', ')', ';' or '='",
          g_ascii_isprint (*s) ? *s : '?');
  }
  ps->p = s + ps->tok.len;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Parser: recursive descent, emitting nodes in post-order */

static gint
emit (Parser *ps, NodeOp op, gint a, gint b, const gchar *at)
{
  Node n = { op, a, b, 0, 0 };
  if (ps->pde->nodes->len >= MAX_NODES) {
    fail (ps, at, "the PDE is too long (more than %d operations)", MAX_NODES);
    return -1;
  }
  g_array_append_val (ps->pde->nodes, n);
  return (gint)ps->pde->nodes->len - 1;
}

static guint
intern (PhysnnPde *self, const gchar *name, gsize len, guint column)
{
  for (guint i = 0; i < self->symbols->len; i++) {
    Symbol *s = g_ptr_array_index (self->symbols, i);
    if (strlen (s->name) == len && strncmp (s->name, name, len) == 0)
      return i;
  }
  Symbol *s = g_new0 (Symbol, 1);
  s->name = g_strndup (name, len);
  s->column = column;
  g_ptr_array_add (self->symbols, s);
  return self->symbols->len - 1;
}

static gboolean
known (PhysnnPde *self, const gchar *name, gsize len)
{
  for (guint i = 0; i < self->symbols->len; i++) {
    Symbol *s = g_ptr_array_index (self->symbols, i);
    if (strlen (s->name) == len && strncmp (s->name, name, len) == 0)
      return TRUE;
  }
  return FALSE;
}

static gint parse_expr (Parser *ps);
static gint parse_unary (Parser *ps);

static gint
parse_primary (Parser *ps)
{
  Token t = ps->tok;

  if (t.kind == T_NUM) {
    if (!next (ps))
      return -1;
    gint i = emit (ps, N_NUM, -1, -1, t.start);
    if (i >= 0)
      g_array_index (ps->pde->nodes, Node, i).num = t.num;
    return i;
  }
  if (t.kind == T_NAME) {
    if (!next (ps))
      return -1;
    if (ps->tok.kind == T_LPAREN) {
      for (guint f = 0; f < G_N_ELEMENTS (funcs); f++) {
        if (strlen (funcs[f].name) != t.len ||
            strncmp (funcs[f].name, t.start, t.len) != 0)
          continue;
        const gchar *open = ps->tok.start;
        if (!next (ps))
          return -1;
        gint a = parse_expr (ps);
        if (a < 0)
          return -1;
        if (ps->tok.kind != T_RPAREN) {
          fail (ps, ps->tok.start,
              "expected ')' to close the '(' of %s at "
              "column %u, found %s",
              funcs[f].name, column_of (ps->text, open),
              tok_describe (&ps->tok));
          return -1;
        }
        if (!next (ps))
          return -1;
        return emit (ps, funcs[f].op, a, -1, t.start);
      }
      g_autofree gchar *name = g_strndup (t.start, t.len);
      fail (ps, t.start,
          "unknown function \"%s\"; the functions are sin, "
          "cos, tan, exp, log, sqrt, abs and tanh (write '*' for a product, "
          "as in %s*(…))",
          name, name);
      return -1;
    }
    for (guint f = 0; f < G_N_ELEMENTS (funcs); f++)
      if (strlen (funcs[f].name) == t.len &&
          strncmp (funcs[f].name, t.start, t.len) == 0) {
        fail (ps, ps->tok.start, "expected '(' after the function %s",
            funcs[f].name);
        return -1;
      }
    if (t.len == 2 && strncmp (t.start, "pi", 2) == 0) {
      gint i = emit (ps, N_NUM, -1, -1, t.start);
      if (i >= 0)
        g_array_index (ps->pde->nodes, Node, i).num = G_PI;
      return i;
    }
    if (t.len > 255) {
      fail (ps, t.start, "a name of more than 255 characters");
      return -1;
    }
    if (t.start[t.len - 1] == '_') {
      fail (ps, t.start + t.len - 1,
          "a name cannot end with '_'; a "
          "derivative names its coordinates after it, as in u_x");
      return -1;
    }
    if (ps->pde->symbols->len >= MAX_NAMES &&
        !known (ps->pde, t.start, t.len)) {
      fail (ps, t.start, "more than %d different names", MAX_NAMES);
      return -1;
    }
    guint sym = intern (ps->pde, t.start, t.len, column_of (ps->text, t.start));
    gint i = emit (ps, N_SYM, -1, -1, t.start);
    if (i >= 0)
      g_array_index (ps->pde->nodes, Node, i).sym = sym;
    return i;
  }
  if (t.kind == T_LPAREN) {
    if (!next (ps))
      return -1;
    gint a = parse_expr (ps);
    if (a < 0)
      return -1;
    if (ps->tok.kind != T_RPAREN) {
      fail (ps, ps->tok.start,
          "expected ')' to close the '(' at column %u, "
          "found %s",
          column_of (ps->text, t.start), tok_describe (&ps->tok));
      return -1;
    }
    if (!next (ps))
      return -1;
    return a;
  }
  if (t.kind == T_END)
    fail (ps, t.start,
        "the PDE ends where a number, a name or '(' was "
        "expected");
  else
    fail (ps, t.start, "expected a number, a name or '(', found %s",
        tok_describe (&t));
  return -1;
}

static gint
parse_power (Parser *ps)
{
  gint a = parse_primary (ps);
  if (a < 0)
    return -1;
  if (ps->tok.kind == T_POW) {
    const gchar *at = ps->tok.start;
    if (!next (ps))
      return -1;
    /* right associative, and the exponent may carry a sign: a^-b, a^b^c */
    gint b = parse_unary (ps);
    return b < 0 ? -1 : emit (ps, N_POW, a, b, at);
  }
  return a;
}

static gint
parse_unary (Parser *ps)
{
  if (++ps->depth > MAX_DEPTH) {
    fail (ps, ps->tok.start, "nested more than %d deep", MAX_DEPTH);
    return -1;
  }
  gint r;
  if (ps->tok.kind == T_MINUS || ps->tok.kind == T_PLUS) {
    gboolean neg = ps->tok.kind == T_MINUS;
    const gchar *at = ps->tok.start;
    if (!next (ps))
      return -1;
    gint a = parse_unary (ps);
    r = a < 0 ? -1 : neg ? emit (ps, N_NEG, a, -1, at) : a;
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
  while (a >= 0 && (ps->tok.kind == T_STAR || ps->tok.kind == T_SLASH)) {
    NodeOp op = ps->tok.kind == T_STAR ? N_MUL : N_DIV;
    const gchar *at = ps->tok.start;
    if (!next (ps))
      return -1;
    gint b = parse_unary (ps);
    a = b < 0 ? -1 : emit (ps, op, a, b, at);
  }
  return a;
}

static gint
parse_expr (Parser *ps)
{
  if (++ps->depth > MAX_DEPTH) {
    fail (ps, ps->tok.start, "nested more than %d deep", MAX_DEPTH);
    return -1;
  }
  gint a = parse_term (ps);
  while (a >= 0 && (ps->tok.kind == T_PLUS || ps->tok.kind == T_MINUS)) {
    NodeOp op = ps->tok.kind == T_PLUS ? N_ADD : N_SUB;
    const gchar *at = ps->tok.start;
    if (!next (ps))
      return -1;
    gint b = parse_term (ps);
    a = b < 0 ? -1 : emit (ps, op, a, b, at);
  }
  ps->depth--;
  return a;
}

/* The additive terms of an equation: what the residual balances, whose
 * size says how small the residual is relative to the physics. */
static void
collect_terms (PhysnnPde *self, gint i)
{
  const Node *n = &g_array_index (self->nodes, Node, i);
  if (n->op == N_ADD || n->op == N_SUB) {
    gint b = n->b;
    collect_terms (self, n->a);
    collect_terms (self, b);
  } else if (n->op == N_NEG) {
    collect_terms (self, n->a);
  } else {
    g_array_append_val (self->terms, i);
  }
}

static gboolean
parse_system (Parser *ps)
{
  if (!next (ps))
    return FALSE;
  for (;;) {
    Equation eq = { -1, -1, -1, FALSE };
    if (ps->tok.kind == T_END && ps->pde->equations->len > 0)
      return TRUE; /* a trailing ';' */
    if (ps->tok.kind == T_END)
      return fail (ps, ps->tok.start,
          "the PDE is empty; write an "
          "expression such as u_t - 0.1*u_xx");
    if (ps->pde->equations->len == MAX_EQUATIONS)
      return fail (ps, ps->tok.start, "more than %d equations", MAX_EQUATIONS);
    eq.lhs = parse_expr (ps);
    if (eq.lhs < 0)
      return FALSE;
    eq.root = eq.lhs;
    if (ps->tok.kind == T_EQUALS) {
      const gchar *at = ps->tok.start;
      if (!next (ps))
        return FALSE;
      eq.rhs = parse_expr (ps);
      if (eq.rhs < 0)
        return FALSE;
      eq.has_rhs = TRUE;
      eq.root = emit (ps, N_SUB, eq.lhs, eq.rhs, at);
      if (eq.root < 0)
        return FALSE;
      if (ps->tok.kind == T_EQUALS)
        return fail (ps, ps->tok.start,
            "a second '=' in one equation; "
            "separate equations with ';'");
    }
    eq.term0 = ps->pde->terms->len;
    collect_terms (ps->pde, eq.root);
    eq.n_terms = ps->pde->terms->len - eq.term0;
    g_array_append_val (ps->pde->equations, eq);
    if (ps->tok.kind == T_END)
      return TRUE;
    if (ps->tok.kind != T_SEMI) {
      if (ps->tok.kind == T_RPAREN)
        return fail (ps, ps->tok.start, "')' without a matching '('");
      if (ps->tok.kind == T_NAME || ps->tok.kind == T_NUM ||
          ps->tok.kind == T_LPAREN)
        return fail (ps, ps->tok.start,
            "expected an operator (+ - * / ^) "
            "before %s; write '*' for a product",
            tok_describe (&ps->tok));
      return fail (ps, ps->tok.start,
          "expected an operator, ';' or the "
          "end, found %s",
          tok_describe (&ps->tok));
    }
    if (!next (ps))
      return FALSE;
  }
}

/**
 * physnn_pde_new:
 * @text: the PDE, e.g. "u_t - alpha*u_xx" or "u_t + u*u_x = nu*u_xx";
 *   equations of a system are separated by ';'
 * @error: return location for a #GError
 *
 * Parses a PDE. Syntax errors are %PHYSNN_ERROR_PARSE errors that give the
 * column (in characters, from 1), what was expected there, and the text
 * with a caret under the column. Names are resolved later, against a model,
 * by physnn_pde_bind().
 *
 * Returns: (transfer full): the PDE, or %NULL with @error set
 */
PhysnnPde *
physnn_pde_new (const gchar *text, GError **error)
{
  g_return_val_if_fail (text != NULL, NULL);

  if (!g_utf8_validate (text, -1, NULL)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
        "PDE: the text is not valid UTF-8");
    return NULL;
  }
  if (g_utf8_strlen (text, -1) > MAX_TEXT) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
        "PDE: the text is longer than %d characters", MAX_TEXT);
    return NULL;
  }
  g_autoptr (PhysnnPde) self = g_object_new (PHYSNN_TYPE_PDE, NULL);
  self->text = g_strdup (text);
  Parser ps = { self, self->text, self->text, { 0 }, 0, error, FALSE };
  if (!parse_system (&ps))
    return NULL;
  return g_steal_pointer (&self);
}

/**
 * physnn_pde_get_text:
 * @self: a #PhysnnPde
 *
 * Returns: the text the PDE was parsed from
 */
const gchar *
physnn_pde_get_text (PhysnnPde *self)
{
  g_return_val_if_fail (PHYSNN_IS_PDE (self), NULL);
  return self->text;
}

/**
 * physnn_pde_get_n_equations:
 * @self: a #PhysnnPde
 *
 * Returns: the number of equations (1 unless the text is a ';'-separated
 *   system)
 */
guint
physnn_pde_get_n_equations (PhysnnPde *self)
{
  g_return_val_if_fail (PHYSNN_IS_PDE (self), 0);
  return self->equations->len;
}

/* ------------------------------------------------------------------------ */
/* Printing: the canonical form, with the parentheses the tree needs and no
 * more; parsing it gives the same tree. */

static gint
prec (const Node *n)
{
  switch (n->op) {
    case N_ADD:
    case N_SUB:
      return 1;
    case N_MUL:
    case N_DIV:
      return 2;
    case N_NEG:
      return 3;
    case N_POW:
      return 4;
    default:
      return 5;
  }
}

static void
print_node (PhysnnPde *self, GString *s, gint i, gint need)
{
  const Node *n = &g_array_index (self->nodes, Node, i);
  gint p = prec (n);
  gboolean paren = p < need;

  if (paren)
    g_string_append_c (s, '(');
  switch (n->op) {
    case N_NUM: {
      if (n->num == G_PI) {
        g_string_append (s, "pi");
        break;
      }
      gchar buf[G_ASCII_DTOSTR_BUF_SIZE];
      g_string_append (s, g_ascii_formatd (buf, sizeof buf, "%.17g", n->num));
      break;
    }
    case N_SYM:
      g_string_append (
          s, ((Symbol *)g_ptr_array_index (self->symbols, n->sym))->name);
      break;
    case N_ADD:
    case N_SUB:
    case N_MUL:
    case N_DIV: {
      const gchar *ops = n->op == N_ADD   ? " + "
                         : n->op == N_SUB ? " - "
                         : n->op == N_MUL ? "*"
                                          : "/";
      print_node (self, s, n->a, p);
      g_string_append (s, ops);
      print_node (self, s, n->b, p + 1); /* left associative */
      break;
    }
    case N_POW:
      print_node (self, s, n->a, p + 1); /* right associative */
      g_string_append_c (s, '^');
      print_node (self, s, n->b, 3); /* the exponent is a unary */
      break;
    case N_NEG:
      g_string_append_c (s, '-');
      print_node (self, s, n->a, 3);
      break;
    default:
      for (guint f = 0; f < G_N_ELEMENTS (funcs); f++)
        if (funcs[f].op == n->op)
          g_string_append (s, funcs[f].name);
      g_string_append_c (s, '(');
      print_node (self, s, n->a, 0);
      g_string_append_c (s, ')');
  }
  if (paren)
    g_string_append_c (s, ')');
}

/**
 * physnn_pde_get_equation:
 * @self: a #PhysnnPde
 * @index: an equation index
 *
 * Returns: (transfer full) (nullable): the equation in canonical form (the
 *   parentheses it needs and no more; spacing normalised), which parses to
 *   the same expression
 */
gchar *
physnn_pde_get_equation (PhysnnPde *self, guint index)
{
  g_return_val_if_fail (PHYSNN_IS_PDE (self), NULL);
  if (index >= self->equations->len)
    return NULL;
  const Equation *eq = &g_array_index (self->equations, Equation, index);
  GString *s = g_string_new (NULL);
  print_node (self, s, eq->lhs, 0);
  if (eq->has_rhs) {
    g_string_append (s, " = ");
    print_node (self, s, eq->rhs, 0);
  }
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Symbols and parameters */

/**
 * physnn_pde_get_n_symbols:
 * @self: a #PhysnnPde
 *
 * Returns: the number of distinct names in the PDE (functions and pi
 *   excluded)
 */
guint
physnn_pde_get_n_symbols (PhysnnPde *self)
{
  g_return_val_if_fail (PHYSNN_IS_PDE (self), 0);
  return self->symbols->len;
}

/**
 * physnn_pde_get_symbol:
 * @self: a #PhysnnPde
 * @index: a symbol index, in order of first appearance
 *
 * Returns: (nullable): the name
 */
const gchar *
physnn_pde_get_symbol (PhysnnPde *self, guint index)
{
  g_return_val_if_fail (PHYSNN_IS_PDE (self), NULL);
  return index < self->symbols->len
             ? ((Symbol *)g_ptr_array_index (self->symbols, index))->name
             : NULL;
}

/**
 * physnn_pde_get_symbol_kind:
 * @self: a #PhysnnPde
 * @index: a symbol index
 *
 * Returns: what the name stands for (%PHYSNN_PDE_SYMBOL_UNRESOLVED before
 *   physnn_pde_bind())
 */
PhysnnPdeSymbolKind
physnn_pde_get_symbol_kind (PhysnnPde *self, guint index)
{
  g_return_val_if_fail (PHYSNN_IS_PDE (self), PHYSNN_PDE_SYMBOL_UNRESOLVED);
  return index < self->symbols->len
             ? ((Symbol *)g_ptr_array_index (self->symbols, index))->kind
             : PHYSNN_PDE_SYMBOL_UNRESOLVED;
}

static gboolean
valid_name (const gchar *s)
{
  if (s == NULL || !g_ascii_isalpha (*s))
    return FALSE;
  for (const gchar *p = s; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '_')
      return FALSE;
  return s[strlen (s) - 1] != '_';
}

/**
 * physnn_pde_set_parameter:
 * @self: a #PhysnnPde
 * @name: a parameter name (letters, digits and '_', starting with a letter)
 * @value: its value, finite
 * @error: return location for a #GError
 *
 * Gives a named parameter such as `alpha` its value. Parameters may be set
 * before or after binding; a bound PDE uses the new value at its next
 * evaluation.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_pde_set_parameter (
    PhysnnPde *self, const gchar *name, gdouble value, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_PDE (self), FALSE);
  if (!valid_name (name) || g_str_equal (name, "pi")) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "parameter name \"%s\" must be letters, digits and '_', start with "
        "a letter, and not be pi",
        name ? name : "(null)");
    return FALSE;
  }
  for (guint f = 0; f < G_N_ELEMENTS (funcs); f++)
    if (g_str_equal (name, funcs[f].name)) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "parameter name \"%s\" is a function", name);
      return FALSE;
    }
  if (!isfinite (value)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "parameter %s: the value must be finite", name);
    return FALSE;
  }
  gdouble *v = g_new (gdouble, 1);
  *v = value;
  gboolean was = g_hash_table_contains (self->params, name);
  g_hash_table_insert (self->params, g_strdup (name), v);
  for (guint i = 0; i < self->symbols->len; i++) {
    Symbol *s = g_ptr_array_index (self->symbols, i);
    if (s->kind == PHYSNN_PDE_SYMBOL_PARAMETER && g_str_equal (s->name, name))
      s->value = value;
  }
  /* A new name may resolve a symbol that binding left unresolved; the
   * kernel bakes parameter values in. */
  if (!was)
    self->bound = FALSE;
  clear_cl (self);
  return TRUE;
}

/**
 * physnn_pde_set_parameters:
 * @self: a #PhysnnPde
 * @assignments: (nullable): "name=value" pairs separated by ',' or ';',
 *   e.g. "alpha=0.1, nu=0.00318"
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_pde_set_parameters (
    PhysnnPde *self, const gchar *assignments, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_PDE (self), FALSE);
  if (assignments == NULL)
    return TRUE;
  g_auto (GStrv) items = g_strsplit_set (assignments, ",;", -1);
  for (guint i = 0; items[i]; i++) {
    gchar *item = g_strstrip (items[i]);
    if (*item == '\0')
      continue;
    gchar *eq = strchr (item, '=');
    gchar *end = NULL;
    if (eq == NULL) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "parameters \"%s\": \"%s\" is not name=value", assignments, item);
      return FALSE;
    }
    *eq = '\0';
    gchar *name = g_strstrip (item), *val = g_strstrip (eq + 1);
    gdouble v = g_ascii_strtod (val, &end);
    if (end == val || *end != '\0') {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_PARSE,
          "parameters \"%s\": the value of %s, \"%s\", is not a number",
          assignments, name, val);
      return FALSE;
    }
    if (!physnn_pde_set_parameter (self, name, v, error))
      return FALSE;
  }
  return TRUE;
}

/**
 * physnn_pde_get_parameter:
 * @self: a #PhysnnPde
 * @name: a parameter name
 * @value: (out) (optional): its value
 *
 * Returns: %TRUE if the parameter is set
 */
gboolean
physnn_pde_get_parameter (PhysnnPde *self, const gchar *name, gdouble *value)
{
  g_return_val_if_fail (PHYSNN_IS_PDE (self), FALSE);
  gdouble *v = name ? g_hash_table_lookup (self->params, name) : NULL;
  if (v && value)
    *value = *v;
  return v != NULL;
}

/* ------------------------------------------------------------------------ */
/* Binding to a model */

typedef struct {
  gchar *name;
  guint output, column;
} Comp;

typedef struct {
  gchar *name;
  guint input;  /* model input index */
  guint column; /* column of its last axis */
} Coord;

typedef struct {
  GArray *comps;  /* Comp */
  GArray *coords; /* Coord */
} Names;

static void
names_clear (Names *n)
{
  for (guint i = 0; n->comps && i < n->comps->len; i++)
    g_free (g_array_index (n->comps, Comp, i).name);
  for (guint i = 0; n->coords && i < n->coords->len; i++)
    g_free (g_array_index (n->coords, Coord, i).name);
  if (n->comps)
    g_array_unref (n->comps);
  if (n->coords)
    g_array_unref (n->coords);
}

/* The model's names as PhysnnModel defines them: output components are the
 * columns of the outputs' last axes in order; coordinates are the columns
 * of the coordinate input, or single-column inputs. */
static void
model_names (PhysnnModel *m, Names *n)
{
  n->comps = g_array_new (FALSE, TRUE, sizeof (Comp));
  n->coords = g_array_new (FALSE, TRUE, sizeof (Coord));
  g_auto (GStrv) on = g_strsplit (physnn_model_get_output_names (m), ",", -1);
  guint used = 0;
  for (guint o = 0; o < physnn_model_get_n_outputs (m); o++) {
    guint rank;
    const gint64 *dims = physnn_model_get_output_shape (m, o, &rank);
    gint64 w = rank > 0 && dims && dims[rank - 1] > 0 ? dims[rank - 1] : 1;
    for (gint64 c = 0; c < MIN (w, 64) && on[used]; c++) {
      Comp comp = { g_strdup (g_strstrip (on[used++])), o, (guint)c };
      g_array_append_val (n->comps, comp);
    }
  }
  const gchar *cin = physnn_model_get_coordinate_input (m);
  g_auto (GStrv) cn =
      g_strsplit (physnn_model_get_coordinate_names (m), ",", -1);
  for (guint i = 0; cn[i] && *cn[i]; i++) {
    gint idx = physnn_model_find_input (m, cin ? cin : cn[i]);
    if (idx < 0)
      continue;
    Coord c = { g_strdup (cn[i]), (guint)idx, cin ? i : 0 };
    g_array_append_val (n->coords, c);
  }
}

static gchar *
list_names (GArray *a, gboolean coords)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < a->len; i++)
    g_string_append_printf (s, "%s%s", i ? ", " : "",
        coords ? g_array_index (a, Coord, i).name
               : g_array_index (a, Comp, i).name);
  if (a->len == 0)
    g_string_append (s, "none");
  return g_string_free (s, FALSE);
}

static gint
find_comp (Names *n, const gchar *name, gsize len)
{
  for (guint i = 0; i < n->comps->len; i++) {
    const gchar *c = g_array_index (n->comps, Comp, i).name;
    if (strlen (c) == len && strncmp (c, name, len) == 0)
      return (gint)i;
  }
  return -1;
}

static gint
find_coord_prefix (Names *n, const gchar *s, gsize *len)
{
  gint best = -1;
  *len = 0;
  for (guint i = 0; i < n->coords->len; i++) {
    const gchar *c = g_array_index (n->coords, Coord, i).name;
    gsize l = strlen (c);
    if (l > *len && strncmp (s, c, l) == 0) {
      best = (gint)i;
      *len = l;
    }
  }
  return best;
}

static gchar *
list_params (PhysnnPde *self)
{
  g_autofree gpointer *keys =
      g_hash_table_get_keys_as_array (self->params, NULL);
  GString *s = g_string_new (NULL);
  for (guint i = 0; keys[i]; i++)
    g_string_append_printf (s, "%s%s", i ? ", " : "", (gchar *)keys[i]);
  if (s->len == 0)
    g_string_append (s, "none set");
  return g_string_free (s, FALSE);
}

/* Column of the symbol's first appearance, as a pointer into the text. */
static const gchar *
symbol_at (PhysnnPde *self, Symbol *s)
{
  return g_utf8_offset_to_pointer (self->text, s->column - 1);
}

static gchar *
model_signature (PhysnnModel *m)
{
  return g_strdup_printf ("%s|%s|%s", physnn_model_get_output_names (m),
      physnn_model_get_coordinate_input (m)
          ? physnn_model_get_coordinate_input (m)
          : "",
      physnn_model_get_coordinate_names (m));
}

/**
 * physnn_pde_bind:
 * @self: a #PhysnnPde
 * @model: the model whose outputs and coordinates the names refer to
 * @error: return location for a #GError
 *
 * Resolves every name against @model: an output component (`u`), a
 * derivative (`u_t`, `u_xx`, `u_xt`: an output component, '_', one or two
 * coordinate names), a coordinate (`x`), or a parameter set with
 * physnn_pde_set_parameter(). Afterwards physnn_pde_get_derivatives() lists
 * exactly the derivatives the residual needs.
 *
 * Errors name the symbol, its column and the names that are known: an
 * unknown name, a derivative by something that is not a coordinate, or a
 * derivative the model's jets cannot provide (order three or more, more
 * distinct second derivatives or derivatives than one request holds).
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_pde_bind (PhysnnPde *self, PhysnnModel *model, GError **error)
{
  Names n = { 0 };
  gboolean ok = FALSE;
  guint pairs[MAX_SECOND][2], n_pairs = 0;

  g_return_val_if_fail (PHYSNN_IS_PDE (self), FALSE);
  g_return_val_if_fail (PHYSNN_IS_MODEL (model), FALSE);

  self->bound = FALSE;
  self->bound_model = NULL;
  clear_cl (self);
  g_ptr_array_set_size (self->derivs, 0);
  model_names (model, &n);

  for (guint i = 0; i < self->symbols->len; i++) {
    Symbol *s = g_ptr_array_index (self->symbols, i);
    const gchar *at = symbol_at (self, s);
    gint c;
    s->kind = PHYSNN_PDE_SYMBOL_UNRESOLVED;

    if ((c = find_comp (&n, s->name, strlen (s->name))) >= 0) {
      const Comp *comp = &g_array_index (n.comps, Comp, c);
      s->kind = PHYSNN_PDE_SYMBOL_OUTPUT;
      s->index = comp->output;
      s->column_in = comp->column;
      continue;
    }
    gsize len;
    if ((c = find_coord_prefix (&n, s->name, &len)) >= 0 &&
        s->name[len] == '\0') {
      const Coord *co = &g_array_index (n.coords, Coord, c);
      s->kind = PHYSNN_PDE_SYMBOL_COORDINATE;
      s->index = co->input;
      s->column_in = co->column;
      continue;
    }
    /* A derivative: the longest output name followed by '_'. */
    gint comp = -1;
    const gchar *us = NULL;
    for (const gchar *p = strchr (s->name, '_'); p; p = strchr (p + 1, '_'))
      if ((c = find_comp (&n, s->name, p - s->name)) >= 0) {
        comp = c;
        us = p;
      }
    gdouble *v = g_hash_table_lookup (self->params, s->name);
    if (comp >= 0 && v == NULL) {
      const gchar *p = us + 1;
      guint order = 0, dirs[2] = { 0, 0 };
      while (*p) {
        gint d = find_coord_prefix (&n, p, &len);
        if (d < 0) {
          g_autofree gchar *cl = list_names (n.coords, TRUE);
          set_error_at (error, PHYSNN_ERROR_INVALID_ARGUMENT, self->text,
              g_utf8_offset_to_pointer (at, p - s->name),
              "%s is a derivative of %s by \"%s\", which is not a "
              "coordinate of the model (coordinates: %s)",
              s->name, g_array_index (n.comps, Comp, comp).name, p, cl);
          goto out;
        }
        if (order == 2) {
          set_error_at (error, PHYSNN_ERROR_NOT_SUPPORTED, self->text, at,
              "%s is a derivative of order 3 or more, which the model "
              "cannot provide: its forward-mode jets carry first and "
              "second derivatives (write the PDE as a first- or "
              "second-order system)",
              s->name);
          goto out;
        }
        dirs[order++] = (guint)d;
        p += len;
      }
      if (order == 2) {
        guint a = MIN (dirs[0], dirs[1]), b = MAX (dirs[0], dirs[1]);
        guint k;
        for (k = 0; k < n_pairs; k++)
          if (pairs[k][0] == a && pairs[k][1] == b)
            break;
        if (k == n_pairs) {
          if (n_pairs == MAX_SECOND) {
            set_error_at (error, PHYSNN_ERROR_NOT_SUPPORTED, self->text, at,
                "%s: more than %d distinct second derivatives, which one "
                "model evaluation cannot provide",
                s->name, MAX_SECOND);
            goto out;
          }
          pairs[n_pairs][0] = a;
          pairs[n_pairs][1] = b;
          n_pairs++;
        }
      }
      if (self->derivs->len == MAX_DERIVS) {
        set_error_at (error, PHYSNN_ERROR_NOT_SUPPORTED, self->text, at,
            "%s: more than %d distinct derivatives, which one model "
            "evaluation cannot provide",
            s->name, MAX_DERIVS);
        goto out;
      }
      s->kind = PHYSNN_PDE_SYMBOL_DERIVATIVE;
      s->index = self->derivs->len;
      s->column_in = 0;
      g_ptr_array_add (self->derivs, g_strdup (s->name));
      continue;
    }
    if (v) {
      s->kind = PHYSNN_PDE_SYMBOL_PARAMETER;
      s->value = *v;
      continue;
    }
    g_autofree gchar *ol = list_names (n.comps, FALSE);
    g_autofree gchar *cl = list_names (n.coords, TRUE);
    g_autofree gchar *pl = list_params (self);
    if (strchr (s->name, '_') != NULL)
      set_error_at (error, PHYSNN_ERROR_INVALID_ARGUMENT, self->text, at,
          "unknown symbol \"%s\": not a derivative of an output (outputs: "
          "%s; coordinates: %s), nor a parameter (set: %s)",
          s->name, ol, cl, pl);
    else
      set_error_at (error, PHYSNN_ERROR_INVALID_ARGUMENT, self->text, at,
          "unknown symbol \"%s\": the model's outputs are %s, its "
          "coordinates %s; parameters set: %s (give \"%s\" a value as a "
          "parameter, e.g. parameters=\"%s=1.0\")",
          s->name, ol, cl, pl, s->name, s->name);
    goto out;
  }

  GString *j = g_string_new (NULL);
  for (guint i = 0; i < self->derivs->len; i++)
    g_string_append_printf (
        j, "%s%s", i ? "," : "", (gchar *)g_ptr_array_index (self->derivs, i));
  g_free (self->derivs_joined);
  self->derivs_joined = g_string_free (j, FALSE);
  g_free (self->bound_signature);
  self->bound_signature = model_signature (model);
  self->bound_model = model;
  self->bound = TRUE;
  ok = TRUE;
out:
  if (!ok)
    g_ptr_array_set_size (self->derivs, 0);
  names_clear (&n);
  return ok;
}

/**
 * physnn_pde_is_bound:
 * @self: a #PhysnnPde
 *
 * Returns: whether the last physnn_pde_bind() succeeded (and no parameter
 *   name has been added since)
 */
gboolean
physnn_pde_is_bound (PhysnnPde *self)
{
  g_return_val_if_fail (PHYSNN_IS_PDE (self), FALSE);
  return self->bound;
}

/**
 * physnn_pde_get_derivatives:
 * @self: a bound #PhysnnPde
 *
 * Returns: the derivatives the residual needs, comma separated in order of
 *   first appearance (e.g. "u_t,u_xx"), ready for
 *   physnn_model_set_derivatives(); "" when none are needed or unbound
 */
const gchar *
physnn_pde_get_derivatives (PhysnnPde *self)
{
  g_return_val_if_fail (PHYSNN_IS_PDE (self), NULL);
  return self->bound ? self->derivs_joined : "";
}

/**
 * physnn_pde_get_n_derivatives:
 * @self: a bound #PhysnnPde
 *
 * Returns: the number of derivatives the residual needs
 */
guint
physnn_pde_get_n_derivatives (PhysnnPde *self)
{
  g_return_val_if_fail (PHYSNN_IS_PDE (self), 0);
  return self->bound ? self->derivs->len : 0;
}

/**
 * physnn_pde_get_derivative:
 * @self: a bound #PhysnnPde
 * @index: a derivative index
 *
 * Returns: (nullable): the derivative's name
 */
const gchar *
physnn_pde_get_derivative (PhysnnPde *self, guint index)
{
  g_return_val_if_fail (PHYSNN_IS_PDE (self), NULL);
  return self->bound && index < self->derivs->len
             ? g_ptr_array_index (self->derivs, index)
             : NULL;
}

/* ------------------------------------------------------------------------ */
/* Evaluation */

typedef struct {
  PhysnnTensor *t; /* held */
  gconstpointer base;
  gboolean f64;
  gsize stride, offset; /* element p*stride + offset */
} Source;

/* Where each symbol's values are, checked against the number of points. */
static gboolean
sources (PhysnnPde *self, PhysnnTensor **inputs, guint n_inputs,
    PhysnnTensor **outputs, guint n_outputs, PhysnnTensor **derivs,
    guint n_derivs, gsize *n_points, Source *src, gboolean host, GError **error)
{
  gsize n = G_MAXSIZE;

  /* Points: rows of the first output (its last axis holds components). */
  if (n_outputs > 0) {
    guint rank;
    const gsize *shape = physnn_tensor_get_shape (outputs[0], &rank);
    gsize cols = rank > 1 ? shape[rank - 1] : 1;
    n = physnn_tensor_get_n_elements (outputs[0]) / MAX (cols, 1);
  } else if (n_derivs > 0) {
    n = physnn_tensor_get_n_elements (derivs[0]);
  }
  for (guint i = 0; i < self->symbols->len; i++) {
    Symbol *s = g_ptr_array_index (self->symbols, i);
    PhysnnTensor *t = NULL;
    const gchar *what = "";
    src[i].t = NULL;
    switch (s->kind) {
      case PHYSNN_PDE_SYMBOL_OUTPUT:
        t = s->index < n_outputs ? outputs[s->index] : NULL;
        what = "output";
        break;
      case PHYSNN_PDE_SYMBOL_DERIVATIVE:
        t = s->index < n_derivs ? derivs[s->index] : NULL;
        what = "derivative";
        break;
      case PHYSNN_PDE_SYMBOL_COORDINATE:
        t = s->index < n_inputs ? inputs[s->index] : NULL;
        what = "coordinate";
        break;
      default:
        continue;
    }
    if (t == NULL) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "PDE \"%s\": no tensor given for the %s %s", self->text, what,
          s->name);
      return FALSE;
    }
    guint rank;
    const gsize *shape = physnn_tensor_get_shape (t, &rank);
    gsize cols = s->kind == PHYSNN_PDE_SYMBOL_DERIVATIVE || rank < 2
                     ? 1
                     : shape[rank - 1];
    gsize rows = physnn_tensor_get_n_elements (t) / MAX (cols, 1);
    /* a 1-D output of one value per point has one column */
    if (s->kind != PHYSNN_PDE_SYMBOL_DERIVATIVE && rank == 1 &&
        s->column_in > 0) {
      cols = 0;
    }
    if (n == G_MAXSIZE)
      n = rows;
    if (cols == 0 || s->column_in >= cols || (rows != n && rows != 1)) {
      g_autofree gchar *d = physnn_tensor_describe (t);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
          "PDE \"%s\": the %s %s is a %s tensor, which does not give one "
          "value per point for %" G_GSIZE_FORMAT " points",
          self->text, what, s->name, d, n);
      return FALSE;
    }
    PhysnnDType dt = physnn_tensor_get_dtype (t);
    gboolean keep =
        dt == PHYSNN_DTYPE_FLOAT32 || (host && dt == PHYSNN_DTYPE_FLOAT64);
    src[i].t = keep ? g_object_ref (t)
                    : physnn_tensor_convert (t,
                          host ? PHYSNN_DTYPE_FLOAT64 : PHYSNN_DTYPE_FLOAT32);
    src[i].f64 = physnn_tensor_get_dtype (src[i].t) == PHYSNN_DTYPE_FLOAT64;
    src[i].stride = rows == 1 ? 0 : cols; /* a uniform value broadcasts */
    src[i].offset = s->column_in;
    src[i].base =
        host ? _physnn_tensor_host (src[i].t, PHYSNN_ACCESS_READ) : NULL;
  }
  if (n == G_MAXSIZE) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "PDE \"%s\": no model output or derivative to evaluate on", self->text);
    return FALSE;
  }
  *n_points = n;
  return TRUE;
}

static void
clear_sources (PhysnnPde *self, Source *src)
{
  for (guint i = 0; i < self->symbols->len; i++)
    g_clear_object (&src[i].t);
}

static gdouble
fn (NodeOp op, gdouble a, gdouble b)
{
  switch (op) {
    case N_ADD:
      return a + b;
    case N_SUB:
      return a - b;
    case N_MUL:
      return a * b;
    case N_DIV:
      return a / b;
    case N_POW:
      return pow (a, b);
    case N_NEG:
      return -a;
    case N_SIN:
      return sin (a);
    case N_COS:
      return cos (a);
    case N_TAN:
      return tan (a);
    case N_EXP:
      return exp (a);
    case N_LOG:
      return log (a);
    case N_SQRT:
      return sqrt (a);
    case N_ABS:
      return fabs (a);
    case N_TANH:
      return tanh (a);
    default:
      return NAN;
  }
}

/* Node by node over blocks of points, in float64. */
static void
evaluate_host (
    PhysnnPde *self, Source *src, gsize n, gfloat *out, gfloat *scale)
{
  guint nn = self->nodes->len;
  gdouble *reg = g_new (gdouble, (gsize)nn * BLOCK);

  for (gsize p0 = 0; p0 < n; p0 += BLOCK) {
    gsize m = MIN (BLOCK, n - p0);
    for (guint i = 0; i < nn; i++) {
      const Node *nd = &g_array_index (self->nodes, Node, i);
      gdouble *r = reg + (gsize)i * BLOCK;
      const gdouble *a = nd->a >= 0 ? reg + (gsize)nd->a * BLOCK : NULL;
      const gdouble *b = nd->b >= 0 ? reg + (gsize)nd->b * BLOCK : NULL;
      if (nd->op == N_NUM) {
        for (gsize k = 0; k < m; k++)
          r[k] = nd->num;
      } else if (nd->op == N_SYM) {
        const Symbol *s = g_ptr_array_index (self->symbols, nd->sym);
        const Source *so = &src[nd->sym];
        if (s->kind == PHYSNN_PDE_SYMBOL_PARAMETER) {
          for (gsize k = 0; k < m; k++)
            r[k] = s->value;
        } else if (so->f64) {
          const gdouble *d = so->base;
          for (gsize k = 0; k < m; k++)
            r[k] = d[(p0 + k) * so->stride + so->offset];
        } else {
          const gfloat *d = so->base;
          for (gsize k = 0; k < m; k++)
            r[k] = d[(p0 + k) * so->stride + so->offset];
        }
      } else if (nd->op == N_ADD) {
        for (gsize k = 0; k < m; k++)
          r[k] = a[k] + b[k];
      } else if (nd->op == N_SUB) {
        for (gsize k = 0; k < m; k++)
          r[k] = a[k] - b[k];
      } else if (nd->op == N_MUL) {
        for (gsize k = 0; k < m; k++)
          r[k] = a[k] * b[k];
      } else {
        for (gsize k = 0; k < m; k++)
          r[k] = fn (nd->op, a[k], b ? b[k] : 0.0);
      }
    }
    for (guint e = 0; e < self->equations->len; e++) {
      gint root = g_array_index (self->equations, Equation, e).root;
      const gdouble *r = reg + (gsize)root * BLOCK;
      for (gsize k = 0; k < m; k++)
        out[e * n + p0 + k] = (gfloat)r[k];
    }
    for (gsize k = 0; k < m; k++) {
      gdouble mx = 0;
      for (guint t = 0; t < self->terms->len; t++) {
        gint node = g_array_index (self->terms, gint, t);
        mx = MAX (mx, fabs (reg[(gsize)node * BLOCK + k]));
      }
      scale[p0 + k] = (gfloat)mx;
    }
  }
  g_free (reg);
}

/* ------------------------------------------------------------------------ */
/* OpenCL: a kernel generated from the tree */

static void
cl_literal (GString *s, gdouble v)
{
  gchar buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd (buf, sizeof buf, "%.9g", v);
  g_string_append (s, buf);
  if (strpbrk (buf, ".eE") == NULL)
    g_string_append (s, ".0");
  g_string_append_c (s, 'f');
}

static void
cl_expr (PhysnnPde *self, GString *s, gint i)
{
  const Node *n = &g_array_index (self->nodes, Node, i);
  const Node *b = n->b >= 0 ? &g_array_index (self->nodes, Node, n->b) : NULL;
  switch (n->op) {
    case N_NUM:
      g_string_append_c (s, '(');
      cl_literal (s, n->num);
      g_string_append_c (s, ')');
      return;
    case N_SYM: {
      const Symbol *sym = g_ptr_array_index (self->symbols, n->sym);
      if (sym->kind == PHYSNN_PDE_SYMBOL_PARAMETER) {
        g_string_append_c (s, '(');
        cl_literal (s, sym->value);
        g_string_append_c (s, ')');
      } else {
        g_string_append_printf (s, "s%u", n->sym);
      }
      return;
    }
    case N_ADD:
    case N_SUB:
    case N_MUL:
    case N_DIV:
      g_string_append_c (s, '(');
      cl_expr (self, s, n->a);
      g_string_append (s, n->op == N_ADD   ? " + "
                          : n->op == N_SUB ? " - "
                          : n->op == N_MUL ? " * "
                                           : " / ");
      cl_expr (self, s, n->b);
      g_string_append_c (s, ')');
      return;
    case N_NEG:
      g_string_append (s, "(-");
      cl_expr (self, s, n->a);
      g_string_append_c (s, ')');
      return;
    case N_POW:
      /* Integer exponents as pown: exact for negative bases, as pow() is
       * on the C path. */
      if (b->op == N_NUM && b->num == rint (b->num) && fabs (b->num) < 1e6) {
        g_string_append (s, "pown(");
        cl_expr (self, s, n->a);
        g_string_append_printf (s, ", %d)", (gint)b->num);
      } else {
        g_string_append (s, "pow(");
        cl_expr (self, s, n->a);
        g_string_append (s, ", ");
        cl_expr (self, s, n->b);
        g_string_append_c (s, ')');
      }
      return;
    default:
      for (guint f = 0; f < G_N_ELEMENTS (funcs); f++)
        if (funcs[f].op == n->op)
          g_string_append_printf (s, "%s(", funcs[f].cl);
      cl_expr (self, s, n->a);
      g_string_append_c (s, ')');
  }
}

static gboolean
symbol_is_read (const Symbol *s)
{
  return s->kind == PHYSNN_PDE_SYMBOL_OUTPUT ||
         s->kind == PHYSNN_PDE_SYMBOL_DERIVATIVE ||
         s->kind == PHYSNN_PDE_SYMBOL_COORDINATE;
}

static gchar *
cl_source (PhysnnPde *self)
{
  GString *s = g_string_new (NULL);
  g_string_append_printf (s,
      "/* physnn PDE residual: %s */\n"
      "__kernel void physnn_pde_residual (const uint n",
      self->text);
  for (guint i = 0; i < self->symbols->len; i++)
    if (symbol_is_read (g_ptr_array_index (self->symbols, i)))
      g_string_append_printf (s,
          ",\n    __global const float *a%u, "
          "const uint o%u, const uint st%u",
          i, i, i);
  g_string_append (s,
      ",\n    __global float *out, const uint out_off,\n"
      "    __global float *scale, const uint scale_off)\n{\n"
      "  const uint p = get_global_id (0);\n  if (p >= n)\n    return;\n");
  for (guint i = 0; i < self->symbols->len; i++)
    if (symbol_is_read (g_ptr_array_index (self->symbols, i)))
      g_string_append_printf (
          s, "  const float s%u = a%u[o%u + p * st%u];\n", i, i, i, i);
  for (guint t = 0; t < self->terms->len; t++) {
    g_string_append_printf (s, "  const float t%u = ", t);
    cl_expr (self, s, g_array_index (self->terms, gint, t));
    g_string_append (s, ";\n");
  }
  for (guint e = 0; e < self->equations->len; e++) {
    g_string_append_printf (s, "  out[out_off + %uu * n + p] = ", e);
    cl_expr (self, s, g_array_index (self->equations, Equation, e).root);
    g_string_append (s, ";\n");
  }
  g_string_append (s, "  float m = 0.0f;\n");
  for (guint t = 0; t < self->terms->len; t++)
    g_string_append_printf (s, "  m = fmax (m, fabs (t%u));\n", t);
  g_string_append (s, "  scale[scale_off + p] = m;\n}\n");
  return g_string_free (s, FALSE);
}

/**
 * physnn_pde_get_kernel_source:
 * @self: a bound #PhysnnPde
 *
 * Returns: (transfer full) (nullable): the OpenCL C source of the residual
 *   kernel generated for the current binding and parameter values, or
 *   %NULL when unbound
 */
gchar *
physnn_pde_get_kernel_source (PhysnnPde *self)
{
  g_return_val_if_fail (PHYSNN_IS_PDE (self), NULL);
  return self->bound ? cl_source (self) : NULL;
}

static gboolean
evaluate_cl (PhysnnPde *self, PhysnnDevice *device, Source *src, gsize n,
    PhysnnTensor *out, PhysnnTensor *scale, GError **error)
{
  if (n > G_MAXUINT32 / MAX_EQUATIONS) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "%" G_GSIZE_FORMAT " points in one residual; split the batch", n);
    return FALSE;
  }
  if (self->kernel == NULL || self->cl_device != device) {
    clear_cl (self);
    self->cl_source = cl_source (self);
    self->program = _physnn_device_build_source (
        device, "pde-residual.cl", self->cl_source, "", error);
    if (self->program == NULL)
      return FALSE;
    cl_int st;
    self->kernel = clCreateKernel (self->program, "physnn_pde_residual", &st);
    if (!_physnn_cl_check (st, "clCreateKernel (PDE residual)", error)) {
      clear_cl (self);
      return FALSE;
    }
    self->cl_device = g_object_ref (device);
  }

  cl_mem mems[MAX_NAMES];
  guint32 offs[MAX_NAMES], strides[MAX_NAMES];
  for (guint i = 0; i < self->symbols->len; i++) {
    if (!symbol_is_read (g_ptr_array_index (self->symbols, i)))
      continue;
    gsize off;
    mems[i] = _physnn_tensor_get_cl_mem (
        src[i].t, device, PHYSNN_ACCESS_READ, &off, error);
    if (mems[i] == NULL)
      return FALSE;
    offs[i] = (guint32)(off / sizeof (gfloat) + src[i].offset);
    strides[i] = (guint32)src[i].stride;
  }
  gsize ooff;
  cl_mem omem = _physnn_tensor_get_cl_mem (
      out, device, PHYSNN_ACCESS_WRITE, &ooff, error);
  if (omem == NULL)
    return FALSE;
  gsize soff;
  cl_mem smem = _physnn_tensor_get_cl_mem (
      scale, device, PHYSNN_ACCESS_WRITE, &soff, error);
  if (smem == NULL)
    return FALSE;
  guint32 n32 = (guint32)n, ooff32 = (guint32)(ooff / sizeof (gfloat));
  guint32 soff32 = (guint32)(soff / sizeof (gfloat));
  cl_kernel k = self->kernel;
  guint arg = 0;
  _physnn_device_lock (device);
  clSetKernelArg (k, arg++, sizeof n32, &n32);
  for (guint i = 0; i < self->symbols->len; i++) {
    if (!symbol_is_read (g_ptr_array_index (self->symbols, i)))
      continue;
    clSetKernelArg (k, arg++, sizeof (cl_mem), &mems[i]);
    clSetKernelArg (k, arg++, sizeof (guint32), &offs[i]);
    clSetKernelArg (k, arg++, sizeof (guint32), &strides[i]);
  }
  clSetKernelArg (k, arg++, sizeof omem, &omem);
  clSetKernelArg (k, arg++, sizeof ooff32, &ooff32);
  clSetKernelArg (k, arg++, sizeof smem, &smem);
  clSetKernelArg (k, arg++, sizeof soff32, &soff32);
  gsize global = n;
  gboolean ok = _physnn_device_enqueue (device, k, 1, &global, NULL, error);
  _physnn_device_unlock (device);
  return ok;
}

static gboolean
check_bound (PhysnnPde *self, GError **error)
{
  if (!self->bound) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "PDE \"%s\" is not bound to a model (physnn_pde_bind)", self->text);
    return FALSE;
  }
  return TRUE;
}

/**
 * physnn_pde_evaluate:
 * @self: a bound #PhysnnPde
 * @device: where to compute
 * @inputs: (array length=n_inputs): the model inputs the outputs were
 *   computed at (coordinates are read from them)
 * @n_inputs: the number of inputs
 * @outputs: (array length=n_outputs): the model outputs
 * @n_outputs: the number of outputs
 * @derivatives: (array length=n_derivatives): one tensor per derivative of
 *   physnn_pde_get_derivatives(), in that order, one value per point
 * @n_derivatives: the number of derivative tensors
 * @scale: (out) (optional) (transfer full): per point, the largest |term|
 *   of the equations' additive terms (for `u_t - alpha*u_xx`: max(|u_t|,
 *   |alpha*u_xx|)), float32 [N]: the size of the physics the residual is
 *   small against
 * @error: return location for a #GError
 *
 * Evaluates the residual from values already computed (for instance the
 * tensors a pinninfer element put in a buffer). On the C path the
 * arithmetic is float64; on OpenCL a generated kernel computes in float32
 * where the tensors are, without copying them to the host.
 *
 * Returns: (transfer full): the residual, float32: [N] for one equation,
 *   [equations, N] for a system; %NULL with @error set
 */
PhysnnTensor *
physnn_pde_evaluate (PhysnnPde *self, PhysnnDevice *device,
    PhysnnTensor **inputs, guint n_inputs, PhysnnTensor **outputs,
    guint n_outputs, PhysnnTensor **derivatives, guint n_derivatives,
    PhysnnTensor **scale, GError **error)
{
  /* zeroed: sources() stops at the first bad symbol, clear_sources()
   * clears them all */
  Source src[MAX_NAMES] = { 0 };
  gsize n = 0;

  g_return_val_if_fail (PHYSNN_IS_PDE (self), NULL);
  g_return_val_if_fail (PHYSNN_IS_DEVICE (device), NULL);
  if (!check_bound (self, error))
    return NULL;
  if (n_derivatives < self->derivs->len) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "PDE \"%s\" needs %u derivative tensors (%s), %u given", self->text,
        self->derivs->len, self->derivs_joined, n_derivatives);
    return NULL;
  }
  gboolean cl = physnn_device_get_kind (device) == PHYSNN_DEVICE_KIND_OPENCL;
  if (!sources (self, inputs, n_inputs, outputs, n_outputs, derivatives,
          n_derivatives, &n, src, !cl, error)) {
    clear_sources (self, src);
    return NULL;
  }
  guint ne = self->equations->len;
  gsize shape[2] = { ne, n };
  PhysnnTensor *out =
      ne == 1 ? physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, shape + 1)
              : physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 2, shape);
  g_autoptr (PhysnnTensor) sc =
      physnn_tensor_new (PHYSNN_DTYPE_FLOAT32, 1, shape + 1);
  if (cl) {
    if (!evaluate_cl (self, device, src, n, out, sc, error))
      g_clear_object (&out);
  } else {
    evaluate_host (self, src, n, _physnn_tensor_host (out, PHYSNN_ACCESS_WRITE),
        _physnn_tensor_host (sc, PHYSNN_ACCESS_WRITE));
  }
  clear_sources (self, src);
  if (out && scale)
    *scale = g_steal_pointer (&sc);
  return out;
}

/**
 * physnn_pde_residual:
 * @self: a #PhysnnPde
 * @model: the model
 * @device: where to compute
 * @inputs: (array length=n_inputs): one tensor per model input
 * @n_inputs: the number of inputs
 * @scale: (out) (optional) (transfer full): the largest |term| per point, as
 *   physnn_pde_evaluate() gives it
 * @error: return location for a #GError
 *
 * Evaluates @model with exactly the derivatives the PDE needs (binding it
 * to @model first if needed; this replaces the model's derivative request)
 * and returns the residual at every point. On the C path the model, its
 * derivatives and the residual are computed in float64 (the reference); on
 * OpenCL in float32, in the model's kernel and a residual kernel, with no
 * transfer in between.
 *
 * Returns: (transfer full): the residual, float32: [N] for one equation,
 *   [equations, N] for a system; %NULL with @error set
 */
PhysnnTensor *
physnn_pde_residual (PhysnnPde *self, PhysnnModel *model, PhysnnDevice *device,
    PhysnnTensor **inputs, guint n_inputs, PhysnnTensor **scale, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_PDE (self), NULL);
  g_return_val_if_fail (PHYSNN_IS_MODEL (model), NULL);
  g_return_val_if_fail (PHYSNN_IS_DEVICE (device), NULL);

  g_autofree gchar *sig = model_signature (model);
  if (!self->bound || self->bound_model != model ||
      g_strcmp0 (sig, self->bound_signature) != 0) {
    if (!physnn_pde_bind (self, model, error))
      return NULL;
  }
  /* Changing the request recompiles the model's kernels: only when it
   * differs. */
  GString *cur = g_string_new (NULL);
  for (guint i = 0; i < physnn_model_get_n_derivatives (model); i++)
    g_string_append_printf (
        cur, "%s%s", i ? "," : "", physnn_model_get_derivative_name (model, i));
  gboolean same = g_str_equal (cur->str, self->derivs_joined);
  g_string_free (cur, TRUE);
  if (!same &&
      !physnn_model_set_derivatives (model, self->derivs_joined, error))
    return NULL;

  gboolean cl = physnn_device_get_kind (device) == PHYSNN_DEVICE_KIND_OPENCL;
  g_autoptr (GPtrArray) res =
      cl ? physnn_model_run (model, device, inputs, n_inputs, error)
         : _physnn_model_run_reference_f64 (model, inputs, n_inputs, error);
  if (res == NULL)
    return NULL;
  guint n_out = physnn_model_get_n_outputs (model);
  return physnn_pde_evaluate (self, device, inputs, n_inputs,
      (PhysnnTensor **)res->pdata, n_out, (PhysnnTensor **)res->pdata + n_out,
      res->len - n_out, scale, error);
}
