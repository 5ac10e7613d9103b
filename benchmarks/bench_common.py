"""Workloads and columns of the fastmlp benchmark suite (issue 3), shared by the pytest-benchmark tests,
``report.py`` and ``memory_probe.py``.

Every ``make_*`` factory does its setup (data, model, workspaces, one untimed warm-up call) and returns a
zero-argument callable that performs exactly one timed unit of work. Factories for PyTorch and
scikit-learn raise ``Unavailable`` when the library is not installed; the tests turn that into a skip.

All data is float32 and synthetic (standard-normal rows, uniform labels); timings do not depend on the
values as long as no denormals appear.
"""
from __future__ import annotations

import functools
import os
import warnings

import numpy as np

# The installed package is benchmarked (``pip install .``, or ``pip install -e .`` for this checkout);
# conftest.py stops the run with one line when its compiled kernels cannot be imported.
from fastmlp import FastMLP
from fastmlp._netspec import Optimizer

try:
    from fastmlp import _kernels
except ImportError as exc:  # not built
    _kernels = None
    _KERNELS_ERROR = str(exc)
else:
    _KERNELS_ERROR = None


def kernels_problem():
    """None when fastmlp's compiled kernels import, else one line saying why not and what to do."""
    if _kernels is not None:
        return None
    import fastmlp
    return (f"fastmlp's compiled kernels (fastmlp._kernels) cannot be imported from "
            f"{os.path.dirname(fastmlp.__file__)}: {_KERNELS_ERROR}. Install the package from the "
            "repository root with `pip install .` (or `pip install -e .`), then run "
            "`pytest benchmarks/ --benchmark-only` again; the benchmarks time the installed, compiled "
            "fastmlp.")

DTYPE = np.float32
LR = 0.01
SEED = 0


class Unavailable(Exception):
    """The column cannot run here (library not installed, extension not built)."""


# ------------------------------------------------------------------------------------------------------
# Workloads and cases
# ------------------------------------------------------------------------------------------------------

WORKLOADS = {
    # name: (layer sizes, hidden activation, output)  -- output "softmax" = softmax + cross-entropy,
    # "identity" = linear output + squared error.
    "W1": ((784, 256, 128, 10), "relu", "softmax"),
    "W2": ((1024, 2048, 2048, 10), "relu", "softmax"),
    "W3": ((4, 5, 3), "sigmoid", "softmax"),
    "W4": ((13, 64, 64, 1), "tanh", "identity"),
}

# Columns, in the order they run for each (case, threads): fastmlp and its floor back to back so that
# their ratio is taken from measurements close in time.
COLUMNS = ("fastmlp", "floor", "numpy", "torch", "sklearn")
THREADS = (1, 2)

TRAIN_CASES = [("W1", 128), ("W1", 512), ("W2", 256), ("W3", 32), ("W4", 64)]   # (workload, batch)
INFER_CASES = [("W1", 4096), ("W2", 4096), ("W4", 4096)]                        # (workload, rows)
EPOCH_CASES = [("W1", 60000, 128), ("W3", 4000, 1)]                             # (workload, rows, batch)
LATENCY_CASES = [("W1", 1)]                                                     # (workload, rows)
# The public calls of issue 12, timed exactly as a user makes them: (workload, call, rows). partial_fit
# is one SGD step on all rows (batch_size=len(X), lr=0.01); predict/predict_proba return labels/probabilities.
API_CASES = [("W3", "partial_fit", 1), ("W3", "predict_proba", 4096), ("W4", "partial_fit", 64),
             ("W4", "predict", 4096), ("W1", "partial_fit", 128), ("W1", "predict_proba", 4096)]


def classifier(wl):
    return WORKLOADS[wl][2] == "softmax"


# ------------------------------------------------------------------------------------------------------
# Data (cached: the W1 epoch set is 188 MB)
# ------------------------------------------------------------------------------------------------------

