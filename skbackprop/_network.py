"""The tutorial's two-layer network as pure NumPy functions.

Everything the estimators compute about the network lives here: activations
and their derivatives, losses, weight initialisation, forward propagation,
backpropagation and the gradient-descent step. Each function's docstring
carries its formula in the notation of ``math.md`` (rows are samples):

=======  ======  ===============================================
symbol   shape   meaning
=======  ======  ===============================================
``X``    m × n   inputs
``Y``    m × k   targets (0/1 indicators, or real values)
``W1``   n × h   weights into the hidden layer
``b1``   h       biases of the hidden layer
``W2``   h × k   weights into the output layer
``b2``   k       biases of the output layer
``α``            learning rate (``alpha``)
=======  ======  ===============================================

This module imports nothing from the rest of the package but
:mod:`skbackprop._kernels` (compiled versions of two of its elementwise
loops, with NumPy fallbacks) and keeps no state:
arrays come in, arrays go out. Functions that take ``out`` buffers or update
parameters in place say so; all others leave their arguments untouched.
"""

import math
from typing import NamedTuple

import numpy as np
from scipy.special import xlogy

from . import _kernels

__all__ = [
    "Params",
    "sigmoid",
    "sigmoid_derivative",
    "tanh",
    "tanh_derivative",
    "relu",
    "relu_derivative",
    "identity",
    "softmax",
    "log_softmax",
    "HIDDEN_ACTIVATIONS",
    "OUTPUT_ACTIVATIONS",
    "binary_log_loss",
    "categorical_log_loss",
    "squared_loss",
    "LOSSES",
    "init_params",
    "forward",
    "output_logits",
    "loss",
    "backward",
    "gradient_step",
    "momentum_step",
    "PredictionWorkspace",
    "Workspace",
    "block_rows",
    "block_gradient_sums",
    "gradient_sums",
    "finish_gradients",
    "loss_and_gradients",
    "predict_logits_into",
]


class Params(NamedTuple):
    """The four parameter arrays of the network, or their gradients.

    Attributes
    ----------
    W1 : ndarray of shape (n, h)
    b1 : ndarray of shape (h,)
    W2 : ndarray of shape (h, k)
    b2 : ndarray of shape (k,)
    """

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray


# ---------------------------------------------------------------------------
# Activations. Each derivative is written in terms of the activation's
# *output* a = f(z), which is what the forward pass keeps: the backward pass
# then needs no copy of Z1.
# ---------------------------------------------------------------------------


def sigmoid(z, out=None):
    """σ(z) = 1 / (1 + e^(−z)), computed without overflow.

    The formula as ``math.md`` writes it, evaluated with NumPy's vectorised
    ``exp``. For z < −709 (float64) e^(−z) overflows to +∞ and σ(z) comes out
    as exactly 0, its correct rounding; the overflow is expected, so it is not
    reported. The blocked passes below evaluate σ through
    :mod:`skbackprop._kernels` instead (one compiled pass, same numbers to a
    few units in the last place).

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import sigmoid
    >>> sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    array([0. , 0.5, 1. ])
    """
    out = np.negative(z, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def sigmoid_derivative(a):
    """σ'(z) = σ(z)(1 − σ(z)), given ``a = σ(z)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import sigmoid_derivative
    >>> sigmoid_derivative(np.array([0.5]))
    array([0.25])
    """
    return a * (1 - a)


def tanh(z, out=None):
    """tanh(z) = (e^z − e^(−z)) / (e^z + e^(−z)).

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import tanh
    >>> tanh(np.array([0.0]))
    array([0.])
    """
    return np.tanh(z, out=out)


def tanh_derivative(a):
    """tanh'(z) = 1 − tanh(z)², given ``a = tanh(z)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import tanh_derivative
    >>> tanh_derivative(np.array([0.0]))
    array([1.])
    """
    return 1 - a * a


def relu(z, out=None):
    """relu(z) = max(z, 0).

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import relu
    >>> relu(np.array([-2.0, 3.0]))
    array([0., 3.])
    """
    return np.maximum(z, 0, out=out)


def relu_derivative(a):
    """relu'(z) = 1 where z > 0, else 0, given ``a = relu(z)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import relu_derivative
    >>> relu_derivative(np.array([0.0, 3.0]))
    array([0., 1.])
    """
    return (a > 0).astype(a.dtype)


def identity(z, out=None):
    """The identity, the output activation of regression: g(z) = z.

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import identity
    >>> identity(np.array([-2.0, 3.0]))
    array([-2.,  3.])
    """
    if out is None or out is z:
        return z
    np.copyto(out, z)
    return out


def softmax(z, out=None):
    """Softmax over each row: a_ij = e^(z_ij) / Σ_j' e^(z_ij').

    The row maximum is subtracted first so that ``exp`` cannot overflow.

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import softmax
    >>> softmax(np.array([[0.0, 0.0], [1000.0, 0.0]]))
    array([[0.5, 0.5],
           [1. , 0. ]])
    """
    with np.errstate(over="ignore"):  # a row spanning more than the dtype's range
        out = np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def log_softmax(z):
    """log softmax(z) per row, finite for any finite z.

    Where a row's entries differ by more than the dtype's range, the true
    value is below the most negative finite number, which is returned.

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import log_softmax
    >>> log_softmax(np.array([[1000.0, 0.0]]))
    array([[    0., -1000.]])
    """
    with np.errstate(over="ignore"):
        shifted = z - z.max(axis=1, keepdims=True)
    np.maximum(shifted, np.finfo(shifted.dtype).min, out=shifted)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


#: Hidden-layer activations: name → (f, f' in terms of a = f(z)).
HIDDEN_ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_derivative),
    "tanh": (tanh, tanh_derivative),
    "relu": (relu, relu_derivative),
}

