"""The compiled loops and their NumPy fallbacks against the formulas.

``_kernels`` has two implementations of each hidden-layer loop: C's
(``_ckernels.c``, with a hand-written SIMD exponential) and NumPy's. Every
test here runs on both, through the ``backend`` fixture, and compares with
``math.md``'s formulas evaluated independently (``scipy.special.expit`` in
float64, or in long double where the float64 result itself is checked).
"""

import collections
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning

from skbackprop import BackpropClassifier, BackpropRegressor, _kernels, _network

HAVE_C = _kernels._ckernels is not None


@pytest.fixture(params=["c", "numpy"])
def backend(request):
    if request.param == "c" and not HAVE_C:
        pytest.skip("skbackprop._ckernels was not built (no C compiler)")
    with _kernels.use_compiled(request.param == "c"):
        assert _kernels.backend().startswith(request.param)
        yield request.param


def test_the_c_loops_are_built_and_in_use():
    # The README's install builds them (a C compiler is part of the test
    # machine); if the build were skipped, the package would silently run
    # the slower NumPy loops and half of this file would be skipped.
    assert HAVE_C, "skbackprop._ckernels is missing: the C extension was not built"
    assert _kernels.backend() in {"c-avx2", "c-baseline"}


def _sigmoid_long_double(z):
    # σ in extended precision: the reference the float64 kernel is held to.
    z = np.asarray(z, np.longdouble)
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-z))


def _ulps(got, want, dtype):
    want = np.asarray(want, dtype=np.longdouble)
    spacing = np.spacing(np.abs(want).astype(dtype)).astype(np.longdouble)
    return np.abs(np.asarray(got, np.longdouble) - want) / spacing


EDGES = [
    -1000.0,
    -745.0,
    -100.0,
    -40.0,
    -37.0,
    -1.0,
    -1e-300,
    -0.0,
    0.0,
    1e-300,
    1.0,
    20.0,
    37.0,
    40.0,
    100.0,
    709.0,
    1000.0,
    np.inf,
    -np.inf,
]


def _around(values, dtype, count):
    """The `count` floats of `dtype` on either side of each value, and the value."""
    points = []
    for value in np.asarray(values, dtype):
        below = above = value
        for _ in range(count):
            below, above = np.nextafter(below, dtype(-np.inf)), np.nextafter(above, dtype(np.inf))
            points += [below, above]
        points.append(value)
    return np.array(points, dtype)


def test_float64_sigmoid_is_within_4_ulps_where_it_is_normal(backend):
    rng = np.random.RandomState(0)
    z = np.concatenate([rng.normal(scale=s, size=20000) for s in (0.1, 1, 10, 100)])
    near_underflow = np.linspace(-708.5, -707.9, 601)  # σ crosses the smallest normal
    # σ(z) is the smallest normal number at z = ln(2^-1022) = -708.39641853...: a
    # flush to 0 that starts a little above it (at -708.3964) misses normal values.
    at_the_smallest_normal = np.linspace(-708.39643, -708.39640, 3001)
    # The kernel's own thresholds (-709 and 40) and the previous flush point.
    thresholds = _around([-709.0, 40.0, -708.3964], np.float64, 200)
    z = np.concatenate([z, EDGES, near_underflow, at_the_smallest_normal, thresholds])
    got = _kernels.sigmoid(z)
    want = _sigmoid_long_double(z)
    normal = want >= np.finfo(np.float64).tiny
    assert _ulps(got[normal], want[normal], np.float64).max() <= 4
    # Below the smallest normal number the result is flushed to 0 (or is the
    # subnormal itself, for NumPy): off by less than 2.3e-308 either way.
    assert np.all(np.abs(got[~normal] - want[~normal].astype(np.float64)) < 2.3e-308)


