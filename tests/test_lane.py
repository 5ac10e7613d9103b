"""The fast lane (``_lane.pxi``): ``predict``, ``predict_proba`` and one-batch ``partial_fit`` as one kernel
call (``fastmlp._kernels.predict_fast`` / ``step_fast``) on input that is exactly what the kernels read.

The contract held here: the lane either does the whole call, bit for bit what the checked path would have
done, or returns None having changed nothing, and the checked path runs (raising the precise error for a
bad input). Model B of every pair is fed input that means the same but cannot take the lane (a list, a
Fortran-ordered or strided array), so it trains through the checked path only.
"""
import threading
import types
import warnings

import numpy as np
import pytest

from fastmlp import EarlyStopping, FastMLP
from fastmlp.schedules import Constant

try:
    from fastmlp import _kernels
except ImportError:  # pragma: no cover - the lane exists only in the built extension
    _kernels = None

DTYPES = [np.float32, np.float64]
BACKENDS = ["cython", "numpy"]
D_IN = 4
LR = {"sgd": 0.05, "momentum": 0.02, "nesterov": 0.02, "adam": 0.01}

# kind: (output, loss, d_out, labels (classifiers) or None, whether partial_fit can take the lane)
KINDS = {
    "softmax": ("softmax", None, 3, np.arange(3), True),
    "softmax_int32": ("softmax", None, 3, np.arange(3, dtype=np.int32), True),
    "table": ("softmax", None, 3, np.array([3, 7, 10]), True),
    "strings": ("softmax", None, 3, np.array(["ant", "bee", "cat"]), False),
    "sigmoid01": ("sigmoid", None, 1, np.array([0, 1]), True),
    "sigmoid_m1_5": ("sigmoid", None, 1, np.array([-1, 5]), True),
    "reg1": ("identity", None, 1, None, True),
    "reg2": ("identity", None, 2, None, True),
    "logistic_se": ("sigmoid", "squared_error", 1, None, True),
    "poisson": ("exp", None, 1, None, False),
    "multilabel": ("sigmoid", None, 3, None, False),
}
SOFTMAX_KINDS = ("softmax", "softmax_int32", "table", "strings")


class _Sub(np.ndarray):
    """An ndarray subclass: never the lane's input (the checked path converts it with np.asarray)."""


def _problem(kind, dtype, n=12, d=D_IN, seed=0):
    output, loss, d_out, labels, lane = KINDS[kind]
    rng = np.random.default_rng(seed + 1000 * n + d)
    X = rng.standard_normal((n, d)).astype(dtype)
    classes = None
    if labels is not None:
        order = np.arange(n) % len(labels)  # every class present once n >= the number of classes
        rng.shuffle(order)
        y = labels[order]
        classes = labels
    elif kind == "reg1":
        y = rng.standard_normal(n).astype(dtype)
    elif kind == "reg2":
        y = rng.standard_normal((n, 2)).astype(dtype)
    elif kind == "logistic_se":
        y = rng.random(n).astype(dtype)
    elif kind == "poisson":
        y = rng.poisson(2.0, n).astype(dtype)
    else:  # multilabel: a 0/1 matrix
        y = rng.integers(0, 2, (n, d_out))
    return types.SimpleNamespace(kind=kind, X=X, y=y, classes=classes, lane=lane, d=d,
                                 sizes=[d, 5, d_out], output=output, loss=loss)


def _model(p, dtype, backend="cython", seed=3, activation="tanh"):
    return FastMLP(p.sizes, activation=activation, output=p.output, loss=p.loss, dtype=dtype, seed=seed,
                   backend=backend)


def _slow_X(X, variant):
    """X in a form that means the same but cannot take the lane."""
    if variant == "fortran":
        F = np.asfortranarray(X)
        if not F.flags.c_contiguous:  # (1, d) and (n, 1) are both: use a strided view instead
            return F
        variant = "strided"
    if variant == "strided":
        buf = np.zeros((X.shape[0], 2 * X.shape[1]), dtype=X.dtype)
        buf[:, ::2] = X
        view = buf[:, ::2]
        assert not view.flags.c_contiguous
        return view
    return X.tolist()


SLOW_VARIANTS = ("list", "fortran", "strided")


def _first_kwargs(p, i):
    return {"classes": p.classes} if i == 0 and p.classes is not None else {}


def _opt_state(m):
    opt = m.optimizer
    if opt is None:
        return None
    return (opt.kind, opt.lr, opt.t, opt.state1.copy(), opt.state2.copy())


