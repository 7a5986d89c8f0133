"""Teaching tools: look inside one step of backpropagation.

:func:`check_gradients` compares the gradients of backpropagation with central
finite differences of the loss; :func:`trace_step` returns every intermediate
quantity of one forward pass, one backward pass and one gradient-descent step
in the tutorial's notation (``z1, a1, z2, a2, dz2, dW2, db2, da1, dz1, dW1,
db1``). Both compute in float64 with the functions of
:mod:`skbackprop._network`, at the parameters of a fitted estimator or, for
an unfitted one, at the initial parameters its ``fit`` would start from.
"""

import copy
from numbers import Real
from typing import NamedTuple

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import validate_data

from . import _network
from ._base import BaseBackprop, _check_sample_weight, _column_or_1d_if_single

__all__ = ["GradientCheck", "StepTrace", "check_gradients", "trace_step"]


class GradientCheck(NamedTuple):
    """Relative error of backpropagation's gradient, per parameter array.

    Each field is ``‖g_bp − g_fd‖ / (‖g_bp‖ + ‖g_fd‖)`` for that array, with
    ``g_bp`` the gradient from backpropagation, ``g_fd`` the one from central
    finite differences and ``‖·‖`` the Euclidean norm over all its entries
    (0.0 when both are zero). ``max(check)`` is the worst of the four.

    Attributes
    ----------
    W1, b1, W2, b2 : float
    """

    W1: float
    b1: float
    W2: float
    b2: float


class StepTrace(NamedTuple):
    """Every quantity of one step of backpropagation, in the tutorial's notation.

    Rows are samples; m is the number of rows of ``X``, n its columns, h the
    hidden size and k the number of outputs.

    Attributes
    ----------
    X : ndarray of shape (m, n)
        The inputs, as float64.
    Y : ndarray of shape (m, k)
        The encoded targets (0/1 indicators for classes).
    sample_weight : ndarray of shape (m,) or None
        The weights of the loss, ``class_weight`` included.
    params : Params
        W1, b1, W2, b2 before the step.
    z1 : ndarray of shape (m, h)
        ``X · W1 + b1``.
    a1 : ndarray of shape (m, h)
        ``f(z1)``, the hidden activations (f = σ for the tutorial).
    z2 : ndarray of shape (m, k)
        ``a1 · W2 + b2``.
    a2 : ndarray of shape (m, k)
        ``g(z2)``, the outputs.
    loss : float
        The loss L at ``params``.
    dz2 : ndarray of shape (m, k)
        ``(a2 − Y) / m``, or ``s_i (a2_i − Y_i) / Σ s`` with sample weights.
    dW2 : ndarray of shape (h, k)
        ``a1ᵀ · dz2`` (+ ``(λ/m) W2`` with an L2 penalty).
    db2 : ndarray of shape (k,)
        The column sums of ``dz2``.
    da1 : ndarray of shape (m, h)
        ``dz2 · W2ᵀ``.
    dz1 : ndarray of shape (m, h)
        ``da1 ⊙ f'(z1)``; for σ, ``da1 ⊙ a1 ⊙ (1 − a1)``.
    dW1 : ndarray of shape (n, h)
        ``Xᵀ · dz1`` (+ ``(λ/m) W1`` with an L2 penalty).
    db1 : ndarray of shape (h,)
        The column sums of ``dz1``.
    alpha : float
        α, the learning rate of the step.
    new_params : Params
        ``W − α dW`` and ``b − α db`` for both layers: the parameters after
        one step of gradient descent.
    new_loss : float
        The loss L at ``new_params`` on the same data.
    """

    X: np.ndarray
    Y: np.ndarray
    sample_weight: np.ndarray | None
    params: _network.Params
    z1: np.ndarray
    a1: np.ndarray
    z2: np.ndarray
    a2: np.ndarray
    loss: float
    dz2: np.ndarray
    dW2: np.ndarray
    db2: np.ndarray
    da1: np.ndarray
    dz1: np.ndarray
    dW1: np.ndarray
    db1: np.ndarray
    alpha: float
    new_params: _network.Params
    new_loss: float


