"""Inputs of `submit` and `extract`: lines of stdin, and a bounded window that keeps input order."""

from __future__ import annotations

import asyncio
import io
import os
import random

from workers.cli.inputs import Lines, is_regular_file, ordered, stream_lines


def test_lines_skip_blanks_and_comments_and_count_them():
    lines = Lines()
    assert list(lines(["  https://a.example/1 ", "", "# note", "   ", "https://a.example/2"])) == \
        ["https://a.example/1", "https://a.example/2"]
    assert lines.skipped == 3


def test_a_file_on_stdin_is_regular_a_pipe_is_not(tmp_path):
    path = tmp_path / "urls.txt"
    path.write_text("x\n")
    with open(path) as file:
        assert is_regular_file(file)
    read, write = os.pipe()
    with os.fdopen(read) as r, os.fdopen(write, "w"):
        assert not is_regular_file(r)
    assert not is_regular_file(io.StringIO("x"))


async def test_stream_lines_reads_a_pipe_as_it_is_written():
    read, write = os.pipe()
    reader = os.fdopen(read)
    lines = Lines()
    got: list[str] = []

    async def consume() -> None:
        async for line in stream_lines(reader, lines):
            got.append(line)

    task = asyncio.ensure_future(consume())
    os.write(write, b"a.html\n# skip\n")
    for _ in range(100):  # the first line arrives while the writer still holds the pipe open
        if got:
            break
        await asyncio.sleep(0.02)
    assert got == ["a.html"]
    os.write(write, b"\nb.html\n")
    os.close(write)
    await asyncio.wait_for(task, 5)
    reader.close()
    assert got == ["a.html", "b.html"] and lines.skipped == 2


async def test_ordered_keeps_input_order_and_bounds_the_work_in_progress():
    running = 0
    most = 0

    async def work(item: str) -> str:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(random.uniform(0, 0.01))  # finish out of order
        running -= 1
        return item.upper()

    items = [f"p{n}" for n in range(200)]
    results = [r async for r in ordered(iter(items), work, window=8)]
    assert results == [i.upper() for i in items]
    assert 8 <= most <= 8 + 2  # the window, plus the one awaited and the one being queued


async def test_ordered_takes_async_inputs():
    async def items():
        for n in range(5):
            yield str(n)

    async def work(item: str) -> int:
        return int(item) * 2

    assert [r async for r in ordered(items(), work, window=2)] == [0, 2, 4, 6, 8]
