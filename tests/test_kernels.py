"""Every Cython kernel against the NumPy reference, in float32 and float64, on odd shapes."""
import numpy as np
import pytest

from conftest import ALL_ACTIVATIONS, assert_close

SHAPES = [(1, 1, 1), (1, 7, 3), (5, 1, 4), (13, 17, 1), (3, 2, 65), (1031, 33, 9), (64, 65, 130)]


def _z(rng, n, m, dtype):
    """Pre-activations mixing ordinary values, exact zeros and ±1000 (the stability edge)."""
    Z = rng.standard_normal((n, m)) * 3
    flat = Z.reshape(-1)
    flat[::7] = 0.0
    flat[3::11] = 1000.0
    flat[5::13] = -1000.0
    return Z.astype(dtype)


def _param(act, m, rng, dtype):
    if act == "prelu":
        return rng.uniform(-0.5, 0.5, m).astype(dtype)
    return {"leaky_relu": 0.1, "elu": 0.7}.get(act)


@pytest.mark.parametrize("act", ALL_ACTIVATIONS + ["softmax"])
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (7, 1), (33, 17)])
def test_activation_forward_matches_reference(cy, npb, dtype, rng, act, shape):
    Z = _z(rng, *shape, dtype)
    p = _param(act, shape[1], rng, dtype)
    ref = npb.activation_forward(Z, np.empty_like(Z), act, p)
    got = cy.activation_forward(Z, np.empty_like(Z), act, p)
    assert got.dtype == dtype
    assert np.isfinite(got).all()
    assert_close(got, ref, dtype, scale=4)
    inplace = Z.copy()
    assert cy.activation_forward(inplace, inplace, act, p) is inplace
    assert_close(inplace, ref, dtype, scale=4)


@pytest.mark.parametrize("act", ALL_ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 1), (7, 1), (33, 17)])
def test_activation_derivative_and_backprop_match_reference(cy, npb, dtype, rng, act, shape):
    Z = _z(rng, *shape, dtype)
    p = _param(act, shape[1], rng, dtype)
    A = npb.activation_forward(Z, np.empty_like(Z), act, p)
    ref = npb.activation_derivative(A, Z, np.empty_like(Z), act, p)
    got = cy.activation_derivative(A, Z, np.empty_like(Z), act, p)
    assert np.isfinite(got).all()
    assert_close(got, ref, dtype, scale=8)
    G = rng.standard_normal(shape).astype(dtype)
    ref_bp = npb.backprop_activation(G, A, Z, np.empty_like(G), act, p)
    got_bp = cy.backprop_activation(G, A, Z, np.empty_like(G), act, p)
    assert_close(got_bp, ref_bp, dtype, scale=8)
    assert_close(got_bp, G * ref, dtype, scale=8)


@pytest.mark.parametrize("act", ["prelu", "gelu", "silu"])
def test_derivatives_that_need_z_say_so(cy, npb, act):
    A = np.zeros((2, 3))
    p = np.zeros(3) if act == "prelu" else None
    for backend in (cy, npb):
        with pytest.raises(ValueError, match="Z"):
            backend.activation_derivative(A, None, np.empty_like(A), act, p)


def test_softmax_and_log_softmax(cy, npb, dtype, rng):
    Z = _z(rng, 9, 5, dtype)
    for fn in ("softmax", "log_softmax"):
        ref = getattr(npb, fn)(Z, np.empty_like(Z))
        got = getattr(cy, fn)(Z, np.empty_like(Z))
        assert np.isfinite(got).all()
        assert_close(got, ref, dtype, scale=10)
    P = cy.softmax(Z, np.empty_like(Z))
    assert_close(P.sum(axis=1), np.ones(9), dtype, scale=10)


