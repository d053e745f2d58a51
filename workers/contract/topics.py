"""Every topic newswire reads or writes, declared once, and applied at start-up.

:func:`topic_specs` is the one place where each topic's name, partitions,
replication factor, retention, cleanup policy, key and schema are declared.
:func:`ensure_topics` (run by ``newswire worker`` before Faust starts and by
``newswire topics``) creates the missing ones and compares the existing ones
with their spec:

* a different partition count or cleanup policy is an error
  (:class:`TopicMismatch`, one line per topic saying what to do): keys would
  land on other partitions than consumers expect, or compaction would not
  keep the latest record per article;
* a different replication factor or retention is logged as a warning: an
  operator may have changed those deliberately, and records stay correct.

The comparison itself (:func:`topic_problems`) is pure, so it is unit-tested
without a broker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from workers.errors import ConfigError
from workers.kafka.diagnosis import mask_secrets, start_client
from workers.kafka.options import aiokafka_options
from workers.settings import Settings

__all__ = [
    "TopicMismatch",
    "TopicSpec",
    "TopicState",
    "ensure_topics",
    "internal_topic_specs",
    "internal_topic_name",
    "min_insync_replicas",
    "topic_problems",
    "topic_specs",
    "topics_markdown",
]

log = logging.getLogger("newswire.topics")

DAY_MS = 86_400_000
# Kafka error codes create_topics may answer per topic that are not failures.
_TOPIC_ALREADY_EXISTS = 36
_NOT_AUTHORISED = {29, 31}  # TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED
# Configs whose difference breaks the contract; the others only warrant a warning.
_MUST_MATCH = ("cleanup.policy",)
_DESCRIBE_ATTEMPTS = 20
_DESCRIBE_PAUSE_S = 0.25
_UNREADABLE: dict[str, dict[str, str]] = {}  # sentinel: the broker refused to describe configs


class TopicMismatch(ConfigError):
    """An existing topic differs from its spec in a way newswire cannot run on."""

    code = "topic_mismatch"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    role: str
    name: str
    partitions: int
    replication: int
    config: dict[str, str] = field(default_factory=dict)
    doc: str = ""
    key: str = ""  # what the message key is, for the reference
    schema: str | None = None  # message kind in workers.contract.schemas (None: not JSON-described)


@dataclass(frozen=True, slots=True)
class TopicState:
    """What the broker says about an existing topic."""

    name: str
    partitions: int
    replication: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The topics of this deployment; names and sizes come from settings."""
    parts, repl = settings.topic_partitions, settings.topic_replication
    specs = [
        TopicSpec("input", settings.input_topic, parts, repl,
                  {"cleanup.policy": "delete", "retention.ms": str(7 * DAY_MS)},
                  "Article URLs to process (bare URL or JSON submission). Written by submitters, read by the workers.",
                  "canonical URL (recommended; any key is accepted)", "submission"),
        TopicSpec("articles", settings.articles_topic, parts, repl,
                  # Keyed by article id: compaction keeps the latest record per article.
                  {"cleanup.policy": "compact", "max.message.bytes": str(8 * 1024 * 1024)},
                  "Enriched article records; compacted, so the latest record of every article stays.",
                  "article id", "article"),
        TopicSpec("deadletter", settings.deadletter_topic, parts, repl,
                  {"cleanup.policy": "delete", "retention.ms": str(14 * DAY_MS)},
                  "Submissions that could not become a record, with the reason.",
                  "submitted URL (raw payload for undecodable messages)", "deadletter"),
    ]
    if settings.entities_topic:
        specs.append(TopicSpec("entities", settings.entities_topic, parts, repl,
                               {"cleanup.policy": "delete", "retention.ms": str(7 * DAY_MS)},
                               "One message per (article, entity) for consumers that aggregate by entity.",
                               "LABEL:name of the entity", "entity"))
    from workers.feeds.topics import feed_topic_specs  # the feed topics are declared beside the feed code

    specs += feed_topic_specs(settings)
    return [_durable(spec) for spec in specs]


def min_insync_replicas(replication: int) -> int:
    """The ``min.insync.replicas`` newswire creates topics with: a majority of the replicas from 3 on.

    Every producer of newswire writes with ``acks=all``: a write counts once
    this many replicas have it.  With 3 replicas that is 2, so a write
    survives the loss of any one broker and writing goes on while one is
    down.  Below 3 replicas it is 1 (Kafka's default): requiring both of
    2 replicas would stop all writing whenever one broker is down.
    """
    return replication // 2 + 1 if replication >= 3 else 1


def _durable(spec: TopicSpec) -> TopicSpec:
    wanted = min_insync_replicas(spec.replication)
    if wanted <= 1:
        return spec  # the broker's default applies, as before
    return dataclasses.replace(spec, config={**spec.config, "min.insync.replicas": str(wanted)})


#: Faust's own names: ``<app id>-<stream>`` for the repartition streams and
#: ``<app id>-<table>-changelog`` for the tables' changelogs.
INTERNAL_STREAMS = ("submissions", "records")
INTERNAL_TABLES = ("seen", "hashes", "feed-subscriptions", "feed-state")


