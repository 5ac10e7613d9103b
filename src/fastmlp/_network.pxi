# A whole network: forward, loss, gradient, training step and epoch as single nogil calls over
# preallocated buffers, and the Network class that owns them. Included by _kernels.pyx.

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
    void** A         # A[0]: gathered input rows; A[l]: output of layer l (the output's Z for CE/BCE/Poisson)
    void** Z         # pre-activations for layers that need them, else NULL
    void** D         # D[l]: error term of layer l
    Py_ssize_t* lbuf # gathered labels
    void* ybuf       # gathered float targets
    void* wbuf       # gathered sample weights
    # dropout (_dropout.pxi): rates per layer, mask and dropped-output buffers per layer, the counter-based
    # generator's key and position; ``training`` is set only inside a training step
    double* drop     # NULL: no dropout anywhere
    void** M
    void** AD
    uint64_t rng_key
    uint64_t rng_ctr
    bint training


cdef void _net_forward(NetC* net, const floating* X, Py_ssize_t n, bint predict,
                       floating* final) noexcept nogil:
    """Forward n rows. Training mode leaves the output layer's pre-activation in A[L] for the losses with
    their own output (cross-entropy, binary cross-entropy, Poisson: computed from it); predict mode
    applies the output activation and writes the last layer into ``final`` when given."""
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
        if l == L - 1 and net.loss != LOSS_SQUARED_ERROR and not predict:
            act = ACT_IDENTITY
        _dense_forward(prev, theta + net.w_off[l], theta + net.b_off[l], z, out, n, k, m, act,
                       <floating>net.actp[l], theta + net.g_off[l] if net.g_off[l] >= 0 else NULL)
        prev = out
        if net.training and net.drop != NULL and net.drop[l] > 0:
            prev = _dropout_forward(net, l, out, n)


cdef double _net_loss(NetC* net, floating* Aout, Py_ssize_t n, const Py_ssize_t* labels,
                      const floating* Y, const floating* sw) noexcept nogil:
    """Summed data loss of n rows after a training-mode forward; the loss's δ (or ∂L/∂A for squared
    error) goes to D[L]."""
    return _loss_rows(net.loss, Aout, labels, Y, <floating*>net.D[net.L], sw, n, net.sizes[net.L])


cdef double _net_backward(NetC* net, const floating* X, Py_ssize_t n, const Py_ssize_t* labels,
                          const floating* Y, const floating* sw, double scale, int mode,
                          double lr, double l2) noexcept nogil:
    """Backpropagate n rows after _net_forward (training mode). Returns the summed data loss.
    mode GRAD_SET: grad = scale·∇;  GRAD_ACCUMULATE: grad += scale·∇;  GRAD_SGD_STEP: fused plain SGD
    (W, b updated in place right after their δ below is formed; PReLU slopes get their gradient in grad,
    applied by the caller)."""
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
    cdef bint acc = mode == GRAD_ACCUMULATE
    loss = _net_loss(net, Aout, n, labels, Y, sw)
    if net.loss == LOSS_SQUARED_ERROR:
        if net.act[L - 1] != ACT_IDENTITY:
            gam = theta + net.g_off[L - 1] if net.g_off[L - 1] >= 0 else NULL
            if gam != NULL:
                _prelu_grad(Dl, <floating*>net.Z[L], grad + net.g_off[L - 1], n, dout, fscale, acc)
            _act_backprop_par(net.act[L - 1], <floating>net.actp[L - 1], gam, Aout,
                          <floating*>net.Z[L], Dl, n, dout)
    for l in range(L - 1, -1, -1):
        k = net.sizes[l]
        m = net.sizes[l + 1]
        Dl = <floating*>net.D[l + 1]
        Aprev = X if l == 0 else <floating*>net.A[l]
        if l > 0 and net.training and net.drop != NULL and net.drop[l - 1] > 0:
            Aprev = <floating*>net.AD[l]  # the dropped activations the layer saw
        if l > 0:
            # δ(l) = f'(Z(l)) ⊙ (δ(l+1) W(l+1)ᵀ), formed before W(l+1) is touched.
            Dp = <floating*>net.D[l]
            _gemm(False, True, n, k, m, <floating>1, Dl, m, theta + net.w_off[l], m, <floating>0, Dp, k)
            if Aprev != <floating*>net.A[l]:
                _dropout_backward(net, l - 1, Dp, n)
            if net.g_off[l - 1] >= 0:
                _prelu_grad(Dp, <floating*>net.Z[l], grad + net.g_off[l - 1], n, k, fscale, acc)
            _act_backprop_par(net.act[l - 1], <floating>net.actp[l - 1],
                          theta + net.g_off[l - 1] if net.g_off[l - 1] >= 0 else NULL,
                          <floating*>net.A[l], <floating*>net.Z[l], Dp, n, k)
        if mode == GRAD_SGD_STEP:
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


