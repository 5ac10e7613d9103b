"""Elementwise activation kernels, Cython against the NumPy backend: the forward pass A = f(Z) and the
backward pass G ← G ⊙ f'(z) over a 4096×128 float32 block (one W4-sized inference layer), one thread.

These are the non-GEMM part of every step; the report prints nanoseconds per element and the ratio.
"""
import numpy as np
import pytest

import bench_common as bc
from bench_params import limits

ACTIVATIONS = ("relu", "logistic", "tanh", "elu", "softplus", "silu", "gelu")
SHAPE = (4096, 128)


def _backend(column):
    if column == "fastmlp":
        bc._need_kernels()
        return bc._kernels
    from fastmlp import _numpy_backend
    return _numpy_backend


@pytest.mark.parametrize("column", ["fastmlp", "numpy"])
@pytest.mark.parametrize("which", ["forward", "backprop"])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activation(benchmark, act, which, column):
    try:
        be = _backend(column)
    except bc.Unavailable as exc:
        pytest.skip(str(exc))
    rng = np.random.default_rng(0)
    Z = (rng.standard_normal(SHAPE) * 3).astype(np.float32)
    A = be.activation_forward(Z, np.empty_like(Z), act)
    G = rng.standard_normal(SHAPE).astype(np.float32)
    out = np.empty_like(Z)
    if which == "forward":
        def run():
            be.activation_forward(Z, out, act)
    else:
        def run():
            be.backprop_activation(G, A, Z, out, act)
    benchmark.group = f"activation {act} {which} 4096x128 float32"
    with limits(1):
        benchmark.pedantic(run, rounds=30, iterations=5, warmup_rounds=3)
    benchmark.extra_info.update(kind="activation", activation=act, which=which, column=column,
                                elements=Z.size)
