"""Learning-rate schedules for ``FastMLP.fit(..., schedule=...)``.

    from fastmlp import FastMLP
    from fastmlp.schedules import Adaptive, InvScaling

    FastMLP([4, 16, 3]).fit(X, y, schedule=InvScaling(power_t=0.5))
    FastMLP([4, 16, 3]).fit(X, y, validation_split=0.2, patience=5, schedule=Adaptive(factor=5.0))

``Constant`` (α_t = α₀, the default), ``InvScaling`` (α = α₀ / (t + 1)^power_t, t = rows trained on) and
``Adaptive`` (α ← α / factor at each plateau of ``patience`` epochs, then stop) are scikit-learn's
``learning_rate`` choices. A schedule of your own subclasses ``Schedule`` and overrides ``start``,
``after_epoch`` and/or ``on_plateau``. The classes live in the training engine (``fastmlp._training``);
this module is their public home.
"""
from ._training import Adaptive, Constant, InvScaling, Schedule

__all__ = ["Schedule", "Constant", "InvScaling", "Adaptive"]
