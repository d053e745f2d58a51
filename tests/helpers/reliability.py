"""Pieces of the delivery tests: a batch of pages, worker groups, a live reader, the accounting."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

from tests.helpers.kafka import produce, unique_topics_env
from tests.helpers.workerproc import WorkerProcess
from workers.local.pages import PageServer, Route
from workers.pipeline.urls import canonicalize_url

WORDS = ("harbour council river bridge budget school railway museum festival hospital library market "
         "orchard factory airport stadium theatre village tower garden").split()


def page_html(i: int) -> str:
    """A small article, unique per ``i`` (its own words, so its content hash is its own)."""
    a, b, c = WORDS[i % len(WORDS)], WORDS[(i * 7 + 3) % len(WORDS)], WORDS[(i * 13 + 5) % len(WORDS)]
    return (f'<html lang="en"><head><title>Story {i}: the {a} and the {b}</title></head><body><article>'
            f"<h1>Story {i}: the {a} and the {b}</h1>"
            f"<p>Officials said on Monday that the {a} in district {i} would reopen after work on the {b} "
            f"finished, ending a closure that lasted {i % 11 + 2} months.</p>"
            f"<p>Residents near the {c} welcomed the decision, and the council promised a review of "
            f"case number {i * 31 + 7} before the end of the year.</p>"
            f"<p>The plan, numbered {i}, was approved by {i % 5 + 3} votes to {i % 3}.</p>"
            "</article></body></html>")


def _slow(body: bytes, delay_s: float) -> Callable[[BaseHTTPRequestHandler], None]:
    def handle(request: BaseHTTPRequestHandler) -> None:
        time.sleep(delay_s)  # each request has its own server thread
        request.send_response(200)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
    return handle


@dataclass
class Batch:
    """What was submitted and what each item must become."""

    good: list[str] = field(default_factory=list)          # -> one article record each
    failing: list[str] = field(default_factory=list)       # -> one dead letter each
    invalid: list[bytes] = field(default_factory=list)     # -> one dead letter each (decode stage)
    copies: list[tuple[str, str]] = field(default_factory=list)  # same content at two URLs

    @property
    def size(self) -> int:
        return len(self.good) + len(self.failing) + len(self.invalid)


def serve_batch(server: PageServer, n_good: int, *, delay_s: float = 0.4, n_missing: int = 10,
                n_copies: int = 4) -> Batch:
    batch = Batch()
    for i in range(n_good):
        batch.good.append(server.add(f"/a/{i}", _slow(page_html(i).encode(), delay_s)))
    for i in range(n_copies):
        body = page_html(100_000 + i).encode()
        first = server.add(f"/copy/{i}/one", _slow(body, delay_s))
        second = server.add(f"/copy/{i}/two", _slow(body, delay_s))
        batch.good += [first, second]
        batch.copies.append((first, second))
    batch.failing += [server.url(f"/missing/{i}") for i in range(n_missing)]          # http_404
    # The poison message: fails on every attempt, must not block its partition.
    batch.failing.append(server.add("/always-500", Route(500, "text/html", b"<html>down</html>")))
    batch.failing.append(server.add("/feed.json", Route(200, "application/json", b"{}")))  # not_html
    batch.invalid += [b"this is not a url", b'{"url": ']
    return batch


async def submit(bootstrap: str, topic: str, batch: Batch) -> None:
    urls = batch.good + batch.failing
    values = [orjson.dumps({"url": url, "source": "reliability"}) for url in urls] + list(batch.invalid)
    keys = [canonicalize_url(url).encode() for url in urls] + [None] * len(batch.invalid)
    await produce(bootstrap, topic, values, keys)


def reliability_env(bootstrap: str, mode: str, **extra: str) -> dict[str, str]:
    settings = dict(
        NEWSWIRE_PROCESSING_GUARANTEE=mode,
        NEWSWIRE_TOPIC_PARTITIONS="6",
        NEWSWIRE_ENTITIES_ENABLED="false",
        NEWSWIRE_POOL_SIZE="1",
        NEWSWIRE_MAX_IN_FLIGHT="4",
        NEWSWIRE_FETCH_PER_HOST="8",
        NEWSWIRE_FETCH_RESPECT_ROBOTS="false",
        NEWSWIRE_SHUTDOWN_TIMEOUT_S="20",
        NEWSWIRE_LOG_LEVEL="info",
    )
    return unique_topics_env(bootstrap, **{**settings, **extra})


class WorkerGroup:
    """Named `newswire worker` processes of one consumer group."""

    def __init__(self, env: dict[str, str], workdir: Path, names: list[str]) -> None:
        self.env = env
        self.workdir = workdir
        self.workers = {name: WorkerProcess(env, workdir, name) for name in names}

    def start(self) -> WorkerGroup:
        for proc in self.workers.values():
            proc.start()
        return self

    def __getitem__(self, name: str) -> WorkerProcess:
        return self.workers[name]

    def kill(self, name: str) -> None:
        """SIGKILL the worker and its process-pool children, as when its container is killed.

        (A SIGKILLed worker's pool processes are not reaped by anyone; left
        alone they would outlive the test.)
        """
        proc = self.workers[name]
        if proc.proc is None:
            return
        children = _descendants(proc.proc.pid)
        proc.kill()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def restart(self, name: str) -> WorkerProcess:
        proc = WorkerProcess(self.env, self.workdir, name)
        self.workers[name] = proc.start()
        return proc

    def wait_all_ready(self, timeout: float = 180.0) -> None:
        """Until every worker is ready at the same moment (each holds input partitions)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [proc.readiness() for proc in self.workers.values()]
            if all(s and s.get("ready") for s in states):
                return
            for proc in self.workers.values():
                if proc.proc is not None and proc.proc.poll() is not None:
                    raise RuntimeError(f"worker exited with {proc.proc.returncode}:\n{proc.log_tail()}")
            time.sleep(0.5)
        raise TimeoutError("workers not all ready:\n" + "\n".join(p.log_tail(15) for p in self.workers.values()))

    def stop(self) -> None:
        for proc in self.workers.values():
            proc.terminate(timeout=60)

    def count_in_logs(self, text: str) -> int:
        """Lines containing ``text`` in the workers' logs (every life of each worker: logs are appended)."""
        return sum(proc.log_path.read_text(errors="replace").count(text) for proc in self.workers.values())

    def logs(self, lines: int = 30) -> str:
        return "\n".join(f"--- {name}\n{proc.log_tail(lines)}" for name, proc in self.workers.items())


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


