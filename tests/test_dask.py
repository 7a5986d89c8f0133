"""The estimators on a dask cluster (skbackprop/_dask.py, docs/scaling.md).

Runs only with the ``dask`` extra installed (``pip install ".[test,dask]"``,
as .ci/run does); skipped as a whole otherwise.

* Data-parallel full-batch gradient descent equals an in-memory fit on the
  same data, to rounding, and does not depend on the number of workers.
* Data generated lazily, larger than the workers' combined memory limit,
  trains to a good accuracy without a worker running out of memory.
* Streaming (an int batch_size) equals a loop of partial_fit over the blocks.
* Prediction on dask arrays is lazy and blockwise, and equals in-memory
  prediction.
* GridSearchCV / RandomizedSearchCV under joblib's dask backend equal the
  in-memory searches.
* A cluster of separate ``dask scheduler`` / ``dask worker`` processes,
  started from another directory, trains too.

Failures of this stack tend to be silent hangs (a worker that cannot unpickle
a task, a worker restarting in a loop under its memory limit), so every test
has a hard timeout (pytest-timeout) and waits on the cluster with timeouts of
its own. Nothing sent to the workers is defined in this module: workers
cannot import it.
"""

import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("distributed", reason="the dask extra is not installed")

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import joblib  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402
from numpy.testing import assert_allclose, assert_array_equal  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skbackprop import BackpropClassifier, BackpropRegressor  # noqa: E402

# Hard limit per test, fixtures included (the module's cluster starts in the
# first test that uses it).
pytestmark = pytest.mark.timeout(90)

WORKER_MEMORY = 400 * 2**20  # bytes, per worker
N_WORKERS = 2


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture(scope="module")
def client():
    """Two single-threaded worker processes with a memory limit each."""
    with (
        LocalCluster(
            n_workers=N_WORKERS,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            memory_limit=WORKER_MEMORY,
            dashboard_address=None,
        ) as cluster,
        Client(cluster, timeout=30) as client,
    ):
        client.wait_for_workers(N_WORKERS, timeout=30)
        yield client


# ---------------------------------------------------------------------------
# Data.
# ---------------------------------------------------------------------------


def _classification(n_samples=1000, n_classes=3):
    X, y = make_classification(
        n_samples=n_samples,
        n_features=6,
        n_informative=4,
        n_classes=n_classes,
        random_state=0,
    )
    return StandardScaler().fit_transform(X), y


def _regression(n_samples=1000):
    X, y = make_regression(
        n_samples=n_samples, n_features=6, n_targets=2, noise=1.0, random_state=0
    )
    return StandardScaler().fit_transform(X), y / y.std(axis=0)


def _dask(a, rows=230):
    """a as a dask array of uneven row blocks (not a divisor of its length)."""
    return da.from_array(a, chunks=(rows,) + a.shape[1:])


def _assert_same_fit(dask_fit, local_fit, rtol=1e-10):
    for name in ("coefs_", "intercepts_"):
        for got, expected in zip(
            getattr(dask_fit, name), getattr(local_fit, name), strict=True
        ):
            assert got.dtype == expected.dtype
            assert_allclose(got, expected, rtol=rtol, atol=1e-13)
    assert_allclose(dask_fit.loss_curve_, local_fit.loss_curve_, rtol=rtol)
    assert dask_fit.n_iter_ == local_fit.n_iter_
    assert dask_fit.t_ == local_fit.t_
    assert dask_fit.n_features_in_ == local_fit.n_features_in_
    assert dask_fit.n_outputs_ == local_fit.n_outputs_


# ---------------------------------------------------------------------------
# The package without dask.
# ---------------------------------------------------------------------------


