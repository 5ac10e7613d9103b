"""Whole-network training in one call: the Cython Network against the NumPy Network, step by step."""
import numpy as np
import pytest

from fastmlp._netspec import NetSpec, Optimizer
from fastmlp.model import FastMLP

CASES = [
    # sizes, hidden activations, output, loss
    ([4, 5, 3], ["logistic"], "softmax", "cross_entropy"),
    ([7, 9, 8, 4], ["relu", "prelu"], "softmax", "cross_entropy"),
    ([3, 6, 1], ["tanh"], "logistic", "binary_cross_entropy"),
    ([3, 6, 5, 2], ["gelu", "silu"], "logistic", "binary_cross_entropy"),
    ([13, 17, 2], ["elu"], "identity", "squared_error"),
    ([1, 1], [], "logistic", "squared_error"),
    ([2, 3, 2], ["softsign"], "prelu", "squared_error"),
    ([6, 4, 3], ["hardtanh"], "tanh", "squared_error"),
    ([5, 6, 2], ["relu"], "exp", "poisson"),
    ([3, 4, 1], ["gelu"], "exp", "poisson"),
]


def _make(sizes, hidden, output, loss, dtype, rng):
    params = [0.25 if a == "prelu" else {"leaky_relu": 0.01, "elu": 1.0}.get(a, 0.0)
              for a in hidden + [output]]
    spec = NetSpec(sizes, hidden + [output], params, loss)
    theta = np.zeros(spec.n_params, dtype)
    Ws, bs, gs = spec.views(theta)
    for W, b, g in zip(Ws, bs, gs):
        W[...] = rng.standard_normal(W.shape) * 1.5 / np.sqrt(W.shape[0])
        b[...] = rng.standard_normal(b.shape) * 0.1
        if g is not None:
            g[...] = rng.uniform(0.05, 0.4, g.shape)
    return spec, theta


def _targets(spec, n, dtype, rng):
    d = spec.sizes[-1]
    if spec.loss == "cross_entropy":
        return rng.integers(0, d, n).astype(np.intp)
    if spec.loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n, d)).astype(dtype)
    if spec.loss == "poisson":  # counts, zeros included
        return rng.poisson(1.5, (n, d)).astype(dtype)
    return rng.standard_normal((n, d)).astype(dtype)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c[0])) + "-" + c[3])
def test_epoch_matches_reference(cy, npb, dtype, case, optimizer):
    rng = np.random.default_rng(5)
    spec, theta = _make(*case, dtype, rng)
    n = 23
    X = rng.standard_normal((n, spec.sizes[0])).astype(dtype)
    y = _targets(spec, n, dtype, rng)
    sw = rng.uniform(0.5, 1.5, n).astype(dtype)
    order = rng.permutation(n).astype(np.intp)
    nets, opts = [], []
    for be in (cy, npb):
        th = theta.copy()
        nets.append(be.Network(spec, th, np.zeros_like(th), 8))
        opts.append(Optimizer(optimizer, spec.n_params, dtype, lr=0.01, l2=0.01))
    for epoch in range(3):
        w = sw if epoch == 1 else None
        bs = [5, 1, 8][epoch]  # ragged last batch, per-sample SGD, full workspace
        lc = nets[0].train_epoch(X, y, w, order, bs, opts[0])
        lr_ = nets[1].train_epoch(X, y, w, order, bs, opts[1])
        rtol = 2e-4 if dtype == np.float32 else 1e-10
        assert np.isfinite(lc) and np.isfinite(nets[0].theta).all()
        np.testing.assert_allclose(lc, lr_, rtol=rtol)
        np.testing.assert_allclose(nets[0].theta, nets[1].theta, rtol=rtol, atol=rtol)
    assert opts[0].t == opts[1].t == 5 + 23 + 3
    assert nets[0].theta.dtype == dtype


