"""What runs on the workers: one function per task, each a pure function of its arguments.

Every task here is deterministic given its inputs (no global random state, no dependence on which worker or
thread runs it, BLAS limited to the worker's threads), so a task that Dask recomputes after a worker died
returns the same bits, and the fixed-order sums built from these results do not depend on scheduling.

The block functions return one flat float64 vector each (counts, sums, parameter sums): adding two of them
is one vector addition, which is all the client's reduction tree does. Nothing here imports dask.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from dataclasses import dataclass

import numpy as np

from .. import _training
from .._netspec import NetSpec, Optimizer
from .._registry import LOSS_TABLE, OPTIMIZER_TABLE
from ..backend import get_backend
from ..validation import check_array

FULL_BATCH = _training.FULL_BATCH  # rows per workspace chunk of a full-batch loss and gradient
HOLDOUT_TAG = 0x5EED_0FF  # separates the hold-out draws from the shuffles in SeedSequence


@dataclass(frozen=True)
class Job:
    """The network and the target encoding, as the workers need them (small and picklable).

    ``spec``: (sizes, activations, params, loss) of a ``NetSpec``; ``dtype``: "float32"/"float64";
    ``classes``: the sorted labels the targets map to (None for regression and multilabel);
    ``class_weights``: one weight per class (None: all 1)."""

    spec: tuple
    dtype: str
    backend: str
    classes: np.ndarray | None = None
    class_weights: np.ndarray | None = None

    @property
    def netspec(self) -> NetSpec:
        return NetSpec(*self.spec)

    @property
    def loss(self) -> str:
        return self.spec[3]

    @property
    def d_out(self) -> int:
        return int(self.spec[0][-1])

    @property
    def n_params(self) -> int:
        return self.netspec.n_params

    def __dask_tokenize__(self):
        cls = None if self.classes is None else (self.classes.dtype.str, self.classes.tolist())
        cw = None if self.class_weights is None else self.class_weights.tolist()
        return ("fastmlp-job", self.spec, self.dtype, self.backend, cls, cw)


# ------------------------------------------------------------------------------------------------------
# Threads and workspaces
# ------------------------------------------------------------------------------------------------------

_local = threading.local()
_controller = None
_controller_lock = threading.Lock()


def _worker_threads() -> int | None:
    """The number of threads of the Dask worker running this task (None outside a worker)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    state = getattr(worker, "state", None)
    n = getattr(state, "nthreads", None) or getattr(worker, "nthreads", None)
    return int(n) if n else None


@contextlib.contextmanager
def blas_threads():
    """Limit BLAS to the worker's threads for the duration of one task (a worker with one thread per
    task slot must not have every task start a BLAS thread per core)."""
    global _controller
    n = _worker_threads()
    if n is None:
        yield
        return
    try:
        import threadpoolctl
    except ImportError:  # pragma: no cover - threadpoolctl comes with the dask extra
        yield
        return
    with _controller_lock:
        if _controller is None:
            _controller = threadpoolctl.ThreadpoolController()
        controller = _controller
    with controller.limit(limits=n, user_api="blas"):
        yield


def network(job: Job, max_batch: int):
    """This thread's workspace for ``job``: (Network, theta buffer, grad buffer). Built once per worker
    thread and reused by every later task (fresh memory costs page faults)."""
    cache = _local.__dict__.setdefault("nets", {})
    key = (job.spec, job.dtype, job.backend, int(max_batch))
    entry = cache.get(key)
    if entry is None:
        if len(cache) >= 8:
            cache.clear()
        spec = job.netspec
        theta = np.zeros(spec.n_params, dtype=job.dtype)
        grad = np.zeros(spec.n_params, dtype=job.dtype)
        entry = cache[key] = (
            get_backend(job.backend).Network(spec, theta, grad, int(max_batch)),
            theta,
            grad,
        )
    return entry


def local_copy(obj, key: str):
    """This thread's private copy of a model shipped to the worker (the model's workspaces are not shared
    between threads), cached under the model's graph key."""
    cache = _local.__dict__.setdefault("models", {})
    model = cache.get(key)
    if model is None:
        if len(cache) >= 4:
            cache.clear()
        model = cache[key] = copy.deepcopy(obj)
    return model


