"""Module boundaries: no module of spchain takes another module's private name."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "spchain"


def test_no_module_imports_a_private_name_of_another():
    offences = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                offences += [f"{path.name}:{node.lineno} imports {node.module}.{a.name}"
                             for a in node.names if a.name.startswith("_") and not a.name.endswith("__")]
    assert not offences, offences


def test_the_check_sees_a_private_import(tmp_path):
    """The walk above really finds ``from .x import _y`` (so the test can fail)."""
    tree = ast.parse("from .result import _fmt\nfrom .params import Params\n")
    found = [a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level >= 1
             for a in n.names if a.name.startswith("_")]
    assert found == ["_fmt"]
