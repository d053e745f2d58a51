"""Benchmark the entity-enrichment stage against bare spaCy, and the pool against one core.

Run:  .venv/bin/python benchmarks/entities.py [--passes 2] [--workers N] [--nice 10]

Texts: the seed article plus every extraction-dev page run through
``trafilatura.extract`` with default settings.  Everything is measured in
this run, on this machine, so the numbers are ratios against a baseline:

1. **Stage vs bare spaCy, one core.**  ``nlp.pipe`` over the same strings
   with the same NER-only pipeline (the baseline: what NER costs anyway)
   against ``EntityRecognizer.enrich_many`` (batched, ``nlp.pipe`` inside)
   and ``enrich`` one article at a time (what a pool task does).  The stage
   adds language identification, paragraph sentence starts, span
   normalisation and merging.  Target: ratio >= 0.9.  Baseline and stage
   runs alternate after one untimed warm-up pass, and the best of
   ``--passes`` is kept for each.  Rates are given by wall clock and per
   CPU-second of the process: on a shared machine only the CPU figure is
   free of other people's load.
2. **Pool on all cores.**  A ``ProcessPoolExecutor`` (spawn context,
   ``init_worker`` loads the model once per process) driven from an asyncio
   loop with ``run_in_executor``, one article per task, a bounded number in
   flight.  A 1-worker pool, an all-cores pool at ``--nice`` and one at nice
   0 stay warm side by side and take turns with a one-core ``enrich`` pass,
   round after round, so load from elsewhere hits them all alike.  Speedup = pool docs/s over one-core
   ``enrich`` docs/s (wall clock, so it depends on what else runs: the 1-minute load average is
   printed beside it).  Per-core efficiency = docs per CPU-second of the
   workers (read from /proc) against bare ``nlp.pipe`` per CPU-second.  The
   workers' scheduler statistics tell how much of the time they ran and how
   much they were runnable but waiting for a CPU held by other processes; the
   uncontended estimate is workers x (share of time runnable) x (docs per
   CPU-second relative to one-core enrich), i.e. what the pool delivers
   when nothing else competes for the cores.
3. **Event-loop lag** while the pool runs: a ticker sleeps 5 ms and records
   how late it wakes up; p50/p99/max are reported, next to the lag of an idle
   loop and of a loop that runs NER inline (what happens without the pool).
   Worker processes are run at ``--nice`` (default 10) and also at 0 for
   comparison.

Further modes (each runs alone, quickly):

``--quality``: entities against the hand-annotated articles in
``benchmarks/data/entities/`` (English: title and text; French: whole HTML
pages through extract, dedupe and enrich, so the headline and comment forms
are checked too): key-entity recall, key entities in the top 8, surname
merge recall, false merges, junk names (see ``benchmarks/_entity_eval.py``),
beside raw spaCy (one entity per distinct span and label, most frequent
first) as the baseline.

``--languages``: per language, ``enrich`` one article at a time and
``enrich_many`` against bare ``nlp.pipe`` of that language's NER-only
pipeline over the same texts, in docs per CPU-second (target >= 0.9), and
``enrich`` against bare spaCy called once per text (what a pool task can
do: one article per task, no batching across articles).
English: the seed article and the extraction-dev pages detected as English;
French: the annotated French pages' extracted title and text.

``--memory``: RSS of one process of the worker's own pool (``CpuPool``:
extraction, dedupe and NER) with the English model only, then after its
first French page (two models), then after every extraction-dev page and
French page once; against the 1 GiB per worker budget.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gzip
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workers.pipeline.entities import (
    EntityConfig,
    EntityRecognizer,
    enrich_in_worker,
    get_recognizer,
    init_worker,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _entity_eval, when run as a script

SHARED = Path("/work/shared")
TICK_S = 0.005

Item = tuple[str | None, str, str | None]


def load_items() -> list[Item]:
    import trafilatura

    expected = json.loads((SHARED / "fixtures" / "seed-article.expected.json").read_text(encoding="utf-8"))
    raw = next((SHARED / "seeds").glob("000_*.txt")).read_text(encoding="utf-8")
    seed_text = raw[raw.index(expected["text_starts_with"]):]
    items: list[Item] = [(expected["title"], seed_text, None)]
    for page in sorted((SHARED / "data" / "extraction-dev" / "html").glob("*.html.gz")):
        html = gzip.decompress(page.read_bytes()).decode("utf-8", errors="replace")
        text = trafilatura.extract(html)
        if text and text.strip():
            items.append((None, text, None))
    return items


def spacy_input(item: Item) -> str:
    """What the stage hands spaCy for one article (title and text as one doc)."""
    title, text, _ = item
    return f"{title}\n\n{text}" if title else text


# -- 1. one core ----------------------------------------------------------------------


def one_core(recognizer: EntityRecognizer, items: list[Item], passes: int) -> dict[str, dict[str, float]]:
    """docs/s by wall clock and docs per CPU-second of this process, best of ``passes``.

    CPU-seconds make the ratio robust when other processes share the cores.
    """
    nlp = recognizer.nlp
    texts = [spacy_input(item) for item in items]
    batch = recognizer.config.batch_size
    candidates: dict[str, Callable[[], object]] = {
        "spacy_pipe": lambda: [doc.ents for doc in nlp.pipe(texts, batch_size=batch)],
        "stage_enrich_many": lambda: recognizer.enrich_many(items),
        "stage_enrich_each": lambda: [recognizer.enrich(*item) for item in items],
    }
    candidates["spacy_pipe"]()  # untimed: the first pass pays for filling the vocabulary
    wall: dict[str, list[float]] = {name: [] for name in candidates}
    cpu: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(passes):
        for name, run in candidates.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            run()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
    return {name: {"wall": len(items) / min(wall[name]), "cpu": len(items) / min(cpu[name])}
            for name in candidates}


def sched_seconds(pids: list[int]) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for one) of processes,
    from /proc/<pid>/schedstat: the wait shows starvation by other load."""
    running = waiting = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/schedstat").read_text().split()
        running += int(fields[0])
        waiting += int(fields[1])
    return running / 1e9, waiting / 1e9


