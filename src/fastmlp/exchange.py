"""Model exchange: FastMLP to and from PyTorch, to ONNX, and from scikit-learn.

    from fastmlp import exchange
    net = exchange.to_torch(model)                 # torch.nn.Sequential, weights loaded (needs torch)
    model = exchange.from_torch(net)               # nn.Sequential of Linear + activations -> FastMLP
    onnx_model = exchange.to_onnx(model, "m.onnx") # onnx.ModelProto (needs onnx)
    model = exchange.from_onnx("m.onnx")           # MatMul+Add / Gemm + activation graphs -> FastMLP
    model = exchange.from_sklearn(mlp)             # fitted MLPClassifier / MLPRegressor -> FastMLP

The optional dependencies (``pip install 'fastmlp[torch]'``, ``'fastmlp[onnx]'``, ``'fastmlp[sklearn]'``)
are imported only when a function needs them. FastMLP keeps ``W`` as ``(fan_in, fan_out)`` (scikit-learn's
``coefs_`` layout); a PyTorch ``Linear.weight`` is ``(fan_out, fan_in)``, so weights are transposed at the
boundary. Exports use the model's dtype (float32 or float64); imports keep the source's dtype unless
``dtype=`` says otherwise.

Output layers: a softmax output exports as ``Softmax(dim=-1)`` and a sigmoid classification output as
``Sigmoid``, so the exported network returns what ``FastMLP.forward`` returns (probabilities). Pass
``logits=True`` to leave them out and get the logits (what ``nn.CrossEntropyLoss`` and
``nn.BCEWithLogitsLoss`` train on); ``from_torch(net, output="softmax")`` reads such a network back.
"""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from ._netspec import parse_activation
from ._registry import ACTIVATION_TABLE, ACTIVATIONS, LOSS_OF_OUTPUT, LOSS_TABLE, canonical_activation
from .custom import is_custom
from .model import FastMLP

__all__ = ["UnsupportedLayerError", "to_torch", "from_torch", "to_onnx", "from_onnx", "from_sklearn"]

# The identity: activation code 0 (registry codes are never renumbered). A Linear without an activation
# module after it, and an ONNX layer without an activation node.
_IDENTITY = ACTIVATIONS[0]


class UnsupportedLayerError(ValueError):
    """A layer (or a setting of one) that has no equivalent on the other side: a foreign layer with no
    FastMLP equivalent (the message names it and its index), or a FastMLP activation that the target format
    cannot express (the message names the activation and the exporter, ``to_torch`` or ``to_onnx``)."""


# ----------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------
def _import(name, extra):
    import importlib
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(f"{name} is required for this (pip install 'fastmlp[{extra}]'): {exc}") from None


def _as_fastmlp(model, name="model"):
    """A FastMLP, or a fitted scikit-learn style MLP (converted with from_sklearn). A model with an
    activation of its own (``fastmlp.Activation``) has no torch or ONNX form: refused."""
    if isinstance(model, FastMLP):
        for l, a in enumerate(model.spec.activations):
            if is_custom(a):
                raise UnsupportedLayerError(f"activation {a.name!r} of layer {l} is a custom activation "
                                            "(fastmlp.Activation): it has no PyTorch or ONNX form")
        return model
    if hasattr(model, "coefs_") and hasattr(model, "out_activation_"):
        return from_sklearn(model)
    raise TypeError(f"{name}: expected a FastMLP (or a fitted MLPClassifier/MLPRegressor), "
                    f"got {type(model).__name__}")


def _float_dtype(dtype, name="dtype"):
    dt = np.dtype(dtype)
    if dt != np.float32 and dt != np.float64:
        raise ValueError(f"{name}: must be float32 or float64, got {dt}")
    return dt.type


def _drop_output(model, logits):
    """True when the output activation is left out of an export (logits=True on a classifier)."""
    return bool(logits) and LOSS_TABLE[model.spec.loss].classifier


def _n_classes(spec):
    """The number of classes of a classifier's spec (None for a regressor): one per output unit, or two for
    a single elementwise output (a sigmoid binary classifier)."""
    if not LOSS_TABLE[spec.loss].classifier:
        return None
    n = spec.sizes[-1]
    return 2 if n == 1 and not ACTIVATION_TABLE[spec.activations[-1]].output_only else n


def _build(sizes, hidden, out, Ws, bs, gammas, *, loss, dtype, classes, backend, source, dropout=0.0):
    """A FastMLP with the given architecture and parameters. hidden: [(name, param)]; out: (name, param)."""
    out_name, out_param = out
    output = out_name if ACTIVATION_TABLE[out_name].param is None else (out_name, out_param)
    model = FastMLP(sizes, activation=[tuple(h) for h in hidden], output=output, loss=loss, dtype=dtype,
                    backend=backend, dropout=dropout)
    model.weights = Ws
    model.biases = bs
    for l, g in enumerate(gammas):
        if g is not None:
            if not np.isfinite(g).all():
                raise ValueError(f"{source}: PReLU slopes of layer {l} contain NaN or infinity")
            model.slopes[l][...] = g
    n_classes = _n_classes(model.spec)
    if n_classes is not None:
        cls = np.arange(n_classes) if classes is None else np.asarray(classes)
        if cls.ndim != 1 or len(cls) != n_classes:
            raise ValueError(f"classes: the {model.spec.activations[-1]} output needs {n_classes} classes, "
                             f"got {len(cls) if cls.ndim == 1 else cls.shape}")
        model.classes_ = cls
    elif classes is not None:
        raise ValueError("classes: only a classifier (softmax or sigmoid output) has classes")
    return model


