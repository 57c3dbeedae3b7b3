"""Sphinx configuration of the spchain documentation site.

Build locally (from the repository root)::

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

Prose pages are MyST Markdown; ``validation.md`` is an executable MyST
notebook whose figures are computed by the build; the notebooks of
``notebooks/`` are copied into ``docs/tutorials/_generated/`` (git-ignored)
at the start of every build and executed there, so the site always shows
the notebooks as they are in the repository, run against the code as it is.

The site works offline: no page loads a script, stylesheet or font from
the internet (``tests/test_docs_site.py`` walks the built HTML to check).

* Math: MathJax 3, bundled.  ``mathjax_path`` points at
  ``_static/mathjax/tex-chtml.js``, which the local extension
  ``docs/_ext/offline.py`` copies into the build from the ``mathjax``
  package of PyPI's ``django-static-mathjax`` (MathJax 3.2.2, a data-only
  wheel without dependencies, in the ``docs`` extra).  MathJax was chosen
  over server-side MathML (``latex2mathml``) because the equations of
  ``model.md`` use ``\\widetilde``, ``\\big`` delimiters and ``cases``,
  which MathJax typesets exactly as the CDN build did while Chromium's
  MathML rendering of the converted markup depends on the reader's math
  fonts; and over ``jupyter-server-mathjax`` (MathJax 2.7) because that
  pulls in Jupyter Server and the older MathJax.  Nothing is vendored in
  the repository.
* Widgets: ``nb_ipywidgets_js`` is emptied (myst-nb would load require.js
  and the ipywidgets HTML manager from CDNs), and the same extension draws
  each widget output statically from the widget state the notebook's run
  saved (sliders with their values, the panel's figure as an image).
* Layout (``_static/spchain.css``): a page whose executed cells draw
  figures uses the full width between the sidebars for its article
  instead of a 60em column; the notebook pages drop the page-contents
  sidebar and the top-level pages the empty section-navigation sidebar
  (``html_sidebars``), so the 11-panel chain figures show at about 1000
  px instead of 510 px.  Long code and output lines scroll inside their
  block with a drawn (not overlaid) scrollbar; warnings on stderr wrap.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document the checkout, installed or not
sys.path.insert(0, str(DOCS / "_ext"))  # the local extension: offline.py

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
    "offline",               # docs/_ext/offline.py: bundled MathJax, static widget outputs
]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "tutorials/_generated/examples",
                    "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 4          # "#1-overview" style links in the guides
suppress_warnings = [
    "myst.header",                # the guides number their sections and skip levels on purpose
]

# -- notebooks: executed at every build, failing the build on any error
nb_execution_mode = "force"
nb_execution_timeout = 180
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
nb_ipywidgets_js = {}              # no require.js / widget manager from CDNs: offline.py draws widgets

# -- math: MathJax 3 from the build's own _static (copied by offline.py), never a CDN
mathjax_path = "mathjax/tex-chtml.js"

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
    # notebook pages give the page-contents column to their wide figures
    "secondary_sidebar_items": {"**": ["page-toc"],
                                **{f"tutorials/_generated/{nb.stem}": []
                                   for nb in sorted((ROOT / "notebooks").glob("*.ipynb"))}},
}
# top-level pages have no section to navigate: their empty left column goes to the content
html_sidebars = {"*": []}
html_static_path = ["_static"]
html_css_files = ["spchain.css"]
