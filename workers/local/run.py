"""Run real `newswire worker` processes on this machine, for the demo, tests and benchmarks.

Each worker gets its own web port (so /readyz and /metrics can be read) and
data dir, writes its log to a file, and can be stopped gracefully (SIGTERM) or
killed.  ``cpus`` pins a worker and its pool processes to some cores, which the
benchmarks use to compare one-core and two-core set-ups.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson

from .broker.ports import free_port

__all__ = ["WorkerProcess", "isolated_topics"]


def isolated_topics(bootstrap: str, prefix: str = "t") -> dict[str, str]:
    """Settings giving a run its own topics and consumer group on a shared broker."""
    tag = prefix + uuid.uuid4().hex[:8]
    return {
        "NEWSWIRE_BOOTSTRAP_SERVERS": bootstrap,
        "NEWSWIRE_INPUT_TOPIC": f"{tag}.urls",
        "NEWSWIRE_ARTICLES_TOPIC": f"{tag}.articles",
        "NEWSWIRE_DEADLETTER_TOPIC": f"{tag}.deadletter",
        "NEWSWIRE_ENTITIES_TOPIC": f"{tag}.entities",
        "NEWSWIRE_FEEDS_TOPIC": f"{tag}.feeds",
        "NEWSWIRE_FEEDS_STATUS_TOPIC": f"{tag}.feeds.status",
        "NEWSWIRE_GROUP_ID": f"g{tag}",
    }


class WorkerProcess:
    """One `newswire worker` with its own web port and data dir; output to a log file."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str = "worker",
                 cpus: set[int] | None = None) -> None:
        self.cpus = cpus
        self.port = free_port()
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.env = {
            **os.environ,
            **env,
            "NEWSWIRE_WEB_PORT": str(self.port),
            "NEWSWIRE_WEB_HOST": "127.0.0.1",
            "NEWSWIRE_DATA_DIR": str(workdir / f"{name}-data"),
            "NEWSWIRE_LOG_FORMAT": "json",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cpus = self.cpus
        pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([sys.executable, "-m", "workers", "worker"], env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, preexec_fn=pin)
        return self

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def readiness(self) -> dict[str, Any] | None:
        try:
            status, body = self.get("/readyz")
        except OSError:
            return None
        answer: dict[str, Any] = orjson.loads(body)
        return answer | {"status": status}

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            state = self.readiness()
            if state and state.get("ready"):
                return
            time.sleep(0.5)
        raise TimeoutError(f"worker not ready after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def terminate(self, timeout: float = 60.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
