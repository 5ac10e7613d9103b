"""Where the time of one benchmark case goes: fastmlp against its parts, timed interleaved.

    python benchmarks/breakdown.py train W1 128 [--threads 1,2]     # a training step
    python benchmarks/breakdown.py infer W4 4096                    # FastMLP.predict on many rows
    python benchmarks/breakdown.py latency W1 1                     # single-row predict
    python benchmarks/breakdown.py epoch W1 60000 128               # FastMLP.fit(epochs=1)

Every variant runs in short blocks, round-robin, so all see the same machine load; the table gives medians.
The parts are timed on their own (through the public kernels of ``fastmlp._kernels``), so they add up
to the whole only approximately (caches are warmer or colder than inside the step).

train:   fastmlp step | floor (issue 3's GEMMs, beta=0 into separate buffers) | fused floor (the step's
         own GEMM sequence: bias pre-filled forward with beta=1, the SGD update fused into the weight
         gradient GEMM with beta=1) | elementwise (activation forward + backprop, softmax-CE / squared
         error, through the kernels; includes one Python call each)
infer:   predict | Network.forward | forward GEMMs (one call per layer, all rows) | the same in 1024-row
         chunks (as Network.forward) | bias+GEMM+activation per layer (dense_forward) | activations alone |
         all_finite (validation) | decoding
latency: predict | forward (validation + inference) | _infer (no validation) | Network.forward | floor |
         first-layer GEMM | remaining GEMMs | check_array | decoding
epoch:   fit | Network.train_epoch (no validation, same order) | floor (every step's GEMMs) |
         all_finite over the data | gathering the shuffled minibatches (NumPy fancy indexing)
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import bench_common as bc  # noqa: E402
from bench_params import LoadMeter  # noqa: E402
from fastmlp._netspec import Optimizer  # noqa: E402
from fastmlp.validation import check_array  # noqa: E402

ACT = {"sigmoid": "logistic"}


def kernels():
    bc._need_kernels()
    return bc._kernels


def _act(wl):
    a = bc.WORKLOADS[wl][1]
    return ACT.get(a, a)


def train_variants(wl, batch, threads):
    K = kernels()
    sizes = bc.WORKLOADS[wl][0]
    L = len(sizes) - 1
    f = bc.GemmFloor(sizes, batch)
    A, D, W = f.A, f.D, f.W
    calls = [(A[l], W[l], A[l + 1], 1.0, 1.0, False, False) for l in range(L)]
    for l in range(L - 1, -1, -1):
        if l > 0:
            calls.append((D[l + 1], W[l], D[l], 1.0, 0.0, False, True))
        calls.append((A[l], D[l + 1], W[l], -1e-9, 1.0, True, False))

    def fused_floor():
        for a, b, c, al, be, ta, tb in calls:
            K.gemm(a, b, c, al, be, ta, tb)

    rng = np.random.default_rng(0)
    Zs = [rng.standard_normal((batch, s), dtype=np.float32) for s in sizes[1:]]
    Gs = [np.empty_like(z) for z in Zs]
    act = _act(wl)
    X, y = bc.data(wl, batch)
    Dl = np.empty((batch, sizes[-1]), np.float32)
    ce = bc.classifier(wl)
    Zout = Zs[-1]

    def elementwise():
        for Z, G in zip(Zs[:-1], Gs[:-1]):
            K.activation_forward(Z, G, act)
            K.backprop_activation(Z, G, None, Z, act)
        if ce:
            K.softmax_cross_entropy(Zout, y, Dl)
        else:
            K.squared_error(Zout, y, Dl)

    return {
        "fastmlp train_step": bc.make("train", "fastmlp", (wl, batch), threads),
        "floor (issue 3)": bc.make("train", "floor", (wl, batch), threads),
        "fused floor (step's GEMM sequence)": fused_floor,
        "elementwise (act fwd+back, loss)": elementwise,
    }


def infer_variants(wl, rows, threads):
    K = kernels()
    sizes = bc.WORKLOADS[wl][0]
    m = bc.fastmlp_model(wl, "cython", fitted=True)
    X, _ = bc.data(wl, rows, seed=3)
    net = m._net_for_inference()
    out = np.empty((rows, sizes[-1]), np.float32)
    Ws, bs, _ = m.spec.views(m._theta)
    act = _act(wl)
    L = len(sizes) - 1
    Zs = [np.empty((rows, s), np.float32) for s in sizes[1:]]
    chunk = 1024
    Xc = [np.ascontiguousarray(X[s:s + chunk]) for s in range(0, rows, chunk)]
    Cs = [np.empty((min(chunk, rows), s), np.float32) for s in sizes[1:]]
    P = m.forward(X)

    def dense_all():
        prev = X
        for l in range(L):
            K.dense_forward(prev, Ws[l], bs[l], Zs[l], act if l < L - 1 else "identity")
            prev = Zs[l]

    def acts_only():
        for l in range(L - 1):
            K.activation_forward(Zs[l], Zs[l], act)

    def chunked():
        for x in Xc:
            prev = x
            for l in range(L):
                c = Cs[l][:x.shape[0]]
                K.gemm(prev, Ws[l], c)
                prev = c

    dense_all()
    return {
        "predict": lambda: m.predict(X),
        "Network.forward": lambda: net.forward(X, out),
        "forward GEMMs (floor)": bc.make("infer", "floor", (wl, rows), threads),
        "forward GEMMs, 1024-row chunks": chunked,
        "dense_forward per layer (bias+GEMM+act)": dense_all,
        f"activations alone ({act})": acts_only,
        "all_finite(X)": lambda: K.all_finite(X),
        "decode (argmax / ravel)": lambda: m._decode(P),
    }


def latency_variants(wl, rows, threads):
    K = kernels()
    sizes = bc.WORKLOADS[wl][0]
    m = bc.fastmlp_model(wl, "cython", fitted=True)
    X, _ = bc.data(wl, rows, seed=3)
    net = m._net_for_inference()
    out = np.empty((rows, sizes[-1]), np.float32)
    Ws, _, _ = m.spec.views(m._theta)
    hs = [np.empty((rows, s), np.float32) for s in sizes[1:]]
    P = m.forward(X)

    def rest():
        for l in range(1, len(Ws)):
            K.gemm(hs[l - 1], Ws[l], hs[l])

    return {
        "predict": lambda: m.predict(X),
        "forward (validation + inference)": lambda: m.forward(X),
        "_infer (no validation)": lambda: m._infer(X),
        "Network.forward": lambda: net.forward(X, out),
        "floor (forward GEMMs)": bc.make("latency", "floor", (wl, rows), threads),
        f"first-layer GEMM {sizes[0]}x{sizes[1]}": lambda: K.gemm(X, Ws[0], hs[0]),
        "remaining GEMMs": rest,
        "check_array (validation)": lambda: check_array(X, "X", np.float32, n_features=sizes[0]),
        "decode (argmax, classes_)": lambda: m._decode(P),
    }


def epoch_variants(wl, rows, batch, threads):
    K = kernels()
    X, y = bc.data(wl, rows)
    m = bc.fastmlp_model(wl)
    net = m._backend.Network(m.spec, m._theta, m._grad, batch)
    opt = Optimizer("sgd", m.spec.n_params, np.float32, lr=bc.LR)
    order = np.random.default_rng(0).permutation(rows).astype(np.intp)
    buf = np.empty((batch, X.shape[1]), np.float32)

    def gather():
        for s in range(0, rows, batch):
            idx = order[s:s + batch]
            buf[:len(idx)] = X[idx]

    return {
        "fit(epochs=1)": bc.make("epoch", "fastmlp", (wl, rows, batch), threads),
        "Network.train_epoch": lambda: net.train_epoch(X, y, None, order, batch, opt),
        "floor (every step's GEMMs)": bc.make("epoch", "floor", (wl, rows, batch), threads),
        "all_finite(X)": lambda: K.all_finite(X),
        "gather shuffled minibatches": gather,
    }


def measure(variants, budget):
    for f in variants.values():
        f()
    one = {}
    for k, f in variants.items():
        t = time.perf_counter()
        f()
        one[k] = max(time.perf_counter() - t, 1e-7)
    reps = {k: max(1, int(0.01 / t)) for k, t in one.items()}
    per_round = sum(reps[k] * one[k] for k in variants)
    rounds = max(5, int(budget / per_round))
    ts = {k: [] for k in variants}
    for _ in range(rounds):
        for k, f in variants.items():
            for _ in range(reps[k]):
                t = time.perf_counter()
                f()
                ts[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) for k, v in ts.items()}, rounds


def fmt(s):
    return f"{s * 1e6:10.1f} us" if s < 1e-2 else f"{s * 1e3:10.2f} ms"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=("train", "infer", "latency", "epoch"))
    ap.add_argument("workload", choices=tuple(bc.WORKLOADS))
    ap.add_argument("sizes", type=int, nargs="+",
                    help="batch (train), rows (infer/latency), rows batch (epoch)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--budget", type=float, default=6.0, help="seconds of timing per thread count")
    args = ap.parse_args(argv)
    make = {"train": train_variants, "infer": infer_variants, "latency": latency_variants,
            "epoch": epoch_variants}[args.kind]
    for nt in (int(t) for t in args.threads.split(",")):
        with threadpool_limits(nt):
            variants = make(args.workload, *args.sizes, nt)
            with LoadMeter() as load:
                med, rounds = measure(variants, args.budget)
        first = next(iter(med.values()))
        ld = load.result
        print(f"{args.kind} {args.workload} {' '.join(map(str, args.sizes))}, {nt} thread(s), "
              f"medians over {rounds} interleaved rounds (steal {ld.get('steal', 0):.0%}, other processes "
              f"{ld.get('others', 0):.0%} of the CPUs):")
        for k, v in med.items():
            print(f"  {k:42s}{fmt(v)}  {v / first:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
