"""selu and mish: values and derivatives against torch (float64 autograd), stability at ±1000, and both
backends in both precisions (the registry-driven finite-difference and equivalence tests cover them too)."""
import numpy as np
import pytest

from fastmlp import _kernels, _numpy_backend

BACKENDS = [_numpy_backend, _kernels]
Z64 = np.concatenate([np.linspace(-30, 30, 601),
                      [-1000.0, -88.0, -1e-8, 0.0, 1e-8, 49.9, 50.1, 88.0, 1000.0]])


def _torch_reference(name):
    torch = pytest.importorskip("torch")
    z = torch.tensor(Z64[:, None], dtype=torch.float64, requires_grad=True)
    f = {"selu": torch.nn.functional.selu, "mish": torch.nn.functional.mish}[name](z)
    (g,) = torch.autograd.grad(f.sum(), z)
    return f.detach().numpy(), g.numpy()


@pytest.mark.parametrize("backend", BACKENDS, ids=["numpy", "cython"])
@pytest.mark.parametrize("name", ["selu", "mish"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_against_torch(backend, name, dtype):
    f_ref, d_ref = _torch_reference(name)
    Z = np.ascontiguousarray(Z64[:, None], dtype=dtype)
    A = backend.activation_forward(Z, np.empty_like(Z), name)
    D = backend.activation_derivative(A, Z, np.empty_like(Z), name)
    assert np.isfinite(A).all() and np.isfinite(D).all()
    tol = dict(rtol=2e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(A, f_ref.astype(dtype), **tol)
    np.testing.assert_allclose(D, d_ref.astype(dtype), **tol)


def test_selu_self_normalises():
    """A deep selu stack with LeCun-normal weights keeps unit-variance activations (the point of selu)."""
    from fastmlp import FastMLP
    m = FastMLP([256] * 9 + [2], activation="selu", dtype=np.float64, seed=0)
    X = np.random.default_rng(0).standard_normal((2000, 256))
    for k in (0, 3, 7):
        H = m.transform(X, layer=k)
        assert abs(H.mean()) < 0.15 and 0.8 < H.var() < 1.2
