# Activations added after the fast-math set (selu, mish): plain libm loops, reached from the ``else`` of
# _act_forward / _act_backprop (_activations.pxi), so the existing branches stay untouched. Included by
# _kernels.pyx before _activations.pxi.

cdef double SELU_ALPHA = 1.6732632423543772848170429916717
cdef double SELU_LAMBDA = 1.0507009873554804934193349852946
cdef double MISH_CUT = 50.0  # above: mish(x) = x, mish'(x) = 1 to double precision (and e^2x overflows)


cdef void _act_forward_extra(int act, floating p, const floating* Z, floating* A, Py_ssize_t n,
                             Py_ssize_t m) noexcept nogil:
    """A = f(Z) for the activations of this file; A may be Z. A custom activation's p is its index."""
    cdef Py_ssize_t i, N = n * m
    cdef double x, u, q
    cdef floating lam = <floating>SELU_LAMBDA
    if act == ACT_SELU:  # λ·elu_α(x): the fast-math ELU, then one scaling pass
        if floating is float:
            fm_elu_f32_best(Z, A, N, <float>SELU_ALPHA)
        else:
            fm_elu_f64_best(Z, A, N, SELU_ALPHA)
        for i in range(N):
            A[i] = lam * A[i]
    elif act == ACT_MISH:  # x·tanh(softplus(x)) = x·n/(n + 2), n = e^x (e^x + 2): no cancellation for x < 0
        for i in range(N):
            x = Z[i]
            if x > MISH_CUT or x != x:
                A[i] = <floating>x
            else:
                u = exp(x)
                q = u * (u + 2.0)
                A[i] = <floating>(x * q / (q + 2.0))
    elif act == CUSTOM_ACT:
        _custom_call(p, Z, A, NULL, n, m, False)


cdef void _act_backprop_extra(int act, floating p, const floating* A, const floating* Z, floating* G,
                              Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    """G ← G ⊙ f'(z) for the activations of this file (selu from A, mish from Z, a custom one from
    either)."""
    cdef Py_ssize_t i, N = n * m
    cdef double x, u, q, d
    cdef floating a, lam = <floating>SELU_LAMBDA, lam_alpha = <floating>(SELU_LAMBDA * SELU_ALPHA)
    if act == ACT_SELU:  # λ for x > 0, else λα e^x = A + λα
        for i in range(N):
            a = A[i]
            G[i] = G[i] * (lam if a > 0 else a + lam_alpha)
    elif act == ACT_MISH:  # tanh(sp) + x·sech²(sp)·σ(x) = n/d + x·4u(1 + u)/d², d = n + 2
        for i in range(N):
            x = Z[i]
            if x > MISH_CUT:
                continue
            u = exp(x)
            q = u * (u + 2.0)
            d = q + 2.0
            G[i] = <floating>(G[i] * (q / d + x * (4.0 * u * (1.0 + u) / d) / d))
    elif act == CUSTOM_ACT:
        _custom_call(p, Z, <floating*>A, G, n, m, True)


# ---- custom activations: the user's NumPy functions, called with the GIL between the BLAS parts -------

cdef enum:
    CUSTOM_ACT = 1000  # fastmlp.custom.CUSTOM_CODE


cdef object _block(const floating* ptr, Py_ssize_t n, Py_ssize_t m):
    """A NumPy (n, m) view of a kernel buffer (no copy)."""
    if ptr == NULL:
        return None
    if floating is float:
        return np.asarray(<float[:n * m]><float*>ptr).reshape(n, m)
    else:
        return np.asarray(<double[:n * m]><double*>ptr).reshape(n, m)


cdef void _custom_call(floating p, const floating* Z, floating* A, floating* G, Py_ssize_t n,
                       Py_ssize_t m, bint backward) noexcept nogil:
    """Forward (A = f(Z)) or backward (G ← G ⊙ f'(z), from A or Z) of the custom activation number p. An
    error is recorded for the calling method to raise (fastmlp.custom.raise_pending) and the output is
    filled with NaN, so nothing downstream looks finite."""
    cdef Py_ssize_t i
    if n == 0 or m == 0:
        return
    with gil:
        try:
            act = _CUSTOM_LIVE[<Py_ssize_t>p]
            if backward:
                act.backprop_into(_block(A, n, m), _block(Z, n, m), _block(<const floating*>G, n, m))
            else:
                act.forward_into(_block(Z, n, m), _block(<const floating*>A, n, m))
        except BaseException as exc:
            _custom_record(exc)
            for i in range(n * m):
                if backward:
                    G[i] = NAN
                else:
                    A[i] = NAN
