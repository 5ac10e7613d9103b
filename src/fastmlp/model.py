"""FastMLP: a dense multilayer perceptron trained by minibatch SGD, momentum, Nesterov or Adam.

Layout: W(l) has shape (fan_in, fan_out) and Z(l) = A(l-1) · W(l) + b(l) (batch-first, row-major), as
scikit-learn's ``coefs_``. All parameters live in one flat vector (see ``_netspec``); ``weights``,
``biases`` and ``slopes`` are views into it.
"""
from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import _training
from ._atomic import atomic_write
from ._modelfile import FORMAT_VERSION, read_model_file
from ._netspec import NetSpec, Optimizer, parse_activation
from ._registry import (
    ACTIVATION_TABLE,
    DEFAULT_HIDDEN,
    DEFAULT_OUTPUT,
    HE_INIT,
    LECUN_INIT,
    LOSS_OF_OUTPUT,
    LOSS_TABLE,
    LOSSES,
    OPTIMIZERS,
)
from ._training import EarlyStopping, Schedule
from .backend import get_backend
from .custom import Activation, is_custom, resolve_saved
from .validation import (
    ParameterError,
    check_array,
    check_bool,
    check_dtype,
    check_param,
    check_positive_int,
    check_sample_weight,
    check_targets,
)

INITS = ("auto", "sklearn", "glorot_uniform", "he_normal", "lecun_normal", "orthogonal")
_MODEL_CLASSES = object()  # _encode's default: map labels with the model's own classes_
ActivationSpec = str | tuple[str, float]
_PREDICT_BATCH = 1024
_LANE_STATE = ("_lane", "_lane_key", "_lane_backup", "_lane_labels")  # rebuilt, never pickled


