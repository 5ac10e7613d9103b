"""fastmlp.exchange: FastMLP <-> PyTorch nn.Sequential, FastMLP -> ONNX (checked with onnxruntime), fitted
scikit-learn MLPs -> FastMLP. Round trips give the same predictions in float32 and float64; unsupported
layers are named. Each optional dependency is skipped cleanly when it is missing."""
import subprocess
import sys
import warnings

import numpy as np
import pytest

from conftest import ALL_ACTIVATIONS, DTYPES
from fastmlp import FastMLP, exchange
from fastmlp._registry import ACTIVATION_TABLE
from fastmlp.exchange import UnsupportedLayerError

# Two implementations (different summation orders, fastmlp's polynomial exp/sigmoid/tanh, torch's or
# onnxruntime's own) agree to about this; the same implementation agrees exactly.
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _close(a, b, dtype):
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64),
                               **TOL[np.dtype(dtype).type])


def _model(sizes, activation, output, dtype, seed=0, **kw):
    """A FastMLP with random (not just initial) parameters, PReLU slopes included."""
    m = FastMLP(sizes, activation=activation, output=output, dtype=dtype, seed=seed, **kw)
    rng = np.random.default_rng(seed + 1)
    m.set_params_vector(rng.standard_normal(m.n_params) * 0.7)
    return m


def _X(n, d, dtype, seed=5):
    return (np.random.default_rng(seed).standard_normal((n, d)) * 2).astype(dtype)


def _torch_out(net, X):
    import torch
    with torch.no_grad():
        return net(torch.from_numpy(X)).numpy()


