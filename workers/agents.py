"""Faust wiring, kept thin: three agents hand messages to the MessageHandler.

    URL topic --route--> submissions (by article id) --process--> records (by content hash) --publish--> articles

Each agent reads its stream without Faust's automatic acks and gives every
message to a :class:`StageRunner`.  Its delivery guard
(:mod:`workers.continuity`, :mod:`workers.guarded`) first checks that the message is the next one of
its partition: messages Faust fetched and then lost from its buffers are read
again rather than left behind a hole.  Then the handler's step runs concurrently
(bounded by :class:`~workers.inflight.OrderedWork`), writes into a per-message
:class:`EventOutbox`, and the :class:`KafkaCommitter` then writes the outbox
and acknowledges the message, in offset order per partition.

Delivery (docs/delivery.md has the full argument):

* ``at_least_once``: the outputs are sent and acknowledged by the broker
  before the message is acknowledged; Faust commits only acknowledged,
  contiguous offsets.  A crash in between redelivers the message.  The
  writes are pipelined (:class:`PendingCommit`): a message's outputs are
  sent as soon as the previous message of its partition has sent its own,
  and each message is acknowledged after its own delivery and after the
  previous one's acknowledgement.
* ``exactly_once``: one Kafka transaction per message, on the transactional
  producer of its *source* partition: outputs, table changelog entries and
  the message's offset, committed together.  Faust's own transaction manager
  picks the transaction by the *destination* partition of an output
  (``TransactionManager.send`` -> ``key_partition(topic, key)``) and shares a
  transaction between the source topics' partitions with the same number,
  committing outputs whose offsets its bookkeeping did not advance; its
  periodic commit is disabled (workers/faust_fixes.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from typing import Any, Awaitable, Callable

from aiokafka.errors import KafkaError, MessageSizeTooLargeError, ProducerFenced, RecordTooLargeError
from faust.exceptions import NotReady, ProducerSendError

from .app import app, settings, tables, topics
from .guarded import GuardedIntake, check_progress, request_rebalance
from .handler import HASHES, SEEN, MessageHandler
from .idempotence import submission_id
from .inflight import Abandoned, OrderedWork, Pipelined
from .kafka_options import aiokafka_options
from .log_start import LogStartLookup
from .metrics import METRICS
from .pipeline.runner import ArticlePipeline

log = logging.getLogger("newswire.agents")

_PUBLISH_BACKOFF_MAX_S = 30.0
_DELIVERY_TIMEOUT_S = 30.0
#: What Kafka says when it will not take a message for its size: the broker's answer
#: (MESSAGE_TOO_LARGE, over a topic's max.message.bytes or the broker's message.max.bytes)
#: and aiokafka's own check against the producer's max_request_size.
_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError)


class HandedBack(Abandoned):
    """The message was not written; it (and what follows in its partition) is redelivered."""


class RecordRefused(Exception):
    """Kafka refused an output of the message as too large; the message is written as a dead letter instead."""

    def __init__(self, topic: str, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__} on topic {topic!r}")
        self.topic = topic


#: Writes the outputs that replace a refused message's outputs: (detail, new outbox).
Refusal = Callable[[str, "EventOutbox"], Awaitable[Any]]


class EventOutbox:
    """The outputs and table changes of one message, written when it is the message's turn."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, bytes | None, dict[str, bytes], int | None]] = []
        self.state: list[tuple[str, bytes, bytes | None]] = []

    async def publish(self, role: str, key: bytes, value: bytes | None, headers: dict[str, bytes],
                      partition: int | None = None) -> None:
        """Write to the topic of ``role``, in ``partition`` or by key; a None value is a tombstone."""
        self.messages.append((role, key, value, headers, partition))

    def remember(self, table: str, key: str | bytes, value: bytes | None) -> None:
        """Set (or, with None, delete) a table entry, in the message's partition of the table."""
        self.state.append((table, key.encode() if isinstance(key, str) else key, value))


class TableView:
    """Read access to a raw-bytes Faust table by str key (what the handler expects)."""

    def __init__(self, table: Any, *, text_values: bool = False) -> None:
        self.table = table
        self.text_values = text_values

    def get(self, key: str, default: Any = None) -> Any:
        value = self.table.data.get(key.encode())
        if value is None:
            return default
        return value.decode() if self.text_values else value


