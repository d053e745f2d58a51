"""``newswire feeds add|remove|list``: manage feed subscriptions on the compacted feeds topic.

    newswire feeds add URL... [--every 10m] [--source LABEL] [--kind auto|rss|atom|sitemap]
    newswire feeds add --discover https://site.example/ [--every 10m]
    newswire feeds remove URL...
    newswire feeds list [--json]

Subscriptions are messages keyed by the canonical feed URL; ``remove`` writes
a tombstone.  Workers pick up every change while running.  ``list`` reads the
subscriptions and the latest status each worker published after polling.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from workers.errors import NewswireError
from workers.settings import Settings

from .config import FeedSettings
from .model import FEED_KINDS, FeedStatus, Subscription, format_interval, parse_interval

__all__ = ["add_cli", "main"]


def add_cli(subparsers: Any) -> None:
    """Register ``feeds add|remove|list``; each sets ``handler(args) -> exit code``."""
    parser = subparsers.add_parser("feeds", help="follow RSS/Atom feeds and sitemaps as URL sources",
                                   description="Manage the feeds the workers poll for new article URLs.")
    _add_actions(parser)


def _add_actions(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="feeds_command")
    parser.set_defaults(handler=lambda args: _usage(parser))

    p = sub.add_parser("add", help="subscribe to feeds (or, with --discover, to the feeds a site advertises)")
    p.add_argument("urls", nargs="+", help="feed URLs (RSS, Atom, RDF, sitemap, sitemap index); sites with --discover")
    p.add_argument("--every", type=_interval, help="poll interval, e.g. 90s, 10m, 1h (default: "
                   "NEWSWIRE_FEEDS_DEFAULT_INTERVAL_S)")
    p.add_argument("--source", help="label carried in the submissions' metadata")
    p.add_argument("--kind", choices=FEED_KINDS, default="auto", help="document type (default: detect)")
    p.add_argument("--discover", action="store_true",
                   help="treat the URLs as sites: add the feeds of their <link rel=alternate> tags and "
                        "robots.txt sitemaps")
    p.add_argument("--disabled", action="store_true", help="add the feeds without polling them yet")
    p.set_defaults(handler=_cmd_add)

    p = sub.add_parser("remove", help="unsubscribe from feeds")
    p.add_argument("urls", nargs="+", help="feed URLs as added")
    p.set_defaults(handler=_cmd_remove)

    p = sub.add_parser("list", help="show the feeds with their last poll, status and items seen")
    p.add_argument("--json", action="store_true", help="one JSON object per feed")
    p.set_defaults(handler=_cmd_list)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _interval(text: str) -> float:
    try:
        return parse_interval(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- add / remove -----------------------------------------------------------------


def _cmd_add(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    feeds = FeedSettings.from_settings(settings)
    interval = args.every or feeds.feeds_default_interval_s
    targets: list[tuple[str, str]] = [(url, args.kind) for url in args.urls]
    if args.discover:
        found = asyncio.run(_discover(settings, args.urls))
        if not found:
            print("newswire: no feeds found", file=sys.stderr)
            return 1
        for feed in found:
            title = f"  ({feed.title})" if feed.title else ""
            print(f"found {feed.kind}\t{feed.url}\tin {feed.found_in}{title}", file=sys.stderr)
        targets = [(feed.url, feed.kind if args.kind == "auto" else args.kind) for feed in found]
    subs, bad = [], 0
    for url, kind in targets:
        try:
            subs.append(Subscription.create(url, kind=kind, interval_s=interval, enabled=not args.disabled,
                                            source=args.source))
        except NewswireError as exc:
            print(f"newswire: {url}: {exc}", file=sys.stderr)
            bad += 1
    if subs:
        asyncio.run(_produce(settings, [(s.key, s.to_json()) for s in subs]))
    for sub in subs:
        print(f"added\t{sub.url}\tevery {format_interval(sub.interval_s)}", file=sys.stderr)
    return 1 if bad else 0


def _cmd_remove(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    keys, bad = [], 0
    for url in args.urls:
        try:
            keys.append(Subscription.create(url).key)
        except NewswireError as exc:
            print(f"newswire: {url}: {exc}", file=sys.stderr)
            bad += 1
    if keys:
        asyncio.run(_produce(settings, [(key, None) for key in keys]))
    for key in keys:
        print(f"removed\t{key.decode()}", file=sys.stderr)
    return 1 if bad else 0


async def _discover(settings: Settings, sites: list[str]) -> list:
    from workers.pipeline.fetch import FetchConfig

    from .discover import discover_feeds
    from .fetch import FeedFetcher

    found = []
    async with FeedFetcher(FetchConfig.from_settings(settings)) as fetcher:
        for site in sites:
            found.extend(await discover_feeds(fetcher, site))
    return found


async def _ensure_topics(settings: Settings) -> None:
    from workers.contract.topics import ensure_topics

    from .topics import feed_topic_specs

    await ensure_topics(settings, feed_topic_specs(settings))


async def _produce(settings: Settings, messages: list[tuple[bytes, bytes | None]]) -> None:
    from aiokafka import AIOKafkaProducer

    from workers.kafka.options import aiokafka_options

    await _ensure_topics(settings)
    topic = FeedSettings.from_settings(settings).feeds_topic
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=key, value=value) for key, value in messages]
        for fut in futures:
            await fut
    finally:
        await producer.stop()


# -- list ---------------------------------------------------------------------------


def _cmd_list(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    feeds = FeedSettings.from_settings(settings)
    subs_raw, status_raw = asyncio.run(_read_compacted(settings, [feeds.feeds_topic, feeds.feeds_status_topic]))
    rows = []
    for key, value in sorted(subs_raw.items()):
        try:
            sub = Subscription.from_json(value)
        except NewswireError:
            continue
        status = FeedStatus.from_json(status_raw[key]) if key in status_raw else FeedStatus(url=sub.url)
        rows.append((sub, status))
    if args.json:
        for sub, status in rows:
            body = orjson.loads(sub.to_json()) | {"status": orjson.loads(status.to_json())}
            sys.stdout.buffer.write(orjson.dumps(body) + b"\n")
        sys.stdout.flush()
        return 0
    now = time.time()
    table = [("FEED", "EVERY", "ENABLED", "LAST POLL", "STATUS", "ITEMS", "SOURCE")]
    for sub, status in rows:
        table.append((sub.url, format_interval(sub.interval_s), "yes" if sub.enabled else "no",
                      _ago(status.last_poll_at, now), status.last_status, str(status.items_seen), sub.source or "-"))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    for sub, status in rows:
        if status.last_error:
            print(f"  {sub.url}: {status.last_error}", file=sys.stderr)
    return 0


def _ago(epoch: float, now: float) -> str:
    if not epoch:
        return "never"
    seconds = max(0, int(now - epoch))
    stamp = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{stamp} ({seconds // size}{unit} ago)"
    return f"{stamp} ({seconds}s ago)"


async def _read_compacted(settings: Settings, names: list[str]) -> list[dict[bytes, bytes]]:
    """The latest value per key of each topic, read from the beginning to the current end."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from workers.kafka.options import aiokafka_options

    await _ensure_topics(settings)
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), group_id=None, enable_auto_commit=False,
                                isolation_level="read_committed")
    await consumer.start()
    try:
        # ensure_topics has checked that both topics have this many partitions
        partitions = [TopicPartition(name, p) for name in names for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        latest: dict[str, dict[bytes, bytes]] = {name: {} for name in names}
        pending = {tp for tp in partitions if ends[tp] > 0}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, messages in batch.items():
                for message in messages:
                    if message.key is None:
                        continue
                    if message.value is None:
                        latest[tp.topic].pop(message.key, None)
                    else:
                        latest[tp.topic][message.key] = message.value
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        return [latest[name] for name in names]
    finally:
        await consumer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="newswire feeds", description=__doc__.splitlines()[0])
    _add_actions(parser)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except NewswireError as err:
        print(f"newswire: {err.detail or err}", file=sys.stderr)
        return 2
