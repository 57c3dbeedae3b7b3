"""Sensitivity indices per window of weeks, and sweeps that resume from a SensitivityStore.

Oracles: a vector test function whose windows have known indices (one
factor alone, the other alone, their sum); per-window results equal the
one-output analysis of that window's output on the same sample; a resumed
sweep equals an uninterrupted one bit for bit and re-runs nothing finished.
"""

import numpy as np
import pytest

import spchain
import spchain.experiments.sensitivity as sensitivity_module
from spchain.experiments.sensitivity import SensitivityError, SimulationModel, array_model, morris, sobol
from spchain.experiments.store import CalibrationStore, SensitivityStore, Store, StoreError

BOX = {"a": (0.0, 1.0), "b": (0.0, 1.0)}


def windows_model(sd=0.05, seed=0):
    """Three windows: ``a``, ``b``, ``a + b`` (uniform factors), plus replication noise."""
    def model(points, n_replications):
        x = np.array([[p.values["a"], p.values["b"]] for p in points])
        out = {}
        for i, p in enumerate(points):
            rng = np.random.default_rng([seed, p.id])
            clean = np.array([x[i, 0], x[i, 1], x[i, 0] + x[i, 1]])
            out[p.id] = clean + sd * rng.standard_normal((n_replications, 3))
        return out
    return model


def column_model(j, sd=0.05, seed=0):
    """Window ``j`` of :func:`windows_model` alone, as a one-output model."""
    vector = windows_model(sd, seed)

    def model(points, n_replications):
        return {k: v[:, j] for k, v in vector(points, n_replications).items()}
    return model


def test_indices_per_window_recover_the_known_values():
    res = sobol(windows_model(), BOX, n=256, n_replications=4, seed=3)
    assert res.windows == [(0, 1), (1, 2), (2, 3)]
    assert res.first_order.shape == res.total_order.shape == (2, 3)
    assert res.first_order_bootstrap.shape == (200, 2, 3)
    expected = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]])  # additive: first order = total order
    ci = res.conf_int(0.01)
    for key, estimate in (("first_order", res.first_order), ("total_order", res.total_order)):
        assert np.all(np.abs(estimate - expected) < 0.06), (key, estimate)
        lo, hi = ci[key][..., 0], ci[key][..., 1]
        assert ci[key].shape == (2, 3, 2)
        assert np.all((lo - 0.02 <= expected) & (expected <= hi + 0.02)), (key, lo, hi)
    # one variance per window: Var(a) = Var(b) = 1/12, Var(a + b) = 1/6
    np.testing.assert_allclose(res.output_variance, [1 / 12, 1 / 12, 1 / 6], rtol=0.15)
    assert "window(j)" in res.summary() and "over 3 windows" in res.summary()


