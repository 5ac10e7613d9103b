# Cython-level API of fastmlp._kernels: non-fused nogil entry points declared in _kernels.pxd.
# (Filled in by issue 6.)
