"""A correction to faust-streaming 0.15.3 that delivery depends on, applied once at import of the app.

**Lost messages at the start of a partition after a rebalance.**  On every
rebalance Faust stops the flow: messages already fetched but not yet handed to
an agent are dropped (``Consumer._drain_messages`` abandons the delivery when
``suspend_flow`` is set, ``flow_control.clear()`` empties the stream buffers)
while the fetch position has moved past them.  Faust relies on
``seek_to_committed()`` after the assignment to rewind -- but aiokafka's
``seek_to_committed`` only seeks when the committed offset is a positive
number (``if offset and offset > 0``).  For a partition that has no committed
offset yet (a new topic, a new group) the position is not rewound, the
dropped messages are never delivered, and the next commit (acknowledged
offsets from there on) skips them for good.  Reproduced on the real broker:
the first messages of a partition vanished when a worker joined or left the
group during the first seconds of a batch.

The fix: a partition without a committed offset is sought to its beginning,
which is what ``consumer_auto_offset_reset="earliest"`` means for it anyway.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Mapping

from .continuity import PassedOver

__all__ = ["PASSED_OVER", "install"]

log = logging.getLogger("newswire.faust_fixes")

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    original = AIOKafkaConsumerThread.seek_to_committed

    async def seek_to_committed(self: Any) -> Mapping[Any, int]:
        committed = await original(self)
        # Only stream partitions: changelogs and the leader topic are read by
        # Faust's recovery and assignor, which position them themselves.
        acking = self.app.topics.acks_enabled_for
        uncommitted = [tp for tp, offset in committed.items() if not offset and acking(tp.topic)]
        if uncommitted:
            log.info("no committed offset; reading from the beginning",
                     extra={"partitions": sorted(f"{tp.topic}:{tp.partition}" for tp in uncommitted)})
            await self.seek_to_beginning(*uncommitted)
        return committed

    seek_to_committed.__doc__ = original.__doc__
    AIOKafkaConsumerThread.seek_to_committed = seek_to_committed  # type: ignore[method-assign]
    _fix_gap_bound()
    _commit_before_revocation()
    _fix_transactional_highwaters()
    _leave_transactional_commits_to_newswire()
    _record_passed_over_offsets()
    _no_read_offset_filter_for_guarded_topics()
    _installed = True


#: Source topics whose agents account for skipped offsets themselves (workers.agents).
GUARDED_TOPICS: set[str] = set()

_faust_add_gap: Any = None


async def add_gap(consumer: Any, tp: Any, offset_from: int, offset_to: int) -> None:
    """Tell Faust that offsets ``[offset_from, offset_to)`` hold no message to acknowledge."""
    if offset_to - 1 >= offset_from:
        await _faust_add_gap(consumer, tp, offset_from, offset_to - 1)


def _fix_gap_bound() -> None:
    """Faust's own gap bookkeeping in ``_drain_messages`` is wrong twice over.

    It calls ``_add_gap(tp, last_read + 1, offset)`` with the offset just read,
    and ``_add_gap`` takes ``offset_to`` as inclusive, so the delivered message
    is also recorded as a gap: once it is acknowledged it appears twice in the
    acknowledged list, the run of consecutive offsets breaks at it, and the
    partition's commit lags one commit interval behind -- long enough for a
    rebalance to discard the acknowledgements while the outputs are already
    in the partition's transaction: duplicates in exactly_once.  And it
    cannot tell a transaction marker from messages it dropped itself (see
    workers.continuity), so for the agents' topics it would mark a hole as
    done.  For those topics the agents report gaps (:func:`add_gap`, end
    exclusive); for the others, ``offset_to`` is treated as exclusive.
    """
    global _faust_add_gap
    from faust.transport.consumer import Consumer

    if getattr(Consumer, "_newswire_gap_fixed", False):
        return
    _faust_add_gap = Consumer._add_gap

    async def _add_gap(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        if tp.topic in GUARDED_TOPICS:
            return
        if offset_to - 1 >= offset_from:
            await _faust_add_gap(self, tp, offset_from, offset_to - 1)

    Consumer._add_gap = _add_gap  # type: ignore[method-assign]
    Consumer._newswire_gap_fixed = True  # type: ignore[attr-defined]


def _commit_before_revocation() -> None:
    """Commit acknowledged offsets before Faust forgets them on a rebalance.

    ``Consumer.on_partitions_revoked`` drops the pending acknowledgements of
    the revoked partitions first and commits afterwards; their outputs stay
    in the (per-partition-number) transaction and are committed with the
    next commit of that transaction, without their offsets.
    """
    from faust.transport.consumer import Consumer

    if getattr(Consumer, "_newswire_revoke_fixed", False):
        return
    original = Consumer.on_partitions_revoked

    async def on_partitions_revoked(self: Any, revoked: Any) -> None:
        try:
            await self.commit()
        except Exception as exc:  # the rebalance must go on; the offsets are re-read later
            log.warning("commit before revocation failed", extra={"error": repr(exc)})
        await original(self, revoked)

    Consumer.on_partitions_revoked = on_partitions_revoked  # type: ignore[method-assign]
    Consumer._newswire_revoke_fixed = True  # type: ignore[attr-defined]


def _fix_transactional_highwaters() -> None:
    """Table recovery in exactly_once mode must know where the changelog ends.

    Faust takes it from ``consumer.last_stable_offset(tp)``, a value cached
    from fetch responses: ``None`` for a partition not fetched yet, which
    recovery reads as "empty changelog" and skips.  After a rebalance the
    tables then miss every entry of the partitions that moved, and the
    seen-URL window forgets them (observed: a resubmitted batch produced new
    records in exactly_once mode only).  Ask the broker instead: ListOffsets
    with the consumer's read_committed isolation returns the last stable offset.
    """
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    if getattr(AIOKafkaConsumerThread, "_newswire_highwaters_fixed", False):
        return
    original = AIOKafkaConsumerThread._highwaters

    async def _highwaters(self: Any, partitions: Any) -> Mapping[Any, int]:
        if not self.consumer.in_transaction:
            return await original(self, partitions)
        return await self._ensure_consumer().end_offsets(list(partitions))

    AIOKafkaConsumerThread._highwaters = _highwaters  # type: ignore[method-assign]
    AIOKafkaConsumerThread._newswire_highwaters_fixed = True  # type: ignore[attr-defined]


def _leave_transactional_commits_to_newswire() -> None:
    """In exactly_once mode newswire commits each message's transaction itself (workers.agents).

    Faust's periodic ``TransactionManager.commit`` would commit the same
    transactions again with offsets from its own bookkeeping, which can lag
    behind (moving a partition's committed offset backwards) and which shares
    one transaction across source topics.  It becomes a no-op.
    """
    from faust.transport.consumer import TransactionManager

    if getattr(TransactionManager, "_newswire_commits", False):
        return

    async def commit(self: Any, offsets: Any, start_new_transaction: bool = True) -> bool:
        return True

    TransactionManager.commit = commit  # type: ignore[method-assign]
    TransactionManager._newswire_commits = True  # type: ignore[attr-defined]


#: What aiokafka passed over on purpose, for the agents' delivery guards (workers.continuity).
PASSED_OVER = PassedOver()


def _record_passed_over_offsets() -> None:
    """Tell :data:`PASSED_OVER` which offsets aiokafka skips while unpacking a fetch.

    aiokafka's ``PartitionRecords`` steps over control batches (transaction
    markers), aborted transactional batches and compacted-away records by
    moving ``next_fetch_offset`` without yielding anything.  Wrapping its
    generator, every jump between one yielded record and the next (and after
    the last) is such a skip.
    """
    from aiokafka.consumer.fetcher import PartitionRecords

    if getattr(PartitionRecords, "_newswire_passed_over", False):
        return
    original = PartitionRecords._unpack_records

    def _unpack_records(self: Any) -> Any:
        if self._tp.topic not in GUARDED_TOPICS:  # nobody asks: changelogs, the leader topic
            yield from original(self)
            return
        position = self.next_fetch_offset
        for record in original(self):
            if record.offset > position:
                PASSED_OVER.add(self._tp, position, record.offset)
            position = record.offset + 1
            yield record
        if self.next_fetch_offset > position:
            PASSED_OVER.add(self._tp, position, self.next_fetch_offset)

    PartitionRecords._unpack_records = _unpack_records  # type: ignore[method-assign]
    PartitionRecords._newswire_passed_over = True  # type: ignore[attr-defined]


class _ReadOffsets(defaultdict):
    """Faust's per-partition read offsets, invisible to its drain loop for the guarded topics.

    ``Consumer._drain_messages`` drops every message below the last offset it
    handed out (``offset < read_offset``) and records jumps as gaps.  For the
    agents' topics the delivery guard does both properly; Faust's version
    undoes its re-reads: the rest of a batch handed out after the guard's
    seek moves the read offset past the hole again, and the re-fetched hole
    is dropped as already read (seen on the real broker).  The drain loop
    reads the offset with ``__getitem__``; the guarded topics answer None
    there (nothing read yet: no drop, no gap).  Everything else (seeks,
    ``perform_seek``, ``get``) sees the real values.
    """

    def __getitem__(self, tp: Any) -> Any:
        if getattr(tp, "topic", None) in GUARDED_TOPICS:
            return None
        return super().__getitem__(tp)


def _no_read_offset_filter_for_guarded_topics() -> None:
    from faust.transport.consumer import Consumer

    if getattr(Consumer, "_newswire_read_offsets", False):
        return
    original = Consumer.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._read_offset = _ReadOffsets(lambda: None, self._read_offset)

    Consumer.__init__ = __init__  # type: ignore[method-assign]
    Consumer._newswire_read_offsets = True  # type: ignore[attr-defined]
