# The public calls' fast lane: FastMLP.predict / predict_proba / partial_fit as one C call each when the
# input is already exactly what the kernels read. Included by _kernels.pyx.
#
# Contract: a lane function either does the whole call (every check the checked path makes, done in C
# while reading) or returns None having changed nothing; the caller then takes the checked path, which
# raises the precise error for a bad input. The lane never raises for bad data itself, so there is one
# place where each error message lives (validation.py and model.py).

from libc.math cimport isfinite

FAST_LANE = True


cdef inline bint _exact_array(object X, int kind, int ndim) noexcept:
    """X is a base ndarray (no subclass), aligned, native-endian, C-contiguous, ``ndim``-D, of the
    float dtype ``kind``: the kernels can read it in place."""
    if type(X) is not np.ndarray:
        return False
    cdef cnp.ndarray a = <cnp.ndarray>X
    if cnp.PyArray_NDIM(a) != ndim:
        return False
    cdef int want = cnp.NPY_FLOAT32 if kind == KIND_F32 else cnp.NPY_FLOAT64
    if cnp.PyArray_TYPE(a) != want:
        return False
    return cnp.PyArray_ISNOTSWAPPED(a) and cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_ISALIGNED(a)


cdef inline bint _ranges_overlap(const void* a, size_t an, const void* b, size_t bn) noexcept nogil:
    cdef const char* ca = <const char*>a
    cdef const char* cb = <const char*>b
    return an != 0 and bn != 0 and ca < cb + bn and cb < ca + an


