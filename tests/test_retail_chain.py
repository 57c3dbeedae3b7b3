"""The 250-store preset: heterogeneous units whose unit-level relationships look like the published ones."""

import numpy as np
import pytest

from spchain import preset, simulate
from spchain.engine.units import department_loads, unit_profiles


def _fisher(r, n, level_z=2.576):
    z, h = np.arctanh(r), level_z / np.sqrt(n - 3)
    return np.tanh(z - h), np.tanh(z + h)


def test_the_chain_is_large_heterogeneous_and_staffed():
    p = preset("retail_chain")
    assert p.organisation.n_units >= 200
    assert max(department_loads(p).values()) < 0.75
    profiles = unit_profiles(p, seed=1)
    sizes = np.array([u.market_size for u in profiles])
    assert 0.3 < np.log(sizes).std() < 0.5 and len(set(sizes.tolist())) == len(sizes)


@pytest.mark.slow
def test_unit_level_relationships_are_moderate():
    """Employee satisfaction relates to every outcome across stores, but far from deterministically.

    Unit-level studies (Harter, Schmidt & Hayes 2002; Brown & Lam 2008) find
    correlations of roughly .1 to .4 in absolute value; identical units give
    .7 to .97.  Each 99% Fisher interval must exclude 0 and lie below .8.
    """
    r = simulate(preset("retail_chain"), horizon=52, seed=1)
    by_unit = {k: np.array([r.total(k, unit=u, start=13) for u in range(r.n_units)])
               for k in ("employee_satisfaction", "customer_satisfaction", "turnover", "productivity", "profit")}
    es = by_unit.pop("employee_satisfaction")
    for kpi, sign in (("customer_satisfaction", 1), ("turnover", -1), ("productivity", 1), ("profit", 1)):
        corr = np.corrcoef(es, by_unit[kpi])[0, 1]
        low, high = _fisher(sign * corr, es.size)
        assert low > 0 and high < 0.8, (kpi, corr, low, high)
