"""Syndicated-story clustering: pair recall, false merges, cost and index memory.

    python benchmarks/syndication.py [--stage] [--pipeline] [--cost] [--memory] [--desk]
                                     [--orders 5] [--seed 7] [--cost-urls 200] [--cost-runs 2]
                                     [--memory-articles 100000] [--desk-records 2000]

With no section flag every section runs.  The corpus (benchmarks/_syndication_corpus.py):
the 93 DEV articles, two syndicated copies of each (dateline, last paragraph(s)
cut, a sentence edited, a Related block; new headline and page template) and 8
hand-written pairs of distinct reports of one event.

* ``--stage``: the story desk (workers.stories) over the ground-truth texts in
  ``--orders`` random arrival orders: pair recall (pairs of one story that share
  a story_id) and false merges (pairs of different stories that share one), plus
  the similarity of the weakest true pair and the strongest false one (the
  margin around the threshold).
* ``--pipeline``: the pages (DEV originals as they are, copies and same-topic
  reports in three templates of our own) through real workers on a local broker,
  one worker then two workers; the same figures from the published records.
* ``--cost``: enrich-to-publish throughput with clustering on and off: in process
  (enrich + record + publish step, plus the desk step when on; same run,
  interleaved) and through one real worker (articles/s, runs alternated).
* ``--memory``: the index (the desk's table: dict of bytes) for
  ``--memory-articles`` distinct articles: bytes per article and per 100,000.
* ``--desk``: the desk's own ceiling on the broker: records written straight to
  the stories stream, articles/s out of one worker (at_least_once and exactly_once).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for path in (str(REPO), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

import numpy as np  # noqa: E402
import orjson  # noqa: E402
from _syndication_corpus import Article, copy_page, corpus, dev_page, same_topic_pairs  # noqa: E402

from workers.stories.desk import SIGNATURE_HEADER, StoryDesk, signature_header, text_signature  # noqa: E402
from workers.stories.index import SIMILARITY_THRESHOLD, StoryIndex  # noqa: E402
from workers.stories.minhash import PERMUTATIONS, Signature, overlap  # noqa: E402

CORES = os.cpu_count() or 1


# -- scoring ---------------------------------------------------------------------------


def score(stories: dict[str, str], story_of: dict[str, str]) -> dict[str, float]:
    """Pair recall and false merges from {article key: assigned story id} and {key: true story}."""
    keys = sorted(k for k in stories if k in story_of)
    true_pairs = merged_true = false_merges = negatives = 0
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            same = stories[a] == stories[b]
            if story_of[a] == story_of[b]:
                true_pairs += 1
                merged_true += same
            else:
                negatives += 1
                false_merges += same
    return {"recall": merged_true / true_pairs if true_pairs else float("nan"), "true_pairs": true_pairs,
            "false_merges": false_merges, "negative_pairs": negatives}


def print_score(name: str, result: dict[str, float], extra: str = "") -> None:
    print(f"{name:<44} pair recall {result['recall']:.3f} ({result['true_pairs']} pairs)  "
          f"false merges {result['false_merges']} of {result['negative_pairs']} pairs {extra}")


# -- stage level -------------------------------------------------------------------------


class _Out:
    def __init__(self) -> None:
        self.record: dict | None = None
        self.state: dict[bytes, bytes | None] = {}

    async def publish(self, role, key, value, headers, partition=None) -> None:
        if role == "articles":
            self.record = orjson.loads(value)

    def remember(self, table, key, value) -> None:
        self.state[key] = value


def _fake_id(key: str) -> str:
    import hashlib
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def run_desk(articles: list[Article], index: StoryIndex) -> dict[str, str]:
    """Every article through StoryDesk.place in the given order; {key: story_id}."""
    desk, store = StoryDesk(index, clock=lambda: 1_000_000.0), {}
    stories = {}

    async def go() -> None:
        for article in articles:
            record = {"id": _fake_id(article.key), "url": f"https://example.com/{article.key}", "text": article.text}
            out = _Out()
            await desk.place(orjson.dumps(record), {SIGNATURE_HEADER: signature_header(article.text)}, store, out)
            for k, v in out.state.items():
                if v is None:
                    store.pop(k, None)
                else:
                    store[k] = v
            stories[article.key] = out.record["story_id"]

    asyncio.run(go())
    return stories


def stage(orders: int) -> None:
    articles = corpus()
    story_of = {a.key: a.story for a in articles}
    print(f"# stage level: {len(articles)} articles ({sum(a.original is not None for a in articles)} DEV originals, "
          f"two copies each, {2 * len(same_topic_pairs())} same-topic reports), threshold {SIMILARITY_THRESHOLD}")
    sigs = {a.key: text_signature(a.text) for a in articles}
    positives = sorted((overlap(sigs[a.key], sigs[b.key]), a.key, b.key) for a in articles for b in articles
                       if a.key < b.key and a.story == b.story)
    negatives = sorted(((overlap(sigs[a.key], sigs[b.key]), a.key, b.key) for a in articles for b in articles
                        if a.key < b.key and a.story != b.story), reverse=True)
    topic = [overlap(sigs[a], sigs[b]) for a, b in same_topic_pairs()]
    print(f"similarity of true pairs: min {positives[0][0]:.3f}  p5 {positives[len(positives) // 20][0]:.3f}  "
          f"median {statistics.median(p[0] for p in positives):.3f}")
    print(f"similarity of different stories: max {negatives[0][0]:.3f} ({negatives[0][1][:8]} / {negatives[0][2][:8]})"
          f"  p99.9 {negatives[len(negatives) // 1000][0]:.3f};  same-topic pairs max {max(topic):.3f}")
    results = []
    for seed in range(orders):
        order = list(articles)
        random.Random(seed).shuffle(order)
        results.append(score(run_desk(order, StoryIndex()), story_of))
        print_score(f"desk, arrival order {seed}", results[-1])
    print(f"==> stage: recall min {min(r['recall'] for r in results):.3f} over {orders} orders, "
          f"false merges max {max(r['false_merges'] for r in results)}  (target recall >= 0.95, false merges 0)")


# -- pipeline (real workers, real broker) ----------------------------------------------------


def serve_corpus(server) -> tuple[dict[str, str], dict[str, str]]:
    """{url: article key} for every page, and {key: true story}."""
    urls, story_of = {}, {}
    for n, article in enumerate(corpus()):
        body = dev_page(article.original) if article.original is not None else copy_page(article, n % 3)
        url = server.add_page(f"/site{n % 3}/{n}.html", body)
        urls[url] = article.key
        story_of[article.key] = article.story
    return urls, story_of


def _env(bootstrap: str, **extra: str) -> dict[str, str]:
    from workers.local.run import isolated_topics
    return {**isolated_topics(bootstrap, prefix="syn"), "NEWSWIRE_ENTITIES_TOPIC": "", "NEWSWIRE_TOPIC_PARTITIONS": "4",
            "NEWSWIRE_FETCH_ALLOW_HOSTS": "127.0.0.1", "NEWSWIRE_FETCH_PER_HOST": "64",
            "NEWSWIRE_FETCH_RESPECT_ROBOTS": "false", "NEWSWIRE_LOG_LEVEL": "warn", "NEWSWIRE_DEDUPE_WINDOW_S": "0",
            **extra}


async def drive(env: dict[str, str], urls: list[str], timeout: float = 1200) -> tuple[dict[str, dict], int, float]:
    """Submit ``urls`` (in this order) and read until each has a record or a dead letter."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    bootstrap = env["NEWSWIRE_BOOTSTRAP_SERVERS"]
    articles_topic, dead_topic = env["NEWSWIRE_ARTICLES_TOPIC"], env["NEWSWIRE_DEADLETTER_TOPIC"]
    consumer = AIOKafkaConsumer(articles_topic, dead_topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", metadata_max_age_ms=1000)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await consumer.start()
    await producer.start()
    records: dict[str, dict] = {}
    dead: set[str] = set()
    wanted = set(urls)
    started = time.perf_counter()
    try:
        for url in urls:
            await producer.send(env["NEWSWIRE_INPUT_TOPIC"], value=url.encode(), key=url.encode())
        await producer.flush()
        while len(wanted & (set(records) | dead)) < len(wanted):
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"only {len(records) + len(dead)} of {len(urls)} URLs done")
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                for m in messages:
                    value = orjson.loads(m.value)
                    if tp.topic == articles_topic:
                        records[value["url"]] = value
                    elif value.get("url"):
                        dead.add(value["url"])
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
        await consumer.stop()
    return records, len(dead), seconds


