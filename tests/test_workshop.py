"""Workshop tools: regimes, round-by-round play, and the what-if panel (without a browser)."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

from spchain import ParamError, preset, simulate
from spchain.apps.workshop import LEVERS, QUARTER, Game, regimes


def test_importing_the_module_imports_neither_matplotlib_nor_ipywidgets():
    code = ("import sys, spchain.apps.workshop; "
            "bad = [m for m in ('matplotlib', 'ipywidgets', 'pandas') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_regimes_share_the_seed_and_differ_in_internal_service():
    runs = regimes(horizon=26, seed=3)
    assert list(runs) == ["cycle of failure", "baseline", "cycle of success"]
    isq = {name: r.total("internal_service_quality") for name, r in runs.items()}
    assert isq["cycle of failure"] < isq["baseline"] < isq["cycle of success"]
    assert all(r.seed == 3 and r.horizon == 26 for r in runs.values())


def test_regimes_hide_only_the_failure_runs_expected_capacity_warning():
    import warnings

    from spchain.engine.units import CapacityWarning

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        regimes(horizon=2, seed=3)
    assert not [w for w in seen if issubclass(w.category, CapacityWarning)]
    # the failure run's IT is overloaded: simulated on its own, it warns
    poor = {"internal.departments.it.n_staff": 1, "internal.departments.it.service_time_hours": 6.0,
            "internal.departments.it.ftr_prob": 0.4, "internal.departments.back_office.ftr_prob": 0.4}
    with pytest.warns(CapacityWarning, match="offered load it"):
        simulate(preset("workshop").override(poor), horizon=2, seed=3)
    # an overloaded base still warns through regimes (its baseline run is not hidden)
    with pytest.warns(CapacityWarning, match="back_office"):
        regimes(preset("workshop").override({"internal.departments.back_office.n_staff": 1,
                                             "internal.departments.back_office.service_time_hours": 15.0}),
                horizon=2, seed=3)


def test_history_of_completed_quarters_stays_identical():
    game = Game(quarters=3, seed=5)
    first = game.play({"workforce.recognition": 0.8})
    second = game.play({"internal.tools_spend_per_week": 5000.0})
    third = game.play()
    assert (first.horizon, second.horizon, third.horizon) == (QUARTER, 2 * QUARTER, 3 * QUARTER)
    assert np.array_equal(first.sums, third.sums[:QUARTER])
    assert np.array_equal(second.sums, third.sums[:2 * QUARTER])
    assert game.finished
    with pytest.raises(ParamError, match="game is over"):
        game.play()


def test_rounds_continue_the_run_and_match_one_run_with_the_whole_schedule():
    game = Game(quarters=4, seed=9)
    choices = [{"workforce.recognition": 0.6}, {}, {"internal.departments.it.n_staff": 4,
                                                     "economics.price_index": 1.1}, {"workforce.pay_index": 1.2}]
    for choice in choices:
        result = game.play(choice)
    whole = simulate(game._scheduled(game.rounds), horizon=4 * QUARTER, seed=9)
    assert np.array_equal(result.sums, whole.sums)
    assert np.array_equal(result.department_sums, whole.department_sums)
    assert np.array_equal(game.baseline().sums, simulate(preset("workshop"), horizon=4 * QUARTER, seed=9).sums)
    # each round simulated one quarter, not the game from week 0
    assert game._play.week == 4 * QUARTER


def test_simulation_in_pieces_refuses_run_fixed_changes_before_simulating():
    from spchain.engine.run import Simulation

    sim = Simulation(preset("workshop"), horizon=10, seed=1)
    sim.advance(3)
    with pytest.raises(ParamError, match="customers.n_customers is fixed for a whole run"):
        sim.advance(6, params=preset("workshop").override({"customers.n_customers": 100}))
    with pytest.raises(ParamError, match="until_week"):
        sim.advance(2)
    assert sim.week == 3
    np.testing.assert_array_equal(sim.advance(10).sums, simulate(preset("workshop"), horizon=10, seed=1).sums)


def test_levers_take_effect_at_the_start_of_their_quarter():
    game = Game(quarters=2, seed=2)
    game.play()
    result = game.play({"internal.tools_spend_per_week": 8000.0})
    base = simulate(preset("workshop"), horizon=2 * QUARTER, seed=2)
    # identical before week 13, different from week 13 on
    assert np.array_equal(result.sums[:QUARTER], base.sums[:QUARTER])
    assert not np.array_equal(result.sums[QUARTER], base.sums[QUARTER])
    changes = [(c.at_week, c.path, c.value) for c in result.params.schedule]
    assert changes == [(QUARTER, "internal.tools_spend_per_week", 8000.0)]
    assert result.params.at_week(QUARTER - 1).internal.tools_spend_per_week == 0.0
    assert result.params.at_week(QUARTER).internal.tools_spend_per_week == 8000.0
    assert game.levers()["internal.tools_spend_per_week"] == 8000.0


def test_unchanged_levers_schedule_nothing_and_a_bad_round_is_not_played():
    game = Game(quarters=3, seed=1)
    game.play({"workforce.pay_index": 1.0})  # already 1.0
    assert game.result.params.schedule == ()
    with pytest.raises(ParamError, match="not a lever"):
        game.play({"workforce.n_employees": 12})
    with pytest.raises(ParamError, match="pay_index"):
        game.play({"workforce.pay_index": -1.0})
    assert game.week == QUARTER  # neither failed round counted


def test_summary_and_debrief_chart():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    game = Game(quarters=2, seed=1)
    assert "No quarter" in game.summary()
    game.play({"workforce.recognition": 0.5})
    game.play({"workforce.training_hours": 3.0})
    text = game.summary()
    assert "recognition=0.5" in text and "training_hours=3" in text
    fig = game.plot_debrief(metrics=["employee_satisfaction", "profit"])
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:2] == ["baseline", "your path"]
    assert game.baseline().horizon == 2 * QUARTER
    # the second quarter's change is marked on every panel, between its last week and the next
    # (week w is drawn at x = w, so the quarter starting at week 14 starts at 13.5)
    for panel in [ax for ax in fig.axes if ax.get_visible() and ax.lines]:
        assert any(np.allclose(line.get_xdata(), QUARTER + 0.5) for line in panel.lines)


def test_what_if_panel_re_runs_and_redraws_on_a_slider_change():
    pytest.importorskip("ipywidgets")
    pytest.importorskip("matplotlib")
    from spchain.apps.workshop import WhatIf, what_if_panel

    panel = what_if_panel(horizon=8, seed=1)
    state = panel.what_if
    assert isinstance(state, WhatIf)
    assert set(state.sliders) == {lever.path for lever in LEVERS}
    first_image = state.image.value
    assert first_image[:4] == b"\x89PNG"
    # moving a slider is what a participant does: the observer re-runs and redraws
    state.sliders["internal.tools_spend_per_week"].value = 6000.0
    assert state.n_updates == 1
    assert state.result.params.internal.tools_spend_per_week == 6000.0
    assert not np.array_equal(state.result.sums, state.baseline.sums)
    assert state.image.value != first_image
    assert "tools_spend_per_week=6,000" in state.status.value
    state.reset()
    assert state.changed() == {}
    assert np.array_equal(state.result.sums, state.baseline.sums)


def test_what_if_integer_lever_uses_an_integer_slider():
    w = pytest.importorskip("ipywidgets")
    pytest.importorskip("matplotlib")
    from spchain.apps.workshop import WhatIf

    state = WhatIf(levers=["internal.departments.it.n_staff"], horizon=4, seed=1,
                   metrics=["internal_service_quality"])
    slider = state.sliders["internal.departments.it.n_staff"]
    assert isinstance(slider, w.IntSlider)
    slider.value = 4
    assert state.result.params.internal.department("it").n_staff == 4


def test_unknown_lever_is_refused():
    with pytest.raises(ParamError, match="unknown lever"):
        Game(levers=["workforce.nonsense"])


def _tick_labels(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()  # tick labels get their text when drawn
    texts = []
    for ax in fig.axes:
        if ax.get_visible():
            texts += [t.get_text() for t in ax.get_xticklabels(minor=True) + ax.get_xticklabels()]
            texts += [t.get_text() for t in ax.get_yticklabels()]
            texts += [ax.yaxis.get_offset_text().get_text(), ax.xaxis.get_offset_text().get_text()]
    return texts


def test_debrief_draws_4_week_means_labels_rounds_and_writes_money_for_people():
    pytest.importorskip("matplotlib")
    from spchain.viz.plotting import trailing_kpi

    game = Game(quarters=3, seed=4)
    for choice in ({"economics.price_index": 1.1}, {}, {"internal.tools_spend_per_week": 3000.0}):
        game.play(choice)
    names = ["turnover", "active_customers", "revenue", "profit"]
    fig = game.plot_debrief(metrics=names)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    for ax, name in zip(panels, names):
        base, mine = ax.lines[:2]
        np.testing.assert_allclose(mine.get_ydata(), trailing_kpi(game.result.sums.sum(axis=1), name, 4))
        np.testing.assert_allclose(base.get_ydata(), trailing_kpi(game.baseline().sums.sum(axis=1), name, 4))
        # rounds: a line where each round after the first starts, dashed only where levers changed
        starts = {float(line.get_xdata()[0]): line.get_linestyle() for line in ax.lines[2:]}
        assert starts.keys() == {QUARTER + 0.5, 2 * QUARTER + 0.5}
        assert starts[2 * QUARTER + 0.5] != "-" and starts[QUARTER + 0.5] == "-"
    texts = _tick_labels(fig)
    assert {"Q1", "Q2", "Q3"} <= set(texts)
    assert not [t for t in texts if "e+" in t or "e-" in t], texts
    money = [t.get_text() for ax in panels[2:] for t in ax.get_yticklabels() if t.get_text()]
    assert money and all(t.endswith("k") or t == "0" for t in money), money  # revenue and profit reach 10,000
    assert "levers changed" in [t.get_text() for t in fig.legends[0].get_texts()]
    # raw on request: smooth=1 draws the weekly KPI itself
    raw = game.plot_debrief(metrics=["turnover"], smooth=1)
    np.testing.assert_allclose(raw.axes[0].lines[1].get_ydata(), game.result.kpi("turnover"))
    assert np.nanmax(game.result.kpi("turnover")) > np.nanmax(trailing_kpi(game.result.sums.sum(axis=1),
                                                                            "turnover", 4))
    with pytest.raises(ParamError, match="smooth must be a whole number of weeks >= 1"):
        game.plot_debrief(smooth=0)


def test_summary_names_a_levers_department_and_formats_money_and_shares():
    from spchain.apps.report import format_number
    from spchain.apps.workshop import lever_change_text

    game = Game(quarters=2, seed=3)
    game.play({"internal.departments.it.n_staff": 4, "internal.tools_spend_per_week": 2500.0})
    text = game.summary(metrics=("sla_attainment", "profit"))
    assert "n_staff=4 (internal: it)" in text and "tools_spend_per_week=2,500" in text
    assert "e+" not in text
    profit, base = game.result.total("profit"), game.baseline().total("profit")
    assert abs(profit) >= 10000  # a quarter's profit, so thousands separators are needed
    assert f"{format_number(profit, among=(base,))} ({format_number(profit - base, sign=True, among=(profit,))})" \
        in text
    sla, sla_base = game.result.total("sla_attainment"), game.baseline().total("sla_attainment")
    assert f"{100 * sla:.1f}% ({100 * (sla - sla_base):+.1f} pts)".replace("-", "\u2212") in text
    assert lever_change_text("internal.departments.back_office.ftr_prob", 0.9) == "ftr_prob=0.9 (internal: back_office)"
    assert lever_change_text("workforce.recognition", -0.5) == "recognition=-0.5"


def test_tick_text_writes_thousands_and_millions_for_people():
    from spchain.viz.style import tick_text

    assert tick_text(7500.0, 0.0, 9000.0) == "7,500"
    assert tick_text(12500.0, 0.0, 20000.0) == "12.5k"
    assert tick_text(-2.5e6, -3e6, 1e6) == "\u22122.5M"
    assert tick_text(0.725, 0.6, 0.75) == "0.725"
    assert tick_text(1e-17, 0.0, 1.0) == "0"  # a tick at zero but for rounding


def test_what_if_redraws_only_the_lines_when_they_stay_in_range_and_matches_a_full_drawing():
    pytest.importorskip("ipywidgets")
    pytest.importorskip("matplotlib")
    from spchain.viz.plotting import trailing_kpi
    from spchain.apps.workshop import WhatIf

    metrics = ["employee_satisfaction", "active_customers", "profit"]
    state = WhatIf(horizon=12, seed=2, metrics=metrics)
    assert state.n_full_redraws == 1
    state.sliders["workforce.recognition"].value = 0.8
    assert state.n_updates == 1
    first = state.result
    for (ax, name, base, mine) in state._panels:
        np.testing.assert_allclose(mine.get_ydata(), trailing_kpi(first.sums.sum(axis=1), name, 4))
        np.testing.assert_allclose(base.get_ydata(), trailing_kpi(state.baseline.sums.sum(axis=1), name, 4))
        low, high = ax.get_ylim()
        assert low <= np.nanmin(mine.get_ydata()) and np.nanmax(mine.get_ydata()) <= high
    # a smaller step of the same lever stays inside every panel's range: only the lines are drawn
    fulls = state.n_full_redraws
    limits = [ax.get_ylim() for ax, *_ in state._panels]
    state.sliders["workforce.recognition"].value = 0.7
    assert [ax.get_ylim() for ax, *_ in state._panels] == limits
    assert state.n_full_redraws == fulls
    # drawn over the saved image, it is the figure as a full drawing shows it
    shown, full = _shown_and_full(state)
    assert shown.shape == full.shape
    differs = np.any(shown != full, axis=-1)
    assert differs.mean() < 0.002, differs.mean()  # at most where a line crosses a frame's edge
    # a combination seen before is not run again
    state.sliders["workforce.recognition"].value = 0.8
    assert state.result is first and state.n_updates == 3
    assert "model 0.00 s" in state.status.value


def _shown_and_full(state):
    """The panel's image and a full drawing of its figure, as RGBA arrays."""
    from PIL import Image

    shown = np.asarray(Image.open(io.BytesIO(state.image.value)).convert("RGBA"))
    state.figure.canvas.draw()
    return shown, np.asarray(state.figure.canvas.buffer_rgba())


