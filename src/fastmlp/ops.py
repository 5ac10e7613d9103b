"""Functional ops: fastmlp's kernels as plain functions, for training loops that are not ``FastMLP``'s.

Each function here runs the kernel of the same name on the backend you pick: the Cython/BLAS kernels
(``"cython"``) or the NumPy reference (``"numpy"``), which have the same names, arguments and results.
Pick per call with ``backend=``, for the process with ``fastmlp.set_backend(name)``, or for a block with
``with fastmlp.use_backend(name):``; the default is ``"auto"`` (Cython when it is built).

Conventions (those of the kernels):

* batch-first, row-major: ``X (n, fan_in)``, ``W (fan_in, fan_out)`` (scikit-learn's ``coefs_`` layout;
  a PyTorch ``Linear.weight`` is ``W.T``), ``b (fan_out,)``, ``Z = X @ W + b``, ``A = f(Z)``;
* arrays are NumPy arrays of one dtype, float32 or float64, never upcast; the Cython backend also wants
  them C-contiguous, and output buffers writeable. Mismatches raise ``TypeError``/``ValueError`` naming the
  argument;
* output buffers (``out``, ``C``, ``dW``/``db``, ``delta``) may be passed to reuse memory; left as
  ``None`` a result of the right shape and dtype is allocated and returned. A buffer must not share
  memory with the inputs it is computed from (``ValueError``), except that an elementwise or row-wise
  result may be written over its own input where a function says so (``out`` may be ``Z``);
{activations_bullet}

A two-layer network trained by another library's loop::

    import numpy as np
    from fastmlp import ops

    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.intp)
    W1 = rng.standard_normal((4, 16)).astype(np.float32) * 0.5; b1 = np.zeros(16, np.float32)
    W2 = rng.standard_normal((16, 2)).astype(np.float32) * 0.5; b2 = np.zeros(2, np.float32)
    for step in range(100):
        H = ops.dense_forward(X, W1, b1, activation="tanh")           # (64, 16)
        Z = ops.dense_forward(H, W2, b2)                               # logits (64, 2)
        loss, D2 = ops.softmax_cross_entropy(Z, y)                     # δ = softmax(Z) − onehot(y)
        D1 = ops.delta_backward(D2, W2, H, activation="tanh")          # (δ W2ᵀ) ⊙ f'(Z1)
        dW2, db2 = ops.weight_gradient(H, D2, W2)                      # Hᵀδ/n, Σδ/n
        dW1, db1 = ops.weight_gradient(X, D1, W1)
        for p, g in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2)):
            ops.sgd_update(p, g, lr=0.5)                               # in place
"""
from __future__ import annotations

import textwrap

import numpy as np

from ._netspec import Optimizer
from ._registry import (
    ACTIVATION_CODES,
    ACTIVATION_TABLE,
    ACTIVATIONS,
    ALIASES,
    NEEDS_Z,
    canonical_activation,
)
from .backend import get_backend, set_backend, use_backend
from .custom import is_custom
from .validation import ParameterError, check_bool, check_param

__all__ = [
    "activation_forward", "activation_derivative", "backprop_activation", "softmax", "log_softmax",
    "gemm", "dense_forward", "delta_backward", "weight_gradient", "prelu_gamma_gradient",
    "sgd_weight_update", "softmax_cross_entropy", "sigmoid_cross_entropy", "squared_error", "poisson_loss",
    "sgd_update", "momentum_update", "adam_update", "apply_update", "all_finite",
    "rmsprop_update", "adamw_update", "rprop_update",
    "ACTIVATIONS", "ACTIVATION_CODES", "ALIASES", "NEEDS_Z", "Optimizer", "get_backend", "set_backend",
    "use_backend",
]

# The identity: activation code 0 (registry codes are never renumbered), the default of dense_forward.
_IDENTITY = ACTIVATIONS[0]


