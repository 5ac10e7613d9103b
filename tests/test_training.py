"""The shared training engine (fastmlp._training) as FastMLP and the scikit-learn estimators use it:
L-BFGS, class weights, schedules, per-batch L2, EarlyStopping objects, transform, init, reseed, backend
switching, divergence rollback and argument checks that leave the model untouched."""
import ast
import pathlib
import warnings

import numpy as np
import pytest

import fastmlp
from fastmlp import FastMLP
from fastmlp._training import Adaptive, ConvergenceWarning, EarlyStopping, InvScaling, make_schedule
from fastmlp.validation import ParameterError

SRC = pathlib.Path(fastmlp.__file__).parent
BACKENDS = ["cython", "numpy"]


def _blobs(n=120, d=4, k=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d)) * 3
    y = rng.integers(0, k, n)
    X = (centers[y] + rng.standard_normal((n, d))).astype(dtype)
    return X, y


# ---------------------------------------------------------------------------------------------------------
# L-BFGS on FastMLP
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_lbfgs_on_fastmlp(backend):
    X, y = _blobs()
    m = FastMLP([4, 8, 3], activation="tanh", dtype=np.float64, seed=0, backend=backend)
    start = m.loss(X, y)
    m.fit(X, y, epochs=200, optimizer="lbfgs", tol=1e-8)
    assert m.loss(X, y) < 0.1 * start and m.score(X, y) > 0.95
    assert m.n_epochs == len(m.loss_curve) == m.last_fit.epochs
    assert m.last_fit.reason in ("converged", "max_iter")
    assert m.loss_curve[-1] == pytest.approx(m.loss(X, y), rel=1e-9)
    with pytest.warns(ConvergenceWarning, match="lbfgs stopped after 2"):
        FastMLP([4, 8, 3], dtype=np.float64, backend=backend).fit(X, y, epochs=2, optimizer="lbfgs")
    with pytest.raises(ParameterError, match="optimizer: lbfgs"):
        m.fit(X, y, optimizer="lbfgs", validation_split=0.2)


def test_lbfgs_same_on_both_backends():
    X, y = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fits = [FastMLP([4, 6, 3], activation="tanh", dtype=np.float64, seed=1, backend=b)
                .fit(X, y, epochs=30, optimizer="lbfgs", l2=1e-3) for b in BACKENDS]
    np.testing.assert_allclose(fits[0].get_params_vector(), fits[1].get_params_vector(), rtol=1e-6,
                               atol=1e-8)


# ---------------------------------------------------------------------------------------------------------
# Class weights, per-batch L2, schedules
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_class_weight_is_the_equivalent_sample_weight(backend):
    X, y = _blobs()
    labels = np.array(["a", "b", "c"])[y]
    kw = dict(epochs=3, batch_size=16, lr=0.05)
    a = FastMLP([4, 5, 3], dtype=np.float64, seed=0, backend=backend)
    a.fit(X, labels, class_weight={"a": 1.0, "b": 3.0}, **kw)
    b = FastMLP([4, 5, 3], dtype=np.float64, seed=0, backend=backend)
    b.fit(X, labels, sample_weight=np.where(labels == "b", 3.0, 1.0), **kw)
    np.testing.assert_array_equal(a.get_params_vector(), b.get_params_vector())
    # "balanced": n / (n_classes · n_c), scikit-learn's formula
    compute_class_weight = pytest.importorskip("sklearn.utils.class_weight").compute_class_weight
    c = FastMLP([4, 5, 3], dtype=np.float64, seed=0, backend=backend).fit(X, labels, class_weight="balanced",
                                                                          **kw)
    w = compute_class_weight("balanced", classes=np.unique(labels), y=labels)
    d = FastMLP([4, 5, 3], dtype=np.float64, seed=0, backend=backend)
    d.fit(X, labels, sample_weight=w[np.searchsorted(np.unique(labels), labels)], **kw)
    np.testing.assert_allclose(c.get_params_vector(), d.get_params_vector(), rtol=1e-12)
    for bad, msg in [({"z": 1.0}, "class_weight: label 'z'"), ({"a": -1.0}, "class_weight"),
                     ("often", "class_weight")]:
        with pytest.raises(ValueError, match=msg):
            FastMLP([4, 5, 3], backend=backend).fit(X, labels, class_weight=bad)
    with pytest.raises(ValueError, match="class_weight"):
        FastMLP([4, 5, 1], output="identity", backend=backend).fit(X, y.astype(float),
                                                                   class_weight="balanced")


