"""The training features, through both estimators.

sample_weight, class_weight, l2, momentum, hidden activations, partial_fit,
early stopping and validation sets, interrupts, divergence and verbose output.
Where math.md gives a formula, the expected parameters are computed here
independently of the package and compared with the fitted ones.
"""

import re
import warnings

import numpy as np
import pytest
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    make_classification,
    make_multilabel_classification,
)
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import log_loss, recall_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from skbackprop import BackpropClassifier, BackpropRegressor, _kernels

ESTIMATORS = [BackpropClassifier, BackpropRegressor]


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


# ---------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------


def _make_data():
    X, y = make_classification(
        n_samples=60, n_features=4, n_informative=3, n_redundant=0, random_state=0
    )
    X = StandardScaler().fit_transform(X)
    rng = np.random.RandomState(1)
    y_reg = np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.normal(size=len(X))
    return X, y, (y_reg - y_reg.mean()) / y_reg.std()


_X, _Y_CLASS, _Y_REG = _make_data()


def _data(Estimator):
    """X, y, math.md's target matrix Y and the output activation g."""
    y = _Y_CLASS if Estimator is BackpropClassifier else _Y_REG
    out_activation = "sigmoid" if Estimator is BackpropClassifier else "identity"
    return _X, y, y[:, None].astype(float), out_activation


def _params(est):
    """W1, b1, W2, b2 (math.md's order), copied."""
    return [
        a.copy()
        for a in (est.coefs_[0], est.intercepts_[0], est.coefs_[1], est.intercepts_[1])
    ]


def _assert_params_equal(a, b):
    for x, z in zip(_params(a), _params(b), strict=True):
        np.testing.assert_array_equal(x, z)


def _assert_params_close(a, b, rtol=1e-10, atol=1e-13):
    for x, z in zip(_params(a), _params(b), strict=True):
        np.testing.assert_allclose(x, z, rtol=rtol, atol=atol)


def _partial_fit(est, X, y, **kwargs):
    if isinstance(est, BackpropClassifier):
        kwargs.setdefault("classes", np.unique(_Y_CLASS))
    return est.partial_fit(X, y, **kwargs)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


# The hidden activations f and their derivatives in terms of a = f(z).
_HIDDEN = {
    "sigmoid": (_sigmoid, lambda a: a * (1 - a)),
    "tanh": (np.tanh, lambda a: 1 - a**2),
    "relu": (lambda z: np.maximum(z, 0), lambda a: (a > 0).astype(float)),
}


def _math_md(
    X, Y, params, out_activation, activation="sigmoid", sample_weight=None, l2=0.0
):
    """math.md written out again: the gradients [dW1, db1, dW2, db2] and L."""
    W1, b1, W2, b2 = params
    f, f_prime = _HIDDEN[activation]
    A1 = f(X @ W1 + b1)
    Z2 = A1 @ W2 + b2
    A2 = _sigmoid(Z2) if out_activation == "sigmoid" else Z2
    s = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
    m = s.sum()  # Σ s, which is m without weights
    dZ2 = s[:, None] * (A2 - Y) / m
    dZ1 = (dZ2 @ W2.T) * f_prime(A1)
    grads = [
        X.T @ dZ1 + (l2 / m) * W1,
        dZ1.sum(axis=0),  # biases are not penalised
        A1.T @ dZ2 + (l2 / m) * W2,
        dZ2.sum(axis=0),
    ]
    if out_activation == "sigmoid":
        per_sample = -(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)).sum(axis=1)
    else:
        per_sample = 0.5 * ((A2 - Y) ** 2).sum(axis=1)
    loss = s @ per_sample / m + l2 / (2 * m) * ((W1**2).sum() + (W2**2).sum())
    return grads, loss


