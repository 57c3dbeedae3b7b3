"""fit_distribution: recovery of known shapes, censoring, mapping into Params, bad data."""

import numpy as np
import pytest
from scipy import stats

from spchain.fitting.distributions import fit_distribution
from spchain.fitting.result import DataError, FitResult
from spchain.params import ParamError, Params
from spchain.presets import queue_only
from spchain.engine.run import simulate


def _binom_ok(k, n, p=0.95, level=1e-3):
    """Coverage count k of n is consistent with nominal p (two-sided exact binomial test)."""
    return stats.binomtest(int(k), n, p).pvalue > level


def test_recovers_gamma_shape_and_selects_it_by_aic():
    rng = np.random.default_rng(11)
    x = rng.gamma(3.0, 4.0, size=2000)
    fit = fit_distribution(x)
    assert isinstance(fit, FitResult)
    assert fit.diagnostics["family"] == "gamma"
    ci = fit.conf_int(0.01)
    assert ci["a"][0] < 3.0 < ci["a"][1]
    assert ci["scale"][0] < 4.0 < ci["scale"][1]
    assert ci["mean"][0] < 12.0 < ci["mean"][1]
    # exponential is far worse by AIC on clearly non-exponential data
    cands = {c["family"]: c for c in fit.diagnostics["candidates"]}
    assert cands["expon"]["delta_aic"] > 100
    assert cands["gamma"]["ks_pvalue"] > 0.01


def test_recovers_weibull_shape():
    x = stats.weibull_min(0.7, scale=30.0).rvs(3000, random_state=np.random.default_rng(5))
    fit = fit_distribution(x)
    assert fit.diagnostics["family"] == "weibull_min"
    lo, hi = fit.conf_int(0.01)["c"]
    assert lo < 0.7 < hi


@pytest.mark.slow
def test_wald_intervals_have_nominal_coverage_with_and_without_censoring():
    """95% intervals from the observed information cover the truth ~95% of the time."""
    n_rep, a, scale = 200, 2.5, 10.0
    ss = np.random.SeedSequence(2024).spawn(n_rep)
    cover_a = cover_s = cover_c = 0
    for s in ss:
        rng = np.random.default_rng(s)
        x = rng.gamma(a, scale, size=300)
        ci = fit_distribution(x, families="gamma").conf_int()
        cover_a += ci["a"][0] <= a <= ci["a"][1]
        cover_s += ci["scale"][0] <= scale <= ci["scale"][1]
        t = rng.exponential(50.0, 300)
        c = rng.uniform(0, 80, 300)
        fit = fit_distribution(np.minimum(t, c), censored=t > c, families="expon")
        lo, hi = fit.conf_int()["mean"]
        cover_c += lo <= 50.0 <= hi
    for k in (cover_a, cover_s, cover_c):
        assert _binom_ok(k, n_rep), (cover_a, cover_s, cover_c)


def test_censoring_is_handled_and_ignoring_it_is_visibly_worse():
    rng = np.random.default_rng(3)
    tenure = stats.weibull_min(1.0, scale=52.0 / 0.3).rvs(800, random_state=rng)  # weeks
    follow_up = rng.uniform(0, 150, tenure.size)  # still employed at the data extract
    observed = np.minimum(tenure, follow_up)
    still_employed = tenure > follow_up
    assert 0.3 < still_employed.mean() < 0.8
    good = fit_distribution(observed, censored=still_employed, families="expon",
                            target="workforce.base_quit_rate")
    naive = fit_distribution(observed, families="expon", target="workforce.base_quit_rate")
    key = "workforce.base_quit_rate"
    lo, hi = good.conf_int(0.01)[key]
    assert lo < 0.3 < hi
    nlo, nhi = naive.conf_int(0.01)[key]
    assert not nlo < 0.3 < nhi
    # the naive estimate is off by many of the censored fit's own standard errors
    assert abs(naive.estimates[key] - 0.3) > 10 * good.std_errors[key]
    assert good.params.workforce.base_quit_rate == pytest.approx(good.estimates[key])
    assert "km_distance" in good.diagnostics["candidates"][0]


