"""``newswire config``: the effective settings (secrets masked), or the reference as Markdown."""

from __future__ import annotations

import argparse
from typing import Any

from workers.settings import Settings

__all__ = ['add_cli', 'run']


def add_cli(sub: Any) -> None:
    p = sub.add_parser("config", help="show the effective settings (secrets masked)")
    p.add_argument("--markdown", action="store_true", help="print the configuration reference as a Markdown table")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workers.settings import config_reference_markdown

    if args.markdown:
        print(config_reference_markdown())
        return 0
    settings = Settings.from_env()
    for name, value in settings.describe().items():
        if isinstance(value, tuple):
            value = ",".join(value)
        print(f"{name}={value}")
    return 0