def _describe_activations() -> dict[str, str]:
    """The registry's activations in words, for the docstrings (generated, never hand-maintained)."""
    names, params = [], []
    for name in ACTIVATIONS:
        entry = ACTIVATION_TABLE[name]
        notes = [f"alias {a}" for a in entry.aliases]
        if entry.derivative is None:
            notes.append("forward only")
        names.append(name + (f" ({', '.join(notes)})" if notes else ""))
        if entry.param is None:
            continue
        if entry.per_unit:
            params.append(f"{name}: its per-unit {entry.param.name}s, an array of shape ``(fan_out,)``")
            continue
        rule = "" if entry.param.low is None else \
            f", {'>' if entry.param.low_open else '>='} {entry.param.low:g}"
        params.append(f"{name}: its {entry.param.name} (default {entry.param.default:g}{rule})")
    needs_z = ", ".join(n for n in ACTIVATIONS if n in NEEDS_Z)
    bullet = ("activations by name: any name of ``fastmlp.ops.ACTIVATIONS`` or ``fastmlp.ops.ALIASES`` "
              "(case-insensitive), as the registry declares them: " + ", ".join(names) + ". ``param`` is, "
              "for " + "; for ".join(params) + " (checked by the registry's rules; a derivative read from "
              "``A = f(Z)`` needs them). Those of ``fastmlp.ops.NEEDS_Z`` (" + needs_z + ") need the "
              "pre-activation ``Z`` for their derivatives.")
    return {"activations_bullet": textwrap.fill(bullet, 106, initial_indent="* ", subsequent_indent="  ",
                                                 break_on_hyphens=False),
            "param_list": "\n".join(f"    * {p}" for p in params),
            "needs_z": needs_z}


_ACTIVATION_DOC = _describe_activations()
if __doc__:  # None under python -OO
    __doc__ = __doc__.format(**_ACTIVATION_DOC)


def _documented(func):
    """Fill the ``{needs_z}``/``{param_list}`` fields of ``func``'s docstring from the registry."""
    if func.__doc__:
        func.__doc__ = func.__doc__.format(**_ACTIVATION_DOC)
    return func


class _Required:
    """Placeholder default of an argument that must be given (it follows optional output buffers)."""

    def __repr__(self):
        return "<required>"


_REQUIRED = _Required()


def _need(value, name, func):
    if value is _REQUIRED:
        raise TypeError(f"{func}() missing required argument {name!r}")
    return value


