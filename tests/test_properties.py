"""Properties that hold for any data, labels and valid hyper-parameters (hypothesis).

Random shapes, dtypes (float32/float64), label sets (ints, strings, 2 to 5
classes, binary, multilabel indicators), regression targets (1-D and 2-D), and
hyper-parameters drawn from their valid ranges. Invariants:

* predictions have the right shape and dtype;
* probabilities are inside (0, 1) and sum to 1 per sample (not multilabel);
* ``predict`` is the arg-max of ``predict_proba`` (``proba > 0.5`` per label
  for multilabel targets);
* ``fit`` is deterministic for a fixed ``random_state``;
* ``fit`` and ``partial_fit`` never modify their inputs;
* a pickled and reloaded model predicts identically.

Examples are generated deterministically (``derandomize=True``) so that the
suite is reproducible; run with more examples locally when changing the code.
"""

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from skbackprop import BackpropClassifier, BackpropRegressor

SETTINGS = settings(max_examples=25, deadline=None, database=None, derandomize=True)


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@st.composite
def label_sets(draw):
    """Between 2 and 5 distinct labels: ints or strings."""
    n_classes = draw(st.integers(2, 5))
    if draw(st.booleans()):
        labels = draw(
            st.lists(st.integers(-1000, 1000), min_size=n_classes, max_size=n_classes, unique=True)
        )
        return np.array(labels)
    labels = draw(
        st.lists(
            st.text(alphabet="abcxyz", min_size=1, max_size=3),
            min_size=n_classes, max_size=n_classes, unique=True,
        )
    )
    return np.array(labels)


@st.composite
def problems(draw, kinds=("classes", "multilabel", "regression")):
    """(Estimator, params, X, y, sample_weight): one valid training problem."""
    kind = draw(st.sampled_from(kinds))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    width = 64 if dtype == np.float64 else 32
    n_features = draw(st.integers(1, 6))
    if kind == "classes":
        labels = draw(label_sets())
        n_samples = draw(st.integers(len(labels), 40))
        extra = draw(
            hnp.arrays(np.int64, n_samples - len(labels), elements=st.integers(0, len(labels) - 1))
        )
        order = draw(st.permutations(range(n_samples)))
        y = labels[np.r_[np.arange(len(labels)), extra][order]]
    elif kind == "multilabel":
        n_samples = draw(st.integers(2, 40))
        n_labels = draw(st.integers(2, 4))
        y = draw(hnp.arrays(np.int64, (n_samples, n_labels), elements=st.integers(0, 1)))
    else:
        n_samples = draw(st.integers(1, 40))
        shape = draw(st.sampled_from([(n_samples,), (n_samples, 2), (n_samples, 3)]))
        y = draw(hnp.arrays(np.float64, shape, elements=st.floats(-3, 3)))
    X = draw(
        hnp.arrays(dtype, (n_samples, n_features), elements=st.floats(-5, 5, width=width))
    )
    params = {
        "hidden_size": draw(st.integers(1, 8)),
        "activation": draw(st.sampled_from(["sigmoid", "tanh", "relu"])),
        # Learning rates small enough never to diverge on data of this scale.
        "alpha": draw(st.sampled_from([0.001, 0.01, 0.1] if kind == "regression" else [0.01, 0.1, 0.3])),
        "l2": draw(st.sampled_from([0.0, 0.01, 0.5])),
        "momentum": draw(st.sampled_from([0.0, 0.5, 0.9])),
        "nesterov": draw(st.booleans()),
        "batch_size": draw(st.none() | st.integers(1, 16)),
        "max_iter": draw(st.integers(1, 5)),
        "shuffle": draw(st.booleans()),
        "tol": draw(st.sampled_from([0.0, 1e-4])),
        "n_iter_no_change": draw(st.integers(1, 3)),
        "random_state": draw(st.integers(0, 2**32 - 1)),
    }
    if kind == "regression":
        Estimator = BackpropRegressor
        if params["momentum"] > 0.5:
            params["alpha"] = min(params["alpha"], 0.01)
    else:
        Estimator = BackpropClassifier
        if kind == "classes":
            params["class_weight"] = draw(st.sampled_from([None, "balanced"]))
    sample_weight = draw(
        st.none() | hnp.arrays(np.float64, n_samples, elements=st.floats(0.5, 2.0))
    )
    return Estimator, params, X, y, sample_weight


DIVERGED = "Training diverged"


def _fit(problem):
    """Fit; a (rare) divergence is a valid outcome, not a counter-example."""
    Estimator, params, X, y, sample_weight = problem
    try:
        return Estimator(**params).fit(X, y, sample_weight=sample_weight)
    except ValueError as exc:
        if DIVERGED not in str(exc):
            raise
        reject()


def _is_multilabel(est):
    return isinstance(est, BackpropClassifier) and est.out_activation_ == "sigmoid" and est.n_outputs_ > 1


