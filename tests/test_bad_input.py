"""Bad input, all of it (issue 15, item 4): every malformed input is refused before any work is
done, with an error naming the key or argument, the value and what was expected.

The command line is called in-process (``spchain.apps.cli.main``) so the module stays fast; the last
test fuzzes the scenario-file loader with hypothesis.
"""

from __future__ import annotations

import math
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spchain import Params, simulate
from spchain.apps.cli import main
from spchain.experiments.experiment import DEFAULT_MAX_HOURS, Experiment
from spchain.params import Links, ParamError
from spchain.presets import queue_only
from spchain.apps.scenario_file import ScenarioFileError, dumps_toml, load_scenario_file

TINY = """
[base]
preset = "workshop"

[experiment]
replications = 2
horizon = 4
seed = 5

[scenarios.baseline]
"""


def run_cli(tmp_path, capsys, *args):
    """``spchain run`` in-process: (exit code, stderr); asserts nothing was written."""
    code = main(["run", *map(str, args), "--quiet"])
    return code, capsys.readouterr().err


# ------------------------------------------------- 1. inf and nan in a file
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "+inf"])
def test_cost_inf_or_nan_is_refused_with_the_key(tmp_path, capsys, value):
    f = tmp_path / "s.toml"
    f.write_text(TINY + f"cost = {value}\n", encoding="utf-8")
    with pytest.raises(ScenarioFileError, match=r"scenarios\.baseline\.cost: expected a finite number, got "
                                                r"a number \(.*(inf|nan)\)") as info:
        load_scenario_file(f)
    assert info.value.key == "scenarios.baseline.cost"
    code, err = run_cli(tmp_path, capsys, f, "--out", tmp_path / "out")
    assert code == 2 and "scenarios.baseline.cost" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("entry, key", [
    ('[report]\nlevel = nan\n', "report.level"),
    ('[report]\nlevel = inf\n', "report.level"),
    ('[base.parameters]\n"economics.spend_per_visit" = inf\n', 'base.parameters."economics.spend_per_visit"'),
    ('[base.parameters]\n"workforce.n_employees" = nan\n', 'base.parameters."workforce.n_employees"'),
    ('[scenarios.x]\nchanges = { "internal.tools_spend_per_week" = -inf }\n',
     'scenarios.x.changes."internal.tools_spend_per_week"'),
    ('[design]\nkind = "full_factorial"\nlevers = { "internal.tools_spend_per_week" = [0.0, inf] }\n',
     'design.levers."internal.tools_spend_per_week"'),
])
def test_inf_and_nan_are_refused_wherever_a_number_is_read(tmp_path, entry, key):
    f = tmp_path / "s.toml"
    f.write_text(TINY.replace("[scenarios.baseline]\n", "") + entry, encoding="utf-8")
    with pytest.raises(ScenarioFileError) as info:
        load_scenario_file(f)
    assert info.value.key == key and ("inf" in str(info.value) or "nan" in str(info.value))


@pytest.mark.parametrize("entry, key, message", [
    ('[design]\nkind = "latin_hypercube"\nn = 100000000\nlevers = { "workforce.recognition" = [0.0, 1.0] }\n',
     "design.n", "expected an integer >= 1 and <= 10000, got 100000000"),
    ('[design]\nkind = "full_factorial"\nlevers = { "workforce.recognition" = ['
     + ", ".join(f"0.{i:02d}" for i in range(1, 100)) + '], "internal.tools_spend_per_week" = ['
     + ", ".join(f"{i}.0" for i in range(200)) + '] }\n',
     "design", "has 19,800 scenarios; expected at most 10,000"),
])
def test_a_design_too_large_to_build_is_refused(tmp_path, entry, key, message):
    f = tmp_path / "s.toml"
    f.write_text(TINY.replace("[scenarios.baseline]\n", "") + entry, encoding="utf-8")
    with pytest.raises(ScenarioFileError, match=message) as info:
        load_scenario_file(f)
    assert info.value.key == key and str(info.value).count(str(f)) == 1


