/* The body of _fastmath.h, included once per instruction set with FM_NAME naming the variant.
 * No include guard: _fastmath.h includes it three times (baseline, AVX2, AVX-512). */

/* The shared core of exp and expm1 for x <= 0, float: x = n ln2 + r, |r| <= ln2/2 (x clamped at
 * log(FLT_MIN)); returns exp(r) − 1 = r + r²·P(r) (degree-7 Cephes polynomial, never forming 1 + tiny) and
 * sets *scale = 2^n. Then exp(x) = pm1·2^n + 2^n and expm1(x) = pm1·2^n + (2^n − 1). */
static inline float FM_NAME(fm_exp_partsf)(float x, float *scale)
{
    float xc = x < FM_LOG_FLT_MIN ? FM_LOG_FLT_MIN : x;
    float t = xc * 1.44269504088896341f + 12582912.0f; /* round to nearest via 1.5 * 2^23 */
    float fx = t - 12582912.0f;
    float r = xc - fx * 0.693359375f;
    r = r - fx * -2.12194440e-4f;
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    /* n = fx sits in the low bits of t = 1.5·2^23 + n: read it there, in unsigned arithmetic. No float->int
     * conversion (undefined for a NaN input, whose r carries the NaN anyway) and no signed shift. */
    uint32_t tbits;
    memcpy(&tbits, &t, sizeof tbits);
    uint32_t bits = (tbits - 0x4B400000u + 127u) << 23;
    memcpy(scale, &bits, sizeof *scale);
    return p * (r * r) + r;
}

/* The same for double (x clamped at log(DBL_MIN)), with Cephes' rational
 * exp(r) = 1 + 2 r P(r²) / (Q(r²) − r P(r²)): exp(r) − 1 is the fraction itself. */
static inline double FM_NAME(fm_exp_parts)(double x, double *scale)
{
    double xc = x < FM_LOG_DBL_MIN ? FM_LOG_DBL_MIN : x;
    double t = xc * 1.4426950408889634073599 + 6755399441055744.0; /* 1.5 * 2^52 */
    double fx = t - 6755399441055744.0;
    double r = xc - fx * 6.93145751953125E-1;
    r = r - fx * 1.42860682030941723212E-6;
    double rr = r * r;
    double p = ((1.26177193074810590878E-4 * rr + 3.02994407707441961300E-2) * rr
                + 9.99999999999999999910E-1) * r;
    double q = ((3.00198505138664455042E-6 * rr + 2.52448340349684104192E-3) * rr
                + 2.27265548208155028766E-1) * rr + 2.00000000000000000009E0;
    uint64_t tbits; /* as above: n read from the low bits of t = 1.5·2^52 + n, unsigned */
    memcpy(&tbits, &t, sizeof tbits);
    uint64_t bits = (tbits - 0x4338000000000000u + 1023u) << 52;
    memcpy(scale, &bits, sizeof *scale);
    return 2.0 * (p / (q - p));
}

/* exp(x) for x <= 0; results below the smallest normal number flush to 0. */
static inline float FM_NAME(fm_expnegf)(float x)
{
    float scale;
    float pm1 = FM_NAME(fm_exp_partsf)(x, &scale);
    return x < FM_LOG_FLT_MIN ? 0.0f : pm1 * scale + scale;
}

static inline double FM_NAME(fm_expneg)(double x)
{
    double scale;
    double pm1 = FM_NAME(fm_exp_parts)(x, &scale);
    return x < FM_LOG_DBL_MIN ? 0.0 : pm1 * scale + scale;
}

/* expm1(x) = exp(x) − 1 for x <= 0, with full relative accuracy near 0. */
static inline float FM_NAME(fm_expm1negf)(float x)
{
    float scale;
    float pm1 = FM_NAME(fm_exp_partsf)(x, &scale);
    return pm1 * scale + (scale - 1.0f);
}

static inline double FM_NAME(fm_expm1neg)(double x)
{
    double scale;
    double pm1 = FM_NAME(fm_exp_parts)(x, &scale);
    return pm1 * scale + (scale - 1.0);
}

/* 1 / (1 + exp(-x)) without overflow: exp is only taken of -|x|. */
static inline float FM_NAME(fm_sigmoidf)(float x)
{
    float ax = x < 0 ? -x : x;
    float e = FM_NAME(fm_expnegf)(-ax);
    float s = 1.0f / (1.0f + e);
    return x >= 0 ? s : e * s;
}

static inline double FM_NAME(fm_sigmoid)(double x)
{
    double ax = x < 0 ? -x : x;
    double e = FM_NAME(fm_expneg)(-ax);
    double s = 1.0 / (1.0 + e);
    return x >= 0 ? s : e * s;
}

