"""Experiments: validation before any run, common random numbers, results, executors."""

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import spchain.experiments.experiment as experiment_module
from spchain import METRICS, ParamError, preset, simulate
from spchain.experiments.experiment import Experiment, replication_seed
from spchain.presets import queue_only
from spchain.experiments.scenarios import Scenario

INVEST = Scenario("invest", levers={"internal.tools_spend_per_week": 3000.0}, at_week=4)
STAFF = Scenario("staff", levers={"workforce.n_employees": 11})


@pytest.fixture
def no_runs(monkeypatch):
    """Fail the test if any simulation starts."""
    def refuse(task):
        raise AssertionError(f"a run started: {task[:2]}")
    monkeypatch.setattr(experiment_module, "run_task", refuse)


@pytest.fixture(scope="module")
def small():
    exp = Experiment(preset("workshop"), scenarios=[Scenario("baseline"), INVEST, STAFF],
                     n_replications=4, horizon=10, warmup=2, seed=42)
    return exp, exp.run()


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("kwargs, message", [
    (dict(scenarios=[Scenario("x", levers={"workforce.n_employes": 7})]),
     r"scenario 'x': unknown parameter path 'workforce\.n_employes'.*did you mean 'n_employees'"),
    (dict(scenarios=[Scenario("x", levers={"customers.visit_rate": -1.0})]),
     r"scenario 'x': customers\.visit_rate must be a number >= 0, got -1\.0"),
    (dict(scenarios=[Scenario("x", levers={"workforce.pay_index": 0.0}, at_week=3)]),
     r"scenario 'x': schedule change at week 3: workforce\.pay_index must be a number > 0, got 0\.0"),
    (dict(n_replications=0), r"n_replications must be an integer >= 1, got 0"),
    (dict(horizon=4, warmup=6), r"horizon \(4 weeks\) must be longer than the warm-up \(6 weeks\)"),
    (dict(horizon=6, warmup=6), r"horizon \(6 weeks\) must be longer than the warm-up \(6 weeks\)"),
    (dict(scenarios=[Scenario("x", levers={"workforce.pay_index": 1.1}, at_week=8)], horizon=8),
     r"scenario 'x': change at week 8 \(workforce\.pay_index\) is beyond the horizon of 8 weeks"),
    (dict(scenarios=[Scenario("a"), Scenario("a")]), r"scenario names must be unique, 'a' appears 2 times"),
    (dict(scenarios=[]), r"scenarios must be a non-empty list"),
    (dict(baseline="nope"), r"baseline 'nope' is not a scenario; expected one of \['baseline'\]"),
    (dict(seed=-1), r"seed must be an integer >= 0, got -1"),
    (dict(crn="yes"), r"crn must be True or False"),
])
def test_bad_definitions_fail_before_any_run(no_runs, kwargs, message):
    with pytest.raises(ParamError, match=message):
        Experiment(preset("workshop"), **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(workers=0), r"workers must be an integer >= 1, got 0"),
    (dict(workers=2, executor=ThreadPoolExecutor(1)), r"give workers or executor, not both"),
    (dict(executor=object()), r"executor must be a concurrent\.futures\.Executor, got object; "
                              r"for Dask pass client\.get_executor\(pure=False\)"),
])
def test_bad_execution_options_fail_before_any_run(no_runs, kwargs, message):
    exp = Experiment(preset("workshop"), horizon=2, n_replications=1, seed=0)
    with pytest.raises(ParamError, match=message):
        exp.run(**kwargs)


def test_base_is_not_mutated_and_seed_is_recorded():
    base = preset("workshop")
    before = base.to_dict()
    exp = Experiment(base, scenarios=[Scenario("b"), STAFF], horizon=6)
    assert base.to_dict() == before
    assert isinstance(exp.seed, int) and exp.seed >= 0  # fresh entropy, recorded
    assert exp.params["staff"].workforce.n_employees == 11


