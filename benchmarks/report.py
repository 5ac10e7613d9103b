"""One table of the fastmlp benchmark suite: medians, ratios, and PASS/MISS per target (issues 3 and 12).

    python benchmarks/report.py                      # runs `pytest benchmarks/ --benchmark-only` (~5 min)
    python benchmarks/report.py --json run.json      # reads an existing --benchmark-json file
    python benchmarks/report.py --save run.json      # runs the suite and keeps its JSON
    python benchmarks/report.py -- -k W1             # extra pytest arguments after --

Ratios are taken between medians of the same run (the machine is noisy; absolute times are not stable).
fastmlp/floor: fastmlp's time over the GEMM floor (1.00 = nothing but the matrix products);
numpy/fastmlp, torch/fastmlp, sklearn/fastmlp: how many times faster fastmlp is.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COLUMNS = ("fastmlp", "floor", "numpy", "torch", "sklearn")
HEAD = {"fastmlp": "fastmlp", "floor": "floor", "numpy": "numpy-be", "torch": "torch", "sklearn": "sklearn"}
KIND_ORDER = ("api", "train", "infer", "latency", "epoch")
MiB = 1 << 20
# A benchmark is flagged (!) when, while it ran, the hypervisor stole more than STEAL of the CPU time or
# other processes in this machine used more than OTHERS of its CPU capacity.
STEAL, OTHERS = 0.03, 0.10


def suspect(load):
    return bool(load) and (load.get("steal", 0) > STEAL or load.get("others", 0) > OTHERS)


# ------------------------------------------------------------------------------------------------------
# Targets of issue 3: (name, kind, case, what, op, threshold); "what" is a ratio name or "us_per_sample"
# ------------------------------------------------------------------------------------------------------

def targets():
    t = []
    for case in (("W1", 128), ("W1", 512), ("W2", 256)):
        for th in (1, 2):
            t.append((f"{case[0]} train b{case[1]} {th}T: fastmlp/floor <= 1.10", "train", case, th,
                      "fastmlp/floor", "<=", 1.10))
    for th in (1, 2):
        t.append((f"W3 per-sample SGD {th}T: <= 1 us/sample", "epoch", ("W3", 4000, 1), th,
                  "us_per_sample", "<=", 1.0))
    for th in (1, 2):
        t.append((f"W4 train b64 {th}T: fastmlp/floor <= 1.3", "train", ("W4", 64), th,
                  "fastmlp/floor", "<=", 1.3))
    for th in (1, 2):
        t.append((f"W4 inference {th}T: torch/fastmlp >= 3", "infer", ("W4", 4096), th,
                  "torch/fastmlp", ">=", 3.0))
    for th in (1, 2):
        t.append((f"W1 epoch {th}T: sklearn/fastmlp >= 1.5", "epoch", ("W1", 60000, 128), th,
                  "sklearn/fastmlp", ">=", 1.5))
        t.append((f"W1 epoch {th}T: torch/fastmlp >= 1.2", "epoch", ("W1", 60000, 128), th,
                  "torch/fastmlp", ">=", 1.2))
    for th in (1, 2):
        t.append((f"predict 1 row {th}T: torch/fastmlp >= 5", "latency", ("W1", 1), th,
                  "torch/fastmlp", ">=", 5.0))
        t.append((f"predict 1 row {th}T: sklearn/fastmlp >= 5", "latency", ("W1", 1), th,
                  "sklearn/fastmlp", ">=", 5.0))
    return t


def api_targets():
    """Issue 12: the public calls against the floor of their matrix products (np.matmul, preallocated),
    and the 2-thread speed-up of a W1 fit epoch against the floor's."""
    t = []
    for wl, call, rows, thr in (("W3", "partial_fit", 1, 1.0), ("W3", "predict_proba", 4096, 2.0),
                                ("W4", "partial_fit", 64, 1.3), ("W4", "predict", 4096, 1.3),
                                ("W1", "partial_fit", 128, 1.10), ("W1", "predict_proba", 4096, 1.10)):
        for th in (1, 2):
            t.append((f"{wl} {call} {rows} row{'s' if rows > 1 else ''} {th}T: fastmlp/floor <= {thr:.2f}",
                      "api", (wl, call, rows), th, "fastmlp/floor", "<=", thr))
    t.append(("W1 fit epoch: fastmlp (2T/1T) <= 1.10 x floor (2T/1T)", "epoch", ("W1", 60000, 128), None,
              "scaling", "<=", 1.10))
    return t


