"""Built-in datasets: shapes, dtypes, determinism given a seed, and the geometry each one promises."""
import numpy as np
import pytest

from fastmlp import FastMLP, datasets

RANDOM = ["two_spirals", "blobs", "moons", "beans"]
GENERATED = ["xor", "two_spirals", "blobs", "moons", "beans"]


@pytest.mark.parametrize("name", GENERATED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shapes_and_dtypes(name, dtype):
    X, y = datasets.load(name, dtype=dtype)
    assert X.dtype == dtype and X.ndim == 2 and X.flags.c_contiguous
    assert y.dtype == np.int64 and y.shape == (X.shape[0],)
    assert np.isfinite(X).all()
    assert y.min() == 0 and set(np.unique(y)) == set(range(y.max() + 1))


@pytest.mark.parametrize("name", RANDOM)
def test_deterministic_given_a_seed(name):
    X1, y1 = datasets.load(name, seed=3)
    X2, y2 = datasets.load(name, seed=3)
    X3, _ = datasets.load(name, seed=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)
    # A Generator is accepted too, and draws the same as its seed.
    X4, y4 = datasets.load(name, seed=np.random.default_rng(3))
    np.testing.assert_array_equal(X1, X4)
    np.testing.assert_array_equal(y1, y4)


@pytest.mark.parametrize("name", ["xor", "two_spirals", "blobs", "moons"])
def test_float32_is_the_float64_data_rounded(name):
    X64, y64 = datasets.load(name, seed=1, dtype=np.float64)
    X32, y32 = datasets.load(name, seed=1, dtype=np.float32)
    np.testing.assert_array_equal(X32, X64.astype(np.float32))
    np.testing.assert_array_equal(y32, y64)


def test_xor_default_is_the_truth_table():
    X, y = datasets.xor()
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])


def test_xor_noisy_cloud():
    X, y = datasets.xor(400, noise=0.1, seed=0)
    assert np.bincount(y).tolist() == [200, 200]
    corners = np.rint(X[:40]).astype(int)  # noise 0.1 keeps nearly every point nearest its corner
    np.testing.assert_array_equal(corners[:, 0] ^ corners[:, 1], y[:40])
    assert 0.05 < np.std(X[::4, 0]) < 0.15  # the rows of corner (0, 0): pure noise


def test_two_spirals_geometry():
    X, y = datasets.two_spirals(500, noise=0.0, turns=1.5, seed=2)
    assert np.bincount(y).tolist() == [250, 250]
    # Without noise every class-0 point lies on r = θ / (2π·turns) and class 1 is the same turned by π.
    for cls, sign in ((0, 1), (1, -1)):
        P = sign * X[y == cls].astype(np.float64)
        r = np.hypot(P[:, 0], P[:, 1])
        theta = 2 * np.pi * 1.5 * r
        np.testing.assert_allclose(P, np.column_stack([r * np.cos(theta), r * np.sin(theta)]), atol=1e-12)
    assert np.hypot(X[:, 0], X[:, 1]).max() <= 1.0


def test_moons_geometry():
    X, y = datasets.moons(101, noise=0.0, seed=0)
    assert np.bincount(y).tolist() == [50, 51]
    np.testing.assert_allclose(np.hypot(*X[y == 0].T), 1.0)
    np.testing.assert_allclose(np.hypot(X[y == 1, 0] - 1, X[y == 1, 1] - 0.5), 1.0)
    assert (X[y == 0, 1] >= -1e-12).all() and (X[y == 1, 1] <= 0.5 + 1e-12).all()


def test_blobs_given_centers_and_counts():
    C = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]])
    X, y = datasets.blobs(402, centers=C, cluster_std=0.01, seed=0)
    assert X.shape == (402, 3)
    assert np.bincount(y).tolist() == [101, 101, 100, 100]
    np.testing.assert_allclose(X, C[y], atol=0.1)
    X, y = datasets.blobs(50, centers=5, n_features=4, seed=1)
    assert X.shape == (50, 4) and np.bincount(y).tolist() == [10] * 5


def test_beans_is_the_course_rule():
    """xs sorted U(0,1); y = 1 iff 0.7·x + (0.5 − u)/50 + 0.5 > 0.8, u ~ U(0,1) per bean (seed 004)."""
    X, y = datasets.beans(300, seed=11)
    rng = np.random.default_rng(11)
    xs = np.sort(rng.random(300))
    u = rng.random(300)
    np.testing.assert_array_equal(X[:, 0], xs)
    np.testing.assert_array_equal(y, (0.7 * xs + (0.5 - u) / 50 + 0.5 > 0.8).astype(int))
    assert X.shape == (300, 1) and np.all(np.diff(X[:, 0]) >= 0)
    # The noise term is at most ±0.01, so the threshold 0.3/0.7 is sharp up to ±0.01/0.7.
    assert (y[X[:, 0] < (0.3 - 0.01) / 0.7] == 0).all()
    assert (y[X[:, 0] > (0.3 + 0.01) / 0.7] == 1).all()


def test_digits():
    pytest.importorskip("sklearn")
    X, y = datasets.digits(dtype=np.float32)
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert X.min() == 0 and X.max() == 1
    assert sorted(np.unique(y)) == list(range(10))
    Xs, ys = datasets.digits(n_samples=100, seed=5)
    Xs2, ys2 = datasets.digits(n_samples=100, seed=5)
    np.testing.assert_array_equal(Xs, Xs2)
    np.testing.assert_array_equal(ys, ys2)
    assert Xs.shape == (100, 64)
    with pytest.raises(ValueError, match="n_samples"):
        datasets.digits(n_samples=5000)


def test_load_names_and_aliases():
    a = datasets.load("two-spirals", n_samples=20)
    b = datasets.load("Spirals", n_samples=20)
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ValueError, match="dataset: unknown dataset 'nope'"):
        datasets.load("nope")


@pytest.mark.parametrize("call, exc, match", [
    (lambda: datasets.moons(0), ValueError, "n_samples"),
    (lambda: datasets.moons(1.5), TypeError, "n_samples"),
    (lambda: datasets.moons(noise=-1), ValueError, "noise"),
    (lambda: datasets.xor(noise=float("nan")), ValueError, "noise"),
    (lambda: datasets.two_spirals(turns=0), ValueError, "turns"),
    (lambda: datasets.blobs(centers=0), ValueError, "centers"),
    (lambda: datasets.blobs(centers=np.ones(3)), ValueError, "centers"),
    (lambda: datasets.blobs(center_box=(1, 1)), ValueError, "center_box"),
    (lambda: datasets.beans(dtype=np.int32), TypeError, "dtype"),
    (lambda: datasets.beans(seed="x"), TypeError, "seed"),
])
def test_bad_arguments_name_themselves(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_the_problems_are_learnable():
    """Each 2-D problem is separable by a small MLP (and XOR's truth table by 2-4-2)."""
    X, y = datasets.moons(400, noise=0.1, seed=0, dtype=np.float32)
    m = FastMLP([2, 16, 2], activation="tanh", seed=0)
    m.fit(X, y, epochs=80, lr=0.01, optimizer="adam", verbose=False)
    assert m.score(X, y) > 0.95
    X, y = datasets.xor()
    m = FastMLP([2, 4, 2], activation="tanh", seed=0)
    m.fit(X, y, epochs=300, batch_size=4, lr=0.05, optimizer="adam", verbose=False)
    assert m.score(X, y) == 1.0
