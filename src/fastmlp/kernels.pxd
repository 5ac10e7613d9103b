# cython: language_level=3
# fastmlp's Cython-level API: cimport the nogil kernels from another Cython extension.
#
#     # distutils: language = c
#     from fastmlp.kernels cimport dense_forward_f64, ACT_RELU, FASTMLP_OK
#
#     cdef double[:, ::1] x = X, w = W, out = OUT
#     cdef double[::1] b = B
#     with nogil:
#         rc = dense_forward_f64(&x[0, 0], &w[0, 0], &b[0], NULL, &out[0, 0],
#                                x.shape[0], x.shape[1], w.shape[1], ACT_RELU, 0.0, NULL)
#
# Build with ``cythonize(ext, include_path=[fastmlp.get_include()])``. The declarations, argument
# conventions and error codes are documented in fastmlp/_kernels.pxd; this file re-exports them and adds
# the activation codes. There is no Python module ``fastmlp.kernels``: this file is for ``cimport`` only
# (the functions live in ``fastmlp._kernels``, which your module imports when it is imported).

from fastmlp._kernels cimport (
    FASTMLP_OK, FASTMLP_BAD_ACTIVATION, FASTMLP_NEEDS_Z, FASTMLP_BAD_ARGUMENT,
    dense_forward_f32, dense_forward_f64,
    activation_forward_f32, activation_forward_f64,
    activation_derivative_f32, activation_derivative_f64,
    backprop_activation_f32, backprop_activation_f64,
    softmax_f32, softmax_f64, log_softmax_f32, log_softmax_f64,
    delta_backward_f32, delta_backward_f64,
    weight_gradient_f32, weight_gradient_f64,
    prelu_gamma_gradient_f32, prelu_gamma_gradient_f64,
    sgd_weight_update_f32, sgd_weight_update_f64,
    softmax_cross_entropy_f32, softmax_cross_entropy_f64,
    sigmoid_cross_entropy_f32, sigmoid_cross_entropy_f64,
    squared_error_f32, squared_error_f64,
    poisson_loss_f32, poisson_loss_f64,
    sgd_update_f32, sgd_update_f64,
    momentum_update_f32, momentum_update_f64,
    adam_update_f32, adam_update_f64,
    gemm_f32, gemm_f64,
)

# Activation codes: the same numbers as fastmlp._netspec.ACTIVATION_CODES (fastmlp.ops.ACTIVATION_CODES),
# i.e. the registry's (fastmlp/_registry.py; tests/test_registry.py holds these literals to it). They are
# literals so that an extension built against this file needs no C header on its include path.
cdef enum:
    ACT_IDENTITY = 0
    ACT_LOGISTIC = 1     # sigmoid
    ACT_TANH = 2
    ACT_RELU = 3
    ACT_LEAKY_RELU = 4   # param: the slope for x < 0
    ACT_PRELU = 5        # gamma: per-unit slopes (m,)
    ACT_ELU = 6          # param: gamma
    ACT_SOFTPLUS = 7
    ACT_GELU = 8         # exact (erf)
    ACT_SILU = 9         # swish
    ACT_SOFTSIGN = 10
    ACT_HARDTANH = 11
    ACT_SOFTMAX = 12     # row-wise; forward only (pair it with softmax_cross_entropy)
    ACT_EXP = 13         # the mean of a Poisson output (pair it with poisson_loss)
    ACT_SELU = 14        # self-normalising ELU (fixed λ, α)
    ACT_MISH = 15        # z·tanh(softplus(z)); f' needs Z
