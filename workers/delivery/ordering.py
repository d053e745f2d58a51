"""Bounded concurrent work that finishes in order, without Kafka.

A worker fetches many URLs at once, but Kafka commits one offset per
partition: everything before it counts as done.  :class:`OrderedWork` runs up
to ``limit`` items at the same time and calls each item's *finish* step (write
the outputs, acknowledge the message) strictly in arrival order within its
partition, so an acknowledged offset never has unfinished messages before it
and a transaction never holds the outputs of a message whose offset it does
not commit.  Items with the same key in a partition run one after another, so
a second submission of a URL sees the state the first one left.

``submit`` waits while ``limit`` items are in flight: that is the worker's
backpressure (the reader stops pulling, Faust pauses the partitions once its
stream buffer is full) without ever blocking the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

__all__ = ["Abandoned", "ErrorHook", "OrderedWork"]

log = logging.getLogger("newswire.delivery")

Work = Callable[[], Awaitable[Any]]
Finish = Callable[[Any], Awaitable[None]]
ErrorHook = Callable[[BaseException], Awaitable[None]]


class OrderedWork:
    def __init__(self, limit: int, *, on_error: ErrorHook | None = None) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._slots = asyncio.Semaphore(limit)
        self._tails: dict[Hashable, asyncio.Task[None]] = {}
        self._keys: dict[tuple[Hashable, Hashable], asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_error = on_error
        self.peak = 0  # most items in flight at once (for tests and metrics)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def submit(self, partition: Hashable, key: Hashable, work: Work, finish: Finish,
                     abandoned: Callable[[], None] | None = None) -> None:
        """Start ``work``; ``finish(result)`` runs after every earlier item of ``partition`` finished.

        ``abandoned`` is called when the item ends unfinished on purpose
        (:class:`Abandoned`: handed back, or an earlier item was not finished).
        """
        await self._slots.acquire()
        previous = self._tails.get(partition)
        same_key = self._keys.get((partition, key))
        task = asyncio.create_task(self._run(work, finish, previous, same_key, abandoned))
        self._tails[partition] = task
        self._keys[(partition, key)] = task
        self._tasks.add(task)
        self.peak = max(self.peak, len(self._tasks))
        task.add_done_callback(functools.partial(self._done, partition=partition, key=key))

    async def _run(self, work: Work, finish: Finish, previous: asyncio.Task[None] | None,
                   same_key: asyncio.Task[None] | None, abandoned: Callable[[], None] | None = None) -> None:
        try:
            if same_key is not None:
                await _settled(same_key)
            result = await work()
            if previous is not None:
                await _settled(previous)
                if previous.cancelled() or previous.exception() is not None:
                    # An earlier message was not finished: finishing this one would
                    # acknowledge past it.  Leave it unacknowledged (redelivered).
                    raise Abandoned()
            await finish(result)
        except Abandoned:
            if abandoned is not None:
                abandoned()
            raise
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            log.exception("processing failed outside the pipeline; the message stays unacknowledged")
            if self._on_error is not None:
                await self._on_error(exc)
            raise

    def _done(self, task: asyncio.Task[None], partition: Hashable, key: Hashable) -> None:
        self._tasks.discard(task)
        self._slots.release()
        if self._tails.get(partition) is task:
            del self._tails[partition]
        if self._keys.get((partition, key)) is task:
            del self._keys[(partition, key)]
        if not task.cancelled():
            task.exception()  # mark retrieved; already logged

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for the items in flight; True if all finished within ``timeout``."""
        tasks = set(self._tasks)
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        return not pending

    async def cancel(self) -> int:
        """Cancel the items in flight (their messages stay unacknowledged); returns how many."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        return len(tasks)


class Abandoned(Exception):
    """Raised by a finish step that leaves its message unacknowledged on purpose (handed back).

    The items after it in the same partition are abandoned too, quietly."""


async def _settled(task: asyncio.Task[None]) -> None:
    """Wait for ``task`` without taking on its result, exception or cancellation."""
    await asyncio.wait({task})

