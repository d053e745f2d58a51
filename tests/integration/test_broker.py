"""``newswire broker`` end to end: a real Kafka broker started, used, stopped and restarted through the CLI.

The CLI runs as ``python -m workers.broker`` in a subprocess, as a user would
run it; this module's broker is its own (own port and directory), separate
from the session broker of conftest.py.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from workers import broker

CLIENT_TIMEOUT_S = 60


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout_lines: list[str]
    stderr_lines: list[str]


def run_cli(*args: str, timeout: float = 180) -> CliResult:
    done = subprocess.run([sys.executable, "-m", "workers.broker", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    return CliResult(done.returncode, done.stdout.splitlines(), done.stderr.splitlines())


@dataclass(frozen=True)
class CliBroker:
    port: int
    dir: Path
    started: CliResult

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def cli_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliBroker]:
    dir = tmp_path_factory.mktemp("cli-broker")
    port = broker.free_port()
    started = run_cli("start", "--port", str(port), "--dir", str(dir))
    try:
        assert started.returncode == 0, "\n".join(started.stderr_lines)
        yield CliBroker(port=port, dir=dir, started=started)
    finally:
        run_cli("stop", "--dir", str(dir))
        broker.stop(dir)  # belt and braces: never leave a broker behind


async def produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, value), CLIENT_TIMEOUT_S)
    finally:
        await producer.stop()


async def consume_first(bootstrap: str, topic: str) -> bytes:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"test-{uuid.uuid4().hex}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), CLIENT_TIMEOUT_S)
    finally:
        await consumer.stop()
    assert message.value is not None
    return message.value


def test_start_prints_the_bootstrap_address_as_last_line(cli_broker: CliBroker) -> None:
    assert cli_broker.started.stdout_lines[-1] == cli_broker.bootstrap


async def test_broker_serves_produce_and_consume(cli_broker: CliBroker) -> None:
    await produce(cli_broker.bootstrap, "broker-smoke", b"hello kafka")
    assert await consume_first(cli_broker.bootstrap, "broker-smoke") == b"hello kafka"


def test_second_start_reports_the_running_broker(cli_broker: CliBroker) -> None:
    pid_before = (cli_broker.dir / "broker.pid").read_text()
    again = run_cli("start", "--port", str(cli_broker.port), "--dir", str(cli_broker.dir))
    assert again.returncode == 0
    assert any("already running" in line for line in again.stderr_lines)
    assert again.stdout_lines[-1] == cli_broker.bootstrap
    assert (cli_broker.dir / "broker.pid").read_text() == pid_before


def test_status_says_running(cli_broker: CliBroker) -> None:
    result = run_cli("status", "--dir", str(cli_broker.dir))
    assert result.returncode == 0
    assert "running" in result.stdout_lines[0] and "not running" not in result.stdout_lines[0]
    assert cli_broker.bootstrap in result.stdout_lines[0]


def test_port_in_use_gives_a_one_line_error(cli_broker: CliBroker, tmp_path: Path) -> None:
    other_dir = tmp_path / "other"
    result = run_cli("start", "--port", str(cli_broker.port), "--dir", str(other_dir))
    assert result.returncode == 1
    assert result.stdout_lines == []
    assert result.stderr_lines == [
        f"error: port {cli_broker.port} on 127.0.0.1 is in use: stop what listens there or pass --port with a free port"
    ]
    assert not broker.status(other_dir).running


async def test_stop_then_restart_on_the_same_dir_keeps_data(cli_broker: CliBroker) -> None:
    topic = "broker-restart"
    await produce(cli_broker.bootstrap, topic, b"kept across restart")

    stopped = run_cli("stop", "--dir", str(cli_broker.dir))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout_lines[0]
    status = run_cli("status", "--dir", str(cli_broker.dir))
    assert status.returncode == 1 and "not running" in status.stdout_lines[0]
    assert broker.port_is_free(cli_broker.port)

    restarted = run_cli("start", "--dir", str(cli_broker.dir))  # no --port: the directory remembers it
    assert restarted.returncode == 0, "\n".join(restarted.stderr_lines)
    assert restarted.stdout_lines[-1] == cli_broker.bootstrap
    assert await consume_first(cli_broker.bootstrap, topic) == b"kept across restart"


def test_session_fixture_gives_a_serving_broker(kafka_bootstrap: str, broker_dir: Path | None) -> None:
    assert broker.probe(kafka_bootstrap)
    if broker_dir is not None:  # started by this session, not reused
        assert broker.status(broker_dir).bootstrap == kafka_bootstrap
