"""Build the Cython kernels; all metadata lives in pyproject.toml.

FASTMLP_DEBUG=1 at build time turns bounds/wraparound/initialised checks back on (and -O0 -g) for debugging.
"""
import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTMLP_DEBUG", "0") not in ("", "0")

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "nonecheck": False,
    "embedsignature": True,
}

# -fno-trapping-math lets GCC if-convert (and so vectorise) the branch-free selects of _fastmath.h;
# fastmlp never reads the FP exception flags.
extra_compile_args = ["-O0", "-g"] if DEBUG else ["-O3", "-fno-trapping-math", "-fno-math-errno"]


def openmp_flags():
    """-fopenmp where the C compiler takes it (GCC; clang with libomp): element-wise work then runs on the
    BLAS threads (_parallel.pxi). Without it the same code builds serial. FASTMLP_OPENMP=0 turns it off."""
    if os.environ.get("FASTMLP_OPENMP", "1") in ("", "0"):
        return []
    import shutil
    import subprocess
    import sysconfig
    import tempfile
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    if shutil.which(cc[0]) is None:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "omp.c")
        with open(src, "w") as fh:
            fh.write("#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n")
        ok = subprocess.run(cc + ["-fopenmp", src, "-o", os.path.join(tmp, "omp")],
                            capture_output=True).returncode == 0
    return ["-fopenmp"] if ok else []


OPENMP = openmp_flags()

extensions = [
    Extension(
        "fastmlp._kernels",
        ["src/fastmlp/_kernels.pyx"],
        # a change to the C headers (_codes.h: the registry's codes) or an included .pxi rebuilds it
        depends=[f"src/fastmlp/{name}" for name in (
            "_fastmath.h", "_fastmath_impl.h", "_prefetch.h", "_rowops.h", "_narrow_gemm.h", "_codes.h", "_kernels.pxd",
            "_scalar.pxi", "_blas.pxi", "_checks.pxi", "_activations.pxi", "_dense.pxi", "_losses.pxi",
            "_optimizers.pxi", "_parallel.pxi", "_network.pxi", "_lane.pxi", "_capi.pxi")],
        include_dirs=[np.get_include(), "src/fastmlp"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=extra_compile_args + OPENMP,
        extra_link_args=OPENMP,
        libraries=["m"],
    )
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives))
