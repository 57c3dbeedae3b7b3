"""Keyed random streams: common random numbers that hold per customer and per unit.

Every random number the engine uses comes from a generator keyed by what it
belongs to -- the stream, the week, the unit, and where needed the customer
slot, the employee position or the request -- through
``numpy.random.SeedSequence(seed, spawn_key=key)``.  Within one generator,
values are tied to *positions* (row ``i`` of a block belongs to slot ``i``),
never to how many draws other slots consumed: NumPy fills an array in order,
so row ``i`` of ``g.random((n, k))`` is the same for every ``n > i``.

Poisson event counts per slot are drawn by *inversion* of one uniform per
slot, so a change in a slot's rate changes that slot's count only when the
uniform lies near a boundary, and never moves another slot's events.  The
``k``-th event of a slot owns row ``i``'s ``k``-th group of uniforms (its
time, its service time, its patience...); events beyond ``k_max`` per slot
come from a generator keyed by the slot itself.
"""

from __future__ import annotations

import numpy as np

__all__ = ["STREAMS", "generator", "poisson_quantile", "exponential_quantile", "slot_events",
           "ordinals"]

#: Named stochastic streams, in the order of their spawn key.
STREAMS = ("arrivals", "requests", "internal_service", "workforce", "customers", "surveys", "units")


def generator(seed: int, stream: str, *key: int) -> np.random.Generator:
    """The generator of ``stream`` keyed by ``key`` (week, unit, slot...).

    ``SeedSequence(seed, spawn_key=(STREAMS.index(stream),) + key)``: the
    same seed and key always give the same numbers, and different keys give
    independent streams.
    """
    ss = np.random.SeedSequence(seed, spawn_key=(STREAMS.index(stream),) + tuple(key))
    return np.random.Generator(np.random.PCG64(ss))


def poisson_quantile(u, lam):
    """Poisson(``lam``) counts by inversion: the smallest ``n`` with ``F(n) >= u``.

    Vectorised over ``u`` and ``lam`` (broadcast).  Monotone in both: a
    larger rate never gives fewer events for the same uniform, which is what
    keeps paired scenarios in step.  Summing the probabilities term by term
    is exact for the rates the engine meets (below 200 per draw); larger
    rates use ``scipy.special`` (``pdtrik``), as ``scipy.stats.poisson.ppf``
    does.

    Examples
    --------
    >>> poisson_quantile([0.3, 0.5, 0.99], 1.0).tolist()
    [0, 1, 4]
    """
    u, lam = np.broadcast_arrays(np.asarray(u, float), np.asarray(lam, float))
    if u.size and lam.max() > 200.0:
        from scipy import special

        vals = np.ceil(special.pdtrik(u, lam))
        below = np.maximum(vals - 1, 0)
        return np.where(special.pdtr(below, lam) >= u, below, vals).astype(np.int64)
    n = np.zeros(u.shape, np.int64)
    p = np.exp(-lam)
    cdf = p.copy()
    todo = u > cdf
    k = 0
    limit = 40 + (lam.max() + 20.0 * np.sqrt(lam.max()) if lam.size else 0.0)
    while todo.any() and k < limit:  # the limit only guards against rounding at u ~ 1
        k += 1
        p = p * lam / k
        cdf = cdf + p
        n += todo
        todo &= u > cdf
    return n


def exponential_quantile(u):
    """Standard exponential variates from uniforms: ``-log(1 - u)``."""
    return -np.log1p(-np.asarray(u, float))


def slot_events(seed, stream, key, rates, n_fields, k_max):
    """Poisson events of every slot over one period, with the uniforms each event owns.

    Parameters
    ----------
    seed : int
        The run's seed.
    stream : str
        One of :data:`STREAMS`.
    key : tuple of int
        E.g. ``(week, unit)``.
    rates : ndarray
        Expected events of each slot in the period (0 for inactive slots).
    n_fields : int
        Uniforms each event owns (e.g. time, service time, patience).
    k_max : int
        Events per slot served from the shared block; further events of a
        slot come from a generator keyed by ``key + (slot,)``.

    Returns
    -------
    slots : ndarray of int
        The slot of each event, grouped by slot.
    uniforms : ndarray, shape (events, n_fields)
        The uniforms of each event.
    """
    rates = np.asarray(rates, float)
    n = rates.size
    width = n_fields * k_max
    block = generator(seed, stream, *key).random((n, 1 + width))
    counts = poisson_quantile(block[:, 0], rates)
    hit = np.flatnonzero(counts)
    if hit.size == 0:
        return np.zeros(0, np.intp), np.zeros((0, n_fields))
    from_block = np.minimum(counts[hit], k_max)
    slots = np.repeat(hit, from_block)
    starts = np.cumsum(from_block) - from_block
    k = np.arange(slots.size) - np.repeat(starts, from_block)
    cols = 1 + k[:, None] * n_fields + np.arange(n_fields)
    uniforms = block[slots[:, None], cols]
    extra = hit[counts[hit] > k_max]
    if extra.size:  # rare: slots with more than k_max events this period
        more_slots, more = [slots], [uniforms]
        for s in extra.tolist():
            m = int(counts[s]) - k_max
            more_slots.append(np.full(m, s, np.intp))
            more.append(generator(seed, stream, *key, s).random((m, n_fields)))
        slots, uniforms = np.concatenate(more_slots), np.concatenate(more)
        order = np.argsort(slots, kind="stable")
        slots, uniforms = slots[order], uniforms[order]
    return slots, uniforms


def ordinals(slots):
    """Position of each event among its slot's events, for slots grouped in ascending order.

    Examples
    --------
    >>> ordinals(np.array([2, 2, 5, 7, 7, 7])).tolist()
    [0, 1, 0, 0, 1, 2]
    """
    slots = np.asarray(slots)
    return np.arange(slots.size) - np.searchsorted(slots, slots, side="left")