def internal_topic_name(settings: Settings, name: str) -> str:
    """The full name of an internal stream (``submissions``) or changelog (``seen-changelog``) of this group."""
    return f"{settings.group_id}-{name}"


def internal_topic_specs(settings: Settings) -> list[TopicSpec]:
    """The topics Faust would create for the worker's streams and tables, created before it starts.

    Faust creates them itself, but while a worker joins the group: the first
    assignment of a brand-new group can come before a topic exists, and
    Faust's assignor then leaves that stream unassigned until the next
    rebalance ("Ignoring missing topic").  Created up front, every stream has
    its partitions from the first assignment on.
    """
    parts, repl = settings.topic_partitions, settings.topic_replication
    streams = [TopicSpec(name, internal_topic_name(settings, name), parts, repl, {"cleanup.policy": "delete"},
                         f"Internal stream of the group ({name}).") for name in INTERNAL_STREAMS]
    changelogs = [TopicSpec(f"{table}-changelog", internal_topic_name(settings, f"{table}-changelog"), parts, repl,
                            {"cleanup.policy": "compact"}, f"Changelog of the {table} table.")
                  for table in INTERNAL_TABLES]
    return [_durable(spec) for spec in streams + changelogs]


# -- comparing -------------------------------------------------------------------


def _policy(value: str | None) -> frozenset[str]:
    return frozenset(part.strip() for part in (value or "").split(",") if part.strip())


def topic_problems(spec: TopicSpec, state: TopicState) -> tuple[list[str], list[str]]:
    """(errors, warnings) for an existing topic against its spec; each one line saying what to do."""
    errors: list[str] = []
    warnings: list[str] = []
    if state.partitions != spec.partitions:
        errors.append(
            f"topic {spec.name!r} has {_partitions(state.partitions)} but newswire is configured for "
            f"{spec.partitions} (NEWSWIRE_TOPIC_PARTITIONS): set NEWSWIRE_TOPIC_PARTITIONS={state.partitions} "
            f"to use it as it is, or delete and recreate the topic (adding partitions moves keys to other partitions)"
        )
    for name, wanted in spec.config.items():
        have = state.config.get(name)
        if have is None:
            continue  # not reported by the broker: nothing to compare
        same = _policy(have) == _policy(wanted) if name == "cleanup.policy" else have == wanted
        if same:
            continue
        fix = (f"kafka-configs.sh --bootstrap-server ... --alter --entity-type topics --entity-name {spec.name} "
               f"--add-config {name}={wanted}")
        if name in _MUST_MATCH:
            why = f" (the {spec.role} topic is keyed by {spec.key})" if spec.key else ""
            errors.append(f"topic {spec.name!r} has {name}={have} but newswire needs {name}={wanted}{why}: run {fix}")
        else:
            warnings.append(f"topic {spec.name!r} has {name}={have}, newswire would create it with {wanted} "
                            f"(to align: {fix})")
    if state.replication != spec.replication:
        warnings.append(f"topic {spec.name!r} has replication factor {state.replication}, newswire is configured "
                        f"for {spec.replication} (NEWSWIRE_TOPIC_REPLICATION)")
    return errors, warnings


def _partitions(count: int) -> str:
    return f"{count} partition" + ("" if count == 1 else "s")


# -- applying ------------------------------------------------------------------------


