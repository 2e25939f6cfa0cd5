/* physnn — dense float64 kernels of the training path: the products every
 * dense layer needs forwards and backwards, written so that the inner loop
 * runs along contiguous rows (vectorised without reassociating sums, so the
 * results do not depend on the vector width), with AVX2/FMA clones picked at
 * run time where the CPU has them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/tape-private.h"

#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&         \
    defined(__ELF__)
#define MULTI __attribute__ ((target_clones ("arch=x86-64-v3", "default")))
#else
#define MULTI
#endif

typedef gdouble v4d __attribute__ ((vector_size (32), aligned (8)));

/* unaligned vector load and store (macros: no vector-typed function
 * boundaries in the baseline clone) */
#define ld4(p) ({ v4d v_; memcpy (&v_, (p), sizeof v_); v_; })
#define st4(p, v) do { v4d w_ = (v); memcpy ((p), &w_, sizeof w_); } while (0)

/* C[M,n] += alpha A[M,k] B[k,n]: register tiles of 4 rows x 8 columns of C
 * accumulate over k (two vectors of B and four broadcasts of A feed eight
 * fused multiply-adds); the edges go element by element. Each element's sum
 * runs over k in order, as in the plain loop. */
MULTI void
_physnn_k_rows_times (gsize M, gsize k, gsize n, gdouble alpha,
    const gdouble *A, gsize lda, const gdouble *B, gdouble *C, gsize ldc)
{
  gsize n8 = n - n % 8, n4 = n - n % 4, i = 0;
  for (; i + 4 <= M; i += 4) {
    const gdouble *a0 = A + i * lda, *a1 = a0 + lda, *a2 = a1 + lda,
        *a3 = a2 + lda;
    gdouble *c0 = C + i * ldc, *c1 = c0 + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc;
    for (gsize j = 0; j < n8; j += 8) {
      v4d x00 = { 0 }, x01 = { 0 }, x10 = { 0 }, x11 = { 0 };
      v4d x20 = { 0 }, x21 = { 0 }, x30 = { 0 }, x31 = { 0 };
      for (gsize kk = 0; kk < k; kk++) {
        v4d b0 = ld4 (B + kk * n + j), b1 = ld4 (B + kk * n + j + 4);
        v4d s0 = { a0[kk], a0[kk], a0[kk], a0[kk] };
        v4d s1 = { a1[kk], a1[kk], a1[kk], a1[kk] };
        v4d s2 = { a2[kk], a2[kk], a2[kk], a2[kk] };
        v4d s3 = { a3[kk], a3[kk], a3[kk], a3[kk] };
        x00 += s0 * b0;
        x01 += s0 * b1;
        x10 += s1 * b0;
        x11 += s1 * b1;
        x20 += s2 * b0;
        x21 += s2 * b1;
        x30 += s3 * b0;
        x31 += s3 * b1;
      }
      st4 (c0 + j, ld4 (c0 + j) + alpha * x00);
      st4 (c0 + j + 4, ld4 (c0 + j + 4) + alpha * x01);
      st4 (c1 + j, ld4 (c1 + j) + alpha * x10);
      st4 (c1 + j + 4, ld4 (c1 + j + 4) + alpha * x11);
      st4 (c2 + j, ld4 (c2 + j) + alpha * x20);
      st4 (c2 + j + 4, ld4 (c2 + j + 4) + alpha * x21);
      st4 (c3 + j, ld4 (c3 + j) + alpha * x30);
      st4 (c3 + j + 4, ld4 (c3 + j + 4) + alpha * x31);
    }
    /* four more columns as one vector (widths such as 20, 36) */
    if (n4 > n8) {
      v4d x0 = { 0 }, x1 = { 0 }, x2 = { 0 }, x3 = { 0 };
      for (gsize kk = 0; kk < k; kk++) {
        v4d b0 = ld4 (B + kk * n + n8);
        v4d s0 = { a0[kk], a0[kk], a0[kk], a0[kk] };
        v4d s1 = { a1[kk], a1[kk], a1[kk], a1[kk] };
        v4d s2 = { a2[kk], a2[kk], a2[kk], a2[kk] };
        v4d s3 = { a3[kk], a3[kk], a3[kk], a3[kk] };
        x0 += s0 * b0;
        x1 += s1 * b0;
        x2 += s2 * b0;
        x3 += s3 * b0;
      }
      st4 (c0 + n8, ld4 (c0 + n8) + alpha * x0);
      st4 (c1 + n8, ld4 (c1 + n8) + alpha * x1);
      st4 (c2 + n8, ld4 (c2 + n8) + alpha * x2);
      st4 (c3 + n8, ld4 (c3 + n8) + alpha * x3);
    }
    for (gsize j = n4; j < n; j++) {
      gdouble x0 = 0, x1 = 0, x2 = 0, x3 = 0;
      for (gsize kk = 0; kk < k; kk++) {
        gdouble b = B[kk * n + j];
        x0 += a0[kk] * b;
        x1 += a1[kk] * b;
        x2 += a2[kk] * b;
        x3 += a3[kk] * b;
      }
      c0[j] += alpha * x0;
      c1[j] += alpha * x1;
      c2[j] += alpha * x2;
      c3[j] += alpha * x3;
    }
  }
  for (; i < M; i++) {
    const gdouble *a = A + i * lda;
    gdouble *c = C + i * ldc;
    for (gsize j = 0; j < n; j++) {
      gdouble x = 0;
      for (gsize kk = 0; kk < k; kk++)
        x += a[kk] * B[kk * n + j];
      c[j] += alpha * x;
    }
  }
}

