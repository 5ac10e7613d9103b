"""Activations of your own: ``fastmlp.Activation(name, f, f_prime, needs_z=False)``.

    import numpy as np
    import fastmlp

    cube_root = fastmlp.Activation("cube_root", f=np.cbrt, f_prime=lambda A: 1 / (3 * A * A + 1e-12))
    swish2 = fastmlp.Activation("swish2", f=lambda Z: Z / (1 + np.exp(-2 * Z)),
                                f_prime=lambda Z: ..., needs_z=True)
    m = fastmlp.FastMLP([4, 32, 3], activation=swish2).fit(X, y)

``f(Z)`` returns A = f(Z) elementwise, an array of Z's shape (n, m); ``f_prime`` returns f'(z) of that
shape, from A (``needs_z=False``: the forward pass keeps only A) or from Z (``needs_z=True``: the forward
pass keeps Z too). Both receive arrays of the model's dtype and may return any float array of that shape
(it is copied into the kernels' buffers in that dtype).

On the compiled backend the fused kernels run the BLAS parts (the bias-prefilled GEMM, the delta GEMM,
the weight-gradient GEMMs) in C and call ``f`` / ``f_prime`` between them, taking the GIL for the call:
each call costs a Python call plus a view and a finiteness check of the block (a few µs), on top of what
``f`` costs in NumPy. The NumPy backend calls them in the same places.

Every call's result is checked: the wrong shape, non-numeric output, or NaN/infinity for a finite input
raise ``ValueError`` naming ``activation`` and the function; a training pass that fails so puts the weights
back as they were before it. A new ``Activation`` is probed at construction on a small block.

Saved models store the name (``"custom:<name>"``), never the code: ``FastMLP.load(path,
custom={"cube_root": cube_root})`` supplies it, and loading a model with a custom activation that is not
supplied raises ``ValueError`` saying which.
"""
from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable

import numpy as np

from ._registry import ACTIVATION_TABLE, ALIASES

# Not fastmlp.validation at import time: validation imports the kernels, which import this module (through
# _netspec); a cycle there would leave validation on its NumPy fallback of all_finite.

# The kernels' code of a custom activation: past the registry's codes, never written to a file; the
# compiled kernels declare the same number (_activations_extra.pxi's CUSTOM_ACT).
CUSTOM_CODE = 1000
# Live custom activations by index (the kernels find the Python object through its index, stored in the
# layer's parameter slot of the compiled network; the network's spec keeps the object alive meanwhile).
# Weak: activations made and dropped (clones in a grid search) do not accumulate.
_LIVE: weakref.WeakValueDictionary[int, Activation] = weakref.WeakValueDictionary()
_COUNTER = itertools.count()
_LOCK = threading.Lock()
_PENDING = threading.local()
PREFIX = "custom:"