class OutputReader:
    """Reads the articles and dead-letter topics (read_committed) in the background while a test acts."""

    def __init__(self, bootstrap: str, articles: str, deadletter: str) -> None:
        self.bootstrap = bootstrap
        self.articles_topic = articles
        self.deadletter_topic = deadletter
        self.articles: list[dict] = []
        self.letters: list[dict] = []
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> OutputReader:
        self._consumer = AIOKafkaConsumer(self.articles_topic, self.deadletter_topic, bootstrap_servers=self.bootstrap,
                                          group_id=None, auto_offset_reset="earliest", enable_auto_commit=False,
                                          isolation_level="read_committed", metadata_max_age_ms=1000)
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    async def _read(self) -> None:
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=500)
            except Exception:  # the broker is down for a while in one test
                await asyncio.sleep(1)
                continue
            for tp, messages in batch.items():
                target = self.articles if tp.topic == self.articles_topic else self.letters
                target.extend(orjson.loads(m.value) for m in messages)

    @property
    def count(self) -> int:
        return len(self.articles) + len(self.letters)

    async def wait_for(self, condition: Callable[[OutputReader], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self):
                return True
            await asyncio.sleep(0.25)
        return condition(self)

    async def settle(self, quiet_s: float, timeout: float) -> None:
        """Until no new output arrived for ``quiet_s`` seconds (late duplicates included)."""
        deadline = time.monotonic() + timeout
        last, since = self.count, time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            if self.count != last:
                last, since = self.count, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return


@dataclass
class Accounting:
    submitted: int
    records: int
    dead_letters: int
    missing: list[str]
    duplicates: int               # outputs beyond the first for an item
    wrong_outcome: list[str]      # a good page dead-lettered, or a failing one recorded

    def line(self, mode: str, phase: str) -> str:
        return (f"[{mode}/{phase}] submitted={self.submitted} records={self.records} "
                f"dead_letters={self.dead_letters} duplicates={self.duplicates} missing={len(self.missing)} "
                f"wrong_outcome={len(self.wrong_outcome)}")


def account(batch: Batch, articles: list[dict], letters: list[dict]) -> Accounting:
    outputs: Counter[str] = Counter()
    recorded = {a["url"] for a in articles}
    lettered: set[str] = set()
    for record in articles:
        outputs[record["url"]] += 1
    for letter in letters:
        item = letter["url"] or letter["raw"]
        outputs[item] += 1
        lettered.add(item)
    expected = batch.good + batch.failing + [raw.decode() for raw in batch.invalid]
    missing = [item for item in expected if outputs[item] == 0]
    duplicates = sum(max(0, outputs[item] - 1) for item in expected)
    wrong = [u for u in batch.good if u in lettered] + [u for u in batch.failing if u in recorded]
    return Accounting(submitted=len(expected), records=len(articles), dead_letters=len(letters), missing=missing,
                      duplicates=duplicates, wrong_outcome=wrong)


def duplicate_details(articles: list[dict], letters: list[dict], limit: int = 12) -> list[str]:
    """"url: processed/failed times" for items with more than one output (for the test report)."""
    times: dict[str, list[str]] = {}
    for record in articles:
        times.setdefault(record["url"], []).append(record.get("processed_at", "?"))
    for letter in letters:
        times.setdefault(letter["url"] or letter["raw"], []).append(letter.get("failed_at", "?"))
    return [f"{item}: {sorted(ts)}" for item, ts in times.items() if len(ts) > 1][:limit]


def copies_marked(batch: Batch, articles: list[dict]) -> list[str]:
    """Problems with duplicate_of: of each pair of copies, the later one names the first."""
    by_url: dict[str, list[dict]] = {}
    for record in articles:
        by_url.setdefault(record["url"], []).append(record)
    problems = []
    for one, two in batch.copies:
        ids = {by_url[u][0]["id"]: u for u in (one, two) if u in by_url}
        if len(ids) != 2:
            problems.append(f"{one}: pair incomplete")
            continue
        marks = {r["url"]: r.get("duplicate_of") for u in (one, two) for r in by_url[u]}
        firsts = [u for u, mark in marks.items() if mark is None]
        seconds = [u for u, mark in marks.items() if mark is not None]
        if len(firsts) != 1 or len(seconds) != 1 or marks[seconds[0]] != by_url[firsts[0]][0]["id"]:
            problems.append(f"{one}: marks {marks}")
    return problems


async def resubmit_and_expect_no_new_record(reader: OutputReader, bootstrap: str, topic: str, batch: Batch,
                                            group: WorkerGroup, label: str) -> None:
    """Submit the whole batch again: no new article record may appear.

    Failing URLs are retried (documented), so their second dead letters mark
    the end of the resubmitted batch.
    """
    records_before, letters_before = len(reader.articles), len(reader.letters)
    await submit(bootstrap, topic, batch)
    expected_letters = letters_before + len(batch.failing) + len(batch.invalid)
    assert await reader.wait_for(lambda r: len(r.letters) >= expected_letters, 240), group.logs()
    await reader.settle(quiet_s=8, timeout=60)
    print(f"[{label}/resubmit] submitted={batch.size} new_records={len(reader.articles) - records_before} "
          f"new_dead_letters={len(reader.letters) - letters_before}")
    assert len(reader.articles) == records_before


async def expect_every_item_accounted_for(reader: OutputReader, batch: Batch, group: WorkerGroup, mode: str,
                                          phase: str, *details: str) -> Accounting:
    """Wait until every submitted item has an output, then check the mode's guarantee and print the counts.

    Each item: one article record or one dead letter of the right kind; none
    missing; in exactly_once no duplicate; copies marked ``duplicate_of``.
    The line printed also counts the partitions the delivery guard read again
    (workers/continuity.py): holes Faust left.
    """
    everything = lambda r: not account(batch, r.articles, r.letters).missing  # noqa: E731
    assert await reader.wait_for(everything, 300), (account(batch, reader.articles, reader.letters), group.logs())
    await reader.settle(quiet_s=8, timeout=60)
    result = account(batch, reader.articles, reader.letters)
    rereads = group.count_in_logs("reading the partition again")
    print(result.line(mode, phase), f"guard_rereads={rereads}", *details)
    for line in duplicate_details(reader.articles, reader.letters):
        print(f"[{mode}/{phase}/duplicate] {line}")
    assert not result.missing
    assert not result.wrong_outcome, result.wrong_outcome
    if mode == "exactly_once":
        assert result.duplicates == 0, result
    assert not copies_marked(batch, reader.articles)
    return result