@pytest.mark.parametrize("act", ALL_ACTIVATIONS)
@pytest.mark.parametrize("n,k,m", SHAPES)
def test_dense_forward_matches_reference(cy, npb, dtype, rng, act, n, k, m):
    X = rng.standard_normal((n, k)).astype(dtype)
    W = rng.standard_normal((k, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    p = _param(act, m, rng, dtype)
    Zr, Zc = np.empty((n, m), dtype), np.empty((n, m), dtype)
    ref = npb.dense_forward(X, W, b, np.empty((n, m), dtype), act, p, Z=Zr)
    got = cy.dense_forward(X, W, b, np.empty((n, m), dtype), act, p, Z=Zc)
    scale = 20 * np.sqrt(k)
    assert_close(Zc, Zr, dtype, scale=scale)
    assert_close(got, ref, dtype, scale=scale)
    assert_close(Zc, X.astype(np.float64) @ W + b, dtype, scale=scale)
    got2 = cy.dense_forward(X, W, b, np.empty((n, m), dtype), act, p)
    assert_close(got2, ref, dtype, scale=scale)


@pytest.mark.parametrize("act", ALL_ACTIVATIONS)
@pytest.mark.parametrize("n,k,m", SHAPES)
def test_delta_recursion_matches_reference(cy, npb, dtype, rng, act, n, k, m):
    delta = rng.standard_normal((n, m)).astype(dtype)
    W = rng.standard_normal((k, m)).astype(dtype)
    Z = rng.standard_normal((n, k)).astype(dtype)
    p = _param(act, k, rng, dtype)
    A = npb.activation_forward(Z, np.empty_like(Z), act, p)
    ref = npb.delta_backward(delta, W, A, Z, np.empty((n, k), dtype), act, p)
    got = cy.delta_backward(delta, W, A, Z, np.empty((n, k), dtype), act, p)
    assert_close(got, ref, dtype, scale=20 * np.sqrt(m))
    deriv = npb.activation_derivative(A, Z, np.empty_like(A), act, p)
    assert_close(got, deriv * (delta.astype(np.float64) @ W.T), dtype, scale=20 * np.sqrt(m))


@pytest.mark.parametrize("n,k,m", SHAPES)
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_weight_gradient_matches_reference(cy, npb, dtype, rng, n, k, m, l2):
    A = rng.standard_normal((n, k)).astype(dtype)
    D = rng.standard_normal((n, m)).astype(dtype)
    W = rng.standard_normal((k, m)).astype(dtype)
    out = [np.full((k, m), np.nan, dtype), np.full(m, np.nan, dtype)]
    gW, gb = cy.weight_gradient(A, D, W, out[0], out[1], l2=l2)
    rW, rb = npb.weight_gradient(A, D, W, np.empty((k, m), dtype), np.empty(m, dtype), l2=l2)
    scale = 20 * np.sqrt(n)
    assert_close(gW, rW, dtype, scale=scale)
    assert_close(gb, rb, dtype, scale=scale)
    assert_close(gW, A.astype(np.float64).T @ D / n + l2 * W, dtype, scale=scale)
    gW2, gb2 = cy.weight_gradient(A, D, W, np.empty((k, m), dtype), np.empty(m, dtype), scale=0.5)
    assert_close(gW2, 0.5 * (A.astype(np.float64).T @ D), dtype, scale=scale)
    assert_close(gb2, 0.5 * D.sum(axis=0, dtype=np.float64), dtype, scale=scale)


def test_prelu_gamma_gradient(cy, npb, dtype, rng):
    G = rng.standard_normal((11, 4)).astype(dtype)
    Z = rng.standard_normal((11, 4)).astype(dtype)
    ref = npb.prelu_gamma_gradient(G, Z, np.empty(4, dtype))
    got = cy.prelu_gamma_gradient(G, Z, np.empty(4, dtype))
    assert_close(got, ref, dtype, scale=10)
    assert_close(got, (G * np.minimum(Z, 0)).sum(axis=0) / 11, dtype, scale=10)


@pytest.mark.parametrize("n,k,m", SHAPES)
def test_fused_sgd_weight_update_matches_reference(cy, npb, dtype, rng, n, k, m):
    A = rng.standard_normal((n, k)).astype(dtype)
    D = rng.standard_normal((n, m)).astype(dtype)
    W = rng.standard_normal((k, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    Wc, bc, Wr, br = W.copy(), b.copy(), W.copy(), b.copy()
    cy.sgd_weight_update(A, D, Wc, bc, lr=0.1, l2=0.05)
    npb.sgd_weight_update(A, D, Wr, br, lr=0.1, l2=0.05)
    assert_close(Wc, Wr, dtype, scale=20 * np.sqrt(n))
    assert_close(bc, br, dtype, scale=20 * np.sqrt(n))
    gW = A.astype(np.float64).T @ D / n + 0.05 * W
    assert_close(Wc, W - 0.1 * gW, dtype, scale=20 * np.sqrt(n))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n,c", [(1, 2), (7, 1), (300, 10), (5, 3)])
def test_losses_match_reference(cy, npb, dtype, rng, weighted, n, c):
    Z = _z(rng, n, c, dtype)
    sw = rng.uniform(0, 2, n).astype(dtype) if weighted else None
    Y = rng.uniform(0, 1, (n, c)).astype(dtype)
    for fn, target in (("sigmoid_cross_entropy", Y), ("squared_error", Y)):
        Dr, Dc = np.empty_like(Z), np.empty_like(Z)
        lr_ = getattr(npb, fn)(Z, target, Dr, sw)
        lc = getattr(cy, fn)(Z, target, Dc, sw)
        assert np.isfinite(lc)
        np.testing.assert_allclose(lc, lr_, rtol=1e-5 if dtype == np.float32 else 1e-12)
        assert_close(Dc, Dr, dtype, scale=10)
    if c >= 2:
        labels = rng.integers(0, c, n).astype(np.intp)
        Dr, Dc = np.empty_like(Z), np.empty_like(Z)
        lr_ = npb.softmax_cross_entropy(Z, labels, Dr, sw)
        lc = cy.softmax_cross_entropy(Z, labels, Dc, sw)
        np.testing.assert_allclose(lc, lr_, rtol=1e-5 if dtype == np.float32 else 1e-12)
        assert_close(Dc, Dr, dtype, scale=10)
        inplace = Z.copy()
        cy.softmax_cross_entropy(inplace, labels, inplace, sw)
        assert_close(inplace, Dr, dtype, scale=10)


def _poisson_data(rng, n, c, dtype, with_zeros=True):
    """Log-means Z in [-3, 3] and Poisson counts Y (zeros included) of those means."""
    Z = rng.uniform(-3, 3, (n, c)).astype(dtype)
    Y = rng.poisson(np.exp(Z.astype(np.float64))).astype(dtype)
    if with_zeros:
        Y.reshape(-1)[::5] = 0
    return Z, Y


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n,c", [(1, 1), (7, 1), (300, 10), (5, 3), (13, 17)])
def test_poisson_loss_and_exp_output_match_reference(cy, npb, dtype, rng, weighted, n, c):
    Z, Y = _poisson_data(rng, n, c, dtype)
    sw = rng.uniform(0, 2, n).astype(dtype) if weighted else None
    Dr, Dc = np.empty_like(Z), np.empty_like(Z)
    lr_ = npb.poisson_loss(Z, Y, Dr, sw)
    lc = cy.poisson_loss(Z, Y, Dc, sw)
    assert np.isfinite(lc) and lc >= 0
    np.testing.assert_allclose(lc, lr_, rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert_close(Dc, Dr, dtype, scale=10)
    # the formulas: L = mean_i w_i Σ_j (μ − y z + y log y − y), δ = w (μ − y), μ = e^z
    Z64, Y64 = Z.astype(np.float64), Y.astype(np.float64)
    mu = np.exp(Z64)
    w = np.ones(n) if sw is None else sw.astype(np.float64)
    ylogy = np.where(Y64 > 0, Y64 * np.log(np.where(Y64 > 0, Y64, 1)), 0)
    np.testing.assert_allclose(lc, (w * (mu - Y64 * Z64 + ylogy - Y64).sum(axis=1)).sum() / n,
                               rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert_close(Dc, w[:, None] * (mu - Y64), dtype, scale=50)
    # sample weights scale as in squared error: row i's loss and δ times w_i, the sum divided by n
    if weighted:
        D1 = np.empty_like(Z)
        cy.poisson_loss(Z, Y, D1)
        assert_close(Dc, sw[:, None] * D1, dtype, scale=10)
    # delta may be Z (in place)
    inplace = Z.copy()
    assert cy.poisson_loss(inplace, Y, inplace, sw) == pytest.approx(lc, rel=1e-12)
    assert_close(inplace, Dc, dtype)
    # the exp output activation and its derivative (= A)
    Ar = npb.activation_forward(Z, np.empty_like(Z), "exp")
    Ac = cy.activation_forward(Z, np.empty_like(Z), "exp")
    assert_close(Ac, Ar, dtype, scale=4)
    assert_close(Ac, mu, dtype, scale=50)
    assert_close(cy.activation_derivative(Ac, None, np.empty_like(Z), "exp"), Ac, dtype)
    G = rng.standard_normal(Z.shape).astype(dtype)
    assert_close(cy.backprop_activation(G, Ac, None, np.empty_like(G), "exp"),
                 npb.backprop_activation(G, Ar, None, np.empty_like(G), "exp"), dtype, scale=4)


def test_poisson_loss_is_half_sklearns_mean_poisson_deviance(cy, npb, rng):
    metrics = pytest.importorskip("sklearn.metrics")
    Z, Y = _poisson_data(rng, 200, 1, np.float64)
    y, mu = Y[:, 0], np.exp(Z[:, 0])
    assert (y == 0).any()
    sw = rng.uniform(0.5, 2, 200)
    for be in (cy, npb):
        np.testing.assert_allclose(be.poisson_loss(Z, Y, np.empty_like(Z)),
                                   metrics.mean_poisson_deviance(y, mu) / 2, rtol=1e-10)
        # weighted: the kernels' mean is Σ w_i L_i / n (as every loss), sklearn's Σ w_i D_i / Σ w_i
        np.testing.assert_allclose(be.poisson_loss(Z, Y, np.empty_like(Z), sw) * 200 / sw.sum(),
                                   metrics.mean_poisson_deviance(y, mu, sample_weight=sw) / 2, rtol=1e-10)


def test_exp_output_and_poisson_loss_at_the_extremes(cy, npb, dtype):
    """μ = e^z overflows to inf past the largest float, silently, as numpy's exp (no error, no NaN from
    y·log y at y = 0)."""
    big = 200.0 if dtype == np.float32 else 1000.0
    Z = np.array([[big, -big, 0.0]], dtype)
    Y = np.array([[0.0, 0.0, 0.0]], dtype)
    for be in (cy, npb):
        A = be.activation_forward(Z, np.empty_like(Z), "exp")
        assert A[0, 0] == np.inf and A[0, 1] == 0 and A[0, 2] == 1
        D = np.empty_like(Z)
        assert be.poisson_loss(Z, Y, D) == np.inf
        assert D[0, 0] == np.inf and D[0, 1] == 0 and D[0, 2] == 1
        assert be.poisson_loss(Z[:, 1:], Y[:, 1:], np.empty_like(Z[:, 1:])) == pytest.approx(1.0)


def test_poisson_loss_refuses_what_the_other_losses_refuse(cy):
    Z, Y = np.zeros((2, 3)), np.ones((2, 3))
    with pytest.raises(ValueError, match="delta: must not share memory with Y"):
        cy.poisson_loss(Z, Y, Y)  # the NumPy twin reads Y after writing delta
    with pytest.raises(ValueError, match=r"Y: shape \(2, 2\) does not match Z"):
        cy.poisson_loss(Z, np.ones((2, 2)), np.empty_like(Z))
    with pytest.raises(ValueError, match="sample_weight: shape"):
        cy.poisson_loss(Z, Y, np.empty_like(Z), np.ones(3))
    with pytest.raises(TypeError, match="Y: dtype float32 does not match"):
        cy.poisson_loss(Z, Y.astype(np.float32), np.empty_like(Z))


def test_cross_entropy_delta_is_softmax_minus_onehot(cy, dtype, rng):
    Z = rng.standard_normal((6, 4)).astype(dtype)
    y = np.array([0, 1, 2, 3, 3, 0], dtype=np.intp)
    D = np.empty_like(Z)
    loss = cy.softmax_cross_entropy(Z, y, D)
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    assert_close(D, P - np.eye(4)[y], dtype, scale=10)
    np.testing.assert_allclose(loss, -np.log(P[np.arange(6), y]).mean(), rtol=1e-5)


def test_losses_stable_at_extreme_logits(cy, dtype):
    Z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]], dtype=dtype)
    D = np.empty_like(Z)
    assert cy.softmax_cross_entropy(Z, np.array([0, 1], np.intp), D) == pytest.approx(0.0, abs=1e-6)
    assert cy.softmax_cross_entropy(Z, np.array([1, 0], np.intp), D) == pytest.approx(2000.0, rel=1e-6)
    Y = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=dtype)
    assert cy.sigmoid_cross_entropy(Z, Y, D) == pytest.approx(0.0, abs=1e-6)
    assert cy.sigmoid_cross_entropy(Z, 1 - Y, D) == pytest.approx(2000.0, rel=1e-6)
    assert np.isfinite(D).all()


@pytest.mark.parametrize("P", [1, 7, 1000])
def test_updates_match_reference(cy, npb, dtype, rng, P):
    theta = rng.standard_normal(P).astype(dtype)
    grad = rng.standard_normal(P).astype(dtype)
    a, b = theta.copy(), theta.copy()
    cy.sgd_update(a, grad, 0.1)
    npb.sgd_update(b, grad, 0.1)
    assert_close(a, b, dtype)
    for nesterov in (False, True):
        a, b = theta.copy(), theta.copy()
        va, vb = np.full(P, 0.3, dtype), np.full(P, 0.3, dtype)
        for _ in range(3):
            cy.momentum_update(a, grad, va, 0.1, 0.9, nesterov)
            npb.momentum_update(b, grad, vb, 0.1, 0.9, nesterov)
        assert_close(a, b, dtype, scale=4)
        assert_close(va, vb, dtype, scale=4)
    a, b = theta.copy(), theta.copy()
    ma, va, mb, vb = (np.zeros(P, dtype) for _ in range(4))
    for t in range(1, 4):
        cy.adam_update(a, grad, ma, va, 0.01, 0.9, 0.999, 1e-8, t)
        npb.adam_update(b, grad, mb, vb, 0.01, 0.9, 0.999, 1e-8, t)
    assert_close(a, b, dtype, scale=10)
    # The first Adam step moves every coordinate by lr·sign(g) (bias correction makes m̂/√v̂ = ±1).
    a, m, v = theta.copy(), np.zeros(P, dtype), np.zeros(P, dtype)
    cy.adam_update(a, grad, m, v, 0.01, 0.9, 0.999, 0.0, 1)
    assert_close(theta - a, 0.01 * np.sign(grad), dtype, scale=100)


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (3, 5, 2), (70, 90, 40)])
def test_gemm_all_transposes(cy, npb, dtype, rng, ta, tb, m, n, k):
    A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    C0 = rng.standard_normal((m, n)).astype(dtype)
    got = cy.gemm(A, B, C0.copy(), 0.5, 2.0, ta, tb)
    ref = npb.gemm(A, B, C0.copy(), 0.5, 2.0, ta, tb)
    assert_close(got, ref, dtype, scale=20 * np.sqrt(k))
    # beta = 0 must not read C: NaN garbage there does not leak.
    got0 = cy.gemm(A, B, np.full((m, n), np.nan, dtype), 1.0, 0.0, ta, tb)
    assert np.isfinite(got0).all()


