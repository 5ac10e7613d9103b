"""The tall, narrow products of small nets (_narrow_gemm.h: n <= 8 output columns, k <= 16 inner terms,
AVX2+FMA) against float64 NumPy and against the BLAS path they replace (the baseline SIMD level)."""
import numpy as np
import pytest

K = pytest.importorskip("fastmlp._kernels")

SHAPES = [(4096, 4, 5), (4096, 5, 3), (1000, 16, 8), (777, 13, 7), (5001, 3, 1), (2049, 1, 8), (600, 16, 4),
          (1500, 7, 2)]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.fixture(params=["best", "baseline"])
def simd(request):
    K._force_simd(None if request.param == "best" else "baseline")
    yield request.param
    K._force_simd(None)


@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (1.0, 1.0), (0.5, 2.0), (-1.5, 0.0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_narrow_product(simd, shape, dtype, alpha, beta):
    m, k, n = shape
    rng = np.random.default_rng(m + k + n)
    A = rng.standard_normal((m, k)).astype(dtype)
    B = rng.standard_normal((k, n)).astype(dtype)
    C0 = rng.standard_normal((m, n)).astype(dtype)
    C = C0.copy() if beta != 0 else np.full((m, n), np.nan, dtype)  # beta == 0 never reads C
    K.gemm(A, B, C, alpha, beta, False, False)
    want = alpha * (A.astype(np.float64) @ B) + (beta * C0.astype(np.float64) if beta != 0 else 0)
    np.testing.assert_allclose(C, want, **TOL[dtype])


def test_narrow_product_propagates_nan_and_inf():
    A = np.ones((4096, 4), np.float32)
    A[7, 2] = np.nan
    A[9, 0] = np.inf
    B = np.ones((4, 5), np.float32)
    C = np.zeros((4096, 5), np.float32)
    K.gemm(A, B, C, 1.0, 0.0, False, False)
    assert np.isnan(C[7]).all() and np.isposinf(C[9]).all()
    assert np.isfinite(np.delete(C, [7, 9], axis=0)).all()


def test_small_net_predictions_agree_between_paths():
    """A 4-5-3 net over 4096 rows (both layers take the narrow path) against the BLAS path."""
    from fastmlp import FastMLP
    X = np.random.default_rng(0).standard_normal((4096, 4)).astype(np.float32)
    m = FastMLP([4, 5, 3], activation="logistic", seed=0)
    fast = m.predict_proba(X)
    K._force_simd("baseline")
    try:
        slow = m.predict_proba(X)
    finally:
        K._force_simd(None)
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES + [(2000, 2, 7), (9, 600, 8)], ids=str)
def test_narrow_dense_layer_adds_the_bias_in_registers(simd, shape, dtype):
    """dense_forward's narrow case (bias added in the kernel, full-width row stores where the overrun
    lands in rows still to be written): every row right, nothing past the output touched."""
    m, k, n = shape
    rng = np.random.default_rng(m * k + n)
    X = rng.standard_normal((m, k)).astype(dtype)
    W = rng.standard_normal((k, n)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    buf = np.full(m * n + 16, 7.0, dtype)
    out = buf[:m * n].reshape(m, n)
    K.dense_forward(X, W, b, out, "identity")
    np.testing.assert_allclose(out, X.astype(np.float64) @ W + b, **TOL[dtype])
    assert (buf[m * n:] == 7.0).all()
