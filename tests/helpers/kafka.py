"""Reading and writing topics of the real broker in tests."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from workers.local.run import isolated_topics

__all__ = ["produce", "collect", "unique_topics_env"]


def unique_topics_env(bootstrap: str, **extra: str) -> dict[str, str]:
    """Settings for an isolated test run: fresh topic names and group id, fast failing fetches."""
    return {
        **isolated_topics(bootstrap),
        "NEWSWIRE_TOPIC_PARTITIONS": "3",
        "NEWSWIRE_FETCH_ALLOW_HOSTS": "127.0.0.1",
        "NEWSWIRE_FETCH_MAX_ATTEMPTS": "2",
        "NEWSWIRE_FETCH_BACKOFF_S": "0.1",
        "NEWSWIRE_FETCH_CONNECT_TIMEOUT_S": "2",
        "NEWSWIRE_FETCH_TOTAL_TIMEOUT_S": "10",
        "NEWSWIRE_POOL_SIZE": "1",
        **extra,
    }


async def produce(bootstrap: str, topic: str, values: list[bytes], keys: list[bytes | None] | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i, value in enumerate(values):
            await producer.send_and_wait(topic, value=value, key=keys[i] if keys else None)
    finally:
        await producer.stop()


async def collect(bootstrap: str, topics: list[str], *, until: Callable[[dict[str, list]], bool],
                  timeout: float = 120.0, isolation_level: str = "read_committed") -> dict[str, list]:
    """Read the topics from the beginning until ``until(records)`` or the timeout.

    Returns {topic: [(key, value-as-JSON, headers), ...]}.
    """
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                isolation_level=isolation_level, metadata_max_age_ms=1000)
    await consumer.start()
    found: dict[str, list] = {topic: [] for topic in topics}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(found):
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                for m in messages:
                    found[tp.topic].append((m.key, orjson.loads(m.value), dict(m.headers or ())))
    finally:
        await consumer.stop()
    return found

