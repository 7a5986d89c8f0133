"""skbackprop: the backpropagation network of the tutorial as scikit-learn estimators."""

from ._classifier import BackpropClassifier
from ._regressor import BackpropRegressor

__version__ = "0.1.0.dev0"

__all__ = ["BackpropClassifier", "BackpropRegressor", "__version__"]
