"""Pictures: the curves come from the library's kernels, the PNGs decode and have the pixel size asked for."""
import struct
import subprocess
import sys

import numpy as np
import pytest

from fastmlp import FastMLP, datasets
from fastmlp._netspec import HIDDEN_ACTIVATIONS

pytest.importorskip("matplotlib")
from matplotlib.image import imread  # noqa: E402

from fastmlp import plotting  # noqa: E402


def png_size(path):
    """(width, height) from the PNG signature and IHDR chunk."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def assert_png(path, width, height):
    assert png_size(path) == (width, height)
    img = imread(path)  # decodes the whole image
    assert img.shape[:2] == (height, width)
    assert img[..., :3].std() > 0.01, f"{path} is blank"


# SPEC table: f and f' on a grid that avoids the kinks (0 for relu/leaky/prelu/elu, ±1 for hardtanh).
REFERENCE = {
    "identity": (lambda x: x, lambda x: np.ones_like(x)),
    "logistic": (lambda x: 1 / (1 + np.exp(-x)), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(float)),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.01 * x), lambda x: np.where(x > 0, 1.0, 0.01)),
    "prelu": (lambda x: np.where(x > 0, x, 0.25 * x), lambda x: np.where(x > 0, 1.0, 0.25)),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(x)), lambda x: np.where(x > 0, 1.0, np.exp(x))),
    "softplus": (lambda x: np.logaddexp(0, x), lambda x: 1 / (1 + np.exp(-x))),
    "softsign": (lambda x: x / (1 + abs(x)), lambda x: 1 / (1 + abs(x)) ** 2),
    "hardtanh": (lambda x: np.clip(x, -1, 1), lambda x: (abs(x) < 1).astype(float)),
}


@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("name", HIDDEN_ACTIVATIONS)
def test_activation_values_follow_the_spec(name, backend):
    x, f, df = plotting.activation_values(name, backend=backend)
    assert x[0] == -8 and x[-1] == 8 and len(x) == 1601
    smooth = np.abs(np.abs(x) - np.rint(np.abs(x))) > 0.02  # away from 0 and ±1
    if name in REFERENCE:
        rf, rdf = REFERENCE[name]
        np.testing.assert_allclose(f, rf(x), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(df[smooth], rdf(x[smooth]), rtol=1e-6, atol=1e-9)
    # Whatever the formula, f' is the slope of f (central differences, float64 kernels).
    h = x[1] - x[0]
    slope = (f[2:] - f[:-2]) / (2 * h)
    inner = smooth[1:-1] & smooth[:-2] & smooth[2:]
    np.testing.assert_allclose(df[1:-1][inner], slope[inner], atol=2e-4 * max(1, abs(df).max()))


def test_activation_values_parameter_and_points():
    x, f, df = plotting.activation_values("leaky_relu", x=[-2.0, 3.0], param=0.2)
    np.testing.assert_allclose(f, [-0.4, 3.0])
    np.testing.assert_allclose(df, [0.2, 1.0])
    with pytest.raises(ValueError, match="softmax"):
        plotting.activation_values("softmax")
    with pytest.raises(ValueError, match="unknown activation"):
        plotting.activation_values("nope")


def test_plot_activation_png(tmp_path):
    path = plotting.plot_activation("tanh", tmp_path / "tanh.png", size=(640, 300))
    assert_png(path, 640, 300)


def test_plot_activations_writes_one_per_name_and_an_overview(tmp_path):
    paths = plotting.plot_activations(tmp_path / "acts", names=["relu", "sigmoid", "gelu"], size=(400, 200))
    names = sorted(p.rsplit("/", 1)[-1] for p in paths)
    assert names == ["activation_gelu.png", "activation_logistic.png", "activation_relu.png",
                     "activations.png"]
    for p in paths[:-1]:
        assert_png(p, 400, 200)
    assert_png(paths[-1], 900, 240)  # 3 columns of 300 px, 1 row of 240 px
    with pytest.raises(ValueError, match="softmax"):
        plotting.plot_activations(tmp_path / "x", names=["softmax"])


@pytest.fixture(scope="module")
def moons_model():
    X, y = datasets.moons(300, noise=0.15, seed=0, dtype=np.float32)
    m = FastMLP([2, 16, 2], activation="tanh", seed=0)
    m.fit(X, y, epochs=30, lr=0.01, optimizer="adam", validation_split=0.2, verbose=False)
    return m, X, y


def test_plot_curves(tmp_path, moons_model):
    m = moons_model[0]
    assert_png(plotting.plot_curves(m, tmp_path / "c.png", size=(700, 300)), 700, 300)
    plain = FastMLP([2, 4, 2]).fit(*moons_model[1:], epochs=3, verbose=False)  # no validation curve
    assert_png(plotting.plot_curves(plain, tmp_path / "p.png"), 900, 380)
    with pytest.raises(ValueError, match="no training history"):
        plotting.plot_curves(FastMLP([2, 4, 2]), tmp_path / "u.png")


def test_plot_decision_boundary_binary_multiclass_regression(tmp_path, moons_model):
    m, X, y = moons_model
    assert_png(plotting.plot_decision_boundary(m, X, y, tmp_path / "b.png", size=(500, 420),
                                               resolution=60), 500, 420)
    Xb, yb = datasets.blobs(150, centers=3, seed=0, dtype=np.float32)
    m3 = FastMLP([2, 8, 3], seed=0).fit(Xb, yb, epochs=10, lr=0.05, verbose=False)
    assert_png(plotting.plot_decision_boundary(m3, Xb, yb, tmp_path / "m.png", resolution=50), 640, 560)
    reg = FastMLP([2, 8, 1], output="identity", seed=0).fit(X, X[:, 0] * X[:, 1], epochs=5, verbose=False)
    assert_png(plotting.plot_decision_boundary(reg, X, None, tmp_path / "r.png", resolution=40), 640, 560)


def test_plot_decision_boundary_refuses_other_shapes(tmp_path, moons_model):
    m, X, y = moons_model
    with pytest.raises(ValueError, match="2 features"):
        plotting.plot_decision_boundary(m, X[:, :1], y, tmp_path / "x.png")
    with pytest.raises(ValueError, match="y: has 3 samples"):
        plotting.plot_decision_boundary(m, X, y[:3], tmp_path / "x.png")
    with pytest.raises(ValueError, match="resolution"):
        plotting.plot_decision_boundary(m, X, y, tmp_path / "x.png", resolution=1)
    with pytest.raises(ValueError, match="size"):
        plotting.plot_decision_boundary(m, X, y, tmp_path / "x.png", size=(5, 5))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plotting.plot_decision_boundary(m, X, y, tmp_path / "no" / "x.png")


def test_plot_fit_1d_beans(tmp_path):
    """The course's logistic neuron on the beans, trained with squared error, drawn over the points."""
    X, y = datasets.beans(100, seed=0)
    m = FastMLP([1, 1], output="sigmoid", loss="squared_error", dtype=np.float64, seed=0)
    m.fit(X, y, epochs=200, batch_size=1, lr=1.0, verbose=False)
    assert_png(plotting.plot_fit_1d(m, X, y, tmp_path / "beans.png", size=(480, 320)), 480, 320)


