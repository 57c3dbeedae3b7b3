"""The shared chart helpers of spchain.viz.style: one number formatter, and the package's lazy names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from spchain.viz.style import compact_number, tick_text


def test_compact_number_writes_thousands_and_millions_by_reach():
    assert compact_number(2500.0) == "2,500"  # below 10,000: the number itself
    assert compact_number(12500.0) == "12.5k"
    assert compact_number(-1.25e6) == "\u22121.25M"
    # an axis reaching 2 million writes its 500,000 tick in millions too
    assert compact_number(5e5, reach=2e6) == "0.5M"
    assert compact_number(123456.0, digits=3) == "123k"
    assert compact_number(-1234.0, digits=3, thousands_from=1e3, minus="-") == "-1.23k"


def test_tick_text_is_compact_number_at_the_axis_reach_and_zero_when_rounding():
    assert tick_text(52000.0, 0.0, 1.2e5) == compact_number(52000.0, reach=1.2e5) == "52k"
    assert tick_text(-2.5e6, -3e6, 1e6) == "\u22122.5M"
    assert tick_text(7500.0, 0.0, 9000.0) == "7,500"
    assert tick_text(1e-17, 0.0, 1.0) == "0"


def test_the_workshop_and_the_diagram_write_numbers_with_the_one_formatter():
    from matplotlib.figure import Figure

    from spchain.viz import diagram, style
    from spchain.viz.workshop import readable_ticks

    # a workshop panel of money labels its ticks with tick_text at the axis's reach
    ax = Figure().subplots()
    ax.set_ylim(0.0, 2.4e6)
    readable_ticks(ax, "revenue")
    formatter = ax.yaxis.get_major_formatter()
    assert [formatter(v) for v in (0.0, 12500.0, 1.5e6)] == [style.tick_text(v, 0.0, 2.4e6)
                                                               for v in (0.0, 12500.0, 1.5e6)]
    assert formatter(1.5e6) == "1.5M"
    # the diagram's boxes: 3 significant digits, thousands from 1,000, a hyphen for minus
    assert diagram._fmt(1234.0) == "1.23k"
    assert diagram._fmt(-2.5e6, sign=True) == "-2.5M"
    assert diagram._fmt(1234.0, sign=True) == "+1.23k"
    assert diagram._fmt(250.4) == "250" and diagram._fmt(0.725) == "0.72"


def test_tidy_labels_a_big_value_axis_as_the_workshop_does():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from spchain.viz.style import tidy

    for top, expected in ((2.5e6, {"0", "0.5M", "1M", "1.5M", "2M", "2.5M"}),
                          (60000.0, {"0", "10k", "20k", "30k", "40k", "50k", "60k"})):
        ax = Figure().subplots()
        ax.set_ylim(0.0, top)
        tidy(ax)
        ticks = [t for t in ax.get_yticks() if 0.0 <= t <= top]
        labels = {ax.yaxis.get_major_formatter()(t) for t in ticks}
        assert labels <= expected and len(labels) >= 3, labels
        assert labels == {tick_text(t, 0.0, top) for t in ticks}


def test_the_viz_package_offers_its_charts_lazily():
    code = ("import sys; from spchain.viz import plot_chain_diagram, plot_chain, plot_fit, plot_debrief, tick_text\n"
            "import spchain.viz.diagram as d, spchain.viz.plotting as p, spchain.viz.style as s\n"
            "assert plot_chain_diagram is d.plot_chain_diagram is p.plot_chain_diagram\n"
            "assert tick_text is s.tick_text and p.style is s.style and p.save_figure is s.save_figure\n"
            "print('matplotlib' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"  # importing the charts draws nothing, so Matplotlib waits


def test_no_chart_module_imports_another_for_the_house_style():
    import ast
    from pathlib import Path

    import spchain.viz

    folder = Path(spchain.viz.__file__).parent
    for name in ("diagram", "fitplots", "sensplots", "style"):
        tree = ast.parse((folder / f"{name}.py").read_text(encoding="utf-8"))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 1}
        assert imported <= {"style"}, (name, imported)
