"""Pins the shape of every private faust-streaming / aiokafka / mode name workers.faust_compat uses.

A release that renames, removes or changes one fails here, before delivery
breaks silently in production.  Shapes are checked by signature, by the
attributes an object really has once built, and (for attributes set in
``__init__``) by the source that sets them.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.consumer.fetcher import PartitionRecords
from aiokafka.consumer.group_coordinator import GroupCoordinator
from faust.transport.consumer import Consumer, TransactionManager
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Producer

from workers.faust_compat import patches
from workers.settings import Settings
from workers.worker.app import create_app


def params(func) -> list[str]:
    return list(inspect.signature(inspect.unwrap(func)).parameters)


def source(func) -> str:
    """The library's own source, also after workers.faust_compat patched it (patches keep it as __wrapped__)."""
    return inspect.getsource(inspect.unwrap(func))


def sets_in_init(cls, *names: str) -> None:
    source = inspect.getsource(inspect.unwrap(cls.__init__))
    for name in names:
        assert f"self.{name} =" in source or f"self.{name}: " in source, (
            f"{cls.__name__}.__init__ no longer sets {name}")


# -- patched methods (workers/faust_compat/patches.py) ---------------------------------


def test_patch_1_seek_to_committed():
    assert inspect.iscoroutinefunction(inspect.unwrap(AIOKafkaConsumerThread.seek_to_committed))
    assert params(AIOKafkaConsumerThread.seek_to_committed) == ["self"]
    assert inspect.iscoroutinefunction(AIOKafkaConsumerThread.seek_to_beginning)


def test_patch_2_add_gap_is_inclusive_and_called_by_the_drain_loop():
    assert params(Consumer._add_gap) == ["self", "tp", "offset_from", "offset_to"]
    drain = source(Consumer._drain_messages)
    assert "self._add_gap(" in drain and "_read_offset" in drain


def test_patch_3_on_partitions_revoked():
    assert params(Consumer.on_partitions_revoked) == ["self", "revoked"]
    assert inspect.iscoroutinefunction(Consumer.commit)


def test_patch_4_highwaters():
    assert params(AIOKafkaConsumerThread._highwaters) == ["self", "tps"] or \
        params(AIOKafkaConsumerThread._highwaters)[0] == "self"
    assert inspect.iscoroutinefunction(AIOKafkaConsumerThread._highwaters)
    assert hasattr(AIOKafkaConsumerThread, "_ensure_consumer")


def test_patch_5_transaction_manager_commit():
    assert params(TransactionManager.commit)[:2] == ["self", "offsets"]
    assert "start_new_transaction" in params(TransactionManager.commit)


def test_patch_6_partition_records_unpacking():
    assert inspect.isgeneratorfunction(inspect.unwrap(PartitionRecords._unpack_records))
    assert params(PartitionRecords._unpack_records) == ["self"]
    sets_in_init(PartitionRecords, "_tp", "next_fetch_offset")


def test_patch_7_read_offsets_is_a_defaultdict_read_with_getitem():
    sets_in_init(Consumer, "_read_offset")
    assert "defaultdict(lambda: None)" in source(Consumer.__init__)
    assert issubclass(patches._ReadOffsets, defaultdict)
    assert "self._read_offset.__getitem__" in source(Consumer._drain_messages)


# -- state read or acted on (workers/faust_compat/internals.py) --------------------------


def test_transactional_producer_registry_and_locks():
    # Class-level dicts of Faust's aiokafka Producer: transactional id -> producer / lock.
    assert isinstance(Producer._transaction_producers, dict)
    assert isinstance(Producer._trn_locks, dict)
    source = inspect.getsource(Producer)
    assert "self._transaction_producers[transactional_id] = " in source
    assert "self._trn_locks[transactional_id] = asyncio.Lock()" in source
    assert TransactionManager.transactional_id_format == "{group_id}-{tpg.group}-{tpg.partition}"
    assert params(Producer._new_producer) == ["self", "transactional_id"]


def test_aiokafka_transaction_manager():
    sets_in_init(AIOKafkaProducer, "_txn_manager")
    from aiokafka.producer.transaction_manager import TransactionManager as TxnManager

    assert callable(TxnManager.is_in_transaction)
    for name in ("begin_transaction", "commit_transaction", "abort_transaction", "send_offsets_to_transaction"):
        assert inspect.iscoroutinefunction(getattr(AIOKafkaProducer, name)), name


def test_consumer_acknowledgement_and_buffer_state():
    sets_in_init(Consumer, "_unacked_messages", "_buffered_partitions")
    assert "self._paused_partitions = set()" in source(Consumer._reset_state)
    assert params(Consumer.on_buffer_drop) == ["self", "tp"]


def test_consumer_thread_loop_and_client():
    from mode.threads import ServiceThread

    assert issubclass(AIOKafkaConsumerThread, ServiceThread)
    assert "self.thread_loop = " in source(ServiceThread.__init__)
    assert params(AIOKafkaConsumerThread._ensure_consumer) == ["self"]


def test_group_coordinator_rejoin():
    assert params(GroupCoordinator.request_rejoin) == ["self"]
    from aiokafka import AIOKafkaConsumer

    sets_in_init(AIOKafkaConsumer, "_coordinator")


def test_app_level_names_on_a_built_app():
    app = create_app(Settings())
    assert callable(app.assignor.group_for_topic)
    assert callable(app.assignor.assigned_actives)
    assert hasattr(app.tables, "recovery")
    assert isinstance(app.tables.recovery.completed, asyncio.Event)


@pytest.mark.parametrize("patch", patches.PATCHES, ids=lambda p: p.__name__)
def test_every_patch_is_documented_with_its_correction(patch):
    doc = inspect.getdoc(patch) or ""
    assert "Correction:" in doc and doc.split(".")[0].strip().isdigit()


def test_aiokafka_logs_a_refused_connection_with_the_error_as_an_argument():
    # workers.kafka.diagnosis.CredentialWatch reads the exception from these log records' args.
    import aiokafka.client

    source = inspect.getsource(aiokafka.client)
    assert "log.error('Unable connect to \"%s:%s\": %s', host, port, err)" in source
    assert 'log.error("Unable connect to node with id %s: %s", node_id, err)' in source
    assert aiokafka.client.log.name.startswith("aiokafka")
