"""Nanoseconds per element of the hidden layer's elementwise loops.

Times, on one 512 × 64 block (the size the blocked pass works on, in cache):

* ``C``: skbackprop's compiled ``bias_sigmoid`` and ``sigmoid_backward``;
* ``NumPy (fallback)``: the same two loops as ``_kernels`` runs them without
  the extension;
* ``formula``: ``A += b; 1 / (1 + exp(−A))`` as ``_network.sigmoid`` writes it;
* ``expit``: ``A += b; scipy.special.expit(A)``;
* for scale, the block's product ``X · W1`` (d = 100), per output element.

Each figure is the median over ``--repeats`` rounds, each round timing every
implementation once in turn (the best of 5 timings of 200 calls), one BLAS
thread.

Then end to end: ``BackpropClassifier.fit`` (3 epochs, full batch and batch
200) and ``predict_proba`` on ``--rows`` × 100 random data, h = 64, three
ways, interleaved so that all see the same machine; medians of
``--repeats``:

* ``C passes``: as installed, each pass (and a whole mini-batch epoch) one
  compiled call on SciPy's BLAS;
* ``C loops``: the passes and the step written in NumPy calls, with the C σ
  loops;
* ``NumPy``: no compiled code at all (``SKBACKPROP_COMPILED=0``).
Run from the repository root::

    python benchmarks/bench_kernels.py

Last, full-batch fits with the compiled pass's blocks of the size
``_kernels.compiled_block_rows`` chooses, and of half and twice that size,
interleaved.
"""

import argparse
import statistics
import time
import timeit
import warnings

import numpy as np
from scipy.special import expit
from threadpoolctl import threadpool_limits

from skbackprop import BackpropClassifier, _kernels, _network

ROWS, HIDDEN, FEATURES, CALLS = 512, 64, 100, 200


def _interleaved_ns_per_element(functions, repeats):
    """{name: ns per element}: each repeat times every function once, in turn.

    Interleaving gives every function the same share of a noisy machine;
    each timing is the best of 5 × CALLS calls, and the figure the median
    over the repeats.
    """
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            best = min(timeit.repeat(function, number=CALLS, repeat=5)) / CALLS
            times[name].append(best)
    return {
        name: statistics.median(t) / (ROWS * HIDDEN) * 1e9 for name, t in times.items()
    }


def measure(dtype, repeats):
    """{implementation: (forward ns, backward ns or None)} per element."""
    rng = np.random.RandomState(0)
    A0 = rng.normal(scale=4, size=(ROWS, HIDDEN)).astype(dtype)
    b = rng.normal(size=HIDDEN).astype(dtype)
    A, D = A0.copy(), rng.normal(size=(ROWS, HIDDEN)).astype(dtype)
    colsum = np.zeros(HIDDEN, dtype)
    sigma = expit(A0).astype(dtype)
    scratch = np.empty_like(sigma)

    def reset_then(step):
        # Every in-place pass starts from the same values; the copy's own
        # time ("copy") is subtracted below.
        def run():
            np.copyto(A, A0)
            step()

        return run

    def with_compiled(compiled, function):
        def run():
            with _kernels.use_compiled(compiled):
                function()

        return run

    def formula():
        np.add(A, b, out=A)
        _network.sigmoid(A, out=A)

    def scipy_expit():
        np.add(A, b, out=A)
        expit(A, out=A)

    def backward():
        np.copyto(scratch, sigma)  # the NumPy loop overwrites A
        _kernels.sigmoid_backward(D, scratch, colsum)

    X = rng.normal(size=(ROWS, FEATURES)).astype(dtype)
    W1 = rng.normal(size=(FEATURES, HIDDEN)).astype(dtype)
    functions = {
        "X · W1": lambda: np.dot(X, W1, out=A),
        "copy": reset_then(lambda: None),
        "copy σ": lambda: np.copyto(scratch, sigma),
        "formula": reset_then(formula),
        "expit": reset_then(scipy_expit),
    }
    implementations = [("NumPy (fallback)", False)]
    if _kernels._ckernels is not None:
        implementations.insert(0, ("C", True))
    for name, compiled in implementations:
        functions[name] = with_compiled(
            compiled, reset_then(lambda: _kernels.bias_sigmoid(A, b))
        )
        functions[name + " backward"] = with_compiled(compiled, backward)
    with threadpool_limits(1):
        ns = _interleaved_ns_per_element(functions, repeats)
    rows = {
        name: (ns[name] - ns["copy"], ns[name + " backward"] - ns["copy σ"])
        for name, _ in implementations
    }
    rows["for scale: the block's X · W1, d = 100 (BLAS)"] = (ns["X · W1"], None)
    rows["formula"] = (ns["formula"] - ns["copy"], None)
    rows["expit"] = (ns["expit"] - ns["copy"], None)
    return rows


