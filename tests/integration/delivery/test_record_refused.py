"""A record Kafka refuses as too large becomes a dead letter, in both modes, and the worker goes on (issue 18, hole 3).

The articles topic's ``max.message.bytes`` is lowered below the size of the
record while the worker runs, as an operator might: the URL must end as one
dead letter ``record_too_large`` (stage ``publish``), never as nothing.  Then
the limit is raised again and the next URL of the same partition becomes a
record: the worker (and, in exactly_once, the partition's transactional
producer) carried on.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tests.helpers.expectations import SEED_HTML
from tests.helpers.kafka import collect, produce, unique_topics_env
from tests.helpers.workerproc import WorkerProcess
from workers.contract.schemas import validate_record
from workers.local.pages import PageServer

pytestmark = pytest.mark.timeout(300)


async def set_max_message_bytes(bootstrap: str, topic: str, size: int) -> None:
    """As an operator would, at run time (AlterConfigs replaces the topic's configs: keep compaction)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={
            "max.message.bytes": str(size), "cleanup.policy": "compact"})])
    finally:
        await admin.close()


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
async def test_a_record_the_broker_refuses_becomes_a_dead_letter(kafka_bootstrap, tmp_path, mode):
    env = unique_topics_env(kafka_bootstrap, NEWSWIRE_TOPIC_PARTITIONS="1", NEWSWIRE_PROCESSING_GUARANTEE=mode,
                            NEWSWIRE_ENTITIES_ENABLED="false")
    articles, deadletter = env["NEWSWIRE_ARTICLES_TOPIC"], env["NEWSWIRE_DEADLETTER_TOPIC"]
    worker = WorkerProcess(env, tmp_path).start()
    try:
        await asyncio.to_thread(worker.wait_ready)
        await set_max_message_bytes(kafka_bootstrap, articles, 1024)  # the seed record is several KiB
        with PageServer() as pages:
            refused_url = pages.add_page("/too-large", SEED_HTML.read_bytes())
            await produce(kafka_bootstrap, env["NEWSWIRE_INPUT_TOPIC"], [refused_url.encode()])
            found = await collect(kafka_bootstrap, [deadletter], until=lambda r: len(r[deadletter]) >= 1, timeout=120)
            assert len(found[deadletter]) == 1, worker.log_tail()
            letter = found[deadletter][0][1]
            validate_record("deadletter", letter)
            assert (letter["error"], letter["stage"], letter["url"]) == ("record_too_large", "publish", refused_url)
            assert "MessageSizeTooLarge" in letter["detail"]

            await set_max_message_bytes(kafka_bootstrap, articles, 8 * 1024 * 1024)
            next_url = pages.add_page("/next", SEED_HTML.read_bytes())
            await produce(kafka_bootstrap, env["NEWSWIRE_INPUT_TOPIC"], [next_url.encode()])
            found = await collect(kafka_bootstrap, [articles, deadletter],
                                  until=lambda r: len(r[articles]) >= 1, timeout=120)
        assert [value["url"] for _, value, _ in found[articles]] == [next_url], worker.log_tail()
        assert len(found[deadletter]) == 1  # still only the refused URL's
        assert worker.proc is not None and worker.proc.poll() is None  # the worker went on
    finally:
        worker.terminate()