def _float_array(a, name):
    """``a`` as it is, after checking it is a float32/float64 ndarray (so a result can take its dtype)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(a).__name__}")
    if a.dtype != np.float32 and a.dtype != np.float64:
        raise TypeError(f"{name}: dtype must be float32 or float64, got {a.dtype}")
    return a


def _dim(a, name, ndim):
    if a.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {a.shape}")
    return a.shape


def _like(a, name, ndim=2):
    """A new C-contiguous array shaped and typed like ``a`` (checked to be a float ``ndim``-D array)."""
    _dim(_float_array(a, name), name, ndim)
    return np.empty(a.shape, dtype=a.dtype)


def _flat(**arrays):
    """1-D views of same-shaped, same-dtype arrays of any shape (so a weight matrix updates in place
    through its flat view; arrays of other than 1-D must be C-contiguous for that); 1-D arrays go to the
    kernel as they are."""
    items = list(arrays.items())
    name0, a0 = items[0]
    for name, a in items:
        _float_array(a, name)
        if a.shape != a0.shape:
            raise ValueError(f"{name}: shape {a.shape} does not match {name0} {a0.shape}")
        if a.dtype != a0.dtype:
            raise TypeError(f"{name}: dtype {a.dtype} does not match {name0} dtype {a0.dtype}")
    if all(a.ndim == 1 for _, a in items):
        return [a for _, a in items]
    for name, a in items:
        if not a.flags.c_contiguous:
            raise ValueError(f"{name}: array must be C-contiguous")
    return [a.reshape(-1) for _, a in items]


def _overlap(out, out_name, **inputs):
    """Refuse an output buffer that shares memory with an input it is computed from (the Cython kernels
    write while they read, and BLAS forbids it; results would be silently wrong)."""
    if not isinstance(out, np.ndarray):
        return
    for name, a in inputs.items():
        if isinstance(a, np.ndarray) and _shares(out, a):
            raise ValueError(f"{out_name}: must not share memory with {name}")


def _shares(a, b):
    # the bounds test first: cheap, and it settles the usual case of separate buffers
    return np.may_share_memory(a, b) and np.shares_memory(a, b)


def _same_view(a, b):
    """True when ``a`` and ``b`` view exactly the same elements (an elementwise op may then run in place)."""
    return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
            and a.strides == b.strides and a.dtype == b.dtype
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def _overlap_unless_same(out, out_name, name, a):
    """Like _overlap for one input that ``out`` may also be exactly (in place), but not partly overlap."""
    if out is not a and isinstance(out, np.ndarray) and isinstance(a, np.ndarray) and _shares(out, a) \
            and not _same_view(out, a):
        raise ValueError(f"{out_name}: must not share memory with {name} (other than being {name} itself)")


def _check_param(activation, param, m):
    """The activation's ``param`` checked the same way on both backends, by the registry's rules: for a
    per-unit parameter (``entry.per_unit``) an array of shape ``(m,)``; for a scalar one a number that the
    registry's ``Param.check`` accepts (e.g. a slope >= 0 where the derivative is read from the output
    ``A = f(Z)``, which is only possible when the sign survives). Returns the canonical name."""
    if is_custom(activation):
        raise TypeError(f"activation: fastmlp.ops takes the built-in activations by name; call your "
                        f"{activation!r} directly (its f and f_prime, or forward_into / backprop_into)")
    act = canonical_activation(activation)
    entry = ACTIVATION_TABLE[act]
    if entry.per_unit:
        if not isinstance(param, np.ndarray) or param.shape != (m,):
            got = param.shape if isinstance(param, np.ndarray) else type(param).__name__
            raise ValueError(f"param: {act} needs a slope array of shape ({m},), got {got}")
    elif entry.param is not None and param is not None:
        what = entry.param.name
        if isinstance(param, np.ndarray) and param.size != 1:
            raise ValueError(f"param: the {act} {what} must be a scalar, got an array of shape {param.shape}")
        try:
            value = float(param)
        except (TypeError, ValueError):
            raise TypeError(f"param: the {act} {what} must be a number, got {type(param).__name__}") from None
        entry.param.check(value, act, "param")
    return act


def _labels(labels):
    """Integer class labels as the intp array the kernels take; never from floats (no silent truncation)."""
    if not isinstance(labels, np.ndarray):
        labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels: expected integer class indices, got dtype {labels.dtype}")
    if labels.dtype != np.intp or not labels.flags.c_contiguous:
        labels = np.ascontiguousarray(labels, dtype=np.intp)
    return labels


# ----------------------------------------------------------------------------------------------------
# Activations
# ----------------------------------------------------------------------------------------------------
@_documented
def activation_forward(Z, out=None, activation=_REQUIRED, param=None, *, backend=None):
    """``out = f(Z)`` for an ``(n, m)`` array, elementwise (row-wise for softmax). ``out`` may be ``Z``
    (in place). Returns ``out``.

    ``param`` (None: the default; required for a per-unit parameter), by activation:

