"""The model file: one ``.npz`` (a zip of ``.npy`` arrays) holding ``theta``, ``meta`` (JSON text) and,
for classifiers, ``classes``. Never pickled.

``read_model_file`` trusts nothing in the file: the zip directory, each array's ``.npy`` header (shape,
dtype) and the JSON metadata are checked against each other — the parameter count implied by
``layer_sizes`` must equal the length of the stored ``theta`` — before any array is read, so that what is
allocated is bounded by the file's own size (stored members), or by ``MAX_INFLATION`` times it
(compressed ones). Every field's type and range is checked; errors are one ``ValueError`` naming the file
and the field.
"""
from __future__ import annotations

import json
import math
import numbers
import os
import struct
import zipfile
import zlib
from typing import Any

import numpy as np

from ._registry import LOSS_TABLE
from .custom import PREFIX as CUSTOM_PREFIX

FORMAT_VERSION = 1
MAX_META_CHARS = 64 << 20        # JSON text: 64 Mi characters (loss curves of very long fits included)
MAX_JSON_DEPTH = 32
MAX_INFLATION = 64               # uncompressed / compressed size of a member (float weights: about 1.1)
_MEMBERS = ("theta", "meta", "classes")
# What reading a damaged archive raises: bad zip structure, CRC or inflate errors, truncation, encrypted or
# unsupported members (RuntimeError, NotImplementedError), bad .npy headers.
_BROKEN = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, KeyError, RuntimeError,
           NotImplementedError, struct.error, UnicodeDecodeError, SyntaxError, OverflowError, MemoryError)


class ModelFileError(ValueError):
    """A file that is not a readable, consistent fastmlp model."""


