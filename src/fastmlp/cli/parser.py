"""The argument parser of the ``fastmlp`` command: argparse with one-line errors, the argument types, the
help. Activation, loss and optimizer names and their parameter rules come from the registry
(``fastmlp._registry``), dataset names from ``fastmlp.datasets``."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from .._registry import DEFAULT_HIDDEN
from .commands import DEMOS, TASKS, cmd_bench, cmd_demo, cmd_plot, cmd_predict, cmd_train
from .data import SCALINGS, is_number
from .errors import EXIT_USAGE, one_line

__all__ = ["build_parser", "parse"]


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: ...)" only where there is a default worth showing."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        # Text with line breaks (the examples) is laid out by hand; the rest is wrapped as usual.
        if "\n" in text:
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block): ``fastmlp train: error: ... (see --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see '{self.prog} --help')\n")


# ----------------------------------------------------------------------------------------------------
# Argument types (their errors read "argument --hidden: ...")
# ----------------------------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _seed(text: str) -> int:
    # numpy's generators take non-negative seeds only.
    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


def _nonneg_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return v


def _pos_float(text: str) -> float:
    v = _nonneg_float(text)
    if v == 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return v


def _rule(name: str) -> Callable[[str], float | int]:
    """An argparse type for the hyperparameter ``name``: the text parsed as a number, then checked by the
    one rule every face uses (``fastmlp.validation.PARAMETERS``); the message is that rule's."""
    from ..validation import PARAMETERS, ParameterError, check_param

    def parse(text: str) -> float | int:
        try:
            value: float | int = int(text) if PARAMETERS[name].kind == "int" else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {PARAMETERS[name].describe()}, "
                                             f"got {text!r}") from None
        try:
            return check_param(name, value)
        except ParameterError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None

    parse.__name__ = name  # argparse names the type in its "invalid <name> value" message
    return parse


def _int_list(text: str, what: str = "sizes", allow_empty: bool = True) -> list[int]:
    t = text.strip().lower()
    if allow_empty and t in ("", "none", "0", "[]"):
        return []
    try:
        sizes: list[int] | None = [int(s) for s in t.strip("[]()").replace(" ", "").split(",") if s != ""]
    except ValueError:
        sizes = None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive {what} like 64,32, got {text!r}")
    return sizes


def _hidden(text: str) -> list[int]:
    return _int_list(text, "layer sizes")


def _layers(text: str) -> list[int]:
    sizes = _int_list(text, "layer sizes", allow_empty=False)
    if len(sizes) < 2:
        raise argparse.ArgumentTypeError(f"expected at least an input and an output size, got {text!r}")
    return sizes


def _strip_argument(exc: Exception) -> str:
    return str(exc).replace("activation: ", "")


def _activation(text: str) -> str | tuple[str, float]:
    """A hidden activation, ``relu`` or ``leaky_relu:0.1`` -> "relu" or ("leaky_relu", 0.1): the name and
    the parameter checked by the registry's entry for that activation."""
    from .._netspec import parse_activation
    from .._registry import ACTIVATION_TABLE, HIDDEN_ACTIVATIONS, canonical_activation
    name, _, param = text.partition(":")
    try:
        canonical = canonical_activation(name)
        entry = ACTIVATION_TABLE[canonical]
        if entry.output_only:
            raise ValueError(f"{canonical} is an output activation only; hidden layers take one of "
                             f"{', '.join(HIDDEN_ACTIVATIONS)}")
        if param:
            if not is_number(param):
                raise ValueError(f"expected NAME:NUMBER, e.g. {_param_example()}, got {text!r}")
            if entry.param is None:
                raise ValueError(f"{name} takes no parameter; only {', '.join(_with_param())} do")
            spec = (name, float(param))
            parse_activation(spec)  # the parameter's rule, from the registry
            return spec
        parse_activation(name)
        return name
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(_strip_argument(exc)) from None


