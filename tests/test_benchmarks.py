"""The speed benchmark runs and writes well-formed outputs.

``benchmarks/bench_speed.py --smoke`` (tiny sizes, one repetition) runs in
this process into a temporary folder; the test checks the Markdown tables,
the JSON and the PNG, never the timings themselves.
"""

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import threadpoolctl

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_speed.py"

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


def _load_benchmark(name):
    """The script benchmarks/<name>.py, imported as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_script():
    return _load_benchmark("bench_speed")


def _tables(markdown):
    """{section heading: [header cells, *row cells]} of every table."""
    tables, heading, rows = {}, None, None
    for line in markdown.splitlines():
        if line.startswith("## "):
            heading, rows = line[3:], None
        elif line.startswith("|") and heading is not None:
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if set("".join(cells)) <= {"-"}:
                continue  # the separator line
            if rows is None:
                rows = tables[heading] = []
            rows.append(cells)
    return tables


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    result = _load_script().main(["--smoke", "--quiet", "--out", str(out)])
    return out, result


def test_outputs_exist(smoke_run):
    out, _ = smoke_run
    for name in ("speed.md", "speed.json", "speed.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "speed.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_header_records_machine_and_command(smoke_run):
    out, _ = smoke_run
    text = (out / "speed.md").read_text(encoding="utf-8")
    assert "Command: `python benchmarks/bench_speed.py --smoke" in text
    for fact in ("| CPU |", "NumPy / scikit-learn", "| BLAS (threadpoolctl) |"):
        assert fact in text
    assert "BLAS-related environment" in text
    assert "1 epoch(s) per fit, or more where n is small: ⌈800 / n⌉" in text


def test_markdown_tables_are_well_formed(smoke_run):
    out, result = smoke_run
    tables = _tables((out / "speed.md").read_text(encoding="utf-8"))
    train = tables["Training, time per epoch"]
    predict = next(rows for name, rows in tables.items() if name.startswith("Predict"))
    assert train[0] == TRAIN_COLUMNS
    assert predict[0] == PREDICT_COLUMNS
    assert len(train) - 1 == len(result["training"]) > 0
    assert len(predict) - 1 == len(result["prediction"]) > 0
    for row in train[1:]:
        assert len(row) == len(TRAIN_COLUMNS)
        assert row[4] in ("float64", "float32")
        for cell in row[6:11]:
            assert float(cell) > 0
    # Both dtypes, both batch modes and both tasks are covered, another
    # feature count than the grid's and another class count (smoke mode:
    # d = 10, 2 classes; d = 30 and 3 classes at n = 400).
    assert {row[4] for row in train[1:]} == {"float64", "float32"}
    assert {(row[0], row[1], row[2]) for row in train[1:] if row[2] != "10"} == {
        ("classification", "400", "30")
    }
    assert {row[2] for row in predict[1:]} == {"10", "30"}
    dtype_table = tables["float64 time over float32 time, per epoch"]
    assert dtype_table[0][:4] == ["task", "n", "d", "h"]
    assert {row[2] for row in dtype_table[1:]} == {"10", "30"}
    assert {row[5] for row in train[1:]} == {"200", "full"}
    tasks = {"classification", "regression", "classification, 3 classes"}
    for table in (train, predict, dtype_table):
        assert {row[0] for row in table[1:]} == tasks
    assert {(row[0], row[1], row[2]) for row in train[1:] if row[0].endswith("classes")} == {
        ("classification, 3 classes", "400", "10")
    }
    for row in predict[1:]:
        assert len(row) == len(PREDICT_COLUMNS)
        for cell in row[5:10]:
            assert float(cell) > 0


def test_json_holds_the_raw_numbers(smoke_run):
    out, _ = smoke_run
    data = json.loads((out / "speed.json").read_text(encoding="utf-8"))
    assert data["mode_name"] == "smoke"
    assert data["machine"]["blas"], "threadpoolctl found no BLAS"
    assert "env" in data["machine"]
    # Smaller inputs are fitted for more epochs (at least 800 rows × epochs).
    assert {(r["n"], r["epochs"]) for r in data["training"]} == {(400, 2), (1600, 1)}
    assert {r["classes"] for r in data["training"]} == {0, 2, 3}
    # Each case's rows: float64 mini-batch, float64 full, float32 mini-batch, float32
    # full (both dtypes are timed together, the records still come out in this order).
    orders = {}
    for r in data["training"]:
        case = (r["task"], r["classes"], r["n"], r["d"], r["h"])
        orders.setdefault(case, []).append((r["dtype"], r["batch"]))
    for case, order in orders.items():
        assert order == [("float64", 200), ("float64", "full"), ("float32", 200),
                         ("float32", "full")], case
    assert [r["dtype"] for r in data["prediction"]] == ["float64", "float32"] * len(orders)
    for record in data["training"]:
        for impl in ("skbackprop", "mlp"):
            timing = record[impl]
            assert timing["n_iter"] == record["epochs"]
            assert timing["fit_seconds"] and all(t > 0 for t in timing["fit_seconds"])
            assert math.isfinite(timing["median_epoch_seconds"])
            assert timing["peak_bytes"] >= 0
            # float32 input trains in float32, in both implementations.
            assert timing["trained_dtype"] == record["dtype"]
        assert record["floor"]["median_seconds"] > 0
    for record in data["prediction"]:
        for impl in ("skbackprop", "mlp"):
            assert record[impl]["median_seconds"] > 0


@pytest.mark.parametrize(
    "argv, extra",
    [
        # The quick grid names no n, h for other counts: its largest.
        (["--quick", "--classes", "3"], [("classification", 20_000, 64, 100, 3)]),
        (["--quick", "--features", "20"], [("classification", 20_000, 64, 20, 2)]),
        # A custom grid: only the counts asked for, at its largest n and h.
        (["--n", "3000", "--hidden", "8"], []),
        (["--n", "3000", "--classes", "4"], [("classification", 3000, 64, 100, 4)]),
        # The full grid's own: d = 10, 500 and 10 classes at 50,000 rows, h = 64.
        (
            [],
            [
                ("classification", 50_000, 64, 10, 2),
                ("classification", 50_000, 64, 500, 2),
                ("classification", 50_000, 64, 100, 10),
            ],
        ),
    ],
)
def test_command_line_other_feature_and_class_counts(argv, extra):
    module = _load_script()
    parser_args = module.build_parser().parse_args(argv)
    mode = module.mode_from_args(parser_args)
    cases = list(module.cases(mode))
    grid = [case for case in cases if case[3] == mode.d and case[4] in (0, 2)]
    assert cases[len(grid) :] == extra
    assert all(n > 0 and h > 0 for _, n, h, _, _ in cases)


def _blas_threads_now():
    return max(
        (info["num_threads"] for info in threadpoolctl.threadpool_info()
         if info["user_api"] == "blas"),
        default=1,
    )


def test_timed_calls_take_turns_each_under_its_thread_limit(monkeypatch):
    module = _load_script()
    monkeypatch.setattr(module, "SETTLE_SECONDS", 0.0)
    calls = []

    def recorder(name):
        return lambda: calls.append((name, _blas_threads_now()))

    funcs = {name: recorder(name) for name in ("ours", "mlp", "floor, one thread")}
    # Two threads by default here (the suite's default is one), so that the
    # limit shows.
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        default_threads = _blas_threads_now()
        if default_threads < 2:
            pytest.skip("this BLAS cannot be set to two threads")
        times = module.repeat_interleaved(funcs, 3, 60.0, {"floor, one thread": 1})
    # Round after round, every function once per round, not each three times in a row.
    assert [name for name, _ in calls] == ["ours", "mlp", "floor, one thread"] * 3
    assert {threads for name, threads in calls if name == "floor, one thread"} == {1}
    assert {threads for name, threads in calls if name != "floor, one thread"} == {
        default_threads
    }
    assert all(len(times[name]) == 3 and min(times[name]) >= 0 for name in funcs)


def test_both_dtypes_and_the_floor_are_timed_in_the_same_rounds(monkeypatch):
    """The ratios MLP / ours, ours / floor and float64 / float32 compare
    times taken in the same rounds, so a change of load hits them alike."""
    module = _load_script()
    monkeypatch.setattr(module, "SETTLE_SECONDS", 0.0)
    seen = {}
    real = module.repeat_interleaved

    def spy(funcs, reps, max_seconds, blas_limits=None):
        seen["keys"], seen["limits"] = list(funcs), dict(blas_limits or {})
        return real(funcs, reps, max_seconds, blas_limits)

    monkeypatch.setattr(module, "repeat_interleaved", spy)
    X64, y = module.make_data("classification", 300, 6)
    ours, mlp = module.make_estimators("classification", 4, 100, 2, 300)
    by_dtype = {
        dtype: (np.ascontiguousarray(X64, dtype=dtype), {"skbackprop": ours, "mlp": mlp})
        for dtype in ("float64", "float32")
    }
    result = module.time_training(by_dtype, y, 4, 100, 2, 2, 60.0)
    labels = ["skbackprop", "mlp", "default_threads", "one_thread"]
    assert seen["keys"] == [(dtype, label) for dtype in by_dtype for label in labels]
    assert {key: limit for key, limit in seen["limits"].items() if limit is not None} == {
        (dtype, "one_thread"): 1 for dtype in by_dtype
    }
    for dtype in by_dtype:
        for name in ("skbackprop", "mlp"):
            record, model = result[dtype][name]
            assert record["trained_dtype"] == dtype == str(model.coefs_[0].dtype)
            assert len(record["fit_seconds"]) == 2 and record["n_iter"] == 2
        floor = result[dtype]["floor"]
        assert floor["median_seconds"] == min(
            floor["default_threads"]["median_seconds"], floor["one_thread"]["median_seconds"]
        )
    predicted = module.time_predictions(
        {dtype: (X, {"skbackprop": result[dtype]["skbackprop"][1]})
         for dtype, (X, _) in by_dtype.items()},
        4, 2, 60.0,
    )
    assert seen["keys"] == [
        (dtype, name) for dtype in by_dtype for name in ("skbackprop", "floor")
    ]
    for dtype in by_dtype:
        assert predicted[dtype]["skbackprop"]["output_dtype"] == dtype
        assert len(predicted[dtype]["floor"]["seconds"]) == 2


def test_kernel_benchmark_prints_a_row_per_implementation(capsys):
    module = _load_benchmark("bench_kernels")
    module.main(["--repeats", "1", "--rows", "600"])
    out = capsys.readouterr().out
    rows = [line for line in out.split("End to end")[0].splitlines() if line.startswith("| float")]
    names = {line.split("|")[2].strip() for line in rows}
    assert {"NumPy (fallback)", "formula", "expit"} <= names
    for line in rows:
        forward = float(line.split("|")[3])
        assert math.isfinite(forward) and forward > 0
    if module._kernels._ckernels is not None:
        end_to_end, blocks = out.split("End to end")[1].split("Block rows")
        tasks = [line for line in end_to_end.splitlines() if line.startswith("| float")]
        assert len(tasks) == 6  # 3 tasks × 2 dtypes
        assert all(len(line.split("|")) == 9 for line in tasks)  # 3 variants, 2 ratios
        # The "C loops" variant turns the compiled passes off, and only them.
        with module._Variant("C loops"):
            assert module._kernels.backend().startswith("c-")
            assert not module._kernels._compiled_pass_for([np.zeros(1)], [1])
            assert module._kernels.descent_step is module._numpy_step
        assert module._kernels._compiled_pass_for([np.zeros(1)], [1])
        assert module._kernels.descent_step is not module._numpy_step
        sizes = [
            line for line in blocks.splitlines() if line.startswith(("| 16", "| 64", "| 256"))
        ]
        assert len(sizes) == 6  # 3 hidden sizes × 2 dtypes
        for line in sizes:
            assert all(float(cell) > 0 for cell in line.split("|")[4:7])


def test_overhead_benchmark_prints_its_five_tables(capsys):
    module = _load_benchmark("bench_overhead")
    saved = (
        module._classifier.attach_unique,
        module._parallel.PREDICT_CHUNK_WORK,
        module._classifier._integer_labels,
    )
    module.main(["--repeats", "1", "--rows", "2000"])
    # The variants are switched back on.
    assert (
        module._classifier.attach_unique,
        module._parallel.PREDICT_CHUNK_WORK,
        module._classifier._integer_labels,
    ) == saved
    out = capsys.readouterr().out
    sections = out.split("\n## ")[1:]
    assert len(sections) == 5
    for section in sections:
        rows = [line for line in section.splitlines() if line.startswith("| ")]
        body = [line for line in rows[1:] if not line.startswith("|---")]
        assert body, section
        for line in body:
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            numbers = [float(cell) for cell in cells if cell.replace(".", "").isdigit()]
            assert numbers and all(math.isfinite(x) and x > 0 for x in numbers), line
    latency, labels, _, chunks, partial_fits = sections
    assert [line.split("|")[1].strip() for line in latency.splitlines()[4:8]] == [
        "1", "10", "100", "1000"
    ]
    assert "| 2 |" in labels and "| 10 |" in labels
    assert "| prediction chunks | 1 |" in chunks  # 100 rows: one chunk
    assert [line.split("|")[1].strip() for line in partial_fits.splitlines()[4:6]] == [
        "integer", "string"
    ]


def test_team_benchmark_times_three_variants_and_finds_the_models_equal(capsys):
    module = _load_benchmark("bench_team")
    rows_per_part = module._kernels.MINIBATCH_PART_ROWS
    module.main(["--repeats", "1", "--rows", "1000"])
    assert module._kernels.MINIBATCH_PART_ROWS == rows_per_part  # switched back
    epochs, passes, fits, products = capsys.readouterr().out.split("\n## ")

    def rows(section, start):
        return [
            [cell.strip() for cell in line.strip("|").split("|")]
            for line in section.splitlines()
            if line.startswith(start)
        ]

    lines = rows(epochs, "| float")
    assert len(lines) == 4  # 2 hidden sizes × 2 dtypes
    for cells in lines:
        assert all(float(cell) > 0 for cell in cells[2:7])
        assert cells[7] == "yes"
    assert [cells[0] for cells in rows(passes, "| float")] == ["float64", "float32"]
    assert all(float(cell) > 0 for cells in rows(passes, "| float") for cell in cells[1:])
    assert [cells[0] for cells in rows(fits, ("| 2 ", "| 4 "))] == ["2", "4"]
    assert all(float(cell) > 0 for cells in rows(fits, ("| 2 ", "| 4 ")) for cell in cells[1:])
    rates = rows(products, "| float")
    assert [cells[0] for cells in rates] == ["float64", "float32"]
    for _, part, large, ratio in rates:
        assert float(part) > 0 and float(large) > 0
        assert float(ratio) == pytest.approx(float(part) / float(large), rel=0.1, abs=0.02)


def test_chunks_benchmark_times_both_schedulers_and_finds_the_results_equal(capsys):
    module = _load_benchmark("bench_chunks")
    installed = module._parallel._imap_in_order
    rows = module._parallel.CHUNK_ROWS + 808  # more than one chunk
    module.main(["--repeats", "1", "--rows", str(rows), "--settle", "0"])
    assert module._parallel._imap_in_order is installed  # switched back
    lines = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith(f"| {rows} ")
    ]
    assert len(lines) == 4  # 2 hidden sizes × 2 dtypes
    for cells in lines:
        assert all(float(cell) > 0 for cell in cells[3:9])
        assert cells[9] == "yes"


def test_early_stopping_benchmark_compares_both_ways_and_finds_the_models_equal(capsys):
    module = _load_benchmark("bench_early_stopping")
    module.main(["--repeats", "1", "--rows", "1200", "--epochs", "2", "--settle", "0"])
    lines = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| 1200 ")
    ]
    assert len(lines) == 4  # 2 hidden sizes × 2 batch sizes
    for cells in lines:
        assert all(float(cell) > 0 for cell in cells[3:8])
        assert cells[8] == "yes"
        # The copies' peak holds a copy of the training rows (0.9 X) more.
        assert float(cells[7]) - float(cells[6]) > 0.5


def test_layout_benchmark_times_three_layouts_and_finds_the_same_bits(capsys):
    pytest.importorskip("pandas")
    module = _load_benchmark("bench_layout")
    module.main(["--repeats", "1", "--rows", "1500", "--settle", "0"])
    lines = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith(("| 200 ", "| full "))
    ]
    assert [cells[1] for cells in lines] == ["C-ordered", "Fortran-ordered", "DataFrame"] * 2
    for cells in lines:
        assert all(float(cell) > 0 for cell in cells[2:6])
        assert cells[6] == ("(itself)" if cells[1] == "C-ordered" else "yes")
