# GEMM: row-major front end to column-major BLAS (scipy.linalg.cython_blas), with a direct loop for tiny
# products, ?gemv for a single output row or column, a register-blocked AVX2 loop for tall products of at
# most 8 columns and 16 inner terms (_narrow_gemm.h); the Python entry point gemm. Included by _kernels.pyx.

cdef void _gemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, floating alpha,
                const floating* A, Py_ssize_t lda, const floating* B, Py_ssize_t ldb, floating beta,
                floating* C, Py_ssize_t ldc) noexcept nogil:
    """C := alpha · op(A) · op(B) + beta · C, row-major; op(A) is (m, k), op(B) is (k, n).
    beta == 0 never reads C (so C may hold garbage)."""
    cdef int im, in_, ik, ilda, ildb, ildc
    cdef char ta, tb
    if m == 0 or n == 0:
        return
    # k == 0 included (C := beta · C); each factor bounded first so that m·n·k cannot overflow
    if k == 0 or (m <= SMALL_GEMM and n <= SMALL_GEMM and k <= SMALL_GEMM and m * n * k <= SMALL_GEMM):
        _gemm_small(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
        return
    if m == 1 or n == 1:
        # One output row or column is a matrix-vector product; BLAS ?gemm is many times slower there.
        _gemv_rowcol(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
        return
    if beta == 0 and _narrow(trans_a, trans_b, n, k):
        # tall and narrow (a small net's layer over many rows): B in registers, one row of C at a time
        if floating is float:
            fm_gemm_narrow_f32(m, n, k, alpha, A, lda, B, ldb, NULL, C, ldc)
        else:
            fm_gemm_narrow_f64(m, n, k, alpha, A, lda, B, ldb, NULL, C, ldc)
        return
    # Row-major C (m×n) is column-major Cᵀ (n×m) = op(B)ᵀ · op(A)ᵀ: swap the operands.
    ta = b'T' if trans_b else b'N'
    tb = b'T' if trans_a else b'N'
    im, in_, ik = <int>n, <int>m, <int>k
    ilda, ildb, ildc = <int>ldb, <int>lda, <int>ldc
    if floating is float:
        sgemm(&ta, &tb, &im, &in_, &ik, &alpha, <float*>B, &ilda, <float*>A, &ildb, &beta, C, &ildc)
    else:
        dgemm(&ta, &tb, &im, &in_, &ik, &alpha, <double*>B, &ilda, <double*>A, &ildb, &beta, C, &ildc)


cdef inline bint _narrow(bint trans_a, bint trans_b, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """Whether C (m×n) = A (m×k)·B (k×n) goes to _narrow_gemm.h (callers: m·n·k past SMALL_GEMM)."""
    return not trans_a and not trans_b and n <= FM_NARROW_N and k <= FM_NARROW_K and fm_gemm_narrow_ok()


cdef void _gemm_small(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                      floating alpha, const floating* A, Py_ssize_t lda, const floating* B,
                      Py_ssize_t ldb, floating beta, floating* C, Py_ssize_t ldc) noexcept nogil:
    """_gemm by direct loops, ordered so the innermost loop runs along contiguous rows of B and C
    (C[i, :] += a · B[p, :]) and vectorises."""
    cdef Py_ssize_t i, j, p
    cdef floating a, s
    cdef floating* c
    cdef const floating* b
    for i in range(m):
        c = C + i * ldc
        if beta == 0:
            for j in range(n):
                c[j] = 0
        elif beta != 1:
            for j in range(n):
                c[j] = beta * c[j]
    if not trans_b and n == 1:
        # One output column (a single-output layer): the loop below with c[0] held in a register, the
        # same operations in the same order; there each step's c[0] would go through memory (a
        # store-to-load chain, several times slower and sensitive to code alignment).
        for i in range(m):
            s = C[i * ldc]
            if trans_a:
                for p in range(k):
                    s = s + (alpha * A[p * lda + i]) * B[p * ldb]
            else:
                for p in range(k):
                    s = s + (alpha * A[i * lda + p]) * B[p * ldb]
            C[i * ldc] = s
    elif not trans_b:
        for i in range(m):
            c = C + i * ldc
            for p in range(k):
                a = alpha * (A[p * lda + i] if trans_a else A[i * lda + p])
                b = B + p * ldb
                for j in range(n):
                    c[j] = c[j] + a * b[j]
    else:
        for i in range(m):
            c = C + i * ldc
            for j in range(n):
                b = B + j * ldb
                s = 0
                if trans_a:
                    for p in range(k):
                        s = s + A[p * lda + i] * b[p]
                else:
                    for p in range(k):
                        s = s + A[i * lda + p] * b[p]
                c[j] = c[j] + alpha * s


cdef void _gemv(bint trans, int rows, int cols, floating alpha, const floating* M, int ldm,
                const floating* x, int incx, floating beta, floating* y, int incy) noexcept nogil:
    """y := alpha · op(M) · x + beta · y with M column-major (rows × cols, leading dimension ldm)."""
    cdef char t = b'T' if trans else b'N'
    if floating is float:
        sgemv(&t, &rows, &cols, &alpha, <float*>M, &ldm, <float*>x, &incx, &beta, y, &incy)
    else:
        dgemv(&t, &rows, &cols, &alpha, <double*>M, &ldm, <double*>x, &incx, &beta, y, &incy)


cdef void _gemv_rowcol(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                       floating alpha, const floating* A, Py_ssize_t lda, const floating* B,
                       Py_ssize_t ldb, floating beta, floating* C, Py_ssize_t ldc) noexcept nogil:
    """The m == 1 or n == 1 cases of _gemm as one ?gemv (row-major operands seen column-major)."""
    cdef Py_ssize_t i
    if beta == 0:  # ?gemv with beta = 0 must not read y, but be explicit: C may hold NaN garbage
        if m == 1:
            for i in range(n):
                C[i] = 0
        else:
            for i in range(m):
                C[i * ldc] = 0
    if m == 1:
        # C[0, :] (n) = op(B)ᵀ · a, a = row 0 of op(A) (stride lda when A is transposed).
        if trans_b:   # B stored (n, k): column-major view (k, n) → transpose it
            _gemv(True, <int>k, <int>n, alpha, B, <int>ldb, A, <int>(lda if trans_a else 1), beta,
                  C, 1)
        else:         # B stored (k, n): column-major view (n, k) is op(B)ᵀ
            _gemv(False, <int>n, <int>k, alpha, B, <int>ldb, A, <int>(lda if trans_a else 1), beta,
                  C, 1)
    else:
        # C[:, 0] (m) = op(A) · b, b = column 0 of op(B) (stride ldb unless B is transposed).
        if trans_a:   # A stored (k, m): column-major view (m, k) is op(A)
            _gemv(False, <int>m, <int>k, alpha, A, <int>lda, B, <int>(1 if trans_b else ldb), beta,
                  C, <int>ldc)
        else:         # A stored (m, k): column-major view (k, m) → transpose it
            _gemv(True, <int>k, <int>m, alpha, A, <int>lda, B, <int>(1 if trans_b else ldb), beta,
                  C, <int>ldc)


def gemm(A, B, C, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """C := alpha · op(A) · op(B) + beta · C for C-contiguous 2-D arrays of one dtype (row-major
    front end to BLAS ?gemm; tiny products use a direct loop). Returns C."""
    cdef int kind = _check(A, "A", KIND_ANY, 2)
    _check(B, "B", kind, 2)
    _check(C, "C", kind, 2, True)
    cdef bint ta = bool(trans_a), tb = bool(trans_b)
    cdef Py_ssize_t m = _dim(A, 1) if ta else _dim(A, 0)
    cdef Py_ssize_t k = _dim(A, 0) if ta else _dim(A, 1)
    cdef Py_ssize_t kb = _dim(B, 1) if tb else _dim(B, 0)
    cdef Py_ssize_t n = _dim(B, 0) if tb else _dim(B, 1)
    if kb != k or _dim(C, 0) != m or _dim(C, 1) != n:
        raise ValueError(f"A {A.shape}, B {B.shape}, C {C.shape}: shapes do not chain "
                         f"(trans_a={ta}, trans_b={tb})")
    _blas_dims(A, "A")
    _blas_dims(B, "B")
    _disjoint(C, "C", A, "A")
    _disjoint(C, "C", B, "B")
    cdef double fa = float(alpha), fb = float(beta)
    cdef void* ap = _ptr(A)
    cdef void* bp = _ptr(B)
    cdef void* cp = _ptr(C)
    cdef Py_ssize_t lda = _dim(A, 1), ldb = _dim(B, 1), ldc = _dim(C, 1)
    with nogil:
        if kind == KIND_F32:
            _gemm(ta, tb, m, n, k, <float>fa, <float*>ap, lda, <float*>bp, ldb, <float>fb, <float*>cp, ldc)
        else:
            _gemm(ta, tb, m, n, k, fa, <double*>ap, lda, <double*>bp, ldb, fb, <double*>cp, ldc)
    return C
