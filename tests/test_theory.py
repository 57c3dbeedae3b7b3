"""The analytic formulas in spchain.theory, checked against independent computations."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from spchain.theory import (
    customer_lifetime_value,
    erlang_a,
    erlang_c,
    expected_tenure,
    littles_law_error,
    mmc,
)


def erlang_c_direct_sum(c, a):
    """Erlang C from the textbook sum with factorials (fine for small c)."""
    queued = a**c / math.factorial(c) * c / (c - a)
    return queued / (sum(a**k / math.factorial(k) for k in range(c)) + queued)


def birth_death_generator_solution(lam, mu, c, theta, n_states):
    """Stationary distribution of the M/M/c+M chain on 0..n_states-1 from its generator."""
    q = np.zeros((n_states, n_states))
    for n in range(n_states - 1):
        q[n, n + 1] = lam
        q[n + 1, n] = mu * min(n + 1, c) + theta * max(n + 1 - c, 0)
    np.fill_diagonal(q, -q.sum(axis=1))
    # pi Q = 0 with sum(pi) = 1: replace one balance equation by the normalisation
    system = np.vstack([q.T[:-1], np.ones(n_states)])
    rhs = np.zeros(n_states)
    rhs[-1] = 1.0
    return np.linalg.solve(system, rhs)


# --------------------------------------------------------------------------- Erlang C

@pytest.mark.parametrize("c, a, expected", [
    (2, 1.0, 1.0 / 3.0),
    (3, 2.0, 4.0 / 9.0),
    (1, 0.3, 0.3),       # M/M/1: C = rho
    (1, 0.95, 0.95),
    (5, 0.0, 0.0),       # no load, nobody waits
])
def test_erlang_c_textbook_values(c, a, expected):
    assert erlang_c(c, a) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("c, a", [(10, 9.0), (20, 15.5), (50, 49.0), (7, 0.1), (100, 80.0)])
def test_erlang_c_matches_direct_sum(c, a):
    assert erlang_c(c, a) == pytest.approx(erlang_c_direct_sum(c, a), rel=1e-10)


def test_erlang_c_is_stable_for_large_systems():
    # a**c and c! overflow a float here; the recursion does not
    value = erlang_c(5000, 4950.0)
    assert 0.0 < value < 1.0
    # square-root staffing (Halfin-Whitt): c = a + beta sqrt(a) keeps C(c, a) near a constant
    assert erlang_c(10_000, 10_000 - 100.0) == pytest.approx(erlang_c(40_000, 40_000 - 200.0), abs=0.01)


@settings(max_examples=200, deadline=None)
@given(c=st.integers(1, 60), u1=st.floats(0.0, 0.999), u2=st.floats(0.0, 0.999))
def test_erlang_c_is_a_probability_increasing_in_load(c, u1, u2):
    low, high = sorted((u1 * c, u2 * c))
    c_low, c_high = erlang_c(c, low), erlang_c(c, high)
    assert 0.0 <= c_low <= c_high <= 1.0


@settings(max_examples=200, deadline=None)
@given(c=st.integers(1, 60), u=st.floats(0.0, 0.999))
def test_erlang_c_decreases_with_servers_at_fixed_load(c, u):
    a = u * c
    assert erlang_c(c + 1, a) <= erlang_c(c, a)


# --------------------------------------------------------------------------- M/M/c

def test_mm1_closed_forms():
    lam, mu = 3.0, 4.0
    rho = lam / mu
    q = mmc(lam, mu, 1)
    assert q.prob_wait == pytest.approx(rho)
    assert q.mean_wait == pytest.approx(rho / (mu - lam))
    assert q.mean_queue_length == pytest.approx(rho**2 / (1 - rho))
    assert q.mean_in_system == pytest.approx(rho / (1 - rho))
    assert q.mean_sojourn == pytest.approx(1.0 / (mu - lam))
    assert q.utilisation == pytest.approx(rho)


def test_mmc_contact_centre_example():
    # 9 calls/hour, 1-hour mean handling, 10 agents: 90% occupancy
    q = mmc(9.0, 1.0, 10)
    c_direct = erlang_c_direct_sum(10, 9.0)
    assert q.prob_wait == pytest.approx(c_direct, rel=1e-12)
    assert q.mean_wait == pytest.approx(c_direct / (10 - 9.0), rel=1e-12)
    assert q.utilisation == pytest.approx(0.9)
    assert littles_law_error(q.mean_queue_length, 9.0, q.mean_wait) < 1e-12
    assert littles_law_error(q.mean_in_system, 9.0, q.mean_sojourn) < 1e-12


def test_mmc_is_frozen():
    q = mmc(1.0, 2.0, 1)
    with pytest.raises(AttributeError):
        q.mean_wait = 0.0


# --------------------------------------------------------------------------- Erlang A

@pytest.mark.parametrize("lam, mu, c, theta", [
    (0.8, 1.0, 1, 0.3),
    (1.5, 1.0, 1, 0.5),   # overloaded single server: abandonment keeps it stable
    (4.0, 1.0, 3, 0.2),
    (10.0, 1.0, 10, 2.0),
])
def test_erlang_a_matches_generator_matrix(lam, mu, c, theta):
    pi = birth_death_generator_solution(lam, mu, c, theta, n_states=c + 400)
    n = np.arange(pi.size)
    lq = float(np.sum(np.maximum(n - c, 0) * pi))
    q = erlang_a(lam, mu, c, theta)
    assert q.prob_wait == pytest.approx(pi[c:].sum(), rel=1e-9)
    assert q.mean_queue_length == pytest.approx(lq, rel=1e-9)
    assert q.prob_abandon == pytest.approx(theta * lq / lam, rel=1e-9)
    assert q.mean_wait == pytest.approx(lq / lam, rel=1e-9)
    busy = float(np.sum(np.minimum(n, c) * pi))
    assert q.utilisation == pytest.approx(busy / c, rel=1e-9)  # served load = mean busy servers


@pytest.mark.parametrize("lam, c", [(4.0, 5), (8.0, 5), (2000.0, 1000)])
def test_erlang_a_with_patience_equal_to_service_is_poisson(lam, c):
    """theta = mu makes every customer leave at rate mu: N ~ Poisson(lambda / mu)."""
    mu = 1.5
    a = lam / mu
    n = np.arange(int(a + 50 * math.sqrt(a) + 50))
    pmf = stats.poisson.pmf(n, a)
    q = erlang_a(lam, mu, c, mu)
    assert q.prob_wait == pytest.approx(stats.poisson.sf(c - 1, a), rel=1e-9)
    assert q.mean_queue_length == pytest.approx(np.sum(np.maximum(n - c, 0) * pmf), rel=1e-9)


@pytest.mark.parametrize("lam, c", [(9.0, 10), (0.5, 1), (45.0, 50)])
def test_erlang_a_approaches_erlang_c_as_patience_grows(lam, c):
    erlang_c_queue = mmc(lam, 1.0, c)
    q = erlang_a(lam, 1.0, c, 1e-9)
    assert q.mean_wait == pytest.approx(erlang_c_queue.mean_wait, rel=1e-5)
    assert q.prob_wait == pytest.approx(erlang_c_queue.prob_wait, rel=1e-5)
    assert q.utilisation == pytest.approx(erlang_c_queue.utilisation, rel=1e-5)
    assert q.prob_abandon < 1e-6


@settings(max_examples=100, deadline=None)
@given(c=st.integers(1, 30), load=st.floats(0.05, 2.0), theta=st.floats(0.01, 10.0),
       factor=st.floats(1.01, 5.0))
def test_erlang_a_monotone_in_abandonment_rate(c, load, theta, factor):
    lam, mu = load * c, 1.0
    patient, impatient = erlang_a(lam, mu, c, theta), erlang_a(lam, mu, c, theta * factor)
    for q in (patient, impatient):
        assert 0.0 <= q.prob_wait <= 1.0
        assert 0.0 <= q.prob_abandon <= 1.0
        assert 0.0 <= q.utilisation <= 1.0 + 1e-12
    assert impatient.prob_abandon >= patient.prob_abandon * (1 - 1e-9)
    assert impatient.mean_wait <= patient.mean_wait * (1 + 1e-9)
    assert impatient.prob_wait <= patient.prob_wait * (1 + 1e-9)


@settings(max_examples=100, deadline=None)
@given(c=st.integers(1, 30), u=st.floats(0.01, 0.99), theta=st.floats(1e-4, 10.0))
def test_abandonment_never_lengthens_the_queue(c, u, theta):
    lam = u * c
    with_patience, without = erlang_a(lam, 1.0, c, theta), mmc(lam, 1.0, c)
    assert with_patience.prob_wait <= without.prob_wait * (1 + 1e-9)
    assert with_patience.mean_wait <= without.mean_wait * (1 + 1e-9)


def test_erlang_a_heavily_overloaded_serves_at_capacity():
    q = erlang_a(arrival_rate=100.0, service_rate=1.0, n_servers=10, abandonment_rate=0.5)
    assert q.prob_wait == pytest.approx(1.0, abs=1e-12)
    assert q.utilisation == pytest.approx(1.0, abs=1e-12)
    assert q.prob_abandon == pytest.approx(0.9, abs=1e-12)  # 90 of 100 per hour leave
    assert q.mean_queue_length == pytest.approx(90.0 / 0.5, abs=1e-9)


# --------------------------------------------------------------------------- Little's law

def test_littles_law_error():
    assert littles_law_error(6.0, 2.0, 3.0) == 0.0
    assert littles_law_error(5.0, 2.0, 3.0) == pytest.approx(0.2)
    assert littles_law_error(0.0, 0.0, 4.0) == 0.0
    assert littles_law_error(0.0, 1.0, 1.0) > 1e300


# --------------------------------------------------------------------------- customers

def test_reichheld_halving_defections_doubles_tenure():
    assert expected_tenure(0.90) == pytest.approx(10.0)
    assert expected_tenure(0.95) == pytest.approx(20.0)
    assert expected_tenure(0.0) == 1.0


@pytest.mark.parametrize("margin, r, i, cost", [
    (100.0, 0.8, 0.1, 0.0),
    (250.0, 0.95, 0.08, 300.0),
    (40.0, 0.5, 0.0, 10.0),
    (-20.0, 0.7, 0.12, 0.0),     # loss-making customers have negative value
    (60.0, 0.9, -0.05, 0.0),     # negative discount rate, still r < 1 + i
])
def test_clv_closed_form_equals_discounted_sum(margin, r, i, cost):
    t = np.arange(1, 2001)
    explicit = np.sum(margin * r**t / (1 + i) ** t) - cost
    assert customer_lifetime_value(margin, r, i, cost) == pytest.approx(explicit, rel=1e-12)


def test_clv_undiscounted_counts_retained_periods_after_acquisition():
    for r in (0.0, 0.5, 0.9, 0.95):
        assert customer_lifetime_value(100.0, r, 0.0) == pytest.approx(100.0 * (expected_tenure(r) - 1))


@settings(max_examples=200, deadline=None)
@given(r1=st.floats(0.0, 0.99), r2=st.floats(0.0, 0.99), i=st.floats(0.0, 0.5))
def test_clv_increases_with_retention(r1, r2, i):
    low, high = sorted((r1, r2))
    assert customer_lifetime_value(1.0, low, i) <= customer_lifetime_value(1.0, high, i)


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("call, match", [
    (lambda: erlang_c(0, 0.5), r"n_servers must be an integer >= 1, got 0"),
    (lambda: erlang_c(2.5, 1.0), r"n_servers must be an integer >= 1, got 2\.5"),
    (lambda: erlang_c(True, 0.5), r"n_servers"),
    (lambda: erlang_c(2, -0.1), r"offered_load must be >= 0, got -0\.1"),
    (lambda: erlang_c(4, 4.5),
     r"offered_load must be < n_servers \(4\) for a stable queue, got 4\.5"),
    (lambda: erlang_c(4, 4), r"offered_load must be < n_servers \(4\)"),
    (lambda: erlang_c(4, float("nan")), r"offered_load must be a finite number"),
    (lambda: mmc(-1.0, 1.0, 2), r"arrival_rate must be >= 0"),
    (lambda: mmc(1.0, 0.0, 2), r"service_rate must be > 0, got 0\.0"),
    (lambda: mmc(1.0, 1.0, 0), r"n_servers"),
    (lambda: mmc(3.0, 1.0, 2), r"n_servers \(2\) for a stable queue, got 3"),
    (lambda: erlang_a(0.0, 1.0, 2, 1.0), r"arrival_rate must be > 0"),
    (lambda: erlang_a(1.0, -1.0, 2, 1.0), r"service_rate must be > 0"),
    (lambda: erlang_a(1.0, 1.0, 0, 1.0), r"n_servers"),
    (lambda: erlang_a(1.0, 1.0, 2, 0.0), r"abandonment_rate must be > 0, got 0\.0.*mmc"),
    (lambda: erlang_a(20.0, 1.0, 10, 1e-7), r"abandonment_rate 1e-07 is too small"),
    (lambda: littles_law_error(-1.0, 1.0, 1.0), r"mean_number must be >= 0"),
    (lambda: littles_law_error(1.0, 1.0, float("inf")), r"mean_time must be a finite number"),
    (lambda: customer_lifetime_value(1.0, 1.0, 0.1), r"retention must be in \[0, 1\), got 1\.0"),
    (lambda: customer_lifetime_value(1.0, -0.1, 0.1), r"retention must be in \[0, 1\)"),
    (lambda: customer_lifetime_value(1.0, 0.5, -1.0), r"discount_rate must be > -1, got -1\.0"),
    (lambda: customer_lifetime_value(1.0, 0.9, -0.2),
     r"retention must be < 1 \+ discount_rate \(0\.8\)"),
    (lambda: customer_lifetime_value(1.0, 0.5, 0.1, -5.0), r"acquisition_cost must be >= 0"),
    (lambda: customer_lifetime_value("a lot", 0.5, 0.1), r"margin must be a finite number"),
    (lambda: expected_tenure(1.0), r"retention must be in \[0, 1\), got 1\.0"),
])
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
