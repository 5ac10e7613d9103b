"""fastmlp.ops: the kernels as public functions, on both backends, in float32 and float64, on odd shapes;
out=None allocation; backend selection per call, per process and per block."""
import inspect
import threading

import numpy as np
import pytest

import fastmlp
from conftest import ALL_ACTIVATIONS, assert_close
from fastmlp import backend as backend_mod, ops
from fastmlp._netspec import Optimizer

BACKENDS = ["cython", "numpy"]
SHAPES = [(1, 1, 1), (1, 5, 3), (7, 1, 4), (13, 6, 1), (33, 17, 9)]


@pytest.fixture(autouse=True)
def _restore_default_backend():
    previous = fastmlp.set_backend("auto")
    yield
    fastmlp.set_backend(previous)


@pytest.fixture(params=BACKENDS)
def be(request):
    return request.param


def _param(act, m, rng, dtype):
    if act == "prelu":
        return rng.uniform(-0.5, 0.5, m).astype(dtype)
    return {"leaky_relu": 0.1, "elu": 0.7}.get(act)


def _rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# ----------------------------------------------------------------------------------------------------
# Coverage and signatures
# ----------------------------------------------------------------------------------------------------
def test_every_backend_function_has_an_op(npb, cy):
    kernel_funcs = {n for n, f in vars(npb).items() if inspect.isfunction(f) and not n.startswith("_")
                    and f.__module__ == npb.__name__}
    assert kernel_funcs <= set(ops.__all__)
    for name in kernel_funcs:
        assert callable(getattr(cy, name)), name
        assert getattr(ops, name).__doc__, name
    for name in ops.__all__:
        assert hasattr(ops, name), name


def test_op_signatures_mirror_the_kernels(npb):
    # The kernels' positional arguments, in order, then backend= keyword-only.
    for name in ["activation_forward", "activation_derivative", "backprop_activation", "softmax",
                 "log_softmax", "gemm", "dense_forward", "delta_backward", "weight_gradient",
                 "prelu_gamma_gradient", "sgd_weight_update", "softmax_cross_entropy",
                 "sigmoid_cross_entropy", "squared_error", "sgd_update", "momentum_update", "adam_update",
                 "apply_update", "all_finite"]:
        ref = list(inspect.signature(getattr(npb, name)).parameters)
        sig = inspect.signature(getattr(ops, name)).parameters
        assert list(sig)[:len(ref)] == ref, name
        assert sig["backend"].kind is inspect.Parameter.KEYWORD_ONLY, name


# ----------------------------------------------------------------------------------------------------
# Activations
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("act", ALL_ACTIVATIONS + ["softmax"])
@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (5, 1), (17, 9)])
def test_activation_forward(npb, dtype, rng, act, shape):
    Z = _rand(rng, shape, dtype, 3)
    p = _param(act, shape[1], rng, dtype)
    ref = npb.activation_forward(Z, np.empty_like(Z), act, p)
    for be in BACKENDS:
        got = ops.activation_forward(Z, activation=act, param=p, backend=be)
        assert got.dtype == dtype and got.shape == shape
        assert_close(got, ref, dtype, scale=4)
        out = np.empty_like(Z)
        assert ops.activation_forward(Z, out, act, p, backend=be) is out
        assert_close(out, ref, dtype, scale=4)


@pytest.mark.parametrize("act", ALL_ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 1), (5, 1), (17, 9)])
def test_activation_derivative_and_backprop(npb, dtype, rng, act, shape):
    Z = _rand(rng, shape, dtype, 3)
    p = _param(act, shape[1], rng, dtype)
    A = npb.activation_forward(Z, np.empty_like(Z), act, p)
    G = _rand(rng, shape, dtype)
    ref = npb.activation_derivative(A, Z, np.empty_like(Z), act, p)
    for be in BACKENDS:
        d = ops.activation_derivative(A, Z, activation=act, param=p, backend=be)
        assert d.dtype == dtype and d.shape == shape
        assert_close(d, ref, dtype, scale=8)
        g = ops.backprop_activation(G, A, Z, activation=act, param=p, backend=be)
        assert_close(g, G * ref, dtype, scale=8)
        inplace = G.copy()
        assert ops.backprop_activation(inplace, A, Z, inplace, act, p, backend=be) is inplace
        assert_close(inplace, G * ref, dtype, scale=8)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (9, 1), (20, 11)])
def test_softmax_and_log_softmax(npb, dtype, rng, be, shape):
    Z = _rand(rng, shape, dtype, 5)
    P = ops.softmax(Z, backend=be)
    LP = ops.log_softmax(Z, backend=be)
    assert P.dtype == LP.dtype == dtype
    assert_close(P, npb.softmax(Z, np.empty_like(Z)), dtype, scale=4)
    assert_close(LP, npb.log_softmax(Z, np.empty_like(Z)), dtype, scale=8)
    assert_close(P.sum(axis=1), np.ones(shape[0]), dtype, scale=4)


