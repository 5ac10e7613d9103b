"""The Cython-level API: a throwaway extension cimports fastmlp's nogil kernels from the *installed*
package (found through fastmlp.get_include()), is built with setuptools, and its results are checked
against the NumPy backend. Skipped when Cython or a C compiler is not available."""
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import threading

import numpy as np
import pytest

import fastmlp
from conftest import ALL_ACTIVATIONS, assert_close
from fastmlp._netspec import ACTIVATION_CODES

OK, BAD_ACTIVATION, NEEDS_Z, BAD_ARGUMENT = 0, 1, 2, 3

# Every entry point, called on raw addresses (Python ints) so the probe needs neither numpy headers nor
# memoryviews; `f64` picks the float or double variant. All calls run without the GIL.
PROBE = textwrap.dedent('''
    # cython: language_level=3
    from fastmlp.kernels cimport *
    from fastmlp.kernels cimport (ACT_IDENTITY, ACT_LOGISTIC, ACT_TANH, ACT_RELU, ACT_LEAKY_RELU,
        ACT_PRELU, ACT_ELU, ACT_SOFTPLUS, ACT_GELU, ACT_SILU, ACT_SOFTSIGN, ACT_HARDTANH, ACT_SOFTMAX,
        ACT_EXP, ACT_SELU, ACT_MISH, FASTMLP_OK, FASTMLP_BAD_ACTIVATION, FASTMLP_NEEDS_Z,
        FASTMLP_BAD_ARGUMENT)

    def codes():
        return dict(identity=ACT_IDENTITY, logistic=ACT_LOGISTIC, tanh=ACT_TANH, relu=ACT_RELU,
                    leaky_relu=ACT_LEAKY_RELU, prelu=ACT_PRELU, elu=ACT_ELU, softplus=ACT_SOFTPLUS,
                    gelu=ACT_GELU, silu=ACT_SILU, softsign=ACT_SOFTSIGN, hardtanh=ACT_HARDTANH,
                    softmax=ACT_SOFTMAX, exp=ACT_EXP, selu=ACT_SELU,
                    mish=ACT_MISH), (FASTMLP_OK, FASTMLP_BAD_ACTIVATION, FASTMLP_NEEDS_Z,
                                           FASTMLP_BAD_ARGUMENT)

    def dense_forward(bint f64, size_t X, size_t W, size_t b, size_t Z, size_t A, Py_ssize_t n,
                      Py_ssize_t k, Py_ssize_t m, int act, double param, size_t gamma):
        cdef int rc
        with nogil:
            if f64:
                rc = dense_forward_f64(<double*>X, <double*>W, <double*>b, <double*>Z, <double*>A, n, k, m,
                                       act, param, <double*>gamma)
            else:
                rc = dense_forward_f32(<float*>X, <float*>W, <float*>b, <float*>Z, <float*>A, n, k, m,
                                       act, param, <float*>gamma)
        return rc

    def activation_forward(bint f64, int act, double param, size_t gamma, size_t Z, size_t A,
                           Py_ssize_t n, Py_ssize_t m):
        cdef int rc
        with nogil:
            if f64:
                rc = activation_forward_f64(act, param, <double*>gamma, <double*>Z, <double*>A, n, m)
            else:
                rc = activation_forward_f32(act, param, <float*>gamma, <float*>Z, <float*>A, n, m)
        return rc

    def activation_derivative(bint f64, int act, double param, size_t gamma, size_t A, size_t Z,
                              size_t out, Py_ssize_t n, Py_ssize_t m):
        cdef int rc
        with nogil:
            if f64:
                rc = activation_derivative_f64(act, param, <double*>gamma, <double*>A, <double*>Z,
                                               <double*>out, n, m)
            else:
                rc = activation_derivative_f32(act, param, <float*>gamma, <float*>A, <float*>Z,
                                               <float*>out, n, m)
        return rc

    def backprop_activation(bint f64, int act, double param, size_t gamma, size_t A, size_t Z, size_t G,
                            Py_ssize_t n, Py_ssize_t m):
        cdef int rc
        with nogil:
            if f64:
                rc = backprop_activation_f64(act, param, <double*>gamma, <double*>A, <double*>Z,
                                             <double*>G, n, m)
            else:
                rc = backprop_activation_f32(act, param, <float*>gamma, <float*>A, <float*>Z,
                                             <float*>G, n, m)
        return rc

    def softmax(bint f64, bint log, size_t Z, size_t out, Py_ssize_t n, Py_ssize_t m):
        cdef int rc
        with nogil:
            if f64:
                rc = (log_softmax_f64 if log else softmax_f64)(<double*>Z, <double*>out, n, m)
            else:
                rc = (log_softmax_f32 if log else softmax_f32)(<float*>Z, <float*>out, n, m)
        return rc

    def delta_backward(bint f64, size_t delta, size_t W, size_t A, size_t Z, size_t out, Py_ssize_t n,
                       Py_ssize_t k, Py_ssize_t m, int act, double param, size_t gamma):
        cdef int rc
        with nogil:
            if f64:
                rc = delta_backward_f64(<double*>delta, <double*>W, <double*>A, <double*>Z, <double*>out,
                                        n, k, m, act, param, <double*>gamma)
            else:
                rc = delta_backward_f32(<float*>delta, <float*>W, <float*>A, <float*>Z, <float*>out,
                                        n, k, m, act, param, <float*>gamma)
        return rc

    def weight_gradient(bint f64, size_t A, size_t D, size_t W, size_t dW, size_t db, Py_ssize_t n,
                        Py_ssize_t k, Py_ssize_t m, double scale, double l2, bint accumulate):
        cdef int rc
        with nogil:
            if f64:
                rc = weight_gradient_f64(<double*>A, <double*>D, <double*>W, <double*>dW, <double*>db,
                                         n, k, m, scale, l2, accumulate)
            else:
                rc = weight_gradient_f32(<float*>A, <float*>D, <float*>W, <float*>dW, <float*>db,
                                         n, k, m, scale, l2, accumulate)
        return rc

    def prelu_gamma_gradient(bint f64, size_t G, size_t Z, size_t out, Py_ssize_t n, Py_ssize_t m,
                             double scale, bint accumulate):
        cdef int rc
        with nogil:
            if f64:
                rc = prelu_gamma_gradient_f64(<double*>G, <double*>Z, <double*>out, n, m, scale, accumulate)
            else:
                rc = prelu_gamma_gradient_f32(<float*>G, <float*>Z, <float*>out, n, m, scale, accumulate)
        return rc

    def sgd_weight_update(bint f64, size_t A, size_t D, size_t W, size_t b, Py_ssize_t n, Py_ssize_t k,
                          Py_ssize_t m, double lr, double l2):
        cdef int rc
        with nogil:
            if f64:
                rc = sgd_weight_update_f64(<double*>A, <double*>D, <double*>W, <double*>b, n, k, m, lr, l2)
            else:
                rc = sgd_weight_update_f32(<float*>A, <float*>D, <float*>W, <float*>b, n, k, m, lr, l2)
        return rc

    def loss(bint f64, str which, size_t Z, size_t Y, size_t D, size_t sw, Py_ssize_t n, Py_ssize_t m):
        cdef double r
        cdef int w = ("softmax_cross_entropy", "sigmoid_cross_entropy", "squared_error",
                      "poisson_loss").index(which)
        with nogil:
            if f64:
                if w == 0:
                    r = softmax_cross_entropy_f64(<double*>Z, <Py_ssize_t*>Y, <double*>D, <double*>sw, n, m)
                elif w == 1:
                    r = sigmoid_cross_entropy_f64(<double*>Z, <double*>Y, <double*>D, <double*>sw, n, m)
                elif w == 2:
                    r = squared_error_f64(<double*>Z, <double*>Y, <double*>D, <double*>sw, n, m)
                else:
                    r = poisson_loss_f64(<double*>Z, <double*>Y, <double*>D, <double*>sw, n, m)
            else:
                if w == 0:
                    r = softmax_cross_entropy_f32(<float*>Z, <Py_ssize_t*>Y, <float*>D, <float*>sw, n, m)
                elif w == 1:
                    r = sigmoid_cross_entropy_f32(<float*>Z, <float*>Y, <float*>D, <float*>sw, n, m)
                elif w == 2:
                    r = squared_error_f32(<float*>Z, <float*>Y, <float*>D, <float*>sw, n, m)
                else:
                    r = poisson_loss_f32(<float*>Z, <float*>Y, <float*>D, <float*>sw, n, m)
        return r

    def sgd_update(bint f64, size_t p, size_t g, Py_ssize_t P, double lr):
        cdef int rc
        with nogil:
            rc = sgd_update_f64(<double*>p, <double*>g, P, lr) if f64 else \\
                sgd_update_f32(<float*>p, <float*>g, P, lr)
        return rc

    def momentum_update(bint f64, size_t p, size_t g, size_t v, Py_ssize_t P, double lr, double mu,
                        bint nesterov):
        cdef int rc
        with nogil:
            rc = momentum_update_f64(<double*>p, <double*>g, <double*>v, P, lr, mu, nesterov) if f64 else \\
                momentum_update_f32(<float*>p, <float*>g, <float*>v, P, lr, mu, nesterov)
        return rc

    def adam_update(bint f64, size_t p, size_t g, size_t m1, size_t v, Py_ssize_t P, double lr, double b1,
                    double b2, double eps, long long t):
        cdef int rc
        with nogil:
            if f64:
                rc = adam_update_f64(<double*>p, <double*>g, <double*>m1, <double*>v, P, lr, b1, b2, eps, t)
            else:
                rc = adam_update_f32(<float*>p, <float*>g, <float*>m1, <float*>v, P, lr, b1, b2, eps, t)
        return rc

    def gemm(bint f64, bint ta, bint tb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, double alpha, size_t A,
             Py_ssize_t lda, size_t B, Py_ssize_t ldb, double beta, size_t C, Py_ssize_t ldc):
        cdef int rc
        with nogil:
            if f64:
                rc = gemm_f64(ta, tb, m, n, k, alpha, <double*>A, lda, <double*>B, ldb, beta, <double*>C, ldc)
            else:
                rc = gemm_f32(ta, tb, m, n, k, alpha, <float*>A, lda, <float*>B, ldb, beta, <float*>C, ldc)
        return rc
''')

