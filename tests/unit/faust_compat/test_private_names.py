"""Private names of faust, aiokafka and mode are used only under workers/faust_compat/.

Every attribute access ``x._name`` in the package is collected; names the
package defines itself (its own private functions, attributes, classes) are
ours, the rest belong to a library and may only be touched by faust_compat.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "workers"
COMPAT = PACKAGE / "faust_compat"
#: Underscore names that are public API: the standard library's, and lxml's documented element type.
STDLIB_PUBLIC = {"_exit", "_replace", "_asdict", "_fields", "_make", "_name_", "_Element"}


def _trees() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(), str(path))) for path in sorted(PACKAGE.rglob("*.py"))]


def _defined_by_us(trees: list[tuple[Path, ast.Module]]) -> set[str]:
    names: set[str] = set()
    for _path, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return names


def private_accesses_outside_compat() -> list[str]:
    trees = _trees()
    ours = _defined_by_us([(p, t) for p, t in trees if not p.is_relative_to(COMPAT)])
    found = []
    for path, tree in trees:
        if path.is_relative_to(COMPAT):
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and node.attr not in ours and node.attr not in STDLIB_PUBLIC):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: .{node.attr}")
    return found


def test_no_library_private_name_outside_faust_compat():
    assert private_accesses_outside_compat() == []


def test_the_check_sees_a_library_private_name(tmp_path, monkeypatch):
    # The check itself: a module reading Faust's unacked set outside faust_compat is caught.
    fake = tmp_path / "workers"
    (fake / "faust_compat").mkdir(parents=True)
    (fake / "agents.py").write_text("def f(app):\n    return app.consumer._unacked_messages\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["PACKAGE"]), "PACKAGE", fake)
    monkeypatch.setattr(__import__(__name__, fromlist=["COMPAT"]), "COMPAT", fake / "faust_compat")
    assert private_accesses_outside_compat() == ["workers/agents.py:2: ._unacked_messages"]
