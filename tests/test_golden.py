"""Golden run: a fixed preset, horizon and seed give exactly the recorded KPIs.

Any change to the engine's sample path shows up here, and it must come with
a new ``spchain.engine.model.SAMPLE_PATH_VERSION`` (the golden file records the
version it was made with; experiment stores are keyed on it).  When a
change is intended, bump the version, regenerate with
``SPCHAIN_REGEN_GOLDEN=1 python -m pytest tests/test_golden.py`` and say
why in the commit.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from spchain import METRICS, preset, simulate
from spchain.engine.model import SAMPLE_PATH_VERSION

GOLDEN = Path(__file__).parent / "golden" / "bank_branches_seed7.json"


def _current():
    r = simulate(preset("bank_branches"), horizon=20, seed=7)
    return {name: r.kpi(name).tolist() for name in METRICS}


def _same(golden, current):
    """Every recorded KPI has the same numbers (a KPI added since is not a sample-path change)."""
    return set(golden) <= set(current) and all(
        np.allclose(current[k], np.array(golden[k], dtype=float), rtol=1e-12, atol=0, equal_nan=True)
        for k in golden)


def test_golden_run():
    current = _current()
    stored = json.loads(GOLDEN.read_text())
    version, golden = stored.pop("sample_path_version", None), stored.get("kpis", stored)
    if os.environ.get("SPCHAIN_REGEN_GOLDEN"):
        if version == SAMPLE_PATH_VERSION and not _same(golden, current):
            pytest.fail(f"the sample path changed: bump spchain.engine.model.SAMPLE_PATH_VERSION "
                        f"(now {SAMPLE_PATH_VERSION}) before regenerating the golden run")
        GOLDEN.write_text(json.dumps({"sample_path_version": SAMPLE_PATH_VERSION, "kpis": current}, indent=1))
        pytest.skip("golden file regenerated")
    assert version == SAMPLE_PATH_VERSION, (
        f"golden run made with sample path version {version}, engine is {SAMPLE_PATH_VERSION}: "
        f"regenerate it (see this module's docstring)")
    assert set(golden) <= set(current), f"KPIs gone from the registry: {sorted(set(golden) - set(current))}"
    for name in golden:
        np.testing.assert_allclose(current[name], np.array(golden[name], dtype=float), rtol=1e-12,
                                   equal_nan=True, err_msg=name)
