/* physnn — the loss's OpenCL fast path (see grad-cl-private.h).
 *
 * Forward: one launch per layer computes Z = W A + b and A' = act(Z) with
 * every jet component, and keeps both on the device. Backward: the output
 * cotangents go up, then per layer (last first) the activation's transposed
 * jet rule gives Z̄, a reduction over blocks of points gives partial weight
 * and bias gradients (summed on the host in float64, in block order, so the
 * result does not depend on scheduling), and Wᵀ Z̄ gives the previous
 * layer's Ā. Kernels compute in double precision where the device has it
 * (cl_khr_fp64, a Khronos extension, present on the RX 580 and PoCL), in
 * float otherwise; PHYSNN_GRAD_CL_FLOAT=1 forces float, and
 * PHYSNN_GRAD_CL_LOCAL=N sets the work-group size along the points.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/grad-cl-private.h"
#include "physnn/device-private.h"
#include "physnn/error.h"
#include "physnn/tensor-private.h"

#include <stdlib.h>
#include <string.h>

#define VAL(g, i) ((PhysnnValue *)g_ptr_array_index ((g)->values, (i)))
#define MAX_LAYERS 64
#define BLOCK 256 /* points per partial gradient sum */

enum { ACT_IDENTITY, ACT_TANH, ACT_SIN, ACT_SIGMOID };

typedef struct {
  guint in, out;
  gint act;
  gboolean trans_b; /* ONNX weight layout: [out, in] when set */
  gsize w_param;    /* offsets in the flat parameter vector */
  gsize b_param;
  gsize w_off, b_off; /* offsets in the device parameter buffer */
  gsize z_off, a_off; /* forward values in the activation buffer */
} Layer;

struct _PhysnnClMlp {
  PhysnnDevice *device;
  PhysnnJetSpec spec;
  guint nc;
  guint n_layers;
  Layer layers[MAX_LAYERS];
  guint d;                     /* input width */
  guint first_node, last_node; /* the chain in the graph */
  gint in_value, out_value;
  const gdouble *cur_params; /* of the evaluation in progress */
  gsize n_params;            /* device parameter buffer, elements */
  guint max_width;
  gboolean fp64;
  gsize real;
  gchar *options;
  cl_kernel k_fwd, k_act, k_lin, k_wgrad;

  /* buffers for `cap` points */
  gsize cap, rows;
  cl_mem params, acts, zbar, abar, partial;
  gsize partial_len;
  gpointer stage; /* host staging, REAL */
  gsize stage_len;
};

void
_physnn_cl_mlp_free (PhysnnClMlp *m)
{
  if (m == NULL)
    return;
  cl_mem *mems[] = { &m->params, &m->acts, &m->zbar, &m->abar, &m->partial };
  for (guint i = 0; i < G_N_ELEMENTS (mems); i++)
    if (*mems[i])
      clReleaseMemObject (*mems[i]);
  g_free (m->stage);
  g_free (m->options);
  g_clear_object (&m->device);
  g_free (m);
}

const PhysnnJetSpec *
_physnn_cl_mlp_get_spec (PhysnnClMlp *m)
{
  return &m->spec;
}

gboolean
_physnn_cl_mlp_is_fp64 (PhysnnClMlp *m)
{
  return m->fp64;
}

static gboolean unsupported (gchar **why, const gchar *fmt, ...)
    G_GNUC_PRINTF (2, 3);

static gboolean
unsupported (gchar **why, const gchar *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  if (why && *why == NULL)
    *why = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  return FALSE;
}

static gint
act_of (PhysnnOpKind k)
{
  switch (k) {
    case PHYSNN_OP_TANH:
      return ACT_TANH;
    case PHYSNN_OP_SIN:
      return ACT_SIN;
    case PHYSNN_OP_SIGMOID:
      return ACT_SIGMOID;
    default:
      return -1;
  }
}

