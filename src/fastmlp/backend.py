"""Backend selection: the Cython kernels, or the pure-NumPy reference with the same functions."""
from __future__ import annotations

import importlib

from . import _numpy_backend

BACKENDS = ("cython", "numpy")
_import_error = None

try:
    from . import _kernels as _cython_backend
except ImportError as exc:  # a source checkout that was never built
    _cython_backend = None
    _import_error = exc


def cython_available() -> bool:
    """True when the compiled extension ``fastmlp._kernels`` imports."""
    return _cython_backend is not None


def get_backend(name="cython"):
    """Return the backend module for ``name``: "cython", "numpy", or "auto" (Cython if built)."""
    if name is None or name == "auto":
        return _cython_backend if _cython_backend is not None else _numpy_backend
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"backend: unknown backend {name!r}; choose 'cython', 'numpy' or 'auto'")
    if name == "numpy":
        return _numpy_backend
    if _cython_backend is None:
        raise ImportError(
            "backend: the Cython extension fastmlp._kernels is not built "
            f"({_import_error}); reinstall with `pip install .`, or pass backend='numpy'")
    return _cython_backend


def reload_backends():
    """Re-import both backends (for tests that rebuild the extension)."""
    global _cython_backend
    importlib.reload(_numpy_backend)
    if _cython_backend is not None:
        _cython_backend = importlib.reload(_cython_backend)