# ------------------------------------------------------------------------------------------------------
# Preparing blocks (run once per block when the data is persisted, every pass when it is streamed)
# ------------------------------------------------------------------------------------------------------


def _where(block_info, arg: int = 0) -> str:
    if not block_info or arg not in block_info:
        return "a block"
    info = block_info[arg]
    (r0, r1) = info["array-location"][0]
    return f"block {info['chunk-location'][0]} (rows {r0}-{r1 - 1})"


def prepare_x(X: np.ndarray, dtype: str, n_features: int, block_info=None) -> np.ndarray:
    """One row block of X as the kernels want it: C-contiguous, in the model's dtype, finite."""
    where = _where(block_info)
    if X.shape[0] == 0:
        return np.empty((0, n_features), dtype=dtype)
    try:
        return check_array(X, f"X: {where}", np.dtype(dtype).type, n_features=n_features)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{exc}") from None


def encode_y(y: np.ndarray, job: Job, block_info=None) -> np.ndarray:
    """One row block of the targets in the kernels' form: intp class indices (softmax), a (n, 1) 0/1
    float column (binary sigmoid), the (n, d) 0/1 matrix (multilabel) or the (n, d) float targets."""
    where = _where(block_info)
    y = np.asarray(y)
    loss = job.loss
    d_out = job.d_out
    dtype = np.dtype(job.dtype)
    if y.ndim == 2 and y.shape[1] == 1 and (LOSS_TABLE[loss].classifier and job.classes is not None):
        y = y[:, 0]
    if not LOSS_TABLE[loss].classifier or job.classes is None:  # regression or multilabel
        if y.dtype.kind not in "biuf":
            raise TypeError(f"y: {where} has non-numeric targets (dtype {y.dtype})")
        Y = np.ascontiguousarray(y.reshape(len(y), -1), dtype=dtype)
        if Y.shape[1] != d_out:
            raise ValueError(f"y: {where} has {Y.shape[1]} target columns, the model {d_out}")
        if not np.isfinite(Y).all():
            raise ValueError(f"y: {where} contains NaN or infinity")
        if job.classes is None and LOSS_TABLE[loss].classifier and not np.isin(Y, (0, 1)).all():
            raise ValueError(f"y: {where} has multilabel targets other than 0 and 1")
        if loss == "poisson" and (Y < 0).any():
            raise ValueError(f"y: {where} has negative Poisson targets")
        return Y
    if y.ndim != 1:
        raise ValueError(f"y: {where} has shape {y.shape}; expected one label per row")
    cls = job.classes
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"y: {where} contains NaN or infinity")
    try:
        idx = np.clip(np.searchsorted(cls, y), 0, len(cls) - 1)
    except TypeError:
        raise TypeError(
            f"y: {where} has labels of type {y.dtype} that do not match the classes {cls.tolist()[:10]}"
        ) from None
    bad = cls[idx] != y
    if bad.any():
        unseen = np.unique(y[bad])[:10].tolist()
        raise ValueError(f"y: {where} has labels {unseen} that are not among the classes {cls.tolist()[:10]}")
    if loss == "cross_entropy":
        return np.ascontiguousarray(idx, dtype=np.intp)
    return np.ascontiguousarray(idx.astype(dtype)[:, None])


def prepare_weights(
    sw: np.ndarray | None, y: np.ndarray, job: Job, scale: float, block_info=None
) -> np.ndarray:
    """Per-row weights of one block: ``sample_weight`` (if any) times the class weight of each row's label,
    times ``scale`` (scikit-learn's estimators normalise the weights to mean 1)."""
    where = _where(block_info, 1)
    n = len(y)
    w = np.ones(n, dtype=np.float64)
    if sw is not None:
        sw = np.asarray(sw, dtype=np.float64).reshape(-1)
        if sw.shape[0] != n:
            raise ValueError(f"sample_weight: {where} has {sw.shape[0]} rows, y {n}")
        if not np.isfinite(sw).all() or (sw < 0).any():
            raise ValueError(f"sample_weight: {where} has weights that are negative, NaN or infinite")
        w *= sw
    if job.class_weights is not None:
        labels = np.asarray(y).reshape(n, -1)[:, 0]
        idx = np.clip(np.searchsorted(job.classes, labels), 0, len(job.classes) - 1)
        w *= job.class_weights[idx]
    w *= scale
    return np.ascontiguousarray(w, dtype=job.dtype)


