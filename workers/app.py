"""The Faust app and its topics, declared once from settings.

Importing this module reads the settings from the environment; ``newswire
worker`` sets nothing else.  Agents live in :mod:`workers.agents`, the web
endpoints in :mod:`workers.web`.
"""

from __future__ import annotations

import faust

from . import faust_fixes
from .kafka_options import faust_broker_urls, faust_credentials
from .settings import Settings, get_settings
from .topics import internal_topic_name

__all__ = ["app", "settings", "topics", "tables", "create_app", "Topics", "Tables", "PRODUCER_BATCH_BYTES"]

#: Bytes of one producer batch (per partition); see create_app.
PRODUCER_BATCH_BYTES = 256 * 1024


def create_app(settings: Settings) -> faust.App:
    faust_fixes.install()
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
        # stream is finished (acknowledged) or handed back; see workers.agents.
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
        # Internal repartition streams (created by Faust): submissions keyed by
        # article id, records keyed by content hash, so that the seen table and
        # the content-hash table each live with the worker that owns the key.
        self.submissions = app.topic(internal_topic_name(settings, "submissions"), key_type=bytes, value_type=bytes,
                                     key_serializer="raw", value_serializer="raw",
                                     partitions=settings.topic_partitions, internal=True)
        self.records = app.topic(internal_topic_name(settings, "records"), key_type=bytes, value_type=bytes,
                                 key_serializer="raw", value_serializer="raw",
                                 partitions=settings.topic_partitions, internal=True)

    def by_role(self) -> dict[str, faust.TopicT | None]:
        return {"articles": self.articles, "deadletter": self.deadletter, "entities": self.entities,
                "submissions": self.submissions, "records": self.records}


class Tables:
    """The idempotence state (see workers.idempotence), in memory, rebuilt from changelogs.

    Keys and values are raw bytes; the agents write the changelog themselves,
    inside the commit unit of the message that changed the entry.
    """

    def __init__(self, app: faust.App, settings: Settings) -> None:
        def table(name: str, help: str) -> faust.Table:
            table = app.Table(name, key_type=bytes, value_type=bytes, partitions=settings.topic_partitions,
                              help=help)
            # Faust derives a table's serializers from its types ("json" for
            # bytes) and takes no serializer arguments; raw bytes it is.
            table.key_serializer = "raw"
            table.value_serializer = "raw"
            return table

        self.seen = table("seen", "article id -> SeenEntry (last submission, last record time)")
        self.hashes = table("hashes", "content hash -> id of the first article with that content")


settings = get_settings()
app = create_app(settings)
topics = Topics(app, settings)
tables = Tables(app, settings)
