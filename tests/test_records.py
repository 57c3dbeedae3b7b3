"""Per-event records, KPI windows and the run's panel.

Each kind of record is checked against the engine's own weekly counters
(the records are a finer view of the same events, so every count and sum
must agree exactly); recording must not move any random draw;
``RunResult.total(start=, stop=)`` against a hand computation from the
fields; ``RunResult.to_panel()`` against ``kpi(..., by_unit=True)`` and
through :func:`spchain.fit_links`.
"""

from __future__ import annotations

import numpy as np
import pytest

from spchain import Change, ParamError, fit_links, preset, read_panel, simulate
from spchain.records import RECORDS, record_kinds
from spchain.engine.run import Simulation

HORIZON = 12


def _params():
    # two units, frequent quits and quick hires, so every kind has rows
    return preset("workshop").override({"organisation.n_units": 2, "workforce.base_quit_rate": 2.0,
                                        "workforce.time_to_fill_weeks": 0.5})


@pytest.fixture(scope="module")
def run():
    return simulate(_params(), horizon=HORIZON, seed=3, record_events=True)


def _per_unit_week(r, rec, weights=None):
    """Counts (or sums of ``weights``) of records per (week, unit), shape like ``sums[..., 0]``."""
    out = np.zeros((r.horizon, r.n_units))
    np.add.at(out, (rec["week"], rec["unit"]), 1.0 if weights is None else weights)
    return out


def _field(r, name):
    return np.stack([r.field(name, u) for u in range(r.n_units)], axis=1)


# ------------------------------------------------------------ what is kept
def test_nothing_is_recorded_by_default():
    r = simulate(_params(), horizon=2, seed=3)
    assert r.events is None and r.recorded == ()
    with pytest.raises(ValueError, match="kept no 'surveys' records"):
        r.records("surveys")


def test_record_events_true_keeps_every_kind(run):
    assert run.recorded == tuple(RECORDS)
    assert set(run.events) == set(RECORDS)
    for kind in RECORDS:
        assert len(run.records(kind)["unit"]) > 0, kind  # the fixture exercises every kind
    assert len(run.records("served")["unit"]) == run.field("served").sum()
    assert len(run.records("abandoned")["unit"]) == run.field("abandoned").sum()


def test_one_kind_records_only_that_kind():
    r = simulate(_params(), horizon=3, seed=3, record="churn")
    assert r.recorded == ("churn",) and list(r.events) == ["churn"]
    assert len(r.records("churn")["customer"]) == r.field("churned").sum()
    with pytest.raises(ValueError, match="kept no 'quits' records"):
        r.records("quits")
    r2 = simulate(_params(), horizon=3, seed=3, record=("hires", "surveys"))
    assert r2.recorded == ("surveys", "hires")