# ----------------------------------------------------------------------------------------------------
# PyTorch
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("act", ALL_ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_torch_round_trip_every_activation(dtype, act):
    torch = pytest.importorskip("torch")
    model = _model([4, 6, 5, 3], [act, "relu" if act != "relu" else "tanh"], "softmax", dtype)
    X = _X(23, 4, dtype)
    net = exchange.to_torch(model)
    assert isinstance(net, torch.nn.Sequential) and not net.training
    assert all(p.dtype == (torch.float64 if dtype == np.float64 else torch.float32)
               for p in net.parameters())
    assert isinstance(net[-1], torch.nn.Softmax)
    _close(_torch_out(net, X), model.forward(X), dtype)
    back = exchange.from_torch(net)
    assert back.dtype == dtype and back.spec.activations == model.spec.activations
    np.testing.assert_array_equal(back.forward(X), model.forward(X))
    np.testing.assert_array_equal(back.predict(X), model.predict(X))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("sizes, output", [
    ([3, 1], "sigmoid"),                  # no hidden layer, binary
    ([1, 4, 3], "sigmoid"),               # multilabel, d_in = 1
    ([5, 7, 1], "identity"),              # regression, one output
    ([2, 3, 3, 2], "tanh"),               # regression through tanh
    ([3, 4, 2], ("prelu", 0.1)),          # PReLU output
    ([3, 4, 2], ("leaky_relu", 0.2)),
])
def test_torch_round_trip_outputs(dtype, sizes, output):
    pytest.importorskip("torch")
    model = _model(sizes, [("elu", 0.5)] * (len(sizes) - 2), output, dtype)
    X = _X(1, sizes[0], dtype)  # one row
    net = exchange.to_torch(model)
    _close(_torch_out(net, X), model.forward(X), dtype)
    back = exchange.from_torch(net)
    assert back.spec.activations == model.spec.activations and back.spec.loss == model.spec.loss
    np.testing.assert_array_equal(back.forward(X), model.forward(X))
    np.testing.assert_array_equal(back.predict(X), model.predict(X))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_torch_fitted_classifier_with_labels_and_logits(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3)).astype(dtype)
    y = np.array(["cat", "dog", "emu"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)]
    model = FastMLP([3, 16, 3], activation="relu", dtype=dtype, seed=0).fit(X, y, epochs=5, lr=0.1)
    net = exchange.to_torch(model, logits=True)
    assert isinstance(net[-1], torch.nn.Linear)
    logits = _torch_out(net, X)
    _close(torch.softmax(torch.from_numpy(logits), dim=-1).numpy(), model.predict_proba(X), dtype)
    back = exchange.from_torch(net, output="softmax", classes=model.classes_)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    np.testing.assert_array_equal(back.classes_, ["cat", "dog", "emu"])
    assert back.score(X, y) == model.score(X, y)
    # Without classes, a classifier gets 0..C-1.
    np.testing.assert_array_equal(exchange.from_torch(net, output="softmax").classes_, [0, 1, 2])
    # Sigmoid classifiers lose only their Sigmoid with logits=True; regressors keep their output.
    sig = _model([3, 2, 1], "tanh", "sigmoid", dtype)
    assert isinstance(exchange.to_torch(sig, logits=True)[-1], torch.nn.Linear)
    reg = _model([3, 2, 1], "tanh", "logistic", dtype, loss="squared_error")
    assert isinstance(exchange.to_torch(reg, logits=True)[-1], torch.nn.Sigmoid)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_from_torch_of_a_torch_built_network(dtype):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    net = nn.Sequential(
        nn.Linear(6, 8), nn.LeakyReLU(0.05), nn.Dropout(0.3),
        nn.Sequential(nn.Linear(8, 8, bias=False), nn.PReLU(), nn.Linear(8, 5)),  # nested; one shared slope
        nn.Identity(), nn.Linear(5, 4), nn.GELU(), nn.Linear(4, 3), nn.Softmax(dim=1),
    ).to(tdtype).eval()
    with torch.no_grad():
        net[3][1].weight.fill_(-0.3)
    X = _X(17, 6, dtype)
    model = exchange.from_torch(net)
    assert model.dtype == dtype
    assert model.spec.activations == ("leaky_relu", "prelu", "identity", "gelu", "softmax")
    np.testing.assert_array_equal(model.slopes[1], np.full(8, -0.3, dtype))
    np.testing.assert_array_equal(model.biases[1], 0)
    _close(model.forward(X), _torch_out(net, X), dtype)
    np.testing.assert_array_equal(model.predict(X), _torch_out(net, X).argmax(1))
    # dtype= converts; a float16 module is read as float32.
    assert exchange.from_torch(net, dtype=np.float64).dtype == np.float64
    half = nn.Sequential(nn.Linear(2, 2)).half()
    assert exchange.from_torch(half).dtype == np.float32
    # A ModuleList of the same layers reads the same way.
    listed = exchange.from_torch(nn.ModuleList([nn.Linear(2, 3), nn.Softsign(), nn.Linear(3, 1)]))
    assert listed.spec.activations == ("softsign", "identity")
    # A regressor with an activation on its output; the loss can be overridden.
    reg = nn.Sequential(nn.Linear(3, 4), nn.Softplus(), nn.Linear(4, 1), nn.Sigmoid()).to(tdtype)
    m = exchange.from_torch(reg, loss="squared_error")
    assert m.spec.loss == "squared_error" and m.spec.activations == ("softplus", "logistic")
    X3 = _X(5, 3, dtype)
    _close(m.forward(X3), _torch_out(reg, X3), dtype)


