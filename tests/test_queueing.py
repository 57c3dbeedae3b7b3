"""Verification of the engine against queueing theory.

With every link off, no turnover and a fixed customer base the front line is
M/M/c (Erlang C) or, with exponential patience, M/M/c+M (Erlang A).  One run
at 90% occupancy pins the mean wait only to about +-10%, so each check pools
independent replications and takes its tolerance from their own Student-t
interval at 99.9% confidence.
"""

import numpy as np
import pytest
from scipy import stats

from spchain import simulate
from spchain.presets import queue_only
from spchain.theory import erlang_a, mmc

LAM, MU, C = 9.0, 1.0, 10          # per hour: offered load 9 Erlang on 10 servers
WEEKS, WARMUP, REPS = 16, 1, 20    # 168 open hours a week: ~18,000 customers per replication


def _ci(samples, level=0.999):
    x = np.asarray(samples, float)
    half = stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return x.mean(), half


def _replicate(params, stat):
    return [stat(simulate(params, horizon=WEEKS, seed=1000 + r)) for r in range(REPS)]


@pytest.fixture(scope="module")
def mmc_runs():
    p = queue_only(LAM, MU, C)
    return [simulate(p, horizon=WEEKS, seed=1000 + r) for r in range(REPS)]


@pytest.mark.parametrize("kpi, attr, scale", [
    ("wait_time", "mean_wait", 60.0),      # minutes
    ("prob_wait", "prob_wait", 1.0),
    ("utilisation", "utilisation", 1.0),
])
def test_mmc_matches_erlang_c(mmc_runs, kpi, attr, scale):
    truth = getattr(mmc(LAM, MU, C), attr) * scale
    samples = [r.total(kpi, start=WARMUP) for r in mmc_runs]
    mean, half = _ci(samples)
    assert abs(mean - truth) <= half, f"{kpi}: simulated {mean:.4f} +- {half:.4f}, Erlang C {truth:.4f}"
    # the check is informative: the pooled run pins the value to +-10% at 95% confidence
    assert _ci(samples, level=0.95)[1] < 0.1 * truth


def test_mmc_has_no_abandonment_and_conserves_customers(mmc_runs):
    for r in mmc_runs:
        assert r.field("abandoned").sum() == 0
        arrivals = r.field("arrivals").sum()
        assert arrivals == r.field("served").sum() + r.field("waiting")[-1] + r.field("in_service")[-1]


def test_littles_law_on_snapshots(mmc_runs):
    """L = lambda W: number in system at week ends against lambda (Wq + 1/mu)."""
    theory = mmc(LAM, MU, C)
    L = [(r.field("waiting")[WARMUP:] + r.field("in_service")[WARMUP:]).mean() for r in mmc_runs]
    W = [r.total("wait_time", start=WARMUP) / 60.0 + 1.0 / MU for r in mmc_runs]
    lam_w = [LAM * w for w in W]
    mean_l, half_l = _ci(L)
    mean_lw, half_lw = _ci(lam_w)
    assert abs(mean_l - mean_lw) <= half_l + half_lw
    assert abs(mean_lw - theory.mean_in_system) <= half_lw


def test_events_agree_with_counters():
    p = queue_only(LAM, MU, C)
    r = simulate(p, horizon=3, seed=5, record_events=True)
    served = np.array(r.events["served"])  # unit, position, customer, arrival, wait, service time
    assert served.shape[0] == r.field("served").sum()
    assert r.field("started").sum() == served.shape[0] + r.field("in_service")[-1]
    assert served[:, 4].sum() <= r.field("wait_hours_sum").sum() + 1e-9
    assert np.all(served[:, 4] >= 0)
    assert np.all(served[:, 3] + served[:, 4] + served[:, 5] <= 3 * 168 + 1e-9)
    # service times are exponential with mean 1/mu (99.9% interval)
    mean, half = _ci(served[:, 5])
    assert abs(mean - 1.0 / MU) <= half
    # no position serves two customers at once
    for e in np.unique(served[:, 1]):
        rows = served[served[:, 1] == e]
        start = rows[:, 3] + rows[:, 4]
        order = np.argsort(start)
        assert np.all(start[order][1:] >= (start + rows[:, 5])[order][:-1] - 1e-9)


@pytest.mark.parametrize("theta", [0.5, 2.0])
def test_mmc_plus_m_matches_erlang_a(theta):
    lam, mu, c = 10.0, 1.0, 10  # critically loaded: abandonment matters
    truth = erlang_a(lam, mu, c, theta)
    p = queue_only(lam, mu, c, patience_rate=theta)
    runs = _replicate(p, lambda r: r)
    mean, half = _ci([r.total("abandonment", start=WARMUP) for r in runs])
    assert abs(mean - truth.prob_abandon) <= half, (mean, half, truth.prob_abandon)
    mean_u, half_u = _ci([r.total("utilisation", start=WARMUP) for r in runs])
    assert abs(mean_u - truth.utilisation) <= half_u, (mean_u, half_u, truth.utilisation)


def test_queue_only_rejects_bad_rates():
    from spchain import ParamError
    with pytest.raises(ParamError, match="arrival_rate"):
        queue_only(0.0, 1.0, 2)


# ------------------------------------------------ the call-centre KPIs
def test_mmc_service_level_matches_erlang_c(mmc_runs):
    """The share answered within T = 20 minutes against 1 - C(c, a) exp(-(c mu - lambda) T)."""
    from spchain.theory import mmc_service_level

    p = queue_only(LAM, MU, C).override({"measurement.service_level_seconds": 1200.0})
    runs = _replicate(p, lambda r: r)
    truth = mmc_service_level(LAM, MU, C, threshold=1200.0 / 3600.0).answered
    mean, half = _ci([r.total("service_level", start=WARMUP) for r in runs])
    assert abs(mean - truth) <= half, (mean, half, truth)
    assert 0.5 < truth < 0.6  # informative: far from 0, 1 and from P(no wait) = 0.33
    # without abandonment the all-arrivals measures are the served ones
    for r in mmc_runs[:3]:
        np.testing.assert_allclose(r.kpi("prob_wait_all"), r.kpi("prob_wait"))
        np.testing.assert_allclose(r.kpi("wait_time_all"), r.kpi("wait_time"))


@pytest.mark.parametrize("theta", [0.5, 2.0])
def test_call_centre_kpis_match_erlang_a(theta):
    """Waits over all arrivals (abandoners included) and the service level, against Erlang A."""
    from spchain.theory import erlang_a_service_level

    lam, mu, c, threshold = 10.0, 1.0, 10, 0.25
    p = queue_only(lam, mu, c, patience_rate=theta).override({"measurement.service_level_seconds": 900.0})
    runs = _replicate(p, lambda r: r)
    truth = erlang_a(lam, mu, c, theta)
    level = erlang_a_service_level(lam, mu, c, theta, threshold)
    for kpi, expected in (("wait_time_all", 60.0 * truth.mean_wait), ("prob_wait_all", truth.prob_wait),
                          ("service_level", level.answered)):
        mean, half = _ci([r.total(kpi, start=WARMUP) for r in runs])
        assert abs(mean - expected) <= half, (kpi, mean, half, expected)
        assert _ci([r.total(kpi, start=WARMUP) for r in runs], level=0.95)[1] < 0.1 * expected  # informative
