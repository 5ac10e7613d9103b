# Element-wise work on the BLAS threads: activations, their derivatives, softmax rows, optimizer updates,
# the lane's copies and finiteness scans, split into contiguous row (or element) ranges over as many
# OpenMP threads as the BLAS library is allowed right now -- threadpoolctl's limit, read live from
# OpenBLAS through a function pointer found at import -- so that a call with 2 BLAS threads runs its
# element-wise passes on 2 cores too. Below PAR_MIN_WORK elements per thread the work stays on the
# calling thread (waking a thread costs more), and so does a custom activation (Python, under the GIL). The split never changes a result: ranges start at
# multiples of SPLIT_ALIGN rows or elements, so the vectorised loops cover the same elements in the same
# lanes as one unsplit pass (only the last range has the scalar tail, the same tail), and no reduction is
# split. Included by _kernels.pyx.

from cython.parallel cimport prange

ctypedef int (*_threads_fn)() noexcept nogil

cdef _threads_fn _blas_threads = NULL
# Elements per thread below which element-wise work is not split. Waking a sleeping OpenMP thread costs
# 50-100 us on a 2-vCPU VM (a hypervisor round trip; spinning threads instead fight OpenBLAS's own spinning
# workers and slow a predict by 100x), so a split pays from about 1M elements of tanh (~260 us on one
# core); memory-bound passes (relu, copies, finiteness scans) count a quarter per element.
cdef Py_ssize_t PAR_MIN_WORK = 1 << 19


cdef inline Py_ssize_t _act_work(int act, Py_ssize_t N) noexcept nogil:
    if act == ACT_RELU or act == ACT_LEAKY_RELU or act == ACT_HARDTANH or act == ACT_PRELU:
        return N // 4
    return N
# ranges start at multiples of this many rows (row splits) or elements (flat splits): a multiple of every
# vector loop's step (lanes x unrolling)
cdef Py_ssize_t SPLIT_ALIGN = 64


cdef inline int _split(Py_ssize_t work) noexcept nogil:
    """Threads for ``work`` elements of element-wise work: the BLAS threads, at most one per
    PAR_MIN_WORK elements, and 1 when the BLAS thread count is unknown."""
    cdef int t
    cdef Py_ssize_t most
    if _blas_threads == NULL or work < 2 * PAR_MIN_WORK:
        return 1
    t = _blas_threads()
    most = work // PAR_MIN_WORK
    if t > most:
        t = <int>most
    return t if t > 1 else 1


cdef inline Py_ssize_t _range_size(Py_ssize_t n, int nt) noexcept nogil:
    """Rows (or elements) per range when n are split nt ways, a multiple of SPLIT_ALIGN."""
    cdef Py_ssize_t per = (n + nt - 1) // nt
    return (per + SPLIT_ALIGN - 1) // SPLIT_ALIGN * SPLIT_ALIGN