def run_workers(env: dict[str, str], workdir: Path, count: int, urls: list[str], name: str):
    from workers.local.run import WorkerProcess

    workers = [WorkerProcess(env, workdir, name=f"{name}-{i}").start() for i in range(count)]
    try:
        for worker in workers:
            worker.wait_ready(timeout=300)
        return asyncio.run(drive(env, urls))
    finally:
        for worker in workers:
            worker.terminate()


def pipeline(bootstrap: str, workdir: Path, seed: int = 7) -> None:
    from workers.local.pages import PageServer

    with PageServer() as server:
        urls, story_of = serve_corpus(server)
        order = list(urls)
        random.Random(seed).shuffle(order)
        print(f"# pipeline: {len(order)} pages (DEV originals as served, copies and same-topic reports in three "
              f"templates), entities off, 4 partitions, submission order seed {seed}")
        for count in (1, 2):
            env = _env(bootstrap, NEWSWIRE_POOL_SIZE="1" if count == 2 else str(CORES))
            records, dead, seconds = run_workers(env, workdir, count, order, f"syn{count}")
            stories = {urls[url]: record["story_id"] for url, record in records.items()}
            result = score(stories, story_of)
            lost_pairs = score({k: k for k in story_of}, story_of)["true_pairs"] - result["true_pairs"]
            print_score(f"{count} worker(s)", result,
                        f"({len(records)} records, {dead} dead letters: {lost_pairs} true pairs not measurable; "
                        f"{seconds:.0f} s)")
            missed = [(a, b) for a in stories for b in stories if a < b and story_of[a] == story_of[b]
                      and stories[a] != stories[b]]
            for a, b in missed[:5]:
                ra = next(r for u, r in records.items() if urls[u] == a)
                rb = next(r for u, r in records.items() if urls[u] == b)
                sim = overlap(text_signature(ra["text"]), text_signature(rb["text"]))
                print(f"    missed: {a[:12]} / {b[:12]}  similarity of the extracted texts {sim:.3f}  "
                      f"words {ra['word_count']} / {rb['word_count']}")


