"""fastmlp.sklearn: FastMLPClassifier / FastMLPRegressor as drop-ins for scikit-learn's MLPs.

scikit-learn's own estimator checks, meta-estimators (Pipeline, GridSearchCV with workers, clone, pickle),
dtype preservation, agreement with MLPClassifier/MLPRegressor (same initialisation, shuffling and updates,
so the training trajectories coincide up to rounding), and the extensions (activations, class_weight,
validation data, transform).
"""
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    load_breast_cancer,
    load_diabetes,
    load_digits,
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastmlp.sklearn import FastMLPClassifier, FastMLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(kind, n=200, seed=0, dtype=np.float64):
    if kind == "binary":
        X, y = make_classification(n_samples=n, n_features=8, n_informative=5, random_state=seed)
    elif kind == "multiclass":
        X, y = make_classification(n_samples=n, n_features=8, n_informative=5, n_classes=3, random_state=seed)
    elif kind == "multilabel":
        X, y = make_multilabel_classification(n_samples=n, n_features=8, n_classes=3, random_state=seed)
    else:
        X, y = make_regression(n_samples=n, n_features=8, n_targets=2 if kind == "multioutput" else 1,
                               noise=1.0, random_state=seed)
        y = y / np.std(y)
    X = StandardScaler().fit_transform(X).astype(dtype)
    return X, y


# ---------------------------------------------------------------------------------------------------------
# scikit-learn's estimator checks
# ---------------------------------------------------------------------------------------------------------

@parametrize_with_checks([
    FastMLPClassifier(max_iter=100, random_state=0),
    FastMLPClassifier(solver="lbfgs", max_iter=100, random_state=0),
    FastMLPClassifier(solver="sgd", max_iter=100, random_state=0),
    FastMLPClassifier(hidden_layer_sizes=(20, 10), activation=["gelu", ("leaky_relu", 0.1)], max_iter=100,
                      random_state=0),
    FastMLPRegressor(max_iter=100, random_state=0),
    FastMLPRegressor(solver="lbfgs", max_iter=100, random_state=0),
    FastMLPRegressor(activation="prelu", max_iter=100, random_state=0),
    FastMLPRegressor(activation="tanh", backend="numpy", max_iter=50, random_state=0),
])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------------------------------------
# Import without scikit-learn, top-level names
# ---------------------------------------------------------------------------------------------------------

def test_fastmlp_imports_without_sklearn():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import fastmlp\n"
        "assert fastmlp.FastMLP is not None\n"
        "try:\n"
        "    fastmlp.FastMLPClassifier\n"
        "except ImportError as e:\n"
        "    assert 'fastmlp[sklearn]' in str(e), e\n"
        "else:\n"
        "    raise SystemExit('expected ImportError')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_top_level_lazy_names():
    import fastmlp
    assert fastmlp.FastMLPClassifier is FastMLPClassifier
    assert fastmlp.FastMLPRegressor is FastMLPRegressor
    with pytest.raises(AttributeError):
        fastmlp.NoSuchThing  # noqa: B018


# ---------------------------------------------------------------------------------------------------------
# Same parameters and fitted attributes as scikit-learn's
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ours, theirs",
                         [(FastMLPClassifier, MLPClassifier), (FastMLPRegressor, MLPRegressor)])
def test_same_constructor_parameters_and_defaults(ours, theirs):
    mine, ref = ours().get_params(), theirs().get_params()
    for name, value in ref.items():
        assert name in mine, name
        assert mine[name] == value, name


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regression", "multioutput"])
def test_fitted_attributes_match_sklearn(kind, solver):
    X, y = _data(kind, n=120)
    reg = kind in ("regression", "multioutput")
    ours = (FastMLPRegressor if reg else FastMLPClassifier)(hidden_layer_sizes=(7,), max_iter=5,
                                                             solver=solver, random_state=0).fit(X, y)
    ref = (MLPRegressor if reg else MLPClassifier)(hidden_layer_sizes=(7,), max_iter=5, solver=solver,
                                                   random_state=0).fit(X, y)
    public = [k for k in vars(ref) if k.endswith("_") and not k.startswith("_")]
    for name in public:
        assert hasattr(ours, name), name
    for name in ("n_iter_", "n_layers_", "n_outputs_", "out_activation_", "n_features_in_"):
        assert getattr(ours, name) == getattr(ref, name), name
    if solver != "lbfgs":
        assert ours.t_ == ref.t_
        assert len(ours.loss_curve_) == len(ref.loss_curve_) == ours.n_iter_
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        assert a.shape == b.shape and a.dtype == b.dtype
    if not reg:
        np.testing.assert_array_equal(ours.classes_, ref.classes_)
        assert ours.predict_proba(X).shape == ref.predict_proba(X).shape
    assert ours.predict(X).shape == ref.predict(X).shape


