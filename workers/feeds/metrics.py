"""Prometheus metrics of feed polling, on the worker's registry (served at /metrics).

Labels carry outcomes and error codes only, never feed URLs, so cardinality
stays bounded however many feeds are followed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from workers.observability.metrics import METRICS

if TYPE_CHECKING:
    from .poller import PollResult

__all__ = ["FEED_METRICS", "FeedMetrics"]

_LAG_BUCKETS = (10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 86400.0, 7 * 86400.0)
_POLL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class FeedMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.polls = Counter("newswire_feed_polls_total", "Feed polls, by outcome (ok, not_modified, failed).",
                             ["outcome"], registry=r)
        self.not_modified = Counter("newswire_feed_not_modified_total",
                                    "Feed and child-sitemap requests answered 304 Not Modified.", registry=r)
        self.requests = Counter("newswire_feed_requests_total",
                                "Feed and child-sitemap documents requested (robots.txt not counted).", registry=r)
        self.bytes = Counter("newswire_feed_bytes_total", "Feed body bytes received, after decompression.",
                             registry=r)
        self.new_items = Counter("newswire_feed_new_items_total", "Feed entries submitted to the URL topic.",
                                 registry=r)
        self.failures = Counter("newswire_feed_failures_total", "Failed feed polls, by error code.", ["reason"],
                                registry=r)
        self.lag = Histogram("newswire_feed_lag_seconds",
                             "Seconds from the publication of a poll's newest new entry to its submission.",
                             buckets=_LAG_BUCKETS, registry=r)
        self.poll_seconds = Histogram("newswire_feed_poll_seconds", "Duration of one feed poll.",
                                      buckets=_POLL_BUCKETS, registry=r)
        self.feeds_owned = Gauge("newswire_feeds_owned", "Enabled feeds in this worker's active partitions.",
                                 registry=r)
        self.feeds_backing_off = Gauge("newswire_feeds_backing_off",
                                       "Feeds of this worker waiting out a failure backoff.", registry=r)
        self.polls_in_flight = Gauge("newswire_feed_polls_in_flight", "Feed polls running now.", registry=r)

    def observe_poll(self, result: PollResult, now: datetime | None = None) -> None:
        """Count one finished poll whose new entries were submitted (``now``: submission time)."""
        self.polls.labels(outcome="failed" if result.failed else result.outcome).inc()
        self.requests.inc(result.requests)
        self.not_modified.inc(result.not_modified)
        self.bytes.inc(result.bytes)
        if result.failed:
            self.failures.labels(reason=result.outcome).inc()
        self.new_items.inc(len(result.new_entries))
        newest = result.newest_new_published
        if newest:
            published = datetime.fromisoformat(newest)
            now = now or datetime.now(UTC)
            self.lag.observe(max(0.0, (now - published).total_seconds()))


FEED_METRICS = FeedMetrics(METRICS.registry)
