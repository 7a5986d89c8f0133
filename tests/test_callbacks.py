"""scikit-learn's callback API (sklearn.callback, scikit-learn >= 1.9).

One callback task per fit, one sub-task per epoch; stopping from a callback;
meta-estimators; clone and pickle as for scikit-learn's own estimators; and,
with a scikit-learn without callbacks, the package working without them.
"""

import os
import pickle
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier, BackpropRegressor, _callbacks

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sk_callback():
    """The sklearn.callback module; skips the test where it does not exist."""
    return pytest.importorskip("sklearn.callback")


@pytest.fixture
def progress_bar(sk_callback):
    pytest.importorskip("rich")
    return sk_callback.ProgressBar


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _classification():
    X, y = make_classification(n_samples=120, n_features=5, random_state=0)
    return StandardScaler().fit_transform(X), y


def _regression():
    X, y = make_regression(n_samples=120, n_features=5, noise=1.0, random_state=0)
    return StandardScaler().fit_transform(X), y / y.std()


ESTIMATORS = [
    pytest.param(BackpropClassifier, _classification, id="classifier"),
    pytest.param(BackpropRegressor, _regression, id="regressor"),
]


def _never_converging(Estimator, **params):
    """An estimator that runs every one of its ``max_iter`` epochs."""
    defaults = dict(
        hidden_size=4, max_iter=7, tol=0.0, n_iter_no_change=1000, random_state=0
    )
    return Estimator(**{**defaults, **params})


class Recorder:
    """A callback recording its hook calls; can ask to stop after an epoch.

    It defines no ``max_propagation_depth``, so it is not auto-propagated; the
    subclass below is.
    """

    def __init__(self, stop_after_epoch=None):
        self.stop_after_epoch = stop_after_epoch
        self.events = []
        self.fitted = []

    def setup(self, estimator, context):
        self.events.append(("setup", type(estimator).__name__))

    def teardown(self, estimator, context):
        self.events.append(("teardown", type(estimator).__name__))

    def on_fit_task_begin(self, estimator, context):
        self.events.append(("begin", *_describe(context)))

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        self.events.append(("end", *_describe(context)))
        if _is_epoch(context):
            # What the estimator being fitted holds now, and the model as if
            # training stopped here.
            self.fitted.append((getattr(estimator, "n_iter_", None), fitted_estimator))
            return self.stop_after_epoch == context.task_id + 1
        return False

    def epochs(self, hook="end"):
        return [event for event in self.events if event[0] == hook and event[2] == 1]


class PropagatedRecorder(Recorder):
    max_propagation_depth = None


def _is_epoch(context):
    return context.estimator_name.startswith("Backprop") and (
        context.task_name.startswith("epoch")
    )


def _describe(context):
    """(estimator name, is an epoch, task name, task id, max_subtasks)."""
    return (
        context.estimator_name,
        int(_is_epoch(context)),
        context.task_name,
        context.task_id,
        context.max_subtasks,
    )


# ----------------------------------------------------------------------
# One task per fit, one sub-task per epoch.
# ----------------------------------------------------------------------


@pytest.mark.parametrize("Estimator, data", ESTIMATORS)
def test_progress_bar(Estimator, data, progress_bar, capsys):
    X, y = data()
    est = _never_converging(Estimator).set_callbacks(progress_bar())
    est.fit(X, y)
    out = capsys.readouterr().out
    assert re.search(rf"{Estimator.__name__} - fit", out)
    assert "100%" in out
    assert est.n_iter_ == 7
    assert est.predict(X).shape == (len(y),)


@pytest.mark.parametrize("Estimator, data", ESTIMATORS)
def test_one_task_per_epoch(Estimator, data, sk_callback):
    X, y = data()
    recorder = Recorder()
    est = _never_converging(Estimator).set_callbacks(recorder).fit(X, y)
    name = Estimator.__name__
    expected = (
        [("setup", name), ("begin", name, 0, "fit", 0, 7)]
        + [
            (hook, name, 1, f"epoch {i + 1}", i, 0)
            for i in range(7)
            for hook in ("begin", "end")
        ]
        + [("end", name, 0, "fit", 0, 7), ("teardown", name)]
    )
    assert recorder.events == expected
    assert est.n_iter_ == 7


