"""The polynomial exp/sigmoid/tanh of _fastmath.h against libm-accurate NumPy, on both SIMD paths."""
import numpy as np
import pytest

GRID32 = np.concatenate([np.linspace(-100, 100, 200001), np.geomspace(1e-30, 100, 20001),
                         -np.geomspace(1e-30, 100, 20001), [0.0, -0.0, 0.625, -0.625, 87.3, -87.3]])


@pytest.fixture(params=["avx512", "avx2", "baseline"])
def path(request, cy):
    """Each SIMD build of the loops the CPU can run (a path above the CPU's is skipped)."""
    got = cy._force_simd(request.param)
    if got != request.param:
        cy._force_simd(None)
        pytest.skip(f"this CPU runs at most the {got} loops")
    yield got
    cy._force_simd(None)


def test_simd_path_detection_and_caps(cy):
    detected = cy._force_simd(None)
    assert detected in ("baseline", "avx2", "avx512")
    assert cy._force_simd("baseline") == "baseline"
    assert cy._force_simd("avx512") == detected  # a cap above the CPU's level gives the CPU's level
    assert cy.simd_path() == detected
    assert cy._force_simd(None) == detected


def test_paths_agree_on_every_transcendental_activation(cy, dtype):
    """The SIMD builds evaluate the same polynomials (FMA contraction aside): they agree to a few ulps
    on every kernel that uses them (forward, softmax, and the derivative 1 − a², whose cancellation
    turns an ulp of a near ±1 into an absolute error of about eps)."""
    rng = np.random.default_rng(1)
    Z = (rng.standard_normal((37, 129)) * 4).astype(dtype)
    outs = {}
    for p in ("baseline", "avx2", "avx512"):
        if cy._force_simd(p) != p:
            continue
        outs[p] = [cy.activation_forward(Z, np.empty_like(Z), a)
                   for a in ("tanh", "logistic", "silu", "elu", "softplus", "gelu")]
        outs[p].append(cy.softmax(Z, np.empty_like(Z)))
        outs[p].append(cy.activation_derivative(outs[p][0], Z, np.empty_like(Z), "tanh"))
    cy._force_simd(None)
    base = outs.pop("baseline")
    for p, got in outs.items():
        for g, b in zip(got, base):
            eps = np.finfo(dtype).eps
            np.testing.assert_allclose(g, b, rtol=4 * eps, atol=4 * eps, err_msg=p)


def _ulps(got, want, dtype):
    want = want.astype(dtype)
    spacing = np.spacing(np.maximum(np.abs(want), np.finfo(dtype).tiny)).astype(np.float64)
    return np.abs(got.astype(np.float64) - want.astype(np.float64)) / spacing


@pytest.mark.parametrize("dtype,max_ulp", [(np.float32, 4), (np.float64, 4)])
@pytest.mark.parametrize("act,ref", [
    ("tanh", np.tanh),
    ("logistic", lambda x: 1 / (1 + np.exp(-x))),
    ("silu", lambda x: x / (1 + np.exp(-x))),
    ("elu", lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0)))),
    ("softplus", lambda x: np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))),
])
def test_accuracy_in_ulps(cy, path, dtype, max_ulp, act, ref):
    x = GRID32.astype(dtype).reshape(1, -1)
    got = cy.activation_forward(x, np.empty_like(x), act)
    want = ref(x.astype(np.longdouble))
    err = _ulps(got, want, dtype)
    # Near underflow the flush-to-zero of exp's subnormal results is allowed.
    err[np.abs(want.astype(np.float64)) < np.finfo(dtype).tiny * 2 ** 24] = 0
    assert err.max() <= max_ulp, (x[0, err[0].argmax()], err.max())


def test_softmax_rows_accurate_on_both_paths(cy, path, dtype):
    rng = np.random.default_rng(0)
    Z = (rng.standard_normal((50, 37)) * 20).astype(dtype)
    P = cy.softmax(Z, np.empty_like(Z))
    e = np.exp(Z.astype(np.longdouble) - Z.max(axis=1, keepdims=True))
    want = (e / e.sum(axis=1, keepdims=True)).astype(np.float64)
    # exp(z − max) inherits the rounding of z − max: allow eps·|z − max| on top of a few ulps.
    eps = np.finfo(dtype).eps
    tol = eps * (8 + np.abs(Z - Z.max(axis=1, keepdims=True)).astype(np.float64))
    assert (np.abs(P - want) <= tol * want + np.finfo(dtype).tiny * 1e3).all()


