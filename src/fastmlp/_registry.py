"""The registry: every activation, loss and optimizer of fastmlp, declared once.

Everything else reads it: parameter validation (``fastmlp.validation``), the NumPy backend (its forward
and derivative are the ones below), the integer codes of the Cython kernels (``_codes.h`` is generated from
this module, ``python -m fastmlp._registry --write-header``; a test holds the compiled constants to it),
``fastmlp.ops.ACTIVATION_CODES``, the torch/ONNX exchange, the plots, the CLI's choices and the README's
tables.

Adding an activation = one ``Activation`` entry here (with its NumPy forward and derivative), one branch in
the kernels' ``_act_forward``/``_act_backprop`` (``_activations.pxi``) keyed by its generated ``ACT_*``
constant, and its tests (``tests/conftest.py`` picks it up for the finite-difference and equivalence
tests automatically).

Conventions of the NumPy functions: ``forward(Z, out, p)`` writes f(Z) into ``out``; ``derivative(A, Z,
out, p)`` writes f'(z) into ``out`` from ``A = f(Z)`` (and ``Z`` when ``needs_z``). ``p`` is the scalar
parameter (``Activation.param``) or, for PReLU, the per-unit slope array ``gamma (m,)``. Arrays share one
dtype; constants are cast to it so that float32 stays float32.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.special import erfc, expit

_SQRT1_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


@dataclass(frozen=True)
class Param:
    """The scalar parameter of an activation: its name, default, and the open/closed lower bound."""

    name: str
    default: float
    low: float | None = None
    low_open: bool = False

    def check(self, value: float, activation: str, argument: str = "activation") -> float:
        """``value`` as a float, or ValueError naming ``argument`` when it breaks this parameter's rule."""
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"{argument}: parameter of {activation} must be finite, got {value}")
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            op = ">" if self.low_open else ">="
            raise ValueError(f"{argument}: {activation} {self.name} must be {op} {self.low:g}, got {value}")
        return value


@dataclass(frozen=True)
class Activation:
    """One activation function f, applied elementwise (row-wise for softmax) after ``Z = A·W + b``."""

    name: str
    code: int
    forward: Callable
    derivative: Callable | None
    label: str                      # plot title / docs name
    formula: str                    # f(z), for docs
    aliases: tuple[str, ...] = ()
    param: Param | None = None      # scalar parameter (leaky slope, elu gamma, initial PReLU slope)
    per_unit: bool = False          # the parameter is a trained per-unit vector (PReLU)
    needs_z: bool = False          # f'(z) cannot be recovered from A = f(Z): the forward pass keeps Z
    output_only: bool = False       # the output of its loss only (softmax, exp), never a hidden activation
    he_init: bool = False           # FastMLP initialises the weights before it He-normal, else Glorot
    lecun_init: bool = False        # ... LeCun-normal N(0, 1/fan_in) instead (selu: self-normalising)
    sklearn_init_factor: float = 6.0  # scikit-learn's Glorot bound √(factor / (fan_in + fan_out))
    torch_module: str | None = None  # torch.nn class name
    torch_param: str | None = None   # its attribute holding ``param``
    onnx_op: str | None = None       # the single float32 ONNX op, when there is one

    @property
    def default_param(self) -> float:
        return self.param.default if self.param is not None else 0.0


@dataclass(frozen=True)
class Loss:
    """A loss paired with its output activation. ``delta`` is ∂L/∂Z of the output layer: P − Y for the
    canonical pairs (softmax/cross-entropy, sigmoid/binary cross-entropy, identity/squared error,
    exp/Poisson: computed from the output pre-activation Z)."""

    name: str
    code: int
    output: str | None             # the output activation it needs (None: any elementwise one)
    classifier: bool
    formula: str


@dataclass(frozen=True)
class OptimizerKind:
    """An optimizer's name, kernel code, number of state vectors and default learning rate."""

    name: str
    code: int
    n_state: int
    default_lr: float
    formula: str
    hyperparameters: tuple[str, ...] = field(default=())


# ------------------------------------------------------------------------------------------------------
# NumPy forward and derivative of each activation
# ------------------------------------------------------------------------------------------------------

