"""``broker start|stop|status``: one error line, exit codes, what goes to stdout."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.local.broker.support import (
    needs_openssl,
)
from workers.local import broker
from workers.local.broker import cli as broker_cli


def test_cli_port_in_use_prints_one_error_line(held_port: int, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = broker_cli.main(["start", "--port", str(held_port), "--dir", str(tmp_path / "b")])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.splitlines() == [f"error: port {held_port} on 127.0.0.1 is in use: "
                                "stop what listens there or pass --port with a free port"]


def test_cli_status_of_a_stopped_broker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert broker_cli.main(["status", "--dir", str(tmp_path)]) == 1
    assert "not running" in capsys.readouterr().out
    assert broker_cli.main(["stop", "--dir", str(tmp_path)]) == 0
    assert "not running" in capsys.readouterr().out


def test_print_address_keeps_stdout_one_sourceable_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """stdout: the SASL_SSL settings, then the bootstrap; the mTLS settings (same names) go to stderr."""
    needs_openssl()
    config = broker.configure(tmp_path, broker.free_port(), secure=True)
    running = broker.BrokerStatus(running=True, pid=1, bootstrap=config.bootstrap, dir=tmp_path, secure=True,
                                  mtls_bootstrap=config.mtls_bootstrap)
    broker_cli.print_address(running)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[-1] == config.bootstrap
    assert dict(line.split("=", 1) for line in lines[:-1]) == broker.client_settings(tmp_path)
    mtls_lines = [line.strip() for line in err.splitlines() if line.startswith("  NEWSWIRE_")]
    assert dict(line.split("=", 1) for line in mtls_lines) == broker.client_settings(tmp_path, mtls=True)
    assert "client-mtls.env" in err
