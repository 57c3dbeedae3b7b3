"""The Python examples of docs/fitting.md run, in order, in one namespace."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "fitting.md"


@pytest.mark.slow
def test_fitting_guide_examples_run(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 7
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "docs_example"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{DOC.name} block {i + 1}", "exec"), namespace)
        except Exception as exc:  # name the block that broke
            raise AssertionError(f"{DOC.name} block {i + 1} failed: {exc!r}\n{code}") from exc
    out = capsys.readouterr().out
    assert "Panel(40 units x 20 periods" in out
    assert "spchain links fit" in out and "spchain calibration fit" in out
    assert "Sears: customer impression" in out
    # the censored tenure fit is close to the truth, the naive one is not
    tenure, naive = namespace["tenure"], namespace["naive"]
    lo, hi = tenure.conf_int(0.01)["workforce.base_quit_rate"]
    assert lo < 0.35 < hi
    assert naive.estimates["workforce.base_quit_rate"] > hi
    # the individual-records example: what the page says of it
    individual = namespace["individual"]
    assert individual.estimates["links.churn_from_satisfaction"] == pytest.approx(8.0, abs=0.05)
    assert individual.estimates["links.value_from_quality"] == pytest.approx(2.0, rel=1e-6)
    intervals = individual.conf_int(0.05)
    assert intervals["links.quit_from_satisfaction"][0] < 0 < 5 < intervals["links.quit_from_satisfaction"][1]
    for path in ("links.productivity_from_skill", "links.productivity_from_satisfaction"):
        assert intervals[path][0] < 0.5 < intervals[path][1], path
