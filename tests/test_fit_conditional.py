"""Calibration target for customer-level conditional rates: Target.retention_ratio.

The statistic is checked against an independent replay of the runs' survey
and churn records (customers followed week by week, slots reused after a
churn), against a toy case built by hand with a known answer, and against
the model's mechanism: with a strong churn link customers who answer 5 stay
more than those who answer 4; with the link off they stay alike.
"""

import dataclasses
import math
import re

import numpy as np
import pytest
from scipy import stats

import spchain
import spchain.fitting.calibration as calibration
from spchain.fitting.calibration import Target, calibrate, evaluate_target
from spchain.experiments.experiment import replication_seed
from spchain.fitting.result import DataError

HORIZON = 40
RECORD = ("surveys", "churn")


def _runs(params, n, horizon=HORIZON):
    return [spchain.simulate(params, horizon=horizon, seed=replication_seed(0, i), record=RECORD)
            for i in range(n)]


@pytest.fixture(scope="module")
def workshop():
    return spchain.preset("workshop")


@pytest.fixture(scope="module")
def runs(workshop):
    return _runs(workshop, 2)


# ------------------------------------------------------------ hand computations
def _replay(run, answers=(5, 4), within=26, start=0, stop=None):
    """Shares retained per answer, replaying the records week by week.

    Within a week the surveys come before the churn (the engine scores the
    week's services, then draws defections); a churned slot's next customer
    is a new tenancy; an answer in the week after the slot churned belongs
    to the customer who already left.
    """
    s, c = run.records("surveys"), run.records("churn")
    horizon = run.horizon
    stop = horizon if stop is None else stop
    tenancy, last_churn, churn_week, first = {}, {}, {}, {}
    for w in range(horizon):
        for i in np.flatnonzero(s["week"] == w):
            slot = (int(s["unit"][i]), int(s["customer"][i]))
            if last_churn.get(slot) == w - 1:
                continue
            who = slot + (tenancy.get(slot, 0),)
            if start <= w < stop and who not in first:
                first[who] = (w, int(s["csat"][i]))
        for i in np.flatnonzero(c["week"] == w):
            slot = (int(c["unit"][i]), int(c["customer"][i]))
            churn_week[slot + (tenancy.get(slot, 0),)] = w
            tenancy[slot] = tenancy.get(slot, 0) + 1
            last_churn[slot] = w
    shares = []
    for answer in answers:
        kept = [churn_week.get(who, horizon) >= w + within
                for who, (w, q) in first.items() if q == answer and w + within <= horizon]
        shares.append(np.mean(kept) if kept else math.nan)
    return shares


def _ratio_and_se(num, den):
    num, den = np.asarray(num), np.asarray(den)
    ratio = num.mean() / den.mean()
    se = np.std(num - ratio * den, ddof=1) / abs(den.mean()) / math.sqrt(num.size)
    return ratio, se


def _interval(values, level=0.99):
    """Mean of the per-replication values and its t interval."""
    m, se = values.mean(), values.std(ddof=1) / math.sqrt(values.size)
    q = stats.t.ppf(0.5 + level / 2, values.size - 1)
    return m, m - q * se, m + q * se


# ------------------------------------------------------------ the statistic
@pytest.mark.parametrize("answers, within, start, stop", [((5, 4), 26, 0, None), ((5, 4), 13, 5, 20),
                                                          ((3, 5), 1, 0, None), ((4, 2), 8, 10, 30)])
def test_statistic_equals_a_replay_of_the_records(runs, answers, within, start, stop):
    target = Target.retention_ratio(1.0, top=answers[0], base=answers[1], within=within, start=start, stop=stop)
    rows = evaluate_target(target, runs)
    shares = np.array([_replay(r, answers, within, start, stop) for r in runs])
    assert np.isfinite(shares).all() and (shares > 0.5).all()
    ratio, se = _ratio_and_se(shares[:, 0], shares[:, 1])
    assert rows.shape == (2, 1)
    assert rows.mean() == pytest.approx(ratio, rel=1e-12)
    assert rows.std(ddof=1) / math.sqrt(2) == pytest.approx(se, rel=1e-9)