def make_X(n, d, seed=1):
    """n×d float32 standard-normal rows, generated in float32 (no float64 temporary)."""
    rng = np.random.default_rng(seed)
    X = np.empty((n, d), dtype=DTYPE)
    step = max(1, (1 << 22) // max(d, 1))
    for s in range(0, n, step):
        X[s:s + step] = rng.standard_normal((min(step, n - s), d), dtype=DTYPE)
    return X


@functools.cache
def data(wl, n, seed=1):
    """(X, y) for workload ``wl`` with n rows: y are intp labels (classifiers) or float32 (n, d_out)."""
    sizes = WORKLOADS[wl][0]
    X = make_X(n, sizes[0], seed)
    rng = np.random.default_rng(seed + 1000)
    if classifier(wl):
        y = rng.integers(0, sizes[-1], n).astype(np.intp)
        k = min(n, sizes[-1])
        y[:k] = np.arange(k)  # every class present (scikit-learn infers classes from y)
    else:
        y = rng.standard_normal((n, sizes[-1]), dtype=DTYPE)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def _y_for_sklearn(wl, y):
    return y if classifier(wl) else y[:, 0] if y.shape[1] == 1 else y


# ------------------------------------------------------------------------------------------------------
# fastmlp columns
# ------------------------------------------------------------------------------------------------------

def _need_kernels():
    if _kernels is None:
        raise Unavailable(f"fastmlp._kernels is not built ({_KERNELS_ERROR}); "
                          "run `python setup.py build_ext --inplace`")


def _backend_name(column):
    return {"fastmlp": "cython", "numpy": "numpy"}[column]


def fastmlp_model(wl, backend="cython", fitted=False):
    sizes, act, out = WORKLOADS[wl]
    if backend == "cython":
        _need_kernels()
    m = FastMLP(list(sizes), activation=act, output=out, dtype=DTYPE, seed=SEED, backend=backend)
    if fitted:  # classes_ set, so predict decodes labels as a user's model does
        X, y = data(wl, 256, seed=7)
        m.fit(X, y, epochs=1, batch_size=32, lr=LR, verbose=False)
    return m


def make_fastmlp_step(wl, batch, backend="cython"):
    """One Network.train_step (forward, loss, backward, fused SGD update) on a fixed minibatch."""
    m = fastmlp_model(wl, backend)
    net = m._backend.Network(m.spec, m._theta, m._grad, batch)
    opt = Optimizer("sgd", m.spec.n_params, DTYPE, lr=LR)
    X, y = data(wl, batch)

    def step():
        net.train_step(X, y, None, opt)
    step()
    return step


def make_fastmlp_predict(wl, rows, backend="cython"):
    """FastMLP.predict on ``rows`` rows: input validation, forward, decoding (labels / 1-D output)."""
    m = fastmlp_model(wl, backend, fitted=True)
    X, _ = data(wl, rows, seed=3)

    def predict():
        m.predict(X)
    predict()
    return predict


def make_fastmlp_epoch(wl, rows, batch, backend="cython"):
    """FastMLP.fit(epochs=1): validation, label encoding, shuffling and one epoch of minibatch SGD."""
    m = fastmlp_model(wl, backend)
    X, y = data(wl, rows)
    m.fit(X[:batch * 4], y[:batch * 4], epochs=1, batch_size=batch, lr=LR, verbose=False)  # warm-up

    def epoch():
        m.fit(X, y, epochs=1, batch_size=batch, lr=LR, optimizer="sgd", verbose=False)
    return epoch


def make_fastmlp_api(wl, call, rows, backend="cython"):
    """The public call itself on a fitted model: ``partial_fit(X, y, batch_size=len(X), lr, "sgd")``,
    ``predict_proba(X)`` or ``predict(X)`` (one untimed warm-up call first, as a user's second call)."""
    m = fastmlp_model(wl, backend, fitted=True)
    X, y = data(wl, rows, seed=3)
    if not classifier(wl):
        y = y[:, 0] if y.shape[1] == 1 else y
    if call == "partial_fit":
        def fn():
            m.partial_fit(X, y, batch_size=rows, lr=LR, optimizer="sgd")
    else:
        fn = functools.partial(getattr(m, call), X)
    fn()
    return fn


# ------------------------------------------------------------------------------------------------------
# The GEMM floor: only the matrix products one step needs, on preallocated buffers
# ------------------------------------------------------------------------------------------------------

class GemmFloor:
    """The products of one training step (or one forward pass) of a dense net, through
    ``fastmlp._kernels.gemm`` (the same BLAS, and the same small-product/gemv dispatch, as the kernels):

    forward  A(l) = A(l-1) · W(l)          for every layer
    backward D(l) = D(l+1) · W(l+1)ᵀ       for layers 2..L (δ of the first layer is never needed)
    gradient G(l) = A(l-1)ᵀ · D(l)          for every layer
    """

    def __init__(self, sizes, batch, train=True, seed=5):
        _need_kernels()
        rng = np.random.default_rng(seed)
        L = len(sizes) - 1
        self.W = [make_X(sizes[l], sizes[l + 1], seed + l) * np.float32(np.sqrt(2.0 / sizes[l]))
                  for l in range(L)]
        self.A = [make_X(batch, sizes[0], seed)] + [np.empty((batch, s), DTYPE) for s in sizes[1:]]
        self.D = [None] + [rng.standard_normal((batch, s), dtype=DTYPE) for s in sizes[1:]]
        self.G = [np.empty_like(W) for W in self.W]
        calls = [(self.A[l], self.W[l], self.A[l + 1], False, False) for l in range(L)]
        if train:
            calls += [(self.D[l + 1], self.W[l], self.D[l], False, True) for l in range(L - 1, 0, -1)]
            calls += [(self.A[l], self.D[l + 1], self.G[l], True, False) for l in range(L)]
        self.calls = calls
        self.gemm = _kernels.gemm

    def __call__(self):
        gemm = self.gemm
        for A, B, C, ta, tb in self.calls:
            gemm(A, B, C, 1.0, 0.0, ta, tb)


def make_floor_step(wl, batch):
    f = GemmFloor(WORKLOADS[wl][0], batch, train=True)
    f()
    return f


def make_floor_forward(wl, rows):
    f = GemmFloor(WORKLOADS[wl][0], rows, train=False)
    f()
    return f


def make_floor_epoch(wl, rows, batch):
    """The floor of every step of an epoch: rows // batch full steps and one for the remainder."""
    full = GemmFloor(WORKLOADS[wl][0], batch, train=True)
    nfull, rest = divmod(rows, batch)
    tail = GemmFloor(WORKLOADS[wl][0], rest, train=True) if rest else None

    def epoch():
        for _ in range(nfull):
            full()
        if tail is not None:
            tail()
    full()
    return epoch


class MatmulFloor:
    """Issue 12's floor of a public call: the same products as ``GemmFloor``, as ``np.matmul`` into
    preallocated outputs (what a user's own NumPy code could at best do)."""

    def __init__(self, sizes, rows, train=True, seed=5):
        g = GemmFloor(sizes, rows, train, seed)
        self.calls = [(A.T if ta else A, B.T if tb else B, C) for A, B, C, ta, tb in g.calls]

    def __call__(self):
        mm = np.matmul
        for A, B, C in self.calls:
            mm(A, B, out=C)


def make_floor_api(wl, call, rows):
    f = MatmulFloor(WORKLOADS[wl][0], rows, train=call == "partial_fit")
    f()
    return f


def make_gemm_call_overhead():
    """One ``_kernels.gemm`` call on 1×1 operands: the per-call Python cost inside every floor figure."""
    _need_kernels()
    a = np.ones((1, 1), DTYPE)
    c = np.empty((1, 1), DTYPE)
    gemm = _kernels.gemm

    def call():
        gemm(a, a, c, 1.0, 0.0, False, False)
    call()
    return call


# ------------------------------------------------------------------------------------------------------
# PyTorch
# ------------------------------------------------------------------------------------------------------

def _torch(threads):
    try:
        import torch
    except ImportError as exc:
        raise Unavailable(f"PyTorch is not installed ({exc})") from None
    torch.set_num_threads(threads)
    return torch


def torch_model(torch, wl):
    sizes, act, out = WORKLOADS[wl]
    nn = torch.nn
    acts = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
    layers = []
    for l in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[l], sizes[l + 1]))
        if l < len(sizes) - 2:
            layers.append(acts[act]())
    torch.manual_seed(SEED)
    model = nn.Sequential(*layers)
    loss_fn = nn.CrossEntropyLoss() if out == "softmax" else nn.MSELoss()
    return model, loss_fn


