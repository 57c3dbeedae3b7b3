"""Analytic results the simulation is verified against.

Queueing: the M/M/c queue (Erlang C) and the M/M/c+M queue with exponential
patience (Erlang A), plus a Little's-law check.  Customer economics: the
lifetime value of a retained customer and the expected tenure implied by a
retention rate.

Rates are per unit of time (any unit, used consistently); times come back in
the same unit.  Every function validates its arguments and raises
:class:`ValueError` naming the argument, its value and the bound it broke.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, logsumexp

__all__ = [
    "erlang_c",
    "MMC",
    "mmc",
    "ErlangA",
    "erlang_a",
    "littles_law_error",
    "customer_lifetime_value",
    "expected_tenure",
]

#: Relative size below which the truncated tail of the Erlang A chain is ignored.
_TAIL_TOLERANCE = 1e-16
#: Most queue states beyond the servers the Erlang A chain may need.
_MAX_QUEUE_STATES = 10_000_000


# --------------------------------------------------------------------------- validation

def _servers(name, value):
    """``value`` as an int >= 1, or a ValueError naming ``name``."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    try:
        count = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}") from None
    if count < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {count}")
    return count


def _real(name, value):
    """``value`` as a finite float, or a ValueError naming ``name``."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def _positive(name, value):
    number = _real(name, value)
    if number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


def _non_negative(name, value):
    number = _real(name, value)
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return number


def _stable_load(n_servers, offered_load):
    if offered_load >= n_servers:
        raise ValueError(f"offered_load must be < n_servers ({n_servers}) for a stable queue, "
                         f"got {offered_load:g}")


# --------------------------------------------------------------------------- M/M/c

def erlang_c(n_servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (Erlang C).

    Parameters
    ----------
    n_servers : int
        Number of servers ``c`` (>= 1).
    offered_load : float
        Offered load ``a = lambda / mu`` in Erlang; ``0 <= a < c``.

    Returns
    -------
    float
        ``C(c, a)``, the stationary probability that all servers are busy,
        which by PASTA is the probability that an arrival waits.

    Raises
    ------
    ValueError
        If ``n_servers < 1`` or is not an integer, or ``offered_load`` is
        negative or at least ``n_servers`` (no steady state).

    Notes
    -----
    Uses the Erlang B recursion ``B(k) = a B(k-1) / (k + a B(k-1))`` with
    ``B(0) = 1``, which never forms ``a**c`` or ``c!``, then converts:
    ``C = c B / (c - a (1 - B))``.

    Examples
    --------
    >>> round(erlang_c(2, 1.0), 12)
    0.333333333333
    >>> erlang_c(1, 0.75)  # M/M/1: the utilisation
    0.75
    """
    c = _servers("n_servers", n_servers)
    a = _non_negative("offered_load", offered_load)
    _stable_load(c, a)
    blocking = 1.0
    for k in range(1, c + 1):
        blocking = a * blocking / (k + a * blocking)
    return c * blocking / (c - a * (1.0 - blocking))


@dataclass(frozen=True)
class MMC:
    """Steady-state measures of an M/M/c queue.

    Attributes
    ----------
    prob_wait : float
        Probability an arrival waits (Erlang C).
    mean_wait : float
        Mean time in queue over all arrivals, ``Wq = C / (c mu - lambda)``.
    mean_queue_length : float
        Mean number waiting, ``Lq = lambda Wq``.
    utilisation : float
        Fraction of server time busy, ``lambda / (c mu)``.
    mean_sojourn : float
        Mean time in system, ``W = Wq + 1 / mu``.
    mean_in_system : float
        Mean number in system, ``L = lambda W``.
    """

    prob_wait: float
    mean_wait: float
    mean_queue_length: float
    utilisation: float
    mean_sojourn: float
    mean_in_system: float


def mmc(arrival_rate: float, service_rate: float, n_servers: int) -> MMC:
    """Steady state of the M/M/c queue.

    Parameters
    ----------
    arrival_rate : float
        Poisson arrival rate ``lambda`` (>= 0).
    service_rate : float
        Exponential service rate ``mu`` of one server (> 0).
    n_servers : int
        Number of servers ``c`` (>= 1); ``lambda < c mu`` for stability.

    Returns
    -------
    MMC
        Waiting probability, mean wait, mean queue length, utilisation,
        mean sojourn time and mean number in system.

    Raises
    ------
    ValueError
        If a rate is out of range or ``lambda / mu >= c``.

    Examples
    --------
    >>> q = mmc(arrival_rate=0.5, service_rate=1.0, n_servers=1)
    >>> q.mean_wait, q.mean_in_system
    (1.0, 1.0)
    """
    lam = _non_negative("arrival_rate", arrival_rate)
    mu = _positive("service_rate", service_rate)
    c = _servers("n_servers", n_servers)
    load = lam / mu
    if load >= c:
        raise ValueError(f"arrival_rate / service_rate (offered load) must be < n_servers ({c}) "
                         f"for a stable queue, got {load:g}")
    prob_wait = erlang_c(c, load)
    mean_wait = prob_wait / (c * mu - lam)
    mean_sojourn = mean_wait + 1.0 / mu
    return MMC(prob_wait=prob_wait, mean_wait=mean_wait, mean_queue_length=lam * mean_wait,
               utilisation=lam / (c * mu), mean_sojourn=mean_sojourn,
               mean_in_system=lam * mean_sojourn)


