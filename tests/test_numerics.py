"""Numbers at the edges: a clear error or a finite, sensible model.

* Features of 1e300, 1e150, 1e-300 or 0, targets of 1e200 or 1e-200, saturated
  sigmoids: ``fit`` either raises a ``ValueError`` that names the problem and
  leaves the estimator unfitted, or gives a model whose parameters, loss curve
  and predictions are finite.
* ``predict_proba`` is never NaN and never exactly 0 or 1, ``predict_log_proba``
  is always finite, however far the input or however large the logits.
* The loss and its gradients (``skbackprop._network``) are finite for any
  finite input in the stated ranges, checked with hypothesis.

The project's pytest configuration turns ``RuntimeWarning`` into an error; the
tests that are about results rather than warnings ignore it explicitly, and
separate tests check that no ``RuntimeWarning`` escapes.
"""

import copy
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import ConvergenceWarning

from skbackprop import BackpropClassifier, BackpropRegressor, _network

ACTIVATIONS = ["sigmoid", "tanh", "relu"]
DIVERGED = (
    r"Training diverged at epoch \d+: the loss .*alpha=.*too large"
    r"|training loss is not finite even before the first step.*too large"
)


def _data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    targets = {
        "binary": (X[:, 0] > 0).astype(int),
        "multiclass": np.arange(60) % 3,
        "multilabel": (X[:, :2] > 0).astype(int),
        "regression": np.sin(X[:, 0]) + 0.5 * X[:, 1],
    }
    return X, targets


X_GOOD, TARGETS = _data()
TARGET_KINDS = list(TARGETS)


def _estimator(target, **params):
    Estimator = BackpropRegressor if target == "regression" else BackpropClassifier
    return Estimator(**{"hidden_size": 4, "max_iter": 20, "random_state": 0, **params})


def _params(est):
    return [*est.coefs_, *est.intercepts_]


