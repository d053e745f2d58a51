"""The Kafka client reports the offsets it passes over on purpose (workers.delivery.continuity), on the real broker.

Transactions leave markers and aborted records in a partition: offsets no
consumer receives.  The agents' delivery guard must see those as gaps, and
anything else as a hole to read again.
"""

from __future__ import annotations

import uuid
from itertools import pairwise

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from workers import faust_compat
from workers.delivery.continuity import PassedOver


async def test_offsets_of_markers_and_aborted_records_are_passed_over_and_nothing_else(kafka_bootstrap):
    hooks = faust_compat.install()  # patch 6 reports skipped offsets to hooks.passed_over
    passed_over = hooks.passed_over = PassedOver()
    topic = f"continuity-{uuid.uuid4().hex[:8]}"
    hooks.guarded_topics.add(topic)  # as an agent's source topic is
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=f"tx-{topic}")
    await producer.start()
    try:
        for batch, commit in (([b"a1", b"a2", b"a3"], True), ([b"x1", b"x2"], False), ([b"b1", b"b2"], True)):
            await producer.begin_transaction()
            for value in batch:
                await producer.send_and_wait(topic, value, partition=0)
            if commit:
                await producer.commit_transaction()
            else:
                await producer.abort_transaction()
    finally:
        await producer.stop()
    plain = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await plain.start()
    try:
        await plain.send_and_wait(topic, b"c1", partition=0)  # outside any transaction
    finally:
        await plain.stop()

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=None,
                                auto_offset_reset="earliest", isolation_level="read_committed")
    await consumer.start()
    try:
        delivered: list[tuple[int, bytes]] = []
        while len(delivered) < 6:
            for messages in (await consumer.getmany(timeout_ms=1000)).values():
                delivered += [(m.offset, m.value) for m in messages]
        tp = next(iter(consumer.assignment()))
    finally:
        await consumer.stop()

    assert [value for _, value in delivered] == [b"a1", b"a2", b"a3", b"b1", b"b2", b"c1"]
    offsets = [offset for offset, _ in delivered]
    jumps = [(before + 1, after) for before, after in pairwise(offsets) if after > before + 1]
    # a1 a2 a3 | commit marker | x1 x2 | abort marker | b1 b2 | commit marker | c1
    assert jumps == [(3, 7), (9, 10)]
    for start, end in jumps:
        assert passed_over.first_unexplained(tp, start, end) is None, (start, end)
    # Offsets that were delivered are not "passed over": a jump across them is a hole.
    assert passed_over.first_unexplained(tp, 0, 3) == 0
    assert passed_over.first_unexplained(tp, 7, 10) == 7
