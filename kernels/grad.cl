/* physnn — reverse mode of a dense MLP with derivative jets (grad-cl.c).
 *
 * Every value is stored as [component][neuron][point], points fastest, so
 * that neighbouring work-items (points) touch neighbouring addresses.
 * Component 0 is the value, 1..NF the first derivatives along the jet
 * directions, NF+1..NF+NS the second derivatives of the pairs
 * (PAIR_A[s], PAIR_B[s]) of directions.
 *
 * Built with -DREAL=float or -DREAL=double (then -DPHYSNN_FP64, which
 * enables cl_khr_fp64), -DNF, -DNS, -DPAIR_A={..} -DPAIR_B={..}.
 * physnn: parameterized (warm-up leaves it to the model that needs it)
 */
#ifdef PHYSNN_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#define NC (1 + NF + NS)

__constant int pair_a[] = PAIR_A;
__constant int pair_b[] = PAIR_B;

/* activation codes, as grad-cl.c numbers them */
#define ACT_IDENTITY 0
#define ACT_TANH 1
#define ACT_SIN 2
#define ACT_SIGMOID 3

/* f and its first three derivatives at x */
static void
act_derivs (int act, REAL x, REAL *f, REAL *f1, REAL *f2, REAL *f3)
{
  if (act == ACT_TANH) {
    REAL t = tanh (x);
    *f = t;
    *f1 = (REAL) 1 - t * t;
    *f2 = (REAL) -2 * t * *f1;
    *f3 = (REAL) -2 * (*f1 * *f1 + t * *f2);
  } else if (act == ACT_SIN) {
    REAL s = sin (x), c = cos (x);
    *f = s;
    *f1 = c;
    *f2 = -s;
    *f3 = -c;
  } else if (act == ACT_SIGMOID) {
    REAL s = (REAL) 1 / ((REAL) 1 + exp (-x));
    *f = s;
    *f1 = s * ((REAL) 1 - s);
    *f2 = *f1 * ((REAL) 1 - (REAL) 2 * s);
    *f3 = *f2 * ((REAL) 1 - (REAL) 2 * s) - (REAL) 2 * *f1 * *f1;
  } else {
    *f = x;
    *f1 = 1;
    *f2 = 0;
    *f3 = 0;
  }
}

/* Z = W A + b (bias on the value only), then A' = act(Z) with the jet
 * rules a_k = f' z_k, a_ab = f'' z_a z_b + f' z_ab. W is [out][in].
 * Global: (points, out). */
__kernel void
mlp_forward (__global const REAL *P, uint w_off, uint b_off,
    __global const REAL *A, uint a_off, __global REAL *Z, uint z_off,
    __global REAL *Aout, uint o_off, uint in, uint out, uint N, int act)
{
  uint p = get_global_id (0), j = get_global_id (1);
  if (p >= N || j >= out)
    return;
  __global const REAL *w = P + w_off + (size_t) j * in;
  REAL z[NC];
  for (int c = 0; c < NC; c++) {
    __global const REAL *a = A + a_off + (size_t) c * in * N + p;
    REAL s = 0;
    for (uint i = 0; i < in; i++)
      s += w[i] * a[(size_t) i * N];
    z[c] = s;
  }
  z[0] += P[b_off + j];
  REAL f, f1, f2, f3;
  act_derivs (act, z[0], &f, &f1, &f2, &f3);
  for (int c = 0; c < NC; c++)
    Z[z_off + ((size_t) c * out + j) * N + p] = z[c];
  Aout[o_off + (size_t) j * N + p] = f;
  for (int k = 1; k <= NF; k++)
    Aout[o_off + ((size_t) k * out + j) * N + p] = f1 * z[k];
  for (int s = 0; s < NS; s++) {
    int c = 1 + NF + s;
    Aout[o_off + ((size_t) c * out + j) * N + p] =
        f2 * z[1 + pair_a[s]] * z[1 + pair_b[s]] + f1 * z[c];
  }
}

