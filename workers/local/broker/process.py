"""The broker as a process: start it on a directory, wait until it serves, stop it, tell whether it runs.

:func:`start` formats the KRaft storage once (secure mode: with the SCRAM
users, ``kafka-storage format --add-scram``), launches ``kafka.Kafka`` in its
own session so it outlives the caller, and returns once every client listener
answers a real Kafka client (:mod:`.readiness`).  ``broker.pid`` and a check of
the process's command line tie a running broker to its directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ...errors import ConfigError
from .config import BrokerConfig, client_settings, configure, load_config, load_secrets
from .jars import KAFKA_VERSION, cache_is_complete, ensure_jars, jar_cache_dir
from .layout import (
    ADMIN_USER,
    CLIENT_ENV_FILE,
    CLIENT_USER,
    DATA_DIR,
    LOCK_FILE,
    LOG4J_FILE,
    LOG_FILE,
    MTLS_ENV_FILE,
    PID_FILE,
    PROPERTIES_FILE,
    SCRAM_MECHANISM,
    file_lock,
    resolve_dir,
    write_atomic,
)
from .readiness import BrokerNotReady, check, client_accesses
from .tools import require_java, shorten

__all__ = [
    "JVM_HEAP",
    "BrokerStartFailed",
    "BrokerStatus",
    "start",
    "stop",
    "status",
    "java_command",
    "stop_with_parent",
    "is_alive",
    "wait_ready",
    "tail",
]

JVM_HEAP = "512m"
# C1 only and the serial collector: on a 2-core machine shared with the worker,
# C2 compiler and G1 threads cost more than they give a single dev broker.
# Measured here under load (3 runs each): StorageTool format 7.0 s -> 2.4 s,
# broker restart to ready 8-12 s -> 5-7 s, aiokafka produce rate not lower.
JVM_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")

_children: dict[int, subprocess.Popen[bytes]] = {}  # brokers this process launched, to reap them


class BrokerStartFailed(ConfigError):
    """The broker process did not come up; ``log_tail`` holds the end of broker.log."""

    def __init__(self, detail: str, *, log_tail: str = "") -> None:
        super().__init__(detail)
        self.log_tail = log_tail


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str | None
    dir: Path
    secure: bool = False  # SASL_SSL + SCRAM-SHA-512; see client_settings()
    mtls_bootstrap: str | None = None  # secure mode: the SSL listener that requires a client certificate


# -- the process -----------------------------------------------------------------------------------


def java_command(java: str, jars: Path, dir: Path, main_class: str, *args: str) -> list[str]:
    """The JVM command line for ``main_class`` of the Kafka jars, logging with ``dir``'s log4j2 configuration."""
    return [java, f"-Xmx{JVM_HEAP}", *JVM_OPTIONS, "-Djava.awt.headless=true", "-XX:+ExitOnOutOfMemoryError",
            f"-Dlog4j2.configurationFile={dir / LOG4J_FILE}", "-cp", f"{jars}/*", main_class, *args]