def test_toy_records_with_a_known_answer(runs):
    u = 0
    surveys = [
        (u, 1, 2, 0.7, 4, 8),   # slot 2 answers 4 at week 1, never churns: retained
        (u, 2, 0, 0.9, 5, 9),   # slot 0 answers 5, churns at week 10 (< 2 + 26): not retained
        (u, 2, 7, 0.7, 4, 8),   # slot 7: first answer 4 ...
        (u, 3, 1, 0.9, 5, 9),   # slot 1 answers 5, never churns: retained
        (u, 3, 7, 0.9, 5, 9),   # ... slot 7's second answer does not count (from start=0)
        (u, 0, 4, 0.6, 4, 7),   # slot 4 answers 4 at week 0 and churns that week: not retained
        (u, 5, 3, 0.7, 4, 8),   # slot 3 answers 4 at week 5, churns at week 35 >= 5 + 26: retained
        (u, 5, 6, 0.9, 5, 9),   # slot 6 churned at week 4: the leaver's last visit, left out
        (u, 8, 6, 0.7, 4, 8),   # slot 6's new customer answers 4, never churns: retained
        (u, 20, 5, 0.9, 5, 9),  # too late to follow up 26 weeks in a 40-week run: left out
    ]
    churn = [(u, 0, 4, 0.3), (u, 4, 6, 0.4), (u, 6, 7, 0.5), (u, 10, 0, 0.5), (u, 35, 3, 0.5)]
    toy = dataclasses.replace(runs[0], events={"surveys": sorted(surveys, key=lambda r: r[1]), "churn": churn})
    assert toy.horizon == 40
    # answer 5: slots 0 (left), 1 (stayed); answer 4: slots 2, 4 (left), 7 (left), 3, 6's new customer
    rows = evaluate_target(Target.retention_ratio(1.0, within=26), [toy, toy])
    assert rows[:, 0] == pytest.approx([(1 / 2) / (3 / 5)] * 2)
    # from week 3 slot 7's first answer in the window is its 5 (it churns at week 6); slots 0, 2, 4 drop out
    rows = evaluate_target(Target.retention_ratio(1.0, within=26, start=3), [toy, toy])
    assert rows[:, 0] == pytest.approx([(1 / 2) / (2 / 2)] * 2)
    # a week of follow-up: everyone answering from week 3 stays a week (slot 7 leaves at week 6), and
    # slot 5's answer at week 20 can now be followed up
    rows = evaluate_target(Target.retention_ratio(1.0, within=1, start=3, stop=21), [toy, toy])
    assert rows[:, 0] == pytest.approx([(3 / 3) / (2 / 2)] * 2)
    assert _replay(toy, within=26) == pytest.approx([1 / 2, 3 / 5])
    # an empty group gives NaN
    rows = evaluate_target(Target.retention_ratio(1.0, top=1, base=4, within=26), [toy, toy])
    assert np.isnan(rows).all()
    silent = dataclasses.replace(toy, events={"surveys": [], "churn": churn})
    assert np.isnan(evaluate_target(Target.retention_ratio(1.0), [silent, silent])).all()


# ------------------------------------------------------------ the mechanism
STRONG = {"customers.zone_high": 0.8, "customers.expectation_sd": 0.1, "customers.base_churn_rate": 0.4,
          "links.churn_from_satisfaction": 25.0}


def test_top_box_customers_stay_more_under_a_strong_threshold_churn_link(workshop):
    """Apostles (Jones & Sasser 1995): above the zone of tolerance the churn hazard falls steeply.

    With a lasting spread of expectations customers who answer 5 are more
    often above it than those who answer 4 (a smaller spread, 0.05, and the
    base churn of 0.12 a year leave a ratio of only about 1.01).
    """
    params = workshop.override({**STRONG, "customers.churn_form": "threshold"})
    rows = evaluate_target(Target.retention_ratio(1.0, within=26), _runs(params, 4))[:, 0]
    mean, low, high = _interval(rows)
    assert low > 1.0, (mean, low, high)
    assert mean < 1.3


