# A dense layer: Z = X·W + b and A = f(Z) forward; the delta recursion, the weight and PReLU-slope
# gradients and the fused plain-SGD update backward; their Python entry points. Included by _kernels.pyx.

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
    """Every row of out (n, m) := b. Narrow rows are filled by doubling (rows [0, r) copied to [r, 2r)),
    so a 4096-row block of 5 columns takes a dozen memcpy calls, not 4096."""
    cdef Py_ssize_t i, done
    if n == 0:
        return
    if m >= 64:
        for i in range(n):
            memcpy(out + i * m, b, m * sizeof(floating))
        return
    memcpy(out, b, m * sizeof(floating))
    done = 1
    while done < n:
        i = done if 2 * done <= n else n - done
        memcpy(out + done * m, out, i * m * sizeof(floating))
        done += i


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
    """Z = X·W + b (bias pre-filled, GEMM with beta = 1; a narrow product adds it in registers), then
    A = f(Z). Z may be A."""
    if n * m * k > SMALL_GEMM and n > 1 and m > 1 and _narrow(False, False, m, k):
        if floating is float:
            fm_gemm_narrow_f32(n, m, k, 1, X, k, W, m, b, Z, m)
        else:
            fm_gemm_narrow_f64(n, m, k, 1, X, k, W, m, b, Z, m)
    else:
        _bias_fill(Z, b, n, m)
        _gemm(False, False, n, m, k, <floating>1, X, k, W, m, <floating>1, Z, m)
    _act_forward_par(act, p, gamma, Z, A, n, m)


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


# ---- Python entry points ----------------------------------------------------------------------------

_IDENTITY = ACTIVATIONS[ACT_IDENTITY]  # the default activation: none (the name from the registry)


def dense_forward(X, W, b, out, activation=_IDENTITY, param=None, Z=None):
    """out = f(X · W + b) with X (n, fan_in), W (fan_in, fan_out), b (fan_out,), out (n, fan_out).
    When ``Z`` is given it receives the pre-activation X · W + b. Returns out.

    One pass: the bias is pre-filled into the output and the GEMM accumulates onto it (beta = 1);
    the activation is then applied in place."""
    cdef int code = _act_code(activation)
    cdef int kind = _check_dense(X, W, b, out, Z)
    cdef Py_ssize_t n = _dim(X, 0), k = _dim(X, 1), m = _dim(W, 1)
    cdef double p
    gamma = _act_param(code, param, kind, m, &p)
    _disjoint(out, "out", gamma, "param")
    _disjoint(Z, "Z", gamma, "param")
    cdef void* xp = _ptr(X)
    cdef void* wp = _ptr(W)
    cdef void* bp = _ptr(b)
    cdef void* op = _ptr(out)
    cdef void* zp = _ptr(Z) if Z is not None else op
    cdef void* gp = _ptr(gamma)
    with nogil:
        if kind == KIND_F32:
            _dense_forward(<float*>xp, <float*>wp, <float*>bp, <float*>zp, <float*>op, n, k, m, code,
                           <float>p, <float*>gp)
        else:
            _dense_forward(<double*>xp, <double*>wp, <double*>bp, <double*>zp, <double*>op, n, k, m,
                           code, <double>p, <double*>gp)
    return out


def delta_backward(delta, W, A, Z, out, activation, param=None):
    """The delta recursion: out = f'(Z) ⊙ (delta · Wᵀ), with delta (n, fan_out) the next layer's error
    term, W (fan_in, fan_out) the next layer's weights, A = f(Z) (n, fan_in) this layer's output."""
    cdef int kind = _check(delta, "delta", KIND_ANY, 2)
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
    cdef int code = _act_code(activation)
    _check_elementwise(code)
    cdef double p
    gamma = _check_derivative_inputs(code, None, A, Z, out, param, kind, &p)
    cdef Py_ssize_t n = _dim(delta, 0), k = _dim(W, 0), m = _dim(W, 1)
    cdef void* dp = _ptr(delta)
    cdef void* wp = _ptr(W)
    cdef void* op = _ptr(out)
    with nogil:
        if kind == KIND_F32:
            _gemm(False, True, n, k, m, <float>1, <float*>dp, m, <float*>wp, m, <float>0, <float*>op, k)
        else:
            _gemm(False, True, n, k, m, <double>1, <double*>dp, m, <double*>wp, m, <double>0,
                  <double*>op, k)
    return _run_backprop(code, kind, p, gamma, A, Z, out)