def _with_param() -> list[str]:
    """The hidden activations that take a parameter, in registry order."""
    from .._registry import ACTIVATION_TABLE, HIDDEN_ACTIVATIONS
    return [n for n in HIDDEN_ACTIVATIONS if ACTIVATION_TABLE[n].param is not None]


def _param_example() -> str:
    from .._registry import ACTIVATION_TABLE
    names = _with_param()
    if not names:
        return "NAME"
    return f"{names[0]}:{ACTIVATION_TABLE[names[0]].param.default:g}"  # type: ignore[union-attr]


def _activation_help() -> str:
    from .._registry import ACTIVATION_TABLE, HIDDEN_ACTIVATIONS
    params = ", ".join(f"{n} {ACTIVATION_TABLE[n].param.name} (default {ACTIVATION_TABLE[n].param.default:g})"  # type: ignore[union-attr]
                       for n in _with_param())
    return (f"hidden activation: {', '.join(HIDDEN_ACTIVATIONS)}; NAME:PARAM sets the parameter of "
            f"{params}, e.g. {_param_example()}")


def _output_help() -> str:
    from .._registry import ACTIVATIONS, ALIASES
    return (f"output layer: auto (softmax for class labels, identity for numbers), or an activation: "
            f"{', '.join(ACTIVATIONS)} (aliases: {', '.join(ALIASES)})")


def _lr_help() -> str:
    from .._registry import OPTIMIZER_TABLE
    by_lr: dict[float, list[str]] = {}
    for name, o in OPTIMIZER_TABLE.items():
        by_lr.setdefault(o.default_lr, []).append(name)
    parts = [f"{lr:g} for {', '.join(names)}" for lr, names in by_lr.items()]
    return f"learning rate (default: {'; '.join(parts)})"


def _dataset(text: str) -> str:
    from ..datasets import canonical_name
    try:
        return canonical_name(text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("dataset: ", "")) from None


def _size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h)) if sep else None
    except ValueError:
        size = None
    if size is None or min(size) < 16 or max(size) > 10000:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT in pixels (16 to 10000 each), e.g. 800x600, got {text!r}")
    return size


def _names(text: str) -> list[str]:
    from .._registry import ACTIVATION_TABLE, canonical_activation
    names = [n for n in text.replace(" ", "").split(",") if n]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated activation names, e.g. relu,tanh")
    try:
        out = [canonical_activation(n) for n in names]
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(_strip_argument(exc)) from None
    for n in out:
        if ACTIVATION_TABLE[n].output_only:
            raise argparse.ArgumentTypeError(f"{n} is not elementwise; it has no curve f(x)")
    return out


# ----------------------------------------------------------------------------------------------------
# The parser
# ----------------------------------------------------------------------------------------------------
def _add_data_args(p: argparse.ArgumentParser, data_help: str) -> None:
    from ..datasets import DATASETS
    p.add_argument("data", nargs="?", help=data_help)
    g = p.add_argument_group("built-in dataset (instead of a data file)")
    g.add_argument("--dataset", type=_dataset, metavar="NAME",
                   help=f"{', '.join(DATASETS)} (digits needs scikit-learn)")
    g.add_argument("--n-samples", type=_positive_int, metavar="N",
                   help="number of points to generate (default: the dataset's own; 400 for xor)")
    g.add_argument("--noise", type=_nonneg_float, metavar="STD",
                   help="noise standard deviation (cluster spread for blobs; default: the dataset's own)")
    p.add_argument("--target", metavar="COL",
                   help="CSV column holding the targets: a header name or a 0-based index "
                        "(default: the last column)")


