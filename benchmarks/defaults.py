"""Measure the default hyper-parameters against MLPClassifier/MLPRegressor.

For each dataset shipped with scikit-learn (digits, breast cancer, wine:
5-fold accuracy; diabetes: 5-fold R²), this runs
``make_pipeline(StandardScaler(), model)`` for

* ``MLPClassifier(activation="logistic", solver="sgd")`` /
  ``MLPRegressor(activation="logistic", solver="sgd")``, at their defaults;
* ``BackpropClassifier()`` / ``BackpropRegressor()``, at their defaults;
* optionally (``--grid``) a grid of candidate defaults, to show why the
  defaults are what they are.

Run from the repository root::

    python benchmarks/defaults.py            # defaults only
    python benchmarks/defaults.py --grid     # plus the candidate grid

It prints a Markdown table (the mean and standard deviation over the folds,
and the fit time per fold).
"""

import argparse
import itertools
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier, BackpropRegressor

DATASETS = {
    "digits": (load_digits, "classification"),
    "breast_cancer": (load_breast_cancer, "classification"),
    "wine": (load_wine, "classification"),
    "diabetes": (load_diabetes, "regression"),
}


def evaluate(model, X, y, task, seed=0):
    if task == "classification":
        cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    else:
        cv = KFold(5, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = cross_validate(make_pipeline(StandardScaler(), model), X, y, cv=cv)
    return result["test_score"], float(np.mean(result["fit_time"]))


def candidates(task, grid):
    if task == "classification":
        yield "MLPClassifier(activation='logistic', solver='sgd')", MLPClassifier(
            activation="logistic", solver="sgd", random_state=0
        )
        yield "BackpropClassifier()", BackpropClassifier(random_state=0)
        estimator = BackpropClassifier
    else:
        yield "MLPRegressor(activation='logistic', solver='sgd')", MLPRegressor(
            activation="logistic", solver="sgd", random_state=0
        )
        yield "BackpropRegressor()", BackpropRegressor(random_state=0)
        estimator = BackpropRegressor
    if grid:
        for alpha, batch_size in itertools.product(
            [0.001, 0.01, 0.03, 0.1, 0.3, 1.0], [None, 32, 200]
        ):
            yield (
                f"{estimator.__name__}(alpha={alpha}, batch_size={batch_size})",
                estimator(alpha=alpha, batch_size=batch_size, random_state=0),
            )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", action="store_true", help="also run the grid")
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    args = parser.parse_args(argv)
    print("| dataset | model | score (mean ± sd, 5-fold) | fit time per fold (s) |")
    print("|---|---|---|---|")
    for name in args.datasets:
        load, task = DATASETS[name]
        X, y = load(return_X_y=True)
        for label, model in candidates(task, args.grid):
            start = time.perf_counter()
            try:
                scores, fit_time = evaluate(model, X, y, task)
                text = f"{scores.mean():.4f} ± {scores.std():.4f}"
            except ValueError as exc:  # divergence is reported, not hidden
                text, fit_time = f"error: {str(exc)[:40]}…", time.perf_counter() - start
            print(f"| {name} | `{label}` | {text} | {fit_time:.2f} |", flush=True)


if __name__ == "__main__":
    main()
