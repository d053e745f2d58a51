"""The local Kafka runner behind ``newswire broker start|stop|status``.

It runs a real Apache Kafka broker (KRaft, one node that is broker and
controller at once) on 127.0.0.1 for development and the integration tests:

* the server jars (``org.apache.kafka:kafka_2.13``, pinned in
  ``workers/kafka/pom.xml``) are resolved from Maven Central with ``mvn`` into
  a cache once (:func:`ensure_jars`);
* a broker directory holds everything else: ``broker.json`` (ports and
  cluster id, chosen once), the generated ``server.properties``, the log4j2
  configuration, the data (``data/``), ``broker.pid`` and ``broker.log``
  (the broker's stdout and stderr).  Stopping and starting again on the same
  directory keeps topics, offsets and ports;
* :func:`start` returns once the broker answers a real Kafka request
  (ApiVersions, then a Metadata request listing the broker), and the broker
  keeps running in its own session after the caller exits.

User errors (no ``java``/``mvn``, port in use, Maven cannot resolve) raise
:class:`workers.errors.ConfigError` with a one-line message that says what to do.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Collection, Iterator, Sequence, TextIO

from .errors import ConfigError

__all__ = [
    "KAFKA_VERSION",
    "DEFAULT_PORT",
    "BrokerStatus",
    "BrokerConfig",
    "BrokerStartFailed",
    "default_dir",
    "jar_cache_dir",
    "ensure_jars",
    "start",
    "stop",
    "status",
    "free_port",
    "server_properties",
    "configure",
    "port_is_free",
    "probe",
    "add_cli",
    "main",
]

KAFKA_VERSION = "4.1.1"
DEFAULT_PORT = 9092
HOST = "127.0.0.1"
JVM_HEAP = "512m"
NODE_ID = 1

# Files inside the broker directory.
CONFIG_FILE = "broker.json"
PROPERTIES_FILE = "server.properties"
LOG4J_FILE = "log4j2.properties"
PID_FILE = "broker.pid"
LOG_FILE = "broker.log"
LOCK_FILE = ".broker.lock"
DATA_DIR = "data"

# Marker written into the jar cache once Maven resolved it completely; it holds
# the hash of the pom so a changed pin resolves again.
CACHE_MARKER = ".newswire-complete"
# Ports picked by free_port() come from below the kernel's ephemeral range, so
# a client's outgoing connection (or a self-connect while the broker is down
# for a restart) cannot sit on the broker's port.
_PICK_FLOOR = 20000

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


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """What is chosen once per broker directory and kept across restarts."""

    port: int
    controller_port: int
    cluster_id: str
    kafka_version: str = KAFKA_VERSION

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"


# -- locations -------------------------------------------------------------------


def default_dir() -> Path:
    """``NEWSWIRE_BROKER_DIR`` or ``./.newswire/broker``."""
    return Path(os.environ.get("NEWSWIRE_BROKER_DIR") or Path(".newswire") / "broker").absolute()


def jar_cache_dir() -> Path:
    """``NEWSWIRE_KAFKA_CACHE`` or ``~/.cache/newswire/kafka-<version>`` (XDG_CACHE_HOME honoured)."""
    explicit = os.environ.get("NEWSWIRE_KAFKA_CACHE")
    if explicit:
        return Path(explicit).expanduser().absolute()
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache_home / "newswire" / f"kafka-{KAFKA_VERSION}"


def _resolve_dir(dir: Path | str | None) -> Path:
    return Path(dir).expanduser().absolute() if dir is not None else default_dir()


def _packaged(name: str) -> bytes:
    return resources.files("workers").joinpath("kafka", name).read_bytes()


# -- jars ------------------------------------------------------------------------------


def _require_tool(name: str, what_to_do: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigError(f"`{name}` was not found on PATH: {what_to_do}")
    return path


def _require_java() -> str:
    return _require_tool("java", "install a Java 17+ runtime (e.g. `apt-get install openjdk-17-jre-headless`) and retry")


def _cache_is_complete(cache: Path, pom_hash: str) -> bool:
    marker = cache / CACHE_MARKER
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    jars = recorded.get("jars", [])
    return recorded.get("pom_sha256") == pom_hash and bool(jars) and all((cache / jar).is_file() for jar in jars)


def _pom_hash() -> str:
    return hashlib.sha256(_packaged("pom.xml")).hexdigest()


def ensure_jars() -> Path:
    """Resolve the Kafka server jars into :func:`jar_cache_dir` once and return that directory.

    A complete cache (marker file with the current pom's hash, every listed jar
    present) is used as is, without ``mvn``.  Resolution goes to a temporary
    sibling directory that replaces the cache only when Maven succeeded, under
    a file lock, so concurrent starts neither run Maven twice nor see half a cache.
    """
    cache = jar_cache_dir()
    pom = _packaged("pom.xml")
    pom_hash = _pom_hash()
    if _cache_is_complete(cache, pom_hash):
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(cache.parent / f".{cache.name}.lock"):
        if _cache_is_complete(cache, pom_hash):
            return cache
        mvn = _require_tool("mvn", "install Apache Maven 3.8+ (e.g. `apt-get install maven`) so the Kafka "
                                   f"{KAFKA_VERSION} jars can be fetched, or set NEWSWIRE_KAFKA_CACHE to a directory that holds them")
        staging = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
        try:
            (staging / "pom.xml").write_bytes(pom)
            libs = staging / "libs"
            _run_maven(mvn, staging, libs)
            jars = sorted(p.name for p in libs.glob("*.jar"))
            if f"kafka_2.13-{KAFKA_VERSION}.jar" not in jars:
                raise ConfigError(f"Maven finished but kafka_2.13-{KAFKA_VERSION}.jar is missing in {libs}; "
                                  "remove the cache directory and retry")
            (libs / CACHE_MARKER).write_text(json.dumps({"pom_sha256": pom_hash, "jars": jars}, indent=1))
            if cache.exists():
                shutil.rmtree(cache)
            libs.rename(cache)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return cache


def _run_maven(mvn: str, project: Path, output: Path) -> None:
    command = [mvn, "-B", "-ntp", "-Dstyle.color=never", "-f", str(project / "pom.xml"),
               "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={output}"]
    done = subprocess.run(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, text=True)
    if done.returncode != 0:
        errors = [line.removeprefix("[ERROR]").strip() for line in done.stdout.splitlines() if line.startswith("[ERROR]")]
        reason = next((e for e in errors if e), f"exit code {done.returncode}")
        raise ConfigError(f"Maven could not resolve org.apache.kafka:kafka_2.13:{KAFKA_VERSION} ({_shorten(reason)}); "
                          "check access to Maven Central (or your ~/.m2/settings.xml mirror) and retry")


# -- configuration -------------------------------------------------------------------


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as ``kafka-storage random-uuid``)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def server_properties(config: BrokerConfig, dir: Path) -> str:
    """The broker's server.properties: one KRaft node on 127.0.0.1 tuned for fast start and tests."""
    data = dir / DATA_DIR
    lines = [
        "# Generated by newswire (workers/broker.py) for a local single-node broker.",
        "# It is kept and reused on restart; it is rewritten only when the port changes.",
        "process.roles=broker,controller",
        f"node.id={NODE_ID}",
        f"controller.quorum.voters={NODE_ID}@{HOST}:{config.controller_port}",
        "controller.listener.names=CONTROLLER",
        f"listeners=PLAINTEXT://{HOST}:{config.port},CONTROLLER://{HOST}:{config.controller_port}",
        f"advertised.listeners=PLAINTEXT://{HOST}:{config.port}",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={data}",
        "",
        "# One node: every internal topic has one replica.",
        "default.replication.factor=1",
        "min.insync.replicas=1",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "",
        "# Fast start and fast group joins for development and tests.",
        "offsets.topic.num.partitions=6",
        "transaction.state.log.num.partitions=6",
        "group.initial.rebalance.delay.ms=0",
        "num.partitions=1",
        "auto.create.topics.enable=true",
        "",
    ]
    return "\n".join(lines)


