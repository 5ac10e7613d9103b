"""The ``fastmlp`` command, driven as a user would: ``python -m fastmlp ...`` in a subprocess, files under
tmp_path. Also the progress reporter that ``--verbose`` and ``FastMLP.fit(verbose=...)`` use."""
import csv
import io
import os
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

from fastmlp import FastMLP, datasets
from fastmlp.cli import main
from fastmlp.progress import epoch_progress


def _env():
    # Keep the caller's PYTHONPATH working from another directory (a source checkout run with
    # PYTHONPATH=src); an installed package needs nothing.
    env = dict(os.environ)
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in env["PYTHONPATH"].split(os.pathsep)
                                            if p)
    env.pop("FASTMLP_TRACEBACK", None)
    env["COLUMNS"] = "100"
    return env


ENV = _env()


def fastmlp(*args, cwd, timeout=120):
    return subprocess.run([sys.executable, "-m", "fastmlp", *map(str, args)], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def ok(*args, cwd):
    r = fastmlp(*args, cwd=cwd)
    assert r.returncode == 0, f"rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "Traceback" not in r.stderr
    return r


def fails(*args, cwd, rc=None):
    """A failure is one line on stderr, a non-zero exit, and no traceback."""
    r = fastmlp(*args, cwd=cwd)
    assert r.returncode != 0, f"expected a failure:\n{r.stdout}\n{r.stderr}"
    if rc is not None:
        assert r.returncode == rc, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line of error, got:\n{r.stderr}"
    assert re.match(r"fastmlp( [a-z]+)*: (internal )?error: ", lines[0]), lines[0]
    return lines[0]


def png_size(path):
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def read_csv(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def write_csv(path, header, X, y=None):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        if header:
            w.writerow(header)
        for i in range(len(X)):
            w.writerow([*(f"{v:.17g}" for v in X[i]), *([] if y is None else [y[i]])])
    return path


# ----------------------------------------------------------------------------------------------------
# help, version, demo
# ----------------------------------------------------------------------------------------------------
def test_help_for_every_command(tmp_path, capsys):
    r = ok("--help", cwd=tmp_path)
    for cmd in ("train", "predict", "plot", "demo", "bench"):
        assert cmd in r.stdout
    expect = {
        "train": ["--dataset", "--hidden", "--activation", "--optimizer", "--epochs", "--validation-split",
                  "--out", "--verbose", "--quiet", "(default: 50)"],
        "predict": ["model", "--out", "--proba"],
        "plot": ["activations", "curves", "boundary"],
        "plot activations": ["--names", "--size"],
        "plot curves": ["model", "--size"],
        "plot boundary": ["--dataset", "--resolution"],
        "demo": ["--epochs", "--dataset"],
        "bench": ["--layers", "--batch-size", "--rows"],
    }
    assert ok("train", "--help", cwd=tmp_path).stdout.startswith("usage: fastmlp train")
    for cmd, words in expect.items():  # in-process: the same parser, without 8 more interpreter starts
        assert main([*cmd.split(), "--help"]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: fastmlp {cmd}")
        for w in words:
            assert w in out, (cmd, w)
    assert ok("--version", cwd=tmp_path).stdout.startswith("fastmlp ")


def test_demo_trains_and_reports_every_epoch(tmp_path):
    """The README's first line: a real training run, loss and accuracy printed per epoch."""
    r = ok("demo", cwd=tmp_path)
    epochs = re.findall(r"^epoch +(\d+)/(\d+) +loss ([\d.]+) +accuracy ([\d.]+) +val_loss ([\d.]+) +"
                        r"val_accuracy ([\d.]+)$", r.stdout, re.M)
    assert len(epochs) == int(epochs[0][1]) >= 10
    assert [int(e[0]) for e in epochs] == list(range(1, len(epochs) + 1))
    losses = [float(e[2]) for e in epochs]
    assert losses[-1] < losses[0] / 5
    final = re.search(r"validation accuracy ([\d.]+)", r.stdout.splitlines()[-1])
    assert float(final.group(1)) >= 0.95
    assert os.listdir(tmp_path) == []  # the demo writes nothing unless asked


def test_demo_options_save_and_plot(tmp_path):
    args = ("demo", "--dataset", "moons", "--epochs", "3", "--save", "m.npz")
    if not _has("matplotlib"):  # refused before training, with the extra to install, and nothing written
        assert "fastmlp[plot]" in fails(*args, "--plot", "pics", cwd=tmp_path)
        assert os.listdir(tmp_path) == []
        r = ok(*args, cwd=tmp_path)
    else:
        r = ok(*args, "--plot", "pics", cwd=tmp_path)
        assert png_size(tmp_path / "pics" / "curves.png") == (900, 380)
        assert png_size(tmp_path / "pics" / "boundary.png") == (640, 560)
    assert len(re.findall(r"^epoch ", r.stdout, re.M)) == 3
    m = FastMLP.load(tmp_path / "m.npz")
    assert m.layer_sizes[0] == 2 and m.n_epochs == 3


def _has(module):
    try:
        __import__(module)
        return True
    except ImportError:
        return False


# ----------------------------------------------------------------------------------------------------
# train / predict
# ----------------------------------------------------------------------------------------------------
def test_train_builtin_dataset_saves_a_model(tmp_path):
    r = ok("train", "--dataset", "moons", "--n-samples", "300", "--noise", "0.1", "--hidden", "16,8",
           "--activation", "tanh", "--optimizer", "adam", "--lr", "0.01", "--epochs", "80",
           "--validation-split", "0.25", "--dtype", "float64", "-o", "moons.npz", cwd=tmp_path)
    assert "saved the model to moons.npz" in r.stdout
    assert float(re.search(r"val accuracy ([\d.]+)", r.stdout).group(1)) >= 0.9, r.stdout
    m = FastMLP.load(tmp_path / "moons.npz")
    assert m.layer_sizes == [2, 16, 8, 2]
    assert m.spec.activations == ("tanh", "tanh", "softmax")
    assert m.dtype == np.float64
    assert len(m.loss_curve) == 80 and len(m.val_loss_curve) == 80
    X, y = datasets.moons(300, noise=0.1, seed=0)
    assert m.score(X, y) > 0.9


def test_train_is_deterministic_given_the_seed(tmp_path):
    args = ["train", "--dataset", "two_spirals", "--n-samples", "200", "--epochs", "3", "--seed", "7"]
    ok(*args, "-o", "a.npz", cwd=tmp_path)
    ok(*args, "-o", "b.npz", cwd=tmp_path)
    ok(*args[:-1], "8", "-o", "c.npz", cwd=tmp_path)
    a, b, c = (FastMLP.load(tmp_path / f"{k}.npz").get_params_vector() for k in "abc")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_train_and_predict_csv_with_text_labels(tmp_path):
    X, y = datasets.blobs(120, centers=3, cluster_std=0.5, seed=1)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    write_csv(tmp_path / "train.csv", ["f1", "f2", "species"], X, names)
    ok("train", "train.csv", "--target", "species", "--hidden", "8", "--epochs", "40", "--lr", "0.05",
       "-o", "iris.npz", cwd=tmp_path)
    m = FastMLP.load(tmp_path / "iris.npz")
    assert list(m.classes_) == ["setosa", "versicolor", "virginica"]
    # The same file again: one column more than the inputs, so the last one is read as the targets.
    r = ok("predict", "iris.npz", "train.csv", "-o", "pred.csv", "--proba", cwd=tmp_path)
    assert re.search(r"wrote 120 predictions .*accuracy 1\.0000", r.stdout), r.stdout
    header, rows = read_csv(tmp_path / "pred.csv")
    assert header == ["prediction", "p_setosa", "p_versicolor", "p_virginica"]
    assert [r[0] for r in rows] == list(names)
    P = np.array([[float(v) for v in r[1:]] for r in rows])
    np.testing.assert_allclose(P.sum(axis=1), 1, atol=1e-5)
    # Features only (no target column): predictions, no score.
    write_csv(tmp_path / "new.csv", ["f1", "f2"], X[:7])
    r = ok("predict", "iris.npz", "new.csv", "-o", "new_pred.csv", cwd=tmp_path)
    assert "accuracy" not in r.stdout
    header, rows = read_csv(tmp_path / "new_pred.csv")
    assert header == ["prediction"] and [r[0] for r in rows] == list(names[:7])


def test_target_column_by_index_headerless_csv_and_regression(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (200, 3))
    t = 0.5 * X[:, 0] - X[:, 2] + 0.25
    # Target first, no header: --target 0. Fractional targets -> regression (identity output).
    with open(tmp_path / "reg.csv", "w") as fh:
        for i in range(200):
            fh.write(",".join(f"{v:.17g}" for v in (t[i], *X[i])) + "\n")
    r = ok("train", "reg.csv", "--target", "0", "--hidden", "16", "--epochs", "60", "--lr", "0.01",
           "-o", "reg.npz", cwd=tmp_path)
    assert "identity output, squared_error" in r.stdout and "val R²" in r.stdout
    m = FastMLP.load(tmp_path / "reg.npz")
    assert m.layer_sizes == [3, 16, 1] and not m.is_classifier
    r = ok("predict", "reg.npz", "reg.csv", "--target", "0", "-o", "p.npz", cwd=tmp_path)
    r2 = float(re.search(r"R² (-?[\d.]+)", r.stdout).group(1))
    assert r2 > 0.9
    with np.load(tmp_path / "p.npz") as d:
        assert d["prediction"].shape == (200,)
        np.testing.assert_allclose(d["prediction"], m.predict(X), rtol=1e-5, atol=1e-6)


def test_train_and_predict_npz(tmp_path):
    X, y = datasets.xor(200, noise=0.1, seed=0)
    np.savez(tmp_path / "xor.npz", X=X, y=y)
    ok("train", "xor.npz", "--hidden", "8", "--activation", "tanh", "--epochs", "150", "--lr", "0.02",
       "--validation-split", "0", "-o", "model.npz", "--quiet", cwd=tmp_path)
    np.savez(tmp_path / "inputs.npz", X=X[:10])
    r = ok("predict", "model.npz", "inputs.npz", "-o", "-", cwd=tmp_path)
    lines = r.stdout.split()
    assert lines[0] == "prediction" and [int(v) for v in lines[1:]] == list(y[:10])
    assert "wrote 10 predictions" in r.stderr  # the summary leaves stdout to the data


def test_beans_single_logistic_neuron(tmp_path):
    """The course's neuron: one layer, sigmoid output, squared error, per-sample SGD."""
    r = ok("train", "--dataset", "beans", "--hidden", "none", "--output", "sigmoid", "--loss",
           "squared_error", "--optimizer", "sgd", "--lr", "1", "--batch-size", "1", "--epochs", "100",
           "-o", "beans.npz", cwd=tmp_path)
    assert "[1, 1]" in r.stdout and "logistic output, squared_error" in r.stdout
    m = FastMLP.load(tmp_path / "beans.npz")
    X, y = datasets.beans(100, seed=0)
    assert np.mean((m.predict(X) > 0.5) == y) > 0.9


def test_quiet_and_verbose(tmp_path):
    args = ["train", "--dataset", "xor", "--epochs", "4", "-o", "x.npz"]
    r = ok(*args, "--quiet", cwd=tmp_path)
    assert r.stdout == "" and r.stderr == ""
    # Not a terminal: --verbose gives one plain line per epoch with the live metrics.
    r = ok(*args, "--verbose", cwd=tmp_path)
    lines = re.findall(r"^epoch +\d/4 +loss [\d.]+ +val_loss [\d.]+ +val_score [\d.]+", r.stdout, re.M)
    assert len(lines) == 4
    r = ok(*args, cwd=tmp_path)  # the default: no progress off a terminal, only the summary
    assert "epoch 1/4" not in r.stdout and "saved the model" in r.stdout


# ----------------------------------------------------------------------------------------------------
# plot
# ----------------------------------------------------------------------------------------------------
def test_plot_commands_write_pngs_of_the_asked_size(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread
    r = ok("plot", "activations", "--names", "relu,sigmoid", "--size", "500x250", "-o", "acts",
           cwd=tmp_path)
    assert r.stdout.count("wrote ") == 3
    for name in ("relu", "logistic"):
        p = tmp_path / "acts" / f"activation_{name}.png"
        assert png_size(p) == (500, 250)
        assert imread(p).shape[:2] == (250, 500)
    assert png_size(tmp_path / "acts" / "activations.png") == (600, 240)

    ok("train", "--dataset", "two_spirals", "--n-samples", "300", "--hidden", "32,32", "--epochs", "20",
       "--lr", "0.01", "-o", "sp.npz", "--quiet", cwd=tmp_path)
    ok("plot", "curves", "sp.npz", "-o", "curves.png", "--size", "640x320", cwd=tmp_path)
    assert png_size(tmp_path / "curves.png") == (640, 320)
    assert imread(tmp_path / "curves.png").shape[:2] == (320, 640)
    ok("plot", "boundary", "sp.npz", "--dataset", "two_spirals", "--n-samples", "300", "--resolution", "80",
       "-o", "b.png", cwd=tmp_path)
    img = imread(tmp_path / "b.png")
    assert img.shape[:2] == (560, 640) and img[..., :3].std() > 0.05
    # A data file works as well as a built-in dataset (in-process: the same code, one interpreter less).
    X, y = datasets.two_spirals(50, seed=3)
    write_csv(tmp_path / "pts.csv", ["a", "b", "label"], X, y)
    assert main(["plot", "boundary", str(tmp_path / "sp.npz"), str(tmp_path / "pts.csv"), "--size", "400x400",
                 "--resolution", "40", "-o", str(tmp_path / "b2.png"), "--quiet"]) == 0
    assert png_size(tmp_path / "b2.png") == (400, 400)


def test_train_plot_option_and_beans_curve(tmp_path):
    pytest.importorskip("matplotlib")
    ok("train", "--dataset", "beans", "--hidden", "none", "--output", "sigmoid", "--epochs", "20",
       "--lr", "0.1", "-o", "beans.npz", "--plot", "pics", "--quiet", cwd=tmp_path)
    assert sorted(os.listdir(tmp_path / "pics")) == ["curves.png", "fit.png"]
    assert main(["plot", "boundary", str(tmp_path / "beans.npz"), "--dataset", "beans", "-q",
                 "-o", str(tmp_path / "fit2.png"), "--size", "300x200"]) == 0
    assert png_size(tmp_path / "fit2.png") == (300, 200)


def test_missing_matplotlib_is_one_line(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None; from fastmlp.cli import main; "
            "sys.exit(main(['plot', 'activations', '-o', 'x']))")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip() == ("fastmlp plot activations: error: plot: needs matplotlib "
                                "(pip install 'fastmlp[plot]')")


# ----------------------------------------------------------------------------------------------------
# bench
# ----------------------------------------------------------------------------------------------------
def test_bench_side_by_side(tmp_path):
    r = ok("bench", "--layers", "20,16,3", "--batch-size", "8", "--rows", "50", "--time", "0.01",
           cwd=tmp_path)
    assert "numpy/cython" in r.stdout
    rows = [ln for ln in r.stdout.splitlines() if ln.startswith(("train step", "predict"))]
    assert len(rows) == 2
    for ln in rows:
        assert re.search(r"\d+(\.\d+)?x$", ln), ln  # a ratio, whatever its value


# ----------------------------------------------------------------------------------------------------
# errors: one line, non-zero exit, no traceback
# ----------------------------------------------------------------------------------------------------
@pytest.fixture
def files(tmp_path):
    X, y = datasets.moons(40, seed=0)
    write_csv(tmp_path / "good.csv", ["a", "b", "label"], X, y)
    (tmp_path / "letters.csv").write_text("a,b,label\n1,2,0\n3,oops,1\n")
    (tmp_path / "ragged.csv").write_text("a,b,label\n1,2,0\n3,1\n")
    (tmp_path / "commented.csv").write_text("a,b,label\n# a note\n\n1,2,0\n3,x,1\n")
    (tmp_path / "commented_ragged.csv").write_text("# a note\na,b,label\n\n1,2,0\n3,1\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header_only.csv").write_text("a,b,label\n")
    (tmp_path / "nan.csv").write_text("a,b,label\n1,nan,0\n2,3,1\n")
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "text.npz").write_text("this is not an archive")
    (tmp_path / "data.xlsx").write_text("x")
    np.savez(tmp_path / "objects.npz", X=np.array([[1, "a"]], dtype=object), y=np.array([0]))
    np.savez(tmp_path / "no_y.npz", X=X)
    np.savez(tmp_path / "no_x.npz", features=X, y=y)
    np.savez(tmp_path / "bad_shape.npz", X=X[:, 0], y=y)
    np.savez(tmp_path / "one_class.npz", X=X, y=np.zeros(len(X), int))
    FastMLP([2, 4, 2]).fit(X, y, epochs=1, verbose=False).save(tmp_path / "model.npz")
    FastMLP([3, 4, 2]).fit(np.c_[X, X[:, 0]], y, epochs=1, verbose=False).save(tmp_path / "model3.npz")
    (tmp_path / "sub").mkdir()
    return tmp_path


USAGE_ERRORS = [
    ([], "a command is required"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["train", "--epochs", "0"], "argument --epochs: must be >= 1, got 0"),
    (["train", "--epochs", "ten"], "argument --epochs"),
    (["train", "--hidden", "8,x"], "argument --hidden: expected comma-separated positive layer sizes"),
    (["train", "--activation", "sigmoidd"], "argument --activation: unknown activation 'sigmoidd'"),
    (["train", "--activation", "leaky_relu:-1"], "argument --activation: leaky_relu slope must be >= 0"),
    (["train", "--optimizer", "adagrad"], "argument --optimizer: invalid choice"),
    (["train", "--lr", "-0.1"], "argument --lr"),
    (["train", "--validation-split", "1"], "argument --validation-split: must be < 1, got 1.0"),
    (["train", "--dataset", "mnist"], "argument --dataset: unknown dataset 'mnist'"),
    (["train", "--dtype", "float16"], "argument --dtype: invalid choice"),
    (["train", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["train", "--quiet", "--verbose"], "argument -v/--verbose: not allowed with argument -q/--quiet"),
    (["plot"], "say what to plot"),
    (["plot", "activations", "--names", "softmax"], "argument --names: softmax is not elementwise"),
    (["plot", "activations", "--size", "big"], "argument --size: expected WIDTHxHEIGHT"),
    (["plot", "curves"], "the following arguments are required: model"),
    (["bench", "--layers", "10"], "argument --layers: expected at least an input and an output size"),
    (["demo", "--dataset", "digits"], "argument --dataset: invalid choice"),
    (["train", "--seed", "-1"], "argument --seed: expected an integer >= 0, got '-1'"),
    (["demo", "--seed", "-5"], "argument --seed: expected an integer >= 0, got '-5'"),
    (["train", "--activation", "relu:0.1"], "argument --activation: relu takes no parameter"),
    (["train", "--activation", "leaky_relu:abc"], "argument --activation: expected NAME:NUMBER"),
]


@pytest.mark.parametrize("args, message", USAGE_ERRORS,
                         ids=[" ".join(a) or "(none)" for a, _ in USAGE_ERRORS])
def test_bad_arguments_in_process(args, message, capsys):
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "see 'fastmlp" in err


BAD_INPUT = [
    (["train"], "data: give a data file (CSV or .npz) or --dataset NAME"),
    (["train", "missing.csv"], "data: no such file: missing.csv"),
    (["train", "sub"], "data: sub is a directory"),
    (["train", "letters.csv"], "data: letters.csv row 3, 'b': 'oops' is not a number"),
    (["train", "ragged.csv"], "data: ragged.csv row 3 has 2 columns, expected 3"),
    # Rows are the lines of the file, counting the blank and comment lines skipped.
    (["train", "commented.csv"], "data: commented.csv row 5, 'b': 'x' is not a number"),
    (["train", "commented_ragged.csv"], "data: commented_ragged.csv row 5 has 2 columns, expected 3"),
    (["train", "empty.csv"], "data: empty.csv has no data rows"),
    (["train", "header_only.csv"], "data: header_only.csv has a header but no data rows"),
    (["train", "nan.csv"], "data: nan.csv row 2, 'b': missing or non-finite value"),
    (["train", "binary.csv"], "data: binary.csv is not a text (CSV) file"),
    (["train", "text.npz"], "data: text.npz is not a .npz archive"),
    (["train", "data.xlsx"], "unsupported file type '.xlsx'"),
    (["train", "objects.npz"], "data: objects.npz holds pickled objects; refusing to load"),
    (["train", "no_y.npz"], "data: no_y.npz has no array 'y' of targets (it holds: X)"),
    (["train", "no_x.npz"], "data: no_x.npz has no array 'X' (it holds: features, y)"),
    (["train", "bad_shape.npz"], "data: X in bad_shape.npz must be 2-D"),
    (["train", "one_class.npz"], "y: found only one class (0); classification needs at least 2"),
    (["train", "good.csv", "--target", "nope"],
     "--target: no column 'nope' in good.csv (columns: a, b, label)"),
    (["train", "good.csv", "--target", "7"], "--target: column 7 is out of range for good.csv (3 columns)"),
    (["train", "good.csv", "--dataset", "xor"], "data: give a data file or --dataset, not both"),
    (["train", "--dataset", "beans", "--noise", "0.1"], "--noise: the beans dataset has no noise parameter"),
    (["train", "good.csv", "--n-samples", "5"], "--n-samples/--noise: apply to --dataset"),
    (["train", "good.csv", "--output", "sofmax"], "--output: unknown activation 'sofmax'"),
    (["train", "good.csv", "--validation-split", "0.99"], "validation_split: 0.99 of 40 samples leaves"),
    (["train", "--dataset", "moons", "--n-samples", "2000", "--optimizer", "sgd", "--lr", "1e8"],
     "lr: training diverged at epoch 1"),
    (["train", "--dataset", "xor", "-o", "nowhere/m.npz"], "--out: directory"),
    (["train", "--dataset", "xor", "-o", "sub"], "--out: sub is a directory"),
    (["train", "--dataset", "xor", "-o", ""], "--out: empty path"),
    (["train", "--dataset", "xor", "-o", "new.npz", "--plot", "good.csv"],
     "--plot: good.csv exists and is not a directory"),
    (["train", "good.csv", "-o", "good.csv"], "--out: good.csv is the input file good.csv"),
    (["predict", "model.npz", "good.csv", "-o", "good.csv"], "--out: good.csv is the input file good.csv"),
    (["predict", "model.npz", "good.csv", "-o", "./model.npz"], "--out: ./model.npz is the input file"),
    (["demo", "--plot", "good.csv"], "--plot: good.csv exists and is not a directory"),
    (["predict", "missing.npz", "good.csv"], "model: no such file: missing.npz"),
    (["predict", "good.csv", "good.csv"], "model: good.csv is not a fastmlp model"),
    (["predict", "no_y.npz", "good.csv"], "model: no_y.npz is not a fastmlp model (missing theta/meta)"),
    (["predict", "model.npz"], "data: give a data file (CSV or .npz) or --dataset NAME"),
    (["predict", "model3.npz", "good.csv", "--target", "label"], "X: expected 3 features (columns), got 2"),
    (["predict", "model3.npz", "letters.csv"], "letters.csv row 3, 'b': 'oops' is not a number"),
    (["predict", "model3.npz", "ragged.csv"], "ragged.csv row 3 has 2 columns, expected 3"),
    (["predict", "model3.npz", "no_y.npz"], "X: expected 3 features (columns), got 2"),
    (["predict", "model.npz", "--dataset", "digits"], None),
    (["predict", "model.npz", "good.csv", "--proba", "-o", "nowhere/p.csv"], "--out: directory"),
    (["plot", "curves", "good.csv"], "model: good.csv is not a fastmlp model"),
    (["plot", "boundary", "model3.npz", "--dataset", "moons"],
     "model: a decision boundary needs a model with 2 inputs (or 1 for a fitted curve), this one has 3"),
    (["plot", "boundary", "model.npz", "no_y.npz", "-o", "sub"], "--out: sub is a directory"),
]


@pytest.mark.parametrize("args, message", BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_in_process(args, message, files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    if args == ["predict", "model.npz", "--dataset", "digits"]:
        pytest.importorskip("sklearn")
        message = "X: expected 2 features (columns), got 64"
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1, err
    assert message in err, err
    assert "Traceback" not in err + out


def test_refused_outputs_are_refused_before_any_work(files, capsys, monkeypatch):
    """--plot on a file, or --out on an input: nothing trained, nothing written, the inputs intact."""
    monkeypatch.chdir(files)
    before = {p: (files / p).read_bytes() for p in ("good.csv", "model.npz")}
    assert main(["train", "good.csv", "--plot", "good.csv", "-o", "new.npz"]) == 1
    assert main(["train", "good.csv", "-o", "good.csv"]) == 1
    assert main(["predict", "model.npz", "good.csv", "-o", "model.npz"]) == 1
    assert not (files / "new.npz").exists()
    assert {p: (files / p).read_bytes() for p in before} == before
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(": error: --" in e for e in err), err


def test_headerless_csv_with_text_labels_keeps_its_first_row(tmp_path):
    """A first row with a text label but numeric features is data, not a header."""
    from fastmlp.cli import read_data
    (tmp_path / "iris.csv").write_text("5.1,3.5,setosa\n7.0,3.2,versicolor\n6.3,3.3,virginica\n")
    X, y = read_data(str(tmp_path / "iris.csv"))
    assert X.tolist() == [[5.1, 3.5], [7.0, 3.2], [6.3, 3.3]]
    assert list(y) == ["setosa", "versicolor", "virginica"]
    # With a header naming the columns, text labels or not, the first row is the header.
    for labels in (("a", "b"), ("0", "1")):
        (tmp_path / "h.csv").write_text(f"f1,f2,species\n1,2,{labels[0]}\n3,4,{labels[1]}\n")
        X, y = read_data(str(tmp_path / "h.csv"), target="species")
        assert X.tolist() == [[1, 2], [3, 4]] and [str(v) for v in y] == list(labels)
    # predict: one prediction per line of the file.
    FastMLP([2, 3, 3]).fit(X.repeat(2, 0)[:3], np.array(["setosa", "versicolor", "virginica"]), epochs=1,
                           verbose=False).save(tmp_path / "m.npz")
    assert main(["predict", str(tmp_path / "m.npz"), str(tmp_path / "iris.csv"), "-q",
                 "-o", str(tmp_path / "p.csv")]) == 0
    assert len(read_csv(tmp_path / "p.csv")[1]) == 3


def test_plot_without_matplotlib_names_it_before_any_work(tmp_path):
    """Every plot command says what to install, before loading a model or generating data."""
    code = ("import sys; sys.modules['matplotlib'] = None; from fastmlp.cli import main\n"
            "print(main(['plot', 'boundary', 'missing.npz', '--dataset', 'moons']))\n"
            "print(main(['plot', 'curves', 'missing.npz']))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                       timeout=120)
    assert r.stdout.split() == ["1", "1"], r.stderr
    assert r.stderr.splitlines() == [f"fastmlp plot {w}: error: plot: needs matplotlib (pip install "
                                     "'fastmlp[plot]')" for w in ("boundary", "curves")]


def test_errors_as_a_user_sees_them(files):
    """The same contract through the real command: one line, exit 1 (bad input) or 2 (bad usage)."""
    line = fails("train", "letters.csv", cwd=files, rc=1)
    assert line == "fastmlp train: error: data: letters.csv row 3, 'b': 'oops' is not a number " \
                   "(features must be numeric)"
    line = fails("predict", "text.npz", "good.csv", cwd=files, rc=1)
    assert line == "fastmlp predict: error: model: text.npz is not a fastmlp model (expected a .npz archive)"
    line = fails("train", "--epochs", "-3", cwd=files, rc=2)
    assert "argument --epochs" in line
    fails(cwd=files, rc=2)


# ----------------------------------------------------------------------------------------------------
# optional dependencies stay optional
# ----------------------------------------------------------------------------------------------------
def test_import_pulls_no_optional_dependency(tmp_path):
    code = ("import sys, fastmlp, fastmlp.cli, fastmlp.datasets, fastmlp.plotting, fastmlp.progress; "
            "print(sorted(m for m in ('matplotlib', 'tqdm', 'sklearn', 'torch') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_demo_without_optional_dependencies(tmp_path):
    code = ("import sys\nfor m in ('matplotlib', 'tqdm', 'sklearn'): sys.modules[m] = None\n"
            "from fastmlp.cli import main; sys.exit(main(['demo', '--epochs', '2']))")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "epoch 2/2" in r.stdout


# ----------------------------------------------------------------------------------------------------
# The progress reporter (used by FastMLP.fit and the CLI's --verbose)
# ----------------------------------------------------------------------------------------------------
class FakeTTY(io.StringIO):
    def isatty(self):
        return True


INFO = [{"epoch": k, "loss": 1.0 / k, "val_loss": 2.0 / k, "val_score": 0.5 + 0.1 * k} for k in (1, 2, 3)]


def test_progress_silent_cases():
    assert epoch_progress(10, False) is None
    assert epoch_progress(10, 0) is None
    assert epoch_progress(10, None, io.StringIO()) is None  # default off a terminal


def test_progress_lines_go_to_the_given_stream():
    s = io.StringIO()
    rep = epoch_progress(3, True, s)
    for info in INFO:
        rep.update(info)
    rep.close()
    lines = s.getvalue().splitlines()
    assert len(lines) == 3
    assert re.match(r"epoch 2/3  loss 0\.500000  val_loss 1\.000000  val_score 0\.7000  [\d.]+s$", lines[1])
    rep = epoch_progress(2, 1, s)  # any true number is verbose
    assert rep is not None


def test_progress_bar_on_a_terminal():
    pytest.importorskip("tqdm")
    s = FakeTTY()
    rep = epoch_progress(3, True, s)
    for info in INFO:
        rep.update(info)
    rep.close()
    out = s.getvalue()
    assert "3/3" in out and "loss=0.3333" in out and "val_score=0.8000" in out
    assert "stopped" not in out
    s = FakeTTY()
    rep = epoch_progress(10, None, s)  # the default on a terminal: a bar (shown after a delay)
    assert rep is not None
    rep.update(INFO[0])
    rep.close()
    s = FakeTTY()
    rep = epoch_progress(10, True, s)  # early stopping: the bar says so
    rep.update(INFO[0])
    rep.close()
    assert "stopped" in s.getvalue() and "1/10" in s.getvalue()


def test_progress_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    assert epoch_progress(3, None, FakeTTY()) is None
    s = FakeTTY()
    rep = epoch_progress(3, True, s)
    rep.update(INFO[0])
    assert s.getvalue().startswith("epoch 1/3  loss 1.000000")


def test_fit_verbose_prints_each_epoch(capsys):
    X, y = datasets.moons(60, seed=0, dtype=np.float32)
    FastMLP([2, 4, 2]).fit(X, y, epochs=3, validation_split=0.2, verbose=True)
    out = capsys.readouterr().out
    assert len(re.findall(r"^epoch \d/3  loss [\d.]+  val_loss [\d.]+  val_score [\d.]+", out, re.M)) == 3
    FastMLP([2, 4, 2]).fit(X, y, epochs=3, verbose=None)
    FastMLP([2, 4, 2]).fit(X, y, epochs=3, verbose=False)
    assert capsys.readouterr() == ("", "")