def test_initialisation_is_sklearns():
    """Same random_state → the same initial weights and biases (Glorot uniform, factor 2 for logistic)."""
    X, y = _data("multiclass", n=60)
    for act in ("relu", "logistic"):
        ours = FastMLPClassifier((6, 5), activation=act, solver="sgd", learning_rate_init=1e-12,
                                 momentum=0, max_iter=1, random_state=3).fit(X, y)
        ref = MLPClassifier((6, 5), activation=act, solver="sgd", learning_rate_init=1e-12, momentum=0,
                            max_iter=1, random_state=3).fit(X, y)
        for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("params", [
    dict(solver="sgd"),
    dict(solver="sgd", nesterovs_momentum=False, momentum=0.5, batch_size=32),
    dict(solver="sgd", momentum=0.0, learning_rate="invscaling", learning_rate_init=0.05, power_t=0.3),
    dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.05, tol=1e-2, n_iter_no_change=2),
    dict(solver="sgd", early_stopping=True, validation_fraction=0.2, n_iter_no_change=3, tol=1e-3),
])
def test_sgd_trajectory_matches_sklearn(params):
    """Same init, shuffles, split, L2 (alpha / n_batch, ragged last batch too), momentum and schedules: the
    loss curves coincide up to rounding, and so do n_iter_ and the early-stopping bookkeeping."""
    X, y = _data("multiclass", n=230)
    kw = dict(hidden_layer_sizes=(12,), alpha=1e-3, max_iter=30, random_state=0, **params)
    ours = FastMLPClassifier(**kw).fit(X, y)
    ref = MLPClassifier(**kw).fit(X, y)
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-7)
    np.testing.assert_allclose(ours._optimizer.learning_rate, ref._optimizer.learning_rate, rtol=1e-12)
    if params.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, ref.validation_scores_)
        assert ours.best_validation_score_ == ref.best_validation_score_
        assert ours.best_loss_ is None
        assert len(ours.validation_loss_curve_) == ours.n_iter_
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", ["binary", "multilabel", "regression", "multioutput"])
def test_adam_and_lbfgs_track_sklearn(kind):
    X, y = _data(kind, n=150)
    reg = kind in ("regression", "multioutput")
    Ours, Ref = (FastMLPRegressor, MLPRegressor) if reg else (FastMLPClassifier, MLPClassifier)
    kw = dict(hidden_layer_sizes=(10,), max_iter=20, random_state=1)
    ours, ref = Ours(**kw).fit(X, y), Ref(**kw).fit(X, y)
    # Adam: fastmlp adds epsilon to sqrt(v_hat), scikit-learn to sqrt(v); only rounding-level differences.
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=2e-3)
    kw = dict(hidden_layer_sizes=(10,), max_iter=15, solver="lbfgs", random_state=1)
    ours, ref = Ours(**kw).fit(X, y), Ref(**kw).fit(X, y)
    if kind != "multioutput":  # scikit-learn's multi-output lbfgs pairs a loss averaged over outputs
        np.testing.assert_allclose(ours.loss_, ref.loss_, rtol=1e-3)  # with the gradient of their sum
    assert abs(ours.score(X, y) - ref.score(X, y)) < 0.02


def test_sample_weight_follows_sklearn():
    X, y = _data("regression", n=150)
    sw = np.random.default_rng(0).uniform(0, 2, len(y))
    for solver in ("sgd", "lbfgs"):
        kw = dict(hidden_layer_sizes=(8,), max_iter=15, solver=solver, random_state=0)
        ours = FastMLPRegressor(**kw).fit(X, y, sample_weight=sw)
        ref = MLPRegressor(**kw).fit(X, y, sample_weight=sw)
        np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=0.05, atol=0.02)


