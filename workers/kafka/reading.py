"""Reading a topic the way `newswire tail` and the example consumer do: up to N records, or until idle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

__all__ = ["read_batches"]


async def read_batches(consumer: Any, *, max_records: int = 0, timeout: float = 0.0) -> AsyncIterator[list[Any]]:
    """Yield the messages of each fetch from a started aiokafka consumer.

    Stops after ``max_records`` messages (0: no limit) or after ``timeout``
    seconds without a message (0: never).  The caller counts nothing: the
    limit is applied to what is fetched.
    """
    seen = 0
    while not max_records or seen < max_records:
        batch = await consumer.getmany(timeout_ms=int(timeout * 1000) if timeout else 1000,
                                       max_records=(max_records - seen) if max_records else None)
        if not batch:
            if timeout:
                return
            continue
        messages = [message for part in batch.values() for message in part]
        seen += len(messages)
        yield messages
