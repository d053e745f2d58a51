"""The Faust side of the delivery guard (:mod:`.continuity`): admit an agent's events in partition order.

An agent asks :meth:`GuardedIntake.admit` for every event before it works on
it.  Events that are not next in their partition are not worked on: they are
forgotten by Faust's acknowledgement tracking and come again, either because
the partition is read again from the hole (a seek, here) or because they are
already done or in flight.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from workers.delivery.continuity import Deliver, DeliveryGuard, PassedOver, Reread

from ..faust_compat import Hooks, add_gap, internals
from ..observability.metrics import METRICS

__all__ = ["GuardedIntake", "check_progress", "request_rebalance"]

log = logging.getLogger("newswire.delivery")

_POSITION_TIMEOUT_S = 2.0
#: An agent waiting this long for its next event while a partition it reads has
#: messages it never got: the partition is read again from the first of them.
IDLE_S = 10.0
_LOG_START_TIMEOUT_S = 10.0

#: The first offset of a partition, asked on a connection of its own (:mod:`.log_start`).
LogStart = Callable[[Any], Awaitable["int | None"]]


class GuardedIntake:
    """One agent's guard: which of its events are next in their partition, and re-reads where not."""

    def __init__(self, app: Any, name: str, hooks: Hooks, passed_over: PassedOver,
                 log_start: LogStart | None = None) -> None:
        self.app = app
        self.name = name
        self.log_start = log_start
        self.hooks = hooks
        self.guard = DeliveryGuard(passed_over)
        self.topics: set[str] = set()
        self.waiting_since: float | None = None
        self._nudged: dict[Any, float] = {}

    def watch(self, stream: Any) -> None:
        """Declare the stream's topics guarded (before its first event)."""
        self.topics = set(getattr(stream.channel, "topics", ()) or ())
        self.hooks.guarded_topics.update(self.topics)
        self.waiting()

    def waiting(self) -> None:
        """The agent waits for its next event (not held back by its own work)."""
        self.waiting_since = time.monotonic()

    def arrived(self) -> None:
        self.waiting_since = None

    async def admit(self, event: Any) -> bool:
        """Whether the event is next in its partition; otherwise it comes again (or is done).

        Offsets passed over on purpose (transaction markers, aborted or
        compacted records) are reported to Faust as done, so its commit of
        the partition does not stop at them.
        """
        message = event.message
        consumer = self.app.consumer
        generation = self.app.consumer_generation_id
        if self.guard.needs_begin(message.tp, generation):
            self.guard.begin(message.tp, generation, await _start_offset(self.app, message.tp, self.log_start))
        verdict = self.guard.check(message.tp, message.offset, generation)
        if isinstance(verdict, Deliver):
            if verdict.gap is not None:
                if verdict.unreadable:
                    log.error("offsets could not be read again; skipped", extra={
                        "stage": self.name, "topic": message.topic, "partition": message.partition,
                        "from_offset": verdict.gap[0], "to_offset": verdict.gap[1]})
                await add_gap(consumer, message.tp, *verdict.gap)
            return True
        # Not worked on now: forget it so Faust's wait for acknowledgements does not.
        self.release(event)
        if isinstance(verdict, Reread):
            log.warning("messages fetched but never delivered; reading the partition again", extra={
                "stage": self.name, "topic": message.topic, "partition": message.partition,
                "from_offset": verdict.offset, "seen_offset": message.offset})
            await self._seek(message.tp, verdict.offset)
        return False

    def release(self, event: Any) -> None:
        """Forget an event that will not be acknowledged (it comes again), so Faust stops waiting for it.

        Faust's revocation and shutdown wait until every message taken from a
        stream is acknowledged (``stream_wait_empty``); one handed back or
        abandoned never will be, and the rebalance would hang on it.
        """
        internals.forget_unacked(self.app, event.message)

    async def _seek(self, tp: Any, offset: int) -> None:
        METRICS.partition_rereads.labels(stage=self.name).inc()
        try:
            client = internals.kafka_consumer(self.app)
            await internals.on_consumer_loop(self.app, _seek(client, tp, offset))
        except Exception as exc:  # revoked meanwhile: the next owner reads from the committed offset
            log.warning("seek for the re-read failed", extra={"stage": self.name, "error": repr(exc)})

    async def read_idle_partitions_again(self) -> None:
        """Seek partitions whose messages never arrive while the agent waits for events.

        Seen on the real broker: Faust cleared the rest of a batch from its
        buffers and the partition was never fetched again, so no later
        message revealed the hole.  When the client's position is past the
        first missing offset, those messages were handed to Faust and lost:
        the partition is read again from there.  When it is not, the
        partition is not being fetched; if Faust still counts the agent's
        (empty) buffer as full, the partition is given back to fetching.
        Only when the agent has waited ``IDLE_S`` for its next event (a busy
        agent is held back by its own work, not by the partition), and at
        most once per ``IDLE_S`` per partition.
        """
        if self.waiting_since is None or time.monotonic() - self.waiting_since < IDLE_S:
            return
        consumer = self.app.consumer
        generation = self.app.consumer_generation_id
        try:
            assigned = [tp for tp in consumer.assignment() if tp.topic in self.topics]
        except Exception:  # not started or stopping
            return
        now = time.monotonic()
        for tp in assigned:
            if now - self._nudged.get(tp, 0.0) < IDLE_S:
                continue
            try:
                end = consumer.highwater(tp)
            except Exception:
                continue
            offset = self.guard.waiting_for(tp, generation, end)
            if offset is None:
                continue
            position = await _position(self.app, tp)
            if position is not None and position > offset:
                # The client handed them to Faust and they never came: lost on the way.
                self._nudged[tp] = now
                log.warning("messages waiting that never arrived; reading the partition again", extra={
                    "stage": self.name, "topic": tp.topic, "partition": tp.partition, "from_offset": offset,
                    "end_offset": end, "position": position})
                await self._seek(tp, offset)
            elif _left_out_of_fetching(self.app, tp):
                # Not fetched because Faust still counts this idle agent's buffer as
                # full (a cleared buffer never reports its pressure drop).
                self._nudged[tp] = now
                log.warning("partition left out of fetching; fetching it again", extra={
                    "stage": self.name, "topic": tp.topic, "partition": tp.partition, "from_offset": offset})
                internals.fetch_again(self.app, tp)


