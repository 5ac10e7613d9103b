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
import threading
import warnings

import numpy as np
import scipy.optimize
from scipy.special import xlogy

try:
    import sklearn  # noqa: F401  (absolute import: the real scikit-learn, never this module)
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError("fastmlp.sklearn needs scikit-learn: pip install 'fastmlp[sklearn]'") from exc
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    _sk_validate_data = None

from ._netspec import NetSpec, Optimizer, parse_activation
from .backend import get_backend
from .validation import check_dtype, check_sample_weight

__all__ = ["FastMLPClassifier", "FastMLPRegressor"]

_STOCHASTIC_SOLVERS = ("sgd", "adam")
_PREDICT_BATCH = 1024   # rows per chunk of the inference workspace
_FULL_BATCH = 1024      # rows per chunk of the L-BFGS (full-batch) workspace


# ------------------------------------------------------------------------------------------------------
# Parameter checking (errors name the argument)
# ------------------------------------------------------------------------------------------------------

def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v)


def _check_real(name, v, low=None, high=None, low_open=False, high_open=False):
    if not _is_real(v):
        raise ValueError(f"{name}: expected a finite number, got {v!r}")
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name}: must be {'>' if low_open else '>='} {low}, got {v!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"{name}: must be {'<' if high_open else '<='} {high}, got {v!r}")


def _check_choice(name, v, choices):
    if not isinstance(v, str) or v not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {v!r}")


def _check_bool(name, v):
    if not isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {v!r}")


def _hidden_sizes(hidden_layer_sizes):
    h = hidden_layer_sizes
    if _is_int(h):
        h = [h]
    elif isinstance(h, (str, bytes)) or not hasattr(h, "__iter__"):
        raise ValueError(f"hidden_layer_sizes: expected an int or a sequence of ints, got {h!r}")
    sizes = list(h)
    for s in sizes:
        if not _is_int(s):
            raise ValueError(f"hidden_layer_sizes: expected ints, got {hidden_layer_sizes!r}")
        if s < 1:
            raise ValueError(f"hidden_layer_sizes: every size must be >= 1, got {list(sizes)}")
    return [int(s) for s in sizes]


def _is_single_activation(a):
    if isinstance(a, str):
        return True
    return (isinstance(a, (tuple, list)) and len(a) == 2 and isinstance(a[0], str)
            and isinstance(a[1], numbers.Real) and not isinstance(a[1], bool))


def _hidden_activations(activation, n_hidden):
    """``activation`` -> one (name, parameter) per hidden layer. Accepts a name, ``(name, parameter)`` or
    a list/tuple of those with one entry per hidden layer."""
    if _is_single_activation(activation):
        acts = [parse_activation(tuple(activation) if not isinstance(activation, str) else activation)]
        acts = acts * n_hidden
    elif isinstance(activation, (tuple, list)):
        if len(activation) != n_hidden:
            raise ValueError(f"activation: got {len(activation)} activations for {n_hidden} hidden layers "
                             "(give one name for all, or one per hidden layer)")
        acts = []
        for a in activation:
            if not _is_single_activation(a):
                raise ValueError(f"activation: expected a name or (name, parameter), got {a!r}")
            acts.append(parse_activation(tuple(a) if not isinstance(a, str) else a))
    else:
        raise ValueError(f"activation: expected a name, (name, parameter) or a list of those, "
                         f"got {activation!r}")
    for name, _ in acts:
        if name == "softmax":
            raise ValueError("activation: softmax is an output activation only")
    return acts


# ------------------------------------------------------------------------------------------------------
# Kernel workspaces bound to one parameter vector (never pickled; rebuilt on demand)
# ------------------------------------------------------------------------------------------------------

class _Workspace:
    def __init__(self, backend, spec, theta):
        self.backend, self.spec, self.theta = backend, spec, theta
        self.grad = np.zeros_like(theta)
        self.lock = threading.Lock()
        self.infer = backend.Network(spec, theta, self.grad, _PREDICT_BATCH)
        self.train = None
        self.hidden = {}

    def train_net(self, batch):
        if self.train is None or self.train.max_batch < batch:
            self.train = self.backend.Network(self.spec, self.theta, self.grad, batch)
        return self.train

    def hidden_net(self, k):
        """A network made of the first k+1 layers (a prefix of the flat parameter vector): its output is
        hidden layer k's activation."""
        net = self.hidden.get(k)
        if net is None:
            s = self.spec
            sub = NetSpec(s.sizes[:k + 2], s.activations[:k + 1], s.params[:k + 1], "squared_error")
            net = self.backend.Network(sub, self.theta[:sub.n_params], np.zeros(sub.n_params, self.theta.dtype),
                                       _PREDICT_BATCH)
            self.hidden[k] = net
        return net