cdef void _net_predict(NetC* net, const floating* X, Py_ssize_t n, floating* out) noexcept nogil:
    """out (n, d_out) = the network's output on X (n, d_in), in chunks of max_batch rows."""
    cdef Py_ssize_t s = 0, e, d = net.sizes[0], dout = net.sizes[net.L], B = net.max_batch
    while s < n:
        e = s + B if s + B < n else n
        _net_forward(net, X + s * d, e - s, True, out + s * dout)
        s = e


cdef double _net_total(NetC* net, const floating* X, Py_ssize_t n, const Py_ssize_t* labels,
                       const floating* Y, const floating* sw, bint gradient, double l2) noexcept nogil:
    """The summed data loss of the n rows of X, in chunks of max_batch rows; with ``gradient``, the
    gradient of the mean loss + l2/2 Σ‖W‖² into grad. Targets: labels (cross-entropy) or Y."""
    cdef Py_ssize_t s = 0, e, d = net.sizes[0], dout = net.sizes[net.L], B = net.max_batch
    cdef double total = 0
    while s < n:
        e = s + B if s + B < n else n
        _net_forward(net, X + s * d, e - s, False, <floating*>NULL)
        if gradient:
            total += _net_backward(net, X + s * d, e - s, labels + s if labels != NULL else NULL,
                                   Y + s * dout if Y != NULL else NULL, sw + s if sw != NULL else NULL,
                                   1.0 / n, GRAD_SET if s == 0 else GRAD_ACCUMULATE, 0.0, 0.0)
        else:
            total += _net_loss(net, <floating*>net.A[net.L], e - s, labels + s if labels != NULL else NULL,
                               Y + s * dout if Y != NULL else NULL, sw + s if sw != NULL else NULL)
        s = e
    if gradient:
        _add_l2_grad(net, <floating*>NULL, l2)
    return total


cdef double _net_step(NetC* net, OptC* opt, const floating* X, Py_ssize_t n, const Py_ssize_t* labels,
                      const floating* Y, const floating* sw) noexcept nogil:
    """One optimizer step on n rows; returns the batch's mean loss + l2/2 Σ‖W‖² (before the step)."""
    cdef double reg = _l2_term(net, <floating*>NULL, opt.l2)
    cdef double loss
    cdef int l
    cdef Py_ssize_t j, g0
    cdef floating* theta = <floating*>net.theta
    cdef floating* grad = <floating*>net.grad
    cdef bint plain = _opt_plain(opt)
    if not plain:
        reg += _l1_term(net, <floating*>NULL, opt.l1)
    net.training = net.drop != NULL
    _net_forward(net, X, n, False, <floating*>NULL)
    opt.t += 1
    if opt.code == OPT_SGD and plain:
        loss = _net_backward(net, X, n, labels, Y, sw, 1.0 / n, GRAD_SGD_STEP, opt.lr, opt.l2)
        net.training = False
        for l in range(net.L):
            g0 = net.g_off[l]
            if g0 >= 0:
                for j in range(g0, g0 + net.sizes[l + 1]):
                    theta[j] = theta[j] - <floating>opt.lr * grad[j]
        return loss / n + reg
    loss = _net_backward(net, X, n, labels, Y, sw, 1.0 / n, GRAD_SET, 0.0, 0.0)
    net.training = False
    _add_l2_grad(net, <floating*>NULL, opt.l2)
    if not plain:
        _net_grad_extra(net, opt, <floating*>NULL)
    _opt_step_par(opt, theta, grad, net.n_params)
    return loss / n + reg


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


