"""Run a command with its stderr on a real pseudo-terminal (what a person at a terminal sees)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from dataclasses import dataclass


@dataclass
class TerminalRun:
    returncode: int
    stdout: bytes  # a pipe, as when output is redirected to a file
    terminal: bytes  # everything written to the pseudo-terminal (stderr)


def open_terminal(rows: int = 24, columns: int = 100) -> tuple[int, int]:
    """A pseudo-terminal (master, slave) with a size, as a terminal window has."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    return master, slave


def drain(master: int) -> tuple[threading.Thread, bytearray]:
    """Read the master side until the last writer closes it (a full pty would block the writer)."""
    seen = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every slave end is closed
                return
            if not chunk:
                return
            seen.extend(chunk)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, seen


def newswire_on_terminal(*args: str, input: bytes | None = None, env: dict[str, str] | None = None,
                         timeout: float = 120) -> TerminalRun:
    master, slave = open_terminal()
    reader, seen = drain(master)
    try:
        stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
        proc = subprocess.run([sys.executable, "-m", "workers", *args], **stdin, stdout=subprocess.PIPE,
                              stderr=slave, env={**os.environ, **(env or {})}, timeout=timeout)
    finally:
        os.close(slave)
    reader.join(10)
    os.close(master)
    return TerminalRun(proc.returncode, proc.stdout, bytes(seen))