# ----------------------------------------------------------------------------------------------------
# PyTorch
# ----------------------------------------------------------------------------------------------------
def to_torch(model, *, logits=False):
    """A ``torch.nn.Sequential`` that computes what ``model.forward`` computes, in the model's dtype and in
    eval mode: ``Linear`` layers (weights transposed to PyTorch's ``(fan_out, fan_in)``) each followed by
    its activation module (none for the identity). Softmax and sigmoid classification outputs stay in (the
    module returns probabilities); ``logits=True`` leaves them out so the module returns logits.

    Each activation becomes the module its registry entry names (``Activation.torch_module``, a class of
    ``torch.nn``) with the activation's parameter set as its ``torch_param`` argument (e.g. the leaky slope
    as ``negative_slope``), a per-unit parameter as the module's per-unit weights (PReLU), and ``dim=-1``
    for a module that takes a dimension (Softmax). An activation without a torch module raises
    ``UnsupportedLayerError``. A hidden layer with dropout is followed by ``nn.Dropout(p)`` (inactive in
    eval mode; ``net.train()`` trains with it). Class labels are not part of the module: map ``argmax``
    through ``model.classes_``."""
    model = _as_fastmlp(model)  # a model with no torch form is refused whether or not torch is installed
    torch = _import("torch", "torch")
    nn = torch.nn
    spec = model.spec
    tdtype = torch.float64 if model.dtype == np.float64 else torch.float32
    Ws, bs, gs = model.weights, model.biases, model.slopes
    layers = []
    L = spec.n_layers
    for l in range(L):
        fan_in, fan_out = Ws[l].shape
        lin = nn.Linear(fan_in, fan_out, dtype=tdtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(Ws[l].T)))
            lin.bias.copy_(torch.from_numpy(np.array(bs[l])))
        layers.append(lin)
        if l == L - 1 and _drop_output(model, logits):
            continue
        act = _torch_activation(nn, torch, spec.activations[l], spec.params[l], gs[l], fan_out, tdtype, l)
        if act is not None:
            layers.append(act)
        if l < L - 1 and model.dropout_rates[l] > 0:
            layers.append(nn.Dropout(model.dropout_rates[l]))  # inactive in eval mode, as in predict
    return nn.Sequential(*layers).eval()


def _torch_class(nn, entry):
    """The ``torch.nn`` class of a registry entry, or None (no torch module, or this torch lacks it)."""
    return getattr(nn, entry.torch_module, None) if entry.torch_module else None


def _torch_activation(nn, torch, name, param, gamma, fan_out, tdtype, layer):
    """The torch module of activation ``name`` (None for the identity), built from its registry entry."""
    import inspect
    if name == _IDENTITY:
        return None
    entry = ACTIVATION_TABLE[name]
    cls = _torch_class(nn, entry)
    if cls is None:
        why = (f"torch.nn has no {entry.torch_module}" if entry.torch_module
               else "it has no torch.nn module")
        raise UnsupportedLayerError(f"activation {name} of layer {layer} is not supported by to_torch "
                                    f"({why})")
    kwargs = {}
    if "dim" in inspect.signature(cls).parameters:
        kwargs["dim"] = -1  # over the features of a (batch, features) input
    if entry.per_unit:
        mod = cls(num_parameters=fan_out, dtype=tdtype, **kwargs)
        with torch.no_grad():
            mod.weight.copy_(torch.from_numpy(np.array(gamma)))
        return mod
    if entry.torch_param is not None:
        kwargs[entry.torch_param] = float(param)
    return cls(**kwargs)


def _own_forward(m, base):
    """True when ``m`` (an instance of ``base``) is a subclass that overrides ``forward``: it may compute
    anything, so it is not read as a ``base``."""
    return type(m).forward is not base.forward


def _flatten_modules(module, prefix=""):
    """(index, module) pairs of a Sequential (nested Sequentials flattened, indices dotted: '2.1')."""
    import torch.nn as nn
    out = []
    for key, child in module.named_children():
        name = f"{prefix}{key}"
        if isinstance(child, nn.Sequential) and not _own_forward(child, nn.Sequential):
            out.extend(_flatten_modules(child, name + "."))
        else:
            out.append((name, child))
    return out


def _torch_activation_classes(nn):
    """{torch.nn class: registry entry} of every activation with a torch module (built from the registry,
    so a new entry is read back as soon as it names its module)."""
    classes = {}
    for entry in ACTIVATION_TABLE.values():
        cls = _torch_class(nn, entry)
        if cls is not None:
            classes[cls] = entry
    return classes


# Settings of torch modules under which the module computes something other than fastmlp's activation:
# ``_torch_settings_<torch.nn class name>`` (torch's settings, not fastmlp's: the activation's parameter
# itself is checked by the registry's rule). Each raises UnsupportedLayerError naming the module and index.
def _torch_settings_Softplus(m, where):
    if m.beta != 1 or m.threshold < 20:
        raise UnsupportedLayerError(f"Softplus at index {where} with beta={m.beta}, threshold="
                                    f"{m.threshold} is not supported (only beta=1, threshold >= 20)")


def _torch_settings_GELU(m, where):
    if m.approximate != "none":
        raise UnsupportedLayerError(f"GELU(approximate={m.approximate!r}) at index {where} is not "
                                    "supported (fastmlp's gelu is the exact erf form)")


def _torch_settings_Hardtanh(m, where):
    if m.min_val != -1 or m.max_val != 1:
        raise UnsupportedLayerError(f"Hardtanh(min_val={m.min_val}, max_val={m.max_val}) at index "
                                    f"{where} is not supported (only [-1, 1])")


