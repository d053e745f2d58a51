"""The ``newswire`` command.

    newswire broker start|stop|status     local single-node Kafka (KRaft)
    newswire worker                       run a worker (Faust) in the consumer group
    newswire submit [--refresh] URL... | -   submit URLs (or lines of stdin) to the URL topic
    newswire tail [--topic T] [--follow] [--format json|short] ...   print records of a topic
    newswire extract [--no-entities] INPUT... | -   run the pipeline without Kafka
    newswire status [--port P | --url U]  what a running worker is doing, in plain words
    newswire topics                       create missing topics, check existing ones
    newswire config [--markdown]          show the effective settings (secrets masked)
    newswire sites [--url U]... [--json]  per-site outcomes from running workers' /metrics
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, MutableMapping, Sequence

import orjson

from .cli_inputs import Inputs, Lines, extract_inputs, ordered
from .cli_progress import Progress, extract_summary, submit_summary, wants_progress
from .cli_submit import send_urls
from .errors import ConfigError, NewswireError
from .settings import Settings

if TYPE_CHECKING:
    from .pipeline.runner import ArticlePipeline

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except ConfigError as err:
        print(f"newswire: {err.detail or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newswire", description="Streaming ingestion worker for news on Kafka.")
    sub = parser.add_subparsers(dest="command")

    from . import broker, cli_status, feeds, schemas, sitereport
    broker.add_cli(sub)
    feeds.add_cli(sub)
    schemas.add_cli(sub)
    cli_status.add_cli(sub)
    sitereport.add_cli(sub)

    p = sub.add_parser("worker", help="run a worker in the consumer group")
    p.set_defaults(handler=_cmd_worker)

    p = sub.add_parser("submit", help="submit article URLs to the URL topic")
    p.add_argument("urls", nargs="*", help="URLs; none or '-' reads one URL per line from stdin")
    p.add_argument("--source", help="source label carried into the records")
    p.add_argument("--refresh", action="store_true",
                   help="fetch again even if recorded within the dedupe window; a changed article gets a new version "
                        "and a revision message, an unchanged one publishes nothing")
    _add_quiet(p)
    p.set_defaults(handler=_cmd_submit)

    p = sub.add_parser("tail", help="print records of a topic as JSON lines")
    p.add_argument("--topic", help="topic name or role: articles (default), deadletter, entities, revisions, input")
    p.add_argument("--from-beginning", action="store_true", help="start at the oldest record instead of new ones")
    p.add_argument("--max", type=int, default=0, help="stop after N records (0: no limit)")
    p.add_argument("--timeout", type=float, default=0.0, help="stop after S seconds without a record (0: never)")
    p.add_argument("--follow", action="store_true", help="keep reading until interrupted (--max 0 --timeout 0)")
    p.add_argument("--format", choices=("json", "short"), default="json",
                   help="json: one JSON line per record (default); short: a few human lines per record")
    p.set_defaults(handler=_cmd_tail)

    p = sub.add_parser("extract", help="run the pipeline on URLs or .html/.html.gz files, without Kafka")
    p.add_argument("inputs", nargs="+", help="http(s) URLs or paths to .html / .html.gz files; '-' reads them "
                   "from stdin, one per line")
    p.add_argument("--no-entities", action="store_true", help="skip named-entity recognition")
    _add_quiet(p)
    p.add_argument("--explain", action="store_true", help="list each block the cleaning stages removed and the rule")
    p.set_defaults(handler=_cmd_extract)

    p = sub.add_parser("topics", help="create missing topics and check existing ones")
    p.set_defaults(handler=_cmd_topics)

    p = sub.add_parser("config", help="show the effective settings (secrets masked)")
    p.add_argument("--markdown", action="store_true", help="print the configuration reference as a Markdown table")
    p.set_defaults(handler=_cmd_config)
    return parser


def _add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress line and no summary on stderr (a progress line is only ever drawn on a terminal)")


# -- worker -------------------------------------------------------------------


def _cmd_worker(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    _prepare_data_dir(settings.data_dir)
    _ignore_faust_environment(os.environ)
    from .pipeline.entities import check_model_available
    from .topics import ensure_topics, internal_topic_specs, topic_specs

    if settings.entities_enabled:
        for _language, model in settings.ner_models:  # a wrong model name is one line, not a broken pool
            check_model_available(model)
    asyncio.run(ensure_topics(settings, topic_specs(settings) + internal_topic_specs(settings)))
    from .logs import faust_logging_config
    from . import app as app_module, agents, web  # noqa: F401  (registers agents and pages)
    from .feeds import agents as feed_agents  # noqa: F401  (feed subscriptions, state tables, polling timer)
    from .kafka_errors import CredentialWatch
    from faust.worker import Worker

    worker = Worker(
        app_module.app,
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


def _prepare_data_dir(data_dir: str) -> None:
    """Create the worker's data dir with its parents (Faust creates only the last level)."""
    try:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"NEWSWIRE_DATA_DIR={data_dir}: cannot create the worker's data directory ({reason}); "
                          f"set NEWSWIRE_DATA_DIR to a writable directory") from None


