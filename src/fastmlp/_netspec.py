"""The names, codes and parameter layout shared by both backends.

A network with layer sizes ``[d, M_1, ..., M_L]`` keeps *all* its trainable parameters in one flat,
contiguous vector ``theta`` (thinc does the same): for each layer l in order, ``W(l)`` row-major with shape
``(M_{l-1}, M_l)`` (fan_in, fan_out), then ``b(l)`` with shape ``(M_l,)``, then, for a PReLU layer, its
slopes ``gamma(l)`` with shape ``(M_l,)``. Gradients and optimizer state use the same layout, so an update is
one pass over one vector, and ``FastMLP.weights`` are views into ``theta``.
"""
from __future__ import annotations

import numpy as np

from ._registry import (  # noqa: F401  (re-exported: the layout's readers import the tables from here)
    ACTIVATION_CODES,
    ACTIVATION_TABLE,
    ACTIVATIONS,
    ALIASES,
    DEFAULT_PARAM,
    HIDDEN_ACTIVATIONS,
    LOSS_CODES,
    LOSS_OF_OUTPUT,
    LOSS_TABLE,
    LOSSES,
    NEEDS_Z,
    OPTIMIZER_CODES,
    OPTIMIZER_TABLE,
    OPTIMIZERS,
    OUTPUT_OF_LOSS,
    OUTPUT_ONLY,
    PER_UNIT,
    canonical_activation,
)
from .custom import CUSTOM_CODE, is_custom


def parse_activation(spec, argument: str = "activation") -> tuple[str, float]:
    """``"relu"`` or ``("leaky_relu", 0.2)`` -> (canonical name, float parameter), checked by the
    registry's rule for that parameter; errors name ``argument``. A ``fastmlp.Activation`` of your own
    comes back as itself (parameter 0)."""
    if is_custom(spec):
        return spec, 0.0
    if isinstance(spec, (tuple, list)):
        if len(spec) != 2:
            raise ValueError(f"{argument}: expected a name or (name, parameter), got {spec!r}")
        name = canonical_activation(spec[0], argument)
        entry = ACTIVATION_TABLE[name]
        try:
            param = float(spec[1])
        except (TypeError, ValueError):
            raise ValueError(f"{argument}: the parameter of {name} must be a number, "
                             f"got {spec[1]!r}") from None
        if entry.param is None:
            if not np.isfinite(param):
                raise ValueError(f"{argument}: parameter of {name} must be finite, got {param}")
            return name, param
        return name, entry.param.check(param, name, argument)
    name = canonical_activation(spec, argument)
    return name, ACTIVATION_TABLE[name].default_param


class NetSpec:
    """Architecture of a dense network: sizes, one activation per layer, the loss, and the flat layout.

    ``activations[l]`` is the activation of layer l+1 (the last one is the output activation);
    ``params[l]`` its float parameter (leaky slope, elu gamma, initial prelu slope; 0 otherwise).
    """

    __slots__ = ("sizes", "activations", "params", "loss", "codes", "loss_code",
                 "w_offsets", "b_offsets", "g_offsets", "n_params")

    def __init__(self, sizes, activations, params, loss):
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2:
            raise ValueError(f"layer_sizes: need at least an input and an output size, got {list(sizes)}")
        if any(s < 1 for s in sizes):
            raise ValueError(f"layer_sizes: every size must be >= 1, got {list(sizes)}")
        L = len(sizes) - 1
        if len(activations) != L or len(params) != L:
            raise ValueError(f"activations: need {L} (one per layer), got {len(activations)}")
        if loss not in LOSS_CODES:
            raise ValueError(f"loss: unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        out = activations[-1]
        for name in activations[:-1]:
            if name in OUTPUT_ONLY:
                raise ValueError(f"activation: {name} is an output activation only")
        needed = OUTPUT_OF_LOSS.get(loss)
        if needed is not None and out != needed:
            raise ValueError(f"loss: {loss} needs the {ACTIVATION_TABLE[needed].label} output")
        if out in OUTPUT_ONLY and LOSS_OF_OUTPUT.get(out) != loss:
            raise ValueError(f"loss: the {out} output is trained with {LOSS_OF_OUTPUT[out]}")
        self.sizes = sizes
        self.activations = tuple(activations)
        self.params = tuple(float(p) for p in params)
        self.loss = loss
        self.codes = tuple(CUSTOM_CODE if is_custom(a) else ACTIVATION_CODES[a] for a in self.activations)
        self.loss_code = LOSS_CODES[loss]
        w_off, b_off, g_off = [], [], []
        pos = 0
        for l in range(L):
            w_off.append(pos)
            pos += sizes[l] * sizes[l + 1]
            b_off.append(pos)
            pos += sizes[l + 1]
            if self.activations[l] in PER_UNIT:
                g_off.append(pos)
                pos += sizes[l + 1]
            else:
                g_off.append(-1)
        self.w_offsets, self.b_offsets, self.g_offsets = tuple(w_off), tuple(b_off), tuple(g_off)
        self.n_params = pos

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    def views(self, theta: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray | None]]:
        """Split a flat vector into lists (W, b, gamma) of views; gamma[l] is None unless layer l is PReLU."""
        Ws, bs, gs = [], [], []
        for l in range(self.n_layers):
            fi, fo = self.sizes[l], self.sizes[l + 1]
            w0, b0, g0 = self.w_offsets[l], self.b_offsets[l], self.g_offsets[l]
            Ws.append(theta[w0:w0 + fi * fo].reshape(fi, fo))
            bs.append(theta[b0:b0 + fo])
            gs.append(theta[g0:g0 + fo] if g0 >= 0 else None)
        return Ws, bs, gs

    def weight_mask(self) -> np.ndarray:
        """Boolean mask over theta: True where L2 applies (weights, not biases or PReLU slopes)."""
        mask = np.zeros(self.n_params, dtype=bool)
        for l in range(self.n_layers):
            mask[self.w_offsets[l]:self.b_offsets[l]] = True
        return mask

    def to_dict(self) -> dict:
        return {"sizes": list(self.sizes), "activations": list(self.activations),
                "params": list(self.params), "loss": self.loss}

    def __repr__(self):
        return (f"NetSpec(sizes={list(self.sizes)}, activations={list(self.activations)}, "
                f"loss={self.loss!r})")