def test_activation_is_required_and_named():
    Z = np.zeros((2, 3))
    for call in (lambda: ops.activation_forward(Z),
                 lambda: ops.activation_derivative(Z, None),
                 lambda: ops.backprop_activation(Z, Z),
                 lambda: ops.delta_backward(Z, np.zeros((3, 3)), Z)):
        with pytest.raises(TypeError, match="activation"):
            call()
    with pytest.raises(ValueError, match="activation: unknown activation 'swishy'"):
        ops.activation_forward(Z, activation="swishy")
    with pytest.raises(ValueError, match="Z: gelu needs the pre-activation Z"):
        ops.activation_derivative(Z, None, activation="gelu")


# ----------------------------------------------------------------------------------------------------
# GEMM, dense layer, backward
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("mnk", [(1, 1, 1), (1, 9, 4), (7, 1, 3), (5, 6, 1), (40, 30, 20)])
def test_gemm(npb, dtype, rng, be, ta, tb, mnk):
    m, n, k = mnk
    A = _rand(rng, (k, m) if ta else (m, k), dtype)
    B = _rand(rng, (n, k) if tb else (k, n), dtype)
    ref = (A.T if ta else A) @ (B.T if tb else B)
    C = ops.gemm(A, B, alpha=2.0, trans_a=ta, trans_b=tb, backend=be)
    assert C.shape == (m, n) and C.dtype == dtype
    assert_close(C, 2 * ref, dtype, scale=20)
    C0 = _rand(rng, (m, n), dtype)
    C1 = C0.copy()
    assert ops.gemm(A, B, C1, 1.0, 0.5, ta, tb, backend=be) is C1
    assert_close(C1, ref + 0.5 * C0, dtype, scale=20)


@pytest.mark.parametrize("act", ["identity", "relu", "tanh", "prelu", "gelu", "softmax"])
@pytest.mark.parametrize("nkm", SHAPES)
def test_dense_forward(npb, dtype, rng, act, nkm):
    n, k, m = nkm
    X, W, b = _rand(rng, (n, k), dtype), _rand(rng, (k, m), dtype), _rand(rng, (m,), dtype)
    p = _param(act, m, rng, dtype)
    Zref = np.empty((n, m), dtype)
    ref = npb.dense_forward(X, W, b, np.empty((n, m), dtype), act, p, Zref)
    for be in BACKENDS:
        out = ops.dense_forward(X, W, b, activation=act, param=p, backend=be)
        assert out.shape == (n, m) and out.dtype == dtype
        assert_close(out, ref, dtype, scale=20)
        Z = np.empty((n, m), dtype)
        out2 = np.empty((n, m), dtype)
        assert ops.dense_forward(X, W, b, out2, act, p, Z, backend=be) is out2
        assert_close(Z, Zref, dtype, scale=20)


@pytest.mark.parametrize("act", ["identity", "logistic", "relu", "leaky_relu", "prelu", "silu"])
@pytest.mark.parametrize("nkm", SHAPES)
def test_delta_backward(npb, dtype, rng, act, nkm):
    n, k, m = nkm
    D, W = _rand(rng, (n, m), dtype), _rand(rng, (k, m), dtype)
    Z = _rand(rng, (n, k), dtype)
    p = _param(act, k, rng, dtype)
    A = npb.activation_forward(Z, np.empty_like(Z), act, p)
    ref = npb.delta_backward(D, W, A, Z, np.empty_like(A), act, p)
    for be in BACKENDS:
        got = ops.delta_backward(D, W, A, Z, activation=act, param=p, backend=be)
        assert got.shape == (n, k) and got.dtype == dtype
        assert_close(got, ref, dtype, scale=20)


@pytest.mark.parametrize("nkm", SHAPES)
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_weight_gradient_and_prelu_gradient(npb, dtype, rng, nkm, l2):
    n, k, m = nkm
    A, D, W = _rand(rng, (n, k), dtype), _rand(rng, (n, m), dtype), _rand(rng, (k, m), dtype)
    rW, rb = npb.weight_gradient(A, D, W, np.empty_like(W), np.empty(m, dtype), l2)
    Z = _rand(rng, (n, m), dtype)
    rg = npb.prelu_gamma_gradient(D, Z, np.empty(m, dtype))
    for be in BACKENDS:
        dW, db = ops.weight_gradient(A, D, W, l2=l2, backend=be)
        assert dW.shape == (k, m) and db.shape == (m,) and dW.dtype == db.dtype == dtype
        assert_close(dW, rW, dtype, scale=20)
        assert_close(db, rb, dtype, scale=20)
        dW2, db2 = ops.weight_gradient(A, D, W, scale=2.0, backend=be)
        assert_close(dW2, 2.0 * n * npb.weight_gradient(A, D, W, np.empty_like(W), np.empty(m, dtype))[0],
                     dtype, scale=40)
        g = ops.prelu_gamma_gradient(D, Z, backend=be)
        assert g.shape == (m,) and g.dtype == dtype
        assert_close(g, rg, dtype, scale=20)


