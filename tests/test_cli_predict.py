"""fastmlp predict: the predictions go to stdout without -o, and a file is written only once the
predictions and the score against the targets have been computed."""
import csv
import io
import os
import subprocess
import sys

import numpy as np
import pytest

from fastmlp import FastMLP, datasets
from fastmlp.cli import main


@pytest.fixture
def work(tmp_path, monkeypatch):
    X, y = datasets.moons(30, seed=0)
    FastMLP([2, 4, 2], seed=0).fit(X, y, epochs=2, verbose=False).save(tmp_path / "m.npz")
    with open(tmp_path / "good.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "b", "label"])
        w.writerows([[f"{u:.17g}", f"{v:.17g}", t] for (u, v), t in zip(X, y, strict=True)])
    # same features, a target column the model never saw: scoring fails after predicting
    with open(tmp_path / "unseen.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "b", "label"])
        w.writerows([[f"{u:.17g}", f"{v:.17g}", 7] for u, v in X])
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_without_out_the_csv_goes_to_stdout_and_nothing_is_written(work, capsys):
    before = sorted(os.listdir(work))
    assert main(["predict", "m.npz", "good.csv"]) == 0
    out, err = capsys.readouterr()
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["prediction"] and len(rows) == 31
    m = FastMLP.load(work / "m.npz")
    X, y = datasets.moons(30, seed=0)
    assert [int(r[0]) for r in rows[1:]] == list(m.predict(X))
    assert "wrote 30 predictions for good.csv; accuracy" in err  # the summary leaves stdout to the data
    assert sorted(os.listdir(work)) == before  # no predictions.csv appears in the working directory
    assert main(["predict", "m.npz", "good.csv", "-o", "-", "-q"]) == 0  # '-' still means stdout
    out2, err2 = capsys.readouterr()
    assert out2 == out and err2 == ""


def test_stdout_through_the_real_command(work):
    r = subprocess.run([sys.executable, "-m", "fastmlp", "predict", "m.npz", "good.csv", "--proba"],
                       cwd=work, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "prediction,p_0,p_1" and len(r.stdout.splitlines()) == 31
    assert r.stderr.startswith("wrote 30 predictions for good.csv")


def test_a_failing_score_writes_nothing(work, capsys):
    # no file before: none after
    assert main(["predict", "m.npz", "unseen.csv", "-o", "p.csv"]) == 1
    err = capsys.readouterr().err
    assert "targets in unseen.csv: y: labels [7] are not among the model's classes" in err
    assert len(err.strip().splitlines()) == 1
    assert not (work / "p.csv").exists()
    # an existing file: left byte-identical, CSV or .npz
    for name in ("p.csv", "p.npz"):
        (work / name).write_bytes(b"previous run\n")
        assert main(["predict", "m.npz", "unseen.csv", "-o", name, "--proba"]) == 1
        assert (work / name).read_bytes() == b"previous run\n"
    assert sorted(n for n in os.listdir(work) if n.startswith(".")) == []  # no temporary file left
    capsys.readouterr()
    # and to stdout: no partial CSV before the error
    assert main(["predict", "m.npz", "unseen.csv"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "targets in unseen.csv" in err


def test_proba_on_a_regressor_is_refused_before_reading_the_data(work, capsys):
    FastMLP([2, 3, 1], output="identity").fit(np.zeros((4, 2)), np.zeros(4), epochs=1,
                                              verbose=False).save(work / "r.npz")
    assert main(["predict", "r.npz", "missing.csv", "--proba", "-o", "p.csv"]) == 1
    assert "--proba: only classification models" in capsys.readouterr().err
    assert not (work / "p.csv").exists()


def test_out_file_replaces_an_old_one_whole(work):
    (work / "p.csv").write_text("x\n" * 10000)
    assert main(["predict", "m.npz", "good.csv", "-o", "p.csv", "-q"]) == 0
    assert (work / "p.csv").read_text().splitlines()[0] == "prediction"
    assert len((work / "p.csv").read_text().splitlines()) == 31
    assert main(["predict", "m.npz", "good.csv", "-o", "p.npz", "-q"]) == 0
    with np.load(work / "p.npz") as d:
        assert d["prediction"].shape == (30,)
