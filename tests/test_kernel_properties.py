"""Property tests (hypothesis): every kernel of the Cython backend against the NumPy reference on random
shapes (0- and 1-sized dimensions included, and the sizes that take each GEMM path: the direct loop, BLAS
?gemm and ?gemv), both dtypes, every activation of the registry (with its parameter, its Z where the
derivative needs it, each SIMD build of the polynomial loops), every loss with and without sample weights,
every optimizer, and small random networks (forward, loss, loss_and_grad, train_step, train_epoch).

Layouts. Every array argument is laid out as drawn: an exact allocation (AddressSanitizer, see
``.ci/sanitize``, then catches a read or write past it), a contiguous view at an offset into a guarded
buffer (a write past it changes a guard cell: caught without a sanitizer), or a strided, Fortran-order or
reversed view. The kernels take C-contiguous arrays only, so

* an argument numpy flags C-contiguous (including a strided view whose odd strides lie along dimensions of
  size 0 or 1) must be accepted, give the reference's result, leave the inputs and every guard cell as they
  were;
* any other must be refused up front with a ValueError/TypeError whose message starts with the name of a
  non-contiguous argument, with nothing written (never a crash, never a silently wrong answer).

The examples are derandomized (the same ones on every run, so CI is reproducible; a failure prints the
example and a ``@reproduce_failure`` blob). ``FASTMLP_PROPERTY_EXAMPLES=N`` explores N random examples per
property instead (a deeper, non-reproducible run).

Found along the way: the kernel's log_softmax lost the small log-probabilities of large logits (it formed
Z − (max + log Σ); fixed to (Z − max) − log Σ, pinned by a test); the NumPy
reference of softmax, log_softmax and softmax_cross_entropy raises numpy's own "zero-size array to
reduction operation" ValueError on rows of zero columns, where the kernels return an empty result (the
row-wise properties compare m >= 1 and only run the kernel on m = 0).
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from conftest import assert_close
from fastmlp._netspec import NetSpec, Optimizer
from fastmlp._registry import (
    ACTIVATION_TABLE,
    ACTIVATIONS,
    HIDDEN_ACTIVATIONS,
    LOSSES,
    OPTIMIZERS,
    OUTPUT_OF_LOSS,
)

_EXPLORE = int(os.environ.get("FASTMLP_PROPERTY_EXAMPLES", "0"))


def _settings(max_examples):
    return settings(max_examples=_EXPLORE or max_examples, deadline=None, derandomize=not _EXPLORE,
                    database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


DTYPES = st.sampled_from([np.float32, np.float64])
SEEDS = st.integers(0, 2 ** 32 - 1)
DERIVABLE = [a for a in ACTIVATIONS if ACTIVATION_TABLE[a].derivative is not None]
# None: the CPU's best build of the polynomial loops; a name caps it (never above what the CPU runs).
SIMD = st.sampled_from([None, "baseline", "avx2", "avx512"])
# Layouts, the accepted ones first: hypothesis shrinks towards the start of the list.
_CONTIGUOUS = ["exact", "offset"]
_ANY_LAYOUT = _CONTIGUOUS + ["strided", "fortran", "reversed"]


@st.composite
def _layouts(draw, k):
    """The layouts of a call's k array arguments: in one example of four any layout per argument (most
    such calls are refused), else exact allocations and offset views only (the call must compute)."""
    pool = _ANY_LAYOUT if draw(st.integers(0, 3)) == 3 else _CONTIGUOUS
    return draw(st.lists(st.sampled_from(pool), min_size=k, max_size=k))


# ----------------------------------------------------------------------------------------------------
# Arguments laid out as drawn, and the call that checks acceptance or refusal
# ----------------------------------------------------------------------------------------------------
_PAD = 3  # guard cells on each side of an offset view


def _parent_and_view(shape, layout):
    """The shape of the buffer an argument lives in and the function taking the argument's view of it."""
    shape = tuple(shape)
    if layout == "offset":
        size = int(np.prod(shape))
        return (size + 2 * _PAD,), lambda p: p[_PAD:_PAD + size].reshape(shape)
    if layout == "strided" and shape:
        return shape[:-1] + (2 * shape[-1],), lambda p: p[..., ::2]
    if layout == "fortran" and len(shape) >= 2:
        return shape[::-1], lambda p: p.T
    if layout == "reversed" and shape:
        return shape, lambda p: p[::-1]
    return shape, lambda p: p


def _sentinel(dtype):
    return -7 if np.dtype(dtype).kind in "iu" else -1234.5


