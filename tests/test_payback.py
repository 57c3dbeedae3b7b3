"""``ExperimentResult.payback``: the weeks until an intervention's cumulative gain stays >= 0.

Most tests hand-build an :class:`~spchain.ExperimentResult` whose weekly
profit is chosen, so the payback week is known exactly; the last one runs
the demo's intervention briefly and checks the payback against the runs'
own weekly profit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import spchain
from spchain import Experiment, ExperimentResult, Scenario
from spchain.experiments.analysis import Payback
from spchain.metrics import DEPARTMENT_FIELDS, FIELDS

HORIZON, WARMUP, AT = 12, 2, 4


def _result(scenario_profit, baseline_profit=None, *, at_week=AT):
    """A result whose weekly organisation profit is given: arrays of shape (replications, HORIZON)."""
    scenario_profit = np.asarray(scenario_profit, float)
    n = scenario_profit.shape[0]
    baseline_profit = np.zeros_like(scenario_profit) if baseline_profit is None else np.asarray(baseline_profit,
                                                                                                float)
    base = spchain.preset("workshop")
    experiment = Experiment(base, scenarios=[Scenario("baseline"), Scenario(
        "hire", at_week=at_week, levers={"workforce.n_employees": 11})], n_replications=n, horizon=HORIZON,
        warmup=WARMUP, seed=1)

    def sums(profit):
        out = np.zeros((n, HORIZON, 1, len(FIELDS)))
        out[:, :, 0, FIELDS.index("profit")] = profit
        return out

    return ExperimentResult(experiment, sums={"baseline": sums(baseline_profit), "hire": sums(scenario_profit)},
                            department_sums={s: np.zeros((n, HORIZON, 3, len(DEPARTMENT_FIELDS)))
                                             for s in ("baseline", "hire")},
                            wall_seconds={s: np.zeros(n) for s in ("baseline", "hire")})


def _weekly(*differences):
    """Weekly profit differences from week AT, zero before (as common random numbers make it)."""
    out = np.zeros((len(differences), HORIZON))
    for r, d in enumerate(differences):
        out[r, AT:] = d
    return out


def test_payback_is_the_week_the_cumulative_difference_turns_non_negative():
    # cumulative: -5 -10 -7 -4 -1 2 5 8   -> pays back after 6 weeks
    #             -1 1 3 ...              -> after 2 weeks
    #             0 1 2 ...               -> never below 0: after 1 week
    profit = _weekly([-5, -5, 3, 3, 3, 3, 3, 3], [-1, 2, 2, 2, 2, 2, 2, 2], [0, 1, 1, 1, 1, 1, 1, 1])
    p = _result(profit).payback("hire")
    assert isinstance(p, Payback)
    assert (p.scenario, p.baseline, p.metric, p.start) == ("hire", "baseline", "profit", AT)
    assert p.weeks.tolist() == [6.0, 2.0, 1.0]
    assert p.horizon_weeks == HORIZON - AT and p.cumulative.shape == (3, HORIZON - AT)
    assert p.cumulative[0].tolist() == [-5, -10, -7, -4, -1, 2, 5, 8]
    half = stats.t.ppf(0.975, 2) * np.std([6, 2, 1], ddof=1) / math.sqrt(3)
    assert p.time.mean == pytest.approx(3.0) and p.time.half_width == pytest.approx(half)
    assert p.n_paid_back == 3 and p.n_replications == 3
    text = str(p)
    assert "after 3 weeks on average" in text and "week 7 on the charts" in text
    assert "all 3 replication(s) paid back, after 1 to 6 weeks" in text


def test_a_relapse_below_zero_moves_payback_later():
    # cumulative: -1 1 2 -1 1 2 3 4: first above 0 after 2 weeks, for good only after 5
    profit = _weekly([-1, 2, 1, -3, 2, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1])
    assert _result(profit).payback("hire").weeks.tolist() == [5.0, 1.0]


def test_no_payback_within_the_horizon_is_said_and_kept_out_of_the_mean():
    # replication 0 ends at -1: no payback; a mean of the others would claim one
    profit = _weekly([-8, 1, 1, 1, 1, 1, 1, 1], [-1, 1, 1, 1, 1, 1, 1, 1], [-2, 1, 1, 1, 1, 1, 1, 1])
    p = _result(profit).payback("hire")
    assert np.isnan(p.weeks[0]) and p.weeks[1:].tolist() == [2.0, 3.0]
    assert p.n_paid_back == 2 and p.time is None
    text = str(p)
    assert "no payback within 8 weeks in 1 of 3 replications" in text
    assert "the other 2 paid back after 2 to 3 weeks" in text
    never = _result(_weekly([-1] * 8, [-2] * 8)).payback("hire")
    assert np.isnan(never.weeks).all() and never.time is None
    assert "no payback within 8 weeks in any of 2 replication(s)" in str(never)
    assert "cumulative difference after 8 weeks -12.0" in str(never)


def test_replications_are_paired_and_only_weeks_from_the_change_count():
    rng = np.random.default_rng(7)
    difference = _weekly([-5, -5, 3, 3, 3, 3, 3, 3], [-1, 2, 2, 2, 2, 2, 2, 2], [0, 1, 1, 1, 1, 1, 1, 1])
    common = rng.normal(0, 1e5, (3, HORIZON))  # what the pair shares: much larger than the difference
    p = _result(common + difference, common).payback("hire")
    assert p.weeks.tolist() == [6.0, 2.0, 1.0]
    np.testing.assert_allclose(p.cumulative, np.cumsum(difference[:, AT:], axis=1), atol=1e-6)
    # pairing replication 0 of the scenario with replication 1 of the baseline would not give this
    shuffled = _result(common + difference, common[[1, 2, 0]]).payback("hire")
    assert shuffled.weeks.tolist() != [6.0, 2.0, 1.0]
    # weeks before the first lever change are not summed (they are not the intervention's)
    early = difference.copy()
    early[:, :AT] = -1e6
    assert _result(early).payback("hire").weeks.tolist() == [6.0, 2.0, 1.0]
    assert _result(difference, at_week=7).payback("hire").start == 7


def test_after_gives_the_cumulative_difference_with_its_interval():
    profit = _weekly([-5, -5, 3, 3, 3, 3, 3, 3], [-1, 2, 2, 2, 2, 2, 2, 2], [0, 1, 1, 1, 1, 1, 1, 1])
    p = _result(profit).payback("hire", level=0.9)
    c = p.after(3)
    assert c.mean == pytest.approx((-7 + 3 + 2) / 3) and c.level == 0.9
    assert c.half_width == pytest.approx(stats.t.ppf(0.95, 2) * np.std([-7, 3, 2], ddof=1) / math.sqrt(3))
    assert p.after(8).mean == pytest.approx((8 + 13 + 7) / 3)
    for bad in (0, 9, 2.0, True):
        with pytest.raises(ValueError, match=r"weeks must be an integer in \[1, 8\]"):
            p.after(bad)


@pytest.mark.parametrize("kwargs, message", [
    ({"metric": "costs"}, "where more is better.*got 'costs' \\(a KPI that is not a weekly flow"),
    ({"metric": "employee_satisfaction"}, "got 'employee_satisfaction'"),
    ({"metric": "proft"}, "one of \\['acquisition', 'revenue', 'profit'\\], got 'proft'$"),
    ({"level": 95}, "level must be a number in \\(0, 1\\).*got 95"),
    ({"baseline": "hire"}, "both 'hire'"),
])
def test_bad_arguments_are_named(kwargs, message):
    result = _result(_weekly([1] * 8))
    with pytest.raises(ValueError, match=message):
        result.payback("hire", **kwargs)
    with pytest.raises(KeyError, match="unknown scenario 'hir'"):
        result.payback("hir")


def test_payback_of_a_real_run_matches_its_weekly_profit():
    """The demo's intervention, briefly: the rule applied by hand to the runs' own weekly profit."""
    base = spchain.preset("workshop")
    e = Experiment(base, scenarios=[Scenario("baseline"), Scenario("hire", at_week=3, levers={
        "workforce.n_employees": 11})], n_replications=3, horizon=30, warmup=3, seed=2026)
    result = e.run()
    p = result.payback("hire")
    delta = result.kpi("profit", scenario="hire") - result.kpi("profit")
    assert np.all(delta[:, :3] == 0)  # common random numbers: identical until the change
    for r in range(3):
        c = np.cumsum(delta[r, 3:])
        k = p.weeks[r]
        if np.isnan(k):
            assert c[-1] < 0
        else:
            k = int(k)
            assert np.all(c[k - 1:] >= 0) and (k == 1 or c[k - 2] < 0)


@pytest.mark.slow
def test_the_default_demo_pays_back_as_getting_started_says():
    """The demo's intervention shows costs first and benefits later, with the numbers the docs print."""
    from pathlib import Path

    from spchain.apps.cli import DEMO_SCENARIO, demo_plan
    from spchain.result import format_value

    page = (Path(__file__).resolve().parents[1] / "docs" / "getting-started.md").read_text(encoding="utf-8")
    page = " ".join(page.split())
    result = demo_plan().experiment.run()
    p = result.payback(DEMO_SCENARIO)
    assert p.start == 13 and p.time is not None  # every replication pays back within the two years
    first, end = p.after(13), p.after(91)
    assert first.high < 0 < end.low  # costs first, benefits later, both beyond the replication noise
    assert f"after 32 weeks (95% CI {p.time.low:.0f} to {p.time.high:.0f})" in page and round(p.time.mean) == 32
    assert f"after {np.min(p.weeks):.0f} to {np.max(p.weeks):.0f} weeks" in page
    assert (f"after 13 weeks profit is {format_value(-first.mean)} below the baseline's (95% CI "
            f"{format_value(-first.high)} to {format_value(-first.low)} below)") in page
    assert f"{format_value(end.mean)} (95% CI {format_value(end.low)} to {format_value(end.high)})" in page


