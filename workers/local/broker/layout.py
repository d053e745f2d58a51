"""Where a local broker lives: its directory, the files in it, and how they are written.

A broker directory holds ``broker.json`` (ports and cluster id, chosen once),
the generated ``server.properties``, the log4j2 configuration, the data
(``data/``), ``broker.pid`` and ``broker.log`` (the broker's stdout and
stderr); a secure one also ``secure.json`` (passwords), ``tls/`` and the
client settings files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

__all__ = [
    "HOST",
    "DEFAULT_PORT",
    "NODE_ID",
    "CONFIG_FILE",
    "PROPERTIES_FILE",
    "LOG4J_FILE",
    "PID_FILE",
    "LOG_FILE",
    "LOCK_FILE",
    "DATA_DIR",
    "TLS_DIR",
    "SECRETS_FILE",
    "CLIENT_ENV_FILE",
    "MTLS_ENV_FILE",
    "SCRAM_MECHANISM",
    "CLIENT_USER",
    "ADMIN_USER",
    "default_dir",
    "resolve_dir",
    "packaged",
    "write_atomic",
    "file_lock",
]

HOST = "127.0.0.1"
DEFAULT_PORT = 9092
NODE_ID = 1

# Files inside the broker directory.
CONFIG_FILE = "broker.json"
PROPERTIES_FILE = "server.properties"
LOG4J_FILE = "log4j2.properties"
PID_FILE = "broker.pid"
LOG_FILE = "broker.log"
LOCK_FILE = ".broker.lock"
DATA_DIR = "data"
TLS_DIR = "tls"
SECRETS_FILE = "secure.json"
CLIENT_ENV_FILE = "client.env"
MTLS_ENV_FILE = "client-mtls.env"  # the settings for the mutual-TLS-only (SSL) listener

# Secure mode: the SCRAM users created when the storage is formatted.
SCRAM_MECHANISM = "SCRAM-SHA-512"
CLIENT_USER = "newswire"  # also the common name of the client certificate
ADMIN_USER = "admin"  # the broker's own login on its inter-broker listener


def default_dir() -> Path:
    """``NEWSWIRE_BROKER_DIR`` or ``./.newswire/broker``."""
    return Path(os.environ.get("NEWSWIRE_BROKER_DIR") or Path(".newswire") / "broker").absolute()


def resolve_dir(dir: Path | str | None) -> Path:
    """``dir`` made absolute, or :func:`default_dir` when it is None."""
    return Path(dir).expanduser().absolute() if dir is not None else default_dir()


def packaged(name: str) -> bytes:
    """A data file shipped beside this package (the Maven pom, the broker's log4j2 configuration)."""
    return resources.files("workers.local.broker").joinpath(name).read_bytes()


def write_atomic(path: Path, text: str, *, private: bool = False) -> None:
    """Replace ``path`` with ``text`` in one step, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    # A private file (passwords) is created 0600, never readable by others even for a moment.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (concurrent starts on one directory, one jar cache)."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
