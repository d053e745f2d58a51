"""The worker is configured by NEWSWIRE_* settings only, and starts from any directory (issue 18, holes 1-2)."""

from __future__ import annotations

import pytest

from workers.cli.worker import ignore_faust_environment as _ignore_faust_environment
from workers.cli.worker import prepare_data_dir as _prepare_data_dir
from workers.errors import ConfigError
from workers.settings import Settings

# What Kubernetes injects for a Service named "web", and Faust settings the delivery guarantees rely on.
FAUST_ENV = {
    "WEB_PORT": "7777",
    "WEB_BIND": "0.0.0.0",
    "CONSUMER_AUTO_OFFSET_RESET": "latest",
    "STREAM_WAIT_EMPTY": "false",
    "PROCESSING_GUARANTEE": "exactly_once",
    "BROKER": "kafka://10.9.8.7:9092",
}


def test_faust_environment_variables_do_not_configure_the_app(monkeypatch):
    from workers.worker.app import create_app

    for name, value in FAUST_ENV.items():
        monkeypatch.setenv(name, value)
    settings = Settings(web_port=6123, bootstrap_servers="127.0.0.1:9999")
    conf = create_app(settings).conf
    assert conf.web_port == 6123
    assert conf.web_bind == settings.web_host
    assert conf.consumer_auto_offset_reset == "earliest"
    assert conf.stream_wait_empty is True
    assert conf.processing_guarantee.value == "at_least_once"
    assert [str(url) for url in conf.broker] == ["kafka://127.0.0.1:9999"]


def test_a_kubernetes_service_variable_does_not_crash_the_app(monkeypatch):
    from workers.worker.app import create_app

    monkeypatch.setenv("WEB_PORT", "tcp://10.0.0.12:80")  # a Service named "web" in the namespace
    assert create_app(Settings(web_port=6124)).conf.web_port == 6124


def test_faust_prefixed_variables_are_removed_and_named(capsys):
    environ = {"FAUST_DATADIR": "/elsewhere", "F_LOOP": "eventlet", "FAUST_WEB_TRANSPORT": "unix:///x",
               "NEWSWIRE_WEB_PORT": "6066", "F_UNRELATED_TO_FAUST": "kept", "PATH": "/bin"}
    removed = _ignore_faust_environment(environ)
    assert removed == ["FAUST_DATADIR", "FAUST_WEB_TRANSPORT", "F_LOOP"]
    assert environ == {"NEWSWIRE_WEB_PORT": "6066", "F_UNRELATED_TO_FAUST": "kept", "PATH": "/bin"}
    assert "FAUST_DATADIR" in capsys.readouterr().err


def test_the_data_dir_is_created_with_its_parents(tmp_path):
    target = tmp_path / "a" / "b" / ".newswire" / "worker"
    _prepare_data_dir(str(target))
    assert target.is_dir()
    _prepare_data_dir(str(target))  # existing: fine


def test_a_data_dir_that_cannot_be_created_is_one_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError) as info:
        _prepare_data_dir(str(blocker / "worker"))
    assert info.value.detail.startswith(f"NEWSWIRE_DATA_DIR={blocker / 'worker'}: cannot create")
    assert "\n" not in info.value.detail


async def test_the_worker_waits_for_kafka_that_is_not_up_yet_and_says_so(capsys):
    from workers.cli.worker import wait_for_kafka
    from workers.kafka.diagnosis import KafkaConnectError

    attempts, slept = [], []

    async def attempt():
        attempts.append(1)
        if len(attempts) < 4:  # the broker starts after the worker
            raise KafkaConnectError("cannot connect to Kafka at 127.0.0.1:9 (PLAINTEXT): nothing listens there",
                                    cause="connection_refused")
        return "topics ok"

    async def sleep(seconds):
        slept.append(seconds)

    assert await wait_for_kafka(attempt, sleep=sleep, clock=lambda: 0.0) == "topics ok"
    assert len(attempts) == 4 and slept == [1.0, 2.0, 4.0]  # backoff
    err = capsys.readouterr().err.splitlines()
    assert err == ["newswire: waiting for Kafka: cannot connect to Kafka at 127.0.0.1:9 (PLAINTEXT): "
                   "nothing listens there"]  # reported once within STARTUP_REPORT_S


async def test_a_cause_retrying_cannot_fix_still_stops_the_worker_at_once():
    from workers.cli.worker import wait_for_kafka
    from workers.kafka.diagnosis import KafkaConnectError

    async def attempt():
        raise KafkaConnectError("SASL authentication failed", cause="sasl_auth_failed")

    async def sleep(seconds):
        raise AssertionError("must not retry")

    with pytest.raises(KafkaConnectError):
        await wait_for_kafka(attempt, sleep=sleep)
