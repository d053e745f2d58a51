"""`make demo`: the whole path on this machine, then everything shut down again.

1. start the local Kafka broker (jars resolved by Maven on first use),
2. serve the sample pages in demo/pages/ from a local HTTP server on 127.0.0.1,
3. start one `newswire worker`,
4. submit the pages' URLs (and one that fails, to show a dead letter),
5. print a summary of each record as it arrives on the articles topic,
6. stop the worker, the page server and the broker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workers import broker  # noqa: E402
from workers.devserver import PageServer  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m" if sys.stdout.isatty() else f"==> {message}", flush=True)


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the worker exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                if orjson.loads(resp.read()).get("ready"):
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("the worker did not become ready in time")


async def show_records(bootstrap: str, env: dict[str, str], expected: int, timeout: float = 180) -> int:
    consumer = AIOKafkaConsumer(env["NEWSWIRE_ARTICLES_TOPIC"], env["NEWSWIRE_DEADLETTER_TOPIC"],
                                bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        while seen < expected and time.monotonic() < deadline:
            for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                for message in messages:
                    seen += 1
                    record = orjson.loads(message.value)
                    if tp.topic == env["NEWSWIRE_DEADLETTER_TOPIC"]:
                        print(f"\n[dead letter] {record['url']}\n  {record['stage']}/{record['error']}: {record['detail']}")
                        continue
                    top = ", ".join(f"{e['name']} ({e['label']})" for e in record["entities"][:6]) or "-"
                    print(f"\n[article] {record['title']}\n  site: {record['site_name']}   language: {record['language']}"
                          f"   published: {record['published']}   authors: {', '.join(record['authors']) or '-'}\n"
                          f"  words: {record['word_count']}   removed: {record['removed']}\n"
                          f"  entities: {top}\n  text: {record['text'][:160]}...")
    finally:
        await consumer.stop()
    return seen


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="newswire-demo-"))
    broker_dir = workdir / "broker"
    port = free_port()
    say(f"starting the local Kafka broker (dir {broker_dir})")
    bootstrap = broker.start(port, broker_dir, progress=lambda m: print("    " + m, flush=True)).bootstrap
    pages = PageServer().start()
    worker = None
    try:
        urls = pages.add_directory(ROOT / "demo" / "pages", prefix="/news/")
        say(f"serving {len(urls)} sample pages at {pages.base_url}/news/")
        web_port = free_port()
        env = {
            **os.environ,
            "NEWSWIRE_BOOTSTRAP_SERVERS": bootstrap,
            "NEWSWIRE_FETCH_ALLOW_HOSTS": "127.0.0.1",
            "NEWSWIRE_WEB_PORT": str(web_port),
            "NEWSWIRE_DATA_DIR": str(workdir / "worker"),
            "NEWSWIRE_LOG_LEVEL": os.environ.get("NEWSWIRE_LOG_LEVEL", "warn"),
            "NEWSWIRE_LOG_FORMAT": "text",
        }
        for name in ("INPUT", "ARTICLES", "DEADLETTER"):
            env.setdefault(f"NEWSWIRE_{name}_TOPIC", f"newswire.{name.lower() if name != 'INPUT' else 'urls'}")
        say(f"starting a worker (metrics: http://127.0.0.1:{web_port}/metrics)")
        worker = subprocess.Popen([sys.executable, "-m", "workers", "worker"], env=env,
                                  stdout=open(workdir / "worker.log", "wb"), stderr=subprocess.STDOUT)
        wait_ready(web_port, worker)
        failing = pages.url("/news/no-such-article")
        say(f"submitting {len(urls) + 1} URLs (one of them does not exist)")
        subprocess.run([sys.executable, "-m", "workers", "submit", *urls, failing], env=env, check=True)
        say("records from the articles and dead-letter topics:")
        seen = asyncio.run(show_records(bootstrap, env, len(urls) + 1))
        print()
        say(f"{seen} of {len(urls) + 1} submissions accounted for")
        return 0 if seen == len(urls) + 1 else 1
    finally:
        say("shutting down")
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
        pages.stop()
        broker.stop(broker_dir)


if __name__ == "__main__":
    sys.exit(main())
