"""Large organisations: the 250-store ``retail_chain`` preset and a 500-store chain, one simulated year.

Measures, in one run on one core: wall time and peak resident memory of
one simulated year of ``retail_chain`` (250 stores), and wall time of a
500-store chain (the same stores, departments sized for it).  Targets:
the 500-store year in under 3 minutes.

Run: ``python benchmarks/bench_large.py``.
"""

from __future__ import annotations

import resource
import time

from spchain import preset, simulate
from spchain.engine.units import size_departments


def _year(params):
    started = time.perf_counter()
    result = simulate(params, horizon=52, seed=1)
    return time.perf_counter() - started, result


def main():
    chain = preset("retail_chain")
    seconds, result = _year(chain)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    served = result.field("served").sum()
    print(f"retail_chain, {chain.organisation.n_units} stores, one year: {seconds:.1f} s "
          f"({served / seconds:,.0f} customers/s), peak resident memory {peak_mb:.0f} MB")
    big = size_departments(chain.override({"organisation.n_units": 500}))
    seconds, _ = _year(big)
    print(f"500 stores, one year: {seconds:.1f} s (target < 180 s: {'met' if seconds < 180 else 'MISSED'})")


if __name__ == "__main__":
    main()