def cpu_seconds(pids: list[int]) -> float:
    """user+system CPU time of processes (Linux /proc), for the pool workers."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


# -- 2-3. pool and event-loop lag -------------------------------------------------------


async def measure_lag(work: Callable[[], Awaitable[object]]) -> tuple[float, list[float]]:
    """Run ``work`` while a ticker records how late each 5 ms sleep wakes up."""
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            expected = loop.time() + TICK_S
            await asyncio.sleep(TICK_S)
            lags.append(max(0.0, loop.time() - expected))

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    started = time.perf_counter()
    try:
        await work()
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        await tick
    return elapsed, lags


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def lag_summary(lags: list[float]) -> dict[str, float]:
    return {
        "ticks": len(lags),
        "p50_ms": round(percentile(lags, 0.50) * 1000, 2),
        "p99_ms": round(percentile(lags, 0.99) * 1000, 2),
        "max_ms": round(max(lags, default=0.0) * 1000, 2),
    }


@dataclass
class PoolRun:
    """One pool configuration, measured over interleaved rounds."""

    workers: int
    nice: int
    walls: list[float] = field(default_factory=list)
    worker_cpu: float = 0.0
    worker_running: float = 0.0
    worker_waiting: float = 0.0
    lags: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)


async def pool_pass(pool: ProcessPoolExecutor, config: EntityConfig, items: list[Item], in_flight: int) -> None:
    """Every article once through the pool, ``in_flight`` at a time, from the event loop."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(in_flight)

    async def one(item: Item) -> None:
        async with gate:
            await loop.run_in_executor(pool, enrich_in_worker, config, *item)

    await asyncio.gather(*(one(item) for item in items))