def _check_full_batch_steps(
    est, X, y, Y, out_activation, sample_weight=None, n_steps=2
):
    """est (warm_start, max_iter=1, full batch) takes math.md's step each fit."""
    est.fit(X, y, sample_weight=sample_weight)
    for _ in range(n_steps):
        before = _params(est)
        grads, loss = _math_md(
            X, Y, before, out_activation, est.activation, sample_weight, est.l2
        )
        expected = [p - est.alpha * g for p, g in zip(before, grads, strict=True)]
        est.fit(X, y, sample_weight=sample_weight)
        for got, want in zip(_params(est), expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
        assert est.loss_curve_[-1] == pytest.approx(loss, rel=1e-12)


def _initial_params(Estimator, X, y, **kwargs):
    """The parameters a fit starts from, read through the public API.

    They depend on random_state alone, and one step with α = 1e-300 moves no
    parameter by as much as one unit in the last place.
    """
    est = Estimator(alpha=1e-300, batch_size=None, max_iter=1, **kwargs).fit(X, y)
    return _params(est)


# ---------------------------------------------------------------------------
# sample_weight.
# ---------------------------------------------------------------------------

# Weighted and repeated samples are compared to rounding, not bit for bit:
# with weights the output error of a row is multiplied by s_i / Σ s, without
# them it is divided by m, and the duplicated row adds a term to BLAS's sums in
# another place and order. The two computations are the same real numbers,
# rounded differently (the differences seen are ~1e-16 after 20 epochs).


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_weight_two_equals_the_sample_appearing_twice_full_batch(Estimator):
    X, y, _, _ = _data(Estimator)
    twice = [0, 7, 33]
    w = np.ones(len(y))
    w[twice] = 2
    kwargs = dict(
        hidden_size=5, alpha=0.5, batch_size=None, max_iter=20, random_state=0
    )
    weighted = Estimator(**kwargs).fit(X, y, sample_weight=w)
    repeated = Estimator(**kwargs).fit(
        np.vstack([X, X[twice]]), np.concatenate([y, y[twice]])
    )
    _assert_params_close(weighted, repeated)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-12)
    # The weights matter: unweighted training ends elsewhere.
    plain = Estimator(**kwargs).fit(X, y)
    assert not np.allclose(plain.coefs_[0], weighted.coefs_[0], rtol=1e-6, atol=0)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_zero_weight_equals_removing_the_sample_full_batch(Estimator):
    X, y, _, _ = _data(Estimator)
    w = np.ones(len(y))
    w[[3, 20, 59]] = 0
    keep = w > 0
    kwargs = dict(
        hidden_size=5, alpha=0.5, batch_size=None, max_iter=20, random_state=0
    )
    weighted = Estimator(**kwargs).fit(X, y, sample_weight=w)
    removed = Estimator(**kwargs).fit(X[keep], y[keep])
    _assert_params_close(weighted, removed)  # to rounding, as above
    np.testing.assert_allclose(weighted.loss_curve_, removed.loss_curve_, rtol=1e-12)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize(
    "make_weight, message",
    [
        (lambda n: np.r_[-1.0, np.ones(n - 1)], r"[Nn]egative.*sample_weight"),
        (lambda n: np.r_[np.nan, np.ones(n - 1)], r"sample_weight.*NaN"),
        (lambda n: np.r_[np.inf, np.ones(n - 1)], r"sample_weight.*infinity"),
        (lambda n: np.zeros(n), r"sample_weight.*(all|every).*zero"),
        (lambda n: np.ones(n - 1), r"sample_weight.*\(59,\).*\(60,\)"),
        (lambda n: np.ones((n, 1)), r"sample_weight.*\(60, 1\).*\(60,\)"),
    ],
    ids=["negative", "nan", "inf", "all-zero", "too-short", "2-D"],
)
def test_invalid_sample_weight_raises_saying_why(
    Estimator, method, make_weight, message
):
    X, y, _, _ = _data(Estimator)
    est = Estimator(max_iter=2, random_state=0)
    with pytest.raises(ValueError, match=message):
        if method == "fit":
            est.fit(X, y, sample_weight=make_weight(len(y)))
        else:
            _partial_fit(est, X, y, sample_weight=make_weight(len(y)))
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_mini_batch_whose_weights_are_all_zero_is_skipped(Estimator):
    # shuffle=False, batch_size=2: rows (0, 1) and (10, 11) form two batches of
    # zero weight. Skipping them is training on the other rows, whose batches
    # are then exactly the same (the removed rows come in aligned pairs).
    X, y, _, _ = _data(Estimator)
    zero = [0, 1, 10, 11]
    w = np.linspace(0.5, 2.0, len(y))
    w[zero] = 0
    keep = w > 0
    kwargs = dict(
        hidden_size=5,
        alpha=0.1,
        batch_size=2,
        shuffle=False,
        max_iter=3,
        random_state=0,
    )
    skipped = Estimator(**kwargs).fit(X, y, sample_weight=w)
    without = Estimator(**kwargs).fit(X[keep], y[keep], sample_weight=w[keep])
    # The same batches, the same arithmetic: bit for bit.
    _assert_params_equal(skipped, without)
    assert skipped.loss_curve_ == without.loss_curve_
    assert all(np.isfinite(skipped.loss_curve_))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_sample_weight_in_partial_fit(Estimator):
    X, y, _, _ = _data(Estimator)
    twice, removed = [2, 9], [4, 40]
    w = np.ones(len(y))
    w[twice], w[removed] = 2, 0
    keep = w > 0
    X_same = np.vstack([X[keep], X[twice]])
    y_same = np.concatenate([y[keep], y[twice]])
    kwargs = dict(hidden_size=5, alpha=0.5, batch_size=None, random_state=0)
    weighted, same, plain = (
        Estimator(**kwargs),
        Estimator(**kwargs),
        Estimator(**kwargs),
    )
    for _ in range(3):
        _partial_fit(weighted, X, y, sample_weight=w)
        _partial_fit(same, X_same, y_same)
        _partial_fit(plain, X, y)
    _assert_params_close(weighted, same)  # to rounding, as above
    assert not np.allclose(plain.coefs_[0], weighted.coefs_[0], rtol=1e-6, atol=0)


# ---------------------------------------------------------------------------
# class_weight (classifier).
# ---------------------------------------------------------------------------


