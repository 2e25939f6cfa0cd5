/* physnn — spiking network kernels (see lib/physnn/snn.c).
 *
 * Each kernel repeats the reference C path's arithmetic operation for
 * operation (fma where it multiplies and adds, sums in increasing input
 * order) and contraction is off, so that spikes and potentials are
 * bit-identical. Buffers are [steps][values], weights [in][out]. */
#pragma OPENCL FP_CONTRACT OFF

/* y = a + b, or y = b when init */
__kernel void
physnn_snn_add (uint n, uint init, __global const float *a,
    __global const float *b, __global float *y)
{
  uint i = get_global_id (0);
  PHYSNN_GUARD (i, n);
  y[i] = init ? b[i] : y[i] + b[i];
}

/* The active (nonzero) inputs of each step, in increasing order. */
__kernel void
physnn_snn_compact (uint w, uint n, __global const float *x,
    __global uint *idx, __global uint *cnt)
{
  uint t = get_global_id (0);
  PHYSNN_GUARD (t, w);
  uint k = 0;
  for (uint i = 0; i < n; i++)
    if (x[t * n + i] != 0.0f)
      idx[t * n + k++] = i;
  cnt[t] = k;
}

/* Event-driven accumulation: only the rows of active inputs. */
__kernel void
physnn_snn_affine_event (uint w, uint n_in, uint n_out,
    __global const float *wt, uint has_bias, __global const float *bias,
    __global const uint *idx, __global const uint *cnt, __global float *y)
{
  uint gid = get_global_id (0);
  PHYSNN_GUARD (gid, w * n_out);
  uint t = gid / n_out, j = gid % n_out;
  float acc = has_bias ? bias[j] : 0.0f;
  uint c = cnt[t];
  __global const uint *it = idx + t * n_in;
  for (uint k = 0; k < c; k++)
    acc = acc + wt[it[k] * n_out + j];
  y[gid] = acc;
}

__kernel void
physnn_snn_affine_dense (uint w, uint n_in, uint n_out,
    __global const float *wt, uint has_bias, __global const float *bias,
    __global const float *x, __global float *y)
{
  uint gid = get_global_id (0);
  PHYSNN_GUARD (gid, w * n_out);
  uint t = gid / n_out, j = gid % n_out;
  float acc = has_bias ? bias[j] : 0.0f;
  __global const float *xt = x + t * n_in;
  /* as the C path: zeros skipped, ones added (the same bits as fma) */
  for (uint i = 0; i < n_in; i++) {
    float xv = xt[i];
    if (xv == 0.0f)
      continue;
    acc = xv == 1.0f ? acc + wt[i * n_out + j] : fma (wt[i * n_out + j], xv,
        acc);
  }
  y[gid] = acc;
}

/* One work-item per neuron, sequential over the window's steps.
 * coef [8][n]: a, b, c, a_syn, i_x, k_i, k_x, unused. */
__kernel void
physnn_snn_neuron (uint n, uint w, uint fires, uint cuba, uint rec,
    __global const float *coef, __global const float *theta,
    __global const float *vreset, __global float *vs, __global float *is,
    __global const float *x, __global float *out, __global float *vrec,
    __global uint *counts)
{
  uint j = get_global_id (0);
  PHYSNN_GUARD (j, n);
  /* coefficient-major: coef[q * n + j] */
  float c0 = coef[j], c1 = coef[n + j], c2 = coef[2 * n + j];
  float c3 = coef[3 * n + j], c4 = coef[4 * n + j], c5 = coef[5 * n + j];
  float c6 = coef[6 * n + j];
  float v = vs[j], i = is[j];
  float th = theta[j], vr = vreset[j];
  uint k = counts[j];
  for (uint t = 0; t < w; t++) {
    uint at = t * n + j;
    float xv = x[at];
    if (cuba) {
      float i_old = i;
      v = fma (c0, v, fma (c5, i_old, fma (c6, xv, c2)));
      i = fma (c3, i_old, c4 * xv);
    } else {
      v = fma (c0, v, fma (c1, xv, c2));
    }
    if (fires) {
      int s = v > th;
      if (s) {
        v = vr;
        k++;
      }
      out[at] = s ? 1.0f : 0.0f;
    } else {
      out[at] = v;
    }
    if (rec)
      vrec[at] = v;
  }
  vs[j] = v;
  is[j] = i;
  counts[j] = k;
}

/* Scale (mode 0) or Threshold (mode 1). */
__kernel void
physnn_snn_elementwise (uint n, uint w, uint mode, __global const float *v,
    __global const float *x, __global float *y, __global uint *counts)
{
  uint j = get_global_id (0);
  PHYSNN_GUARD (j, n);
  uint k = 0;
  for (uint t = 0; t < w; t++) {
    uint at = t * n + j;
    if (mode) {
      int s = x[at] > v[j];
      y[at] = s ? 1.0f : 0.0f;
      k += s;
    } else {
      y[at] = x[at] * v[j];
    }
  }
  if (mode)
    counts[j] += k;
}

