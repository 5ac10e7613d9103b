"""The commands: train, predict, plot, demo, bench. Each takes the parsed arguments and returns the exit
status; errors are raised (CLIError and the library's ValueError/TypeError/OSError) and reported by
``fastmlp.cli.main`` as one line."""
from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._atomic import atomic_path, replace_durably
from .._registry import DEFAULT_OUTPUT, REGRESSION_OUTPUT
from ..backend import get_backend
from .data import apply_scaling, fit_scaling, get_data, scaling_from_metadata, write_predictions
from .errors import EXIT_OK, CLIError, one_line

__all__ = ["cmd_train", "cmd_predict", "cmd_plot", "cmd_demo", "cmd_bench", "decide_task", "class_limit",
           "DEMOS", "TASKS", "fmt_time"]


# ----------------------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------------------
def load_model(path: str, backend: str = "auto") -> Any:
    """FastMLP.load, with its errors as ``model: ...`` CLIErrors."""
    from ..model import FastMLP
    try:
        return FastMLP.load(path, backend=backend)
    except (FileNotFoundError, ValueError, OSError) as exc:
        msg = str(exc)
        msg = msg[len("path: "):] if msg.startswith("path: ") else msg
        raise CLIError(f"model: {msg}") from None


def model_scaling(model: Any, path: str) -> dict[str, Any] | None:
    """The input scaling stored in a loaded model (None when it has none), checked."""
    return scaling_from_metadata(getattr(model, "metadata", None), model.layer_sizes[0], path)


class ScaledModel:
    """A model seen through its input scaling: it takes features in the units of the data file (the
    pictures draw the points where they are) and scales them before the network sees them."""

    def __init__(self, model: Any, scaling: dict[str, Any]) -> None:
        self._model, self._scaling = model, scaling

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._model.predict(apply_scaling(X, self._scaling))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self._model.predict_proba(apply_scaling(X, self._scaling))

    def score(self, X: np.ndarray, y: np.ndarray, *args: Any, **kwargs: Any) -> float:
        return self._model.score(apply_scaling(X, self._scaling), y, *args, **kwargs)


def check_out(path: str, option: str = "--out", inputs: Sequence[str | None] = ()) -> None:
    """Fail before the work (a long fit) when the output cannot be written where asked, or would
    overwrite one of the ``inputs`` (the data file, the model)."""
    if not path:
        raise CLIError(f"{option}: empty path")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CLIError(f"{option}: directory {parent} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"{option}: {path} is a directory; give a file name")
    if not os.access(parent, os.W_OK):
        raise CLIError(f"{option}: cannot write in {parent}")
    for src in inputs:
        if src is not None and os.path.exists(path) and os.path.exists(src) and os.path.samefile(path, src):
            raise CLIError(f"{option}: {path} is the input file {src}; give another name")


def check_dir(path: str, option: str) -> None:
    """Like check_out, for a directory of pictures that is created if needed."""
    if not path:
        raise CLIError(f"{option}: empty path")
    if os.path.exists(path) and not os.path.isdir(path):
        raise CLIError(f"{option}: {path} exists and is not a directory")
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise CLIError(f"{option}: cannot create {path}: {existing} is not a directory")
    if not os.access(existing, os.W_OK):
        raise CLIError(f"{option}: cannot write in {existing}")


def _metric_name(model: Any) -> str:
    return "accuracy" if model.is_classifier else "R²"


def _is_label_like(y: np.ndarray) -> bool:
    return y.dtype.kind in "biuUSO"


def _head(y: np.ndarray, output: str, loss: str | None) -> tuple[str, int]:
    """(output, d_out) for the targets: softmax over the classes for labels, identity for numbers."""
    from .._registry import OUTPUT_OF_LOSS, REGRESSION_OUTPUT, canonical_activation
    softmax, sigmoid = OUTPUT_OF_LOSS["cross_entropy"], OUTPUT_OF_LOSS["binary_cross_entropy"]
    labels = _is_label_like(y)
    if output == "auto":
        if y.ndim == 2:
            binary = y.dtype.kind in "biu" and np.isin(y, (0, 1)).all()
            output = sigmoid if binary else REGRESSION_OUTPUT
        elif labels and loss in (None, "cross_entropy"):
            output = softmax
        elif labels and loss == "binary_cross_entropy":
            output = sigmoid
        else:
            output = REGRESSION_OUTPUT
    try:
        name = canonical_activation(output)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"--output: {str(exc).replace('activation: ', '')}") from None
    if name == softmax:
        if y.ndim != 1:
            raise CLIError(f"--output {output}: needs one label per sample, got targets of shape {y.shape}")
        n_cls = len(np.unique(y))
        if n_cls < 2:
            raise CLIError(f"y: found only one class ({np.unique(y)[0]}); classification needs at least 2")
        return output, n_cls
    if y.dtype.kind in "USO":
        if name == sigmoid and y.ndim == 1 and loss in (None, "binary_cross_entropy"):
            n_cls = len(np.unique(y))
            if n_cls != 2:
                raise CLIError(f"--output {output}: needs exactly 2 classes, found {n_cls}; use {softmax}")
            return output, 1
        raise CLIError(f"--output {output}: needs numeric targets, found text labels; use {softmax}")
    if name == sigmoid and y.ndim == 1 and loss in (None, "binary_cross_entropy"):
        n_cls = len(np.unique(y))
        if n_cls > 2:
            raise CLIError(f"--output {output}: needs exactly 2 classes, found {n_cls}; use {softmax}")
    return output, 1 if y.ndim == 1 else y.shape[1]


