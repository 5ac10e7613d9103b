"""Input validation at the Python boundary: clear errors that name the argument, before any kernel runs."""
from __future__ import annotations

import numbers

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


try:
    from ._kernels import all_finite as _all_finite
except ImportError:  # the NumPy backend alone
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


def check_positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value}")
    return int(value)


def check_number(value, name, low=None, high=None, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name}: must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name}: must be {'<' if high_open else '<='} {high}, got {value}")
    return float(value)