def holdout_mask(n: int, fraction: float, seed: int, block: int) -> np.ndarray:
    """The rows of block ``block`` held out for validation: drawn from SeedSequence([seed, tag, block]), so
    the split is the same on every run, whichever worker holds the block."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), HOLDOUT_TAG, int(block)]))
    return rng.random(n) < fraction


def _rows(X, Y, sw, holdout, block, keep_holdout):
    if holdout is None:
        return X, Y, sw
    fraction, seed = holdout
    mask = holdout_mask(X.shape[0], fraction, seed, block)
    if not keep_holdout:
        mask = ~mask
    idx = np.flatnonzero(mask)
    return (
        np.ascontiguousarray(X[idx]),
        np.ascontiguousarray(Y[idx]),
        None if sw is None else np.ascontiguousarray(sw[idx]),
    )


# ------------------------------------------------------------------------------------------------------
# Full-batch loss and gradient (L-BFGS)
# ------------------------------------------------------------------------------------------------------


def loss_grad(theta: np.ndarray, X: np.ndarray, Y: np.ndarray, sw: np.ndarray | None, job: Job) -> np.ndarray:
    """[Σ_i w_i L_i, n, ∂(Σ_i w_i L_i)/∂θ] over one block (float64, length 2 + n_params), computed by the
    kernels in the model's dtype from the weights ``theta``; no L2 term (the client adds it once)."""
    out = np.zeros(2 + theta.shape[0], dtype=np.float64)
    n = X.shape[0]
    if n == 0:
        return out
    with blas_threads():
        net, th, grad = network(job, min(n, FULL_BATCH))
        np.copyto(th, theta)
        mean = net.loss_and_grad(X, Y, sw, 0.0)
        out[0] = mean * n
        out[1] = n
        np.multiply(grad, float(n), out=out[2:], dtype=np.float64, casting="unsafe")
    return out


def sum_in_order(*parts: np.ndarray) -> np.ndarray:
    """parts[0] + parts[1] + ... in exactly this order, in float64 (the nodes of the reduction tree)."""
    total = np.array(parts[0], dtype=np.float64, copy=True)
    for p in parts[1:]:
        total += p
    return total


# ------------------------------------------------------------------------------------------------------
# Local SGD: E epochs of the compiled epoch loop on one block
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    """The settings of one local-SGD round (everything but the weights and the optimizer state)."""

    index: int
    seed: int
    epochs: int
    batch_size: int
    kind: str
    lr: float
    l2: float
    l2_per_batch: bool
    shuffle: bool
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    holdout: tuple | None = None  # (fraction, seed): rows held out of training for validation


def state_sizes(kind: str, n_params: int) -> tuple[int, int]:
    """Lengths of an optimizer's two state vectors (0 where it has none)."""
    n_state = OPTIMIZER_TABLE[kind].n_state
    return (n_params if n_state >= 1 else 0), (n_params if n_state >= 2 else 0)


def local_epochs(
    theta: np.ndarray,
    state: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    sw: np.ndarray | None,
    job: Job,
    rnd: Round,
    block: int,
) -> np.ndarray:
    """Run ``rnd.epochs`` epochs of minibatch steps over one block from the weights ``theta`` and the
    optimizer state ``state`` (state1, state2, t: the client's averages). Returns, in float64,
    [n, n·loss, n·θ, n·state1, n·state2, n·t]: row-weighted, ready to be summed and divided by Σn.

    The epochs shuffle with ``SeedSequence([seed, round, block])``: the same rows in the same order
    whichever worker runs the block, and on a recomputation."""
    P = theta.shape[0]
    s1, s2 = state_sizes(rnd.kind, P)
    X, Y, sw = _rows(X, Y, sw, rnd.holdout, block, keep_holdout=False)
    n = X.shape[0]
    out = np.zeros(2 + P + s1 + s2 + 1, dtype=np.float64)
    if n == 0:
        return out
    bs = min(rnd.batch_size, n)
    with blas_threads():
        net, th, _ = network(job, bs)
        np.copyto(th, theta)
        opt = Optimizer(
            rnd.kind,
            P,
            job.dtype,
            lr=rnd.lr,
            l2=rnd.l2,
            momentum=rnd.momentum,
            beta1=rnd.beta1,
            beta2=rnd.beta2,
            eps=rnd.eps,
        )
        if s1:
            opt.state1[...] = state[:P]
        if s2:
            opt.state2[...] = state[P : 2 * P]
        opt.t = int(state[-1]) if state.shape[0] else 0
        rng = np.random.default_rng(np.random.SeedSequence([int(rnd.seed), int(rnd.index), int(block)]))
        order = np.arange(n, dtype=np.intp)
        loss = 0.0
        for _ in range(rnd.epochs):
            if rnd.shuffle:
                rng.shuffle(order)
            loss = _training._epoch(net, X, Y, sw, order, bs, opt, rnd.l2, rnd.l2_per_batch)
        out[0] = n
        out[1] = loss * n
        out[2 : 2 + P] = th
        if s1:
            out[2 + P : 2 + P + s1] = opt.state1
        if s2:
            out[2 + P + s1 : 2 + P + s1 + s2] = opt.state2
        out[-1] = opt.t
        out[2:] *= n
    return out


