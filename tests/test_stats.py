"""Output-analysis functions: against scipy, invariants (hypothesis), known answers."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from spchain.experiments.statistics import mser5, paired_difference, replications_needed, t_interval

samples = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=40)


def test_t_interval_matches_scipy():
    x = np.random.default_rng(1).normal(3.0, 2.0, 12)
    ci = t_interval(x, level=0.9)
    low, high = stats.ttest_1samp(x, 0.0).confidence_interval(0.9)
    assert ci.low == pytest.approx(low, rel=1e-12) and ci.high == pytest.approx(high, rel=1e-12)
    assert ci.n == 12 and ci.level == 0.9 and ci.std == pytest.approx(x.std(ddof=1))


@settings(max_examples=60, deadline=None)
@given(samples, st.floats(-100, 100), st.floats(0.01, 100))
def test_t_interval_is_affine_equivariant(x, shift, scale):
    a = t_interval(x)
    b = t_interval(np.asarray(x) * scale + shift)
    assert b.mean == pytest.approx(a.mean * scale + shift, rel=1e-9, abs=1e-3)
    assert b.half_width == pytest.approx(a.half_width * scale, rel=1e-9, abs=1e-3)
    assert a.low <= a.mean <= a.high


@settings(max_examples=60, deadline=None)
@given(samples)
def test_paired_difference_of_equal_samples_is_exactly_zero(x):
    d = paired_difference(x, x)
    assert d.mean == 0 and d.half_width == 0
    if np.mean(x) != 0:
        assert d.relative == 0 and d.relative_high == 0


@settings(max_examples=60, deadline=None)
@given(samples, st.floats(-1e3, 1e3))
def test_paired_difference_of_a_constant_shift_is_that_shift(x, c):
    d = paired_difference(np.asarray(x) + c, x)
    assert d.mean == pytest.approx(c, abs=1e-6 * (1 + max(map(abs, x))))
    assert d.half_width == pytest.approx(0, abs=1e-6 * (1 + max(map(abs, x))))


def test_relative_change_interval_covers_a_known_ratio():
    rng = np.random.default_rng(3)
    hits, trials = 0, 400
    for _ in range(trials):
        y = rng.gamma(5.0, 2.0, 10)               # baseline, mean 10
        x = 1.2 * y + rng.normal(0, 0.5, 10)      # scenario, mean 12: +20%
        d = paired_difference(x, y)
        hits += d.relative_low <= 0.2 <= d.relative_high
    # 95% nominal; a binomial 99.9% acceptance region around it
    assert hits >= stats.binom.ppf(0.0005, trials, 0.95)


def test_mser5_finds_an_initial_transient():
    rng = np.random.default_rng(5)
    series = rng.normal(10.0, 1.0, 200)
    series[:30] += np.linspace(20.0, 0.0, 30)     # decaying start-up bias over 30 periods
    d = mser5(series)
    assert d % 5 == 0 and 20 <= d <= 40
    assert mser5(rng.normal(0.0, 1.0, 200)) <= 20  # stationary: little or nothing to delete
    assert mser5([1.0, 2.0, 3.0]) == 0


def test_replications_needed_reaches_the_target():
    x = np.random.default_rng(7).normal(0.0, 4.0, 10)
    n = replications_needed(x, half_width=1.0)
    s = x.std(ddof=1)
    t = lambda k: stats.t.ppf(0.975, k - 1) * s / math.sqrt(k)  # noqa: E731
    assert t(n) <= 1.0 < t(n - 1)
    assert replications_needed(x, half_width=100.0) == 2


@pytest.mark.parametrize("call, message", [
    (lambda: t_interval([]), "non-empty"),
    (lambda: t_interval([1.0, 2.0], level=95), "level must be a number in"),
    (lambda: paired_difference([1.0, 2.0], [1.0]), "same length"),
    (lambda: replications_needed([1.0], half_width=1.0), "at least 2 pilot"),
    (lambda: replications_needed([1.0, 2.0], half_width=0.0), "half_width must be a number > 0"),
    (lambda: mser5([1.0, np.nan] * 10), "finite"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_single_observation_has_no_interval():
    ci = t_interval([4.0])
    assert ci.mean == 4.0 and math.isnan(ci.half_width)