/* tanh(|x|) = −m / (2 + m) with m = expm1(−2|x|) ∈ (−1, 0]: one exp-like evaluation and one division,
 * no cancellation near 0 (m ≈ −2|x| there), exactly ±1 once m rounds to −1, NaN in → NaN out. */
static inline float FM_NAME(fm_tanhf)(float x)
{
    float ax = x < 0 ? -x : x;
    float m = FM_NAME(fm_expm1negf)(-2.0f * ax);
    float t = -m / (2.0f + m);
    return x < 0 ? -t : t;
}

static inline double FM_NAME(fm_tanh)(double x)
{
    double ax = x < 0 ? -x : x;
    double m = FM_NAME(fm_expm1neg)(-2.0 * ax);
    double t = -m / (2.0 + m);
    return x < 0 ? -t : t;
}

/* log1p(u) for 0 <= u <= 1 (softplus: u = exp(−|x|)): with s = u / (2 + u) ∈ [0, 1/3],
 * log1p(u) = 2 atanh(s) = 2s + 2s · z · Σ_i z^i / (2i + 3), z = s²; the series stops where (1/9)^i / (2i + 1)
 * is far below half an ulp. Full relative accuracy near 0, no cancellation anywhere. */
static inline float FM_NAME(fm_log1p01f)(float u)
{
    float s = u / (2.0f + u), z = s * s;
    float p = 1.0f / 15;
    p = p * z + 1.0f / 13;
    p = p * z + 1.0f / 11;
    p = p * z + 1.0f / 9;
    p = p * z + 1.0f / 7;
    p = p * z + 1.0f / 5;
    p = p * z + 1.0f / 3;
    float s2 = 2.0f * s;
    return s2 * z * p + s2;
}

static inline double FM_NAME(fm_log1p01)(double u)
{
    double s = u / (2.0 + u), z = s * s;
    double p = 1.0 / 33;
    for (int i = 31; i >= 3; i -= 2)  /* unrolled by the compiler: constant trip count */
        p = p * z + 1.0 / i;
    double s2 = 2.0 * s;
    return s2 * z * p + s2;
}

/* softplus(x) = max(x, 0) + log1p(exp(−|x|)) */
static inline float FM_NAME(fm_softplusf)(float x)
{
    float ax = x < 0 ? -x : x;
    return (x > 0 ? x : 0.0f) + FM_NAME(fm_log1p01f)(FM_NAME(fm_expnegf)(-ax));
}

static inline double FM_NAME(fm_softplus)(double x)
{
    double ax = x < 0 ? -x : x;
    return (x > 0 ? x : 0.0) + FM_NAME(fm_log1p01)(FM_NAME(fm_expneg)(-ax));
}

/* GELU's Φ(x) (the normal CDF) and x·φ(x) (φ its density), float: Φ(x) = erfc(−x/√2)/2, with
 * erfc(z) = t · exp(−z²) · exp(P(t)) for z >= 0, t = 1/(1 + z/2) (Numerical Recipes' form; P fitted to
 * log(erfcx(z)/t) on z ∈ [0, 10] by a degree-12 Chebyshev fit, written in s = 2.4 t − 1.4 ∈ [−1, 1], fit
 * error 7e-10). z² = x²/2 is taken exactly (x² as hi + lo with an FMA), since an ulp of z² at z = 9 is 80
 * ulps of the result. No cancellation on either side: x < 0 uses erfc itself, x > 0 uses 1 − erfc/2.
 * |x| is clamped at 14, where exp(−x²/2) is already below the smallest float. */
static inline float FM_NAME(fm_gelu_cdff)(float x, float *xpdf)
{
    float ax = x < 0 ? -x : x;
    float axc = ax > 14.0f ? 14.0f : ax;
    float z = axc * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.5f * z);
    float s = t * 2.4f - 1.4f;
    float p = 5.272406928e-06f;
    p = p * s - 4.666681935e-06f;
    p = p * s - 3.864452119e-05f;
    p = p * s + 6.770331858e-05f;
    p = p * s + 1.475974278e-04f;
    p = p * s - 5.471737084e-04f;
    p = p * s - 2.851362587e-04f;
    p = p * s + 3.713104519e-03f;
    p = p * s - 1.043405771e-03f;
    p = p * s - 2.947134266e-02f;
    p = p * s + 1.574489051e-02f;
    p = p * s + 5.703071533e-01f;
    p = p * s - 5.585953512e-01f;
    float hi = axc * axc;
    float lo = __builtin_fmaf(axc, axc, -hi);
    float ehi = FM_NAME(fm_expnegf)(-0.5f * hi);
    float e = t * ehi * FM_NAME(fm_expnegf)(p - 0.5f * lo);
    /* x·φ(x), φ(x) = exp(−x²/2)/√(2π), of the clamped x (0 at ±inf instead of inf·0) */
    *xpdf = (x < 0 ? -axc : axc) * ehi * (1.0f - 0.5f * lo) * 0.398942280401432678f;
    return x < 0 ? 0.5f * e : 1.0f - 0.5f * e;
}

