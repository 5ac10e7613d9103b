"""scikit-learn drop-ins: ``FastMLPClassifier`` and ``FastMLPRegressor``.

    from fastmlp.sklearn import FastMLPClassifier as MLPClassifier   # one import changes

They take scikit-learn's ``MLPClassifier`` / ``MLPRegressor`` constructor parameters with the same meanings,
expose the same methods and fitted attributes, and follow its conventions: Glorot-uniform initialisation
(factor 2 for logistic) of weights *and* biases drawn from the same ``random_state`` stream in the same
order, the same shuffling and early-stopping split, L2 ``alpha / (2 n_batch) Σ‖W‖²`` per minibatch,
``v ← μv − lr·g`` momentum (Nesterov by default), Adam, the ``invscaling`` / ``adaptive`` schedules, the
``tol`` / ``n_iter_no_change`` stopping rule and L-BFGS through ``scipy.optimize.minimize``. The work —
a whole epoch of minibatch steps, or the full-batch loss and gradient for L-BFGS — runs in fastmlp's
kernels (one call into C per epoch, GIL released).

Beyond scikit-learn:

* ``activation`` accepts every fastmlp hidden activation (``"gelu"``, ``("leaky_relu", 0.1)``, ``"prelu"``,
  ...) and a list with one per hidden layer;
* ``class_weight`` (classifier): ``None``, ``"balanced"`` or ``{label: weight}``;
* ``fit(X, y, sample_weight=None, validation_data=(X_val, y_val[, sw_val]))``: explicit validation data,
  used for early stopping when ``early_stopping=True`` (instead of an internal split) and recorded in
  ``validation_scores_`` / ``validation_loss_curve_`` in any case;
* ``validation_loss_curve_``: the validation loss (no L2 term) after every epoch;
* ``transform(X, layer=-1)``: the activations of a hidden layer (the last one by default);
* ``dtype``: ``None`` follows the input like scikit-learn (float32 stays float32, anything else becomes
  float64); ``np.float32`` / ``np.float64`` fix it;
* ``backend``: ``"auto"`` (the compiled kernels when built), ``"cython"`` or ``"numpy"``.

scikit-learn is only imported by this module; ``import fastmlp`` works without it.
"""
from __future__ import annotations

import numbers
import os
import warnings

import numpy as np
from numpy.typing import ArrayLike

try:
    import sklearn  # noqa: F401  (absolute import: the real scikit-learn, never this module)
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError("fastmlp.sklearn needs scikit-learn: pip install 'fastmlp[sklearn]'") from exc
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    _sk_validate_data = None

from . import _training
from ._netspec import parse_activation
from ._registry import DEFAULT_HIDDEN, OUTPUT_OF_LOSS, REGRESSION_OUTPUT
from ._training import EarlyStopping
from .backend import get_backend
from .custom import is_custom, resolve_saved
from .model import FastMLP
from .validation import (
    ParameterError,
    check_bool,
    check_choice,
    check_dtype,
    check_param,
    check_sample_weight,
)

__all__ = ["FastMLPClassifier", "FastMLPRegressor"]

_STOCHASTIC_SOLVERS = ("sgd", "adam")
# scikit-learn's parameter names for the shared rules of fastmlp.validation.PARAMETERS
_OPTIMIZER_NAMES = {"lr": "learning_rate_init", "l2": "alpha", "momentum": "momentum", "beta1": "beta_1",
                    "beta2": "beta_2", "eps": "epsilon"}


class _EstimatorNet(FastMLP):
    """The ``FastMLP`` an estimator holds. It trains like any ``FastMLP``; only the losses it records are
    reported in scikit-learn's convention: the mean over outputs of the squared error (fastmlp sums over
    outputs; both train with the gradient of the sum), with the L2 term ``reg_coef · Σ‖W‖²`` kept whole,
    and one validation score of 1 for a single-class problem."""

    reg_coef = 0.0
    mean_over_outputs = False
    single_class = False

    def _report_loss(self, raw):
        d = self.spec.sizes[-1]
        if not self.mean_over_outputs or d == 1:
            return float(raw)
        reg = self.reg_coef * sum(float(np.dot(W.ravel(), W.ravel())) for W in self.weights)
        return float((raw - reg) / d + reg)

    def _validation_metrics(self, Xv, Yv, swv):
        loss, score = super()._validation_metrics(Xv, Yv, swv)
        if self.mean_over_outputs:
            loss /= self.spec.sizes[-1]
        return loss, (1.0 if self.single_class else score)


# ------------------------------------------------------------------------------------------------------
# Parameter translation: scikit-learn's names -> fastmlp's rules (fastmlp.validation) and arguments
# ------------------------------------------------------------------------------------------------------

def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def _hidden_sizes(hidden_layer_sizes):
    h = hidden_layer_sizes
    if _is_int(h):
        h = [h]
    elif isinstance(h, (str, bytes)) or not hasattr(h, "__iter__"):
        raise ParameterError(f"hidden_layer_sizes: expected an int or a sequence of ints, got {h!r}")
    sizes = list(h)
    for s in sizes:
        if not _is_int(s):
            raise ParameterError(f"hidden_layer_sizes: expected ints, got {hidden_layer_sizes!r}")
        if s < 1:
            raise ParameterError(f"hidden_layer_sizes: every size must be >= 1, got {list(sizes)}")
    return [int(s) for s in sizes]


