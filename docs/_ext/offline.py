"""Sphinx extension: the spchain site works without the internet.

Two things in a default Sphinx + MyST-NB build come from CDNs and so fail
offline: MathJax (every equation then shows as raw TeX) and the
ipywidgets HTML manager with require.js (a widget then shows as nothing).
This extension replaces both with local material:

* **MathJax 3** is copied into ``_static/mathjax/`` of the build from the
  ``mathjax`` package (the PyPI distribution ``django-static-mathjax``,
  a data-only wheel of MathJax 3.2.2 with no dependencies); ``conf.py``
  points ``mathjax_path`` at it.  Only the parts MathJax can load are
  copied: the ``tex-chtml`` component, its web fonts, the TeX extensions
  it autoloads, the menu and the accessibility modules (about 7 MB, not
  the package's 35 MB of sources and other builds).
* **Widget outputs are rendered statically** from the widget state that
  the notebook's execution saved: a box lays out its children, a slider
  shows its description, a disabled slider and its value, a button is
  drawn disabled, a progress bar as a ``<progress>`` element, an HTML
  widget shows its HTML and an image widget its picture (as a ``data:``
  URI); a widget with controls is headed by a note that it is a snapshot.  The widget state script and the
  widget-manager scripts are dropped from the page, so a page loads no
  JavaScript for its widgets at all.

Public names: :func:`widget_html` (one widget view, as static HTML),
:func:`has_controls`, :data:`CONTROL_SUFFIXES`, :data:`NOTE`,
:func:`render_widgets_statically` (the ``doctree-read`` handler),
:func:`copy_mathjax` (the ``build-finished`` handler), :data:`MATHJAX_PARTS`
and :func:`setup`.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

from docutils import nodes

#: What :func:`copy_mathjax` copies from MathJax's ``es5`` folder: the
#: component the pages load, then what it loads on demand (fonts, TeX
#: extensions such as ``\boldsymbol``, the context menu, accessibility).
MATHJAX_PARTS = ("tex-chtml.js", "output/chtml", "input/tex/extensions", "ui", "a11y", "sre")

#: The script myst-nb writes for a widget output (its JSON is escaped with
#: ``<\/`` for ``</``, which JSON reads back as ``</``).
_VIEW = re.compile(r'^\s*<script type="application/vnd\.jupyter\.widget-view\+json">(.*)</script>\s*$',
                   re.S)

#: The note above every static widget.
NOTE = ("Static snapshot of an interactive panel, as the notebook's run left it. "
        "Run the notebook in Jupyter to use the controls.")


def mathjax_source() -> Path:
    """The ``es5`` folder of the installed MathJax.

    Returns
    -------
    pathlib.Path
        ``.../mathjax/static/mathjax/es5`` of the ``django-static-mathjax``
        distribution.

    Raises
    ------
    RuntimeError
        If the package is missing or does not hold ``tex-chtml.js``; the
        message says what to install.
    """
    try:
        import mathjax
    except ImportError as exc:  # pragma: no cover - the docs extra installs it
        raise RuntimeError("the docs need MathJax from PyPI: pip install -e '.[docs]' "
                           "(the django-static-mathjax package)") from exc
    es5 = Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5"
    if not (es5 / "tex-chtml.js").is_file():
        raise RuntimeError(f"MathJax's tex-chtml.js is not in {es5}: reinstall django-static-mathjax")
    return es5


def copy_mathjax(app, exception) -> None:
    """Copy MathJax's parts into ``_static/mathjax/`` of a finished HTML build.

    Parameters
    ----------
    app : sphinx.application.Sphinx
        The application; nothing is copied for non-HTML builders.
    exception : Exception or None
        The build's exception; nothing is copied when the build failed.
    """
    if exception is not None or app.builder.format != "html":
        return
    es5 = mathjax_source()
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        source = es5 / part
        if source.is_dir():
            shutil.copytree(source, target / part, dirs_exist_ok=True)
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / part)
    shutil.copy2(es5.parent / "LICENSE", target / "LICENSE")


def _ref(value) -> str | None:
    """The model id of an ``IPY_MODEL_<id>`` reference, else None."""
    if isinstance(value, str) and value.startswith("IPY_MODEL_"):
        return value[len("IPY_MODEL_"):]
    return None


def _number(value, fmt: str) -> str:
    try:
        return format(value, fmt or "g")
    except (TypeError, ValueError):
        return str(value)


def _buffer(model: dict, key: str) -> str | None:
    """A base64 buffer saved with the widget state, by its path."""
    for buffer in model.get("buffers", ()):
        if buffer.get("path") == [key] and buffer.get("encoding") == "base64":
            return buffer.get("data")
    value = model.get("state", {}).get(key)
    return value if isinstance(value, str) and value else None


def _render(model_id: str, state: dict, seen: frozenset) -> str:
    model = state.get(model_id)
    if model is None or model_id in seen:
        return ""
    seen = seen | {model_id}
    name = model.get("model_name", "")
    s = model.get("state", {})
    description = html.escape(str(s.get("description", "") or ""))
    if name in ("VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel", "AccordionModel", "TabModel"):
        inner = "".join(_render(ref, state, seen) for ref in map(_ref, s.get("children", ())) if ref)
        direction = "row" if name == "HBoxModel" else "column"
        return f'<div class="spchain-widget-box spchain-widget-{direction}">{inner}</div>'
    if name.endswith("SliderModel") and not name.endswith("RangeSliderModel"):
        value = s.get("value")
        shown = _number(value, s.get("readout_format", ""))
        return ('<div class="spchain-widget-control">'
                f'<span class="spchain-widget-label">{description}</span>'
                f'<input type="range" disabled min="{s.get("min", "")}" max="{s.get("max", "")}" '
                f'step="{s.get("step", "") or "any"}" value="{value}" aria-label="{description}">'
                f'<span class="spchain-widget-value">{html.escape(shown)}</span></div>')
    if name in ("FloatProgressModel", "IntProgressModel"):
        value, top = s.get("value", 0), s.get("max", 100)
        return (f'<div class="spchain-widget-control">'
                f'<progress value="{value}" max="{top}" aria-label="{description or "progress"}">'
                f'{html.escape(str(value))}</progress></div>')
    if name in ("ButtonModel", "ToggleButtonModel"):
        return f'<div class="spchain-widget-control"><button type="button" disabled>{description}</button></div>'
    if name in ("HTMLModel", "HTMLMathModel"):
        return f'<div class="spchain-widget-html">{s.get("value", "")}</div>'
    if name == "ImageModel":
        data = _buffer(model, "value")
        if not data:
            return ""
        fmt = html.escape(str(s.get("format", "png") or "png"))
        mime = "svg+xml" if fmt == "svg" else fmt
        alt = description or "the panel's figure"
        return f'<img class="spchain-widget-image" src="data:image/{mime};base64,{data}" alt="{alt}">'
    value = s.get("value")
    if value is None or isinstance(value, (dict, list)):
        return ""
    label = f'<span class="spchain-widget-label">{description}</span>' if description else ""
    return (f'<div class="spchain-widget-control">{label}'
            f'<span class="spchain-widget-value">{html.escape(str(value))}</span></div>')


#: Widget models a reader would operate (their values are a snapshot):
#: a widget holding one of these gets :data:`NOTE`; one that only
#: displays (a progress bar, HTML, an image) is shown as it ended.
CONTROL_SUFFIXES = ("SliderModel", "ButtonModel", "ButtonsModel", "DropdownModel", "CheckboxModel",
                    "TextModel", "TextareaModel", "SelectModel", "SelectMultipleModel", "ComboboxModel",
                    "PickerModel", "PlayModel")


def has_controls(model_id: str, state: dict) -> bool:
    """Whether the widget, or a widget inside it, is one a reader would operate.

    Parameters
    ----------
    model_id : str
        The widget's model id.
    state : dict
        The saved widget state (see :func:`widget_html`).

    Returns
    -------
    bool
        True when the widget or one of its children (at any depth) has a
        model name ending in one of :data:`CONTROL_SUFFIXES`.
    """
    seen, todo = set(), [model_id]
    while todo:
        current = todo.pop()
        model = state.get(current)
        if model is None or current in seen:
            continue
        seen.add(current)
        if model.get("model_name", "").endswith(CONTROL_SUFFIXES):
            return True
        todo.extend(ref for ref in map(_ref, model.get("state", {}).get("children", ())) if ref)
    return False


def widget_html(model_id: str, state: dict) -> str:
    """One widget view as static HTML, from the saved widget state.

    Parameters
    ----------
    model_id : str
        The ``model_id`` of the view (the widget the cell displayed).
    state : dict
        The ``state`` mapping of the notebook's
        ``application/vnd.jupyter.widget-state+json`` metadata: model id to
        ``{"model_name", "state", "buffers"}``.

    Returns
    -------
    str
        A ``<div class="spchain-static-widget">`` with the widget drawn
        from its state, headed by :data:`NOTE` when it has controls
        (:func:`has_controls`); when the state does not hold the model, a
        line says that the widget was not saved.
    """
    body = _render(model_id, state, frozenset())
    if not body:
        body = ('<p class="spchain-widget-missing">The notebook did not save this widget\'s '
                'state, so there is nothing to show here.</p>')
    note = (f'<p class="spchain-widget-note">{html.escape(NOTE, quote=False)}</p>'
            if has_controls(model_id, state) else "")
    return (f'<div class="spchain-static-widget" role="group" aria-label="widget snapshot">'
            f'{note}{body}</div>')


def render_widgets_statically(app, doctree) -> None:
    """Replace a page's widget views by static HTML and drop its widget scripts.

    Connected to ``doctree-read``: at that point myst-nb has rendered each
    widget output as a ``<script type="application/vnd.jupyter.widget-view+json">``
    raw node and stored the notebook's widget state among the page's
    JavaScript files; both are replaced here, so the page needs neither
    the state nor the widget manager.

    Parameters
    ----------
    app : sphinx.application.Sphinx
        The application.
    doctree : docutils.nodes.document
        The page just read.
    """
    docname = app.env.docname
    metadata = getattr(app.env, "nb_metadata", {}).get(docname, {})
    scripts = metadata.get("js_files", {})
    saved = scripts.pop("ipywidgets_state", None)
    for key in [k for k in scripts if k.startswith("ipywidgets_")]:
        del scripts[key]
    state = {}
    if saved is not None:
        state = json.loads(saved[1]["body"]).get("state", {})
    for node in list(doctree.findall(nodes.raw)):
        match = _VIEW.match(node.astext())
        if match is None:
            continue
        view = json.loads(match.group(1))
        node.replace_self(nodes.raw("", widget_html(view.get("model_id", ""), state), format="html"))


def setup(app):
    """Register the handlers (``doctree-read`` after myst-nb, ``build-finished``)."""
    app.connect("doctree-read", render_widgets_statically)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