class Arg:
    """One array argument: ``values`` copied into the drawn layout (``.a``), inside a parent buffer whose
    other cells hold a sentinel. ``name`` (or one of ``aliases``) is what a refusal must name."""

    def __init__(self, name, values, layout="exact", aliases=()):
        values = np.asarray(values)
        self.name, self.names = name, {name, *aliases}
        pshape, view = _parent_and_view(values.shape, layout)
        self.parent = np.full(pshape, _sentinel(values.dtype), values.dtype)
        self.a = view(self.parent)
        self.a[...] = values
        self.inside = np.zeros(pshape, bool)
        view(self.inside)[...] = True
        self.before = self.parent.copy()

    def also(self, name):
        """This same array passed as argument ``name`` too (in place): a refusal may name either."""
        self.names.add(name)
        return self

    @property
    def contiguous(self):
        return self.a.flags.c_contiguous

    def values(self):
        """The values as a new C-contiguous array (what the reference computes from)."""
        return np.array(self.a, order="C", copy=True)

    def _bits(self, x):
        return x.reshape(-1).view(np.uint8)

    def assert_untouched(self):
        assert np.array_equal(self._bits(self.parent), self._bits(self.before)), f"{self.name} was written"

    def assert_guards(self):
        out = ~self.inside
        assert np.array_equal(self.parent[out].view(np.uint8), self.before[out].view(np.uint8)), \
            f"a write past {self.name} (a guard cell changed)"


REFUSED = object()


def _call(fn, *args, writes=(), **kwargs):
    """``fn`` (a Cython kernel) on the arguments, Arg-wrapped arrays replaced by their views. ``writes``:
    the Args the call may write. All arrays C-contiguous: the call must succeed; the inputs and every guard
    cell are left as they were; returns the result. Otherwise: a ValueError/TypeError naming one of the
    non-contiguous arrays, raised before anything is written; returns REFUSED."""
    arrays = {id(a): a for a in (*args, *kwargs.values()) if isinstance(a, Arg)}.values()

    def unwrap(v):
        return v.a if isinstance(v, Arg) else v

    call_args = [unwrap(v) for v in args]
    call_kwargs = {k: unwrap(v) for k, v in kwargs.items()}
    bad = [a for a in arrays if not a.contiguous]
    event(f"{getattr(fn, '__name__', 'call')}: {'refused' if bad else 'accepted'}")
    if bad:
        with pytest.raises((ValueError, TypeError)) as info:
            fn(*call_args, **call_kwargs)
        named = str(info.value).split(":")[0]
        assert any(named in a.names for a in bad), (str(info.value), [a.name for a in bad])
        for a in arrays:
            a.assert_untouched()
        return REFUSED
    result = fn(*call_args, **call_kwargs)
    written = {id(a) for a in writes}
    for a in arrays:
        a.assert_guards()
        if id(a) not in written:
            a.assert_untouched()
    return result


class _simd:
    """Cap the SIMD build of the polynomial loops for a block (None: the CPU's best)."""

    def __init__(self, cy, path):
        self.cy, self.path = cy, path

    def __enter__(self):
        if self.path is not None:
            self.cy._force_simd(self.path)

    def __exit__(self, *exc):
        self.cy._force_simd(None)


# ----------------------------------------------------------------------------------------------------
# Values
# ----------------------------------------------------------------------------------------------------
def _z(rng, shape, dtype, scale=3.0, extremes=True):
    """Pre-activations: normal values, exact zeros and (``extremes``) ±1000, the stability edge."""
    Z = rng.standard_normal(shape) * scale
    flat = Z.reshape(-1)
    if flat.size:
        flat[rng.random(flat.size) < 0.1] = 0.0
        if extremes:
            flat[rng.random(flat.size) < 0.05] = 1000.0
            flat[rng.random(flat.size) < 0.05] = -1000.0
    return Z.astype(dtype)


def _act_param(act, m, rng, dtype, default):
    """The activation's parameter: None (the registry's default) or a drawn value; per-unit slopes (m,)."""
    entry = ACTIVATION_TABLE[act]
    if entry.per_unit:
        return rng.uniform(-0.5, 0.5, m).astype(dtype)
    if entry.param is None or default:
        return None
    low = entry.param.low if entry.param.low is not None else -1.0
    return float(rng.uniform(max(low, 0.0) + (0.05 if entry.param.low_open else 0.0), 2.0))


def _param_arg(p, layout):
    return Arg("param", p, layout) if isinstance(p, np.ndarray) else p


def _tol_scale(k):
    """The tolerance factor of a sum of k products (as tests/test_kernels.py)."""
    return 20 * np.sqrt(max(k, 1))