def _torch_act_of(nn, m, where, fan_out):
    """(name, param, gamma) of a supported activation module, None if ``m`` is not an activation."""
    entry = _torch_activation_classes(nn).get(type(m))
    if entry is None:
        return None
    kind = type(m).__name__
    name = entry.name
    settings = globals().get("_torch_settings_" + kind)
    if settings is not None:
        settings(m, where)
    if hasattr(m, "dim") and m.dim not in (-1, 1):
        raise UnsupportedLayerError(f"{kind}(dim={m.dim}) at index {where} is not supported "
                                    "(only over the features, dim=-1 or 1)")
    if entry.per_unit:
        if fan_out is None:  # before any Linear: the caller refuses it
            return name, entry.default_param, None
        w = m.weight.detach().cpu().double().numpy().ravel()
        if w.size not in (1, fan_out):
            raise UnsupportedLayerError(f"{kind} at index {where} has {w.size} slopes for {fan_out} units")
        param = float(w[0]) if w.size == 1 else entry.default_param
        return name, param, np.broadcast_to(w, (fan_out,)).copy()
    if entry.torch_param is not None:
        value = getattr(m, entry.torch_param)
        try:
            param = entry.param.check(value, name, entry.torch_param)
        except (TypeError, ValueError) as exc:
            raise UnsupportedLayerError(f"{kind} at index {where} with {entry.torch_param}={value} is not "
                                        f"supported ({exc})") from None
        return name, param, None
    return name, entry.default_param, None


def _torch_supported(nn):
    """The layers from_torch reads, in words (from the registry)."""
    hidden = [cls.__name__ for cls, e in _torch_activation_classes(nn).items() if not e.output_only]
    last = [cls.__name__ for cls, e in _torch_activation_classes(nn).items() if e.output_only]
    return ("Linear, Dropout, Identity, and the activations " + ", ".join(hidden)
            + (", " + ", ".join(last) + " (last)" if last else ""))


def from_torch(module, *, output=None, loss=None, dtype=None, classes=None, backend="cython"):
    """A FastMLP equal to ``module``, a ``torch.nn.Sequential`` of ``Linear`` layers each optionally
    followed by one activation (those ``to_torch`` writes; ``Identity`` is skipped and an ``nn.Dropout(p)``
    after a hidden layer becomes that layer's ``dropout`` — inactive in predict, as in eval mode; nested
    Sequentials are flattened). Any other layer raises ``UnsupportedLayerError``
    naming it and its index, e.g. ``"Conv2d at index 3 is not supported"``, and so does a subclass
    of ``Linear`` or ``Sequential`` that overrides ``forward()`` (it may compute anything). An activation
    module is read as the registry activation whose ``torch_module`` it is, its ``torch_param`` attribute
    (e.g. ``LeakyReLU.negative_slope``) as the parameter, checked by the registry's rule.

    The output activation is the module after the last ``Linear``: ``Softmax`` makes a softmax classifier
    (cross-entropy), ``Sigmoid`` a sigmoid classifier (binary cross-entropy), another activation or none
    a regressor (squared error). When the module ends with its ``Linear`` (it returns logits), ``output``
    names the activation to put on top, e.g. ``output="softmax"``. ``loss`` overrides the loss (e.g.
    ``"squared_error"`` with a sigmoid output). ``classes`` sets ``classes_`` of a classifier (default
    ``0..C-1``). ``dtype`` defaults to the module's (float64 stays float64, anything else float32)."""
    torch = _import("torch", "torch")
    nn = torch.nn
    if isinstance(module, nn.Sequential) and not _own_forward(module, nn.Sequential):
        items = _flatten_modules(module)
    elif isinstance(module, nn.ModuleList):
        items = [(str(i), m) for i, m in enumerate(module)]
    elif isinstance(module, nn.Module):
        if isinstance(module, nn.Sequential):
            raise TypeError(f"module: {type(module).__name__} subclasses nn.Sequential with its own "
                            "forward(), which cannot be read; rebuild it as a plain nn.Sequential")
        raise TypeError(f"module: expected an nn.Sequential of Linear layers and activations, got "
                        f"{type(module).__name__} (its forward() cannot be read; rebuild it as "
                        "nn.Sequential)")
    else:
        raise TypeError(f"module: expected a torch.nn.Sequential, got {type(module).__name__}")

    sizes, Ws, bs = [], [], []
    drops = {}         # Linear index -> the rate of an nn.Dropout after it
    acts = []          # per Linear: (name, param, gamma, "Module at index i") of its activation, or None
    for where, m in items:
        if isinstance(m, nn.Sequential):  # nested, with its own forward() (_flatten_modules kept it)
            raise UnsupportedLayerError(f"{type(m).__name__} at index {where} is not supported: it "
                                        "subclasses nn.Sequential with its own forward()")
        if isinstance(m, nn.Linear):
            if _own_forward(m, nn.Linear):
                raise UnsupportedLayerError(f"{type(m).__name__} at index {where} is not supported: it "
                                            "subclasses Linear with its own forward()")
            if isinstance(m.weight, nn.parameter.UninitializedParameter):
                raise ValueError(f"{type(m).__name__} at index {where} is not initialized (a lazy module): "
                                 "run the network on a batch first")
            if Ws and m.in_features != sizes[-1]:
                raise ValueError(f"Linear at index {where}: in_features={m.in_features} does not match the "
                                 f"previous Linear's out_features={sizes[-1]}")
            if not Ws:
                sizes.append(m.in_features)
            sizes.append(m.out_features)
            W = m.weight.detach().cpu()
            Ws.append(W.T.contiguous().numpy() if W.dtype in (torch.float32, torch.float64)
                      else W.T.float().numpy())  # float16/bfloat16: exact in float32
            if m.bias is not None:
                b = m.bias.detach().cpu()
                bs.append(b.numpy() if b.dtype in (torch.float32, torch.float64) else b.float().numpy())
            else:
                bs.append(np.zeros(m.out_features))
            acts.append(None)
            continue
        if type(m) is nn.Dropout and Ws:
            drops[len(Ws) - 1] = float(m.p)  # the dropout of that Linear's output (a hidden layer's)
            continue
        if type(m) in (nn.Dropout, nn.Identity, nn.AlphaDropout):
            continue
        act = _torch_act_of(nn, m, where, sizes[-1] if sizes else None)
        if act is None:
            raise UnsupportedLayerError(f"{type(m).__name__} at index {where} is not supported "
                                        f"(supported: {_torch_supported(nn)})")
        if not Ws:
            raise UnsupportedLayerError(f"{type(m).__name__} at index {where} is not supported here: the "
                                        "network must start with a Linear layer")
        if acts[-1] is not None:
            raise UnsupportedLayerError(f"{type(m).__name__} at index {where} is not supported: it follows "
                                        f"{acts[-1][3]} (one activation per Linear layer)")
        acts[-1] = (act[0], act[1], act[2], f"{type(m).__name__} at index {where}")
    if not Ws:
        raise ValueError("module: no Linear layer found")
    for a in acts[:-1]:
        if a is not None and ACTIVATION_TABLE[a[0]].output_only:
            raise UnsupportedLayerError(f"{a[3]} is not supported: {a[0]} is an output activation only "
                                        "(after the last Linear)")
    final = acts[-1]
    if output is not None:
        name, param = parse_activation(output, "output")
        entry = ACTIVATION_TABLE[name]
        if final is None:
            gamma = np.full(sizes[-1], param) if entry.per_unit else None
            final = (name, param, gamma, "output")
        elif final[0] != name or (isinstance(output, (tuple, list)) and entry.param is not None
                                  and not entry.per_unit and final[1] != param):
            raise ValueError(f"output: the module already ends with {final[3]}; output={output!r} is only "
                             "for a module that ends with its Linear layer (logits)")
    if final is None:
        final = (_IDENTITY, 0.0, None, "")
    hidden = [(a[0], a[1]) if a is not None else (_IDENTITY, 0.0) for a in acts[:-1]]
    gammas = [a[2] if a is not None else None for a in acts[:-1]] + [final[2]]
    if dtype is None:
        dtype = np.float64 if Ws[0].dtype == np.float64 else np.float32
    dtype = _float_dtype(dtype)
    rates = [drops.get(l, 0.0) for l in range(len(Ws) - 1)]  # nn.Dropout after a hidden layer
    return _build(sizes, hidden, (final[0], final[1]), Ws, bs, gammas, loss=loss, dtype=dtype,
                  classes=classes, backend=backend, source="module", dropout=rates if any(rates) else 0.0)


