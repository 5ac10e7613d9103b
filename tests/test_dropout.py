"""Dropout: the masks (rate, inverted scaling), the gradient of a step with its mask against finite
differences, both backends drawing the same masks, off outside training steps, seeded, refused arguments."""
import numpy as np
import pytest
from scipy.special import logsumexp

from fastmlp import FastMLP, _kernels, _numpy_backend
from fastmlp._netspec import NetSpec, Optimizer
from fastmlp.validation import ParameterError


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    return X, (X[:, 0] * X[:, 1] > 0).astype(int)


def test_masks_drop_at_the_rate_and_scale_the_rest():
    spec = NetSpec([3, 400, 2], ["relu", "softmax"], [0, 0], "cross_entropy")
    theta = np.zeros(spec.n_params)
    net = _numpy_backend.Network(spec, theta, np.zeros_like(theta), 256)
    net.set_dropout([0.3, 0], key=7)
    net._training = True
    acts = [None, np.ones((256, 400))]
    AD = net._dropout_input(acts, 1).copy()
    M = net._M[1][:256]
    assert abs((M == 0).mean() - 0.3) < 0.01
    assert np.allclose(M[M != 0], 1 / 0.7) and abs(M.mean() - 1.0) < 0.02
    np.testing.assert_array_equal(AD, M)
    AD2 = net._dropout_input(acts, 1).copy()  # the counter moved on: a new mask
    assert not np.array_equal(AD2, AD)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["sgd", "adam", "momentum"])
def test_backends_draw_the_same_masks(dtype, kind):
    spec = NetSpec([4, 9, 7, 3], ["tanh", "prelu", "softmax"], [0, 0.25, 0], "cross_entropy")
    rng = np.random.default_rng(0)
    theta0 = (rng.standard_normal(spec.n_params) * 0.5).astype(dtype)
    X = rng.standard_normal((50, 4)).astype(dtype)
    y = rng.integers(0, 3, 50).astype(np.intp)
    out = []
    for be in (_kernels, _numpy_backend):
        th = theta0.copy()
        net = be.Network(spec, th, np.zeros_like(th), 16)
        net.set_dropout([0.3, 0.5, 0.0], key=99)
        opt = Optimizer(kind, spec.n_params, dtype, lr=0.05)
        r = [net.train_epoch(X, y, None, np.arange(50, dtype=np.intp), 16, opt) for _ in range(3)]
        out.append((th, r))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(out[0][0], out[1][0], **tol)
    np.testing.assert_allclose(out[0][1], out[1][1], **tol)
    assert not np.allclose(out[0][0], theta0)


