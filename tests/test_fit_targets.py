"""Calibration targets for unit-level studies: correlations across units, quintile contrasts,
ratios of slopes between split samples and user statistics.

Every statistic is checked against a hand computation from the runs' RunResults
(public ``RunResult.total`` per unit), never against simulated numbers, so the
tests hold whatever the engine's dynamics.
"""

import dataclasses
import math

import numpy as np
import pytest

import spchain
import spchain.fitting.calibration as calibration
from spchain.fitting.calibration import Target, calibrate, evaluate_target
from spchain.experiments.experiment import replication_seed
from spchain.fitting.result import DataError

HORIZON = 20
START = 4


@pytest.fixture(scope="module")
def params():
    return spchain.preset("bank_branches").override({"organisation.n_units": 10})


@pytest.fixture(scope="module")
def runs(params):
    return [spchain.simulate(params, horizon=HORIZON, seed=replication_seed(0, i)) for i in range(3)]


# ------------------------------------------------------------ hand computations
def _per_unit(run, name, start=START, stop=None):
    if stop is not None:  # a window that ends before the horizon: cut the run there
        run = dataclasses.replace(run, sums=run.sums[:stop], horizon=stop)
    return np.array([run.total(name, start=start, unit=u) for u in range(run.n_units)])


def _defined(*columns):
    ok = np.all([np.isfinite(c) for c in columns], axis=0)
    return [c[ok] for c in columns]


def _top_mean(rank, y, k):
    """Mean y of the k units with the highest rank; units tied at the k-th place share its seats."""
    order = np.argsort(-rank, kind="stable")
    cut = rank[order[k - 1]]
    above, tied = rank > cut, rank == cut
    return (y[above].sum() + (k - above.sum()) * y[tied].mean()) / k


def _ratio_and_se(num, den):
    num, den = np.asarray(num), np.asarray(den)
    ratio = num.mean() / den.mean()
    se = np.std(num - ratio * den, ddof=1) / abs(den.mean()) / math.sqrt(num.size)
    return ratio, se


def _hand_correlation(run, x, y, start=START, stop=None):
    a, b = _defined(_per_unit(run, x, start, stop), _per_unit(run, y, start, stop))
    return float(np.corrcoef(a, b)[0, 1])


def _hand_quintiles(run, by, y, top, start=START, stop=None):
    rank, out = _defined(_per_unit(run, by, start, stop), _per_unit(run, y, start, stop))
    k = rank.size // 5
    high, low = _top_mean(rank, out, k), _top_mean(-rank, out, k)
    return (high, low) if top == "high" else (low, high)


def _hand_slopes(run, x, y, split_by):
    z, xs, ys = _defined(_per_unit(run, split_by), _per_unit(run, x), _per_unit(run, y))
    assert np.unique(z).size == z.size, "the hand computation assumes no ties at the median"
    order = np.argsort(z)
    k = z.size // 2
    lower, upper = order[:k], order[-k:]
    return (np.polyfit(xs[upper], ys[upper], 1)[0], np.polyfit(xs[lower], ys[lower], 1)[0])


def _max_unit_profit(result):
    return max(result.total("profit", unit=u) for u in range(result.n_units))


# ------------------------------------------------------------ statistics = hand computations
def test_correlation_is_across_units_per_replication_then_averaged(runs):
    t = Target.correlation("employee_satisfaction", "profit", 0.3, start=START)
    values = evaluate_target(t, runs)
    assert values.shape == (len(runs), 1)
    hand = [_hand_correlation(r, "employee_satisfaction", "profit") for r in runs]
    np.testing.assert_allclose(values[:, 0], hand, rtol=1e-10)
    # a window that ends before the horizon
    t = Target.correlation("customer_satisfaction", "revenue", 0.3, start=2, stop=12)
    hand = [_hand_correlation(r, "customer_satisfaction", "revenue", 2, 12) for r in runs]
    np.testing.assert_allclose(evaluate_target(t, runs)[:, 0], hand, rtol=1e-10)


@pytest.mark.parametrize("top", ["high", "low"])
def test_quintile_ratio_is_the_ratio_of_the_quintiles_mean_outcomes(runs, top):
    t = Target.quintile_ratio("employee_satisfaction", "revenue", 1.1, top=top, start=START)
    values = evaluate_target(t, runs)
    num, den = zip(*[_hand_quintiles(r, "employee_satisfaction", "revenue", top) for r in runs])
    ratio, se = _ratio_and_se(num, den)
    assert values.mean() == pytest.approx(ratio, rel=1e-10)
    assert values.std(ddof=1) / math.sqrt(len(runs)) == pytest.approx(se, rel=1e-8)


