"""The defaults hold their promise: at least MLP's 5-fold score on real data.

With a StandardScaler in front, BackpropClassifier() reaches at least the
5-fold accuracy of MLPClassifier(activation="logistic", solver="sgd") on
digits, breast cancer and wine, and BackpropRegressor() at least the R² of
MLPRegressor(activation="logistic", solver="sgd") on diabetes. The same
measurement is printed by ``python benchmarks/defaults.py``.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from defaults import DATASETS, candidates, evaluate  # noqa: E402


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_defaults_reach_mlp_score(dataset):
    load, task = DATASETS[dataset]
    X, y = load(return_X_y=True)
    (mlp_name, mlp), (ours_name, ours) = list(candidates(task, grid=False))
    mlp_scores, _ = evaluate(mlp, X, y, task)
    our_scores, _ = evaluate(ours, X, y, task)
    assert our_scores.mean() >= mlp_scores.mean(), (
        f"{ours_name}: {our_scores.mean():.4f} < {mlp_name}: {mlp_scores.mean():.4f}"
    )
