"""The hidden layer's elementwise loops: compiled C when it was built.

Two loops over the m × h hidden activations dominate a pass once the matrix
products are as fast as BLAS makes them:

* forward, ``A ← σ(A + b1)`` right after ``A = X · W1``;
* backward, ``D ← D ⊙ A ⊙ (1 − A)`` with the column sums of D (the b1
  gradient).

Each has a NumPy version here, always available, and a C version in
``skbackprop/_ckernels.c`` that does the loop in one pass with a SIMD
exponential. ``pip install`` compiles it when a C compiler is present and
goes on without it otherwise. Both compute the numbers of ``math.md``; they
differ by a few units in the last place, which the tests bound. Set the
environment variable ``SKBACKPROP_COMPILED=0`` to use NumPy only, or call
:func:`use_compiled` (the tests do, to run both paths).

Examples
--------
>>> import numpy as np
>>> from skbackprop import _kernels
>>> A = np.zeros((2, 3))
>>> _kernels.bias_sigmoid(A, np.array([0.0, 100.0, -100.0]))
>>> A.round(6)
array([[0.5, 1. , 0. ],
       [0.5, 1. , 0. ]])
"""

import contextlib
import os

import numpy as np

try:
    from . import _ckernels
except ImportError:  # built without a C compiler: the NumPy loops below
    _ckernels = None

__all__ = ["backend", "use_compiled", "sigmoid", "bias_sigmoid", "sigmoid_backward"]

_enabled = os.environ.get("SKBACKPROP_COMPILED", "1").strip().lower() not in {
    "0",
    "false",
    "no",
    "off",
}


def backend():
    """Which loops are in use: ``"c-avx2"``, ``"c-baseline"`` or ``"numpy"``.

    ``"c-avx2"`` is the C loops compiled for AVX2 with FMA (chosen when the
    CPU has them), ``"c-baseline"`` the same loops for any CPU.

    Examples
    --------
    >>> from skbackprop._kernels import backend
    >>> backend() in {"c-avx2", "c-baseline", "numpy"}
    True
    """
    if _enabled and _ckernels is not None:
        return "c-" + _ckernels.SIMD
    return "numpy"


@contextlib.contextmanager
def use_compiled(enabled):
    """Within the block, use (``True``) or do not use the C loops.

    Process-wide, not thread-local: meant for tests and benchmarks.

    Examples
    --------
    >>> from skbackprop._kernels import use_compiled, backend
    >>> with use_compiled(False):
    ...     backend()
    'numpy'
    """
    global _enabled
    previous, _enabled = _enabled, bool(enabled)
    try:
        yield
    finally:
        _enabled = previous


def _compiled_for(*arrays):
    """True when the C loops are in use and take these arrays as they are."""
    if not _enabled or _ckernels is None:
        return False
    dtype = arrays[0].dtype
    return dtype in (np.float64, np.float32) and all(
        a.dtype == dtype and a.flags.c_contiguous for a in arrays
    )


def _numpy_sigmoid(z, out):
    # σ as _network.sigmoid writes it. Imported here, not at the top:
    # _network imports this module.
    from ._network import sigmoid as formula

    return formula(z, out=out)


def sigmoid(z, out=None):
    """out ← σ(z) for a float array z; returns ``out`` (new when None).

    The loop behind :func:`bias_sigmoid`, for any shape; the tests compare
    it with ``_network.sigmoid``, the formula as written.
    """
    if out is None:
        out = np.empty_like(z)
    if z.shape != out.shape or not _compiled_for(z, out):
        return _numpy_sigmoid(z, out)
    _ckernels.sigmoid(z, out, z.size, z.dtype == np.float64)
    return out


def bias_sigmoid(A, b):
    """A ← σ(A + b) in place, for an (m, h) block A and b of shape (h,)."""
    if A.ndim != 2 or b.shape != A.shape[1:] or not _compiled_for(A, b):
        A += b
        _numpy_sigmoid(A, A)
        return
    _ckernels.bias_sigmoid(A, b, A.shape[0], A.shape[1], A.dtype == np.float64)


def sigmoid_backward(D, A, colsum):
    """D ← D ⊙ A ⊙ (1 − A), then colsum += Σ_rows D.

    ``A`` holds σ(Z1) and may be overwritten; ``colsum`` is updated in place.
    The C loop sums the columns in float64 whatever the dtype.
    """
    if (
        D.ndim != 2
        or A.shape != D.shape
        or colsum.shape != D.shape[1:]
        or not _compiled_for(D, A, colsum)
    ):
        D *= A
        np.subtract(1, A, out=A)
        D *= A
        colsum += D.sum(axis=0)
        return
    _ckernels.sigmoid_backward(
        D, A, colsum, D.shape[0], D.shape[1], D.dtype == np.float64
    )
