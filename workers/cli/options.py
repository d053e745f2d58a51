"""Options several commands share."""

from __future__ import annotations

import argparse

__all__ = ["add_quiet"]


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress line and no summary on stderr (a progress line is only ever drawn on a terminal)")