# --------------------------------------------------------------------------- M/M/c+M

@dataclass(frozen=True)
class ErlangA:
    """Steady-state measures of an M/M/c+M queue (Erlang A).

    Attributes
    ----------
    prob_wait : float
        Probability an arrival finds every server busy, ``P(N >= c)``.
    prob_abandon : float
        Probability an arrival abandons before service, ``theta Lq / lambda``.
    mean_wait : float
        Mean time in queue over all arrivals, served or abandoned,
        ``Lq / lambda``.
    utilisation : float
        Served load per server, ``lambda (1 - P_ab) / (c mu)``.
    mean_queue_length : float
        Mean number waiting, ``Lq``.
    """

    prob_wait: float
    prob_abandon: float
    mean_wait: float
    utilisation: float
    mean_queue_length: float


def _log_queue_terms(lam, mu, c, theta, n_queue):
    """``log(p_{c+j} / p_c)`` for ``j = 1 .. n_queue``."""
    j = np.arange(1, n_queue + 1, dtype=float)
    return np.cumsum(math.log(lam) - np.log(c * mu + j * theta))


def erlang_a(arrival_rate: float, service_rate: float, n_servers: int,
             abandonment_rate: float) -> ErlangA:
    """Steady state of the M/M/c+M queue: exponential patience (Erlang A).

    Parameters
    ----------
    arrival_rate : float
        Poisson arrival rate ``lambda`` (> 0).
    service_rate : float
        Exponential service rate ``mu`` of one server (> 0).
    n_servers : int
        Number of servers ``c`` (>= 1).
    abandonment_rate : float
        Rate ``theta`` at which each waiting customer abandons (> 0); the mean
        patience is ``1 / theta``.  For ``theta = 0`` use :func:`mmc`.

    Returns
    -------
    ErlangA
        Waiting and abandonment probabilities, mean wait, utilisation and
        mean queue length.  The queue is stable for every ``lambda``.

    Raises
    ------
    ValueError
        If an argument is out of range, or ``theta`` is so small relative to
        the overload ``lambda - c mu`` that the queue needs more than ten
        million states.

    Notes
    -----
    Solves the birth-death chain exactly: births at rate ``lambda``, deaths at
    ``mu min(n, c) + theta max(n - c, 0)``.  Stationary probabilities are
    built in log space (``p_n / p_0 = a^n / n!`` up to ``c``, then products of
    ``lambda / (c mu + j theta)``) and normalised with log-sum-exp.  The
    chain is truncated once the ratio of successive terms is below one and a
    geometric bound on the remaining mass and queue length is below
    ``1e-16`` of the total.  Then ``P(wait) = P(N >= c)`` (PASTA),
    ``Wq = Lq / lambda`` (Little) and ``P(abandon) = theta Lq / lambda``.

    Examples
    --------
    With ``theta = mu`` the number in system is Poisson(``lambda / mu``),
    as in M/M/infinity:

    >>> q = erlang_a(arrival_rate=2.0, service_rate=1.0, n_servers=1, abandonment_rate=1.0)
    >>> round(q.prob_wait, 12) == round(1 - math.exp(-2.0), 12)
    True
    """
    lam = _positive("arrival_rate", arrival_rate)
    mu = _positive("service_rate", service_rate)
    c = _servers("n_servers", n_servers)
    theta = _real("abandonment_rate", abandonment_rate)
    if theta <= 0:
        raise ValueError(f"abandonment_rate must be > 0, got {abandonment_rate!r}; "
                         f"for a queue without abandonment use mmc()")

    # states 0..c: log(p_n / p_0) = n log a - log n!
    n = np.arange(c + 1, dtype=float)
    log_served = n * math.log(lam / mu) - gammaln(n + 1.0)
    log_p_c = log_served[-1]

    # states c+1..c+K: grow K until the tail is negligible
    overload_states = min(max(lam - c * mu, 0.0) / theta, _MAX_QUEUE_STATES)
    n_queue = min(max(64, 2 * int(overload_states)), _MAX_QUEUE_STATES)
    while True:
        log_queue = log_p_c + _log_queue_terms(lam, mu, c, theta, n_queue)
        ratio = lam / (c * mu + (n_queue + 1) * theta)  # next term over last term, and falling
        if ratio < 1.0:
            j = np.arange(1, n_queue + 1, dtype=float)
            log_total = logsumexp(np.concatenate([log_served, log_queue]))
            log_lq = logsumexp(log_queue + np.log(j))
            # sum_{m>=1} t_K ratio^m and sum_{m>=1} (K + m) t_K ratio^m bound the tails
            log_geom = math.log(ratio) - math.log1p(-ratio)
            log_tail_mass = log_queue[-1] + log_geom
            log_tail_lq = log_queue[-1] + log_geom + math.log(n_queue + 1.0 / (1.0 - ratio))
            tolerance = math.log(_TAIL_TOLERANCE)
            if (log_tail_mass < log_total + tolerance
                    and log_tail_lq < max(log_lq, log_total - 745.0) + tolerance):
                break
        if n_queue >= _MAX_QUEUE_STATES:
            raise ValueError(f"abandonment_rate {theta:g} is too small for the overload "
                             f"arrival_rate - n_servers * service_rate = {lam - c * mu:g}: "
                             f"more than {_MAX_QUEUE_STATES} queue states needed")
        n_queue = min(2 * n_queue, _MAX_QUEUE_STATES)

    prob_wait = float(np.exp(logsumexp(np.append(log_queue, log_p_c)) - log_total))
    queue_length = float(np.exp(log_lq - log_total))
    prob_abandon = theta * queue_length / lam
    return ErlangA(prob_wait=prob_wait, prob_abandon=prob_abandon, mean_wait=queue_length / lam,
                   utilisation=lam * (1.0 - prob_abandon) / (c * mu),
                   mean_queue_length=queue_length)