{param_list}
    """
    activation = _need(activation, "activation", "activation_forward")
    if out is None:
        out = _like(Z, "Z")
    else:
        _overlap_unless_same(out, "out", "Z", Z)
    _check_param(activation, param, _dim(_float_array(Z, "Z"), "Z", 2)[1])
    return get_backend(backend).activation_forward(Z, out, activation, param)


@_documented
def activation_derivative(A, Z=None, out=None, activation=_REQUIRED, param=None, *, backend=None):
    """``out = f'(z)`` for ``(n, m)`` arrays, taken from the forward output ``A = f(Z)`` where possible;
    those of ``NEEDS_Z`` ({needs_z}) need the pre-activation ``Z`` (it may be None for the others). A
    row-wise activation (the softmax output) has a Jacobian rather than a derivative and is refused (use
    ``softmax_cross_entropy``). Returns ``out``."""
    activation = _need(activation, "activation", "activation_derivative")
    if out is None:
        out = _like(A, "A")
    else:
        _overlap(out, "out", A=A, Z=Z)
    _check_param(activation, param, _dim(_float_array(A, "A"), "A", 2)[1])
    return get_backend(backend).activation_derivative(A, Z, out, activation, param)


def backprop_activation(G, A, Z=None, out=None, activation=_REQUIRED, param=None, *, backend=None):
    """``out = G ⊙ f'(z)``: the upstream gradient ``G = ∂L/∂A`` pulled back through the activation to
    ``∂L/∂Z`` (``A = f(Z)``; ``Z`` as for ``activation_derivative``). ``out`` may be ``G``. Returns out."""
    activation = _need(activation, "activation", "backprop_activation")
    if out is None:
        out = _like(G, "G")
    else:
        _overlap_unless_same(out, "out", "G", G)
        _overlap(out, "out", A=A, Z=Z)
    _check_param(activation, param, _dim(_float_array(A, "A"), "A", 2)[1])
    return get_backend(backend).backprop_activation(G, A, Z, out, activation, param)


def _out_like(Z, out):
    """``out`` for a row-wise op on ``Z``: allocated when None, else checked to match ``Z``'s shape and to
    be ``Z`` itself or not to overlap it."""
    if out is None:
        return _like(Z, "Z")
    _dim(_float_array(Z, "Z"), "Z", 2)
    if isinstance(out, np.ndarray) and out.shape != Z.shape:
        raise ValueError(f"out: shape {out.shape} does not match Z {Z.shape}")
    _overlap_unless_same(out, "out", "Z", Z)
    return out


def softmax(Z, out=None, *, backend=None):
    """Row-wise ``out[i] = exp(Z[i] − max Z[i]) / Σ_j exp(Z[i, j] − max Z[i])``; ``out`` may be ``Z``."""
    out = _out_like(Z, out)
    return get_backend(backend).softmax(Z, out)


def log_softmax(Z, out=None, *, backend=None):
    """Row-wise ``out[i] = Z[i] − max Z[i] − log Σ_j exp(Z[i, j] − max Z[i])`` (stable for any Z)."""
    out = _out_like(Z, out)
    return get_backend(backend).log_softmax(Z, out)


# ----------------------------------------------------------------------------------------------------
# GEMM and the dense layer
# ----------------------------------------------------------------------------------------------------
def gemm(A, B, C=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False, *, backend=None):
    """``C := alpha · op(A) · op(B) + beta · C`` with ``op(A) = A.T if trans_a else A`` (2-D arrays of
    one dtype). ``C=None`` allocates ``C`` (so ``beta`` has nothing to scale). Returns ``C``."""
    if C is None:
        ra, ca = _dim(_float_array(A, "A"), "A", 2)
        rb, cb = _dim(_float_array(B, "B"), "B", 2)
        C = np.zeros((ca if trans_a else ra, rb if trans_b else cb), dtype=A.dtype)
    else:
        _overlap(C, "C", A=A, B=B)
    return get_backend(backend).gemm(A, B, C, alpha, beta, trans_a, trans_b)


@_documented
def dense_forward(X, W, b, out=None, activation=_IDENTITY, param=None, Z=None, *, backend=None):
    """One dense layer, ``out = f(X · W + b)``: ``X (n, fan_in)``, ``W (fan_in, fan_out)``,
    ``b (fan_out,)``, ``out (n, fan_out)``. When ``Z`` (a buffer like ``out``) is given it receives the
    pre-activation ``X · W + b`` (keep it for the activations of ``NEEDS_Z``, {needs_z}, whose
    derivatives need it).
    Returns ``out``. On the Cython backend the bias is pre-filled and the GEMM accumulates onto it."""
    if out is None:
        n, _ = _dim(_float_array(X, "X"), "X", 2)
        _, m = _dim(_float_array(W, "W"), "W", 2)
        out = np.empty((n, m), dtype=X.dtype)
    _overlap(out, "out", X=X, W=W, b=b, Z=Z)
    _overlap(Z, "Z", X=X, W=W, b=b)
    _check_param(activation, param, _dim(_float_array(W, "W"), "W", 2)[1])
    return get_backend(backend).dense_forward(X, W, b, out, activation, param, Z)


# ----------------------------------------------------------------------------------------------------
# Backward
# ----------------------------------------------------------------------------------------------------
@_documented
def delta_backward(delta, W, A, Z=None, out=None, activation=_REQUIRED, param=None, *, backend=None):
    """The delta recursion of backpropagation: ``out = f'(Z) ⊙ (delta · Wᵀ)``, with ``delta
    (n, fan_out)`` the next layer's error term, ``W (fan_in, fan_out)`` the next layer's weights and
    ``A = f(Z) (n, fan_in)`` this layer's output (``Z`` needed for {needs_z}). ``out`` has
    ``A``'s shape and must not alias ``delta`` or ``A``. Returns ``out``."""
    activation = _need(activation, "activation", "delta_backward")
    if out is None:
        out = _like(A, "A")
    _overlap(out, "out", delta=delta, W=W, A=A, Z=Z)
    _check_param(activation, param, _dim(_float_array(A, "A"), "A", 2)[1])
    return get_backend(backend).delta_backward(delta, W, A, Z, out, activation, param)


