"""``newswire status``: what a running worker is doing, in plain words, from its web port.

    newswire status [--port P | --url http://host:port] [--timeout S]

Reads the endpoints the worker serves for probes and Prometheus (``/readyz``
and ``/metrics``; see workers/web.py) and says: whether it is ready, the
state of its group membership, the partitions it holds, the URLs in flight,
how busy the CPU pool is, the records and dead letters of the last minute,
and the consumer lag.  A worker that does not answer gives one line and exit
code 1 (like ``newswire broker status``).  Nothing of Faust is imported.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from workers.settings import Settings

__all__ = ["WorkerUnreachable", "add_cli", "describe", "parse_metrics", "read_worker", "worker_url"]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class WorkerUnreachable(Exception):
    """Nothing answers at the address, or what answers is not a newswire worker."""


def add_cli(subparsers: Any) -> None:
    p = subparsers.add_parser("status", help="say what a running worker is doing (asks its web port)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--port", type=int, help="the worker's web port on this host (default: NEWSWIRE_WEB_PORT)")
    where.add_argument("--url", help="the worker's web address, e.g. http://10.0.0.5:6066")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the worker's answer")
    p.set_defaults(handler=_cmd_status)


def _cmd_status(args: argparse.Namespace) -> int:
    url = worker_url(Settings.from_env(), port=args.port, url=args.url)
    try:
        readiness, samples = read_worker(url, timeout=args.timeout)
    except WorkerUnreachable as err:
        print(f"newswire: {err}", file=sys.stderr)
        return 1
    print("\n".join(describe(url, readiness, samples)))
    return 0


def worker_url(settings: Settings, *, port: int | None = None, url: str | None = None) -> str:
    if url:
        return url.rstrip("/")
    host = settings.web_host
    if host in ("", "0.0.0.0", "::"):  # bound to every address: ask this host's loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port or settings.web_port}"


def read_worker(url: str, *, timeout: float = 5.0) -> tuple[dict[str, Any], Samples]:
    """The worker's /readyz answer and its /metrics samples."""
    status, body = _get(url + "/readyz", timeout)
    try:
        readiness = json.loads(body)
        if status not in (200, 503) or not isinstance(readiness, dict) or "ready" not in readiness:
            raise ValueError
    except ValueError:
        raise WorkerUnreachable(f"{url} answers, but not as a newswire worker (HTTP {status} on /readyz)") from None
    status, body = _get(url + "/metrics", timeout)
    if status != 200:
        raise WorkerUnreachable(f"{url} answers, but not as a newswire worker (HTTP {status} on /metrics)")
    return readiness, parse_metrics(body.decode("utf-8", errors="replace"))


def _get(url: str, timeout: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:  # 503 from /readyz is an answer
        return err.code, err.read()
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        reason = getattr(reason, "strerror", None) or str(reason)
        base = url.rsplit("/", 1)[0]
        raise WorkerUnreachable(f"no worker answers at {base} ({reason.lower()}); start one with `newswire worker`, "
                                "or point at it with --port, --url or NEWSWIRE_WEB_PORT") from None


def parse_metrics(text: str) -> Samples:
    """Prometheus text to {(sample name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@dataclass
class _View:
    samples: Samples

    def value(self, name: str, default: float | None = None) -> float | None:
        return self.samples.get((name, ()), default)

    def series(self, name: str) -> list[tuple[dict[str, str], float]]:
        return [(dict(labels), v) for (n, labels), v in self.samples.items() if n == name]


def describe(url: str, readiness: dict[str, Any], samples: Samples) -> list[str]:
    """The status in plain words, one line per subject."""
    m = _View(samples)
    version = next((labels.get("version") for labels, _ in m.series("newswire_build_info")), None)
    head = f"worker at {url}" + (f" (newswire {version})" if version else "")
    ready = "ready" if readiness.get("ready") else "not ready"
    lines = [f"{head}: {ready}"]
    lines.append(_row("group", _group_state(readiness, m)))
    lines.append(_row("partitions", _partitions(m)))
    in_flight = int(m.value("newswire_urls_in_flight", 0) or 0)
    lines.append(_row("in flight", f"{in_flight} URL{'s' if in_flight != 1 else ''} being fetched or analysed"))
    lines.append(_row("pool", _pool(readiness, m)))
    lines.append(_row("last minute", _last_minute(m)))
    lines.append(_row("consumer lag", _lag(m)))
    return lines


def _row(subject: str, text: str) -> str:
    return f"  {subject + ':':<14}{text}"


def _group_state(readiness: dict[str, Any], m: _View) -> str:
    if m.value("newswire_rebalancing", 0):
        return "rebalancing: the group is reassigning partitions"
    if readiness.get("partitions_assigned"):
        return "member of the consumer group, holding partitions of every stream it reads"
    if not readiness.get("assigned_partitions"):
        return ("no URL-topic partitions assigned: joining the group, or idle because the group has more "
                "members than the URL topic has partitions")
    return "member of the consumer group, waiting for partitions of its internal streams"


def _partitions(m: _View) -> str:
    by_topic: dict[str, list[int]] = defaultdict(list)
    for labels, value in m.series("newswire_partition_assigned"):
        if value:
            by_topic[labels["topic"]].append(int(labels["partition"]))
    if not by_topic:
        count = int(m.value("newswire_assigned_partitions", 0) or 0)
        return f"{count} of the URL topic" if count else "none"
    return "; ".join(f"{topic} {', '.join(map(str, sorted(parts)))}" for topic, parts in sorted(by_topic.items()))


def _pool(readiness: dict[str, Any], m: _View) -> str:
    processes = int(m.value("newswire_pool_processes", 0) or 0)
    pending = int(m.value("newswire_pool_queue_depth", 0) or 0)
    if not readiness.get("pool_up"):
        return f"starting ({processes} processes)" if processes else "starting"
    if not processes:
        return f"{pending} page{'s' if pending != 1 else ''} in the pool"
    busy = min(pending, processes)
    waiting = pending - busy
    return (f"{busy} of {processes} processes busy ({100 * busy // processes}%), "
            f"{waiting} page{'s' if waiting != 1 else ''} waiting")


def _last_minute(m: _View) -> str:
    records = int(m.value("newswire_records_last_minute", 0) or 0)
    letters = {labels["error"]: int(v) for labels, v in m.series("newswire_dead_letters_last_minute") if v}
    total = sum(letters.values())
    text = f"{records} record{'s' if records != 1 else ''}, {total} dead letter{'s' if total != 1 else ''}"
    if letters:
        text += " (" + ", ".join(f"{code}: {n}"
                                 for code, n in sorted(letters.items(), key=lambda kv: (-kv[1], kv[0]))) + ")"
    return text


def _lag(m: _View) -> str:
    by_topic: dict[str, int] = defaultdict(int)
    for labels, value in m.series("newswire_consumer_lag"):
        by_topic[labels["topic"]] += int(value)
    total = sum(by_topic.values())
    if not by_topic:
        return "unknown (no partition's end offset known yet)"
    if not total:
        return "0 messages: caught up"
    behind = ", ".join(f"{topic}: {n}" for topic, n in sorted(by_topic.items()) if n)
    return f"{total} message{'s' if total != 1 else ''} not yet committed ({behind})"
