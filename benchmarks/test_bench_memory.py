"""Peak memory of a W1 epoch beyond the data, measured in a fresh subprocess (memory_probe.py).

The time pytest-benchmark records here is the whole subprocess (data generation included) and means
nothing; the figures are in ``extra_info`` and report.py prints them.
"""
import json
import os
import subprocess
import sys

import pytest

import bench_common as bc

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "memory_probe.py")


@pytest.mark.parametrize("threads", bc.THREADS, ids=lambda t: f"t{t}")
def test_epoch_memory(benchmark, threads):
    if bc._kernels is None:
        pytest.skip(f"fastmlp._kernels is not built ({bc._KERNELS_ERROR})")
    result = {}

    def probe():
        out = subprocess.run([sys.executable, PROBE, "--threads", str(threads)], capture_output=True,
                             text=True, check=True)
        result.update(json.loads(out.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(probe, rounds=1, iterations=1)
    benchmark.extra_info.update(kind="memory", column="fastmlp", threads=threads, workload="W1",
                                case=["W1", result["rows"], result["batch"]], per=1,
                                label="W1 epoch peak memory", memory=result)
    # The traced peak (every NumPy/Python allocation of the fit) is what the epoch allocates; it must not
    # scale with the data beyond the row order.
    assert result["traced_peak_bytes"] < result["data_bytes"] / 10