class KafkaCommitter:
    """Writes an outbox and acknowledges its message (see the module docstring)."""

    def __init__(self, app_: Any, topics_by_role: dict[str, Any], tables_by_name: dict[str, Any]) -> None:
        self.app = app_
        self.topics = {role: t.get_topic_name() for role, t in topics_by_role.items() if t is not None}
        self.tables = tables_by_name
        self.transactional = bool(app_.in_transaction)

    async def commit(self, event: Any, outbox: EventOutbox, on_refused: Refusal | None = None) -> None:
        """Write the outbox and acknowledge the message; a refused output turns the message into its dead letter.

        Kafka refuses a message over a topic's ``max.message.bytes`` or the
        broker's ``message.max.bytes`` (an operator may lower either while the
        worker runs).  Nothing of the refused outbox counts (in exactly_once
        its transaction is aborted; in at_least_once outputs sent before the
        refusal may stay, like any resend), and the stage's ``on_refused``
        writes the message's dead letter, committed like any outbox.
        """
        try:
            await self._commit_once(event, outbox)
        except RecordRefused as refused:
            if on_refused is None:
                raise
            log.error("output refused by Kafka as too large; the URL becomes a dead letter",
                      extra={"stage": "publish", "topic": refused.topic, "error": str(refused)})
            replacement = EventOutbox()
            await on_refused(str(refused), replacement)
            await self._commit_once(event, replacement)

    async def _commit_once(self, event: Any, outbox: EventOutbox) -> None:
        # The "publish" stage latency: from handing the article to Kafka until the broker has it.
        publishing = any(message[0] == "articles" for message in outbox.messages)
        started = time.perf_counter()
        if self.transactional:
            await self._commit_in_transaction(event, outbox)
        else:
            await self._commit_acked(event, outbox)
        if publishing:
            METRICS.observe_stage("publish", time.perf_counter() - started)

    def _records(self, event: Any, outbox: EventOutbox) -> list[tuple[str, bytes, bytes | None, int | None, list]]:
        out = []
        for role, key, value, headers, partition in outbox.messages:
            topic = self.topics.get(role)
            if topic is not None:  # a disabled output (entities topic unset)
                out.append((topic, key, value, partition, list(headers.items())))
        for name, key, value in outbox.state:
            table = self.tables[name]
            # The changelog partition is the message's partition: the table is
            # co-partitioned with the stream that changes it (Faust's own rule).
            out.append((table.changelog_topic.get_topic_name(), key, value, event.message.partition, []))
        return out

    def _apply_state(self, outbox: EventOutbox) -> None:
        for name, key, value in outbox.state:
            if value is None:
                self.tables[name].data.pop(key, None)
            else:
                self.tables[name].data[key] = value

    async def start_commit(self, event: Any, outbox: EventOutbox,
                           on_refused: Refusal | None = None) -> Pipelined | None:
        """Begin :meth:`commit`: in at_least_once, send the outputs and return the rest of the commit.

        The returned :class:`PendingCommit` waits for the delivery and then
        acknowledges (the caller keeps the partition order, workers.inflight).
        In exactly_once the whole commit is done here (one transaction per
        message, one at a time per partition) and None is returned.
        """
        if self.transactional:
            await self.commit(event, outbox, on_refused)
            return None
        pending = PendingCommit(self, event, outbox, on_refused)
        await pending.send()
        return pending

    async def _send_all(self, records: list[tuple[str, bytes, bytes | None, int | None, list]]) -> list[Any]:
        """Hand every record to the producer; the futures of their delivery reports."""
        producer = self.app.producer
        futures = []
        for topic, key, value, partition, headers in records:
            try:
                futures.append(await producer.send(topic, key, value, partition, None, headers))
            except ProducerSendError as exc:
                _raise_if_refused(topic, exc)
                raise
        return futures

    async def _commit_acked(self, event: Any, outbox: EventOutbox) -> None:
        await self._deliver(self._records(event, outbox))
        self._apply_state(outbox)
        event.ack()

    async def _deliver(self, records: list[tuple[str, bytes, bytes | None, int | None, list]],
                       futures: list[Any] | None = None) -> None:
        """Until the broker has every record (sent again on failure): at_least_once's write.

        ``futures``: the delivery reports of a send already made.
        """
        delay = 0.5
        while True:
            try:
                if futures is None:
                    futures = await self._send_all(records)
                # Faust's producer waits up to 20 minutes for a delivery report; a
                # batch in flight when the broker went away can sit there that
                # long.  Resend instead (a duplicate at worst, in this mode).
                reports = await asyncio.wait_for(asyncio.gather(*map(asyncio.shield, futures),
                                                                return_exceptions=True), _DELIVERY_TIMEOUT_S)
                _raise_first_failure(records, reports)
                return
            except NotReady:
                if not self.app.should_stop:
                    raise
                # Shutting down: Faust stops its producer without waiting for the messages
                # still in flight (its wait_empty returns at once once should_stop is set).
                # Left unacknowledged, this one is redelivered to the partition's next owner.
                raise HandedBack("producer stopped by the shutdown") from None
            except asyncio.TimeoutError:
                log.warning("no delivery report; sending again", extra={"stage": "publish",
                                                                        "timeout_s": _DELIVERY_TIMEOUT_S})
            except (KafkaError, ProducerSendError) as exc:
                # Resending may duplicate an output: allowed in at-least-once.
                log.warning("publish failed; retrying", extra={"stage": "publish", "error": type(exc).__name__})
                await asyncio.sleep(delay)
                delay = min(delay * 2, _PUBLISH_BACKOFF_MAX_S)
            futures = None

    async def _commit_in_transaction(self, event: Any, outbox: EventOutbox) -> None:
        """One Kafka transaction per message: its outputs, its changelog entries and its offset.

        The transaction is the source partition's (Faust's transactional id for
        it, so a new owner of the partition fences this worker).  Committing
        per message, rather than leaving it to Faust's periodic commit, is
        what makes the guarantee hold: Faust shares one transaction between
        the same partition number of every source topic and commits whatever
        outputs are in it, with only the offsets its bookkeeping can advance.
        """
        tp = event.message.tp
        tid = f"{self.app.conf.id}-{self.app.assignor.group_for_topic(tp.topic)}-{tp.partition}"
        producer = self.app.producer
        lock = producer._trn_locks.get(tid)
        if lock is None or producer._transaction_producers.get(tid) is None:
            log.warning("partition no longer assigned; message handed back", extra={"tid": tid})
            raise HandedBack(tid)
        records = self._records(event, outbox)
        try:
            async with lock:
                # Looked up under the lock: a refusal may have renewed it meanwhile.
                txn_producer = producer._transaction_producers.get(tid)
                if txn_producer is None:
                    log.warning("partition no longer assigned; message handed back", extra={"tid": tid})
                    raise HandedBack(tid)
                if not txn_producer._txn_manager.is_in_transaction():
                    await txn_producer.begin_transaction()
                try:
                    futures = []
                    for topic, key, value, partition, headers in records:
                        try:
                            futures.append(await txn_producer.send(topic, value, key=key, partition=partition,
                                                                   headers=headers))
                        except KafkaError as exc:
                            _raise_if_refused(topic, exc)
                            raise
                    _raise_first_failure(records, await asyncio.gather(*futures, return_exceptions=True))
                except RecordRefused:
                    await self._renew_transactional_producer(tid, txn_producer)
                    raise
                await txn_producer.send_offsets_to_transaction({tp: event.message.offset + 1}, self.app.conf.id)
                await txn_producer.commit_transaction()
                await txn_producer.begin_transaction()
                self._apply_state(outbox)
                event.ack()  # Faust's own bookkeeping (wait_empty); its commit is a no-op here
        except ProducerFenced:
            log.warning("transactional producer fenced; message handed back, the group asked to rebalance",
                        extra={"tid": tid})
            await self._retire_fenced_producer(tid)
            raise HandedBack(tid) from None
        except KafkaError as exc:
            # The transaction is aborted by the broker (this producer is gone);
            # the message and its successors are redelivered.
            log.error("transactional write failed; stopping the worker", extra={"tid": tid, "error": repr(exc)})
            await self.app.crash(exc)
            raise HandedBack(tid) from exc

    async def _retire_fenced_producer(self, tid: str) -> None:
        """After ProducerFenced: take the dead producer out and have the group confirm who owns what.

        A fenced aiokafka producer is in a fatal state: every later
        ``begin_transaction`` on it fails an assertion, which crashed the
        worker on the next message of any topic sharing the transactional id.
        Out of Faust's registry, later messages for ``tid`` are handed back
        ("partition no longer assigned").  A rebalance then settles it: if
        another worker owns the partition now, it keeps it; if this one still
        does (the fence came from elsewhere, e.g. the coordinator aborting a
        transaction), Faust starts a new producer for ``tid`` on assignment and
        the delivery guard reads the handed-back messages again from the
        committed offset.  Renewing the producer here instead could fence a
        rightful new owner: a zombie writing on.
        """
        producer = self.app.producer
        fenced = producer._transaction_producers.pop(tid, None)
        if fenced is not None:
            with contextlib.suppress(Exception):
                await fenced.stop()
        await request_rebalance(self.app)

    async def _renew_transactional_producer(self, tid: str, txn_producer: Any) -> None:
        """Abort the transaction of a refused message and put a new producer in place for ``tid``.

        aiokafka 0.14 counts a refused batch in the partition's sequence number
        although the broker never stored it: every later write of that
        producer to the partition fails with OutOfOrderSequenceNumber, even
        after an abort.  A new producer for the same transactional id gets a
        new epoch and fresh sequence numbers (and fences the old one).
        """
        producer = self.app.producer
        with contextlib.suppress(Exception):
            await txn_producer.abort_transaction()
        with contextlib.suppress(Exception):
            await txn_producer.stop()
        renewed = producer._new_producer(transactional_id=tid)
        await renewed.start()
        producer._transaction_producers[tid] = renewed
        await renewed.begin_transaction()


