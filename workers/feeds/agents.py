"""Faust wiring of feed polling: subscriptions topic -> table; a timer polls the due feeds.

* ``follow_subscriptions`` (agent) reads the compacted feeds topic into the
  ``feed-subscriptions`` table, keyed by canonical feed URL.  The table is
  partitioned like the topic, so each worker holds the subscriptions of the
  partitions assigned to it; the value remembers its partition.
* ``poll_due_feeds`` (timer, every ``feeds_tick_s``) starts a poll for every
  enabled feed of this worker's *active* partitions that is due; standby
  copies of other workers' partitions are never polled, so a feed is polled by
  one worker per interval and adding workers spreads the feeds.
* A poll's new entries go to the URL topic (``source`` = feed URL, metadata
  ``title`` / ``published`` / ``feed`` / ``label``), its state to the
  ``feed-state`` table (in the partition of the subscription), and a summary
  to the feed status topic for ``newswire feeds list``.

Polls pause while the worker rebalances or recovers its tables, so a new owner
of a partition never polls with a half-recovered state.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import ProducerFenced

from workers.app import app, settings
from workers.errors import InvalidMessage, NewswireError
from workers.kafka_options import aiokafka_options
from workers.pipeline.fetch import FetchConfig
from workers.pipeline.submission import Submission, encode_submission

from .config import FeedSettings
from .fetch import FeedFetcher
from .metrics import FEED_METRICS
from .model import FeedState, Subscription
from .poller import FeedPoller, PollResult

log = logging.getLogger("newswire.feeds")

FEEDS = FeedSettings.from_settings(settings)
RETRY_AFTER_ERROR_S = 30.0


def _raw_topic(name: str):
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                     partitions=settings.topic_partitions)


feeds_topic = _raw_topic(FEEDS.feeds_topic)
status_topic = _raw_topic(FEEDS.feeds_status_topic)

# bytes keys and values: Faust's "raw" codec, our own JSON inside.
# Table names: also the committer's keys for their changelog entries (follow_subscription).
SUBSCRIPTIONS = "feed-subscriptions"
FEED_STATE = "feed-state"

subscriptions = app.Table(SUBSCRIPTIONS, key_type=bytes, value_type=bytes,
                          partitions=settings.topic_partitions, help="feed URL -> subscription and its partition")
feed_state = app.Table(FEED_STATE, key_type=bytes, value_type=bytes, partitions=settings.topic_partitions,
                       help="feed URL -> FeedState (validators, seen entries, schedule)")


OutRecord = tuple[str, bytes, "bytes | None", "int | None"]  # topic, key, value, partition (None: by key)


class KafkaFeedWriter:
    """Writes a poll's records and returns once the broker has them (False: partition lost).

    ``at_least_once``: through the app's producer, every record acknowledged.

    ``exactly_once``: one Kafka transaction per poll, on a transactional producer
    of this module's own per feed partition (``<group>-feeds-<partition>``), so
    the submissions, the state and the status of a poll are committed together
    or not at all.  Faust's transactions do not fit: they are committed only
    with consumed offsets, and a timer has none.  A worker that takes a
    partition over initialises the same transactional id, which fences the
    previous owner's producer: its late writes fail instead of duplicating.
    """

    def __init__(self) -> None:
        self._producers: dict[int, AIOKafkaProducer] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def write(self, partition: int, records: list[OutRecord]) -> bool:
        if app.in_transaction:
            return await self._write_transaction(partition, records)
        producer = app.producer
        futures = [await producer.send(topic, key, value, part, None, None) for topic, key, value, part in records]
        await asyncio.gather(*futures)
        return True

    async def _write_transaction(self, partition: int, records: list[OutRecord]) -> bool:
        async with self._locks.setdefault(partition, asyncio.Lock()):
            producer = self._producers.get(partition)
            if producer is None:
                producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all", enable_idempotence=True,
                                            transactional_id=f"{app.conf.id}-feeds-{partition}")
                await producer.start()
                self._producers[partition] = producer
            try:
                async with producer.transaction():
                    futures = [await producer.send(topic, value, key=key, partition=part)
                               for topic, key, value, part in records]
                    await asyncio.gather(*futures)
            except ProducerFenced:
                await self._drop(partition)
                return False
            except BaseException:
                await self._drop(partition)  # its transaction state is unknown: start afresh next time
                raise
        return True

    async def _drop(self, partition: int) -> None:
        producer = self._producers.pop(partition, None)
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def close(self) -> None:
        for partition in list(self._producers):
            await self._drop(partition)


class FeedRunner:
    """This worker's polling: which feeds it owns, which are due, and the tasks polling them."""

    def __init__(self, clock: Callable[[], float] = time.time, writer: KafkaFeedWriter | None = None) -> None:
        self._clock = clock
        self.writer = writer or KafkaFeedWriter()
        self._poller: FeedPoller | None = None
        self._in_flight: dict[bytes, asyncio.Task[None]] = {}
        self._subs: dict[bytes, tuple[bytes, int, Subscription]] = {}  # key -> (raw, partition, decoded)
        self._states: dict[bytes, tuple[bytes | None, FeedState]] = {}  # key -> (raw or None if never polled)

    @property
    def poller(self) -> FeedPoller:
        if self._poller is None:
            fetcher = FeedFetcher(FetchConfig.from_settings(settings))
            self._poller = FeedPoller(fetcher, FEEDS.poll_config(settings))
        return self._poller

    # -- decoding, cached: the timer looks at every owned feed every tick -------

    def subscription(self, key: bytes, raw: bytes) -> tuple[int, Subscription] | None:
        cached = self._subs.get(key)
        if cached is not None and cached[0] is raw:
            return cached[1], cached[2]
        try:
            wrapper = orjson.loads(raw)
            sub = Subscription.from_json(orjson.dumps(wrapper["subscription"]),
                                         default_interval_s=FEEDS.feeds_default_interval_s)
            partition = int(wrapper["partition"])
        except (NewswireError, KeyError, TypeError, ValueError, orjson.JSONDecodeError):
            return None
        self._subs[key] = (raw, partition, sub)
        return partition, sub

    def state(self, key: bytes, sub: Subscription) -> FeedState:
        raw = feed_state.data.get(key)
        cached = self._states.get(key)
        if cached is not None and (cached[0] is raw or (raw is None and cached[0] is None)):
            return cached[1]
        if raw is None:
            state = self.poller.new_state(sub)
        else:
            try:
                state = FeedState.from_json(raw, max_seen=FEEDS.feeds_max_seen)
            except (NewswireError, TypeError, ValueError):
                log.warning("unreadable feed state; starting afresh", extra={"stage": "feed"})
                state = self.poller.new_state(sub)
        self._states[key] = (raw, state)
        return state

    def forget(self, key: bytes) -> None:
        self._subs.pop(key, None)
        self._states.pop(key, None)
        task = self._in_flight.pop(key, None)
        if task is not None:
            task.cancel()

    # -- the timer's work ------------------------------------------------------------

    def active_partitions(self) -> set[int]:
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == FEEDS.feeds_topic}

    def start_due_polls(self, now: float) -> int:
        """Start polls for the due feeds of this worker's active partitions, most overdue first."""
        active = self.active_partitions()
        owned = backing_off = 0
        due: list[tuple[float, bytes, int, Subscription, FeedState]] = []
        for key, raw in list(subscriptions.items()):
            decoded = self.subscription(key, raw)
            if decoded is None:
                continue
            partition, sub = decoded
            if partition not in active or not sub.enabled:
                continue
            owned += 1
            state = self.state(key, sub)
            backing_off += state.failures > 0
            due_at = self.poller.due_at(sub, state)
            if due_at <= now and key not in self._in_flight:
                due.append((due_at, key, partition, sub, state))
        free = max(0, FEEDS.feeds_max_concurrent_polls - len(self._in_flight))
        due.sort(key=lambda item: item[0])
        for _, key, partition, sub, state in due[:free]:
            self._in_flight[key] = asyncio.ensure_future(self._poll(key, partition, sub, state))
        FEED_METRICS.feeds_owned.set(owned)
        FEED_METRICS.feeds_backing_off.set(backing_off)
        FEED_METRICS.polls_in_flight.set(len(self._in_flight))
        return min(free, len(due))

    async def _poll(self, key: bytes, partition: int, sub: Subscription, state: FeedState) -> None:
        task = asyncio.current_task()
        try:
            started = time.monotonic()
            result = await self.poller.poll(sub, state)
            FEED_METRICS.poll_seconds.observe(time.monotonic() - started)
            if subscriptions.get(key) is None or partition not in self.active_partitions() or not _polling_allowed():
                # Removed, or handed to another worker meanwhile: its new owner polls it
                # with the stored state; submitting here could submit entries twice.
                return
            raw = result.state.to_json()
            records = self._submissions(result)
            records.append((feed_state.changelog_topic.get_topic_name(), key, raw, partition))
            records.append((FEEDS.feeds_status_topic, key, result.state.status(sub).to_json(), partition))
            # Submissions, state and status are written together (one transaction in
            # exactly_once mode); only then does the state say the entries were submitted.
            if not await self.writer.write(partition, records):
                return  # the partition was revoked meanwhile: its new owner polls the feed
            feed_state.data[key] = raw
            self._states[key] = (raw, result.state)
            FEED_METRICS.observe_poll(result)
        except asyncio.CancelledError:
            raise
        except Exception:  # never let one feed's poll kill the timer or the worker
            log.exception("feed poll task failed", extra={"stage": "feed"})
            # Nothing was recorded (e.g. Kafka is down): poll again later, not at every tick.
            now = self._clock()
            retry_at = now + min(sub.interval_s, RETRY_AFTER_ERROR_S)
            self._states[key] = (feed_state.data.get(key), dataclasses.replace(
                state, last_poll_at=now, next_poll_at=retry_at, backoff_until=max(state.backoff_until, retry_at)))
        finally:
            if self._in_flight.get(key) is task:
                del self._in_flight[key]

    def _submissions(self, result: PollResult) -> list[OutRecord]:
        sub = result.subscription
        now = datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="seconds")
        now = now.replace("+00:00", "Z")
        records: list[OutRecord] = []
        for entry, refresh in [(e, False) for e in result.new_entries] + [(e, True) for e in result.refreshed_entries]:
            metadata = {"title": entry.title, "published": entry.published, "feed": sub.url}
            if refresh:
                metadata["updated"] = entry.updated
            if sub.source:
                metadata["label"] = sub.source
            value = encode_submission(Submission(url=entry.url, source=sub.url, submitted_at=now, refresh=refresh,
                                                 metadata={k: v for k, v in metadata.items() if v is not None}))
            records.append((settings.input_topic, entry.url.encode(), value, None))
        return records

    async def close(self) -> None:
        for task in list(self._in_flight.values()):
            task.cancel()
        self._in_flight.clear()
        if self._poller is not None:
            await self._poller.fetcher.close()
        await self.writer.close()


