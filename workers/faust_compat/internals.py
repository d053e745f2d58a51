"""Read and act on Faust's and aiokafka's private state, for the delivery layer -- nowhere else.

Each function names the private attribute it uses; ``tests/compat`` pins
their shape, so a release that moves one fails there rather than in production.
Lookups that fail raise (``AttributeError``), never answer a silent default,
except where the caller's documented fallback is the safe one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = [
    "transactional_id",
    "transactional_producer",
    "transaction_lock",
    "in_transaction",
    "take_out_transactional_producer",
    "renew_transactional_producer",
    "forget_unacked",
    "unacked_messages",
    "kafka_consumer",
    "on_consumer_loop",
    "request_rejoin",
    "left_out_of_fetching",
    "fetch_again",
    "active_partitions",
    "tables_recovered",
]

_BROKER_TIMEOUT_S = 10.0


# -- transactional producers (exactly_once) ----------------------------------------


def transactional_id(app: Any, tp: Any) -> str:
    """Faust's transactional id for a source partition: ``TransactionManager.transactional_id_format``."""
    return f"{app.conf.id}-{app.assignor.group_for_topic(tp.topic)}-{tp.partition}"


def transactional_producer(app: Any, tid: str) -> Any | None:
    """The aiokafka producer Faust started for ``tid`` (``TransactionManager._transaction_producers``);
    None if not assigned."""
    return app.producer._transaction_producers.get(tid)


def transaction_lock(app: Any, tid: str) -> asyncio.Lock | None:
    """Faust's lock for ``tid`` (``TransactionManager._trn_locks``): held by whoever writes its transaction."""
    lock: asyncio.Lock | None = app.producer._trn_locks.get(tid)
    return lock


def in_transaction(txn_producer: Any) -> bool:
    """Whether an aiokafka transactional producer has a transaction open (``AIOKafkaProducer._txn_manager``)."""
    return bool(txn_producer._txn_manager.is_in_transaction())


def take_out_transactional_producer(app: Any, tid: str) -> Any | None:
    """Remove ``tid``'s producer from Faust's registry (a fenced producer is dead); returns it to be stopped."""
    return app.producer._transaction_producers.pop(tid, None)


async def renew_transactional_producer(app: Any, tid: str) -> Any:
    """Start a new producer for ``tid`` in Faust's registry (``_new_producer``): new epoch, fresh sequence numbers."""
    renewed = app.producer._new_producer(transactional_id=tid)
    await renewed.start()
    app.producer._transaction_producers[tid] = renewed
    return renewed


# -- acknowledgements ---------------------------------------------------------------


def forget_unacked(app: Any, message: Any) -> None:
    """Stop Faust waiting for ``message``'s acknowledgement (``Consumer._unacked_messages``).

    Faust's revocation and shutdown wait until every message taken from a
    stream is acknowledged; one handed back never will be.
    """
    app.consumer._unacked_messages.discard(message)


def unacked_messages(app: Any) -> list[Any]:
    """The messages Faust still waits on (empty when the consumer is not started)."""
    try:
        return list(app.consumer._unacked_messages)
    except AttributeError:
        return []


# -- the Kafka client under Faust's consumer ---------------------------------------


def kafka_consumer(app: Any) -> Any:
    """aiokafka's consumer inside Faust's consumer thread (``_thread._ensure_consumer()``)."""
    return app.consumer._thread._ensure_consumer()


async def on_consumer_loop(app: Any, coro: Coroutine[Any, Any, Any], timeout: float = _BROKER_TIMEOUT_S) -> Any:
    """Run an aiokafka coroutine on the consumer thread's event loop (``_thread.thread_loop``), next to its fetches.

    Not through Faust's ``call_thread``: its method queue runs one call at a
    time, behind a fetch that waits up to a second for records (measured:
    1.5 s for the first message of a run).
    """
    future = asyncio.run_coroutine_threadsafe(coro, app.consumer._thread.thread_loop)
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
    finally:
        future.cancel()


async def request_rejoin(app: Any) -> None:
    """Ask the group coordinator for a rebalance (aiokafka's ``_coordinator.request_rejoin``), on the client's loop."""
    client = kafka_consumer(app)

    async def rejoin() -> None:
        client._coordinator.request_rejoin()  # aiokafka is not thread-safe: on its own loop

    await on_consumer_loop(app, rejoin())


def left_out_of_fetching(app: Any, tp: Any) -> bool:
    """Faust fetches its active partitions; a full stream buffer takes one out (``_buffered_partitions``)
    until it drains."""
    consumer = app.consumer
    return tp in consumer._buffered_partitions and tp not in consumer._paused_partitions


def fetch_again(app: Any, tp: Any) -> None:
    """Give a partition back to fetching (Faust's ``Consumer.on_buffer_drop``)."""
    app.consumer.on_buffer_drop(tp)


# -- assignment and recovery --------------------------------------------------------


def active_partitions(app: Any, topic: str) -> set[int]:
    """Partitions of ``topic`` this worker owns actively (not as a standby): ``assignor.assigned_actives()``."""
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}


def tables_recovered(app: Any) -> bool:
    """Whether table recovery is complete (``tables.recovery.completed``, not on Faust's TableManagerT interface)."""
    return bool(app.tables.recovery.completed.is_set())
