"""Calibration that scales (issue 11, item 7): runs through the experiment layer's executors, points
in a kill-safe store, and a calibration that resumes where it stopped with the same result bit for bit."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import spchain.fitting.calibration as calibration
from spchain.fitting.calibration import Target, calibrate, calibration_definition
from spchain.experiments.experiment import Experiment
from spchain.fitting.synthetic import panel_params
from spchain.params import ParamError
from spchain.experiments.store import CalibrationStore, Store, StoreError, definition_hash, point_id

# one small unit whose visits do not depend on satisfaction (as in test_fit_calibration_honesty)
SMALL = panel_params().override({"organisation.n_units": 1, "customers.n_customers": 200,
                                 "links.revisit_from_satisfaction": 0.0, "links.churn_from_satisfaction": 0.0,
                                 "links.referral_from_satisfaction": 0.0})
HORIZON = 6
FREE = {"customers.visit_rate": (0.1, 0.5), "customers.expected_quality": (0.6, 0.95)}
# three statistics, two free parameters: over-identified, so J is part of what must match
TARGETS = [Target.mean("arrivals", 260.0, sd=5.0), Target.mean("csat", 3.7, sd=0.05),
           Target.mean("revenue", 11000.0, sd=300.0)]
KW = dict(free=FREE, targets=TARGETS, horizon=HORIZON, n_replications=4, seed=4, method="Nelder-Mead",
          maxfev=80, tolerance=100)
RUNS_PER_POINT = 4


@pytest.fixture(scope="module")
def reference():
    """The uninterrupted serial calibration, without a store."""
    return calibrate(SMALL, **KW)


def _same(a, b):
    """The same calibration bit for bit: estimates, standard errors, moments, J, Jacobian, path length."""
    assert a.estimates == b.estimates
    assert np.array_equal(a.cov, b.cov, equal_nan=True)
    assert a.std_errors == b.std_errors
    da, db = a.diagnostics, b.diagnostics
    for key in ("objective", "misfit", "chi2_pvalue", "jacobian", "moment_cov", "n_evaluations",
                "n_evaluations_total", "converged", "optimiser_message", "table"):
        assert da[key] == db[key] or (isinstance(da[key], float) and np.isnan(da[key]) and np.isnan(db[key])), key
    assert [r["simulated"] for r in da["targets"]] == [r["simulated"] for r in db["targets"]]
    assert a.success == b.success and a.message == b.message


@pytest.fixture
def no_runs(monkeypatch):
    def refuse(task):
        raise AssertionError("a run started")
    monkeypatch.setattr(calibration, "_run", refuse)


def _crash_after(monkeypatch, n_runs):
    """Make the serial runs raise KeyboardInterrupt when run number ``n_runs + 1`` starts."""
    calls = []
    run = calibration._run

    def crash(task):
        if len(calls) == n_runs:
            raise KeyboardInterrupt
        calls.append(task)
        return run(task)
    monkeypatch.setattr(calibration, "_run", crash)
    return calls


def test_reference_is_a_real_calibration(reference):
    d = reference.diagnostics
    assert d["converged"] and d["n_evaluations"] > 10  # a path long enough to interrupt half-way
    assert d["n_points_simulated"] == d["n_evaluations_total"] and d["n_points_reused"] == 0
    assert d["n_runs"] == d["n_evaluations_total"] * RUNS_PER_POINT
    assert d["store"] is None and d["executor"] == "serial"
    assert d["dof"] == 1 and np.isfinite(d["misfit"])


def test_interrupted_calibration_resumes_to_the_same_result(reference, tmp_path, monkeypatch):
    path = tmp_path / "calibration.sqlite"
    total = reference.diagnostics["n_evaluations_total"]
    crash_at = (total // 2) * RUNS_PER_POINT + 2  # half-way, in the middle of a point's runs
    _crash_after(monkeypatch, crash_at)
    with pytest.raises(KeyboardInterrupt):
        calibrate(SMALL, store=path, **KW)
    monkeypatch.undo()
    with CalibrationStore(path) as db:
        stored = list(db.points())
        manifest = db.manifest()
    # kill-safe: the points whose runs all finished, not the one under way
    assert len(stored) == total // 2
    assert manifest["sessions"][0]["executor"] == "serial" and "finished" not in manifest["sessions"][0]
    # each stored point holds exactly the statistics the reference simulated there
    sim = calibration._Simulator(SMALL, list(FREE), TARGETS, HORIZON, reference.diagnostics["seeds"], None)
    for _, theta, moments, session in stored[:3]:
        assert session == 1 and np.array_equal(moments, sim.moments(np.array(theta)))

    resumed = calibrate(SMALL, store=path, **KW)
    _same(resumed, reference)
    d = resumed.diagnostics
    assert d["n_points_reused"] == total // 2
    assert d["n_points_simulated"] == total - total // 2
    assert d["n_runs"] == d["n_points_simulated"] * RUNS_PER_POINT
    assert d["store"] == str(path)
    with CalibrationStore(path) as db:
        assert len(db) == total
        (_, second) = db.manifest()["sessions"]
    assert second["n_points_reused"] == total // 2 and second["n_points_simulated"] == total - total // 2


def test_a_finished_calibration_replays_from_its_store_without_a_run(reference, tmp_path, monkeypatch):
    path = tmp_path / "calibration.sqlite"
    first = calibrate(SMALL, store=path, **KW)
    _same(first, reference)
    monkeypatch.setattr(calibration, "_run", lambda task: pytest.fail("a run started"))
    again = calibrate(SMALL, store=path, **KW)
    _same(again, reference)
    d = again.diagnostics
    assert d["n_runs"] == 0 and d["n_points_simulated"] == 0
    assert d["n_points_reused"] == reference.diagnostics["n_evaluations_total"]
    assert f"store {path}: {d['n_points_reused']} point(s) read back, 0 simulated (0 runs)" in again.summary()


def test_a_budget_limited_calibration_continues_with_a_larger_budget(reference, tmp_path):
    path = tmp_path / "calibration.sqlite"
    short = calibrate(SMALL, store=path, **dict(KW, maxfev=5))
    assert not short.diagnostics["converged"] and short.diagnostics["n_evaluations"] == 5
    full = calibrate(SMALL, store=path, **KW)
    _same(full, reference)
    d = full.diagnostics
    assert d["n_points_reused"] >= 5  # at least the short call's path; its standard-error points only if met
    assert d["n_points_reused"] + d["n_points_simulated"] == d["n_evaluations_total"]
    assert d["n_points_simulated"] < reference.diagnostics["n_points_simulated"]


def test_a_process_pool_gives_the_same_calibration(reference, tmp_path):
    path = tmp_path / "calibration.sqlite"
    short = dict(KW, maxfev=10)  # a few points: a spawned pool's round trips are slow on a busy machine
    pooled = calibrate(SMALL, workers=2, store=path, **short)
    _same(pooled, calibrate(SMALL, **short))
    assert pooled.diagnostics["n_points_simulated"] == pooled.diagnostics["n_evaluations_total"] >= 10
    assert pooled.diagnostics["executor"] == "ProcessPoolExecutor(2, spawn)"
    with CalibrationStore(path) as db:
        assert db.manifest()["sessions"][0]["executor"] == "ProcessPoolExecutor(2, spawn)"
    with ThreadPoolExecutor(2) as pool:
        threaded = calibrate(SMALL, executor=pool, **KW)
    _same(threaded, reference)
    assert threaded.diagnostics["executor"] == "ThreadPoolExecutor"


def test_dask_gives_the_same_calibration(reference):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                                  host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        on_dask = calibrate(SMALL, executor=client.get_executor(pure=False), **KW)
    _same(on_dask, reference)
    assert on_dask.diagnostics["executor"] == "ClientExecutor"


def test_a_store_of_another_definition_is_refused_before_any_run(tmp_path, no_runs):
    path = tmp_path / "calibration.sqlite"
    with CalibrationStore(path) as db:
        definition = calibration_definition(SMALL, list(FREE), TARGETS, HORIZON, [1, 2, 3, 4])
        db.begin({"definition": definition, "definition_hash": definition_hash(definition)}, {"executor": "x"})
    with pytest.raises(StoreError, match=r"holds another calibration \(definition hash .*seeds\[0\]: stored 1, "
                                         r"given \d+.*Use another store"):
        calibrate(SMALL, store=path, **KW)
    other = tmp_path / "other.sqlite"
    calib = calibration_definition(SMALL, list(FREE), TARGETS, HORIZON + 1, [1])
    with CalibrationStore(other) as db:
        db.begin({"definition": calib, "definition_hash": definition_hash(calib)}, {})
    with pytest.raises(StoreError, match=r"horizon: stored 7, given 6"):
        calibrate(SMALL, store=other, **KW)


def test_a_stale_engine_store_is_refused_naming_both_versions(tmp_path, no_runs):
    from spchain.engine.model import SAMPLE_PATH_VERSION

    path = tmp_path / "calibration.sqlite"
    seeds = [int(s.generate_state(1, dtype=np.uint64)[0]) for s in np.random.SeedSequence(4).spawn(4)]
    old = dict(calibration_definition(SMALL, list(FREE), TARGETS, HORIZON, seeds),
               sample_path_version=SAMPLE_PATH_VERSION - 1)
    with CalibrationStore(path) as db:
        db.begin({"definition": old, "definition_hash": definition_hash(old)}, {})
    with pytest.raises(StoreError, match=rf"sample-path version {SAMPLE_PATH_VERSION - 1}\b.*sample-path "
                                         rf"version is {SAMPLE_PATH_VERSION}\b.*cannot be reused"):
        calibrate(SMALL, store=path, **KW)


def test_experiment_and_calibration_stores_refuse_each_other(tmp_path, no_runs):
    calib = tmp_path / "calibration.sqlite"
    CalibrationStore(calib).close()
    with pytest.raises(StoreError, match="is an spchain calibration store, not an experiment store"):
        Experiment(SMALL, horizon=2, n_replications=1, seed=1).run(store=calib)
    sweep = tmp_path / "sweep.sqlite"
    Store(sweep).close()
    with pytest.raises(StoreError, match="is an spchain experiment store, not a calibration store"):
        calibrate(SMALL, store=sweep, **KW)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database " * 100)
    with pytest.raises(StoreError, match="is not an spchain calibration store"):
        calibrate(SMALL, store=notes, **KW)


def test_a_new_target_value_reuses_the_stored_points(reference, tmp_path):
    """The definition holds what a point simulates, not the targets' values: a re-aimed calibration
    reuses every point it meets (here its start and, with the same first simplex, more)."""
    path = tmp_path / "calibration.sqlite"
    calibrate(SMALL, store=path, **KW)
    moved = [Target.mean("arrivals", 250.0, sd=5.0)] + TARGETS[1:]
    fit = calibrate(SMALL, store=path, **dict(KW, targets=moved))
    assert fit.diagnostics["n_points_reused"] >= 3  # the start and the first simplex (k + 1 = 3 points)
    assert fit.diagnostics["n_points_reused"] + fit.diagnostics["n_points_simulated"] == \
        fit.diagnostics["n_evaluations_total"]
    assert fit.estimates == calibrate(SMALL, **dict(KW, targets=moved)).estimates


def test_the_definition_holds_what_decides_a_point_and_nothing_else():
    seeds = [11, 12]
    d = calibration_definition(SMALL, ["customers.visit_rate"], TARGETS, HORIZON, seeds)
    assert d["free"] == ["customers.visit_rate"] and d["seeds"] == seeds and d["horizon"] == HORIZON
    same = calibration_definition(SMALL, ["customers.visit_rate"],
                                  [Target.mean("arrivals", 1.0, sd=1.0, name="x")] + TARGETS[1:], HORIZON, seeds)
    assert definition_hash(same) == definition_hash(d)  # value, sd and name decide no point
    window = calibration_definition(SMALL, ["customers.visit_rate"],
                                    [Target.mean("arrivals", 260.0, start=1)] + TARGETS[1:], HORIZON, seeds)
    assert definition_hash(window) != definition_hash(d)
    share = Target.statistic("busy", lambda r: r.total("utilisation"), 0.5)
    other = Target.statistic("busy", lambda r: r.total("utilisation") + 1, 0.5)
    ds = [calibration_definition(SMALL, ["customers.visit_rate"], [t], HORIZON, seeds)["targets"][0]
          for t in (share, other)]
    assert ds[0]["function"]["source"] != ds[1]["function"]["source"]
    assert "utilisation" in ds[0]["function"]["source"]


def test_point_ids_are_exact_in_the_parameter_vector():
    h = "0" * 64
    assert point_id(h, [0.3, 0.7]) == point_id(h, np.array([0.3, 0.7]))
    assert point_id(h, [0.3, 0.7]) != point_id(h, [np.nextafter(0.3, 1.0), 0.7])
    assert point_id(h, [0.3, 0.7]) != point_id("1" * 64, [0.3, 0.7])
    assert len(point_id(h, [0.3])) == 64


def test_bad_workers_executor_and_store_are_refused_before_any_run(tmp_path, no_runs):
    with pytest.raises(ParamError, match="workers must be an integer >= 1, got 0"):
        calibrate(SMALL, workers=0, **KW)
    with pytest.raises(ParamError, match="give workers or executor, not both"):
        with ThreadPoolExecutor(1) as pool:
            calibrate(SMALL, workers=2, executor=pool, **KW)
    with pytest.raises(ParamError, match="executor must be a concurrent.futures.Executor, got list"):
        calibrate(SMALL, executor=[], **KW)
    with pytest.raises(ParamError, match=r"store must be a path .*got 3"):
        calibrate(SMALL, store=3, **KW)
    assert not list(tmp_path.iterdir())


SCRIPT = textwrap.dedent("""
    import sys
    from test_fit_calibration_store import SMALL, KW
    from spchain.fitting.calibration import calibrate
    if __name__ == "__main__":
        calibrate(SMALL, store=sys.argv[1], **KW)
""")


@pytest.mark.slow
def test_a_calibration_killed_part_way_resumes_to_the_uninterrupted_result(reference, tmp_path):
    """SIGKILL a calibration in a subprocess once it has stored a few points; resume it here."""
    path = tmp_path / "calibration.sqlite"
    script = tmp_path / "calibrate.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, str(script), str(path)], env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if path.exists():
                try:
                    with sqlite3.connect(path) as db:
                        if db.execute("SELECT count(*) FROM points").fetchone()[0] >= 4:
                            break
                except sqlite3.OperationalError:  # tables not created yet
                    pass
            time.sleep(0.01)
        assert proc.poll() is None, "the calibration finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with CalibrationStore(path) as db:
        n_stored = len(db)
    assert 4 <= n_stored < reference.diagnostics["n_evaluations_total"]
    resumed = calibrate(SMALL, store=path, **KW)
    _same(resumed, reference)
    assert resumed.diagnostics["n_points_reused"] == n_stored