def _is_single_activation(a):
    if isinstance(a, str) or is_custom(a):
        return True
    return (isinstance(a, (tuple, list)) and len(a) == 2 and isinstance(a[0], str)
            and isinstance(a[1], numbers.Real) and not isinstance(a[1], bool))


def _model_activation(activation, n_hidden):
    """scikit-learn's ``activation`` as ``FastMLP``'s: one spec for every layer, or a list with one per
    hidden layer (checked here so that the error names the estimator's parameter)."""
    if _is_single_activation(activation):
        spec = activation if isinstance(activation, str) or is_custom(activation) else tuple(activation)
        parse_activation(spec)
        return spec
    if isinstance(activation, (tuple, list)):
        if len(activation) != n_hidden:
            raise ParameterError(f"activation: got {len(activation)} activations for {n_hidden} hidden "
                                 "layers (give one name for all, or one per hidden layer)")
        specs = []
        for a in activation:
            if not _is_single_activation(a):
                raise ParameterError(f"activation: expected a name or (name, parameter), got {a!r}")
            specs.append(a if isinstance(a, str) or is_custom(a) else tuple(a))
            parse_activation(specs[-1])
        return specs
    raise ParameterError(f"activation: expected a name, (name, parameter) or a list of those, "
                         f"got {activation!r}")


def _check_solver(est):
    if est.solver not in _STOCHASTIC_SOLVERS:
        raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                             f"{est.solver} is not stochastic.")
    return True


def _densify(X):
    if hasattr(X, "toarray"):
        return np.ascontiguousarray(X.toarray())
    return X


# ------------------------------------------------------------------------------------------------------
# The shared estimator
# ------------------------------------------------------------------------------------------------------

