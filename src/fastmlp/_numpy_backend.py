"""Pure-NumPy reference backend.

Every function here has the same name, arguments and ``out=`` buffers as its twin in ``_kernels.pyx``;
the equivalence tests hold the Cython kernels to these. Shapes are batch-first and row-major:
``X (n, d)``, ``W (fan_in, fan_out)``, ``b (fan_out,)``, ``Z = X W + b``. All arrays of one call share a
dtype (float32 or float64) and nothing is upcast.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit, xlogy

from ._registry import (
    ACTIVATION_TABLE,
    ACTIVATIONS,
    NEEDS_Z,
    OPTIMIZER_CODES,
    PER_UNIT,
    _softmax as _softmax_rows,
    canonical_activation,
)
from .custom import is_custom

NAME = "numpy"
_IDENTITY = ACTIVATIONS[0]  # code 0: no activation, the default of dense_forward
_SGD, _MOMENTUM, _NESTEROV, _ADAM = (OPTIMIZER_CODES[k] for k in ("sgd", "momentum", "nesterov", "adam"))
_RMSPROP, _ADAMW, _RPROP = (OPTIMIZER_CODES[k] for k in ("rmsprop", "adamw", "rprop"))
_EXTRA_OPTIMIZERS = (_RMSPROP, _ADAMW, _RPROP)


def _check_same_dtype(**arrays):
    dtypes = {k: v.dtype for k, v in arrays.items() if v is not None}
    first = next(iter(dtypes.values()))
    if first not in (np.float32, np.float64):
        name = next(iter(dtypes))
        raise TypeError(f"{name}: dtype must be float32 or float64, got {first}")
    for k, dt in dtypes.items():
        if dt != first:
            raise TypeError(f"{k}: dtype {dt} does not match {next(iter(dtypes))} dtype {first}")


def _act_param(entry, param, n_units, dtype):
    """The parameter the registry's forward/derivative of ``entry`` takes: the per-unit slope array
    (checked), the scalar (the registry's default when ``param`` is None), or 0 for none."""
    if entry.per_unit:
        if not isinstance(param, np.ndarray) or param.shape != (n_units,):
            raise ValueError(f"param: {entry.name} needs a slope array of shape ({n_units},)")
        if param.dtype != dtype:
            raise TypeError(f"param: dtype {param.dtype} does not match {dtype}")
        return param
    if entry.param is None:
        return 0.0
    return entry.default_param if param is None else float(param)


# ----------------------------------------------------------------------------------------------------------
# Activations
# ----------------------------------------------------------------------------------------------------------

def activation_forward(Z, out, activation, param=None):
    """out = f(Z), elementwise (row-wise for softmax). ``out`` may be ``Z``. Returns out.

    param: slope for leaky_relu (default 0.01), gamma for elu (default 1.0), the per-unit slope array
    of shape (M,) for prelu. f is the registry's forward of the activation (or a ``fastmlp.Activation``'s
    own f).
    """
    if is_custom(activation):
        return activation.forward_into(Z, out)
    entry = ACTIVATION_TABLE[canonical_activation(activation)]
    _check_same_dtype(Z=Z, out=out)
    if Z.shape != out.shape:
        raise ValueError(f"out: shape {out.shape} does not match Z {Z.shape}")
    entry.forward(Z, out, _act_param(entry, param, Z.shape[-1], Z.dtype))
    return out


def activation_derivative(A, Z, out, activation, param=None):
    """out = f'(z), computed from the forward output ``A`` where the table allows, from ``Z`` for
    prelu, gelu and silu (``Z`` may be None otherwise). Returns out. f' is the registry's derivative."""
    if is_custom(activation):
        np.copyto(out, activation.derivative(A, Z), casting="unsafe")
        return out
    entry = ACTIVATION_TABLE[canonical_activation(activation)]
    if entry.derivative is None:
        raise ValueError(f"activation: {entry.name} has a Jacobian, not an elementwise derivative; "
                         "use softmax_cross_entropy")
    if entry.needs_z and Z is None:
        raise ValueError(f"Z: {entry.name} needs the pre-activation Z for its derivative")
    _check_same_dtype(A=A, Z=Z, out=out)
    if A.shape != out.shape or (Z is not None and Z.shape != out.shape):
        raise ValueError(f"out: shape {out.shape} does not match A {A.shape}")
    entry.derivative(A, Z, out, _act_param(entry, param, A.shape[-1], A.dtype))
    return out


def backprop_activation(G, A, Z, out, activation, param=None):
    """out = G ⊙ f'(z): the upstream gradient ∂L/∂A pulled back through the activation. ``out`` may be G."""
    if G.shape != A.shape:
        raise ValueError(f"G: shape {G.shape} does not match A {A.shape}")
    _check_same_dtype(G=G, A=A)
    deriv = activation_derivative(A, Z, np.empty_like(A), activation, param)
    np.multiply(G, deriv, out=out)
    return out


def softmax(Z, out):
    """out[i] = exp(Z[i] − max Z[i]) / Σ_j exp(Z[i, j] − max Z[i]). ``out`` may be Z."""
    _check_same_dtype(Z=Z, out=out)
    _softmax_rows(Z, out, None)
    return out


def log_softmax(Z, out):
    """out[i] = Z[i] − max Z[i] − log Σ_j exp(Z[i, j] − max Z[i])."""
    _check_same_dtype(Z=Z, out=out)
    m = Z.max(axis=1, keepdims=True)
    np.subtract(Z, m, out=out)
    out -= np.log(np.exp(out).sum(axis=1, keepdims=True))
    return out


def all_finite(X):
    """True when no element of X is NaN or ±inf."""
    return bool(np.isfinite(X).all())


def gemm(A, B, C, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """C := alpha · op(A) · op(B) + beta · C for 2-D arrays of one dtype. Returns C."""
    _check_same_dtype(A=A, B=B, C=C)
    opA = A.T if trans_a else A
    opB = B.T if trans_b else B
    if opA.shape[1] != opB.shape[0] or C.shape != (opA.shape[0], opB.shape[1]):
        raise ValueError(f"A {A.shape}, B {B.shape}, C {C.shape}: shapes do not chain "
                         f"(trans_a={bool(trans_a)}, trans_b={bool(trans_b)})")
    prod = opA @ opB
    dt = C.dtype.type
    if beta == 0:
        np.multiply(prod, dt(alpha), out=C)
    else:
        C *= dt(beta)
        C += dt(alpha) * prod
    return C


# ----------------------------------------------------------------------------------------------------------
# Dense layer
# ----------------------------------------------------------------------------------------------------------

def _check_dense(X, W, b, out):
    _check_same_dtype(X=X, W=W, b=b, out=out)
    if X.ndim != 2 or W.ndim != 2 or b.ndim != 1 or out.ndim != 2:
        raise ValueError("X, W, out must be 2-D and b 1-D")
    if X.shape[1] != W.shape[0]:
        raise ValueError(f"W: shape {W.shape} does not match X with {X.shape[1]} columns")
    if b.shape[0] != W.shape[1]:
        raise ValueError(f"b: shape {b.shape} does not match W {W.shape}")
    if out.shape != (X.shape[0], W.shape[1]):
        raise ValueError(f"out: shape {out.shape}, expected {(X.shape[0], W.shape[1])}")


def dense_forward(X, W, b, out, activation=_IDENTITY, param=None, Z=None):
    """out = f(X · W + b) with X (n, fan_in), W (fan_in, fan_out), b (fan_out,), out (n, fan_out).
    When ``Z`` is given it receives the pre-activation X · W + b. Returns out."""
    _check_dense(X, W, b, out)
    target = out if Z is None else Z
    if Z is not None and Z.shape != out.shape:
        raise ValueError(f"Z: shape {Z.shape}, expected {out.shape}")
    np.matmul(X, W, out=target)
    target += b
    activation_forward(target, out, activation, param)
    return out


def delta_backward(delta, W, A, Z, out, activation, param=None):
    """The delta recursion: out = f'(Z) ⊙ (delta · Wᵀ), with delta (n, fan_out) the next layer's error
    term, W (fan_in, fan_out) the next layer's weights, A = f(Z) (n, fan_in) this layer's output."""
    _check_same_dtype(delta=delta, W=W, A=A, out=out)
    if delta.shape[1] != W.shape[1] or out.shape != (delta.shape[0], W.shape[0]) or A.shape != out.shape:
        raise ValueError(f"delta {delta.shape}, W {W.shape}, A {A.shape}, out {out.shape}: "
                         "shapes do not chain")
    np.matmul(delta, W.T, out=out)
    return backprop_activation(out, A, Z, out, activation, param)


def weight_gradient(A_prev, delta, W, dW, db, l2=0.0, scale=None):
    """dW = scale · A_prevᵀ · delta + l2 · W,  db = scale · Σ_rows delta;  scale defaults to 1/n."""
    _check_same_dtype(A_prev=A_prev, delta=delta, W=W, dW=dW, db=db)
    n = A_prev.shape[0]
    if delta.shape[0] != n or dW.shape != W.shape or W.shape != (A_prev.shape[1], delta.shape[1]) \
            or db.shape != (W.shape[1],):
        raise ValueError(f"A_prev {A_prev.shape}, delta {delta.shape}, W {W.shape}, dW {dW.shape}, "
                         f"db {db.shape}: shapes do not chain")
    s = W.dtype.type((1.0 / n if n else 0.0) if scale is None else scale)
    np.matmul(A_prev.T, delta, out=dW)
    dW *= s
    if l2:
        dW += W.dtype.type(l2) * W
    np.sum(delta, axis=0, out=db)
    db *= s
    return dW, db


def prelu_gamma_gradient(G, Z, out, scale=None):
    """out_j = scale · Σ_i G[i, j] · min(0, Z[i, j]): ∂L/∂γ for PReLU slopes; scale defaults to 1/n."""
    _check_same_dtype(G=G, Z=Z, out=out)
    if G.shape != Z.shape or out.shape != (G.shape[1],):
        raise ValueError(f"G {G.shape}, Z {Z.shape}, out {out.shape}: shapes do not match")
    s = G.dtype.type((1.0 / G.shape[0] if G.shape[0] else 0.0) if scale is None else scale)
    np.sum(G * np.minimum(Z, G.dtype.type(0)), axis=0, out=out)
    out *= s
    return out


def sgd_weight_update(A_prev, delta, W, b, lr, l2=0.0):
    """Plain SGD step of one layer from its error term:
    W ← (1 − lr·l2) W − (lr/n) A_prevᵀ δ,   b ← b − (lr/n) Σ_rows δ."""
    _check_same_dtype(A_prev=A_prev, delta=delta, W=W, b=b)
    n = A_prev.shape[0]
    if W.shape != (A_prev.shape[1], delta.shape[1]) or b.shape != (W.shape[1],) or delta.shape[0] != n:
        raise ValueError(f"A_prev {A_prev.shape}, delta {delta.shape}, W {W.shape}, b {b.shape}: "
                         "shapes do not chain")
    if n == 0:  # no rows, no step (as the Cython kernel)
        return W, b
    dt = W.dtype.type
    g = A_prev.T @ delta
    if l2:
        W *= dt(1 - lr * l2)
    W -= dt(lr / n) * g
    b -= dt(lr / n) * delta.sum(axis=0)
    return W, b


# ----------------------------------------------------------------------------------------------------------
# Losses: each returns the mean loss over rows and writes the per-row error term δ = ∂L_i/∂(input)
# (not divided by n; the weight gradient divides). With sample_weight, L_i and δ_i are scaled by w_i.
# ----------------------------------------------------------------------------------------------------------

def _weights(sample_weight, n, dtype):
    if sample_weight is None:
        return None
    if sample_weight.shape != (n,):
        raise ValueError(f"sample_weight: shape {sample_weight.shape}, expected ({n},)")
    if sample_weight.dtype != dtype:
        raise TypeError(f"sample_weight: dtype {sample_weight.dtype} does not match {dtype}")
    return sample_weight


def softmax_cross_entropy(Z, labels, delta, sample_weight=None):
    """L_i = logsumexp(Z_i) − Z_i[y_i];  δ_i = softmax(Z_i) − onehot(y_i). Returns mean_i L_i.
    ``delta`` may be Z. labels: integer array (n,) with values in [0, C)."""
    _check_same_dtype(Z=Z, delta=delta)
    n, C = Z.shape
    if labels.shape != (n,) or delta.shape != Z.shape:
        raise ValueError(f"labels {labels.shape}, delta {delta.shape} do not match Z {Z.shape}")
    labels = np.asarray(labels, dtype=np.intp)
    if n and (labels.min() < 0 or labels.max() >= C):
        raise ValueError(f"labels: values must lie in [0, {C})")
    w = _weights(sample_weight, n, Z.dtype)
    rows = np.arange(n)
    zy = Z[rows, labels].copy()
    m = Z.max(axis=1)
    np.subtract(Z, m[:, None], out=delta)
    np.exp(delta, out=delta)
    s = delta.sum(axis=1)
    delta /= s[:, None]
    delta[rows, labels] -= 1
    loss = np.log(s) + m - zy
    if w is not None:
        delta *= w[:, None]
        loss = loss * w
    return float(loss.sum(dtype=np.float64) / n) if n else 0.0


def sigmoid_cross_entropy(Z, Y, delta, sample_weight=None):
    """Binary cross-entropy from logits, summed over outputs:
    L_i = Σ_j max(z,0) − z·y + log(1 + exp(−|z|));  δ = sigmoid(Z) − Y. Returns mean_i L_i."""
    _check_same_dtype(Z=Z, Y=Y, delta=delta)
    if Y.shape != Z.shape or delta.shape != Z.shape:
        raise ValueError(f"Y {Y.shape}, delta {delta.shape} do not match Z {Z.shape}")
    n = Z.shape[0]
    w = _weights(sample_weight, n, Z.dtype)
    dt = Z.dtype.type
    loss = (np.maximum(Z, dt(0)) - Z * Y + np.log1p(np.exp(-np.abs(Z)))).sum(axis=1)
    expit(Z, out=delta)
    delta -= Y
    if w is not None:
        delta *= w[:, None]
        loss = loss * w
    return float(loss.sum(dtype=np.float64) / n) if n else 0.0


def squared_error(Yhat, Y, delta, sample_weight=None):
    """L_i = ½ ‖Ŷ_i − Y_i‖² (summed over outputs);  δ = Ŷ − Y. Returns mean_i L_i."""
    _check_same_dtype(Yhat=Yhat, Y=Y, delta=delta)
    if Y.shape != Yhat.shape or delta.shape != Yhat.shape:
        raise ValueError(f"Y {Y.shape}, delta {delta.shape} do not match Yhat {Yhat.shape}")
    n = Yhat.shape[0]
    w = _weights(sample_weight, n, Yhat.dtype)
    np.subtract(Yhat, Y, out=delta)
    loss = 0.5 * np.square(delta, dtype=np.float64).sum(axis=1)
    if w is not None:
        delta *= w[:, None]
        loss = loss * w
    return float(loss.sum() / n) if n else 0.0


def poisson_loss(Z, Y, delta, sample_weight=None):
    """Half the Poisson deviance of the mean μ = exp(Z), from the exp output's pre-activation Z, summed
    over outputs: L_i = Σ_j μ − y·z + y·log y − y (y·log y = 0 at y = 0; targets Y >= 0);  δ = μ − Y.
    Returns mean_i L_i. ``delta`` may be Z; μ overflows to inf for huge Z. The loss is summed in float64
    from μ in Z's dtype (as the kernel)."""
    _check_same_dtype(Z=Z, Y=Y, delta=delta)
    if Y.shape != Z.shape or delta.shape != Z.shape:
        raise ValueError(f"Y {Y.shape}, delta {delta.shape} do not match Z {Z.shape}")
    n = Z.shape[0]
    w = _weights(sample_weight, n, Z.dtype)
    Z64, Y64 = Z.astype(np.float64), Y.astype(np.float64)  # before delta, which may be Z, is written
    with np.errstate(over="ignore", invalid="ignore"):
        np.exp(Z, out=delta)
        loss = ((delta.astype(np.float64) - Y64 * Z64 - Y64) + xlogy(Y64, Y64)).sum(axis=1)
        delta -= Y
    if w is not None:
        delta *= w[:, None]
        loss = loss * w
    return float(loss.sum() / n) if n else 0.0


# ----------------------------------------------------------------------------------------------------------
# Parameter updates (flat vectors)
# ----------------------------------------------------------------------------------------------------------

def sgd_update(param, grad, lr):
    """param ← param − lr · grad."""
    _check_same_dtype(param=param, grad=grad)
    param -= param.dtype.type(lr) * grad
    return param


def momentum_update(param, grad, velocity, lr, momentum, nesterov=False):
    """v ← μ v − lr g;  param ← param + v (nesterov: param ← param + μ v − lr g)."""
    _check_same_dtype(param=param, grad=grad, velocity=velocity)
    dt = param.dtype.type
    velocity *= dt(momentum)
    velocity -= dt(lr) * grad
    if nesterov:
        param += dt(momentum) * velocity - dt(lr) * grad
    else:
        param += velocity
    return param


def adam_update(param, grad, m, v, lr, beta1, beta2, eps, t):
    """Adam step number t ≥ 1: m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²;
    param ← param − lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + ε)."""
    _check_same_dtype(param=param, grad=grad, m=m, v=v)
    if isinstance(t, (float, np.floating)) and float(t).is_integer():
        t = int(t)
    if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer)):
        raise TypeError(f"t: the Adam step number must be an integer, got {t!r}")  # as the Cython kernel
    if t < 1:
        raise ValueError(f"t: Adam step count starts at 1, got {t}")
    dt = param.dtype.type
    m *= dt(beta1)
    m += dt(1 - beta1) * grad
    v *= dt(beta2)
    v += dt(1 - beta2) * np.square(grad)
    c1 = 1.0 - beta1 ** t
    c2 = 1.0 - beta2 ** t
    param -= dt(lr / c1) * m / (np.sqrt(v / dt(c2)) + dt(eps))
    return param


