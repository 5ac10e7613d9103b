"""Parametrisation and helpers shared by the benchmark modules (kept out of conftest.py so that importing
them never picks up another directory's conftest)."""
from __future__ import annotations

import os
import time

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


class LoadMeter:
    """What else the machine did while a benchmark ran (Linux /proc/stat): ``steal`` = fraction of CPU
    time the hypervisor gave to other guests, ``others`` = fraction of this VM's CPU capacity used by
    processes other than this one. Either one above a few percent means the figures are suspect."""

    def __init__(self):
        self.result = {}

    @staticmethod
    def _stat():
        try:
            with open("/proc/stat") as fh:
                vals = [int(v) for v in fh.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        # user nice system idle iowait irq softirq steal [guest guest_nice] (guest is inside user)
        busy = sum(vals[:3]) + sum(vals[5:7])
        return busy, vals[7] if len(vals) > 7 else 0, sum(vals[:8])

    def __enter__(self):
        self.t0, self.s0, self.c0 = time.perf_counter(), self._stat(), os.times()
        return self

    def __exit__(self, *exc):
        s1, c1 = self._stat(), os.times()
        wall = time.perf_counter() - self.t0
        if self.s0 is None or s1 is None or wall <= 0:
            return False
        hz = os.sysconf("SC_CLK_TCK")
        ncpu = os.cpu_count() or 1
        busy, steal, total = (b - a for a, b in zip(self.s0, s1))
        ours = (c1.user - self.c0.user) + (c1.system - self.c0.system)
        self.result = {"wall_s": wall, "steal": steal / total if total else 0.0,
                       "others": max(0.0, (busy / hz - ours) / (wall * ncpu))}
        return False
