"""Parametrisation and helpers shared by the benchmark modules (kept out of conftest.py so that importing
them never picks up another directory's conftest)."""
from __future__ import annotations

import pytest

import bench_common as bc

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - threadpoolctl is in the bench extra
    threadpool_limits = None

# Seconds to wait between a benchmark's setup and its timing: OpenBLAS workers spin ~0.1 s after their
# last call (THREAD_TIMEOUT 2^28 cycles) and torch's OpenMP threads for a while too; on 2 cores a pool
# left spinning by the previous column (numpy's OpenBLAS, scipy's, torch's) halves the next one's speed.
COOLDOWN = 0.3


def limits(threads):
    """threadpoolctl's limit on every loaded BLAS/OpenMP pool (skips without threadpoolctl)."""
    if threadpool_limits is None:
        pytest.skip("threadpoolctl is not installed (needed to pin the BLAS thread count)")
    return threadpool_limits(limits=threads)

# Marker options of every timed (non-pedantic) benchmark: at least 5 rounds, about 1 s each, a few
# warm-up calls first (BLAS threads wake, caches fill); per-workload overrides via ``params(**opts)``.
DEFAULT_OPTS = dict(min_rounds=5, max_time=1.0, warmup=True, warmup_iterations=20)


def params(kind, cases, **opts_by_workload):
    """pytest.param(kind, case, threads, column) in run order: for each case and thread count, the
    columns back to back (fastmlp first, then its floor). ``opts_by_workload``: benchmark marker options
    that replace the defaults for some workloads (e.g. fewer warm-ups for the slow W2)."""
    out = []
    for case in cases:
        opts = dict(DEFAULT_OPTS, **opts_by_workload.get(case[0], {}))
        for threads in bc.THREADS:
            group = f"{bc.case_label(kind, case)} | {threads} thread(s)"
            for column in bc.COLUMNS:
                out.append(pytest.param(kind, case, threads, column,
                                        marks=[pytest.mark.benchmark(group=group, **opts)],
                                        id=f"{bc.case_id(kind, case)}-t{threads}-{column}"))
    return out
