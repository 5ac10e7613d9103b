"""scikit-learn estimators that train on a Dask cluster: ``DaskMLPClassifier`` and ``DaskMLPRegressor``.

They take the parameters of ``fastmlp.sklearn.FastMLPClassifier`` / ``FastMLPRegressor`` (scikit-learn's
``MLPClassifier`` / ``MLPRegressor`` ones) with their meanings, except that ``solver`` is ``"lbfgs"`` (exact
distributed full-batch L-BFGS) or ``"local-sgd"`` (rounds of ``local_epochs`` epochs per block with
``local_solver`` "adam" or "sgd", weights averaged; ``max_iter`` counts rounds), plus ``client`` (a
``distributed.Client``, an address, or None) and ``persist``. They start from the weights the
single-process estimator with the same ``random_state`` starts from, minimise the same objective
(``alpha`` per minibatch row, sample weights scaled to mean 1), report the same fitted attributes, and
``to_local()`` returns a plain fitted ``FastMLPClassifier`` / ``FastMLPRegressor`` with the trained weights.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

try:
    import sklearn  # noqa: F401
except ImportError as exc:  # pragma: no cover
    raise ImportError(
        "fastmlp.dask's estimators need scikit-learn: pip install 'fastmlp[dask,sklearn]'"
    ) from exc
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .. import _training
from .._netspec import parse_activation
from .._registry import DEFAULT_HIDDEN, OUTPUT_OF_LOSS, REGRESSION_OUTPUT
from ..backend import get_backend
from ..model import FastMLP
from ..validation import ParameterError, check_bool, check_choice, check_dtype, check_param
from . import _api, _core
from ._blocks import Round

SOLVERS = ("lbfgs", "local-sgd")
LOCAL_SOLVERS = ("adam", "sgd")
_RULES = {
    "lr": "learning_rate_init",
    "l2": "alpha",
    "momentum": "momentum",
    "beta1": "beta_1",
    "beta2": "beta_2",
    "eps": "epsilon",
}


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


class _DaskMLP(BaseEstimator):
    """What the classifier and the regressor share. Not for direct use."""

    _classifier = False

    # ----------------------------------------------------------------------------------------------
    # Parameters
    # ----------------------------------------------------------------------------------------------
    def _check_params(self) -> None:
        h = self.hidden_layer_sizes
        sizes = (
            [h] if _is_int(h) else (list(h) if hasattr(h, "__iter__") and not isinstance(h, str) else None)
        )
        if sizes is None or not all(_is_int(s) and s >= 1 for s in sizes):
            raise ParameterError(f"hidden_layer_sizes: expected an int or a sequence of ints >= 1, got {h!r}")
        self._hidden = [int(s) for s in sizes]
        act = self.activation
        if isinstance(act, list):
            if len(act) != len(self._hidden):
                raise ParameterError(
                    f"activation: got {len(act)} activations for {len(self._hidden)} hidden "
                    "layers (give one name for all, or one per hidden layer)"
                )
            self._activation = [a if isinstance(a, str) else tuple(a) for a in act]
            for a in self._activation:
                parse_activation(a)
        else:
            self._activation = act if isinstance(act, str) else tuple(act)
            parse_activation(self._activation)
        check_choice("solver", self.solver, SOLVERS)
        check_choice("local_solver", self.local_solver, LOCAL_SOLVERS)
        for rule, name in _RULES.items():
            check_param(rule, getattr(self, name), name)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            if not _is_int(self.batch_size) or self.batch_size < 1:
                raise ParameterError(f"batch_size: expected 'auto' or an int >= 1, got {self.batch_size!r}")
        check_choice("learning_rate", self.learning_rate, tuple(_training.SCHEDULES))
        check_param("power_t", self.power_t)
        check_param("epochs", self.max_iter, "max_iter")
        check_param("epochs", self.local_epochs, "local_epochs")
        check_bool("shuffle", self.shuffle)
        check_param("tol", self.tol)
        check_bool("warm_start", self.warm_start)
        check_bool("nesterovs_momentum", self.nesterovs_momentum)
        check_bool("early_stopping", self.early_stopping)
        check_param("validation_split", self.validation_fraction, "validation_fraction")
        check_param("patience", self.n_iter_no_change, "n_iter_no_change")
        check_param("max_fun", self.max_fun)
        if self.dtype is not None:
            check_dtype(self.dtype)
        get_backend(self.backend)
        if not (self.persist == "auto" or isinstance(self.persist, (bool, np.bool_))):
            raise ParameterError(f"persist: expected 'auto', True or False, got {self.persist!r}")

    def _seed(self, random_state: np.random.RandomState) -> int:
        """The int that seeds the shuffles and the hold-out split (drawn once from ``random_state``)."""
        if _is_int(self.random_state):
            return int(self.random_state)
        return int(random_state.randint(0, 2**31 - 1))

    # ----------------------------------------------------------------------------------------------
    # Fitting
    # ----------------------------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None, *, validation_data: tuple | None = None, classes=None):
        """Fit on the dask arrays (or DataFrame/Series) X (n, n_features) and y (n,) or (n, n_outputs),
        chunked by rows, where they are. ``sample_weight``: a dask array (n,) chunked like X.
        ``validation_data=(X_val, y_val)`` (dask arrays; ``solver="local-sgd"``) is scored after every round
        and, with ``early_stopping=True``, used instead of holding out ``validation_fraction`` of every
        block. ``classes`` (classifier): the labels, when the data does not show them all. Returns self."""
        self._check_params()
        if validation_data is not None and self.solver == "lbfgs":
            raise ValueError(
                "validation_data: the lbfgs solver takes no validation data (use solver='local-sgd')"
            )
        Xd, names = _core.as_dask_array(X, "X")
        yd, _ = _core.as_dask_array(y, "y")
        swd = None if sample_weight is None else _core.as_dask_array(sample_weight, "sample_weight")[0]
        _core.check_xy(Xd, yd, swd)
        warm = self.warm_start and hasattr(self, "model_")
        if warm and Xd.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X: has {Xd.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )
        dtype = self._fit_dtype(Xd, warm)
        random_state = check_random_state(self.random_state)
        with _core.cluster_client(self.client) as c:
            cls, counts, n_outputs = self._targets(c, yd, classes, warm)
            if warm:
                model = self.model_
            else:
                output, loss = self._output_and_loss(n_outputs, cls)
                model = FastMLP(
                    [Xd.shape[1]] + self._hidden + [n_outputs],
                    activation=self._activation,
                    output=output,
                    loss=loss,
                    dtype=dtype,
                    seed=random_state,
                    backend=self.backend,
                    init="sklearn",
                )
            if model.backend != self.backend:
                model.backend = self.backend
            class_weights = self._class_weights(cls, counts)
            job = _api.model_job(model, cls, class_weights)
            n = int(Xd.shape[0])
            scale, alpha = 1.0, float(self.alpha)
            if swd is not None or class_weights is not None:
                total = self._weight_total(c, swd, yd, job)
                if not total > 0:
                    raise ValueError("sample_weight: the training samples' weights are all zero")
                scale = n / total
                alpha *= scale
            data = _core.prepare(c, Xd, yd, swd, job, weight_scale=scale, persist=self.persist)
            if self.solver == "lbfgs":
                result = self._fit_lbfgs(c, data, job, model, alpha / n)
            else:
                result = self._fit_local(c, data, job, model, alpha, validation_data, random_state, warm)
        self._record(model, cls, result, n_outputs, names, Xd.shape[1], warm)
        return self

    def _fit_dtype(self, Xd, warm):
        if warm:
            return self.model_.dtype
        if self.dtype is not None:
            return check_dtype(self.dtype)
        return np.float32 if Xd.dtype == np.float32 else np.float64

    def _weight_total(self, client, swd, yd, job) -> float:
        """Σ of the per-row weights (sample_weight × class weight), computed on the workers."""
        import dask.array as da

        from . import _blocks

        yl = yd if yd.ndim == 1 else yd[:, 0]
        w = da.map_blocks(
            _blocks.prepare_weights, swd, yl, job, 1.0, dtype=np.float64, meta=np.empty((0,), np.float64)
        )
        return float(client.compute(w.astype(np.float64).sum()).result())

    def _fit_lbfgs(self, client, data, job, model, l2):
        def report(info):
            if self.verbose:
                print(f"Iteration {info['epoch']}, loss = {self._report(model, info['loss'], l2 / 2):.8f}")

        result = _core.lbfgs(
            client, data, job, model.get_params_vector(), l2, self.max_iter, self.max_fun, self.tol, report
        )
        result.loss_curve = [self._report(model, v, l2 / 2, result.theta) for v in result.loss_curve]
        if result.reason != "converged":
            warnings.warn(
                f"lbfgs failed to converge after {result.n_iter} iteration(s):\n{result.message}\n\n"
                "Increase the number of iterations to improve the convergence (max_iter), or scale "
                "the data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return result

    def _fit_local(self, client, data, job, model, alpha, validation_data, random_state, warm):
        seed = self._seed(random_state)
        n_rows = data.n_rows
        if self.batch_size == "auto":
            batch_size = min(200, n_rows)
        else:
            batch_size = int(min(self.batch_size, n_rows))
        if self.local_solver == "adam":
            kind, hyper = "adam", dict(beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon)
        elif self.momentum == 0:
            kind, hyper = "sgd", {}
        else:
            kind = "nesterov" if self.nesterovs_momentum else "momentum"
            hyper = dict(momentum=self.momentum)
        template = Round(
            0,
            seed,
            int(self.local_epochs),
            batch_size,
            kind,
            float(self.learning_rate_init),
            float(alpha),
            True,
            bool(self.shuffle),
            **{k: float(v) for k, v in hyper.items()},
        )
        schedule = _training.make_schedule(
            self.learning_rate if self.local_solver == "sgd" else "constant", self.power_t
        )
        early = bool(self.early_stopping)
        val = holdout = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError(
                    "validation_data: expected (X_val, y_val) or (X_val, y_val, sample_weight_val)"
                )
            Xv, _ = _core.as_dask_array(validation_data[0], "validation_data[0]")
            yv, _ = _core.as_dask_array(validation_data[1], "validation_data[1]")
            swv = None
            if len(validation_data) == 3 and validation_data[2] is not None:
                swv = _core.as_dask_array(validation_data[2], "validation_data[2]")[0]
            _core.check_xy(
                Xv, yv, swv, self.n_features_in_ if warm else model.layer_sizes[0], "validation_data[0]"
            )
            val = _core.prepare(client, Xv, yv, swv, job, persist=self.persist, what="validation_data[0]")
        elif early:
            holdout = (float(self.validation_fraction), seed)
        monitor = "val_score" if early else "loss"
        old = getattr(self, "_stopping", None) if warm else None
        if old is not None and old.monitor == monitor:
            stopping = old
            stopping.min_delta, stopping.patience = float(self.tol), self.n_iter_no_change + 1
        else:
            stopping = _training.EarlyStopping(
                monitor, self.tol, self.n_iter_no_change + 1, restore_best=early
            )
        self._stopping = stopping

        def report(info):
            if self.verbose:
                print(f"Iteration {info['epoch']}, loss = {info['loss']:.8f}")
                if "val_score" in info:
                    print(f"Validation score: {info['val_score']:f}")

        plan = _core.LocalPlan(
            int(self.max_iter),
            template,
            schedule,
            stopping,
            val,
            holdout,
            report,
            state=getattr(self, "_opt_state", None) if warm else None,
            first_round=model.n_epochs if warm else 0,
        )
        reg = -(-max(1, n_rows) // batch_size) * alpha / (2.0 * max(1, n_rows))
        result = _core.local_sgd(client, data, job, model.get_params_vector(), plan)
        result.loss_curve = [self._report(model, v, reg, result.theta) for v in result.loss_curve]
        self._opt_state = result.state
        if result.reason == "epochs" and result.n_iter == self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return result

    def _report(self, model, raw, reg_coef, theta=None):
        """A training loss in scikit-learn's convention (the regressor's squared error averaged over
        outputs, the L2 term kept whole)."""
        d = model.layer_sizes[-1]
        if self._classifier or d == 1 or model.spec.loss != "squared_error":
            return float(raw)
        th = model.get_params_vector() if theta is None else theta
        Ws = model.spec.views(th)[0]
        reg = reg_coef * sum(float(np.dot(W.ravel(), W.ravel())) for W in Ws)
        return float((raw - reg) / d + reg)

    def _record(self, model, cls, result, n_outputs, names, n_features, warm):
        _api._record(model, result.theta, cls, result)
        self.model_ = model
        self.n_features_in_ = int(n_features)
        if names is not None and not all(n.isdigit() for n in names):
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_") and not warm:
            del self.feature_names_in_
        self.n_outputs_ = int(n_outputs)
        self.n_layers_ = len(model.layer_sizes)
        self.out_activation_ = model.spec.activations[-1]
        prev = list(self.loss_curve_) if warm and hasattr(self, "loss_curve_") else []
        self.loss_curve_ = prev + list(result.loss_curve)
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else None
        self.n_iter_ = result.n_iter
        self.t_ = (getattr(self, "t_", 0) if warm else 0) + result.samples_seen
        early = self.solver == "local-sgd" and self.early_stopping
        if result.val_score_curve is not None:
            prev_v = (
                list(self.validation_scores_ or []) if warm and hasattr(self, "validation_scores_") else []
            )
            prev_l = (
                list(self.validation_loss_curve_ or [])
                if warm and hasattr(self, "validation_loss_curve_")
                else []
            )
            self.validation_scores_ = prev_v + list(result.val_score_curve)
            self.validation_loss_curve_ = prev_l + list(result.val_loss_curve)
        else:
            self.validation_scores_ = None
            self.validation_loss_curve_ = None
        if early:
            self.best_validation_score_ = max(self.validation_scores_) if self.validation_scores_ else None
            self.best_loss_ = None
        else:
            self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else np.inf
            self.best_validation_score_ = max(self.validation_scores_) if self.validation_scores_ else None

    # ----------------------------------------------------------------------------------------------
    # The fitted model
    # ----------------------------------------------------------------------------------------------
    @property
    def coefs_(self) -> list[np.ndarray]:
        """W(l), shape (fan_in, fan_out), copies of the trained weights."""
        check_is_fitted(self, "model_")
        return [W.copy() for W in self.model_.weights]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """b(l), shape (fan_out,), copies of the trained biases."""
        check_is_fitted(self, "model_")
        return [b.copy() for b in self.model_.biases]

    def _local_estimator(self):
        raise NotImplementedError

    def to_local(self):
        """A plain fitted ``fastmlp.sklearn`` estimator (no dask needed to use it) with the trained weights,
        the same parameters (``solver``: "lbfgs", or ``local_solver`` for local SGD) and fitted attributes."""
        check_is_fitted(self, "model_")
        est = self._local_estimator()
        d = self.n_features_in_
        Xs, ys = self._stub(d)
        if getattr(self, "feature_names_in_", None) is not None:
            import pandas as pd

            Xs = pd.DataFrame(Xs, columns=list(self.feature_names_in_))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.set_params(max_iter=1, early_stopping=False, warm_start=False)
            if self._classifier:
                est.set_params(class_weight=None)
            est.fit(Xs, ys)  # a stub fit builds the fitted structure; the weights are replaced below
        est.set_params(
            **{
                k: v
                for k, v in self._local_params().items()
                if k in ("max_iter", "early_stopping", "warm_start", "class_weight")
            }
        )
        est.coefs_ = [W.copy() for W in self.model_.weights]
        est.intercepts_ = [b.copy() for b in self.model_.biases]
        for attr in (
            "loss_curve_",
            "loss_",
            "n_iter_",
            "t_",
            "best_loss_",
            "validation_scores_",
            "best_validation_score_",
            "validation_loss_curve_",
        ):
            setattr(est, attr, getattr(self, attr))
        return est

    def _local_params(self) -> dict:
        params = self.get_params()
        for k in ("client", "persist", "local_epochs", "local_solver"):
            params.pop(k)
        params["solver"] = "lbfgs" if self.solver == "lbfgs" else self.local_solver
        return params

    def _forward_model(self):
        check_is_fitted(self, "model_")
        return self.model_

    def predict(self, X):
        """Predictions for X: a lazy dask array for a dask X, else a NumPy array."""
        m = self._forward_model()
        if _core.is_dask_collection(X):
            return _api.predict(m, X)
        return self.to_local().predict(X)

    def transform(self, X, layer: int = -1):
        """Activations of hidden layer ``layer`` for X (a lazy dask array for a dask X)."""
        m = self._forward_model()
        if _core.is_dask_collection(X):
            return _api.transform(m, X, layer)
        return self.to_local().transform(X, layer=layer)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags

    # A distributed.Client can be neither deep-copied nor pickled: clones share it, pickles keep its
    # scheduler's address (a fitted estimator's weights live in ``model_``, not on the cluster).
    def __sklearn_clone__(self):
        params = self.get_params(deep=False)
        client = params.pop("client")
        return type(self)(**{k: clone(v, safe=False) for k, v in params.items()}, client=client)

    def __getstate__(self):
        state = dict(super().__getstate__())
        client = state.get("client")
        if client is not None and not isinstance(client, str):
            state["client"] = getattr(getattr(client, "scheduler", None), "address", None)
        return state

    def _compute(self, *collections):
        """Compute dask collections on this estimator's cluster (its client or address, else the default
        client; with none, dask's local scheduler: scoring never starts a cluster of its own)."""
        if self.client is None:
            try:
                from distributed import get_client

                get_client()
            except ValueError:
                import dask

                return list(dask.compute(*collections))
        with _core.cluster_client(self.client) as c:
            return c.compute(list(collections), sync=True)