def _load_config(dir: Path) -> BrokerConfig | None:
    try:
        raw = json.loads((dir / CONFIG_FILE).read_text())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ConfigError(f"{dir / CONFIG_FILE} is not valid JSON ({exc}); remove {dir} to start afresh") from None
    try:
        return BrokerConfig(port=int(raw["port"]), controller_port=int(raw["controller_port"]),
                            cluster_id=str(raw["cluster_id"]), kafka_version=str(raw.get("kafka_version", KAFKA_VERSION)))
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"{dir / CONFIG_FILE} is incomplete; remove {dir} to start afresh") from None


def _choose_config(dir: Path, port: int | None) -> tuple[BrokerConfig, BrokerConfig | None]:
    """The config to run with (the stored one, with a new ``port`` applied) and the stored one."""
    stored = _load_config(dir)
    if stored is None:
        chosen = port if port is not None else DEFAULT_PORT
        config = BrokerConfig(port=chosen, controller_port=free_port(exclude={chosen}), cluster_id=new_cluster_id())
    elif port is not None and port != stored.port:
        config = BrokerConfig(port=port, controller_port=stored.controller_port, cluster_id=stored.cluster_id,
                              kafka_version=stored.kafka_version)
    else:
        config = stored
    if config.kafka_version != KAFKA_VERSION:
        raise ConfigError(f"{dir} holds a Kafka {config.kafka_version} broker but this newswire runs {KAFKA_VERSION}; "
                          "use another --dir or remove it")
    if config.port == config.controller_port:
        raise ConfigError(f"port {config.port} is this broker's controller port; pass another --port")
    return config, stored