SETUP = textwrap.dedent('''
    import sys
    import fastmlp
    from Cython.Build import cythonize
    from setuptools import Extension, setup

    setup(name="fastmlp_capi_probe", script_args=["build_ext", "--inplace", "-q"],
          ext_modules=cythonize([Extension("fastmlp_capi_probe", ["fastmlp_capi_probe.pyx"])],
                                include_path=[fastmlp.get_include()], quiet=True))
''')


def test_pxd_files_ship_with_the_package():
    """The .pxd files sit next to the installed package, where get_include() tells Cython to look."""
    inc = fastmlp.get_include()
    pkg = os.path.dirname(fastmlp.__file__)
    assert os.path.samefile(os.path.join(inc, "fastmlp"), pkg)
    for name in ("kernels.pxd", "_kernels.pxd"):
        assert os.path.isfile(os.path.join(pkg, name)), name


def _toolchain_or_skip():
    pytest.importorskip("Cython", reason="Cython is needed to build an extension against fastmlp")
    pytest.importorskip("setuptools", reason="setuptools is needed to build an extension")
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        pytest.skip(f"no C compiler ({cc}) on PATH")
    if not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")):
        pytest.skip("Python development headers (Python.h) are not installed")


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    _toolchain_or_skip()
    d = tmp_path_factory.mktemp("capi_probe")
    (d / "fastmlp_capi_probe.pyx").write_text(PROBE)
    (d / "setup.py").write_text(SETUP)
    env = dict(os.environ)
    # The child sees the same fastmlp as this process (installed, or src/ on PYTHONPATH in a checkout).
    pkg_parent = fastmlp.get_include()
    env["PYTHONPATH"] = os.pathsep.join([pkg_parent] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                                        if p])
    proc = subprocess.run([sys.executable, "setup.py"], cwd=d, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"building the probe failed:\n{proc.stdout}\n{proc.stderr}"
    sys.path.insert(0, str(d))
    try:
        import fastmlp_capi_probe
    finally:
        sys.path.remove(str(d))
    return fastmlp_capi_probe


def P(a):
    """The address of a C-contiguous array's data (0, i.e. NULL, for None)."""
    if a is None:
        return 0
    assert a.flags.c_contiguous
    return a.ctypes.data


def _rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _gamma(act, m, rng, dtype):
    return rng.uniform(-0.5, 0.5, m).astype(dtype) if act == "prelu" else None


def _param(act):
    return {"leaky_relu": 0.1, "elu": 0.7}.get(act, 0.0)


def _np_param(act, gamma):
    return gamma if act == "prelu" else {"leaky_relu": 0.1, "elu": 0.7}.get(act)


def test_codes_match_python(probe):
    acts, status = probe.codes()
    assert acts == ACTIVATION_CODES
    assert status == (OK, BAD_ACTIVATION, NEEDS_Z, BAD_ARGUMENT)


@pytest.mark.parametrize("act", ["identity", "relu", "logistic", "prelu", "gelu", "softmax"])
@pytest.mark.parametrize("nkm", [(1, 1, 1), (1, 4, 3), (6, 1, 2), (5, 3, 1), (40, 70, 90)])
def test_dense_forward(probe, npb, dtype, rng, act, nkm):
    n, k, m = nkm
    f64 = dtype == np.float64
    X, W, b = _rand(rng, (n, k), dtype), _rand(rng, (k, m), dtype), _rand(rng, (m,), dtype)
    g = _gamma(act, m, rng, dtype)
    Zref = np.empty((n, m), dtype)
    ref = npb.dense_forward(X, W, b, np.empty((n, m), dtype), act, _np_param(act, g), Zref)
    A, Z = np.empty((n, m), dtype), np.empty((n, m), dtype)
    code = ACTIVATION_CODES[act]
    assert probe.dense_forward(f64, P(X), P(W), P(b), P(Z), P(A), n, k, m, code, _param(act), P(g)) == OK
    assert_close(A, ref, dtype, scale=50)
    assert_close(Z, Zref, dtype, scale=50)
    # Z = NULL: in place in A; b = NULL: no bias.
    assert probe.dense_forward(f64, P(X), P(W), 0, 0, P(A), n, k, m, code, _param(act), P(g)) == OK
    nobias = npb.dense_forward(X, W, np.zeros(m, dtype), np.empty((n, m), dtype), act, _np_param(act, g))
    assert_close(A, nobias, dtype, scale=50)


@pytest.mark.parametrize("act", ALL_ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 1), (7, 5)])
def test_activations(probe, npb, dtype, rng, act, shape):
    n, m = shape
    f64 = dtype == np.float64
    code = ACTIVATION_CODES[act]
    Z = _rand(rng, shape, dtype, 3)
    g = _gamma(act, m, rng, dtype)
    p = _np_param(act, g)
    ref = npb.activation_forward(Z, np.empty_like(Z), act, p)
    A = np.empty_like(Z)
    assert probe.activation_forward(f64, code, _param(act), P(g), P(Z), P(A), n, m) == OK
    assert_close(A, ref, dtype, scale=8)
    dref = npb.activation_derivative(ref, Z, np.empty_like(Z), act, p)
    d = np.empty_like(Z)
    assert probe.activation_derivative(f64, code, _param(act), P(g), P(ref), P(Z), P(d), n, m) == OK
    assert_close(d, dref, dtype, scale=8)
    G = _rand(rng, shape, dtype)
    expect = G * dref
    assert probe.backprop_activation(f64, code, _param(act), P(g), P(ref), P(Z), P(G), n, m) == OK
    assert_close(G, expect, dtype, scale=8)


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (9, 1), (12, 10)])
def test_softmax_rows(probe, npb, dtype, rng, shape):
    f64 = dtype == np.float64
    Z = _rand(rng, shape, dtype, 5)
    out = np.empty_like(Z)
    assert probe.softmax(f64, False, P(Z), P(out), *shape) == OK
    assert_close(out, npb.softmax(Z, np.empty_like(Z)), dtype, scale=4)
    assert probe.softmax(f64, True, P(Z), P(out), *shape) == OK
    assert_close(out, npb.log_softmax(Z, np.empty_like(Z)), dtype, scale=8)