async def compare_pools(config: EntityConfig, recognizer: EntityRecognizer, items: list[Item],
                        runs: list[PoolRun], passes: int) -> list[float]:
    """Round-robin: one-core ``enrich`` pass, then one pass per pool, ``passes`` times.

    All pools stay warm for the whole comparison, so load from other
    processes on the machine falls on every configuration alike.  Returns
    the one-core wall times.
    """
    context = multiprocessing.get_context("spawn")
    pools = [ProcessPoolExecutor(max_workers=run.workers, mp_context=context,
                                 initializer=init_worker, initargs=(config, run.nice)) for run in runs]
    loop = asyncio.get_running_loop()
    one_core_walls: list[float] = []
    try:
        for pool, run in zip(pools, runs, strict=True):  # start every worker; each loads its model once
            await asyncio.gather(*(loop.run_in_executor(pool, time.sleep, 0.5) for _ in range(run.workers)))
        for _ in range(passes):
            started = time.perf_counter()
            for item in items:
                recognizer.enrich(*item)
            one_core_walls.append(time.perf_counter() - started)
            for pool, run in zip(pools, runs, strict=True):
                pids = list(pool._processes)  # private, but the only way to the worker pids
                cpu_before, (running_before, waiting_before) = cpu_seconds(pids), sched_seconds(pids)
                run.load.append(os.getloadavg()[0])
                elapsed, lags = await measure_lag(functools.partial(pool_pass, pool, config, items, 2 * run.workers))
                run.worker_cpu += cpu_seconds(pids) - cpu_before
                running_after, waiting_after = sched_seconds(pids)
                run.worker_running += running_after - running_before
                run.worker_waiting += waiting_after - waiting_before
                run.walls.append(elapsed)
                run.lags.extend(lags)
    finally:
        for pool in pools:
            pool.shutdown()
    return one_core_walls


async def idle_lag(seconds: float) -> dict[str, float]:
    _, lags = await measure_lag(lambda: asyncio.sleep(seconds))
    return lag_summary(lags)


async def inline_lag(recognizer: EntityRecognizer, items: list[Item]) -> dict[str, float]:
    async def work() -> None:
        for item in items:
            recognizer.enrich(*item)  # blocks the loop: the anti-pattern, for contrast
            await asyncio.sleep(0)

    _, lags = await measure_lag(work)
    return lag_summary(lags)


# -- quality, languages, memory ----------------------------------------------------------

ANNOTATED = Path(__file__).resolve().parent / "data" / "entities"


def _french_records() -> list[tuple[Any, Any]]:
    """(annotation, record) for every annotated French page, through the whole CPU pipeline."""
    from _entity_eval import load_annotations

    from workers.pipeline.analyse import AnalyseOptions, PageInput, analyse_page

    out = []
    for annotation in load_annotations(ANNOTATED, ["fr"]):
        assert annotation.page is not None
        url = f"http://news.example/{annotation.page.name}"
        page = PageInput(body=annotation.page.read_bytes(), url=url, canonical_url=url, final_url=url,
                         fetched_at="2024-01-01T00:00:00Z")
        out.append((annotation, analyse_page(page, AnalyseOptions(EntityConfig()))))
    return out


def _raw_spacy_entities(recognizer: EntityRecognizer, language: str, title: str, text: str) -> list[Any]:
    """The baseline: one entity per distinct (span text, label), most mentions first, labels mapped."""
    from collections import Counter

    from workers.pipeline.entities import Entity
    from workers.pipeline.entities.labels import map_label

    model = recognizer.model(language)
    drop = set(recognizer.config.drop_labels) | set(recognizer.config.fact_labels)
    doc = model.nlp(f"{title}\n\n{text}" if title else text)
    counts = Counter((ent.text, map_label(ent.label_, ent.text, model.scheme)) for ent in doc.ents
                     if ent.label_ not in drop)
    return [Entity(name, label, n, 0.0) for (name, label), n in counts.most_common()]