@pytest.mark.slow
def test_a_tools_budget_does_not_pay_back_in_the_workshop_preset():
    """What getting-started.md says of internal-service investments in the workshop preset."""
    base = spchain.preset("workshop")
    e = Experiment(base, scenarios=[Scenario("baseline"), Scenario("demo before", at_week=13, levers={
        "internal.tools_spend_per_week": 3000.0, "internal.departments.it.n_staff": 3}), Scenario(
        "tools 500", at_week=13, levers={"internal.tools_spend_per_week": 500.0})],
        n_replications=6, horizon=156, warmup=13, seed=2026)
    result = e.run()
    big, small = result.payback("demo before"), result.payback("tools 500")
    assert big.n_paid_back == 0 and round(big.after(143).mean, -3) == -408_000
    assert small.n_paid_back == 1 and small.after(143).mean < 0


def test_print_comparison_prints_the_checkpoints_and_the_payback():
    import io

    from spchain.apps.cli import print_comparison
    from spchain.result import format_value

    paid = _result(_weekly([-5, -5, 3, 3, 3, 3, 3, 3], [-1, 2, 2, 2, 2, 2, 2, 2], [0, 1, 1, 1, 1, 1, 1, 1]))
    out = io.StringIO()
    print_comparison(paid, metrics=["profit"], stream=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:4] == ["KPI,", "weeks", "3-12", "baseline"] and "hire" in lines[0]
    assert lines[2] == "Profit, cumulative difference from the change at week 4 (hire - baseline):"
    c = paid.payback("hire").after(8)
    assert lines[3].split() == ["after", "8", "weeks", "(week", "12)", format_value(c.mean),
                                f"[{format_value(c.low)},", f"{format_value(c.high)}]"]
    text = " ".join(lines[4:])
    t = paid.payback("hire").time
    assert text.startswith(f"Payback: after 3 weeks (95% CI {t.low:.0f} to {t.high:.0f}), about week 7; every "
                           f"replication paid back, after 1 to 6 weeks.")
    # -15/2 a week over the first 2 weeks in replication 0, 1/2 in 1, 1/2 in 2; the last 2 weeks: 3, 2, 1
    assert f"differs by {(-10 + 1 + 1) / 6:.3f} a week in the first 2 weeks" in text
    assert "by 2.000 a week in the last 2 weeks of the run" in text

    partial = _result(_weekly([-8, 1, 1, 1, 1, 1, 1, 1], [-1, 1, 1, 1, 1, 1, 1, 1], [-2, 1, 1, 1, 1, 1, 1, 1]))
    out = io.StringIO()
    print_comparison(partial, metrics=["profit"], level=0.9, stream=out)
    assert "90% CI of change" in out.getvalue()
    assert ("Payback: none within 8 weeks in 1 of 3 replications (the others after 2 to 3 weeks), so the "
            "payback is not established within the horizon.") in " ".join(out.getvalue().split())


