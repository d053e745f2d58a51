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

A *finish* step may be pipelined: it starts the item's writes and returns a
:class:`Pipelined` instead of waiting for the broker.  The next item of the
partition then starts its own writes at once, while this one waits for its
delivery; each item is still *completed* (acknowledged) only after its own
delivery and after every earlier item of its partition completed.  Without
it, a partition finished one broker round trip at a time: measured under
load, 250 ms per commit held the in-flight slots while the CPU pool ran
dry (benchmarks/e2e.py).  An item waiting only for the broker gives its
in-flight slot to the next message (the limit bounds fetching and the CPU
stages); at most ``AWAITING_PER_SLOT * limit`` items wait for the broker.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Protocol

__all__ = ["AWAITING_PER_SLOT", "Abandoned", "ErrorHook", "OrderedWork", "Pipelined"]

log = logging.getLogger("newswire.delivery")



class Pipelined(Protocol):
    """What a pipelined finish step returns: its writes are on their way."""

    async def delivered(self) -> None:
        """Wait until the broker has the item's writes (raise if it will not)."""

    def complete(self) -> None:
        """Acknowledge the item; called in partition order, after :meth:`delivered`."""


#: Items waiting for the broker's acknowledgement of their writes, per in-flight slot.
AWAITING_PER_SLOT = 4

Work = Callable[[], Awaitable[Any]]
Finish = Callable[[Any], Awaitable["Pipelined | None"]]
ErrorHook = Callable[[BaseException], Awaitable[None]]


class OrderedWork:
    def __init__(self, limit: int, *, on_error: ErrorHook | None = None) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._slots = asyncio.Semaphore(limit)
        self._awaiting = asyncio.Semaphore(AWAITING_PER_SLOT * limit)
        # Per item: which of the two it holds ("slot", "awaiting"), released when it ends.
        self._holds: dict[asyncio.Task[None], set[str]] = {}
        self._tails: dict[Hashable, asyncio.Task[None]] = {}
        self._keys: dict[tuple[Hashable, Hashable], asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Per item: set once its writes have started (or it ended); the next item of its partition waits for it.
        self._started: dict[asyncio.Task[None], asyncio.Future[None]] = {}
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
        started = asyncio.get_running_loop().create_future()
        previous_started = self._started.get(previous) if previous is not None else None
        holds = {"slot"}
        task = asyncio.create_task(self._run(work, finish, previous, same_key, abandoned,
                                             started, previous_started, holds))
        self._started[task] = started
        self._holds[task] = holds
        self._tails[partition] = task
        self._keys[(partition, key)] = task
        self._tasks.add(task)
        self.peak = max(self.peak, len(self._tasks))
        task.add_done_callback(functools.partial(self._done, partition=partition, key=key))

    async def _run(self, work: Work, finish: Finish, previous: asyncio.Task[None] | None,
                   same_key: asyncio.Task[None] | None, abandoned: Callable[[], None] | None,
                   started: asyncio.Future[None], previous_started: asyncio.Future[None] | None,
                   holds: set[str] | None = None) -> None:
        try:
            if same_key is not None:
                await _settled(same_key)  # the whole item, completed: its state is what this one reads
            result = await work()
            if previous is not None:
                # Writes start in partition order: after the previous item's started (or it ended).
                await asyncio.wait({previous, previous_started} if previous_started is not None else {previous},
                                   return_when=asyncio.FIRST_COMPLETED)
                _raise_if_unfinished(previous)
            pipelined = await finish(result)
            if pipelined is not None:
                _set(started)
                if holds is not None:
                    # Only the broker is left: the slot goes to the next message.
                    await self._awaiting.acquire()
                    holds.add("awaiting")
                    holds.discard("slot")
                    self._slots.release()
                await pipelined.delivered()
                if previous is not None:
                    await _settled(previous)
                    _raise_if_unfinished(previous)
                pipelined.complete()
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
        finally:
            _set(started)

    def _done(self, task: asyncio.Task[None], partition: Hashable, key: Hashable) -> None:
        self._tasks.discard(task)
        _set(self._started.pop(task, None))
        holds = self._holds.pop(task, {"slot"})
        if "slot" in holds:
            self._slots.release()
        if "awaiting" in holds:
            self._awaiting.release()
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


def _raise_if_unfinished(previous: asyncio.Task[None]) -> None:
    """An earlier message that ended unfinished: finishing this one would acknowledge past it.

    Leave it unacknowledged (redelivered).  (Its writes may have started: a
    duplicate on redelivery, which only the pipelined at_least_once finish allows.)
    """
    if previous.done() and (previous.cancelled() or previous.exception() is not None):
        raise Abandoned()


def _set(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


async def _settled(task: asyncio.Task[None]) -> None:
    """Wait for ``task`` without taking on its result, exception or cancellation."""
    await asyncio.wait({task})

