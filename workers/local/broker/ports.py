"""Ports on 127.0.0.1: whether one is free, picking a free one, checking a broker's before it starts."""

from __future__ import annotations

import random
import socket
from collections.abc import Collection
from pathlib import Path

from ...errors import ConfigError
from .layout import CONFIG_FILE, HOST

__all__ = ["port_is_free", "free_port", "check_port"]

# Ports picked by free_port() come from below the kernel's ephemeral range, so
# a client's outgoing connection (or a self-connect while the broker is down
# for a restart) cannot sit on the broker's port.
_PICK_FLOOR = 20000


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether a server could listen on host:port now (SO_REUSEADDR, as the JVM binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(exclude: Collection[int] = ()) -> int:
    """A port free on 127.0.0.1, chosen below the ephemeral range when there is room."""
    floor = _ephemeral_floor()
    low, high = (_PICK_FLOOR, floor) if floor - _PICK_FLOOR >= 1000 else (1024, 65536)
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(low, high)
        if port not in exclude and port_is_free(port):
            return port
    with socket.socket() as probe:  # crowded range: let the kernel choose
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def check_port(port: int, role: str, dir: Path) -> None:
    """A one-line ConfigError when the broker's ``role`` port (client, controller, mTLS) cannot be listened on."""
    if not 0 < port < 65536:
        raise ConfigError(f"port {port} is not a TCP port; pass --port between 1 and 65535")
    if not port_is_free(port):
        if role == "client":
            raise ConfigError(f"port {port} on {HOST} is in use: stop what listens there "
                              f"or pass --port with a free port")
        if role == "mTLS":
            # A secure directory without a stored mTLS port chooses a new one at start (see config.choose_config).
            raise ConfigError(f"mTLS (SSL) port {port} of the broker in {dir} is in use: stop what listens there, "
                              f'or remove "mtls_port" from {dir / CONFIG_FILE} to choose a new one (data is kept)')
        raise ConfigError(f"{role} port {port} of the broker in {dir} is in use: stop what listens there, "
                          f"or remove {dir / CONFIG_FILE} to choose a new one (data is kept)")