class PendingCommit:
    """An at_least_once commit whose outputs are on their way (see :meth:`KafkaCommitter.start_commit`).

    Same outcome as :meth:`KafkaCommitter.commit`: the outputs delivered (sent
    again on failure), a refused output replaced by the message's dead
    letter, then the table changes applied and the message acknowledged.
    """

    def __init__(self, committer: KafkaCommitter, event: Any, outbox: EventOutbox,
                 on_refused: Refusal | None) -> None:
        self.committer = committer
        self.event = event
        self.outbox = outbox
        self.on_refused = on_refused
        self.records = committer._records(event, outbox)
        self.futures: list[Any] | None = None
        self.started = time.perf_counter()

    async def send(self) -> None:
        try:
            self.futures = await self.committer._send_all(self.records)
        except (RecordRefused, NotReady, KafkaError, ProducerSendError):
            self.futures = None  # delivered() sends again and handles it as commit() does

    async def delivered(self) -> None:
        try:
            await self.committer._deliver(self.records, self.futures)
        except RecordRefused as refused:
            if self.on_refused is None:
                raise
            log.error("output refused by Kafka as too large; the URL becomes a dead letter",
                      extra={"stage": "publish", "topic": refused.topic, "error": str(refused)})
            self.outbox = EventOutbox()
            await self.on_refused(str(refused), self.outbox)
            self.records = self.committer._records(self.event, self.outbox)
            await self.committer._deliver(self.records)
        if any(message[0] == "articles" for message in self.outbox.messages):
            METRICS.observe_stage("publish", time.perf_counter() - self.started)

    def complete(self) -> None:
        self.committer._apply_state(self.outbox)
        self.event.ack()


