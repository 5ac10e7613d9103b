"""fastmlp against its GEMM floor, paired: the two alternate in short blocks within one benchmark, so a
burst of load from another process hits both (the separate benchmarks of test_bench_train.py are taken
seconds apart). Both run on scipy's OpenBLAS pool, so alternating them costs no pool hand-over.

report.py decides the fastmlp/floor targets on this ratio and shows the separate-benchmark ratio beside
it. The time pytest-benchmark records is the whole paired run (meaningless); the figures are in
extra_info.
"""
import time

import pytest

import bench_common as bc
from bench_params import COOLDOWN, LoadMeter, limits as _limits

CASES = [("W1", 128), ("W1", 512), ("W2", 256), ("W4", 64)]
BUDGET = {"W2": 4.0}


@pytest.mark.parametrize("case, threads", [pytest.param(c, t, id=f"{c[0]}-b{c[1]}-t{t}")
                                           for c in CASES for t in bc.THREADS])
def test_paired_floor(benchmark, case, threads):
    with _limits(threads):
        try:
            fa = bc.make("train", "fastmlp", case, threads)
            fb = bc.make("train", "floor", case, threads)
        except bc.Unavailable as exc:
            pytest.skip(str(exc))
        result = {}
        if benchmark.disabled:  # --benchmark-disable (a smoke run): one block each
            opts = dict(budget=0.0, block=0.0, min_blocks=1)
        else:
            opts = dict(budget=BUDGET.get(case[0], 2.0))
            time.sleep(COOLDOWN)
        with LoadMeter() as load:
            benchmark.pedantic(lambda: result.update(bc.paired(fa, fb, **opts)), rounds=1, iterations=1)
    benchmark.extra_info.update(kind="paired", case=list(case), workload=case[0], threads=threads,
                                column="fastmlp/floor", label=bc.case_label("train", case), per=1,
                                paired=result, load=load.result)
