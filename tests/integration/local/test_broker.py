"""``newswire broker`` end to end: real Kafka brokers started, used, stopped and restarted through the CLI.

The CLI runs as ``python -m workers.local.broker`` in a subprocess, as a user would
run it.  Each test class has its own broker (own port and directory), stopped
when the class ends; the last tests check the session broker of conftest.py.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context

from workers.kafka.options import aiokafka_options
from workers.local import broker
from workers.local.broker import layout
from workers.settings import Settings

CLIENT_TIMEOUT_S = 60


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout_lines: list[str]
    stderr_lines: list[str]


def run_cli(*args: str, timeout: float = 180) -> CliResult:
    done = subprocess.run([sys.executable, "-m", "workers.local.broker", *args], capture_output=True, text=True,
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


@pytest.fixture(scope="class")
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


async def produce(options: dict[str, Any] | str, topic: str, value: bytes) -> None:
    """Send one message; ``options`` are aiokafka client options, or just a plaintext bootstrap address."""
    options = {"bootstrap_servers": options} if isinstance(options, str) else options
    producer = AIOKafkaProducer(acks="all", **options)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, value), CLIENT_TIMEOUT_S)
    finally:
        await producer.stop()


async def consume_first(options: dict[str, Any] | str, topic: str) -> bytes:
    """The first message of ``topic``, read by a new consumer group from the earliest offset."""
    options = {"bootstrap_servers": options} if isinstance(options, str) else options
    consumer = AIOKafkaConsumer(topic, group_id=f"test-{uuid.uuid4().hex}", auto_offset_reset="earliest",
                                enable_auto_commit=False, **options)
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), CLIENT_TIMEOUT_S)
    finally:
        await consumer.stop()
    value = message.value
    assert isinstance(value, bytes)
    return value


class TestPlaintextBrokerThroughTheCli:
    """One broker for the class, started by the CLI and stopped at the end of the class."""

    def test_start_prints_the_bootstrap_address_as_last_line(self, cli_broker: CliBroker) -> None:
        assert cli_broker.started.stdout_lines[-1] == cli_broker.bootstrap

    async def test_broker_serves_produce_and_consume(self, cli_broker: CliBroker) -> None:
        await produce(cli_broker.bootstrap, "broker-smoke", b"hello kafka")
        assert await consume_first(cli_broker.bootstrap, "broker-smoke") == b"hello kafka"

    def test_second_start_reports_the_running_broker(self, cli_broker: CliBroker) -> None:
        pid_before = (cli_broker.dir / "broker.pid").read_text()
        again = run_cli("start", "--port", str(cli_broker.port), "--dir", str(cli_broker.dir))
        assert again.returncode == 0
        assert any("already running" in line for line in again.stderr_lines)
        assert again.stdout_lines[-1] == cli_broker.bootstrap
        assert (cli_broker.dir / "broker.pid").read_text() == pid_before

    def test_status_says_running(self, cli_broker: CliBroker) -> None:
        result = run_cli("status", "--dir", str(cli_broker.dir))
        assert result.returncode == 0
        assert "running" in result.stdout_lines[0] and "not running" not in result.stdout_lines[0]
        assert cli_broker.bootstrap in result.stdout_lines[0]

    def test_port_in_use_gives_a_one_line_error(self, cli_broker: CliBroker, tmp_path: Path) -> None:
        other_dir = tmp_path / "other"
        result = run_cli("start", "--port", str(cli_broker.port), "--dir", str(other_dir))
        assert result.returncode == 1
        assert result.stdout_lines == []
        assert result.stderr_lines == [
            f"error: port {cli_broker.port} on 127.0.0.1 is in use: stop what listens there "
            "or pass --port with a free port"
        ]
        assert not broker.status(other_dir).running

    async def test_stop_then_restart_on_the_same_dir_keeps_data(self, cli_broker: CliBroker) -> None:
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


def mtls_block(result: CliResult) -> dict[str, str]:
    """The mutual-TLS settings `start --secure` shows on stderr (indented NAME=value lines)."""
    return dict(line.strip().split("=", 1) for line in result.stderr_lines if line.startswith("  NEWSWIRE_"))


def read_env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


@dataclass(frozen=True)
class SecureBroker:
    dir: Path
    started: CliResult
    settings: dict[str, str]  # the NEWSWIRE_* lines `start --secure` printed

    @property
    def bootstrap(self) -> str:
        return self.settings["NEWSWIRE_BOOTSTRAP_SERVERS"]

    @property
    def mtls_settings(self) -> dict[str, str]:
        """The mutual-TLS-only settings `start --secure` showed (second block, on stderr)."""
        return mtls_block(self.started)

    def client_options(self, *, password: str | None = None,
                       ssl_context: ssl.SSLContext | None = None) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.settings["NEWSWIRE_SECURITY_PROTOCOL"],
            "sasl_mechanism": self.settings["NEWSWIRE_SASL_MECHANISM"],
            "sasl_plain_username": self.settings["NEWSWIRE_SASL_USERNAME"],
            "sasl_plain_password": password or self.settings["NEWSWIRE_SASL_PASSWORD"],
            "ssl_context": ssl_context or create_ssl_context(cafile=self.settings["NEWSWIRE_SSL_CAFILE"]),
        }


@pytest.fixture(scope="class")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    dir = tmp_path_factory.mktemp("secure-broker")
    started = run_cli("start", "--secure", "--port", str(broker.free_port()), "--dir", str(dir))
    try:
        assert started.returncode == 0, "\n".join(started.stderr_lines)
        settings = dict(line.split("=", 1) for line in started.stdout_lines[:-1])
        yield SecureBroker(dir=dir, started=started, settings=settings)
    finally:
        run_cli("stop", "--dir", str(dir))
        broker.stop(dir)


class TestSecureBroker:
    """``start --secure``: SASL_SSL with SCRAM-SHA-512 only; no plaintext way in."""

    def test_start_prints_the_client_settings_then_the_bootstrap(self, secure_broker: SecureBroker) -> None:
        settings = secure_broker.settings
        assert secure_broker.started.stdout_lines[-1] == settings["NEWSWIRE_BOOTSTRAP_SERVERS"]
        assert settings["NEWSWIRE_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert settings["NEWSWIRE_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert settings["NEWSWIRE_SASL_USERNAME"] and len(settings["NEWSWIRE_SASL_PASSWORD"]) >= 16
        for key in ("NEWSWIRE_SSL_CAFILE", "NEWSWIRE_SSL_CERTFILE", "NEWSWIRE_SSL_KEYFILE"):
            assert Path(settings[key]).is_file(), key
        assert broker.client_settings(secure_broker.dir) == settings

    async def test_scram_client_produces_and_consumes(self, secure_broker: SecureBroker) -> None:
        options = secure_broker.client_options()
        await produce(options, "secure-smoke", b"over SASL_SSL")
        assert await consume_first(options, "secure-smoke") == b"over SASL_SSL"

    async def test_printed_settings_configure_newswire_clients(self, secure_broker: SecureBroker) -> None:
        """What `start --secure` prints, read by workers.settings, gives working client options (mTLS included)."""
        settings = Settings.from_env(secure_broker.settings)
        options = aiokafka_options(settings)
        assert options["security_protocol"] == "SASL_SSL"
        await produce(options, "secure-settings", b"configured from the printed settings")
        assert await consume_first(options, "secure-settings") == b"configured from the printed settings"

    async def test_client_certificate_is_accepted_for_mtls(self, secure_broker: SecureBroker) -> None:
        settings = secure_broker.settings
        context = create_ssl_context(cafile=settings["NEWSWIRE_SSL_CAFILE"], certfile=settings["NEWSWIRE_SSL_CERTFILE"],
                                     keyfile=settings["NEWSWIRE_SSL_KEYFILE"])
        options = secure_broker.client_options(ssl_context=context)
        await produce(options, "secure-mtls", b"with a client certificate")
        assert await consume_first(options, "secure-mtls") == b"with a client certificate"

    async def test_wrong_password_is_refused(self, secure_broker: SecureBroker) -> None:
        producer = AIOKafkaProducer(**secure_broker.client_options(password="not-the-password"))
        try:
            with pytest.raises(KafkaError):
                await producer.start()
        finally:
            await producer.stop()

    def test_no_way_in_without_tls_and_login(self, secure_broker: SecureBroker) -> None:
        bootstrap, settings = secure_broker.bootstrap, secure_broker.settings
        ca = ssl.create_default_context(cafile=settings["NEWSWIRE_SSL_CAFILE"])
        login = (settings["NEWSWIRE_SASL_USERNAME"], settings["NEWSWIRE_SASL_PASSWORD"])
        assert broker.probe(bootstrap, ssl_context=ca, sasl=login)  # the control: the right way works
        assert not broker.probe(bootstrap, sasl=login)  # plaintext: no PLAINTEXT listener
        assert not broker.probe(bootstrap, ssl_context=ssl.create_default_context(), sasl=login)  # untrusted CA
        assert not broker.probe(bootstrap, ssl_context=ca)  # TLS but no login: no metadata
        assert not broker.probe(bootstrap, ssl_context=ca, sasl=(login[0], "wrong"))

    def test_client_certificate_from_another_ca_is_refused(self, secure_broker: SecureBroker, tmp_path: Path) -> None:
        broker.make_tls(tmp_path / "foreign", "foreign-pass")
        context = ssl.create_default_context(cafile=secure_broker.settings["NEWSWIRE_SSL_CAFILE"])
        context.load_cert_chain(tmp_path / "foreign" / "client.crt", tmp_path / "foreign" / "client.key")
        login = (secure_broker.settings["NEWSWIRE_SASL_USERNAME"], secure_broker.settings["NEWSWIRE_SASL_PASSWORD"])
        assert not broker.probe(secure_broker.bootstrap, ssl_context=context, sasl=login)

    def test_start_shows_the_mutual_tls_settings_too(self, secure_broker: SecureBroker) -> None:
        mtls = secure_broker.mtls_settings
        assert mtls == broker.client_settings(secure_broker.dir, mtls=True)
        assert mtls == read_env_file(secure_broker.dir / layout.MTLS_ENV_FILE)
        assert read_env_file(secure_broker.dir / layout.CLIENT_ENV_FILE) == secure_broker.settings
        assert mtls["NEWSWIRE_SECURITY_PROTOCOL"] == "SSL" and not any(key.startswith("NEWSWIRE_SASL") for key in mtls)
        mtls_port = json.loads((secure_broker.dir / layout.CONFIG_FILE).read_text())["mtls_port"]
        assert mtls["NEWSWIRE_BOOTSTRAP_SERVERS"] == f"127.0.0.1:{mtls_port}" != secure_broker.bootstrap
        for key in ("NEWSWIRE_SSL_CAFILE", "NEWSWIRE_SSL_CERTFILE", "NEWSWIRE_SSL_KEYFILE"):
            assert mtls[key] == secure_broker.settings[key], key  # the same CA and client certificate

    async def test_client_certificate_alone_produces_and_consumes(self, secure_broker: SecureBroker) -> None:
        """SSL + a CA-signed client certificate, no SASL, configured from the shown settings as newswire does."""
        options = aiokafka_options(Settings.from_env(secure_broker.mtls_settings))
        assert options["security_protocol"] == "SSL" and "sasl_mechanism" not in options
        await produce(options, "mtls-only-smoke", b"certificate is the identity")
        assert await consume_first(options, "mtls-only-smoke") == b"certificate is the identity"
        # The two listeners are one broker: what came in over mTLS is read over SASL_SSL.
        assert await consume_first(secure_broker.client_options(), "mtls-only-smoke") == b"certificate is the identity"

    def test_mutual_tls_listener_requires_a_certificate_of_the_ca(self, secure_broker: SecureBroker,
                                                                  tmp_path: Path) -> None:
        mtls = secure_broker.mtls_settings
        bootstrap = mtls["NEWSWIRE_BOOTSTRAP_SERVERS"]
        with_cert = ssl.create_default_context(cafile=mtls["NEWSWIRE_SSL_CAFILE"])
        with_cert.load_cert_chain(mtls["NEWSWIRE_SSL_CERTFILE"], mtls["NEWSWIRE_SSL_KEYFILE"])
        assert broker.probe(bootstrap, ssl_context=with_cert)  # the control: the right way works
        assert not broker.probe(bootstrap)  # plaintext
        assert not broker.probe(bootstrap, ssl_context=ssl.create_default_context(cafile=mtls["NEWSWIRE_SSL_CAFILE"]))
        broker.make_tls(tmp_path / "foreign", "foreign-pass")
        foreign = ssl.create_default_context(cafile=mtls["NEWSWIRE_SSL_CAFILE"])
        foreign.load_cert_chain(tmp_path / "foreign" / "client.crt", tmp_path / "foreign" / "client.key")
        assert not broker.probe(bootstrap, ssl_context=foreign)
        # And the SASL_SSL listener still wants its login, certificate or not.
        assert not broker.probe(secure_broker.bootstrap, ssl_context=with_cert)

    def test_status_and_second_start_report_the_secure_broker(self, secure_broker: SecureBroker) -> None:
        status = run_cli("status", "--dir", str(secure_broker.dir))
        assert status.returncode == 0 and "SASL_SSL" in status.stdout_lines[0]
        assert secure_broker.mtls_settings["NEWSWIRE_BOOTSTRAP_SERVERS"] in status.stdout_lines[0]
        again = run_cli("start", "--dir", str(secure_broker.dir))
        assert again.returncode == 0 and any("already running" in line for line in again.stderr_lines)
        assert again.stdout_lines == secure_broker.started.stdout_lines
        assert mtls_block(again) == secure_broker.mtls_settings


    async def test_restart_keeps_the_credentials_and_certificates(self, secure_broker: SecureBroker) -> None:
        options = secure_broker.client_options()
        await produce(options, "secure-restart", b"kept")
        assert run_cli("stop", "--dir", str(secure_broker.dir)).returncode == 0
        restarted = run_cli("start", "--dir", str(secure_broker.dir))  # the directory remembers --secure
        assert restarted.returncode == 0, "\n".join(restarted.stderr_lines)
        assert restarted.stdout_lines == secure_broker.started.stdout_lines
        assert mtls_block(restarted) == secure_broker.mtls_settings  # the mTLS port is kept too
        assert await consume_first(options, "secure-restart") == b"kept"

    async def test_a_secure_dir_from_before_the_mtls_listener_starts_with_one(
            self, secure_broker: SecureBroker) -> None:
        """A directory made by a newswire without the mTLS listener: no mtls_port in broker.json and no SSL
        listener in server.properties.  It starts, chooses the port then, and keeps its data and SASL_SSL port."""
        options = secure_broker.client_options()
        await produce(options, "secure-upgrade", b"from before")
        assert run_cli("stop", "--dir", str(secure_broker.dir)).returncode == 0
        config_file, properties = secure_broker.dir / layout.CONFIG_FILE, secure_broker.dir / layout.PROPERTIES_FILE
        stored = json.loads(config_file.read_text())
        old_port = stored.pop("mtls_port")
        config_file.write_text(json.dumps(stored))
        old_properties = (properties.read_text().replace(f",SSL://127.0.0.1:{old_port}", "")
                          .replace(",SSL:SSL", "").replace("listener.name.ssl.ssl.client.auth=required\n", ""))
        assert f"SSL://127.0.0.1:{old_port}" not in old_properties and "SSL:SSL" not in old_properties
        properties.write_text(old_properties)

        restarted = run_cli("start", "--dir", str(secure_broker.dir))
        assert restarted.returncode == 0, "\n".join(restarted.stderr_lines)
        assert restarted.stdout_lines == secure_broker.started.stdout_lines  # SASL_SSL: as before
        mtls = mtls_block(restarted)
        new_port = json.loads(config_file.read_text())["mtls_port"]
        assert mtls["NEWSWIRE_BOOTSTRAP_SERVERS"] == f"127.0.0.1:{new_port}"
        assert mtls == read_env_file(secure_broker.dir / layout.MTLS_ENV_FILE)
        assert await consume_first(aiokafka_options(Settings.from_env(mtls)), "secure-upgrade") == b"from before"


def test_session_fixture_gives_a_serving_broker(kafka_bootstrap: str, broker_dir: Path | None) -> None:
    assert broker.probe(kafka_bootstrap)
    if broker_dir is not None:  # our single node: node id 1, and readiness counts registered brokers
        assert broker.check(kafka_bootstrap) == {1}
        with pytest.raises(broker.BrokerNotReady) as raised:
            broker.check(kafka_bootstrap, brokers=2)
        assert str(raised.value) == f"{kafka_bootstrap} lists 1 of 2 brokers (1)"
    if broker_dir is not None:  # started by this session, not reused
        assert broker.status(broker_dir).bootstrap == kafka_bootstrap


async def test_session_broker_restarts_on_its_port_with_its_data(kafka_broker: Any) -> None:
    topic = f"restart-{uuid.uuid4().hex[:8]}"
    await produce(kafka_broker.bootstrap, topic, b"before the outage")
    kafka_broker.stop()  # skips when the broker is external
    assert not broker.probe(kafka_broker.bootstrap, timeout_s=1)
    kafka_broker.start()
    assert await consume_first(kafka_broker.bootstrap, topic) == b"before the outage"