# -- cost ----------------------------------------------------------------------------------


def cost_in_process(repeats: int) -> None:
    """Per article: enrich (measured once) + record + publish step [+ desk step], on vs off, interleaved."""
    from workers.observability.metrics import Metrics
    from workers.pipeline.analyse import PageInput, analyse_page
    from workers.pipeline.record import dumps
    from workers.pipeline.runner import analyse_options
    from workers.processing.handler import MessageHandler
    from workers.settings import Settings

    options = analyse_options(Settings.from_env({}))
    records, enrich = [], []
    for article in corpus():
        if article.original is None:
            continue
        url = f"https://example.com/{article.key}"
        timings: dict[str, float] = {}
        try:
            record = analyse_page(PageInput(body=dev_page(article.original), url=url, canonical_url=url,
                                            final_url=url, fetched_at="2026-12-01T00:00:00.000Z"), options, timings)
        except Exception:
            continue
        records.append(dumps(record))
        enrich.append(timings["enrich"])
    off = MessageHandler(None, entities_stream=True, metrics=Metrics())
    on = MessageHandler(None, entities_stream=True, metrics=Metrics(), story_desk=True)

    class Sink:
        def __init__(self) -> None:
            self.out: list = []
            self.state: dict = {}

        async def publish(self, role, key, value, headers, partition=None) -> None:
            self.out.append((role, key, value, headers))

        def remember(self, table, key, value) -> None:
            self.state[key] = value

    async def publish_cost(handler: MessageHandler, desk: StoryDesk | None, store: dict) -> float:
        started = time.perf_counter()
        for raw in records:
            sink = Sink()
            await handler.publish(raw, {}, {}, sink)
            if desk is not None:
                role, key, value, headers = next(m for m in sink.out if m[0] == "stories")
                placed = Sink()
                await desk.place(value, headers, store, placed)
                store.update({k: v for k, v in placed.state.items() if v is not None})
        return time.perf_counter() - started

    enrich_s = sum(enrich)
    print(f"# cost in process: {len(records)} DEV articles, "
          f"enrich (NER) {enrich_s / len(records) * 1000:.1f} ms/article")
    ratios = []
    for run in range(repeats):
        off_s = asyncio.run(publish_cost(off, None, {}))
        on_s = asyncio.run(publish_cost(on, StoryDesk(StoryIndex()), {}))
        ratio = (enrich_s + off_s) / (enrich_s + on_s)
        ratios.append(ratio)
        print(f"run {run}: publish step off {off_s / len(records) * 1000:.2f} ms/article, on (publish + signature + "
              f"desk) {on_s / len(records) * 1000:.2f} ms/article;  enrich-to-publish on/off {ratio:.3f}")
    print(f"==> in process: throughput on / off = {statistics.median(ratios):.3f} median of {repeats} "
          f"(min {min(ratios):.3f})  (target >= 0.95)")