def verdict(value, op, thr):
    """PASS/MISS of a measured value against ``op`` ("<=" or ">=") ``thr``; N/A when it was not measured."""
    if value is None:
        return "N/A (column not run)"
    return "PASS" if ((value <= thr) if op == "<=" else (value >= thr)) else "MISS"


def paired_shown(p, inverse, separate):
    """(value, text) of a paired measurement (ratio fastmlp/other, or its inverse other/fastmlp) with its
    per-block IQR, the separate-benchmark figure ``separate`` beside it."""
    lo, hi = p["block_ratio_q25"], p["block_ratio_q75"]
    value = 1 / p["ratio"] if inverse else p["ratio"]
    lo, hi = (1 / hi, 1 / lo) if inverse else (lo, hi)
    return value, (f"paired {value:.3f}x{'!' if p['suspect'] else ''} (blocks IQR {lo:.2f}-{hi:.2f});"
                   f" separate {separate}")


def spread(med, kind, case, th, num, den):
    """The ratio num/den from the quartiles of both benchmarks: (q1(num)/q3(den), q3(num)/q1(den))."""
    a, b = med.get((kind, case, th, num)), med.get((kind, case, th, den))
    if a is None or b is None or len(a) < 6 or not b[4] or not b[5]:
        return None
    return a[4] / b[5], a[5] / b[4]


def scaling(med, kind, case):
    """(fastmlp's 2-thread/1-thread time, the floor's, their quotient) or None."""
    v = {(c, th): med.get((kind, case, th, c)) for c in ("fastmlp", "floor") for th in (1, 2)}
    if any(x is None for x in v.values()):
        return None
    fm = v["fastmlp", 2][0] / v["fastmlp", 1][0]
    fl = v["floor", 2][0] / v["floor", 1][0]
    return fm, fl, fm / fl


# ------------------------------------------------------------------------------------------------------
# Reading pytest-benchmark's JSON
# ------------------------------------------------------------------------------------------------------

def load(path):
    with open(path) as fh:
        doc = json.load(fh)
    med, mem, paired, overhead = {}, {}, {}, None
    flagged = []
    for b in doc.get("benchmarks", []):
        info = b.get("extra_info", {})
        kind = info.get("kind")
        if kind is None:
            continue
        if kind == "activation":  # test_bench_activations.py: see activation_table()
            continue
        if kind == "memory":
            mem[info["threads"]] = info["memory"]
            continue
        if suspect(info.get("load")):
            ld = info["load"]
            flagged.append(f"{b['name']}: steal {ld['steal']:.0%}, other processes {ld['others']:.0%}")
        if kind == "paired":
            other = info.get("other", "floor")
            paired[(info.get("pair_kind", "train"), tuple(info["case"]), info["threads"], other)] = \
                dict(info["paired"], suspect=suspect(info.get("load")))
            continue
        if kind == "overhead":
            overhead = b["stats"]["median"]
            continue
        key = (kind, tuple(info["case"]), info["threads"], info["column"])
        st = b["stats"]
        med[key] = (st["median"], st["rounds"], info.get("per", 1), suspect(info.get("load")), st.get("q1"),
                    st.get("q3"))
    return doc, med, mem, paired, overhead, flagged