def _number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _depth(obj: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest


class _Reader:
    """One open archive: the members' headers first, then (once everything agrees) their data."""

    def __init__(self, fname: str, zf: zipfile.ZipFile):
        self.fname, self.zf = fname, zf
        self.infos = {}
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if name in _MEMBERS:
                self.infos[name] = info

    def fail(self, what: str) -> ModelFileError:
        return ModelFileError(f"path: {self.fname} {what}")

    def field(self, name: str, what: str) -> ModelFileError:
        return ModelFileError(f"path: {self.fname} has malformed fastmlp metadata: field {name!r}: {what}")

    def header(self, name: str) -> tuple[tuple[int, ...], np.dtype]:
        """(shape, dtype) from the member's .npy header; its data size must match the zip's claim."""
        info = self.infos[name]
        if info.compress_type != zipfile.ZIP_STORED \
                and info.file_size > MAX_INFLATION * max(info.compress_size, 1) + 4096:
            raise self.fail(f"has a member {info.filename!r} that inflates {info.compress_size} bytes to "
                            f"{info.file_size}; refusing it")
        try:
            with self.zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version in ((2, 0), (3, 0)):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    raise ValueError(f"unknown .npy version {version}")
                offset = fh.tell()
        except _BROKEN as exc:
            raise self.fail(f"is not a readable fastmlp model ({name}: {exc})") from None
        if dtype.hasobject:
            raise self.fail("holds pickled objects; refusing to load")
        if fortran and len(shape) > 1:
            raise self.field(name, "expected a C-ordered array")
        n = math.prod(shape)
        if n * dtype.itemsize != info.file_size - offset:
            raise self.field(name, f"its header claims {shape} {dtype} ({n * dtype.itemsize} bytes) "
                            f"but the member holds {info.file_size - offset}")
        return tuple(shape), dtype

    def array(self, name: str) -> np.ndarray:
        try:
            with self.zf.open(self.infos[name]) as fh:
                return np.lib.format.read_array(fh, allow_pickle=False)
        except _BROKEN as exc:
            raise self.fail(f"is not a readable fastmlp model ({name}: {exc})") from None


def read_model_file(path: str | os.PathLike) -> tuple[dict, np.ndarray, np.ndarray | None]:
    """(metadata, theta, classes or None) from a model file, every part checked (module docstring).

    Raises FileNotFoundError / PermissionError (naming the file) when it cannot be opened, ModelFileError
    (a ValueError) when it is not a consistent fastmlp model."""
    fname = os.fspath(path)
    try:
        fh = open(fname, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"path: no such file: {fname}") from None
    except PermissionError:
        raise PermissionError(f"path: {fname}: permission denied (cannot read the model file)") from None
    except IsADirectoryError:
        raise ModelFileError(f"path: {fname} is a directory, not a fastmlp model") from None
    with fh:
        try:
            zf = zipfile.ZipFile(fh)
        except _BROKEN:
            raise ModelFileError(f"path: {fname} is not a fastmlp model (expected a .npz archive)") from None
        with zf:
            r = _Reader(fname, zf)
            if "theta" not in r.infos or "meta" not in r.infos:
                raise r.fail("is not a fastmlp model (missing theta/meta)")
            meta_shape, meta_dtype = r.header("meta")
            if meta_dtype.kind != "U" or meta_shape != ():
                raise r.field("meta", "expected one JSON string")
            if meta_dtype.itemsize // 4 > MAX_META_CHARS:
                raise r.field("meta", f"{meta_dtype.itemsize // 4} characters of JSON, more than "
                             f"{MAX_META_CHARS}")
            theta_shape, theta_dtype = r.header("theta")
            classes_header = r.header("classes") if "classes" in r.infos else None
            meta = _parse_meta(r, str(r.array("meta")[()]))
            sizes, loss, dtype = check_meta(r, meta)
            n_params = _n_params(sizes, meta)
            if theta_dtype.newbyteorder("=") != np.dtype(dtype) or theta_shape != (n_params,):
                raise r.field("theta", f"{theta_shape} {theta_dtype} does not match the architecture "
                             f"{sizes} ({n_params} parameters, {dtype})")
            if classes_header is not None:
                _check_classes_header(r, *classes_header, sizes, loss)
            theta = np.ascontiguousarray(r.array("theta"), dtype=dtype)
            classes = None
            if classes_header is not None:
                classes = r.array("classes")
                if classes.dtype.byteorder not in ("=", "|"):
                    classes = classes.astype(classes.dtype.newbyteorder("="))
                if len(classes) > 1 and not np.all(classes[1:] > classes[:-1]):
                    raise r.field("classes", "labels must be sorted and unique")
            elif LOSS_TABLE[loss].classifier and meta.get("n_epochs", 0):
                raise r.field("classes", "missing for a trained classifier")
    if not np.isfinite(theta).all():
        raise ModelFileError(f"path: {fname} has malformed fastmlp metadata: field 'theta': contains NaN or "
                             "infinity")
    return meta, theta, classes


def _parse_meta(r: _Reader, text: str) -> dict:
    try:
        meta = json.loads(text)
    except RecursionError:
        raise r.field("meta", f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise r.fail(f"is not a readable fastmlp model (meta: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != "fastmlp":
        raise r.fail("is not a fastmlp model")
    if _depth(meta) > MAX_JSON_DEPTH:
        raise r.field("meta", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return meta


def check_meta(r: _Reader, meta: dict) -> tuple[list[int], str, str]:
    """Check every field's type and range; returns (layer_sizes, loss, dtype name)."""
    from ._netspec import parse_activation
    from ._registry import LOSSES

    def bad(field: str, want: str) -> ModelFileError:
        return r.field(field, f"expected {want}, got {meta.get(field)!r:.80}")

    version = meta.get("format_version", 0)
    if not _integer(version) or version < 0:
        raise bad("format_version", "an integer >= 0")
    if version > FORMAT_VERSION:
        raise r.field("format_version", f"model format {version} is newer than this fastmlp reads "
                     f"({FORMAT_VERSION})")
    sizes = meta.get("layer_sizes")
    if not isinstance(sizes, list) or len(sizes) < 2 or not all(_integer(s) and s >= 1 for s in sizes):
        raise bad("layer_sizes", "a list of at least two integers >= 1")
    acts = meta.get("activations")
    if not isinstance(acts, list) or len(acts) != len(sizes) - 2:
        raise bad("activations", f"a list of {len(sizes) - 2} [name, parameter] pairs")
    for field, specs in (("activations", acts), ("output", [meta.get("output")])):
        for spec in specs:
            if not (isinstance(spec, list) and len(spec) == 2 and isinstance(spec[0], str)
                    and _number(spec[1])):
                raise bad(field, "[name, parameter] pairs")
            if spec[0].startswith(CUSTOM_PREFIX) and spec[0][len(CUSTOM_PREFIX):]:
                continue  # an activation of the user's own: FastMLP.load(custom=...) resolves it
            try:
                parse_activation(tuple(spec), field)
            except (TypeError, ValueError) as exc:
                raise r.field(field, f"{exc}") from None
    loss = meta.get("loss")
    if not isinstance(loss, str) or loss not in LOSSES:
        raise bad("loss", f"one of {', '.join(LOSSES)}")
    dtype = meta.get("dtype")
    if dtype not in ("float32", "float64"):
        raise bad("dtype", "'float32' or 'float64'")
    seed = meta.get("seed", 0)
    if seed is not None and (not _integer(seed) or seed < 0):
        raise bad("seed", "an integer >= 0 or null")
    from .backend import BACKENDS
    from .model import INITS
    for field, choices in (("backend", BACKENDS + ("auto",)), ("init", INITS + ("array",))):
        if field in meta and meta[field] not in choices:
            raise bad(field, f"one of {', '.join(choices)}")
    l2 = meta.get("l2", 0.0)
    if not _number(l2) or not math.isfinite(l2) or l2 < 0:
        raise bad("l2", "a finite number >= 0")
    if not isinstance(meta.get("y_1d", True), bool):
        raise bad("y_1d", "true or false")
    n_epochs = meta.get("n_epochs", 0)
    if not _integer(n_epochs) or n_epochs < 0:
        raise bad("n_epochs", "an integer >= 0")
    best = meta.get("best_epoch")
    if best is not None and (not _integer(best) or best < 1):
        raise bad("best_epoch", "an integer >= 1 or null")
    for field in ("loss_curve", "val_loss_curve", "val_score_curve"):
        curve = meta.get(field, [])
        if not isinstance(curve, list) or not all(_number(v) for v in curve):
            raise bad(field, "a list of numbers")
    if not isinstance(meta.get("metadata", {}), dict):
        raise bad("metadata", "an object")
    return sizes, loss, dtype


def _n_params(sizes: list[int], meta: dict) -> int:
    """The parameter count the architecture implies (Python integers: nothing is allocated)."""
    from ._registry import PER_UNIT, canonical_activation
    names = [a[0] for a in meta["activations"]] + [meta["output"][0]]
    n = 0
    for fan_in, fan_out, name in zip(sizes[:-1], sizes[1:], names):
        per_unit = not name.startswith(CUSTOM_PREFIX) and canonical_activation(name) in PER_UNIT
        n += fan_in * fan_out + fan_out + (fan_out if per_unit else 0)
    return n


def _check_classes_header(r: _Reader, shape: tuple[int, ...], dtype: np.dtype, sizes: list[int],
                          loss: str) -> None:
    from ._registry import LOSS_TABLE
    d_out = sizes[-1]
    if not LOSS_TABLE[loss].classifier:
        raise r.field("classes", f"a {loss} model has no classes")
    if len(shape) != 1:
        raise r.field("classes", f"expected a 1-D array, got shape {shape}")
    want = 2 if d_out == 1 else d_out  # a single sigmoid unit tells two classes apart
    if shape[0] != want:
        raise r.field("classes", f"{shape[0]} classes for an output layer that needs {want}")
    if dtype.kind not in "biufUS":
        raise r.field("classes", f"labels of dtype {dtype} are not supported")
