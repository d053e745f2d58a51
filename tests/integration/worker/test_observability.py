"""What an operator sees, on the real broker: /metrics moving with the work, /readyz following assignment."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.kafka import collect, produce, unique_topics_env
from tests.helpers.workerproc import WorkerProcess
from workers.local.pages import PageServer

PAGES = Path(__file__).resolve().parents[3] / "demo" / "pages"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(worker: WorkerProcess) -> Samples:
    status, body = worker.get("/metrics")
    assert status == 200
    out: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def lag_series(samples: Samples) -> dict[tuple[str, str], float]:
    return {(dict(labels)["topic"], dict(labels)["partition"]): v for (name, labels), v in samples.items()
            if name == "newswire_consumer_lag"}


def wait_for(worker: WorkerProcess, condition, timeout: float = 120.0, what: str = "") -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(worker)
        if condition(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{worker.log_tail()}")
        time.sleep(0.5)


@pytest.fixture
def pages():
    release = threading.Event()

    def slow_page(handler) -> None:
        # Held until the test has seen the URL in flight and the lag it leaves behind.
        release.wait(60)
        body = (PAGES / "harbour-bridge.html").read_bytes()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    with PageServer() as server:
        server.add_page("/news/wahl-berlin.html", (PAGES / "wahl-berlin.html").read_bytes())
        server.add("/news/slow.html", slow_page)
        server.release = release
        yield server
        release.set()


@pytest.fixture
def worker(kafka_bootstrap, tmp_path):
    env = unique_topics_env(kafka_bootstrap, NEWSWIRE_FETCH_TOTAL_TIMEOUT_S="90", NEWSWIRE_FETCH_READ_TIMEOUT_S="90")
    proc = WorkerProcess(env, tmp_path).start()
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.terminate()


async def test_metrics_follow_records_dead_letters_stages_and_lag(kafka_bootstrap, worker, pages):
    env = worker.env
    # NEWSWIRE_TOPIC_PARTITIONS=3 and one worker: all three (the gauge is sampled every 2 s).
    before = wait_for(worker, lambda s: value(s, "newswire_assigned_partitions") == 3, timeout=30,
                      what="the assignment gauge")
    assert set(lag_series(before).values()) <= {0.0}

    urls = [pages.url("/news/slow.html"), pages.url("/news/wahl-berlin.html"), pages.url("/news/missing.html")]
    await produce(kafka_bootstrap, env["NEWSWIRE_INPUT_TOPIC"], [u.encode() for u in urls])

    # While the slow page is held: one URL in flight, and its message not committed (lag >= 1).
    # Wait for the submissions lag itself: the URL topic's lag can show first (before the
    # route stage commits), while the submissions partition's end is not sampled yet.
    def submissions_lag(s: Samples) -> bool:
        return any(topic == env["NEWSWIRE_GROUP_ID"] + "-submissions" and lag >= 1
                   for (topic, _), lag in lag_series(s).items())

    held = wait_for(worker, lambda s: value(s, "newswire_urls_in_flight") >= 1 and submissions_lag(s),
                    timeout=60, what="the held URL to show as in flight and as lag")
    assert submissions_lag(held), lag_series(held)
    pages.release.set()

    topics = [env["NEWSWIRE_ARTICLES_TOPIC"], env["NEWSWIRE_DEADLETTER_TOPIC"]]
    found = await collect(kafka_bootstrap, topics, until=lambda f: len(f[topics[0]]) >= 2 and len(f[topics[1]]) >= 1,
                          timeout=180)
    assert len(found[topics[0]]) == 2 and len(found[topics[1]]) == 1, worker.log_tail()

    def delta(after: Samples, name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    after = wait_for(worker, lambda s: (delta(s, "newswire_records_published_total") == 2
                                        and delta(s, "newswire_dead_letters_total", stage="fetch",
                                                  error="http_404") == 1
                                        and value(s, "newswire_urls_in_flight") == 0
                                        and lag_series(s) and set(lag_series(s).values()) == {0.0}),
                     what="counters to settle and lag to return to zero")

    assert delta(after, "newswire_messages_received_total") == 3
    assert sum(v for (name, _), v in after.items() if name == "newswire_dead_letters_total") - \
        sum(v for (name, _), v in before.items() if name == "newswire_dead_letters_total") == 1
    # Stage histograms: fetch for the two pages that answered, the CPU stages once per article.
    assert delta(after, "newswire_stage_seconds_count", stage="fetch") >= 2
    for stage in ("extract", "dedupe", "enrich"):
        assert delta(after, "newswire_stage_seconds_count", stage=stage) == 2, stage
        assert delta(after, "newswire_stage_seconds_sum", stage=stage) > 0, stage
        assert delta(after, "newswire_stage_seconds_bucket", stage=stage, le="+Inf") == 2, stage
    # The held fetch took at least as long as the test held it: it sits above the smallest bucket.
    assert delta(after, "newswire_stage_seconds_bucket", stage="fetch", le="0.005") < \
        delta(after, "newswire_stage_seconds_count", stage="fetch")
    # Lag is reported for the URL topic and for the internal streams, per partition.
    lag_topics = {topic for topic, _ in lag_series(after)}
    assert {env["NEWSWIRE_INPUT_TOPIC"], env["NEWSWIRE_GROUP_ID"] + "-submissions",
            env["NEWSWIRE_GROUP_ID"] + "-records"} <= lag_topics
    assert {p for t, p in lag_series(after) if t == env["NEWSWIRE_INPUT_TOPIC"]} == {"0", "1", "2"}
    assert (value(after, "newswire_event_loop_lag_seconds_count")
            > value(before, "newswire_event_loop_lag_seconds_count"))
    assert ("newswire_pool_queue_depth", ()) in after and value(after, "newswire_pool_queue_depth") == 0

    assert delta(after, "newswire_stage_seconds_count", stage="publish") == 2


def test_readyz_follows_partition_assignment(kafka_bootstrap, tmp_path):
    """One input partition, two workers: only its owner is ready; the other becomes ready when it takes over."""
    env = unique_topics_env(kafka_bootstrap, NEWSWIRE_TOPIC_PARTITIONS="1")
    first = WorkerProcess(env, tmp_path, name="first").start()
    second = None
    try:
        first.wait_ready()
        assert first.readiness() == {"ready": True, "partitions_assigned": True, "pool_up": True,
                                     "assigned_partitions": 1, "status": 200}
        second = WorkerProcess(env, tmp_path, name="second").start()

        def settled() -> tuple[WorkerProcess, WorkerProcess] | None:
            a, b = first.readiness(), second.readiness()
            if not a or not b:
                return None
            for owner, idle, o, i in ((first, second, a, b), (second, first, b, a)):
                if o["status"] == 200 and i["status"] == 503 and i["pool_up"] and not i["partitions_assigned"]:
                    return owner, idle
            return None

        deadline = time.monotonic() + 150
        while (pair := settled()) is None:
            assert time.monotonic() < deadline, f"no settled assignment\n{first.log_tail()}\n{second.log_tail()}"
            assert second.proc.poll() is None, second.log_tail()
            time.sleep(0.5)
        owner, idle = pair
        # The idle member is alive (liveness) and says why it is not ready.
        assert idle.get("/healthz")[0] == 200
        idle_state = idle.readiness()
        assert idle_state["status"] == 503 and idle_state["assigned_partitions"] == 0
        assert value(scrape(idle), "newswire_assigned_partitions") == 0

        assert owner.terminate() == 0
        idle.wait_ready(timeout=120)  # the partition moved to it
        assert idle.readiness()["assigned_partitions"] == 1
    finally:
        first.terminate()
        if second is not None:
            second.terminate()