def check_gradients(estimator, X, y, *, sample_weight=None, epsilon=1e-6):
    """Compare backpropagation with finite differences of the loss.

    Computes the gradient of the training loss L of ``math.md`` (the loss
    that ``fit`` minimises, with the estimator's target encoding, activation,
    ``l2`` and ``class_weight``) on the whole of ``(X, y)`` in two ways:

    * by backpropagation, :func:`skbackprop._network.backward`;
    * by central finite differences of :func:`skbackprop._network.loss`,
      ``(L(θ + ε) − L(θ − ε)) / (2ε)``, one parameter entry at a time,

    and returns their relative error for each parameter array. Both are
    computed in float64. A correct backpropagation gives errors around 1e-9
    or below; an error near 1 means the two gradients disagree.

    The parameters are those of the fitted estimator (``coefs_`` and
    ``intercepts_``). For an estimator that is not fitted they are the initial
    parameters ``fit`` would start from: drawn with
    :func:`skbackprop._network.init_params` from ``random_state``: for an
    int, exactly those of ``fit``; for a ``RandomState`` instance, a draw
    from a copy of it (the instance is not advanced); for ``None``, a fresh
    random draw. The estimator itself is never modified.

    Finite differences take two forward passes per parameter entry: keep
    ``X`` and ``hidden_size`` small (hundreds of rows, tens of hidden units).
    With ``activation="relu"``, an entry whose perturbation moves a hidden
    unit across 0 for some row has no derivative there, and its error may be
    large.

    Parameters
    ----------
    estimator : BackpropClassifier or BackpropRegressor
        Fitted or not; for a pipeline, pass its last step and transform
        ``X`` with the steps before it.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets, as for ``fit``.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the samples in the loss (multiplied by ``class_weight``).
    epsilon : float, default=1e-6
        ε, the step of the finite differences.

    Returns
    -------
    errors : GradientCheck
        A named tuple of floats ``(W1, b1, W2, b2)``: for each array
        ``‖g_bp − g_fd‖ / (‖g_bp‖ + ‖g_fd‖)``, over all its entries.

    See Also
    --------
    trace_step : Every intermediate quantity of one step.

    Examples
    --------
    The tutorial's 2-3-1 network on XOR, at its initial parameters and after
    training:

    >>> import numpy as np
    >>> from skbackprop import BackpropClassifier, check_gradients
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> y = np.array([0, 1, 1, 0])
    >>> clf = BackpropClassifier(hidden_size=3, batch_size=None, random_state=0)
    >>> errors = check_gradients(clf, X, y)
    >>> errors._fields
    ('W1', 'b1', 'W2', 'b2')
    >>> bool(max(errors) < 1e-6)
    True
    >>> clf = clf.set_params(alpha=2.0, max_iter=5000, tol=1e-6).fit(X, y)
    >>> clf.predict(X)
    array([0, 1, 1, 0])
    >>> bool(max(check_gradients(clf, X, y)) < 1e-6)
    True
    """
    epsilon = _check_positive_float(epsilon, "epsilon")
    setup = _Setup.from_estimator(estimator, X, y, sample_weight)
    params = setup.params
    A1, A2 = _network.forward(setup.X, params, setup.activation, setup.out_activation)
    grads = _network.backward(
        setup.X,
        setup.Y,
        A1,
        A2,
        params,
        setup.activation,
        setup.sample_weight,
        setup.l2,
    )

    def loss_at(params):
        _, A2 = _network.forward(
            setup.X, params, setup.activation, setup.out_activation
        )
        return _network.loss(
            setup.Y, A2, setup.out_activation, setup.sample_weight, setup.l2, params
        )

    errors = []
    with np.errstate(over="ignore"):
        for array, grad in zip(params, grads, strict=True):
            numerical = np.empty_like(array)
            for index in np.ndindex(array.shape):
                saved = array[index]
                array[index] = saved + epsilon
                up = loss_at(params)
                array[index] = saved - epsilon
                down = loss_at(params)
                array[index] = saved
                numerical[index] = (up - down) / (2 * epsilon)
            errors.append(_relative_error(grad, numerical))
    return GradientCheck(*errors)


