"""What the progress line costs `newswire extract`: throughput with it drawn on a terminal vs off, same run.

    python benchmarks/cli_progress.py [--data DIR] [--inputs N] [--rounds R] [--no-entities]

Runs the extract command's own loop (``workers.cli.extract.extract``) over the same
inputs repeatedly, on one warm process pool, alternating progress off and on
(the order flips every round so drift in the machine's load does not favour
either side).  "On" draws the tqdm line on a real pseudo-terminal whose
other end is read continuously, as a terminal window would; "off" is what a
pipe or ``--quiet`` gets.  Output lines go to /dev/null in both.  Prints
pages/s of each run and the on/off ratio per round and overall (the target
is >= 0.98).  The pages are only a workload here; nothing is scored.

On a machine shared with other work, wall-clock throughput swings by more
than the few microseconds per page the line can cost, so the benchmark also
prints the CPU seconds per page of the whole command (this process, where
tqdm runs, plus the pool processes, read from /proc) on and off: the
command is CPU-bound, so off/on CPU per page is its throughput ratio with
the load of other processes taken out.  Last, the line's own cost per page
(``Progress.advance`` with a failure now and then, drawn on the terminal vs
disabled, 20,000 calls each), set against the measured CPU per page, and
the cost of one drawn frame (tqdm draws at most every 0.1 s).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable as a plain script from anywhere
    sys.path.insert(0, str(REPO))

from tests.helpers.terminal import drain, open_terminal  # noqa: E402
from workers.cli.extract import extract as _extract  # noqa: E402
from workers.cli.progress import Progress  # noqa: E402
from workers.pipeline.runner import ArticlePipeline  # noqa: E402
from workers.settings import Settings  # noqa: E402

# The checkout's sibling shared/ folder (a worktree sits one level deeper).
DEFAULT_DATA = next((d / "shared" / "data" / "extraction-dev" for d in REPO.parents
                     if (d / "shared" / "data" / "extraction-dev").is_dir()),
                    REPO.parent / "shared" / "data" / "extraction-dev")


def inputs_of(data: Path, count: int) -> list[str]:
    pages = sorted(str(p) for p in (data / "html").glob("*.html*"))
    if not pages:
        raise SystemExit(f"no pages under {data / 'html'}")
    return [pages[i % len(pages)] for i in range(count)]



def pool_cpu_seconds(pipeline: ArticlePipeline) -> float:
    """User + system CPU of the live pool processes (Linux /proc; 0 where unavailable)."""
    executor = pipeline.pool._executor  # the benchmark may look inside; the command never does
    total = 0.0
    for pid in list(getattr(executor, "_processes", {}) or {}):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


async def run_once(settings: Settings, pipeline: ArticlePipeline, inputs: list[str],
                   progress: Progress) -> tuple[float, float]:
    """(pages/s, CPU seconds per page of this process and the pool)."""
    started = time.perf_counter()
    cpu_started = time.process_time() + pool_cpu_seconds(pipeline)
    with open(os.devnull, "wb") as sink:
        saved = sys.stdout
        sys.stdout = io.TextIOWrapper(sink)
        try:
            await _extract(settings, inputs, entities=pipeline.pool.options.entities.enabled, progress=progress,
                           expected=len(inputs), pipeline=pipeline)
        finally:
            sys.stdout.detach()
            sys.stdout = saved
    progress.close()
    cpu = time.process_time() + pool_cpu_seconds(pipeline) - cpu_started
    return len(inputs) / (time.perf_counter() - started), cpu / len(inputs)


def frame_cost(terminal, sink, frames: int = 2_000) -> float:
    """Seconds to draw one frame of the line on the terminal (tqdm draws at most 10 a second)."""
    progress = Progress(total=10 * frames, unit="page", enabled=True, stream=terminal, output=sink)
    progress.advance("http_404")
    started = time.perf_counter()
    for _ in range(frames):
        progress.advance()
        progress._bar.refresh()
    cost = (time.perf_counter() - started) / frames
    progress.close()
    return cost


def advance_cost(terminal, sink, calls: int = 20_000) -> tuple[float, float]:
    """Seconds per ``advance`` call with the line drawn on the terminal, and disabled."""
    costs = []
    for enabled in (True, False):
        progress = Progress(total=calls, unit="page", enabled=enabled, stream=terminal, output=sink)
        started = time.perf_counter()
        for n in range(calls):
            progress.advance("http_404" if n % 50 == 0 else None)
        costs.append((time.perf_counter() - started) / calls)
        progress.close()
    return costs[0], costs[1]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--inputs", type=int, default=93, help="inputs per run (the pages, cycled)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of one run off and one run on")
    parser.add_argument("--no-entities", action="store_true", help="skip NER (a faster, CPU-lighter workload)")
    args = parser.parse_args()

    settings = Settings.from_env()
    inputs = inputs_of(args.data, args.inputs)
    pipeline = ArticlePipeline(settings, entities=not args.no_entities)
    master, slave = open_terminal()
    reader, _ = drain(master)
    terminal = os.fdopen(slave, "w")
    sink = open(os.devnull, "w")  # noqa: SIM115 -- closed in the finally below, with the terminal it pairs with
    try:
        await asyncio.get_running_loop().run_in_executor(None, pipeline.pool.warm_up)
        # One unmeasured pass: file cache and the pool's first pages (lazy imports) out of the way.
        await run_once(settings, pipeline, inputs[: 2 * pipeline.pool.size], Progress(total=None, unit="page",
                                                                                     enabled=False))
        print(f"{len(inputs)} inputs per run, pool of {pipeline.pool.size}, entities "
              f"{'off' if args.no_entities else 'on'}; pages/s")
        print(f"{'round':>5} {'off':>8} {'on':>8} {'on/off':>7}   {'CPU ms/page off':>15} {'on':>8} {'off/on':>7}")
        ratios, totals = [], {"off": 0.0, "on": 0.0}
        cpu_ratios, cpu_totals = [], {"off": 0.0, "on": 0.0}
        for round_no in range(1, args.rounds + 1):
            rates: dict[str, float] = {}
            cpus: dict[str, float] = {}
            for mode in (("off", "on") if round_no % 2 else ("on", "off")):
                # Output redirected (`> records.jsonl`), stderr on the terminal: the common case.
                progress = Progress(total=len(inputs), unit="page", enabled=mode == "on", stream=terminal,
                                    output=sink)
                rates[mode], cpus[mode] = await run_once(settings, pipeline, inputs, progress)
                totals[mode] += len(inputs) / rates[mode]
                cpu_totals[mode] += cpus[mode]
            ratios.append(rates["on"] / rates["off"])
            cpu_ratios.append(cpus["off"] / cpus["on"])
            print(f"{round_no:>5} {rates['off']:>8.2f} {rates['on']:>8.2f} {ratios[-1]:>7.3f}   "
                  f"{1000 * cpus['off']:>15.1f} {1000 * cpus['on']:>8.1f} {cpu_ratios[-1]:>7.3f}", flush=True)
        overall = totals["off"] / totals["on"]  # same pages each side: ratio of total times = ratio of throughput
        print(f"on/off wall-clock throughput: overall {overall:.3f}, median of rounds {statistics.median(ratios):.3f}")
        print(f"on/off CPU-bound throughput (off/on CPU per page): overall {cpu_totals['off'] / cpu_totals['on']:.3f}, "
              f"median of rounds {statistics.median(cpu_ratios):.3f}   (target >= 0.98)")
        on_cost, off_cost = advance_cost(terminal, sink)
        per_page = cpu_totals["off"] / args.rounds
        print(f"the line itself: {1e6 * on_cost:.1f} us per page drawn, {1e6 * off_cost:.1f} us disabled; against "
              f"{1000 * per_page:.1f} ms CPU per page that is a throughput ratio of "
              f"{per_page / (per_page + on_cost - off_cost):.4f}")
        frame = frame_cost(terminal, sink)
        print(f"one frame of the line: {1e6 * frame:.0f} us; at tqdm's most, 10 frames a second, that is "
              f"{100 * 10 * frame:.3f}% of one core")
    finally:
        await pipeline.close()
        terminal.close()
        sink.close()
        reader.join(5)
        os.close(master)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
