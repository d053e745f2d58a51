"""The Faust app and its topics, declared once from settings.

Importing this module reads the settings from the environment; ``newswire
worker`` sets nothing else.  Agents live in :mod:`workers.agents`, the web
endpoints in :mod:`workers.web`.
"""

from __future__ import annotations

import faust

from .kafka_options import faust_broker_urls, faust_credentials
from .settings import Settings, get_settings

__all__ = ["app", "settings", "topics", "create_app"]


def create_app(settings: Settings) -> faust.App:
    return faust.App(
        settings.group_id,
        broker=faust_broker_urls(settings),
        broker_credentials=faust_credentials(settings),
        processing_guarantee=settings.processing_guarantee,
        # Our messages are bytes we decode ourselves: a bad payload must become a
        # dead letter, not a deserialisation crash inside Faust.
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        datadir=settings.data_dir,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_metrics_enabled=False,
        web_stats_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        worker_redirect_stdouts=False,
        stream_wait_empty=True,
        stream_buffer_maxsize=max(4 * settings.max_in_flight, 64),
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


settings = get_settings()
app = create_app(settings)
topics = Topics(app, settings)