def quality() -> dict[str, Any]:
    from _entity_eval import Score, load_annotations, score

    recognizer = get_recognizer(EntityConfig())
    stage = {"en": Score(), "fr": Score()}
    raw = {"en": Score(), "fr": Score()}
    for annotation in load_annotations(ANNOTATED, ["en"]):
        data = annotation.data
        enrichment = recognizer.enrich(data["title"], data["text"], None)
        stage["en"].add(score(annotation, enrichment.entities, data["text"]))
        raw["en"].add(score(annotation, _raw_spacy_entities(recognizer, "en", data["title"], data["text"]),
                            data["text"]))
    for annotation, record in _french_records():
        stage["fr"].add(score(annotation, record.entities, record.text))
        raw["fr"].add(score(annotation, _raw_spacy_entities(recognizer, "fr", record.title or "", record.text),
                            record.text))
    return {language: {"stage": stage[language].summary(), "raw_spacy": {
        k: v for k, v in raw[language].summary().items() if k in ("key_recall", "top8", "merge_recall", "merges")}}
        for language in stage}


def language_items() -> dict[str, list[Item]]:
    from workers.pipeline.entities.language import detect_language

    english = [item for item in load_items() if detect_language(spacy_input(item))[0] == "en"]
    french: list[Item] = [(record.title, record.text, None) for _, record in _french_records()]
    return {"en": english, "fr": french}


