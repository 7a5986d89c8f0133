"""Speed and memory of skbackprop against MLPClassifier/MLPRegressor and the BLAS floor.

One process measures, side by side and on the same data and the same math
(one hidden layer of sigmoid units, plain SGD without momentum or L2, the
same learning rate, batch size and number of epochs):

* ``BackpropClassifier`` / ``BackpropRegressor`` (skbackprop);
* ``MLPClassifier`` / ``MLPRegressor(activation="logistic", solver="sgd",
  momentum=0, nesterovs_momentum=False, alpha=0, learning_rate_init=α,
  batch_size=b, max_iter=E, tol=0, n_iter_no_change=∞, shuffle=True)``;
* the bare-GEMM floor: ``X @ W1`` plus ``X.T @ G`` (G of shape n × h), the two
  products whose cost no implementation avoids, in the same dtype and
  process. For batch 200 the floor is the same two products taken on
  consecutive 200-row blocks. Each floor is the faster of the default BLAS
  threads and one thread (both are kept in the JSON). For prediction the
  floor is ``X @ W1``.

Both estimators run at their default threading (whatever the BLAS library
chooses; the thread count is recorded). Each cell is a median over
repetitions of a fit of E epochs (time per epoch = fit time / E; E is 2, or
more where n is small: ``epochs_for``), after one
untimed warm-up fit of one epoch, which is also where memory is measured:
the tracemalloc peak of ``fit`` (NumPy reports its buffers to tracemalloc)
above what was allocated before it, relative to the size of X.

Every timed call of a cell takes its turn in each round: skbackprop's fit,
MLP's, and the floor at each thread setting, in float64 and then float32 (and
likewise for prediction), so that a change in machine load (another process
starting) hits all of them alike and the three ratios the targets are about
(MLP over ours, ours over the floor, float64 over float32) compare times taken
in the same rounds. A call stops repeating once its times add up to a cap
(``reps`` in the table says how many fits were taken).

Run from the repository root::

    python benchmarks/bench_speed.py --quick   # n = 5k, 20k; h = 64; ~1.5 min
    python benchmarks/bench_speed.py           # n = 10k, 50k, 200k; h = 64, 256
                                               # (256 up to 50k), d = 100, binary
                                               # classes; and d = 10, 500, and
                                               # 10 classes, at n = 50k, h = 64;
                                               # ~7 min on 2 cores

and, for one part of the grid (the heading then says "custom sizes")::

    python benchmarks/bench_speed.py --n 200000 --hidden 64 --tasks classification
    python benchmarks/bench_speed.py --n 20000 --features 20 1000  # d = 100, 20, 1000
    python benchmarks/bench_speed.py --n 20000 --classes 3 10  # 2, 3 and 10 classes

The machine should be otherwise idle: on 2 cores, any other process makes
multithreaded BLAS (MLP's default) many times slower, and the load average at
the start and end is recorded to show it.

Some machines set ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE``, which slow a
current NumPy; they are recorded in the output. To measure without them, for
this run alone::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_speed.py

Outputs (in ``benchmarks/results/`` unless ``--out DIR``): ``speed.md`` (the
tables, with the machine and the command in the header), ``speed.json`` (raw
numbers: every repetition) and ``speed.png`` (time per epoch against n,
log-log). ``--smoke`` is a seconds-long run on tiny sizes for the test suite.
"""

import argparse
import contextlib
import gc
import hashlib
import json
import os
import platform
import shlex
import statistics
import sys
import time
import tracemalloc
import warnings
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sklearn
import threadpoolctl
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import skbackprop  # noqa: E402
from skbackprop import BackpropClassifier, BackpropRegressor, _kernels  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results"

# Learning rates: the estimators' defaults for each task.
ALPHA = {"classification": 0.3, "regression": 0.01}

# Environment variables that change what the BLAS library does.
ENV_PREFIXES = (
    "OPENBLAS",
    "GOTO",
    "OMP_",
    "MKL",
    "BLIS",
    "NVPL",
    "VECLIB",
    "NUMEXPR",
    "NPY_",
    "KMP_",
)

TRAIN_COLUMNS = [
    "task",
    "n",
    "d",
    "h",
    "dtype",
    "batch",
    "skbackprop s/epoch",
    "MLP s/epoch",
    "MLP / ours",
    "GEMM floor s/epoch",
    "ours / floor",
    "ours peak MB (×X)",
    "MLP peak MB (×X)",
    "reps",
]
PREDICT_COLUMNS = [
    "task",
    "n",
    "d",
    "h",
    "dtype",
    "skbackprop s",
    "MLP s",
    "MLP / ours",
    "X @ W1 s",
    "ours / floor",
    "ours peak MB (×X)",
    "MLP peak MB (×X)",
]
DTYPE_COLUMNS = [
    "task",
    "n",
    "d",
    "h",
    "batch",
    "skbackprop f64 / f32",
    "MLP f64 / f32",
]


