# Flat parameter updates (SGD, momentum/Nesterov, Adam) over one vector, and their Python entry points;
# the OptC struct a Network step reads. Included by _kernels.pyx.

cdef struct OptC:
    int code
    double lr, l2, mu, b1, b2, eps
    long long t
    void* s1
    void* s2
    # _optimizers_extra.pxi: RMSprop's ρ, AdamW's decoupled weight decay, iRprop⁻'s factors and step
    # bounds, the L1 penalty and gradient clipping (0: off)
    double rho, wd, eta_plus, eta_minus, step_min, step_max, l1, clip_norm, clip_value


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


cdef void _opt_step(OptC* opt, floating* theta, const floating* g, Py_ssize_t P) noexcept nogil:
    """One step of the optimizer ``opt`` (its state vectors of P elements) on theta from gradient g;
    opt.t is the step's number (Adam's bias correction)."""
    if opt.code == OPT_ADAM:
        _adam(theta, g, <floating*>opt.s1, <floating*>opt.s2, P, opt.lr, opt.b1, opt.b2, opt.eps, opt.t)
    elif opt.code == OPT_MOMENTUM or opt.code == OPT_NESTEROV:
        _momentum(theta, g, <floating*>opt.s1, P, <floating>opt.lr, <floating>opt.mu,
                  opt.code == OPT_NESTEROV)
    elif opt.code > OPT_ADAM:
        _opt_step_extra(opt, theta, g, P)
    else:
        _sgd(theta, g, P, <floating>opt.lr)


# ---- Python entry points ----------------------------------------------------------------------------

cdef int _check_flat(param, grad, list states) except -1:
    cdef int kind = _check(param, "param", KIND_ANY, 1, True)
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
        if kind == KIND_F32:
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
        if kind == KIND_F32:
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
        if kind == KIND_F32:
            _adam(<float*>tp, <float*>gp, <float*>mp, <float*>vp, P, flr, b1, b2, e, tt)
        else:
            _adam(<double*>tp, <double*>gp, <double*>mp, <double*>vp, P, flr, b1, b2, e, tt)
    return param


def apply_update(theta, grad, opt):
    """One step of ``opt`` (an _netspec.Optimizer) on the flat vectors; increments opt.t (only once the
    step is done: a refused step leaves the step count, and so Adam's bias correction, as it was)."""
    code = _opt_code(opt)
    t = _int_arg(opt.t, "opt.t: the step count must be an integer") + 1
    if t < 1:
        raise ValueError(f"opt.t: the step count must be >= 0, got {opt.t}")
    if code == OPT_SGD:
        sgd_update(theta, grad, opt.lr)
    elif code == OPT_MOMENTUM or code == OPT_NESTEROV:
        momentum_update(theta, grad, opt.state1, opt.lr, opt.momentum, nesterov=code == OPT_NESTEROV)
    elif code > OPT_ADAM:
        _apply_update_extra(theta, grad, opt, code, t)
    else:
        adam_update(theta, grad, opt.state1, opt.state2, opt.lr, opt.beta1, opt.beta2, opt.eps, t)
    opt.t = t
