"""``spchain.viz.output``: what the front ends need of Matplotlib, drawn in viz."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from spchain.fitting.estimation import fit_links  # noqa: E402
from spchain.fitting.synthetic import structural_panel  # noqa: E402
from spchain.viz.output import name_the_currency, new_figure, write_fit_charts  # noqa: E402


def test_new_figure_has_the_size_and_layout_asked_for():
    fig = new_figure(9, 4.5)
    assert tuple(fig.get_size_inches()) == (9, 4.5)
    assert type(fig.get_layout_engine()).__name__ == "ConstrainedLayoutEngine"
    assert new_figure(3, 2, None).get_layout_engine() is None


def test_every_money_names_the_currency_but_money_units_stay():
    fig = new_figure(4, 3)
    ax = fig.add_subplot()
    ax.set_ylabel("profit (money, total of weeks 14-104)")
    ax.set_title("revenue in money units")
    label = fig.text(0.5, 0.5, "money money moneyless")
    name_the_currency(fig, "EUR")
    assert ax.get_ylabel() == "profit (EUR, total of weeks 14-104)"
    assert ax.get_title() == "revenue in money units"
    assert label.get_text() == "EUR EUR moneyless"


def test_write_fit_charts_writes_one_chart_per_fitted_equation(tmp_path):
    fit = fit_links(structural_panel(n_units=30, n_periods=12, seed=3), unit_effects=False)
    equations = [eq["name"] for eq in fit.diagnostics["equations"]]
    assert len(equations) >= 2
    files = write_fit_charts(fit, tmp_path / "plots")
    expected = {tmp_path / "plots" / f"fit-{name}.{suffix}" for name in equations for suffix in ("png", "svg")}
    assert set(files) == expected
    assert all(path.stat().st_size > 1000 for path in expected)
    assert (tmp_path / "plots" / f"fit-{equations[0]}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