def cost_on_broker(bootstrap: str, workdir: Path, count: int, runs: int) -> None:
    from _syndication_corpus import DEV

    from workers.local.pages import PageServer

    pages = [p.name.removesuffix(".html.gz") for p in sorted((DEV / "html").glob("*.html.gz"))]
    with PageServer() as server:
        urls = [server.add_page(f"/cost/{n}.html", dev_page(pages[n % len(pages)])) for n in range(count)]
        print(f"# cost on the broker: one worker, {count} URLs, entities on, runs alternated")
        rates: dict[str, list[float]] = {"off": [], "on": []}
        for run in range(runs):
            for mode in (("off", "on") if run % 2 == 0 else ("on", "off")):
                env = _env(bootstrap, NEWSWIRE_ENTITIES_ENABLED="true", NEWSWIRE_POOL_SIZE=str(CORES),
                           NEWSWIRE_STORY_CLUSTERING="true" if mode == "on" else "false")
                records, dead, seconds = run_workers(env, workdir, 1, urls, f"cost-{mode}-{run}")
                rates[mode].append((len(records) + dead) / seconds)
                print(f"run {run} clustering {mode:<3}: {rates[mode][-1]:6.2f} URLs/s ({len(records)} records, "
                      f"{dead} dead letters, {seconds:.1f} s)")
        pairs = [on / off for on, off in zip(rates["on"], rates["off"], strict=True)]
        print(f"==> one worker: throughput on / off per run {', '.join(f'{p:.3f}' for p in pairs)}; "
              f"medians {statistics.median(rates['on']) / statistics.median(rates['off']):.3f}  (target >= 0.95)")


# -- memory ---------------------------------------------------------------------------------


def memory(count: int) -> None:
    """The index for ``count`` distinct articles (random signatures: every band bucket its own, the worst case)."""
    rng = np.random.default_rng(1)
    index, store = StoryIndex(), {}
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    for n in range(count):
        sig = Signature(rng.integers(0, 2**32, PERMUTATIONS, dtype=np.uint64).astype(np.uint32), 400)
        _, writes = index.assign(store, f"{n:032x}", sig, 1_000_000.0 + n * 0.01)
        for key, value in writes.items():
            if value is None:
                store.pop(key, None)
            else:
                store[key] = value
    seconds = time.perf_counter() - started
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per_article = (after - before) / count
    print(f"# memory: {count} articles in the index, {len(store)} table entries")
    print(f"==> {per_article:.0f} bytes per article; {per_article * 100_000 / 2**20:.0f} MiB per 100,000 articles "
          f"(Python heap of the table's keys and values, tracemalloc)")
    print(f"    desk step in process at that size: {count / seconds:.0f} assignments/s (index writes applied)")


