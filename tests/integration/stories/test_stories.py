"""Story clustering on the real broker: copies processed by different workers share a story, in either
order; a distinct report of the same event does not; a restarted worker rebuilds the index from its changelog."""

from __future__ import annotations

import html

import pytest
from aiokafka.partitioner import murmur2

from tests.helpers.kafka import collect, produce, unique_topics_env
from tests.helpers.workerproc import WorkerProcess
from workers.contract.schemas import validate_record
from workers.local.pages import PageServer
from workers.pipeline.urls import article_id, canonicalize_url

BRIDGE = [
    "The city council voted on Tuesday to close the Harbor Bridge for six weeks of repairs after inspectors found "
    "corroded steel on its eastern span, a decision that will send forty thousand drivers a day onto a long detour.",
    "Transport commissioner Dana Ortiz said the work could not be postponed any longer, and that the cost of "
    "eighteen million dollars would be paid mostly from a state infrastructure grant awarded last spring.",
    "Ferry operators promised extra sailings during the closure, while shop owners on the waterfront warned that "
    "losing passing trade in the busy spring season could force some of them to close for good.",
    "Engineers expect the bridge to reopen in the middle of April if the weather holds, although officials "
    "cautioned that further damage found once the deck is opened up could delay the work by several weeks.",
]
LAUNCH = [
    "A robotic lander built by the Astra consortium lifted off on Friday from the coastal spaceport, beginning a "
    "ten-day trip to the south polar region of the Moon, where scientists believe ice lies in permanent shadow.",
    "The lander carries six instruments, including a drill designed to look for water ice up to one metre below "
    "the surface, and a small rover built by university students that will roam for two weeks.",
    "Mission director Paul Anand said the launch went exactly as planned, and that the first stage of the rocket "
    "had landed on a barge at sea eight minutes after lift-off, ready to be flown again.",
    "If it succeeds, the probe will be the first private spacecraft to land near the lunar south pole; two earlier "
    "attempts by other companies ended in crashes during the final minutes of their descent.",
]
# Another writer's report of the bridge closure: the same names and figures, other sentences.
BRIDGE_REPORT = [
    "Commuters who cross the Harbor Bridge face weeks of longer journeys. Officials announced on Tuesday that the "
    "crossing will shut for six weeks because corrosion was found in its steel.",
    "Dana Ortiz, the transport commissioner, told reporters the repairs would cost about eighteen million dollars, "
    "most of it from a state grant. Some forty thousand cars use the bridge daily and will be diverted north.",
    "Ferry companies plan additional crossings, and waterfront businesses say they fear a difficult spring.",
]


def copy_of(paragraphs: list[str], dateline: str) -> list[str]:
    """A wire copy: dateline added, one sentence edited, last paragraph cut, a Related block added."""
    edited = [dateline + paragraphs[0]] + paragraphs[1:-1]
    edited[1] = edited[1].replace(" said ", " told reporters ")
    return edited + ["Related stories", "Markets close higher as tech shares rally",
                     "Museum reopens after two-year renovation"]


def page(title: str, paragraphs: list[str], template: int) -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    if template == 0:
        main = f"<article><h1>{html.escape(title)}</h1>{body}</article>"
    else:
        main = f'<div class="story"><h2 class="headline">{html.escape(title)}</h2><div class="body">{body}</div></div>'
    return (f'<html lang="en"><head><title>{html.escape(title)}</title></head><body>'
            f'<nav><a href="/">Home</a> <a href="/world">World</a></nav>{main}'
            f"<footer>© 2026 Example site {template}</footer></body></html>")


def submission_partition(url: str, partitions: int) -> int:
    """Where the route step sends a URL (the submissions stream is keyed by article id)."""
    key = article_id(canonicalize_url(url)).encode()
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def urls_on_partitions(server: PageServer, name: str, partitions: int, wanted: int) -> str:
    for n in range(100):
        url = server.url(f"/{name}/{n}.html")
        if submission_partition(url, partitions) == wanted:
            return f"/{name}/{n}.html"
    raise AssertionError("no path found")


@pytest.fixture
def pages():
    with PageServer() as server:
        paths = {
            # Bridge: the original on partition 0 first, its copy on partition 1 later.
            "bridge": urls_on_partitions(server, "news/bridge", 2, 0),
            "bridge-copy": urls_on_partitions(server, "wire/bridge", 2, 1),
            # Launch: the copy first (partition 0), the original later (partition 1).
            "launch-copy": urls_on_partitions(server, "wire/launch", 2, 0),
            "launch": urls_on_partitions(server, "news/launch", 2, 1),
            "bridge-report": urls_on_partitions(server, "other/bridge", 2, 1),
        }
        server.add_page(paths["bridge"], page("Harbor Bridge to close for repairs", BRIDGE, 0))
        server.add_page(paths["bridge-copy"],
                        page("City shuts bridge | Wire", copy_of(BRIDGE, "WASHINGTON (AP) — "), 1))
        server.add_page(paths["launch"], page("Lunar probe lifts off", LAUNCH, 0))
        server.add_page(paths["launch-copy"],
                        page("Moon lander launched - World", copy_of(LAUNCH, "PARIS (AFP) — "), 1))
        server.add_page(paths["bridge-report"], page("Commuters brace for detours", BRIDGE_REPORT, 1))
        yield server, {name: server.url(path) for name, path in paths.items()}


