"""The broker directory's configuration: server.properties, ports chosen once, secure mode's secrets and settings."""

from __future__ import annotations

import base64
import json
import re
import socket
import stat
from pathlib import Path

import pytest

from tests.unit.local.broker.support import (
    assert_one_line,
    needs_openssl,
    parse_properties,
    secure_config,
)
from workers.errors import ConfigError
from workers.local import broker


def test_server_properties_bind_loopback_and_tune_one_node(tmp_path: Path) -> None:
    config = broker.BrokerConfig(port=29092, controller_port=29093, cluster_id=broker.new_cluster_id())
    props = parse_properties(broker.server_properties(config, tmp_path))

    listeners = props["listeners"].split(",")
    assert listeners == ["PLAINTEXT://127.0.0.1:29092", "CONTROLLER://127.0.0.1:29093"]
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092"
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == f"{props['node.id']}@127.0.0.1:29093"
    assert props["log.dirs"] == str(tmp_path / "data")
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr", "share.coordinator.state.topic.replication.factor",
                "default.replication.factor"):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert int(props["offsets.topic.num.partitions"]) <= 10


def test_cluster_id_is_a_kafka_uuid() -> None:
    cluster_id = broker.new_cluster_id()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id)
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert broker.new_cluster_id() != cluster_id
    # A leading "-" makes `kafka-storage format -t <id>` fail ("expected one argument"); 1 in 64 ids would.
    assert not any(broker.new_cluster_id().startswith("-") for _ in range(2000))


def test_configure_chooses_ports_once_and_keeps_them(tmp_path: Path) -> None:
    port = broker.free_port()
    first = broker.configure(tmp_path, port)
    assert first.port == port and first.controller_port != port

    again = broker.configure(tmp_path)  # no port: the directory's own
    assert again == first
    stored = json.loads((tmp_path / "broker.json").read_text())
    assert stored["controller_port"] == first.controller_port and stored["cluster_id"] == first.cluster_id
    assert (tmp_path / "log4j2.properties").read_text().strip()


def test_configure_reuses_server_properties_until_the_port_changes(tmp_path: Path) -> None:
    first = broker.configure(tmp_path, broker.free_port())
    properties = tmp_path / "server.properties"
    properties.write_text(properties.read_text() + "# local edit\n")

    broker.configure(tmp_path)
    assert properties.read_text().endswith("# local edit\n")

    new_port = broker.free_port(exclude={first.port, first.controller_port})
    moved = broker.configure(tmp_path, new_port)
    assert (moved.port, moved.controller_port, moved.cluster_id) == (new_port, first.controller_port, first.cluster_id)
    assert f"PLAINTEXT://127.0.0.1:{new_port}" in properties.read_text()


def test_defaults_follow_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWSWIRE_BROKER_DIR", str(tmp_path / "b"))
    monkeypatch.setenv("NEWSWIRE_KAFKA_CACHE", str(tmp_path / "jars"))
    assert broker.default_dir() == tmp_path / "b"
    assert broker.jar_cache_dir() == tmp_path / "jars"
    monkeypatch.delenv("NEWSWIRE_BROKER_DIR")
    monkeypatch.delenv("NEWSWIRE_KAFKA_CACHE")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert broker.default_dir() == tmp_path / ".newswire" / "broker"
    assert broker.jar_cache_dir() == tmp_path / "home" / ".cache" / "newswire" / f"kafka-{broker.KAFKA_VERSION}"