async def request_rebalance(app: Any) -> None:
    """Ask the group coordinator for a rebalance (this worker rejoins; the group reassigns)."""
    try:
        await internals.request_rejoin(app)
    except Exception as exc:  # stopping, or not started: the next rebalance comes anyway
        log.warning("rebalance request failed", extra={"error": repr(exc)})


async def check_progress(intakes: list[GuardedIntake]) -> None:
    """Seek again where a re-read's hole did not arrive in time, or where messages never arrive (periodic)."""
    for intake in intakes:
        for tp, offset in intake.guard.overdue_rereads(intake.app.consumer_generation_id):
            log.warning("re-read overdue; seeking again", extra={
                "stage": intake.name, "topic": getattr(tp, "topic", None), "partition": getattr(tp, "partition", None),
                "from_offset": offset})
            await intake._seek(tp, offset)
        await intake.read_idle_partitions_again()


def _left_out_of_fetching(app: Any, tp: Any) -> bool:
    try:
        return internals.left_out_of_fetching(app, tp)
    except AttributeError:  # consumer not started (tests/compat pins the attributes)
        return False


async def _position(app: Any, tp: Any) -> int | None:
    """The Kafka client's position in ``tp`` (the next offset it will hand out); None if not known quickly."""
    try:
        client = internals.kafka_consumer(app)
        position: int = await internals.on_consumer_loop(app, client.position(tp), _POSITION_TIMEOUT_S)
        return position
    except Exception:
        return None


async def _seek(client: Any, tp: Any, offset: int) -> None:
    client.seek(tp, offset)  # on the consumer's loop: aiokafka is not thread-safe


async def _start_offset(app: Any, tp: Any, log_start: LogStart | None = None) -> int | None:
    """Where a new generation reads ``tp`` from: the group's committed offset, or else the start of the log.

    (Faust seeks a partition without a committed offset to its beginning:
    workers.faust_compat patch 1.)  Asked from the broker; None if it does not
    answer in time.  The start of the log through ``log_start`` when given:
    on the consumer's own connection the request waits behind its fetch
    (:mod:`.log_start`).
    """
    try:
        client = internals.kafka_consumer(app)
        committed: int | None = await internals.on_consumer_loop(app, client.committed(tp))
        if committed is not None:
            return committed
        if log_start is not None:
            return await asyncio.wait_for(log_start(tp), _LOG_START_TIMEOUT_S)
        beginnings = await internals.on_consumer_loop(app, client.beginning_offsets([tp]))
        start: int | None = beginnings.get(tp)
        return start
    except Exception as exc:
        log.warning("start offset not available; partition read as it comes",
                    extra={"topic": getattr(tp, "topic", tp), "error": repr(exc)})
        return None