class StageRunner:
    """One agent's loop: bounded concurrent steps, committed in order."""

    def __init__(self, name: str, limit: int, committer: KafkaCommitter,
                 step: Callable[[Any, EventOutbox], Awaitable[Any]],
                 refused: Callable[[Any, str, EventOutbox], Awaitable[Any]] | None = None,
                 log_start: LogStartLookup | None = None) -> None:
        self.name = name
        self.committer = committer
        self.step = step
        self.refused = refused  # writes a message's dead letter when Kafka refuses its outputs as too large
        self.work = OrderedWork(limit, on_error=self._on_error)
        self.closed = False
        self.intake = GuardedIntake(committer.app, name, log_start)
        _RUNNERS.append(self)

    async def run(self, stream: Any) -> None:
        self.intake.watch(stream)
        async for event in stream.noack().events():
            self.intake.arrived()
            try:
                if self.closed:
                    continue  # shutting down: leave it unacknowledged, it is handed back
                if await self.intake.admit(event):
                    await self._submit(event)  # waits while the stage is at its in-flight limit
            finally:
                event = None  # noqa: F841  (do not keep the last message alive)
                self.intake.waiting()

    async def _submit(self, event: Any) -> None:
        outbox = EventOutbox()

        async def work() -> EventOutbox:
            await self.step(event, outbox)
            return outbox

        async def on_refused(detail: str, replacement: EventOutbox) -> None:
            assert self.refused is not None
            await self.refused(event, detail, replacement)

        async def finish(box: EventOutbox) -> Pipelined | None:
            return await self.committer.start_commit(event, box, on_refused if self.refused is not None else None)

        # A message left unacknowledged on purpose must not hold up the next rebalance:
        # Faust's revocation waits for every message taken from the stream.
        await self.work.submit(event.message.partition, event.message.key, work, finish,
                               abandoned=lambda: self.intake.release(event))

    async def _on_error(self, exc: BaseException) -> None:
        await app.crash(exc)


