"""Property-based checks (hypothesis): random shapes, dtypes, activations and architectures."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import ALL_ACTIVATIONS
from fastmlp import FastMLP

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
dims = st.integers(1, 70)
dtypes = st.sampled_from([np.float32, np.float64])
acts = st.sampled_from(ALL_ACTIVATIONS)


def _tol(dtype, k):
    return (3e-5 if dtype == np.float32 else 1e-12) * (1 + np.sqrt(k)) * 10


@SETTINGS
@given(n=dims, k=dims, m=dims, dtype=dtypes, act=acts, seed=st.integers(0, 2 ** 31))
def test_dense_forward_and_delta_agree(cy, npb, n, k, m, dtype, act, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, k)).astype(dtype)
    W = rng.standard_normal((k, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    p = rng.uniform(0, 0.5, m).astype(dtype) if act == "prelu" else None
    Zc, Zr = np.empty((n, m), dtype), np.empty((n, m), dtype)
    A = cy.dense_forward(X, W, b, np.empty((n, m), dtype), act, p, Z=Zc)
    Ar = npb.dense_forward(X, W, b, np.empty((n, m), dtype), act, p, Z=Zr)
    np.testing.assert_allclose(A, Ar, rtol=_tol(dtype, k), atol=_tol(dtype, k))
    D = rng.standard_normal((n, 3)).astype(dtype)
    W2 = rng.standard_normal((m, 3)).astype(dtype)
    got = cy.delta_backward(D, W2, A, Zc, np.empty((n, m), dtype), act, p)
    ref = npb.delta_backward(D, W2, Ar, Zr, np.empty((n, m), dtype), act, p)
    np.testing.assert_allclose(got, ref, rtol=_tol(dtype, k) * 10, atol=_tol(dtype, k) * 10)


@SETTINGS
@given(hidden=st.lists(st.integers(1, 12), min_size=0, max_size=3), d=st.integers(1, 6),
       out=st.sampled_from([("softmax", None), ("sigmoid", None), ("identity", None),
                            ("tanh", "squared_error")]),
       act=acts, batch=st.integers(1, 9), n=st.integers(1, 25),
       opt=st.sampled_from(["sgd", "momentum", "nesterov", "adam"]),
       seed=st.integers(0, 2 ** 31))
def test_training_agrees_across_backends(hidden, d, out, act, batch, n, opt, seed):
    rng = np.random.default_rng(seed)
    output, loss = out
    d_out = 3 if output == "softmax" else 2
    X = rng.standard_normal((n, d))
    if output == "softmax":
        y = np.arange(n) % 3
    elif output == "sigmoid":
        y = rng.integers(0, 2, (n, d_out))
    else:
        y = rng.standard_normal((n, d_out))
    kw = dict(activation=act, output=output, loss=loss, dtype=np.float64, seed=seed % 1000, l2=0.01)
    a = FastMLP([d] + hidden + [d_out], backend="cython", **kw)
    b = FastMLP([d] + hidden + [d_out], backend="numpy", **kw)
    a.fit(X, y, epochs=2, batch_size=batch, lr=0.01, optimizer=opt, verbose=False)
    b.fit(X, y, epochs=2, batch_size=batch, lr=0.01, optimizer=opt, verbose=False)
    np.testing.assert_allclose(a.loss_curve, b.loss_curve, rtol=1e-9)
    np.testing.assert_allclose(a.get_params_vector(), b.get_params_vector(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.forward(X), b.forward(X), rtol=1e-8, atol=1e-10)


@SETTINGS
@given(n=st.integers(1, 40), c=st.integers(2, 12), dtype=dtypes, scale=st.floats(0.01, 500),
       seed=st.integers(0, 2 ** 31))
def test_softmax_cross_entropy_properties(cy, n, c, dtype, scale, seed):
    rng = np.random.default_rng(seed)
    Z = (rng.standard_normal((n, c)) * scale).astype(dtype)
    y = rng.integers(0, c, n).astype(np.intp)
    D = np.empty_like(Z)
    loss = cy.softmax_cross_entropy(Z, y, D)
    assert np.isfinite(loss) and loss >= 0
    # δ rows sum to 0 (probabilities sum to 1, minus the one-hot), δ ∈ [−1, 1].
    np.testing.assert_allclose(D.sum(axis=1), 0, atol=20 * np.finfo(dtype).eps * c)
    assert (D >= -1 - 1e-6).all() and (D <= 1 + 1e-6).all()
    # Shifting every logit of a row leaves loss and δ unchanged.
    D2 = np.empty_like(Z)
    assert cy.softmax_cross_entropy(Z + dtype(3), y, D2) == pytest.approx(loss, rel=1e-4, abs=1e-4)