# ----------------------------------------------------------------------------------------------------
# ONNX
# ----------------------------------------------------------------------------------------------------
_ERF_TERMS = 100  # terms of the float64 erf series (max error 2e-15 on [-6, 6]; |t| >= 6 gives ±1)


class _Graph:
    """A tiny builder of ONNX nodes and initializers with unique names."""

    def __init__(self, helper, numpy_helper, dtype, defs=None, opset=None):
        self.h, self.nh, self.dtype = helper, numpy_helper, dtype
        self.defs, self.opset = defs, opset
        self.nodes, self.inits, self._n = [], [], 0

    def attributes(self, op_type):
        """The attribute names of ``op_type`` in this graph's opset."""
        return set(self.defs.get_schema(op_type, self.opset).attributes)

    def name(self, base):
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, value, base="c"):
        name = self.name(base)
        self.inits.append(self.nh.from_array(np.asarray(value, dtype=self.dtype), name=name))
        return name

    def op(self, op_type, inputs, base=None, **attrs):
        out = self.name(base or op_type.lower())
        self.nodes.append(self.h.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out


def _erf64(g, t):
    """erf(t) in float64 from elementary ops (onnxruntime has no float64 Erf): t is clipped to [-6, 6]
    (erf is ±1 to double precision beyond) and erf(t) = 2/√π · t · e^(−t²) · Σ_k (2t²)^k / (2k+1)!!,
    a series of positive terms summed by Horner's rule."""
    t = g.op("Clip", [t, g.const(-6.0), g.const(6.0)])
    t2 = g.op("Mul", [t, t])
    u = g.op("Add", [t2, t2])
    one = g.const(1.0, "one")
    s = None
    for k in range(_ERF_TERMS, 0, -1):
        term = g.op("Mul", [u, g.const(1.0 / (2 * k + 1))]) if s is None else \
            g.op("Mul", [g.op("Mul", [u, s]), g.const(1.0 / (2 * k + 1))])
        s = g.op("Add", [term, one])
    e = g.op("Exp", [g.op("Neg", [t2])])
    return g.op("Mul", [g.op("Mul", [g.op("Mul", [t, e]), s]), g.const(2.0 / np.sqrt(np.pi))])


# Composite ONNX forms, one function per activation, named ``_onnx_<activation name>`` and found by that
# name (so the registry's names are spelled once, there): ``(g, z, param, gamma, f64) -> output name``, or
# None to use the entry's single ``onnx_op``. They cover activations with no single ONNX op (gelu, silu,
# hardtanh) and float64 graphs, where onnxruntime has no float64 kernel for Elu, Softplus, Softsign and
# Erf, and LeakyRelu's alpha is a float32 attribute (float64 parameters go in as float64 tensors).
def _onnx_leaky_relu(g, z, param, gamma, f64):
    return g.op("PRelu", [z, g.const([param], "slope")]) if f64 else None


def _onnx_elu(g, z, param, gamma, f64):
    if not f64:
        return None
    neg = g.op("Mul", [g.op("Sub", [g.op("Exp", [g.op("Min", [z, g.const(0.0)])]), g.const(1.0)]),
                       g.const(param)])
    return g.op("Where", [g.op("Greater", [z, g.const(0.0)]), z, neg])


def _onnx_softplus(g, z, param, gamma, f64):
    if not f64:
        return None
    tail = g.op("Log", [g.op("Add", [g.const(1.0), g.op("Exp", [g.op("Neg", [g.op("Abs", [z])])])])])
    return g.op("Add", [g.op("Relu", [z]), tail])


def _onnx_softsign(g, z, param, gamma, f64):
    return g.op("Div", [z, g.op("Add", [g.const(1.0), g.op("Abs", [z])])]) if f64 else None


def _onnx_gelu(g, z, param, gamma, f64):
    t = g.op("Mul", [z, g.const(np.sqrt(0.5))])
    erf = _erf64(g, t) if f64 else g.op("Erf", [t])
    half_z = g.op("Mul", [z, g.const(0.5)])
    return g.op("Mul", [half_z, g.op("Add", [erf, g.const(1.0)])])


def _onnx_silu(g, z, param, gamma, f64):
    return g.op("Mul", [z, g.op("Sigmoid", [z])])


def _onnx_hardtanh(g, z, param, gamma, f64):
    return g.op("Clip", [z, g.const(-1.0), g.const(1.0)])


def _onnx_selu(g, z, param, gamma, f64):
    if not f64:
        return None  # Selu's default alpha and gamma are SELU's constants
    from ._registry import _SELU_ALPHA, _SELU_LAMBDA
    return g.op("Mul", [_onnx_elu(g, z, _SELU_ALPHA, None, True), g.const(_SELU_LAMBDA)])


def _onnx_mish(g, z, param, gamma, f64):
    sp = _onnx_softplus(g, z, None, None, True) if f64 else g.op("Softplus", [z])
    return g.op("Mul", [z, g.op("Tanh", [sp])])


def _activation_to_onnx(g, z, name, param, gamma, f64, layer):
    """The ONNX nodes of activation ``name`` on tensor ``z``; returns the output name. A composite form
    (``_onnx_<name>``) when there is one, else the registry entry's single ``onnx_op``: the per-unit
    parameter as its second input (PRelu), a scalar parameter as its ``alpha`` attribute, ``axis=-1`` when
    the op takes an axis (Softmax). An activation with neither raises UnsupportedLayerError."""
    entry = ACTIVATION_TABLE[name]
    composite = globals().get("_onnx_" + name)
    if composite is not None:
        out = composite(g, z, param, gamma, f64)
        if out is not None:
            return out
    op = entry.onnx_op
    if op is None:
        raise UnsupportedLayerError(f"activation {name} of layer {layer} is not supported by to_onnx (it has "
                                    "no ONNX form)")
    if op == "Identity":
        return z
    attributes = g.attributes(op)
    inputs, attrs = [z], {}
    if entry.per_unit:
        inputs.append(g.const(gamma, "slope"))
    elif entry.param is not None:
        if "alpha" not in attributes:
            raise UnsupportedLayerError(f"activation {name} of layer {layer} is not supported by to_onnx "
                                        f"({op} has no alpha attribute for its {entry.param.name})")
        attrs["alpha"] = float(param)
    if "axis" in attributes:
        attrs["axis"] = -1
    return g.op(op, inputs, **attrs)


def to_onnx(model, path=None, *, logits=False, opset=17, input_name="X", output_name="Y"):
    """The model as an ONNX graph (``onnx.ModelProto``, checked with ``onnx.checker``), written to ``path``
    when given. Input ``X`` is ``(N, d_in)`` and output ``Y`` ``(N, d_out)`` in the model's dtype: per
    layer a ``MatMul`` by W, an ``Add`` of b and the activation; softmax/sigmoid classification outputs
    are included unless ``logits=True``, as in ``to_torch``. The architecture and the class labels are
    kept in the metadata (``fastmlp.layer_sizes``, ``fastmlp.activations``, ``fastmlp.classes``, JSON).
    Built with ``onnx.helper`` (no PyTorch needed); run it with onnxruntime.

    Each activation is its registry entry's single ONNX op (``Activation.onnx_op``) or, where there is
    none or onnxruntime has no float64 kernel for it, a composite of elementary ops (GELU through ``Erf``
    and in float64 through an erf series, SiLU as ``x·Sigmoid(x)``, Hardtanh as ``Clip``); an activation
    with neither raises ``UnsupportedLayerError``."""
    model = _as_fastmlp(model)  # a model with no ONNX form is refused whether or not onnx is installed
    onnx = _import("onnx", "onnx")
    from onnx import TensorProto, helper, numpy_helper
    spec = model.spec
    f64 = model.dtype == np.float64
    dtype = np.float64 if f64 else np.float32
    elem = TensorProto.DOUBLE if f64 else TensorProto.FLOAT
    opset = int(opset)
    if opset < 13:
        raise ValueError(f"opset: need 13 or newer (Softmax over the last axis, Clip bounds as inputs), "
                         f"got {opset}")
    newest = onnx.defs.onnx_opset_version()
    if opset > newest:
        raise ValueError(f"opset: {opset} is newer than this onnx {onnx.__version__} knows (up to {newest})")
    if input_name == output_name:
        raise ValueError(f"input_name and output_name must differ, both are {input_name!r}")
    g = _Graph(helper, numpy_helper, dtype, onnx.defs, opset)
    Ws, bs, gs = model.weights, model.biases, model.slopes
    x = input_name
    L = spec.n_layers
    for l in range(L):
        z = g.op("MatMul", [x, g.const(Ws[l], f"W{l}")], base=f"matmul{l}")
        z = g.op("Add", [z, g.const(bs[l], f"b{l}")], base=f"z{l}")
        if l == L - 1 and _drop_output(model, logits):
            x = z
            continue
        x = _activation_to_onnx(g, z, spec.activations[l], spec.params[l], gs[l], f64, l)
    g.nodes.append(helper.make_node("Identity", [x], [output_name], name="output"))
    graph = helper.make_graph(
        g.nodes, "fastmlp",
        [helper.make_tensor_value_info(input_name, elem, ["N", spec.sizes[0]])],
        [helper.make_tensor_value_info(output_name, elem, ["N", spec.sizes[-1]])],
        initializer=g.inits)
    opsets = [helper.make_opsetid("", opset)]
    from . import __version__
    onnx_model = helper.make_model(graph, opset_imports=opsets, producer_name="fastmlp",
                                   producer_version=__version__)
    try:
        onnx_model.ir_version = helper.find_min_ir_version_for(opsets)
    except (AttributeError, ValueError):  # pragma: no cover - older onnx
        pass
    meta = {"fastmlp.layer_sizes": json.dumps(list(spec.sizes)),
            "fastmlp.activations": json.dumps([[a, p] for a, p in zip(spec.activations, spec.params)]),
            "fastmlp.loss": spec.loss,
            "fastmlp.output": "logits" if _drop_output(model, logits) else spec.activations[-1]}
    if model.classes_ is not None:
        try:
            meta["fastmlp.classes"] = json.dumps(np.asarray(model.classes_).tolist())
        except TypeError:
            pass
    helper.set_model_props(onnx_model, meta)
    onnx.checker.check_model(onnx_model)
    if path is not None:
        onnx.save(onnx_model, path)
    return onnx_model


def _attr_of(node, name, default):
    from onnx import helper
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _single_op_activations():
    """ONNX op type -> activation name, for the activations whose form is one op (the registry's)."""
    return {e.onnx_op: name for name, e in ACTIVATION_TABLE.items() if e.onnx_op is not None}


def _composite_op_types(name, param, gamma, f64, opset, dtype):
    """The op types ``to_onnx`` writes for activation ``name`` (its composite or single op), in order."""
    import onnx
    from onnx import helper, numpy_helper
    g = _Graph(helper, numpy_helper, dtype, onnx.defs, opset)
    _activation_to_onnx(g, "z", name, param, gamma, f64, 0)
    return [n.op_type for n in g.nodes]


def _saved_leaky(saved, l, slope):
    """The leaky activation of layer l when the metadata names one whose slope is the PRelu's one."""
    if saved is None or slope.size != 1:
        return None
    try:
        name, param = parse_activation(tuple(saved[l]))
    except (TypeError, ValueError):
        return None
    entry = ACTIVATION_TABLE[name]
    if entry.per_unit or entry.onnx_op != "LeakyRelu" or param != float(slope.reshape(-1)[0]):
        return None
    return name


def from_onnx(source: str | os.PathLike | Any, *, dtype: DTypeLike | None = None,
              backend: str = "cython") -> FastMLP:
    """A FastMLP from an ONNX model (a path or an ``onnx.ModelProto``) of dense layers: per layer a
    ``MatMul`` by an initializer W (fan_in, fan_out) followed by an ``Add`` of an initializer b, or a
    ``Gemm`` (alpha = beta = 1, ``transB`` read: torch's ``Linear`` exports W as (fan_out, fan_in)), then
    at most one activation: a single op of the registry's ONNX forms (Relu, Sigmoid, Tanh, LeakyRelu and Elu
    with their ``alpha``, PRelu with its slopes, Softplus, Softsign, Selu with its default constants,
    Softmax over the last axis, Exp) or, in a graph that ``to_onnx`` wrote, the composite it writes for the
    activation its metadata names (GELU, SiLU, hardtanh, Mish, the float64 forms). Trailing ``Identity``
    nodes are skipped. The output layer decides the task as in ``from_torch``: Softmax → softmax
    classifier, Sigmoid → sigmoid classifier, anything else → regressor; a ``to_onnx(logits=True)`` graph
    gets back the output activation and loss of its metadata, and the class labels come from
    ``fastmlp.classes``. ``dtype`` defaults to the initializers'. Anything else (another op, a branch, a
    second input or output, weights that are not initializers) raises ``UnsupportedLayerError`` naming
    the node."""
    onnx = _import("onnx", "onnx")
    from onnx import numpy_helper
    proto = source if isinstance(source, onnx.ModelProto) else onnx.load(source)
    g = proto.graph
    meta = {p.key: p.value for p in proto.metadata_props}
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for n in g.node:  # Constant nodes are initializers too
        if n.op_type == "Constant" and len(n.output) == 1:
            value = _attr_of(n, "value", None)
            if value is not None:
                inits[n.output[0]] = numpy_helper.to_array(value)
    nodes = [n for n in g.node if n.op_type != "Constant"]
    inputs = [i.name for i in g.input if i.name not in inits]
    if len(inputs) != 1 or len(g.output) != 1:
        raise UnsupportedLayerError(f"graph: expected one input and one output, got inputs {inputs} and "
                                    f"outputs {[o.name for o in g.output]}")
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 17)

    def where(n, i):
        return f"{n.op_type} node {n.name or n.output[0]!r} (#{i})"

    def weight(name, n, i):
        if name not in inits:
            raise UnsupportedLayerError(f"{where(n, i)}: its weight {name!r} is not an initializer")
        return np.asarray(inits[name])

    x = inputs[0]
    Ws, bs, segments = [], [], []
    seg, i = [], 0
    while i < len(nodes):
        n = nodes[i]
        if n.op_type in ("MatMul", "Gemm") and n.input[0] == x:
            if Ws:
                segments.append(seg)
            seg = []
            W = weight(n.input[1], n, i)
            if n.op_type == "Gemm":
                if _attr_of(n, "transA", 0) or _attr_of(n, "alpha", 1.0) != 1.0 \
                        or _attr_of(n, "beta", 1.0) != 1.0:
                    raise UnsupportedLayerError(f"{where(n, i)}: only transA=0, alpha=beta=1 is supported")
                if _attr_of(n, "transB", 0):
                    W = W.T
                b = weight(n.input[2], n, i) if len(n.input) > 2 and n.input[2] else np.zeros(W.shape[-1])
                z = n.output[0]
            else:
                nxt = nodes[i + 1] if i + 1 < len(nodes) else None
                if nxt is None or nxt.op_type != "Add" or n.output[0] not in nxt.input:
                    raise UnsupportedLayerError(f"{where(n, i)}: expected an Add of the bias after it")
                other = [t for t in nxt.input if t != n.output[0]]
                b = weight(other[0] if other else "", nxt, i + 1)
                z = nxt.output[0]
                i += 1
            if W.ndim != 2 or b.reshape(-1).shape[0] != W.shape[1] or (Ws and W.shape[0] != Ws[-1].shape[1]):
                raise UnsupportedLayerError(f"{where(n, i)}: weights of shape {W.shape} and bias "
                                            f"{b.shape} do not chain as a dense layer")
            Ws.append(W)
            bs.append(b.reshape(-1))
            x = z
            avail = {z}  # what the activation's nodes may read: the layer's Z and their own outputs
        else:
            if not Ws:
                raise UnsupportedLayerError(f"{where(n, i)} is not supported (expected MatMul+Add or Gemm "
                                            "first)")
            if not any(t in avail for t in n.input) \
                    or any(t and t not in avail and t not in inits for t in n.input):
                raise UnsupportedLayerError(f"{where(n, i)} is not supported: it does not continue the "
                                            "chain of layers (branches are not dense layers)")
            if len(n.output) != 1:
                raise UnsupportedLayerError(f"{where(n, i)} is not supported (it has {len(n.output)} "
                                            "outputs)")
            seg.append(n)
            avail.add(n.output[0])
            x = n.output[0]
        i += 1
    if not Ws:
        raise UnsupportedLayerError("graph: no dense layer (MatMul+Add or Gemm) found")
    segments.append(seg)
    if x != g.output[0].name:
        raise UnsupportedLayerError(f"graph: output {g.output[0].name!r} is not the end of the chain of "
                                    "layers")
    L = len(Ws)
    try:
        saved = json.loads(meta["fastmlp.activations"]) if "fastmlp.activations" in meta else None
    except ValueError:
        saved = None
    if saved is not None and (not isinstance(saved, list) or len(saved) != L):
        saved = None
    src_dtype = np.float64 if Ws[0].dtype == np.float64 else np.float32
    f64 = src_dtype == np.float64
    dtype = _float_dtype(dtype if dtype is not None else src_dtype)
    single = _single_op_activations()
    acts, gammas = [], []
    for l, seg in enumerate(segments):
        seg = [n for n in seg if n.op_type != "Identity"]
        ops = [n.op_type for n in seg]
        gamma = None
        if not seg:
            name, param = _IDENTITY, 0.0
        elif len(seg) == 1 and ops[0] in single and ops[0] != "Identity":
            n = seg[0]
            name = single[ops[0]]
            entry = ACTIVATION_TABLE[name]
            param = entry.default_param
            if entry.per_unit:
                slope = weight(n.input[1], n, l)
                gamma = np.broadcast_to(slope.reshape(-1), (Ws[l].shape[1],)).astype(np.float64)
                leaky = _saved_leaky(saved, l, slope)
                if leaky is not None:  # to_onnx's float64 leaky_relu: PRelu by a float64 constant
                    name, param, gamma = leaky, float(slope.reshape(-1)[0]), None
                    entry = ACTIVATION_TABLE[name]
            elif entry.param is not None and gamma is None and ops[0] != "PRelu":
                param = float(_attr_of(n, "alpha", entry.default_param))
            if entry.param is not None and not entry.per_unit and saved is not None:
                # ONNX attributes are float32: the metadata's float64 value, when it is that one
                try:
                    sname, sparam = parse_activation(tuple(saved[l]))
                except (TypeError, ValueError):
                    sname, sparam = None, None
                if sname == name and abs(sparam - param) <= 1e-6 * max(1.0, abs(sparam)):
                    param = sparam
            if ops[0] == "Softmax" and _attr_of(n, "axis", -1) not in (-1, 1):
                raise UnsupportedLayerError(f"layer {l}: Softmax over axis {_attr_of(n, 'axis', -1)} is "
                                            "not supported (only the last axis)")
            if ops[0] == "Selu" and any(abs(_attr_of(n, k, d) - d) > 1e-6 for k, d in
                                        (("alpha", 1.67326319217681884765625),
                                         ("gamma", 1.05070102214813232421875))):
                raise UnsupportedLayerError(f"layer {l}: Selu with other than its standard constants is not "
                                            "supported")
        else:
            name = None
            if saved is not None:
                try:
                    cand, cparam = parse_activation(tuple(saved[l]))
                except (TypeError, ValueError):
                    cand = None
                if cand is not None and ops == _composite_op_types(cand, cparam, None, f64, opset, src_dtype):
                    name, param = cand, cparam
            if name is None:
                raise UnsupportedLayerError(f"layer {l}: the ops {ops} after its dense layer are not an "
                                            "activation from_onnx reads")
        acts.append((name, param))
        gammas.append(gamma)
    out_name, out_param = acts[-1]
    loss = None
    classes = None
    if meta.get("fastmlp.output") == "logits" and saved is not None and out_name == _IDENTITY:
        try:
            out_name, out_param = parse_activation(tuple(saved[-1]))
        except (TypeError, ValueError):
            pass
    if meta.get("fastmlp.loss") in LOSS_TABLE:
        loss = meta["fastmlp.loss"]
        needed = LOSS_TABLE[loss].output
        if needed is not None and needed != out_name:
            loss = None
    if loss is None:
        loss = LOSS_OF_OUTPUT.get(out_name, "squared_error")
    if LOSS_TABLE[loss].classifier and "fastmlp.classes" in meta:
        try:
            classes = np.asarray(json.loads(meta["fastmlp.classes"]))
        except ValueError:
            classes = None
    for l, (name, _) in enumerate(acts[:-1]):
        if ACTIVATION_TABLE[name].output_only:
            raise UnsupportedLayerError(f"layer {l}: {name} is an output activation only")
    sizes = [Ws[0].shape[0]] + [W.shape[1] for W in Ws]
    return _build(sizes, acts[:-1], (out_name, out_param), [W.astype(dtype) for W in Ws],
                  [b.astype(dtype) for b in bs], gammas, loss=loss, dtype=dtype, classes=classes,
                  backend=backend, source="onnx")


