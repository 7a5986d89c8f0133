"""The teaching tools: check_gradients and trace_step.

* ``check_gradients`` finds backpropagation and finite differences in
  agreement (relative error < 1e-6) for fitted classifiers and regressors on
  real data, and finds a wrong gradient when there is one.
* ``trace_step`` agrees with the formulas of ``docs/math.md``, written out
  again here independently of the package, and its step is ``fit``'s first
  full-batch epoch.
* Bad input is rejected with a clear message, and the estimator is never
  modified.
"""

import copy
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import (
    BackpropClassifier,
    BackpropRegressor,
    _network,
    _teaching,
    check_gradients,
    trace_step,
)

FIELDS = ("W1", "b1", "W2", "b2")


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


def _fit_quietly(estimator, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y, **kwargs)


def _snapshot(estimator):
    return copy.deepcopy(vars(estimator))


def _assert_same(before, after, name):
    if isinstance(before, np.ndarray):
        assert isinstance(after, np.ndarray) and before.dtype == after.dtype, name
        np.testing.assert_array_equal(before, after, err_msg=name)
    elif isinstance(before, list | tuple):
        assert len(before) == len(after), name
        for b, a in zip(before, after, strict=True):
            _assert_same(b, a, name)
    elif isinstance(before, int | float | str | bool | type(None)):
        assert before == after, name


def _assert_unchanged(estimator, snapshot):
    now = vars(estimator)
    assert now.keys() == snapshot.keys()
    for name, value in snapshot.items():
        _assert_same(value, now[name], name)


# ---------------------------------------------------------------------------
# check_gradients
# ---------------------------------------------------------------------------


def test_check_gradients_fitted_binary_classifier(cancer):
    X, y = cancer
    clf = _fit_quietly(BackpropClassifier(hidden_size=10, random_state=0), X, y)
    errors = check_gradients(clf, X, y)
    assert isinstance(errors, _teaching.GradientCheck)
    assert errors._fields == FIELDS
    assert all(isinstance(e, float) for e in errors)
    assert max(errors) < 1e-6, errors


def test_check_gradients_fitted_multiclass_weighted_l2(iris):
    # Softmax output, class weights, sample weights and an L2 penalty: every
    # term of math.md's L at once.
    X, y = iris
    weights = np.random.RandomState(0).uniform(0.5, 2.0, X.shape[0])
    clf = BackpropClassifier(
        hidden_size=8, l2=0.5, class_weight={0: 2.0, 2: 0.5}, random_state=0
    )
    _fit_quietly(clf, X, y, sample_weight=weights)
    assert clf.out_activation_ == "softmax"
    errors = check_gradients(clf, X, y, sample_weight=weights)
    assert max(errors) < 1e-6, errors


def test_check_gradients_fitted_multilabel_classifier(iris):
    X, y = iris
    Y = np.column_stack([y == 0, y == 2, X[:, 0] > 0]).astype(int)
    clf = _fit_quietly(BackpropClassifier(hidden_size=6, random_state=0), X, Y)
    assert clf.out_activation_ == "sigmoid" and clf.n_outputs_ == 3
    assert max(check_gradients(clf, X, Y)) < 1e-6


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_check_gradients_fitted_regressor(diabetes, activation):
    X, y = diabetes
    reg = BackpropRegressor(hidden_size=10, activation=activation, random_state=0)
    _fit_quietly(reg, X, y)
    errors = check_gradients(reg, X, y)
    assert max(errors) < 1e-6, errors


def test_check_gradients_multioutput_regressor(diabetes):
    X, y = diabetes
    Y = np.column_stack([y, X[:, 0] * X[:, 1]])
    reg = _fit_quietly(BackpropRegressor(hidden_size=5, l2=0.1, random_state=0), X, Y)
    assert max(check_gradients(reg, X, Y)) < 1e-6


def test_check_gradients_float32_model_is_checked_in_float64(cancer):
    X, y = cancer
    X32 = X.astype(np.float32)
    clf = _fit_quietly(
        BackpropClassifier(hidden_size=5, max_iter=20, random_state=0), X32, y
    )
    snapshot = _snapshot(clf)
    assert max(check_gradients(clf, X32, y)) < 1e-6
    _assert_unchanged(clf, snapshot)
    assert clf.coefs_[0].dtype == np.float32


