"""Where a partition's log starts, asked on a Kafka connection that no fetch holds up.

The delivery guard (:mod:`.intake`) needs, for the first message of each
partition in a new generation, the offset the generation reads from: the
group's committed offset or, without one, the start of the log.  The start of
the log is a ListOffsets request to the partition's leader.  Sent by Faust's
consumer, it queues on the same connection as the consumer's fetch, and a
broker answers the requests of one connection in order: behind a fetch that
waits for records (Faust asks for up to 1.5 s, ``fetch_max_wait_ms=1500``)
the answer waited the whole 1.5 s.  Measured with a trace of the agents: the
first message of a run, and of each partition of each stage, waited 1.4-1.5 s
in the guard while the CPU pool had nothing to do, about 8 % of a 300-URL
benchmark.  (The committed offset is asked from the group coordinator, on
aiokafka's separate coordination connection, and answers at once.)

:class:`LogStartLookup` asks on a client of its own: one group-less aiokafka
consumer that never fetches, started with the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

__all__ = ["LogStartLookup"]

_RETRY_BACKOFF_MS = 20


class LogStartLookup:
    """``await lookup(tp)``: the first offset of partition ``tp`` (None if the broker does not say)."""

    def __init__(self, client_options: Callable[[], dict[str, Any]]) -> None:
        self._client_options = client_options
        self._consumer: Any = None
        self._lock = asyncio.Lock()

    async def __call__(self, tp: Any) -> int | None:
        consumer = await self.start()
        offsets = await consumer.beginning_offsets([tp])
        start: int | None = offsets.get(tp)
        return start

    async def start(self) -> Any:
        """Connect now (the worker does it at start-up, so the first message does not wait for it)."""
        async with self._lock:
            if self._consumer is None:
                from aiokafka import AIOKafkaConsumer

                # aiokafka learns a topic's leader on its first lookup and sleeps
                # retry_backoff_ms before asking again: 100 ms by default, paid by
                # the first message of each stage.
                consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False,
                                            retry_backoff_ms=_RETRY_BACKOFF_MS, **self._client_options())
                await consumer.start()
                self._consumer = consumer
            return self._consumer

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()
