"""One training epoch end to end (pedantic: a fixed number of single-call rounds), 1 and 2 threads.

W1: 60000x784 float32 at batch 128. W3: per-sample SGD (batch 1) over 4000 rows; report.py divides by the
row count (µs per sample). fastmlp / numpy: ``FastMLP.fit(epochs=1)``; floor: the GEMMs of every step;
torch: an idiomatic randperm loop; sklearn: ``partial_fit`` over the whole set (one shuffled epoch).
"""
import pytest

import bench_common as bc
from bench_params import params

# Rounds per column: the fast columns get more, the slow ones (seconds per epoch) 3.
ROUNDS = {
    "W1": {"fastmlp": 5, "floor": 5, "numpy": 3, "torch": 3, "sklearn": 3},
    "W3": {"fastmlp": 200, "floor": 20, "numpy": 3, "torch": 3, "sklearn": 3},
}


@pytest.mark.parametrize("kind, case, threads, column", params("epoch", bc.EPOCH_CASES))
def test_epoch(run_pedantic, kind, case, threads, column):
    wl, rows, batch = case
    run_pedantic(kind, case, threads, column, rounds=ROUNDS[wl][column], per=rows,
                 warmup_rounds=1 if column in ("fastmlp", "floor") else 0)