_RUNNERS: list[StageRunner] = []
#: Shared by the agents' delivery guards: the start of a partition's log, asked on a connection of its own.
_LOG_START = LogStartLookup(lambda: aiokafka_options(settings))

_pipeline: ArticlePipeline | None = None
_pipeline_lock = asyncio.Lock()


async def get_pipeline() -> ArticlePipeline:
    """The worker's pipeline, started on first use (its pool warms up off the loop)."""
    global _pipeline
    async with _pipeline_lock:
        if _pipeline is None:
            pipeline = ArticlePipeline(settings, observer=METRICS.observe_stage)
            await asyncio.get_running_loop().run_in_executor(None, pipeline.pool.warm_up)
            _pipeline = pipeline
    return _pipeline


def pipeline_ready() -> bool:
    return _pipeline is not None and _pipeline.pool.running


def _process_timeout_s() -> float:
    """Longest a URL may take: every fetch attempt with its backoff, plus the CPU stages."""
    fetch = settings.fetch_max_attempts * (settings.fetch_total_timeout_s + settings.fetch_backoff_max_s)
    return fetch + 120.0


def _handler(pipeline: Any) -> MessageHandler:
    return MessageHandler(pipeline, entities_stream=bool(settings.entities_topic),
                          dedupe_window_s=settings.dedupe_window_s, process_timeout_s=_process_timeout_s(),
                          site_metrics_max=settings.site_metrics_max)


def _committer() -> KafkaCommitter:
    return KafkaCommitter(app, topics.by_role(), {SEEN: tables.seen, HASHES: tables.hashes})


@app.task
async def _start_pipeline() -> None:
    await get_pipeline()


@app.task
async def _start_log_start_lookup() -> None:
    try:
        await _LOG_START.start()
    except Exception as exc:  # the broker not there yet: the first lookup connects
        log.warning("log-start lookup not connected yet", extra={"error": repr(exc)})


@app.timer(2.0)
async def _check_delivery_progress() -> None:
    await check_progress()


@app.task
async def _bound_shutdown() -> None:
    """On shutdown, give in-flight messages ``shutdown_timeout_s`` to finish, then hand them back.

    Faust's stop waits for every message taken from a stream to be
    acknowledged before its final commit; unfinished ones are cancelled and
    released here so the worker commits what is done and leaves the group.
    """
    while not app.should_stop:
        await asyncio.sleep(0.2)
    _exit_after(settings.shutdown_timeout_s + _SHUTDOWN_GRACE_S)
    for runner in _RUNNERS:
        runner.closed = True
    deadline = time.monotonic() + settings.shutdown_timeout_s
    for runner in _RUNNERS:
        if not await runner.work.drain(max(0.0, deadline - time.monotonic())):
            cancelled = await runner.work.cancel()
            log.warning("shutdown timeout: in-flight messages handed back",
                        extra={"stage": runner.name, "count": cancelled})
    _release_unacked()
    await _LOG_START.close()


