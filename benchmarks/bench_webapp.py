"""The workshop server: wall time of one round for 30 teams, and memory after 8 rounds.

A session of the ``workshop`` preset with 30 teams plays 8 rounds through
:func:`spchain.apps.webapp.app.close_round` (what the facilitator's "Close round"
button runs: read the decisions from SQLite, simulate one quarter per team
from its saved state, store the results).  Each team sets different levers
every round.  Measured, side by side in one run:

* wall time of each round, and with ``workers=1`` its CPU time (what the
  round costs whatever else the machine is doing), with the rounds simulated in the server's process
  (``workers=1``) and in 2 fixed worker processes (``workers=2``; the first
  round includes starting them), target under 5 s on 2 cores;
* the reference: the same team-quarters as independent
  ``simulate(horizon=13)`` runs (the cost of the model alone);
* memory after 8 rounds: the server process's peak RSS
  (``resource.getrusage``) and, with workers, the RSS of each worker
  (``/proc``, Linux), and the size of the SQLite file.

Run: ``python benchmarks/bench_webapp.py [--teams 30] [--rounds 8] [--quick]``
(``--quick``: 10 teams, 3 rounds).

Measured 2026-11-26 at 12:43 UTC on the 2-core development machine, quiet
(load average 0.7-1.1), full size: the reference (30 independent 13-week
runs) 1.86 s; a round with ``workers=1`` 1.92-2.40 s (mean 2.13, 1.14x the
reference); with ``workers=2`` 1.89 s for round 1 (starting the workers),
then 0.99-1.37 s (mean 1.16).  Memory after 8 rounds: peak RSS 144 MiB
(118 MiB before the session) with ``workers=1``; 126 MiB per worker with
``workers=2``; SQLite file 0.57 MiB.  The target (under 5 s) is met.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from spchain import preset, simulate
from spchain.apps.webapp.app import close_round
from spchain.apps.webapp.sim import RoundRunner
from spchain.apps.webapp.state import WorkshopStore
from spchain.apps.workshop import LEVERS, QUARTER


def _levers(team, rnd):
    """A different, valid decision for every team and round."""
    out = {}
    for i, lever in enumerate(LEVERS):
        steps = int(round((lever.high - lever.low) / lever.step))
        k = (team * 7 + rnd * 3 + i * 5) % (steps + 1)
        value = lever.low + k * lever.step
        out[lever.path] = int(value) if isinstance(lever.step, int) else round(value, 6)
    return out


def _rss_mib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return float("nan")
    return float("nan")


def play(teams, rounds, workers, folder):
    store = WorkshopStore(Path(folder) / f"bench-{workers}.sqlite")
    session = store.create_session(rounds=rounds, seed=2026)
    members = [store.join(session, f"team {t + 1:02d}") for t in range(teams)]
    runner = RoundRunner(workers)
    times, cpu = [], []
    try:
        for rnd in range(1, rounds + 1):
            for t, team in enumerate(members):
                store.submit(session, team, _levers(t, rnd))
            started, cpu_started = time.perf_counter(), time.process_time()
            session = close_round(store, runner, session)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
        workers_rss = [_rss_mib(p.pid) for pool in runner._pools or () for p in pool._processes.values()] \
            if workers > 1 else []
    finally:
        runner.close()
    return times, cpu, workers_rss, store.path.stat().st_size / 2**20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="10 teams, 3 rounds")
    args = parser.parse_args(argv)
    teams, rounds = (10, 3) if args.quick else (args.teams, args.rounds)
    print(f"{teams} teams, {rounds} rounds of {QUARTER} weeks, workshop preset; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f}")
    started, cpu_started = time.perf_counter(), time.process_time()
    for t in range(teams):
        simulate(preset("workshop").override(_levers(t, 1)), horizon=QUARTER, seed=2026)
    reference, reference_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(f"reference: {teams} independent 13-week runs: {reference:.2f} s wall, {reference_cpu:.2f} s CPU")
    with tempfile.TemporaryDirectory() as folder:
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        serial, serial_cpu, _, db_mib = play(teams, rounds, 1, folder)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        pooled, _, worker_rss, _ = play(teams, rounds, 2, folder)
    fmt = " ".join(f"{x:.2f}" for x in serial)
    print(f"workers=1: round wall times (s): {fmt}; mean {sum(serial) / rounds:.2f}, worst {max(serial):.2f}; "
          f"ratio to reference {sum(serial) / rounds / reference:.2f}")
    fmt = " ".join(f"{x:.2f}" for x in serial_cpu)
    print(f"workers=1: round CPU times (s): {fmt}; mean {sum(serial_cpu) / rounds:.2f} (CPU of the reference: "
          f"{reference_cpu:.2f}; a round on one otherwise idle core takes about its CPU time)")
    fmt = " ".join(f"{x:.2f}" for x in pooled)
    later = pooled[1:] or pooled
    print(f"workers=2: round wall times (s): {fmt}; rounds 2+ mean {sum(later) / len(later):.2f}, worst "
          f"{max(later):.2f} (round 1 starts the workers)")
    print(f"memory after {rounds} rounds, workers=1: peak RSS {rss_after:.0f} MiB (before the session "
          f"{rss_before:.0f} MiB); workers=2: worker RSS {', '.join(f'{x:.0f}' for x in worker_rss)} MiB; "
          f"SQLite file {db_mib:.2f} MiB")
    print(f"target: a round under 5 s of wall time on 2 cores: worst round {max(serial):.2f} s with 1 process, "
          f"{max(later):.2f} s with 2 (load average now {os.getloadavg()[0]:.1f}); CPU of the costliest round "
          f"{max(serial_cpu):.2f} s, so {'met' if max(serial_cpu) < 5 else 'not met'} on an otherwise idle core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
