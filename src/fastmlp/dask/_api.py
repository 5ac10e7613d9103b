"""Functions for a ``FastMLP``: train it on dask arrays, and map its inference over them."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _training
from .._registry import LOSS_TABLE, OPTIMIZERS
from ..model import FastMLP
from ..validation import ParameterError, check_bool, check_param
from . import _core
from ._blocks import Job, Round

if TYPE_CHECKING:  # pragma: no cover
    import dask.array as da


def _check_model(model) -> FastMLP:
    if not isinstance(model, FastMLP):
        raise TypeError(f"model: expected a fastmlp.FastMLP, got {type(model).__name__}")
    return model


def model_job(model: FastMLP, classes: np.ndarray | None, class_weights: np.ndarray | None = None) -> Job:
    """The workers' description of ``model`` (architecture, dtype, backend, the classes to encode with)."""
    s = model.spec
    return Job(
        (tuple(s.sizes), tuple(s.activations), tuple(s.params), s.loss),
        np.dtype(model.dtype).name,
        model.backend,
        None if classes is None else np.asarray(classes),
        class_weights,
    )


def resolve_classes(client, model: FastMLP, y, classes) -> np.ndarray | None:
    """The labels the model maps targets to: its own ``classes_`` (continued training), ``classes`` when
    given, else found in one pass over y (integers 0..C-1 are used as they are). None for regression and
    multilabel outputs."""
    loss = model.spec.loss
    if not LOSS_TABLE[loss].classifier:
        return None
    d_out = model.layer_sizes[-1]
    if loss == "binary_cross_entropy" and d_out > 1:
        return None  # multilabel: the 0/1 matrix itself
    n_classes = d_out if loss == "cross_entropy" else 2
    if model.classes_ is not None:
        return np.asarray(model.classes_)
    if classes is not None:
        cls = np.unique(np.asarray(classes))
        if len(cls) != n_classes:
            raise ValueError(f"classes: {len(cls)} classes given but the output needs {n_classes}")
        return cls
    found = _core.find_classes(client, y)
    if (
        found.dtype.kind in "biuf"
        and found.size
        and np.all(np.mod(found, 1) == 0)
        and found.min() >= 0
        and found.max() < n_classes
    ):
        return np.arange(n_classes)
    if len(found) != n_classes:
        raise ValueError(
            f"y: found {len(found)} classes {found[:10].tolist()} but the output layer has "
            f"{n_classes} (labels must be 0..{n_classes - 1}, or exactly {n_classes} distinct "
            "values)"
        )
    return found


def _inputs(X, y, sample_weight, model: FastMLP, what: str = "X"):
    Xd, _ = _core.as_dask_array(X, what)
    yd, _ = _core.as_dask_array(y, "y")
    swd = None if sample_weight is None else _core.as_dask_array(sample_weight, "sample_weight")[0]
    _core.check_xy(Xd, yd, swd, model.layer_sizes[0], what)
    return Xd, yd, swd


def _record(model: FastMLP, theta: np.ndarray, classes, result: _core.TrainResult) -> None:
    """Put a finished run into the model: weights, classes, curves and counters (public attributes)."""
    model.set_params_vector(theta)
    if classes is not None:
        model.classes_ = classes
    elif model.classes_ is None and LOSS_TABLE[model.spec.loss].classifier:
        model.classes_ = np.arange(model.layer_sizes[-1])
    model.loss_curve.extend(result.loss_curve)
    if result.val_loss_curve is not None:
        model.val_loss_curve.extend(result.val_loss_curve)
        model.val_score_curve.extend(result.val_score_curve)
    if result.best_epoch is not None:
        model.best_epoch = result.best_epoch
    model.n_epochs += result.n_iter
    model.samples_seen += result.samples_seen
    model.last_fit = _training.FitSummary(
        result.n_iter, result.reason, result.loss_curve[-1] if result.loss_curve else None, result.message
    )


