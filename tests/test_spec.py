"""The identities and worked numbers of SPEC.md, each as a test, on both backends."""
import numpy as np
import pytest

from conftest import ALL_ACTIVATIONS
from fastmlp import FastMLP

BACKENDS = ["cython", "numpy"]
FORMULAS = {
    "identity": (lambda x: x, lambda x: np.ones_like(x)),
    "logistic": (lambda x: 1 / (1 + np.exp(-x)), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    "tanh": (np.tanh, lambda x: 1 / np.cosh(x) ** 2),
    "relu": (lambda x: np.maximum(0, x), lambda x: (x > 0).astype(float)),
    "leaky_relu": (lambda x: np.maximum(0, x) + 0.01 * np.minimum(0, x), lambda x: np.where(x > 0, 1, 0.01)),
    "elu": (lambda x: np.where(x > 0, x, np.exp(x) - 1), lambda x: np.where(x > 0, 1, np.exp(x))),
    "softplus": (lambda x: np.log(1 + np.exp(x)), lambda x: 1 / (1 + np.exp(-x))),
    "silu": (lambda x: x / (1 + np.exp(-x)), None),
    "softsign": (lambda x: x / (1 + np.abs(x)), lambda x: 1 / (1 + np.abs(x)) ** 2),
    "hardtanh": (lambda x: np.clip(x, -1, 1), lambda x: (np.abs(x) < 1).astype(float)),
}


def _fwd(backend, act, x, param=None):
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    return backend.activation_forward(x, np.empty_like(x), act, param)


def _deriv(backend, act, x, param=None):
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    a = backend.activation_forward(x, np.empty_like(x), act, param)
    return backend.activation_derivative(a, x, np.empty_like(x), act, param)


@pytest.fixture(params=BACKENDS)
def be(request, cy, npb):
    return cy if request.param == "cython" else npb


@pytest.mark.parametrize("act", sorted(FORMULAS))
def test_activation_table(be, act):
    x = np.linspace(-6, 6, 241).reshape(1, -1) + 1e-3  # off the kinks
    f, df = FORMULAS[act]
    np.testing.assert_allclose(_fwd(be, act, x), f(x), rtol=1e-12, atol=1e-14)
    if df is not None:
        np.testing.assert_allclose(_deriv(be, act, x), df(x), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("act", ALL_ACTIVATIONS)
def test_derivative_matches_finite_difference_of_forward(be, act):
    x = np.linspace(-4, 4, 97).reshape(1, -1) + 0.0123
    p = np.full(97, 0.2) if act == "prelu" else None
    h = 1e-6
    fd = (_fwd(be, act, x + h, p) - _fwd(be, act, x - h, p)) / (2 * h)
    np.testing.assert_allclose(_deriv(be, act, x, p), fd, rtol=1e-6, atol=1e-8)


def test_sigmoid_derivative_peaks_at_quarter(be):
    x = np.linspace(-10, 10, 2001)
    d = _deriv(be, "logistic", x)[0]
    assert d[1000] == pytest.approx(0.25, abs=1e-15)
    assert d.max() == pytest.approx(0.25, abs=1e-15) and d.argmax() == 1000


def test_tanh_derivative_peaks_at_one(be):
    x = np.linspace(-10, 10, 2001)
    d = _deriv(be, "tanh", x)[0]
    assert d[1000] == 1.0 and d.argmax() == 1000


def test_tanh_is_a_rescaled_sigmoid(be):
    x = np.linspace(-20, 20, 401)
    np.testing.assert_allclose(_fwd(be, "tanh", x) + 1, 2 * _fwd(be, "logistic", 2 * x), atol=1e-15)


def test_relu_derivative_at_zero_is_zero(be):
    assert _deriv(be, "relu", [0.0])[0, 0] == 0.0
    assert _deriv(be, "leaky_relu", [0.0])[0, 0] == pytest.approx(0.01)
    assert _deriv(be, "relu", [1e-300])[0, 0] == 1.0


def test_prelu_slope_gradient_is_min_zero_x(be):
    Z = np.array([[-2.0, 3.0, -0.5]])
    G = np.ones_like(Z)
    np.testing.assert_allclose(be.prelu_gamma_gradient(G, Z, np.empty(3)), [-2.0, 0.0, -0.5])


def test_elu_and_leaky_parameters(be):
    assert _fwd(be, "elu", [-1.0], 2.0)[0, 0] == pytest.approx(2 * (np.exp(-1) - 1))
    assert _deriv(be, "elu", [-1.0], 2.0)[0, 0] == pytest.approx(2 * np.exp(-1))
    assert _fwd(be, "leaky_relu", [-3.0], 0.2)[0, 0] == pytest.approx(-0.6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ALL_ACTIVATIONS + ["softmax"])
def test_stable_at_plus_minus_1000(be, act, dtype):
    x = np.array([[-1000.0, -100.0, 0.0, 100.0, 1000.0]], dtype=dtype)
    p = np.full(5, 0.25, dtype) if act == "prelu" else None
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a = be.activation_forward(x, np.empty_like(x), act, p)
        assert np.isfinite(a).all()
        if act != "softmax":
            d = be.activation_derivative(a, x, np.empty_like(x), act, p)
            assert np.isfinite(d).all()
    if act == "logistic":
        assert a[0, 0] == 0.0 and a[0, -1] == 1.0
    if act == "softplus":
        assert a[0, -1] == pytest.approx(1000.0) and a[0, 0] == 0.0


def test_computational_graph_example(be):
    """f(x; w, b) = 1/(exp(−(wx+b)) + 1) at x=1, w=0, b=0 has ∂f/∂w = 0.25."""
    x = np.array([[1.0]])
    W, b = np.zeros((1, 1)), np.zeros(1)
    A = be.dense_forward(x, W, b, np.empty((1, 1)), "logistic")
    dfdz = be.backprop_activation(np.ones((1, 1)), A, None, np.empty((1, 1)), "logistic")
    dW, db = be.weight_gradient(x, dfdz, W, np.empty((1, 1)), np.empty(1))
    assert dW[0, 0] == 0.25 and db[0] == 0.25


@pytest.mark.parametrize("backend", BACKENDS)
def test_computational_graph_example_through_the_model(backend):
    # With ½(f − y)² and y = f − 1 the loss gradient equals ∂f/∂w.
    m = FastMLP([1, 1], output="sigmoid", loss="squared_error", dtype=np.float64, backend=backend)
    m.weights = [np.zeros((1, 1))]
    _, dW, db = m.gradients(np.array([[1.0]]), np.array([-0.5]))
    assert dW[0][0, 0] == 0.25 and db[0][0] == 0.25


@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_stack_collapses_to_one_affine_map(backend):
    rng = np.random.default_rng(0)
    m = FastMLP([5, 7, 3], activation="identity", output="identity", dtype=np.float64, backend=backend)
    for b in m.biases:
        b[...] = rng.standard_normal(b.shape)
    (Wh, Wo), (bh, bo) = m.weights, m.biases
    X = rng.standard_normal((20, 5))
    np.testing.assert_allclose(m.predict(X), X @ (Wh @ Wo) + (bh @ Wo + bo), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_structural_risk_includes_half_lambda_weight_norm(backend):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((10, 3)), rng.integers(0, 2, 10)
    m0 = FastMLP([3, 4, 2], dtype=np.float64, backend=backend, l2=0.0)
    m1 = FastMLP([3, 4, 2], dtype=np.float64, backend=backend, l2=0.3)
    norm = sum(float((W ** 2).sum()) for W in m1.weights)
    assert m1.loss(X, y) == pytest.approx(m0.loss(X, y) + 0.15 * norm, rel=1e-12)
    _, dW0, db0 = m0.gradients(X, y)
    _, dW1, db1 = m1.gradients(X, y)
    for a, b, W in zip(dW0, dW1, m1.weights):
        np.testing.assert_allclose(b, a + 0.3 * W, rtol=1e-12)
    for a, b in zip(db0, db1):  # biases are not regularised
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_against_pytorch_autograd():
    """micrograd-style: the same network in torch gives the same loss and gradients."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((16, 4)), rng.integers(0, 3, 16)
    pairs = {"tanh": torch.nn.Tanh(), "relu": torch.nn.ReLU(), "logistic": torch.nn.Sigmoid(),
             "elu": torch.nn.ELU(), "softplus": torch.nn.Softplus(), "gelu": torch.nn.GELU(),
             "silu": torch.nn.SiLU(), "softsign": torch.nn.Softsign(), "hardtanh": torch.nn.Hardtanh(),
             "leaky_relu": torch.nn.LeakyReLU(0.01)}
    for act, module in pairs.items():
        m = FastMLP([4, 6, 3], activation=act, dtype=np.float64, seed=2, l2=0.0)
        loss, dW, db = m.gradients(X, y)
        lin1, lin2 = torch.nn.Linear(4, 6).double(), torch.nn.Linear(6, 3).double()
        with torch.no_grad():
            lin1.weight.copy_(torch.tensor(m.weights[0].T))
            lin1.bias.copy_(torch.tensor(m.biases[0]))
            lin2.weight.copy_(torch.tensor(m.weights[1].T))
            lin2.bias.copy_(torch.tensor(m.biases[1]))
        out = lin2(module(lin1(torch.tensor(X))))
        tl = torch.nn.functional.cross_entropy(out, torch.tensor(y))
        tl.backward()
        assert loss == pytest.approx(tl.item(), rel=1e-12), act
        np.testing.assert_allclose(dW[0], lin1.weight.grad.numpy().T, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(db[1], lin2.bias.grad.numpy(), rtol=1e-10, atol=1e-14)
