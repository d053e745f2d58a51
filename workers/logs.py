"""Logging: one JSON object per line (for log shippers), or readable text on a terminal.

Fields such as ``id``, ``url``, ``stage`` and ``error`` passed through
``extra=`` appear as top-level keys of the JSON line.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

from .settings import Settings

__all__ = ["JsonFormatter", "faust_logging_config", "python_level"]

_LEVELS = {"crit": "CRITICAL", "error": "ERROR", "warn": "WARNING", "info": "INFO", "debug": "DEBUG"}
# Attributes every LogRecord has; anything else came from ``extra=`` and is kept.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def python_level(level: str) -> str:
    return _LEVELS.get(level.lower(), level.upper())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                event[key] = value
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(event, default=str).decode()


JsonFormatter.converter = __import__("time").gmtime  # timestamps in UTC, as the trailing Z says


def _use_json(settings: Settings) -> bool:
    if settings.log_format == "auto":
        return not sys.stderr.isatty()
    return settings.log_format == "json"


def faust_logging_config(settings: Settings) -> dict[str, Any]:
    """A dictConfig for the worker (Faust accepts it as ``logging_config``)."""
    formatter = ({"()": f"{__name__}.JsonFormatter"} if _use_json(settings)
                 else {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"})
    level = python_level(settings.log_level)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                               "formatter": "default"}},
        "root": {"level": level, "handlers": ["stderr"]},
        # aiokafka is chatty at INFO about every reconnect; keep it at WARNING unless debugging.
        "loggers": {"aiokafka": {"level": "DEBUG" if level == "DEBUG" else "WARNING"}},
    }