/* Cotangents of Z from those of A = act(Z), the transpose of the jet
 * rules: z̄_0 = ā_0 f' + Σ_k ā_k f'' z_k + Σ_ab ā_ab (f''' z_a z_b +
 * f'' z_ab), z̄_k = ā_k f' + Σ_ab ā_ab f'' ∂(z_a z_b)/∂z_k, z̄_ab = ā_ab f'.
 * Global: (points, width). */
__kernel void
mlp_act_backward (__global const REAL *Z, uint z_off, __global const REAL *Ab,
    __global REAL *Zb, uint width, uint N, int act)
{
  uint p = get_global_id (0), j = get_global_id (1);
  if (p >= N || j >= width)
    return;
  REAL z[NC], ab[NC], zb[NC];
  for (int c = 0; c < NC; c++) {
    z[c] = Z[z_off + ((size_t) c * width + j) * N + p];
    ab[c] = Ab[((size_t) c * width + j) * N + p];
  }
  REAL f, f1, f2, f3;
  act_derivs (act, z[0], &f, &f1, &f2, &f3);
  zb[0] = ab[0] * f1;
  for (int k = 1; k <= NF; k++) {
    zb[0] += ab[k] * f2 * z[k];
    zb[k] = ab[k] * f1;
  }
  for (int s = 0; s < NS; s++) {
    int c = 1 + NF + s, a = 1 + pair_a[s], b = 1 + pair_b[s];
    zb[0] += ab[c] * (f3 * z[a] * z[b] + f2 * z[c]);
    zb[a] += ab[c] * f2 * z[b];
    zb[b] += ab[c] * f2 * z[a];
    zb[c] = ab[c] * f1;
  }
  for (int c = 0; c < NC; c++)
    Zb[((size_t) c * width + j) * N + p] = zb[c];
}

/* Ā = Wᵀ Z̄, every component alike. Global: (points, in). */
__kernel void
mlp_linear_backward (__global const REAL *P, uint w_off,
    __global const REAL *Zb, __global REAL *Ab, uint in, uint out, uint N)
{
  uint p = get_global_id (0), i = get_global_id (1);
  if (p >= N || i >= in)
    return;
  for (int c = 0; c < NC; c++) {
    REAL s = 0;
    for (uint j = 0; j < out; j++)
      s += P[w_off + (size_t) j * in + i] * Zb[((size_t) c * out + j) * N + p];
    Ab[((size_t) c * in + i) * N + p] = s;
  }
}

/* Partial sums of the weight and bias gradients over a block of points:
 * W̄[j][i] = Σ_p Σ_c z̄_c[j][p] a_c[i][p], b̄[j] = Σ_p z̄_0[j][p]. Global:
 * (out * (in + 1), blocks); partial[block][q] with q = j * in + i for
 * weights and out * in + j for biases. */
__kernel void
mlp_weight_grad (__global const REAL *Zb, __global const REAL *A, uint a_off,
    __global REAL *partial, uint in, uint out, uint N, uint block)
{
  uint q = get_global_id (0), g = get_global_id (1);
  uint nq = out * (in + 1);
  if (q >= nq)
    return;
  uint p0 = g * block, p1 = min (N, p0 + block);
  REAL s = 0;
  if (q < out * in) {
    uint j = q / in, i = q % in;
    for (int c = 0; c < NC; c++) {
      __global const REAL *zb = Zb + ((size_t) c * out + j) * N;
      __global const REAL *a = A + a_off + ((size_t) c * in + i) * N;
      for (uint p = p0; p < p1; p++)
        s += zb[p] * a[p];
    }
  } else {
    __global const REAL *zb = Zb + (size_t) (q - out * in) * N;
    for (uint p = p0; p < p1; p++)
      s += zb[p];
  }
  partial[(size_t) g * nq + q] = s;
}
