"""skbackprop: the backpropagation network of the tutorial as scikit-learn estimators."""

from ._classifier import BackpropClassifier
from ._persistence import InconsistentVersionWarning
from ._regressor import BackpropRegressor
from ._show_versions import show_versions
from ._teaching import check_gradients, trace_step
from ._version import __version__

__all__ = [
    "BackpropClassifier",
    "BackpropRegressor",
    "InconsistentVersionWarning",
    "check_gradients",
    "show_versions",
    "trace_step",
    "__version__",
]
