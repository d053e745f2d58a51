"""The ``newswire`` command: one module per command, one exit policy.

    newswire broker start|stop|status     local single-node Kafka (KRaft)          workers.local.broker
    newswire worker                       run a worker (Faust) in the consumer group   workers.cli.worker
    newswire submit URL... | -            submit URLs (or lines of stdin) to the URL topic   workers.cli.submit
    newswire tail [--topic T] [--follow] [--format json|short] ...   print records   workers.cli.tail
    newswire extract [--no-entities] INPUT... | -   run the pipeline without Kafka   workers.cli.extract
    newswire status [--port P | --url U]  what a running worker is doing          workers.cli.status
    newswire sites [--url U]... [--json]  per-site outcomes from workers' /metrics  workers.cli.sites
    newswire topics                       create missing topics, check existing ones   workers.cli.topics
    newswire config [--markdown]          the effective settings (secrets masked)  workers.cli.config
    newswire schemas ...                  the record schemas                        workers.contract.schemas
    newswire feeds add|remove|list        feed subscriptions                        workers.feeds.cli

Exit codes, for every command (:func:`main` applies them): 0 done; 1 the
command ran but something it did failed (an input, a worker unreachable, the
broker did not start); 2 a usage or configuration error (one line on stderr,
``newswire: ...``); 130 interrupted.  Commands raise :class:`ConfigError` for
exit 2 and :class:`CommandFailed` for exit 1, or return the code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from workers.errors import CommandFailed, ConfigError

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except ConfigError as err:
        print(f"newswire: {err.detail or err}", file=sys.stderr)
        return 2
    except CommandFailed as err:
        print(f"newswire: {err.detail or err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    """Every command's parser; importing a command module imports no Faust (only ``worker`` runs it)."""
    from workers import feeds
    from workers.cli import config, extract, sites, status, submit, tail, topics, worker
    from workers.contract import schemas
    from workers.local.broker import cli as broker

    parser = argparse.ArgumentParser(prog="newswire", description="Streaming ingestion worker for news on Kafka.")
    sub = parser.add_subparsers(dest="command")
    for command in (broker, feeds, schemas, status, sites, worker, submit, tail, extract, topics, config):
        command.add_cli(sub)
    return parser


if __name__ == "__main__":
    sys.exit(main())