def test_balanced_class_weight_raises_minority_recall():
    X, y = make_classification(
        n_samples=600,
        n_features=8,
        weights=[0.9, 0.1],
        flip_y=0,
        class_sep=0.5,
        random_state=0,
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.5, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    recall = {}
    for class_weight in (None, "balanced"):
        est = BackpropClassifier(
            hidden_size=10,
            alpha=0.5,
            batch_size=None,
            max_iter=100,
            class_weight=class_weight,
            random_state=0,
        ).fit(X_train, y_train)
        recall[class_weight] = recall_score(y_test, est.predict(X_test))
    assert recall["balanced"] > 0.7
    assert recall["balanced"] > recall[None] + 0.3


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_class_weight_dict_equals_the_sample_weight_it_implies(iris):
    X, y = iris
    class_weight = {0: 1.0, 1: 3.0, 2: 0.5}
    kwargs = dict(hidden_size=5, batch_size=16, max_iter=5, random_state=0)
    by_class = BackpropClassifier(class_weight=class_weight, **kwargs).fit(X, y)
    by_sample = BackpropClassifier(**kwargs).fit(
        X, y, sample_weight=np.array([class_weight[label] for label in y])
    )
    _assert_params_equal(by_class, by_sample)
    plain = BackpropClassifier(**kwargs).fit(X, y)
    assert not np.allclose(plain.coefs_[0], by_class.coefs_[0], rtol=1e-6, atol=0)


def test_class_weight_multiplies_sample_weight(iris):
    X, y = iris
    class_weight = {0: 1.0, 1: 3.0, 2: 0.5}
    sample_weight = np.linspace(0.2, 2.0, len(y))
    kwargs = dict(hidden_size=5, batch_size=16, max_iter=5, random_state=0)
    both = BackpropClassifier(class_weight=class_weight, **kwargs).fit(
        X, y, sample_weight=sample_weight
    )
    product = np.array([class_weight[label] for label in y]) * sample_weight
    by_product = BackpropClassifier(**kwargs).fit(X, y, sample_weight=product)
    _assert_params_equal(both, by_product)


def test_balanced_class_weight_in_partial_fit_is_a_clear_error(iris):
    X, y = iris
    est = BackpropClassifier(class_weight="balanced")
    with pytest.raises(ValueError, match=r"balanced.*partial_fit"):
        est.partial_fit(X, y, classes=[0, 1, 2])


def test_class_weight_dict_works_in_partial_fit(iris):
    X, y = iris
    class_weight = {0: 1.0, 1: 3.0, 2: 0.5}
    est = BackpropClassifier(class_weight=class_weight, hidden_size=5, random_state=0)
    ref = BackpropClassifier(hidden_size=5, random_state=0)
    est.partial_fit(X, y, classes=[0, 1, 2])
    ref.partial_fit(X, y, classes=[0, 1, 2], sample_weight=[class_weight[c] for c in y])
    _assert_params_equal(est, ref)


def test_class_weight_dict_in_partial_fit_with_a_chunk_lacking_a_class(iris):
    X, y = iris
    class_weight = {1: 3.0, 2: 0.5}  # class 0 keeps weight 1
    est = BackpropClassifier(class_weight=class_weight, hidden_size=5, random_state=0)
    ref = BackpropClassifier(hidden_size=5, random_state=0)
    chunk = y < 2  # classes 0 and 1 only
    est.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2])
    ref.partial_fit(
        X[chunk],
        y[chunk],
        classes=[0, 1, 2],
        sample_weight=[class_weight.get(c, 1.0) for c in y[chunk]],
    )
    _assert_params_equal(est, ref)


@pytest.mark.parametrize(
    "class_weight",
    [{0: -1.0, 1: 1.0, 2: 1.0}, {0: 0.0, 1: 0.0, 2: 0.0}, {0: np.nan, 1: 1.0, 2: 1.0}],
    ids=["negative", "all-zero", "nan"],
)
def test_invalid_class_weight_raises_saying_why(iris, class_weight):
    X, y = iris
    est = BackpropClassifier(class_weight=class_weight, batch_size=None, max_iter=3)
    with pytest.raises(ValueError, match=r"(?i)weight.*(negative|zero|nan|finite)"):
        est.fit(X, y)


def test_class_weight_with_multilabel_targets_raises():
    X, Y = make_multilabel_classification(n_samples=50, n_classes=3, random_state=0)
    with pytest.raises(ValueError, match=r"class_weight.*multilabel"):
        BackpropClassifier(class_weight={0: 2.0}, max_iter=2).fit(X, Y)


# ---------------------------------------------------------------------------
# l2.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_l2_gives_smaller_weights(Estimator):
    X, y, _, _ = _data(Estimator)
    kwargs = dict(
        hidden_size=10, alpha=0.3, batch_size=None, max_iter=100, random_state=0
    )
    free = Estimator(**kwargs).fit(X, y)
    penalised = Estimator(l2=5.0, **kwargs).fit(X, y)
    for W_free, W_penalised in zip(free.coefs_, penalised.coefs_, strict=True):
        assert np.linalg.norm(W_penalised) < 0.9 * np.linalg.norm(W_free)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("weighted", [False, True])
def test_one_full_batch_step_with_l2_is_math_md(Estimator, weighted):
    """W ← W − α (dW + (λ/m) W), b ← b − α db; with weights m is Σ s."""
    X, y, Y, out_activation = _data(Estimator)
    sample_weight = np.linspace(0.2, 3.0, len(y)) if weighted else None
    est = Estimator(
        hidden_size=3,
        alpha=0.5,
        l2=2.0,
        batch_size=None,
        max_iter=1,
        warm_start=True,
        random_state=0,
    )
    _check_full_batch_steps(est, X, y, Y, out_activation, sample_weight)


