"""Backpressure: one real worker drains a burst of 10,000 URLs with bounded memory and no rebalance.

Run:  .venv/bin/python benchmarks/backpressure.py [--urls 10000] [--bootstrap HOST:PORT]

Without ``--bootstrap`` a throwaway broker is started (and stopped) in a
temporary directory.  One ``newswire worker`` (at_least_once, entities off,
one pool process, NEWSWIRE_MAX_IN_FLIGHT=16) gets the whole burst at once;
the pages are tiny and served from 127.0.0.1.  Reported, all measured in
this run:

* RSS of the worker and its pool process (sum, from /proc) at 10 %, 50 % and
  100 % of the outputs, and the ratio end / mid: bounded memory means the
  ratio stays near 1 (the check is <= 1.5), it does not grow with the backlog;
* the number of partition assignments after the first one (rebalances: a
  blocked loop misses heartbeats and gets the worker thrown out of the
  group; the check is 0);
* the highest number of URLs in flight seen on /metrics
  (``newswire_urls_in_flight``), against NEWSWIRE_MAX_IN_FLIGHT;
* throughput (URLs/s), for information only.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers.reliability import OutputReader, _descendants, reliability_env  # noqa: E402
from tests.helpers.workerproc import WorkerProcess  # noqa: E402
from workers.local import broker  # noqa: E402
from workers.local.pages import PageServer  # noqa: E402
from workers.pipeline.submission import Submission, encode_submission  # noqa: E402

MAX_IN_FLIGHT = 16


def tiny_page(i: int) -> bytes:
    return (f"<html lang='en'><head><title>Item {i}</title></head><body><article><h1>Item {i}</h1>"
            f"<p>Short report number {i} about the harbour, the council and the budget for {i % 97} streets.</p>"
            f"<p>Second paragraph of report {i}, long enough to be kept as article text by the extractor.</p>"
            "</article></body></html>").encode()


def rss_kib(pid: int) -> int:
    """RSS of ``pid`` and all its descendants (the pool process, its resource tracker), in KiB."""
    total = 0
    for p in [pid, *_descendants(pid)]:
        try:
            match = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{p}/status").read_text())
            total += int(match.group(1)) if match else 0
        except OSError:
            pass
    return total


def in_flight(worker: WorkerProcess) -> float:
    try:
        _, body = worker.get("/metrics")
    except OSError:
        return 0.0
    match = re.search(rb"^newswire_urls_in_flight (\S+)", body, re.M)
    return float(match.group(1)) if match else 0.0


async def produce_burst(bootstrap: str, topic: str, urls: list[str]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        futures = [await producer.send(topic, encode_submission(Submission(url=u))) for u in urls]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def run(bootstrap: str, n: int, workdir: Path) -> int:
    env = reliability_env(bootstrap, "at_least_once", NEWSWIRE_MAX_IN_FLIGHT=str(MAX_IN_FLIGHT),
                          NEWSWIRE_ENTITIES_TOPIC="", NEWSWIRE_LOG_LEVEL="warn", NEWSWIRE_FETCH_BACKOFF_MAX_S="1")
    with PageServer() as server:
        urls = [server.add_page(f"/p/{i}", tiny_page(i)) for i in range(n)]
        worker = WorkerProcess(env, workdir, "bench").start()
        try:
            worker.wait_ready()
            assignments_before = worker.log_path.read_text(errors="replace").count("Executing _on_partitions_assigned")
            async with OutputReader(bootstrap, env["NEWSWIRE_ARTICLES_TOPIC"], env["NEWSWIRE_DEADLETTER_TOPIC"]) as out:
                started = time.monotonic()
                await produce_burst(bootstrap, env["NEWSWIRE_INPUT_TOPIC"], urls)
                samples: dict[str, int] = {}
                peak_in_flight = 0.0
                marks = {"10%": 0.1, "50%": 0.5, "100%": 1.0}
                deadline = started + 1800
                while time.monotonic() < deadline and out.count < n:
                    await asyncio.sleep(0.5)
                    peak_in_flight = max(peak_in_flight, in_flight(worker))
                    for name, share in marks.items():
                        if name not in samples and out.count >= n * share:
                            samples[name] = rss_kib(worker.proc.pid)
                            print(f"{name} of outputs after {time.monotonic() - started:.0f} s: "
                                  f"rss_kib={samples[name]} in_flight_peak={peak_in_flight:.0f}", flush=True)
                elapsed = time.monotonic() - started
                samples.setdefault("100%", rss_kib(worker.proc.pid))
            log = worker.log_path.read_text(errors="replace")
            rebalances = log.count("Executing _on_partitions_assigned") - assignments_before
        finally:
            worker.terminate()
    mid, end = samples.get("50%", 0), samples["100%"]
    ratio = end / mid if mid else float("nan")
    print(f"urls={n} outputs={out.count} records={len(out.articles)} dead_letters={len(out.letters)} "
          f"elapsed_s={elapsed:.1f} urls_per_s={out.count / elapsed:.1f}")
    print("rss_kib " + " ".join(f"{k}={v}" for k, v in samples.items()) + f" end/mid={ratio:.2f} (check <= 1.5)")
    print(f"rebalances_after_start={rebalances} (check 0) peak_in_flight={peak_in_flight:.0f} "
          f"(max_in_flight={MAX_IN_FLIGHT})")
    ok = out.count >= n and rebalances == 0 and ratio <= 1.5 and peak_in_flight <= MAX_IN_FLIGHT
    print("OK" if ok else "CHECK FAILED")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=10_000)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newswire-bp-") as tmp:
        workdir = Path(tmp)
        if args.bootstrap:
            return asyncio.run(run(args.bootstrap, args.urls, workdir))
        status = broker.start(broker.free_port(), workdir / "broker")
        try:
            return asyncio.run(run(status.bootstrap, args.urls, workdir))
        finally:
            broker.stop(workdir / "broker")


if __name__ == "__main__":
    sys.exit(main())
