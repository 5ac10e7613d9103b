"""Learning-rate schedules for ``FastMLP.fit(..., schedule=...)``.

    from fastmlp import FastMLP
    from fastmlp.schedules import Adaptive, InvScaling

    FastMLP([4, 16, 3]).fit(X, y, schedule=InvScaling(power_t=0.5))
    FastMLP([4, 16, 3]).fit(X, y, validation_split=0.2, patience=5, schedule=Adaptive(factor=5.0))

``Constant`` (α_t = α₀, the default), ``InvScaling`` (α = α₀ / (t + 1)^power_t, t = rows trained on) and
``Adaptive`` (α ← α / factor at each plateau of ``patience`` epochs, then stop) are scikit-learn's
``learning_rate`` choices. Per epoch e (from 0) of a fit call:

* ``Step(step_size=10, gamma=0.5)``: α₀ · gamma^⌊e / step_size⌋ (torch's StepLR);
* ``Exponential(gamma=0.95)``: α₀ · gamma^e (torch's ExponentialLR);
* ``Cosine(cycle=None, min_lr=0, warmup=0)``: α₀ (e + 1) / warmup during the warm-up, then
  min_lr + (α₀ − min_lr)(1 + cos(π (e − warmup) / (T − warmup))) / 2, T = cycle or the fit's epochs
  (torch's CosineAnnealingLR without warm-up);
* ``ReduceOnPlateau(factor=0.1, patience=10, threshold=1e-4, min_lr=0, cooldown=0, monitor="auto")``:
  α ← max(α · factor, min_lr) after more than ``patience`` epochs without a relative improvement of the
  validation loss (the training loss without validation data) (torch's ReduceLROnPlateau).

By name (``fit(schedule="cosine")``, the scikit-learn wrappers' ``learning_rate="cosine"``) each has the
defaults above. A schedule of your own subclasses ``Schedule`` and overrides ``start``,
``before_epoch``, ``after_epoch`` / ``end_epoch`` and/or ``on_plateau``. The classes live in the training
engine (``fastmlp._training``); this module is their public home.
"""
from ._training import (
    Adaptive,
    Constant,
    Cosine,
    Exponential,
    InvScaling,
    ReduceOnPlateau,
    Schedule,
    Step,
)

__all__ = ["Schedule", "Constant", "InvScaling", "Adaptive", "Step", "Exponential", "Cosine",
           "ReduceOnPlateau"]
