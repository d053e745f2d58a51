"""The ``newswire`` command.

    newswire broker start|stop|status     local single-node Kafka (KRaft)
    newswire worker                       run a worker (Faust) in the consumer group
    newswire submit URL... | -            submit URLs (or lines of stdin) to the URL topic
    newswire tail [--topic T] ...         print records of a topic as JSON lines
    newswire extract [--no-entities] INPUT...   run the pipeline without Kafka
    newswire topics                       create missing topics, check existing ones
    newswire config [--markdown]          show the effective settings (secrets masked)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import orjson

from .errors import ConfigError, NewswireError
from .settings import Settings

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

    from . import broker, feeds, schemas
    broker.add_cli(sub)
    feeds.add_cli(sub)
    schemas.add_cli(sub)

    p = sub.add_parser("worker", help="run a worker in the consumer group")
    p.set_defaults(handler=_cmd_worker)

    p = sub.add_parser("submit", help="submit article URLs to the URL topic")
    p.add_argument("urls", nargs="*", help="URLs; none or '-' reads one URL per line from stdin")
    p.add_argument("--source", help="source label carried into the records")
    p.set_defaults(handler=_cmd_submit)

    p = sub.add_parser("tail", help="print records of a topic as JSON lines")
    p.add_argument("--topic", help="topic name or role: articles (default), deadletter, entities, input")
    p.add_argument("--from-beginning", action="store_true", help="start at the oldest record instead of new ones")
    p.add_argument("--max", type=int, default=0, help="stop after N records (0: no limit)")
    p.add_argument("--timeout", type=float, default=0.0, help="stop after S seconds without a record (0: never)")
    p.set_defaults(handler=_cmd_tail)

    p = sub.add_parser("extract", help="run the pipeline on URLs or .html/.html.gz files, without Kafka")
    p.add_argument("inputs", nargs="+", help="http(s) URLs or paths to .html / .html.gz files")
    p.add_argument("--no-entities", action="store_true", help="skip named-entity recognition")
    p.add_argument("--explain", action="store_true", help="list each block the cleaning stages removed and the rule")
    p.set_defaults(handler=_cmd_extract)

    p = sub.add_parser("topics", help="create missing topics and check existing ones")
    p.set_defaults(handler=_cmd_topics)

    p = sub.add_parser("config", help="show the effective settings (secrets masked)")
    p.add_argument("--markdown", action="store_true", help="print the configuration reference as a Markdown table")
    p.set_defaults(handler=_cmd_config)
    return parser


# -- worker -------------------------------------------------------------------


def _cmd_worker(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    from .pipeline.entities import check_model_available
    from .topics import ensure_topics, internal_topic_specs, topic_specs

    if settings.entities_enabled:
        check_model_available(settings.spacy_model)  # a wrong model name is one line, not a broken pool
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


# -- submit / tail ------------------------------------------------------------


def _cmd_submit(args: argparse.Namespace) -> int:
    urls = list(_read_urls(args.urls))
    if not urls:
        print("newswire: no URLs given (pass them as arguments or one per line on stdin)", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    count = asyncio.run(_submit(settings, urls, args.source))
    print(f"submitted {count} URL(s) to {settings.input_topic}", file=sys.stderr)
    return 0


def _read_urls(items: Iterable[str]) -> Iterable[str]:
    items = list(items)
    if not items or items == ["-"]:
        items = sys.stdin.read().splitlines()
    for item in items:
        item = item.strip()
        if item and not item.startswith("#"):
            yield item


async def _submit(settings: Settings, urls: list[str], source: str | None) -> int:
    from aiokafka import AIOKafkaProducer

    from .kafka_errors import start_client
    from .kafka_options import aiokafka_options
    from .pipeline.submission import Submission, encode_submission
    from .pipeline.urls import canonicalize_url

    now = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all", enable_idempotence=True)
    await start_client(producer, settings)
    try:
        futures = []
        for url in urls:
            try:
                key = canonicalize_url(url).encode()
            except NewswireError:
                key = url.encode()  # the worker will dead-letter it with the reason
            value = encode_submission(Submission(url=url, source=source, submitted_at=now))
            futures.append(await producer.send(settings.input_topic, value=value, key=key))
        for fut in futures:
            await fut
    finally:
        await producer.stop()
    return len(urls)


_TOPIC_ROLES = {"articles": "articles_topic", "deadletter": "deadletter_topic",
                "entities": "entities_topic", "input": "input_topic", "urls": "input_topic"}


def _cmd_tail(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    topic = args.topic or "articles"
    topic = getattr(settings, _TOPIC_ROLES[topic]) if topic in _TOPIC_ROLES else topic
    asyncio.run(_tail(settings, topic, args.from_beginning, args.max, args.timeout))
    return 0


async def _tail(settings: Settings, topic: str, from_beginning: bool, max_records: int, timeout: float) -> None:
    from aiokafka import AIOKafkaConsumer

    from .kafka_errors import start_client
    from .kafka_options import aiokafka_options
    from .reading import read_batches

    consumer = AIOKafkaConsumer(topic, **aiokafka_options(settings), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest" if from_beginning else "latest",
                                isolation_level="read_committed")
    await start_client(consumer, settings)
    out = sys.stdout.buffer
    try:
        async for messages in read_batches(consumer, max_records=max_records, timeout=timeout):
            for message in messages:
                out.write(_as_json_line(message.value))
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


# -- extract ------------------------------------------------------------------


def _cmd_extract(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.explain:
        from .pipeline.explain import explain_inputs

        listing, failed = asyncio.run(explain_inputs(args.inputs, settings))
        print(listing)
        return 1 if failed else 0
    return asyncio.run(_extract(settings, args.inputs, entities=not args.no_entities))


async def _extract(settings: Settings, inputs: list[str], *, entities: bool) -> int:
    from .pipeline.record import dead_letter, dumps
    from .pipeline.runner import ArticlePipeline
    from .pipeline.submission import decode_submission

    pipeline = ArticlePipeline(settings, entities=entities, pool_size=min(settings.effective_pool_size, len(inputs)))

    async def one(item: str) -> tuple[bytes, bool]:
        try:
            if "://" in item:
                record = await pipeline.process(decode_submission(item))
            else:
                record = await pipeline.process_file(Path(item))
            return dumps(record), True
        except NewswireError as err:
            return dumps(dead_letter(err, url=item)), False

    failed = 0
    try:
        # Run concurrently, print in input order as results become available.
        tasks = [asyncio.ensure_future(one(item)) for item in inputs]
        for task in tasks:
            line, ok = await task
            failed += not ok
            sys.stdout.buffer.write(line + b"\n")
            sys.stdout.buffer.flush()
    finally:
        await pipeline.close()
    return 1 if failed else 0


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
