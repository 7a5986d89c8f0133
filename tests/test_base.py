"""The shared training loop, through both estimators."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skbackprop import BackpropClassifier, BackpropRegressor

ESTIMATORS = [BackpropClassifier, BackpropRegressor]


@pytest.fixture(scope="module")
def binary_data():
    X, y = make_classification(n_samples=120, n_features=5, random_state=0)
    return StandardScaler().fit_transform(X), y


def _fitted_params(est):
    return [a.copy() for a in (*est.coefs_, *est.intercepts_)]


def test_one_full_batch_epoch_is_one_math_md_step(binary_data):
    """warm_start + max_iter=1: each fit is W ← W − α dW, checked by hand."""
    X, y = binary_data
    X = X[:, :2]  # the tutorial's 2-3-1 network
    alpha = 0.7
    est = BackpropClassifier(
        hidden_size=3, alpha=alpha, batch_size=None, max_iter=1,
        warm_start=True, random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        for _ in range(3):
            W1, W2, b1, b2 = _fitted_params(est)
            # math.md, written out again here.
            A1 = 1 / (1 + np.exp(-(X @ W1 + b1)))
            A2 = 1 / (1 + np.exp(-(A1 @ W2 + b2)))
            dZ2 = (A2 - y[:, None]) / len(y)
            dZ1 = (dZ2 @ W2.T) * A1 * (1 - A1)
            expected = [
                W1 - alpha * X.T @ dZ1, W2 - alpha * A1.T @ dZ2,
                b1 - alpha * dZ1.sum(0), b2 - alpha * dZ2.sum(0),
            ]
            loss = -np.mean(y[:, None] * np.log(A2) + (1 - y[:, None]) * np.log(1 - A2))
            est.fit(X, y)
            for got, want in zip(_fitted_params(est), expected, strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
            assert est.loss_curve_[-1] == pytest.approx(loss, rel=1e-12)
    assert est.n_iter_ == 4 == len(est.loss_curve_)


def test_tutorial_network_learns_xor():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([0, 1, 1, 0])
    est = BackpropClassifier(
        hidden_size=3, alpha=2.0, batch_size=None, max_iter=3000, tol=0,
        n_iter_no_change=3000, random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    np.testing.assert_array_equal(est.predict(X), y)
    assert est.loss_curve_[-1] < 0.05


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("batch_size", [None, 16])
def test_same_seed_gives_bit_identical_models(Estimator, batch_size, binary_data):
    X, y = binary_data
    est = Estimator(batch_size=batch_size, max_iter=20, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = _fitted_params(est.fit(X, y))
        b = _fitted_params(clone(est).fit(X, y))
        c = _fitted_params(Estimator(batch_size=batch_size, max_iter=20, random_state=4).fit(X, y))
    for x, z in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, z)
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_convergence_warning_only_when_max_iter_stops_training(Estimator, binary_data):
    X, y = binary_data
    with pytest.warns(ConvergenceWarning, match="maximum iterations"):
        est = Estimator(max_iter=3, random_state=0).fit(X, y)
    assert est.n_iter_ == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = Estimator(max_iter=10_000, tol=1e-2, random_state=0).fit(X, y)
    assert est.n_iter_ < 10_000


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_float32_input_trains_and_predicts_in_float32(Estimator, binary_data):
    X, y = binary_data
    est = Estimator(max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X.astype(np.float32), y)
    assert all(a.dtype == np.float32 for a in (*est.coefs_, *est.intercepts_))
    assert est.predict(X.astype(np.float32)).dtype in (np.float32, y.dtype)
    if hasattr(est, "predict_proba"):
        assert est.predict_proba(X.astype(np.float32)).dtype == np.float32
        assert est.decision_function(X.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_warm_start_continues_curves(Estimator, binary_data):
    X, y = binary_data
    est = Estimator(max_iter=4, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        first = list(est.loss_curve_)
        est.fit(X, y)
    assert est.n_iter_ == 8 == len(est.loss_curve_)
    assert est.loss_curve_[:4] == first
    assert est.best_loss_ == min(est.loss_curve_)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "params, name",
    [
        ({"hidden_size": 0}, "hidden_size"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": "fast"}, "alpha"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_iter": 0}, "max_iter"),
        ({"activation": "softplus"}, "activation"),
        ({"momentum": 1.0}, "momentum"),
        ({"l2": -1.0}, "l2"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"tol": -1.0}, "tol"),
    ],
)
def test_invalid_hyperparameters_name_the_parameter(Estimator, params, name, binary_data):
    X, y = binary_data
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        Estimator(**params).fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_divergence_raises_naming_alpha_and_leaves_estimator_unchanged(Estimator):
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    if Estimator is BackpropClassifier:
        y = (y > np.median(y)).astype(int)
        X = X * 1e3
    est = Estimator(alpha=1e4, batch_size=None, max_iter=50, random_state=0)
    with pytest.raises(ValueError, match=r"diverged.*alpha=10000\.0.*scale the input"):
        est.fit(X, y)
    assert not hasattr(est, "coefs_") and not hasattr(est, "n_features_in_")


def _count_constant_prediction_losses(monkeypatch):
    from skbackprop import _base

    calls = []
    real = _base._constant_prediction_loss

    def counted(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(_base, "_constant_prediction_loss", counted)
    return calls


def test_the_constant_prediction_loss_is_computed_only_when_needed(monkeypatch):
    calls = _count_constant_prediction_losses(monkeypatch)
    X, y = load_diabetes(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        BackpropRegressor(max_iter=5, random_state=0).fit(
            StandardScaler().fit_transform(X), (y - y.mean()) / y.std()
        )
    assert calls == []  # the loss never rose far above its starting level


def test_a_loss_far_above_a_lucky_first_batch_is_judged_against_the_constant_prediction(
    monkeypatch,
):
    """The first batch's targets are what the fresh network predicts (0), so
    the loss before the first step is tiny; the epoch's, 10× higher, is still
    below the best constant prediction's: no divergence."""
    calls = _count_constant_prediction_losses(monkeypatch)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3)) * 0.1
    y = np.where(np.arange(200) % 2 == 0, 3.0, -3.0)
    y[:10] = 0.0
    est = BackpropRegressor(
        batch_size=10, shuffle=False, alpha=0.001, max_iter=2, tol=0.0, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert est.n_iter_ == 2
    # Needed (the epoch's loss was over 10× the first batch's), then kept.
    assert len(calls) == 1


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_fit_does_not_modify_inputs(Estimator, binary_data):
    X, y = binary_data
    X, y = X.copy(), y.copy()
    w = np.linspace(0.5, 2, len(y))
    X0, y0, w0 = X.copy(), y.copy(), w.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        Estimator(max_iter=3, random_state=0).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(w, w0)


# ---------------------------------------------------------------------------
# Pipelines, searches and persistence.
# ---------------------------------------------------------------------------


def test_grid_search_over_alpha_and_hidden_size_classifier():
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), BackpropClassifier(max_iter=30, random_state=0))
    search = GridSearchCV(
        pipe,
        {"backpropclassifier__alpha": [0.01, 0.1], "backpropclassifier__hidden_size": [5, 20]},
        cv=3,
        n_jobs=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    assert search.best_score_ > 0.93
    assert set(search.best_params_) == {
        "backpropclassifier__alpha", "backpropclassifier__hidden_size"
    }
    # n_jobs=2 gives exactly what sequential fitting gives.
    sequential = clone(search).set_params(n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sequential.fit(X, y)
    np.testing.assert_array_equal(
        search.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"]
    )


def test_grid_search_and_cross_val_score_regressor():
    X, y = load_diabetes(return_X_y=True)
    y = (y - y.mean()) / y.std()
    pipe = make_pipeline(
        StandardScaler(), BackpropRegressor(batch_size=32, max_iter=50, random_state=0)
    )
    search = GridSearchCV(
        pipe,
        {"backpropregressor__alpha": [0.003, 0.01], "backpropregressor__hidden_size": [5, 20]},
        cv=3,
        n_jobs=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
        scores = cross_val_score(pipe, X, y, cv=3)
    assert search.best_score_ > 0.4
    assert scores.mean() > 0.4


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("in_pipeline", [False, True])
def test_pickle_and_joblib_round_trips_predict_identically(
    Estimator, in_pipeline, binary_data, tmp_path
):
    X, y = binary_data
    model = Estimator(max_iter=10, random_state=0)
    if in_pipeline:
        model = make_pipeline(StandardScaler(), model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = [pickle.loads(pickle.dumps(model)), joblib.load(tmp_path / "model.joblib")]
    methods = ["predict"] + (["predict_proba"] if hasattr(model, "predict_proba") else [])
    for other in loaded:
        for method in methods:
            np.testing.assert_array_equal(getattr(other, method)(X), getattr(model, method)(X))


def test_no_reference_to_training_data_or_random_state_is_kept(binary_data):
    X, y = binary_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = BackpropClassifier(max_iter=2, random_state=np.random.RandomState(0)).fit(X, y)
    for name, value in vars(est).items():
        if name == "random_state":
            continue
        assert not isinstance(value, np.random.RandomState), name
        assert value is not X and value is not y, name


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_prediction_input_is_what_validate_data_returns(Estimator, binary_data, monkeypatch):
    from sklearn.utils.validation import validate_data

    from skbackprop import _base

    X, y = binary_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = Estimator(max_iter=2, random_state=0).fit(X, y)
    plain = {
        "C float64": np.ascontiguousarray(X),
        "F float64": np.asfortranarray(X),
        "float32": X.astype(np.float32),
        "strided view": X[::2],
        "one row": X[:1],
    }
    converted = {
        "int": X.astype(int),
        "list": X.tolist(),
        "big-endian": X.astype(">f8"),
        "float16": X.astype(np.float16),
    }
    for name, candidate in {**plain, **converted}.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ours = est._validate_predict_input(candidate)
        theirs = validate_data(
            est, candidate, reset=False, dtype=(np.float64, np.float32),
            ensure_all_finite=False,
        )
        assert type(ours) is np.ndarray and ours.dtype == theirs.dtype, name
        np.testing.assert_array_equal(ours, theirs, err_msg=name)
        assert (ours is candidate) == (theirs is candidate), name
    # Plain float arrays skip scikit-learn's checks (most of a one-row
    # prediction's time), and predict as before.
    expected = {name: est.predict(candidate) for name, candidate in plain.items()}

    def no_validation(*args, **kwargs):
        raise AssertionError("validate_data was called")

    monkeypatch.setattr(_base, "validate_data", no_validation)
    for name, candidate in plain.items():
        np.testing.assert_array_equal(est.predict(candidate), expected[name], err_msg=name)
    with pytest.raises(AssertionError, match="validate_data was called"):
        est.predict(converted["int"])
