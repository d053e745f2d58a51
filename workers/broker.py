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
  (ApiVersions, then a Metadata request listing the broker; in secure mode
  after a SCRAM login over verified TLS), and the broker keeps running in its
  own session after the caller exits.

``secure=True`` (``--secure``) serves clients on two TLS listeners and no
plaintext one: SASL_SSL (SCRAM-SHA-512 users created when the storage is
formatted; a client certificate is verified when given) on the client port,
and SSL with a *required* client certificate (mutual TLS, the certificate is
the identity, no SASL) on a second port chosen once like the controller port.
A throwaway CA, broker and client certificate are made with ``openssl``.
:func:`client_settings` gives the ``NEWSWIRE_*`` client settings for either
listener (also written to ``client.env`` and ``client-mtls.env``).  With no
PLAINTEXT client listener, a test of secure mode cannot pass by falling back
to plaintext; the controller listener is TLS with a required client
certificate signed by the same CA.

User errors (no ``java``/``mvn``/``openssl``, port in use, Maven cannot
resolve) raise :class:`workers.errors.ConfigError` with a one-line message
that says what to do.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import dataclasses
import fcntl
import hashlib
import hmac
import json
import os
import random
import secrets
import shutil
import signal
import socket
import ssl
import string
import struct
import subprocess
import sys
import tempfile
import threading
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
    "client_settings",
    "make_tls",
    "SecureSecrets",
    "ScramClient",
    "new_cluster_id",
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
# C1 only and the serial collector: on a 2-core machine shared with the worker,
# C2 compiler and G1 threads cost more than they give a single dev broker.
# Measured here under load (3 runs each): StorageTool format 7.0 s -> 2.4 s,
# broker restart to ready 8-12 s -> 5-7 s, aiokafka produce rate not lower.
JVM_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
NODE_ID = 1

# Files inside the broker directory.
CONFIG_FILE = "broker.json"
PROPERTIES_FILE = "server.properties"
LOG4J_FILE = "log4j2.properties"
PID_FILE = "broker.pid"
LOG_FILE = "broker.log"
LOCK_FILE = ".broker.lock"
DATA_DIR = "data"
TLS_DIR = "tls"
SECRETS_FILE = "secure.json"
CLIENT_ENV_FILE = "client.env"
MTLS_ENV_FILE = "client-mtls.env"  # the settings for the mutual-TLS-only (SSL) listener

# Secure mode: the SCRAM users created at format time.
SCRAM_MECHANISM = "SCRAM-SHA-512"
CLIENT_USER = "newswire"
ADMIN_USER = "admin"  # the broker's own login on its inter-broker listener

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
    secure: bool = False  # SASL_SSL + SCRAM-SHA-512; see client_settings()
    mtls_bootstrap: str | None = None  # secure mode: the SSL listener that requires a client certificate


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """What is chosen once per broker directory and kept across restarts."""

    port: int
    controller_port: int
    cluster_id: str
    kafka_version: str = KAFKA_VERSION
    secure: bool = False
    # Secure mode's SSL listener requiring a client certificate (no SASL).  None in plaintext mode, and in a
    # secure directory made before that listener existed until its next start chooses one.
    mtls_port: int | None = None

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def mtls_bootstrap(self) -> str | None:
        return f"{HOST}:{self.mtls_port}" if self.mtls_port is not None else None


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
    present) is used as is, without ``mvn``; so is a ``NEWSWIRE_KAFKA_CACHE``
    that holds ``kafka_2.13-<version>.jar`` without a marker (e.g. the
    ``libs/`` of a Kafka distribution), which is never written to.
    Resolution goes to a temporary sibling directory that replaces the cache
    only when Maven succeeded, under a file lock, so concurrent starts neither
    run Maven twice nor see half a cache.
    """
    cache = jar_cache_dir()
    pom = _packaged("pom.xml")
    pom_hash = _pom_hash()
    if _cache_is_complete(cache, pom_hash):
        return cache
    provided = os.environ.get("NEWSWIRE_KAFKA_CACHE") and not (cache / CACHE_MARKER).exists()
    if provided and (cache / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file():
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(cache.parent / f".{cache.name}.lock"):
        if _cache_is_complete(cache, pom_hash):
            return cache
        mvn = _require_tool("mvn", "install Apache Maven 3.8+ (e.g. `apt-get install maven`) so the Kafka "
                                   f"{KAFKA_VERSION} jars can be fetched, or set NEWSWIRE_KAFKA_CACHE to a "
                                   "directory that holds them")
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


@dataclass(frozen=True, slots=True)
class SecureSecrets:
    """Secure mode's passwords, generated once per directory (``secure.json``, mode 0600)."""

    admin_password: str
    client_password: str
    keystore_password: str


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as ``kafka-storage random-uuid``).

    Like Kafka's ``Uuid.randomUuid`` it never starts with "-", which the
    StorageTool's argument parser would take for an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _new_password() -> str:
    # Letters and digits only: the value goes into StorageTool's --add-scram [k=v,...] syntax and a JAAS line.
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(24))


