/* physnn — node-by-node graph kernels with forward-mode jets.
 *
 * A value with derivatives is stored component-major in one buffer:
 * [value | d/d(dir 0) | ... | second derivatives], each part `n` floats.
 * The jet layout is compiled in:
 *   JET_NF  first-order components (one per direction)
 *   JET_NS  second-order components; JET_PAIRS lists their (a, b)
 * so every kernel below propagates exactly the derivatives requested.
 */

#ifndef JET_NF
#define JET_NF 0
#endif
#ifndef JET_NS
#define JET_NS 0
#endif
#ifndef JET_PAIRS
#define JET_PAIRS 0, 0
#endif

__constant uchar jet_pairs[2 * JET_NS + 2] = { JET_PAIRS };

/* Unary op codes (must match exec-cl.c). */
#define U_IDENTITY 0
#define U_NEG 1
#define U_TANH 2
#define U_SIGMOID 3
#define U_RELU 4
#define U_LEAKY_RELU 5
#define U_SIN 6
#define U_COS 7
#define U_EXP 8
#define U_LOG 9
#define U_SOFTPLUS 10
#define U_ERF 11
#define U_SQRT 12
#define U_ABS 13
#define U_POW 14

/* f, f' and f'' of the unary ops. */
static inline float3
unary_f (int op, float x, float p)
{
  float f, f1, f2;
  switch (op) {
    case U_IDENTITY: f = x; f1 = 1.0f; f2 = 0.0f; break;
    case U_NEG: f = -x; f1 = -1.0f; f2 = 0.0f; break;
    case U_TANH: f = tanh (x); f1 = 1.0f - f * f; f2 = -2.0f * f * f1; break;
    case U_SIGMOID: {
      float s = 1.0f / (1.0f + exp (-x));
      f = s; f1 = s * (1.0f - s); f2 = f1 * (1.0f - 2.0f * s);
      break;
    }
    case U_RELU: f = x > 0.0f ? x : 0.0f; f1 = x > 0.0f ? 1.0f : 0.0f;
      f2 = 0.0f; break;
    case U_LEAKY_RELU: f = x > 0.0f ? x : p * x; f1 = x > 0.0f ? 1.0f : p;
      f2 = 0.0f; break;
    case U_SIN: f = sin (x); f1 = cos (x); f2 = -f; break;
    case U_COS: f = cos (x); f1 = -sin (x); f2 = -f; break;
    case U_EXP: f = exp (x); f1 = f; f2 = f; break;
    case U_LOG: f = log (x); f1 = 1.0f / x; f2 = -f1 * f1; break;
    case U_SOFTPLUS: {
      float s = 1.0f / (1.0f + exp (-x));
      f = x > 0.0f ? x + log1p (exp (-x)) : log1p (exp (x));
      f1 = s; f2 = s * (1.0f - s);
      break;
    }
    case U_ERF: f = erf (x); f1 = 1.1283791670955126f * exp (-x * x);
      f2 = -2.0f * x * f1; break;
    case U_SQRT: f = sqrt (x); f1 = 0.5f / f; f2 = -0.5f * f1 / x; break;
    case U_ABS: f = fabs (x); f1 = x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
      f2 = 0.0f; break;
    case U_POW: f = pow (x, p); f1 = p == 0.0f ? 0.0f : p * pow (x, p - 1.0f);
      f2 = (p == 0.0f || p == 1.0f) ? 0.0f : p * (p - 1.0f) * pow (x, p - 2.0f);
      break;
    default: f = f1 = f2 = NAN;
  }
  return (float3) (f, f1, f2);
}

__kernel void
physnn_unary (const uint n, const int op, const float param,
    __global const float *x, const uint x_comp, __global float *y)
{
  size_t i = get_global_id (0);
  PHYSNN_GUARD (i, n);
  float3 f = unary_f (op, x[i], param);
  y[i] = f.x;
  if (x_comp == 1)
    return;
  for (int d = 0; d < JET_NF; d++)
    y[(1 + d) * n + i] = f.y * x[(1 + d) * n + i];
  for (int q = 0; q < JET_NS; q++) {
    int a = jet_pairs[2 * q], b = jet_pairs[2 * q + 1];
    size_t c = (size_t) (1 + JET_NF + q) * n + i;
    y[c] = f.z * x[(1 + a) * n + i] * x[(1 + b) * n + i] + f.y * x[c];
  }
}

