"""Saving and loading fitted models.

* The safe path of docs/persistence.md: a model saved with ``skops.io.dump``
  asks to trust skbackprop's own classes and nothing else
  (``skops.io.get_untrusted_types``), and loaded with ``trusted=`` those it
  predicts exactly as before. Skipped when skops is not installed.
* A pickle (or skops file) written by another version of skbackprop warns
  with ``skbackprop.InconsistentVersionWarning``, naming both versions.
"""

import copyreg
import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skbackprop
from skbackprop import (
    BackpropClassifier,
    BackpropRegressor,
    InconsistentVersionWarning,
    _persistence,
)

#: The only types a user is asked to trust: skbackprop's own classes.
SKBACKPROP_TYPES = {
    "skbackprop._classifier.BackpropClassifier",
    "skbackprop._regressor.BackpropRegressor",
}

OLD_VERSION = "0.0.1"


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def _iris():
    return load_iris(return_X_y=True)


def _diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X, (y - y.mean()) / y.std()


def _models():
    """(id, fitted model, X) for the cases the persistence page promises."""
    X, y = _iris()
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    Xr, yr = _diabetes()
    return [
        (
            "classifier",
            _fit(BackpropClassifier(hidden_size=5, max_iter=30, random_state=0), X, y),
            X,
        ),
        (
            "classifier-string-labels-class-weight-float32",
            _fit(
                BackpropClassifier(
                    hidden_size=4,
                    class_weight={"virginica": 2.0},
                    early_stopping=True,
                    max_iter=20,
                    random_state=np.random.RandomState(0),
                ),
                X.astype(np.float32),
                labels,
            ),
            X.astype(np.float32),
        ),
        (
            "multilabel-classifier",
            _fit(
                BackpropClassifier(hidden_size=4, max_iter=20, random_state=0),
                X,
                np.column_stack([y == 0, y == 2]).astype(int),
            ),
            X,
        ),
        (
            "regressor",
            _fit(BackpropRegressor(hidden_size=6, max_iter=30, random_state=0), Xr, yr),
            Xr,
        ),
        (
            "pipeline-scaler-classifier",
            _fit(
                make_pipeline(
                    StandardScaler(),
                    BackpropClassifier(hidden_size=5, max_iter=30, random_state=0),
                ),
                X,
                y,
            ),
            X,
        ),
        (
            "pipeline-scaler-regressor-transformed-target",
            _fit(
                make_pipeline(
                    StandardScaler(),
                    TransformedTargetRegressor(
                        regressor=BackpropRegressor(
                            hidden_size=5, max_iter=30, random_state=0
                        ),
                        transformer=StandardScaler(),
                    ),
                ),
                Xr,
                load_diabetes(return_X_y=True)[1],
            ),
            Xr,
        ),
    ]


MODELS = _models()


def _predictions(model, X):
    out = [model.predict(X)]
    if hasattr(model, "predict_proba"):
        out.append(model.predict_proba(X))
    return out


# ---------------------------------------------------------------------------
# skops: the safe path.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, model, X", MODELS, ids=[m[0] for m in MODELS])
def test_skops_trusts_only_skbackprop_classes(tmp_path, name, model, X):
    sio = pytest.importorskip("skops.io")
    path = tmp_path / "model.skops"
    sio.dump(model, path)

    untrusted = sio.get_untrusted_types(file=path)
    # skbackprop's classes, and nothing else: every type inside them (arrays,
    # lists, dicts, numbers, strings) and around them (Pipeline,
    # StandardScaler, TransformedTargetRegressor) is trusted by skops.
    assert untrusted, "skops trusts skbackprop's classes without being told"
    assert set(untrusted) <= SKBACKPROP_TYPES, untrusted

    # Without trust, skops refuses to load.
    with pytest.raises(Exception, match="[Uu]ntrusted"):
        sio.load(path)

    # The page's recipe: trust exactly skbackprop's classes.
    loaded = sio.load(path, trusted=sorted(SKBACKPROP_TYPES))
    assert type(loaded) is type(model)
    for before, after in zip(
        _predictions(model, X), _predictions(loaded, X), strict=True
    ):
        np.testing.assert_array_equal(before, after)
        assert before.dtype == after.dtype


