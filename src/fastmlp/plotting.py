"""Pictures as PNG files: activations and their derivatives, training curves, decision boundaries.

Needs matplotlib (``pip install 'fastmlp[plot]'``), imported on first use. Figures are drawn on
matplotlib's Agg canvas directly (``Figure`` + ``FigureCanvasAgg``), never through pyplot, so nothing here
touches the caller's pyplot state or needs a display. Sizes are in pixels: a figure of ``size=(w, h)`` is
saved as a PNG of exactly w × h pixels.
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from ._registry import ACTIVATION_TABLE, HIDDEN_ACTIVATIONS, canonical_activation
from .backend import get_backend

__all__ = ["activation_values", "plot_activation", "plot_activations", "plot_curves",
           "plot_decision_boundary", "plot_fit_1d"]

_CLASS_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf")


def _require_matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plot: needs matplotlib (pip install 'fastmlp[plot]')") from None
    return Figure, FigureCanvasAgg


def _check_size(size, dpi):
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size: expected (width, height) in pixels, got {size!r}") from None
    if not (16 <= w <= 10000 and 16 <= h <= 10000):
        raise ValueError(f"size: width and height must be in [16, 10000] pixels, got {w}x{h}")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not 10 <= dpi <= 1000:
        raise ValueError(f"dpi: expected a number in [10, 1000], got {dpi!r}")
    return w, h, float(dpi)


def _new_figure(size, dpi):
    Figure, FigureCanvasAgg = _require_matplotlib()
    w, h, dpi = _check_size(size, dpi)
    fig = Figure(figsize=(w / dpi, h / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path):
    """Save as PNG at the figure's own size (no tight bounding box: the pixel size is the one asked for)."""
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"path: directory {parent} does not exist")
    with warnings.catch_warnings():
        # Very small figures cannot fit their labels; the picture is still written at the size asked for.
        warnings.filterwarnings("ignore", message=".*constrained_layout not applied.*")
        fig.savefig(path, format="png", dpi=fig.dpi)
    return path


# ----------------------------------------------------------------------------------------------------
# Activations
# ----------------------------------------------------------------------------------------------------
def _curve_activation(name):
    """The registry entry of ``name`` (aliases resolved), if it has a curve f(x): an elementwise
    activation with a derivative (not a row-wise output such as softmax)."""
    entry = ACTIVATION_TABLE[canonical_activation(name)]
    if entry.derivative is None:
        raise ValueError(f"activation: {entry.name} is not elementwise; it has no curve f(x)")
    return entry


def activation_values(name, x=None, param=None, backend="auto", dtype=np.float64):
    """(x, f(x), f'(x)) computed by the library's own kernels (``activation_forward`` and
    ``activation_derivative`` of ``backend``), on ``x`` (default: 1601 points on [−8, 8], step 0.01).

    ``param``: the activation's parameter (``Activation.param`` in the registry: a leaky slope, an ELU γ,
    the PReLU slope γ of every unit); default the registry's default.
    """
    entry = _curve_activation(name)
    act = entry.name
    be = get_backend(backend)
    x = np.linspace(-8.0, 8.0, 1601) if x is None else np.asarray(x, dtype=np.float64).ravel()
    # One column: a per-unit parameter (PReLU's slopes) is then a single value, shape (1,).
    Z = np.ascontiguousarray(x.reshape(-1, 1), dtype=dtype)
    p = entry.default_param if param is None else float(param)
    kparam = np.full(1, p, dtype=dtype) if entry.per_unit else p
    A = np.empty_like(Z)
    D = np.empty_like(Z)
    be.activation_forward(Z, A, act, kparam)
    be.activation_derivative(A, Z, D, act, kparam)
    return x, A.ravel().astype(np.float64), D.ravel().astype(np.float64)


def _act_label(entry, param):
    """The registry's label of the activation, with its parameter's name and value when it has one."""
    if entry.param is not None:
        return f"{entry.label} ({entry.param.name} = {param:g})"
    return entry.label