def test_poisson_loss_matches_sklearn_and_a_glm():
    from sklearn.linear_model import PoissonRegressor
    rng = np.random.default_rng(0)
    X = np.linspace(0, 1, 100).reshape(-1, 1)
    y = rng.poisson(np.exp(X[:, 0] + 1))
    glm = PoissonRegressor(alpha=0, tol=1e-7).fit(X, y)
    mlp = FastMLPRegressor(loss="poisson", hidden_layer_sizes=(1,), activation="identity", alpha=0,
                           solver="lbfgs", tol=1e-7, random_state=1).fit(X, y)
    assert mlp.out_activation_ == "exp"
    np.testing.assert_allclose(mlp.predict(X), glm.predict(X), rtol=1e-4)
    kw = dict(loss="poisson", hidden_layer_sizes=(5,), solver="sgd", max_iter=10, random_state=0)
    ours, ref = FastMLPRegressor(**kw).fit(X, y), MLPRegressor(**kw).fit(X, y)
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-7)
    with pytest.raises(ValueError, match="negative"):
        FastMLPRegressor(loss="poisson").fit(X, y - 5.0)
    # a minibatch of zero-weight rows contributes nothing (as for squared error), rather than dividing by 0
    sw = np.r_[np.zeros(40), np.ones(60)]
    est = FastMLPRegressor(loss="poisson", hidden_layer_sizes=(3,), solver="sgd", batch_size=20,
                           shuffle=False, max_iter=3, random_state=0).fit(X, y, sample_weight=sw)
    assert np.isfinite(est.loss_curve_).all()


# ---------------------------------------------------------------------------------------------------------
# Scikit-learn's bundled datasets: within noise of scikit-learn's estimator (timings: benchmarks/)
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["digits", "breast_cancer", "diabetes"])
def test_bundled_datasets_within_noise_of_sklearn(name):
    loader = {"digits": load_digits, "breast_cancer": load_breast_cancer, "diabetes": load_diabetes}[name]
    X, y = loader(return_X_y=True)
    if name == "diabetes":
        y = y / 100.0
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
    Ours, Ref = (FastMLPRegressor, MLPRegressor) if name == "diabetes" else (FastMLPClassifier, MLPClassifier)
    kw = dict(hidden_layer_sizes=(64,), max_iter=150, random_state=0)
    if name == "diabetes":  # small and noisy: a small, strongly regularised net
        kw.update(hidden_layer_sizes=(16,), solver="lbfgs", alpha=10.0, max_iter=500)
    ours, ref = Ours(**kw).fit(Xtr, ytr), Ref(**kw).fit(Xtr, ytr)
    s_ours, s_ref = ours.score(Xte, yte), ref.score(Xte, yte)
    assert s_ref > (0.3 if name == "diabetes" else 0.9)
    assert abs(s_ours - s_ref) <= 0.02, (s_ours, s_ref)
    # float32 input trains in float32 (as scikit-learn's), still within noise
    ours32 = Ours(**kw).fit(Xtr.astype(np.float32), ytr)
    assert ours32.coefs_[0].dtype == np.float32
    assert abs(ours32.score(Xte.astype(np.float32), yte) - s_ref) <= 0.03


# ---------------------------------------------------------------------------------------------------------
# Meta-estimators, clone, pickle
# ---------------------------------------------------------------------------------------------------------

def test_pipeline_and_gridsearch_with_two_workers():
    X, y = _data("multiclass", n=150)
    mlp = FastMLPClassifier(learning_rate_init=0.01, max_iter=50, random_state=0)
    pipe = make_pipeline(StandardScaler(), mlp)
    grid = GridSearchCV(pipe, {"fastmlpclassifier__hidden_layer_sizes": [(5,), (20,)],
                               "fastmlpclassifier__alpha": [1e-4, 1e-1]}, cv=3, n_jobs=2)
    grid.fit(X, y)
    assert grid.best_score_ > 0.6
    assert grid.predict(X).shape == (150,)
    Xr, yr = _data("regression", n=120)
    grid = GridSearchCV(FastMLPRegressor(max_iter=40, random_state=0, solver="lbfgs"),
                        {"activation": ["relu", "gelu", ["tanh"]]}, cv=3, n_jobs=2).fit(Xr, yr)
    assert grid.best_score_ > 0.5


