"""Faust wiring of the story desk: the ``stories`` stream (one partition) -> article records.

Registered only when ``NEWSWIRE_STORY_CLUSTERING`` is on.  The index is the
``stories`` table (one partition, in memory, rebuilt from its changelog by
Faust when a worker takes the partition over); the agent writes its changes
through the message's outbox, so a record and the index entries that placed it
are committed together (one Kafka transaction in ``exactly_once``).

Steps run one at a time (an in-flight limit of 1): each record must see the
index as the previous record left it, and the table is updated only when a
message commits.  That is what bounds the desk's throughput (docs/stories.md).
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import Counter

from workers.app import app, settings, topics
from workers.metrics import METRICS

from .desk import STORIES, StoryDesk
from .index import StoryIndex

log = logging.getLogger("newswire.stories")

__all__ = ["story_table", "place_stories"]

STORY_ASSIGNMENTS = Counter("newswire_story_assignments_total",
                            "Articles placed by the story desk: started a story, joined one, or too short to compare.",
                            ["result"], registry=METRICS.registry)


class RawTableView:
    """Read access to a raw-bytes Faust table by bytes key (what the story index expects)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:
        return self.table.data.get(key, default)


story_table: Any = None

if settings.story_clustering:
    story_table = app.Table(STORIES, key_type=bytes, value_type=bytes, partitions=1,
                            help="the story index: articles, LSH band buckets, ageing log (workers.stories.index)")
    # Faust derives serializers from the types ("json" for bytes) and takes no serializer arguments.
    story_table.key_serializer = "raw"
    story_table.value_serializer = "raw"

    @app.agent(topics.stories)
    async def place_stories(stream) -> None:
        from workers.agents import KafkaCommitter, StageRunner  # the article agents' delivery (registered there)
        from workers.handler import MessageHandler

        committer = KafkaCommitter(app, {"articles": topics.articles, "deadletter": topics.deadletter},
                                   {STORIES: story_table})
        desk = StoryDesk(StoryIndex(window_s=settings.story_window_s),
                         on_assigned=lambda result: STORY_ASSIGNMENTS.labels(result=result).inc())
        view = RawTableView(story_table)
        handler = MessageHandler(None)

        async def step(event: Any, out: Any) -> None:
            await desk.place(event.message.value, dict(event.message.headers or ()), view, out)

        async def refused(event: Any, detail: str, out: Any) -> None:
            await handler.refused_record(event.message.value, dict(event.message.headers or ()), detail, out)

        await StageRunner("stories", 1, committer, step, refused).run(stream)
