"""fastmlp: fast, trustworthy multilayer perceptrons on the CPU.

    from fastmlp import FastMLP
    m = FastMLP([4, 16, 3], activation="relu", output="softmax").fit(X, y, epochs=20)
"""
from .model import FastMLP
from .backend import cython_available, get_backend

__version__ = "0.1.0"
__all__ = ["FastMLP", "cython_available", "get_backend", "__version__"]
