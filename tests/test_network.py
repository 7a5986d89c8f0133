"""The math module against math.md: formulas, finite differences, one step."""

import numpy as np
import pytest
from scipy.special import expit

from skbackprop import _network
from skbackprop._network import Params


def _problem(out_activation, m=7, n=4, h=5, k=3, seed=0, dtype=np.float64):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(m, n)).astype(dtype)
    if out_activation == "identity":
        Y = rng.normal(size=(m, k))
    elif out_activation == "softmax":
        Y = np.eye(k)[rng.randint(k, size=m)]
    else:  # sigmoid: multilabel 0/1 targets
        Y = rng.randint(2, size=(m, k)).astype(float)
    params = _network.init_params(n, h, k, rng, dtype=dtype)
    return X, Y.astype(dtype), params


def _loss_at(X, Y, params, activation, out_activation, sample_weight, l2):
    _, A2 = _network.forward(X, params, activation, out_activation)
    return _network.loss(Y, A2, out_activation, sample_weight, l2, params)


@pytest.mark.parametrize("out_activation", ["sigmoid", "softmax", "identity"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_backward_matches_central_finite_differences(
    out_activation, activation, weighted, l2
):
    X, Y, params = _problem(out_activation)
    sample_weight = np.random.RandomState(1).uniform(0, 3, X.shape[0]) if weighted else None
    A1, A2 = _network.forward(X, params, activation, out_activation)
    grads = _network.backward(X, Y, A1, A2, params, activation, sample_weight, l2)
    step = 1e-6
    for name, param, grad in zip(Params._fields, params, grads, strict=True):
        numeric = np.empty_like(param)
        for index in np.ndindex(param.shape):
            saved = param[index]
            param[index] = saved + step
            up = _loss_at(X, Y, params, activation, out_activation, sample_weight, l2)
            param[index] = saved - step
            down = _loss_at(X, Y, params, activation, out_activation, sample_weight, l2)
            param[index] = saved
            numeric[index] = (up - down) / (2 * step)
        error = np.linalg.norm(grad - numeric) / max(
            np.linalg.norm(grad) + np.linalg.norm(numeric), 1e-12
        )
        assert error < 1e-6, f"d{name}: relative error {error:.2e}"


def test_tutorial_network_one_step_is_math_md():
    """One full-batch step of the 2-3-1 network, written out independently."""
    rng = np.random.RandomState(42)
    X = rng.normal(size=(4, 2))
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    W1, b1 = rng.normal(size=(2, 3)), rng.normal(size=3)
    W2, b2 = rng.normal(size=(3, 1)), rng.normal(size=1)
    alpha, m = 0.5, 4

    # math.md, line by line, with nothing from the package.
    Z1 = X @ W1 + b1
    A1 = 1 / (1 + np.exp(-Z1))
    Z2 = A1 @ W2 + b2
    A2 = 1 / (1 + np.exp(-Z2))
    dZ2 = (A2 - y) / m
    dW2 = A1.T @ dZ2
    db2 = dZ2.sum(axis=0)
    dA1 = dZ2 @ W2.T
    dZ1 = dA1 * A1 * (1 - A1)
    dW1 = X.T @ dZ1
    db1 = dZ1.sum(axis=0)
    expected = [W1 - alpha * dW1, b1 - alpha * db1, W2 - alpha * dW2, b2 - alpha * db2]
    expected_loss = -np.mean(y * np.log(A2) + (1 - y) * np.log(1 - A2))

    params = Params(W1.copy(), b1.copy(), W2.copy(), b2.copy())
    got_A1, got_A2 = _network.forward(X, params)
    loss = _network.loss(y, got_A2, "sigmoid")
    grads = _network.backward(X, y, got_A1, got_A2, params)
    _network.gradient_step(params, grads, alpha)

    np.testing.assert_allclose(loss, expected_loss, rtol=1e-14)
    for got, want in zip(params, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_sigmoid_does_not_overflow():
    with np.errstate(over="raise"):
        a = _network.sigmoid(np.array([-1e4, 0.0, 1e4]))
    np.testing.assert_array_equal(a, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(_network.sigmoid(np.array([0.3])), expit(0.3))


def test_softmax_rows_sum_to_one_and_do_not_overflow():
    Z = np.array([[1000.0, 999.0, -1000.0], [0.0, 0.0, 0.0]])
    with np.errstate(over="raise"):
        A = _network.softmax(Z)
    np.testing.assert_allclose(A.sum(axis=1), 1.0)
    np.testing.assert_allclose(A[1], 1 / 3)
    np.testing.assert_allclose(np.exp(_network.log_softmax(Z)), A)


@pytest.mark.parametrize("out_activation", ["sigmoid", "softmax"])
def test_loss_is_finite_at_saturated_outputs(out_activation):
    Y = np.array([[1.0, 0.0], [0.0, 1.0]])
    A = np.array([[0.0, 1.0], [1.0, 0.0]])  # confidently wrong, exactly 0 and 1
    value = _network.loss(Y, A, out_activation)
    assert np.isfinite(value) and value > 30


def test_weighted_loss_is_a_weighted_mean():
    Y = np.array([[0.0], [0.0]])
    A = np.array([[1.0], [3.0]])
    # ½(1² · 1 + 3² · 3) / 4
    assert _network.loss(Y, A, "identity", np.array([1.0, 3.0])) == pytest.approx(3.5)


def test_l2_penalises_weights_not_biases():
    X, Y, params = _problem("identity")
    _, A2 = _network.forward(X, params, "sigmoid", "identity")
    base = _network.loss(Y, A2, "identity")
    penalised = _network.loss(Y, A2, "identity", l2=2.0, params=params)
    m = X.shape[0]
    norms = np.sum(params.W1**2) + np.sum(params.W2**2)
    assert penalised - base == pytest.approx(2.0 / (2 * m) * norms)


def test_momentum_zero_is_plain_gradient_descent():
    _, _, params = _problem("identity")
    grads = Params(*(np.full_like(p, 0.5) for p in params))
    plain = _network.gradient_step(Params(*(p.copy() for p in params)), grads, 0.1)
    velocities = Params(*(np.zeros_like(p) for p in params))
    moved = _network.momentum_step(
        Params(*(p.copy() for p in params)), grads, velocities, 0.1, 0.0
    )
    for a, b in zip(plain, moved, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-15)


def test_init_is_glorot_uniform_and_seeded():
    a = _network.init_params(64, 100, 10, np.random.RandomState(3))
    b = _network.init_params(64, 100, 10, np.random.RandomState(3))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert np.abs(a.W1).max() <= np.sqrt(6 / 164)
    assert np.abs(a.W2).max() <= np.sqrt(6 / 110)
    f32 = _network.init_params(64, 100, 10, np.random.RandomState(3), np.float32)
    assert all(p.dtype == np.float32 for p in f32)
    np.testing.assert_array_equal(f32.W1, a.W1.astype(np.float32))


@pytest.mark.parametrize("out_activation", ["sigmoid", "softmax", "identity"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocked_pass_equals_forward_loss_backward(out_activation, activation, weighted, dtype):
    """The fast blocked pass computes math.md's loss and gradients, to rounding."""
    X, Y, params = _problem(out_activation, m=1100, n=6, h=7, k=3, dtype=dtype)
    sample_weight = (
        np.random.RandomState(2).uniform(0, 3, X.shape[0]).astype(dtype) if weighted else None
    )
    A1, A2 = _network.forward(X, params, activation, out_activation)
    expected_loss = _network.loss(Y, A2, out_activation, sample_weight, 0.1, params)
    expected = _network.backward(X, Y, A1, A2, params, activation, sample_weight, 0.1)
    X0, Y0 = X.copy(), Y.copy()
    workspace = _network.Workspace.for_params(256, params)  # 5 blocks, the last partial
    got_loss, got = _network.loss_and_gradients(
        X, Y, params, activation, out_activation, sample_weight, 0.1, workspace=workspace
    )
    rtol = 1e-10 if dtype == np.float64 else 2e-4
    assert got_loss == pytest.approx(expected_loss, rel=rtol)
    for name, a, b in zip(Params._fields, got, expected, strict=True):
        assert a.dtype == dtype, name
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max(), err_msg=name)
    np.testing.assert_array_equal(X, X0)  # inputs untouched
    np.testing.assert_array_equal(Y, Y0)


@pytest.mark.parametrize("out_activation", ["sigmoid", "softmax"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocked_pass_over_some_rows_equals_the_pass_over_their_copy(
    out_activation, activation, weighted, dtype
):
    # rows= reads the rows where they are (early_stopping's training part),
    # block by block: the numbers of the pass over the copies, to the bit.
    X, Y, params = _problem(out_activation, m=1100, n=6, h=7, k=3, dtype=dtype)
    w = np.random.RandomState(2).uniform(0, 3, X.shape[0]).astype(dtype) if weighted else None
    rows = np.random.RandomState(3).permutation(1100)[:700]  # 3 blocks, the last partial
    workspace = _network.Workspace.for_params(256, params)
    copies = (X[rows], Y[rows], None if w is None else w[rows])
    expected_loss, expected = _network.loss_and_gradients(
        *copies[:2], params, activation, out_activation, copies[2], 0.1, workspace=workspace
    )
    expected = [a.copy() for a in expected]
    strided = np.repeat(rows, 2)[::2]  # the same rows, in a non-contiguous array
    cases = [(X, rows), (X, strided)]
    if activation != "sigmoid":  # (σ's compiled pass takes a C-ordered X only)
        cases.append((np.asfortranarray(X), rows))  # gathered from a column-major X
    for data, given in cases:
        got_loss, got = _network.loss_and_gradients(
            data, Y, params, activation, out_activation, w, 0.1, workspace=workspace,
            rows=given,
        )  # fmt: skip
        assert got_loss == expected_loss
        for name, a, b in zip(Params._fields, got, expected, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)


def test_predict_logits_into_equals_output_logits():
    X, _, params = _problem("softmax", m=1300, n=5, h=6, k=3)
    out = np.empty((1300, 3))
    workspace = _network.Workspace.for_params(512, params)
    _network.predict_logits_into(X, params, out, workspace)
    np.testing.assert_allclose(out, _network.output_logits(X, params), rtol=1e-12)