def test_check_gradients_unfitted_uses_the_initial_parameters(iris):
    X, y = iris
    clf = BackpropClassifier(hidden_size=4, random_state=3)
    assert max(check_gradients(clf, X, y)) < 1e-6
    # Nothing was fitted or written.
    assert not hasattr(clf, "coefs_")
    assert not hasattr(clf, "n_features_in_")
    assert vars(clf) == vars(BackpropClassifier(hidden_size=4, random_state=3))


def test_unfitted_random_state_instance_is_not_advanced(iris):
    X, y = iris
    rng = np.random.RandomState(5)
    clf = BackpropClassifier(hidden_size=3, random_state=rng)
    trace = trace_step(clf, X, y)
    assert max(check_gradients(clf, X, y)) < 1e-6
    # The same draw as fit's, and the user's generator is where it was.
    expected = _network.init_params(4, 3, 3, np.random.RandomState(5))
    for got, want in zip(trace.params, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert rng.randint(10**9) == np.random.RandomState(5).randint(10**9)


def test_check_gradients_leaves_a_fitted_estimator_unchanged(cancer):
    X, y = cancer
    clf = _fit_quietly(
        BackpropClassifier(hidden_size=4, max_iter=5, random_state=0), X, y
    )
    snapshot = _snapshot(clf)
    check_gradients(clf, X[:50], y[:50])
    trace_step(clf, X[:50], y[:50])
    _assert_unchanged(clf, snapshot)


def test_check_gradients_finds_a_wrong_gradient(iris, monkeypatch):
    # Backpropagation that forgets σ'(Z1) in dZ1: W1 and b1 must be flagged,
    # W2 and b2 (which do not depend on it) must not.
    X, y = iris

    def backward_without_derivative(X, Y, A1, A2, params, activation, sw, l2):
        m = X.shape[0]
        dZ2 = (A2 - Y) / m
        dZ1 = dZ2 @ params.W2.T  # missing ⊙ A1 ⊙ (1 − A1)
        return _network.Params(X.T @ dZ1, dZ1.sum(0), A1.T @ dZ2, dZ2.sum(0))

    monkeypatch.setattr(
        _teaching._network, "backward", backward_without_derivative, raising=True
    )
    errors = check_gradients(BackpropClassifier(hidden_size=4, random_state=0), X, y)
    assert errors.W1 > 0.1 and errors.b1 > 0.1
    assert errors.W2 < 1e-6 and errors.b2 < 1e-6


def test_check_gradients_epsilon(iris):
    X, y = iris
    clf = BackpropClassifier(hidden_size=3, random_state=0)
    # A huge step makes the finite differences inaccurate: the error shows it.
    assert max(check_gradients(clf, X, y, epsilon=1.0)) > 1e-4
    assert max(check_gradients(clf, X, y, epsilon=1e-5)) < 1e-6


# ---------------------------------------------------------------------------
# trace_step against math.md, written out independently.
# ---------------------------------------------------------------------------


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _math_md_step(X, Y, W1, b1, W2, b2, *, g, loss, alpha, s=None, lam=0.0, f="σ"):
    """math.md, line by line (rows are samples)."""
    if f == "σ":
        act, act_prime = _sigmoid, lambda a: a * (1 - a)
    else:  # tanh
        act, act_prime = np.tanh, lambda a: 1 - a**2
    m = X.shape[0] if s is None else s.sum()
    s_ = np.ones(X.shape[0]) if s is None else s
    Z1 = X @ W1 + b1
    A1 = act(Z1)
    Z2 = A1 @ W2 + b2
    if g == "sigmoid":
        A2 = _sigmoid(Z2)
    elif g == "softmax":
        E = np.exp(Z2 - Z2.max(axis=1, keepdims=True))
        A2 = E / E.sum(axis=1, keepdims=True)
    else:
        A2 = Z2
    if loss == "binary":
        per_row = -(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)).sum(axis=1)
    elif loss == "categorical":
        per_row = -(Y * np.log(A2)).sum(axis=1)
    else:
        per_row = 0.5 * ((A2 - Y) ** 2).sum(axis=1)
    L = (s_ * per_row).sum() / m + lam / (2 * m) * ((W1**2).sum() + (W2**2).sum())
    dZ2 = s_[:, None] * (A2 - Y) / m
    dW2 = A1.T @ dZ2 + lam / m * W2
    db2 = dZ2.sum(axis=0)
    dA1 = dZ2 @ W2.T
    dZ1 = dA1 * act_prime(A1)
    dW1 = X.T @ dZ1 + lam / m * W1
    db1 = dZ1.sum(axis=0)
    new = (W1 - alpha * dW1, b1 - alpha * db1, W2 - alpha * dW2, b2 - alpha * db2)
    return {
        "z1": Z1,
        "a1": A1,
        "z2": Z2,
        "a2": A2,
        "loss": L,
        "dz2": dZ2,
        "dW2": dW2,
        "db2": db2,
        "da1": dA1,
        "dz1": dZ1,
        "dW1": dW1,
        "db1": db1,
        "new": new,
    }


