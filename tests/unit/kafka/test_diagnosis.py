"""Connection failures become one line naming the cause (the real broker cases are in
tests/integration/kafka/test_security.py)."""

from __future__ import annotations

import asyncio
import logging
import logging.config
import socket
import ssl
from types import SimpleNamespace

import pytest
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from workers.errors import ConfigError
from workers.kafka.diagnosis import (
    CredentialWatch,
    KafkaConnectError,
    diagnose,
    explain,
    mask_secrets,
    start_client,
)
from workers.settings import Settings

PASSWORD = "pw-Zq81-never-shown"
SERVER = "kafka.example:9093"


def settings(**env: str) -> Settings:
    base = {"NEWSWIRE_BOOTSTRAP_SERVERS": SERVER, "NEWSWIRE_SECURITY_PROTOCOL": "SASL_SSL",
            "NEWSWIRE_SASL_USERNAME": "svc-user", "NEWSWIRE_SASL_PASSWORD": PASSWORD}
    return Settings.from_env({**base, **env})


def wrapped(cause: BaseException) -> KafkaConnectionError:
    """As aiokafka raises it: a connection error with the cause attached."""
    outer = KafkaConnectionError("Connection at kafka.example:9093 closed")
    outer.__cause__ = cause
    return outer


def cert_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    err = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message}")
    err.verify_code, err.verify_message = code, message
    return err


def tls_alert(reason: str) -> ssl.SSLError:
    err = ssl.SSLError(1, f"[SSL: {reason}] alert")
    err.reason = reason
    return err


def check(exc: BaseException, s: Settings, *, port_speaks: str | None = None) -> tuple[str, str]:
    cause, message = explain(exc, s, SERVER, port_speaks=port_speaks)
    assert "\n" not in message and PASSWORD not in message and "svc-user" not in message
    assert message.startswith(f"cannot connect to Kafka at {SERVER} ({s.security_protocol}): ")
    return cause, message


def test_wrong_password_names_sasl_and_the_settings():
    cause, message = check(SaslAuthenticationFailed("Authentication failed ... SCRAM-SHA-512"), settings())
    assert cause == "sasl_auth_failed"
    assert "SASL authentication failed (SCRAM-SHA-512)" in message and "NEWSWIRE_SASL_PASSWORD" in message


def test_unknown_ca_names_the_ca_file():
    s = settings(NEWSWIRE_SSL_CAFILE="/etc/kafka/ca.pem")
    cause, message = check(cert_error(19, "self-signed certificate in certificate chain"), s)
    assert cause == "certificate_untrusted"
    assert "certificate verify failed" in message and "NEWSWIRE_SSL_CAFILE=/etc/kafka/ca.pem" in message


def test_unknown_ca_with_system_cas_says_to_set_the_ca_file():
    cause, message = check(cert_error(20, "unable to get local issuer certificate"), settings())
    assert cause == "certificate_untrusted" and "system CAs" in message and "NEWSWIRE_SSL_CAFILE" in message


def test_hostname_mismatch_and_expired_certificate():
    assert check(cert_error(62, "Hostname mismatch"), settings())[0] == "hostname_mismatch"
    assert "NEWSWIRE_SSL_CHECK_HOSTNAME" in check(cert_error(62, "Hostname mismatch"), settings())[1]
    assert check(cert_error(10, "certificate has expired"), settings())[0] == "certificate_expired"


def test_plaintext_client_reading_a_tls_alert_is_told_to_use_tls():
    # The broker's TLS alert record (15 03 03 00 ..) read as a Kafka frame size.
    err = wrapped(asyncio.IncompleteReadError(b"\x02\x02\x28", 0x15030300 + 0x02))
    cause, message = check(err, settings(NEWSWIRE_SECURITY_PROTOCOL="PLAINTEXT"))
    assert cause == "plaintext_to_tls" and "NEWSWIRE_SECURITY_PROTOCOL=SSL or SASL_SSL" in message
    cause, message = check(err, settings(NEWSWIRE_SECURITY_PROTOCOL="SASL_PLAINTEXT"))
    assert cause == "plaintext_to_tls" and "NEWSWIRE_SECURITY_PROTOCOL=SASL_SSL" in message


