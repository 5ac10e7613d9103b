# Activations: the forward kernel A = f(Z) (in place allowed), the backprop kernel G ← G ⊙ f'(z) from
# A = f(Z) (and Z where needed), softmax and log-softmax rows, and their Python entry points. Adding an
# activation: its registry entry, then one branch in _act_forward and one in _act_backprop keyed by its
# generated ACT_* code (declared in _kernels.pyx). Included by _kernels.pyx.

cdef void _softmax_rows(const floating* Z, floating* out, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    """out[i] = exp(Z[i] − max Z[i]) / Σ_j exp(Z[i, j] − max Z[i]); out may be Z. Rows of no columns:
    nothing to do (and no max to read). Narrow rows (a few classes) take three passes over the block --
    shift by the row max, one vectorised exp over all n·m elements, normalise -- instead of one short
    exp call per row."""
    cdef Py_ssize_t i, j
    cdef floating mx, s
    cdef double sd
    if m == 0:
        return
    if m < SOFTMAX_NARROW:
        if floating is float:
            fm_rows_shift_f32(Z, out, n, m)
            fm_exp_shift_f32_best(out, out, n * m, 0)
            fm_rows_normalise_f32(out, n, m)
        else:
            fm_rows_shift_f64(Z, out, n, m)
            fm_exp_shift_f64_best(out, out, n * m, 0)
            fm_rows_normalise_f64(out, n, m)
        return
    for i in range(n):
        mx = Z[i * m]
        for j in range(1, m):
            if Z[i * m + j] > mx:
                mx = Z[i * m + j]
        _exp_shift(Z + i * m, out + i * m, m, mx)
        sd = 0  # in double: a float sum over thousands of columns loses digits
        for j in range(m):
            sd = sd + out[i * m + j]
        s = <floating>(1 / sd)
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
    elif act == ACT_EXP:  # overflows to +inf past the largest float, as numpy
        for i in range(N):
            A[i] = _exp(Z[i])
    else:
        _act_forward_extra(act, p, Z, A, n, m)


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
    elif act == ACT_EXP:
        for i in range(N):
            G[i] = G[i] * A[i]
    else:
        _act_backprop_extra(act, p, A, Z, G, n, m)


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
        s = _log(s)
        for j in range(m):  # (z − max) − log Σ: the small log-probabilities of large logits survive
            out[i * m + j] = (Z[i * m + j] - mx) - s


# ---- Python entry points ----------------------------------------------------------------------------

cdef object _run_forward(int code, int kind, double p, object gamma, object Z, object out):
    """out = f(Z) on checked arguments, without the GIL."""
    cdef Py_ssize_t n = _dim(Z, 0), m = _dim(Z, 1)
    cdef void* zp = _ptr(Z)
    cdef void* ap = _ptr(out)
    cdef void* gp = _ptr(gamma)
    with nogil:
        if kind == KIND_F32:
            _act_forward_par(code, <float>p, <float*>gp, <float*>zp, <float*>ap, n, m)
        else:
            _act_forward_par(code, <double>p, <double*>gp, <double*>zp, <double*>ap, n, m)
    return out


cdef object _run_backprop(int code, int kind, double p, object gamma, object A, object Z, object out):
    """out ← out ⊙ f'(z) on checked arguments, without the GIL."""
    cdef Py_ssize_t n = _dim(A, 0), m = _dim(A, 1)
    cdef void* ap = _ptr(A)
    cdef void* zp = _ptr(Z)
    cdef void* op = _ptr(out)
    cdef void* gp = _ptr(gamma)
    with nogil:
        if kind == KIND_F32:
            _act_backprop_par(code, <float>p, <float*>gp, <float*>ap, <float*>zp, <float*>op, n, m)
        else:
            _act_backprop_par(code, <double>p, <double*>gp, <double*>ap, <double*>zp, <double*>op, n, m)
    return out


def activation_forward(Z, out, activation, param=None):
    """out = f(Z), elementwise (row-wise for softmax). ``out`` may be ``Z``. Returns out.

    param: slope for leaky_relu (default 0.01), gamma for elu (default 1.0), the per-unit slope array
    of shape (M,) for prelu.
    """
    cdef int code = _act_code(activation)
    cdef int kind = _check_rowwise(Z, out)
    cdef double p
    gamma = _act_param(code, param, kind, _dim(Z, 1), &p)
    _disjoint(out, "out", gamma, "param")
    return _run_forward(code, kind, p, gamma, Z, out)


def backprop_activation(G, A, Z, out, activation, param=None):
    """out = G ⊙ f'(z): the upstream gradient ∂L/∂A pulled back through the activation. ``out`` may be G."""
    cdef int code = _act_code(activation)
    _check_elementwise(code)
    cdef int kind = _check(G, "G", KIND_ANY, 2)
    _check(A, "A", kind, 2)
    _check(out, "out", kind, 2, True)
    _check_same_shape(A, "A", G, "G")
    _check_same_shape(A, "A", out, "out")
    cdef double p
    gamma = _check_derivative_inputs(code, G, A, Z, out, param, kind, &p)
    if out is not G:
        np.copyto(out, G)
    return _run_backprop(code, kind, p, gamma, A, Z, out)


def activation_derivative(A, Z, out, activation, param=None):
    """out = f'(z), computed from the forward output ``A`` where the table allows, from ``Z`` for
    prelu, gelu and silu (``Z`` may be None otherwise). Returns out."""
    cdef int kind = _check(out, "out", KIND_ANY, 2, True)
    cdef int code = _act_code(activation)
    _check_elementwise(code)
    _check(A, "A", kind, 2)
    _check_same_shape(A, "A", out, "out")
    cdef double p
    gamma = _check_derivative_inputs(code, None, A, Z, out, param, kind, &p)
    out.fill(1)
    return _run_backprop(code, kind, p, gamma, A, Z, out)


def softmax(Z, out):
    """out[i] = exp(Z[i] − max Z[i]) / Σ_j exp(Z[i, j] − max Z[i]). ``out`` may be Z."""
    cdef int kind = _check_rowwise(Z, out)
    return _run_forward(ACT_SOFTMAX, kind, 0.0, None, Z, out)


def log_softmax(Z, out):
    """out[i] = Z[i] − max Z[i] − log Σ_j exp(Z[i, j] − max Z[i])."""
    cdef int kind = _check_rowwise(Z, out)
    cdef Py_ssize_t n = _dim(Z, 0), m = _dim(Z, 1)
    cdef void* zp = _ptr(Z)
    cdef void* op = _ptr(out)
    with nogil:
        if kind == KIND_F32:
            _log_softmax_rows(<float*>zp, <float*>op, n, m)
        else:
            _log_softmax_rows(<double*>zp, <double*>op, n, m)
    return out


# ---- which SIMD build of the polynomial loops runs ----------------------------------------------------

_SIMD_PATHS = ("baseline", "avx2", "avx512")


def simd_path():
    """Which build of the polynomial activation loops (exp, sigmoid, tanh, SiLU, ELU, softplus, GELU)
    runs here: "avx512", "avx2" or "baseline"."""
    return _SIMD_PATHS[fm_simd_level()]


def _force_simd(path):
    """Testing hook: cap the SIMD build of the polynomial loops at ``path`` ("baseline", "avx2",
    "avx512"; never above what the CPU supports), or return to CPU detection (None). Returns the path
    now in use."""
    fm_set_simd_level(SIMD_DETECT if path is None else _SIMD_PATHS.index(path))
    return simd_path()