class FastMLP:
    """A dense feed-forward network with a fused Cython core.

    Parameters
    ----------
    layer_sizes : list of int
        ``[d_in, h1, ..., d_out]``.
    activation : str, (str, float), or a list of those, one per hidden layer
        identity, logistic (sigmoid), tanh, relu, leaky_relu, prelu, elu, softplus, gelu, silu, softsign,
        hardtanh, selu, mish; ``("leaky_relu", 0.1)`` sets the parameter (leaky slope, elu gamma,
        initial prelu slope); or a ``fastmlp.Activation`` of your own (NumPy f and f').
    output : str
        "softmax" (multiclass cross-entropy), "sigmoid" (binary cross-entropy; d_out > 1 is multilabel),
        "identity" (squared error), or any activation above (trained with squared error).
    loss : str or None
        Override the loss implied by ``output``: "squared_error" with a sigmoid output is the single
        logistic neuron of the course material. Squared error is ½‖ŷ − y‖² per sample, summed over
        outputs, averaged over samples.
    dtype : np.float32 or np.float64
        Every parameter, buffer and computation uses it; inputs are converted to it.
    seed : int
        Seeds the initialisation, shuffling and validation split (deterministic given the seed).
    backend : "cython", "numpy" or "auto"
    l2 : float
        λ of the L2 penalty (λ/2) Σ‖W‖² on weights (not biases).
    l1 : float
        λ₁ of the L1 penalty λ₁ Σ|W| on weights (not biases); its gradient λ₁·sign(W) (0 at W = 0).
    dropout : float or list of float
        Inverted dropout of the hidden layers' outputs in training steps, one rate p ∈ [0, 1) for all or
        one per hidden layer: each unit is kept with probability 1 − p and scaled by 1/(1 − p), so
        ``predict``/``forward``/``loss``/``gradients`` (which never drop) see the expected activations. The
        masks are drawn in the kernels from a key taken from the model's seed stream.
    init : str or array
        "auto" (He normal before the ReLU family, LeCun normal before selu, else Glorot uniform; zero
        biases), "sklearn" (scikit-learn's draws), "glorot_uniform", "he_normal", "lecun_normal",
        "orthogonal" (every layer alike), a flat NumPy vector of ``n_params`` values (the layout of
        ``get_params_vector``) or a list of one weight matrix ``(fan_in, fan_out)`` per layer (zero biases).
    """

    def __init__(self, layer_sizes: Sequence[int],
                 activation: ActivationSpec | list[ActivationSpec] = DEFAULT_HIDDEN,
                 output: ActivationSpec = DEFAULT_OUTPUT, loss: str | None = None,
                 dtype: DTypeLike = np.float32,
                 seed: int | np.random.Generator | np.random.RandomState | None = 0, backend: str = "auto",
                 l2: float = 0.0, init: str | ArrayLike | Sequence[ArrayLike] = "auto", *,
                 l1: float = 0.0, dropout: float | Sequence[float] = 0.0) -> None:
        if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
            raise ParameterError(f"layer_sizes: expected a list of ints, got {layer_sizes!r}")
        sizes = [check_positive_int(s, "layer_sizes") for s in layer_sizes]
        if len(sizes) < 2:
            raise ParameterError(f"layer_sizes: need at least [d_in, d_out], got {sizes}")
        n_hidden = len(sizes) - 2
        if isinstance(activation, list):
            if len(activation) != n_hidden:
                raise ParameterError(f"activation: got {len(activation)} activations for {n_hidden} "
                                     "hidden layers (give one name for all, or one per hidden layer)")
            hidden = [parse_activation(a) for a in activation]
        else:
            hidden = [parse_activation(activation)] * n_hidden
        out_name, out_param = parse_activation(output, "output")
        if loss is None:
            loss = LOSS_OF_OUTPUT.get(out_name, "squared_error")
        if not isinstance(loss, str) or loss not in LOSSES:
            raise ParameterError(f"loss: unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        if LOSS_OF_OUTPUT.get(out_name) == "cross_entropy" and sizes[-1] < 2:
            raise ParameterError(f"layer_sizes: a {out_name} output needs at least 2 units")
        init_arrays = None
        if not isinstance(init, str):
            init_arrays, init = init, "array"
        elif init not in INITS:
            raise ParameterError(f"init: expected one of {', '.join(map(repr, INITS))} or an array, "
                                 f"got {init!r}")
        self.dtype = check_dtype(dtype)
        self.seed = seed
        self._backend = get_backend(backend)
        self._backend_name = backend
        self.l2 = check_param("l2", l2)
        self.l1 = check_param("l1", l1)
        self._dropout_rates = _dropout_rates(dropout, n_hidden)
        self.dropout = dropout
        self.init = init
        self.activation = activation
        self.output = output
        self.spec = NetSpec(sizes, [a for a, _ in hidden] + [out_name],
                            [p for _, p in hidden] + [out_param], loss)
        self._rng = _make_rng(seed)
        self._theta = np.zeros(self.spec.n_params, dtype=self.dtype)
        self._grad = np.zeros(self.spec.n_params, dtype=self.dtype)
        if init_arrays is None:
            self._initialize()
        else:
            self._initialize_from(init_arrays)
        self._train_net = None
        self._infer_net = None
        self._prefix_nets = {}
        self._lock = threading.RLock()
        self._optimizer = None
        self._reset_lane()
        self.classes_ = None
        self._y_1d = True
        self.loss_curve = []
        self.val_loss_curve = []
        self.val_score_curve = []
        self.best_epoch = None
        self.n_epochs = 0
        self.samples_seen = 0
        self.last_fit = None
        self.metadata = {}

    # ------------------------------------------------------------------------------------------------
    # Parameters
    # ------------------------------------------------------------------------------------------------
    def _initialize(self):
        """Initial parameters, deterministic given ``seed``; PReLU slopes start at their parameter.

        ``init="auto"``: He normal N(0, 2/fan_in) before the ReLU family (the registry's ``he_init``),
        Glorot uniform ±√(6/(fan_in+fan_out)) otherwise, zero biases. ``init="sklearn"``: scikit-learn's
        MLP initialisation, W then b uniform in ±√(f/(fan_in+fan_out)) per layer, f = 2 when the layer's
        activation (the output layer: the last hidden one) is logistic, else 6, drawn in that order."""
        Ws, bs, gs = self.spec.views(self._theta)
        acts = self.spec.activations
        n_hidden = self.spec.n_layers - 1
        for l, (W, b, g) in enumerate(zip(Ws, bs, gs)):
            fan_in, fan_out = W.shape
            if self.init not in ("auto", "sklearn"):
                _init_weights(self.init, W, self._rng)
                b[...] = 0
            elif self.init == "sklearn":
                if not isinstance(self.activation, list):
                    factor = _sklearn_factor(parse_activation(self.activation)[0])
                elif n_hidden:
                    factor = _sklearn_factor(acts[min(l, n_hidden - 1)])
                else:
                    factor = 6.0
                bound = np.sqrt(factor / (fan_in + fan_out))
                W[...] = self._rng.uniform(-bound, bound, W.shape)
                b[...] = self._rng.uniform(-bound, bound, fan_out)
            else:
                if acts[l] in HE_INIT:
                    W[...] = self._rng.standard_normal(W.shape) * np.sqrt(2.0 / fan_in)
                elif acts[l] in LECUN_INIT:
                    _init_weights("lecun_normal", W, self._rng)
                else:
                    bound = np.sqrt(6.0 / (fan_in + fan_out))
                    W[...] = self._rng.uniform(-bound, bound, W.shape)
                b[...] = 0
            if g is not None:
                g[...] = self.spec.params[l]

    def _initialize_from(self, init) -> None:
        """``init`` given as arrays: a flat vector of ``n_params`` (the layout of ``get_params_vector``), or
        one weight matrix (fan_in, fan_out) per layer (biases zero, PReLU slopes at their parameter)."""
        Ws, bs, gs = self.spec.views(self._theta)
        if isinstance(init, np.ndarray) and init.ndim == 1:
            if init.shape != self._theta.shape:
                raise ParameterError(f"init: a flat parameter vector needs {self.spec.n_params} values, got "
                                     f"{init.shape[0]}")
            arrays = [init]
            targets = [self._theta]
        else:
            try:
                arrays = [np.asarray(a, dtype=np.float64) for a in init]
            except (TypeError, ValueError):
                raise ParameterError(f"init: expected one of {', '.join(map(repr, INITS))}, a flat vector of "
                                     f"{self.spec.n_params} values or one weight matrix per layer, got "
                                     f"{type(init).__name__}") from None
            if len(arrays) != len(Ws):
                raise ParameterError(f"init: expected {len(Ws)} weight matrices (one per layer), got "
                                     f"{len(arrays)}")
            for l, (a, W) in enumerate(zip(arrays, Ws)):
                if a.shape != W.shape:
                    raise ParameterError(f"init[{l}]: expected shape {W.shape} (fan_in, fan_out), "
                                         f"got {a.shape}")
            targets = Ws
        for l, a in enumerate(arrays):
            a = np.asarray(a)
            if a.dtype.kind not in "biuf" or not np.isfinite(a).all():
                raise ParameterError(f"init: the arrays must be finite numbers (array {l} is not)")
        for a, t in zip(arrays, targets):
            t[...] = a
        if targets is Ws:
            for b, g, p in zip(bs, gs, self.spec.params):
                b[...] = 0
                if g is not None:
                    g[...] = p

    def reseed(self, seed) -> None:
        """Restart the random stream used for shuffling and validation splits from ``seed`` (an int, None,
        a ``np.random.Generator`` or a legacy ``np.random.RandomState``, used as given)."""
        self._rng = _make_rng(seed)
        self.seed = seed

    @property
    def backend(self) -> str:
        """The backend this model computes with ("cython", "numpy" or "auto"); assigning switches it (the
        workspaces are rebuilt on the next call)."""
        return self._backend_name

    @backend.setter
    def backend(self, name: str) -> None:
        module = get_backend(name)
        with self._lock:
            self._backend, self._backend_name = module, name
            self._train_net = self._infer_net = None
            self._prefix_nets = {}
            self._reset_lane()

    @property
    def optimizer(self) -> Optimizer | None:
        """The optimizer state kept between ``partial_fit`` calls (None before training or after a
        diverged pass); ``optimizer.lr`` is the current learning rate."""
        return self._optimizer

    @property
    def dropout_rates(self) -> list[float]:
        """The dropout rate of every hidden layer's output (0.0 where there is none)."""
        rates = self._dropout_rates
        return [0.0] * (self.spec.n_layers - 1) if rates is None else list(rates[:-1])

    @property
    def layer_sizes(self) -> list[int]:
        return list(self.spec.sizes)

    @property
    def n_params(self) -> int:
        return self.spec.n_params

    @property
    def weights(self) -> list[np.ndarray]:
        """W(l), shape (fan_in, fan_out): views into the parameter vector (edit in place)."""
        return self.spec.views(self._theta)[0]

    @weights.setter
    def weights(self, values: Sequence[ArrayLike]) -> None:
        self._assign(values, 0, "weights")

    @property
    def biases(self) -> list[np.ndarray]:
        """b(l), shape (fan_out,): views into the parameter vector."""
        return self.spec.views(self._theta)[1]

    @biases.setter
    def biases(self, values: Sequence[ArrayLike]) -> None:
        self._assign(values, 1, "biases")

    @property
    def slopes(self) -> list[np.ndarray | None]:
        """PReLU slopes γ(l), shape (fan_out,), or None for layers that are not PReLU."""
        return self.spec.views(self._theta)[2]

    def _assign(self, values, which, name):
        views = self.spec.views(self._theta)[which]
        values = list(values)
        if len(values) != len(views):
            raise ValueError(f"{name}: expected {len(views)} arrays, got {len(values)}")
        arrays = []
        for l, (v, dst) in enumerate(zip(values, views)):
            a = np.asarray(v)
            if a.shape != dst.shape:
                raise ValueError(f"{name}[{l}]: expected shape {dst.shape}, got {a.shape}")
            if not np.isfinite(a).all():
                raise ValueError(f"{name}[{l}]: contains NaN or infinity")
            arrays.append(a)
        for a, dst in zip(arrays, views):
            dst[...] = a

    def get_params_vector(self) -> np.ndarray:
        """A copy of the flat parameter vector θ (layout in ``fastmlp._netspec``)."""
        return self._theta.copy()

    def set_params_vector(self, theta: ArrayLike) -> None:
        theta = np.asarray(theta)
        if theta.shape != self._theta.shape:
            raise ValueError(f"theta: expected shape {self._theta.shape}, got {theta.shape}")
        if not np.isfinite(theta).all():
            raise ValueError("theta: contains NaN or infinity")
        self._theta[...] = theta

    # ------------------------------------------------------------------------------------------------
    # Workspaces (they live as long as the model)
    # ------------------------------------------------------------------------------------------------
    def _training_network(self, batch_size: int):
        """The training workspace (gradients, activations and deltas for ``batch_size`` rows)."""
        if self._train_net is None or self._train_net.max_batch < batch_size:
            self._train_net = self._backend.Network(self.spec, self._theta, self._grad, batch_size)
            if self._dropout_rates is not None:
                self._train_net.set_dropout(self._dropout_rates, _draw_key(self._rng))
        return self._train_net

    def _net_for_inference(self):
        if self._infer_net is None:
            self._infer_net = self._backend.Network(self.spec, self._theta, self._grad, _PREDICT_BATCH)
        return self._infer_net

    def _prefix_net(self, k: int):
        """A network made of the first k+1 layers (a prefix of the flat vector): hidden layer k's output."""
        net = self._prefix_nets.get(k)
        if net is None:
            s = self.spec
            sub = NetSpec(s.sizes[:k + 2], s.activations[:k + 1], s.params[:k + 1], "squared_error")
            net = self._backend.Network(sub, self._theta[:sub.n_params], np.zeros(sub.n_params, self.dtype),
                                        _PREDICT_BATCH)
            self._prefix_nets[k] = net
        return net

    # ------------------------------------------------------------------------------------------------
    # The fast lane: predict / predict_proba / partial_fit as one kernel call when the input is already
    # exactly right (see _lane.pxi). It either does the whole call or changes nothing and the checked
    # path below runs (and raises the precise error for a bad input), so the two give the same answers.
    # ------------------------------------------------------------------------------------------------
    def _reset_lane(self):
        self._lane = bool(getattr(self._backend, "FAST_LANE", False))
        self._lane_key = None       # (optimizer, lr, l2, l1, the Optimizer) of the last lane-able call
        self._lane_backup = None    # theta's copy before a lane step (put back if the step diverges)
        self._lane_labels = None    # (classes_, table, offset) of _label_table

    def _label_table(self):
        """(table, offset) mapping integer labels to class indices in C (table None: the classes are
        0..C-1), or None when classes_ are not integers in a span of at most 2**16."""
        cls = self.classes_
        cached = self._lane_labels
        if cached is not None and cached[0] is cls:
            return cached[1]
        lane = None
        if isinstance(cls, np.ndarray) and cls.ndim == 1 and cls.dtype.kind in "iu" and len(cls) \
                and -(1 << 62) < int(cls[0]) and int(cls[-1]) < 1 << 62:
            lo, hi = int(cls[0]), int(cls[-1])
            if lo == 0 and hi == len(cls) - 1:
                lane = (None, 0)
            elif hi - lo < 1 << 16 and bool(np.all(cls[1:] > cls[:-1])):
                table = np.full(hi - lo + 1, -1, dtype=np.intp)
                table[(cls.astype(np.int64) - lo).astype(np.intp)] = np.arange(len(cls))
                lane = (table, lo)
        self._lane_labels = (cls, lane)
        return lane

    def _partial_fit_lane(self, X, y, batch_size):
        """partial_fit's one-batch case in one kernel call; False when the lane does not apply."""
        labels = (None, 0)
        if LOSS_TABLE[self.spec.loss].classifier:
            labels = self._label_table()
            if labels is None:
                return False
        if self._lane_backup is None:
            self._lane_backup = np.empty_like(self._theta)
        opt = self._optimizer
        with self._lock:
            result = self._backend.step_fast(self._train_net, X, y, labels[0], labels[1], opt,
                                             self._lane_backup, batch_size)
        if result is None:
            return False
        if type(result) is tuple:  # diverged: the kernel has put the parameters back
            self._optimizer = None
            self._lane_key = None
            raise _training.divergence_error(self.n_epochs + 1, result[0], result[1], opt)
        loss = self._report_loss(result)
        self.n_epochs += 1
        self.samples_seen += X.shape[0]
        self.loss_curve.append(loss)
        self.last_fit = _training.FitSummary(1, "epochs", loss)
        return True

    def _infer(self, X):
        """Network output for validated X. The workspace is shared, so concurrent callers (a thread pool
        serving one model; the kernels release the GIL) take turns on it."""
        out = np.empty((X.shape[0], self.spec.sizes[-1]), dtype=self.dtype)
        with self._lock:
            return self._net_for_inference().forward(X, out)

    def __getstate__(self):
        # Workspaces, the backend module and the lock are rebuilt on demand after unpickling.
        state = self.__dict__.copy()
        for key in ("_train_net", "_infer_net", "_prefix_nets", "_backend", "_lock") + _LANE_STATE:
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        if "_backend_name" not in state:  # pickled before the backend became a property
            state["_backend_name"] = state.pop("backend", "auto")
        state.setdefault("init", "auto")
        state.setdefault("samples_seen", 0)
        state.setdefault("last_fit", None)
        state.setdefault("metadata", {})
        state.setdefault("l1", 0.0)
        state.setdefault("dropout", 0.0)
        state.setdefault("_dropout_rates", None)
        self.__dict__.update(state)
        # Arrays unpickled from a read-only memory map (joblib) become private, writable copies.
        for key in ("_theta", "_grad"):
            if not getattr(self, key).flags.writeable:
                setattr(self, key, getattr(self, key).copy())
        opt = self._optimizer
        if opt is not None:
            opt.state1, opt.state2 = np.array(opt.state1), np.array(opt.state2)
        self._backend = get_backend(self._backend_name)
        self._train_net = self._infer_net = None
        self._prefix_nets = {}
        self._lock = threading.RLock()
        self._reset_lane()

    # ------------------------------------------------------------------------------------------------
    # Targets
    # ------------------------------------------------------------------------------------------------
    @property
    def is_classifier(self) -> bool:
        return LOSS_TABLE[self.spec.loss].classifier

    def _encode(self, y, n, fitting=False, classes=None, known=_MODEL_CLASSES):
        """(Y, classes_, y_1d): the targets in the kernels' form (intp labels for softmax, else a float
        (n, d_out) matrix), the class labels they were mapped with and whether y was 1-D. ``known``: the
        classes to map with (default: the model's ``classes_``). Pure: the model is changed only once the
        whole call has been checked (see ``_commit_targets``)."""
        if known is _MODEL_CLASSES:
            known = self.classes_
        y = check_targets(y, n)
        d_out = self.spec.sizes[-1]
        loss = self.spec.loss
        y_1d = y.ndim == 1 or d_out == 1
        if not LOSS_TABLE[loss].classifier:
            if y.dtype.kind not in "biuf":
                raise TypeError(f"y: expected numeric targets, got dtype {y.dtype}")
            if y.ndim == 1:
                y = y[:, None]
            if y.shape[1] != d_out:
                raise ValueError(f"y: expected {d_out} target columns, got {y.shape[1]}")
            Y = np.ascontiguousarray(y, dtype=self.dtype)
            if not self._backend.all_finite(Y):
                raise ValueError("y: contains NaN or infinity")
            if loss == "poisson" and (Y < 0).any():
                raise ValueError("y: Poisson targets must be >= 0 (counts or rates); some are negative")
            return Y, known, y_1d if fitting else self._y_1d
        if loss == "binary_cross_entropy" and d_out > 1:
            if y.ndim != 2 or y.shape[1] != d_out:
                raise ValueError(f"y: a multilabel sigmoid output needs a 0/1 matrix (n, {d_out}), "
                                 f"got shape {y.shape}")
            if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
                raise ValueError("y: multilabel targets must be 0 or 1")
            cls = np.arange(d_out) if known is None else known
            return np.ascontiguousarray(y, dtype=self.dtype), cls, self._y_1d
        if y.ndim == 2:
            if y.shape[1] != 1:
                raise ValueError(f"y: expected a 1-D array of labels, got shape {y.shape}")
            y = y.ravel()
        n_classes = d_out if loss == "cross_entropy" else 2
        cls = known
        if cls is None:
            if not fitting:
                raise ValueError("y: the model has no classes yet; fit it first")
            cls = self._infer_classes(y, n_classes, classes)
        idx = _label_index(y, cls)
        if loss == "cross_entropy":
            return idx, cls, self._y_1d
        return np.ascontiguousarray(idx.astype(self.dtype)[:, None]), cls, self._y_1d

    def _commit_targets(self, classes, y_1d):
        self.classes_ = classes
        self._y_1d = y_1d

    def _infer_classes(self, y, n_classes, classes):
        if classes is not None:
            cls = np.unique(np.asarray(classes))
            if len(cls) != n_classes:
                raise ValueError(f"classes: {len(cls)} classes given but the output needs {n_classes}")
            return cls
        if y.dtype.kind in "biuf" and y.size and np.all(np.mod(y, 1) == 0) \
                and y.min() >= 0 and y.max() < n_classes:
            return np.arange(n_classes)
        cls = np.unique(y)
        if len(cls) != n_classes:
            raise ValueError(f"y: found {len(cls)} classes {cls[:10].tolist()} but the output layer has "
                             f"{n_classes} (labels must be 0..{n_classes - 1}, or exactly {n_classes} "
                             "distinct values)")
        return cls

    # ------------------------------------------------------------------------------------------------
    # Forward, loss, gradients
    # ------------------------------------------------------------------------------------------------
    def _check_X(self, X, name="X"):
        return check_array(X, name, self.dtype, n_features=self.spec.sizes[0])

    def forward(self, X: ArrayLike) -> np.ndarray:
        """The network's output for X: softmax probabilities, sigmoid outputs, or the output activation.

        Never an answer from broken weights: non-finite outputs raise ``FloatingPointError`` (saying
        whether the parameters themselves are not finite, or the output overflowed)."""
        out = self._infer(self._check_X(X))
        if not self._backend.all_finite(out):
            raise FloatingPointError(self._non_finite_output(out))
        return out

    def _non_finite_output(self, out: np.ndarray) -> str:
        rows = np.flatnonzero(~np.isfinite(out).all(axis=1))
        where = f"{len(rows)} of {out.shape[0]} rows (first: {rows[:5].tolist()})"
        if not self._backend.all_finite(self._theta):
            return (f"the model's parameters are not finite (NaN or infinity), so its outputs for {where} "
                    "are not either; load or refit a healthy model")
        return (f"the network's output is not finite for {where}: the weights or the inputs are so large "
                "that it overflows (a diverged fit? lower lr, or scale the inputs)")

    def transform(self, X, layer: int = -1) -> np.ndarray:
        """The activations of hidden layer ``layer`` (0 is the first hidden layer, -1 the last) for X,
        shape (n_samples, layer_sizes[layer + 1])."""
        n_hidden = self.spec.n_layers - 1
        if n_hidden == 0:
            raise ValueError("layer: the network has no hidden layer to transform to")
        if isinstance(layer, (bool, np.bool_)) or not isinstance(layer, (int, np.integer)) \
                or not -n_hidden <= layer < n_hidden:
            raise ValueError(f"layer: expected an int in [{-n_hidden}, {n_hidden - 1}], got {layer!r}")
        X = self._check_X(X)
        k = int(layer) % n_hidden
        out = np.empty((X.shape[0], self.spec.sizes[k + 1]), dtype=self.dtype)
        with self._lock:
            return self._prefix_net(k).forward(X, out)

    def loss(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """The regularised risk R = mean loss + (λ/2) Σ‖W‖² on (X, y), with no update."""
        return self.gradients(X, y, sample_weight)[0]

    def gradients(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
                  ) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        """(R, dW, db): R = mean loss + (λ/2) Σ‖W‖² over all of X and its exact gradients (copies);
        nothing is updated. PReLU slope gradients: see ``gradient_vector``."""
        loss, grad = self.gradient_vector(X, y, sample_weight)
        Ws, bs, _ = self.spec.views(grad)
        return loss, Ws, bs

    def gradient_vector(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
                        ) -> tuple[float, np.ndarray]:
        """(R, ∂R/∂θ) with the gradient as a flat vector laid out like ``get_params_vector()``."""
        X = self._check_X(X)
        Y, _, _ = self._encode(y, X.shape[0], fitting=self.classes_ is None)
        sw = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        with self._lock:
            net = self._training_network(min(X.shape[0], _PREDICT_BATCH))
            loss = net.loss_and_grad(X, Y, sw, self.l2, self.l1)
            return loss, self._grad.copy()

    # ------------------------------------------------------------------------------------------------
    # Training: the shared engine (fastmlp._training), Algorithm 4.1 minibatched, or L-BFGS
    # ------------------------------------------------------------------------------------------------
    def fit(self, X: ArrayLike, y: ArrayLike, epochs: int = 10, batch_size: int = 32, lr: float | None = None,
            optimizer: str = "sgd", *, momentum: float = 0.9, beta1: float = 0.9, beta2: float = 0.999,
            eps: float = 1e-8, l2: float | None = None, l2_per_batch: bool = False,
            schedule: str | Schedule = "constant", power_t: float = 0.5, validation_data: tuple | None = None,
            validation_split: float = 0.0, patience: int | None = None, min_delta: float = 0.0,
            monitor: str | None = None, restore_best: bool | None = None,
            early_stopping: EarlyStopping | None = None, shuffle: bool = True,
            sample_weight: ArrayLike | None = None, class_weight: str | dict | None = None, tol: float = 1e-4,
            max_fun: int = 15000, verbose: bool | None = None,
            callback: Callable[[FastMLP, dict], bool | None] | None = None, l1: float | None = None,
            clip_norm: float | None = None, clip_value: float | None = None,
            **optimizer_options: float) -> FastMLP:
        """Train by minibatch gradient descent (Algorithm 4.1) or L-BFGS, continuing from the current
        weights. Returns self.

        Each epoch shuffles the training rows and takes one optimizer step per minibatch (batch_size=1 is
        per-sample SGD, as in the book); the whole epoch runs as one kernel call. ``optimizer``: "sgd",
        "momentum", "nesterov", "adam" or "lbfgs" (full batch, ``epochs`` iterations at most, ``max_fun``
        evaluations, gradient tolerance ``tol``). ``lr`` defaults to the optimizer's (0.001 for Adam,
        0.01 otherwise); ``schedule``: "constant", "invscaling" (α₀ / (t+1)^power_t, t = rows seen),
        "adaptive" (α / 5 on each plateau) or a ``fastmlp.schedules`` object. ``l2`` (default: the
        model's) is λ of (λ/2)Σ‖W‖²; ``l2_per_batch=True`` divides it by the minibatch's rows (scikit-learn's
        ``alpha``). ``sample_weight`` (n,) and ``class_weight`` (None, "balanced" or {label: weight}) weigh
        each row's loss.

        With ``validation_data=(Xv, yv[, swv])`` or ``validation_split``, the validation loss and score
        are recorded per epoch. Early stopping watches ``monitor`` ("val_loss" by default with validation
        data, else "loss"; or "val_score"): training stops after ``patience`` epochs without an
        improvement larger than ``min_delta``, and the weights of the best epoch are restored
        (``restore_best``, default: whenever validation data or ``patience`` is given). An
        ``EarlyStopping`` object may be passed instead to keep its state between calls.
        ``callback(model, info)`` is called after every epoch with a dict (epoch, loss, val_loss,
        val_score); returning True stops training. ``verbose``: None shows a progress bar only on a
        terminal (and only once the fit is slow), True always reports, False never.

        ``optimizer`` may also be "rmsprop" (``rho``, ``eps``), "adamw" (``beta1``, ``beta2``, ``eps``,
        ``weight_decay``: W ← (1 − lr·weight_decay)·W before each Adam step, weights only) or "rprop"
        (iRprop⁻ on the full-batch gradient, one step per epoch, ``batch_size`` unused; ``lr`` is the
        initial step Δ₀, ``eta_plus``, ``eta_minus``, ``step_min``, ``step_max``). ``l1`` (default: the
        model's) adds λ₁Σ|W|. ``clip_norm`` rescales each step's gradient g (of R, penalties included) to
        g·clip_norm/‖g‖₂ when ‖g‖₂ > clip_norm (‖·‖ over all parameters); ``clip_value`` first clips every
        element to [−clip_value, clip_value]. ``schedule`` also takes "step", "exponential", "cosine"
        and "reduce_on_plateau" (``fastmlp.schedules``). A model with ``dropout`` trains with minibatch
        optimizers only (rprop and lbfgs refuse it).

        A pass that ends with a non-finite loss or non-finite weights raises ``FloatingPointError``
        naming ``lr``, with the weights from before that pass put back; nothing about the model changes
        when an argument is refused.
        """
        is_lbfgs = optimizer == "lbfgs"
        clip = _check_clip(clip_norm, clip_value)
        if self._dropout_rates is not None and optimizer in ("lbfgs", *_training.FULL_BATCH_OPTIMIZERS):
            raise ParameterError(f"dropout: {optimizer} is a deterministic full-batch method and trains "
                                 "without dropout; use a minibatch optimizer or a model with dropout=0")
        l1 = self.l1 if l1 is None else check_param("l1", l1)
        epochs = check_param("epochs", epochs)
        batch_size = check_param("batch_size", batch_size)
        if patience is not None:
            patience = check_param("patience", patience)
        validation_split = check_param("validation_split", validation_split)
        shuffle = check_bool("shuffle", shuffle)
        if validation_data is not None and validation_split:
            raise ParameterError("validation_split: give validation_data or validation_split, not both")
        if is_lbfgs:
            tol = check_param("tol", tol)
            max_fun = check_param("max_fun", max_fun)
            l2 = self.l2 if l2 is None else check_param("l2", l2)
            if validation_data is not None or validation_split or patience is not None \
                    or early_stopping is not None:
                raise ParameterError("optimizer: lbfgs trains on the full batch and takes no validation "
                                     "data, validation_split, patience or early_stopping")
            if clip != (0.0, 0.0) or optimizer_options:
                raise ParameterError("optimizer: lbfgs takes no gradient clipping (clip_norm, clip_value) "
                                     f"or other optimizer's options ({sorted(optimizer_options)})")
            opt = None
        else:
            opt = self._make_optimizer(optimizer, lr, momentum, beta1, beta2, eps, l2, l1=l1,
                                       **_optimizer_options(optimizer_options))
            opt.clip_norm, opt.clip_value = clip
        sched = _training.make_schedule(schedule, power_t)
        X = self._check_X(X)
        n = X.shape[0]
        Y, classes, y_1d = self._encode(y, n, fitting=True)
        sw = self._sample_weights(sample_weight, class_weight, y, n, classes)

        train_idx = np.arange(n, dtype=np.intp)
        val = None
        if validation_split:
            n_val = int(round(n * validation_split))
            if n_val < 1 or n_val >= n:
                raise ParameterError(f"validation_split: {validation_split} of {n} samples leaves an empty "
                                     "training or validation set")
            perm = self._rng.permutation(n).astype(np.intp)
            val_idx, train_idx = np.sort(perm[:n_val]), np.ascontiguousarray(np.sort(perm[n_val:]))
            val = (np.ascontiguousarray(X[val_idx]), Y[val_idx],
                   None if sw is None else np.ascontiguousarray(sw[val_idx]))
        elif validation_data is not None:
            val = self._validation_set(validation_data, classes)
        stopping = self._early_stopping(early_stopping, monitor, patience, min_delta, restore_best, val)

        self._commit_targets(classes, y_1d)
        if is_lbfgs:
            with self._lock:
                summary = _training.run_lbfgs(self, X, Y, sw, l2, epochs, max_fun, tol, callback, verbose,
                                              l1=l1)
            if summary.reason == "max_iter":
                warnings.warn(f"lbfgs stopped after {summary.epochs} iteration(s) before converging "
                              f"({summary.message}); raise epochs or max_fun, or scale the data",
                              _training.ConvergenceWarning, stacklevel=2)
            self.last_fit = summary
            return self
        self._optimizer = opt
        sched.start(opt.lr)
        plan = _training.EpochPlan(opt, epochs, min(batch_size, len(train_idx)), shuffle,
                                   opt.l2, l2_per_batch, sched, stopping, val, callback, verbose)
        with self._lock:
            self.last_fit = _training.run_epochs(self, X, Y, sw, train_idx, plan)
        return self

    def partial_fit(self, X: ArrayLike, y: ArrayLike, batch_size: int = 32, lr: float | None = None,
                    optimizer: str = "sgd", *, classes: ArrayLike | None = None,
                    sample_weight: ArrayLike | None = None, class_weight: str | dict | None = None,
                    shuffle: bool = True, l2_per_batch: bool = False, schedule: str | Schedule = "constant",
                    power_t: float = 0.5, early_stopping: EarlyStopping | None = None,
                    validation_data: tuple | None = None,
                    callback: Callable[[FastMLP, dict], bool | None] | None = None,
                    clip_norm: float | None = None, clip_value: float | None = None,
                    **optimizer_kwargs: float) -> FastMLP:
        """One pass over X in minibatches. The optimizer state (momentum, Adam moments, step count) is
        kept between calls while the optimizer and its settings stay the same. ``classes`` fixes the label
        set on the first call (needed when the first batch does not show every class). The other options
        are those of ``fit``.

        With the defaults of the options after ``optimizer`` (and the same ``optimizer`` and ``lr`` as
        the previous call), X an array of the model's dtype and width, y integer labels (classifiers) or
        float targets of the model's dtype, and at most ``batch_size`` rows, the call is one kernel call
        that checks X and y while reading them. A single batch is never shuffled (its gradient is a sum
        over its rows)."""
        if (self._lane_key is not None
                and _lane_options(optimizer_kwargs, sample_weight, class_weight, validation_data, callback,
                                  early_stopping, l2_per_batch, schedule, clip_norm, clip_value)
                and (shuffle is True or shuffle is False) and type(batch_size) is int and batch_size > 0
                and (lr is None or type(lr) is float or type(lr) is int)
                and self._lane_key == (optimizer, lr, self.l2, self.l1, self._optimizer)
                and self._train_net is not None
                and self._partial_fit_lane(X, y, batch_size)):
            return self
        self._lane_key = None
        batch_size = check_param("batch_size", batch_size)
        shuffle = check_bool("shuffle", shuffle)
        unknown = set(optimizer_kwargs) - {"momentum", "beta1", "beta2", "eps", "l2", "l1"}
        unknown -= OPTIMIZER_OPTIONS
        if unknown:
            raise ParameterError(f"partial_fit: unexpected keyword argument(s) {sorted(unknown)}")
        X = self._check_X(X)
        n = X.shape[0]
        if classes is not None and self.classes_ is None and self.is_classifier:
            known = self._infer_classes(np.asarray(classes)[:0], self._n_label_classes(), classes)
        else:
            known = self.classes_
        Y, cls, y_1d = self._encode(y, n, fitting=True, known=known)
        sw = self._sample_weights(sample_weight, class_weight, y, n, cls)
        probe = self._make_optimizer(optimizer, lr, optimizer_kwargs.get("momentum", 0.9),
                                     optimizer_kwargs.get("beta1", 0.9), optimizer_kwargs.get("beta2", 0.999),
                                     optimizer_kwargs.get("eps", 1e-8), optimizer_kwargs.get("l2"),
                                     l1=optimizer_kwargs.get("l1"),
                                     **_optimizer_options({k: v for k, v in optimizer_kwargs.items()
                                                           if k in OPTIMIZER_OPTIONS}))
        clip = _check_clip(clip_norm, clip_value)
        sched = _training.make_schedule(schedule, power_t)
        val = None if validation_data is None else self._validation_set(validation_data, cls)
        opt = self._optimizer
        if opt is None or opt.settings != probe.settings:
            opt = probe
        self._commit_targets(cls, y_1d)
        self._optimizer = opt
        opt.clip_norm, opt.clip_value = clip
        sched.start(probe.lr)
        plan = _training.EpochPlan(opt, 1, min(batch_size, n), shuffle, probe.l2, l2_per_batch, sched,
                                   early_stopping, val, callback, False)
        with self._lock:
            self.last_fit = _training.run_epochs(self, X, Y, sw, np.arange(n, dtype=np.intp), plan)
        if (self._lane and optimizer not in _training.FULL_BATCH_OPTIMIZERS
                and _lane_options(optimizer_kwargs, sample_weight, class_weight, validation_data, callback,
                                  early_stopping, l2_per_batch, schedule, clip_norm, clip_value)):
            self._lane_key = (optimizer, lr, self.l2, self.l1, self._optimizer)
        return self

    def _n_label_classes(self):
        return self.spec.sizes[-1] if self.spec.loss == "cross_entropy" else 2

    def _make_optimizer(self, optimizer, lr, momentum, beta1, beta2, eps, l2, l1=None, **options):
        if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
            raise ParameterError(f"optimizer: unknown optimizer {optimizer!r}; choose one of "
                                 f"{', '.join(OPTIMIZERS)} or lbfgs")
        return Optimizer(optimizer, self.spec.n_params, self.dtype, lr=lr,
                         l2=self.l2 if l2 is None else l2, momentum=momentum, beta1=beta1, beta2=beta2,
                         eps=eps, l1=self.l1 if l1 is None else l1, **options)

    def _sample_weights(self, sample_weight, class_weight, y, n, classes):
        sw = check_sample_weight(sample_weight, n, self.dtype)
        if class_weight is None:
            return sw
        if not self.is_classifier or self.spec.sizes[-1] > 1 and self.spec.loss == "binary_cross_entropy":
            raise ParameterError("class_weight: only single-label classification models take class "
                                 "weights; use sample_weight")
        labels = np.asarray(y).ravel()
        cw = _training.class_sample_weights(class_weight, labels, np.asarray(classes), self.dtype)
        return cw if sw is None else np.ascontiguousarray(sw * cw)

    def _validation_set(self, validation_data, classes):
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ParameterError("validation_data: expected (X_val, y_val) or (X_val, y_val, sample_weight)")
        Xv = self._check_X(validation_data[0], "validation_data[0]")
        try:
            Yv, _, _ = self._encode(validation_data[1], Xv.shape[0], known=classes)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"validation_data: {exc}") from None
        swv = None
        if len(validation_data) == 3 and validation_data[2] is not None:
            swv = check_sample_weight(validation_data[2], Xv.shape[0], self.dtype)
            if not swv.sum() > 0:
                raise ValueError("validation_data: the validation sample weights are all zero")
        return Xv, Yv, swv

    def _early_stopping(self, early_stopping, monitor, patience, min_delta, restore_best, val):
        if early_stopping is not None:
            if not isinstance(early_stopping, EarlyStopping):
                raise ParameterError("early_stopping: expected a fastmlp EarlyStopping, got "
                                     f"{early_stopping!r}")
            if early_stopping.monitor != "loss" and val is None:
                raise ParameterError(f"early_stopping: monitor={early_stopping.monitor!r} needs "
                                     "validation_data or validation_split")
            return early_stopping
        if monitor is None:
            monitor = "val_loss" if val is not None else "loss"
        elif monitor != "loss" and val is None:
            raise ParameterError(f"monitor: {monitor!r} needs validation_data or validation_split")
        if restore_best is None:
            restore_best = val is not None or patience is not None
        if val is None and patience is None and not restore_best:
            return None
        return EarlyStopping(monitor, min_delta, patience, check_bool("restore_best", restore_best))

    # Hooks of the engine (a scikit-learn adapter reports its losses in scikit-learn's convention)
    def _report_loss(self, raw: float) -> float:
        """The training loss recorded in ``loss_curve`` for the kernels' R."""
        return float(raw)

    def _validation_metrics(self, Xv, Yv, swv):
        """(validation loss without the L2 term, validation score) for encoded validation targets."""
        net = self._training_network(1)
        return float(net.loss(Xv, Yv, swv)), self._score_encoded(Xv, Yv, swv)

    # ------------------------------------------------------------------------------------------------
    # Prediction and scoring
    # ------------------------------------------------------------------------------------------------
    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities: (n, C) for softmax, (n, 2) for a binary sigmoid, (n, d_out) multilabel."""
        if not self.is_classifier:
            raise AttributeError("predict_proba: only classification models (softmax or sigmoid output) "
                                 "have probabilities")
        if self._lane and self._infer_net is not None and self.spec.loss == "cross_entropy":
            with self._lock:
                P = self._backend.predict_fast(self._infer_net, X, False)
            if P is not None:
                return P
        P = self.forward(X)
        if self.spec.loss == "binary_cross_entropy" and P.shape[1] == 1:
            return np.hstack([1 - P, P])
        return P

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Labels (classification) or the network's output (regression; 1-D for one output)."""
        if self._lane and self._infer_net is not None:
            if self.spec.loss == "cross_entropy":
                with self._lock:
                    idx = self._backend.predict_fast(self._infer_net, X, True)
                if idx is not None:
                    cls = self.classes_
                    if cls is None:
                        return idx
                    labels = self._label_table()
                    direct = labels is not None and labels[0] is None and cls.dtype == idx.dtype
                    return idx if direct else cls[idx]
            else:
                with self._lock:
                    P = self._backend.predict_fast(self._infer_net, X, False)
                if P is not None:
                    return self._decode(P)
        P = self.forward(X)
        return self._decode(P)

    def _decode(self, P):
        loss = self.spec.loss
        if loss == "cross_entropy":
            idx = P.argmax(axis=1)
            return idx if self.classes_ is None else self.classes_[idx]
        if loss == "binary_cross_entropy":
            if P.shape[1] == 1:
                idx = (P[:, 0] >= 0.5).astype(np.intp)
                return idx if self.classes_ is None else self.classes_[idx]
            return (P >= 0.5).astype(np.int64)
        return P[:, 0] if P.shape[1] == 1 and self._y_1d else P

    def score(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Accuracy (classification; exact-match for multilabel) or R² averaged over outputs."""
        X = self._check_X(X)
        Y, _, _ = self._encode(y, X.shape[0])
        sw = check_sample_weight(sample_weight, X.shape[0], np.float64)
        return self._score_encoded(X, Y, sw)

    def _score_encoded(self, X, Y, sw=None):
        P = self._infer(X)
        loss = self.spec.loss
        if loss == "cross_entropy":
            correct = P.argmax(axis=1) == Y
        elif loss == "binary_cross_entropy":
            correct = ((P >= 0.5) == (Y >= 0.5)).all(axis=1)
        else:
            w = None if sw is None else sw[:, None]
            ss_res = np.average((Y - P) ** 2, axis=0, weights=w)
            ss_tot = np.average((Y - np.average(Y, axis=0, weights=sw)) ** 2, axis=0, weights=w)
            with np.errstate(divide="ignore", invalid="ignore"):
                r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1),
                              np.where(ss_res == 0, 1.0, 0.0))
            return float(np.mean(r2))
        return float(np.average(correct, weights=sw))

    # ------------------------------------------------------------------------------------------------
    # Persistence: arrays + JSON metadata in one .npz; loading never unpickles
    # ------------------------------------------------------------------------------------------------
    def _meta(self):
        return {
            "format": "fastmlp", "format_version": FORMAT_VERSION,
            "layer_sizes": list(self.spec.sizes),
            "activations": [[_saved_name(a), p] for a, p in zip(self.spec.activations[:-1],
                                                                 self.spec.params[:-1])],
            "output": [_saved_name(self.spec.activations[-1]), self.spec.params[-1]],
            "loss": self.spec.loss, "dtype": np.dtype(self.dtype).name, "seed": _jsonable_seed(self.seed),
            "backend": self.backend, "l2": self.l2, "l1": self.l1, "init": self.init,
            "dropout": [] if self._dropout_rates is None else list(self._dropout_rates[:-1]),
            "y_1d": bool(self._y_1d), "n_epochs": self.n_epochs, "best_epoch": self.best_epoch,
            "loss_curve": self.loss_curve, "val_loss_curve": self.val_loss_curve,
            "val_score_curve": self.val_score_curve, "metadata": self.metadata,
        }

    def save(self, path: str | os.PathLike) -> str | os.PathLike:
        """Write the model to ``path`` (a .npz holding θ, the classes and JSON metadata; no pickle).
        The file is written to a temporary file beside ``path``, fsynced and renamed over it: an existing
        file is replaced whole or not at all."""
        try:
            meta = json.dumps(self._meta())
        except (TypeError, ValueError) as exc:
            raise TypeError(f"metadata: must be JSON-serialisable (str keys; numbers, strings, lists, "
                            f"dicts), {exc}") from None
        arrays = {"theta": self._theta, "meta": np.array(meta)}
        if self.classes_ is not None:
            cls = np.asarray(self.classes_)
            if cls.dtype == object:
                raise TypeError("classes_: object-dtype labels cannot be saved without pickle; "
                                "use numeric or string labels")
            arrays["classes"] = cls
        with atomic_write(os.fspath(path), "wb") as fh:  # a failed or killed save keeps the old file
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, backend: str | None = None,
             custom: dict[str, Activation] | None = None) -> FastMLP:
        """Read a model written by ``save``. Only arrays and JSON are read (never a pickle), and the file is
        checked whole — every metadata field, the arrays' headers against the architecture, the classes
        against the output layer — before anything of the size it claims is allocated. ``custom`` maps the
        names of the model's own activations (``fastmlp.Activation``) to them: the file stores only their
        names, and a model using one that is not given is refused (ValueError naming it)."""
        meta, theta, classes = read_model_file(path)
        fname = os.fspath(path)
        hidden = [resolve_saved(a[0], custom, "path") or tuple(a) for a in meta["activations"]]
        out_name, out_param = meta["output"]
        out_custom = resolve_saved(out_name, custom, "path")
        try:
            model = cls(meta["layer_sizes"], activation=hidden,
                        output=out_custom or _output_spec(out_name, out_param),
                        loss=meta["loss"], dtype=meta["dtype"], seed=meta.get("seed", 0),
                        backend=backend or meta.get("backend", "cython"), l2=meta.get("l2", 0.0),
                        init=_saved_init(meta.get("init", "auto")), l1=meta.get("l1", 0.0),
                        dropout=meta.get("dropout") or 0.0)
        except ParameterError as exc:
            raise ValueError(f"path: {fname} has malformed fastmlp metadata ({exc})") from None
        model.set_params_vector(theta)
        model.classes_ = classes
        model._y_1d = bool(meta.get("y_1d", True))
        model.n_epochs = int(meta.get("n_epochs", 0))
        model.best_epoch = meta.get("best_epoch")
        model.loss_curve = [float(v) for v in meta.get("loss_curve", [])]
        model.val_loss_curve = [float(v) for v in meta.get("val_loss_curve", [])]
        model.val_score_curve = [float(v) for v in meta.get("val_score_curve", [])]
        model.metadata = meta.get("metadata", {})
        return model

    def __repr__(self):
        acts = [a.name if is_custom(a) else a if p == ACTIVATION_TABLE[a].default_param else f"{a}({p:g})"
                for a, p in zip(self.spec.activations[:-1], self.spec.params[:-1])]
        act = acts[0] if len(set(acts)) == 1 else acts
        out = self.spec.activations[-1]
        out = out.name if is_custom(out) else out
        return (f"FastMLP({list(self.spec.sizes)}, activation={act!r}, output={out!r}, "
                f"loss={self.spec.loss!r}, dtype={np.dtype(self.dtype).name}, "
                f"backend={self._backend.NAME!r})")


# The keyword options of fit/partial_fit that only some optimizers read (their defaults in Optimizer).
OPTIMIZER_OPTIONS = frozenset({"rho", "weight_decay", "eta_plus", "eta_minus", "step_min", "step_max"})


def _optimizer_options(options: dict) -> dict:
    unknown = set(options) - OPTIMIZER_OPTIONS
    if unknown:
        raise ParameterError(f"fit: unexpected keyword argument(s) {sorted(unknown)}")
    return options


def _check_clip(clip_norm, clip_value) -> tuple[float, float]:
    """(clip_norm, clip_value) as floats, 0 for off; each > 0 when given."""
    return (0.0 if clip_norm is None else check_param("clip_norm", clip_norm),
            0.0 if clip_value is None else check_param("clip_value", clip_value))


def _dropout_rates(dropout, n_hidden: int) -> list[float] | None:
    """The rate of every layer's output (hidden layers from ``dropout``, the output layer 0), or None when
    all are 0. ``dropout``: one rate for every hidden layer or one per hidden layer, each in [0, 1)."""
    if isinstance(dropout, (list, tuple, np.ndarray)):
        rates = list(dropout)
        if len(rates) != n_hidden:
            raise ParameterError(f"dropout: got {len(rates)} rates for {n_hidden} hidden layers (give one "
                                 "rate for all, or one per hidden layer)")
        rates = [check_param("dropout", r, f"dropout[{i}]") for i, r in enumerate(rates)]
    else:
        rates = [check_param("dropout", dropout)] * n_hidden
    if not any(rates):
        return None
    return rates + [0.0]


def _draw_key(rng) -> int:
    """A 63-bit key for the dropout masks from the model's random stream (a Generator or a RandomState)."""
    if isinstance(rng, np.random.RandomState):
        return int(rng.randint(0, 2 ** 62, dtype=np.int64))
    return int(rng.integers(0, 2 ** 63 - 1))


def _init_weights(name: str, W: np.ndarray, rng) -> None:
    """Fill W (fan_in, fan_out) by the named scheme, drawing from ``rng``:

    glorot_uniform  U(±√(6 / (fan_in + fan_out)))      he_normal  N(0, 2 / fan_in)
    lecun_normal    N(0, 1 / fan_in) (for selu)        orthogonal Q of the QR of a N(0, 1) matrix, signs
                                                        fixed by diag(R): orthonormal rows or columns."""
    fan_in, fan_out = W.shape
    if name == "glorot_uniform":
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        W[...] = rng.uniform(-bound, bound, W.shape)
    elif name == "he_normal":
        W[...] = rng.standard_normal(W.shape) * np.sqrt(2.0 / fan_in)
    elif name == "lecun_normal":
        W[...] = rng.standard_normal(W.shape) * np.sqrt(1.0 / fan_in)
    elif name == "orthogonal":
        big, small = max(fan_in, fan_out), min(fan_in, fan_out)
        q, r = np.linalg.qr(rng.standard_normal((big, small)))
        q = q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))
        W[...] = q if fan_in >= fan_out else q.T
    else:  # pragma: no cover - names are checked by the constructor
        raise ParameterError(f"init: unknown initialisation {name!r}")