# ------------------------------------------------------- common random numbers
def test_replication_seeds_are_shared_and_do_not_depend_on_the_count():
    exp = Experiment(preset("workshop"), scenarios=[Scenario("b"), STAFF], n_replications=3, horizon=4, seed=9)
    seeds = [exp.seed_of("b", r) for r in range(3)]
    assert seeds == [exp.seed_of("staff", r) for r in range(3)]
    assert len(set(seeds)) == 3
    more = Experiment(preset("workshop"), n_replications=10, horizon=4, seed=9)
    assert [more.seed_of("baseline", r) for r in range(3)] == seeds
    independent = Experiment(preset("workshop"), scenarios=[Scenario("b"), STAFF], n_replications=3,
                             horizon=4, seed=9, crn=False)
    assert independent.seed_of("b", 0) != independent.seed_of("staff", 0)
    assert replication_seed(9, 0) == seeds[0]


def test_common_random_numbers_keep_runs_identical_until_the_intervention(small):
    exp, res = small
    for r in range(exp.n_replications):
        base, invest = res.sums["baseline"][r], res.sums["invest"][r]
        assert np.array_equal(base[:4], invest[:4])      # same streams, same params before week 4
        assert not np.array_equal(base[4:], invest[4:])  # the lever acts from week 4


def test_a_run_is_reproduced_by_simulate(small):
    exp, res = small
    run = res.run("staff", 2)
    again = simulate(exp.params["staff"], horizon=exp.horizon, seed=exp.seed_of("staff", 2))
    assert np.array_equal(run.sums, again.sums)
    assert np.array_equal(run.department_sums, again.department_sums)


# ---------------------------------------------------------------- statistics
def test_estimates_and_differences_come_from_the_per_run_totals(small):
    exp, res = small
    x = res.totals("wait_time", scenario="staff")
    y = res.totals("wait_time")
    assert x.shape == (4,)
    assert x[1] == res.run("staff", 1).total("wait_time", start=2)
    est = res.estimate("wait_time", scenario="staff")
    assert est.mean == pytest.approx(x.mean()) and est.n == 4
    d = res.difference("wait_time", scenario="staff")
    assert d.mean == pytest.approx((x - y).mean())
    assert d.relative == pytest.approx(x.mean() / y.mean() - 1)
    assert res.kpi("profit", scenario="invest").shape == (4, 10)


def test_roi_discounts_the_profit_difference_and_subtracts_the_cost(small):
    exp, res = small
    i = exp.base.economics.discount_rate
    weeks = np.arange(2, 10)
    delta = res.kpi("profit", scenario="invest")[:, 2:] - res.kpi("profit")[:, 2:]
    gain = (delta * (1 + i) ** (-(weeks + 1) / 52)).sum(axis=1)
    out = res.roi("invest", cost=20_000.0)
    cost = 20_000.0 * (1 + i) ** (-4 / 52)     # paid when the lever starts, week 4
    assert out.cost == pytest.approx(cost)
    assert out.gain.mean == pytest.approx(gain.mean())
    assert out.net.mean == pytest.approx(gain.mean() - cost)
    assert out.net.half_width == pytest.approx(out.gain.half_width)
    assert out.roi.mean == pytest.approx((gain.mean() - cost) / cost)
    assert math.isnan(res.roi("invest").roi.mean)
    with pytest.raises(ValueError, match="cost must be a number >= 0"):
        res.roi("invest", cost=-1.0)


def test_warmup_can_be_changed_without_rerunning(small):
    exp, res = small
    later = res.with_warmup(5)
    assert later.warmup == 5 and later.sums is res.sums
    assert later.totals("profit")[0] == res.run("baseline", 0).total("profit", start=5)
    assert 0 <= res.mser5("wait_time") <= 5
    with pytest.raises(ParamError, match="must be longer than the warm-up"):
        res.with_warmup(10)


def test_replications_needed_answers_for_a_scenario_and_a_difference(small):
    exp, res = small
    d = res.difference("profit", scenario="invest")
    n = res.replications_needed("profit", scenario="invest", baseline="baseline", half_width=d.half_width / 2)
    assert n > exp.n_replications  # halving the half-width needs about four times as many
    mean = res.estimate("profit").mean
    assert (res.replications_needed("profit", half_width=0.1, relative=True)
            == res.replications_needed("profit", half_width=0.1 * abs(mean)))