@pytest.mark.parametrize("backend", BACKENDS)
def test_l2_per_batch_divides_by_the_batch_rows(backend):
    X, y = _blobs(n=50)
    a = FastMLP([4, 5, 3], dtype=np.float64, seed=0, backend=backend)
    a.fit(X, y, epochs=2, batch_size=50, lr=0.1, l2=0.5, l2_per_batch=True, shuffle=False)
    b = FastMLP([4, 5, 3], dtype=np.float64, seed=0, backend=backend)
    b.fit(X, y, epochs=2, batch_size=50, lr=0.1, l2=0.5 / 50, shuffle=False)
    np.testing.assert_allclose(a.get_params_vector(), b.get_params_vector(), rtol=1e-13, atol=1e-15)


def test_schedules():
    X, y = _blobs(n=40)
    m = FastMLP([4, 5, 3], dtype=np.float64, seed=0)
    m.fit(X, y, epochs=3, batch_size=8, lr=0.1, schedule="invscaling", power_t=0.25)
    assert m.optimizer.lr == pytest.approx(0.1 / (3 * 40 + 1) ** 0.25, rel=1e-15)
    assert m.samples_seen == 120
    m.fit(X, y, epochs=1, lr=0.1, schedule=InvScaling(power_t=0.5))  # continues counting rows
    assert m.optimizer.lr == pytest.approx(0.1 / (4 * 40 + 1) ** 0.5, rel=1e-15)
    # adaptive: on each plateau of the training loss the rate is divided by 5, then training stops
    seen = []
    m2 = FastMLP([4, 5, 3], dtype=np.float64, seed=0)
    m2.fit(X, y, epochs=200, lr=1e-3, schedule=Adaptive(min_lr=1e-4), patience=1, min_delta=10.0,
           callback=lambda model, info: seen.append(model.optimizer.lr))
    # epoch 1 is progress (from +inf); each later epoch is a plateau (callbacks see the rate it ran with)
    assert seen == pytest.approx([1e-3, 1e-3, 2e-4, 4e-5]) and m2.last_fit.reason == "early_stopping"
    for bad in ("warm", 3):
        with pytest.raises(ParameterError, match="schedule"):
            make_schedule(bad)
        with pytest.raises(ValueError, match="schedule"):
            FastMLP([4, 3]).fit(X, y, schedule=bad)
    with pytest.raises(ValueError, match="power_t"):
        InvScaling(power_t=-1)


# ---------------------------------------------------------------------------------------------------------
# Early stopping objects, monitors
# ---------------------------------------------------------------------------------------------------------

def test_early_stopping_object_keeps_its_state_and_monitors_the_score():
    X, y = _blobs(n=200)
    Xv, yv = _blobs(n=100, seed=1)
    stop = EarlyStopping("val_score", patience=3)
    m = FastMLP([4, 16, 3], dtype=np.float64, seed=0)
    m.fit(X, y, epochs=100, lr=0.05, validation_data=(Xv, yv), early_stopping=stop)
    best = int(np.argmax(m.val_score_curve)) + 1
    assert stop.best_epoch == m.best_epoch == best and stop.best_value == max(m.val_score_curve)
    assert m.score(Xv, yv) == pytest.approx(stop.best_value)
    wait = stop.wait
    m.partial_fit(X, y, lr=0.05, early_stopping=stop, validation_data=(Xv, yv))
    assert stop.wait in (0, wait + 1)  # the count goes on from the last call
    with pytest.raises(ValueError, match="monitor"):
        EarlyStopping("accuracy")
    with pytest.raises(ValueError, match="monitor: 'val_loss' needs validation_data"):
        m.fit(X, y, monitor="val_loss")
    with pytest.raises(ValueError, match="early_stopping"):
        m.fit(X, y, early_stopping=EarlyStopping("val_score"))


