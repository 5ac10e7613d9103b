"""Central finite differences in float64: every activation, every output/loss, L2, sample weights."""
import numpy as np
import pytest

from conftest import ALL_ACTIVATIONS
from fastmlp import FastMLP

OUTPUTS = [("softmax", None, 3), ("sigmoid", None, 1), ("sigmoid", None, 3), ("identity", None, 2),
           ("sigmoid", "squared_error", 1), ("tanh", "squared_error", 2), ("prelu", "squared_error", 2)]


def _data(rng, n, d, output, loss, d_out):
    X = rng.standard_normal((n, d))
    if output == "softmax":
        y = rng.integers(0, d_out, n)
    elif output == "sigmoid" and loss is None:
        y = rng.integers(0, 2, n) if d_out == 1 else rng.integers(0, 2, (n, d_out))
    else:
        y = rng.standard_normal((n, d_out)) if d_out > 1 else rng.standard_normal(n)
    return X, y


def _fd_check(model, X, y, sw=None, eps=1e-6, n_coords=60, rng=None):
    loss, grad = model.gradient_vector(X, y, sw)
    theta = model.get_params_vector()
    idx = np.arange(theta.size) if theta.size <= n_coords else rng.choice(theta.size, n_coords, replace=False)
    for i in idx:
        t = theta.copy()
        t[i] += eps
        model.set_params_vector(t)
        lp = model.loss(X, y, sw)
        t[i] -= 2 * eps
        model.set_params_vector(t)
        lm = model.loss(X, y, sw)
        fd = (lp - lm) / (2 * eps)
        assert abs(fd - grad[i]) <= 1e-6 + 1e-5 * abs(fd), (i, fd, grad[i])
    model.set_params_vector(theta)
    return loss


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("act", ALL_ACTIVATIONS)
def test_finite_differences_every_activation(backend, act):
    rng = np.random.default_rng(7)
    X, y = _data(rng, 9, 3, "softmax", None, 3)
    m = FastMLP([3, 5, 4, 3], activation=act, output="softmax", dtype=np.float64, seed=3,
                backend=backend, l2=0.01)
    # Shift biases so no pre-activation sits on a kink (relu/leaky/hardtanh) within ±eps.
    for b in m.biases:
        b[...] = rng.uniform(-0.3, 0.3, b.shape)
    _fd_check(m, X, y, rng=rng)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("output,loss,d_out", OUTPUTS)
def test_finite_differences_every_output_and_loss(backend, output, loss, d_out):
    rng = np.random.default_rng(11)
    X, y = _data(rng, 8, 4, output, loss, d_out)
    m = FastMLP([4, 6, d_out], activation="tanh", output=output, loss=loss, dtype=np.float64, seed=5,
                backend=backend, l2=0.05)
    sw = rng.uniform(0.2, 2.0, 8)
    _fd_check(m, X, y, rng=rng)
    _fd_check(m, X, y, sw=sw, rng=rng)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_gradient_accumulates_over_chunks(backend):
    """gradients() on more rows than one workspace chunk equals the one-shot full-batch gradient."""
    rng = np.random.default_rng(0)
    X, y = _data(rng, 2500, 5, "softmax", None, 3)
    m = FastMLP([5, 7, 3], activation="elu", dtype=np.float64, backend=backend, l2=0.1)
    loss, grad = m.gradient_vector(X, y)
    parts = [m.gradient_vector(X[s:s + 500], y[s:s + 500]) for s in range(0, 2500, 500)]
    reg = 0.05 * sum(float((W ** 2).sum()) for W in m.weights)
    mean_loss = np.mean([p[0] - reg for p in parts]) + reg
    mask = m.spec.weight_mask()
    mean_grad = np.mean([p[1] - 0.1 * mask * m.get_params_vector() for p in parts], axis=0) \
        + 0.1 * mask * m.get_params_vector()
    np.testing.assert_allclose(loss, mean_loss, rtol=1e-12)
    np.testing.assert_allclose(grad, mean_grad, rtol=1e-9, atol=1e-12)


def test_gradients_returns_shapes_and_dtype():
    m = FastMLP([3, 4, 2], dtype=np.float32)
    loss, dW, db = m.gradients(np.ones((5, 3)), np.array([0, 1, 0, 1, 1]))
    assert isinstance(loss, float)
    assert [w.shape for w in dW] == [(3, 4), (4, 2)] and [b.shape for b in db] == [(4,), (2,)]
    assert all(w.dtype == np.float32 for w in dW + db)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backends_agree_on_gradients(dtype):
    rng = np.random.default_rng(2)
    X, y = _data(rng, 37, 6, "softmax", None, 4)
    kw = dict(activation=["prelu", "gelu"], dtype=dtype, seed=1, l2=0.02)
    a = FastMLP([6, 9, 5, 4], backend="cython", **kw)
    b = FastMLP([6, 9, 5, 4], backend="numpy", **kw)
    la, ga = a.gradient_vector(X, y)
    lb, gb = b.gradient_vector(X, y)
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(la, lb, rtol=tol)
    np.testing.assert_allclose(ga, gb, rtol=tol, atol=tol)