cdef void _act_forward_par(int act, floating p, const floating* gamma, const floating* Z, floating* A,
                           Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    """_act_forward over row ranges on the BLAS threads."""
    cdef int nt = 1 if act == ACT_IDENTITY or act == CUSTOM_ACT else _split(_act_work(act, n * m))
    cdef Py_ssize_t c, r0, r1, rows
    if nt == 1:
        _act_forward(act, p, gamma, Z, A, n, m)
        return
    rows = _range_size(n, nt)
    for c in prange(nt, num_threads=nt, schedule="static"):
        r0 = c * rows
        r1 = r0 + rows if r0 + rows < n else n
        if r1 > r0:
            _act_forward(act, p, gamma, Z + r0 * m, A + r0 * m, r1 - r0, m)


cdef void _act_backprop_par(int act, floating p, const floating* gamma, const floating* A,
                            const floating* Z, floating* G, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    """_act_backprop over row ranges on the BLAS threads (Z may be NULL where f' reads only A)."""
    cdef int nt = 1 if act == ACT_IDENTITY or act == CUSTOM_ACT else _split(_act_work(act, n * m))
    cdef Py_ssize_t c, r0, r1, rows
    if nt == 1:
        _act_backprop(act, p, gamma, A, Z, G, n, m)
        return
    rows = _range_size(n, nt)
    for c in prange(nt, num_threads=nt, schedule="static"):
        r0 = c * rows
        r1 = r0 + rows if r0 + rows < n else n
        if r1 > r0:
            _act_backprop(act, p, gamma, A + r0 * m if A != NULL else NULL, Z + r0 * m if Z != NULL else NULL,
                          G + r0 * m, r1 - r0, m)


cdef void _opt_step_par(OptC* opt, floating* theta, const floating* g, Py_ssize_t P) noexcept nogil:
    """_opt_step over element ranges on the BLAS threads (every update is element-wise; each range gets
    the optimizer with its state pointers moved to the range)."""
    cdef int nt = _split(P)
    cdef Py_ssize_t c, e0, e1, per
    cdef OptC part
    if nt == 1:
        _opt_step(opt, theta, g, P)
        return
    per = _range_size(P, nt)
    for c in prange(nt, num_threads=nt, schedule="static"):
        e0 = c * per
        e1 = e0 + per if e0 + per < P else P
        if e1 > e0:
            part = opt[0]
            part.s1 = <void*>(<floating*>opt.s1 + e0) if opt.s1 != NULL else NULL
            part.s2 = <void*>(<floating*>opt.s2 + e0) if opt.s2 != NULL else NULL
            _opt_step(&part, theta + e0, g + e0, e1 - e0)


cdef void _copy_par(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    """dst[:n] = src[:n] on the BLAS threads."""
    cdef int nt = _split(n // 4)
    cdef Py_ssize_t c, e0, e1, per
    if nt == 1:
        memcpy(dst, src, n * sizeof(floating))
        return
    per = _range_size(n, nt)
    for c in prange(nt, num_threads=nt, schedule="static"):
        e0 = c * per
        e1 = e0 + per if e0 + per < n else n
        if e1 > e0:
            memcpy(dst + e0, src + e0, (e1 - e0) * sizeof(floating))


cdef bint _all_finite_par(const floating* x, Py_ssize_t n) noexcept nogil:
    """_all_finite on the BLAS threads (an OR of per-range answers: the same answer on any split)."""
    cdef int nt = _split(n // 4)
    cdef Py_ssize_t c, e0, e1, per
    cdef int bad = 0
    if nt == 1:
        return _all_finite(x, n)
    per = _range_size(n, nt)
    for c in prange(nt, num_threads=nt, schedule="static"):
        e0 = c * per
        e1 = e0 + per if e0 + per < n else n
        if e1 > e0 and not _all_finite(x + e0, e1 - e0):
            bad += 1
    return bad == 0


def elementwise_threads(Py_ssize_t elements=1 << 30):
    """The threads element-wise work of ``elements`` elements runs on now (follows the BLAS limit)."""
    return _split(elements)


def _set_blas_threads_getter(size_t address):
    """Install the BLAS library's ``get_num_threads`` (a C function address; 0: unknown, no split)."""
    global _blas_threads
    _blas_threads = <_threads_fn><void*>address


def _find_blas_threads_getter():
    """The address of ``openblas_get_num_threads`` (under the names SciPy's OpenBLAS builds export) of
    the BLAS that scipy.linalg.cython_blas calls, or 0."""
    import ctypes
    try:
        import scipy.linalg.cython_blas as cython_blas
        lib = ctypes.CDLL(cython_blas.__file__)
    except (ImportError, OSError):
        return 0
    for name in ("scipy_openblas_get_num_threads", "scipy_openblas_get_num_threads64_",
                 "openblas_get_num_threads", "openblas_get_num_threads64_"):
        fn = getattr(lib, name, None)
        if fn is not None:
            return ctypes.cast(fn, ctypes.c_void_p).value or 0
    return 0


_set_blas_threads_getter(_find_blas_threads_getter())


def _split_threshold(Py_ssize_t elements=-1):
    """PAR_MIN_WORK (elements per thread below which work is not split); sets it when elements > 0.
    Returns the value before the call (for benchmarks/breakdown.py's threshold sweep)."""
    global PAR_MIN_WORK
    cdef Py_ssize_t old = PAR_MIN_WORK
    if elements > 0:
        PAR_MIN_WORK = elements
    return old
