"""Progress on a terminal, nothing extra off it, and the summary lines of `extract` and `submit`."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import orjson
import pytest

from tests.helpers.expectations import SEED_HTML
from tests.helpers.terminal import drain, newswire_on_terminal, open_terminal
from workers.cli.progress import Progress, Tally, extract_summary, submit_summary, wants_progress

EXTRACT_SUMMARY = re.compile(rb"extract: 3 inputs, 1 record, 2 dead letters \(extract_failed: 1, empty_text: 1\)|"
                             rb"extract: 3 inputs, 1 record, 2 dead letters \(empty_text: 1, extract_failed: 1\)")


def newswire(*args: str, input: bytes | None = None, stdin=None) -> subprocess.CompletedProcess:
    kwargs = {"input": input} if input is not None else {"stdin": stdin if stdin is not None else subprocess.DEVNULL}
    return subprocess.run([sys.executable, "-m", "workers", *args], capture_output=True, timeout=120, **kwargs)


@pytest.fixture
def three_inputs(tmp_path) -> list[str]:
    empty = tmp_path / "empty.html"
    empty.write_text("<html><body></body></html>")
    return [str(empty), str(SEED_HTML), str(tmp_path / "missing.html")]


def assert_extract_output(stdout: bytes) -> None:
    """Three JSON lines in input order, each exactly as orjson writes it (the format before progress existed)."""
    lines = stdout.splitlines(keepends=True)
    assert len(lines) == 3
    records = [orjson.loads(line) for line in lines]
    assert [orjson.dumps(r) + b"\n" for r in records] == lines
    assert records[0]["error"] == "empty_text" and records[1]["title"].startswith("Blinken")
    assert records[2]["error"] == "extract_failed"


# -- summaries ------------------------------------------------------------------------


def test_extract_summary_counts_inputs_records_and_dead_letters_by_code():
    tally = Tally()
    for failure in (None, "http_404", None, "empty_text", "http_404"):
        tally.add(failure)
    line = extract_summary(tally)
    assert re.fullmatch(r"extract: 5 inputs, 2 records, 3 dead letters \(http_404: 2, empty_text: 1\), "
                        r"\d+\.\d s, \d+\.\d pages/s", line), line
    one = Tally()
    one.add()
    assert extract_summary(one).startswith("extract: 1 input, 1 record, 0 dead letters, ")


def test_submit_summary_quotes_the_first_refusals():
    tally = Tally()
    tally.add()
    for n in range(5):
        tally.add("MessageSizeTooLargeError", f"https://x.example/{n}: too large")
    line = submit_summary(tally, skipped=2, invalid=1)
    assert line.startswith("submit: 1 submitted (1 not a valid URL: the worker dead-letters it), "
                           "2 skipped (blank or comment lines), 5 refused (https://x.example/0: too large; "
                           "https://x.example/1: too large; https://x.example/2: too large, ...), ")
    assert "submit: 1 submitted (2 not valid URLs: the worker dead-letters them), " in \
        submit_summary(tally, skipped=0, invalid=2)
    clean = Tally()
    clean.add()
    assert re.fullmatch(r"submit: 1 submitted, 0 skipped \(blank or comment lines\), 0 refused, \d+\.\d s",
                        submit_summary(clean, skipped=0, invalid=0))


# -- the progress line ------------------------------------------------------------------


def test_progress_is_wanted_on_a_terminal_unless_quiet(tmp_path):
    master, slave = open_terminal()
    try:
        with os.fdopen(os.dup(slave), "w") as terminal:
            assert wants_progress(terminal, quiet=False)
            assert not wants_progress(terminal, quiet=True)
    finally:
        os.close(slave)
        os.close(master)
    with open(tmp_path / "log", "w") as file:
        assert not wants_progress(file, quiet=False)
    read, write = os.pipe()
    with os.fdopen(read), os.fdopen(write, "w") as w:
        assert not wants_progress(w, quiet=False)


def test_progress_draws_done_of_total_and_failures_by_code_on_a_terminal():
    master, slave = open_terminal()
    reader, seen = drain(master)
    terminal = os.fdopen(slave, "w")
    progress = Progress(total=3, unit="page", enabled=True, stream=terminal, output=terminal)
    progress.advance()
    progress.advance("http_404", "https://x.example/: http_404")
    progress._bar.refresh()  # tqdm draws at most every 0.1 s; force the frame under test
    progress.close()
    terminal.close()
    reader.join(5)
    os.close(master)
    text = bytes(seen).decode()
    assert "2/3" in text and "page/s" in text
    assert "failed: http_404: 1" in text
    assert text.endswith("\r")  # leave=False: the line is erased, the summary takes its place
    assert progress.tally.done == 2 and progress.tally.failures == {"http_404": 1}


def test_disabled_progress_writes_nothing_and_still_counts(tmp_path):
    with open(tmp_path / "stderr", "w") as stream:
        progress = Progress(total=2, unit="page", enabled=False, stream=stream)
        progress.advance("timeout")
        with progress.writing_output():
            pass
        progress.close()
    assert (tmp_path / "stderr").read_text() == ""
    assert progress.tally.failed == 1


# -- `newswire extract` on and off a terminal ------------------------------------------------


def test_extract_on_a_terminal_shows_progress_then_the_summary(three_inputs):
    run = newswire_on_terminal("extract", "--no-entities", *three_inputs)
    assert run.returncode == 1
    assert_extract_output(run.stdout)
    assert b"/3 [" in run.terminal and b"page/s" in run.terminal  # tqdm's done/total and rate
    last_line = run.terminal.rsplit(b"\r", 2)[-2].strip()  # after the erased progress line
    assert EXTRACT_SUMMARY.match(last_line), run.terminal


def test_extract_off_a_terminal_adds_only_the_summary_line(three_inputs):
    result = newswire("extract", "--no-entities", *three_inputs)
    assert result.returncode == 1
    assert_extract_output(result.stdout)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and EXTRACT_SUMMARY.match(lines[0]), result.stderr
    assert b"\r" not in result.stderr and b"\x1b" not in result.stderr


def test_quiet_extract_on_a_terminal_writes_nothing_there(three_inputs):
    run = newswire_on_terminal("extract", "--quiet", "--no-entities", *three_inputs)
    assert run.returncode == 1
    assert_extract_output(run.stdout)
    assert run.terminal == b""


# -- `newswire extract -` ------------------------------------------------------------------


def test_extract_reads_inputs_from_a_pipe_in_order_skipping_blanks_and_comments(three_inputs):
    listing = "\n".join(["# pages to try", three_inputs[0], "", three_inputs[1], "  " + three_inputs[2] + "  "])
    result = newswire("extract", "--no-entities", "-", input=listing.encode() + b"\n")
    assert result.returncode == 1, result.stderr
    assert_extract_output(result.stdout)
    assert EXTRACT_SUMMARY.match(result.stderr.splitlines()[0])


def test_extract_reads_inputs_from_a_file_on_stdin_with_a_total(three_inputs, tmp_path):
    listing = tmp_path / "inputs.txt"
    listing.write_text("\n".join(three_inputs) + "\n")
    master, slave = open_terminal()
    reader, seen = drain(master)
    with open(listing, "rb") as stdin:
        proc = subprocess.run([sys.executable, "-m", "workers", "extract", "--no-entities", "-"], stdin=stdin,
                              stdout=subprocess.PIPE, stderr=slave, timeout=120)
    os.close(slave)
    reader.join(10)
    os.close(master)
    assert proc.returncode == 1
    assert_extract_output(proc.stdout)
    assert b"/3 [" in bytes(seen)  # counted up front: the progress line knows the total


@pytest.mark.parametrize("args, stdin, message", [
    (["-", "page.html"], b"", b"'-' (inputs from stdin) goes alone"),
    (["-"], b"# nothing but a comment\n\n", b"no inputs given"),
])
def test_extract_stdin_usage_errors(args, stdin, message):
    result = newswire("extract", "--no-entities", *args, input=stdin)
    assert result.returncode == 2
    assert message in result.stderr and result.stdout == b""


def test_an_interrupted_extract_says_how_far_it_got():
    """Ctrl-C while stdin is a pipe still open: exit 130 at once, with the summary of what was done."""
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "workers", "extract", "--no-entities", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(f"{SEED_HTML}\n".encode())
        proc.stdin.flush()
        record = orjson.loads(proc.stdout.readline())  # the first result, while more input may still come
        assert record["title"].startswith("Blinken")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
        stderr = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdin.close()
    assert re.match(r"extract: 1 input, 1 record, 0 dead letters, .* \(interrupted\)$", stderr.strip()), stderr
