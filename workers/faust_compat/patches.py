"""The corrections to faust-streaming and aiokafka that newswire's delivery depends on, numbered.

Each patch below says what the library does wrong, the upstream report if
there is one, how the patch corrects it, and which test proves it.  They are
class-level changes, so they apply once per process (:func:`apply`, idempotent);
what they need from newswire at run time -- which topics the delivery guard
reads, where to report offsets the Kafka client skips -- is one
:class:`Hooks` object handed in by the delivery layer.

===  =========================================================  ==========================================
 #   What                                                        Proved by
===  =========================================================  ==========================================
 1   uncommitted partitions rewound after a rebalance            tests/integration/delivery/test_continuity.py
 2   gap bookkeeping: exclusive end, guarded topics skipped      tests/unit/faust_compat/test_patches.py
 3   commit acknowledged offsets before a revocation forgets     tests/integration/delivery/test_reliability.py
 4   exactly_once table recovery asks the broker for the end     tests/integration/delivery/test_reliability.py
 5   Faust's periodic transactional commit made a no-op          tests/integration/delivery/test_reliability.py
 6   offsets aiokafka skips on purpose are reported              tests/unit/faust_compat/test_patches.py
 7   Faust's read-offset filter off for guarded topics           tests/unit/faust_compat/test_patches.py
===  =========================================================  ==========================================
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Hooks", "SkipSink", "apply", "add_gap"]

log = logging.getLogger("newswire.faust_compat")


class SkipSink(Protocol):
    """Receives offset ranges ``[start, end)`` the Kafka client passed over on purpose."""

    def add(self, tp: Any, start: int, end: int) -> None: ...


@dataclass
class Hooks:
    """What the patches need from newswire: the guarded topics and where skipped offsets go."""

    guarded_topics: set[str] = field(default_factory=set)
    passed_over: SkipSink | None = None


_hooks = Hooks()
_applied = False
_faust_add_gap: Any = None


def apply() -> Hooks:
    """Apply every patch once; returns the process's hooks (the delivery layer fills them in)."""
    global _applied
    if not _applied:
        for patch in PATCHES:
            patch()
        _applied = True
    return _hooks


async def add_gap(consumer: Any, tp: Any, offset_from: int, offset_to: int) -> None:
    """Tell Faust that offsets ``[offset_from, offset_to)`` hold no message to acknowledge (end exclusive)."""
    if offset_to - 1 >= offset_from:
        await _faust_add_gap(consumer, tp, offset_from, offset_to - 1)


def patch_1_rewind_uncommitted_partitions() -> None:
    """1. Messages lost at the start of a partition after a rebalance.

    Wrong: on every rebalance Faust drops messages already fetched but not yet
    handed to an agent (``Consumer._drain_messages`` abandons the delivery when
    ``suspend_flow`` is set; ``flow_control.clear()`` empties the stream
    buffers) and relies on ``seek_to_committed()`` to rewind -- but aiokafka's
    ``seek_to_committed`` only seeks when the committed offset is positive.  A
    partition with no committed offset yet (new topic, new group) is not
    rewound and its first messages vanish.  Upstream: faust-streaming #606,
    #323 (messages lost on rebalance).
    Correction: ``AIOKafkaConsumerThread.seek_to_committed`` also seeks the
    stream partitions without a committed offset to their beginning (what
    ``auto_offset_reset=earliest`` means for them anyway).
    """
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
    seek_to_committed.__wrapped__ = original  # type: ignore[attr-defined]  # the library's own, for tests/compat
    AIOKafkaConsumerThread.seek_to_committed = seek_to_committed  # type: ignore[method-assign]