#: Output activations g: name → function.
OUTPUT_ACTIVATIONS = {
    "sigmoid": sigmoid,
    "softmax": softmax,
    "identity": identity,
}


# ---------------------------------------------------------------------------
# Losses: sums over samples, each sample's term multiplied by its weight.
# The estimators divide by Σ s (or m), so that blocks of rows can be summed
# before dividing once.
# ---------------------------------------------------------------------------


def _clip_probabilities(A):
    # Logs are taken on values kept away from 0 and 1 by the dtype's machine
    # epsilon, so the loss is finite for any finite input (math.md).
    eps = np.finfo(A.dtype).eps
    return np.clip(A, eps, 1 - eps)


def _weighted_sum(per_sample, sample_weight):
    if sample_weight is None:
        return float(per_sample.sum(dtype=np.float64))
    return float(np.dot(sample_weight, per_sample))


def binary_log_loss(Y, A, sample_weight=None):
    """Σ_i s_i Σ_j −[y_ij log a_ij + (1 − y_ij) log(1 − a_ij)].

    The loss of sigmoid outputs (binary and multilabel classification),
    *summed* over samples; divide by m (or Σ s) for math.md's mean.

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import binary_log_loss
    >>> round(binary_log_loss(np.array([[1.0]]), np.array([[0.5]])), 6)
    0.693147
    """
    A = _clip_probabilities(A)
    per_sample = -(xlogy(Y, A) + xlogy(1 - Y, 1 - A)).sum(axis=1)
    return _weighted_sum(per_sample, sample_weight)


def categorical_log_loss(Y, A, sample_weight=None):
    """Σ_i s_i Σ_j −y_ij log a_ij.

    The loss of softmax outputs (multiclass classification), *summed* over
    samples; divide by m (or Σ s) for math.md's mean.

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import categorical_log_loss
    >>> round(categorical_log_loss(np.array([[0.0, 1.0]]), np.array([[0.5, 0.5]])), 6)
    0.693147
    """
    A = _clip_probabilities(A)
    per_sample = -xlogy(Y, A).sum(axis=1)
    return _weighted_sum(per_sample, sample_weight)


def squared_loss(Y, A, sample_weight=None):
    """Σ_i s_i Σ_j ½ (a_ij − y_ij)².

    The loss of identity outputs (regression), *summed* over samples; divide
    by m (or Σ s) for math.md's mean.

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import squared_loss
    >>> squared_loss(np.array([[1.0], [0.0]]), np.array([[3.0], [0.0]]))
    2.0
    """
    diff = A - Y
    per_sample = 0.5 * np.einsum("ij,ij->i", diff, diff)
    return _weighted_sum(per_sample, sample_weight)


#: The loss paired with each output activation (math.md's table).
LOSSES = {
    "sigmoid": binary_log_loss,
    "softmax": categorical_log_loss,
    "identity": squared_loss,
}


# ---------------------------------------------------------------------------
# The network.
# ---------------------------------------------------------------------------