def fit_lbfgs(
    model: FastMLP,
    X,
    y,
    *,
    sample_weight=None,
    classes=None,
    max_iter: int = 100,
    max_fun: int = 15000,
    tol: float = 1e-4,
    l2: float | None = None,
    client=None,
    persist: bool | str = "auto",
    callback: Callable[[dict], bool | None] | None = None,
    split_every: int = _core.SPLIT_EVERY,
) -> FastMLP:
    """Train ``model`` by exact distributed full-batch L-BFGS on the dask arrays X (n, d) and y (n,) or
    (n, d_out), continuing from its current weights. Returns the model.

    Minimises R(θ) = Σ_i w_i L_i / n + (λ/2) Σ‖W‖² (λ = ``l2``, default the model's) — the function
    ``model.fit(X, y, optimizer="lbfgs")`` minimises on the gathered data — with at most ``max_iter``
    iterations and ``max_fun`` evaluations, gradient tolerance ``tol``. ``sample_weight``: a dask array
    (n,) chunked like X. ``classes``: the labels, when y does not show them all. ``persist``: "auto" keeps
    the prepared data in the workers' memory when it takes at most half of it, True always, False
    recomputes it from its graph on every evaluation. ``callback(info)`` after every iteration
    (``{"epoch", "loss"}``; True stops). The reduction tree adds ``split_every`` blocks per node."""
    model = _check_model(model)
    max_iter = check_param("epochs", max_iter, "max_iter")
    max_fun = check_param("max_fun", max_fun)
    tol = check_param("tol", tol)
    l2 = model.l2 if l2 is None else check_param("l2", l2)
    split_every = _check_split(split_every)
    Xd, yd, swd = _inputs(X, y, sample_weight, model)
    with _core.cluster_client(client) as c:
        cls = resolve_classes(c, model, yd, classes)
        job = model_job(model, cls)
        data = _core.prepare(c, Xd, yd, swd, job, persist=persist)
        result = _core.lbfgs(
            c, data, job, model.get_params_vector(), l2, max_iter, max_fun, tol, callback, split_every
        )
    _record(model, result.theta, cls, result)
    if result.reason == "max_iter":
        warnings.warn(
            f"lbfgs stopped after {result.n_iter} iteration(s) before converging "
            f"({result.message}); raise max_iter or max_fun, or scale the data",
            _training.ConvergenceWarning,
            stacklevel=2,
        )
    return model


