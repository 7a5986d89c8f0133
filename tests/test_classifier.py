"""BackpropClassifier: targets, probabilities, logits."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize(
    "labels", [np.array([3, 7, 11]), np.array(["setosa", "versicolor", "virginica"])]
)
def test_integer_and_string_labels(iris, labels):
    X, y = iris
    est = BackpropClassifier(random_state=0).fit(X, labels[y])
    np.testing.assert_array_equal(est.classes_, labels)
    assert est.out_activation_ == "softmax" and est.n_outputs_ == 3
    assert est.score(X, labels[y]) > 0.95
    assert set(est.predict(X)) <= set(labels)


def test_binary_uses_one_sigmoid_output(iris):
    X, y = iris
    y = np.where(y == 0, "no", "yes")
    est = BackpropClassifier(max_iter=20, random_state=0).fit(X, y)
    assert est.out_activation_ == "sigmoid" and est.n_outputs_ == 1
    assert est.coefs_[1].shape == (100, 1)
    scores = est.decision_function(X)
    assert scores.shape == (len(y),)
    np.testing.assert_array_equal(est.predict(X), np.where(scores > 0, "yes", "no"))


def test_multilabel_indicator_targets():
    X, Y = make_multilabel_classification(n_samples=200, n_classes=4, random_state=0)
    X = StandardScaler().fit_transform(X)
    est = BackpropClassifier(random_state=0).fit(X, Y)
    assert est.out_activation_ == "sigmoid" and est.n_outputs_ == 4
    np.testing.assert_array_equal(est.classes_, np.arange(4))
    proba = est.predict_proba(X)
    assert proba.shape == Y.shape
    np.testing.assert_array_equal(est.predict(X), (proba > 0.5).astype(int))
    assert est.score(X, Y) > 0.5  # subset accuracy


def test_probabilities_are_strictly_inside_0_1_and_sum_to_one(iris):
    X, y = iris
    est = BackpropClassifier(random_state=0).fit(X, y)
    X_far = np.vstack([X, X * 1e6, -X * 1e6])  # saturate the network
    proba = est.predict_proba(X_far)
    assert np.all(proba > 0) and np.all(proba < 1)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    log_proba = est.predict_log_proba(X_far)
    assert np.all(np.isfinite(log_proba))
    np.testing.assert_allclose(np.exp(log_proba), proba)
    np.testing.assert_array_equal(est.classes_[proba.argmax(axis=1)], est.predict(X_far))


def test_binary_log_proba_is_computed_from_logits_without_minus_inf():
    X = np.array([[-1.0], [1.0]] * 10)
    y = np.array([0, 1] * 10)
    est = BackpropClassifier(alpha=1.0, random_state=0).fit(X, y)
    X_far = np.array([[-1e8], [1e8]])
    log_proba = est.predict_log_proba(X_far)
    proba = est.predict_proba(X_far)
    assert np.all(np.isfinite(log_proba))
    assert np.all((proba > 0) & (proba < 1))
    # Where nothing saturates, it equals log σ(z) exactly as computed from z.
    z = est.decision_function(X[:2])
    np.testing.assert_allclose(
        est.predict_log_proba(X[:2])[:, 1], -np.logaddexp(0, -z), rtol=1e-10
    )


def test_float32_probabilities_are_strictly_inside_0_1(iris):
    X, y = iris
    X = X.astype(np.float32)
    est = BackpropClassifier(random_state=0).fit(X, y)
    proba = est.predict_proba(np.vstack([X, X * 1e4]))
    assert proba.dtype == np.float32
    assert np.all((proba > 0) & (proba < 1))


def test_single_class_is_a_clear_error(iris):
    X, _ = iris
    with pytest.raises(ValueError, match="number of classes has to be greater than one"):
        BackpropClassifier().fit(X, np.zeros(len(X)))


def test_continuous_targets_are_rejected(iris):
    X, _ = iris
    with pytest.raises(ValueError, match="Unknown label type"):
        BackpropClassifier().fit(X, np.linspace(0, 1, len(X)))


def test_warm_start_with_other_classes_is_an_error(iris):
    X, y = iris
    est = BackpropClassifier(max_iter=2, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="warm_start can only be used"):
        est.fit(X[y < 2], y[y < 2])


def test_partial_fit_needs_classes_first_then_keeps_them(iris):
    X, y = iris
    est = BackpropClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X, y)
    est.partial_fit(X[:50], y[:50], classes=[0, 1, 2])  # one class in this chunk
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    est.partial_fit(X[50:], y[50:])
    assert est.n_iter_ == 2
    with pytest.raises(ValueError, match="not in classes"):
        est.partial_fit(X[:3], [0, 1, 5])


@pytest.mark.parametrize("labels", [["a", "b", "c"], [0, 1, 7], [0, 1, 0]])
def test_a_1d_y_for_a_multilabel_model_is_named_as_such(labels):
    # Whatever its labels: "not in classes" would send the caller to relabel y.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 4))
    Y = (rng.rand(30, 3) > 0.5).astype(int)
    est = BackpropClassifier(random_state=0).partial_fit(X, Y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="fitted on multilabel targets; y is 1-D"):
        est.partial_fit(X[:3], np.array(labels))


def test_unseen_labels_in_validation_set_are_an_error(iris):
    X, y = iris
    with pytest.raises(ValueError, match="not in classes"):
        BackpropClassifier(max_iter=2).fit(X, y, X_val=X[:3], y_val=[0, 1, 9])


def test_mixed_label_types_are_a_clear_error(iris):
    X, _ = iris
    y = np.array(["a", 1] * 75, dtype=object)
    with pytest.raises(ValueError, match="Mix of label input types|Unknown label type"):
        BackpropClassifier().fit(X, y)


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["no", "yes"]),
        np.array(["no", "yes"], dtype=object),
        np.array([-1.0, 2.0]),
        np.array([False, True]),
        np.array([3, 7], dtype=np.int32),
    ],
    ids=["str", "object", "float", "bool", "int32"],
)
def test_binary_model_does_not_depend_on_how_labels_are_written(iris, labels):
    # The larger label is the positive class, whatever the labels' type.
    X, y = iris
    y = (y == 0).astype(int)
    reference = BackpropClassifier(max_iter=30, random_state=0).fit(X, y)
    est = BackpropClassifier(max_iter=30, random_state=0).fit(X, labels[y])
    np.testing.assert_array_equal(est.classes_, labels)
    assert est.score(X, labels[y]) > 0.95  # setosa or not: separable
    for ours, expected in zip(
        est.coefs_ + est.intercepts_,
        reference.coefs_ + reference.intercepts_,
        strict=True,
    ):
        np.testing.assert_array_equal(ours, expected)
    np.testing.assert_array_equal(est.predict(X), labels[reference.predict(X)])


@pytest.mark.parametrize("target", ["binary", "multiclass"])
def test_fit_finds_the_unique_labels_once(iris, target, monkeypatch):
    # The target checks and the label sort share one pass over y.
    X, y = iris
    if target == "binary":
        y = (y == 0).astype(int)
    passes = []
    real_unique = np.unique

    def counting_unique(ar, *args, **kwargs):
        if np.size(ar) == len(y):
            passes.append(1)
        return real_unique(ar, *args, **kwargs)

    monkeypatch.setattr(np, "unique", counting_unique)
    BackpropClassifier(max_iter=1, random_state=0).fit(X, y)
    assert len(passes) == 1


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.int64, np.uint64])
@pytest.mark.parametrize(
    "values", [[0], [1, 1, 1], [0, 1, 0], [5, -3, 5], [2, 0, 1, 2], [9, 3, 7, 100, 3]]
)
def test_integer_labels_are_what_scikit_learns_checks_find(dtype, values):
    from sklearn.utils.multiclass import (
        check_classification_targets,
        type_of_target,
        unique_labels,
    )

    from skbackprop._classifier import _integer_labels

    info = np.iinfo(dtype)
    y = np.array([v for v in values if info.min <= v <= info.max] or [0], dtype=dtype)
    target_type, labels = _integer_labels(y)
    assert target_type == type_of_target(y)
    check_classification_targets(y)  # accepts it, as the estimator does
    expected = unique_labels(y)
    assert labels.dtype == expected.dtype
    np.testing.assert_array_equal(labels, expected)
    # Anything else is left to scikit-learn's checks.
    others = [y.astype(float), y.tolist(), y.reshape(-1, 1), y.astype(str), y[:0]]
    if y.dtype.itemsize > 1:  # the other byte order
        others.append(y.astype(y.dtype.newbyteorder()))
    for other in others:
        assert _integer_labels(other) == (None, None)


def test_fits_on_integer_labels_match_fits_on_the_same_labels_as_strings(iris):
    X, y = iris
    labels = np.array([10, 20, 30])
    ours = BackpropClassifier(max_iter=5, random_state=0).fit(X, labels[y])
    strings = BackpropClassifier(max_iter=5, random_state=0).fit(X, labels[y].astype(str))
    np.testing.assert_array_equal(ours.classes_, labels)
    for a, b in zip(ours.coefs_ + ours.intercepts_, strings.coefs_ + strings.intercepts_,
                    strict=True):
        np.testing.assert_array_equal(a, b)
    # A later partial_fit checks its labels against classes_ the same way.
    stream = BackpropClassifier(random_state=0).partial_fit(X, labels[y], classes=labels)
    with pytest.raises(ValueError, match=r"y contains labels \[40\] not in classes"):
        stream.partial_fit(X[:3], np.array([10, 40, 20]))


def test_many_classes_warn_as_scikit_learns_checks_do():
    # scikit-learn (1.9.1; not 1.6.1) warns when y has more classes than half its
    # samples; the labels' fast path must not lose that warning.
    from sklearn.utils.multiclass import check_classification_targets

    X = np.random.RandomState(0).normal(size=(30, 3))
    y = np.arange(30) % 25
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        check_classification_targets(y)
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ConvergenceWarning)
        BackpropClassifier(max_iter=1).fit(X, y)
    assert [str(w.message) for w in theirs] == [
        str(w.message) for w in ours if "unique classes" in str(w.message)
    ]