RUNNER = FeedRunner()


def _polling_allowed() -> bool:
    """False while partitions move or tables recover: the state may be incomplete."""
    recovery = app.tables.recovery  # type: ignore[attr-defined]  # TableManager has it, TableManagerT not
    return not (app.rebalancing or app.in_recovery or not recovery.completed.is_set())


@app.agent(feeds_topic)
async def follow_subscriptions(stream) -> None:
    """Subscriptions topic -> ``feed-subscriptions`` table, delivered like the article agents' messages.

    The agent reads its partitions through the delivery guard and commits
    each message with its table changes (workers.agents.StageRunner): a
    subscription Faust fetched and then lost from its buffers during a
    rebalance is read again instead of leaving its feed unpolled, and in
    exactly_once mode a message, its changelog entries and its offset are
    one transaction.
    """
    from workers.agents import KafkaCommitter, StageRunner  # the article agents' delivery (registered there)

    committer = KafkaCommitter(app, {"feeds_status": status_topic},
                               {SUBSCRIPTIONS: subscriptions, FEED_STATE: feed_state})
    await StageRunner("feeds", _FOLLOW_IN_FLIGHT, committer, follow_subscription).run(stream)


_FOLLOW_IN_FLIGHT = 16


async def follow_subscription(event, out) -> None:
    """One subscription message: its table changes (committed with the message by the caller)."""
    key, value, partition = event.message.key, event.message.value, event.message.partition
    if not key:
        log.warning("feed subscription without a key ignored", extra={"stage": "feed"})
        return
    if value is None:  # tombstone: the feed was removed
        out.remember(FEED_STATE, key, None)
        out.remember(SUBSCRIPTIONS, key, None)
        await out.publish("feeds_status", key, None, {}, partition=partition)
        RUNNER.forget(key)
        return
    try:
        sub = Subscription.from_json(value, default_interval_s=FEEDS.feeds_default_interval_s)
    except (NewswireError, InvalidMessage) as exc:
        log.warning("invalid feed subscription ignored: %s", exc, extra={"stage": "feed"})
        return
    out.remember(SUBSCRIPTIONS, key, orjson.dumps({"partition": partition,
                                                   "subscription": orjson.loads(sub.to_json())}))


@app.timer(interval=FEEDS.feeds_tick_s)
async def poll_due_feeds() -> None:
    if _polling_allowed():
        RUNNER.start_due_polls(RUNNER._clock())


@app.on_before_shutdown.connect  # type: ignore[arg-type]
def _stop_polling(app_: object, **kwargs: object) -> None:
    for task in list(RUNNER._in_flight.values()):
        task.cancel()
    asyncio.ensure_future(RUNNER.close())  # fetcher session and transactional producers