/* A Gemm whose weights and bias are parameters, as a layer. */
static gboolean
dense_layer (
    PhysnnGraph *g, const PhysnnParamSet *ps, const PhysnnNode *n, Layer *L)
{
  if (n->kind != PHYSNN_OP_GEMM || n->attrs.trans_a || n->attrs.alpha != 1.0f ||
      n->attrs.beta != 1.0f || n->n_inputs < 3)
    return FALSE;
  gint w = n->inputs[1], b = n->inputs[2];
  if (w < 0 || b < 0 || ps->param_of_value[w] < 0 || ps->param_of_value[b] < 0)
    return FALSE;
  PhysnnTensor *wt = VAL (g, w)->constant;
  if (wt == NULL || physnn_tensor_get_rank (wt) != 2)
    return FALSE;
  L->trans_b = n->attrs.trans_b;
  L->in = (guint)physnn_tensor_get_dim (wt, L->trans_b ? 1 : 0);
  L->out = (guint)physnn_tensor_get_dim (wt, L->trans_b ? 0 : 1);
  L->w_param = ps->offset[ps->param_of_value[w]];
  L->b_param = ps->offset[ps->param_of_value[b]];
  return ps->size[ps->param_of_value[b]] == L->out;
}

/* The longest run of consecutive nodes (Gemm -> tanh|sin|sigmoid?)* with
 * trainable weights and biases whose inner values nothing else reads: the
 * whole graph for a plain MLP; the network between a fixed input scaling
 * and a hard-constraint ansatz for the PINNs `physnn train` builds. */
static gboolean
match (PhysnnClMlp *m, PhysnnGraph *g, const PhysnnParamSet *ps, gchar **why)
{
  guint best_len = 0, best_first = 0;
  for (guint i = 0; i < g->nodes->len;) {
    Layer L;
    guint j = i, layers = 0;
    gint cur = -1;
    while (j < g->nodes->len && layers < MAX_LAYERS) {
      const PhysnnNode *n = g_ptr_array_index (g->nodes, j);
      if ((cur >= 0 && n->inputs[0] != cur) || !dense_layer (g, ps, n, &L))
        break;
      cur = n->outputs[0];
      j++;
      layers++;
      if (j < g->nodes->len) {
        const PhysnnNode *a = g_ptr_array_index (g->nodes, j);
        if (a->inputs[0] == cur && act_of (a->kind) >= 0) {
          cur = a->outputs[0];
          j++;
        }
      }
    }
    if (layers > best_len) {
      best_len = layers;
      best_first = i;
    }
    i = j > i ? j : i + 1;
  }
  if (best_len == 0)
    return unsupported (why, "no dense layer with trainable weights");

  /* the chain again, now into m */
  gint cur = -1;
  guint i = best_first;
  m->first_node = best_first;
  while (m->n_layers < best_len) {
    const PhysnnNode *n = g_ptr_array_index (g->nodes, i);
    Layer *L = &m->layers[m->n_layers++];
    dense_layer (g, ps, n, L);
    if (cur < 0)
      m->in_value = n->inputs[0];
    else if (m->layers[m->n_layers - 2].out != L->in)
      return unsupported (why, "layer widths do not chain");
    L->act = ACT_IDENTITY;
    cur = n->outputs[0];
    m->last_node = i++;
    if (i < g->nodes->len) {
      const PhysnnNode *a = g_ptr_array_index (g->nodes, i);
      if (a->inputs[0] == cur && act_of (a->kind) >= 0) {
        L->act = act_of (a->kind);
        cur = a->outputs[0];
        m->last_node = i++;
      }
    }
  }
  m->out_value = cur;
  m->d = m->layers[0].in;
  /* the values inside the chain are seen by nobody else */
  for (guint k = 0; k < g->nodes->len; k++) {
    if (k >= m->first_node && k <= m->last_node)
      continue;
    const PhysnnNode *n = g_ptr_array_index (g->nodes, k);
    for (guint q = 0; q < n->n_inputs; q++)
      for (guint c = m->first_node; c <= m->last_node; c++) {
        const PhysnnNode *cn = g_ptr_array_index (g->nodes, c);
        if (n->inputs[q] >= 0 && n->inputs[q] == cn->outputs[0] &&
            cn->outputs[0] != m->out_value)
          return unsupported (
              why, "node %s reads inside the dense chain", n->name);
      }
  }
  for (guint o = 0; o < g->outputs->len; o++)
    for (guint c = m->first_node; c <= m->last_node; c++) {
      const PhysnnNode *cn = g_ptr_array_index (g->nodes, c);
      if (g_array_index (g->outputs, gint, o) == cn->outputs[0] &&
          cn->outputs[0] != m->out_value)
        return unsupported (why, "an output inside the dense chain");
    }
  if (m->spec.n_first != m->spec.n_dirs)
    return unsupported (why, "first derivatives not along every direction");
  return TRUE;
}

