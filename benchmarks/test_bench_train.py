"""Training step of one minibatch (forward, loss, backward, SGD update), every column, 1 and 2 threads.

fastmlp / numpy: ``Network.train_step`` (one call, fused SGD); floor: the step's GEMMs alone;
torch: zero_grad/forward/loss/backward/SGD.step; sklearn: ``partial_fit`` on exactly one batch.
"""
import pytest

import bench_common as bc
from bench_params import params

W2 = dict(min_rounds=10, warmup_iterations=2)


@pytest.mark.parametrize("kind, case, threads, column", params("train", bc.TRAIN_CASES, W2=W2))
def test_train_step(run_bench, kind, case, threads, column):
    run_bench(kind, case, threads, column)


def test_gemm_call_overhead(benchmark):
    """One ``_kernels.gemm`` call on 1x1 operands: the Python cost each floor call carries (it matters
    only for the tiny W3/W4 floors)."""
    try:
        fn = bc.make_gemm_call_overhead()
    except bc.Unavailable as exc:
        pytest.skip(str(exc))
    benchmark.extra_info.update(kind="overhead", column="gemm_call", threads=1, label="gemm call 1x1",
                                workload="-", case=[], per=1)
    benchmark(fn)