#: Fast start and fast group joins for development and tests (the single broker and the local cluster).
FAST_START_PROPERTIES = (
    "# Fast start and fast group joins for development and tests.",
    "offsets.topic.num.partitions=6",
    "transaction.state.log.num.partitions=6",
    "group.initial.rebalance.delay.ms=0",
    "num.partitions=1",
    "auto.create.topics.enable=true",
)


def replication_properties(replicas: int, min_insync: int) -> list[str]:
    """Replication of new topics and of Kafka's own (offsets, transaction state, share state) topics."""
    return [
        f"default.replication.factor={replicas}",
        f"min.insync.replicas={min_insync}",
        f"offsets.topic.replication.factor={replicas}",
        f"transaction.state.log.replication.factor={replicas}",
        f"transaction.state.log.min.isr={min_insync}",
        f"share.coordinator.state.topic.replication.factor={replicas}",
        f"share.coordinator.state.topic.min.isr={min_insync}",
    ]


def server_properties(config: BrokerConfig, dir: Path, secure: SecureSecrets | None = None) -> str:
    """The broker's server.properties: one KRaft node on 127.0.0.1 tuned for fast start and tests."""
    if config.secure and (secure is None or config.mtls_port is None):
        raise ValueError("a secure broker needs its SecureSecrets and its mTLS port")
    client_listener = "SASL_SSL" if config.secure else "PLAINTEXT"
    controller_protocol = "SSL" if config.secure else "PLAINTEXT"
    # Secure mode adds a client listener named SSL (protocol SSL) that requires a client certificate.
    client_listeners = [f"{client_listener}://{HOST}:{config.port}"]
    protocol_map = [f"{client_listener}:{client_listener}"]
    if config.secure:
        client_listeners.append(f"SSL://{HOST}:{config.mtls_port}")
        protocol_map.append("SSL:SSL")
    lines = [
        "# Generated by newswire (workers/broker.py) for a local single-node broker.",
        "# It is kept and reused on restart; it is rewritten only when the port changes.",
        "process.roles=broker,controller",
        f"node.id={NODE_ID}",
        f"controller.quorum.voters={NODE_ID}@{HOST}:{config.controller_port}",
        "controller.listener.names=CONTROLLER",
        f"listeners={','.join(client_listeners)},CONTROLLER://{HOST}:{config.controller_port}",
        f"advertised.listeners={','.join(client_listeners)}",
        f"listener.security.protocol.map={','.join(protocol_map)},CONTROLLER:{controller_protocol}",
        f"inter.broker.listener.name={client_listener}",
        f"log.dirs={dir / DATA_DIR}",
        "",
        "# One node: every internal topic has one replica.",
        *replication_properties(replicas=1, min_insync=1),
        "",
        *FAST_START_PROPERTIES,
        "",
    ]
    if config.secure and secure is not None:
        tls = dir / TLS_DIR
        lines += [
            "# Secure mode: clients on SASL_SSL with SCRAM-SHA-512 (users created at format time), or on SSL with a",
            "# client certificate signed by the CA (mutual TLS, no SASL); no plaintext listener.",
            f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
            f"sasl.mechanism.inter.broker.protocol={SCRAM_MECHANISM}",
            f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule "
            f'required username="{ADMIN_USER}" password="{secure.admin_password}";',
            "ssl.keystore.type=PKCS12",
            f"ssl.keystore.location={tls / 'broker.p12'}",
            f"ssl.keystore.password={secure.keystore_password}",
            f"ssl.key.password={secure.keystore_password}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={tls / 'ca.crt'}",
            "# A client certificate is optional on SASL_SSL (mTLS when given, then it must be signed by the CA) and",
            "# required on SSL, where it is the only credential; the controller listener accepts only CA-signed",
            "# certificates (the broker's own).",
            "listener.name.sasl_ssl.ssl.client.auth=requested",
            "listener.name.ssl.ssl.client.auth=required",
            "listener.name.controller.ssl.client.auth=required",
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
        mtls_port = raw.get("mtls_port")  # absent in plaintext mode and in secure directories made before it
        return BrokerConfig(port=int(raw["port"]), controller_port=int(raw["controller_port"]),
                            cluster_id=str(raw["cluster_id"]), kafka_version=str(raw.get("kafka_version", KAFKA_VERSION)),
                            secure=bool(raw.get("secure", False)),
                            mtls_port=int(mtls_port) if mtls_port is not None else None)
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"{dir / CONFIG_FILE} is incomplete; remove {dir} to start afresh") from None