def test_from_torch_names_what_it_cannot_read():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    cases = [
        (nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.Conv2d(1, 1, 1)),
         "Conv2d at index 3 is not supported"),
        (nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)), "BatchNorm1d at index 1 is not supported"),
        (nn.Sequential(nn.Linear(4, 4), nn.ReLU6()), "ReLU6 at index 1 is not supported"),
        (nn.Sequential(nn.Linear(4, 4), nn.GELU(approximate="tanh")),
         r"GELU\(approximate='tanh'\) at index 1 is not supported"),
        (nn.Sequential(nn.Linear(4, 4), nn.Softplus(beta=2)), "Softplus at index 1 with beta=2"),
        (nn.Sequential(nn.Linear(4, 4), nn.Hardtanh(-2, 2)), "Hardtanh.* at index 1 is not supported"),
        (nn.Sequential(nn.Linear(4, 4), nn.LeakyReLU(-0.1)), "LeakyReLU at index 1 with negative_slope"),
        (nn.Sequential(nn.Linear(4, 4), nn.LogSoftmax(dim=1)), "LogSoftmax at index 1 is not supported"),
        (nn.Sequential(nn.Linear(4, 4), nn.Softmax(dim=0)), r"Softmax\(dim=0\) at index 1"),
        (nn.Sequential(nn.Linear(4, 4), nn.Softmax(dim=1), nn.Linear(4, 2)),
         "Softmax at index 1 is not supported: softmax is an output activation only"),
        (nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Tanh()),
         "Tanh at index 2 is not supported: it follows ReLU at index 1"),
        (nn.Sequential(nn.ReLU(), nn.Linear(4, 4)), "ReLU at index 0 is not supported here"),
        (nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), nn.Flatten())),
         "Flatten at index 1.1 is not supported"),
        (nn.Sequential(nn.Linear(4, 4), nn.PReLU(3)), "PReLU at index 1 has 3 slopes for 4 units"),
        # the parameter is checked by the registry's rule
        (nn.Sequential(nn.Linear(4, 4), nn.ELU(alpha=0.0)),
         r"ELU at index 1 with alpha=0.0 is not supported \(alpha: elu gamma must be > 0"),
    ]
    for net, msg in cases:
        with pytest.raises(UnsupportedLayerError, match=msg):
            exchange.from_torch(net)
    with pytest.raises(ValueError, match="in_features=3 does not match the previous Linear's out_features=4"):
        exchange.from_torch(nn.Sequential(nn.Linear(2, 4), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="no Linear layer"):
        exchange.from_torch(nn.Sequential())
    with pytest.raises(ValueError, match="output: the module already ends with Tanh at index 1"):
        exchange.from_torch(nn.Sequential(nn.Linear(2, 2), nn.Tanh()), output="softmax")
    with pytest.raises(TypeError, match="rebuild it as nn.Sequential"):
        exchange.from_torch(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="expected a torch.nn.Sequential"):
        exchange.from_torch([1, 2])
    with pytest.raises(ValueError, match="classes: the softmax output needs 3 classes"):
        exchange.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Softmax(-1)), classes=["a", "b"])
    with pytest.raises(TypeError, match="model: expected a FastMLP"):
        exchange.to_torch("not a model")


def test_from_torch_refuses_what_only_looks_readable():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class ScaledLinear(nn.Linear):  # a Linear whose forward() is not Linear's
        def forward(self, x):
            return 2 * super().forward(x)

    class Residual(nn.Sequential):  # a Sequential whose forward() is not a chain
        def forward(self, x):
            return x + super().forward(x)

    cases = [
        (nn.Sequential(ScaledLinear(3, 3), nn.ReLU()),
         "ScaledLinear at index 0 is not supported: it subclasses Linear with its own forward"),
        (nn.Sequential(nn.Linear(3, 3), Residual(nn.Linear(3, 3), nn.Tanh())),
         "Residual at index 1 is not supported: it subclasses nn.Sequential with its own forward"),
        (nn.Sequential(nn.PReLU(3), nn.Linear(3, 2)), "PReLU at index 0 is not supported here"),
    ]
    for net, msg in cases:
        with pytest.raises(UnsupportedLayerError, match=msg):
            exchange.from_torch(net)
    with pytest.raises(TypeError, match="Residual subclasses nn.Sequential with its own forward"):
        exchange.from_torch(Residual(nn.Linear(3, 3)))
    with pytest.raises(ValueError, match="LazyLinear at index 0 is not initialized"):
        exchange.from_torch(nn.Sequential(nn.LazyLinear(2)))
    # output= names the activation of a module that ends with its Linear; a different slope is an error
    net = nn.Sequential(nn.Linear(3, 2), nn.LeakyReLU(0.3))
    with pytest.raises(ValueError, match="output: the module already ends with LeakyReLU at index 1"):
        exchange.from_torch(net, output=("leaky_relu", 0.1))
    assert exchange.from_torch(net, output=("leaky_relu", 0.3)).spec.params == (0.3,)
    assert exchange.from_torch(net, output="leaky_relu").spec.params == (0.3,)