def test_pipeline_transform_step():
    X, y = _data("multiclass", n=120)
    from sklearn.linear_model import LogisticRegression
    mlp = FastMLPClassifier((16, 8), max_iter=50, random_state=0).fit(X, y)
    pipe = make_pipeline(StandardScaler(), FastMLPClassifier((16, 8), max_iter=50, random_state=0),
                         LogisticRegression()).fit(X, y)
    assert pipe.score(X, y) > 0.6
    assert list(mlp.get_feature_names_out()) == [f"fastmlpclassifier{i}" for i in range(8)]


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_clone_and_pickle(kind):
    X, y = _data(kind, n=100)
    Est = FastMLPRegressor if kind == "regression" else FastMLPClassifier
    est = Est(hidden_layer_sizes=(9, 4), activation=["prelu", "tanh"], solver="sgd", max_iter=10,
              random_state=0).fit(X, y)
    c = clone(est)
    assert not hasattr(c, "coefs_") and c.get_params() == est.get_params()
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    # coefs_ are views of the unpickled parameter vector: edits reach the kernels
    loaded.coefs_[-1][...] = 0
    loaded.intercepts_[-1][...] = 0.5 if kind == "regression" else 0.0
    if kind == "regression":
        np.testing.assert_allclose(loaded.predict(X), 0.5)
    # training continues where it stopped: the optimizer state was pickled too
    a = pickle.loads(pickle.dumps(est)).partial_fit(X, y)
    b = est.partial_fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_assigning_coefs_like_sklearn():
    X, y = _data("regression", n=50)
    est = FastMLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)
    est.coefs_ = [np.zeros_like(W) for W in est.coefs_]
    est.intercepts_[1] = np.array([2.0])
    np.testing.assert_allclose(est.predict(X), 2.0)
    est.coefs_[0] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"coefs_\[0\]"):
        est.predict(X)


# ---------------------------------------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_float32_stays_float32(kind, solver):
    X, y = _data(kind, n=80, dtype=np.float32)
    Est = FastMLPRegressor if kind == "regression" else FastMLPClassifier
    est = Est(hidden_layer_sizes=(6,), max_iter=5, solver=solver, random_state=0).fit(X, y)
    assert all(a.dtype == np.float32 for a in est.coefs_ + est.intercepts_)
    assert est.transform(X).dtype == np.float32
    if kind == "regression":
        assert est.predict(X).dtype == np.float32
    else:
        assert est.predict_proba(X).dtype == np.float32
        assert est.predict_log_proba(X).dtype == np.float32
    # integer or float64 input follows scikit-learn: float64
    est64 = Est(hidden_layer_sizes=(6,), max_iter=5, solver=solver,
                random_state=0).fit(X.astype(np.float64), y)
    assert est64.coefs_[0].dtype == np.float64
    Xint = np.round(X * 3).astype(np.int64)
    assert Est(hidden_layer_sizes=(6,), max_iter=2).fit(Xint, y).coefs_[0].dtype == np.float64
    # the dtype parameter fixes it
    forced = Est(hidden_layer_sizes=(6,), max_iter=5, solver=solver,
                 dtype=np.float32).fit(X.astype(np.float64), y)
    assert forced.coefs_[0].dtype == np.float32 and forced.transform(X.astype(np.float64)).dtype == np.float32


def test_continuing_in_another_dtype_is_a_clear_error():
    """Setting ``dtype`` after fitting, then continuing (warm_start / partial_fit), names the parameter
    instead of failing in the kernels on mismatched arrays."""
    X, y = _data("regression", n=40)
    est = FastMLPRegressor(hidden_layer_sizes=(4,), max_iter=2, warm_start=True).fit(X.astype(np.float32), y)
    est.set_params(dtype=np.float64)
    with pytest.raises(ValueError, match="dtype: the model was trained in float32"):
        est.fit(X, y)
    with pytest.raises(ValueError, match="dtype"):
        est.partial_fit(X, y)
    est.set_params(dtype=np.float32)  # the model's own dtype: fine
    assert est.partial_fit(X, y).coefs_[0].dtype == np.float32
    assert est.set_params(dtype=np.float64, warm_start=False).fit(X, y).coefs_[0].dtype == np.float64


def test_transformers_preserve_float32_tag():
    from sklearn.utils import get_tags
    for est in (FastMLPClassifier(), FastMLPRegressor()):
        assert get_tags(est).transformer_tags.preserves_dtype == ["float64", "float32"]