# ------------------------------------------------------------------------------------------------------
# The shared estimator
# ------------------------------------------------------------------------------------------------------

class _BaseFastMLP(BaseEstimator):
    """Everything the classifier and the regressor share. Not for direct use."""

    _classifier = False

    # ----------------------------------------------------------------------------------------------
    # Parameters
    # ----------------------------------------------------------------------------------------------
    def _check_params(self):
        self._hidden_sizes = _hidden_sizes(self.hidden_layer_sizes)
        self._hidden_acts = _hidden_activations(self.activation, len(self._hidden_sizes))
        _check_choice("solver", self.solver, ("lbfgs", "sgd", "adam"))
        _check_real("alpha", self.alpha, low=0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            if not _is_int(self.batch_size) or self.batch_size < 1:
                raise ValueError(f"batch_size: expected 'auto' or an int >= 1, got {self.batch_size!r}")
        _check_choice("learning_rate", self.learning_rate, ("constant", "invscaling", "adaptive"))
        _check_real("learning_rate_init", self.learning_rate_init, low=0, low_open=True)
        _check_real("power_t", self.power_t, low=0)
        if not _is_int(self.max_iter) or self.max_iter < 1:
            raise ValueError(f"max_iter: expected an int >= 1, got {self.max_iter!r}")
        _check_bool("shuffle", self.shuffle)
        _check_real("tol", self.tol, low=0)
        if not (_is_int(self.verbose) or isinstance(self.verbose, (bool, np.bool_))):
            raise ValueError(f"verbose: expected a bool or an int, got {self.verbose!r}")
        _check_bool("warm_start", self.warm_start)
        _check_real("momentum", self.momentum, low=0, high=1)
        _check_bool("nesterovs_momentum", self.nesterovs_momentum)
        _check_bool("early_stopping", self.early_stopping)
        _check_real("validation_fraction", self.validation_fraction, low=0, high=1, high_open=True)
        _check_real("beta_1", self.beta_1, low=0, high=1, high_open=True)
        _check_real("beta_2", self.beta_2, low=0, high=1, high_open=True)
        _check_real("epsilon", self.epsilon, low=0, low_open=True)
        if not (self.n_iter_no_change == np.inf or (_is_int(self.n_iter_no_change)
                                                    and self.n_iter_no_change >= 1)):
            raise ValueError(f"n_iter_no_change: expected an int >= 1 or np.inf, got {self.n_iter_no_change!r}")
        if not _is_int(self.max_fun) or self.max_fun < 1:
            raise ValueError(f"max_fun: expected an int >= 1, got {self.max_fun!r}")
        if self.dtype is not None:
            check_dtype(self.dtype)
        get_backend(self.backend)

    def _input_dtype(self, fitting_first):
        if not fitting_first:  # continuing (warm_start, partial_fit): the model's dtype
            model = self._theta.dtype.type
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
    # The parameter vector, its views (coefs_, intercepts_) and the workspaces
    # ----------------------------------------------------------------------------------------------
    def _build_spec(self, n_features, n_outputs):
        sizes = [n_features] + self._hidden_sizes + [n_outputs]
        out, loss = self._output_and_loss()
        return NetSpec(sizes, [a for a, _ in self._hidden_acts] + [out],
                       [p for _, p in self._hidden_acts] + [0.0], loss)

    def _bind(self):
        """(Re)build the views of the flat vector and the kernel workspaces."""
        Ws, bs, gs = self._spec.views(self._theta)
        self._param_views = (Ws, bs)
        self.coefs_ = list(Ws)
        self.intercepts_ = list(bs)
        self._ws = _Workspace(get_backend(self.backend), self._spec, self._theta)

    def _sync_params(self):
        """Copy user-assigned ``coefs_`` / ``intercepts_`` (new arrays rather than in-place edits) into the
        flat parameter vector the kernels read."""
        Ws, bs = self._param_views
        coefs, inters = self.coefs_, self.intercepts_
        if (len(coefs) == len(Ws) and len(inters) == len(bs)
                and all(a is b for a, b in zip(coefs, Ws)) and all(a is b for a, b in zip(inters, bs))):
            return
        for name, new, views in (("coefs_", coefs, Ws), ("intercepts_", inters, bs)):
            if len(new) != len(views):
                raise ValueError(f"{name}: expected {len(views)} arrays, got {len(new)}")
            for l, (a, v) in enumerate(zip(new, views)):
                a = np.asarray(a)
                if a.shape != v.shape:
                    raise ValueError(f"{name}[{l}]: expected shape {v.shape}, got {a.shape}")
        for new, views in ((coefs, Ws), (inters, bs)):
            for a, v in zip(new, views):
                if a is not v:
                    v[...] = np.asarray(a)
        self.coefs_ = list(Ws)
        self.intercepts_ = list(bs)

    def _init_params(self, sizes_ok):
        """scikit-learn's initialisation: per layer, W then b uniform in ±sqrt(factor / (fan_in + fan_out)),
        factor 2 for logistic and 6 otherwise, drawn from ``self._random_state`` in the same order."""
        spec = self._spec
        Ws, bs, gs = spec.views(self._theta)
        single = _is_single_activation(self.activation)
        acts = spec.activations
        n_hidden = spec.n_layers - 1
        for l in range(spec.n_layers):
            if single:
                name = parse_activation(self.activation if isinstance(self.activation, str)
                                        else tuple(self.activation))[0]
            else:  # per-layer: a layer follows its own activation, the output layer the last hidden one
                name = acts[min(l, n_hidden - 1)] if n_hidden else "identity"
            factor = 2.0 if name == "logistic" else 6.0
            fan_in, fan_out = Ws[l].shape
            bound = np.sqrt(factor / (fan_in + fan_out))
            Ws[l][...] = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
            bs[l][...] = self._random_state.uniform(-bound, bound, fan_out)
            if gs[l] is not None:
                gs[l][...] = spec.params[l]

    def _initialize(self, n_features, n_outputs, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = n_outputs
        self._spec = self._build_spec(n_features, n_outputs)
        self.n_layers_ = len(self._spec.sizes)
        self.out_activation_ = self._out_activation_name()
        self._theta = np.zeros(self._spec.n_params, dtype=dtype)
        self._init_params(True)
        self._bind()
        self._optimizer = None
        self._best_theta = None
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self.validation_loss_curve_ = None
        if self.solver in _STOCHASTIC_SOLVERS and self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _sq_weights(self):
        return float(sum(np.dot(W.ravel(), W.ravel()) for W in self._param_views[0]))

    # ----------------------------------------------------------------------------------------------
    # Pickling: the views and workspaces are rebuilt from the flat vector
    # ----------------------------------------------------------------------------------------------
    def __getstate__(self):
        if "_theta" in self.__dict__:
            self._sync_params()
        state = super().__getstate__()
        state = dict(state)
        for key in ("_ws", "coefs_", "intercepts_", "_param_views"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_theta" in self.__dict__:
            # Arrays unpickled from a read-only memory map (joblib) become private, writable copies.
            for key in ("_theta", "_best_theta"):
                a = self.__dict__.get(key)
                if a is not None and not a.flags.writeable:
                    setattr(self, key, a.copy())
            opt = self.__dict__.get("_optimizer")
            if opt is not None:
                opt.state1 = np.array(opt.state1)
                opt.state2 = np.array(opt.state2)
            self._bind()

    # ----------------------------------------------------------------------------------------------
    # Fitting
    # ----------------------------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None, *, validation_data=None):
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
        fitted = "_theta" in self.__dict__
        first_pass = not fitted or (not self.warm_start and not incremental)
        dtype = self._input_dtype(first_pass)
        X, y = self._validate(X, y, reset=first_pass, dtype=dtype)
        if fitted and not first_pass:
            self._sync_params()
        Y, y_labels = self._prepare_targets(y, incremental, first_pass, classes)
        n, n_features = X.shape
        n_outputs = Y.shape[1] if Y.ndim == 2 else len(self.classes_)
        sw = check_sample_weight(sample_weight, n, X.dtype)
        sw = self._apply_class_weight(sw, y_labels, incremental, X.dtype)

        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(n_features, n_outputs, X.dtype)
        else:
            expected = self._build_spec(n_features, n_outputs)
            if (expected.sizes, expected.activations, expected.params) != \
                    (self._spec.sizes, self._spec.activations, self._spec.params):
                raise ValueError(
                    f"warm_start: the network changed from {list(self._spec.sizes)} "
                    f"{list(self._spec.activations)} to {list(expected.sizes)} {list(expected.activations)}; "
                    "fit with warm_start=False to start over")
        if self.solver in _STOCHASTIC_SOLVERS:
            self._fit_stochastic(X, Y, y_labels, sw, incremental, validation_data)
        else:
            self._fit_lbfgs(X, Y, sw)
        if not np.isfinite(self._theta).all():
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain "
                             "large values and need to be preprocessed (or lower learning_rate_init).")
        return self

    def _apply_class_weight(self, sw, y_labels, incremental, dtype):
        return sw

    def _make_optimizer(self, dtype):
        n_params = self._spec.n_params
        if self.solver == "adam":
            return _Optimizer("adam", n_params, dtype, lr=self.learning_rate_init, beta1=self.beta_1,
                             beta2=self.beta_2, eps=self.epsilon)
        if self.momentum == 0:
            kind = "sgd"  # Nesterov with μ = 0 is plain SGD
        else:
            kind = "nesterov" if self.nesterovs_momentum else "momentum"
        return _Optimizer(kind, n_params, dtype, lr=self.learning_rate_init, momentum=self.momentum)

    def _fit_stochastic(self, X, Y, y_labels, sw, incremental, validation_data):
        dtype = self._theta.dtype
        if not incremental or self._optimizer is None:
            self._optimizer = self._make_optimizer(dtype)
        opt = self._optimizer
        n = X.shape[0]
        early_stopping = self.early_stopping
        val = None
        train_idx = None
        if validation_data is not None:
            val = self._prepare_validation(validation_data, dtype)
        elif early_stopping:
            stratify = Y if (self._classifier and self.n_outputs_ == 1) else None
            train_idx, val_idx = train_test_split(np.arange(n), random_state=self._random_state,
                                                  test_size=self.validation_fraction, stratify=stratify)
            if len(val_idx) < 2:
                raise ValueError("The validation set is too small. Increase 'validation_fraction' or the "
                                 "size of your dataset.")
            train_idx = np.ascontiguousarray(train_idx, dtype=np.intp)
            val_idx = np.asarray(val_idx, dtype=np.intp)
            val = (np.ascontiguousarray(X[val_idx]), Y[val_idx], _take(y_labels, val_idx),
                   None if sw is None else sw[val_idx])
        if early_stopping and self._best_theta is None:
            self._best_theta = self._theta.copy()
        if not early_stopping and self.best_loss_ is None:  # warm start after fitting with early stopping
            self.best_loss_ = np.inf
        if val is not None and val[3] is not None and not val[3].sum() > 0:
            raise ValueError("sample_weight: the weights of the early-stopping validation split are all zero")
        if val is not None:
            if self.validation_loss_curve_ is None:
                self.validation_loss_curve_ = []
            if self.validation_scores_ is None:
                self.validation_scores_ = []
            if self.best_validation_score_ is None:
                self.best_validation_score_ = -np.inf
        n_train = n if train_idx is None else len(train_idx)
        sw_train, alpha = self._normalize_weights(sw, train_idx, n_train)

        if self.batch_size == "auto":
            batch_size = min(200, n_train)
        else:
            if self.batch_size > n_train:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to "
                              "be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n_train))
        net = self._ws.train_net(batch_size)
        Yk = self._kernel_targets(Y)
        sample_idx = np.arange(n_train, dtype=np.intp)
        schedule = self.learning_rate if self.solver == "sgd" else "constant"
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:
                    # In place, the same draws as sklearn.utils.shuffle(sample_idx, random_state=...)
                    # (a Fisher-Yates pass of the legacy RandomState), without its validation overhead.
                    self._random_state.shuffle(sample_idx)
                if train_idx is None:
                    order = np.ascontiguousarray(sample_idx, dtype=np.intp)
                else:
                    order = train_idx[sample_idx] if self.shuffle else train_idx
                loss = self._run_epoch(net, X, Yk, sw_train, order, batch_size, opt, alpha)
                self.n_iter_ += 1
                self.loss_ = loss
                self.t_ += n_train
                self.loss_curve_.append(loss)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, loss))
                if not np.isfinite(loss):
                    break
                val_score = None
                if val is not None:
                    val_loss, val_score = self._validation_metrics(*val)
                    self.validation_loss_curve_.append(val_loss)
                    self.validation_scores_.append(val_score)
                    if self.verbose:
                        print("Validation score: %f" % val_score)
                self._update_no_improvement_count(early_stopping, val_score)
                if schedule == "invscaling":
                    opt.lr = float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t
                if self._no_improvement_count > self.n_iter_no_change:
                    if early_stopping:
                        msg = ("Validation score did not improve more than tol=%f for %d consecutive "
                               "epochs." % (self.tol, self.n_iter_no_change))
                    else:
                        msg = ("Training loss did not improve more than tol=%f for %d consecutive "
                               "epochs." % (self.tol, self.n_iter_no_change))
                    if schedule == "adaptive" and opt.lr > 1e-6:
                        opt.lr /= 5.0
                        if self.verbose:
                            print(msg + " Setting learning rate to %f" % opt.lr)
                        self._no_improvement_count = 0
                    else:
                        if self.verbose:
                            print(msg + (" Learning rate too small." if schedule == "adaptive" else "")
                                  + " Stopping.")
                        break
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the "
                                  "optimization hasn't converged yet." % self.max_iter, ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        if early_stopping:
            self._theta[...] = self._best_theta

    def _normalize_weights(self, sw, train_idx, n_train):
        """Scale the weights to mean 1 over the training rows, so that the kernels' division by the
        batch's row count approximates scikit-learn's division by the batch's weight sum (exact for one
        batch, as with L-BFGS). Returns (weights, alpha scaled likewise: alpha / Σw per row)."""
        if sw is None:
            return None, self.alpha
        total = float(sw.sum(dtype=np.float64) if train_idx is None else sw[train_idx].sum(dtype=np.float64))
        if total <= 0:
            raise ValueError("sample_weight: the training samples' weights are all zero")
        c = n_train / total
        return np.ascontiguousarray(sw * sw.dtype.type(c)), self.alpha * c

    def _run_epoch(self, net, X, Yk, sw, order, batch_size, opt, alpha):
        """One epoch in the kernels; scikit-learn's L2 coefficient alpha / n_batch, also for the last,
        smaller batch. Returns scikit-learn's epoch loss (row-weighted mean of the batch losses)."""
        m = order.shape[0]
        full = (m // batch_size) * batch_size
        total = 0.0
        if full:
            opt.l2 = alpha / batch_size
            total += net.train_epoch(X, Yk, sw, order[:full], batch_size, opt) * full
        if m > full:
            rest = m - full
            opt.l2 = alpha / rest
            total += net.train_epoch(X, Yk, sw, order[full:], rest, opt) * rest
        return self._report_loss(total / m, -(-m // batch_size) * alpha / (2.0 * m))

    def _report_loss(self, R, reg_coef):
        """scikit-learn's loss from the kernels' R (hook for the regressor's mean over outputs)."""
        return float(R)

    def _update_no_improvement_count(self, early_stopping, val_score):
        if early_stopping:
            if val_score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if val_score > self.best_validation_score_:
                self.best_validation_score_ = val_score
                np.copyto(self._best_theta, self._theta)
        else:
            if val_score is not None and val_score > self.best_validation_score_:
                self.best_validation_score_ = val_score
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _fit_lbfgs(self, X, Y, sw):
        n = X.shape[0]
        sw, alpha = self._normalize_weights(sw, None, n)
        net = self._ws.train_net(min(n, _FULL_BATCH))
        theta, grad = self._theta, self._ws.grad
        l2 = alpha / n
        Yk = self._kernel_targets(Y)
        curve = []

        def fun(x):
            theta[...] = x
            R = self._full_loss_and_grad(net, X, Yk, sw, l2)
            return R, grad.astype(np.float64)

        def callback(intermediate_result):
            theta[...] = intermediate_result.x
            sq = self._sq_weights()
            curve.append(self._report_loss_full(intermediate_result.fun, 0.5 * l2 * sq))
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (len(curve), curve[-1]))

        res = scipy.optimize.minimize(
            fun, theta.astype(np.float64), method="L-BFGS-B", jac=True, callback=callback,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol})
        if res.status != 0:
            warnings.warn(f"lbfgs failed to converge after {res.nit} iteration(s) (status={res.status}):\n"
                          f"{res.message}\n\nIncrease the number of iterations to improve the "
                          "convergence (max_iter), or scale the data.", ConvergenceWarning)
        self.n_iter_ = min(int(res.nit), self.max_iter)
        theta[...] = res.x
        self.loss_ = self._report_loss_full(float(res.fun), 0.5 * l2 * self._sq_weights())
        self.loss_curve_.extend(curve)
        if curve:
            self.best_loss_ = min([self.best_loss_] + curve) if self.best_loss_ is not None else min(curve)

    def _full_loss_and_grad(self, net, X, Yk, sw, l2):
        return net.loss_and_grad(X, Yk, sw, l2)

    def _report_loss_full(self, R, reg):
        return float(R)

    def _prepare_validation(self, validation_data, dtype):
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data: expected (X_val, y_val) or (X_val, y_val, sample_weight_val)")
        Xv = self._validate(validation_data[0], reset=False, dtype=dtype)
        yv = np.asarray(validation_data[1])
        if yv.shape[0] != Xv.shape[0]:
            raise ValueError(f"validation_data: y_val has {yv.shape[0]} samples but X_val has {Xv.shape[0]}")
        Yv, yv_labels = self._validation_targets(yv)
        swv = None
        if len(validation_data) == 3 and validation_data[2] is not None:
            swv = check_sample_weight(validation_data[2], Xv.shape[0], dtype)
            if not swv.sum() > 0:
                raise ValueError("validation_data: the validation sample weights are all zero")
        return Xv, Yv, yv_labels, swv

    # ----------------------------------------------------------------------------------------------
    # Prediction
    # ----------------------------------------------------------------------------------------------
    def _check_fitted_X(self, X):
        check_is_fitted(self)
        self._sync_params()
        return self._validate(X, reset=False, dtype=self._theta.dtype.type)

    def _forward(self, X):
        """The network's output for validated X (probabilities, or the identity output)."""
        out = np.empty((X.shape[0], self._spec.sizes[-1]), dtype=self._theta.dtype)
        ws = self._ws
        with ws.lock:
            ws.infer.forward(X, out)
        return out

    def transform(self, X, layer=-1):
        """The activations of hidden layer ``layer`` (0 is the first hidden layer, -1 the last) for X,
        shape (n_samples, hidden_layer_sizes[layer])."""
        X = self._check_fitted_X(X)
        n_hidden = self._spec.n_layers - 1
        if n_hidden == 0:
            raise ValueError("layer: the network has no hidden layer to transform to")
        if not _is_int(layer) or not -n_hidden <= layer < n_hidden:
            raise ValueError(f"layer: expected an int in [{-n_hidden}, {n_hidden - 1}], got {layer!r}")
        k = int(layer) % n_hidden
        out = np.empty((X.shape[0], self._spec.sizes[k + 1]), dtype=self._theta.dtype)
        ws = self._ws
        with ws.lock:
            ws.hidden_net(k).forward(X, out)
        return out


    def get_feature_names_out(self, input_features=None):
        """Names of ``transform``'s output columns (the last hidden layer's units): "<classname><i>"."""
        check_is_fitted(self)
        n_hidden = self._spec.n_layers - 1
        if n_hidden == 0:
            raise ValueError("get_feature_names_out: the network has no hidden layer")
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self._spec.sizes[n_hidden])], dtype=object)