@pytest.mark.parametrize("act", ["tanh", "relu", "prelu", "silu"])
@pytest.mark.parametrize("nkm", [(1, 1, 1), (1, 3, 4), (5, 1, 2), (8, 6, 1), (33, 20, 70)])
def test_backward(probe, npb, dtype, rng, act, nkm):
    n, k, m = nkm
    f64 = dtype == np.float64
    D, W = _rand(rng, (n, m), dtype), _rand(rng, (k, m), dtype)
    Z = _rand(rng, (n, k), dtype)
    g = _gamma(act, k, rng, dtype)
    A = npb.activation_forward(Z, np.empty_like(Z), act, _np_param(act, g))
    ref = npb.delta_backward(D, W, A, Z, np.empty_like(A), act, _np_param(act, g))
    out = np.empty_like(A)
    assert probe.delta_backward(f64, P(D), P(W), P(A), P(Z), P(out), n, k, m, ACTIVATION_CODES[act],
                                _param(act), P(g)) == OK
    assert_close(out, ref, dtype, scale=50)

    Aprev, Wl = _rand(rng, (n, k), dtype), _rand(rng, (k, m), dtype)
    rW, rb = npb.weight_gradient(Aprev, D, Wl, np.empty_like(Wl), np.empty(m, dtype), 0.2, 0.5)
    dW, db = np.empty_like(Wl), np.empty(m, dtype)
    assert probe.weight_gradient(f64, P(Aprev), P(D), P(Wl), P(dW), P(db), n, k, m, 0.5, 0.2, False) == OK
    assert_close(dW, rW, dtype, scale=50)
    assert_close(db, rb, dtype, scale=50)
    # accumulate onto what is there; db = NULL and W = NULL (l2 = 0) are allowed
    assert probe.weight_gradient(f64, P(Aprev), P(D), 0, P(dW), 0, n, k, m, 0.5, 0.0, True) == OK
    assert_close(dW, rW + (rW - 0.2 * Wl), dtype, scale=100)

    G = _rand(rng, (n, k), dtype)
    rg = npb.prelu_gamma_gradient(G, Z, np.empty(k, dtype), 1.0 / n)
    og = np.empty(k, dtype)
    assert probe.prelu_gamma_gradient(f64, P(G), P(Z), P(og), n, k, 1.0 / n, False) == OK
    assert_close(og, rg, dtype, scale=50)

    W2, b2 = Wl.copy(), _rand(rng, (m,), dtype)
    rW2, rb2 = npb.sgd_weight_update(Aprev, D, Wl.copy(), b2.copy(), 0.1, 0.01)
    assert probe.sgd_weight_update(f64, P(Aprev), P(D), P(W2), P(b2), n, k, m, 0.1, 0.01) == OK
    assert_close(W2, rW2, dtype, scale=50)
    assert_close(b2, rb2, dtype, scale=50)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (6, 1), (30, 4)])
