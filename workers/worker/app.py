"""The worker: a Faust app, its topics and tables, its delivery layer and agents, built from :class:`Settings`.

Nothing is built or patched at import.  :func:`build_worker` installs
workers.faust_compat (version check, then the patches), creates the app
isolated from Faust's own environment variables, and registers the article
agents (:mod:`.agents`), the feed agents (workers.feeds.agents) and the web
endpoints (:mod:`.web`), all through one :class:`~workers.delivery.Delivery`.
"""

from __future__ import annotations

from dataclasses import dataclass

import faust

from workers import faust_compat
from workers.contract.topics import internal_topic_name
from workers.delivery import Delivery
from workers.delivery.log_start import LogStartLookup
from workers.kafka.options import aiokafka_options, faust_broker_urls, faust_credentials
from workers.settings import Settings

__all__ = ["PRODUCER_BATCH_BYTES", "Tables", "Topics", "Worker", "build_worker", "create_app"]

#: Bytes of one producer batch (per partition); see create_app.
PRODUCER_BATCH_BYTES = 256 * 1024


def create_app(settings: Settings) -> faust.App:
    """The Faust app for ``settings``, configured by them alone."""
    return faust.App(
        settings.group_id,
        # Only NEWSWIRE_* settings configure the worker.  Without an explicit
        # env, Faust reads its own unprefixed variables (WEB_PORT,
        # CONSUMER_AUTO_OFFSET_RESET, STREAM_WAIT_EMPTY, ...) from os.environ
        # and they win over the arguments below; Kubernetes alone sets
        # WEB_PORT=tcp://... for a Service named "web".
        env={},
        broker=faust_broker_urls(settings),
        broker_credentials=faust_credentials(settings),
        processing_guarantee=settings.processing_guarantee,
        # Our messages are bytes we decode ourselves: a bad payload must become a
        # dead letter, not a deserialisation crash inside Faust.
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        # In exactly_once mode Faust takes a changelog's highwater from the
        # consumer's last_stable_offset, which is -1 until the first fetch of
        # that partition; its consistency check then calls every standby
        # "ahead of the topic" and crashes the worker on a rebalance.  The
        # check guards RocksDB files against deleted topics; a memory store
        # has nothing to guard.
        recovery_consistency_check=False,
        datadir=settings.data_dir,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        consumer_auto_offset_reset="earliest",
        # A worker that dies without leaving (SIGKILL, OOM, lost host) holds its
        # partitions until the broker gives up on it; Faust's default is 60 s.
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=3.0,
        producer_acks=-1,
        # aiokafka keeps one open batch per partition and, once it is full, makes
        # the next send wait until that batch has gone out: with Faust's 16 KiB
        # batches an article record (often larger) fills one, so a partition
        # carried one record per produce round trip.  Profiled under load: sends
        # waited up to 1.3 s and held the in-flight slots while the CPU pool ran
        # dry.  256 KiB stays far below the broker's default message.max.bytes
        # (1 MiB; a batch is checked as one message) and the producer's 1 MB request.
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_metrics_enabled=False,
        web_stats_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        worker_redirect_stdouts=False,
        # Revocation and shutdown wait until every message taken from the
        # stream is finished (acknowledged) or handed back; see workers.worker.agents.
        stream_wait_empty=True,
        # Bounded read-ahead: with max_in_flight items busy, Faust pauses the
        # partitions once this many messages are buffered (backpressure).
        stream_buffer_maxsize=max(2 * settings.max_in_flight, 16),
        autodiscover=False,
    )


class Topics:
    """The Faust topic objects, one per role."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        def topic(name: str) -> faust.TopicT:
            return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                             value_serializer="raw", partitions=settings.topic_partitions)

        self.input = topic(settings.input_topic)
        self.articles = topic(settings.articles_topic)
        self.deadletter = topic(settings.deadletter_topic)
        self.entities = topic(settings.entities_topic) if settings.entities_topic else None
        self.revisions = topic(settings.revisions_topic) if settings.revisions_topic else None
        # Internal repartition streams (created by Faust): submissions keyed by
        # article id, records keyed by content hash, so that the seen table and
        # the content-hash table each live with the worker that owns the key.
        self.submissions = app.topic(internal_topic_name(settings, "submissions"), key_type=bytes, value_type=bytes,
                                     key_serializer="raw", value_serializer="raw",
                                     partitions=settings.topic_partitions, internal=True)
        self.records = app.topic(internal_topic_name(settings, "records"), key_type=bytes, value_type=bytes,
                                 key_serializer="raw", value_serializer="raw",
                                 partitions=settings.topic_partitions, internal=True)

        # The story desk's stream (workers.stories): ONE partition, so one agent of the
        # group sees every record, in one order, and owns the whole story index.
        self.stories = (app.topic(internal_topic_name(settings, "stories"), key_type=bytes, value_type=bytes,
                                  key_serializer="raw", value_serializer="raw", partitions=1, internal=True)
                        if settings.story_clustering else None)

    def by_role(self) -> dict[str, faust.TopicT | None]:
        return {"articles": self.articles, "deadletter": self.deadletter, "entities": self.entities,
                "revisions": self.revisions, "submissions": self.submissions, "records": self.records,
                "stories": self.stories}


class Tables:
    """The idempotence state (see workers.processing.idempotence), in memory, rebuilt from changelogs.

    Keys and values are raw bytes; the agents write the changelog themselves,
    inside the commit unit of the message that changed the entry.
    """

    def __init__(self, app: faust.App, settings: Settings) -> None:
        def table(name: str, help: str) -> faust.Table:
            # App.Table is typed as the TableT interface; what it builds is conf.Table, faust.Table by default.
            table: faust.Table = app.Table(name, key_type=bytes, value_type=bytes,  # type: ignore[assignment]
                                           partitions=settings.topic_partitions, help=help)
            # Faust derives a table's serializers from its types ("json" for
            # bytes) and takes no serializer arguments; raw bytes it is.
            table.key_serializer = "raw"
            table.value_serializer = "raw"
            return table

        self.seen = table("seen", "article id -> SeenEntry (last submission, last record time)")
        self.hashes = table("hashes", "content hash -> id of the first article with that content")
        # Written by the process step (keyed by article id, like seen); see workers.pipeline.revisions.
        self.versions = table("versions",
                              "article id -> ArticleVersion (last version: hash, number, title, paragraphs)")


@dataclass
class Worker:
    """Everything one worker process runs, built by :func:`build_worker`."""

    settings: Settings
    app: faust.App
    topics: Topics
    tables: Tables
    delivery: Delivery


def build_worker(settings: Settings, *, web: bool = True) -> Worker:
    """Install the Faust corrections, then build the app with its delivery layer, agents and pages."""
    hooks = faust_compat.install(allow_unverified=settings.allow_unverified_versions)
    app = create_app(settings)
    worker = Worker(settings, app, Topics(app, settings), Tables(app, settings),
                    Delivery(app, hooks, shutdown_timeout_s=settings.shutdown_timeout_s,
                             log_start=LogStartLookup(lambda: aiokafka_options(settings))))
    from workers.feeds import agents as feed_agents
    from workers.stories import agents as story_agents
    from workers.worker import agents

    pipeline = agents.register(worker)
    feed_agents.register(worker)
    story_agents.register(worker)  # the story desk, when clustering is on
    if web:
        from workers.worker import web as web_pages

        web_pages.register(worker, pipeline)
    return worker