def test_inf_is_still_accepted_where_a_parameter_allows_it(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(TINY + '[base.parameters]\n"customers.patience_minutes" = inf\n', encoding="utf-8")
    assert math.isinf(load_scenario_file(f).experiment.base.customers.patience_minutes)


# ------------------------------------------------------ 2. the run budget
def test_a_billion_replications_is_refused_before_anything_runs(tmp_path, capsys):
    with pytest.raises(ParamError, match=r"would take about [\d,.]+ CPU hours: 1 scenario\(s\) x "
                                         r"1,000,000,000 replication\(s\).*limit is 24 CPU hours.*"
                                         r"max_hours=None"):
        Experiment(n_replications=10**9, horizon=52, seed=1).run()
    with pytest.raises(ParamError, match="max_hours=None"):
        Experiment(n_replications=10**9, horizon=52, seed=1).run(store=tmp_path / "never.sqlite")
    assert not (tmp_path / "never.sqlite").exists()
    f = tmp_path / "big.toml"
    f.write_text(TINY.replace("replications = 2", "replications = 1000000000"), encoding="utf-8")
    code, err = run_cli(tmp_path, capsys, f, "--out", tmp_path / "out")
    assert code == 2 and "1,000,000,000 replication(s)" in err and "--allow-long" in err
    assert not (tmp_path / "out").exists()
    assert DEFAULT_MAX_HOURS == 24.0


def test_the_budget_can_be_set_or_lifted(tmp_path, capsys):
    exp = Experiment(n_replications=2, horizon=3, seed=1)
    n_runs, per_run = exp.estimate_seconds()
    assert n_runs == 2 and 0 < per_run < 60
    exp.run(max_hours=1e-9)  # 6 run-weeks: not probed, within any budget
    big = Experiment(n_replications=400, horizon=3, seed=1)  # 1,200 run-weeks: probed
    with pytest.raises(ParamError, match=r"= 400 runs still to do.*limit is 1e-09 CPU hours"):
        big.run(max_hours=1e-9)
    assert exp.run(max_hours=None).n_replications == 2
    for bad in (0, -1.0, float("nan"), "24", True):
        with pytest.raises(ParamError, match=r"max_hours must be a number > 0 .* got"):
            exp.run(max_hours=bad)
    f = tmp_path / "s.toml"
    f.write_text(TINY.replace("replications = 2", "replications = 300"), encoding="utf-8")
    code, err = run_cli(tmp_path, capsys, f, "--out", tmp_path / "a", "--max-hours", "1e-9")
    assert code == 2 and "limit is 1e-09 CPU hours" in err and not (tmp_path / "a").exists()
    f.write_text(TINY, encoding="utf-8")
    assert run_cli(tmp_path, capsys, f, "--out", tmp_path / "b", "--max-hours", "1e-9")[0] == 0  # 8 run-weeks
    f.write_text(TINY.replace("replications = 2", "replications = 300").replace("horizon = 4", "horizon = 2"),
                 encoding="utf-8")
    assert run_cli(tmp_path, capsys, f, "--out", tmp_path / "b2", "--max-hours", "1e-9", "--allow-long")[0] == 0
    with pytest.raises(SystemExit) as info:
        main(["run", str(f), "--out", str(tmp_path / "c"), "--max-hours", "0"])
    assert info.value.code == 2 and "--max-hours" in capsys.readouterr().err


def test_runs_already_stored_do_not_count(tmp_path):
    exp = Experiment(n_replications=501, horizon=2, seed=1)  # 1,002 run-weeks: probed
    exp.run(store=tmp_path / "s.sqlite", max_hours=None)
    assert exp.estimate_seconds(store=tmp_path / "s.sqlite") == (0, 0.0)
    exp.run(store=tmp_path / "s.sqlite", max_hours=1e-12)  # nothing left to run: within any budget


# ---------------------------------------------------- 3. an empty file
@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_an_empty_file_is_refused_with_a_minimal_example(tmp_path, capsys, text):
    f = tmp_path / "empty.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioFileError, match="the file is empty") as info:
        load_scenario_file(f)
    example = str(info.value).split("a minimal scenario file is:\n", 1)[1]
    import tomllib

    assert tomllib.loads(example)["experiment"]["replications"] == 5  # the example is a valid file
    code, err = run_cli(tmp_path, capsys, f, "--out", tmp_path / "out")
    assert code == 2 and "the file is empty" in err and '[experiment]' in err and not (tmp_path / "out").exists()


# ------------------------------------------------ 4. a directory as file
def test_a_directory_is_called_a_directory(tmp_path, capsys):
    (tmp_path / "study.toml").write_text(TINY, encoding="utf-8")
    with pytest.raises(ScenarioFileError, match=r"is a directory, not a file; .*\(it holds study\.toml\)"):
        load_scenario_file(tmp_path)
    code, err = run_cli(tmp_path, capsys, tmp_path, "--out", tmp_path / "out")
    assert code == 2 and "is a directory" in err and "no such file" not in err


# ------------------------------------------ 5. override with a non-mapping
@pytest.mark.parametrize("bad", ["workforce.n_employees=7", [("workforce.n_employees", 7)], 7, None])
def test_override_names_the_type_and_what_is_expected(bad):
    with pytest.raises(ParamError, match=rf"override\(\) expects a mapping of dotted parameter paths to "
                                         rf"values.*got {type(bad).__name__}"):
        Params().override(bad)


def test_override_refuses_a_key_that_is_not_a_path():
    with pytest.raises(ParamError, match=r"keys must be dotted parameter paths \(str\), got int 7"):
        Params().override({7: 1})


# ---------------------------------------------- 6. queue_only's arguments
@pytest.mark.parametrize("args, kwargs, name", [
    ((10, 1, 10), {"patience_rate": -1}, "patience_rate"),
    ((float("nan"), 1, 10), {}, "arrival_rate"),
    ((10, float("inf"), 10), {}, "service_rate"),
    ((10, 0, 10), {}, "service_rate"),
    ((10, 1, 0), {}, "n_servers"),
    ((10, 1, 2.5), {}, "n_servers"),
    ((10, 1, 10), {"patience_rate": float("nan")}, "patience_rate"),
    ((10, 1, 10), {"hours_per_week": 200.0}, "hours_per_week"),
    ((10, 1, 10), {"hours_per_week": 0}, "hours_per_week"),
    ((10, 1, 10), {"n_customers": 0}, "n_customers"),
    (("10", 1, 10), {}, "arrival_rate"),
])
def test_queue_only_names_its_own_arguments(args, kwargs, name):
    with pytest.raises(ParamError, match=rf"^queue_only: {name} must be") as info:
        queue_only(*args, **kwargs)
    assert "customers." not in str(info.value) and "workforce." not in str(info.value)


# ----------------------------------------------- 7. exit codes as documented
def test_a_refused_resume_exits_with_2(tmp_path, capsys):
    f = tmp_path / "s.toml"
    f.write_text(TINY, encoding="utf-8")
    assert run_cli(tmp_path, capsys, f, "--out", tmp_path / "out")[0] == 0
    f.write_text(TINY.replace("seed = 5", "seed = 6"), encoding="utf-8")
    code, err = run_cli(tmp_path, capsys, f, "--out", tmp_path / "out", "--resume")
    assert code == 2 and "another experiment" in err
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "runs.sqlite").write_text("not a database", encoding="utf-8")
    code, err = run_cli(tmp_path, capsys, f, "--out", tmp_path / "junk", "--resume")
    assert code == 2 and "not an spchain experiment store" in err
    code, err = run_cli(tmp_path, capsys, f, "--out", tmp_path / "out")
    assert code == 2 and "pass --resume" in err