#: The variables faust-streaming 0.15 reads at import (faust/__init__.py, faust/types/_env.py), each with
#: the prefix FAUST_ or F_: they set defaults of the worker (data dir, event loop, web transport, debug ...).
_FAUST_VARIABLES = frozenset(prefix + name for prefix in ("FAUST_", "F_") for name in (
    "DATADIR", "WORKDIR", "LOOP", "DEBUG", "STRICT", "BLOCKING_TIMEOUT", "FORCE_BLOCKING_TIMEOUT", "CONSOLE_PORT",
    "WEB_PORT", "WEB_BIND", "F_WEB_BIND", "WEB_TRANSPORT"))


def _ignore_faust_environment(environ: MutableMapping[str, str]) -> list[str]:
    """Remove Faust's own variables before Faust is imported: only NEWSWIRE_* settings configure the worker.

    (Faust's unprefixed ones, WEB_PORT and the like, are kept out by the
    app's explicit empty env; see workers.app.)  Returns the names removed,
    each logged once as ignored.
    """
    removed = sorted(name for name in environ if name in _FAUST_VARIABLES)
    for name in removed:
        del environ[name]
    if removed:
        print(f"newswire: ignoring Faust's own environment variables {', '.join(removed)}; "
              f"the worker is configured by NEWSWIRE_* settings only", file=sys.stderr)
    return removed


# -- submit / tail ------------------------------------------------------------


