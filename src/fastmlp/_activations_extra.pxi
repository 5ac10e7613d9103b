# Activations added after the fast-math set (selu, mish): plain libm loops, reached from the ``else`` of
# _act_forward / _act_backprop (_activations.pxi), so the existing branches stay untouched. Included by
# _kernels.pyx before _activations.pxi.

cdef double SELU_ALPHA = 1.6732632423543772848170429916717
cdef double SELU_LAMBDA = 1.0507009873554804934193349852946
cdef double MISH_CUT = 50.0  # above: mish(x) = x, mish'(x) = 1 to double precision (and e^2x overflows)


cdef void _act_forward_extra(int act, const floating* Z, floating* A, Py_ssize_t N) noexcept nogil:
    """A = f(Z) for the activations of this file; A may be Z."""
    cdef Py_ssize_t i
    cdef double x, u, n
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
                n = u * (u + 2.0)
                A[i] = <floating>(x * n / (n + 2.0))


cdef void _act_backprop_extra(int act, const floating* A, const floating* Z, floating* G,
                              Py_ssize_t N) noexcept nogil:
    """G ← G ⊙ f'(z) for the activations of this file (selu from A, mish from Z)."""
    cdef Py_ssize_t i
    cdef double x, u, n, d
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
            n = u * (u + 2.0)
            d = n + 2.0
            G[i] = <floating>(G[i] * (n / d + x * (4.0 * u * (1.0 + u) / d) / d))