def init_params(n_features, hidden_size, n_outputs, random_state, dtype=np.float64):
    """Draw initial weights and biases, Glorot-uniform.

    Every entry of ``W1, b1`` is drawn from U(−r1, r1) and every entry of
    ``W2, b2`` from U(−r2, r2), where r = √(6 / (fan_in + fan_out)) (Glorot &
    Bengio, 2010), as in scikit-learn's ``MLPClassifier`` for tanh and relu.
    For sigmoid units ``MLPClassifier`` uses √(2 / (fan_in + fan_out)); we use
    the same bound for every activation so that a model depends on
    ``random_state`` alone. Values are drawn in float64 in the order W1, b1,
    W2, b2, then cast to ``dtype``, so float32 and float64 fits start from the
    same point.

    Parameters
    ----------
    n_features, hidden_size, n_outputs : int
        n, h and k.
    random_state : numpy.random.RandomState
        The only source of randomness.
    dtype : numpy dtype, default=np.float64

    Returns
    -------
    params : Params

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import init_params
    >>> p = init_params(2, 3, 1, np.random.RandomState(0))
    >>> [a.shape for a in p]
    [(2, 3), (3,), (3, 1), (1,)]
    """
    bound1 = np.sqrt(6.0 / (n_features + hidden_size))
    bound2 = np.sqrt(6.0 / (hidden_size + n_outputs))
    W1 = random_state.uniform(-bound1, bound1, (n_features, hidden_size))
    b1 = random_state.uniform(-bound1, bound1, hidden_size)
    W2 = random_state.uniform(-bound2, bound2, (hidden_size, n_outputs))
    b2 = random_state.uniform(-bound2, bound2, n_outputs)
    return Params(*(np.asarray(a, dtype=dtype) for a in (W1, b1, W2, b2)))


def forward(X, params, activation="sigmoid", out_activation="sigmoid", *, keep_z=False):
    """Forward propagation.

    ::

        Z1 = X · W1 + b1
        A1 = f(Z1)          f = σ for the tutorial's network
        Z2 = A1 · W2 + b2
        A2 = g(Z2)

    Z1 and Z2 are computed in the buffers that become A1 and A2, unless
    ``keep_z`` asks for them too.

    Parameters
    ----------
    X : ndarray of shape (m, n)
    params : Params
    activation : {"sigmoid", "tanh", "relu"}
        The hidden layer's f.
    out_activation : {"sigmoid", "softmax", "identity"}
        The output layer's g.
    keep_z : bool, default=False
        Also return Z1 and Z2 (as ``Z1, A1, Z2, A2``).

    Returns
    -------
    A1 : ndarray of shape (m, h)
    A2 : ndarray of shape (m, k)

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import Params, forward
    >>> p = Params(np.zeros((2, 3)), np.zeros(3), np.ones((3, 1)), np.zeros(1))
    >>> A1, A2 = forward(np.ones((1, 2)), p, out_activation="identity")
    >>> A1, A2
    (array([[0.5, 0.5, 0.5]]), array([[1.5]]))
    """
    W1, b1, W2, b2 = params
    f, _ = HIDDEN_ACTIVATIONS[activation]
    g = OUTPUT_ACTIVATIONS[out_activation]
    Z1 = X @ W1
    Z1 += b1
    A1 = f(Z1, out=None if keep_z else Z1)
    Z2 = A1 @ W2
    Z2 += b2
    A2 = g(Z2, out=None if keep_z else Z2)
    return (Z1, A1, Z2, A2) if keep_z else (A1, A2)


def output_logits(X, params, activation="sigmoid"):
    """Z2 = f(X · W1 + b1) · W2 + b2, the output layer before g.

    The classifier's ``decision_function``; ``predict_log_proba`` is computed
    from it so that it is never −∞.

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import Params, output_logits
    >>> p = Params(np.zeros((2, 3)), np.zeros(3), np.ones((3, 1)), np.zeros(1))
    >>> output_logits(np.ones((1, 2)), p)
    array([[1.5]])
    """
    _, Z2 = forward(X, params, activation, "identity")
    return Z2


def loss(Y, A2, out_activation, sample_weight=None, l2=0.0, params=None):
    """The training loss L of math.md, a mean over the batch.

    ::

        L = (1/m) Σ_i ℓ(y_i, a_i) + (λ / (2m)) (‖W1‖² + ‖W2‖²)

    with ℓ the loss paired with ``out_activation``; with sample weights s,
    ``1/m`` becomes ``1/Σ s`` and ``Σ_i`` becomes ``Σ_i s_i``.

    Parameters
    ----------
    Y, A2 : ndarray of shape (m, k)
        Targets and the network's output A2 = g(Z2).
    out_activation : {"sigmoid", "softmax", "identity"}
    sample_weight : ndarray of shape (m,), default=None
    l2 : float, default=0.0
        λ, the L2 penalty on the weights (not the biases).
    params : Params, default=None
        Needed only when ``l2 > 0``.

    Returns
    -------
    loss : float

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import loss
    >>> loss(np.array([[1.0], [0.0]]), np.array([[3.0], [0.0]]), "identity")
    1.0
    """
    total = LOSSES[out_activation](Y, A2, sample_weight)
    m = (
        Y.shape[0]
        if sample_weight is None
        else float(np.sum(sample_weight, dtype=np.float64))
    )
    if l2:
        total += 0.5 * l2 * (_squared_norm(params.W1) + _squared_norm(params.W2))
    return total / m