def _assert_trace_matches(trace, expected):
    for name in ("z1", "a1", "z2", "a2", "dz2", "dW2", "db2", "da1", "dz1", "dW1"):
        np.testing.assert_allclose(
            getattr(trace, name), expected[name], rtol=1e-10, atol=1e-14, err_msg=name
        )
    np.testing.assert_allclose(trace.db1, expected["db1"], rtol=1e-10, atol=1e-14)
    assert trace.loss == pytest.approx(expected["loss"], rel=1e-12)
    for got, want in zip(trace.new_params, expected["new"], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)


def test_trace_fields_are_the_tutorials_notation():
    names = ("z1", "a1", "z2", "a2", "dz2", "dW2", "db2", "da1", "dz1", "dW1", "db1")
    assert set(names) <= set(_teaching.StepTrace._fields)
    assert "new_params" in _teaching.StepTrace._fields


def test_trace_tutorial_network_on_xor():
    # The tutorial's 2-3-1 network, its initial parameters from random_state=0.
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0])
    clf = BackpropClassifier(hidden_size=3, alpha=1.0, random_state=0)
    trace = trace_step(clf, X, y)
    params = _network.init_params(2, 3, 1, np.random.RandomState(0))
    for got, want in zip(trace.params, params, strict=True):
        np.testing.assert_array_equal(got, want)
    Y = y.reshape(-1, 1).astype(float)
    expected = _math_md_step(X, Y, *params, g="sigmoid", loss="binary", alpha=1.0)
    _assert_trace_matches(trace, expected)
    # The numbers of the worked example in docs/derivation.md.
    assert round(trace.loss, 4) == 0.7387
    assert round(trace.new_loss, 4) == 0.7015
    np.testing.assert_allclose(trace.db2, [0.1464], atol=5e-5)


def test_trace_binary_weighted_l2_fitted(cancer):
    X, y = cancer[0][:60], cancer[1][:60]
    s = np.random.RandomState(1).uniform(0, 3, 60)
    clf = _fit_quietly(
        BackpropClassifier(hidden_size=5, alpha=0.1, l2=0.3, random_state=0), X, y
    )
    trace = trace_step(clf, X, y, sample_weight=s)
    Y = (y == clf.classes_[1]).astype(float).reshape(-1, 1)
    params = (clf.coefs_[0], clf.intercepts_[0], clf.coefs_[1], clf.intercepts_[1])
    expected = _math_md_step(
        X, Y, *params, g="sigmoid", loss="binary", alpha=0.1, s=s, lam=0.3
    )
    _assert_trace_matches(trace, expected)
    assert trace.alpha == 0.1


def test_trace_multiclass_string_labels_class_weight(iris):
    X, y = iris
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = BackpropClassifier(
        hidden_size=4,
        alpha=0.5,
        activation="tanh",
        class_weight={"virginica": 3.0},
        random_state=1,
    )
    trace = trace_step(clf, X, labels)
    Y = np.eye(3)[y]
    s = np.where(labels == "virginica", 3.0, 1.0)
    params = _network.init_params(4, 4, 3, np.random.RandomState(1))
    expected = _math_md_step(
        X, Y, *params, g="softmax", loss="categorical", alpha=0.5, s=s, f="tanh"
    )
    _assert_trace_matches(trace, expected)
    np.testing.assert_array_equal(trace.Y, Y)
    np.testing.assert_array_equal(trace.sample_weight, s)