def test_with_the_churn_link_off_answers_do_not_predict_retention(workshop):
    params = workshop.override({**STRONG, "links.churn_from_satisfaction": 0.0})
    rows = evaluate_target(Target.retention_ratio(1.0, within=26), _runs(params, 4))[:, 0]
    mean, low, high = _interval(rows)
    assert low < 1.0 < high, (mean, low, high)
    assert high - low < 0.2


# ------------------------------------------------------------ calibrate
def test_calibrate_asks_for_records_only_when_a_target_needs_them(workshop, monkeypatch):
    asked = []
    simulate = spchain.engine.run.simulate

    def spy(*args, record=None, **kwargs):
        asked.append(record)
        return simulate(*args, record=record, **kwargs)

    monkeypatch.setattr(spchain.engine.run, "simulate", spy)
    horizon = 30
    retention = Target.retention_ratio(1.05, within=13, start=4, sd=0.05)
    fit = calibrate(workshop, free={"links.churn_from_satisfaction": (0.0, 20.0)},
                    targets=[retention, Target.mean("csat", 4.0, start=4, sd=0.1)],
                    horizon=horizon, n_replications=2, seed=3, maxfev=3)
    assert set(asked) == {RECORD}
    row = fit.diagnostics["targets"][0]
    assert row["target"] == "retention 13 weeks: CSAT 5 over 4"
    assert np.isfinite(row["simulated"]) and np.isfinite(row["mc_se"]) and row["value"] == 1.05
    assert "links.churn_from_satisfaction" in fit.estimates
    assert calibration._Simulator(workshop, [], [Target.mean("csat", 4.0)], horizon, [1], None).record is None


# ------------------------------------------------------------ validation
@pytest.mark.parametrize("kwargs, message", [
    (dict(top=6), "top must be a CSAT answer, an integer in 1-5, got 6"),
    (dict(top=0), "top must be a CSAT answer, an integer in 1-5, got 0"),
    (dict(base=4.0), "base must be a CSAT answer, an integer in 1-5, got 4.0"),
    (dict(top=True), "top must be a CSAT answer, an integer in 1-5, got True"),
    (dict(top=4, base=4), "top and base must be different answers, got 4 for both"),
    (dict(within=0), "within must be an integer >= 1 (weeks), got 0"),
    (dict(within=2.5), "within must be an integer >= 1 (weeks), got 2.5"),
    (dict(start=-1), "start must be an integer >= 0, got -1"),
    (dict(start=5, stop=5), "stop must be None or an integer > start (5), got 5"),
    (dict(value=0.0), "value must be a positive ratio, got 0.0"),
    (dict(value=math.inf), "values must be finite"),
    (dict(sd=-1), "sd must be one positive number"),
])
def test_bad_arguments_are_refused_on_construction(kwargs, message):
    args = {"value": 1.1, **kwargs}
    with pytest.raises(DataError, match=re.escape(message)):
        Target.retention_ratio(args.pop("value"), **args)


def test_follow_up_and_window_beyond_the_horizon_fail_before_any_simulation(workshop, monkeypatch):
    def no_runs(task):
        raise AssertionError("simulated before validating")

    monkeypatch.setattr(calibration, "_run", no_runs)
    free = {"links.churn_from_satisfaction": (0.0, 20.0)}
    with pytest.raises(DataError, match=r"within=26 weeks of follow-up after start=20 reach beyond the "
                                        r"horizon of 40 weeks"):
        calibrate(workshop, free=free, targets=[Target.retention_ratio(1.1, start=20)], horizon=40)
    with pytest.raises(DataError, match=r"window \[0, 50\) reaches beyond the horizon of 40 weeks"):
        calibrate(workshop, free=free, targets=[Target.retention_ratio(1.1, stop=50)], horizon=40)


def test_evaluate_target_needs_runs_with_the_records(runs, workshop):
    plain = [dataclasses.replace(r, events=None) for r in runs]
    with pytest.raises(DataError, match=r"needs the runs' \['surveys', 'churn'\] records; some runs kept no "
                                        r"'surveys' records"):
        evaluate_target(Target.retention_ratio(1.1), plain)
    with pytest.raises(DataError, match="reach beyond the horizon of 40 weeks"):
        evaluate_target(Target.retention_ratio(1.1, within=30, start=11), runs)
    assert Target.mean("csat", 4.0).records == ()