def trace_step(
    model,
    X,
    y,
    *,
    sample_weight=None,
    alpha=None,
    activation=None,
    out_activation=None,
    l2=None,
):
    """Trace one step of backpropagation in the tutorial's notation.

    Runs forward propagation, the loss, backpropagation and one step of
    gradient descent ``W ← W − α dW`` on the whole of ``(X, y)`` (one
    full-batch epoch, the tutorial's method), and returns every intermediate
    quantity: ``z1, a1, z2, a2, dz2, dW2, db2, da1, dz1, dW1, db1``, the loss
    before and after, and the parameters after the step. The formulas are
    those of ``math.md`` and :func:`skbackprop._network.backward`; the loss
    is :func:`skbackprop._network.loss`. Everything is float64.

    Parameters
    ----------
    model : BackpropClassifier, BackpropRegressor or Params
        An estimator: its fitted parameters, or for an unfitted one the
        initial parameters ``fit`` would start from (see
        :func:`check_gradients`); its target encoding, ``activation``,
        ``alpha``, ``l2`` and ``class_weight``. Or the four parameter arrays
        ``(W1, b1, W2, b2)`` (a :class:`skbackprop._network.Params`, or a
        tuple or list of four arrays): ``y`` is then the target matrix Y itself.
        The model is never modified.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets as for ``fit`` with an estimator; with parameter arrays, the
        encoded targets Y (a 1-D ``y`` is one output column).
    sample_weight : array-like of shape (n_samples,), default=None
    alpha : float, default=None
        α, the learning rate. Defaults to the estimator's ``alpha``; required
        with parameter arrays.
    activation : {"sigmoid", "tanh", "relu"}, default=None
        The hidden activation f, for parameter arrays only (default
        ``"sigmoid"``, the tutorial's); an estimator uses its own.
    out_activation : {"sigmoid", "softmax", "identity"}, default=None
        The output activation g, for parameter arrays only (default
        ``"sigmoid"``); an estimator's follows from its targets.
    l2 : float, default=None
        λ, the L2 penalty. Defaults to the estimator's ``l2``, or 0 with
        parameter arrays.

    Returns
    -------
    trace : StepTrace
        A named tuple with the fields ``X, Y, sample_weight, params, z1, a1,
        z2, a2, loss, dz2, dW2, db2, da1, dz1, dW1, db1, alpha, new_params,
        new_loss``.

    Notes
    -----
    The step is the tutorial's plain gradient descent. An estimator's
    ``momentum`` is not applied (its first classical-momentum step, from
    rest, is the same step).

    See Also
    --------
    check_gradients : Backpropagation against finite differences.

    Examples
    --------
    The worked example of the derivation page: the tutorial's 2-3-1 network
    on XOR, at the initial parameters of ``random_state=0``, one step with
    α = 1.

    >>> import numpy as np
    >>> from skbackprop import BackpropClassifier, trace_step
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> y = np.array([0, 1, 1, 0])
    >>> clf = BackpropClassifier(hidden_size=3, alpha=1.0, random_state=0)
    >>> step = trace_step(clf, X, y)
    >>> step.a2.round(4)
    array([[0.6428],
           [0.6362],
           [0.6561],
           [0.6506]])
    >>> step.dz2.round(4)
    array([[ 0.1607],
           [-0.091 ],
           [-0.086 ],
           [ 0.1627]])
    >>> step.dW2.round(4)
    array([[0.072 ],
           [0.1082],
           [0.1137]])
    >>> step.new_params.b2.round(4)
    array([0.0202])
    >>> round(step.loss, 4), round(step.new_loss, 4)
    (0.7387, 0.7015)

    The same step from the parameter arrays themselves:

    >>> from skbackprop._network import init_params
    >>> params = init_params(2, 3, 1, np.random.RandomState(0))
    >>> same = trace_step(params, X, y, alpha=1.0)
    >>> bool(np.array_equal(same.dW1, step.dW1))
    True
    """
    if isinstance(model, BaseBackprop):
        for name, value in (
            ("activation", activation),
            ("out_activation", out_activation),
        ):
            if value is not None:
                raise ValueError(
                    f"{name} is given, but an estimator uses its own: pass "
                    f"{name} only with parameter arrays."
                )
        setup = _Setup.from_estimator(model, X, y, sample_weight)
        if alpha is None:
            alpha = model.alpha
        if l2 is not None:
            setup.l2 = _check_nonnegative_float(l2, "l2")
    else:
        params = _check_params(model)
        if alpha is None:
            raise ValueError(
                "alpha, the learning rate, is required when model is the "
                "parameter arrays (W1, b1, W2, b2)."
            )
        setup = _Setup.from_params(
            params,
            X,
            y,
            sample_weight,
            activation="sigmoid" if activation is None else activation,
            out_activation="sigmoid" if out_activation is None else out_activation,
            l2=0.0 if l2 is None else l2,
        )
    alpha = _check_positive_float(alpha, "alpha")
    return _trace(setup, alpha)