@dataclass
class Mode:
    """The sizes of one run."""

    sizes: list  # n for the classification grid
    hidden: dict  # h -> largest n it is run at
    d: int
    batch_size: int
    epochs: int
    reps: int
    max_cell_seconds: float  # stop repeating a cell after this long
    predict_reps: int
    regression_sizes: list
    regression_hidden: list
    dtypes: list = field(default_factory=lambda: ["float64", "float32"])
    # Other feature counts than d, for classification at (features_n, features_h).
    features: list = field(default_factory=list)
    # Class counts above 2, for classification at (features_n, features_h, d).
    classes: list = field(default_factory=list)
    features_n: int = 0
    features_h: int = 0
    # Fits of at least this many rows × epochs (more epochs where n is
    # small), so that a fit's fixed costs weigh little in the time per epoch.
    min_fit_rows: int = 0


MODES = {
    "smoke": Mode(
        sizes=[400, 1600],
        hidden={8: 1600},
        d=10,
        batch_size=200,
        epochs=1,
        reps=1,
        max_cell_seconds=1.0,
        predict_reps=1,
        regression_sizes=[400],
        regression_hidden=[8],
        features=[30],
        classes=[3],
        features_n=400,
        features_h=8,
        min_fit_rows=800,
    ),
    "quick": Mode(
        sizes=[5_000, 20_000],
        hidden={64: 20_000},
        d=100,
        batch_size=200,
        epochs=2,
        reps=5,
        max_cell_seconds=2.0,
        predict_reps=5,
        regression_sizes=[5_000],
        regression_hidden=[64],
        min_fit_rows=20_000,
    ),
    "full": Mode(
        sizes=[10_000, 50_000, 200_000],
        hidden={64: 200_000, 256: 50_000},
        d=100,
        batch_size=200,
        epochs=2,
        # Five: with three, one slow spell of this shared machine was the
        # median of a cell more often.
        reps=5,
        max_cell_seconds=12.0,
        predict_reps=5,
        regression_sizes=[50_000],
        regression_hidden=[64],
        features=[10, 500],
        classes=[10],
        features_n=50_000,
        features_h=64,
        min_fit_rows=100_000,
    ),
}


