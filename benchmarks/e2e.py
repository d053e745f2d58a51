"""End-to-end benchmark: newswire workers on the real broker against the bare pipeline.

    python benchmarks/e2e.py [--urls 2000] [--pool-size N] [--skip-scaling] [--skip-latency]
                             [--soak 10000] [--no-entities]

Everything in one run, on this machine:

1. serves the pages of ``shared/data/extraction-dev`` cycled to ``--urls``
   distinct URLs from a local HTTP server on 127.0.0.1;
2. **bare pipeline**: the same stages (fetch from the same server, extract,
   dedupe, enrich) through :class:`workers.pipeline.runner.ArticlePipeline`
   with a process pool of the same size, no Kafka: articles/s;
3. **one worker, all cores**: a real `newswire worker` on a local KRaft broker;
   all URLs submitted at once, articles/s until every URL has a record or a
   dead letter; ratio to (2) (target >= 0.95, issue 19);
4. **scaling**: one worker pinned to one core (pool of 1) against two workers
   pinned to a core each on separate partitions (target >= 1.85x, issue 19);
5. **latency**: URLs submitted at about 70% of the capacity measured in (3);
   submit-to-record latency p50/p95/p99;
6. peak RSS per worker process (the worker and each pool process) and CPU
   utilisation for each run; ``--soak N`` adds an N-URL run that samples the
   worker's memory through the run (flat memory check).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import orjson  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402

from workers.local import broker  # noqa: E402
from workers.local.pages import PageServer  # noqa: E402
from workers.local.run import WorkerProcess, isolated_topics  # noqa: E402
from workers.pipeline.runner import ArticlePipeline  # noqa: E402
from workers.pipeline.submission import Submission  # noqa: E402
from workers.settings import Settings  # noqa: E402

# The checkout's sibling shared/ folder (a worktree sits one level deeper).
DATA = next((d / "shared" / "data" / "extraction-dev" / "html" for d in REPO.parents
             if (d / "shared" / "data" / "extraction-dev" / "html").is_dir()),
            REPO.parent / "shared" / "data" / "extraction-dev" / "html")
CORES = os.cpu_count() or 1


# -- measurements ---------------------------------------------------------------


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return pids


def rss_kib(pid: int, key: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class RunResult:
    name: str
    urls: int
    seconds: float
    records: int
    dead_letters: int
    cpu_util: float
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    rss_samples: list[tuple[int, float]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return (self.records + self.dead_letters) / self.seconds if self.seconds else 0.0


class MemoryWatch:
    """Samples the RSS of worker process trees; keeps the peak per process role."""

    def __init__(self, pids: list[int]) -> None:
        self.roots = pids
        self.peak: dict[str, int] = {}
        self.total_samples: list[int] = []

    def sample(self) -> None:
        total = 0
        for n, root in enumerate(self.roots):
            for i, pid in enumerate(process_tree(root)):
                role = f"worker{n}" if i == 0 else f"worker{n}-pool"
                rss = rss_kib(pid)
                total += rss
                self.peak[role] = max(self.peak.get(role, 0), rss)
        self.total_samples.append(total)

    def peaks_mib(self) -> dict[str, float]:
        return {role: round(kib / 1024, 1) for role, kib in sorted(self.peak.items())}


# -- the page corpus -------------------------------------------------------------------


def serve_pages(server: PageServer, count: int) -> list[str]:
    pages = [gzip.decompress(p.read_bytes()) for p in sorted(DATA.glob("*.html.gz"))]
    if not pages:
        raise SystemExit(f"no pages in {DATA}")
    return [server.add_page(f"/article/{i}.html", pages[i % len(pages)]) for i in range(count)]


def base_env(bootstrap: str, pool_size: int, entities: bool) -> dict[str, str]:
    return {
        **isolated_topics(bootstrap, prefix="bench"),
        "NEWSWIRE_ENTITIES_TOPIC": "",
        "NEWSWIRE_TOPIC_PARTITIONS": "4",
        "NEWSWIRE_FETCH_ALLOW_HOSTS": "127.0.0.1",
        "NEWSWIRE_FETCH_PER_HOST": "64",  # every page comes from one local host
        "NEWSWIRE_FETCH_RESPECT_ROBOTS": "false",
        "NEWSWIRE_POOL_SIZE": str(pool_size),
        "NEWSWIRE_ENTITIES_ENABLED": "true" if entities else "false",
        "NEWSWIRE_LOG_LEVEL": "warn",
        "NEWSWIRE_DEDUPE_WINDOW_S": "0",
    }


# -- bare pipeline --------------------------------------------------------------------------------


async def run_bare(urls: list[str], env: dict[str, str], pool_size: int) -> RunResult:
    settings = Settings.from_env(env)
    pipeline = ArticlePipeline(settings, pool_size=pool_size)
    await asyncio.get_running_loop().run_in_executor(None, pipeline.pool.warm_up)
    gate = asyncio.Semaphore(settings.max_in_flight)
    ok = failed = 0

    async def one(url: str) -> None:
        nonlocal ok, failed
        async with gate:
            try:
                await pipeline.process(Submission(url=url))
                ok += 1
            except Exception:
                failed += 1

    busy0, total0 = cpu_times()
    started = time.perf_counter()
    await asyncio.gather(*(one(u) for u in urls))
    seconds = time.perf_counter() - started
    busy1, total1 = cpu_times()
    await pipeline.close()
    return RunResult("bare pipeline", len(urls), seconds, ok, failed, (busy1 - busy0) / max(total1 - total0, 1))


# -- workers on Kafka --------------------------------------------------------------------------------


async def run_workers(name: str, urls: list[str], env: dict[str, str], workdir: Path,
                      pins: list[set[int] | None], rate: float | None = None, soak_samples: int = 0) -> RunResult:
    workers = [WorkerProcess(env, workdir, name=f"{name.replace(' ', '-')}-{i}", cpus=pin).start()
               for i, pin in enumerate(pins)]
    try:
        _wait_ready(workers)
        return await _drive(name, urls, env, workers, rate, soak_samples)
    finally:
        for worker in workers:
            worker.terminate()


def _wait_ready(workers: list[WorkerProcess], timeout: float = 300, idle_grace: float = 30) -> None:
    """All workers ready, or (with fewer partitions than workers) some ready and the rest idle."""
    deadline = time.monotonic() + timeout
    first_ready = None
    while time.monotonic() < deadline:
        ready = [bool((w.readiness() or {}).get("ready")) for w in workers]
        if all(ready):
            return
        if any(ready):
            first_ready = first_ready or time.monotonic()
            if time.monotonic() - first_ready > idle_grace:
                print(f"    {ready.count(False)} worker(s) hold no partition (idle)")
                return
        time.sleep(0.5)
    raise TimeoutError("no worker became ready:\n" + "\n".join(w.log_tail(10) for w in workers))


async def _drive(name: str, urls: list[str], env: dict[str, str], workers: list[WorkerProcess],
                 rate: float | None, soak_samples: int) -> RunResult:
    bootstrap = env["NEWSWIRE_BOOTSTRAP_SERVERS"]
    outputs = [env["NEWSWIRE_ARTICLES_TOPIC"], env["NEWSWIRE_DEADLETTER_TOPIC"]]
    consumer = AIOKafkaConsumer(*outputs, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", metadata_max_age_ms=1000)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await consumer.start()
    await producer.start()
    watch = MemoryWatch([w.proc.pid for w in workers])
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    done: set[str] = set()
    counts = {outputs[0]: 0, outputs[1]: 0}

    async def submit() -> None:
        interval = 1.0 / rate if rate else 0.0
        next_at = time.perf_counter()
        for url in urls:
            if interval:
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            sent_at[url] = time.perf_counter()
            await producer.send(env["NEWSWIRE_INPUT_TOPIC"], value=url.encode(), key=url.encode())
        await producer.flush()

    busy0, total0 = cpu_times()
    started = time.perf_counter()
    submitter = asyncio.create_task(submit())
    last_sample = 0.0
    rss_samples: list[tuple[int, float]] = []
    try:
        while len(done) < len(urls):
            batch = await consumer.getmany(timeout_ms=500)
            now = time.perf_counter()
            for tp, messages in batch.items():
                for m in messages:
                    url = orjson.loads(m.value).get("url")
                    if url in sent_at and url not in done:
                        done.add(url)
                        counts[tp.topic] += 1
                        latencies.append(now - sent_at[url])
            if now - last_sample > 1.0:
                watch.sample()
                last_sample = now
                if soak_samples:
                    rss_samples.append((len(done), watch.total_samples[-1] / 1024))
            if now - started > 3600:
                raise TimeoutError(f"{name}: only {len(done)} of {len(urls)} URLs done after an hour")
        seconds = time.perf_counter() - started
    finally:
        submitter.cancel()
        await producer.stop()
        await consumer.stop()
    busy1, total1 = cpu_times()
    return RunResult(name, len(urls), seconds, counts[outputs[0]], counts[outputs[1]],
                     (busy1 - busy0) / max(total1 - total0, 1), watch.peaks_mib(), latencies, rss_samples)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(result: RunResult) -> None:
    print(f"{result.name:<34} {result.urls:>6} URLs  {result.seconds:8.1f} s  {result.rate:7.2f} articles/s  "
          f"records {result.records}  dead letters {result.dead_letters}  CPU {result.cpu_util:5.1%}")
    if result.peak_rss_mib:
        print(f"{'':<34} peak RSS MiB: {result.peak_rss_mib}")


def tuning_sweep(corpus: list[str], bootstrap: str, pool_size: int, entities: bool, workdir: Path) -> None:
    """The measured effect of the in-flight limit and of the partition count (README, "Scaling and tuning")."""
    for in_flight in (2, 8, 32):
        env = base_env(bootstrap, pool_size, entities) | {"NEWSWIRE_MAX_IN_FLIGHT": str(in_flight)}
        report(asyncio.run(run_workers(f"one worker, max in flight {in_flight}", corpus, env, workdir, [None])))
    if CORES >= 2:
        for partitions in (1, 4):
            env = base_env(bootstrap, 1, entities) | {"NEWSWIRE_TOPIC_PARTITIONS": str(partitions)}
            report(asyncio.run(run_workers(f"two workers, {partitions} partition(s)", corpus, env, workdir,
                                           [{0}, {1}])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--urls", type=int, default=2000)
    parser.add_argument("--pool-size", type=int, default=CORES)
    parser.add_argument("--no-entities", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--soak", type=int, default=0, help="add a run of N URLs sampling worker memory")
    parser.add_argument("--tuning", action="store_true",
                        help="only the tuning sweep: NEWSWIRE_MAX_IN_FLIGHT 2/8/32 for one worker, "
                             "NEWSWIRE_TOPIC_PARTITIONS 1/4 for two workers")
    args = parser.parse_args(argv)
    entities = not args.no_entities

    workdir = Path(tempfile.mkdtemp(prefix="newswire-bench-"))
    external = os.environ.get("NEWSWIRE_TEST_BOOTSTRAP")
    bootstrap = external or broker.start(broker.free_port(), workdir / "broker").bootstrap
    server = PageServer().start()
    print(f"# newswire e2e benchmark: {CORES} cores, {args.urls} URLs, pool {args.pool_size}, "
          f"entities {'on' if entities else 'off'}, broker {bootstrap}")
    try:
        urls = serve_pages(server, args.urls + args.soak)
        corpus, soak_urls = urls[:args.urls], urls[args.urls:]
        if args.tuning:
            tuning_sweep(corpus, bootstrap, args.pool_size, entities, workdir)
            return 0

        bare = asyncio.run(run_bare(corpus, base_env(bootstrap, args.pool_size, entities), args.pool_size))
        report(bare)
        one = asyncio.run(run_workers("one worker, all cores", corpus, base_env(bootstrap, args.pool_size, entities),
                                      workdir, [None]))
        report(one)
        print(f"==> end-to-end / bare pipeline = {one.rate / bare.rate:.3f}  (target >= 0.95)")

        if not args.skip_scaling and CORES >= 2:
            single = asyncio.run(run_workers("one worker pinned to 1 core", corpus,
                                             base_env(bootstrap, 1, entities), workdir, [{0}]))
            report(single)
            pair = asyncio.run(run_workers("two workers, 1 core each", corpus, base_env(bootstrap, 1, entities),
                                           workdir, [{0}, {1}]))
            report(pair)
            print(f"==> two workers / one worker = {pair.rate / single.rate:.3f}  (target >= 1.85)")

        if not args.skip_latency:
            rate = 0.7 * one.rate
            paced = asyncio.run(run_workers(f"latency at {rate:.1f} per s", corpus,
                                            base_env(bootstrap, args.pool_size, entities), workdir, [None], rate=rate))
            report(paced)
            lat = paced.latencies
            print(f"==> submit-to-record latency at 70% capacity: p50 {percentile(lat, .5) * 1000:.0f} ms  "
                  f"p95 {percentile(lat, .95) * 1000:.0f} ms  p99 {percentile(lat, .99) * 1000:.0f} ms")

        if args.soak:
            soak = asyncio.run(run_workers(f"soak {args.soak} URLs", soak_urls,
                                           base_env(bootstrap, args.pool_size, entities), workdir, [None],
                                           soak_samples=1))
            report(soak)
            samples = soak.rss_samples
            if samples:
                marks = [samples[int(len(samples) * f)] for f in (0.1, 0.5) ] + [samples[-1]]
                print("==> worker tree RSS (MiB) at 10% / 50% / 100% of the run: "
                      + " / ".join(f"{mib:.0f} ({n} done)" for n, mib in marks))
    finally:
        server.stop()
        if not external:
            broker.stop(workdir / "broker")
    return 0


if __name__ == "__main__":
    sys.exit(main())
