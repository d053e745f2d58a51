"""The pipeline's public surface: what each stage package exports, and who may import its private modules."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
STAGE_PACKAGES = ["workers.pipeline.fetch", "workers.pipeline.extract", "workers.pipeline.entities"]


@pytest.mark.parametrize("name", STAGE_PACKAGES)
def test_each_stage_package_exports_exactly_its_all(name):
    package = importlib.import_module(name)
    exported = package.__all__
    assert len(exported) == len(set(exported)), "a name listed twice"
    for attr in exported:
        assert hasattr(package, attr), f"{name}.__all__ lists {attr!r}, which it does not define"
    public = {attr for attr, value in vars(package).items()
              if not attr.startswith("_") and not isinstance(value, type(package))}  # submodules are not exports
    assert public - set(exported) == set(), f"{name} defines public names missing from __all__"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path) -> list[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append(module)
            # `from pkg import _private`: a module only if it is one (not a private function or class)
            out.extend(f"{module}.{alias.name}" for alias in node.names if _is_module(f"{module}.{alias.name}"))
    return out


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _private_owner(module: str) -> str | None:
    """The package a private workers module belongs to (``a.b._c`` -> ``a.b``), or None if it is public."""
    parts = module.split(".")
    if parts[0] != "workers":
        return None
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


def _allowed(importer: Path, owner: str) -> bool:
    """Inside the owning package, or the unit tests that mirror it (tests/unit/<owner without workers>/)."""
    name = _module_name(importer)
    if name == owner or name.startswith(owner + "."):
        return True
    mirror = "tests.unit." + owner.removeprefix("workers.")
    return name.startswith(mirror + ".")


def test_private_modules_are_imported_only_inside_their_package():
    files = [p for folder in ("workers", "tests", "benchmarks", "scripts") for p in (ROOT / folder).rglob("*.py")]
    assert len(files) > 100
    offenders = []
    for path in files:
        for module in _imported_modules(path):
            owner = _private_owner(module)
            if owner is not None and not _allowed(path, owner):
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_the_check_sees_a_private_import_from_outside():
    # The rule above must be able to fail: a module outside the fetch package importing its robots parser.
    assert _private_owner("workers.pipeline.fetch._robots") == "workers.pipeline.fetch"
    assert not _allowed(ROOT / "workers" / "feeds" / "fetch.py", "workers.pipeline.fetch")
    assert _allowed(ROOT / "workers" / "pipeline" / "fetch" / "client.py", "workers.pipeline.fetch")
    assert _allowed(ROOT / "tests" / "unit" / "pipeline" / "fetch" / "test_polite.py", "workers.pipeline.fetch")
    assert _private_owner("workers.pipeline.fetch.client") is None
    assert _is_module("workers.pipeline.fetch._robots") and not _is_module("workers.cli._as_json_line")
