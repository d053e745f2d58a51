"""The broker process: status from the pid file, a start that fails shows why, test brokers die with their caller."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.unit.local.broker.support import (
    assert_one_line,
)
from workers.local import broker
from workers.local.broker import process


def test_status_of_a_fresh_dir_is_stopped(tmp_path: Path) -> None:
    assert broker.status(tmp_path) == broker.BrokerStatus(running=False, pid=None, bootstrap=None, dir=tmp_path)
    assert broker.stop(tmp_path) is False


def test_stale_pid_file_is_not_a_running_broker(tmp_path: Path) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "broker.pid").write_text(finished.stdout)
    assert not broker.status(tmp_path).running
    assert broker.stop(tmp_path) is False
    assert not (tmp_path / "broker.pid").exists()


def test_a_reused_pid_of_another_program_is_not_the_broker(tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "broker.pid").write_text(f"{other.pid}\n")
        assert not broker.status(tmp_path).running
        assert broker.stop(tmp_path) is False
        assert other.poll() is None  # stop never signals a process that is not this directory's broker
    finally:
        other.kill()
        other.wait()


def test_a_broker_that_exits_during_start_shows_the_cause(tmp_path: Path) -> None:
    config = broker.BrokerConfig(port=broker.free_port(), controller_port=broker.free_port(), cluster_id="x")
    log_path = tmp_path / "broker.log"
    with open(log_path, "w") as log:
        log.write("old run: ERROR from before\n")
        offset = log.tell()
        crashing = subprocess.Popen(
            [sys.executable, "-c", "print('INFO starting'); "
             "print('[2026] ERROR Exiting Kafka due to fatal exception (kafka.Kafka$)'); raise SystemExit(1)"],
            stdout=log, stderr=subprocess.STDOUT)
    with pytest.raises(broker.BrokerStartFailed) as raised:
        process.wait_ready(crashing, config, tmp_path, offset, timeout_s=30)
    assert_one_line(raised.value.detail)
    assert "exit code 1" in raised.value.detail and "Exiting Kafka due to fatal exception" in raised.value.detail
    assert "INFO starting" in raised.value.log_tail and "old run" not in raised.value.log_tail


def test_a_bind_failure_during_start_says_to_pick_another_port(tmp_path: Path) -> None:
    config = broker.BrokerConfig(port=broker.free_port(), controller_port=broker.free_port(), cluster_id="x",
                                 mtls_port=broker.free_port())
    with open(tmp_path / "broker.log", "w") as log:
        crashing = subprocess.Popen(
            [sys.executable, "-c", "print('[2026] ERROR [KafkaRaftServer nodeId=1] Fatal error during broker startup. "
             "org.apache.kafka.common.KafkaException: Socket server failed to bind to 127.0.0.1:9092: "
             "Address already in use.'); raise SystemExit(1)"], stdout=log, stderr=subprocess.STDOUT)
    with pytest.raises(broker.BrokerStartFailed) as raised:
        process.wait_ready(crashing, config, tmp_path, 0, timeout_s=30)
    assert_one_line(raised.value.detail)
    assert f"port {config.port}" in raised.value.detail and "--port" in raised.value.detail
    assert f"mTLS port {config.mtls_port}" in raised.value.detail


def test_stop_with_caller_stops_the_child_when_the_caller_is_killed(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    pid_file = tmp_path / "child.pid"
    caller = subprocess.Popen([sys.executable, "-c", f"""
import subprocess, sys, time
from workers.local import broker
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True,
                         preexec_fn=broker.process.stop_with_parent())
open({str(pid_file)!r}, "w").write(str(child.pid))
time.sleep(120)
"""])
    try:
        for _ in range(200):
            if pid_file.exists() and pid_file.read_text():
                break
            threading.Event().wait(0.05)
        child = int(pid_file.read_text())
        assert process.is_alive(child)
    finally:
        caller.kill()  # SIGKILL: no finalizer of the caller runs
        caller.wait()
    gone = threading.Event()
    for _ in range(200):
        if not process.is_alive(child):
            gone.set()
            break
        gone.wait(0.05)
    assert gone.is_set()
