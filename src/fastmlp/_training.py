"""The training engine: the one loop every face trains through.

``run_epochs`` runs minibatch epochs (SGD, momentum, Nesterov, Adam; one kernel call per epoch) with
learning-rate schedules, early stopping with the best weights restored, validation curves, callbacks and a
progress bar; ``run_lbfgs`` minimises the full-batch risk with L-BFGS (``scipy.optimize``). Both roll the
parameters back and raise ``FloatingPointError`` when a pass ends with a non-finite loss or non-finite
parameters. ``FastMLP.fit``/``partial_fit`` call them; the scikit-learn estimators reach them through the
``FastMLP`` they hold.

The risk minimised per minibatch B of n_B rows is

    R_B(θ) = Σ_{i∈B} w_i L(ŷ_i, y_i) / n_B + (λ_B / 2) Σ_l ‖W(l)‖²,

with λ_B = l2 (``l2_per_batch=False``) or l2 / n_B (scikit-learn's ``alpha``, ``l2_per_batch=True``).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .progress import epoch_progress
from .validation import ParameterError, check_param

if TYPE_CHECKING:  # pragma: no cover
    from .model import FastMLP

FULL_BATCH = 1024  # rows per chunk of the full-batch (L-BFGS, gradients) workspace


class ConvergenceWarning(UserWarning):
    """L-BFGS stopped before its gradient tolerance was met (iteration or evaluation budget spent)."""


# ------------------------------------------------------------------------------------------------------
# Learning-rate schedules
# ------------------------------------------------------------------------------------------------------

class Schedule:
    """A learning-rate schedule: ``start`` is told the initial rate α₀, ``after_epoch`` may change
    ``opt.lr`` after every epoch, ``on_plateau`` is asked when early stopping sees no improvement for
    ``patience`` epochs: it returns True when it handled the plateau (training goes on), False to stop."""

    name = "constant"

    def start(self, lr: float) -> None:
        self.lr0 = float(lr)

    def after_epoch(self, opt: Any, samples_seen: int) -> None:
        """Called once per epoch, after the step count ``samples_seen`` (rows trained on) is updated."""

    def on_plateau(self, opt: Any) -> bool:
        return False

    def before_epoch(self, opt: Any, epoch: int, epochs: int) -> None:
        """Called before each epoch of a ``fit`` call: ``epoch`` counts from 0 within the call, of
        ``epochs`` at most (each ``partial_fit`` call is epoch 0 of 1)."""

    def end_epoch(self, opt: Any, samples_seen: int, info: dict) -> None:
        """Called after each epoch with the epoch's ``info`` (loss, val_loss, val_score, ...); the default
        calls ``after_epoch``."""
        self.after_epoch(opt, samples_seen)

    def check(self, has_validation: bool) -> None:
        """Refuse a fit the schedule cannot follow (before any epoch runs)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Constant(Schedule):
    """α_t = α₀."""


class InvScaling(Schedule):
    """α = α₀ / (t + 1)^power_t after every epoch, t = rows trained on so far (scikit-learn's rule)."""

    name = "invscaling"

    def __init__(self, power_t: float = 0.5):
        self.power_t = check_param("power_t", power_t)

    def after_epoch(self, opt: Any, samples_seen: int) -> None:
        opt.lr = self.lr0 / (samples_seen + 1) ** self.power_t

    def __repr__(self) -> str:
        return f"InvScaling(power_t={self.power_t})"


class Adaptive(Schedule):
    """α ← α / factor at each plateau (``patience`` epochs without improvement) while α > min_lr; training
    stops at the first plateau after that (scikit-learn's ``learning_rate="adaptive"``)."""

    name = "adaptive"

    def __init__(self, factor: float = 5.0, min_lr: float = 1e-6):
        self.factor = check_param("factor", factor)
        self.min_lr = check_param("min_lr", min_lr)

    def on_plateau(self, opt: Any) -> bool:
        if opt.lr > self.min_lr:
            opt.lr /= self.factor
            return True
        return False

    def __repr__(self) -> str:
        return f"Adaptive(factor={self.factor}, min_lr={self.min_lr})"


