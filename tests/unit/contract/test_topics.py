"""Topic specs and the comparison of an existing topic with its spec (no broker: the comparison is pure)."""

from __future__ import annotations

import pytest

from workers.contract import schemas
from workers.contract.topics import (
    TopicSpec,
    TopicState,
    topic_problems,
    topic_specs,
    topics_markdown,
)
from workers.settings import Settings


def spec_of(role: str, settings: Settings | None = None) -> TopicSpec:
    return next(s for s in topic_specs(settings or Settings()) if s.role == role)


def state_like(spec: TopicSpec, **changes) -> TopicState:
    values = {"name": spec.name, "partitions": spec.partitions, "replication": spec.replication,
              "config": dict(spec.config)}
    values.update(changes)
    return TopicState(**values)


def test_every_topic_is_declared_once_with_names_and_sizes_from_settings():
    settings = Settings(input_topic="a.urls", articles_topic="a.articles", deadletter_topic="a.dl",
                        entities_topic="a.entities", topic_partitions=4, topic_replication=3)
    specs = topic_specs(settings)
    assert [s.role for s in specs] == ["input", "articles", "deadletter", "entities", "feeds", "feeds_status"]
    assert [s.name for s in specs][:4] == ["a.urls", "a.articles", "a.dl", "a.entities"]
    assert {(s.partitions, s.replication) for s in specs} == {(4, 3)}
    assert len({s.name for s in specs}) == len(specs)


def test_the_entity_topic_is_optional():
    assert "entities" not in {s.role for s in topic_specs(Settings(entities_topic=""))}


def test_articles_are_compacted_and_the_other_topics_expire():
    specs = {s.role: s for s in topic_specs(Settings())}
    assert specs["articles"].config["cleanup.policy"] == "compact"
    assert "retention.ms" not in specs["articles"].config  # compaction keeps the latest per key forever
    for role in ("input", "deadletter", "entities"):
        assert specs[role].config["cleanup.policy"] == "delete"
        assert int(specs[role].config["retention.ms"]) >= 86_400_000


def test_every_spec_names_its_key_and_an_existing_schema():
    for spec in topic_specs(Settings()):
        assert spec.key and spec.doc
        assert spec.schema in schemas.KINDS
        assert schemas.schema_path(spec.schema).exists()


def test_a_topic_like_its_spec_has_no_problems():
    spec = spec_of("articles")
    assert topic_problems(spec, state_like(spec)) == ([], [])


def test_wrong_partition_count_is_one_clear_line_saying_what_to_do():
    spec = spec_of("articles", Settings(articles_topic="news.articles", topic_partitions=6))
    errors, warnings = topic_problems(spec, state_like(spec, partitions=1))
    assert warnings == [] and len(errors) == 1
    message = errors[0]
    assert "\n" not in message
    assert "'news.articles' has 1 partition but newswire is configured for 6" in message
    assert "NEWSWIRE_TOPIC_PARTITIONS=1" in message and "recreate" in message


def test_articles_topic_that_is_not_compacted_is_an_error():
    spec = spec_of("articles")
    errors, _ = topic_problems(spec, state_like(spec, config={**spec.config, "cleanup.policy": "delete"}))
    assert len(errors) == 1
    assert "cleanup.policy=delete" in errors[0] and "cleanup.policy=compact" in errors[0]
    assert "--add-config cleanup.policy=compact" in errors[0]


def test_cleanup_policy_lists_compare_as_sets():
    spec = TopicSpec("articles", "t", 3, 1, {"cleanup.policy": "compact,delete"})
    assert topic_problems(spec, state_like(spec, config={"cleanup.policy": "delete, compact"})) == ([], [])


@pytest.mark.parametrize("changes, expected", [
    ({"replication": 3}, "replication factor 3, newswire is configured for 1"),
    ({"config": {"cleanup.policy": "delete", "retention.ms": "3600000"}}, "retention.ms=3600000"),
])
def test_operator_changes_that_keep_records_correct_are_warnings(changes, expected):
    spec = spec_of("deadletter")
    errors, warnings = topic_problems(spec, state_like(spec, **changes))
    assert errors == []
    assert len(warnings) == 1 and expected in warnings[0]


def test_configs_the_broker_did_not_report_are_not_guessed():
    spec = spec_of("articles")
    assert topic_problems(spec, state_like(spec, config={})) == ([], [])


def test_topic_table_documents_every_topic():
    table = topics_markdown(Settings())
    for spec in topic_specs(Settings()):
        assert f"`{spec.name}`" in table and spec.key in table
    assert "`compact`" in table


def test_specs_declared_elsewhere_in_the_positional_shape_are_compared_too():
    # workers/feeds declares its topics as TopicSpec(role, name, partitions, replication, config, doc).
    spec = TopicSpec("feeds", "newswire.feeds", 6, 1, {"cleanup.policy": "compact"}, "Feed subscriptions.")
    errors, _ = topic_problems(spec, state_like(spec, partitions=2, config={"cleanup.policy": "delete"}))
    assert len(errors) == 2
    assert "'newswire.feeds' has 2 partitions" in errors[0]
    assert errors[1].startswith("topic 'newswire.feeds' has cleanup.policy=delete but newswire needs "
                                "cleanup.policy=compact: run ")


def test_internal_topics_created_up_front_are_exactly_the_apps_streams_and_changelogs():
    from workers.contract.topics import internal_topic_specs
    from workers.worker.app import build_worker

    worker = build_worker(Settings())  # the agents, the feed tables
    app, settings = worker.app, worker.settings

    specs = {spec.name: spec for spec in internal_topic_specs(settings)}
    changelogs = {table.changelog_topic.get_topic_name() for table in app.tables.values()}
    streams = {topic for agent in app.agents.values() for topic in agent.channel.topics
               if topic.startswith(f"{settings.group_id}-")}
    assert set(specs) == changelogs | streams
    assert all(specs[name].config["cleanup.policy"] == "compact" for name in changelogs)
    assert all(specs[name].config["cleanup.policy"] == "delete" for name in streams)
    assert {spec.partitions for spec in specs.values()} == {settings.topic_partitions}


@pytest.mark.parametrize("replication, expected", [(1, None), (2, None), (3, "2"), (4, "3"), (5, "3")])
def test_replicated_topics_get_a_majority_as_min_insync_replicas(replication, expected):
    from workers.contract.topics import internal_topic_specs

    settings = Settings(topic_replication=replication)
    for spec in topic_specs(settings) + internal_topic_specs(settings):
        assert spec.replication == replication
        assert spec.config.get("min.insync.replicas") == expected, spec.name
