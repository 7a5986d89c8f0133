"""``skbackprop.show_versions()``: what to paste into a bug report."""

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

from threadpoolctl import threadpool_info

from . import _kernels
from ._version import __version__

__all__ = ["show_versions"]

_DEPENDENCIES = ("numpy", "scipy", "scikit-learn", "joblib", "threadpoolctl", "dask")


def _loops_line():
    loops = _kernels.backend()
    if loops != "numpy":
        return loops
    if _kernels._ckernels is not None:
        return "numpy (the C loops are built but turned off: SKBACKPROP_COMPILED)"
    return "numpy (the C extension was not built: no C compiler at install)"


def _passes_line():
    if _kernels.backend() == "numpy":
        return "no (the C code is not in use)"
    if not _kernels._ckernels.BLAS:
        return "no (SciPy's BLAS was not found: scipy.linalg.cython_blas)"
    return "yes, for sigmoid hidden units (matrix products by SciPy's BLAS)"


def show_versions():
    """Print skbackprop's version, its hidden-layer loops and its setting.

    Like :func:`sklearn.show_versions`: the Python and platform, the versions
    of the dependencies, the BLAS libraries that threadpoolctl finds, and
    which implementation of the hidden layer's elementwise loops is in use
    (``c-avx2``, ``c-baseline`` or ``numpy``) and whether the compiled
    passes are (see the Performance page).

    Examples
    --------
    >>> import skbackprop
    >>> skbackprop.show_versions()  # doctest: +ELLIPSIS
    skbackprop: ...
    hidden-layer loops: ...
    compiled passes: ...
    """
    print(f"skbackprop: {__version__}")
    print(f"hidden-layer loops: {_loops_line()}")
    print(f"compiled passes: {_passes_line()}")
    print(f"python: {sys.version.split()[0]} ({sys.executable})")
    print(f"platform: {platform.platform()}")
    for name in _DEPENDENCIES:
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "not installed"
        print(f"{name}: {installed}")
    for library in threadpool_info():
        if library.get("user_api") == "blas":
            print(
                f"blas: {library.get('internal_api')} {library.get('version')}, "
                f"{library.get('num_threads')} threads, "
                f"{library.get('architecture')} ({library.get('filepath')})"
            )
