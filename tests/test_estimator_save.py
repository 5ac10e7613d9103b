"""save/load of the scikit-learn estimators without pickle (the FastMLP .npz with the estimator in its
metadata): same predictions, probabilities, transform, parameters and fitted attributes."""
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from fastmlp import FastMLP  # noqa: E402
from fastmlp.sklearn import FastMLPClassifier, FastMLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _X(n=90, d=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


@pytest.mark.parametrize("target", ["binary", "multiclass", "strings", "multilabel"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_classifier_round_trip(tmp_path, target, dtype):
    X = _X().astype(dtype)
    rng = np.random.default_rng(1)
    y = {"binary": rng.integers(0, 2, 90), "multiclass": rng.integers(0, 4, 90),
         "strings": np.array(["cat", "dog", "emu"])[rng.integers(0, 3, 90)],
         "multilabel": rng.integers(0, 2, (90, 3))}[target]
    clf = FastMLPClassifier(hidden_layer_sizes=(7, 5), activation=["tanh", ("leaky_relu", 0.2)], max_iter=15,
                            random_state=0, early_stopping=target == "multiclass", solver="sgd",
                            learning_rate="cosine").fit(X, y)
    path = tmp_path / "clf.npz"
    clf.save(path)
    with np.load(path, allow_pickle=False) as f:  # plain arrays: no pickle needed
        assert set(f.files) >= {"theta", "meta"}
    back = FastMLPClassifier.load(path)
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(back.transform(X, layer=0), clf.transform(X, layer=0))
    assert back.get_params() == clf.get_params()
    for attr in ("loss_curve_", "n_iter_", "t_", "n_outputs_", "n_layers_", "out_activation_",
                 "n_features_in_", "best_loss_", "validation_scores_", "best_validation_score_"):
        assert getattr(back, attr) == getattr(clf, attr), attr
    np.testing.assert_array_equal(back.classes_, clf.classes_)
    assert back.classes_.dtype == clf.classes_.dtype
    for a, b in zip(back.coefs_, clf.coefs_):
        np.testing.assert_array_equal(a, b)
    assert back.score(X, y) == clf.score(X, y)


def test_regressor_round_trip_and_warm_start(tmp_path):
    X = _X()
    Y = np.stack([X[:, 0] - X[:, 1], X[:, 2] * X[:, 3]], axis=1)
    reg = FastMLPRegressor(hidden_layer_sizes=(16,), max_iter=30, random_state=0, warm_start=True).fit(X, Y)
    reg.save(tmp_path / "reg.npz")
    back = FastMLPRegressor.load(tmp_path / "reg.npz", backend="numpy")
    assert back.backend == "numpy"
    np.testing.assert_allclose(back.predict(X), reg.predict(X), rtol=1e-6)
    assert back.loss_ == reg.loss_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        back.fit(X, Y)  # warm start continues from the loaded weights
    assert back.n_iter_ == 30 and back.loss_ < reg.loss_curve_[0]


def test_refusals(tmp_path):
    X = _X()
    y = (X[:, 0] > 0).astype(int)
    FastMLP([4, 3, 2]).save(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="holds a FastMLP"):
        FastMLPClassifier.load(tmp_path / "plain.npz")
    clf = FastMLPClassifier(hidden_layer_sizes=(3,), max_iter=3, random_state=0).fit(X, y)
    clf.save(tmp_path / "clf.npz")
    with pytest.raises(ValueError, match="holds a FastMLPClassifier, not a FastMLPRegressor"):
        FastMLPRegressor.load(tmp_path / "clf.npz")
    clf.set_params(random_state=np.random.RandomState(0))
    with pytest.raises(TypeError, match="random_state"):
        clf.save(tmp_path / "x.npz")
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        FastMLPClassifier().save(tmp_path / "y.npz")
    # the estimator's model file is still a FastMLP file
    m = FastMLP.load(tmp_path / "clf.npz")
    np.testing.assert_allclose(m.predict_proba(X), clf.predict_proba(X), rtol=1e-6)


def test_l1_and_dropout_reach_the_estimators(tmp_path):
    X = _X(200)
    y = (X[:, 0] > 0).astype(int)
    base = FastMLPClassifier(hidden_layer_sizes=(16, 16), max_iter=20, random_state=0).fit(X, y)
    l1 = FastMLPClassifier(hidden_layer_sizes=(16, 16), max_iter=20, random_state=0, l1=0.01).fit(X, y)
    assert sum(np.abs(W).sum() for W in l1.coefs_) < sum(np.abs(W).sum() for W in base.coefs_)
    drop = FastMLPClassifier(hidden_layer_sizes=(16, 16), max_iter=20, random_state=0,
                             dropout=[0.1, 0.3]).fit(X, y)
    assert drop._model.dropout == [0.1, 0.3]
    assert not np.allclose(drop.coefs_[0], base.coefs_[0])
    drop.save(tmp_path / "d.npz")
    back = FastMLPClassifier.load(tmp_path / "d.npz")
    assert back.dropout == [0.1, 0.3] and back.l1 == 0.0
    np.testing.assert_array_equal(back.predict_proba(X), drop.predict_proba(X))
    with pytest.raises(ValueError, match="dropout: lbfgs"):
        FastMLPClassifier(solver="lbfgs", dropout=0.2).fit(X, y)
    with pytest.raises(ValueError, match="l1"):
        FastMLPRegressor(l1=-1.0).fit(X, X[:, 0])
