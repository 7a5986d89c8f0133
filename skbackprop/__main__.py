"""The skbackprop demonstration: ``python -m skbackprop`` (or ``skbackprop-demo``).

On the digits dataset shipped with scikit-learn (8×8 images of handwritten
digits, no download) it

1. tunes ``make_pipeline(StandardScaler(), BackpropClassifier())`` with
   :class:`~sklearn.model_selection.GridSearchCV` over the learning rate
   ``alpha`` and ``hidden_size``, printing a row per candidate as soon as its
   folds are scored;
2. compares the best pipeline, on a held-out test split, with
   :class:`~sklearn.neural_network.MLPClassifier` (logistic units, SGD) at its
   defaults and with its hyper-parameters matched to the best candidate;
3. saves the best pipeline with :func:`joblib.dump`, loads it back and checks
   that its predictions and probabilities are identical.

Run ``python -m skbackprop --help`` for the options; ``--quick`` runs a tiny
grid with a few epochs, for tests.
"""

import argparse
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, ParameterGrid, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import BackpropClassifier, __version__, _kernels

__all__ = ["main"]

# make_pipeline names each step after its class, in lower case.
_STEP = "backpropclassifier"
_RANDOM_STATE = 0


@dataclass(frozen=True)
class DemoConfig:
    """The sizes of one run of the demonstration.

    Attributes
    ----------
    alphas : tuple of float
        Learning rates tried by the grid search.
    hidden_sizes : tuple of int
        Hidden-layer sizes tried by the grid search.
    cv : int
        Number of cross-validation folds.
    max_iter : int or None
        Epoch cap of every network; None keeps the estimators' defaults (200).
    """

    alphas: tuple
    hidden_sizes: tuple
    cv: int
    max_iter: int | None


# Full run: one decade of learning rates and a range of hidden sizes, both
# around BackpropClassifier's defaults, so that the table shows what a
# smaller or larger step and network do.
FULL = DemoConfig(
    alphas=(0.1, 0.3, 1.0), hidden_sizes=(16, 32, 64), cv=3, max_iter=None
)
# Quick run (tests): a 2 × 2 grid of small networks, stopped after 10 epochs.
QUICK = DemoConfig(alphas=(0.1, 1.0), hidden_sizes=(8, 16), cv=2, max_iter=10)


class _Progress:
    """Print lines stamped with the time since the start of the run.

    Each line is flushed at once, so that a pipe or a log shows it live.
    """

    def __init__(self):
        self._start = time.perf_counter()

    def __call__(self, message, *, stamp=True):
        """Print ``message``, prefixed with the elapsed seconds if ``stamp``."""
        elapsed = time.perf_counter() - self._start
        prefix = f"[{elapsed:5.1f} s]" if stamp else " " * 9
        print(f"{prefix} {message}", flush=True)


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m skbackprop",
        description=(
            "Tune BackpropClassifier on the digits dataset with GridSearchCV, "
            "compare it with MLPClassifier, and check that the best pipeline "
            "survives a joblib round trip."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny grid, 2 folds and 10 epochs: a smoke test in a few seconds",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="PATH",
        help="where to save the best pipeline (default: a temporary directory, "
        "deleted at the end)",
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=2,
        metavar="N",
        help="parallel jobs for the grid search (default: %(default)s)",
    )
    return parser.parse_args(argv)


def load_data():
    """The digits, split 3:1 into train and test sets, stratified by class.

    Returns
    -------
    X_train, X_test : ndarray of shape (n_samples, 64)
    y_train, y_test : ndarray of shape (n_samples,)
    """
    X, y = load_digits(return_X_y=True)
    return train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=_RANDOM_STATE
    )


def make_model(network):
    """Standardise the pixels, then ``network``: the shape of every model here.

    Gradient descent needs inputs on a common scale, and scaling inside the
    pipeline keeps the test folds out of the scaler's statistics.

    Parameters
    ----------
    network : estimator

    Returns
    -------
    pipeline : Pipeline
    """
    return make_pipeline(StandardScaler(), network)


def _max_iter_kwargs(config):
    return {} if config.max_iter is None else {"max_iter": config.max_iter}


def _accuracy_and_epochs(pipeline, X, y):
    """Scorer of the grid search: the accuracy, plus the epochs the fit ran.

    A scorer may return a dict of metrics; the epoch count then lands in
    ``cv_results_`` (as ``mean_test_epochs``) and shows which fits stopped on
    their own and which ran into ``max_iter``.
    """
    return {"accuracy": pipeline.score(X, y), "epochs": pipeline[-1].n_iter_}


class _ReportingGridSearchCV(GridSearchCV):
    """GridSearchCV that reports each candidate as soon as its folds are scored.

    GridSearchCV evaluates the whole grid as one parallel batch and says
    nothing until it ends (its ``verbose`` output is a raw line per fit).
    ``_run_search`` is the hook that BaseSearchCV documents for scheduling
    candidates: evaluating them one at a time gives a row per candidate, at
    the cost of idling some workers while a candidate's last fold runs.
    """

    #: Called as ``report(results, index)`` after each candidate.
    report = None

    def _run_search(self, evaluate_candidates):
        for candidate in ParameterGrid(self.param_grid):
            results = evaluate_candidates([candidate])
            if self.report is not None:
                self.report(results, len(results["params"]) - 1)