# ---------------------------------------------------------------------------
# Momentum.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "momentum, nesterov", [(0.0, False), (0.0, True), (0.9, False), (0.9, True)]
)
@pytest.mark.parametrize("method", ["partial_fit", "warm_start"])
def test_momentum_velocity_persists_across_calls(Estimator, momentum, nesterov, method):
    """Each call is one full-batch step of the momentum recursion, from v = 0:

        v ← μ v − α dW;  W ← W + v (classical) or W ← W + μ v − α dW (Nesterov)

    μ = 0 is plain gradient descent. The velocity carries over from call to
    call: a model that forgot it would take a plain step at every call.
    """
    X, y, Y, out_activation = _data(Estimator)
    alpha = 0.5
    params = _initial_params(Estimator, X, y, hidden_size=3, random_state=0)
    velocity = [np.zeros_like(p) for p in params]
    est = Estimator(
        hidden_size=3,
        alpha=alpha,
        momentum=momentum,
        nesterov=nesterov,
        batch_size=None,
        max_iter=1,
        warm_start=method == "warm_start",
        random_state=0,
    )
    for _ in range(4):
        grads, _ = _math_md(X, Y, params, out_activation)
        velocity = [
            momentum * v - alpha * g for v, g in zip(velocity, grads, strict=True)
        ]
        if nesterov:
            params = [
                p + momentum * v - alpha * g
                for p, v, g in zip(params, velocity, grads, strict=True)
            ]
        else:
            params = [p + v for p, v in zip(params, velocity, strict=True)]
        if method == "partial_fit":
            _partial_fit(est, X, y)
        else:
            est.fit(X, y)
        for got, want in zip(_params(est), params, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_momentum_and_nesterov_change_mini_batch_training(Estimator):
    X, y, _, _ = _data(Estimator)
    kwargs = dict(hidden_size=5, alpha=0.05, batch_size=8, max_iter=5, random_state=0)
    plain = Estimator(**kwargs).fit(X, y)
    classical = Estimator(momentum=0.9, **kwargs).fit(X, y)
    nesterov = Estimator(momentum=0.9, nesterov=True, **kwargs).fit(X, y)
    # Nesterov's flag alone, without momentum, is plain gradient descent.
    _assert_params_equal(plain, Estimator(nesterov=True, **kwargs).fit(X, y))
    for a, b in [(plain, classical), (plain, nesterov), (classical, nesterov)]:
        assert not np.allclose(a.coefs_[0], b.coefs_[0], rtol=1e-6, atol=0)
    # Momentum speeds up this small learning rate.
    assert classical.loss_curve_[-1] < plain.loss_curve_[-1]


# ---------------------------------------------------------------------------
# Hidden activations.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_one_full_batch_step_with_activation_is_math_md(Estimator, activation):
    """math.md with f and f' in place of σ and σ(1 − σ)."""
    X, y, Y, out_activation = _data(Estimator)
    est = Estimator(
        hidden_size=3,
        activation=activation,
        alpha=0.5,
        batch_size=None,
        max_iter=1,
        warm_start=True,
        random_state=0,
    )
    _check_full_batch_steps(est, X, y, Y, out_activation)


@pytest.fixture(scope="module")
def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_activation_trains_to_good_accuracy_on_breast_cancer(activation, breast_cancer):
    X_train, X_test, y_train, y_test = breast_cancer
    est = BackpropClassifier(
        hidden_size=16,
        activation=activation,
        alpha=0.1,
        batch_size=32,
        max_iter=50,
        random_state=0,
    ).fit(X_train, y_train)
    assert est.score(X_test, y_test) > 0.93
    # Predictions go through the same activation.
    f, _ = _HIDDEN[activation]
    W1, b1, W2, b2 = _params(est)
    z = (f(X_test @ W1 + b1) @ W2 + b2)[:, 0]
    np.testing.assert_allclose(est.decision_function(X_test), z, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------
# partial_fit over chunks.
# ---------------------------------------------------------------------------


def test_partial_fit_over_chunks_of_digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    est = BackpropClassifier(hidden_size=32, batch_size=32, random_state=0)
    n_passes, n_chunks = 3, 10
    for _ in range(n_passes):
        for X_chunk, y_chunk in zip(
            np.array_split(X_train, n_chunks),
            np.array_split(y_train, n_chunks),
            strict=True,
        ):
            est.partial_fit(X_chunk, y_chunk, classes=np.arange(10))
    assert est.score(X_test, y_test) > 0.9
    assert est.n_iter_ == n_passes * n_chunks == len(est.loss_curve_)
    assert est.t_ == n_passes * len(X_train)
    assert est.validation_scores_ is None


# ---------------------------------------------------------------------------
# Early stopping and validation sets.
# ---------------------------------------------------------------------------


def test_early_stopping_split_is_stratified():
    # With X constant the network gives every sample the same output, so its
    # validation accuracy is the share of one class in the validation set:
    # 18/20 or 2/20 when the 20 validation samples are stratified (90 % / 10 %).
    # An unstratified split would hold 0 to 10 minority samples.
    X = np.zeros((100, 2))
    y = np.r_[np.zeros(90, int), np.ones(10, int)]
    for seed in range(6):
        est = BackpropClassifier(
            hidden_size=2,
            batch_size=None,
            max_iter=10,
            early_stopping=True,
            validation_fraction=0.2,
            random_state=seed,
        ).fit(X, y)
        assert est.t_ == 80 * est.n_iter_  # trained on the other 80
        np.testing.assert_allclose(
            [min(abs(s - 0.9), abs(s - 0.1)) for s in est.validation_scores_],
            0,
            atol=1e-12,
        )


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_early_stopping_split_is_deterministic_for_an_int_seed(Estimator):
    X, y, _, _ = _data(Estimator)
    kwargs = dict(
        hidden_size=5,
        batch_size=16,
        max_iter=8,
        early_stopping=True,
        validation_fraction=0.25,
    )
    a = Estimator(random_state=3, **kwargs).fit(X, y)
    b = Estimator(random_state=3, **kwargs).fit(X, y)
    c = Estimator(random_state=4, **kwargs).fit(X, y)
    assert a.validation_loss_curve_ == b.validation_loss_curve_
    assert a.validation_scores_ == b.validation_scores_
    _assert_params_equal(a, b)
    assert a.validation_loss_curve_ != c.validation_loss_curve_
    for est in (a, b, c):
        assert (
            len(est.validation_scores_)
            == len(est.validation_loss_curve_)
            == est.n_iter_
        )
        assert est.t_ == est.n_iter_ * (len(y) - 15)


def _split_problem(Estimator, n_samples, dtype, weighted):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n_samples, 3)).astype(dtype)
    if Estimator is BackpropClassifier:
        y = (X[:, 0] + 0.5 * rng.normal(size=n_samples) > 0).astype(int)
    else:
        y = X[:, 0] + 0.1 * rng.normal(size=n_samples)
    w = rng.uniform(0.5, 2, size=n_samples) if weighted else None
    return X, y, w