_SHUTDOWN_GRACE_S = 15.0


def _exit_after(seconds: float) -> None:
    """Backstop: end the process if Faust's own shutdown is still not done after ``seconds``.

    Faust's stop can wait on the group coordinator (final commit, leave
    group) with no bound; a worker must not outlive its shutdown timeout.
    What is committed is committed, the rest is redelivered: nothing is lost,
    the group notices the departure after the session timeout.  A thread,
    because the event loop may be the thing that is stuck.
    """
    def exit_now() -> None:
        log.error("shutdown did not finish in time; exiting", extra={"timeout_s": seconds})
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(seconds, exit_now)
    timer.daemon = True
    timer.start()


def _release_unacked() -> None:
    # Messages we will not finish stay uncommitted (redelivered to the next owner);
    # forget them so Faust's wait for acknowledgements ends.
    try:
        unacked = app.consumer._unacked_messages
    except Exception:
        return
    for message in list(unacked):
        if not message.acked:
            unacked.discard(message)


@app.agent(topics.input)
async def route_urls(stream) -> None:
    handler = _handler(None)

    async def step(event: Any, out: EventOutbox) -> None:
        message = event.message
        await handler.route(message.value, dict(message.headers or ()),
                            submission_id(message.topic, message.partition, message.offset), out)

    async def refused(event: Any, detail: str, out: EventOutbox) -> None:
        await handler.refused_submission(event.message.value, dict(event.message.headers or ()), detail, out)

    # Routing is cheap and needs no concurrency beyond pipelining the writes.
    await StageRunner("route", 64, _committer(), step, refused, _LOG_START).run(stream)


@app.agent(topics.submissions)
async def process_submissions(stream) -> None:
    handler = _handler(await get_pipeline())
    seen = TableView(tables.seen)

    async def step(event: Any, out: EventOutbox) -> None:
        message = event.message
        await handler.process(message.value, dict(message.headers or ()), seen, out)

    async def refused(event: Any, detail: str, out: EventOutbox) -> None:
        await handler.refused_submission(event.message.value, dict(event.message.headers or ()), detail, out, seen)

    await StageRunner("process", settings.max_in_flight, _committer(), step, refused, _LOG_START).run(stream)


@app.agent(topics.records)
async def publish_records(stream) -> None:
    handler = _handler(None)
    hashes = TableView(tables.hashes, text_values=True)

    async def step(event: Any, out: EventOutbox) -> None:
        message = event.message
        await handler.publish(message.value, dict(message.headers or ()), hashes, out)

    async def refused(event: Any, detail: str, out: EventOutbox) -> None:
        await handler.refused_record(event.message.value, dict(event.message.headers or ()), detail, out)

    await StageRunner("publish", 64, _committer(), step, refused, _LOG_START).run(stream)


@app.on_before_shutdown.connect
def _close_pipeline(app_, **kwargs) -> None:
    # The Fetcher's aiohttp session closes with the loop; the pool's processes must be reaped.
    if _pipeline is not None:
        _pipeline.pool.close()


def _raise_if_refused(topic: str, exc: BaseException) -> None:
    """Raise :class:`RecordRefused` if ``exc`` (or what Faust wrapped in it) is Kafka refusing a message's size."""
    for candidate in (exc, exc.__cause__):
        if isinstance(candidate, _TOO_LARGE):
            raise RecordRefused(topic, candidate) from exc


def _raise_first_failure(records: list[tuple[str, bytes, bytes | None, int | None, list]],
                         reports: list[Any]) -> None:
    """After all delivery reports are in: a refusal first (it decides the message's fate), else any failure."""
    failures = [(record[0], report) for record, report in zip(records, reports) if isinstance(report, BaseException)]
    for topic, failure in failures:
        _raise_if_refused(topic, failure)
    if failures:
        raise failures[0][1]
