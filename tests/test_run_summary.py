"""``RunResult.summary``: its columns say which weeks they show."""

from __future__ import annotations

import pytest

import spchain
from spchain.metrics import METRICS
from spchain.result import format_value


@pytest.fixture(scope="module")
def run():
    return spchain.simulate(spchain.preset("workshop"), horizon=20, seed=3)


def test_columns_are_labelled_with_their_weeks(run):
    lines = run.summary(start=13).splitlines()
    header = lines[1].split()
    assert header[:7] == ["KPI", "week", "14", "week", "20", "weeks", "14-20"]
    assert "first week" not in lines[1] and "whole run" not in lines[1]
    row = next(line for line in lines if line.startswith(METRICS["revenue"].label))
    values = row[36:].split()[:3]
    # week 14 is period index 13; weeks 14-20 sum the periods 13..19
    assert values == [format_value(run.kpi("revenue")[13]), format_value(run.kpi("revenue")[-1]),
                      format_value(run.total("revenue", start=13))]
    assert run.summary().splitlines()[1].split()[1:7] == ["week", "1", "week", "20", "weeks", "1-20"]
    assert run.summary(start=19).splitlines()[1].split()[1:6] == ["week", "20", "week", "20", "week"]


@pytest.mark.parametrize("start", [-1, 20, 2.0, True])
def test_a_start_outside_the_run_is_refused(run, start):
    with pytest.raises(ValueError, match=r"start must be an integer in \[0, 20\), got"):
        run.summary(start=start)