def activation_table(doc):
    """Lines of the elementwise-kernel table (ns per element, NumPy backend ÷ Cython), or none."""
    ns = {}
    for b in doc.get("benchmarks", []):
        info = b.get("extra_info", {})
        if info.get("kind") == "activation":
            key = (info["activation"], info["which"], info["column"])
            ns[key] = b["stats"]["median"] / info["elements"] * 1e9
    if not ns:
        return []
    lines = ["Activation kernels, 4096x128 float32, 1 thread (ns per element)",
             f"{'activation':12s}{'forward':>10s}{'numpy-be':>10s}{'numpy/fm':>10s}"
             f"{'backprop':>10s}{'numpy-be':>10s}{'numpy/fm':>10s}"]
    for act in dict.fromkeys(k[0] for k in ns):
        row = f"{act:12s}"
        for which in ("forward", "backprop"):
            fm, nb = ns.get((act, which, "fastmlp")), ns.get((act, which, "numpy"))
            row += f"{fm:10.3f}" if fm is not None else f"{'-':>10s}"
            row += f"{nb:10.3f}" if nb is not None else f"{'-':>10s}"
            row += f"{nb / fm:10.1f}" if fm and nb else f"{'-':>10s}"
        lines.append(row)
    return lines + [""]


def ratio(med, kind, case, th, name):
    """fastmlp/floor, numpy/fastmlp, torch/fastmlp, sklearn/fastmlp (None where a column is missing)."""
    num, den = name.split("/")
    a, b = med.get((kind, case, th, num)), med.get((kind, case, th, den))
    if a is None or b is None or b[0] == 0:
        return None
    return a[0] / b[0]


def fmt_time(s):
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f}us"
    if s < 1:
        return f"{s * 1e3:.2f}ms"
    return f"{s:.2f}s"


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}"


def case_label(kind, case):
    if kind == "api":
        return f"{case[0]} {case[1]}({case[2]} row{'s' if case[2] > 1 else ''})"
    if kind == "train":
        return f"{case[0]} train step b{case[1]}"
    if kind == "infer":
        return f"{case[0]} inference {case[1]} rows"
    if kind == "latency":
        return f"{case[0]} predict {case[1]} row (validated)"
    if case[2] == 1:
        return f"{case[0]} epoch {case[1]} rows b1 (per sample)"
    return f"{case[0]} epoch {case[1]} rows b{case[2]}"


