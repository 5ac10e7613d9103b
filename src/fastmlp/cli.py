"""The ``fastmlp`` command (also ``python -m fastmlp``).

    fastmlp demo                                              # a real training run, loss/accuracy per epoch
    fastmlp train --dataset moons --hidden 32,32 -o moons.npz # a built-in dataset
    fastmlp train data.csv --target label --epochs 100 -o model.npz
    fastmlp predict model.npz data.csv -o predictions.csv
    fastmlp plot activations -o plots/                        # every activation and its derivative
    fastmlp plot curves model.npz -o curves.png               # training and validation curves
    fastmlp plot boundary moons.npz --dataset moons -o boundary.png
    fastmlp bench                                             # cython vs numpy backend timings

Errors (bad arguments, unreadable or malformed files, data the model refuses) are reported as one line on
stderr, ``fastmlp <command>: error: ...``, with exit status 2 for bad command-line usage and 1 otherwise;
set ``FASTMLP_TRACEBACK=1`` to see the traceback of an unexpected error.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import time
import zipfile

import numpy as np

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: ...)" only where there is a default worth showing."""

    def _fill_text(self, text, width, indent):
        # Text with line breaks (the examples) is laid out by hand; the rest is wrapped as usual.
        if "\n" in text:
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action):
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block): ``fastmlp train: error: ... (see --help)``."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {_one_line(message)} (see '{self.prog} --help')\n")


def _one_line(text):
    return " ".join(str(text).split())


# ----------------------------------------------------------------------------------------------------
# Argument types (their errors read "argument --hidden: ...")
# ----------------------------------------------------------------------------------------------------
def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _seed(text):
    # numpy's generators take non-negative seeds only.
    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


def _nonneg_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return v


def _pos_float(text):
    v = _nonneg_float(text)
    if v == 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return v


def _split_fraction(text):
    v = _nonneg_float(text)
    if v >= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return v


def _int_list(text, what="sizes", allow_empty=True):
    t = text.strip().lower()
    if allow_empty and t in ("", "none", "0", "[]"):
        return []
    try:
        sizes = [int(s) for s in t.strip("[]()").replace(" ", "").split(",") if s != ""]
    except ValueError:
        sizes = None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive {what} like 64,32, got {text!r}")
    return sizes


def _hidden(text):
    return _int_list(text, "layer sizes")


def _layers(text):
    sizes = _int_list(text, "layer sizes", allow_empty=False)
    if len(sizes) < 2:
        raise argparse.ArgumentTypeError(f"expected at least an input and an output size, got {text!r}")
    return sizes


def _activation(text):
    """``relu`` or ``leaky_relu:0.1`` -> "relu" or ("leaky_relu", 0.1)."""
    from ._netspec import DEFAULT_PARAM, parse_activation
    name, _, param = text.partition(":")
    try:
        if param:
            if not _is_number(param):
                raise ValueError(f"expected NAME:NUMBER, e.g. leaky_relu:0.1, got {text!r}")
            spec = (name, float(param))
            if parse_activation(spec)[0] not in DEFAULT_PARAM:
                raise ValueError(f"{name} takes no parameter; only {', '.join(DEFAULT_PARAM)} do")
            return spec
        parse_activation(name)
        return name
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("activation: ", "")) from None


def _dataset(text):
    from .datasets import canonical_name
    try:
        return canonical_name(text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("dataset: ", "")) from None


def _size(text):
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h)) if sep else None
    except ValueError:
        size = None
    if size is None or min(size) < 16 or max(size) > 10000:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT in pixels (16 to 10000 each), e.g. 800x600, got {text!r}")
    return size


def _names(text):
    from ._netspec import canonical_activation
    names = [n for n in text.replace(" ", "").split(",") if n]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated activation names, e.g. relu,tanh")
    try:
        out = [canonical_activation(n) for n in names]
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("activation: ", "")) from None
    if "softmax" in out:
        raise argparse.ArgumentTypeError("softmax is not elementwise; it has no curve f(x)")
    return out


