"""``docs/architecture.md`` agrees with the package and with the import rules.

The page must name every subpackage and module of ``spchain/`` (so a new
module without a line there fails), name nothing that does not exist, state
the layers in the order and with the allowed imports of
``tests/test_imports.py``'s ``MAY_IMPORT``, name what that test checks
(Matplotlib's layer, the packages never imported at module level, a
worker's modules, the lazy packages), show the diagram drawn by
``docs/architecture_diagram.py``, and make only true claims in its recipes
(the files it names exist; the behaviour it describes is checked here).
The API reference (``docs/api.md``) follows the same layers.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

from test_imports import MAY_IMPORT, MODULES, NOT_AT_TOP, ONLY_IN, WORKER_MODULES, imports, layer

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"
DIAGRAM = ROOT / "docs" / "_static" / "architecture.png"
DOTTED = re.compile(r"(?<![\w./-])spchain(?:\.[A-Za-z_]\w*)+")


@pytest.fixture(scope="module")
def page() -> str:
    return PAGE.read_text(encoding="utf-8")


def names(text: str, name: str) -> bool:
    """Whether ``text`` names ``name`` itself (``spchain.apps.webapp``, not only ``spchain.apps.webapp.app``)."""
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w|\.\w)", text) is not None


def layer_table(text: str) -> list[tuple[str, str, set[str]]]:
    """(layer, package, may import) per row of the table headed ``| layer | package | owns | may import |``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.replace(" ", "") == "|layer|package|owns|mayimport|")
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows.append((cells[0], cells[1].split()[0].strip("`"), {c.strip() for c in cells[3].split(",")}))
    return rows


def test_the_name_finder_tells_a_package_from_its_modules():
    assert names("see `spchain.apps.webapp.app` and `spchain.apps.webapp`", "spchain.apps.webapp")
    assert not names("see `spchain.apps.webapp.app`", "spchain.apps.webapp")
    assert not names("spchain.apps.webapp_old", "spchain.apps.webapp")
    assert DOTTED.findall("`spchain.lazy.MOVED`, spchain/links.py, spchain[workshop]") == ["spchain.lazy.MOVED"]


def test_the_page_names_every_subpackage_and_module(page):
    """Walks ``spchain/``: a module added without a line on the page fails here."""
    assert len(MODULES) > 40, "the walk of spchain/ found too few modules"
    missing = [module for module in MODULES if not names(page, module)]
    assert not missing, f"docs/architecture.md does not name {missing}"


def test_every_spchain_name_on_the_page_exists(page):
    """Modules import; attributes exist; old flat names are the ones ``spchain.lazy.MOVED`` lists."""
    from spchain.lazy import MOVED

    wrong = []
    for dotted in sorted(set(DOTTED.findall(page))):
        parts = dotted.split(".")
        if parts[1] in MOVED and dotted not in MODULES:
            continue  # an old flat name, e.g. spchain.plotting: test_imports.py imports them
        for cut in range(len(parts), 0, -1):
            module = ".".join(parts[:cut])
            if module in MODULES:
                break
        if cut == len(parts):
            continue  # a module: the walk of spchain/ found it (importing ``spchain.__main__`` would run the CLI)
        value = importlib.import_module(module)
        for attribute in parts[cut:]:
            if not hasattr(value, attribute):
                wrong.append(dotted)
                break
            value = getattr(value, attribute)
    assert not wrong, f"docs/architecture.md names what does not exist: {wrong}"


def test_the_layer_order_and_allowed_imports_are_the_import_tests(page):
    order = re.search(r"\*\*(core(?: < \w+)+)\*\*", page).group(1).split(" < ")
    rows = layer_table(page)
    assert order == [name for name, _, _ in rows] == ["core", "engine", "experiments", "fitting", "viz", "apps"]
    assert set(order) == set(MAY_IMPORT)
    for position, (name, package, allowed) in enumerate(rows):
        assert allowed == MAY_IMPORT[name], f"{name}: the page says {allowed}, tests/test_imports.py {MAY_IMPORT[name]}"
        assert allowed <= set(order[:position + 1]), f"{name} may import a layer above it"
        assert package == ("spchain" if name == "core" else f"spchain.{name}")
        assert package in MODULES
    # the one exception to "every lower layer" is stated in words
    skipped = {name: set(order[:k]) - MAY_IMPORT[name] for k, name in enumerate(order)}
    assert {name: lower for name, lower in skipped.items() if lower} == {"viz": {"engine"}}
    assert "viz may import core, experiments and fitting but not engine" in " ".join(page.split())
    assert layer("spchain.__main__") == "apps" and "`spchain.__main__` counts as apps" in page


def test_the_rules_name_what_the_import_test_checks(page):
    text = " ".join(page.split())
    assert ONLY_IN == {"matplotlib": {"viz"}} and "**Matplotlib only in `spchain.viz`**" in text
    assert set(NOT_AT_TOP) == {"pandas", "matplotlib"} and "**pandas and Matplotlib never at module level**" in text
    rule = text[text.index("**Light imports.**"):text.index("**Lazy package namespaces.**")]
    assert [module for module in WORKER_MODULES if not names(rule, module)] == []
    lazy = {module for module in MODULES if MODULES[module].name == "__init__.py"
            and getattr(importlib.import_module(module), "__getattr__", None) is not None
            and importlib.import_module(module).__getattr__.__module__ == "spchain.lazy"}
    rule = text[text.index("**Lazy package namespaces.**"):text.index("**Old names keep working for now.**")]
    stated = set(DOTTED.findall(rule)) | ({"spchain"} if "`spchain`" in rule else set())
    assert lazy == stated - {"spchain.lazy.attach", "spchain.simulate", "spchain.engine.run", "spchain.lazy"}
    for package in lazy:  # "import nothing but spchain.lazy"
        found = {target for _, target, _, _ in imports(package, MODULES[package].read_text(encoding="utf-8"))}
        assert found == {"spchain.lazy"}, (package, found)


