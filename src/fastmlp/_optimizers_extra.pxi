# Optimizers beyond SGD/momentum/Adam (RMSprop, AdamW, iRprop⁻), the L1 penalty and gradient clipping:
# flat-vector kernels, their Python entry points, and the network-level pieces a step adds when these
# options are on (nothing here runs when they are off). Included by _kernels.pyx after _optimizers.pxi.

cdef void _rmsprop(floating* theta, const floating* g, floating* v, Py_ssize_t P, double lr, double rho,
                   double eps) noexcept nogil:
    """v ← ρ v + (1−ρ) g²;  θ ← θ − lr · g / (√v + ε)."""
    cdef Py_ssize_t i
    cdef floating gi, fr = <floating>rho, flr = <floating>lr, feps = <floating>eps
    for i in range(P):
        gi = g[i]
        v[i] = fr * v[i] + (1 - fr) * gi * gi
        theta[i] = theta[i] - flr * gi / (_sqrt(v[i]) + feps)


cdef void _scale(floating* x, Py_ssize_t P, double factor) noexcept nogil:
    """x ← factor · x (AdamW's decoupled decay: factor = 1 − lr · weight_decay)."""
    cdef Py_ssize_t i
    cdef floating f = <floating>factor
    for i in range(P):
        x[i] = f * x[i]


cdef void _adamw(floating* theta, const floating* g, floating* m, floating* v, Py_ssize_t P, double lr,
                 double b1, double b2, double eps, double wd, long long t) noexcept nogil:
    """θ ← (1 − lr·wd) θ, then Adam's step with g, element by element (g may be θ itself: each g[i] is
    read before θ[i] is written)."""
    cdef Py_ssize_t i
    cdef floating gi, fb1 = <floating>b1, fb2 = <floating>b2
    cdef floating step = <floating>(lr / (1.0 - pow(b1, <double>t)))
    cdef floating c2 = <floating>(1.0 / (1.0 - pow(b2, <double>t)))
    cdef floating feps = <floating>eps, decay = <floating>(1.0 - lr * wd)
    for i in range(P):
        gi = g[i]
        m[i] = fb1 * m[i] + (1 - fb1) * gi
        v[i] = fb2 * v[i] + (1 - fb2) * gi * gi
        theta[i] = decay * theta[i] - step * m[i] / (_sqrt(v[i] * c2) + feps)


cdef void _rprop(floating* theta, const floating* g, floating* prev, floating* step, Py_ssize_t P,
                 double lr, double eta_plus, double eta_minus, double step_min,
                 double step_max) noexcept nogil:
    """iRprop⁻: per element, s = g·g₋; Δ ← min(η⁺Δ, Δmax) if s > 0, Δ ← max(η⁻Δ, Δmin) and g ← 0 if s < 0;
    θ ← θ − sign(g)·Δ;  g₋ ← g. A step size of 0 is one not started yet: it starts at lr."""
    cdef Py_ssize_t i
    cdef floating gi, s, d
    cdef floating ep = <floating>eta_plus, em = <floating>eta_minus
    cdef floating smin = <floating>step_min, smax = <floating>step_max, d0 = <floating>lr
    for i in range(P):
        gi = g[i]
        d = step[i]
        if d == 0:
            d = d0
        s = gi * prev[i]
        if s > 0:
            d = d * ep
            d = smax if d > smax else d
        elif s < 0:
            d = d * em
            d = smin if d < smin else d
            gi = 0
        step[i] = d
        prev[i] = gi
        if gi > 0:
            theta[i] = theta[i] - d
        elif gi < 0:
            theta[i] = theta[i] + d


cdef void _opt_step_extra(OptC* opt, floating* theta, const floating* g, Py_ssize_t P) noexcept nogil:
    """The update of the optimizers of this file (AdamW: the Adam part; its decay is applied by the
    caller, to the weights of a network or to the whole vector of ``adamw_update``)."""
    if opt.code == OPT_RMSPROP:
        _rmsprop(theta, g, <floating*>opt.s1, P, opt.lr, opt.rho, opt.eps)
    elif opt.code == OPT_ADAMW:
        _adam(theta, g, <floating*>opt.s1, <floating*>opt.s2, P, opt.lr, opt.b1, opt.b2, opt.eps, opt.t)
    elif opt.code == OPT_RPROP:
        _rprop(theta, g, <floating*>opt.s1, <floating*>opt.s2, P, opt.lr, opt.eta_plus, opt.eta_minus,
               opt.step_min, opt.step_max)


