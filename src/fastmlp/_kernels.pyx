# cython: language_level=3
"""Cython kernels of fastmlp: the hot core, over BLAS from ``scipy.linalg.cython_blas``.

Every public function has the same name, arguments and ``out=`` buffers as its twin in
``_numpy_backend.py`` (the reference the tests hold these to). Shapes are batch-first, row-major:
``X (n, d)``, ``W (fan_in, fan_out)``, ``b (fan_out,)``. Public functions validate dtype, shape and
contiguity at the Python boundary (bounds checks are compiled out), then release the GIL and run
``nogil`` helpers that take raw pointers and sizes. Nothing is allocated inside a training step.
"""
cimport cython
from libc.math cimport (exp, expf, log, logf, log1p, log1pf,
                        erfc, sqrt, sqrtf, fabs, fabsf, pow)
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcpy, memset
from libc.stdint cimport uint32_t, uint64_t
from libc.limits cimport INT_MAX
from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv

import numpy as np
cimport numpy as cnp

from ._netspec import NEEDS_Z, canonical_activation, ACTIVATION_CODES, NetSpec

cdef extern from "_prefetch.h" nogil:
    void fm_prefetch_range(const void* p, size_t nbytes)

cdef extern from "_fastmath.h" nogil:
    float fm_expnegf(float x)
    double fm_expneg(double x)
    float fm_sigmoidf(float x)
    double fm_sigmoid(double x)
    float fm_tanhf(float x)
    double fm_tanh(double x)
    int fm_simd_level()
    void fm_set_simd_level(int level)
    void fm_sigmoid_f32_best(const float* x, float* out, Py_ssize_t n)
    void fm_sigmoid_f64_best(const double* x, double* out, Py_ssize_t n)
    void fm_tanh_f32_best(const float* x, float* out, Py_ssize_t n)
    void fm_tanh_f64_best(const double* x, double* out, Py_ssize_t n)
    void fm_silu_f32_best(const float* x, float* out, Py_ssize_t n)
    void fm_silu_f64_best(const double* x, double* out, Py_ssize_t n)
    void fm_softplus_f32_best(const float* x, float* out, Py_ssize_t n)
    void fm_softplus_f64_best(const double* x, double* out, Py_ssize_t n)
    void fm_gelu_f32_best(const float* x, float* out, Py_ssize_t n)
    void fm_gelu_backprop_f32_best(const float* Z, float* G, Py_ssize_t n)
    void fm_silu_backprop_f32_best(const float* Z, float* G, Py_ssize_t n)
    void fm_silu_backprop_f64_best(const double* Z, double* G, Py_ssize_t n)
    void fm_softplus_backprop_f32_best(const float* A, float* G, Py_ssize_t n)
    void fm_softplus_backprop_f64_best(const double* A, double* G, Py_ssize_t n)
    void fm_elu_f32_best(const float* x, float* out, Py_ssize_t n, float gamma)
    void fm_elu_f64_best(const double* x, double* out, Py_ssize_t n, double gamma)
    void fm_exp_shift_f32_best(const float* x, float* out, Py_ssize_t n, float shift)
    void fm_exp_shift_f64_best(const double* x, double* out, Py_ssize_t n, double shift)

cnp.import_array()

NAME = "cython"

ctypedef fused floating:
    float
    double

# Keep in sync with _netspec.ACTIVATIONS.
cdef enum:
    ACT_IDENTITY = 0
    ACT_LOGISTIC = 1
    ACT_TANH = 2
    ACT_RELU = 3
    ACT_LEAKY_RELU = 4
    ACT_PRELU = 5
    ACT_ELU = 6
    ACT_SOFTPLUS = 7
    ACT_GELU = 8
    ACT_SILU = 9
    ACT_SOFTSIGN = 10
    ACT_HARDTANH = 11
    ACT_SOFTMAX = 12

cdef enum:
    LOSS_CE = 0
    LOSS_BCE = 1
    LOSS_SE = 2

cdef enum:
    OPT_SGD = 0
    OPT_MOMENTUM = 1
    OPT_NESTEROV = 2
    OPT_ADAM = 3

# Below this many multiply-adds a direct loop beats the fixed cost of a BLAS call.
cdef Py_ssize_t SMALL_GEMM = 4096
cdef double SQRT1_2 = 0.7071067811865476
cdef double INV_SQRT_2PI = 0.3989422804014327


# ======================================================================================================
# Scalar maths, fused over float/double so float32 stays float32
# ======================================================================================================

cdef inline floating _expneg(floating x) noexcept nogil:
    """exp(x) for x <= 0 (every exp fastmlp needs: after a max shift, or of −|x|); vectorisable."""
    if floating is float:
        return fm_expnegf(x)
    else:
        return fm_expneg(x)

cdef inline void _exp_shift(const floating* x, floating* out, Py_ssize_t n, floating shift) noexcept nogil:
    """out[i] = exp(x[i] − shift) for x[i] <= shift (a softmax row after its max)."""
    if floating is float:
        fm_exp_shift_f32_best(x, out, n, shift)
    else:
        fm_exp_shift_f64_best(x, out, n, shift)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)

cdef inline floating _log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)

cdef inline floating _tanh(floating x) noexcept nogil:
    if floating is float:
        return fm_tanhf(x)
    else:
        return fm_tanh(x)

cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)

cdef inline floating _fabs(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)

cdef inline floating _sigmoid(floating x) noexcept nogil:
    """1 / (1 + exp(−x)), never overflowing: exp is only taken of −|x|."""
    if floating is float:
        return fm_sigmoidf(x)
    else:
        return fm_sigmoid(x)


# ======================================================================================================
# GEMM: row-major front end to column-major BLAS, with a direct loop for tiny products
# ======================================================================================================