# ----------------------------------------------------------------------------------------------------
# --task: classify or regress
# ----------------------------------------------------------------------------------------------------
TASKS = ("auto", "classify", "regress")
MIN_CLASS_LIMIT = 20


def class_limit(n_samples: int) -> int:
    """The most distinct whole-number targets that ``--task auto`` reads as class labels:
    max(20, ⌊√n_samples⌋). Class labels repeat (a class has many samples); a score or a count spreads
    over as many values as there are samples (the diabetes progression score: 214 values in 442 rows)."""
    return max(MIN_CLASS_LIMIT, math.isqrt(max(int(n_samples), 0)))


def classifying_head(output: str, loss: str | None) -> str | None:
    """The option that asks for a classifier ("--output softmax", "--loss cross_entropy"), if one does:
    the loss given, or the one the output implies, is a classification loss (from the registry)."""
    from .._registry import LOSS_OF_OUTPUT, LOSS_TABLE, canonical_activation
    if loss is not None:
        return f"--loss {loss}" if LOSS_TABLE[loss].classifier else None
    if output == "auto":
        return None
    try:
        name = canonical_activation(output)
    except (TypeError, ValueError):
        return None  # reported by _head, in its words
    implied = LOSS_OF_OUTPUT.get(name)
    return f"--output {output}" if implied is not None and LOSS_TABLE[implied].classifier else None


def _whole_numbers(y: np.ndarray) -> bool:
    if y.dtype.kind in "biu":
        return True
    if y.dtype.kind != "f" or y.size == 0 or not np.isfinite(y).all():
        return False
    return bool(np.all(np.mod(y, 1) == 0) and np.abs(y).max() < 2 ** 53)


def _as_labels(y: np.ndarray) -> np.ndarray:
    return y.astype(np.int64) if y.dtype.kind == "f" else y


