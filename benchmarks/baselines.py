"""Reference M/M/c simulations the engine benchmark compares against.

Two baselines for the same queue: the idiomatic plain-SimPy program (a
``Resource``, a source process and one process per customer, scalar draws
from a NumPy ``Generator``) and the same queue in Ciw.  Both return the
number served, their mean wait and the wall time of the run alone, so a
benchmark can report customers served per second.  They do not import
spchain.
"""

from __future__ import annotations

import time

import numpy as np
import simpy

__all__ = ["simpy_mmc", "ciw_mmc"]


def simpy_mmc(arrival_rate, service_rate, n_servers, n_customers, seed):
    """Simulate an M/M/c queue in plain SimPy until ``n_customers`` are served.

    Parameters
    ----------
    arrival_rate : float
        Poisson arrival rate ``lambda``.
    service_rate : float
        Exponential service rate ``mu`` of one server.
    n_servers : int
        Number of servers ``c`` (the ``Resource`` capacity).
    n_customers : int
        Stop as soon as this many customers have completed service.
    seed : int
        Seed for ``numpy.random.default_rng``.

    Returns
    -------
    dict
        ``n_served`` (customers who completed service), ``mean_wait`` (their
        mean time in queue, from an empty system at time 0) and ``seconds``
        (``time.perf_counter`` wall time of the run, excluding setup).
    """
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=n_servers)
    waits = []
    all_served = env.event()

    def customer():
        arrived = env.now
        with servers.request() as request:
            yield request
            wait = env.now - arrived
            yield env.timeout(rng.exponential(1.0 / service_rate))
        waits.append(wait)
        if len(waits) == n_customers:
            all_served.succeed()

    def source():
        while True:
            yield env.timeout(rng.exponential(1.0 / arrival_rate))
            env.process(customer())

    env.process(source())
    start = time.perf_counter()
    env.run(until=all_served)
    seconds = time.perf_counter() - start
    return {"n_served": len(waits), "mean_wait": float(np.mean(waits)), "seconds": seconds}


def ciw_mmc(arrival_rate, service_rate, n_servers, n_customers, seed):
    """Simulate the same M/M/c queue in Ciw until ``n_customers`` are served.

    Parameters
    ----------
    arrival_rate : float
        Poisson arrival rate ``lambda``.
    service_rate : float
        Exponential service rate ``mu`` of one server.
    n_servers : int
        Number of servers ``c``.
    n_customers : int
        Passed to ``simulate_until_max_customers(..., method="Finish")``:
        stop when this many customers have left the system.
    seed : int
        Passed to ``ciw.seed``, which seeds Ciw's global random state.

    Returns
    -------
    dict
        ``n_served``, ``mean_wait`` (mean ``waiting_time`` of the records) and
        ``seconds`` (wall time of building and running the simulation).

    Raises
    ------
    ImportError
        If Ciw is not installed (``pip install spchain[bench]``).
    """
    import ciw

    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(arrival_rate)],
        service_distributions=[ciw.dists.Exponential(service_rate)],
        number_of_servers=[n_servers],
    )
    ciw.seed(seed)
    start = time.perf_counter()
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_customers(n_customers, method="Finish")
    seconds = time.perf_counter() - start
    records = simulation.get_all_records()
    mean_wait = float(np.mean([record.waiting_time for record in records]))
    return {"n_served": len(records), "mean_wait": mean_wait, "seconds": seconds}