def fit_local_sgd(
    model: FastMLP,
    X,
    y,
    *,
    rounds: int = 10,
    local_epochs: int = 1,
    batch_size: int = 32,
    lr: float | None = None,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    l2: float | None = None,
    l2_per_batch: bool = False,
    schedule: str | _training.Schedule = "constant",
    power_t: float = 0.5,
    shuffle: bool = True,
    seed: int | None = None,
    validation_data: tuple | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    monitor: str | None = None,
    restore_best: bool | None = None,
    sample_weight=None,
    classes=None,
    client=None,
    persist: bool | str = "auto",
    callback: Callable[[dict], bool | None] | None = None,
    split_every: int = _core.SPLIT_EVERY,
) -> FastMLP:
    """Train ``model`` by local SGD on the dask arrays X and y: ``rounds`` rounds, in each of which every
    row block runs ``local_epochs`` epochs of minibatch steps (``optimizer`` "sgd", "momentum",
    "nesterov" or "adam", ``batch_size`` rows, the compiled epoch loop) from the current weights, after
    which weights and optimizer state become their averages weighted by the blocks' row counts. Returns
    the model.

    Shuffles are drawn from ``SeedSequence([seed, round, block])`` (``seed`` defaults to the model's int
    seed, else 0), so a run is the same whichever worker runs which block. ``schedule`` ("constant",
    "invscaling", "adaptive") changes ``lr`` between rounds (t = rows seen). With
    ``validation_data=(X_val, y_val)`` (dask arrays) the validation loss and score are recorded after every
    round, and early stopping on ``monitor`` ("val_loss" by default, "val_score" or "loss") stops after
    ``patience`` rounds without an improvement larger than ``min_delta``, restoring the best round's
    weights. The other options are those of ``fit_lbfgs`` and ``FastMLP.fit``."""
    model = _check_model(model)
    rounds = check_param("epochs", rounds, "rounds")
    local_epochs = check_param("epochs", local_epochs, "local_epochs")
    batch_size = check_param("batch_size", batch_size)
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
        raise ParameterError(
            f"optimizer: unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
        )
    l2 = model.l2 if l2 is None else check_param("l2", l2)
    l2_per_batch = check_bool("l2_per_batch", l2_per_batch)
    shuffle = check_bool("shuffle", shuffle)
    if patience is not None:
        patience = check_param("patience", patience)
    split_every = _check_split(split_every)
    if seed is None:
        seed = (
            int(model.seed)
            if isinstance(model.seed, (int, np.integer)) and not isinstance(model.seed, bool)
            else 0
        )
    seed = _check_seed(seed)
    probe = _training.make_schedule(schedule, power_t)
    opt = _blocks_optimizer(optimizer, model, lr, l2, momentum, beta1, beta2, eps)
    Xd, yd, swd = _inputs(X, y, sample_weight, model)
    val_arrays = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ParameterError("validation_data: expected (X_val, y_val) or (X_val, y_val, sample_weight)")
        Xv, yv, swv = _inputs(
            validation_data[0],
            validation_data[1],
            validation_data[2] if len(validation_data) == 3 else None,
            model,
            "validation_data[0]",
        )
        val_arrays = (Xv, yv, swv)
    if monitor is None:
        monitor = "val_loss" if val_arrays is not None else "loss"
    elif monitor != "loss" and val_arrays is None:
        raise ParameterError(f"monitor: {monitor!r} needs validation_data")
    if restore_best is None:
        restore_best = val_arrays is not None or patience is not None
    stopping = None
    if val_arrays is not None or patience is not None or restore_best:
        stopping = _training.EarlyStopping(
            monitor, min_delta, patience, check_bool("restore_best", restore_best)
        )
    template = Round(
        0,
        seed,
        local_epochs,
        batch_size,
        optimizer,
        float(opt.lr),
        float(l2),
        l2_per_batch,
        shuffle,
        float(opt.momentum),
        float(opt.beta1),
        float(opt.beta2),
        float(opt.eps),
    )
    with _core.cluster_client(client) as c:
        cls = resolve_classes(c, model, yd, classes)
        job = model_job(model, cls)
        data = _core.prepare(c, Xd, yd, swd, job, persist=persist)
        val = None
        if val_arrays is not None:
            val = _core.prepare(c, *val_arrays, job, persist=persist, what="validation_data[0]")
        plan = _core.LocalPlan(
            rounds, template, probe, stopping, val, None, callback, first_round=model.n_epochs
        )
        result = _core.local_sgd(c, data, job, model.get_params_vector(), plan, split_every)
    _record(model, result.theta, cls, result)
    return model


def _blocks_optimizer(kind, model, lr, l2, momentum, beta1, beta2, eps):
    from .._netspec import Optimizer

    return Optimizer(kind, 0, model.dtype, lr=lr, l2=l2, momentum=momentum, beta1=beta1, beta2=beta2, eps=eps)


def _check_split(split_every) -> int:
    if isinstance(split_every, bool) or not isinstance(split_every, (int, np.integer)) or split_every < 2:
        raise ParameterError(f"split_every: expected an int >= 2, got {split_every!r}")
    return int(split_every)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0 or seed >= 2**63:
        raise ParameterError(f"seed: expected an int in [0, 2**63), got {seed!r}")
    return int(seed)


def predict(model: Any, X: Any) -> da.Array:
    """Predictions of a fitted ``FastMLP`` (or scikit-learn estimator) for the dask array X (n, d), lazily:
    a dask array (n,) of labels / outputs, or (n, d_out) for multilabel and multi-output models."""
    return _core.infer(_unwrap(model), X, "predict")


def predict_proba(model: Any, X: Any) -> da.Array:
    """Class probabilities (n, n_classes) of a fitted classifier for the dask array X, lazily."""
    return _core.infer(_unwrap(model), X, "predict_proba")


def transform(model: Any, X: Any, layer: int = -1) -> da.Array:
    """The activations (n, size of hidden layer ``layer``) of a fitted model for the dask array X, lazily."""
    return _core.infer(_unwrap(model), X, "transform", layer)


def _unwrap(model):
    local = getattr(model, "model_", None)
    if local is not None and hasattr(model, "to_local"):
        return local  # a DaskMLP estimator: its FastMLP
    if not (hasattr(model, "predict") and (hasattr(model, "layer_sizes") or hasattr(model, "coefs_"))):
        raise TypeError(f"model: expected a fitted FastMLP or fastmlp estimator, got {type(model).__name__}")
    return model
