# Cython-level API of fastmlp._kernels: non-fused nogil entry points declared in _kernels.pxd.
#
# Included at the very end of _kernels.pyx, so the fused internals (_gemm, _dense_forward, _act_forward,
# ...) are in scope. Fused cdef functions do not export across modules, so each entry point here is a
# plain float or double function: a shared fused checker/driver (_capi_*) and two one-line wrappers.
# The entry points validate what they can see (codes, sizes, NULL buffers, label ranges) and report it
# through their return value; they never raise and never allocate.

from libc.limits cimport INT_MAX
from libc.math cimport NAN


cdef inline bint _capi_size_ok(Py_ssize_t s) noexcept nogil:
    """A size usable as a BLAS int."""
    return 0 <= s <= INT_MAX


cdef inline int _capi_act(int act, bint elementwise, const void* gamma) noexcept nogil:
    """A code this build has (with an elementwise derivative when ``elementwise``); slopes for a
    per-unit activation."""
    if act < 0 or act >= N_ACT:
        return FASTMLP_BAD_ACTIVATION
    if elementwise and not _ACT_ELEMENTWISE[act]:
        return FASTMLP_BAD_ACTIVATION
    if _ACT_PER_UNIT[act] and gamma == NULL:
        return FASTMLP_BAD_ARGUMENT
    return FASTMLP_OK


cdef inline int _capi_backprop_args(int act, const void* gamma, const void* A, const void* Z) noexcept nogil:
    """Checks shared by every function that takes f'(z) of an elementwise activation: Z where f' is
    computed from it, A otherwise (identity reads neither)."""
    cdef int rc = _capi_act(act, True, gamma)
    if rc != FASTMLP_OK:
        return rc
    if _ACT_NEEDS_Z[act] and Z == NULL:
        return FASTMLP_NEEDS_Z
    if A == NULL and act != ACT_IDENTITY and not _ACT_NEEDS_Z[act]:
        return FASTMLP_BAD_ARGUMENT
    return FASTMLP_OK


# ---- dense layer ---------------------------------------------------------------------------------

cdef inline int _capi_dense_forward(const floating* X, const floating* W, const floating* b, floating* Z,
                                    floating* A, Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, int act,
                                    double param, const floating* gamma) noexcept nogil:
    cdef int rc = _capi_act(act, False, gamma)
    if rc != FASTMLP_OK:
        return rc
    if not (_capi_size_ok(n) and _capi_size_ok(k) and _capi_size_ok(m)):
        return FASTMLP_BAD_ARGUMENT
    if n == 0 or m == 0:
        return FASTMLP_OK
    if A == NULL or (k > 0 and (X == NULL or W == NULL)):
        return FASTMLP_BAD_ARGUMENT
    if Z == NULL:
        Z = A
    if b != NULL:
        _dense_forward(X, W, b, Z, A, n, k, m, act, <floating>param, gamma)
    else:
        _gemm(False, False, n, m, k, <floating>1, X, k, W, m, <floating>0, Z, m)
        _act_forward(act, <floating>param, gamma, Z, A, n, m)
    return FASTMLP_OK


cdef int dense_forward_f32(const float* X, const float* W, const float* b, float* Z, float* A,
                           Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, int act, double param,
                           const float* gamma) noexcept nogil:
    return _capi_dense_forward(X, W, b, Z, A, n, k, m, act, param, gamma)


cdef int dense_forward_f64(const double* X, const double* W, const double* b, double* Z, double* A,
                           Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, int act, double param,
                           const double* gamma) noexcept nogil:
    return _capi_dense_forward(X, W, b, Z, A, n, k, m, act, param, gamma)


# ---- activations ---------------------------------------------------------------------------------