def _choose_config(dir: Path, port: int | None, secure: bool | None) -> tuple[BrokerConfig, BrokerConfig | None]:
    """The config to run with (the stored one, with a new ``port`` applied) and the stored one."""
    stored = _load_config(dir)
    if stored is None:
        chosen = port if port is not None else DEFAULT_PORT
        controller_port = free_port(exclude={chosen})
        config = BrokerConfig(port=chosen, controller_port=controller_port, cluster_id=new_cluster_id(),
                              secure=bool(secure),
                              mtls_port=free_port(exclude={chosen, controller_port}) if secure else None)
    else:
        if secure is not None and secure != stored.secure:
            # SCRAM users are created when the storage is formatted, so the mode cannot change afterwards.
            mode = "secure (SASL_SSL)" if stored.secure else "plaintext"
            raise ConfigError(f"{dir} holds a {mode} broker; use another --dir for "
                              f"{'--secure' if secure else 'a plaintext broker'} (or remove {dir})")
        config = dataclasses.replace(stored, port=port) if port is not None else stored
        if config.secure and config.mtls_port is None:
            # A secure directory from before the mTLS listener: choose its port now, stored from here on.
            config = dataclasses.replace(config, mtls_port=free_port(exclude={config.port, config.controller_port}))
    if config.kafka_version != KAFKA_VERSION:
        raise ConfigError(f"{dir} holds a Kafka {config.kafka_version} broker but this newswire runs {KAFKA_VERSION}; "
                          "use another --dir or remove it")
    if config.port == config.controller_port:
        raise ConfigError(f"port {config.port} is this broker's controller port; pass another --port")
    if config.port == config.mtls_port:
        raise ConfigError(f"port {config.port} is this broker's mTLS (SSL) port; pass another --port")
    return config, stored


def _load_secrets(dir: Path) -> SecureSecrets | None:
    try:
        raw = json.loads((dir / SECRETS_FILE).read_text())
        return SecureSecrets(**{key: str(raw[key]) for key in ("admin_password", "client_password", "keystore_password")})
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{dir / SECRETS_FILE} is damaged; remove {dir} to start afresh") from None


def _secrets_for(dir: Path) -> SecureSecrets:
    existing = _load_secrets(dir)
    if existing is not None:
        return existing
    created = SecureSecrets(_new_password(), _new_password(), _new_password())
    _write_atomic(dir / SECRETS_FILE, json.dumps(asdict(created), indent=2) + "\n", private=True)
    return created


def _config_json(config: BrokerConfig) -> dict[str, Any]:
    """broker.json's content; a plaintext directory has no mTLS port, so its file keeps its old shape."""
    raw = asdict(config)
    if raw["mtls_port"] is None:
        del raw["mtls_port"]
    return raw


def _write_config(dir: Path, config: BrokerConfig, stored: BrokerConfig | None) -> None:
    """Write what the broker reads; server.properties is kept as is unless the config changed."""
    secure = None
    if config.secure:
        secure = _secrets_for(dir)
        make_tls(dir / TLS_DIR, secure.keystore_password)
    properties = dir / PROPERTIES_FILE
    if config != stored or not properties.exists():
        _write_atomic(dir / CONFIG_FILE, json.dumps(_config_json(config), indent=2) + "\n")
        _write_atomic(properties, server_properties(config, dir, secure), private=config.secure)
    log4j = dir / LOG4J_FILE
    if not log4j.exists():
        _write_atomic(log4j, _packaged(LOG4J_FILE).decode())


