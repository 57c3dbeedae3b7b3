"""Vectorised helpers of the weekly updates: sequential smoothing, customer traits, draws.

Pure functions of NumPy arrays that the unit, its customer base and the
engine share; the weekly updates themselves are methods of the classes
whose state they change (:class:`spchain.engine.frontline.Unit`,
:class:`spchain.engine.customers.CustomerBase`,
:class:`spchain.engine.departments.Department`).
"""

from __future__ import annotations

import numpy as np

from . import streams

__all__ = ["sequential_update", "customer_traits", "assign_positions", "service_time_draws",
           "TRAIT_EXPECTATION", "TRAIT_TOLERANCE", "TRAIT_CHURN", "TRAIT_SPEND"]

#: Columns of a customer base's ``traits`` (:func:`customer_traits`): lasting customer differences.
TRAIT_EXPECTATION, TRAIT_TOLERANCE, TRAIT_CHURN, TRAIT_SPEND = range(4)


def sequential_update(state, idx, target, weight):
    """``state[i] += weight * (target - state[i])`` for each ``(i, target)`` in the order given.

    Repeated indices are applied one after another, in closed form: after
    targets ``t_1..t_n`` a state ``s`` becomes
    ``(1 - w)^n s + sum_k w (1 - w)^(n - k) t_k``, so a customer with many
    visits costs no more than many customers with one (``O(n log n)``).

    Parameters
    ----------
    state : numpy.ndarray
        Updated in place.
    idx : array_like of int
        Index of each update, in the order they happen.
    target : array_like of float
        Target of each update.
    weight : float
        Weight ``w`` of each update's target.

    Examples
    --------
    >>> s = np.array([0.0, 1.0])
    >>> sequential_update(s, np.array([0, 0, 1]), np.array([1.0, 0.0, 0.0]), 0.5)
    >>> s.tolist()
    [0.25, 0.5]
    """
    idx = np.asarray(idx)
    if idx.size == 0:
        return
    order = np.argsort(idx, kind="stable")
    ids, targets = idx[order], np.asarray(target, float)[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    counts = np.diff(np.r_[starts, ids.size])
    pos = np.arange(ids.size) - np.repeat(starts, counts)
    after = np.repeat(counts, counts) - 1 - pos  # later experiences of the same customer
    keep = 1.0 - weight
    contrib = weight * keep ** after * targets
    uniq = ids[starts]
    state[uniq] = keep ** counts * state[uniq] + np.add.reduceat(contrib, starts)


def customer_traits(customers, z):
    """Lasting traits of customers from standard normals ``z`` (rows of 4).

    Columns: offset to the quality they expect (normal, sd
    ``expectation_sd``), multipliers of their wait tolerance, churn hazard
    and spend per visit (mean-one log-normals with log-sds
    ``tolerance_sd``, ``churn_propensity_sd``, ``spend_sd``).  All neutral
    (0, 1, 1, 1) when the spreads are 0.

    Parameters
    ----------
    customers : CustomerParams
        The ``customers`` section of the parameters.
    z : numpy.ndarray
        Standard normals, one row of 4 per customer.

    Returns
    -------
    numpy.ndarray
        One row per customer, columns :data:`TRAIT_EXPECTATION`,
        :data:`TRAIT_TOLERANCE`, :data:`TRAIT_CHURN`, :data:`TRAIT_SPEND`.
    """
    sds = np.array([customers.tolerance_sd, customers.churn_propensity_sd, customers.spend_sd])
    out = np.empty((len(z), 4))
    out[:, TRAIT_EXPECTATION] = customers.expectation_sd * z[:, 0] + 0.0
    out[:, 1:] = np.exp(sds * z[:, 1:] - 0.5 * sds * sds)
    return out


def assign_positions(u, share, n_positions):
    """Assigned positions from uniform pairs: -1 (no relationship) unless ``u[:, 0] < share``.

    Parameters
    ----------
    u : numpy.ndarray
        Uniforms, one pair per customer: whether, then which position.
    share : float
        Share of customers served by an employee of their own.
    n_positions : int
        Positions of the unit.

    Returns
    -------
    numpy.ndarray of int
        Each customer's position, or -1.
    """
    position = np.minimum((u[:, 1] * n_positions).astype(np.intp), n_positions - 1)
    return np.where(u[:, 0] < share, position, -1)


def service_time_draws(u, cv):
    """Standard service times (mean 1) from uniforms: exponential, or gamma with CV ``cv``.

    Parameters
    ----------
    u : array_like
        Uniforms, one per service.
    cv : float
        Coefficient of variation of the service time (1: exponential).

    Returns
    -------
    numpy.ndarray
    """
    if cv == 1.0:
        return streams.exponential_quantile(u)
    from scipy import special

    shape = 1.0 / cv ** 2
    return special.gammaincinv(shape, np.asarray(u, float)) / shape