def _assert_same_state(A, B):
    """Everything a partial_fit changes, bit for bit."""
    np.testing.assert_array_equal(A.get_params_vector(), B.get_params_vector())
    np.testing.assert_array_equal(np.asarray(A.loss_curve), np.asarray(B.loss_curve))
    assert A.n_epochs == B.n_epochs
    assert A.samples_seen == B.samples_seen
    if A.classes_ is None or B.classes_ is None:
        assert A.classes_ is None and B.classes_ is None
    else:
        np.testing.assert_array_equal(A.classes_, B.classes_)
        assert A.classes_.dtype == B.classes_.dtype
    sa, sb = _opt_state(A), _opt_state(B)
    if sa is None or sb is None:
        assert sa is None and sb is None
    else:
        assert sa[:3] == sb[:3]
        np.testing.assert_array_equal(sa[3], sb[3])
        np.testing.assert_array_equal(sa[4], sb[4])
    fa, fb = A.last_fit, B.last_fit
    assert (fa.epochs, fa.reason, fa.loss) == (fb.epochs, fb.reason, fb.loss)


def _snapshot(m):
    return (m.get_params_vector(), list(m.loss_curve), m.n_epochs, m.samples_seen, _opt_state(m))


def _assert_unchanged(m, snap):
    theta, curve, n_epochs, seen, opt = snap
    np.testing.assert_array_equal(m.get_params_vector(), theta)
    assert m.loss_curve == curve
    assert (m.n_epochs, m.samples_seen) == (n_epochs, seen)
    now = _opt_state(m)
    assert now[:3] == opt[:3]
    np.testing.assert_array_equal(now[3], opt[3])  # optimizer.state1
    np.testing.assert_array_equal(now[4], opt[4])  # optimizer.state2


def _outcome(fn):
    """("ok", result) or (exception type, message): what a call did."""
    try:
        return "ok", fn()
    except Exception as exc:  # noqa: BLE001 - the outcome itself is compared
        return type(exc), str(exc)


@pytest.fixture
def kernels():
    return pytest.importorskip("fastmlp._kernels")


@pytest.fixture
def spy(monkeypatch):
    """Every result of the lane's two kernels, in call order (the model calls them as
    ``self._backend.step_fast``, the backend being the ``fastmlp._kernels`` module)."""
    log = {"step_fast": [], "predict_fast": []}
    if _kernels is None:
        return log
    for name, calls in log.items():
        real = getattr(_kernels, name)

        def counted(*args, _real=real, _calls=calls):
            result = _real(*args)
            _calls.append(result)
            return result

        monkeypatch.setattr(_kernels, name, counted)
    return log


class _Calls:
    """The kernel results recorded during one with-block."""

    def __init__(self, spy, name="step_fast"):
        self.log, self.results = spy[name], None

    def __enter__(self):
        self.start = len(self.log)
        return self

    def __exit__(self, *exc):
        self.results = self.log[self.start:]
        return False

    @property
    def taken(self):
        return len(self.results) == 1 and self.results[0] is not None

    @property
    def not_taken(self):
        return all(r is None for r in self.results)


def _need(backend):
    if backend == "cython":
        pytest.importorskip("fastmlp._kernels")


def _warm(p, dtype, optimizer="adam", calls=2, batch_size=None, seed=3, activation="tanh"):
    """A model after ``calls`` lane-qualifying partial_fits (the first one builds the workspace)."""
    m = _model(p, dtype, seed=seed, activation=activation)
    for i in range(calls):
        m.partial_fit(p.X, p.y, batch_size=batch_size or len(p.X), optimizer=optimizer, lr=LR[optimizer],
                      **_first_kwargs(p, i))
    return m


# ------------------------------------------------------------------------------------------------------
# 1. The lane and the checked path train bit for bit alike
# ------------------------------------------------------------------------------------------------------