# ----------------------------------------------------------------------------------------------------
# ONNX
# ----------------------------------------------------------------------------------------------------
def _ort_run(onnx_model, X):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"X": X})[0]


@pytest.mark.parametrize("act", ALL_ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_onnx_every_activation(dtype, act):
    onnx = pytest.importorskip("onnx")
    model = _model([4, 6, 3], act, "softmax", dtype)
    m = exchange.to_onnx(model)
    onnx.checker.check_model(m)
    inp, out = m.graph.input[0].type.tensor_type, m.graph.output[0].type.tensor_type
    elem = onnx.TensorProto.DOUBLE if dtype == np.float64 else onnx.TensorProto.FLOAT
    assert inp.elem_type == out.elem_type == elem
    X = _X(31, 4, dtype)
    X[0] = [30.0, -30.0, 0.0, 1e-3]  # saturating and near-zero inputs
    got = _ort_run(m, X)
    assert got.dtype == dtype
    _close(got, model.forward(X), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("sizes, output, kw", [
    ([2, 1], "sigmoid", {}),
    ([1, 3, 4], "sigmoid", {}),
    ([3, 5, 2], "identity", {}),
    ([3, 5, 2], ("prelu", 0.3), {}),
    ([3, 5, 2], "hardtanh", {}),
    ([3, 4, 1], "logistic", {"loss": "squared_error"}),
])
def test_onnx_outputs(dtype, sizes, output, kw):
    pytest.importorskip("onnx")
    model = _model(sizes, "silu", output, dtype, **kw)
    X = _X(1, sizes[0], dtype)
    _close(_ort_run(exchange.to_onnx(model), X), model.forward(X), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_onnx_logits_metadata_and_file(tmp_path, dtype):
    onnx = pytest.importorskip("onnx")
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 2)).astype(dtype)
    y = np.where(X[:, 0] > 0, 10, 20)
    model = FastMLP([2, 8, 2], activation="tanh", dtype=dtype, seed=1).fit(X, y, epochs=3)
    path = tmp_path / "model.onnx"
    m = exchange.to_onnx(model, path, logits=True)
    loaded = onnx.load(str(path))
    props = {p.key: p.value for p in loaded.metadata_props}
    assert props["fastmlp.classes"] == "[10, 20]"
    assert props["fastmlp.layer_sizes"] == "[2, 8, 2]"
    assert props["fastmlp.output"] == "logits"
    assert loaded.producer_name == "fastmlp" and loaded.SerializeToString() == m.SerializeToString()
    logits = _ort_run(loaded, X)
    P = np.exp(logits - logits.max(1, keepdims=True))
    _close(P / P.sum(1, keepdims=True), model.predict_proba(X), dtype)
    np.testing.assert_array_equal(model.classes_[logits.argmax(1)], model.predict(X))
    with pytest.raises(ValueError, match="opset: need 13 or newer"):
        exchange.to_onnx(model, opset=11)
    newest = onnx.defs.onnx_opset_version()
    with pytest.raises(ValueError, match=f"opset: {newest + 1} is newer than this onnx"):
        exchange.to_onnx(model, opset=newest + 1)  # was accepted by the checker, refused by onnxruntime
    with pytest.raises(ValueError, match="input_name and output_name must differ"):
        exchange.to_onnx(model, input_name="X", output_name="X")


# ----------------------------------------------------------------------------------------------------
# scikit-learn
# ----------------------------------------------------------------------------------------------------
def _fit(est, X, y):
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("act", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel"])
def test_from_sklearn_classifier(dtype, act, task):
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPClassifier
    rng = np.random.default_rng(2)
    X = rng.standard_normal((90, 4)).astype(dtype)
    if task == "multiclass":
        y = np.array(["a", "b", "c"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)]
    elif task == "binary":
        y = np.where(X[:, 0] + X[:, 2] > 0, 7, -1)
    else:
        y = (X[:, :3] > 0).astype(int)
    est = MLPClassifier(hidden_layer_sizes=(6, 5), activation=act, max_iter=30, random_state=0)
    est = _fit(est, X, y)
    model = exchange.from_sklearn(est)
    assert model.dtype == est.coefs_[0].dtype
    np.testing.assert_array_equal(model.predict(X), est.predict(X))
    _close(model.predict_proba(X), est.predict_proba(X), dtype)
    assert model.score(X, y) == pytest.approx(est.score(X, y))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n_out", [1, 3])
def test_from_sklearn_regressor(dtype, n_out):
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPRegressor
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 3)).astype(dtype)
    y = X @ rng.standard_normal((3, n_out)) + 0.1
    y = y.ravel() if n_out == 1 else y
    est = MLPRegressor(hidden_layer_sizes=(8,), activation="tanh", max_iter=40, random_state=0)
    est = _fit(est, X, y)
    model = exchange.from_sklearn(est)
    assert model.predict(X).shape == est.predict(X).shape
    _close(model.predict(X), est.predict(X), dtype)


