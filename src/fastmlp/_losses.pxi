# Losses: the sum over rows of L_i (accumulated in double), and δ_i = ∂L_i/∂(the loss's input) written to
# D (D may be the input itself); per-row sample weights w_i scale both L_i and δ_i. The Python entry
# points return the mean over rows. Included by _kernels.pyx.

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


cdef double _exp_poisson(const floating* Z, const floating* Y, floating* D, const floating* sw,
                         Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    """Half the Poisson deviance of the mean μ = e^z from its log z (the exp output's pre-activation):
    L_i = Σ_j μ − y z + y log y − y (y log y = 0 at y = 0; y >= 0 assumed);  δ = μ − Y (the exp/Poisson
    pair is canonical: ∂L/∂z = μ − y)."""
    cdef Py_ssize_t i, j
    cdef floating z, y, mu, w
    cdef double total = 0, row, yd
    for i in range(n):
        w = 1 if sw == NULL else sw[i]
        row = 0
        for j in range(m):
            z = Z[i * m + j]
            y = Y[i * m + j]
            mu = _exp(z)
            yd = y
            row += (<double>mu - yd * z - yd) + (yd * log(yd) if yd > 0 else 0.0)
            D[i * m + j] = w * (mu - y)
        total += w * row
    return total


cdef double _loss_rows(int loss, const floating* Z, const Py_ssize_t* labels, const floating* Y,
                       floating* D, const floating* sw, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    """Σ_rows L_i of the loss with code ``loss`` (labels for cross-entropy, Y for the others), δ into D."""
    if loss == LOSS_CROSS_ENTROPY:
        return _softmax_ce(Z, labels, D, sw, n, m)
    elif loss == LOSS_BINARY_CROSS_ENTROPY:
        return _sigmoid_bce(Z, Y, D, sw, n, m)
    elif loss == LOSS_POISSON:
        return _exp_poisson(Z, Y, D, sw, n, m)
    return _squared_error(Z, Y, D, sw, n, m)


# ---- Python entry points ----------------------------------------------------------------------------

cdef double _run_loss(int loss, int kind, object Z, object labels, object Y, object delta,
                      object sample_weight) except? -1:
    """The mean over rows of a loss on checked arguments, without the GIL."""
    cdef Py_ssize_t n = _dim(Z, 0), m = _dim(Z, 1)
    cdef void* zp = _ptr(Z)
    cdef Py_ssize_t* lp = <Py_ssize_t*>_ptr(labels)
    cdef void* yp = _ptr(Y)
    cdef void* dp = _ptr(delta)
    cdef void* wp = _ptr(sample_weight)
    cdef double total
    with nogil:
        if kind == KIND_F32:
            total = _loss_rows(loss, <float*>zp, lp, <float*>yp, <float*>dp, <float*>wp, n, m)
        else:
            total = _loss_rows(loss, <double*>zp, lp, <double*>yp, <double*>dp, <double*>wp, n, m)
    return total / n if n else 0.0


cdef double _float_target_loss(int loss, str zname, object Z, object Y, object delta,
                               object sample_weight) except? -1:
    """A loss with float targets Y of Z's shape: every argument checked, then run. delta may be Y only for
    squared error (the NumPy twins of the others read Y after writing delta)."""
    cdef int kind = _check_loss_args(zname, Z, delta, sample_weight)
    _check_like(Y, "Y", Z, zname, kind)
    _disjoint(delta, "delta", Y, "Y", loss == LOSS_SQUARED_ERROR)
    return _run_loss(loss, kind, Z, None, Y, delta, sample_weight)


def softmax_cross_entropy(Z, labels, delta, sample_weight=None):
    """L_i = logsumexp(Z_i) − Z_i[y_i];  δ_i = softmax(Z_i) − onehot(y_i). Returns mean_i L_i.
    ``delta`` may be Z. labels: intp array (n,) with values in [0, C)."""
    cdef int kind = _check_loss_args("Z", Z, delta, sample_weight)
    _check_labels(labels, _dim(Z, 0), _dim(Z, 1))
    _disjoint(delta, "delta", labels, "labels")  # labels overwritten under the loop: out-of-bounds reads
    return _run_loss(LOSS_CROSS_ENTROPY, kind, Z, labels, None, delta, sample_weight)


def sigmoid_cross_entropy(Z, Y, delta, sample_weight=None):
    """Binary cross-entropy from logits, summed over outputs:
    L_i = Σ_j max(z,0) − z·y + log(1 + exp(−|z|));  δ = sigmoid(Z) − Y. Returns mean_i L_i."""
    return _float_target_loss(LOSS_BINARY_CROSS_ENTROPY, "Z", Z, Y, delta, sample_weight)


def squared_error(Yhat, Y, delta, sample_weight=None):
    """L_i = ½ ‖Ŷ_i − Y_i‖² (summed over outputs);  δ = Ŷ − Y. Returns mean_i L_i."""
    return _float_target_loss(LOSS_SQUARED_ERROR, "Yhat", Yhat, Y, delta, sample_weight)


def poisson_loss(Z, Y, delta, sample_weight=None):
    """Half the Poisson deviance of the mean μ = exp(Z), from the exp output's pre-activation Z, summed
    over outputs: L_i = Σ_j μ − y·z + y·log y − y (y·log y = 0 at y = 0; targets Y >= 0);  δ = μ − Y.
    Returns mean_i L_i. ``delta`` may be Z; μ overflows to inf for huge Z."""
    return _float_target_loss(LOSS_POISSON, "Z", Z, Y, delta, sample_weight)
