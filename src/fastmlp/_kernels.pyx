# cython: language_level=3
"""Cython kernels of fastmlp: the hot core, over BLAS from ``scipy.linalg.cython_blas``.

Every public function has the same name, arguments and ``out=`` buffers as its twin in
``_numpy_backend.py`` (the reference the tests hold these to). Shapes are batch-first, row-major:
``X (n, d)``, ``W (fan_in, fan_out)``, ``b (fan_out,)``. Public functions validate dtype, shape and
contiguity at the Python boundary (bounds checks are compiled out), then release the GIL and run
``nogil`` helpers that take raw pointers and sizes. Nothing is allocated inside a training step.

This file holds the declarations every part shares (C imports, the codes, the fused type, constants);
the kernels live in included files, one concern each (one module, one C file):

* ``_scalar.pxi``       scalar maths fused over float/double (exp, log, sigmoid of one element)
* ``_blas.pxi``         GEMM/GEMV: row-major front end to BLAS, a direct loop for tiny products; ``gemm``
* ``_checks.pxi``       the Python boundary's argument checking (dtype, shape, contiguity, overlap, codes)
* ``_activations.pxi``  activation forward/backprop, softmax, their Python entry points, ``simd_path``
* ``_dense.pxi``        a dense layer: forward, the delta recursion, weight gradients, fused SGD
* ``_losses.pxi``       the losses and their output error terms
* ``_optimizers.pxi``   flat parameter updates (SGD, momentum/Nesterov, Adam)
* ``_parallel.pxi``     element-wise work split over the BLAS threads (OpenMP; threadpoolctl's limit)
* ``_network.pxi``      ``Network``: forward, loss, gradient, train_step and train_epoch as nogil calls
* ``_lane.pxi``         the public calls' fast lane: predict / partial_fit as one C call on exact input
* ``_capi.pxi``         the Cython-level C API declared in ``_kernels.pxd``

Activation, loss and optimizer codes are the ``FASTMLP_*`` enums of ``_codes.h``, generated from
``_registry.py`` (``python -m fastmlp._registry --write-header``); ``CODES`` shows the compiled numbers.
What the boundary needs to know per activation (its default parameter, per-unit slopes, whether f'(z)
needs Z, whether it has an elementwise derivative) is read from the registry at import into small tables
indexed by code, so the kernels dispatch on codes only.
"""
from libc.math cimport (exp, expf, log, logf, log1p, log1pf,
                        erfc, sqrt, sqrtf, fabs, fabsf, pow, NAN)
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset
from libc.stdint cimport uint32_t, uint64_t
from libc.limits cimport INT_MAX
from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv

import numpy as np
cimport numpy as cnp

from ._netspec import NEEDS_Z, canonical_activation, ACTIVATION_CODES, NetSpec
from ._registry import ACTIVATION_TABLE, ACTIVATIONS
from .custom import _LIVE as _CUSTOM_LIVE, record_error as _custom_record, raise_pending as _custom_raise

cdef extern from "_prefetch.h" nogil:
    void fm_prefetch_range(const void* p, size_t nbytes)

cdef extern from "_narrow_gemm.h" nogil:
    int FM_NARROW_N
    int FM_NARROW_K
    int fm_gemm_narrow_ok()
    void fm_gemm_narrow_f32(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha, const float* A,
                            Py_ssize_t lda, const float* B, Py_ssize_t ldb, const float* bias, float* C,
                            Py_ssize_t ldc)
    void fm_gemm_narrow_f64(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, double alpha, const double* A,
                            Py_ssize_t lda, const double* B, Py_ssize_t ldb, const double* bias, double* C,
                            Py_ssize_t ldc)

cdef extern from "_rowops.h" nogil:
    void fm_rows_shift_f32(const float* Z, float* out, Py_ssize_t n, Py_ssize_t m)
    void fm_rows_shift_f64(const double* Z, double* out, Py_ssize_t n, Py_ssize_t m)
    void fm_rows_normalise_f32(float* out, Py_ssize_t n, Py_ssize_t m)
    void fm_rows_normalise_f64(double* out, Py_ssize_t n, Py_ssize_t m)