class _BaseFastMLP(BaseEstimator):
    """Everything the classifier and the regressor share: translating parameters, targets and fitted
    attributes between scikit-learn and the ``FastMLP`` in ``_model``. Not for direct use."""

    _classifier = False

    def _check_params(self):
        self._hidden_sizes = _hidden_sizes(self.hidden_layer_sizes)
        self._model_activation = _model_activation(self.activation, len(self._hidden_sizes))
        check_choice("solver", self.solver, ("lbfgs", "sgd", "adam"))
        for rule, name in _OPTIMIZER_NAMES.items():
            check_param(rule, getattr(self, name), name)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            if not _is_int(self.batch_size) or self.batch_size < 1:
                raise ParameterError(f"batch_size: expected 'auto' or an int >= 1, got {self.batch_size!r}")
        if not isinstance(self.learning_rate, _training.Schedule):
            check_choice("learning_rate", self.learning_rate, tuple(_training.SCHEDULES))
        check_param("power_t", self.power_t)
        check_param("epochs", self.max_iter, "max_iter")
        check_bool("shuffle", self.shuffle)
        check_param("tol", self.tol)
        if not (_is_int(self.verbose) or isinstance(self.verbose, (bool, np.bool_))):
            raise ParameterError(f"verbose: expected a bool or an int, got {self.verbose!r}")
        check_bool("warm_start", self.warm_start)
        check_bool("nesterovs_momentum", self.nesterovs_momentum)
        check_bool("early_stopping", self.early_stopping)
        check_param("validation_split", self.validation_fraction, "validation_fraction")
        check_param("patience", self.n_iter_no_change, "n_iter_no_change")
        check_param("max_fun", self.max_fun)
        check_param("l1", self.l1)
        if self.dtype is not None:
            check_dtype(self.dtype)
        get_backend(self.backend)

    def _input_dtype(self, fitting_first):
        if not fitting_first:  # continuing (warm_start, partial_fit): the model's dtype
            model = self._model.dtype
            if self.dtype is not None and check_dtype(self.dtype) is not model:
                raise ValueError(f"dtype: the model was trained in {np.dtype(model).name}, not "
                                 f"{np.dtype(self.dtype).name}; fit with warm_start=False to change it")
            return model
        if self.dtype is not None:
            return check_dtype(self.dtype)
        return (np.float64, np.float32)

    def _validate(self, X, y="no_validation", reset=True, dtype=None, **kwargs):
        """scikit-learn's validation (its messages, n_features_in_, feature_names_in_); X comes back as a
        C-contiguous float array (sparse input is densified: the kernels are dense)."""
        kw = dict(dtype=dtype, order="C", accept_sparse=["csr", "csc"], **kwargs)
        if isinstance(y, str) and y == "no_validation":
            if _sk_validate_data is not None:
                X = _sk_validate_data(self, X, reset=reset, **kw)
            else:  # pragma: no cover
                X = self._validate_data(X, reset=reset, **kw)
            return _densify(X)
        if _sk_validate_data is not None:
            X, y = _sk_validate_data(self, X, y, reset=reset, multi_output=True, **kw)
        else:  # pragma: no cover
            X, y = self._validate_data(X, y, reset=reset, multi_output=True, **kw)
        return _densify(X), y

    # ----------------------------------------------------------------------------------------------
    # The held model and the attributes that mirror it
    # ----------------------------------------------------------------------------------------------
    def _new_model(self, n_features, n_outputs, dtype, random_state):
        output, loss = self._output_and_loss()
        model = _EstimatorNet([n_features] + self._hidden_sizes + [n_outputs],
                              activation=self._model_activation, output=output, loss=loss, dtype=dtype,
                              seed=random_state, backend=self.backend, init="sklearn",
                              dropout=self.dropout)
        model.mean_over_outputs = not self._classifier and loss == "squared_error"
        return model

    def _bind(self):
        """Expose the model's parameter views as ``coefs_`` / ``intercepts_`` (edit in place, or assign)."""
        self.coefs_ = list(self._model.weights)
        self.intercepts_ = list(self._model.biases)
        self._views = (self.coefs_[:], self.intercepts_[:])

    def _sync_params(self):
        """Copy user-assigned ``coefs_`` / ``intercepts_`` (new arrays rather than in-place edits) into the
        model."""
        Ws, bs = self._views
        if (len(self.coefs_) == len(Ws) and len(self.intercepts_) == len(bs)
                and all(a is b for a, b in zip(self.coefs_, Ws))
                and all(a is b for a, b in zip(self.intercepts_, bs))):
            return
        for name, new, views in (("coefs_", self.coefs_, Ws), ("intercepts_", self.intercepts_, bs)):
            if len(new) != len(views):
                raise ValueError(f"{name}: expected {len(views)} arrays, got {len(new)}")
            for l, (a, v) in enumerate(zip(new, views)):
                a = np.asarray(a)
                if a.shape != v.shape:
                    raise ValueError(f"{name}[{l}]: expected shape {v.shape}, got {a.shape}")
                if not np.isfinite(a).all():
                    raise ValueError(f"{name}[{l}]: contains NaN or infinity")
        self._model.weights = self.coefs_
        self._model.biases = self.intercepts_
        self._bind()

    @property
    def _optimizer(self):
        """The optimizer state of the held model (``learning_rate`` is the current rate)."""
        model = self.__dict__.get("_model")
        return None if model is None else model.optimizer

    def _initialize(self, n_features, n_outputs, dtype, random_state):
        self._model = self._new_model(n_features, n_outputs, dtype, random_state)
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(self._model.layer_sizes)
        self.out_activation_ = self._model.spec.activations[-1]
        self.loss_curve_ = []
        self.validation_loss_curve_ = None
        self._stopping = None
        self._no_improvement_count = 0
        if self.solver in _STOCHASTIC_SOLVERS and self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None
        self._bind()

    # ----------------------------------------------------------------------------------------------
    # Pickling: the views are rebuilt from the model
    # ----------------------------------------------------------------------------------------------
    def __getstate__(self):
        if "_model" in self.__dict__:
            self._sync_params()
        state = dict(super().__getstate__())
        for key in ("coefs_", "intercepts_", "_views"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_model" in self.__dict__:
            self._bind()

    # ----------------------------------------------------------------------------------------------
    # Fitting
    # ----------------------------------------------------------------------------------------------
    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None, *,
            validation_data: tuple | None = None) -> _BaseFastMLP:
        """Fit the model to X and y (labels, or real targets).

        ``sample_weight`` (n_samples,) weights every sample's loss; ``validation_data=(X_val, y_val)`` or
        ``(X_val, y_val, sample_weight_val)`` is scored after every epoch (``validation_scores_``,
        ``validation_loss_curve_``) and, with ``early_stopping=True``, replaces the internal split of
        ``validation_fraction``. Returns self."""
        return self._fit(X, y, sample_weight, incremental=False, validation_data=validation_data)

    def _fit(self, X, y, sample_weight, incremental, validation_data=None, classes=None):
        self._check_params()
        if incremental and self.early_stopping:
            raise ValueError("early_stopping: partial_fit does not support early_stopping=True")
        if validation_data is not None and self.solver == "lbfgs":
            raise ValueError("validation_data: the lbfgs solver takes no validation data "
                             "(use solver='adam' or 'sgd')")
        fitted = "_model" in self.__dict__
        first_pass = not fitted or (not self.warm_start and not incremental)
        dtype = self._input_dtype(first_pass)
        X, y = self._validate(X, y, reset=first_pass, dtype=dtype)
        if fitted and not first_pass:
            self._sync_params()
        Y, y_labels = self._prepare_targets(y, incremental, first_pass, classes)
        n, n_features = X.shape
        n_outputs = Y.shape[1]
        sw = check_sample_weight(sample_weight, n, X.dtype)
        sw = self._apply_class_weight(sw, y_labels, incremental, X.dtype)

        random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(n_features, n_outputs, X.dtype, random_state)
        else:
            expected = self._new_model(n_features, n_outputs, X.dtype, None).spec
            spec = self._model.spec
            if (expected.sizes, expected.activations, expected.params) != \
                    (spec.sizes, spec.activations, spec.params):
                raise ValueError(
                    f"warm_start: the network changed from {list(spec.sizes)} {list(spec.activations)} to "
                    f"{list(expected.sizes)} {list(expected.activations)}; fit with warm_start=False to "
                    "start over")
            self._model.reseed(random_state)
        self._model.single_class = self._classifier and len(self.classes_) == 1
        if self._model.backend != self.backend:
            self._model.backend = self.backend
        targets = self._model_targets(Y)
        if self.solver in _STOCHASTIC_SOLVERS:
            self._fit_stochastic(X, targets, Y, sw, incremental, validation_data, random_state)
        else:
            self._fit_lbfgs(X, targets, sw)
        self._bind()
        return self

    def _apply_class_weight(self, sw, y_labels, incremental, dtype):
        return sw

    def _normalize_weights(self, sw, n_rows):
        """Scale the weights to mean 1 over the training rows, so that the kernels' division by the
        batch's row count approximates scikit-learn's division by the batch's weight sum (exact for one
        batch, as with L-BFGS). Returns (weights, alpha scaled likewise: alpha / Σw per row)."""
        if sw is None:
            return None, self.alpha
        total = float(sw.sum(dtype=np.float64))
        if total <= 0:
            raise ValueError("sample_weight: the training samples' weights are all zero")
        c = n_rows / total
        return np.ascontiguousarray(sw * sw.dtype.type(c)), self.alpha * c

    def _optimizer_args(self):
        if self.solver == "adam":
            return "adam", dict(beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon)
        if self.momentum == 0:
            return "sgd", {}  # Nesterov with μ = 0 is plain SGD
        return ("nesterov" if self.nesterovs_momentum else "momentum"), dict(momentum=self.momentum)

    def _fit_stochastic(self, X, targets, Y, sw, incremental, validation_data, random_state):
        model = self._model
        n = X.shape[0]
        early_stopping = self.early_stopping
        val = None
        Xt, Tt, swt = X, targets, sw
        if validation_data is not None:
            val = self._prepare_validation(validation_data, X.dtype)
        elif early_stopping:
            stratify = Y if (self._classifier and self.n_outputs_ == 1) else None
            train_idx, val_idx = train_test_split(np.arange(n), random_state=random_state,
                                                  test_size=self.validation_fraction, stratify=stratify)
            if len(val_idx) < 2:
                raise ValueError("The validation set is too small. Increase 'validation_fraction' or the "
                                 "size of your dataset.")
            val = (X[val_idx], targets[val_idx], None if sw is None else sw[val_idx])
            Xt, Tt = np.ascontiguousarray(X[train_idx]), np.ascontiguousarray(targets[train_idx])
            swt = None if sw is None else np.ascontiguousarray(sw[train_idx])
        if val is not None and val[2] is not None:
            if not val[2].sum() > 0:
                raise ValueError("sample_weight: the weights of the early-stopping validation split are all "
                                 "zero")
            mean = val[2].sum(dtype=np.float64) / len(val[2])
            val = (val[0], val[1], np.ascontiguousarray(val[2] / val[2].dtype.type(mean)))
        n_train = Xt.shape[0]
        swt, alpha = self._normalize_weights(swt, n_train)
        if self.batch_size == "auto":
            batch_size = min(200, n_train)
        else:
            if self.batch_size > n_train:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to "
                              "be clipped", stacklevel=3)
            batch_size = int(np.clip(self.batch_size, 1, n_train))
        kind, hyper = self._optimizer_args()
        schedule = self.learning_rate if self.solver == "sgd" or not (
            isinstance(self.learning_rate, str) and self.learning_rate in _training.SKLEARN_SCHEDULES) \
            else "constant"
        stopping = self._stopping_for(early_stopping)
        model.reg_coef = -(-n_train // batch_size) * alpha / (2.0 * n_train)
        n_before = model.n_epochs
        had_val = val is not None

        def report(m, info):
            if self.verbose:
                print(f"Iteration {m.n_epochs - n_before}, loss = {info['loss']:.8f}")
                if "val_score" in info:
                    print(f"Validation score: {info['val_score']:f}")
            return False

        common = dict(lr=self.learning_rate_init, optimizer=kind, sample_weight=swt, shuffle=self.shuffle,
                      l2=alpha, l2_per_batch=True, schedule=schedule, power_t=self.power_t, l1=self.l1,
                      early_stopping=stopping, validation_data=val, callback=report, **hyper)
        try:
            if incremental:
                model.partial_fit(Xt, Tt, batch_size, classes=self._model_classes(), **common)
            else:
                model.fit(Xt, Tt, epochs=self.max_iter, batch_size=batch_size, verbose=False, **common)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=3)
        summary = model.last_fit
        ran = model.n_epochs - n_before
        self.n_iter_ = ran
        self.t_ = model.samples_seen
        self.loss_curve_ = list(model.loss_curve)
        if ran:
            self.loss_ = self.loss_curve_[-1]
        self._no_improvement_count = stopping.wait
        if had_val or self.validation_scores_ is not None:
            self.validation_scores_ = list(model.val_score_curve)
            self.validation_loss_curve_ = list(model.val_loss_curve)
        if early_stopping:
            self.best_validation_score_ = stopping.best_value
            self.best_loss_ = None
        else:
            self.best_loss_ = stopping.best_value if stopping.best_value is not None else np.inf
            if self.validation_scores_:
                self.best_validation_score_ = max(self.validation_scores_)
        if not incremental and summary is not None and summary.reason == "epochs" \
                and ran == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=3)

    def _stopping_for(self, early_stopping):
        """The early-stopping bookkeeping (tol / n_iter_no_change), kept across warm starts and
        partial_fit calls as scikit-learn keeps ``_no_improvement_count`` and the best scores."""
        monitor = "val_score" if early_stopping else "loss"
        patience = self.n_iter_no_change + 1
        old = self._stopping
        if old is not None and old.monitor == monitor:
            old.min_delta, old.patience = float(self.tol), patience
            return old
        stopping = EarlyStopping(monitor, self.tol, patience, restore_best=bool(early_stopping))
        if old is not None:
            stopping.wait = old.wait
        if not early_stopping and self.best_loss_ is not None and np.isfinite(self.best_loss_):
            stopping.best = float(self.best_loss_)
        self._stopping = stopping
        return stopping

    def _fit_lbfgs(self, X, targets, sw):
        model = self._model
        n = X.shape[0]
        sw, alpha = self._normalize_weights(sw, n)
        l2 = alpha / n
        model.reg_coef = 0.5 * l2
        n_before = model.n_epochs

        def report(m, info):
            if self.verbose:
                print(f"Iteration {m.n_epochs - n_before}, loss = {info['loss']:.8f}")
            return False

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", _training.ConvergenceWarning)
            model.fit(X, targets, epochs=self.max_iter, optimizer="lbfgs", l2=l2, tol=self.tol,
                      max_fun=self.max_fun, sample_weight=sw, callback=report, verbose=False, l1=self.l1)
        for w in caught:
            if not issubclass(w.category, _training.ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        summary = model.last_fit
        if summary.reason != "converged":
            warnings.warn(f"lbfgs failed to converge after {summary.epochs} iteration(s):\n{summary.message}"
                          "\n\nIncrease the number of iterations to improve the convergence (max_iter), or "
                          "scale the data.", ConvergenceWarning, stacklevel=3)
        self.n_iter_ = min(summary.epochs, self.max_iter)
        self.loss_ = summary.loss
        curve = model.loss_curve[n_before:]
        self.loss_curve_ = list(model.loss_curve)
        if curve:
            self.best_loss_ = min([self.best_loss_] + curve) if self.best_loss_ is not None else min(curve)

    def _prepare_validation(self, validation_data, dtype):
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data: expected (X_val, y_val) or (X_val, y_val, sample_weight_val)")
        Xv = self._validate(validation_data[0], reset=False, dtype=dtype)
        yv = np.asarray(validation_data[1])
        if yv.shape[0] != Xv.shape[0]:
            raise ValueError(f"validation_data: y_val has {yv.shape[0]} samples but X_val has {Xv.shape[0]}")
        Tv = self._model_targets(self._validation_targets(yv))
        swv = None
        if len(validation_data) == 3 and validation_data[2] is not None:
            swv = check_sample_weight(validation_data[2], Xv.shape[0], dtype)
            if not swv.sum() > 0:
                raise ValueError("validation_data: the validation sample weights are all zero")
        return Xv, Tv, swv

    # ----------------------------------------------------------------------------------------------
    # Prediction
    # ----------------------------------------------------------------------------------------------
    def _check_fitted_X(self, X):
        check_is_fitted(self)
        self._sync_params()
        if self._model.backend != self.backend:  # set_params(backend=...) after fitting takes effect
            self._model.backend = self.backend
        return self._validate(X, reset=False, dtype=self._model.dtype)

    def _forward(self, X):
        """The network's output for validated X (probabilities, or the output activation)."""
        return self._model.forward(X)

    def transform(self, X: ArrayLike, layer: int = -1) -> np.ndarray:
        """The activations of hidden layer ``layer`` (0 is the first hidden layer, -1 the last) for X,
        shape (n_samples, hidden_layer_sizes[layer])."""
        X = self._check_fitted_X(X)
        return self._model.transform(X, layer=layer)

    def get_feature_names_out(self, input_features: ArrayLike | None = None) -> np.ndarray:
        """Names of ``transform``'s output columns (the last hidden layer's units): "<classname><i>".
        ``input_features``, when given, must match the features seen in ``fit`` (their number, and their
        names when ``fit`` saw named columns)."""
        check_is_fitted(self)
        if input_features is not None:
            names = np.asarray(input_features, dtype=object)
            if names.ndim != 1 or len(names) != self.n_features_in_:
                raise ValueError(f"input_features: expected {self.n_features_in_} names, got "
                                 f"{len(names) if names.ndim == 1 else names.shape}")
            seen = getattr(self, "feature_names_in_", None)
            if seen is not None and not np.array_equal(names, seen):
                raise ValueError("input_features: not equal to feature_names_in_ "
                                 f"{list(seen)[:10]}")
        n_hidden = self._model.spec.n_layers - 1
        if n_hidden == 0:
            raise ValueError("get_feature_names_out: the network has no hidden layer")
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self._model.spec.sizes[n_hidden])], dtype=object)


    # ----------------------------------------------------------------------------------------------
    # Persistence without pickle: the held model's .npz, the estimator in its JSON metadata
    # ----------------------------------------------------------------------------------------------
    _FITTED_FLOATS = ("loss_", "best_loss_", "best_validation_score_")
    _FITTED_LISTS = ("loss_curve_", "validation_scores_", "validation_loss_curve_")
    _FITTED_INTS = ("n_iter_", "t_", "n_outputs_", "n_layers_", "n_features_in_", "_no_improvement_count")

    def save(self, path: str | os.PathLike) -> str | os.PathLike:
        """Write the fitted estimator to ``path``: the ``FastMLP.save`` file of the network it holds (arrays
        and JSON, never a pickle; written atomically), with the estimator's class, constructor parameters
        and fitted attributes (``classes_``, curves, counters, ``feature_names_in_``) in its metadata.
        ``type(est).load(path)`` gives an estimator with the same predictions, ``transform``, scores and
        attributes; the optimizer's moments are not kept (``warm_start`` continues from the weights with
        fresh ones). Parameters must be JSON-representable: a ``RandomState`` as ``random_state`` or a
        ``Schedule`` object as ``learning_rate`` raise ``TypeError`` (pass an int / the schedule's name)."""
        check_is_fitted(self)
        self._sync_params()
        params = {}
        for name, value in self.get_params(deep=False).items():
            if name == "random_state" and isinstance(value, np.random.RandomState):
                raise TypeError("random_state: a RandomState cannot be saved without pickle; use an int "
                                "or None")
            if name == "learning_rate" and isinstance(value, _training.Schedule):
                raise TypeError("learning_rate: a Schedule object cannot be saved without pickle; pass its "
                                "name")
            if name == "dtype" and value is not None:
                value = np.dtype(value).name
            params[name] = _json_value(value, name)
        fitted = {k: _json_value(getattr(self, k, None), k)
                  for k in self._FITTED_FLOATS + self._FITTED_LISTS + self._FITTED_INTS}
        fitted["out_activation_"] = self.out_activation_
        names = getattr(self, "feature_names_in_", None)
        fitted["feature_names_in_"] = None if names is None else [str(v) for v in names]
        if self._classifier:
            classes = np.asarray(self.classes_)
            if classes.dtype == object:
                classes = classes.astype(str) if all(isinstance(c, str) for c in classes) else classes
            if classes.dtype.kind not in "biufU":
                raise TypeError("classes_: only numeric or string labels can be saved without pickle")
            fitted["classes_"] = classes.tolist()
            fitted["classes_dtype"] = classes.dtype.str
            fitted["y_type_"] = self._label_binarizer.y_type_
        model = self._model
        kept = model.metadata
        model.metadata = {"estimator": {"class": type(self).__name__, "params": params, "fitted": fitted},
                          "user": kept}
        try:
            model.save(path)
        finally:
            model.metadata = kept
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, backend: str | None = None,
             custom: dict | None = None) -> _BaseFastMLP:
        """An estimator from a file ``save`` wrote (never unpickles). Raises ValueError when the file holds
        a plain ``FastMLP`` or another estimator class. ``custom``: the ``fastmlp.Activation`` objects of
        the model's own activations by name, as for ``FastMLP.load``."""
        model = _EstimatorNet.load(path, backend=backend, custom=custom)
        meta = model.metadata if isinstance(model.metadata, dict) else {}
        est_meta = meta.get("estimator")
        if not isinstance(est_meta, dict) or est_meta.get("class") not in ("FastMLPClassifier",
                                                                             "FastMLPRegressor"):
            raise ValueError(f"path: {path} holds a FastMLP, not a saved fastmlp estimator (load it with "
                             "FastMLP.load)")
        if est_meta["class"] != cls.__name__:
            raise ValueError(f"path: {path} holds a {est_meta['class']}, not a {cls.__name__}")
        params = {k: _from_json(v, custom) for k, v in est_meta.get("params", {}).items()}
        if backend is not None:
            params["backend"] = backend
        est = cls(**params)
        fitted = est_meta.get("fitted", {})
        model.metadata = meta.get("user", {})
        est._model = model
        for k in cls._FITTED_FLOATS + cls._FITTED_LISTS + cls._FITTED_INTS:
            setattr(est, k, _from_json(fitted.get(k), custom))
        for k in cls._FITTED_LISTS:
            if getattr(est, k) is not None:
                setattr(est, k, list(getattr(est, k)))
        est.out_activation_ = fitted.get("out_activation_")
        if fitted.get("feature_names_in_") is not None:
            est.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)
        est._stopping = None
        if cls._classifier:
            classes = np.asarray(fitted["classes_"], dtype=np.dtype(fitted["classes_dtype"]))
            lb = LabelBinarizer()
            if fitted["y_type_"].startswith("multilabel"):
                lb.fit(np.eye(len(classes), dtype=int))
            else:
                lb.fit(classes)
            est._label_binarizer = lb
            est.classes_ = lb.classes_
            model.single_class = len(classes) == 1
        model.mean_over_outputs = not cls._classifier and model.spec.loss == "squared_error"
        est._bind()
        return est


