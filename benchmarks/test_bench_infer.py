"""Inference on 4096 rows and single-row predict latency, every column, 1 and 2 threads.

fastmlp / numpy: ``FastMLP.predict`` (input validation on, labels decoded); floor: the forward GEMMs;
torch: from_numpy + forward under inference_mode + argmax; sklearn: ``predict``.
"""
import pytest

import bench_common as bc
from bench_params import params

W2 = dict(min_rounds=5, warmup_iterations=1)


@pytest.mark.parametrize("kind, case, threads, column", params("infer", bc.INFER_CASES, W2=W2))
def test_inference(run_bench, kind, case, threads, column):
    run_bench(kind, case, threads, column)


@pytest.mark.parametrize("kind, case, threads, column", params("latency", bc.LATENCY_CASES))
def test_single_row_predict(run_bench, kind, case, threads, column):
    run_bench(kind, case, threads, column)