# --------------------------------------------------------------------------- Little's law

def littles_law_error(mean_number: float, arrival_rate: float, mean_time: float) -> float:
    """Relative discrepancy from Little's law ``L = lambda W``.

    Parameters
    ----------
    mean_number : float
        Time-average number in the system ``L`` (>= 0).
    arrival_rate : float
        Throughput ``lambda`` (>= 0).
    mean_time : float
        Mean time in the system per customer ``W`` (>= 0).

    Returns
    -------
    float
        ``|L - lambda W| / max(L, tiny)``, with ``tiny`` the smallest
        positive normal float; 0 when both sides are 0.

    Examples
    --------
    >>> littles_law_error(mean_number=9.0, arrival_rate=3.0, mean_time=3.0)
    0.0
    >>> littles_law_error(mean_number=10.0, arrival_rate=3.0, mean_time=3.0)
    0.1
    """
    number = _non_negative("mean_number", mean_number)
    lam = _non_negative("arrival_rate", arrival_rate)
    time = _non_negative("mean_time", mean_time)
    return abs(number - lam * time) / max(number, np.finfo(float).tiny)


# --------------------------------------------------------------------------- customers

def _retention(retention):
    rate = _real("retention", retention)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"retention must be in [0, 1), got {retention!r}")
    return rate


def customer_lifetime_value(margin: float, retention: float, discount_rate: float,
                            acquisition_cost: float = 0.0) -> float:
    """Lifetime value of a newly acquired customer, net of acquisition cost.

    Parameters
    ----------
    margin : float
        Contribution margin ``m`` earned per period from a retained customer.
    retention : float
        Probability ``r`` that a customer stays for another period,
        ``0 <= r < 1 + i``, and ``r < 1``.
    discount_rate : float
        Discount rate ``i`` per period (> -1).
    acquisition_cost : float, default 0.0
        Cost of acquiring the customer, paid at time 0 (>= 0).

    Returns
    -------
    float
        ``m r / (1 + i - r) - acquisition_cost``.

    Raises
    ------
    ValueError
        If an argument is out of range, or ``r >= 1 + i`` (the discounted
        sum diverges).

    Notes
    -----
    Timing convention (Reichheld & Sasser 1990; Gupta & Lehmann 2003): the
    customer is acquired at time 0 and the margin is earned at the *end* of
    each period the customer is retained, the first at the end of period 1
    with probability ``r``.  Hence
    ``CLV = sum_{t>=1} m r^t / (1 + i)^t - acquisition_cost``.  With
    ``i = 0`` this is ``m (expected_tenure(r) - 1)``: the period of
    acquisition earns nothing.

    Examples
    --------
    >>> round(customer_lifetime_value(margin=100.0, retention=0.8, discount_rate=0.1), 6)
    266.666667
    """
    m = _real("margin", margin)
    r = _retention(retention)
    i = _real("discount_rate", discount_rate)
    if i <= -1.0:
        raise ValueError(f"discount_rate must be > -1, got {discount_rate!r}")
    if r >= 1.0 + i:
        raise ValueError(f"retention must be < 1 + discount_rate ({1.0 + i:g}) for the "
                         f"discounted sum to converge, got {retention!r}")
    cost = _non_negative("acquisition_cost", acquisition_cost)
    return m * r / (1.0 + i - r) - cost


def expected_tenure(retention: float) -> float:
    """Expected number of periods a customer stays, ``1 / (1 - r)``.

    Parameters
    ----------
    retention : float
        Probability ``r`` of staying another period, ``0 <= r < 1``.

    Returns
    -------
    float
        Mean of the geometric tenure ``T`` with ``P(T = k) = r^(k-1) (1 - r)``,
        ``k >= 1``, counting the period of acquisition.

    Examples
    --------
    Reichheld's anchor: cutting defections from 10% to 5% doubles tenure.

    >>> round(expected_tenure(0.90), 9), round(expected_tenure(0.95), 9)
    (10.0, 20.0)
    """
    return 1.0 / (1.0 - _retention(retention))