def test_epoch_tasks_match_n_iter_when_training_converges(sk_callback):
    X, y = _classification()
    recorder = Recorder()
    est = BackpropClassifier(max_iter=500, n_iter_no_change=3, random_state=0)
    est.set_callbacks(recorder).fit(X, y)
    assert est.n_iter_ < est.max_iter
    assert len(recorder.epochs("begin")) == len(recorder.epochs("end")) == est.n_iter_
    root = [e for e in recorder.events if e[0] == "begin" and e[2] == 0]
    assert root == [("begin", "BackpropClassifier", 0, "fit", 0, 500)]


def test_warm_start_numbers_epochs_on(sk_callback):
    X, y = _classification()
    recorder = Recorder()
    est = _never_converging(BackpropClassifier, max_iter=3, warm_start=True)
    est.set_callbacks(recorder).fit(X, y)
    recorder.events.clear()
    est.fit(X, y)
    assert [e[3] for e in recorder.epochs()] == ["epoch 4", "epoch 5", "epoch 6"]
    assert est.n_iter_ == 6


@pytest.mark.parametrize("Estimator, data", ESTIMATORS)
def test_partial_fit_is_one_task_with_one_epoch(Estimator, data, sk_callback):
    X, y = data()
    recorder = Recorder()
    est = Estimator(hidden_size=4, random_state=0).set_callbacks(recorder)
    kwargs = {"classes": np.unique(y)} if Estimator is BackpropClassifier else {}
    est.partial_fit(X, y, **kwargs)
    est.partial_fit(X, y)
    name = Estimator.__name__
    one_call = [
        ("setup", name),
        ("begin", name, 0, "partial_fit", 0, 1),
        ("begin", name, 1, "epoch 1", 0, 0),
        ("end", name, 1, "epoch 1", 0, 0),
        ("end", name, 0, "partial_fit", 0, 1),
        ("teardown", name),
    ]
    second_call = [
        tuple(
            field.replace("epoch 1", "epoch 2") if isinstance(field, str) else field
            for field in event
        )
        for event in one_call
    ]
    assert recorder.events == one_call + second_call
    assert est.n_iter_ == 2


def test_scoring_monitor_scores_every_epoch(sk_callback):
    X, y = _classification()
    monitor = sk_callback.ScoringMonitor(scoring="accuracy")
    est = _never_converging(BackpropClassifier).set_callbacks(monitor).fit(X, y)
    rows = monitor.get_logs().data
    epochs = [row for row in rows if row["task_name"].startswith("epoch")]
    fit = [row for row in rows if row["task_name"] == "fit"]
    assert [row["task_id"] for row in epochs] == list(range(7))
    # The last epoch's model is the fitted model.
    assert epochs[-1]["accuracy"] == fit[0]["accuracy"] == est.score(X, y)


# ----------------------------------------------------------------------
# Stopping from a callback.
# ----------------------------------------------------------------------


@pytest.mark.parametrize("Estimator, data", ESTIMATORS)
def test_callback_stops_training_after_epoch_3(Estimator, data, sk_callback):
    X, y = data()
    recorder = Recorder(stop_after_epoch=3)
    est = _never_converging(Estimator, max_iter=50).set_callbacks(recorder)
    with warnings.catch_warnings():
        # Stopping was asked for: no ConvergenceWarning.
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X, y)
    assert est.n_iter_ == 3
    assert len(est.loss_curve_) == 3
    assert len(recorder.epochs()) == 3
    assert recorder.events[-2][:4] == ("end", Estimator.__name__, 0, "fit")
    # The same model as three epochs without the callback.
    reference = _never_converging(Estimator, max_iter=3).fit(X, y)
    for got, want in zip(
        est.coefs_ + est.intercepts_,
        reference.coefs_ + reference.intercepts_,
        strict=True,
    ):
        np.testing.assert_allclose(got, want, rtol=1e-9)
    np.testing.assert_allclose(est.predict(X), reference.predict(X), rtol=1e-9)
    assert est.score(X, y) == reference.score(X, y)


