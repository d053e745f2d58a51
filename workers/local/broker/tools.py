"""The external programs the local broker needs (``java``, ``mvn``, ``openssl``) and how their failures read.

A missing program is a user error: :class:`workers.errors.ConfigError` with
one line saying what to install.
"""

from __future__ import annotations

import shutil

from ...errors import ConfigError

__all__ = ["require_tool", "require_java", "shorten"]


def require_tool(name: str, what_to_do: str) -> str:
    """The path of ``name`` on PATH; a one-line ConfigError saying ``what_to_do`` when it is missing."""
    path = shutil.which(name)
    if path is None:
        raise ConfigError(f"`{name}` was not found on PATH: {what_to_do}")
    return path


def require_java() -> str:
    return require_tool("java", "install a Java 17+ runtime (e.g. `apt-get install openjdk-17-jre-headless`) and retry")


def shorten(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters (for a tool's output quoted in an error)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