cdef void _argmax_rows(const floating* P, Py_ssize_t* out, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    """out[i] = the first j with P[i, j] = max_j P[i, j] (NumPy's argmax on finite rows)."""
    cdef Py_ssize_t i, j, best
    cdef floating v
    for i in range(n):
        best = 0
        v = P[i * m]
        for j in range(1, m):
            if P[i * m + j] > v:
                v = P[i * m + j]
                best = j
        out[i] = best


def predict_fast(Network net, X, bint labels):
    """The network's output on X (n, d_in) as a new (n, d_out) array, or with ``labels`` its row-wise
    argmax as intp (n,); None when X is not exactly the kernels' input (a base, C-contiguous, 2-D array of
    the network's dtype and width, at least one row) or holds NaN/inf, or when the output is not finite.
    X and the output are checked in C while the GIL is released."""
    if not net._ready or net._custom or not _exact_array(X, net.kind, 2):
        return None  # (a custom activation's errors are raised by the checked path's Network.forward)
    cdef Py_ssize_t n = _dim(X, 0), d = net.c.sizes[0], dout = net.c.sizes[net.c.L]
    if n == 0 or _dim(X, 1) != d:
        return None
    cdef cnp.npy_intp shape[2]
    shape[0] = n
    shape[1] = dout
    out = cnp.PyArray_EMPTY(2, shape, cnp.NPY_FLOAT32 if net.kind == KIND_F32 else cnp.NPY_FLOAT64, 0)
    idx = cnp.PyArray_EMPTY(1, shape, cnp.NPY_INTP, 0) if labels else None
    cdef void* xp = _ptr(X)
    cdef void* op = _ptr(out)
    cdef Py_ssize_t* ip = <Py_ssize_t*>_ptr(idx)
    cdef bint ok
    with nogil:
        if net.kind == KIND_F32:
            ok = _all_finite_par(<float*>xp, n * d)
            if ok:
                _net_predict(&net.c, <float*>xp, n, <float*>op)
                ok = _all_finite_par(<float*>op, n * dout)
                if ok and labels:
                    _argmax_rows(<float*>op, ip, n, dout)
        else:
            ok = _all_finite_par(<double*>xp, n * d)
            if ok:
                _net_predict(&net.c, <double*>xp, n, <double*>op)
                ok = _all_finite_par(<double*>op, n * dout)
                if ok and labels:
                    _argmax_rows(<double*>op, ip, n, dout)
    if not ok:
        return None
    return idx if labels else out


cdef bint _map_labels(object y, Py_ssize_t n, object table, Py_ssize_t offset, Py_ssize_t n_classes,
                      Py_ssize_t* out) noexcept:
    """out[i] = the class index of label y[i]: table[y[i] − offset] (−1: not a class), or y[i] itself
    when ``table`` is None (the classes are 0..n_classes−1). False for labels that are not a base
    C-contiguous 1-D int64/int32 array of n, or an unseen label."""
    if type(y) is not np.ndarray:
        return False
    cdef cnp.ndarray a = <cnp.ndarray>y
    cdef int t = cnp.PyArray_TYPE(a)
    if cnp.PyArray_NDIM(a) != 1 or cnp.PyArray_DIM(a, 0) != n or not cnp.PyArray_IS_C_CONTIGUOUS(a) \
            or not cnp.PyArray_ISALIGNED(a) or not cnp.PyArray_ISNOTSWAPPED(a) \
            or (t != cnp.NPY_INT64 and t != cnp.NPY_INT32):
        return False
    cdef const Py_ssize_t* tab = NULL
    cdef Py_ssize_t span = n_classes, i, v
    if table is not None:
        tab = <const Py_ssize_t*>_ptr(table)
        span = _dim(table, 0)
    cdef const long long* y64 = <const long long*>cnp.PyArray_DATA(a)
    cdef const int* y32 = <const int*>cnp.PyArray_DATA(a)
    cdef bint ok = True
    with nogil:
        for i in range(n):
            v = <Py_ssize_t>(y64[i] if t == cnp.NPY_INT64 else y32[i]) - offset
            if v < 0 or v >= span:
                ok = False
                break
            if tab != NULL:
                v = tab[v]
                if v < 0:
                    ok = False
                    break
            out[i] = v
    return ok


cdef bint _lane_opt(Network net, object opt, OptC* o) except -1:
    """The optimizer as a struct for a lane step; False (the checked path decides) unless its state
    vectors are the network's size and dtype, writeable, and share no memory with theta or grad."""
    code = opt.code
    t = opt.t
    if type(code) is not int or not 0 <= code < N_OPT or code == OPT_RPROP or type(t) is not int \
            or not 0 <= t <= 2 ** 62:
        return False  # (iRprop⁻ steps on the full-batch gradient: Network.full_batch_step)
    o.code = code
    o.lr, o.l2, o.mu = opt.lr, opt.l2, opt.momentum
    o.b1, o.b2, o.eps = opt.beta1, opt.beta2, opt.eps
    o.t = t
    o.s1 = o.s2 = NULL
    _opt_fill_extra(o, opt)
    cdef size_t isz = sizeof(float) if net.kind == KIND_F32 else sizeof(double)
    cdef size_t nbytes = net.c.n_params * isz
    cdef int i, n_states = 0 if o.code == OPT_SGD else (2 if o.code == OPT_ADAM or o.code == OPT_ADAMW else 1)
    cdef void* p
    for i in range(n_states):
        s = opt.state1 if i == 0 else opt.state2
        if not _exact_array(s, net.kind, 1) or _dim(s, 0) != net.c.n_params \
                or not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>s):
            return False
        p = _ptr(s)
        if _ranges_overlap(p, nbytes, net.c.theta, nbytes) or _ranges_overlap(p, nbytes, net.c.grad, nbytes) \
                or (i == 1 and _ranges_overlap(p, nbytes, o.s1, nbytes)):
            return False
        if i == 0:
            o.s1 = p
        else:
            o.s2 = p
    return True