# ---------------------------------------------------------------------------------------------------------
# Targets: binary, multiclass, multilabel, multi-output; partial_fit; warm_start
# ---------------------------------------------------------------------------------------------------------

def test_classification_targets_and_string_labels():
    X, y = _data("multiclass", n=150)
    labels = np.array(["ant", "bee", "cat"])[y]
    est = FastMLPClassifier((10,), max_iter=40, random_state=0).fit(X, labels)
    assert est.out_activation_ == "softmax" and list(est.classes_) == ["ant", "bee", "cat"]
    P = est.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(est.predict(X), est.classes_[P.argmax(axis=1)])
    np.testing.assert_allclose(est.predict_log_proba(X), np.log(P))
    Xb, yb = _data("binary", n=100)
    est = FastMLPClassifier((5,), max_iter=40, random_state=0).fit(Xb, yb * 2 - 1)
    assert est.out_activation_ == "logistic" and est.n_outputs_ == 1
    assert est.predict_proba(Xb).shape == (100, 2) and set(est.predict(Xb)) <= {-1, 1}
    Xm, Ym = _data("multilabel", n=100)
    est = FastMLPClassifier((5,), max_iter=40, random_state=0).fit(Xm, Ym)
    assert est.predict(Xm).shape == Ym.shape and est.predict_proba(Xm).shape == Ym.shape


def test_multioutput_regression():
    X, Y = _data("multioutput", n=150)
    est = FastMLPRegressor(hidden_layer_sizes=(20,), solver="lbfgs", max_iter=200, random_state=0).fit(X, Y)
    assert est.predict(X).shape == (150, 2) and est.n_outputs_ == 2
    assert est.score(X, Y) > 0.9


