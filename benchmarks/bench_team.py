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
last bit. Then two measurements behind the design:

* one batch's gradient pass (``_network.gradient_sums``, compiled) on 200
  rows and on 100, one thread: how close two parts on two threads can come
  to halving a batch;
* 2 and 4 fits at once in threads of one process (as in a threaded grid
  search), each on a budget of 1 and of T threads: what the helpers cost
  when the cores are already taken;
* the two matrix products of one part (``X_p · W1`` and ``X_pᵀ · D``, 100
  rows, d = 100, h = 64) against a 1000 × 1000 × 1000 product, one thread,
  in GFLOP/s, in SciPy's BLAS as the compiled pass: the rate of a part's
  products alone, beside the best this BLAS reaches on the machine.

Run from the repository root::

    python benchmarks/bench_team.py > benchmarks/results/team.md
"""

import argparse
import contextlib
import platform
import statistics
import threading
import time
import warnings

import numpy as np
from scipy.linalg import blas
from threadpoolctl import threadpool_limits

from skbackprop import BackpropClassifier, _kernels, _network, _parallel

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


def pass_rows(dtype, repeats, calls=300):
    """Seconds per compiled gradient pass on 200 rows and on 100 (d = 100, h = 64)."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(BATCH, 100)).astype(dtype)
    Y = (rng.rand(BATCH, 1) > 0.5).astype(dtype)
    params = _network.init_params(100, 64, 1, rng, dtype=dtype)
    sums = _network.zeros_like_params(params)
    workspace = _network.Workspace.for_params(512, params)
    times = {BATCH: [], BATCH // 2: []}
    with threadpool_limits(1):
        for _ in range(repeats):
            for rows in times:
                start = time.perf_counter()
                for _ in range(calls):
                    _network.gradient_sums(X[:rows], Y[:rows], params, sums, workspace)
                times[rows].append((time.perf_counter() - start) / calls)
    return {rows: statistics.median(t) for rows, t in times.items()}


def product_rates(dtype, repeats, calls=300, size=1000):
    """GFLOP/s, one thread: a part's two products, and one size³ product.

    Through SciPy's BLAS (``scipy.linalg.blas``), the library the compiled
    pass calls; the row-major arrays are handed over as their column-major
    transposes, so nothing is copied and the products are the pass's.
    """
    gemm = blas.dgemm if dtype == np.float64 else blas.sgemm
    rng = np.random.RandomState(0)
    rows = BATCH // _kernels.minibatch_parts(BATCH)
    X = rng.normal(size=(rows, 100)).astype(dtype)
    W1 = rng.normal(size=(100, 64)).astype(dtype)
    D = rng.normal(size=(rows, 64)).astype(dtype)
    Z, S = np.empty((rows, 64), dtype), np.empty((100, 64), dtype)
    A = rng.normal(size=(size, size)).astype(dtype)
    C = np.empty_like(A)

    def part_products():
        gemm(1.0, W1.T, X.T, c=Z.T, overwrite_c=True)  # Z = X W1
        gemm(1.0, D.T, X.T, trans_b=True, c=S.T, overwrite_c=True)  # S = Xᵀ D

    part, large = [], []
    with threadpool_limits(1):
        gemm(1.0, A.T, A.T, c=C.T, overwrite_c=True)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                part_products()
            part.append((time.perf_counter() - start) / calls)
            start = time.perf_counter()
            gemm(1.0, A.T, A.T, c=C.T, overwrite_c=True)
            large.append(time.perf_counter() - start)
    part_flops = 2 * 2 * rows * 100 * 64
    return part_flops / statistics.median(part) / 1e9, 2 * size**3 / statistics.median(large) / 1e9


def concurrent_fits(rows, repeats, counts=(2, 4)):
    """{(fits, budget): seconds for all of them}, fits at once in threads."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(rows, 100))
    y = (X[:, 0] > 0).astype(int)

    def fit():
        BackpropClassifier(
            hidden_size=64, batch_size=BATCH, max_iter=EPOCHS, tol=0, random_state=0
        ).fit(X, y)

    times = {}
    # Filtered here, in the main thread: catch_warnings in each thread would race.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeats):
            _time_concurrent(fit, counts, times)
    return {key: statistics.median(t) for key, t in times.items()}


def _time_concurrent(fit, counts, times):
    """One round: each count of fits at once, on a budget of 1 and of T threads."""
    for count in counts:
        for budget in (1, "T"):
            threads = [threading.Thread(target=fit) for _ in range(count)]
            limit = threadpool_limits(1) if budget == 1 else contextlib.nullcontext()
            with limit:
                start = time.perf_counter()
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                times.setdefault((count, budget), []).append(time.perf_counter() - start)


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
    print()
    print("## One batch's compiled gradient pass, one thread, d = 100, h = 64")
    print()
    print(f"Medians of {args.repeats} rounds of 300 calls, microseconds per call.")
    print()
    print(f"| dtype | {BATCH} rows | {BATCH // 2} rows | {BATCH // 2} / {BATCH} |")
    print("|---|---|---|---|")
    for dtype in (np.float64, np.float32):
        t = pass_rows(dtype, args.repeats)
        full, half = t[BATCH], t[BATCH // 2]
        print(
            f"| {np.dtype(dtype).name} | {full * 1e6:.1f} | {half * 1e6:.1f} "
            f"| {half / full:.2f} |"
        )
    print()
    print("## Fits at once in threads of one process")
    print()
    rows = max(args.rows // 2, 1000)
    print(
        f"{rows} × 100 rows, h = 64, batch {BATCH}, {EPOCHS} epochs, float64; seconds "
        f"for all the fits, medians of {args.repeats} rounds."
    )
    print()
    print("| fits | budget 1 | budget T | T / 1 |")
    print("|---|---|---|---|")
    t = concurrent_fits(rows, args.repeats)
    for count in (2, 4):
        one, team = t[count, 1], t[count, "T"]
        print(f"| {count} | {one:.3f} | {team:.3f} | {team / one:.2f} |")
    print()
    print("## A part's two products against a large product, one thread")
    print()
    print(
        f"GFLOP/s in SciPy's BLAS, which the compiled pass calls (`scipy.linalg.blas`, "
        f"into preallocated arrays, the call's own cost included): the part's "
        f"`X_p · W1` and `X_pᵀ · D` ({BATCH // _kernels.minibatch_parts(BATCH)} rows, "
        f"d = 100, h = 64; 300 calls on the same arrays, so from cache) and a "
        f"1000 × 1000 × 1000 product; medians of {args.repeats} interleaved rounds."
    )
    print()
    print("| dtype | part's products | 1000³ product | part / 1000³ |")
    print("|---|---|---|---|")
    for dtype in (np.float64, np.float32):
        part, large = product_rates(dtype, args.repeats)
        print(f"| {np.dtype(dtype).name} | {part:.1f} | {large:.1f} | {part / large:.2f} |")


if __name__ == "__main__":
    main()