def _write_config(dir: Path, config: BrokerConfig, stored: BrokerConfig | None) -> None:
    """Write what the broker reads; server.properties is kept as is unless the config changed."""
    properties = dir / PROPERTIES_FILE
    if config != stored or not properties.exists():
        _write_atomic(dir / CONFIG_FILE, json.dumps(asdict(config), indent=2) + "\n")
        _write_atomic(properties, server_properties(config, dir))
    log4j = dir / LOG4J_FILE
    if not log4j.exists():
        _write_atomic(log4j, _packaged(LOG4J_FILE).decode())


def configure(dir: Path, port: int | None = None) -> BrokerConfig:
    """Choose (first time) or load the directory's config, check its ports are free, write the broker's files.

    Nothing is written when a port is taken, so a failed start leaves no
    config behind that would pin the busy port.
    """
    config, stored = _choose_config(dir, port)
    _check_port(config.port, "client", dir)
    _check_port(config.controller_port, "controller", dir)
    _write_config(dir, config, stored)
    return config


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


# -- ports ----------------------------------------------------------------------------------


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether a server could listen on host:port now (SO_REUSEADDR, as the JVM binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(exclude: Collection[int] = ()) -> int:
    """A port free on 127.0.0.1, chosen below the ephemeral range when there is room."""
    floor = _ephemeral_floor()
    low, high = (_PICK_FLOOR, floor) if floor - _PICK_FLOOR >= 1000 else (1024, 65536)
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(low, high)
        if port not in exclude and port_is_free(port):
            return port
    with socket.socket() as probe:  # crowded range: let the kernel choose
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _check_port(port: int, role: str, dir: Path) -> None:
    if not 0 < port < 65536:
        raise ConfigError(f"port {port} is not a TCP port; pass --port between 1 and 65535")
    if not port_is_free(port):
        if role == "client":
            raise ConfigError(f"port {port} on {HOST} is in use: stop what listens there or pass --port with a free port")
        raise ConfigError(f"controller port {port} of the broker in {dir} is in use: stop what listens there, "
                          f"or remove {dir / CONFIG_FILE} to choose a new one (data is kept)")


# -- processes -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _is_alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.is_dir() and Path("/proc/self").exists():
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
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
    return pid if _is_alive(pid) and _owns_dir(pid, dir) else None


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
        if not _is_alive(pid):
            return True
        time.sleep(0.1)
    return not _is_alive(pid)


def _terminate(pid: int, timeout_s: float) -> None:
    """SIGTERM (Kafka shuts down cleanly), wait, SIGKILL as the last resort."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_exit(pid, timeout_s):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_exit(pid, 10)


def _tail(path: Path, since: int = 0, lines: int = 25) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _first_error(log_text: str) -> str | None:
    for line in log_text.splitlines():
        if " ERROR " in line or "Exception" in line or line.startswith("Error"):
            return _shorten(line.strip())
    return None


def _shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _java_command(java: str, jars: Path, dir: Path, main_class: str, *args: str) -> list[str]:
    return [java, f"-Xmx{JVM_HEAP}", "-Djava.awt.headless=true", "-XX:+ExitOnOutOfMemoryError",
            f"-Dlog4j2.configurationFile={dir / LOG4J_FILE}", "-cp", f"{jars}/*", main_class, *args]


def _format_storage(java: str, jars: Path, dir: Path, config: BrokerConfig, log: TextIO) -> None:
    if (dir / DATA_DIR / "meta.properties").exists():
        return
    command = _java_command(java, jars, dir, "kafka.tools.StorageTool", "format",
                            "-t", config.cluster_id, "-c", str(dir / PROPERTIES_FILE))
    log.flush()
    done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=dir)
    if done.returncode != 0:
        tail = _tail(dir / LOG_FILE)
        raise BrokerStartFailed(f"formatting the KRaft storage in {dir / DATA_DIR} failed (exit code {done.returncode}): "
                                f"{_first_error(tail) or 'see ' + str(dir / LOG_FILE)}", log_tail=tail)


# -- readiness: a real Kafka request ----------------------------------------------------------


def _frame(api_key: int, api_version: int, correlation_id: int, body: bytes) -> bytes:
    client_id = b"newswire-broker-probe"
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(client_id)) + client_id
    return struct.pack(">i", len(header) + len(body)) + header + body


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        chunks += chunk
    return bytes(chunks)


def _roundtrip(sock: socket.socket, api_key: int, api_version: int, correlation_id: int, body: bytes) -> bytes:
    sock.sendall(_frame(api_key, api_version, correlation_id, body))
    (size,) = struct.unpack(">i", _read_exact(sock, 4))
    payload = _read_exact(sock, size)
    (echoed,) = struct.unpack_from(">i", payload)
    if echoed != correlation_id:
        raise ConnectionError(f"correlation id {echoed} != {correlation_id}")
    return payload[4:]  # response header v0 is just the correlation id


def parse_api_versions(body: bytes) -> dict[int, tuple[int, int]]:
    """ApiVersions v0 response body -> {api_key: (min_version, max_version)}; raises on an error code."""
    error_code, count = struct.unpack_from(">hi", body)
    if error_code != 0:
        raise ConnectionError(f"ApiVersions error code {error_code}")
    versions = {}
    for index in range(count):
        key, low, high = struct.unpack_from(">hhh", body, 6 + 6 * index)
        versions[key] = (low, high)
    return versions


def metadata_request_body(version: int) -> bytes:
    """A Metadata request (non-flexible versions 1-8) for no topics: only the brokers are wanted."""
    body = struct.pack(">i", 0)  # topics: empty array (null would mean all topics)
    if version >= 4:
        body += b"\x00"  # allow_auto_topic_creation
    if version >= 8:
        body += b"\x00\x00"  # include cluster / topic authorized operations
    return body


def parse_metadata_broker_count(body: bytes, version: int) -> int:
    offset = 4 if version >= 3 else 0  # throttle_time_ms
    (count,) = struct.unpack_from(">i", body, offset)
    return count


API_METADATA, API_VERSIONS = 3, 18


def probe(bootstrap: str, *, timeout_s: float = 3.0, ssl_context: ssl.SSLContext | None = None,
          metadata: bool = True) -> bool:
    """Whether the broker at ``host:port`` answers ApiVersions and (``metadata``) lists at least one broker.

    A TCP connect alone is not enough: the port opens before the broker has
    joined its controller quorum and can serve requests.
    """
    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s) as raw:
            sock: socket.socket = ssl_context.wrap_socket(raw, server_hostname=host) if ssl_context else raw
            with sock:
                versions = parse_api_versions(_roundtrip(sock, API_VERSIONS, 0, 1, b""))
                if not metadata:
                    return True
                low, high = versions.get(API_METADATA, (0, -1))
                version = max(low, 1)
                if version > min(high, 8):
                    return True  # only flexible Metadata versions: ApiVersions has to do
                reply = _roundtrip(sock, API_METADATA, version, 2, metadata_request_body(version))
                return parse_metadata_broker_count(reply, version) >= 1
    except (OSError, ConnectionError, struct.error, ValueError):
        return False


def _wait_ready(process: subprocess.Popen[bytes], config: BrokerConfig, dir: Path, log_offset: int,
                timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        code = process.poll()
        if code is not None:
            tail = _tail(dir / LOG_FILE, since=log_offset)
            reason = _first_error(tail) or f"see {dir / LOG_FILE}"
            if "Address already in use" in tail:
                reason = f"port {config.port} or controller port {config.controller_port} is in use; pass --port with a free port"
            raise BrokerStartFailed(f"the Kafka broker exited during start-up (exit code {code}): {reason}", log_tail=tail)
        if probe(config.bootstrap):
            return
        if time.monotonic() >= deadline:
            tail = _tail(dir / LOG_FILE, since=log_offset)
            raise BrokerStartFailed(f"the Kafka broker did not answer on {config.bootstrap} within {timeout_s:.0f} s; "
                                    f"see {dir / LOG_FILE}", log_tail=tail)
        time.sleep(0.25)


# -- public API ---------------------------------------------------------------------------------------


def status(dir: Path | None = None) -> BrokerStatus:
    """Whether a broker runs on ``dir`` (its process is alive and was started on that directory)."""
    path = _resolve_dir(dir)
    pid = _running_pid(path)
    if pid is None:
        return BrokerStatus(running=False, pid=None, bootstrap=None, dir=path)
    config = _load_config(path)
    return BrokerStatus(running=True, pid=pid, bootstrap=config.bootstrap if config else None, dir=path)


def start(port: int | None = None, dir: Path | None = None, *, timeout_s: float = 120,
          progress: Callable[[str], None] | None = None) -> BrokerStatus:
    """Start the broker on ``dir`` and return once it serves requests; the broker outlives the caller.

    ``port`` defaults to the port this directory used before, else
    :data:`DEFAULT_PORT`.  If a broker already runs on ``dir`` its status is
    returned unchanged (the caller reports "already running").  ``progress``
    receives one-line notes on the slow steps (Maven, formatting, start-up).
    """
    note = progress or (lambda message: None)
    path = _resolve_dir(dir)
    path.mkdir(parents=True, exist_ok=True)
    with _file_lock(path / LOCK_FILE):
        current = status(path)
        if current.running:
            return current
        java = _require_java()
        config = configure(path, port)
        if not _cache_is_complete(jar_cache_dir(), _pom_hash()):
            note(f"resolving the Kafka {KAFKA_VERSION} jars with Maven into {jar_cache_dir()} (once) ...")
        jars = ensure_jars()
        note(f"starting Kafka {KAFKA_VERSION} on {config.bootstrap} in {path} (log: {path / LOG_FILE}) ...")
        with open(path / LOG_FILE, "a") as log:
            log.write(f"\n=== newswire: starting Kafka {KAFKA_VERSION} on {config.bootstrap} at "
                      f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} ===\n")
            log.flush()
            log_offset = log.tell()
            _format_storage(java, jars, path, config, log)
            command = _java_command(java, jars, path, "kafka.Kafka", str(path / PROPERTIES_FILE))
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=path, start_new_session=True)  # survives the CLI and its Ctrl-C
        _children[process.pid] = process
        _write_atomic(path / PID_FILE, f"{process.pid}\n")
        try:
            _wait_ready(process, config, path, log_offset, timeout_s)
        except BaseException:
            _terminate(process.pid, 15)
            (path / PID_FILE).unlink(missing_ok=True)
            raise
        return BrokerStatus(running=True, pid=process.pid, bootstrap=config.bootstrap, dir=path)


def stop(dir: Path | None = None, *, timeout_s: float = 60) -> bool:
    """Stop the broker on ``dir``: SIGTERM, wait up to ``timeout_s``, then SIGKILL. True if it was running."""
    path = _resolve_dir(dir)
    if not path.is_dir():
        return False
    with _file_lock(path / LOCK_FILE):
        pid = _running_pid(path)
        if pid is not None:
            _terminate(pid, timeout_s)
        (path / PID_FILE).unlink(missing_ok=True)
        return pid is not None


# -- command line ---------------------------------------------------------------------------------------


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _reports_errors(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """User errors become one line on stderr and exit code 1, whoever dispatches the command."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except ConfigError as exc:
            _say(f"error: {exc.detail or exc}")
            return 1

    run.__name__ = run.__qualname__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


@_reports_errors
def _cmd_start(args: argparse.Namespace) -> int:
    path = _resolve_dir(args.dir)
    before = status(path)
    if before.running:
        _say(f"broker already running (pid {before.pid}) in {path}")
        print(before.bootstrap, flush=True)
        return 0
    try:
        started = start(args.port, path, timeout_s=args.timeout, progress=_say)
    except BrokerStartFailed as exc:
        _say(f"error: {exc.detail}")
        if exc.log_tail:
            _say(f"--- last lines of {path / LOG_FILE} ---\n{exc.log_tail}")
        return 1
    _say(f"broker running (pid {started.pid}); stop it with `newswire broker stop --dir {path}`")
    print(started.bootstrap, flush=True)
    return 0


@_reports_errors
def _cmd_stop(args: argparse.Namespace) -> int:
    path = _resolve_dir(args.dir)
    if stop(path, timeout_s=args.timeout):
        print(f"broker stopped ({path})")
    else:
        print(f"broker not running ({path})")
    return 0


@_reports_errors
def _cmd_status(args: argparse.Namespace) -> int:
    current = status(args.dir)
    if current.running:
        print(f"broker running (pid {current.pid}) on {current.bootstrap} in {current.dir}")
        return 0
    print(f"broker not running ({current.dir})")
    return 1


def _add_actions(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="broker_command", required=True, metavar="{start,stop,status}")
    dir_help = "broker directory (default: $NEWSWIRE_BROKER_DIR or ./.newswire/broker)"

    start_parser = actions.add_parser("start", help="start a local single-node Kafka broker and print its bootstrap address")
    start_parser.add_argument("--port", type=int, default=None,
                              help=f"client port on {HOST} (default: the directory's previous port, else {DEFAULT_PORT})")
    start_parser.add_argument("--dir", type=Path, default=None, help=dir_help)
    start_parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait until the broker answers")
    start_parser.set_defaults(handler=_cmd_start)

    stop_parser = actions.add_parser("stop", help="stop the broker cleanly (SIGTERM, SIGKILL after --timeout)")
    stop_parser.add_argument("--dir", type=Path, default=None, help=dir_help)
    stop_parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for a clean shutdown")
    stop_parser.set_defaults(handler=_cmd_stop)

    status_parser = actions.add_parser("status", help="say whether the broker runs (exit code 0 if it does, else 1)")
    status_parser.add_argument("--dir", type=Path, default=None, help=dir_help)
    status_parser.set_defaults(handler=_cmd_status)


def add_cli(subparsers: Any) -> None:
    """Register ``broker start|stop|status``; each sets ``handler(args) -> exit code`` (errors already reported)."""
    parser = subparsers.add_parser("broker", help="run a local Kafka broker for development and tests",
                                   description="Run a real single-node Apache Kafka broker (KRaft) on 127.0.0.1.")
    _add_actions(parser)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.broker",
                                     description="Run a real single-node Apache Kafka broker (KRaft) on 127.0.0.1.")
    _add_actions(parser)
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