def test_callback_stop_with_early_stopping_keeps_the_best_epoch(sk_callback):
    X, y = _classification()
    est = _never_converging(
        BackpropClassifier, max_iter=50, early_stopping=True, alpha=3.0
    )
    recorder = Recorder(stop_after_epoch=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.set_callbacks(recorder).fit(X, y)
    assert est.n_iter_ == 6 and len(est.validation_scores_) == 6
    assert est.best_validation_score_ == max(est.validation_scores_)
    # The fitted_estimator of the last epoch is the model fit ended with.
    _, last = recorder.fitted[-1]
    for got, want in zip(last.coefs_, est.coefs_, strict=True):
        np.testing.assert_array_equal(got, want)


# ----------------------------------------------------------------------
# fitted_estimator.
# ----------------------------------------------------------------------


def test_fitted_estimator_is_the_model_as_if_fit_stopped_there(sk_callback):
    X, y = _classification()
    recorder = Recorder()
    est = _never_converging(BackpropClassifier, max_iter=5)
    est.set_callbacks(recorder).fit(X, y)
    assert len(recorder.fitted) == 5
    for epoch, (n_iter_during_fit, fitted) in enumerate(recorder.fitted, start=1):
        # The estimator being fitted is not written before training ends ...
        assert n_iter_during_fit is None
        # ... the copy given to the callbacks is ready to predict.
        assert fitted is not est
        assert fitted.n_iter_ == epoch
        assert fitted.loss_curve_ == est.loss_curve_[:epoch]
        assert fitted.predict_proba(X).shape == (len(y), 2)
        # Kept copies do not change as training goes on.
        stopped = _never_converging(BackpropClassifier, max_iter=epoch).fit(X, y)
        np.testing.assert_allclose(fitted.coefs_[0], stopped.coefs_[0], rtol=1e-9)
    last = recorder.fitted[-1][1]
    assert last.coefs_[0] is not est.coefs_[0]
    np.testing.assert_array_equal(last.predict(X), est.predict(X))


def test_fitted_estimator_during_warm_start_leaves_the_estimator_alone(sk_callback):
    X, y = _classification()
    recorder = Recorder()
    est = _never_converging(BackpropClassifier, max_iter=2, warm_start=True)
    est.fit(X, y)
    before = est.coefs_[0].copy()
    est.set_callbacks(recorder).fit(X, y)
    # During the second fit the estimator still held the first fit's state.
    assert [n for n, _ in recorder.fitted] == [2, 2]
    assert [f.n_iter_ for _, f in recorder.fitted] == [3, 4]
    assert est.n_iter_ == 4
    assert not np.array_equal(before, est.coefs_[0])


def test_fitted_estimator_is_built_only_when_asked_for(sk_callback, monkeypatch):
    class NoFittedEstimator:
        def setup(self, estimator, context):
            pass

        def teardown(self, estimator, context):
            pass

        def on_fit_task_begin(self, estimator, context):
            pass

        def on_fit_task_end(self, estimator, context, *, X=None, y=None):
            pass

    def fail(*args, **kwargs):
        raise AssertionError("fitted_estimator was built without being asked for")

    monkeypatch.setattr(_callbacks._FitCallbacks, "_fitted_attrs", fail)
    X, y = _classification()
    est = _never_converging(BackpropClassifier, max_iter=3)
    est.set_callbacks(NoFittedEstimator()).fit(X, y)
    assert est.n_iter_ == 3


def test_no_callback_work_without_callbacks(sk_callback, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("callback machinery ran without callbacks")

    monkeypatch.setattr(BackpropClassifier, "_init_callback_context", fail)
    monkeypatch.setattr(_callbacks._FitCallbacks, "__init__", fail)
    X, y = _classification()
    est = _never_converging(BackpropClassifier, max_iter=3).fit(X, y)
    assert est.n_iter_ == 3
    # Also after callbacks were set and removed again.
    est.set_callbacks(Recorder()).set_callbacks().fit(X, y)


# ----------------------------------------------------------------------
# Meta-estimators with callbacks.
# ----------------------------------------------------------------------


def test_pipeline_progress_bar(progress_bar, capsys):
    X, y = _classification()
    pipe = make_pipeline(
        StandardScaler(), _never_converging(BackpropClassifier, max_iter=4)
    )
    pipe.set_callbacks(progress_bar()).fit(X, y)
    out = capsys.readouterr().out
    assert "Pipeline - fit" in out
    assert "BackpropClassifier - fit" in out
    assert pipe.score(X, y) > 0.5
    assert not hasattr(pipe[-1], "_skl_callbacks")


def test_pipeline_propagates_to_the_epochs(sk_callback):
    X, y = _classification()
    recorder = PropagatedRecorder()
    pipe = make_pipeline(
        StandardScaler(), _never_converging(BackpropClassifier, max_iter=4)
    )
    pipe.set_callbacks(recorder).fit(X, y)
    assert len(recorder.epochs()) == 4 == pipe[-1].n_iter_
    # setup/teardown once, by the outermost estimator.
    assert [e for e in recorder.events if e[0] in ("setup", "teardown")] == [
        ("setup", "Pipeline"),
        ("teardown", "Pipeline"),
    ]


def test_grid_search_propagates_to_the_epochs(sk_callback):
    X, y = _classification()
    recorder = PropagatedRecorder()
    search = GridSearchCV(
        _never_converging(BackpropClassifier, max_iter=3),
        {"hidden_size": [2, 3]},
        cv=2,
    )
    search.set_callbacks(recorder).fit(X, y)
    # 2 candidates × 2 folds, and the refit: 5 fits of 3 epochs.
    fits = [
        e
        for e in recorder.events
        if e[0] == "end" and e[1:4] == ("BackpropClassifier", 0, "fit")
    ]
    assert len(fits) == 5
    assert len(recorder.epochs()) == 15
    assert not hasattr(search.best_estimator_, "_skl_callbacks")


def test_grid_search_progress_bar(progress_bar, capsys):
    X, y = _classification()
    search = GridSearchCV(
        _never_converging(BackpropClassifier, max_iter=3), {"alpha": [0.1, 0.3]}, cv=2
    )
    search.set_callbacks(progress_bar()).fit(X, y)
    out = capsys.readouterr().out
    assert "GridSearchCV - fit" in out
    assert "BackpropClassifier - fit" in out


def test_grid_search_progress_bar_with_worker_processes(progress_bar, capsys):
    # The callbacks travel to the workers with the estimator (pickled) and
    # report back to the bar in this process.
    X, y = _classification()
    search = GridSearchCV(
        _never_converging(BackpropClassifier, max_iter=3),
        {"alpha": [0.1, 0.3]},
        cv=2,
        n_jobs=2,
    )
    search.set_callbacks(progress_bar()).fit(X, y)
    out = capsys.readouterr().out
    assert out.count("BackpropClassifier - fit") >= 5
    assert search.best_estimator_.n_iter_ == 3


def test_grid_search_of_an_estimator_with_its_own_stopping_callback(sk_callback):
    X, y = _classification()
    inner = _never_converging(BackpropClassifier, max_iter=50)
    search = GridSearchCV(
        inner.set_callbacks(Recorder(stop_after_epoch=3)), {"alpha": [0.1, 0.3]}, cv=2
    )
    search.fit(X, y)
    assert search.best_estimator_.n_iter_ == 3


# ----------------------------------------------------------------------
# clone and pickle: as for scikit-learn's own estimators.
# ----------------------------------------------------------------------


def _callback_factories():
    def scoring_monitor():
        from sklearn.callback import ScoringMonitor

        return ScoringMonitor(scoring="neg_mean_squared_error")

    def progress_bar():
        pytest.importorskip("rich")
        from sklearn.callback import ProgressBar

        return ProgressBar()

    return [
        pytest.param(scoring_monitor, id="ScoringMonitor"),
        pytest.param(progress_bar, id="ProgressBar"),
    ]


def _clone_and_pickle_facts(est, make_callback, X, y):
    """What clone and pickle do to an estimator's callbacks, as comparable data."""
    callback = make_callback()
    est.set_callbacks(callback)
    facts = {}
    cloned = clone(est)
    facts["clone shares the callback list"] = (
        cloned._skl_callbacks is est._skl_callbacks
    )
    facts["clone of a fitted estimator"] = clone(cloned.fit(X, y))._skl_callbacks == [
        callback
    ]
    restored = pickle.loads(pickle.dumps(est))
    facts["pickled callbacks"] = [type(cb) for cb in restored._skl_callbacks]
    facts["pickled callbacks are copies"] = restored._skl_callbacks[0] is not callback
    est.fit(X, y)
    facts["attributes left by fit"] = sorted(
        name for name in vars(est) if "callback" in name or name.startswith("_parent")
    )
    restored = pickle.loads(pickle.dumps(est))
    facts["pickled after fit"] = [type(cb) for cb in restored._skl_callbacks]
    restored.fit(X, y)  # refits, with its own copy of the callback
    facts["refit after unpickling"] = [type(cb) for cb in restored._skl_callbacks]
    facts["set_callbacks() removes them"] = hasattr(
        clone(est).set_callbacks(), "_skl_callbacks"
    )
    return facts


@pytest.mark.parametrize("make_callback", _callback_factories())
@pytest.mark.parametrize("Estimator, data", ESTIMATORS)
def test_clone_and_pickle_keep_callbacks_as_sklearn_does(
    Estimator, data, make_callback, sk_callback, capsys
):
    from sklearn.linear_model import LogisticRegression

    ours = _clone_and_pickle_facts(
        _never_converging(Estimator, max_iter=3), make_callback, *data()
    )
    theirs = _clone_and_pickle_facts(
        LogisticRegression(), make_callback, *_classification()
    )
    assert ours == theirs
    assert ours["clone shares the callback list"]
    assert ours["attributes left by fit"] == ["_skl_callbacks"]


def test_scoring_monitor_logs_survive_pickling_and_refit(sk_callback):
    X, y = _classification()
    monitor = sk_callback.ScoringMonitor(scoring="accuracy")
    est = _never_converging(BackpropClassifier, max_iter=3).set_callbacks(monitor)
    est.fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    restored.fit(X, y)
    logs = restored._skl_callbacks[0].get_logs(select="all")
    assert len(logs) == 2
    assert logs[0].data == monitor.get_logs(select="all")[0].data
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))


