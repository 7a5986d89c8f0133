"""The compiled code, when it was built, and its NumPy fallbacks.

Two levels, both in ``skbackprop._ckernels`` (``_ckernels.c``, with the
passes in ``_cpass.h``): the hidden layer's elementwise loops below, and,
for σ hidden units, whole passes in one call each (:func:`gradient_sums`,
:func:`predict_logits`, :func:`descent_step`, :func:`minibatch_epoch`),
whose matrix products go through SciPy's BLAS. Each function here takes
the compiled path when the arrays suit it and otherwise returns None (or
runs NumPy), and the caller runs ``_network``'s NumPy code, the reference.

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
import math
import os

import numpy as np

try:
    from . import _ckernels
except ImportError:  # built without a C compiler: the NumPy loops below
    _ckernels = None

__all__ = [
    "backend",
    "use_compiled",
    "sigmoid",
    "bias_sigmoid",
    "sigmoid_backward",
    "softmax_proba",
    "gradient_sums",
    "predict_logits",
    "descent_step",
    "minibatch_epoch",
    "minibatch_parts",
    "new_team",
    "team_help",
    "team_stop",
]

#: The output activations the compiled pass knows, numbered as in _ckernels.c.
OUTPUT_KINDS = {"sigmoid": 0, "softmax": 1, "identity": 2}
_INT_MAX = 2**31 - 1  # Fortran BLAS's int

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


def softmax_proba(Z, eps):
    """Z ← the softmax of each row of Z (m × k), in place; returns Z.

    A row with a probability below ``eps`` has each of them raised to
    ``eps`` and is divided by its new sum, so that every probability stays
    at least about ``eps`` and rows sum to 1. The same numbers, to rounding,
    as ``np.exp(_network.log_softmax(Z))`` with that clipping done in log
    space, which is how ``predict_log_proba`` computes them; here in one
    compiled pass over the rows (the NumPy version below takes six passes
    over Z, the log-space route a dozen, with temporaries of Z's size).

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._kernels import softmax_proba
    >>> p = softmax_proba(np.array([[0.0, np.log(3.0)], [-50.0, 50.0]]), 1e-6)
    >>> p[0].tolist()
    [0.25, 0.75]
    >>> p[1].round(12).tolist()  # e^-100 raised to 1e-6, the row renormalised
    [9.99999e-07, 0.999999000001]
    """
    m, k = Z.shape
    if k >= 1 and Z.flags.writeable and _compiled_for(Z):
        _ckernels.softmax(Z, m, k, eps, Z.dtype == np.float64)
        return Z
    with np.errstate(over="ignore", under="ignore"):
        Z -= Z.max(axis=1, keepdims=True)
        np.exp(Z, out=Z)
    Z /= Z.sum(axis=1, keepdims=True)
    low = np.flatnonzero((Z < eps).any(axis=1))
    if low.size:
        rows = np.maximum(Z[low], eps)
        rows /= rows.sum(axis=1, keepdims=True)
        Z[low] = rows
    return Z


def _compiled_pass_for(arrays, sizes):
    # The compiled passes call SciPy's BLAS with 32-bit sizes.
    return (
        _ckernels is not None
        and _ckernels.BLAS
        and max(sizes) <= _INT_MAX
        and _compiled_for(*arrays)
    )


#: Bytes of hidden activations per block of the compiled passes. Without
#: Python's cost per block, smaller blocks than ``_network.block_rows``'s are
#: faster: the block's activations and their gradient then stay in a core's
#: L2 cache (``benchmarks/bench_kernels.py`` times half and twice the size).
COMPILED_BLOCK_BYTES = 128 * 1024
#: The fewest rows per block of the compiled passes.
COMPILED_BLOCK_ROWS = 256


def compiled_block_rows(hidden_size, dtype, limit):
    """Rows per block of the compiled passes, at most ``limit`` (the workspace's).

    The power of two whose m × h activations come closest to
    :data:`COMPILED_BLOCK_BYTES`, at least :data:`COMPILED_BLOCK_ROWS`. Like
    ``_network.block_rows`` it depends on the shape and dtype only.

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._kernels import compiled_block_rows
    >>> [compiled_block_rows(h, np.float64, 4096) for h in (16, 64, 256)]
    [1024, 256, 256]
    """
    target = COMPILED_BLOCK_BYTES / (max(hidden_size, 1) * np.dtype(dtype).itemsize)
    rows = 2 ** round(math.log2(max(target, 1.0)))
    return int(min(max(rows, COMPILED_BLOCK_ROWS), limit))


def gradient_sums(X, Y, params, sums, workspace, out_activation, sample_weight, rows=None):
    """``_network.gradient_sums`` for σ hidden units, compiled; None if it cannot.

    One C call runs the whole blocked pass (both matrix products through
    SciPy's BLAS, σ and its derivative by the loops above, the loss and the
    output error) with the GIL released. It takes C-ordered arrays of one
    float dtype; for anything else it returns None and the caller runs the
    NumPy pass, which computes the same numbers. With ``rows`` (int64 row
    numbers) the pass is over those rows of X, Y and sample_weight, each
    block gathered into ``workspace.gathered``'s buffers.
    """
    if X.ndim != 2 or out_activation not in OUTPUT_KINDS:
        return None
    arrays = [X, Y, *params, *sums]
    if sample_weight is not None:
        arrays.append(sample_weight)
    if rows is not None:
        if rows.ndim != 1:
            return None
        rows = np.ascontiguousarray(rows, dtype=np.int64)  # as C reads it
    x_rows, n = X.shape
    m = x_rows if rows is None else rows.shape[0]  # the rows passed over
    h, k = params.W2.shape
    if (
        Y.shape != (x_rows, k)
        or workspace.dtype != X.dtype
        or not _compiled_pass_for(arrays, (n, h, k, workspace.rows))
    ):
        return None
    # The workspace's buffers (of X's dtype, C-ordered), made only now that
    # the pass will run, for its blocks.
    block = compiled_block_rows(h, X.dtype, workspace.rows)
    activations = workspace.activations(block)
    gathered = (None, None, None) if rows is None else workspace.gathered(block)
    return _ckernels.gradient_sums(
        X,
        Y,
        sample_weight,
        *params,
        *sums,
        *activations,
        m,
        n,
        h,
        k,
        block,
        OUTPUT_KINDS[out_activation],
        X.dtype == np.float64,
        x_rows,
        rows,
        *gathered,
    )


def predict_logits(X, params, out, workspace):
    """``_network.predict_logits_into`` for σ hidden units, compiled.

    Returns whether all of ``X · W1`` was finite, which it is exactly when X
    is (a non-finite entry of X makes its row of ``X · W1`` non-finite), or
    None, having done nothing, when the arrays do not suit the C pass.
    """
    m, n = X.shape
    h, k = params.W2.shape
    if (
        out.shape != (m, k)
        or workspace.dtype != X.dtype
        or not _compiled_pass_for([X, *params, out], (n, h, k, workspace.rows))
    ):
        return None
    block = compiled_block_rows(h, X.dtype, workspace.rows)
    A1 = workspace.activations(block)[0]
    return _ckernels.predict_logits(
        X, *params, A1, out, m, n, h, k, block, X.dtype == np.float64
    )


def descent_step(params, grads, velocities, alpha, momentum=0.0, nesterov=False):
    """``_network.gradient_step`` (``momentum=0``) or ``momentum_step``, in place.

    The C loop does the same operations in the same order and precision,
    one pass per array instead of two or four NumPy calls: the same numbers
    to the last bit (the tests check it).
    """
    arrays = [*params, *grads] + ([*velocities] if momentum else [])
    if _compiled_for(*arrays):
        _ckernels.descent_step(
            tuple(params),
            tuple(grads),
            tuple(velocities) if momentum else None,
            alpha,
            momentum,
            nesterov,
            params.W1.dtype == np.float64,
        )
        return params
    from ._network import gradient_step, momentum_step

    if momentum:
        return momentum_step(params, grads, velocities, alpha, momentum, nesterov)
    return gradient_step(params, grads, alpha)


#: The fewest rows in a part of a mini-batch (see :func:`minibatch_parts`).
MINIBATCH_PART_ROWS = 100
#: The most parts a mini-batch is cut into.
MINIBATCH_MAX_PARTS = 8


def minibatch_parts(batch_rows):
    """How many parts the compiled epoch cuts a batch of ``batch_rows`` rows into.

    The parts' gradient sums are computed separately, on as many threads as
    :func:`minibatch_epoch` is given, and added in part order, so the model
    is the same on any number of threads. The count is the largest power of
    two (even shares for 2, 4 or 8 threads) that leaves each part at least
    :data:`MINIBATCH_PART_ROWS` rows, at most :data:`MINIBATCH_MAX_PARTS`;
    it depends on the batch's size only. The C code computes the same.

    Examples
    --------
    >>> from skbackprop._kernels import minibatch_parts
    >>> [minibatch_parts(rows) for rows in (32, 199, 200, 399, 400, 5000)]
    [1, 1, 2, 2, 4, 8]
    """
    parts = 1
    while parts * 2 <= MINIBATCH_MAX_PARTS and batch_rows // (parts * 2) >= (
        MINIBATCH_PART_ROWS
    ):
        parts *= 2
    return parts


def new_team():
    """A team for :func:`minibatch_epoch`, or None when the build has none.

    Each helper thread runs :func:`team_help`, doing parts of the epoch's
    batches until :func:`team_stop`.
    """
    if _ckernels is None or not _ckernels.TEAM:
        return None
    return _ckernels.team_new()


def team_help(team):
    """Do parts of ``team``'s batches until :func:`team_stop` (a helper thread's task)."""
    _ckernels.team_help(team)


def team_stop(team):
    """Let ``team``'s helpers return, once its epoch is over."""
    _ckernels.team_stop(team)


def minibatch_epoch(
    X,
    Y,
    sample_weight,
    order,
    batch_size,
    params,
    velocities,
    hyper,
    out_activation,
    workspace,
    sums,
    batch_buffers,
    team=None,
):
    """One epoch of mini-batch gradient descent in one compiled call, or None.

    The whole of ``_base``'s mini-batch loop for σ hidden units: gather each
    batch's rows (``order``: the row numbers of X trained on, in turn, which
    may be a subset of X's rows; None for all rows, in consecutive batches),
    its loss and gradients by :func:`gradient_sums`'s pass,
    ``finish_gradients`` and :func:`descent_step`, with the GIL released
    (taken back every 256 batches so that Ctrl-C still interrupts). For a
    batch of 200 rows Python's own cost per batch was as large as the
    arithmetic.

    Each batch is cut into :func:`minibatch_parts` parts. With a ``team``
    (:func:`new_team`) whose helpers run on other threads, this thread and
    the helpers share each batch's parts; this thread never waits for a
    helper to start, so the epoch runs even if none does. Without one, this
    thread does every part. Either way the numbers are the same.

    ``hyper`` is ``(alpha, momentum, nesterov, l2)``. Returns ``(losses,
    weights)``, float64 arrays with one entry per batch done: its loss before
    its step and its size or weight sum (0 for a skipped batch of weight 0).
    The epoch stops after a batch whose loss is not finite. Returns None,
    having done nothing, when the arrays do not suit the C pass.
    """
    alpha, momentum, nesterov, l2 = hyper
    x_rows, n = X.shape
    m = x_rows if order is None else order.shape[0]  # the rows trained on
    h, k = params.W2.shape
    X_buffer, Y_buffer, w_buffer = batch_buffers
    arrays = [X, Y, *params, *sums]
    arrays += [] if sample_weight is None else [sample_weight]
    arrays += [] if order is None else [X_buffer, Y_buffer]
    arrays += [] if order is None or sample_weight is None else [w_buffer]
    arrays += [*velocities] if momentum else []
    if (
        out_activation not in OUTPUT_KINDS
        or Y.shape != (x_rows, k)
        or workspace.dtype != X.dtype
        or not _compiled_pass_for(arrays, (n, h, k, workspace.rows, batch_size))
        or not (
            order is None
            or (order.dtype == np.int64 and order.ndim == 1 and order.flags.c_contiguous)
        )
    ):
        return None
    block = compiled_block_rows(h, X.dtype, workspace.rows)
    activations = workspace.activations(block)
    n_batches = -(-m // batch_size)
    losses = np.empty(n_batches)
    weights = np.empty(n_batches)
    done = _ckernels.minibatch_epoch(
        X,
        Y,
        sample_weight,
        order,
        tuple(params),
        tuple(sums),
        tuple(velocities),
        *activations,
        X_buffer,
        Y_buffer,
        w_buffer,
        losses,
        weights,
        m,
        x_rows,
        n,
        h,
        k,
        batch_size,
        block,
        OUTPUT_KINDS[out_activation],
        alpha,
        nesterov,
        X.dtype == np.float64,
        l2,
        momentum,
        MINIBATCH_PART_ROWS,
        MINIBATCH_MAX_PARTS,
        team,
    )
    return losses[:done], weights[:done]