__kernel void
physnn_snn_delay (uint n, uint w, uint len, uint head,
    __global const int *d, __global float *ring, __global const float *x,
    __global float *y)
{
  uint j = get_global_id (0);
  PHYSNN_GUARD (j, n);
  for (uint t = 0; t < w; t++) {
    uint pos = (head + t) % len;
    ring[pos * n + j] = x[t * n + j];
    y[t * n + j] = ring[((pos + len - (uint) d[j]) % len) * n + j];
  }
}

/* Direct convolution (and pooling) over [C][H][W] inputs. geo: cin, cout,
 * groups, ih, iw, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw. */
__kernel void
physnn_snn_conv (uint w, uint n_out, uint pool, uint avg, float inv,
    __global const int *g, __global const float *wt,
    __global const float *bias, __global const float *x, __global float *y)
{
  uint gid = get_global_id (0);
  PHYSNN_GUARD (gid, w * n_out);
  int cin = g[0], cout = g[1], groups = max (g[2], 1);
  int ih = g[3], iw = g[4], oh = g[5], ow = g[6], kh = g[7], kw = g[8];
  int sh = g[9], sw = g[10], ph = g[11], pw = g[12], dh = g[13], dw = g[14];
  uint t = gid / n_out, r = gid % n_out;
  int co = (int) (r / (uint) (oh * ow));
  int oy = (int) ((r / (uint) ow) % (uint) oh), ox = (int) (r % (uint) ow);
  int cpg = cin / groups, opg = cout / groups;
  uint n_in = (uint) (cin * ih * iw);
  float acc = pool ? 0.0f : bias[co];
  int c0 = pool ? co : (co / opg) * cpg, c1 = pool ? co + 1 : c0 + cpg;
  for (int ci = c0; ci < c1; ci++)
    for (int ky = 0; ky < kh; ky++) {
      int iy = oy * sh - ph + ky * dh;
      if (iy < 0 || iy >= ih)
        continue;
      for (int kx = 0; kx < kw; kx++) {
        int ix = ox * sw - pw + kx * dw;
        if (ix < 0 || ix >= iw)
          continue;
        float xv = x[t * n_in + (uint) ((ci * ih + iy) * iw + ix)];
        if (pool)
          acc = acc + xv;
        else
          acc = fma (wt[((co * cpg + (ci - c0)) * kh + ky) * kw + kx], xv,
              acc);
      }
    }
  if (avg)
    acc = acc * inv;
  y[gid] = acc;
}

/* STDP, step 1: decay each post trace, then depress w_ij for the active
 * pre inputs i (those of step 0 in idx/cnt). */
__kernel void
physnn_snn_stdp_pre (uint n_in, uint n_out, float dm, float am, float wmin,
    uint has_mask, __global const uchar *mask, __global const uint *idx,
    __global const uint *cnt, __global float *ytrace, __global float *wt)
{
  uint j = get_global_id (0);
  PHYSNN_GUARD (j, n_out);
  float y = ytrace[j] * dm;
  float f = am * y;
  uint c = cnt[0];
  for (uint k = 0; k < c; k++) {
    uint at = idx[k] * n_out + j;
    if (!(has_mask && mask[at]))
      wt[at] = fma (-f, wt[at] - wmin, wt[at]);
  }
  ytrace[j] = y;
}

/* STDP, step 2: decay and bump each pre trace, then potentiate w_ij for
 * the post neurons j that spiked. */
__kernel void
physnn_snn_stdp_post (uint n_in, uint n_out, float dp, float ap, float wmax,
    uint has_mask, __global const uchar *mask, __global const float *x,
    __global const float *post, __global float *xtrace, __global float *wt)
{
  uint i = get_global_id (0);
  PHYSNN_GUARD (i, n_in);
  float xv = xtrace[i] * dp + x[i];
  float f = ap * xv;
  for (uint j = 0; j < n_out; j++) {
    uint at = i * n_out + j;
    if (post[j] != 0.0f && !(has_mask && mask[at]))
      wt[at] = fma (f, wmax - wt[at], wt[at]);
  }
  xtrace[i] = xv;
}

/* STDP, step 3: bump the post traces. */
__kernel void
physnn_snn_stdp_trace (uint n_out, __global const float *post,
    __global float *ytrace)
{
  uint j = get_global_id (0);
  PHYSNN_GUARD (j, n_out);
  ytrace[j] = ytrace[j] + post[j];
}