/* Broadcasting binary ops over rank <= 6 with per-operand strides (0 on a
 * broadcast axis). */
#define B_ADD 0
#define B_SUB 1
#define B_MUL 2
#define B_DIV 3

typedef struct {
  uint rank;
  uint shape[6];
  uint sa[6];
  uint sb[6];
} Bcast;

__kernel void
physnn_binary (const uint n, const int op, __constant Bcast *bc,
    __global const float *a, const uint na, const uint a_comp,
    __global const float *b, const uint nb, const uint b_comp,
    __global float *y)
{
  size_t i = get_global_id (0);
  PHYSNN_GUARD (i, n);
  size_t rem = i, oa = 0, ob = 0;
  for (int d = (int) bc->rank - 1; d >= 0; d--) {
    size_t idx = rem % bc->shape[d];
    rem /= bc->shape[d];
    oa += idx * bc->sa[d];
    ob += idx * bc->sb[d];
  }
  float x = a[oa], z = b[ob];
  int active = a_comp > 1 || b_comp > 1;
#define AC(c) (a_comp > 1 ? a[(size_t) (c) * na + oa] : 0.0f)
#define BC(c) (b_comp > 1 ? b[(size_t) (c) * nb + ob] : 0.0f)
  if (op == B_ADD || op == B_SUB) {
    float s = op == B_ADD ? 1.0f : -1.0f;
    y[i] = x + s * z;
    if (active)
      for (int c = 1; c < 1 + JET_NF + JET_NS; c++)
        y[(size_t) c * n + i] = AC (c) + s * BC (c);
  } else if (op == B_MUL) {
    y[i] = x * z;
    if (active) {
      for (int d = 0; d < JET_NF; d++)
        y[(size_t) (1 + d) * n + i] = AC (1 + d) * z + x * BC (1 + d);
      for (int q = 0; q < JET_NS; q++) {
        int p = jet_pairs[2 * q] + 1, t = jet_pairs[2 * q + 1] + 1;
        int c = 1 + JET_NF + q;
        y[(size_t) c * n + i] = AC (c) * z + AC (p) * BC (t) + AC (t) * BC (p)
            + x * BC (c);
      }
    }
  } else {
    float r = 1.0f / z, r2 = r * r, r3 = r2 * r;
    y[i] = x * r;
    if (active) {
      for (int d = 0; d < JET_NF; d++)
        y[(size_t) (1 + d) * n + i] = AC (1 + d) * r - x * BC (1 + d) * r2;
      for (int q = 0; q < JET_NS; q++) {
        int p = jet_pairs[2 * q] + 1, t = jet_pairs[2 * q + 1] + 1;
        int c = 1 + JET_NF + q;
        float rs = 2.0f * BC (p) * BC (t) * r3 - BC (c) * r2;
        y[(size_t) c * n + i] = AC (c) * r - AC (p) * BC (t) * r2
            - AC (t) * BC (p) * r2 + x * rs;
      }
    }
  }
#undef AC
#undef BC
}

/* C[b] (+)= alpha * op(A[b]) op(B[b]), row-major, tiled through local
 * memory. Batch offsets come from small host-computed tables so NumPy batch
 * broadcasting needs no special cases. `accumulate` adds to C. */