# -------------------------------------------- 8. summary() for every valid set
def test_summary_with_a_negative_discount_rate_and_no_churn():
    p = Params(links=Links().off()).override({"economics.discount_rate": -0.05,
                                              "customers.base_churn_rate": 0.0})
    text = simulate(p, horizon=3, seed=1).summary()
    assert "Customer lifetime value" in text and "undefined" in text
    assert "note: customer lifetime value undefined (the discounted sum diverges" in text
    assert "1 + discount_rate (0.95)" in text
    normal = simulate(Params(), horizon=3, seed=1).summary()
    assert "undefined" not in normal and "note:" not in normal


# ------------------------------------------------- 9. fuzzing the loader
_KNOWN = {
    "base": ["preset", "file", "parameters"],
    "experiment": ["replications", "horizon", "warmup", "seed", "workers", "baseline", "crn"],
    "scenarios": ["baseline", "invest", "x"],
    "design": ["kind", "levers", "uncertainties", "at_week", "n", "seed", "baseline"],
    "report": ["title", "metrics", "focus", "level", "currency", "money_scale"],
    "sensitivity": ["method", "kpi", "factors", "groups", "trajectories", "levels", "n", "replications", "window",
                    "bootstrap", "seed"],
    "selection": ["kpi", "delta", "alpha", "direction", "procedure", "n0", "budget", "batch", "scenarios"],
}
_SCENARIO_KEYS = ["description", "at_week", "changes", "steps", "uncertainties", "cost"]
_PATHS = ["workforce.n_employees", "internal.tools_spend_per_week", "customers.patience_minutes",
          "organisation.n_units", "economics.discount_rate", "links.value_from_quality", "nowhere.at_all"]