@pytest.mark.parametrize("nkm", SHAPES)
def test_sgd_weight_update(npb, dtype, rng, be, nkm):
    n, k, m = nkm
    A, D = _rand(rng, (n, k), dtype), _rand(rng, (n, m), dtype)
    W, b = _rand(rng, (k, m), dtype), _rand(rng, (m,), dtype)
    rW, rb = npb.sgd_weight_update(A, D, W.copy(), b.copy(), 0.1, 0.01)
    W2, b2 = W.copy(), b.copy()
    out = ops.sgd_weight_update(A, D, W2, b2, 0.1, 0.01, backend=be)
    assert out[0] is W2 and out[1] is b2
    assert_close(W2, rW, dtype, scale=20)
    assert_close(b2, rb, dtype, scale=20)


# ----------------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (6, 1), (25, 7)])
@pytest.mark.parametrize("weighted", [False, True])
def test_losses(npb, dtype, rng, be, shape, weighted):
    n, c = shape
    Z = _rand(rng, shape, dtype, 3)
    Y = (rng.random(shape) < 0.5).astype(dtype)
    sw = rng.uniform(0.5, 2, n).astype(dtype) if weighted else None
    labels = rng.integers(0, c, n).astype(np.intp)
    for name, target in (("softmax_cross_entropy", labels), ("sigmoid_cross_entropy", Y),
                         ("squared_error", Y)):
        ref_d = np.empty_like(Z)
        ref = getattr(npb, name)(Z, target, ref_d, sw)
        loss, delta = getattr(ops, name)(Z, target, sample_weight=sw, backend=be)
        assert isinstance(loss, float) and delta.shape == shape and delta.dtype == dtype
        np.testing.assert_allclose(loss, ref, rtol=1e-5 if dtype == np.float32 else 1e-12)
        assert_close(delta, ref_d, dtype, scale=8)
        buf = np.empty_like(Z)
        loss2, d2 = getattr(ops, name)(Z, target, buf, sw, backend=be)
        assert d2 is buf and loss2 == loss


def test_labels_any_integer_dtype_but_never_floats(be):
    Z = np.zeros((3, 4))
    for labels in ([0, 3, 1], np.array([0, 3, 1], np.int32), np.array([0, 3, 1, 2], np.int64)[:3],
                   np.array([0, 9, 3, 9, 1], np.uint8)[::2]):
        loss, D = ops.softmax_cross_entropy(Z, labels, backend=be)
        np.testing.assert_allclose(loss, np.log(4))
    with pytest.raises(TypeError, match="labels: expected integer class indices"):
        ops.softmax_cross_entropy(Z, np.array([0.0, 1.0, 2.0]), backend=be)
    with pytest.raises(ValueError, match="labels"):
        ops.softmax_cross_entropy(Z, [0, 4, 1], backend=be)


# ----------------------------------------------------------------------------------------------------
# Optimizer updates
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1,), (7,), (1, 1), (5, 1), (3, 4)])
def test_updates_in_place_any_shape(npb, dtype, rng, be, shape):
    P, G = _rand(rng, shape, dtype), _rand(rng, shape, dtype)
    flatP, flatG = P.reshape(-1).copy(), G.reshape(-1)

    ref = npb.sgd_update(flatP.copy(), flatG, 0.1)
    p = P.copy()
    assert ops.sgd_update(p, G, 0.1, backend=be) is p
    assert_close(p.reshape(-1), ref, dtype)

    v_ref = np.full(flatP.shape, 0.2, dtype)
    ref = npb.momentum_update(flatP.copy(), flatG, v_ref, 0.1, 0.9, True)
    p, v = P.copy(), np.full(shape, 0.2, dtype)
    assert ops.momentum_update(p, G, v, 0.1, 0.9, nesterov=True, backend=be) is p
    assert_close(p.reshape(-1), ref, dtype)
    assert_close(v.reshape(-1), v_ref, dtype)

    m_ref, s_ref = np.full(flatP.shape, 0.1, dtype), np.full(flatP.shape, 0.3, dtype)
    ref = npb.adam_update(flatP.copy(), flatG, m_ref, s_ref, 0.01, 0.9, 0.999, 1e-8, 3)
    p, m, s = P.copy(), np.full(shape, 0.1, dtype), np.full(shape, 0.3, dtype)
    assert ops.adam_update(p, G, m, s, lr=0.01, t=3, backend=be) is p
    assert_close(p.reshape(-1), ref, dtype, scale=4)
    assert_close(m.reshape(-1), m_ref, dtype)
    assert_close(s.reshape(-1), s_ref, dtype)