def _squared_norm(W):
    W = W.ravel()
    return float(np.dot(W, W))


def backward(
    X,
    Y,
    A1,
    A2,
    params,
    activation="sigmoid",
    sample_weight=None,
    l2=0.0,
    *,
    return_errors=False,
):
    """Backpropagation: the gradient of :func:`loss` with respect to each parameter.

    ::

        dZ2 = (A2 − Y) / m                 with weights: s_i (a_i − y_i) / Σ s
        dW2 = A1ᵀ · dZ2  (+ (λ/m) W2)
        db2 = Σ_rows dZ2
        dA1 = dZ2 · W2ᵀ
        dZ1 = dA1 ⊙ f'(Z1)                 f'(Z1) = A1 ⊙ (1 − A1) for σ
        dW1 = Xᵀ · dZ1   (+ (λ/m) W1)
        db1 = Σ_rows dZ1

    The output error is ``A2 − Y`` for all three pairs of output activation
    and loss (sigmoid with binary log loss, softmax with categorical log loss,
    identity with squared loss), so ``out_activation`` is not needed here.

    Parameters
    ----------
    X : ndarray of shape (m, n)
    Y : ndarray of shape (m, k)
    A1, A2 : ndarray
        The hidden and output activations of :func:`forward` for X.
    params : Params
    activation : {"sigmoid", "tanh", "relu"}
    sample_weight : ndarray of shape (m,), default=None
    l2 : float, default=0.0

    return_errors : bool, default=False
        Also return the errors of the chain rule, ``(dZ2, dA1, dZ1)``.

    Returns
    -------
    grads : Params
        dW1, db1, dW2, db2.
    errors : tuple of ndarray
        ``(dZ2, dA1, dZ1)``, only with ``return_errors``.

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import Params, forward, backward
    >>> p = Params(np.zeros((1, 1)), np.zeros(1), np.ones((1, 1)), np.zeros(1))
    >>> X, Y = np.ones((1, 1)), np.zeros((1, 1))
    >>> A1, A2 = forward(X, p, out_activation="identity")
    >>> backward(X, Y, A1, A2, p).b2
    array([0.5])
    """
    W1, _, W2, _ = params
    _, f_prime = HIDDEN_ACTIVATIONS[activation]
    if sample_weight is None:
        m = X.shape[0]
        dZ2 = (A2 - Y) / m
    else:
        m = np.sum(sample_weight, dtype=np.float64)
        dZ2 = (A2 - Y) * (sample_weight / m)[:, np.newaxis].astype(A2.dtype, copy=False)
    dW2 = A1.T @ dZ2
    db2 = dZ2.sum(axis=0)
    dA1 = dZ2 @ W2.T
    dZ1 = dA1 * f_prime(A1)
    dW1 = X.T @ dZ1
    db1 = dZ1.sum(axis=0)
    if l2:
        dW2 += (l2 / m) * W2
        dW1 += (l2 / m) * W1
    grads = Params(dW1, db1, dW2, db2)
    return (grads, (dZ2, dA1, dZ1)) if return_errors else grads


def gradient_step(params, grads, alpha):
    """One step of gradient descent, in place: W ← W − α dW, b ← b − α db.

    Parameters
    ----------
    params : Params
        Updated in place.
    grads : Params
    alpha : float
        α, the learning rate.

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import Params, gradient_step
    >>> p = Params(np.ones((1, 1)), np.ones(1), np.ones((1, 1)), np.ones(1))
    >>> g = Params(*(np.full_like(a, 2.0) for a in p))
    >>> gradient_step(p, g, 0.25).W1
    array([[0.5]])
    """
    for param, grad in zip(params, grads, strict=True):
        param -= alpha * grad
    return params


def momentum_step(params, grads, velocities, alpha, momentum, nesterov=False):
    """One step of gradient descent with momentum, in place.

    ::

        v ← μ v − α dW
        W ← W + v                      (classical momentum)
        W ← W + μ v − α dW             (Nesterov's, in the form of
                                        Sutskever et al., 2013)

    With μ = 0 this is :func:`gradient_step`, up to rounding.

    Parameters
    ----------
    params : Params
        Updated in place.
    grads : Params
    velocities : Params
        v, updated in place; zeros before the first step.
    alpha : float
        α, the learning rate.
    momentum : float
        μ.
    nesterov : bool, default=False

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import Params, momentum_step
    >>> p = Params(np.ones((1, 1)), np.ones(1), np.ones((1, 1)), np.ones(1))
    >>> g = Params(*(np.ones_like(a) for a in p))
    >>> v = Params(*(np.zeros_like(a) for a in p))
    >>> momentum_step(p, g, v, 0.5, 0.9).W1
    array([[0.5]])
    """
    for param, grad, velocity in zip(params, grads, velocities, strict=True):
        velocity *= momentum
        velocity -= alpha * grad
        if nesterov:
            param += momentum * velocity - alpha * grad
        else:
            param += velocity
    return params


