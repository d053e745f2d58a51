"""Metrics: the series operators rely on exist, and the sampled gauges follow what they sample."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

from workers.observability.gauges import (
    ConsumerLagSampler,
    agent_source_topics,
    committed_offsets,
    partition_lag,
    watch_loop_lag,
)
from workers.observability.metrics import Metrics, render


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


class FakeConsumer:
    def __init__(self, highwaters: dict[TP, int | None]) -> None:
        self.highwaters = highwaters

    def assignment(self) -> set[TP]:
        return set(self.highwaters)

    def highwater(self, tp: TP) -> int | None:
        return self.highwaters[tp]


def samples(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(render(metrics).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_every_operator_metric_is_exported():
    m = Metrics()
    m.dead_letters.labels(stage="fetch", error="http_404").inc()
    m.consumer_lag.labels(topic="urls", partition="0").set(1)
    for stage in ("fetch", "extract", "dedupe", "enrich", "publish"):
        m.observe_stage(stage, 0.01)
    names = {name for name, _ in samples(m)}
    for name in ("newswire_records_published_total", "newswire_dead_letters_total", "newswire_urls_in_flight",
                 "newswire_pool_queue_depth", "newswire_event_loop_lag_seconds_count", "newswire_consumer_lag",
                 "newswire_assigned_partitions", "newswire_messages_received_total",
                 "newswire_stage_seconds_bucket", "newswire_build_info"):
        assert name in names, name
    stages = {dict(labels)["stage"] for name, labels in samples(m) if name == "newswire_stage_seconds_count"}
    assert stages == {"fetch", "extract", "dedupe", "enrich", "publish"}


def test_build_info_carries_the_installed_version():
    from importlib import metadata

    (labels,) = [dict(labels) for name, labels in samples(Metrics()) if name == "newswire_build_info"]
    assert labels == {"version": metadata.version("newswire")}


def test_metrics_instances_do_not_share_a_registry():
    a, b = Metrics(), Metrics()
    a.records_published.inc()
    assert samples(a)[("newswire_records_published_total", ())] == 1
    assert samples(b)[("newswire_records_published_total", ())] == 0


@pytest.mark.parametrize("highwater,committed,lag", [(10, 4, 6), (10, 10, 0), (10, None, 10), (None, 3, None),
                                                     (5, 7, 0)])
def test_partition_lag(highwater, committed, lag):
    assert partition_lag(highwater, committed) == lag


def lag_series(metrics: Metrics) -> dict[tuple[str, str], float]:
    return {(dict(labels)["topic"], dict(labels)["partition"]): v for (name, labels), v in samples(metrics).items()
            if name == "newswire_consumer_lag"}


def test_lag_sampler_sets_lag_per_assigned_partition_of_the_source_topics_only():
    m = Metrics()
    consumer = FakeConsumer({TP("urls", 0): 10, TP("urls", 1): 3, TP("urls", 2): None,
                             TP("g-submissions", 0): 8, TP("g-seen-changelog", 0): 99})
    sampler = ConsumerLagSampler("urls", {"g-submissions"}, m)
    lags = sampler.sample(consumer, {TP("urls", 0): 7, TP("urls", 1): 3, TP("g-submissions", 0): 2})
    assert lags == {("urls", 0): 3, ("urls", 1): 0, ("g-submissions", 0): 6}
    assert lag_series(m) == {("urls", "0"): 3, ("urls", "1"): 0, ("g-submissions", "0"): 6}
    # The changelog is assigned for table recovery but never committed by the group: no lag series.
    # Partition 2 is assigned; its end is not known yet, so it has no lag series but is counted.
    assert samples(m)[("newswire_assigned_partitions", ())] == 3


def test_lag_sampler_drops_series_of_revoked_partitions():
    m = Metrics()
    sampler = ConsumerLagSampler("urls", metrics=m)
    assert sampler.sample(FakeConsumer({TP("urls", 0): 5, TP("urls", 1): 5}), {}) == {("urls", 0): 5,
                                                                                     ("urls", 1): 5}
    sampler.sample(FakeConsumer({TP("urls", 1): 8}), {TP("urls", 1): 8})
    assert lag_series(m) == {("urls", "1"): 0}
    assert samples(m)[("newswire_assigned_partitions", ())] == 1


def test_lag_sampler_with_a_consumer_that_is_not_started():
    class NotStarted:
        def assignment(self):
            raise RuntimeError("consumer not started")

    m = Metrics()
    assert ConsumerLagSampler("urls", metrics=m).sample(NotStarted(), {}) == {}
    assert samples(m)[("newswire_assigned_partitions", ())] == 0


def test_committed_offsets_reads_faust_consumer_state_and_tolerates_its_absence():
    from faust.transport.consumer import Consumer

    class C:
        _committed_offset = {TP("urls", 0): 4}

    assert committed_offsets(C()) == {TP("urls", 0): 4}
    assert committed_offsets(object()) == {}
    # Faust's consumer still declares the attribute this relies on.
    assert "_committed_offset" in Consumer.__annotations__


async def test_loop_lag_probe_observes_each_tick():
    seen: list[float] = []
    await watch_loop_lag(seen.append, interval=0.001, ticks=3)
    assert len(seen) == 3 and all(v >= 0 for v in seen)


async def test_loop_lag_probe_sees_a_blocked_loop():
    import asyncio
    import time

    seen: list[float] = []
    probe = asyncio.ensure_future(watch_loop_lag(seen.append, interval=0.001, ticks=1))
    await asyncio.sleep(0)       # the probe starts its sleep
    time.sleep(0.05)             # block the loop, as a CPU-bound call on it would
    await probe
    assert seen[0] >= 0.04


def test_agent_source_topics_are_the_topics_of_the_app_agents():
    class Channel:
        def __init__(self, *topics: str) -> None:
            self.topics = topics

    class Agent:
        def __init__(self, channel) -> None:
            self.channel = channel

    class App:
        agents = {"a": Agent(Channel("urls")), "b": Agent(Channel("g-submissions", "g-records")),
                  "c": Agent(object())}  # a channel that is not a topic

    assert agent_source_topics(App()) == {"urls", "g-submissions", "g-records"}


def test_the_worker_app_samples_all_three_delivery_steps():
    # Building the worker installs the timers on a real app (no broker needed).
    from workers.settings import Settings
    from workers.worker.app import build_worker

    worker = build_worker(Settings())
    app, settings, topics = worker.app, worker.settings, worker.topics
    names = agent_source_topics(app)
    assert {settings.input_topic, topics.submissions.get_topic_name(), topics.records.get_topic_name()} <= names


def test_readiness_needs_partitions_of_the_url_topic_and_of_every_internal_stream(monkeypatch):
    from types import SimpleNamespace

    from workers.settings import Settings
    from workers.worker.app import build_worker
    from workers.worker.web import Readiness

    worker = build_worker(Settings(), web=False)
    pipeline = SimpleNamespace(ready=True)
    readiness = Readiness(worker, pipeline)  # type: ignore[arg-type]
    streams = readiness.stream_topics()
    assert worker.settings.input_topic in streams and len(streams) == 3
    monkeypatch.setattr(readiness, "_assigned_topics", lambda: {worker.settings.input_topic})
    # URL partitions alone: assigned while a stream's topic did not exist yet, nobody processes what it routes.
    assert readiness.checks() == {"partitions_assigned": False, "pool_up": True}
    monkeypatch.setattr(readiness, "_assigned_topics", lambda: streams | {"newswire-seen-changelog"})
    assert readiness.checks() == {"partitions_assigned": True, "pool_up": True}
    pipeline.ready = False
    assert readiness.checks() == {"partitions_assigned": True, "pool_up": False}
