"""Validation at the Python boundary: every parameter and array checked once, by one rule, with one message
naming the argument, before any state changes or any kernel runs.

Every face (``FastMLP``, ``fastmlp.sklearn``, ``fastmlp.ops``, the CLI) checks hyperparameters through
``check_param`` (the rules are the table ``PARAMETERS``; a face passes its own spelling of the name as
``argument``, e.g. scikit-learn's ``learning_rate_init`` for ``lr``), activations through
``_netspec.parse_activation`` (the registry's rules) and arrays through ``check_array``,
``check_targets`` and ``check_sample_weight``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .backend import cython_available, get_backend

FLOAT_DTYPES = (np.float32, np.float64)


class ParameterError(ValueError, TypeError):
    """A hyperparameter of the wrong type or out of range (a ValueError and a TypeError, as
    scikit-learn's InvalidParameterError, so that either ``except`` catches it)."""


@dataclass(frozen=True)
class Rule:
    """A number's rule: ``kind`` "real" (finite) or "int" (an integer, not a bool), and its bounds."""

    kind: str = "real"
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    allow_inf: bool = False   # +inf accepted (n_iter_no_change=np.inf: never stop)

    def describe(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        what = "an integer" if self.kind == "int" else "a finite number"
        return what + (" " + " and ".join(parts) if parts else "") + (" (or inf)" if self.allow_inf else "")


# One rule per hyperparameter, whatever face it arrives through.
PARAMETERS: dict[str, Rule] = {
    "lr": Rule(low=0.0, low_open=True),
    "l2": Rule(low=0.0),
    "momentum": Rule(low=0.0, high=1.0),
    "beta1": Rule(low=0.0, high=1.0, high_open=True),
    "beta2": Rule(low=0.0, high=1.0, high_open=True),
    "eps": Rule(low=0.0, low_open=True),
    "power_t": Rule(low=0.0),
    "factor": Rule(low=1.0, low_open=True),
    "min_lr": Rule(low=0.0),
    "min_delta": Rule(low=0.0),
    "tol": Rule(low=0.0),
    "validation_split": Rule(low=0.0, high=1.0, high_open=True),
    "epochs": Rule("int", low=1),
    "batch_size": Rule("int", low=1),
    "patience": Rule("int", low=1, allow_inf=True),
    "max_fun": Rule("int", low=1),
    "layer": Rule("int"),
    "l1": Rule(low=0.0),
    "rho": Rule(low=0.0, high=1.0, high_open=True),
    "weight_decay": Rule(low=0.0),
    "eta_plus": Rule(low=1.0),
    "eta_minus": Rule(low=0.0, high=1.0, low_open=True),
    "step_min": Rule(low=0.0),
    "step_max": Rule(low=0.0, low_open=True),
    "clip_norm": Rule(low=0.0, low_open=True),
    "clip_value": Rule(low=0.0, low_open=True),
    "dropout": Rule(low=0.0, high=1.0, high_open=True),
    "gamma": Rule(low=0.0, high=1.0, low_open=True),
    "step_size": Rule("int", low=1),
    "warmup": Rule("int", low=0),
    "cycle": Rule("int", low=1),
    "plateau_factor": Rule(low=0.0, high=1.0, low_open=True, high_open=True),
    "threshold": Rule(low=0.0),
}


def check_param(name: str, value, argument: str | None = None) -> float | int:
    """``value`` checked by the rule ``PARAMETERS[name]``: an int or a float, or ``ParameterError`` whose
    message starts with ``argument`` (default ``name``)."""
    rule = PARAMETERS[name]
    arg = argument or name
    if rule.allow_inf and isinstance(value, numbers.Real) and not isinstance(value, bool) \
            and value == math.inf:
        return math.inf
    if rule.kind == "int":
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise ParameterError(f"{arg}: expected {rule.describe()}, got {value!r}")
        value = int(value)
    else:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
                or not math.isfinite(value):
            raise ParameterError(f"{arg}: expected {rule.describe()}, got {value!r}")
        value = float(value)
    if rule.low is not None and (value < rule.low or (rule.low_open and value == rule.low)):
        raise ParameterError(f"{arg}: must be {'>' if rule.low_open else '>='} {rule.low:g}, got {value!r}")
    if rule.high is not None and (value > rule.high or (rule.high_open and value == rule.high)):
        raise ParameterError(f"{arg}: must be {'<' if rule.high_open else '<='} {rule.high:g}, got {value!r}")
    return value


def check_choice(argument: str, value, choices) -> str:
    """``value`` if it is one of the strings ``choices``, else ``ParameterError`` naming ``argument``."""
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(f"{argument}: expected one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_bool(argument: str, value) -> bool:
    """``value`` if it is True or False (NumPy's too), else ``ParameterError`` naming ``argument``."""
    if not isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"{argument}: expected True or False, got {value!r}")
    return bool(value)


if cython_available():
    _all_finite = get_backend("cython").all_finite
else:  # the NumPy backend alone
    def _all_finite(X):
        return bool(np.isfinite(X).all())


def check_dtype(dtype):
    """Return np.float32 or np.float64 for ``dtype``; raise TypeError for anything else."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected float32 or float64, got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype: expected float32 or float64, got {dt}")
    return dt.type


def _refuse_masked(x, name):
    """np.asarray drops a mask and keeps whatever lies under it: refuse masked entries rather than train
    or predict on them (a MaskedArray with nothing masked is an ordinary array)."""
    if isinstance(x, np.ma.MaskedArray) and np.ma.getmaskarray(x).any():
        raise ValueError(f"{name}: has masked entries; fill them (np.ma.filled) or drop those rows first")


def _as_numeric(x, name):
    if hasattr(x, "toarray") or type(x).__module__.startswith("scipy.sparse"):
        raise TypeError(f"{name}: sparse input is not supported; pass a dense array")
    _refuse_masked(x, name)
    arr = np.asarray(x)
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name}: could not convert to a numeric array (dtype object)") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric data, got dtype {arr.dtype}")
    return arr


def check_array(X, name="X", dtype=np.float64, n_features=None, allow_empty=False):
    """Return X as a C-contiguous 2-D array of ``dtype`` (copied only when needed).

    Raises ValueError/TypeError naming ``name`` for: non-numeric or complex data, a dimension other than 2,
    no rows or no columns, NaN or infinity, or a column count other than ``n_features``.
    The model's dtype decides the computation: integer or other-precision input is converted to it."""
    if type(X) is np.ndarray and X.dtype == dtype and X.ndim == 2 and X.flags.c_contiguous \
            and X.shape[0] > 0 and (n_features is None or X.shape[1] == n_features):
        # The serving fast path: already the right array; only the finiteness check remains.
        if not _all_finite(X):
            raise ValueError(f"{name}: contains NaN or infinity")
        return X
    arr = _as_numeric(X, name)
    if arr.ndim != 2:
        hint = " (reshape(-1, 1) for one feature, reshape(1, -1) for one sample)" if arr.ndim == 1 else ""
        raise ValueError(f"{name}: expected a 2-D array (n_samples, n_features), got shape {arr.shape}{hint}")
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name}: empty input (0 samples)")
    if arr.shape[1] == 0:
        raise ValueError(f"{name}: 0 features")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name}: expected {n_features} features (columns), got {arr.shape[1]}")
    with np.errstate(over="ignore"):  # an overflowing cast is reported below, naming the argument
        arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        if arr.dtype.itemsize < 8 and np.isfinite(np.asarray(X, dtype=np.float64)).all():
            raise ValueError(f"{name}: values overflow {np.dtype(dtype).name} (|x| > "
                             f"{np.finfo(dtype).max:.3g})")
        raise ValueError(f"{name}: contains NaN or infinity")
    return arr


