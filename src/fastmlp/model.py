"""FastMLP: a dense multilayer perceptron trained by minibatch SGD, momentum, Nesterov or Adam.

Layout: W(l) has shape (fan_in, fan_out) and Z(l) = A(l-1) · W(l) + b(l) (batch-first, row-major), as
scikit-learn's ``coefs_``. All parameters live in one flat vector (see ``_netspec``); ``weights``,
``biases`` and ``slopes`` are views into it.
"""
from __future__ import annotations

import json
import os
import threading
import zipfile

import numpy as np

from ._netspec import (DEFAULT_PARAM, LOSSES, NetSpec, Optimizer, OPTIMIZERS, canonical_activation,
                       parse_activation)
from .backend import get_backend
from .progress import epoch_progress
from .validation import (check_array, check_dtype, check_number, check_positive_int,
                         check_sample_weight, check_targets)

FORMAT_VERSION = 1
# Activations whose weights get He initialisation (the rest: Glorot uniform).
_HE = frozenset({"relu", "leaky_relu", "prelu", "elu", "gelu", "silu", "softplus"})
_OUTPUTS = {"softmax": "cross_entropy", "logistic": "binary_cross_entropy"}
_PREDICT_BATCH = 1024


class FastMLP:
    """A dense feed-forward network with a fused Cython core.

    Parameters
    ----------
    layer_sizes : list of int
        ``[d_in, h1, ..., d_out]``.
    activation : str, (str, float), or a list of those, one per hidden layer
        identity, logistic (sigmoid), tanh, relu, leaky_relu, prelu, elu, softplus, gelu, silu, softsign,
        hardtanh; ``("leaky_relu", 0.1)`` sets the parameter (leaky slope, elu gamma, initial prelu slope).
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
    """

    def __init__(self, layer_sizes, activation="relu", output="softmax", loss=None, dtype=np.float32,
                 seed=0, backend="cython", l2=0.0):
        if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
            raise TypeError(f"layer_sizes: expected a list of ints, got {layer_sizes!r}")
        sizes = [check_positive_int(s, "layer_sizes") for s in layer_sizes]
        if len(sizes) < 2:
            raise ValueError(f"layer_sizes: need at least [d_in, d_out], got {sizes}")
        n_hidden = len(sizes) - 2
        if isinstance(activation, list):
            if len(activation) != n_hidden:
                raise ValueError(f"activation: got {len(activation)} activations for {n_hidden} hidden layers")
            hidden = [parse_activation(a) for a in activation]
        else:
            hidden = [parse_activation(activation)] * n_hidden
        out_name, out_param = ("softmax", 0.0) if output == "softmax" else parse_activation(output)
        if loss is None:
            loss = _OUTPUTS.get(out_name, "squared_error")
        if loss not in LOSSES:
            raise ValueError(f"loss: unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        if out_name == "softmax" and sizes[-1] < 2:
            raise ValueError("layer_sizes: a softmax output needs at least 2 units")
        self.dtype = check_dtype(dtype)
        self.seed = seed
        self.backend = backend
        self._backend = get_backend(backend)
        self.l2 = check_number(l2, "l2", low=0)
        self.activation = activation
        self.output = output
        self.spec = NetSpec(sizes, [a for a, _ in hidden] + [out_name],
                            [p for _, p in hidden] + [out_param], loss)
        self._rng = np.random.default_rng(seed)
        self._theta = np.zeros(self.spec.n_params, dtype=self.dtype)
        self._grad = np.zeros(self.spec.n_params, dtype=self.dtype)
        self._initialize()
        self._train_net = None
        self._infer_net = None
        self._lock = threading.Lock()
        self._optimizer = None
        self.classes_ = None
        self._y_1d = True
        self.loss_curve = []
        self.val_loss_curve = []
        self.val_score_curve = []
        self.best_epoch = None
        self.n_epochs = 0
        self.metadata = {}

    # ------------------------------------------------------------------------------------------------
    # Parameters
    # ------------------------------------------------------------------------------------------------
    def _initialize(self):
        """Glorot uniform (He normal for the ReLU family) weights, zero biases, PReLU slopes at their
        initial value; deterministic given ``seed``."""
        Ws, bs, gs = self.spec.views(self._theta)
        for l, (W, b, g) in enumerate(zip(Ws, bs, gs)):
            fan_in, fan_out = W.shape
            act = self.spec.activations[l]
            if act in _HE:
                W[...] = self._rng.standard_normal(W.shape) * np.sqrt(2.0 / fan_in)
            else:
                bound = np.sqrt(6.0 / (fan_in + fan_out))
                W[...] = self._rng.uniform(-bound, bound, W.shape)
            b[...] = 0
            if g is not None:
                g[...] = self.spec.params[l]

    @property
    def layer_sizes(self):
        return list(self.spec.sizes)

    @property
    def n_params(self) -> int:
        return self.spec.n_params

    @property
    def weights(self):
        """W(l), shape (fan_in, fan_out): views into the parameter vector (edit in place)."""
        return self.spec.views(self._theta)[0]

    @weights.setter
    def weights(self, values):
        self._assign(values, 0, "weights")

    @property
    def biases(self):
        """b(l), shape (fan_out,): views into the parameter vector."""
        return self.spec.views(self._theta)[1]

    @biases.setter
    def biases(self, values):
        self._assign(values, 1, "biases")

    @property
    def slopes(self):
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

    def get_params_vector(self):
        """A copy of the flat parameter vector θ (layout in ``fastmlp._netspec``)."""
        return self._theta.copy()

    def set_params_vector(self, theta):
        theta = np.asarray(theta)
        if theta.shape != self._theta.shape:
            raise ValueError(f"theta: expected shape {self._theta.shape}, got {theta.shape}")
        if not np.isfinite(theta).all():
            raise ValueError("theta: contains NaN or infinity")
        self._theta[...] = theta

    # ------------------------------------------------------------------------------------------------
    # Workspaces (they live as long as the model)
    # ------------------------------------------------------------------------------------------------
    def _net_for_training(self, batch_size):
        if self._train_net is None or self._train_net.max_batch < batch_size:
            self._train_net = self._backend.Network(self.spec, self._theta, self._grad, batch_size)
        return self._train_net

    def _net_for_inference(self):
        if self._infer_net is None:
            self._infer_net = self._backend.Network(self.spec, self._theta, self._grad, _PREDICT_BATCH)
        return self._infer_net

    def _infer(self, X):
        """Network output for validated X. The workspace is shared, so concurrent callers (a thread pool
        serving one model; the kernels release the GIL) take turns on it."""
        out = np.empty((X.shape[0], self.spec.sizes[-1]), dtype=self.dtype)
        with self._lock:
            return self._net_for_inference().forward(X, out)

    def __getstate__(self):
        # Workspaces, the backend module and the lock are rebuilt on demand after unpickling.
        state = self.__dict__.copy()
        for key in ("_train_net", "_infer_net", "_backend", "_lock"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._backend = get_backend(self.backend)
        self._train_net = self._infer_net = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------------
    # Targets
    # ------------------------------------------------------------------------------------------------
    @property
    def is_classifier(self) -> bool:
        return self.spec.loss != "squared_error"

    def _encode(self, y, n, fitting, classes=None):
        """Targets in the kernels' form: intp labels (softmax) or a float (n, d_out) matrix."""
        y = check_targets(y, n)
        d_out = self.spec.sizes[-1]
        loss = self.spec.loss
        if loss == "squared_error":
            if y.dtype.kind not in "biuf":
                raise TypeError(f"y: expected numeric targets, got dtype {y.dtype}")
            if y.ndim == 1:
                y = y[:, None]
            if y.shape[1] != d_out:
                raise ValueError(f"y: expected {d_out} target columns, got {y.shape[1]}")
            Y = np.ascontiguousarray(y, dtype=self.dtype)
            if not np.isfinite(Y).all():
                raise ValueError("y: contains NaN or infinity")
            if fitting:
                self._y_1d = np.asarray(check_targets(y, n)).ndim == 1 or d_out == 1
            return Y
        if loss == "binary_cross_entropy" and d_out > 1:
            if y.ndim != 2 or y.shape[1] != d_out:
                raise ValueError(f"y: a multilabel sigmoid output needs a 0/1 matrix (n, {d_out}), "
                                 f"got shape {y.shape}")
            if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
                raise ValueError("y: multilabel targets must be 0 or 1")
            if fitting and self.classes_ is None:
                self.classes_ = np.arange(d_out)
            return np.ascontiguousarray(y, dtype=self.dtype)
        if y.ndim == 2:
            if y.shape[1] != 1:
                raise ValueError(f"y: expected a 1-D array of labels, got shape {y.shape}")
            y = y.ravel()
        n_classes = d_out if loss == "cross_entropy" else 2
        if self.classes_ is None:
            if not fitting:
                raise ValueError("y: the model has no classes yet; fit it first")
            self.classes_ = self._infer_classes(y, n_classes, classes)
        idx = self._label_index(y)
        if loss == "cross_entropy":
            return idx
        return np.ascontiguousarray(idx.astype(self.dtype)[:, None])

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

    def _label_index(self, y):
        cls = self.classes_
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

    # ------------------------------------------------------------------------------------------------
    # Forward, loss, gradients
    # ------------------------------------------------------------------------------------------------
    def _check_X(self, X, name="X"):
        return check_array(X, name, self.dtype, n_features=self.spec.sizes[0])

    def forward(self, X):
        """The network's output for X: softmax probabilities, sigmoid outputs, or the output activation."""
        return self._infer(self._check_X(X))

    def loss(self, X, y, sample_weight=None):
        """The regularised risk R = mean loss + (λ/2) Σ‖W‖² on (X, y), with no update."""
        return self.gradients(X, y, sample_weight)[0]

    def gradients(self, X, y, sample_weight=None):
        """(R, dW, db): R = mean loss + (λ/2) Σ‖W‖² over all of X and its exact gradients (copies);
        nothing is updated. PReLU slope gradients: see ``gradient_vector``."""
        loss, grad = self.gradient_vector(X, y, sample_weight)
        Ws, bs, _ = self.spec.views(grad)
        return loss, Ws, bs

    def gradient_vector(self, X, y, sample_weight=None):
        """(R, ∂R/∂θ) with the gradient as a flat vector laid out like ``get_params_vector()``."""
        X = self._check_X(X)
        Y = self._encode(y, X.shape[0], fitting=self.classes_ is None)
        sw = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        net = self._net_for_training(min(X.shape[0], _PREDICT_BATCH))
        loss = net.loss_and_grad(X, Y, sw, self.l2)
        return loss, self._grad.copy()

    # ------------------------------------------------------------------------------------------------
    # Training (Algorithm 4.1, minibatched, with early stopping)
    # ------------------------------------------------------------------------------------------------
    def _make_optimizer(self, optimizer, lr, momentum, beta1, beta2, eps, l2):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer: unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if lr is None:
            lr = 0.001 if optimizer == "adam" else 0.01
        lr = check_number(lr, "lr", low=0, low_open=True)
        l2 = self.l2 if l2 is None else check_number(l2, "l2", low=0)
        momentum = check_number(momentum, "momentum", low=0, high=1, high_open=True)
        return Optimizer(optimizer, self.spec.n_params, self.dtype, lr=lr, l2=l2, momentum=momentum,
                         beta1=beta1, beta2=beta2, eps=eps)

    def fit(self, X, y, epochs=10, batch_size=32, lr=None, optimizer="sgd", *, momentum=0.9, beta1=0.9,
            beta2=0.999, eps=1e-8, l2=None, validation_data=None, validation_split=0.0, patience=None,
            min_delta=0.0, shuffle=True, sample_weight=None, verbose=None, callback=None):
        """Train by minibatch gradient descent (Algorithm 4.1), continuing from the current weights.

        Each epoch shuffles the training rows and takes one optimizer step per minibatch (batch_size=1 is
        per-sample SGD, as in the book); the whole epoch runs as one kernel call. With
        ``validation_data=(Xv, yv)`` or ``validation_split``, the validation loss is recorded per epoch
        and training stops after ``patience`` epochs without an improvement larger than ``min_delta``;
        the weights of the best epoch are restored. Without validation data, ``patience`` watches the
        training loss. ``callback(model, info)`` is called after every epoch with a dict (epoch, loss,
        val_loss, val_score); returning True stops training. ``verbose``: None shows a progress bar
        only on a terminal (and only once the fit is slow), True always reports, False never.
        Returns self.
        """
        epochs = check_positive_int(epochs, "epochs")
        batch_size = check_positive_int(batch_size, "batch_size")
        if patience is not None:
            patience = check_positive_int(patience, "patience")
        min_delta = check_number(min_delta, "min_delta", low=0)
        validation_split = check_number(validation_split, "validation_split", low=0, high=1, high_open=True)
        if validation_data is not None and validation_split:
            raise ValueError("validation_split: give validation_data or validation_split, not both")
        X = self._check_X(X)
        n = X.shape[0]
        Y = self._encode(y, n, fitting=True)
        sw = check_sample_weight(sample_weight, n, self.dtype)
        opt = self._make_optimizer(optimizer, lr, momentum, beta1, beta2, eps, l2)
        self._optimizer = opt

        train_idx = np.arange(n, dtype=np.intp)
        val = None
        if validation_split:
            n_val = int(round(n * validation_split))
            if n_val < 1 or n_val >= n:
                raise ValueError(f"validation_split: {validation_split} of {n} samples leaves an empty "
                                 "training or validation set")
            perm = self._rng.permutation(n).astype(np.intp)
            val_idx, train_idx = np.sort(perm[:n_val]), np.ascontiguousarray(np.sort(perm[n_val:]))
            val = (np.ascontiguousarray(X[val_idx]), Y[val_idx],
                   None if sw is None else np.ascontiguousarray(sw[val_idx]))
        elif validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data: expected (X_val, y_val) or (X_val, y_val, sample_weight)")
            Xv = self._check_X(validation_data[0], "validation_data[0]")
            Yv = self._encode(validation_data[1], Xv.shape[0], fitting=False)
            swv = None if len(validation_data) == 2 else \
                check_sample_weight(validation_data[2], Xv.shape[0], self.dtype)
            val = (Xv, Yv, swv)

        bs = min(batch_size, len(train_idx))
        net = self._net_for_training(bs)
        watch = val is not None or patience is not None
        best_theta = np.empty_like(self._theta) if watch else None
        order = train_idx.copy()
        progress = epoch_progress(epochs, verbose)
        try:
            self._run_epochs(net, X, Y, sw, order, bs, opt, epochs, shuffle, val, watch, patience,
                             min_delta, best_theta, progress, callback)
        finally:
            if progress is not None:
                progress.close()
        return self

    def _run_epochs(self, net, X, Y, sw, order, bs, opt, epochs, shuffle, val, watch, patience,
                    min_delta, best_theta, progress, callback):
        best, bad = np.inf, 0
        last_good = np.empty_like(self._theta)
        for epoch in range(epochs):
            if shuffle:
                self._rng.shuffle(order)
            np.copyto(last_good, self._theta)
            loss = net.train_epoch(X, Y, sw, order, bs, opt)
            if not np.isfinite(loss):
                self._diverged(last_good, f"lr: training diverged at epoch {self.n_epochs + 1} "
                                          f"(loss is {loss})", opt)
            self.n_epochs += 1
            self.loss_curve.append(float(loss))
            info = {"epoch": self.n_epochs, "loss": float(loss)}
            monitored = loss
            if val is not None:
                vloss = self._eval_loss(*val)
                vscore = self._score_encoded(val[0], val[1])
                self.val_loss_curve.append(vloss)
                self.val_score_curve.append(vscore)
                info.update(val_loss=vloss, val_score=vscore)
                monitored = vloss
            if progress is not None:
                progress.update(info)
            stop = bool(callback(self, info)) if callback is not None else False
            if watch:
                if monitored < best - min_delta:
                    best, bad = monitored, 0
                    np.copyto(best_theta, self._theta)
                    self.best_epoch = self.n_epochs
                else:
                    bad += 1
                    if patience is not None and bad >= patience:
                        stop = True
            if stop:
                break
        if watch and np.isfinite(best):
            np.copyto(self._theta, best_theta)

    def _diverged(self, last_good, what, opt):
        """Put back the weights from before the diverged pass, drop the optimizer state (its moments are
        no longer finite either), and raise."""
        np.copyto(self._theta, last_good)
        self._optimizer = None
        l2 = f" or the L2 penalty (l2={opt.l2})" if opt.l2 else ""
        raise FloatingPointError(f"{what}; lower the learning rate (lr={opt.lr}){l2}. The weights from "
                                 "before that pass are kept.")

    def partial_fit(self, X, y, batch_size=32, lr=None, optimizer="sgd", *, classes=None,
                    sample_weight=None, shuffle=True, **optimizer_kwargs):
        """One pass over X in minibatches. The optimizer state (momentum, Adam moments, step count) is
        kept between calls while the optimizer and its settings stay the same. ``classes`` fixes the label
        set on the first call (needed when the first batch does not show every class)."""
        batch_size = check_positive_int(batch_size, "batch_size")
        X = self._check_X(X)
        n = X.shape[0]
        if classes is not None and self.classes_ is None and self.spec.loss != "squared_error":
            self._encode(np.asarray(classes)[:0], 0, fitting=True, classes=classes)
        Y = self._encode(y, n, fitting=True)
        sw = check_sample_weight(sample_weight, n, self.dtype)
        opt = self._optimizer
        probe = self._make_optimizer(optimizer, lr, optimizer_kwargs.get("momentum", 0.9),
                                     optimizer_kwargs.get("beta1", 0.9), optimizer_kwargs.get("beta2", 0.999),
                                     optimizer_kwargs.get("eps", 1e-8), optimizer_kwargs.get("l2"))
        if opt is None or (opt.kind, opt.lr, opt.l2, opt.momentum, opt.beta1, opt.beta2, opt.eps) != \
                (probe.kind, probe.lr, probe.l2, probe.momentum, probe.beta1, probe.beta2, probe.eps):
            opt = self._optimizer = probe
        bs = min(batch_size, n)
        net = self._net_for_training(bs)
        order = np.arange(n, dtype=np.intp)
        if shuffle:
            self._rng.shuffle(order)
        last_good = self._theta.copy()
        loss = net.train_epoch(X, Y, sw, order, bs, opt)
        if not np.isfinite(loss):
            self._diverged(last_good, f"lr: training diverged (loss is {loss})", opt)
        self.n_epochs += 1
        self.loss_curve.append(float(loss))
        return self

    def _eval_loss(self, X, Y, sw=None):
        """Mean data loss (no L2 term) on encoded targets, with no gradient kept."""
        net = self._net_for_training(1)
        return float(net.loss(X, Y, sw))

    # ------------------------------------------------------------------------------------------------
    # Prediction and scoring
    # ------------------------------------------------------------------------------------------------
    def predict_proba(self, X):
        """Class probabilities: (n, C) for softmax, (n, 2) for a binary sigmoid, (n, d_out) multilabel."""
        if not self.is_classifier:
            raise AttributeError("predict_proba: only classification models (softmax or sigmoid output) "
                                 "have probabilities")
        P = self.forward(X)
        if self.spec.loss == "binary_cross_entropy" and P.shape[1] == 1:
            return np.hstack([1 - P, P])
        return P

    def predict(self, X):
        """Labels (classification) or the network's output (regression; 1-D for one output)."""
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

    def score(self, X, y, sample_weight=None):
        """Accuracy (classification; exact-match for multilabel) or R² averaged over outputs."""
        X = self._check_X(X)
        Y = self._encode(y, X.shape[0], fitting=False)
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
            "activations": [[a, p] for a, p in zip(self.spec.activations[:-1], self.spec.params[:-1])],
            "output": [self.spec.activations[-1], self.spec.params[-1]],
            "loss": self.spec.loss, "dtype": np.dtype(self.dtype).name, "seed": _jsonable_seed(self.seed),
            "backend": self.backend if isinstance(self.backend, str) else "cython", "l2": self.l2,
            "y_1d": bool(self._y_1d), "n_epochs": self.n_epochs, "best_epoch": self.best_epoch,
            "loss_curve": self.loss_curve, "val_loss_curve": self.val_loss_curve,
            "val_score_curve": self.val_score_curve, "metadata": self.metadata,
        }

    def save(self, path):
        """Write the model to ``path`` (a .npz holding θ, the classes and JSON metadata; no pickle)."""
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
        with open(os.fspath(path), "wb") as fh:
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path, backend=None):
        """Read a model written by ``save``. Only arrays and JSON are read (``allow_pickle=False``)."""
        fname = os.fspath(path)
        if not os.path.exists(fname):
            raise FileNotFoundError(f"path: no such file: {fname}")
        if not zipfile.is_zipfile(fname):
            raise ValueError(f"path: {fname} is not a fastmlp model (expected a .npz archive)")
        try:
            with np.load(fname, allow_pickle=False) as data:
                files = set(data.files)
                if not {"theta", "meta"} <= files:
                    raise ValueError(f"path: {fname} is not a fastmlp model (missing theta/meta)")
                meta = json.loads(str(data["meta"][()]))
                theta = data["theta"]
                classes = data["classes"] if "classes" in files else None
        except (OSError, EOFError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise ValueError(f"path: {fname} is not a readable fastmlp model ({exc})") from None
        except ValueError as exc:
            if "pickle" in str(exc) or "Object arrays" in str(exc):
                raise ValueError(f"path: {fname} holds pickled objects; refusing to load") from None
            raise
        if not isinstance(meta, dict) or meta.get("format") != "fastmlp":
            raise ValueError(f"path: {path} is not a fastmlp model")
        if meta.get("format_version", 0) > FORMAT_VERSION:
            raise ValueError(f"path: model format {meta['format_version']} is newer than this fastmlp reads")
        try:
            hidden = [tuple(a) for a in meta["activations"]]
            out_name, out_param = meta["output"]
            model = cls(meta["layer_sizes"], activation=hidden, output=_output_spec(out_name, out_param),
                        loss=meta["loss"], dtype=meta["dtype"], seed=meta.get("seed", 0),
                        backend=backend or meta.get("backend", "cython"), l2=meta.get("l2", 0.0))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"path: {fname} has malformed fastmlp metadata ({exc})") from None
        if theta.shape != model._theta.shape or theta.dtype != model._theta.dtype:
            raise ValueError(f"path: parameter vector {theta.shape} {theta.dtype} does not match the "
                             f"architecture ({model._theta.shape} {model._theta.dtype})")
        model.set_params_vector(theta)
        model.classes_ = classes
        model._y_1d = bool(meta.get("y_1d", True))
        model.n_epochs = int(meta.get("n_epochs", 0))
        model.best_epoch = meta.get("best_epoch")
        model.loss_curve = list(meta.get("loss_curve", []))
        model.val_loss_curve = list(meta.get("val_loss_curve", []))
        model.val_score_curve = list(meta.get("val_score_curve", []))
        model.metadata = meta.get("metadata", {})
        if not isinstance(model.metadata, dict):
            raise ValueError(f"path: {fname} has malformed fastmlp metadata (metadata is not a dict)")
        return model

    def __repr__(self):
        acts = [a if p == DEFAULT_PARAM.get(a, 0.0) else f"{a}({p:g})"
                for a, p in zip(self.spec.activations[:-1], self.spec.params[:-1])]
        act = acts[0] if len(set(acts)) == 1 else acts
        return (f"FastMLP({list(self.spec.sizes)}, activation={act!r}, output={self.spec.activations[-1]!r}, "
                f"loss={self.spec.loss!r}, dtype={np.dtype(self.dtype).name}, "
                f"backend={self._backend.NAME!r})")


def _output_spec(name, param):
    if name == "softmax":
        return "softmax"
    return (name, param) if name in DEFAULT_PARAM else name


def _jsonable_seed(seed):
    return int(seed) if isinstance(seed, (int, np.integer)) else None