def test_from_sklearn_to_torch_and_onnx():
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPClassifier
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 3))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    est = _fit(MLPClassifier(hidden_layer_sizes=(5,), max_iter=20, random_state=0), X, y)
    if _have("torch"):
        _close(_torch_out(exchange.to_torch(est), X), est.predict_proba(X), np.float64)
    if _have("onnx"):
        _close(_ort_run(exchange.to_onnx(est), X), est.predict_proba(X), np.float64)


def test_from_sklearn_fastmlp_estimators():
    pytest.importorskip("sklearn")
    from fastmlp.sklearn import FastMLPClassifier, FastMLPRegressor
    rng = np.random.default_rng(5)
    X = rng.standard_normal((60, 3))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    for act in ("gelu", ("leaky_relu", 0.2)):
        est = FastMLPClassifier(hidden_layer_sizes=(6,), activation=act, max_iter=10, random_state=0)
        est = _fit(est, X, y)
        model = exchange.from_sklearn(est)
        np.testing.assert_array_equal(model.predict(X), est.predict(X))
        _close(model.predict_proba(X), est.predict_proba(X), np.float64)
    X32 = X.astype(np.float32)
    reg = _fit(FastMLPRegressor(hidden_layer_sizes=(5, 4), activation="silu", max_iter=10, random_state=0),
               X32, X32[:, 0] - X32[:, 2])
    model = exchange.from_sklearn(reg)
    assert model.dtype == np.float32
    _close(model.predict(X32), reg.predict(X32), np.float32)
    poisson = _fit(FastMLPRegressor(hidden_layer_sizes=(3,), loss="poisson", max_iter=3), X, np.exp(X[:, 0]))
    if "exp" in ACTIVATION_TABLE:  # the registry has the Poisson output: read like any other activation
        _close(exchange.from_sklearn(poisson).predict(X), poisson.predict(X), np.float64)
    else:
        with pytest.raises(UnsupportedLayerError, match="out_activation_ 'exp' of FastMLPRegressor"):
            exchange.from_sklearn(poisson)


def test_from_sklearn_refuses_what_it_cannot_read():
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    with pytest.raises(ValueError, match="MLPClassifier is not fitted"):
        exchange.from_sklearn(MLPClassifier())
    X = np.random.default_rng(0).random((20, 2))
    try:
        est = MLPRegressor(hidden_layer_sizes=(3,), loss="poisson", max_iter=5)
    except TypeError:  # scikit-learn without the poisson loss
        return
    _fit(est, X, X[:, 0] + 1)
    if "exp" in ACTIVATION_TABLE:  # the registry has the Poisson output: read like any other activation
        _close(exchange.from_sklearn(est).predict(X), est.predict(X), np.float64)
        return
    with pytest.raises(UnsupportedLayerError, match="out_activation_ 'exp' of MLPRegressor is not supported"):
        exchange.from_sklearn(est)