def test_skops_loaded_model_keeps_training(tmp_path):
    sio = pytest.importorskip("skops.io")
    X, y = _iris()
    model = _fit(BackpropClassifier(hidden_size=4, max_iter=5, random_state=0), X, y)
    sio.dump(model, tmp_path / "m.skops")
    loaded = sio.load(tmp_path / "m.skops", trusted=sorted(SKBACKPROP_TYPES))
    # The momentum buffers and training history came along: partial_fit
    # continues exactly as on the original.
    model.partial_fit(X, y)
    loaded.partial_fit(X, y)
    for a, b in zip(
        model.coefs_ + model.intercepts_,
        loaded.coefs_ + loaded.intercepts_,
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    assert loaded.n_iter_ == model.n_iter_ == 6


def test_skops_file_from_another_version_warns(tmp_path, monkeypatch):
    sio = pytest.importorskip("skops.io")
    X, y = _iris()
    model = _fit(BackpropClassifier(hidden_size=3, max_iter=3, random_state=0), X, y)
    with monkeypatch.context() as patch:
        patch.setattr(_persistence, "__version__", OLD_VERSION)
        sio.dump(model, tmp_path / "old.skops")
    with pytest.warns(InconsistentVersionWarning) as record:
        loaded = sio.load(tmp_path / "old.skops", trusted=sorted(SKBACKPROP_TYPES))
    message = str(record[0].message)
    assert OLD_VERSION in message and skbackprop.__version__ in message
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


# ---------------------------------------------------------------------------
# Pickles written by another version.
# ---------------------------------------------------------------------------


class _AsWrittenBy:
    """Pickles like ``estimator``, but as if skbackprop ``version`` wrote it.

    The state that ``__reduce_ex__`` hands to pickle is the estimator's
    ``__getstate__``, which records skbackprop's version; this changes only
    that entry, so the bytes are those another version would write.
    """

    def __init__(self, estimator, version):
        self.estimator = estimator
        self.version = version

    def __reduce_ex__(self, protocol):
        reduced = self.estimator.__reduce_ex__(protocol)
        state = dict(reduced[2])
        assert state[_persistence._STATE_KEY] == skbackprop.__version__
        state[_persistence._STATE_KEY] = self.version
        # copyreg.__newobj__ would insist on pickling the estimator itself;
        # _reconstructor builds the same empty instance, then pickle applies
        # the state with __setstate__ as usual.
        cls = type(self.estimator)
        return (copyreg._reconstructor, (cls, object, None), state, *reduced[3:])


@pytest.mark.parametrize(
    "estimator", [BackpropClassifier, BackpropRegressor], ids=lambda c: c.__name__
)
def test_pickle_from_another_version_warns(estimator):
    X, y = _iris()
    model = _fit(estimator(hidden_size=3, max_iter=3, random_state=0), X, y)
    data = pickle.dumps(_AsWrittenBy(model, OLD_VERSION))

    with pytest.warns(InconsistentVersionWarning) as record:
        loaded = pickle.loads(data)
    assert len(record) == 1
    warning = record[0].message
    assert warning.original_version == OLD_VERSION
    assert warning.current_version == skbackprop.__version__
    assert warning.estimator_name == estimator.__name__
    message = str(warning)
    assert OLD_VERSION in message and skbackprop.__version__ in message
    assert estimator.__name__ in message
    # The version entry is not left behind as an attribute.
    assert _persistence._STATE_KEY not in vars(loaded)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_joblib_from_another_version_warns():
    X, y = _iris()
    model = _fit(BackpropClassifier(hidden_size=3, max_iter=3, random_state=0), X, y)
    buffer = io.BytesIO()
    joblib.dump(_AsWrittenBy(model, OLD_VERSION), buffer)
    buffer.seek(0)
    with pytest.warns(InconsistentVersionWarning, match=OLD_VERSION):
        loaded = joblib.load(buffer)
    assert isinstance(loaded, BackpropClassifier)


def test_pickle_from_the_same_version_is_silent():
    X, y = _iris()
    model = _fit(BackpropClassifier(hidden_size=3, max_iter=3, random_state=0), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_version_warning_can_be_made_an_error():
    # The recipe of docs/persistence.md.
    X, y = _iris()
    model = _fit(BackpropClassifier(hidden_size=3, max_iter=3, random_state=0), X, y)
    data = pickle.dumps(_AsWrittenBy(model, OLD_VERSION))
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        with pytest.raises(InconsistentVersionWarning, match="0.0.1"):
            pickle.loads(data)