def configure(dir: Path, port: int | None = None, *, secure: bool | None = None) -> BrokerConfig:
    """Choose (first time) or load the directory's config, check its ports are free, write the broker's files.

    ``secure=None`` keeps the directory's mode (plaintext for a new one).
    Nothing is written when a port is taken, so a failed start leaves no
    config behind that would pin the busy port.
    """
    config, stored = _choose_config(dir, port, secure)
    _check_port(config.port, "client", dir)
    _check_port(config.controller_port, "controller", dir)
    if config.mtls_port is not None:
        _check_port(config.mtls_port, "mTLS", dir)
    _write_config(dir, config, stored)
    return config


def client_settings(dir: Path | None = None, mtls: bool = False) -> dict[str, str]:
    """The ``NEWSWIRE_*`` settings a client needs for the broker on ``dir`` (secure mode: TLS and SCRAM too).

    ``mtls=True`` (secure mode only): the settings for the SSL listener that
    requires a client certificate, where the certificate is the only
    credential (no SASL, so no password in them).
    """
    path = _resolve_dir(dir)
    config = _load_config(path)
    if config is None:
        raise ConfigError(f"no broker was set up in {path}; run `newswire broker start --dir {path}` first")
    if mtls:
        return _mtls_settings(path, config)
    settings = {"NEWSWIRE_BOOTSTRAP_SERVERS": config.bootstrap}
    if config.secure:
        secure = _load_secrets(path)
        if secure is None:
            raise ConfigError(f"{path / SECRETS_FILE} is missing; remove {path} to start afresh")
        tls = path / TLS_DIR
        settings.update({
            "NEWSWIRE_SECURITY_PROTOCOL": "SASL_SSL",
            "NEWSWIRE_SASL_MECHANISM": SCRAM_MECHANISM,
            "NEWSWIRE_SASL_USERNAME": CLIENT_USER,
            "NEWSWIRE_SASL_PASSWORD": secure.client_password,
            "NEWSWIRE_SSL_CAFILE": str(tls / "ca.crt"),
            "NEWSWIRE_SSL_CERTFILE": str(tls / "client.crt"),  # optional: mTLS
            "NEWSWIRE_SSL_KEYFILE": str(tls / "client.key"),
        })
    return settings


def _mtls_settings(dir: Path, config: BrokerConfig) -> dict[str, str]:
    if not config.secure:
        raise ConfigError(f"{dir} holds a plaintext broker, which has no mutual TLS listener; "
                          "use `newswire broker start --secure` with another --dir")
    if config.mtls_bootstrap is None:
        raise ConfigError(f"the secure broker in {dir} was set up before its mutual TLS listener existed; "
                          f"restart it (`newswire broker stop --dir {dir}`, then `start`) to add one")
    tls = dir / TLS_DIR
    return {
        "NEWSWIRE_BOOTSTRAP_SERVERS": config.mtls_bootstrap,
        "NEWSWIRE_SECURITY_PROTOCOL": "SSL",
        "NEWSWIRE_SSL_CAFILE": str(tls / "ca.crt"),
        "NEWSWIRE_SSL_CERTFILE": str(tls / "client.crt"),
        "NEWSWIRE_SSL_KEYFILE": str(tls / "client.key"),
    }


# -- secure mode: a throwaway CA, the broker's keystore, a client certificate -----------------

_CERT_DAYS = "825"