# ---- L1 and clipping over a network's gradient -----------------------------------------------------

cdef double _l1_term(NetC* net, floating* dummy, double l1) noexcept nogil:
    """l1 · Σ_l Σ |W(l)| (weights only)."""
    cdef int l
    cdef Py_ssize_t i
    cdef double s = 0
    cdef floating* theta = <floating*>net.theta
    if l1 == 0:
        return 0.0
    for l in range(net.L):
        for i in range(net.w_off[l], net.b_off[l]):
            s += _fabs(theta[i])
    return l1 * s


cdef void _add_l1_grad(NetC* net, floating* dummy, double l1) noexcept nogil:
    """grad += l1 · sign(W) on the weights (sign(0) = 0: the subgradient that keeps zeros at zero)."""
    cdef int l
    cdef Py_ssize_t i
    cdef floating* theta = <floating*>net.theta
    cdef floating* grad = <floating*>net.grad
    cdef floating lam = <floating>l1, w
    if l1 == 0:
        return
    for l in range(net.L):
        for i in range(net.w_off[l], net.b_off[l]):
            w = theta[i]
            if w > 0:
                grad[i] = grad[i] + lam
            elif w < 0:
                grad[i] = grad[i] - lam


cdef void _clip(floating* g, Py_ssize_t P, double clip_norm, double clip_value) noexcept nogil:
    """g ← clip(g, −clip_value, clip_value) (when clip_value > 0), then g ← g · clip_norm / ‖g‖₂ when
    ‖g‖₂ > clip_norm > 0 (the norm over the whole vector: every layer's weights, biases and slopes)."""
    cdef Py_ssize_t i
    cdef double s = 0, scale
    cdef floating c = <floating>clip_value
    if clip_value > 0:
        for i in range(P):
            if g[i] > c:
                g[i] = c
            elif g[i] < -c:
                g[i] = -c
    if clip_norm > 0:
        for i in range(P):
            s += <double>g[i] * g[i]
        s = sqrt(s)
        if s > clip_norm:
            scale = clip_norm / s
            for i in range(P):
                g[i] = <floating>(g[i] * scale)


cdef inline bint _opt_plain(OptC* opt) noexcept nogil:
    """True when a step needs nothing of this file (no L1, no clipping, not AdamW): the SGD step may stay
    fused into the weight-gradient GEMM."""
    return opt.l1 == 0 and opt.clip_norm == 0 and opt.clip_value == 0 and opt.code != OPT_ADAMW


cdef void _net_grad_extra(NetC* net, OptC* opt, floating* dummy) noexcept nogil:
    """After the gradient of the data loss and L2: add L1's, clip, and apply AdamW's decoupled decay to the
    weights (θ is decayed before the Adam step reads it; the gradient was taken at the old θ)."""
    cdef int l
    cdef Py_ssize_t w0
    if net.n_params == 0:
        return
    if opt.l1 != 0:
        _add_l1_grad(net, dummy, opt.l1)
    if opt.clip_norm > 0 or opt.clip_value > 0:
        _clip(<floating*>net.grad, net.n_params, opt.clip_norm, opt.clip_value)  # dummy's type
    if opt.code == OPT_ADAMW and opt.wd != 0:
        for l in range(net.L):
            w0 = net.w_off[l]
            _scale(<floating*>net.theta + w0, net.b_off[l] - w0, 1.0 - opt.lr * opt.wd)


cdef void _opt_fill_extra(OptC* o, object opt) except *:
    """The struct's fields of this file from an _netspec.Optimizer (0 where it has none: off; an
    optimizer pickled before these options existed has none). Three reads for the older optimizers: the
    per-call cost of a one-row train_step stays what it was."""
    o.l1 = getattr(opt, "l1", 0.0)
    o.clip_norm = getattr(opt, "clip_norm", 0.0) or 0.0
    o.clip_value = getattr(opt, "clip_value", 0.0) or 0.0
    if o.code > OPT_ADAM:
        o.rho = opt.rho
        o.wd = opt.weight_decay
        o.eta_plus, o.eta_minus = opt.eta_plus, opt.eta_minus
        o.step_min, o.step_max = opt.step_min, opt.step_max
    else:
        o.rho = o.wd = o.eta_plus = o.eta_minus = o.step_min = o.step_max = 0