def language_throughput(passes: int, repeat_fr: int) -> dict[str, Any]:
    """Per language: docs per CPU-second of enrich / enrich_many against bare nlp.pipe, best of ``passes``."""
    recognizer = get_recognizer(EntityConfig())
    out: dict[str, Any] = {}
    for language, items in language_items().items():
        if language == "fr":
            items = items * repeat_fr  # four pages: repeat them so a pass lasts long enough to time
        nlp = recognizer.model(language).nlp
        texts = [spacy_input(item) for item in items]
        batch = recognizer.config.batch_size
        # Defaults bind this language's model and texts: the lambdas run within this iteration.
        runs: dict[str, Callable[[], object]] = {
            "spacy_pipe": lambda nlp=nlp, texts=texts, batch=batch: [
                doc.ents for doc in nlp.pipe(texts, batch_size=batch)],
            # Bare spaCy one text per call, as a pool task must run it: separates the
            # cost of not batching from the stage's own work.
            "spacy_call_each": lambda nlp=nlp, texts=texts: [nlp(text).ents for text in texts],
            "stage_enrich_each": lambda items=items: [recognizer.enrich(*item) for item in items],
            "stage_enrich_many": lambda items=items: recognizer.enrich_many(items),
        }
        runs["spacy_pipe"]()
        runs["stage_enrich_each"]()  # untimed warm-up of both
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(passes):
            for name, run in runs.items():
                started = time.process_time()
                run()
                cpu[name].append(time.process_time() - started)
        rates = {name: len(items) / min(values) for name, values in cpu.items()}
        distinct = items[:len(items) // max(1, repeat_fr if language == "fr" else 1)]
        statuses = {r.status for r in recognizer.enrich_many(distinct)}
        out[language] = {
            "docs": len(items), "chars": sum(len(t) for t in texts), "statuses": sorted(statuses),
            "docs_per_cpu_s": {name: round(rate, 2) for name, rate in rates.items()},
            "ratio_vs_spacy_pipe": {name: round(rates[name] / rates["spacy_pipe"], 3)
                                    for name in rates if name != "spacy_pipe"},
            "enrich_each_vs_spacy_call_each": round(rates["stage_enrich_each"] / rates["spacy_call_each"], 3),
        }
    return out


def _rss_mib(pid: int) -> dict[str, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"rss": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
            "peak": round(int(fields["VmHWM"].split()[0]) / 1024, 1)}


def _pages() -> dict[str, list[Any]]:
    """PageInputs: the extraction-dev pages (mostly English) and the annotated French pages."""
    from workers.pipeline.analyse import PageInput

    def page(body: bytes, name: str) -> PageInput:
        url = f"http://news.example/{name}"
        return PageInput(body=body, url=url, canonical_url=url, final_url=url, fetched_at="2024-01-01T00:00:00Z")

    dev = [page(gzip.decompress(path.read_bytes()), path.name)
           for path in sorted((SHARED / "data" / "extraction-dev" / "html").glob("*.html.gz"))]
    french = [page(path.read_bytes(), path.name) for path in sorted((ANNOTATED / "fr").glob("*.html"))]
    return {"dev": dev, "fr": french}


def memory() -> dict[str, Any]:
    """RSS of one process of the worker's own pool (workers.pipeline.pool.CpuPool: extraction, dedupe,
    NER) as its models load and it works through every page, with the English model only and with both."""
    from workers.pipeline.analyse import AnalyseOptions
    from workers.pipeline.pool import CpuPool

    pages = _pages()
    both = EntityConfig()
    out: dict[str, Any] = {"budget_mib": 1024}
    for name, config in (("english_only", EntityConfig(models=both.models[:1])), ("english_and_french", both)):
        pool = CpuPool(AnalyseOptions(config), 1)
        try:
            pool.warm_up()
            assert pool._executor is not None
            pid = next(iter(pool._executor._processes))  # private, but the only way to the worker pid
            steps: dict[str, Any] = {"started": _rss_mib(pid)}

            async def run(batch: list[Any], pool: CpuPool = pool) -> list[str]:  # this iteration's pool
                statuses = []
                for item in batch:
                    record, _ = await pool.analyse(item)
                    statuses.append(record.entities_status)
                return statuses

            french = asyncio.run(run(pages["fr"][:1]))
            steps["after_first_french_page"] = {**_rss_mib(pid), "status": french[0]}
            statuses = asyncio.run(run(pages["dev"] + pages["fr"]))
            steps["after_all_pages"] = _rss_mib(pid)
            steps["statuses"] = {s: statuses.count(s) for s in sorted(set(statuses))}
            out[name] = steps
        finally:
            pool.close()
    out["second_model_mib"] = round(out["english_and_french"]["after_all_pages"]["rss"]
                                    - out["english_only"]["after_all_pages"]["rss"], 1)
    return out


# -- report ---------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=2, help="passes over the texts per measurement")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="pool size (default: cores)")
    parser.add_argument("--nice", type=int, default=10, help="niceness of pool workers")
    parser.add_argument("--json", action="store_true", help="print one JSON summary line only")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N texts (smoke runs)")
    parser.add_argument("--quality", action="store_true", help="only: scores on the annotated articles")
    parser.add_argument("--languages", action="store_true", help="only: enrich vs nlp.pipe per language (CPU-s)")
    parser.add_argument("--memory", action="store_true", help="only: RSS of a pool process with one and two models")
    parser.add_argument("--repeat-fr", type=int, default=10, help="--languages: repeat the French texts N times")
    args = parser.parse_args()

    if args.quality or args.languages or args.memory:
        report: dict[str, Any] = {}
        if args.quality:
            report["quality"] = quality()
        if args.languages:
            report["languages"] = language_throughput(args.passes, args.repeat_fr)
        if args.memory:
            report["memory"] = memory()
        print(json.dumps(report, indent=None if args.json else 1, ensure_ascii=False))
        return 0

    load_at_start = os.getloadavg()[0]
    items = load_items()
    if args.limit:
        items = items[:args.limit]
    chars = sum(len(spacy_input(item)) for item in items)
    config = EntityConfig()
    recognizer = EntityRecognizer(config)
    recognizer.enrich(None, "Warm-up: Angela Merkel visited Paris on Monday.", "en")

    single = one_core(recognizer, items, args.passes)
    idle = asyncio.run(idle_lag(1.0))
    inline = asyncio.run(inline_lag(recognizer, items[:20]))
    runs = [PoolRun(1, args.nice), PoolRun(args.workers, args.nice)]
    if args.nice != 0:
        runs.append(PoolRun(args.workers, 0))
    one_core_walls = asyncio.run(compare_pools(config, recognizer, items, runs, args.passes))

    docs = len(items)
    one_core_each = docs / min(one_core_walls)
    one_worker = docs / min(runs[0].walls)
    spacy_wall, spacy_cpu = single["spacy_pipe"]["wall"], single["spacy_pipe"]["cpu"]
    summary: dict[str, Any] = {
        "docs": docs,
        "chars": chars,
        "cores": os.cpu_count(),
        "loadavg_1m_at_start": load_at_start,
        "one_core": {name: {k: round(v, 2) for k, v in rates.items()} for name, rates in single.items()},
        "ratio_vs_spacy_pipe": {
            name: {"wall": round(rates["wall"] / spacy_wall, 3), "cpu": round(rates["cpu"] / spacy_cpu, 3)}
            for name, rates in single.items() if name != "spacy_pipe"},
        "one_core_enrich_interleaved_docs_per_s": round(one_core_each, 2),
        "pool": [
            {"workers": run.workers, "nice": run.nice,
             "docs_per_s": round(docs / min(run.walls), 2),
             "speedup_vs_one_core_enrich": round(docs / min(run.walls) / one_core_each, 3),
             "speedup_vs_one_worker_pool": round(docs / min(run.walls) / one_worker, 3),
             "docs_per_worker_cpu_s": round(docs * len(run.walls) / run.worker_cpu, 2),
             "per_core_cpu_vs_spacy_pipe": round(docs * len(run.walls) / run.worker_cpu / spacy_cpu, 3),
             # Share of worker-time on a CPU, and runnable but starved by other load.
             "worker_on_cpu": round(run.worker_running / (sum(run.walls) * run.workers), 3),
             "worker_starved": round(run.worker_waiting / (sum(run.walls) * run.workers), 3),
             # What the pool would do with the cores to itself: every worker busy
             # whenever it was runnable, at its measured per-CPU-second rate.
             "estimated_speedup_uncontended": round(
                 run.workers * min(1.0, (run.worker_running + run.worker_waiting) / (sum(run.walls) * run.workers))
                 * (docs * len(run.walls) / run.worker_cpu) / single["stage_enrich_each"]["cpu"], 3),
             "lag": lag_summary(run.lags),
             "loadavg_1m": [round(x, 2) for x in run.load]}
            for run in runs
        ],
        "lag_idle": idle,
        "lag_ner_inline_no_pool": inline,
    }
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"texts: {len(items)} articles, {chars:,} characters, {os.cpu_count()} cores, "
          f"best of {args.passes} passes, load average at start {load_at_start:.2f}")
    print("\none core: docs/s (wall) and docs per CPU-second; ratios against spacy_pipe:")
    for name, rates in single.items():
        print(f"  {name:<18} {rates['wall']:7.2f} docs/s  {rates['cpu']:7.2f} docs/cpu-s   "
              f"ratio wall {rates['wall'] / spacy_wall:.3f}  cpu {rates['cpu'] / spacy_cpu:.3f}")
    print(f"\npool (asyncio + ProcessPoolExecutor, spawn, one article per task), rounds interleaved with "
          f"one-core enrich at {one_core_each:.2f} docs/s:")
    for p in summary["pool"]:
        lag = p["lag"]
        print(f"  workers={p['workers']} nice={p['nice']:>2}: {p['docs_per_s']:7.2f} docs/s, "
              f"speedup {p['speedup_vs_one_core_enrich']:.2f}x vs one-core enrich, "
              f"{p['speedup_vs_one_worker_pool']:.2f}x vs 1-worker pool; "
              f"{p['docs_per_worker_cpu_s']:.2f} docs/cpu-s per worker = {p['per_core_cpu_vs_spacy_pipe']:.3f} "
              f"of spacy_pipe; loop lag p50 {lag['p50_ms']} ms, p99 {lag['p99_ms']} ms, max {lag['max_ms']} ms; "
              f"load {p['loadavg_1m']}; workers on CPU {p['worker_on_cpu']:.0%}, starved {p['worker_starved']:.0%}, "
              f"uncontended speedup estimate {p['estimated_speedup_uncontended']:.2f}x")
    print(f"\nloop lag idle:            p99 {idle['p99_ms']} ms, max {idle['max_ms']} ms")
    print(f"loop lag NER inline:      p99 {inline['p99_ms']} ms, max {inline['max_ms']} ms (why the pool exists)")
    print("\n" + json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
