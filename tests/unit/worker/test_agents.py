"""The article agents' pieces that need no app: reading raw tables by text key."""

from __future__ import annotations

from types import SimpleNamespace

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


