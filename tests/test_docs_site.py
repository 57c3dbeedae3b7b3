"""The documentation site builds with warnings as errors.

``python -m sphinx -W --keep-going -b html docs <tmp>`` executes
``notebooks/*.ipynb`` (copied into ``docs/tutorials/_generated/`` by
``docs/conf.py``) and the executable pages (getting started, validation,
two how-tos), renders the API reference from the numpydoc docstrings and
fails on any broken reference.  Needs the ``docs`` extra.

The built site must work offline: no page loads a script, stylesheet,
font or image from ``http(s)://`` (:func:`remote_references` walks every
page and stylesheet), equations are typeset by the MathJax copied into the
build, and the workshop's what-if panel is drawn statically from its saved
widget state (``docs/_ext/offline.py``, tested here on hand-built state).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NEEDED = ("sphinx", "myst_nb", "numpydoc", "pydata_sphinx_theme", "ipywidgets", "mathjax")
REMOTE = re.compile(r"^\s*(https?:)?//", re.I)
CSS_REMOTE = re.compile(r"""(@import\s+(url\()?|url\()\s*['"]?\s*(https?:)?//""", re.I)


class _References(HTMLParser):
    """Every URL a page loads: script src, stylesheet/preload/icon links, img/iframe/source src."""

    def __init__(self):
        super().__init__()
        self.loaded = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.loaded.append(("script", a["src"]))
        elif tag == "link" and a.get("href"):
            rel = set((a.get("rel") or "").lower().split())
            if rel & {"stylesheet", "preload", "modulepreload", "icon", "shortcut"}:
                self.loaded.append(("link " + " ".join(sorted(rel)), a["href"]))
        elif tag in ("img", "iframe", "source", "embed") and a.get("src"):
            self.loaded.append((tag, a["src"]))
        if a.get("style") and CSS_REMOTE.search(a["style"]):
            self.loaded.append((f"{tag} style", a["style"]))

    def handle_data(self, data):
        if self.lasttag == "style" and CSS_REMOTE.search(data):
            self.loaded.append(("style", data.strip()[:200]))


def loaded_urls(page: str) -> list[tuple[str, str]]:
    """(what, URL) for everything an HTML page loads by itself."""
    parser = _References()
    parser.feed(page)
    return parser.loaded


def remote_references(site: Path) -> list[str]:
    """Everything under ``site`` that would be fetched from the internet.

    Walks every ``.html`` page (:func:`loaded_urls`) and every ``.css`` file
    (``@import`` and ``url()`` of fonts and images); ``<a href>`` links are
    not loads and are not reported.
    """
    found = []
    for page in sorted(site.rglob("*.html")):
        for what, url in loaded_urls(page.read_text(encoding="utf-8")):
            if REMOTE.match(url) or what.endswith("style"):
                found.append(f"{page.relative_to(site)}: {what} {url[:120]}")
    for sheet in sorted(site.rglob("*.css")):
        text = sheet.read_text(encoding="utf-8", errors="replace")
        for match in CSS_REMOTE.finditer(text):
            found.append(f"{sheet.relative_to(site)}: {text[match.start():].splitlines()[0][:160]}")
    return found


def _offline():
    """docs/_ext/offline.py, the site's local Sphinx extension."""
    pytest.importorskip("docutils")
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        import offline
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))
    return offline


@pytest.mark.slow
def test_docs_build_with_warnings_as_errors(tmp_path):
    missing = [m for m in NEEDED if importlib.util.find_spec(m) is None]
    if missing and not os.environ.get("SPCHAIN_REQUIRE_DOCS"):
        pytest.skip(f"the docs extra is not installed (missing {', '.join(missing)}): "
                    f"pip install -e '.[docs]'")
    env = dict(os.environ, MPLBACKEND="Agg", PYDEVD_DISABLE_FILE_VALIDATION="1")
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           str(ROOT / "docs"), str(tmp_path / "html"),
                           "-d", str(tmp_path / "doctrees")],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, f"sphinx failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    html = tmp_path / "html"
    for page in ("index", "getting-started", "validation", "api", "references", "glossary", "model",
                 "architecture", "howto/extend"):
        assert (html / f"{page}.html").is_file(), f"{page}.html was not built"
    # the build executed every notebook (failing on any error) and shows its output
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = html / "tutorials" / "_generated" / f"{notebook.stem}.html"
        assert page.is_file(), f"{notebook.name} was not built"
        assert 'class="cell_output' in page.read_text(encoding="utf-8"), f"{notebook.name} shows no output"
    # the validation figures are produced by the build
    text = (html / "validation.html").read_text(encoding="utf-8")
    assert text.count("<img") >= 4, "validation.html should show its four figures"

    # offline: nothing is loaded from the internet, on any page or in any stylesheet
    remote = remote_references(html)
    assert not remote, "the site loads from the internet:\n" + "\n".join(remote[:20])

    # equations: model.html loads the MathJax of the build, which is there with its fonts
    model = (html / "model.html").read_text(encoding="utf-8")
    assert model.count('class="math notranslate nohighlight"') >= 50, "model.html lost its equations"
    scripts = [url for what, url in loaded_urls(model) if what == "script"]
    mathjax = [url for url in scripts if url.split("?")[0].endswith("mathjax/tex-chtml.js")]
    assert mathjax, f"model.html does not load the bundled MathJax: {scripts}"
    assert (html / mathjax[0].split("?")[0]).is_file(), f"{mathjax[0]} is not in the build"
    fonts = html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2"
    assert (fonts / "MathJax_Main-Regular.woff").is_file(), "MathJax's fonts are not in the build"
    assert (html / "_static" / "mathjax" / "input" / "tex" / "extensions" / "ams.js").is_file()

    # the workshop's what-if panel is drawn from its saved state: sliders, the figure, no widget scripts
    from spchain.apps.workshop import LEVERS

    workshop = (html / "tutorials" / "_generated" / "workshop.html").read_text(encoding="utf-8")
    assert "application/vnd.jupyter.widget" not in workshop, "a widget is left to a widget manager"
    assert "require.js" not in workshop and "require.min.js" not in workshop
    start = workshop.index('<div class="spchain-static-widget"')
    panel = workshop[start:workshop.index("spchain-widget-image", start)]
    for lever in LEVERS:
        assert lever.label.replace("'", "&#x27;") in panel, f"the panel lost the slider {lever.label!r}"
    assert re.search(r'<img class="spchain-widget-image" src="data:image/png;base64,[A-Za-z0-9+/]{1000}',
                     workshop[start:]), "the panel's figure is not shown"
    assert "four quarters at the helm" in workshop
    # the wide-figure stylesheet is on the notebook pages
    assert any(url.split("?")[0].endswith("_static/spchain.css") for _, url in loaded_urls(workshop))