def _json_value(value, name):
    """A parameter or attribute as JSON: tuples tagged (activation specs), NumPy scalars as numbers, an
    activation of the user's own by its name."""
    if is_custom(value):
        return value.saved_name
    if isinstance(value, tuple):
        return {"tuple": [_json_value(v, name) for v in value]}
    if isinstance(value, list):
        return [_json_value(v, name) for v in value]
    if isinstance(value, np.ndarray):
        return [_json_value(v, name) for v in value.tolist()]
    if isinstance(value, dict):
        return {"dict": [[_json_value(k, name), _json_value(v, name)] for k, v in value.items()]}
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{name}: {value!r} cannot be saved without pickle")


def _from_json(value, custom=None):
    if isinstance(value, dict) and set(value) == {"tuple"}:
        return tuple(_from_json(v, custom) for v in value["tuple"])
    if isinstance(value, dict) and set(value) == {"dict"}:
        return {_from_json(k, custom): _from_json(v, custom) for k, v in value["dict"]}
    if isinstance(value, list):
        return [_from_json(v, custom) for v in value]
    return resolve_saved(value, custom, "path") or value


# ------------------------------------------------------------------------------------------------------
# Classifier
# ------------------------------------------------------------------------------------------------------

class FastMLPClassifier(ClassifierMixin, TransformerMixin, _BaseFastMLP):
    """A drop-in for ``sklearn.neural_network.MLPClassifier`` trained by fastmlp's kernels.

    Same parameters, methods and fitted attributes as scikit-learn's (see its documentation), with
    binary, multiclass and multilabel targets. Additionally: every fastmlp activation (per layer too),
    ``class_weight`` (None, "balanced" or a dict label -> weight, multiplied into the sample weights),
    ``dtype`` (None follows the input: float32 stays float32), ``backend`` ("auto", "cython", "numpy");
    ``fit(..., validation_data=(X_val, y_val))``, ``validation_loss_curve_`` and ``transform(X, layer=-1)``;
    ``l1`` (λ₁ Σ|W| added to every minibatch's loss) and ``dropout`` (a rate for every hidden layer or one
    per hidden layer; sgd/adam only), as ``FastMLP``'s; ``save``/``load`` without pickle.
    """

    _classifier = True

    def __init__(self, hidden_layer_sizes=(100,), activation=DEFAULT_HIDDEN, *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 class_weight=None, dtype=None, backend="auto", l1=0.0, dropout=0.0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.class_weight = class_weight
        self.dtype = dtype
        self.backend = backend
        self.l1 = l1
        self.dropout = dropout

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _output_and_loss(self):
        loss = "cross_entropy" if self._label_binarizer.y_type_ == "multiclass" else "binary_cross_entropy"
        return OUTPUT_OF_LOSS[loss], loss

    def _prepare_targets(self, y, incremental, first_pass, classes):
        """Binarize y as scikit-learn does; returns (Y as a (n, n_outputs) 0/1 float matrix, the labels
        for scores and class weights)."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if incremental and classes is not None and (first_pass or "_label_binarizer" not in self.__dict__):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
            self.classes_ = self._label_binarizer.classes_
        elif "classes_" not in self.__dict__ or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            labels = unique_labels(y)
            if self.warm_start and not incremental:
                if set(labels) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the "
                                     f"previous call to fit. Previously got {self.classes_}, `y` has "
                                     f"{labels}")
            elif len(np.setdiff1d(labels, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {labels}.")
        if incremental or (self.warm_start and "_model" in self.__dict__):
            unseen = np.setdiff1d(unique_labels(y), self.classes_)
            if len(unseen) and not self._label_binarizer.y_type_.startswith("multilabel"):
                raise ValueError(f"y: labels {unseen.tolist()[:10]} are not among the classes "
                                 f"{self.classes_.tolist()[:10]}")
        Y = self._label_binarizer.transform(y).astype(bool)
        return Y, y

    def _model_targets(self, Y):
        """Binarized targets in the held model's form: class indices (softmax), else a 0/1 matrix."""
        if self._label_binarizer.y_type_ == "multiclass":
            return np.ascontiguousarray(Y.argmax(axis=1), dtype=np.intp)
        return np.ascontiguousarray(Y, dtype=self._model.dtype if "_model" in self.__dict__ else np.float64)

    def _model_classes(self):
        """The held model's classes: the column indices of the binarized targets."""
        if self._label_binarizer.y_type_ == "multiclass":
            return np.arange(len(self.classes_))
        return None if self._label_binarizer.y_type_.startswith("multilabel") else np.arange(2)

    def _apply_class_weight(self, sw, y_labels, incremental, dtype):
        cw = self.class_weight
        if cw is None:
            return sw
        if self._label_binarizer.y_type_.startswith("multilabel"):
            raise ValueError("class_weight: not supported for multilabel targets; use sample_weight")
        if isinstance(cw, str) and cw == "balanced" and incremental:
            raise ValueError("class_weight: 'balanced' needs all of y and is not supported by partial_fit; "
                             "pass a dict, e.g. from sklearn.utils.class_weight.compute_class_weight")
        per_sample = _training.class_sample_weights(cw, np.asarray(y_labels), np.asarray(self.classes_),
                                                    dtype)
        return np.ascontiguousarray(per_sample if sw is None else sw * per_sample)

    def _validation_targets(self, yv):
        if yv.ndim == 2 and yv.shape[1] == 1:
            yv = yv.ravel()
        if self._label_binarizer.y_type_.startswith("multilabel"):
            if yv.ndim != 2 or yv.shape[1] != len(self.classes_):
                raise ValueError(f"validation_data: y_val must be a (n, {len(self.classes_)}) label matrix")
        else:
            unseen = np.setdiff1d(unique_labels(yv), self.classes_)
            if len(unseen):
                raise ValueError(f"validation_data: y_val has labels {unseen.tolist()[:10]} that are not in "
                                 f"classes_ {self.classes_.tolist()[:10]}")
        return self._label_binarizer.transform(yv).astype(bool)

    def _decode(self, P):
        if self.n_outputs_ == 1:
            P = P.ravel()
        return self._label_binarizer.inverse_transform(P)

    # ----------------------------------------------------------------------------------------------
    @available_if(_check_solver)
    def partial_fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None,
                    classes: ArrayLike | None = None) -> FastMLPClassifier:
        """One epoch over (X, y), keeping the optimizer state between calls. ``classes`` (all labels of
        the whole problem) is required on the first call."""
        first = "classes_" not in self.__dict__
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if not first and classes is not None:
            if not np.array_equal(self.classes_, unique_labels(classes)):
                raise ValueError(f"`classes={classes!r}` is not the same as on last call to partial_fit, "
                                 f"was: {self.classes_!r}")
            classes = None
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted labels, shape (n_samples,) (or (n_samples, n_labels) for multilabel)."""
        return self._decode(self._forward(self._check_fitted_X(X)))

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), classes ordered as ``classes_``."""
        P = self._forward(self._check_fitted_X(X))
        if self.n_outputs_ == 1:
            p = P.ravel()
            return np.vstack([1 - p, p]).T
        return P

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """log(predict_proba(X))."""
        P = self.predict_proba(X)
        return np.log(P, out=P)