class Step(Schedule):
    """α_e = α₀ · gamma^⌊e / step_size⌋ in epoch e (from 0) of a fit call (torch's ``StepLR``)."""

    name = "step"

    def __init__(self, step_size: int = 10, gamma: float = 0.5):
        self.step_size = check_param("step_size", step_size)
        self.gamma = check_param("gamma", gamma)

    def before_epoch(self, opt: Any, epoch: int, epochs: int) -> None:
        opt.lr = self.lr0 * self.gamma ** (epoch // self.step_size)

    def __repr__(self) -> str:
        return f"Step(step_size={self.step_size}, gamma={self.gamma})"


class Exponential(Schedule):
    """α_e = α₀ · gamma^e in epoch e (from 0) of a fit call (torch's ``ExponentialLR``)."""

    name = "exponential"

    def __init__(self, gamma: float = 0.95):
        self.gamma = check_param("gamma", gamma)

    def before_epoch(self, opt: Any, epoch: int, epochs: int) -> None:
        opt.lr = self.lr0 * self.gamma ** epoch

    def __repr__(self) -> str:
        return f"Exponential(gamma={self.gamma})"


class Cosine(Schedule):
    """Linear warm-up, then cosine annealing, in epoch e (from 0) of a fit call of T epochs:

        e < warmup:  α_e = α₀ · (e + 1) / warmup
        e ≥ warmup:  α_e = min_lr + (α₀ − min_lr) · (1 + cos(π (e − warmup) / (T − warmup))) / 2

    ``T`` (``cycle``) defaults to the ``epochs`` of the fit call; past T the rate stays at min_lr. Without
    warm-up this is torch's ``CosineAnnealingLR(T_max=T, eta_min=min_lr)``."""

    name = "cosine"

    def __init__(self, cycle: int | None = None, min_lr: float = 0.0, warmup: int = 0):
        self.cycle = None if cycle is None else check_param("cycle", cycle)
        self.min_lr = check_param("min_lr", min_lr)
        self.warmup = check_param("warmup", warmup)
        if self.cycle is not None and self.warmup >= self.cycle:
            raise ParameterError(f"warmup: must be < cycle ({self.cycle}), got {self.warmup}")

    def before_epoch(self, opt: Any, epoch: int, epochs: int) -> None:
        T = self.cycle if self.cycle is not None else epochs
        if epoch < self.warmup:
            opt.lr = self.lr0 * (epoch + 1) / self.warmup
        elif epoch >= T or T <= self.warmup:
            opt.lr = self.min_lr if epoch >= T else self.lr0
        else:
            frac = (epoch - self.warmup) / (T - self.warmup)
            opt.lr = self.min_lr + (self.lr0 - self.min_lr) * (1 + math.cos(math.pi * frac)) / 2

    def __repr__(self) -> str:
        return f"Cosine(cycle={self.cycle}, min_lr={self.min_lr}, warmup={self.warmup})"


class ReduceOnPlateau(Schedule):
    """α ← max(α · factor, min_lr) once the monitored loss has not improved on its best by a relative
    ``threshold`` (value < best · (1 − threshold)) for more than ``patience`` epochs, then ``cooldown``
    epochs of rest (torch's ``ReduceLROnPlateau(mode="min", threshold_mode="rel")``). ``monitor``:
    "val_loss" (needs validation data), "loss", or "auto" (the validation loss when there is validation
    data, else the training loss). Training goes on; combine with ``patience=`` of ``fit`` to stop."""

    name = "reduce_on_plateau"

    def __init__(self, factor: float = 0.1, patience: int = 10, threshold: float = 1e-4, min_lr: float = 0.0,
                 cooldown: int = 0, monitor: str = "auto"):
        self.factor = check_param("plateau_factor", factor, "factor")
        self.patience = check_param("warmup", patience, "patience")
        self.threshold = check_param("threshold", threshold)
        self.min_lr = check_param("min_lr", min_lr)
        self.cooldown = check_param("warmup", cooldown, "cooldown")
        if monitor not in ("auto", "val_loss", "loss"):
            raise ParameterError(f"monitor: expected 'auto', 'val_loss' or 'loss', got {monitor!r}")
        self.monitor = monitor
        self.best, self.num_bad, self.cooldown_left = math.inf, 0, 0

    def start(self, lr: float) -> None:
        super().start(lr)
        self.best, self.num_bad, self.cooldown_left = math.inf, 0, 0

    def check(self, has_validation: bool) -> None:
        if self.monitor == "val_loss" and not has_validation:
            raise ParameterError("schedule: ReduceOnPlateau(monitor='val_loss') needs validation_data or "
                                 "validation_split")

    def end_epoch(self, opt: Any, samples_seen: int, info: dict) -> None:
        key = "loss" if self.monitor == "loss" or "val_loss" not in info else "val_loss"
        value = info[key]
        if value < self.best * (1 - self.threshold):
            self.best, self.num_bad = value, 0
        else:
            self.num_bad += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.num_bad = 0
        if self.num_bad > self.patience:
            new = max(opt.lr * self.factor, self.min_lr)
            if opt.lr - new > 1e-8 * opt.lr and new > 0:
                opt.lr = new
            self.cooldown_left, self.num_bad = self.cooldown, 0

    def __repr__(self) -> str:
        return (f"ReduceOnPlateau(factor={self.factor}, patience={self.patience}, "
                f"threshold={self.threshold}, min_lr={self.min_lr}, cooldown={self.cooldown}, "
                f"monitor={self.monitor!r})")


SCHEDULES: dict[str, type[Schedule]] = {"constant": Constant, "invscaling": InvScaling, "adaptive": Adaptive,
                                        "step": Step, "exponential": Exponential, "cosine": Cosine,
                                        "reduce_on_plateau": ReduceOnPlateau}
# scikit-learn's learning_rate choices (its wrappers apply them with solver="sgd" only, as scikit-learn)
SKLEARN_SCHEDULES = ("constant", "invscaling", "adaptive")


def make_schedule(schedule: str | Schedule, power_t: float = 0.5) -> Schedule:
    """A ``Schedule`` from a name ("constant", "invscaling", "adaptive", "step", "exponential", "cosine",
    "reduce_on_plateau": each with its defaults) or an instance (returned as is)."""
    if isinstance(schedule, Schedule):
        return schedule
    if not isinstance(schedule, str) or schedule not in SCHEDULES:
        raise ParameterError(f"schedule: expected one of {', '.join(map(repr, SCHEDULES))} or a "
                             f"fastmlp Schedule, got {schedule!r}")
    if schedule == "invscaling":
        return InvScaling(power_t)
    return SCHEDULES[schedule]()


# ------------------------------------------------------------------------------------------------------
# Early stopping
# ------------------------------------------------------------------------------------------------------

MONITORS = ("loss", "val_loss", "val_score")


@dataclass
class EarlyStopping:
    """Watches one per-epoch quantity and says when it stopped improving.

    ``monitor``: "loss" (training loss), "val_loss" (validation loss) — both minimised — or "val_score"
    (validation accuracy / R², maximised). An epoch *counts as progress* when it beats the best value so
    far by more than ``min_delta``; after ``patience`` epochs in a row without progress the plateau is
    reached (the schedule may handle it, else training stops; ``patience=None`` never stops). The best
    value (strictly best, whatever ``min_delta``) and, with ``restore_best``, its weights are kept and
    put back when training ends. The state (``best``, ``wait``, ``best_epoch``) carries over between
    calls that are handed the same object (scikit-learn's warm start)."""

    monitor: str = "val_loss"
    min_delta: float = 0.0
    patience: float | None = None
    restore_best: bool = True
    best: float = field(default=math.inf, init=False)       # in minimised form (−score for val_score)
    wait: int = field(default=0, init=False)
    best_epoch: int | None = field(default=None, init=False)
    best_theta: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.monitor not in MONITORS:
            raise ParameterError(f"monitor: expected one of {', '.join(map(repr, MONITORS))}, "
                                 f"got {self.monitor!r}")
        self.min_delta = check_param("min_delta", self.min_delta)
        if self.patience is not None and self.patience != math.inf:
            self.patience = check_param("patience", self.patience)

    @property
    def best_value(self) -> float | None:
        """The best monitored value seen, in its own sign (None before the first epoch)."""
        if not math.isfinite(self.best):
            return None
        return -self.best if self.monitor == "val_score" else self.best

    def update(self, value: float, theta: np.ndarray, epoch: int) -> bool:
        """Record one epoch's monitored ``value``; True when the plateau is reached."""
        v = -value if self.monitor == "val_score" else value
        if v > self.best - self.min_delta or not v == v:  # NaN counts as no progress
            self.wait += 1
        else:
            self.wait = 0
        if v < self.best:
            self.best = v
            self.best_epoch = epoch
            if self.restore_best:
                kept = self.best_theta
                if kept is None or kept.shape != theta.shape or kept.dtype != theta.dtype \
                        or not kept.flags.writeable:
                    self.best_theta = theta.copy()
                else:
                    np.copyto(self.best_theta, theta)
        return self.patience is not None and self.wait >= self.patience


# ------------------------------------------------------------------------------------------------------
# The epoch loop
# ------------------------------------------------------------------------------------------------------

@dataclass
class EpochPlan:
    """Everything ``run_epochs`` needs besides the model and the data (all arguments already checked)."""

    optimizer: Any                     # a _netspec.Optimizer (state kept between partial_fit calls)
    epochs: int
    batch_size: int
    shuffle: bool = True
    l2: float = 0.0
    l2_per_batch: bool = False
    schedule: Schedule = field(default_factory=Constant)
    stopping: EarlyStopping | None = None
    validation: tuple | None = None    # (X_val, Y_val encoded, sw_val or None)
    callback: Callable | None = None
    verbose: bool | None = False


@dataclass
class FitSummary:
    """How the last ``fit``/``partial_fit`` ended."""

    epochs: int = 0                 # epochs (or L-BFGS iterations) run by the call
    reason: str = "epochs"          # "epochs", "early_stopping", "callback", "converged", "max_iter",
                                    # "interrupted"
    loss: float | None = None       # the last reported training loss
    message: str = ""


def _epoch(net: Any, X, Y, sw, order: np.ndarray, batch_size: int, opt: Any, l2: float,
           l2_per_batch: bool) -> float:
    """One epoch of minibatch steps in the kernels; returns the row-weighted mean of the batches' R."""
    if opt.kind in FULL_BATCH_OPTIMIZERS:
        return _full_batch_epoch(net, X, Y, sw, order, opt, l2, l2_per_batch)
    if not l2_per_batch:
        opt.l2 = l2
        return net.train_epoch(X, Y, sw, order, batch_size, opt)
    m = order.shape[0]
    full = (m // batch_size) * batch_size
    total = 0.0
    if full:
        opt.l2 = l2 / batch_size
        total += net.train_epoch(X, Y, sw, order[:full], batch_size, opt) * full
    if m > full:
        rest = m - full
        opt.l2 = l2 / rest
        total += net.train_epoch(X, Y, sw, order[full:], rest, opt) * rest
    return total / m


FULL_BATCH_OPTIMIZERS = frozenset({"rprop"})  # one step per epoch on the gradient of all rows


def _full_batch_epoch(net: Any, X, Y, sw, order: np.ndarray, opt: Any, l2: float,
                      l2_per_batch: bool) -> float:
    """One step of a full-batch optimizer (iRprop⁻) on the gradient of R over the rows ``order`` (their order
    does not matter; all rows are used in place, a validation split's training rows gathered). Returns R."""
    m = order.shape[0]
    opt.l2 = l2 / m if l2_per_batch else l2
    if m != X.shape[0]:
        rows = np.sort(order)
        X, Y = X[rows], Y[rows]
        sw = None if sw is None else sw[rows]
    return net.full_batch_step(X, Y, sw, opt)


def divergence_error(epoch: int, raw: float, params_finite: bool, opt: Any) -> FloatingPointError:
    """The error of a pass (epoch ``epoch``) whose loss ``raw`` or whose new parameters are not finite."""
    what = f"loss is {raw}" if not math.isfinite(raw) else "the parameters are not finite"
    l2 = f" or the L2 penalty (l2={opt.l2})" if opt.l2 else ""
    return FloatingPointError(f"lr: training diverged at epoch {epoch} ({what}); lower the learning rate "
                              f"(lr={opt.lr}){l2}. The weights from before that pass are kept.")


def run_epochs(model: FastMLP, X: np.ndarray, Y: np.ndarray, sw: np.ndarray | None, order: np.ndarray,
               plan: EpochPlan) -> FitSummary:
    """Train ``model`` for up to ``plan.epochs`` epochs over the rows ``X[order]`` (reshuffled in place each
    epoch when ``plan.shuffle``). The model's curves, epoch and row counts are updated after every
    completed epoch, so an interrupted call leaves the model at its last completed epoch."""
    opt = plan.optimizer
    schedule, stopping, val = plan.schedule, plan.stopping, plan.validation
    theta = model._theta
    net = model._training_network(min(order.shape[0], FULL_BATCH) if opt.kind in FULL_BATCH_OPTIMIZERS
                                  else plan.batch_size)
    all_finite = model._backend.all_finite
    last_good = np.empty_like(theta)
    summary = FitSummary()
    schedule.check(val is not None)
    progress = epoch_progress(plan.epochs, plan.verbose)
    in_epoch = False
    try:
        for epoch in range(plan.epochs):
            schedule.before_epoch(opt, epoch, plan.epochs)
            if plan.shuffle and plan.batch_size < order.shape[0]:  # one batch: its gradient is a sum
                model._rng.shuffle(order)
            np.copyto(last_good, theta)
            in_epoch = True
            try:
                raw = _epoch(net, X, Y, sw, order, plan.batch_size, opt, plan.l2, plan.l2_per_batch)
            except (ValueError, TypeError, ArithmeticError):  # e.g. a custom activation's f failed
                np.copyto(theta, last_good)
                model._optimizer = None
                raise
            params_finite = all_finite(theta)
            if not math.isfinite(raw) or not params_finite:
                np.copyto(theta, last_good)  # the weights from before the pass; the optimizer state is spent
                model._optimizer = None
                raise divergence_error(model.n_epochs + 1, raw, params_finite, opt)
            loss = model._report_loss(raw)
            model.n_epochs += 1
            model.samples_seen += order.shape[0]
            model.loss_curve.append(loss)
            in_epoch = False
            summary.epochs += 1
            summary.loss = loss
            info = {"epoch": model.n_epochs, "loss": loss}
            if val is not None:
                vloss, vscore = model._validation_metrics(*val)
                model.val_loss_curve.append(vloss)
                model.val_score_curve.append(vscore)
                info.update(val_loss=vloss, val_score=vscore)
            if progress is not None:
                progress.update(info)
            stop = bool(plan.callback(model, info)) if plan.callback is not None else False
            if stop:
                summary.reason = "callback"
            if stopping is not None:
                if stopping.update(info[stopping.monitor], theta, model.n_epochs):
                    if schedule.on_plateau(opt):
                        stopping.wait = 0
                    else:
                        stop = True
                        summary.reason = "early_stopping"
            schedule.end_epoch(opt, model.samples_seen, info)
            if stopping is not None and stopping.best_epoch is not None:
                model.best_epoch = stopping.best_epoch
            if stop:
                break
    except KeyboardInterrupt:
        if in_epoch:  # the weights moved past the last recorded epoch: put them back
            np.copyto(theta, last_good)
            model._optimizer = None
        summary.reason = "interrupted"
        _restore_best(model, stopping)
        raise
    finally:
        if progress is not None:
            progress.close()
    _restore_best(model, stopping)
    return summary


def _restore_best(model: FastMLP, stopping: EarlyStopping | None) -> None:
    if stopping is not None and stopping.restore_best and stopping.best_theta is not None \
            and math.isfinite(stopping.best) and stopping.best_theta.shape == model._theta.shape:
        np.copyto(model._theta, stopping.best_theta)


# ------------------------------------------------------------------------------------------------------
# L-BFGS
# ------------------------------------------------------------------------------------------------------

def run_lbfgs(model: FastMLP, X: np.ndarray, Y: np.ndarray, sw: np.ndarray | None, l2: float, max_iter: int,
              max_fun: int, tol: float, callback: Callable | None = None,
              verbose: bool | None = False, l1: float = 0.0) -> FitSummary:
    """Minimise the full-batch R(θ) = Σ_i w_i L_i / n + (l2/2) Σ‖W‖² with scipy's L-BFGS-B (float64 steps,
    the loss and gradient from the kernels in the model's dtype). One iteration = one entry in the curves;
    ``tol`` is the projected-gradient tolerance (``gtol``)."""
    import scipy.optimize

    theta, grad = model._theta, model._grad
    net = model._training_network(min(X.shape[0], FULL_BATCH))
    start = theta.copy()
    summary = FitSummary()
    progress = epoch_progress(max_iter, verbose)

    def fun(x):
        theta[...] = x
        return net.loss_and_grad(X, Y, sw, l2, l1), grad.astype(np.float64)

    def on_iteration(intermediate_result):
        theta[...] = intermediate_result.x
        loss = model._report_loss(float(intermediate_result.fun))
        model.n_epochs += 1
        model.loss_curve.append(loss)
        summary.epochs += 1
        info = {"epoch": model.n_epochs, "loss": loss}
        if progress is not None:
            progress.update(info)
        if callback is not None and callback(model, info):
            raise StopIteration

    try:
        res = scipy.optimize.minimize(fun, theta.astype(np.float64), method="L-BFGS-B", jac=True,
                                      callback=on_iteration,
                                      options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol})
    finally:
        if progress is not None:
            progress.close()
    theta[...] = res.x
    if not math.isfinite(res.fun) or not model._backend.all_finite(theta):
        np.copyto(theta, start)
        model._optimizer = None
        l2_hint = f" or the L2 penalty (l2={l2})" if l2 else ""
        raise FloatingPointError(f"lr: L-BFGS diverged (loss is {res.fun}); scale the inputs{l2_hint}. "
                                 "The weights from before the call are kept.")
    summary.loss = model._report_loss(float(res.fun))
    summary.message = str(res.message)
    summary.reason = "converged" if res.status == 0 else ("callback" if res.status == 99 else "max_iter")
    summary.epochs = int(res.nit)
    return summary


def minimize_lbfgs(fun: Callable, x0: np.ndarray, max_iter: int, max_fun: int, tol: float,
                   on_iteration: Callable | None = None) -> Any:
    """scipy's L-BFGS-B with the engine's options, for a face that computes R(θ) and ∂R/∂θ (float64) its own
    way (fastmlp.dask: sums over a cluster). ``on_iteration(intermediate_result)``: StopIteration stops."""
    import scipy.optimize
    return scipy.optimize.minimize(fun, x0, method="L-BFGS-B", jac=True, callback=on_iteration,
                                   options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol})


