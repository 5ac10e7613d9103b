/* Branch-free exp, sigmoid and tanh for the activation loops of _kernels.pyx.
 *
 * libm's expf/tanhf are scalar calls (10-25 ns each here) and keep GCC from vectorising the loops they sit
 * in. These are straight-line polynomial code (Cephes coefficients, ~1-2 ulp) that GCC inlines and
 * vectorises (with -fno-trapping-math). Every use in fastmlp takes exp of a non-positive argument (sigmoid,
 * tanh, softmax and log-sum-exp after the max shift, softplus, the GELU derivative), so only exp(x) for
 * x <= 0 is provided: no overflow path; results below the smallest normal number are flushed to 0.
 *
 * With GCC on x86-64 the code is compiled twice, for the baseline and for AVX2+FMA (8-wide, ~3x faster),
 * and the array functions pick one at run time from the CPU's features.
 */
#ifndef FASTMLP_FASTMATH_H
#define FASTMLP_FASTMATH_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

#define FM_NAME(n) n
#include "_fastmath_impl.h"
#undef FM_NAME

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(FASTMLP_NO_AVX2)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define FM_NAME(n) n##_avx2
#include "_fastmath_impl.h"
#undef FM_NAME
#pragma GCC pop_options

static int fm_avx2 = -1;

static inline int fm_use_avx2(void)
{
    if (fm_avx2 < 0) {
        __builtin_cpu_init();
        fm_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return fm_avx2;
}

/* Tests pin the baseline path (0), or go back to detection (-1). */
static inline void fm_set_avx2(int mode) { fm_avx2 = mode; }

#define FM_DISPATCH(name, type)                                                       \
    static void name##_best(const type *in, type *out, Py_ssize_t n)                  \
    {                                                                                 \
        if (fm_use_avx2()) name##_avx2(in, out, n); else name(in, out, n);            \
    }
#define FM_DISPATCH_SHIFT(name, type)                                                 \
    static void name##_best(const type *in, type *out, Py_ssize_t n, type shift)      \
    {                                                                                 \
        if (fm_use_avx2()) name##_avx2(in, out, n, shift); else name(in, out, n, shift); \
    }
#else
static inline int fm_use_avx2(void) { return 0; }
static inline void fm_set_avx2(int mode) { (void)mode; }
#define FM_DISPATCH(name, type)                                                       \
    static void name##_best(const type *in, type *out, Py_ssize_t n) { name(in, out, n); }
#define FM_DISPATCH_SHIFT(name, type)                                                 \
    static void name##_best(const type *in, type *out, Py_ssize_t n, type shift)      \
    { name(in, out, n, shift); }
#endif

FM_DISPATCH(fm_sigmoid_f32, float)
FM_DISPATCH(fm_sigmoid_f64, double)
FM_DISPATCH(fm_tanh_f32, float)
FM_DISPATCH(fm_tanh_f64, double)
FM_DISPATCH(fm_silu_f32, float)
FM_DISPATCH(fm_silu_f64, double)
FM_DISPATCH_SHIFT(fm_exp_shift_f32, float)
FM_DISPATCH_SHIFT(fm_exp_shift_f64, double)

#endif