def decide_task(y: np.ndarray, task: str = "auto",
                head: str | None = None) -> tuple[np.ndarray, str, str]:
    """(targets in the form the task trains on, "classify" or "regress", why) for ``--task``.

    ``auto``: text or boolean labels are classified; numbers with a fractional part are regressed;
    whole numbers are classified when they take at most ``class_limit(n)`` = max(20, ⌊√n⌋) distinct
    values, else regressed. Targets with several columns are classified (multi-label) when all 0/1.
    ``head`` (see ``classifying_head``) names an option that asks for a classifier: auto then classifies,
    and ``--task regress`` is refused. Whole-number float targets become int64 labels when classified;
    numbers become float64 when regressed."""
    kind, n = y.dtype.kind, len(y)
    text = kind in "USO"
    whole = not text and _whole_numbers(y)
    if text and y.ndim == 2:
        raise CLIError(f"y: targets with {y.shape[1]} columns must be numeric, found text")
    if task == "regress":
        if text:
            raise CLIError("--task regress: needs numeric targets, found text labels")
        if head is not None:
            raise CLIError(f"--task regress: {head} trains a classifier; drop it or use --task classify")
        return y.astype(np.float64), "regress", "as asked by --task regress"
    if y.ndim == 2:
        binary = whole and bool(np.isin(y, (0, 1)).all())
        if task == "classify" and not binary:
            raise CLIError(f"--task classify: targets with {y.shape[1]} columns must be 0/1 (multi-label)")
        if binary:
            why = "as asked by --task classify" if task == "classify" else \
                f"auto: 0/1 targets in {y.shape[1]} columns, multi-label"
            return y.astype(np.int64), "classify", why
        return y.astype(np.float64), "regress", f"auto: {y.shape[1]} target columns, not all 0/1"
    if task == "classify":
        if not text and not whole:
            example = _fractional_example(y)
            raise CLIError(f"--task classify: the targets are not class labels (non-integer values such as "
                           f"{example}); use --task regress")
        return _as_labels(y), "classify", "as asked by --task classify"
    if text:
        return y, "classify", "auto: text labels"
    if kind == "b":
        return y, "classify", "auto: boolean targets"
    if head is not None:
        return (_as_labels(y) if whole else y), "classify", f"auto: {head} asks for classes"
    if not whole:
        return y.astype(np.float64), "regress", \
            f"auto: numeric targets with non-integer values such as {_fractional_example(y)}"
    k, limit = len(np.unique(y)), class_limit(n)
    if k <= limit:
        return _as_labels(y), "classify", (f"auto: whole-number targets with {k} distinct values, at most "
                                           f"max(20, √n) = {limit}; --task regress to override")
    return y.astype(np.float64), "regress", (f"auto: whole-number targets with {k} distinct values, more "
                                             f"than max(20, √n) = {limit} for class labels; --task classify "
                                             "to override")


def _fractional_example(y: np.ndarray) -> str:
    v = np.asarray(y, dtype=np.float64).ravel()
    bad = v[~np.isfinite(v) | (np.mod(v, 1) != 0)]
    return f"{bad[0]:g}" if bad.size else "?"


def _verbosity(args: argparse.Namespace) -> bool | None:
    if getattr(args, "quiet", False):
        return False
    if getattr(args, "verbose", False):
        return True
    return None


class Printer:
    """print() unless --quiet; to stderr when stdout carries data (predictions on stdout)."""

    def __init__(self, quiet: bool = False, stream: Any = None) -> None:
        self.quiet, self.stream = quiet, stream

    def __call__(self, *parts: object) -> None:
        if not self.quiet:
            print(*parts, file=self.stream or sys.stdout, flush=True)


def _describe(model: Any) -> str:
    acts = model.spec.activations
    hidden = ", ".join(sorted(set(acts[:-1]), key=acts.index)) or "no hidden layer"
    return f"{model.layer_sizes} ({hidden}; {acts[-1]} output, {model.spec.loss})"


def _require_plotting() -> None:
    from ..plotting import _require_matplotlib
    _require_matplotlib()


def save_png(draw: Callable[[str], object], path: str) -> str:
    """``draw(tmp)`` writes a picture to a temporary file beside ``path``, which then replaces ``path``
    atomically (the plotting functions open the file they are given themselves)."""
    with atomic_path(path) as tmp:
        draw(tmp)
    return path


def plot_activations_atomically(out_dir: str, **kwargs: Any) -> list[str]:
    """``plotting.plot_activations`` into ``out_dir``, every PNG put in place atomically: they are drawn in
    a temporary directory inside ``out_dir``, then each renamed over its final name."""
    from .. import plotting
    os.makedirs(out_dir, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix=".fastmlp-plots.", dir=out_dir)
    try:
        written = []
        for p in plotting.plot_activations(tmp_dir, **kwargs):
            dest = os.path.join(out_dir, os.path.basename(p))
            replace_durably(p, dest)
            written.append(dest)
        return written
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _write_plots(model: Any, X: np.ndarray, y: np.ndarray | None, out_dir: str,
                 say: Callable[..., None]) -> None:
    from .. import plotting
    os.makedirs(out_dir, exist_ok=True)
    say(f"wrote {save_png(lambda p: plotting.plot_curves(model, p), os.path.join(out_dir, 'curves.png'))}")
    if X.shape[1] == 2:
        path = save_png(lambda p: plotting.plot_decision_boundary(model, X, y, p),
                        os.path.join(out_dir, "boundary.png"))
        say(f"wrote {path}")
    elif X.shape[1] == 1:
        path = save_png(lambda p: plotting.plot_fit_1d(model, X, y, p), os.path.join(out_dir, "fit.png"))
        say(f"wrote {path}")


