"""fit and predict_proba on the same X in row order, column order and as a DataFrame.

Training and prediction read X by rows. A C-ordered float array is used as
it is; a Fortran-ordered array (``np.asfortranarray``) or a pandas
DataFrame (whose values are column-major) is copied into row order, once per
``fit`` and one chunk at a time in prediction. This times the three layouts
of the same numbers side by side, interleaved (each call after 0.2 s of busy
waiting, as in ``bench_speed.py``; medians of ``--repeats``), and checks
that they give the same model and the same probabilities, to the last bit.

Run from the repository root::

    python benchmarks/bench_layout.py > benchmarks/results/layout.md
"""

import argparse
import platform
import statistics
import time
import warnings

import numpy as np

from skbackprop import BackpropClassifier, _kernels, _parallel

SETTLE_SECONDS = 0.2
EPOCHS = 3


def _settle(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def layouts(X):
    """{name: the same numbers as X, in that layout}."""
    import pandas as pd

    return {
        "C-ordered": X,
        "Fortran-ordered": np.asfortranarray(X),
        "DataFrame": pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])]),
    }


def measure(rows, batch_size, repeats, settle=SETTLE_SECONDS):
    """{layout: (median fit s, median predict_proba s, same bits as C-ordered)}."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(rows, 100))
    y = (X[:, 0] + 0.5 * rng.normal(size=rows) > 0).astype(int)
    estimator = BackpropClassifier(
        hidden_size=64, batch_size=batch_size, max_iter=EPOCHS, random_state=0
    )
    data = layouts(X)
    fit_times = {name: [] for name in data}
    predict_times = {name: [] for name in data}
    same = {name: True for name in data}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for round_ in range(repeats):
            results = {}
            names = list(data)
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                _settle(settle)
                start = time.perf_counter()
                model = estimator.fit(data[name], y)
                fit_times[name].append(time.perf_counter() - start)
                _settle(settle)
                start = time.perf_counter()
                proba = model.predict_proba(data[name])
                predict_times[name].append(time.perf_counter() - start)
                results[name] = [*model.coefs_, *model.intercepts_, proba]
            for name, result in results.items():
                same[name] = same[name] and all(
                    np.array_equal(a, b)
                    for a, b in zip(results["C-ordered"], result, strict=True)
                )
    return {
        name: (
            statistics.median(fit_times[name]),
            statistics.median(predict_times[name]),
            same[name],
        )
        for name in data
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS)
    args = parser.parse_args(argv)
    print("# fit and predict_proba: X in row order, in column order, as a DataFrame")
    print()
    print(
        f"`python benchmarks/bench_layout.py`: {platform.processor() or platform.machine()}, "
        f"{_parallel._CPU_COUNT} logical CPUs, thread budget {_parallel.thread_budget()}, "
        f"loops `{_kernels.backend()}`. `BackpropClassifier(hidden_size=64)`, "
        f"{args.rows} × 100 float64, {EPOCHS} epochs per fit; `predict_proba` on the "
        f"training rows; medians of {args.repeats} interleaved rounds, each call after "
        f"{args.settle} s of busy waiting."
    )
    print()
    print(
        "| batch | X | fit s | fit / C-ordered | predict_proba s | predict / C-ordered "
        "| same bits as C-ordered |"
    )
    print("|---|---|---|---|---|---|---|")
    for batch_size in (200, None):
        medians = measure(args.rows, batch_size, args.repeats, args.settle)
        fit_c, predict_c, _ = medians["C-ordered"]
        for name, (fit, predict, same) in medians.items():
            agrees = "(itself)" if name == "C-ordered" else "yes" if same else "NO"
            print(
                f"| {batch_size or 'full'} | {name} | {fit:.3f} | {fit / fit_c:.2f} "
                f"| {predict:.4f} | {predict / predict_c:.2f} | {agrees} |"
            )


if __name__ == "__main__":
    main()