# ---------------------------------------------------------------------------
# The same computation, fast: blocks of rows and preallocated buffers.
#
# ``forward`` + ``loss`` + ``backward`` above read like the derivation but
# allocate several m × h arrays and read X twice. The functions below compute
# the same numbers (to rounding: only the order of additions differs) one
# block of rows at a time, forward and backward while the block is in cache,
# adding each block's contribution to the gradient sums. Nothing of size
# m × h is ever allocated and X is read once per pass. The tests check them
# against ``backward`` and finite differences.
# ---------------------------------------------------------------------------

#: Bytes of one block's m × h hidden activations: small enough to stay in
#: cache while the block is worked on, large enough that the matrix products
#: run at full speed and Python's per-block overhead stays small. (The
#: compiled pass, which has no such overhead, works in smaller blocks within
#: these: ``_kernels.compiled_block_rows``.)
BLOCK_BYTES = 512 * 1024
#: The fewest and the most rows per block.
BLOCK_ROWS = 512
MAX_BLOCK_ROWS = 4096


def block_rows(hidden_size, dtype):
    """Rows per block for h hidden units in ``dtype``.

    The power of two whose m × h activations come closest to
    :data:`BLOCK_BYTES`, within [:data:`BLOCK_ROWS`, :data:`MAX_BLOCK_ROWS`].
    ``benchmarks/bench_kernels.py`` compared it with fixed 512-row blocks
    (float32 full-batch fits at h = 64 ran 1.16× faster on 2 cores with the
    NumPy pass). It
    depends only on the model's shape and dtype, never on the data or the
    threads, so the grouping of the sums (and the results) does not either.

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import block_rows
    >>> block_rows(64, np.float64), block_rows(64, np.float32), block_rows(256, np.float64)
    (1024, 2048, 512)
    """
    target = BLOCK_BYTES / (max(hidden_size, 1) * np.dtype(dtype).itemsize)
    rows = 2 ** round(math.log2(max(target, 1.0)))
    return int(min(max(rows, BLOCK_ROWS), MAX_BLOCK_ROWS))


# The products below use ``np.dot(..., out=...)`` rather than ``np.matmul``:
# for the thin products of a small output layer (k = 1 for binary targets)
# matmul's ``out=`` path is several times slower than dot's BLAS call.


def _bias_activation(A, b, activation):
    # A ← f(A + b) in place: one compiled pass for σ (see _kernels).
    if activation == "sigmoid":
        _kernels.bias_sigmoid(A, b)
    else:
        A += b
        HIDDEN_ACTIVATIONS[activation][0](A, out=A)


def _bias_output_activation(A, b, out_activation):
    # A ← g(A + b) in place; σ by the same compiled pass as the hidden layer
    # (for a mini-batch of 200 rows, NumPy's version costs more in call
    # overhead than in arithmetic).
    if out_activation == "sigmoid":
        _kernels.bias_sigmoid(A, b)
    else:
        A += b
        OUTPUT_ACTIVATIONS[out_activation](A, out=A)


def _derivative_times_and_sum(D, A, colsum, activation):
    # D ← D ⊙ f'(Z) given A = f(Z), then colsum += Σ_rows D. A may be
    # overwritten (it is not needed any more).
    if activation == "sigmoid":  # D ⊙ A ⊙ (1 − A), one compiled pass
        _kernels.sigmoid_backward(D, A, colsum)
        return
    if activation == "tanh":  # D ⊙ (1 − A²)
        np.multiply(A, A, out=A)
        np.subtract(1, A, out=A)
        D *= A
    else:  # relu: D ⊙ [A > 0]
        D[A <= 0] = 0
    colsum += D.sum(axis=0)


def _block_buffers(buffers, rows, row_shapes, dtype):
    """``buffers`` if they hold ``rows`` rows, else new ones that do.

    Each new buffer has ``rows`` rows of the shape in ``row_shapes`` (``()``
    for a vector). The workspaces below make their buffers this way, on first
    use and again only when a larger block is asked for.
    """
    if buffers is None or buffers[0].shape[0] < rows:
        buffers = tuple(np.empty((rows, *shape), dtype) for shape in row_shapes)
    return buffers


