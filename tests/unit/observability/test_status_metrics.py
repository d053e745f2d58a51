"""The gauges `newswire status` reads: assigned partitions, and the last minute's records and dead letters."""

from __future__ import annotations

from tests.unit.observability.test_metrics import TP, FakeConsumer, samples
from workers.errors import EmptyText, HTTPStatusError
from workers.observability.gauges import ConsumerLagSampler, RecentActivity
from workers.observability.metrics import Metrics


def assigned_series(m: Metrics) -> set[tuple[str, str]]:
    return {(dict(labels)["topic"], dict(labels)["partition"]) for (name, labels), v in samples(m).items()
            if name == "newswire_partition_assigned" and v == 1}


def test_each_assigned_partition_of_a_consumed_topic_has_a_series_until_revoked():
    m = Metrics()
    sampler = ConsumerLagSampler("urls", {"g-submissions"}, m)
    # Partition 2's end is not known yet: no lag series, but it is assigned all the same.
    sampler.sample(FakeConsumer({TP("urls", 0): 1, TP("urls", 2): None, TP("g-submissions", 0): 0,
                                 TP("g-seen-changelog", 0): 9}), {})
    assert assigned_series(m) == {("urls", "0"), ("urls", "2"), ("g-submissions", "0")}
    sampler.sample(FakeConsumer({TP("urls", 2): 4}), {})
    assert assigned_series(m) == {("urls", "2")}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def dead_letter(m: Metrics, error: Exception) -> None:
    m.dead_letters.labels(stage=error.stage, error=error.error_code).inc()


def test_recent_activity_counts_the_last_minute_only():
    m, clock = Metrics(), Clock()
    recent = RecentActivity(m, window=60, clock=clock)
    m.records_published.inc(5)
    dead_letter(m, EmptyText("x"))
    clock.now += 2
    assert recent.sample() == (5, {"empty_text": 1})  # a worker up for 2 s: everything since it started
    for _ in range(29):  # 58 s more, one record every 2 s
        clock.now += 2
        m.records_published.inc()
        recent.sample()
    assert recent.sample() == (34, {"empty_text": 1})  # 60 s since the start: still all of it
    clock.now += 4
    m.records_published.inc()
    dead_letter(m, HTTPStatusError(404))
    records, letters = recent.sample()
    assert records == 35 - 5 - 1  # the first 5 and the one at +4 s are older than a minute now
    assert letters == {"empty_text": 0, "http_404": 1}
    assert samples(m)[("newswire_records_last_minute", ())] == records
    assert samples(m)[("newswire_dead_letters_last_minute", (("error", "http_404"),))] == 1


def test_a_quiet_minute_reads_zero_for_codes_seen_before():
    m, clock = Metrics(), Clock()
    recent = RecentActivity(m, window=60, clock=clock)
    dead_letter(m, EmptyText("x"))
    clock.now += 2
    recent.sample()
    clock.now += 70
    assert recent.sample() == (0, {"empty_text": 0})
    assert samples(m)[("newswire_dead_letters_last_minute", (("error", "empty_text"),))] == 0
