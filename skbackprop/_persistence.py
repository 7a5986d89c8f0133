"""Pickles that know which skbackprop wrote them.

scikit-learn records its version in the pickles of its own estimators and
warns when one is loaded by another version; it does not do this for other
packages' estimators. This mixin does the same for skbackprop's.
"""

import warnings

from ._version import __version__

__all__ = ["InconsistentVersionWarning", "VersionedPickleMixin"]

_STATE_KEY = "_skbackprop_version"


class InconsistentVersionWarning(UserWarning):
    """A model pickled by one version of skbackprop was loaded by another.

    Parameters
    ----------
    estimator_name : str
    current_version, original_version : str
    """

    def __init__(self, *, estimator_name, current_version, original_version):
        self.estimator_name = estimator_name
        self.current_version = current_version
        self.original_version = original_version

    def __str__(self):
        return (
            f"Trying to unpickle {self.estimator_name} from skbackprop version "
            f"{self.original_version} when using version {self.current_version}. "
            "Its attributes may have changed meaning between versions: refit the "
            "model, or load it with the version that wrote it."
        )


class VersionedPickleMixin:
    """Store skbackprop's version in the pickled state; warn on a mismatch."""

    def __getstate__(self):
        state = super().__getstate__()
        return {**state, _STATE_KEY: __version__}

    def __setstate__(self, state):
        state = dict(state)
        original = state.pop(_STATE_KEY, "unknown")
        if original != __version__:
            warnings.warn(
                InconsistentVersionWarning(
                    estimator_name=type(self).__name__,
                    current_version=__version__,
                    original_version=original,
                ),
                stacklevel=2,
            )
        super().__setstate__(state)