def test_quintile_ratio_with_a_window_that_ends_early(runs):
    t = Target.quintile_ratio("turnover", "revenue", 1.1, top="low", start=2, stop=14)
    num, den = zip(*[_hand_quintiles(r, "turnover", "revenue", "low", 2, 14) for r in runs])
    assert evaluate_target(t, runs).mean() == pytest.approx(_ratio_and_se(num, den)[0], rel=1e-10)


def test_quintiles_share_tied_units_and_ignore_the_units_order(runs):
    quits = spchain.metrics.FIELDS.index("quits")
    no_quits = [dataclasses.replace(r, sums=r.sums.copy()) for r in runs]
    for r in no_quits:
        r.sums[:, :, quits] = 0.0  # every unit's turnover is 0: all tied
    t = Target.quintile_ratio("turnover", "revenue", 1.0, top="low", start=START)
    np.testing.assert_allclose(evaluate_target(t, no_quits), 1.0, rtol=1e-12)
    # reversing the units changes nothing
    flipped = [dataclasses.replace(r, sums=r.sums[:, ::-1]) for r in runs]
    for target in (t, Target.slope_ratio("customer_satisfaction", "profit", "employee_satisfaction", 1.0,
                                         start=START)):
        np.testing.assert_allclose(evaluate_target(target, flipped), evaluate_target(target, runs), rtol=1e-10)


def test_slope_ratio_is_upper_half_slope_over_lower_half_slope(runs):
    t = Target.slope_ratio("customer_satisfaction", "profit", "employee_satisfaction", 1.0, start=START)
    values = evaluate_target(t, runs)
    num, den = zip(*[_hand_slopes(r, "customer_satisfaction", "profit", "employee_satisfaction") for r in runs])
    ratio, se = _ratio_and_se(num, den)
    assert values.mean() == pytest.approx(ratio, rel=1e-8)
    assert values.std(ddof=1) / math.sqrt(len(runs)) == pytest.approx(se, rel=1e-6)


def test_user_statistic_is_called_on_each_run(runs):
    t = Target.statistic("largest unit profit", _max_unit_profit, 5e4, sd=1e3)
    np.testing.assert_allclose(evaluate_target(t, runs)[:, 0], [_max_unit_profit(r) for r in runs])
    closure = Target.statistic("units", lambda r: r.n_units, 10.0)
    np.testing.assert_array_equal(evaluate_target(closure, runs), 10.0)


def test_calibrate_reports_the_same_statistics_and_mc_se(params):
    """A tiny calibration with every new target: its table equals hand computations on its own runs."""
    horizon = 12
    targets = [Target.correlation("employee_satisfaction", "profit", 0.3, start=START, sd=0.2),
               Target.quintile_ratio("employee_satisfaction", "revenue", 1.1, start=START, sd=0.1),
               Target.slope_ratio("customer_satisfaction", "profit", "employee_satisfaction", 1.0, start=START,
                                  sd=0.5),
               Target.statistic("largest unit profit", lambda r: _max_unit_profit(r), 3e4)]
    fit = calibrate(params, free={"links.value_from_quality": (0.5, 4.0)}, targets=targets, horizon=horizon,
                    n_replications=2, maxfev=1, seed=0)
    d = fit.diagnostics
    assert d["seeds"] == [replication_seed(0, i) for i in range(2)]
    runs = [spchain.simulate(fit.params, horizon=horizon, seed=s) for s in d["seeds"]]
    rows = {row["target"]: row for row in d["targets"]}
    se = lambda v: np.std(v, ddof=1) / math.sqrt(len(v))  # noqa: E731
    corr = [_hand_correlation(r, "employee_satisfaction", "profit") for r in runs]
    quint = _ratio_and_se(*zip(*[_hand_quintiles(r, "employee_satisfaction", "revenue", "high") for r in runs]))
    slopes = _ratio_and_se(*zip(*[_hand_slopes(r, "customer_satisfaction", "profit", "employee_satisfaction")
                                  for r in runs]))
    stat = [_max_unit_profit(r) for r in runs]
    expected = [(np.mean(corr), se(corr)), quint, slopes, (np.mean(stat), se(stat))]
    for t, (value, mc_se) in zip(targets, expected):
        assert rows[t.name]["simulated"] == pytest.approx(value, rel=1e-8), t.name
        assert rows[t.name]["mc_se"] == pytest.approx(mc_se, rel=1e-6, abs=1e-12), t.name
    assert d["sd_from_simulation"] == [False, False, False, True]
    assert "largest unit profit" in fit.summary() and "high over low employee_satisfaction quintile" in fit.summary()


