"""``newswire tail``: print records of a topic as JSON lines or in a few human lines."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import Any

import orjson

from workers.settings import Settings

__all__ = ['add_cli', 'as_json_line', 'as_short_text', 'run']


def add_cli(sub: Any) -> None:
    p = sub.add_parser("tail", help="print records of a topic as JSON lines")
    p.add_argument("--topic", help="topic name or role: articles (default), deadletter, entities, input")
    p.add_argument("--from-beginning", action="store_true", help="start at the oldest record instead of new ones")
    p.add_argument("--max", type=int, default=0, help="stop after N records (0: no limit)")
    p.add_argument("--timeout", type=float, default=0.0, help="stop after S seconds without a record (0: never)")
    p.add_argument("--follow", action="store_true", help="keep reading until interrupted (--max 0 --timeout 0)")
    p.add_argument("--format", choices=("json", "short"), default="json",
                   help="json: one JSON line per record (default); short: a few human lines per record")
    p.set_defaults(handler=run)


_TOPIC_ROLES = {"articles": "articles_topic", "deadletter": "deadletter_topic",
                "entities": "entities_topic", "input": "input_topic", "urls": "input_topic"}


def run(args: argparse.Namespace) -> int:
    if args.follow and (args.max or args.timeout):
        print("newswire: --follow reads until interrupted; it does not go with --max or --timeout", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    topic = args.topic or "articles"
    topic = getattr(settings, _TOPIC_ROLES[topic]) if topic in _TOPIC_ROLES else topic
    line = as_short_text if args.format == "short" else as_json_line
    asyncio.run(_tail(settings, topic, args.from_beginning, args.max, args.timeout, line))
    return 0


async def _tail(settings: Settings, topic: str, from_beginning: bool, max_records: int, timeout: float,
                line: Callable[[bytes | None], bytes] | None = None) -> None:
    from aiokafka import AIOKafkaConsumer

    from workers.kafka.diagnosis import start_client
    from workers.kafka.options import aiokafka_options
    from workers.kafka.reading import read_batches

    line = line or as_json_line
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


def as_json_line(value: bytes | None) -> bytes:
    if value is None:
        return b"null\n"
    try:
        return orjson.dumps(orjson.loads(value)) + b"\n"
    except orjson.JSONDecodeError:
        return orjson.dumps(value.decode("utf-8", errors="replace")) + b"\n"


def as_short_text(value: bytes | None) -> bytes:
    """The demo's human form of a record, a blank line after each."""
    from workers.cli.record_text import describe

    if value is None:
        return b"(tombstone)\n\n"
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError:
        record = value.decode("utf-8", errors="replace")
    return describe(record).encode() + b"\n\n"