def epochs_for(mode, n):
    """Epochs per timed fit at n rows: ``mode.epochs``, or more where n is small.

    A fit also checks its input, encodes the labels and sets up (a few
    milliseconds for both estimators): at n = 10,000, where an epoch takes
    6-10 ms, a two-epoch fit added a fifth to a third to the time per epoch.

    >>> epochs_for(MODES["full"], 10_000), epochs_for(MODES["full"], 200_000)
    (10, 2)
    """
    return max(mode.epochs, -(-mode.min_fit_rows // n))


# ---------------------------------------------------------------------------
# The machine.
# ---------------------------------------------------------------------------


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _code_fingerprint():
    """A hash of skbackprop's source, tying the numbers to the code measured."""
    digest = hashlib.sha256()
    package = Path(skbackprop.__file__).resolve().parent
    sources = [*package.glob("*.py"), *package.glob("*.c"), *package.glob("*.h")]
    for path in sorted(sources):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _git_revision():
    head = ROOT / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return (ROOT / ".git" / ref[5:]).read_text().strip()[:12]
        return ref[:12]
    except OSError:
        return None


def machine_facts():
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "threadpoolctl": threadpoolctl.__version__,
        "skbackprop": skbackprop.__version__,
        "skbackprop_kernels": _kernels.backend(),
        "skbackprop_source_sha256": _code_fingerprint(),
        "git_head": _git_revision(),
        "blas": threadpoolctl.threadpool_info(),
        "env": {
            k: v for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIXES)
        },
        "load_average_start": load,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# ---------------------------------------------------------------------------
# Data and estimators.
# ---------------------------------------------------------------------------


def make_data(task, n, d, classes=2, seed=0):
    """Standard-normal X (float64) and a learnable target.

    With ``classes`` > 2, each row's class is the largest of ``classes``
    noisy linear scores.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if task == "classification" and classes > 2:
        W = rng.standard_normal((d, classes)) / np.sqrt(d)
        scores = X @ W + 0.3 * rng.standard_normal((n, classes))
        return X, scores.argmax(axis=1).astype(np.int64)
    w = rng.standard_normal(d) / np.sqrt(d)
    score = np.tanh(X @ w) + 0.3 * rng.standard_normal(n)
    if task == "classification":
        return X, (score > 0).astype(np.int64)
    return X, (score - score.mean()) / score.std()


def make_estimators(task, h, batch_size, epochs, n):
    """(skbackprop, MLP) with the same math: sigmoid, plain SGD, no L2."""
    alpha = ALPHA[task]
    ours_cls = BackpropClassifier if task == "classification" else BackpropRegressor
    mlp_cls = MLPClassifier if task == "classification" else MLPRegressor
    ours = ours_cls(
        h,
        alpha=alpha,
        batch_size=batch_size,
        max_iter=epochs,
        momentum=0.0,
        shuffle=True,
        tol=0.0,
        n_iter_no_change=10**9,
        random_state=0,
    )
    mlp = mlp_cls(
        hidden_layer_sizes=(h,),
        activation="logistic",
        solver="sgd",
        learning_rate="constant",
        learning_rate_init=alpha,
        alpha=0.0,
        momentum=0.0,
        nesterovs_momentum=False,
        batch_size=n if batch_size is None else batch_size,
        max_iter=epochs,
        shuffle=True,
        tol=0.0,
        n_iter_no_change=10**9,
        early_stopping=False,
        random_state=0,
    )
    return ours, mlp


# ---------------------------------------------------------------------------
# Measurements.
# ---------------------------------------------------------------------------


def _median(values):
    return float(statistics.median(values)) if values else float("nan")


def peak_memory(func):
    """The tracemalloc peak of func() above what was traced before it (bytes)."""
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = func()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(peak - before, 0), result


#: Seconds to wait before each timed call (0 in --smoke mode). OpenBLAS's
#: threads keep spinning for a while after a multithreaded product (about
#: 0.1 s); a call timed in that window shares the cores with them. Waiting
#: lets every call, ours, MLP's or the floor's, start without them. The wait
#: is a busy loop, not a sleep: on the 2-core VM this was written on, the
#: first ~40 ms after a 0.2 s sleep ran 20-25 % slower (the idle CPU has to
#: wake up), which would tax short calls most.
SETTLE_SECONDS = 0.2


def _settle(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def repeat_interleaved(funcs, reps, max_seconds, blas_limits=None):
    """Times of each of ``funcs`` (a dict), run in turn, round after round.

    Interleaving makes a change of machine load (another process starting)
    hit every implementation alike, not only the one being timed. Each
    function runs at least once, and at most ``reps`` times or until its own
    times add up to ``max_seconds``. Each call is preceded by
    :data:`SETTLE_SECONDS` of busy waiting. ``blas_limits`` maps some of the
    names to a BLAS thread count that their calls run under (set outside the
    timed call).
    """
    blas_limits = blas_limits or {}
    times = {name: [] for name in funcs}

    def wants_more(name):
        done = times[name]
        return len(done) < reps and (not done or sum(done) < max_seconds)

    while any(wants_more(name) for name in funcs):
        for name, func in funcs.items():
            if not wants_more(name):
                continue
            with _blas_threads(blas_limits.get(name)):
                gc.collect()
                _settle(SETTLE_SECONDS)
                start = time.perf_counter()
                func()
                times[name].append(time.perf_counter() - start)
    return times


def _blas_threads(limit):
    """A context that holds BLAS at ``limit`` threads (None: as it is)."""
    if limit is None:
        return contextlib.nullcontext()
    return threadpoolctl.threadpool_limits(limits=limit, user_api="blas")


#: The floor's thread settings: the faster of the two is the floor.
FLOOR_THREADS = {"default_threads": None, "one_thread": 1}


def floor_epoch(X, h, batch_size):
    """One epoch of the floor: X @ W1 + X.T @ G, as a function of no arguments.

    Full batch (``batch_size`` None): the two products on the whole of X.
    Mini-batch: the same two products on each consecutive block of
    ``batch_size`` rows. Outputs are preallocated: the floor is the
    arithmetic, not the allocation.
    """
    rng = np.random.default_rng(1)
    n, d = X.shape
    W1 = rng.standard_normal((d, h)).astype(X.dtype)
    rows = n if batch_size is None else min(batch_size, n)
    G = rng.standard_normal((n, h)).astype(X.dtype)
    Z = np.empty((rows, h), X.dtype)
    dW = np.empty((d, h), X.dtype)
    starts = range(0, n, rows)

    def epoch():
        for start in starts:
            Xb = X[start : start + rows]
            Gb = G[start : start + rows]
            np.matmul(Xb, W1, out=Z[: Xb.shape[0]])
            np.matmul(Xb.T, Gb, out=dW)

    return epoch


def time_training(by_dtype, y, h, batch_size, epochs, reps, max_seconds):
    """Time the fits of each dtype's estimators and its floor, all interleaved.

    ``by_dtype`` maps a dtype name to ``(X, {name: estimator})``. For each
    estimator: an untimed one-epoch warm-up fit, which is also where memory
    is measured, then timed fits of ``epochs`` epochs. Every timed call (each
    fit, and the floor's epoch at each of :data:`FLOOR_THREADS`, in each
    dtype) takes its turn in each round, so that all three ratios (MLP over
    ours, ours over the floor, float64 over float32) compare times taken
    under the same machine load. Returns ``{dtype: {name: (record, fitted
    model), ..., "floor": record}}``.
    """
    funcs, limits, peaks, fitted = {}, {}, {}, {}
    for dtype, (X, estimators) in by_dtype.items():
        for name, estimator in estimators.items():
            warm = clone(estimator).set_params(max_iter=1)
            peaks[dtype, name], _ = peak_memory(lambda warm=warm, X=X: warm.fit(X, y))

            def fit(key=(dtype, name), estimator=estimator, X=X):
                fitted[key] = clone(estimator).fit(X, y)

            funcs[dtype, name] = fit
        epoch = floor_epoch(X, h, batch_size)
        for label, limit in FLOOR_THREADS.items():
            with _blas_threads(limit):
                epoch()  # warm-up
            funcs[dtype, label] = epoch
            limits[dtype, label] = limit
    times = repeat_interleaved(funcs, reps, max_seconds, limits)
    result = {}
    for dtype, (_, estimators) in by_dtype.items():
        result[dtype] = {}
        for name in estimators:
            model = fitted[dtype, name]
            if model.n_iter_ != epochs:  # the per-epoch time would be wrong
                raise RuntimeError(
                    f"{type(model).__name__} ran {model.n_iter_} epochs, not {epochs}."
                )
            per_epoch = [t / epochs for t in times[dtype, name]]
            record = {
                "fit_seconds": times[dtype, name],
                "epoch_seconds": per_epoch,
                "median_epoch_seconds": _median(per_epoch),
                "n_iter": int(model.n_iter_),
                "trained_dtype": str(model.coefs_[0].dtype),
                "peak_bytes": int(peaks[dtype, name]),
            }
            result[dtype][name] = (record, model)
        floor = {
            label: {
                "seconds": times[dtype, label],
                "median_seconds": _median(times[dtype, label]),
            }
            for label in FLOOR_THREADS
        }
        floor["median_seconds"] = min(floor[label]["median_seconds"] for label in FLOOR_THREADS)
        result[dtype]["floor"] = floor
    return result


def time_predictions(by_dtype, h, reps, max_seconds):
    """Time each dtype's models' predictions and the floor ``X @ W1``, interleaved.

    ``by_dtype`` maps a dtype name to ``(X, {name: fitted model})``. A model
    predicts with ``predict_proba`` (classifiers) or ``predict``
    (regressors). The floor writes into a preallocated n × h array. Returns
    ``{dtype: {name: record, ..., "floor": record}}``.
    """
    funcs, measured = {}, {}
    for dtype, (X, models) in by_dtype.items():
        W1 = np.random.default_rng(2).standard_normal((X.shape[1], h)).astype(X.dtype)
        Z = np.empty((X.shape[0], h), X.dtype)
        np.matmul(X, W1, out=Z)  # warm-up, and touch the pages of Z
        for name, model in models.items():
            method = model.predict_proba if hasattr(model, "predict_proba") else model.predict
            measured[dtype, name] = peak_memory(lambda m=method, X=X: m(X))
            funcs[dtype, name] = lambda m=method, X=X: m(X)
        funcs[dtype, "floor"] = lambda X=X, W1=W1, Z=Z: np.matmul(X, W1, out=Z)
    times = repeat_interleaved(funcs, reps, max_seconds)
    result = {}
    for dtype, (_, models) in by_dtype.items():
        result[dtype] = {}
        for name in models:
            peak, out = measured[dtype, name]
            result[dtype][name] = {
                "seconds": times[dtype, name],
                "median_seconds": _median(times[dtype, name]),
                "output_dtype": str(out.dtype),
                "peak_bytes": int(peak),
            }
        result[dtype]["floor"] = {
            "seconds": times[dtype, "floor"],
            "median_seconds": _median(times[dtype, "floor"]),
        }
    return result


def cases(mode):
    """(task, n, h, d, classes) in the order they are run (classes 0: regression)."""
    for h, n_max in mode.hidden.items():
        for n in mode.sizes:
            if n <= n_max:
                yield "classification", n, h, mode.d, 2
    for h in mode.regression_hidden:
        for n in mode.regression_sizes:
            yield "regression", n, h, mode.d, 0
    for d in mode.features:
        if d != mode.d:
            yield "classification", mode.features_n, mode.features_h, d, 2
    for classes in mode.classes:
        if classes > 2:
            yield "classification", mode.features_n, mode.features_h, mode.d, classes


def task_label(record):
    """The task column: "classification", "classification, 10 classes", "regression"."""
    classes = record.get("classes", 2)
    return record["task"] + (f", {classes} classes" if classes > 2 else "")


def run(mode, log=print):
    """Every measurement of a mode; returns the list of records.

    For each case and batch setting, both dtypes are timed together
    (:func:`time_training`, :func:`time_predictions`); the records come out
    in the order dtype, then batch setting.
    """
    training, prediction = [], []
    for task, n, h, d, classes in cases(mode):
        X64, y = make_data(task, n, d, classes)
        Xs = {dtype: np.ascontiguousarray(X64, dtype=dtype) for dtype in mode.dtypes}
        del X64
        epochs = epochs_for(mode, n)
        case = {"task": task, "classes": classes, "n": n, "d": d, "h": h}
        records = {dtype: [] for dtype in mode.dtypes}
        models_for_predict = {}
        for batch in (mode.batch_size, None):
            ours, mlp = make_estimators(task, h, batch, epochs, n)
            by_dtype = {dtype: (X, {"skbackprop": ours, "mlp": mlp}) for dtype, X in Xs.items()}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                timed = time_training(
                    by_dtype, y, h, batch, epochs, mode.reps, mode.max_cell_seconds
                )
            for dtype, X in Xs.items():
                ours_record, model = timed[dtype]["skbackprop"]
                mlp_record, mlp_model = timed[dtype]["mlp"]
                if classes > 2 and len(model.classes_) != classes:
                    raise RuntimeError(f"{len(model.classes_)} classes, not {classes}")
                record = {
                    **case,
                    "dtype": dtype,
                    "batch": "full" if batch is None else batch,
                    "epochs": epochs,
                    "x_bytes": int(X.nbytes),
                    "skbackprop": ours_record,
                    "mlp": mlp_record,
                    "floor": timed[dtype]["floor"],
                }
                records[dtype].append(record)
                models_for_predict.setdefault(dtype, (X, {"skbackprop": model, "mlp": mlp_model}))
                log(
                    f"{task_label(record)} n={n} d={d} h={h} {dtype} batch={record['batch']}: "
                    f"ours {ours_record['median_epoch_seconds']:.4f} s, "
                    f"MLP {mlp_record['median_epoch_seconds']:.4f} s, "
                    f"floor {record['floor']['median_seconds']:.4f} s per epoch"
                )
        for dtype in mode.dtypes:
            training.extend(records[dtype])
        timed = time_predictions(models_for_predict, h, mode.predict_reps, mode.max_cell_seconds)
        for dtype, X in Xs.items():
            pred = {**case, "dtype": dtype, "x_bytes": int(X.nbytes), **timed[dtype]}
            prediction.append(pred)
            log(
                f"{task_label(pred)} n={n} d={d} h={h} {dtype} predict: "
                f"ours {pred['skbackprop']['median_seconds']:.4f} s, "
                f"MLP {pred['mlp']['median_seconds']:.4f} s, "
                f"X @ W1 {pred['floor']['median_seconds']:.4f} s"
            )
        del Xs, models_for_predict
    return training, prediction


# ---------------------------------------------------------------------------
# Reports.
# ---------------------------------------------------------------------------


def _s(x):
    if x != x:  # nan
        return "–"
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def _ratio(a, b):
    return a / b if b > 0 else float("nan")


def _mem(peak, x_bytes):
    return f"{peak / 2**20:.1f} ({peak / x_bytes:.2f}×)"


def train_rows(training):
    for r in training:
        ours = r["skbackprop"]["median_epoch_seconds"]
        mlp = r["mlp"]["median_epoch_seconds"]
        floor = r["floor"]["median_seconds"]
        yield [
            task_label(r),
            str(r["n"]),
            str(r["d"]),
            str(r["h"]),
            r["dtype"],
            str(r["batch"]),
            _s(ours),
            _s(mlp),
            f"{_ratio(mlp, ours):.2f}",
            _s(floor),
            f"{_ratio(ours, floor):.2f}",
            _mem(r["skbackprop"]["peak_bytes"], r["x_bytes"]),
            _mem(r["mlp"]["peak_bytes"], r["x_bytes"]),
            f"{len(r['skbackprop']['fit_seconds'])}/{len(r['mlp']['fit_seconds'])}",
        ]


def predict_rows(prediction):
    for r in prediction:
        ours = r["skbackprop"]["median_seconds"]
        mlp = r["mlp"]["median_seconds"]
        floor = r["floor"]["median_seconds"]
        yield [
            task_label(r),
            str(r["n"]),
            str(r["d"]),
            str(r["h"]),
            r["dtype"],
            _s(ours),
            _s(mlp),
            f"{_ratio(mlp, ours):.2f}",
            _s(floor),
            f"{_ratio(ours, floor):.2f}",
            _mem(r["skbackprop"]["peak_bytes"], r["x_bytes"]),
            _mem(r["mlp"]["peak_bytes"], r["x_bytes"]),
        ]


def dtype_rows(training):
    by_key = {}
    for r in training:
        key = (task_label(r), r["n"], r["d"], r["h"], str(r["batch"]))
        by_key.setdefault(key, {})[r["dtype"]] = r
    for (task, n, d, h, batch), pair in by_key.items():
        if {"float64", "float32"} <= pair.keys():
            f64, f32 = pair["float64"], pair["float32"]
            yield [
                task,
                str(n),
                str(d),
                str(h),
                batch,
                "{:.2f}".format(
                    _ratio(
                        f64["skbackprop"]["median_epoch_seconds"],
                        f32["skbackprop"]["median_epoch_seconds"],
                    )
                ),
                "{:.2f}".format(
                    _ratio(
                        f64["mlp"]["median_epoch_seconds"],
                        f32["mlp"]["median_epoch_seconds"],
                    )
                ),
            ]


def markdown_table(columns, rows):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _blas_line(info):
    return "; ".join(
        f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, "
        f"{i.get('threading_layer')}, {i.get('num_threads')} threads, "
        f"{Path(i.get('filepath', '')).name})"
        for i in info
    )


def target_summary(training, prediction):
    """The worst case of each measurable target of issue 4."""
    lines = []
    mini = [r for r in training if r["batch"] != "full"]
    full = [r for r in training if r["batch"] == "full"]

    def worst(records, key, name):
        if not records:
            return
        r = min(records, key=key) if name.startswith("min") else max(records, key=key)
        return key(r), r

    if mini:
        value, r = worst(
            mini,
            lambda r: _ratio(
                r["mlp"]["median_epoch_seconds"],
                r["skbackprop"]["median_epoch_seconds"],
            ),
            "min",
        )
        lines.append(
            f"- Target 1 (mini-batch ≥ 5× faster than MLP): smallest MLP / ours "
            f"= {value:.2f} ({task_label(r)}, n={r['n']}, d={r['d']}, h={r['h']}, {r['dtype']})."
        )
    if full:
        value, r = worst(
            full,
            lambda r: _ratio(
                r["skbackprop"]["median_epoch_seconds"], r["floor"]["median_seconds"]
            ),
            "max",
        )
        lines.append(
            f"- Target 2 (full batch ≤ 1× the GEMM floor): largest ours / floor "
            f"= {value:.2f} ({task_label(r)}, n={r['n']}, d={r['d']}, h={r['h']}, {r['dtype']})."
        )
    if training:
        value, r = worst(
            training, lambda r: r["skbackprop"]["peak_bytes"] / r["x_bytes"], "max"
        )
        lines.append(
            f"- Target 3 (fit's peak extra memory a small fraction of X): largest "
            f"= {value:.2f}× X ({task_label(r)}, n={r['n']}, d={r['d']}, h={r['h']}, "
            f"{r['dtype']}, "
            f"batch {r['batch']})."
        )
    ratios = list(dtype_rows(training))
    if ratios:
        row = min(ratios, key=lambda row: float(row[5]))
        lines.append(
            f"- Target 4 (float32 ≥ 1.7× faster than float64): smallest "
            f"= {row[5]} ({row[0]}, n={row[1]}, d={row[2]}, h={row[3]}, batch {row[4]})."
        )
    if prediction:
        value, r = worst(
            prediction,
            lambda r: _ratio(
                r["skbackprop"]["median_seconds"], r["floor"]["median_seconds"]
            ),
            "max",
        )
        lines.append(
            f"- Target 5 (predict ≤ 1.2× X @ W1): largest ours / floor "
            f"= {value:.2f} ({task_label(r)}, n={r['n']}, d={r['d']}, h={r['h']}, {r['dtype']})."
        )
    return "\n".join(lines)


def write_markdown(path, result):
    m = result["machine"]
    mode = result["mode"]
    env = ", ".join(f"`{k}={v}`" for k, v in m["env"].items()) or "none"
    header = f"""# skbackprop speed: training and prediction against MLP and the BLAS floor

Generated by `benchmarks/bench_speed.py` ({result["mode_name"]} mode) on {m["date"]}.

Command: `{result["command"]}`

| machine | |
|---|---|
| CPU | {m["cpu"]} ({m["logical_cpus"]} logical CPUs, {m["usable_cpus"]} usable) |
| platform | {m["platform"]} |
| Python / NumPy / scikit-learn | {m["python"]} / {m["numpy"]} / {m["scikit-learn"]} |
| BLAS (threadpoolctl) | {_blas_line(m["blas"])} |
| BLAS-related environment | {env} |
| load average at start / end | {m["load_average_start"]} / {m.get("load_average_end")} |
| skbackprop | {m["skbackprop"]}, git HEAD {m["git_head"]}, source sha256 {m["skbackprop_source_sha256"]} |
| hidden-layer loops | `{m.get("skbackprop_kernels", "numpy")}` (`skbackprop._kernels.backend()`) |
| total run time | {result["seconds"]:.0f} s |

Same data and math for both (sigmoid hidden layer, plain SGD: no momentum, no L2;
learning rate {ALPHA["classification"]} for classification, {ALPHA["regression"]} for
regression), both at their default BLAS threading. Features d = {mode["d"]}{_features_note(mode)};
{_epochs_note(mode)}, time per epoch = fit time / epochs; medians of up to
{mode["reps"]} repetitions (fewer when a cell takes over {mode["max_cell_seconds"]} s;
`reps` = ours/MLP), after an untimed one-epoch warm-up fit; ours, MLP and the floor,
in both dtypes, are timed in turn, round after round; every timed call starts
after {result.get("settle_seconds", 0)} s of busy waiting, once OpenBLAS's threads have
stopped spinning (see `SETTLE_SECONDS`). GEMM floor: `X @ W1` plus
`X.T @ G` (G n × h) over the epoch, for batch {mode["batch_size"]} on consecutive blocks
of that many rows, the faster of the default threads and one thread. Peak memory: the
tracemalloc peak of the warm-up `fit` above the memory in use before it (NumPy buffers
are traced; BLAS internal buffers are not), and in brackets that peak over the size of X.

"""
    body = [
        "## Training, time per epoch",
        "",
        markdown_table(TRAIN_COLUMNS, train_rows(result["training"])),
        "",
        "## Prediction (`predict_proba` for classifiers, `predict` for regressors)",
        "",
        markdown_table(PREDICT_COLUMNS, predict_rows(result["prediction"])),
        "",
        "## float64 time over float32 time, per epoch",
        "",
        markdown_table(DTYPE_COLUMNS, dtype_rows(result["training"])),
        "",
        "## Against the targets of issue 4 (worst case of this run)",
        "",
        target_summary(result["training"], result["prediction"]),
        "",
    ]
    path.write_text(header + "\n".join(body), encoding="utf-8")


def _epochs_note(mode):
    epochs, fit_rows = mode["epochs"], mode.get("min_fit_rows", 0)
    if not fit_rows:
        return f"{epochs} epoch(s) per fit"
    return (
        f"{epochs} epoch(s) per fit, or more where n is small: ⌈{fit_rows} / n⌉, so that "
        "a fit's fixed costs (input checks, label encoding, setup) weigh little"
    )


def _features_note(mode):
    others = [d for d in mode.get("features", []) if d != mode["d"]]
    classes = [c for c in mode.get("classes", []) if c > 2]
    note = ""
    if others:
        note += (
            f", and d = {', '.join(map(str, others))} for classification at "
            f"n = {mode['features_n']}, h = {mode['features_h']} (the rows with those d)"
        )
    if classes:
        note += (
            f"; classification has 2 classes, and {', '.join(map(str, classes))} "
            f"at n = {mode['features_n']}, h = {mode['features_h']}, d = {mode['d']} "
            "(the rows that say so; the floor is the same two products)"
        )
    return note


def write_plot(path, result):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Time against n at the grid's d and two classes (the other feature and
    # class counts are in the tables).
    training = [
        r
        for r in result["training"]
        if r["d"] == result["mode"]["d"] and r.get("classes", 2) <= 2
    ]
    # One panel per (task, hidden size): classification first.
    panels = sorted({(r["task"], r["h"]) for r in training})
    if not panels:
        return
    fig, axes = plt.subplots(
        1, len(panels), figsize=(6.5 * len(panels), 5), squeeze=False
    )
    colours = {
        ("skbackprop", "float64"): "tab:blue",
        ("skbackprop", "float32"): "tab:cyan",
        ("mlp", "float64"): "tab:red",
        ("mlp", "float32"): "tab:orange",
        ("floor", "float64"): "dimgray",
        ("floor", "float32"): "darkgray",
    }
    names = {"skbackprop": "skbackprop", "mlp": "MLP", "floor": "GEMM floor"}
    for ax, (task, h) in zip(axes[0], panels, strict=True):
        rows = [r for r in training if r["task"] == task and r["h"] == h]
        for impl in ("skbackprop", "mlp", "floor"):
            for dtype in sorted({r["dtype"] for r in rows}):
                for batch in sorted({str(r["batch"]) for r in rows}):
                    line = sorted(
                        (r["n"], _epoch_seconds(r, impl))
                        for r in rows
                        if r["dtype"] == dtype and str(r["batch"]) == batch
                    )
                    if not line:
                        continue
                    ax.plot(
                        [p[0] for p in line],
                        [p[1] for p in line],
                        color=colours[impl, dtype],
                        linestyle="-" if batch == "full" else "--",
                        marker="o" if dtype == "float64" else "s",
                        alpha=0.6 if impl == "floor" else 1.0,
                        label=f"{names[impl]}, {dtype}, batch {batch}",
                    )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows n")
        ax.set_ylabel("seconds per epoch")
        ax.set_title(f"{task}, d={result['mode']['d']}, hidden {h}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{result['machine']['cpu']}, {result['mode_name']} mode", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _epoch_seconds(record, impl):
    if impl == "floor":
        return record["floor"]["median_seconds"]
    return record[impl]["median_epoch_seconds"]


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------


def _override(mode, args):
    """The mode with the sizes given on the command line, if any."""
    mode = replace(mode)
    if args.n:
        mode.sizes = sorted(args.n)
        mode.regression_sizes = sorted(args.n)
        mode.hidden = dict.fromkeys(mode.hidden, max(args.n))
    if args.hidden:
        mode.hidden = dict.fromkeys(args.hidden, max(mode.sizes))
        mode.regression_hidden = list(args.hidden)
    if "regression" not in args.tasks:
        mode.regression_sizes = []
    custom = bool(args.n or args.hidden)
    # Other feature and class counts: those asked for, or none in a custom
    # grid (--n, --hidden), or the mode's.
    if args.features is not None:
        mode.features = sorted(args.features)
    elif custom:
        mode.features = []
    if args.classes is not None:
        mode.classes = sorted(args.classes)
    elif custom:
        mode.classes = []
    if "classification" not in args.tasks:
        mode.hidden, mode.features, mode.classes = {}, [], []
    if (mode.features or mode.classes) and (custom or not mode.features_n):
        # The other counts run at the grid's largest n and h unless the mode
        # names its own (the full grid: n = 50,000, h = 64).
        mode.features_n = max(args.n or [mode.features_n or max(mode.sizes)])
        mode.features_h = max(args.hidden or [mode.features_h or max(mode.hidden or [64])])
    return mode


def build_parser():
    """The command line's parser."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a short run (about 1.5 minutes on 2 cores)")
    size.add_argument(
        "--smoke", action="store_true", help="tiny sizes, seconds (for tests)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--n", type=int, nargs="+", help="rows: replace the mode's sizes"
    )
    parser.add_argument(
        "--hidden", type=int, nargs="+", help="hidden sizes: replace the mode's"
    )
    parser.add_argument(
        "--features",
        type=int,
        nargs="+",
        help="feature counts besides d, for classification (replace the mode's)",
    )
    parser.add_argument(
        "--classes",
        type=int,
        nargs="+",
        help="class counts above 2, for classification (replace the mode's)",
    )
    parser.add_argument(
        "--tasks",
        nargs="+",
        choices=["classification", "regression"],
        default=["classification", "regression"],
    )
    return parser


def _mode_name(args):
    return "smoke" if args.smoke else "quick" if args.quick else "full"


def mode_from_args(args):
    """The mode the parsed command line asks for: a named one, with any sizes given."""
    return _override(MODES[_mode_name(args)], args)


def main(argv=None):
    args = build_parser().parse_args(argv)
    mode_name = _mode_name(args)
    global SETTLE_SECONDS
    SETTLE_SECONDS = 0.0 if args.smoke else 0.2
    mode = mode_from_args(args)
    if mode != MODES[mode_name]:
        mode_name += ", custom sizes"
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))

    argv_used = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["python", "benchmarks/bench_speed.py", *argv_used])
    machine = machine_facts()
    log(f"{mode_name} mode; BLAS: {_blas_line(machine['blas'])}")
    if machine["env"]:
        log(f"BLAS-related environment: {machine['env']}")

    # Move everything imported so far out of the collector's sight: a full
    # collection then takes microseconds instead of ~0.1 s, so the gc.collect()
    # before each measurement is cheap.
    gc.collect()
    gc.freeze()
    start = time.perf_counter()
    try:
        training, prediction = run(mode, log)
    finally:
        gc.unfreeze()
    try:
        machine["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        machine["load_average_end"] = None
    machine["blas_end"] = threadpoolctl.threadpool_info()
    threads = [
        {i["filepath"]: i["num_threads"] for i in info}
        for info in (machine["blas"], machine["blas_end"])
    ]
    if threads[0] != threads[1]:
        log(
            f"warning: the BLAS thread counts changed during the run "
            f"({threads[0]} -> {threads[1]}): something left a limit in place."
        )
    result = {
        "mode_name": mode_name,
        "mode": asdict(mode),
        "command": command,
        "machine": machine,
        "seconds": time.perf_counter() - start,
        "settle_seconds": SETTLE_SECONDS,
        "training": training,
        "prediction": prediction,
    }

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speed.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    write_markdown(args.out / "speed.md", result)
    outputs = [args.out / "speed.md", args.out / "speed.json"]
    if not args.no_plot:
        try:
            write_plot(args.out / "speed.png", result)
            outputs.append(args.out / "speed.png")
        except ImportError:
            log("matplotlib is not installed: no plot.")
    log(f"done in {result['seconds']:.0f} s; wrote " + ", ".join(map(str, outputs)))
    return result


if __name__ == "__main__":
    main()
