"""fastmlp.Activation: activations of your own on both backends (the compiled kernels call them between
their BLAS parts), checked by finite differences, saved by name, refused with clear errors when wrong."""
import pickle

import numpy as np
import pytest

import fastmlp
from fastmlp import FastMLP, check_gradients, exchange


def _d_tanh(A):
    return 1 - A * A


def _softsq(Z):
    return Z * np.abs(Z) / (1 + np.abs(Z))


def _d_softsq(Z):
    a = np.abs(Z)
    return (2 * a + a * a) / (1 + a) ** 2


MY_TANH = fastmlp.Activation("my_tanh", np.tanh, _d_tanh)
SOFTSQ = fastmlp.Activation("softsq", _softsq, _d_softsq, needs_z=True)


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    return X, (X[:, 0] * X[:, 1] > 0).astype(int)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_as_the_builtin_on_both_backends(dtype):
    X, y = _data()
    ref = FastMLP([4, 16, 8, 2], activation="tanh", dtype=dtype, seed=0).fit(X, y, epochs=4, lr=0.1)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    for backend in ("cython", "numpy"):
        m = FastMLP([4, 16, 8, 2], activation=MY_TANH, dtype=dtype, seed=0, backend=backend)
        m.fit(X, y, epochs=4, lr=0.1)
        np.testing.assert_allclose(m.get_params_vector(), ref.get_params_vector(), **tol)
        np.testing.assert_allclose(m.predict_proba(X), ref.predict_proba(X), **tol)
        np.testing.assert_allclose(m.transform(X, layer=0), ref.transform(X, layer=0), **tol)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_finite_differences_hidden_and_output(backend):
    X, y = _data(20)
    m = FastMLP([4, 7, 6, 2], activation=[SOFTSQ, MY_TANH], dtype=np.float64, seed=1, backend=backend)
    assert check_gradients(m, X, y).worst < 1e-7
    Y = np.random.default_rng(2).standard_normal((20, 2))
    r = FastMLP([4, 7, 2], activation=MY_TANH, output=SOFTSQ, dtype=np.float64, seed=1, backend=backend)
    assert r.spec.loss == "squared_error"
    assert check_gradients(r, X, Y).worst < 1e-7
    r.fit(X, Y, epochs=3, lr=0.05)
    assert np.isfinite(r.predict(X)).all()


def test_backends_agree_with_z_kept():
    X, y = _data()
    out = []
    for backend in ("cython", "numpy"):
        m = FastMLP([4, 12, 2], activation=SOFTSQ, dtype=np.float64, seed=3, backend=backend)
        m.fit(X, y, epochs=5, lr=0.05, optimizer="adam")
        out.append(m.get_params_vector())
    np.testing.assert_allclose(out[0], out[1], rtol=1e-12, atol=1e-13)


def test_saved_by_name_and_loaded_with_custom(tmp_path):
    X, y = _data()
    m = FastMLP([4, 8, 2], activation=SOFTSQ, seed=0).fit(X, y, epochs=2)
    m.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="custom activation 'softsq'.*custom="):
        FastMLP.load(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="softsq"):
        FastMLP.load(tmp_path / "m.npz", custom={"other": MY_TANH})
    back = FastMLP.load(tmp_path / "m.npz", custom={"softsq": SOFTSQ})
    np.testing.assert_array_equal(back.predict_proba(X), m.predict_proba(X))
    again = pickle.loads(pickle.dumps(m))  # module-level functions pickle; the kernels get a new index
    np.testing.assert_array_equal(again.predict_proba(X), m.predict_proba(X))
    assert "softsq" in repr(m)


@pytest.mark.parametrize("make, match", [
    (lambda: fastmlp.Activation("relu", np.tanh, _d_tanh), "built-in"),
    (lambda: fastmlp.Activation("", np.tanh, _d_tanh), "name"),
    (lambda: fastmlp.Activation("x", "tanh", _d_tanh), "callables"),
    (lambda: fastmlp.Activation("x", np.tanh, _d_tanh, needs_z=1), "needs_z"),
    (lambda: fastmlp.Activation("x", lambda Z: Z[:, :1], _d_tanh), "f returned shape"),
    (lambda: fastmlp.Activation("x", lambda Z: Z * np.nan, _d_tanh), "f returned NaN"),
    (lambda: fastmlp.Activation("x", np.tanh, lambda A: A.sum()), "f_prime returned shape"),
    (lambda: fastmlp.Activation("x", lambda Z: Z.astype(str), _d_tanh), "dtype"),
])
def test_bad_custom_activations_are_refused_at_construction(make, match):
    with pytest.raises(ValueError, match=f"activation: .*{match}"):
        make()


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_failures_while_training_or_predicting(backend):
    X, y = _data()
    blowup = fastmlp.Activation("blowup", lambda Z: np.where(np.abs(Z) > 4, np.inf, Z), np.ones_like)
    m = FastMLP([4, 8, 2], activation=blowup, seed=0, backend=backend)
    before = m.get_params_vector()
    with pytest.raises(ValueError, match="activation: custom activation 'blowup': f returned NaN or inf"):
        m.fit(X * 100, y, epochs=2)
    np.testing.assert_array_equal(m.get_params_vector(), before)  # the failed pass was rolled back
    with pytest.raises(ValueError, match="blowup"):
        m.predict(X * 100)
    assert m.predict(X).shape == (120,)  # the error does not linger


def test_exchange_refuses_custom_activations():
    m = FastMLP([4, 8, 2], activation=MY_TANH)
    for export in (exchange.to_onnx, exchange.to_torch):
        with pytest.raises(exchange.UnsupportedLayerError, match="my_tanh.*custom activation"):
            export(m)
    with pytest.raises(TypeError, match="fastmlp.Activation of your own"):
        FastMLP([4, 8, 2], activation=fastmlp.Activation)


def test_importing_the_custom_module_leaves_validation_on_the_kernels():
    """fastmlp.custom is imported by the kernels (through _netspec): it must not close an import cycle
    that would leave validation's fast finiteness check on its NumPy fallback."""
    import subprocess
    import sys
    code = ("import fastmlp, fastmlp.validation as v, fastmlp._kernels as k; "
            "assert v._all_finite is k.all_finite, v._all_finite")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_estimators_take_custom_activations(tmp_path):
    pytest.importorskip("sklearn")
    from sklearn.base import clone

    from fastmlp.sklearn import FastMLPClassifier
    X, y = _data(200)
    clf = FastMLPClassifier(hidden_layer_sizes=(16, 8), activation=[MY_TANH, "relu"], max_iter=30,
                            random_state=0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
        ref = FastMLPClassifier(hidden_layer_sizes=(16, 8), activation=["tanh", "relu"], max_iter=30,
                                random_state=0).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), rtol=1e-4, atol=1e-5)
    assert clone(clf).activation[0].name == "my_tanh"
    clf.save(tmp_path / "c.npz")
    with pytest.raises(ValueError, match="my_tanh"):
        FastMLPClassifier.load(tmp_path / "c.npz")
    back = FastMLPClassifier.load(tmp_path / "c.npz", custom={"my_tanh": MY_TANH})
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))


def test_ops_say_how_to_use_a_custom_activation():
    from fastmlp import ops
    with pytest.raises(TypeError, match="fastmlp.ops takes the built-in activations by name"):
        ops.activation_forward(np.ones((2, 3)), activation=MY_TANH)
