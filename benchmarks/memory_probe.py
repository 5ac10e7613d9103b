"""Peak memory of one W1 epoch (FastMLP.fit, 60000×784 float32, batch 128), measured in a fresh process.

    python benchmarks/memory_probe.py [--threads N] [--rows 60000] [--batch 128]

Prints one JSON object. Method:

1. Import everything, generate the data in float32 (chunked, no float64 temporary), build the model and
   warm up BLAS with one product of the first layer's shape (so its thread buffers are resident).
2. RSS phase: read the resident set, reset the kernel's peak-RSS mark (``/proc/self/clear_refs`` 5, Linux
   >= 4.0), run the fit, read the peak (VmHWM). growth = peak - resident before the fit. This is all
   memory the epoch added on top of data + model: workspaces, index arrays, temporaries, allocator.
3. tracemalloc phase: a fresh model, ``tracemalloc`` on, the same fit; the traced peak counts every
   NumPy/Python allocation made during fit (NumPy reports its buffers to tracemalloc).

Both are compared with what the epoch must allocate: the Network workspace (O(batch): the gathered
input rows, one activation and one delta buffer per layer, targets, weights, labels), the optimizer state
(none for plain SGD), the row order fit keeps (O(n): ``train_idx`` and the shuffled ``order``, intp) and
one copy of the parameter vector (O(model): the weights before the epoch, put back if it diverges).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import bench_common as bc  # noqa: E402
from fastmlp._netspec import NEEDS_Z  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def hwm_bytes():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def reset_hwm():
    """Reset VmHWM to the current RSS; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def workspace_bytes(spec, batch, itemsize):
    """Bytes of the Network buffers of both backends for max_batch = batch."""
    sizes = spec.sizes
    floats = batch * sizes[0]                                   # A[0]: gathered input rows
    floats += sum(2 * batch * m for m in sizes[1:])             # A[l], D[l]
    floats += sum(batch * sizes[l + 1] for l, a in enumerate(spec.activations) if a in NEEDS_Z)
    floats += batch * sizes[-1] + batch                         # gathered float targets, sample weights
    return floats * itemsize + batch * np.dtype(np.intp).itemsize   # gathered labels


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rows", type=int, default=60000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--workload", default="W1")
    args = ap.parse_args(argv)
    import tracemalloc

    wl, n, B = args.workload, args.rows, args.batch
    with threadpool_limits(args.threads):
        rss_start = rss_bytes()
        X, y = bc.data(wl, n)
        data_bytes = X.nbytes + y.nbytes
        m = bc.fastmlp_model(wl, "cython")
        model_bytes = m._theta.nbytes + m._grad.nbytes
        sizes = bc.WORKLOADS[wl][0]
        warm = bc.GemmFloor(sizes[:2], B, train=False)  # BLAS thread buffers resident before measuring
        warm()
        del warm
        rss_before = rss_bytes()
        can_reset = reset_hwm()
        t0 = time.perf_counter()
        m.fit(X, y, epochs=1, batch_size=B, lr=bc.LR, verbose=False)
        fit_s = time.perf_counter() - t0
        peak = hwm_bytes()
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

        m2 = bc.fastmlp_model(wl, "cython")
        tracemalloc.start()
        base_traced = tracemalloc.get_traced_memory()[0]
        m2.fit(X, y, epochs=1, batch_size=B, lr=bc.LR, verbose=False)
        traced_peak = tracemalloc.get_traced_memory()[1] - base_traced
        tracemalloc.stop()

    ws = workspace_bytes(m.spec, B, np.dtype(bc.DTYPE).itemsize)
    order_bytes = 2 * n * np.dtype(np.intp).itemsize
    opt_bytes = m._optimizer.state1.nbytes + m._optimizer.state2.nbytes
    rollback_bytes = m.get_params_vector().nbytes  # the weights before each epoch, put back if it diverges
    expected = ws + order_bytes + opt_bytes + rollback_bytes
    out = {
        "workload": wl, "rows": n, "batch": B, "threads": args.threads,
        "data_bytes": data_bytes, "model_bytes": model_bytes,
        "workspace_bytes": ws, "order_bytes": order_bytes, "optimizer_bytes": opt_bytes,
        "rollback_bytes": rollback_bytes,
        "expected_growth_bytes": expected,
        "rss_start_bytes": rss_start, "rss_before_fit_bytes": rss_before,
        "peak_rss_bytes": peak if can_reset else maxrss, "hwm_reset": can_reset, "ru_maxrss_bytes": maxrss,
        "rss_growth_bytes": (peak if can_reset else maxrss) - rss_before,
        "traced_peak_bytes": traced_peak,
        "fit_seconds": fit_s,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