cdef void _gemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, floating alpha,
                const floating* A, Py_ssize_t lda, const floating* B, Py_ssize_t ldb, floating beta,
                floating* C, Py_ssize_t ldc) noexcept nogil:
    """C := alpha · op(A) · op(B) + beta · C, row-major; op(A) is (m, k), op(B) is (k, n).
    beta == 0 never reads C (so C may hold garbage)."""
    cdef int im, in_, ik, ilda, ildb, ildc
    cdef char ta, tb
    if m == 0 or n == 0:
        return
    # k == 0 included (C := beta · C); each factor bounded first so that m·n·k cannot overflow
    if k == 0 or (m <= SMALL_GEMM and n <= SMALL_GEMM and k <= SMALL_GEMM and m * n * k <= SMALL_GEMM):
        _gemm_small(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
        return
    if m == 1 or n == 1:
        # One output row or column is a matrix-vector product; BLAS ?gemm is many times slower there.
        _gemv_rowcol(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
        return
    # Row-major C (m×n) is column-major Cᵀ (n×m) = op(B)ᵀ · op(A)ᵀ: swap the operands.
    ta = b'T' if trans_b else b'N'
    tb = b'T' if trans_a else b'N'
    im, in_, ik = <int>n, <int>m, <int>k
    ilda, ildb, ildc = <int>ldb, <int>lda, <int>ldc
    if floating is float:
        sgemm(&ta, &tb, &im, &in_, &ik, &alpha, <float*>B, &ilda, <float*>A, &ildb, &beta, C, &ildc)
    else:
        dgemm(&ta, &tb, &im, &in_, &ik, &alpha, <double*>B, &ilda, <double*>A, &ildb, &beta, C, &ildc)


cdef void _gemm_small(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                      floating alpha, const floating* A, Py_ssize_t lda, const floating* B,
                      Py_ssize_t ldb, floating beta, floating* C, Py_ssize_t ldc) noexcept nogil:
    """_gemm by direct loops, ordered so the innermost loop runs along contiguous rows of B and C
    (C[i, :] += a · B[p, :]) and vectorises."""
    cdef Py_ssize_t i, j, p
    cdef floating a, s
    cdef floating* c
    cdef const floating* b
    for i in range(m):
        c = C + i * ldc
        if beta == 0:
            for j in range(n):
                c[j] = 0
        elif beta != 1:
            for j in range(n):
                c[j] = beta * c[j]
    if not trans_b:
        for i in range(m):
            c = C + i * ldc
            for p in range(k):
                a = alpha * (A[p * lda + i] if trans_a else A[i * lda + p])
                b = B + p * ldb
                for j in range(n):
                    c[j] = c[j] + a * b[j]
    else:
        for i in range(m):
            c = C + i * ldc
            for j in range(n):
                b = B + j * ldb
                s = 0
                if trans_a:
                    for p in range(k):
                        s = s + A[p * lda + i] * b[p]
                else:
                    for p in range(k):
                        s = s + A[i * lda + p] * b[p]
                c[j] = c[j] + alpha * s


cdef void _gemv(bint trans, int rows, int cols, floating alpha, const floating* M, int ldm,
                const floating* x, int incx, floating beta, floating* y, int incy) noexcept nogil:
    """y := alpha · op(M) · x + beta · y with M column-major (rows × cols, leading dimension ldm)."""
    cdef char t = b'T' if trans else b'N'
    if floating is float:
        sgemv(&t, &rows, &cols, &alpha, <float*>M, &ldm, <float*>x, &incx, &beta, y, &incy)
    else:
        dgemv(&t, &rows, &cols, &alpha, <double*>M, &ldm, <double*>x, &incx, &beta, y, &incy)


cdef void _gemv_rowcol(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                       floating alpha, const floating* A, Py_ssize_t lda, const floating* B,
                       Py_ssize_t ldb, floating beta, floating* C, Py_ssize_t ldc) noexcept nogil:
    """The m == 1 or n == 1 cases of _gemm as one ?gemv (row-major operands seen column-major)."""
    cdef Py_ssize_t i
    if beta == 0:  # ?gemv with beta = 0 must not read y, but be explicit: C may hold NaN garbage
        if m == 1:
            for i in range(n):
                C[i] = 0
        else:
            for i in range(m):
                C[i * ldc] = 0
    if m == 1:
        # C[0, :] (n) = op(B)ᵀ · a, a = row 0 of op(A) (stride lda when A is transposed).
        if trans_b:   # B stored (n, k): column-major view (k, n) → transpose it
            _gemv(True, <int>k, <int>n, alpha, B, <int>ldb, A, <int>(lda if trans_a else 1), beta,
                  C, 1)
        else:         # B stored (k, n): column-major view (n, k) is op(B)ᵀ
            _gemv(False, <int>n, <int>k, alpha, B, <int>ldb, A, <int>(lda if trans_a else 1), beta,
                  C, 1)
    else:
        # C[:, 0] (m) = op(A) · b, b = column 0 of op(B) (stride ldb unless B is transposed).
        if trans_a:   # A stored (k, m): column-major view (m, k) is op(A)
            _gemv(False, <int>m, <int>k, alpha, A, <int>lda, B, <int>(1 if trans_b else ldb), beta,
                  C, <int>ldc)
        else:         # A stored (m, k): column-major view (k, m) → transpose it
            _gemv(True, <int>k, <int>m, alpha, A, <int>lda, B, <int>(1 if trans_b else ldb), beta,
                  C, <int>ldc)


# ======================================================================================================
# Activations: forward (in place allowed) and backprop G ← G ⊙ f'(z) from A = f(Z) (and Z if needed)
# ======================================================================================================

cdef void _softmax_rows(const floating* Z, floating* out, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef floating mx, s
    for i in range(n):
        mx = Z[i * m]
        for j in range(1, m):
            if Z[i * m + j] > mx:
                mx = Z[i * m + j]
        _exp_shift(Z + i * m, out + i * m, m, mx)
        s = 0
        for j in range(m):
            s = s + out[i * m + j]
        s = 1 / s
        for j in range(m):
            out[i * m + j] = out[i * m + j] * s


cdef void _act_forward(int act, floating p, const floating* gamma, const floating* Z, floating* A,
                       Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    """A = f(Z) over an (n, m) block; A may be Z. gamma: per-column slopes (prelu only)."""
    cdef Py_ssize_t i, j, N = n * m
    cdef floating x
    if act == ACT_IDENTITY:
        if A != Z:
            memcpy(A, Z, N * sizeof(floating))
    elif act == ACT_LOGISTIC:
        if floating is float:
            fm_sigmoid_f32_best(Z, A, N)
        else:
            fm_sigmoid_f64_best(Z, A, N)
    elif act == ACT_TANH:
        if floating is float:
            fm_tanh_f32_best(Z, A, N)
        else:
            fm_tanh_f64_best(Z, A, N)
    elif act == ACT_RELU:
        for i in range(N):
            x = Z[i]
            A[i] = 0 if x <= 0 else x  # NaN stays NaN (as np.maximum), never a silent 0
    elif act == ACT_LEAKY_RELU:
        for i in range(N):
            x = Z[i]
            A[i] = x if x > 0 else p * x
    elif act == ACT_PRELU:
        for i in range(n):
            for j in range(m):
                x = Z[i * m + j]
                A[i * m + j] = x if x > 0 else gamma[j] * x
    elif act == ACT_ELU:
        if floating is float:
            fm_elu_f32_best(Z, A, N, p)
        else:
            fm_elu_f64_best(Z, A, N, p)
    elif act == ACT_SOFTPLUS:
        if floating is float:
            fm_softplus_f32_best(Z, A, N)
        else:
            fm_softplus_f64_best(Z, A, N)
    elif act == ACT_GELU:  # x·Φ(x), Φ(x) = erfc(−x/√2)/2 (no cancellation for x < 0)
        if floating is float:
            fm_gelu_f32_best(Z, A, N)
        else:
            for i in range(N):
                x = Z[i]
                A[i] = 0.5 * x * erfc(-x * SQRT1_2)
    elif act == ACT_SILU:
        if floating is float:
            fm_silu_f32_best(Z, A, N)
        else:
            fm_silu_f64_best(Z, A, N)
    elif act == ACT_SOFTSIGN:
        for i in range(N):
            x = Z[i]
            A[i] = x / (1 + _fabs(x))
    elif act == ACT_HARDTANH:
        for i in range(N):
            x = Z[i]
            A[i] = 1 if x > 1 else (-1 if x < -1 else x)
    elif act == ACT_SOFTMAX:
        _softmax_rows(Z, A, n, m)


cdef void _act_backprop(int act, floating p, const floating* gamma, const floating* A,
                        const floating* Z, floating* G, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    """G ← G ⊙ f'(z) over an (n, m) block, f' taken from A = f(Z) (from Z for prelu, gelu, silu)."""
    cdef Py_ssize_t i, j, N = n * m
    cdef floating a, x
    if act == ACT_IDENTITY:
        return
    elif act == ACT_LOGISTIC:
        for i in range(N):
            a = A[i]
            G[i] = G[i] * a * (1 - a)
    elif act == ACT_TANH:
        for i in range(N):
            a = A[i]
            G[i] = G[i] * (1 - a * a)
    elif act == ACT_RELU:
        for i in range(N):
            G[i] = G[i] if A[i] > 0 else 0
    elif act == ACT_LEAKY_RELU:
        for i in range(N):
            G[i] = G[i] if A[i] > 0 else p * G[i]
    elif act == ACT_PRELU:
        for i in range(n):
            for j in range(m):
                if not Z[i * m + j] > 0:
                    G[i * m + j] = gamma[j] * G[i * m + j]
    elif act == ACT_ELU:
        for i in range(N):
            a = A[i]
            G[i] = G[i] if a > 0 else (a + p) * G[i]
    elif act == ACT_SOFTPLUS:
        if floating is float:
            fm_softplus_backprop_f32_best(A, G, N)
        else:
            fm_softplus_backprop_f64_best(A, G, N)
    elif act == ACT_GELU:  # Φ(x) + x·φ(x)
        if floating is float:
            fm_gelu_backprop_f32_best(Z, G, N)
        else:
            for i in range(N):
                x = Z[i]
                a = x if x < 40 else 40  # clamped where φ(x) = 0 in double, so that x·φ(x) = 0 at ±inf
                a = a if a > -40 else -40
                G[i] = G[i] * (0.5 * erfc(-x * SQRT1_2) + a * INV_SQRT_2PI * _expneg(-0.5 * a * a))
    elif act == ACT_SILU:
        if floating is float:
            fm_silu_backprop_f32_best(Z, G, N)
        else:
            fm_silu_backprop_f64_best(Z, G, N)
    elif act == ACT_SOFTSIGN:
        for i in range(N):
            a = 1 - _fabs(A[i])
            G[i] = G[i] * a * a
    elif act == ACT_HARDTANH:
        for i in range(N):
            G[i] = G[i] if _fabs(A[i]) < 1 else 0


cdef void _prelu_grad(const floating* G, const floating* Z, floating* out, Py_ssize_t n, Py_ssize_t m,
                      floating scale, bint accumulate) noexcept nogil:
    """out_j (+)= scale · Σ_i G[i, j] · min(0, Z[i, j])."""
    cdef Py_ssize_t i, j
    cdef floating z
    if not accumulate:
        for j in range(m):
            out[j] = 0
    for i in range(n):
        for j in range(m):
            z = Z[i * m + j]
            if z < 0:
                out[j] = out[j] + scale * G[i * m + j] * z


cdef void _bias_fill(floating* out, const floating* b, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        memcpy(out + i * m, b, m * sizeof(floating))


cdef void _colsum(const floating* D, floating* out, Py_ssize_t n, Py_ssize_t m, floating alpha,
                  floating beta) noexcept nogil:
    """out := alpha · Σ_rows D + beta · out (beta == 0 never reads out)."""
    cdef Py_ssize_t i, j
    if beta == 0:
        for j in range(m):
            out[j] = 0
    elif beta != 1:
        for j in range(m):
            out[j] = beta * out[j]
    for i in range(n):
        for j in range(m):
            out[j] = out[j] + alpha * D[i * m + j]


cdef void _dense_forward(const floating* X, const floating* W, const floating* b, floating* Z,
                         floating* A, Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, int act, floating p,
                         const floating* gamma) noexcept nogil:
    """Z = X·W + b (bias pre-filled, GEMM with beta = 1), then A = f(Z). Z may be A."""
    _bias_fill(Z, b, n, m)
    _gemm(False, False, n, m, k, <floating>1, X, k, W, m, <floating>1, Z, m)
    _act_forward(act, p, gamma, Z, A, n, m)


# ======================================================================================================
# Losses: sum over rows of L_i (in double); δ_i = ∂L_i/∂input written to D (D may alias the input)
# ======================================================================================================

cdef double _softmax_ce(const floating* Z, const Py_ssize_t* labels, floating* D, const floating* sw,
                        Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    cdef Py_ssize_t i, j, y
    cdef floating mx, s, zy, w
    cdef double total = 0
    for i in range(n):
        y = labels[i]
        zy = Z[i * c + y]
        mx = Z[i * c]
        for j in range(1, c):
            if Z[i * c + j] > mx:
                mx = Z[i * c + j]
        _exp_shift(Z + i * c, D + i * c, c, mx)
        s = 0
        for j in range(c):
            s = s + D[i * c + j]
        w = 1 if sw == NULL else sw[i]
        total += w * (<double>_log(s) + mx - zy)
        s = w / s
        for j in range(c):
            D[i * c + j] = D[i * c + j] * s
        D[i * c + y] = D[i * c + y] - w
    return total


cdef double _sigmoid_bce(const floating* Z, const floating* Y, floating* D, const floating* sw,
                         Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef floating z, y, w
    cdef double total = 0, row
    for i in range(n):
        w = 1 if sw == NULL else sw[i]
        row = 0
        for j in range(m):
            z = Z[i * m + j]
            y = Y[i * m + j]
            row += (z if z > 0 else 0) - z * y + _log1p(_expneg(-_fabs(z)))
            D[i * m + j] = w * (_sigmoid(z) - y)
        total += w * row
    return total


cdef double _squared_error(const floating* Yhat, const floating* Y, floating* D, const floating* sw,
                           Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef floating d, w
    cdef double total = 0, row
    for i in range(n):
        w = 1 if sw == NULL else sw[i]
        row = 0
        for j in range(m):
            d = Yhat[i * m + j] - Y[i * m + j]
            row += <double>d * d
            D[i * m + j] = w * d
        total += 0.5 * w * row
    return total


# ======================================================================================================
# Flat parameter updates
# ======================================================================================================

cdef void _sgd(floating* theta, const floating* g, Py_ssize_t P, floating lr) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(P):
        theta[i] = theta[i] - lr * g[i]


cdef void _momentum(floating* theta, const floating* g, floating* v, Py_ssize_t P, floating lr,
                    floating mu, bint nesterov) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating vi
    for i in range(P):
        vi = mu * v[i] - lr * g[i]
        v[i] = vi
        if nesterov:
            theta[i] = theta[i] + mu * vi - lr * g[i]
        else:
            theta[i] = theta[i] + vi


cdef void _adam(floating* theta, const floating* g, floating* m, floating* v, Py_ssize_t P,
                double lr, double b1, double b2, double eps, long long t) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, fb1 = <floating>b1, fb2 = <floating>b2
    cdef floating step = <floating>(lr / (1.0 - pow(b1, <double>t)))
    cdef floating c2 = <floating>(1.0 / (1.0 - pow(b2, <double>t)))
    cdef floating feps = <floating>eps
    for i in range(P):
        gi = g[i]
        m[i] = fb1 * m[i] + (1 - fb1) * gi
        v[i] = fb2 * v[i] + (1 - fb2) * gi * gi
        theta[i] = theta[i] - step * m[i] / (_sqrt(v[i] * c2) + feps)


# ======================================================================================================
# Python boundary: validation helpers
# ======================================================================================================

cdef inline int _kind_of(object arr, str name) except -1:
    """0 for float32, 1 for float64; raise for anything else or a non-contiguous array."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(arr).__name__}")
    cdef cnp.ndarray a = <cnp.ndarray>arr
    cdef int t = cnp.PyArray_TYPE(a)
    if t == cnp.NPY_FLOAT32:
        kind = 0
    elif t == cnp.NPY_FLOAT64:
        kind = 1
    else:
        raise TypeError(f"{name}: dtype must be float32 or float64, got {a.dtype}")
    if not cnp.PyArray_ISNOTSWAPPED(a):  # the type number of '>f4' is NPY_FLOAT32 too
        raise TypeError(f"{name}: dtype must be native-endian float32 or float64, got {a.dtype.str}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        raise ValueError(f"{name}: array must be C-contiguous")
    return kind


cdef int _check(object arr, str name, int kind, int ndim, bint writeable=False) except -1:
    cdef int k = _kind_of(arr, name)
    if kind >= 0 and k != kind:
        raise TypeError(f"{name}: dtype {arr.dtype} does not match the other arrays "
                        f"({'float64' if kind else 'float32'})")
    if cnp.PyArray_NDIM(<cnp.ndarray>arr) != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {arr.shape}")
    if writeable and not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>arr):
        raise ValueError(f"{name}: output array is read-only")
    return k


cdef inline void* _ptr(object arr):
    return cnp.PyArray_DATA(<cnp.ndarray>arr) if arr is not None else NULL


cdef inline Py_ssize_t _dim(object arr, int i):
    return cnp.PyArray_DIM(<cnp.ndarray>arr, i)


cdef int _act_code(object activation) except -1:
    return ACTIVATION_CODES[canonical_activation(activation)]


cdef double _act_scalar(int code, object param) except? -1:
    if code == ACT_PRELU:
        return 0.0
    if param is None:
        return 0.01 if code == ACT_LEAKY_RELU else (1.0 if code == ACT_ELU else 0.0)
    return float(param)


cdef object _act_gamma(int code, object param, int kind, Py_ssize_t m):
    if code != ACT_PRELU:
        return None
    _check(param, "param", kind, 1)
    if _dim(param, 0) != m:
        raise ValueError(f"param: prelu needs a slope array of shape ({m},), got {param.shape}")
    return param


cdef object _check_same_shape(object a, str an, object b, str bn):
    if a.shape != b.shape:
        raise ValueError(f"{bn}: shape {b.shape} does not match {an} {a.shape}")


cdef bint _overlaps(object a, object b):
    """True when two validated (C-contiguous) arrays share bytes: each one's memory is exactly the
    range [data, data + nbytes), so the bounds test is exact. None never overlaps."""
    if a is None or b is None:
        return False
    cdef Py_ssize_t na = cnp.PyArray_NBYTES(<cnp.ndarray>a), nb = cnp.PyArray_NBYTES(<cnp.ndarray>b)
    cdef char* pa = <char*>cnp.PyArray_DATA(<cnp.ndarray>a)
    cdef char* pb = <char*>cnp.PyArray_DATA(<cnp.ndarray>b)
    return na > 0 and nb > 0 and pa < pb + nb and pb < pa + na


cdef int _disjoint(object out, str oname, object inp, str iname, bint same_ok=False) except -1:
    """Refuse an output that shares memory with an input it is computed from (the kernels write while
    they read, and BLAS forbids overlap: the result would be silently wrong, or a label/index array
    overwritten under the loop would be read out of bounds). same_ok: ``out`` may be ``inp`` itself
    (an elementwise or row-wise op in place), but not a shifted view of it."""
    if not _overlaps(out, inp):
        return 0
    if same_ok:
        if cnp.PyArray_DATA(<cnp.ndarray>out) == cnp.PyArray_DATA(<cnp.ndarray>inp) and out.shape == inp.shape:
            return 0
        raise ValueError(f"{oname}: must not share memory with {iname} (other than being {iname} itself)")
    raise ValueError(f"{oname}: must not share memory with {iname}")


cdef int _blas_dims(object arr, str name) except -1:
    """A 2-D operand of a BLAS call: its dimensions (the sizes and leading dimensions BLAS gets) must
    fit BLAS's int; a larger one would be truncated by the cast and give a wrong product."""
    if _dim(arr, 0) > INT_MAX or _dim(arr, 1) > INT_MAX:
        raise ValueError(f"{name}: shape {arr.shape} exceeds the BLAS limit of {INT_MAX} per dimension")
    return 0


cdef object _int_arg(object value, str what):
    """``value`` as a Python int: an integer, or a float with an integral value; anything else (1.5,
    "4", True, None) raises TypeError(what + ...) instead of being truncated."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what}, got {value!r}")
    return int(value)


# ======================================================================================================
# Public functional kernels (same names and signatures as _numpy_backend)
# ======================================================================================================

def activation_forward(Z, out, activation, param=None):
    """out = f(Z), elementwise (row-wise for softmax). ``out`` may be ``Z``. Returns out.

    param: slope for leaky_relu (default 0.01), gamma for elu (default 1.0), the per-unit slope array
    of shape (M,) for prelu.
    """
    cdef int code = _act_code(activation)
    cdef int kind = _check(Z, "Z", -1, 2)
    _check(out, "out", kind, 2, True)
    _check_same_shape(Z, "Z", out, "out")
    _disjoint(out, "out", Z, "Z", True)
    cdef Py_ssize_t n = _dim(Z, 0), m = _dim(Z, 1)
    cdef double p = _act_scalar(code, param)
    gamma = _act_gamma(code, param, kind, m)
    _disjoint(out, "out", gamma, "param")
    cdef void* zp = _ptr(Z)
    cdef void* ap = _ptr(out)
    cdef void* gp = _ptr(gamma)
    if code == ACT_SOFTMAX and m == 0:
        return out
    with nogil:
        if kind == 0:
            _act_forward(code, <float>p, <float*>gp, <float*>zp, <float*>ap, n, m)
        else:
            _act_forward(code, <double>p, <double*>gp, <double*>zp, <double*>ap, n, m)
    return out


cdef object _check_backprop(G, A, Z, out, activation, param, int* code, int* kind):
    """Validate the arguments of backprop_activation (every one, before anything is written); returns
    the PReLU slope array (None for other activations), the activation code and dtype kind via pointers."""
    code[0] = _act_code(activation)
    if code[0] == ACT_SOFTMAX:
        raise ValueError("activation: softmax has a Jacobian, not an elementwise derivative; "
                         "use softmax_cross_entropy")
    kind[0] = _check(G, "G", -1, 2)
    _check(A, "A", kind[0], 2)
    _check(out, "out", kind[0], 2, True)
    _check_same_shape(A, "A", G, "G")
    _check_same_shape(A, "A", out, "out")
    if code[0] == ACT_PRELU or code[0] == ACT_GELU or code[0] == ACT_SILU:
        if Z is None:
            raise ValueError(f"Z: {canonical_activation(activation)} needs the pre-activation Z "
                             "for its derivative")
    if Z is not None:
        _check(Z, "Z", kind[0], 2)
        _check_same_shape(A, "A", Z, "Z")
    gamma = _act_gamma(code[0], param, kind[0], _dim(A, 1))
    # out is written (from G) before A, Z and the slopes are read
    _disjoint(out, "out", G, "G", True)
    _disjoint(out, "out", A, "A")
    _disjoint(out, "out", Z, "Z")
    _disjoint(out, "out", gamma, "param")
    return gamma


cdef object _run_backprop(int code, int kind, object param, object gamma, A, Z, out):
    """out ← out ⊙ f'(z) on validated arguments."""
    cdef Py_ssize_t n = _dim(A, 0), m = _dim(A, 1)
    cdef double p = _act_scalar(code, param)
    cdef void* ap = _ptr(A)
    cdef void* zp = _ptr(Z)
    cdef void* op = _ptr(out)
    cdef void* gp = _ptr(gamma)
    with nogil:
        if kind == 0:
            _act_backprop(code, <float>p, <float*>gp, <float*>ap, <float*>zp, <float*>op, n, m)
        else:
            _act_backprop(code, <double>p, <double*>gp, <double*>ap, <double*>zp, <double*>op, n, m)
    return out


def backprop_activation(G, A, Z, out, activation, param=None):
    """out = G ⊙ f'(z): the upstream gradient ∂L/∂A pulled back through the activation. ``out`` may be G."""
    cdef int code, kind
    gamma = _check_backprop(G, A, Z, out, activation, param, &code, &kind)
    if out is not G:
        np.copyto(out, G)
    return _run_backprop(code, kind, param, gamma, A, Z, out)


def activation_derivative(A, Z, out, activation, param=None):
    """out = f'(z), computed from the forward output ``A`` where the table allows, from ``Z`` for
    prelu, gelu and silu (``Z`` may be None otherwise). Returns out."""
    cdef int code, kind
    _check(out, "out", -1, 2, True)
    gamma = _check_backprop(out, A, Z, out, activation, param, &code, &kind)
    out.fill(1)
    return _run_backprop(code, kind, param, gamma, A, Z, out)


def softmax(Z, out):
    """out[i] = exp(Z[i] − max Z[i]) / Σ_j exp(Z[i, j] − max Z[i]). ``out`` may be Z."""
    return activation_forward(Z, out, "softmax")


def log_softmax(Z, out):
    """out[i] = Z[i] − max Z[i] − log Σ_j exp(Z[i, j] − max Z[i])."""
    cdef int kind = _check(Z, "Z", -1, 2)
    _check(out, "out", kind, 2, True)
    _check_same_shape(Z, "Z", out, "out")
    _disjoint(out, "out", Z, "Z", True)
    cdef Py_ssize_t n = _dim(Z, 0), m = _dim(Z, 1)
    cdef void* zp = _ptr(Z)
    cdef void* op = _ptr(out)
    with nogil:
        if kind == 0:
            _log_softmax_rows(<float*>zp, <float*>op, n, m)
        else:
            _log_softmax_rows(<double*>zp, <double*>op, n, m)
    return out


cdef void _log_softmax_rows(const floating* Z, floating* out, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef floating mx, s
    for i in range(n):
        if m == 0:
            continue
        mx = Z[i * m]
        for j in range(1, m):
            if Z[i * m + j] > mx:
                mx = Z[i * m + j]
        s = 0
        for j in range(m):
            s = s + _expneg(Z[i * m + j] - mx)
        s = _log(s) + mx
        for j in range(m):
            out[i * m + j] = Z[i * m + j] - s


cdef int _check_dense(X, W, b, out) except -1:
    cdef int kind = _check(X, "X", -1, 2)
    _check(W, "W", kind, 2)
    _check(b, "b", kind, 1)
    _check(out, "out", kind, 2, True)
    if _dim(X, 1) != _dim(W, 0):
        raise ValueError(f"W: shape {W.shape} does not match X with {X.shape[1]} columns")
    if _dim(b, 0) != _dim(W, 1):
        raise ValueError(f"b: shape {b.shape} does not match W {W.shape}")
    if _dim(out, 0) != _dim(X, 0) or _dim(out, 1) != _dim(W, 1):
        raise ValueError(f"out: shape {out.shape}, expected {(X.shape[0], W.shape[1])}")
    _blas_dims(X, "X")
    _blas_dims(W, "W")
    _disjoint(out, "out", X, "X")
    _disjoint(out, "out", W, "W")
    _disjoint(out, "out", b, "b")
    return kind


def dense_forward(X, W, b, out, activation="identity", param=None, Z=None):
    """out = f(X · W + b) with X (n, fan_in), W (fan_in, fan_out), b (fan_out,), out (n, fan_out).
    When ``Z`` is given it receives the pre-activation X · W + b. Returns out.

    One pass: the bias is pre-filled into the output and the GEMM accumulates onto it (beta = 1);
    the activation is then applied in place."""
    cdef int code = _act_code(activation)
    cdef int kind = _check_dense(X, W, b, out)
    if Z is not None:
        _check(Z, "Z", kind, 2, True)
        _check_same_shape(out, "out", Z, "Z")
        _disjoint(out, "out", Z, "Z", True)
        _disjoint(Z, "Z", X, "X")
        _disjoint(Z, "Z", W, "W")
        _disjoint(Z, "Z", b, "b")
    cdef Py_ssize_t n = _dim(X, 0), k = _dim(X, 1), m = _dim(W, 1)
    cdef double p = _act_scalar(code, param)
    gamma = _act_gamma(code, param, kind, m)
    _disjoint(out, "out", gamma, "param")
    _disjoint(Z, "Z", gamma, "param")
    cdef void* xp = _ptr(X)
    cdef void* wp = _ptr(W)
    cdef void* bp = _ptr(b)
    cdef void* op = _ptr(out)
    cdef void* zp = _ptr(Z) if Z is not None else _ptr(out)
    cdef void* gp = _ptr(gamma)
    with nogil:
        if kind == 0:
            _dense_forward(<float*>xp, <float*>wp, <float*>bp, <float*>zp, <float*>op, n, k, m, code,
                           <float>p, <float*>gp)
        else:
            _dense_forward(<double*>xp, <double*>wp, <double*>bp, <double*>zp, <double*>op, n, k, m,
                           code, <double>p, <double*>gp)
    return out


def delta_backward(delta, W, A, Z, out, activation, param=None):
    """The delta recursion: out = f'(Z) ⊙ (delta · Wᵀ), with delta (n, fan_out) the next layer's error
    term, W (fan_in, fan_out) the next layer's weights, A = f(Z) (n, fan_in) this layer's output."""
    cdef int kind = _check(delta, "delta", -1, 2)
    _check(W, "W", kind, 2)
    _check(A, "A", kind, 2)
    _check(out, "out", kind, 2, True)
    if _dim(delta, 1) != _dim(W, 1) or _dim(out, 0) != _dim(delta, 0) or _dim(out, 1) != _dim(W, 0) \
            or A.shape != out.shape:
        raise ValueError(f"delta {delta.shape}, W {W.shape}, A {A.shape}, out {out.shape}: "
                         "shapes do not chain")
    _blas_dims(delta, "delta")
    _blas_dims(W, "W")
    _disjoint(out, "out", delta, "delta")
    _disjoint(out, "out", W, "W")
    # the activation's arguments too, before the product is written into out
    cdef int code, k2
    gamma = _check_backprop(out, A, Z, out, activation, param, &code, &k2)
    cdef Py_ssize_t n = _dim(delta, 0), k = _dim(W, 0), m = _dim(W, 1)
    cdef void* dp = _ptr(delta)
    cdef void* wp = _ptr(W)
    cdef void* op = _ptr(out)
    with nogil:
        if kind == 0:
            _gemm(False, True, n, k, m, <float>1, <float*>dp, m, <float*>wp, m, <float>0, <float*>op, k)
        else:
            _gemm(False, True, n, k, m, <double>1, <double*>dp, m, <double*>wp, m, <double>0,
                  <double*>op, k)
    return _run_backprop(code, kind, param, gamma, A, Z, out)


def weight_gradient(A_prev, delta, W, dW, db, l2=0.0, scale=None):
    """dW = scale · A_prevᵀ · delta + l2 · W,  db = scale · Σ_rows delta;  scale defaults to 1/n.

    The L2 term is fused: dW is pre-filled with l2·W and the GEMM accumulates onto it (beta = 1)."""
    cdef int kind = _check(A_prev, "A_prev", -1, 2)
    _check(delta, "delta", kind, 2)
    _check(W, "W", kind, 2)
    _check(dW, "dW", kind, 2, True)
    _check(db, "db", kind, 1, True)
    cdef Py_ssize_t n = _dim(A_prev, 0), k = _dim(A_prev, 1), m = _dim(delta, 1)
    if _dim(delta, 0) != n or W.shape != (k, m) or dW.shape != W.shape or _dim(db, 0) != m:
        raise ValueError(f"A_prev {A_prev.shape}, delta {delta.shape}, W {W.shape}, dW {dW.shape}, "
                         f"db {db.shape}: shapes do not chain")
    _blas_dims(A_prev, "A_prev")
    _blas_dims(delta, "delta")
    for oname, o in (("dW", dW), ("db", db)):
        _disjoint(o, oname, A_prev, "A_prev")
        _disjoint(o, oname, delta, "delta")
        _disjoint(o, oname, W, "W")
    _disjoint(dW, "dW", db, "db")
    cdef double s = (1.0 / n if n else 0.0) if scale is None else float(scale)
    cdef double lam = float(l2)
    cdef void* ap = _ptr(A_prev)
    cdef void* dp = _ptr(delta)
    cdef void* wp = _ptr(W)
    cdef void* gwp = _ptr(dW)
    cdef void* gbp = _ptr(db)
    with nogil:
        if kind == 0:
            _weight_grad(<float*>ap, <float*>dp, <float*>wp, <float*>gwp, <float*>gbp, n, k, m,
                         <float>s, <float>lam, False)
        else:
            _weight_grad(<double*>ap, <double*>dp, <double*>wp, <double*>gwp, <double*>gbp, n, k, m,
                         <double>s, <double>lam, False)
    return dW, db


cdef void _weight_grad(const floating* Aprev, const floating* D, const floating* W, floating* dW,
                       floating* db, Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, floating scale,
                       floating l2, bint accumulate) noexcept nogil:
    """dW (+)= scale · Aprevᵀ D (+ l2 W),  db (+)= scale · Σ_rows D."""
    cdef Py_ssize_t i
    cdef floating beta = 1 if accumulate else 0
    if l2 != 0:
        if accumulate:
            for i in range(k * m):
                dW[i] = dW[i] + l2 * W[i]
        else:
            for i in range(k * m):
                dW[i] = l2 * W[i]
        beta = 1
    _gemm(True, False, k, m, n, scale, Aprev, k, D, m, beta, dW, m)
    _colsum(D, db, n, m, scale, <floating>(1 if accumulate else 0))


def prelu_gamma_gradient(G, Z, out, scale=None):
    """out_j = scale · Σ_i G[i, j] · min(0, Z[i, j]): ∂L/∂γ for PReLU slopes; scale defaults to 1/n."""
    cdef int kind = _check(G, "G", -1, 2)
    _check(Z, "Z", kind, 2)
    _check(out, "out", kind, 1, True)
    _check_same_shape(G, "G", Z, "Z")
    if _dim(out, 0) != _dim(G, 1):
        raise ValueError(f"out: shape {out.shape}, expected ({G.shape[1]},)")
    _disjoint(out, "out", G, "G")
    _disjoint(out, "out", Z, "Z")
    cdef Py_ssize_t n = _dim(G, 0), m = _dim(G, 1)
    cdef double s = (1.0 / n if n else 0.0) if scale is None else float(scale)
    cdef void* gp = _ptr(G)
    cdef void* zp = _ptr(Z)
    cdef void* op = _ptr(out)
    with nogil:
        if kind == 0:
            _prelu_grad(<float*>gp, <float*>zp, <float*>op, n, m, <float>s, False)
        else:
            _prelu_grad(<double*>gp, <double*>zp, <double*>op, n, m, <double>s, False)
    return out


def sgd_weight_update(A_prev, delta, W, b, lr, l2=0.0):
    """Plain SGD step of one layer from its error term, fused into one GEMM:
    W ← (1 − lr·l2) W − (lr/n) A_prevᵀ δ   (alpha = −lr/n, beta = 1 − lr·l2),
    b ← b − (lr/n) Σ_rows δ."""
    cdef int kind = _check(A_prev, "A_prev", -1, 2)
    _check(delta, "delta", kind, 2)
    _check(W, "W", kind, 2, True)
    _check(b, "b", kind, 1, True)
    cdef Py_ssize_t n = _dim(A_prev, 0), k = _dim(A_prev, 1), m = _dim(delta, 1)
    if _dim(delta, 0) != n or W.shape != (k, m) or _dim(b, 0) != m:
        raise ValueError(f"A_prev {A_prev.shape}, delta {delta.shape}, W {W.shape}, b {b.shape}: "
                         "shapes do not chain")
    _blas_dims(A_prev, "A_prev")
    _blas_dims(delta, "delta")
    for oname, o in (("W", W), ("b", b)):
        _disjoint(o, oname, A_prev, "A_prev")
        _disjoint(o, oname, delta, "delta")
    _disjoint(W, "W", b, "b")
    if n == 0:
        return W, b
    cdef double alpha = -float(lr) / n, beta = 1.0 - float(lr) * float(l2)
    cdef void* ap = _ptr(A_prev)
    cdef void* dp = _ptr(delta)
    cdef void* wp = _ptr(W)
    cdef void* bp = _ptr(b)
    with nogil:
        if kind == 0:
            _gemm(True, False, k, m, n, <float>alpha, <float*>ap, k, <float*>dp, m, <float>beta,
                  <float*>wp, m)
            _colsum(<float*>dp, <float*>bp, n, m, <float>alpha, <float>1)
        else:
            _gemm(True, False, k, m, n, alpha, <double*>ap, k, <double*>dp, m, beta, <double*>wp, m)
            _colsum(<double*>dp, <double*>bp, n, m, alpha, <double>1)
    return W, b


cdef object _check_loss_args(str zname, Z, D, sample_weight, int* kind):
    kind[0] = _check(Z, zname, -1, 2)
    _check(D, "delta", kind[0], 2, True)
    _check_same_shape(Z, zname, D, "delta")
    if sample_weight is not None:
        _check(sample_weight, "sample_weight", kind[0], 1)
        if _dim(sample_weight, 0) != _dim(Z, 0):
            raise ValueError(f"sample_weight: shape {sample_weight.shape}, expected ({Z.shape[0]},)")
    _disjoint(D, "delta", Z, zname, True)
    _disjoint(D, "delta", sample_weight, "sample_weight")


cdef object _check_labels(labels, Py_ssize_t n, Py_ssize_t c):
    if not isinstance(labels, np.ndarray) or labels.dtype != np.intp or labels.ndim != 1 \
            or not labels.flags.c_contiguous:
        raise TypeError("labels: expected a C-contiguous 1-D integer array of dtype intp")
    if _dim(labels, 0) != n:
        raise ValueError(f"labels: shape {labels.shape}, expected ({n},)")
    if n and (labels.min() < 0 or labels.max() >= c):
        raise ValueError(f"labels: values must lie in [0, {c})")


def softmax_cross_entropy(Z, labels, delta, sample_weight=None):
    """L_i = logsumexp(Z_i) − Z_i[y_i];  δ_i = softmax(Z_i) − onehot(y_i). Returns mean_i L_i.
    ``delta`` may be Z. labels: intp array (n,) with values in [0, C)."""
    cdef int kind
    _check_loss_args("Z", Z, delta, sample_weight, &kind)
    cdef Py_ssize_t n = _dim(Z, 0), c = _dim(Z, 1)
    _check_labels(labels, n, c)
    _disjoint(delta, "delta", labels, "labels")  # labels overwritten under the loop: out-of-bounds reads
    cdef void* zp = _ptr(Z)
    cdef void* dp = _ptr(delta)
    cdef void* wp = _ptr(sample_weight)
    cdef Py_ssize_t* lp = <Py_ssize_t*>_ptr(labels)
    cdef double total
    with nogil:
        if kind == 0:
            total = _softmax_ce(<float*>zp, lp, <float*>dp, <float*>wp, n, c)
        else:
            total = _softmax_ce(<double*>zp, lp, <double*>dp, <double*>wp, n, c)
    return total / n if n else 0.0


def sigmoid_cross_entropy(Z, Y, delta, sample_weight=None):
    """Binary cross-entropy from logits, summed over outputs:
    L_i = Σ_j max(z,0) − z·y + log(1 + exp(−|z|));  δ = sigmoid(Z) − Y. Returns mean_i L_i."""
    cdef int kind
    _check_loss_args("Z", Z, delta, sample_weight, &kind)
    _check(Y, "Y", kind, 2)
    _check_same_shape(Z, "Z", Y, "Y")
    _disjoint(delta, "delta", Y, "Y")  # as the NumPy twin, which reads Y after writing delta
    cdef Py_ssize_t n = _dim(Z, 0), m = _dim(Z, 1)
    cdef void* zp = _ptr(Z)
    cdef void* yp = _ptr(Y)
    cdef void* dp = _ptr(delta)
    cdef void* wp = _ptr(sample_weight)
    cdef double total
    with nogil:
        if kind == 0:
            total = _sigmoid_bce(<float*>zp, <float*>yp, <float*>dp, <float*>wp, n, m)
        else:
            total = _sigmoid_bce(<double*>zp, <double*>yp, <double*>dp, <double*>wp, n, m)
    return total / n if n else 0.0


def squared_error(Yhat, Y, delta, sample_weight=None):
    """L_i = ½ ‖Ŷ_i − Y_i‖² (summed over outputs);  δ = Ŷ − Y. Returns mean_i L_i."""
    cdef int kind
    _check_loss_args("Yhat", Yhat, delta, sample_weight, &kind)
    _check(Y, "Y", kind, 2)
    _check_same_shape(Yhat, "Yhat", Y, "Y")
    _disjoint(delta, "delta", Y, "Y", True)
    cdef Py_ssize_t n = _dim(Yhat, 0), m = _dim(Yhat, 1)
    cdef void* zp = _ptr(Yhat)
    cdef void* yp = _ptr(Y)
    cdef void* dp = _ptr(delta)
    cdef void* wp = _ptr(sample_weight)
    cdef double total
    with nogil:
        if kind == 0:
            total = _squared_error(<float*>zp, <float*>yp, <float*>dp, <float*>wp, n, m)
        else:
            total = _squared_error(<double*>zp, <double*>yp, <double*>dp, <double*>wp, n, m)
    return total / n if n else 0.0


cdef int _check_flat(param, grad, list states) except -1:
    cdef int kind = _check(param, "param", -1, 1, True)
    _check(grad, "grad", kind, 1)
    _check_same_shape(param, "param", grad, "grad")
    for name, s in states:
        _check(s, name, kind, 1, True)
        _check_same_shape(param, "param", s, name)
    # every array of an update is read and written element by element in one pass: one that is another's
    # memory (m is v, velocity is grad, a shifted view) reads values already updated. grad may be param
    # itself (each g[i] is read before theta[i] is written, on both backends).
    _disjoint(param, "param", grad, "grad", True)
    cdef list seen = [("param", param), ("grad", grad)]
    for name, s in states:
        for other, o in seen:
            _disjoint(s, name, o, other)
        seen.append((name, s))
    return kind


def sgd_update(param, grad, lr):
    """param ← param − lr · grad."""
    cdef int kind = _check_flat(param, grad, [])
    cdef Py_ssize_t P = _dim(param, 0)
    cdef double flr = float(lr)
    cdef void* tp = _ptr(param)
    cdef void* gp = _ptr(grad)
    with nogil:
        if kind == 0:
            _sgd(<float*>tp, <float*>gp, P, <float>flr)
        else:
            _sgd(<double*>tp, <double*>gp, P, flr)
    return param


def momentum_update(param, grad, velocity, lr, momentum, nesterov=False):
    """v ← μ v − lr g;  param ← param + v (nesterov: param ← param + μ v − lr g)."""
    cdef int kind = _check_flat(param, grad, [("velocity", velocity)])
    cdef Py_ssize_t P = _dim(param, 0)
    cdef double flr = float(lr), mu = float(momentum)
    cdef bint nest = bool(nesterov)
    cdef void* tp = _ptr(param)
    cdef void* gp = _ptr(grad)
    cdef void* vp = _ptr(velocity)
    with nogil:
        if kind == 0:
            _momentum(<float*>tp, <float*>gp, <float*>vp, P, <float>flr, <float>mu, nest)
        else:
            _momentum(<double*>tp, <double*>gp, <double*>vp, P, flr, mu, nest)
    return param


def adam_update(param, grad, m, v, lr, beta1, beta2, eps, t):
    """Adam step number t ≥ 1: m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²;
    param ← param − lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + ε)."""
    cdef int kind = _check_flat(param, grad, [("m", m), ("v", v)])
    t = _int_arg(t, "t: the Adam step number must be an integer")
    if t < 1:
        raise ValueError(f"t: Adam step count starts at 1, got {t}")
    if t > 2 ** 62:
        raise ValueError(f"t: Adam step count {t} is out of range")
    cdef Py_ssize_t P = _dim(param, 0)
    cdef double flr = float(lr), b1 = float(beta1), b2 = float(beta2), e = float(eps)
    cdef long long tt = t
    cdef void* tp = _ptr(param)
    cdef void* gp = _ptr(grad)
    cdef void* mp = _ptr(m)
    cdef void* vp = _ptr(v)
    with nogil:
        if kind == 0:
            _adam(<float*>tp, <float*>gp, <float*>mp, <float*>vp, P, flr, b1, b2, e, tt)
        else:
            _adam(<double*>tp, <double*>gp, <double*>mp, <double*>vp, P, flr, b1, b2, e, tt)
    return param


def apply_update(theta, grad, opt):
    """One step of ``opt`` (an _netspec.Optimizer) on the flat vectors; increments opt.t (only once the
    step is done: a refused step leaves the step count, and so Adam's bias correction, as it was)."""
    code = opt.code
    if code not in (OPT_SGD, OPT_MOMENTUM, OPT_NESTEROV, OPT_ADAM):
        raise ValueError(f"opt: unknown optimizer code {code!r}")
    t = _int_arg(opt.t, "opt.t: the step count must be an integer") + 1
    if t < 1:
        raise ValueError(f"opt.t: the step count must be >= 0, got {opt.t}")
    if code == OPT_SGD:
        sgd_update(theta, grad, opt.lr)
    elif code == OPT_MOMENTUM or code == OPT_NESTEROV:
        momentum_update(theta, grad, opt.state1, opt.lr, opt.momentum, nesterov=code == OPT_NESTEROV)
    else:
        adam_update(theta, grad, opt.state1, opt.state2, opt.lr, opt.beta1, opt.beta2, opt.eps, t)
    opt.t = t


# ======================================================================================================
# A whole network: training step and epoch as single nogil calls
# ======================================================================================================

cdef struct NetC:
    int L
    int loss
    Py_ssize_t max_batch
    Py_ssize_t n_params
    Py_ssize_t* sizes
    int* act
    double* actp
    Py_ssize_t* w_off
    Py_ssize_t* b_off
    Py_ssize_t* g_off
    void* theta
    void* grad
    void** A         # A[0]: gathered input rows; A[l]: output of layer l (logits for CE/BCE output)
    void** Z         # pre-activations for layers that need them, else NULL
    void** D         # D[l]: error term of layer l
    Py_ssize_t* lbuf # gathered labels
    void* ybuf       # gathered float targets
    void* wbuf       # gathered sample weights


cdef struct OptC:
    int code
    double lr, l2, mu, b1, b2, eps
    long long t
    void* s1
    void* s2


cdef void _net_forward(NetC* net, const floating* X, Py_ssize_t n, bint predict,
                       floating* final) noexcept nogil:
    """Forward n rows. Training mode leaves logits in A[L] for CE/BCE; predict mode applies the output
    activation and writes the last layer into ``final`` when given."""
    cdef int l, L = net.L, act
    cdef Py_ssize_t k, m
    cdef const floating* prev = X
    cdef floating* theta = <floating*>net.theta
    cdef floating* out
    cdef floating* z
    for l in range(L):
        k = net.sizes[l]
        m = net.sizes[l + 1]
        out = <floating*>net.A[l + 1]
        if l == L - 1 and final != NULL:
            out = final
        z = <floating*>net.Z[l + 1] if net.Z[l + 1] != NULL else out
        act = net.act[l]
        if l == L - 1 and net.loss != LOSS_SE and not predict:
            act = ACT_IDENTITY
        _dense_forward(prev, theta + net.w_off[l], theta + net.b_off[l], z, out, n, k, m, act,
                       <floating>net.actp[l], theta + net.g_off[l] if net.g_off[l] >= 0 else NULL)
        prev = out


cdef double _net_loss(NetC* net, floating* Aout, Py_ssize_t n, const Py_ssize_t* labels,
                      const floating* Y, const floating* sw) noexcept nogil:
    """Summed data loss of n rows after a training-mode forward; the loss's δ (or ∂L/∂A for squared
    error) goes to D[L]."""
    cdef Py_ssize_t dout = net.sizes[net.L]
    cdef floating* Dl = <floating*>net.D[net.L]
    if net.loss == LOSS_CE:
        return _softmax_ce(Aout, labels, Dl, sw, n, dout)
    elif net.loss == LOSS_BCE:
        return _sigmoid_bce(Aout, Y, Dl, sw, n, dout)
    return _squared_error(Aout, Y, Dl, sw, n, dout)


cdef double _net_backward(NetC* net, const floating* X, Py_ssize_t n, const Py_ssize_t* labels,
                          const floating* Y, const floating* sw, double scale, int mode,
                          double lr, double l2) noexcept nogil:
    """Backpropagate n rows after _net_forward (training mode). Returns the summed data loss.
    mode 0: grad = scale·∇;  mode 1: grad += scale·∇;  mode 2: fused plain SGD (W, b updated in place
    right after their δ below is formed; PReLU slopes get their gradient in grad, applied by the caller)."""
    cdef int l, L = net.L
    cdef Py_ssize_t k, m, dout = net.sizes[L]
    cdef floating* theta = <floating*>net.theta
    cdef floating* grad = <floating*>net.grad
    cdef floating* Dl = <floating*>net.D[L]
    cdef floating* Aout = <floating*>net.A[L]
    cdef floating* Dp
    cdef const floating* Aprev
    cdef floating* gam
    cdef double loss
    cdef floating fscale = <floating>scale
    cdef bint acc = mode == 1
    loss = _net_loss(net, Aout, n, labels, Y, sw)
    if net.loss == LOSS_SE:
        if net.act[L - 1] != ACT_IDENTITY:
            gam = theta + net.g_off[L - 1] if net.g_off[L - 1] >= 0 else NULL
            if gam != NULL:
                _prelu_grad(Dl, <floating*>net.Z[L], grad + net.g_off[L - 1], n, dout, fscale, acc)
            _act_backprop(net.act[L - 1], <floating>net.actp[L - 1], gam, Aout,
                          <floating*>net.Z[L], Dl, n, dout)
    for l in range(L - 1, -1, -1):
        k = net.sizes[l]
        m = net.sizes[l + 1]
        Dl = <floating*>net.D[l + 1]
        Aprev = X if l == 0 else <floating*>net.A[l]
        if l > 0:
            # δ(l) = f'(Z(l)) ⊙ (δ(l+1) W(l+1)ᵀ), formed before W(l+1) is touched.
            Dp = <floating*>net.D[l]
            _gemm(False, True, n, k, m, <floating>1, Dl, m, theta + net.w_off[l], m, <floating>0, Dp, k)
            if net.g_off[l - 1] >= 0:
                _prelu_grad(Dp, <floating*>net.Z[l], grad + net.g_off[l - 1], n, k, fscale, acc)
            _act_backprop(net.act[l - 1], <floating>net.actp[l - 1],
                          theta + net.g_off[l - 1] if net.g_off[l - 1] >= 0 else NULL,
                          <floating*>net.A[l], <floating*>net.Z[l], Dp, n, k)
        if mode == 2:
            _gemm(True, False, k, m, n, <floating>(-lr * scale), Aprev, k, Dl, m,
                  <floating>(1.0 - lr * l2), theta + net.w_off[l], m)
            _colsum(Dl, theta + net.b_off[l], n, m, <floating>(-lr * scale), <floating>1)
        else:
            _weight_grad(Aprev, Dl, theta + net.w_off[l], grad + net.w_off[l], grad + net.b_off[l],
                         n, k, m, fscale, <floating>0, acc)
    return loss


cdef double _l2_term(NetC* net, floating* dummy, double l2) noexcept nogil:
    cdef int l
    cdef Py_ssize_t i, e
    cdef double s = 0
    cdef floating* theta = <floating*>net.theta
    if l2 == 0:
        return 0.0
    for l in range(net.L):
        e = net.b_off[l]
        for i in range(net.w_off[l], e):
            s += <double>theta[i] * theta[i]
    return 0.5 * l2 * s


cdef void _add_l2_grad(NetC* net, floating* dummy, double l2) noexcept nogil:
    cdef int l
    cdef Py_ssize_t i
    cdef floating* theta = <floating*>net.theta
    cdef floating* grad = <floating*>net.grad
    cdef floating lam = <floating>l2
    if l2 == 0:
        return
    for l in range(net.L):
        for i in range(net.w_off[l], net.b_off[l]):
            grad[i] = grad[i] + lam * theta[i]


cdef double _net_step(NetC* net, OptC* opt, const floating* X, Py_ssize_t n, const Py_ssize_t* labels,
                      const floating* Y, const floating* sw) noexcept nogil:
    """One optimizer step on n rows; returns the batch's mean loss + l2/2 Σ‖W‖² (before the step)."""
    cdef double reg = _l2_term(net, <floating*>NULL, opt.l2)
    cdef double loss
    cdef int l
    cdef Py_ssize_t j, g0
    cdef floating* theta = <floating*>net.theta
    cdef floating* grad = <floating*>net.grad
    _net_forward(net, X, n, False, <floating*>NULL)
    opt.t += 1
    if opt.code == OPT_SGD:
        loss = _net_backward(net, X, n, labels, Y, sw, 1.0 / n, 2, opt.lr, opt.l2)
        for l in range(net.L):
            g0 = net.g_off[l]
            if g0 >= 0:
                for j in range(g0, g0 + net.sizes[l + 1]):
                    theta[j] = theta[j] - <floating>opt.lr * grad[j]
        return loss / n + reg
    loss = _net_backward(net, X, n, labels, Y, sw, 1.0 / n, 0, 0.0, 0.0)
    _add_l2_grad(net, <floating*>NULL, opt.l2)
    if opt.code == OPT_ADAM:
        _adam(theta, grad, <floating*>opt.s1, <floating*>opt.s2, net.n_params, opt.lr, opt.b1, opt.b2,
              opt.eps, opt.t)
    else:
        _momentum(theta, grad, <floating*>opt.s1, net.n_params, <floating>opt.lr, <floating>opt.mu,
                  opt.code == OPT_NESTEROV)
    return loss / n + reg


# Rows ahead of the copy whose lines the epoch loop prefetches (shuffled rows arrive from memory in
# parallel instead of one random jump at a time).
cdef enum:
    PREFETCH_ROWS = 8


cdef double _net_epoch(NetC* net, OptC* opt, const floating* X, Py_ssize_t d, const Py_ssize_t* labels,
                       const floating* Y, const floating* sw, const Py_ssize_t* order, Py_ssize_t m,
                       Py_ssize_t bs) noexcept nogil:
    """Minibatch steps over rows X[order] (gathered into the workspace); returns the row-weighted mean R."""
    cdef Py_ssize_t s, i, nb, r, dout = net.sizes[net.L]
    cdef floating* Xb = <floating*>net.A[0]
    cdef floating* Yb = <floating*>net.ybuf
    cdef floating* Wb = <floating*>net.wbuf
    cdef double total = 0
    s = 0
    while s < m:
        nb = bs if s + bs <= m else m - s
        for i in range(nb):
            if s + i + PREFETCH_ROWS < m:  # across minibatches too: the next one's first rows
                fm_prefetch_range(X + order[s + i + PREFETCH_ROWS] * d, d * sizeof(floating))
            r = order[s + i]
            memcpy(Xb + i * d, X + r * d, d * sizeof(floating))
            if labels != NULL:
                net.lbuf[i] = labels[r]
            else:
                memcpy(Yb + i * dout, Y + r * dout, dout * sizeof(floating))
            if sw != NULL:
                Wb[i] = sw[r]
        total += nb * _net_step(net, opt, Xb, nb, net.lbuf if labels != NULL else NULL,
                                Yb if labels == NULL else NULL, Wb if sw != NULL else NULL)
        s += nb
    return total / m if m else 0.0


cdef object _checked_spec(spec):
    """A NetSpec rebuilt from ``spec``'s sizes, activations, parameters and loss (so validated), after
    checking that ``spec``'s own codes, offsets and n_params agree with it: the C struct is filled from
    these, and a prelu code without slopes, a NEEDS_Z activation without its Z buffer or an offset past
    theta would be dereferenced without a check."""
    try:
        ref = NetSpec(spec.sizes, spec.activations, spec.params, spec.loss)
        same = (tuple(spec.sizes) == ref.sizes and tuple(spec.activations) == ref.activations
                and tuple(spec.codes) == ref.codes and spec.loss_code == ref.loss_code
                and tuple(spec.w_offsets) == ref.w_offsets and tuple(spec.b_offsets) == ref.b_offsets
                and tuple(spec.g_offsets) == ref.g_offsets and spec.n_params == ref.n_params
                and spec.n_layers == ref.n_layers)
    except (AttributeError, TypeError):
        raise TypeError(f"spec: expected a NetSpec, got {type(spec).__name__}") from None
    if not same:
        raise ValueError("spec: its codes, offsets, n_params or n_layers do not match its sizes, "
                         "activations and loss")
    return ref


cdef class Network:
    """Forward, backward and training of a whole dense network over preallocated buffers.

    theta, grad: flat float vectors laid out by ``spec`` (see _netspec); max_batch: rows per step.
    Targets ``y``: intp labels (n,) for cross_entropy, a float matrix (n, d_out) otherwise.
    """
    cdef NetC c
    cdef readonly object spec, theta, grad, dtype
    cdef readonly int max_batch
    cdef int kind
    cdef list _keep
    cdef bint _ready  # set last in __init__: the struct and every workspace buffer are in place

    def __cinit__(self):
        memset(&self.c, 0, sizeof(NetC))
        self._ready = False

    def __init__(self, spec, theta, grad, max_batch):
        cdef int L, l
        cdef Py_ssize_t B
        if self.c.sizes != NULL or self._ready:
            # a second __init__ would swap the dtype or the layout under the live workspace
            raise RuntimeError("Network: already initialised; build a new Network instead")
        spec_in, spec = spec, _checked_spec(spec)  # the C struct is filled from the checked copy
        L = spec.n_layers
        kind = _check(theta, "theta", -1, 1, True)
        _check(grad, "grad", kind, 1, True)
        if _dim(theta, 0) != spec.n_params or _dim(grad, 0) != spec.n_params:
            raise ValueError("theta, grad: must be flat vectors of the spec's n_params, same dtype")
        _disjoint(grad, "grad", theta, "theta")
        max_batch = _int_arg(max_batch, "max_batch: expected an integer")
        if max_batch < 1:
            raise ValueError(f"max_batch: must be >= 1, got {max_batch}")
        if max_batch > INT_MAX:
            raise ValueError(f"max_batch: must be <= {INT_MAX} (the BLAS int), got {max_batch}")
        if max(spec.sizes) > INT_MAX:
            raise ValueError(f"spec: layer sizes {list(spec.sizes)} exceed the BLAS limit of {INT_MAX}")
        B = max_batch
        self.kind = kind
        self.spec, self.theta, self.grad, self.dtype = spec_in, theta, grad, theta.dtype
        self.max_batch = B
        self._keep = []
        self.c.L = L
        self.c.loss = spec.loss_code
        self.c.max_batch = B
        self.c.n_params = spec.n_params
        self.c.sizes = <Py_ssize_t*>calloc(L + 1, sizeof(Py_ssize_t))
        self.c.act = <int*>calloc(L, sizeof(int))
        self.c.actp = <double*>calloc(L, sizeof(double))
        self.c.w_off = <Py_ssize_t*>calloc(L, sizeof(Py_ssize_t))
        self.c.b_off = <Py_ssize_t*>calloc(L, sizeof(Py_ssize_t))
        self.c.g_off = <Py_ssize_t*>calloc(L, sizeof(Py_ssize_t))
        self.c.A = <void**>calloc(L + 1, sizeof(void*))
        self.c.Z = <void**>calloc(L + 1, sizeof(void*))
        self.c.D = <void**>calloc(L + 1, sizeof(void*))
        self.c.lbuf = <Py_ssize_t*>calloc(B, sizeof(Py_ssize_t))
        if (self.c.sizes == NULL or self.c.act == NULL or self.c.actp == NULL or self.c.w_off == NULL
                or self.c.b_off == NULL or self.c.g_off == NULL or self.c.A == NULL or self.c.Z == NULL
                or self.c.D == NULL or self.c.lbuf == NULL):
            raise MemoryError()
        self.c.theta = _ptr(theta)
        self.c.grad = _ptr(grad)
        for l in range(L + 1):
            self.c.sizes[l] = spec.sizes[l]
        for l in range(L):
            self.c.act[l] = spec.codes[l]
            self.c.actp[l] = spec.params[l]
            self.c.w_off[l] = spec.w_offsets[l]
            self.c.b_off[l] = spec.b_offsets[l]
            self.c.g_off[l] = spec.g_offsets[l]
        self.c.A[0] = self._buffer((B, spec.sizes[0]))
        for l in range(L):
            self.c.A[l + 1] = self._buffer((B, spec.sizes[l + 1]))
            self.c.D[l + 1] = self._buffer((B, spec.sizes[l + 1]))
            if spec.activations[l] in NEEDS_Z:
                self.c.Z[l + 1] = self._buffer((B, spec.sizes[l + 1]))
        self.c.ybuf = self._buffer((B, spec.sizes[L]))
        self.c.wbuf = self._buffer((B,))
        self._ready = True

    cdef void* _buffer(self, shape) except NULL:
        arr = np.zeros(shape, dtype=self.dtype)
        self._keep.append(arr)
        return _ptr(arr)

    def __dealloc__(self):
        free(self.c.sizes)
        free(self.c.act)
        free(self.c.actp)
        free(self.c.w_off)
        free(self.c.b_off)
        free(self.c.g_off)
        free(self.c.A)
        free(self.c.Z)
        free(self.c.D)
        free(self.c.lbuf)

    def __repr__(self):
        if not self._ready:
            return "<fastmlp._kernels.Network (not initialised)>"
        return f"<fastmlp._kernels.Network {list(self.spec.sizes)} {self.dtype} max_batch={self.max_batch}>"

    cdef Py_ssize_t _check_X(self, X) except -1:
        if not self._ready:
            raise RuntimeError("Network: not initialised (construct it as Network(spec, theta, grad, max_batch))")
        _check(X, "X", self.kind, 2)
        if _dim(X, 1) != self.c.sizes[0]:
            raise ValueError(f"X: expected {self.c.sizes[0]} columns, got shape {X.shape}")
        return _dim(X, 0)

    cdef object _check_y(self, y, Py_ssize_t n):
        cdef Py_ssize_t dout = self.c.sizes[self.c.L]
        if self.c.loss == LOSS_CE:
            _check_labels(y, n, dout)
        else:
            _check(y, "y", self.kind, 2)
            if _dim(y, 0) != n or _dim(y, 1) != dout:
                raise ValueError(f"y: shape {y.shape}, expected {(n, dout)}")

    cdef object _check_sw(self, sw, Py_ssize_t n):
        if sw is not None:
            _check(sw, "sample_weight", self.kind, 1)
            if _dim(sw, 0) != n:
                raise ValueError(f"sample_weight: shape {sw.shape}, expected ({n},)")

    cdef int _check_writes(self, bint theta_too) except -1:
        """theta (when a step updates it) and grad must still be writeable (flags can change after
        construction)."""
        if theta_too and not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>self.theta):
            raise ValueError("theta: output array is read-only")
        if not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>self.grad):
            raise ValueError("grad: output array is read-only")
        return 0

    cdef OptC _opt(self, opt, list inputs) except *:
        """The optimizer as a struct, checked: a known code, an integer step count t >= 0 (Adam's bias
        correction divides by 1 − β^(t+1)), states of the network's size and dtype, and nothing the step
        writes (theta, grad, the states) sharing memory with another of them or with an input."""
        cdef OptC o
        code = opt.code
        if code not in (OPT_SGD, OPT_MOMENTUM, OPT_NESTEROV, OPT_ADAM):
            raise ValueError(f"opt: unknown optimizer code {code!r}")
        t = _int_arg(opt.t, "opt.t: the step count must be an integer")
        if t < 0 or t > 2 ** 62:
            raise ValueError(f"opt.t: the step count must be >= 0 (and at most 2**62), got {t}")
        self._check_writes(True)
        o.code = code
        o.lr, o.l2, o.mu = opt.lr, opt.l2, opt.momentum
        o.b1, o.b2, o.eps = opt.beta1, opt.beta2, opt.eps
        o.t = t
        o.s1 = o.s2 = NULL
        outs = [("theta", self.theta), ("grad", self.grad)]
        if o.code != OPT_SGD:
            _check(opt.state1, "opt.state1", self.kind, 1, True)
            if _dim(opt.state1, 0) != self.c.n_params:
                raise ValueError("opt: optimizer state does not match the network's parameters")
            o.s1 = _ptr(opt.state1)
            for name, a in outs:
                _disjoint(opt.state1, "opt.state1", a, name)
            outs.append(("opt.state1", opt.state1))
        if o.code == OPT_ADAM:
            _check(opt.state2, "opt.state2", self.kind, 1, True)
            if _dim(opt.state2, 0) != self.c.n_params:
                raise ValueError("opt: optimizer state does not match the network's parameters")
            o.s2 = _ptr(opt.state2)
            for name, a in outs:
                _disjoint(opt.state2, "opt.state2", a, name)
            outs.append(("opt.state2", opt.state2))
        for iname, a in inputs:
            for oname, b in outs:
                _disjoint(b, oname, a, iname)
        return o

    def forward(self, X, out):
        """out = network output (softmax probabilities, sigmoid, or the output activation), in chunks."""
        cdef Py_ssize_t n = self._check_X(X), s, e, dout = self.c.sizes[self.c.L], d = self.c.sizes[0]
        _check(out, "out", self.kind, 2, True)
        if _dim(out, 0) != n or _dim(out, 1) != dout:
            raise ValueError(f"out: shape {out.shape}, expected {(n, dout)}")
        _disjoint(out, "out", X, "X")
        _disjoint(out, "out", self.theta, "theta")
        cdef void* xp = _ptr(X)
        cdef void* op = _ptr(out)
        cdef Py_ssize_t B = self.c.max_batch
        with nogil:
            s = 0
            while s < n:
                e = s + B if s + B < n else n
                if self.kind == 0:
                    _net_forward(&self.c, <float*>xp + s * d, e - s, True, <float*>op + s * dout)
                else:
                    _net_forward(&self.c, <double*>xp + s * d, e - s, True, <double*>op + s * dout)
                s = e
        return out

    def loss(self, X, y, sample_weight=None):
        """Mean data loss over all rows of X (no L2 term, no gradient)."""
        cdef Py_ssize_t n = self._check_X(X), s, e, d = self.c.sizes[0], dout = self.c.sizes[self.c.L]
        self._check_y(y, n)
        self._check_sw(sample_weight, n)
        if n == 0:
            raise ValueError("X: no rows")
        cdef double total = 0
        cdef Py_ssize_t B = self.c.max_batch
        cdef void* xp = _ptr(X)
        cdef void* yp = _ptr(y)
        cdef void* wp = _ptr(sample_weight)
        cdef bint ce = self.c.loss == LOSS_CE
        with nogil:
            s = 0
            while s < n:
                e = s + B if s + B < n else n
                if self.kind == 0:
                    _net_forward(&self.c, <float*>xp + s * d, e - s, False, <float*>NULL)
                    total += _net_loss(&self.c, <float*>self.c.A[self.c.L], e - s,
                                       <Py_ssize_t*>yp + s if ce else NULL,
                                       NULL if ce else <float*>yp + s * dout,
                                       <float*>wp + s if wp != NULL else NULL)
                else:
                    _net_forward(&self.c, <double*>xp + s * d, e - s, False, <double*>NULL)
                    total += _net_loss(&self.c, <double*>self.c.A[self.c.L], e - s,
                                       <Py_ssize_t*>yp + s if ce else NULL,
                                       NULL if ce else <double*>yp + s * dout,
                                       <double*>wp + s if wp != NULL else NULL)
                s = e
        return total / n

    def loss_and_grad(self, X, y, sample_weight=None, l2=0.0):
        """R = mean loss + l2/2 Σ‖W‖² over all rows of X (in chunks); its gradient into grad. Returns R."""
        cdef Py_ssize_t n = self._check_X(X), s, e, d = self.c.sizes[0], dout = self.c.sizes[self.c.L]
        self._check_y(y, n)
        self._check_sw(sample_weight, n)
        if n == 0:
            raise ValueError("X: no rows")
        cdef double lam = float(l2), total = 0, reg
        self._check_writes(False)
        for iname, a in (("X", X), ("y", y), ("sample_weight", sample_weight)):
            _disjoint(self.grad, "grad", a, iname)
        cdef Py_ssize_t B = self.c.max_batch
        cdef void* xp = _ptr(X)
        cdef void* yp = _ptr(y)
        cdef void* wp = _ptr(sample_weight)
        cdef bint ce = self.c.loss == LOSS_CE
        with nogil:
            s = 0
            while s < n:
                e = s + B if s + B < n else n
                if self.kind == 0:
                    _net_forward(&self.c, <float*>xp + s * d, e - s, False, <float*>NULL)
                    total += _net_backward(&self.c, <float*>xp + s * d, e - s,
                                           <Py_ssize_t*>yp + s if ce else NULL,
                                           NULL if ce else <float*>yp + s * dout,
                                           <float*>wp + s if wp != NULL else NULL,
                                           1.0 / n, 0 if s == 0 else 1, 0.0, 0.0)
                else:
                    _net_forward(&self.c, <double*>xp + s * d, e - s, False, <double*>NULL)
                    total += _net_backward(&self.c, <double*>xp + s * d, e - s,
                                           <Py_ssize_t*>yp + s if ce else NULL,
                                           NULL if ce else <double*>yp + s * dout,
                                           <double*>wp + s if wp != NULL else NULL,
                                           1.0 / n, 0 if s == 0 else 1, 0.0, 0.0)
                s = e
            if self.kind == 0:
                _add_l2_grad(&self.c, <float*>NULL, lam)
                reg = _l2_term(&self.c, <float*>NULL, lam)
            else:
                _add_l2_grad(&self.c, <double*>NULL, lam)
                reg = _l2_term(&self.c, <double*>NULL, lam)
        return total / n + reg

    def train_step(self, X, y, sample_weight, opt):
        """One optimizer step on the minibatch X (n ≤ max_batch rows). Returns the batch's R."""
        cdef Py_ssize_t n = self._check_X(X)
        if n > self.c.max_batch:
            raise ValueError(f"X: {n} rows exceed the workspace's max_batch={self.c.max_batch}")
        if n == 0:
            raise ValueError("X: no rows")
        self._check_y(y, n)
        self._check_sw(sample_weight, n)
        cdef OptC o = self._opt(opt, [("X", X), ("y", y), ("sample_weight", sample_weight)])
        cdef void* xp = _ptr(X)
        cdef void* yp = _ptr(y)
        cdef void* wp = _ptr(sample_weight)
        cdef bint ce = self.c.loss == LOSS_CE
        cdef double r
        with nogil:
            if self.kind == 0:
                r = _net_step(&self.c, &o, <float*>xp, n, <Py_ssize_t*>yp if ce else NULL,
                              NULL if ce else <float*>yp, <float*>wp)
            else:
                r = _net_step(&self.c, &o, <double*>xp, n, <Py_ssize_t*>yp if ce else NULL,
                              NULL if ce else <double*>yp, <double*>wp)
        opt.t = o.t
        return r

    def train_epoch(self, X, y, sample_weight, order, batch_size, opt):
        """Minibatch steps over the rows X[order] in that order (batch_size ≤ max_batch).
        Returns the mean over rows of the per-batch R (weighted by batch size)."""
        cdef Py_ssize_t n = self._check_X(X), d = self.c.sizes[0]
        batch_size = _int_arg(batch_size, "batch_size: expected an integer")
        if batch_size < 1 or batch_size > self.c.max_batch:
            raise ValueError(f"batch_size: must be in [1, {self.c.max_batch}], got {batch_size}")
        cdef Py_ssize_t bs = batch_size
        self._check_y(y, n)
        self._check_sw(sample_weight, n)
        if not isinstance(order, np.ndarray) or order.dtype != np.intp or order.ndim != 1 \
                or not order.flags.c_contiguous:
            raise TypeError("order: expected a C-contiguous 1-D array of dtype intp")
        cdef Py_ssize_t m = _dim(order, 0)
        if m and (order.min() < 0 or order.max() >= n):
            raise ValueError(f"order: row indices must lie in [0, {n})")
        # labels or row indices overwritten by a step would be read out of bounds by the next
        cdef OptC o = self._opt(opt, [("X", X), ("y", y), ("sample_weight", sample_weight),
                                      ("order", order)])
        cdef void* xp = _ptr(X)
        cdef void* yp = _ptr(y)
        cdef void* wp = _ptr(sample_weight)
        cdef Py_ssize_t* op = <Py_ssize_t*>_ptr(order)
        cdef bint ce = self.c.loss == LOSS_CE
        cdef double r
        with nogil:
            if self.kind == 0:
                r = _net_epoch(&self.c, &o, <float*>xp, d, <Py_ssize_t*>yp if ce else NULL,
                               NULL if ce else <float*>yp, <float*>wp, op, m, bs)
            else:
                r = _net_epoch(&self.c, &o, <double*>xp, d, <Py_ssize_t*>yp if ce else NULL,
                               NULL if ce else <double*>yp, <double*>wp, op, m, bs)
        opt.t = o.t
        return r


def all_finite(X):
    """True when no element of the float32/float64 array X is NaN or ±inf (one pass, no temporary)."""
    cdef int kind = _kind_of(X, "X")
    cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray>X)
    cdef void* xp = _ptr(X)
    cdef bint ok
    with nogil:
        if kind == 0:
            ok = _all_finite(<float*>xp, n)
        else:
            ok = _all_finite(<double*>xp, n)
    return ok


cdef bint _all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    # NaN and ±inf are the values whose exponent bits are all ones; an integer OR-reduction over that
    # test vectorises without fast-math.
    cdef Py_ssize_t i
    cdef const uint32_t* u32 = <const uint32_t*>x
    cdef const uint64_t* u64 = <const uint64_t*>x
    cdef uint32_t bad32 = 0
    cdef uint64_t bad64 = 0
    if floating is float:
        for i in range(n):
            bad32 |= (u32[i] & 0x7f800000u) == 0x7f800000u
        return bad32 == 0
    else:
        for i in range(n):
            bad64 |= (u64[i] & 0x7ff0000000000000ull) == 0x7ff0000000000000ull
        return bad64 == 0


_SIMD_PATHS = ("baseline", "avx2", "avx512")


def simd_path():
    """Which build of the polynomial activation loops (exp, sigmoid, tanh, SiLU, ELU, softplus, GELU)
    runs here: "avx512", "avx2" or "baseline"."""
    return _SIMD_PATHS[fm_simd_level()]


def _force_simd(path):
    """Testing hook: cap the SIMD build of the polynomial loops at ``path`` ("baseline", "avx2",
    "avx512"; never above what the CPU supports), or return to CPU detection (None). Returns the path
    now in use."""
    fm_set_simd_level(-1 if path is None else _SIMD_PATHS.index(path))
    return simd_path()


def gemm(A, B, C, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """C := alpha · op(A) · op(B) + beta · C for C-contiguous 2-D arrays of one dtype (row-major
    front end to BLAS ?gemm; tiny products use a direct loop). Returns C."""
    cdef int kind = _check(A, "A", -1, 2)
    _check(B, "B", kind, 2)
    _check(C, "C", kind, 2, True)
    cdef bint ta = bool(trans_a), tb = bool(trans_b)
    cdef Py_ssize_t m = _dim(A, 1) if ta else _dim(A, 0)
    cdef Py_ssize_t k = _dim(A, 0) if ta else _dim(A, 1)
    cdef Py_ssize_t kb = _dim(B, 1) if tb else _dim(B, 0)
    cdef Py_ssize_t n = _dim(B, 0) if tb else _dim(B, 1)
    if kb != k or _dim(C, 0) != m or _dim(C, 1) != n:
        raise ValueError(f"A {A.shape}, B {B.shape}, C {C.shape}: shapes do not chain "
                         f"(trans_a={ta}, trans_b={tb})")
    _blas_dims(A, "A")
    _blas_dims(B, "B")
    _disjoint(C, "C", A, "A")
    _disjoint(C, "C", B, "B")
    cdef double fa = float(alpha), fb = float(beta)
    cdef void* ap = _ptr(A)
    cdef void* bp = _ptr(B)
    cdef void* cp = _ptr(C)
    cdef Py_ssize_t lda = _dim(A, 1), ldb = _dim(B, 1), ldc = _dim(C, 1)
    with nogil:
        if kind == 0:
            _gemm(ta, tb, m, n, k, <float>fa, <float*>ap, lda, <float*>bp, ldb, <float>fb, <float*>cp, ldc)
        else:
            _gemm(ta, tb, m, n, k, fa, <double*>ap, lda, <double*>bp, ldb, fb, <double*>cp, ldc)
    return C


# The Cython-level API for other extensions (declared in _kernels.pxd) lives in its own file.
include "_capi.pxi"
