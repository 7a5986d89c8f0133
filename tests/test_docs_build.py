"""The documentation site builds, and looks right in a browser.

* The code of the site's Markdown pages (their ``pycon`` blocks) runs as
  doctests; this needs nothing but the package.
* The README's command builds the site with warnings as errors (``-W``):
  every page, the API pages of the public names and the gallery, whose
  examples run during the build and leave their figures in the pages.
  Skipped when Sphinx or one of its extensions (the ``docs`` extra) is not
  installed.
* Headless Chromium (Debian's ``chromium`` package) loads the built index
  page and one gallery page: the main heading and an example's figure are
  there. Skipped when ``chromium`` is not installed.

The site is built in a temporary copy of the sources, so the build leaves
nothing in the work tree.
"""

import doctest
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest
from sklearn.exceptions import ConvergenceWarning

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
EXAMPLE_SCRIPTS = sorted(EXAMPLES.glob("plot_*.py"))

PYCON_BLOCK = re.compile(r"^```pycon\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
# derivation.md's blocks are run by tests/test_docs.py.
PAGES_WITH_CODE = sorted(
    path
    for path in DOCS.glob("*.md")
    if path.name != "derivation.md" and PYCON_BLOCK.search(path.read_text("utf-8"))
)

SPHINX_MODULES = (
    "sphinx",
    "numpydoc",
    "sphinx_gallery",
    "myst_parser",
    "pydata_sphinx_theme",
    "matplotlib",
)
API_NAMES = (
    "BackpropClassifier",
    "BackpropRegressor",
    "check_gradients",
    "trace_step",
    "InconsistentVersionWarning",
)
# Build products that may lie in a developer's docs/ and must not be copied.
BUILD_PRODUCTS = ("_build", "auto_examples", "generated", "sg_execution_times.rst")
# The README's command, without the install.
BUILD_COMMAND = ("-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")
BUILD_TIMEOUT = 900


# ---------------------------------------------------------------------------
# The pages' code, as doctests.
# ---------------------------------------------------------------------------


def test_pages_with_code_are_found():
    names = {path.name for path in PAGES_WITH_CODE}
    assert {"getting_started.md", "user_guide.md", "the_math.md"} <= names


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda path: path.name)
def test_page_code_runs(page, monkeypatch):
    text = page.read_text(encoding="utf-8")
    session = "\n".join(match["body"] for match in PYCON_BLOCK.finditer(text))
    monkeypatch.chdir(tempfile.mkdtemp())
    parser = doctest.DocTestParser()
    test = parser.get_doctest(session, {}, page.name, str(page), 0)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} example(s) of {page.name} failed"


# ---------------------------------------------------------------------------
# The Sphinx build.
# ---------------------------------------------------------------------------


def _require_sphinx():
    for module in SPHINX_MODULES:
        pytest.importorskip(module, reason=f"{module} (pip install '.[docs]')")


def _copy_sources(destination):
    """What the build reads: docs/, examples/, the package and the results."""

    def ignore(directory, names):
        if Path(directory) == DOCS:
            return [name for name in names if name in BUILD_PRODUCTS]
        return [name for name in names if name in ("__pycache__", ".ipynb_checkpoints")]

    for part in ("docs", "examples", "skbackprop"):
        shutil.copytree(ROOT / part, destination / part, ignore=ignore)
    results = ROOT / "benchmarks" / "results"
    if results.exists():
        shutil.copytree(results, destination / "benchmarks" / "results")


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    """Build the site once; return the folder of the HTML pages."""
    _require_sphinx()
    root = tmp_path_factory.mktemp("site")
    _copy_sources(root)
    env = dict(os.environ, MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1")
    process = subprocess.run(
        [sys.executable, "-m", "sphinx", *BUILD_COMMAND],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert process.returncode == 0, (
        f"sphinx-build failed (exit {process.returncode}):\n"
        f"{process.stdout[-5000:]}\n{process.stderr[-10000:]}"
    )
    return root / "docs" / "_build" / "html"


def test_site_builds_with_the_pages(built_site):
    for page in (
        "index",
        "getting_started",
        "user_guide",
        "coming_from_mlp",
        "the_math",
        "math",
        "derivation",
        "callbacks",
        "performance",
        "persistence",
        "api",
    ):
        assert (built_site / f"{page}.html").is_file(), page
    # Every Markdown page of docs/ is in the site (and so in a toctree: -W
    # would have failed otherwise).
    for markdown in DOCS.glob("*.md"):
        assert (built_site / f"{markdown.stem}.html").is_file(), markdown.name


def test_site_has_api_pages(built_site):
    for name in API_NAMES:
        page = built_site / "generated" / f"skbackprop.{name}.html"
        assert page.is_file(), name
        assert name in page.read_text(encoding="utf-8")


def test_site_gallery_has_every_example_with_its_figures(built_site):
    assert EXAMPLE_SCRIPTS, "no examples/plot_*.py"
    for script in EXAMPLE_SCRIPTS:
        page = built_site / "auto_examples" / f"{script.stem}.html"
        assert page.is_file(), script.name
        html = page.read_text(encoding="utf-8")
        figures = re.findall(
            rf'src="(\.\./_images/sphx_glr_{script.stem}_\d+\.png)"', html
        )
        assert figures, f"{script.name}: no figure in its page"
        for figure in figures:
            assert (page.parent / figure).resolve().is_file(), figure


# ---------------------------------------------------------------------------
# In a browser.
# ---------------------------------------------------------------------------


def _chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (apt-get install chromium)")


def _dump_dom(chromium, page, tmp_path):
    profile = tmp_path / f"profile-{page.stem}"
    profile.mkdir()
    process = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    return process.stdout


def test_browser_shows_index_heading(built_site, tmp_path):
    chromium = _chromium()
    dom = _dump_dom(chromium, built_site / "index.html", tmp_path)
    headings = re.findall(r"<h1[^>]*>(.*?)</h1>", dom, re.DOTALL)
    assert headings, dom[:2000]
    assert re.sub(r"<[^>]+>", "", headings[0]).strip().startswith("skbackprop")


def test_browser_shows_gallery_figure(built_site, tmp_path):
    chromium = _chromium()
    page = built_site / "auto_examples" / f"{EXAMPLE_SCRIPTS[0].stem}.html"
    dom = _dump_dom(chromium, page, tmp_path)
    headings = re.findall(r"<h1[^>]*>(.*?)</h1>", dom, re.DOTALL)
    assert headings, dom[:2000]
    images = re.findall(r"<img[^>]*\bsrc=\"([^\"]*sphx_glr_[^\"]*\.png)\"", dom)
    figures = [src for src in images if "_thumb" not in src]
    assert figures, "no sphinx-gallery figure in the rendered page"
    assert (page.parent / figures[0]).resolve().is_file(), figures[0]