def rmsprop_update(param, grad, v, lr, rho, eps):
    """RMSprop: v ← ρ v + (1−ρ) g²;  param ← param − lr · g / (√v + ε). All flat, one dtype; in place."""
    _check_same_dtype(param=param, grad=grad, v=v)
    dt = param.dtype.type
    v *= dt(rho)
    v += dt(1 - rho) * np.square(grad)
    param -= dt(lr) * grad / (np.sqrt(v) + dt(eps))
    return param


def adamw_update(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, t):
    """AdamW step number t ≥ 1 (decoupled weight decay, Loshchilov & Hutter): param ← (1 − lr·weight_decay)
    · param, then Adam's step with g (the gradient at the old param). Decays every element given."""
    _check_same_dtype(param=param, grad=grad, m=m, v=v)
    g = grad.copy() if np.shares_memory(grad, param) else grad  # the gradient at the old param
    param *= param.dtype.type(1.0 - float(lr) * float(weight_decay))
    return adam_update(param, g, m, v, lr, beta1, beta2, eps, t)


def rprop_update(param, grad, prev, step, lr, eta_plus=1.2, eta_minus=0.5, step_min=1e-6, step_max=50.0):
    """iRprop⁻ (Igel & Hüsken): per element s = g·g₋;  s > 0: Δ ← min(η⁺Δ, Δmax);  s < 0: Δ ← max(η⁻Δ, Δmin)
    and g ← 0;  param ← param − sign(g)·Δ;  g₋ ← g. ``prev`` (g₋) and ``step`` (Δ) start at 0 (a zero Δ
    starts at ``lr``). Meant for full-batch gradients. All flat, one dtype; in place."""
    _check_same_dtype(param=param, grad=grad, prev=prev, step=step)
    dt = param.dtype.type
    g = grad.copy()
    d = np.where(step == 0, dt(lr), step)
    s = g * prev
    d = np.where(s > 0, np.minimum(d * dt(eta_plus), dt(step_max)), d)
    d = np.where(s < 0, np.maximum(d * dt(eta_minus), dt(step_min)), d)
    g[s < 0] = 0
    step[...] = d
    prev[...] = g
    param -= np.sign(g) * d
    return param


