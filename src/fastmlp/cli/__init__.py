"""The ``fastmlp`` command (also ``python -m fastmlp``).

    fastmlp demo                                              # a real training run, loss/accuracy per epoch
    fastmlp train --dataset moons --hidden 32,32 -o moons.npz # a built-in dataset
    fastmlp train data.csv --target label --epochs 100 -o model.npz
    fastmlp train prices.csv --task regress --scale standard -o prices.npz
    fastmlp predict model.npz data.csv -o predictions.csv     # without -o: the CSV on stdout
    fastmlp plot activations -o plots/                        # every activation and its derivative
    fastmlp plot curves model.npz -o curves.png               # training and validation curves
    fastmlp plot boundary moons.npz --dataset moons -o boundary.png
    fastmlp bench                                             # cython vs numpy backend timings

The package: ``parser`` (argparse, the argument types, the help), ``commands`` (train, predict, plot,
demo, bench), ``data`` (CSV/.npz reading, the built-in datasets, the input scaling stored in a model, the
predictions file), ``errors``. Every file the command writes is written atomically (``fastmlp._atomic``):
an existing file is replaced whole or left as it was.

Errors (bad arguments, unreadable or malformed files, data the model refuses) are reported as one line on
stderr, ``fastmlp <command>: error: ...``, with exit status 2 for bad command-line usage and 1 otherwise;
set ``FASTMLP_TRACEBACK=1`` to see the traceback of an unexpected error.
"""
from __future__ import annotations

import os
import sys

from .commands import class_limit, decide_task
from .data import make_dataset, read_data
from .errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CLIError, one_line
from .parser import build_parser, parse

__all__ = ["main", "build_parser", "CLIError", "read_data", "make_dataset", "decide_task", "class_limit",
           "EXIT_OK", "EXIT_ERROR", "EXIT_USAGE", "EXIT_INTERRUPTED"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 error, 2 bad usage, 130 interrupted)."""
    parser = build_parser()
    try:
        args = parse(parser, argv)
    except SystemExit as exc:  # --help, --version, usage errors (already printed, one line)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    prog = f"fastmlp {args.command}" + (f" {args.what}" if args.command == "plot" else "")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `fastmlp predict ... | head`: the reader left; not an error of ours.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except (CLIError, ValueError, TypeError, OSError, ImportError, FloatingPointError, MemoryError) as exc:
        print(f"{prog}: error: {one_line(exc) or type(exc).__name__}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug of ours: still one line, unless asked for the traceback
        if os.environ.get("FASTMLP_TRACEBACK"):
            raise
        print(f"{prog}: internal error: {type(exc).__name__}: {one_line(exc)} "
              "(set FASTMLP_TRACEBACK=1 for the traceback)", file=sys.stderr)
        return EXIT_ERROR