def test_what_if_a_change_out_of_range_redraws_that_panel_alone():
    pytest.importorskip("ipywidgets")
    pytest.importorskip("matplotlib")
    from spchain.apps.workshop import WhatIf

    state = WhatIf(horizon=12, seed=2, metrics=["employee_satisfaction", "active_customers", "revenue"])
    (sat, *_), (customers, *_), (revenue, *_, revenue_line) = state._panels
    kept = sat.get_ylim(), customers.get_ylim()
    state.sliders["economics.price_index"].value = 1.5  # revenue leaves the baseline's range
    assert state.n_full_redraws == 1
    # the price acts on revenue at once; the people's panel keeps its range and is not drawn again
    assert sat.get_ylim() == kept[0]
    assert 1 <= state.n_panel_redraws <= 2
    low, high = revenue.get_ylim()
    y = revenue_line.get_ydata()
    assert low <= np.nanmin(y) and np.nanmax(y) <= high
    shown, full = _shown_and_full(state)
    differs = np.any(shown != full, axis=-1)
    assert differs.mean() < 0.002, differs.mean()  # the cleared place shows no trace of the old ticks


def test_what_if_draws_everything_again_when_a_panel_would_reach_into_another():
    pytest.importorskip("ipywidgets")
    pytest.importorskip("matplotlib")
    from matplotlib.transforms import Bbox

    from spchain.apps.workshop import WhatIf

    state = WhatIf(horizon=8, seed=2, metrics=["revenue", "profit"])
    revenue = state._panels[0][0]
    low, high = revenue.get_ylim()
    revenue.set_ylim(low, low + (high - low) / 10)  # the data no longer fit: this panel must change
    state._boxes[1] = Bbox.union([state._boxes[0], state._boxes[1]])  # as if profit's labels sat next to it
    state.redraw()
    assert state.n_full_redraws == 2 and state.n_panel_redraws == 0


def test_what_if_refuses_bad_settings_before_running():
    pytest.importorskip("ipywidgets")
    from spchain.apps.workshop import WhatIf

    with pytest.raises(ParamError, match="horizon must be an integer >= 1"):
        WhatIf(horizon=0)
    with pytest.raises(ParamError, match="smooth must be"):
        WhatIf(horizon=4, smooth=0)
    with pytest.raises(ParamError, match="cache must be"):
        WhatIf(horizon=4, cache=-1)
