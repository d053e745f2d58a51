"""When a consumed message is done: its outbox written through the one writer, then the message acknowledged.

The table changes of the outbox go to each table's changelog in the
*message's* partition (the table is co-partitioned with the stream that
changes it, Faust's own rule) inside the same unit as the outputs, and are
applied to the in-memory table only after the write succeeded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka.errors import KafkaError
from faust.exceptions import NotReady, ProducerSendError

from ..observability.metrics import METRICS
from .ordering import Pipelined
from .outbox import EventOutbox
from .writer import KafkaWriter, OutRecord, RecordRefused

__all__ = ["Committer", "PendingCommit", "Refusal"]

log = logging.getLogger("newswire.delivery")

#: Writes the outputs that replace a refused message's outputs: (detail, new outbox).
Refusal = Callable[[str, EventOutbox], Awaitable[Any]]


class Committer:
    """Writes a message's outbox and acknowledges the message, for one agent's outputs and tables."""

    def __init__(self, writer: KafkaWriter, topics_by_role: Mapping[str, str], tables: Mapping[str, Any]) -> None:
        self.writer = writer
        self.topics = dict(topics_by_role)
        self.tables = dict(tables)

    async def commit(self, event: Any, outbox: EventOutbox, on_refused: Refusal | None = None) -> None:
        """Write the outbox and acknowledge the message; a refused output turns the message into its dead letter.

        Kafka refuses a message over a topic's ``max.message.bytes`` or the
        broker's ``message.max.bytes`` (an operator may lower either while the
        worker runs).  Nothing of the refused outbox counts (in exactly_once
        its transaction is aborted; in at_least_once outputs sent before the
        refusal may stay, like any resend), and the stage's ``on_refused``
        writes the message's dead letter, committed like any outbox.
        """
        try:
            await self._commit_once(event, outbox)
        except RecordRefused as refused:
            if on_refused is None:
                raise
            log.error("output refused by Kafka as too large; the URL becomes a dead letter",
                      extra={"stage": "publish", "topic": refused.topic, "error": str(refused)})
            replacement = EventOutbox()
            await on_refused(str(refused), replacement)
            await self._commit_once(event, replacement)

    async def _commit_once(self, event: Any, outbox: EventOutbox) -> None:
        # The "publish" stage latency: from handing the article to Kafka until the broker has it.
        publishing = any(message[0] == "articles" for message in outbox.messages)
        started = time.perf_counter()
        message = event.message
        await self.writer.write(self.records(outbox, message.partition), source=message.tp,
                                offset=message.offset + 1)
        self.apply_state(outbox)
        event.ack()  # Faust's bookkeeping: at_least_once commits it; exactly_once ends its wait for it
        if publishing:
            METRICS.observe_stage("publish", time.perf_counter() - started)

    async def start_commit(self, event: Any, outbox: EventOutbox,
                           on_refused: Refusal | None = None) -> Pipelined | None:
        """Begin :meth:`commit`: in at_least_once, send the outputs and return the rest of the commit.

        The returned :class:`PendingCommit` waits for the delivery, then
        acknowledges (the caller keeps the partition order, :mod:`.ordering`).
        In exactly_once the whole commit is done here (one transaction per
        message, one at a time per partition) and None is returned.
        """
        if self.writer.transactional:
            await self.commit(event, outbox, on_refused)
            return None
        pending = PendingCommit(self, event, outbox, on_refused)
        await pending.send()
        return pending

    def records(self, outbox: EventOutbox, partition: int) -> list[OutRecord]:
        """The outbox as records: messages by role (a disabled role is dropped), table changes in ``partition``."""
        out: list[OutRecord] = []
        for role, key, value, headers, part in outbox.messages:
            topic = self.topics.get(role)
            if topic is not None:  # a disabled output (entities topic unset)
                out.append((topic, key, value, part, list(headers.items())))
        for name, key, value in outbox.state:
            out.append((self.tables[name].changelog_topic.get_topic_name(), key, value, partition, []))
        return out

    def apply_state(self, outbox: EventOutbox) -> None:
        for name, key, value in outbox.state:
            if value is None:
                self.tables[name].data.pop(key, None)
            else:
                self.tables[name].data[key] = value


class PendingCommit:
    """An at_least_once commit whose outputs are on their way (see :meth:`Committer.start_commit`).

    Same outcome as :meth:`Committer.commit`: the outputs delivered (sent again
    on failure), a refused output replaced by the message's dead letter, then
    the table changes applied and the message acknowledged.
    """

    def __init__(self, committer: Committer, event: Any, outbox: EventOutbox, on_refused: Refusal | None) -> None:
        self.committer = committer
        self.event = event
        self.outbox = outbox
        self.on_refused = on_refused
        self.records = committer.records(outbox, event.message.partition)
        self.futures: list[Any] | None = None
        self.started = time.perf_counter()

    async def send(self) -> None:
        try:
            self.futures = await self.committer.writer.send_acked(self.records)
        except (RecordRefused, NotReady, KafkaError, ProducerSendError):
            self.futures = None  # delivered() sends again and handles it as commit() does

    async def delivered(self) -> None:
        writer = self.committer.writer
        try:
            await writer.deliver_acked(self.records, self.futures)
        except RecordRefused as refused:
            if self.on_refused is None:
                raise
            log.error("output refused by Kafka as too large; the URL becomes a dead letter",
                      extra={"stage": "publish", "topic": refused.topic, "error": str(refused)})
            self.outbox = EventOutbox()
            await self.on_refused(str(refused), self.outbox)
            self.records = self.committer.records(self.outbox, self.event.message.partition)
            await writer.deliver_acked(self.records)
        if any(message[0] == "articles" for message in self.outbox.messages):
            METRICS.observe_stage("publish", time.perf_counter() - self.started)

    def complete(self) -> None:
        self.committer.apply_state(self.outbox)
        self.event.ack()