def test_trace_regressor(diabetes):
    X, y = diabetes
    reg = _fit_quietly(BackpropRegressor(hidden_size=6, random_state=0), X, y)
    trace = trace_step(reg, X, y, alpha=0.05, l2=0.2)
    params = (reg.coefs_[0], reg.intercepts_[0], reg.coefs_[1], reg.intercepts_[1])
    expected = _math_md_step(
        X, y.reshape(-1, 1), *params, g="identity", loss="squared", alpha=0.05, lam=0.2
    )
    _assert_trace_matches(trace, expected)


def test_trace_gradients_are_network_backward(iris):
    X, y = iris
    clf = BackpropClassifier(hidden_size=4, l2=0.1, random_state=0)
    trace = trace_step(clf, X, y)
    A1, A2 = _network.forward(X, trace.params, "sigmoid", "softmax")
    grads = _network.backward(X, trace.Y, A1, A2, trace.params, "sigmoid", None, 0.1)
    for name, grad in zip(FIELDS, grads, strict=True):
        np.testing.assert_allclose(getattr(trace, "d" + name), grad, rtol=1e-12)


def test_trace_step_is_fits_first_full_batch_epoch(cancer):
    X, y = cancer
    clf = BackpropClassifier(hidden_size=5, alpha=0.2, batch_size=None, random_state=7)
    trace = trace_step(clf, X, y)
    _fit_quietly(clf.set_params(max_iter=1), X, y)
    assert clf.loss_curve_[0] == pytest.approx(trace.loss, rel=1e-12)
    fitted = (clf.coefs_[0], clf.intercepts_[0], clf.coefs_[1], clf.intercepts_[1])
    for got, want in zip(trace.new_params, fitted, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_trace_from_params():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(7, 3))
    Y = rng.normal(size=(7, 2))
    params = _network.init_params(3, 4, 2, rng)
    saved = [a.copy() for a in params]
    trace = trace_step(
        params, X, Y, alpha=0.3, activation="tanh", out_activation="identity", l2=0.5
    )
    expected = _math_md_step(
        X, Y, *params, g="identity", loss="squared", alpha=0.3, lam=0.5, f="tanh"
    )
    _assert_trace_matches(trace, expected)
    for before, after in zip(saved, params, strict=True):
        np.testing.assert_array_equal(before, after)  # not modified
    # A plain tuple of lists works too, and a 1-D y is one output column.
    W1, b1, W2, b2 = (a.tolist() for a in _network.init_params(3, 2, 1, rng))
    trace = trace_step((W1, b1, W2, b2), X, (Y[:, 0] > 0).astype(float), alpha=1.0)
    assert trace.a2.shape == (7, 1) and trace.dW1.shape == (3, 2)


# ---------------------------------------------------------------------------
# Bad input.
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted(iris):
    X, y = iris
    return _fit_quietly(
        BackpropClassifier(hidden_size=3, max_iter=5, random_state=0), X, y
    )


@pytest.mark.parametrize("tool", [check_gradients, trace_step])
def test_rejects_a_pipeline(iris, tool):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), BackpropClassifier())
    with pytest.raises(TypeError, match="pass its last step"):
        tool(pipe, X, y)


def test_rejects_other_objects(iris):
    X, y = iris
    with pytest.raises(TypeError, match="BackpropClassifier or BackpropRegressor"):
        check_gradients("model", X, y)
    with pytest.raises(TypeError, match=r"four\s+parameter arrays"):
        trace_step({"W1": 1}, X, y, alpha=1.0)


@pytest.mark.parametrize("tool", [check_gradients, trace_step])
def test_rejects_wrong_number_of_features(fitted, iris, tool):
    X, y = iris
    with pytest.raises(ValueError, match="X has 3 features.*expecting 4 features"):
        tool(fitted, X[:, :3], y)


