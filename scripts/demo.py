"""`make demo`: the whole path on this machine, then everything shut down again.

1. start the local Kafka broker (jars resolved by Maven on first use),
2. serve the sample pages in demo/pages/ from a local HTTP server on 127.0.0.1,
3. start one `newswire worker`,
4. submit one page's URL directly (and one that fails, to show a dead letter),
   and follow an RSS feed of the other pages; publish one more story in the
   feed and see only that one submitted at the next poll,
5. print a summary of each record as it arrives on the articles topic,
6. stop the worker, the page server and the broker.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.demo_feed import DemoFeed, newswire_feeds  # noqa: E402
from workers.cli.record_text import describe_article, describe_dead_letter  # noqa: E402
from workers.kafka.options import aiokafka_options  # noqa: E402
from workers.local import broker  # noqa: E402
from workers.local.pages import PageServer  # noqa: E402
from workers.local.run import WorkerProcess  # noqa: E402
from workers.settings import Settings  # noqa: E402

SEED_PAGE = ROOT / "tests" / "fixtures" / "seed-article.html"  # the article newswire started from


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m" if sys.stdout.isatty() else f"==> {message}", flush=True)


async def show_records(env: dict[str, str], expected: int, timeout: float = 180) -> int:
    settings = Settings.from_env(env)
    consumer = AIOKafkaConsumer(settings.articles_topic, settings.deadletter_topic, **aiokafka_options(settings),
                                group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        while seen < expected and time.monotonic() < deadline:
            for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                for message in messages:
                    seen += 1
                    record = orjson.loads(message.value)
                    if tp.topic == settings.deadletter_topic:
                        print("\n" + describe_dead_letter(record))
                    else:
                        print("\n" + describe_article(record))
    finally:
        await consumer.stop()
    return seen


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="newswire-demo-"))
    broker_dir = workdir / "broker"
    say(f"starting the local Kafka broker (dir {broker_dir})")
    bootstrap = broker.start(broker.free_port(), broker_dir, progress=lambda m: print("    " + m, flush=True)).bootstrap
    pages = PageServer().start()
    worker = None
    try:
        urls = pages.add_directory(ROOT / "demo" / "pages", prefix="/news/")
        urls.insert(0, pages.add_page("/news/blinken-gaza-talks.html", SEED_PAGE.read_bytes()))
        say(f"serving {len(urls)} sample pages at {pages.base_url}/news/")
        env = {
            **os.environ,
            "NEWSWIRE_BOOTSTRAP_SERVERS": bootstrap,
            "NEWSWIRE_FETCH_ALLOW_HOSTS": "127.0.0.1",
            "NEWSWIRE_LOG_LEVEL": os.environ.get("NEWSWIRE_LOG_LEVEL", "warn"),
            "NEWSWIRE_FEEDS_TICK_S": "0.5",
        }
        worker = WorkerProcess(env, workdir)
        say(f"starting a worker (metrics: http://127.0.0.1:{worker.port}/metrics, log: {worker.log_path})")
        worker.start().wait_ready(timeout=300)

        direct, via_feed = urls[:1], urls[1:]
        failing = pages.url("/news/no-such-article")
        say(f"submitting {len(direct) + 1} URLs directly (one of them does not exist)")
        subprocess.run([sys.executable, "-m", "workers", "submit", *direct, failing], env=worker.env, check=True)
        say(f"following an RSS feed of {len(via_feed) - 1} more pages (polled every 3 s)")
        feed = DemoFeed.serve(pages, via_feed[:-1])
        print(newswire_feeds(worker.env, "add", feed.url, "--every", "3s", "--source", "demo"), end="")
        feed.wait_polls(1)
        say("publishing one more story in the feed; the next poll submits only that one")
        feed.publish(via_feed[-1])
        feed.wait_polls(2)

        expected = len(urls) + 1
        say("records from the articles and dead-letter topics:")
        seen = asyncio.run(show_records(worker.env, expected))
        print()
        print(newswire_feeds(worker.env, "list"), end="")
        say(feed.summary())
        say(f"{seen} of {expected} submissions accounted for")
        return 0 if seen == expected else 1
    finally:
        say("shutting down")
        if worker is not None:
            worker.terminate()
        pages.stop()
        broker.stop(broker_dir)


if __name__ == "__main__":
    sys.exit(main())