def test_a_window_equals_the_one_output_analysis_of_that_window():
    vector = sobol(windows_model(), BOX, n=64, n_replications=3, seed=5, n_bootstrap=40)
    for j in range(3):
        single = sobol(column_model(j), BOX, n=64, n_replications=3, seed=5, n_bootstrap=40)
        window = vector.window(j)
        np.testing.assert_allclose(window.first_order, single.first_order, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(window.total_order, single.total_order, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(window.first_order_bootstrap, single.first_order_bootstrap,
                                   rtol=1e-10, atol=1e-12)
        assert window.output_variance == pytest.approx(single.output_variance, rel=1e-12)
        assert window.noise_variance == pytest.approx(single.noise_variance, rel=1e-12)
        assert window.windows is None
    with pytest.raises(SensitivityError, match="window index"):
        vector.window(3)
    with pytest.raises(SensitivityError, match="one output"):
        single.window(0)


def test_morris_per_window_equals_morris_on_each_window():
    vector = morris(windows_model(), BOX, n_trajectories=10, n_replications=2, seed=2)
    assert vector.mu_star.shape == (2, 3) and vector.windows == [(0, 1), (1, 2), (2, 3)]
    for j in range(3):
        single = morris(column_model(j), BOX, n_trajectories=10, n_replications=2, seed=2)
        np.testing.assert_allclose(vector.mu_star[:, j], single.mu_star, rtol=1e-12)
        np.testing.assert_allclose(vector.mu[:, j], single.mu, rtol=1e-12)
        np.testing.assert_allclose(vector.sigma[:, j], single.sigma, rtol=1e-12)
    # window 0 is a alone: b's effects are noise only; window 1 the other way round
    assert vector.mu_star[0, 0] > 5 * vector.mu_star[1, 0] and vector.mu_star[1, 1] > 5 * vector.mu_star[0, 1]
    assert "over 3 windows" in vector.summary()


def test_simulation_model_gives_the_kpi_of_each_window():
    params = spchain.preset("workshop")
    point = sensitivity_module.Point(4, {"workforce.recognition": 0.3})
    model = SimulationModel(params, kpi="profit", horizon=7, start=1, seed=5, window=3)
    assert model.windows == [(1, 4), (4, 7)]
    out = model([point], 2)[4]
    assert out.shape == (2, 2)
    run = spchain.simulate(params.override(point.values), horizon=7,
                           seed=spchain.experiments.experiment.replication_seed(5, 1))
    assert out[1, 0] == run.total("profit", start=1, stop=4)
    assert out[1, 1] == run.total("profit", start=4, stop=7)
    weekly = SimulationModel(params, kpi="profit", horizon=7, start=1, seed=5, window=1)
    assert weekly.windows == [(w, w + 1) for w in range(1, 7)]
    # profit is a flow: the weeks add up to the run's profit after the warm-up
    first = spchain.simulate(params.override(point.values), horizon=7, seed=spchain.experiments.experiment.replication_seed(5, 0))
    assert weekly([point], 1)[4][0].sum() == pytest.approx(first.total("profit", start=1), rel=1e-12)
    assert model.last_call["n_simulated"] == 2 and model.last_call["run_seconds"] > 0


@pytest.mark.parametrize("kwargs, match", [
    ({"window": 0}, "window must be an integer >= 1"),
    ({"window": 7, "start": 1}, r"window \(7\) must be at most the weeks after start \(6\)"),
    ({"store": 3}, "store must be a path"),
])
def test_bad_window_or_store_raises(kwargs, match):
    with pytest.raises(SensitivityError, match=match):
        SimulationModel(spchain.preset("workshop"), horizon=7, **kwargs)


def test_weekly_sobol_on_the_workshop_comes_from_the_same_runs():
    factors = {"economics.price_index": (0.9, 1.1), "workforce.recognition": (0.0, 0.5)}
    model = SimulationModel(spchain.preset("workshop"), kpi="profit", horizon=6, seed=1, window=2)
    res = sobol(model, factors, n=8, n_replications=2, n_bootstrap=30)
    assert res.windows == [(0, 2), (2, 4), (4, 6)]
    assert res.first_order.shape == (2, 3) and res.n_runs == 8 * 4 * 2
    assert model.last_call["n_simulated"] == 8 * 4 * 2  # one call, every window from the same runs
    assert np.all(np.isfinite(res.total_order))


# ------------------------------------------------------------------ stores

FACTORS = {"economics.price_index": (0.9, 1.1), "workforce.recognition": (0.0, 0.5)}


RUN_POINT = sensitivity_module._run_point


class Interrupted(Exception):
    """The sweep dies mid-way (a crash, a kill)."""


def _counting(monkeypatch, fail_after=None):
    """Patch the runner: count the runs, and raise after ``fail_after`` of them."""
    calls = []

    def runner(task):
        if fail_after is not None and len(calls) >= fail_after:
            raise Interrupted("interrupted by the test")
        calls.append(task[:2])
        return RUN_POINT(task)
    monkeypatch.setattr(sensitivity_module, "_run_point", runner)
    return calls


def test_an_interrupted_sweep_resumes_bit_identical_without_rerunning_a_finished_run(tmp_path, monkeypatch):
    params = spchain.preset("workshop")
    kwargs = dict(n=8, n_replications=2, n_bootstrap=30, seed=4)
    reference = sobol(SimulationModel(params, horizon=4, seed=2, window=2), FACTORS, **kwargs)
    total = 8 * 4 * 2

    path = tmp_path / "sweep.sqlite"
    _counting(monkeypatch, fail_after=23)
    with pytest.raises(Interrupted):
        sobol(SimulationModel(params, horizon=4, seed=2, window=2, store=path), FACTORS, **kwargs)
    with SensitivityStore(path) as db:
        assert len(db) == 23
        assert db.manifest()["sessions"][0]["n_simulated"] == 23

    calls = _counting(monkeypatch)
    model = SimulationModel(params, horizon=4, seed=2, window=2, store=path)
    resumed = sobol(model, FACTORS, **kwargs)
    assert len(calls) == total - 23 and len(set(calls)) == len(calls)
    assert model.last_call["n_reused"] == 23 and model.last_call["n_simulated"] == total - 23
    for name in ("first_order", "total_order", "first_order_bootstrap", "total_order_bootstrap",
                 "output_variance", "noise_variance"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(reference, name))

    calls = _counting(monkeypatch)
    again = sobol(SimulationModel(params, horizon=4, seed=2, window=2, store=path), FACTORS, **kwargs)
    assert calls == [] and np.array_equal(again.total_order, reference.total_order)
    with SensitivityStore(path) as db:
        rows = list(db.outputs())
        assert len(rows) == total and [s["session"] for s in db.manifest()["sessions"]] == [1, 2, 3]
    # a row is keyed by what the point is: its values and design id travel with its output
    point, replication, design_id, values, output, _ = rows[0]
    assert set(values) == set(FACTORS) and output.shape == (2,) and 0 <= design_id < 32


def test_a_store_shared_by_plan_screening_and_sobol_reuses_equal_points(tmp_path, monkeypatch):
    params = spchain.preset("workshop")
    path = tmp_path / "shared.sqlite"
    model = SimulationModel(params, horizon=3, seed=2, store=path)
    first = morris(model, FACTORS, n_trajectories=2, n_replications=2, seed=1)
    calls = _counting(monkeypatch)
    second = morris(SimulationModel(params, horizon=3, seed=2, store=path), FACTORS, n_trajectories=2,
                    n_replications=3, seed=1)
    # the same trajectories: replications 0 and 1 are read back, only replication 2 is run
    assert sorted({r for _, r in calls}) == [2] and len(calls) == 2 * 3
    assert first.mu_star.shape == second.mu_star.shape == (2,)


def test_a_store_of_another_definition_or_kind_is_refused(tmp_path):
    params = spchain.preset("workshop")
    path = tmp_path / "s.sqlite"
    morris(SimulationModel(params, horizon=3, seed=2, store=path), FACTORS, n_trajectories=2, n_replications=1)
    with pytest.raises(StoreError, match=r"another sensitivity .*seed: stored 2, given 3"):
        morris(SimulationModel(params, horizon=3, seed=3, store=path), FACTORS, n_trajectories=2,
               n_replications=1)
    with pytest.raises(StoreError, match=r"kpi: stored 'profit', given 'revenue'"):
        SimulationModel(params, kpi="revenue", horizon=3, seed=2, store=path)([], 1)
    with pytest.raises(StoreError, match="is an spchain sensitivity store, not an experiment store"):
        Store(path)
    with pytest.raises(StoreError, match="is an spchain sensitivity store, not a calibration store"):
        CalibrationStore(path)
    CalibrationStore(tmp_path / "c.sqlite").close()
    with pytest.raises(StoreError, match="is an spchain calibration store, not a sensitivity store"):
        SensitivityStore(tmp_path / "c.sqlite")


def test_a_store_on_a_pool_gives_the_serial_numbers(tmp_path):
    import concurrent.futures as cf

    params = spchain.preset("workshop")
    serial = morris(SimulationModel(params, horizon=3, seed=2), FACTORS, n_trajectories=2, n_replications=2)
    with cf.ThreadPoolExecutor(2) as pool:
        model = SimulationModel(params, horizon=3, seed=2, executor=pool, store=tmp_path / "p.sqlite")
        pooled = morris(model, FACTORS, n_trajectories=2, n_replications=2)
    np.testing.assert_array_equal(pooled.mu_star, serial.mu_star)
    with SensitivityStore(tmp_path / "p.sqlite") as db:
        # one row per distinct (point, replication): Morris points that coincide are stored once
        keys = {(point, r) for point, r, *_ in db.outputs()}
        assert len(db) == len(keys) <= 2 * 3 * 2
        outputs = [out for *_, out, _ in db.outputs()]
        assert all(o.shape == () for o in outputs)  # a scalar output keeps its shape


KILLED_SWEEP = """
import os, signal, sys
import spchain
import spchain.experiments.sensitivity as s

run, calls = s._run_point, []

def runner(task):
    if len(calls) == 17:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: the process just dies
    calls.append(task)
    return run(task)

s._run_point = runner
model = s.SimulationModel(spchain.preset("workshop"), horizon=4, seed=2, window=2, store=sys.argv[1])
s.sobol(model, {"economics.price_index": (0.9, 1.1), "workforce.recognition": (0.0, 0.5)},
        n=8, n_replications=2, n_bootstrap=30, seed=4)
"""


def test_a_sweep_killed_outright_keeps_every_finished_run(tmp_path, monkeypatch):
    import signal
    import subprocess
    import sys

    path = tmp_path / "killed.sqlite"
    done = subprocess.run([sys.executable, "-c", KILLED_SWEEP, str(path)], capture_output=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    with SensitivityStore(path) as db:
        assert len(db) == 17
    calls = _counting(monkeypatch)
    kwargs = dict(n=8, n_replications=2, n_bootstrap=30, seed=4)
    params = spchain.preset("workshop")
    resumed = sobol(SimulationModel(params, horizon=4, seed=2, window=2, store=path), FACTORS, **kwargs)
    assert len(calls) == 8 * 4 * 2 - 17
    reference = sobol(SimulationModel(params, horizon=4, seed=2, window=2), FACTORS, **kwargs)
    np.testing.assert_array_equal(resumed.total_order_bootstrap, reference.total_order_bootstrap)