# ---------------------------------------------------------------------------------------------------------
# transform, init, reseed, backend switching
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_transform_is_the_hidden_activation(backend):
    X, _ = _blobs(n=30)
    m = FastMLP([4, 6, 5, 3], activation=["tanh", ("leaky_relu", 0.2)], dtype=np.float64, backend=backend)
    (W0, W1, _), (b0, b1, _) = m.weights, m.biases
    H0 = np.tanh(X @ W0 + b0)
    Z1 = H0 @ W1 + b1
    np.testing.assert_allclose(m.transform(X, layer=0), H0, rtol=1e-12)
    np.testing.assert_allclose(m.transform(X), np.where(Z1 > 0, Z1, 0.2 * Z1), rtol=1e-12)
    for bad in (2, -3, 0.5, True):
        with pytest.raises(ValueError, match="layer"):
            m.transform(X, layer=bad)
    with pytest.raises(ValueError, match="no hidden layer"):
        FastMLP([4, 3]).transform(X)


def test_init_sklearn_draws_w_then_b_from_the_given_randomstate():
    rs = np.random.RandomState(3)
    m = FastMLP([4, 6, 3], activation="logistic", dtype=np.float64, seed=np.random.RandomState(3),
                init="sklearn")
    for W, b in zip(m.weights, m.biases):
        bound = np.sqrt(2.0 / sum(W.shape))
        np.testing.assert_array_equal(W, rs.uniform(-bound, bound, W.shape))
        np.testing.assert_array_equal(b, rs.uniform(-bound, bound, b.shape))
    with pytest.raises(ValueError, match="init"):
        FastMLP([4, 3], init="xavier")


def test_reseed_restarts_the_shuffle_stream():
    X, y = _blobs(n=64)
    a, b = FastMLP([4, 5, 3], seed=0), FastMLP([4, 5, 3], seed=0)
    a.reseed(7)
    b.reseed(7)
    a.fit(X, y, epochs=2, batch_size=4)
    b.fit(X, y, epochs=2, batch_size=4)
    np.testing.assert_array_equal(a.get_params_vector(), b.get_params_vector())
    c = FastMLP([4, 5, 3], seed=0)
    c.reseed(8)
    c.fit(X, y, epochs=2, batch_size=4)
    assert not np.array_equal(a.get_params_vector(), c.get_params_vector())


def test_backend_can_be_switched():
    X, y = _blobs(n=40)
    m = FastMLP([4, 5, 3], dtype=np.float64, backend="cython" if fastmlp.cython_available() else "numpy")
    m.fit(X, y, epochs=1)
    P = m.predict_proba(X)
    m.backend = "numpy"
    assert m.backend == "numpy" and repr(m).endswith("backend='numpy')")
    np.testing.assert_allclose(m.predict_proba(X), P, rtol=1e-12)
    m.fit(X, y, epochs=1)  # trains on the new backend's workspaces
    with pytest.raises(ValueError, match="backend"):
        m.backend = "gpu"