def test_remote_references_finds_every_kind_of_remote_load(tmp_path):
    page = ('<html><head><script src="_static/local.js"></script>'
            '<script src="https://cdn.example.org/require.min.js"></script>'
            '<link rel="stylesheet" href="//fonts.example.org/css">'
            '<link rel="preload" as="font" href="http://example.org/f.woff2">'
            '<link rel="stylesheet" href="_static/styles/theme.css">'
            '<style>@import url("https://fonts.example.org/x.css");</style></head>'
            '<body><a href="https://example.org/paper">a link is not a load</a>'
            '<img src="_static/fig.png"><img src="https://example.org/badge.svg">'
            '<div style="background: url(https://example.org/bg.png)"></div></body></html>')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "page.html").write_text(page, encoding="utf-8")
    (tmp_path / "ok.html").write_text('<script src="../_static/a.js"></script>', encoding="utf-8")
    (tmp_path / "theme.css").write_text("@font-face{src:url(../fonts/fa.woff2)}\n"
                                        "@import 'https://fonts.example.org/y.css';", encoding="utf-8")
    found = remote_references(tmp_path)
    assert len(found) == 7, found
    assert [f.split(":")[0] for f in found] == ["sub/page.html"] * 6 + ["theme.css"]
    for url in ("cdn.example.org/require", "//fonts.example.org/css", "http://example.org/f.woff2",
                "fonts.example.org/x.css", "example.org/badge.svg", "example.org/bg.png",
                "fonts.example.org/y.css"):
        assert sum(url in f for f in found) == 1, (url, found)
    assert not any("paper" in f or "local.js" in f or "fa.woff2" in f for f in found)


def _panel_state(png: bytes) -> tuple[str, dict]:
    """Widget state shaped like the what-if panel's as nbclient saves it."""
    def model(name, **state):
        return {"model_name": name, "model_module": "@jupyter-widgets/controls", "state": state}

    state = {
        "s1": model("FloatSliderModel", description="Internal tools budget (per week)", value=4000.0,
                    min=0.0, max=10000.0, step=250.0, readout_format=".2f", layout="IPY_MODEL_l1"),
        "s2": model("IntSliderModel", description="IT <support> staff", value=2, min=0, max=6, step=1,
                    readout_format="d"),
        "b": model("ButtonModel", description="Reset to baseline"),
        "h": model("HTMLModel", value="<b>tools_spend_per_week = 4000</b>: profit 329,459"),
        "i": {**model("ImageModel", format="png"),
              "buffers": [{"path": ["value"], "encoding": "base64",
                           "data": base64.b64encode(png).decode()}]},
        "l1": model("LayoutModel", width="34em"),
        "box": model("VBoxModel", children=["IPY_MODEL_s1", "IPY_MODEL_s2", "IPY_MODEL_b",
                                            "IPY_MODEL_h", "IPY_MODEL_i"]),
    }
    return "box", state