@pytest.mark.parametrize("weighted", [False, True])
def test_losses(probe, npb, dtype, rng, shape, weighted):
    n, c = shape
    f64 = dtype == np.float64
    Z = _rand(rng, shape, dtype, 3)
    Y = (rng.random(shape) < 0.5).astype(dtype)
    labels = rng.integers(0, c, n).astype(np.intp)
    sw = rng.uniform(0.5, 2, n).astype(dtype) if weighted else None
    for name, target in (("softmax_cross_entropy", labels), ("sigmoid_cross_entropy", Y),
                         ("squared_error", Y), ("poisson_loss", Y * 3)):
        rd = np.empty_like(Z)
        ref = getattr(npb, name)(Z, target, rd, sw)
        D = np.empty_like(Z)
        got = probe.loss(f64, name, P(Z), P(target), P(D), P(sw), n, c)
        np.testing.assert_allclose(got, ref, rtol=1e-5 if dtype == np.float32 else 1e-12)
        assert_close(D, rd, dtype, scale=8)
    bad = labels.copy()
    bad[-1] = c
    assert np.isnan(probe.loss(f64, "softmax_cross_entropy", P(Z), P(bad), P(D), 0, n, c))
    assert probe.loss(f64, "squared_error", P(Z), P(Y), P(D), 0, 0, c) == 0.0
    assert np.isnan(probe.loss(f64, "poisson_loss", P(Z), 0, P(D), 0, n, c))


