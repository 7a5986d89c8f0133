"""Under load: many fits in parallel, many threads predicting with one model.

* ``GridSearchCV(n_jobs=2)`` over dozens of candidates (processes, and joblib's
  threading backend) gives exactly the ``cv_results_`` of ``n_jobs=1``.
* Several threads calling ``predict``/``predict_proba`` on one shared fitted
  model at once get exactly the results of sequential calls, on data of more
  than ``CHUNK_ROWS`` rows so that the package's own chunked threading runs
  inside each call too.
* Several threads fitting at once get the models of sequential fits, and a fit
  is bit-identical whatever the thread budget.
* Afterwards BLAS's thread count (threadpoolctl) is what it was.
"""

import os
import subprocess
import sys
import textwrap
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

from skbackprop import (
    BackpropClassifier,
    BackpropRegressor,
    _kernels,
    _network,
    _parallel,
)

N_THREADS, N_CALLS = 8, 20
# More rows than one chunk: predict_logits splits them over the thread budget.
N_LARGE = _parallel.CHUNK_ROWS + 808


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _blas_threads():
    return [(info["filepath"], info["num_threads"]) for info in threadpool_info()
            if info["user_api"] == "blas"]


def _small_data(kind):
    X, y = make_classification(
        n_samples=90, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    if kind == "regressor":
        y = X[:, 0] - 0.5 * X[:, 1] + 0.1 * np.sin(3 * X[:, 2])
    return X, y


def _large_data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(N_LARGE, 10))
    y_class = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    y_reg = np.tanh(X[:, 0]) + 0.3 * X[:, 3]
    return X, y_class, y_reg


# ---------------------------------------------------------------------------
# Grid search: parallel equals sequential.
# ---------------------------------------------------------------------------

GRID = {
    "hidden_size": [2, 5, 9],
    "alpha": [0.03, 0.3],
    "batch_size": [None, 16],
    "momentum": [0.0, 0.9],
}  # 24 candidates × 3 folds = 72 fits


def _search(kind, n_jobs):
    Estimator = BackpropClassifier if kind == "classifier" else BackpropRegressor
    step = Estimator.__name__.lower()
    grid = {f"{step}__{name}": values for name, values in GRID.items()}
    if kind == "regressor":
        grid[f"{step}__alpha"] = [0.003, 0.03]
    pipe = make_pipeline(StandardScaler(), Estimator(max_iter=5, random_state=0))
    return GridSearchCV(pipe, grid, cv=3, n_jobs=n_jobs, error_score="raise")


def _assert_same_search(a, b):
    for key in a.cv_results_:
        if "time" in key:
            continue
        np.testing.assert_array_equal(
            np.asarray(a.cv_results_[key]), np.asarray(b.cv_results_[key]), err_msg=key
        )
    assert a.best_params_ == b.best_params_
    est_a, est_b = a.best_estimator_[-1], b.best_estimator_[-1]
    for x, z in zip([*est_a.coefs_, *est_a.intercepts_], [*est_b.coefs_, *est_b.intercepts_],
                    strict=True):
        np.testing.assert_array_equal(x, z)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_grid_search_in_two_processes_equals_sequential(kind):
    X, y = _small_data(kind)
    blas_before = _blas_threads()
    sequential = _search(kind, n_jobs=1).fit(X, y)
    parallel = _search(kind, n_jobs=2).fit(X, y)
    assert len(parallel.cv_results_["params"]) == 24
    _assert_same_search(parallel, sequential)
    assert _blas_threads() == blas_before


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_grid_search_in_two_threads_equals_sequential(kind):
    X, y = _small_data(kind)
    blas_before = _blas_threads()
    sequential = _search(kind, n_jobs=1).fit(X, y)
    with joblib.parallel_backend("threading", n_jobs=2):
        threaded = _search(kind, n_jobs=2).fit(X, y)
    _assert_same_search(threaded, sequential)
    assert _blas_threads() == blas_before


