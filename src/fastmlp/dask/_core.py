"""The client side: clusters, data in place, the reduction tree, distributed L-BFGS and local SGD, and
inference by ``map_blocks``.

Only small things cross the network from the client: the weights (once per evaluation, as one graph key
that the workers pass among themselves), the per-round settings, and back the summed vectors. The data
stays where its graph puts it: persisted on the workers when it fits their memory, else recomputed from
its source graph on every pass. Nothing is ever ``scatter``-ed, so a lost worker's blocks are recomputed
from the graph and a training run survives it.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from distributed import Client, LocalCluster, get_client

from .. import _training
from ..validation import ParameterError, check_dtype
from . import _blocks
from ._blocks import Job, Round

CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler given by address before giving up
SPLIT_EVERY = 4  # fan-in of the reduction tree
PERSIST_FRACTION = 0.5  # persist the prepared data when it takes at most this share of cluster memory


# ------------------------------------------------------------------------------------------------------
# Clusters
# ------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def cluster_client(
    client: Client | str | None = None, n_workers: int | None = None, timeout: float | None = None
) -> Iterator[Client]:
    """Yield a ``distributed.Client``: ``client`` itself, a new client connected to the scheduler at the
    address ``client`` (closed afterwards), the current default client, or — when there is none — an
    in-process ``LocalCluster`` of ``n_workers`` processes (default: one per core) with one thread each,
    started here and shut down on exit."""
    if isinstance(client, Client):
        yield client
        return
    if isinstance(client, str):
        c = connect(client, timeout)
        try:
            yield c
        finally:
            c.close()
        return
    if client is not None:
        raise ParameterError(
            f"client: expected a distributed.Client, a scheduler address or None, got {client!r}"
        )
    if n_workers is None:
        try:
            yield get_client()
            return
        except ValueError:  # no client in this process
            pass
    with (
        LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def connect(address: str, timeout: float | None = None) -> Client:
    """A client of the scheduler at ``address``; ``ConnectionError`` naming the address when none answers
    within ``timeout`` seconds (default ``CONNECT_TIMEOUT``; never a hang)."""
    if timeout is None:
        timeout = CONNECT_TIMEOUT
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(
            f"scheduler: no Dask scheduler answered at {address!r} within {timeout:g} s "
            f"({type(exc).__name__}: {exc}); start one with `dask scheduler` or check "
            "the address"
        ) from None


def cluster_memory(client: Client) -> float:
    """Total memory the workers may use (bytes); a worker without a limit counts its machine's memory."""
    info = client.scheduler_info(n_workers=-1)
    total = 0.0
    for w in info.get("workers", {}).values():
        limit = w.get("memory_limit") or 0
        if not limit:
            try:
                import psutil

                limit = psutil.virtual_memory().total
            except ImportError:  # pragma: no cover - psutil comes with distributed
                limit = 0
        total += float(limit)
    return total


# ------------------------------------------------------------------------------------------------------
# Data in place
# ------------------------------------------------------------------------------------------------------


def is_dask_collection(x) -> bool:
    return dask.is_dask_collection(x)


def as_dask_array(x, name: str, need_lengths: bool = True) -> tuple[da.Array, list | None]:
    """A dask array for ``x`` (dask array, dask DataFrame/Series, or an in-memory array, which is
    wrapped), plus the column names of a DataFrame (else None)."""
    names = None
    if isinstance(x, da.Array):
        arr = x
    elif is_dask_collection(x) and hasattr(x, "to_dask_array"):
        if getattr(x, "ndim", 1) == 2:  # a DataFrame (a Series is 1-D)
            names = [str(c) for c in x.columns]
            bad = [str(c) for c, t in x.dtypes.items() if getattr(t, "kind", "O") not in "biuf"]
            if bad:
                raise TypeError(f"{name}: columns {bad[:5]} are not numeric")
        arr = x.to_dask_array(lengths=True) if need_lengths else x.to_dask_array()
    elif is_dask_collection(x):
        raise TypeError(f"{name}: expected a dask array or a dask DataFrame, got {type(x).__name__}")
    else:
        a = np.asarray(x)
        arr = da.from_array(a, chunks=(max(1, min(len(a), 100_000)),) + a.shape[1:]) if a.ndim else None
        if arr is None:
            raise ValueError(f"{name}: expected an array, got a scalar")
    if need_lengths and any(math.isnan(c) for c in arr.chunks[0]):
        raise ValueError(
            f"{name}: the row chunk sizes are unknown (NaN), e.g. after boolean indexing or "
            f"from a DataFrame; call {name}.compute_chunk_sizes() (or "
            "to_dask_array(lengths=True)) first"
        )
    return arr, names