@st.composite
def _product_dims(draw):
    """(rows, cols, inner) of a product C (rows × cols) = op(A) (rows × inner) · op(B) (inner × cols), in
    one of the regimes of _gemm: tiny (the direct loop; zeros included), BLAS ?gemm (over 4096
    multiply-adds), a single output row or column past the loop (?gemv)."""
    regime = draw(st.sampled_from(["small", "small", "blas", "row", "col"]))
    event(f"product regime: {regime}")
    if regime == "small":
        d = st.integers(0, 12)
        return draw(d), draw(d), draw(d)
    if regime == "blas":
        d = st.integers(2, 48)
        rows, cols, inner = draw(d), draw(d), draw(st.integers(1, 48))
        return rows, cols, inner
    big = st.integers(65, 110)
    one_side = (1, draw(big)) if regime == "row" else (draw(big), 1)
    return one_side + (draw(big),)


DIM = st.one_of(st.integers(0, 2), st.integers(0, 40))


# ----------------------------------------------------------------------------------------------------
# Activations, softmax, all_finite
# ----------------------------------------------------------------------------------------------------
@_settings(300)
@given(act=st.sampled_from(ACTIVATIONS), dtype=DTYPES, n=DIM, m=DIM, seed=SEEDS, default=st.booleans(),
       inplace=st.booleans(), layouts=_layouts(3), simd=SIMD)
def test_activation_forward(cy, npb, act, dtype, n, m, seed, default, inplace, layouts, simd):
    lz, lo, lp = layouts
    rng = np.random.default_rng(seed)
    Zv = _z(rng, (n, m), dtype)
    p = _act_param(act, m, rng, dtype, default)
    Z = Arg("Z", Zv, lz)
    out = Z.also("out") if inplace else Arg("out", np.full((n, m), np.nan, dtype), lo)
    with _simd(cy, simd):
        got = _call(cy.activation_forward, Z, out, act, _param_arg(p, lp), writes=[out])
    if got is REFUSED:
        return
    assert got is out.a and got.dtype == dtype
    if act == "softmax" and m == 0:
        return  # the reference raises numpy's reduction error on rows of no columns (see the docstring)
    ref = npb.activation_forward(Zv, np.empty_like(Zv), act, p)
    assert_close(got, ref, dtype, scale=4)


@_settings(300)
@given(act=st.sampled_from(DERIVABLE), dtype=DTYPES, n=DIM, m=DIM, seed=SEEDS, default=st.booleans(),
       give_z=st.booleans(), inplace=st.booleans(), layouts=_layouts(5),
       simd=SIMD)
def test_activation_derivative_and_backprop(cy, npb, act, dtype, n, m, seed, default, give_z, inplace,
                                            layouts, simd):
    rng = np.random.default_rng(seed)
    entry = ACTIVATION_TABLE[act]
    Zv = _z(rng, (n, m), dtype)
    p = _act_param(act, m, rng, dtype, default)
    Av = npb.activation_forward(Zv, np.empty_like(Zv), act, p)
    Gv = rng.standard_normal((n, m)).astype(dtype)
    use_z = give_z or entry.needs_z
    la, lz, lg, lo, lp = layouts
    A = Arg("A", Av, la)
    Z = Arg("Z", Zv, lz) if use_z else None
    ref_d = npb.activation_derivative(Av, Zv if use_z else None, np.empty_like(Av), act, p)
    with _simd(cy, simd):
        out = Arg("out", np.full((n, m), np.nan, dtype), lo)
        got = _call(cy.activation_derivative, A, Z, out, act, _param_arg(p, lp), writes=[out])
        if got is not REFUSED:
            assert got is out.a
            assert_close(got, ref_d, dtype, scale=8)
        G = Arg("G", Gv, lg)
        out = G.also("out") if inplace else Arg("out", np.full((n, m), np.nan, dtype), lo)
        got = _call(cy.backprop_activation, G, A, Z, out, act, _param_arg(p, lp), writes=[out])
    if got is not REFUSED:
        ref = npb.backprop_activation(Gv, Av, Zv if use_z else None, np.empty_like(Gv), act, p)
        assert_close(got, ref, dtype, scale=8)


@_settings(150)
@given(fn=st.sampled_from(["softmax", "log_softmax"]), dtype=DTYPES, n=DIM, m=DIM, seed=SEEDS,
       scale=st.sampled_from([0.1, 3.0, 300.0]), inplace=st.booleans(), layouts=_layouts(2), simd=SIMD)
def test_softmax_rows(cy, npb, fn, dtype, n, m, seed, scale, inplace, layouts, simd):
    lz, lo = layouts
    rng = np.random.default_rng(seed)
    Zv = _z(rng, (n, m), dtype, scale)
    Z = Arg("Z", Zv, lz)
    out = Z.also("out") if inplace else Arg("out", np.full((n, m), np.nan, dtype), lo)
    with _simd(cy, simd):
        got = _call(getattr(cy, fn), Z, out, writes=[out])
    if got is REFUSED or m == 0:
        return
    ref = getattr(npb, fn)(Zv, np.empty_like(Zv))
    if fn == "softmax":
        assert_close(got, ref, dtype, scale=10)
        assert_close(got.sum(axis=1), np.ones(n), dtype, scale=10 * np.sqrt(m))
    else:
        assert_close(got, ref, dtype, scale=10)