async def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create missing topics; raise :class:`TopicMismatch` for an existing topic that differs.

    Returns the names of the topics created.  Warnings (replication factor,
    retention) are logged to ``newswire.topics``.
    """
    specs = topic_specs(settings) if specs is None else specs
    admin = AIOKafkaAdminClient(**aiokafka_options(settings), request_timeout_ms=15_000)
    # A wrong password, an untrusted CA, TLS against a plaintext port ...: one line naming the cause.
    await start_client(admin, settings)
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created = await _create(admin, missing) if missing else []
        # Topics another worker created at the same moment are checked like any existing topic.
        to_check = [s for s in specs if s.name not in created]
        errors: list[str] = []
        for spec, state in zip(to_check, await _describe(admin, [s.name for s in to_check]), strict=True):
            problems, warnings = topic_problems(spec, state)
            errors += problems
            for warning in warnings:
                log.warning(warning, extra={"stage": "topics"})
        if errors:
            raise TopicMismatch("; ".join(errors))
        return created
    except KafkaError as exc:  # connected, then refused (ACLs) or no answer: one line, never a traceback
        raise ConfigError(_refused(exc, settings)) from None
    finally:
        await admin.close()


def _refused(exc: KafkaError, settings: Settings) -> str:
    hint = ""
    if "Authorization" in type(exc).__name__:
        hint = (": the SASL user needs Describe, Create and DescribeConfigs on these topics "
                "(or an admin creates them, see docs/security.md)")
    return mask_secrets(f"Kafka refused the topic check at {settings.bootstrap_servers} "
                        f"({type(exc).__name__}: {exc}){hint}", settings)


async def _create(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> list[str]:
    response = await admin.create_topics(
        [NewTopic(s.name, s.partitions, s.replication, topic_configs=dict(s.config)) for s in specs])
    created, failures = [], []
    for topic, code, *rest in response.topic_errors:
        if code == 0:
            created.append(topic)
        elif code != _TOPIC_ALREADY_EXISTS:
            message = rest[0] if rest and rest[0] else f"Kafka error code {code}"
            if code in _NOT_AUTHORISED:
                message += " (the SASL user may not create topics: grant Create, or have an admin create them)"
            failures.append(f"cannot create topic {topic!r}: {message}")
    if failures:
        raise ConfigError("; ".join(failures))
    return created


async def _describe(admin: AIOKafkaAdminClient, names: list[str]) -> list[TopicState]:
    """The topics' states; a topic created a moment ago (by us or another worker) may not be
    in the metadata yet, so incomplete answers are asked again for a few seconds."""
    if not names:
        return []
    for _ in range(_DESCRIBE_ATTEMPTS):
        described = {d["topic"]: d for d in await admin.describe_topics(names)}
        configs = await _topic_configs(admin, names)
        states = []
        for name in names:
            partitions = described.get(name, {}).get("partitions") or []
            replication = max((len(p.get("replicas") or ()) for p in partitions), default=0)
            states.append(TopicState(name, len(partitions), replication, configs.get(name, {})))
        settled = all(s.partitions and (s.config or configs is _UNREADABLE) for s in states)
        if settled:
            break
        await asyncio.sleep(_DESCRIBE_PAUSE_S)
    missing = [s.name for s in states if not s.partitions]
    if missing:
        raise ConfigError(f"Kafka does not describe topic(s) {', '.join(missing)}: check that they exist "
                          f"and that newswire may describe them")
    return states


async def _topic_configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    """Current configs of the topics; empty for a topic the broker would not describe."""
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
    except KafkaError as exc:  # e.g. not authorised to describe configs: compare partitions only
        log.warning(f"cannot read topic configs ({exc}); only partition counts are checked",
                    extra={"stage": "topics"})
        return _UNREADABLE
    out: dict[str, dict[str, str]] = {}
    refused = []
    for response in responses:
        for resource in response.resources:
            error_code, _message, _type, name, entries = resource[:5]
            if error_code:
                refused.append((name, error_code))
                continue
            out[name] = {entry[0]: entry[1] for entry in entries if entry[1] is not None}
    if refused and not out:
        # Typically TOPIC_AUTHORIZATION_FAILED (29) per topic: no DescribeConfigs ACL for this user.
        log.warning(f"cannot read topic configs (Kafka error code {refused[0][1]} for {refused[0][0]!r}); "
                    "only partition counts are checked", extra={"stage": "topics"})
        return _UNREADABLE
    return out


# -- documentation -----------------------------------------------------------------------


def topics_markdown(settings: Settings | None = None) -> str:
    """The topic table of the reference, from the specs (defaults unless settings are given)."""
    settings = settings or Settings()
    rows = ["| Role | Default name (setting) | Key | Value schema | Cleanup / retention | Meaning |",
            "|---|---|---|---|---|---|"]
    setting_of = {"input": "NEWSWIRE_INPUT_TOPIC", "articles": "NEWSWIRE_ARTICLES_TOPIC",
                  "deadletter": "NEWSWIRE_DEADLETTER_TOPIC", "entities": "NEWSWIRE_ENTITIES_TOPIC",
                  "feeds": "NEWSWIRE_FEEDS_TOPIC", "feeds_status": "NEWSWIRE_FEEDS_STATUS_TOPIC"}
    for spec in topic_specs(settings):
        retention = _retention_text(spec.config)
        schema = f"[`{spec.schema}.v1`](../schemas/{spec.schema}.v1.json)" if spec.schema else "-"
        rows.append(f"| {spec.role} | `{spec.name}` (`{setting_of.get(spec.role, '')}`) | {spec.key} | {schema} | "
                    f"{retention} | {spec.doc} |")
    sizes = (f"Every topic is created with `NEWSWIRE_TOPIC_PARTITIONS` partitions (default "
             f"{settings.topic_partitions}) and replication factor `NEWSWIRE_TOPIC_REPLICATION` (default "
             f"{settings.topic_replication}); with 3 or more replicas also with `min.insync.replicas` set to a "
             f"majority of them (2 of 3), since every newswire producer writes with `acks=all`.")
    rows += ["", sizes]
    return "\n".join(rows) + "\n"


def _retention_text(config: dict[str, Any]) -> str:
    parts = [f"`{config.get('cleanup.policy', 'delete')}`"]
    if "retention.ms" in config:
        parts.append(f"{int(config['retention.ms']) // DAY_MS} days")
    if "max.message.bytes" in config:
        parts.append(f"messages up to {int(config['max.message.bytes']) // (1024 * 1024)} MiB")
    return ", ".join(parts)
