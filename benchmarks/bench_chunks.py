"""Full-batch epochs and predictions: who computes the chunks of rows.

A full-batch gradient pass and a prediction of more than a few thousand rows
are cut into chunks of rows that threads compute side by side
(``_parallel._imap_in_order``). This times them two ways, interleaved so that
both see the same machine, medians of ``--repeats``:

* ``caller works``: as installed: the calling thread computes chunks too, and
  helpers from the pool take the next unclaimed chunk when they start;
* ``pool only``: the scheduler before it, kept here for the comparison: every
  chunk is a task for the pool (``ThreadPoolExecutor.map``) and the calling
  thread waits for their results.

Every timed call starts after 0.2 s of busy waiting, as in
``bench_speed.py``: the pool's threads have gone to sleep by then, as they
have between the calls of a user's program, and waking a sleeping thread on
another core takes time. It also checks that both give the same model and
the same probabilities to the last bit (the chunks' sums are added in chunk
order, whoever computed them).

Run from the repository root::

    python benchmarks/bench_chunks.py > benchmarks/results/chunks.md
"""

import argparse
import platform
import statistics
import time
import warnings

import numpy as np

from skbackprop import BackpropClassifier, _kernels, _parallel

SETTLE_SECONDS = 0.2
EPOCHS = 2


def _pool_only_imap(function, items, n_threads):
    """The scheduler before ``_parallel._SharedItems``: chunks are pool tasks."""
    items = list(items)
    if n_threads <= 1 or len(items) <= 1:
        yield from map(function, items)
        return
    executor = _parallel._get_executor()
    if n_threads >= executor._max_workers:  # as ThreadPoolExecutor.map did
        futures = [executor.submit(function, item) for item in items]
        yield from (future.result() for future in futures)
        return
    for start in range(0, len(items), n_threads):
        futures = [
            executor.submit(function, item) for item in items[start : start + n_threads]
        ]
        for future in futures:
            yield future.result()


SCHEDULERS = {"caller works": _parallel._imap_in_order, "pool only": _pool_only_imap}


def _settle(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def measure(rows, hidden, dtype, repeats, settle=SETTLE_SECONDS):
    """{(scheduler, task): median seconds}, and whether the results were equal."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(rows, 100)).astype(dtype)
    y = (X[:, 0] + 0.5 * rng.normal(size=rows) > 0).astype(int)
    estimator = BackpropClassifier(
        hidden_size=hidden, batch_size=None, max_iter=EPOCHS, tol=0, random_state=0
    )
    times = {(name, task): [] for name in SCHEDULERS for task in ("fit", "predict")}
    same = True
    installed = _parallel._imap_in_order
    try:
        for round_ in range(repeats):
            outputs = {}
            # Each scheduler goes first in every other round.
            order = list(SCHEDULERS.items())[:: 1 if round_ % 2 == 0 else -1]
            for name, scheduler in order:
                _parallel._imap_in_order = scheduler
                _settle(settle)
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = estimator.fit(X, y)
                times[name, "fit"].append((time.perf_counter() - start) / EPOCHS)
                _settle(settle)
                start = time.perf_counter()
                proba = model.predict_proba(X)
                times[name, "predict"].append(time.perf_counter() - start)
                outputs[name] = [*model.coefs_, *model.intercepts_, proba]
            same = same and all(
                np.array_equal(a, b, equal_nan=True)
                for a, b in zip(*outputs.values(), strict=True)
            )
    finally:
        _parallel._imap_in_order = installed
    return {key: statistics.median(t) for key, t in times.items()}, same


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS)
    args = parser.parse_args(argv)
    print("# Full-batch epochs and predictions: who computes the chunks")
    print()
    print(
        f"`python benchmarks/bench_chunks.py`: {platform.processor() or platform.machine()}, "
        f"{_parallel._CPU_COUNT} logical CPUs, thread budget {_parallel.thread_budget()}, "
        f"loops `{_kernels.backend()}`. `BackpropClassifier`, d = 100, full batch, "
        f"{EPOCHS} epochs per fit (seconds per epoch) and `predict_proba` on the "
        f"training rows (seconds per call); each call after {args.settle} s of busy "
        f"waiting; medians of {args.repeats} interleaved rounds, each scheduler first in "
        "every other round."
    )
    print()
    print(
        "| n | h | dtype | epoch, caller works | epoch, pool only | pool only / caller "
        "| predict, caller works | predict, pool only | pool only / caller "
        "| same results |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for rows in args.rows:
        for hidden in (64, 256):
            for dtype in (np.float64, np.float32):
                t, same = measure(rows, hidden, dtype, args.repeats, args.settle)
                fit_new, fit_old = t["caller works", "fit"], t["pool only", "fit"]
                new, old = t["caller works", "predict"], t["pool only", "predict"]
                print(
                    f"| {rows} | {hidden} | {np.dtype(dtype).name} | {fit_new:.4f} "
                    f"| {fit_old:.4f} | {fit_old / fit_new:.2f} | {new:.4f} | {old:.4f} "
                    f"| {old / new:.2f} | {'yes' if same else 'NO'} |"
                )


if __name__ == "__main__":
    main()