def _torch_targets(torch, wl, y):
    return torch.from_numpy(np.array(y, dtype=np.int64)) if classifier(wl) else torch.from_numpy(np.array(y))


def make_torch_step(wl, batch, threads):
    torch = _torch(threads)
    model, loss_fn = torch_model(torch, wl)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    X, y = data(wl, batch)
    Xt, yt = torch.from_numpy(np.array(X)), _torch_targets(torch, wl, y)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(Xt), yt)
        loss.backward()
        opt.step()
    step()
    return step


def make_torch_predict(wl, rows, threads):
    """Serving a NumPy request: from_numpy, forward under inference_mode, labels (argmax) back to NumPy."""
    torch = _torch(threads)
    model, _ = torch_model(torch, wl)
    model.eval()
    X, _ = data(wl, rows, seed=3)
    X = np.array(X)
    is_clf = classifier(wl)

    def predict():
        with torch.inference_mode():
            out = model(torch.from_numpy(X))
            return (out.argmax(1) if is_clf else out[:, 0]).numpy()
    predict()
    return predict


def make_torch_api(wl, call, rows, threads):
    """The same call in idiomatic PyTorch from NumPy arrays: an SGD step (from_numpy, zero_grad,
    forward, loss, backward, step), or softmax probabilities / outputs back to NumPy."""
    torch = _torch(threads)
    model, loss_fn = torch_model(torch, wl)
    X, y = data(wl, rows, seed=3)
    X = np.array(X)
    if call == "partial_fit":
        opt = torch.optim.SGD(model.parameters(), lr=LR)
        yt = _torch_targets(torch, wl, y)

        def fn():
            opt.zero_grad()
            loss = loss_fn(model(torch.from_numpy(X)), yt)
            loss.backward()
            opt.step()
    else:
        model.eval()
        proba = call == "predict_proba"

        def fn():
            with torch.inference_mode():
                out = model(torch.from_numpy(X))
                return (torch.softmax(out, 1) if proba else out[:, 0]).numpy()
    fn()
    return fn