def test_log_softmax_keeps_the_small_log_probabilities_of_large_logits(cy, npb):
    # log Σ = log(1 + e^-gap) is formed from a sum rounded to the dtype: relative error eps / e^-gap
    for dtype, top, gap, rtol in ((np.float32, 1000.0, 12.0, 2e-2), (np.float64, 1e6, 20.0, 1e-6)):
        Z = np.array([[top, top - gap]], dtype)
        want = -np.log1p(np.exp(-gap))  # log p of the larger logit, exactly
        ref = npb.log_softmax(Z, np.empty_like(Z))[0, 0]
        got = cy.log_softmax(Z, np.empty_like(Z))[0, 0]
        np.testing.assert_allclose(ref, want, rtol=rtol)
        np.testing.assert_allclose(got, want, rtol=rtol)  # was 0 (float32) before the fix
        assert got < 0


@_settings(100)
@given(dtype=DTYPES, shape=st.lists(st.integers(0, 9), min_size=0, max_size=3), seed=SEEDS,
       bad=st.sampled_from([None, np.nan, np.inf, -np.inf]), layouts=_layouts(1))
def test_all_finite(cy, npb, dtype, shape, seed, bad, layouts):
    (layout,) = layouts
    rng = np.random.default_rng(seed)
    values = (rng.standard_normal(shape) * 1e3).astype(dtype)
    if bad is not None and values.size:
        values.reshape(-1)[rng.integers(values.size)] = bad
    X = Arg("X", values, layout)
    got = _call(cy.all_finite, X)
    if got is not REFUSED:
        assert got == npb.all_finite(values) == bool(np.isfinite(values).all())


# ----------------------------------------------------------------------------------------------------
# GEMM and the dense layer
# ----------------------------------------------------------------------------------------------------
@_settings(250)
@given(dims=_product_dims(), ta=st.booleans(), tb=st.booleans(), dtype=DTYPES, seed=SEEDS,
       alpha=st.sampled_from([1.0, -0.5, 2.0, 0.0]), beta=st.sampled_from([0.0, 1.0, 0.3]),
       layouts=_layouts(3))
def test_gemm(cy, npb, dims, ta, tb, dtype, seed, alpha, beta, layouts):
    la, lb, lc = layouts
    m, n, k = dims
    rng = np.random.default_rng(seed)
    Av = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    Bv = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    # beta = 0 must not read C: garbage (NaN) there never reaches the result
    Cv = rng.standard_normal((m, n)).astype(dtype) if beta else np.full((m, n), np.nan, dtype)
    C = Arg("C", Cv, lc)
    got = _call(cy.gemm, Arg("A", Av, la), Arg("B", Bv, lb), C, alpha, beta, ta, tb, writes=[C])
    if got is REFUSED:
        return
    assert got is C.a
    ref = npb.gemm(Av, Bv, Cv.copy(), alpha, beta, ta, tb)
    assert np.isfinite(got).all()
    assert_close(got, ref, dtype, scale=_tol_scale(k))


@_settings(300)
@given(dims=_product_dims(), act=st.sampled_from(ACTIVATIONS), dtype=DTYPES, seed=SEEDS,
       default=st.booleans(), z=st.sampled_from(["none", "separate", "out"]),
       layouts=_layouts(6), simd=SIMD)
def test_dense_forward(cy, npb, dims, act, dtype, seed, default, z, layouts, simd):
    n, m, k = dims
    rng = np.random.default_rng(seed)
    Xv = rng.standard_normal((n, k)).astype(dtype)
    Wv = (rng.standard_normal((k, m)) / np.sqrt(max(k, 1))).astype(dtype)
    bv = rng.standard_normal(m).astype(dtype)
    p = _act_param(act, m, rng, dtype, default)
    lx, lw, lb, lo, lz, lp = layouts
    out = Arg("out", np.full((n, m), np.nan, dtype), lo)
    Z = None if z == "none" else out.also("Z") if z == "out" else Arg("Z", np.full((n, m), np.nan, dtype), lz)
    with _simd(cy, simd):
        got = _call(cy.dense_forward, Arg("X", Xv, lx), Arg("W", Wv, lw), Arg("b", bv, lb), out, act,
                    _param_arg(p, lp), Z, writes=[out] + ([Z] if Z is not None else []))
    if got is REFUSED:
        return
    assert got is out.a
    scale = _tol_scale(k)
    Zr = np.empty((n, m), dtype)
    if z == "separate":
        assert_close(Z.a, npb.dense_forward(Xv, Wv, bv, np.empty((n, m), dtype), "identity"), dtype, scale)
    if act == "softmax" and m == 0:
        return  # see the module docstring
    ref = npb.dense_forward(Xv, Wv, bv, np.empty((n, m), dtype), act, p, Z=Zr)
    assert_close(got, ref, dtype, scale=scale)