def test_float32_sigmoid_is_within_4_ulps_of_the_exact_value(backend):
    rng = np.random.RandomState(1)
    z = np.concatenate([rng.normal(scale=s, size=20000) for s in (0.1, 1, 10, 50)])
    near_underflow = np.linspace(-87.5, -87.2, 301)
    z = np.concatenate([z, np.clip(EDGES, -1e30, 1e30), near_underflow]).astype(
        np.float32
    )
    # Every float32 around ln(2^-126) = -87.336544..., and around the kernel's
    # thresholds (-88 and 20) and its previous flush point.
    thresholds = _around([-87.336544, -88.0, 20.0, -87.3365], np.float32, 64)
    z = np.concatenate([z, thresholds])
    got = _kernels.sigmoid(z)
    assert got.dtype == np.float32
    want = _sigmoid_long_double(z)
    normal = want >= np.finfo(np.float32).tiny
    assert _ulps(got[normal], want[normal], np.float32).max() <= 4
    assert np.all(np.abs(got[~normal]) < 1.2e-38)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_special_values(backend, dtype):
    z = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], dtype)
    got = _kernels.sigmoid(z)
    assert np.isnan(got[0])
    np.testing.assert_array_equal(got[1:], [1.0, 0.0, 0.5, 0.5])
    assert got.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_of_any_shape_and_in_place(backend, dtype):
    z = np.linspace(-8, 8, 24, dtype=dtype).reshape(2, 3, 4)
    want = expit(z.astype(np.float64))
    got = _kernels.sigmoid(z)
    np.testing.assert_allclose(got, want, rtol=4 * np.finfo(dtype).eps)
    _kernels.sigmoid(z, out=z)
    np.testing.assert_array_equal(z, got)
    strided = np.linspace(-8, 8, 40, dtype=dtype)[::2]  # not contiguous: NumPy's path
    np.testing.assert_allclose(
        _kernels.sigmoid(strided),
        expit(strided.astype(np.float64)),
        rtol=4 * np.finfo(dtype).eps,
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bias_sigmoid_is_sigma_of_a_plus_b(backend, dtype):
    rng = np.random.RandomState(2)
    A = (rng.normal(scale=4, size=(300, 37))).astype(dtype)
    b = rng.normal(size=37).astype(dtype)
    b0 = b.copy()
    want = expit((A + b).astype(np.float64))
    _kernels.bias_sigmoid(A, b)
    assert A.dtype == dtype
    np.testing.assert_allclose(A, want, rtol=4 * np.finfo(dtype).eps, atol=1e-300)
    np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_backward_is_the_derivative_and_its_column_sums(backend, dtype):
    rng = np.random.RandomState(3)
    A = rng.uniform(size=(513, 29)).astype(dtype)
    D = rng.normal(size=(513, 29)).astype(dtype)
    colsum = rng.normal(size=29).astype(dtype)
    want_D = D.astype(np.float64) * A * (1 - A.astype(np.float64))
    want_sum = colsum + want_D.sum(axis=0)
    _kernels.sigmoid_backward(D, A, colsum)
    rtol = 2e-15 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(D, want_D, rtol=rtol)
    np.testing.assert_allclose(colsum, want_sum, rtol=rtol * 100, atol=rtol * 100)
    assert D.dtype == colsum.dtype == dtype


def _clipped_softmax_in_log_space(Z, eps):
    # predict_proba as it was: exp of the log-softmax, each row with a
    # probability below eps raised to eps and renormalised, in log space
    # (what predict_log_proba still does).
    from scipy.special import logsumexp

    log_p = _network.log_softmax(Z.astype(np.float64))
    low = (log_p < np.log(eps)).any(axis=1)
    rows = np.maximum(log_p[low], np.log(eps))
    log_p[low] = rows - logsumexp(rows, axis=1, keepdims=True)
    return np.exp(log_p)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k", [2, 3, 10, 17])
def test_softmax_proba_is_the_clipped_softmax(backend, dtype, k):
    rng = np.random.RandomState(5)
    Z = rng.normal(scale=6, size=(400, k)).astype(dtype)
    Z[0] = 0  # all equal
    Z[1, 0] = 300  # the others below eps: clipped and renormalised
    Z[2] = np.finfo(dtype).max / 2  # huge but equal
    Z[3, 0], Z[3, 1] = np.finfo(dtype).max, -np.finfo(dtype).max  # e^-inf
    eps = np.finfo(dtype).eps
    # Either side of the clipping: one probability at 2 eps (kept), then at
    # eps / 2 (raised to eps), the others equal.
    for row, times in ((4, 2.0), (5, 0.5)):
        Z[row] = 0
        Z[row, 1] = np.log(times * eps * (k - 1))
    want = _clipped_softmax_in_log_space(Z, eps)
    got = _kernels.softmax_proba(Z, eps)
    np.testing.assert_allclose(got[4, 1], 2 * eps, rtol=1e-3)
    np.testing.assert_allclose(got[5, 1], eps, rtol=1e-3)
    assert got is Z and got.dtype == dtype
    # The log-space reference loses |log p| ulps to the final exp.
    tolerance = 8 * eps * want * np.maximum(1, np.abs(np.log(want)))
    assert (np.abs(got - want) <= tolerance).all(), np.max(np.abs(got - want) / tolerance)
    np.testing.assert_allclose(got.sum(axis=1), 1, rtol=4 * k * eps)
    assert (got > 0).all() and (got < 1).all()
    np.testing.assert_array_equal(got[0], np.full(k, 1 / k, dtype))


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocked_pass_equals_math_md_on_both_backends(backend, activation, dtype):
    rng = np.random.RandomState(4)
    X = rng.normal(size=(1100, 6)).astype(dtype)
    Y = np.eye(3)[rng.randint(3, size=1100)].astype(dtype)
    params = _network.init_params(6, 7, 3, rng, dtype=dtype)
    A1, A2 = _network.forward(X, params, activation, "softmax")
    expected = _network.backward(X, Y, A1, A2, params, activation)
    workspace = _network.Workspace.for_params(256, params)
    _, got = _network.loss_and_gradients(
        X, Y, params, activation, "softmax", workspace=workspace
    )
    rtol = 1e-10 if dtype == np.float64 else 2e-4
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())
    out = np.empty((1100, 3), dtype)
    _network.predict_logits_into(X, params, out, workspace, activation)
    np.testing.assert_allclose(
        out, _network.output_logits(X, params, activation), rtol=rtol, atol=rtol
    )


