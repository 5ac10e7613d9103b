"""Data in and out of the command line: CSV/TSV and .npz files, the built-in datasets, the input scaling
stored in a model, and the predictions file.

CSV files go through the standard library's ``csv`` module reading the file object itself (opened with
``newline=""``), so a quoted field may hold the delimiter, quotes (``""``) and line breaks. Blank lines and
``#`` comment lines between records are skipped; errors name the line of the file where the record starts
(1-based, counting the skipped lines).
"""
from __future__ import annotations

import argparse
import csv
import io
import itertools
import math
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

import numpy as np

from .._atomic import atomic_write
from .errors import CLIError, one_line

__all__ = ["is_number", "read_data", "make_dataset", "get_data", "fit_scaling", "apply_scaling",
           "scaling_from_metadata", "predictions_csv", "write_predictions", "SCALINGS"]


def is_number(s: str) -> bool:
    """Whether ``float(s)`` accepts ``s`` ("nan" and "inf" included)."""
    try:
        float(s)
        return True
    except ValueError:
        return False


# ----------------------------------------------------------------------------------------------------
# CSV / TSV text
# ----------------------------------------------------------------------------------------------------
class _Lines:
    """The physical lines of a text file, fed to ``csv.reader``: blank and comment lines are skipped where
    a record starts, never inside a quoted field that spans lines. ``record_line`` is the (1-based) line on
    which the current record starts; ``unterminated`` says the file ended inside a quoted field."""

    def __init__(self, fh: TextIO) -> None:
        self._it = iter(fh)
        self.line_no = 0
        self.record_line = 0
        self.at_record_start = True
        self.unterminated = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if not self.at_record_start:  # the reader wants the next line of a quoted field
            try:
                line = next(self._it)
            except StopIteration:
                self.unterminated = True
                raise
            self.line_no += 1
            return line
        while True:
            line = next(self._it)  # StopIteration: the end of the data
            self.line_no += 1
            if line.strip() and not line.lstrip().startswith("#"):
                self.record_line = self.line_no
                self.at_record_start = False
                return line


def _delimiter(path: str, first_line: str) -> str:
    if path.lower().endswith(".tsv") or ("\t" in first_line and "," not in first_line):
        return "\t"
    if ";" in first_line and "," not in first_line:
        return ";"
    return ","


def _read_records(fh: TextIO, path: str) -> tuple[list[list[str]], list[int]]:
    """(rows of stripped cells, the line each row starts on) of a delimited text file."""
    lines = _Lines(fh)
    try:
        first = next(lines)
    except StopIteration:
        raise CLIError(f"data: {path} has no data rows") from None
    reader = csv.reader(itertools.chain([first], lines), delimiter=_delimiter(path, first))
    rows: list[list[str]] = []
    line_nos: list[int] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise CLIError(f"data: {path} row {lines.record_line}: malformed CSV ({one_line(exc)})") from None
        if lines.unterminated:
            raise CLIError(f"data: {path} row {lines.record_line}: a quoted field is still open at the end "
                           "of the file")
        rows.append([c.strip() for c in row])
        line_nos.append(lines.record_line)
        lines.at_record_start = True
    return rows, line_nos


