"""``early_stopping`` without a copy of X: time and memory against the copy.

With ``early_stopping=True``, ``fit`` holds out a ``validation_fraction`` of
the rows and trains on the others. It copies only the held-out rows and reads
the training rows of X where they are, gathering them block by block (each
mini-batch, or each block of a full-batch pass). This compares, in one
process and on the same data, two ways to the same model:

* ``in place``: ``fit(X, y)`` with ``early_stopping=True``, as installed;
* ``copies``: what ``fit`` did before, kept here for the comparison: the same
  split's training and validation rows copied (``X[train]``, ``X[val]``), then
  ``fit(X[train], y[train], X_val=X[val], y_val=y[val])``. The copies are made
  inside the timed call.

Times are medians of ``--repeats`` interleaved rounds (each way first in
every other round), each call after 0.2 s of busy waiting as in
``bench_speed.py``. Memory is the tracemalloc peak of one call of each, over
the size of X (NumPy reports its buffers to tracemalloc). Both ways must give
the same model to the last bit; the last column says whether they did.

Run from the repository root::

    python benchmarks/bench_early_stopping.py > benchmarks/results/early_stopping.md
"""

import argparse
import platform
import statistics
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.model_selection import train_test_split

from skbackprop import BackpropClassifier, _kernels, _parallel

SETTLE_SECONDS = 0.2


def _settle(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _split(estimator, y):
    """The rows ``fit`` holds out with early_stopping: the same split."""
    seed = np.random.RandomState(estimator.random_state).randint(np.iinfo(np.int32).max)
    return train_test_split(
        np.arange(len(y)),
        test_size=estimator.validation_fraction,
        random_state=seed,
        stratify=y,
    )


def _fits(estimator, X, y):
    """{way: a function fitting a fresh clone of ``estimator`` that way}."""
    train, val = _split(estimator, y)

    def in_place():
        return estimator.fit(X, y)

    def copies():
        return estimator.fit(X[train], y[train], X_val=X[val], y_val=y[val])

    return {"in place": in_place, "copies": copies}


def _peak(function):
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measure(rows, hidden, batch_size, epochs, repeats, settle=SETTLE_SECONDS):
    """{way: (median seconds, peak bytes)}, X's size, and whether the models were equal."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(rows, 100))
    y = (X[:, 0] + 0.5 * rng.normal(size=rows) > 0).astype(int)
    estimator = BackpropClassifier(
        hidden_size=hidden,
        batch_size=batch_size,
        max_iter=epochs,
        early_stopping=True,
        n_iter_no_change=epochs + 1,  # every epoch runs
        tol=0,
        random_state=0,
    )
    fits = _fits(estimator, X, y)
    times = {way: [] for way in fits}
    same = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peaks = {way: _peak(fit) for way, fit in fits.items()}
        for round_ in range(repeats):
            models = {}
            for way, fit in list(fits.items())[:: 1 if round_ % 2 == 0 else -1]:
                _settle(settle)
                start = time.perf_counter()
                model = fit()
                times[way].append(time.perf_counter() - start)
                models[way] = [a.copy() for a in (*model.coefs_, *model.intercepts_)]
            same = same and all(
                np.array_equal(a, b) for a, b in zip(*models.values(), strict=True)
            )
    result = {way: (statistics.median(times[way]), peaks[way]) for way in fits}
    return result, X.nbytes, same


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS)
    args = parser.parse_args(argv)
    print("# early_stopping: training rows read in place against copies of both parts")
    print()
    print(
        f"`python benchmarks/bench_early_stopping.py`: "
        f"{platform.processor() or platform.machine()}, {_parallel._CPU_COUNT} logical "
        f"CPUs, thread budget {_parallel.thread_budget()}, loops `{_kernels.backend()}`. "
        f"`BackpropClassifier(early_stopping=True)`, d = 100, float64, validation_fraction "
        f"0.1, {args.epochs} epochs per fit; seconds per fit (the copies made inside it), "
        f"medians of {args.repeats} interleaved rounds, each call after {args.settle} s "
        "of busy waiting; peak memory of one fit (tracemalloc) over the size of X."
    )
    print()
    print(
        "| n | h | batch | fit s, in place | fit s, copies | copies / in place "
        "| peak × X, in place | peak × X, copies | same model |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for rows in args.rows:
        for hidden in (64, 256):
            for batch_size in (200, None):
                result, x_bytes, same = measure(
                    rows, hidden, batch_size, args.epochs, args.repeats, args.settle
                )
                (t_new, peak_new), (t_old, peak_old) = result["in place"], result["copies"]
                print(
                    f"| {rows} | {hidden} | {batch_size or 'full'} | {t_new:.3f} "
                    f"| {t_old:.3f} | {t_old / t_new:.2f} | {peak_new / x_bytes:.2f} "
                    f"| {peak_old / x_bytes:.2f} | {'yes' if same else 'NO'} |"
                )


if __name__ == "__main__":
    main()
