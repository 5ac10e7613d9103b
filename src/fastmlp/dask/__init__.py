"""fastmlp on a Dask cluster: train, predict and search where the data lives.

    from fastmlp.dask import DaskMLPClassifier
    clf = DaskMLPClassifier(hidden_layer_sizes=(256, 128), solver="lbfgs", random_state=0).fit(X, y)
    clf.predict(X)               # a lazy dask array
    clf.to_local()               # a plain fitted fastmlp.sklearn.FastMLPClassifier

X and y are dask arrays (or dask DataFrames/Series) chunked by rows; they are never gathered on the client.

* ``solver="lbfgs"`` — exact full-batch L-BFGS: each evaluation, every block computes its loss and gradient
  sums with the compiled kernels, a reduction tree of fixed shape adds them in float64, scipy's L-BFGS-B
  steps on the client. The same data and chunking give the same weights, bit for bit, on any number of
  workers and on every run, and the result matches single-process ``FastMLP`` L-BFGS to rounding.
* ``solver="local-sgd"`` — rounds of data-parallel minibatch training: every block runs ``local_epochs``
  epochs of the compiled epoch loop from the current weights, and the weights and optimizer state are
  averaged, weighted by rows. Shuffles are seeded by ``SeedSequence([random_state, round, block])``.
* ``predict`` / ``predict_proba`` / ``transform`` of any fitted model over a dask array: ``map_blocks``, lazy.

Functions for a ``FastMLP``: ``fit_lbfgs``, ``fit_local_sgd``, ``predict``, ``predict_proba``,
``transform``. ``client`` everywhere is a ``distributed.Client``, a scheduler address, or None (the current
client, else a ``LocalCluster`` of one-thread worker processes started for the call and shut down after).

Needs ``pip install 'fastmlp[dask]'``; ``import fastmlp`` never imports dask.
"""

from __future__ import annotations

try:
    import dask  # noqa: F401
    import distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError("fastmlp.dask needs dask and distributed: pip install 'fastmlp[dask]'") from exc

from ._api import fit_lbfgs, fit_local_sgd, predict, predict_proba, transform
from ._core import cluster_client, connect


def __getattr__(name: str):
    # The estimators import scikit-learn (and with it pandas): only when asked for, so that the worker
    # processes, which import this package to run the tasks of ``_blocks``, stay small.
    if name in ("DaskMLPClassifier", "DaskMLPRegressor"):
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DaskMLPClassifier",
    "DaskMLPRegressor",
    "fit_lbfgs",
    "fit_local_sgd",
    "predict",
    "predict_proba",
    "transform",
    "cluster_client",
    "connect",
]
