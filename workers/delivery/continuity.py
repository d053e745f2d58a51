"""Every offset of a partition is either delivered to the agent or known to be empty: no silent holes.

Faust (faust-streaming 0.15.3) can lose messages between the Kafka client
and the agent while the client's position has moved past them.  Caught on
the real broker with a trace of every fetched, yielded and delivered offset:
during one rebalance Faust resumes the flow twice (table recovery, then the
streams), and ``FlowControlEvent.resume()`` *clears every stream buffer*.
Messages fetched between the two resumes were partly handed to the agent
(offsets 31-33), partly cleared from the buffer (34-39), and the seek to the
committed offset raced with the rest of the batch being handed out (40-43),
which set Faust's read offset past the hole so the re-fetched messages were
dropped as already read.  The agent saw 31, 32, 33, 40.  Other paths end the
same way: a batch cut short when the flow stops or the generation changes.

In ``at_least_once`` mode the partition's commit then stops at the hole and
the messages wait until the partition moves to another worker (the stall
seen in earlier runs of the delivery test); a hole at the very start of a
partition that has no committed offset was committed past (one article
lost); in ``exactly_once`` mode, where each message commits its own offset,
any hole would be committed past.

Not every jump is a hole: transaction markers, aborted transactions and
compacted records take offsets that no consumer receives.  The Kafka client
knows which offsets it passed over on purpose; :class:`PassedOver` records
them (``workers.faust_compat`` feeds it from aiokafka's record unpacking).
:class:`DeliveryGuard` compares each delivered offset with the one expected
next in its partition:

* the next offset, or a jump over offsets the client passed over: deliver;
* an offset already handed over in this generation (or below the offset it
  began at): discard -- it is done or in flight, and taking it
  again would only duplicate its outputs;
* any other jump: re-read the partition from the first missing offset,
  and discard what arrives until that offset does (it arrives again after it);
* a re-read that returns the same jump again means the offsets cannot be
  read at all (deleted by retention, say): deliver, and say so in the log;
* a partition whose messages stop arriving while its agent waits is read
  again from the first missing one (:meth:`DeliveryGuard.waiting_for`).

The guard has no Kafka in it; the agents act on its verdicts.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["Deliver", "Discard", "Reread", "DeliveryGuard", "PassedOver", "Verdict"]

#: Ranges kept per partition; old ones are dropped first (a partition's
#: consumer forgets the ranges it has moved past, so this only bounds partitions
#: nobody consumes through a guard).
_MAX_RANGES = 4096


class PassedOver:
    """Offset ranges ``[start, end)`` the Kafka client skipped on purpose, per partition.

    Written by the consumer's fetch thread, read by the event loop: every
    method takes the lock.
    """

    def __init__(self, max_ranges: int = _MAX_RANGES) -> None:
        self._starts: dict[Hashable, list[int]] = {}
        self._ends: dict[Hashable, list[int]] = {}
        self._lock = threading.Lock()
        self._max = max_ranges

    def add(self, tp: Hashable, start: int, end: int) -> None:
        if end <= start:
            return
        with self._lock:
            starts = self._starts.setdefault(tp, [])
            ends = self._ends.setdefault(tp, [])
            i = bisect.bisect_left(starts, start)
            starts.insert(i, start)
            ends.insert(i, end)
            if len(starts) > self._max:
                del starts[0], ends[0]

    def first_unexplained(self, tp: Hashable, start: int, end: int) -> int | None:
        """The first offset in ``[start, end)`` not inside a recorded range, or None."""
        with self._lock:
            starts = self._starts.get(tp, [])
            ends = self._ends.get(tp, [])
            position = start
            i = max(0, bisect.bisect_right(starts, position) - 1)
            while position < end:
                while i < len(starts) and ends[i] <= position:
                    i += 1
                if i < len(starts) and starts[i] <= position < ends[i]:
                    position = ends[i]
                    continue
                return position
            return None

    def forget_below(self, tp: Hashable, offset: int) -> None:
        with self._lock:
            ends = self._ends.get(tp)
            if not ends:
                return
            keep = [i for i, e in enumerate(ends) if e > offset]
            self._starts[tp] = [self._starts[tp][i] for i in keep]
            self._ends[tp] = [ends[i] for i in keep]


@dataclass(frozen=True)
class Deliver:
    """Hand the message to the agent.  ``gap``: offsets ``[from, to)`` before it that hold no message."""

    gap: tuple[int, int] | None = None
    unreadable: bool = False  # the gap was re-read and still missing (logged by the caller)


@dataclass(frozen=True)
class Reread:
    """Seek the partition back to ``offset``; this message comes again later."""

    offset: int


@dataclass(frozen=True)
class Discard:
    """A message fetched before the re-read took effect; it comes again later."""


Verdict = Deliver | Reread | Discard


@dataclass
class _Partition:
    generation: int
    expected: int | None = None      # the offset that should come next
    reread_from: int | None = None   # a re-read is under way from here
    jumped_to: int | None = None     # the offset that revealed the hole (it comes again)
    reread_at: float = 0.0


class DeliveryGuard:
    """Per-partition continuity of what one agent receives (see the module docstring).

    ``generation`` is the consumer group generation.  After a rebalance the
    partition is read from the group's committed offset (or, without one,
    from the start of the log), so each generation starts over from there
    (:meth:`begin`): the first message must be that offset (or follow it
    across passed-over offsets), and anything below it is already done.
    When the start is unknown the first message is taken as it comes.
    """

    def __init__(self, passed_over: PassedOver, *, reread_timeout_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.passed_over = passed_over
        self.reread_timeout_s = reread_timeout_s
        self.clock = clock
        self._partitions: dict[Hashable, _Partition] = {}
        self.rereads = 0

    def needs_begin(self, tp: Hashable, generation: int) -> bool:
        """True when ``tp`` has no state for this generation yet: call :meth:`begin` first."""
        state = self._partitions.get(tp)
        return state is None or state.generation != generation

    def begin(self, tp: Hashable, generation: int, start: int | None) -> None:
        """``start``: where the generation reads ``tp`` from (committed offset or log start); None if unknown."""
        self._partitions[tp] = _Partition(generation, expected=start)

    def check(self, tp: Hashable, offset: int, generation: int) -> Verdict:
        state = self._partitions.get(tp)
        if state is None or state.generation != generation:
            state = self._partitions[tp] = _Partition(generation)
        if state.reread_from is not None:
            return self._while_rereading(tp, state, offset)
        expected = state.expected
        if expected is None or offset == expected:
            return self._delivered(tp, state, offset)
        if offset < expected:
            # Below where the generation began, or handed to the agent already in this
            # generation (Faust seeks back to the committed offset once more
            # after the first messages of a rebalance): done or in flight.
            return Discard()
        missing = self.passed_over.first_unexplained(tp, expected, offset)
        if missing is None:
            return self._delivered(tp, state, offset, gap=(expected, offset))
        state.reread_from, state.jumped_to = missing, offset
        state.reread_at = self.clock()
        self.rereads += 1
        return Reread(missing)

    def _while_rereading(self, tp: Hashable, state: _Partition, offset: int) -> Verdict:
        target, jumped_to = state.reread_from, state.jumped_to
        assert target is not None and jumped_to is not None
        expected = state.expected if state.expected is not None else target
        if offset > jumped_to:
            # Fetched before the seek took effect: it comes again after the hole.
            if self.clock() - state.reread_at > self.reread_timeout_s:
                state.reread_at = self.clock()  # the seek did not take: ask again
                self.rereads += 1
                return Reread(target)
            return Discard()
        if offset < target:
            return Discard()  # delivered before the hole (Faust's read offset drops these too)
        state.reread_from = state.jumped_to = None
        if offset == target or self.passed_over.first_unexplained(tp, target, offset) is None:
            return self._delivered(tp, state, offset, gap=(expected, offset) if offset > expected else None)
        # Read again from the hole and the same jump came back: those offsets
        # hold nothing that can be read (deleted by retention, say).
        return self._delivered(tp, state, offset, gap=(expected, offset), unreadable=True)

    def _delivered(self, tp: Hashable, state: _Partition, offset: int,
                   gap: tuple[int, int] | None = None, unreadable: bool = False) -> Deliver:
        state.expected = offset + 1
        self.passed_over.forget_below(tp, offset)
        return Deliver(gap=gap, unreadable=unreadable)

    def overdue_rereads(self, generation: int) -> list[tuple[Hashable, int]]:
        """Re-reads of this generation whose hole has not arrived in time, as (partition, offset) to seek again.

        Each one returned is timed from now again.  (A seek can be undone by
        Faust's own bookkeeping; with no message arriving, nothing else would
        notice.)  Re-reads of an earlier generation are dropped: the
        rebalance sought every partition to its committed offset.
        """
        now = self.clock()
        overdue = []
        for tp, state in self._partitions.items():
            if state.generation != generation:
                state.reread_from = state.jumped_to = None
                continue
            if state.reread_from is not None and now - state.reread_at > self.reread_timeout_s:
                state.reread_at = now
                self.rereads += 1
                overdue.append((tp, state.reread_from))
        return overdue

    def waiting_for(self, tp: Hashable, generation: int, end: int | None) -> int | None:
        """The offset ``tp`` should be read from when its reader waits and ``[expected, end)`` holds messages.

        ``end`` is the partition's end offset.  None when nothing is known to be
        missing: no state in this generation, a re-read under way (that has its
        own timeout), or everything up to ``end`` delivered or passed over.
        """
        state = self._partitions.get(tp)
        if state is None or state.generation != generation or end is None:
            return None
        if state.reread_from is not None or state.expected is None or end <= state.expected:
            return None
        return self.passed_over.first_unexplained(tp, state.expected, end)
