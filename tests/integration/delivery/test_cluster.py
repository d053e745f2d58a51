"""Delivery on a 3-broker KRaft cluster with brokers crashing mid-stream (issue 18).

Production Kafka is never one broker.  A cluster of three nodes on 127.0.0.1
(:class:`workers.local.cluster.LocalCluster`: replication factor 3,
``min.insync.replicas=2``, the transaction state log with ``min.isr=2``)
carries one run per processing guarantee, two workers in one group, topics
created by newswire with ``NEWSWIRE_TOPIC_REPLICATION=3``.  While the batch is
in progress:

1. the node leading an input partition is killed with SIGKILL; once another
   node leads that partition it is restarted and caught up;
2. then a second node -- another one, leading an output partition -- is
   killed the same way and restarted.

Then every submitted item must be accounted for (read_committed): at least
once in ``at_least_once``, exactly once in ``exactly_once``; and the whole
batch submitted again yields no new article record.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tests.helpers.reliability import (
    OutputReader,
    WorkerGroup,
    expect_every_item_accounted_for,
    reliability_env,
    resubmit_and_expect_no_new_record,
    serve_batch,
    submit,
)
from workers.local.cluster import LocalCluster
from workers.local.pages import PageServer

N_GOOD = 120


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = LocalCluster(tmp_path_factory.mktemp("kafka-cluster"), size=3)
    try:
        cluster.start()
    except Exception:
        cluster.stop()
        raise
    try:
        yield cluster
    finally:
        cluster.stop()


def _fraction(reader: OutputReader, total: int, share: float) -> bool:
    return reader.count >= total * share


async def _topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        entries = response.resources[0][4]
        return {entry[0]: entry[1] for entry in entries}
    finally:
        await admin.close()


async def _crash_leader(cluster: LocalCluster, topic: str, avoid: set[int]) -> tuple[int, int, float]:
    """SIGKILL the node leading a partition of ``topic`` (preferring nodes not in ``avoid``), wait until another
    node leads it, restart the node and wait until every replica is back in sync.  (node, partition, seconds down)"""
    state = await cluster.partition_state(topic)
    candidates = sorted(state.items(), key=lambda item: (item[1][0] in avoid, item[0]))
    partition, (leader, _isr) = candidates[0]
    started = time.monotonic()
    cluster.kill(leader)
    await cluster.wait_leader_moved(topic, partition, leader, timeout_s=90)
    await asyncio.to_thread(cluster.restart, leader)
    down_s = time.monotonic() - started
    await cluster.wait_in_sync([topic], timeout_s=120)
    return leader, partition, down_s


@pytest.mark.timeout(900)
@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
async def test_every_url_accounted_for_when_brokers_crash(cluster, tmp_path, mode):
    bootstrap = cluster.bootstrap
    env = reliability_env(bootstrap, mode, NEWSWIRE_TOPIC_REPLICATION="3")
    articles, deadletter = env["NEWSWIRE_ARTICLES_TOPIC"], env["NEWSWIRE_DEADLETTER_TOPIC"]
    with PageServer() as server:
        batch = serve_batch(server, N_GOOD, n_missing=6, n_copies=2)
        group = WorkerGroup(env, tmp_path, ["w1", "w2"]).start()
        try:
            await asyncio.to_thread(group.wait_all_ready)
            # newswire created the topics replicated 3 times with a majority as min.insync.replicas.
            assert (await _topic_config(bootstrap, articles))["min.insync.replicas"] == "2"
            async with OutputReader(bootstrap, articles, deadletter) as reader:
                await submit(bootstrap, env["NEWSWIRE_INPUT_TOPIC"], batch)
                total = batch.size

                # 1. The leader of an input partition crashes mid-stream.
                assert await reader.wait_for(lambda r: _fraction(r, total, 0.2), 240), group.logs()
                first = await _crash_leader(cluster, env["NEWSWIRE_INPUT_TOPIC"], avoid=set())

                # 2. Then another node, leading an output partition, crashes too.
                after_first = reader.count
                assert await reader.wait_for(lambda r: r.count >= min(after_first + total * 0.15, total * 0.9),
                                             300), group.logs()
                second = await _crash_leader(cluster, articles, avoid={first[0]})

                await expect_every_item_accounted_for(
                    reader, batch, group, mode, "cluster",
                    f"killed=node{first[0]}(input p{first[1]}, {first[2]:.0f}s down),"
                    f"node{second[0]}(articles p{second[1]}, {second[2]:.0f}s down)")

                # The whole batch again: no new article record.
                await resubmit_and_expect_no_new_record(reader, bootstrap, env["NEWSWIRE_INPUT_TOPIC"], batch, group,
                                                        f"{mode}/cluster")
                await asyncio.to_thread(group.wait_all_ready, 120)
        finally:
            group.stop()
