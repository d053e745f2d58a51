"""The dev tooling stays out of the runtime: only the CLI (registering ``newswire broker``) imports workers.local."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import workers

PACKAGE = Path(workers.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    module = ".".join(("workers", *path.relative_to(PACKAGE).with_suffix("").parts))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.add(node.module)
    return names


def test_only_the_cli_imports_the_dev_tooling() -> None:
    importers = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if not path.is_relative_to(PACKAGE / "local")
        and any(name == "workers.local" or name.startswith("workers.local.") for name in imported_modules(path))
    )
    assert importers, "the CLI registers `newswire broker`, so at least it imports workers.local"
    assert all(name == "cli.py" or name.startswith("cli/") for name in importers), importers


def test_the_resolver_sees_relative_imports() -> None:
    """The control: the cluster module's relative import of the broker package is found."""
    assert "workers.local.broker.jars" in imported_modules(PACKAGE / "local" / "cluster.py")
    assert "workers.errors" in imported_modules(PACKAGE / "local" / "cluster.py")


def test_registering_the_broker_commands_loads_no_kafka_client_and_touches_no_logger() -> None:
    """Every `newswire` invocation registers `broker`; the worker process must not get the probe's log filter."""
    code = ("import logging, sys, workers.cli.command as c; c.build_parser(); "
            "print('aiokafka' in sys.modules, sum(len(logging.getLogger(n).filters) for n in "
            "('aiokafka', 'aiokafka.client', 'aiokafka.conn', 'aiokafka.cluster', 'aiokafka.admin.client')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "0"]