@pytest.mark.parametrize("shape", [(1, 1), (7, 5)])
def test_exp_output(probe, npb, dtype, rng, shape):
    """The output-only activations run through the C API too: exp forward and its derivative (= A)."""
    n, m = shape
    f64 = dtype == np.float64
    code = ACTIVATION_CODES["exp"]
    Z = _rand(rng, shape, dtype, 3)
    A = np.empty_like(Z)
    assert probe.activation_forward(f64, code, 0.0, 0, P(Z), P(A), n, m) == OK
    assert_close(A, npb.activation_forward(Z, np.empty_like(Z), "exp"), dtype, scale=8)
    d = np.empty_like(Z)
    assert probe.activation_derivative(f64, code, 0.0, 0, P(A), 0, P(d), n, m) == OK
    assert_close(d, A, dtype)


@pytest.mark.parametrize("size", [1, 2, 37])
def test_updates(probe, npb, dtype, rng, size):
    f64 = dtype == np.float64
    p0, g = _rand(rng, (size,), dtype), _rand(rng, (size,), dtype)
    p = p0.copy()
    assert probe.sgd_update(f64, P(p), P(g), size, 0.1) == OK
    assert_close(p, npb.sgd_update(p0.copy(), g, 0.1), dtype)
    p, v, vr = p0.copy(), np.full(size, 0.3, dtype), np.full(size, 0.3, dtype)
    assert probe.momentum_update(f64, P(p), P(g), P(v), size, 0.1, 0.9, True) == OK
    assert_close(p, npb.momentum_update(p0.copy(), g, vr, 0.1, 0.9, True), dtype)
    assert_close(v, vr, dtype)
    p, m1, v = p0.copy(), np.full(size, 0.1, dtype), np.full(size, 0.2, dtype)
    mr, vr = m1.copy(), v.copy()
    assert probe.adam_update(f64, P(p), P(g), P(m1), P(v), size, 0.01, 0.9, 0.999, 1e-8, 4) == OK
    assert_close(p, npb.adam_update(p0.copy(), g, mr, vr, 0.01, 0.9, 0.999, 1e-8, 4), dtype, scale=4)
    assert_close(m1, mr, dtype)
    assert_close(v, vr, dtype)


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("mnk", [(1, 1, 1), (1, 8, 5), (6, 1, 3), (4, 5, 1), (70, 50, 60)])
def test_gemm(probe, dtype, rng, ta, tb, mnk):
    m, n, k = mnk
    f64 = dtype == np.float64
    A = _rand(rng, (k, m) if ta else (m, k), dtype)
    B = _rand(rng, (n, k) if tb else (k, n), dtype)
    C0 = _rand(rng, (m, n), dtype)
    C = C0.copy()
    assert probe.gemm(f64, ta, tb, m, n, k, 2.0, P(A), A.shape[1], P(B), B.shape[1], 0.5, P(C), n) == OK
    ref = 2.0 * (A.T if ta else A).astype(np.float64) @ (B.T if tb else B).astype(np.float64) + 0.5 * C0
    assert_close(C, ref, dtype, scale=50)