_names = st.text(string.ascii_letters + string.digits + "_-. ", min_size=1, max_size=12)
_scalars = st.one_of(
    st.integers(min_value=-3, max_value=60), st.sampled_from([0, 1, -1, 2**31, -(2**63), 10**12]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([math.inf, -math.inf, math.nan]),
    st.booleans(), st.text(max_size=8),
    st.sampled_from(["workshop", "baseline", "latin_hypercube", "full_factorial", "one_at_a_time", "profit",
                     "nope.toml", "", "morris", "sobol", "plan", "kn++", "ocba", "rinott", "max", "min", "invest"]))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.one_of(st.sampled_from(_PATHS + _SCENARIO_KEYS), _names), inner, max_size=3)),
    max_leaves=8)


@st.composite
def _files(draw):
    data = {}
    for section in draw(st.lists(st.sampled_from(sorted(_KNOWN) + ["extra"]), unique=True, max_size=4)):
        keys = _KNOWN.get(section, ["anything"])
        body = draw(st.dictionaries(st.one_of(st.sampled_from(keys), _names), _values, max_size=4))
        if section == "sensitivity" and draw(st.booleans()):  # factors as paths with ranges, some valid
            body["factors"] = draw(st.dictionaries(st.sampled_from(_PATHS), st.one_of(
                st.tuples(st.integers(1, 20), st.integers(1, 40)).map(list),
                st.tuples(st.floats(-1, 1e4), st.floats(-1, 1e4)).map(list), _values), min_size=1, max_size=3))
        if section == "scenarios":  # scenario tables with their own keys
            body = {name: (draw(st.dictionaries(st.one_of(st.sampled_from(_SCENARIO_KEYS), _names), _values,
                                                max_size=4)) if draw(st.booleans()) else value)
                    for name, value in body.items()}
        data[section] = body
    return data


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=_files())
def test_fuzzed_files_are_accepted_or_refused_with_the_key(tmp_path, data):
    """Whatever the file holds, the loader accepts it or raises ScenarioFileError naming a key."""
    f = tmp_path / "fuzz.toml"
    try:
        text = dumps_toml(data)
    except TypeError:  # a value TOML cannot hold
        return
    f.write_text(text, encoding="utf-8")
    try:
        load_scenario_file(f)
    except ScenarioFileError as exc:
        if "invalid TOML" in str(exc):
            return
        if data:
            assert exc.key, (str(exc), text)
            assert exc.key.split(".")[0].split("[")[0].strip('"') in set(data) | {"experiment"}, (str(exc), text)