PhysnnClMlp *
_physnn_cl_mlp_new (PhysnnGraph *g, const PhysnnParamSet *ps,
    const PhysnnJetSpec *spec, PhysnnDevice *device, gchar **why,
    GError **error)
{
  if (physnn_device_get_kind (device) != PHYSNN_DEVICE_KIND_OPENCL) {
    unsupported (why, "not an OpenCL device");
    return NULL;
  }
  PhysnnClMlp *m = g_new0 (PhysnnClMlp, 1);
  PhysnnJetSpec none = { 0 };
  m->spec = spec ? *spec : none;
  if (m->spec.n_comp == 0)
    m->spec.n_comp = 1;
  m->nc = m->spec.n_comp;
  if (!match (m, g, ps, why)) {
    _physnn_cl_mlp_free (m);
    return NULL;
  }
  m->device = g_object_ref (device);
  m->fp64 = physnn_device_has_fp64 (device) &&
            g_strcmp0 (g_getenv ("PHYSNN_GRAD_CL_FLOAT"), "1") != 0;
  m->real = m->fp64 ? sizeof (gdouble) : sizeof (gfloat);
  gsize off = 0;
  m->max_width = m->d;
  for (guint l = 0; l < m->n_layers; l++) {
    Layer *L = &m->layers[l];
    L->w_off = off;
    off += (gsize)L->in * L->out;
    L->b_off = off;
    off += L->out;
    m->max_width = MAX (m->max_width, L->out);
  }
  m->n_params = off;

  GString *pa = g_string_new ("{"), *pb = g_string_new ("{");
  for (guint s = 0; s < m->spec.n_second; s++) {
    g_string_append_printf (
        pa, "%s%u", s ? "," : "", m->spec.second_dirs[s][0]);
    g_string_append_printf (
        pb, "%s%u", s ? "," : "", m->spec.second_dirs[s][1]);
  }
  if (m->spec.n_second == 0) {
    g_string_append_c (pa, '0');
    g_string_append_c (pb, '0');
  }
  g_string_append_c (pa, '}');
  g_string_append_c (pb, '}');
  m->options = g_strdup_printf ("-DREAL=%s%s -DNF=%u -DNS=%u -DPAIR_A=%s "
                                "-DPAIR_B=%s",
      m->fp64 ? "double" : "float", m->fp64 ? " -DPHYSNN_FP64" : "",
      m->spec.n_first, m->spec.n_second, pa->str, pb->str);
  g_string_free (pa, TRUE);
  g_string_free (pb, TRUE);

  const gchar *names[] = { "mlp_forward", "mlp_act_backward",
    "mlp_linear_backward", "mlp_weight_grad" };
  cl_kernel *ks[] = { &m->k_fwd, &m->k_act, &m->k_lin, &m->k_wgrad };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    *ks[i] = _physnn_device_get_kernel (
        device, "grad.cl", m->options, names[i], error);
    if (*ks[i] == NULL) {
      _physnn_cl_mlp_free (m);
      return NULL;
    }
  }
  return m;
}

/* ------------------------------------------------------------------------ */
/* Buffers */

static cl_mem
new_buffer (PhysnnClMlp *m, gsize elements, GError **error)
{
  cl_int st;
  cl_mem b = clCreateBuffer (_physnn_device_get_context (m->device),
      CL_MEM_READ_WRITE, MAX (elements, 1) * m->real, NULL, &st);
  if (!_physnn_cl_check (st, "clCreateBuffer", error))
    return NULL;
  return b;
}