# ------------------------------------------------------------ validation
def test_constructors_name_the_argument_and_value():
    cases = [
        (r"top must be 'high' or 'low', got 'middle'",
         lambda: Target.quintile_ratio("turnover", "revenue", 1.1, top="middle")),
        (r"unknown KPI 'turnvoer'.*did you mean 'turnover'",
         lambda: Target.quintile_ratio("turnvoer", "revenue", 1.1)),
        (r"unknown KPI 'proft'", lambda: Target.slope_ratio("csat", "proft", "employee_satisfaction", 1.0)),
        (r"unknown KPI 'es'", lambda: Target.slope_ratio("csat", "profit", "es", 1.0)),
        (r"start must be an integer >= 0, got -1",
         lambda: Target.quintile_ratio("turnover", "revenue", 1.1, start=-1)),
        (r"stop must be None or an integer > start \(5\), got 3",
         lambda: Target.slope_ratio("csat", "profit", "turnover", 1.0, start=5, stop=3)),
        (r"start must be an integer >= 0, got 2.5",
         lambda: Target.correlation("csat", "profit", 0.2, start=2.5)),
        (r"start must be an integer >= 0, got -2", lambda: Target.mean("csat", 4.0, start=-2)),
        (r"values must be finite", lambda: Target.slope_ratio("csat", "profit", "turnover", math.inf)),
        (r"sd must be one positive number.*got -1", lambda: Target.quintile_ratio("turnover", "revenue", 1.1,
                                                                                   sd=-1)),
        (r"function must be callable.*got 3", lambda: Target.statistic("x", 3, 1.0)),
        (r"name must be a non-empty string, got ''", lambda: Target.statistic("", len, 1.0)),
    ]
    for msg, build in cases:
        with pytest.raises(DataError, match=msg):
            build()


def test_calibrate_validates_new_targets_before_any_simulation(monkeypatch, params):
    def no_runs(task):
        raise AssertionError("simulated before validating")

    monkeypatch.setattr(calibration, "_run", no_runs)
    free = {"links.value_from_quality": (0.5, 4.0)}
    four = params.override({"organisation.n_units": 4})
    three = params.override({"organisation.n_units": 3})
    cases = [
        (four, "quintile ratio needs organisation.n_units >= 5, got 4",
         Target.quintile_ratio("turnover", "revenue", 1.1)),
        (three, "needs organisation.n_units >= 4, got 3",
         Target.slope_ratio("csat", "profit", "employee_satisfaction", 1.0)),
        (params, r"window \[4, 30\) reaches beyond the horizon of 20 weeks",
         Target.quintile_ratio("turnover", "revenue", 1.1, start=4, stop=30)),
        (params, r"window \[25, None\) reaches beyond the horizon",
         Target.slope_ratio("csat", "profit", "employee_satisfaction", 1.0, start=25)),
    ]
    for p, msg, target in cases:
        with pytest.raises(DataError, match=msg):
            calibrate(p, free=free, targets=[target], horizon=HORIZON)


def test_evaluate_target_checks_its_runs(runs):
    t = Target.quintile_ratio("turnover", "revenue", 1.1)
    with pytest.raises(DataError, match="runs must be a non-empty sequence of spchain.RunResult"):
        evaluate_target(t, [])
    with pytest.raises(DataError, match="target must be a spchain Target"):
        evaluate_target("revenue", runs)
    short = dataclasses.replace(runs[0], sums=runs[0].sums[:8], horizon=8)
    with pytest.raises(DataError, match="share one horizon"):
        evaluate_target(t, [runs[1], short])
    with pytest.raises(DataError, match=r"window \[10, None\) reaches beyond the horizon of 8"):
        evaluate_target(Target.correlation("csat", "profit", 0.2, start=10), [short])
    effect = Target.effect("revenue", 1.0, changes=[spchain.Change(at_week=2, path="workforce.recognition",
                                                                   value=0.6)], start=4)
    with pytest.raises(DataError, match="needs runs_with_changes"):
        evaluate_target(effect, runs)


def test_a_failing_user_statistic_names_its_target(runs):
    def broken(result):
        raise KeyError("no such field")

    with pytest.raises(DataError, match="target 'broken one': its function raised KeyError"):
        evaluate_target(Target.statistic("broken one", broken, 1.0), runs)
    with pytest.raises(DataError, match="target 'pair': its function must return one number, got"):
        evaluate_target(Target.statistic("pair", lambda r: (1.0, 2.0), 1.0), runs)