def weight_gradient(A_prev, delta, W, dW=None, db=None, l2=0.0, scale=None, *, backend=None):
    """Weight and bias gradients of a dense layer: ``dW = scale · A_prevᵀ · delta + l2 · W`` and
    ``db = scale · Σ_rows delta``; ``scale`` defaults to ``1/n`` (the mean over the batch).
    ``A_prev (n, fan_in)`` is the layer's input, ``delta (n, fan_out)`` its error term. Returns
    ``(dW, db)``."""
    if dW is None:
        dW = _like(W, "W")
    if db is None:
        _, m = _dim(_float_array(W, "W"), "W", 2)
        db = np.empty(m, dtype=W.dtype)
    l2 = check_param("l2", l2)
    _overlap(dW, "dW", A_prev=A_prev, delta=delta, W=W, db=db)
    _overlap(db, "db", A_prev=A_prev, delta=delta, W=W)
    return get_backend(backend).weight_gradient(A_prev, delta, W, dW, db, l2, scale)


def prelu_gamma_gradient(G, Z, out=None, scale=None, *, backend=None):
    """``out_j = scale · Σ_i G[i, j] · min(0, Z[i, j])``: the gradient of PReLU slopes from the gradient
    ``G = ∂L/∂A`` of the layer's output; ``scale`` defaults to ``1/n``. Returns ``out (m,)``."""
    if out is None:
        _, m = _dim(_float_array(G, "G"), "G", 2)
        out = np.empty(m, dtype=G.dtype)
    _overlap(out, "out", G=G, Z=Z)
    return get_backend(backend).prelu_gamma_gradient(G, Z, out, scale)


def sgd_weight_update(A_prev, delta, W, b, lr, l2=0.0, *, backend=None):
    """Plain SGD step of one layer straight from its error term, in place:
    ``W ← (1 − lr·l2) W − (lr/n) A_prevᵀ δ`` and ``b ← b − (lr/n) Σ_rows δ`` (one GEMM on the Cython
    backend, no gradient buffer). Returns ``(W, b)``."""
    lr, l2 = check_param("lr", lr), check_param("l2", l2)
    _overlap(W, "W", A_prev=A_prev, delta=delta, b=b)
    _overlap(b, "b", A_prev=A_prev, delta=delta)
    return get_backend(backend).sgd_weight_update(A_prev, delta, W, b, lr, l2)


# ----------------------------------------------------------------------------------------------------
# Losses: (mean loss, per-row error term δ_i = ∂L_i/∂input)
# ----------------------------------------------------------------------------------------------------
def _weights(sample_weight):
    if sample_weight is not None:
        _dim(_float_array(sample_weight, "sample_weight"), "sample_weight", 1)


def softmax_cross_entropy(Z, labels, delta=None, sample_weight=None, *, backend=None):
    """Fused softmax + cross-entropy from the logits ``Z (n, C)`` and integer ``labels (n,)`` in
    ``[0, C)``: ``L_i = logsumexp(Z_i) − Z_i[y_i]`` and ``δ_i = softmax(Z_i) − onehot(y_i)`` (scaled by
    ``sample_weight[i]`` when given; not divided by n — ``weight_gradient`` does that). ``delta`` may be
    ``Z``. Returns ``(mean_i L_i, delta)``."""
    if delta is None:
        delta = _like(Z, "Z")
    else:
        _overlap_unless_same(delta, "delta", "Z", Z)
    _weights(sample_weight)
    loss = get_backend(backend).softmax_cross_entropy(Z, _labels(labels), delta, sample_weight)
    return loss, delta