cdef extern from "_fastmath.h" nogil:
    float fm_expnegf(float x)
    double fm_expneg(double x)
    float fm_sigmoidf(float x)
    double fm_sigmoid(double x)
    int fm_simd_level()
    void fm_set_simd_level(int level)
    void fm_sigmoid_f32_best(const float* x, float* out, Py_ssize_t n)
    void fm_sigmoid_f64_best(const double* x, double* out, Py_ssize_t n)
    void fm_tanh_f32_best(const float* x, float* out, Py_ssize_t n)
    void fm_tanh_f64_best(const double* x, double* out, Py_ssize_t n)
    void fm_silu_f32_best(const float* x, float* out, Py_ssize_t n)
    void fm_silu_f64_best(const double* x, double* out, Py_ssize_t n)
    void fm_softplus_f32_best(const float* x, float* out, Py_ssize_t n)
    void fm_softplus_f64_best(const double* x, double* out, Py_ssize_t n)
    void fm_gelu_f32_best(const float* x, float* out, Py_ssize_t n)
    void fm_gelu_backprop_f32_best(const float* Z, float* G, Py_ssize_t n)
    void fm_silu_backprop_f32_best(const float* Z, float* G, Py_ssize_t n)
    void fm_silu_backprop_f64_best(const double* Z, double* G, Py_ssize_t n)
    void fm_softplus_backprop_f32_best(const float* A, float* G, Py_ssize_t n)
    void fm_softplus_backprop_f64_best(const double* A, double* G, Py_ssize_t n)
    void fm_elu_f32_best(const float* x, float* out, Py_ssize_t n, float gamma)
    void fm_elu_f64_best(const double* x, double* out, Py_ssize_t n, double gamma)
    void fm_exp_shift_f32_best(const float* x, float* out, Py_ssize_t n, float shift)
    void fm_exp_shift_f64_best(const double* x, double* out, Py_ssize_t n, double shift)

# The codes, generated from the registry. Short Cython names for the FASTMLP_* constants; ``cpdef`` puts
# them in the module's namespace too (ACT_RELU, LOSS_POISSON, ...), where CODES (below) collects them. A registry entry the kernels
# dispatch on is declared here, under the name its generated constant has after FASTMLP_.
cdef extern from "_codes.h":
    cpdef enum:
        ACT_IDENTITY "FASTMLP_ACT_IDENTITY"
        ACT_LOGISTIC "FASTMLP_ACT_LOGISTIC"
        ACT_TANH "FASTMLP_ACT_TANH"
        ACT_RELU "FASTMLP_ACT_RELU"
        ACT_LEAKY_RELU "FASTMLP_ACT_LEAKY_RELU"
        ACT_PRELU "FASTMLP_ACT_PRELU"
        ACT_ELU "FASTMLP_ACT_ELU"
        ACT_SOFTPLUS "FASTMLP_ACT_SOFTPLUS"
        ACT_GELU "FASTMLP_ACT_GELU"
        ACT_SILU "FASTMLP_ACT_SILU"
        ACT_SOFTSIGN "FASTMLP_ACT_SOFTSIGN"
        ACT_HARDTANH "FASTMLP_ACT_HARDTANH"
        ACT_SOFTMAX "FASTMLP_ACT_SOFTMAX"
        ACT_EXP "FASTMLP_ACT_EXP"
        ACT_SELU "FASTMLP_ACT_SELU"
        ACT_MISH "FASTMLP_ACT_MISH"
    cpdef enum:
        LOSS_CROSS_ENTROPY "FASTMLP_LOSS_CROSS_ENTROPY"
        LOSS_BINARY_CROSS_ENTROPY "FASTMLP_LOSS_BINARY_CROSS_ENTROPY"
        LOSS_SQUARED_ERROR "FASTMLP_LOSS_SQUARED_ERROR"
        LOSS_POISSON "FASTMLP_LOSS_POISSON"
    cpdef enum:
        OPT_SGD "FASTMLP_OPT_SGD"
        OPT_MOMENTUM "FASTMLP_OPT_MOMENTUM"
        OPT_NESTEROV "FASTMLP_OPT_NESTEROV"
        OPT_ADAM "FASTMLP_OPT_ADAM"
        OPT_RMSPROP "FASTMLP_OPT_RMSPROP"
        OPT_ADAMW "FASTMLP_OPT_ADAMW"
        OPT_RPROP "FASTMLP_OPT_RPROP"
    enum:
        N_ACT "FASTMLP_N_ACT"
        N_LOSS "FASTMLP_N_LOSS"
        N_OPT "FASTMLP_N_OPT"