@_settings(250)
@given(dims=_product_dims(), act=st.sampled_from(DERIVABLE), dtype=DTYPES, seed=SEEDS,
       default=st.booleans(), give_z=st.booleans(), layouts=_layouts(6),
       simd=SIMD)
def test_delta_backward(cy, npb, dims, act, dtype, seed, default, give_z, layouts, simd):
    n, k, m = dims  # out (n, k) = f'(Z) ⊙ (delta (n, m) · W (k, m)ᵀ)
    rng = np.random.default_rng(seed)
    entry = ACTIVATION_TABLE[act]
    deltav = rng.standard_normal((n, m)).astype(dtype)
    Wv = (rng.standard_normal((k, m)) / np.sqrt(max(m, 1))).astype(dtype)
    Zv = _z(rng, (n, k), dtype, extremes=False)
    p = _act_param(act, k, rng, dtype, default)
    Av = npb.activation_forward(Zv, np.empty_like(Zv), act, p)
    use_z = give_z or entry.needs_z
    ld, lw, la, lz, lo, lp = layouts
    out = Arg("out", np.full((n, k), np.nan, dtype), lo)
    with _simd(cy, simd):
        got = _call(cy.delta_backward, Arg("delta", deltav, ld), Arg("W", Wv, lw), Arg("A", Av, la),
                    Arg("Z", Zv, lz) if use_z else None, out, act, _param_arg(p, lp), writes=[out])
    if got is REFUSED:
        return
    assert got is out.a
    ref = npb.delta_backward(deltav, Wv, Av, Zv if use_z else None, np.empty((n, k), dtype), act, p)
    assert_close(got, ref, dtype, scale=_tol_scale(m))


@_settings(200)
@given(dims=_product_dims(), dtype=DTYPES, seed=SEEDS, l2=st.sampled_from([0.0, 0.3]),
       scale=st.sampled_from([None, 0.5, 1.0]), layouts=_layouts(5))
def test_weight_gradient(cy, npb, dims, dtype, seed, l2, scale, layouts):
    k, m, n = dims  # dW (k, m) = scale · A_prev (n, k)ᵀ · delta (n, m) + l2 · W
    rng = np.random.default_rng(seed)
    Av = rng.standard_normal((n, k)).astype(dtype)
    Dv = rng.standard_normal((n, m)).astype(dtype)
    Wv = rng.standard_normal((k, m)).astype(dtype)
    la, ld, lw, ldw, ldb = layouts
    dW = Arg("dW", np.full((k, m), np.nan, dtype), ldw)
    db = Arg("db", np.full(m, np.nan, dtype), ldb)
    got = _call(cy.weight_gradient, Arg("A_prev", Av, la), Arg("delta", Dv, ld), Arg("W", Wv, lw), dW, db,
                l2=l2, scale=scale, writes=[dW, db])
    if got is REFUSED:
        return
    assert got[0] is dW.a and got[1] is db.a
    rW, rb = npb.weight_gradient(Av, Dv, Wv, np.empty((k, m), dtype), np.empty(m, dtype), l2, scale)
    assert_close(dW.a, rW, dtype, scale=_tol_scale(n))
    assert_close(db.a, rb, dtype, scale=_tol_scale(n))


@_settings(150)
@given(dims=_product_dims(), dtype=DTYPES, seed=SEEDS, lr=st.sampled_from([0.1, 1.0]),
       l2=st.sampled_from([0.0, 0.05]), layouts=_layouts(4))
def test_sgd_weight_update(cy, npb, dims, dtype, seed, lr, l2, layouts):
    k, m, n = dims
    rng = np.random.default_rng(seed)
    Av = rng.standard_normal((n, k)).astype(dtype)
    Dv = rng.standard_normal((n, m)).astype(dtype)
    Wv = rng.standard_normal((k, m)).astype(dtype)
    bv = rng.standard_normal(m).astype(dtype)
    la, ld, lw, lb = layouts
    W, b = Arg("W", Wv, lw), Arg("b", bv, lb)
    got = _call(cy.sgd_weight_update, Arg("A_prev", Av, la), Arg("delta", Dv, ld), W, b, lr, l2,
                writes=[W, b])
    if got is REFUSED:
        return
    rW, rb = npb.sgd_weight_update(Av, Dv, Wv.copy(), bv.copy(), lr, l2)
    assert_close(W.a, rW, dtype, scale=_tol_scale(n))
    assert_close(b.a, rb, dtype, scale=_tol_scale(n))


@_settings(100)
@given(dtype=DTYPES, n=DIM, m=DIM, seed=SEEDS, scale=st.sampled_from([None, 0.25]),
       layouts=_layouts(3))
