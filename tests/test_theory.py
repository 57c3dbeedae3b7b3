"""The analytic formulas in spchain.theory, checked against independent computations."""

import heapq
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats
from scipy.sparse.linalg import expm_multiply

from spchain import Params
from spchain.metrics import DEPARTMENT_FIELDS, FIELDS
from spchain.result import RunResult
from spchain.theory import (
    customer_lifetime_value,
    customer_lifetime_value_profile,
    erlang_a,
    erlang_a_service_level,
    erlang_c,
    expected_tenure,
    littles_law_error,
    mmc,
    mmc_service_level,
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


# --------------------------------------------------------------------------- service level

def answered_within_by_phase_type(lam, mu, c, theta, threshold, n_states):
    """(answered, abandoned, virtual) within ``threshold`` for M/M/c+M, by brute force.

    Stationary distribution from the generator matrix (PASTA: what an arrival
    sees); then the arrival's own absorbing chain (phase ``j`` = customers
    ahead, absorbed in "served" or "abandoned") is run for ``threshold`` with
    a matrix exponential applied to that distribution.  The virtual wait uses
    the same chain without the arrival's own abandonment.
    """
    pi = birth_death_generator_solution(lam, mu, c, theta, n_states)
    k = n_states - c
    served, gone = k, k + 1
    chain = np.zeros((k + 2, k + 2))
    for j in range(k):
        chain[j, served if j == 0 else j - 1] += c * mu + j * theta
        chain[j, gone] += theta
    np.fill_diagonal(chain, -chain.sum(axis=1))
    patient = chain.copy()
    patient[:, gone] = 0.0
    np.fill_diagonal(patient, 0.0)
    np.fill_diagonal(patient, -patient.sum(axis=1))
    no_wait, start = pi[:c].sum(), np.append(pi[c:], [0.0, 0.0])  # the arrival's phase at 0
    own = expm_multiply(chain.T * threshold, start)                 # ... and at the threshold
    offered = expm_multiply(patient.T * threshold, start)
    return no_wait + own[served], own[gone], no_wait + offered[served]


def simulate_mmc_plus_m(lam, mu, c, theta, n_customers, rng):
    """Offered waits, served flags and patience of FCFS M/M/c+M customers from empty.

    Workload recursion (Kiefer & Wolfowitz): an arrival's offered wait is
    the time until the earliest of the ``c`` servers is free of the customers
    ahead that were served; it is served if that is shorter than its patience,
    else it leaves without touching a server.
    """
    arrivals = np.cumsum(rng.exponential(1.0 / lam, n_customers))
    services = rng.exponential(1.0 / mu, n_customers)
    patience = rng.exponential(1.0 / theta, n_customers)
    free = [0.0] * c  # heap of the times the servers become free
    offered = np.empty(n_customers)
    served = np.empty(n_customers, dtype=bool)
    for k, (t, service, tau) in enumerate(zip(arrivals.tolist(), services.tolist(),
                                              patience.tolist())):
        wait = max(free[0] - t, 0.0)
        offered[k] = wait
        served[k] = wait < tau
        if served[k]:
            heapq.heapreplace(free, t + wait + service)
    return offered, served, patience


def test_mm1_service_level_by_hand():
    # M/M/1, lambda = 3, mu = 4: P(Wq <= T) = 1 - rho exp(-(mu - lambda) T)
    sl = mmc_service_level(3.0, 4.0, 1, 0.5)
    assert sl.answered == pytest.approx(1.0 - 0.75 * 0.6065306597126334, rel=1e-14)
    assert sl.answered == pytest.approx(0.5451020052155250, rel=1e-14)
    assert mmc_service_level(3.0, 4.0, 1, 0.0).answered == pytest.approx(0.25)
    assert mmc_service_level(3.0, 4.0, 1, math.inf).answered == 1.0
    assert (sl.virtual, sl.abandoned, sl.prob_served, sl.threshold) == (sl.answered, 0.0, 1.0, 0.5)


@pytest.mark.parametrize("lam, c, threshold", [(9.0, 10, 0.1), (3.0, 4, 0.5), (0.5, 1, 2.0),
                                               (45.0, 50, 0.02)])
def test_mmc_service_level_is_the_mixture_of_erlang_waits(lam, c, threshold):
    """An arrival finding c + k in the system waits Gamma(k + 1, c mu); mix over k."""
    mu, a = 1.0, lam
    p_below = np.array([a**n / math.factorial(n) for n in range(c)])
    k = np.arange(2000)
    p_queue = a**c / math.factorial(c) * (a / c) ** k
    norm = p_below.sum() + p_queue.sum()
    mixture = (p_below.sum() + np.sum(p_queue * stats.gamma.cdf(threshold, k + 1, scale=1 / (c * mu)))) / norm
    sl = mmc_service_level(lam, mu, c, threshold)
    assert sl.answered == pytest.approx(mixture, rel=1e-10)
    assert sl.answered == pytest.approx(
        1 - erlang_c_direct_sum(c, a) * math.exp(-(c * mu - lam) * threshold), rel=1e-12)


@pytest.mark.parametrize("lam, mu, c, theta, threshold", [
    (0.8, 1.0, 1, 0.3, 1.0),
    (1.5, 1.0, 1, 0.5, 2.0),    # overloaded
    (4.0, 1.0, 3, 0.2, 0.7),
    (10.0, 1.0, 10, 2.0, 0.1),
    (10.0, 1.0, 10, 0.05, 0.5),
    (3.0, 1.0, 2, 5.0, 0.3),    # impatience faster than service
])
def test_erlang_a_service_level_matches_phase_type_chain(lam, mu, c, theta, threshold):
    answered, abandoned, virtual = answered_within_by_phase_type(lam, mu, c, theta, threshold,
                                                                 n_states=c + 150)
    sl = erlang_a_service_level(lam, mu, c, theta, threshold)
    assert sl.answered == pytest.approx(answered, abs=1e-12)
    assert sl.abandoned == pytest.approx(abandoned, abs=1e-12)
    assert sl.virtual == pytest.approx(virtual, abs=1e-12)


@pytest.mark.parametrize("lam, c, threshold", [(4.0, 5, 0.3), (8.0, 5, 0.2), (2000.0, 1000, 0.01),
                                               (2.0, 1, 0.5)])
def test_erlang_a_service_level_with_patience_equal_to_service(lam, c, threshold):
    """theta = mu: N ~ Poisson(a) and the n in system die independently at rate mu.

    V <= T iff at most c - 1 of the N lifetimes exceed T, so by thinning
    P(V <= T) = P(Poisson(a e^(-mu T)) <= c - 1); integrating e^(-mu v) against
    that distribution gives P(answered within T) =
    Q(c, a) + (c / a) [P(c + 1, a) - P(c + 1, a e^(-mu T))] (regularised gammas).
    """
    mu = 1.5
    a = lam / mu
    x = a * math.exp(-mu * threshold)
    sl = erlang_a_service_level(lam, mu, c, mu, threshold)
    assert sl.virtual == pytest.approx(stats.poisson.cdf(c - 1, x), abs=1e-12)
    assert sl.answered == pytest.approx(
        special.gammaincc(c, a) + c / a * (special.gammainc(c + 1, a) - special.gammainc(c + 1, x)),
        abs=1e-12)


@pytest.mark.parametrize("lam, mu, c, theta", [
    (0.8, 1.0, 1, 0.3), (100.0, 1.0, 10, 0.5), (20.0, 1.0, 10, 1e-4), (9.0, 1.0, 10, 1e-7),
    (1e4, 1.0, 9000, 0.01),
])
def test_erlang_a_service_level_limits_agree_with_erlang_a(lam, mu, c, theta):
    q = erlang_a(lam, mu, c, theta)
    now = erlang_a_service_level(lam, mu, c, theta, 0.0)
    ever = erlang_a_service_level(lam, mu, c, theta, math.inf)
    # T = 0: answered without waiting = no wait; nobody has abandoned yet
    assert now.answered == pytest.approx(1.0 - q.prob_wait, abs=1e-12)
    assert now.virtual == pytest.approx(1.0 - q.prob_wait, abs=1e-12)
    assert now.abandoned == 0.0
    # T -> inf: answered = served = 1 - P(abandon)
    assert ever.answered == pytest.approx(1.0 - q.prob_abandon, abs=1e-11)
    assert ever.prob_served == pytest.approx(1.0 - q.prob_abandon, abs=1e-11)
    assert ever.abandoned == pytest.approx(q.prob_abandon, abs=1e-11)
    assert ever.virtual == 1.0
    assert ever.answered_given_served == pytest.approx(1.0)


@pytest.mark.parametrize("lam, c", [(9.0, 10), (0.5, 1), (45.0, 50)])
@pytest.mark.parametrize("threshold", [0.0, 0.1, 1.0])
def test_erlang_a_service_level_approaches_erlang_c(lam, c, threshold):
    patient = mmc_service_level(lam, 1.0, c, threshold)
    sl = erlang_a_service_level(lam, 1.0, c, 1e-9, threshold)
    assert sl.answered == pytest.approx(patient.answered, abs=1e-7)
    assert sl.virtual == pytest.approx(patient.virtual, abs=1e-7)
    assert sl.abandoned < 1e-8


@pytest.mark.parametrize("lam, mu, c, theta, threshold", [
    (9.0, 1.0, 10, 0.5, 0.2),
    (1.5, 1.0, 1, 0.5, 1.0),
    (4.0, 2.0, 2, 3.0, 0.1),
])
def test_erlang_a_service_level_matches_monte_carlo(lam, mu, c, theta, threshold):
    """An independent FCFS simulation (not the spchain engine), 99.9% batch-means intervals."""
    rng = np.random.default_rng(20240609)
    offered, served, patience = simulate_mmc_plus_m(lam, mu, c, theta, 402_000, rng)
    warm = 2_000
    sl = erlang_a_service_level(lam, mu, c, theta, threshold)
    observed = {"answered": served & (offered <= threshold),
                "abandoned": ~served & (patience <= threshold),
                "virtual": offered <= threshold}
    n_batches = 20
    for name, hits in observed.items():
        batches = hits[warm:].reshape(n_batches, -1).mean(axis=1)
        half = stats.t.ppf(0.9995, n_batches - 1) * batches.std(ddof=1) / math.sqrt(n_batches)
        assert half < 0.02, name  # the check is informative
        assert abs(batches.mean() - getattr(sl, name)) <= half, name


@settings(max_examples=100, deadline=None)
@given(c=st.integers(1, 30), load=st.floats(0.05, 2.0), theta=st.floats(0.01, 10.0),
       t1=st.floats(0.0, 5.0), t2=st.floats(0.0, 5.0))
def test_erlang_a_service_level_is_a_distribution_in_the_threshold(c, load, theta, t1, t2):
    lam = load * c
    early, late = (erlang_a_service_level(lam, 1.0, c, theta, t) for t in sorted((t1, t2)))
    for sl in (early, late):
        assert 0.0 <= sl.answered <= sl.prob_served <= 1.0
        assert sl.answered <= sl.virtual + 1e-12       # answered within T needs V <= T
        assert sl.answered + sl.abandoned <= 1.0 + 1e-12
    assert early.answered <= late.answered + 1e-12
    assert early.abandoned <= late.abandoned + 1e-12
    assert early.virtual <= late.virtual + 1e-12


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


def test_clv_conventions_closed_forms():
    m, r, i = 100.0, 0.8, 0.1
    assert customer_lifetime_value(m, r, i) == pytest.approx(m * r / (1 + i - r))
    assert customer_lifetime_value(m, r, i, first_period="retained") == customer_lifetime_value(m, r, i)
    assert customer_lifetime_value(m, r, i, 30.0, first_period="certain") == pytest.approx(
        m / (1 + i - r) - 30.0)
    # undiscounted, a certain first period counts the period of acquisition
    for r in (0.0, 0.5, 0.9, 0.95):
        assert customer_lifetime_value(100.0, r, 0.0, first_period="certain") == pytest.approx(
            100.0 * expected_tenure(r))


def test_clv_profile_hand_computed_three_periods():
    margins = [100.0, 150.0, 200.0]
    # retained: m_t r^t / 1.1^t
    assert customer_lifetime_value_profile(margins, 0.8, 0.1) == pytest.approx(
        100 * 0.8 / 1.1 + 150 * 0.64 / 1.21 + 200 * 0.512 / 1.331, rel=1e-14)
    assert customer_lifetime_value_profile(margins, 0.8, 0.1) == pytest.approx(229.0007513148, rel=1e-12)
    # certain: m_t r^(t-1) / 1.1^t, net of acquisition cost
    assert customer_lifetime_value_profile(margins, 0.8, 0.1, first_period="certain",
                                           acquisition_cost=50.0) == pytest.approx(
        100 / 1.1 + 150 * 0.8 / 1.21 + 200 * 0.64 / 1.331 - 50.0, rel=1e-14)
    # per-period retention: survival 0.9, 0.72, 0.36 (retained) or 1, 0.9, 0.72 (certain)
    per_period = [0.9, 0.8, 0.5]
    assert customer_lifetime_value_profile(margins, per_period, 0.0) == pytest.approx(
        100 * 0.9 + 150 * 0.72 + 200 * 0.36)
    assert customer_lifetime_value_profile(margins, per_period, 0.0, first_period="certain") == \
        pytest.approx(100 + 150 * 0.9 + 200 * 0.72)


@pytest.mark.parametrize("margin, r, i", [(100.0, 0.8, 0.1), (250.0, 0.95, 0.08), (40.0, 0.5, 0.0),
                                          (60.0, 0.9, -0.05)])
def test_clv_profile_constant_margins_reproduce_closed_forms(margin, r, i):
    margins = np.full(3000, margin)
    retained = customer_lifetime_value_profile(margins, r, i, acquisition_cost=10.0)
    certain = customer_lifetime_value_profile(margins, np.full(3000, r), i, first_period="certain",
                                              acquisition_cost=10.0)
    assert retained == pytest.approx(margin * r / (1 + i - r) - 10.0, rel=1e-12)
    assert certain == pytest.approx(margin / (1 + i - r) - 10.0, rel=1e-12)
    assert retained == pytest.approx(customer_lifetime_value(margin, r, i, 10.0), rel=1e-12)
    assert certain == pytest.approx(customer_lifetime_value(margin, r, i, 10.0, first_period="certain"),
                                    rel=1e-12)


def test_clv_profile_without_defection_is_the_discounted_margins():
    margins = np.array([10.0, 20.0, 40.0, 80.0])
    t = np.arange(1, 5)
    for first in ("retained", "certain"):
        assert customer_lifetime_value_profile(margins, 1.0, 0.05, first_period=first) == pytest.approx(
            np.sum(margins / 1.05**t))


@settings(max_examples=200, deadline=None)
@given(margins=st.lists(st.floats(0.0, 1e4), min_size=1, max_size=30),
       r1=st.floats(0.0, 1.0), r2=st.floats(0.0, 1.0), i=st.floats(0.0, 0.5))
def test_clv_profile_increases_with_retention_and_certain_first_period_is_worth_more(margins, r1, r2, i):
    low, high = sorted((r1, r2))
    for first in ("retained", "certain"):
        assert (customer_lifetime_value_profile(margins, low, i, first_period=first)
                <= customer_lifetime_value_profile(margins, high, i, first_period=first) * (1 + 1e-12))
    assert (customer_lifetime_value_profile(margins, high, i)
            <= customer_lifetime_value_profile(margins, high, i, first_period="certain") * (1 + 1e-12))


def make_run_result(params, weekly):
    """A RunResult whose recorded fields are given per (week, unit) by ``weekly``."""
    horizon, n_units = np.shape(next(iter(weekly.values())))
    sums = np.zeros((horizon, n_units, len(FIELDS)))
    for name, values in weekly.items():
        sums[:, :, FIELDS.index(name)] = values
    departments = np.zeros((horizon, len(params.internal.departments), len(DEPARTMENT_FIELDS)))
    return RunResult(params=params, horizon=horizon, seed=0, sums=sums, department_sums=departments)


def test_run_result_clv_is_annual_and_charges_acquisition_to_marketing_only():
    params = Params().override({"economics.gross_margin": 0.4, "economics.discount_rate": 0.1,
                                "economics.acquisition_cost": 50.0})
    weeks = 4
    per_unit = lambda a, b: np.tile([a, b], (weeks, 1))  # noqa: E731
    result = make_run_result(params, {
        "revenue": per_unit(1200.0, 800.0),        # 2000 a week over 200 customers
        "active_customers": per_unit(120.0, 80.0),
        "customers_start": per_unit(120.0, 80.0),
        "churned": per_unit(1.0, 1.0),             # 1% a week
        "acquired": per_unit(6.0, 4.0),            # 10 new customers a week ...
        "referred": per_unit(2.0, 1.0),            # ... 3 of them referred: 70% from marketing
    })
    margin = 2000.0 * 0.4 / 200.0 * 52.0           # 208 a customer-year
    retention = 0.99**52
    expected = margin * retention / (1.1 - retention) - 0.7 * 50.0
    assert result.customer_lifetime_value() == pytest.approx(expected, rel=1e-12)
    assert result.customer_lifetime_value() == pytest.approx(208.25219, rel=1e-6)
    assert result.customer_lifetime_value(first_period="certain") == pytest.approx(
        margin / (1.1 - retention) - 0.7 * 50.0, rel=1e-12)


def test_run_result_clv_uses_the_window_from_start():
    params = Params().override({"economics.gross_margin": 0.5, "economics.discount_rate": 0.08,
                                "economics.acquisition_cost": 40.0})
    # week 0 differs wildly; from week 1 on: 300 revenue, 50 customers, 2% churn, all referred
    result = make_run_result(params, {
        "revenue": np.array([[9000.0], [300.0], [300.0]]),
        "active_customers": np.array([[10.0], [50.0], [50.0]]),
        "customers_start": np.array([[10.0], [50.0], [50.0]]),
        "churned": np.array([[5.0], [1.0], [1.0]]),
        "acquired": np.array([[4.0], [2.0], [3.0]]),
        "referred": np.array([[0.0], [2.0], [3.0]]),
    })
    margin = 300.0 * 0.5 / 50.0 * 52.0
    retention = 0.98**52
    assert result.customer_lifetime_value(start=1) == pytest.approx(
        margin * retention / (1.08 - retention), rel=1e-12)   # referred customers cost nothing
    with pytest.raises(ValueError, match="start must be in"):
        result.customer_lifetime_value(start=3)


def test_run_result_clv_from_a_simulated_run():
    """On an engine run: marketing costs what the share assumes, and the CLV is built from the fields."""
    import dataclasses

    from spchain import preset, simulate

    params = preset("workshop")
    params = dataclasses.replace(params, links=params.links.off())
    result = simulate(params, horizon=8, seed=3)
    ec = params.economics
    acquired, referred = result.field("acquired").sum(), result.field("referred").sum()
    assert 0 < referred < acquired
    # the engine charges the acquisition cost to marketing-acquired customers only
    assert result.field("marketing_cost").sum() == pytest.approx(ec.acquisition_cost * (acquired - referred))
    margin = (result.field("revenue").sum() * ec.gross_margin / result.field("active_customers").mean()
              * 52.0 / 8)
    retention = (1.0 - result.field("churned").sum() / result.field("customers_start").sum()) ** 52
    expected = (margin * retention / (1 + ec.discount_rate - retention)
                - ec.acquisition_cost * (acquired - referred) / acquired)
    assert result.customer_lifetime_value() == pytest.approx(expected, rel=1e-12)


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
    (lambda: customer_lifetime_value(1.0, 0.5, 0.1, first_period="start"),
     r"first_period must be one of \('retained', 'certain'\), got 'start'"),
    (lambda: customer_lifetime_value_profile([], 0.5, 0.1), r"margins must be a non-empty"),
    (lambda: customer_lifetime_value_profile([[1.0]], 0.5, 0.1), r"one-dimensional"),
    (lambda: customer_lifetime_value_profile([1.0, float("nan")], 0.5, 0.1), r"finite numbers"),
    (lambda: customer_lifetime_value_profile("abc", 0.5, 0.1), r"margins must be"),
    (lambda: customer_lifetime_value_profile([1.0, 2.0], [0.5], 0.1),
     r"retention must be one number or one per period \(2 values"),
    (lambda: customer_lifetime_value_profile([1.0], 1.5, 0.1), r"retention must be in \[0, 1\], got 1\.5"),
    (lambda: customer_lifetime_value_profile([1.0], "high", 0.1), r"retention must be a finite number"),
    (lambda: customer_lifetime_value_profile([1.0], 0.5, -1.5), r"discount_rate must be > -1, got -1\.5"),
    (lambda: customer_lifetime_value_profile([1.0], 0.5, 0.1, first_period="end"), r"first_period"),
    (lambda: customer_lifetime_value_profile([1.0], 0.5, 0.1, acquisition_cost=-1.0),
     r"acquisition_cost must be >= 0"),
    (lambda: mmc_service_level(1.0, 1.0, 2, -0.5), r"threshold must be a number >= 0.*got -0\.5"),
    (lambda: mmc_service_level(1.0, 1.0, 2, float("nan")), r"threshold must be a number >= 0"),
    (lambda: mmc_service_level(3.0, 1.0, 2, 1.0), r"n_servers \(2\) for a stable queue"),
    (lambda: erlang_a_service_level(1.0, 1.0, 2, 0.0, 1.0),
     r"abandonment_rate must be > 0, got 0\.0.*mmc_service_level"),
    (lambda: erlang_a_service_level(1.0, 1.0, 2, 1.0, "soon"), r"threshold must be a number >= 0"),
    (lambda: erlang_a_service_level(0.0, 1.0, 2, 1.0, 1.0), r"arrival_rate must be > 0"),
])
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