@dataclass
class Data:
    """Prepared training (or validation) data: X, the encoded targets Y and the row weights sw (or None) as
    dask arrays with the same row blocks, plus their delayed blocks for building task graphs."""

    X: da.Array
    Y: da.Array
    sw: da.Array | None
    n_rows: int
    persisted: bool
    blocks: list

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)


def check_xy(
    X: da.Array, y: da.Array, sample_weight: da.Array | None, n_features: int | None = None, what: str = "X"
) -> None:
    """Shapes and row chunks of X, y (and sample_weight) agree; errors name what differs."""
    if X.ndim != 2:
        raise ValueError(f"{what}: expected a 2-D array (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{what}: empty input, shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{what}: expected {n_features} features (columns), got {X.shape[1]}")
    if y.ndim not in (1, 2):
        raise ValueError(f"y: expected a 1-D or 2-D array, got shape {y.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y: has {y.shape[0]} rows but {what} has {X.shape[0]}")
    if y.chunks[0] != X.chunks[0]:
        raise ValueError(
            f"y: its row chunks {_short(y.chunks[0])} differ from {what}'s {_short(X.chunks[0])}; "
            f"rechunk one to the other (y.rechunk({{0: {what}.chunks[0]}}))"
        )
    if sample_weight is not None:
        if sample_weight.shape != (X.shape[0],):
            raise ValueError(f"sample_weight: expected shape ({X.shape[0]},), got {sample_weight.shape}")
        if sample_weight.chunks[0] != X.chunks[0]:
            raise ValueError(
                f"sample_weight: its row chunks {_short(sample_weight.chunks[0])} differ from "
                f"{what}'s {_short(X.chunks[0])}"
            )


def _short(chunks: tuple) -> str:
    return (
        str(chunks) if len(chunks) <= 6 else f"({', '.join(map(str, chunks[:5]))}, ... {len(chunks)} blocks)"
    )


