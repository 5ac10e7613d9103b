"""Paired ratios: fastmlp and the other column alternate in blocks inside one benchmark, so a burst of
outside load (or a neighbour's memory traffic) hits both; the separate benchmarks of the other modules
are taken seconds to minutes apart. report.py decides every ratio target on these and shows the
separate-benchmark ratio beside it.

fastmlp and its floor share scipy's OpenBLAS pool and alternate in short blocks with no pause. torch
(OpenMP) and sklearn / the NumPy backend (numpy's OpenBLAS) use other pools: their blocks are longer
and each is preceded by a COOLDOWN sleep, so no pool is still spinning when the other starts.

The time pytest-benchmark records is the whole paired run (meaningless); the figures are in extra_info.
"""
import time

import pytest

import bench_common as bc
from bench_params import COOLDOWN, LoadMeter, limits

# (kind, case, other column, paired() options); ratio = fastmlp / other.
SAME_POOL = dict(budget=2.0, block=0.02, min_blocks=6)
OTHER_POOL = dict(budget=4.0, block=0.25, min_blocks=6, gap=COOLDOWN)
PAIRS = [
    ("train", ("W1", 128), "floor", SAME_POOL),
    ("train", ("W1", 512), "floor", SAME_POOL),
    ("train", ("W2", 256), "floor", dict(SAME_POOL, budget=4.0)),
    ("train", ("W4", 64), "floor", SAME_POOL),
    ("infer", ("W4", 4096), "torch", OTHER_POOL),
    ("latency", ("W1", 1), "torch", OTHER_POOL),
    ("latency", ("W1", 1), "sklearn", OTHER_POOL),
    # one epoch per block: 3 of each (about 6-8 s per pair)
    ("epoch", ("W1", 60000, 128), "sklearn", dict(budget=0.0, block=0.0, min_blocks=3, gap=COOLDOWN)),
    ("epoch", ("W1", 60000, 128), "torch", dict(budget=0.0, block=0.0, min_blocks=3, gap=COOLDOWN)),
] + [
    # issue 12: each public call against its np.matmul floor (numpy's OpenBLAS: another pool)
    ("api", case, "floor", dict(budget=2.0, block=0.2, min_blocks=6, gap=COOLDOWN)) for case in bc.API_CASES
]


@pytest.mark.parametrize("kind, case, other, opts, threads", [
    pytest.param(k, c, o, opts, t, id=f"{bc.case_id(k, c)}-fastmlp-vs-{o}-t{t}")
    for k, c, o, opts in PAIRS for t in bc.THREADS])
def test_paired(benchmark, kind, case, other, opts, threads):
    with limits(threads):
        try:
            fa = bc.make(kind, "fastmlp", case, threads)
            fb = bc.make(kind, other, case, threads)
        except bc.Unavailable as exc:
            pytest.skip(str(exc))
        result = {}
        if benchmark.disabled:  # --benchmark-disable (a smoke run): one block each
            opts = dict(budget=0.0, block=0.0, min_blocks=1)
        else:
            time.sleep(COOLDOWN)
        with LoadMeter() as load:
            benchmark.pedantic(lambda: result.update(bc.paired(fa, fb, **opts)), rounds=1, iterations=1)
    benchmark.extra_info.update(kind="paired", pair_kind=kind, case=list(case), workload=case[0],
                                threads=threads, column=f"fastmlp/{other}", other=other,
                                label=bc.case_label(kind, case), per=1, paired=result, load=load.result)