def _epochs_text(epochs, max_iter):
    """The mean of ``epochs``, starred if any of them reached ``max_iter``."""
    # The star marks a fit stopped by max_iter rather than by tol: one that
    # raised the ConvergenceWarning silenced in main.
    stopped_by_cap = np.max(epochs) >= max_iter
    return f"{np.mean(epochs):.0f}" + ("*" if stopped_by_cap else " ")


_GRID_HEADER = (
    f"{'alpha':>6}  {'hidden_size':>11}  {'CV accuracy':>15}  "
    f"{'epochs':>7}  {'fit time/fold':>13}"
)


def _grid_row_printer(n_splits, max_iter, progress):
    """A ``report`` callback for _ReportingGridSearchCV: print one table row."""

    def report(results, index):
        params = results["params"][index]
        epochs = [results[f"split{k}_test_epochs"][index] for k in range(n_splits)]
        progress(
            f"{params[f'{_STEP}__alpha']:>6g}  "
            f"{params[f'{_STEP}__hidden_size']:>11d}  "
            f"{results['mean_test_accuracy'][index]:>7.4f} ± "
            f"{results['std_test_accuracy'][index]:.4f}  "
            f"{_epochs_text(epochs, max_iter):>7}  "
            f"{results['mean_fit_time'][index]:>11.2f} s"
        )

    return report


def grid_search(X, y, config, n_jobs, progress):
    """Tune the learning rate and hidden size of BackpropClassifier.

    Parameters
    ----------
    X, y : ndarray
        The training split.
    config : DemoConfig
    n_jobs : int
    progress : callable
        Prints a stage line.

    Returns
    -------
    search : GridSearchCV
        Fitted, with ``best_estimator_`` refitted on all of ``X, y``.
    """
    network = BackpropClassifier(random_state=_RANDOM_STATE, **_max_iter_kwargs(config))
    param_grid = {
        f"{_STEP}__alpha": list(config.alphas),
        f"{_STEP}__hidden_size": list(config.hidden_sizes),
    }
    search = _ReportingGridSearchCV(
        make_model(network),
        param_grid,
        scoring=_accuracy_and_epochs,
        refit="accuracy",
        cv=config.cv,
        n_jobs=n_jobs,
    )
    search.report = _grid_row_printer(config.cv, network.max_iter, progress)
    n_candidates = len(ParameterGrid(param_grid))
    progress(
        f"Grid search: {n_candidates} candidates × {config.cv} folds = "
        f"{n_candidates * config.cv} fits, {n_jobs} parallel job(s); "
        "a row per candidate as soon as its folds are scored:"
    )
    progress(_GRID_HEADER, stamp=False)
    search.fit(X, y)
    progress(
        f"* stopped at max_iter={network.max_iter} epochs, with the loss still "
        f"falling by more than tol={network.tol:g} per epoch",
        stamp=False,
    )
    progress("  (their ConvergenceWarnings are silenced)", stamp=False)
    best = search.best_params_
    progress(
        f"Best: alpha={best[f'{_STEP}__alpha']:g}, "
        f"hidden_size={best[f'{_STEP}__hidden_size']} "
        f"(CV accuracy {search.best_score_:.4f}); refitted on the whole "
        f"training split in {search.refit_time_:.2f} s"
    )
    return search


