"""The Python examples of docs/experiments.md run, in order, in one namespace."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "experiments.md"


def test_experiments_guide_examples_run(tmp_path, monkeypatch, capsys):
    pytest.importorskip("pandas")
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 10
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "docs_example"}   # the guarded block stays a script's business
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{DOC.name} block {i + 1}", "exec"), namespace)
        except Exception as exc:  # name the block that broke
            raise AssertionError(f"{DOC.name} block {i + 1} failed: {exc!r}\n{code}") from exc
    out = capsys.readouterr().out
    assert "spchain experiment: 2 scenario(s) x 8 replication(s)" in out
    assert "MSER-5 warm-up:" in out and "ROI" in out
