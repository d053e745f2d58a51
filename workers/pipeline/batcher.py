"""Micro-batching on the event loop: items that arrive close together go to one batch call.

Used by the enrich stage (:mod:`workers.pipeline.pool`) so that several
articles waiting for NER cross to the process pool as ONE task, which runs
``nlp.pipe`` over all of them: spaCy is markedly cheaper per text in a batch
than called once per text, most of all on short pages.

The policy, in order:

* a batch is sent as soon as it holds ``max_size`` items;
* otherwise it is sent ``max_wait_s`` after its first item arrived (a couple
  of milliseconds: a lone article is never held back noticeably);
* at most ``max_in_flight`` batches run at once (the pool's size): when every
  process is busy, arrivals wait in the open batch instead of queueing one by
  one behind the pool, so batches grow exactly when the CPU is the bottleneck,
  and the open batch goes out the moment a running batch returns.

``run_batch`` receives the items in arrival order and returns one outcome per
item, in the same order: a result, or an exception for that item alone (its
waiter gets it raised; its batch-mates are unaffected).  If ``run_batch``
itself raises, every item of that batch gets the exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["MicroBatcher"]

Item = TypeVar("Item")
Result = TypeVar("Result")


class MicroBatcher(Generic[Item, Result]):
    def __init__(self, run_batch: Callable[[list[Item]], Awaitable[Sequence[Result | BaseException]]], *,
                 max_size: int, max_wait_s: float, max_in_flight: int) -> None:
        if max_size < 1 or max_in_flight < 1 or max_wait_s < 0:
            raise ValueError("max_size and max_in_flight must be >= 1 and max_wait_s >= 0")
        self._run_batch = run_batch
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self.max_in_flight = max_in_flight
        self._open: list[tuple[Item, asyncio.Future[Result]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._due = False  # the open batch has waited max_wait_s (or is full): send when a slot frees
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches_sent = 0  # counters for metrics and tests
        self.items_sent = 0

    @property
    def waiting(self) -> int:
        """Items in the open batch, not yet sent."""
        return len(self._open)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def submit(self, item: Item) -> Result:
        """The result for ``item`` once its batch has run (or the exception for it)."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._open.append((item, future))
        if len(self._open) >= self.max_size:
            self._due = True
            self._dispatch()
        elif len(self._open) == 1:
            self._timer = asyncio.get_running_loop().call_later(self.max_wait_s, self._on_timer)
        return await future

    def _on_timer(self) -> None:
        self._timer = None
        if self._open:
            self._due = True
            self._dispatch()

    def _dispatch(self) -> None:
        """Send due batches while a slot is free."""
        while self._due and self._open and self._in_flight < self.max_in_flight:
            batch, self._open = self._open[:self.max_size], self._open[self.max_size:]
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            # What is left over arrived while the pool was busy: it has waited already.
            self._due = bool(self._open)
            self._in_flight += 1
            self.batches_sent += 1
            self.items_sent += len(batch)
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._open and not self._due and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.max_wait_s, self._on_timer)

    async def _run(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            outcomes = await self._run_batch([item for item, _ in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"batch of {len(batch)} items returned {len(outcomes)} outcomes")
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter, never lost
            outcomes = [exc] * len(batch)
            if not isinstance(exc, Exception):
                self._settle(batch, outcomes)
                raise
        finally:
            self._in_flight -= 1
        self._settle(batch, outcomes)
        self._dispatch()  # a slot is free: a batch that fell due meanwhile goes now

    @staticmethod
    def _settle(batch: list[tuple[Item, asyncio.Future[Result]]],
                outcomes: Sequence[Result | BaseException]) -> None:
        for (_, future), outcome in zip(batch, outcomes, strict=True):  # lengths checked in _run
            if future.done():  # its waiter was cancelled
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
