"""Mini-batch epochs on one thread and on a team of threads.

The compiled mini-batch epoch cuts each batch into parts
(``_kernels.minibatch_parts``: 2 parts of 100 rows for a batch of 200) whose
gradient sums are added in part order, so that helper threads can share a
batch without changing a bit of the model. This times
``BackpropClassifier.fit`` (batch 200, 3 epochs, d = 100) three ways,
interleaved so that all see the same machine, medians of ``--repeats``:

* ``one part, 1 thread``: every batch as one part, one thread: the epoch as
  it was before the parts;
* ``parts, 1 thread``: as installed, on one thread (``threadpool_limits(1)``,
  as in a ``GridSearchCV(n_jobs=...)`` worker): what the parts cost alone;
* ``parts, T threads``: as installed, on the default thread budget (BLAS's
  thread count, here T).

It also checks that the models fitted on 1 and T threads are equal to the
last bit. Run from the repository root::

    python benchmarks/bench_team.py > benchmarks/results/team.md
"""

import argparse
import platform
import statistics
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from skbackprop import BackpropClassifier, _kernels, _parallel

EPOCHS = 3
BATCH = 200


def _fit(X, y, hidden):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        model = BackpropClassifier(
            hidden_size=hidden, batch_size=BATCH, max_iter=EPOCHS, tol=0, random_state=0
        ).fit(X, y)
    return (time.perf_counter() - start) / EPOCHS, model


def measure(rows, hidden, dtype, repeats):
    """Seconds per epoch for each variant, and whether the models were equal."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(rows, 100)).astype(dtype)
    y = (X[:, 0] + 0.5 * rng.normal(size=rows) > 0).astype(int)
    times = {"one part, 1 thread": [], "parts, 1 thread": [], "parts, T threads": []}
    models = {}
    default_rows = _kernels.MINIBATCH_PART_ROWS
    for _ in range(repeats):
        _kernels.MINIBATCH_PART_ROWS = rows + 1  # one part per batch
        try:
            with threadpool_limits(1):
                seconds, _ = _fit(X, y, hidden)
        finally:
            _kernels.MINIBATCH_PART_ROWS = default_rows
        times["one part, 1 thread"].append(seconds)
        with threadpool_limits(1):
            seconds, models[1] = _fit(X, y, hidden)
        times["parts, 1 thread"].append(seconds)
        seconds, models["T"] = _fit(X, y, hidden)
        times["parts, T threads"].append(seconds)
    same = all(
        np.array_equal(a, b)
        for a, b in zip(
            models[1].coefs_ + models[1].intercepts_,
            models["T"].coefs_ + models["T"].intercepts_,
            strict=True,
        )
    )
    return {name: statistics.median(t) for name, t in times.items()}, same


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    threads = _parallel.thread_budget()
    print("# Mini-batch epochs on one thread and on a team of threads")
    print()
    print(
        f"`python benchmarks/bench_team.py`: {platform.processor() or platform.machine()}, "
        f"{_parallel._CPU_COUNT} logical CPUs, thread budget T = {threads}, loops "
        f"`{_kernels.backend()}`. `BackpropClassifier.fit`, {args.rows} × 100 rows, "
        f"batch {BATCH} ({_kernels.minibatch_parts(BATCH)} parts), {EPOCHS} epochs; "
        f"seconds per epoch, medians of {args.repeats} interleaved rounds."
    )
    print()
    print(
        "| dtype | h | one part, 1 thread | parts, 1 thread | parts, T threads "
        "| parts / one part, 1 thread | speed-up on T threads | same model on 1 and T |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for hidden in (64, 256):
        for dtype in (np.float64, np.float32):
            t, same = measure(args.rows, hidden, dtype, args.repeats)
            one, parts, team = t.values()
            print(
                f"| {np.dtype(dtype).name} | {hidden} | {one:.4f} | {parts:.4f} "
                f"| {team:.4f} | {parts / one:.3f} | {one / team:.2f} "
                f"| {'yes' if same else 'NO'} |"
            )


if __name__ == "__main__":
    main()