def _fit(est, X, y, *, runtime_warnings="ignore"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter(runtime_warnings, RuntimeWarning)
        return est.fit(X, y)


def _assert_sensible_probabilities(est, X):
    proba = est.predict_proba(X)
    log_proba = est.predict_log_proba(X)
    assert not np.isnan(proba).any()
    assert np.all((proba > 0) & (proba < 1)), "a probability is exactly 0 or 1"
    assert np.all(np.isfinite(log_proba))
    np.testing.assert_allclose(np.exp(log_proba), proba, rtol=1e-5)
    if est.out_activation_ == "sigmoid" and est.n_outputs_ > 1:  # multilabel
        np.testing.assert_array_equal(est.predict(X), (proba > 0.5).astype(int))
    else:
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
        np.testing.assert_array_equal(est.predict(X), est.classes_[proba.argmax(axis=1)])


def _assert_finite_model(est, X):
    assert all(np.all(np.isfinite(a)) for a in _params(est))
    assert np.all(np.isfinite(est.loss_curve_))
    if isinstance(est, BackpropClassifier):
        _assert_sensible_probabilities(est, X)
    else:
        assert np.all(np.isfinite(est.predict(X)))


# ---------------------------------------------------------------------------
# Training on extreme features and targets.
# ---------------------------------------------------------------------------

FEATURE_SCALES = [1e300, 1e150, 1e-300, 0.0]


@pytest.mark.parametrize("batch_size", [None, 8])
@pytest.mark.parametrize("scale", FEATURE_SCALES, ids=str)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("target", TARGET_KINDS)
def test_extreme_features_give_a_finite_model_or_a_clear_error(
    target, activation, scale, batch_size
):
    X, y = X_GOOD * scale, TARGETS[target]
    X0 = X.copy()
    est = _estimator(target, activation=activation, batch_size=batch_size)
    try:
        _fit(est, X, y)
    except ValueError as exc:
        assert re.search(DIVERGED, str(exc)), str(exc)
        assert not hasattr(est, "coefs_") and not hasattr(est, "n_features_in_")
    else:
        _assert_finite_model(est, X)
        # Training never makes the loss worse than at its first epoch by much.
        assert est.loss_curve_[-1] <= 1.5 * est.loss_curve_[0]
    np.testing.assert_array_equal(X, X0)


@pytest.mark.parametrize("batch_size", [None, 8])
@pytest.mark.parametrize("scale", FEATURE_SCALES, ids=str)
@pytest.mark.parametrize("target", TARGET_KINDS)
def test_relu_on_extreme_features_emits_no_runtime_warning(target, scale, batch_size):
    est = _estimator(target, activation="relu", batch_size=batch_size)
    try:
        _fit(est, X_GOOD * scale, TARGETS[target], runtime_warnings="error")
    except ValueError as exc:
        assert re.search(DIVERGED, str(exc)), str(exc)


@pytest.mark.parametrize("batch_size", [None, 8])
@pytest.mark.parametrize("scale", [1e300, 1e150], ids=str)
@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("target", TARGET_KINDS)
def test_saturated_sigmoid_and_tanh_units_emit_no_runtime_warning(
    target, activation, scale, batch_size
):
    est = _estimator(target, activation=activation, batch_size=batch_size)
    _fit(est, X_GOOD * scale, TARGETS[target], runtime_warnings="error")
    _assert_finite_model(est, X_GOOD * scale)
    # Every hidden unit is saturated: its output is 0 or 1 (-1 or 1 for tanh).
    Z1 = (X_GOOD * scale) @ est.coefs_[0] + est.intercepts_[0]
    assert np.all(np.abs(Z1) > 1e100)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("target", TARGET_KINDS)
def test_subnormal_features_train_like_zero_features(target, activation):
    """Features of 1e-300 (or 5e-324) are no different from features of 0."""
    y = TARGETS[target]
    zero = _fit(_estimator(target, activation=activation), np.zeros_like(X_GOOD), y)
    for scale in (1e-300, 5e-324):
        tiny = _fit(_estimator(target, activation=activation), X_GOOD * scale, y)
        np.testing.assert_allclose(tiny.loss_curve_, zero.loss_curve_, rtol=1e-12)
        for a, b in zip(_params(tiny)[1:], _params(zero)[1:], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("batch_size", [None, 8])
@pytest.mark.parametrize("scale", [1e-200, 1e100, 1e150], ids=str)
def test_extreme_targets_give_a_finite_model(scale, batch_size):
    y = TARGETS["regression"] * scale
    y0 = y.copy()
    est = _fit(_estimator("regression", batch_size=batch_size), X_GOOD, y, runtime_warnings="error")
    _assert_finite_model(est, X_GOOD)
    np.testing.assert_array_equal(y, y0)


@pytest.mark.parametrize("batch_size", [None, 8])
@pytest.mark.parametrize("constant", [False, True])
def test_targets_of_1e200_are_a_clear_error(constant, batch_size):
    """(1e200)² overflows: the loss cannot be computed, fit must say so."""
    y = np.full(len(X_GOOD), 1e200) if constant else TARGETS["regression"] * 1e200
    est = _estimator("regression", batch_size=batch_size)
    with pytest.raises(ValueError, match=r"diverged|too large|overflow"):
        _fit(est, X_GOOD, y, runtime_warnings="error")
    assert not hasattr(est, "coefs_") and not hasattr(est, "n_features_in_")


def test_targets_of_1e200_error_names_the_targets_not_alpha():
    est = _estimator("regression", batch_size=None)
    with pytest.raises(ValueError) as info:
        _fit(est, X_GOOD, np.full(len(X_GOOD), 1e200))
    message = str(info.value)
    assert "target" in message or "y " in message, message
    assert "alpha" not in message, message


# ---------------------------------------------------------------------------
# Probabilities at the edges.
# ---------------------------------------------------------------------------

CLASSIFICATION = ["binary", "multiclass", "multilabel"]


@pytest.fixture(scope="module")
def classifiers():
    models = {}
    for target in CLASSIFICATION:
        for activation in ACTIVATIONS:
            for dtype in (np.float64, np.float32):
                est = _estimator(target, activation=activation, hidden_size=8, max_iter=50)
                models[target, activation, dtype] = _fit(
                    est, X_GOOD.astype(dtype), TARGETS[target], runtime_warnings="error"
                )
    return models


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("target", CLASSIFICATION)
def test_probabilities_of_far_inputs_are_inside_0_1(classifiers, target, activation, dtype):
    est = classifiers[target, activation, dtype]
    scales = [1.0, 1e10, 1e30] + ([1e100, 1e300] if dtype == np.float64 else [])
    X = np.vstack([np.zeros((1, 3))] + [X_GOOD * s for s in scales] + [-X_GOOD * scales[-1]])
    X = X.astype(dtype)
    _assert_sensible_probabilities(est, X)
    assert est.predict_proba(X).dtype == dtype
    assert np.all(np.isfinite(est.decision_function(X)))


@pytest.mark.parametrize("logit_scale", [1e3, 1e30, 1e300], ids=str)
@pytest.mark.parametrize("target", CLASSIFICATION)
def test_saturated_output_layer_gives_probabilities_inside_0_1(classifiers, target, logit_scale):
    """Logits of ±1e300: sigmoid and softmax saturate, probabilities must not."""
    est = _clone_fitted(classifiers[target, "sigmoid", np.float64])
    est.coefs_[1] = est.coefs_[1] * logit_scale
    est.intercepts_[1] = est.intercepts_[1] * logit_scale
    assert np.abs(est.decision_function(X_GOOD)).max() > logit_scale / 100
    _assert_sensible_probabilities(est, X_GOOD)


def _clone_fitted(est):
    return copy.deepcopy(est)


def _overflowing_model(target, activation, dtype=np.float64):
    """A fitted model with weights ±1 on 2 features, and a finite row X·W1 overflows.

    For X = [big, -big], Z1 = big + big = inf in both hidden units; with relu,
    A1 = inf and A1·W2 = inf − inf. The row's sum is 0, so scikit-learn's own
    finiteness check (a sum) passes without warning.
    """
    X = X_GOOD[:, :2].astype(dtype)
    est = _estimator(target, activation=activation, hidden_size=2, max_iter=2)
    _fit(est, X, TARGETS[target])
    k = est.n_outputs_
    est.coefs_[0] = np.array([[1.0, 1.0], [-1.0, -1.0]], dtype)
    est.intercepts_[0] = np.zeros(2, dtype)
    est.coefs_[1] = np.tile(np.array([[1.0], [-1.0]], dtype), (1, k))
    est.coefs_[1][:, ::2] *= -1
    est.intercepts_[1] = np.zeros(k, dtype)
    big = np.finfo(dtype).max * 0.9
    return est, np.array([[big, -big]], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(
    "activation",
    ["sigmoid", "tanh", "relu"],
)
@pytest.mark.parametrize("target", CLASSIFICATION)
def test_overflowing_hidden_layer_gives_no_nan_probabilities(target, activation, dtype):
    est, X = _overflowing_model(target, activation, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            _assert_sensible_probabilities(est, X)
            assert not np.isnan(est.decision_function(X)).any()
        except ValueError as exc:  # a clear error is fine too
            assert "overflow" in str(exc) or "too large" in str(exc), str(exc)


@pytest.mark.parametrize(
    "activation",
    ["sigmoid", "tanh", "relu"],
)
def test_overflowing_hidden_layer_gives_no_nan_regression(activation):
    est, X = _overflowing_model("regression", activation)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            assert not np.isnan(est.predict(X)).any()
        except ValueError as exc:
            assert "overflow" in str(exc) or "too large" in str(exc), str(exc)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_overflowing_hidden_layer_emits_no_runtime_warning(activation):
    est, X = _overflowing_model("multiclass", activation)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        est.predict_proba(X)


# ---------------------------------------------------------------------------
# The loss and its gradients, for any finite input (hypothesis).
# ---------------------------------------------------------------------------

# Bounds on |X| and |Y| under which every intermediate value of the network
# (m ≤ 8 rows, n ≤ 4 features, h ≤ 5 hidden units, |weights| ≤ 1) is
# representable. Classification outputs are bounded, so X may be huge; a
# regression output grows with X (relu) and is squared in the loss.
FEATURE_BOUNDS = {
    (np.float64, "classification"): 1e300,
    (np.float32, "classification"): 2.0**100,  # ~1.3e30
    (np.float64, "bounded hidden"): 1e150,
    (np.float32, "bounded hidden"): 2.0**50,  # ~1.1e15
    (np.float64, "relu"): 1e100,
    (np.float32, "relu"): 2.0**24,  # ~1.7e7
}
SETTINGS = settings(max_examples=40, deadline=None, database=None, derandomize=True)


@st.composite
def network_problems(draw):
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    width = 64 if dtype == np.float64 else 32
    out_activation = draw(st.sampled_from(["sigmoid", "softmax", "identity"]))
    activation = draw(st.sampled_from(ACTIVATIONS))
    m, n, h = draw(st.integers(1, 8)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    k = draw(st.integers(2 if out_activation == "softmax" else 1, 3))
    if out_activation != "identity":
        regime = "classification"
    else:
        regime = "relu" if activation == "relu" else "bounded hidden"
    bound = FEATURE_BOUNDS[dtype, regime]

    def floats(limit):
        return st.floats(-limit, limit, allow_nan=False, allow_infinity=False, width=width)

    X = draw(hnp.arrays(dtype, (m, n), elements=floats(bound)))
    weights = [
        draw(hnp.arrays(dtype, shape, elements=floats(1.0)))
        for shape in ((n, h), (h,), (h, k), (k,))
    ]
    if out_activation == "sigmoid":
        Y = draw(hnp.arrays(dtype, (m, k), elements=st.sampled_from([0.0, 1.0])))
    elif out_activation == "softmax":
        labels = draw(hnp.arrays(np.int64, m, elements=st.integers(0, k - 1)))
        Y = np.eye(k, dtype=dtype)[labels]
    else:
        Y = draw(hnp.arrays(dtype, (m, k), elements=floats(bound)))
    sample_weight = draw(
        st.none() | hnp.arrays(dtype, m, elements=st.floats(2.0**-7, 128.0, width=width))
    )
    l2 = draw(st.sampled_from([0.0, 0.5, 10.0]))
    return {
        "X": X, "Y": Y, "params": _network.Params(*weights), "activation": activation,
        "out_activation": out_activation, "sample_weight": sample_weight, "l2": l2,
    }


def _all_finite(arrays):
    return all(np.all(np.isfinite(a)) for a in arrays)


@SETTINGS
@given(problem=network_problems())
def test_loss_and_gradients_are_finite_for_finite_input(problem):
    p = problem
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        A1, A2 = _network.forward(p["X"], p["params"], p["activation"], p["out_activation"])
        loss = _network.loss(
            p["Y"], A2, p["out_activation"], p["sample_weight"], p["l2"], p["params"]
        )
        grads = _network.backward(
            p["X"], p["Y"], A1, A2, p["params"], p["activation"], p["sample_weight"], p["l2"]
        )
        blocked_loss, blocked_grads = _network.loss_and_gradients(
            p["X"], p["Y"], p["params"], p["activation"], p["out_activation"],
            p["sample_weight"], p["l2"],
        )
    assert np.isfinite(loss) and np.isfinite(blocked_loss)
    assert _all_finite(grads) and _all_finite(blocked_grads)
    assert loss >= 0 and blocked_loss >= 0


HALF_MAX = float(np.finfo(np.float64).max / 2)


@SETTINGS
@given(
    logits=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.integers(2, 4)),
        elements=st.floats(-HALF_MAX, HALF_MAX),
    ),
    data=st.data(),
)
def test_classification_loss_is_finite_for_any_finite_logits(logits, data):
    """Saturated sigmoids and softmaxes (A2 of exactly 0 or 1) give a finite loss.

    Logits are kept within half the dtype's range, so that a row's spread
    (z − max z) is representable; wider rows are
    test_softmax_of_logits_spanning_the_range_emits_no_runtime_warning's.
    """
    m, k = logits.shape
    labels = data.draw(hnp.arrays(np.int64, m, elements=st.integers(0, k - 1)))
    for dtype in (np.float64, np.float32):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the cast to float32 overflows
            z = logits.astype(dtype)
        z = np.clip(z, -np.finfo(dtype).max / 2, np.finfo(dtype).max / 2)
        with warnings.catch_warnings():
            # Only finiteness here: the warnings are test_softmax_emits_no_runtime_warning's.
            warnings.simplefilter("ignore", RuntimeWarning)
            softmax = _network.softmax(z.copy())
            sigmoid = _network.sigmoid(z.copy())
            Y_onehot = np.eye(k, dtype=dtype)[labels]
            Y_bits = (Y_onehot + np.roll(Y_onehot, 1, axis=1) > 0).astype(dtype)
            assert np.isfinite(_network.loss(Y_onehot, softmax, "softmax"))
            assert np.isfinite(_network.loss(Y_bits, sigmoid, "sigmoid"))
            assert np.isfinite(_network.log_softmax(z)).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_softmax_of_logits_spanning_the_range_emits_no_runtime_warning(dtype):
    big = np.finfo(dtype).max
    z = np.array([[big, -big, 0.0]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        np.testing.assert_array_equal(_network.softmax(z.copy()), [[1, 0, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.all(np.isfinite(_network.log_softmax(z)))