# ----------------------------------------------------------------------
# A scikit-learn without sklearn.callback (1.6 to 1.8).
# ----------------------------------------------------------------------

_OLD_SKLEARN = textwrap.dedent(
    """
    import sys
    import warnings

    import numpy as np
    import sklearn.linear_model, sklearn.metrics, sklearn.model_selection
    import sklearn.pipeline, sklearn.preprocessing  # may use sklearn.callback

    # From here on, `from sklearn.callback import ...` fails as it does
    # before scikit-learn 1.9, while skbackprop is imported.
    saved = sys.modules.get("sklearn.callback")
    sys.modules["sklearn.callback"] = None
    try:
        from skbackprop import BackpropClassifier, BackpropRegressor, _callbacks
    finally:
        if saved is None:
            del sys.modules["sklearn.callback"]
        else:
            sys.modules["sklearn.callback"] = saved

    import pickle
    from sklearn.base import clone
    from sklearn.datasets import make_classification, make_regression
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    warnings.simplefilter("ignore", ConvergenceWarning)
    assert _callbacks.CALLBACKS_AVAILABLE is False

    X, y = make_classification(n_samples=100, n_features=4, random_state=0)
    clf = BackpropClassifier(hidden_size=3, max_iter=20, random_state=0).fit(X, y)
    assert clf.n_iter_ == 20 and clf.score(X, y) > 0.5
    clf.partial_fit(X, y)
    assert clone(clf).get_params() == clf.get_params()
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(clf)).predict(X), clf.predict(X)
    )
    Xr, yr = make_regression(n_samples=100, n_features=4, random_state=0)
    reg = BackpropRegressor(hidden_size=3, max_iter=20, random_state=0)
    reg.fit(Xr, yr / yr.std())
    assert reg.predict(Xr).shape == (100,)
    GridSearchCV(make_pipeline(StandardScaler(), clf), {{}}, cv=2).fit(X, y)

    # No callbacks: set_callbacks is absent to hasattr, and explains itself.
    assert not hasattr(clf, "set_callbacks")
    try:
        clf.set_callbacks()
    except AttributeError as error:
        message = str(error)
    else:
        raise AssertionError("set_callbacks did not raise")
    assert "scikit-learn >= 1.9" in message, message
    assert sklearn.__version__ in message, message

    # A scikit-learn 1.9 meta-estimator with callbacks treats the estimator
    # as one without callback support: it warns and fits.
    if {with_progress_bar}:
        from sklearn.callback import ProgressBar

        pipe = make_pipeline(StandardScaler(), clone(clf))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pipe.set_callbacks(ProgressBar()).fit(X, y)
        assert any("does not support callbacks" in str(w.message) for w in caught)
    print("old scikit-learn OK")
    """
)