def test_prelu_gamma_gradient(cy, npb, dtype, n, m, seed, scale, layouts):
    rng = np.random.default_rng(seed)
    Gv = rng.standard_normal((n, m)).astype(dtype)
    Zv = _z(rng, (n, m), dtype, extremes=False)
    lg, lz, lo = layouts
    out = Arg("out", np.full(m, np.nan, dtype), lo)
    got = _call(cy.prelu_gamma_gradient, Arg("G", Gv, lg), Arg("Z", Zv, lz), out, scale, writes=[out])
    if got is REFUSED:
        return
    ref = npb.prelu_gamma_gradient(Gv, Zv, np.empty(m, dtype), scale)
    assert_close(got, ref, dtype, scale=_tol_scale(n))


# ----------------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------------
_LOSS_KERNELS = ["softmax_cross_entropy", "sigmoid_cross_entropy", "squared_error", "poisson_loss"]


def _loss_magnitude(fn, Z, target, sw):
    """mean_i w_i Σ_j |the terms of L_i|, in float64: the scale of a loss's rounding."""
    Z = Z.astype(np.float64)
    n, c = Z.shape
    if n == 0:
        return 0.0
    if fn == "softmax_cross_entropy":
        rows = 2 * np.abs(Z).max(axis=1, initial=0) + np.log(max(c, 1)) + 1
    else:
        Y = target.astype(np.float64)
        if fn == "sigmoid_cross_entropy":
            terms = np.abs(Z) * (1 + np.abs(Y)) + 1
        elif fn == "squared_error":
            terms = (np.abs(Z) + np.abs(Y)) ** 2
        else:
            with np.errstate(over="ignore"):
                terms = np.exp(Z) + np.abs(Y * Z) + Y * np.log(np.where(Y > 0, Y, 1)) + Y
        rows = terms.sum(axis=1)
    w = np.ones(n) if sw is None else sw.astype(np.float64)
    return float((w * rows).sum() / n)


@_settings(300)
@given(fn=st.sampled_from(_LOSS_KERNELS), dtype=DTYPES, n=DIM, c=DIM, seed=SEEDS, weighted=st.booleans(),
       inplace=st.sampled_from(["no", "Z", "Y"]), layouts=_layouts(4),
       simd=SIMD)
def test_losses(cy, npb, fn, dtype, n, c, seed, weighted, inplace, layouts, simd):
    rng = np.random.default_rng(seed)
    first = "Yhat" if fn == "squared_error" else "Z"
    if fn == "poisson_loss":
        Zv = rng.uniform(-4, 4, (n, c)).astype(dtype)
        Yv = rng.poisson(np.exp(Zv.astype(np.float64))).astype(dtype)
    else:
        Zv = _z(rng, (n, c), dtype)
        Yv = rng.uniform(0, 1, (n, c)).astype(dtype)
    swv = rng.uniform(0, 2, n).astype(dtype) if weighted else None
    if weighted and n:
        swv[rng.random(n) < 0.2] = 0  # zero weights too
    lz, ly, ld, lw = layouts
    Z = Arg(first, Zv, lz)
    if fn == "softmax_cross_entropy":
        if c == 0:
            return  # no class for a label to name (see the module docstring)
        target = Arg("labels", rng.integers(0, c, n).astype(np.intp), ly)
    else:
        target = Arg("Y", Yv, ly)
    sw = Arg("sample_weight", swv, lw) if weighted else None
    target_v = target.values()  # before the call: delta may be Y
    if inplace == "Z" or (inplace == "Y" and fn == "squared_error"):  # the documented in-place forms
        delta = (Z if inplace == "Z" else target).also("delta")
    else:
        delta = Arg("delta", np.full((n, c), np.nan, dtype), ld)
    with _simd(cy, simd):
        got = _call(getattr(cy, fn), Z, target, delta, sw, writes=[delta])
    if got is REFUSED:
        return
    ref_delta = np.empty((n, c), dtype)
    ref = getattr(npb, fn)(Zv, target_v, ref_delta, swv)
    assert isinstance(got, float)
    # The mean loss is a sum of terms that cancel (max − z_y, μ − y·z + y·log y − y): compared to the
    # rounding of its terms' magnitudes (one ulp of μ = e^z moves a Poisson term by ulp(μ)).
    np.testing.assert_allclose(got, ref, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=32 * np.finfo(dtype).eps * _loss_magnitude(fn, Zv, target_v, swv))
    assert_close(delta.a, ref_delta, dtype, scale=10)


# ----------------------------------------------------------------------------------------------------
# Optimizer updates
# ----------------------------------------------------------------------------------------------------
@_settings(200)
@given(kind=st.sampled_from(OPTIMIZERS), dtype=DTYPES, P=st.one_of(st.integers(0, 3), st.integers(0, 300)),
       seed=SEEDS, steps=st.integers(1, 3), t0=st.sampled_from([0, 1, 999, 10 ** 6]),
       grad_is_param=st.booleans(), via_opt=st.booleans(), layouts=_layouts(4))
