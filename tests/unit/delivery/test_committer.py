"""The commit path without a broker: the one writer's at_least_once path, state applied, acknowledgement."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from workers.delivery import EventOutbox, HandedBack
from workers.delivery.committer import Committer
from workers.delivery.writer import KafkaWriter


async def _no_rebalance(app):
    raise AssertionError("no rebalance expected")


def make_committer(app, topics, tables):
    names = {role: t.get_topic_name() for role, t in topics.items() if t is not None}
    return Committer(KafkaWriter(app, _no_rebalance), names, tables)

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


async def test_committer_writes_outputs_and_state_then_acknowledges():
    producer = FakeProducer(failures=1)
    app = SimpleNamespace(producer=producer, in_transaction=False)
    topics = {"articles": SimpleNamespace(get_topic_name=lambda: "t.articles"), "entities": None}
    seen = FakeTable("seen")
    committer = make_committer(app, topics, {"seen": seen})
    outbox = EventOutbox()
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


class StoppedProducer:
    async def send(self, *args):
        from faust.exceptions import NotReady
        raise NotReady("Producer service not yet started")


async def test_a_message_finishing_after_the_shutdown_stopped_the_producer_is_handed_back():
    """Faust stops its producer without waiting for in-flight messages: those stay unacknowledged, no crash."""
    app = SimpleNamespace(producer=StoppedProducer(), in_transaction=False, should_stop=True)
    topics = {"articles": SimpleNamespace(get_topic_name=lambda: "t.articles")}
    committer = make_committer(app, topics, {})
    outbox = EventOutbox()
    await outbox.publish("articles", b"id1", b"{}", {})
    event = FakeEvent(partition=0)
    with pytest.raises(HandedBack):
        await committer.commit(event, outbox)
    assert event.acked == 0
    app.should_stop = False  # not shutting down: a producer not started is an error, not a hand-back
    from faust.exceptions import NotReady
    with pytest.raises(NotReady):
        await committer.commit(event, outbox)




def test_the_writer_takes_the_mode_when_it_writes_not_when_it_is_built():
    # Faust's in_transaction is False until the app runs in a worker; the delivery layer is built before that.
    app = SimpleNamespace(in_transaction=False)
    writer = KafkaWriter(app, _no_rebalance)
    app.in_transaction = True
    assert writer.transactional


async def test_a_pipelined_commit_sends_at_once_and_acknowledges_only_when_completed():
    producer = FakeProducer(failures=1)
    app = SimpleNamespace(producer=producer, in_transaction=False)
    seen = FakeTable("seen")
    committer = make_committer(app, {"articles": SimpleNamespace(get_topic_name=lambda: "t.articles")},
                               {"seen": seen})
    outbox = EventOutbox()
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