def test_core_package_never_imports_dask():
    code = (
        "import sys, numpy as np\n"
        "from skbackprop import BackpropClassifier\n"
        "X = np.random.RandomState(0).normal(size=(50, 3)); y = X[:, 0] > 0\n"
        "est = BackpropClassifier(4, max_iter=3).fit(X, y)\n"
        "est.predict(X); est.score(X, y)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('dask', 'distributed'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ---------------------------------------------------------------------------
# Data-parallel full-batch gradient descent.
# ---------------------------------------------------------------------------

FULL_BATCH_CASES = [
    pytest.param(BackpropClassifier, _classification, {}, id="multiclass"),
    pytest.param(
        BackpropClassifier,
        lambda: _classification(n_classes=2),
        {"momentum": 0.9, "nesterov": True, "l2": 0.5},
        id="binary-nesterov-l2",
    ),
    pytest.param(
        BackpropClassifier,
        _classification,
        {"class_weight": "balanced", "activation": "relu", "sample_weight": True},
        id="balanced-relu-weighted",
    ),
    pytest.param(
        BackpropClassifier,
        lambda: make_multilabel_classification(
            n_samples=600, n_features=5, n_classes=3, random_state=0
        ),
        {"activation": "tanh"},
        id="multilabel",
    ),
    pytest.param(
        BackpropRegressor,
        _regression,
        {"sample_weight": True, "momentum": 0.5},
        id="regression-2-targets",
    ),
    pytest.param(
        BackpropClassifier,
        _classification,
        {"tol": 0.05, "n_iter_no_change": 2, "max_iter": 100, "alpha": 1.0},
        id="stops-on-tol",
    ),
]


@pytest.mark.parametrize("Estimator, data, params", FULL_BATCH_CASES)
def test_full_batch_fit_equals_local_fit(client, Estimator, data, params):
    X, y = data()
    params = dict(params)
    weights = None
    if params.pop("sample_weight", False):
        weights = np.random.RandomState(0).uniform(0, 2, size=X.shape[0])
    params = {"hidden_size": 5, "batch_size": None, "max_iter": 8, **params}
    local = Estimator(random_state=0, **params).fit(X, y, sample_weight=weights)
    on_dask = Estimator(random_state=0, **params).fit(
        _dask(X), _dask(y), sample_weight=None if weights is None else _dask(weights)
    )
    _assert_same_fit(on_dask, local)
    if params.get("n_iter_no_change") == 2:  # stopped by the rule, not max_iter
        assert local.n_iter_ < params["max_iter"]
    if Estimator is BackpropClassifier:
        assert_array_equal(on_dask.classes_, local.classes_)


def test_float32_and_string_labels(client):
    X, y = _classification()
    X = X.astype(np.float32)
    labels = np.array(["ant", "bee", "cat"])[y]
    params = dict(hidden_size=5, batch_size=None, max_iter=6, random_state=0)
    local = BackpropClassifier(**params).fit(X, labels)
    on_dask = BackpropClassifier(**params).fit(_dask(X), _dask(labels))
    _assert_same_fit(on_dask, local, rtol=1e-4)
    assert on_dask.coefs_[0].dtype == np.float32
    predicted = on_dask.predict(_dask(X))
    assert isinstance(predicted, da.Array)
    assert_array_equal(predicted.compute(), on_dask.predict(X))


def test_fit_does_not_depend_on_the_number_of_workers(client):
    """The sums are added in block order, in a fixed tree: the same on any cluster."""
    X, y = _classification()
    params = dict(hidden_size=5, batch_size=None, max_iter=5, random_state=0)
    on_cluster = BackpropClassifier(**params).fit(_dask(X, rows=64), _dask(y, rows=64))
    with dask.config.set(scheduler="sync"):  # one thread, in this process
        in_process = BackpropClassifier(**params).fit(
            _dask(X, rows=64), _dask(y, rows=64)
        )
    for got, expected in zip(on_cluster.coefs_, in_process.coefs_, strict=True):
        assert_array_equal(got, expected)


def test_warm_start_and_validation_set(client):
    X, y = _classification()
    X_val, y_val = X[:200], y[:200]
    params = dict(hidden_size=5, batch_size=None, max_iter=4, random_state=0)
    local = BackpropClassifier(warm_start=True, **params)
    on_dask = BackpropClassifier(warm_start=True, **params)
    for _ in range(2):
        local.fit(X, y, X_val=X_val, y_val=y_val)
        on_dask.fit(_dask(X), _dask(y), X_val=_dask(X_val), y_val=y_val)
    _assert_same_fit(on_dask, local)
    assert on_dask.n_iter_ == 8
    assert_allclose(on_dask.validation_scores_, local.validation_scores_)
    assert_allclose(
        on_dask.validation_loss_curve_, local.validation_loss_curve_, rtol=1e-10
    )


def test_bad_input_is_reported_and_leaves_the_estimator_unchanged(client):
    X, y = _classification()
    est = BackpropClassifier(hidden_size=5, batch_size=None, max_iter=3)
    X_nan = X.copy()
    X_nan[700, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.fit(_dask(X_nan), _dask(y))
    assert not hasattr(est, "n_features_in_") and not hasattr(est, "coefs_")
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.fit(_dask(X), _dask(y[:-1]))
    with pytest.raises(ValueError, match="requires y to be passed"):
        est.fit(_dask(X), None)
    with pytest.raises(ValueError, match="'balanced' is not supported when streaming"):
        clone(est).set_params(batch_size=50, class_weight="balanced").fit(
            _dask(X), _dask(y)
        )
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        est.fit(_dask(X), _dask(y), sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="early_stopping on dask arrays needs"):
        est.set_params(early_stopping=True).fit(_dask(X), _dask(y))
    est.set_params(early_stopping=False, alpha=1e6, max_iter=5)
    with pytest.raises(ValueError, match="Training diverged"):
        est.fit(_dask(X), _dask(y))
    assert not hasattr(est, "coefs_")
    est.set_params(alpha=0.3).fit(_dask(X), _dask(y))
    with pytest.raises(ValueError, match="X has 3 features, but"):
        est.predict(_dask(X[:, :3]))


# ---------------------------------------------------------------------------
# Prediction: lazy, blockwise, equal to in-memory prediction.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "Estimator, data",
    [
        pytest.param(BackpropClassifier, _classification, id="classifier"),
        pytest.param(
            BackpropClassifier, lambda: _classification(n_classes=2), id="binary"
        ),
        pytest.param(BackpropRegressor, _regression, id="regressor"),
    ],
)
def test_prediction_is_blockwise_and_equals_local(client, Estimator, data):
    X, y = data()
    est = Estimator(hidden_size=5, batch_size=None, max_iter=5, random_state=0)
    est.fit(X, y)
    X_dask = _dask(X)
    methods = ["predict", "predict_proba", "predict_log_proba", "decision_function"]
    for name in methods:
        if not hasattr(est, name):
            continue
        result = getattr(est, name)(X_dask)
        assert isinstance(result, da.Array), name
        assert result.numblocks[0] == X_dask.numblocks[0], name
        expected = getattr(est, name)(X)
        assert result.shape == expected.shape and result.dtype == expected.dtype
        assert_allclose(result.compute(), expected, rtol=1e-12, err_msg=name)
    weights = np.random.RandomState(0).uniform(0, 2, size=len(y))
    score = est.score(X_dask, _dask(y), sample_weight=weights)
    assert isinstance(score, float)
    assert score == pytest.approx(est.score(X, y, sample_weight=weights), rel=1e-12)


@pytest.mark.parametrize("Estimator", [BackpropClassifier, BackpropRegressor])
def test_prediction_on_blocks_a_filter_left_empty(client, Estimator):
    # X[mask].compute_chunk_sizes() often has blocks of 0 rows; each gives an
    # empty piece of the result, not scikit-learn's "0 sample(s)" error.
    binary = Estimator is BackpropClassifier
    X, y = _classification(n_classes=2) if binary else _regression()
    est = Estimator(hidden_size=5, max_iter=5, random_state=0).fit(X, y)
    n = len(X)
    chunks = ((0, n // 2, 0, n - n // 2, 0), (X.shape[1],))
    X_dask = da.from_array(X, chunks=chunks)
    assert 0 in X_dask.chunks[0]
    for name in ["predict", "predict_proba", "predict_log_proba", "decision_function"]:
        if hasattr(est, name):
            result = getattr(est, name)(X_dask).compute()
            assert_allclose(result, getattr(est, name)(X), rtol=1e-12, err_msg=name)
    y_dask = da.from_array(y, chunks=chunks[:1] + tuple((s,) for s in y.shape[1:]))
    assert est.score(X_dask, y_dask) == pytest.approx(est.score(X, y), rel=1e-12)


# ---------------------------------------------------------------------------
# Data larger than the cluster's memory, generated lazily.
# ---------------------------------------------------------------------------


def _worker_addresses(client):
    """The addresses of the cluster's workers, asked of the scheduler now.

    Not ``client.scheduler_info()["workers"]``, which returns the client's
    cached identity: the client's own poll (every 2 s) stores one without
    per-worker entries in the same attribute, which can land between that
    call's fetch and its return, and a fetch that fails with an OSError
    leaves that one in place. Once in CI (distributed 2026.8) this test read
    an empty set there, right after the fit and the score had run on the
    workers. ``nthreads`` asks the scheduler and returns its answer.
    """
    return set(client.nthreads())


@pytest.mark.timeout(150)
def test_lazily_generated_data_larger_than_cluster_memory(client):
    """850 MB of X through two workers of 400 MiB each, every epoch.

    X is generated block by block from a fixed seed (never persisted, so
    regenerated by each epoch); y is linearly separable. A few full-batch
    epochs reach a good accuracy, and no worker was restarted on the way
    (a worker over its memory limit is killed and replaced by its nanny).
    """
    n_samples, n_features, rows = 52 * 128_000, 16, 128_000
    X = da.random.default_rng(0).uniform(-1, 1, (n_samples, n_features), (rows, -1))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    assert X.nbytes > N_WORKERS * WORKER_MEMORY
    workers = _worker_addresses(client)

    est = BackpropClassifier(
        hidden_size=4,
        activation="tanh",
        alpha=3.0,
        momentum=0.5,
        batch_size=None,
        max_iter=4,
        random_state=0,
    ).fit(X, y)

    assert est.n_iter_ == 4
    assert est.loss_curve_[-1] < 0.5 * est.loss_curve_[0]
    X_test = da.random.default_rng(1).uniform(-1, 1, (200_000, n_features), 50_000)
    y_test = (X_test[:, 0] + X_test[:, 1] > 0).astype(np.int64)
    assert est.score(X_test, y_test) > 0.9
    assert _worker_addresses(client) == workers


# ---------------------------------------------------------------------------
# Streaming: an int batch_size sends the blocks through partial_fit.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "Estimator, data",
    [
        pytest.param(BackpropClassifier, _classification, id="classifier"),
        pytest.param(BackpropRegressor, _regression, id="regressor"),
    ],
)
def test_streaming_equals_a_partial_fit_loop_over_the_blocks(client, Estimator, data):
    X, y = data()
    weights = np.random.RandomState(0).uniform(0, 2, size=len(y))
    params = dict(hidden_size=5, batch_size=50, max_iter=3, random_state=0)
    params["n_iter_no_change"] = 100
    on_dask = Estimator(**params).fit(_dask(X), _dask(y), sample_weight=_dask(weights))
    local = Estimator(**params)
    extra = {"classes": np.unique(y)} if Estimator is BackpropClassifier else {}
    for _ in range(params["max_iter"]):
        for start in range(0, len(y), 230):
            block = slice(start, start + 230)
            local.partial_fit(X[block], y[block], sample_weight=weights[block], **extra)
    assert on_dask.n_iter_ == local.n_iter_ == 3 * 5
    for got, expected in zip(on_dask.coefs_, local.coefs_, strict=True):
        assert_array_equal(got, expected)
    assert on_dask.loss_curve_ == local.loss_curve_


def test_streaming_starts_afresh_and_stops_on_tol(client):
    X, y = _classification()
    est = BackpropClassifier(hidden_size=5, batch_size=100, random_state=0)
    est.fit(X[:, :3], y)  # an earlier fit, on other features: forgotten
    est.set_params(max_iter=50, tol=0.5, n_iter_no_change=2).fit(_dask(X), _dask(y))
    assert est.n_features_in_ == X.shape[1]
    # Two passes without an improvement of tol, after the first: 3 passes.
    assert est.n_iter_ == 3 * 5


# ---------------------------------------------------------------------------
# Distributed hyper-parameter search.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "Search, space",
    [
        pytest.param(
            GridSearchCV, {"alpha": [0.1, 1.0], "hidden_size": [3, 8]}, id="grid"
        ),
        pytest.param(
            RandomizedSearchCV,
            {"alpha": [0.05, 0.1, 0.3, 1.0], "hidden_size": [2, 4, 8, 16]},
            id="randomized",
        ),
    ],
)
def test_search_under_joblib_dask_backend_equals_local(client, Search, space):
    X, y = _classification(n_samples=300)
    est = BackpropClassifier(batch_size=None, max_iter=30, random_state=0)
    extra = {"n_iter": 4, "random_state": 0} if Search is RandomizedSearchCV else {}
    search = Search(est, space, cv=3, **extra)
    local = clone(search).set_params(n_jobs=1).fit(X, y)
    with joblib.parallel_backend("dask"):
        distributed = clone(search).set_params(n_jobs=-1).fit(X, y)
    assert distributed.cv_results_["params"] == local.cv_results_["params"]
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        assert_array_equal(distributed.cv_results_[key], local.cv_results_[key])
    assert distributed.best_params_ == local.best_params_
    for got, expected in zip(
        distributed.best_estimator_.coefs_, local.best_estimator_.coefs_, strict=True
    ):
        assert_array_equal(got, expected)


# ---------------------------------------------------------------------------
# A cluster of separate processes: `dask scheduler` and `dask worker`.
# ---------------------------------------------------------------------------


def _wait_for(path, process, seconds):
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {seconds} s")
        time.sleep(0.1)


@pytest.fixture
def process_cluster(tmp_path):
    """``python -m dask scheduler`` and one ``dask worker``, run from tmp_path.

    The scheduler listens on 127.0.0.1, on a free port it picks itself (its
    address is read from the scheduler file). Both exit on their own if the
    test process dies without tearing them down (idle / death timeouts).
    """
    scheduler_file = tmp_path / "scheduler.json"
    dask_cli = [sys.executable, "-m", "dask"]
    env = {**os.environ, "PYTHONPATH": ""}  # nothing from this checkout's path
    logs = [open(tmp_path / name, "w") for name in ("scheduler.log", "worker.log")]
    processes = []
    try:
        processes.append(
            subprocess.Popen(
                [
                    *dask_cli,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--scheduler-file",
                    str(scheduler_file),
                    "--idle-timeout",
                    "300s",
                ],
                cwd=tmp_path,
                env=env,
                stdout=logs[0],
                stderr=subprocess.STDOUT,
            )
        )
        _wait_for(scheduler_file, processes[0], 30)
        processes.append(
            subprocess.Popen(
                [
                    *dask_cli,
                    "worker",
                    "--scheduler-file",
                    str(scheduler_file),
                    "--host",
                    "127.0.0.1",
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    "--memory-limit",
                    f"{WORKER_MEMORY}",
                    "--no-dashboard",
                    "--death-timeout",
                    "60s",
                ],
                cwd=tmp_path,
                env=env,
                stdout=logs[1],
                stderr=subprocess.STDOUT,
            )
        )
        with Client(
            scheduler_file=str(scheduler_file), timeout=30, set_as_default=False
        ) as process_client:
            process_client.wait_for_workers(1, timeout=30)
            yield process_client
            process_client.shutdown()  # the scheduler stops its workers and itself
    finally:
        for process in reversed(processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        for log in logs:
            log.close()


def test_cluster_of_separate_processes(client, process_cluster, tmp_path):
    X, y = _classification()
    params = dict(hidden_size=5, batch_size=None, max_iter=5, random_state=0)
    with process_cluster.as_current():
        assert dask.base.get_scheduler() == process_cluster.get
        on_processes = BackpropClassifier(**params).fit(_dask(X), _dask(y))
        predicted = on_processes.predict_proba(_dask(X)).compute()
    workers = process_cluster.run(os.getcwd)
    assert list(workers.values()) == [str(tmp_path)]
    # One worker here, two in the module's cluster: the same model.
    on_local_cluster = BackpropClassifier(**params).fit(_dask(X), _dask(y))
    for got, expected in zip(on_processes.coefs_, on_local_cluster.coefs_, strict=True):
        assert_array_equal(got, expected)
    assert_allclose(predicted, on_processes.predict_proba(X), rtol=1e-12)