def _sklearn_factor(name) -> float:
    """scikit-learn's Glorot factor before activation ``name`` (6 for an activation of your own)."""
    return 6.0 if is_custom(name) else ACTIVATION_TABLE[name].sklearn_init_factor


def _saved_name(activation) -> str:
    """How a file names an activation: the registry's name, or ``custom:<name>``."""
    return activation.saved_name if is_custom(activation) else activation


def _lane_options(optimizer_kwargs, sample_weight, class_weight, validation_data, callback, early_stopping,
                  l2_per_batch, schedule, clip_norm, clip_value) -> bool:
    """Whether partial_fit's options are those the fast lane implements: none of the extras, a constant
    learning rate (the rest of the lane's conditions are on the call's arguments and the model)."""
    return (not optimizer_kwargs and sample_weight is None and class_weight is None
            and validation_data is None and callback is None and early_stopping is None
            and l2_per_batch is False and type(schedule) is str and schedule == "constant"
            and clip_norm is None and clip_value is None)


def _output_spec(name, param):
    return (name, param) if ACTIVATION_TABLE[name].param is not None else name


def _saved_init(init):
    """The constructor's ``init`` for a saved model's: an array initialisation is not stored (the trained θ
    is), so it loads as "auto" (whose draws the stored θ then replaces)."""
    return "auto" if init == "array" else init


