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


def test_worker_starts_in_an_empty_directory_configured_only_by_newswire_settings(kafka_bootstrap, tmp_path):
    """Issue 18, holes 1 and 2: no data dir given (the default .newswire/worker is created with its
    parents), and Faust's own variables in the environment -- a Kubernetes Service variable, an offset
    reset to "latest" -- change nothing: the URL submitted before the group existed is processed."""
    env = {**unique_topics_env(kafka_bootstrap), "NEWSWIRE_ENTITIES_ENABLED": "false",
           "WEB_PORT": "tcp://10.0.0.12:80", "CONSUMER_AUTO_OFFSET_RESET": "latest",
           "STREAM_WAIT_EMPTY": "false", "FAUST_DATADIR": str(tmp_path / "not-here")}
    fresh = tmp_path / "fresh"
    with PageServer() as pages:
        url = pages.add_page("/seed", SEED_HTML.read_bytes())
        assert newswire("topics", env=env).returncode == 0
        submitted = newswire("submit", url, env=env)
        assert submitted.returncode == 0, submitted.stderr.decode()
        worker = WorkerProcess(env, fresh)
        del worker.env["NEWSWIRE_DATA_DIR"]
        worker.start()
        try:
            worker.wait_ready()  # on NEWSWIRE_WEB_PORT, not on WEB_PORT
            tailed = newswire("tail", "--from-beginning", "--max", "1", "--timeout", "120", env=env)
        finally:
            worker.terminate()
    assert tailed.returncode == 0, tailed.stderr.decode() + worker.log_tail()
    assert orjson.loads(tailed.stdout.splitlines()[0])["url"] == url
    assert (fresh / ".newswire" / "worker").is_dir()
    assert not (tmp_path / "not-here").exists()


def test_worker_with_a_data_dir_it_cannot_create_exits_with_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = newswire("worker", env={"NEWSWIRE_DATA_DIR": str(blocker / "worker"),
                                     "NEWSWIRE_BOOTSTRAP_SERVERS": "127.0.0.1:1"}, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("newswire: NEWSWIRE_DATA_DIR="), lines
