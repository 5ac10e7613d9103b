# The Python boundary's argument checking, shared by every public entry point. Included by _kernels.pyx.
#
# A public function checks every argument (dtype, shape, contiguity, writeability, overlap, codes) before
# it writes anything, then releases the GIL; errors name the argument. The groups below are the checking
# sequences the entry points share: each entry point calls the one for its argument family once.

# ---- one array --------------------------------------------------------------------------------------

cdef inline int _kind_of(object arr, str name) except -1:
    """KIND_F32 or KIND_F64; raise for any other dtype or a non-contiguous array."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(arr).__name__}")
    cdef cnp.ndarray a = <cnp.ndarray>arr
    cdef int t = cnp.PyArray_TYPE(a)
    if t == cnp.NPY_FLOAT32:
        kind = KIND_F32
    elif t == cnp.NPY_FLOAT64:
        kind = KIND_F64
    else:
        raise TypeError(f"{name}: dtype must be float32 or float64, got {a.dtype}")
    if not cnp.PyArray_ISNOTSWAPPED(a):  # the type number of '>f4' is NPY_FLOAT32 too
        raise TypeError(f"{name}: dtype must be native-endian float32 or float64, got {a.dtype.str}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        raise ValueError(f"{name}: array must be C-contiguous")
    return kind


cdef int _check(object arr, str name, int kind, int ndim, bint writeable=False) except -1:
    """A C-contiguous float array of ``ndim`` dimensions and dtype ``kind`` (KIND_ANY: either);
    writeable for an output. Returns its kind."""
    cdef int k = _kind_of(arr, name)
    if kind != KIND_ANY and k != kind:
        raise TypeError(f"{name}: dtype {arr.dtype} does not match the other arrays "
                        f"({'float64' if kind == KIND_F64 else 'float32'})")
    if cnp.PyArray_NDIM(<cnp.ndarray>arr) != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {arr.shape}")
    if writeable and not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>arr):
        raise ValueError(f"{name}: output array is read-only")
    return k


cdef inline void* _ptr(object arr):
    return cnp.PyArray_DATA(<cnp.ndarray>arr) if arr is not None else NULL


cdef inline Py_ssize_t _dim(object arr, int i):
    return cnp.PyArray_DIM(<cnp.ndarray>arr, i)


cdef int _check_same_shape(object a, str an, object b, str bn) except -1:
    cdef int i, nd = cnp.PyArray_NDIM(<cnp.ndarray>a)
    if nd == cnp.PyArray_NDIM(<cnp.ndarray>b):
        for i in range(nd):
            if cnp.PyArray_DIM(<cnp.ndarray>a, i) != cnp.PyArray_DIM(<cnp.ndarray>b, i):
                break
        else:
            return 0
    raise ValueError(f"{bn}: shape {b.shape} does not match {an} {a.shape}")


cdef int _check_like(object arr, str name, object ref, str refname, int kind, bint writeable=False) except -1:
    """``arr`` checked as ``ref`` was (dtype ``kind``, 2-D) and of ``ref``'s shape."""
    _check(arr, name, kind, 2, writeable)
    _check_same_shape(ref, refname, arr, name)
    return 0


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


# ---- overlap ----------------------------------------------------------------------------------------

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


# ---- argument families ------------------------------------------------------------------------------

cdef int _check_rowwise(object Z, object out) except -1:
    """out = f(Z) row by row (activations, softmax, log_softmax): Z and out 2-D, one shape and dtype, out
    writeable and either Z itself or disjoint from it. Returns the kind."""
    cdef int kind = _check(Z, "Z", KIND_ANY, 2)
    _check(out, "out", kind, 2, True)
    _check_same_shape(Z, "Z", out, "out")
    _disjoint(out, "out", Z, "Z", True)
    return kind


cdef int _check_dense(object X, object W, object b, object out, object Z) except -1:
    """A dense layer out = f(X·W + b), Z (or None) receiving X·W + b: X (n, k), W (k, m), b (m,), out and Z
    (n, m) writeable, one dtype, BLAS-sized; out and Z disjoint from the inputs (Z may be out itself)."""
    cdef int kind = _check(X, "X", KIND_ANY, 2)
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
    if Z is not None:
        _check_like(Z, "Z", out, "out", kind, True)
        _disjoint(out, "out", Z, "Z", True)
        _disjoint(Z, "Z", X, "X")
        _disjoint(Z, "Z", W, "W")
        _disjoint(Z, "Z", b, "b")
    return kind


cdef int _check_weight_update(object A_prev, object delta, object W, object out_w, str wname, object out_b,
                              str bname) except -1:
    """The weight gradient of a layer, written to (dW, db) (W read for the L2 term: weight_gradient) or
    applied in place (out_w is W, out_b is b: sgd_weight_update): A_prev (n, k), delta (n, m), W and
    out_w (k, m), out_b (m,), one dtype, BLAS-sized; the outputs disjoint from the inputs and each other.
    Returns the kind."""
    cdef int kind = _check(A_prev, "A_prev", KIND_ANY, 2)
    _check(delta, "delta", kind, 2)
    cdef bint separate = out_w is not W
    if separate:
        _check(W, "W", kind, 2)
    _check(out_w, wname, kind, 2, True)
    _check(out_b, bname, kind, 1, True)
    cdef Py_ssize_t n = _dim(A_prev, 0), k = _dim(A_prev, 1), m = _dim(delta, 1)
    if _dim(delta, 0) != n or W.shape != (k, m) or out_w.shape != W.shape or _dim(out_b, 0) != m:
        outs = f"{wname} {out_w.shape}, " if separate else ""
        raise ValueError(f"A_prev {A_prev.shape}, delta {delta.shape}, W {W.shape}, {outs}"
                         f"{bname} {out_b.shape}: shapes do not chain")
    _blas_dims(A_prev, "A_prev")
    _blas_dims(delta, "delta")
    for oname, o in ((wname, out_w), (bname, out_b)):
        _disjoint(o, oname, A_prev, "A_prev")
        _disjoint(o, oname, delta, "delta")
        if separate:
            _disjoint(o, oname, W, "W")
    _disjoint(out_w, wname, out_b, bname)
    return kind


