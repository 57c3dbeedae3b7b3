"""Analytic results the simulation is verified against.

Queueing: the M/M/c queue (Erlang C) and the M/M/c+M queue with exponential
patience (Erlang A), their service levels (the share of arrivals answered
within a threshold), plus a Little's-law check.  Customer economics: the
lifetime value of a new customer, in closed form or from a period-by-period
margin profile, and the expected tenure implied by a retention rate.

Rates are per unit of time (any unit, used consistently); times come back in
the same unit.  Every function validates its arguments and raises
:class:`ValueError` naming the argument, its value and the bound it broke.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import gammaln, logsumexp

__all__ = [
    "erlang_c",
    "MMC",
    "mmc",
    "ErlangA",
    "erlang_a",
    "ServiceLevel",
    "mmc_service_level",
    "erlang_a_service_level",
    "littles_law_error",
    "customer_lifetime_value",
    "customer_lifetime_value_profile",
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


def _log_unqueued_terms(lam, mu, c):
    """``log(p_n / p_0) = n log a - log n!`` for ``n = 0 .. c`` (no one waiting)."""
    n = np.arange(c + 1, dtype=float)
    return n * math.log(lam / mu) - gammaln(n + 1.0)


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

    log_served = _log_unqueued_terms(lam, mu, c)
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


# --------------------------------------------------------------------------- service level

#: How far (in log units) below its maximum an integrand is followed before the rest is dropped.
_LOG_DROP = 50.0


@dataclass(frozen=True)
class ServiceLevel:
    """Waiting-time distribution of a queue at one threshold ``T``: the service level.

    All probabilities are per arrival (PASTA: the arrival sees the stationary
    queue).  ``W`` is the time an arrival spends waiting before it is either
    answered or abandons; ``V`` its *virtual* (offered) wait, the time it would
    wait if its patience were infinite.

    Attributes
    ----------
    threshold : float
        The threshold ``T``, in the time unit of the rates.
    answered : float
        ``P(served, W <= T)``: the share of all arrivals answered within ``T``.
        This is the call-centre service level "answered within T over
        offered calls" (the KPI ``service_level`` of a run).
    abandoned : float
        ``P(abandoned, W <= T)``: the share of all arrivals that abandon
        after waiting at most ``T`` (0 without abandonment).
    virtual : float
        ``P(V <= T)``: the share of arrivals whose offered wait is at most
        ``T``; equals ``answered`` without abandonment.
    prob_served : float
        ``P(served) = 1 - P(abandon)``: ``answered`` as ``T -> inf``.

    Notes
    -----
    Other definitions of the service level follow from these fields:
    answered within ``T`` over answered calls is :attr:`answered_given_served`;
    answered within ``T`` over calls that did not abandon within ``T`` is
    ``answered / (1 - abandoned)``.  An arrival still waiting at ``T`` has
    probability ``1 - answered - abandoned``.
    """

    threshold: float
    answered: float
    abandoned: float
    virtual: float
    prob_served: float

    @property
    def answered_given_served(self) -> float:
        """``P(W <= T | served)``: the share of answered calls answered within ``T``."""
        return self.answered / self.prob_served


def _threshold(value):
    """``value`` as a float in ``[0, inf]``, or a ValueError naming ``threshold``."""
    if isinstance(value, bool):
        raise ValueError(f"threshold must be a number >= 0 (a time in the unit of the rates), "
                         f"got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number >= 0 (a time in the unit of the rates), "
                         f"got {value!r}") from None
    if math.isnan(number) or number < 0:
        raise ValueError(f"threshold must be a number >= 0 (a time in the unit of the rates), "
                         f"got {value!r}")
    return number


def mmc_service_level(arrival_rate: float, service_rate: float, n_servers: int,
                      threshold: float) -> ServiceLevel:
    """Service level of the M/M/c queue: the probability of waiting at most ``T``.

    Parameters
    ----------
    arrival_rate : float
        Poisson arrival rate ``lambda`` (>= 0).
    service_rate : float
        Exponential service rate ``mu`` of one server (> 0).
    n_servers : int
        Number of servers ``c`` (>= 1); ``lambda < c mu`` for stability.
    threshold : float
        Threshold ``T`` (>= 0, ``math.inf`` allowed), in the time unit of the
        rates: e.g. 20 seconds is ``20 / 3600`` with rates per hour.

    Returns
    -------
    ServiceLevel
        With ``answered = virtual = P(Wq <= T)``, the waiting time in queue
        of an arbitrary arrival (every arrival is served, FCFS), and
        ``abandoned = 0``, ``prob_served = 1``.

    Raises
    ------
    ValueError
        If a rate or the threshold is out of range, or ``lambda / mu >= c``.

    See Also
    --------
    erlang_a_service_level : the same with impatient customers.

    Notes
    -----
    An arrival that finds ``c + k`` customers in the system (``k >= 0``
    waiting) waits for ``k + 1`` service completions at rate ``c mu``; mixing
    these Erlang distributions over the geometric queue length seen by an
    arrival gives (e.g. Gross, Shortle, Thompson & Harris, *Fundamentals of
    Queueing Theory*, 4th ed., 2008, section 2.3)

    ``P(Wq <= T) = 1 - C(c, a) exp(-(c mu - lambda) T)``,

    with ``C(c, a)`` the Erlang C probability of waiting (:func:`erlang_c`)
    and ``a = lambda / mu``.  For ``c = 1``: ``1 - rho exp(-(mu - lambda) T)``.

    Examples
    --------
    M/M/1 at 75% load, threshold half an hour: ``1 - 0.75 exp(-0.5)``.

    >>> sl = mmc_service_level(arrival_rate=3.0, service_rate=4.0, n_servers=1, threshold=0.5)
    >>> round(sl.answered, 9)
    0.545102005
    >>> mmc_service_level(3.0, 4.0, 1, threshold=0.0).answered  # P(no wait) = 1 - rho
    0.25
    """
    queue = mmc(arrival_rate, service_rate, n_servers)  # validates the rates and servers
    lam, mu, c = float(arrival_rate), float(service_rate), operator.index(n_servers)
    t = _threshold(threshold)
    late = queue.prob_wait * math.exp(-(c * mu - lam) * t) if queue.prob_wait > 0 else 0.0
    return ServiceLevel(threshold=t, answered=1.0 - late, abandoned=0.0, virtual=1.0 - late,
                        prob_served=1.0)


def _phi(x):
    """``x + expm1(-x) = exp(-x) - 1 + x >= 0``, accurate also for small ``|x|``."""
    if abs(x) >= 0.1:
        return x + math.expm1(-x)
    term, total = -x, 0.0
    for k in range(2, 12):  # sum_{k>=2} (-x)^k / k!; the first term left out is < 1e-18 of the sum
        term *= -x / k
        total += term
    return total


class _OfferedWait:
    """Integrals of ``exp(h(v) - extra v)`` for the Erlang A offered-wait density.

    ``h(v) = -c mu v + (lambda / theta)(1 - exp(-theta v))`` is ``log(f_V(v) /
    (p_c c mu))``; ``extra`` is 0, or ``theta`` to weigh by the survival of
    the arrival's own patience.  Logs of integrals come back *relative to*
    ``h(v_0)`` at the mode ``v_0`` of ``h`` on ``v >= 0``, and every difference
    of exponents is formed as ``slope u - B phi(theta u)`` (no cancellation of
    the large terms ``lambda / theta`` when ``theta`` is small); ``log_peak``
    is ``h(v_0)``.
    """

    def __init__(self, lam, theta, base_rate):
        self.lam, self.theta, self.base_rate = lam, theta, base_rate
        self.ref = self._mode(base_rate)
        # h(v_0) = (c mu / theta) phi(-theta v_0) at an interior mode, 0 at v_0 = 0
        self.log_peak = base_rate / theta * _phi(-theta * self.ref) if self.ref > 0 else 0.0

    def _mode(self, rate):
        return max(math.log(self.lam / rate) / self.theta, 0.0)

    def _local(self, rate, v0, mode):
        """Slope of ``-rate v + (lam / theta)(1 - e^(-theta v))`` at ``v0`` and its ``B``."""
        if v0 == mode and mode > 0:
            return 0.0, rate / self.theta
        weight = self.lam * math.exp(-self.theta * v0)
        return weight - rate, weight / self.theta

    def _step(self, slope, weight, u):
        """Change of the exponent from ``v0`` to ``v0 + u``."""
        return slope * u - weight * _phi(self.theta * u)

    def log_integral(self, extra, lo, hi):
        """``log int_lo^hi exp(h(v) - extra v) dv - h(v_0)``; ``hi`` may be inf."""
        if hi <= lo:
            return -math.inf
        rate = self.base_rate + extra
        mode = self._mode(rate)
        ref_slope, ref_weight = self._local(self.base_rate, self.ref, self.ref)
        pieces = []  # (anchor, direction, length): integrate outward from the highest end
        if lo < mode < hi:
            pieces += [(mode, -1.0, mode - lo), (mode, 1.0, hi - mode)]
        elif hi <= mode:
            pieces.append((hi, -1.0, hi - lo))
        else:
            pieces.append((lo, 1.0, hi - lo))

        logs = []
        for anchor, direction, length in pieces:
            top = self._step(ref_slope, ref_weight, anchor - self.ref) - extra * anchor
            slope, weight = self._local(rate, anchor, mode)

            def drop(y, slope=slope, weight=weight, direction=direction):
                return -self._step(slope, weight, direction * y)

            # scale: distance over which the integrand falls by about e near the anchor
            scale = 1.0 / max(abs(slope), math.sqrt(self.theta * weight * self.theta))
            end = length
            if not math.isfinite(length) or drop(length) > _LOG_DROP:
                upper = scale
                while drop(min(upper, length)) <= _LOG_DROP:
                    upper *= 2.0
                end = brentq(lambda y: drop(y) - _LOG_DROP, 0.0, min(upper, length),
                             xtol=1e-9 * scale)
            # break points doubling from the finest feature (1 / theta: where the
            # curvature of the exponent fades) so no narrow feature goes unseen
            fine = min(scale, 1.0 / self.theta) / 4.0
            points = fine * 2.0 ** np.arange(max(int(math.log2(end / fine)), 0) + 1) if end > fine else []
            value, _ = quad(lambda y: math.exp(-drop(y)), 0.0, end, points=points[points < end]
                            if len(points) else None, epsabs=0.0, epsrel=1e-12,
                            limit=max(200, 4 * len(points)))
            if value > 0.0:  # else the piece is too short to matter (subnormal length)
                logs.append(top + math.log(value))
        return float(logsumexp(logs)) if logs else -math.inf


def erlang_a_service_level(arrival_rate: float, service_rate: float, n_servers: int,
                           abandonment_rate: float, threshold: float) -> ServiceLevel:
    """Service level of the M/M/c+M queue (Erlang A): answered within ``T``.

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
        patience is ``1 / theta``.  For ``theta = 0`` use
        :func:`mmc_service_level`.
    threshold : float
        Threshold ``T`` (>= 0, ``math.inf`` allowed), in the time unit of the
        rates.

    Returns
    -------
    ServiceLevel
        ``answered = P(served, W <= T)``, the share of *all* arrivals answered
        within ``T`` (the call-centre service level); ``abandoned =
        P(abandoned, W <= T)``; ``virtual = P(V <= T)`` for the offered wait
        ``V``; ``prob_served = 1 - P(abandon)``.  The queue is stable for
        every ``lambda``.

    Raises
    ------
    ValueError
        If an argument is out of range.

    See Also
    --------
    erlang_a : abandonment probability, mean wait and utilisation.

    Notes
    -----
    FCFS with patience ``tau ~ Exp(theta)`` per customer.  An arrival that
    finds ``c + k`` customers in the system (``k`` waiting; probability
    ``p_{c+k}`` by PASTA) moves up one place at rate ``c mu + j theta`` while
    ``j`` customers are ahead of it, so its offered wait ``V`` is
    hypoexponential with rates ``c mu, c mu + theta, ..., c mu + k theta``,
    and it is answered if ``tau > V``.  With the stationary probabilities
    ``p_{c+k} = p_c prod_{l=1..k} lambda / (c mu + l theta)``, the mixture
    over ``k`` sums in closed form (write ``1 / prod_{l=0..k}(x + l theta)``
    as a beta integral) to the density of ``V`` on ``v > 0``

    ``f_V(v) = p_c c mu exp(-c mu v + (lambda / theta)(1 - exp(-theta v)))``,

    which for ``theta -> 0`` is Erlang C's ``C (c mu - lambda) exp(-(c mu -
    lambda) v)``.  Its mass is ``P(N >= c)``; with ``a = lambda / mu`` and
    ``P(N < c) = p_c sum_{n<c} c! a^(n-c) / n!`` (the states below ``c`` of
    :func:`erlang_a`), ``P(N < c) + P(N >= c) = 1`` fixes ``p_c``.  Then:

    * ``answered = P(N < c) + int_0^T exp(-theta v) f_V(v) dv``
      (answered if patience outlasts the offered wait);
    * ``virtual = 1 - int_T^inf f_V(v) dv``;
    * ``abandoned = P(N >= c) - (answered - P(N < c)) - exp(-theta T) (1 - virtual)``
      (the rest are still waiting at ``T``: ``V > T`` and ``tau > T``).

    Substituting ``y = (lambda / theta) exp(-theta v)`` turns the integrals
    into incomplete gamma functions, the closed forms of Mandelbaum & Zeltyn
    (2007), "The Palm/Erlang-A queue, with applications to call centers"
    (technical note, Technion).  Those overflow and underflow for small
    ``theta``; here the integrals of the log-concave integrand are computed
    by adaptive quadrature relative to its peak, with no truncation of the
    queue (absolute error below ``1e-12`` against the phase-type solution in
    the tests; ``1 - prob_served`` agrees with :func:`erlang_a` to ``1e-9``
    from ``theta = 1e-6`` to ``1000 mu`` and up to thousands of servers).

    Examples
    --------
    With ``theta = mu`` the number in system is Poisson(``a``) and the
    offered wait satisfies ``P(V <= T) = P(Poisson(a exp(-mu T)) <= c - 1)``;
    for ``c = 1`` that is ``exp(-a exp(-mu T))``:

    >>> sl = erlang_a_service_level(2.0, 1.0, 1, abandonment_rate=1.0, threshold=0.5)
    >>> round(sl.virtual, 12) == round(math.exp(-2.0 * math.exp(-0.5)), 12)
    True
    """
    lam = _positive("arrival_rate", arrival_rate)
    mu = _positive("service_rate", service_rate)
    c = _servers("n_servers", n_servers)
    theta = _real("abandonment_rate", abandonment_rate)
    if theta <= 0:
        raise ValueError(f"abandonment_rate must be > 0, got {abandonment_rate!r}; "
                         f"for a queue without abandonment use mmc_service_level()")
    t = _threshold(threshold)

    log_terms = _log_unqueued_terms(lam, mu, c)
    wait = _OfferedWait(lam, theta, c * mu)
    # everything relative to p_c c mu exp(h(v_0)), the peak of the offered-wait density
    log_below = float(logsumexp(log_terms[:-1] - log_terms[-1])) - wait.log_peak - math.log(c * mu)
    log_all = wait.log_integral(0.0, 0.0, math.inf)            # P(N >= c)
    log_served_all = wait.log_integral(theta, 0.0, math.inf)   # served after waiting
    log_served_by_t = wait.log_integral(theta, 0.0, t)         # ... within T
    log_later = wait.log_integral(0.0, t, math.inf)            # V > T

    log_norm = float(np.logaddexp(log_below, log_all))
    no_wait = math.exp(log_below - log_norm)
    prob_wait = math.exp(log_all - log_norm)
    answered_waiting = math.exp(log_served_by_t - log_norm)
    wait_beyond = math.exp(log_later - log_norm)
    still_waiting = wait_beyond * math.exp(-theta * t) if wait_beyond > 0 else 0.0
    abandoned = prob_wait - answered_waiting - still_waiting
    prob_served = min(no_wait + math.exp(log_served_all - log_norm), 1.0)
    return ServiceLevel(threshold=t, answered=min(no_wait + answered_waiting, prob_served),
                        abandoned=min(max(abandoned, 0.0), 1.0),
                        virtual=min(max(1.0 - wait_beyond, 0.0), 1.0), prob_served=prob_served)


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


def _discount_rate(discount_rate):
    i = _real("discount_rate", discount_rate)
    if i <= -1.0:
        raise ValueError(f"discount_rate must be > -1, got {discount_rate!r}")
    return i


#: Timing conventions of the first period's margin (see :func:`customer_lifetime_value`).
_FIRST_PERIOD = ("retained", "certain")


def _first_period(value):
    if value not in _FIRST_PERIOD:
        raise ValueError(f"first_period must be one of {_FIRST_PERIOD}, got {value!r}")
    return value


def customer_lifetime_value(margin: float, retention: float, discount_rate: float,
                            acquisition_cost: float = 0.0, *,
                            first_period: str = "retained") -> float:
    """Lifetime value of a newly acquired customer, net of acquisition cost.

    Constant margin and retention over an unlimited horizon; for margins that
    change with tenure use :func:`customer_lifetime_value_profile`.

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
    first_period : {"retained", "certain"}, default "retained"
        When the first margin is earned (see Notes): ``"retained"``, at the
        end of period 1 if the customer is still there; ``"certain"``, at the
        end of period 1 for sure.

    Returns
    -------
    float
        ``m r / (1 + i - r) - acquisition_cost`` (``"retained"``) or
        ``m / (1 + i - r) - acquisition_cost`` (``"certain"``).

    Raises
    ------
    ValueError
        If an argument is out of range, ``r >= 1 + i`` (the discounted sum
        diverges), or ``first_period`` is not one of the two conventions.

    Notes
    -----
    The customer is acquired at time 0 (paying the acquisition cost) and
    margins are earned at the *end* of each period ``t = 1, 2, ...`` the
    customer is a customer.

    * ``"retained"`` (Reichheld & Sasser 1990; Gupta & Lehmann 2003): the
      first margin needs a first retention, so period ``t`` pays with
      probability ``r^t`` and
      ``CLV = sum_{t>=1} m r^t / (1 + i)^t - AC = m r / (1 + i - r) - AC``.
      With ``i = 0`` this is ``m (expected_tenure(r) - 1)``: the period of
      acquisition earns nothing.
    * ``"certain"``: the first period's margin is earned for sure, so period
      ``t`` pays with probability ``r^(t-1)`` and
      ``CLV = sum_{t>=1} m r^(t-1) / (1 + i)^t - AC = m / (1 + i - r) - AC``,
      which is ``m expected_tenure(r)`` for ``i = 0``.

    Margins received at the *start* of each period instead (the first at
    time 0, for sure) give ``m (1 + i) / (1 + i - r)``, ``1 + i`` times the
    ``"certain"`` value.

    Examples
    --------
    >>> round(customer_lifetime_value(margin=100.0, retention=0.8, discount_rate=0.1), 6)
    266.666667
    >>> round(customer_lifetime_value(100.0, 0.8, 0.1, first_period="certain"), 6)
    333.333333
    """
    m = _real("margin", margin)
    r = _retention(retention)
    i = _discount_rate(discount_rate)
    if r >= 1.0 + i:
        raise ValueError(f"retention must be < 1 + discount_rate ({1.0 + i:g}) for the "
                         f"discounted sum to converge, got {retention!r}")
    cost = _non_negative("acquisition_cost", acquisition_cost)
    first = _first_period(first_period)
    return m * (r if first == "retained" else 1.0) / (1.0 + i - r) - cost


def customer_lifetime_value_profile(margins, retention, discount_rate: float, *,
                                    first_period: str = "retained",
                                    acquisition_cost: float = 0.0) -> float:
    """Lifetime value of a new customer from a period-by-period margin profile.

    Parameters
    ----------
    margins : sequence of float
        Margins ``m_1 .. m_T`` earned in periods ``1 .. T`` of a customer's
        tenure (e.g. rising with tenure); nothing is earned after period
        ``T``.  At least one period.
    retention : float or sequence of float
        ``r_t``, the probability that a customer who is a customer at the
        start of period ``t`` is still one at its end, each in ``[0, 1]``:
        one value for every period, or one per period (length ``T``).
    discount_rate : float
        Discount rate ``i`` per period (> -1).
    first_period : {"retained", "certain"}, default "retained"
        Whether a period's margin is earned only by customers retained
        through it (``"retained"``) or by every customer who starts it
        (``"certain"``; the first period's margin is then certain).
    acquisition_cost : float, default 0.0
        Cost of acquiring the customer, paid at time 0 (>= 0).

    Returns
    -------
    float
        ``sum_{t=1..T} m_t S_t / (1 + i)^t - acquisition_cost`` with the
        survival ``S_t = r_1 r_2 ... r_t`` (``"retained"``) or
        ``S_t = r_1 ... r_{t-1}``, ``S_1 = 1`` (``"certain"``; ``r_T`` is
        then not used).

    Raises
    ------
    ValueError
        If ``margins`` is empty, not one-dimensional or not finite, a
        retention is outside ``[0, 1]`` or their number differs from that of
        the margins, ``discount_rate <= -1``, ``acquisition_cost < 0`` or
        ``first_period`` is not one of the two conventions.

    See Also
    --------
    customer_lifetime_value : the closed form for constant margin and
        retention over an unlimited horizon.

    Notes
    -----
    Margins are received at the *end* of each period, discounted by
    ``(1 + i)^t``; the customer is acquired at time 0.  With constant ``m``
    and ``r`` the sum tends, as ``T`` grows, to ``m r / (1 + i - r)``
    (``"retained"``, Reichheld & Sasser 1990; Gupta & Lehmann 2003) or
    ``m / (1 + i - r)`` (``"certain"``), the values of
    :func:`customer_lifetime_value`; the two differ by a factor ``r``.  Margin
    profiles that grow with tenure are Reichheld & Sasser's (1990) argument
    for why long-lived customers are worth more than their first year's
    margin.

    Examples
    --------
    Three periods, margins 10, 20, 30, retention 0.5, no discounting:

    >>> customer_lifetime_value_profile([10, 20, 30], 0.5, 0.0)   # 10/2 + 20/4 + 30/8
    13.75
    >>> customer_lifetime_value_profile([10, 20, 30], 0.5, 0.0, first_period="certain")
    27.5
    """
    m = np.asarray(margins, dtype=float) if not isinstance(margins, (str, bytes)) else None
    if m is None or m.ndim != 1 or m.size == 0 or not np.all(np.isfinite(m)):
        raise ValueError(f"margins must be a non-empty one-dimensional sequence of finite "
                         f"numbers, got {margins!r}")
    if np.ndim(retention) == 0:
        r = np.full(m.size, _real("retention", retention))
    else:
        r = np.asarray(retention, dtype=float)
        if r.ndim != 1 or r.size != m.size:
            raise ValueError(f"retention must be one number or one per period "
                             f"({m.size} values, like margins), got {retention!r}")
    if not np.all((r >= 0.0) & (r <= 1.0)):
        raise ValueError(f"retention must be in [0, 1], got {retention!r}")
    i = _discount_rate(discount_rate)
    first = _first_period(first_period)
    cost = _non_negative("acquisition_cost", acquisition_cost)
    survival = np.cumprod(r) if first == "retained" else np.concatenate(([1.0], np.cumprod(r[:-1])))
    t = np.arange(1, m.size + 1, dtype=float)
    return float(np.sum(m * survival / (1.0 + i) ** t) - cost)


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