async def submit_and_wait(bootstrap: str, env: dict[str, str], urls: list[str], expected: int) -> dict[str, dict]:
    await produce(bootstrap, env["NEWSWIRE_INPUT_TOPIC"], [u.encode() for u in urls])
    topic = env["NEWSWIRE_ARTICLES_TOPIC"]
    found = await collect(bootstrap, [topic], until=lambda f: len({v["url"] for _, v, _ in f[topic]}) >= expected,
                          timeout=240)
    return {value["url"]: value for _, value, _ in found[topic]}


async def test_copies_processed_by_two_workers_share_a_story_in_either_order(kafka_bootstrap, tmp_path, pages):
    _, url = pages
    env = unique_topics_env(kafka_bootstrap, NEWSWIRE_TOPIC_PARTITIONS="2", NEWSWIRE_ENTITIES_ENABLED="false",
                            NEWSWIRE_ENTITIES_TOPIC="")
    workers = [WorkerProcess(env, tmp_path, name=f"worker-{i}").start() for i in range(2)]
    try:
        for worker in workers:
            worker.wait_ready(timeout=180)

        def partitions_held() -> list[int]:
            return [(worker.readiness() or {}).get("assigned_partitions", 0) for worker in workers]

        assert partitions_held() == [1, 1]  # each worker processes one of the two submission partitions
        first = await submit_and_wait(kafka_bootstrap, env, [url["bridge"], url["launch-copy"]], 2)
        records = await submit_and_wait(kafka_bootstrap, env, [url["bridge-copy"], url["launch"],
                                                                url["bridge-report"]], 5)
        assert partitions_held() == [1, 1], "a rebalance moved partitions during the test"
    finally:
        for worker in workers:
            worker.terminate()
    log = "\n".join(worker.log_tail(20) for worker in workers)
    assert set(records) >= set(first)
    for record in records.values():
        validate_record("article", record)
    bridge, launch_copy = records[url["bridge"]], records[url["launch-copy"]]
    # Whichever copy arrived first starts the story; the later one joins it.
    assert bridge["story_id"] == bridge["id"] and bridge["near_duplicate_of"] is None, log
    assert launch_copy["story_id"] == launch_copy["id"] and launch_copy["similarity"] is None, log
    bridge_copy, launch = records[url["bridge-copy"]], records[url["launch"]]
    assert (bridge_copy["story_id"], bridge_copy["near_duplicate_of"]) == (bridge["id"], bridge["id"]), log
    assert (launch["story_id"], launch["near_duplicate_of"]) == (launch_copy["id"], launch_copy["id"]), log
    assert 0.5 <= bridge_copy["similarity"] <= 1 and 0.5 <= launch["similarity"] <= 1
    report = records[url["bridge-report"]]
    assert (report["story_id"], report["near_duplicate_of"]) == (report["id"], None), log


@pytest.mark.parametrize("mode", ["exactly_once", "at_least_once"])
async def test_a_restarted_worker_rebuilds_the_story_index_from_its_changelog(kafka_bootstrap, tmp_path, pages, mode):
    _, url = pages
    env = unique_topics_env(kafka_bootstrap, NEWSWIRE_TOPIC_PARTITIONS="1", NEWSWIRE_ENTITIES_ENABLED="false",
                            NEWSWIRE_ENTITIES_TOPIC="", NEWSWIRE_PROCESSING_GUARANTEE=mode)
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    worker = WorkerProcess(env, tmp_path / "first", name="first").start()
    try:
        worker.wait_ready(timeout=180)
        first = await submit_and_wait(kafka_bootstrap, env, [url["bridge"]], 1)
    finally:
        worker.terminate()
    # A new process (its own data dir): the index exists only in the stories changelog.
    worker = WorkerProcess(env, tmp_path / "second", name="second").start()
    try:
        worker.wait_ready(timeout=180)
        records = await submit_and_wait(kafka_bootstrap, env, [url["bridge-copy"]], 2)
    finally:
        worker.terminate()
    original = first[url["bridge"]]
    copy = records[url["bridge-copy"]]
    assert original["story_id"] == original["id"]
    assert (copy["story_id"], copy["near_duplicate_of"]) == (original["id"], original["id"]), worker.log_tail(30)
