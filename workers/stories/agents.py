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

from typing import TYPE_CHECKING, Any

from prometheus_client import Counter

from workers.delivery import EventOutbox, Stage
from workers.observability.metrics import METRICS

from .desk import STORIES, StoryDesk
from .index import StoryIndex

if TYPE_CHECKING:
    from workers.worker.app import Worker

__all__ = ["RawTableView", "STORY_ASSIGNMENTS", "register"]

STORY_ASSIGNMENTS = Counter("newswire_story_assignments_total",
                            "Articles placed by the story desk: started a story, joined one, or too short to compare.",
                            ["result"], registry=METRICS.registry)

#: One at a time: each placement must see the index as the previous one left it.
DESK_IN_FLIGHT = 1


class RawTableView:
    """Read access to a raw-bytes Faust table by bytes key (what the story index expects)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:
        value: bytes | None = self.table.data.get(key, default)
        return value


def register(worker: Worker) -> Any:
    """Declare the stories table and the desk agent on the worker's app; None when clustering is off."""
    settings, app, topics = worker.settings, worker.app, worker.topics
    if not settings.story_clustering:
        return None
    table: Any = app.Table(STORIES, key_type=bytes, value_type=bytes, partitions=1,
                           help="the story index: articles, LSH band buckets, ageing log (workers.stories.index)")
    # Faust derives serializers from the types ("json" for bytes) and takes no serializer arguments.
    table.key_serializer = "raw"
    table.value_serializer = "raw"

    @worker.delivery.agent(topics.stories, outputs={"articles": topics.articles, "deadletter": topics.deadletter,
                                                   "entities": topics.entities, "revisions": topics.revisions},
                           tables={STORIES: table}, name="newswire.place_stories")
    async def place_stories() -> Stage:
        from workers.worker.agents import make_handler  # the publish agent's handler: final record, refusal path

        handler = make_handler(settings, None)
        desk = StoryDesk(StoryIndex(window_s=settings.story_window_s),
                         on_assigned=lambda result: STORY_ASSIGNMENTS.labels(result=result).inc(),
                         publish=handler.publish_final)
        view = RawTableView(table)

        async def step(event: Any, out: EventOutbox) -> None:
            await desk.place(event.message.value, dict(event.message.headers or ()), view, out)

        async def refused(event: Any, detail: str, out: EventOutbox) -> None:
            await handler.refused_record(event.message.value, dict(event.message.headers or ()), detail, out)

        return Stage("stories", DESK_IN_FLIGHT, step, refused)

    return table