def check_targets(y, n_samples, name="y"):
    """y as an array whose first dimension matches X (1-D or 2-D)."""
    if y is None:
        raise ValueError(f"{name}: targets are required")
    if hasattr(y, "toarray"):
        raise TypeError(f"{name}: sparse targets are not supported")
    _refuse_masked(y, name)
    arr = np.asarray(y)
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(f"{name}: expected a 1-D or 2-D array, got shape {arr.shape}")
    if arr.shape[0] != n_samples:
        raise ValueError(f"{name}: has {arr.shape[0]} samples but X has {n_samples}")
    return arr


def check_sample_weight(sample_weight, n_samples, dtype):
    if sample_weight is None:
        return None
    sw = _as_numeric(sample_weight, "sample_weight")
    if sw.ndim == 0:
        sw = np.full(n_samples, sw, dtype=dtype)
    if sw.shape != (n_samples,):
        raise ValueError(f"sample_weight: expected shape ({n_samples},), got {sw.shape}")
    sw = np.ascontiguousarray(sw, dtype=dtype)
    if not np.isfinite(sw).all():
        raise ValueError("sample_weight: contains NaN or infinity")
    if (sw < 0).any():
        raise ValueError("sample_weight: weights must be >= 0")
    return sw


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (layer sizes, row counts); ``ParameterError`` naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{name}: expected an integer, got {value!r}")
    if value < minimum:
        raise ParameterError(f"{name}: must be >= {minimum}, got {value}")
    return int(value)