def test_a_closed_connection_is_decided_by_what_the_port_speaks():
    closed = wrapped(asyncio.IncompleteReadError(b"", 4))
    plaintext = settings(NEWSWIRE_SECURITY_PROTOCOL="PLAINTEXT")
    assert check(closed, plaintext, port_speaks="tls")[0] == "plaintext_to_tls"
    assert check(closed, plaintext, port_speaks=None)[0] == "sasl_required"
    reset = ConnectionResetError()
    cause, message = check(reset, settings(), port_speaks="kafka")
    assert cause == "tls_to_plaintext" and "NEWSWIRE_SECURITY_PROTOCOL=SASL_PLAINTEXT" in message
    cause, message = check(closed, settings(NEWSWIRE_SECURITY_PROTOCOL="SSL"), port_speaks="tls")
    assert cause == "sasl_required" and "SASL_SSL" in message
    # Nothing known about the port: no guess, the exceptions are named.
    assert check(reset, settings(), port_speaks=None)[0] == "connection_failed"


def test_client_certificate_refused_or_missing():
    cause, message = check(wrapped(tls_alert("SSLV3_ALERT_CERTIFICATE_UNKNOWN")),
                           settings(NEWSWIRE_SSL_CERTFILE="/c.pem", NEWSWIRE_SSL_KEYFILE="/k.pem"))
    assert cause == "client_certificate_refused" and "/c.pem" in message
    cause, message = check(wrapped(tls_alert("TLSV13_ALERT_CERTIFICATE_REQUIRED")), settings())
    assert cause == "client_certificate_refused" and "NEWSWIRE_SSL_CERTFILE" in message


def test_sasl_mechanism_and_listener_without_sasl():
    cause, message = check(UnsupportedSaslMechanismError("x"), settings(NEWSWIRE_SASL_MECHANISM="PLAIN"))
    assert cause == "sasl_mechanism" and "PLAIN" in message
    cause, message = check(IllegalSaslStateError("x"), settings(NEWSWIRE_SECURITY_PROTOCOL="SASL_PLAINTEXT"))
    assert cause == "sasl_not_enabled" and "NEWSWIRE_SECURITY_PROTOCOL=PLAINTEXT" in message


def test_unreachable_unresolvable_timeout():
    assert check(ConnectionRefusedError(111, "refused"), settings())[0] == "unreachable"
    assert check(socket.gaierror(-2, "Name or service not known"), settings())[0] == "unresolvable"
    assert check(TimeoutError(), settings())[0] == "timeout"


def test_exception_text_is_masked():
    s = settings()
    cause, message = explain(RuntimeError(f"odd failure mentioning {PASSWORD} and svc-user"), s, SERVER)
    assert cause == "connection_failed" and PASSWORD not in message and "svc-user" not in message
    assert "***" in message
    assert mask_secrets("nothing secret", s) == "nothing secret"


def test_kafka_connect_error_is_a_config_error_with_a_cause():
    err = KafkaConnectError("cannot connect", cause="unreachable")
    assert isinstance(err, ConfigError) and err.cause == "unreachable" and err.code == "kafka_connect_failed"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_diagnose_a_port_nothing_listens_on():
    s = settings(NEWSWIRE_SECURITY_PROTOCOL="PLAINTEXT", NEWSWIRE_BOOTSTRAP_SERVERS=f"127.0.0.1:{closed_port()}")
    found = await diagnose(s, timeout_s=5)
    assert found is not None and found.cause == "unreachable"


async def test_diagnose_names_the_failing_server_of_several():
    port = closed_port()
    s = settings(NEWSWIRE_SECURITY_PROTOCOL="PLAINTEXT",
                 NEWSWIRE_BOOTSTRAP_SERVERS=f"127.0.0.1:{port}, 127.0.0.1:{closed_port()}")
    found = await diagnose(s, timeout_s=5)
    assert found is not None and f"127.0.0.1:{port}" in found.detail


async def test_diagnose_a_server_that_hangs_up_without_tls_or_kafka():
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        s = settings(NEWSWIRE_SECURITY_PROTOCOL="PLAINTEXT", NEWSWIRE_BOOTSTRAP_SERVERS=f"127.0.0.1:{port}")
        found = await diagnose(s, timeout_s=5)
    finally:
        server.close()
        await server.wait_closed()
    # Neither TLS nor plaintext Kafka answers: like a SASL listener refusing a request without login.
    assert found is not None and found.cause == "sasl_required"


