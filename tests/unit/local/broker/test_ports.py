"""Free ports on 127.0.0.1, and a start on a busy port refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.local.broker.support import (
    assert_one_line,
)
from workers.errors import ConfigError
from workers.local import broker


def test_free_port_is_free_and_below_the_ephemeral_range() -> None:
    port = broker.free_port()
    assert broker.port_is_free(port)
    floor = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    if floor >= 21000:
        assert 20000 <= port < floor


def test_port_is_free_sees_a_listener(held_port: int) -> None:
    assert not broker.port_is_free(held_port)


def test_start_on_a_port_in_use_says_what_to_do(held_port: int, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        broker.start(held_port, tmp_path / "b")
    message = raised.value.detail
    assert_one_line(message)
    assert f"port {held_port}" in message and "--port" in message
    assert not (tmp_path / "b" / "broker.json").exists()  # a failed start does not pin the busy port
