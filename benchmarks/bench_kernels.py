"""Nanoseconds per element of the hidden layer's elementwise loops.

Times, on one 512 × 64 block (the size the blocked pass works on, in cache):

* ``C``: skbackprop's compiled ``bias_sigmoid`` and ``sigmoid_backward``;
* ``NumPy (fallback)``: the same two loops as ``_kernels`` runs them without
  the extension;
* ``formula``: ``A += b; 1 / (1 + exp(−A))`` as ``_network.sigmoid`` writes it;
* ``expit``: ``A += b; scipy.special.expit(A)``.

Each figure is the median over ``--repeats`` runs of the best of 5 timings of
200 calls (``timeit``), one BLAS thread. Run from the repository root::

    python benchmarks/bench_kernels.py
"""

import argparse
import statistics
import timeit

import numpy as np
from scipy.special import expit
from threadpoolctl import threadpool_limits

from skbackprop import _kernels, _network

ROWS, HIDDEN, CALLS = 512, 64, 200


def _ns_per_element(function, repeats):
    times = [
        min(timeit.repeat(function, number=CALLS, repeat=5)) / CALLS
        for _ in range(repeats)
    ]
    return statistics.median(times) / (ROWS * HIDDEN) * 1e9


def measure(dtype, repeats):
    rng = np.random.RandomState(0)
    A0 = rng.normal(scale=4, size=(ROWS, HIDDEN)).astype(dtype)
    b = rng.normal(size=HIDDEN).astype(dtype)
    A, D = A0.copy(), rng.normal(size=(ROWS, HIDDEN)).astype(dtype)
    colsum = np.zeros(HIDDEN, dtype)
    sigma = expit(A0).astype(dtype)

    def reset_then(step):
        def run():
            np.copyto(A, A0)
            step()

        return run

    def formula():
        np.add(A, b, out=A)
        _network.sigmoid(A, out=A)

    def scipy_expit():
        np.add(A, b, out=A)
        expit(A, out=A)

    rows = {}
    with threadpool_limits(1):
        copy_only = _ns_per_element(reset_then(lambda: None), repeats)
        for name, compiled in (("C", True), ("NumPy (fallback)", False)):
            if compiled and _kernels._ckernels is None:
                continue
            with _kernels.use_compiled(compiled):
                forward = _ns_per_element(
                    reset_then(lambda: _kernels.bias_sigmoid(A, b)), repeats
                )
                backward = _ns_per_element(
                    lambda: _kernels.sigmoid_backward(D, sigma.copy(), colsum),
                    repeats,
                ) - _ns_per_element(lambda: sigma.copy(), repeats)
            rows[name] = (forward - copy_only, backward)
        rows["formula"] = (_ns_per_element(reset_then(formula), repeats) - copy_only, None)
        rows["expit"] = (
            _ns_per_element(reset_then(scipy_expit), repeats) - copy_only,
            None,
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"loops in use: {_kernels.backend()}; block {ROWS} × {HIDDEN}; ns per element")
    print()
    print("| dtype | implementation | σ(A + b) | D ⊙ A ⊙ (1 − A) with column sums |")
    print("|---|---|---|---|")
    for dtype in (np.float64, np.float32):
        for name, (forward, backward) in measure(dtype, args.repeats).items():
            back = "" if backward is None else f"{backward:.2f}"
            print(f"| {np.dtype(dtype).name} | {name} | {forward:.2f} | {back} |")


if __name__ == "__main__":
    main()
