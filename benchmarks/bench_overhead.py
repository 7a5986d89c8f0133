"""Fixed costs of a call: what small fits and predictions pay besides arithmetic.

A fit or a prediction does some work whatever the size of the network:
validating its input, checking the labels, holding BLAS at one thread,
handing chunks of rows to threads. On large data it is lost in the matrix
products; on small data, or one request at a time, it is most of the call.
This script times those costs, each beside a peer run in the same process and
interleaved with it, so that both see the same (shared, noisy) machine:

* ``predict_proba`` on 1 to 1,000 rows, skbackprop against ``MLPClassifier``
  (h = 64, d = 100, float64);
* a classifier's label checks and encoding per ``fit`` (``--rows`` integer
  labels, binary and 10 classes): as skbackprop does them (one
  ``np.unique`` for a 1-D integer array, ``_classifier._integer_labels``),
  through scikit-learn's ``type_of_target``,
  ``check_classification_targets`` and ``unique_labels`` sharing one search
  for the labels (as for other labels), with each check finding them again
  (``attach_unique`` turned off too), and ``MLPClassifier``'s own step
  (``LabelBinarizer`` fit and transform);
* reading the thread budget, holding BLAS at one thread and letting go, as
  each pass does: ``_parallel.thread_budget`` and ``single_threaded_blas``,
  against the same steps as skbackprop took them before (``os.cpu_count()``
  on each reading, threadpoolctl's ``limit`` on a controller made once), and
  threadpoolctl's usual ``threadpool_limits(1)``, which finds the libraries
  anew;
* ``predict_proba`` on ``--rows`` / 20 rows cut into prediction chunks
  (``_parallel.predict_chunk_rows``) against the gradient pass's
  (``_parallel.chunk_rows``);
* ``partial_fit`` on a chunk of 200 rows (d = 20, h = 64, 3 classes,
  integer and string labels) after the first call: its label step as
  skbackprop takes it (the chunk's labels found once, by ``_target_attrs``)
  and as it was (found again by ``_encode_targets``), and the whole calls of
  skbackprop and ``MLPClassifier.partial_fit``.

Each figure is the median over ``--repeats`` rounds; in each round every
variant runs once in turn, timed as the best of 5 timings of a loop of calls.
Run from the repository root::

    python benchmarks/bench_overhead.py > benchmarks/results/overhead.md
"""

import argparse
import os
import statistics
import timeit
import warnings
from functools import partial

import numpy as np
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import check_classification_targets
from threadpoolctl import threadpool_limits

from skbackprop import BackpropClassifier, _classifier, _kernels, _parallel

FEATURES, HIDDEN = 100, 64


def _interleaved_seconds(functions, repeats, number):
    """{name: seconds per call}, medians over rounds that run each in turn."""
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            best = min(timeit.repeat(function, number=number, repeat=5)) / number
            times[name].append(best)
    return {name: statistics.median(t) for name, t in times.items()}


