"""The feed topics, in the shape of :mod:`workers.contract.topics` so ``ensure_topics`` can create them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workers.contract.topics import TopicSpec

from .config import FeedSettings

if TYPE_CHECKING:
    from workers.settings import Settings

__all__ = ["feed_topic_specs"]


def feed_topic_specs(settings: Settings) -> list[TopicSpec]:
    """Both compacted and keyed by the canonical feed URL.

    The subscription topic has the deployment's partition count on purpose: the
    workers' feed tables are partitioned like it, and Faust assigns partition p
    of every topic with that count to the same worker, so the worker that owns a
    subscription also owns its polling state.
    """
    feeds = FeedSettings.from_settings(settings)
    parts, repl = settings.topic_partitions, settings.topic_replication
    return [
        TopicSpec("feeds", feeds.feeds_topic, parts, repl, {"cleanup.policy": "compact"},
                  "Feed subscriptions (JSON: url, kind, interval_s, enabled, source), keyed by canonical "
                  "feed URL; a tombstone removes the feed.", key="canonical feed URL", schema="feed"),
        TopicSpec("feeds_status", feeds.feeds_status_topic, parts, repl, {"cleanup.policy": "compact"},
                  "Latest polling status of each feed (last poll, status, items seen), keyed by canonical "
                  "feed URL; read by `newswire feeds list`.", key="canonical feed URL", schema="feed-status"),
    ]
