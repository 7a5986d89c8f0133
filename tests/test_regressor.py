"""BackpropRegressor: identity output, 1-D and 2-D targets."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropRegressor


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def test_one_dimensional_target_gives_one_dimensional_predictions():
    X, y = make_regression(n_samples=150, n_features=4, noise=1, random_state=0)
    X = StandardScaler().fit_transform(X)
    y = y / y.std()
    est = BackpropRegressor(batch_size=16, random_state=0).fit(X, y)
    assert est.out_activation_ == "identity" and est.n_outputs_ == 1
    assert est.predict(X).shape == (150,)
    assert est.score(X, y) > 0.9


def test_two_dimensional_target_is_multi_output():
    X, Y = make_regression(n_samples=150, n_features=4, n_targets=3, random_state=0)
    X = StandardScaler().fit_transform(X)
    Y = Y / Y.std(axis=0)
    est = BackpropRegressor(batch_size=16, random_state=0).fit(X, Y)
    assert est.n_outputs_ == 3 and est.coefs_[1].shape == (100, 3)
    assert est.predict(X).shape == (150, 3)
    assert est.score(X, Y) > 0.9


def test_column_vector_target_warns_and_is_one_target():
    from sklearn.exceptions import DataConversionWarning

    X, y = make_regression(n_samples=50, n_features=2, random_state=0)
    with pytest.warns(DataConversionWarning):
        est = BackpropRegressor(max_iter=2).fit(X, y[:, None] / y.std())
    assert est.predict(X).shape == (50,)


def test_partial_fit_rejects_a_different_number_of_targets():
    X, Y = make_regression(n_samples=50, n_features=2, n_targets=2, random_state=0)
    est = BackpropRegressor().partial_fit(X, Y / Y.std())
    with pytest.raises(ValueError, match="2"):
        est.partial_fit(X, Y[:, 0])


def test_identity_output_is_linear_in_the_hidden_layer():
    X, y = make_regression(n_samples=50, n_features=2, random_state=0)
    est = BackpropRegressor(max_iter=3, random_state=0).fit(X, y / y.std())
    W1, W2 = est.coefs_
    b1, b2 = est.intercepts_
    A1 = 1 / (1 + np.exp(-(X @ W1 + b1)))
    np.testing.assert_allclose(est.predict(X), (A1 @ W2 + b2)[:, 0], rtol=1e-12)
