"""The demonstration, ``python -m skbackprop``, in its quick mode."""

import os
import re
import subprocess
import sys
from pathlib import Path

import joblib
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline

from skbackprop import BackpropClassifier
from skbackprop.__main__ import QUICK, main

REPO_ROOT = Path(__file__).resolve().parents[1]
RELOAD_LINE = "Predictions and predict_proba after joblib reload: identical"
N_QUICK_CANDIDATES = len(QUICK.alphas) * len(QUICK.hidden_sizes)


def _grid_rows(out):
    """The rows of the grid-search table: alpha, hidden_size, accuracy ± std."""
    return re.findall(r"^\[\s*[\d.]+ s\]\s+([\d.]+)\s+(\d+)\s+([\d.]+) ± ", out, re.M)


def test_quick_run_prints_tables_and_checks_reload(capsys, recwarn):
    # One job: the quick grid is too small to pay for starting workers.
    assert main(["--quick", "--n-jobs", "1"]) == 0
    out = capsys.readouterr().out

    rows = _grid_rows(out)
    assert len(rows) == N_QUICK_CANDIDATES
    assert {(float(a), int(h)) for a, h, _ in rows} == {
        (a, h) for a in QUICK.alphas for h in QUICK.hidden_sizes
    }
    assert all(0 <= float(acc) <= 1 for *_, acc in rows)
    assert "CV accuracy" in out and "fit time/fold" in out
    assert "Best: alpha=" in out

    for model in (
        "BackpropClassifier (best)",
        "MLPClassifier (defaults)",
        "MLPClassifier (matched)",
    ):
        assert re.search(rf"^\s+{re.escape(model)}\s+\d+\s+[\d.]+\s", out, re.M)
    assert "test accuracy" in out

    assert RELOAD_LINE in out
    assert out.rstrip().endswith("Done.")
    # Every quick fit stops at max_iter: the demo silences those warnings.
    assert not [w for w in recwarn if issubclass(w.category, ConvergenceWarning)]


def test_output_keeps_a_loadable_pipeline(tmp_path, capsys):
    path = tmp_path / "best.joblib"
    assert main(["--quick", "--n-jobs", "1", "--output", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"Saved the best pipeline to {path}" in out
    assert RELOAD_LINE in out

    model = joblib.load(path)
    assert isinstance(model, Pipeline)
    assert isinstance(model[-1], BackpropClassifier)
    assert model[-1].max_iter == QUICK.max_iter


def test_help(capsys):
    with pytest.raises(SystemExit) as exc_info:
        main(["--help"])
    assert exc_info.value.code == 0
    out = capsys.readouterr().out
    assert "--quick" in out and "--output" in out and "--n-jobs" in out


def test_module_entry_point():
    # In a fresh interpreter, with the default two parallel jobs: this also
    # checks that the warning filters reach scikit-learn's worker processes.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "skbackprop", "--quick"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "demo (quick run; hidden-layer loops: c-" in result.stdout  # the C loops ran
    assert len(_grid_rows(result.stdout)) == N_QUICK_CANDIDATES
    assert RELOAD_LINE in result.stdout
    assert "ConvergenceWarning" not in result.stderr
