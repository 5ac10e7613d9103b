import numpy as np
import pytest

from fastmlp import _numpy_backend
from fastmlp._netspec import HIDDEN_ACTIVATIONS

try:
    from fastmlp import _kernels
except ImportError:  # pragma: no cover - the suite runs against an installed, built package
    _kernels = None

DTYPES = [np.float32, np.float64]
# Relative tolerance of a float32 / float64 comparison between two summation orders.
RTOL = {np.float32: 2e-5, np.float64: 1e-12}
ATOL = {np.float32: 2e-6, np.float64: 1e-13}


@pytest.fixture(scope="session")
def cy():
    if _kernels is None:
        pytest.fail("fastmlp._kernels is not built: the Cython extension must import")
    return _kernels


@pytest.fixture(scope="session")
def npb():
    return _numpy_backend


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def assert_close(actual, expected, dtype, scale=1.0):
    np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype] * scale, atol=ATOL[dtype] * scale)


ALL_ACTIVATIONS = list(HIDDEN_ACTIVATIONS)