# ----------------------------------------------------------------------------------------------------
# scikit-learn
# ----------------------------------------------------------------------------------------------------
def from_sklearn(estimator, *, dtype=None, backend="cython"):
    """A FastMLP equal to a fitted scikit-learn ``MLPClassifier`` or ``MLPRegressor`` (or fastmlp's own
    ``FastMLPClassifier``/``FastMLPRegressor``), read from ``coefs_``, ``intercepts_``, ``activation``,
    ``out_activation_`` and ``classes_``: the same predictions, ``predict_proba`` and labels. scikit-learn's
    activation names (``activation`` and ``out_activation_``) are read as fastmlp's through the registry
    (its names and aliases). A binary or multilabel classifier gets a sigmoid output (binary
    cross-entropy), a multiclass one softmax, a regressor an identity output, each with the loss the
    registry pairs with it (``MLPRegressor(loss="poisson")``: the exp output and the Poisson loss).
    ``dtype`` defaults to that of ``coefs_``. An output activation the registry does not have raises
    ``UnsupportedLayerError``."""
    if not hasattr(estimator, "coefs_") or not hasattr(estimator, "intercepts_"):
        raise ValueError(f"estimator: {type(estimator).__name__} is not fitted (no coefs_/intercepts_); "
                         "fit it first")
    out_act = getattr(estimator, "out_activation_", None)
    try:
        out = canonical_activation(out_act, "out_activation_")
    except (TypeError, ValueError):
        raise UnsupportedLayerError(f"out_activation_ {out_act!r} of {type(estimator).__name__} is not "
                                    f"supported (supported: {', '.join(ACTIVATIONS)})") from None
    coefs = [np.asarray(c) for c in estimator.coefs_]
    inters = [np.asarray(b) for b in estimator.intercepts_]
    if not coefs or len(coefs) != len(inters):
        raise ValueError("estimator: coefs_ and intercepts_ must be non-empty lists of equal length")
    sizes = [coefs[0].shape[0]] + [c.shape[1] for c in coefs]
    n_hidden = len(coefs) - 1
    activation = getattr(estimator, "activation", None)
    if isinstance(activation, list):
        specs = list(activation)
    elif activation is None and n_hidden:
        raise ValueError(f"estimator: {type(estimator).__name__} has no activation attribute (the "
                         "activation of its hidden layers)")
    else:
        specs = [activation] * n_hidden
    if len(specs) != n_hidden:
        raise ValueError(f"estimator: {len(specs)} activations for {n_hidden} hidden layers")
    hidden = []
    for l, a in enumerate(specs):
        try:
            name, param = parse_activation(tuple(a) if isinstance(a, (list, tuple)) else a)
        except (TypeError, ValueError) as exc:
            raise UnsupportedLayerError(f"activation {a!r} of hidden layer {l} is not supported ({exc})") \
                from None
        if ACTIVATION_TABLE[name].output_only:
            raise UnsupportedLayerError(f"activation {a!r} of hidden layer {l} is not supported ({name} is "
                                        "an output activation only)")
        hidden.append((name, param))
    gammas = [None] * len(coefs)
    per_unit = [name for name, _ in hidden if ACTIVATION_TABLE[name].per_unit]
    if per_unit:
        spec, theta = getattr(estimator, "_spec", None), getattr(estimator, "_theta", None)
        if spec is None or theta is None:
            raise UnsupportedLayerError(f"activation {per_unit[0]}: the estimator does not expose its "
                                        "per-unit parameters")
        gammas = [None if g is None else np.array(g) for g in spec.views(theta)[2]]
    if dtype is None:
        dtype = coefs[0].dtype if coefs[0].dtype in (np.float32, np.float64) else np.float64
    dtype = _float_dtype(dtype)
    classes = getattr(estimator, "classes_", None)
    loss = LOSS_OF_OUTPUT.get(out)
    if loss is None or not LOSS_TABLE[loss].classifier:
        classes = None  # a regressor
    elif sizes[-1] > 1 and not ACTIVATION_TABLE[out].output_only:
        classes = None  # multilabel: classes_ are the output columns 0..k-1
    return _build(sizes, hidden, (out, ACTIVATION_TABLE[out].default_param), coefs, inters, gammas,
                  loss=None, dtype=dtype, classes=classes, backend=backend, source="estimator")