cdef inline int _capi_act_forward(int act, double param, const floating* gamma, const floating* Z,
                                  floating* A, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    cdef int rc = _capi_act(act, False, gamma)
    if rc != FASTMLP_OK:
        return rc
    if n < 0 or m < 0:
        return FASTMLP_BAD_ARGUMENT
    if n == 0 or m == 0:
        return FASTMLP_OK
    if Z == NULL or A == NULL:
        return FASTMLP_BAD_ARGUMENT
    _act_forward(act, <floating>param, gamma, Z, A, n, m)
    return FASTMLP_OK


cdef int activation_forward_f32(int act, double param, const float* gamma, const float* Z, float* A,
                                Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return _capi_act_forward(act, param, gamma, Z, A, n, m)


cdef int activation_forward_f64(int act, double param, const double* gamma, const double* Z, double* A,
                                Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return _capi_act_forward(act, param, gamma, Z, A, n, m)


cdef inline int _capi_backprop(int act, double param, const floating* gamma, const floating* A,
                               const floating* Z, floating* G, Py_ssize_t n, Py_ssize_t m,
                               bint fill_ones) noexcept nogil:
    cdef Py_ssize_t i
    cdef int rc = _capi_backprop_args(act, gamma, A, Z)
    if rc != FASTMLP_OK:
        return rc
    if n < 0 or m < 0:
        return FASTMLP_BAD_ARGUMENT
    if n == 0 or m == 0:
        return FASTMLP_OK
    if G == NULL:
        return FASTMLP_BAD_ARGUMENT
    if fill_ones:
        for i in range(n * m):
            G[i] = 1
    _act_backprop(act, <floating>param, gamma, A, Z, G, n, m)
    return FASTMLP_OK


cdef int activation_derivative_f32(int act, double param, const float* gamma, const float* A,
                                   const float* Z, float* out, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return _capi_backprop(act, param, gamma, A, Z, out, n, m, True)


cdef int activation_derivative_f64(int act, double param, const double* gamma, const double* A,
                                   const double* Z, double* out, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return _capi_backprop(act, param, gamma, A, Z, out, n, m, True)


cdef int backprop_activation_f32(int act, double param, const float* gamma, const float* A,
                                 const float* Z, float* G, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return _capi_backprop(act, param, gamma, A, Z, G, n, m, False)


cdef int backprop_activation_f64(int act, double param, const double* gamma, const double* A,
                                 const double* Z, double* G, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return _capi_backprop(act, param, gamma, A, Z, G, n, m, False)


cdef inline int _capi_rows(const floating* Z, floating* out, Py_ssize_t n, Py_ssize_t m,
                           bint log) noexcept nogil:
    if n < 0 or m < 0:
        return FASTMLP_BAD_ARGUMENT
    if n == 0 or m == 0:
        return FASTMLP_OK
    if Z == NULL or out == NULL:
        return FASTMLP_BAD_ARGUMENT
    if log:
        _log_softmax_rows(Z, out, n, m)
    else:
        _softmax_rows(Z, out, n, m)
    return FASTMLP_OK


cdef int softmax_f32(const float* Z, float* out, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return _capi_rows(Z, out, n, m, False)


cdef int softmax_f64(const double* Z, double* out, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return _capi_rows(Z, out, n, m, False)


cdef int log_softmax_f32(const float* Z, float* out, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return _capi_rows(Z, out, n, m, True)


cdef int log_softmax_f64(const double* Z, double* out, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return _capi_rows(Z, out, n, m, True)


# ---- backward ------------------------------------------------------------------------------------

cdef inline int _capi_delta_backward(const floating* delta, const floating* W, const floating* A,
                                     const floating* Z, floating* out, Py_ssize_t n, Py_ssize_t k,
                                     Py_ssize_t m, int act, double param,
                                     const floating* gamma) noexcept nogil:
    cdef int rc = _capi_backprop_args(act, gamma, A, Z)
    if rc != FASTMLP_OK:
        return rc
    if not (_capi_size_ok(n) and _capi_size_ok(k) and _capi_size_ok(m)):
        return FASTMLP_BAD_ARGUMENT
    if n == 0 or k == 0:
        return FASTMLP_OK
    if out == NULL or (m > 0 and (delta == NULL or W == NULL)):
        return FASTMLP_BAD_ARGUMENT
    if <const floating*>out == delta or <const floating*>out == A:
        return FASTMLP_BAD_ARGUMENT
    _gemm(False, True, n, k, m, <floating>1, delta, m, W, m, <floating>0, out, k)
    _act_backprop(act, <floating>param, gamma, A, Z, out, n, k)
    return FASTMLP_OK


cdef int delta_backward_f32(const float* delta, const float* W, const float* A, const float* Z,
                            float* out, Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, int act, double param,
                            const float* gamma) noexcept nogil:
    return _capi_delta_backward(delta, W, A, Z, out, n, k, m, act, param, gamma)


cdef int delta_backward_f64(const double* delta, const double* W, const double* A, const double* Z,
                            double* out, Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, int act, double param,
                            const double* gamma) noexcept nogil:
    return _capi_delta_backward(delta, W, A, Z, out, n, k, m, act, param, gamma)


cdef inline int _capi_weight_gradient(const floating* A_prev, const floating* delta, const floating* W,
                                      floating* dW, floating* db, Py_ssize_t n, Py_ssize_t k,
                                      Py_ssize_t m, double scale, double l2,
                                      bint accumulate) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating beta = 1 if accumulate else 0
    cdef floating lam = <floating>l2
    if not (_capi_size_ok(n) and _capi_size_ok(k) and _capi_size_ok(m)):
        return FASTMLP_BAD_ARGUMENT
    if m == 0:
        return FASTMLP_OK
    if (k > 0 and dW == NULL) or (l2 != 0 and k > 0 and W == NULL) \
            or (n > 0 and (delta == NULL or (k > 0 and A_prev == NULL))):
        return FASTMLP_BAD_ARGUMENT
    if k > 0:
        if l2 != 0:
            for i in range(k * m):
                dW[i] = (dW[i] if accumulate else 0) + lam * W[i]
            beta = 1
        _gemm(True, False, k, m, n, <floating>scale, A_prev, k, delta, m, beta, dW, m)
    if db != NULL:
        _colsum(delta, db, n, m, <floating>scale, <floating>(1 if accumulate else 0))
    return FASTMLP_OK


cdef int weight_gradient_f32(const float* A_prev, const float* delta, const float* W, float* dW,
                             float* db, Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, double scale,
                             double l2, bint accumulate) noexcept nogil:
    return _capi_weight_gradient(A_prev, delta, W, dW, db, n, k, m, scale, l2, accumulate)


cdef int weight_gradient_f64(const double* A_prev, const double* delta, const double* W, double* dW,
                             double* db, Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, double scale,
                             double l2, bint accumulate) noexcept nogil:
    return _capi_weight_gradient(A_prev, delta, W, dW, db, n, k, m, scale, l2, accumulate)


cdef inline int _capi_prelu_grad(const floating* G, const floating* Z, floating* out, Py_ssize_t n,
                                 Py_ssize_t m, double scale, bint accumulate) noexcept nogil:
    if n < 0 or m < 0:
        return FASTMLP_BAD_ARGUMENT
    if m == 0:
        return FASTMLP_OK
    if out == NULL or (n > 0 and (G == NULL or Z == NULL)):
        return FASTMLP_BAD_ARGUMENT
    _prelu_grad(G, Z, out, n, m, <floating>scale, accumulate)
    return FASTMLP_OK


cdef int prelu_gamma_gradient_f32(const float* G, const float* Z, float* out, Py_ssize_t n,
                                  Py_ssize_t m, double scale, bint accumulate) noexcept nogil:
    return _capi_prelu_grad(G, Z, out, n, m, scale, accumulate)


cdef int prelu_gamma_gradient_f64(const double* G, const double* Z, double* out, Py_ssize_t n,
                                  Py_ssize_t m, double scale, bint accumulate) noexcept nogil:
    return _capi_prelu_grad(G, Z, out, n, m, scale, accumulate)


cdef inline int _capi_sgd_weight_update(const floating* A_prev, const floating* delta, floating* W,
                                        floating* b, Py_ssize_t n, Py_ssize_t k, Py_ssize_t m,
                                        double lr, double l2) noexcept nogil:
    cdef floating alpha, beta
    if not (_capi_size_ok(n) and _capi_size_ok(k) and _capi_size_ok(m)):
        return FASTMLP_BAD_ARGUMENT
    if n == 0 or m == 0:
        return FASTMLP_OK
    if delta == NULL or (k > 0 and (A_prev == NULL or W == NULL)):
        return FASTMLP_BAD_ARGUMENT
    alpha = <floating>(-lr / n)
    beta = <floating>(1.0 - lr * l2)
    if k > 0:
        _gemm(True, False, k, m, n, alpha, A_prev, k, delta, m, beta, W, m)
    if b != NULL:
        _colsum(delta, b, n, m, alpha, <floating>1)
    return FASTMLP_OK


cdef int sgd_weight_update_f32(const float* A_prev, const float* delta, float* W, float* b,
                               Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, double lr,
                               double l2) noexcept nogil:
    return _capi_sgd_weight_update(A_prev, delta, W, b, n, k, m, lr, l2)


cdef int sgd_weight_update_f64(const double* A_prev, const double* delta, double* W, double* b,
                               Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, double lr,
                               double l2) noexcept nogil:
    return _capi_sgd_weight_update(A_prev, delta, W, b, n, k, m, lr, l2)


# ---- losses --------------------------------------------------------------------------------------

cdef inline double _capi_softmax_ce(const floating* Z, const Py_ssize_t* labels, floating* delta,
                                    const floating* sw, Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    cdef Py_ssize_t i
    if n < 0 or c < 0:
        return NAN
    if n == 0:
        return 0.0
    if Z == NULL or labels == NULL or delta == NULL:
        return NAN
    for i in range(n):
        if labels[i] < 0 or labels[i] >= c:
            return NAN
    return _softmax_ce(Z, labels, delta, sw, n, c) / n


cdef double softmax_cross_entropy_f32(const float* Z, const Py_ssize_t* labels, float* delta,
                                      const float* sw, Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    return _capi_softmax_ce(Z, labels, delta, sw, n, c)


cdef double softmax_cross_entropy_f64(const double* Z, const Py_ssize_t* labels, double* delta,
                                      const double* sw, Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    return _capi_softmax_ce(Z, labels, delta, sw, n, c)


cdef inline double _capi_pointwise_loss(const floating* Z, const floating* Y, floating* delta,
                                        const floating* sw, Py_ssize_t n, Py_ssize_t m,
                                        int loss) noexcept nogil:
    """A loss with float targets (``loss``: its LOSS_* code)."""
    if n < 0 or m < 0:
        return NAN
    if n == 0:
        return 0.0
    if m > 0 and (Z == NULL or Y == NULL or delta == NULL):
        return NAN
    return _loss_rows(loss, Z, <const Py_ssize_t*>NULL, Y, delta, sw, n, m) / n


cdef double sigmoid_cross_entropy_f32(const float* Z, const float* Y, float* delta, const float* sw,
                                      Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return _capi_pointwise_loss(Z, Y, delta, sw, n, m, LOSS_BINARY_CROSS_ENTROPY)


cdef double sigmoid_cross_entropy_f64(const double* Z, const double* Y, double* delta,
                                      const double* sw, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return _capi_pointwise_loss(Z, Y, delta, sw, n, m, LOSS_BINARY_CROSS_ENTROPY)


cdef double squared_error_f32(const float* Yhat, const float* Y, float* delta, const float* sw,
                              Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return _capi_pointwise_loss(Yhat, Y, delta, sw, n, m, LOSS_SQUARED_ERROR)


cdef double squared_error_f64(const double* Yhat, const double* Y, double* delta, const double* sw,
                              Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return _capi_pointwise_loss(Yhat, Y, delta, sw, n, m, LOSS_SQUARED_ERROR)


cdef double poisson_loss_f32(const float* Z, const float* Y, float* delta, const float* sw,
                             Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return _capi_pointwise_loss(Z, Y, delta, sw, n, m, LOSS_POISSON)


cdef double poisson_loss_f64(const double* Z, const double* Y, double* delta, const double* sw,
                             Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return _capi_pointwise_loss(Z, Y, delta, sw, n, m, LOSS_POISSON)


# ---- optimizer updates ---------------------------------------------------------------------------

cdef inline int _capi_flat(const void* param, const void* grad, const void* s1, const void* s2,
                           Py_ssize_t P) noexcept nogil:
    if P < 0:
        return FASTMLP_BAD_ARGUMENT
    if P > 0 and (param == NULL or grad == NULL or s1 == NULL or s2 == NULL):
        return FASTMLP_BAD_ARGUMENT
    return FASTMLP_OK


cdef int sgd_update_f32(float* param, const float* grad, Py_ssize_t P, double lr) noexcept nogil:
    cdef int rc = _capi_flat(param, grad, param, param, P)
    if rc == FASTMLP_OK:
        _sgd(param, grad, P, <float>lr)
    return rc


cdef int sgd_update_f64(double* param, const double* grad, Py_ssize_t P, double lr) noexcept nogil:
    cdef int rc = _capi_flat(param, grad, param, param, P)
    if rc == FASTMLP_OK:
        _sgd(param, grad, P, lr)
    return rc


cdef int momentum_update_f32(float* param, const float* grad, float* velocity, Py_ssize_t P, double lr,
                             double momentum, bint nesterov) noexcept nogil:
    cdef int rc = _capi_flat(param, grad, velocity, param, P)
    if rc == FASTMLP_OK:
        _momentum(param, grad, velocity, P, <float>lr, <float>momentum, nesterov)
    return rc


cdef int momentum_update_f64(double* param, const double* grad, double* velocity, Py_ssize_t P,
                             double lr, double momentum, bint nesterov) noexcept nogil:
    cdef int rc = _capi_flat(param, grad, velocity, param, P)
    if rc == FASTMLP_OK:
        _momentum(param, grad, velocity, P, lr, momentum, nesterov)
    return rc


cdef int adam_update_f32(float* param, const float* grad, float* m, float* v, Py_ssize_t P, double lr,
                         double beta1, double beta2, double eps, long long t) noexcept nogil:
    cdef int rc = _capi_flat(param, grad, m, v, P)
    if rc == FASTMLP_OK and t < 1:
        rc = FASTMLP_BAD_ARGUMENT
    if rc == FASTMLP_OK:
        _adam(param, grad, m, v, P, lr, beta1, beta2, eps, t)
    return rc


cdef int adam_update_f64(double* param, const double* grad, double* m, double* v, Py_ssize_t P,
                         double lr, double beta1, double beta2, double eps, long long t) noexcept nogil:
    cdef int rc = _capi_flat(param, grad, m, v, P)
    if rc == FASTMLP_OK and t < 1:
        rc = FASTMLP_BAD_ARGUMENT
    if rc == FASTMLP_OK:
        _adam(param, grad, m, v, P, lr, beta1, beta2, eps, t)
    return rc


# ---- GEMM ----------------------------------------------------------------------------------------

cdef inline int _capi_gemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                           double alpha, const floating* A, Py_ssize_t lda, const floating* B,
                           Py_ssize_t ldb, double beta, floating* C, Py_ssize_t ldc) noexcept nogil:
    # Row strides as stored: A is (m, k), or (k, m) when transposed; B is (k, n), or (n, k).
    cdef Py_ssize_t a_cols = m if trans_a else k, b_cols = k if trans_b else n
    if not (_capi_size_ok(m) and _capi_size_ok(n) and _capi_size_ok(k)):
        return FASTMLP_BAD_ARGUMENT
    if not (_capi_size_ok(lda) and _capi_size_ok(ldb) and _capi_size_ok(ldc)):
        return FASTMLP_BAD_ARGUMENT
    if lda < a_cols or ldb < b_cols or ldc < n:
        return FASTMLP_BAD_ARGUMENT
    if m == 0 or n == 0:
        return FASTMLP_OK
    if C == NULL or (k > 0 and (A == NULL or B == NULL)):
        return FASTMLP_BAD_ARGUMENT
    _gemm(trans_a, trans_b, m, n, k, <floating>alpha, A, lda, B, ldb, <floating>beta, C, ldc)
    return FASTMLP_OK


cdef int gemm_f32(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, double alpha,
                  const float* A, Py_ssize_t lda, const float* B, Py_ssize_t ldb, double beta, float* C,
                  Py_ssize_t ldc) noexcept nogil:
    return _capi_gemm(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)


cdef int gemm_f64(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, double alpha,
                  const double* A, Py_ssize_t lda, const double* B, Py_ssize_t ldb, double beta,
                  double* C, Py_ssize_t ldc) noexcept nogil:
    return _capi_gemm(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