def plot_activation(name, path, param=None, size=(800, 340), dpi=100, backend="auto"):
    """Two panels, as in the course figures: ``name(x)`` and its derivative on x ∈ [−8, 8], titled with the
    registry's label of the activation (and its parameter). Returns path."""
    entry = _curve_activation(name)
    act = entry.name
    p = entry.default_param if param is None else float(param)
    x, f, df = activation_values(act, param=p, backend=backend)
    fig = _new_figure(size, dpi)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(x, f, color="#1f77b4", lw=2)
    ax1.set(xlabel="x", ylabel=f"{act}(x)", title=_act_label(entry, p))
    ax2.plot(x, df, color="#d62728", lw=2)
    ax2.set(xlabel="x", ylabel=f"{act}'(x)", title=f"derivative of {entry.label}")
    for ax in (ax1, ax2):
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axvline(0, color="0.6", lw=0.8)
        ax.grid(alpha=0.3)
        ax.set_xlim(-8, 8)
    return _save(fig, path)


def plot_activations(out_dir, names=None, size=(800, 340), dpi=100, overview=True, backend="auto"):
    """One PNG per activation, ``out_dir/activation_<name>.png``, plus (``overview=True``) all of them on one
    grid, ``out_dir/activations.png`` (f solid, f' dashed). ``names`` defaults to every hidden activation
    of the registry (``HIDDEN_ACTIVATIONS``). Returns the list of paths written."""
    out_dir = os.fspath(out_dir)
    names = list(HIDDEN_ACTIVATIONS) if names is None else [_curve_activation(n).name for n in names]
    if not names:
        raise ValueError("names: no activation to plot")
    _require_matplotlib()
    os.makedirs(out_dir, exist_ok=True)
    paths = [plot_activation(n, os.path.join(out_dir, f"activation_{n}.png"), size=size, dpi=dpi,
                             backend=backend) for n in names]
    if overview:
        cols = min(4, len(names))
        rows = -(-len(names) // cols)
        fig = _new_figure((300 * cols, 240 * rows), dpi)
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
        for ax, n in zip(axes, names):
            x, f, df = activation_values(n, backend=backend)
            ax.plot(x, f, color="#1f77b4", lw=1.8, label="f(x)")
            ax.plot(x, df, color="#d62728", lw=1.4, ls="--", label="f'(x)")
            ax.axhline(0, color="0.6", lw=0.6)
            ax.axvline(0, color="0.6", lw=0.6)
            ax.set_title(_act_label(ACTIVATION_TABLE[n], ACTIVATION_TABLE[n].default_param), fontsize=10)
            ax.set_xlim(-8, 8)
            ax.set_ylim(-2.5, 4)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=8)
        for ax in axes[len(names):]:
            ax.set_visible(False)
        axes[0].legend(fontsize=8, loc="upper left")
        paths.append(_save(fig, os.path.join(out_dir, "activations.png")))
    return paths


# ----------------------------------------------------------------------------------------------------
# Training curves
# ----------------------------------------------------------------------------------------------------
def plot_curves(model, path, size=(900, 380), dpi=100, title=None):
    """Loss per epoch (training, and validation when recorded) and, when recorded, the validation score
    (accuracy, or R² for regression), with the restored best epoch marked. ``model`` is a FastMLP (or
    anything with ``loss_curve``, ``val_loss_curve``, ``val_score_curve``). Returns path."""
    loss = np.asarray(getattr(model, "loss_curve", []) or [], dtype=np.float64)
    vloss = np.asarray(getattr(model, "val_loss_curve", []) or [], dtype=np.float64)
    vscore = np.asarray(getattr(model, "val_score_curve", []) or [], dtype=np.float64)
    if loss.size == 0:
        raise ValueError("model: has no training history (loss_curve is empty); fit it first")
    best = getattr(model, "best_epoch", None)
    is_clf = getattr(model, "is_classifier", True)
    fig = _new_figure(size, dpi)
    axes = fig.subplots(1, 2 if vscore.size else 1, squeeze=False).ravel()
    ax = axes[0]
    ep = np.arange(1, loss.size + 1)
    ax.plot(ep, loss, color="#1f77b4", lw=1.8, label="training loss")
    if vloss.size:
        ax.plot(np.arange(1, vloss.size + 1), vloss, color="#d62728", lw=1.8, label="validation loss")
    positive = np.concatenate([loss, vloss])
    if positive.min() > 0 and positive.max() / positive.min() > 50:
        ax.set_yscale("log")  # losses spanning decades read better on a log axis
    ax.set(xlabel="epoch", ylabel="loss", title=title or "loss")
    if vscore.size:
        ax2 = axes[1]
        ax2.plot(np.arange(1, vscore.size + 1), vscore, color="#2ca02c", lw=1.8)
        ax2.set(xlabel="epoch", ylabel="accuracy" if is_clf else "R²",
                title="validation accuracy" if is_clf else "validation R²")
        if is_clf:
            ax2.set_ylim(min(0.0, float(vscore.min())), 1.02)
    for a in axes:
        if best:
            a.axvline(best, color="0.4", ls=":", lw=1.2, label=f"best epoch ({best})")
        a.grid(alpha=0.3)
    ax.legend(fontsize=9)
    return _save(fig, path)