# ---------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------


class _Setup:
    """Everything a step needs: data, encoded targets, parameters, settings."""

    def __init__(self, X, Y, sample_weight, params, activation, out_activation, l2):
        self.X = X
        self.Y = Y
        self.sample_weight = sample_weight
        self.params = params
        self.activation = activation
        self.out_activation = out_activation
        self.l2 = l2

    @classmethod
    def from_estimator(cls, estimator, X, y, sample_weight):
        if not isinstance(estimator, BaseBackprop):
            raise TypeError(
                "estimator must be a BackpropClassifier or BackpropRegressor, got "
                f"{type(estimator).__name__}. For a pipeline, pass its last step "
                "and transform X with the steps before it."
            )
        estimator._validate_params()
        fitted = hasattr(estimator, "coefs_")
        # Validate as fit does, without touching the estimator: a fitted one
        # checks X against n_features_in_ (reset=False writes nothing); an
        # unfitted one is validated through a clone.
        X, y = validate_data(
            estimator if fitted else clone(estimator),
            X,
            y,
            reset=not fitted,
            dtype=np.float64,
            multi_output=True,
            y_numeric=estimator._y_numeric,
        )
        y = _column_or_1d_if_single(y)
        sample_weight = _check_sample_weight(sample_weight, X)
        if fitted:
            target_attrs = {
                name: getattr(estimator, name)
                for name in ("classes_", "n_outputs_", "out_activation_")
                if hasattr(estimator, name)
            }
        else:
            target_attrs = estimator._target_attrs(y, continuing=False)
        Y = estimator._encode_targets(y, target_attrs).astype(np.float64, copy=False)
        sample_weight = estimator._training_sample_weight(
            y, sample_weight, target_attrs, incremental=False
        )
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if fitted:
            params = _network.Params(
                *(
                    np.array(a, dtype=np.float64, copy=True)
                    for a in estimator._fitted_params()
                )
            )
        else:
            params = _network.init_params(
                X.shape[1],
                estimator.hidden_size,
                target_attrs["n_outputs_"],
                # A RandomState instance is copied, so that it is not advanced.
                check_random_state(copy.deepcopy(estimator.random_state)),
                dtype=np.float64,
            )
        return cls(
            X,
            Y,
            sample_weight,
            params,
            estimator.activation,
            target_attrs["out_activation_"],
            float(estimator.l2),
        )

    @classmethod
    def from_params(
        cls, params, X, y, sample_weight, *, activation, out_activation, l2
    ):
        # params: checked by _check_params.
        if activation not in _network.HIDDEN_ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_network.HIDDEN_ACTIVATIONS)}, "
                f"got {activation!r}."
            )
        if out_activation not in _network.OUTPUT_ACTIVATIONS:
            raise ValueError(
                "out_activation must be one of "
                f"{sorted(_network.OUTPUT_ACTIVATIONS)}, got {out_activation!r}."
            )
        l2 = _check_nonnegative_float(l2, "l2")
        X = check_array(X, dtype=np.float64, input_name="X")
        Y = check_array(y, dtype=np.float64, ensure_2d=False, input_name="y")
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
        n_features, _ = params.W1.shape
        n_outputs = params.W2.shape[1]
        if X.shape[1] != n_features:
            raise ValueError(
                f"X has {X.shape[1]} features, but W1 has {n_features} rows: "
                "W1 must be of shape (n_features, hidden_size)."
            )
        if Y.ndim != 2 or Y.shape != (X.shape[0], n_outputs):
            raise ValueError(
                f"y has shape {Y.shape}; expected ({X.shape[0]}, {n_outputs}): one "
                "row per row of X and one column per output (columns of W2)."
            )
        sample_weight = _check_sample_weight(sample_weight, X)
        return cls(X, Y, sample_weight, params, activation, out_activation, l2)