# Each case takes another path through training: the compiled mini-batch
# epoch (shuffled or not; batches of 200 rows are cut into parts), the
# mini-batch loop in NumPy calls (tanh, or with the compiled loops off), one
# full-batch block pass (up to CHUNK_ROWS training rows) and the pass in
# chunks shared by threads (more rows), compiled or in NumPy calls.
_SPLIT_CASES = {
    "batch 32": (300, dict(batch_size=32)),
    "batch 32, no shuffle": (300, dict(batch_size=32, shuffle=False)),
    "batch 200 in parts, no shuffle": (1500, dict(batch_size=200, shuffle=False)),
    "batch 32, tanh": (300, dict(batch_size=32, activation="tanh")),
    "batch 32, NumPy loops": (300, dict(batch_size=32, compiled=False)),
    "full batch": (300, dict(batch_size=None)),
    "full batch in chunks": (12_000, dict(batch_size=None)),
    "full batch in chunks, tanh": (12_000, dict(batch_size=None, activation="tanh")),
    "full batch in chunks, NumPy loops": (12_000, dict(batch_size=None, compiled=False)),
}


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("case", list(_SPLIT_CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("order", ["C", "F"])
def test_early_stopping_split_gives_the_model_of_its_two_parts(
    Estimator, case, dtype, weighted, order, monkeypatch
):
    # early_stopping holds out train_test_split's validation part (stratified
    # for a classifier) and trains on the rest, read from X where it is. The
    # model is the one fitted on the copies of both parts, passed as
    # training and validation sets, to the last bit.
    from skbackprop import _base

    n_samples, kwargs = _SPLIT_CASES[case]
    kwargs = dict(kwargs)
    monkeypatch.setattr(_kernels, "_enabled", kwargs.pop("compiled", _kernels._enabled))
    X, y, w = _split_problem(Estimator, n_samples, dtype, weighted)
    X = np.asarray(X, order=order)
    kwargs = dict(
        hidden_size=4, max_iter=4, validation_fraction=0.2, random_state=7, **kwargs
    )
    trained_on = []
    original_train = _base.BaseBackprop._train

    def spy(self, state, X, Y, sample_weight, rows, *args, **kwargs):
        trained_on.append((X.shape[0], None if rows is None else rows.shape[0]))
        return original_train(self, state, X, Y, sample_weight, rows, *args, **kwargs)

    monkeypatch.setattr(_base.BaseBackprop, "_train", spy)
    split = Estimator(early_stopping=True, **kwargs).fit(X, y, sample_weight=w)

    train, val = train_test_split(
        np.arange(n_samples),
        test_size=0.2,
        random_state=np.random.RandomState(7).randint(np.iinfo(np.int32).max),
        stratify=y if Estimator is BackpropClassifier else None,
    )
    w_train, w_val = (None, None) if w is None else (w[train], w[val])
    copies = Estimator(early_stopping=True, **kwargs).fit(
        X[train], y[train], w_train, X_val=X[val], y_val=y[val], sample_weight_val=w_val
    )
    _assert_params_equal(split, copies)
    assert split.loss_curve_ == copies.loss_curve_
    assert split.validation_scores_ == copies.validation_scores_
    assert split.validation_loss_curve_ == copies.validation_loss_curve_
    assert split.t_ == copies.t_ == split.n_iter_ * len(train)
    # In place: all n rows given (fit makes an F-ordered X C-ordered first),
    # the training rows named.
    assert trained_on[0] == (n_samples, len(train))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_columns_first_inputs_train_as_fast_and_to_the_same_model(
    Estimator, early_stopping, activation, monkeypatch
):
    # A DataFrame's values, a Fortran-ordered X, y = X[:, 0] or a strided
    # sample_weight are not C-ordered. Fit copies them into row order once, so
    # that the compiled epoch, which gathers rows, runs on them: the model is
    # that of C-ordered inputs. (Gathering rows of a Fortran-ordered X with
    # np.take copied all of X for every batch: minutes instead of seconds.)
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(600, 4))
    y = (X[:, 0] > 0).astype(int) if Estimator is BackpropClassifier else X[:, 0]
    w = np.repeat(rng.uniform(0.5, 2, size=600), 2)[::2]  # a strided view
    assert not (y.flags.c_contiguous and w.flags.c_contiguous)
    compiled_epochs = []
    real = _kernels.minibatch_epoch

    def counted(*args, **kwargs):
        result = real(*args, **kwargs)
        compiled_epochs.append(result is not None)
        return result

    monkeypatch.setattr(_kernels, "minibatch_epoch", counted)
    kwargs = dict(
        hidden_size=5,
        batch_size=50,
        max_iter=3,
        early_stopping=early_stopping,
        activation=activation,
    )
    reference = Estimator(random_state=0, **kwargs).fit(
        X, np.ascontiguousarray(y), sample_weight=w.copy()
    )
    wide = np.hstack([X, X])[:, :4]  # rows 8 values apart
    assert not wide.flags.c_contiguous
    for given in (np.asfortranarray(X), pd.DataFrame(X).to_numpy(), wide):
        compiled_epochs.clear()
        est = Estimator(random_state=0, **kwargs).fit(given, y, sample_weight=w)
        _assert_params_equal(est, reference)
        # Prediction too reads rows in order, chunk by chunk: the same bits.
        predict = getattr(est, "predict_proba", est.predict)
        np.testing.assert_array_equal(predict(given), predict(X))
        if _kernels.backend() != "numpy" and activation == "sigmoid":
            assert compiled_epochs and all(compiled_epochs)


@pytest.mark.parametrize("layout", ["F", "DataFrame"])
def test_predicting_on_columns_first_input_copies_a_block_at_a_time(layout):
    # Prediction copies a column-major X into row order one block at a time
    # per thread, not a chunk (with few chunks, that came to all of X).
    import tracemalloc

    from threadpoolctl import threadpool_limits

    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20_000, 50))
    model = BackpropClassifier(hidden_size=16, max_iter=1).fit(X, (X[:, 0] > 0).astype(int))
    given = np.asfortranarray(X) if layout == "F" else pd.DataFrame(X)
    peaks = {}
    for name, data in (("C", X), ("columns first", given)):
        with threadpool_limits(limits=2):
            tracemalloc.start()
            try:
                model.predict_proba(data)
                peaks[name] = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    extra = (peaks["columns first"] - peaks["C"]) / X.nbytes
    assert extra < 0.3, extra


