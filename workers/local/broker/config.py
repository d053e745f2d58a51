"""What a broker directory is configured with: ports and cluster id (chosen once), secrets, server.properties.

``secure=True`` serves clients on two TLS listeners and no plaintext one:
SASL_SSL (SCRAM-SHA-512 users created when the storage is formatted; a client
certificate is verified when given) on the client port, and SSL with a
*required* client certificate (mutual TLS, the certificate is the identity,
no SASL) on a second port chosen once like the controller port.  With no
PLAINTEXT client listener, a test of secure mode cannot pass by falling back
to plaintext; the controller listener is TLS with a required client
certificate signed by the same CA.  :func:`client_settings` gives the
``NEWSWIRE_*`` client settings for either listener.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import string
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from .jars import KAFKA_VERSION
from .layout import (
    ADMIN_USER,
    CLIENT_USER,
    CONFIG_FILE,
    DATA_DIR,
    DEFAULT_PORT,
    HOST,
    LOG4J_FILE,
    NODE_ID,
    PROPERTIES_FILE,
    SCRAM_MECHANISM,
    SECRETS_FILE,
    TLS_DIR,
    packaged,
    resolve_dir,
    write_atomic,
)
from .ports import check_port, free_port
from .tls import make_tls

__all__ = [
    "BrokerConfig",
    "SecureSecrets",
    "FAST_START_PROPERTIES",
    "new_cluster_id",
    "replication_properties",
    "server_properties",
    "configure",
    "load_config",
    "load_secrets",
    "required_secrets",
    "client_settings",
]


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
        "# Generated by newswire (workers/local/broker) for a local single-node broker.",
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
            f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
            f"org.apache.kafka.common.security.scram.ScramLoginModule "
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


def load_config(dir: Path) -> BrokerConfig | None:
    """The directory's ``broker.json``, None when there is none; a damaged one is a ConfigError."""
    try:
        raw = json.loads((dir / CONFIG_FILE).read_text())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ConfigError(f"{dir / CONFIG_FILE} is not valid JSON ({exc}); remove {dir} to start afresh") from None
    try:
        mtls_port = raw.get("mtls_port")  # absent in plaintext mode and in secure directories made before it
        return BrokerConfig(port=int(raw["port"]), controller_port=int(raw["controller_port"]),
                            cluster_id=str(raw["cluster_id"]),
                            kafka_version=str(raw.get("kafka_version", KAFKA_VERSION)),
                            secure=bool(raw.get("secure", False)),
                            mtls_port=int(mtls_port) if mtls_port is not None else None)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ConfigError(f"{dir / CONFIG_FILE} is incomplete; remove {dir} to start afresh") from None


def _choose_config(dir: Path, port: int | None, secure: bool | None) -> tuple[BrokerConfig, BrokerConfig | None]:
    """The config to run with (the stored one, with a new ``port`` applied) and the stored one."""
    stored = load_config(dir)
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


def load_secrets(dir: Path) -> SecureSecrets | None:
    """The directory's ``secure.json``, None when there is none; a damaged one is a ConfigError."""
    try:
        raw = json.loads((dir / SECRETS_FILE).read_text())
        return SecureSecrets(**{key: str(raw[key])
                                for key in ("admin_password", "client_password", "keystore_password")})
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{dir / SECRETS_FILE} is damaged; remove {dir} to start afresh") from None


def required_secrets(dir: Path) -> SecureSecrets:
    """The secrets of a secure directory, which must have them."""
    secure = load_secrets(dir)
    if secure is None:
        raise ConfigError(f"{dir / SECRETS_FILE} is missing; remove {dir} to start afresh")
    return secure


def _secrets_for(dir: Path) -> SecureSecrets:
    existing = load_secrets(dir)
    if existing is not None:
        return existing
    created = SecureSecrets(_new_password(), _new_password(), _new_password())
    write_atomic(dir / SECRETS_FILE, json.dumps(asdict(created), indent=2) + "\n", private=True)
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
        write_atomic(dir / CONFIG_FILE, json.dumps(_config_json(config), indent=2) + "\n")
        write_atomic(properties, server_properties(config, dir, secure), private=config.secure)
    log4j = dir / LOG4J_FILE
    if not log4j.exists():
        write_atomic(log4j, packaged(LOG4J_FILE).decode())


def configure(dir: Path, port: int | None = None, *, secure: bool | None = None) -> BrokerConfig:
    """Choose (first time) or load the directory's config, check its ports are free, write the broker's files.

    ``secure=None`` keeps the directory's mode (plaintext for a new one).
    Nothing is written when a port is taken, so a failed start leaves no
    config behind that would pin the busy port.
    """
    config, stored = _choose_config(dir, port, secure)
    check_port(config.port, "client", dir)
    check_port(config.controller_port, "controller", dir)
    if config.mtls_port is not None:
        check_port(config.mtls_port, "mTLS", dir)
    _write_config(dir, config, stored)
    return config


def client_settings(dir: Path | None = None, mtls: bool = False) -> dict[str, str]:
    """The ``NEWSWIRE_*`` settings a client needs for the broker on ``dir`` (secure mode: TLS and SCRAM too).

    ``mtls=True`` (secure mode only): the settings for the SSL listener that
    requires a client certificate, where the certificate is the only
    credential (no SASL, so no password in them).
    """
    path = resolve_dir(dir)
    config = load_config(path)
    if config is None:
        raise ConfigError(f"no broker was set up in {path}; run `newswire broker start --dir {path}` first")
    if mtls:
        return _mtls_settings(path, config)
    settings = {"NEWSWIRE_BOOTSTRAP_SERVERS": config.bootstrap}
    if config.secure:
        secure = required_secrets(path)
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
