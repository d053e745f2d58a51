"""`newswire status`: a worker's endpoints said in plain words; one clear line when no worker answers."""

from __future__ import annotations

import subprocess
import sys

import orjson

from workers.cli.status import describe, parse_metrics, worker_url
from workers.local.broker import free_port
from workers.local.pages import PageServer, Route
from workers.observability.metrics import Metrics, render
from workers.settings import Settings

READY = {"ready": True, "partitions_assigned": True, "pool_up": True, "assigned_partitions": 3}


def busy_worker_metrics() -> bytes:
    m = Metrics()
    m.pool_processes.set(2)
    m.pool_queue.set(5)
    m.in_flight.set(4)
    m.assigned_partitions.set(3)
    for topic in ("t.urls", "g-submissions"):
        for partition in ("0", "1", "2"):
            m.partition_assigned.labels(topic=topic, partition=partition).set(1)
    m.consumer_lag.labels(topic="t.urls", partition="0").set(7)
    m.consumer_lag.labels(topic="t.urls", partition="1").set(3)
    m.consumer_lag.labels(topic="g-submissions", partition="0").set(0)
    m.records_last_minute.set(42)
    m.dead_letters_last_minute.labels(error="http_404").set(2)
    m.dead_letters_last_minute.labels(error="timeout").set(1)
    m.dead_letters_last_minute.labels(error="empty_text").set(0)
    return render(m)


def test_describe_says_what_a_busy_worker_is_doing():
    lines = describe("http://127.0.0.1:6066", READY, parse_metrics(busy_worker_metrics().decode()))
    text = "\n".join(lines)
    assert lines[0].startswith("worker at http://127.0.0.1:6066 (newswire ") and lines[0].endswith(": ready")
    assert "group:        member of the consumer group" in text
    assert "partitions:   g-submissions 0, 1, 2; t.urls 0, 1, 2" in text
    assert "in flight:    4 URLs being fetched or analysed" in text
    assert "pool:         2 of 2 processes busy (100%), 3 pages waiting" in text
    assert "last minute:  42 records, 3 dead letters (http_404: 2, timeout: 1)" in text
    assert "consumer lag: 10 messages not yet committed (t.urls: 10)" in text


def test_describe_an_idle_worker_that_is_not_ready():
    m = Metrics()
    m.pool_processes.set(2)
    m.rebalancing.set(0)
    state = {"ready": False, "partitions_assigned": False, "pool_up": True, "assigned_partitions": 0}
    text = "\n".join(describe("http://w:1", state, parse_metrics(render(m).decode())))
    assert ": not ready" in text
    assert "no URL-topic partitions assigned" in text and "partitions:   none" in text
    assert "pool:         0 of 2 processes busy (0%), 0 pages waiting" in text
    assert "last minute:  0 records, 0 dead letters" in text
    assert "consumer lag: unknown" in text
    m.rebalancing.set(1)
    assert "rebalancing" in "\n".join(describe("http://w:1", state, parse_metrics(render(m).decode())))


def test_the_worker_address_comes_from_the_settings_or_the_options():
    assert worker_url(Settings(web_port=7001)) == "http://127.0.0.1:7001"
    assert worker_url(Settings(web_port=7001, web_host="0.0.0.0")) == "http://127.0.0.1:7001"
    assert worker_url(Settings(), port=7002) == "http://127.0.0.1:7002"
    assert worker_url(Settings(), url="http://10.0.0.5:6066/") == "http://10.0.0.5:6066"


def newswire_status(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "workers", "status", *args], capture_output=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_status_reads_the_endpoints_of_the_port_it_is_given():
    with PageServer() as server:
        server.add("/readyz", Route(body=orjson.dumps(READY), content_type="application/json"))
        server.add("/metrics", Route(body=busy_worker_metrics(), content_type="text/plain"))
        port = server.base_url.rsplit(":", 1)[1]
        by_env = newswire_status(env={"NEWSWIRE_WEB_PORT": port})
        by_url = newswire_status("--url", server.base_url)
    assert by_env.returncode == 0, by_env.stderr
    assert by_env.stdout == by_url.stdout
    assert b"last minute:  42 records" in by_env.stdout and by_env.stderr == b""


def test_status_without_a_worker_is_one_line_and_exit_code_1():
    port = free_port()
    result = newswire_status("--port", str(port))
    assert result.returncode == 1
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"newswire: no worker answers at http://127.0.0.1:{port} (connection refused)")


def test_status_of_something_that_is_not_a_worker_says_so():
    with PageServer() as server:  # answers 404 everywhere
        result = newswire_status("--url", server.base_url)
    assert result.returncode == 1
    assert result.stderr.decode().strip() == f"newswire: {server.base_url} answers, but not as a newswire worker " \
                                              "(HTTP 404 on /readyz)"