class _Variant:
    """Run the package as one of the three variants of the module docstring."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self._compiled = _kernels.use_compiled(self.name != "NumPy")
        self._compiled.__enter__()
        self._pass_for = _kernels._compiled_pass_for
        self._step = _kernels.descent_step
        if self.name == "C loops":  # the compiled passes say "cannot": NumPy's run
            _kernels._compiled_pass_for = lambda arrays, sizes: False
            _kernels.descent_step = _numpy_step

    def __exit__(self, *exc):
        _kernels._compiled_pass_for = self._pass_for
        _kernels.descent_step = self._step
        self._compiled.__exit__(*exc)


def _numpy_step(params, grads, velocities, alpha, momentum=0.0, nesterov=False):
    # _kernels.descent_step's NumPy path: the step as _network writes it.
    if momentum:
        return _network.momentum_step(
            params, grads, velocities, alpha, momentum, nesterov
        )
    return _network.gradient_step(params, grads, alpha)


VARIANTS = ("C passes", "C loops", "NumPy")


def end_to_end(rows, dtype, repeats):
    """{task: {variant: seconds}}, medians of interleaved runs."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(rows, 100)).astype(dtype)
    y = (X[:, 0] + rng.normal(size=rows) > 0).astype(int)
    model = BackpropClassifier(hidden_size=64, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: 1 epoch on purpose
        model.fit(X, y)
    tasks = {
        "fit, full batch (3 epochs)": lambda: BackpropClassifier(
            hidden_size=64, batch_size=None, max_iter=3, tol=0, random_state=0
        ).fit(X, y),
        "fit, batch 200 (3 epochs)": lambda: BackpropClassifier(
            hidden_size=64, batch_size=200, max_iter=3, tol=0, random_state=0
        ).fit(X, y),
        "predict_proba": lambda: model.predict_proba(X),
    }
    result = {}
    for task, run in tasks.items():
        times = {variant: [] for variant in VARIANTS}
        for _ in range(repeats):
            for variant in VARIANTS:
                with _Variant(variant), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    start = time.perf_counter()
                    run()
                    times[variant].append(time.perf_counter() - start)
        result[task] = {v: statistics.median(t) for v, t in times.items()}
    return result


def block_sizes(rows, repeats):
    """{(h, dtype): {rows per block: seconds}}, around the compiled pass's blocks.

    Full-batch fits of 3 epochs, interleaved, medians of ``repeats``, with
    blocks of half, once and twice the rows ``_kernels.compiled_block_rows``
    chooses: the evidence for its ``COMPILED_BLOCK_BYTES``.
    """
    rng = np.random.RandomState(0)
    default = _kernels.compiled_block_rows
    result = {}
    for hidden in (16, 64, 256):
        for dtype in (np.float64, np.float32):
            X = rng.normal(size=(rows, 100)).astype(dtype)
            y = (X[:, 0] > 0).astype(int)
            chosen = default(hidden, dtype, _network.MAX_BLOCK_ROWS)
            times = {chosen // 2: [], chosen: [], chosen * 2: []}
            for _ in range(repeats):
                for fixed in times:
                    _kernels.compiled_block_rows = (
                        lambda hidden_size, dtype, limit, fixed=fixed: min(fixed, limit)
                    )
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            start = time.perf_counter()
                            BackpropClassifier(
                                hidden_size=hidden,
                                batch_size=None,
                                max_iter=3,
                                tol=0,
                                random_state=0,
                            ).fit(X, y)
                            times[fixed].append(time.perf_counter() - start)
                    finally:
                        _kernels.compiled_block_rows = default
            result[hidden, np.dtype(dtype).name] = {
                size: statistics.median(t) for size, t in times.items()
            }
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    print(
        f"loops in use: {_kernels.backend()}; block {ROWS} × {HIDDEN}; ns per element"
    )
    print()
    print("| dtype | implementation | σ(A + b) | D ⊙ A ⊙ (1 − A) with column sums |")
    print("|---|---|---|---|")
    for dtype in (np.float64, np.float32):
        for name, (forward, backward) in measure(dtype, args.repeats).items():
            back = "" if backward is None else f"{backward:.2f}"
            print(f"| {np.dtype(dtype).name} | {name} | {forward:.2f} | {back} |")
    if _kernels._ckernels is None:
        return
    print()
    print(f"End to end, {args.rows} × 100, h = 64, seconds (default threads):")
    print()
    print(
        "| dtype | task | C passes | C loops | NumPy "
        "| C loops / C passes | NumPy / C passes |"
    )
    print("|---|---|---|---|---|---|---|")
    for dtype in (np.float64, np.float32):
        for task, t in end_to_end(args.rows, dtype, args.repeats).items():
            passes, loops, numpy = (t[v] for v in VARIANTS)
            print(
                f"| {np.dtype(dtype).name} | {task} | {passes:.3f} | {loops:.3f} "
                f"| {numpy:.3f} | {loops / passes:.2f} | {numpy / passes:.2f} |"
            )
    print()
    print(f"Block rows, full-batch fit of 3 epochs, {args.rows} × 100, seconds:")
    print()
    print("| h | dtype | rows per block | half as many | as chosen | twice as many |")
    print("|---|---|---|---|---|---|")
    for (hidden, dtype), times in block_sizes(args.rows, args.repeats).items():
        half, chosen, double = (times[size] for size in sorted(times))
        size = _kernels.compiled_block_rows(hidden, dtype, _network.MAX_BLOCK_ROWS)
        print(
            f"| {hidden} | {dtype} | {size} | {half:.3f} | {chosen:.3f} "
            f"| {double:.3f} |"
        )


if __name__ == "__main__":
    main()
