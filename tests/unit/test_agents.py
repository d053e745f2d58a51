"""Agent plumbing without a broker: ordered bounded work, hand-back, outbox and committer."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from workers.inflight import Abandoned, OrderedWork


async def test_finishes_in_arrival_order_per_partition_while_working_concurrently():
    work = OrderedWork(limit=4)
    finished: list[tuple[int, int]] = []
    running = 0
    peak = 0

    def item(partition: int, n: int, delay: float):
        async def run():
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(delay)
            running -= 1
            return n

        async def finish(result):
            finished.append((partition, result))
        return run, finish

    # Later items of partition 0 complete first; they must still finish after item 0.
    for n, delay in enumerate([0.05, 0.01, 0.0]):
        await work.submit(0, f"k{n}", *item(0, n, delay))
    await work.submit(1, "k", *item(1, 0, 0.0))
    assert await work.drain(5)
    assert [n for p, n in finished if p == 0] == [0, 1, 2]
    assert (1, 0) in finished
    assert peak >= 3  # they did run at the same time


async def test_submit_blocks_at_the_limit():
    work = OrderedWork(limit=2)
    release = asyncio.Event()

    async def slow():
        await release.wait()

    async def finish(_):
        return None

    await work.submit(0, "a", slow, finish)
    await work.submit(1, "b", slow, finish)
    third = asyncio.create_task(work.submit(2, "c", slow, finish))
    await asyncio.sleep(0.05)
    assert not third.done() and work.in_flight == 2
    release.set()
    await asyncio.wait_for(third, 2)
    assert await work.drain(2)
    assert work.peak == 2


async def test_same_key_waits_for_the_earlier_item():
    work = OrderedWork(limit=4)
    order: list[str] = []

    def item(name: str, delay: float):
        async def run():
            order.append(f"start {name}")
            await asyncio.sleep(delay)
            return name

        async def finish(result):
            order.append(f"finish {result}")
        return run, finish

    await work.submit(0, "same", *item("first", 0.05))
    await work.submit(0, "same", *item("second", 0.0))
    assert await work.drain(2)
    assert order == ["start first", "finish first", "start second", "finish second"]


async def test_failed_item_holds_back_the_rest_of_its_partition():
    errors: list[BaseException] = []

    async def on_error(exc):
        errors.append(exc)

    work = OrderedWork(limit=4, on_error=on_error)
    finished: list[int] = []

    async def boom():
        raise RuntimeError("publish failed")

    async def ok():
        return 2

    async def finish(result):
        finished.append(result)

    await work.submit(0, "a", boom, finish)
    await work.submit(0, "b", ok, finish)
    await work.submit(1, "c", ok, finish)
    await work.drain(2)
    # Partition 0 must not acknowledge past the failed message; partition 1 is unaffected.
    assert finished == [2]
    assert len(errors) == 1


async def test_handed_back_item_stops_its_partition_quietly():
    errors: list[BaseException] = []

    async def on_error(exc):
        errors.append(exc)

    work = OrderedWork(limit=4, on_error=on_error)
    finished: list[str] = []

    async def run():
        return "x"

    async def hand_back(_):
        raise Abandoned()

    async def finish(result):
        finished.append(result)

    await work.submit(0, "a", run, hand_back)
    await work.submit(0, "b", run, finish)
    await work.drain(2)
    assert finished == [] and errors == []  # nothing acknowledged past it, no crash


async def test_handed_back_and_abandoned_items_are_reported_so_a_rebalance_does_not_wait_for_them():
    work = OrderedWork(limit=4)
    released: list[str] = []
    finished: list[str] = []

    async def run():
        return "x"

    async def hand_back(_):
        raise Abandoned()

    async def finish(result):
        finished.append(result)

    await work.submit(0, "a", run, hand_back, abandoned=lambda: released.append("a"))
    await work.submit(0, "b", run, finish, abandoned=lambda: released.append("b"))  # after a hand-back
    await work.submit(1, "c", run, finish, abandoned=lambda: released.append("c"))  # another partition
    await work.drain(2)
    assert sorted(released) == ["a", "b"] and finished == ["x"]


async def test_cancel_hands_back_unfinished_items():
    work = OrderedWork(limit=2)
    finished = []

    async def forever():
        await asyncio.sleep(3600)

    async def finish(result):
        finished.append(result)

    await work.submit(0, "a", forever, finish)
    assert not await work.drain(0.05)
    assert await work.cancel() == 1
    assert finished == [] and work.in_flight == 0


class FakeDelivery:
    """A pipelined finish: its writes are sent; the test decides when the broker confirms them."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log
        self.confirmed = asyncio.get_running_loop().create_future()

    async def delivered(self) -> None:
        await self.confirmed
        self.log.append(f"delivered {self.name}")

    def complete(self) -> None:
        self.log.append(f"ack {self.name}")


