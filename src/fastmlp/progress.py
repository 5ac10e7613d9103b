"""Per-epoch progress for long fits: a tqdm bar with the live loss and validation metric.

``epoch_progress(total, verbose, stream)`` returns a reporter with ``update(info)`` (once per epoch, with
the dict ``FastMLP.fit`` passes to its callback: epoch, loss, and val_loss/val_score when validating) and
``close()``, or None when nothing should be shown:

* ``verbose=None`` (the default of ``FastMLP.fit``): a bar only when ``stream`` (default stderr) is a
  terminal and tqdm is installed, and only once the fit has run for a second — quick fits stay silent;
* ``verbose=True`` (or any non-zero number): always report — a bar on a terminal when tqdm is installed,
  otherwise one plain line per epoch on ``stream`` (default stdout, so logs and pipes capture it);
* ``verbose=False`` or 0: nothing.

tqdm is imported only here and only when a bar may be shown; it is optional (``fastmlp[progress]``).
"""
from __future__ import annotations

import os
import sys
import time

# A quiet default fit shows its bar only after this long, so that fast fits print nothing.
_DELAY_S = 1.0


def _isatty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


def _terminal_size(stream):
    """(columns, lines) of the terminal behind ``stream``, or None when there is none."""
    try:
        return tuple(os.get_terminal_size(stream.fileno()))
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None


def _fmt(info, precise):
    """(name, text) pairs of the metrics in ``info``; ``precise`` for plain lines, short for the bar."""
    f = (lambda v: f"{v:.6f}") if precise else (lambda v: f"{v:.4g}")
    pairs = [("loss", f(info["loss"]))]
    if "val_loss" in info:
        pairs.append(("val_loss", f(info["val_loss"])))
    if "val_score" in info:
        pairs.append(("val_score", f"{info['val_score']:.4f}"))
    return pairs


class _Lines:
    """One printed line per epoch (verbose without a terminal, or without tqdm)."""

    def __init__(self, total, stream):
        self.total, self.stream = total, stream
        self.width = len(str(total))
        self.t0 = time.perf_counter()

    def update(self, info):
        parts = [f"epoch {info['epoch']:{self.width}d}/{self.total}"]
        parts += [f"{k} {v}" for k, v in _fmt(info, True)]
        parts.append(f"{time.perf_counter() - self.t0:.2f}s")
        print("  ".join(parts), file=self.stream, flush=True)

    def close(self):
        pass


class _Bar:
    """A tqdm bar over epochs; the postfix shows the latest loss and validation metrics."""

    def __init__(self, tqdm, total, delay, stream):
        kwargs = dict(total=total, unit="epoch", file=stream, dynamic_ncols=True, leave=True)
        size = _terminal_size(stream)
        if size is not None and 0 in size:
            # A terminal that reports no size (some ptys, CI consoles): tqdm would draw nothing.
            kwargs.update(dynamic_ncols=False, ncols=size[0] or 100, nrows=size[1] or 24)
        try:
            self.bar = tqdm(delay=delay, **kwargs)
        except TypeError:  # tqdm < 4.60 has no ``delay``
            self.bar = tqdm(**kwargs)
        self.count = 0

    def update(self, info):
        # refresh=False: the update below redraws (at most every mininterval), not every epoch twice.
        self.bar.set_postfix(dict(_fmt(info, False)), refresh=False)
        self.bar.update(1)
        self.count += 1

    def close(self):
        if self.count < (self.bar.total or 0):
            # Early stopping (or an error) ended the fit before the last epoch: say so on the bar.
            self.bar.set_description_str("stopped", refresh=False)
        self.bar.close()


def epoch_progress(total, verbose=None, stream=None):
    """A reporter with ``update(info)`` and ``close()`` for a fit of ``total`` epochs, or None when
    nothing should be shown (see the module docstring for the ``verbose`` rules)."""
    if verbose is not None:
        verbose = bool(verbose)
    if verbose is False:
        return None
    out = sys.stderr if stream is None else stream
    tty = _isatty(out)
    tqdm = None
    if tty:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
    if verbose is None:
        return _Bar(tqdm, total, _DELAY_S, out) if tqdm is not None else None
    if tqdm is not None:
        return _Bar(tqdm, total, 0.0, out)
    return _Lines(total, sys.stdout if stream is None else stream)