def _identity(Z, out, p):
    np.copyto(out, Z)


def _d_identity(A, Z, out, p):
    out.fill(1)


def _logistic(Z, out, p):
    expit(Z, out=out)


def _d_logistic(A, Z, out, p):
    np.copyto(out, A * (A.dtype.type(1) - A))


def _tanh(Z, out, p):
    np.tanh(Z, out=out)


def _d_tanh(A, Z, out, p):
    np.copyto(out, A.dtype.type(1) - A * A)


def _relu(Z, out, p):
    np.maximum(Z, Z.dtype.type(0), out=out)


def _d_relu(A, Z, out, p):
    np.copyto(out, (A > 0).astype(A.dtype))


def _leaky_relu(Z, out, p):
    np.copyto(out, np.where(Z > 0, Z, Z.dtype.type(p) * Z))


def _d_leaky_relu(A, Z, out, p):
    dt = A.dtype.type
    np.copyto(out, np.where(A > 0, dt(1), dt(p)))


def _prelu(Z, out, gamma):
    np.copyto(out, np.where(Z > 0, Z, gamma * Z))


def _d_prelu(A, Z, out, gamma):
    np.copyto(out, np.where(Z > 0, A.dtype.type(1), gamma))


def _elu(Z, out, p):
    dt = Z.dtype.type
    np.copyto(out, np.where(Z > 0, Z, dt(p) * np.expm1(np.minimum(Z, dt(0)))))


def _d_elu(A, Z, out, p):
    dt = A.dtype.type
    np.copyto(out, np.where(A > 0, dt(1), A + dt(p)))


def _softplus(Z, out, p):
    np.copyto(out, np.maximum(Z, Z.dtype.type(0)) + np.log1p(np.exp(-np.abs(Z))))


def _d_softplus(A, Z, out, p):
    np.copyto(out, -np.expm1(-A))


def _gelu(Z, out, p):
    dt = Z.dtype.type
    np.copyto(out, dt(0.5) * Z * erfc(-Z * dt(_SQRT1_2)))  # x·Φ(x) without cancellation for x < 0


def _d_gelu(A, Z, out, p):
    dt = Z.dtype.type
    np.copyto(out, dt(0.5) * erfc(-Z * dt(_SQRT1_2)) + Z * dt(_INV_SQRT_2PI) * np.exp(dt(-0.5) * Z * Z))


def _silu(Z, out, p):
    np.copyto(out, Z * expit(Z))


def _d_silu(A, Z, out, p):
    s = expit(Z)
    dt = Z.dtype.type
    np.copyto(out, s * (dt(1) + Z * (dt(1) - s)))


def _softsign(Z, out, p):
    np.copyto(out, Z / (Z.dtype.type(1) + np.abs(Z)))


def _d_softsign(A, Z, out, p):
    np.copyto(out, np.square(A.dtype.type(1) - np.abs(A)))


def _hardtanh(Z, out, p):
    dt = Z.dtype.type
    np.clip(Z, dt(-1), dt(1), out=out)


def _d_hardtanh(A, Z, out, p):
    np.copyto(out, (np.abs(A) < 1).astype(A.dtype))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_LAMBDA = 1.0507009873554804934193349852946
_MISH_CUT = 50.0  # mish(x) = x and mish'(x) = 1 to double precision above (and e^2x would overflow)


def _selu(Z, out, p):
    dt = Z.dtype.type
    np.copyto(out, dt(_SELU_LAMBDA) * np.where(Z > 0, Z, dt(_SELU_ALPHA) * np.expm1(np.minimum(Z, dt(0)))))


def _d_selu(A, Z, out, p):
    dt = A.dtype.type
    np.copyto(out, np.where(A > 0, dt(_SELU_LAMBDA), A + dt(_SELU_LAMBDA * _SELU_ALPHA)))


def _mish_parts(Z):
    """(x, u, n) in float64: u = e^x, n = u (u + 2), so that tanh(softplus(x)) = n / (n + 2) without
    cancellation for x < 0 (x clipped where the formula would overflow; callers treat x > _MISH_CUT)."""
    x = Z.astype(np.float64)
    u = np.exp(np.minimum(x, _MISH_CUT))
    return x, u, u * (u + 2.0)