@pytest.mark.parametrize("batch_size", [200, None])
def test_early_stopping_does_not_copy_the_training_rows(batch_size):
    # A copy of the training part would be 0.8 X here; the validation part
    # is 0.2 X, the rest is bounded buffers (two threads' chunks of rows)
    # and index arrays.
    import tracemalloc

    from threadpoolctl import threadpool_limits

    rng = np.random.RandomState(0)
    X = rng.normal(size=(30_000, 100))
    y = (X[:, 0] > 0).astype(int)
    peaks = {}
    for early_stopping in (False, True):
        est = BackpropClassifier(
            hidden_size=16,
            max_iter=1,
            batch_size=batch_size,
            early_stopping=early_stopping,
            validation_fraction=0.2,
        )
        with threadpool_limits(limits=2):
            tracemalloc.start()
            try:
                est.fit(X, y)
                peaks[early_stopping] = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    extra = (peaks[True] - peaks[False]) / X.nbytes
    assert extra < 0.5, extra


def _overfitting_problem(Estimator):
    """Small noisy training and validation sets on which the validation score
    peaks well before training stops, and the model's settings."""
    kwargs = dict(
        hidden_size=50,
        batch_size=None,
        max_iter=300,
        early_stopping=True,
        n_iter_no_change=30,
        tol=0,
        random_state=0,
    )
    if Estimator is BackpropClassifier:
        X, y = make_classification(
            n_samples=120, n_features=20, n_informative=3, flip_y=0.2, random_state=0
        )
        X = StandardScaler().fit_transform(X)
        return X[:60], y[:60], X[60:], y[60:], dict(alpha=1.0, **kwargs)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 8))
    y = X[:, 0] + rng.normal(size=60)
    return X[:30], y[:30], X[30:], y[30:], dict(alpha=0.1, **kwargs)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_early_stopping_restores_the_best_parameters(Estimator):
    X, y, X_val, y_val, kwargs = _overfitting_problem(Estimator)
    est = Estimator(**kwargs).fit(X, y, X_val=X_val, y_val=y_val)
    scores = est.validation_scores_
    assert (
        len(scores)
        == len(est.validation_loss_curve_)
        == est.n_iter_
        == len(est.loss_curve_)
    )
    assert est.n_iter_ < kwargs["max_iter"]  # it stopped early...
    assert max(scores) > scores[-1]  # ...after the score had got worse
    assert est.best_validation_score_ == max(scores)
    assert est.score(X_val, y_val) == pytest.approx(
        est.best_validation_score_, rel=1e-12
    )
    assert est.t_ == est.n_iter_ * len(y)  # X_val given: no split of X


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_early_stopping_curves_continue_across_warm_start(Estimator):
    X, y, X_val, y_val, kwargs = _overfitting_problem(Estimator)
    est = Estimator(warm_start=True, **kwargs).fit(X, y, X_val=X_val, y_val=y_val)
    first = (
        list(est.loss_curve_),
        list(est.validation_scores_),
        list(est.validation_loss_curve_),
        est.n_iter_,
    )
    est.fit(X, y, X_val=X_val, y_val=y_val)
    assert est.n_iter_ > first[3]
    assert len(est.loss_curve_) == len(est.validation_scores_) == est.n_iter_
    assert len(est.validation_loss_curve_) == est.n_iter_
    assert est.loss_curve_[: first[3]] == first[0]
    assert est.validation_scores_[: first[3]] == first[1]
    assert est.validation_loss_curve_[: first[3]] == first[2]
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert est.best_loss_ == min(est.loss_curve_)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_early_stopping_with_warm_start_keeps_the_best_parameters(Estimator):
    X, y, X_val, y_val, kwargs = _overfitting_problem(Estimator)
    est = Estimator(warm_start=True, **kwargs).fit(X, y, X_val=X_val, y_val=y_val)
    est.fit(X, y, X_val=X_val, y_val=y_val)
    assert est.score(X_val, y_val) == pytest.approx(
        est.best_validation_score_, rel=1e-12
    )


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_explicit_validation_set_is_scored_every_epoch(Estimator):
    X, y, _, _ = _data(Estimator)
    X_train, y_train, X_val, y_val = X[:40], y[:40], X[40:], y[40:]
    w_val = np.linspace(0.1, 3.0, len(y_val))
    kwargs = dict(hidden_size=5, batch_size=16, max_iter=6, random_state=0)
    est = Estimator(**kwargs).fit(
        X_train, y_train, X_val=X_val, y_val=y_val, sample_weight_val=w_val
    )
    assert (
        len(est.validation_scores_)
        == len(est.validation_loss_curve_)
        == est.n_iter_
        == 6
    )
    assert est.best_validation_score_ == max(est.validation_scores_)
    # Without early stopping the last epoch's model is kept: its scores are the last.
    assert est.validation_scores_[-1] == pytest.approx(
        est.score(X_val, y_val, sample_weight=w_val), rel=1e-12
    )
    if Estimator is BackpropClassifier:
        expected_loss = log_loss(y_val, est.predict_proba(X_val), sample_weight=w_val)
    else:
        expected_loss = 0.5 * np.average(
            (est.predict(X_val) - y_val) ** 2, weights=w_val
        )
    assert est.validation_loss_curve_[-1] == pytest.approx(expected_loss, rel=1e-10)
    # The validation set is only scored: training is the same without it.
    _assert_params_equal(est, Estimator(**kwargs).fit(X_train, y_train))
    # ... and sample_weight_val is used.
    unweighted = Estimator(**kwargs).fit(X_train, y_train, X_val=X_val, y_val=y_val)
    assert unweighted.validation_loss_curve_ != est.validation_loss_curve_


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "given, message",
    [
        (("X_val",), r"X_val and y_val"),
        (("y_val",), r"X_val and y_val"),
        (("sample_weight_val",), r"sample_weight_val"),
        (("X_val", "y_val", "short_weight"), r"sample_weight_val.*\(5,\)"),
        (("X_val", "y_val", "negative_weight"), r"[Nn]egative.*sample_weight_val"),
        (("X_val", "short_y"), r"inconsistent numbers of samples"),
    ],
    ids=[
        "X_val-only",
        "y_val-only",
        "weights-only",
        "short-weights",
        "negative-weights",
        "short-y_val",
    ],
)
def test_incomplete_or_mismatched_validation_arguments_raise(Estimator, given, message):
    X, y, _, _ = _data(Estimator)
    candidates = {
        "X_val": ("X_val", X[:10]),
        "y_val": ("y_val", y[:10]),
        "short_y": ("y_val", y[:9]),
        "sample_weight_val": ("sample_weight_val", np.ones(10)),
        "short_weight": ("sample_weight_val", np.ones(5)),
        "negative_weight": ("sample_weight_val", np.r_[-1.0, np.ones(9)]),
    }
    kwargs = dict(candidates[name] for name in given)
    est = Estimator(max_iter=2)
    with pytest.raises(ValueError, match=message):
        est.fit(X, y, **kwargs)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