static gboolean
ensure_capacity (PhysnnClMlp *m, gsize rows, GError **error)
{
  if (m->params == NULL &&
      (m->params = new_buffer (m, m->n_params, error)) == NULL)
    return FALSE;
  if (rows <= m->cap)
    return TRUE;
  cl_mem *mems[] = { &m->acts, &m->zbar, &m->abar, &m->partial };
  for (guint i = 0; i < G_N_ELEMENTS (mems); i++)
    if (*mems[i]) {
      clReleaseMemObject (*mems[i]);
      *mems[i] = NULL;
    }
  gsize off = (gsize)m->nc * m->d * rows; /* the input's jets come first */
  gsize blocks = (rows + BLOCK - 1) / BLOCK, part = 0;
  for (guint l = 0; l < m->n_layers; l++) {
    Layer *L = &m->layers[l];
    L->z_off = off;
    off += (gsize)m->nc * L->out * rows;
    L->a_off = off;
    off += (gsize)m->nc * L->out * rows;
    part = MAX (part, blocks * L->out * (L->in + 1));
  }
  gsize scratch = (gsize)m->nc * m->max_width * rows;
  if (off > G_MAXUINT32) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NOT_SUPPORTED,
        "%" G_GSIZE_FORMAT " points need more activation storage than one "
        "OpenCL buffer addresses here",
        rows);
    return FALSE;
  }
  if ((m->acts = new_buffer (m, off, error)) == NULL ||
      (m->zbar = new_buffer (m, scratch, error)) == NULL ||
      (m->abar = new_buffer (m, scratch, error)) == NULL ||
      (m->partial = new_buffer (m, part, error)) == NULL)
    return FALSE;
  m->partial_len = part;
  m->cap = rows;
  gsize stage = MAX (MAX (scratch, part), MAX (m->n_params, 1));
  stage = MAX (stage, (gsize)m->nc * m->d * rows);
  g_free (m->stage);
  m->stage = g_malloc (stage * m->real);
  m->stage_len = stage;
  return TRUE;
}

static inline void
put (PhysnnClMlp *m, gsize i, gdouble v)
{
  if (m->fp64)
    ((gdouble *)m->stage)[i] = v;
  else
    ((gfloat *)m->stage)[i] = (gfloat)v;
}

static inline gdouble
get (PhysnnClMlp *m, gsize i)
{
  return m->fp64 ? ((gdouble *)m->stage)[i] : ((gfloat *)m->stage)[i];
}

static gboolean
write_stage (
    PhysnnClMlp *m, cl_mem b, gsize offset, gsize elements, GError **error)
{
  cl_int st = clEnqueueWriteBuffer (_physnn_device_get_queue (m->device), b,
      CL_TRUE, offset * m->real, elements * m->real, m->stage, 0, NULL, NULL);
  return _physnn_cl_check (st, "clEnqueueWriteBuffer", error);
}

static gboolean
read_stage (
    PhysnnClMlp *m, cl_mem b, gsize offset, gsize elements, GError **error)
{
  cl_int st = clEnqueueReadBuffer (_physnn_device_get_queue (m->device), b,
      CL_TRUE, offset * m->real, elements * m->real, m->stage, 0, NULL, NULL);
  return _physnn_cl_check (st, "clEnqueueReadBuffer", error);
}

/* Sets the arguments (cl_mem or cl_uint/cl_int by size) and launches a
 * 2-D range (points, neurons) under the device lock. */
typedef struct {
  gsize size;
  const void *value;
} Arg;

static gboolean
launch (PhysnnClMlp *m, cl_kernel k, const Arg *args, guint n, gsize g0,
    gsize g1, GError **error)
{
  gboolean ok = TRUE;
  _physnn_device_lock (m->device);
  for (guint i = 0; i < n && ok; i++)
    ok = _physnn_cl_check (clSetKernelArg (k, i, args[i].size, args[i].value),
        "clSetKernelArg", error);
  gsize global[2] = { g0, g1 };
  /* Work-groups along the points only: the device's pick for a 1-D range
   * of g0 items (a multiple of its preferred size), so that a CPU device
   * runs few large groups rather than one per handful of points. */
  gsize local[2] = { _physnn_device_pick_local_size (m->device, k, g0), 1 };
  const gchar *env = g_getenv ("PHYSNN_GRAD_CL_LOCAL");
  if (env && atoi (env) > 0)
    local[0] = (gsize)atoi (env);
  if (ok)
    ok = _physnn_device_enqueue (m->device, k, 2, global, local, error);
  _physnn_device_unlock (m->device);
  return ok;
}

#define MEM(x)                                                                 \
  {                                                                            \
    sizeof (cl_mem), &(x)                                                      \
  }
#define U32(x)                                                                 \
  {                                                                            \
    sizeof (cl_uint), &(x)                                                     \
  }