def test_bad_record_requests_fail_before_the_run(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the engine was started")

    monkeypatch.setattr("spchain.engine.run.Engine", boom)
    with pytest.raises(ParamError, match=r"unknown record kind 'survey'.*'surveys'"):
        simulate(_params(), horizon=2, seed=1, record=("survey",))
    with pytest.raises(ParamError, match="record must be True, 'all', a record kind"):
        simulate(_params(), horizon=2, seed=1, record=3)
    with pytest.raises(ParamError, match="not both"):
        simulate(_params(), horizon=2, seed=1, record_events=True, record="churn")
    with pytest.raises(ParamError, match="unknown record kind"):
        Simulation(_params(), horizon=2, seed=1, record="surveyz")


def test_record_kinds_normalises():
    assert record_kinds(None) == record_kinds(False) == record_kinds(()) == ()
    assert record_kinds(True) == record_kinds("all") == tuple(RECORDS)
    assert record_kinds(["quits", "served"]) == ("served", "quits")


def test_unknown_kind_on_a_result(run):
    with pytest.raises(KeyError, match="unknown record kind 'churned'"):
        run.records("churned")


def test_recording_changes_no_random_draw(run):
    plain = simulate(_params(), horizon=HORIZON, seed=3)
    assert np.array_equal(plain.sums, run.sums)
    assert np.array_equal(plain.department_sums, run.department_sums)


# ------------------------------------------------------ against the counters
def test_survey_records_match_the_counters(run):
    s = run.records("surveys")
    assert _per_unit_week(run, s).tolist() == _field(run, "responses").tolist()
    assert np.allclose(_per_unit_week(run, s, s["csat"]), _field(run, "csat_sum"), rtol=0, atol=0)
    assert np.array_equal(_per_unit_week(run, s, s["ltr"] >= 9), _field(run, "promoters"))
    assert np.array_equal(_per_unit_week(run, s, s["ltr"] <= 6), _field(run, "detractors"))
    assert set(np.unique(s["csat"])) <= {1, 2, 3, 4, 5} and s["ltr"].min() >= 0 and s["ltr"].max() <= 10
    assert np.all((s["satisfaction"] >= 0) & (s["satisfaction"] <= 1))
    for w in range(run.horizon):  # the KPI is the mean of the responses
        week = s["week"] == w
        assert s["csat"][week].mean() == pytest.approx(run.kpi("csat")[w], rel=1e-12)
        assert s["csat"][week & (s["unit"] == 1)].mean() == pytest.approx(run.kpi("csat", 1)[w], rel=1e-12)
    ltr = s["ltr"]
    assert 100.0 * (np.mean(ltr >= 9) - np.mean(ltr <= 6)) == pytest.approx(run.total("nps"), rel=1e-12)


def test_churn_records_match_the_counters(run):
    c = run.records("churn")
    assert np.array_equal(_per_unit_week(run, c), _field(run, "churned"))
    assert np.all((c["satisfaction"] >= 0) & (c["satisfaction"] <= 1))
    for (u, w) in {(int(u), int(w)) for u, w in zip(c["unit"], c["week"])}:  # a slot churns once a week
        slots = c["customer"][(c["unit"] == u) & (c["week"] == w)]
        assert np.unique(slots).size == slots.size


def test_acquisition_records_match_the_counters(run):
    a = run.records("acquisition")
    assert set(np.unique(a["source"])) <= {"referral", "marketing"}
    assert np.array_equal(_per_unit_week(run, a), _field(run, "acquired"))
    assert np.array_equal(_per_unit_week(run, a, a["source"] == "referral"), _field(run, "referred"))
    # a churned customer's slot is reused from the next week on, never in the week of the churn
    c = run.records("churn")
    churned = {(int(u), int(w), int(s)) for u, w, s in zip(c["unit"], c["week"], c["customer"])}
    acquired = {(int(u), int(w), int(s)) for u, w, s in zip(a["unit"], a["week"], a["customer"])}
    assert not churned & acquired


def test_quit_and_hire_records_match_the_counters(run):
    H = run.params.organisation.hours_per_week
    for kind, name in (("quits", "quits"), ("hires", "hires")):
        q = run.records(kind)
        assert np.array_equal(_per_unit_week(run, q), _field(run, name)), kind
        assert np.all((q["week"] * H <= q["time"]) & (q["time"] <= (q["week"] + 1) * H)), kind
        assert np.all(np.diff(q["time"][q["unit"] == 0]) >= 0), kind  # in time order within a unit
    q = run.records("quits")
    assert np.all(q["tenure"] >= 0) and np.all((q["satisfaction"] >= 0) & (q["satisfaction"] <= 1))
    n = run.params.workforce.n_employees
    assert np.all((q["position"] >= 0) & (q["position"] < n))


def test_records_of_a_simulation_in_pieces_equal_one_run():
    sim = Simulation(_params(), horizon=6, seed=3, record=("quits", "churn"))
    first = sim.advance(3)
    assert len(first.records("churn")["week"]) == first.field("churned").sum()
    whole = sim.advance(6)
    one = simulate(_params(), horizon=6, seed=3, record=("quits", "churn"))
    for kind in ("quits", "churn"):
        a, b = whole.records(kind), one.records(kind)
        assert all(np.array_equal(a[k], b[k]) for k in a), kind


def test_records_frame(run):
    pytest.importorskip("pandas")
    frame = run.records_frame("acquisition")
    assert list(frame.columns) == [name for name, _ in RECORDS["acquisition"]]
    assert len(frame) == run.field("acquired").sum()


# ------------------------------------------------------------------ windows
def test_total_over_a_window_matches_a_hand_computation(run):
    start, stop = 3, 9
    n = stop - start
    f = lambda name: run.field(name)[start:stop]  # noqa: E731
    assert run.total("revenue", start=start, stop=stop) == pytest.approx(f("revenue").sum(), rel=1e-12)
    assert run.total("headcount", start=start, stop=stop) == pytest.approx(f("headcount").mean(), rel=1e-12)
    assert run.total("csat", start=start, stop=stop) == pytest.approx(
        f("csat_sum").sum() / f("responses").sum(), rel=1e-12)
    assert run.total("turnover", start=start, stop=stop) == pytest.approx(
        52.0 * f("quits").sum() / n / f("headcount").mean(), rel=1e-12)
    assert run.total("retention", start=start, stop=stop) == pytest.approx(
        (1.0 - f("churned").sum() / n / f("customers_start").mean()) ** 52, rel=1e-12)
    u = run.field("served", 1)[start:stop].sum()
    assert run.total("served", start=start, stop=stop, unit=1) == pytest.approx(u, rel=1e-12)
    # the default stop is the horizon: the old behaviour
    for name in ("profit", "turnover", "csat", "active_customers"):
        assert run.total(name, start=2) == run.total(name, start=2, stop=run.horizon)


@pytest.mark.parametrize("start, stop, match", [
    (5, 5, "stop must be"), (5, 2, "stop must be"), (0, HORIZON + 1, "stop must be"),
    (-1, 4, "start must be in"), (HORIZON, None, "start must be in"), (0, True, "stop must be"),
    (0, 2.0, "stop must be"),
])
def test_total_window_is_validated(run, start, stop, match):
    with pytest.raises(ValueError, match=match):
        run.total("revenue", start=start, stop=stop)


# -------------------------------------------------------------------- panel
def test_panel_columns_equal_the_kpis(run):
    panel = run.to_panel()
    assert panel.n_units == run.n_units and panel.n_periods == run.horizon
    assert np.array_equal(panel["unit"], np.repeat(np.arange(run.n_units), run.horizon))
    assert np.array_equal(panel["period"], np.tile(np.arange(run.horizon), run.n_units))
    for name in run.metrics:
        by_unit = run.kpi(name, by_unit=True)
        for u in range(run.n_units):
            assert np.array_equal(panel[name][panel["unit"] == u], by_unit[:, u], equal_nan=True), name
    for name in ("quits", "churned", "customers_start", "responses"):
        assert np.array_equal(panel[name], np.concatenate([run.field(name, u) for u in range(run.n_units)]))
    assert panel.truth["links.quit_from_satisfaction"] == run.params.links.quit_from_satisfaction
    assert panel.meta["seed"] == run.seed


def test_panel_window_levers_and_csv_round_trip(tmp_path):
    p = _params().with_changes(Change(at_week=5, path="workforce.recognition", value=0.4))
    r = simulate(p, horizon=8, seed=2)
    panel = r.to_panel(start=2, levers=["workforce.recognition"])
    assert np.array_equal(np.unique(panel["period"]), np.arange(2, 8))
    rec = panel["recognition"][panel["unit"] == 0]
    assert rec.tolist() == [p.get("workforce.recognition")] * 3 + [0.4] * 3
    back = read_panel(panel.to_csv(tmp_path / "run.csv"))
    assert back.columns == panel.columns and back.truth == panel.truth
    for name in panel.columns:
        assert np.allclose(back[name], panel[name], rtol=1e-12, atol=0, equal_nan=True), name
    with pytest.raises(ValueError, match="start must be"):
        r.to_panel(start=8)
    with pytest.raises(ParamError):
        r.to_panel(levers=["workforce.no_such_lever"])
    with pytest.raises(ValueError, match="already in the panel"):
        r.to_panel(levers=["workforce.recognition", "workforce.recognition"])


def test_fit_links_takes_a_run_panel():
    fit = fit_links(simulate(preset("bank_branches"), horizon=30, seed=1).to_panel())
    assert np.isfinite(fit.estimates["links.quality_from_satisfaction"])
    assert np.isfinite(fit.estimates["customer_satisfaction: service_quality"])
