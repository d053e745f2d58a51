"""exactly_once: a worker whose transactional producers are fenced goes on (issue 18's cluster work).

Kafka fences a transactional producer when another producer initialises the
same transactional id (a new owner of the partition) or when the coordinator
aborts its transaction.  A fenced aiokafka producer is dead: the worker used to
crash on the next message that shared its transactional id.  Here a stranger
initialises every transactional id of the worker's partitions, as a new owner
would; the worker must hand the messages back, have the group rebalance, get
new producers and deliver every later URL exactly once.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from tests.helpers.expectations import SEED_HTML
from tests.helpers.kafka import collect, produce, unique_topics_env
from tests.helpers.workerproc import WorkerProcess
from workers.local.pages import PageServer

pytestmark = pytest.mark.timeout(300)


async def fence(bootstrap: str, transactional_ids: list[str]) -> None:
    for tid in transactional_ids:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=tid)
        await producer.start()  # InitProducerId: a higher epoch for the id, the worker's producer is fenced
        await producer.stop()


async def test_a_fenced_worker_rebalances_and_delivers_exactly_once(kafka_bootstrap, tmp_path):
    env = unique_topics_env(kafka_bootstrap, NEWSWIRE_TOPIC_PARTITIONS="1",
                            NEWSWIRE_PROCESSING_GUARANTEE="exactly_once", NEWSWIRE_ENTITIES_ENABLED="false")
    articles = env["NEWSWIRE_ARTICLES_TOPIC"]
    worker = WorkerProcess(env, tmp_path).start()
    try:
        await asyncio.to_thread(worker.wait_ready)
        with PageServer() as pages:
            first = pages.add_page("/first", SEED_HTML.read_bytes())
            await produce(kafka_bootstrap, env["NEWSWIRE_INPUT_TOPIC"], [first.encode()])
            found = await collect(kafka_bootstrap, [articles], until=lambda r: len(r[articles]) >= 1, timeout=120)
            assert len(found[articles]) == 1, worker.log_tail()

            # Faust's transactional ids: "<group>-<topic group>-<partition>"; one partition, a few topic groups.
            await fence(kafka_bootstrap, [f"{env['NEWSWIRE_GROUP_ID']}-{group}-0" for group in range(6)])

            later = [pages.add_page(f"/later/{i}", SEED_HTML.read_bytes().replace(b"Blinken", f"Blinken{i}".encode()))
                     for i in range(3)]
            await produce(kafka_bootstrap, env["NEWSWIRE_INPUT_TOPIC"], [url.encode() for url in later])
            found = await collect(kafka_bootstrap, [articles], until=lambda r: len(r[articles]) >= 4, timeout=180)
            await asyncio.sleep(3)
            found = await collect(kafka_bootstrap, [articles], until=lambda r: False, timeout=3)
        urls = sorted(value["url"] for _, value, _ in found[articles])
        assert urls == sorted([first, *later]), worker.log_tail()  # every URL, exactly once
        assert worker.proc is not None and worker.proc.poll() is None, worker.log_tail()  # no crash
        assert "fenced" in worker.log_path.read_text()  # the fence really happened
    finally:
        worker.terminate()