@pytest.mark.parametrize("ta", [False, True])
def test_single_column_small_product_equals_the_general_loop_bitwise(cy, dtype, rng, ta):
    """A small product with one output column (a single-output layer) accumulates in a register: the
    same operations in the same order as the general loop, so it equals column 0 of the two-column
    product bit for bit (both below the BLAS threshold)."""
    for m, k in [(1, 1), (5, 7), (32, 64), (33, 60), (64, 1)]:
        A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        B2 = rng.standard_normal((k, 2)).astype(dtype)
        C0 = rng.standard_normal((m, 2)).astype(dtype)
        for alpha, beta in ((1.0, 0.0), (0.3, 0.7), (-0.5, 1.0)):
            two = cy.gemm(A, B2, C0.copy(), alpha, beta, ta, False)
            one = cy.gemm(A, np.ascontiguousarray(B2[:, :1]), np.ascontiguousarray(C0[:, :1]), alpha, beta,
                          ta, False)
            np.testing.assert_array_equal(one[:, 0], two[:, 0])


class TestBoundaryValidation:
    """The Cython kernels compile bounds checks out, so they must refuse bad buffers up front."""

    def test_dtype_mismatch_raises(self, cy, npb):
        X = np.ones((2, 3), np.float32)
        W = np.ones((3, 4), np.float64)
        for backend in (cy, npb):
            with pytest.raises(TypeError, match="W"):
                backend.dense_forward(X, W, np.ones(4, np.float32), np.empty((2, 4), np.float32))

    def test_integer_dtype_raises(self, cy):
        with pytest.raises(TypeError, match="Z"):
            cy.activation_forward(np.ones((2, 2), np.int64), np.empty((2, 2)), "relu")

    def test_shape_mismatch_names_argument(self, cy, npb):
        X = np.ones((2, 3))
        for backend in (cy, npb):
            with pytest.raises(ValueError, match="W"):
                backend.dense_forward(X, np.ones((4, 4)), np.ones(4), np.empty((2, 4)))
            with pytest.raises(ValueError, match="b"):
                backend.dense_forward(X, np.ones((3, 4)), np.ones(5), np.empty((2, 4)))
            with pytest.raises(ValueError, match="out"):
                backend.dense_forward(X, np.ones((3, 4)), np.ones(4), np.empty((3, 4)))

    def test_non_contiguous_and_readonly(self, cy):
        X = np.ones((4, 6))[:, ::2]
        with pytest.raises(ValueError, match="contiguous"):
            cy.activation_forward(X, np.empty((4, 3)), "tanh")
        out = np.empty((4, 3))
        out.flags.writeable = False
        with pytest.raises(ValueError, match="read-only"):
            cy.activation_forward(np.ones((4, 3)), out, "tanh")
        ro = np.ones((4, 3))
        ro.flags.writeable = False
        cy.activation_forward(ro, np.empty((4, 3)), "tanh")  # read-only inputs are fine

    def test_labels_out_of_range(self, cy, npb):
        Z = np.zeros((3, 2))
        for backend in (cy, npb):
            with pytest.raises(ValueError, match="labels"):
                backend.softmax_cross_entropy(Z, np.array([0, 2, 1], np.intp), np.empty_like(Z))
        with pytest.raises(TypeError, match="labels"):
            cy.softmax_cross_entropy(Z, np.array([0, 1, 1], np.int32), np.empty_like(Z))

    def test_unknown_activation(self, cy, npb):
        for backend in (cy, npb):
            with pytest.raises(ValueError, match="activation"):
                backend.activation_forward(np.ones((1, 1)), np.empty((1, 1)), "swishy")

    def test_prelu_needs_slope_array(self, cy):
        with pytest.raises((TypeError, ValueError), match="param"):
            cy.activation_forward(np.ones((2, 3)), np.empty((2, 3)), "prelu", np.ones(2))

    def test_not_an_array(self, cy):
        with pytest.raises(TypeError, match="Z"):
            cy.activation_forward([[1.0]], np.empty((1, 1)), "relu")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("n", [1, 7, 1000])