def test_updates(cy, npb, kind, dtype, P, seed, steps, t0, grad_is_param, via_opt, layouts):
    rng = np.random.default_rng(seed)
    theta0 = rng.standard_normal(P).astype(dtype)
    grad0 = rng.standard_normal(P).astype(dtype)
    lt, lg, l1, l2 = layouts
    if via_opt:  # apply_update with an Optimizer (the step count t carried in it)
        opts = [Optimizer(kind, P, dtype, lr=0.05) for _ in range(2)]
        for o in opts:
            o.t = t0
            o.state1[...] = rng.standard_normal(o.state1.shape) if kind != "adam" else 0
        opts[1].state1[...] = opts[0].state1
        theta = Arg("theta", theta0, lt, aliases=("param",))
        grad = theta.also("grad") if grad_is_param else Arg("grad", grad0, lg)
        ref_theta = theta0.copy()
        ref_grad = ref_theta if grad_is_param else grad0.copy()
        for _ in range(steps):
            got = _call(cy.apply_update, theta, grad, opts[0], writes=[theta])
            if got is REFUSED:
                assert opts[0].t == t0  # a refused step does not count
                return
            npb.apply_update(ref_theta, ref_grad, opts[1])
        assert opts[0].t == opts[1].t == t0 + steps
        assert_close(theta.a, ref_theta, dtype, scale=10)
        assert_close(opts[0].state1, opts[1].state1, dtype, scale=10)
        assert_close(opts[0].state2, opts[1].state2, dtype, scale=10)
        return
    param = Arg("param", theta0, lt)
    grad = param.also("grad") if grad_is_param else Arg("grad", grad0, lg)
    ref_p = theta0.copy()
    ref_g = ref_p if grad_is_param else grad0.copy()
    if kind == "sgd":
        states = []

        def call(be, p, g):
            be.sgd_update(p, g, 0.1)
    elif kind in ("momentum", "nesterov"):
        states = [Arg("velocity", rng.standard_normal(P).astype(dtype), l1)]

        def call(be, p, g, v):
            be.momentum_update(p, g, v, 0.1, 0.9, kind == "nesterov")
    elif kind == "rmsprop":
        states = [Arg("v", rng.uniform(0, 1, P).astype(dtype), l1)]

        def call(be, p, g, v):
            be.rmsprop_update(p, g, v, 0.01, 0.9, 1e-8)
    elif kind == "rprop":
        states = [Arg("prev", rng.standard_normal(P).astype(dtype), l1),
                  Arg("step", rng.uniform(0, 0.1, P).astype(dtype), l2)]

        def call(be, p, g, prev, step):
            be.rprop_update(p, g, prev, step, 0.05, 1.2, 0.5, 1e-6, 1.0)
    else:
        states = [Arg("m", rng.standard_normal(P).astype(dtype), l1),
                  Arg("v", rng.uniform(0, 1, P).astype(dtype), l2)]
        t = [max(t0, 1)]

        def call(be, p, g, m, v):
            if kind == "adamw":
                be.adamw_update(p, g, m, v, 0.01, 0.9, 0.999, 1e-8, 0.1, t[0])
            else:
                be.adam_update(p, g, m, v, 0.01, 0.9, 0.999, 1e-8, t[0])
    ref_states = [s.values() for s in states]
    for _ in range(steps):
        got = _call(call, cy, param, grad, *states, writes=[param, *states])
        if got is REFUSED:
            return
        call(npb, ref_p, ref_g, *ref_states)
        if kind in ("adam", "adamw"):
            t[0] += 1
    assert_close(param.a, ref_p, dtype, scale=10)
    for s, r in zip(states, ref_states):
        assert_close(s.a, r, dtype, scale=10)


# ----------------------------------------------------------------------------------------------------
# Networks
# ----------------------------------------------------------------------------------------------------
@st.composite
def _architectures(draw):
    """(sizes, activations, params, loss) of a small valid network: any hidden activations, a loss and
    the output it needs (squared error: any activation that may be hidden, PReLU included)."""
    hidden = draw(st.lists(st.integers(1, 7), min_size=0, max_size=2))
    sizes = [draw(st.integers(1, 6))] + hidden + [draw(st.integers(1, 5))]
    loss = draw(st.sampled_from(LOSSES))
    acts = [draw(st.sampled_from(HIDDEN_ACTIVATIONS)) for _ in hidden]
    acts.append(OUTPUT_OF_LOSS.get(loss) or draw(st.sampled_from(HIDDEN_ACTIVATIONS)))
    if loss == "cross_entropy" and sizes[-1] == 1:
        sizes[-1] = 2
    params = []
    for a in acts:
        entry = ACTIVATION_TABLE[a]
        params.append(0.0 if entry.param is None else draw(st.sampled_from([entry.param.default, 0.3])))
    return sizes, acts, params, loss


