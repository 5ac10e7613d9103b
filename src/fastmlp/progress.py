"""Per-epoch progress for long fits: a tqdm bar with the live loss and validation metric.

``verbose=None`` (the default of ``FastMLP.fit``) shows a bar only when stderr is a terminal and tqdm is
installed, and only once the fit has run for a second; ``verbose=True`` always reports (a bar, or one line
per epoch without tqdm); ``verbose=False`` is silent.
"""
from __future__ import annotations

import sys


class _Lines:
    """One printed line per epoch (verbose=True without tqdm)."""

    def __init__(self, total, stream):
        self.total, self.stream = total, stream

    def update(self, info):
        parts = [f"epoch {info['epoch']:4d}/{self.total}", f"loss {info['loss']:.6f}"]
        if "val_loss" in info:
            parts += [f"val_loss {info['val_loss']:.6f}", f"val_score {info['val_score']:.4f}"]
        print("  ".join(parts), file=self.stream, flush=True)

    def close(self):
        pass


class _Bar:
    def __init__(self, tqdm, total, delay, stream):
        self.bar = tqdm(total=total, unit="epoch", delay=delay, file=stream, dynamic_ncols=True,
                        leave=True)

    def update(self, info):
        post = {"loss": f"{info['loss']:.4g}"}
        if "val_loss" in info:
            post["val_loss"] = f"{info['val_loss']:.4g}"
            post["val_score"] = f"{info['val_score']:.4f}"
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(1)

    def close(self):
        self.bar.close()


def epoch_progress(total, verbose=None, stream=None):
    """A reporter with ``update(info)`` and ``close()``, or None when nothing should be shown."""
    stream = sys.stderr if stream is None else stream
    if verbose is False or verbose == 0:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    if verbose is None:
        isatty = getattr(stream, "isatty", lambda: False)()
        if tqdm is None or not isatty:
            return None
        return _Bar(tqdm, total, 1.0, stream)
    if tqdm is not None and getattr(stream, "isatty", lambda: False)():
        return _Bar(tqdm, total, 0.0, stream)
    return _Lines(total, stream if verbose is not True else sys.stdout)