def step_fast(Network net, X, y, table, Py_ssize_t offset, opt, backup, Py_ssize_t max_rows):
    """One optimizer step on all n rows of X (1 <= n <= min(max_rows, max_batch), no sample weights), as the checked
    path's ``partial_fit`` with one batch does it. Targets: class labels (int64/int32 (n,), mapped through
    ``table``/``offset`` as in _map_labels) for softmax and single-output sigmoid networks; a float array
    of the model's dtype, (n, d_out) or (n,) for one output, for squared error.

    theta is copied into ``backup`` (n_params,) first; a step whose R or whose new parameters are not
    finite puts theta back from it and returns (R, whether the new parameters were finite) for the caller
    to report (opt's state vectors are then spent). Returns the batch's R = mean loss + l2/2 Σ‖W‖², or None (nothing changed) when an input is not exactly right, X or y
    holds NaN/inf, a label is not a class, or the loss has no lane (Poisson, multilabel)."""
    if not net._ready or net._custom or not _exact_array(X, net.kind, 2) \
            or not _exact_array(backup, net.kind, 1):
        return None
    cdef Py_ssize_t n = _dim(X, 0), d = net.c.sizes[0], dout = net.c.sizes[net.c.L], i
    cdef int loss = net.c.loss
    if n == 0 or n > max_rows or n > net.c.max_batch or _dim(X, 1) != d or _dim(backup, 0) != net.c.n_params:
        return None
    if not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>net.theta) or not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>backup):
        return None
    cdef size_t isz = sizeof(float) if net.kind == KIND_F32 else sizeof(double)
    cdef size_t pbytes = net.c.n_params * isz
    cdef void* xp = _ptr(X)
    cdef void* bp = _ptr(backup)
    cdef void* yp = NULL
    cdef Py_ssize_t* lp = NULL
    if table is not None and (not isinstance(table, np.ndarray) or table.dtype != np.intp
                              or table.ndim != 1 or not table.flags.c_contiguous):
        return None
    if loss == LOSS_CROSS_ENTROPY:
        if not _map_labels(y, n, table, offset, dout, net.c.lbuf):
            return None
        lp = net.c.lbuf
    elif loss == LOSS_BINARY_CROSS_ENTROPY and dout == 1:
        if not _map_labels(y, n, table, offset, 2, net.c.lbuf):
            return None
        yp = net.c.ybuf
        if net.kind == KIND_F32:
            for i in range(n):
                (<float*>yp)[i] = <float>net.c.lbuf[i]
        else:
            for i in range(n):
                (<double*>yp)[i] = <double>net.c.lbuf[i]
    elif loss == LOSS_SQUARED_ERROR:
        if not (_exact_array(y, net.kind, 2) and _dim(y, 0) == n and _dim(y, 1) == dout) \
                and not (dout == 1 and _exact_array(y, net.kind, 1) and _dim(y, 0) == n):
            return None
        yp = _ptr(y)
        if _ranges_overlap(yp, n * dout * isz, net.c.theta, pbytes) \
                or _ranges_overlap(yp, n * dout * isz, bp, pbytes):
            return None
    else:
        return None
    if _ranges_overlap(xp, n * d * isz, net.c.theta, pbytes) or _ranges_overlap(xp, n * d * isz, bp, pbytes) \
            or _ranges_overlap(bp, pbytes, net.c.theta, pbytes) or _ranges_overlap(bp, pbytes, net.c.grad, pbytes):
        return None
    cdef OptC o
    cdef void* sp
    if not _lane_opt(net, opt, &o):
        return None
    cdef size_t xbytes = n * d * isz, ybytes = n * dout * isz if loss == LOSS_SQUARED_ERROR else 0
    for i in range(2):
        sp = o.s1 if i == 0 else o.s2
        if sp != NULL and (_ranges_overlap(xp, xbytes, sp, pbytes) or _ranges_overlap(bp, pbytes, sp, pbytes)
                           or _ranges_overlap(yp, ybytes, sp, pbytes)):
            return None
    cdef bint ok, params_ok = True
    cdef double r = 0
    with nogil:
        if net.kind == KIND_F32:
            ok = _all_finite_par(<float*>xp, n * d) and (
                loss != LOSS_SQUARED_ERROR or _all_finite(<float*>yp, n * dout))
            if ok:
                _copy_par(<float*>bp, <float*>net.c.theta, net.c.n_params)
                r = _net_step(&net.c, &o, <float*>xp, n, lp, <float*>yp, <float*>NULL)
                params_ok = _all_finite_par(<float*>net.c.theta, net.c.n_params)
                if not (isfinite(r) and params_ok):
                    memcpy(net.c.theta, bp, pbytes)
        else:
            ok = _all_finite_par(<double*>xp, n * d) and (
                loss != LOSS_SQUARED_ERROR or _all_finite(<double*>yp, n * dout))
            if ok:
                _copy_par(<double*>bp, <double*>net.c.theta, net.c.n_params)
                r = _net_step(&net.c, &o, <double*>xp, n, lp, <double*>yp, <double*>NULL)
                params_ok = _all_finite_par(<double*>net.c.theta, net.c.n_params)
                if not (isfinite(r) and params_ok):
                    memcpy(net.c.theta, bp, pbytes)
    if not ok:
        return None
    opt.t = o.t
    if not (isfinite(r) and params_ok):
        return (r, params_ok)
    return r