def _check_params(params):
    """Four finite float64 arrays of consistent shapes, copied."""
    names = ("W1", "b1", "W2", "b2")
    if not isinstance(params, tuple | list) or len(params) != 4:
        raise TypeError(
            "model must be a BackpropClassifier, a BackpropRegressor or the four "
            f"parameter arrays (W1, b1, W2, b2); got {type(params).__name__}. "
            "For a pipeline, pass its last step and transform X with the steps "
            "before it."
        )
    arrays = [
        check_array(a, dtype=np.float64, ensure_2d=False, input_name=name, copy=True)
        for name, a in zip(names, params, strict=True)
    ]
    W1, b1, W2, b2 = arrays
    if W1.ndim != 2 or W2.ndim != 2 or b1.ndim != 1 or b2.ndim != 1:
        raise ValueError(
            "W1 and W2 must be 2-D and b1 and b2 1-D; got shapes "
            f"{[a.shape for a in arrays]}."
        )
    hidden_size, n_outputs = W2.shape
    if (
        W1.shape[1] != hidden_size
        or b1.shape != (hidden_size,)
        or b2.shape != (n_outputs,)
    ):
        raise ValueError(
            "The parameter shapes do not fit together: expected W1 (n, h), b1 (h,), "
            f"W2 (h, k), b2 (k,); got {[a.shape for a in arrays]}."
        )
    return _network.Params(*arrays)


def _check_positive_float(value, name):
    if (
        not isinstance(value, Real)
        or isinstance(value, bool)
        or not np.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
    return float(value)


def _check_nonnegative_float(value, name):
    if (
        not isinstance(value, Real)
        or isinstance(value, bool)
        or not np.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}.")
    return float(value)


def _relative_error(a, b):
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(a - b) / denominator)


def _trace(setup, alpha):
    """One step of math.md with every intermediate value, from _network."""
    X, Y, s, params = setup.X, setup.Y, setup.sample_weight, setup.params
    l2 = setup.l2
    # The math module's own forward and backward passes, asked for their
    # intermediate values: the trace is what fit computes, not a copy of it.
    with np.errstate(over="ignore"):
        z1, a1, z2, a2 = _network.forward(
            X, params, setup.activation, setup.out_activation, keep_z=True
        )
    loss = _network.loss(Y, a2, setup.out_activation, s, l2, params)
    (dW1, db1, dW2, db2), (dz2, da1, dz1) = _network.backward(
        X, Y, a1, a2, params, setup.activation, s, l2, return_errors=True
    )
    new_params = _network.gradient_step(
        _network.Params(*(a.copy() for a in params)),
        _network.Params(dW1, db1, dW2, db2),
        alpha,
    )
    with np.errstate(over="ignore"):
        _, new_a2 = _network.forward(
            X, new_params, setup.activation, setup.out_activation
        )
    new_loss = _network.loss(Y, new_a2, setup.out_activation, s, l2, new_params)
    return StepTrace(
        X=X,
        Y=Y,
        sample_weight=s,
        params=params,
        z1=z1,
        a1=a1,
        z2=z2,
        a2=a2,
        loss=loss,
        dz2=dz2,
        dW2=dW2,
        db2=db2,
        da1=da1,
        dz1=dz1,
        dW1=dW1,
        db1=db1,
        alpha=alpha,
        new_params=new_params,
        new_loss=new_loss,
    )