# ----------------------------------------------------------------------------------------------------
# Decision boundary
# ----------------------------------------------------------------------------------------------------
def plot_decision_boundary(model, X, y=None, path="boundary.png", size=(640, 560), dpi=100,
                           resolution=250, title=None):
    """The model's decision regions over the plane of a 2-feature problem, with the points on top.

    A ``resolution × resolution`` grid spans the data plus a 10% margin. Binary classifiers are shaded by
    P(class 1) with the 0.5 contour drawn; multiclass ones by the predicted class (lighter where the
    winning probability is lower); regression models by their output. Returns path.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X: a decision boundary needs 2 features, got shape {X.shape}")
    if X.shape[0] == 0 or not np.isfinite(X).all():
        raise ValueError("X: needs at least one finite point")
    n_in = getattr(model, "layer_sizes", [2])[0]
    if n_in != 2:
        raise ValueError(f"model: a decision boundary needs a model with 2 inputs, this one has {n_in}")
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) \
            or not 10 <= resolution <= 2000:
        raise ValueError(f"resolution: expected an integer in [10, 2000], got {resolution!r}")
    _require_matplotlib()  # the one-line hint, not "No module named 'matplotlib.colors'"
    from matplotlib.colors import ListedColormap

    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = np.where(hi > lo, 0.1 * (hi - lo), 0.5)
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    xx, yy = np.meshgrid(gx, gy)
    grid = np.column_stack([xx.ravel(), yy.ravel()])

    fig = _new_figure(size, dpi)
    ax = fig.subplots()
    classes = getattr(model, "classes_", None)
    is_clf = getattr(model, "is_classifier", True)
    if is_clf:
        P = np.asarray(model.predict_proba(grid), dtype=np.float64)
        n_cls = P.shape[1]
        cmap = ListedColormap([_CLASS_COLORS[i % len(_CLASS_COLORS)] for i in range(n_cls)])
        if n_cls == 2:
            pmap = _blend(_CLASS_COLORS[0], _CLASS_COLORS[1])
            cs = ax.contourf(xx, yy, P[:, 1].reshape(xx.shape), levels=np.linspace(0, 1, 11), cmap=pmap,
                             alpha=0.55)
            ax.contour(xx, yy, P[:, 1].reshape(xx.shape), levels=[0.5], colors="k", linewidths=1.5)
            fig.colorbar(cs, ax=ax, label="P(class 1)" if classes is None else f"P({classes[1]})")
        else:
            k = P.argmax(axis=1).reshape(xx.shape)
            conf = P.max(axis=1).reshape(xx.shape)
            ax.imshow(k, origin="lower", extent=(gx[0], gx[-1], gy[0], gy[-1]), cmap=cmap,
                      vmin=-0.5, vmax=n_cls - 0.5, alpha=0.25 + 0.35 * (conf - conf.min())
                      / max(conf.max() - conf.min(), 1e-12), aspect="auto", interpolation="nearest")
            ax.contour(xx, yy, k, levels=np.arange(n_cls) + 0.5, colors="k", linewidths=0.8)
    else:
        out = np.asarray(model.predict(grid), dtype=np.float64)
        out = out.reshape(len(grid), -1)[:, 0].reshape(xx.shape)
        cs = ax.contourf(xx, yy, out, levels=15, cmap="coolwarm", alpha=0.6)
        fig.colorbar(cs, ax=ax, label="output")
    if y is not None:
        y = np.asarray(y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y: has {y.shape[0]} samples but X has {X.shape[0]}")
        y = y.reshape(len(y), -1)[:, 0] if y.ndim > 1 else y
        if is_clf:
            labels = classes if classes is not None else np.unique(y)
            for i, c in enumerate(labels):
                sel = y == c
                if np.any(sel):
                    ax.scatter(X[sel, 0], X[sel, 1], s=14, color=_CLASS_COLORS[i % len(_CLASS_COLORS)],
                               edgecolors="k", linewidths=0.4, label=str(c))
            ax.legend(fontsize=8, loc="best", title="class", title_fontsize=8)
        else:
            ax.scatter(X[:, 0], X[:, 1], c=y.astype(np.float64), cmap="coolwarm", s=14, edgecolors="k",
                       linewidths=0.4)
    if title is None and y is not None and is_clf:
        try:
            title = f"decision boundary (accuracy {model.score(X, y):.3f})"
        except (ValueError, TypeError):
            title = "decision boundary"
    ax.set(xlim=(gx[0], gx[-1]), ylim=(gy[0], gy[-1]), xlabel="x₁", ylabel="x₂",
           title=title or "decision boundary")
    return _save(fig, path)


def plot_fit_1d(model, X, y=None, path="fit.png", size=(640, 420), dpi=100, title=None):
    """For a 1-feature problem (the beans of the course material): the points (x, y) and the model's curve
    over x — P(class 1) for a binary classifier, else the network's output. Returns path."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[1] != 1:
        raise ValueError(f"X: a 1-D fit picture needs 1 feature, got shape {X.shape}")
    if X.shape[0] == 0 or not np.isfinite(X).all():
        raise ValueError("X: needs at least one finite point")
    n_in = getattr(model, "layer_sizes", [1])[0]
    if n_in != 1:
        raise ValueError(f"model: a 1-D fit picture needs a model with 1 input, this one has {n_in}")
    lo, hi = float(X.min()), float(X.max())
    pad = 0.05 * (hi - lo) if hi > lo else 0.5
    grid = np.linspace(lo - pad, hi + pad, 500)[:, None]
    is_clf = getattr(model, "is_classifier", True)
    if is_clf:
        P = np.asarray(model.predict_proba(grid), dtype=np.float64)
        if P.shape[1] != 2:
            raise ValueError(f"model: a 1-D fit picture needs a binary classifier or a regressor, "
                             f"this one has {P.shape[1]} classes")
        curve, label = P[:, 1], "P(class 1)"
    else:
        curve = np.asarray(model.predict(grid), dtype=np.float64).reshape(len(grid), -1)[:, 0]
        label = "model output"
    fig = _new_figure(size, dpi)
    ax = fig.subplots()
    if y is not None:
        y = np.asarray(y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y: has {y.shape[0]} samples but X has {X.shape[0]}")
        yy = y.reshape(len(y), -1)[:, 0]
        if yy.dtype.kind not in "biuf":
            classes = getattr(model, "classes_", None)
            yy = np.searchsorted(classes, yy) if classes is not None \
                else np.unique(yy, return_inverse=True)[1]
        ax.scatter(X[:, 0], yy.astype(np.float64), s=16, color="#1f77b4", edgecolors="k", linewidths=0.4,
                   label="data", zorder=3)
    ax.plot(grid[:, 0], curve, color="#d62728", lw=2, label=label)
    ax.set(xlabel="x", ylabel="y", title=title or "fit")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="best")
    return _save(fig, path)


def _blend(c0, c1):
    from matplotlib.colors import LinearSegmentedColormap
    return LinearSegmentedColormap.from_list("fastmlp_binary", [c0, "#ffffff", c1])
