"""``spchain sensitivity FILE`` and ``spchain select FILE`` (issue 12, item 4): scenario-file sections,
the commands and their report folders.

The commands are called in-process (:func:`spchain.apps.cli.main`) on tiny files (the ``workshop``
preset, runs of a few weeks) and their CSV files are compared with calling
:func:`spchain.experiments.sensitivity.morris`, :func:`spchain.experiments.sensitivity.sobol` and
:func:`spchain.experiments.selection.select_best` directly with the same settings: the same seeds give the
same numbers, to the last digit.
"""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path

import numpy as np
import pytest

from spchain import Scenario, preset
from spchain.apps.cli import main
from spchain.apps.scenario_file import ScenarioFileError, load_scenario_file

ROOT = Path(__file__).resolve().parents[1]

FACTORS = {"economics.spend_per_visit": (30.0, 50.0), "workforce.n_employees": (8, 12),
           "links.satisfaction_from_internal": (0.5, 1.5)}

MORRIS = """
[base]
preset = "workshop"

[experiment]
horizon = 6
warmup = 1
seed = 3

[sensitivity]
method = "morris"
kpi = "profit"
trajectories = 3
replications = 2
factors = { "economics.spend_per_visit" = [30.0, 50.0], "workforce.n_employees" = [8, 12], "links.satisfaction_from_internal" = [0.5, 1.5] }
"""

SOBOL = """
[base]
preset = "workshop"

[experiment]
horizon = 6
seed = 11

[report]
level = 0.9

[sensitivity]
method = "sobol"
kpi = "revenue"
n = 8
bootstrap = 40
replications = 2
window = 3
factors = { "economics.spend_per_visit" = [30.0, 50.0], "workforce.n_employees" = [8, 12], "links.satisfaction_from_internal" = [0.5, 1.5] }
groups = { "money" = ["economics.spend_per_visit"], "people" = ["workforce.n_employees", "links.satisfaction_from_internal"] }
"""

SELECT = """
[base]
preset = "workshop"

[experiment]
horizon = 6
warmup = 1
seed = 5

[scenarios.today]
description = "As today"

[scenarios.dearer]
description = "Visits cost the customer 50% more"
changes = { "economics.spend_per_visit" = 60.0 }

[scenarios.cheaper]
changes = { "economics.spend_per_visit" = 30.0 }

[selection]
kpi = "profit"
delta = 2000.0
alpha = 0.1
n0 = 4
"""


