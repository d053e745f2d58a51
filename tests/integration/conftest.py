"""A real Kafka broker for the integration tests.

``kafka_bootstrap`` (session-scoped) is the bootstrap address to use.  When
``NEWSWIRE_TEST_BOOTSTRAP`` (or ``NEWSWIRE_BOOTSTRAP_SERVERS``) is set, that
broker is reused and nothing is started.  Otherwise one single-node broker is
started with :func:`workers.local.broker.start` on a free 127.0.0.1 port in a
temporary directory on first use, and stopped when the session ends.

``broker_dir`` is that directory (``None`` when an external broker is reused),
so a test can take the broker down and bring it back on the same port and
data::

    workers.local.broker.stop(broker_dir)
    ...
    workers.local.broker.start(dir=broker_dir)   # the directory remembers its port

or, the same with the session's safety net kept, through the ``kafka_broker``
fixture: ``kafka_broker.stop()`` ... ``kafka_broker.start()`` (these skip the
test when the broker is an external one).  A broker started here is stopped
by the kernel too if pytest dies without running its finalizers.

Every test under tests/integration is marked ``integration``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from workers.errors import ConfigError
from workers.local import broker

HERE = Path(__file__).parent.resolve()
BOOTSTRAP_ENV = ("NEWSWIRE_TEST_BOOTSTRAP", "NEWSWIRE_BOOTSTRAP_SERVERS")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@dataclass(frozen=True)
class KafkaBroker:
    bootstrap: str
    dir: Path | None  # None: an external broker this session must not stop or restart

    def stop(self) -> None:
        broker.stop(self._own_dir())

    def start(self) -> None:
        """Start it again on the same port and data (returns once it serves requests)."""
        broker.start(dir=self._own_dir(), stop_with_caller=True)

    def _own_dir(self) -> Path:
        if self.dir is None:
            pytest.skip("the broker is external (NEWSWIRE_TEST_BOOTSTRAP); it is not ours to stop")
        return self.dir


def external_bootstrap() -> str | None:
    for name in BOOTSTRAP_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def start_on_a_free_port(tmp_path_factory: pytest.TempPathFactory,
                         attempts: int = 3) -> tuple[Path, broker.BrokerStatus]:
    """Start a broker in a fresh directory; another process may take the chosen port first, so try a few."""
    for attempt in range(1, attempts + 1):
        dir = tmp_path_factory.mktemp("kafka-broker")
        try:
            return dir, broker.start(broker.free_port(), dir, stop_with_caller=True)
        except ConfigError as exc:  # BrokerStartFailed included
            if "in use" in exc.detail and attempt < attempts:
                continue
            log_tail = getattr(exc, "log_tail", "")
            pytest.fail(f"the test broker did not start: {exc.detail}\n{log_tail}".rstrip(), pytrace=False)
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    external = external_bootstrap()
    if external:
        plaintext = os.environ.get("NEWSWIRE_SECURITY_PROTOCOL", "PLAINTEXT").upper() == "PLAINTEXT"
        first = external.split(",")[0].strip()
        if plaintext and not broker.probe(first, timeout_s=10):
            pytest.fail(f"the broker given by NEWSWIRE_TEST_BOOTSTRAP/NEWSWIRE_BOOTSTRAP_SERVERS ({external}) does not "
                        "answer Kafka requests; start it or unset the variable to let the tests start one",
                        pytrace=False)
        yield KafkaBroker(bootstrap=external, dir=None)
        return
    dir, started = start_on_a_free_port(tmp_path_factory)
    assert started.bootstrap is not None
    try:
        yield KafkaBroker(bootstrap=started.bootstrap, dir=dir)
    finally:
        broker.stop(dir)


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture(scope="session")
def broker_dir(kafka_broker: KafkaBroker) -> Path | None:
    return kafka_broker.dir