class Activation:
    """An elementwise activation given as NumPy functions; see the module docstring.

    Parameters
    ----------
    name : str
        A name of your own (not one of the built-in activations'); used in messages and saved files.
    f : callable (n, m) -> (n, m)
        A = f(Z).
    f_prime : callable (n, m) -> (n, m)
        f'(z), given A = f(Z) (``needs_z=False``) or Z (``needs_z=True``).
    needs_z : bool
        Whether ``f_prime`` needs Z (the forward pass then keeps Z).
    """

    needs_z: bool
    per_unit = False
    output_only = False

    def __init__(self, name: str, f: Callable, f_prime: Callable, needs_z: bool = False):
        from .validation import ParameterError
        if not isinstance(name, str) or not name or not name.replace("_", "").isalnum():
            raise ParameterError(f"activation: a custom activation's name must be a non-empty identifier, "
                                 f"got {name!r}")
        if name.lower() in ACTIVATION_TABLE or name.lower() in ALIASES:
            raise ParameterError(f"activation: {name!r} is a built-in activation; give yours another name")
        if not callable(f) or not callable(f_prime):
            raise ParameterError(f"activation: f and f_prime of {name!r} must be callables")
        if not isinstance(needs_z, (bool, np.bool_)):
            raise ParameterError(f"activation: needs_z of {name!r} must be True or False, got {needs_z!r}")
        self.name, self.f, self.f_prime, self.needs_z = name, f, f_prime, bool(needs_z)
        self._probe()
        with _LOCK:
            self.index = next(_COUNTER) % (1 << 24)  # exact in the float32 parameter slot
            _LIVE[self.index] = self

    def __reduce__(self):  # a fresh index in the process that unpickles it
        return (Activation, (self.name, self.f, self.f_prime, self.needs_z))

    def __repr__(self) -> str:
        return f"Activation({self.name!r}, needs_z={self.needs_z})"

    @property
    def saved_name(self) -> str:
        return PREFIX + self.name

    def _probe(self) -> None:
        Z = np.linspace(-3.0, 3.0, 12).reshape(3, 4)
        A = np.empty_like(Z)
        self.forward_into(Z, A)
        self.derivative(A, Z)

    def _checked(self, result, like: np.ndarray, what: str) -> np.ndarray:
        try:
            r = np.asarray(result)
        except Exception:  # noqa: BLE001 - whatever the function returned
            r = np.asarray(None, dtype=object)
        if r.shape != like.shape:
            raise ValueError(f"activation: custom activation {self.name!r}: {what} returned shape {r.shape} "
                             f"for an input of shape {like.shape} (must be elementwise)")
        if r.dtype.kind not in "biuf":
            raise ValueError(f"activation: custom activation {self.name!r}: {what} returned dtype {r.dtype}, "
                             "expected floats")
        if not np.isfinite(r).all() and np.isfinite(like).all():
            raise ValueError(f"activation: custom activation {self.name!r}: {what} returned NaN or infinity "
                             "for a finite input")
        return r

    def forward_into(self, Z: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out = f(Z), checked."""
        r = self._checked(self.f(Z), Z, "f")
        np.copyto(out, r, casting="unsafe")
        return out

    def derivative(self, A: np.ndarray, Z: np.ndarray | None) -> np.ndarray:
        """f'(z) from A (or from Z when needs_z), checked."""
        x = Z if self.needs_z else A
        if x is None:
            raise ValueError(f"Z: custom activation {self.name!r} needs the pre-activation Z")
        return self._checked(self.f_prime(x), x, "f_prime")

    def backprop_into(self, A: np.ndarray, Z: np.ndarray | None, G: np.ndarray) -> np.ndarray:
        """G ← G ⊙ f'(z)."""
        d = self.derivative(A, Z)
        np.multiply(G, d, out=G, casting="unsafe")
        return G


def is_custom(activation) -> bool:
    return isinstance(activation, Activation)


def resolve_saved(name: str, custom: dict | None, where: str) -> Activation | None:
    """The custom activation a saved name ``custom:<name>`` stands for (None for a built-in name)."""
    if not isinstance(name, str) or not name.startswith(PREFIX):
        return None
    key = name[len(PREFIX):]
    act = (custom or {}).get(key)
    if not isinstance(act, Activation):
        raise ValueError(f"{where}: the model uses the custom activation {key!r}; pass it to load: "
                         f"FastMLP.load(path, custom={{{key!r}: fastmlp.Activation({key!r}, f, f_prime)}})")
    return act


# ---- errors raised inside the kernels' callbacks ------------------------------------------------------

def record_error(exc: BaseException) -> None:
    """Keep the first error of a callback (the kernels cannot raise across their nogil code); the
    Python-level call that ran them raises it (``raise_pending``)."""
    if getattr(_PENDING, "error", None) is None:
        _PENDING.error = exc


def raise_pending() -> None:
    exc = getattr(_PENDING, "error", None)
    if exc is not None:
        _PENDING.error = None
        raise exc
