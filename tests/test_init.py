"""FastMLP(init=...): the named schemes' statistics and structure, arrays, errors, save/load."""
import numpy as np
import pytest

from fastmlp import FastMLP
from fastmlp.validation import ParameterError


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_named_inits_have_their_variance(dtype):
    sizes = [400, 300, 200]
    for init, var in (("he_normal", lambda fi, fo: 2.0 / fi), ("lecun_normal", lambda fi, fo: 1.0 / fi),
                      ("glorot_uniform", lambda fi, fo: 2.0 / (fi + fo))):
        m = FastMLP(sizes, activation="tanh", init=init, dtype=dtype, seed=3)
        for W, b in zip(m.weights, m.biases):
            fi, fo = W.shape
            assert W.dtype == dtype
            np.testing.assert_allclose(W.var(), var(fi, fo), rtol=0.03)
            assert abs(W.mean()) < 0.01
            assert not b.any()
        if init == "glorot_uniform":
            W = m.weights[0]
            assert np.abs(W).max() <= np.sqrt(6.0 / (400 + 300)) + 1e-6


def test_orthogonal_is_orthonormal():
    m = FastMLP([30, 50, 20, 20], init="orthogonal", dtype=np.float64, seed=1)
    for W in m.weights:
        fi, fo = W.shape
        gram = W.T @ W if fi >= fo else W @ W.T
        np.testing.assert_allclose(gram, np.eye(min(fi, fo)), atol=1e-12)


def test_auto_init_uses_lecun_normal_before_selu():
    m = FastMLP([500, 400, 3], activation="selu", seed=0, dtype=np.float64)
    np.testing.assert_allclose(m.weights[0].var(), 1.0 / 500, rtol=0.03)


def test_init_is_deterministic_given_the_seed():
    a = FastMLP([5, 7, 2], init="orthogonal", seed=4).get_params_vector()
    b = FastMLP([5, 7, 2], init="orthogonal", seed=4).get_params_vector()
    c = FastMLP([5, 7, 2], init="orthogonal", seed=5).get_params_vector()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_array_inits(tmp_path):
    ref = FastMLP([3, 4, 2], activation="prelu", seed=0)
    theta = np.arange(ref.n_params, dtype=np.float64) / 100
    m = FastMLP([3, 4, 2], activation="prelu", init=theta)
    np.testing.assert_allclose(m.get_params_vector(), theta.astype(np.float32))
    Ws = [np.full((3, 4), 0.5), np.full((4, 2), -0.25)]
    m2 = FastMLP([3, 4, 2], activation="prelu", init=Ws, dtype=np.float64)
    np.testing.assert_array_equal(m2.weights[1], Ws[1])
    assert not m2.biases[0].any()
    np.testing.assert_array_equal(m2.slopes[0], 0.25)
    path = tmp_path / "m.npz"
    m2.save(path)
    back = FastMLP.load(path)
    np.testing.assert_array_equal(back.get_params_vector(), m2.get_params_vector())


@pytest.mark.parametrize("bad, match", [
    ("xavier", "init: expected one of"),
    (np.zeros(5), "init: a flat parameter vector needs"),
    ([np.zeros((3, 4))], "init: expected 2 weight matrices"),
    ([np.zeros((3, 4)), np.zeros((2, 4))], r"init\[1\]: expected shape \(4, 2\)"),
    ([np.zeros((3, 4)), np.full((4, 2), np.nan)], "init: the arrays must be finite"),
    (3.5, "init: expected one of"),
])
def test_bad_inits_are_refused(bad, match):
    with pytest.raises(ParameterError, match=match):
        FastMLP([3, 4, 2], init=bad)