def _apply_update_extra(theta, grad, opt, code, t):
    if code == _RMSPROP:
        rmsprop_update(theta, grad, opt.state1, opt.lr, opt.rho, opt.eps)
    elif code == _ADAMW:
        adamw_update(theta, grad, opt.state1, opt.state2, opt.lr, opt.beta1, opt.beta2, opt.eps,
                     opt.weight_decay, t)
    else:
        rprop_update(theta, grad, opt.state1, opt.state2, opt.lr, opt.eta_plus, opt.eta_minus,
                     opt.step_min, opt.step_max)


def apply_update(theta, grad, opt):
    """One step of ``opt`` (an _netspec.Optimizer) on the flat vectors; increments opt.t (only once the
    step is done: a refused step leaves the step count, and so Adam's bias correction, as it was)."""
    code = opt.code
    if code not in (_SGD, _MOMENTUM, _NESTEROV, _ADAM) + _EXTRA_OPTIMIZERS:
        raise ValueError(f"opt: unknown optimizer code {code!r}")
    t = opt.t + 1
    if code == _SGD:
        sgd_update(theta, grad, opt.lr)
    elif code in (_MOMENTUM, _NESTEROV):
        momentum_update(theta, grad, opt.state1, opt.lr, opt.momentum, nesterov=code == _NESTEROV)
    elif code in _EXTRA_OPTIMIZERS:
        _apply_update_extra(theta, grad, opt, code, t)
    else:
        adam_update(theta, grad, opt.state1, opt.state2, opt.lr, opt.beta1, opt.beta2, opt.eps, t)
    opt.t = t


