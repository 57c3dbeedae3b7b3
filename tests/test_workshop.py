"""Workshop tools: regimes, round-by-round play, and the what-if panel (without a browser)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from spchain import ParamError, preset, simulate
from spchain.workshop import LEVERS, QUARTER, Game, regimes


def test_importing_the_module_imports_neither_matplotlib_nor_ipywidgets():
    code = ("import sys, spchain.workshop; "
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
    from spchain.run import Simulation

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
    # the second quarter's change is marked on every panel
    panel = [ax for ax in fig.axes if ax.get_visible() and ax.lines][0]
    assert any(np.allclose(line.get_xdata(), QUARTER) for line in panel.lines)


def test_what_if_panel_re_runs_and_redraws_on_a_slider_change():
    pytest.importorskip("ipywidgets")
    pytest.importorskip("matplotlib")
    from spchain.workshop import WhatIf, what_if_panel

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
    assert "tools_spend_per_week = 6000" in state.status.value
    state.reset()
    assert state.changed() == {}
    assert np.array_equal(state.result.sums, state.baseline.sums)


def test_what_if_integer_lever_uses_an_integer_slider():
    w = pytest.importorskip("ipywidgets")
    pytest.importorskip("matplotlib")
    from spchain.workshop import WhatIf

    state = WhatIf(levers=["internal.departments.it.n_staff"], horizon=4, seed=1,
                   metrics=["internal_service_quality"])
    slider = state.sliders["internal.departments.it.n_staff"]
    assert isinstance(slider, w.IntSlider)
    slider.value = 4
    assert state.result.params.internal.department("it").n_staff == 4


def test_unknown_lever_is_refused():
    with pytest.raises(ParamError, match="unknown lever"):
        Game(levers=["workforce.nonsense"])
