"""The CPU pool: results and errors cross the process boundary, and orphaned pool processes exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.expectations import SEED_HTML
from workers.errors import EmptyText
from workers.pipeline.analyse import AnalyseOptions, PageInput
from workers.pipeline.entities import EntityConfig
from workers.pipeline.pool import CpuPool

NO_NER = AnalyseOptions(EntityConfig(enabled=False))


def page(body: bytes) -> PageInput:
    url = "https://news.example/a"
    return PageInput(body=body, url=url, canonical_url=url, final_url=url, fetched_at="2024-01-01T00:00:00Z")


async def test_records_and_stage_timings_come_back_from_the_pool():
    pool = CpuPool(NO_NER, 1)
    try:
        record, timings = await pool.analyse(page(SEED_HTML.read_bytes()))
        assert record.title.startswith("Blinken") and record.entities_status == "disabled"
        assert set(timings) == {"extract", "dedupe", "enrich"}
        with pytest.raises(EmptyText):
            await pool.analyse(page(b"<html><body></body></html>"))
        assert pool.pending == 0
    finally:
        pool.close()


SCRIPT = """
import time
from workers.pipeline.analyse import AnalyseOptions
from workers.pipeline.entities import EntityConfig
from workers.pipeline.pool import CpuPool
if __name__ == "__main__":
    pool = CpuPool(AnalyseOptions(EntityConfig(enabled=False)), 1)
    pool.warm_up()
    print("ready", flush=True)
    time.sleep(120)
"""


def _children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").glob("*") for c in (task / "children").read_text().split()]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_pool_processes_exit_when_their_worker_is_killed(tmp_path):
    script = tmp_path / "pool_owner.py"
    script.write_text(SCRIPT)
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, cwd=tmp_path)
    try:
        assert owner.stdout.readline().strip() == b"ready"
        children = _children(owner.pid)
        assert children
    finally:
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(10)
    deadline = time.monotonic() + 15
    alive = children
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [c for c in alive if Path(f"/proc/{c}").exists() and "Z" not in _state(c)]
    assert not alive, f"pool processes outlived their worker: {alive}"


def _state(pid: int) -> str:
    try:
        return next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("State"))
    except (OSError, StopIteration):
        return "Z"