async def test_pipelined_writes_start_without_waiting_for_the_previous_delivery_and_acknowledge_in_order():
    work = OrderedWork(limit=4)
    log: list[str] = []
    deliveries: dict[str, FakeDelivery] = {}

    def item(name: str):
        async def run():
            return name

        async def finish(result):
            log.append(f"send {result}")
            deliveries[result] = FakeDelivery(result, log)
            return deliveries[result]
        return run, finish

    for name in ("a", "b", "c"):
        await work.submit(0, name, *item(name))
    for _ in range(10):
        await asyncio.sleep(0)
    # Every write is on its way though nothing is confirmed yet (one round trip, not three).
    assert log == ["send a", "send b", "send c"]
    deliveries["c"].confirmed.set_result(None)
    deliveries["b"].confirmed.set_result(None)
    for _ in range(10):
        await asyncio.sleep(0)
    assert "ack b" not in log and "ack c" not in log  # not acknowledged past the unconfirmed a
    deliveries["a"].confirmed.set_result(None)
    assert await work.drain(1)
    assert [entry for entry in log if entry.startswith("ack")] == ["ack a", "ack b", "ack c"]


async def test_an_item_waiting_only_for_the_broker_gives_its_slot_to_the_next_message():
    from workers import inflight

    work = OrderedWork(limit=1)
    log: list[str] = []
    deliveries: list[FakeDelivery] = []

    async def run():
        return "x"

    async def finish(_):
        deliveries.append(FakeDelivery(str(len(deliveries)), log))
        return deliveries[-1]

    # Limit 1: the second and later messages are taken while the first waits for its acknowledgement...
    for n in range(inflight.AWAITING_PER_SLOT + 1):
        await asyncio.wait_for(work.submit(0, f"k{n}", run, finish), 1)
    for _ in range(10):
        await asyncio.sleep(0)
    # ...but no more than AWAITING_PER_SLOT per slot wait for the broker: the next one waits.
    blocked = asyncio.create_task(work.submit(0, "last", run, finish))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not blocked.done() and len(deliveries) == inflight.AWAITING_PER_SLOT + 1
    for delivery in deliveries:
        delivery.confirmed.set_result(None)
    await asyncio.wait_for(blocked, 1)
    for _ in range(10):
        await asyncio.sleep(0)
    assert len(deliveries) == inflight.AWAITING_PER_SLOT + 2
    deliveries[-1].confirmed.set_result(None)
    assert await work.drain(1)
    assert [entry for entry in log if entry.startswith("ack")] == [f"ack {n}" for n in range(len(deliveries))]


async def test_a_pipelined_item_after_one_handed_back_is_not_acknowledged():
    work = OrderedWork(limit=4)
    log: list[str] = []
    released: list[str] = []

    class HandedBackDelivery(FakeDelivery):
        async def delivered(self) -> None:
            raise Abandoned()

    async def run():
        return "x"

    async def finish_first(_):
        log.append("send a")
        return HandedBackDelivery("a", log)

    async def finish_second(_):
        log.append("send b")
        delivery = FakeDelivery("b", log)
        delivery.confirmed.set_result(None)
        return delivery

    await work.submit(0, "a", run, finish_first, abandoned=lambda: released.append("a"))
    await work.submit(0, "b", run, finish_second, abandoned=lambda: released.append("b"))
    assert await work.drain(1)
    # b's outputs were sent (a duplicate when it comes again: at_least_once), but it is not acknowledged.
    assert "ack b" not in log and "ack a" not in log
    assert sorted(released) == ["a", "b"]


async def test_the_same_key_waits_for_the_previous_item_to_be_acknowledged_not_only_sent():
    work = OrderedWork(limit=4)
    log: list[str] = []
    first = None

    async def run_first():
        return "a"

    async def finish_first(_):
        nonlocal first
        log.append("send a")
        first = FakeDelivery("a", log)
        return first

    async def run_second():
        log.append("start b")  # reads the state a leaves: only after a is acknowledged
        return "b"

    async def finish_second(_):
        return None

    await work.submit(0, "same", run_first, finish_first)
    await work.submit(0, "same", run_second, finish_second)
    for _ in range(10):
        await asyncio.sleep(0)
    assert log == ["send a"]
    first.confirmed.set_result(None)
    assert await work.drain(1)
    assert log == ["send a", "delivered a", "ack a", "start b"]


# -- the Faust-side pieces, with stand-ins for the app and producer -------------------


@pytest.fixture(scope="module")
def agents_module():
    return pytest.importorskip("workers.agents")