def _targets(loss, n, d, dtype, rng):
    if loss == "cross_entropy":
        return rng.integers(0, d, n).astype(np.intp)
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n, d)).astype(dtype)
    if loss == "poisson":
        return rng.poisson(1.5, (n, d)).astype(dtype)
    return rng.standard_normal((n, d)).astype(dtype)


def _net_close(got, want, dtype):
    tol = 2e-4 if dtype == np.float32 else 1e-9
    want = np.asarray(want, np.float64)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, float(np.abs(want).max(initial=0))))


@_settings(200)
@given(arch=_architectures(), dtype=DTYPES, seed=SEEDS, max_batch=st.integers(1, 8), n=st.integers(1, 20),
       weighted=st.booleans(), l2=st.sampled_from([0.0, 0.01]), kind=st.sampled_from(OPTIMIZERS),
       layouts=_layouts(5))
def test_network(cy, npb, arch, dtype, seed, max_batch, n, weighted, l2, kind, layouts):
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging step: both backends agree on inf/NaN
        _network_case(cy, npb, arch, dtype, seed, max_batch, n, weighted, l2, kind, layouts)


def _network_case(cy, npb, arch, dtype, seed, max_batch, n, weighted, l2, kind, layouts):
    sizes, acts, params, loss = arch
    spec = NetSpec(sizes, acts, params, loss)
    rng = np.random.default_rng(seed)
    theta = np.zeros(spec.n_params, dtype)
    gain = 0.5 if loss == "poisson" else 1.2  # μ = e^z: smaller steps, so that SGD rarely diverges
    for W, b, g in zip(*spec.views(theta)):
        W[...] = rng.standard_normal(W.shape) * gain / np.sqrt(W.shape[0])
        b[...] = rng.standard_normal(b.shape) * 0.1
        if g is not None:
            g[...] = rng.uniform(0.05, 0.4, g.shape)
    Xv = rng.standard_normal((n, sizes[0])).astype(dtype)
    yv = _targets(loss, n, sizes[-1], dtype, rng)
    swv = rng.uniform(0.5, 1.5, n).astype(dtype) if weighted else None
    nets = [be.Network(spec, theta.copy(), np.zeros_like(theta), max_batch) for be in (cy, npb)]
    lx, ly, lw, lo, lorder = layouts

    # forward: the output (probabilities, sigmoid, μ or the output activation) of every row, in chunks
    out = Arg("out", np.full((n, sizes[-1]), np.nan, dtype), lo)
    got = _call(nets[0].forward, Arg("X", Xv, lx), out, writes=[out])
    if got is not REFUSED:
        _net_close(got, nets[1].forward(Xv, np.empty((n, sizes[-1]), dtype)), dtype)

    # loss and loss_and_grad (chunks of max_batch rows; the gradient of the last call in grad)
    X, y = Arg("X", Xv, lx), Arg("y", yv, ly, aliases=("labels",))
    sw = Arg("sample_weight", swv, lw) if weighted else None
    got = _call(nets[0].loss, X, y, sw)
    if got is not REFUSED:
        _net_close(got, nets[1].loss(Xv, yv, swv), dtype)
    nets[0].grad[...] = np.nan
    got = _call(nets[0].loss_and_grad, X, y, sw, l2)
    if got is not REFUSED:
        _net_close(got, nets[1].loss_and_grad(Xv, yv, swv, l2), dtype)
        _net_close(nets[0].grad, nets[1].grad, dtype)

    # one optimizer step on the first rows, then an epoch over a drawn order (repeats allowed)
    opts = [Optimizer(kind, spec.n_params, dtype, lr=0.01, l2=l2) for _ in nets]
    b = min(n, max_batch)
    r = [nets[0].train_step(Xv[:b], yv[:b], None if swv is None else swv[:b], opts[0]),
         nets[1].train_step(Xv[:b], yv[:b], None if swv is None else swv[:b], opts[1])]
    _net_close(r[0], r[1], dtype)
    _net_close(nets[0].theta, nets[1].theta, dtype)
    order_v = rng.integers(0, n, rng.integers(0, 2 * n + 1)).astype(np.intp)
    bs = int(rng.integers(1, max_batch + 1))
    got = _call(nets[0].train_epoch, X, y, sw, Arg("order", order_v, lorder), bs, opts[0])
    if got is not REFUSED:
        _net_close(got, nets[1].train_epoch(Xv, yv, swv, order_v, bs, opts[1]), dtype)
        _net_close(nets[0].theta, nets[1].theta, dtype)
        assert opts[0].t == opts[1].t == 1 + -(-len(order_v) // bs)