class FailingClient:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.closed = False

    async def start(self) -> None:
        raise self.exc

    async def stop(self) -> None:
        self.closed = True


async def test_start_client_raises_one_line_and_closes_the_client():
    s = settings(NEWSWIRE_SECURITY_PROTOCOL="SASL_PLAINTEXT", NEWSWIRE_BOOTSTRAP_SERVERS=f"127.0.0.1:{closed_port()}")
    client = FailingClient(KafkaConnectionError("Unable to bootstrap from [...]"))
    with pytest.raises(KafkaConnectError) as info:
        await start_client(client, s)
    assert client.closed and info.value.cause == "unreachable"
    assert PASSWORD not in str(info.value) and "\n" not in str(info.value)


async def test_start_client_passes_a_working_client_through():
    class Fine(FailingClient):
        async def start(self) -> None:
            self.started = True

    client = Fine(RuntimeError())
    await start_client(client, settings())
    assert client.started and not client.closed


# -- CredentialWatch: credentials that break after start ------------------------------------------


class Checks:
    """Stands in for diagnose(): answers from a script, counts calls."""

    def __init__(self, *answers: KafkaConnectError | None) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self, s: Settings) -> KafkaConnectError | None:
        self.calls += 1
        return self.answers.pop(0) if self.answers else None


def refused_login() -> KafkaConnectError:
    return KafkaConnectError("cannot connect ...: SASL authentication failed", cause="sasl_auth_failed")


async def watch_logs(watch: CredentialWatch, exc: BaseException) -> None:
    logger = logging.getLogger("aiokafka")
    watch.install()
    try:
        logger.error("Unable connect to node with id %s: %s", 1, exc)
        logger.error("Unable connect to node with id %s: %s", 1, exc)  # a second one while checking: no second check
        for _ in range(20):
            await asyncio.sleep(0)
            if watch._checking is not None and watch._checking.done():
                break
        if watch._checking is not None:
            await watch._checking
    finally:
        watch.uninstall()


async def test_confirmed_refusal_stops_the_worker_once():
    failures: list[KafkaConnectError] = []
    checks = Checks(refused_login(), refused_login())
    watch = CredentialWatch(settings(), on_failure=failures.append, recheck_s=0, check=checks)
    await watch_logs(watch, SaslAuthenticationFailed("Authentication failed"))
    assert checks.calls == 2 and len(failures) == 1
    assert watch.failure is failures[0] and watch.failure.cause == "sasl_auth_failed"


async def test_a_refusal_that_does_not_last_keeps_the_worker():
    failures: list[KafkaConnectError] = []
    checks = Checks(refused_login(), None)  # the broker accepted the login on the second look (restart)
    watch = CredentialWatch(settings(), on_failure=failures.append, recheck_s=0, check=checks)
    await watch_logs(watch, SaslAuthenticationFailed("Authentication failed"))
    assert checks.calls == 2 and failures == [] and watch.failure is None


async def test_after_a_check_that_passed_refusals_wait_for_the_cooldown():
    checks = Checks(None)
    watch = CredentialWatch(settings(), on_failure=lambda e: None, recheck_s=0, cooldown_s=3600, check=checks)
    await watch_logs(watch, SaslAuthenticationFailed("Authentication failed"))
    await watch_logs(watch, SaslAuthenticationFailed("Authentication failed"))
    assert checks.calls == 1 and watch.failure is None


async def test_an_unreachable_broker_is_not_a_reason_to_stop():
    checks = Checks(refused_login())
    watch = CredentialWatch(settings(), on_failure=lambda e: None, recheck_s=0, check=checks)
    await watch_logs(watch, ConnectionRefusedError(111, "refused"))
    assert checks.calls == 0 and watch.failure is None


async def test_an_untrusted_certificate_after_a_ca_rotation_counts():
    untrusted = KafkaConnectError("... not trusted", cause="certificate_untrusted")
    failures: list[KafkaConnectError] = []
    watch = CredentialWatch(settings(), on_failure=failures.append, recheck_s=0,
                            check=Checks(untrusted, untrusted))
    await watch_logs(watch, cert_error(19, "self-signed certificate in certificate chain"))
    assert failures == [untrusted]