@pytest.mark.skipif(not HAVE_C, reason="skbackprop._ckernels was not built")
@pytest.mark.parametrize("Estimator", [BackpropClassifier, BackpropRegressor])
def test_fits_agree_across_backends(Estimator):
    """Training on the C loops or NumPy's gives the same model to rounding."""
    from sklearn.datasets import load_breast_cancer, load_diabetes
    from sklearn.preprocessing import StandardScaler

    load = load_breast_cancer if Estimator is BackpropClassifier else load_diabetes
    X, y = load(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    if Estimator is BackpropRegressor:
        y = (y - y.mean()) / y.std()
    models = []
    for compiled in (True, False):
        with _kernels.use_compiled(compiled), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            models.append(Estimator(max_iter=5, random_state=0).fit(X, y))
    for a, b in zip(
        models[0].coefs_ + models[0].intercepts_,
        models[1].coefs_ + models[1].intercepts_,
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    compiled_prediction, numpy_prediction = (model.predict(X) for model in models)
    if Estimator is BackpropClassifier:
        np.testing.assert_array_equal(compiled_prediction, numpy_prediction)
    else:
        np.testing.assert_allclose(compiled_prediction, numpy_prediction, rtol=1e-9)


def _run(code, **env):
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_environment_variable_turns_the_compiled_kernels_off():
    code = "from skbackprop import _kernels; print(_kernels.backend())"
    assert _run(code, SKBACKPROP_COMPILED="0") == "numpy"
    if HAVE_C:
        assert _run(code, SKBACKPROP_COMPILED="1").startswith("c-")


def test_a_package_built_without_a_compiler_falls_back_to_numpy():
    # sys.modules[name] = None makes importing it raise ImportError, as when
    # the optional extension was not built; fitting and predicting still work.
    code = (
        "import sys; sys.modules['skbackprop._ckernels'] = None\n"
        "import numpy as np\n"
        "from skbackprop import BackpropClassifier, _kernels\n"
        "X = np.random.RandomState(0).normal(size=(60, 3)); y = (X[:, 0] > 0).astype(int)\n"
        "model = BackpropClassifier(max_iter=300, random_state=0).fit(X, y)\n"
        "print(_kernels.backend(), model.score(X, y) > 0.9)\n"
    )
    assert _run(code) == "numpy True"


def test_show_versions_names_the_loops_in_use(capsys):
    from skbackprop import show_versions

    show_versions()
    lines = capsys.readouterr().out.splitlines()
    assert f"hidden-layer loops: {_kernels.backend()}" in lines
    if HAVE_C and _kernels._ckernels.BLAS:
        assert any(line.startswith("compiled passes: yes") for line in lines)
    with _kernels.use_compiled(False):
        show_versions()
    lines = capsys.readouterr().out.splitlines()
    loops = [line for line in lines if "loops" in line]
    expected = "turned off" if HAVE_C else "not built"
    assert loops[0].startswith("hidden-layer loops: numpy") and expected in loops[0]
    assert "compiled passes: no (the C code is not in use)" in lines


@pytest.mark.skipif(not HAVE_C, reason="skbackprop._ckernels was not built")
@pytest.mark.parametrize("batch_size", [None, 50])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_training_and_prediction_run_the_c_loops(monkeypatch, batch_size, momentum):
    """The hot paths call the compiled passes, not only the tests of them."""
    calls = collections.Counter()
    compiled = _kernels._ckernels

    class Counting:
        SIMD = compiled.SIMD
        BLAS = compiled.BLAS

        def __getattr__(self, name):
            def counted(*args):
                calls[name] += 1
                return getattr(compiled, name)(*args)

            return counted

    monkeypatch.setattr(_kernels, "_ckernels", Counting())
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] > 0).astype(int)
    model = BackpropClassifier(
        max_iter=2, batch_size=batch_size, momentum=momentum, random_state=0
    )
    with _kernels.use_compiled(True), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
        fitted = dict(calls)
        model.predict_proba(X)
    if batch_size is None:  # one pass and one step per epoch
        assert fitted["gradient_sums"] >= 2 and fitted["descent_step"] == 2
    else:  # a whole epoch of batches in one call
        assert fitted["minibatch_epoch"] == 2 and "descent_step" not in fitted
    assert calls["predict_logits"] > fitted.get("predict_logits", 0)
    assert calls["sigmoid"] > 0  # predict_proba: the two probability columns
    model.fit(X, np.digitize(X[:, 0], [-0.5, 0.5]))  # three classes: softmax
    calls.clear()
    model.predict_proba(X)
    assert calls["softmax"] == 1
