"""Fast checks of the local broker runner that need no JVM: config, ports, jar cache, errors, readiness probe, CLI."""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import ssl
import stat
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workers.errors import ConfigError
from workers.local import broker
from workers.local.broker import cli as broker_cli
from workers.local.broker import jars, process, readiness

# -- helpers ---------------------------------------------------------------------


def parse_properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def path_with(tmp_path: Path, *tools: str) -> str:
    """A PATH holding only the named real tools (symlinked)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        real = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        if not real:
            pytest.skip(f"{tool} not installed")
        (bin_dir / tool).symlink_to(real)
    return str(bin_dir)


def write_script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\nPATH=/usr/bin:/bin\n" + body)  # the test's PATH holds only the fakes
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def assert_one_line(message: str) -> None:
    assert message and "\n" not in message


# -- configuration -----------------------------------------------------------------------


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


def test_pom_pins_the_kafka_version_and_the_slf4j_1x_binding() -> None:
    pom = (Path(broker.__file__).parent / "pom.xml").read_text()
    assert f"<kafka.version>{broker.KAFKA_VERSION}</kafka.version>" in pom
    assert "<artifactId>kafka_2.13</artifactId>" in pom
    assert "<artifactId>log4j-slf4j-impl</artifactId>" in pom  # slf4j-api 1.7 needs the 1.x binding
    assert "<artifactId>log4j-slf4j2-impl</artifactId>" not in pom


# -- ports -----------------------------------------------------------------------------


def test_free_port_is_free_and_below_the_ephemeral_range() -> None:
    port = broker.free_port()
    assert broker.port_is_free(port)
    floor = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    if floor >= 21000:
        assert 20000 <= port < floor


def test_port_is_free_sees_a_listener(held_port: int) -> None:
    assert not broker.port_is_free(held_port)


def test_start_on_a_port_in_use_says_what_to_do(held_port: int, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        broker.start(held_port, tmp_path / "b")
    message = raised.value.detail
    assert_one_line(message)
    assert f"port {held_port}" in message and "--port" in message
    assert not (tmp_path / "b" / "broker.json").exists()  # a failed start does not pin the busy port


def test_cli_port_in_use_prints_one_error_line(held_port: int, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = broker_cli.main(["start", "--port", str(held_port), "--dir", str(tmp_path / "b")])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.splitlines() == [f"error: port {held_port} on 127.0.0.1 is in use: "
                                "stop what listens there or pass --port with a free port"]


# -- tools and the jar cache ---------------------------------------------------------------


def test_missing_java_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", path_with(tmp_path))
    with pytest.raises(ConfigError) as raised:
        broker.start(broker.free_port(), tmp_path / "b")
    assert_one_line(raised.value.detail)
    assert "`java` was not found" in raised.value.detail and "install" in raised.value.detail


def test_missing_mvn_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", path_with(tmp_path, "java"))
    monkeypatch.setenv("NEWSWIRE_KAFKA_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ConfigError) as raised:
        broker.ensure_jars()
    assert_one_line(raised.value.detail)
    assert "`mvn` was not found" in raised.value.detail and "Maven" in raised.value.detail


def make_complete_cache(cache: Path, pom_hash: str) -> None:
    cache.mkdir(parents=True)
    names = [f"kafka_2.13-{broker.KAFKA_VERSION}.jar", "kafka-clients.jar"]
    for name in names:
        (cache / name).write_bytes(b"PK")
    (cache / jars.CACHE_MARKER).write_text(json.dumps({"pom_sha256": pom_hash, "jars": names}))


def test_complete_cache_is_used_without_maven(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    make_complete_cache(cache, jars.pom_hash())
    monkeypatch.setenv("NEWSWIRE_KAFKA_CACHE", str(cache))
    monkeypatch.setenv("PATH", path_with(tmp_path))  # no mvn: it must not be needed
    assert broker.ensure_jars() == cache


def test_a_provided_jar_directory_is_used_as_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    libs = tmp_path / "kafka_2.13-4.1.1" / "libs"  # e.g. an unpacked Kafka distribution, no marker
    libs.mkdir(parents=True)
    (libs / f"kafka_2.13-{broker.KAFKA_VERSION}.jar").write_bytes(b"PK")
    monkeypatch.setenv("NEWSWIRE_KAFKA_CACHE", str(libs))
    monkeypatch.setenv("PATH", path_with(tmp_path))  # no mvn
    assert broker.ensure_jars() == libs
    assert sorted(p.name for p in libs.iterdir()) == [f"kafka_2.13-{broker.KAFKA_VERSION}.jar"]  # untouched


@pytest.mark.parametrize("damage", ["stale pom hash", "jar missing"])
def test_incomplete_cache_is_resolved_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, damage: str) -> None:
    cache = tmp_path / "cache"
    make_complete_cache(cache, "0" * 64 if damage == "stale pom hash" else jars.pom_hash())
    if damage == "jar missing":
        (cache / "kafka-clients.jar").unlink()
    bin_dir = Path(path_with(tmp_path))
    calls = tmp_path / "mvn-calls"
    # A fake mvn that records its call and "resolves" one jar into -DoutputDirectory.
    write_script(bin_dir / "mvn", f'echo "$@" >> {calls}\n'
                                  'for a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#*=}";; esac; done\n'
                                  f'mkdir -p "$out" && touch "$out/kafka_2.13-{broker.KAFKA_VERSION}.jar"\n')
    monkeypatch.setenv("NEWSWIRE_KAFKA_CACHE", str(cache))
    monkeypatch.setenv("PATH", str(bin_dir))

    assert broker.ensure_jars() == cache
    assert "dependency:copy-dependencies" in calls.read_text()
    assert sorted(p.name for p in cache.glob("*.jar")) == [f"kafka_2.13-{broker.KAFKA_VERSION}.jar"]
    broker.ensure_jars()  # now complete: mvn is not run again
    assert len(calls.read_text().splitlines()) == 1


def test_maven_failure_is_one_actionable_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bin_dir = Path(path_with(tmp_path))
    write_script(bin_dir / "mvn", 'echo "[INFO] Scanning for projects..."\n'
                                  'echo "[ERROR] Failed to execute goal: Could not resolve dependencies: '
                                  'Connection refused"\necho "[ERROR] "\nexit 1\n')
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("NEWSWIRE_KAFKA_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ConfigError) as raised:
        broker.ensure_jars()
    message = raised.value.detail
    assert_one_line(message)
    assert "Could not resolve dependencies" in message and "Maven Central" in message
    assert not (tmp_path / "cache").exists()  # no half-resolved cache left behind


# -- process state ---------------------------------------------------------------------------------


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


def test_cli_status_of_a_stopped_broker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert broker_cli.main(["status", "--dir", str(tmp_path)]) == 1
    assert "not running" in capsys.readouterr().out
    assert broker_cli.main(["stop", "--dir", str(tmp_path)]) == 0
    assert "not running" in capsys.readouterr().out


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


# -- readiness ---------------------------------------------------------------------------------------


class FakeKafka:
    """A Kafka listener answering ApiVersions and Metadata with aiokafka's own response classes; lists ``brokers``.

    It advertises itself for every listed broker, so aiokafka's follow-up request comes back here too.
    """

    def __init__(self, brokers: int) -> None:
        self.brokers = brokers
        self.requests: list[tuple[int, int]] = []
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        from aiokafka.protocol.admin import ApiVersionResponse_v0
        from aiokafka.protocol.metadata import MetadataResponse_v1

        with conn:
            while True:
                header = conn.recv(4, socket.MSG_WAITALL)
                if len(header) < 4:
                    return
                payload = conn.recv(struct.unpack(">i", header)[0], socket.MSG_WAITALL)
                api_key, version, correlation_id = struct.unpack_from(">hhi", payload)
                self.requests.append((api_key, version))
                if api_key == 18:  # ApiVersions: Metadata v0-1 only, so aiokafka asks for v1
                    body = ApiVersionResponse_v0(0, [(18, 0, 0), (3, 0, 1)]).encode()
                elif api_key == 3:
                    listed = [(node, "127.0.0.1", self.port, None) for node in range(self.brokers)]
                    body = MetadataResponse_v1(listed, 0, []).encode()
                else:
                    return
                reply = struct.pack(">i", correlation_id) + body
                conn.sendall(struct.pack(">i", len(reply)) + reply)

    def close(self) -> None:
        self.server.close()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
def fake_kafka() -> Iterator[Callable[[int], FakeKafka]]:
    made: list[FakeKafka] = []

    def make(brokers: int) -> FakeKafka:
        made.append(FakeKafka(brokers))
        return made[-1]

    yield make
    for fake in made:
        fake.close()


def test_probe_accepts_a_broker_that_answers_kafka_requests(fake_kafka: Callable[[int], FakeKafka]) -> None:
    fake = fake_kafka(1)
    assert broker.probe(fake.bootstrap)
    assert broker.check(fake.bootstrap) == {0}
    assert (18, 0) in fake.requests and (3, 1) in fake.requests  # a real client's ApiVersions, then Metadata


def test_probe_rejects_a_broker_without_registered_brokers(fake_kafka: Callable[[int], FakeKafka]) -> None:
    fake = fake_kafka(0)
    assert not broker.probe(fake.bootstrap)
    with pytest.raises(broker.BrokerNotReady) as raised:
        broker.check(fake.bootstrap)
    assert fake.bootstrap in str(raised.value) and "no registered broker" in str(raised.value)


def test_check_waits_for_the_wanted_number_of_brokers(fake_kafka: Callable[[int], FakeKafka]) -> None:
    fake = fake_kafka(2)
    assert broker.check(fake.bootstrap, brokers=2) == {0, 1}
    with pytest.raises(broker.BrokerNotReady) as raised:
        broker.check(fake.bootstrap, brokers=3)
    assert str(raised.value) == f"{fake.bootstrap} lists 2 of 3 brokers (0, 1)"
    assert not broker.probe(fake.bootstrap, brokers=3)


def test_probe_rejects_an_open_port_that_is_not_kafka_yet() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def close_every_connection() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()  # TCP accepts, no Kafka answer

    threading.Thread(target=close_every_connection, daemon=True).start()
    try:
        assert not broker.probe(f"127.0.0.1:{server.getsockname()[1]}", timeout_s=2)
    finally:
        server.close()
    nowhere = f"127.0.0.1:{broker.free_port()}"  # nothing listens
    with pytest.raises(broker.BrokerNotReady) as raised:
        broker.check(nowhere, timeout_s=2)
    assert nowhere in str(raised.value)


async def test_probe_works_inside_a_running_event_loop(fake_kafka: Callable[[int], FakeKafka]) -> None:
    """Async tests and fixtures call the sync probe (and broker.start) while their loop runs."""
    assert broker.probe(fake_kafka(1).bootstrap)


def test_an_unready_broker_does_not_fill_the_callers_log(caplog: pytest.LogCaptureFixture) -> None:
    """Refused connections while waiting are what "not ready" looks like, not errors of the caller."""
    with caplog.at_level("DEBUG", logger="aiokafka"):
        assert not broker.probe(f"127.0.0.1:{broker.free_port()}", timeout_s=2)
    assert [r for r in caplog.records if r.name.startswith("aiokafka") and r.levelno >= 30] == []


def test_client_access_picks_the_security_protocol() -> None:
    context = ssl.create_default_context()
    assert readiness.ClientAccess("h:1").security_protocol == "PLAINTEXT"
    assert readiness.ClientAccess("h:1", context).security_protocol == "SSL"
    assert readiness.ClientAccess("h:1", context, ("u", "p")).security_protocol == "SASL_SSL"
    assert readiness.ClientAccess("h:1", None, ("u", "p")).security_protocol == "SASL_PLAINTEXT"


# -- secure mode ----------------------------------------------------------------------------------------------


def secure_config() -> broker.BrokerConfig:
    return broker.BrokerConfig(port=29092, controller_port=29093, cluster_id=broker.new_cluster_id(), secure=True,
                               mtls_port=29094)


def needs_openssl() -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")


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


def test_make_tls_issues_a_ca_a_loopback_server_cert_and_a_client_cert(tmp_path: Path) -> None:
    if subprocess.run(["which", "openssl"], capture_output=True).returncode != 0:
        pytest.skip("openssl not installed")
    tls = tmp_path / "tls"
    broker.make_tls(tls, "storepw")

    def verify(purpose: str, cert: str) -> str:
        done = subprocess.run(["openssl", "verify", "-CAfile", "ca.crt", "-purpose", purpose, cert],
                              cwd=tls, capture_output=True, text=True)
        return done.stdout + done.stderr

    assert verify("sslserver", "broker.crt").strip().endswith("OK")
    assert verify("sslclient", "client.crt").strip().endswith("OK")
    decoded = ssl._ssl._test_decode_cert(str(tls / "broker.crt"))  # type: ignore[attr-defined]
    assert ("IP Address", "127.0.0.1") in decoded["subjectAltName"]
    keystore = subprocess.run(["openssl", "pkcs12", "-in", "broker.p12", "-passin", "pass:storepw", "-nokeys"],
                              cwd=tls, capture_output=True, text=True)
    assert keystore.returncode == 0 and "BEGIN CERTIFICATE" in keystore.stdout
    assert stat.S_IMODE((tls / "client.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tls / "ca.key").stat().st_mode) == 0o600
    assert not (tls / "broker.key").exists()  # only inside the password-protected keystore

    before = (tls / "ca.crt").read_bytes()
    broker.make_tls(tls, "storepw")
    assert (tls / "ca.crt").read_bytes() == before  # made once, kept across restarts


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
    moved = broker.configure(tmp_path, broker.free_port(exclude={config.port, config.controller_port, config.mtls_port}))
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


def test_missing_openssl_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", path_with(tmp_path))
    with pytest.raises(ConfigError) as raised:
        broker.make_tls(tmp_path / "tls", "pw")
    assert_one_line(raised.value.detail)
    assert "`openssl` was not found" in raised.value.detail and "install" in raised.value.detail


# -- test brokers die with their caller ------------------------------------------------------------------------


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
