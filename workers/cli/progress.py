"""How far a long command is and how it went: the progress line and the summary line on stderr.

``Tally`` counts what a command did (inputs done, failures by dead-letter code
or refusal reason).  ``Progress`` shows it as a tqdm line on stderr while the
command runs, only when stderr is a terminal and ``--quiet`` was not given, so
pipes, files and CI logs get nothing extra.  The summary lines are printed at
the end whether or not stderr is a terminal (``--quiet`` leaves them out too).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["Progress", "Tally", "extract_summary", "submit_summary", "wants_progress"]

#: How many refusal reasons the submit summary quotes.
REASONS_SHOWN = 3


class Tally:
    """Inputs done, and the failures among them by code (a dead-letter code or a refusal reason)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.done = 0
        self.failures: Counter[str] = Counter()
        self.reasons: list[str] = []  # the first few failure details, in order

    def add(self, failure: str | None = None, reason: str | None = None) -> None:
        self.done += 1
        if failure is not None:
            self.failures[failure] += 1
            if reason is not None and len(self.reasons) < REASONS_SHOWN:
                self.reasons.append(reason)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def succeeded(self) -> int:
        return self.done - self.failed

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def failures_text(self) -> str:
        """``empty_text: 12, http_404: 3``: most frequent first, then by code."""
        return ", ".join(f"{code}: {n}" for code, n in sorted(self.failures.items(), key=lambda kv: (-kv[1], kv[0])))


def wants_progress(stream: IO[Any], *, quiet: bool) -> bool:
    """A progress line only for a person watching: stderr is a terminal and --quiet was not given."""
    if quiet:
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


class Progress:
    """The progress line of one command, drawn by tqdm; does nothing at all when disabled.

    ``advance`` is called once per finished input.  The line shows done/total
    (or only the count when the total is unknown, e.g. inputs streamed from a
    pipe), the rate, the ETA, and the failures so far by code.
    """

    def __init__(self, *, total: int | None, unit: str, enabled: bool, stream: IO[Any] | None = None,
                 output: IO[Any] | None = None) -> None:
        self.tally = Tally()
        self.enabled = enabled
        self._stream = stream if stream is not None else sys.stderr
        # When the command's own output goes to the same terminal, the line is
        # cleared before each output line and drawn again after it.
        out = output if output is not None else sys.stdout
        self._shares_terminal = enabled and _isatty(out)
        self._failures_seen = 0
        self._bar: Any = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=unit, file=self._stream, leave=False, dynamic_ncols=True,
                             smoothing=0.1)

    def advance(self, failure: str | None = None, reason: str | None = None) -> None:
        self.tally.add(failure, reason)
        if self._bar is None:
            return
        if self.tally.failed != self._failures_seen:
            self._failures_seen = self.tally.failed
            self._bar.set_postfix_str("failed: " + self.tally.failures_text(), refresh=False)
        self._bar.update(1)

    @contextlib.contextmanager
    def writing_output(self) -> Iterator[None]:
        """Wrap writes to stdout: keeps the line out of the output when both are the same terminal."""
        if not self._shares_terminal:
            yield
            return
        with self._bar.external_write_mode():
            yield

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()  # leave=False: the line is erased, the summary takes its place
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _isatty(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def extract_summary(tally: Tally) -> str:
    """``extract: 990 inputs, 975 records, 15 dead letters (empty_text: 12, http_404: 3), 31.2 s, 31.7 pages/s``."""
    elapsed = tally.elapsed()
    rate = tally.done / elapsed if elapsed > 0 else 0.0
    letters = f"{tally.failed} dead letter{'s' if tally.failed != 1 else ''}"
    if tally.failed:
        letters += f" ({tally.failures_text()})"
    return (f"extract: {tally.done} input{'s' if tally.done != 1 else ''}, {tally.succeeded} "
            f"record{'s' if tally.succeeded != 1 else ''}, {letters}, {_seconds(elapsed)}, {rate:.1f} pages/s")


def submit_summary(tally: Tally, *, skipped: int, invalid: int) -> str:
    """``submit: 1000 submitted, 3 skipped (blank or comment lines), 2 refused (...)``.

    ``invalid`` counts submitted URLs that are not valid URLs: they are sent all
    the same, and the worker dead-letters them (``invalid_url``) where the
    consumers of the dead-letter topic see them.
    """
    submitted = f"{tally.succeeded} submitted"
    if invalid:
        what = "not a valid URL: the worker dead-letters it" if invalid == 1 else \
            "not valid URLs: the worker dead-letters them"
        submitted += f" ({invalid} {what})"
    refused = f"{tally.failed} refused"
    if tally.reasons:
        refused += " (" + "; ".join(tally.reasons) + (", ..." if tally.failed > len(tally.reasons) else "") + ")"
    return f"submit: {submitted}, {skipped} skipped (blank or comment lines), {refused}, {_seconds(tally.elapsed())}"
