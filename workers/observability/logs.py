"""Logging: one JSON object per line (for log shippers), or readable text on a terminal.

Fields passed through ``extra=`` (``id``, ``url``, ``stage``, ``error``,
``detail`` ...) appear as top-level keys of the JSON line, and as
``key=value`` pairs after the message in the text format, so both formats
carry the same facts.  ``NEWSWIRE_LOG_FORMAT=auto`` (the default) picks text
when stderr is a terminal and JSON otherwise (containers, CI, files).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

import orjson

from workers.settings import Settings

__all__ = ["JsonFormatter", "TextFormatter", "faust_logging_config", "python_level", "use_json"]

_LEVELS = {"crit": "CRITICAL", "error": "ERROR", "warn": "WARNING", "info": "INFO", "debug": "DEBUG"}
# Attributes every LogRecord has; anything else came from ``extra=`` and is kept.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
# The fields of a pipeline event, shown first (in this order) in the text format.
_EVENT_FIELDS = ("id", "url", "stage", "error")


def python_level(level: str) -> str:
    return _LEVELS.get(level.lower(), level.upper())


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", <extras>..., "exc"}`` on one line, UTC timestamps."""

    converter = staticmethod(time.gmtime)  # timestamps in UTC, as the trailing Z says

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _extras(record).items():
            event.setdefault(key, value)  # an extra never overwrites the fields above
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            event["stack"] = self.formatStack(record.stack_info)
        # A line break inside a value is escaped by JSON, so one event stays one line.
        return orjson.dumps(event, default=str).decode()


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...`` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _extras(record)
        ordered = [k for k in _EVENT_FIELDS if k in extras] + [k for k in extras if k not in _EVENT_FIELDS]
        pairs = [f"{key}={_text_value(extras[key])}" for key in ordered if extras[key] is not None]
        if not pairs:
            return line
        first, newline, rest = line.partition("\n")  # keep a traceback below the event line
        return f"{first} {' '.join(pairs)}{newline}{rest}"


def _text_value(value: Any) -> str:
    text = str(value)
    return orjson.dumps(text).decode() if (not text or any(c in text for c in ' "=\n')) else text


def use_json(settings: Settings, stream: TextIO | None = None) -> bool:
    if settings.log_format == "auto":
        stream = sys.stderr if stream is None else stream
        return not (hasattr(stream, "isatty") and stream.isatty())
    return settings.log_format == "json"


def faust_logging_config(settings: Settings) -> dict[str, Any]:
    """A dictConfig for the worker (Faust accepts it as ``logging_config``)."""
    formatter = f"{__name__}.{'JsonFormatter' if use_json(settings) else 'TextFormatter'}"
    level = python_level(settings.log_level)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": formatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                               "formatter": "default"}},
        "root": {"level": level, "handlers": ["stderr"]},
        # aiokafka is chatty at INFO about every reconnect; keep it at WARNING unless debugging.
        "loggers": {"aiokafka": {"level": "DEBUG" if level == "DEBUG" else "WARNING"}},
    }