class Optimizer:
    """Hyperparameters and flat state of one optimizer; both backends read and update it.

    sgd:       θ ← θ − α g                 (fused into the weight-gradient GEMM by the Cython backend)
    momentum:  v ← μ v − α g;  θ ← θ + v
    nesterov:  v ← μ v − α g;  θ ← θ + μ v − α g
    adam:      m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;  θ ← θ − α m̂ / (√v̂ + ε),
               m̂ = m / (1−β1^t), v̂ = v / (1−β2^t)
    rmsprop:   v ← ρ v + (1−ρ) g²;  θ ← θ − α g / (√v + ε)                       (state1 = v)
    adamw:     W ← (1 − α·weight_decay) W on the weights, then the Adam step       (state1 = m, state2 = v)
    rprop:     iRprop⁻ with per-parameter steps Δ (start α, × eta_plus / eta_minus, within
               [step_min, step_max]); θ ← θ − sign(g) Δ                           (state1 = g₋, state2 = Δ)
    g includes λ W for weights (L2 on weights only) and l1·sign(W) (L1 on weights only); with clip_norm /
    clip_value set, g is then clipped to that global L2 norm / to ±clip_value before the update.
    """

    def __init__(self, kind: str = "sgd", n_params: int = 0, dtype=np.float64, lr: float | None = 0.01,
                 l2: float = 0.0, momentum: float = 0.9, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, *, names: dict[str, str] | None = None, l1: float = 0.0,
                 rho: float = 0.9, weight_decay: float = 0.01, eta_plus: float = 1.2, eta_minus: float = 0.5,
                 step_min: float = 1e-6, step_max: float = 50.0):
        from .validation import ParameterError, check_param
        if not isinstance(kind, str) or kind not in OPTIMIZER_TABLE:
            raise ParameterError(f"optimizer: unknown optimizer {kind!r}; "
                                 f"choose one of {', '.join(OPTIMIZERS)}")
        entry = OPTIMIZER_TABLE[kind]
        names = names or {}
        if lr is None:
            lr = entry.default_lr
        self.kind = kind
        self.code = entry.code
        self.lr = check_param("lr", lr, names.get("lr"))
        self.l2 = check_param("l2", l2, names.get("l2"))
        self.momentum = check_param("momentum", momentum, names.get("momentum"))
        self.beta1 = check_param("beta1", beta1, names.get("beta1"))
        self.beta2 = check_param("beta2", beta2, names.get("beta2"))
        self.eps = check_param("eps", eps, names.get("eps"))
        self.l1 = check_param("l1", l1, names.get("l1"))
        self.rho = check_param("rho", rho, names.get("rho"))
        self.weight_decay = check_param("weight_decay", weight_decay, names.get("weight_decay"))
        self.eta_plus = check_param("eta_plus", eta_plus, names.get("eta_plus"))
        self.eta_minus = check_param("eta_minus", eta_minus, names.get("eta_minus"))
        self.step_min = check_param("step_min", step_min, names.get("step_min"))
        self.step_max = check_param("step_max", step_max, names.get("step_max"))
        if self.step_min > self.step_max:
            raise ParameterError(f"step_min: must be <= step_max ({self.step_max}), got {self.step_min}")
        self.clip_norm = 0.0   # gradient clipping of a fit (0: off), set by the engine per call
        self.clip_value = 0.0
        self.t = 0
        self._settings = (kind, self.lr, self.l2, self.momentum, self.beta1, self.beta2, self.eps, self.l1,
                          self.rho, self.weight_decay, self.eta_plus, self.eta_minus, self.step_min,
                          self.step_max)
        self.state1 = np.zeros(n_params if entry.n_state >= 1 else 0, dtype=dtype)
        self.state2 = np.zeros(n_params if entry.n_state >= 2 else 0, dtype=dtype)

    @property
    def settings(self) -> tuple:
        """The hyperparameters as given (a partial_fit with the same settings keeps the state)."""
        return self._settings

    @property
    def learning_rate(self) -> float:
        """The current learning rate (scikit-learn's name for ``lr``; schedules change it)."""
        return self.lr

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.lr = float(value)

    def __repr__(self):
        return f"Optimizer({self.kind!r}, lr={self.lr}, l2={self.l2}, t={self.t})"
