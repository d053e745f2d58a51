"""Delivery: the one place that decides when a message is done.  Read top to bottom, it is docs/delivery.md.

Every agent reaches Kafka through :class:`Delivery` -- an agent is declared
with :meth:`Delivery.agent` and gives only its :class:`~.runner.Stage` (what
to do with one message); it cannot opt out of any of this:

1. **Intake** (:mod:`.intake`, :mod:`.continuity`): each event is checked
   to be the next offset of its partition.  Faust can lose fetched messages
   from its buffers during a rebalance; a hole is read again from Kafka
   (offsets the client skipped on purpose -- transaction markers, aborted or
   compacted records -- are told apart through workers.faust_compat patch 6).
2. **Ordering** (:mod:`.ordering`): up to ``limit`` messages are worked on at
   once; each one's commit runs strictly in offset order per partition, and
   messages with the same key one after another.  A full stage is the
   worker's backpressure.  In ``at_least_once`` the commits are pipelined
   (:class:`~.committer.PendingCommit`): a message's outputs go out once the
   previous one's have, its acknowledgement still follows the previous one's.
3. **Outbox** (:mod:`.outbox`): a step never writes to Kafka; it puts its
   outputs and table changes into the message's outbox.
4. **Commit** (:mod:`.committer`, :mod:`.writer`): the outbox, the table
   changelog entries and (in exactly_once) the message's offset are written
   as one unit by the one :class:`~.writer.KafkaWriter` -- one Kafka
   transaction on the source partition's producer in ``exactly_once``; sent
   and acknowledged before the message is acknowledged in ``at_least_once``.
   A record Kafka refuses as too large turns the message into its dead
   letter; a fenced producer hands the message back and asks for a rebalance.
   The feed poller writes its polls through the same writer.
5. **Progress** (:meth:`Delivery.check_progress`, every 2 s): overdue
   re-reads are sought again; partitions whose messages never arrive while
   the agent waits are read again.
6. **Shutdown** (:mod:`.shutdown`): in-flight messages get
   ``shutdown_timeout_s``; what is not done is handed back (redelivered to the
   partition's next owner) and the process ends even if Faust's stop hangs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..faust_compat import Hooks
from .committer import Committer
from .continuity import PassedOver
from .intake import GuardedIntake, check_progress, request_rebalance
from .log_start import LogStartLookup
from .ordering import Abandoned
from .outbox import EventOutbox
from .runner import Refused, Stage, StageRunner, Step
from .shutdown import bounded_shutdown
from .writer import HandedBack, KafkaWriter, OutRecord, RecordRefused

__all__ = ["Abandoned", "Delivery", "EventOutbox", "HandedBack", "OutRecord", "RecordRefused", "Refused", "Stage",
           "Step"]

PROGRESS_INTERVAL_S = 2.0

log = logging.getLogger("newswire.delivery")


class Delivery:
    """The delivery layer of one worker app: its agents, its writer, its progress checks and shutdown."""

    def __init__(self, app: Any, hooks: Hooks, *, shutdown_timeout_s: float,
                 log_start: LogStartLookup | None = None) -> None:
        self.app = app
        # The start of a partition's log for the intakes, on a connection no fetch holds up (.log_start).
        self.log_start = log_start
        self.passed_over = PassedOver()
        self.hooks = hooks
        hooks.passed_over = self.passed_over
        self.writer = KafkaWriter(app, request_rebalance)
        self.runners: list[StageRunner] = []
        self.shutdown_timeout_s = shutdown_timeout_s
        app.timer(PROGRESS_INTERVAL_S, name="newswire.delivery.check_progress")(self.check_progress)
        app.task(self.shutdown)
        if log_start is not None:
            app.task(self._connect_log_start)

    def agent(self, topic: Any, *, outputs: Mapping[str, Any], tables: Mapping[str, Any] | None = None,
              name: str) -> Callable[[Callable[[], Awaitable[Stage]]], Any]:
        """Declare an agent on ``topic``: the decorated coroutine returns its :class:`Stage` (set-up goes there).

        ``outputs`` maps the roles its outbox publishes to onto Faust topics (None:
        a disabled output, dropped); ``tables`` maps names its outbox remembers
        into onto Faust tables.
        """
        committer = self.committer(outputs, tables)

        def register(make_stage: Callable[[], Awaitable[Stage]]) -> Any:
            async def agent(stream: Any) -> None:
                stage = await make_stage()
                runner = StageRunner(stage, committer,
                                     GuardedIntake(self.app, stage.name, self.hooks, self.passed_over,
                                                   self.log_start),
                                     on_error=self.app.crash)
                self.runners.append(runner)
                await runner.run(stream)

            return self.app.agent(topic, name=name)(agent)

        return register

    def committer(self, outputs: Mapping[str, Any], tables: Mapping[str, Any] | None = None) -> Committer:
        """How outboxes reach Kafka: ``outputs`` maps roles onto Faust topics (None: a disabled output,
        dropped), ``tables`` table names onto Faust tables."""
        topics_by_role = {role: t.get_topic_name() for role, t in outputs.items() if t is not None}
        return Committer(self.writer, topics_by_role, tables or {})

    async def write_unit(self, committer: Committer, outbox: EventOutbox, source: Any) -> bool:
        """Write a unit that consumed no message (a feed poll) for the partition ``source``.

        Returns False when the partition is no longer this worker's (nothing
        written; its new owner does the work); the in-memory tables are updated
        only after the write.
        """
        try:
            await self.writer.write(committer.records(outbox, source.partition), source=source)
        except HandedBack:
            return False
        committer.apply_state(outbox)
        return True

    async def check_progress(self) -> None:
        await check_progress([runner.intake for runner in self.runners])

    async def shutdown(self) -> None:
        await bounded_shutdown(self.app, self.runners, self.shutdown_timeout_s)
        if self.log_start is not None:
            await self.log_start.close()

    async def _connect_log_start(self) -> None:
        assert self.log_start is not None
        try:
            await self.log_start.start()
        except Exception as exc:  # the broker not there yet: the first lookup connects
            log.warning("log-start lookup not connected yet", extra={"error": repr(exc)})