def patch_2_gap_bookkeeping() -> None:
    """2. Faust's gap bookkeeping marks delivered messages and holes as done.

    Wrong: ``_drain_messages`` calls ``_add_gap(tp, last_read + 1, offset)``
    with the offset just read, and ``_add_gap`` takes ``offset_to`` as
    inclusive: the delivered message is also recorded as a gap, appears twice
    in the acknowledged list, the run of consecutive offsets breaks there and
    the partition's commit lags one interval -- long enough for a rebalance to
    discard acknowledgements whose outputs are already in the transaction
    (duplicates in exactly_once).  It also cannot tell a transaction marker
    from messages it dropped itself, so it would mark a hole as done.
    Correction: for the guarded topics the delivery guard reports gaps itself
    (:func:`add_gap`, end exclusive) and Faust's calls are ignored; for other
    topics ``offset_to`` is treated as exclusive.
    """
    global _faust_add_gap
    from faust.transport.consumer import Consumer

    _faust_add_gap = original = Consumer._add_gap

    async def _add_gap(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        if tp.topic in _hooks.guarded_topics:
            return
        if offset_to - 1 >= offset_from:
            await _faust_add_gap(self, tp, offset_from, offset_to - 1)

    _add_gap.__wrapped__ = original  # type: ignore[attr-defined]  # the library's own, for tests/compat
    Consumer._add_gap = _add_gap  # type: ignore[method-assign]


def patch_3_commit_before_revocation() -> None:
    """3. Acknowledged offsets forgotten on a rebalance.

    Wrong: ``Consumer.on_partitions_revoked`` drops the pending
    acknowledgements of the revoked partitions first and commits afterwards;
    their outputs stay in the transaction and are committed later without
    their offsets (duplicates after the next owner re-reads them).
    Correction: commit what is acknowledged, then let Faust revoke.
    """
    from faust.transport.consumer import Consumer

    original = Consumer.on_partitions_revoked

    async def on_partitions_revoked(self: Any, revoked: Any) -> None:
        try:
            await self.commit()
        except Exception as exc:  # the rebalance must go on; the offsets are re-read later
            log.warning("commit before revocation failed", extra={"error": repr(exc)})
        await original(self, revoked)

    on_partitions_revoked.__wrapped__ = original  # type: ignore[attr-defined]  # the library's own, for tests/compat
    Consumer.on_partitions_revoked = on_partitions_revoked  # type: ignore[method-assign]


def patch_4_transactional_highwaters() -> None:
    """4. exactly_once table recovery skips changelogs it has not fetched yet.

    Wrong: Faust takes a changelog's end from ``consumer.last_stable_offset``,
    cached from fetch responses: None for a partition not fetched yet, read
    as "empty changelog".  After a rebalance the tables miss every entry of
    the partitions that moved (observed: a resubmitted batch produced new
    records in exactly_once only).
    Correction: ``AIOKafkaConsumerThread._highwaters`` asks the broker
    (ListOffsets with read_committed isolation returns the last stable offset).
    """
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    original = AIOKafkaConsumerThread._highwaters

    async def _highwaters(self: Any, partitions: Any) -> Mapping[Any, int]:
        if not self.consumer.in_transaction:
            return await original(self, partitions)
        offsets: Mapping[Any, int] = await self._ensure_consumer().end_offsets(list(partitions))
        return offsets

    _highwaters.__wrapped__ = original  # type: ignore[attr-defined]  # the library's own, for tests/compat
    AIOKafkaConsumerThread._highwaters = _highwaters  # type: ignore[method-assign]


def patch_5_no_periodic_transactional_commit() -> None:
    """5. Faust's own exactly_once commit is unreliable; newswire commits each message's transaction.

    Wrong: Faust's periodic ``TransactionManager.commit`` commits offsets from
    its own bookkeeping, which can lag behind (moving a committed offset
    backwards), and shares one transaction between the same partition number
    of every source topic, committing outputs whose offsets it did not advance.
    Upstream: faust-streaming #517, #629 (exactly-once duplicates after kills).
    Correction: it becomes a no-op; the delivery layer commits one transaction
    per message (workers.delivery.writer).
    """
    from faust.transport.consumer import TransactionManager

    original = TransactionManager.commit

    async def commit(self: Any, offsets: Any, start_new_transaction: bool = True) -> bool:
        return True

    commit.__wrapped__ = original  # type: ignore[attr-defined]  # the library's own, for tests/compat
    TransactionManager.commit = commit  # type: ignore[method-assign]


def patch_6_report_passed_over_offsets() -> None:
    """6. Offsets aiokafka skips on purpose, told to the delivery guard.

    Not a bug: aiokafka's ``PartitionRecords._unpack_records`` steps over
    control batches (transaction markers), aborted transactional batches and
    compacted-away records by moving ``next_fetch_offset`` without yielding.
    The delivery guard must tell those offsets from messages Faust lost.
    Correction: the generator is wrapped; every jump between one yielded
    record and the next (and after the last) is reported to
    ``Hooks.passed_over``, for the guarded topics only.
    """
    from aiokafka.consumer.fetcher import PartitionRecords

    original = PartitionRecords._unpack_records

    def _unpack_records(self: Any) -> Iterator[Any]:
        sink = _hooks.passed_over
        if sink is None or self._tp.topic not in _hooks.guarded_topics:
            yield from original(self)
            return
        position = self.next_fetch_offset
        for record in original(self):
            if record.offset > position:
                sink.add(self._tp, position, record.offset)
            position = record.offset + 1
            yield record
        if self.next_fetch_offset > position:
            sink.add(self._tp, position, self.next_fetch_offset)

    _unpack_records.__wrapped__ = original  # type: ignore[attr-defined]  # the library's own, for tests/compat
    PartitionRecords._unpack_records = _unpack_records


class _ReadOffsets(defaultdict):  # type: ignore[type-arg]
    """Faust's per-partition read offsets, invisible to its drain loop for the guarded topics."""

    def __getitem__(self, tp: Any) -> Any:
        if getattr(tp, "topic", None) in _hooks.guarded_topics:
            return None
        return super().__getitem__(tp)


def patch_7_no_read_offset_filter_for_guarded_topics() -> None:
    """7. Faust's read-offset filter undoes the delivery guard's re-reads.

    Wrong: ``Consumer._drain_messages`` drops every message below the last
    offset it handed out and records jumps as gaps.  After the guard seeks
    back to a hole, the rest of the old batch still handed out moves the read
    offset past the hole again, and the re-fetched hole is dropped as already
    read (seen on the real broker).
    Correction: ``Consumer._read_offset`` answers None (nothing read yet: no
    drop, no gap) to the drain loop's ``__getitem__`` for the guarded topics;
    seeks and ``get`` still see the real values.
    """
    from faust.transport.consumer import Consumer

    original = Consumer.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._read_offset = _ReadOffsets(lambda: None, self._read_offset)

    __init__.__wrapped__ = original  # type: ignore[attr-defined]  # the library's own, for tests/compat
    Consumer.__init__ = __init__  # type: ignore[method-assign]


PATCHES = (
    patch_1_rewind_uncommitted_partitions,
    patch_2_gap_bookkeeping,
    patch_3_commit_before_revocation,
    patch_4_transactional_highwaters,
    patch_5_no_periodic_transactional_commit,
    patch_6_report_passed_over_offsets,
    patch_7_no_read_offset_filter_for_guarded_topics,
)
