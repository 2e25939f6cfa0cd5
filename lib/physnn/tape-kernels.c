/* physnn — dense float64 kernels of the training path: the products every
 * dense layer needs forwards and backwards, written so that the inner loop
 * runs along contiguous rows (vectorised without reassociating sums, so the
 * results do not depend on the vector width), with AVX2/FMA clones picked at
 * run time where the CPU has them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/tape-private.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&         \
    defined(__ELF__)
#define MULTI __attribute__ ((target_clones ("arch=x86-64-v3", "default")))
#else
#define MULTI
#endif

/* C[M,n] += alpha A[M,k] B[k,n]: four rows at a time, so each row of B is
 * loaded once per four rows of C. */
MULTI void
_physnn_k_rows_times (gsize M, gsize k, gsize n, gdouble alpha,
    const gdouble *A, gsize lda, const gdouble *B, gdouble *C, gsize ldc)
{
  gsize i = 0;
  for (; i + 4 <= M; i += 4) {
    gdouble *restrict c0 = C + i * ldc, *restrict c1 = c0 + ldc;
    gdouble *restrict c2 = c1 + ldc, *restrict c3 = c2 + ldc;
    const gdouble *a0 = A + i * lda, *a1 = a0 + lda, *a2 = a1 + lda,
                  *a3 = a2 + lda;
    for (gsize kk = 0; kk < k; kk++) {
      const gdouble *restrict b = B + kk * n;
      gdouble s0 = alpha * a0[kk], s1 = alpha * a1[kk];
      gdouble s2 = alpha * a2[kk], s3 = alpha * a3[kk];
      for (gsize j = 0; j < n; j++) {
        gdouble bj = b[j];
        c0[j] += s0 * bj;
        c1[j] += s1 * bj;
        c2[j] += s2 * bj;
        c3[j] += s3 * bj;
      }
    }
  }
  for (; i < M; i++) {
    gdouble *restrict c = C + i * ldc;
    const gdouble *a = A + i * lda;
    for (gsize kk = 0; kk < k; kk++) {
      const gdouble *restrict b = B + kk * n;
      gdouble s = alpha * a[kk];
      for (gsize j = 0; j < n; j++)
        c[j] += s * b[j];
    }
  }
}

/* C[k,n] += alpha A[M,k]^T B[M,n]: C is small (a weight) and stays in
 * cache while the rows of A and B stream by. */
MULTI void
_physnn_k_tn (gsize M, gsize k, gsize n, gdouble alpha, const gdouble *A,
    gsize lda, const gdouble *B, gsize ldb, gdouble *C)
{
  gsize i = 0;
  for (; i + 2 <= M; i += 2) {
    const gdouble *a0 = A + i * lda, *a1 = a0 + lda;
    const gdouble *restrict b0 = B + i * ldb, *restrict b1 = b0 + ldb;
    for (gsize kk = 0; kk < k; kk++) {
      gdouble *restrict c = C + kk * n;
      gdouble s0 = alpha * a0[kk], s1 = alpha * a1[kk];
      for (gsize j = 0; j < n; j++)
        c[j] += s0 * b0[j] + s1 * b1[j];
    }
  }
  for (; i < M; i++) {
    const gdouble *a = A + i * lda;
    const gdouble *restrict b = B + i * ldb;
    for (gsize kk = 0; kk < k; kk++) {
      gdouble *restrict c = C + kk * n;
      gdouble s = alpha * a[kk];
      for (gsize j = 0; j < n; j++)
        c[j] += s * b[j];
    }
  }
}
