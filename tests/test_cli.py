"""Scenario files and the ``spchain`` command line, end to end in subprocesses.

Experiments here are tiny (a few replications of a few weeks of the
``workshop`` preset) so the whole module runs in well under a minute.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spchain.apps.scenario_file import ScenarioFileError, dumps_toml, load_scenario_file, read_parameter_file

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "invest_in_internal_service.toml"
CSV_EXAMPLE = ROOT / "examples" / "branches.csv"

TINY = """
[base]
preset = "workshop"

[experiment]
replications = 3
horizon = 10
warmup = 2
seed = 5

[scenarios.baseline]
[scenarios.invest]
at_week = 3
cost = 1000.0
changes = { "internal.tools_spend_per_week" = 3000.0 }
"""


def spchain(*args, cwd, timeout=180, env=None):
    """Run ``python -m spchain ARGS`` and return the completed process."""
    return subprocess.run([sys.executable, "-m", "spchain", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _tiny_example(tmp_path) -> Path:
    """The shipped example with a short horizon and few replications (same keys, same scenarios)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for key, value in (("replications", 2), ("horizon", 16), ("warmup", 2), ("workers", 1)):
        text, n = re.subn(rf"^{key} = \d+", f"{key} = {value}", text, flags=re.M)
        assert n == 1, key
    text = text.replace("at_week = 13", "at_week = 4").replace("at_week = 39", "at_week = 10")
    path = tmp_path / EXAMPLE.name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------ scenario files
def test_the_example_file_is_valid():
    plan = load_scenario_file(EXAMPLE)
    e = plan.experiment
    assert e.names == ["baseline", "internal investment", "budget for two quarters"]
    assert (e.n_replications, e.horizon, e.warmup, e.seed) == (5, 104, 13, 2026)
    steps = e.scenarios[2].levers
    assert [(c.at_week, c.value) for c in steps] == [(13, 3000.0), (39, 0.0)]
    assert plan.costs["internal investment"] == 20000.0
    assert plan.focus == "profit" and plan.title == "Investing in internal service"
    assert e.base.economics.discount_rate == 0.08