def _train_pair(spy, kind, dtype, backend, optimizer, n, d, batch_size, calls=5):
    p = _problem(kind, dtype, n, d)
    A, B = _model(p, dtype, backend), _model(p, dtype, backend)
    lane = backend == "cython" and p.lane and n <= batch_size
    for i in range(calls):
        kw = dict(batch_size=batch_size, optimizer=optimizer, lr=LR[optimizer], **_first_kwargs(p, i))
        with _Calls(spy) as a:
            A.partial_fit(p.X, p.y, **kw)
        with _Calls(spy) as b:
            B.partial_fit(_slow_X(p.X, SLOW_VARIANTS[i % 3]), p.y.tolist(), **kw)
        assert b.not_taken
        if i == 0 or backend == "numpy":
            assert a.results == []  # the first call builds the workspace on the checked path
        elif lane:
            assert a.taken
        else:
            assert a.not_taken
        _assert_same_state(A, B)
    if n >= 3:  # a shuffled multi-batch pass: the random stream is where the checked path left it
        for m, X in ((A, p.X), (B, p.X.tolist())):
            m.partial_fit(X, p.y, batch_size=max(1, n // 3), optimizer=optimizer, lr=LR[optimizer])
        _assert_same_state(A, B)
    with _Calls(spy) as a:
        A.partial_fit(p.X, p.y, batch_size=batch_size, optimizer=optimizer, lr=LR[optimizer])
    B.partial_fit(_slow_X(p.X, "fortran"), p.y.tolist(), batch_size=batch_size, optimizer=optimizer,
                  lr=LR[optimizer])
    _assert_same_state(A, B)
    return A, B


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_partial_fit_lane_equals_checked_path(spy, kind, dtype, optimizer, backend):
    _need(backend)
    _train_pair(spy, kind, dtype, backend, optimizer, n=12, d=D_IN, batch_size=12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(1, 7, 1), (1, 7, 4), (5, 4, 8), (3, 1, 3)],
                         ids=lambda s: "n{}-d{}-b{}".format(*s))
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_partial_fit_lane_equals_checked_path_odd_shapes(spy, kind, dtype, shape, backend):
    _need(backend)
    n, d, batch_size = shape
    _train_pair(spy, kind, dtype, backend, "nesterov" if n == 5 else "momentum", n, d, batch_size)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_partial_fit_lane_int32_labels(spy, kernels, dtype):
    """int32 labels take the lane too (as int64 do) and mean the same labels."""
    p = _problem("table", dtype)
    A, B = _model(p, dtype), _model(p, dtype)
    for i in range(4):
        kw = dict(batch_size=12, optimizer="adam", lr=0.01, **_first_kwargs(p, i))
        with _Calls(spy) as a:
            A.partial_fit(p.X, p.y.astype(np.int32), **kw)
        B.partial_fit(p.X.tolist(), p.y.tolist(), **kw)
        assert a.taken == (i > 0)
        _assert_same_state(A, B)


# ------------------------------------------------------------------------------------------------------
# 2. The lane is really taken, and left whenever an option asks for the checked path
# ------------------------------------------------------------------------------------------------------

# name: (the changed call's options, the lane on the changed calls: "retaken" (left once, then taken with
# the new settings), "never", "refused" (tried, returns None) or "kept")
LEAVE = {
    "lr": (lambda p: {"lr": 0.05}, "retaken"),
    "optimizer": (lambda p: {"optimizer": "adam", "lr": 0.01}, "retaken"),
    "sample_weight": (lambda p: {"sample_weight": np.linspace(0.5, 1.5, len(p.X))}, "never"),
    "class_weight": (lambda p: {"class_weight": "balanced"}, "never"),
    "schedule_invscaling": (lambda p: {"schedule": "invscaling"}, "never"),
    "schedule_object": (lambda p: {"schedule": Constant()}, "never"),
    "callback": (lambda p: {"callback": lambda model, info: None}, "never"),
    "l2_per_batch": (lambda p: {"l2_per_batch": True}, "never"),
    "optimizer_kwarg": (lambda p: {"momentum": 0.5}, "never"),
    "validation_data": (lambda p: {"validation_data": (p.X, p.y)}, "never"),
    "early_stopping": (lambda p: {"early_stopping": EarlyStopping("loss", patience=3)}, "never"),
    "multi_batch": (lambda p: {"batch_size": 5}, "refused"),
    "shuffle_false": (lambda p: {"shuffle": False}, "kept"),
    "classes": (lambda p: {"classes": p.classes}, "kept"),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("change", list(LEAVE))
def test_lane_taken_and_left(spy, kernels, change, dtype):
    p = _problem("softmax", dtype)
    make_kwargs, mode = LEAVE[change]
    A, B = _model(p, dtype), _model(p, dtype)
    base = {"batch_size": len(p.X), "optimizer": "momentum", "lr": 0.02}
    plan = [False, False, True, True, False, False]  # which calls carry the change
    for i, changed in enumerate(plan):
        kw = {**base, **(make_kwargs(p) if changed else {}), **_first_kwargs(p, i)}
        with _Calls(spy) as a:
            A.partial_fit(p.X, p.y, **kw)
        with _Calls(spy) as b:
            B.partial_fit(p.X.tolist(), p.y.tolist(), **kw)
        assert b.not_taken
        if i == 0:
            assert a.results == []
        elif i == 1 or i == 5:
            assert a.taken
        elif mode == "kept":
            assert a.taken
        elif mode == "refused":
            if changed:
                assert a.not_taken
        elif mode == "never":
            assert a.results == []  # not even tried
        else:  # retaken: the first call with new settings takes the checked path, the next the lane
            assert a.results == [] if i in (2, 4) else a.taken
        _assert_same_state(A, B)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_lane_left_when_model_l2_changes(spy, kernels, dtype):
    p = _problem("reg2", dtype)
    A, B = _warm(p, dtype, "sgd"), _model(p, dtype)
    B.partial_fit(p.X.tolist(), p.y.tolist(), batch_size=12, optimizer="sgd", lr=LR["sgd"])
    B.partial_fit(p.X.tolist(), p.y.tolist(), batch_size=12, optimizer="sgd", lr=LR["sgd"])
    A.l2 = B.l2 = 0.1
    for expect in (False, True):
        with _Calls(spy) as a:
            A.partial_fit(p.X, p.y, batch_size=12, optimizer="sgd", lr=LR["sgd"])
        B.partial_fit(p.X.tolist(), p.y.tolist(), batch_size=12, optimizer="sgd", lr=LR["sgd"])
        assert a.taken if expect else a.results == []
        assert A.optimizer.l2 == 0.1
        _assert_same_state(A, B)


# ------------------------------------------------------------------------------------------------------
# 3. Bad input on a warm model: the lane refuses, changes nothing, the checked path raises
# ------------------------------------------------------------------------------------------------------

def _with(a, index, value):
    a = a.copy()
    a[index] = value
    return a


# name: (kind, (X, y) from the problem, error type, message pattern)
BAD = {
    "nan-X": ("softmax", lambda p: (_with(p.X, (1, 2), np.nan), p.y), ValueError, r"^X: contains NaN"),
    "inf-X": ("reg2", lambda p: (_with(p.X, (0, 0), np.inf), p.y), ValueError, r"^X: contains NaN or inf"),
    "-inf-X": ("table", lambda p: (_with(p.X, (-1, -1), -np.inf), p.y), ValueError, r"^X: contains NaN"),
    "nan-X-sigmoid": ("sigmoid_m1_5", lambda p: (_with(p.X, (5, 0), np.nan), p.y), ValueError, r"^X: "),
    "nan-y": ("reg1", lambda p: (p.X, _with(p.y, 3, np.nan)), ValueError, r"^y: contains NaN"),
    "inf-y": ("reg2", lambda p: (p.X, _with(p.y, (0, 1), np.inf)), ValueError, r"^y: contains NaN or inf"),
    "unseen-label": ("softmax", lambda p: (p.X, _with(p.y, 0, 3)), ValueError, r"labels \[3\] are not"),
    "unseen-negative": ("softmax", lambda p: (p.X, _with(p.y, 4, -1)), ValueError, r"labels \[-1\]"),
    "unseen-int32": ("softmax", lambda p: (p.X, _with(p.y, 2, 7).astype(np.int32)), ValueError,
                     r"labels \[7\]"),
    "unseen-in-table": ("table", lambda p: (p.X, _with(p.y, 0, 5)), ValueError, r"labels \[5\]"),
    "unseen-above-table": ("table", lambda p: (p.X, _with(p.y, 0, 11)), ValueError, r"labels \[11\]"),
    "unseen-below-table": ("table", lambda p: (p.X, _with(p.y, 0, 2)), ValueError, r"labels \[2\]"),
    "unseen-sigmoid01": ("sigmoid01", lambda p: (p.X, _with(p.y, 0, 2)), ValueError, r"labels \[2\]"),
    "unseen-sigmoid-table": ("sigmoid_m1_5", lambda p: (p.X, _with(p.y, 0, 0)), ValueError, r"labels \[0\]"),
    "wide-X": ("softmax", lambda p: (np.hstack([p.X, p.X[:, :1]]), p.y), ValueError,
               r"^X: expected 4 features"),
    "narrow-X": ("reg1", lambda p: (np.ascontiguousarray(p.X[:, :-1]), p.y), ValueError,
                 r"^X: expected 4 features"),
    "short-y": ("softmax", lambda p: (p.X, p.y[:-1]), ValueError, r"^y: has 11 samples"),
    "short-y-reg": ("reg2", lambda p: (p.X, p.y[:-1]), ValueError, r"^y: has 11 samples"),
    "wide-y-reg": ("reg2", lambda p: (p.X, np.hstack([p.y, p.y[:, :1]])), ValueError,
                   r"^y: expected 2 target columns"),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_on_warm_model_changes_nothing(spy, kernels, case, dtype):
    kind, make, error, pattern = BAD[case]
    p = _problem(kind, dtype)
    A = _warm(p, dtype)
    snap = _snapshot(A)
    X, y = make(p)
    with _Calls(spy) as a, pytest.raises(error, match=pattern):
        A.partial_fit(X, y, batch_size=12, optimizer="adam", lr=LR["adam"])
    assert len(a.results) == 1 and a.not_taken  # the lane was tried and refused
    _assert_unchanged(A, snap)
    # the refused call left no trace: the next calls train exactly as on a model that never saw it
    B = _warm(p, dtype)
    for _ in range(2):
        A.partial_fit(p.X, p.y, batch_size=12, optimizer="adam", lr=LR["adam"])
        B.partial_fit(p.X, p.y, batch_size=12, optimizer="adam", lr=LR["adam"])
    _assert_same_state(A, B)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("method", ["predict", "predict_proba"])
@pytest.mark.parametrize("case", ["nan-X", "-inf-X", "wide-X", "narrow-X"])
def test_bad_input_to_predict_on_warm_model(spy, kernels, case, method, dtype):
    _, make, error, pattern = BAD[case]
    p = _problem("softmax", dtype)
    A = _warm(p, dtype)
    getattr(A, method)(p.X)  # the first call builds the inference workspace
    snap = _snapshot(A)
    X, _ = make(p)
    with _Calls(spy, "predict_fast") as a, pytest.raises(error, match=pattern):
        getattr(A, method)(X)
    assert len(a.results) == 1 and a.not_taken
    _assert_unchanged(A, snap)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind", ["softmax", "table", "sigmoid_m1_5", "reg1", "reg2"])
def test_other_dtype_X_takes_the_checked_path(spy, kernels, kind, dtype):
    other = np.float64 if dtype == np.float32 else np.float32
    p = _problem(kind, dtype)
    A, B = _warm(p, dtype), _warm(p, dtype)
    X_other = p.X.astype(other)
    for _ in range(2):
        with _Calls(spy) as a:
            A.partial_fit(X_other, p.y, batch_size=12, optimizer="adam", lr=LR["adam"])
        assert len(a.results) == 1 and a.not_taken
        B.partial_fit(X_other.astype(dtype), p.y, batch_size=12, optimizer="adam", lr=LR["adam"])
        _assert_same_state(A, B)
    A.predict(p.X.tolist())  # builds the inference workspace
    with _Calls(spy, "predict_fast") as a:
        got = A.predict(X_other)
    assert a.not_taken
    want = A.predict(X_other.astype(dtype).tolist())
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind", ["softmax", "reg1"])
def test_zero_rows_behave_as_the_checked_path(spy, kernels, kind, dtype):
    p = _problem(kind, dtype)
    A, B = _warm(p, dtype), _warm(p, dtype)
    snap = _snapshot(A)
    X0, y0 = p.X[:0], p.y[:0]
    assert X0.flags.c_contiguous and y0.flags.c_contiguous
    with _Calls(spy) as a:
        lane = _outcome(lambda: A.partial_fit(X0, y0, batch_size=12, optimizer="adam", lr=LR["adam"]))
    assert a.not_taken
    checked = _outcome(lambda: B.partial_fit(X0.view(_Sub), y0.view(_Sub), batch_size=12,
                                             optimizer="adam", lr=LR["adam"]))
    assert lane[0] is not ValueError or "X" in lane[1]
    assert lane[0] == checked[0] and (lane[0] == "ok" or lane[1] == checked[1])
    _assert_same_state(A, B)
    if lane[0] != "ok":
        _assert_unchanged(A, snap)
    A.predict(p.X)
    with _Calls(spy, "predict_fast") as a:
        lane = _outcome(lambda: A.predict(X0))
    assert a.not_taken
    checked = _outcome(lambda: A.predict(X0.view(_Sub)))
    assert lane[0] == checked[0]
    if lane[0] == "ok":
        np.testing.assert_array_equal(lane[1], checked[1])
    else:
        assert lane[1] == checked[1]


# ------------------------------------------------------------------------------------------------------
# 4. A step that diverges in the lane: the weights are put back, the error names lr
# ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
def test_divergence_in_the_lane(spy, kernels, optimizer, dtype):
    p = _problem("reg2", dtype)
    A, B = (_warm(p, dtype, optimizer, activation="relu") for _ in range(2))  # relu: unbounded
    theta = A.get_params_vector()
    curve, n_epochs = list(A.loss_curve), A.n_epochs
    scale = 1e36 if dtype == np.float32 else 1e300
    X_big = (p.X * dtype(scale)).astype(dtype)
    assert np.isfinite(X_big).all()
    kw = {"batch_size": 12, "optimizer": optimizer, "lr": LR[optimizer]}
    with _Calls(spy) as a, pytest.raises(FloatingPointError, match="lr") as lane_err:
        A.partial_fit(X_big, p.y, **kw)
    assert len(a.results) == 1 and type(a.results[0]) is tuple  # the kernel saw the step diverge
    np.testing.assert_array_equal(A.get_params_vector(), theta)
    assert A.optimizer is None
    assert A.loss_curve == curve and A.n_epochs == n_epochs
    with pytest.raises(FloatingPointError) as checked_err:
        B.partial_fit(_slow_X(X_big, "fortran"), p.y.tolist(), **kw)
    assert str(lane_err.value) == str(checked_err.value)
    _assert_same_state(A, B)
    # the next call starts a fresh optimizer on the checked path, the one after is in the lane again
    for expect_lane in (False, True):
        with _Calls(spy) as a:
            A.partial_fit(p.X, p.y, **kw)
        B.partial_fit(p.X.tolist(), p.y.tolist(), **kw)
        assert a.taken if expect_lane else a.results == []
        assert np.isfinite(A.loss_curve[-1])
        _assert_same_state(A, B)


# ------------------------------------------------------------------------------------------------------
# 5. The kernels themselves: what they refuse
# ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_step_fast_refuses_shared_memory(kernels, dtype):
    p = _problem("softmax", dtype)
    m = _warm(p, dtype, "momentum")
    net, opt = m._train_net, m.optimizer
    n, d = 2, D_IN
    y = np.array([0, 2])
    backup = np.empty_like(m._theta)
    theta, t, state = m.get_params_vector(), opt.t, opt.state1.copy()

    def unchanged():
        np.testing.assert_array_equal(m._theta, theta)
        assert opt.t == t
        np.testing.assert_array_equal(opt.state1, state)

    X_theta = m._theta[:n * d].reshape(n, d)  # a view of the parameters
    assert np.shares_memory(X_theta, m._theta) and X_theta.flags.c_contiguous
    assert kernels.step_fast(net, X_theta, y, None, 0, opt, backup, 12) is None
    unchanged()
    backup[:] = 0.25
    X_backup = backup[:n * d].reshape(n, d)  # a view of the backup vector
    assert kernels.step_fast(net, X_backup, y, None, 0, opt, backup, 12) is None
    unchanged()
    X = p.X[:n].copy()
    assert kernels.step_fast(net, X, y, None, 0, opt, m._theta, 12) is None  # the backup is theta
    unchanged()
    X_state = opt.state1[:n * d].reshape(n, d)  # a view of the optimizer's state
    assert kernels.step_fast(net, X_state, y, None, 0, opt, backup, 12) is None
    unchanged()
    # nor anything else not exactly right
    assert kernels.step_fast(net, X, y, None, 0, opt, backup, n - 1) is None  # more rows than max_rows
    assert kernels.step_fast(net, X, y.astype(np.float64), None, 0, opt, backup, 12) is None
    assert kernels.step_fast(net, X, y.astype(np.uint8), None, 0, opt, backup, 12) is None
    assert kernels.step_fast(net, X, y[:, None], None, 0, opt, backup, 12) is None
    assert kernels.step_fast(net, X, y.astype(y.dtype.newbyteorder()), None, 0, opt, backup, 12) is None
    assert kernels.step_fast(net, X, np.array([0, 3]), None, 0, opt, backup, 12) is None  # not a class
    assert kernels.step_fast(net, X[:0], y[:0], None, 0, opt, backup, 12) is None
    assert kernels.step_fast(net, X, y, np.arange(3, dtype=np.int32), 0, opt, backup, 12) is None
    assert kernels.step_fast(net, X, y, None, 0, opt, backup.astype(np.float16), 12) is None
    assert kernels.step_fast(net, np.asfortranarray(np.vstack([X, X])), np.r_[y, y], None, 0, opt,
                             backup, 12) is None
    unchanged()
    # the same call on a private copy is the step: backup holds the weights from before it
    r = kernels.step_fast(net, X, y, None, 0, opt, backup, 12)
    assert isinstance(r, float) and np.isfinite(r)
    assert opt.t == t + 1
    np.testing.assert_array_equal(backup, theta)
    assert not np.array_equal(m._theta, theta)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_step_fast_refuses_regression_targets_sharing_theta(kernels, dtype):
    p = _problem("reg2", dtype)
    m = _warm(p, dtype, "sgd")
    net, opt, theta = m._train_net, m.optimizer, m.get_params_vector()
    backup = np.empty_like(m._theta)
    X = p.X[:3].copy()
    y_theta = m._theta[:6].reshape(3, 2)
    assert kernels.step_fast(net, X, y_theta, None, 0, opt, backup, 12) is None
    y_backup = backup[:6].reshape(3, 2)
    y_backup[...] = 0.5
    assert kernels.step_fast(net, X, y_backup, None, 0, opt, backup, 12) is None
    y_1d = p.y[:3, 0].copy()  # (n,) is for one output only
    assert kernels.step_fast(net, X, y_1d, None, 0, opt, backup, 12) is None
    assert kernels.step_fast(net, X, p.y[:3].astype(np.int64), None, 0, opt, backup, 12) is None
    np.testing.assert_array_equal(m._theta, theta)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind", ["poisson", "multilabel"])
def test_step_fast_has_no_lane_for_poisson_or_multilabel(kernels, kind, dtype):
    p = _problem(kind, dtype)
    m = _warm(p, dtype, "sgd")
    theta, t = m.get_params_vector(), m.optimizer.t
    y = p.y if kind == "poisson" else np.ascontiguousarray(p.y, dtype=dtype)
    assert kernels.step_fast(m._train_net, p.X, y, None, 0, m.optimizer, np.empty_like(m._theta), 12) is None
    np.testing.assert_array_equal(m._theta, theta)
    assert m.optimizer.t == t


def _strided(X):
    return _slow_X(X, "strided")


def _matrix(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.asmatrix(X)


PREDICT_REFUSED = {
    "strided": _strided,
    "fortran": np.asfortranarray,
    "subclass": lambda X: X.view(_Sub),
    "matrix": _matrix,
    "byteswapped": lambda X: X.astype(X.dtype.newbyteorder()),
    "other-dtype": lambda X: X.astype(np.float64 if X.dtype == np.float32 else np.float32),
    "zero-rows": lambda X: X[:0],
    "1-D": lambda X: X[0].copy(),
    "wide": lambda X: np.hstack([X, X[:, :1]]),
    "nan": lambda X: _with(X, (2, 1), np.nan),
    "inf": lambda X: _with(X, (0, 0), np.inf),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", list(PREDICT_REFUSED))
def test_predict_fast_refuses(kernels, case, dtype):
    p = _problem("softmax", dtype)
    m = _warm(p, dtype)
    m.predict(p.X)  # builds the inference workspace
    X = PREDICT_REFUSED[case](p.X)
    for labels in (True, False):
        assert kernels.predict_fast(m._infer_net, X, labels) is None
    # and the model answers as for the same values given as a plain array (or raises as for them)
    arr = np.asarray(X)
    ref = arr.tolist() if arr.ndim == 2 and arr.shape[0] else arr.view(_Sub)
    for method in ("predict", "predict_proba"):
        got = _outcome(lambda method=method: getattr(m, method)(X))
        want = _outcome(lambda method=method: getattr(m, method)(ref))
        assert got[0] == want[0]
        if got[0] == "ok":
            assert got[1].dtype == want[1].dtype
            np.testing.assert_array_equal(got[1], want[1])
        else:
            assert got[1] == want[1]
    # control: the exact array is the lane's
    P = kernels.predict_fast(m._infer_net, p.X, False)
    np.testing.assert_array_equal(P, m.predict_proba(p.X.tolist()))
    np.testing.assert_array_equal(kernels.predict_fast(m._infer_net, p.X, True), P.argmax(axis=1))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("output", ["softmax", "identity"])
def test_non_finite_output_raises_on_the_checked_path(spy, kernels, output, dtype):
    big = 1e30 if dtype == np.float32 else 1e200
    m = FastMLP([D_IN, 3], output=output, dtype=dtype, seed=0)
    m.weights = [np.full((D_IN, 3), big) * np.array([1.0, -1.0, 0.5])]
    X = np.full((3, D_IN), big, dtype=dtype)
    m.predict(np.ones((2, D_IN), dtype))  # builds the inference workspace
    assert kernels.predict_fast(m._infer_net, X, output == "softmax") is None
    assert kernels.predict_fast(m._infer_net, X, False) is None
    methods = ["predict", "predict_proba"] if output == "softmax" else ["predict"]
    for method in methods:
        for _ in range(2):
            with _Calls(spy, "predict_fast") as a, pytest.raises(FloatingPointError, match="not finite"):
                getattr(m, method)(X)
            assert len(a.results) == 1 and a.not_taken


# ------------------------------------------------------------------------------------------------------
# 6. predict / predict_proba in the lane equal the checked path
# ------------------------------------------------------------------------------------------------------

PREDICT_KINDS = [
    "softmax",
    "softmax_int32", "table",
    "strings", "sigmoid01", "sigmoid_m1_5", "reg1", "reg2", "logistic_se", "poisson", "multilabel",
]


def _predict_pair(spy, kind, dtype, rows, method):
    p = _problem(kind, dtype)
    m = _warm(p, dtype)
    Xq = np.random.default_rng(rows).standard_normal((rows, D_IN)).astype(dtype)
    getattr(m, method)(Xq[:1].tolist())  # builds the inference workspace (this call is checked)
    with _Calls(spy, "predict_fast") as a:
        lane = getattr(m, method)(Xq)
    with _Calls(spy, "predict_fast") as c:
        checked = getattr(m, method)(Xq.tolist())
    assert c.not_taken
    assert lane.dtype == checked.dtype and lane.shape == checked.shape
    np.testing.assert_array_equal(lane, checked)
    return p, a


@pytest.mark.parametrize("rows", [1, 5000])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind", PREDICT_KINDS)
def test_predict_lane_equals_checked_path(spy, kernels, kind, dtype, rows):
    _, a = _predict_pair(spy, kind, dtype, rows, "predict")
    assert a.taken


@pytest.mark.parametrize("rows", [1, 5000])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind", ["softmax", "softmax_int32", "table", "strings", "sigmoid01", "sigmoid_m1_5",
                                  "multilabel"])
def test_predict_proba_lane_equals_checked_path(spy, kernels, kind, dtype, rows):
    _, a = _predict_pair(spy, kind, dtype, rows, "predict_proba")
    if kind in SOFTMAX_KINDS:  # the lane's predict_proba is the softmax's
        assert a.taken
    else:
        assert a.results == []


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_predict_values_of_0_to_c_minus_1_classes(spy, kernels, dtype):
    """classes 0..C-1 (int64): the lane's argmax is returned as the labels, with the checked path's dtype."""
    p = _problem("softmax", dtype)
    m = _warm(p, dtype)
    m.predict(p.X)
    got, want = m.predict(p.X), m.classes_[m.predict_proba(p.X.tolist()).argmax(axis=1)]
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_uint64_labels_past_int64_leave_the_lane(kernels, dtype):
    p = _problem("softmax", dtype)
    y = (np.uint64(2 ** 63) + p.y.astype(np.uint64))
    m = _model(p, dtype)
    for _ in range(3):
        m.partial_fit(p.X, y, batch_size=12)
    assert m.classes_.dtype == np.uint64
    m.predict(p.X.tolist())
    np.testing.assert_array_equal(m.predict(p.X), m.predict(p.X.tolist()))


# ------------------------------------------------------------------------------------------------------
# 7. Threads: predictions in four threads while a fifth trains
# ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind", ["softmax", "reg2"])
def test_predict_concurrent_with_partial_fit(kind, dtype):
    p = _problem(kind, dtype, n=64, d=8)
    m = _warm(p, dtype, "momentum", batch_size=64)
    Xq = np.random.default_rng(7).standard_normal((300, 8)).astype(dtype)
    m.predict(Xq)
    errors, start = [], threading.Barrier(5)

    def predictor():
        try:
            start.wait()
            for _ in range(60):
                out = m.predict_proba(Xq) if m.is_classifier else m.predict(Xq)
                assert out.shape[0] == 300 and np.isfinite(out).all()
                if m.is_classifier:
                    np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-4)
                    assert np.isin(m.predict(Xq), m.classes_).all()
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def trainer():
        try:
            start.wait()
            for _ in range(60):
                m.partial_fit(p.X, p.y, batch_size=64, optimizer="momentum", lr=LR["momentum"])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=predictor) for _ in range(4)] + [threading.Thread(target=trainer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert m.n_epochs == 62 and np.isfinite(m.get_params_vector()).all()


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("optimizer", ["adamw", "rmsprop", "nesterov"])
def test_lane_with_dropout_and_the_newer_optimizers(spy, kernels, optimizer, dropout):
    """Dropout masks and the newer optimizers' state advance alike on both paths (the lane is taken)."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 6)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    a, b = (FastMLP([6, 16, 3], dropout=dropout, seed=1) for _ in range(2))
    with _Calls(spy) as calls:
        for _ in range(4):
            a.partial_fit(X, y, batch_size=40, optimizer=optimizer, lr=0.01)
            b.partial_fit(X.tolist(), y.tolist(), batch_size=40, optimizer=optimizer, lr=0.01)
    assert sum(r is not None for r in calls.results) == 3  # every call after the first
    np.testing.assert_array_equal(a.get_params_vector(), b.get_params_vector())


@pytest.mark.parametrize("kwargs", [dict(optimizer="rprop"), dict(clip_norm=1.0), dict(clip_value=0.5)])
def test_rprop_and_clipping_take_the_checked_path(spy, kernels, kwargs):
    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 6)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    a, b = (FastMLP([6, 16, 3], seed=1) for _ in range(2))
    with _Calls(spy) as calls:
        for _ in range(3):
            a.partial_fit(X, y, batch_size=40, lr=0.01, **kwargs)
            b.partial_fit(X.tolist(), y.tolist(), batch_size=40, lr=0.01, **kwargs)
    assert calls.not_taken
    np.testing.assert_array_equal(a.get_params_vector(), b.get_params_vector())