def test_update_errors(be):
    P = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"grad: shape \(4, 3\) does not match param \(3, 4\)"):
        ops.sgd_update(P, np.zeros((4, 3)), 0.1, backend=be)
    with pytest.raises(ValueError, match="velocity: array must be C-contiguous"):
        ops.momentum_update(P, np.zeros((3, 4)), np.zeros((4, 3)).T, 0.1, 0.9, backend=be)
    with pytest.raises(TypeError, match="adam_update.*'t'"):
        ops.adam_update(P, P, P.copy(), P.copy(), backend=be)
    with pytest.raises(ValueError, match="t: Adam step count starts at 1"):
        ops.adam_update(P, P, P.copy(), P.copy(), t=0, backend=be)
    with pytest.raises(TypeError, match="grad"):
        ops.sgd_update(P, np.zeros((3, 4), np.float32), 0.1, backend=be)


@pytest.mark.parametrize("kind", ["sgd", "momentum", "nesterov", "adam"])
def test_apply_update(npb, dtype, rng, kind):
    theta0, grad = _rand(rng, (11,), dtype), _rand(rng, (11,), dtype)
    results = []
    for be in BACKENDS:
        opt = Optimizer(kind, 11, dtype, lr=0.05)
        theta = theta0.copy()
        for _ in range(3):
            assert ops.apply_update(theta, grad, opt, backend=be) is theta
        assert opt.t == 3
        results.append(theta)
    assert_close(results[0], results[1], dtype, scale=4)


def test_all_finite(dtype, be):
    X = np.ones((3, 2), dtype)
    assert ops.all_finite(X, backend=be) is True
    X[1, 1] = np.inf
    assert ops.all_finite(X, backend=be) is False


# ----------------------------------------------------------------------------------------------------
# Allocation and errors
# ----------------------------------------------------------------------------------------------------
def test_out_none_allocation_checks_inputs_and_names_them(be):
    with pytest.raises(TypeError, match="Z: expected a numpy array, got list"):
        ops.softmax([[1.0, 2.0]], backend=be)
    with pytest.raises(TypeError, match="X: dtype must be float32 or float64, got int64"):
        ops.dense_forward(np.zeros((2, 3), np.int64), np.zeros((3, 2)), np.zeros(2), backend=be)
    with pytest.raises(ValueError, match=r"X: expected a 2-D array, got shape \(3,\)"):
        ops.dense_forward(np.zeros(3), np.zeros((3, 2)), np.zeros(2), backend=be)
    with pytest.raises(TypeError, match="W"):
        ops.dense_forward(np.zeros((2, 3)), np.zeros((3, 2), np.float32), np.zeros(2), backend=be)
    with pytest.raises(ValueError, match="W"):
        ops.dense_forward(np.zeros((2, 3)), np.zeros((4, 2)), np.zeros(2), backend=be)
    with pytest.raises(ValueError, match="shapes do not chain"):
        ops.gemm(np.zeros((2, 3)), np.zeros((2, 3)), backend=be)


def test_empty_batches(dtype, be):
    X, W, b = np.zeros((0, 3), dtype), np.ones((3, 2), dtype), np.ones(2, dtype)
    assert ops.dense_forward(X, W, b, activation="relu", backend=be).shape == (0, 2)
    loss, D = ops.squared_error(np.zeros((0, 2), dtype), np.zeros((0, 2), dtype), backend=be)
    assert loss == 0.0 and D.shape == (0, 2)