# ----------------------------------------------------------------------------------------------------
# Reading data: CSV / TSV text, .npz archives, built-in datasets
# ----------------------------------------------------------------------------------------------------
def _is_number(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


def _read_text_table(path):
    """(header or None, rows as lists of stripped strings) from a delimited text file."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise CLIError(f"data: {path} is not a text (CSV) file") from None
    except IsADirectoryError:
        raise CLIError(f"data: {path} is a directory, not a file") from None
    if "\x00" in text[:4096]:
        raise CLIError(f"data: {path} is not a text (CSV) file")
    # Blank and comment lines are skipped; errors still name the line of the file (1-based).
    numbered = [(k, ln) for k, ln in enumerate(text.splitlines(), 1)
                if ln.strip() and not ln.lstrip().startswith("#")]
    if not numbered:
        raise CLIError(f"data: {path} has no data rows")
    line_nos, lines = [k for k, _ in numbered], [ln for _, ln in numbered]
    first = lines[0]
    if path.lower().endswith(".tsv") or ("\t" in first and "," not in first):
        delim = "\t"
    elif ";" in first and "," not in first:
        delim = ";"
    else:
        delim = ","
    rows = [[c.strip() for c in r] for r in csv.reader(lines, delimiter=delim)]
    header = None
    if _is_header(rows):
        header, rows, line_nos = rows[0], rows[1:], line_nos[1:]
    if not rows:
        raise CLIError(f"data: {path} has a header but no data rows")
    width = len(header) if header is not None else len(rows[0])
    for r, line in zip(rows, line_nos):
        if len(r) != width:
            raise CLIError(f"data: {path} row {line} has {len(r)} columns, expected {width}")
    return header, rows, line_nos


def _is_header(rows):
    """Whether the first row names the columns: every cell of it is text, or some column is numeric below
    it but not in it. (A headerless file with text labels has text in its first row too.)"""
    first = [_is_number(c) for c in rows[0]]
    if not any(first):
        return True
    rest = rows[1:]
    return bool(rest) and any(
        not num and all(j < len(r) and _is_number(r[j]) for r in rest) for j, num in enumerate(first))


def _column_index(target, header, width, path):
    if header is not None and target in header:
        return header.index(target)
    try:
        j = int(target)
    except ValueError:
        where = f"columns: {', '.join(header)}" if header else "the file has no header; use a column number"
        raise CLIError(f"--target: no column {target!r} in {path} ({where})") from None
    if not -width <= j < width:
        raise CLIError(f"--target: column {j} is out of range for {path} ({width} columns)")
    return j % width


def _parse_labels(values, path, name):
    """Targets from text: int64 when every value is an integer, float64 when numeric, else strings."""
    if any(v == "" for v in values):
        raise CLIError(f"data: {path} has an empty value in target column {name!r}")
    if all(_is_number(v) for v in values):
        y = np.array([float(v) for v in values])
        if not np.isfinite(y).all():
            raise CLIError(f"data: {path} has NaN or infinite targets in column {name!r}")
        if np.all(np.mod(y, 1) == 0) and np.abs(y).max() < 2 ** 53:
            return y.astype(np.int64)
        return y
    return np.array(values, dtype=str)


def _features(rows, cols, header, path, line_nos):
    X = np.empty((len(rows), len(cols)), dtype=np.float64)
    for j, c in enumerate(cols):
        for i, r in enumerate(rows):
            try:
                X[i, j] = float(r[c])
            except ValueError:
                name = header[c] if header else f"column {c}"
                raise CLIError(f"data: {path} row {line_nos[i]}, {name!r}: {r[c]!r} is not a number "
                               "(features must be numeric)") from None
    if not np.isfinite(X).all():
        i, j = np.argwhere(~np.isfinite(X))[0]
        name = header[cols[j]] if header else f"column {cols[j]}"
        raise CLIError(f"data: {path} row {line_nos[i]}, {name!r}: missing or non-finite value")
    return X


def _read_npz(path, need_y):
    if not zipfile.is_zipfile(path):
        raise CLIError(f"data: {path} is not a .npz archive (expected arrays X and y saved by numpy.savez)")
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.files)
            kx = next((k for k in ("X", "x") if k in keys), None)
            ky = next((k for k in ("y", "Y") if k in keys), None)
            if kx is None:
                raise CLIError(f"data: {path} has no array 'X' (it holds: {', '.join(keys) or 'nothing'})")
            if need_y and ky is None:
                raise CLIError(f"data: {path} has no array 'y' of targets (it holds: {', '.join(keys)})")
            X = data[kx]
            y = data[ky] if ky is not None else None
    except CLIError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise CLIError(f"data: {path} holds pickled objects; refusing to load") from None
        raise CLIError(f"data: {path} is not a readable .npz archive ({_one_line(exc)})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise CLIError(f"data: {path} is not a readable .npz archive ({_one_line(exc)})") from None
    if X.ndim != 2:
        raise CLIError(f"data: X in {path} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if y is not None and (y.ndim not in (1, 2) or y.shape[0] != X.shape[0]):
        raise CLIError(f"data: y in {path} must have one row per sample of X ({X.shape[0]}), "
                       f"got shape {y.shape}")
    return X, y


def read_data(path, target=None, need_y=True, n_features=None):
    """(X, y) from a CSV/TSV (target column: ``target`` name or index, default the last) or a .npz with
    arrays ``X`` and ``y``. With ``need_y=False`` the targets are optional: a file with ``n_features``
    columns is all features; one with ``n_features + 1`` (or with ``target`` given) also has targets."""
    if not os.path.exists(path):
        raise CLIError(f"data: no such file: {path}")
    if os.path.isdir(path):
        raise CLIError(f"data: {path} is a directory, not a file")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npz":
        if target is not None:
            raise CLIError("--target: applies to CSV files; a .npz holds its targets in array 'y'")
        return _read_npz(path, need_y)
    if ext not in (".csv", ".tsv", ".txt", ".dat"):
        raise CLIError(f"data: {path}: unsupported file type {ext or '(none)'!r}; expected .csv, .tsv, "
                       ".txt or .npz")
    header, rows, line_nos = _read_text_table(path)
    width = len(rows[0])
    if target is None and not need_y:
        if n_features is not None and width == n_features:
            return _features(rows, range(width), header, path, line_nos), None
        if n_features is not None and width != n_features + 1:
            raise CLIError(f"data: {path} has {width} columns but the model expects {n_features} "
                           f"features (or {n_features + 1} columns with the target last)")
    if target is None:
        if width < 2:
            raise CLIError(f"data: {path} has a single column; need features and a target column")
        j = width - 1
    else:
        j = _column_index(target, header, width, path)
    cols = [c for c in range(width) if c != j]
    if not cols:
        raise CLIError(f"data: {path} has no feature columns besides the target")
    name = header[j] if header else f"column {j}"
    y = _parse_labels([r[j] for r in rows], path, name)
    return _features(rows, cols, header, path, line_nos), y


# Sizes/noise that the command line uses when not given: the library default of xor is the four-point
# truth table, too small to split for validation or to draw a boundary around.
_CLI_DATASET_DEFAULTS = {"xor": {"n_samples": 400, "noise": 0.15}}
_NOISE_PARAM = {"xor": "noise", "two_spirals": "noise", "moons": "noise", "blobs": "cluster_std"}


def make_dataset(name, n_samples=None, noise=None, seed=0, dtype=np.float64):
    """A built-in dataset from command-line options."""
    from . import datasets
    kwargs = dict(_CLI_DATASET_DEFAULTS.get(name, {}))
    if n_samples is not None:
        kwargs["n_samples"] = n_samples
    if noise is not None:
        if name not in _NOISE_PARAM:
            raise CLIError(f"--noise: the {name} dataset has no noise parameter")
        kwargs.pop("noise", None)
        kwargs[_NOISE_PARAM[name]] = noise
    try:
        return datasets.load(name, seed=seed, dtype=dtype, **kwargs)
    except ImportError as exc:
        raise CLIError(f"--dataset {name}: {exc}".replace(f"{name}: needs", "needs")) from None


def _get_data(args, need_y=True, n_features=None):
    """(X, y, description) from a data file or --dataset."""
    path, name = getattr(args, "data", None), getattr(args, "dataset", None)
    if path is not None and name is not None:
        raise CLIError("data: give a data file or --dataset, not both")
    if path is None and name is None:
        raise CLIError("data: give a data file (CSV or .npz) or --dataset NAME")
    if name is not None:
        if getattr(args, "target", None) is not None:
            raise CLIError("--target: applies to data files, not to --dataset")
        X, y = make_dataset(name, args.n_samples, args.noise, args.seed)
        return X, y, f"the {name} dataset"
    if getattr(args, "n_samples", None) is not None or getattr(args, "noise", None) is not None:
        raise CLIError("--n-samples/--noise: apply to --dataset, not to a data file")
    X, y = read_data(path, getattr(args, "target", None), need_y, n_features)
    return X, y, path


# ----------------------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------------------
def _load_model(path, backend="auto"):
    from .model import FastMLP
    try:
        return FastMLP.load(path, backend=backend)
    except (FileNotFoundError, ValueError, OSError) as exc:
        msg = str(exc)
        msg = msg[len("path: "):] if msg.startswith("path: ") else msg
        raise CLIError(f"model: {msg}") from None


def _check_out(path, option="--out", inputs=()):
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


def _check_dir(path, option):
    """Like _check_out, for a directory of pictures that is created if needed."""
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


def _metric_name(model):
    return "accuracy" if model.is_classifier else "R²"


def _is_label_like(y):
    return y.dtype.kind in "biuUSO"


def _head(y, output, loss):
    """(output, d_out) for the targets: softmax over the classes for labels, identity for numbers."""
    from ._netspec import canonical_activation
    labels = _is_label_like(y)
    if output == "auto":
        if y.ndim == 2:
            binary = y.dtype.kind in "biu" and np.isin(y, (0, 1)).all()
            output = "sigmoid" if binary else "identity"
        elif labels and loss in (None, "cross_entropy"):
            output = "softmax"
        elif labels and loss == "binary_cross_entropy":
            output = "sigmoid"
        else:
            output = "identity"
    if output == "softmax":
        if y.ndim != 1:
            raise CLIError(f"--output softmax: needs one label per sample, got targets of shape {y.shape}")
        n_cls = len(np.unique(y))
        if n_cls < 2:
            raise CLIError(f"y: found only one class ({np.unique(y)[0]}); classification needs at least 2")
        return output, n_cls
    try:
        name = canonical_activation(output)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"--output: {str(exc).replace('activation: ', '')}") from None
    if y.dtype.kind in "USO":
        if name == "logistic" and y.ndim == 1 and loss in (None, "binary_cross_entropy"):
            n_cls = len(np.unique(y))
            if n_cls != 2:
                raise CLIError(f"--output sigmoid: needs exactly 2 classes, found {n_cls}; use softmax")
            return output, 1
        raise CLIError(f"--output {output}: needs numeric targets, found text labels; use softmax")
    if name == "logistic" and y.ndim == 1 and loss in (None, "binary_cross_entropy"):
        n_cls = len(np.unique(y))
        if n_cls > 2:
            raise CLIError(f"--output sigmoid: needs exactly 2 classes, found {n_cls}; use softmax")
    return output, 1 if y.ndim == 1 else y.shape[1]


def _verbosity(args):
    if getattr(args, "quiet", False):
        return False
    if getattr(args, "verbose", False):
        return True
    return None


class _Printer:
    """print() unless --quiet; to stderr when stdout carries data (``-o -``)."""

    def __init__(self, quiet=False, stream=None):
        self.quiet, self.stream = quiet, stream

    def __call__(self, *parts):
        if not self.quiet:
            print(*parts, file=self.stream or sys.stdout, flush=True)


def _describe(model):
    acts = model.spec.activations
    hidden = ", ".join(sorted(set(acts[:-1]), key=acts.index)) or "no hidden layer"
    return f"{model.layer_sizes} ({hidden}; {acts[-1]} output, {model.spec.loss})"


def _require_plotting():
    from .plotting import _require_matplotlib
    _require_matplotlib()


def _write_plots(model, X, y, out_dir, say):
    from . import plotting
    os.makedirs(out_dir, exist_ok=True)
    path = plotting.plot_curves(model, os.path.join(out_dir, "curves.png"))
    say(f"wrote {path}")
    if X.shape[1] == 2:
        path = plotting.plot_decision_boundary(model, X, y, os.path.join(out_dir, "boundary.png"))
        say(f"wrote {path}")
    elif X.shape[1] == 1:
        say(f"wrote {plotting.plot_fit_1d(model, X, y, os.path.join(out_dir, 'fit.png'))}")


# ----------------------------------------------------------------------------------------------------
# train
# ----------------------------------------------------------------------------------------------------
def cmd_train(args):
    from .model import FastMLP
    say = _Printer(args.quiet)
    _check_out(args.out, inputs=[args.data])
    if args.plot is not None:
        _check_dir(args.plot, "--plot")
        _require_plotting()
    X, y, source = _get_data(args, need_y=True)
    output, d_out = _head(y, args.output, args.loss)
    sizes = [X.shape[1], *args.hidden, d_out]
    model = FastMLP(sizes, activation=args.activation, output=output, loss=args.loss,
                    dtype=np.dtype(args.dtype).type, seed=args.seed, backend=args.backend, l2=args.l2)
    t0 = time.perf_counter()
    model.fit(X, y, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
              validation_split=args.validation_split, patience=args.patience, verbose=_verbosity(args))
    dt = time.perf_counter() - t0
    model.save(args.out)
    metric = _metric_name(model)
    summary = [f"trained {_describe(model)} on {X.shape[0]} samples from {source}",
               f"{model.n_epochs} epochs in {_fmt_time(dt)}", f"loss {model.loss_curve[-1]:.4f}"]
    if model.val_loss_curve:
        b = (model.best_epoch or len(model.val_loss_curve)) - 1
        summary.append(f"best epoch {b + 1}: val_loss {model.val_loss_curve[b]:.4f}, "
                       f"val {metric} {model.val_score_curve[b]:.4f}")
    else:
        summary.append(f"training {metric} {model.score(X, y):.4f}")
    say("; ".join(summary))
    say(f"saved the model to {args.out}")
    if args.plot is not None:
        _write_plots(model, X, y, args.plot, say)
    return EXIT_OK


# ----------------------------------------------------------------------------------------------------
# predict
# ----------------------------------------------------------------------------------------------------
def _fmt_float(dtype):
    return "{:.9g}" if np.dtype(dtype) == np.float32 else "{:.17g}"


def cmd_predict(args):
    model = _load_model(args.model, args.backend)
    to_stdout = args.out == "-"
    if not to_stdout:
        _check_out(args.out, inputs=[args.model, args.data])
    say = _Printer(args.quiet, sys.stderr if to_stdout else None)
    X, y, source = _get_data(args, need_y=False, n_features=model.layer_sizes[0])
    pred = np.asarray(model.predict(X))
    proba = None
    if args.proba:
        if not model.is_classifier:
            raise CLIError("--proba: only classification models (softmax or sigmoid output) have "
                           "probabilities")
        proba = np.asarray(model.predict_proba(X))
    if args.out.lower().endswith(".npz"):
        arrays = {"prediction": pred}
        if proba is not None:
            arrays["proba"] = proba
        with open(args.out, "wb") as fh:
            np.savez(fh, **arrays)
    else:
        fmt = _fmt_float(model.dtype)
        P = pred.reshape(len(pred), -1)
        header = ["prediction"] if P.shape[1] == 1 else [f"prediction_{k}" for k in range(P.shape[1])]
        cols = [P]
        if proba is not None:
            cls = model.classes_ if model.classes_ is not None else np.arange(proba.shape[1])
            header += [f"p_{c}" for c in cls]
            cols.append(proba)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        for i in range(len(pred)):
            row = []
            for block in cols:
                for v in block[i]:
                    row.append(fmt.format(v) if isinstance(v, (float, np.floating)) else str(v))
            w.writerow(row)
        if to_stdout:
            sys.stdout.write(buf.getvalue())
            sys.stdout.flush()
        else:
            with open(args.out, "w", newline="", encoding="utf-8") as fh:
                fh.write(buf.getvalue())
    msg = f"wrote {len(pred)} predictions for {source}" + ("" if to_stdout else f" to {args.out}")
    if y is not None:
        try:
            msg += f"; {_metric_name(model)} {model.score(X, y):.4f}"
        except (TypeError, ValueError) as exc:
            raise CLIError(f"targets in {source}: {_one_line(exc)}") from None
    say(msg)
    return EXIT_OK


# ----------------------------------------------------------------------------------------------------
# plot
# ----------------------------------------------------------------------------------------------------
def cmd_plot(args):
    from . import plotting
    say = _Printer(args.quiet)
    _require_plotting()  # before any work: loading a model, generating a dataset
    if args.what == "activations":
        _check_dir(args.out, "--out")
        paths = plotting.plot_activations(args.out, names=args.names, size=args.size, dpi=args.dpi,
                                          overview=not args.no_overview)
        for p in paths:
            say(f"wrote {p}")
        return EXIT_OK
    _check_out(args.out, inputs=[args.model, getattr(args, "data", None)])
    model = _load_model(args.model, args.backend)
    if args.what == "curves":
        say(f"wrote {plotting.plot_curves(model, args.out, size=args.size, dpi=args.dpi)}")
        return EXIT_OK
    if model.layer_sizes[0] not in (1, 2):
        raise CLIError(f"model: a decision boundary needs a model with 2 inputs (or 1 for a fitted curve), "
                       f"this one has {model.layer_sizes[0]}")
    X, y, _ = _get_data(args, need_y=False, n_features=model.layer_sizes[0])
    if X.shape[1] == 1:  # the beans: the fitted curve over the points
        path = plotting.plot_fit_1d(model, X, y, args.out, size=args.size, dpi=args.dpi)
    elif X.shape[1] == 2:
        path = plotting.plot_decision_boundary(model, X, y, args.out, size=args.size, dpi=args.dpi,
                                               resolution=args.resolution)
    else:
        raise CLIError(f"data: a decision boundary needs 2 features (or 1 for a fitted curve), "
                       f"got {X.shape[1]}")
    say(f"wrote {path}")
    return EXIT_OK


# ----------------------------------------------------------------------------------------------------
# demo
# ----------------------------------------------------------------------------------------------------
# dataset -> (generator options, hidden sizes, activation, optimizer, lr, epochs)
_DEMOS = {
    "two_spirals": (dict(n_samples=2000, turns=2.0, noise=0.02), [64, 64], "relu", "adam", 0.003, 40),
    "moons": (dict(n_samples=1000, noise=0.2), [32, 32], "relu", "adam", 0.01, 30),
    "xor": (dict(n_samples=800, noise=0.15), [8], "tanh", "adam", 0.02, 30),
    "blobs": (dict(n_samples=900, centers=4, cluster_std=1.5), [16], "relu", "adam", 0.01, 30),
}


def cmd_demo(args):
    from . import datasets
    from .model import FastMLP
    opts, hidden, act, opt, lr, epochs = _DEMOS[args.dataset]
    if args.save:
        _check_out(args.save, "--save")
    if args.plot is not None:
        _check_dir(args.plot, "--plot")
        _require_plotting()
    epochs = args.epochs or epochs
    X, y = datasets.load(args.dataset, seed=args.seed, dtype=np.float32, **opts)
    # Our own split, so that each epoch can also report the accuracy on the training part.
    perm = np.random.default_rng(args.seed).permutation(len(y))
    n_val = len(y) // 5
    va, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    n_cls = len(np.unique(y))
    model = FastMLP([X.shape[1], *hidden, n_cls], activation=act, output="softmax", dtype=np.float32,
                    seed=args.seed, backend=args.backend)
    print(f"fastmlp demo: the {args.dataset} dataset ({len(y)} points, {n_cls} classes; "
          f"{len(tr)} for training, {len(va)} held out for validation)")
    print(f"network {model.layer_sizes}: {act} hidden layers, softmax output, cross-entropy; "
          f"{opt} (lr {lr}), batch 32, float32, {model._backend.NAME} backend")
    width = len(str(epochs))

    def report(m, info):
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
def _per_call(fn, budget):
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


def _fmt_time(s):
    if s is None:
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def cmd_bench(args):
    from ._netspec import Optimizer
    from .backend import cython_available
    from .model import FastMLP
    sizes, dtype = args.layers, np.dtype(args.dtype).type
    output = "softmax" if sizes[-1] >= 2 else "identity"
    rng = np.random.default_rng(0)
    Xb = rng.standard_normal((args.batch_size, sizes[0])).astype(dtype)
    Xp = rng.standard_normal((args.rows, sizes[0])).astype(dtype)
    if output == "softmax":
        yb = rng.integers(0, sizes[-1], args.batch_size).astype(np.intp)
    else:
        yb = rng.standard_normal((args.batch_size, 1)).astype(dtype)
    results = {}
    for name in ("cython", "numpy"):
        if name == "cython" and not cython_available():
            results[name] = (None, None)
            continue
        model = FastMLP(sizes, activation=args.activation, output=output, dtype=dtype, seed=0, backend=name)
        net = model._backend.Network(model.spec, model._theta, model._grad, args.batch_size)
        opt = Optimizer(args.optimizer, model.n_params, dtype, lr=1e-4)
        step = _per_call(lambda: net.train_step(Xb, yb, None, opt), args.time)
        pred = _per_call(lambda: model.predict(Xp), args.time)
        results[name] = (step, pred)
    print(f"fastmlp bench: layers {sizes}, {args.activation}, {np.dtype(dtype).name}, {args.optimizer}; "
          f"best per-call time of 3 loops")
    rows = [(f"train step (batch {args.batch_size})", 0), (f"predict ({args.rows} rows)", 1)]
    print(f"{'':24}{'cython':>12}{'numpy':>12}{'numpy/cython':>15}")
    for label, k in rows:
        c, n = results["cython"][k], results["numpy"][k]
        ratio = f"{n / c:.2f}x" if c and n else "n/a"
        print(f"{label:24}{_fmt_time(c):>12}{_fmt_time(n):>12}{ratio:>15}")
    if results["cython"][0] is None:
        print("the Cython extension is not built: only the numpy backend was timed (pip install .)")
    return EXIT_OK


# ----------------------------------------------------------------------------------------------------
# The parser
# ----------------------------------------------------------------------------------------------------
def _add_data_args(p, data_help):
    p.add_argument("data", nargs="?", help=data_help)
    g = p.add_argument_group("built-in dataset (instead of a data file)")
    g.add_argument("--dataset", type=_dataset, metavar="NAME",
                   help="xor, two_spirals, blobs, moons, beans, or digits (needs scikit-learn)")
    g.add_argument("--n-samples", type=_positive_int, metavar="N",
                   help="number of points to generate (default: the dataset's own; 400 for xor)")
    g.add_argument("--noise", type=_nonneg_float, metavar="STD",
                   help="noise standard deviation (cluster spread for blobs; default: the dataset's own)")
    p.add_argument("--target", metavar="COL",
                   help="CSV column holding the targets: a header name or a 0-based index "
                        "(default: the last column)")


def _add_verbosity(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("-v", "--verbose", action="store_true",
                   help="report every epoch (a progress bar on a terminal, else one line per epoch)")
    g.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def build_parser():
    from . import __version__
    from ._netspec import OPTIMIZERS

    parser = _Parser(prog="fastmlp", description="Fast multilayer perceptrons on the CPU: train, predict, "
                     "plot, demo and bench from the command line.",
                     epilog="Run 'fastmlp COMMAND --help' for a command's options.", allow_abbrev=False,
                     formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"fastmlp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    kw = dict(allow_abbrev=False, formatter_class=_HelpFormatter)

    # train ---------------------------------------------------------------------------------------
    p = sub.add_parser("train", help="train a network on a CSV/.npz file or a built-in dataset, save it",
                       description="Train a network and save it (.npz, no pickle). Integer or text targets "
                       "are classified (softmax over the classes); fractional ones are regressed "
                       "(identity output, squared error). Features are used as they are: scale them first.",
                       epilog="examples:\n"
                       "  fastmlp train --dataset two_spirals --hidden 64,64 --epochs 100 -o spirals.npz\n"
                       "  fastmlp train data.csv --target species --patience 10 -o iris.npz\n"
                       "  fastmlp train --dataset beans --hidden none --output sigmoid --loss squared_error "
                       "--optimizer sgd --lr 1 --batch-size 1", **kw)
    _add_data_args(p, "training data: a .csv/.tsv file (header optional; numeric features) or a .npz "
                      "with arrays X and y")
    g = p.add_argument_group("network")
    g.add_argument("--hidden", type=_hidden, default="32,32", metavar="SIZES",
                   help="hidden layer sizes, comma-separated ('none' for no hidden layer)")
    g.add_argument("--activation", type=_activation, default="relu", metavar="NAME[:PARAM]",
                   help="hidden activation: identity, logistic, tanh, relu, leaky_relu, prelu, elu, softplus, "
                        "gelu, silu, softsign, hardtanh; e.g. leaky_relu:0.1")
    g.add_argument("--output", default="auto", metavar="NAME",
                   help="output layer: auto, softmax, sigmoid, identity, or any activation")
    g.add_argument("--loss", choices=["cross_entropy", "binary_cross_entropy", "squared_error"],
                   help="override the loss the output implies")
    g.add_argument("--l2", type=_nonneg_float, default=0.0, help="L2 penalty λ on the weights")
    g.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="precision of the weights and of every computation")
    g.add_argument("--backend", choices=["auto", "cython", "numpy"], default="auto",
                   help="the compiled kernels, or the NumPy reference (auto: cython when built)")
    g = p.add_argument_group("training")
    g.add_argument("--optimizer", choices=list(OPTIMIZERS), default="adam", help="update rule")
    g.add_argument("--lr", type=_pos_float, help="learning rate (default: 0.001 for adam, 0.01 otherwise)")
    g.add_argument("--epochs", type=_positive_int, default=50, help="passes over the training data")
    g.add_argument("--batch-size", type=_positive_int, default=32, help="rows per optimizer step")
    g.add_argument("--validation-split", type=_split_fraction, default=0.2,
                   help="fraction held out for validation (0 for none)")
    g.add_argument("--patience", type=_positive_int,
                   help="stop after this many epochs without improvement (keeps the best weights)")
    g.add_argument("--seed", type=_seed, default=0, help="seeds the weights, the shuffles, the split and "
                   "the generated dataset")
    g = p.add_argument_group("output")
    g.add_argument("-o", "--out", default="model.npz", metavar="PATH", help="where to save the model")
    g.add_argument("--plot", metavar="DIR",
                   help="also write curves.png there, and boundary.png for 2-feature data (fit.png for 1 "
                        "feature); needs matplotlib")
    _add_verbosity(p)
    p.set_defaults(func=cmd_train)

    # predict -------------------------------------------------------------------------------------
    p = sub.add_parser("predict", help="predict with a saved model, write a predictions file",
                       description="Predict with a saved model. A CSV with one column more than the model "
                       "has inputs is read as features plus targets (last column, or --target), and the "
                       "accuracy/R² is reported.",
                       epilog="example:\n  fastmlp predict model.npz data.csv -o predictions.csv --proba",
                       **kw)
    p.add_argument("model", help="a model saved by 'fastmlp train' or FastMLP.save")
    _add_data_args(p, "inputs: a .csv/.tsv file or a .npz with array X (and optionally y)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the generated --dataset")
    p.add_argument("-o", "--out", default="predictions.csv", metavar="PATH",
                   help="predictions file: .csv (a 'prediction' column) or .npz; '-' for stdout")
    p.add_argument("--proba", action="store_true", help="also write the class probabilities")
    p.add_argument("--backend", choices=["auto", "cython", "numpy"], default="auto",
                   help="backend to run the model on")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_predict)

    # plot ----------------------------------------------------------------------------------------
    p = sub.add_parser("plot", help="PNG pictures: activations, training curves, decision boundaries",
                       description="Draw PNG pictures with matplotlib (pip install 'fastmlp[plot]').",
                       epilog="examples:\n  fastmlp plot activations --names relu,tanh,sigmoid -o plots/\n"
                       "  fastmlp plot curves model.npz -o curves.png\n"
                       "  fastmlp plot boundary model.npz --dataset moons -o boundary.png", **kw)
    psub = p.add_subparsers(dest="what", metavar="WHAT")
    p.set_defaults(func=cmd_plot, what=None, _plot_parser=p)

    def common(q, default_out, out_help, default_size):
        # String defaults go through ``type`` like typed values, and --help shows them as typed.
        q.add_argument("-o", "--out", default=default_out, metavar="PATH", help=out_help)
        q.add_argument("--size", type=_size, default=default_size, metavar="WxH", help="size in pixels")
        q.add_argument("--dpi", type=_pos_float, default="100", help="dots per inch (scales the text)")
        q.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
        q.set_defaults(func=cmd_plot)

    q = psub.add_parser("activations", help="each activation and its derivative on [-8, 8]",
                        description="One PNG per activation (f(x) and f'(x) on x in [-8, 8], computed by "
                        "the library's kernels), activation_<name>.png, and an overview activations.png.",
                        **kw)
    q.add_argument("--names", type=_names, metavar="A,B,...", help="activations to draw (default: all)")
    q.add_argument("--no-overview", action="store_true", help="skip the overview grid")
    common(q, "plots", "directory for the PNGs (created if needed)", "800x340")
    q = psub.add_parser("curves", help="training and validation loss (and score) per epoch",
                        description="Loss per epoch (training and validation) and the validation "
                        "accuracy/R², from the history stored in a saved model.", **kw)
    q.add_argument("model", help="a saved model")
    q.add_argument("--backend", choices=["auto", "cython", "numpy"], default="auto",
                   help="backend to load the model on")
    common(q, "curves.png", "PNG file to write", "900x380")
    q = psub.add_parser("boundary", help="decision regions of a 2-feature model, with the data",
                        description="The decision regions of a model with 2 inputs over the plane, with "
                        "the points of a data file or a built-in dataset on top. For a model with 1 input "
                        "(the beans), its curve over the points.", **kw)
    q.add_argument("model", help="a saved model with 2 inputs")
    _add_data_args(q, "points to draw: .csv/.tsv or .npz (X, optional y)")
    q.add_argument("--seed", type=_seed, default=0, help="seed of the generated --dataset")
    q.add_argument("--resolution", type=_positive_int, default=250, help="grid points per axis")
    q.add_argument("--backend", choices=["auto", "cython", "numpy"], default="auto",
                   help="backend to run the model on")
    common(q, "boundary.png", "PNG file to write", "640x560")

    # demo ----------------------------------------------------------------------------------------
    p = sub.add_parser("demo", help="train on a generated dataset, printing loss/accuracy per epoch",
                       description="A real training run on a generated dataset (two interleaved spirals by "
                       "default), printing the loss and accuracy after every epoch; a few seconds at most.",
                       **kw)
    p.add_argument("--dataset", choices=list(_DEMOS), default="two_spirals", help="the problem to learn")
    p.add_argument("--epochs", type=_positive_int, help="epochs (default: the demo's own, 30-40)")
    p.add_argument("--seed", type=_seed, default=0, help="seeds the data, the weights and the shuffles")
    p.add_argument("--backend", choices=["auto", "cython", "numpy"], default="auto",
                   help="the compiled kernels, or the NumPy reference")
    p.add_argument("--save", metavar="PATH", help="save the trained model there")
    p.add_argument("--plot", metavar="DIR", help="write curves.png and boundary.png there (matplotlib)")
    p.set_defaults(func=cmd_demo)

    # bench ---------------------------------------------------------------------------------------
    p = sub.add_parser("bench", help="time the cython and numpy backends side by side",
                       description="Time one training step and a predict call with each backend on random "
                       "data, and their ratio (numpy time / cython time).", **kw)
    p.add_argument("--layers", type=_layers, default="784,256,10", metavar="SIZES",
                   help="all layer sizes, input to output")
    p.add_argument("--activation", type=_activation, default="relu", metavar="NAME[:PARAM]",
                   help="hidden activation")
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), default="sgd", help="update rule of the step")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="rows per training step")
    p.add_argument("--rows", type=_positive_int, default=1000, help="rows per predict call")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="precision")
    p.add_argument("--time", type=_pos_float, default="0.3", help="about this many seconds per measurement")
    p.set_defaults(func=cmd_bench)
    return parser


def _parse(parser, argv):
    args = parser.parse_args(argv)
    if args.command is None:
        parser.error("a command is required: train, predict, plot, demo or bench")
    if args.command == "plot" and args.what is None:
        args._plot_parser.error("say what to plot: activations, curves or boundary")
    return args


def main(argv=None):
    """Run the command line; returns the exit status (0 ok, 1 error, 2 bad usage, 130 interrupted)."""
    parser = build_parser()
    try:
        args = _parse(parser, argv)
    except SystemExit as exc:  # --help, --version, usage errors (already printed, one line)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    prog = f"fastmlp {args.command}" + (f" {args.what}" if args.command == "plot" else "")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `fastmlp predict ... -o - | head`: the reader left; not an error of ours.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except (CLIError, ValueError, TypeError, OSError, ImportError, FloatingPointError, MemoryError) as exc:
        print(f"{prog}: error: {_one_line(exc) or type(exc).__name__}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug of ours: still one line, unless asked for the traceback
        if os.environ.get("FASTMLP_TRACEBACK"):
            raise
        print(f"{prog}: internal error: {type(exc).__name__}: {_one_line(exc)} "
              "(set FASTMLP_TRACEBACK=1 for the traceback)", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