def test_extremes(cy, path, dtype):
    x = np.array([[-np.inf, -1e30, -1000, -88, 88, 1000, 1e30, np.inf]], dtype=dtype)
    s = cy.activation_forward(x, np.empty_like(x), "logistic")
    t = cy.activation_forward(x, np.empty_like(x), "tanh")
    np.testing.assert_array_equal(s[0, [0, 1, 2]], 0)
    np.testing.assert_array_equal(s[0, [5, 6, 7]], 1)
    np.testing.assert_array_equal(t[0, [0, 1, 2]], -1)
    np.testing.assert_array_equal(t[0, [5, 6, 7]], 1)
    e = cy.activation_forward(x, np.empty_like(x), "elu")
    sp = cy.activation_forward(x, np.empty_like(x), "softplus")
    np.testing.assert_array_equal(e[0, [0, 1, 2]], -1)
    np.testing.assert_array_equal(e[0, 4:], x[0, 4:])
    np.testing.assert_array_equal(sp[0, [0, 1, 2]], 0)
    np.testing.assert_array_equal(sp[0, 5:], x[0, 5:])
    for act in ("tanh", "logistic", "elu", "softplus", "silu"):
        nan = cy.activation_forward(np.full((1, 3), np.nan, dtype), np.empty((1, 3), dtype), act)
        assert np.isnan(nan).all(), act  # NaN propagates instead of turning into a number


def _gelu_reference(x):
    """x·Φ(x) and Φ(x) + x·φ(x) in float64, Φ(x) = erfc(−x/√2)/2 (no cancellation for x < 0)."""
    from scipy.special import erfc
    x = x.astype(np.float64)
    cdf = 0.5 * erfc(-x / np.sqrt(2))
    xpdf = x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)
    return x * cdf, cdf + xpdf, np.abs(cdf) + np.abs(xpdf)


def test_gelu_accuracy(cy, path, dtype):
    """float32: the fitted erfc of _fastmath.h, within 8 ulps everywhere above the subnormal range
    (libm's 1 + erf(x/√2) loses all relative accuracy for x < −1). float64: libm's erfc, whose argument
    x/√2 carries one rounding that erfc amplifies (relative error about x²·eps/2). The derivative
    Φ + xφ crosses zero at x ≈ −0.75: its error is bounded against |Φ| + |xφ|."""
    x = GRID32.astype(dtype).reshape(1, -1)
    got = cy.activation_forward(x, np.empty_like(x), "gelu")
    want, dwant, dscale = _gelu_reference(x)
    live = np.abs(want) >= np.finfo(dtype).tiny * 2 ** 24
    if dtype == np.float32:
        err = _ulps(got, want, dtype)
        assert err[live].max() <= 8, (x[live][err[live].argmax()], err[live].max())
    else:  # erfc's argument z = x/√2 is rounded once, here and in the reference: each is off by about
        # z²·eps relative (d log erfc / dz ≈ −2z)
        rel = np.abs(got - want)[live] / np.abs(want)[live]
        bound = (x[live].astype(np.float64) ** 2 + 8) * 2 * np.finfo(dtype).eps
        assert (rel <= bound).all(), (x[live][(rel / bound).argmax()], (rel / bound).max())
    d = cy.backprop_activation(np.ones_like(x), got, x, np.empty_like(x), "gelu")
    eps = np.finfo(dtype).eps
    flush = np.finfo(dtype).tiny * 2 ** 24  # results flushed to 0 near the subnormal range
    assert (np.abs(d - dwant) <= 8 * eps * dscale * (1 + (dtype == np.float64) * x * x) + flush).all()


def test_gelu_extremes(cy, path, dtype):
    x = np.array([[-np.inf, -1e30, -1000, -40, 0.0, 40, 1000, 1e30, np.inf, np.nan]], dtype=dtype)
    g = cy.activation_forward(x, np.empty_like(x), "gelu")
    np.testing.assert_array_equal(g[0, 1:4], 0)
    assert g[0, 4] == 0
    np.testing.assert_array_equal(g[0, 5:9], x[0, 5:9])
    assert np.isnan(g[0, 9])
    d = cy.backprop_activation(np.ones_like(x), g, x, np.empty_like(x), "gelu")
    np.testing.assert_array_equal(d[0, 1:4], 0)
    assert float(d[0, 4]) == pytest.approx(0.5, rel=float(np.finfo(dtype).eps))
    np.testing.assert_array_equal(d[0, 5:9], 1)
    assert np.isnan(d[0, 9])