#define TILE 16
__kernel __attribute__ ((reqd_work_group_size (TILE, TILE, 1)))
void
physnn_gemm (const uint M, const uint N, const uint K,
    __global const float *A, const uint trans_a,
    __global const float *B, const uint trans_b,
    __global float *C, const float alpha, const uint accumulate,
    __global const uint *a_off, __global const uint *b_off,
    __global const uint *c_off)
{
  __local float As[TILE][TILE + 1];
  __local float Bs[TILE][TILE + 1];
  const uint col = get_global_id (0), row = get_global_id (1);
  const uint batch = get_global_id (2);
  const uint lc = get_local_id (0), lr = get_local_id (1);
  __global const float *Ab = A + a_off[batch];
  __global const float *Bb = B + b_off[batch];
  float acc = 0.0f;

  for (uint k0 = 0; k0 < K; k0 += TILE) {
    uint ka = k0 + lc, kb = k0 + lr;
    As[lr][lc] = (row < M && ka < K) ?
        (trans_a ? Ab[(size_t) ka * M + row] : Ab[(size_t) row * K + ka]) : 0.0f;
    Bs[lr][lc] = (col < N && kb < K) ?
        (trans_b ? Bb[(size_t) col * K + kb] : Bb[(size_t) kb * N + col]) : 0.0f;
    barrier (CLK_LOCAL_MEM_FENCE);
    for (uint k = 0; k < TILE; k++)
      acc = fma (As[lr][k], Bs[k][lc], acc);
    barrier (CLK_LOCAL_MEM_FENCE);
  }
  if (row < M && col < N) {
    __global float *c = C + c_off[batch] + (size_t) row * N + col;
    *c = accumulate ? *c + alpha * acc : alpha * acc;
  }
}

/* y[c][i] += beta * bias[broadcast index], for the value component only
 * (bias has no derivatives). */
__kernel void
physnn_add_bias (const uint n, __global float *y, __global const float *bias,
    __constant Bcast *bc, const float beta)
{
  size_t i = get_global_id (0);
  PHYSNN_GUARD (i, n);
  size_t rem = i, ob = 0;
  for (int d = (int) bc->rank - 1; d >= 0; d--) {
    size_t idx = rem % bc->shape[d];
    rem /= bc->shape[d];
    ob += idx * bc->sb[d];
  }
  y[i] += beta * bias[ob];
}

/* Index-map copies: all data movement (slice, transpose, concat parts,
 * split, gather) is one of these two, applied to every component. */
__kernel void
physnn_gather (const uint n_out, const uint n_in, const uint comps,
    __global const uint *map, __global const float *x, __global float *y,
    const uint y_stride)
{
  size_t i = get_global_id (0);
  PHYSNN_GUARD (i, n_out);
  uint src = map[i];
  for (uint c = 0; c < comps; c++)
    y[(size_t) c * y_stride + i] = x[(size_t) c * n_in + src];
}

__kernel void
physnn_scatter (const uint n_in, const uint comps, const uint in_comps,
    __global const uint *map, __global const float *x, __global float *y,
    const uint n_out)
{
  size_t i = get_global_id (0);
  PHYSNN_GUARD (i, n_in);
  uint dst = map[i];
  for (uint c = 0; c < comps; c++)
    y[(size_t) c * n_out + dst] = c < in_comps ? x[(size_t) c * n_in + i] : 0.0f;
}

/* Sums contiguous segments of `len` values (reduced axes moved innermost
 * by a gather first). */
__kernel void
physnn_segment_sum (const uint segments, const uint len, const float scale,
    __global const float *x, __global float *y)
{
  size_t s = get_global_id (0);
  PHYSNN_GUARD (s, segments);
  float acc = 0.0f;
  for (uint k = 0; k < len; k++)
    acc += x[(size_t) s * len + k];
  y[s] = scale * acc;
}

__kernel void
physnn_fill (const uint n, __global float *y, const float value)
{
  size_t i = get_global_id (0);
  PHYSNN_GUARD (i, n);
  y[i] = value;
}

/* Direct convolution over up to 3 spatial axes (N, C, D, H, W); components
 * are stacked into the batch axis by the host. */
typedef struct {
  uint N, C, M, group;
  uint in[3], out[3], k[3];
  int s[3], d[3], pb[3];
} ConvGeom;

