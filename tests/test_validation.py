"""Bad input raises a clear error naming the argument; odd-but-valid input is copied or used."""
import numpy as np
import pytest

from fastmlp import FastMLP
from fastmlp.validation import check_array


@pytest.fixture
def model():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    y = rng.integers(0, 3, 30)
    return FastMLP([4, 5, 3]).fit(X, y, epochs=1, verbose=False), X, y


@pytest.mark.parametrize("bad,exc,msg", [
    (np.ones(4), ValueError, "X: expected a 2-D array.*reshape"),
    (np.ones((2, 5)), ValueError, "X: expected 4 features"),
    (np.ones((0, 4)), ValueError, "X: empty"),
    (np.ones((3, 0)), ValueError, "X: 0 features"),
    (np.array([[1.0, np.nan, 0, 0]]), ValueError, "X: contains NaN or infinity"),
    (np.array([[1.0, np.inf, 0, 0]]), ValueError, "X: contains NaN or infinity"),
    (np.array([[1e300, 0, 0, 0]]), ValueError, "X: values overflow float32"),
    (np.array([["a", "b", "c", "d"]]), TypeError, "X: expected numeric"),
    (np.ones((2, 4), complex), TypeError, "X: expected numeric"),
    (np.ones((2, 2, 4)), ValueError, "X: expected a 2-D array"),
    ([[1, 2, "x", 4]], TypeError, "X"),
])
def test_bad_X(model, bad, exc, msg):
    m, _, _ = model
    with pytest.raises(exc, match=msg):
        m.predict(bad)


def test_bad_y(model):
    m, X, y = model
    with pytest.raises(ValueError, match="y: has 29 samples but X has 30"):
        m.fit(X, y[:-1], epochs=1)
    with pytest.raises(ValueError, match=r"y: labels \[7\] are not among"):
        m.score(X[:3], [0, 1, 7])
    with pytest.raises(ValueError, match="y: found 5 classes"):
        FastMLP([4, 5, 3]).fit(X[:5], ["a", "b", "c", "d", "e"], epochs=1)
    reg = FastMLP([4, 3, 1], output="identity")
    with pytest.raises(ValueError, match="y: contains NaN"):
        reg.fit(X, np.where(y == 1, np.nan, y), epochs=1)
    with pytest.raises(ValueError, match="y: expected 1 target columns"):
        reg.fit(X, np.ones((30, 2)), epochs=1)
    with pytest.raises(ValueError, match="y: targets are required"):
        reg.fit(X, None, epochs=1)


def test_bad_hyperparameters(model):
    m, X, y = model
    for kw, msg in [({"epochs": 0}, "epochs"), ({"batch_size": 0}, "batch_size"), ({"lr": -1}, "lr"),
                    ({"lr": float("nan")}, "lr"), ({"optimizer": "adagrad"}, "optimizer"),
                    ({"validation_split": 1.0}, "validation_split"), ({"patience": 0}, "patience"),
                    ({"momentum": 1.5}, "momentum"), ({"epochs": 2.5}, "epochs"),
                    ({"validation_data": (X,)}, "validation_data"),
                    ({"validation_data": (X[:, :2], y)}, "validation_data\\[0\\]"),
                    ({"sample_weight": -np.ones(30)}, "sample_weight"),
                    ({"sample_weight": np.ones(3)}, "sample_weight")]:
        with pytest.raises((ValueError, TypeError), match=msg):
            m.fit(X, y, **kw)


