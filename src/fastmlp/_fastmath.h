/* Branch-free exp, expm1, log1p, sigmoid, tanh, SiLU, ELU, softplus and (float) GELU for the activation
 * loops of _kernels.pyx.
 *
 * libm's expf/tanhf/log1pf are scalar calls (5-25 ns each here) and keep GCC from vectorising the loops
 * they sit in. These are straight-line polynomial code (Cephes coefficients, ~1-2 ulp) that GCC inlines and
 * vectorises (with -fno-trapping-math). Every use in fastmlp takes exp of a non-positive argument (sigmoid,
 * tanh, softmax and log-sum-exp after the max shift, softplus, the GELU derivative), so only exp(x) for
 * x <= 0 is provided: no overflow path; results below the smallest normal number are flushed to 0.
 *
 * With GCC on x86-64 the code is compiled three times, for the baseline, for AVX2+FMA (8 float lanes, ~3x
 * faster) and for AVX-512 (16 lanes, ~2x faster again on a core with full-width 512-bit units), and the
 * array functions pick one at run time from the CPU's features.
 */
#ifndef FASTMLP_FASTMATH_H
#define FASTMLP_FASTMATH_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

/* exp arguments below these give results under the smallest normal number (flushed to 0). */
#define FM_LOG_FLT_MIN (-87.3365447505531f)
#define FM_LOG_DBL_MIN (-708.3964185322641)

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

/* AVX-512 (16 lanes; ~2x the AVX2 loops where the core executes 512-bit operations at full width). */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,prefer-vector-width=512")
#define FM_NAME(n) n##_avx512
#include "_fastmath_impl.h"
#undef FM_NAME
#pragma GCC pop_options

#define FM_HAVE_X86_PATHS 1
#endif

/* SIMD level of the array functions: 0 baseline, 1 AVX2+FMA, 2 AVX-512. fm_cpu_level: what the CPU and
 * this build support; fm_level: what runs (the CPU's level unless a test capped it). */
static int fm_cpu_level = -1;
static int fm_level = -1;

static inline int fm_detect_level(void)
{
    if (fm_cpu_level < 0) {
        fm_cpu_level = 0;
#ifdef FM_HAVE_X86_PATHS
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
            fm_cpu_level = 1;
            if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
                && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
                fm_cpu_level = 2;
        }
#endif
    }
    return fm_cpu_level;
}

static inline int fm_simd_level(void)
{
    if (fm_level < 0)
        fm_level = fm_detect_level();
    return fm_level;
}

/* Tests cap the level (0, 1, 2; never above what the CPU has), or go back to detection (-1). */
static inline void fm_set_simd_level(int level)
{
    int cpu = fm_detect_level();
    fm_level = level < 0 ? cpu : (level < cpu ? level : cpu);
}

#ifdef FM_HAVE_X86_PATHS
#define FM_DISPATCH(name, type)                                                       \
    static void name##_best(const type *in, type *out, Py_ssize_t n)                  \
    {                                                                                 \
        switch (fm_simd_level()) {                                                    \
        case 2: name##_avx512(in, out, n); break;                                     \
        case 1: name##_avx2(in, out, n); break;                                       \
        default: name(in, out, n);                                                    \
        }                                                                             \
    }
#define FM_DISPATCH_ARG(name, type)                                                   \
    static void name##_best(const type *in, type *out, Py_ssize_t n, type arg)        \
    {                                                                                 \
        switch (fm_simd_level()) {                                                    \
        case 2: name##_avx512(in, out, n, arg); break;                                \
        case 1: name##_avx2(in, out, n, arg); break;                                  \
        default: name(in, out, n, arg);                                               \
        }                                                                             \
    }
#else
#define FM_DISPATCH(name, type)                                                       \
    static void name##_best(const type *in, type *out, Py_ssize_t n) { name(in, out, n); }
#define FM_DISPATCH_ARG(name, type)                                                   \
    static void name##_best(const type *in, type *out, Py_ssize_t n, type arg)        \
    { name(in, out, n, arg); }
#endif

FM_DISPATCH(fm_sigmoid_f32, float)
FM_DISPATCH(fm_sigmoid_f64, double)
FM_DISPATCH(fm_tanh_f32, float)
FM_DISPATCH(fm_tanh_f64, double)
FM_DISPATCH(fm_silu_f32, float)
FM_DISPATCH(fm_silu_f64, double)
FM_DISPATCH(fm_softplus_f32, float)
FM_DISPATCH(fm_softplus_f64, double)
FM_DISPATCH(fm_gelu_f32, float)
FM_DISPATCH(fm_gelu_backprop_f32, float)
FM_DISPATCH(fm_silu_backprop_f32, float)
FM_DISPATCH(fm_silu_backprop_f64, double)
FM_DISPATCH(fm_softplus_backprop_f32, float)
FM_DISPATCH(fm_softplus_backprop_f64, double)
FM_DISPATCH_ARG(fm_elu_f32, float)
FM_DISPATCH_ARG(fm_elu_f64, double)
FM_DISPATCH_ARG(fm_exp_shift_f32, float)
FM_DISPATCH_ARG(fm_exp_shift_f64, double)

#endif
