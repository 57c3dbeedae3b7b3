"""The package's layers as a test: who may import whom, no cycles, no private names across modules.

The layers, lowest first (``docs/architecture.md``):

* ``core``: the specification and records every layer shares
  (``spchain.params``, ``links``, ``metrics``, ``presets``, ``records``,
  ``result``, ``panel``, ``theory``, ``lazy``);
* ``engine``, ``experiments``, ``fitting``, ``viz``, ``apps``: the subpackages.

A module may import its own layer and the layers :data:`MAY_IMPORT` lists.
Imports inside functions count: a cycle dodged by a function-level import
is still a cycle.  The package ``__init__`` files export names lazily
(``spchain.lazy.attach``) and import nothing themselves.
"""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "spchain"

CORE = {"params", "links", "metrics", "presets", "records", "result", "panel", "theory", "lazy", "formatting"}
MAY_IMPORT = {
    "core": {"core"},
    "engine": {"core"},
    "experiments": {"core", "engine"},
    "fitting": {"core", "engine", "experiments"},
    "viz": {"core", "experiments", "fitting"},
    "apps": {"core", "engine", "experiments", "fitting", "viz"},
}
#: Third-party packages that only some layers may import (anywhere in a module).
ONLY_IN = {"matplotlib": {"viz"}}
#: Third-party packages no module imports at module level: a module that needs
#: them imports them where used, so ``import spchain`` and workers stay light.
NOT_AT_TOP = ("pandas", "matplotlib")
#: What a worker process of an experiment imports: none of SciPy, pandas or Matplotlib.
WORKER_MODULES = ("spchain.engine.run", "spchain.experiments.experiment", "spchain.experiments.store",
                  "spchain.experiments.analysis", "spchain.experiments.sensitivity")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in CORE:
        return "core"
    if parts[1] == "__main__":
        return "apps"
    return parts[1]


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(module: str, source: str):
    """(line, imported spchain module or third-party top name, name or None, at module level) per import."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(source)
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        at_top = id(node) in top_level
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None, at_top
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                full = f"{target}.{alias.name}"
                if full in MODULES:  # ``from . import plotting``: the submodule itself
                    yield node.lineno, full, None, at_top
                else:
                    yield node.lineno, target, alias.name, at_top


def graph():
    edges = {}
    for module, path in MODULES.items():
        for _, target, _, _ in imports(module, path.read_text(encoding="utf-8")):
            if target.split(".")[0] == "spchain" and target != module:
                while target not in MODULES:
                    target = target.rpartition(".")[0]
                edges.setdefault(module, set()).add(target)
    return edges


def test_every_module_imports_only_its_own_and_lower_layers():
    offences = []
    for module, targets in graph().items():
        if module == "spchain" or MODULES[module].name == "__init__.py" and module.count(".") == 1:
            continue
        for target in targets:
            if layer(target) != layer(module) and layer(target) not in MAY_IMPORT[layer(module)]:
                offences.append(f"{module} ({layer(module)}) imports {target} ({layer(target)})")
    assert not offences, "\n".join(sorted(offences))


def test_no_import_cycles():
    """Tarjan's strongly connected components of the module graph, function-level imports included."""
    edges = graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(MODULES):
        if v not in index:
            visit(v)
    assert not cycles, cycles


FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def scope_nodes(scope):
    """The nodes of one scope (a module or a function), without those of the functions inside it."""
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, FUNCTIONS):
            todo.extend(ast.iter_child_nodes(node))