def test_the_watch_survives_the_worker_logging_config():
    """The worker's dictConfig replaces the handlers of the aiokafka logger; the watch is a filter and stays."""
    from workers.observability.logs import faust_logging_config

    watch = CredentialWatch(settings()).install()
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("aiokafka").level
    try:
        logging.config.dictConfig(faust_logging_config(settings()))
        assert watch in logging.getLogger("aiokafka").filters
    finally:
        watch.uninstall()
        root.handlers[:], root.level = saved[0], saved[1]
        logging.getLogger("aiokafka").setLevel(saved[2])


async def test_start_client_holds_back_aiokafka_complaints_it_replaces(caplog):
    class Noisy(FailingClient):
        async def start(self) -> None:
            logging.getLogger("aiokafka").error("Unable connect to %s: %s", "x:1", "boom")
            await super().start()

    s = settings(NEWSWIRE_SECURITY_PROTOCOL="PLAINTEXT", NEWSWIRE_BOOTSTRAP_SERVERS=f"127.0.0.1:{closed_port()}")
    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectError):
        await start_client(Noisy(KafkaConnectionError("Unable to bootstrap")), s)
    assert not [r for r in caplog.records if r.name == "aiokafka"]

    class NoisyButFine(Noisy):
        async def start(self) -> None:
            logging.getLogger("aiokafka").error("Unable connect to %s: %s", "x:1", "boom")

    with caplog.at_level(logging.ERROR, logger="aiokafka"):
        await start_client(NoisyButFine(RuntimeError()), s)
    assert [r.getMessage() for r in caplog.records if r.name == "aiokafka"] == ['Unable connect to x:1: boom']


def test_installing_twice_keeps_one_watch_in_charge():
    first = CredentialWatch(settings()).install()
    try:
        assert CredentialWatch(settings()).install() is first
        assert sum(isinstance(f, CredentialWatch) for f in logging.getLogger("aiokafka").filters) == 1
    finally:
        first.uninstall()


# -- the start-up topic check under ACLs (workers/topics.py) ---------------------------------------


class FakeAdmin:
    """An admin client whose broker refuses what the test says (as a cluster with ACLs does)."""

    refuse_list: BaseException | None = None
    closed = False

    def __init__(self, **options: object) -> None:
        self.options = options

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        FakeAdmin.closed = True

    async def list_topics(self) -> list[str]:
        if self.refuse_list is not None:
            raise self.refuse_list
        return ["in", "out"]

    async def describe_topics(self, names: list[str]) -> list[dict]:
        return [{"topic": n, "partitions": [{"replicas": [1]}] * 3} for n in names]

    async def describe_configs(self, resources: list) -> list:
        # DescribeConfigs answered per topic with TOPIC_AUTHORIZATION_FAILED (29).
        refused = [(29, "Authorization failed.", 2, r.name, []) for r in resources]
        return [SimpleNamespace(resources=refused)]


async def test_topic_check_without_describe_configs_compares_partitions_only(monkeypatch, caplog):
    from workers.contract import topics

    monkeypatch.setattr(topics, "AIOKafkaAdminClient", FakeAdmin)
    s = settings(NEWSWIRE_TOPIC_PARTITIONS="3")
    specs = [topics.TopicSpec("input", "in", 3, 1, {"cleanup.policy": "delete"}),
             topics.TopicSpec("articles", "out", 3, 1, {"cleanup.policy": "compact"})]
    with caplog.at_level(logging.WARNING, logger="newswire.topics"):
        assert await topics.ensure_topics(s, specs) == []
    assert any("only partition counts are checked" in r.getMessage() for r in caplog.records)


async def test_topic_check_refused_by_acls_is_one_line(monkeypatch):
    from aiokafka.errors import TopicAuthorizationFailedError

    from workers.contract import topics

    monkeypatch.setattr(topics, "AIOKafkaAdminClient", FakeAdmin)
    monkeypatch.setattr(FakeAdmin, "refuse_list", TopicAuthorizationFailedError())
    FakeAdmin.closed = False
    with pytest.raises(ConfigError) as info:
        await topics.ensure_topics(settings(), [topics.TopicSpec("input", "in", 3, 1)])
    message = str(info.value.detail)
    assert "TopicAuthorizationFailedError" in message and "Describe, Create and DescribeConfigs" in message
    assert "\n" not in message and PASSWORD not in message and FakeAdmin.closed
