"""train --task {auto,classify,regress}: what auto decides, and the one line that says so.

auto: text or boolean labels -> classify; numbers with a fractional part -> regress; whole numbers ->
classify when they take at most max(20, isqrt(n)) distinct values, else regress; an --output/--loss that
implies classes -> classify; several target columns -> classify (multi-label) when all 0/1."""
import re

import numpy as np
import pytest

from fastmlp import FastMLP
from fastmlp.cli import class_limit, decide_task, main
from fastmlp.cli.errors import CLIError


def diabetes_like(n=442, seed=0):
    """Whole-number targets spread like the diabetes progression score (25..346, ~214 distinct values)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = np.clip(np.round(152 + 60 * X[:, 0] + 30 * X[:, 1] + rng.normal(0, 20, n)), 25, 346)
    return X, y


def test_class_limit():
    assert class_limit(10) == class_limit(400) == 20
    assert class_limit(442) == 21 and class_limit(10_000) == 100 and class_limit(0) == 20


@pytest.mark.parametrize("y, task, why", [
    (np.array(["a", "b", "a"]), "classify", "auto: text labels"),
    (np.array([True, False, True]), "classify", "auto: boolean targets"),
    (np.array([0.5, 1.25, 3.0]), "regress", "auto: numeric targets with non-integer values such as 0.5"),
    (np.arange(30) % 3, "classify",
     "auto: whole-number targets with 3 distinct values, at most max(20, √n) = 20"),
    (np.arange(30) % 20 * 1.0, "classify", "with 20 distinct values, at most max(20, √n) = 20"),
    (np.arange(30) % 21, "regress", "with 21 distinct values, more than max(20, √n) = 20 for class labels"),
    (np.array([[0, 1], [1, 1], [0, 0]]), "classify", "auto: 0/1 targets in 2 columns, multi-label"),
    (np.array([[0, 2], [1, 1], [0, 0]]), "regress", "auto: 2 target columns, not all 0/1"),
])
def test_auto_branches(y, task, why):
    y2, decided, reason = decide_task(y, "auto")
    assert decided == task and why in reason
    if task == "regress":
        assert y2.dtype == np.float64
    elif y.dtype.kind == "f":
        assert y2.dtype == np.int64  # whole-number floats become integer labels


def test_auto_with_many_whole_numbers_regresses_the_diabetes_score():
    _, y = diabetes_like()
    assert 150 < len(np.unique(y)) < 260
    y2, task, why = decide_task(y, "auto")
    assert task == "regress" and y2.dtype == np.float64
    assert f"whole-number targets with {len(np.unique(y))} distinct values, more than max(20, √n) = 21" in why
    # the same numbers as int64 (a CSV of whole numbers) decide the same
    assert decide_task(y.astype(np.int64), "auto")[1] == "regress"
    # a grown dataset raises the limit: 100 distinct whole numbers in 10 000 rows are labels
    assert decide_task(np.arange(10_000) % 100, "auto")[1] == "classify"


def test_an_output_or_loss_that_implies_classes_classifies():
    _, y = diabetes_like()
    for head in ("--output softmax", "--loss cross_entropy"):
        y2, task, why = decide_task(y, "auto", head)
        assert task == "classify" and why == f"auto: {head} asks for classes" and y2.dtype == np.int64
    from fastmlp.cli.commands import classifying_head
    assert classifying_head("softmax", None) == "--output softmax"
    assert classifying_head("sigmoid", None) == "--output sigmoid"
    assert classifying_head("sigmoid", "squared_error") is None  # the course's neuron: a regression loss
    assert classifying_head("auto", "binary_cross_entropy") == "--loss binary_cross_entropy"
    assert classifying_head("identity", None) is None and classifying_head("auto", None) is None
    assert classifying_head("sofmax", None) is None  # left to --output's own error


def test_explicit_tasks():
    y2, task, why = decide_task(np.array([3.0, 5.0, 3.0]), "classify")
    assert task == "classify" and why == "as asked by --task classify" and y2.dtype == np.int64
    _, y = diabetes_like()
    assert decide_task(y, "classify")[1] == "classify"
    y2, task, why = decide_task(np.arange(6) % 2, "regress")
    assert task == "regress" and why == "as asked by --task regress" and y2.dtype == np.float64
    assert decide_task(np.array([True, False]), "regress")[0].tolist() == [1.0, 0.0]


@pytest.mark.parametrize("y, task, head, message", [
    (np.array([0.5, 1.0]), "classify", None, "--task classify: the targets are not class labels "
                                            "(non-integer values such as 0.5); use --task regress"),
    (np.array(["a", "b"]), "regress", None, "--task regress: needs numeric targets, found text labels"),
    (np.array([1.0, 2.0]), "regress", "--output softmax",
     "--task regress: --output softmax trains a classifier; drop it or use --task classify"),
    (np.array([[0, 3], [1, 1]]), "classify", None, "--task classify: targets with 2 columns must be 0/1"),
])
def test_impossible_tasks_are_refused(y, task, head, message):
    with pytest.raises(CLIError) as info:
        decide_task(y, task, head)
    assert str(info.value).startswith(message)


# ----------------------------------------------------------------------------------------------------
# Through the command: the decision line, and the model it trains
# ----------------------------------------------------------------------------------------------------
def _train(tmp_path, capsys, X, y, *extra):
    np.savez(tmp_path / "d.npz", X=X, y=y)
    rc = main(["train", str(tmp_path / "d.npz"), "--epochs", "2", "--hidden", "4",
               "-o", str(tmp_path / "m.npz"), *extra])
    out, err = capsys.readouterr()
    return rc, out, err


def test_train_auto_regresses_many_whole_numbers_and_says_why(tmp_path, capsys):
    X, y = diabetes_like()
    rc, out, err = _train(tmp_path, capsys, X, y)
    assert rc == 0, err
    lines = [ln for ln in out.splitlines() if ln.startswith("task: ")]
    assert lines == [f"task: regress (auto: whole-number targets with {len(np.unique(y))} distinct values, "
                     "more than max(20, √n) = 21 for class labels; --task classify to override)"]
    m = FastMLP.load(tmp_path / "m.npz")
    assert not m.is_classifier and m.layer_sizes[-1] == 1 and m.spec.loss == "squared_error"
    assert "identity output, squared_error" in out and "val R²" in out


def test_train_auto_classifies_few_whole_numbers(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    rc, out, _ = _train(tmp_path, capsys, X, (np.arange(100) % 3).astype(float))
    assert rc == 0
    assert "task: classify (auto: whole-number targets with 3 distinct values, at most max(20, √n) = 20; " \
           "--task regress to override)" in out
    m = FastMLP.load(tmp_path / "m.npz")
    assert m.is_classifier and m.layer_sizes[-1] == 3 and m.classes_.dtype.kind == "i"


@pytest.mark.parametrize("y, task", [
    (np.array(["x", "y"] * 20), "classify"),
    (np.array([True, False] * 20), "classify"),
    (np.linspace(0, 1, 40), "regress"),
])
def test_train_auto_text_bool_fractional(tmp_path, capsys, y, task):
    X = np.random.default_rng(1).normal(size=(40, 2))
    rc, out, err = _train(tmp_path, capsys, X, y)
    assert rc == 0, err
    assert re.search(rf"^task: {task} \(auto: ", out, re.M)
    assert FastMLP.load(tmp_path / "m.npz").is_classifier == (task == "classify")


def test_train_explicit_tasks(tmp_path, capsys):
    X, y = diabetes_like(200)
    rc, out, _ = _train(tmp_path, capsys, X, y, "--task", "classify")
    assert rc == 0 and "task: classify (as asked by --task classify)" in out
    assert FastMLP.load(tmp_path / "m.npz").layer_sizes[-1] == len(np.unique(y))
    rc, out, _ = _train(tmp_path, capsys, X, (np.arange(200) % 2), "--task", "regress")
    assert rc == 0 and "task: regress (as asked by --task regress)" in out
    assert not FastMLP.load(tmp_path / "m.npz").is_classifier
    rc, out, err = _train(tmp_path, capsys, X, np.linspace(0, 1, 200), "--task", "classify")
    assert rc == 1
    assert err.strip().startswith("fastmlp train: error: --task classify: the targets are not class")
    rc, out, err = _train(tmp_path, capsys, X, y, "--task", "regress", "--output", "softmax")
    assert rc == 1 and "--task regress: --output softmax trains a classifier" in err


def test_task_line_is_quiet_with_quiet(tmp_path, capsys):
    X, y = diabetes_like(100)
    rc, out, err = _train(tmp_path, capsys, X, y, "-q")
    assert rc == 0 and out == "" and err == ""


def test_bad_task_is_a_usage_error(capsys):
    assert main(["train", "--task", "cluster"]) == 2
    assert "argument --task: invalid choice: 'cluster'" in capsys.readouterr().err
