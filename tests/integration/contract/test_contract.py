"""The downstream contract on the real broker: what newswire writes matches its schemas, keys and headers,
the example consumer and `newswire tail` read it, and a topic that differs from its spec is refused."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.partitioner import murmur2

from tests.helpers.expectations import SEED_EXPECTED, SEED_HTML, assert_seed_record
from tests.helpers.kafka import unique_topics_env
from tests.helpers.workerproc import WorkerProcess
from workers.contract import schemas
from workers.contract.topics import TopicMismatch, ensure_topics, topic_specs
from workers.local.pages import PageServer
from workers.pipeline.urls import canonicalize_url
from workers.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "consume_articles.py"
PARTITIONS = 3

GOOD_PAGE = """<html lang="en"><head><title>Harbour bridge reopens after repairs</title></head><body>
<article><h1>Harbour bridge reopens after repairs</h1>
<p>The harbour bridge in Portsmouth reopened on Monday after eight months of repairs, the city council said.</p>
<p>Engineers replaced the steel cables and resurfaced the deck, which carries some 40,000 vehicles a day.</p>
<p>Mayor Jane Porter thanked residents for their patience during the long closure of the crossing.</p>
</article></body></html>"""


# -- one worker run for the module: every test below reads its outputs ------------------------


@pytest.fixture(scope="module")
def env(kafka_bootstrap):
    return unique_topics_env(kafka_bootstrap, NEWSWIRE_TOPIC_PARTITIONS=str(PARTITIONS))


@pytest.fixture(scope="module")
def pages():
    with PageServer() as server:
        server.add_page("/seed", SEED_HTML.read_bytes())
        server.add_page("/good", GOOD_PAGE)
        yield server


@pytest.fixture(scope="module")
def submissions(pages):
    """(key, value, trace id) of every message the test submits, with what it should become."""
    seed = orjson.dumps({"url": pages.url("/seed") + "?utm_source=contract", "source": "contract-test",
                         "submitted_at": "2024-02-07T10:00:00Z", "metadata": {"title": "Feed: Blinken"}})
    return {
        "seed": (canonicalize_url(pages.url("/seed")).encode(), seed, b"trace-seed"),
        "good": (None, pages.url("/good").encode(), b"trace-good"),
        "missing": (None, pages.url("/missing").encode(), b"trace-missing"),
        "invalid": (None, b"this is not a url", b"trace-invalid"),
        "ftp": (None, b'{"url": "ftp://example.com/file"}', b"trace-ftp"),
    }


@pytest.fixture(scope="module")
def outputs(env, pages, submissions, tmp_path_factory):
    """Run one worker over the submissions; {role: [(partition, key, value bytes, headers)]}."""
    worker = WorkerProcess(env, tmp_path_factory.mktemp("contract-worker")).start()
    try:
        worker.wait_ready()
        asyncio.run(_produce(env, submissions.values()))
        found = asyncio.run(_collect(env, expected_articles=2, expected_letters=3))
    finally:
        worker.terminate()
    assert len(found["articles"]) == 2 and len(found["deadletter"]) == 3, worker.log_tail()
    return found


async def _produce(env, messages) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=env["NEWSWIRE_BOOTSTRAP_SERVERS"], acks="all")
    await producer.start()
    try:
        for key, value, trace in messages:
            await producer.send_and_wait(env["NEWSWIRE_INPUT_TOPIC"], value=value, key=key,
                                         headers=[("trace_id", trace)])
    finally:
        await producer.stop()


async def _collect(env, *, expected_articles: int, expected_letters: int, timeout: float = 180.0) -> dict:
    roles = {env["NEWSWIRE_ARTICLES_TOPIC"]: "articles", env["NEWSWIRE_DEADLETTER_TOPIC"]: "deadletter",
             env["NEWSWIRE_ENTITIES_TOPIC"]: "entities"}
    consumer = AIOKafkaConsumer(*roles, bootstrap_servers=env["NEWSWIRE_BOOTSTRAP_SERVERS"], group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                isolation_level="read_committed", metadata_max_age_ms=1000)
    found: dict[str, list] = {role: [] for role in roles.values()}

    def done() -> bool:
        wanted_entities = sum(len(orjson.loads(v)["entities"]) for _, _, v, _ in found["articles"])
        return (len(found["articles"]) >= expected_articles and len(found["deadletter"]) >= expected_letters
                and len(found["entities"]) >= wanted_entities)

    await consumer.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not done():
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                for m in messages:
                    found[roles[tp.topic]].append((m.partition, m.key, m.value, dict(m.headers or ())))
        # Anything written after the last expected message would break the counts below: read a little more.
        batch = await consumer.getmany(timeout_ms=1500)
        for tp, messages in batch.items():
            for m in messages:
                found[roles[tp.topic]].append((m.partition, m.key, m.value, dict(m.headers or ())))
    finally:
        await consumer.stop()
    return found


def _by_trace(messages) -> dict[bytes, list]:
    out: dict[bytes, list] = {}
    for partition, key, value, headers in messages:
        out.setdefault(headers.get("trace_id"), []).append((partition, key, orjson.loads(value), headers))
    return out


def _expected_partition(key: bytes) -> int:
    # The Java client's default partitioner (murmur2), which aiokafka and Faust use too.
    return (murmur2(key) & 0x7FFFFFFF) % PARTITIONS


# -- schemas ---------------------------------------------------------------------------------------


def test_every_produced_message_validates_against_its_schema(outputs, submissions):
    kinds = {"articles": "article", "deadletter": "deadletter", "entities": "entity"}
    for role, messages in outputs.items():
        assert messages or role == "entities"
        for _, _, value, _ in messages:
            schemas.validate_record(kinds[role], value)                    # strict producer form
            schemas.validate_record(kinds[role], value, consumer=True)     # what a v1 consumer accepts
    schemas.validate_record("submission", submissions["seed"][1])
    assert schemas.record_errors("submission", submissions["ftp"][1])  # and the worker dead-letters it


def test_headers_carry_schema_version_content_type_and_the_submission_trace_id(outputs):
    for role, messages in outputs.items():
        for _, _, value, headers in messages:
            assert headers["content_type"] == b"application/json"
            assert headers["trace_id"]
            if role != "entities":
                assert headers["schema_version"] == orjson.loads(value)["schema_version"].encode()
    articles = _by_trace(outputs["articles"])
    letters = _by_trace(outputs["deadletter"])
    entities = _by_trace(outputs["entities"])
    assert set(articles) == {b"trace-seed", b"trace-good"}
    assert set(letters) == {b"trace-missing", b"trace-invalid", b"trace-ftp"}
    seed = articles[b"trace-seed"][0][2]
    assert {m[2]["article_id"] for m in entities[b"trace-seed"]} == {seed["id"]}


def test_articles_are_keyed_and_partitioned_by_article_id(outputs):
    for partition, key, value, _ in outputs["articles"]:
        record = orjson.loads(value)
        assert key == record["id"].encode()
        assert partition == _expected_partition(key)


def test_dead_letters_are_keyed_by_the_submitted_url(outputs, pages, submissions):
    letters = {h["trace_id"]: (p, k, orjson.loads(v)) for p, k, v, h in outputs["deadletter"]}
    _, key, missing = letters[b"trace-missing"]
    assert missing["error"] == "http_404" and key == pages.url("/missing").encode() == missing["url"].encode()
    _, key, invalid = letters[b"trace-invalid"]
    assert invalid["error"] == "invalid_message" and invalid["url"] is None and key == b"this is not a url"
    _, key, ftp = letters[b"trace-ftp"]
    assert ftp["error"] == "invalid_url" and ftp["stage"] == "decode"
    for partition, key, _ in letters.values():
        assert partition == _expected_partition(key)


def test_entity_stream_has_one_message_per_article_entity_keyed_by_label_and_name(outputs):
    articles = {orjson.loads(v)["id"]: orjson.loads(v) for _, _, v, _ in outputs["articles"]}
    messages = [(p, k, orjson.loads(v)) for p, k, v, _ in outputs["entities"]]
    expected = sorted((a["id"], e["label"], e["name"]) for a in articles.values() for e in a["entities"])
    assert sorted((m["article_id"], m["label"], m["name"]) for _, _, m in messages) == expected
    for partition, key, message in messages:
        assert key == f"{message['label']}:{message['name']}".encode()
        assert partition == _expected_partition(key)
        article = articles[message["article_id"]]
        assert message["url"] == article["canonical_url"] and message["title"] == article["title"]
    assert b"PERSON:Antony Blinken" in {k for _, k, _ in messages}


def test_seed_record_carries_the_submission_context(outputs, pages):
    seed = next(orjson.loads(v) for _, _, v, h in outputs["articles"] if h["trace_id"] == b"trace-seed")
    assert_seed_record(seed)
    assert seed["url"].endswith("?utm_source=contract")
    assert seed["canonical_url"] == canonicalize_url(pages.url("/seed"))
    assert (seed["source"], seed["submitted_at"], seed["feed_title"]) == (
        "contract-test", "2024-02-07T10:00:00Z", "Feed: Blinken")


# -- consuming ---------------------------------------------------------------------------------------


def _run(args: list[str], env: dict[str, str], stdin: bytes | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, env={**os.environ, **env}, input=stdin, capture_output=True, timeout=timeout,
                          check=False, cwd=ROOT)


def _example(env, *extra: str) -> subprocess.CompletedProcess:
    return _run([sys.executable, str(EXAMPLE), "--bootstrap", env["NEWSWIRE_BOOTSTRAP_SERVERS"],
                 "--topic", env["NEWSWIRE_ARTICLES_TOPIC"], *extra], env)


def _top_entities_line(record: dict, top: int = 5) -> str:
    return "top entities: " + ", ".join(f"{e['name']} ({e['label']})" for e in record["entities"][:top])


async def _committed(bootstrap: str, group: str) -> dict:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items()}


def test_example_consumer_prints_the_seed_title_and_top_entities(outputs, env):
    seed = next(orjson.loads(v) for _, _, v, h in outputs["articles"] if h["trace_id"] == b"trace-seed")
    group = f"{env['NEWSWIRE_GROUP_ID']}-example"
    first = _example(env, "--group", group, "--from-beginning", "--max", "2", "--timeout", "30")
    assert first.returncode == 0, first.stderr.decode()
    text = first.stdout.decode()
    assert f"{SEED_EXPECTED['title']} | {SEED_EXPECTED['site_name']} ({SEED_EXPECTED['published']}" in text
    assert _top_entities_line(seed) in text
    assert "Antony Blinken (PERSON)" in text
    assert "Harbour bridge reopens after repairs" in text

    # The group committed what it printed (offset = next message to read, per partition) ...
    committed = asyncio.run(_committed(env["NEWSWIRE_BOOTSTRAP_SERVERS"], group))
    assert sum(committed.values()) == len(outputs["articles"]), committed
    # ... so running it again has nothing new to show.
    again = _example(env, "--group", group, "--from-beginning", "--timeout", "3")
    assert again.returncode == 0 and again.stdout == b"", again.stdout

    # Replay: a new group that starts from the beginning reads every article again.
    replay = _example(env, "--group", group + "-replay", "--from-beginning", "--max", "2", "--timeout", "30")
    assert sorted(replay.stdout.decode().splitlines()) == sorted(text.splitlines())


def test_newswire_tail_gives_the_same_records(outputs, env):
    tail = _run([sys.executable, "-m", "workers", "tail", "--topic", "articles", "--from-beginning",
                 "--max", "2", "--timeout", "30"], env)
    assert tail.returncode == 0, tail.stderr.decode()
    lines = tail.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        schemas.validate_record("article", line)
    ids = {orjson.loads(line)["id"] for line in lines}
    assert ids == {orjson.loads(v)["id"] for _, _, v, _ in outputs["articles"]}

    printed = _run([sys.executable, str(EXAMPLE), "--stdin"], env, stdin=tail.stdout)
    assert SEED_EXPECTED["title"] in printed.stdout.decode() and "Antony Blinken (PERSON)" in printed.stdout.decode()

    # The same lines through the schema CLI (what a consumer team can run on a sample).
    checked = _run([sys.executable, "-m", "workers.contract.schemas", "--validate", "article"], env, stdin=tail.stdout)
    assert checked.returncode == 0, checked.stderr.decode()


# -- topics ------------------------------------------------------------------------------------------


@pytest.fixture
def wrong_topic_env(kafka_bootstrap):
    """Fresh topic names whose articles topic already exists with 1 partition instead of 3."""
    env = unique_topics_env(kafka_bootstrap, NEWSWIRE_TOPIC_PARTITIONS="3")

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(env["NEWSWIRE_ARTICLES_TOPIC"], 1, 1)])
        finally:
            await admin.close()

    asyncio.run(create())
    return env


async def test_a_topic_with_the_wrong_partition_count_is_a_clear_error(wrong_topic_env):
    env = wrong_topic_env
    articles = env["NEWSWIRE_ARTICLES_TOPIC"]
    with pytest.raises(TopicMismatch) as caught:
        await ensure_topics(Settings.from_env(env))
    message = caught.value.detail
    assert f"topic '{articles}' has 1 partition but newswire is configured for 3" in message
    assert "NEWSWIRE_TOPIC_PARTITIONS=1" in message
    # Created without compaction, so that is reported too, in the same line.
    assert "cleanup.policy=delete but newswire needs cleanup.policy=compact" in message
    assert "\n" not in message

    # The command line says so on one line and exits 2; so does the worker, before Faust starts.
    for command in (["topics"], ["worker"]):
        done = _run([sys.executable, "-m", "workers", *command], env, timeout=60)
        assert done.returncode == 2, done.stderr.decode()[-2000:]
        last = done.stderr.decode().strip().splitlines()[-1]
        assert last.startswith("newswire: ") and f"'{articles}' has 1 partition" in last


async def test_missing_topics_are_created_as_specified_and_then_accepted(kafka_bootstrap):
    env = unique_topics_env(kafka_bootstrap, NEWSWIRE_TOPIC_PARTITIONS="2")
    settings = Settings.from_env(env)
    created = await ensure_topics(settings)
    assert sorted(created) == sorted([settings.input_topic, settings.articles_topic, settings.deadletter_topic,
                                      settings.entities_topic, settings.feeds_topic, settings.feeds_status_topic])
    assert await ensure_topics(settings) == []  # second start: nothing to create, nothing differs

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(created)}
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in created])
    finally:
        await admin.close()
    assert set(described.values()) == {2}
    configs = {res[3]: {e[0]: e[1] for e in res[4]} for r in responses for res in r.resources}
    for spec in topic_specs(settings):
        for name, value in spec.config.items():
            assert configs[spec.name][name] == value, (spec.name, name)
    assert configs[settings.articles_topic]["cleanup.policy"] == "compact"