def fmt_time(s: float | None) -> str:
    """Seconds in a short human unit: "1.23 s", "45.6 ms", "789 us", "12 ns"."""
    if s is None:
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


# ----------------------------------------------------------------------------------------------------
# train
# ----------------------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    """Train a network on a data file or a built-in dataset and save it."""
    from ..model import FastMLP
    say = Printer(args.quiet)
    check_out(args.out, inputs=[args.data])
    if getattr(args, "scheduler", None) is not None or getattr(args, "dask_workers", None) is not None:
        if args.plot is not None:
            raise CLIError("--plot: not available when training on a cluster")
        from .cluster import cmd_train_cluster  # imports dask: only on request
        return cmd_train_cluster(args, say)
    if args.plot is not None:
        check_dir(args.plot, "--plot")
        _require_plotting()
    X, y, source = get_data(args, need_y=True)
    y, task, why = decide_task(y, args.task, classifying_head(args.output, args.loss))
    say(f"task: {task} ({why})")
    scaling = fit_scaling(X, args.scale)
    Xs = apply_scaling(X, scaling)
    output, d_out = _head(y, args.output, args.loss)
    sizes = [X.shape[1], *args.hidden, d_out]
    model = FastMLP(sizes, activation=args.activation, output=output, loss=args.loss,
                    dtype=np.dtype(args.dtype).type, seed=args.seed, backend=args.backend, l2=args.l2)
    if scaling is not None:
        model.metadata["input_scaling"] = scaling
    t0 = time.perf_counter()
    model.fit(Xs, y, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
              validation_split=args.validation_split, patience=args.patience, verbose=_verbosity(args))
    dt = time.perf_counter() - t0
    model.save(args.out)
    metric = _metric_name(model)
    summary = [f"trained {_describe(model)} on {X.shape[0]} samples from {source}",
               f"{model.n_epochs} epochs in {fmt_time(dt)}", f"loss {model.loss_curve[-1]:.4f}"]
    if model.val_loss_curve:
        b = (model.best_epoch or len(model.val_loss_curve)) - 1
        summary.append(f"best epoch {b + 1}: val_loss {model.val_loss_curve[b]:.4f}, "
                       f"val {metric} {model.val_score_curve[b]:.4f}")
    else:
        summary.append(f"training {metric} {model.score(Xs, y):.4f}")
    say("; ".join(summary))
    say(f"saved the model to {args.out}" + ("" if scaling is None else
                                            f" (with its {scaling['method']} input scaling)"))
    if args.plot is not None:
        _write_plots(model if scaling is None else ScaledModel(model, scaling), X, y, args.plot, say)
    return EXIT_OK


# ----------------------------------------------------------------------------------------------------
# predict
# ----------------------------------------------------------------------------------------------------
def cmd_predict(args: argparse.Namespace) -> int:
    """Predict with a saved model; the file is written only once everything (scoring included) worked."""
    model = load_model(args.model, args.backend)
    scaling = model_scaling(model, args.model)
    to_stdout = args.out is None or args.out == "-"
    if not to_stdout:
        check_out(args.out, inputs=[args.model, args.data])
    if args.proba and not model.is_classifier:
        raise CLIError("--proba: only classification models (softmax or sigmoid output) have probabilities")
    say = Printer(args.quiet, sys.stderr if to_stdout else None)
    X, y, source = get_data(args, need_y=False, n_features=model.layer_sizes[0])
    if scaling is not None and (X.ndim != 2 or X.shape[1] != model.layer_sizes[0]):
        # the model's own words, before the scaling would fail to broadcast
        raise ValueError(f"X: expected {model.layer_sizes[0]} features (columns), got {X.shape[-1]}")
    Xs = apply_scaling(X, scaling)
    pred = np.asarray(model.predict(Xs))
    proba = np.asarray(model.predict_proba(Xs)) if args.proba else None
    score = None
    if y is not None:
        try:
            score = model.score(Xs, y)
        except (TypeError, ValueError) as exc:
            raise CLIError(f"targets in {source}: {one_line(exc)}") from None
    write_predictions(args.out, pred, proba, model.classes_, model.dtype)
    msg = f"wrote {len(pred)} predictions for {source}" + ("" if to_stdout else f" to {args.out}")
    if score is not None:
        msg += f"; {_metric_name(model)} {score:.4f}"
    say(msg)
    return EXIT_OK