# ----------------------------------------------------------------------------------------------------
# Backend selection
# ----------------------------------------------------------------------------------------------------
def _spy(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def spy(*args, **kwargs):
        calls.append(module.NAME)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


def test_backend_per_call_global_and_block(monkeypatch, npb, cy):
    np_calls = _spy(monkeypatch, npb, "softmax")
    cy_calls = _spy(monkeypatch, cy, "softmax")
    Z = np.zeros((2, 3))
    assert fastmlp.get_backend() is cy  # "auto" with the extension built
    ops.softmax(Z)
    ops.softmax(Z, backend="numpy")
    assert (cy_calls, np_calls) == (["cython"], ["numpy"])

    assert fastmlp.set_backend("numpy") == "auto"
    assert fastmlp.get_backend() is npb and fastmlp.get_backend().NAME == "numpy"
    ops.softmax(Z)
    ops.softmax(Z, backend="cython")  # per call wins over the default
    assert (cy_calls, np_calls) == (["cython"] * 2, ["numpy"] * 2)

    with fastmlp.use_backend("cython") as mod:
        assert mod is cy and fastmlp.get_backend() is cy
        ops.softmax(Z)
        with fastmlp.use_backend("numpy"):
            assert fastmlp.get_backend() is npb
        assert fastmlp.get_backend() is cy
    assert fastmlp.get_backend() is npb
    assert cy_calls == ["cython"] * 3
    assert fastmlp.set_backend("cython") == "numpy"
    assert fastmlp.get_backend("numpy") is npb  # a name still wins


def test_use_backend_is_local_to_the_thread(npb, cy):
    seen = {}

    def other():
        seen["other"] = fastmlp.get_backend().NAME

    with fastmlp.use_backend("numpy"):
        t = threading.Thread(target=other)
        t.start()
        t.join()
        seen["here"] = fastmlp.get_backend().NAME
    assert seen == {"other": "cython", "here": "numpy"}


def test_use_backend_restores_after_an_error():
    with pytest.raises(RuntimeError):
        with fastmlp.use_backend("numpy"):
            raise RuntimeError
    assert fastmlp.get_backend().NAME == "cython"


def test_bad_backend_names(monkeypatch):
    for bad in ("torch", "", None, 3):
        with pytest.raises(ValueError, match="backend"):
            fastmlp.set_backend(bad)
    with pytest.raises(ValueError, match="backend: unknown backend 'gpu'"):
        ops.softmax(np.zeros((1, 2)), backend="gpu")
    with pytest.raises(ValueError, match="backend"):
        with fastmlp.use_backend("gpu"):
            pass
    assert fastmlp.get_backend().NAME == "cython"
    # Without the compiled extension "cython" is refused up front and "auto" falls back to NumPy.
    monkeypatch.setattr(backend_mod, "_cython_backend", None)
    with pytest.raises(ImportError, match="not built"):
        fastmlp.set_backend("cython")
    assert fastmlp.get_backend().NAME == "numpy"


# ----------------------------------------------------------------------------------------------------
# Another library's training loop
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("act", ["tanh", "prelu", "gelu"])
def test_ops_backprop_equals_fastmlp_gradients(dtype, rng, be, act):
    model = fastmlp.FastMLP([4, 6, 3], activation=act, output="softmax", dtype=dtype, seed=3)
    X = _rand(rng, (9, 4), dtype)
    y = rng.integers(0, 3, 9)
    R, dWs, dbs = model.gradients(X, y)
    (W1, W2), (b1, b2), (g1, _) = model.weights, model.biases, model.slopes
    Z1 = np.empty((9, 6), dtype)
    H = ops.dense_forward(X, W1, b1, activation=act, param=g1, Z=Z1, backend=be)
    Z = ops.dense_forward(H, W2, b2, backend=be)
    loss, D2 = ops.softmax_cross_entropy(Z, y, backend=be)
    D1 = ops.delta_backward(D2, W2, H, Z1, activation=act, param=g1, backend=be)
    dW2, db2 = ops.weight_gradient(H, D2, W2, backend=be)
    dW1, db1 = ops.weight_gradient(X, D1, W1, backend=be)
    np.testing.assert_allclose(loss, R, rtol=1e-5 if dtype == np.float32 else 1e-12)
    for got, ref in ((dW1, dWs[0]), (db1, dbs[0]), (dW2, dWs[1]), (db2, dbs[1])):
        assert_close(got, ref, dtype, scale=50)
    if act == "prelu":
        G1 = ops.gemm(D2, W2, trans_b=True, backend=be)  # ∂L/∂A1
        _, full = model.gradient_vector(X, y)
        g0 = model.spec.g_offsets[0]
        assert_close(ops.prelu_gamma_gradient(G1, Z1, backend=be), full[g0:g0 + 6], dtype, scale=50)


def test_module_docstring_training_loop_learns(be):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.intp)
    W1 = rng.standard_normal((4, 16)).astype(np.float32) * 0.5
    b1 = np.zeros(16, np.float32)
    W2 = rng.standard_normal((16, 2)).astype(np.float32) * 0.5
    b2 = np.zeros(2, np.float32)
    losses = []
    with fastmlp.use_backend(be):
        for _ in range(100):
            H = ops.dense_forward(X, W1, b1, activation="tanh")
            Z = ops.dense_forward(H, W2, b2)
            loss, D2 = ops.softmax_cross_entropy(Z, y)
            D1 = ops.delta_backward(D2, W2, H, activation="tanh")
            dW2, db2 = ops.weight_gradient(H, D2, W2)
            dW1, db1 = ops.weight_gradient(X, D1, W1)
            for p, g in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2)):
                ops.sgd_update(p, g, lr=0.5)
            losses.append(loss)
    assert losses[-1] < 0.2 * losses[0]
    assert (ops.dense_forward(ops.dense_forward(X, W1, b1, activation="tanh"), W2, b2).argmax(1)
            == y).mean() > 0.95