def table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))
    out = [line, "-" * len(line)]
    for r in rows:
        out.append("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(out)


def report(path):
    doc, med, mem, paired, overhead, flagged = load(path)
    lines = []
    mi = doc.get("machine_info", {})
    blas = mi.get("fastmlp_blas", {})
    libs = ", ".join(f"{d.get('internal_api')} {d.get('version')} ({d.get('architecture')})"
                     for d in blas.get("libraries", []))
    env = blas.get("env", {})
    openblas_env = {k: v for k, v in env.items() if k.startswith("OPENBLAS")}
    lines.append(f"fastmlp benchmark report  ({doc.get('datetime', '?')},"
                 f" {mi.get('cpu', {}).get('brand_raw', '?')},"
                 f" {mi.get('cpu', {}).get('count', '?')} CPUs, python {mi.get('python_version', '?')})")
    lines.append(f"BLAS: {libs or '?'}; fastmlp SIMD path: {mi.get('fastmlp_simd')}")
    lines.append("OPENBLAS_* environment: " + (", ".join(f"{k}={v}" for k, v in openblas_env.items())
                                                 if openblas_env else "none set"))
    lines.append("")

    header = ["workload", "thr"] + [HEAD[c] for c in COLUMNS] + \
        ["fm/floor", "numpy/fm", "torch/fm", "sklearn/fm"]
    rows = []
    cases = sorted({(k[0], k[1]) for k in med}, key=lambda kc: (KIND_ORDER.index(kc[0]), kc[1]))
    for kind, case in cases:
        for th in sorted({k[2] for k in med if k[0] == kind and k[1] == case}):
            cells = []
            per_sample = kind == "epoch" and case[2] == 1
            for c in COLUMNS:
                v = med.get((kind, case, th, c))
                if v is None:
                    cells.append("-")
                elif per_sample:
                    cells.append(f"{v[0] / v[2] * 1e6:.2f}us/s" + ("!" if v[3] else ""))
                else:
                    cells.append(fmt_time(v[0]) + ("!" if v[3] else ""))
            rs = [ratio(med, kind, case, th, n) for n in
                  ("fastmlp/floor", "numpy/fastmlp", "torch/fastmlp", "sklearn/fastmlp")]
            rows.append([case_label(kind, case), th] + cells + [fmt_ratio(r) for r in rs])
    lines.append("Medians (us/s = microseconds per sample) and ratios (fm = fastmlp, Cython backend)")
    lines.append(table(rows, header))
    if flagged:
        lines.append(f"! = taken under outside load (steal > {STEAL:.0%} or other processes > {OTHERS:.0%}"
                     f" of the CPUs): {len(flagged)} benchmark(s), listed at the end")
    lines.append("")

    # Targets
    trow = []
    n_pass = n_miss = n_na = 0
    for name, kind, case, th, what, op, thr in targets():
        if what == "us_per_sample":
            v = med.get((kind, case, th, "fastmlp"))
            value = None if v is None else v[0] / v[2] * 1e6
            shown = "-" if value is None else f"{value:.3f} us"
        else:
            value = ratio(med, kind, case, th, what)
            shown = "-" if value is None else f"{value:.3f}x"
            num, den = what.split("/")
            other = den if num == "fastmlp" else num
            p = paired.get((kind, case, th, other))
            if p is not None:  # decided on the paired ratio; the separate-benchmark one shown beside it
                # paired ratio = fastmlp / other; the target may be its inverse (other / fastmlp)
                inv = num != "fastmlp"
                value, shown = paired_shown(p, inv, shown)
        status = verdict(value, op, thr)
        n_pass += status == "PASS"
        n_miss += status == "MISS"
        n_na += value is None
        trow.append([name, shown, status])
    if mem:
        for th in sorted(mem):
            m = mem[th]
            budget = m["expected_growth_bytes"]
            ok = m["traced_peak_bytes"] <= budget + 256 * 1024 and m["rss_growth_bytes"] <= budget + 4 * MiB
            status = "PASS" if ok else "MISS"
            n_pass += ok
            n_miss += not ok
            trow.append([f"W1 epoch memory {th}T: growth <= workspace+order+rollback (+slack)",
                         f"{m['traced_peak_bytes'] / MiB:.2f} MiB traced, {m['rss_growth_bytes'] / MiB:.2f}"
                         f" MiB RSS", status])
    else:
        trow.append(["W1 epoch memory", "-", "N/A (not run)"])
        n_na += 1
    lines.append(f"Targets (issue 3): {n_pass} PASS, {n_miss} MISS, {n_na} N/A")
    lines.append(table(trow, ["target", "measured", "status"]))
    lines.append("")

    arow = []
    a_pass = a_miss = a_na = 0
    for name, kind, case, th, what, op, thr in api_targets():
        if what == "scaling":
            sc = scaling(med, kind, case)
            value = None if sc is None else sc[2]
            shown = "-" if sc is None else f"{sc[2]:.3f} (fastmlp 2T/1T {sc[0]:.3f}, floor {sc[1]:.3f})"
        else:
            value = ratio(med, kind, case, th, what)
            sp = spread(med, kind, case, th, *what.split("/"))
            shown = "-" if value is None else f"{value:.3f}x" + ("" if sp is None else
                                                                f" (quartiles {sp[0]:.2f}-{sp[1]:.2f})")
            p = paired.get((kind, case, th, what.split("/")[1]))
            if p is not None:  # decided on the paired ratio, as the issue-3 targets
                value, shown = paired_shown(p, False, shown)
        status = verdict(value, op, thr)
        a_pass += status == "PASS"
        a_miss += status == "MISS"
        a_na += value is None
        arow.append([name, shown, status])
    lines.append("Targets (issue 12, the public calls; decided on the paired ratio where there is one;"
                 " spread = IQR of its per-block ratios, or the ratio of the separate benchmarks' quartiles):"
                 f" {a_pass} PASS, {a_miss} MISS, {a_na} N/A")
    lines.append(table(arow, ["target", "measured", "status"]))
    lines.append("")

    if mem:
        lines.append("Peak memory of a W1 epoch (FastMLP.fit, fresh process; see memory_probe.py)")
        mrows = []
        for th in sorted(mem):
            m = mem[th]
            mrows.append([f"{th}T", f"{m['data_bytes'] / MiB:.1f}", f"{m['model_bytes'] / MiB:.2f}",
                          f"{m['workspace_bytes'] / MiB:.2f}", f"{m['order_bytes'] / MiB:.2f}",
                          f"{m['expected_growth_bytes'] / MiB:.2f}", f"{m['traced_peak_bytes'] / MiB:.2f}",
                          f"{m['rss_growth_bytes'] / MiB:.2f}",
                          f"{(m['peak_rss_bytes'] - m['rss_start_bytes'] - m['data_bytes']) / MiB:.1f}"])
        lines.append(table(mrows, ["thr", "data MiB", "model MiB", "workspace", "order (O(n))", "expected",
                                   "traced peak", "RSS growth", "peak-start-data"]))
        lines.append("  expected = workspace (O(batch)) + row order (2 intp arrays, O(n)) + optimizer state +"
                     " one parameter copy (rollback on divergence, O(model));\n  traced peak = NumPy/Python"
                     " allocations during fit (tracemalloc); RSS growth = peak RSS"
                     " during fit - RSS before (data and model resident);\n  peak-start-data = peak RSS - RSS"
                     " at process start - data (imports, BLAS buffers, model, workspace).")
        lines.append("")

    if overhead is not None:
        lines.append(f"One _kernels.gemm Python call (1x1): {fmt_time(overhead)};"
                     " it is part of every floor call.")
        notes = []
        # L layers: L forward, L-1 delta and L weight-gradient products.
        for case, ncalls in ((("W3", 32), 3 * 2 - 1), (("W4", 64), 3 * 3 - 1)):
            for th in (1, 2):
                f = med.get(("train", case, th, "floor"))
                fm = med.get(("train", case, th, "fastmlp"))
                if f and fm:
                    net = f[0] - ncalls * overhead
                    notes.append(f"{case[0]} b{case[1]} {th}T: floor {fmt_time(f[0])} = {ncalls} calls;"
                                 f" without their call cost {fmt_time(net)}"
                                 f" -> fastmlp/floor {fm[0] / net:.2f}")
        lines.extend("  " + n for n in notes)
        lines.append("")
    lines.extend(activation_table(doc))
    if flagged:
        lines.append("Benchmarks taken under outside load:")
        lines.extend("  " + f for f in flagged)
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="read this pytest-benchmark JSON instead of running the suite")
    ap.add_argument("--save", help="run the suite and keep its JSON here")
    args = ap.parse_args(argv)
    if args.json:
        print(report(args.json))
        return 0
    path = args.save
    tmp = None
    if path is None:
        tmp = tempfile.NamedTemporaryFile(prefix="fastmlp-bench-", suffix=".json", delete=False)
        tmp.close()
        path = tmp.name
    env = dict(os.environ)  # the installed fastmlp is timed (pip install . / pip install -e .)
    cmd = [sys.executable, "-m", "pytest", HERE, "--benchmark-only", "-q", "-p", "no:cacheprovider",
           f"--benchmark-json={path}", "--benchmark-columns=median,iqr,rounds"] + extra
    print("running:", " ".join(cmd), file=sys.stderr, flush=True)
    rc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=sys.stderr).returncode
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        print(f"pytest exited {rc} without a JSON report", file=sys.stderr)
        return rc or 1
    print(report(path))
    if tmp is not None:
        os.unlink(path)
    return rc


if __name__ == "__main__":
    sys.exit(main())
