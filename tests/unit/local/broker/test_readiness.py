"""Readiness through aiokafka's admin client, against a fake listener speaking aiokafka's own protocol classes."""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator

import pytest

from workers.local import broker
from workers.local.broker import readiness


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
