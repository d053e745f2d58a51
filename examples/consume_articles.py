"""A downstream consumer of newswire's articles topic: prints title, site and top entities.

    python examples/consume_articles.py --group my-team [--from-beginning] [--max N] [--timeout S]
    newswire tail --topic articles --from-beginning --max 5 | python examples/consume_articles.py --stdin

It joins its own consumer group (so several copies share the partitions and a
restart resumes where it stopped), commits offsets only after printing, and
follows the consumer rules of schemas/README.md:

* read ``schema_version`` (header or field) and skip majors it does not know;
* ignore fields it does not use (later minor versions add fields);
* treat a null value as a deletion marker of a compacted topic, not a record.

Connection options (bootstrap servers, and TLS/SASL once configured) come from
the NEWSWIRE_* environment through ``workers.kafka.options``, the same way the
worker connects; ``--bootstrap`` overrides the servers only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import orjson

SUPPORTED_MAJOR = "1"


def describe(record: dict[str, Any], top: int = 5) -> str:
    """Two lines for one article record: headline with site and date, then its top entities."""
    title = record.get("title") or "(untitled)"
    site = record.get("site_name") or record.get("canonical_url") or "?"
    published = f" ({record['published']})" if record.get("published") else ""
    entities = record.get("entities") or []  # already sorted by salience, most salient first
    names = ", ".join(f"{e['name']} ({e['label']})" for e in entities[:top]) or "(none)"
    return f"{title} | {site}{published}\n    top entities: {names}"


def supported(version: bytes | str | None) -> bool:
    if version is None:
        return True  # no header: read the field
    text = version.decode() if isinstance(version, bytes) else str(version)
    return text.split(".", 1)[0] == SUPPORTED_MAJOR


def parse(value: bytes | None, headers: dict[str, bytes], out_err: TextIO) -> dict[str, Any] | None:
    """The record in a message, or None for a deletion marker, a foreign major or bad JSON."""
    if value is None:
        return None
    if not supported(headers.get("schema_version")):
        print(f"skipped a record of schema version {headers['schema_version']!r}", file=out_err)
        return None
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError:
        print("skipped a message that is not JSON", file=out_err)
        return None
    if not isinstance(record, dict) or not supported(record.get("schema_version")):
        print("skipped a message that is not an article record of a supported version", file=out_err)
        return None
    return record


def connection_settings(bootstrap: str | None) -> Any:
    """NEWSWIRE_* settings (TLS/SASL included), with --bootstrap overriding the servers."""
    from workers.settings import Settings

    settings = Settings.from_env()
    return settings.replace(bootstrap_servers=bootstrap) if bootstrap else settings


def default_topic() -> str:
    from workers.settings import Settings

    return Settings.from_env().articles_topic


async def consume(topic: str, group: str, *, bootstrap: str | None, from_beginning: bool, max_records: int,
                  timeout: float, top: int, out: TextIO = sys.stdout, out_err: TextIO = sys.stderr) -> int:
    from aiokafka import AIOKafkaConsumer

    from workers.kafka.diagnosis import start_client
    from workers.kafka.options import aiokafka_options
    from workers.kafka.reading import read_batches

    settings = connection_settings(bootstrap)
    consumer = AIOKafkaConsumer(
        topic,
        **aiokafka_options(settings),
        group_id=group,
        # Where a *new* group starts; a group that committed offsets resumes from them.
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        isolation_level="read_committed",  # never show records of an aborted transaction
    )
    await start_client(consumer, settings)  # a connection problem is one line naming its cause
    printed = 0
    try:
        async for messages in read_batches(consumer, max_records=max_records, timeout=timeout):
            for message in messages:
                record = parse(message.value, dict(message.headers or ()), out_err)
                if record is not None:
                    print(describe(record, top), file=out, flush=True)
                    printed += 1
            await consumer.commit()  # only what was printed: a crash re-reads, never skips
    finally:
        await consumer.stop()
    return printed


def from_lines(lines: Iterable[bytes], top: int, out: TextIO = sys.stdout, out_err: TextIO = sys.stderr) -> int:
    """The same output from JSON lines (``newswire tail``)."""
    printed = 0
    for line in lines:
        line = line.strip()
        if not line or line == b"null":
            continue
        record = parse(line, {}, out_err)
        if record is not None:
            print(describe(record, top), file=out, flush=True)
            printed += 1
    return printed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print title, site and top entities of newswire article records.")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: NEWSWIRE_BOOTSTRAP_SERVERS)")
    parser.add_argument("--topic", help="articles topic (default: NEWSWIRE_ARTICLES_TOPIC)")
    parser.add_argument("--group", default="newswire-example", help="consumer group of this consumer")
    parser.add_argument("--from-beginning", action="store_true",
                        help="a new group starts at the oldest record (replay) instead of new ones")
    parser.add_argument("--max", type=int, default=0, help="stop after N records (0: no limit)")
    parser.add_argument("--timeout", type=float, default=0.0, help="stop after S seconds without a record (0: never)")
    parser.add_argument("--top", type=int, default=5, help="entities shown per article")
    parser.add_argument("--stdin", action="store_true", help="read JSON lines (newswire tail) instead of Kafka")
    args = parser.parse_args(argv)
    if args.stdin:
        from_lines(sys.stdin.buffer, args.top)
        return 0
    from workers.errors import ConfigError

    try:
        asyncio.run(consume(args.topic or default_topic(), args.group, bootstrap=args.bootstrap,
                            from_beginning=args.from_beginning, max_records=args.max, timeout=args.timeout,
                            top=args.top))
    except KeyboardInterrupt:
        return 130
    except ConfigError as err:
        print(f"consume_articles: {err.detail}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
