"""Results that survive: the SQLite store, its manifest, resuming, refusing another experiment."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import spchain
import spchain.experiments.experiment as experiment_module
from spchain.experiments.analysis import ExperimentResult
from spchain.experiments.experiment import Experiment, run_task
from spchain.presets import queue_only
from spchain.experiments.scenarios import Scenario
from spchain.experiments.store import Store, StoreError


def _exp(**kw):
    kw = dict(dict(n_replications=3, horizon=3, seed=11), **kw)
    return Experiment(queue_only(4.0, 1.0, 5, hours_per_week=40.0),
                      scenarios=[Scenario("c5"), Scenario("c6", levers={"workforce.n_employees": 6})], **kw)


def _identical(a, b):
    for s in a.scenarios:
        assert np.array_equal(a.sums[s], b.sums[s])
        assert np.array_equal(a.department_sums[s], b.department_sums[s])


@pytest.fixture
def no_runs(monkeypatch):
    def refuse(task):
        raise AssertionError(f"a run started: {task[:2]}")
    monkeypatch.setattr(experiment_module, "run_task", refuse)


def test_store_round_trip_and_manifest(tmp_path):
    path = tmp_path / "sweep.sqlite"
    exp = _exp(warmup=1)
    result = exp.run(store=path)
    _identical(result, exp.run())
    loaded = ExperimentResult.load(path)
    _identical(loaded, result)
    assert loaded.warmup == 1 and loaded.experiment == exp
    assert loaded.summary() == result.summary()
    m = loaded.manifest
    assert m["spchain_version"] == spchain.__version__
    assert m["definition"] == exp.definition() and len(m["definition_hash"]) == 64
    assert m["seeds"]["c5"] == m["seeds"]["c6"] == [exp.seed_of("c5", r) for r in range(3)]  # CRN
    assert {"python", "numpy", "scipy", "simpy", "system"} <= set(m["platform"])
    assert m["design"] == [{"scenario": "c6", "kind": "lever", "at_week": 0,
                            "path": "workforce.n_employees", "value": 6}]
    (session,) = m["sessions"]
    assert session["n_runs"] == 6 and session["executor"] == "serial" and "finished" in session
    assert loaded.wall_seconds["c5"].shape == (3,) and np.all(loaded.wall_seconds["c5"] > 0)


def test_finished_store_is_not_rerun(tmp_path, monkeypatch):
    path = tmp_path / "sweep.sqlite"
    first = _exp().run(store=path)
    monkeypatch.setattr(experiment_module, "run_task", lambda task: pytest.fail("recomputed"))
    again = _exp().run(store=path)
    _identical(first, again)
    assert again.manifest["sessions"][-1]["n_runs"] == 0


def test_interrupted_sweep_resumes_without_redoing_finished_runs(tmp_path, monkeypatch):
    path = tmp_path / "sweep.sqlite"
    calls = []

    def crash_after_four(task):
        if len(calls) == 4:
            raise KeyboardInterrupt
        calls.append(task[:2])
        return run_task(task)

    monkeypatch.setattr(experiment_module, "run_task", crash_after_four)
    with pytest.raises(KeyboardInterrupt):
        _exp().run(store=path)
    monkeypatch.undo()
    with Store(path) as store:
        assert store.finished() == set(calls)
    resumed = _exp().run(store=path)
    _identical(resumed, _exp().run())
    sessions = resumed.manifest["sessions"]
    assert "finished" not in sessions[0] and sessions[1]["n_runs"] == 2


def test_more_replications_extend_a_store(tmp_path):
    path = tmp_path / "sweep.sqlite"
    _exp(n_replications=2).run(store=path)
    extended = _exp(n_replications=4).run(store=path)
    assert extended.manifest["sessions"][-1]["n_runs"] == 4  # two more per scenario
    _identical(extended, _exp(n_replications=4).run())
    assert ExperimentResult.load(path).n_replications == 4


@pytest.mark.parametrize("change, message", [
    (dict(horizon=4), r"horizon: stored 3, given 4"),
    (dict(seed=12), r"seed: stored 11, given 12"),
    (dict(crn=False), r"crn: stored True, given False"),
])
def test_store_of_another_experiment_is_refused_before_any_run(tmp_path, no_runs, change, message):
    path = tmp_path / "sweep.sqlite"
    with Store(path) as store:
        store.begin(_exp().manifest(), {"executor": "serial"})
    with pytest.raises(StoreError, match=r"holds another experiment .*" + message):
        _exp(**change).run(store=path)


def test_other_parameters_or_scenarios_are_named(tmp_path, no_runs):
    path = tmp_path / "sweep.sqlite"
    with Store(path) as store:
        store.begin(_exp().manifest(), {"executor": "serial"})
    other = Experiment(queue_only(4.0, 1.0, 5, hours_per_week=40.0),
                       scenarios=[Scenario("c5"), Scenario("c6", levers={"workforce.n_employees": 7})],
                       n_replications=3, horizon=3, seed=11)
    with pytest.raises(StoreError, match=r"scenarios\[1\]\.levers\[0\]\.value: stored 6, given 7.*from_store"):
        other.run(store=path)


def test_a_file_that_is_not_a_store_is_refused(tmp_path, no_runs):
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database at all, just some words that are long enough" * 10)
    with pytest.raises(StoreError, match="not an spchain experiment store"):
        _exp().run(store=text)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(StoreError, match=r"not an spchain experiment store \(it holds tables \['customers'\]\)"):
        _exp().run(store=other)


def test_loading_an_unfinished_store_says_what_is_missing(tmp_path, monkeypatch):
    path = tmp_path / "sweep.sqlite"

    def fail_third_replication(task):
        if task[1] == 2:
            raise RuntimeError("boom")
        return run_task(task)

    monkeypatch.setattr(experiment_module, "run_task", fail_third_replication)
    with pytest.raises(RuntimeError, match="boom"):
        _exp().run(store=path)
    with pytest.raises(StoreError, match=r"runs are missing .*Experiment\.from_store\(path\)\.run\(store=path\)"):
        ExperimentResult.load(path)
    monkeypatch.undo()
    assert Experiment.from_store(path) == _exp()
    with pytest.raises(StoreError, match="no experiment store at"):
        ExperimentResult.load(tmp_path / "typo.sqlite")
    assert not (tmp_path / "typo.sqlite").exists()


SCRIPT = textwrap.dedent("""
    import json, sys
    from spchain.experiments.experiment import Experiment
    if __name__ == "__main__":
        Experiment.from_dict(json.loads(sys.argv[1])).run(store=sys.argv[2])