class DaskMLPClassifier(ClassifierMixin, _DaskMLP):
    """``FastMLPClassifier`` trained on a Dask cluster (binary, multiclass and multilabel targets).

    Parameters: those of ``fastmlp.sklearn.FastMLPClassifier`` with ``solver`` "lbfgs" (default) or
    "local-sgd"; ``local_solver`` ("adam" or "sgd": the optimizer inside each block), ``local_epochs`` (epochs
    per block per round), ``client`` (a ``distributed.Client``, a scheduler address, or None) and
    ``persist`` ("auto", True, False)."""

    _classifier = True

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation=DEFAULT_HIDDEN,
        *,
        solver="lbfgs",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        class_weight=None,
        dtype=None,
        backend="auto",
        local_solver="adam",
        local_epochs=1,
        client=None,
        persist="auto",
    ):
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
        self.local_solver = local_solver
        self.local_epochs = local_epochs
        self.client = client
        self.persist = persist

    def _targets(self, client, yd, classes, warm):
        """(classes, counts or None, n_outputs): labels found in one pass over y, or the multilabel width."""
        if yd.ndim == 2 and yd.shape[1] > 1:
            if self.class_weight is not None:
                raise ValueError("class_weight: not supported for multilabel targets; use sample_weight")
            self._multilabel = True
            self.classes_ = np.arange(yd.shape[1])
            return None, None, int(yd.shape[1])
        self._multilabel = False
        if warm:
            return np.asarray(self.classes_), getattr(self, "_class_counts", None), self.n_outputs_
        need_counts = isinstance(self.class_weight, str) and self.class_weight == "balanced"
        counts = None
        if classes is not None:
            cls = np.unique(np.asarray(classes))
            if need_counts:  # labels outside ``classes`` are reported by the workers when they encode y
                found, found_counts = _core.find_classes(client, yd, True)
                counts = np.zeros(len(cls))
                known = np.isin(found, cls)
                counts[np.searchsorted(cls, found[known])] = found_counts[known]
        elif need_counts:
            cls, counts = _core.find_classes(client, yd, True)
        else:
            cls = _core.find_classes(client, yd)
        if len(cls) < 2:
            raise ValueError(f"y: needs samples of at least 2 classes, got {cls.tolist()}")
        self.classes_ = cls
        self._class_counts = counts
        return cls, counts, (1 if len(cls) == 2 else len(cls))

    def _output_and_loss(self, n_outputs, cls):
        loss = "cross_entropy" if cls is not None and len(cls) > 2 else "binary_cross_entropy"
        return OUTPUT_OF_LOSS[loss], loss

    def _class_weights(self, cls, counts):
        cw = self.class_weight
        if cw is None or cls is None:
            return None
        if isinstance(cw, str) and cw == "balanced":
            present = counts > 0
            per = np.ones(len(cls))
            per[present] = counts.sum() / (present.sum() * counts[present].astype(np.float64))
            return per
        if not isinstance(cw, dict):
            raise ParameterError(f"class_weight: expected None, 'balanced' or a dict, got {cw!r}")
        return _training.class_sample_weights(cw, cls, cls, np.float64)

    def _stub(self, d):
        if getattr(self, "_multilabel", False):
            k = len(self.classes_)
            return np.zeros((2, d), self.model_.dtype), np.vstack([np.zeros(k, int), np.ones(k, int)])
        return np.zeros((len(self.classes_), d), self.model_.dtype), np.asarray(self.classes_)

    def _local_estimator(self):
        from ..sklearn import FastMLPClassifier

        return FastMLPClassifier(**self._local_params())

    def predict_proba(self, X):
        """Class probabilities (n, n_classes): a lazy dask array for a dask X, else a NumPy array."""
        m = self._forward_model()
        if _core.is_dask_collection(X):
            return _api.predict_proba(m, X)
        return self.to_local().predict_proba(X)

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of ``predict(X)`` against y (exact match for multilabel), computed where the data is."""
        if not _core.is_dask_collection(X):
            return self.to_local().score(X, y, sample_weight)
        pred = self.predict(X)
        yd, _ = _core.as_dask_array(y, "y", need_lengths=False)
        correct = (pred == yd) if pred.ndim == 1 else (pred == yd).all(axis=1)
        if yd.ndim == 2 and pred.ndim == 1:
            correct = pred == yd[:, 0]
        if sample_weight is None:
            return float(self._compute(correct.mean())[0])
        sw, _ = _core.as_dask_array(sample_weight, "sample_weight", need_lengths=False)
        return float(self._compute((correct * sw).sum() / sw.sum())[0])


class DaskMLPRegressor(RegressorMixin, _DaskMLP):
    """``FastMLPRegressor`` trained on a Dask cluster (one or several outputs; ``loss`` "squared_error"
    or "poisson"). Parameters: see ``DaskMLPClassifier``."""

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation=DEFAULT_HIDDEN,
        *,
        solver="lbfgs",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dtype=None,
        backend="auto",
        local_solver="adam",
        local_epochs=1,
        client=None,
        persist="auto",
    ):
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
        self.local_solver = local_solver
        self.local_epochs = local_epochs
        self.client = client
        self.persist = persist

    def _check_params(self):
        check_choice("loss", self.loss, ("squared_error", "poisson"))
        super()._check_params()

    def _targets(self, client, yd, classes, warm):
        if classes is not None:
            raise ValueError("classes: a regressor takes no classes")
        return None, None, (1 if yd.ndim == 1 else int(yd.shape[1]))

    def _output_and_loss(self, n_outputs, cls):
        if self.loss == "poisson":
            return OUTPUT_OF_LOSS["poisson"], "poisson"
        return REGRESSION_OUTPUT, "squared_error"

    def _class_weights(self, cls, counts):
        return None

    def _stub(self, d):
        k = self.n_outputs_
        y = np.zeros(2) if k == 1 else np.zeros((2, k))
        return np.zeros((2, d), self.model_.dtype), y

    def _local_estimator(self):
        from ..sklearn import FastMLPRegressor

        return FastMLPRegressor(**self._local_params())

    def score(self, X, y, sample_weight=None) -> float:
        """R² of ``predict(X)`` (averaged over outputs), computed where the data is."""
        if not _core.is_dask_collection(X):
            return self.to_local().score(X, y, sample_weight)
        import dask.array as da

        pred = self.predict(X)
        yd, _ = _core.as_dask_array(y, "y", need_lengths=False)
        P = pred if pred.ndim == 2 else pred[:, None]
        Y = (yd if yd.ndim == 2 else yd[:, None]).astype(np.float64)
        w = None if sample_weight is None else _core.as_dask_array(sample_weight, "sample_weight", False)[0]
        ww = 1.0 if w is None else w[:, None]
        wsum = da.ones_like(Y[:, 0]).sum() if w is None else w.sum()
        sy, sy2, ssr, wtot = self._compute(
            (ww * Y).sum(axis=0), (ww * Y * Y).sum(axis=0), (ww * (Y - P) ** 2).sum(axis=0), wsum
        )
        ss_tot = sy2 - sy * sy / wtot
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(ss_tot > 0, 1 - ssr / np.where(ss_tot > 0, ss_tot, 1), np.where(ssr == 0, 1.0, 0.0))
        return float(np.mean(r2))
