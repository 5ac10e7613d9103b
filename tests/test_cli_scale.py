"""train --scale: the input scaling is fitted on the training features, stored in the model's metadata,
and applied again by predict and plot boundary; malformed scaling metadata is refused."""
import csv
import json

import numpy as np
import pytest

from fastmlp import FastMLP, datasets
from fastmlp.cli import main
from fastmlp.cli.data import apply_scaling, fit_scaling, scaling_from_metadata
from fastmlp.cli.errors import CLIError


def _offset_data(n=200, seed=0):
    """Two features around 1e4 and -5e3 with very different spreads, a constant column, a class label."""
    rng = np.random.default_rng(seed)
    X = np.c_[rng.normal(1e4, 50, n), rng.normal(-5e3, 0.01, n), np.full(n, 0.1)]
    y = (X[:, 0] - 1e4 > 0).astype(int)
    return X, y


def test_fit_scaling_standard_and_minmax():
    X, _ = _offset_data()
    s = fit_scaling(X, "standard")
    assert s["method"] == "standard"
    np.testing.assert_allclose(s["offset"], X.mean(axis=0))
    np.testing.assert_allclose(s["scale"][:2], X[:, :2].std(axis=0))
    assert s["scale"][2] == 1.0  # a zero-variance column: scale 1 (a std of 1e-17 from rounding too)
    Z = apply_scaling(X, s)
    np.testing.assert_allclose(Z[:, :2].mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(Z[:, :2].std(axis=0), 1)
    np.testing.assert_allclose(Z[:, 2], 0, atol=1e-15)
    m = fit_scaling(X, "minmax")
    Z = apply_scaling(X, m)
    np.testing.assert_allclose(Z[:, :2].min(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z[:, :2].max(axis=0), 1)
    assert m["scale"][2] == 1.0
    assert fit_scaling(X, "none") is None and apply_scaling(X, None) is X
    json.dumps(s)  # JSON-ready: plain floats in lists


def test_round_trip_standard_scaling_predict_equals_scaling_by_hand(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, y = _offset_data()
    np.savez("train.npz", X=X, y=y)
    assert main(["train", "train.npz", "--scale", "standard", "--hidden", "8", "--epochs", "40",
                 "--lr", "0.02", "--dtype", "float64", "-q", "-o", "m.npz"]) == 0
    m = FastMLP.load("m.npz")
    s = m.metadata["input_scaling"]
    assert s["method"] == "standard" and len(s["offset"]) == len(s["scale"]) == 3
    np.testing.assert_allclose(s["offset"], X.mean(axis=0))
    assert s["scale"][2] == 1.0
    # new data, unscaled, with the same large offsets
    Xn, _ = _offset_data(50, seed=1)
    np.savez("new.npz", X=Xn)
    assert main(["predict", "m.npz", "new.npz", "--proba", "-o", "p.npz", "-q"]) == 0
    by_hand = (Xn - np.asarray(s["offset"])) / np.asarray(s["scale"])
    with np.load("p.npz") as d:
        np.testing.assert_array_equal(d["prediction"], m.predict(by_hand))
        np.testing.assert_array_equal(d["proba"], m.predict_proba(by_hand))
    # the scaling is what makes the model work on these offsets: it learnt the problem
    assert m.score(by_hand, (Xn[:, 0] - 1e4 > 0).astype(int)) > 0.9
    # the CSV output and the score against targets use the scaled features too
    with open("new.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([[f"{v:.17g}" for v in row] for row in Xn])
    assert main(["predict", "m.npz", "new.csv", "-o", "p.csv", "-q"]) == 0
    with open("p.csv", newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    assert [int(r[0]) for r in rows] == list(m.predict(by_hand))


def test_minmax_and_none(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    X, y = _offset_data()
    np.savez("train.npz", X=X, y=y)
    assert main(["train", "train.npz", "--scale", "minmax", "--epochs", "2", "-o", "mm.npz"]) == 0
    assert "saved the model to mm.npz (with its minmax input scaling)" in capsys.readouterr().out
    s = FastMLP.load("mm.npz").metadata["input_scaling"]
    np.testing.assert_allclose(s["offset"], X.min(axis=0))
    assert main(["train", "train.npz", "--epochs", "2", "-q", "-o", "plain.npz"]) == 0  # the default: none
    assert FastMLP.load("plain.npz").metadata == {}


MALFORMED = [
    ("a string", "expected a dict with method, offset and scale, got str"),
    ({"method": "robust", "offset": [0, 0], "scale": [1, 1]},
     "unknown method 'robust'; expected one of none, standard, minmax"),
    ({"method": "standard", "offset": [0, 0]}, "scale must be a list of numbers"),
    ({"method": "standard", "offset": [0, 0, 0], "scale": [1, 1]},
     "offset has 3 values, the model has 2 inputs"),
    ({"method": "standard", "offset": [0, "x"], "scale": [1, 1]}, "offset must be a list of numbers"),
    ({"method": "standard", "offset": [0, True], "scale": [1, 1]}, "offset must be a list of numbers"),
    ({"method": "minmax", "offset": [0, 0], "scale": [1, 0]}, "scale values must be > 0"),
    ({"method": "minmax", "offset": [0, 0], "scale": [1, -2]}, "scale values must be > 0"),
    ({"method": "standard", "offset": [0, float("nan")], "scale": [1, 1]}, "offset has a non-finite value"),
]


@pytest.mark.parametrize("bad, why", MALFORMED, ids=[w for _, w in MALFORMED])
def test_malformed_scaling_metadata_is_refused_naming_the_file(tmp_path, monkeypatch, capsys, bad, why):
    monkeypatch.chdir(tmp_path)
    X, y = datasets.moons(30, seed=0)
    m = FastMLP([2, 4, 2]).fit(X, y, epochs=1, verbose=False)
    m.metadata["input_scaling"] = bad
    m.save("bad.npz")
    np.savez("pts.npz", X=X, y=y)
    assert main(["predict", "bad.npz", "pts.npz", "-o", "p.csv"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"fastmlp predict: error: model: bad.npz has malformed input scaling metadata ({why})"
    with pytest.raises(CLIError, match="bad.npz has malformed input scaling"):
        scaling_from_metadata({"input_scaling": bad}, 2, "bad.npz")
    if _has_matplotlib():
        assert main(["plot", "boundary", "bad.npz", "pts.npz", "-o", "b.png"]) == 1
        assert "model: bad.npz has malformed input scaling metadata" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npz", "pts.npz"]


def test_absent_or_none_scaling_is_no_scaling():
    assert scaling_from_metadata({}, 2, "m.npz") is None
    assert scaling_from_metadata({"other": 1}, 2, "m.npz") is None
    assert scaling_from_metadata({"input_scaling": {"method": "none"}}, 2, "m.npz") is None


def test_wrong_feature_count_with_scaling_is_the_models_message(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    X, y = _offset_data()
    np.savez("train.npz", X=X, y=y)
    assert main(["train", "train.npz", "--scale", "standard", "--epochs", "1", "-q", "-o", "m.npz"]) == 0
    np.savez("two.npz", X=X[:, :2])
    assert main(["predict", "m.npz", "two.npz"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "fastmlp predict: error: X: expected 3 features (columns), got 2"


def test_plot_boundary_feeds_the_model_scaled_features(tmp_path, monkeypatch):
    """The picture is in the data's units; what the model sees is scaled."""
    pytest.importorskip("matplotlib")
    from fastmlp import plotting
    monkeypatch.chdir(tmp_path)
    X, y = datasets.moons(200, noise=0.1, seed=0)
    X = X * [300.0, 0.01] + [1e4, -50.0]
    np.savez("moons.npz", X=X, y=y)
    assert main(["train", "moons.npz", "--scale", "standard", "--hidden", "16,16", "--epochs", "60",
                 "--lr", "0.02", "-q", "-o", "m.npz", "--plot", "pics"]) == 0
    m = FastMLP.load("m.npz")
    s = m.metadata["input_scaling"]
    seen = {}
    real = plotting.plot_decision_boundary

    def spy(model, X_, y_, path, **kw):
        seen["X"] = X_
        seen["pred"] = model.predict(X_)
        seen["score"] = model.score(X_, y_)
        return real(model, X_, y_, path, **kw)

    monkeypatch.setattr(plotting, "plot_decision_boundary", spy)
    assert main(["plot", "boundary", "m.npz", "moons.npz", "--resolution", "30", "-o", "b.png", "-q"]) == 0
    np.testing.assert_array_equal(seen["X"], X)  # drawn where the points are
    by_hand = (X - np.asarray(s["offset"])) / np.asarray(s["scale"])
    np.testing.assert_array_equal(seen["pred"], m.predict(by_hand))
    assert seen["score"] > 0.9
    assert (tmp_path / "pics" / "boundary.png").exists()


def _has_matplotlib():
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        return False


def test_scaling_metadata_survives_a_json_round_trip():
    X, _ = _offset_data()
    s = fit_scaling(X, "standard")
    again = scaling_from_metadata(json.loads(json.dumps({"input_scaling": s})), 3, "m.npz")
    assert again == s
    np.testing.assert_array_equal(apply_scaling(X, again), apply_scaling(X, s))
