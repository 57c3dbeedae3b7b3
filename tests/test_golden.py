"""Golden run: a fixed preset, horizon and seed give exactly the recorded KPIs.

Any change to the engine's sample path shows up here.  When a change is
intended, regenerate with ``SPCHAIN_REGEN_GOLDEN=1 python -m pytest tests/test_golden.py``
and say why in the commit.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from spchain import METRICS, preset, simulate

GOLDEN = Path(__file__).parent / "golden" / "bank_branches_seed7.json"


def _current():
    r = simulate(preset("bank_branches"), horizon=20, seed=7)
    return {name: r.kpi(name).tolist() for name in METRICS}


def test_golden_run():
    current = _current()
    if os.environ.get("SPCHAIN_REGEN_GOLDEN"):
        GOLDEN.write_text(json.dumps(current, indent=1))
        pytest.skip("golden file regenerated")
    golden = json.loads(GOLDEN.read_text())
    assert set(golden) == set(current)
    for name in golden:
        np.testing.assert_allclose(current[name], np.array(golden[name], dtype=float), rtol=1e-12,
                                   equal_nan=True, err_msg=name)