def _mish(Z, out, p):
    x, u, n = _mish_parts(Z)
    np.copyto(out, np.where(x > _MISH_CUT, x, x * n / (n + 2.0)), casting="unsafe")


def _d_mish(A, Z, out, p):
    x, u, n = _mish_parts(Z)
    d = n + 2.0
    np.copyto(out, np.where(x > _MISH_CUT, 1.0, n / d + x * (4.0 * u * (1.0 + u) / d) / d), casting="unsafe")


def _softmax(Z, out, p):
    m = Z.max(axis=1, keepdims=True)
    np.subtract(Z, m, out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)


def _exp(Z, out, p):
    with np.errstate(over="ignore"):  # e^z overflows to inf for huge z, silently (as the kernels)
        np.exp(Z, out=out)


def _d_exp(A, Z, out, p):
    np.copyto(out, A)


# ------------------------------------------------------------------------------------------------------
# The tables. Codes are the kernels' ACT_*, LOSS_* and OPT_* constants: append, never renumber (saved
# models store names, but the Cython-level API of other projects stores codes).
# ------------------------------------------------------------------------------------------------------

_ACTIVATION_LIST = (
    Activation("identity", 0, _identity, _d_identity, "identity", "z", aliases=("linear",),
               onnx_op="Identity"),
    Activation("logistic", 1, _logistic, _d_logistic, "logistic (sigmoid)", "1 / (1 + e^-z)",
               aliases=("sigmoid",), sklearn_init_factor=2.0, torch_module="Sigmoid", onnx_op="Sigmoid"),
    Activation("tanh", 2, _tanh, _d_tanh, "tanh", "tanh z", torch_module="Tanh", onnx_op="Tanh"),
    Activation("relu", 3, _relu, _d_relu, "ReLU", "max(z, 0)", he_init=True, torch_module="ReLU",
               onnx_op="Relu"),
    Activation("leaky_relu", 4, _leaky_relu, _d_leaky_relu, "leaky ReLU", "z if z > 0 else αz",
               param=Param("slope", 0.01, low=0.0), he_init=True, torch_module="LeakyReLU",
               torch_param="negative_slope", onnx_op="LeakyRelu"),
    Activation("prelu", 5, _prelu, _d_prelu, "PReLU", "z if z > 0 else γ_j z (γ trained per unit)",
               param=Param("initial slope", 0.25), per_unit=True, needs_z=True, he_init=True,
               torch_module="PReLU", onnx_op="PRelu"),
    Activation("elu", 6, _elu, _d_elu, "ELU", "z if z > 0 else γ(e^z − 1)",
               param=Param("gamma", 1.0, low=0.0, low_open=True), he_init=True, torch_module="ELU",
               torch_param="alpha", onnx_op="Elu"),
    Activation("softplus", 7, _softplus, _d_softplus, "softplus", "log(1 + e^z)", he_init=True,
               torch_module="Softplus", onnx_op="Softplus"),
    Activation("gelu", 8, _gelu, _d_gelu, "GELU", "z Φ(z)", needs_z=True, he_init=True,
               torch_module="GELU"),
    Activation("silu", 9, _silu, _d_silu, "SiLU (swish)", "z σ(z)", aliases=("swish",), needs_z=True,
               he_init=True, torch_module="SiLU"),
    Activation("softsign", 10, _softsign, _d_softsign, "softsign", "z / (1 + |z|)",
               torch_module="Softsign", onnx_op="Softsign"),
    Activation("hardtanh", 11, _hardtanh, _d_hardtanh, "hardtanh", "clip(z, −1, 1)",
               torch_module="Hardtanh"),
    Activation("softmax", 12, _softmax, None, "softmax", "e^z_j / Σ_k e^z_k (row-wise)", output_only=True,
               torch_module="Softmax", onnx_op="Softmax"),
    Activation("exp", 13, _exp, _d_exp, "exponential", "e^z", output_only=True, onnx_op="Exp"),
    Activation("selu", 14, _selu, _d_selu, "SELU", "λz if z > 0 else λα(e^z − 1), λ ≈ 1.0507, α ≈ 1.6733",
               lecun_init=True, torch_module="SELU", onnx_op="Selu"),
    Activation("mish", 15, _mish, _d_mish, "Mish", "z tanh(softplus(z))", needs_z=True, he_init=True,
               torch_module="Mish"),
)