def test_the_diagram_exists_is_shown_and_its_script_draws_it(page, tmp_path):
    assert DIAGRAM.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](_static/architecture.png)" in page
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        diagram = importlib.import_module("architecture_diagram")
    finally:
        sys.path.remove(str(ROOT / "docs"))
    assert [name for name, _, _ in diagram.LAYERS][::-1] == [name for name, _, _ in layer_table(page)]
    from PIL import Image

    with Image.open(DIAGRAM) as image:
        shown = image.text.get("Description")
    assert shown == diagram.contents(), ("docs/_static/architecture.png shows other modules or rules than the "
                                         "package has: run python docs/architecture_diagram.py")
    drawn = diagram.draw(tmp_path / "architecture.png")
    with Image.open(drawn) as image:
        assert image.text["Description"] == diagram.contents()
        assert image.size[0] > 1000


def test_every_file_the_page_names_exists(page):
    paths = set(re.findall(r"`((?:spchain|tests|docs|benchmarks)/[\w./]*)`", page)) | {"pyproject.toml"}
    assert "spchain/links.py" in paths and "tests/test_golden.py" in paths
    missing = sorted(path for path in paths if not (ROOT / path).exists())
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_loyalty_forms_recipe():
    """Every form is neutral at strength 0, and the four form fields accept every name of the tuple."""
    from spchain import Params, ParamError
    from spchain.links import LOYALTY_FORMS, loyalty_response

    for form in LOYALTY_FORMS:
        assert float(loyalty_response(0.9, 0.7, 0.0, form)) == 1.0
        for field in ("visit_form", "spend_form", "churn_form", "referral_form"):
            assert getattr(Params().override({f"customers.{field}": form}).customers, field) == form
    with pytest.raises(ParamError, match="visit_form"):
        Params().override({"customers.visit_form": "cubic"})


def test_kpi_recipe():
    """Every KPI is a field or a ratio of fields the engine records."""
    from spchain.metrics import FIELD_INDEX, FIELDS, METRICS, STOCK_FIELDS

    def fields(part):
        return set() if part is None else {part} if isinstance(part, str) else set(part)

    for name, metric in METRICS.items():
        assert fields(metric.numerator) | fields(metric.denominator) <= set(FIELDS), name
    assert STOCK_FIELDS <= set(FIELDS)
    assert [FIELD_INDEX[name] for name in FIELDS] == list(range(len(FIELDS)))


def test_estimator_recipe():
    """``fit_links`` refuses an estimator not in ESTIMATORS before it reads the data; ``plot_fit`` an unknown kind."""
    from spchain import ParamError, fit_links
    from spchain.fitting.estimation import ESTIMATORS
    from spchain.fitting.result import FitResult, build
    from spchain.viz.fitplots import plot_fit

    assert {"ols", "anderson-hsiao"} <= set(ESTIMATORS)
    with pytest.raises(ParamError, match="estimator"):
        fit_links(None, estimator="lasso")
    fit = build("survival", ["a"], [1.0], [[0.01]], method="hand-built")
    assert isinstance(fit, FitResult)
    with pytest.raises(ValueError, match="'survival'"):
        plot_fit(fit)


def test_front_end_recipe(capsys):
    """Nothing imports apps; the workshop server names its extra; ``spchain workshop`` is added from its module."""
    import inspect

    from spchain.apps import cli, webapp
    from spchain.apps.webapp import command

    assert all("apps" not in allowed for name, allowed in MAY_IMPORT.items() if name != "apps")
    assert 'pip install "spchain[workshop]"' in inspect.getsource(webapp.serve)
    assert {"add_parser", "run_command"} <= set(command.__all__)
    source = inspect.getsource(cli)
    assert "from .webapp.command import add_parser" in source and "from .webapp.command import run_command" in source
    with pytest.raises(SystemExit) as done:
        cli.main(["workshop", "--help"])
    assert done.value.code == 0 and "serve" in capsys.readouterr().out


def test_the_api_reference_follows_the_layers():
    """``docs/api.md``: a section per layer in the page's order, modules under their own layer, every top-level name."""
    import spchain

    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    sections = re.findall(r"^## (\w+): `([\w.]+)`", text, flags=re.M)
    assert [name for name, _ in sections] == ["core", "engine", "experiments", "fitting", "viz", "apps"]
    documented = re.findall(r"^\.\. automodule:: ([\w.]+)", text, flags=re.M)
    assert len(documented) == len(set(documented)), "a module documented twice"
    for module in documented:
        assert module in MODULES, module
    starts = [text.index(f"## {name}: ") for name, _ in sections] + [len(text)]
    for (name, package), start, end in zip(sections, starts, starts[1:]):
        below = re.findall(r"^\.\. automodule:: ([\w.]+)", text[start:end], flags=re.M)
        assert below and all(layer(module) == name for module in below), (name, below)
    table = text[:starts[0]]
    assert [name for name in spchain.__all__ if name != "__version__" and f".{name}`" not in table] == []