# ---------------------------------------------------------------------------------------------------------
# Divergence and refused arguments leave the model as it was
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_diverged_calls_are_rolled_back(backend):
    """lr=1e20: the first step makes the weights huge, the next step's loss overflows; the call raises
    naming lr and the model is as it was before the call (a one-epoch fit and partial_fit)."""
    X, y = _blobs(n=40)
    m = FastMLP([4, 5, 3], dtype=np.float32, seed=0, backend=backend).fit(X, y, epochs=1)
    before = m.get_params_vector()
    curve = list(m.loss_curve)
    with np.errstate(all="ignore"):
        for call in (lambda: m.fit(X, y, epochs=1, batch_size=1, lr=1e20),
                     lambda: m.partial_fit(X, y, batch_size=1, lr=1e20)):
            with pytest.raises(FloatingPointError, match="lr"):
                call()
            np.testing.assert_array_equal(m.get_params_vector(), before)
            assert m.loss_curve == curve and np.isfinite(m.predict_proba(X)).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_finite_parameters_are_caught_when_the_loss_was_finite(backend):
    """The epoch loss is taken before each step: one full-batch step to infinite weights reports a finite
    loss. The check of the parameters after the pass catches it."""
    X, y = _blobs(n=20)
    m = FastMLP([4, 1], output="identity", dtype=np.float64, seed=0, backend=backend)
    before = m.get_params_vector()
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match="parameters are not finite"):
        m.fit(X, y * 10.0, epochs=1, batch_size=20, lr=1e308)
    np.testing.assert_array_equal(m.get_params_vector(), before)
    assert m.n_epochs == 0 and m.loss_curve == []


def test_refused_arguments_change_nothing():
    X, y = _blobs(n=40)
    m = FastMLP([4, 5, 3], seed=0)
    labels = np.array(["a", "b", "c"])[y]
    with pytest.raises(ValueError, match="epochs"):
        m.fit(X, labels, epochs=0)
    assert m.classes_ is None  # the labels of the refused call were not recorded
    m.fit(X, y, epochs=1)  # so another label set still fits
    assert list(m.classes_) == [0, 1, 2]
    state = (m.get_params_vector(), list(m.loss_curve), m.n_epochs)
    from fastmlp.schedules import ReduceOnPlateau
    for kw in ({"lr": -1}, {"momentum": 1.5, "optimizer": "momentum"}, {"schedule": "warm"},
               {"clip_norm": 0.0}, {"clip_value": -1}, {"schedule": ReduceOnPlateau(monitor="val_loss")},
               {"class_weight": {"z": 2.0}}, {"validation_data": (X,)}, {"sample_weight": np.ones(3)}):
        with pytest.raises(ValueError):
            m.fit(X, y, **kw)
        np.testing.assert_array_equal(m.get_params_vector(), state[0])
        assert (list(m.loss_curve), m.n_epochs) == state[1:]


# ---------------------------------------------------------------------------------------------------------
# One rule, one message, whatever the face
# ---------------------------------------------------------------------------------------------------------

def test_one_rule_for_each_hyperparameter_across_faces():
    pytest.importorskip("sklearn")
    from fastmlp.sklearn import FastMLPClassifier
    X, y = _blobs(n=30)
    cases = [("momentum", 1.5, {"optimizer": "momentum"}, "momentum"),
             ("beta1", 1.0, {"optimizer": "adam"}, "beta_1"),
             ("eps", 0.0, {"optimizer": "adam"}, "epsilon"),
             ("lr", 0.0, {}, "learning_rate_init")]
    for ours, value, extra, theirs in cases:
        with pytest.raises(ParameterError) as e1:
            FastMLP([4, 3]).fit(X, y, **{ours: value}, **extra)
        with pytest.raises(ParameterError) as e2:
            FastMLPClassifier(**{theirs: value}).fit(X, y)
        # the same rule and message, each naming the argument as that face spells it
        assert str(e1.value).split(":", 1)[1] == str(e2.value).split(":", 1)[1]
        assert str(e1.value).startswith(ours + ":") and str(e2.value).startswith(theirs + ":")
    # momentum = 1 is allowed everywhere (scikit-learn allows it), 1.5 nowhere
    FastMLP([4, 3]).fit(X, y, epochs=1, optimizer="momentum", momentum=1.0)


def _calls(path, names):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            if name in names:
                found.append(name)
    return found


