"""The article agents' pieces that need no app: reading raw tables by text key."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace

import pytest

from workers.worker.agents import TableView


class FakeTable:
    def __init__(self, name: str) -> None:
        self.data: dict[bytes, bytes] = {}
        self.changelog_topic = SimpleNamespace(get_topic_name=lambda: f"{name}-changelog")


async def test_table_view_reads_raw_tables_by_text_key():
    table = FakeTable("hashes")
    table.data[b"sha256:x"] = b"a1"
    assert TableView(table, text_values=True).get("sha256:x") == "a1"
    assert TableView(table).get("sha256:x") == b"a1"
    assert TableView(table).get("missing") is None



def test_table_view_is_the_read_only_mapping_the_handler_is_typed_for():
    table = FakeTable("seen")
    table.data[b"id-1"] = b"entry"
    view = TableView(table)
    assert isinstance(view, Mapping)
    assert view["id-1"] == b"entry" and "id-1" in view and "id-2" not in view
    assert list(view) == ["id-1"] and len(view) == 1 and dict(view) == {"id-1": b"entry"}
    with pytest.raises(KeyError):
        view["id-2"]