# BackpropClassifier's activation names → MLPClassifier's.
_MLP_ACTIVATION = {"sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}


def _mlp_models(network, n_samples, config):
    """MLPClassifier at its defaults, and matched to ``network``.

    Parameters
    ----------
    network : BackpropClassifier
        The best network of the grid search.
    n_samples : int
        The number of training samples: the batch size of full-batch
        training (``batch_size=None``), which MLPClassifier has no name for.
    config : DemoConfig

    Returns
    -------
    models : dict of str → MLPClassifier
    """
    defaults = MLPClassifier(
        activation="logistic",
        solver="sgd",
        random_state=_RANDOM_STATE,
        **_max_iter_kwargs(config),
    )
    # The same algorithm as BackpropClassifier: MLPClassifier's `alpha` is the
    # L2 penalty (λ / 2m)‖W‖², our `l2`, and its learning rate is
    # `learning_rate_init`, our `alpha`.
    matched = MLPClassifier(
        hidden_layer_sizes=(network.hidden_size,),
        activation=_MLP_ACTIVATION[network.activation],
        solver="sgd",
        alpha=network.l2,
        batch_size=network.batch_size or n_samples,
        learning_rate_init=network.alpha,
        momentum=network.momentum,
        nesterovs_momentum=network.nesterov,
        max_iter=network.max_iter,
        shuffle=network.shuffle,
        tol=network.tol,
        n_iter_no_change=network.n_iter_no_change,
        random_state=_RANDOM_STATE,
    )
    return {
        "MLPClassifier (defaults)": defaults,
        "MLPClassifier (matched)": matched,
    }


@dataclass
class _Result:
    name: str
    hidden_size: int
    learning_rate: float
    epochs: int
    max_iter: int
    fit_time: float
    accuracy: float


def _mlp_result(name, mlp, X_train, y_train, X_test, y_test):
    model = make_model(mlp)
    start = time.perf_counter()
    model.fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    return _Result(
        name=name,
        hidden_size=mlp.hidden_layer_sizes[0],
        learning_rate=mlp.learning_rate_init,
        epochs=mlp.n_iter_,
        max_iter=mlp.max_iter,
        fit_time=fit_time,
        accuracy=model.score(X_test, y_test),
    )


def compare(search, X_train, y_train, X_test, y_test, config, progress):
    """Fit the MLPClassifiers and print the comparison table.

    Parameters
    ----------
    search : GridSearchCV
        The fitted grid search.
    X_train, y_train, X_test, y_test : ndarray
    config : DemoConfig
    progress : callable

    Returns
    -------
    results : list of _Result
    """
    best = search.best_estimator_
    network = best[-1]
    results = [
        _Result(
            name="BackpropClassifier (best)",
            hidden_size=network.hidden_size,
            learning_rate=network.alpha,
            epochs=network.n_iter_,
            max_iter=network.max_iter,
            fit_time=search.refit_time_,
            accuracy=best.score(X_test, y_test),
        )
    ]
    for name, mlp in _mlp_models(network, len(y_train), config).items():
        progress(f"Fitting {name} ...")
        results.append(_mlp_result(name, mlp, X_train, y_train, X_test, y_test))
    progress(f"Test accuracy on the {len(y_test)} held-out digits:")
    _print_comparison(results, progress)
    return results


def _print_comparison(results, progress):
    """Print the side-by-side table of :func:`compare`."""
    progress(
        f"{'model':<26}  {'hidden_size':>11}  {'learning rate':>13}  "
        f"{'epochs':>7}  {'fit time':>8}  {'test accuracy':>13}",
        stamp=False,
    )
    for r in results:
        progress(
            f"{r.name:<26}  {r.hidden_size:>11d}  {r.learning_rate:>13g}  "
            f"{_epochs_text([r.epochs], r.max_iter):>7}  {r.fit_time:>6.2f} s  "
            f"{r.accuracy:>13.4f}",
            stamp=False,
        )
    for line in (
        "defaults: learning_rate_init=0.001, momentum=0.9, L2 penalty alpha=1e-4.",
        "matched: the hidden size, learning rate, batch size, momentum, L2 penalty",
        "and stopping rule of the best BackpropClassifier: the same algorithm.",
    ):
        progress(line, stamp=False)


def check_persistence(model, X, path, progress):
    """Save ``model`` with joblib, load it back, compare their predictions.

    Parameters
    ----------
    model : fitted classifier
    X : ndarray
        The inputs to predict.
    path : Path
        Where to save the model.
    progress : callable

    Returns
    -------
    identical : bool
        Whether ``predict`` and ``predict_proba`` agree bit for bit.
    """
    joblib.dump(model, path)
    progress(f"Saved the best pipeline to {path} ({path.stat().st_size:,} bytes)")
    loaded = joblib.load(path)
    same_labels = np.array_equal(model.predict(X), loaded.predict(X))
    same_proba = np.array_equal(model.predict_proba(X), loaded.predict_proba(X))
    identical = same_labels and same_proba
    verdict = "identical" if identical else "DIFFERENT"
    progress(
        f"Predictions and predict_proba after joblib reload: {verdict} "
        f"({len(X)} test samples)"
    )
    return identical


def main(argv=None):
    """Run the demonstration.

    Parameters
    ----------
    argv : list of str, default=None
        Command-line arguments; None reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success, 1 if the reloaded pipeline predicts differently.
    """
    args = _parse_args(argv)
    config = QUICK if args.quick else FULL
    progress = _Progress()
    progress(
        f"skbackprop {__version__} demo ({'quick' if args.quick else 'full'} run; "
        f"hidden-layer loops: {_kernels.backend()})"
    )

    X_train, X_test, y_train, y_test = load_data()
    progress(
        f"Loaded digits: {len(y_train) + len(y_test)} images of 8×8 pixels, "
        f"10 classes; {len(y_train)} to train, {len(y_test)} to test"
    )
    # Fits that reach max_iter warn; the tables mark them with a star instead.
    # Recent scikit-learn passes these filters on to its worker processes
    # (tests/test_main.py checks it).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = grid_search(X_train, y_train, config, args.n_jobs, progress)
        compare(search, X_train, y_train, X_test, y_test, config, progress)

    if args.output is not None:
        identical = check_persistence(
            search.best_estimator_, X_test, args.output, progress
        )
    else:
        with tempfile.TemporaryDirectory() as tmp:
            identical = check_persistence(
                search.best_estimator_, X_test, Path(tmp) / "best.joblib", progress
            )
    progress("Done." if identical else "FAILED: the reloaded pipeline differs.")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