def sigmoid_cross_entropy(Z, Y, delta=None, sample_weight=None, *, backend=None):
    """Binary cross-entropy from the logits ``Z (n, m)`` against 0/1 targets ``Y`` (multilabel when
    m > 1), summed over outputs: ``L_i = Σ_j max(z,0) − z·y + log(1 + exp(−|z|))``, ``δ = sigmoid(Z) − Y``.
    Returns ``(mean_i L_i, delta)``."""
    return _loss_from_logits("sigmoid_cross_entropy", Z, Y, delta, sample_weight, backend)


def squared_error(Yhat, Y, delta=None, sample_weight=None, *, backend=None):
    """``L_i = ½ ‖Ŷ_i − Y_i‖²`` summed over outputs, ``δ = Ŷ − Y`` (the gradient with respect to ``Ŷ``;
    pull it through a non-identity output activation with ``backprop_activation``). Returns
    ``(mean_i L_i, delta)``."""
    if delta is None:
        delta = _like(Yhat, "Yhat")
    else:
        _overlap_unless_same(delta, "delta", "Yhat", Yhat)
        _overlap_unless_same(delta, "delta", "Y", Y)
    _weights(sample_weight)
    loss = get_backend(backend).squared_error(Yhat, Y, delta, sample_weight)
    return loss, delta


def poisson_loss(Z, Y, delta=None, sample_weight=None, *, backend=None):
    """Half the Poisson deviance of the mean ``μ = exp(Z)`` from the pre-activation ``Z (n, m)`` of an
    exponential output, against counts ``Y >= 0``, summed over outputs:
    ``L_i = Σ_j μ − y·z + y·log y − y`` (``y·log y = 0`` at ``y = 0``), ``δ = μ − Y`` (scaled by
    ``sample_weight[i]`` when given). ``delta`` may be ``Z``. Returns ``(mean_i L_i, delta)``."""
    return _loss_from_logits("poisson_loss", Z, Y, delta, sample_weight, backend)


def _loss_from_logits(kernel, Z, Y, delta, sample_weight, backend):
    """The shared body of the losses taken from the output pre-activation Z against float targets Y:
    ``delta`` (new, or Z itself, never overlapping Y), the weights checked, then the backend's kernel."""
    if delta is None:
        delta = _like(Z, "Z")
    else:
        _overlap_unless_same(delta, "delta", "Z", Z)
        _overlap(delta, "delta", Y=Y)
    _weights(sample_weight)
    loss = getattr(get_backend(backend), kernel)(Z, Y, delta, sample_weight)
    return loss, delta


# ----------------------------------------------------------------------------------------------------
# Optimizer updates, in place. Arrays of any shape are accepted when C-contiguous (a weight matrix and
# its gradient are updated through flat views); every array of one call has the same shape and dtype.
# ----------------------------------------------------------------------------------------------------
def sgd_update(param, grad, lr, *, backend=None):
    """``param ← param − lr · grad``, in place (``lr > 0``). Returns ``param``."""
    lr = check_param("lr", lr)
    get_backend(backend).sgd_update(*_flat(param=param, grad=grad), lr)
    return param


def momentum_update(param, grad, velocity, lr, momentum=0.9, nesterov=False, *, backend=None):
    """``v ← μ v − lr · g``;  ``param ← param + v`` (Nesterov: ``param ← param + μ v − lr · g``), in place
    (``velocity`` starts at zeros; ``lr > 0``, ``0 <= momentum <= 1``). Returns ``param``."""
    lr, momentum = check_param("lr", lr), check_param("momentum", momentum)
    nesterov = check_bool("nesterov", nesterov)
    get_backend(backend).momentum_update(*_flat(param=param, grad=grad, velocity=velocity), lr, momentum,
                                         nesterov)
    return param