class Workspace:
    """Buffers for one block of up to ``rows`` rows, reused from block to block.

    Each buffer is made on first use, as large as the pass that uses it
    needs: the NumPy pass's blocks have ``rows`` rows, the compiled pass's
    fewer (``_kernels.compiled_block_rows``), and only the NumPy pass uses
    ``dW1`` and ``dW2``. So a fit by the compiled pass holds only the
    buffers of its own blocks, which are never larger than the NumPy pass's
    (a quarter of them at h = 64, half at h = 256), and ``rows`` (the NumPy
    pass's grouping of the sums) stays the same whichever pass runs.

    Parameters
    ----------
    rows, n_features, hidden_size, n_outputs : int
    dtype : numpy dtype

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import Workspace
    >>> workspace = Workspace(512, 64, 100, 10, np.float32)
    >>> [a.shape for a in workspace.activations(128)]
    [(128, 100), (128, 100), (128, 10)]
    >>> workspace.A1.shape, workspace.dW1.shape
    ((512, 100), (64, 100))
    """

    def __init__(self, rows, n_features, hidden_size, n_outputs, dtype):
        self.rows = rows
        self._shape = (n_features, hidden_size, n_outputs)
        self.dtype = np.dtype(dtype)
        self._activations = self._products = self._gathered = None

    @classmethod
    def for_params(cls, rows, params):
        n_features, hidden_size = params.W1.shape
        return cls(rows, n_features, hidden_size, params.W2.shape[1], params.W1.dtype)

    def activations(self, rows=None):
        """A1, D1 (``rows`` × h) and A2 (``rows`` × k): a block's activations.

        ``rows`` defaults to ``self.rows``. The buffers are made on first use
        and again only when a larger block is asked for.
        """
        _, hidden_size, n_outputs = self._shape
        self._activations = _block_buffers(
            self._activations,
            self.rows if rows is None else rows,
            [(hidden_size,), (hidden_size,), (n_outputs,)],
            self.dtype,
        )
        return self._activations

    A1 = property(lambda self: self.activations()[0], doc="The hidden activations' buffer.")
    D1 = property(lambda self: self.activations()[1], doc="The hidden errors' buffer.")
    A2 = property(lambda self: self.activations()[2], doc="The outputs' buffer.")

    def _block_products(self):
        if self._products is None:
            n_features, hidden_size, n_outputs = self._shape
            self._products = (
                np.empty((n_features, hidden_size), self.dtype),
                np.empty((hidden_size, n_outputs), self.dtype),
            )
        return self._products

    dW1 = property(lambda self: self._block_products()[0], doc="A block's Xᵀ · G1.")
    dW2 = property(lambda self: self._block_products()[1], doc="A block's A1ᵀ · G2.")

    def gathered(self, rows=None):
        """Buffers for ``rows`` rows (default ``self.rows``) of X, Y and sample_weight.

        A pass over some rows of X (``gradient_sums``' ``rows``) gathers each
        block of them here, so it holds one block, never a copy of the rows.
        Made on first use (the compiled pass's blocks are smaller than
        ``self.rows``: it asks for fewer rows).
        """
        n_features, _, n_outputs = self._shape
        self._gathered = _block_buffers(
            self._gathered,
            self.rows if rows is None else rows,
            [(n_features,), (n_outputs,), ()],
            self.dtype,
        )
        return self._gathered


class PredictionWorkspace:
    """The one buffer of a prediction: A1, for a block of up to ``rows`` rows.

    All that :func:`predict_logits_into` uses of a :class:`Workspace`,
    without the buffers of the gradients (``dW1`` alone is n_features ×
    hidden_size), which a prediction would allocate for nothing. Made on
    first use, for the compiled pass's smaller blocks when that pass runs.

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import PredictionWorkspace
    >>> workspace = PredictionWorkspace(256, 64, np.float32)
    >>> workspace.activations(128)[0].shape, workspace.A1.shape
    ((128, 64), (256, 64))
    """

    def __init__(self, rows, hidden_size, dtype):
        self.rows = rows
        self._hidden_size = hidden_size
        self.dtype = np.dtype(dtype)
        self._activations = None

    def activations(self, rows=None):
        """``(A1,)`` for blocks of up to ``rows`` rows (default ``self.rows``)."""
        self._activations = _block_buffers(
            self._activations,
            self.rows if rows is None else rows,
            [(self._hidden_size,)],
            self.dtype,
        )
        return self._activations

    A1 = property(lambda self: self.activations()[0], doc="The hidden activations' buffer.")