def test_pyplot_state_is_left_alone(tmp_path):
    """Drawing goes through the Agg canvas directly: pyplot (and with it the caller's backend and figure
    state) is never touched."""
    code = ("import sys; from fastmlp import plotting; "
            f"plotting.plot_activation('relu', {str(tmp_path / 'r.png')!r}, size=(200, 100)); "
            "print('matplotlib' in sys.modules, 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False"]
    assert_png(tmp_path / "r.png", 200, 100)


def test_every_picture_names_the_missing_matplotlib():
    """Without matplotlib each function raises the one ImportError with the install hint (the decision
    boundary used to fail on its own ``import matplotlib.colors`` first)."""
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "import numpy as np; from fastmlp import FastMLP, plotting\n"
            "m = FastMLP([2, 3, 2]); X = np.zeros((3, 2))\n"
            "for f in (lambda: plotting.plot_decision_boundary(m, X, path='b.png'),\n"
            "          lambda: plotting.plot_activation('relu', 'r.png')):\n"
            "    try:\n        f()\n    except ImportError as exc:\n        print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["plot: needs matplotlib (pip install 'fastmlp[plot]')"] * 2


def test_activations_labels_and_parameters_come_from_the_registry():
    from fastmlp._registry import ACTIVATION_TABLE
    for name in HIDDEN_ACTIVATIONS:
        entry = ACTIVATION_TABLE[name]
        label = plotting._act_label(entry, entry.default_param)
        assert label.startswith(entry.label)
        if entry.param is not None:
            assert f"{entry.param.name} = {entry.param.default:g}" in label
            # the default parameter is the registry's
            x = np.array([-2.0, -0.5, 0.5, 2.0])
            np.testing.assert_array_equal(plotting.activation_values(name, x=x)[1],
                                          plotting.activation_values(name, x=x, param=entry.default_param)[1])
    # aliases resolve to the registry's name; row-wise outputs (no elementwise derivative) have no curve
    np.testing.assert_array_equal(plotting.activation_values("swish", x=[1.0])[1],
                                  plotting.activation_values("silu", x=[1.0])[1])
    for name, entry in ACTIVATION_TABLE.items():
        if entry.derivative is None:
            with pytest.raises(ValueError, match=f"activation: {name} is not elementwise"):
                plotting.activation_values(name)
    x, f, df = plotting.activation_values("prelu", x=[-2.0, 2.0], param=0.5)  # per-unit: one slope
    np.testing.assert_allclose(f, [-1.0, 2.0])