# ----------------------------------------------------------------------------------------------------
# Output buffers that alias their inputs, empty batches, parameter checks (alike on both backends)
# ----------------------------------------------------------------------------------------------------
def test_output_buffers_sharing_memory_with_inputs_are_refused(be, dtype, rng):
    # The Cython kernels write while they read (and BLAS forbids overlap): these gave silently wrong
    # results on one backend or the other.
    X, W, b = _rand(rng, (4, 3), dtype), _rand(rng, (3, 3), dtype), _rand(rng, (3,), dtype)
    D, A, G = _rand(rng, (4, 3), dtype), np.tanh(_rand(rng, (4, 3), dtype)), _rand(rng, (4, 3), dtype)
    Y = (rng.random((4, 3)) > 0.5).astype(dtype)
    Zbuf = np.empty((4, 3), dtype)
    cases = [
        (lambda: ops.dense_forward(X, W, b, out=X, backend=be), "out: must not share memory with X"),
        (lambda: ops.dense_forward(X, W, b, out=Zbuf, Z=Zbuf, activation="gelu", backend=be),
         "out: must not share memory with Z"),
        (lambda: ops.delta_backward(D, W, A, out=D[:], activation="tanh", backend=be),
         "out: must not share memory with delta"),
        (lambda: ops.delta_backward(D, W, A, out=A, activation="tanh", backend=be),
         "out: must not share memory with A"),
        (lambda: ops.gemm(X[:3].copy(), W, W, backend=be), "C: must not share memory with B"),
        (lambda: ops.weight_gradient(X, D, W, dW=W, l2=0.1, backend=be), "dW: must not share memory with W"),
        (lambda: ops.backprop_activation(G, A, out=A, activation="tanh", backend=be),
         "out: must not share memory with A"),
        (lambda: ops.activation_derivative(A, out=A, activation="tanh", backend=be),
         "out: must not share memory with A"),
        (lambda: ops.sigmoid_cross_entropy(X, Y, delta=Y, backend=be), "delta: must not share memory with Y"),
        # out may be Z itself (in place) but not a shifted view of it
        (lambda: ops.activation_forward(Zbuf[:2], out=Zbuf[1:], activation="relu", backend=be),
         r"out: must not share memory with Z \(other than being Z itself\)"),
    ]
    for call, msg in cases:
        with pytest.raises(ValueError, match=msg):
            call()


def test_documented_in_place_outputs_still_work(be, dtype, rng):
    Z, A, G = _rand(rng, (5, 4), dtype), np.tanh(_rand(rng, (5, 4), dtype)), _rand(rng, (5, 4), dtype)
    for fn, kw in ((ops.softmax, {}), (ops.log_softmax, {}),
                   (ops.activation_forward, {"activation": "elu", "param": 0.5})):
        expected = fn(Z, backend=be, **kw)
        Z2 = Z.copy()
        assert fn(Z2, out=Z2, backend=be, **kw) is Z2
        assert_close(Z2, expected, dtype)
    expected = ops.backprop_activation(G, A, activation="tanh", backend=be)
    G2 = G.copy()
    assert_close(ops.backprop_activation(G2, A, out=G2, activation="tanh", backend=be), expected, dtype)
    labels = np.arange(5) % 4
    loss, expected = ops.softmax_cross_entropy(Z, labels, backend=be)
    Z2 = Z.copy()
    loss2, D = ops.softmax_cross_entropy(Z2, labels, delta=Z2, backend=be)
    assert D is Z2 and loss2 == pytest.approx(loss)
    assert_close(D, expected, dtype)


def test_empty_batch_gradients_and_steps(dtype, be):
    A0, D0 = np.zeros((0, 3), dtype), np.zeros((0, 2), dtype)
    W, b = np.ones((3, 2), dtype), np.ones(2, dtype)
    dW, db = ops.weight_gradient(A0, D0, W, l2=0.5, backend=be)  # was ZeroDivisionError on numpy
    np.testing.assert_array_equal(dW, 0.5 * W)
    np.testing.assert_array_equal(db, np.zeros(2, dtype))
    np.testing.assert_array_equal(ops.prelu_gamma_gradient(A0, A0, backend=be), np.zeros(3, dtype))
    assert ops.sgd_weight_update(A0, D0, W, b, 0.1, l2=0.1, backend=be) == (W, b)
    np.testing.assert_array_equal(W, np.ones((3, 2), dtype))
    with pytest.raises(ValueError, match="shapes do not chain"):
        ops.sgd_weight_update(A0, np.zeros((0, 5), dtype), W, b, 0.1, backend=be)
    with pytest.raises(TypeError, match="W: dtype"):
        ops.sgd_weight_update(A0, D0, W.astype(np.float16), b, 0.1, backend=be)


