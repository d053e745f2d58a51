"""Prometheus metrics of the worker, defined once.

The handler and the pipeline observer update the counters and histograms
where things happen; :mod:`workers.observability` samples the gauges that
have to be looked at (lag, assignment, pool depth, event-loop lag);
``/metrics`` on the worker's web port serves them all.  Labels never carry URLs, ids or secrets, so
cardinality stays bounded (dead letters are labelled by their stable code).
"""

from __future__ import annotations

from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

from workers.observability.sites import SiteLabels, publish_lag_seconds, site_of
from workers.settings import Settings

__all__ = ["METRICS", "Metrics", "render"]

# Publication to record: minutes for a live feed, days for a back-catalogue crawl.
_LAG_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 12 * 3600.0, 86400.0, 2 * 86400.0,
                7 * 86400.0, 30 * 86400.0, 365 * 86400.0)
#: Sites with their own series until the handler applies the configured NEWSWIRE_SITE_METRICS_MAX.
DEFAULT_SITE_LABELS = Settings().site_metrics_max
_STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.messages_received = Counter("newswire_messages_received_total",
                                         "Messages read from the URL topic.", registry=r)
        self.records_published = Counter("newswire_records_published_total",
                                         "Article records published.", registry=r)
        self.duplicates_skipped = Counter("newswire_duplicates_skipped_total",
                                          "Submissions skipped because the canonical URL was seen within the window.",
                                          registry=r)
        self.dead_letters = Counter("newswire_dead_letters_total", "Dead-letter records published, by stage and code.",
                                    ["stage", "error"], registry=r)
        self.stage_seconds = Histogram("newswire_stage_seconds", "Seconds spent per pipeline stage.", ["stage"],
                                       buckets=_STAGE_BUCKETS, registry=r)
        self.in_flight = Gauge("newswire_urls_in_flight", "URLs being processed by this worker.", registry=r)
        self.pool_queue = Gauge("newswire_pool_queue_depth", "Pages waiting for or inside the CPU pool.", registry=r)
        self.loop_lag = Histogram("newswire_event_loop_lag_seconds", "Delay of a periodic event-loop tick.",
                                  buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0), registry=r)
        self.consumer_lag = Gauge("newswire_consumer_lag",
                                  "Messages not yet committed by the group, per assigned partition of the topics the "
                                  "worker consumes (the URL topic and its internal streams).",
                                  ["topic", "partition"], registry=r)
        self.partition_rereads = Counter("newswire_partition_rereads_total",
                                         "Partitions read again from a hole: messages fetched by Faust and never "
                                         "handed to the agent (workers.delivery.continuity), by stage.", ["stage"],
                                         registry=r)
        self.assigned_partitions = Gauge("newswire_assigned_partitions", "Input partitions assigned to this worker.",
                                         registry=r)
        # What `newswire status` says in plain words (and a dashboard can show): the
        # partitions held, whether the group is rebalancing, the pool's size, and the
        # last minute's output without a Prometheus server doing rate() over the counters.
        self.partition_assigned = Gauge("newswire_partition_assigned", "1 per partition of a consumed topic (the URL "
                                        "topic and its internal streams) assigned to this worker.",
                                        ["topic", "partition"], registry=r)
        self.rebalancing = Gauge("newswire_rebalancing", "1 while the consumer group rebalances, else 0.", registry=r)
        self.pool_processes = Gauge("newswire_pool_processes", "Processes of the CPU pool.", registry=r)
        self.records_last_minute = Gauge("newswire_records_last_minute", "Article records published in the last 60 s.",
                                         registry=r)
        self.dead_letters_last_minute = Gauge("newswire_dead_letters_last_minute",
                                              "Dead-letter records published in the last 60 s, by code.", ["error"],
                                              registry=r)
        self.site_outcomes = Counter("newswire_site_outcomes_total",
                                     "Submissions finished per site (registrable domain; the busiest "
                                     "NEWSWIRE_SITE_METRICS_MAX sites, the rest as 'other') and outcome "
                                     "('article' or the dead-letter code).", ["site", "outcome"], registry=r)
        self.publish_lag = Histogram("newswire_publish_lag_seconds",
                                     "Seconds from the publication time a page declares to its record "
                                     "(pages without a declared date and time are not counted).",
                                     buckets=_LAG_BUCKETS, registry=r)
        self.sites = SiteLabels(DEFAULT_SITE_LABELS, on_evict=self._forget_site)
        self._site_series: set[tuple[str, str]] = set()
        # Which version each pod runs, e.g. to watch a rollout: newswire_build_info{version="0.1.0"} 1.
        self.build = Info("newswire_build", "Version of the running newswire worker.", registry=r)
        self.build.info({"version": _version()})

    def observe_stage(self, stage: str, seconds: float) -> None:
        self.stage_seconds.labels(stage=stage).observe(seconds)

    def observe_outcome(self, url: str | None, outcome: str) -> None:
        """One finished submission of ``url``: ``article`` or its dead-letter code."""
        site = self.sites.label(site_of(url))
        self._site_series.add((site, outcome))
        self.site_outcomes.labels(site=site, outcome=outcome).inc()

    def observe_record(self, published: str | None, recorded: str) -> None:
        lag = publish_lag_seconds(published, recorded)
        if lag is not None:
            self.publish_lag.observe(lag)

    def _forget_site(self, site: str) -> None:
        for series in [s for s in self._site_series if s[0] == site]:
            self._site_series.discard(series)
            self.site_outcomes.remove(*series)


def _version() -> str:
    try:
        return metadata.version("newswire")
    except metadata.PackageNotFoundError:  # running from a source tree without installing
        return "unknown"


METRICS = Metrics()


def render(metrics: Metrics = METRICS) -> bytes:
    return generate_latest(metrics.registry)