def private_uses(module: str, source: str):
    """``from .x import _y`` and ``x._y`` where ``x`` is another spchain module bound by an import.

    Each function's imports bind names in that function only, so ``sp`` can be
    one module in one function and another elsewhere.
    """
    tree = ast.parse(source)
    for line, target, name, _ in imports(module, source):
        if target.startswith("spchain") and name is not None and name.startswith("_") \
                and not name.endswith("__"):
            yield f"{module}:{line} imports {target}.{name}"

    def bound_modules(scope):
        bound = {}
        for node in scope_nodes(scope):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    one = ast.ImportFrom(node.module, [alias], node.level) if isinstance(node, ast.ImportFrom) \
                        else ast.Import([alias])
                    for _, target, name, _ in imports(module, ast.unparse(one)):
                        if name is None and target.startswith("spchain") and target != module:
                            bound[alias.asname or alias.name.split(".")[0]] = target
        return bound

    module_bound = bound_modules(tree)
    scopes = [tree] + [node for node in ast.walk(tree) if isinstance(node, FUNCTIONS)]
    for scope in scopes:
        bound = module_bound if scope is tree else {**module_bound, **bound_modules(scope)}
        for node in scope_nodes(scope):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in bound and node.attr.startswith("_")
                    and not node.attr.endswith("__")):
                yield f"{module}:{node.lineno} uses {bound[node.value.id]}.{node.attr}"


def test_no_module_uses_a_private_name_of_another():
    offences = [o for m, p in MODULES.items() for o in private_uses(m, p.read_text(encoding="utf-8"))]
    assert not offences, "\n".join(offences)


def test_the_private_check_sees_both_forms():
    """The check can fail: a planted ``from .result import _fmt`` and ``sp._oat_factors``."""
    source = ("from ..result import _fmt\nfrom ..viz import plotting as sp\n"
              "from ..params import Params\nx = sp._oat_factors(1)\ny = sp.style\n")
    found = list(private_uses("spchain.apps.report", source))
    assert found == ["spchain.apps.report:1 imports spchain.result._fmt",
                     "spchain.apps.report:4 uses spchain.viz.plotting._oat_factors"]
    # each function's own imports: ``sp`` is plotting in one function and sensplots in the other
    source = ("def a():\n    from ..viz import plotting as sp\n    return sp._oat_factors\n"
              "def b():\n    from ..viz import sensplots as sp, style as st\n    return sp.plot_morris, st._private\n")
    assert list(private_uses("spchain.apps.report", source)) == [
        "spchain.apps.report:3 uses spchain.viz.plotting._oat_factors",
        "spchain.apps.report:6 uses spchain.viz.style._private"]


def test_third_party_packages_stay_in_their_layers():
    offences = set()
    for module, path in MODULES.items():
        for line, target, _, at_top in imports(module, path.read_text(encoding="utf-8")):
            top = target.split(".")[0]
            if top in ONLY_IN and layer(module) not in ONLY_IN[top]:
                offences.add(f"{module}:{line} imports {target} outside {sorted(ONLY_IN[top])}")
            if at_top and top in NOT_AT_TOP:
                offences.add(f"{module}:{line} imports {target} at module level")
    assert not offences, "\n".join(sorted(offences))


def test_the_layer_check_sees_an_upward_import():
    """The walk resolves relative imports to modules, so an engine module importing viz is caught."""
    found = list(imports("spchain.engine.model", "from ..viz import plotting\nfrom .units import x\n"))
    assert [(t, n) for _, t, n, _ in found] == [("spchain.viz.plotting", None), ("spchain.engine.units", "x")]
    assert "viz" not in MAY_IMPORT[layer("spchain.engine.model")]


def test_import_spchain_and_a_workers_modules_load_no_scipy_pandas_or_matplotlib():
    for modules in (("spchain",), WORKER_MODULES):
        code = (f"import sys, {', '.join(modules)}; import spchain; spchain.Params; spchain.simulate; "
                "print(sorted(m for m in ('scipy', 'pandas', 'matplotlib') if m in sys.modules))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert done.stdout.strip() == "[]", (modules, done.stdout)


def test_old_flat_module_names_still_import_with_a_deprecation_warning():
    code = ("import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
            "try:\n    import spchain.plotting\nexcept DeprecationWarning as w:\n    print(w)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "spchain.plotting has moved to spchain.viz.plotting" in done.stdout
    code = ("import warnings; warnings.simplefilter('ignore')\n"
            "import spchain.plotting, spchain.viz.plotting\n"
            "from spchain.webapp.state import parse_levers\n"
            "from spchain.panel import synthetic_panel\n"
            "print(spchain.plotting is spchain.viz.plotting, parse_levers.__module__, synthetic_panel.__module__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "spchain.apps.webapp.state", "spchain.fitting.synthetic"]
