"""The parser takes its choices and parameter rules from the registry: every activation, loss and
optimizer declared there is accepted (or refused) by the rule declared there, with no list of its own."""
import pytest

import fastmlp.cli as cli
from fastmlp._registry import (
    ACTIVATION_TABLE,
    ACTIVATIONS,
    ALIASES,
    HIDDEN_ACTIVATIONS,
    LOSSES,
    OPTIMIZER_TABLE,
    OPTIMIZERS,
)
from fastmlp.cli import build_parser, main

WITH_PARAM = [n for n in HIDDEN_ACTIVATIONS if ACTIVATION_TABLE[n].param is not None]
WITHOUT_PARAM = [n for n in HIDDEN_ACTIVATIONS if ACTIVATION_TABLE[n].param is None]
OUTPUT_ONLY = [n for n in ACTIVATIONS if ACTIVATION_TABLE[n].output_only]


def _train_args(*extra):
    return build_parser().parse_args(["train", *extra])


def _usage_error(args, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err


def test_package_exports():
    for name in ("main", "build_parser", "CLIError", "read_data", "make_dataset"):
        assert hasattr(cli, name), name
    assert set(cli.__all__) >= {"main", "build_parser", "CLIError", "read_data"}


@pytest.mark.parametrize("name", list(HIDDEN_ACTIVATIONS) + list(ALIASES))
def test_every_hidden_activation_and_alias_is_accepted(name):
    if ALIASES.get(name, name) in OUTPUT_ONLY:
        pytest.skip("an output activation")
    assert _train_args("--activation", name).activation == name


@pytest.mark.parametrize("name", WITH_PARAM)
def test_parameters_follow_the_registry_rule(name, capsys):
    param = ACTIVATION_TABLE[name].param
    assert _train_args("--activation", f"{name}:{param.default}").activation == (name, param.default)
    if param.low is not None:
        bad = param.low if param.low_open else param.low - 1
        err = _usage_error(["train", "--activation", f"{name}:{bad}"], capsys)
        op = ">" if param.low_open else ">="
        assert f"argument --activation: {name} {param.name} must be {op} {param.low:g}" in err
    err = _usage_error(["train", "--activation", f"{name}:inf"], capsys)
    assert f"parameter of {name} must be finite" in err


@pytest.mark.parametrize("name", WITHOUT_PARAM)
def test_takes_no_parameter_is_derived_from_the_registry(name, capsys):
    err = _usage_error(["train", "--activation", f"{name}:0.5"], capsys)
    assert f"argument --activation: {name} takes no parameter; only {', '.join(WITH_PARAM)} do" in err


@pytest.mark.parametrize("name", OUTPUT_ONLY)
def test_output_only_activations_are_refused_for_hidden_layers_and_curves(name, capsys):
    err = _usage_error(["train", "--activation", name], capsys)
    assert f"argument --activation: {name} is an output activation only" in err
    err = _usage_error(["plot", "activations", "--names", f"relu,{name}"], capsys)
    assert f"argument --names: {name} is not elementwise" in err


def test_choices_come_from_the_registry(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    train = {a.dest: a for a in sub["train"]._actions}
    bench = {a.dest: a for a in sub["bench"]._actions}
    assert list(train["optimizer"].choices) == list(OPTIMIZERS) == list(bench["optimizer"].choices)
    assert list(train["loss"].choices) == list(LOSSES)
    assert main(["train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert ", ".join(HIDDEN_ACTIVATIONS) in out
    for name in WITH_PARAM:
        param = ACTIVATION_TABLE[name].param
        assert f"{name} {param.name} (default {param.default:g})" in out
    for name, o in OPTIMIZER_TABLE.items():
        assert f"{o.default_lr:g} for" in out and name in out
    for name in ACTIVATIONS:
        assert name in out  # --output lists every activation


def test_new_options_in_help(capsys):
    assert main(["train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for words in ("--task {auto,classify,regress}", "--scale {none,standard,minmax}", "max(20, √n_samples)",
                  "(default: auto)", "(default: none)"):
        assert words in out, words
    assert main(["predict", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "the CSV goes to standard output" in out and "predictions.csv" not in out.split("examples:")[0]