@pytest.mark.parametrize("case", CASES[:5], ids=lambda c: "-".join(map(str, c[0])))
def test_step_forward_loss_and_grad_match_reference(cy, npb, dtype, case):
    rng = np.random.default_rng(9)
    spec, theta = _make(*case, dtype, rng)
    X = rng.standard_normal((11, spec.sizes[0])).astype(dtype)
    y = _targets(spec, 11, dtype, rng)
    rtol = 2e-4 if dtype == np.float32 else 1e-10
    a = cy.Network(spec, theta.copy(), np.zeros_like(theta), 4)
    b = npb.Network(spec, theta.copy(), np.zeros_like(theta), 4)
    np.testing.assert_allclose(a.loss_and_grad(X, y, None, 0.1), b.loss_and_grad(X, y, None, 0.1), rtol=rtol)
    np.testing.assert_allclose(a.grad, b.grad, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(a.loss(X, y), b.loss(X, y), rtol=rtol)
    out_a, out_b = np.empty((11, spec.sizes[-1]), dtype), np.empty((11, spec.sizes[-1]), dtype)
    np.testing.assert_allclose(a.forward(X, out_a), b.forward(X, out_b), rtol=rtol, atol=rtol)
    oa, ob = (Optimizer("adam", spec.n_params, dtype, lr=0.01) for _ in range(2))
    np.testing.assert_allclose(a.train_step(X[:4], y[:4], None, oa), b.train_step(X[:4], y[:4], None, ob),
                               rtol=rtol)
    np.testing.assert_allclose(a.theta, b.theta, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("hidden", [["tanh"], ["prelu", "silu"]])
def test_poisson_network_gradient_is_the_finite_difference_one(cy, npb, hidden):
    """The exp output with the Poisson loss: ∂R/∂θ of loss_and_grad (both backends, sample weights, L2)
    equals central finite differences of loss; R is the mean over rows of w_i Σ_j (μ − y z + y log y − y)."""
    rng = np.random.default_rng(3)
    sizes = [4] + [5] * len(hidden) + [2]
    spec, theta = _make(sizes, hidden, "exp", "poisson", np.float64, rng)
    theta *= 0.5
    X = rng.standard_normal((13, 4))
    y = rng.poisson(2.0, (13, 2)).astype(np.float64)
    sw = rng.uniform(0.5, 1.5, 13)
    l2 = 0.05
    mask = spec.weight_mask()
    for be in (cy, npb):
        net = be.Network(spec, theta.copy(), np.zeros_like(theta), 5)  # 3 chunks: 5 + 5 + 3 rows
        R = net.loss_and_grad(X, y, sw, l2)
        grad = net.grad.copy()

        def objective(t, net=net):
            net.theta[...] = t
            return net.loss(X, y, sw) + 0.5 * l2 * float(np.sum(t[mask] ** 2))

        assert R == pytest.approx(objective(theta), rel=1e-12)
        eps = 1e-6
        for i in range(spec.n_params):
            t = theta.copy()
            t[i] += eps
            lp = objective(t)
            t[i] -= 2 * eps
            lm = objective(t)
            fd = (lp - lm) / (2 * eps)
            assert abs(fd - grad[i]) <= 1e-6 + 1e-5 * abs(fd), (be.NAME, i, fd, grad[i])
        # the output is μ = exp(z) of the last layer's pre-activation
        net.theta[...] = theta
        out = net.forward(X, np.empty((13, 2)))
        Ws, bs, gs = spec.views(theta)
        Z = X
        for l, act in enumerate(hidden):
            Z = be.dense_forward(np.ascontiguousarray(Z), Ws[l], bs[l], np.empty((13, sizes[l + 1])), act,
                                 gs[l] if gs[l] is not None else None)
        np.testing.assert_allclose(out, np.exp(Z @ Ws[-1] + bs[-1]), rtol=1e-12)


def test_poisson_epoch_runs_in_c_and_matches_the_reference(cy, npb):
    """train_epoch with the Poisson loss is one C call (no Python step loop): it equals the NumPy
    Network's epoch, and lowers the loss on counts drawn from exp(X·w)."""
    rng = np.random.default_rng(11)
    spec = NetSpec([3, 1], ["exp"], [0.0], "poisson")
    X = rng.standard_normal((400, 3))
    y = rng.poisson(np.exp(X @ np.array([0.5, -0.3, 0.2]) + 0.5))[:, None].astype(np.float64)
    theta = np.zeros(spec.n_params)
    order = rng.permutation(400).astype(np.intp)
    nets = [be.Network(spec, theta.copy(), np.zeros_like(theta), 32) for be in (cy, npb)]
    opts = [Optimizer("adam", spec.n_params, np.float64, lr=0.05) for _ in nets]
    first = nets[0].loss(X, y)
    for _ in range(5):
        r = [net.train_epoch(X, y, None, order, 32, opt) for net, opt in zip(nets, opts)]
        np.testing.assert_allclose(r[0], r[1], rtol=1e-10)
    np.testing.assert_allclose(nets[0].theta, nets[1].theta, rtol=1e-9, atol=1e-12)
    assert nets[0].loss(X, y) < 0.8 * first
    np.testing.assert_allclose(nets[0].theta[:3], [0.5, -0.3, 0.2], atol=0.15)


def test_exp_output_needs_the_poisson_loss():
    with pytest.raises(ValueError, match="loss: the exp output is trained with poisson"):
        NetSpec([3, 2], ["exp"], [0.0], "squared_error")
    with pytest.raises(ValueError, match="loss: poisson needs the exponential output"):
        NetSpec([3, 2], ["identity"], [0.0], "poisson")
    with pytest.raises(ValueError, match="activation: exp is an output activation only"):
        NetSpec([3, 4, 2], ["exp", "exp"], [0.0, 0.0], "poisson")
    assert NetSpec([3, 4, 2], ["relu", "exp"], [0.0, 0.0], "poisson").loss_code == 3


def test_sgd_epoch_equals_explicit_per_sample_loop(cy):
    """Algorithm 4.1 with batch size 1: the C epoch equals a Python loop of textbook updates."""
    rng = np.random.default_rng(4)
    spec, theta = _make([4, 5, 3], ["logistic"], "softmax", "cross_entropy", np.float64, rng)
    X = rng.standard_normal((10, 4))
    y = rng.integers(0, 3, 10).astype(np.intp)
    order = rng.permutation(10).astype(np.intp)
    net = cy.Network(spec, theta.copy(), np.zeros_like(theta), 1)
    net.train_epoch(X, y, None, order, 1, Optimizer("sgd", spec.n_params, np.float64, lr=0.1))
    W1, b1, W2, b2 = (v.copy() for v in (spec.views(theta)[0][0], spec.views(theta)[1][0],
                                         spec.views(theta)[0][1], spec.views(theta)[1][1]))
    for i in order:
        x = X[i:i + 1]
        a1 = 1 / (1 + np.exp(-(x @ W1 + b1)))
        z2 = a1 @ W2 + b2
        p = np.exp(z2 - z2.max())
        p /= p.sum()
        d2 = p - np.eye(3)[y[i]]
        d1 = a1 * (1 - a1) * (d2 @ W2.T)
        W2 -= 0.1 * a1.T @ d2
        b2 -= 0.1 * d2[0]
        W1 -= 0.1 * x.T @ d1
        b1 -= 0.1 * d1[0]
    Ws, bs, _ = spec.views(net.theta)
    for got, want in zip([Ws[0], bs[0], Ws[1], bs[1]], [W1, b1, W2, b2]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_network_rejects_bad_buffers(cy):
    spec = NetSpec([3, 2], ["softmax"], [0.0], "cross_entropy")
    theta = np.zeros(spec.n_params)
    net = cy.Network(spec, theta, np.zeros_like(theta), 4)
    opt = Optimizer("sgd", spec.n_params, np.float64)
    X = np.zeros((5, 3))
    y = np.zeros(5, np.intp)
    with pytest.raises(ValueError, match="max_batch"):
        net.train_step(X, y, None, opt)
    with pytest.raises(ValueError, match="order"):
        net.train_epoch(X, y, None, np.array([0, 5], np.intp), 2, opt)
    with pytest.raises(ValueError, match="batch_size"):
        net.train_epoch(X, y, None, np.arange(5, dtype=np.intp), 5, opt)
    with pytest.raises(TypeError, match="X"):
        net.train_step(X[:2].astype(np.float32), y[:2], None, opt)
    with pytest.raises(ValueError, match="labels"):
        net.train_step(X[:2], np.array([0, 2], np.intp), None, opt)
    with pytest.raises(ValueError, match="X"):
        net.forward(np.zeros((2, 4)), np.empty((2, 2)))
    with pytest.raises(ValueError, match="theta"):
        cy.Network(spec, np.zeros(3), np.zeros(3), 4)
    adam = Optimizer("adam", 5, np.float64)
    with pytest.raises(ValueError, match="opt"):
        net.train_step(X[:2], y[:2], None, adam)


def test_train_epoch_on_a_subset_of_rows(cy, npb):
    """order may index any subset (a validation split needs no copy of X)."""
    rng = np.random.default_rng(8)
    spec, theta = _make([4, 5, 3], ["relu"], "softmax", "cross_entropy", np.float64, rng)
    X = rng.standard_normal((30, 4))
    y = rng.integers(0, 3, 30).astype(np.intp)
    subset = np.array([3, 17, 4, 29, 0], np.intp)
    a = cy.Network(spec, theta.copy(), np.zeros_like(theta), 2)
    b = cy.Network(spec, theta.copy(), np.zeros_like(theta), 2)
    la = a.train_epoch(X, y, None, subset, 2, Optimizer("sgd", spec.n_params, np.float64, lr=0.1))
    lb = b.train_epoch(np.ascontiguousarray(X[subset]), y[subset], None, np.arange(5, dtype=np.intp), 2,
                       Optimizer("sgd", spec.n_params, np.float64, lr=0.1))
    assert la == pytest.approx(lb, rel=1e-12)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-12)


def test_model_fit_identical_across_backends():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5)).astype(np.float32)
    y = (X[:, 0] - X[:, 3] > 0).astype(int)
    kw = dict(activation="relu", dtype=np.float32, seed=4)
    a = FastMLP([5, 8, 2], backend="cython", **kw).fit(X, y, epochs=5, batch_size=16, lr=0.05,
                                                        optimizer="nesterov")
    b = FastMLP([5, 8, 2], backend="numpy", **kw).fit(X, y, epochs=5, batch_size=16, lr=0.05,
                                                       optimizer="nesterov")
    np.testing.assert_allclose(a.loss_curve, b.loss_curve, rtol=1e-4)
    np.testing.assert_allclose(a.get_params_vector(), b.get_params_vector(), rtol=1e-3, atol=1e-5)