def adam_update(param, grad, m, v, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, t=_REQUIRED, *,
                backend=None):
    """Adam step number ``t`` (an integer, 1 for the first step): ``m ← β1 m + (1−β1) g``;
    ``v ← β2 v + (1−β2) g²``;
    ``param ← param − lr · m̂ / (√v̂ + ε)`` with ``m̂ = m / (1−β1^t)``, ``v̂ = v / (1−β2^t)``; in place
    (``m`` and ``v`` start at zeros; ``lr > 0``, ``0 <= beta1, beta2 < 1``, ``eps > 0``). Returns
    ``param``."""
    t = _need(t, "t", "adam_update")  # both backends refuse a non-integer t (TypeError naming it)
    lr, eps = check_param("lr", lr), check_param("eps", eps)
    beta1, beta2 = check_param("beta1", beta1), check_param("beta2", beta2)
    get_backend(backend).adam_update(*_flat(param=param, grad=grad, m=m, v=v), lr, beta1, beta2, eps, t)
    return param


def rmsprop_update(param, grad, v, lr=0.001, rho=0.9, eps=1e-8, *, backend=None):
    """RMSprop: ``v ← ρ v + (1−ρ) g²``;  ``param ← param − lr · g / (√v + ε)``, in place (``v`` starts at
    zeros; ``lr > 0``, ``0 <= rho < 1``, ``eps > 0``; torch's ``RMSprop(alpha=rho)``). Returns ``param``."""
    lr, rho, eps = check_param("lr", lr), check_param("rho", rho), check_param("eps", eps)
    get_backend(backend).rmsprop_update(*_flat(param=param, grad=grad, v=v), lr, rho, eps)
    return param


def adamw_update(param, grad, m, v, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01,
                 t=_REQUIRED, *, backend=None):
    """AdamW step number ``t`` (decoupled weight decay): ``param ← (1 − lr·weight_decay) · param``, then
    ``adam_update``'s step with ``grad`` (taken at the old param); in place, every element decayed (pass
    the weights, not the biases, to decay weights only). Returns ``param``."""
    t = _need(t, "t", "adamw_update")
    lr, eps = check_param("lr", lr), check_param("eps", eps)
    beta1, beta2 = check_param("beta1", beta1), check_param("beta2", beta2)
    weight_decay = check_param("weight_decay", weight_decay)
    get_backend(backend).adamw_update(*_flat(param=param, grad=grad, m=m, v=v), lr, beta1, beta2, eps,
                                      weight_decay, t)
    return param


def rprop_update(param, grad, prev, step, lr=0.01, eta_plus=1.2, eta_minus=0.5, step_min=1e-6,
                 step_max=50.0, *, backend=None):
    """iRprop⁻ on full-batch gradients: per element ``s = g·g₋``; ``s > 0``: ``Δ ← min(η⁺Δ, Δmax)``;
    ``s < 0``: ``Δ ← max(η⁻Δ, Δmin)`` and ``g ← 0``; ``param ← param − sign(g)·Δ``; ``g₋ ← g``. ``prev``
    and ``step`` start at zeros (a zero Δ starts at ``lr``); in place. Returns ``param``."""
    lr, eta_plus, eta_minus = check_param("lr", lr), check_param("eta_plus", eta_plus), \
        check_param("eta_minus", eta_minus)
    step_min, step_max = check_param("step_min", step_min), check_param("step_max", step_max)
    if step_min > step_max:
        raise ParameterError(f"step_min: must be <= step_max ({step_max}), got {step_min}")
    get_backend(backend).rprop_update(*_flat(param=param, grad=grad, prev=prev, step=step), lr, eta_plus,
                                      eta_minus, step_min, step_max)
    return param


def apply_update(theta, grad, opt, *, backend=None):
    """One step of ``opt``, an ``Optimizer(kind, n_params, dtype, lr=..., ...)`` ("sgd", "momentum",
    "nesterov", "adam", "rmsprop", "adamw", "rprop"; it holds the state and the step count ``t``,
    incremented here), on the flat vectors ``theta`` and ``grad``. Returns ``theta``."""
    get_backend(backend).apply_update(theta, grad, opt)
    return theta


def all_finite(X, *, backend=None):
    """True when no element of the float array ``X`` is NaN or ±inf."""
    return bool(get_backend(backend).all_finite(X))
