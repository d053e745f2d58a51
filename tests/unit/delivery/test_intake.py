"""The delivery guard's Faust side without a broker: re-reads, generations, idle partitions."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from faust.types import TP

from workers.delivery import intake as guarded
from workers.delivery.continuity import PassedOver
from workers.faust_compat import Hooks, patches


def make_intake(app, passed_over=None):
    return guarded.GuardedIntake(app, "test", Hooks(), passed_over or PassedOver())


class FakeConsumer:
    """What StageRunner._admit uses of Faust's consumer."""

    def __init__(self, committed: int | None = None) -> None:
        committed_offset = committed

        fake = self

        class Client:
            async def committed(self, tp):
                return committed_offset

            async def beginning_offsets(self, tps):
                return {tp: 0 for tp in tps}

            async def position(self, tp):
                return fake.positions.get(tp)

            def seek(self, tp, offset):
                fake.seeks.append({tp: offset})

        class Thread:
            thread_loop = asyncio.get_running_loop()

            def _ensure_consumer(self):
                return Client()

        self._thread = Thread()
        self.gaps: list[tuple] = []
        self.seeks: list[dict] = []
        self._unacked_messages: set = set()
        self._read_offset: dict = {}
        self._buffered_partitions: set = set()
        self._paused_partitions: set = set()
        self.positions: dict = {}
        self.dropped: list = []

    def on_buffer_drop(self, tp):
        self.dropped.append(tp)
        self._buffered_partitions.discard(tp)

    async def _add_gap(self, tp, offset_from, offset_to):  # Faust's inclusive signature
        self.gaps.append((tp, offset_from, offset_to))


class _Message(SimpleNamespace):
    __hash__ = object.__hash__


def _message_event(offset: int, partition: int = 0):
    message = _Message(partition=partition, tp=("src", partition), offset=offset, topic="src", key=b"k")
    return SimpleNamespace(message=message)


async def test_runner_reads_a_partition_again_when_messages_were_never_delivered(monkeypatch):
    consumer = FakeConsumer()
    monkeypatch.setattr(patches, "_faust_add_gap", FakeConsumer._add_gap)
    app = SimpleNamespace(consumer=consumer, consumer_generation_id=7, in_transaction=False, producer=None)
    passed_over = PassedOver()
    intake = make_intake(app, passed_over)
    admitted = [await intake.admit(_message_event(offset)) for offset in (0, 1, 2, 6, 7)]
    # 3..5 were fetched by Faust and never handed over: read again from 3, and
    # what came after the hole is not processed now (it comes again).
    assert admitted == [True, True, True, False, False]
    assert consumer.seeks == [{("src", 0): 3}]
    assert [await intake.admit(_message_event(offset)) for offset in range(3, 8)] == [True] * 5
    assert consumer.gaps == []  # nothing was marked as done without being processed

    # A transaction marker (passed over by the client) is a gap reported to Faust, not a hole.
    passed_over.add(("src", 0), 8, 9)
    assert await intake.admit(_message_event(9))
    assert consumer.gaps == [(("src", 0), 8, 8)]
    assert len(consumer.seeks) == 1


async def test_runner_starts_each_generation_at_the_committed_offset(monkeypatch):
    consumer = FakeConsumer(committed=10)
    monkeypatch.setattr(patches, "_faust_add_gap", FakeConsumer._add_gap)
    app = SimpleNamespace(consumer=consumer, consumer_generation_id=3, in_transaction=False, producer=None)
    intake = make_intake(app)
    # The first messages of the generation were lost in Faust's buffers: read from 10 again.
    assert not await intake.admit(_message_event(14))
    assert consumer.seeks == [{("src", 0): 10}]
    # Below the committed offset: already done, not processed again.
    assert not await intake.admit(_message_event(9))
    assert [await intake.admit(_message_event(offset)) for offset in range(10, 15)] == [True] * 5


async def test_without_a_committed_offset_a_generation_starts_at_the_beginning_of_the_log():
    consumer = FakeConsumer(committed=None)
    app = SimpleNamespace(consumer=consumer, consumer_generation_id=1, in_transaction=False, producer=None)
    intake = make_intake(app)
    # Offset 0 of a brand-new group was lost in Faust's buffers (seen on the real broker).
    assert not await intake.admit(_message_event(1))
    assert consumer.seeks == [{("src", 0): 0}]
    assert [await intake.admit(_message_event(offset)) for offset in (0, 1)] == [True, True]


async def test_the_start_of_the_log_is_asked_through_the_log_start_lookup_not_the_fetching_consumer():
    """On the consumer's own connection the request waited behind its fetch (1.5 s per partition; .log_start)."""
    consumer = FakeConsumer(committed=None)
    asked = []

    async def log_start(tp):
        asked.append(tp)
        return 5  # the log was truncated by retention: it starts at 5

    app = SimpleNamespace(consumer=consumer, consumer_generation_id=1, in_transaction=False, producer=None)
    intake = guarded.GuardedIntake(app, "test", Hooks(), PassedOver(), log_start)
    # The fetching consumer would say 0 (FakeConsumer): the lookup's 5 is what counts.
    assert not await intake.admit(_message_event(6))
    assert consumer.seeks == [{("src", 0): 5}]
    assert asked == [("src", 0)]
    assert [await intake.admit(_message_event(offset)) for offset in (5, 6)] == [True, True]
    assert asked == [("src", 0)]  # once per partition and generation


async def test_an_idle_agent_reads_again_a_partition_whose_messages_never_arrive(monkeypatch):
    consumer = FakeConsumer(committed=33)
    consumer.assignment = lambda: {TP("src", 0), TP("src", 1), TP("other", 0)}
    consumer.highwater = lambda tp: 41
    monkeypatch.setattr(patches, "_faust_add_gap", FakeConsumer._add_gap)
    app = SimpleNamespace(consumer=consumer, consumer_generation_id=2)
    intake = make_intake(app)
    intake.topics = {"src"}
    for partition in (0, 1):
        for offset in range(33, 38):
            assert await intake.admit(SimpleNamespace(message=_Message(
                partition=partition, tp=TP("src", partition), offset=offset, topic="src", key=b"k")))
    # Partition 0: the client handed out up to 40 and 38-40 never came (lost in Faust).
    consumer.positions[TP("src", 0)] = 41
    # Partition 1: not handed out; Faust still counts its buffer as full, so it is not fetched.
    consumer.positions[TP("src", 1)] = 38
    consumer._buffered_partitions.add(TP("src", 1))
    intake.waiting()
    await intake.read_idle_partitions_again()
    assert consumer.seeks == [] and consumer.dropped == []  # not waiting long enough yet
    intake.waiting_since -= guarded.IDLE_S + 1
    await intake.read_idle_partitions_again()
    assert consumer.seeks == [{TP("src", 0): 38}]
    assert consumer.dropped == [TP("src", 1)]
    await intake.read_idle_partitions_again()
    assert len(consumer.seeks) == 1 and len(consumer.dropped) == 1  # at most once per IDLE_S
    intake.arrived()  # busy: a held-back agent is not idle
    intake._nudged.clear()
    await intake.read_idle_partitions_again()
    assert len(consumer.seeks) == 1
