/* Tall, narrow products C (m×n) := alpha·A (m×k)·B (k×n) (+ bias in every row), row-major, n <= 8, k <= 16:
 * the layers of small nets (4 inputs, 5 hidden units, 3 classes) over thousands of rows. OpenBLAS's ?gemm
 * runs these at a fraction of its speed (its kernels are blocked for wide operands: 13 us for 4096×4·4×5,
 * float32); here B's k rows sit in k vector registers (masked to n lanes) and each row of C is k
 * broadcast-FMAs, ~4 us. AVX2+FMA only: fm_gemm_narrow_ok() says whether it may run (the CPU has it, the
 * build has the path, and fm_set_simd_level has not capped the kernels below it); otherwise _gemm calls BLAS.
 *
 * Each C[i, j] is bias[j] (0 without one) + sum_p A[i, p]·(alpha·B[p, j]), accumulated in p order with FMA:
 * the same values as BLAS to rounding (the order of additions differs). C is never read.
 */
#ifndef FASTMLP_NARROW_GEMM_H
#define FASTMLP_NARROW_GEMM_H

#include <Python.h>
#include "_fastmath.h"

#define FM_NARROW_N 8
#define FM_NARROW_K 16

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(FASTMLP_NO_AVX2)
#include <immintrin.h>
#define FM_HAVE_NARROW 1

/* Row i of C is written with a full-width store when C's rows are contiguous (ldc == n) and the lanes past
 * n land in rows still to be written (overwritten in order), with a masked store otherwise: a masked load
 * or store right after a masked store to the same 32 bytes costs a store-forwarding stall per row. */
__attribute__((target("avx2,fma")))
static void fm_gemm_narrow_f32(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha, const float *A,
                               Py_ssize_t lda, const float *B, Py_ssize_t ldb, const float *bias, float *C,
                               Py_ssize_t ldc)
{
    __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 w[FM_NARROW_K];
    __m256 va = _mm256_set1_ps(alpha);
    __m256 init = bias != NULL ? _mm256_maskload_ps(bias, mask) : _mm256_setzero_ps();
    for (Py_ssize_t p = 0; p < k; p++)
        w[p] = _mm256_mul_ps(va, _mm256_maskload_ps(B + p * ldb, mask));
    /* rows whose full-width store stays inside C: (m - 1 - i)·n >= 8 - n */
    Py_ssize_t full = ldc == n ? m - 1 - (8 - n + n - 1) / n : 0;
    for (Py_ssize_t i = 0; i < m; i++) {
        const float *a = A + i * lda;
        __m256 acc = init;
        for (Py_ssize_t p = 0; p < k; p++)
            acc = _mm256_fmadd_ps(_mm256_broadcast_ss(a + p), w[p], acc);
        if (i < full)
            _mm256_storeu_ps(C + i * ldc, acc);
        else
            _mm256_maskstore_ps(C + i * ldc, mask, acc);
    }
}

__attribute__((target("avx2,fma")))
static void fm_gemm_narrow_f64(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, double alpha, const double *A,
                               Py_ssize_t lda, const double *B, Py_ssize_t ldb, const double *bias,
                               double *C, Py_ssize_t ldc)
{
    __m256i lanes = _mm256_setr_epi64x(0, 1, 2, 3);
    __m256i mlo = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), lanes);
    __m256i mhi = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n - 4), lanes);
    __m256d wlo[FM_NARROW_K], whi[FM_NARROW_K];
    __m256d va = _mm256_set1_pd(alpha);
    int two = n > 4;
    __m256d ilo = bias != NULL ? _mm256_maskload_pd(bias, mlo) : _mm256_setzero_pd();
    __m256d ihi = bias != NULL && two ? _mm256_maskload_pd(bias + 4, mhi) : _mm256_setzero_pd();
    for (Py_ssize_t p = 0; p < k; p++) {
        wlo[p] = _mm256_mul_pd(va, _mm256_maskload_pd(B + p * ldb, mlo));
        whi[p] = two ? _mm256_mul_pd(va, _mm256_maskload_pd(B + p * ldb + 4, mhi)) : _mm256_setzero_pd();
    }
    /* the last vector of a row reaches (two ? 8 : 4) - n lanes past it */
    Py_ssize_t over = (two ? 8 : 4) - n;
    Py_ssize_t full = ldc == n ? m - 1 - (over + n - 1) / n : 0;
    for (Py_ssize_t i = 0; i < m; i++) {
        const double *a = A + i * lda;
        double *c = C + i * ldc;
        __m256d lo = ilo, hi = ihi;
        for (Py_ssize_t p = 0; p < k; p++) {
            __m256d ap = _mm256_broadcast_sd(a + p);
            lo = _mm256_fmadd_pd(ap, wlo[p], lo);
            if (two)
                hi = _mm256_fmadd_pd(ap, whi[p], hi);
        }
        if (two) {
            _mm256_storeu_pd(c, lo);
            if (i < full)
                _mm256_storeu_pd(c + 4, hi);
            else
                _mm256_maskstore_pd(c + 4, mhi, hi);
        } else if (i < full) {
            _mm256_storeu_pd(c, lo);
        } else {
            _mm256_maskstore_pd(c, mlo, lo);
        }
    }
}
#endif

/* Whether fm_gemm_narrow_* may run now. */
static inline int fm_gemm_narrow_ok(void)
{
#ifdef FM_HAVE_NARROW
    return fm_simd_level() >= 1;
#else
    return 0;
#endif
}

#ifndef FM_HAVE_NARROW
/* Never called (fm_gemm_narrow_ok() is 0); defined so that the kernels compile everywhere. */
static void fm_gemm_narrow_f32(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha, const float *A,
                               Py_ssize_t lda, const float *B, Py_ssize_t ldb, const float *bias, float *C,
                               Py_ssize_t ldc) { (void)m; (void)n; (void)k; (void)alpha; (void)A; (void)lda;
                                                 (void)B; (void)ldb; (void)bias; (void)C; (void)ldc; }
static void fm_gemm_narrow_f64(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, double alpha, const double *A,
                               Py_ssize_t lda, const double *B, Py_ssize_t ldb, const double *bias,
                               double *C, Py_ssize_t ldc) { (void)m; (void)n; (void)k; (void)alpha; (void)A;
                                                            (void)lda; (void)B; (void)ldb; (void)bias; (void)C;
                                                            (void)ldc; }
#endif

#endif