def _fitted_pair(rows, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(rows, FEATURES))
    y = (X[:, 0] + 0.5 * rng.normal(size=rows) > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: few epochs on purpose
        ours = BackpropClassifier(HIDDEN, max_iter=2, random_state=0).fit(X, y)
        mlp = MLPClassifier(
            (HIDDEN,), activation="logistic", solver="sgd", max_iter=2, random_state=0
        ).fit(X, y)
    return X, ours, mlp


def prediction_latency(repeats):
    """{rows: (ours s, MLP s)} for predict_proba on that many rows."""
    X, ours, mlp = _fitted_pair(2000)
    result = {}
    for rows in (1, 10, 100, 1000):
        part = X[:rows].copy()
        t = _interleaved_seconds(
            {
                "ours": lambda part=part: ours.predict_proba(part),
                "mlp": lambda part=part: mlp.predict_proba(part),
            },
            repeats,
            number=max(10, 2000 // rows),
        )
        result[rows] = (t["ours"], t["mlp"])
    return result


class _ScikitLearnChecks:
    """Inside: integer labels go through scikit-learn's checks, as other labels
    do (``_classifier._integer_labels`` turned off); with ``each_time``, each
    check also finds y's unique labels again (``attach_unique`` off too)."""

    def __init__(self, each_time=False):
        self.each_time = each_time

    def __enter__(self):
        self._saved = (_classifier._integer_labels, _classifier.attach_unique)
        _classifier._integer_labels = lambda y: (None, None)
        if self.each_time:
            _classifier.attach_unique = None

    def __exit__(self, *exc):
        _classifier._integer_labels, _classifier.attach_unique = self._saved


def _our_label_step(estimator, y):
    attrs = estimator._target_attrs(y, continuing=False)
    return estimator._encode_targets(y, attrs, labels_known=True)


def _mlp_label_step(y):
    # MLPClassifier._validate_input, for a first fit.
    check_classification_targets(y)
    binarizer = LabelBinarizer().fit(y)
    return binarizer.transform(y).astype(bool)


def label_handling(rows, repeats):
    """{n classes: {variant: seconds}} per fit, for ``rows`` labels."""
    rng = np.random.RandomState(0)
    estimator = BackpropClassifier()
    result = {}
    for n_classes in (2, 10):
        y = rng.randint(0, n_classes, rows)

        def shared(y=y):
            with _ScikitLearnChecks():
                return _our_label_step(estimator, y)

        def each_time(y=y):
            with _ScikitLearnChecks(each_time=True):
                return _our_label_step(estimator, y)

        result[n_classes] = _interleaved_seconds(
            {
                "skbackprop": lambda y=y: _our_label_step(estimator, y),
                "scikit-learn's checks": shared,
                "each check its own pass": each_time,
                "MLPClassifier": lambda y=y: _mlp_label_step(y),
            },
            repeats,
            number=3,
        )
    return result


def blas_limit(repeats):
    """{variant: seconds} to read the thread budget, hold BLAS at one thread, let go.

    What ``_logits`` and ``_train`` do around each pass: ``thread_budget()``
    then ``single_threaded_blas()``.
    """
    controller = _parallel._blas_controller()

    def ours():
        _parallel.thread_budget()
        with _parallel.single_threaded_blas():
            pass

    def budget_before():
        counts = [lib.get_num_threads() for lib in controller.lib_controllers]
        counts = [count for count in counts if count]
        return max(1, min(max(counts, default=1), os.cpu_count() or 1))

    def before():  # skbackprop until this change, step by step
        budget_before()  # thread_budget()
        budget_before()  # single_threaded_blas() saved the budget, then limited
        controller.limit(limits=1).restore_original_limits()

    def new_controller():  # threadpoolctl's usual idiom: finds the libraries anew
        with threadpool_limits(limits=1, user_api="blas"):
            pass

    return _interleaved_seconds(
        {"skbackprop": ours, "before": before, "threadpool_limits": new_controller},
        repeats,
        number=20,
    )


def prediction_chunks(rows, repeats):
    """{variant: (chunks, seconds)} for predict_proba on ``rows`` rows."""
    X, ours, _ = _fitted_pair(rows)
    saved = _parallel.PREDICT_CHUNK_WORK

    def with_work(work):
        def run():
            _parallel.PREDICT_CHUNK_WORK = work
            try:
                ours.predict_proba(X)
            finally:
                _parallel.PREDICT_CHUNK_WORK = saved

        return run

    # A work bound of 1 leaves chunk_rows's count: the gradient pass's chunks.
    variants = {"prediction chunks": saved, "gradient-pass chunks": 1}
    times = _interleaved_seconds(
        {name: with_work(work) for name, work in variants.items()}, repeats, number=5
    )
    chunks = {
        "prediction chunks": -(
            -rows
            // _parallel.predict_chunk_rows(
                rows, FEATURES, HIDDEN, 1, _parallel.thread_budget()
            )
        ),
        "gradient-pass chunks": -(-rows // _parallel.chunk_rows(rows)),
    }
    return {name: (chunks[name], times[name]) for name in variants}


class _LabelsFoundTwice(BackpropClassifier):
    """partial_fit as it was: the chunk's labels checked by encoding, found again.

    ``_target_attrs`` skips its own check of them, as it did then.
    """

    def _target_attrs(self, y, *, continuing, classes=None):
        check = _classifier._check_known_labels
        _classifier._check_known_labels = lambda found, classes: None
        try:
            return super()._target_attrs(y, continuing=continuing, classes=classes)
        finally:
            _classifier._check_known_labels = check

    def _encode_targets(self, y, target_attrs, *, labels_known=False):
        return super()._encode_targets(y, target_attrs, labels_known=False)


def _label_step(model, y):
    """What a later partial_fit does with y's labels: check them, encode them."""
    target_attrs = model._target_attrs(y, continuing=True)
    return model._encode_targets(y, target_attrs, labels_known=True)


def partial_fit_calls(repeats, rows=200):
    """{label kind: {variant: seconds}}: a later partial_fit's label step, and the call.

    The label step is what ``_fit`` does with y's labels when training
    continues (``_target_attrs``, then ``_encode_targets``), as now and with
    the labels found twice; the whole ``partial_fit`` calls of skbackprop
    and MLPClassifier give the scale (they vary more from run to run than
    the step does).
    """
    rng = np.random.RandomState(0)
    X = rng.normal(size=(rows, 20))
    codes = rng.randint(0, 3, rows)
    result = {}
    for kind, y in (("integer", codes), ("string", np.array(["a", "b", "c"])[codes])):
        classes = np.unique(y)
        ours = BackpropClassifier(HIDDEN, random_state=0).partial_fit(X, y, classes=classes)
        twice = _LabelsFoundTwice(HIDDEN, random_state=0).partial_fit(X, y, classes=classes)
        mlp = MLPClassifier(
            (HIDDEN,), activation="logistic", solver="sgd", random_state=0
        ).partial_fit(X, y, classes=classes)

        result[kind] = _interleaved_seconds(
            {
                "label step": partial(_label_step, ours, y),
                "labels found twice": partial(_label_step, twice, y),
                "skbackprop": partial(ours.partial_fit, X, y),
                "MLPClassifier": partial(mlp.partial_fit, X, y),
            },
            repeats,
            number=20,
        )
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args(argv)
    print("# Fixed costs of a call")
    print()
    print(
        f"`python benchmarks/bench_overhead.py --repeats {args.repeats} "
        f"--rows {args.rows}`; hidden-layer loops: `{_kernels.backend()}`; BLAS "
        f"threads: {_parallel.thread_budget()}. Medians of {args.repeats} "
        "interleaved rounds."
    )
    print()
    print(f"## `predict_proba` latency, d = {FEATURES}, h = {HIDDEN}, float64")
    print()
    print("| rows | skbackprop µs | MLP µs | MLP / ours |")
    print("|---|---|---|---|")
    for rows, (ours, mlp) in prediction_latency(args.repeats).items():
        print(f"| {rows} | {ours * 1e6:.0f} | {mlp * 1e6:.0f} | {mlp / ours:.2f} |")
    print()
    print(f"## A classifier's label checks and encoding per fit, {args.rows} labels")
    print()
    print(
        "| classes | skbackprop ms | scikit-learn's checks ms "
        "| each check its own pass ms | MLPClassifier ms "
        "| checks / skbackprop | each / skbackprop | MLP / skbackprop |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n_classes, t in label_handling(args.rows, args.repeats).items():
        ours, checks, each, mlp = (
            t["skbackprop"],
            t["scikit-learn's checks"],
            t["each check its own pass"],
            t["MLPClassifier"],
        )
        print(
            f"| {n_classes} | {ours * 1e3:.2f} | {checks * 1e3:.2f} | {each * 1e3:.2f} "
            f"| {mlp * 1e3:.2f} | {checks / ours:.2f} | {each / ours:.2f} "
            f"| {mlp / ours:.2f} |"
        )
    print()
    print("## Reading the thread budget, holding BLAS at one thread, letting go")
    print()
    t = blas_limit(args.repeats)
    print(
        "| skbackprop µs | before µs (`os.cpu_count()` twice, cached controller's "
        "`limit`) | `threadpool_limits(1)` µs | before / skbackprop |"
    )
    print("|---|---|---|---|")
    print(
        f"| {t['skbackprop'] * 1e6:.1f} | {t['before'] * 1e6:.1f} "
        f"| {t['threadpool_limits'] * 1e6:.0f} "
        f"| {t['before'] / t['skbackprop']:.2f} |"
    )
    print()
    rows = max(args.rows // 20, 1)
    print(f"## `predict_proba` on {rows} rows: how many chunks")
    print()
    print("| chunks from | chunks | ms |")
    print("|---|---|---|")
    for name, (chunks, seconds) in prediction_chunks(rows, args.repeats).items():
        print(f"| {name} | {chunks} | {seconds * 1e3:.2f} |")
    print()
    print(f"## `partial_fit` on 200 rows after the first call, d = 20, h = {HIDDEN}, 3 classes")
    print()
    print(
        "| labels | label step ms | labels found twice ms | twice / step "
        "| skbackprop `partial_fit` ms | MLPClassifier `partial_fit` ms | MLP / skbackprop |"
    )
    print("|---|---|---|---|---|---|---|")
    for kind, t in partial_fit_calls(args.repeats).items():
        step, twice = t["label step"], t["labels found twice"]
        ours, mlp = t["skbackprop"], t["MLPClassifier"]
        print(
            f"| {kind} | {step * 1e3:.3f} | {twice * 1e3:.3f} | {twice / step:.2f} "
            f"| {ours * 1e3:.2f} | {mlp * 1e3:.2f} | {mlp / ours:.2f} |"
        )


if __name__ == "__main__":
    main()