# ------------------------------------------------------------------------------------------------------
# Regressor
# ------------------------------------------------------------------------------------------------------

class FastMLPRegressor(RegressorMixin, TransformerMixin, _BaseFastMLP):
    """A drop-in for ``sklearn.neural_network.MLPRegressor`` trained by fastmlp's kernels.

    Same parameters, methods and fitted attributes as scikit-learn's (see its documentation), with one or
    several outputs and ``loss`` "squared_error" (identity output) or "poisson" (exp output, half Poisson
    deviance). Additionally: every fastmlp activation (per layer too), ``dtype``, ``backend``,
    ``fit(..., validation_data=(X_val, y_val))``, ``validation_loss_curve_`` and ``transform(X, layer=-1)``;
    ``l1`` and ``dropout`` as the classifier's; ``save``/``load`` without pickle.
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation=DEFAULT_HIDDEN, *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, dtype=None, backend="auto", l1=0.0, dropout=0.0):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.backend = backend
        self.l1 = l1
        self.dropout = dropout

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _prepare_targets(self, y, incremental, first_pass, classes):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.dtype.kind not in "biuf":
            raise ValueError(f"y: expected numeric targets, got dtype {y.dtype}")
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if self.loss == "poisson" and (Y < 0).any():
            raise ValueError("y: Some value(s) of y are negative which is not allowed for Poisson "
                             "regression.")
        return Y, y

    def _validate(self, X, y="no_validation", reset=True, dtype=None, **kwargs):
        if not (isinstance(y, str) and y == "no_validation"):
            kwargs["y_numeric"] = True
        return super()._validate(X, y, reset=reset, dtype=dtype, **kwargs)

    def _check_params(self):
        check_choice("loss", self.loss, ("squared_error", "poisson"))
        super()._check_params()

    def _output_and_loss(self):
        if self.loss == "poisson":
            return OUTPUT_OF_LOSS["poisson"], "poisson"
        return REGRESSION_OUTPUT, "squared_error"

    def _model_targets(self, Y):
        return np.ascontiguousarray(Y, dtype=self._model.dtype if "_model" in self.__dict__ else np.float64)

    def _model_classes(self):
        return None

    def _validation_targets(self, yv):
        if yv.ndim == 2 and yv.shape[1] == 1:
            yv = yv.ravel()
        Yv = yv.reshape(-1, 1) if yv.ndim == 1 else yv
        if Yv.shape[1] != self.n_outputs_:
            raise ValueError(f"validation_data: y_val has {Yv.shape[1]} outputs, the model "
                             f"{self.n_outputs_}")
        Yv = np.asarray(Yv, dtype=np.float64)
        if not np.isfinite(Yv).all():
            raise ValueError("validation_data: y_val contains NaN or infinity")
        return Yv

    # ----------------------------------------------------------------------------------------------
    @available_if(_check_solver)
    def partial_fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
                    ) -> FastMLPRegressor:
        """One epoch over (X, y), keeping the optimizer state between calls."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predictions, shape (n_samples,) for one output, else (n_samples, n_outputs)."""
        P = self._forward(self._check_fitted_X(X))
        return P.ravel() if P.shape[1] == 1 else P