/* C[k,n] += alpha A[M,k]^T B[M,n]: register tiles of 4 x 8 of C
 * accumulate over the M rows of A and B. */
MULTI void
_physnn_k_tn (gsize M, gsize k, gsize n, gdouble alpha, const gdouble *A,
    gsize lda, const gdouble *B, gsize ldb, gdouble *C)
{
  gsize n8 = n - n % 8, n4 = n - n % 4, k4 = k - k % 4;
  for (gsize kk = 0; kk < k4; kk += 4) {
    for (gsize j = 0; j < n8; j += 8) {
      v4d x00 = { 0 }, x01 = { 0 }, x10 = { 0 }, x11 = { 0 };
      v4d x20 = { 0 }, x21 = { 0 }, x30 = { 0 }, x31 = { 0 };
      for (gsize i = 0; i < M; i++) {
        const gdouble *a = A + i * lda + kk;
        v4d b0 = ld4 (B + i * ldb + j), b1 = ld4 (B + i * ldb + j + 4);
        v4d s0 = { a[0], a[0], a[0], a[0] };
        v4d s1 = { a[1], a[1], a[1], a[1] };
        v4d s2 = { a[2], a[2], a[2], a[2] };
        v4d s3 = { a[3], a[3], a[3], a[3] };
        x00 += s0 * b0;
        x01 += s0 * b1;
        x10 += s1 * b0;
        x11 += s1 * b1;
        x20 += s2 * b0;
        x21 += s2 * b1;
        x30 += s3 * b0;
        x31 += s3 * b1;
      }
      gdouble *c = C + kk * n + j;
      st4 (c, ld4 (c) + alpha * x00);
      st4 (c + 4, ld4 (c + 4) + alpha * x01);
      st4 (c + n, ld4 (c + n) + alpha * x10);
      st4 (c + n + 4, ld4 (c + n + 4) + alpha * x11);
      st4 (c + 2 * n, ld4 (c + 2 * n) + alpha * x20);
      st4 (c + 2 * n + 4, ld4 (c + 2 * n + 4) + alpha * x21);
      st4 (c + 3 * n, ld4 (c + 3 * n) + alpha * x30);
      st4 (c + 3 * n + 4, ld4 (c + 3 * n + 4) + alpha * x31);
    }
    /* four more columns as one vector */
    if (n4 > n8) {
      v4d x0 = { 0 }, x1 = { 0 }, x2 = { 0 }, x3 = { 0 };
      for (gsize i = 0; i < M; i++) {
        const gdouble *a = A + i * lda + kk;
        v4d b0 = ld4 (B + i * ldb + n8);
        v4d s0 = { a[0], a[0], a[0], a[0] };
        v4d s1 = { a[1], a[1], a[1], a[1] };
        v4d s2 = { a[2], a[2], a[2], a[2] };
        v4d s3 = { a[3], a[3], a[3], a[3] };
        x0 += s0 * b0;
        x1 += s1 * b0;
        x2 += s2 * b0;
        x3 += s3 * b0;
      }
      gdouble *c = C + kk * n + n8;
      st4 (c, ld4 (c) + alpha * x0);
      st4 (c + n, ld4 (c + n) + alpha * x1);
      st4 (c + 2 * n, ld4 (c + 2 * n) + alpha * x2);
      st4 (c + 3 * n, ld4 (c + 3 * n) + alpha * x3);
    }
  }
  /* edges: rows kk >= k4 of C, and columns j >= n4 */
  for (gsize kk = 0; kk < k; kk++)
    for (gsize j = kk < k4 ? n4 : 0; j < n; j++) {
      gdouble x = 0;
      for (gsize i = 0; i < M; i++)
        x += A[i * lda + kk] * B[i * ldb + j];
      C[kk * n + j] += alpha * x;
    }
}
