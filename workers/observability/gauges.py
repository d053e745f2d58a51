"""The gauges that are sampled rather than counted, and the publish-latency sensor.

Counters and stage histograms are updated where things happen (the handler,
the pipeline observer).  What remains is state that has to be *looked at*
periodically, and one latency that Faust measures best itself:

* event-loop lag: how late a sleeping task wakes up (a blocked loop delays
  every fetch, heartbeat and commit of the worker);
* consumer lag per assigned partition of every topic the worker's agents
  consume (the URL topic and the internal submissions/records streams): log
  end offset minus the group's committed offset, the number an autoscaler on
  lag (KEDA) sees;
* input partitions assigned to this worker (and each assigned partition);
* CPU-pool queue depth: pages submitted to the pool and not yet returned;
* whether the group is rebalancing, and the records and dead letters of the
  last minute (:class:`RecentActivity`), for ``newswire status``.

The sampling functions take plain objects (anything with ``assignment()`` and
``highwater(tp)``), so they are unit-tested without Kafka; :func:`install`
wires them into a Faust app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any, Protocol

from workers.observability.metrics import METRICS, Metrics

__all__ = [
    "LOOP_PROBE_INTERVAL_S",
    "RECENT_WINDOW_S",
    "SAMPLE_INTERVAL_S",
    "ConsumerLagSampler",
    "RecentActivity",
    "agent_source_topics",
    "committed_offsets",
    "install",
    "partition_lag",
    "watch_loop_lag",
]

log = logging.getLogger("newswire.observability")

#: How often the event-loop probe wakes up.  Short, so a stall shows up in the
#: histogram; the probe itself costs one timer callback.
LOOP_PROBE_INTERVAL_S = 0.5
#: How often consumer lag, assignment and pool depth are sampled.  Prometheus
#: scrapes every 15-30 s, so this is already finer than anyone will look.
SAMPLE_INTERVAL_S = 2.0
#: The window of ``newswire_records_last_minute`` and ``newswire_dead_letters_last_minute``.
RECENT_WINDOW_S = 60.0


class LagSource(Protocol):
    """What the lag sampler needs from a consumer (Faust's ``app.consumer`` fits)."""

    def assignment(self) -> Iterable[Any]: ...

    def highwater(self, tp: Any) -> int | None: ...


def partition_lag(highwater: int | None, committed: int | None) -> int | None:
    """Messages of a partition not yet committed by the group; ``None`` while the end is unknown.

    A group that never committed on the partition starts at the beginning
    (``auto_offset_reset=earliest``), so its whole log counts as lag, which is
    also what KEDA's Kafka scaler assumes for ``offsetResetPolicy: earliest``.
    """
    if highwater is None:
        return None
    return max(0, highwater - (committed or 0))


class ConsumerLagSampler:
    """Sets ``newswire_consumer_lag{topic,partition}`` and ``newswire_assigned_partitions``.

    Lag is sampled for the assigned partitions of ``source_topics`` (the topics
    the group consumes and commits; table changelogs, which Faust also assigns,
    are read for recovery and never committed, so they are left out).
    ``newswire_assigned_partitions`` counts the partitions of ``input_topic``,
    the same count ``/readyz`` checks.  Partitions revoked since the last
    sample lose their series, so a dashboard summing lag over workers does not
    count a partition twice after a rebalance.
    """

    def __init__(self, input_topic: str, source_topics: Collection[str] | None = None,
                 metrics: Metrics = METRICS) -> None:
        self.input_topic = input_topic
        self.source_topics = set(source_topics or ()) | {input_topic}
        self.metrics = metrics
        self._series: set[tuple[str, int]] = set()
        self._assigned_series: set[tuple[str, int]] = set()

    def sample(self, consumer: LagSource, committed: Mapping[Any, int | None]) -> dict[tuple[str, int], int]:
        """Update the gauges from ``consumer``; returns {(topic, partition): lag}."""
        try:
            assigned = [tp for tp in consumer.assignment() if tp.topic in self.source_topics]
        except Exception:  # consumer not started yet (or stopping): nothing is assigned
            assigned = []
        self.metrics.assigned_partitions.set(sum(1 for tp in assigned if tp.topic == self.input_topic))
        self._mark_assigned({(tp.topic, tp.partition) for tp in assigned})
        lags: dict[tuple[str, int], int] = {}
        for tp in assigned:
            try:
                highwater = consumer.highwater(tp)
            except Exception:  # revoked between assignment() and here
                continue
            lag = partition_lag(highwater, committed.get(tp))
            if lag is not None:
                lags[(tp.topic, tp.partition)] = lag
        for (topic, partition), lag in lags.items():
            self.metrics.consumer_lag.labels(topic=topic, partition=str(partition)).set(lag)
        for topic, partition in self._series - set(lags):
            with contextlib.suppress(KeyError):
                self.metrics.consumer_lag.remove(topic, str(partition))
        self._series = set(lags)
        return lags

    def _mark_assigned(self, now_assigned: set[tuple[str, int]]) -> None:
        for topic, partition in now_assigned - self._assigned_series:
            self.metrics.partition_assigned.labels(topic=topic, partition=str(partition)).set(1)
        for topic, partition in self._assigned_series - now_assigned:
            with contextlib.suppress(KeyError):
                self.metrics.partition_assigned.remove(topic, str(partition))
        self._assigned_series = now_assigned


class RecentActivity:
    """Records and dead letters of the last ``window`` seconds, from the cumulative counters.

    Each :meth:`sample` keeps the counter values with their time; the count of
    the last minute is the current value minus the newest kept value at least
    ``window`` seconds old (so the window is ``window`` plus at most one sample
    interval).  The counters start at zero with the process, which is the
    first kept value: a worker up for less than a minute reports everything
    since it started, which is what happened in the last minute.
    """

    def __init__(self, metrics: Metrics = METRICS, window: float = RECENT_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.metrics = metrics
        self.window = window
        self._clock = clock
        self._kept: deque[tuple[float, float, dict[str, float]]] = deque([(clock(), 0.0, {})])

    def sample(self) -> tuple[float, dict[str, float]]:
        """Update the gauges; returns (records, {code: dead letters}) of the window."""
        now = self._clock()
        records = self.metrics.registry.get_sample_value("newswire_records_published_total") or 0.0
        letters: dict[str, float] = {}
        for family in self.metrics.dead_letters.collect():
            for s in family.samples:
                if s.name.endswith("_total"):
                    code = s.labels["error"]
                    letters[code] = letters.get(code, 0.0) + s.value
        self._kept.append((now, records, letters))
        while len(self._kept) > 1 and self._kept[1][0] <= now - self.window:
            self._kept.popleft()
        _, records_then, letters_then = self._kept[0]
        recent_records = records - records_then
        recent_letters = {code: n - letters_then.get(code, 0.0) for code, n in letters.items()}
        self.metrics.records_last_minute.set(recent_records)
        for code, n in recent_letters.items():  # codes seen once stay, at 0 when quiet: a bounded set
            self.metrics.dead_letters_last_minute.labels(error=code).set(n)
        return recent_records, recent_letters


async def watch_loop_lag(observe: Callable[[float], None], interval: float = LOOP_PROBE_INTERVAL_S,
                         *, ticks: int | None = None) -> None:
    """Observe how late each ``asyncio.sleep(interval)`` returns; runs until cancelled (or ``ticks``)."""
    loop = asyncio.get_running_loop()
    done = 0
    while ticks is None or done < ticks:
        started = loop.time()
        await asyncio.sleep(interval)
        observe(max(0.0, loop.time() - started - interval))
        done += 1


def committed_offsets(consumer: Any) -> Mapping[Any, int | None]:
    """The group's committed offset per assigned partition, as Faust's consumer tracks it.

    Faust keeps this map itself: filled from the broker when partitions are
    assigned and updated on every commit, so reading it costs no request.  It is
    an attribute of Faust's Consumer base class (faust/transport/consumer.py)
    rather than a documented API; the integration test that watches lag fall to
    zero is what notices if an upgrade renames it.
    """
    return getattr(consumer, "_committed_offset", None) or {}


def agent_source_topics(app: Any) -> set[str]:
    """Names of the topics the app's agents consume (what its consumer group commits)."""
    names: set[str] = set()
    for agent in app.agents.values():
        names.update(getattr(agent.channel, "topics", ()) or ())
    return names


def install(app: Any, input_topic: str, *, pool_depth: Callable[[], Awaitable[int | None]],
            metrics: Metrics = METRICS) -> None:
    """Register the loop-lag probe and the sampling timer on a Faust app.

    ``pool_depth`` returns the CPU pool's queue depth, or ``None`` while the
    pool is not up yet.  The agents' topics are looked up at every sample, so
    agents registered after this call are included.
    """
    sampler = ConsumerLagSampler(input_topic, metrics=metrics)
    recent = RecentActivity(metrics)

    @app.task
    async def _loop_lag_probe() -> None:
        await watch_loop_lag(metrics.loop_lag.observe)

    @app.timer(SAMPLE_INTERVAL_S)
    async def _sample_gauges() -> None:
        try:
            sampler.source_topics = agent_source_topics(app) | {input_topic}
            sampler.sample(app.consumer, committed_offsets(app.consumer))
            metrics.rebalancing.set(1 if getattr(app, "rebalancing", False) else 0)
            recent.sample()
            depth = await pool_depth()
            if depth is not None:
                metrics.pool_queue.set(depth)
        except Exception:  # a metrics sample must never take the worker down
            log.exception("sampling the worker gauges failed", extra={"stage": "metrics"})
