"""The `newswire` command: extract without Kafka, submit and tail through the real broker."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson

from tests.helpers.expectations import SEED_HTML, assert_seed_record
from tests.helpers.kafka import unique_topics_env
from tests.helpers.workerproc import WorkerProcess
from workers.devserver import PageServer
from workers.schemas import validate_record


def newswire(*args: str, env: dict[str, str] | None = None, input: bytes | None = None, timeout: float = 180):
    return subprocess.run([sys.executable, "-m", "workers", *args], env={**os.environ, **(env or {})},
                          input=input, capture_output=True, timeout=timeout)


def test_extract_prints_the_seed_record():
    result = newswire("extract", str(SEED_HTML))
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    record = orjson.loads(lines[0])
    assert_seed_record(record)
    validate_record("article", record)


def test_extract_keeps_input_order_and_reports_failures(tmp_path):
    empty = tmp_path / "empty.html"
    empty.write_text("<html><body></body></html>")
    result = newswire("extract", "--no-entities", str(empty), str(SEED_HTML), str(tmp_path / "missing.html"))
    assert result.returncode == 1
    first, second, third = (orjson.loads(line) for line in result.stdout.splitlines())
    validate_record("deadletter", first)
    validate_record("article", second)
    assert first["error"] == "empty_text" and first["stage"] == "extract"
    assert second["title"].startswith("Blinken") and second["entities"] == []
    assert second["entities_status"] == "disabled"
    assert third["error"] == "extract_failed"


def test_extract_fetches_urls(tmp_path):
    with PageServer() as pages:
        url = pages.add_page("/seed", SEED_HTML.read_bytes())
        result = newswire("extract", "--no-entities", url, env={"NEWSWIRE_FETCH_ALLOW_HOSTS": "127.0.0.1"})
    assert result.returncode == 0, result.stdout + result.stderr
    record = orjson.loads(result.stdout)
    assert record["url"] == url and record["http_status"] == 200 and record["final_url"] == url


def test_extract_refuses_loopback_without_the_allowlist():
    with PageServer() as pages:
        url = pages.add_page("/seed", SEED_HTML.read_bytes())
        result = newswire("extract", url, env={"NEWSWIRE_FETCH_ALLOW_HOSTS": ""})
    assert result.returncode == 1
    assert orjson.loads(result.stdout)["error"] == "blocked_address"
    assert pages.hits.get("/seed") is None


def test_submit_from_stdin_and_tail(kafka_bootstrap, tmp_path):
    env = unique_topics_env(kafka_bootstrap)
    worker = WorkerProcess(env, tmp_path).start()
    try:
        worker.wait_ready()
        with PageServer() as pages:
            url = pages.add_page("/seed", SEED_HTML.read_bytes())
            submitted = newswire("submit", "--source", "cli-test", env=env, input=f"{url}\n# comment\n".encode())
            assert submitted.returncode == 0, submitted.stderr.decode()
            assert b"submitted 1 URL" in submitted.stderr
            tailed = newswire("tail", "--from-beginning", "--max", "1", "--timeout", "120", env=env)
        assert tailed.returncode == 0, tailed.stderr.decode()
        record = orjson.loads(tailed.stdout.splitlines()[0])
        assert record["url"] == url and record["source"] == "cli-test"
        assert_seed_record(record)
        raw_input = newswire("tail", "--topic", "input", "--from-beginning", "--max", "1", "--timeout", "30", env=env)
        assert orjson.loads(raw_input.stdout)["url"] == url
    finally:
        worker.terminate()


def test_submit_without_urls_is_a_usage_error():
    result = newswire("submit", input=b"")
    assert result.returncode == 2
    assert b"no URLs given" in result.stderr
