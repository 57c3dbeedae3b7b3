"""Honest statistics: common random numbers narrow paired intervals; intervals cover the truth.

Both tests are statistical; their bounds come from the sampling distribution
of what they measure (F for a ratio of variances, binomial for a coverage
count), at a fixed seed.
"""

import numpy as np
import pytest
from scipy import stats

from spchain import preset
from spchain.experiments.experiment import Experiment
from spchain.presets import queue_only
from spchain.experiments.scenarios import Scenario
from spchain.experiments.statistics import paired_difference, t_interval


def erlang_c_wait(lam, mu, c):
    """Mean wait in queue of M/M/c (hours): C(c, a) / (c mu - lam), Erlang C via Poisson terms."""
    a = lam / mu
    tail = stats.poisson.pmf(c, a) * c / (c - a)
    return tail / (stats.poisson.cdf(c - 1, a) + tail) / (c * mu - lam)


@pytest.mark.slow
def test_common_random_numbers_narrow_the_paired_interval():
    """A small lever change (service 15 -> 14 minutes) on the workshop preset.

    The paired interval's width is t * s_d / sqrt(n) with the same n and t in
    both designs, so the width ratio is the ratio of the standard deviations
    of the differences.  ``(s_crn / s_ind)^2 / rho^2`` is F(n - 1, n - 1)
    for the true ratio ``rho``; the test asserts the one-sided 99.9% upper
    confidence bound of ``rho`` is below 1/2: common random numbers at least
    halve the interval.
    """
    n = 60
    scenarios = [Scenario("baseline"), Scenario("faster", levers={"workforce.service_time_minutes": 14.0})]
    widths, sds = {}, {}
    for crn in (True, False):
        result = Experiment(preset("workshop"), scenarios=scenarios, n_replications=n, horizon=13,
                            warmup=1, seed=7, crn=crn).run()
        d = result.difference("wait_time", scenario="faster")
        assert d.high < 0  # faster service shortens waits, in both designs
        widths[crn], sds[crn] = d.half_width, d.std
    ratio = widths[True] / widths[False]
    assert ratio == pytest.approx(sds[True] / sds[False])
    upper = ratio / np.sqrt(stats.f.ppf(0.001, n - 1, n - 1))
    print(f"CRN / independent interval width: {ratio:.3f} (99.9% upper bound {upper:.3f})")
    assert upper < 0.5


@pytest.mark.slow
def test_intervals_cover_erlang_c_at_their_nominal_rate():
    """M/M/5 and M/M/6 (links off, infinite patience) against Erlang C.

    1000 replications of both scenarios with common random numbers are cut
    into 100 independent groups of 10; each group gives a 95% interval of
    the mean wait of each scenario and of their paired difference.  If the
    intervals are honest, the number covering the truth is Binomial(100,
    0.95); each count must lie in that distribution's central 99.9% range.
    All 1000 replications together must cover the truth too (no bias).
    """
    lam, mu = 4.0, 1.0
    exp = Experiment(queue_only(lam, mu, 5),
                     scenarios=[Scenario("c5"), Scenario("c6", levers={"workforce.n_employees": 6})],
                     n_replications=1000, horizon=3, warmup=1, seed=2024)
    result = exp.run(workers=2)
    truth = {"c5": 60 * erlang_c_wait(lam, mu, 5), "c6": 60 * erlang_c_wait(lam, mu, 6)}  # minutes
    x = {s: result.totals("wait_time", scenario=s) for s in truth}
    low, high = stats.binom.ppf([0.0005, 0.9995], 100, 0.95)
    covered = {}
    for s in truth:
        groups = x[s].reshape(100, 10)
        covered[s] = int(sum(abs(t_interval(g).mean - truth[s]) <= t_interval(g).half_width for g in groups))
        overall = t_interval(x[s], level=0.999)
        assert abs(overall.mean - truth[s]) <= overall.half_width, (s, overall, truth[s])
    diff = truth["c6"] - truth["c5"]
    covered["c6 - c5"] = int(sum(abs(d.mean - diff) <= d.half_width for d in (
        paired_difference(a, b) for a, b in zip(x["c6"].reshape(100, 10), x["c5"].reshape(100, 10)))))
    print(f"coverage of 95% intervals (of 100): {covered}; acceptance range [{low:.0f}, {high:.0f}]")
    for name, count in covered.items():
        assert low <= count <= high, (name, count)