_LOSS_LIST = (
    Loss("cross_entropy", 0, "softmax", True, "−Σ_j y_j log p_j (one-hot y)"),
    Loss("binary_cross_entropy", 1, "logistic", True, "−Σ_j [y_j log p_j + (1 − y_j) log(1 − p_j)]"),
    Loss("squared_error", 2, None, False, "½ Σ_j (ŷ_j − y_j)²"),
    Loss("poisson", 3, "exp", False,
         "Σ_j (μ_j − y_j z_j + y_j log y_j − y_j), μ = e^z (half Poisson deviance; 0 log 0 = 0)"),
)

_OPTIMIZER_LIST = (
    OptimizerKind("sgd", 0, 0, 0.01, "θ ← θ − α g"),
    OptimizerKind("momentum", 1, 1, 0.01, "v ← μ v − α g;  θ ← θ + v", ("momentum",)),
    OptimizerKind("nesterov", 2, 1, 0.01, "v ← μ v − α g;  θ ← θ + μ v − α g", ("momentum",)),
    OptimizerKind("adam", 3, 2, 0.001, "m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;  θ ← θ − α m̂ / (√v̂ + ε)",
              ("beta1", "beta2", "eps")),
    OptimizerKind("rmsprop", 4, 1, 0.001, "v ← ρ v + (1−ρ) g²;  θ ← θ − α g / (√v + ε)", ("rho", "eps")),
    OptimizerKind("adamw", 5, 2, 0.001,
                  "W ← (1 − α λ_w) W (weights only, decoupled from g);  then Adam's step",
                  ("beta1", "beta2", "eps", "weight_decay")),
    OptimizerKind("rprop", 6, 2, 0.01,
                  "iRprop⁻, full batch: Δ ← min(η⁺Δ, Δmax) if g·g₋ > 0, Δ ← max(η⁻Δ, Δmin) and g ← 0 if "
                  "g·g₋ < 0;  θ ← θ − sign(g) Δ;  g₋ ← g  (Δ starts at α)",
                  ("eta_plus", "eta_minus", "step_min", "step_max")),
)

ACTIVATION_TABLE: dict[str, Activation] = {a.name: a for a in _ACTIVATION_LIST}
LOSS_TABLE: dict[str, Loss] = {loss.name: loss for loss in _LOSS_LIST}
OPTIMIZER_TABLE: dict[str, OptimizerKind] = {o.name: o for o in _OPTIMIZER_LIST}

# Derived views, for the readers that want plain names and numbers.
ACTIVATIONS: tuple[str, ...] = tuple(a.name for a in sorted(_ACTIVATION_LIST, key=lambda a: a.code))
ACTIVATION_CODES: dict[str, int] = {a.name: a.code for a in _ACTIVATION_LIST}
ALIASES: dict[str, str] = {alias: a.name for a in _ACTIVATION_LIST for alias in a.aliases}
HIDDEN_ACTIVATIONS: tuple[str, ...] = tuple(n for n in ACTIVATIONS if not ACTIVATION_TABLE[n].output_only)
OUTPUT_ONLY: frozenset[str] = frozenset(a.name for a in _ACTIVATION_LIST if a.output_only)
DEFAULT_PARAM: dict[str, float] = {a.name: a.param.default for a in _ACTIVATION_LIST if a.param is not None}
NEEDS_Z: frozenset[str] = frozenset(a.name for a in _ACTIVATION_LIST if a.needs_z)
HE_INIT: frozenset[str] = frozenset(a.name for a in _ACTIVATION_LIST if a.he_init)
LECUN_INIT: frozenset[str] = frozenset(a.name for a in _ACTIVATION_LIST if a.lecun_init)
PER_UNIT: frozenset[str] = frozenset(a.name for a in _ACTIVATION_LIST if a.per_unit)
LOSSES: tuple[str, ...] = tuple(loss.name for loss in sorted(_LOSS_LIST, key=lambda x: x.code))
LOSS_CODES: dict[str, int] = {loss.name: loss.code for loss in _LOSS_LIST}
OPTIMIZERS: tuple[str, ...] = tuple(o.name for o in sorted(_OPTIMIZER_LIST, key=lambda x: x.code))
OPTIMIZER_CODES: dict[str, int] = {o.name: o.code for o in _OPTIMIZER_LIST}
# The output activation a loss implies, and the loss an output implies (others: squared error).
OUTPUT_OF_LOSS: dict[str, str] = {loss.name: loss.output for loss in _LOSS_LIST if loss.output}
LOSS_OF_OUTPUT: dict[str, str] = {loss.output: loss.name for loss in _LOSS_LIST if loss.output}
# The defaults the faces offer: the hidden activation when none is named, the output of a classifier
# and of a squared-error regressor.
DEFAULT_HIDDEN: str = "relu"
DEFAULT_OUTPUT: str = "softmax"
REGRESSION_OUTPUT: str = "identity"