cnp.import_array()

NAME = "cython"

ctypedef fused floating:
    float
    double

# The dtype of a call's arrays, as _kind_of reports it (KIND_ANY: _check takes the array's own).
cdef enum:
    KIND_ANY = -1
    KIND_F32 = 0
    KIND_F64 = 1

# What _net_backward does with the gradient of its rows.
cdef enum:
    GRAD_SET = 0          # grad = scale·∇
    GRAD_ACCUMULATE = 1   # grad += scale·∇ (the later chunks of a full-batch gradient)
    GRAD_SGD_STEP = 2     # plain SGD fused in: W, b updated in place as soon as their δ is formed

# fm_set_simd_level's "back to what the CPU supports".
cdef enum:
    SIMD_DETECT = -1

# Rows ahead of the copy whose lines the epoch loop prefetches (shuffled rows arrive from memory in
# parallel instead of one random jump at a time).
cdef enum:
    PREFETCH_ROWS = 8

# Below this many multiply-adds a direct loop beats the fixed cost of a BLAS call.
cdef Py_ssize_t SMALL_GEMM = 4096
# Softmax rows narrower than this are exponentiated as one block (see _softmax_rows).
cdef Py_ssize_t SOFTMAX_NARROW = 16
cdef double SQRT1_2 = 0.7071067811865476
cdef double INV_SQRT_2PI = 0.3989422804014327


def _compiled_codes(prefix):
    return {name[len(prefix):].lower(): int(value) for name, value in globals().items()
            if name.startswith(prefix) and isinstance(value, int)}


def __getattr__(name):
    # CODES: the compiled codes by kind and name, one entry per ``cpdef`` constant declared above (the tests
    # hold them to the registry's ACTIVATION_CODES, LOSS_CODES and OPTIMIZER_CODES). Built on first use:
    # Cython puts the constants into the module's namespace only at the end of its initialisation.
    if name == "CODES":
        codes = {"activation": _compiled_codes("ACT_"), "loss": _compiled_codes("LOSS_"),
                 "optimizer": _compiled_codes("OPT_")}
        globals()["CODES"] = codes
        return codes
    raise AttributeError(f"module 'fastmlp._kernels' has no attribute {name!r}")


# Per-activation facts of the registry, by code, for the checks of the Python and C boundaries.
cdef double _ACT_DEFAULT_P[N_ACT]   # the scalar parameter when none is given (leaky slope, elu gamma)
cdef bint _ACT_PER_UNIT[N_ACT]      # the parameter is an array of per-unit slopes (prelu)
cdef bint _ACT_NEEDS_Z[N_ACT]       # f'(z) is computed from Z, not from A = f(Z)
cdef bint _ACT_ELEMENTWISE[N_ACT]   # f' is elementwise (softmax has a Jacobian instead)


cdef int _read_registry() except -1:
    cdef int c
    for entry in ACTIVATION_TABLE.values():
        c = entry.code
        if 0 <= c < N_ACT:  # a code past the compiled header: _act_code refuses it (rebuild needed)
            _ACT_DEFAULT_P[c] = entry.default_param
            _ACT_PER_UNIT[c] = entry.per_unit
            _ACT_NEEDS_Z[c] = entry.needs_z
            _ACT_ELEMENTWISE[c] = entry.derivative is not None
    return 0


_read_registry()

include "_scalar.pxi"
include "_blas.pxi"
include "_checks.pxi"
include "_activations_extra.pxi"
include "_activations.pxi"
include "_dense.pxi"
include "_losses.pxi"
include "_optimizers.pxi"
include "_optimizers_extra.pxi"
include "_parallel.pxi"
include "_network.pxi"
include "_dropout.pxi"
include "_lane.pxi"
# The Cython-level API for other extensions (declared in _kernels.pxd).
include "_capi.pxi"
