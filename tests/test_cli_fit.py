"""``spchain fit --estimator / --isq-smoothing / --stable-staff``: the options reach fit_links, the output
names the estimator's known bias, and bad values fail before any work (issue 11, items 1-3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

pytest.importorskip("linearmodels")

CSV_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "branches.csv"
BRANCHES = ["--unit", "branch", "--period", "week", "--preset", "workshop",
            "--column", "employee_satisfaction=engagement", "--scale", "engagement=0:100",
            "--column", "customer_satisfaction=csat", "--scale", "csat=csat"]


def spchain(*args, cwd, timeout=180):
    """Run ``python -m spchain ARGS`` and return the completed process."""
    return subprocess.run([sys.executable, "-m", "spchain", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def _written(path):
    return tomllib.loads(path.read_text(encoding="utf-8"))["base"]["parameters"]


def test_estimator_and_isq_smoothing_are_passed_to_fit_links_and_their_bias_is_named(tmp_path):
    from spchain import preset
    from spchain.fitting.estimation import fit_links
    from spchain.panel import read_panel

    out = spchain("fit", CSV_EXAMPLE, *BRANCHES, "--estimator", "anderson-hsiao", "--isq-smoothing", "0.3",
                  "--out", "ah.toml", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    fit = fit_links(read_panel(CSV_EXAMPLE, unit="branch", period="week"), estimator="anderson-hsiao",
                    isq_smoothing=0.3, columns={"employee_satisfaction": "engagement", "customer_satisfaction": "csat"},
                    scales={"engagement": (0, 100), "csat": "csat"}, params=preset("workshop"))
    kept, why = fit.select_overrides()
    written = _written(tmp_path / "ah.toml")
    assert set(written) == set(kept)
    for path, value in kept.items():
        assert written[path] == pytest.approx(value, rel=1e-5), path
    text = (tmp_path / "ah.toml").read_text(encoding="utf-8")
    assert "first-difference 2SLS (Anderson-Hsiao)" in text and "ISQ smoothed (weight 0.3)" in text
    for phrase in ("the Anderson-Hsiao estimator (--estimator) has no Nickell bias",
                   "consistent only when the equations' errors are not serially correlated",
                   "ISQ smoothed with weight 0.3 (--isq-smoothing) is still an imperfect measure",
                   "--stable-staff removes both", "not proven causes"):
        assert phrase in out.stdout and phrase in text, phrase
    assert "Nickell bias of about" not in out.stdout  # that is the within estimator's caveat
    # the default estimator's ISQ caveat points to the option
    plain = spchain("fit", CSV_EXAMPLE, *BRANCHES, "--pooled", "--out", "plain.toml", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert "--isq-smoothing W corrects part of it" in plain.stdout
    assert "Anderson-Hsiao" not in plain.stdout


def test_stable_staff_with_the_staffs_perceived_isq_writes_the_true_satisfaction_links(tmp_path):
    """A model run's panel with the staff's mean perceived ISQ: the fit writes the delay and the
    satisfaction links the run was simulated with."""
    from spchain import preset, simulate

    run = simulate(preset("bank_branches"), horizon=30, seed=3, record=("staff",))
    run.to_panel(start=4).to_csv(tmp_path / "panel.csv")
    out = spchain("fit", "panel.csv", "--preset", "bank_branches", "--equations", "employee_satisfaction",
                  "--column", "internal_service_quality=perceived_isq", "--stable-staff", "--out", "exact.toml",
                  cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    written = _written(tmp_path / "exact.toml")
    p = run.params
    for path in ("workforce.satisfaction_delay_weeks", "links.satisfaction_from_internal",
                 "links.satisfaction_from_customers", "links.satisfaction_from_workload"):
        assert written[path] == pytest.approx(p.get(path), rel=1e-5), path
    assert "without a quit or a hire" in (tmp_path / "exact.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("args, message", [
    (["--isq-smoothing", "0"], "must be a weight in (0, 1]"),
    (["--isq-smoothing", "1.5"], "must be a weight in (0, 1]"),
    (["--isq-smoothing", "heavy"], "must be a weight in (0, 1]"),
    (["--estimator", "anderson_hsiao"], "invalid choice: 'anderson_hsiao'"),
    (["--estimator", "anderson-hsiao", "--pooled"], "drop --pooled"),
])
def test_bad_estimator_options_fail_with_one_clear_line(tmp_path, args, message):
    out = spchain("fit", CSV_EXAMPLE, *BRANCHES, *args, "--out", "x.toml", cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr
    assert not (tmp_path / "x.toml").exists()
    if "--pooled" in args:
        assert out.stderr.startswith("spchain: error: ") and len(out.stderr.strip().splitlines()) == 1


def test_the_options_are_in_the_help(tmp_path):
    text = spchain("fit", "--help", cwd=tmp_path).stdout
    for option in ("--estimator", "{ols,anderson-hsiao}", "--isq-smoothing", "--stable-staff"):
        assert option in text, option