def test_without_sklearn_callback_the_package_works_without_callbacks():
    try:
        import rich  # noqa: F401
        import sklearn.callback  # noqa: F401

        with_progress_bar = True
    except ImportError:
        with_progress_bar = False
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _OLD_SKLEARN.format(with_progress_bar=with_progress_bar),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "old scikit-learn OK" in result.stdout


def test_callbacks_available_matches_sklearn():
    try:
        import sklearn.callback  # noqa: F401
    except ImportError:
        assert not _callbacks.CALLBACKS_AVAILABLE
        assert not hasattr(BackpropClassifier(), "set_callbacks")
    else:
        assert _callbacks.CALLBACKS_AVAILABLE
        assert hasattr(BackpropClassifier(), "set_callbacks")


# ----------------------------------------------------------------------
# The user guide's examples run.
# ----------------------------------------------------------------------

PYTHON_BLOCK = re.compile(r"^```python\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def test_user_guide_examples_run(progress_bar, capsys):
    text = (ROOT / "docs" / "callbacks.md").read_text(encoding="utf-8")
    blocks = [match["body"] for match in PYTHON_BLOCK.finditer(text)]
    assert len(blocks) >= 4
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/callbacks.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "BackpropClassifier - fit" in out
    assert "epoch 20" in out
    # StopAtScore stopped training once the target was reached.
    clf = namespace["clf"]
    assert clf.n_iter_ < clf.max_iter
    assert clf.score(namespace["X"], namespace["y"]) >= 0.9


def test_callbacks_run_with_blas_as_the_user_set_it(sk_callback):
    # Training holds BLAS at one thread; a callback's own code, between the
    # epochs, sees the setting the user chose.
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    class BlasRecorder(Recorder):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
            if _is_epoch(context):
                self.seen.append(blas_threads())
            return super().on_fit_task_end(
                estimator, context, fitted_estimator=fitted_estimator
            )

    X, y = _classification()
    recorder = BlasRecorder()
    with threadpool_limits(limits=2, user_api="blas"):
        outside = blas_threads()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            BackpropClassifier(max_iter=3).set_callbacks(recorder).fit(X, y)
        assert blas_threads() == outside
    assert recorder.seen == [outside] * 3


def test_validation_scoring_runs_on_the_thread_budget(monkeypatch):
    # A validation set is scored between epochs as a prediction is: in
    # blocks shared among skbackprop's threads (the budget BLAS was given),
    # with BLAS itself at one thread, also under the fit's own hold.
    from threadpoolctl import threadpool_info, threadpool_limits

    from skbackprop import _base, _parallel

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    seen = []
    original = _base.predict_logits

    def recording(X, params, activation, n_threads):
        seen.append((X.shape[0], n_threads, blas_threads()))
        return original(X, params, activation, n_threads)

    monkeypatch.setattr(_base, "predict_logits", recording)
    X, y = make_classification(n_samples=30_000, n_features=20, random_state=0)
    with threadpool_limits(limits=2, user_api="blas"):
        budget = _parallel.thread_budget()
        outside = blas_threads()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            BackpropClassifier(
                max_iter=3, batch_size=None, early_stopping=True, n_iter_no_change=50
            ).fit(X, y)
        assert blas_threads() == outside
    assert [rows for rows, _, _ in seen] == [3_000] * 3  # the validation split
    assert all(n_threads == budget for _, n_threads, _ in seen)
    assert all(counts == [1] * len(counts) for _, _, counts in seen)