@pytest.mark.parametrize("kwargs, error, message", [
    ({"metrics": ["proft"]}, KeyError, "unknown metric 'proft'"),
    ({"payback_metric": "costs"}, ValueError, "payback_metric must be a flow KPI where more is better.*got 'costs'"),
    ({"level": 1.5}, ValueError, r"level must be a number in \(0, 1\).*got 1.5"),
    ({"max_scenarios": 0}, ValueError, "max_scenarios must be an integer >= 1, got 0"),
])
def test_print_comparison_refuses_bad_arguments_before_printing(kwargs, error, message):
    import io

    from spchain.apps.cli import print_comparison

    out = io.StringIO()
    with pytest.raises(error, match=message):
        print_comparison(_result(_weekly([1] * 8)), stream=out, **kwargs)
    assert out.getvalue() == ""


def test_print_comparison_words_changes_as_the_report_does():
    """Scores and shares change in points (x points_scale), levels in percent; the reading follows the KPI's direction."""
    import io

    from spchain.apps.cli import print_comparison
    from spchain.metrics import METRICS

    e = Experiment(spchain.preset("workshop"), scenarios=[
        Scenario("baseline"), Scenario("dearer", at_week=2, levers={"economics.price_index": 1.15})],
        n_replications=3, horizon=10, warmup=2, seed=1)
    result = e.run()
    names = ["nps", "customer_satisfaction", "wait_time", "profit"]
    out = io.StringIO()
    print_comparison(result, metrics=names, stream=out)
    rows = {line[:36].strip(): line[36:] for line in out.getvalue().splitlines()[1:len(names) + 1]}
    for name in names:
        m, d = METRICS[name], result.difference(name, scenario="dearer")
        text = rows[m.label]
        assert text.endswith(m.assess(d.low, d.high)), (name, text)
        if m.change_in_points:
            k = m.points_scale
            assert f"{d.mean * k:+.1f} pts" in text and f"[{d.low * k:+.1f}, {d.high * k:+.1f}] pts" in text
            assert "%" not in text
        else:
            assert f"{d.relative:+.1%}" in text and f"[{d.relative_low:+.1%}, {d.relative_high:+.1%}]" in text
    assert METRICS["customer_satisfaction"].points_scale == 100 and METRICS["nps"].points_scale == 1
