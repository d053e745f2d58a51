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

from ..observability.metrics import METRICS
from .outbox import EventOutbox
from .writer import KafkaWriter, OutRecord, RecordRefused

__all__ = ["Committer", "Refusal"]

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