#define I32(x)                                                                 \
  {                                                                            \
    sizeof (cl_int), &(x)                                                      \
  }

/* ------------------------------------------------------------------------ */
/* Forward and backward */

gboolean
_physnn_cl_mlp_forward (PhysnnClMlp *m, const gdouble *params,
    const PhysnnJetValue *input, PhysnnJetValue *out, GError **error)
{
  gsize n_in = physnn_tensor_get_n_elements (input->comp[0]);
  gsize rows = n_in / MAX (m->d, 1);
  if (n_in != rows * m->d || rows == 0) {
    g_autofree gchar *d = physnn_tensor_describe (input->comp[0]);
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_SHAPE,
        "the dense layers take %u values per point; their input is %s", m->d,
        d);
    return FALSE;
  }
  if (!ensure_capacity (m, rows, error))
    return FALSE;
  m->rows = rows;
  /* parameters in the kernels' layout: W [out][in], then b */
  for (guint l = 0; l < m->n_layers; l++) {
    const Layer *L = &m->layers[l];
    for (guint j = 0; j < L->out; j++) {
      for (guint i = 0; i < L->in; i++)
        put (m, L->w_off + (gsize)j * L->in + i,
            params[L->w_param + (L->trans_b ? (gsize)j * L->in + i
                                            : (gsize)i * L->out + j)]);
      put (m, L->b_off + j, params[L->b_param + j]);
    }
  }
  if (!write_stage (m, m->params, 0, m->n_params, error))
    return FALSE;
  /* the input's jets, as the host computed them (missing components of
   * a value that does not depend on the coordinates are zero) */
  for (guint c = 0; c < m->nc; c++) {
    const gdouble *x =
        c < input->n_comp && input->comp[c]
            ? _physnn_tensor_host (input->comp[c], PHYSNN_ACCESS_READ)
            : NULL;
    for (guint i = 0; i < m->d; i++)
      for (gsize p = 0; p < rows; p++)
        put (m, ((gsize)c * m->d + i) * rows + p, x ? x[p * m->d + i] : 0);
  }
  if (!write_stage (m, m->acts, 0, (gsize)m->nc * m->d * rows, error))
    return FALSE;

  cl_uint N = (cl_uint)rows;
  gsize prev = 0;
  for (guint l = 0; l < m->n_layers; l++) {
    const Layer *L = &m->layers[l];
    cl_uint w_off = (cl_uint)L->w_off, b_off = (cl_uint)L->b_off,
            a_off = (cl_uint)prev, z_off = (cl_uint)L->z_off,
            o_off = (cl_uint)L->a_off, in = L->in, o = L->out;
    cl_int act = L->act;
    Arg args[] = { MEM (m->params), U32 (w_off), U32 (b_off), MEM (m->acts),
      U32 (a_off), MEM (m->acts), U32 (z_off), MEM (m->acts), U32 (o_off),
      U32 (in), U32 (o), U32 (N), I32 (act) };
    if (!launch (m, m->k_fwd, args, G_N_ELEMENTS (args), rows, L->out, error))
      return FALSE;
    prev = L->a_off;
  }
  /* the output's jets */
  const Layer *last = &m->layers[m->n_layers - 1];
  guint k = last->out;
  if (!read_stage (m, m->acts, last->a_off, (gsize)m->nc * k * rows, error))
    return FALSE;
  gsize shape[2] = { rows, k };
  physnn_jet_value_clear (out);
  out->n_comp = m->nc;
  for (guint c = 0; c < m->nc; c++) {
    out->comp[c] = physnn_tensor_new (PHYSNN_DTYPE_FLOAT64, 2, shape);
    gdouble *o = _physnn_tensor_host (out->comp[c], PHYSNN_ACCESS_WRITE);
    for (guint j = 0; j < k; j++)
      for (gsize p = 0; p < rows; p++)
        o[p * k + j] = get (m, ((gsize)c * k + j) * rows + p);
  }
  return TRUE;
}