def test_faces_build_no_network_and_run_no_loop_of_their_own():
    """The scikit-learn face holds a FastMLP: it constructs no Network, workspace or parameter vector,
    and the epoch loop / L-BFGS exist once, in the engine."""
    sk = SRC / "sklearn.py"
    assert _calls(sk, {"Network", "Optimizer", "NetSpec", "minimize", "train_epoch", "train_step",
                       "loss_and_grad"}) == []
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(sk.read_text(encoding="utf-8")))
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(sk.read_text(encoding="utf-8")))
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert "scipy" not in imported and "_theta" not in sk.read_text(encoding="utf-8")
    engines = [p.name for p in sorted(SRC.rglob("*.py"))
               if _calls(p, {"train_epoch", "minimize"}) and p.name != "_training.py"]
    assert engines == [], f"training loops outside fastmlp/_training.py: {engines}"


def test_training_warnings_are_quiet_by_default():
    X, y = _blobs(n=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FastMLP([4, 3], seed=0).fit(X, y, epochs=2)


# ---------------------------------------------------------------------------------------------------------
# Never an answer from broken weights; threads
# ---------------------------------------------------------------------------------------------------------

def test_predict_refuses_non_finite_outputs():
    X, y = _blobs(n=40, dtype=np.float32)
    m = FastMLP([4, 5, 3], seed=0).fit(X, y, epochs=1)
    m.weights[0][0, 0] = np.nan  # a view: edited in place, past every check
    for call in (m.predict, m.predict_proba, m.forward):
        with pytest.raises(FloatingPointError, match="parameters are not finite"):
            call(X)
    m.weights[0][0, 0] = 3e38
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match="output is not finite"):
        m.predict(X * 1e3)


def test_threads_get_their_own_gradients_and_training_serialises():
    import threading
    X, y = _blobs(n=64)
    m = FastMLP([4, 16, 3], dtype=np.float64, seed=0)
    m.fit(X, y, epochs=1)
    batches = [(X[i::4], y[i::4]) for i in range(4)]
    expected = [m.gradient_vector(Xb, yb)[1] for Xb, yb in batches]
    errors, wrong = [], []

    def grads(k):
        for _ in range(50):
            g = m.gradient_vector(*batches[k])[1]
            if not np.array_equal(g, expected[k]):
                wrong.append(k)

    def train():
        try:
            for _ in range(30):
                m.partial_fit(X, y, lr=0.01)
        except Exception as exc:  # noqa: BLE001 - any error is a failure of the guarantee
            errors.append(exc)

    threads = [threading.Thread(target=grads, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
    trainers = [threading.Thread(target=train) for _ in range(2)]
    for t in trainers:
        t.start()
    for t in trainers:
        t.join()
    assert errors == [] and m.n_epochs == 1 + 60 and len(m.loss_curve) == 61


def test_an_interrupted_fit_stops_at_a_completed_epoch():
    X, y = _blobs(n=64)
    m = FastMLP([4, 8, 3], dtype=np.float64, seed=0)
    snapshots = {}

    def interrupt(model, info):
        snapshots[info["epoch"]] = model.get_params_vector()
        if info["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        m.fit(X, y, epochs=10, callback=interrupt)
    assert m.n_epochs == len(m.loss_curve) == 3
    np.testing.assert_array_equal(m.get_params_vector(), snapshots[3])
    m.fit(X, y, epochs=1)  # and it trains on from there
    assert m.n_epochs == 4


def test_a_failed_save_leaves_the_old_file_whole(tmp_path, monkeypatch):
    X, y = _blobs(n=40)
    m = FastMLP([4, 5, 3], seed=0).fit(X, y, epochs=1)
    path = tmp_path / "model.npz"
    m.save(path)
    before = path.read_bytes()
    m.fit(X, y, epochs=1)

    def disk_full(fh, **arrays):
        fh.write(b"PK\x03\x04 half a model")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left"):
        m.save(path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]
    monkeypatch.undo()
    FastMLP.load(path)  # still loads