def test_secure_properties_offer_clients_sasl_ssl_and_mutual_tls_only(tmp_path: Path) -> None:
    secrets = broker.SecureSecrets(admin_password="adminpw", client_password="clientpw", keystore_password="storepw")
    props = parse_properties(broker.server_properties(secure_config(), tmp_path, secrets))

    assert props["listeners"] == "SASL_SSL://127.0.0.1:29092,SSL://127.0.0.1:29094,CONTROLLER://127.0.0.1:29093"
    assert props["advertised.listeners"] == "SASL_SSL://127.0.0.1:29092,SSL://127.0.0.1:29094"
    assert "PLAINTEXT" not in props["listener.security.protocol.map"]  # no plaintext way in, controller included
    assert props["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:SSL"
    # The SSL listener has no SASL, so the client certificate must be required there: it is the only credential.
    assert props["listener.name.ssl.ssl.client.auth"] == "required"
    assert props["listener.name.sasl_ssl.ssl.client.auth"] == "requested"
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert "ssl.client.auth" not in props  # no broker-wide default that would loosen the SSL listener
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["inter.broker.listener.name"] == "SASL_SSL"
    assert 'username="admin" password="adminpw"' in props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert props["ssl.keystore.location"] == str(tmp_path / "tls" / "broker.p12")
    assert props["ssl.keystore.password"] == "storepw"
    with pytest.raises(ValueError):
        broker.server_properties(secure_config(), tmp_path)  # secure without its secrets is a bug
    with pytest.raises(ValueError):  # ... and so is secure without its mTLS port
        broker.server_properties(broker.BrokerConfig(29092, 29093, "x", secure=True), tmp_path, secrets)


def test_secure_configure_writes_private_secrets_and_client_settings(tmp_path: Path) -> None:
    needs_openssl()
    config = broker.configure(tmp_path, broker.free_port(), secure=True)
    assert config.secure
    for private in ("secure.json", "server.properties"):
        assert stat.S_IMODE((tmp_path / private).stat().st_mode) == 0o600, private

    settings = broker.client_settings(tmp_path)
    stored = json.loads((tmp_path / "secure.json").read_text())
    assert settings["NEWSWIRE_BOOTSTRAP_SERVERS"] == config.bootstrap
    assert settings["NEWSWIRE_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert settings["NEWSWIRE_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert settings["NEWSWIRE_SASL_PASSWORD"] == stored["client_password"] != stored["admin_password"]
    assert Path(settings["NEWSWIRE_SSL_CAFILE"]).is_file()

    assert broker.configure(tmp_path) == config  # the mode is remembered
    with pytest.raises(ConfigError) as raised:
        broker.configure(tmp_path, secure=False)
    assert_one_line(raised.value.detail)
    assert "another --dir" in raised.value.detail


def test_secure_configure_chooses_the_mtls_port_once_and_keeps_it(tmp_path: Path) -> None:
    needs_openssl()
    config = broker.configure(tmp_path, broker.free_port(), secure=True)
    assert config.mtls_port is not None
    assert len({config.port, config.controller_port, config.mtls_port}) == 3
    assert json.loads((tmp_path / "broker.json").read_text())["mtls_port"] == config.mtls_port
    props = parse_properties((tmp_path / "server.properties").read_text())
    assert f"SSL://127.0.0.1:{config.mtls_port}" in props["listeners"].split(",")

    assert broker.configure(tmp_path) == config  # kept across restarts
    moved = broker.configure(tmp_path,
                             broker.free_port(exclude={config.port, config.controller_port, config.mtls_port}))
    assert moved.mtls_port == config.mtls_port  # a new --port moves the SASL_SSL listener only
    with pytest.raises(ConfigError) as raised:
        broker.configure(tmp_path, config.mtls_port)
    assert_one_line(raised.value.detail)
    assert "mTLS" in raised.value.detail and "another --port" in raised.value.detail


def test_mtls_client_settings_carry_the_certificate_and_no_password(tmp_path: Path) -> None:
    needs_openssl()
    config = broker.configure(tmp_path, broker.free_port(), secure=True)
    tls = tmp_path / "tls"
    settings = broker.client_settings(tmp_path, mtls=True)
    assert settings == {
        "NEWSWIRE_BOOTSTRAP_SERVERS": f"127.0.0.1:{config.mtls_port}",
        "NEWSWIRE_SECURITY_PROTOCOL": "SSL",
        "NEWSWIRE_SSL_CAFILE": str(tls / "ca.crt"),
        "NEWSWIRE_SSL_CERTFILE": str(tls / "client.crt"),
        "NEWSWIRE_SSL_KEYFILE": str(tls / "client.key"),
    }
    for key in ("NEWSWIRE_SSL_CAFILE", "NEWSWIRE_SSL_CERTFILE", "NEWSWIRE_SSL_KEYFILE"):
        assert Path(settings[key]).is_file(), key
    assert broker.client_settings(tmp_path)["NEWSWIRE_SECURITY_PROTOCOL"] == "SASL_SSL"  # the default is unchanged


def test_a_secure_dir_from_before_the_mtls_listener_gets_one_at_start(tmp_path: Path) -> None:
    needs_openssl()
    config = broker.configure(tmp_path, broker.free_port(), secure=True)
    legacy = json.loads((tmp_path / "broker.json").read_text())
    del legacy["mtls_port"]
    (tmp_path / "broker.json").write_text(json.dumps(legacy))
    old_props = broker.server_properties(broker.BrokerConfig(config.port, config.controller_port, config.cluster_id,
                                                             secure=True, mtls_port=1), tmp_path,
                                         broker.SecureSecrets("a", "b", "c"))
    (tmp_path / "server.properties").write_text(old_props)  # stands in for the old file: no SSL on the new port
    with pytest.raises(ConfigError) as raised:  # not yet started: no mTLS settings to give
        broker.client_settings(tmp_path, mtls=True)
    assert_one_line(raised.value.detail)
    assert "restart" in raised.value.detail

    upgraded = broker.configure(tmp_path)  # what start() does first
    assert upgraded.mtls_port is not None and upgraded.mtls_port not in (config.port, config.controller_port)
    assert (upgraded.port, upgraded.controller_port, upgraded.cluster_id) == (config.port, config.controller_port,
                                                                              config.cluster_id)
    assert json.loads((tmp_path / "broker.json").read_text())["mtls_port"] == upgraded.mtls_port
    props = parse_properties((tmp_path / "server.properties").read_text())
    assert f"SSL://127.0.0.1:{upgraded.mtls_port}" in props["listeners"].split(",")
    assert props["listener.name.ssl.ssl.client.auth"] == "required"
    assert broker.client_settings(tmp_path, mtls=True)["NEWSWIRE_BOOTSTRAP_SERVERS"] == upgraded.mtls_bootstrap
    assert broker.configure(tmp_path) == upgraded  # chosen once


def test_a_busy_mtls_port_is_reported_before_anything_is_written(tmp_path: Path) -> None:
    needs_openssl()
    config = broker.configure(tmp_path, broker.free_port(), secure=True)
    assert config.mtls_port is not None
    stored = (tmp_path / "broker.json").read_text()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", config.mtls_port))
        squatter.listen()
        with pytest.raises(ConfigError) as raised:
            broker.configure(tmp_path, broker.free_port(exclude={config.port, config.controller_port,
                                                                  config.mtls_port}))
    message = raised.value.detail
    assert_one_line(message)
    assert f"mTLS (SSL) port {config.mtls_port}" in message and "mtls_port" in message
    assert (tmp_path / "broker.json").read_text() == stored  # the new --port was not written either


def test_plaintext_dir_cannot_turn_secure(tmp_path: Path) -> None:
    config = broker.configure(tmp_path, broker.free_port())
    assert broker.client_settings(tmp_path) == {"NEWSWIRE_BOOTSTRAP_SERVERS": config.bootstrap}
    assert "mtls_port" not in json.loads((tmp_path / "broker.json").read_text())  # plaintext: unchanged shape
    assert "SSL" not in (tmp_path / "server.properties").read_text().replace("PLAINTEXT", "")
    with pytest.raises(ConfigError) as raised:
        broker.client_settings(tmp_path, mtls=True)
    assert_one_line(raised.value.detail)
    assert "plaintext broker" in raised.value.detail and "--secure" in raised.value.detail
    with pytest.raises(ConfigError) as raised:
        broker.configure(tmp_path, secure=True)
    assert "plaintext broker" in raised.value.detail and "--secure" in raised.value.detail
