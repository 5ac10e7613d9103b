"""``fastmlp.check_gradients``: the model's exact gradients against central finite differences.

For every parameter block (each layer's weights, biases and PReLU slopes) it compares the analytic
gradient ``a = ∂R/∂θ`` of ``FastMLP.gradient_vector`` with the central difference

    n_i = (R(θ + ε e_i) − R(θ − ε e_i)) / (2ε)

of the same risk R = mean loss + (λ/2) Σ‖W‖² + λ₁ Σ|W| (dropout is never applied to R), and reports the
block's relative error

    err = ‖a − n‖₂ / max(‖a‖₂ + ‖n‖₂, √k · 64 u max(1, |R|) / ε)      (0: identical; 1: unrelated)

over the block's k checked entries, u the dtype's unit roundoff: the floor is the rounding noise of the
difference quotient, so a block whose gradient is 0 (a PReLU slope of units that never go negative) is
not judged on noise alone.

Both are computed in the model's dtype, so the attainable error depends on it: with the default ε
(1e-6 in float64, 1e-3 in float32 — ε balances the O(ε²) truncation against the rounding of R, O(u/ε))
a correct gradient gives errors around 1e-9 in float64 and 1e-4 in float32 (up to ~3e-2 where the larger
float32 step crosses relu/selu kinks), a wrong one errors of order 1. ``TOLERANCE`` is the bound a check
passes with: 1e-6 (float64) and 5e-2 (float32). For a verdict on a float32 model's maths, check a
float64 copy (``FastMLP.load`` of its file with the dtype changed, or the same architecture in float64).
Kinks (relu at 0, hardtanh at ±1, L1 at W = 0) within ε of a pre-activation or weight make the difference
quotient straddle them: a large error on such a block is the kink, not the gradient.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from .validation import ParameterError

TOLERANCE = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 5e-2}
DEFAULT_EPS = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-3}


@dataclass
class GradientCheck:
    """The result of ``check_gradients``: ``errors`` maps each block ("weights[0]", "biases[0]",
    "slopes[0]", ...) to its relative error; ``worst`` is the largest, ``tolerance`` the dtype's bound and
    ``passed`` whether ``worst <= tolerance``. ``analytic`` and ``numeric`` hold the compared gradients
    (flat, NaN where a block was sampled and the entry not checked)."""

    errors: dict[str, float]
    tolerance: float
    eps: float
    analytic: np.ndarray = field(repr=False)
    numeric: np.ndarray = field(repr=False)

    @property
    def worst(self) -> float:
        return max(self.errors.values()) if self.errors else 0.0

    @property
    def passed(self) -> bool:
        return self.worst <= self.tolerance

    def __bool__(self) -> bool:
        return self.passed


def _blocks(model):
    spec = model.spec
    for l in range(spec.n_layers):
        w0, b0, g0 = spec.w_offsets[l], spec.b_offsets[l], spec.g_offsets[l]
        fo = spec.sizes[l + 1]
        yield f"weights[{l}]", w0, b0
        yield f"biases[{l}]", b0, b0 + fo
        if g0 >= 0:
            yield f"slopes[{l}]", g0, g0 + fo


def check_gradients(model, X: ArrayLike, y: ArrayLike, eps: float | None = None,
                    sample_weight: ArrayLike | None = None, max_per_block: int | None = None,
                    seed: int = 0) -> GradientCheck:
    """Compare ``model``'s gradient of R on (X, y) with central finite differences, block by block.

    Parameters
    ----------
    model : FastMLP (or a scikit-learn wrapper, whose fitted FastMLP is checked)
    X : (n, d_in) array; y : targets as ``fit`` takes them (for a classifier, labels it knows)
    eps : the step ε (default 1e-6 for float64 models, 1e-3 for float32); > 0
    max_per_block : check at most this many entries of each block, drawn at random with ``seed`` (a big
        network costs 2 evaluations of R per entry); None checks every entry
    Returns a ``GradientCheck`` (``errors`` per block, ``worst``, ``tolerance``, ``passed``). The model's
    parameters are left exactly as they were.
    """
    inner = getattr(model, "_model", None)
    if inner is not None and not hasattr(model, "gradient_vector"):
        model = inner
    if not hasattr(model, "gradient_vector"):
        raise TypeError("model: expected a FastMLP or a fitted fastmlp estimator, got "
                        f"{type(model).__name__}")
    dt = np.dtype(model.dtype)
    eps = DEFAULT_EPS[dt] if eps is None else eps
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or not np.isfinite(eps) \
            or eps <= 0:
        raise ParameterError(f"eps: must be a finite number > 0, got {eps!r}")
    if max_per_block is not None and (isinstance(max_per_block, bool) or not isinstance(max_per_block, int)
                                      or max_per_block < 1):
        raise ParameterError(f"max_per_block: expected None or an int >= 1, got {max_per_block!r}")
    r0, analytic = model.gradient_vector(X, y, sample_weight)
    noise = 64 * np.finfo(dt).eps / 2 * max(1.0, abs(r0)) / eps
    analytic = analytic.astype(np.float64)
    theta0 = model.get_params_vector()
    numeric = np.full(theta0.shape, np.nan)
    rng = np.random.default_rng(seed)
    errors = {}
    try:
        for name, start, stop in _blocks(model):
            idx = np.arange(start, stop)
            if max_per_block is not None and idx.size > max_per_block:
                idx = np.sort(rng.choice(idx, max_per_block, replace=False))
            for i in idx:
                t = theta0.copy()
                t[i] = theta0[i] + dt.type(eps)
                h_plus = float(t[i]) - float(theta0[i])  # the step actually taken, after rounding
                model.set_params_vector(t)
                r_plus = model.loss(X, y, sample_weight)
                t[i] = theta0[i] - dt.type(eps)
                h_minus = float(theta0[i]) - float(t[i])
                model.set_params_vector(t)
                r_minus = model.loss(X, y, sample_weight)
                numeric[i] = (r_plus - r_minus) / (h_plus + h_minus)
            a, n = analytic[idx], numeric[idx]
            denom = max(np.linalg.norm(a) + np.linalg.norm(n), np.sqrt(idx.size) * noise)
            errors[name] = float(np.linalg.norm(a - n) / denom)
    finally:
        model.set_params_vector(theta0)
    return GradientCheck(errors, TOLERANCE[dt], float(eps), analytic, numeric)