@pytest.mark.parametrize("tool", [check_gradients, trace_step])
def test_rejects_nan(iris, tool):
    X, y = iris
    X = X.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        tool(BackpropClassifier(hidden_size=2), X, y)


def test_rejects_unknown_label(fitted, iris):
    X, y = iris
    with pytest.raises(ValueError, match=r"labels \[7\] not in classes"):
        check_gradients(fitted, X[:3], np.array([0, 1, 7]))


def test_rejects_mismatched_lengths(iris):
    X, y = iris
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        trace_step(BackpropClassifier(hidden_size=2), X, y[:-1])


def test_rejects_continuous_targets_for_a_classifier(diabetes):
    X, y = diabetes
    with pytest.raises(ValueError, match="continuous"):
        check_gradients(BackpropClassifier(hidden_size=2), X, y)


def test_rejects_invalid_estimator_parameters(iris):
    X, y = iris
    with pytest.raises(ValueError, match="hidden_size"):
        check_gradients(BackpropClassifier(hidden_size=0), X, y)


@pytest.mark.parametrize("epsilon", [0, -1e-6, np.nan, np.inf, "1e-6", True])
def test_rejects_bad_epsilon(iris, epsilon):
    X, y = iris
    with pytest.raises(ValueError, match="epsilon must be a positive finite number"):
        check_gradients(BackpropClassifier(hidden_size=2), X, y, epsilon=epsilon)


def test_rejects_bad_sample_weight(iris):
    X, y = iris
    with pytest.raises(ValueError, match="Negative values"):
        check_gradients(
            BackpropClassifier(hidden_size=2), X, y, sample_weight=-np.ones(len(y))
        )
    with pytest.raises(ValueError, match="sample_weight.shape"):
        trace_step(BackpropClassifier(hidden_size=2), X, y, sample_weight=np.ones(3))


@pytest.mark.parametrize("alpha", [0, -0.1, np.nan, "fast"])
def test_rejects_bad_alpha(iris, alpha):
    X, y = iris
    with pytest.raises(ValueError, match="alpha must be a positive finite number"):
        trace_step(BackpropClassifier(hidden_size=2), X, y, alpha=alpha)


def test_rejects_bad_l2(iris):
    X, y = iris
    with pytest.raises(ValueError, match="l2 must be a non-negative finite number"):
        trace_step(BackpropClassifier(hidden_size=2), X, y, l2=-1.0)


def test_estimator_activation_cannot_be_overridden(iris):
    X, y = iris
    with pytest.raises(ValueError, match="an estimator uses its own"):
        trace_step(BackpropClassifier(hidden_size=2), X, y, activation="tanh")


def test_params_need_alpha_and_consistent_shapes():
    rng = np.random.RandomState(0)
    X, Y = rng.normal(size=(5, 3)), rng.uniform(size=(5, 2))
    params = _network.init_params(3, 4, 2, rng)
    with pytest.raises(ValueError, match="alpha, the learning rate, is required"):
        trace_step(params, X, Y)
    with pytest.raises(ValueError, match="X has 2 features, but W1 has 3 rows"):
        trace_step(params, X[:, :2], Y, alpha=1.0)
    with pytest.raises(ValueError, match=r"y has shape \(5, 1\); expected \(5, 2\)"):
        trace_step(params, X, Y[:, 0], alpha=1.0)
    bad = params._replace(b1=np.zeros(5))
    with pytest.raises(ValueError, match="parameter shapes do not fit together"):
        trace_step(bad, X, Y, alpha=1.0)
    with pytest.raises(ValueError, match="2-D"):
        trace_step(params._replace(W2=np.zeros(4)), X, Y, alpha=1.0)
    with pytest.raises(ValueError, match="activation must be one of"):
        trace_step(params, X, Y, alpha=1.0, activation="softplus")
    with pytest.raises(ValueError, match="out_activation must be one of"):
        trace_step(params, X, Y, alpha=1.0, out_activation="tanh")
    with pytest.raises(ValueError, match="NaN"):
        trace_step(params._replace(b2=np.array([np.nan, 0.0])), X, Y, alpha=1.0)