def test_partial_fit():
    X, y = _data("multiclass", n=120)
    est = FastMLPClassifier((8,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(X, y)
    first = y != 2  # the first batch does not show every class
    est.partial_fit(X[first], y[first], classes=[0, 1, 2])
    assert list(est.classes_) == [0, 1, 2] and est.n_iter_ == 1
    t = est.t_
    for _ in range(5):
        est.partial_fit(X, y)
    assert est.t_ == t + 5 * len(y) and len(est.loss_curve_) == 6
    with pytest.raises(ValueError):
        est.partial_fit(X, np.where(y == 2, 7, y))
    assert not hasattr(FastMLPClassifier(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match="early_stopping"):
        FastMLPRegressor(early_stopping=True).partial_fit(X, y.astype(float))


def test_warm_start_continues():
    X, y = _data("regression", n=100)
    est = FastMLPRegressor(hidden_layer_sizes=(8,), max_iter=5, warm_start=True, random_state=0).fit(X, y)
    W = est.coefs_[0].copy()
    est.fit(X, y)
    assert len(est.loss_curve_) == 10 and est.t_ == 10 * len(y)
    assert not np.array_equal(W, est.coefs_[0])
    cold = FastMLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    W1 = cold.fit(X, y).coefs_[0].copy()
    np.testing.assert_array_equal(W1, cold.fit(X, y).coefs_[0])  # warm_start=False starts over
    est.set_params(hidden_layer_sizes=(9,))
    with pytest.raises(ValueError, match="warm_start"):
        est.fit(X, y)


def test_warm_start_without_early_stopping_after_early_stopping():
    """best_loss_ is None after an early-stopping fit; a warm-started fit without early stopping tracks the
    training loss from there (was: TypeError comparing None)."""
    X, y = _data("regression", n=60)
    est = FastMLPRegressor(hidden_layer_sizes=(4,), max_iter=3, warm_start=True, early_stopping=True,
                           random_state=0).fit(X, y)
    assert est.best_loss_ is None
    est.set_params(early_stopping=False).fit(X, y)
    assert est.n_iter_ == 3 and est.best_loss_ == min(est.loss_curve_[-3:])


# ---------------------------------------------------------------------------------------------------------
# Beyond scikit-learn
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["gelu", "silu", "elu", "softplus", "softsign", "hardtanh", "prelu",
                                        ("leaky_relu", 0.2), "sigmoid", "swish"])
def test_every_fastmlp_activation(activation):
    X, y = _data("binary", n=120)
    est = FastMLPClassifier((12,), activation=activation, learning_rate_init=0.01, max_iter=200,
                            random_state=0).fit(X, y)
    assert est.score(X, y) > 0.85


def test_per_layer_activations_and_transform():
    X, y = _data("multiclass", n=100)
    est = FastMLPClassifier((7, 5), activation=["tanh", ("leaky_relu", 0.3)], max_iter=20,
                            random_state=0).fit(X, y)
    W0, W1 = est.coefs_[:2]
    b0, b1 = est.intercepts_[:2]
    H0 = np.tanh(X @ W0 + b0)
    Z1 = H0 @ W1 + b1
    np.testing.assert_allclose(est.transform(X, layer=0), H0, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(est.transform(X), np.where(Z1 > 0, Z1, 0.3 * Z1), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(est.transform(X, layer=-2), est.transform(X, layer=0))
    assert est.fit_transform(X, y).shape == (100, 5)
    for bad in (2, -3, 0.5):
        with pytest.raises(ValueError, match="layer"):
            est.transform(X, layer=bad)
    with pytest.raises(ValueError, match="activation"):
        FastMLPClassifier((7, 5), activation=["tanh"]).fit(X, y)


def test_class_weight():
    X, y = make_classification(n_samples=300, n_features=6, weights=[0.9, 0.1], random_state=0)
    kw = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=200, random_state=0)
    plain = FastMLPClassifier(**kw).fit(X, y)
    balanced = FastMLPClassifier(class_weight="balanced", **kw).fit(X, y)
    recall = [np.mean(m.predict(X)[y == 1] == 1) for m in (plain, balanced)]
    assert recall[1] >= recall[0]
    # a dict is the same as the equivalent sample weights
    a = FastMLPClassifier(class_weight={0: 1.0, 1: 4.0}, **kw).fit(X, y)
    b = FastMLPClassifier(**kw).fit(X, y, sample_weight=np.where(y == 1, 4.0, 1.0))
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="class_weight"):
        FastMLPClassifier(class_weight="balanced", solver="sgd").partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="class_weight"):
        FastMLPClassifier(class_weight="often").fit(X, y)
    Xm, Ym = _data("multilabel", n=50)
    with pytest.raises(ValueError, match="class_weight"):
        FastMLPClassifier(class_weight="balanced").fit(Xm, Ym)


def test_validation_data_and_loss_curve():
    X, y = _data("multiclass", n=300)
    Xtr, Xv, ytr, yv = X[:200], X[200:], y[:200], y[200:]
    est = FastMLPClassifier((16,), max_iter=40, random_state=0).fit(Xtr, ytr, validation_data=(Xv, yv))
    assert len(est.validation_scores_) == len(est.validation_loss_curve_) == est.n_iter_
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert est.validation_loss_curve_[-1] < est.validation_loss_curve_[0]
    # early stopping on the given data restores the best epoch's weights
    es = FastMLPClassifier((16,), max_iter=200, early_stopping=True, n_iter_no_change=3, random_state=0)
    es.fit(Xtr, ytr, validation_data=(Xv, yv))
    assert es.n_iter_ < 200 and es.best_loss_ is None
    assert es.score(Xv, yv) == pytest.approx(es.best_validation_score_)
    # the internal split: no validation data given
    internal = FastMLPRegressor(hidden_layer_sizes=(8,), max_iter=30, early_stopping=True, random_state=0)
    internal.fit(*_data("regression", n=100))
    assert len(internal.validation_loss_curve_) == internal.n_iter_
    assert FastMLPRegressor(max_iter=3).fit(*_data("regression", n=50)).validation_loss_curve_ is None
    with pytest.raises(ValueError, match="validation_data"):
        FastMLPClassifier(max_iter=2).fit(Xtr, ytr, validation_data=(Xv,))
    with pytest.raises(ValueError, match="validation_data"):
        FastMLPClassifier(max_iter=2).fit(Xtr, ytr, validation_data=(Xv, yv + 10))
    with pytest.raises(ValueError, match="validation_data"):
        FastMLPClassifier(max_iter=2, solver="lbfgs").fit(Xtr, ytr, validation_data=(Xv, yv))
    with pytest.raises(ValueError, match="validation_data: the validation sample weights are all zero"):
        FastMLPClassifier(max_iter=2).fit(Xtr, ytr, validation_data=(Xv, yv, np.zeros(len(yv))))


def test_verbose_and_convergence_warning(capsys):
    X, y = _data("binary", n=60)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        FastMLPClassifier((4,), max_iter=2, verbose=True).fit(X, y)
    assert "Iteration 2, loss = " in capsys.readouterr().out
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        FastMLPClassifier((4,), max_iter=500, tol=0.5, random_state=0).fit(X, y)  # stops on tol


# ---------------------------------------------------------------------------------------------------------
# Bad input: clear errors naming the argument
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("param, value", [
    ("hidden_layer_sizes", 0), ("hidden_layer_sizes", "10"), ("activation", "nope"), ("activation", 3),
    ("solver", "newton"), ("alpha", -1.0), ("batch_size", 0), ("learning_rate", "fast"),
    ("learning_rate_init", 0.0), ("power_t", -1.0), ("max_iter", 0), ("momentum", 1.5), ("tol", -1.0),
    ("validation_fraction", 1.0), ("beta_1", 1.0), ("beta_2", -0.1), ("epsilon", 0.0),
    ("n_iter_no_change", 0), ("max_fun", 0), ("shuffle", "yes"), ("backend", "gpu"),
])
def test_bad_parameters_name_the_argument(param, value):
    X, y = _data("binary", n=30)
    with pytest.raises(ValueError, match=param):
        FastMLPClassifier(**{param: value}).fit(X, y)


def test_bad_inputs():
    X, y = _data("regression", n=30)
    with pytest.raises(TypeError, match="dtype"):
        FastMLPRegressor(dtype=np.int32).fit(X, y)
    with pytest.raises(ValueError, match="loss"):
        FastMLPRegressor(loss="huber").fit(X, y)
    with pytest.raises(ValueError, match="sample_weight"):
        FastMLPRegressor().fit(X, y, sample_weight=-np.ones(30))
    with pytest.raises(ValueError, match="NaN"):
        FastMLPRegressor().fit(np.where(X > 1, np.nan, X), y)
    est = FastMLPRegressor(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :3])
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        FastMLPRegressor().predict(X)


