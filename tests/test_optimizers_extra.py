"""RMSprop, AdamW, iRprop⁻ and the L1 penalty: both backends against each other (kernels and whole
networks), step for step against torch.optim, and the argument rules."""
import numpy as np
import pytest

from conftest import assert_close
from fastmlp import FastMLP, ops
from fastmlp._netspec import NetSpec, Optimizer
from fastmlp.validation import ParameterError


def _quadratic_grads(theta, rng_seed=0):
    """g(θ) = A θ − c of a fixed convex quadratic: gradients that change sign (rprop's case)."""
    rng = np.random.default_rng(rng_seed)
    M = rng.standard_normal((theta.size, theta.size))
    A = M @ M.T / theta.size + np.eye(theta.size)
    c = rng.standard_normal(theta.size)
    return lambda th: (A @ th.astype(np.float64) - c).astype(theta.dtype)


@pytest.mark.parametrize("kind", ["rmsprop", "adamw", "rprop"])
def test_flat_kernels_agree(cy, npb, dtype, kind):
    rng = np.random.default_rng(1)
    theta0 = rng.standard_normal(37).astype(dtype)
    grad_of = _quadratic_grads(theta0)
    results = []
    for be in (cy, npb):
        th = theta0.copy()
        s1, s2 = np.zeros_like(th), np.zeros_like(th)
        for t in range(1, 21):
            g = grad_of(th)
            if kind == "rmsprop":
                be.rmsprop_update(th, g, s1, 0.01, 0.9, 1e-8)
            elif kind == "adamw":
                be.adamw_update(th, g, s1, s2, 0.01, 0.9, 0.999, 1e-8, 0.1, t)
            else:
                be.rprop_update(th, g, s1, s2, 0.05, 1.2, 0.5, 1e-6, 1.0)
        results.append(th)
    assert_close(results[0], results[1], dtype, scale=20)


def _torch_flat(kind, theta0, grad_of, steps, **hp):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
    opt = {"rmsprop": torch.optim.RMSprop, "adamw": torch.optim.AdamW, "rprop": torch.optim.Rprop}[kind](
        [p], **hp)
    out = []
    for _ in range(steps):
        p.grad = torch.tensor(grad_of(p.detach().numpy().copy()), dtype=torch.float64)
        opt.step()
        out.append(p.detach().numpy().copy())
    return out


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_flat_steps_match_torch(backend):
    rng = np.random.default_rng(2)
    theta0 = rng.standard_normal(25)
    grad_of = _quadratic_grads(theta0, 3)
    steps = 30
    # RMSprop: torch's alpha is our rho
    ref = _torch_flat("rmsprop", theta0, grad_of, steps, lr=0.01, alpha=0.9, eps=1e-8)
    th, v = theta0.copy(), np.zeros_like(theta0)
    for k in range(steps):
        ops.rmsprop_update(th, grad_of(th), v, lr=0.01, rho=0.9, eps=1e-8, backend=backend)
        np.testing.assert_allclose(th, ref[k], rtol=1e-12, atol=1e-13)
    # AdamW
    ref = _torch_flat("adamw", theta0, grad_of, steps, lr=0.02, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.3)
    th, m, v = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0)
    for k in range(steps):
        ops.adamw_update(th, grad_of(th), m, v, lr=0.02, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.3,
                         t=k + 1, backend=backend)
        np.testing.assert_allclose(th, ref[k], rtol=1e-12, atol=1e-13)
    # Rprop: torch's Rprop is iRprop⁻ with the step sizes starting at lr; they coincide whenever
    # step_min <= lr <= step_max (torch also clamps that first step into the bounds)
    ref = _torch_flat("rprop", theta0, grad_of, steps, lr=0.05, etas=(0.4, 1.3), step_sizes=(1e-4, 0.5))
    th, prev, step = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0)
    for k in range(steps):
        ops.rprop_update(th, grad_of(th), prev, step, lr=0.05, eta_plus=1.3, eta_minus=0.4, step_min=1e-4,
                         step_max=0.5, backend=backend)
        np.testing.assert_allclose(th, ref[k], rtol=1e-12, atol=1e-13)