# ---------------------------------------------------------------------------
# One fitted model, many threads.
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def large_models():
    X, y_class, y_reg = _large_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier = BackpropClassifier(hidden_size=16, max_iter=3, random_state=0).fit(X, y_class)
        regressor = BackpropRegressor(hidden_size=16, max_iter=3, random_state=0).fit(X, y_reg)
    return X, classifier, regressor


@pytest.fixture
def chunk_calls(monkeypatch):
    """Record the (thread count, number of chunks) of every chunked map."""
    calls = []
    original = _parallel._map_in_order

    def recording(function, items, n_threads):
        calls.append((n_threads, len(items)))
        return original(function, items, n_threads)

    monkeypatch.setattr(_parallel, "_map_in_order", recording)
    return calls


@pytest.mark.parametrize("budget", [1, 2])
def test_threads_sharing_a_fitted_model_get_sequential_results(
    large_models, chunk_calls, budget, monkeypatch
):
    X, classifier, regressor = large_models
    # As many chunks as chunk_rows allows (9 here), so that these small
    # predictions are chunked and threaded.
    monkeypatch.setattr(_parallel, "PREDICT_CHUNK_WORK", 1)
    methods = {
        "predict": classifier.predict,
        "predict_proba": classifier.predict_proba,
        "decision_function": classifier.decision_function,
        "regressor.predict": regressor.predict,
    }
    blas_outside = _blas_threads()
    with threadpool_limits(limits=budget, user_api="blas"):
        blas_inside = _blas_threads()
        expected = {name: method(X) for name, method in methods.items()}
        names = list(methods) * (N_THREADS * N_CALLS // len(methods))

        with ThreadPoolExecutor(max_workers=N_THREADS) as pool:
            results = list(pool.map(lambda name: (name, methods[name](X)), names))
        assert len(results) == N_THREADS * N_CALLS
        for name, result in results:
            np.testing.assert_array_equal(result, expected[name], err_msg=name)
        # BLAS is as the caller set it, once every call has returned.
        assert _blas_threads() == blas_inside
    assert _blas_threads() == blas_outside
    assert _parallel._limit_depth == 0
    # Every call split the rows into chunks, spread over the thread budget:
    # 9 by the work bound, rounded up to whole blocks of 4096 rows, 3.
    assert -(-N_LARGE // _parallel.predict_chunk_rows(N_LARGE, 10, 16, 3)) == 9
    assert _network.block_rows(16, np.float64) == 4096
    assert chunk_calls and all(n == 3 for _, n in chunk_calls)
    if budget > 1 and (joblib.cpu_count() or 1) > 1:
        assert all(n_threads == 2 for n_threads, _ in chunk_calls)


def _params(est):
    return [*est.coefs_, *est.intercepts_]


@pytest.mark.parametrize("batch_size", [None, 4000])
def test_threads_fitting_at_once_get_sequential_models(batch_size):
    X, y_class, y_reg = _large_data()
    jobs = [
        (BackpropClassifier(hidden_size=8, max_iter=2, batch_size=batch_size, random_state=seed), y_class)
        for seed in range(3)
    ] + [
        (BackpropRegressor(hidden_size=8, max_iter=2, batch_size=batch_size, random_state=seed), y_reg)
        for seed in range(3)
    ]
    blas_outside = _blas_threads()
    with threadpool_limits(limits=2, user_api="blas"):
        sequential = [clone(est).fit(X, y) for est, y in jobs]

        def fit(job):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est, y = job
                return clone(est).fit(X, y)

        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            threaded = list(pool.map(fit, jobs))
        assert _blas_threads()[0][1] == 2
    assert _blas_threads() == blas_outside
    for a, b in zip(threaded, sequential, strict=True):
        for x, z in zip(_params(a), _params(b), strict=True):
            np.testing.assert_array_equal(x, z)
        assert a.loss_curve_ == b.loss_curve_


def test_fit_is_bit_identical_whatever_the_thread_budget():
    X, y_class, _ = _large_data()
    models = []
    for budget in (1, 2):
        with threadpool_limits(limits=budget, user_api="blas"):
            models.append(
                BackpropClassifier(hidden_size=8, max_iter=3, batch_size=None, random_state=0)
                .fit(X, y_class)
            )
    for x, z in zip(_params(models[0]), _params(models[1]), strict=True):
        np.testing.assert_array_equal(x, z)
    assert models[0].loss_curve_ == models[1].loss_curve_


def test_blas_is_held_at_one_thread_inside_fit_and_predict(monkeypatch):
    # Small products on several BLAS threads cost more than they save, and
    # our own threads already share the cores: BLAS runs single-threaded
    # inside each pass and gets its setting back afterwards.
    from skbackprop import _kernels

    X, y_class, _ = _large_data()
    seen = []
    for name in ("gradient_sums", "predict_logits"):
        original = getattr(_kernels, name)

        def recording(*args, _original=original, **kwargs):
            seen.append([n_threads for _, n_threads in _blas_threads()])
            return _original(*args, **kwargs)

        monkeypatch.setattr(_kernels, name, recording)
    with threadpool_limits(limits=2, user_api="blas"):
        blas_inside = _blas_threads()
        est = BackpropClassifier(hidden_size=8, max_iter=2, batch_size=None)
        est.fit(X, y_class).predict_proba(X)
        assert _blas_threads() == blas_inside
    assert len(seen) > 2
    assert all(counts == [1] * len(counts) for counts in seen)
    assert _parallel._limit_depth == 0


@pytest.mark.parametrize(
    "n_rows, n_features, hidden_size",
    [(0, 3, 2), (1, 3, 2), (10, 100, 64), (9000, 10, 16), (10_000, 100, 64),
     (10_000, 100, 256), (200_000, 100, 64), (300_000, 2, 50), (1_000_003, 784, 512)],
)
@pytest.mark.parametrize("n_threads", [1, 2, 8])
def test_prediction_chunks_cover_the_rows_evenly_in_bounded_work(
    n_rows, n_features, hidden_size, n_threads
):
    rows = _parallel.predict_chunk_rows(n_rows, n_features, hidden_size, 1, n_threads)
    if n_rows == 0:
        assert rows >= 1  # a valid step for range()
        return
    n_chunks = -(-n_rows // rows)
    # Never more chunks than the gradient pass cuts, and near-equal ones.
    assert 1 <= n_chunks <= -(-n_rows // _parallel.chunk_rows(n_rows))
    assert n_rows - (n_chunks - 1) * rows > 0
    assert n_rows - (n_chunks - 1) * rows >= rows - n_chunks
    # Within the work bound, unless the chunk count is at its cap.
    if n_chunks < -(-n_rows // _parallel.chunk_rows(n_rows)):
        row_work = hidden_size * (n_features + 1 + _parallel.SIGMOID_COST)
        assert rows * row_work <= _parallel.PREDICT_CHUNK_WORK


def test_predictions_do_not_depend_on_the_chunking(large_models, monkeypatch):
    X, classifier, regressor = large_models
    expected = classifier.predict_proba(X), regressor.predict(X)
    assert _parallel.predict_chunk_rows(N_LARGE, 10, 16, 1) == N_LARGE  # 1 chunk
    monkeypatch.setattr(_parallel, "PREDICT_CHUNK_WORK", 1)
    # 9 chunks here, the most chunk_rows allows (3 once made whole blocks)
    assert -(-N_LARGE // _parallel.predict_chunk_rows(N_LARGE, 10, 16, 1)) == 9
    # Each row in the same block either way: the same bits.
    np.testing.assert_array_equal(classifier.predict_proba(X), expected[0])
    np.testing.assert_array_equal(regressor.predict(X), expected[1])


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_predictions_are_the_same_bits_on_any_number_of_threads(compiled, activation, dtype):
    # The chunks depend on the thread count; each row's block must not, or
    # BLAS may sum its products in another order (this failed in 144 of
    # 896 such cases before chunks were made whole blocks).
    from skbackprop import _kernels

    rng = np.random.default_rng(0)
    with _kernels.use_compiled(compiled), _parallel.single_threaded_blas():
        for d, h, k in [(20, 256, 3), (2, 50, 1), (5, 16, 2)]:
            params = _network.Params(
                *(
                    a.astype(dtype)
                    for a in (
                        rng.normal(size=(d, h)) * 0.1,
                        rng.normal(size=h),
                        rng.normal(size=(h, k)) * 0.1,
                        rng.normal(size=k),
                    )
                )
            )
            for n in (7, 1025, 20001):
                X = rng.normal(size=(n, d)).astype(dtype)
                one, _ = _parallel.predict_logits(X, params, activation, 1)
                for n_threads in (2, 3, 8, 32):
                    many, _ = _parallel.predict_logits(X, params, activation, n_threads)
                    np.testing.assert_array_equal(
                        many, one, err_msg=f"d={d} h={h} k={k} n={n} {n_threads} threads"
                    )


def test_blas_hold_works_whichever_threads_enter_and_leave():
    # threadpoolctl >= 3.6 obeys one Python thread at a time when setting
    # OpenBLAS's pool: the hold must still reach 1 in a thread that is not
    # the first to have set it, and be restored by whichever thread leaves
    # last.
    with threadpool_limits(limits=2, user_api="blas"):
        _check_hold_from_several_threads()


def _check_hold_from_several_threads():
    start = _blas_threads()
    assert all(n_threads == 2 for _, n_threads in start)
    inside_hold = []

    def counts():
        return [n_threads for _, n_threads in _blas_threads()]

    # A: a live thread has used the hold; the main thread holds next.
    used, stop = threading.Event(), threading.Event()

    def first_user():
        with _parallel.single_threaded_blas():
            pass
        used.set()
        stop.wait(30)

    worker = threading.Thread(target=first_user)
    worker.start()
    used.wait(30)
    with _parallel.single_threaded_blas():
        inside_hold.append(counts())
    assert _blas_threads() == start
    stop.set()
    worker.join()

    # B: overlapping holds; the thread that set the limit leaves first.
    entered, main_entered, left, stop = (threading.Event() for _ in range(4))

    def overlapping():
        with _parallel.single_threaded_blas():
            entered.set()
            main_entered.wait(30)
            inside_hold.append(counts())
        left.set()
        stop.wait(30)

    worker = threading.Thread(target=overlapping)
    worker.start()
    entered.wait(30)
    with _parallel.single_threaded_blas():
        main_entered.set()
        left.wait(30)
        inside_hold.append(counts())
    assert _blas_threads() == start  # restored though another thread set it
    assert _parallel._limit_depth == 0
    stop.set()
    worker.join()
    assert _blas_threads() == start
    assert len(inside_hold) == 3
    assert all(c == [1] * len(c) for c in inside_hold), inside_hold


def test_prediction_work_is_shared_by_the_threads_when_each_gets_enough():
    def n_chunks(n_rows, n_threads):
        return -(-n_rows // _parallel.predict_chunk_rows(n_rows, 100, 64, 1, n_threads))

    # 10,000 rows: 2 chunks by the work bound; one per thread on 8 threads.
    assert [n_chunks(10_000, t) for t in (1, 2, 8)] == [2, 2, 8]
    # Too little for a thread each: 5,000 rows on 32 threads, 1,000 on 8.
    assert 1 < n_chunks(5_000, 32) < 32
    assert n_chunks(1_000, 8) == 1


def test_few_features_still_make_several_prediction_chunks():
    # Counting only X · W1's multiply-adds, 300,000 rows with d = 2 would be
    # one chunk on one thread, though its 15 million σ take tens of ms.
    rows = _parallel.predict_chunk_rows(300_000, 2, 50, 1)
    assert -(-300_000 // rows) >= 4


# ---------------------------------------------------------------------------
# The chunked map: the calling thread works, helpers join when they start.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n_threads", [1, 2, 3, 8])
@pytest.mark.parametrize("n_items", [0, 1, 2, 7, 40])
def test_chunked_map_gives_each_result_in_item_order(n_threads, n_items):
    def slow_square(i):
        if i % 3 == 0:
            threading.Event().wait(0.001)  # releases the GIL: others overtake
        return i * i

    results = list(_parallel._imap_in_order(slow_square, range(n_items), n_threads))
    assert results == [i * i for i in range(n_items)]


def test_chunked_map_shares_items_with_helpers():
    caller = threading.get_ident()
    helper_joined = threading.Event()
    threads = []

    def record(i):
        threads.append(threading.get_ident())
        if threading.get_ident() == caller:
            helper_joined.wait(timeout=120)  # keeps an item until a helper claims one
        else:
            helper_joined.set()
        return i

    assert _parallel._map_in_order(record, range(12), 2) == list(range(12))
    assert caller in threads  # the caller computes items too
    assert len(set(threads)) == 2  # and one helper from the pool


def test_chunked_map_does_not_wait_for_a_busy_pool():
    # Every pool thread is held (by other fits' helpers, say): the caller
    # computes all the items itself instead of waiting for a helper.
    executor = _parallel._get_executor()
    release = threading.Event()
    blockers = [executor.submit(release.wait) for _ in range(executor._max_workers)]
    try:
        done = []
        caller = threading.Thread(
            target=lambda: done.append(_parallel._map_in_order(abs, range(-5, 5), 4))
        )
        caller.start()
        caller.join(timeout=120)
        assert done == [[abs(i) for i in range(-5, 5)]]
    finally:
        release.set()
        for blocker in blockers:
            blocker.result(timeout=120)


def test_chunked_map_raises_a_helpers_error_once_all_threads_are_done():
    running = []
    finished = []

    def work(i):
        running.append(i)
        if i == 3:
            raise ArithmeticError(f"item {i}")
        threading.Event().wait(0.005)
        finished.append(i)
        return i

    with pytest.raises(ArithmeticError, match="item 3"):
        list(_parallel._imap_in_order(work, range(50), 3))
    # Items stop being handed out after the error, and every item that had
    # started has finished by the time the error reaches the caller.
    assert len(running) < 50
    assert sorted(finished) == sorted(i for i in running if i != 3)
    time_limit = threading.Event()
    time_limit.wait(0.05)
    assert sorted(finished) == sorted(i for i in running if i != 3)


def test_chunked_map_left_early_waits_for_the_items_being_computed():
    finished = []

    def work(i):
        threading.Event().wait(0.005)
        finished.append(i)
        return i

    results = _parallel._imap_in_order(work, range(40), 3)
    assert next(results) == 0
    results.close()
    count = len(finished)
    threading.Event().wait(0.05)
    assert len(finished) == count < 40


def test_small_predictions_leave_blas_alone_and_large_ones_hold_it():
    with threadpool_limits(limits=2, user_api="blas"):
        outside = _blas_threads()
        budget = _parallel.thread_budget()
        # One row, d = 100, h = 64: 6,464 multiply-adds, on the calling thread.
        with _parallel.prediction_threads(1, 100, 64, 1) as n_threads:
            assert n_threads == 1
            assert _blas_threads() == outside
            assert _parallel._limit_depth == 0
        # 10,000 rows: BLAS at one thread inside, our threads on the budget.
        with _parallel.prediction_threads(10_000, 100, 64, 1) as n_threads:
            assert n_threads == budget
            assert all(count == 1 for _, count in _blas_threads())
        assert _blas_threads() == outside
    # The bound counts both products: many outputs make a few rows large.
    small = _parallel.SMALL_PREDICTION_WORK
    with _parallel.prediction_threads(small // (64 * 101), 100, 64, 1):
        assert _parallel._limit_depth == 0
    with _parallel.prediction_threads(small // (64 * 101), 100, 64, 500):
        assert _parallel._limit_depth == 1


def test_a_ctrl_c_as_a_helper_starts_does_not_hang_the_exit():
    # A Ctrl-C can land in the pool just after a helper thread started. With
    # ThreadPoolExecutor the thread was then never registered for the
    # executor's exit handler, which wakes its threads, and the interpreter
    # waited for it at exit for ever (1 run in 4 of the loop below, on a
    # busy machine). The helpers are daemon threads now.
    code = textwrap.dedent(
        """
        import threading
        from skbackprop import _parallel

        real_start = threading.Thread.start

        def start_then_interrupted(self):
            real_start(self)
            raise KeyboardInterrupt  # a Ctrl-C just after the thread started

        threading.Thread.start = start_then_interrupted
        try:
            _parallel._get_executor().submit(abs, -1)
        except KeyboardInterrupt:
            pass
        threading.Thread.start = real_start
        # The pool still works: the next call starts another helper.
        print("result", _parallel._get_executor().submit(abs, -3).result(timeout=60))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["result", "3"]


def test_chunked_map_interrupted_at_any_moment_never_hangs():
    # Ctrl-C can land anywhere in the caller, also between its own item and
    # the bookkeeping after it; the map must still unwind. In a subprocess,
    # so that a hang fails the test (timeout) and the signals stay there.
    script = textwrap.dedent(
        """
        import random, signal, threading
        import numpy as np
        from skbackprop import _parallel

        main = threading.main_thread().ident
        A = np.random.rand(60, 60)
        interrupted = 0
        for _ in range(400):
            timer = threading.Timer(
                random.uniform(0, 0.002), signal.pthread_kill, (main, signal.SIGINT)
            )
            try:
                try:
                    timer.start()
                    for _ in _parallel._imap_in_order(lambda i: A @ A, range(40), 2):
                        pass
                finally:
                    timer.join()
            except KeyboardInterrupt:
                interrupted += 1
        print(interrupted)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == 400


def _run_forking_script(body):
    """Run ``body`` in a subprocess with two BLAS threads; its stdout lines.

    ``body`` forks once; the child prints and leaves with os._exit, and the
    parent kills it if it has not ended within a minute (a hang), so that no
    child outlives the test.
    """
    code = textwrap.dedent(
        """
        import os, signal, sys, time, warnings
        warnings.simplefilter("ignore")  # 3.12+: fork of a threaded process

        def wait_for(pid):
            deadline = time.monotonic() + 60
            while os.waitpid(pid, os.WNOHANG) == (0, 0):
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    print("child hung", flush=True)
                    return
                time.sleep(0.01)
        """
    ) + textwrap.dedent(body)
    # conftest.py holds BLAS at one thread; these need a budget of two.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines(), result.stdout + result.stderr


needs_fork_and_two_cpus = pytest.mark.skipif(
    not hasattr(os, "fork") or _parallel._CPU_COUNT < 2,
    reason="os.fork (POSIX) and two usable CPUs",
)


@needs_fork_and_two_cpus
@pytest.mark.skipif(_kernels._ckernels is None, reason="mini-batch teams are compiled")
def test_a_forked_child_gets_helpers_of_its_own():
    # A child made by os.fork (multiprocessing's default start on Linux up to
    # Python 3.13) inherited the parent's pool, whose threads it does not
    # have: work submitted there could wait for ever, and the child's fits
    # ran without helpers, correct but on one thread. The pool is made again
    # in the child.
    lines, output = _run_forking_script(
        """
        import contextlib
        import numpy as np
        from sklearn.datasets import make_classification
        from skbackprop import BackpropClassifier, _base, _kernels, _parallel

        X, y = make_classification(n_samples=20000, n_features=50, random_state=0)
        parent = BackpropClassifier(batch_size=200, max_iter=3, random_state=0).fit(X, y)
        # The parent's pool full and idle: its threads took the work offered.
        pool = _parallel._get_executor()
        for future in [pool.submit(time.sleep, 0.2) for _ in range(pool._max_workers)]:
            future.result()
        while pool._idle._value < pool._n_threads:
            time.sleep(0.01)

        helper_parts = []
        real_team = _base.minibatch_team

        @contextlib.contextmanager
        def counting_team(*args):
            with real_team(*args) as team:
                yield team
                if team is not None:
                    helper_parts.append(_kernels._ckernels.team_helper_parts(team))

        pid = os.fork()
        if pid == 0:
            try:
                future = _parallel._get_executor().submit(abs, -3)
                print("submitted", future.result(timeout=20), flush=True)
                _base.minibatch_team = counting_team
                child = BackpropClassifier(batch_size=200, max_iter=3, random_state=0)
                child.fit(X, y)
                same = np.array_equal(child.coefs_[0], parent.coefs_[0])
                print("same model", same, flush=True)
                print(_parallel.thread_budget(), len(helper_parts), sum(helper_parts), flush=True)
            except BaseException:
                import traceback

                traceback.print_exc()
                sys.stderr.flush()
            finally:
                os._exit(0)
        wait_for(pid)
        """
    )
    assert len(lines) == 3, output
    assert lines[0] == "submitted 3", output
    assert lines[1] == "same model True", output
    budget, teams, parts_by_helpers = map(int, lines[2].split())
    # The three epochs' batches were shared with a helper of the child's.
    assert (budget, teams) == (2, 3), output
    assert parts_by_helpers > 0, output


@needs_fork_and_two_cpus
def test_a_fork_during_another_threads_fit_leaves_blas_to_the_child():
    # Another thread's fit holds BLAS at one thread; a child forked then has
    # no such thread to give it back, and kept BLAS at one thread for good.
    # A hold the forking thread is inside is let go in the child once, not
    # twice when that thread leaves it there.
    lines, output = _run_forking_script(
        """
        import threading
        from threadpoolctl import threadpool_info
        from skbackprop import _parallel

        def blas_threads():
            return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

        before = blas_threads()
        held, release = threading.Event(), threading.Event()

        def fit_in_progress():
            with _parallel.single_threaded_blas():
                held.set()
                release.wait()

        thread = threading.Thread(target=fit_in_progress)
        thread.start()
        held.wait()
        pid = os.fork()
        if pid == 0:
            print(before, _parallel._limit_depth, blas_threads() == before, flush=True)
            os._exit(0)
        wait_for(pid)
        release.set()
        thread.join()

        with _parallel.single_threaded_blas():
            pid = os.fork()
            if pid == 0:
                inside = blas_threads() == before
        if pid == 0:  # the child left the hold the parent took
            print(_parallel._limit_depth, inside, blas_threads() == before, flush=True)
            with _parallel.single_threaded_blas():  # and holds BLAS again
                print(blas_threads(), _parallel._limit_depth, flush=True)
            os._exit(0)
        wait_for(pid)
        print(_parallel._limit_depth, blas_threads() == before, flush=True)
        """
    )
    assert len(lines) == 4, output
    before, depth, restored = lines[0].rsplit(" ", 2)
    assert max(eval(before)) == 2, output  # BLAS had two threads to give back
    assert (depth, restored) == ("0", "True"), output
    assert lines[1] == "0 True True", output
    assert lines[2].endswith("] 1") and "2" not in lines[2].split("]")[0], output
    assert lines[3] == "0 True", output  # the parent's own hold left as usual