""")


@pytest.mark.slow
def test_sweep_killed_part_way_resumes_to_the_uninterrupted_result(tmp_path):
    """SIGKILL a sweep in a subprocess, resume it here, compare with an uninterrupted run."""
    exp = Experiment(queue_only(40.0, 1.0, 45),
                     scenarios=[Scenario("c45"), Scenario("c46", levers={"workforce.n_employees": 46})],
                     n_replications=6, horizon=12, seed=3)   # ~0.25 s a run, 12 runs
    path = tmp_path / "sweep.sqlite"
    script = tmp_path / "sweep.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), json.dumps(exp.to_dict()), str(path)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if path.exists():
                try:
                    with sqlite3.connect(path) as db:
                        if db.execute("SELECT count(*) FROM runs").fetchone()[0] >= 3:
                            break
                except sqlite3.OperationalError:   # tables not created yet
                    pass
            time.sleep(0.02)
        assert proc.poll() is None, "the sweep finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with Store(path) as store:
        before = store.sessions_of_runs()
    assert 3 <= len(before) < 12
    resumed = exp.run(store=path)
    with Store(path) as store:
        after = store.sessions_of_runs()
    assert {k: v for k, v in after.items() if k in before} == before   # nothing finished was redone
    assert {v[0] for k, v in after.items() if k not in before} == {2}
    assert resumed.manifest["sessions"][1]["n_runs"] == 12 - len(before)
    _identical(resumed, exp.run())
