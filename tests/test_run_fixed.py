"""Parameters fixed for a whole run are refused by every entry point, before any run, by one rule."""

import pytest

import spchain.engine.run
from spchain import Change, ParamError, preset, simulate
from spchain.experiments.experiment import Experiment
from spchain.params import RUN_FIXED_PATHS, Department, check_schedulable
from spchain.apps.scenario_file import ScenarioFileError, load_scenario_file
from spchain.experiments.scenarios import Scenario, full_factorial

BASE = preset("workshop")
ONE_MORE_DEPARTMENT = dict(BASE.to_dict()["internal"]["departments"], legal=Department(name="legal").to_dict())

#: one change per entry of RUN_FIXED_PATHS, each a valid value (only its timing is wrong)
FIXED = [
    ("organisation.n_units", 2),
    ("organisation.hours_per_week", 40.0),
    ("internal.departments", ONE_MORE_DEPARTMENT),  # the set of departments
    ("workforce.service_time_cv", 0.5),
    ("customers.n_customers", 5000),
]
#: department fields are levers the engine applies at their week
LEVERS = [
    ("internal.departments.it.n_staff", 3),
    ("internal.departments.hr.sla_hours", 12.0),
    ("internal.departments.it.requests_to.back_office", 0.1),
]


def _message(path, week):
    return rf"{path.replace('.', '[.]')} is fixed for a whole run and cannot change at week {week}\b.*base parameters"


@pytest.fixture
def counted_runs(monkeypatch):
    """Count every simulate call an experiment makes (run_task imports simulate when called)."""
    calls = []
    real = spchain.engine.run.simulate

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)
    monkeypatch.setattr(spchain.engine.run, "simulate", counting)
    return calls


def test_every_fixed_entry_is_covered_by_the_examples():
    assert {p if any(p == e for e in RUN_FIXED_PATHS) else p.rsplit(".", 1)[0] + "." for p, _ in FIXED} == set(
        RUN_FIXED_PATHS)


@pytest.mark.parametrize("path, value", FIXED)
def test_check_schedulable_names_the_path_the_week_and_what_to_do(path, value):
    with pytest.raises(ParamError, match=r"^scenario 'x': " + _message(path, 7)):
        check_schedulable(path, 7, context="scenario 'x': ")


@pytest.mark.parametrize("path, value", LEVERS + [("workforce.n_employees", 12), ("economics.price_index", 1.1)])
def test_levers_pass_the_check(path, value):
    check_schedulable(path, 7)


@pytest.mark.parametrize("path, value", FIXED)
def test_simulate_refuses_a_scheduled_fixed_parameter(path, value):
    for week in (0, 3):  # in a schedule even week 0 is refused: set it in the base instead
        params = BASE.with_changes(Change(at_week=week, path=path, value=value))
        with pytest.raises(ParamError, match=rf"schedule change at week {week}: " + _message(path, week)):
            simulate(params, horizon=5, seed=1)


@pytest.mark.parametrize("path, value", FIXED)
def test_a_scenario_refuses_a_fixed_parameter_after_week_zero(path, value):
    with pytest.raises(ParamError, match=r"scenario 'x': " + _message(path, 3)):
        Scenario("x", levers={path: value}, at_week=3)
    with pytest.raises(ParamError, match=r"scenario 'x': " + _message(path, 4)):
        Scenario("x", uncertainties=[Change(at_week=4, path=path, value=value)])
    with pytest.raises(ParamError, match=_message(path, 3)):
        full_factorial(levers={path: [value]}, at_week=3)
    # from week 0 the change overrides the base: allowed
    assert Scenario("x", levers={path: value}).apply(BASE).get(path) == value


@pytest.mark.parametrize("path, value", FIXED)
def test_an_experiment_refuses_a_fixed_parameter_in_the_base_schedule_before_any_run(
        tmp_path, counted_runs, path, value):
    store = tmp_path / "sweep.sqlite"
    base = BASE.with_changes(Change(at_week=3, path=path, value=value))
    with pytest.raises(ParamError, match=r"scenario 'baseline': " + _message(path, 3)):
        Experiment(base, scenarios=[Scenario("baseline"), Scenario("more", levers={"workforce.n_employees": 12})],
                   horizon=6, n_replications=2, seed=1).run(store=store)
    assert counted_runs == [] and not store.exists()


def test_an_experiment_refuses_a_new_department_by_path_before_any_run(counted_runs):
    legal = Scenario("legal", levers=[Change(at_week=3, path="internal.departments.legal", value={"n_staff": 1})])
    with pytest.raises(ParamError, match=r"scenario 'legal'.*unknown parameter path 'internal[.]departments[.]legal'"):
        Experiment(BASE, scenarios=[Scenario("baseline"), legal], horizon=6, n_replications=2, seed=1)
    assert counted_runs == []


def test_department_levers_are_scheduled_everywhere(tmp_path, counted_runs):
    changes = [Change(at_week=2, path=p, value=v) for p, v in LEVERS]
    params = BASE.with_changes(*changes)
    assert simulate(params, horizon=4, seed=1).kpi("served").shape == (4,)
    scenario = Scenario("levers", levers=changes)
    exp = Experiment(BASE, scenarios=[Scenario("baseline"), scenario], horizon=4, n_replications=1, seed=1)
    assert exp.params["levers"].at_week(2).internal.department("it").n_staff == 3
    exp.run()
    assert len(counted_runs) == 2
    file = tmp_path / "levers.toml"
    file.write_text('[base]\npreset = "workshop"\n[experiment]\nhorizon = 4\nreplications = 1\n'
                    '[scenarios.more_it]\nat_week = 2\n'
                    'changes = { "internal.departments.it.n_staff" = 3 }\n')
    assert load_scenario_file(file).experiment.params["more_it"].schedule[0].at_week == 2


@pytest.mark.parametrize("table, key", [
    ('[scenarios.grow]\nat_week = 3\nchanges = { "customers.n_customers" = 5000 }\n',
     'scenarios.grow.changes."customers.n_customers"'),
    ('[[scenarios.grow.steps]]\nat_week = 3\nchanges = { "workforce.service_time_cv" = 0.5 }\n',
     'scenarios.grow.steps[0].changes."workforce.service_time_cv"'),
    ('[design]\nkind = "full_factorial"\nat_week = 3\nlevers = { "organisation.n_units" = [1, 2] }\n',
     'design.levers."organisation.n_units"'),
])
def test_a_scenario_file_refuses_a_fixed_parameter_after_week_zero_naming_its_key(tmp_path, table, key):
    file = tmp_path / "grow.toml"
    file.write_text('[base]\npreset = "workshop"\n[experiment]\nhorizon = 8\n' + table)
    with pytest.raises(ScenarioFileError, match=r"fixed for a whole run and cannot change at week 3") as info:
        load_scenario_file(file)
    assert info.value.key == key