def zeros_like_params(params):
    """Zero arrays of the parameters' shapes and dtype, for gradient sums."""
    return Params(*(np.zeros_like(a) for a in params))


def block_gradient_sums(
    X,
    Y,
    params,
    sums,
    workspace,
    activation="sigmoid",
    out_activation="sigmoid",
    sample_weight=None,
):
    """Add one block's unnormalised loss and gradient sums; return its loss sum.

    For the rows of the block, with s_i = 1 when unweighted::

        G2 = s ⊙ (A2 − Y)            (the block's rows of m · dZ2)
        sums.W2 += A1ᵀ · G2          sums.b2 += Σ_rows G2
        G1 = (G2 · W2ᵀ) ⊙ f'(Z1)     (the block's rows of m · dZ1)
        sums.W1 += Xᵀ · G1           sums.b1 += Σ_rows G1

    Dividing the sums over all blocks by m (or Σ s), as
    :func:`finish_gradients` does, gives :func:`backward`'s gradients. Every
    step is linear in G2, so blocks can be summed in any grouping — which is
    what lets blocks be processed by several threads or dask workers.

    Parameters
    ----------
    X : ndarray of shape (r, n), r ≤ workspace.rows
    Y : ndarray of shape (r, k)
    params : Params
    sums : Params
        Gradient sums, updated in place.
    workspace : Workspace
    activation, out_activation : str
    sample_weight : ndarray of shape (r,), default=None

    Returns
    -------
    loss_sum : float
        Σ_i s_i ℓ(y_i, a_i) over the block.
    """
    W1, b1, W2, b2 = params
    rows = X.shape[0]
    A1, D1, A2 = workspace.A1[:rows], workspace.D1[:rows], workspace.A2[:rows]
    np.dot(X, W1, out=A1)
    _bias_activation(A1, b1, activation)
    np.dot(A1, W2, out=A2)
    _bias_output_activation(A2, b2, out_activation)
    loss_sum = LOSSES[out_activation](Y, A2, sample_weight)
    G2 = A2
    G2 -= Y
    if sample_weight is not None:
        G2 *= sample_weight[:, np.newaxis]
    sum_W1, sum_b1, sum_W2, sum_b2 = sums
    sum_W2 += np.dot(A1.T, G2, out=workspace.dW2)
    sum_b2 += G2.sum(axis=0)
    G1 = np.dot(G2, W2.T, out=D1)
    _derivative_times_and_sum(G1, A1, sum_b1, activation)
    sum_W1 += np.dot(X.T, G1, out=workspace.dW1)
    return loss_sum


def finish_gradients(sums, loss_sum, total_weight, params, l2=0.0):
    """Turn gradient sums over a whole batch into :func:`loss` and :func:`backward`.

    ::

        dW = sums.W / m  (+ (λ/m) W)        db = sums.b / m
        L  = loss_sum / m  + (λ / (2m)) (‖W1‖² + ‖W2‖²)

    with m replaced by Σ s when weighted. ``sums`` is scaled in place and
    returned as the gradients.

    Returns
    -------
    loss : float
    grads : Params
    """
    scale = 1.0 / total_weight
    for grad in sums:
        grad *= scale
    loss_value = loss_sum * scale
    if l2:
        dW1, _, dW2, _ = sums
        dW1 += (l2 * scale) * params.W1
        dW2 += (l2 * scale) * params.W2
        loss_value += (
            0.5 * l2 * scale * (_squared_norm(params.W1) + _squared_norm(params.W2))
        )
    return loss_value, sums


def gradient_sums(
    X,
    Y,
    params,
    sums,
    workspace,
    activation="sigmoid",
    out_activation="sigmoid",
    sample_weight=None,
    *,
    rows=None,
):
    """:func:`block_gradient_sums` over all rows of X, one block at a time.

    Adds to ``sums`` in place and returns the loss sum; the rows' blocks are
    ``workspace.rows`` long. The single-machine pass, its threads' chunks and
    dask's blocks all go through this function. With ``rows`` (int64 row
    numbers) the pass is over those rows of X, Y and sample_weight, in that
    order, each block gathered into ``workspace.gathered()``: the same sums
    as over the copies ``X[rows]``, ``Y[rows]``, without making them.
    """
    if activation == "sigmoid":
        loss_sum = _kernels.gradient_sums(
            X, Y, params, sums, workspace, out_activation, sample_weight, rows
        )
        if loss_sum is not None:  # the compiled pass ran
            return loss_sum
    loss_sum = 0.0
    n_rows = X.shape[0] if rows is None else rows.shape[0]
    for start in range(0, n_rows, workspace.rows):
        block = slice(start, start + workspace.rows)
        if rows is None:
            X_block, Y_block = X[block], Y[block]
            w_block = None if sample_weight is None else sample_weight[block]
        else:
            block_rows = rows[block]
            r = block_rows.shape[0]
            X_buffer, Y_buffer, w_buffer = workspace.gathered()
            X_block = _take_rows_into(X, block_rows, X_buffer[:r])
            Y_block = _take_rows_into(Y, block_rows, Y_buffer[:r])
            w_block = (
                None
                if sample_weight is None
                else _take_rows_into(sample_weight, block_rows, w_buffer[:r])
            )
        loss_sum += block_gradient_sums(
            X_block,
            Y_block,
            params,
            sums,
            workspace,
            activation,
            out_activation,
            w_block,
        )
    return loss_sum