BAD = {
    "syntax": ("[experiment]\nreplications = \n", "", "invalid TOML"),
    "unknown section": ("[experiments]\nreplications = 2\n", "experiments", "did you mean 'experiment'?"),
    "unknown key": ("[experiment]\nreplicatons = 2\n", "experiment.replicatons", "did you mean 'replications'?"),
    "wrong type": ('[experiment]\nhorizon = "ten"\n', "experiment.horizon", "expected an integer >= 1, got a string"),
    "out of range": ("[experiment]\nreplications = 0\n", "experiment.replications", "expected an integer >= 1, got 0"),
    "warm-up": ("[experiment]\nhorizon = 10\nwarmup = 10\n", "experiment.warmup", "fewer weeks than the horizon"),
    "preset typo": ('[base]\npreset = "worksop"\n', "base.preset", "did you mean 'workshop'?"),
    "parameter typo": ('[scenarios.a]\nchanges = { "internal.tools_spend_per_wek" = 1.0 }\n',
                       'scenarios.a.changes."internal.tools_spend_per_wek"', "did you mean 'tools_spend_per_week'?"),
    "parameter range": ('[scenarios.a]\nchanges = { "workforce.n_employees" = 0 }\n',
                        'scenarios.a.changes."workforce.n_employees"', "must be an integer >= 1, got 0"),
    "parameter type": ('[base.parameters]\n"workforce.pay_index" = "high"\n',
                       'base.parameters."workforce.pay_index"', "must be a number, got 'high'"),
    "code is data": ('[base.parameters]\n"workforce.pay_index" = "__import__(\'os\').getcwd()"\n',
                     'base.parameters."workforce.pay_index"', "must be a number"),
    "static path": ('[scenarios.grow]\nat_week = 3\nchanges = { "organisation.n_units" = 2 }\n',
                    'scenarios.grow.changes."organisation.n_units"', "fixed for a whole run"),
    "late change": (('[experiment]\nhorizon = 8\n[scenarios.late]\nat_week = 9\n'
                     'changes = { "workforce.pay_index" = 1.1 }\n'), 'scenarios.late.changes."workforce.pay_index"',
                    "beyond the horizon of 8 weeks"),
    "step": ('[[scenarios.s.steps]]\nat_week = 2\n', "scenarios.s.steps[0]", "needs at_week and changes"),
    "scenario key": ("[scenarios.s]\nat_wek = 2\n", "scenarios.s.at_wek", "did you mean 'at_week'?"),
    "cost": ("[scenarios.s]\ncost = -5\n", "scenarios.s.cost", "expected a number >= 0, got -5"),
    "baseline": ("[scenarios.a]\n[experiment]\nbaseline = \"b\"\n", "experiment.baseline", "unknown scenario 'b'"),
    "kpi": ('[report]\nmetrics = ["profit", "nsp"]\n', "report.metrics[1]", "did you mean 'nps'?"),
    "level": ("[report]\nlevel = 95\n", "report.level", "expected a number > 0 and < 1, got 95"),
    "design kind": ('[design]\nkind = "one_at_a_tme"\nlevers = { "workforce.pay_index" = [0.9, 1.1] }\n',
                    "design.kind", "did you mean 'one_at_a_time'?"),
    "design bounds": ('[design]\nkind = "one_at_a_time"\nlevers = { "workforce.pay_index" = [0.9] }\n',
                      'design.levers."workforce.pay_index"', "expected [low, high]"),
    "design value": ('[design]\nkind = "full_factorial"\nlevers = { "workforce.n_employees" = [5, -1] }\n',
                     'design.levers."workforce.n_employees"', "must be an integer >= 1"),
    "parameter file": ('[base]\nfile = "missing.toml"\n', "base.file", "no parameter file"),
    "preset and file": ('[base]\npreset = "workshop"\nfile = "x.toml"\n', "base", "not both"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_invalid_files_name_the_file_key_and_expectation(case, tmp_path):
    text, key, expected = BAD[case]
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioFileError) as info:
        load_scenario_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert info.value.key == key
    if key:
        assert f": {key}: " in message
    assert expected in message, message


def test_design_scenarios_and_parameter_files(tmp_path):
    from spchain import preset

    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "client.toml").write_text(
        'preset = "bank_branches"\n[workforce]\nn_employees = 5\n'
        '[internal.departments.it]\nn_staff = 4\n', encoding="utf-8")
    (tmp_path / "study.toml").write_text(
        '[base]\nfile = "params/client.toml"\n[base.parameters]\n"customers.visit_rate" = 0.25\n'
        '[experiment]\nreplications = 2\nhorizon = 6\n'
        '[design]\nkind = "one_at_a_time"\nat_week = 2\n'
        'levers = { "workforce.pay_index" = [0.9, 1.1], "internal.tools_spend_per_week" = [0.0, 2000.0] }\n',
        encoding="utf-8")
    plan = load_scenario_file(tmp_path / "study.toml")
    base = plan.experiment.base
    assert base.organisation.n_units == preset("bank_branches").organisation.n_units
    assert (base.workforce.n_employees, base.internal.department("it").n_staff) == (5, 4)
    assert base.customers.visit_rate == 0.25
    assert plan.experiment.names == ["baseline", "pay_index=0.9", "pay_index=1.1", "tools_spend_per_week=0",
                                     "tools_spend_per_week=2000"]
    assert "client.toml" in plan.base and "1 parameter overridden" in plan.base
    # a scenario file as a parameter file: its [base] is used; loops are refused
    params, _ = read_parameter_file(tmp_path / "study.toml")
    assert params == base
    (tmp_path / "a.toml").write_text('[base]\nfile = "b.toml"\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text('[base]\nfile = "a.toml"\n', encoding="utf-8")
    with pytest.raises(ScenarioFileError, match="loop"):
        load_scenario_file(tmp_path / "a.toml")


def test_dumps_toml_round_trips_parameters(tmp_path):
    from spchain import preset

    data = preset("contact_centre").to_dict()
    data.pop("schedule")
    data["customers"]["patience_minutes"] = float("inf")
    text = dumps_toml(data, comments={"workforce.n_employees": "agents"})
    assert "n_employees = 25  # agents" in text
    assert tomllib.loads(text) == data
    path = tmp_path / "cc.toml"
    path.write_text(dumps_toml({"preset": "contact_centre", **data}), encoding="utf-8")
    params, what = read_parameter_file(path)
    assert params.customers.patience_minutes == float("inf") and "contact_centre" in what


def test_toml_examples_of_the_consultants_guide_are_valid(tmp_path):
    """Every TOML block of docs/consultants.md loads: "# NAME.toml ..." blocks are written as files first."""
    text = (ROOT / "docs" / "consultants.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 7
    for i, block in enumerate(blocks):
        named = re.match(r"# (?:a parameter file: )?([\w-]+\.toml)", block)
        path = tmp_path / (named.group(1) if named else f"block{i}.toml")
        path.write_text(block, encoding="utf-8")
        if block.startswith("# a parameter file"):
            read_parameter_file(path)
        else:
            load_scenario_file(path)


# ------------------------------------------------------------------ commands
def test_help_describes_every_command(tmp_path):
    out = spchain("--help", cwd=tmp_path)
    assert out.returncode == 0
    for command in ("demo", "run", "report", "presets", "fit"):
        assert command in out.stdout
    run_help = spchain("run", "--help", cwd=tmp_path).stdout
    for option in ("--out", "--workers", "--scheduler", "--resume", "--quiet"):
        assert option in run_help
    assert "--bootstrap" in spchain("fit", "--help", cwd=tmp_path).stdout


def test_run_example_writes_every_report_file(tmp_path):
    file = _tiny_example(tmp_path)
    out = spchain("run", file, "--out", "report", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "3 scenario(s) x 2 replication(s) = 6 runs" in out.stdout
    assert "spchain:" in out.stderr and "6/6" in out.stderr  # the progress bar
    report = tmp_path / "report"
    for name in ("report.html", "results.csv", "totals.csv", "summary.csv", "returns.csv", "manifest.json",
                 "report-settings.json", "runs.sqlite", "scenario.toml"):
        assert (report / name).is_file(), name
    for slug in ("chain-diagram", "chain-diagram-internal-investment", "chain-diagram-budget-for-two-quarters",
                 "dashboard", "comparison", "fan-profit"):
        for fmt in ("png", "svg"):
            assert (report / "charts" / f"{slug}.{fmt}").is_file(), (slug, fmt)
    assert (report / "scenario.toml").read_bytes() == file.read_bytes()
    returns = {r["scenario"]: r for r in _rows(report / "returns.csv")}
    assert float(returns["internal investment"]["cost"]) > 0
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "Investing in internal service" in html and "budget for two quarters" in html

    # a second run into the same folder is refused; `report` rebuilds it without running
    again = spchain("run", file, "--out", "report", cwd=tmp_path)
    assert again.returncode == 2 and "--resume" in again.stderr
    summary = (report / "summary.csv").read_bytes()
    (report / "summary.csv").unlink()
    rebuilt = spchain("report", "report", cwd=tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "nothing re-run" in rebuilt.stdout
    assert (report / "summary.csv").read_bytes() == summary


@pytest.mark.parametrize("case", ["syntax", "unknown key", "wrong type", "out of range", "parameter typo"])
def test_malformed_file_exits_nonzero_with_one_line_and_writes_nothing(case, tmp_path):
    text, key, expected = BAD[case]
    (tmp_path / "bad.toml").write_text(text, encoding="utf-8")
    out = spchain("run", "bad.toml", "--out", "out", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("spchain: error: bad.toml: ")
    assert key in lines[0] and expected in lines[0]
    assert not (tmp_path / "out").exists()


def test_other_failures_are_one_line(tmp_path):
    missing = spchain("run", "nope.toml", "--out", "out", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.strip() == "spchain: error: nope.toml: no such file"
    (tmp_path / "tiny.toml").write_text(TINY, encoding="utf-8")
    both = spchain("run", "tiny.toml", "--out", "out", "--workers", "2", "--scheduler", "tcp://x:1", cwd=tmp_path)
    assert both.returncode == 2 and "not both" in both.stderr
    nothing = spchain("report", "no-such-folder", cwd=tmp_path)
    assert nothing.returncode == 2 and len(nothing.stderr.strip().splitlines()) == 1
    (tmp_path / "empty").mkdir()
    empty = spchain("report", "empty", cwd=tmp_path)
    assert empty.returncode == 1 and "no experiment store" in empty.stderr
    assert not (tmp_path / "out").exists()


def _totals(folder):
    return [(r["scenario"], r["replication"], r["metric"], r["value"]) for r in _rows(folder / "totals.csv")]


def test_resume_completes_the_same_results(tmp_path):
    """A store holding part of the runs (as an interruption leaves it) is completed by --resume."""
    import dataclasses

    (tmp_path / "tiny.toml").write_text(TINY, encoding="utf-8")
    plan = load_scenario_file(tmp_path / "tiny.toml")
    full = plan.experiment.run()
    (tmp_path / "out").mkdir()
    dataclasses.replace(plan.experiment, n_replications=1).run(store=tmp_path / "out" / "runs.sqlite")
    out = spchain("run", "tiny.toml", "--out", "out", "--resume", "--quiet", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "(resuming)" in out.stdout
    rows = _rows(tmp_path / "out" / "totals.csv")
    for s in full.scenarios:
        for name in ("profit", "nps"):
            got = [float(r["value"]) for r in rows if r["scenario"] == s and r["metric"] == name]
            assert got == full.totals(name, scenario=s).tolist()
    import json

    sessions = json.loads((tmp_path / "out" / "manifest.json").read_text())["sessions"]
    assert [s["n_runs"] for s in sessions] == [2, 4]
    # resuming with a changed file is refused before anything in the folder changes
    (tmp_path / "tiny.toml").write_text(TINY.replace("seed = 5", "seed = 6"), encoding="utf-8")
    changed = spchain("run", "tiny.toml", "--out", "out", "--resume", "--quiet", cwd=tmp_path)
    assert changed.returncode == 2 and "another experiment" in changed.stderr and "seed" in changed.stderr
    assert (tmp_path / "out" / "scenario.toml").read_text(encoding="utf-8") == TINY


def test_interrupt_then_resume(tmp_path):
    """Ctrl-C stops a run with a one-line message; --resume finishes it with identical numbers."""
    text = TINY.replace("replications = 3", "replications = 8").replace("horizon = 10", "horizon = 40")
    (tmp_path / "sweep.toml").write_text(text, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "spchain", "run", "sweep.toml", "--out", "out", "--quiet"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store, deadline, stored = tmp_path / "out" / "runs.sqlite", time.monotonic() + 120, 0
    while time.monotonic() < deadline and proc.poll() is None and stored < 2:
        time.sleep(0.05)
        if store.exists():
            try:
                with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as db:
                    stored = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            except sqlite3.OperationalError:
                pass
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 130:  # interrupted while running, as intended
        assert len(err.strip().splitlines()) == 1 and "interrupted:" in err and "--resume" in err
        assert not (tmp_path / "out" / "report.html").exists()
    else:  # pragma: no cover - the machine finished all 16 runs before the signal
        assert proc.returncode == 0, err
    resumed = spchain("run", "sweep.toml", "--out", "out", "--resume", "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    reference = load_scenario_file(tmp_path / "sweep.toml").experiment.run()
    rows = _rows(tmp_path / "out" / "totals.csv")
    got = [float(r["value"]) for r in rows if r["scenario"] == "invest" and r["metric"] == "profit"]
    assert got == reference.totals("profit", scenario="invest").tolist()


def test_run_on_a_dask_scheduler(tmp_path):
    distributed = pytest.importorskip("distributed")
    (tmp_path / "tiny.toml").write_text(TINY, encoding="utf-8")
    serial = load_scenario_file(tmp_path / "tiny.toml").experiment.run()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                                  host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        out = spchain("run", "tiny.toml", "--out", "out", "--scheduler", cluster.scheduler_address, "--quiet",
                      cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Dask at tcp://127.0.0.1" in out.stdout
    rows = _rows(tmp_path / "out" / "totals.csv")
    got = [float(r["value"]) for r in rows if r["scenario"] == "invest" and r["metric"] == "revenue"]
    assert got == serial.totals("revenue", scenario="invest").tolist()
    unreachable = spchain("run", "tiny.toml", "--out", "out2", "--scheduler", "tcp://127.0.0.1:1", "--quiet",
                          cwd=tmp_path, env=dict(os.environ, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="2s"))
    assert unreachable.returncode == 1 and "cannot reach the Dask scheduler" in unreachable.stderr


def _promised_demo_files():
    """Every ``spchain-demo/<path>`` the README and the documentation pages name."""
    pages = [ROOT / "README.md"] + [p for p in (ROOT / "docs").rglob("*.md")
                                    if not {"_build", "_generated"} & set(p.parts)]
    found = {}
    for page in pages:
        for name in re.findall(r"spchain-demo/([\w./-]*[\w/])", page.read_text(encoding="utf-8")):
            found.setdefault(name.rstrip("/"), page.relative_to(ROOT).as_posix())
    return found


def test_demo_prints_the_comparison_and_the_payback_and_writes_every_promised_file(tmp_path):
    from spchain import ExperimentResult
    from spchain.result import format_value

    out = spchain("demo", "--horizon", "30", "--at-week", "3", "--replications", "2", "--out", "demo", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("spchain demo: preset 'workshop', 30 weeks, 2 replications")
    assert "one more front-line employee per unit (10 -> 11) from week 3" in lines[0]
    assert "KPI, weeks 4-30" in lines[1] and "baseline" in lines[1] and "one more employee" in lines[1]
    assert any(line.startswith("Profit ") for line in lines)
    # the cumulative profit difference at checkpoints and the payback: the numbers of ExperimentResult.payback
    p = ExperimentResult.load(tmp_path / "demo" / "runs.sqlite").payback("one more employee")
    k = lines.index("Profit, cumulative difference from the change at week 3 (one more employee - baseline):")
    for line, weeks in zip(lines[k + 1:k + 4], (13, 26, 27)):
        c = p.after(weeks)
        assert line.split()[:5] == ["after", str(weeks), "weeks", "(week", f"{3 + weeks})"]
        assert line.split()[5:] == [format_value(c.mean), f"[{format_value(c.low)},", f"{format_value(c.high)}]"]
    text = " ".join(lines[k + 4:])
    assert text.startswith("Payback: ") and "Why: from week 3 the unit recruits one more employee" in text
    if p.time is not None:
        assert f"Payback: after {p.time.mean:.0f} week" in text
    elif p.n_paid_back:
        assert f"Payback: none within 27 weeks in {2 - p.n_paid_back} of 2 replications" in text
    else:
        assert "Payback: none within 27 weeks in any of 2 replications" in text
    if p.time is None:
        assert "Not every replication paid back within the 27 weeks after the change; a longer --horizon" in text
    promised = _promised_demo_files()
    assert {"report.html", "summary.csv"} <= set(promised)  # the docs do name the folder's files
    for name, page in promised.items():
        assert (tmp_path / "demo" / name).exists(), f"{page} promises spchain-demo/{name}"
    for name in ("report.html", "results.csv", "summary.csv", "charts/dashboard.png", "charts/chain-diagram.svg"):
        assert (tmp_path / "demo" / name).is_file(), name
    again = spchain("demo", "--horizon", "30", "--at-week", "3", "--replications", "2", "--out", "demo",
                    cwd=tmp_path)  # the demo owns its folder: it starts afresh, same numbers
    assert again.returncode == 0 and again.stdout.splitlines()[:-1] == lines[:-1]
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "runs.sqlite").write_bytes(b"")  # another study's runs are never touched
    refused = spchain("demo", "--horizon", "12", "--at-week", "3", "--out", "study", cwd=tmp_path)
    assert refused.returncode == 2 and "another study" in refused.stderr
    assert (tmp_path / "study" / "runs.sqlite").exists()

    # `spchain run` of the same experiment as a file prints the same comparison, payback included
    (tmp_path / "same.toml").write_text(dumps_toml({
        "base": {"preset": "workshop"},
        "experiment": {"replications": 2, "horizon": 30, "warmup": 3, "seed": 2026},
        "scenarios": {"baseline": {}, "one more employee": {"at_week": 3,
                                                             "changes": {"workforce.n_employees": 11}}}}),
        encoding="utf-8")
    run = spchain("run", "same.toml", "--out", "same", "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    shown = run.stdout.splitlines()
    why = next(i for i, line in enumerate(lines) if line.startswith("Why:"))
    assert shown[1:-1] == lines[1:why]
    assert shown[-1].startswith("wrote ")


def test_presets_list_show_and_toml(tmp_path):
    from spchain import PRESETS, preset

    listed = spchain("presets", cwd=tmp_path)
    assert listed.returncode == 0 and all(name in listed.stdout for name in PRESETS)
    shown = spchain("presets", "contact_centre", cwd=tmp_path)
    assert "workforce.n_employees = 25" in shown.stdout and 'preset = "contact_centre"' in shown.stdout
    as_toml = spchain("presets", "bank_branches", "--toml", cwd=tmp_path)
    assert tomllib.loads(as_toml.stdout)["organisation"]["n_units"] == 5
    (tmp_path / "bank.toml").write_text(as_toml.stdout, encoding="utf-8")
    assert read_parameter_file(tmp_path / "bank.toml")[0] == preset("bank_branches")
    typo = spchain("presets", "bank_branchs", cwd=tmp_path)
    assert typo.returncode == 2 and "did you mean 'bank_branches'?" in typo.stderr


def test_fit_writes_a_file_that_run_accepts(tmp_path):
    from spchain import preset
    from spchain.fitting.estimation import fit_links
    from spchain.panel import read_panel

    args = ["fit", CSV_EXAMPLE, "--unit", "branch", "--period", "week", "--preset", "workshop",
            "--column", "employee_satisfaction=engagement", "--scale", "engagement=0:100",
            "--column", "customer_satisfaction=csat", "--scale", "csat=csat", "--pooled",
            "--out", "fitted.toml", "--plots", "fit-charts"]
    out = spchain(*args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "spchain links fit" in out.stdout and "wrote fitted.toml" in out.stdout
    assert (tmp_path / "fit-charts" / "fit-service_quality.png").is_file()
    fit = fit_links(read_panel(CSV_EXAMPLE, unit="branch", period="week"), unit_effects=False,
                    columns={"employee_satisfaction": "engagement", "customer_satisfaction": "csat"},
                    scales={"engagement": (0, 100), "csat": "csat"}, params=preset("workshop"))
    plan = load_scenario_file(tmp_path / "fitted.toml")
    kept, why = fit.select_overrides()
    assert kept and why
    for path, value in kept.items():
        assert plan.experiment.base.get(path) == pytest.approx(value, rel=1e-5), path
    for path in why:
        assert plan.experiment.base.get(path) == preset("workshop").get(path), path
    text = (tmp_path / "fitted.toml").read_text(encoding="utf-8")
    assert "# fitted; 95% CI [" in text
    (tmp_path / "study.toml").write_text('[base]\nfile = "fitted.toml"\n[experiment]\nreplications = 2\n'
                                         'horizon = 6\n', encoding="utf-8")
    assert load_scenario_file(tmp_path / "study.toml").experiment.base == plan.experiment.base
    exists = spchain(*args, cwd=tmp_path)
    assert exists.returncode == 2 and "--force" in exists.stderr
    bad = spchain("fit", CSV_EXAMPLE, "--out", "x.toml", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("spchain: error: ") and "'unit'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_fit_writes_only_what_the_data_determine(tmp_path):
    """The documented rule: a fitted value is written when its 95% CI excludes 0 and its half-width
    is at most --max-ci-share (0.5) of the estimate; the others get a comment saying why. The output
    and the file say what the numbers mean and name the estimator's known biases."""
    args = ["fit", CSV_EXAMPLE, "--unit", "branch", "--period", "week", "--preset", "workshop",
            "--column", "employee_satisfaction=engagement", "--scale", "engagement=0:100",
            "--column", "customer_satisfaction=csat", "--scale", "csat=csat", "--pooled"]
    out = spchain(*args, "--out", "fitted.toml", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "fitted.toml").read_text(encoding="utf-8")
    written = tomllib.loads(text)["base"]["parameters"]
    # undetermined: the interval includes 0 (quit link) or is too wide; not written, and the comment says why
    assert "links.quit_from_satisfaction" not in written
    assert re.search(r"^# links\.quit_from_satisfaction not written: 95% CI \[-16\.4, 18\] includes 0; "
                     r"stays at the base's ", text, re.M)
    assert re.search(r"^# workforce\.base_quit_rate not written: 95% CI \[.*\]: half-width .* is 73% of the "
                     r"estimate .*, more than 50%", text, re.M)
    assert "links.value_from_wait" not in written
    # determined links are written, with their interval
    for path in ("links.quality_from_satisfaction", "links.value_from_quality",
                 "links.productivity_from_satisfaction"):
        assert path in written
        assert re.search(rf'^"{re.escape(path)}" = [0-9.]+  # fitted; 95% CI \[', text, re.M)
    # what the numbers mean, and the estimator's known biases: printed and in the file
    for phrase in ("not proven causes", "links.satisfaction_from_internal is underestimated",
                   "errors in variables", "weekly ISQ is a noisy measure", "pooled estimator with a lagged"):
        assert phrase in out.stdout and phrase in text, phrase
    assert "# What the numbers mean: associations in these data" in text
    assert re.search(r"wrote fitted\.toml: 7 fitted parameter\(s\), 6 left at the base's value", out.stdout)
    # within (unit effects): the Nickell bias is named
    within = spchain(*args[:-1], "--equations", "employee_satisfaction,service_quality", "--out", "within.toml",
                     cwd=tmp_path)
    assert within.returncode == 0, within.stderr
    assert "Nickell bias" in within.stdout and "Nickell bias" in (tmp_path / "within.toml").read_text()
    # the threshold: inf keeps only the zero rule; a tight share writes fewer
    loose = spchain(*args, "--max-ci-share", "inf", "--out", "loose.toml", cwd=tmp_path)
    assert loose.returncode == 0, loose.stderr
    loose_written = tomllib.loads((tmp_path / "loose.toml").read_text())["base"]["parameters"]
    assert {"workforce.base_quit_rate", "links.churn_from_satisfaction"} <= set(loose_written)
    assert "links.quit_from_satisfaction" not in loose_written and "value_from_wait" not in str(loose_written)
    tight = spchain(*args, "--max-ci-share", "0.2", "--out", "tight.toml", cwd=tmp_path)
    tight_written = tomllib.loads((tmp_path / "tight.toml").read_text())["base"]["parameters"]
    assert set(tight_written) < set(written) and "links.quality_from_satisfaction" in tight_written
    assert "more than 20%" in tight.stdout
    bad = spchain(*args, "--max-ci-share", "0", "--out", "bad.toml", cwd=tmp_path)
    assert bad.returncode == 2 and "--max-ci-share" in bad.stderr and "must be a number > 0" in bad.stderr


def test_version_and_module_entry_point(tmp_path):
    from spchain import __version__

    out = spchain("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == f"spchain {__version__}"