def weight_gradient(A_prev, delta, W, dW, db, l2=0.0, scale=None):
    """dW = scale · A_prevᵀ · delta + l2 · W,  db = scale · Σ_rows delta;  scale defaults to 1/n.

    The L2 term is fused: dW is pre-filled with l2·W and the GEMM accumulates onto it (beta = 1)."""
    cdef int kind = _check_weight_update(A_prev, delta, W, dW, "dW", db, "db")
    cdef Py_ssize_t n = _dim(A_prev, 0), k = _dim(A_prev, 1), m = _dim(delta, 1)
    cdef double s = (1.0 / n if n else 0.0) if scale is None else float(scale)
    cdef double lam = float(l2)
    cdef void* ap = _ptr(A_prev)
    cdef void* dp = _ptr(delta)
    cdef void* wp = _ptr(W)
    cdef void* gwp = _ptr(dW)
    cdef void* gbp = _ptr(db)
    with nogil:
        if kind == KIND_F32:
            _weight_grad(<float*>ap, <float*>dp, <float*>wp, <float*>gwp, <float*>gbp, n, k, m,
                         <float>s, <float>lam, False)
        else:
            _weight_grad(<double*>ap, <double*>dp, <double*>wp, <double*>gwp, <double*>gbp, n, k, m,
                         <double>s, <double>lam, False)
    return dW, db


def prelu_gamma_gradient(G, Z, out, scale=None):
    """out_j = scale · Σ_i G[i, j] · min(0, Z[i, j]): ∂L/∂γ for PReLU slopes; scale defaults to 1/n."""
    cdef int kind = _check(G, "G", KIND_ANY, 2)
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
        if kind == KIND_F32:
            _prelu_grad(<float*>gp, <float*>zp, <float*>op, n, m, <float>s, False)
        else:
            _prelu_grad(<double*>gp, <double*>zp, <double*>op, n, m, <double>s, False)
    return out


def sgd_weight_update(A_prev, delta, W, b, lr, l2=0.0):
    """Plain SGD step of one layer from its error term, fused into one GEMM:
    W ← (1 − lr·l2) W − (lr/n) A_prevᵀ δ   (alpha = −lr/n, beta = 1 − lr·l2),
    b ← b − (lr/n) Σ_rows δ."""
    cdef int kind = _check_weight_update(A_prev, delta, W, W, "W", b, "b")
    cdef Py_ssize_t n = _dim(A_prev, 0), k = _dim(A_prev, 1), m = _dim(delta, 1)
    if n == 0:
        return W, b
    cdef double alpha = -float(lr) / n, beta = 1.0 - float(lr) * float(l2)
    cdef void* ap = _ptr(A_prev)
    cdef void* dp = _ptr(delta)
    cdef void* wp = _ptr(W)
    cdef void* bp = _ptr(b)
    with nogil:
        if kind == KIND_F32:
            _gemm(True, False, k, m, n, <float>alpha, <float*>ap, k, <float*>dp, m, <float>beta,
                  <float*>wp, m)
            _colsum(<float*>dp, <float*>bp, n, m, <float>alpha, <float>1)
        else:
            _gemm(True, False, k, m, n, alpha, <double*>ap, k, <double*>dp, m, beta, <double*>wp, m)
            _colsum(<double*>dp, <double*>bp, n, m, alpha, <double>1)
    return W, b
