"""What one unit of work writes: its messages and its table changes, held until it is its turn to commit."""

from __future__ import annotations

__all__ = ["EventOutbox", "OutMessage", "StateChange"]

#: role, key, value (None: tombstone), headers, partition (None: by key)
OutMessage = tuple[str, bytes, "bytes | None", dict[str, bytes], "int | None"]
#: table name, key, value (None: delete)
StateChange = tuple[str, bytes, "bytes | None"]


class EventOutbox:
    """The outputs and table changes of one message (or one feed poll), written together by :mod:`.writer`."""

    def __init__(self) -> None:
        self.messages: list[OutMessage] = []
        self.state: list[StateChange] = []

    async def publish(self, role: str, key: bytes, value: bytes | None, headers: dict[str, bytes],
                      partition: int | None = None) -> None:
        """Write to the topic of ``role``, in ``partition`` or by key; a None value is a tombstone."""
        self.messages.append((role, key, value, headers, partition))

    def remember(self, table: str, key: str | bytes, value: bytes | None) -> None:
        """Set (or, with None, delete) a table entry, in the unit's partition of the table."""
        self.state.append((table, key.encode() if isinstance(key, str) else key, value))