# ---------------------------------------------------------------------------
# Interrupts. A KeyboardInterrupt is raised from inside training by wrapping
# the estimator's own per-batch step (and, below, its validation scoring).
# ---------------------------------------------------------------------------


@pytest.fixture
def python_steps():
    # The tests below interrupt a mini-batch epoch by wrapping ``_step``; the
    # compiled epoch runs its steps in C without calling ``_step`` (its own
    # interruption by a signal is tested in test_kernels.py).
    with _kernels.use_compiled(False):
        yield


class _Interrupter:
    """Raise KeyboardInterrupt on the n-th call of any of the wrapped methods."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def wrap(self, est, name):
        method = getattr(est, name)

        def wrapper(*args, **kwargs):
            self.calls += 1
            if self.calls == self.n:
                raise KeyboardInterrupt
            return method(*args, **kwargs)

        setattr(est, name, wrapper)  # on this instance only


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("batch_size", [None, 16])
def test_interrupt_mid_epoch_keeps_the_last_complete_epoch(
    Estimator, batch_size, python_steps
):
    X, y, _, _ = _data(Estimator)
    steps_per_epoch = 1 if batch_size is None else int(np.ceil(len(y) / batch_size))
    completed = 3
    # Interrupt a step of epoch 4 (its second one in mini-batch training).
    n = completed * steps_per_epoch + min(2, steps_per_epoch)
    kwargs = dict(hidden_size=5, batch_size=batch_size, max_iter=10, random_state=0)
    est = Estimator(**kwargs)
    interrupter = _Interrupter(n)
    interrupter.wrap(est, "_step")
    with pytest.warns(UserWarning, match=r"interrupted.*\b3\b"):
        est.fit(X, y)
    assert interrupter.calls == n  # it did stop there
    fresh = Estimator(**{**kwargs, "max_iter": completed}).fit(X, y)
    assert est.n_iter_ == completed == len(est.loss_curve_)
    assert est.loss_curve_ == fresh.loss_curve_
    assert est.t_ == fresh.t_
    _assert_params_equal(est, fresh)
    np.testing.assert_array_equal(est.predict(X), fresh.predict(X))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_interrupt_in_the_first_epoch_leaves_the_estimator_unfitted(
    Estimator, python_steps
):
    X, y, _, _ = _data(Estimator)
    est = Estimator(hidden_size=5, batch_size=16, max_iter=10, random_state=0)
    interrupter = _Interrupter(2)
    interrupter.wrap(est, "_step")
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    assert interrupter.calls == 2
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    assert not hasattr(est, "n_features_in_")


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_interrupted_warm_start_fit_keeps_the_previous_fit(Estimator, python_steps):
    X, y, _, _ = _data(Estimator)
    est = Estimator(
        hidden_size=5, batch_size=16, max_iter=3, warm_start=True, random_state=0
    ).fit(X, y)
    before, curve = _params(est), list(est.loss_curve_)
    _Interrupter(2).wrap(est, "_step")
    with pytest.warns(UserWarning, match="interrupted"):
        est.fit(X, y)
    assert est.n_iter_ == 3 and est.loss_curve_ == curve
    for got, want in zip(_params(est), before, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_interrupt_anywhere_leaves_a_consistent_model(Estimator):
    """Wherever training is interrupted (a step, or the scoring of the
    validation set), the model is that of a fresh fit for n_iter_ epochs, with
    curves of that length."""
    X, y, _, _ = _data(Estimator)
    X_train, y_train, X_val, y_val = X[:40], y[:40], X[40:], y[40:]
    kwargs = dict(hidden_size=5, batch_size=None, max_iter=10, random_state=0)
    for n in range(1, 9):
        est = Estimator(**kwargs)
        interrupter = _Interrupter(n)
        interrupter.wrap(est, "_step")
        interrupter.wrap(est, "_validation_score")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                est.fit(X_train, y_train, X_val=X_val, y_val=y_val)
        except KeyboardInterrupt:
            with pytest.raises(NotFittedError):
                check_is_fitted(est)
            continue
        assert interrupter.calls == n
        k = est.n_iter_
        fresh = Estimator(**{**kwargs, "max_iter": k}).fit(
            X_train, y_train, X_val=X_val, y_val=y_val
        )
        assert len(est.loss_curve_) == len(est.validation_scores_) == k, n
        assert len(est.validation_loss_curve_) == k, n
        assert est.t_ == fresh.t_, n
        _assert_params_equal(est, fresh)


# ---------------------------------------------------------------------------
# Divergence. (Full batch from a fresh start is in test_base.py.)
# ---------------------------------------------------------------------------


def _diverging_problem(Estimator):
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    if Estimator is BackpropClassifier:
        return X * 1e3, (y > np.median(y)).astype(int)
    return X, (y - y.mean()) / y.std()


@pytest.mark.parametrize(
    "Estimator, alpha",
    [
        (BackpropClassifier, 1e4),
        (BackpropRegressor, 10.0),
        (BackpropRegressor, 1e4),
    ],
)
def test_mini_batch_divergence_raises_naming_alpha(Estimator, alpha):
    X, y = _diverging_problem(Estimator)
    est = Estimator(alpha=alpha, batch_size=16, max_iter=30, random_state=0)
    with pytest.raises(ValueError, match=rf"diverged.*alpha={alpha!r}"):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("batch_size", [None, 16])
def test_diverging_warm_start_fit_leaves_the_first_fit_untouched(Estimator, batch_size):
    X, y = _diverging_problem(Estimator)
    est = Estimator(
        alpha=1e-4 if Estimator is BackpropClassifier else 0.01,
        batch_size=batch_size,
        max_iter=3,
        warm_start=True,
        random_state=0,
    )
    est.fit(X, y)
    before = _params(est)
    state = (list(est.loss_curve_), est.n_iter_, est.t_, est.best_loss_)
    predictions = est.predict(X)
    est.set_params(alpha=1e4)
    with pytest.raises(ValueError, match="alpha"):
        est.fit(X, y)
    for got, want in zip(_params(est), before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert (list(est.loss_curve_), est.n_iter_, est.t_, est.best_loss_) == state
    np.testing.assert_array_equal(est.predict(X), predictions)


# ---------------------------------------------------------------------------
# verbose.
# ---------------------------------------------------------------------------


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("with_validation", [False, True])
def test_verbose_prints_one_line_per_epoch(Estimator, with_validation, capsys):
    X, y, _, _ = _data(Estimator)
    validation = dict(X_val=X[40:], y_val=y[40:]) if with_validation else {}
    est = Estimator(hidden_size=5, batch_size=16, max_iter=4, verbose=1, random_state=0)
    est.fit(X[:40], y[:40], **validation)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == est.n_iter_ == 4
    for epoch, line in enumerate(lines, start=1):
        numbers = [float(x) for x in re.findall(_NUMBER, line)]
        assert epoch in numbers, line
        assert any(
            x == pytest.approx(est.loss_curve_[epoch - 1], abs=1e-6) for x in numbers
        ), line
        if with_validation:
            score = est.validation_scores_[epoch - 1]
            assert any(x == pytest.approx(score, abs=1e-5) for x in numbers), line
        assert "time" in line.lower(), line
    quiet = Estimator(hidden_size=5, batch_size=16, max_iter=4, random_state=0)
    quiet.fit(X[:40], y[:40], **validation)
    assert capsys.readouterr().out == ""


def test_scoring_a_validation_set_makes_no_array_of_its_rows_by_hidden_units(monkeypatch):
    # The validation set is scored as a prediction is, in blocks: scoring
    # it never allocates an n_val × h array (4 MB here), only blocks.
    import tracemalloc

    from skbackprop import _base

    scoring_peaks = []
    original = _base.BaseBackprop._record_validation

    def measured(self, *args, **kwargs):
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = original(self, *args, **kwargs)
        scoring_peaks.append(tracemalloc.get_traced_memory()[1] - before)
        return result

    monkeypatch.setattr(_base.BaseBackprop, "_record_validation", measured)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20_000, 5))
    y = (X[:, 0] > 0).astype(int)
    est = BackpropClassifier(
        hidden_size=256, max_iter=2, batch_size=None, early_stopping=True, random_state=0
    )
    n_val_by_h = int(20_000 * est.validation_fraction) * 256 * X.itemsize
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tracemalloc.start()
        try:
            est.fit(X, y)
        finally:
            tracemalloc.stop()
    assert len(scoring_peaks) == len(est.validation_scores_) == 2
    assert max(scoring_peaks) < n_val_by_h / 2, (scoring_peaks, n_val_by_h)