@SETTINGS
@given(problem=problems())
def test_predictions_have_the_right_shape_and_dtype(problem):
    _, _, X, y, _ = problem
    est = _fit(problem)
    n = X.shape[0]
    prediction = est.predict(X)
    assert prediction.shape == y.shape
    if isinstance(est, BackpropRegressor):
        assert prediction.dtype == X.dtype
        assert np.all(np.isfinite(prediction))
        return
    proba = est.predict_proba(X)
    assert proba.dtype == X.dtype
    assert est.predict_log_proba(X).dtype == X.dtype
    if _is_multilabel(est):
        assert proba.shape == y.shape
        assert set(np.unique(prediction)) <= {0, 1}
    else:
        assert proba.shape == (n, len(np.unique(y)))
        assert prediction.dtype == est.classes_.dtype
        assert set(prediction) <= set(y)
    decision = est.decision_function(X)
    assert decision.shape == ((n,) if est.n_outputs_ == 1 else (n, est.n_outputs_))


@SETTINGS
@given(problem=problems(kinds=("classes", "multilabel")))
def test_probabilities_are_inside_0_1_and_sum_to_one(problem):
    _, _, X, _, _ = problem
    est = _fit(problem)
    proba = est.predict_proba(X)
    assert np.all((proba > 0) & (proba < 1))
    log_proba = est.predict_log_proba(X)
    assert np.all(np.isfinite(log_proba))
    np.testing.assert_allclose(np.exp(log_proba), proba, rtol=1e-5)
    if not _is_multilabel(est):
        tolerance = 1e-5 if X.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=tolerance)


@SETTINGS
@given(problem=problems(kinds=("classes", "multilabel")))
def test_predict_is_the_arg_max_of_predict_proba(problem):
    _, _, X, _, _ = problem
    est = _fit(problem)
    proba = est.predict_proba(X)
    if _is_multilabel(est):
        np.testing.assert_array_equal(est.predict(X), (proba > 0.5).astype(int))
    else:
        np.testing.assert_array_equal(est.predict(X), est.classes_[proba.argmax(axis=1)])


def _state(est):
    return [a.copy() for a in (*est.coefs_, *est.intercepts_)]


@SETTINGS
@given(problem=problems())
def test_fit_is_deterministic_for_a_fixed_random_state(problem):
    _, _, X, y, sample_weight = problem
    first = _fit(problem)
    second = clone(first).fit(X, y, sample_weight=sample_weight)
    for a, b in zip(_state(first), _state(second), strict=True):
        np.testing.assert_array_equal(a, b)
    assert first.loss_curve_ == second.loss_curve_
    np.testing.assert_array_equal(first.predict(X), second.predict(X))


def _copies(*arrays):
    return [None if a is None else a.copy() for a in arrays]


def _assert_same(before, after):
    for b, a in zip(before, after, strict=True):
        if b is None:
            assert a is None
        else:
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)


@SETTINGS
@given(problem=problems())
def test_fit_and_partial_fit_never_modify_their_inputs(problem):
    Estimator, params, X, y, sample_weight = problem
    before = _copies(X, y, sample_weight)
    try:
        est = Estimator(**params).fit(X, y, sample_weight=sample_weight)
    except ValueError as exc:  # diverged: the inputs must still be untouched
        assert DIVERGED in str(exc), exc
        _assert_same(before, [X, y, sample_weight])
        reject()
    _assert_same(before, [X, y, sample_weight])
    classes = None if _is_multilabel(est) or Estimator is BackpropRegressor else est.classes_
    classes_before = None if classes is None else classes.copy()
    kwargs = {} if classes is None else {"classes": classes}
    # class_weight="balanced" needs all the data: not for partial_fit.
    incremental = {**params, "class_weight": None} if "class_weight" in params else params
    for fitting in (
        lambda: Estimator(**incremental).partial_fit(X, y, sample_weight=sample_weight, **kwargs),
        lambda: est.set_params(**incremental).partial_fit(X, y, sample_weight=sample_weight),
    ):
        try:
            fitting()
        except ValueError as exc:
            assert DIVERGED in str(exc), exc
        _assert_same(before, [X, y, sample_weight])
    if classes is not None:
        np.testing.assert_array_equal(classes, classes_before)
    # Predicting does not modify X either.
    est.predict(X)
    if hasattr(est, "predict_proba"):
        est.predict_proba(X)
    _assert_same(before[:1], [X])


@SETTINGS
@given(problem=problems())
def test_pickled_model_predicts_identically(problem):
    _, _, X, _, _ = problem
    est = _fit(problem)
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    if hasattr(est, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
        np.testing.assert_array_equal(loaded.decision_function(X), est.decision_function(X))
    for a, b in zip(_state(loaded), _state(est), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
