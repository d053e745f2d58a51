"""``newswire topics``: create missing topics, check existing ones."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from workers.settings import Settings

__all__ = ['add_cli', 'run']


def add_cli(sub: Any) -> None:
    p = sub.add_parser("topics", help="create missing topics and check existing ones")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workers.contract.topics import ensure_topics, topic_specs

    settings = Settings.from_env()
    created = asyncio.run(ensure_topics(settings))
    for spec in topic_specs(settings):
        state = "created" if spec.name in created else "ok"
        print(f"{spec.name}\t{spec.partitions} partitions\t{state}")
    return 0
