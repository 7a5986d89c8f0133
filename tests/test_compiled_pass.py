"""The compiled passes (``_cpass.h`` in ``_ckernels``) against the NumPy ones.

For σ hidden units the gradient pass, the prediction pass, the descent step
and a whole mini-batch epoch each have one C call; the NumPy code of
``_network`` and ``_base`` computes the same numbers and is what they are
held to here: to rounding for sums (BLAS and the C loops add in another
order), to the last bit for the step, whose arithmetic is the same.
"""

import signal
import sys
import threading
import time
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from skbackprop import (
    BackpropClassifier,
    BackpropRegressor,
    _kernels,
    _network,
    _parallel,
)

pytestmark = pytest.mark.skipif(
    _kernels._ckernels is None or not _kernels._ckernels.BLAS,
    reason="skbackprop._ckernels was not built or found no BLAS",
)

# (output activation, k) pairs: k = 1 takes the fused one-output loops.
OUTPUTS = [
    ("sigmoid", 1),
    ("sigmoid", 3),
    ("softmax", 4),
    ("identity", 1),
    ("identity", 2),
]


def _problem(out_activation, k, dtype, m=1100, n=7, h=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(m, n)).astype(dtype)
    if out_activation == "softmax":
        Y = np.eye(k, dtype=dtype)[rng.randint(k, size=m)]
    elif out_activation == "sigmoid":
        Y = (rng.rand(m, k) > 0.5).astype(dtype)
    else:
        Y = rng.normal(size=(m, k)).astype(dtype)
    params = _network.init_params(n, h, k, rng, dtype=dtype)
    # Biases away from zero, so that a dropped bias would show.
    params.b1[:] = rng.normal(size=h)
    params.b2[:] = rng.normal(size=k)
    weights = rng.rand(m).astype(dtype)
    return X, Y, params, weights


def _tolerance(dtype):
    return 1e-12 if dtype == np.float64 else 2e-5