# ----------------------------------------------------------------------------------------------------
# Optional dependencies stay optional
# ----------------------------------------------------------------------------------------------------
def _have(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False


def test_missing_optional_dependency_says_which_extra(monkeypatch):
    model = _model([2, 2], "relu", "identity", np.float32)
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"torch is required .*fastmlp\[torch\]"):
        exchange.to_torch(model)
    with pytest.raises(ImportError, match=r"onnx is required .*fastmlp\[onnx\]"):
        exchange.to_onnx(model)


def test_import_fastmlp_imports_no_optional_dependency():
    code = ("import sys, fastmlp, fastmlp.exchange, fastmlp.ops; "
            "bad = [m for m in ('torch', 'onnx', 'onnxruntime', 'sklearn') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------------------------------
# The mappings come from the registry
# ----------------------------------------------------------------------------------------------------
def _without(monkeypatch, name, **changes):
    """Replace the registry entry of ``name`` for one test (e.g. as if it had no torch module)."""
    import dataclasses
    monkeypatch.setitem(ACTIVATION_TABLE, name, dataclasses.replace(ACTIVATION_TABLE[name], **changes))


@pytest.mark.parametrize("act", ALL_ACTIVATIONS)
def test_to_torch_builds_the_registry_module(act):
    torch = pytest.importorskip("torch")
    entry = ACTIVATION_TABLE[act]
    model = _model([3, 4, 2], act, "identity", np.float64)
    if entry.code != 0 and entry.torch_module is None:
        pytest.skip(f"{act} has no torch module (to_torch refuses it, as tested below)")
    net = exchange.to_torch(model)
    if entry.code == 0:  # the identity: no module after its Linear
        assert [type(m) for m in net] == [torch.nn.Linear, torch.nn.Linear]
        return
    mod = net[1]
    assert type(mod) is getattr(torch.nn, entry.torch_module)
    if entry.torch_param is not None:
        assert getattr(mod, entry.torch_param) == model.spec.params[0]
    if entry.per_unit:
        np.testing.assert_array_equal(mod.weight.detach().numpy(), model.slopes[0])


def test_from_torch_reads_every_module_the_registry_names():
    torch = pytest.importorskip("torch")
    classes = exchange._torch_activation_classes(torch.nn)
    assert {cls.__name__ for cls in classes} == {e.torch_module for e in ACTIVATION_TABLE.values()
                                                if e.torch_module}
    for cls, entry in classes.items():
        assert entry.torch_module == cls.__name__
    # the settings checks are named after torch classes the registry maps (none is left behind by a rename)
    for fn in (n for n in vars(exchange) if n.startswith("_torch_settings_")):
        assert hasattr(torch.nn, fn[len("_torch_settings_"):]) and fn[len("_torch_settings_"):] in \
            {e.torch_module for e in ACTIVATION_TABLE.values()}, fn


def test_onnx_composite_forms_are_named_after_registry_activations():
    forms = [n[len("_onnx_"):] for n in vars(exchange) if n.startswith("_onnx_")]
    assert forms and set(forms) <= set(ACTIVATION_TABLE), forms


def test_activation_without_a_torch_module_or_onnx_form_is_refused_clearly(monkeypatch):
    models = {dt: _model([3, 4, 2], ["tanh"], "softsign", dt) for dt in DTYPES}
    _without(monkeypatch, "softsign", torch_module=None, onnx_op=None)
    if _have("torch"):
        for model in models.values():
            with pytest.raises(UnsupportedLayerError, match="activation softsign of layer 1 is not supported "
                                                            r"by to_torch \(it has no torch.nn module\)"):
                exchange.to_torch(model, logits=True)  # a regressor keeps its output activation
        _without(monkeypatch, "softsign", torch_module="NoSuchModule")
        with pytest.raises(UnsupportedLayerError, match=r"to_torch \(torch.nn has no NoSuchModule\)"):
            exchange.to_torch(models[np.float32])
    if _have("onnx"):
        with pytest.raises(UnsupportedLayerError, match="activation softsign of layer 1 is not supported by "
                                                        r"to_onnx \(it has no ONNX form\)"):
            exchange.to_onnx(models[np.float32])
        # float64 graphs spell softsign with elementary ops, which need no single op
        X = _X(5, 3, np.float64)
        _close(_ort_run(exchange.to_onnx(models[np.float64]), X), models[np.float64].forward(X), np.float64)


def test_from_sklearn_reads_names_through_the_registry():
    from types import SimpleNamespace
    rng = np.random.default_rng(0)
    coefs = [rng.standard_normal((3, 4)), rng.standard_normal((4, 2))]
    inters = [rng.standard_normal(4), rng.standard_normal(2)]
    X = rng.standard_normal((6, 3))
    # aliases and any case: "sigmoid" is logistic, "Linear" the identity
    est = SimpleNamespace(coefs_=coefs, intercepts_=inters, activation="sigmoid", out_activation_="Linear")
    model = exchange.from_sklearn(est)
    assert model.spec.activations == ("logistic", "identity") and model.spec.loss == "squared_error"
    H = 1 / (1 + np.exp(-(X @ coefs[0] + inters[0])))
    np.testing.assert_allclose(model.predict(X), H @ coefs[1] + inters[1], rtol=1e-12)
    # a multilabel sigmoid output gets the output columns as classes, a softmax one the estimator's labels
    est = SimpleNamespace(coefs_=coefs, intercepts_=inters, activation="tanh", out_activation_="logistic")
    np.testing.assert_array_equal(exchange.from_sklearn(est).classes_, [0, 1])
    est.out_activation_, est.classes_ = "softmax", np.array(["x", "y"])
    np.testing.assert_array_equal(exchange.from_sklearn(est).classes_, ["x", "y"])
    with pytest.raises(ValueError, match="has no activation attribute"):
        exchange.from_sklearn(SimpleNamespace(coefs_=coefs, intercepts_=inters, out_activation_="identity"))
    assert exchange.from_sklearn(SimpleNamespace(coefs_=coefs[:1], intercepts_=inters[:1],
                                                 out_activation_="identity")).spec.sizes == (3, 4)
    est = SimpleNamespace(coefs_=coefs, intercepts_=inters, activation="softmax", out_activation_="identity")
    with pytest.raises(UnsupportedLayerError, match="softmax is an output activation only"):
        exchange.from_sklearn(est)
    est = SimpleNamespace(coefs_=coefs, intercepts_=inters, activation="relu", out_activation_=None)
    with pytest.raises(UnsupportedLayerError, match="out_activation_ None of SimpleNamespace is not"):
        exchange.from_sklearn(est)


@pytest.mark.skipif("exp" not in ACTIVATION_TABLE, reason="the registry has no exp output")
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_exp_output_poisson_model(dtype):
    """A registry entry added later (the exp output of the Poisson loss) goes through the generic paths:
    its ONNX op from the registry, a clear refusal from to_torch (torch.nn has no Exp module)."""
    model = _model([3, 5, 2], "tanh", "exp", dtype, seed=2)
    assert model.spec.loss == "poisson"
    X = _X(9, 3, dtype)
    if _have("onnx"):
        m = exchange.to_onnx(model)
        assert [n.op_type for n in m.graph.node][-2] == ACTIVATION_TABLE["exp"].onnx_op
        _close(_ort_run(m, X), model.forward(X), dtype)
    if _have("torch"):
        with pytest.raises(UnsupportedLayerError, match="activation exp of layer 1 is not supported by to_t"):
            exchange.to_torch(model)
        import torch
        back = exchange.from_torch(torch.nn.Sequential(torch.nn.Linear(3, 2)), output="exp")
        assert back.spec.activations == ("exp",) and back.spec.loss == "poisson"