def prepare(
    client: Client,
    X: da.Array,
    y: da.Array,
    sample_weight: da.Array | None,
    job: Job,
    weight_scale: float = 1.0,
    persist: bool | str = "auto",
    what: str = "X",
) -> Data:
    """The training data as the kernels want it, computed on the workers: X in one column block and the
    model's dtype (checked finite), y encoded, the row weights. Persisted when it fits (``persist="auto"``:
    at most half the cluster's memory) — block i on worker ⌊i·W/B⌋ of the W workers, so that every worker
    holds (and computes on) an equal share — else left as a graph that every pass recomputes block by
    block."""
    d = int(job.spec[0][0])
    nbytes = X.shape[0] * (d * np.dtype(job.dtype).itemsize + 16)
    if persist == "auto":
        persist = nbytes <= PERSIST_FRACTION * cluster_memory(client)
    placement = contextlib.nullcontext()
    if persist:
        workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
        n_blocks = len(X.chunks[0])

        def where(key):
            if isinstance(key, tuple) and len(key) > 1 and isinstance(key[1], int) and workers:
                return [workers[min(key[1] * len(workers) // n_blocks, len(workers) - 1)]]
            return None

        # a preference, not a pin: a block whose worker is gone is recomputed anywhere
        placement = dask.annotate(workers=where, allow_other_workers=True)
    with placement:
        arrays = _prepared_arrays(X, y, sample_weight, job, weight_scale, d)
    if persist:
        arrays = list(client.persist(arrays, optimize_graph=False))
    else:
        arrays = list(dask.optimize(*arrays))
    Xp, Yp = arrays[0], arrays[1]
    swp = arrays[2] if len(arrays) > 2 else None
    xb = Xp.to_delayed(optimize_graph=False).ravel()
    yb = Yp.to_delayed(optimize_graph=False).ravel()
    sb = swp.to_delayed(optimize_graph=False).ravel() if swp is not None else [None] * len(xb)
    return Data(Xp, Yp, swp, int(X.shape[0]), bool(persist), list(zip(xb, yb, sb)))


def _prepared_arrays(X, y, sample_weight, job, weight_scale, d) -> list:
    """[X prepared, Y encoded (, row weights)] as lazy dask arrays with X's row blocks."""
    Xp = X.rechunk({1: -1}).map_blocks(
        _blocks.prepare_x,
        job.dtype,
        d,
        dtype=job.dtype,
        chunks=(X.chunks[0], (d,)),
        meta=np.empty((0, d), job.dtype),
        name="fastmlp-prepare-x-" + tokenize(X, job.dtype, d),
    )
    yy = y.rechunk({1: -1}) if y.ndim == 2 else y
    if job.loss == "cross_entropy":
        if yy.ndim == 2:
            yy = yy[:, 0] if yy.shape[1] == 1 else yy
        Yp = yy.map_blocks(
            _blocks.encode_y,
            job,
            dtype=np.intp,
            chunks=(X.chunks[0],),
            drop_axis=list(range(1, yy.ndim)),
            meta=np.empty((0,), np.intp),
            name="fastmlp-encode-y-" + tokenize(yy, job),
        )
    else:
        k = job.d_out
        y2 = yy if yy.ndim == 2 else yy[:, None]
        Yp = y2.map_blocks(
            _blocks.encode_y,
            job,
            dtype=job.dtype,
            chunks=(X.chunks[0], (k,)),
            meta=np.empty((0, k), job.dtype),
            name="fastmlp-encode-y-" + tokenize(y2, job),
        )
    swp = None
    if sample_weight is not None or job.class_weights is not None or weight_scale != 1.0:
        yl = yy if yy.ndim == 1 else yy[:, 0]
        if sample_weight is None:
            swp = da.map_blocks(
                _blocks.prepare_weights,
                None,
                yl,
                job,
                weight_scale,
                dtype=job.dtype,
                meta=np.empty((0,), job.dtype),
                name="fastmlp-weights-" + tokenize(yl, job, weight_scale),
            )
        else:
            swp = da.map_blocks(
                _blocks.prepare_weights,
                sample_weight,
                yl,
                job,
                weight_scale,
                dtype=job.dtype,
                meta=np.empty((0,), job.dtype),
                name="fastmlp-weights-" + tokenize(sample_weight, yl, job, weight_scale),
            )
    return [Xp, Yp] + ([swp] if swp is not None else [])


def find_classes(client: Client, y: da.Array, with_counts: bool = False):
    """The sorted distinct labels of a 1-D dask array (one pass over it, on the cluster), and their counts
    if asked."""
    if y.ndim == 2:
        if y.shape[1] != 1:
            raise ValueError(f"y: expected one label per row, got shape {y.shape}")
        y = y[:, 0]
    if with_counts:
        cls, counts = client.compute(list(da.unique(y, return_counts=True)), sync=True)
        return np.asarray(cls), np.asarray(counts)
    return np.asarray(client.compute(da.unique(y), sync=True))


# ------------------------------------------------------------------------------------------------------
# The reduction tree: fixed shape, fixed order
# ------------------------------------------------------------------------------------------------------


def tree_sum(parts: list, label: str, split_every: int = SPLIT_EVERY):
    """Σ parts as a tree of ``sum_in_order`` tasks: level by level, consecutive groups of ``split_every``
    in block order. Its shape depends only on the number of blocks, so the float64 result is the same bits
    whichever worker finishes first, on any number of workers."""
    level = 0
    while len(parts) > 1:
        parts = [
            dask.delayed(_blocks.sum_in_order, pure=True)(
                *parts[i : i + split_every],
                dask_key_name=f"{label}-sum{level}-{i}-{tokenize(*parts[i : i + split_every])}",
            )
            for i in range(0, len(parts), split_every)
        ]
        level += 1
    return parts[0]


def sum_over_blocks(client: Client, data, fn, shared: tuple, extra: tuple, label: str,
                    split_every: int = SPLIT_EVERY, with_index: bool = False) -> np.ndarray:
    """Σ over ``data``'s blocks of ``fn(*shared, X_block, y_block, w_block, *extra[, block index])`` (float64
    vectors), added in the fixed tree order of ``tree_sum`` and computed on the cluster. ``shared``: broadcast
    keys (the weights); every task's key names them, its block and ``extra``, so a lost task recomputes the
    same result."""
    parts = [
        dask.delayed(fn, pure=True)(
            *shared, xb, yb, sb, *extra, *((i,) if with_index else ()),
            dask_key_name=f"{label}-block-{i}-{tokenize(*(s.key for s in shared), xb.key, *extra)}",
        )
        for i, (xb, yb, sb) in enumerate(data.blocks)
    ]
    return run_graph(client, tree_sum(parts, label, split_every))


def broadcast(value, label: str):
    """``value`` (the weights) as one graph key: sent to the scheduler once, then copied between workers;
    kept in the graph so that a lost copy is rebuilt."""
    return dask.delayed(value, name=f"{label}-{tokenize(value)}", traverse=False)


def run_graph(client: Client, graph) -> np.ndarray:
    """Compute one delayed reduction on the cluster and bring back its (small) result."""
    future = client.compute(graph, optimize_graph=False)
    try:
        return future.result()
    finally:
        future.release()


# ------------------------------------------------------------------------------------------------------
# Exact distributed L-BFGS
# ------------------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    theta: np.ndarray
    loss_curve: list
    reason: str
    message: str = ""
    n_iter: int = 0
    val_loss_curve: list | None = None
    val_score_curve: list | None = None
    best_epoch: int | None = None
    samples_seen: int = 0
    state: np.ndarray | None = None


def lbfgs(
    client: Client,
    data: Data,
    job: Job,
    theta0: np.ndarray,
    l2: float,
    max_iter: int,
    max_fun: int,
    tol: float,
    callback: Callable[[dict], bool | None] | None = None,
    split_every: int = SPLIT_EVERY,
) -> TrainResult:
    """Minimise R(θ) = Σ_i w_i L_i / n + (l2/2) Σ‖W‖² over all blocks with scipy's L-BFGS-B on the client.

    Each evaluation sends θ (cast to the model's dtype, as the single-process engine computes with it) to
    the workers, every block returns [Σ w L, n, Σ ∂(w L)/∂θ] in float64, a fixed tree sums them, and the
    client adds the L2 term: the same function ``FastMLP.fit(optimizer="lbfgs")`` minimises."""
    dtype = np.dtype(job.dtype)
    mask = job.netspec.weight_mask()
    label = "fastmlp-lbfgs"
    curve: list[float] = []

    def fun(x):
        th = x.astype(dtype)
        th_d = broadcast(th, label + "-theta")
        vec = sum_over_blocks(client, data, _blocks.loss_grad, (th_d,), (job,), label, split_every)
        n = vec[1]
        W = th[mask].astype(np.float64)
        loss = vec[0] / n + 0.5 * l2 * float(np.dot(W, W))
        grad = vec[2:] / n
        if l2:
            grad[mask] += l2 * W
        return loss, grad

    def on_iteration(intermediate_result):
        loss = float(intermediate_result.fun)
        curve.append(loss)
        if callback is not None and callback({"epoch": len(curve), "loss": loss}):
            raise StopIteration

    res = _training.minimize_lbfgs(fun, theta0.astype(np.float64), max_iter, max_fun, tol, on_iteration)
    theta = res.x.astype(dtype)
    if not math.isfinite(res.fun) or not np.isfinite(theta).all():
        l2_hint = f" or the L2 penalty (l2={l2})" if l2 else ""
        raise FloatingPointError(
            f"lr: L-BFGS diverged (loss is {res.fun}); scale the inputs{l2_hint}. "
            "The weights from before the call are kept."
        )
    reason = "converged" if res.status == 0 else ("callback" if res.status == 99 else "max_iter")
    return TrainResult(theta, curve, reason, str(res.message), int(res.nit))


# ------------------------------------------------------------------------------------------------------
# Local SGD
# ------------------------------------------------------------------------------------------------------


@dataclass
class LocalPlan:
    """Local-SGD settings besides the data: rounds, the per-round template, the client's schedule and
    early stopping, and where validation comes from."""

    rounds: int
    template: Round
    schedule: _training.Schedule
    stopping: _training.EarlyStopping | None
    validation: Data | None = None  # a held-out dask array, or None
    holdout: tuple | None = None  # (fraction, seed): validate on rows held out of every block
    callback: Callable[[dict], bool | None] | None = None
    state: np.ndarray | None = None  # optimizer state to continue from (warm start)
    first_round: int = 0


def evaluate(
    client: Client,
    data: Data,
    job: Job,
    theta: np.ndarray,
    holdout: tuple | None = None,
    split_every: int = SPLIT_EVERY,
    label: str = "fastmlp-metrics",
) -> tuple[float, float]:
    """(validation loss, validation score) of the weights ``theta`` over ``data`` (or the held-out rows of
    its blocks), as exact sums over blocks."""
    th_d = broadcast(theta, label + "-theta")
    vec = sum_over_blocks(client, data, _blocks.metrics, (th_d,), (job, holdout), label, split_every,
                          with_index=True)
    if vec[1] <= 0:
        raise ValueError(
            "validation: no validation rows (the held-out fraction of every block is empty, or "
            "all validation weights are zero)"
        )
    return _blocks.score_from_metrics(vec, job)


def local_sgd(
    client: Client, data: Data, job: Job, theta0: np.ndarray, plan: LocalPlan, split_every: int = SPLIT_EVERY
) -> TrainResult:
    """Rounds of data-parallel training: every block runs ``template.epochs`` local epochs of the compiled
    epoch loop from the current weights and optimizer state; the client replaces both by their averages
    weighted by the blocks' row counts. Stops after ``rounds`` rounds, or by early stopping on the
    validation data (the best round's weights are then restored)."""
    dtype = np.dtype(job.dtype)
    P = theta0.shape[0]
    s1, s2 = _blocks.state_sizes(plan.template.kind, P)
    theta = theta0.astype(dtype).copy()
    state = (
        plan.state
        if plan.state is not None and plan.state.shape == (s1 + s2 + 1,)
        else np.zeros(s1 + s2 + 1, dtype=np.float64)
    )
    opt = _training_opt(plan.template, dtype)
    plan.schedule.start(plan.template.lr)
    label = "fastmlp-localsgd"
    curve, vcurve, scurve = [], [], []
    stopping = plan.stopping
    reason = "epochs"
    seen = 0
    val_data = plan.validation if plan.validation is not None else (data if plan.holdout else None)
    val_holdout = None if plan.validation is not None else plan.holdout
    plan.schedule.check(val_data is not None)
    for r in range(plan.first_round, plan.first_round + plan.rounds):
        plan.schedule.before_epoch(opt, r - plan.first_round, plan.rounds)  # a round is an epoch
        rnd = replace(plan.template, index=r, lr=float(opt.lr), holdout=plan.holdout)
        th_d = broadcast(theta, label + "-theta")
        st_d = broadcast(state, label + "-state")  # float64: the step count t stays exact
        vec = sum_over_blocks(client, data, _blocks.local_epochs, (th_d, st_d), (job, rnd), f"{label}-{r}",
                              split_every, with_index=True)
        n = vec[0]
        if n <= 0:
            raise ValueError("X: no training rows")
        loss = vec[1] / n
        new_theta = (vec[2 : 2 + P] / n).astype(dtype)
        if not math.isfinite(loss) or not np.isfinite(new_theta).all():
            what = f"loss is {loss}" if not math.isfinite(loss) else "the parameters are not finite"
            l2 = f" or the L2 penalty (l2={rnd.l2})" if rnd.l2 else ""
            raise FloatingPointError(
                f"lr: training diverged at round {r + 1} ({what}); lower the learning rate "
                f"(lr={rnd.lr}){l2}. The weights from before that round are kept."
            )
        theta = new_theta
        state = vec[2 + P :] / n
        state[-1] = round(state[-1])
        seen += int(n) * rnd.epochs
        curve.append(float(loss))
        info = {"epoch": r + 1, "loss": float(loss)}
        if val_data is not None:
            vloss, vscore = evaluate(client, val_data, job, theta, val_holdout, split_every)
            vcurve.append(vloss)
            scurve.append(vscore)
            info.update(val_loss=vloss, val_score=vscore)
        stop = bool(plan.callback(info)) if plan.callback is not None else False
        if stop:
            reason = "callback"
        if stopping is not None and stopping.update(info[stopping.monitor], theta, r + 1):
            if plan.schedule.on_plateau(opt):
                stopping.wait = 0
            else:
                stop = True
                reason = "early_stopping"
        plan.schedule.end_epoch(opt, seen, info)
        if stop:
            break
    if (
        stopping is not None
        and stopping.restore_best
        and stopping.best_theta is not None
        and math.isfinite(stopping.best)
        and stopping.best_theta.shape == theta.shape
    ):
        theta = stopping.best_theta.copy()
    best = stopping.best_epoch if stopping is not None else None
    return TrainResult(
        theta,
        curve,
        reason,
        n_iter=len(curve),
        val_loss_curve=vcurve if val_data else None,
        val_score_curve=scurve if val_data else None,
        best_epoch=best,
        samples_seen=seen,
        state=state,
    )


def _training_opt(template: Round, dtype) -> _blocks.Optimizer:
    """A client-side optimizer object for the schedules to adjust ``lr`` on (no state of its own)."""
    return _blocks.Optimizer(
        template.kind,
        0,
        dtype,
        lr=template.lr,
        l2=template.l2,
        momentum=template.momentum,
        beta1=template.beta1,
        beta2=template.beta2,
        eps=template.eps,
    )


# ------------------------------------------------------------------------------------------------------
# Inference
# ------------------------------------------------------------------------------------------------------


def model_key(model) -> str:
    """A graph key for a fitted model, from its parameters and configuration."""
    try:
        token = tokenize(type(model).__name__, _model_params(model), repr(model))
    except Exception:  # pragma: no cover - a model that cannot be tokenized gets a fresh key
        token = tokenize(object())
    return f"fastmlp-model-{token}"


def _model_params(model) -> bytes:
    if hasattr(model, "get_params_vector"):
        theta = model.get_params_vector()
    else:
        theta = np.concatenate([np.ravel(a) for a in list(model.coefs_) + list(model.intercepts_)])
    classes = getattr(model, "classes_", None)
    return theta.tobytes() + (b"" if classes is None else np.asarray(classes).tobytes())


def infer(model, X, what: str, layer: int = -1) -> da.Array:
    """``model.<what>`` mapped over the row blocks of the dask array (or DataFrame) X: lazy, one task per
    block, the model shipped once per worker. The result's dtype and trailing shape come from the model's
    answer on one row of zeros."""
    Xd, _ = as_dask_array(X, "X", need_lengths=False)
    if Xd.ndim != 2:
        raise ValueError(f"X: expected a 2-D array (n_samples, n_features), got shape {Xd.shape}")
    d = _n_features(model)
    if d is not None and Xd.shape[1] != d:
        raise ValueError(f"X: expected {d} features (columns), got {Xd.shape[1]}")
    Xd = Xd.rechunk({1: -1})
    probe_dtype = _model_dtype(model) or Xd.dtype
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probe = np.zeros((1, Xd.shape[1]), dtype=probe_dtype)
        sample = model.transform(probe, layer=layer) if what == "transform" else getattr(model, what)(probe)
    sample = np.asarray(sample)
    key = model_key(model)
    model_d = dask.delayed(model, name=key, traverse=False)
    name = f"fastmlp-{what}-" + tokenize(Xd, key, what, layer)
    meta = np.empty((0,) + sample.shape[1:], dtype=sample.dtype)
    if sample.ndim == 1:
        return Xd.map_blocks(
            _blocks.infer, model_d, key, what, layer, dtype=sample.dtype, drop_axis=1, meta=meta, name=name
        )
    return Xd.map_blocks(
        _blocks.infer,
        model_d,
        key,
        what,
        layer,
        dtype=sample.dtype,
        chunks=(Xd.chunks[0], (sample.shape[1],)),
        meta=meta,
        name=name,
    )


def _n_features(model) -> int | None:
    if hasattr(model, "layer_sizes"):
        return int(model.layer_sizes[0])
    return getattr(model, "n_features_in_", None)


def _model_dtype(model):
    dt = getattr(model, "dtype", None)
    if dt is not None and not isinstance(dt, str):
        try:
            return check_dtype(dt)
        except TypeError:
            return None
    coefs = getattr(model, "coefs_", None)
    return coefs[0].dtype if coefs else None