_STUDY_VALID = {  # per key: valid values (in this file), drawn most of the time
    "method": ["morris", "sobol"], "kpi": ["profit", "costs"], "trajectories": [2, 3], "levels": [2, 4],
    "n": [8, 16], "replications": [1, 2, "plan"], "window": [1, 3], "bootstrap": [20, 50], "seed": [0, 5],
    "groups": [{"g": ["workforce.n_employees"]}], "delta": [1.0, 500.0], "alpha": [0.05, 0.2],
    "direction": ["max", "min"], "procedure": ["kn++", "kn", "rinott", "ocba"], "n0": [2, 5], "budget": [10, 40],
    "batch": [1, 2], "scenarios": [["baseline", "invest"], ["invest", "baseline"]],
}
_STUDY_EDGE = {  # ... and values just outside what is allowed
    "method": ["sobel"], "kpi": ["utilisation", "nope"], "trajectories": [1], "levels": [3], "n": [10],
    "replications": [0, "plenty"], "window": [7], "bootstrap": [19], "seed": [-1],
    "groups": [{"g": ["nowhere.at_all"]}], "delta": [0.0, -1.0], "alpha": [0.6], "direction": ["up"],
    "procedure": ["best"], "n0": [1], "budget": [3], "batch": [0], "scenarios": [["baseline"], ["x", "y"]],
}


_mostly = st.sampled_from([True] * 7 + [False])  # True 7 times in 8 (and what a failure shrinks towards)


@st.composite
def _study_sections(draw):
    """A valid base, experiment and two scenarios, with fuzzed [sensitivity] and [selection] sections."""
    data = {"base": {"preset": "workshop"}, "experiment": {"horizon": 8, "warmup": 2},
            "scenarios": {"baseline": {}, "invest": {"changes": {"workforce.n_employees": 11}}}}
    for section in draw(st.lists(st.sampled_from(["sensitivity", "selection"]), unique=True, min_size=1)):
        keys = draw(st.lists(st.sampled_from(_KNOWN[section]), unique=True, max_size=6))
        if section == "sensitivity" and "method" not in keys and draw(_mostly):
            keys.append("method")
        body = {k: draw(st.sampled_from(_STUDY_VALID[k])) if draw(_mostly) else
                draw(st.one_of(st.sampled_from(_STUDY_EDGE[k]), _values)) for k in keys if k != "factors"}
        if not draw(_mostly):
            body[draw(_names)] = draw(_values)
        if section == "sensitivity" and draw(_mostly):
            body["factors"] = draw(st.dictionaries(st.sampled_from(_PATHS), st.one_of(
                st.tuples(st.integers(1, 20), st.integers(1, 40)).map(list),
                st.tuples(st.floats(-1, 1e4), st.floats(-1, 1e4)).map(list), _values), min_size=1, max_size=3))
        if section == "selection" and draw(_mostly):
            body["delta"] = draw(st.sampled_from(_STUDY_VALID["delta"] + _STUDY_EDGE["delta"]))
        data[section] = body
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=_study_sections())
def test_fuzzed_sensitivity_and_selection_sections_are_accepted_or_refused_with_their_key(tmp_path, data):
    """Whatever [sensitivity] and [selection] hold, the loader accepts them or names a key inside them."""
    f = tmp_path / "fuzz.toml"
    try:
        text = dumps_toml(data)
    except TypeError:
        return
    f.write_text(text, encoding="utf-8")
    try:
        plan = load_scenario_file(f)
    except ScenarioFileError as exc:
        if "invalid TOML" in str(exc):
            return
        assert exc.key.split(".")[0].split("[")[0] in {"sensitivity", "selection"}, (str(exc), text)
        return
    if "sensitivity" in data:
        s = plan.sensitivity
        assert s.method in ("morris", "sobol") and s.factors
        assert all(low < high for low, high in s.factors.values())
    if "selection" in data:
        assert plan.selection.delta > 0 and len(plan.selection.scenarios) >= 2
