"""``newswire worker``: run a worker (Faust) in the consumer group."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from workers.errors import ConfigError
from workers.settings import Settings

__all__ = ['add_cli', 'ignore_faust_environment', 'prepare_data_dir', 'run', 'wait_for_kafka']


def add_cli(sub: Any) -> None:
    p = sub.add_parser("worker", help="run a worker in the consumer group")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    prepare_data_dir(settings.data_dir)
    ignore_faust_environment(os.environ)
    from workers.faust_compat import check_versions
    from workers.pipeline.entities import check_model_available

    check_versions(allow_unverified=settings.allow_unverified_versions)  # before anything touches Kafka
    from workers.contract.topics import ensure_topics, internal_topic_specs, topic_specs

    if settings.entities_enabled:
        for _language, model in settings.ner_models:  # a wrong model name is one line, not a broken pool
            check_model_available(model)
    specs = topic_specs(settings) + internal_topic_specs(settings)
    asyncio.run(wait_for_kafka(lambda: ensure_topics(settings, specs)))
    from faust.worker import Worker

    from workers.kafka.diagnosis import CredentialWatch
    from workers.observability.logs import faust_logging_config
    from workers.worker.app import build_worker

    built = build_worker(settings)
    worker = Worker(
        built.app,
        loglevel=settings.log_level,
        logging_config=faust_logging_config(settings),
        quiet=True,
    )
    # Credentials that stop working after start (rotated password, expired
    # certificate) end the worker with one line and exit 2 instead of retrying forever.
    watch = CredentialWatch(settings).install()
    try:
        worker.execute_from_commandline()  # exits the process
    except SystemExit:
        if watch.failure is not None:
            raise ConfigError(watch.failure.detail) from None
        raise
    return 0


def prepare_data_dir(data_dir: str) -> None:
    """Create the worker's data dir with its parents (Faust creates only the last level)."""
    try:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"NEWSWIRE_DATA_DIR={data_dir}: cannot create the worker's data directory ({reason}); "
                          f"set NEWSWIRE_DATA_DIR to a writable directory") from None


#: The variables faust-streaming 0.15 reads at import (faust/__init__.py, faust/types/_env.py), each with
#: the prefix FAUST_ or F_: they set defaults of the worker (data dir, event loop, web transport, debug ...).
FAUST_VARIABLES = frozenset(prefix + name for prefix in ("FAUST_", "F_") for name in (
    "DATADIR", "WORKDIR", "LOOP", "DEBUG", "STRICT", "BLOCKING_TIMEOUT", "FORCE_BLOCKING_TIMEOUT", "CONSOLE_PORT",
    "WEB_PORT", "WEB_BIND", "F_WEB_BIND", "WEB_TRANSPORT"))


def ignore_faust_environment(environ: MutableMapping[str, str]) -> list[str]:
    """Remove Faust's own variables before Faust is imported: only NEWSWIRE_* settings configure the worker.

    (Faust's unprefixed ones, WEB_PORT and the like, are kept out by the
    app's explicit empty env; see workers.worker.app.)  Returns the names removed,
    each logged once as ignored.
    """
    removed = sorted(name for name in environ if name in FAUST_VARIABLES)
    for name in removed:
        del environ[name]
    if removed:
        print(f"newswire: ignoring Faust's own environment variables {', '.join(removed)}; "
              f"the worker is configured by NEWSWIRE_* settings only", file=sys.stderr)
    return removed


#: Backoff between start-up attempts while Kafka cannot be reached, and how often the wait is reported.
STARTUP_RETRY_S = (1.0, 10.0)
STARTUP_REPORT_S = 30.0


async def wait_for_kafka(attempt: Callable[[], Awaitable[Any]], *,
                         sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                         clock: Callable[[], float] = time.monotonic) -> Any:
    """Run ``attempt`` (the start-up topic check) until Kafka answers; a cause retrying cannot fix ends it.

    A worker started before its brokers (a deployment rolled out with Kafka,
    a broker restarting) waits for them, as its clients ride out a broker
    restart later: unreachable brokers are retried with backoff, reported on
    stderr at most every ``STARTUP_REPORT_S``.  Wrong credentials or TLS
    (``FATAL_CAUSES``) and anything else stop it with one line, as before.
    """
    from workers.kafka.diagnosis import FATAL_CAUSES, KafkaConnectError

    delay, reported_at = STARTUP_RETRY_S[0], None
    while True:
        try:
            return await attempt()
        except KafkaConnectError as err:
            if err.cause in FATAL_CAUSES:
                raise
            now = clock()
            if reported_at is None or now - reported_at >= STARTUP_REPORT_S:
                print(f"newswire: waiting for Kafka: {err.detail or err}", file=sys.stderr, flush=True)
                reported_at = now
        await sleep(delay)
        delay = min(delay * 2, STARTUP_RETRY_S[1])
