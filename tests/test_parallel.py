"""Element-wise work split over the BLAS threads (_parallel.pxi): it follows threadpoolctl's limit, never
changes a result, and the OpenMP runtime is set up so that its threads sleep between splits."""
import os
import subprocess
import sys

import numpy as np
import pytest

from fastmlp import FastMLP, _numpy_backend as NB
from fastmlp._registry import ACTIVATION_TABLE

K = pytest.importorskip("fastmlp._kernels")
threadpoolctl = pytest.importorskip("threadpoolctl")

DTYPES = [np.float32, np.float64]
# split on 2 threads under the small threshold below, with row counts that do not divide evenly
SHAPES = [(301, 257), (1, 70001), (70001, 1)]


@pytest.fixture(autouse=True)
def small_split_threshold():
    """Split from 1024 elements per thread (the shipped threshold, sized to a VM's thread wake-up cost,
    would leave these test sizes on one thread)."""
    old = K._split_threshold(1024)
    yield
    K._split_threshold(old)
ELEMENTWISE = [name for name, e in ACTIVATION_TABLE.items() if e.derivative is not None]


def _two_threads():
    with threadpoolctl.threadpool_limits(2):
        if K.elementwise_threads() < 2:
            pytest.skip("the BLAS runs on one thread here (one core, or its thread count is not readable)")


def test_split_follows_the_blas_limit():
    with threadpoolctl.threadpool_limits(1):
        assert K.elementwise_threads() == 1
    _two_threads()
    with threadpoolctl.threadpool_limits(2):
        assert K.elementwise_threads() == 2
        assert K.elementwise_threads(1000) == 1  # small work stays on the calling thread
        K._split_threshold(1 << 19)
        assert K.elementwise_threads(1 << 20) == 2 and K.elementwise_threads((1 << 20) - 1) == 1


def _both(fn):
    with threadpoolctl.threadpool_limits(1):
        one = fn()
    with threadpoolctl.threadpool_limits(2):
        two = fn()
    return one, two


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax"])
def test_activation_forward_is_the_same_on_any_split(name, dtype, shape):
    _two_threads()
    Z = np.random.default_rng(1).standard_normal(shape).astype(dtype) * 3
    param = np.full(shape[1], 0.2, dtype) if ACTIVATION_TABLE[name].per_unit else None

    def run():
        out = np.empty_like(Z)
        return K.activation_forward(Z, out, name, param)
    one, two = _both(run)
    np.testing.assert_array_equal(one, two)
    ref = NB.activation_forward(Z, np.empty_like(Z), name, param)
    np.testing.assert_allclose(two, ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES[:2], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_backprop_is_the_same_on_any_split(name, dtype, shape):
    _two_threads()
    rng = np.random.default_rng(2)
    Z = rng.standard_normal(shape).astype(dtype)
    G = rng.standard_normal(shape).astype(dtype)
    param = np.full(shape[1], 0.2, dtype) if ACTIVATION_TABLE[name].per_unit else None
    A = K.activation_forward(Z, np.empty_like(Z), name, param)

    def run():
        out = G.copy()
        return K.backprop_activation(out, A, Z, out, name, param)
    one, two = _both(run)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
def test_split_training_matches_the_numpy_backend(optimizer, dtype):
    """A net whose activation passes (512 x 256) and parameter vector (~80k) are split on 2 threads."""
    _two_threads()
    rng = np.random.default_rng(3)
    X = rng.standard_normal((512, 300)).astype(dtype)
    y = rng.integers(0, 10, 512)
    models = {}
    with threadpoolctl.threadpool_limits(2):
        for backend in ("cython", "numpy"):
            m = FastMLP([300, 256, 10], activation="tanh", dtype=dtype, seed=0, backend=backend)
            m.fit(X, y, epochs=2, batch_size=512, optimizer=optimizer, lr=1e-3)
            models[backend] = m
        P = models["cython"].predict_proba(X)
    tol = dict(rtol=2e-3, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-12)
    fm, ref = models["cython"], models["numpy"]
    np.testing.assert_allclose(fm.get_params_vector(), ref.get_params_vector(), **tol)
    np.testing.assert_allclose(P, models["numpy"].predict_proba(X), **tol)


def test_lane_predict_and_step_on_two_threads_equal_the_checked_path():
    """The lane's split finiteness scans and backup copy (X of 4096 x 64, ~70k parameters)."""
    _two_threads()
    rng = np.random.default_rng(4)
    X = rng.standard_normal((256, 64)).astype(np.float32)
    y = rng.integers(0, 4, 256)
    with threadpoolctl.threadpool_limits(2):
        a, b = (FastMLP([64, 1024, 4], seed=0) for _ in range(2))
        for m in (a, b):
            m.partial_fit(X, y, batch_size=256)
        for _ in range(3):
            a.partial_fit(X, y, batch_size=256)           # lane
            b.partial_fit(X.tolist(), y.tolist(), batch_size=256)  # checked path
        np.testing.assert_array_equal(a.get_params_vector(), b.get_params_vector())
        Xb = rng.standard_normal((4096, 64)).astype(np.float32)
        np.testing.assert_array_equal(a.predict_proba(Xb), b.predict_proba(Xb.tolist()))
        Xb[4000, 3] = np.nan
        with pytest.raises(ValueError, match="X"):
            a.predict(Xb)


def _run(code):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_openmp_wait_policy_is_passive_and_not_inherited():
    code = ("import os, fastmlp; from fastmlp import _kernels as K; "
            "print('OMP_WAIT_POLICY' in os.environ, K.elementwise_threads() >= 1)")
    assert _run(code) == ["False", "True"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_no_split_when_an_openmp_runtime_was_already_running():
    """Another extension loaded libgomp first (its wait policy unknown): element-wise work stays on one
    thread instead of competing with spinning OpenMP threads."""
    code = ("import ctypes; ctypes.CDLL('libgomp.so.1'); import fastmlp; from fastmlp import _kernels as K; "
            "print(K.elementwise_threads())")
    try:
        import ctypes
        ctypes.CDLL("libgomp.so.1")
    except OSError:
        pytest.skip("no shared libgomp here")
    assert _run(code) == ["1"]