gboolean
_physnn_cl_mlp_backward (PhysnnClMlp *m, const PhysnnJetValue *bar,
    PhysnnJetValue *in_bar, gdouble *grad, GError **error)
{
  gsize rows = m->rows;
  cl_uint N = (cl_uint)rows;
  const Layer *last = &m->layers[m->n_layers - 1];
  guint k = last->out;
  for (guint c = 0; c < m->nc; c++) {
    const gdouble *b =
        c < bar->n_comp && bar->comp[c]
            ? _physnn_tensor_host (bar->comp[c], PHYSNN_ACCESS_READ)
            : NULL;
    for (guint j = 0; j < k; j++)
      for (gsize p = 0; p < rows; p++)
        put (m, ((gsize)c * k + j) * rows + p, b ? b[p * k + j] : 0);
  }
  if (!write_stage (m, m->abar, 0, (gsize)m->nc * k * rows, error))
    return FALSE;

  cl_uint block = BLOCK;
  gsize blocks = (rows + BLOCK - 1) / BLOCK;
  for (guint l = m->n_layers; l-- > 0;) {
    const Layer *L = &m->layers[l];
    cl_uint z_off = (cl_uint)L->z_off, in = L->in, o = L->out,
            w_off = (cl_uint)L->w_off;
    cl_uint a_off = l ? (cl_uint)m->layers[l - 1].a_off : 0;
    cl_int act = L->act;
    Arg aa[] = { MEM (m->acts), U32 (z_off), MEM (m->abar), MEM (m->zbar),
      U32 (o), U32 (N), I32 (act) };
    if (!launch (m, m->k_act, aa, G_N_ELEMENTS (aa), rows, L->out, error))
      return FALSE;
    gsize nq = (gsize)L->out * (L->in + 1);
    Arg wa[] = { MEM (m->zbar), MEM (m->acts), U32 (a_off), MEM (m->partial),
      U32 (in), U32 (o), U32 (N), U32 (block) };
    if (!launch (m, m->k_wgrad, wa, G_N_ELEMENTS (wa), nq, blocks, error))
      return FALSE;
    if (!read_stage (m, m->partial, 0, blocks * nq, error))
      return FALSE;
    for (gsize q = 0; q < nq; q++) {
      gdouble s = 0;
      for (gsize g = 0; g < blocks; g++)
        s += get (m, g * nq + q);
      if (q < (gsize)L->out * L->in) {
        gsize j = q / L->in, i = q % L->in;
        grad[L->w_param + (L->trans_b ? j * L->in + i : i * L->out + j)] += s;
      } else {
        grad[L->b_param + (q - (gsize)L->out * L->in)] += s;
      }
    }
    if (l > 0 || in_bar) {
      Arg la[] = { MEM (m->params), U32 (w_off), MEM (m->zbar), MEM (m->abar),
        U32 (in), U32 (o), U32 (N) };
      if (!launch (m, m->k_lin, la, G_N_ELEMENTS (la), rows, L->in, error))
        return FALSE;
    }
  }
  if (in_bar) {
    /* the input's cotangent, for what comes before the dense layers */
    if (!read_stage (m, m->abar, 0, (gsize)m->nc * m->d * rows, error))
      return FALSE;
    for (guint c = 0; c < MIN (m->nc, in_bar->n_comp); c++) {
      if (in_bar->comp[c] == NULL)
        continue;
      gdouble *b =
          _physnn_tensor_host (in_bar->comp[c], PHYSNN_ACCESS_READWRITE);
      for (guint i = 0; i < m->d; i++)
        for (gsize p = 0; p < rows; p++)
          b[p * m->d + i] += get (m, ((gsize)c * m->d + i) * rows + p);
    }
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* As a segment of a reference tape */

static gboolean
seg_forward (gpointer user, const PhysnnJetValue *in, PhysnnJetValue *out,
    GError **error)
{
  PhysnnClMlp *m = user;
  return _physnn_cl_mlp_forward (m, m->cur_params, in, out, error);
}

static gboolean
seg_backward (gpointer user, const PhysnnJetValue *out_bar,
    PhysnnJetValue *in_bar, gdouble *grad, GError **error)
{
  return _physnn_cl_mlp_backward (user, out_bar, in_bar, grad, error);
}

void
_physnn_cl_mlp_segment (
    PhysnnClMlp *m, const gdouble *params, PhysnnTapeSegment *seg)
{
  m->cur_params = params;
  seg->first_node = m->first_node;
  seg->last_node = m->last_node;
  seg->in_value = m->in_value;
  seg->out_value = m->out_value;
  seg->forward = seg_forward;
  seg->backward = seg_backward;
  seg->user = m;
}