# ---- Python entry points ----------------------------------------------------------------------------

def rmsprop_update(param, grad, v, lr, rho, eps):
    """RMSprop: v ← ρ v + (1−ρ) g²;  param ← param − lr · g / (√v + ε). All flat, one dtype; in place."""
    cdef int kind = _check_flat(param, grad, [("v", v)])
    cdef Py_ssize_t P = _dim(param, 0)
    cdef double flr = float(lr), r = float(rho), e = float(eps)
    cdef void* tp = _ptr(param)
    cdef void* gp = _ptr(grad)
    cdef void* vp = _ptr(v)
    with nogil:
        if kind == KIND_F32:
            _rmsprop(<float*>tp, <float*>gp, <float*>vp, P, flr, r, e)
        else:
            _rmsprop(<double*>tp, <double*>gp, <double*>vp, P, flr, r, e)
    return param


def adamw_update(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, t):
    """AdamW step number t ≥ 1 (decoupled weight decay, Loshchilov & Hutter): param ← (1 − lr·weight_decay)
    · param, then Adam's step with g (the gradient at the old param). Decays every element given."""
    cdef int kind = _check_flat(param, grad, [("m", m), ("v", v)])
    t = _int_arg(t, "t: the Adam step number must be an integer")
    if t < 1:
        raise ValueError(f"t: Adam step count starts at 1, got {t}")
    if t > 2 ** 62:
        raise ValueError(f"t: Adam step count {t} is out of range")
    cdef Py_ssize_t P = _dim(param, 0)
    cdef double flr = float(lr), b1 = float(beta1), b2 = float(beta2), e = float(eps)
    cdef double wd = float(weight_decay)
    cdef long long tt = t
    cdef void* tp = _ptr(param)
    cdef void* gp = _ptr(grad)
    cdef void* mp = _ptr(m)
    cdef void* vp = _ptr(v)
    with nogil:
        if kind == KIND_F32:
            _adamw(<float*>tp, <float*>gp, <float*>mp, <float*>vp, P, flr, b1, b2, e, wd, tt)
        else:
            _adamw(<double*>tp, <double*>gp, <double*>mp, <double*>vp, P, flr, b1, b2, e, wd, tt)
    return param


def rprop_update(param, grad, prev, step, lr, eta_plus=1.2, eta_minus=0.5, step_min=1e-6, step_max=50.0):
    """iRprop⁻ (Igel & Hüsken): per element s = g·g₋;  s > 0: Δ ← min(η⁺Δ, Δmax);  s < 0: Δ ← max(η⁻Δ, Δmin)
    and g ← 0;  param ← param − sign(g)·Δ;  g₋ ← g. ``prev`` (g₋) and ``step`` (Δ) start at 0 (a zero Δ
    starts at ``lr``). Meant for full-batch gradients. All flat, one dtype; in place."""
    cdef int kind = _check_flat(param, grad, [("prev", prev), ("step", step)])
    cdef Py_ssize_t P = _dim(param, 0)
    cdef double flr = float(lr), ep = float(eta_plus), em = float(eta_minus)
    cdef double smin = float(step_min), smax = float(step_max)
    cdef void* tp = _ptr(param)
    cdef void* gp = _ptr(grad)
    cdef void* pp = _ptr(prev)
    cdef void* sp = _ptr(step)
    with nogil:
        if kind == KIND_F32:
            _rprop(<float*>tp, <float*>gp, <float*>pp, <float*>sp, P, flr, ep, em, smin, smax)
        else:
            _rprop(<double*>tp, <double*>gp, <double*>pp, <double*>sp, P, flr, ep, em, smin, smax)
    return param


def _apply_update_extra(theta, grad, opt, code, t):
    if code == OPT_RMSPROP:
        rmsprop_update(theta, grad, opt.state1, opt.lr, opt.rho, opt.eps)
    elif code == OPT_ADAMW:
        adamw_update(theta, grad, opt.state1, opt.state2, opt.lr, opt.beta1, opt.beta2, opt.eps,
                     opt.weight_decay, t)
    else:
        rprop_update(theta, grad, opt.state1, opt.state2, opt.lr, opt.eta_plus, opt.eta_minus,
                     opt.step_min, opt.step_max)