cdef int _check_sample_weight(object sample_weight, Py_ssize_t n, int kind) except -1:
    """None, or per-row weights (n,) of the call's dtype."""
    if sample_weight is not None:
        _check(sample_weight, "sample_weight", kind, 1)
        if _dim(sample_weight, 0) != n:
            raise ValueError(f"sample_weight: shape {sample_weight.shape}, expected ({n},)")
    return 0


cdef int _check_loss_args(str zname, object Z, object D, object sample_weight) except -1:
    """A loss's input Z (n, m), its error term D (delta) of Z's shape (may be Z itself), sample_weight.
    Returns the kind."""
    cdef int kind = _check(Z, zname, KIND_ANY, 2)
    _check_like(D, "delta", Z, zname, kind, True)
    _check_sample_weight(sample_weight, _dim(Z, 0), kind)
    _disjoint(D, "delta", Z, zname, True)
    _disjoint(D, "delta", sample_weight, "sample_weight")
    return kind


cdef int _check_labels(object labels, Py_ssize_t n, Py_ssize_t c) except -1:
    if not isinstance(labels, np.ndarray) or labels.dtype != np.intp or labels.ndim != 1 \
            or not labels.flags.c_contiguous:
        raise TypeError("labels: expected a C-contiguous 1-D integer array of dtype intp")
    if _dim(labels, 0) != n:
        raise ValueError(f"labels: shape {labels.shape}, expected ({n},)")
    if n and (labels.min() < 0 or labels.max() >= c):
        raise ValueError(f"labels: values must lie in [0, {c})")
    return 0


# ---- activations: code, parameter, derivative inputs ------------------------------------------------

cdef int _act_code(object activation) except -1:
    """The code of an activation name (aliases and case resolved by the registry)."""
    name = canonical_activation(activation)
    cdef int code = ACTIVATION_CODES[name]
    if not 0 <= code < N_ACT:
        raise ValueError(f"activation: {name} is not in this build of fastmlp._kernels (its code {code} is "
                         "past the compiled _codes.h); rebuild the extension")
    return code


cdef object _act_param(int code, object param, int kind, Py_ssize_t m, double* p):
    """The activation's parameter: the scalar into ``p`` (the registry's default when ``param`` is None;
    0 for per-unit slopes) and, for per-unit slopes (prelu), the slope array (m,) of dtype ``kind``,
    returned (None otherwise)."""
    if _ACT_PER_UNIT[code]:
        p[0] = 0.0
        _check(param, "param", kind, 1)
        if _dim(param, 0) != m:
            raise ValueError(f"param: {ACTIVATIONS[code]} needs a slope array of shape ({m},), got {param.shape}")
        return param
    p[0] = _ACT_DEFAULT_P[code] if param is None else float(param)
    return None


cdef int _check_elementwise(int code) except -1:
    if not _ACT_ELEMENTWISE[code]:
        raise ValueError(f"activation: {ACTIVATIONS[code]} has a Jacobian, not an elementwise derivative; "
                         "use softmax_cross_entropy")
    return 0


cdef object _check_derivative_inputs(int code, object G, object A, object Z, object out, object param,
                                     int kind, double* p):
    """What f'(z) is computed from, once the output ``out``, A (and the upstream gradient G, or None) are
    checked to share shape and dtype and the activation to have an elementwise derivative: Z (required
    when the activation needs it, else None or of A's shape), the parameter, and ``out`` disjoint from A,
    Z and the slopes (it is written first) and either G itself or disjoint from it. Returns the slopes."""
    if _ACT_NEEDS_Z[code] and Z is None:
        raise ValueError(f"Z: {ACTIVATIONS[code]} needs the pre-activation Z for its derivative")
    if Z is not None:
        _check_like(Z, "Z", A, "A", kind)
    gamma = _act_param(code, param, kind, _dim(A, 1), p)
    _disjoint(out, "out", G, "G", True)
    _disjoint(out, "out", A, "A")
    _disjoint(out, "out", Z, "Z")
    _disjoint(out, "out", gamma, "param")
    return gamma


# ---- optimizers -------------------------------------------------------------------------------------

cdef object _opt_code(object opt):
    """The code of an _netspec.Optimizer, refused unless this build has it (the codes are 0..N_OPT-1)."""
    code = opt.code
    if code not in range(N_OPT):
        raise ValueError(f"opt: unknown optimizer code {code!r}")
    return code


# ---- all_finite -------------------------------------------------------------------------------------

def all_finite(X):
    """True when no element of the float32/float64 array X is NaN or ±inf (one pass, no temporary)."""
    cdef int kind = _kind_of(X, "X")
    cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray>X)
    cdef void* xp = _ptr(X)
    cdef bint ok
    with nogil:
        if kind == KIND_F32:
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