class FakeProducer:
    def __init__(self, failures: int = 0) -> None:
        self.sent: list[tuple] = []
        self.failures = failures

    async def send(self, topic, key, value, partition, timestamp, headers):
        fut = asyncio.get_running_loop().create_future()
        if self.failures:
            self.failures -= 1
            from aiokafka.errors import KafkaTimeoutError
            fut.set_exception(KafkaTimeoutError())
        else:
            self.sent.append((topic, key, value, partition))
            fut.set_result(None)
        return fut


class FakeTable:
    def __init__(self, name: str) -> None:
        self.data: dict[bytes, bytes] = {}
        self.changelog_topic = SimpleNamespace(get_topic_name=lambda: f"{name}-changelog")


class FakeEvent:
    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition, tp=("t", partition), offset=5)
        self.acked = 0

    def ack(self):
        self.acked += 1


async def test_committer_writes_outputs_and_state_then_acknowledges(agents_module):
    producer = FakeProducer(failures=1)
    app = SimpleNamespace(producer=producer, in_transaction=False)
    topics = {"articles": SimpleNamespace(get_topic_name=lambda: "t.articles"), "entities": None}
    seen = FakeTable("seen")
    committer = agents_module.KafkaCommitter(app, topics, {"seen": seen})
    outbox = agents_module.EventOutbox()
    await outbox.publish("articles", b"id1", b"{}", {"trace_id": b"t"})
    await outbox.publish("entities", b"PERSON:x", b"{}", {})  # disabled output: dropped
    outbox.remember("seen", "id1", b"entry")
    event = FakeEvent(partition=3)
    await committer.commit(event, outbox)
    # The first attempt failed and the whole outbox was sent again (at-least-once);
    # the changelog goes to the message's own partition.
    assert producer.sent[-2:] == [("t.articles", b"id1", b"{}", None), ("seen-changelog", b"id1", b"entry", 3)]
    assert seen.data == {b"id1": b"entry"}
    assert event.acked == 1


async def test_a_pipelined_commit_sends_at_once_and_acknowledges_only_when_completed(agents_module):
    producer = FakeProducer(failures=1)
    app = SimpleNamespace(producer=producer, in_transaction=False)
    seen = FakeTable("seen")
    committer = agents_module.KafkaCommitter(app, {"articles": SimpleNamespace(get_topic_name=lambda: "t.articles")},
                                             {"seen": seen})
    outbox = agents_module.EventOutbox()
    await outbox.publish("articles", b"id1", b"{}", {})
    outbox.remember("seen", "id1", b"entry")
    event = FakeEvent(partition=3)
    pending = await committer.start_commit(event, outbox)
    assert pending is not None and event.acked == 0 and seen.data == {}
    await pending.delivered()  # the first send failed: sent again, as commit() does
    assert producer.sent == [("seen-changelog", b"id1", b"entry", 3), ("t.articles", b"id1", b"{}", None),
                             ("seen-changelog", b"id1", b"entry", 3)]
    assert event.acked == 0  # delivered, but the partition order decides when
    pending.complete()
    assert seen.data == {b"id1": b"entry"} and event.acked == 1


class StoppedProducer:
    async def send(self, *args):
        from faust.exceptions import NotReady
        raise NotReady("Producer service not yet started")


async def test_a_message_finishing_after_the_shutdown_stopped_the_producer_is_handed_back(agents_module):
    """Faust stops its producer without waiting for in-flight messages: those stay unacknowledged, no crash."""
    app = SimpleNamespace(producer=StoppedProducer(), in_transaction=False, should_stop=True)
    topics = {"articles": SimpleNamespace(get_topic_name=lambda: "t.articles")}
    committer = agents_module.KafkaCommitter(app, topics, {})
    outbox = agents_module.EventOutbox()
    await outbox.publish("articles", b"id1", b"{}", {})
    event = FakeEvent(partition=0)
    with pytest.raises(agents_module.HandedBack):
        await committer.commit(event, outbox)
    assert event.acked == 0
    app.should_stop = False  # not shutting down: a producer not started is an error, not a hand-back
    from faust.exceptions import NotReady
    with pytest.raises(NotReady):
        await committer.commit(event, outbox)


async def test_table_view_reads_raw_tables_by_text_key(agents_module):
    table = FakeTable("hashes")
    table.data[b"sha256:x"] = b"a1"
    assert agents_module.TableView(table, text_values=True).get("sha256:x") == "a1"
    assert agents_module.TableView(table).get("sha256:x") == b"a1"
    assert agents_module.TableView(table).get("missing") is None


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