# ------------------------------------------------------------------------------------------------------
# Validation metrics (sums, so that blocks add up)
# ------------------------------------------------------------------------------------------------------


def metric_size(job: Job) -> int:
    """Length of ``metrics``' vector: [n, Σw, Σw·L, Σw·correct] or, for regression,
    [n, Σw, Σw·L, Σw·y (d), Σw·y² (d), Σw·(y − ŷ)² (d)]."""
    if LOSS_TABLE[job.loss].classifier:
        return 4
    return 3 + 3 * job.d_out


def metrics(
    theta: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    sw: np.ndarray | None,
    job: Job,
    holdout: tuple | None = None,
    block: int = 0,
) -> np.ndarray:
    """The validation sums of one block at the weights ``theta`` (see ``metric_size``); with ``holdout``
    only the block's held-out rows count."""
    X, Y, sw = _rows(X, Y, sw, holdout, block, keep_holdout=True)
    out = np.zeros(metric_size(job), dtype=np.float64)
    n = X.shape[0]
    if n == 0:
        return out
    w = np.ones(n) if sw is None else sw.astype(np.float64)
    with blas_threads():
        net, th, _ = network(job, min(n, FULL_BATCH))
        np.copyto(th, theta)
        mean_loss = net.loss(X, Y, sw)
        P = np.empty((n, job.d_out), dtype=job.dtype)
        net.forward(X, P)
    out[0] = n
    out[1] = w.sum()
    out[2] = mean_loss * n
    if job.loss == "cross_entropy":
        out[3] = w[P.argmax(axis=1) == Y].sum()
    elif LOSS_TABLE[job.loss].classifier:
        out[3] = w[((P >= 0.5) == (Y >= 0.5)).all(axis=1)].sum()
    else:
        d = job.d_out
        Yf = Y.astype(np.float64)
        out[3 : 3 + d] = w @ Yf
        out[3 + d : 3 + 2 * d] = w @ (Yf * Yf)
        out[3 + 2 * d :] = w @ ((Yf - P) ** 2)
    return out


def score_from_metrics(vec: np.ndarray, job: Job) -> tuple[float, float]:
    """(validation loss Σw·L/Σw, validation score: accuracy, or R² averaged over outputs)."""
    wsum = vec[1]
    loss = vec[2] / wsum
    if LOSS_TABLE[job.loss].classifier:
        return float(loss), float(vec[3] / wsum)
    d = job.d_out
    sy, sy2, ss_res = vec[3 : 3 + d], vec[3 + d : 3 + 2 * d], vec[3 + 2 * d :]
    ss_tot = sy2 - sy * sy / wsum
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(
            ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), np.where(ss_res == 0, 1.0, 0.0)
        )
    return float(loss), float(np.mean(r2))


# ------------------------------------------------------------------------------------------------------
# Inference
# ------------------------------------------------------------------------------------------------------


def infer(X: np.ndarray, model, key: str, what: str, layer: int = -1) -> np.ndarray:
    """``model.predict`` / ``predict_proba`` / ``transform`` of one row block, on this thread's copy of
    the model, with BLAS limited to the worker's threads."""
    m = local_copy(model, key)
    with blas_threads():
        if what == "transform":
            return m.transform(X, layer=layer)
        return getattr(m, what)(X)