@pytest.mark.parametrize("out_activation, k", OUTPUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_pass_equals_the_numpy_pass(out_activation, k, dtype, weighted):
    X, Y, params, weights = _problem(out_activation, k, dtype)
    sample_weight = weights if weighted else None
    # 1100 rows in blocks of 256: four full blocks and a partial one.
    workspace = _network.Workspace.for_params(256, params)
    compiled = _network.zeros_like_params(params)
    loss = _kernels.gradient_sums(
        X, Y, params, compiled, workspace, out_activation, sample_weight
    )
    assert loss is not None, "the compiled pass did not run"
    with _kernels.use_compiled(False):
        reference = _network.zeros_like_params(params)
        want = _network.gradient_sums(
            X, Y, params, reference, workspace, "sigmoid", out_activation, sample_weight
        )
    rtol = _tolerance(dtype)
    assert loss == pytest.approx(want, rel=rtol)
    for got, expected in zip(compiled, reference, strict=True):
        assert got.dtype == dtype
        np.testing.assert_allclose(
            got, expected, rtol=rtol, atol=rtol * np.abs(expected).max()
        )


@pytest.mark.parametrize("out_activation, k", OUTPUTS)
def test_gradient_pass_adds_to_the_sums(out_activation, k):
    # Chunks and dask blocks add their sums into running totals.
    X, Y, params, _ = _problem(out_activation, k, np.float64)
    workspace = _network.Workspace.for_params(512, params)
    once = _network.zeros_like_params(params)
    _kernels.gradient_sums(X, Y, params, once, workspace, out_activation, None)
    twice = _network.zeros_like_params(params)
    for half in (slice(0, 550), slice(550, None)):
        _kernels.gradient_sums(
            X[half], Y[half], params, twice, workspace, out_activation, None
        )
    for a, b in zip(once, twice, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_prediction_pass_equals_the_formula(k, dtype):
    X, _, params, _ = _problem("identity", k, dtype)
    workspace = _network.Workspace.for_params(256, params)
    out = np.empty((len(X), k), dtype)
    assert _kernels.predict_logits(X, params, out, workspace) is True
    want = _network.output_logits(X.astype(np.float64), params)
    np.testing.assert_allclose(
        out, want, rtol=_tolerance(dtype), atol=_tolerance(dtype)
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_prediction_pass_reports_a_non_finite_input(dtype, bad):
    """Predicting checks X's finiteness through X · W1, even where w = 0."""
    X, _, params, _ = _problem("sigmoid", 1, dtype, m=3000)
    workspace = _network.Workspace.for_params(256, params)
    out = np.empty((len(X), 1), dtype)
    assert _kernels.predict_logits(X, params, out, workspace) is True
    params.W1[2] = 0.0  # inf * 0 is NaN: still seen
    for row in (0, 1234, 2999):  # first block, a middle one, the partial last
        X_bad = X.copy()
        X_bad[row, 2] = bad
        assert _kernels.predict_logits(X_bad, params, out, workspace) is False


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_predict_raises_scikit_learns_error_for_a_non_finite_input(bad):
    X, y = DATASETS["binary"]
    model = BackpropClassifier(hidden_size=4, max_iter=3, random_state=0).fit(X, y)
    X_bad = X.copy()
    X_bad[100, 5] = bad
    message = "Input X contains NaN" if np.isnan(bad) else "Input X contains infinity"
    for method in (model.predict, model.predict_proba, model.decision_function):
        with pytest.raises(ValueError, match=message):
            method(X_bad)
    # Finite X whose X · W1 overflows: the pass reports it and scikit-learn's
    # check finds X finite; then σ(±inf) is 0 or 1 and the prediction goes
    # on, or inf - inf made a NaN and the overflow is reported as such.
    X_huge = np.full_like(X, np.finfo(np.float64).max)
    params = model._fitted_params()
    ones = _network.Params(np.ones_like(params.W1), *params[1:])
    workspace = _network.Workspace.for_params(512, params)
    out = np.empty((len(X), 1))
    assert _kernels.predict_logits(X_huge, ones, out, workspace) is False
    try:
        labels = model.predict(X_huge)
    except ValueError as error:
        assert "output overflowed" in str(error)
    else:
        assert set(labels) <= set(model.classes_)


@pytest.mark.parametrize(
    "momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)]
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_descent_step_is_bit_identical_to_the_numpy_step(momentum, nesterov, dtype):
    rng = np.random.RandomState(0)
    params = _network.init_params(9, 6, 2, rng, dtype=dtype)
    grads = _network.Params(*(rng.normal(size=a.shape).astype(dtype) for a in params))
    velocities = _network.Params(
        *(rng.normal(size=a.shape).astype(dtype) for a in params)
    )
    numpy_params = _network.Params(*(a.copy() for a in params))
    numpy_velocities = _network.Params(*(a.copy() for a in velocities))
    _kernels.descent_step(params, grads, velocities, 0.3, momentum, nesterov)
    if momentum:
        _network.momentum_step(
            numpy_params, grads, numpy_velocities, 0.3, momentum, nesterov
        )
    else:
        _network.gradient_step(numpy_params, grads, 0.3)
    for got, want in zip(
        [*params, *velocities], [*numpy_params, *numpy_velocities], strict=True
    ):
        np.testing.assert_array_equal(got, want)


def test_arrays_the_c_pass_cannot_take_go_to_numpy():
    X, Y, params, _ = _problem("sigmoid", 1, np.float64)
    workspace = _network.Workspace.for_params(512, params)
    sums = _network.zeros_like_params(params)
    for unsuitable in (np.asfortranarray(X), X.astype(np.float32), X[:, ::2]):
        assert (
            _kernels.gradient_sums(
                unsuitable, Y, params, sums, workspace, "sigmoid", None
            )
            is None
        )
    assert (
        _kernels.predict_logits(
            np.asfortranarray(X), params, np.empty((len(X), 1)), workspace
        )
        is None
    )
    # ... and the pass through _network still gives the right numbers.
    got = _network.zeros_like_params(params)
    _network.gradient_sums(np.asfortranarray(X), Y, params, got, workspace)
    _network.gradient_sums(X, Y, params, sums, workspace)
    for a, b in zip(got, sums, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_wrong_buffer_sizes_raise_instead_of_reading_out_of_bounds():
    X, Y, params, _ = _problem("sigmoid", 1, np.float64, m=100)
    workspace = _network.Workspace.for_params(512, params)
    sums = _network.zeros_like_params(params)
    c = _kernels._ckernels
    args = [X, Y, None, *params, *sums, workspace.A1, workspace.D1, workspace.A2]
    all_rows = (None, None, None, None)  # no order: every row of X, no gather buffers
    with pytest.raises(ValueError, match="X has 5600 bytes"):
        c.gradient_sums(*args, 200, 7, 5, 1, 512, 0, True, 200, *all_rows)  # 200 rows?
    with pytest.raises(ValueError, match="A1 has"):
        # blocks bigger than A1
        c.gradient_sums(*args, 100, 7, 5, 1, 4096, 0, True, 100, *all_rows)
    with pytest.raises(ValueError, match="output kind"):
        c.gradient_sums(*args, 100, 7, 5, 1, 512, 7, True, 100, *all_rows)
    with pytest.raises(ValueError, match="bad row count"):  # 50 rows of 100, no order
        c.gradient_sums(*args, 50, 7, 5, 1, 512, 0, True, 100, *all_rows)
    # A pass over some rows: each is checked, and the gather buffers must
    # hold a block.
    gather = (np.empty((512, 7)), np.empty((512, 1)), None)
    subset = np.arange(0, 100, 2)
    assert c.gradient_sums(*args, 50, 7, 5, 1, 512, 0, True, 100, subset, *gather) > 0
    with pytest.raises(IndexError, match=r"order\[3\] = 100 is not a row of X"):
        bad = subset.copy()
        bad[3] = 100
        c.gradient_sums(*args, 50, 7, 5, 1, 512, 0, True, 100, bad, *gather)
    with pytest.raises(ValueError, match="Xg has"):
        c.gradient_sums(*args, 50, 7, 5, 1, 512, 0, True, 100, subset, gather[0][:10],
                        *gather[1:])  # fmt: skip
    out = np.empty((100, 1))
    with pytest.raises(ValueError, match="out has"):
        c.predict_logits(X, *params, workspace.A1, out[:50], 100, 7, 5, 1, 512, True)
    # Sizes whose byte counts overflow are refused, not wrapped around.
    with pytest.raises(ValueError, match="X has"):
        c.gradient_sums(*args, 2**61, 1, 5, 1, 512, 0, True, 2**61, *all_rows)
    with pytest.raises(ValueError, match="X has"):
        c.predict_logits(X, *params, workspace.A1, out, 2**61, 1, 5, 1, 512, True)


def _epoch_args(X, Y, params, workspace, order, m=None):
    sums = _network.zeros_like_params(params)
    if m is None:  # the rows trained on
        m = len(X) if order is None else len(order)
    (n, h), k = params.W1.shape, Y.shape[1]
    n_batches = -(-m // 10)
    return (
        X, Y, None, order, tuple(params), tuple(sums), tuple(sums),
        workspace.A1, workspace.D1, workspace.A2,
        np.empty((10, n)), np.empty((10, k)), None,
        np.zeros(n_batches), np.zeros(n_batches),
        m, len(X), n, h, k, 10, workspace.rows, 0, 0.1, False, True, 0.0, 0.0, 100, 8,
        None,
    )  # fmt: skip


def test_the_epoch_refuses_an_order_that_names_rows_x_does_not_have():
    X, Y, params, _ = _problem("sigmoid", 1, np.float64, m=100)
    workspace = _network.Workspace.for_params(512, params)
    c = _kernels._ckernels
    for length in (100, 50):  # every row, or a subset (early_stopping's)
        for bad in (100, -1, 10**12):
            order = np.arange(length)
            order[37] = bad
            with pytest.raises(IndexError, match=rf"order\[37\] = {bad} is not a row"):
                c.minibatch_epoch(*_epoch_args(X, Y, params, workspace, order))
    with pytest.raises(TypeError, match="int64"):
        c.minibatch_epoch(*_epoch_args(X, Y, params, workspace, np.arange(100.0)))
    # Without an order the epoch runs over all rows of X, no more, no fewer.
    with pytest.raises(ValueError, match="bad arguments"):
        c.minibatch_epoch(*_epoch_args(X, Y, params, workspace, None, m=50))
    assert (
        c.minibatch_epoch(*_epoch_args(X, Y, params, workspace, np.arange(100))) == 10
    )
    subset = np.arange(99, 49, -1)
    assert c.minibatch_epoch(*_epoch_args(X, Y, params, workspace, subset)) == 5


# ---------------------------------------------------------------------------
# The mini-batch epoch in one call, against the Python loop of _base (which
# then runs the compiled gradient pass and step, one batch at a time).
# ---------------------------------------------------------------------------


def _datasets():
    X, y = load_breast_cancer(return_X_y=True)
    binary = (StandardScaler().fit_transform(X), y)
    X, y = load_wine(return_X_y=True)
    multiclass = (StandardScaler().fit_transform(X), y)
    X, y = load_diabetes(return_X_y=True)
    regression = (StandardScaler().fit_transform(X), (y - y.mean()) / y.std())
    return {"binary": binary, "multiclass": multiclass, "regression": regression}


DATASETS = _datasets()


def _fit_both(monkeypatch, Estimator, X, y, sample_weight=None, **kwargs):
    calls = []
    real = _kernels.minibatch_epoch

    def counted(*args):
        result = real(*args)
        calls.append(result is not None)
        return result

    models = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        monkeypatch.setattr(_kernels, "minibatch_epoch", counted)
        models.append(Estimator(**kwargs).fit(X, y, sample_weight=sample_weight))
        monkeypatch.setattr(_kernels, "minibatch_epoch", lambda *args: None)
        models.append(Estimator(**kwargs).fit(X, y, sample_weight=sample_weight))
    assert calls and all(calls), "the compiled epoch did not run"
    return models


def _assert_same_fit(compiled, loop, rtol):
    assert compiled.n_iter_ == loop.n_iter_ and compiled.t_ == loop.t_
    np.testing.assert_allclose(compiled.loss_curve_, loop.loss_curve_, rtol=rtol)
    for a, b in zip(
        compiled.coefs_ + compiled.intercepts_,
        loop.coefs_ + loop.intercepts_,
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"shuffle": False},
        {"momentum": 0.9},
        {"momentum": 0.9, "nesterov": True, "l2": 0.1},
        {"batch_size": 600},
    ],
    ids=["plain", "no-shuffle", "momentum", "nesterov-l2", "big-batch"],
)
def test_compiled_epoch_equals_the_python_loop(monkeypatch, task, options):
    X, y = DATASETS[task]
    Estimator = BackpropRegressor if task == "regression" else BackpropClassifier
    kwargs = {"hidden_size": 8, "batch_size": 32, "max_iter": 6, "tol": 0.0}
    kwargs.update(options, random_state=0)
    if "batch_size" in options:
        # Batches of 600, 600 and 300 rows; each is more than one block
        # (512 + 88 rows) in float64 at h = 8.
        X, y = np.tile(X, (10, 1))[:1500], np.tile(y, 10)[:1500]
    compiled, loop = _fit_both(monkeypatch, Estimator, X, y, **kwargs)
    _assert_same_fit(compiled, loop, rtol=1e-10)


@pytest.mark.parametrize("shuffle", [True, False])
def test_compiled_epoch_with_sample_weights_and_skipped_batches(monkeypatch, shuffle):
    X, y = DATASETS["binary"]
    weights = np.random.RandomState(0).rand(len(y))
    # Zero weight on whole batches (the first two when not shuffled).
    weights[:64] = 0.0
    compiled, loop = _fit_both(
        monkeypatch,
        BackpropClassifier,
        X,
        y,
        sample_weight=weights,
        hidden_size=8,
        batch_size=32,
        max_iter=5,
        shuffle=shuffle,
        random_state=0,
    )
    _assert_same_fit(compiled, loop, rtol=1e-10)


def test_compiled_epoch_in_float32(monkeypatch):
    X, y = DATASETS["binary"]
    compiled, loop = _fit_both(
        monkeypatch,
        BackpropClassifier,
        X.astype(np.float32),
        y,
        hidden_size=8,
        batch_size=32,
        max_iter=5,
        random_state=0,
    )
    assert compiled.coefs_[0].dtype == np.float32
    _assert_same_fit(compiled, loop, rtol=2e-4)


def test_compiled_epoch_stops_at_divergence_like_the_loop(monkeypatch):
    X, y = DATASETS["regression"]
    errors = []
    for epoch in (_kernels.minibatch_epoch, lambda *args: None):
        monkeypatch.setattr(_kernels, "minibatch_epoch", epoch)
        with pytest.raises(ValueError, match="diverged") as error:
            BackpropRegressor(alpha=50.0, batch_size=16, random_state=0).fit(X * 30, y)
        errors.append(str(error.value))
    assert errors[0] == errors[1]


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGALRM")
def test_a_signal_interrupts_the_compiled_epoch_between_batches():
    """Ctrl-C is seen within 256 batches, not only when the epoch ends."""
    rng = np.random.RandomState(0)
    m, batch = 400_000, 1
    X = rng.normal(size=(m, 3))
    Y = (X[:, :1] > 0).astype(float)
    params = _network.init_params(3, 4, 1, rng)
    workspace = _network.Workspace.for_params(512, params)
    sums = _network.zeros_like_params(params)
    losses, weights = np.zeros(m), np.zeros(m)
    progress = []

    def handler(signum, frame):
        progress.append(int(np.count_nonzero(weights)))
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(KeyboardInterrupt):
            _kernels._ckernels.minibatch_epoch(
                X, Y, None, None, tuple(params), tuple(sums), tuple(sums),
                workspace.A1, workspace.D1, workspace.A2, None, None, None,
                losses, weights, m, m, 3, 4, 1, batch, 512, 0, 0.1, False, True, 0.0, 0.0,
                100, 8, None,
            )  # fmt: skip
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    # The handler ran while the epoch was under way, at a check every 256.
    assert len(progress) == 1 and 0 < progress[0] < m
    assert progress[0] % 256 == 0


# ---------------------------------------------------------------------------
# Each batch of the compiled epoch is cut into parts that a team of threads
# shares; the parts' sums are added in part order, so the model is the same
# to the last bit whichever thread did which part.
# ---------------------------------------------------------------------------


def _team_epoch(X, Y, params, order, batch, team, sample_weight=None, hyper=None):
    """One compiled epoch from a copy of params; returns the params after it."""
    params = _network.Params(*(array.copy() for array in params))
    velocities = _network.zeros_like_params(params)
    workspace = _network.Workspace.for_params(512, params)
    buffers = (
        np.empty((batch, X.shape[1]), X.dtype),
        np.empty((batch, Y.shape[1]), X.dtype),
        None if sample_weight is None else np.empty(batch, X.dtype),
    )
    result = _kernels.minibatch_epoch(
        X, Y, sample_weight, order, batch, params, velocities,
        hyper or (0.1, 0.0, False, 0.0), "softmax" if Y.shape[1] > 1 else "sigmoid",
        workspace, _network.zeros_like_params(params), buffers, team,
    )  # fmt: skip
    assert result is not None
    return params, result


@pytest.mark.skipif(
    _kernels._ckernels is None or not _kernels._ckernels.TEAM,
    reason="built without the compiled team",
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "case", ["binary", "multiclass", "weights-momentum-l2", "consecutive"]
)
def test_helpers_share_the_parts_and_change_no_bit(case, dtype):
    rng = np.random.RandomState(0)
    m, n, k = 16_000, 20, 3 if case == "multiclass" else 1
    X = rng.normal(size=(m, n)).astype(dtype)
    labels = rng.randint(k + (k == 1), size=m)
    Y = (np.eye(3)[labels] if k == 3 else labels[:, None]).astype(dtype)
    params = _network.init_params(n, 16, k, rng, dtype=dtype)
    order = None if case == "consecutive" else rng.permutation(m).astype(np.int64)
    weights, hyper = None, None
    if case == "weights-momentum-l2":
        weights = rng.rand(m).astype(dtype)
        hyper = (0.1, 0.9, True, 0.01)
    # Batches of 400 rows: 4 parts each (and a last batch of 1 part).
    batch = 400
    assert _kernels.minibatch_parts(batch) == 4
    alone, (losses, _) = _team_epoch(X, Y, params, order, batch, None, weights, hyper)
    assert len(losses) == m // batch
    for _attempt in range(20):  # until a helper got parts (at once on 2+ cores)
        team = _kernels.new_team()
        helpers = [
            threading.Thread(target=_kernels.team_help, args=(team,)) for _ in range(3)
        ]
        for helper in helpers:
            helper.start()
        time.sleep(0.01)  # let them reach their C loop, as pool threads do
        try:
            shared, (shared_losses, _) = _team_epoch(
                X, Y, params, order, batch, team, weights, hyper
            )
        finally:
            _kernels.team_stop(team)
            for helper in helpers:
                helper.join()
        for a, b in zip(alone, shared, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(losses, shared_losses)
        if _kernels._ckernels.team_helper_parts(team) > 0:
            break
    else:
        # With one CPU free an epoch of a few milliseconds can end before a
        # helper is scheduled at all; the numbers were checked all the same.
        if _parallel._usable_cpus() >= 2:
            pytest.fail("no helper ever did a part")


def test_parts_change_the_sums_by_rounding_only():
    """Two parts of 100 rows against the same batch as one part."""
    rng = np.random.RandomState(1)
    X = rng.normal(size=(2_000, 30))
    Y = (X[:, :1] > 0).astype(float)
    params = _network.init_params(30, 16, 1, rng)
    order = rng.permutation(2_000).astype(np.int64)
    results = []
    for part_rows in (100, 10**9):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_kernels, "MINIBATCH_PART_ROWS", part_rows)
            results.append(_team_epoch(X, Y, params, order, 200, None))
    (two, (losses_two, _)), (one, (losses_one, _)) = results
    np.testing.assert_allclose(losses_two, losses_one, rtol=1e-12)
    for a, b in zip(two, one, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert any(not np.array_equal(a, b) for a, b in zip(two, one, strict=True)), (
        "two parts summed exactly as one: the parts were not used"
    )


def test_a_fit_hands_parts_to_helpers_and_gives_the_same_model(monkeypatch):
    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(_parallel, "_CPU_COUNT", max(_parallel._CPU_COUNT, 2))
    with threadpool_limits(2):
        if _parallel.thread_budget() < 2:
            pytest.skip("BLAS here cannot be given 2 threads (the thread budget)")
    helped = []
    real_help = _kernels.team_help

    def counted_help(team):
        helped.append(team)
        real_help(team)

    monkeypatch.setattr(_kernels, "team_help", counted_help)
    X, y = DATASETS["binary"]
    X, y = np.tile(X, (4, 1)), np.tile(y, 4)
    models = []
    for threads in (1, 2):
        with threadpool_limits(threads), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            models.append(
                BackpropClassifier(batch_size=200, max_iter=3, random_state=0).fit(X, y)
            )
        if threads == 1:
            assert not helped, "a helper on a budget of one thread"
    if _kernels.new_team() is not None:
        # A helper may start after its (short) epoch is over: wait for all three.
        deadline = time.monotonic() + 30
        while len(helped) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(helped) == 3, "no helper for an epoch of batches of two parts"
    for a, b in zip(models[0].coefs_, models[1].coefs_, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(
    _kernels._ckernels is None or not _kernels._ckernels.TEAM,
    reason="built without the compiled team",
)
def test_a_team_serves_one_epoch_at_a_time():
    """Two epochs on one team would claim each other's parts: the second fails."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200_000, 20)).astype(np.float32)
    Y = (X[:, :1] > 0).astype(np.float32)
    params = _network.init_params(20, 16, 1, rng, dtype=np.float32)
    team = _kernels.new_team()
    start = threading.Barrier(2)
    outcomes = []

    def epoch():
        start.wait()
        try:
            _team_epoch(X, Y, params, None, 200, team)
            outcomes.append("done")
        except ValueError as error:
            outcomes.append(str(error))

    threads = [threading.Thread(target=epoch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each epoch lasts tens of milliseconds; the second starts within microseconds.
    assert sorted(outcomes) == ["_ckernels: the team is in use by another epoch", "done"]
    _team_epoch(X[:1000], Y[:1000], params, None, 200, team)  # free again afterwards
    _kernels.team_stop(team)


@pytest.mark.parametrize("Estimator", [BackpropClassifier, BackpropRegressor])
@pytest.mark.parametrize("batch_size", [200, None])
def test_compiled_fits_and_predictions_hold_only_the_compiled_blocks(Estimator, batch_size):
    """The compiled passes' blocks are a quarter of the NumPy pass's here (512
    against 2048 rows of float32 at h = 64), and only their buffers are made.
    X is small (2 MB), so buffers sized for the NumPy blocks were 0.65× X
    for a full-batch fit (0.88× with the shuffled batches' order) and up to
    0.26× X beside a prediction's output; sized for the compiled blocks,
    0.30× (0.48-0.51×) and 0.07-0.10×. The rest is the targets, their encoding
    and the batch order, each a vector of n."""
    import tracemalloc

    from threadpoolctl import threadpool_limits

    rng = np.random.RandomState(0)
    X = rng.normal(size=(50_000, 10)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    model = Estimator(hidden_size=64, max_iter=1, batch_size=batch_size, random_state=0)
    assert _kernels.compiled_block_rows(64, np.float32, 4096) * 4 == _network.block_rows(
        64, np.float32
    )
    predict = getattr(model, "predict_proba", model.predict)
    with threadpool_limits(limits=1), warnings.catch_warnings():  # one workspace
        warnings.simplefilter("ignore", ConvergenceWarning)
        tracemalloc.start()
        try:
            model.fit(X, y)
            fit_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            out = predict(X)
            predict_peak = tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()
    limit = 0.4 if batch_size is None else 0.6  # shuffled batches: + the order
    assert fit_peak < limit * X.nbytes, fit_peak / X.nbytes
    assert predict_peak - out.nbytes < 0.13 * X.nbytes, (predict_peak - out.nbytes) / X.nbytes
