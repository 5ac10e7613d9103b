"""fastmlp.check_gradients: passes on the exact gradients (both backends, both dtypes, every kind of
block), fails on a wrong one and names the block, leaves the parameters untouched."""
import numpy as np
import pytest

import fastmlp
from fastmlp import FastMLP, check_gradients
from fastmlp.gradcheck import TOLERANCE
from fastmlp.validation import ParameterError


def _data(seed=0, n=16):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)), rng.integers(0, 3, n)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ["tanh", "prelu", "mish", "gelu", "selu"])
def test_exact_gradients_pass(backend, dtype, act):
    X, y = _data()
    m = FastMLP([4, 6, 5, 3], activation=act, dtype=dtype, seed=2, backend=backend, l2=0.01, l1=0.001)
    for b in m.biases:
        b[...] = np.random.default_rng(3).uniform(-0.3, 0.3, b.shape)
    before = m.get_params_vector()
    res = check_gradients(m, X, y)
    assert res.passed and bool(res), res.errors
    assert res.tolerance == TOLERANCE[np.dtype(dtype)]
    expected = {"weights[0]", "biases[0]", "weights[1]", "biases[1]", "weights[2]", "biases[2]"}
    if act == "prelu":
        expected |= {"slopes[0]", "slopes[1]"}
    assert set(res.errors) == expected
    if dtype == np.float64:
        assert res.worst < 1e-7
    np.testing.assert_array_equal(m.get_params_vector(), before)


def test_a_wrong_gradient_fails_naming_its_block(monkeypatch):
    X, y = _data()
    m = FastMLP([4, 6, 3], activation="tanh", dtype=np.float64, seed=0)
    right = m.gradient_vector

    def wrong(*a, **k):
        r, g = right(*a, **k)
        g = g.copy()
        b1 = m.spec.b_offsets[1]
        g[b1:b1 + 3] *= 1.5  # the output biases' gradient off by half
        return r, g
    monkeypatch.setattr(m, "gradient_vector", wrong)
    res = check_gradients(m, X, y)
    assert not res.passed
    assert max(res.errors, key=res.errors.get) == "biases[1]"
    assert res.errors["biases[1]"] > 0.1 and res.errors["weights[0]"] < 1e-7


def test_sampled_blocks_and_estimators():
    pytest.importorskip("sklearn")
    from fastmlp.sklearn import FastMLPRegressor
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 5))
    y = X[:, 0] - X[:, 1] ** 2
    est = FastMLPRegressor(hidden_layer_sizes=(20,), activation="tanh", max_iter=5, random_state=0).fit(X, y)
    res = check_gradients(est, X, y, max_per_block=7, seed=1)
    assert res.passed
    assert np.isfinite(res.numeric).sum() == 7 + 7 + 7 + 1  # W0, b0, W1 sampled; b1 has one entry
    assert fastmlp.GradientCheck is type(res)


@pytest.mark.parametrize("kw, match", [({"eps": 0.0}, "eps"), ({"eps": -1e-3}, "eps"),
                                       ({"eps": float("nan")}, "eps"),
                                       ({"max_per_block": 0}, "max_per_block")])
def test_bad_arguments(kw, match):
    X, y = _data()
    with pytest.raises(ParameterError, match=match):
        check_gradients(FastMLP([4, 3, 3]), X, y, **kw)
    with pytest.raises(TypeError, match="model"):
        check_gradients(object(), X, y)
