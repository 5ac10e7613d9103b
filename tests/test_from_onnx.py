"""exchange.from_onnx: every graph to_onnx writes (every activation and output, float32/float64,
logits=True) comes back with the same predictions; torch's exported Gemm graphs too; anything else is
refused with an UnsupportedLayerError naming what."""
import numpy as np
import pytest

from conftest import ALL_ACTIVATIONS, DTYPES
from fastmlp import FastMLP, exchange

onnx = pytest.importorskip("onnx")


def _model(act, dtype, output="softmax", d_out=3, seed=0):
    m = FastMLP([4, 6, 5, d_out], activation=act, output=output, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed)
    for b in m.biases:
        b[...] = rng.uniform(-0.5, 0.5, b.shape)
    return m


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ALL_ACTIVATIONS)
def test_every_activation_round_trips(tmp_path, act, dtype):
    m = _model(act, dtype)
    m.classes_ = np.array([10, 20, 30])
    path = tmp_path / "m.onnx"
    exchange.to_onnx(m, path)
    back = exchange.from_onnx(path)
    assert back.spec.activations == m.spec.activations and back.spec.params == m.spec.params
    assert back.dtype == m.dtype and back.spec.loss == m.spec.loss
    np.testing.assert_array_equal(back.get_params_vector(), m.get_params_vector())
    X = np.random.default_rng(1).standard_normal((20, 4)).astype(dtype)
    np.testing.assert_array_equal(back.predict(X), m.predict(X))
    np.testing.assert_array_equal(back.classes_, m.classes_)


@pytest.mark.parametrize("output, loss, d_out", [("sigmoid", None, 1), ("sigmoid", None, 3),
                                                 ("identity", None, 2), ("tanh", "squared_error", 2),
                                                 ("exp", "poisson", 1), ("softmax", None, 3)])
@pytest.mark.parametrize("logits", [False, True])
def test_every_output_round_trips(output, loss, d_out, logits):
    m = FastMLP([4, 6, d_out], activation="relu", output=output, loss=loss, dtype=np.float64, seed=1)
    back = exchange.from_onnx(exchange.to_onnx(m, logits=logits))
    assert back.spec.activations == m.spec.activations and back.spec.loss == m.spec.loss
    X = np.random.default_rng(2).standard_normal((15, 4))
    np.testing.assert_allclose(back.forward(X), m.forward(X), rtol=1e-14)


def test_torch_exported_gemm_graph(tmp_path):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 6),
                              torch.nn.LeakyReLU(0.2), torch.nn.Linear(6, 3), torch.nn.Softmax(dim=-1))
    path = tmp_path / "t.onnx"
    try:
        torch.onnx.export(net, (torch.zeros(1, 4),), str(path), input_names=["X"], output_names=["Y"],
                          dynamo=False)
    except Exception as exc:  # pragma: no cover - exporter dependencies missing
        pytest.skip(f"torch.onnx.export unavailable: {exc}")
    m = exchange.from_onnx(path)
    assert m.spec.activations == ("relu", "leaky_relu", "softmax") and m.spec.params[1] == pytest.approx(0.2)
    X = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(m.predict_proba(X), ref, rtol=1e-5, atol=1e-6)


def _graph(nodes, inits, inputs=("X",), outputs=("Y",)):
    from onnx import TensorProto, helper, numpy_helper
    g = helper.make_graph(nodes, "g",
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in inputs],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
                          initializer=[numpy_helper.from_array(np.asarray(v, np.float32), k)
                                       for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_anything_else_is_refused():
    from onnx import helper
    W, b = np.ones((4, 3)), np.zeros(3)
    dense = [helper.make_node("MatMul", ["X", "W"], ["m"]), helper.make_node("Add", ["m", "b"], ["z"])]
    with pytest.raises(exchange.UnsupportedLayerError, match="HardSigmoid"):
        exchange.from_onnx(_graph(dense + [helper.make_node("HardSigmoid", ["z"], ["Y"])], {"W": W, "b": b}))
    with pytest.raises(exchange.UnsupportedLayerError, match="Conv"):
        exchange.from_onnx(_graph([helper.make_node("Conv", ["X", "W"], ["Y"])], {"W": W}))
    with pytest.raises(exchange.UnsupportedLayerError, match="expected one input"):
        exchange.from_onnx(_graph([helper.make_node("MatMul", ["X", "V"], ["m"]),
                                   helper.make_node("Add", ["m", "b"], ["Y"])], {"b": b}, inputs=("X", "V")))
    with pytest.raises(exchange.UnsupportedLayerError, match="expected an Add"):
        exchange.from_onnx(_graph([helper.make_node("MatMul", ["X", "W"], ["Y"])], {"W": W}))
    with pytest.raises(exchange.UnsupportedLayerError, match="does not continue the chain"):
        exchange.from_onnx(_graph(dense + [helper.make_node("Relu", ["X"], ["Y"])], {"W": W, "b": b}))
    with pytest.raises(exchange.UnsupportedLayerError, match="axis"):
        exchange.from_onnx(_graph(dense + [helper.make_node("Softmax", ["z"], ["Y"], axis=0)],
                                  {"W": W, "b": b}))
    ok = exchange.from_onnx(_graph(dense + [helper.make_node("Relu", ["z"], ["Y"])], {"W": W, "b": b}))
    assert ok.spec.activations == ("relu",)