def _r2(Y, P, sw):
    """sklearn.metrics.r2_score(Y, P, sample_weight=sw) (uniform average over outputs, force_finite), for
    2-D Y and P, without its per-call validation overhead (it runs after every epoch)."""
    w = 1.0 if sw is None else np.asarray(sw, dtype=np.float64)[:, None]
    Y = np.asarray(Y, dtype=np.float64)
    num = (w * (Y - P) ** 2).sum(axis=0)
    den = (w * (Y - np.average(Y, axis=0, weights=sw)) ** 2).sum(axis=0)
    r2 = np.ones(Y.shape[1])
    valid = (den != 0) & (num != 0)
    r2[valid] = 1 - num[valid] / den[valid]
    r2[(num != 0) & (den == 0)] = 0.0
    return float(r2.mean())


def _densify(X):
    if hasattr(X, "toarray"):
        return np.ascontiguousarray(X.toarray())
    return X


class _Optimizer(Optimizer):
    """fastmlp's optimizer state, with scikit-learn's ``learning_rate`` name for the current rate."""

    @property
    def learning_rate(self):
        return self.lr

    @learning_rate.setter
    def learning_rate(self, value):
        self.lr = float(value)


def _take(a, idx):
    return None if a is None else a[idx]


def _check_solver(est):
    if est.solver not in _STOCHASTIC_SOLVERS:
        raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                             f"{est.solver} is not stochastic.")
    return True