def _check_table(entries, what):
    codes = sorted(e.code for e in entries)
    if codes != list(range(len(entries))):
        raise AssertionError(f"registry: {what} codes must be 0..{len(entries) - 1}, got {codes}")
    names = [e.name for e in entries] + [a for e in entries for a in getattr(e, "aliases", ())]
    if len(set(names)) != len(names):
        raise AssertionError(f"registry: duplicate {what} name or alias in {names}")


_check_table(_ACTIVATION_LIST, "activation")
_check_table(_LOSS_LIST, "loss")
_check_table(_OPTIMIZER_LIST, "optimizer")


def canonical_activation(name: str, argument: str = "activation") -> str:
    """The canonical name of activation ``name`` (case-insensitive, aliases resolved).

    Raises TypeError for a non-string and ValueError naming ``argument`` for an unknown name."""
    if not isinstance(name, str):
        raise TypeError(f"{argument}: activation must be a string (or a fastmlp.Activation of your own), "
                        f"got {type(name).__name__}")
    key = name.lower()
    key = ALIASES.get(key, key)
    if key not in ACTIVATION_TABLE:
        raise ValueError(
            f"{argument}: unknown activation {name!r}; choose one of "
            f"{', '.join(HIDDEN_ACTIVATIONS)} (aliases: {', '.join(ALIASES)})")
    return key


def activation(name: str) -> Activation:
    """The registry entry of activation ``name`` (aliases resolved)."""
    return ACTIVATION_TABLE[canonical_activation(name)]


def c_header() -> str:
    """The C header ``_codes.h`` the kernels include: one enum per table, generated from this module."""
    lines = ["/* Generated by `python -m fastmlp._registry --write-header` from src/fastmlp/_registry.py.",
             " * Do not edit: tests/test_registry.py fails when this file and the registry disagree. */",
             "#ifndef FASTMLP_CODES_H", "#define FASTMLP_CODES_H", ""]
    for prefix, entries in (("ACT", _ACTIVATION_LIST), ("LOSS", _LOSS_LIST), ("OPT", _OPTIMIZER_LIST)):
        lines.append("enum {")
        for e in sorted(entries, key=lambda x: x.code):
            lines.append(f"    FASTMLP_{prefix}_{e.name.upper()} = {e.code},")
        lines.append(f"    FASTMLP_N_{prefix} = {len(entries)}")
        lines.append("};")
        lines.append("")
    lines.append("#endif")
    return "\n".join(lines) + "\n"


def _header_path() -> str:
    import os
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_codes.h")


def _main(argv: list[str]) -> int:
    if argv == ["--write-header"]:
        with open(_header_path(), "w", encoding="utf-8") as fh:
            fh.write(c_header())
        print(f"wrote {_header_path()}")
        return 0
    if argv == ["--check-header"]:
        with open(_header_path(), encoding="utf-8") as fh:
            same = fh.read() == c_header()
        print("_codes.h matches the registry" if same else "_codes.h is stale: run --write-header")
        return 0 if same else 1
    print("usage: python -m fastmlp._registry --write-header | --check-header", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
