# cython: language_level=3
# The Cython-level API of fastmlp: the nogil kernels of fastmlp._kernels on raw buffers.
#
# Import it from another Cython extension with
#
#     from fastmlp.kernels cimport dense_forward_f64, ACT_RELU, FASTMLP_OK
#
# (fastmlp/kernels.pxd re-exports everything declared here, plus the activation codes as ACT_*).
# Build the extension with ``include_path=[fastmlp.get_include()]`` passed to ``cythonize``; no C headers
# and no link flags are needed: the functions are looked up at import time through
# ``fastmlp._kernels.__pyx_capi__``, so ``fastmlp._kernels`` is imported when your module is.
#
# Conventions (the same as the Python functions of the same name, see ``fastmlp.ops``):
# * every matrix is C-contiguous, row-major and batch-first: X (n, k), W (k, m) = (fan_in, fan_out),
#   b (m,), Z and A (n, m); sizes are Py_ssize_t; scalar parameters are double in both precisions;
# * ``act`` is an activation code (ACT_* in fastmlp/kernels.pxd, fastmlp.ops.ACTIVATION_CODES in Python);
#   ``param`` is the leaky_relu slope or the elu gamma (ignored otherwise); ``gamma`` the per-unit
#   PReLU slopes (m,) (prelu only, NULL otherwise);
# * functions return FASTMLP_OK (0) or an error code and never raise; the losses return the mean loss
#   over the n rows, or NaN for invalid arguments (a label outside [0, c), a negative size, a NULL buffer);
# * nothing is allocated; every function is ``noexcept nogil`` and may be called from ``prange``
#   on disjoint outputs (large products go through the BLAS of scipy.linalg.cython_blas, whose own
#   threading applies).

cdef enum:
    FASTMLP_OK = 0
    FASTMLP_BAD_ACTIVATION = 1   # unknown code, or softmax where an elementwise activation is needed
    FASTMLP_NEEDS_Z = 2          # the derivative of prelu, gelu and silu needs the pre-activation Z
    FASTMLP_BAD_ARGUMENT = 3     # a negative size, a NULL buffer, a size over the BLAS int range, t < 1


# ---- dense layer: Z = X·W + b, A = f(Z) ----------------------------------------------------------
# Z may be NULL (or A): the activation is applied in place in A. b may be NULL (no bias).
cdef int dense_forward_f32(const float* X, const float* W, const float* b, float* Z, float* A,
                           Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, int act, double param,
                           const float* gamma) noexcept nogil
cdef int dense_forward_f64(const double* X, const double* W, const double* b, double* Z, double* A,
                           Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, int act, double param,
                           const double* gamma) noexcept nogil

# ---- activations over an (n, m) block ------------------------------------------------------------
# A = f(Z) (A may be Z; softmax is row-wise).
cdef int activation_forward_f32(int act, double param, const float* gamma, const float* Z, float* A,
                                Py_ssize_t n, Py_ssize_t m) noexcept nogil
cdef int activation_forward_f64(int act, double param, const double* gamma, const double* Z, double* A,
                                Py_ssize_t n, Py_ssize_t m) noexcept nogil
# out = f'(z), from A = f(Z) (Z may be NULL except for prelu, gelu and silu).
cdef int activation_derivative_f32(int act, double param, const float* gamma, const float* A,
                                   const float* Z, float* out, Py_ssize_t n, Py_ssize_t m) noexcept nogil
cdef int activation_derivative_f64(int act, double param, const double* gamma, const double* A,
                                   const double* Z, double* out, Py_ssize_t n, Py_ssize_t m) noexcept nogil
# G ← G ⊙ f'(z), in place (the upstream gradient pulled back through the activation).
cdef int backprop_activation_f32(int act, double param, const float* gamma, const float* A,
                                 const float* Z, float* G, Py_ssize_t n, Py_ssize_t m) noexcept nogil
cdef int backprop_activation_f64(int act, double param, const double* gamma, const double* A,
                                 const double* Z, double* G, Py_ssize_t n, Py_ssize_t m) noexcept nogil
cdef int softmax_f32(const float* Z, float* out, Py_ssize_t n, Py_ssize_t m) noexcept nogil
cdef int softmax_f64(const double* Z, double* out, Py_ssize_t n, Py_ssize_t m) noexcept nogil
cdef int log_softmax_f32(const float* Z, float* out, Py_ssize_t n, Py_ssize_t m) noexcept nogil
cdef int log_softmax_f64(const double* Z, double* out, Py_ssize_t n, Py_ssize_t m) noexcept nogil

# ---- backward ------------------------------------------------------------------------------------
# The delta recursion: out (n, k) = f'(Z) ⊙ (delta · Wᵀ), delta (n, m) the next layer's error term,
# W (k, m) the next layer's weights, A = f(Z) (n, k) this layer's output. out must not alias delta or A.
cdef int delta_backward_f32(const float* delta, const float* W, const float* A, const float* Z,
                            float* out, Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, int act, double param,
                            const float* gamma) noexcept nogil
cdef int delta_backward_f64(const double* delta, const double* W, const double* A, const double* Z,
                            double* out, Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, int act, double param,
                            const double* gamma) noexcept nogil
# dW (k, m) (+)= scale · A_prevᵀ · delta + l2 · W;  db (m,) (+)= scale · Σ_rows delta  (+= when accumulate).
# W may be NULL when l2 == 0; db may be NULL (no bias gradient).
cdef int weight_gradient_f32(const float* A_prev, const float* delta, const float* W, float* dW,
                             float* db, Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, double scale,
                             double l2, bint accumulate) noexcept nogil