async def test_runner_reads_a_partition_again_when_messages_were_never_delivered(agents_module, monkeypatch):
    from workers import faust_fixes

    consumer = FakeConsumer()
    monkeypatch.setattr(faust_fixes, "_faust_add_gap", FakeConsumer._add_gap)
    app = SimpleNamespace(consumer=consumer, consumer_generation_id=7, in_transaction=False, producer=None)
    committer = agents_module.KafkaCommitter(app, {}, {})
    runner = agents_module.StageRunner("test", 4, committer, step=None)
    try:
        admitted = [await runner.intake.admit(_message_event(offset)) for offset in (0, 1, 2, 6, 7)]
        # 3..5 were fetched by Faust and never handed over: read again from 3, and
        # what came after the hole is not processed now (it comes again).
        assert admitted == [True, True, True, False, False]
        assert consumer.seeks == [{("src", 0): 3}]
        assert [await runner.intake.admit(_message_event(offset)) for offset in range(3, 8)] == [True] * 5
        assert consumer.gaps == []  # nothing was marked as done without being processed

        # A transaction marker (passed over by the client) is a gap reported to Faust, not a hole.
        faust_fixes.PASSED_OVER.add(("src", 0), 8, 9)
        assert await runner.intake.admit(_message_event(9))
        assert consumer.gaps == [(("src", 0), 8, 8)]
        assert len(consumer.seeks) == 1
    finally:
        agents_module._RUNNERS.remove(runner)


async def test_runner_starts_each_generation_at_the_committed_offset(agents_module, monkeypatch):
    from workers import faust_fixes

    consumer = FakeConsumer(committed=10)
    monkeypatch.setattr(faust_fixes, "_faust_add_gap", FakeConsumer._add_gap)
    app = SimpleNamespace(consumer=consumer, consumer_generation_id=3, in_transaction=False, producer=None)
    runner = agents_module.StageRunner("test", 4, agents_module.KafkaCommitter(app, {}, {}), step=None)
    try:
        # The first messages of the generation were lost in Faust's buffers: read from 10 again.
        assert not await runner.intake.admit(_message_event(14))
        assert consumer.seeks == [{("src", 0): 10}]
        # Below the committed offset: already done, not processed again.
        assert not await runner.intake.admit(_message_event(9))
        assert [await runner.intake.admit(_message_event(offset)) for offset in range(10, 15)] == [True] * 5
    finally:
        agents_module._RUNNERS.remove(runner)


async def test_without_a_committed_offset_a_generation_starts_at_the_beginning_of_the_log(agents_module):
    consumer = FakeConsumer(committed=None)
    app = SimpleNamespace(consumer=consumer, consumer_generation_id=1, in_transaction=False, producer=None)
    runner = agents_module.StageRunner("test", 4, agents_module.KafkaCommitter(app, {}, {}), step=None)
    try:
        # Offset 0 of a brand-new group was lost in Faust's buffers (seen on the real broker).
        assert not await runner.intake.admit(_message_event(1))
        assert consumer.seeks == [{("src", 0): 0}]
        assert [await runner.intake.admit(_message_event(offset)) for offset in (0, 1)] == [True, True]
    finally:
        agents_module._RUNNERS.remove(runner)


async def test_the_start_of_the_log_is_asked_through_the_log_start_lookup_not_the_fetching_consumer(agents_module):
    """On the consumer's own connection the request waited behind its fetch (1.5 s per partition; workers.log_start)."""
    consumer = FakeConsumer(committed=None)
    asked = []

    async def log_start(tp):
        asked.append(tp)
        return 5  # the log was truncated by retention: it starts at 5

    app = SimpleNamespace(consumer=consumer, consumer_generation_id=1, in_transaction=False, producer=None)
    runner = agents_module.StageRunner("test", 4, agents_module.KafkaCommitter(app, {}, {}), step=None,
                                       log_start=log_start)
    try:
        # The fetching consumer would say 0 (FakeConsumer): the lookup's 5 is what counts.
        assert not await runner.intake.admit(_message_event(6))
        assert consumer.seeks == [{("src", 0): 5}]
        assert asked == [("src", 0)]
        assert [await runner.intake.admit(_message_event(offset)) for offset in (5, 6)] == [True, True]
        assert asked == [("src", 0)]  # once per partition and generation
    finally:
        agents_module._RUNNERS.remove(runner)


async def test_an_idle_agent_reads_again_a_partition_whose_messages_never_arrive(monkeypatch):
    from faust.types import TP

    from workers import faust_fixes, guarded

    consumer = FakeConsumer(committed=33)
    consumer.assignment = lambda: {TP("src", 0), TP("src", 1), TP("other", 0)}
    consumer.highwater = lambda tp: 41
    monkeypatch.setattr(faust_fixes, "_faust_add_gap", FakeConsumer._add_gap)
    app = SimpleNamespace(consumer=consumer, consumer_generation_id=2)
    intake = guarded.GuardedIntake(app, "test")
    try:
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
    finally:
        guarded._INTAKES.remove(intake)