def stop_with_parent() -> Callable[[], None] | None:
    """A preexec hook asking Linux to SIGTERM the child when its parent dies (PR_SET_PDEATHSIG).

    The kernel ties this to the *thread* that forked, so it is only used from
    the main thread, where that thread lives as long as the process.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before fork: no loader work in the child
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


def is_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    if Path("/proc/self").exists():
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state not in {"Z", "X"}  # a zombie has exited; its parent just has not reaped it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owns_dir(pid: int, dir: Path) -> bool:
    """Whether ``pid`` is a Kafka broker started on this directory (guards against a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no procfs (macOS): trust the pid file
    except OSError:
        return False
    return b"kafka.Kafka" in cmdline and str(dir / PROPERTIES_FILE).encode() in cmdline


def _running_pid(dir: Path) -> int | None:
    try:
        pid = int((dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if is_alive(pid) and _owns_dir(pid, dir) else None


def _wait_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    child = _children.get(pid)
    if child is not None:
        try:
            child.wait(timeout=max(0.0, timeout_s))
        except subprocess.TimeoutExpired:
            return False
        _children.pop(pid, None)
        return True
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.1)
    return not is_alive(pid)


def _terminate(pid: int, timeout_s: float) -> None:
    """SIGTERM (Kafka shuts down cleanly), wait, SIGKILL as the last resort."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_exit(pid, timeout_s):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_exit(pid, 10)


# -- its log -------------------------------------------------------------------------------------


def tail(path: Path, since: int = 0, lines: int = 25) -> str:
    """The last ``lines`` lines of a log written after byte offset ``since``."""
    try:
        with open(path, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _first_error(log_text: str) -> str | None:
    for line in log_text.splitlines():
        if " ERROR " in line or "Exception" in line or "error:" in line.lower():
            return shorten(line.strip())
    return None


# -- start-up ------------------------------------------------------------------------------------


def _format_storage(java: str, jars: Path, dir: Path, config: BrokerConfig, log: TextIO) -> None:
    if (dir / DATA_DIR / "meta.properties").exists():
        return
    command = java_command(java, jars, dir, "kafka.tools.StorageTool", "format",
                           "-t", config.cluster_id, "-c", str(dir / PROPERTIES_FILE))
    secure = load_secrets(dir) if config.secure else None
    if secure is not None:
        # SCRAM credentials live in the cluster metadata; formatting is where a KRaft cluster gets its first ones
        # (the broker's own login must exist before it can start, so the admin API could not create it).
        for user, password in ((ADMIN_USER, secure.admin_password), (CLIENT_USER, secure.client_password)):
            command += ["--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={password}]"]
    log.flush()
    done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=dir)
    if done.returncode != 0:
        log_tail = tail(dir / LOG_FILE)
        raise BrokerStartFailed(f"formatting the KRaft storage in {dir / DATA_DIR} failed "
                                f"(exit code {done.returncode}): "
                                f"{_first_error(log_tail) or 'see ' + str(dir / LOG_FILE)}", log_tail=log_tail)


def wait_ready(process: subprocess.Popen[bytes], config: BrokerConfig, dir: Path, log_offset: int,
               timeout_s: float) -> None:
    """Return once every client listener of the broker answers a client; BrokerStartFailed if it exits or times out."""
    deadline = time.monotonic() + timeout_s
    waiting = client_accesses(dir, config)  # ready once every client listener has answered
    last_seen = ""
    while True:
        code = process.poll()
        if code is not None:
            log_tail = tail(dir / LOG_FILE, since=log_offset)
            reason = _first_error(log_tail) or f"see {dir / LOG_FILE}"
            if "Address already in use" in log_tail:
                others = f"controller port {config.controller_port}"
                if config.mtls_port is not None:
                    others += f" or mTLS port {config.mtls_port}"
                reason = f"port {config.port} or {others} is in use; pass --port with a free port"
            raise BrokerStartFailed(f"the Kafka broker exited during start-up (exit code {code}): {reason}",
                                    log_tail=log_tail)
        while waiting:
            access = waiting[0]
            try:
                check(access.bootstrap, ssl_context=access.ssl_context, sasl=access.sasl)
            except BrokerNotReady as exc:
                last_seen = str(exc)
                break
            waiting.pop(0)
        if not waiting:
            return
        if time.monotonic() >= deadline:
            raise BrokerStartFailed(f"the Kafka broker did not answer on {waiting[0].bootstrap} "
                                    f"within {timeout_s:.0f} s (last: {last_seen}); see {dir / LOG_FILE}",
                                    log_tail=tail(dir / LOG_FILE, since=log_offset))
        time.sleep(0.25)


# -- public API ---------------------------------------------------------------------------------------


def status(dir: Path | None = None) -> BrokerStatus:
    """Whether a broker runs on ``dir`` (its process is alive and was started on that directory)."""
    path = resolve_dir(dir)
    pid = _running_pid(path)
    if pid is None:
        return BrokerStatus(running=False, pid=None, bootstrap=None, dir=path)
    config = load_config(path)
    return BrokerStatus(running=True, pid=pid, bootstrap=config.bootstrap if config else None, dir=path,
                        secure=bool(config and config.secure), mtls_bootstrap=config.mtls_bootstrap if config else None)


def start(port: int | None = None, dir: Path | None = None, *, timeout_s: float = 120, secure: bool | None = None,
          progress: Callable[[str], None] | None = None, stop_with_caller: bool = False) -> BrokerStatus:
    """Start the broker on ``dir`` and return once it serves requests; the broker outlives the caller.

    ``port`` defaults to the port this directory used before, else
    :data:`~.layout.DEFAULT_PORT`; ``secure`` to the directory's mode, else
    plaintext.  If a broker already runs on ``dir`` its status is returned
    unchanged (the caller reports "already running").  ``progress`` receives
    one-line notes on the slow steps.  ``stop_with_caller`` (tests) has the
    kernel stop the broker when the calling thread's process dies, even by
    SIGKILL.
    """
    note = progress or (lambda message: None)
    path = resolve_dir(dir)
    path.mkdir(parents=True, exist_ok=True)
    with file_lock(path / LOCK_FILE):
        current = status(path)
        if current.running:
            if secure is not None and secure != current.secure:
                mode = "secure" if current.secure else "plaintext"
                raise ConfigError(f"a {mode} broker already runs in {path}; stop it, or use another --dir")
            return current
        java = require_java()
        config = configure(path, port, secure=secure)
        if not cache_is_complete(jar_cache_dir()):
            note(f"resolving the Kafka {KAFKA_VERSION} jars with Maven into {jar_cache_dir()} (once) ...")
        jars = ensure_jars()
        mode = (f"SASL_SSL, and SSL with client certificates on {config.mtls_bootstrap}" if config.secure
                else "PLAINTEXT")
        note(f"starting Kafka {KAFKA_VERSION} ({mode}) on {config.bootstrap} in {path} (log: {path / LOG_FILE}) ...")
        with open(path / LOG_FILE, "a") as log:
            log.write(f"\n=== newswire: starting Kafka {KAFKA_VERSION} ({mode}) on {config.bootstrap} at "
                      f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} ===\n")
            log.flush()
            log_offset = log.tell()
            _format_storage(java, jars, path, config, log)
            command = java_command(java, jars, path, "kafka.Kafka", str(path / PROPERTIES_FILE))
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=path, start_new_session=True,  # survives the CLI and its Ctrl-C
                                       preexec_fn=stop_with_parent() if stop_with_caller else None)
        _children[process.pid] = process
        write_atomic(path / PID_FILE, f"{process.pid}\n")
        try:
            wait_ready(process, config, path, log_offset, timeout_s)
        except BaseException:
            _terminate(process.pid, 15)
            (path / PID_FILE).unlink(missing_ok=True)
            raise
        if config.secure:
            for name, mtls in ((CLIENT_ENV_FILE, False), (MTLS_ENV_FILE, True)):
                env = "".join(f"{key}={value}\n" for key, value in client_settings(path, mtls=mtls).items())
                write_atomic(path / name, env, private=True)
        return BrokerStatus(running=True, pid=process.pid, bootstrap=config.bootstrap, dir=path, secure=config.secure,
                            mtls_bootstrap=config.mtls_bootstrap)


def stop(dir: Path | None = None, *, timeout_s: float = 60) -> bool:
    """Stop the broker on ``dir``: SIGTERM, wait up to ``timeout_s``, then SIGKILL. True if it was running."""
    path = resolve_dir(dir)
    if not path.is_dir():
        return False
    with file_lock(path / LOCK_FILE):
        pid = _running_pid(path)
        if pid is not None:
            _terminate(pid, timeout_s)
        (path / PID_FILE).unlink(missing_ok=True)
        return pid is not None