# ----------------------------------------------------------------------------------------------------------
# A whole network
# ----------------------------------------------------------------------------------------------------------

class Network:
    """Forward, backward and training of a whole dense network over preallocated buffers.

    theta, grad: flat float vectors laid out by ``spec`` (see _netspec); max_batch: rows per step.
    Targets ``y``: intp labels (n,) for cross_entropy, a float matrix (n, d_out) otherwise.
    """

    def __init__(self, spec, theta, grad, max_batch):
        if theta.dtype not in (np.float32, np.float64):
            raise TypeError(f"theta: dtype must be float32 or float64, got {theta.dtype}")
        if theta.shape != (spec.n_params,) or grad.shape != theta.shape or grad.dtype != theta.dtype:
            raise ValueError("theta, grad: must be flat vectors of the spec's n_params, same dtype")
        if max_batch < 1:
            raise ValueError(f"max_batch: must be >= 1, got {max_batch}")
        self.spec, self.theta, self.grad = spec, theta, grad
        self.dtype = theta.dtype
        self.max_batch = int(max_batch)
        self.W, self.b, self.gamma = spec.views(theta)
        self.gW, self.gb, self.ggamma = spec.views(grad)
        B = self.max_batch
        sizes = spec.sizes
        L = spec.n_layers
        self.A = [np.zeros((B, sizes[0]), self.dtype)]  # A[0]: gathered input rows
        self.A += [np.zeros((B, sizes[l + 1]), self.dtype) for l in range(L)]
        self.Z = [None] + [np.zeros((B, sizes[l + 1]), self.dtype)
                           if spec.activations[l] in NEEDS_Z or getattr(spec.activations[l], "needs_z", False)
                           else None for l in range(L)]
        self.D = [None] + [np.zeros((B, sizes[l + 1]), self.dtype) for l in range(L)]
        self._wmask = spec.weight_mask()
        self._drop = None       # dropout rates per layer (set_dropout), the masks and dropped outputs
        self._training = False  # set only inside a training step

    def _param(self, l):
        act = self.spec.activations[l]
        return self.gamma[l] if act in PER_UNIT else self.spec.params[l]

    def _forward(self, X):
        """Forward n ≤ max_batch rows; returns the list of activations (views of length n).
        With a loss that has its own output (cross_entropy, binary_cross_entropy, poisson) the last entry
        holds the output's pre-activation, not its activation: those losses are computed from it."""
        n = X.shape[0]
        spec = self.spec
        acts = [X]
        for l in range(spec.n_layers):
            Z = None if self.Z[l + 1] is None else self.Z[l + 1][:n]
            out = self.A[l + 1][:n]
            act = spec.activations[l]
            if l == spec.n_layers - 1 and spec.loss != "squared_error":
                act = _IDENTITY
            dense_forward(self._dropout_input(acts, l), self.W[l], self.b[l], out, act, self._param(l), Z)
            acts.append(out)
        return acts

    def forward(self, X, out):
        """out = network output (softmax probabilities, sigmoid, or the output activation), in chunks."""
        n = X.shape[0]
        spec = self.spec
        for s in range(0, n, self.max_batch):
            e = min(n, s + self.max_batch)
            acts = self._forward(X[s:e])
            if spec.loss == "squared_error":
                out[s:e] = acts[-1]
            else:
                activation_forward(acts[-1], out[s:e], spec.activations[-1])
        return out

    def _output_delta(self, acts, y, sw):
        """Loss of the batch (sum over rows) and δ(L) into D[L]."""
        spec = self.spec
        L = spec.n_layers
        n = acts[0].shape[0]
        D = self.D[L][:n]
        loss = _LOSS_FUNCTIONS[spec.loss](acts[-1], y, D, sw) * n
        if spec.loss == "squared_error" and spec.activations[-1] != _IDENTITY:  # through f'(z)
            Zl = None if self.Z[L] is None else self.Z[L][:n]
            backprop_activation(D, acts[-1], Zl, D, spec.activations[-1], self._param(L - 1))
        return loss

    def _backward(self, acts, y, sw, scale, accumulate):
        """Backpropagate one batch; write (or add, if accumulate) scale·gradients into grad. Returns the
        loss summed over its rows."""
        spec = self.spec
        L = spec.n_layers
        n = acts[0].shape[0]
        if spec.activations[-1] in PER_UNIT and spec.loss == "squared_error":
            G = np.empty((n, spec.sizes[-1]), self.dtype)
            loss = squared_error(acts[-1], y, G, sw) * n
            self._prelu_grad(L - 1, G, n, scale, accumulate)
            backprop_activation(G, acts[-1], self.Z[L][:n], self.D[L][:n], spec.activations[-1],
                                self.gamma[L - 1])
        else:
            loss = self._output_delta(acts, y, sw)
        for l in range(L - 1, -1, -1):
            D = self.D[l + 1][:n]
            if l > 0:
                Dp = self.D[l][:n]
                np.matmul(D, self.W[l].T, out=Dp)
                if self._dropped(l):
                    Dp *= self._M[l][:n]
                if spec.activations[l - 1] in PER_UNIT:
                    self._prelu_grad(l - 1, Dp, n, scale, accumulate)
                Zp = None if self.Z[l] is None else self.Z[l][:n]
                backprop_activation(Dp, acts[l], Zp, Dp, spec.activations[l - 1], self._param(l - 1))
            gW = np.matmul(self._AD[l][:n].T if self._dropped(l) else acts[l].T, D) * self.dtype.type(scale)
            gb = D.sum(axis=0) * self.dtype.type(scale)
            if accumulate:
                self.gW[l] += gW
                self.gb[l] += gb
            else:
                self.gW[l][...] = gW
                self.gb[l][...] = gb
        return loss

    def _prelu_grad(self, l, G, n, scale, accumulate):
        g = np.empty(self.spec.sizes[l + 1], self.dtype)
        prelu_gamma_gradient(G, self.Z[l + 1][:n], g, scale=scale)
        if accumulate:
            self.ggamma[l] += g
        else:
            self.ggamma[l][...] = g

    def _l2_term(self, l2):
        if not l2:
            return 0.0
        return 0.5 * l2 * sum(float(np.dot(W.ravel(), W.ravel())) for W in self.W)

    def loss(self, X, y, sample_weight=None):
        """Mean data loss over all rows of X (no L2 term, no gradient)."""
        n = X.shape[0]
        if n == 0:
            raise ValueError("X: no rows")
        total = 0.0
        for s in range(0, n, self.max_batch):
            e = min(n, s + self.max_batch)
            acts = self._forward(X[s:e])
            sw = None if sample_weight is None else sample_weight[s:e]
            total += self._output_delta(acts, y[s:e], sw)
        return total / n

    def loss_and_grad(self, X, y, sample_weight=None, l2=0.0, l1=0.0):
        """R = mean loss + l2/2 Σ‖W‖² (+ l1 Σ|W|) over all rows of X (in chunks); its gradient into grad.
        Returns R."""
        if l1:
            r = self.loss_and_grad(X, y, sample_weight, l2)
            return r + self._l1(l1)
        n = X.shape[0]
        total = 0.0
        for s in range(0, n, self.max_batch):
            e = min(n, s + self.max_batch)
            acts = self._forward(X[s:e])
            sw = None if sample_weight is None else sample_weight[s:e]
            total += self._backward(acts, y[s:e], sw, 1.0 / n, accumulate=s > 0)
        if l2:
            self.grad[self._wmask] += self.dtype.type(l2) * self.theta[self._wmask]
        return total / n + self._l2_term(l2)

    def train_step(self, X, y, sample_weight, opt):
        """One optimizer step on the minibatch X (n ≤ max_batch rows). Returns the batch's R."""
        n = X.shape[0]
        if n > self.max_batch:
            raise ValueError(f"X: {n} rows exceed the workspace's max_batch={self.max_batch}")
        reg = self._l2_term(opt.l2) + self._l1_term(getattr(opt, "l1", 0.0))
        self._training = self._drop is not None
        try:
            acts = self._forward(X)
            loss = self._backward(acts, y, sample_weight, 1.0 / n, accumulate=False) / n
        finally:
            self._training = False
        if opt.l2:
            self.grad[self._wmask] += self.dtype.type(opt.l2) * self.theta[self._wmask]
        self._grad_extra(opt)
        self._update(opt)
        return loss + reg

    # ---- dropout (_dropout.pxi's twin: the same counter-based masks) -------------------------------------
    def set_dropout(self, rates, key):
        """Inverted dropout in training steps (``train_step``, ``train_epoch``; never in forward, loss or
        loss_and_grad): ``rates[l]`` in [0, 1) for the output of layer l (one per layer; the last must be
        0), masks drawn by a counter-based generator keyed by the integer ``key``. All rates 0: off."""
        L = self.spec.n_layers
        r = np.array(rates, dtype=np.float64).ravel()
        if r.shape != (L,):
            raise ValueError(f"rates: expected {L} dropout rates (one per layer), got {r.shape[0]}")
        if not (np.isfinite(r).all() and (r >= 0).all() and (r < 1).all()) or r[L - 1] != 0:
            raise ValueError(f"rates: each must be in [0, 1) and the output layer's 0, got {r.tolist()}")
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)):
            raise TypeError(f"key: expected an integer, got {key!r}")
        if not r.any():
            self._drop = None
            return
        B = self.max_batch
        self._drop = r
        self._M = {l + 1: np.zeros((B, self.spec.sizes[l + 1]), self.dtype) for l in range(L) if r[l] > 0}
        self._AD = {l + 1: np.zeros((B, self.spec.sizes[l + 1]), self.dtype) for l in range(L) if r[l] > 0}
        self._key = np.uint64(int(key) & 0xFFFFFFFFFFFFFFFF)
        self._ctr = 0

    def _dropped(self, l):
        """Whether layer l's input (the output of layer l − 1) is dropped in this pass."""
        return self._training and l > 0 and self._drop[l - 1] > 0

    def _dropout_input(self, acts, l):
        """Layer l's input: acts[l], or, dropped, AD = acts[l] ⊙ M with a fresh mask M."""
        if not self._dropped(l):
            return acts[-1]
        A = acts[l]
        n, m = A.shape
        N = n * m
        pos = np.arange(1, N + 1, dtype=np.uint64) + np.uint64(self._ctr)
        with np.errstate(over="ignore"):
            x = self._key + pos * np.uint64(0x9E3779B97F4A7C15)
            x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            x = x ^ (x >> np.uint64(31))
        u = (x >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
        p = self._drop[l - 1]
        M = self._M[l][:n]
        M[...] = np.where(u >= p, self.dtype.type(1.0 / (1.0 - p)), self.dtype.type(0)).reshape(n, m)
        AD = self._AD[l][:n]
        np.multiply(A, M, out=AD)
        self._ctr += N
        return AD

    # ---- L1, clipping, AdamW's decay, full-batch steps (_optimizers_extra.pxi's twins) -------------------
    def _l1_term(self, l1):
        return float(l1) * float(np.abs(self.theta[self._wmask]).sum(dtype=np.float64)) if l1 else 0.0

    def _l1(self, l1):
        """Add l1·sign(W) to grad; returns l1 Σ|W|."""
        self.grad[self._wmask] += self.dtype.type(l1) * np.sign(self.theta[self._wmask])
        return self._l1_term(l1)

    def _grad_extra(self, opt):
        """After the data and L2 gradient: L1's, then clipping (by value, then to the global norm), then
        AdamW's decoupled decay of the weights (before the Adam step; the gradient is the old θ's)."""
        l1 = getattr(opt, "l1", 0.0)
        if l1:
            self.grad[self._wmask] += self.dtype.type(l1) * np.sign(self.theta[self._wmask])
        cv = getattr(opt, "clip_value", 0.0) or 0.0
        if cv > 0:
            np.clip(self.grad, -self.dtype.type(cv), self.dtype.type(cv), out=self.grad)
        cn = getattr(opt, "clip_norm", 0.0) or 0.0
        if cn > 0:
            norm = float(np.sqrt(np.dot(self.grad.astype(np.float64), self.grad.astype(np.float64))))
            if norm > cn:
                self.grad *= self.dtype.type(cn / norm)
        if opt.code == _ADAMW and opt.weight_decay:
            self.theta[self._wmask] *= self.dtype.type(1.0 - opt.lr * opt.weight_decay)

    def full_batch_step(self, X, y, sample_weight, opt):
        """One optimizer step on the gradient of R over all rows of X (computed in chunks of max_batch
        rows); L1, clipping and AdamW's decay as in ``train_step``. Returns R before the step."""
        if X.shape[0] == 0:
            raise ValueError("X: no rows")
        r = self.loss_and_grad(X, y, sample_weight, opt.l2) + self._l1_term(getattr(opt, "l1", 0.0))
        self._grad_extra(opt)
        self._update(opt)
        return r

    def _update(self, opt):
        """The optimizer's update of θ from grad (AdamW: its Adam part, the weights already decayed)."""
        if opt.code == _ADAMW:
            adam_update(self.theta, self.grad, opt.state1, opt.state2, opt.lr, opt.beta1, opt.beta2, opt.eps,
                        opt.t + 1)
            opt.t += 1
        else:
            apply_update(self.theta, self.grad, opt)

    def train_epoch(self, X, y, sample_weight, order, batch_size, opt):
        """Minibatch steps over the rows X[order] in that order (batch_size ≤ max_batch).
        Returns the mean over rows of the per-batch R (weighted by batch size)."""
        m = order.shape[0]
        if batch_size < 1 or batch_size > self.max_batch:
            raise ValueError(f"batch_size: must be in [1, {self.max_batch}], got {batch_size}")
        total = 0.0
        for s in range(0, m, batch_size):
            idx = order[s:s + batch_size]
            nb = idx.shape[0]
            Xb = self.A[0][:nb]
            np.take(X, idx, axis=0, out=Xb)
            yb = y[idx]
            swb = None if sample_weight is None else sample_weight[idx]
            total += self.train_step(Xb, yb, swb, opt) * nb
        return total / m if m else 0.0


# The loss of each registry loss: its function above, on the network's last activations and targets.
_LOSS_FUNCTIONS = {"cross_entropy": softmax_cross_entropy, "binary_cross_entropy": sigmoid_cross_entropy,
                   "squared_error": squared_error, "poisson": poisson_loss}
