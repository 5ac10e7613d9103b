"""fastmlp.sklearn vs scikit-learn's own MLPs on scikit-learn's bundled datasets, side by side.

    python benchmarks/compare_sklearn.py [--repeats 3] [--threads N] [--quick]

For each dataset and solver both estimators get the same settings and random_state (so they start from the
same weights and see the same minibatches); the table shows the held-out accuracy (classifiers) or R²
(regressor) and the median fit time over the repeats, for scikit-learn, fastmlp on the same float64 data,
and fastmlp on float32 data (scikit-learn also keeps float32, so its float32 time is shown too).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from fastmlp.sklearn import FastMLPClassifier, FastMLPRegressor  # noqa: E402

# (dataset, solver, settings shared by both estimators)
CASES = [
    ("digits", "adam", dict(hidden_layer_sizes=(100,), max_iter=200)),
    ("digits", "sgd", dict(hidden_layer_sizes=(100,), max_iter=200, learning_rate_init=0.01)),
    ("digits", "lbfgs", dict(hidden_layer_sizes=(100,), max_iter=200)),
    ("breast_cancer", "adam", dict(hidden_layer_sizes=(100,), max_iter=200)),
    ("breast_cancer", "sgd", dict(hidden_layer_sizes=(100,), max_iter=200, learning_rate_init=0.01)),
    ("breast_cancer", "lbfgs", dict(hidden_layer_sizes=(100,), max_iter=200, alpha=1.0)),
    ("diabetes", "adam", dict(hidden_layer_sizes=(100,), max_iter=500, early_stopping=True)),
    ("diabetes", "sgd", dict(hidden_layer_sizes=(32,), max_iter=300, learning_rate_init=0.002, alpha=1.0)),
    ("diabetes", "lbfgs", dict(hidden_layer_sizes=(16,), max_iter=500, alpha=10.0)),
]
LOADERS = {"digits": load_digits, "breast_cancer": load_breast_cancer, "diabetes": load_diabetes}


def load(name):
    X, y = LOADERS[name](return_X_y=True)
    if name == "diabetes":
        y = y / 100.0
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr), scaler.transform(Xte), ytr, yte


def run(Est, params, Xtr, ytr, Xte, yte, repeats):
    times, score = [], None
    for _ in range(repeats):
        est = Est(**params)
        t0 = time.perf_counter()
        est.fit(Xtr, ytr)
        times.append(time.perf_counter() - t0)
        score = est.score(Xte, yte)
    return score, float(np.median(times)), est.n_iter_


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="fits per estimator (median time reported)")
    ap.add_argument("--threads", type=int, default=None, help="limit BLAS threads (threadpoolctl)")
    ap.add_argument("--quick", action="store_true", help="one repeat, adam only")
    args = ap.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    cases = [c for c in CASES if c[1] == "adam"] if args.quick else CASES
    limiter = None
    if args.threads:
        from threadpoolctl import threadpool_limits
        limiter = threadpool_limits(args.threads)
    warnings.simplefilter("ignore", ConvergenceWarning)

    head = (f"{'dataset':<14}{'solver':<7}{'metric':<7}{'sklearn':>9}{'fastmlp':>9}{'f32':>8}"
            f"{'iters':>10} | {'sklearn s':>10}{'fastmlp s':>10}{'speedup':>8} | "
            f"{'sk f32 s':>9}{'fm f32 s':>9}{'speedup':>8}")
    print(head)
    print("-" * len(head))
    for name, solver, settings in cases:
        Xtr, Xte, ytr, yte = load(name)
        reg = name == "diabetes"
        Ref, Ours = (MLPRegressor, FastMLPRegressor) if reg else (MLPClassifier, FastMLPClassifier)
        params = dict(settings, solver=solver, random_state=0)
        s_ref, t_ref, it_ref = run(Ref, params, Xtr, ytr, Xte, yte, repeats)
        s_fm, t_fm, it_fm = run(Ours, params, Xtr, ytr, Xte, yte, repeats)
        X32tr, X32te = Xtr.astype(np.float32), Xte.astype(np.float32)
        _, t_ref32, _ = run(Ref, params, X32tr, ytr, X32te, yte, repeats)
        s_fm32, t_fm32, _ = run(Ours, params, X32tr, ytr, X32te, yte, repeats)
        print(f"{name:<14}{solver:<7}{'R2' if reg else 'acc':<7}{s_ref:>9.4f}{s_fm:>9.4f}{s_fm32:>8.4f}"
              f"{f'{it_ref}/{it_fm}':>10} | {t_ref:>10.3f}{t_fm:>10.3f}{t_ref / t_fm:>7.1f}x | "
              f"{t_ref32:>9.3f}{t_fm32:>9.3f}{t_ref32 / t_fm32:>7.1f}x", flush=True)
    if limiter is not None:
        limiter.restore_original_limits()


if __name__ == "__main__":
    main()