# ---------------------------------------------------------------------------------------------------------
# One engine under both faces: what FastMLP guarantees, the estimators guarantee too
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("Est, kind", [(FastMLPClassifier, "multiclass"), (FastMLPRegressor, "regression")])
def test_diverged_fit_is_rolled_back_in_the_estimators(Est, kind):
    X, y = _data(kind, n=60)
    est = Est(hidden_layer_sizes=(5,), solver="sgd", max_iter=2, warm_start=True, batch_size=1,
              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    before = [a.copy() for a in est.coefs_ + est.intercepts_]
    curve = list(est.loss_curve_)
    est.set_params(learning_rate_init=1e20)
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match="lr"):
        est.fit(X, y)
    for a, b in zip(est.coefs_ + est.intercepts_, before):
        np.testing.assert_array_equal(a, b)
    assert est.loss_curve_ == curve
    assert np.isfinite(est.predict(X) if kind == "regression" else est.predict_proba(X)).all()


def test_set_params_backend_after_fit_takes_effect():
    X, y = _data("multiclass", n=60)
    est = FastMLPClassifier((6,), max_iter=5, random_state=0, backend="cython")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    P = est.predict_proba(X)
    est.set_params(backend="numpy")
    np.testing.assert_allclose(est.predict_proba(X), P, rtol=1e-12)
    assert est._model.backend == "numpy"
    est.set_params(backend="gpu")
    with pytest.raises(ValueError, match="backend"):
        est.predict(X)


def test_get_feature_names_out_checks_input_features():
    X, y = _data("multiclass", n=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = FastMLPClassifier((6, 4), max_iter=3, random_state=0).fit(X, y)
    names = est.get_feature_names_out()
    assert list(names) == [f"fastmlpclassifier{i}" for i in range(4)]
    assert list(est.get_feature_names_out([f"x{i}" for i in range(X.shape[1])])) == list(names)
    with pytest.raises(ValueError, match="input_features"):
        est.get_feature_names_out(["a", "b"])
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        named = FastMLPClassifier((4,), max_iter=3, random_state=0).fit(df, y)
    named.get_feature_names_out(list(df.columns))
    with pytest.raises(ValueError, match="input_features"):
        named.get_feature_names_out([f"z{i}" for i in range(X.shape[1])])