__kernel void
physnn_conv (__constant ConvGeom *g, __global const float *x,
    __global const float *w, __global float *y, const uint accumulate)
{
  size_t o = get_global_id (0);
  const uint osz = g->out[0] * g->out[1] * g->out[2];
  const size_t total = (size_t) g->N * g->M * osz;
  PHYSNN_GUARD (o, total);
  uint sp = o % osz, m = (o / osz) % g->M, nb = o / ((size_t) osz * g->M);
  uint o0 = sp / (g->out[1] * g->out[2]), o1 = (sp / g->out[2]) % g->out[1];
  uint o2 = sp % g->out[2];
  uint cg = g->C / g->group, mg = g->M / g->group, grp = m / mg;
  uint isz = g->in[0] * g->in[1] * g->in[2], ksz = g->k[0] * g->k[1] * g->k[2];
  float acc = 0.0f;
  for (uint c = 0; c < cg; c++) {
    __global const float *xc = x + ((size_t) nb * g->C + grp * cg + c) * isz;
    __global const float *wc = w + ((size_t) m * cg + c) * ksz;
    for (uint k0 = 0; k0 < g->k[0]; k0++) {
      int i0 = (int) o0 * g->s[0] - g->pb[0] + (int) k0 * g->d[0];
      if (i0 < 0 || i0 >= (int) g->in[0])
        continue;
      for (uint k1 = 0; k1 < g->k[1]; k1++) {
        int i1 = (int) o1 * g->s[1] - g->pb[1] + (int) k1 * g->d[1];
        if (i1 < 0 || i1 >= (int) g->in[1])
          continue;
        for (uint k2 = 0; k2 < g->k[2]; k2++) {
          int i2 = (int) o2 * g->s[2] - g->pb[2] + (int) k2 * g->d[2];
          if (i2 < 0 || i2 >= (int) g->in[2])
            continue;
          acc = fma (xc[((size_t) i0 * g->in[1] + i1) * g->in[2] + i2],
              wc[(k0 * g->k[1] + k1) * g->k[2] + k2], acc);
        }
      }
    }
  }
  y[o] = accumulate ? y[o] + acc : acc;
}

/* Pooling on the value component; max pooling also writes the arg-max
 * index so derivative components can be gathered from the same place. */
__kernel void
physnn_pool (__constant ConvGeom *g, __global const float *x,
    __global float *y, __global uint *argmax, const uint is_max,
    const uint count_pad, const uint n_planes, const uint in_stride,
    const uint out_stride)
{
  size_t o = get_global_id (0);
  const uint osz = g->out[0] * g->out[1] * g->out[2];
  PHYSNN_GUARD (o, (size_t) n_planes * osz);
  uint p = o / osz, sp = o % osz;
  uint o0 = sp / (g->out[1] * g->out[2]), o1 = (sp / g->out[2]) % g->out[1];
  uint o2 = sp % g->out[2];
  uint isz = g->in[0] * g->in[1] * g->in[2];
  float best = -INFINITY, sum = 0.0f;
  int arg = -1;
  uint count = 0;
  for (uint k0 = 0; k0 < g->k[0]; k0++)
    for (uint k1 = 0; k1 < g->k[1]; k1++)
      for (uint k2 = 0; k2 < g->k[2]; k2++) {
        int i0 = (int) o0 * g->s[0] - g->pb[0] + (int) k0 * g->d[0];
        int i1 = (int) o1 * g->s[1] - g->pb[1] + (int) k1 * g->d[1];
        int i2 = (int) o2 * g->s[2] - g->pb[2] + (int) k2 * g->d[2];
        int inside = i0 >= 0 && i0 < (int) g->in[0] && i1 >= 0 &&
            i1 < (int) g->in[1] && i2 >= 0 && i2 < (int) g->in[2];
        if (!inside) {
          if (count_pad)
            count++;
          continue;
        }
        uint idx = p * isz + ((uint) i0 * g->in[1] + i1) * g->in[2] + i2;
        count++;
        float v = x[idx];
        if (arg < 0 || v > best) {
          best = v;
          arg = (int) idx;
        }
        sum += v;
      }
  if (is_max) {
    y[o] = arg >= 0 ? best : 0.0f;
    argmax[o] = arg >= 0 ? (uint) arg : 0;
  } else {
    y[o] = count ? sum / count : 0.0f;
  }
}

/* Seeds a first-order component of a coordinate input: 1 in column `col`
 * of each row of `cols` columns (col < 0: every element). */
__kernel void
physnn_seed (const uint n, const uint cols, const int col, __global float *y)
{
  size_t i = get_global_id (0);
  PHYSNN_GUARD (i, n);
  y[i] = (col < 0 || (int) (i % cols) == col) ? 1.0f : 0.0f;
}
