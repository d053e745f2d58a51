"""Helpers shared by the local broker's unit tests."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from workers.local import broker


def parse_properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def path_with(tmp_path: Path, *tools: str) -> str:
    """A PATH holding only the named real tools (symlinked)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        real = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        if not real:
            pytest.skip(f"{tool} not installed")
        (bin_dir / tool).symlink_to(real)
    return str(bin_dir)


def write_script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\nPATH=/usr/bin:/bin\n" + body)  # the test's PATH holds only the fakes
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def assert_one_line(message: str) -> None:
    assert message and "\n" not in message


def secure_config() -> broker.BrokerConfig:
    return broker.BrokerConfig(port=29092, controller_port=29093, cluster_id=broker.new_cluster_id(), secure=True,
                               mtls_port=29094)


def needs_openssl() -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
