"""The documentation agrees with the code.

``docs/model.md`` must name every parameter, KPI and chain link; its
generated tables must be current (``docs/gen_params.py --check``); every
"`path` (default value)" in its text must match the code; the tables of
links and KPIs must carry the code's defaults, labels and units; and every
relative link in ``README.md`` and ``docs/*.md`` must point at a file that
exists.
"""

from __future__ import annotations

import dataclasses
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from spchain.metrics import METRICS
from spchain.params import Links, ParamError, Params, describe

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MODEL = DOCS / "model.md"


@pytest.fixture(scope="module")
def model_text():
    assert MODEL.is_file(), f"{MODEL} is missing"
    return MODEL.read_text(encoding="utf-8")


# ----------------------------------------------------------- coverage
def test_every_parameter_path_is_documented(model_text):
    paths = [row["path"] for row in describe()]
    assert paths, "describe() returned no parameters"
    missing = [p for p in paths if f"`{p}`" not in model_text]
    assert not missing, f"parameters not in docs/model.md: {missing}"


def test_every_kpi_is_documented(model_text):
    missing = [name for name in METRICS if f"`{name}`" not in model_text]
    assert not missing, f"KPIs not in docs/model.md: {missing}"


def test_every_recorded_field_is_documented(model_text):
    from spchain.metrics import DEPARTMENT_FIELDS, FIELDS

    missing = [name for name in FIELDS + DEPARTMENT_FIELDS if f"`{name}`" not in model_text]
    assert not missing, f"recorded fields not in docs/model.md: {missing}"


def test_every_link_is_documented(model_text):
    names = [f.name for f in dataclasses.fields(Links)]
    missing = [n for n in names if f"`{n}`" not in model_text and f"`links.{n}`" not in model_text]
    assert not missing, f"Links fields not in docs/model.md: {missing}"


# ------------------------------------------------------ generated tables
def test_generated_tables_are_current():
    proc = subprocess.run([sys.executable, str(DOCS / "gen_params.py"), "--check", str(MODEL)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_check_detects_a_stale_table(tmp_path, model_text):
    """The --check mode really fails: a doctored copy is reported stale."""
    stale = model_text.replace("| `organisation.n_units` | 1 |", "| `organisation.n_units` | 99 |", 1)
    assert stale != model_text, "the parameter table has no organisation.n_units row"
    copy = tmp_path / "model.md"
    copy.write_text(stale, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(DOCS / "gen_params.py"), "--check", str(copy)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "params" in proc.stderr


def test_generator_prints_one_row_per_parameter():
    proc = subprocess.run([sys.executable, str(DOCS / "gen_params.py")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| `")]
    assert len(rows) == len(describe())


# ------------------------------------------------- defaults in the prose
_DEFAULT = re.compile(r"`((?:organisation|internal|workforce|customers|economics|links|measurement)"
                      r"\.[A-Za-z0-9_.<>]+)`\s+\(default\s+([^)]+)\)")


def _code_default(path):
    if "<name>" in path:
        rows = {row["path"]: row["default"] for row in describe()}
        return rows[path]
    return Params().get(path)


def test_defaults_quoted_in_the_text_match_the_code(model_text):
    found = _DEFAULT.findall(model_text)
    assert len(found) > 50, "expected the text to quote defaults as `path` (default value)"
    wrong = []
    for path, quoted in found:
        try:
            actual = _code_default(path)
        except (ParamError, KeyError) as exc:
            wrong.append(f"{path}: not a parameter ({exc})")
            continue
        try:
            value = float(quoted.replace(",", ""))
        except ValueError:
            wrong.append(f"{path}: default {quoted!r} is not a number")
            continue
        if isinstance(actual, (dict, tuple, list)) or not math.isclose(value, float(actual), rel_tol=1e-12):
            wrong.append(f"{path}: docs say {quoted}, code says {actual!r}")
    assert not wrong, "\n".join(wrong)


def _table_rows(text, first_cell):
    """Cells of the Markdown table rows whose first cell is `first_cell`."""
    out = []
    for line in text.splitlines():
        if line.startswith(f"| `{first_cell}` |"):
            out.append([c.strip() for c in line.strip().strip("|").split("|")])
    return out


def test_links_table_has_the_code_defaults(model_text):
    """Row per Links field: its function exists in spchain.links and its default is the code's."""
    import spchain.links

    defaults = Links()
    for f in dataclasses.fields(Links):
        rows = _table_rows(model_text, f.name)
        assert rows, f"no row for link {f.name!r} in the links table"
        function = rows[0][1].strip("`")
        assert callable(getattr(spchain.links, function, None)), (f.name, function)
        assert float(rows[0][3]) == getattr(defaults, f.name), (f.name, rows[0][3], getattr(defaults, f.name))


def test_kpi_table_has_the_registry_labels_and_units(model_text):
    for name, m in METRICS.items():
        rows = _table_rows(model_text, name)
        rows = [r for r in rows if len(r) >= 4 and r[1] == m.label]
        assert rows, f"no KPI row for {name!r} with label {m.label!r}"
        assert rows[0][2] == m.unit, (name, rows[0][2], m.unit)
        for field in m.fields:
            assert field in rows[0][3], (name, field, rows[0][3])


# ----------------------------------------------------------------- links
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _strip_code(text):
    text = re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _relative_links(path):
    for target in _LINK.findall(_strip_code(path.read_text(encoding="utf-8"))):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("#"):
            continue  # http:, https:, mailto: ... and same-page anchors
        yield target


def _markdown_files():
    return [ROOT / "README.md"] + sorted(DOCS.glob("*.md"))


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(path):
    assert path.is_file()
    broken = []
    for target in _relative_links(path):
        file_part = target.split("#", 1)[0].split("?", 1)[0]
        if not file_part:
            continue
        if not (path.parent / file_part).exists():
            broken.append(target)
    assert not broken, f"{path.relative_to(ROOT)}: broken relative links {broken}"


def test_the_link_checker_sees_links():
    """Guard against a regex that silently matches nothing."""
    assert "docs/model.md" in list(_relative_links(ROOT / "README.md"))
    assert "glossary.md" in list(_relative_links(MODEL))
