"""Every topic newswire reads or writes, declared once, and applied at start-up.

:func:`ensure_topics` creates missing topics with their partition count,
replication factor and configuration, and reports an existing topic whose
partition count or cleanup policy differs instead of silently running on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from .errors import ConfigError
from .kafka_options import aiokafka_options
from .settings import Settings

__all__ = ["TopicSpec", "topic_specs", "ensure_topics", "TopicMismatch"]

DAY_MS = 86_400_000


class TopicMismatch(ConfigError):
    code = "topic_mismatch"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    role: str
    name: str
    partitions: int
    replication: int
    config: dict[str, str] = field(default_factory=dict)
    doc: str = ""


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The topics of this deployment; names and sizes come from settings."""
    parts, repl = settings.topic_partitions, settings.topic_replication
    specs = [
        TopicSpec("input", settings.input_topic, parts, repl,
                  {"cleanup.policy": "delete", "retention.ms": str(7 * DAY_MS)},
                  "Article URLs to process (bare URL or JSON submission), keyed by canonical URL."),
        TopicSpec("articles", settings.articles_topic, parts, repl,
                  # Keyed by article id: compaction keeps the latest record per article.
                  {"cleanup.policy": "compact", "max.message.bytes": str(8 * 1024 * 1024)},
                  "Enriched article records, keyed by article id."),
        TopicSpec("deadletter", settings.deadletter_topic, parts, repl,
                  {"cleanup.policy": "delete", "retention.ms": str(14 * DAY_MS)},
                  "Messages that could not become a record, with the reason; keyed by URL."),
    ]
    if settings.entities_topic:
        specs.append(TopicSpec("entities", settings.entities_topic, parts, repl,
                               {"cleanup.policy": "delete", "retention.ms": str(7 * DAY_MS)},
                               "One message per (article, entity), keyed by entity label and name."))
    return specs


async def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create missing topics; raise TopicMismatch for an existing topic that differs.

    Returns the names of the topics created.
    """
    specs = topic_specs(settings) if specs is None else specs
    admin = AIOKafkaAdminClient(**aiokafka_options(settings), request_timeout_ms=15_000)
    try:
        await admin.start()
    except KafkaError as exc:
        raise ConfigError(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from None
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created: list[str] = []
        if missing:
            try:
                await admin.create_topics([
                    NewTopic(s.name, s.partitions, s.replication, topic_configs=dict(s.config)) for s in missing
                ])
                created = [s.name for s in missing]
            except TopicAlreadyExistsError:
                pass  # another worker created them at the same moment
        await _check_existing(admin, [s for s in specs if s.name in existing])
        return created
    finally:
        await admin.close()


async def _check_existing(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> None:
    if not specs:
        return
    described = await admin.describe_topics([s.name for s in specs])
    partitions = {d["topic"]: len(d["partitions"]) for d in described}
    problems = []
    for spec in specs:
        have = partitions.get(spec.name)
        if have is not None and have != spec.partitions:
            problems.append(
                f"topic {spec.name!r} has {have} partitions but newswire is configured for "
                f"{spec.partitions} (NEWSWIRE_TOPIC_PARTITIONS): set NEWSWIRE_TOPIC_PARTITIONS={have} "
                f"or recreate the topic"
            )
    if problems:
        raise TopicMismatch("; ".join(problems))
