"""Hostile and broken model files: FastMLP.load refuses them with one clear error naming the file and the
field, before allocating anything of the size they claim (tracemalloc bounds what a refusal may cost)."""
import io
import json
import os
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import fastmlp._modelfile as modelfile
from fastmlp import FastMLP

MIB = 1 << 20


def _model(kind="softmax"):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4)).astype(np.float32)
    if kind == "softmax":
        m = FastMLP([4, 5, 3], seed=0).fit(X, np.array(["a", "b", "c"] * 14)[:40], epochs=1)
    elif kind == "sigmoid":
        m = FastMLP([4, 5, 1], output="sigmoid", seed=0).fit(X, np.arange(40) % 2, epochs=1)
    else:
        m = FastMLP([4, 5, 1], output="identity", seed=0).fit(X, X[:, 0], epochs=1)
    return m, X


def _arrays(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _write(path, theta, meta, classes=None, compress=False):
    arrays = {"theta": theta, "meta": np.array(json.dumps(meta) if not isinstance(meta, str) else meta)}
    if classes is not None:
        arrays["classes"] = classes
    (np.savez_compressed if compress else np.savez)(path, **arrays)
    return path


def _refused(path, match, limit=8 * MIB, exc=ValueError):
    """load(path) raises ``exc`` matching ``match`` while tracing at most ``limit`` bytes."""
    tracemalloc.start()
    try:
        with pytest.raises(exc, match=match):
            FastMLP.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit, f"refusing {os.path.basename(path)} traced {peak / MIB:.1f} MiB"


@pytest.fixture
def saved(tmp_path):
    m, X = _model()
    path = tmp_path / "good.npz"
    m.save(path)
    arrays = _arrays(path)
    return path, json.loads(str(arrays["meta"][()])), arrays


def test_a_small_file_claiming_a_huge_network_is_refused_cheaply(tmp_path, saved):
    _, meta, arrays = saved
    for sizes in ([20000, 20000, 3], [10**9, 10**9, 3], [4, 2**62, 3]):
        bad = dict(meta, layer_sizes=sizes)
        path = _write(tmp_path / "huge.npz", arrays["theta"], bad, arrays["classes"])
        assert path.stat().st_size < 4096
        _refused(path, r"huge\.npz .*field 'theta': .* does not match the architecture")


def test_a_zip_bomb_member_is_not_inflated(tmp_path, saved):
    """A deflated theta whose header claims 256 MiB of zeros (a ~250 KiB member) with metadata to match."""
    _, meta, arrays = saved
    n = 64 * MIB  # float32 parameters
    bad = dict(meta, layer_sizes=[4, n // 5 - 2, 3], activations=[["identity", 0.0]])
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("theta.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (n,)})
            chunk = bytes(4 * MIB)
            for _ in range(n * 4 // len(chunk)):
                fh.write(chunk)
        buf = io.BytesIO()
        np.save(buf, np.array(json.dumps(bad)))
        zf.writestr("meta.npy", buf.getvalue())
    assert path.stat().st_size < 2 * MIB
    _refused(path, r"bomb\.npz has a member 'theta.npy' that inflates")


@pytest.mark.parametrize("kind, classes, match", [
    ("softmax", ["a"], "1 classes for an output layer that needs 3"),
    ("softmax", ["a", "b", "c", "d", "e"], "5 classes"),
    ("softmax", ["a", "a", "b"], "labels must be sorted and unique"),
    ("softmax", ["c", "b", "a"], "labels must be sorted and unique"),
    ("softmax", [["a", "b", "c"]], "expected a 1-D array"),
    ("sigmoid", [0, 1, 2], "3 classes for an output layer that needs 2"),
    ("identity", [0, 1], "a squared_error model has no classes"),
])
def test_classes_must_fit_the_output_layer(tmp_path, kind, classes, match):
    m, _ = _model(kind)
    good = tmp_path / "good.npz"
    m.save(good)
    arrays = _arrays(good)
    path = _write(tmp_path / "cls.npz", arrays["theta"], json.loads(str(arrays["meta"][()])),
                  np.array(classes))
    _refused(path, r"cls\.npz has malformed fastmlp metadata: field 'classes': " + match)


@pytest.mark.parametrize("field, value", [
    ("layer_sizes", ["4", "5", "3"]), ("layer_sizes", [4, 0, 3]), ("layer_sizes", 7),
    ("activations", [["relu"]]), ("activations", [["nope", 0.0]]), ("activations", [["leaky_relu", -1]]),
    ("output", "softmax"), ("loss", "hinge"), ("loss", 3), ("dtype", "float16"), ("seed", "x"),
    ("l2", "x"), ("l2", -1.0), ("y_1d", "yes"), ("n_epochs", -1), ("n_epochs", 1.5),
    ("best_epoch", "3"), ("loss_curve", ["a"]), ("loss_curve", 3), ("metadata", [1]), ("backend", 5),
    ("format_version", "1"), ("format_version", 99),
])
def test_every_metadata_field_is_checked_and_named(tmp_path, saved, field, value):
    _, meta, arrays = saved
    path = _write(tmp_path / "meta.npz", arrays["theta"], dict(meta, **{field: value}), arrays["classes"])
    _refused(path, rf"meta\.npz has malformed fastmlp metadata: field '{field}'")


def test_json_bombs_and_garbage(tmp_path, saved):
    _, meta, arrays = saved
    deep = "[" * 100000 + "]" * 100000
    path = _write(tmp_path / "deep.npz", arrays["theta"], '{"format": "fastmlp", "x": ' + deep + "}")
    _refused(path, r"deep\.npz .*field 'meta': JSON nested deeper than 32 levels", limit=64 * MIB)
    path = _write(tmp_path / "notjson.npz", arrays["theta"], "{not json")
    _refused(path, r"notjson\.npz is not a readable fastmlp model")
    path = tmp_path / "objects.npz"
    np.savez(path, theta=arrays["theta"], meta=np.array([meta], dtype=object))
    _refused(path, "pickled objects")
    path = _write(tmp_path / "nan.npz", np.full_like(arrays["theta"], np.nan), meta, arrays["classes"])
    _refused(path, r"field 'theta': contains NaN")
    path = _write(tmp_path / "f64.npz", arrays["theta"].astype(np.float64), meta, arrays["classes"])
    _refused(path, r"field 'theta': .* does not match")


def test_unreadable_paths_say_why(tmp_path, saved, monkeypatch):
    path = saved[0]
    with pytest.raises(FileNotFoundError, match="no such file"):
        FastMLP.load(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="is a directory"):
        FastMLP.load(tmp_path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(modelfile, "open", denied, raising=False)
    with pytest.raises(PermissionError, match=r"good\.npz: permission denied"):
        FastMLP.load(path)


def test_a_compressed_but_honest_file_loads(tmp_path, saved):
    path, meta, arrays = saved
    other = _write(tmp_path / "z.npz", arrays["theta"], meta, arrays["classes"], compress=True)
    np.testing.assert_array_equal(FastMLP.load(other).get_params_vector(),
                                  FastMLP.load(path).get_params_vector())


# ---------------------------------------------------------------------------------------------------------
# Fuzzing: mutated files give a clean error or a model that predicts finitely, within a memory bound
# ---------------------------------------------------------------------------------------------------------

_SCALARS = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8)
_JSON = st.recursive(_SCALARS, lambda kids: st.lists(kids, max_size=4)
                     | st.dictionaries(st.text(max_size=6), kids, max_size=4), max_leaves=12)
_FIELDS = ["format", "format_version", "layer_sizes", "activations", "output", "loss", "dtype", "seed",
           "backend", "l2", "y_1d", "n_epochs", "best_epoch", "loss_curve", "metadata", "init"]


def _load_or_clean_error(path, X):
    tracemalloc.start()
    try:
        try:
            m = FastMLP.load(path)
        except (ValueError, TypeError) as exc:
            assert str(exc).startswith("path: "), str(exc)
            return
        finally:
            peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * MIB
    assert np.isfinite(m.forward(X)).all()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_metadata_fields(tmp_path, data):
    m, X = _model(data.draw(st.sampled_from(["softmax", "sigmoid", "identity"])))
    good = tmp_path / "g.npz"
    m.save(good)
    arrays = _arrays(good)
    meta = json.loads(str(arrays["meta"][()]))
    for field in data.draw(st.lists(st.sampled_from(_FIELDS), min_size=1, max_size=3, unique=True)):
        meta[field] = data.draw(_JSON)
    path = _write(tmp_path / "f.npz", arrays["theta"], meta, arrays.get("classes"))
    _load_or_clean_error(path, X)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_bytes(tmp_path, data):
    m, X = _model("softmax")
    good = tmp_path / "g.npz"
    m.save(good)
    raw = bytearray(good.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    path = tmp_path / "b.npz"
    path.write_bytes(bytes(raw))
    _load_or_clean_error(path, X)