# -- the desk's ceiling on the broker ------------------------------------------------------------


def desk_on_broker(bootstrap: str, workdir: Path, count: int) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from workers.local.run import WorkerProcess

    texts = [a.text for a in corpus()]
    for mode in ("at_least_once", "exactly_once"):
        env = _env(bootstrap, NEWSWIRE_PROCESSING_GUARANTEE=mode, NEWSWIRE_POOL_SIZE="1")
        worker = WorkerProcess(env, workdir, name=f"desk-{mode}").start()
        try:
            worker.wait_ready(timeout=300)

            async def go(env: dict[str, str] = env) -> float:
                stream = f"{env['NEWSWIRE_GROUP_ID']}-stories"
                producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
                consumer = AIOKafkaConsumer(env["NEWSWIRE_ARTICLES_TOPIC"], bootstrap_servers=bootstrap,
                                            group_id=None, auto_offset_reset="earliest", metadata_max_age_ms=1000)
                await producer.start()
                await consumer.start()
                try:
                    for n in range(count):
                        text = texts[n % len(texts)] + f" edition {n}"
                        record = {"id": f"{n:032x}", "url": f"https://example.com/{n}", "text": text,
                                  "schema_version": "1.2"}
                        await producer.send(stream, orjson.dumps(record), key=record["id"].encode(),
                                            headers=[(SIGNATURE_HEADER, signature_header(text))])
                    await producer.flush()
                    started, seen = None, 0
                    while seen < count:
                        batch = await consumer.getmany(timeout_ms=500)
                        for messages in batch.values():
                            if started is None and messages:
                                started = time.perf_counter()
                            seen += len(messages)
                    return count / (time.perf_counter() - (started or time.perf_counter()))
                finally:
                    await producer.stop()
                    await consumer.stop()

            rate = asyncio.run(go())
            print(f"==> story desk, {mode}: {rate:.0f} records/s through one partition ({count} records)")
        finally:
            worker.terminate()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag in ("stage", "pipeline", "cost", "memory", "desk"):
        parser.add_argument(f"--{flag}", action="store_true")
    parser.add_argument("--orders", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7, help="submission order of the pipeline runs")
    parser.add_argument("--cost-urls", type=int, default=200)
    parser.add_argument("--cost-runs", type=int, default=2)
    parser.add_argument("--memory-articles", type=int, default=100_000)
    parser.add_argument("--desk-records", type=int, default=2000)
    args = parser.parse_args(argv)
    every = not any((args.stage, args.pipeline, args.cost, args.memory, args.desk))
    if every or args.stage:
        stage(args.orders)
    if every or args.memory:
        memory(args.memory_articles)
    if every or args.pipeline or args.cost or args.desk:
        from workers.local import broker
        from workers.local.run import free_port

        workdir = Path(tempfile.mkdtemp(prefix="newswire-syndication-"))
        external = os.environ.get("NEWSWIRE_TEST_BOOTSTRAP")
        bootstrap = external or broker.start(free_port(), workdir / "broker").bootstrap
        try:
            if every or args.pipeline:
                pipeline(bootstrap, workdir, args.seed)
            if every or args.cost:
                cost_in_process(3)
                cost_on_broker(bootstrap, workdir, args.cost_urls, args.cost_runs)
            if every or args.desk:
                desk_on_broker(bootstrap, workdir, args.desk_records)
        finally:
            if not external:
                broker.stop(workdir / "broker")
    return 0


if __name__ == "__main__":
    sys.exit(main())
