# Scalar maths, fused over float/double so that float32 stays float32. Included by _kernels.pyx.

cdef inline floating _expneg(floating x) noexcept nogil:
    """exp(x) for x <= 0 (every exp fastmlp needs: after a max shift, or of −|x|); vectorisable."""
    if floating is float:
        return fm_expnegf(x)
    else:
        return fm_expneg(x)


cdef inline void _exp_shift(const floating* x, floating* out, Py_ssize_t n, floating shift) noexcept nogil:
    """out[i] = exp(x[i] − shift) for x[i] <= shift (a softmax row after its max)."""
    if floating is float:
        fm_exp_shift_f32_best(x, out, n, shift)
    else:
        fm_exp_shift_f64_best(x, out, n, shift)


cdef inline floating _exp(floating x) noexcept nogil:
    """exp(x) over the whole range (+inf past the largest float, as numpy; the exp output and the
    Poisson loss, whose arguments have no upper bound)."""
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating _log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline floating _fabs(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)


cdef inline floating _sigmoid(floating x) noexcept nogil:
    """1 / (1 + exp(−x)), never overflowing: exp is only taken of −|x|."""
    if floating is float:
        return fm_sigmoidf(x)
    else:
        return fm_sigmoid(x)