def _jsonable_seed(seed):
    return int(seed) if isinstance(seed, (int, np.integer)) else None


def _make_rng(seed):
    """The model's random stream: a legacy ``RandomState`` or a ``Generator`` is used as given (shared
    with the caller, as scikit-learn's ``random_state``); anything else seeds a new ``Generator``."""
    if isinstance(seed, (np.random.RandomState, np.random.Generator)):
        return seed
    return np.random.default_rng(seed)


def _label_index(y, classes):
    """Row labels -> intp indices into ``classes`` (sorted), or ValueError naming the unseen labels."""
    cls = classes
    if cls.dtype.kind in "iu" and y.dtype.kind in "biu" and cls[0] == 0 \
            and cls[-1] == len(cls) - 1 and len(cls) == cls[-1] + 1:
        idx = y.astype(np.intp, copy=False)
        bad = (idx < 0) | (idx >= len(cls))
    else:
        try:
            idx = np.searchsorted(cls, y)
        except TypeError:
            raise ValueError(f"y: labels of type {y.dtype} do not match the model's classes "
                             f"{cls.tolist()[:10]}") from None
        idx = np.clip(idx, 0, len(cls) - 1)
        bad = cls[idx] != y
    if np.any(bad):
        unseen = np.unique(np.asarray(y)[bad])[:10].tolist()
        raise ValueError(f"y: labels {unseen} are not among the model's classes {cls.tolist()[:10]}")
    return np.ascontiguousarray(idx, dtype=np.intp)