def _openssl(tls: Path, *args: str) -> None:
    openssl = _require_tool("openssl", "install OpenSSL (e.g. `apt-get install openssl`); --secure makes its "
                                       "certificates with it")
    done = subprocess.run([openssl, *args], cwd=tls, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        reason = next((line for line in reversed(done.stderr.splitlines()) if line.strip()), f"exit code {done.returncode}")
        raise ConfigError(f"openssl {args[0]} failed while making the certificates in {tls} ({_shorten(reason)}); "
                          f"remove {tls} and retry")


def _issue(tls: Path, name: str, subject: str, extensions: str) -> None:
    """A key and a certificate for ``name`` signed by the CA in ``tls``."""
    _openssl(tls, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject)
    (tls / f"{name}.ext").write_text(extensions)
    _openssl(tls, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", _CERT_DAYS, "-sha256", "-extfile", f"{name}.ext", "-out", f"{name}.crt")
    for leftover in (f"{name}.csr", f"{name}.ext", "ca.srl"):
        (tls / leftover).unlink(missing_ok=True)


def make_tls(tls: Path, keystore_password: str) -> None:
    """Create (once) ``ca.crt``/``ca.key``, the broker keystore ``broker.p12`` and ``client.crt``/``client.key``.

    The broker certificate names 127.0.0.1 and localhost, so clients verify
    the hostname as well as the chain.
    """
    wanted = ("ca.crt", "broker.p12", "client.crt", "client.key")
    if all((tls / name).is_file() for name in wanted):
        return
    if tls.exists():
        shutil.rmtree(tls)  # half made by an interrupted start: make it again as a whole
    tls.mkdir(mode=0o700, parents=True)
    # EC P-256 keys: generated in milliseconds (RSA takes seconds on a busy 2-core machine), fine for JDK 17 and Python.
    _openssl(tls, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "ca.key", "-out", "ca.crt",
             "-days", _CERT_DAYS, "-sha256", "-subj", "/CN=newswire local broker CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    common = ("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
              "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    _issue(tls, "broker", "/CN=localhost",
           common + "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _issue(tls, "client", f"/CN={CLIENT_USER}", common + "extendedKeyUsage=clientAuth\n")
    _openssl(tls, "pkcs12", "-export", "-in", "broker.crt", "-inkey", "broker.key", "-certfile", "ca.crt",
             "-name", "broker", "-out", "broker.p12", "-passout", f"pass:{keystore_password}")
    (tls / "broker.key").unlink()  # it lives on in the keystore
    for key in tls.glob("*.key"):
        key.chmod(0o600)


def _write_atomic(path: Path, text: str, *, private: bool = False) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    # A private file (passwords) is created 0600, never readable by others even for a moment.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
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
        if role == "mTLS":
            # A secure directory without a stored mTLS port chooses a new one at start (see _choose_config).
            raise ConfigError(f"mTLS (SSL) port {port} of the broker in {dir} is in use: stop what listens there, "
                              f'or remove "mtls_port" from {dir / CONFIG_FILE} to choose a new one (data is kept)')
        raise ConfigError(f"{role} port {port} of the broker in {dir} is in use: stop what listens there, "
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
        if " ERROR " in line or "Exception" in line or "error:" in line.lower():
            return _shorten(line.strip())
    return None


def _shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _java_command(java: str, jars: Path, dir: Path, main_class: str, *args: str) -> list[str]:
    return [java, f"-Xmx{JVM_HEAP}", *JVM_OPTIONS, "-Djava.awt.headless=true", "-XX:+ExitOnOutOfMemoryError",
            f"-Dlog4j2.configurationFile={dir / LOG4J_FILE}", "-cp", f"{jars}/*", main_class, *args]


def _format_storage(java: str, jars: Path, dir: Path, config: BrokerConfig, log: TextIO) -> None:
    if (dir / DATA_DIR / "meta.properties").exists():
        return
    command = _java_command(java, jars, dir, "kafka.tools.StorageTool", "format",
                            "-t", config.cluster_id, "-c", str(dir / PROPERTIES_FILE))
    secure = _load_secrets(dir) if config.secure else None
    if secure is not None:
        # SCRAM credentials live in the cluster metadata; formatting is where a KRaft cluster gets its first ones.
        for user, password in ((ADMIN_USER, secure.admin_password), (CLIENT_USER, secure.client_password)):
            command += ["--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={password}]"]
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
    count: int = struct.unpack_from(">i", body, offset)[0]
    return count


API_METADATA, API_SASL_HANDSHAKE, API_VERSIONS, API_SASL_AUTHENTICATE = 3, 17, 18, 36


class ScramClient:
    """The client side of SCRAM (RFC 5802/7677) with SHA-512, as Kafka's SCRAM-SHA-512 mechanism speaks it."""

    def __init__(self, username: str, password: str, nonce: str | None = None) -> None:
        self.username = username.replace("=", "=3D").replace(",", "=2C")
        self.password = password
        self.nonce = nonce or secrets.token_urlsafe(24)
        self._auth_message = ""
        self._server_key = b""

    def first_message(self) -> bytes:
        self._client_first_bare = f"n={self.username},r={self.nonce}"
        return f"n,,{self._client_first_bare}".encode()

    def final_message(self, server_first: bytes) -> bytes:
        text = server_first.decode()
        fields = dict(part.split("=", 1) for part in text.split(","))
        nonce, salt, iterations = fields["r"], base64.b64decode(fields["s"]), int(fields["i"])
        if not nonce.startswith(self.nonce):
            raise ConnectionError("SCRAM: the server nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac("sha512", self.password.encode(), salt, iterations)
        client_key = hmac.digest(salted, b"Client Key", "sha512")
        without_proof = f"c=biws,r={nonce}"
        self._auth_message = f"{self._client_first_bare},{text},{without_proof}"
        signature = hmac.digest(hashlib.sha512(client_key).digest(), self._auth_message.encode(), "sha512")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_key = hmac.digest(salted, b"Server Key", "sha512")
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify_server_final(self, server_final: bytes) -> None:
        expected = hmac.digest(self._server_key, self._auth_message.encode(), "sha512")
        if server_final.decode() != "v=" + base64.b64encode(expected).decode():
            raise ConnectionError("SCRAM: the server's signature does not match (not the broker we set up)")


def _kafka_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def _sasl_authenticate(sock: socket.socket, version: int, correlation_id: int, token: bytes) -> bytes:
    reply = _roundtrip(sock, API_SASL_AUTHENTICATE, version, correlation_id, struct.pack(">i", len(token)) + token)
    error_code, message_length = struct.unpack_from(">hh", reply)
    offset = 4 + max(message_length, 0)
    if error_code != 0:
        message = reply[4:offset].decode(errors="replace")
        raise ConnectionError(f"SASL authentication failed (error {error_code}): {message}")
    (size,) = struct.unpack_from(">i", reply, offset)
    return reply[offset + 4: offset + 4 + size]


def scram_login(sock: socket.socket, versions: dict[int, tuple[int, int]], username: str, password: str) -> None:
    """SaslHandshake v1 + SaslAuthenticate (non-flexible v0/v1) with SCRAM-SHA-512; raises if refused."""
    low, high = versions.get(API_SASL_HANDSHAKE, (0, -1))
    if not low <= 1 <= high:
        raise ConnectionError("the broker does not speak SaslHandshake v1")
    reply = _roundtrip(sock, API_SASL_HANDSHAKE, 1, 3, _kafka_string(SCRAM_MECHANISM))
    (error_code,) = struct.unpack_from(">h", reply)
    if error_code != 0:
        raise ConnectionError(f"SaslHandshake error {error_code}: {SCRAM_MECHANISM} not enabled")
    low, high = versions.get(API_SASL_AUTHENTICATE, (0, -1))
    version = max(low, 0)
    if version > min(high, 1):
        raise ConnectionError("the broker speaks only flexible SaslAuthenticate versions")
    client = ScramClient(username, password)
    server_first = _sasl_authenticate(sock, version, 4, client.first_message())
    server_final = _sasl_authenticate(sock, version, 5, client.final_message(server_first))
    client.verify_server_final(server_final)


def probe(bootstrap: str, *, timeout_s: float = 3.0, ssl_context: ssl.SSLContext | None = None,
          sasl: tuple[str, str] | None = None, metadata: bool = True) -> bool:
    """Whether the broker at ``host:port`` answers ApiVersions and (``metadata``) lists at least one broker.

    A TCP connect alone is not enough: the port opens before the broker has
    joined its controller quorum and can serve requests.  For a secure broker
    pass ``ssl_context`` (verifying its certificate) and ``sasl=(user, password)``:
    the probe then logs in with SCRAM-SHA-512 before asking for metadata.
    """
    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s) as raw:
            sock: socket.socket = ssl_context.wrap_socket(raw, server_hostname=host) if ssl_context else raw
            with sock:
                versions = parse_api_versions(_roundtrip(sock, API_VERSIONS, 0, 1, b""))
                if sasl is not None:
                    scram_login(sock, versions, *sasl)
                if not metadata:
                    return True
                low, high = versions.get(API_METADATA, (0, -1))
                version = max(low, 1)
                if version > min(high, 8):
                    return True  # only flexible Metadata versions: ApiVersions has to do
                reply = _roundtrip(sock, API_METADATA, version, 2, metadata_request_body(version))
                return parse_metadata_broker_count(reply, version) >= 1
    except (OSError, ConnectionError, struct.error, ValueError, KeyError, UnicodeDecodeError):
        return False


def _probe_targets(dir: Path, config: BrokerConfig) -> list[tuple[str, dict[str, Any]]]:
    """Each client listener of this directory's broker and how to reach it as a client.

    Secure mode: the SASL_SSL port with the CA and the client's SCRAM login,
    and the mTLS port with the CA and the client certificate (no login).
    """
    if not config.secure:
        return [(config.bootstrap, {})]
    secure = _load_secrets(dir)
    if secure is None:
        raise ConfigError(f"{dir / SECRETS_FILE} is missing; remove {dir} to start afresh")
    tls = dir / TLS_DIR
    targets: list[tuple[str, dict[str, Any]]] = [
        (config.bootstrap, {"ssl_context": ssl.create_default_context(cafile=str(tls / "ca.crt")),
                            "sasl": (CLIENT_USER, secure.client_password)})]
    if config.mtls_bootstrap is not None:
        with_certificate = ssl.create_default_context(cafile=str(tls / "ca.crt"))
        with_certificate.load_cert_chain(tls / "client.crt", tls / "client.key")
        targets.append((config.mtls_bootstrap, {"ssl_context": with_certificate}))
    return targets


def _wait_ready(process: subprocess.Popen[bytes], config: BrokerConfig, dir: Path, log_offset: int,
                timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    waiting = _probe_targets(dir, config)  # ready once every client listener has answered
    while True:
        code = process.poll()
        if code is not None:
            tail = _tail(dir / LOG_FILE, since=log_offset)
            reason = _first_error(tail) or f"see {dir / LOG_FILE}"
            if "Address already in use" in tail:
                others = f"controller port {config.controller_port}"
                if config.mtls_port is not None:
                    others += f" or mTLS port {config.mtls_port}"
                reason = f"port {config.port} or {others} is in use; pass --port with a free port"
            raise BrokerStartFailed(f"the Kafka broker exited during start-up (exit code {code}): {reason}", log_tail=tail)
        while waiting and probe(waiting[0][0], **waiting[0][1]):
            waiting.pop(0)
        if not waiting:
            return
        if time.monotonic() >= deadline:
            tail = _tail(dir / LOG_FILE, since=log_offset)
            raise BrokerStartFailed(f"the Kafka broker did not answer on {waiting[0][0]} within {timeout_s:.0f} s; "
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
    return BrokerStatus(running=True, pid=pid, bootstrap=config.bootstrap if config else None, dir=path,
                        secure=bool(config and config.secure), mtls_bootstrap=config.mtls_bootstrap if config else None)


def start(port: int | None = None, dir: Path | None = None, *, timeout_s: float = 120, secure: bool | None = None,
          progress: Callable[[str], None] | None = None, stop_with_caller: bool = False) -> BrokerStatus:
    """Start the broker on ``dir`` and return once it serves requests; the broker outlives the caller.

    ``port`` defaults to the port this directory used before, else
    :data:`DEFAULT_PORT`; ``secure`` to the directory's mode, else plaintext.
    If a broker already runs on ``dir`` its status is returned unchanged (the
    caller reports "already running").  ``progress`` receives one-line notes
    on the slow steps.  ``stop_with_caller`` (tests) has the kernel stop the
    broker when the calling thread's process dies, even by SIGKILL.
    """
    note = progress or (lambda message: None)
    path = _resolve_dir(dir)
    path.mkdir(parents=True, exist_ok=True)
    with _file_lock(path / LOCK_FILE):
        current = status(path)
        if current.running:
            if secure is not None and secure != current.secure:
                mode = "secure" if current.secure else "plaintext"
                raise ConfigError(f"a {mode} broker already runs in {path}; stop it, or use another --dir")
            return current
        java = _require_java()
        config = configure(path, port, secure=secure)
        if not _cache_is_complete(jar_cache_dir(), _pom_hash()):
            note(f"resolving the Kafka {KAFKA_VERSION} jars with Maven into {jar_cache_dir()} (once) ...")
        jars = ensure_jars()
        mode = f"SASL_SSL, and SSL with client certificates on {config.mtls_bootstrap}" if config.secure else "PLAINTEXT"
        note(f"starting Kafka {KAFKA_VERSION} ({mode}) on {config.bootstrap} in {path} (log: {path / LOG_FILE}) ...")
        with open(path / LOG_FILE, "a") as log:
            log.write(f"\n=== newswire: starting Kafka {KAFKA_VERSION} ({mode}) on {config.bootstrap} at "
                      f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} ===\n")
            log.flush()
            log_offset = log.tell()
            _format_storage(java, jars, path, config, log)
            command = _java_command(java, jars, path, "kafka.Kafka", str(path / PROPERTIES_FILE))
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=path, start_new_session=True,  # survives the CLI and its Ctrl-C
                                       preexec_fn=_stop_with_parent() if stop_with_caller else None)
        _children[process.pid] = process
        _write_atomic(path / PID_FILE, f"{process.pid}\n")
        try:
            _wait_ready(process, config, path, log_offset, timeout_s)
        except BaseException:
            _terminate(process.pid, 15)
            (path / PID_FILE).unlink(missing_ok=True)
            raise
        if config.secure:
            for name, mtls in ((CLIENT_ENV_FILE, False), (MTLS_ENV_FILE, True)):
                env = "".join(f"{key}={value}\n" for key, value in client_settings(path, mtls=mtls).items())
                _write_atomic(path / name, env, private=True)
        return BrokerStatus(running=True, pid=process.pid, bootstrap=config.bootstrap, dir=path, secure=config.secure,
                            mtls_bootstrap=config.mtls_bootstrap)


def _stop_with_parent() -> Callable[[], None] | None:
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


def _print_address(current: BrokerStatus) -> None:
    """Secure mode: the client settings (``NAME=value``, sourceable); always last: the bootstrap address.

    stdout holds one set of settings (SASL_SSL), so sourcing or parsing it
    stays unambiguous; the mutual-TLS-only settings, which have the same
    names, go to stderr as a second block and to ``client-mtls.env``.
    """
    if current.secure:
        for key, value in client_settings(current.dir).items():
            print(f"{key}={value}")
        _say(f"client settings also in {current.dir / CLIENT_ENV_FILE} (`set -a; . {current.dir / CLIENT_ENV_FILE}`)")
        if current.mtls_bootstrap is not None:
            _say(f"mutual TLS only (SSL, the client certificate is the identity, no SASL) on {current.mtls_bootstrap}; "
                 f"settings in {current.dir / MTLS_ENV_FILE} (`set -a; . {current.dir / MTLS_ENV_FILE}`):")
            for key, value in client_settings(current.dir, mtls=True).items():
                _say(f"  {key}={value}")
    print(current.bootstrap, flush=True)


@_reports_errors
def _cmd_start(args: argparse.Namespace) -> int:
    path = _resolve_dir(args.dir)
    before = status(path)
    if before.running and args.secure in (None, before.secure):
        _say(f"broker already running (pid {before.pid}) in {path}")
        if args.port is not None and before.bootstrap != f"{HOST}:{args.port}":
            _say(f"(--port {args.port} not applied: stop the broker first to move it)")
        _print_address(before)
        return 0
    try:
        started = start(args.port, path, timeout_s=args.timeout, secure=args.secure, progress=_say)
    except BrokerStartFailed as exc:
        _say(f"error: {exc.detail}")
        if exc.log_tail:
            _say(f"--- last lines of {path / LOG_FILE} ---\n{exc.log_tail}")
        return 1
    _say(f"broker running (pid {started.pid}); stop it with `newswire broker stop --dir {path}`")
    _print_address(started)
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
        mode = " (SASL_SSL)" if current.secure else ""
        if current.mtls_bootstrap is not None:
            mode += f", {current.mtls_bootstrap} (SSL, client certificate required)"
        print(f"broker running (pid {current.pid}) on {current.bootstrap}{mode} in {current.dir}")
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
    start_parser.add_argument("--secure", action="store_true", default=None,
                              help="clients only over TLS with a throwaway CA: SASL_SSL with SCRAM-SHA-512 on --port, "
                                   "and SSL with a required client certificate on a second port; prints the NEWSWIRE_* "
                                   "client settings (chosen when the directory is first used)")
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