def test_errors_are_return_codes(probe, dtype):
    f64 = dtype == np.float64
    X, W, b, A = (np.ones((2, 3), dtype), np.ones((3, 4), dtype), np.ones(4, dtype),
                  np.empty((2, 4), dtype))
    assert probe.dense_forward(f64, P(X), P(W), P(b), 0, P(A), 2, 3, 4, 99, 0.0, 0) == BAD_ACTIVATION
    assert probe.dense_forward(f64, P(X), P(W), P(b), 0, P(A), 2, 3, 4, -1, 0.0, 0) == BAD_ACTIVATION
    assert probe.dense_forward(f64, P(X), P(W), P(b), 0, P(A), 2, 3, 4, ACTIVATION_CODES["prelu"],
                               0.0, 0) == BAD_ARGUMENT  # prelu without slopes
    assert probe.dense_forward(f64, P(X), P(W), P(b), 0, P(A), -2, 3, 4, 0, 0.0, 0) == BAD_ARGUMENT
    assert probe.dense_forward(f64, 0, P(W), P(b), 0, P(A), 2, 3, 4, 0, 0.0, 0) == BAD_ARGUMENT
    assert probe.dense_forward(f64, 0, 0, 0, 0, 0, 0, 3, 4, 0, 0.0, 0) == OK  # nothing to do
    G = np.ones((2, 4), dtype)
    assert probe.backprop_activation(f64, ACTIVATION_CODES["softmax"], 0.0, 0, P(A), 0, P(G), 2, 4) \
        == BAD_ACTIVATION
    assert probe.backprop_activation(f64, ACTIVATION_CODES["gelu"], 0.0, 0, P(A), 0, P(G), 2, 4) == NEEDS_Z
    D = np.ones((2, 4), dtype)
    assert probe.delta_backward(f64, P(D), P(W), P(A), 0, P(D), 2, 3, 4, 0, 0.0, 0) == BAD_ARGUMENT
    assert probe.weight_gradient(f64, P(X), P(D), 0, P(np.empty((3, 4), dtype)), 0, 2, 3, 4, 1.0, 0.5,
                                 False) == BAD_ARGUMENT  # l2 without W
    p = np.ones(3, dtype)
    assert probe.adam_update(f64, P(p), P(p), P(p.copy()), P(p.copy()), 3, 0.1, 0.9, 0.999, 1e-8, 0) \
        == BAD_ARGUMENT
    assert probe.sgd_update(f64, P(p), 0, 3, 0.1) == BAD_ARGUMENT
    C = np.empty((2, 4), dtype)
    assert probe.gemm(f64, False, False, 2, 4, 3, 1.0, P(X), 2, P(W), 4, 0.0, P(C), 4) == BAD_ARGUMENT
    assert probe.gemm(f64, False, False, 2, 4, 3, 1.0, P(X), 3, P(W), 4, 0.0, P(C), 4) == OK
    assert np.isnan(probe.loss(f64, "squared_error", P(X), P(X), P(X), 0, -1, 3))


def test_kernels_run_without_the_gil_from_threads(probe, npb, rng):
    """Threads call the nogil kernels on their own buffers at the same time; every result is right."""
    X = rng.standard_normal((64, 48))
    W = rng.standard_normal((48, 80))
    b = rng.standard_normal(80)
    ref = npb.dense_forward(X, W, b, np.empty((64, 80)), "tanh")
    outs = [np.empty((64, 80)) for _ in range(4)]
    codes = []

    def work(out):
        for _ in range(50):
            codes.append(probe.dense_forward(True, P(X), P(W), P(b), 0, P(out), 64, 48, 80,
                                             ACTIVATION_CODES["tanh"], 0.0, 0))

    threads = [threading.Thread(target=work, args=(o,)) for o in outs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [OK] * 200
    for out in outs:
        assert_close(out, ref, np.float64, scale=50)