# ------------------------------------------------------------------------------------------------------
# Classifier
# ------------------------------------------------------------------------------------------------------

class FastMLPClassifier(ClassifierMixin, TransformerMixin, _BaseFastMLP):
    """A drop-in for ``sklearn.neural_network.MLPClassifier`` trained by fastmlp's kernels.

    Same parameters, methods and fitted attributes as scikit-learn's (see its documentation), with
    binary, multiclass and multilabel targets. Additionally: every fastmlp activation (per layer too),
    ``class_weight`` (None, "balanced" or a dict label -> weight, multiplied into the sample weights),
    ``dtype`` (None follows the input: float32 stays float32), ``backend`` ("auto", "cython", "numpy");
    ``fit(..., validation_data=(X_val, y_val))``, ``validation_loss_curve_`` and ``transform(X, layer=-1)``.
    """

    _classifier = True

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 class_weight=None, dtype=None, backend="auto"):
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # ----------------------------------------------------------------------------------------------
    def _output_and_loss(self):
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax", "cross_entropy"
        return "logistic", "binary_cross_entropy"

    def _out_activation_name(self):
        return self._spec.activations[-1]

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
                                     f"previous call to fit. Previously got {self.classes_}, `y` has {labels}")
            elif len(np.setdiff1d(labels, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {labels}.")
        if incremental or (self.warm_start and "_theta" in self.__dict__):
            unseen = np.setdiff1d(unique_labels(y), self.classes_)
            if len(unseen) and not self._label_binarizer.y_type_.startswith("multilabel"):
                raise ValueError(f"y: labels {unseen.tolist()[:10]} are not among the classes "
                                 f"{self.classes_.tolist()[:10]}")
        Y = self._label_binarizer.transform(y).astype(bool)
        return Y, y

    def _kernel_targets(self, Y):
        if self._spec.loss == "cross_entropy":
            return np.ascontiguousarray(Y.argmax(axis=1), dtype=np.intp)
        return np.ascontiguousarray(Y, dtype=self._theta.dtype)

    def _apply_class_weight(self, sw, y_labels, incremental, dtype):
        cw = self.class_weight
        if cw is None:
            return sw
        if self._label_binarizer.y_type_.startswith("multilabel"):
            raise ValueError("class_weight: not supported for multilabel targets; use sample_weight")
        if isinstance(cw, str) and cw == "balanced" and incremental:
            raise ValueError("class_weight: 'balanced' needs all of y and is not supported by partial_fit; "
                             "pass a dict, e.g. from sklearn.utils.class_weight.compute_class_weight")
        if not (isinstance(cw, dict) or (isinstance(cw, str) and cw == "balanced")):
            raise ValueError(f"class_weight: expected None, 'balanced' or a dict, got {cw!r}")
        present = self.classes_ if not (isinstance(cw, str)) else unique_labels(y_labels)
        weights = compute_class_weight(cw, classes=np.asarray(present), y=y_labels)
        idx = np.searchsorted(present, y_labels)
        per_sample = np.asarray(weights, dtype=dtype)[idx]
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
        return self._label_binarizer.transform(yv).astype(bool), yv

    def _validation_metrics(self, Xv, Yv, yv, swv):
        P = self._forward(Xv)
        eps = np.finfo(P.dtype).eps
        Pc = np.clip(P, eps, 1 - eps)
        if self._spec.loss == "cross_entropy":
            per_row = -np.log(Pc[np.arange(len(Pc)), Yv.argmax(axis=1)])
        else:
            per_row = -(xlogy(Yv, Pc) + xlogy(1 - Yv, 1 - Pc)).sum(axis=1)
        loss = float(np.average(per_row, weights=swv))
        if not np.isfinite(P).all():
            return loss, np.nan
        # accuracy_score(yv, predict(Xv)) on the binarized targets, without per-epoch validation overhead
        if len(self.classes_) == 1:
            correct = np.ones(len(P), dtype=bool)
        elif self._spec.loss == "cross_entropy":
            correct = P.argmax(axis=1) == Yv.argmax(axis=1)
        else:  # LabelBinarizer.inverse_transform thresholds at > 0.5; multilabel needs every label right
            correct = ((P > 0.5) == Yv).all(axis=1)
        return loss, float(np.average(correct, weights=swv))

    def _decode(self, P):
        if self.n_outputs_ == 1:
            P = P.ravel()
        return self._label_binarizer.inverse_transform(P)

    # ----------------------------------------------------------------------------------------------
    @available_if(_check_solver)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
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

    def predict(self, X):
        """Predicted labels, shape (n_samples,) (or (n_samples, n_labels) for multilabel)."""
        return self._decode(self._forward(self._check_fitted_X(X)))

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), classes ordered as ``classes_``."""
        P = self._forward(self._check_fitted_X(X))
        if self.n_outputs_ == 1:
            p = P.ravel()
            return np.vstack([1 - p, p]).T
        return P

    def predict_log_proba(self, X):
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
    ``fit(..., validation_data=(X_val, y_val))``, ``validation_loss_curve_`` and ``transform(X, layer=-1)``.
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001,
                 power_t=0.5, max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 max_fun=15000, dtype=None, backend="auto"):
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _check_params(self):
        _check_choice("loss", self.loss, ("squared_error", "poisson"))
        super()._check_params()

    # ----------------------------------------------------------------------------------------------
    def _output_and_loss(self):
        # Poisson trains an identity-output network: see _poisson_targets.
        return "identity", "squared_error"

    def _out_activation_name(self):
        return "exp" if self.loss == "poisson" else "identity"

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

    def _kernel_targets(self, Y):
        return np.ascontiguousarray(Y, dtype=self._theta.dtype)

    def _report_loss(self, R, reg_coef):
        # The kernels' squared error sums over outputs; scikit-learn reports the mean over outputs (its
        # gradient is the one of the sum, which is what both train). The L2 part is not averaged.
        d = self.n_outputs_
        if d == 1 or self.loss == "poisson":
            return float(R)
        reg = reg_coef * self._sq_weights()
        return float((R - reg) / d + reg)

    def _report_loss_full(self, R, reg):
        d = self.n_outputs_
        if d == 1 or self.loss == "poisson":
            return float(R)
        return float((R - reg) / d + reg)

    # Poisson: half deviance with a log link. Its gradient with respect to the output pre-activation z is
    # exp(z) − y, which is the squared-error gradient of the identity network for the target
    # y' = z − exp(z) + y. So the kernels train it with those targets (one extra forward per step).
    def _run_epoch(self, net, X, Yk, sw, order, batch_size, opt, alpha):
        if self.loss != "poisson":
            return super()._run_epoch(net, X, Yk, sw, order, batch_size, opt, alpha)
        dtype = self._theta.dtype
        m = order.shape[0]
        d_out = self.n_outputs_
        Xbuf = np.empty((batch_size, X.shape[1]), dtype)
        Zbuf = np.empty((batch_size, d_out), dtype)
        total = 0.0
        for s in range(0, m, batch_size):
            idx = order[s:s + batch_size]
            nb = idx.shape[0]
            Xb = Xbuf[:nb]
            np.take(X, idx, axis=0, out=Xb)
            Yb = Yk[idx]
            swb = None if sw is None else sw[idx]
            Zb = net.forward(Xb, Zbuf[:nb])
            dev, Yp = _poisson_step_targets(Zb, Yb, swb)
            opt.l2 = alpha / nb
            reg = 0.5 * opt.l2 * self._sq_weights()
            net.train_step(Xb, Yp, swb, opt)
            total += (dev + reg) * nb
        return total / m

    def _full_loss_and_grad(self, net, X, Yk, sw, l2):
        if self.loss != "poisson":
            return net.loss_and_grad(X, Yk, sw, l2)
        Z = net.forward(X, np.empty(Yk.shape, self._theta.dtype))
        dev, Yp = _poisson_step_targets(Z, Yk, sw)
        net.loss_and_grad(X, Yp, sw, l2)
        return dev + 0.5 * l2 * self._sq_weights()

    def _validation_targets(self, yv):
        if yv.ndim == 2 and yv.shape[1] == 1:
            yv = yv.ravel()
        Yv = yv.reshape(-1, 1) if yv.ndim == 1 else yv
        if Yv.shape[1] != self.n_outputs_:
            raise ValueError(f"validation_data: y_val has {Yv.shape[1]} outputs, the model {self.n_outputs_}")
        Yv = np.asarray(Yv, dtype=np.float64)
        if not np.isfinite(Yv).all():
            raise ValueError("validation_data: y_val contains NaN or infinity")
        return Yv, yv

    def _validation_metrics(self, Xv, Yv, yv, swv):
        P = self._output(self._forward(Xv))
        with np.errstate(over="ignore", invalid="ignore"):
            if self.loss == "poisson":
                loss = float(np.average(xlogy(Yv, Yv / P) - Yv + P, weights=swv, axis=0).sum())
            else:
                loss = float(0.5 * np.average((Yv - P) ** 2, weights=swv, axis=0).mean())
        if not np.isfinite(P).all():
            return loss, np.nan
        return loss, _r2(Yv, P, swv)

    def _output(self, Z):
        if self.loss == "poisson":
            with np.errstate(over="ignore"):
                return np.exp(Z, out=Z)
        return Z

    # ----------------------------------------------------------------------------------------------
    @available_if(_check_solver)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), keeping the optimizer state between calls."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predictions, shape (n_samples,) for one output, else (n_samples, n_outputs)."""
        P = self._output(self._forward(self._check_fitted_X(X)))
        return P.ravel() if P.shape[1] == 1 else P


def _poisson_step_targets(Z, Y, sw):
    """(mean half Poisson deviance summed over outputs, the identity-network targets z − exp(z) + y)."""
    with np.errstate(over="ignore", invalid="ignore"):
        mu = np.exp(Z)
        per_elem = xlogy(Y, Y) - Y * Z - Y + mu
        if sw is not None and not sw.sum() > 0:  # a batch of zero-weight rows contributes nothing
            dev = 0.0
        else:
            dev = float(np.average(per_elem, weights=sw, axis=0).sum())
        Yp = np.ascontiguousarray(Z - mu + Y, dtype=Z.dtype)
    return dev, Yp