#undef FM_ARRAY_FN
#define FM_ARRAY_FN(name, type, body)                                   \
    static void name(const type *in, type *out, Py_ssize_t n)          \
    {                                                                   \
        for (Py_ssize_t i = 0; i < n; i++) {                            \
            type x = in[i];                                             \
            out[i] = body;                                              \
        }                                                               \
    }

FM_ARRAY_FN(FM_NAME(fm_sigmoid_f32), float, FM_NAME(fm_sigmoidf)(x))
FM_ARRAY_FN(FM_NAME(fm_sigmoid_f64), double, FM_NAME(fm_sigmoid)(x))
FM_ARRAY_FN(FM_NAME(fm_tanh_f32), float, FM_NAME(fm_tanhf)(x))
FM_ARRAY_FN(FM_NAME(fm_tanh_f64), double, FM_NAME(fm_tanh)(x))
FM_ARRAY_FN(FM_NAME(fm_silu_f32), float, x * FM_NAME(fm_sigmoidf)(x))
FM_ARRAY_FN(FM_NAME(fm_silu_f64), double, x * FM_NAME(fm_sigmoid)(x))
FM_ARRAY_FN(FM_NAME(fm_softplus_f32), float, FM_NAME(fm_softplusf)(x))
FM_ARRAY_FN(FM_NAME(fm_softplus_f64), double, FM_NAME(fm_softplus)(x))

/* ELU: x for x > 0, γ·expm1(x) otherwise (expm1 is only taken of x <= 0, or of NaN, which propagates). */
static void FM_NAME(fm_elu_f32)(const float *in, float *out, Py_ssize_t n, float gamma)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        float x = in[i];
        float e = gamma * FM_NAME(fm_expm1negf)(x > 0 ? 0.0f : x);
        out[i] = x > 0 ? x : e;
    }
}

static void FM_NAME(fm_elu_f64)(const double *in, double *out, Py_ssize_t n, double gamma)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        double x = in[i];
        double e = gamma * FM_NAME(fm_expm1neg)(x > 0 ? 0.0 : x);
        out[i] = x > 0 ? x : e;
    }
}

/* SiLU backprop from its input: G ← G · s · (1 + z · (1 − s)), s = sigmoid(z). */
static void FM_NAME(fm_silu_backprop_f32)(const float *Z, float *G, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        float z = Z[i], s = FM_NAME(fm_sigmoidf)(z);
        G[i] = G[i] * s * (1.0f + z * (1.0f - s));
    }
}

static void FM_NAME(fm_silu_backprop_f64)(const double *Z, double *G, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        double z = Z[i], s = FM_NAME(fm_sigmoid)(z);
        G[i] = G[i] * s * (1.0 + z * (1.0 - s));
    }
}

/* GELU x·Φ(x) and its backprop G ← G · (Φ(x) + x·φ(x)), float (double uses libm's erfc). */
static void FM_NAME(fm_gelu_f32)(const float *in, float *out, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        float x = in[i], xpdf;
        out[i] = x * FM_NAME(fm_gelu_cdff)(x, &xpdf);
    }
}

static void FM_NAME(fm_gelu_backprop_f32)(const float *Z, float *G, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        float xpdf;
        float cdf = FM_NAME(fm_gelu_cdff)(Z[i], &xpdf);
        G[i] = G[i] * (cdf + xpdf);
    }
}

/* Softplus backprop from its output: G ← G · sigmoid(z) = G · (1 − exp(−A)) = −expm1(−A) · G, A >= 0. */
static void FM_NAME(fm_softplus_backprop_f32)(const float *A, float *G, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        G[i] = -FM_NAME(fm_expm1negf)(-A[i]) * G[i];
}

static void FM_NAME(fm_softplus_backprop_f64)(const double *A, double *G, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        G[i] = -FM_NAME(fm_expm1neg)(-A[i]) * G[i];
}

/* out[i] = exp(in[i] - shift) with in[i] <= shift (softmax and log-sum-exp rows). */
static void FM_NAME(fm_exp_shift_f32)(const float *in, float *out, Py_ssize_t n, float shift)
{
    for (Py_ssize_t i = 0; i < n; i++)
        out[i] = FM_NAME(fm_expnegf)(in[i] - shift);
}

static void FM_NAME(fm_exp_shift_f64)(const double *in, double *out, Py_ssize_t n, double shift)
{
    for (Py_ssize_t i = 0; i < n; i++)
        out[i] = FM_NAME(fm_expneg)(in[i] - shift);
}

