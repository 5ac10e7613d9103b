"""The benchmark suite's promise (issue 12): `pytest benchmarks/ --benchmark-only` times the installed,
compiled fastmlp, and stops with one line saying why and what to do when the kernels cannot be imported
-- never a green run of skipped fastmlp columns."""
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")

pytest.importorskip("pytest_benchmark")
pytest.importorskip("threadpoolctl")

BLOCK = textwrap.dedent("""
    import sys

    class _NoKernels:
        def find_spec(self, name, path=None, target=None):
            if name == "fastmlp._kernels":
                raise ImportError("the extension is missing")
            return None

    sys.meta_path.insert(0, _NoKernels())
""")


def _pytest(args, env_extra=None, cwd=ROOT):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "pytest", BENCH, "-p", "no:cacheprovider", "-q"] + args,
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_no_kernels_stops_the_run_with_one_line(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCK)
    pythonpath = os.pathsep.join([str(tmp_path)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    out = _pytest(["--benchmark-only"], {"PYTHONPATH": pythonpath})
    assert out.returncode == 4, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert "passed" not in text and "skipped" not in text
    lines = [line for line in text.splitlines() if "cannot be imported" in line]
    assert len(lines) == 1
    assert "the extension is missing" in lines[0] and "pip install ." in lines[0]


def test_the_suite_times_the_installed_package():
    """The benchmarks import fastmlp as installed (no sys.path entry for a source tree): the module the
    suite times is the one `import fastmlp` gives outside the repository."""
    pytest.importorskip("fastmlp._kernels")
    code = "import bench_common, fastmlp; print(fastmlp.__file__); print(bench_common._kernels.__file__)"
    here = subprocess.run([sys.executable, "-c", code], cwd=BENCH, capture_output=True, text=True,
                          timeout=120)
    assert here.returncode == 0, here.stderr
    outside = subprocess.run([sys.executable, "-c", "import fastmlp; print(fastmlp.__file__)"],
                             cwd=os.path.expanduser("~"), capture_output=True, text=True, timeout=120)
    fm_file, kernels_file = here.stdout.split()
    assert fm_file == outside.stdout.strip()
    assert os.path.dirname(kernels_file) == os.path.dirname(fm_file)


def test_public_call_benchmarks_run_once():
    """Every column of the public-call benchmarks builds and runs (one call each, no timing)."""
    pytest.importorskip("fastmlp._kernels")
    out = _pytest([os.path.join(BENCH, "test_bench_api.py"), "--benchmark-disable", "-k", "W3 or W4"])
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert " passed" in out.stdout