cdef int weight_gradient_f64(const double* A_prev, const double* delta, const double* W, double* dW,
                             double* db, Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, double scale,
                             double l2, bint accumulate) noexcept nogil
# out (m,) (+)= scale · Σ_i G[i, j] · min(0, Z[i, j]): the gradient of PReLU slopes.
cdef int prelu_gamma_gradient_f32(const float* G, const float* Z, float* out, Py_ssize_t n,
                                  Py_ssize_t m, double scale, bint accumulate) noexcept nogil
cdef int prelu_gamma_gradient_f64(const double* G, const double* Z, double* out, Py_ssize_t n,
                                  Py_ssize_t m, double scale, bint accumulate) noexcept nogil
# Plain SGD of one layer fused into its weight-gradient GEMM:
# W ← (1 − lr·l2) W − (lr/n) A_prevᵀ δ;  b ← b − (lr/n) Σ_rows δ  (b may be NULL).
cdef int sgd_weight_update_f32(const float* A_prev, const float* delta, float* W, float* b,
                               Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, double lr,
                               double l2) noexcept nogil
cdef int sgd_weight_update_f64(const double* A_prev, const double* delta, double* W, double* b,
                               Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, double lr,
                               double l2) noexcept nogil

# ---- losses: the mean over rows; the per-row error term δ_i = ∂L_i/∂input into delta -------------
# sw: per-row sample weights (n,) or NULL. delta may be Z (Yhat). NaN for invalid arguments.
# L_i = logsumexp(Z_i) − Z_i[y_i];  δ_i = softmax(Z_i) − onehot(y_i); labels in [0, c).
cdef double softmax_cross_entropy_f32(const float* Z, const Py_ssize_t* labels, float* delta,
                                      const float* sw, Py_ssize_t n, Py_ssize_t c) noexcept nogil
cdef double softmax_cross_entropy_f64(const double* Z, const Py_ssize_t* labels, double* delta,
                                      const double* sw, Py_ssize_t n, Py_ssize_t c) noexcept nogil
# L_i = Σ_j max(z,0) − z·y + log(1 + exp(−|z|)) from logits;  δ = sigmoid(Z) − Y.
cdef double sigmoid_cross_entropy_f32(const float* Z, const float* Y, float* delta, const float* sw,
                                      Py_ssize_t n, Py_ssize_t m) noexcept nogil
cdef double sigmoid_cross_entropy_f64(const double* Z, const double* Y, double* delta,
                                      const double* sw, Py_ssize_t n, Py_ssize_t m) noexcept nogil
# L_i = ½ ‖Ŷ_i − Y_i‖²;  δ = Ŷ − Y.
cdef double squared_error_f32(const float* Yhat, const float* Y, float* delta, const float* sw,
                              Py_ssize_t n, Py_ssize_t m) noexcept nogil
cdef double squared_error_f64(const double* Yhat, const double* Y, double* delta, const double* sw,
                              Py_ssize_t n, Py_ssize_t m) noexcept nogil
# L_i = Σ_j μ − y·z + y·log y − y, μ = exp(z): half the Poisson deviance from the log-mean Z (the exp
# output's pre-activation; y >= 0, y·log y = 0 at y = 0);  δ = μ − Y.
cdef double poisson_loss_f32(const float* Z, const float* Y, float* delta, const float* sw,
                             Py_ssize_t n, Py_ssize_t m) noexcept nogil
cdef double poisson_loss_f64(const double* Z, const double* Y, double* delta, const double* sw,
                             Py_ssize_t n, Py_ssize_t m) noexcept nogil

# ---- optimizer updates on flat vectors of P elements (in place) ----------------------------------
# param ← param − lr · grad
cdef int sgd_update_f32(float* param, const float* grad, Py_ssize_t P, double lr) noexcept nogil
cdef int sgd_update_f64(double* param, const double* grad, Py_ssize_t P, double lr) noexcept nogil
# v ← μ v − lr g;  param ← param + v  (nesterov: param ← param + μ v − lr g)
cdef int momentum_update_f32(float* param, const float* grad, float* velocity, Py_ssize_t P, double lr,
                             double momentum, bint nesterov) noexcept nogil
cdef int momentum_update_f64(double* param, const double* grad, double* velocity, Py_ssize_t P,
                             double lr, double momentum, bint nesterov) noexcept nogil
# Adam step t ≥ 1: m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²; param ← param − lr m̂ / (√v̂ + ε)
cdef int adam_update_f32(float* param, const float* grad, float* m, float* v, Py_ssize_t P, double lr,
                         double beta1, double beta2, double eps, long long t) noexcept nogil
cdef int adam_update_f64(double* param, const double* grad, double* m, double* v, Py_ssize_t P,
                         double lr, double beta1, double beta2, double eps, long long t) noexcept nogil

# ---- GEMM ----------------------------------------------------------------------------------------
# Row-major C (m, n) := alpha · op(A) · op(B) + beta · C; op(A) is (m, k), op(B) is (k, n); lda, ldb,
# ldc are the row strides (in elements) of A, B, C as stored. beta == 0 never reads C.
cdef int gemm_f32(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, double alpha,
                  const float* A, Py_ssize_t lda, const float* B, Py_ssize_t ldb, double beta, float* C,
                  Py_ssize_t ldc) noexcept nogil
cdef int gemm_f64(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, double alpha,
                  const double* A, Py_ssize_t lda, const double* B, Py_ssize_t ldb, double beta,
                  double* C, Py_ssize_t ldc) noexcept nogil
