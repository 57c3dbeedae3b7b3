"""Draw the layer diagram of ``docs/architecture.md`` into ``docs/_static/architecture.png``.

The layers and who may import whom come from the import-rules test
(``tests/test_imports.py``: ``MAY_IMPORT``), so the figure shows the rules
the test enforces; the modules of each layer come from walking ``spchain/``.
The PNG keeps what it shows as JSON in its ``Description`` text chunk
(:func:`contents`); ``tests/test_architecture_doc.py`` fails when that no
longer matches the package.  Run after adding a module or a layer or
changing the rules (from the repository root)::

    python docs/architecture_diagram.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT / "tests"))
from test_imports import MAY_IMPORT, MODULES, layer  # noqa: E402

OUT = DOCS / "_static" / "architecture.png"

#: Top to bottom, as drawn: (layer, package, what it owns).
LAYERS = (
    ("apps", "spchain.apps", "front ends: command line, scenario files, report, workshop and its web server"),
    ("viz", "spchain.viz", "charts: the only layer that imports Matplotlib"),
    ("fitting", "spchain.fitting", "fitting to data: distributions, links from a panel, calibration; FitResult"),
    ("experiments", "spchain.experiments", "many replications: designs, Experiment, store, statistics, "
                                           "sensitivity, selection, optimisation"),
    ("engine", "spchain.engine", "one replication on SimPy: simulate, Simulation"),
    ("core", "spchain", "the shared specification and records: Params, links, metrics, results, panel, theory"),
)
COLOURS = {"apps": "#f4cccc", "viz": "#fce5cd", "fitting": "#fff2cc", "experiments": "#d9ead3",
           "engine": "#cfe2f3", "core": "#d9d2e9"}


def modules_of(name: str) -> list[str]:
    """The modules of a layer by short name; a subpackage's own modules in brackets after it."""
    found: dict[str, list[str]] = {}
    for module in MODULES:
        if module == "spchain" or layer(module) != name or module.endswith(".__main__"):
            continue
        parts = module.split(".")[1 if name == "core" else 2:]
        if parts:
            found.setdefault(parts[0], []).extend(parts[1:2])
    return [f"{short} ({', '.join(inner)})" if inner else short for short, inner in found.items()]


def contents() -> str:
    """What the diagram shows, as JSON: each layer's modules and the layers it may import.

    Saved in the PNG's ``Description`` text chunk, so that a test can tell
    a stale picture from a current one.
    """
    return json.dumps({name: {"modules": modules_of(name), "may_import": sorted(MAY_IMPORT[name])}
                       for name, _, _ in LAYERS}, sort_keys=True)


def draw(path: Path = OUT) -> Path:
    """Draw the diagram and save it as a PNG at ``path``."""
    height, gap, width = 1.0, 0.35, 9.0
    order = [name for name, _, _ in LAYERS]
    y_of = {name: (len(LAYERS) - 1 - row) * (height + gap) for row, name in enumerate(order)}
    # one arrow per allowed import between layers (importer -> imported); short ones nearest the boxes
    arrows = sorted(((a, b) for a in order for b in MAY_IMPORT[a] if a != b),
                    key=lambda pair: (order.index(pair[1]) - order.index(pair[0]), order.index(pair[0])))
    right = width + 0.45 + 0.2 * len(arrows)
    fig, ax = plt.subplots(figsize=(10.5, 7.6), dpi=130)
    for name, package, owns in LAYERS:
        y = y_of[name]
        ax.add_patch(FancyBboxPatch((0, y), width, height, boxstyle="round,pad=0.02,rounding_size=0.08",
                                    facecolor=COLOURS[name], edgecolor="#444444", linewidth=1.0))
        ax.text(0.15, y + height - 0.14, name, fontsize=13, fontweight="bold", va="top")
        ax.text(2.0, y + height - 0.17, package + ("  (its top-level modules)" if name == "core" else ""),
                fontsize=9.5, family="monospace", va="top", color="#333333")
        ax.text(0.15, y + height - 0.5, owns, fontsize=9, va="top", color="#222222")
        ax.text(0.15, y + 0.1, ", ".join(modules_of(name)), fontsize=7.8, family="monospace",
                va="bottom", color="#555555")
    leaving = {name: 0 for name in order}
    arriving = {name: 0 for name in order}
    for k, (importer, imported) in enumerate(arrows):
        x = width + 0.3 + 0.2 * k
        y_start = y_of[importer] + 0.9 * height - 0.1 * leaving[importer]
        y_end = y_of[imported] + 0.45 * height - 0.08 * arriving[imported]
        leaving[importer] += 1
        arriving[imported] += 1
        ax.plot([width + 0.04, x, x], [y_start, y_start, y_end], color="#666666", linewidth=0.9)
        ax.add_patch(FancyArrowPatch((x, y_end), (width + 0.04, y_end), arrowstyle="-|>", mutation_scale=9,
                                     linewidth=0.9, color="#666666"))
    ax.set_xlim(-0.1, right)
    ax.set_ylim(-0.15, len(LAYERS) * (height + gap) - gap + 0.45)
    ax.text(0, len(LAYERS) * (height + gap) - gap + 0.15,
            "A module imports its own layer and the layers its arrows reach (tests/test_imports.py)",
            fontsize=10.5, va="bottom")
    ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None, "Description": contents()})
    plt.close(fig)
    return path


if __name__ == "__main__":
    print(draw())