def _cmd_submit(args: argparse.Namespace) -> int:
    lines = Lines()
    urls = list(lines(_url_lines(args.urls)))
    if not urls:
        print("newswire: no URLs given (pass them as arguments or one per line on stdin)", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    with Progress(total=len(urls), unit="url", enabled=wants_progress(sys.stderr, quiet=args.quiet)) as progress:
        invalid = asyncio.run(send_urls(settings, urls, args.source, progress, refresh=args.refresh))
    print(f"submitted {progress.tally.succeeded} URL(s) to {settings.input_topic}", file=sys.stderr)
    if not args.quiet:
        print(submit_summary(progress.tally, skipped=lines.skipped, invalid=invalid), file=sys.stderr)
    return 1 if progress.tally.failed else 0


def _url_lines(items: Sequence[str]) -> Iterable[str]:
    if not items or list(items) == ["-"]:
        return sys.stdin.read().splitlines()
    return items


_TOPIC_ROLES = {"articles": "articles_topic", "deadletter": "deadletter_topic",
                "entities": "entities_topic", "revisions": "revisions_topic", "input": "input_topic",
                "urls": "input_topic"}


def _cmd_tail(args: argparse.Namespace) -> int:
    if args.follow and (args.max or args.timeout):
        print("newswire: --follow reads until interrupted; it does not go with --max or --timeout", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    topic = args.topic or "articles"
    topic = getattr(settings, _TOPIC_ROLES[topic]) if topic in _TOPIC_ROLES else topic
    line = _as_short_text if args.format == "short" else _as_json_line
    asyncio.run(_tail(settings, topic, args.from_beginning, args.max, args.timeout, line))
    return 0


async def _tail(settings: Settings, topic: str, from_beginning: bool, max_records: int, timeout: float,
                line: Callable[[bytes | None], bytes] | None = None) -> None:
    from aiokafka import AIOKafkaConsumer

    from .kafka_errors import start_client
    from .kafka_options import aiokafka_options
    from .reading import read_batches

    line = line or _as_json_line
    consumer = AIOKafkaConsumer(topic, **aiokafka_options(settings), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest" if from_beginning else "latest",
                                isolation_level="read_committed")
    await start_client(consumer, settings)
    out = sys.stdout.buffer
    try:
        async for messages in read_batches(consumer, max_records=max_records, timeout=timeout):
            for message in messages:
                out.write(line(message.value))
            out.flush()
    finally:
        await consumer.stop()


def _as_json_line(value: bytes | None) -> bytes:
    if value is None:
        return b"null\n"
    try:
        return orjson.dumps(orjson.loads(value)) + b"\n"
    except orjson.JSONDecodeError:
        return orjson.dumps(value.decode("utf-8", errors="replace")) + b"\n"


def _as_short_text(value: bytes | None) -> bytes:
    """The demo's human form of a record, a blank line after each."""
    from .record_text import describe

    if value is None:
        return b"(tombstone)\n\n"
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError:
        record = value.decode("utf-8", errors="replace")
    return describe(record).encode() + b"\n\n"


# -- extract ------------------------------------------------------------------


def _cmd_extract(args: argparse.Namespace) -> int:
    if "-" in args.inputs and args.inputs != ["-"]:
        print("newswire: '-' (inputs from stdin) goes alone, without other inputs", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    if args.explain:
        from .pipeline.explain import explain_inputs

        items = list(Lines()(sys.stdin)) if args.inputs == ["-"] else args.inputs
        listing, failed = asyncio.run(explain_inputs(items, settings))
        print(listing)
        return 1 if failed else 0
    inputs, total = extract_inputs(args.inputs, sys.stdin)
    with Progress(total=total, unit="page", enabled=wants_progress(sys.stderr, quiet=args.quiet)) as progress:
        try:
            code = asyncio.run(_extract(settings, inputs, entities=not args.no_entities, progress=progress,
                                        expected=total))
        except KeyboardInterrupt:  # stopped by hand: still say how far it got
            progress.close()
            if not args.quiet and progress.tally.done:
                print(extract_summary(progress.tally) + " (interrupted)", file=sys.stderr)
            raise
    if progress.tally.done == 0:
        print("newswire: no inputs given (pass them as arguments, or one per line on stdin with '-')", file=sys.stderr)
        return 2
    if not args.quiet:
        print(extract_summary(progress.tally), file=sys.stderr)
    return code


async def _extract(settings: Settings, inputs: Inputs, *, entities: bool,
                   progress: Progress | None = None, expected: int | None = None,
                   pipeline: "ArticlePipeline | None" = None) -> int:
    """Print one JSON line per input, in input order; 1 if any input failed.

    ``pipeline`` lets a caller (the benchmark) reuse a warm pool across runs;
    one made here is closed here.
    """
    from .pipeline.record import dead_letter, dumps
    from .pipeline.runner import ArticlePipeline
    from .pipeline.submission import decode_submission

    progress = progress or Progress(total=expected, unit="page", enabled=False)
    pool_size = min(settings.effective_pool_size, expected or settings.effective_pool_size)
    own = pipeline is None
    pipeline = pipeline or ArticlePipeline(settings, entities=entities, pool_size=max(1, pool_size))

    async def one(item: str) -> tuple[bytes, str | None]:
        try:
            if "://" in item:
                record = await pipeline.process(decode_submission(item))
            else:
                record = await pipeline.process_file(Path(item))
            return dumps(record), None
        except NewswireError as err:
            return dumps(dead_letter(err, url=item)), err.error_code

    out = sys.stdout.buffer
    try:
        # Run concurrently (a bounded window), print in input order as results become available.
        window = max(settings.max_in_flight, 4 * pipeline.pool.size)
        async for line, failure in ordered(inputs, one, window):
            with progress.writing_output():
                out.write(line + b"\n")
                out.flush()
            progress.advance(failure)
    finally:
        if own:
            await pipeline.close()
    return 1 if progress.tally.failed else 0


# -- topics / config --------------------------------------------------------------


def _cmd_topics(args: argparse.Namespace) -> int:
    from .topics import ensure_topics, topic_specs

    settings = Settings.from_env()
    created = asyncio.run(ensure_topics(settings))
    for spec in topic_specs(settings):
        state = "created" if spec.name in created else "ok"
        print(f"{spec.name}\t{spec.partitions} partitions\t{state}")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from .settings import config_reference_markdown

    if args.markdown:
        print(config_reference_markdown())
        return 0
    settings = Settings.from_env()
    for name, value in settings.describe().items():
        if isinstance(value, tuple):
            value = ",".join(value)
        print(f"{name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
