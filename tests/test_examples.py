"""The shipped examples run: every ``examples/*.py`` script and every ``examples/*.toml`` scenario file.

Each script accepts ``--quick`` (a smaller run) and is run in a fresh
working directory, so whatever it writes by default lands there.  Every
scenario file must load and validate (``spchain.apps.scenario_file``); the
command line runs one of them end to end in ``tests/test_cli.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
SCENARIO_FILES = sorted(EXAMPLES.glob("*.toml"))


def test_there_are_examples_for_every_user():
    names = {p.stem for p in SCRIPTS}
    for user in ("researcher", "consultant", "workshop"):
        assert any(n.startswith(user) for n in names), f"no examples/{user}_*.py script"
    assert SCENARIO_FILES, "no examples/*.toml scenario file"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_script_runs(script, tmp_path):
    done = subprocess.run([sys.executable, str(script), "--quick"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env=_env())
    assert done.returncode == 0, f"{script.name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    assert done.stdout.strip(), f"{script.name} printed nothing"


def test_example_scripts_have_a_docstring_and_quick_mode():
    for script in SCRIPTS:
        text = script.read_text(encoding="utf-8")
        assert text.startswith('"""'), f"{script.name}: start with a docstring saying what it shows"
        assert "--quick" in text, f"{script.name}: accept --quick (the tests run it that way)"


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.name)
def test_example_scenario_file_is_valid(path):
    from spchain.apps.scenario_file import load_scenario_file

    plan = load_scenario_file(path)
    experiment = plan.experiment
    assert experiment.names and (experiment.baseline is None or experiment.baseline in experiment.names)
    assert experiment.n_replications >= 1 and experiment.horizon >= 1
    for scenario in experiment.scenarios:
        for change in scenario.levers + scenario.uncertainties:
            assert change.at_week < experiment.horizon, (path.name, scenario.name, change)


def _env():
    import os

    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env
