"""Time per epoch of full-batch training on dask, with 1 and 2 workers.

One classification problem (X uniform in [-1, 1], y from two of its columns)
is trained by full-batch gradient descent (``batch_size=None``) in five ways:

* in memory, on NumPy arrays, with 1 and with 2 threads (the package's own
  blocked pass, no dask);
* on a ``distributed.LocalCluster`` of 1 and of 2 worker processes (one
  thread each), X generated block by block every epoch from a fixed seed
  (``da.random``, never persisted: the out-of-memory case);
* on the same clusters, X persisted in the workers' memory first
  (``X.persist()``: the case where the data fits in the cluster's memory).

The time per epoch is ``(T(1 + E epochs) − T(1 epoch)) / E``: the difference
of two fits cancels what a fit does once (checks, the pass over y for the
labels, the starting loss). Each configuration is measured ``--repeat`` times
and the median is kept.

Run from the repository root on an otherwise idle machine::

    python benchmarks/bench_dask.py            # 1M × 32, h = 64, 3 epochs; ~4 min
    python benchmarks/bench_dask.py --quick    # 200k × 32; < 1 min

It prints a Markdown table (with the machine, the versions, the command and
the load average before and after) and with ``--out FILE`` also writes it
there. ``docs/scaling.md`` quotes its output.
"""

import argparse
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits


def _problem(n_samples, n_features, chunk_rows):
    import dask.array as da

    X = da.random.default_rng(0).uniform(
        -1, 1, (n_samples, n_features), chunks=(chunk_rows, -1)
    )
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    return X, y


def _estimator(hidden, epochs):
    from skbackprop import BackpropClassifier

    return BackpropClassifier(
        hidden_size=hidden,
        activation="tanh",
        alpha=1.0,
        batch_size=None,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=10**6,
        random_state=0,
    )


def _epoch_seconds(fit, hidden, epochs, repeat):
    """Median over ``repeat`` of (T(1 + epochs) − T(1)) / epochs."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fit(_estimator(hidden, 1))
        one = time.perf_counter() - start
        start = time.perf_counter()
        fit(_estimator(hidden, 1 + epochs))
        more = time.perf_counter() - start
        samples.append(max(more - one, 0.0) / epochs)
    return statistics.median(samples)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200k samples")
    parser.add_argument("--out", help="also write the Markdown table here")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_samples = 200_000

    import dask
    import distributed
    from distributed import Client, LocalCluster

    import skbackprop

    warnings.simplefilter("ignore", ConvergenceWarning)
    load_before = os.getloadavg()
    X, y = _problem(args.n_samples, args.features, args.chunk_rows)
    X_local, y_local = dask.compute(X, y, scheduler="sync")
    rows = []

    for threads in (1, 2):

        def fit_local(est, threads=threads):
            with threadpool_limits(threads, user_api="blas"):
                est.fit(X_local, y_local)

        seconds = _epoch_seconds(fit_local, args.hidden, args.epochs, args.repeat)
        rows.append(("in memory (NumPy)", f"{threads} thread(s)", seconds))

    for workers in (1, 2):
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            client.wait_for_workers(workers, timeout=60)
            seconds = _epoch_seconds(
                lambda est: est.fit(X, y), args.hidden, args.epochs, args.repeat
            )
            rows.append(
                ("dask, X generated every epoch", f"{workers} worker(s)", seconds)
            )
            X_kept, y_kept = dask.persist(X, y)
            distributed.wait([X_kept, y_kept])
            seconds = _epoch_seconds(
                lambda est, X_kept=X_kept, y_kept=y_kept: est.fit(X_kept, y_kept),
                args.hidden,
                args.epochs,
                args.repeat,
            )
            rows.append(
                ("dask, X persisted in workers", f"{workers} worker(s)", seconds)
            )
            del X_kept, y_kept

    load_after = os.getloadavg()
    command = (
        "python benchmarks/bench_dask.py"
        + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    )
    reference = {}
    for mode, _, seconds in rows:
        reference.setdefault(mode, seconds)
    lines = [
        f"Command: `{command}`",
        "",
        f"X: {args.n_samples:,} × {args.features} float64 "
        f"({X.nbytes / 1e6:,.0f} MB) in blocks of {args.chunk_rows:,} rows; "
        f"hidden_size={args.hidden}, tanh; time per full-batch epoch, median of "
        f"{args.repeat}.",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, NumPy {np.__version__}, dask "
        f"{dask.__version__}, distributed {distributed.__version__}, skbackprop "
        f"{skbackprop.__version__}. Load average (1 min) before / after: "
        f"{load_before[0]:.2f} / {load_after[0]:.2f}.",
        "",
        "| data | parallelism | s / epoch | speed-up vs first row of its kind |",
        "| --- | --- | ---: | ---: |",
    ]
    for mode, parallelism, seconds in rows:
        lines.append(
            f"| {mode} | {parallelism} | {seconds:.3f} | "
            f"{reference[mode] / seconds:.2f}× |"
        )
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(table + "\n")
    return rows


if __name__ == "__main__":
    main()