def test_summary_and_frames(small):
    exp, res = small
    text = res.summary(metrics=["wait_time", "profit"])
    assert "3 scenario(s) x 4 replication(s), 10 weeks, warm-up 2, seed 42, common random numbers" in text
    assert "invest" in text and "levers: internal.tools_spend_per_week = 3000 from week 4" in text
    assert "Mean wait" in text and "Profit" in text and "vs baseline" in text
    pd = pytest.importorskip("pandas")
    frame = res.to_frame()
    assert list(frame.columns) == ["scenario", "replication", "period", "unit", "metric", "value"]
    assert len(frame) == 3 * 4 * 10 * len(METRICS)
    row = frame[(frame.scenario == "staff") & (frame.replication == 1) & (frame.period == 7)
                & (frame.metric == "profit")]
    assert row.value.item() == res.kpi("profit", scenario="staff")[1, 7]
    totals = res.to_frame(totals=True, factors=True)
    assert {"lever: internal.tools_spend_per_week", "lever: workforce.n_employees"} <= set(totals.columns)
    staff_rows = totals[totals.scenario == "staff"]
    assert (staff_rows["lever: workforce.n_employees"] == 11).all()
    assert (staff_rows["lever: internal.tools_spend_per_week"] == 0.0).all()  # the base's value
    assert isinstance(totals, pd.DataFrame)


# ----------------------------------------------------------------- executors
def _tiny():
    return Experiment(queue_only(4.0, 1.0, 5, hours_per_week=40.0),
                      scenarios=[Scenario("c5"), Scenario("c6", levers={"workforce.n_employees": 6})],
                      n_replications=3, horizon=3, seed=5)


def _assert_identical(a, b):
    assert a.scenarios == b.scenarios
    for s in a.scenarios:
        assert np.array_equal(a.sums[s], b.sums[s])
        assert np.array_equal(a.department_sums[s], b.department_sums[s])


def test_process_pool_gives_identical_results():
    exp = _tiny()
    pooled = exp.run(workers=2)
    _assert_identical(exp.run(), pooled)
    assert pooled.manifest["sessions"][0]["executor"] == "ProcessPoolExecutor(2, spawn)"


def test_any_executor_gives_identical_results():
    exp = _tiny()
    with ThreadPoolExecutor(2) as pool:
        threaded = exp.run(executor=pool)
    _assert_identical(exp.run(), threaded)
    assert threaded.manifest["sessions"][0]["executor"] == "ThreadPoolExecutor"


@pytest.mark.slow
def test_dask_local_cluster_gives_identical_results():
    distributed = pytest.importorskip("distributed")
    exp = _tiny()
    serial = exp.run()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        on_dask = exp.run(executor=client.get_executor(pure=False))
        assert len(client.scheduler_info()["workers"]) == 2
    _assert_identical(serial, on_dask)
    assert on_dask.manifest["sessions"][0]["executor"] == "ClientExecutor"


def test_progress_bar_counts_runs(capsys):
    pytest.importorskip("tqdm")
    _tiny().run(progress=True)
    assert "6/6" in capsys.readouterr().err


def test_importing_sets_nothing_and_pulls_in_no_extras():
    import subprocess
    import sys

    code = ("import multiprocessing, sys\n"
            "import spchain.experiments.experiment, spchain.experiments.analysis, spchain.experiments.store, spchain.experiments.scenarios, spchain.experiments.statistics\n"
            "assert not {'pandas', 'tqdm', 'dask', 'distributed'} & set(sys.modules), sys.modules.keys()\n"
            "assert multiprocessing.get_start_method(allow_none=True) is None\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_pool_run_does_not_impose_its_start_method():
    """The pool uses a spawn *context*; the process-wide default stays the platform's.

    (Starting any process makes CPython record the default method, hence
    "None or the default", the first of ``get_all_start_methods()``.)
    """
    import multiprocessing

    _tiny().run(workers=2)
    assert multiprocessing.get_start_method(allow_none=True) in (None, multiprocessing.get_all_start_methods()[0])