def test_step_gradient_is_that_of_the_masked_network():
    """One SGD step (lr = 1) moves θ by −∇ of the loss of the network with the step's mask applied:
    checked by central differences of that masked network, written out here in NumPy."""
    spec = NetSpec([3, 6, 5, 2], ["tanh", "logistic", "softmax"], [0, 0, 0], "cross_entropy")
    rng = np.random.default_rng(3)
    theta0 = rng.standard_normal(spec.n_params) * 0.5
    X = rng.standard_normal((8, 3))
    y = rng.integers(0, 2, 8).astype(np.intp)
    th = theta0.copy()
    net = _numpy_backend.Network(spec, th, np.zeros_like(th), 8)
    net.set_dropout([0.4, 0.25, 0.0], key=5)
    net.train_step(X, y, None, Optimizer("sgd", spec.n_params, np.float64, lr=1.0))
    masks = {l: net._M[l][:8].copy() for l in (1, 2)}
    step_grad = theta0 - th

    def risk(theta):
        Ws, bs, _ = spec.views(theta)
        A = np.tanh(X @ Ws[0] + bs[0]) * masks[1]
        A = 1 / (1 + np.exp(-(A @ Ws[1] + bs[1]))) * masks[2]
        Z = A @ Ws[2] + bs[2]
        return np.mean(logsumexp(Z, axis=1) - Z[np.arange(8), y])

    fd = np.empty_like(theta0)
    for i in range(theta0.size):
        e = np.zeros_like(theta0)
        e[i] = 1e-6
        fd[i] = (risk(theta0 + e) - risk(theta0 - e)) / 2e-6
    np.testing.assert_allclose(step_grad, fd, rtol=1e-6, atol=1e-8)
    # and the compiled kernels took the same step
    th_c = theta0.copy()
    net_c = _kernels.Network(spec, th_c, np.zeros_like(th_c), 8)
    net_c.set_dropout([0.4, 0.25, 0.0], key=5)
    net_c.train_step(X, y, None, Optimizer("sgd", spec.n_params, np.float64, lr=1.0))
    np.testing.assert_allclose(th_c, th, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_dropout_is_off_outside_training_and_seeded(backend):
    X, y = _data()
    m = FastMLP([4, 32, 32, 2], dropout=0.5, seed=1, backend=backend, dtype=np.float64)
    plain = FastMLP([4, 32, 32, 2], seed=1, backend=backend, dtype=np.float64)
    np.testing.assert_array_equal(m.predict_proba(X), plain.predict_proba(X))
    np.testing.assert_array_equal(m.gradient_vector(X, y)[1], plain.gradient_vector(X, y)[1])
    m.fit(X, y, epochs=3, lr=0.05)
    plain.fit(X, y, epochs=3, lr=0.05)
    assert not np.allclose(m.get_params_vector(), plain.get_params_vector())  # the masks did something
    np.testing.assert_array_equal(m.predict_proba(X), m.predict_proba(X))
    again = FastMLP([4, 32, 32, 2], dropout=0.5, seed=1, backend=backend, dtype=np.float64)
    again.fit(X, y, epochs=3, lr=0.05)
    np.testing.assert_array_equal(again.get_params_vector(), m.get_params_vector())
    other = FastMLP([4, 32, 32, 2], dropout=0.5, seed=2, backend=backend, dtype=np.float64)
    other.set_params_vector(FastMLP([4, 32, 32, 2], seed=1, dtype=np.float64).get_params_vector())
    other.fit(X, y, epochs=3, lr=0.05)  # same start, another seed: other shuffles and masks
    assert not np.allclose(other.get_params_vector(), m.get_params_vector())


def test_dropout_regularises_and_is_saved(tmp_path):
    X, y = _data(400)
    m = FastMLP([4, 64, 64, 2], dropout=[0.1, 0.3], seed=0).fit(X, y, epochs=40, lr=0.05, batch_size=16)
    assert m.score(X, y) > 0.9
    m.save(tmp_path / "m.npz")
    back = FastMLP.load(tmp_path / "m.npz")
    assert back.dropout == [0.1, 0.3]
    np.testing.assert_array_equal(back.predict(X), m.predict(X))


@pytest.mark.parametrize("dropout, match", [
    (1.0, "dropout: must be < 1"), (-0.1, "dropout: must be >= 0"), (float("nan"), "dropout"),
    ([0.1], "dropout: got 1 rates for 2 hidden layers"), ([0.1, 1.5], r"dropout\[1\]"), ("0.2", "dropout"),
])
def test_bad_dropout_is_refused(dropout, match):
    with pytest.raises(ParameterError, match=match):
        FastMLP([4, 8, 8, 2], dropout=dropout)


@pytest.mark.parametrize("optimizer", ["rprop", "lbfgs"])
def test_dropout_with_full_batch_methods_is_refused(optimizer):
    X, y = _data()
    with pytest.raises(ParameterError, match=f"dropout: {optimizer}"):
        FastMLP([4, 8, 2], dropout=0.2).fit(X, y, optimizer=optimizer)


def test_dropout_travels_to_and_from_torch():
    torch = pytest.importorskip("torch")
    from fastmlp import exchange
    m = FastMLP([4, 8, 6, 2], activation=["relu", "tanh"], dropout=[0.25, 0.5], dtype=np.float64, seed=0)
    net = exchange.to_torch(m)
    drops = [mod.p for mod in net if isinstance(mod, torch.nn.Dropout)]
    assert drops == [0.25, 0.5] == m.dropout_rates and not net.training
    X = np.random.default_rng(0).standard_normal((10, 4))
    with torch.no_grad():
        np.testing.assert_allclose(net(torch.from_numpy(X)).numpy(), m.predict_proba(X), rtol=1e-12)
    back = exchange.from_torch(net)
    assert back.dropout == [0.25, 0.5]
    np.testing.assert_allclose(back.predict_proba(X), m.predict_proba(X), rtol=1e-12)