# ----------------------------------------------------------------------------------------------------
# plot
# ----------------------------------------------------------------------------------------------------
def cmd_plot(args: argparse.Namespace) -> int:
    """Draw activations, training curves or a decision boundary as PNG files."""
    from .. import plotting
    say = Printer(args.quiet)
    _require_plotting()  # before any work: loading a model, generating a dataset
    if args.what == "activations":
        check_dir(args.out, "--out")
        paths = plot_activations_atomically(args.out, names=args.names, size=args.size, dpi=args.dpi,
                                            overview=not args.no_overview)
        for p in paths:
            say(f"wrote {p}")
        return EXIT_OK
    check_out(args.out, inputs=[args.model, getattr(args, "data", None)])
    model = load_model(args.model, args.backend)
    size, dpi = args.size, args.dpi
    if args.what == "curves":
        say(f"wrote {save_png(lambda p: plotting.plot_curves(model, p, size=size, dpi=dpi), args.out)}")
        return EXIT_OK
    scaling = model_scaling(model, args.model)
    if model.layer_sizes[0] not in (1, 2):
        raise CLIError(f"model: a decision boundary needs a model with 2 inputs (or 1 for a fitted curve), "
                       f"this one has {model.layer_sizes[0]}")
    X, y, _ = get_data(args, need_y=False, n_features=model.layer_sizes[0])
    view = model if scaling is None else ScaledModel(model, scaling)
    if X.shape[1] == 1:  # the beans: the fitted curve over the points
        path = save_png(lambda p: plotting.plot_fit_1d(view, X, y, p, size=size, dpi=dpi), args.out)
    elif X.shape[1] == 2:
        path = save_png(lambda p: plotting.plot_decision_boundary(view, X, y, p, size=size, dpi=dpi,
                                                                  resolution=args.resolution), args.out)
    else:
        raise CLIError(f"data: a decision boundary needs 2 features (or 1 for a fitted curve), "
                       f"got {X.shape[1]}")
    say(f"wrote {path}")
    return EXIT_OK


# ----------------------------------------------------------------------------------------------------
# demo
# ----------------------------------------------------------------------------------------------------
# dataset -> (generator options, hidden sizes, activation, optimizer, lr, epochs)
DEMOS: dict[str, tuple[dict[str, Any], list[int], str, str, float, int]] = {  # activation names as data
    "two_spirals": (dict(n_samples=2000, turns=2.0, noise=0.02), [64, 64], "relu", "adam", 0.003, 40),
    "moons": (dict(n_samples=1000, noise=0.2), [32, 32], "relu", "adam", 0.01, 30),
    "xor": (dict(n_samples=800, noise=0.15), [8], "tanh", "adam", 0.02, 30),
    "blobs": (dict(n_samples=900, centers=4, cluster_std=1.5), [16], "relu", "adam", 0.01, 30),
}


