"""The `newswire` command: extract without Kafka, submit and tail through the real broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import orjson

from tests.helpers.expectations import SEED_HTML, assert_seed_record
from tests.helpers.kafka import unique_topics_env
from tests.helpers.terminal import newswire_on_terminal
from tests.helpers.workerproc import WorkerProcess
from workers.contract.schemas import validate_record
from workers.local.pages import PageServer


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


# -- summaries, tail --follow / --format short, status: one worker for all ------------------------------


def status_of(env: dict[str, str]) -> subprocess.CompletedProcess:
    return newswire("status", env=env, timeout=30)


def follow(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, list[str]]:
    """Start `newswire tail --follow ...`; its stdout lines are collected as they come."""
    proc = subprocess.Popen([sys.executable, "-m", "workers", "tail", "--follow", *args],
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    return proc, lines


def wait_until(condition, timeout: float, what: str, details=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{details()}"
        time.sleep(0.5)


def test_submit_summary_tail_short_and_follow_and_worker_status(kafka_bootstrap, tmp_path):
    env = unique_topics_env(kafka_bootstrap)
    worker = WorkerProcess(env, tmp_path).start()
    follower = None
    try:
        worker.wait_ready()
        # The partitions gauges are sampled every 2 s; /readyz answers at once.
        wait_until(lambda: "-records 0, 1, 2" in status_of(worker.env).stdout.decode(), 30,
                   "the status to list the assigned partitions", lambda: status_of(worker.env).stdout.decode())
        status = status_of(worker.env)
        assert status.returncode == 0, status.stderr.decode()
        text = status.stdout.decode()
        assert text.startswith(f"worker at http://127.0.0.1:{worker.port} (newswire ") and ": ready\n" in text, text
        assert f"partitions:   {env['NEWSWIRE_GROUP_ID']}-records 0, 1, 2; " in text  # every consumed stream
        assert f"{env['NEWSWIRE_INPUT_TOPIC']} 0, 1, 2" in text
        assert "in flight:    0 URLs" in text and "pool:         0 of 1 processes busy (0%)" in text
        assert "last minute:  0 records, 0 dead letters" in text

        follower, followed = follow(["--topic", "deadletter", "--format", "short"], env)
        with PageServer() as pages:
            url = pages.add_page("/seed", SEED_HTML.read_bytes())
            submitted = newswire("submit", env=env, input=f"# today\n{url}\n\nnot a url at all\n".encode())
            assert submitted.returncode == 0, submitted.stderr.decode()
            first, summary = submitted.stderr.decode().splitlines()
            assert first == f"submitted 2 URL(s) to {env['NEWSWIRE_INPUT_TOPIC']}"  # as before the summary existed
            assert summary.startswith("submit: 2 submitted (1 not a valid URL: the worker dead-letters it), "
                                      "2 skipped (blank or comment lines), 0 refused, "), summary
            short = newswire("tail", "--format", "short", "--from-beginning", "--max", "1", "--timeout", "120",
                             env=env)
        assert short.returncode == 0, short.stderr.decode()
        lines = short.stdout.decode().split("\n")
        assert (lines[0] == "[article] Blinken arrives in Israel for Gaza talks"
                or lines[0].startswith("[article] Blinken"))
        assert lines[1].startswith("  site: ") and "language: en" in lines[1]
        assert lines[3].startswith("  entities: ") and "(PERSON)" in lines[3]
        assert short.stdout.endswith(b"...\n\n")

        # --follow: the dead letter shows up in the short form while the command keeps running.
        wait_until(lambda: any(line.startswith("[dead letter]") for line in followed), 60, "the followed dead letter",
                   worker.log_tail)
        assert "[dead letter] not a url at all\n" in followed
        assert follower.poll() is None  # still following
        follower.send_signal(signal.SIGINT)
        assert follower.wait(30) == 130

        # Both outcomes show in the last minute (the gauges are sampled every 2 s).
        def counted() -> bool:
            return "last minute:  1 record, 1 dead letter (invalid_url: 1)" in status_of(worker.env).stdout.decode()

        wait_until(counted, 30, "the status to count the record and the dead letter",
                   lambda: status_of(worker.env).stdout.decode())
        wait_until(lambda: "consumer lag: 0 messages: caught up" in status_of(worker.env).stdout.decode(), 60,
                   "the lag to return to zero", lambda: status_of(worker.env).stdout.decode())
    finally:
        if follower is not None and follower.poll() is None:
            follower.kill()
        worker.terminate()
    gone = status_of(worker.env)
    assert gone.returncode == 1 and gone.stdout == b""
    assert gone.stderr.decode().count("\n") == 1 and "no worker answers at" in gone.stderr.decode()


def test_submit_counts_what_the_client_refuses_and_sends_the_rest(kafka_bootstrap):
    env = unique_topics_env(kafka_bootstrap)
    assert newswire("topics", env=env).returncode == 0
    huge = "https://x.example/" + "a" * 1_100_000  # larger than the producer's max_request_size (1 MB)
    result = newswire("submit", env=env, input=f"https://x.example/ok\n{huge}\n".encode())
    assert result.returncode == 1, result.stderr.decode()[-3000:]
    first, summary = result.stderr.decode().splitlines()
    assert first == f"submitted 1 URL(s) to {env['NEWSWIRE_INPUT_TOPIC']}"
    assert summary.startswith("submit: 1 submitted, 0 skipped (blank or comment lines), 1 refused "
                              "(https://x.example/aaaa"), summary
    assert "..." in summary and len(summary) < 400  # the URL is shortened in the reason
    sent = newswire("tail", "--topic", "input", "--from-beginning", "--max", "2", "--timeout", "10", env=env)
    assert [orjson.loads(line)["url"] for line in sent.stdout.splitlines()] == ["https://x.example/ok"]

    # On a terminal: the progress line first (done/total, rate), erased, then the same two lines.
    run = newswire_on_terminal("submit", env=env, input=f"https://x.example/ok2\n{huge}\n".encode())
    assert run.returncode == 1
    assert b"0/2 [" in run.terminal and b"url/s" in run.terminal
    assert f"submitted 1 URL(s) to {env['NEWSWIRE_INPUT_TOPIC']}\nsubmit: 1 submitted, 0 skipped" in \
        run.terminal.decode().replace("\r\n", "\n")