def test_activation_params_checked_alike_on_both_backends(be):
    Z = np.linspace(-2, 2, 6).reshape(2, 3)
    for act, param, exc, msg in [
        ("prelu", 0.2, ValueError, r"prelu needs a slope array of shape \(3,\), got float"),
        ("prelu", np.ones(2), ValueError, r"prelu needs a slope array of shape \(3,\), got \(2,\)"),
        ("prelu", None, ValueError, "prelu needs a slope array"),
        # derivatives are read from A = f(Z): a negative slope / gamma gave f'(z) = 1 for z < 0
        ("leaky_relu", -0.5, ValueError, "leaky_relu slope must be >= 0"),
        ("elu", -0.5, ValueError, "elu gamma must be > 0"),
        ("leaky_relu", np.ones(3), ValueError, "must be a scalar"),
    ]:
        for call in (lambda a, p: ops.activation_forward(Z, activation=a, param=p, backend=be),
                     lambda a, p: ops.activation_derivative(Z, Z, activation=a, param=p, backend=be),
                     lambda a, p: ops.dense_forward(Z, np.eye(3), np.zeros(3), activation=a, param=p,
                                                    backend=be)):
            with pytest.raises(exc, match=msg):
                call(act, param)


def test_adam_step_number_must_be_an_integer(be):
    def step(t):
        p, g, m, v = np.ones(3), np.full(3, 0.5), np.full(3, 0.1), np.full(3, 0.2)
        return ops.adam_update(p, g, m, v, lr=0.1, t=t, backend=be)
    with pytest.raises(TypeError, match="t: the Adam step number must be an integer"):
        step(1.5)  # was beta**1.5 on numpy, beta**1 on Cython
    np.testing.assert_array_equal(step(2.0), step(2))
    np.testing.assert_array_equal(step(np.int64(2)), step(2))


def test_arguments_are_named_on_the_numpy_backend_too(be):
    with pytest.raises(ValueError, match=r"velocity: shape \(4,\) does not match param \(3,\)"):
        ops.momentum_update(np.ones(3), np.ones(3), np.ones(4), 0.1, backend=be)
    with pytest.raises(TypeError, match="param: expected a numpy array, got list"):
        ops.sgd_update([1.0], np.ones(1), 0.1, backend=be)
    with pytest.raises(TypeError, match="sample_weight: expected a numpy array, got list"):
        ops.softmax_cross_entropy(np.zeros((2, 3)), [0, 1], sample_weight=[1.0, 1.0], backend=be)
    for fn in (ops.softmax, ops.log_softmax):
        with pytest.raises(ValueError, match=r"out: shape \(2, 2\) does not match Z \(2, 3\)"):
            fn(np.zeros((2, 3)), out=np.zeros((2, 2)), backend=be)


# ----------------------------------------------------------------------------------------------------
# One validation layer: hyperparameters by validation.check_param, activation parameters by the registry
# ----------------------------------------------------------------------------------------------------
def test_update_hyperparameters_are_checked_by_the_one_rule_table(be):
    from fastmlp.validation import ParameterError

    P = np.ones(3)

    def arrays(k):
        return [np.ones(3) for _ in range(k)]

    cases = [
        (lambda: ops.sgd_update(*arrays(2), 0.0, backend=be), "lr: must be > 0"),
        (lambda: ops.sgd_update(*arrays(2), np.nan, backend=be), "lr: expected a finite number"),
        (lambda: ops.sgd_update(*arrays(2), "0.1", backend=be), "lr: expected a finite number"),
        (lambda: ops.momentum_update(*arrays(3), -0.1, backend=be), "lr: must be > 0"),
        (lambda: ops.momentum_update(*arrays(3), 0.1, 1.5, backend=be), "momentum: must be <= 1"),
        (lambda: ops.momentum_update(*arrays(3), 0.1, 0.9, nesterov="yes", backend=be),
         "nesterov: expected True or False"),
        (lambda: ops.adam_update(*arrays(4), lr=0.0, t=1, backend=be), "lr: must be > 0"),
        (lambda: ops.adam_update(*arrays(4), beta1=1.0, t=1, backend=be), "beta1: must be < 1"),
        (lambda: ops.adam_update(*arrays(4), beta2=-0.5, t=1, backend=be), "beta2: must be >= 0"),
        (lambda: ops.adam_update(*arrays(4), eps=0.0, t=1, backend=be), "eps: must be > 0"),
        (lambda: ops.sgd_weight_update(np.ones((2, 3)), np.ones((2, 3)), np.ones((3, 3)), P, 0.0,
                                       backend=be), "lr: must be > 0"),
        (lambda: ops.sgd_weight_update(np.ones((2, 3)), np.ones((2, 3)), np.ones((3, 3)), P, 0.1, l2=-1.0,
                                       backend=be), "l2: must be >= 0"),
        (lambda: ops.weight_gradient(np.ones((2, 3)), np.ones((2, 3)), np.ones((3, 3)), l2=-1.0,
                                     backend=be), "l2: must be >= 0"),
    ]
    for call, msg in cases:
        with pytest.raises(ParameterError, match=msg):
            call()
    # nothing was updated by a refused call; NumPy scalars and the edges of the rules are accepted
    p = np.ones(3)
    ops.momentum_update(p, np.ones(3), np.zeros(3), np.float32(0.5), momentum=1.0, nesterov=np.bool_(True),
                        backend=be)
    ops.adam_update(p, np.ones(3), np.zeros(3), np.zeros(3), beta1=0.0, beta2=0.0, t=1, backend=be)
    assert np.isfinite(p).all()