def cmd_demo(args: argparse.Namespace) -> int:
    """A real training run on a generated dataset, printing loss and accuracy per epoch."""
    from .. import datasets
    from ..model import FastMLP
    opts, hidden, act, opt, lr, epochs = DEMOS[args.dataset]
    if args.save:
        check_out(args.save, "--save")
    if args.plot is not None:
        check_dir(args.plot, "--plot")
        _require_plotting()
    epochs = args.epochs or epochs
    X, y = datasets.load(args.dataset, seed=args.seed, dtype=np.float32, **opts)
    # Our own split, so that each epoch can also report the accuracy on the training part.
    perm = np.random.default_rng(args.seed).permutation(len(y))
    n_val = len(y) // 5
    va, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    n_cls = len(np.unique(y))
    model = FastMLP([X.shape[1], *hidden, n_cls], activation=act, output=DEFAULT_OUTPUT, dtype=np.float32,
                    seed=args.seed, backend=args.backend)
    print(f"fastmlp demo: the {args.dataset} dataset ({len(y)} points, {n_cls} classes; "
          f"{len(tr)} for training, {len(va)} held out for validation)")
    print(f"network {model.layer_sizes}: {act} hidden layers, softmax output, cross-entropy; "
          f"{opt} (lr {lr}), batch 32, float32, {get_backend(model.backend).NAME} backend")
    width = len(str(epochs))

    def report(m: Any, info: dict[str, Any]) -> None:
        acc = m.score(X[tr], y[tr])
        print(f"epoch {info['epoch']:{width}d}/{epochs}  loss {info['loss']:.4f}  accuracy {acc:.3f}  "
              f"val_loss {info['val_loss']:.4f}  val_accuracy {info['val_score']:.3f}", flush=True)

    t0 = time.perf_counter()
    model.fit(X[tr], y[tr], epochs=epochs, batch_size=32, lr=lr, optimizer=opt,
              validation_data=(X[va], y[va]), verbose=False, callback=report)
    dt = time.perf_counter() - t0
    print(f"done in {dt:.2f} s: validation accuracy {model.score(X[va], y[va]):.3f} "
          f"(weights of the best epoch, {model.best_epoch}, kept)")
    if args.save:
        model.save(args.save)
        print(f"saved the model to {args.save}")
    if args.plot is not None:
        _write_plots(model, X, y, args.plot, print)
    return EXIT_OK


# ----------------------------------------------------------------------------------------------------
# bench
# ----------------------------------------------------------------------------------------------------
def _per_call(fn: Callable[[], object], budget: float) -> float:
    """Seconds per call of ``fn``: calls in a loop sized to about budget/4, best of three loops."""
    fn()  # warm-up: first-touch page faults, lazy workspaces
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= budget / 4 or n >= 1 << 20:
            break
        n = n * 2 if dt <= 0 else max(2 * n, int(n * budget / 4 / dt) + 1)
    best = dt / n
    for _ in range(2):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def cmd_bench(args: argparse.Namespace) -> int:
    """Time a training step (``partial_fit`` on one minibatch) and a predict call with each backend."""
    from ..backend import cython_available
    from ..model import FastMLP
    sizes, dtype = args.layers, np.dtype(args.dtype).type
    output = DEFAULT_OUTPUT if sizes[-1] >= 2 else REGRESSION_OUTPUT
    rng = np.random.default_rng(0)
    Xb = rng.standard_normal((args.batch_size, sizes[0])).astype(dtype)
    Xp = rng.standard_normal((args.rows, sizes[0])).astype(dtype)
    if output == DEFAULT_OUTPUT:
        yb = rng.integers(0, sizes[-1], args.batch_size).astype(np.intp)
    else:
        yb = rng.standard_normal((args.batch_size, 1)).astype(dtype)
    results: dict[str, tuple[float | None, float | None]] = {}
    for name in ("cython", "numpy"):
        if name == "cython" and not cython_available():
            results[name] = (None, None)
            continue
        model = FastMLP(sizes, activation=args.activation, output=output, dtype=dtype, seed=0, backend=name)
        step = _per_call(lambda: model.partial_fit(Xb, yb, batch_size=args.batch_size,  # noqa: B023
                                                   lr=1e-4, optimizer=args.optimizer), args.time)
        pred = _per_call(lambda: model.predict(Xp), args.time)  # noqa: B023
        results[name] = (step, pred)
    print(f"fastmlp bench: layers {sizes}, {args.activation}, {np.dtype(dtype).name}, {args.optimizer}; "
          f"best per-call time of 3 loops")
    rows = [(f"train step (batch {args.batch_size})", 0), (f"predict ({args.rows} rows)", 1)]
    print(f"{'':24}{'cython':>12}{'numpy':>12}{'numpy/cython':>15}")
    for label, k in rows:
        c, n = results["cython"][k], results["numpy"][k]
        ratio = f"{n / c:.2f}x" if c and n else "n/a"
        print(f"{label:24}{fmt_time(c):>12}{fmt_time(n):>12}{ratio:>15}")
    if results["cython"][0] is None:
        print("the Cython extension is not built: only the numpy backend was timed (pip install .)")
    return EXIT_OK
