"""scikit-learn's own estimator checks, with no expected failures."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skbackprop import BackpropClassifier, BackpropRegressor


def test_pandas_is_installed():
    # Without pandas, scikit-learn silently skips its dataframe checks.
    pytest.importorskip("pandas", reason=None)
    import pandas  # noqa: F401


@parametrize_with_checks([BackpropClassifier(), BackpropRegressor()])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
