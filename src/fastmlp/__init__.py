"""fastmlp: fast, trustworthy multilayer perceptrons on the CPU.

    from fastmlp import FastMLP
    m = FastMLP([4, 16, 3], activation="relu", output="softmax").fit(X, y, epochs=20)

Training helpers: ``fastmlp.EarlyStopping`` (pass one as ``fit(..., early_stopping=...)`` to keep its state
between calls), ``fastmlp.ConvergenceWarning`` (L-BFGS stopped early) and the learning-rate schedules of
``fastmlp.schedules`` (``Constant``, ``InvScaling``, ``Adaptive``, ``Step``, ``Exponential``, ``Cosine``,
``ReduceOnPlateau``); ``fastmlp.check_gradients`` compares a model's gradients with finite differences.
"""
from . import exchange, ops, schedules
from ._training import ConvergenceWarning, EarlyStopping
from .backend import cython_available, get_backend, set_backend, use_backend
from .custom import Activation
from .gradcheck import GradientCheck, check_gradients
from .model import FastMLP

__version__ = "0.1.0"
__all__ = ["FastMLP", "EarlyStopping", "ConvergenceWarning", "cython_available", "get_backend",
           "set_backend", "use_backend", "get_include", "ops", "exchange", "schedules", "__version__",
           "check_gradients", "GradientCheck", "Activation"]


def get_include():
    """The directory to give Cython (``cythonize(ext, include_path=[fastmlp.get_include()])``) so that
    ``from fastmlp.kernels cimport ...`` finds fastmlp's .pxd files: the directory holding the package."""
    import os
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def __getattr__(name):
    # scikit-learn drop-ins, imported on first use so that `import fastmlp` never needs scikit-learn.
    if name in ("FastMLPClassifier", "FastMLPRegressor"):
        from . import sklearn as _sk
        return getattr(_sk, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