def test_all_finite(cy, npb, dtype, bad, n):
    X = np.random.default_rng(0).standard_normal((n, 3)).astype(dtype)
    X[0, 0] = np.finfo(dtype).max
    X[-1, 1] = np.finfo(dtype).tiny / 4  # subnormal: finite
    assert cy.all_finite(X) and npb.all_finite(X)
    X[n // 2, 2] = bad
    assert not cy.all_finite(X) and not npb.all_finite(X)


@pytest.mark.parametrize("act", ["identity", "logistic", "tanh", "relu", "leaky_relu", "elu", "softplus",
                                 "gelu", "silu", "softsign", "hardtanh"])
def test_nan_propagates_through_every_activation(cy, npb, dtype, act):
    """A NaN pre-activation gives a NaN activation on both backends (relu once turned it into 0, which
    hid a diverged network from the loss)."""
    Z = np.array([[np.nan, 1.0, -1.0]], dtype=dtype)
    for be in (cy, npb):
        A = be.activation_forward(Z, np.empty_like(Z), act)
        assert np.isnan(A[0, 0]) and np.isfinite(A[0, 1:]).all(), (be.__name__, act)


class TestHardenedBoundary:
    """Inputs that crashed the Cython kernels (segfault, out-of-bounds reads) or gave silently wrong
    answers before their Python boundary refused them; each now raises an error naming the argument."""

    def test_big_endian_floats_are_refused(self, cy):
        # '>f4' has the type number of float32: its bytes were read as native floats (tanh(1) came out 1.0)
        Z = np.ones((2, 3), ">f4")
        with pytest.raises(TypeError, match="Z: dtype must be native-endian"):
            cy.activation_forward(Z, np.empty((2, 3), np.float32), "tanh")
        with pytest.raises(TypeError, match="A: dtype must be native-endian"):
            cy.gemm(np.ones((2, 2), ">f8"), np.ones((2, 2)), np.empty((2, 2)))
        with pytest.raises(TypeError, match="X: dtype must be native-endian"):
            cy.all_finite(np.array([1.0, np.nan], ">f8"))

    def test_outputs_sharing_memory_with_inputs_are_refused(self, cy, rng):
        X, W, b = rng.standard_normal((4, 4)), rng.standard_normal((4, 4)), rng.standard_normal(4)
        A = np.tanh(X)
        buf = rng.standard_normal(17)
        cases = [
            (lambda: cy.gemm(X, W, X), "C: must not share memory with A"),
            (lambda: cy.dense_forward(X, W, b, X[:]), "out: must not share memory with X"),
            (lambda: cy.dense_forward(X, W, b, np.empty((4, 4)), "gelu", Z=W),
             "Z: must not share memory with W"),
            (lambda: cy.delta_backward(X, W, A, None, X[:], "tanh"), "out: must not share memory with delta"),
            (lambda: cy.backprop_activation(X, A, None, A, "tanh"), "out: must not share memory with A"),
            (lambda: cy.activation_derivative(A, None, A, "tanh"), "out: must not share memory with A"),
            (lambda: cy.weight_gradient(X, W, b[:, None] * W, X, np.empty(4)),
             "dW: must not share memory with A_prev"),
            (lambda: cy.prelu_gamma_gradient(X, W, X[0]), "out: must not share memory with G"),
            (lambda: cy.sgd_weight_update(X, W, X, b, 0.1), "W: must not share memory with A_prev"),
            (lambda: cy.activation_forward(buf[:16].reshape(4, 4), buf[1:].reshape(4, 4), "relu"),
             r"out: must not share memory with Z \(other than being Z itself\)"),
            (lambda: cy.squared_error(X, buf[:16].reshape(4, 4), buf[1:].reshape(4, 4)),
             r"delta: must not share memory with Y \(other than"),
            (lambda: cy.momentum_update(b, W[0], W[0], 0.1, 0.9, True),
             "velocity: must not share memory with grad"),
            (lambda: cy.adam_update(b, W[0], X[0], X[0], 0.1, 0.9, 0.999, 1e-8, 1),
             "v: must not share memory with m"),
        ]
        for call, msg in cases:
            before = (X.copy(), W.copy(), A.copy())
            with pytest.raises(ValueError, match=msg):
                call()
            for got, was in zip((X, W, A), before):  # refused before anything was written
                np.testing.assert_array_equal(got, was)

    def test_labels_overwritten_under_the_loss_are_refused(self, cy):
        # labels viewing delta's memory were overwritten by the softmax mid-loop, then read out of bounds
        # (a segfault)
        Z, D = np.zeros((2, 3)), np.zeros((2, 3))
        with pytest.raises(ValueError, match="delta: must not share memory with labels"):
            cy.softmax_cross_entropy(Z, D.view(np.intp)[0, :2], D)

    def test_documented_in_place_calls_still_work(self, cy, npb, rng):
        Z = rng.standard_normal((3, 4))
        ref = npb.softmax(Z, np.empty_like(Z))
        Z2 = Z.copy()
        np.testing.assert_allclose(cy.activation_forward(Z2, Z2, "softmax"), ref, rtol=1e-12)
        labels = np.array([0, 3, 1], np.intp)
        ref_d = np.empty_like(Z)
        ref_l = npb.softmax_cross_entropy(Z, labels, ref_d)
        Z2 = Z.copy()
        assert cy.softmax_cross_entropy(Z2, labels, Z2) == pytest.approx(ref_l)
        np.testing.assert_allclose(Z2, ref_d, rtol=1e-12, atol=1e-15)
        p = np.ones(3)
        cy.sgd_update(p, p, 0.5)  # grad may be param itself: θ ← θ − lr·θ
        np.testing.assert_array_equal(p, np.full(3, 0.5))

    def test_dimensions_past_the_blas_int_are_refused(self, cy):
        from numpy.lib.stride_tricks import as_strided
        # (1, 2**32 + 5) became k = 5 in the <int> cast to BLAS: a silently wrong product. These views
        # claim more memory than they have; they are refused before any element is read.
        k = 2 ** 32 + 5
        A = as_strided(np.zeros(1, np.float32), shape=(1, k), strides=(0, 4))
        B = as_strided(np.zeros(1, np.float32), shape=(k, 1), strides=(4, 0))
        assert A.flags.c_contiguous and B.flags.c_contiguous
        with pytest.raises(ValueError, match="A: shape .* exceeds the BLAS limit"):
            cy.gemm(A, B, np.zeros((1, 1), np.float32))
        with pytest.raises(ValueError, match="X: shape .* exceeds the BLAS limit"):
            cy.dense_forward(A, B, np.zeros(1, np.float32), np.zeros((1, 1), np.float32))

    def test_adam_step_number_and_failed_apply_update(self, cy, npb):
        from fastmlp._netspec import Optimizer
        for be in (cy, npb):
            with pytest.raises(TypeError, match="t: the Adam step number must be an integer"):
                be.adam_update(np.ones(3), np.ones(3), np.zeros(3), np.zeros(3), 0.1, 0.9, 0.999, 1e-8, 1.5)
            opt = Optimizer("adam", 3)
            with pytest.raises(ValueError):  # grad of the wrong length
                be.apply_update(np.ones(3), np.ones(4), opt)
            assert opt.t == 0  # a refused step no longer advances Adam's bias correction
            opt.code = 9
            with pytest.raises(ValueError, match="opt: unknown optimizer code 9"):
                be.apply_update(np.ones(3), np.ones(3), opt)


def _cy_net(cy, acts=("tanh", "softmax"), loss="cross_entropy", B=4, dtype=np.float64):
    from fastmlp._netspec import NetSpec
    spec = NetSpec((3, 4, 2), acts, [0.0, 0.0], loss)
    theta = np.random.default_rng(0).standard_normal(spec.n_params).astype(dtype)
    grad = np.zeros(spec.n_params, dtype)
    return spec, theta, grad, cy.Network(spec, theta, grad, B)


class TestNetworkBoundary:
    def test_uninitialised_and_reinitialised_network(self, cy):
        # Network.__new__ without __init__ dereferenced NULL (segfault); a failed second __init__ left a
        # float32 workspace read as float64 (segfault)
        net = cy.Network.__new__(cy.Network)
        with pytest.raises(RuntimeError, match="not initialised"):
            net.forward(np.ones((1, 1), np.float32), np.empty((1, 1), np.float32))
        spec, theta, grad, net = _cy_net(cy, dtype=np.float32)
        with pytest.raises(RuntimeError, match="already initialised"):
            net.__init__(spec, theta.astype(np.float64), grad.astype(np.float64), 0)
        assert net.forward(np.ones((2, 3), np.float32), np.empty((2, 2), np.float32)).dtype == np.float32

    def test_inconsistent_spec_is_refused(self, cy):
        from fastmlp._netspec import NetSpec
        spec = NetSpec((3, 4, 2), ("relu", "identity"), [0.0, 0.0], "squared_error")
        theta = np.zeros(spec.n_params)
        spec.codes = (5, 0)  # prelu code without slopes: NULL gamma dereferenced (segfault)
        with pytest.raises(ValueError, match="spec: its codes"):
            cy.Network(spec, theta, np.zeros_like(theta), 4)
        with pytest.raises(TypeError, match="spec: expected a NetSpec"):
            cy.Network(None, theta, np.zeros_like(theta), 4)

    def test_integer_arguments_and_limits(self, cy):
        from fastmlp._netspec import Optimizer
        spec, theta, grad, _ = _cy_net(cy)
        with pytest.raises(TypeError, match="max_batch: expected an integer"):
            cy.Network(spec, theta, grad, 2.7)  # was truncated to 2
        with pytest.raises(ValueError, match="max_batch: must be <= 2147483647"):
            cy.Network(spec, theta, grad, 2 ** 32 + 1)  # the readonly int max_batch read 1
        assert cy.Network(spec, theta, grad, 4.0).max_batch == 4
        net = cy.Network(spec, theta, grad, 4)
        X, y = np.ones((4, 3)), np.zeros(4, np.intp)
        with pytest.raises(TypeError, match="batch_size: expected an integer"):
            net.train_epoch(X, y, None, np.arange(4), 2.5, Optimizer("sgd", spec.n_params))

    def test_optimizer_struct_is_checked(self, cy):
        from fastmlp._netspec import Optimizer
        spec, theta, grad, net = _cy_net(cy)
        X, y = np.ones((2, 3)), np.zeros(2, np.intp)
        opt = Optimizer("adam", spec.n_params)
        opt.t = -1  # the step ran with t = 0: 1 − β^0 = 0, theta became inf/NaN
        with pytest.raises(ValueError, match="opt.t: the step count must be >= 0"):
            net.train_step(X, y, None, opt)
        opt = Optimizer("adam", spec.n_params)
        opt.code = -1  # ran as momentum
        with pytest.raises(ValueError, match="opt: unknown optimizer code"):
            net.train_step(X, y, None, opt)
        opt = Optimizer("adam", spec.n_params)
        opt.state2 = opt.state1
        with pytest.raises(ValueError, match="opt.state2: must not share memory with opt.state1"):
            net.train_step(X, y, None, opt)
        assert np.isfinite(theta).all()

    def test_buffers_sharing_memory_are_refused(self, cy):
        from fastmlp._netspec import NetSpec, Optimizer
        spec, theta, grad, net = _cy_net(cy)
        with pytest.raises(ValueError, match="grad: must not share memory with theta"):
            cy.Network(spec, theta, theta, 4)
        with pytest.raises(ValueError, match="out: must not share memory with theta"):
            net.forward(np.ones((2, 3)), theta[:4].reshape(2, 2))
        sq = NetSpec((3, 3), ("identity",), [0.0], "squared_error")
        th = np.ones(sq.n_params)
        X = np.ones((2, 3))
        with pytest.raises(ValueError, match="out: must not share memory with X"):
            cy.Network(sq, th, np.zeros_like(th), 4).forward(X, X)
        with pytest.raises(ValueError, match="grad: must not share memory with X"):
            net.loss_and_grad(grad[:6].reshape(2, 3), np.zeros(2, np.intp))
        # labels or row indices that a step overwrites were read out of bounds by the next (segfault)
        order = grad[:4].view(np.intp)
        order[:] = np.arange(4)
        with pytest.raises(ValueError, match="grad: must not share memory with order"):
            net.train_epoch(np.ones((4, 3)), np.zeros(4, np.intp), None, order, 2,
                            Optimizer("momentum", spec.n_params))
        theta.flags.writeable = False  # after construction
        with pytest.raises(ValueError, match="theta: output array is read-only"):
            net.train_step(np.ones((2, 3)), np.zeros(2, np.intp), None, Optimizer("sgd", spec.n_params))
