"""pytest-benchmark plumbing for the fastmlp suite: ``pytest benchmarks/ --benchmark-only``.

Each benchmark is one (kind, case, threads, column) of ``bench_common``; the timed callable is built
inside ``threadpoolctl.threadpool_limits(threads)`` (PyTorch gets ``torch.set_num_threads``), and the
benchmark's ``extra_info`` carries the coordinates that ``report.py`` reads back from the JSON.
Columns whose library is missing (PyTorch, scikit-learn) or an unbuilt extension are skipped.
"""
from __future__ import annotations

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Load the BLAS libraries now, so that threadpoolctl sees (and limits) both numpy's and scipy's OpenBLAS.
import scipy.linalg.cython_blas  # noqa: E402,F401

import bench_common as bc  # noqa: E402
from bench_params import COOLDOWN, LoadMeter, limits as _limits  # noqa: E402


def pytest_configure(config):
    """The suite times the installed, compiled fastmlp: without its kernels it stops here with one line
    (a run of skipped fastmlp columns would look green and measure nothing)."""
    problem = bc.kernels_problem()
    if problem is not None:
        pytest.exit(problem, returncode=4)


def _make(kind, column, case, threads):
    try:
        return bc.make(kind, column, case, threads)
    except bc.Unavailable as exc:
        pytest.skip(str(exc))


def _info(benchmark, kind, case, threads, column, per=1):
    benchmark.extra_info.update(kind=kind, case=list(case), workload=case[0], threads=threads,
                                column=column, label=bc.case_label(kind, case), per=per)


@pytest.fixture
def run_bench(benchmark):
    """run_bench(kind, case, threads, column): time the column's callable with pytest-benchmark's
    calibration (rounds and iterations from the benchmark marker)."""
    def run(kind, case, threads, column):
        with _limits(threads):
            fn = _make(kind, column, case, threads)
            _info(benchmark, kind, case, threads, column)
            if not benchmark.disabled:
                time.sleep(COOLDOWN)
            with LoadMeter() as load:
                benchmark(fn)
            benchmark.extra_info["load"] = load.result
    return run


@pytest.fixture
def run_pedantic(benchmark):
    """run_pedantic(kind, case, threads, column, rounds, per=1): fixed rounds of one call each (long
    runs such as an epoch); ``per`` divides the time for per-unit figures (µs per sample)."""
    def run(kind, case, threads, column, rounds, per=1, warmup_rounds=0):
        with _limits(threads):
            fn = _make(kind, column, case, threads)
            _info(benchmark, kind, case, threads, column, per=per)
            if not benchmark.disabled:
                time.sleep(COOLDOWN)
            with LoadMeter() as load:
                benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=warmup_rounds)
            benchmark.extra_info["load"] = load.result
    return run


def pytest_benchmark_update_machine_info(config, machine_info):
    """Record which BLAS ran and whether OPENBLAS_* variables were set (they change OpenBLAS's kernels)."""
    machine_info["fastmlp_blas"] = bc.blas_info()
    try:
        from fastmlp import _kernels
        machine_info["fastmlp_simd"] = _kernels.simd_path()
    except ImportError:
        machine_info["fastmlp_simd"] = None