def _write(tmp_path, text, name="study.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _text(page: Path) -> str:
    """The page's visible words, entities decoded, whitespace collapsed."""
    body = re.sub(r"<style>.*?</style>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def test_morris_file_writes_the_indices_of_a_direct_call(tmp_path, capsys):
    from spchain.experiments.sensitivity import SimulationModel, morris
    from spchain.experiments.store import SensitivityStore

    out = tmp_path / "levers"
    assert main(["sensitivity", str(_write(tmp_path, MORRIS)), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    direct = morris(SimulationModel(preset("workshop"), kpi="profit", horizon=6, start=1, seed=3), FACTORS,
                    n_trajectories=3, num_levels=4, n_replications=2, seed=3)
    rows = {r["factor"]: r for r in _rows(out / "indices.csv")}
    assert list(rows) == direct.names
    for i, name in enumerate(direct.names):
        for key in ("mu", "mu_star", "mu_star_conf", "sigma"):
            assert float(rows[name][key]) == getattr(direct, key)[i], (name, key)
        assert (rows[name]["window_start"], rows[name]["window_end"]) == ("1", "6")  # weeks after the warm-up
    assert direct.summary() in printed
    # the price moves profit most: it is first on the page and in the findings
    text = _text(out / "report.html")
    assert direct.ranking()[0] == "economics.spend_per_visit"
    findings = text[text.index("At a glance Which"):text.index("Indices factor")]
    positions = [findings.index(name) for name in direct.ranking()]
    assert positions == sorted(positions)
    for suffix in ("png", "svg"):
        assert (out / "charts" / f"morris.{suffix}").stat().st_size > 1000
    page = (out / "report.html").read_text(encoding="utf-8")  # self-contained: nothing to fetch, no scripts
    assert "<script" not in page and not re.search(r'(src|href)="(https?:)?//', page)
    assert 'src="data:image/png;base64,' in page
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["n_runs"] == direct.n_runs == 3 * 4 * 2
    assert manifest["sensitivity"]["factors"]["workforce.n_employees"] == [8, 12]
    with SensitivityStore(out / "sensitivity.sqlite") as db:  # a point Morris visits twice is stored once
        reps = {}
        for point, r, _, _, _, _ in db.outputs():
            reps.setdefault(point, set()).add(r)
        assert 0 < len(db) <= direct.n_runs and all(r == {0, 1} for r in reps.values())


def test_sensitivity_resumes_from_its_store_and_refuses_to_overwrite_it(tmp_path, capsys):
    from spchain.experiments.store import SensitivityStore

    path, out = _write(tmp_path, MORRIS), tmp_path / "levers"
    assert main(["sensitivity", str(path), "--out", str(out)]) == 0
    first = (out / "indices.csv").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["sensitivity", str(path), "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    with SensitivityStore(out / "sensitivity.sqlite") as db:
        n_before, sessions = len(db), len(db.manifest()["sessions"])
    assert main(["sensitivity", str(path), "--out", str(out), "--resume"]) == 0
    assert (out / "indices.csv").read_text(encoding="utf-8") == first
    with SensitivityStore(out / "sensitivity.sqlite") as db:
        assert len(db) == n_before  # nothing was simulated again
        last = db.manifest()["sessions"][-1]
        assert len(db.manifest()["sessions"]) == sessions + 1
        assert last.get("n_simulated") == 0 and last.get("n_reused") == 3 * 4 * 2  # every run read back
    # the same folder with another base is another definition: refused before anything is written
    other = _write(tmp_path, MORRIS.replace('preset = "workshop"', 'preset = "workshop"\nparameters = '
                                                                  '{ "economics.discount_rate" = 0.05 }'), "b.toml")
    capsys.readouterr()
    assert main(["sensitivity", str(other), "--out", str(out), "--resume"]) == 2
    assert "holds another" in capsys.readouterr().err


def test_an_interrupted_analysis_keeps_its_runs_and_says_how_to_resume(tmp_path, capsys, monkeypatch):
    import spchain.experiments.sensitivity as sa
    from spchain.experiments.store import SensitivityStore

    original, done = sa._run_point, []

    def stopped_after_five(task):  # Ctrl-C during the sixth run
        if len(done) == 5:
            raise KeyboardInterrupt
        done.append(task)
        return original(task)

    monkeypatch.setattr(sa, "_run_point", stopped_after_five)
    path, out = _write(tmp_path, MORRIS), tmp_path / "levers"
    assert main(["sensitivity", str(path), "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "interrupted: 5 runs are kept" in err and "--resume" in err
    with SensitivityStore(out / "sensitivity.sqlite") as db:
        assert len(db) == 5
    assert not (out / "report.html").exists()
    monkeypatch.undo()
    assert main(["sensitivity", str(path), "--out", str(out), "--resume"]) == 0
    with SensitivityStore(out / "sensitivity.sqlite") as db:
        last = db.manifest()["sessions"][-1]
        assert last["n_reused"] >= 5 and last["n_reused"] + last["n_simulated"] == 3 * 4 * 2


def test_sobol_file_with_groups_and_windows_matches_a_direct_call(tmp_path):
    from spchain.experiments.sensitivity import SimulationModel, sobol

    out = tmp_path / "sobol"
    assert main(["sensitivity", str(_write(tmp_path, SOBOL)), "--out", str(out)]) == 0
    groups = {"money": ["economics.spend_per_visit"],
              "people": ["workforce.n_employees", "links.satisfaction_from_internal"]}
    direct = sobol(SimulationModel(preset("workshop"), kpi="revenue", horizon=6, seed=11, window=3), FACTORS,
                   n=8, n_replications=2, groups=groups, seed=11, n_bootstrap=40)
    rows = _rows(out / "indices.csv")
    assert [(r["factor"], r["window_start"], r["window_end"]) for r in rows] == [
        ("money", "0", "3"), ("money", "3", "6"), ("people", "0", "3"), ("people", "3", "6")]
    ci = direct.conf_int(0.1)  # [report] level = 0.9
    for r in rows:
        i, j = direct.names.index(r["factor"]), int(r["window_start"]) // 3
        assert float(r["first_order"]) == direct.first_order[i, j]
        assert float(r["total_order"]) == direct.total_order[i, j]
        assert float(r["total_order_low"]) == pytest.approx(ci["total_order"][i, j, 0], rel=1e-12)
        assert float(r["first_order_high"]) == pytest.approx(ci["first_order"][i, j, 1], rel=1e-12)
        assert float(r["first_order_low"]) < float(r["first_order_high"])
    charts = {p.name for p in (out / "charts").iterdir()}
    assert {"sobol.png", "sobol.svg", "sobol-total-over-time.png", "sobol-first-over-time.svg"} <= charts
    text = _text(out / "report.html")
    assert "Over 2 windows of weeks" in text and "money" in text and "people" in text


def test_select_chooses_the_clearly_better_plan_and_states_the_guarantee(tmp_path, capsys):
    from spchain.experiments.selection import select_best

    out = tmp_path / "best"
    assert main(["select", str(_write(tmp_path, SELECT)), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    base = preset("workshop")
    direct = select_best(base, [Scenario("today"), Scenario("dearer", levers={"economics.spend_per_visit": 60.0}),
                                Scenario("cheaper", levers={"economics.spend_per_visit": 30.0})],
                         kpi="profit", delta=2000.0, alpha=0.1, n0=4, horizon=6, warmup=1, seed=5)
    assert direct.best == "dearer"  # 50% more per visit: far more profit over six weeks
    rows = {r["scenario"]: r for r in _rows(out / "selection.csv")}
    assert [n for n, r in rows.items() if r["chosen"] == "true"] == ["dearer"]
    for i, name in enumerate(direct.names):
        assert float(rows[name]["mean"]) == direct.means[i]
        assert int(rows[name]["n_replications"]) == direct.n_replications[i]
    assert rows["cheaper"]["eliminated_after"] != ""
    assert " ".join(direct.guarantee.split()) in _text(out / "report.html")
    assert direct.guarantee in printed
    runs = _rows(out / "runs.csv")
    assert len(runs) == direct.n_runs
    seeds = {(r["replication"], r["seed"]) for r in runs}
    assert len(seeds) == max(direct.n_replications)  # replication r has one seed in every scenario
    assert {p.name for p in (out / "charts").iterdir()} >= {"selection-elimination.png",
                                                            "selection-allocation.svg"}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["result"]["best"] == "dearer" and manifest["seed"] == 5


def test_select_on_two_worker_processes_gives_the_serial_numbers(tmp_path):
    path = _write(tmp_path, SELECT)
    assert main(["select", str(path), "--out", str(tmp_path / "serial")]) == 0
    assert main(["select", str(path), "--out", str(tmp_path / "pool"), "--workers", "2"]) == 0
    for name in ("selection.csv", "runs.csv"):
        assert (tmp_path / "pool" / name).read_bytes() == (tmp_path / "serial" / name).read_bytes()
    manifest = json.loads((tmp_path / "pool" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["executor"] == "2 processes"


def test_select_with_ocba_spends_its_budget(tmp_path):
    text = SELECT.replace("n0 = 4", 'n0 = 3\nprocedure = "ocba"\nbudget = 15')
    out = tmp_path / "ocba"
    assert main(["select", str(_write(tmp_path, text)), "--out", str(out)]) == 0
    rows = _rows(out / "selection.csv")
    assert sum(int(r["n_replications"]) for r in rows) == 15
    assert [r["scenario"] for r in rows if r["chosen"] == "true"] == ["dearer"]
    assert "it gives no guarantee" in _text(out / "report.html")


# ------------------------------------------------------------------ the file
def test_the_sections_are_read_with_their_defaults(tmp_path):
    plan = load_scenario_file(_write(tmp_path, MORRIS))
    s = plan.sensitivity
    assert (s.method, s.kpi, s.n_trajectories, s.num_levels, s.n_replications, s.seed) == ("morris", "profit", 3, 4,
                                                                                          2, 3)
    assert s.factors == FACTORS and s.groups is None and plan.selection is None
    assert s.n_points() == 3 * 4 and s.max_runs() == 24
    planned = load_scenario_file(_write(tmp_path, MORRIS.replace("replications = 2\n", ""), "p.toml")).sensitivity
    assert planned.n_replications is None and planned.max_runs() == 12 * 64 + 10 + 2 * 8
    sel = load_scenario_file(_write(tmp_path, SELECT.replace('kpi = "profit"', 'kpi = "costs"'), "c.toml")).selection
    assert sel.direction == "min"  # less is better for costs
    assert sel.scenarios == ("today", "dearer", "cheaper") and sel.procedure == "kn++" and sel.budget is None
    assert plan.experiment.names == ["baseline"]  # a sensitivity file needs no scenarios


BAD = [
    ("[sensitivity]\nmethod = \"morris\"\ntrajectory = 4\nfactors = { \"workforce.n_employees\" = [8, 12] }",
     "sensitivity.trajectory", "did you mean 'trajectories'"),
    ("[sensitivity]\nmethod = \"sobel\"\nfactors = { \"workforce.n_employees\" = [8, 12] }",
     "sensitivity.method", "'sobol'"),
    ("[sensitivity]\nmethod = \"sobol\"\nn = 100\nfactors = { \"workforce.n_employees\" = [8, 12] }",
     "sensitivity.n", "power of 2"),
    ("[sensitivity]\nmethod = \"morris\"\nfactors = { \"workforce.n_employes\" = [8, 12] }",
     'sensitivity.factors."workforce.n_employes"', "n_employees"),
    ("[sensitivity]\nmethod = \"morris\"\nfactors = { \"workforce.n_employees\" = [12, 8] }",
     'sensitivity.factors."workforce.n_employees"', "low < high"),
    ("[sensitivity]\nmethod = \"morris\"\nfactors = { \"workforce.n_employees\" = [8, 12], "
     "\"economics.spend_per_visit\" = [30.0, 50.0] }\ngroups = { a = [\"workforce.n_employees\"] }",
     "sensitivity.groups", "in no group"),
    ("[sensitivity]\nmethod = \"morris\"\nreplications = \"lots\"\nfactors = { \"workforce.n_employees\" = [8, 12] }",
     "sensitivity.replications", '"plan"'),
    ("[sensitivity]\nmethod = \"morris\"\nwindow = 60\nfactors = { \"workforce.n_employees\" = [8, 12] }",
     "sensitivity.window", "<= 6"),
    ("[scenarios.a]\n[scenarios.b]\n[selection]\nkpi = \"profit\"", "selection.delta", "missing"),
    ("[scenarios.a]\n[scenarios.b]\n[selection]\ndelta = 1.0\nprocedure = \"ocba\"", "selection.budget",
     "needs a budget"),
    ("[scenarios.a]\n[scenarios.b]\n[selection]\ndelta = 1.0\nscenarios = [\"a\", \"c\"]", "selection.scenarios[1]",
     "unknown scenario 'c'"),
    ("[scenarios.a]\n[scenarios.b]\n[selection]\ndelta = 1.0\nalpha = 0.6", "selection.alpha", "1 - 1/k"),
    ("[scenarios.a]\n[scenarios.b]\n[selection]\ndelta = 1.0\nkpi = \"utilisation\"", "selection.direction",
     '"max" or "min"'),
]


@pytest.mark.parametrize("section, key, words", BAD, ids=[b[1] for b in BAD])
def test_bad_keys_are_refused_with_exit_2_before_any_folder_is_made(tmp_path, capsys, section, key, words):
    command = "select" if "[selection]" in section else "sensitivity"
    path = _write(tmp_path, f"[base]\npreset = \"workshop\"\n\n[experiment]\nhorizon = 8\nwarmup = 2\n\n{section}\n")
    out = tmp_path / "never"
    assert main([command, str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f": {key}: " in err and words in err, err
    assert not out.exists()
    with pytest.raises(ScenarioFileError) as info:  # the loader alone says the same
        load_scenario_file(path)
    assert info.value.key == key


def test_a_file_without_the_section_is_refused(tmp_path, capsys):
    path = _write(tmp_path, "[base]\npreset = \"workshop\"\n\n[scenarios.a]\n[scenarios.b]\n")
    assert main(["sensitivity", str(path), "--out", str(tmp_path / "x")]) == 2
    assert "no [sensitivity] section" in capsys.readouterr().err
    assert main(["select", str(path), "--out", str(tmp_path / "x")]) == 2
    assert "no [selection] section" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_study_over_the_run_budget_is_refused_before_anything_is_written(tmp_path, capsys):
    big = MORRIS.replace("horizon = 6", "horizon = 520").replace("trajectories = 3", "trajectories = 2000") \
        .replace("replications = 2", "replications = 50")
    out = tmp_path / "never"
    assert main(["sensitivity", str(_write(tmp_path, big)), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "CPU hours" in err and "400,000 runs of 520 weeks" in err and "--allow-long" in err
    assert not out.exists()
    assert main(["select", str(_write(tmp_path, SELECT.replace("n0 = 4", "n0 = 2000"), "s.toml")), "--out",
                 str(out), "--max-hours", "0.001"]) == 2
    assert "first stage" in capsys.readouterr().err and not out.exists()


def test_select_refuses_a_folder_of_a_scenario_run(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "runs.sqlite").write_bytes(b"")
    assert main(["select", str(_write(tmp_path, SELECT)), "--out", str(out)]) == 2
    assert "choose another --out" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["runs.sqlite"]


# ---------------------------------------------------------------- examples
def test_the_selection_example_prints_what_the_howto_page_shows(tmp_path, capsys):
    """examples/choose_best.toml is docs/howto/choose_best.md's Python example as a file: same choice, same numbers."""
    page = (ROOT / "docs" / "howto" / "choose_best.md").read_text(encoding="utf-8")
    [shown] = re.findall(r"```text\n(.*?)```", page, flags=re.S)
    out = tmp_path / "best"
    assert main(["select", str(ROOT / "examples" / "choose_best.toml"), "--out", str(out)]) == 0
    assert shown.strip() in capsys.readouterr().out
    assert [r["scenario"] for r in _rows(out / "selection.csv") if r["chosen"] == "true"] == ["spend 50"]


@pytest.mark.slow
def test_the_sensitivity_example_runs(tmp_path, capsys):
    out = tmp_path / "levers"
    assert main(["sensitivity", str(ROOT / "examples" / "which_levers.toml"), "--out", str(out)]) == 0
    rows = _rows(out / "indices.csv")
    assert len(rows) == 5 and (out / "report.html").is_file()
    assert "Which levers move the workshop's profit?" in _text(out / "report.html")