def test_bad_constructor_arguments():
    cases = [
        (dict(layer_sizes=[4]), "layer_sizes"), (dict(layer_sizes=[4, 0, 2]), "layer_sizes"),
        (dict(layer_sizes="4,2"), "layer_sizes"), (dict(layer_sizes=[4, 2.5, 2]), "layer_sizes"),
        (dict(layer_sizes=[4, 3], activation="swish2"), "activation"),
        (dict(layer_sizes=[4, 5, 3], activation=["relu", "tanh"]), "activation"),
        (dict(layer_sizes=[4, 3], output="softmax", loss="squared_error"), "loss"),
        (dict(layer_sizes=[4, 3], output="identity", loss="cross_entropy"), "loss"),
        (dict(layer_sizes=[4, 3], loss="hinge"), "loss"),
        (dict(layer_sizes=[4, 1], output="softmax"), "layer_sizes"),
        (dict(layer_sizes=[4, 3], dtype=np.float16), "dtype"),
        (dict(layer_sizes=[4, 3], dtype="int32"), "dtype"),
        (dict(layer_sizes=[4, 3], backend="cuda"), "backend"),
        (dict(layer_sizes=[4, 3], l2=-1.0), "l2"),
        (dict(layer_sizes=[4, 5, 3], activation=("leaky_relu", -1)), "activation"),
    ]
    for kw, msg in cases:
        with pytest.raises((ValueError, TypeError), match=msg):
            FastMLP(**kw)


def test_non_contiguous_read_only_and_integer_input_are_handled(model):
    m, X, y = model
    expected = m.predict_proba(X)
    F = np.asfortranarray(X)
    np.testing.assert_array_equal(m.predict_proba(F), expected)
    wide = np.zeros((30, 8))
    wide[:, ::2] = X
    np.testing.assert_array_equal(m.predict_proba(wide[:, ::2]), expected)
    ro = X.copy()
    ro.flags.writeable = False
    np.testing.assert_array_equal(m.predict_proba(ro), expected)
    m.fit(ro, y, epochs=1, verbose=False)  # training from read-only data
    assert m.predict(np.arange(8).reshape(2, 4)).shape == (2,)  # integers are converted
    assert m.predict([[0.0, 1.0, 2.0, 3.0]]).shape == (1,)  # lists too


def test_diverging_training_says_so():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3)) * 100
    y = rng.standard_normal(50) * 1e3
    m = FastMLP([3, 8, 1], output="identity", activation="relu", dtype=np.float32)
    with pytest.raises(FloatingPointError, match="lr"):
        m.fit(X, y, epochs=50, lr=10.0, verbose=False)


def test_predict_proba_on_a_regressor_is_an_error():
    with pytest.raises(AttributeError, match="predict_proba"):
        FastMLP([2, 1], output="identity").predict_proba(np.ones((1, 2)))


def test_load_with_malformed_metadata(tmp_path):
    import json
    p = tmp_path / "m.npz"
    np.savez(p, theta=np.zeros(3), meta=np.array(json.dumps({"format": "fastmlp", "layer_sizes": [1]})))
    with pytest.raises(ValueError, match="path: .* malformed"):
        FastMLP.load(p)


def test_masked_entries_are_refused_not_silently_used():
    """np.asarray would drop the mask and train on the values under it."""
    X = np.ma.masked_array(np.ones((3, 2), np.float32), mask=[[0, 1], [0, 0], [0, 0]])
    with pytest.raises(ValueError, match="X: has masked entries"):
        check_array(X, "X", np.float32)
    y = np.ma.masked_array([0, 1, 0], mask=[0, 0, 1])
    with pytest.raises(ValueError, match="y: has masked entries"):
        FastMLP([2, 3, 2]).fit(np.ones((3, 2), np.float32), y, epochs=1)
    with pytest.raises(ValueError, match="sample_weight: has masked entries"):
        FastMLP([2, 3, 2]).fit(np.ones((3, 2), np.float32), [0, 1, 0], epochs=1,
                               sample_weight=np.ma.masked_array([1.0, 1.0, 1.0], mask=[1, 0, 0]))
    # nothing masked: an ordinary array
    out = check_array(np.ma.masked_array(np.ones((2, 2)), mask=False), "X", np.float64)
    assert type(out) is np.ndarray and out.shape == (2, 2)