def make_torch_epoch(wl, rows, batch, threads):
    """An idiomatic loop: index shuffling with randperm (no DataLoader), nn.Sequential, optim.SGD."""
    torch = _torch(threads)
    model, loss_fn = torch_model(torch, wl)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    X, y = data(wl, rows)
    Xt, yt = torch.from_numpy(np.array(X)), _torch_targets(torch, wl, y)
    n = Xt.shape[0]

    def epoch():
        perm = torch.randperm(n)
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            xb, yb = Xt[idx], yt[idx]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
    return epoch


# ------------------------------------------------------------------------------------------------------
# scikit-learn (plain SGD: momentum 0, alpha 0, constant learning rate, float32 kept)
# ------------------------------------------------------------------------------------------------------

def _sklearn():
    try:
        import sklearn  # noqa: F401
        from sklearn.neural_network import MLPClassifier, MLPRegressor
    except ImportError as exc:
        raise Unavailable(f"scikit-learn is not installed ({exc})") from None
    return MLPClassifier, MLPRegressor


def sklearn_model(wl, batch):
    MLPClassifier, MLPRegressor = _sklearn()
    sizes, act, out = WORKLOADS[wl]
    cls = MLPClassifier if out == "softmax" else MLPRegressor
    model = cls(hidden_layer_sizes=tuple(sizes[1:-1]), activation={"sigmoid": "logistic"}.get(act, act),
                solver="sgd", batch_size=batch, learning_rate="constant", learning_rate_init=LR,
                momentum=0.0, nesterovs_momentum=False, alpha=0.0, max_iter=1, shuffle=True,
                random_state=SEED)
    # Initialise (coefs_, classes_) on a few rows so the timed calls are pure training or inference.
    X, y = data(wl, 64, seed=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if out == "softmax":
            model.partial_fit(X, y, classes=np.arange(sizes[-1]))
        else:
            model.partial_fit(X, _y_for_sklearn(wl, y))
    return model


def make_sklearn_step(wl, batch):
    """MLP*.partial_fit on one minibatch of exactly batch_size rows: one SGD step (with its validation)."""
    model = sklearn_model(wl, batch)
    X, y = data(wl, batch)
    y = _y_for_sklearn(wl, y)

    def step():
        model.partial_fit(X, y)
    step()
    return step


def make_sklearn_predict(wl, rows):
    model = sklearn_model(wl, 32)
    X, _ = data(wl, rows, seed=3)

    def predict():
        model.predict(X)
    predict()
    return predict


def make_sklearn_api(wl, call, rows):
    """MLPClassifier/MLPRegressor: partial_fit on all rows (one SGD step), predict_proba, predict."""
    model = sklearn_model(wl, rows)
    X, y = data(wl, rows, seed=3)
    y = _y_for_sklearn(wl, y)
    fn = functools.partial(model.partial_fit, X, y) if call == "partial_fit" else \
        functools.partial(getattr(model, call), X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn()
    return fn


def make_sklearn_epoch(wl, rows, batch):
    """MLP*.partial_fit over the whole set: one shuffled epoch of minibatch SGD (= fit with max_iter=1)."""
    model = sklearn_model(wl, batch)
    X, y = data(wl, rows)
    y = _y_for_sklearn(wl, y)

    def epoch():
        model.partial_fit(X, y)
    return epoch


# ------------------------------------------------------------------------------------------------------
# Paired measurement (same thread pool only)
# ------------------------------------------------------------------------------------------------------

def paired(fa, fb, budget=2.0, block=0.02, min_blocks=6, gap=0.0):
    """Time fa and fb in alternating blocks (about ``block`` seconds each, at least one call; which of
    the two goes first alternates) for about ``budget`` seconds; both see the same machine load, so their
    ratio is steadier than a ratio of two benchmarks taken a minute apart. ``gap``: seconds of sleep
    before every block, for callables on different thread pools (numpy's or scipy's OpenBLAS, torch's
    OpenMP): on a 2-core machine a pool keeps spinning ~0.1 s after its last call, and back-to-back
    blocks would measure that contention. Returns medians (s), their ratio a/b and the quartiles of the
    per-block ratios."""
    from time import perf_counter, sleep
    fa()  # warm-up
    fb()
    ts, t_end = [], perf_counter() + 0.2
    while len(ts) < 3 or (len(ts) < 50 and perf_counter() < t_end):  # the time of one call of fa
        t = perf_counter()
        fa()
        ts.append(perf_counter() - t)
    one = max(float(np.median(ts)), 1e-7)
    reps = max(1, int(block / one))
    nblocks = max(min_blocks, int(budget / (2 * reps * one)))
    ta, tb, ratios = [], [], []
    for i in range(nblocks):
        block_t = {}
        for name, f in (("a", fa), ("b", fb)) if i % 2 == 0 else (("b", fb), ("a", fa)):
            if gap:
                sleep(gap)
            ts = []
            for _ in range(reps):
                t = perf_counter()
                f()
                ts.append(perf_counter() - t)
            block_t[name] = ts
        ta += block_t["a"]
        tb += block_t["b"]
        ratios.append(float(np.median(block_t["a"]) / np.median(block_t["b"])))
    ma, mb = float(np.median(ta)), float(np.median(tb))
    q25, q75 = np.percentile(ratios, [25, 75])
    return {"a_median": ma, "b_median": mb, "ratio": ma / mb, "block_ratio_q25": float(q25),
            "block_ratio_q75": float(q75), "blocks": nblocks, "reps": reps}


# ------------------------------------------------------------------------------------------------------
# Dispatch
# ------------------------------------------------------------------------------------------------------

def make(kind, column, case, threads):
    """The timed callable for (kind, column, case); ``threads`` only matters to torch (BLAS threads are
    set by the caller with threadpoolctl)."""
    if kind == "train":
        wl, batch = case
        if column in ("fastmlp", "numpy"):
            return make_fastmlp_step(wl, batch, _backend_name(column))
        if column == "floor":
            return make_floor_step(wl, batch)
        if column == "torch":
            return make_torch_step(wl, batch, threads)
        return make_sklearn_step(wl, batch)
    if kind in ("infer", "latency"):
        wl, rows = case
        if column in ("fastmlp", "numpy"):
            return make_fastmlp_predict(wl, rows, _backend_name(column))
        if column == "floor":
            return make_floor_forward(wl, rows)
        if column == "torch":
            return make_torch_predict(wl, rows, threads)
        return make_sklearn_predict(wl, rows)
    if kind == "api":
        wl, call, rows = case
        if column in ("fastmlp", "numpy"):
            return make_fastmlp_api(wl, call, rows, _backend_name(column))
        if column == "floor":
            return make_floor_api(wl, call, rows)
        if column == "torch":
            return make_torch_api(wl, call, rows, threads)
        return make_sklearn_api(wl, call, rows)
    if kind == "epoch":
        wl, rows, batch = case
        if column in ("fastmlp", "numpy"):
            return make_fastmlp_epoch(wl, rows, batch, _backend_name(column))
        if column == "floor":
            return make_floor_epoch(wl, rows, batch)
        if column == "torch":
            return make_torch_epoch(wl, rows, batch, threads)
        return make_sklearn_epoch(wl, rows, batch)
    raise ValueError(kind)


def case_label(kind, case):
    if kind == "train":
        return f"{case[0]} train step b{case[1]}"
    if kind == "infer":
        return f"{case[0]} inference {case[1]} rows"
    if kind == "latency":
        return f"{case[0]} predict 1 row"
    if kind == "api":
        return f"{case[0]} {case[1]} {case[2]} row{'s' if case[2] > 1 else ''}"
    wl, rows, batch = case
    return f"{wl} epoch {rows}x{WORKLOADS[wl][0][0]} b{batch}"


def case_id(kind, case):
    return "-".join([kind] + [str(c) for c in case])


def blas_info():
    """What BLAS runs (threadpoolctl), and whether OPENBLAS_* variables are set."""
    try:
        from threadpoolctl import threadpool_info
        info = [{k: d.get(k) for k in ("internal_api", "prefix", "version", "architecture", "num_threads")}
                for d in threadpool_info()]
    except ImportError:
        info = []
    env = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS") or k in ("OMP_NUM_THREADS",)}
    return {"libraries": info, "env": env}
