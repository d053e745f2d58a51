"""Log lines: JSON events with the pipeline fields, readable text, level and format from settings."""

from __future__ import annotations

import io
import logging
import logging.config

import orjson
import pytest

from workers.observability.logs import JsonFormatter, TextFormatter, faust_logging_config, python_level, use_json
from workers.settings import Settings


def _record(msg: str = "dead letter", level: int = logging.WARNING, exc_info=None, **extra) -> logging.LogRecord:
    record = logging.LogRecord("newswire.handler", level, __file__, 1, msg, (), exc_info)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_line_carries_the_event_fields_at_top_level():
    line = JsonFormatter().format(_record(id="abc123", url="http://x.test/a", stage="fetch", error="http_404",
                                          detail="404 Not Found"))
    assert "\n" not in line
    event = orjson.loads(line)
    assert event["level"] == "warning" and event["logger"] == "newswire.handler"
    assert event["message"] == "dead letter"
    assert (event["id"], event["url"], event["stage"], event["error"]) == ("abc123", "http://x.test/a", "fetch",
                                                                           "http_404")
    assert event["ts"].endswith("Z") and "T" in event["ts"]


def test_json_line_stays_one_line_with_a_traceback_and_multiline_message():
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        import sys
        record = _record("first\nsecond", level=logging.ERROR, exc_info=sys.exc_info(), url="http://x.test/")
    line = JsonFormatter().format(record)
    assert line.count("\n") == 0
    event = orjson.loads(line)
    assert "ValueError: boom" in event["exc"]
    assert event["message"] == "first\nsecond"


def test_an_extra_cannot_overwrite_the_message_or_level():
    event = orjson.loads(JsonFormatter().format(_record(level_name="x", logger="spoof")))
    assert event["logger"] == "newswire.handler"


def test_json_timestamp_is_utc():
    record = _record()
    record.created = 0.0
    record.msecs = 5
    assert orjson.loads(JsonFormatter().format(record))["ts"] == "1970-01-01T00:00:00.005Z"


def test_text_line_is_readable_and_keeps_the_event_fields_in_order():
    line = TextFormatter().format(_record(error="http_404", url="http://x.test/a b", stage="fetch", id="abc",
                                          attempts=2))
    assert "WARNING newswire.handler: dead letter " in line
    tail = line.split("dead letter ", 1)[1]
    assert tail == 'id=abc url="http://x.test/a b" stage=fetch error=http_404 attempts=2'


def test_text_line_without_extras_is_just_the_message():
    assert TextFormatter().format(_record("started")).endswith("newswire.handler: started")


@pytest.mark.parametrize("fmt,tty,expected", [("json", True, True), ("text", False, False),
                                              ("auto", True, False), ("auto", False, True)])
def test_format_choice(fmt, tty, expected):
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    assert use_json(Settings(log_format=fmt), Stream()) is expected


def test_level_names_map_to_python_levels():
    assert [python_level(x) for x in ("crit", "error", "warn", "info", "debug")] == \
        ["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]


def test_logging_config_applies_level_and_format(capsys):
    config = faust_logging_config(Settings(log_level="warn", log_format="json"))
    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    try:
        logging.config.dictConfig(config)
        log = logging.getLogger("newswire.test")
        log.info("hidden at warn")
        log.warning("shown", extra={"stage": "publish"})
        lines = capsys.readouterr().err.strip().splitlines()
    finally:
        root.handlers[:] = saved[1]
        root.setLevel(saved[0])
    assert len(lines) == 1
    assert orjson.loads(lines[0])["stage"] == "publish"
    assert config["loggers"]["aiokafka"]["level"] == "WARNING"
    assert faust_logging_config(Settings(log_level="debug"))["loggers"]["aiokafka"]["level"] == "DEBUG"