def _add_verbosity(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("-v", "--verbose", action="store_true",
                   help="report every epoch (a progress bar on a terminal, else one line per epoch)")
    g.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; each sub-parser sets ``func``, the command to run."""
    from .. import __version__
    from .._registry import LOSSES, OPTIMIZERS

    parser = _Parser(prog="fastmlp", description="Fast multilayer perceptrons on the CPU: train, predict, "
                     "plot, demo and bench from the command line.",
                     epilog="Run 'fastmlp COMMAND --help' for a command's options.", allow_abbrev=False,
                     formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"fastmlp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    kw: dict[str, Any] = dict(allow_abbrev=False, formatter_class=_HelpFormatter)

    # train ---------------------------------------------------------------------------------------
    p = sub.add_parser("train", help="train a network on a CSV/.npz file or a built-in dataset, save it",
                       description="Train a network and save it (.npz, no pickle). Class labels are "
                       "classified (softmax over the classes), numbers regressed (identity output, squared "
                       "error); --task says which, or how 'auto' decides. Features are used as they are "
                       "unless --scale: the scaling is then stored in the model, and predict and plot "
                       "apply it.",
                       epilog="examples:\n"
                       "  fastmlp train --dataset two_spirals --hidden 64,64 --epochs 100 -o spirals.npz\n"
                       "  fastmlp train data.csv --target species --patience 10 -o iris.npz\n"
                       "  fastmlp train prices.csv --task regress --scale standard -o prices.npz\n"
                       "  fastmlp train --dataset beans --hidden none --output sigmoid --loss squared_error "
                       "--optimizer sgd --lr 1 --batch-size 1", **kw)
    _add_data_args(p, "training data: a .csv/.tsv file (header optional; numeric features) or a .npz "
                      "with arrays X and y")
    g = p.add_argument_group("task and inputs")
    g.add_argument("--task", choices=TASKS, default="auto",
                   help="classify or regress the targets. auto: text or boolean labels are classified, "
                        "numbers with a fractional part regressed, whole numbers classified when they take "
                        "at most max(20, √n_samples) distinct values, else regressed (an --output or "
                        "--loss that implies classes classifies); the decision is printed")
    g.add_argument("--scale", choices=list(SCALINGS), default="none",
                   help="scale the features before training: " + "; ".join(
                       f"{k}: {v}" for k, v in SCALINGS.items())
                   + ". Fitted on the training data (a constant column is only shifted), stored in the model")
    g = p.add_argument_group("network")
    g.add_argument("--hidden", type=_hidden, default="32,32", metavar="SIZES",
                   help="hidden layer sizes, comma-separated ('none' for no hidden layer)")
    g.add_argument("--activation", type=_activation, default=DEFAULT_HIDDEN, metavar="NAME[:PARAM]",
                   help=_activation_help())
    g.add_argument("--output", default="auto", metavar="NAME", help=_output_help())
    g.add_argument("--loss", choices=list(LOSSES), help="override the loss the output implies")
    g.add_argument("--l2", type=_rule("l2"), default=0.0, help="L2 penalty λ on the weights")
    g.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="precision of the weights and of every computation")
    g.add_argument("--backend", choices=["auto", "cython", "numpy"], default="auto",
                   help="the compiled kernels, or the NumPy reference (auto: cython when built)")
    g = p.add_argument_group("training")
    g.add_argument("--optimizer", choices=list(OPTIMIZERS), default="adam", help="update rule")
    g.add_argument("--lr", type=_rule("lr"), help=_lr_help())
    g.add_argument("--epochs", type=_rule("epochs"), default=50, help="passes over the training data")
    g.add_argument("--batch-size", type=_rule("batch_size"), default=32, help="rows per optimizer step")
    g.add_argument("--validation-split", type=_rule("validation_split"), default=0.2,
                   help="fraction held out for validation (0 for none)")
    g.add_argument("--patience", type=_rule("patience"),
                   help="stop after this many epochs without improvement (keeps the best weights)")
    g.add_argument("--seed", type=_seed, default=0, help="seeds the weights, the shuffles, the split and "
                   "the generated dataset")
    g = p.add_argument_group("on a Dask cluster (DATA: a directory of CSV or Parquet files; "
                             "needs fastmlp[dask])")
    c = g.add_mutually_exclusive_group()
    c.add_argument("--scheduler", metavar="ADDRESS", help="train on the cluster of this dask scheduler")
    c.add_argument("--dask-workers", type=_positive_int, metavar="N",
                   help="train on a local cluster of N one-thread worker processes, started and stopped here")
    g.add_argument("--solver", choices=["local-sgd", "lbfgs"], default="local-sgd",
                   help="local-sgd: --epochs rounds of --local-epochs epochs of --optimizer per block, "
                        "averaged; lbfgs: exact full-batch L-BFGS, --epochs iterations")
    g.add_argument("--local-epochs", type=_rule("epochs"), default=1, help="epochs per block per round")
    g = p.add_argument_group("output")
    g.add_argument("-o", "--out", default="model.npz", metavar="PATH", help="where to save the model")
    g.add_argument("--plot", metavar="DIR",
                   help="also write curves.png there, and boundary.png for 2-feature data (fit.png for 1 "
                        "feature); needs matplotlib")
    _add_verbosity(p)
    p.set_defaults(func=cmd_train)

    # predict -------------------------------------------------------------------------------------
    p = sub.add_parser("predict", help="predict with a saved model: a predictions CSV on stdout, or a file",
                       description="Predict with a saved model (applying the input scaling stored in it). "
                       "A CSV with one column more than the model has inputs is read as features plus "
                       "targets (last column, or --target), and the accuracy/R² is reported. The "
                       "predictions go to standard output as CSV, or with -o to a file, written only once "
                       "everything worked (atomically: an existing file is replaced whole, or not at all).",
                       epilog="examples:\n  fastmlp predict model.npz data.csv -o predictions.csv --proba\n"
                       "  fastmlp predict model.npz data.csv > predictions.csv", **kw)
    p.add_argument("model", help="a model saved by 'fastmlp train' or FastMLP.save")
    _add_data_args(p, "inputs: a .csv/.tsv file or a .npz with array X (and optionally y)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the generated --dataset")
    p.add_argument("-o", "--out", metavar="PATH",
                   help="predictions file: .csv (a 'prediction' column) or .npz; without -o, or with "
                        "'-', the CSV goes to standard output (and the summary to stderr)")
    p.add_argument("--proba", action="store_true", help="also write the class probabilities")
    p.add_argument("--backend", choices=["auto", "cython", "numpy"], default="auto",
                   help="backend to run the model on")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_predict)

    # plot ----------------------------------------------------------------------------------------
    p = sub.add_parser("plot", help="PNG pictures: activations, training curves, decision boundaries",
                       description="Draw PNG pictures with matplotlib (pip install 'fastmlp[plot]').",
                       epilog="examples:\n  fastmlp plot activations --names relu,tanh,sigmoid -o plots/\n"
                       "  fastmlp plot curves model.npz -o curves.png\n"
                       "  fastmlp plot boundary model.npz --dataset moons -o boundary.png", **kw)
    psub = p.add_subparsers(dest="what", metavar="WHAT")
    p.set_defaults(func=cmd_plot, what=None, _plot_parser=p)

    def common(q: argparse.ArgumentParser, default_out: str, out_help: str, default_size: str) -> None:
        # String defaults go through ``type`` like typed values, and --help shows them as typed.
        q.add_argument("-o", "--out", default=default_out, metavar="PATH", help=out_help)
        q.add_argument("--size", type=_size, default=default_size, metavar="WxH", help="size in pixels")
        q.add_argument("--dpi", type=_pos_float, default="100", help="dots per inch (scales the text)")
        q.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
        q.set_defaults(func=cmd_plot)

    q = psub.add_parser("activations", help="each activation and its derivative on [-8, 8]",
                        description="One PNG per activation (f(x) and f'(x) on x in [-8, 8], computed by "
                        "the library's kernels), activation_<name>.png, and an overview activations.png.",
                        **kw)
    q.add_argument("--names", type=_names, metavar="A,B,...", help="activations to draw (default: all)")
    q.add_argument("--no-overview", action="store_true", help="skip the overview grid")
    common(q, "plots", "directory for the PNGs (created if needed)", "800x340")
    q = psub.add_parser("curves", help="training and validation loss (and score) per epoch",
                        description="Loss per epoch (training and validation) and the validation "
                        "accuracy/R², from the history stored in a saved model.", **kw)
    q.add_argument("model", help="a saved model")
    q.add_argument("--backend", choices=["auto", "cython", "numpy"], default="auto",
                   help="backend to load the model on")
    common(q, "curves.png", "PNG file to write", "900x380")
    q = psub.add_parser("boundary", help="decision regions of a 2-feature model, with the data",
                        description="The decision regions of a model with 2 inputs over the plane, with "
                        "the points of a data file or a built-in dataset on top (in the data's units: the "
                        "model's stored input scaling is applied to what it is fed). For a model with 1 "
                        "input (the beans), its curve over the points.", **kw)
    q.add_argument("model", help="a saved model with 2 inputs")
    _add_data_args(q, "points to draw: .csv/.tsv or .npz (X, optional y)")
    q.add_argument("--seed", type=_seed, default=0, help="seed of the generated --dataset")
    q.add_argument("--resolution", type=_positive_int, default=250, help="grid points per axis")
    q.add_argument("--backend", choices=["auto", "cython", "numpy"], default="auto",
                   help="backend to run the model on")
    common(q, "boundary.png", "PNG file to write", "640x560")

    # demo ----------------------------------------------------------------------------------------
    p = sub.add_parser("demo", help="train on a generated dataset, printing loss/accuracy per epoch",
                       description="A real training run on a generated dataset (two interleaved spirals by "
                       "default), printing the loss and accuracy after every epoch; a few seconds at most.",
                       **kw)
    p.add_argument("--dataset", choices=list(DEMOS), default="two_spirals", help="the problem to learn")
    p.add_argument("--epochs", type=_rule("epochs"), help="epochs (default: the demo's own, 30-40)")
    p.add_argument("--seed", type=_seed, default=0, help="seeds the data, the weights and the shuffles")
    p.add_argument("--backend", choices=["auto", "cython", "numpy"], default="auto",
                   help="the compiled kernels, or the NumPy reference")
    p.add_argument("--save", metavar="PATH", help="save the trained model there")
    p.add_argument("--plot", metavar="DIR", help="write curves.png and boundary.png there (matplotlib)")
    p.set_defaults(func=cmd_demo)

    # bench ---------------------------------------------------------------------------------------
    p = sub.add_parser("bench", help="time the cython and numpy backends side by side",
                       description="Time one training step and a predict call with each backend on random "
                       "data, and their ratio (numpy time / cython time).", **kw)
    p.add_argument("--layers", type=_layers, default="784,256,10", metavar="SIZES",
                   help="all layer sizes, input to output")
    p.add_argument("--activation", type=_activation, default=DEFAULT_HIDDEN, metavar="NAME[:PARAM]",
                   help="hidden activation")
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), default="sgd", help="update rule of the step")
    p.add_argument("--batch-size", type=_rule("batch_size"), default=64, help="rows per training step")
    p.add_argument("--rows", type=_positive_int, default=1000, help="rows per predict call")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="precision")
    p.add_argument("--time", type=_pos_float, default="0.3", help="about this many seconds per measurement")
    p.set_defaults(func=cmd_bench)
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, with a usage error when no command (or nothing to plot) is given."""
    args = parser.parse_args(argv)
    if args.command is None:
        parser.error("a command is required: train, predict, plot, demo or bench")
    if args.command == "plot" and args.what is None:
        args._plot_parser.error("say what to plot: activations, curves or boundary")
    return args
