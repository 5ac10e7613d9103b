"""Backend selection: the Cython kernels, or the pure-NumPy reference with the same functions."""
from __future__ import annotations

import contextlib
import contextvars

from . import _numpy_backend

BACKENDS = ("cython", "numpy")
_import_error = None
# The default for backend=None (fastmlp.ops and friends): set_backend() sets it for the process,
# use_backend() overrides it inside a with-block for the current thread / asyncio task only.
_default_name = "auto"
_override = contextvars.ContextVar("fastmlp_backend", default=None)



def _openmp_runtime_loaded() -> bool:
    """Whether the process has already loaded the shared OpenMP runtime the kernels link (Linux)."""
    try:
        with open("/proc/self/maps") as fh:
            return "libgomp.so.1" in fh.read()
    except OSError:
        return False


def _import_kernels():
    """Import the compiled kernels with ``OMP_WAIT_POLICY=PASSIVE`` for the OpenMP runtime they load (unless
    the user chose a policy): the kernels split element-wise work between BLAS calls, and OpenMP threads
    spinning after a split would take the cores OpenBLAS's own threads need for the next product. The
    variable is removed again once the runtime has read it, so child processes do not inherit it. When
    the runtime was already running (loaded by another extension, its policy unknown) the kernels keep
    element-wise work on the calling thread."""
    import os
    loaded_before = _openmp_runtime_loaded()
    unset = "OMP_WAIT_POLICY" not in os.environ
    if unset:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        from . import _kernels
    finally:
        if unset:
            del os.environ["OMP_WAIT_POLICY"]
    if loaded_before and os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        _kernels._set_blas_threads_getter(0)
    return _kernels


try:
    _cython_backend = _import_kernels()
except ImportError as exc:  # a source checkout that was never built
    _cython_backend = None
    _import_error = exc


def cython_available() -> bool:
    """True when the compiled extension ``fastmlp._kernels`` imports."""
    return _cython_backend is not None


def get_backend(name=None):
    """Return the backend module for ``name``: "cython", "numpy", "auto" (Cython if built), or None for
    the current default (``set_backend``/``use_backend``; "auto" until changed). Its ``NAME`` attribute
    says which one it is."""
    if name is None:
        name = _override.get() or _default_name
    if name == "auto":
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


def _check_name(name):
    """Validate ``name`` (and that the backend it names can be used); returns it."""
    if name is None:
        raise ValueError("backend: expected 'cython', 'numpy' or 'auto', got None")
    get_backend(name)  # raises ValueError (unknown name) or ImportError (Cython not built)
    return name


def set_backend(name):
    """Set the process-wide default backend ("cython", "numpy" or "auto") used wherever a backend is not
    named (``backend=None``), e.g. by every function of ``fastmlp.ops``. Returns the previous default.

    Raises ValueError for an unknown name and ImportError for "cython" when the extension is not built.
    Models keep the backend they were built with (``FastMLP(backend=...)``)."""
    global _default_name
    previous = _default_name
    _default_name = _check_name(name)
    return previous


@contextlib.contextmanager
def use_backend(name):
    """``with fastmlp.use_backend("numpy"): ...`` makes ``name`` the default backend inside the block, for
    the current thread (or asyncio task) only; the previous default returns afterwards. Yields the
    backend module."""
    token = _override.set(_check_name(name))
    try:
        yield get_backend()
    finally:
        _override.reset(token)
