"""The one writer every agent and the feed poller write through: a unit of records, in either processing mode.

* ``at_least_once``: through the app's producer; returns once the broker has
  acknowledged every record.  Kafka errors are retried with backoff (a resend
  may duplicate an output, which this mode allows); a batch without a
  delivery report is sent again after ``DELIVERY_TIMEOUT_S``.
* ``exactly_once``: one Kafka transaction per unit, on the transactional
  producer Faust keeps for the unit's *source* partition (its transactional
  id, so a new owner of the partition fences this worker): the records, and
  for a consumed message its offset, committed together.  Faust's own
  transaction manager is not used for this (workers.faust_compat patch 5).

Failures the caller acts on:

* :class:`HandedBack` -- nothing was written; the partition is no longer this
  worker's, its producer was fenced (the group is asked to rebalance), or the
  worker is shutting down.  A consumed message stays unacknowledged and is
  redelivered to the partition's owner.
* :class:`RecordRefused` -- Kafka refused a record as too large (over a
  topic's ``max.message.bytes``); nothing of the unit counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka.errors import KafkaError, MessageSizeTooLargeError, ProducerFenced, RecordTooLargeError
from faust.exceptions import NotReady, ProducerSendError

from ..faust_compat import internals
from .ordering import Abandoned

__all__ = ["HandedBack", "KafkaWriter", "OutRecord", "RecordRefused"]

log = logging.getLogger("newswire.delivery")

#: topic, key, value (None: tombstone), partition (None: by key), headers
OutRecord = tuple[str, bytes, "bytes | None", "int | None", list[tuple[str, bytes]]]

PUBLISH_BACKOFF_MAX_S = 30.0
DELIVERY_TIMEOUT_S = 30.0
#: What Kafka says when it will not take a message for its size: the broker's answer
#: (MESSAGE_TOO_LARGE, over a topic's max.message.bytes or the broker's message.max.bytes)
#: and aiokafka's own check against the producer's max_request_size.
_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError)


class HandedBack(Abandoned):
    """Nothing was written; the message (and what follows in its partition) is redelivered."""


class RecordRefused(Exception):
    """Kafka refused a record of the unit as too large."""

    def __init__(self, topic: str, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__} on topic {topic!r}")
        self.topic = topic


class KafkaWriter:
    """Writes units of records (see the module docstring); one per worker."""

    def __init__(self, app: Any, request_rebalance: Any) -> None:
        self.app = app
        self._request_rebalance = request_rebalance

    @property
    def transactional(self) -> bool:
        # Asked at write time: Faust's in_transaction is False until the app runs in a worker.
        return bool(self.app.in_transaction)

    async def write(self, records: Sequence[OutRecord], *, source: Any, offset: int | None = None) -> None:
        """Write ``records`` as one unit for the partition ``source``; with ``offset``, commit it as consumed.

        ``offset`` is the next offset to read (the consumed message's + 1);
        in at_least_once mode the caller acknowledges the message itself.
        """
        if self.transactional:
            await self._write_transaction(records, source, offset)
        else:
            await self.deliver_acked(records)

    async def send_acked(self, records: Sequence[OutRecord]) -> list[Any]:
        """at_least_once: hand every record to the producer; the futures of their delivery reports."""
        producer = self.app.producer
        futures = []
        for topic, key, value, partition, headers in records:
            try:
                futures.append(await producer.send(topic, key, value, partition, None, headers))
            except ProducerSendError as exc:
                _raise_if_refused(topic, exc)
                raise
        return futures

    async def deliver_acked(self, records: Sequence[OutRecord], futures: list[Any] | None = None) -> None:
        """at_least_once: return once the broker has every record, sending again on failure.

        ``futures``: the delivery reports of a :meth:`send_acked` already made.
        """
        delay = 0.5
        while True:
            try:
                if futures is None:
                    futures = await self.send_acked(records)
                # Faust's producer waits up to 20 minutes for a delivery report; a
                # batch in flight when the broker went away can sit there that
                # long.  Resend instead (a duplicate at worst, in this mode).
                reports = await asyncio.wait_for(asyncio.gather(*map(asyncio.shield, futures),
                                                                return_exceptions=True), DELIVERY_TIMEOUT_S)
                _raise_first_failure(records, reports)
                return
            except NotReady:
                if not self.app.should_stop:
                    raise
                # Shutting down: Faust stops its producer without waiting for the messages
                # still in flight (its wait_empty returns at once once should_stop is set).
                raise HandedBack("producer stopped by the shutdown") from None
            except TimeoutError:
                log.warning("no delivery report; sending again", extra={"stage": "publish",
                                                                        "timeout_s": DELIVERY_TIMEOUT_S})
            except (KafkaError, ProducerSendError) as exc:
                log.warning("publish failed; retrying", extra={"stage": "publish", "error": type(exc).__name__})
                await asyncio.sleep(delay)
                delay = min(delay * 2, PUBLISH_BACKOFF_MAX_S)
            futures = None

    async def _write_transaction(self, records: Sequence[OutRecord], source: Any, offset: int | None) -> None:
        """One transaction on the source partition's producer: the records and the consumed offset."""
        tid = internals.transactional_id(self.app, source)
        lock = internals.transaction_lock(self.app, tid)
        try:
            if lock is None:
                raise HandedBack(tid)
            async with lock:
                # Looked up under the lock: a refusal may have renewed it meanwhile.
                txn_producer = internals.transactional_producer(self.app, tid)
                if txn_producer is None:
                    raise HandedBack(tid)
                if not internals.in_transaction(txn_producer):
                    await txn_producer.begin_transaction()
                try:
                    futures = []
                    for topic, key, value, partition, headers in records:
                        try:
                            futures.append(await txn_producer.send(topic, value, key=key, partition=partition,
                                                                   headers=headers))
                        except KafkaError as exc:
                            _raise_if_refused(topic, exc)
                            raise
                    _raise_first_failure(records, await asyncio.gather(*futures, return_exceptions=True))
                except RecordRefused:
                    await self._renew(tid, txn_producer)
                    raise
                if offset is not None:
                    await txn_producer.send_offsets_to_transaction({source: offset}, self.app.conf.id)
                await txn_producer.commit_transaction()
                await txn_producer.begin_transaction()
        except HandedBack:
            log.warning("partition no longer assigned; handed back", extra={"tid": tid})
            raise
        except ProducerFenced:
            log.warning("transactional producer fenced; handed back, the group asked to rebalance",
                        extra={"tid": tid})
            await self._retire_fenced(tid)
            raise HandedBack(tid) from None
        except KafkaError as exc:
            # The transaction is aborted by the broker (this producer is gone);
            # the message and its successors are redelivered.
            log.error("transactional write failed; stopping the worker", extra={"tid": tid, "error": repr(exc)})
            await self.app.crash(exc)
            raise HandedBack(tid) from exc

    async def _retire_fenced(self, tid: str) -> None:
        """After ProducerFenced: take the dead producer out and have the group confirm who owns what.

        A fenced aiokafka producer is in a fatal state: every later
        ``begin_transaction`` on it fails an assertion.  Out of Faust's
        registry, later units for ``tid`` are handed back ("no longer
        assigned").  A rebalance then settles it: if another worker owns the
        partition now, it keeps it; if this one still does (the fence came
        from elsewhere, e.g. the coordinator aborting a transaction), Faust
        starts a new producer for ``tid`` on assignment and the delivery guard
        reads the handed-back messages again from the committed offset.
        Renewing the producer here instead could fence a rightful new owner.
        """
        fenced = internals.take_out_transactional_producer(self.app, tid)
        if fenced is not None:
            with contextlib.suppress(Exception):
                await fenced.stop()
        await self._request_rebalance(self.app)

    async def _renew(self, tid: str, txn_producer: Any) -> None:
        """Abort the transaction of a refused unit and put a new producer in place for ``tid``.

        aiokafka 0.14 counts a refused batch in the partition's sequence number
        although the broker never stored it: every later write of that
        producer to the partition fails with OutOfOrderSequenceNumber, even
        after an abort.  A new producer for the same transactional id gets a
        new epoch and fresh sequence numbers (and fences the old one).
        """
        with contextlib.suppress(Exception):
            await txn_producer.abort_transaction()
        with contextlib.suppress(Exception):
            await txn_producer.stop()
        renewed = await internals.renew_transactional_producer(self.app, tid)
        await renewed.begin_transaction()


def _raise_if_refused(topic: str, exc: BaseException) -> None:
    """Raise :class:`RecordRefused` if ``exc`` (or what Faust wrapped in it) is Kafka refusing a message's size."""
    for candidate in (exc, exc.__cause__):
        if isinstance(candidate, _TOO_LARGE):
            raise RecordRefused(topic, candidate) from exc


def _raise_first_failure(records: Sequence[OutRecord], reports: Sequence[Any]) -> None:
    """After all delivery reports are in: a refusal first (it decides the unit's fate), else any failure."""
    failures = [(record[0], report) for record, report in zip(records, reports, strict=True)
                if isinstance(report, BaseException)]
    for topic, failure in failures:
        _raise_if_refused(topic, failure)
    if failures:
        raise failures[0][1]