def _regression_data(n=64, d=5, k=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = np.stack([np.sin(X[:, 0]) + X[:, 1] * X[:, 2], np.tanh(X[:, 3] - X[:, 4])], axis=1)[:, :k]
    return X, Y


def _torch_train(model, X, Y, kind, epochs, batch_size, l1=0.0, clip_norm=None, clip_value=None, **hp):
    """The same training in torch: the model's weights, the minibatches in order, the loss ½‖ŷ − y‖²
    averaged over the batch (+ l1 Σ|W|), the optimizer on two parameter groups (weights, biases) so that
    AdamW decays the weights only, as fastmlp does."""
    torch = pytest.importorskip("torch")
    from fastmlp import exchange
    net = exchange.to_torch(model)
    weights = [m.weight for m in net if isinstance(m, torch.nn.Linear)]
    biases = [m.bias for m in net if isinstance(m, torch.nn.Linear)]
    cls = {"rmsprop": torch.optim.RMSprop, "adamw": torch.optim.AdamW, "rprop": torch.optim.Rprop,
           "sgd": torch.optim.SGD}[kind]
    bias_hp = dict(hp, weight_decay=0.0) if "weight_decay" in hp else hp
    opt = cls([{"params": weights, **hp}, {"params": biases, **bias_hp}])
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    for _ in range(epochs):
        for s in range(0, len(X), batch_size):
            opt.zero_grad()
            out = net(Xt[s:s + batch_size])
            loss = 0.5 * ((out - Yt[s:s + batch_size]) ** 2).sum(1).mean()
            if l1:
                loss = loss + l1 * sum(w.abs().sum() for w in weights)
            loss.backward()
            if clip_value is not None:
                torch.nn.utils.clip_grad_value_(net.parameters(), clip_value)
            if clip_norm is not None:  # torch's clip_grad_norm_ divides by ‖g‖ + 1e-6; fastmlp by ‖g‖
                norm = torch.sqrt(sum((p.grad ** 2).sum() for p in net.parameters()))
                if norm > clip_norm:
                    for p in net.parameters():
                        p.grad.mul_(clip_norm / norm)
            opt.step()
    return [w.detach().numpy().T for w in weights], [b.detach().numpy() for b in biases]


CASES = [
    ("rmsprop", dict(rho=0.9, eps=1e-8), dict(alpha=0.9, eps=1e-8), 16, 0.005),
    ("adamw", dict(beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.5), dict(betas=(0.9, 0.99), eps=1e-8,
                                                                          weight_decay=0.5), 16, 0.01),
    ("rprop", dict(eta_plus=1.2, eta_minus=0.5, step_min=1e-6, step_max=1.0), dict(etas=(0.5, 1.2),
                                                                                   step_sizes=(1e-6, 1.0)),
     64, 0.01),
]


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("kind, ours, theirs, torch_batch, lr", CASES, ids=[c[0] for c in CASES])
def test_fit_matches_torch_step_for_step(backend, kind, ours, theirs, torch_batch, lr):
    X, Y = _regression_data()
    m = FastMLP([5, 8, 6, 2], activation="tanh", output="identity", dtype=np.float64, seed=0, backend=backend)
    Ws, bs = _torch_train(m, X, Y, kind, 4, torch_batch, lr=lr, **theirs)
    # rprop is full batch (batch_size unused): torch's batch is all 64 rows
    m.fit(X, Y, epochs=4, batch_size=16, lr=lr, optimizer=kind, shuffle=False, **ours)
    for W, W_ref, b, b_ref in zip(m.weights, Ws, m.biases, bs):
        np.testing.assert_allclose(W, W_ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b, b_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_l1_and_clipping_match_torch(backend):
    X, Y = _regression_data()
    m = FastMLP([5, 8, 2], activation="tanh", output="identity", dtype=np.float64, seed=1, backend=backend,
                l1=0.01)
    Ws, bs = _torch_train(m, X, Y, "sgd", 3, 8, l1=0.01, clip_norm=0.3, clip_value=0.05, lr=0.1)
    m.fit(X, Y, epochs=3, batch_size=8, lr=0.1, optimizer="sgd", shuffle=False, clip_norm=0.3,
          clip_value=0.05)
    for W, W_ref, b, b_ref in zip(m.weights, Ws, m.biases, bs):
        np.testing.assert_allclose(W, W_ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b, b_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["rmsprop", "adamw", "rprop", "sgd", "adam"])
def test_networks_agree_with_l1_and_clipping(cy, npb, dtype, kind):
    spec = NetSpec([4, 8, 3], ["relu", "softmax"], [0, 0], "cross_entropy")
    rng = np.random.default_rng(0)
    theta0 = (rng.standard_normal(spec.n_params) * 0.5).astype(dtype)
    X = rng.standard_normal((50, 4)).astype(dtype)
    y = rng.integers(0, 3, 50).astype(np.intp)
    out = []
    for be in (cy, npb):
        th, g = theta0.copy(), np.zeros_like(theta0)
        net = be.Network(spec, th, g, 16)
        opt = Optimizer(kind, spec.n_params, dtype, lr=0.01, l2=0.01, l1=0.003)
        opt.clip_norm, opt.clip_value = 0.5, 0.2
        r = [net.train_epoch(X, y, None, np.arange(50, dtype=np.intp), 16, opt) for _ in range(4)]
        r.append(net.full_batch_step(X, y, None, opt))
        out.append((th, r))
    assert_close(out[0][0], out[1][0], dtype, scale=50)
    assert_close(out[0][1], out[1][1], dtype, scale=50)


def test_l1_gradient_and_risk():
    X, Y = _regression_data(n=20)
    m = FastMLP([5, 4, 2], activation="tanh", output="identity", dtype=np.float64, seed=0, l1=0.05)
    r, g = m.gradient_vector(X, Y)
    plain = FastMLP([5, 4, 2], activation="tanh", output="identity", dtype=np.float64, seed=0)
    r0, g0 = plain.gradient_vector(X, Y)
    mask = m.spec.weight_mask()
    theta = m.get_params_vector()
    assert r == pytest.approx(r0 + 0.05 * np.abs(theta[mask]).sum(), rel=1e-13)
    np.testing.assert_allclose(g[mask], g0[mask] + 0.05 * np.sign(theta[mask]), rtol=1e-12)
    np.testing.assert_array_equal(g[~mask], g0[~mask])


def test_l1_makes_weights_sparse_and_is_saved(tmp_path):
    X, Y = _regression_data(n=200)
    dense = FastMLP([5, 16, 2], output="identity", seed=0).fit(X, Y, epochs=60, lr=0.01, optimizer="sgd")
    sparse = FastMLP([5, 16, 2], output="identity", seed=0, l1=0.05).fit(X, Y, epochs=60, lr=0.01,
                                                                        optimizer="sgd")
    small = lambda m: np.mean(np.abs(m.weights[0]) < 1e-2)  # noqa: E731
    assert small(sparse) > small(dense) + 0.15
    assert np.abs(sparse.weights[0]).sum() < 0.7 * np.abs(dense.weights[0]).sum()
    sparse.save(tmp_path / "m.npz")
    assert FastMLP.load(tmp_path / "m.npz").l1 == 0.05


def test_rprop_trains_full_batch_and_converges():
    X, Y = _regression_data(n=128)
    m = FastMLP([5, 16, 2], activation="tanh", output="identity", dtype=np.float64, seed=0)
    m.fit(X, Y, epochs=200, optimizer="rprop")
    assert m.n_epochs == 200 and m.samples_seen == 200 * 128
    assert m.loss_curve[-1] < 0.1 * m.loss_curve[0]
    assert m.optimizer.t == 200


@pytest.mark.parametrize("kwargs, match", [
    (dict(optimizer="rmsprop", rho=1.0), "rho"),
    (dict(optimizer="rmsprop", rho=-0.1), "rho"),
    (dict(optimizer="adamw", weight_decay=-1), "weight_decay"),
    (dict(optimizer="rprop", eta_plus=0.9), "eta_plus"),
    (dict(optimizer="rprop", eta_minus=1.5), "eta_minus"),
    (dict(optimizer="rprop", step_min=2.0, step_max=1.0), "step_min"),
    (dict(optimizer="sgd", l1=-0.1), "l1"),
    (dict(optimizer="sgd", clip_norm=0.0), "clip_norm"),
    (dict(optimizer="sgd", clip_value=-1.0), "clip_value"),
    (dict(optimizer="sgd", clip_norm=float("nan")), "clip_norm"),
    (dict(optimizer="lbfgs", clip_norm=1.0), "lbfgs takes no gradient clipping"),
    (dict(optimizer="sgd", rhoo=0.5), "unexpected keyword"),
])
def test_bad_optimizer_arguments_name_the_argument(kwargs, match):
    X, Y = _regression_data(n=10)
    m = FastMLP([5, 3, 2], output="identity")
    before = m.get_params_vector()
    with pytest.raises(ParameterError, match=match):
        m.fit(X, Y, epochs=1, **kwargs)
    np.testing.assert_array_equal(m.get_params_vector(), before)
    with pytest.raises(ParameterError, match="l1"):
        FastMLP([5, 3, 2], l1=-1.0)
