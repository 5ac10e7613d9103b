"""The public calls users make (issue 12), every column, 1 and 2 threads.

fastmlp / numpy: ``FastMLP.partial_fit(X, y, batch_size=len(X), lr=0.01, optimizer="sgd")``,
``predict_proba(X)`` or ``predict(X)`` on a fitted model (input validation, label mapping, decoding: all of
it); floor: the call's matrix products alone, ``np.matmul`` into preallocated outputs; torch: the same
step or inference from NumPy arrays; sklearn: ``partial_fit`` / ``predict_proba`` / ``predict``.
``Network``-level timings (test_bench_train.py, breakdown.py) explain a gap; these are the figures users see.
"""
import pytest

import bench_common as bc
from bench_params import params

W1 = dict(min_rounds=5, warmup_iterations=3)


@pytest.mark.parametrize("kind, case, threads, column", params("api", bc.API_CASES, W1=W1))
def test_public_call(run_bench, kind, case, threads, column):
    run_bench(kind, case, threads, column)
