"""Sphinx configuration of the skbackprop documentation.

Build it from the repository root (the README's command)::

    pip install ".[docs]" && sphinx-build -W -b html docs docs/_build/html

The Markdown pages (math.md, derivation.md, callbacks.md, ...) are read as
they are by myst-parser; the API pages are made by autosummary with numpydoc;
the gallery is made by sphinx-gallery, which runs every ``examples/plot_*.py``
at build time and puts its figures in the page.
"""

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# Document the package of this checkout, not another installed copy.
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")
# The examples' matrices are small: threads only add noise and contention.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import skbackprop  # noqa: E402

project = "skbackprop"
author = "The skbackprop developers"
copyright = "The skbackprop developers"  # noqa: A001
release = skbackprop.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]

# -- API pages ---------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# -- Markdown ----------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3
# Links from the Markdown pages to files of the repository outside docs/
# (../skbackprop/_network.py, ../CHANGELOG.md) are plain links, not documents.
suppress_warnings = ["myst.xref_missing"]

# -- Gallery -----------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # Run every example and put its figures in the page; a failing example
    # fails the build.
    "plot_gallery": True,
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "doc_module": ("skbackprop",),
    "reference_url": {"skbackprop": None},
    "backreferences_dir": "generated/backreferences",
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
}

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skbackprop {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "getting_started": []}
html_show_sourcelink = False


# -- Pages that depend on files outside docs/ ----------------------------------
# A Markdown page may hold blocks that need a file of the repository:
#
#     <!-- if:docs/defaults.md -->  ...  <!-- else -->  ...  <!-- endif -->
#
# The first part is kept when the file exists (relative to the repository
# root), the second otherwise. This keeps the build free of warnings, and so
# passing with -W, while pages such as the defaults or the benchmark results
# are still to be written.
_CONDITION = re.compile(
    r"^[ \t]*<!-- if:(?P<path>[^ ]+) -->[ \t]*\n(?P<then>.*?)"
    r"(?:^[ \t]*<!-- else -->[ \t]*\n(?P<else>.*?))?^[ \t]*<!-- endif -->[ \t]*\n",
    re.MULTILINE | re.DOTALL,
)


def _resolve_conditions(text):
    def replace(match):
        exists = (ROOT / match["path"]).exists()
        return match["then"] if exists else (match["else"] or "")

    return _CONDITION.sub(replace, text)


# Every Markdown page of docs/ must be in a toctree, or -W fails the build. A
# page that no toctree names yet (one just added) is listed where a toctree
# holds the line "<!-- other pages -->" (the user guide's "More").
_TOCTREE = re.compile(
    r"^```\{toctree\}[^\n]*\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL
)
_OTHER_PAGES = "<!-- other pages -->"


def _pages_in_no_toctree():
    pages = {path.stem for path in DOCS.glob("*.md")} - {root_doc}
    named = set()
    for path in DOCS.glob("*.md"):
        for match in _TOCTREE.finditer(path.read_text(encoding="utf-8")):
            for line in match["body"].splitlines():
                line = line.strip()
                if line and not line.startswith((":", "<!--")):
                    named.add(line.removesuffix(".md"))
    return sorted(pages - named)


def _on_source_read(app, docname, source):
    text = _resolve_conditions(source[0])
    if _OTHER_PAGES in text:
        text = text.replace(_OTHER_PAGES, "\n".join(_pages_in_no_toctree()))
    source[0] = text


# -- Docstrings ------------------------------------------------------------------
# A fitted attribute's name ends in "_", which reStructuredText reads as a
# link: "ndarray of shape (n_samples, n_outputs_)" refers to a target
# "n_outputs" that does not exist. In shapes, escape that underscore.
_SHAPE = re.compile(r"\(([^()`]*)\)")
_TRAILING_UNDERSCORE = re.compile(r"\b([A-Za-z]\w*?)_(?=[,\s]|$)")
# Roles that point into scikit-learn's own documentation (its glossary and
# user guide), in the docstrings of methods inherited from scikit-learn
# (score, get_params, ...): without scikit-learn's site they cannot resolve,
# so they are shown as plain text.
_SKLEARN_ROLE = re.compile(r":(?:ref|term):`([^`<]*?)\s*(?:<[^`>]*>)?`")


def _on_process_docstring(app, what, name, obj, options, lines):
    from_sklearn = getattr(obj, "__module__", "") or ""
    from_sklearn = from_sklearn.split(".")[0] == "sklearn"
    for i, line in enumerate(lines):
        if line.lstrip().startswith((">>>", "...")):
            continue
        line = _SHAPE.sub(
            lambda m: "(" + _TRAILING_UNDERSCORE.sub(r"\1\\_", m.group(1)) + ")",
            line,
        )
        if from_sklearn:
            line = _SKLEARN_ROLE.sub(r"\1", line)
        lines[i] = line


def setup(app):
    app.connect("source-read", _on_source_read)
    app.connect("autodoc-process-docstring", _on_process_docstring)