# ---- the Network class ------------------------------------------------------------------------------

cdef object _checked_spec(spec):
    """A NetSpec rebuilt from ``spec``'s sizes, activations, parameters and loss (so validated), after
    checking that ``spec``'s own codes, offsets and n_params agree with it: the C struct is filled from
    these, and a prelu code without slopes, a NEEDS_Z activation without its Z buffer or an offset past
    theta would be dereferenced without a check. Codes past this build's tables are refused too."""
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
    builtin = [c for c in ref.codes if c != CUSTOM_ACT]  # custom activations: fastmlp.Activation
    if (builtin and max(builtin) >= N_ACT) or ref.loss_code >= N_LOSS:
        raise ValueError(f"spec: {list(ref.activations)} with {ref.loss} is not in this build of "
                         "fastmlp._kernels (codes past the compiled _codes.h); rebuild the extension")
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
    cdef bint _custom  # a layer has a custom activation (fastmlp.Activation): its errors are raised after

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
        kind = _check(theta, "theta", KIND_ANY, 1, True)
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
            self.c.actp[l] = spec.params[l] if spec.codes[l] != CUSTOM_ACT else spec.activations[l].index
            self._custom = self._custom or spec.codes[l] == CUSTOM_ACT
            self.c.w_off[l] = spec.w_offsets[l]
            self.c.b_off[l] = spec.b_offsets[l]
            self.c.g_off[l] = spec.g_offsets[l]
        self.c.A[0] = self._buffer((B, spec.sizes[0]))
        for l in range(L):
            self.c.A[l + 1] = self._buffer((B, spec.sizes[l + 1]))
            self.c.D[l + 1] = self._buffer((B, spec.sizes[l + 1]))
            if spec.activations[l] in NEEDS_Z or getattr(spec.activations[l], "needs_z", False):
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

    # ---- checks ---------------------------------------------------------------------------------------

    cdef Py_ssize_t _check_X(self, X) except -1:
        if not self._ready:
            raise RuntimeError("Network: not initialised (construct it as Network(spec, theta, grad, max_batch))")
        _check(X, "X", self.kind, 2)
        if _dim(X, 1) != self.c.sizes[0]:
            raise ValueError(f"X: expected {self.c.sizes[0]} columns, got shape {X.shape}")
        return _dim(X, 0)

    cdef int _check_targets(self, y, sample_weight, Py_ssize_t n) except -1:
        """y: intp labels (n,) for cross-entropy, else a float matrix (n, d_out); sample_weight: None
        or (n,)."""
        cdef Py_ssize_t dout = self.c.sizes[self.c.L]
        if self.c.loss == LOSS_CROSS_ENTROPY:
            _check_labels(y, n, dout)
        else:
            _check(y, "y", self.kind, 2)
            if _dim(y, 0) != n or _dim(y, 1) != dout:
                raise ValueError(f"y: shape {y.shape}, expected {(n, dout)}")
        _check_sample_weight(sample_weight, n, self.kind)
        return 0

    cdef Py_ssize_t _check_data(self, X, y, sample_weight) except -1:
        """X, y and sample_weight of a call over all rows of X (loss, loss_and_grad): at least one row."""
        cdef Py_ssize_t n = self._check_X(X)
        self._check_targets(y, sample_weight, n)
        if n == 0:
            raise ValueError("X: no rows")
        return n

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
        code = _opt_code(opt)
        t = _int_arg(opt.t, "opt.t: the step count must be an integer")
        if t < 0 or t > 2 ** 62:
            raise ValueError(f"opt.t: the step count must be >= 0 (and at most 2**62), got {t}")
        self._check_writes(True)
        o.code = code
        o.lr, o.l2, o.mu = opt.lr, opt.l2, opt.momentum
        o.b1, o.b2, o.eps = opt.beta1, opt.beta2, opt.eps
        o.t = t
        o.s1 = o.s2 = NULL
        _opt_fill_extra(&o, opt)
        outs = [("theta", self.theta), ("grad", self.grad)]
        states = []
        if o.code != OPT_SGD:
            states.append(("opt.state1", opt.state1))
        if o.code == OPT_ADAM or o.code == OPT_ADAMW or o.code == OPT_RPROP:
            states.append(("opt.state2", opt.state2))
        for name, s in states:
            _check(s, name, self.kind, 1, True)
            if _dim(s, 0) != self.c.n_params:
                raise ValueError("opt: optimizer state does not match the network's parameters")
            for oname, a in outs:
                _disjoint(s, name, a, oname)
            outs.append((name, s))
        if states:
            o.s1 = _ptr(opt.state1)
        if len(states) == 2:
            o.s2 = _ptr(opt.state2)
        for iname, a in inputs:
            for oname, b in outs:
                _disjoint(b, oname, a, iname)
        return o

    # ---- calls ----------------------------------------------------------------------------------------

    def forward(self, X, out):
        """out = network output (softmax probabilities, sigmoid, or the output activation), in chunks."""
        cdef Py_ssize_t n = self._check_X(X), dout = self.c.sizes[self.c.L]
        _check(out, "out", self.kind, 2, True)
        if _dim(out, 0) != n or _dim(out, 1) != dout:
            raise ValueError(f"out: shape {out.shape}, expected {(n, dout)}")
        _disjoint(out, "out", X, "X")
        _disjoint(out, "out", self.theta, "theta")
        cdef void* xp = _ptr(X)
        cdef void* op = _ptr(out)
        with nogil:
            if self.kind == KIND_F32:
                _net_predict(&self.c, <float*>xp, n, <float*>op)
            else:
                _net_predict(&self.c, <double*>xp, n, <double*>op)
        if self._custom:
            _custom_raise()
        return out

    cdef double _total(self, X, y, sample_weight, bint gradient, double l2) except? -1:
        """_net_total on checked arguments: the summed loss over the rows of X (and the gradient)."""
        cdef Py_ssize_t n = _dim(X, 0)
        cdef bint ce = self.c.loss == LOSS_CROSS_ENTROPY
        cdef void* xp = _ptr(X)
        cdef Py_ssize_t* lp = <Py_ssize_t*>_ptr(y) if ce else NULL
        cdef void* yp = NULL if ce else _ptr(y)
        cdef void* wp = _ptr(sample_weight)
        cdef double total
        with nogil:
            if self.kind == KIND_F32:
                total = _net_total(&self.c, <float*>xp, n, lp, <float*>yp, <float*>wp, gradient, l2)
            else:
                total = _net_total(&self.c, <double*>xp, n, lp, <double*>yp, <double*>wp, gradient, l2)
        if self._custom:
            _custom_raise()
        return total

    def loss(self, X, y, sample_weight=None):
        """Mean data loss over all rows of X (no L2 term, no gradient)."""
        cdef Py_ssize_t n = self._check_data(X, y, sample_weight)
        return self._total(X, y, sample_weight, False, 0.0) / n

    def loss_and_grad(self, X, y, sample_weight=None, l2=0.0, l1=0.0):
        """R = mean loss + l2/2 Σ‖W‖² (+ l1 Σ|W|) over all rows of X (in chunks); its gradient into grad.
        Returns R."""
        cdef Py_ssize_t n = self._check_data(X, y, sample_weight)
        cdef double lam = float(l2), reg, lam1 = float(l1)
        self._check_writes(False)
        for iname, a in (("X", X), ("y", y), ("sample_weight", sample_weight)):
            _disjoint(self.grad, "grad", a, iname)
        cdef double total = self._total(X, y, sample_weight, True, lam)
        with nogil:
            if self.kind == KIND_F32:
                reg = _l2_term(&self.c, <float*>NULL, lam)
            else:
                reg = _l2_term(&self.c, <double*>NULL, lam)
        if lam1 != 0:
            reg += self._l1(lam1)
        return total / n + reg

    cdef double _l1(self, double l1) except? -1:
        """Add l1·sign(W) to grad; returns l1 Σ|W|."""
        cdef double r
        with nogil:
            if self.kind == KIND_F32:
                _add_l1_grad(&self.c, <float*>NULL, l1)
                r = _l1_term(&self.c, <float*>NULL, l1)
            else:
                _add_l1_grad(&self.c, <double*>NULL, l1)
                r = _l1_term(&self.c, <double*>NULL, l1)
        return r

    def set_dropout(self, rates, key):
        """Inverted dropout in training steps (``train_step``, ``train_epoch``; never in forward, loss or
        loss_and_grad): ``rates[l]`` in [0, 1) for the output of layer l (one per layer; the last must be
        0), masks drawn by a counter-based generator keyed by the integer ``key`` (its position starts at 0
        and advances by the mask's size at every dropped layer of every step). All rates 0: off."""
        cdef int l, L = self.c.L
        cdef Py_ssize_t B = self.c.max_batch
        if not self._ready:
            raise RuntimeError("Network: not initialised")
        r = np.array(rates, dtype=np.float64).ravel()
        if r.shape != (L,):
            raise ValueError(f"rates: expected {L} dropout rates (one per layer), got {r.shape[0]}")
        if not (np.isfinite(r).all() and (r >= 0).all() and (r < 1).all()) or r[L - 1] != 0:
            raise ValueError(f"rates: each must be in [0, 1) and the output layer's 0, got {r.tolist()}")
        key = _int_arg(key, "key: expected an integer")
        if not r.any():
            self.c.drop = NULL
            return
        M = np.zeros(L + 1, dtype=np.uintp)
        AD = np.zeros(L + 1, dtype=np.uintp)
        self._keep += [r, M, AD]
        self.c.M, self.c.AD = <void**>_ptr(M), <void**>_ptr(AD)
        for l in range(L):
            if r[l] > 0:
                self.c.M[l + 1] = self._buffer((B, self.spec.sizes[l + 1]))
                self.c.AD[l + 1] = self._buffer((B, self.spec.sizes[l + 1]))
        self.c.rng_key = <uint64_t>(key & 0xFFFFFFFFFFFFFFFF)
        self.c.rng_ctr = 0
        self.c.drop = <double*>_ptr(r)

    def full_batch_step(self, X, y, sample_weight, opt):
        """One optimizer step on the gradient of R over all rows of X (computed in chunks of max_batch
        rows: the workspace stays O(max_batch)); L1, clipping and AdamW's decay as in ``train_step``.
        Returns R before the step (iRprop⁻'s and L-BFGS's full-batch loop)."""
        cdef Py_ssize_t n = self._check_data(X, y, sample_weight)
        cdef OptC o = self._opt(opt, [("X", X), ("y", y), ("sample_weight", sample_weight)])
        cdef double total = self._total(X, y, sample_weight, True, o.l2), reg
        with nogil:
            if self.kind == KIND_F32:
                reg = _l2_term(&self.c, <float*>NULL, o.l2) + _l1_term(&self.c, <float*>NULL, o.l1)
                _net_grad_extra(&self.c, &o, <float*>NULL)
                o.t += 1
                _opt_step(&o, <float*>self.c.theta, <float*>self.c.grad, self.c.n_params)
            else:
                reg = _l2_term(&self.c, <double*>NULL, o.l2) + _l1_term(&self.c, <double*>NULL, o.l1)
                _net_grad_extra(&self.c, &o, <double*>NULL)
                o.t += 1
                _opt_step(&o, <double*>self.c.theta, <double*>self.c.grad, self.c.n_params)
        opt.t = o.t
        if self._custom:
            _custom_raise()
        return total / n + reg

    def train_step(self, X, y, sample_weight, opt):
        """One optimizer step on the minibatch X (n ≤ max_batch rows). Returns the batch's R."""
        cdef Py_ssize_t n = self._check_X(X)
        if n > self.c.max_batch:
            raise ValueError(f"X: {n} rows exceed the workspace's max_batch={self.c.max_batch}")
        if n == 0:
            raise ValueError("X: no rows")
        self._check_targets(y, sample_weight, n)
        cdef OptC o = self._opt(opt, [("X", X), ("y", y), ("sample_weight", sample_weight)])
        cdef bint ce = self.c.loss == LOSS_CROSS_ENTROPY
        cdef void* xp = _ptr(X)
        cdef Py_ssize_t* lp = <Py_ssize_t*>_ptr(y) if ce else NULL
        cdef void* yp = NULL if ce else _ptr(y)
        cdef void* wp = _ptr(sample_weight)
        cdef double r
        with nogil:
            if self.kind == KIND_F32:
                r = _net_step(&self.c, &o, <float*>xp, n, lp, <float*>yp, <float*>wp)
            else:
                r = _net_step(&self.c, &o, <double*>xp, n, lp, <double*>yp, <double*>wp)
        opt.t = o.t
        if self._custom:
            _custom_raise()
        return r

    def train_epoch(self, X, y, sample_weight, order, batch_size, opt):
        """Minibatch steps over the rows X[order] in that order (batch_size ≤ max_batch).
        Returns the mean over rows of the per-batch R (weighted by batch size)."""
        cdef Py_ssize_t n = self._check_X(X), d = self.c.sizes[0]
        batch_size = _int_arg(batch_size, "batch_size: expected an integer")
        if batch_size < 1 or batch_size > self.c.max_batch:
            raise ValueError(f"batch_size: must be in [1, {self.c.max_batch}], got {batch_size}")
        cdef Py_ssize_t bs = batch_size
        self._check_targets(y, sample_weight, n)
        if not isinstance(order, np.ndarray) or order.dtype != np.intp or order.ndim != 1 \
                or not order.flags.c_contiguous:
            raise TypeError("order: expected a C-contiguous 1-D array of dtype intp")
        cdef Py_ssize_t m = _dim(order, 0)
        if m and (order.min() < 0 or order.max() >= n):
            raise ValueError(f"order: row indices must lie in [0, {n})")
        # labels or row indices overwritten by a step would be read out of bounds by the next
        cdef OptC o = self._opt(opt, [("X", X), ("y", y), ("sample_weight", sample_weight),
                                      ("order", order)])
        cdef bint ce = self.c.loss == LOSS_CROSS_ENTROPY
        cdef void* xp = _ptr(X)
        cdef Py_ssize_t* lp = <Py_ssize_t*>_ptr(y) if ce else NULL
        cdef void* yp = NULL if ce else _ptr(y)
        cdef void* wp = _ptr(sample_weight)
        cdef Py_ssize_t* op = <Py_ssize_t*>_ptr(order)
        cdef double r
        with nogil:
            if self.kind == KIND_F32:
                r = _net_epoch(&self.c, &o, <float*>xp, d, lp, <float*>yp, <float*>wp, op, m, bs)
            else:
                r = _net_epoch(&self.c, &o, <double*>xp, d, lp, <double*>yp, <double*>wp, op, m, bs)
        opt.t = o.t
        if self._custom:
            _custom_raise()
        return r
