"""The documentation stays true to the code.

* Every ``skbackprop/_network.py:LINE`` reference in ``docs/derivation.md``
  quotes the code of that line and names the function it is in; both are
  checked, so the page cannot silently go stale when ``_network.py`` changes.
* The worked example of ``docs/derivation.md`` (its ``pycon`` blocks) runs as
  a doctest.
* Every ``examples/plot_*.py`` runs to completion with matplotlib's Agg
  backend and draws at least one figure.
"""

import ast
import doctest
import io
import re
import runpy
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DERIVATION = ROOT / "docs" / "derivation.md"
NETWORK = ROOT / "skbackprop" / "_network.py"
EXAMPLES = ROOT / "examples"
EXAMPLE_SCRIPTS = sorted(EXAMPLES.glob("plot_*.py"))

# A reference reads: `function`, `skbackprop/_network.py:LINE`: `code`
REFERENCE = re.compile(
    r"`(?P<function>\w+)`, `skbackprop/_network\.py:(?P<line>\d+)`: `(?P<code>[^`]+)`"
)
ANY_LINE_REFERENCE = re.compile(r"skbackprop/_network\.py:\d+")
PYCON_BLOCK = re.compile(r"^```pycon\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def _doc_references():
    """(doc line, function, file line, code) of every reference in the page."""
    text = DERIVATION.read_text(encoding="utf-8")
    return [
        (
            text.count("\n", 0, match.start()) + 1,
            match["function"],
            int(match["line"]),
            match["code"],
        )
        for match in REFERENCE.finditer(text)
    ]


def _enclosing_functions(source):
    """Map each line of ``source`` to the innermost function defining it."""
    owner = {}
    nodes = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    # Outer functions first, so that inner ones overwrite them.
    for node in sorted(
        nodes, key=lambda node: node.end_lineno - node.lineno, reverse=True
    ):
        for line in range(node.lineno, node.end_lineno + 1):
            owner[line] = node.name
    return owner


REFERENCES = _doc_references() if DERIVATION.exists() else []


def test_derivation_page_has_references():
    assert DERIVATION.exists(), f"{DERIVATION} is missing"
    text = DERIVATION.read_text(encoding="utf-8")
    # Every line reference must be in the checked form, with its quoted code:
    # a bare `skbackprop/_network.py:LINE` could rot unnoticed.
    bare = len(ANY_LINE_REFERENCE.findall(text)) - len(REFERENCES)
    assert bare == 0, (
        f"{bare} reference(s) to skbackprop/_network.py:LINE in {DERIVATION.name} "
        "are not written as `function`, `skbackprop/_network.py:LINE`: `code`, "
        "so they cannot be checked"
    )
    assert len(REFERENCES) >= 20, "expected the derivation to reference its code"


@pytest.mark.parametrize(
    "doc_line, function, line, code",
    REFERENCES,
    ids=[f"derivation.md:{r[0]}-_network.py:{r[2]}" for r in REFERENCES],
)
def test_code_reference_is_current(doc_line, function, line, code):
    source = NETWORK.read_text(encoding="utf-8")
    lines = source.splitlines()
    reference = (
        f"docs/derivation.md:{doc_line} refers to `{function}`, "
        f"skbackprop/_network.py:{line} quoting `{code}`"
    )
    actual = lines[line - 1].strip() if 1 <= line <= len(lines) else "<past the end>"
    if code not in actual:
        now_at = [number for number, text in enumerate(lines, 1) if code in text]
        hint = (
            f"The quoted code is now at line(s) {now_at}: run "
            "`python tools/refresh_line_refs.py` to update the line numbers."
            if now_at
            else "The quoted code is no longer in the file: update the quote "
            "(and the text around it, if the math changed)."
        )
        pytest.fail(
            f"Stale reference: {reference}, but line {line} is `{actual}`. {hint}",
            pytrace=False,
        )
    owner = _enclosing_functions(source).get(line)
    assert owner == function, (
        f"Stale reference: {reference}; the line is there, but it is in "
        f"`{owner}`, not `{function}`"
    )


def test_derivation_worked_example_runs():
    """The pycon blocks of the page, run in order as one doctest session."""
    text = DERIVATION.read_text(encoding="utf-8")
    blocks = list(PYCON_BLOCK.finditer(text))
    assert blocks, f"no ```pycon blocks in {DERIVATION.name}"
    parser = doctest.DocTestParser()
    output = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    globs = {"__name__": "derivation"}
    saved_printoptions = np.get_printoptions()
    try:
        for block in blocks:
            start = text.count("\n", 0, block.start("body"))
            test = parser.get_doctest(
                block["body"], globs, "docs/derivation.md", str(DERIVATION), start
            )
            runner.run(test, out=output.write, clear_globs=False)
            globs = test.globs  # DocTest copies its globals: carry them on
    finally:
        np.set_printoptions(**saved_printoptions)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0
    if results.failed:
        pytest.fail(
            "The worked example of docs/derivation.md no longer prints what the "
            "page says:\n" + output.getvalue(),
            pytrace=False,
        )


@pytest.mark.parametrize("script", EXAMPLE_SCRIPTS, ids=lambda path: path.name)
def test_example_has_gallery_title(script):
    # sphinx-gallery takes the title from the docstring's first RST section.
    docstring = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8")))
    assert docstring, f"{script.name} has no module docstring"
    lines = docstring.strip().splitlines()
    assert len(lines) >= 3 and set(lines[0]) == {"="} and lines[2] == lines[0], (
        f"{script.name}: the docstring must start with a title between two lines of '='"
    )
    assert len(lines[0]) >= len(lines[1].strip()), (
        f"{script.name}: the '=' lines are shorter than the title {lines[1]!r}"
    )


def test_examples_exist():
    assert (EXAMPLES / "README.rst").exists()
    assert len(EXAMPLE_SCRIPTS) >= 3


@pytest.mark.parametrize("script", EXAMPLE_SCRIPTS, ids=lambda path: path.name)
def test_example_runs(script, monkeypatch, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import matplotlib

    monkeypatch.setenv("MPLBACKEND", "Agg")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: None)
    monkeypatch.chdir(tmp_path)  # anything an example writes lands here
    plt.close("all")
    saved_printoptions = np.get_printoptions()
    try:
        runpy.run_path(str(script), run_name="__main__")
        assert plt.get_fignums(), f"{script.name} drew no figure"
    finally:
        plt.close("all")
        np.set_printoptions(**saved_printoptions)


def _test_command(text):
    commands = [line for line in text.splitlines() if "python -m pytest" in line]
    assert commands, "no test command found"
    return commands[0].strip()


def test_readme_test_command_is_what_ci_runs():
    """CI runs exactly the README's test command; the docs show the same."""
    readme = _test_command((ROOT / "README.md").read_text(encoding="utf-8"))
    assert readme.startswith("python3 -m venv .venv"), readme
    assert _test_command((ROOT / ".ci" / "run").read_text(encoding="utf-8")) == readme
    assert _test_command((ROOT / "docs" / "index.md").read_text(encoding="utf-8")) == readme
