"""Checks that a drawn figure reads cleanly, as a person sees it (issue 15, item 1).

:func:`assert_texts_readable` draws a figure with the Agg renderer, records every text that
is really drawn (titles, axis labels, tick labels, legend texts, annotations, the chain
diagram's texts) and asserts that

* each text lies inside the figure (nothing cut at its edge),
* no two texts overlap,
* no text sits on a marker (a point of a line or an error bar),
* no text crosses or touches the edge of a box (a diagram stage, a bar): it is wholly inside or clear outside,
* no text of one axes (a tick label, an axis label) reaches into another axes' plot area.

Failures name the texts and their boxes in pixels, so a broken chart says what broke.
"""

from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox

#: Pixels two boxes may share before they count as overlapping (anti-aliasing, rounding).
TOLERANCE = 1.0

#: Pixels a text outside a box keeps from its edge (more than TOLERANCE: it must not touch it).
CLEARANCE = 2.0


@contextmanager
def _recording(drawn):
    original = Text.draw

    def draw(self, renderer):
        out = original(self, renderer)
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)
        return out

    with mock.patch.object(Text, "draw", draw):
        yield


def drawn_texts(fig):
    """Draw ``fig`` with Agg; return ``(renderer, [(text, bbox), ...])`` for every text drawn."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    drawn = []
    with _recording(drawn):
        canvas.draw()
    renderer = canvas.get_renderer()
    seen, out = set(), []
    for t in drawn:
        if id(t) not in seen:
            seen.add(id(t))
            out.append((t, t.get_window_extent(renderer)))
    return renderer, out


def _overlap(a, b) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > TOLERANCE and min(a.y1, b.y1) - max(a.y0, b.y0) > TOLERANCE)


def _inside(inner, outer, slack=TOLERANCE) -> bool:
    return (inner.x0 >= outer.x0 - slack and inner.x1 <= outer.x1 + slack
            and inner.y0 >= outer.y0 - slack and inner.y1 <= outer.y1 + slack)


def _name(text, box) -> str:
    return f"{text.get_text()!r} at [{box.x0:.0f}, {box.y0:.0f}, {box.x1:.0f}, {box.y1:.0f}] px"


def _owner(text):
    """The Axes a text belongs to (its title, labels, ticks, annotations), or None for figure texts."""
    a = text.axes
    return a if isinstance(a, Axes) else None


def _markers(fig, renderer):
    """Boxes (px) of every visible marker drawn in the figure's axes."""
    boxes = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for line in ax.get_lines():
            if not line.get_visible() or line.get_marker() in (None, "", " ", "None", "none"):
                continue
            half = line.get_markersize() * fig.dpi / 72.0 / 2.0
            xy = line.get_transform().transform(np.column_stack([line.get_xdata(orig=False),
                                                                 line.get_ydata(orig=False)]))
            for x, y in xy:
                if np.isfinite(x) and np.isfinite(y) and ax.bbox.contains(x, y):
                    boxes.append(Bbox([[x - half, y - half], [x + half, y + half]]))
    return boxes


def _boxes(fig, renderer):
    """Boxes (px) of the drawn stage boxes and bars: patches with an edge a text must not cross."""
    out = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for p in ax.patches:
            if not p.get_visible() or not isinstance(p, (FancyBboxPatch, Rectangle)):
                continue
            if p.get_alpha() is not None and p.get_alpha() < 0.3:  # a light shading (the warm-up), not a box
                continue
            out.append(p.get_window_extent(renderer))
    return out


def readability_problems(fig, *, allow_pairs=()):
    """Every reason ``fig`` does not read cleanly, as a list of sentences (empty: it reads cleanly).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    allow_pairs : iterable of tuple of str
        Pairs of texts (their strings) designed to touch; allowed to overlap.
    """
    renderer, texts = drawn_texts(fig)
    allowed = {frozenset(p) for p in allow_pairs}
    frame = fig.bbox
    problems = []
    for t, box in texts:
        if not _inside(box, frame):
            problems.append(f"outside the figure ({frame.width:.0f} x {frame.height:.0f} px): {_name(t, box)}")
    for i, (a, ba) in enumerate(texts):
        for b, bb in texts[i + 1:]:
            if _overlap(ba, bb) and frozenset((a.get_text(), b.get_text())) not in allowed:
                problems.append(f"texts overlap: {_name(a, ba)} and {_name(b, bb)}")
    for t, box in texts:
        for m in _markers(fig, renderer):
            if _overlap(box, m):
                problems.append(f"text on a marker at ({m.x0:.0f}, {m.y0:.0f}) px: {_name(t, box)}")
                break
        for edge in _boxes(fig, renderer):
            if _overlap(box, edge.padded(CLEARANCE)) and not _inside(box, edge, slack=0.0):
                problems.append(f"text crosses a box edge [{edge.x0:.0f}, {edge.y0:.0f}, {edge.x1:.0f}, "
                                f"{edge.y1:.0f}] px: {_name(t, box)}")
                break
        own = _owner(t)
        for ax in fig.axes:
            if ax is own or not ax.get_visible() or not ax.axison:
                continue
            if _overlap(box, ax.bbox):
                b = ax.bbox
                problems.append(f"text reaches into another axes' plot area [{b.x0:.0f}, {b.y0:.0f}, {b.x1:.0f}, "
                                f"{b.y1:.0f}] px: {_name(t, box)}")
                break
    return problems


def assert_texts_readable(fig, *, allow_pairs=(), what="figure"):
    """Assert that ``fig`` reads cleanly (see the module's docstring); the message lists every problem."""
    problems = readability_problems(fig, allow_pairs=allow_pairs)
    assert not problems, f"{what} does not read cleanly:\n  " + "\n  ".join(problems)