def test_activation_parameters_follow_the_registry_rules(be):
    from fastmlp._registry import ACTIVATION_TABLE
    Z = np.linspace(-2, 2, 6).reshape(2, 3)
    scalar = [e for e in ACTIVATION_TABLE.values() if e.param is not None and not e.per_unit]
    assert scalar, "the registry has scalar-parameter activations"
    for entry in scalar:
        # the default is valid, and so is the value the registry itself accepts
        ops.activation_forward(Z, activation=entry.name, param=entry.param.default, backend=be)
        with pytest.raises(ValueError, match=f"param: parameter of {entry.name} must be finite"):
            ops.activation_forward(Z, activation=entry.name, param=np.inf, backend=be)
        with pytest.raises(TypeError, match=f"param: the {entry.name} {entry.param.name} must be a number"):
            ops.activation_forward(Z, activation=entry.name, param="big", backend=be)
        if entry.param.low is not None:
            bad = entry.param.low if entry.param.low_open else entry.param.low - 1
            with pytest.raises(ValueError, match=f"param: {entry.name} {entry.param.name} must be"):
                ops.dense_forward(Z, np.eye(3), np.zeros(3), activation=entry.name, param=bad, backend=be)
    for entry in (e for e in ACTIVATION_TABLE.values() if e.per_unit):
        with pytest.raises(ValueError, match=rf"param: {entry.name} needs a slope array of shape \(3,\)"):
            ops.activation_forward(Z, activation=entry.name, param=np.ones(4), backend=be)


def test_docs_and_exports_come_from_the_registry():
    from fastmlp import _registry
    assert ops.ACTIVATIONS is _registry.ACTIVATIONS and ops.ALIASES is _registry.ALIASES
    assert ops.ACTIVATION_CODES is _registry.ACTIVATION_CODES and ops.NEEDS_Z is _registry.NEEDS_Z
    assert not hasattr(ops, "_ACT_RULES")
    default = inspect.signature(ops.dense_forward).parameters["activation"].default
    assert _registry.ACTIVATION_CODES[default] == 0 and default == "identity"
    doc = " ".join(ops.__doc__.split())
    for name in _registry.ACTIVATIONS:
        assert name in doc, name
    for alias in _registry.ALIASES:
        assert alias in doc, alias
    for fn in (ops.activation_forward, ops.activation_derivative, ops.dense_forward, ops.delta_backward):
        assert "{" not in fn.__doc__, fn.__name__
    for name, entry in _registry.ACTIVATION_TABLE.items():
        if entry.param is not None:
            assert f"* {name}: its" in ops.activation_forward.__doc__
    for name in _registry.NEEDS_Z:
        assert name in ops.delta_backward.__doc__ and name in ops.dense_forward.__doc__


@pytest.mark.parametrize("weighted", [False, True])
def test_poisson_loss(dtype, rng, be, weighted):
    if not hasattr(fastmlp.get_backend(be), "poisson_loss"):
        pytest.skip(f"the {be} backend has no poisson_loss yet")
    Z = _rand(rng, (7, 3), dtype)
    Y = rng.poisson(2.0, (7, 3)).astype(dtype)
    sw = rng.uniform(0.5, 2, 7).astype(dtype) if weighted else None
    mu = np.exp(Z.astype(np.float64))
    y = Y.astype(np.float64)
    ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0)), 0.0)
    per_row = (mu - y * Z - y + ylogy).sum(axis=1)
    w = np.ones(7) if sw is None else sw.astype(np.float64)
    loss, delta = ops.poisson_loss(Z, Y, sample_weight=sw, backend=be)
    assert isinstance(loss, float) and delta.dtype == dtype and delta.shape == Z.shape
    np.testing.assert_allclose(loss, (per_row * w).mean(), rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert_close(delta, (mu - y) * w[:, None], dtype, scale=8)
    Z2 = Z.copy()
    loss2, d2 = ops.poisson_loss(Z2, Y, delta=Z2, sample_weight=sw, backend=be)  # in place over Z
    assert d2 is Z2 and loss2 == pytest.approx(loss)
    with pytest.raises(ValueError, match="delta: must not share memory with Y"):
        ops.poisson_loss(Z, Y, delta=Y, backend=be)
