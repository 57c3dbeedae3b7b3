"""Sphinx configuration of the spchain documentation site.

Build locally (from the repository root)::

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

Prose pages are MyST Markdown; ``validation.md`` is an executable MyST
notebook whose figures are computed by the build; the notebooks of
``notebooks/`` are copied into ``docs/tutorials/_generated/`` (git-ignored)
at the start of every build and executed there, so the site always shows
the notebooks as they are in the repository, run against the code as it is.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document the checkout, installed or not

import spchain  # noqa: E402

# -- copy the notebooks in: MyST-NB only reads files inside the source folder
_GENERATED = DOCS / "tutorials" / "_generated"
shutil.rmtree(_GENERATED, ignore_errors=True)
_GENERATED.mkdir(parents=True)
for _nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
    shutil.copy2(_nb, _GENERATED / _nb.name)
# notebooks read files relative to the repository root (examples/...)
for _folder in ("examples",):
    if (ROOT / _folder).is_dir():
        shutil.copytree(ROOT / _folder, _GENERATED / _folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*-report", "out*"))

# -- project
project = "spchain"
author = "spchain developers"
copyright = "spchain developers"
release = spchain.__version__
version = spchain.__version__

# -- extensions (no network: intersphinx is deliberately not used)
extensions = [
    "myst_nb",               # MyST Markdown prose and executed notebooks (includes myst_parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "tutorials/_generated/examples",
                    "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 4          # "#1-overview" style links in the guides
suppress_warnings = [
    "myst.header",                # the guides number their sections and skip levels on purpose
    "mystnb.unknown_mime_type",   # widget state in executed notebooks has no static rendering
]

# -- notebooks: executed at every build, failing the build on any error
nb_execution_mode = "force"
nb_execution_timeout = 180
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# -- API reference
autodoc_member_order = "bysource"
autodoc_typehints = "none"         # numpydoc sections carry the types
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
numpydoc_xref_param_type = False

# -- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"spchain {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