def _take_rows_into(a, rows, out):
    """out ← a[rows], rows along the first axis; returns out."""
    if a.flags.c_contiguous:
        return np.take(a, rows, axis=0, out=out)
    # np.take copies the whole of a non-contiguous array first, every call.
    out[...] = a[rows]
    return out


def loss_and_gradients(
    X,
    Y,
    params,
    activation="sigmoid",
    out_activation="sigmoid",
    sample_weight=None,
    l2=0.0,
    *,
    workspace=None,
    sums=None,
    rows=None,
):
    """:func:`loss` and :func:`backward` in one blocked pass over the rows of X.

    Equal to ``forward`` → ``loss`` → ``backward`` up to rounding, without
    allocating any array of size m × h.

    Parameters
    ----------
    X : ndarray of shape (m, n)
    Y : ndarray of shape (m, k)
    params : Params
    activation, out_activation : str
    sample_weight : ndarray of shape (m,), default=None
    l2 : float, default=0.0
    workspace : Workspace, default=None
        Reused buffers; allocated for :func:`block_rows` rows when None.
    sums : Params, default=None
        Buffers for the gradients (overwritten); allocated when None.
    rows : ndarray of int64, default=None
        Only these rows of X, Y and sample_weight, in this order (as if given
        ``X[rows]``, ``Y[rows]``, without copying them); None: all rows.

    Returns
    -------
    loss : float
    grads : Params

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._network import init_params, forward, backward, loss_and_gradients
    >>> rng = np.random.RandomState(0)
    >>> X, Y = rng.normal(size=(1000, 3)), rng.randint(2, size=(1000, 1)).astype(float)
    >>> p = init_params(3, 4, 1, rng)
    >>> _, fast = loss_and_gradients(X, Y, p)
    >>> A1, A2 = forward(X, p)
    >>> np.allclose(fast.W1, backward(X, Y, A1, A2, p).W1, rtol=1e-12)
    True
    """
    n_rows = X.shape[0] if rows is None else rows.shape[0]
    if workspace is None:
        block = block_rows(params.W1.shape[1], params.W1.dtype)
        workspace = Workspace.for_params(min(block, n_rows), params)
    if sums is None:
        sums = zeros_like_params(params)
    else:
        for grad in sums:
            grad.fill(0)
    loss_sum = gradient_sums(
        X, Y, params, sums, workspace, activation, out_activation, sample_weight, rows=rows
    )
    total_weight = (
        n_rows if sample_weight is None else total_sample_weight(sample_weight, rows)
    )
    return finish_gradients(sums, loss_sum, total_weight, params, l2)


def total_sample_weight(sample_weight, rows=None):
    """The sum of the weights of ``rows`` (None: all rows), in float64.

    Summed as NumPy sums ``sample_weight[rows]``, whose copy it makes: a
    vector, not rows of X.
    """
    chosen = sample_weight if rows is None else sample_weight[rows]
    return float(np.sum(chosen, dtype=np.float64))


def predict_logits_into(X, params, out, workspace, activation="sigmoid"):
    """Z2 = f(X · W1 + b1) · W2 + b2 written into ``out``, one block at a time.

    Parameters
    ----------
    X : ndarray of shape (m, n)
    params : Params
    out : ndarray of shape (m, k)
    workspace : Workspace or PredictionWorkspace
    activation : str

    Returns
    -------
    out : ndarray of shape (m, k)
    """
    if (
        activation == "sigmoid"
        and _kernels.predict_logits(X, params, out, workspace) is not None
    ):
        return out
    W1, b1, W2, b2 = params
    for start in range(0, X.shape[0], workspace.rows):
        stop = min(start + workspace.rows, X.shape[0])
        A1 = workspace.A1[: stop - start]
        np.dot(X[start:stop], W1, out=A1)
        _bias_activation(A1, b1, activation)
        np.dot(A1, W2, out=out[start:stop])
        out[start:stop] += b2
    return out