def _read_text_table(path: str) -> tuple[list[str] | None, list[list[str]], list[int]]:
    """(header or None, rows as lists of stripped strings, their line numbers) from a delimited file."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            if "\x00" in fh.read(4096):
                raise CLIError(f"data: {path} is not a text (CSV) file")
            fh.seek(0)
            rows, line_nos = _read_records(fh, path)
    except UnicodeDecodeError:
        raise CLIError(f"data: {path} is not a text (CSV) file") from None
    except IsADirectoryError:
        raise CLIError(f"data: {path} is a directory, not a file") from None
    header = None
    if _is_header(rows):
        header, rows, line_nos = rows[0], rows[1:], line_nos[1:]
    if not rows:
        raise CLIError(f"data: {path} has a header but no data rows")
    width = len(header) if header is not None else len(rows[0])
    for r, line in zip(rows, line_nos, strict=True):
        if len(r) != width:
            raise CLIError(f"data: {path} row {line} has {len(r)} columns, expected {width}")
    return header, rows, line_nos


def _is_header(rows: list[list[str]]) -> bool:
    """Whether the first row names the columns: every cell of it is text, or some column is numeric below
    it but not in it. (A headerless file with text labels has text in its first row too.)"""
    first = [is_number(c) for c in rows[0]]
    if not any(first):
        return True
    rest = rows[1:]
    return bool(rest) and any(
        not num and all(j < len(r) and is_number(r[j]) for r in rest) for j, num in enumerate(first))


def _column_index(target: str, header: list[str] | None, width: int, path: str) -> int:
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


def _parse_labels(values: list[str], path: str, name: str) -> np.ndarray:
    """Targets from text: int64 when every value is an integer, float64 when numeric, else strings."""
    if any(v == "" for v in values):
        raise CLIError(f"data: {path} has an empty value in target column {name!r}")
    if all(is_number(v) for v in values):
        y = np.array([float(v) for v in values])
        if not np.isfinite(y).all():
            raise CLIError(f"data: {path} has NaN or infinite targets in column {name!r}")
        if np.all(np.mod(y, 1) == 0) and np.abs(y).max() < 2 ** 53:
            return y.astype(np.int64)
        return y
    return np.array(values, dtype=str)


def _features(rows: list[list[str]], cols: Sequence[int], header: list[str] | None, path: str,
              line_nos: list[int]) -> np.ndarray:
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


# ----------------------------------------------------------------------------------------------------
# .npz archives
# ----------------------------------------------------------------------------------------------------
def _read_npz(path: str, need_y: bool) -> tuple[np.ndarray, np.ndarray | None]:
    import zipfile
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
        raise CLIError(f"data: {path} is not a readable .npz archive ({one_line(exc)})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise CLIError(f"data: {path} is not a readable .npz archive ({one_line(exc)})") from None
    if X.ndim != 2:
        raise CLIError(f"data: X in {path} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if y is not None and (y.ndim not in (1, 2) or y.shape[0] != X.shape[0]):
        raise CLIError(f"data: y in {path} must have one row per sample of X ({X.shape[0]}), "
                       f"got shape {y.shape}")
    return X, y


def read_data(path: str, target: str | None = None, need_y: bool = True,
              n_features: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
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


# ----------------------------------------------------------------------------------------------------
# Built-in datasets
# ----------------------------------------------------------------------------------------------------
# Sizes/noise that the command line uses when not given: the library default of xor is the four-point
# truth table, too small to split for validation or to draw a boundary around.
_CLI_DATASET_DEFAULTS: dict[str, dict[str, Any]] = {"xor": {"n_samples": 400, "noise": 0.15}}
_NOISE_PARAM = {"xor": "noise", "two_spirals": "noise", "moons": "noise", "blobs": "cluster_std"}


def make_dataset(name: str, n_samples: int | None = None, noise: float | None = None, seed: int = 0,
                 dtype: type = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """A built-in dataset from command-line options."""
    from .. import datasets
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


def get_data(args: argparse.Namespace, need_y: bool = True,
             n_features: int | None = None) -> tuple[np.ndarray, np.ndarray | None, str]:
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
# Input scaling, stored in the model: metadata["input_scaling"] = {"method", "offset", "scale"},
# x' = (x - offset) / scale
# ----------------------------------------------------------------------------------------------------
SCALINGS: dict[str, str] = {
    "none": "the features as they are",
    "standard": "(x - mean) / standard deviation",
    "minmax": "(x - min) / (max - min), into [0, 1]",
}


def fit_scaling(X: np.ndarray, method: str) -> dict[str, Any] | None:
    """The scaling ``method`` fitted on the columns of ``X`` as a JSON-ready dict (None for "none").

    A constant column gets scale 1 (it is only shifted), so that no feature is divided by zero."""
    if method == "none":
        return None
    if method not in SCALINGS:
        raise ValueError(f"scale: unknown method {method!r}; choose one of {', '.join(SCALINGS)}")
    X = np.asarray(X, dtype=np.float64)
    if method == "standard":
        offset, scale = X.mean(axis=0), X.std(axis=0)
    else:
        offset, scale = X.min(axis=0), X.max(axis=0) - X.min(axis=0)
    constant = X.max(axis=0) == X.min(axis=0)  # exact test: a std of 1e-17 from rounding is zero too
    scale = np.where(constant | ~np.isfinite(scale) | (scale <= 0), 1.0, scale)
    return {"method": method, "offset": [float(v) for v in offset], "scale": [float(v) for v in scale]}


def apply_scaling(X: np.ndarray, scaling: dict[str, Any] | None) -> np.ndarray:
    """``(X - offset) / scale`` in float64; ``X`` itself when ``scaling`` is None."""
    if scaling is None:
        return X
    offset = np.asarray(scaling["offset"], dtype=np.float64)
    scale = np.asarray(scaling["scale"], dtype=np.float64)
    return (np.asarray(X, dtype=np.float64) - offset) / scale


def scaling_from_metadata(metadata: Any, n_features: int, path: str) -> dict[str, Any] | None:
    """The checked input scaling of a model (None when it has none); CLIError naming ``path`` when it is
    malformed."""
    if not isinstance(metadata, dict) or "input_scaling" not in metadata:
        return None
    s = metadata["input_scaling"]

    def bad(why: str) -> CLIError:
        return CLIError(f"model: {path} has malformed input scaling metadata ({why})")

    if not isinstance(s, dict):
        raise bad(f"expected a dict with method, offset and scale, got {type(s).__name__}")
    method = s.get("method")
    if method == "none":
        return None
    if method not in SCALINGS:
        raise bad(f"unknown method {method!r}; expected one of {', '.join(SCALINGS)}")
    out: dict[str, Any] = {"method": method}
    for key in ("offset", "scale"):
        v = s.get(key)
        if not isinstance(v, list) or not all(isinstance(e, (int, float)) and not isinstance(e, bool)
                                              for e in v):
            raise bad(f"{key} must be a list of numbers")
        if len(v) != n_features:
            raise bad(f"{key} has {len(v)} values, the model has {n_features} inputs")
        if not all(math.isfinite(e) for e in v):
            raise bad(f"{key} has a non-finite value")
        out[key] = [float(e) for e in v]
    if any(e <= 0 for e in out["scale"]):
        raise bad("scale values must be > 0")
    return out


# ----------------------------------------------------------------------------------------------------
# The predictions file
# ----------------------------------------------------------------------------------------------------
def predictions_csv(pred: np.ndarray, proba: np.ndarray | None, classes: np.ndarray | None,
                    dtype: Any) -> str:
    """The predictions (and the class probabilities) as CSV text: a ``prediction`` column (one per output
    when there are several), then ``p_<class>`` columns; floats in full precision of ``dtype``."""
    fmt = "{:.9g}" if np.dtype(dtype) == np.float32 else "{:.17g}"
    P = pred.reshape(len(pred), -1)
    header = ["prediction"] if P.shape[1] == 1 else [f"prediction_{k}" for k in range(P.shape[1])]
    cols = [P]
    if proba is not None:
        cls = classes if classes is not None else np.arange(proba.shape[1])
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
    return buf.getvalue()


def write_predictions(out: str | None, pred: np.ndarray, proba: np.ndarray | None,
                      classes: np.ndarray | None, dtype: Any) -> None:
    """Write the predictions: CSV on stdout (``out`` None or "-"), else atomically to ``out``, a .npz
    (arrays ``prediction`` and ``proba``) or CSV text."""
    if out is not None and out != "-" and out.lower().endswith(".npz"):
        arrays = {"prediction": pred}
        if proba is not None:
            arrays["proba"] = proba
        with atomic_write(out, "wb") as fh:
            np.savez(fh, **arrays)
        return
    text = predictions_csv(pred, proba, classes, dtype)
    if out is None or out == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    with atomic_write(out, "w", newline="", encoding="utf-8") as fh:
        fh.write(text)