def test_service_times_from_the_model_drop_back_into_params():
    """Fit the engine's own service times; the mean and cv land in workforce.* within their CIs."""
    p = queue_only(8.0, 5.0, 2, hours_per_week=40.0).override({"workforce.service_time_cv": 0.5})
    res = simulate(p, horizon=8, seed=4, record_events=True)
    # served rows: (unit, position, customer, arrival_time, wait, service_time, ...)
    minutes = np.array([r[5] for r in res.events["served"]]) * 60.0
    fit = fit_distribution(minutes, target="workforce.service_time_minutes", params=p)
    assert fit.diagnostics["family"] == "gamma"
    ci = fit.conf_int(0.01)
    assert ci["workforce.service_time_minutes"][0] < 12.0 < ci["workforce.service_time_minutes"][1]
    assert ci["workforce.service_time_cv"][0] < 0.5 < ci["workforce.service_time_cv"][1]
    assert fit.params.workforce.service_time_minutes == pytest.approx(fit.overrides["workforce.service_time_minutes"])
    assert fit.params.workforce.n_employees == 2  # everything else from the base params


def test_patience_from_abandonments_needs_censoring_by_service():
    """Abandoners reveal their patience; served customers' waits are censored patience."""
    p = queue_only(11.0, 5.0, 2, patience_rate=3.0, hours_per_week=40.0)  # mean patience 20 min
    res = simulate(p, horizon=10, seed=8, record_events=True)
    aband = np.array([(r[3] - r[2]) * 60.0 for r in res.events["abandoned"]])
    waits = np.array([r[4] * 60.0 for r in res.events["served"]])
    waits = waits[waits > 0]  # a zero wait says nothing about patience
    x = np.concatenate([aband, waits])
    cens = np.concatenate([np.zeros(aband.size, bool), np.ones(waits.size, bool)])
    fit = fit_distribution(x, censored=cens, families="expon", target="customers.patience_minutes")
    lo, hi = fit.conf_int(0.01)["customers.patience_minutes"]
    assert lo < 20.0 < hi
    naive = fit_distribution(aband, families="expon", target="customers.patience_minutes")
    assert naive.conf_int(0.01)["customers.patience_minutes"][1] < 20.0


def test_target_mappings():
    rng = np.random.default_rng(1)
    base = Params()
    gaps = rng.exponential(0.05, 500)  # open hours between arrivals
    fit = fit_distribution(gaps, families="expon", target="customers.visit_rate", params=base)
    expected = base.organisation.hours_per_week / (fit.estimates["mean"] * base.customers.n_customers)
    assert fit.overrides["customers.visit_rate"] == pytest.approx(expected)
    fit = fit_distribution(rng.exponential(1.2, 300), families="expon",
                           target="internal.departments.hr.service_time_hours")
    assert fit.params.internal.department("hr").service_time_hours == pytest.approx(fit.estimates["mean"])
    fit = fit_distribution(rng.exponential(100.0, 300), families="expon", target="customers.base_churn_rate")
    assert fit.overrides["customers.base_churn_rate"] == pytest.approx(52.0 / fit.estimates["mean"])


def test_bad_data_is_reported_before_fitting():
    with pytest.raises(DataError, match=r"data\[2\] = -1.0"):
        fit_distribution([1.0, 2.0, -1.0, 3.0])
    with pytest.raises(DataError, match="nan"):
        fit_distribution([1.0, np.nan, 2.0, 3.0])
    with pytest.raises(DataError, match="one-dimensional"):
        fit_distribution(np.ones((3, 3)))
    with pytest.raises(DataError, match="one flag per duration"):
        fit_distribution([1.0, 2.0, 3.0, 4.0], censored=[True, False])
    with pytest.raises(DataError, match="uncensored durations"):
        fit_distribution([1.0, 2.0, 3.0, 4.0], censored=[True, True, True, False])
    with pytest.raises(ValueError, match="did you mean 'gamma'"):
        fit_distribution([1.0, 2.0, 3.0, 4.0], families=("gama",))
    with pytest.raises(ParamError, match="unknown fit target"):
        fit_distribution([1.0, 2.0, 3.0, 4.0], target="workforce.service_time")
    with pytest.raises(ParamError, match="unknown department 'legal'"):
        fit_distribution([1.0, 2.0, 3.0, 4.0], target="internal.departments.legal.service_time_hours")