# ------------------------------------------------------------------------------------------------------
# Class weights
# ------------------------------------------------------------------------------------------------------

def class_sample_weights(class_weight: str | dict | None, labels: np.ndarray, classes: np.ndarray,
                         dtype: type) -> np.ndarray | None:
    """Per-row weights from ``class_weight``: None, "balanced" (w_c = n / (n_classes · n_c), over the
    classes present in ``labels``) or a dict {label: weight} (labels not in it weigh 1).

    ``labels``: the rows' original labels (1-D); ``classes``: the model's sorted classes."""
    if class_weight is None:
        return None
    if isinstance(class_weight, str) and class_weight == "balanced":
        present, idx, counts = np.unique(labels, return_inverse=True, return_counts=True)
        per_class = len(labels) / (len(present) * counts.astype(np.float64))
        return np.ascontiguousarray(per_class[idx.ravel()], dtype=dtype)
    if not isinstance(class_weight, dict):
        raise ParameterError(f"class_weight: expected None, 'balanced' or a dict, got {class_weight!r}")
    per_class = np.ones(len(classes), dtype=np.float64)
    for label, weight in class_weight.items():
        pos = np.flatnonzero(classes == label)
        if len(pos) == 0:
            raise ParameterError(f"class_weight: label {label!r} is not among the classes "
                                 f"{np.asarray(classes).tolist()[:10]}")
        w = float(weight)
        if not math.isfinite(w) or w < 0:
            raise ParameterError(f"class_weight: the weight of {label!r} must be a finite number >= 0, "
                                 f"got {weight!r}")
        per_class[pos[0]] = w
    idx = np.searchsorted(classes, labels)
    return np.ascontiguousarray(per_class[idx], dtype=dtype)
