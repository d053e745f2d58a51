"""The story desk's internal topics, declared beside its code (see workers.topics.internal_topic_specs)."""

from __future__ import annotations

from workers.settings import Settings

__all__ = ["STORY_STREAM", "story_topic_specs"]

#: Faust's name suffixes: ``<group>-stories`` and ``<group>-stories-changelog``.
STORY_STREAM = "stories"


def story_topic_specs(settings: Settings) -> list:
    """ONE partition each: one agent owns the whole index (workers.stories.desk); none when clustering is off."""
    from workers.contract.topics import TopicSpec, internal_topic_name

    if not settings.story_clustering:
        return []
    repl = settings.topic_replication
    return [
        TopicSpec(STORY_STREAM, internal_topic_name(settings, STORY_STREAM), 1, repl, {"cleanup.policy": "delete"},
                  "Internal stream of the group (stories): records on their way to the story desk."),
        TopicSpec(f"{STORY_STREAM}-changelog", internal_topic_name(settings, f"{STORY_STREAM}-changelog"), 1, repl,
                  {"cleanup.policy": "compact"}, "Changelog of the stories table (the story index)."),
    ]