def test_widget_html_draws_the_panel_from_its_saved_state():
    offline = _offline()
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    box, state = _panel_state(png)
    out = offline.widget_html(box, state)
    assert out.startswith('<div class="spchain-static-widget"') and "<script" not in out
    assert offline.NOTE in out
    # children in the box's order, each drawn from its own state
    order = [out.index(s) for s in ("Internal tools budget (per week)", "IT &lt;support&gt; staff",
                                    "Reset to baseline", "<b>tools_spend_per_week", "<img")]
    assert order == sorted(order), out
    assert '<span class="spchain-widget-value">4000.00</span>' in out      # readout_format .2f
    assert '<span class="spchain-widget-value">2</span>' in out            # readout_format d
    assert 'min="0.0" max="10000.0" step="250.0" value="4000.0"' in out
    assert '<button type="button" disabled>Reset to baseline</button>' in out
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in out
    assert "spchain-widget-column" in out and "IT <support>" not in out   # descriptions are escaped


def test_widget_html_shows_a_progress_bar_as_it_ended_without_the_controls_note():
    offline = _offline()
    state = {  # what tqdm.auto displays in a kernel with ipywidgets
        "bar": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_p", "IPY_MODEL_f", "IPY_MODEL_n"]}},
        "p": {"model_name": "HTMLModel", "state": {"value": "spchain: 100%"}},
        "f": {"model_name": "FloatProgressModel", "state": {"value": 18.0, "max": 18.0, "bar_style": "success"}},
        "n": {"model_name": "HTMLModel", "state": {"value": " 18/18 [00:16&lt;00:00,  1.45run/s]"}},
    }
    out = offline.widget_html("bar", state)
    assert '<progress value="18.0" max="18.0"' in out and "spchain-widget-row" in out
    assert out.index("spchain: 100%") < out.index("<progress") < out.index("18/18")
    assert offline.NOTE not in out and not offline.has_controls("bar", state)
    _, panel = _panel_state(b"png")
    assert offline.has_controls("box", panel) and not offline.has_controls("i", panel)


def test_widget_html_without_state_or_with_a_cycle():
    offline = _offline()
    out = offline.widget_html("gone", {})
    assert "did not save this widget" in out and offline.NOTE not in out
    looped = {"a": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_b"]}},
              "b": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_a", "IPY_MODEL_c"]}},
              "c": {"model_name": "LabelModel", "state": {"value": "x < y", "description": ""}}}
    out = offline.widget_html("a", looped)
    assert out.count("spchain-widget-box") == 2 and "x &lt; y" in out


def test_render_widgets_statically_replaces_views_and_drops_widget_scripts():
    offline = _offline()
    from docutils import nodes
    from docutils.frontend import get_default_settings
    from docutils.parsers.rst import Parser
    from docutils.utils import new_document
    from myst_nb.core.render import sanitize_script_content

    png = b"\x89PNG\r\n\x1a\n" + b"panel"
    box, state = _panel_state(png)
    view = sanitize_script_content(json.dumps({"version_major": 2, "version_minor": 0, "model_id": box}))
    document = new_document("workshop", get_default_settings(Parser))
    document += nodes.paragraph(text="before")
    document += nodes.raw("", f'<script type="application/vnd.jupyter.widget-view+json">{view}</script>',
                          format="html")
    document += nodes.raw("", "<p>other raw html</p>", format="html")
    saved = {"state": state, "version_major": 2, "version_minor": 0}
    scripts = {"ipywidgets_state": (None, {"type": "application/vnd.jupyter.widget-state+json",
                                           "body": sanitize_script_content(json.dumps(saved))}),
               "ipywidgets_0": ("https://cdn.example.org/require.min.js", {}),
               "other": ("_static/x.js", {})}

    class Env:
        docname = "tutorials/_generated/workshop"
        nb_metadata = {docname: {"js_files": scripts}}

    class App:
        env = Env()

    offline.render_widgets_statically(App(), document)
    raws = [n.astext() for n in document.findall(nodes.raw)]
    assert len(raws) == 2 and raws[1] == "<p>other raw html</p>"
    assert raws[0] == offline.widget_html(box, state)
    assert "Reset to baseline" in raws[0] and "widget-view" not in raws[0]
    assert list(scripts) == ["other"]


def test_workshop_heading_matches_the_game_it_plays():
    cells = json.loads((ROOT / "notebooks" / "workshop.ipynb").read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    quarters = int(re.search(r"Game\([^)]*quarters=(\d+)", code).group(1))
    words = "zero one two three four five six seven eight nine ten eleven twelve".split()
    headings = [line for c in cells if c["cell_type"] == "markdown"
                for line in "".join(c["source"]).splitlines() if line.startswith("#")]
    game = [h for h in headings if "Round by round" in h]
    assert game == [f"## 3. Round by round: {words[quarters]} quarters at the helm"], headings


def test_every_notebook_is_in_the_tutorials():
    index = (ROOT / "docs" / "tutorials" / "index.md").read_text(encoding="utf-8")
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"_generated/{notebook.stem}" in index, f"{notebook.name} is not in docs/tutorials/index.md"


def test_notebooks_are_committed_without_outputs():
    import json

    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        dirty = [i for i, c in enumerate(cells) if c.get("outputs") or c.get("execution_count")]
        assert not dirty, f"{notebook.name}: cells {dirty} have outputs; strip them before committing"
