"""``newswire broker start|stop|status``: :func:`add_cli` registers the commands, each handler returns the exit code.

User errors are reported here (one line on stderr, exit code 1), so the
commands behave the same under ``newswire`` and ``python -m workers.local.broker``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from .config import client_settings
from .layout import (
    CLIENT_ENV_FILE,
    DEFAULT_PORT,
    HOST,
    LOG_FILE,
    MTLS_ENV_FILE,
    resolve_dir,
)
from .process import BrokerStartFailed, BrokerStatus, start, status, stop

__all__ = ["add_cli", "main", "print_address"]

Handler = Callable[[argparse.Namespace], int]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _reports_errors(handler: Handler) -> Handler:
    """User errors become one line on stderr and exit code 1, whoever dispatches the command."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except ConfigError as exc:
            _say(f"error: {exc.detail or exc}")
            return 1

    run.__name__ = run.__qualname__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


def print_address(current: BrokerStatus) -> None:
    """Secure mode: the client settings (``NAME=value``, sourceable); always last: the bootstrap address.

    stdout holds one set of settings (SASL_SSL), so sourcing or parsing it
    stays unambiguous; the mutual-TLS-only settings, which have the same
    names, go to stderr as a second block and to ``client-mtls.env``.
    """
    if current.secure:
        for key, value in client_settings(current.dir).items():
            print(f"{key}={value}")
        _say(f"client settings also in {current.dir / CLIENT_ENV_FILE} (`set -a; . {current.dir / CLIENT_ENV_FILE}`)")
        if current.mtls_bootstrap is not None:
            _say(f"mutual TLS only (SSL, the client certificate is the identity, no SASL) on {current.mtls_bootstrap}; "
                 f"settings in {current.dir / MTLS_ENV_FILE} (`set -a; . {current.dir / MTLS_ENV_FILE}`):")
            for key, value in client_settings(current.dir, mtls=True).items():
                _say(f"  {key}={value}")
    print(current.bootstrap, flush=True)


@_reports_errors
def cmd_start(args: argparse.Namespace) -> int:
    path = resolve_dir(args.dir)
    before = status(path)
    if before.running and args.secure in (None, before.secure):
        _say(f"broker already running (pid {before.pid}) in {path}")
        if args.port is not None and before.bootstrap != f"{HOST}:{args.port}":
            _say(f"(--port {args.port} not applied: stop the broker first to move it)")
        print_address(before)
        return 0
    try:
        started = start(args.port, path, timeout_s=args.timeout, secure=args.secure, progress=_say)
    except BrokerStartFailed as exc:
        _say(f"error: {exc.detail}")
        if exc.log_tail:
            _say(f"--- last lines of {path / LOG_FILE} ---\n{exc.log_tail}")
        return 1
    _say(f"broker running (pid {started.pid}); stop it with `newswire broker stop --dir {path}`")
    print_address(started)
    return 0


@_reports_errors
def cmd_stop(args: argparse.Namespace) -> int:
    path = resolve_dir(args.dir)
    if stop(path, timeout_s=args.timeout):
        print(f"broker stopped ({path})")
    else:
        print(f"broker not running ({path})")
    return 0


@_reports_errors
def cmd_status(args: argparse.Namespace) -> int:
    current = status(args.dir)
    if current.running:
        mode = " (SASL_SSL)" if current.secure else ""
        if current.mtls_bootstrap is not None:
            mode += f", {current.mtls_bootstrap} (SSL, client certificate required)"
        print(f"broker running (pid {current.pid}) on {current.bootstrap}{mode} in {current.dir}")
        return 0
    print(f"broker not running ({current.dir})")
    return 1


def _add_actions(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="broker_command", required=True, metavar="{start,stop,status}")
    dir_help = "broker directory (default: $NEWSWIRE_BROKER_DIR or ./.newswire/broker)"

    start_parser = actions.add_parser("start",
                                      help="start a local single-node Kafka broker and print its bootstrap address")
    start_parser.add_argument("--port", type=int, default=None,
                              help=f"client port on {HOST} (default: the directory's previous port, "
                                   f"else {DEFAULT_PORT})")
    start_parser.add_argument("--dir", type=Path, default=None, help=dir_help)
    start_parser.add_argument("--secure", action="store_true", default=None,
                              help="clients only over TLS with a throwaway CA: SASL_SSL with SCRAM-SHA-512 on --port, "
                                   "and SSL with a required client certificate on a second port; prints the NEWSWIRE_* "
                                   "client settings (chosen when the directory is first used)")
    start_parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait until the broker answers")
    start_parser.set_defaults(handler=cmd_start)

    stop_parser = actions.add_parser("stop", help="stop the broker cleanly (SIGTERM, SIGKILL after --timeout)")
    stop_parser.add_argument("--dir", type=Path, default=None, help=dir_help)
    stop_parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for a clean shutdown")
    stop_parser.set_defaults(handler=cmd_stop)

    status_parser = actions.add_parser("status", help="say whether the broker runs (exit code 0 if it does, else 1)")
    status_parser.add_argument("--dir", type=Path, default=None, help=dir_help)
    status_parser.set_defaults(handler=cmd_status)


def add_cli(subparsers: Any) -> None:
    """Register ``broker start|stop|status``; each sets ``handler(args) -> exit code`` (errors already reported).

    ``subparsers`` is what ``ArgumentParser.add_subparsers()`` returned.
    """
    parser = subparsers.add_parser("broker", help="run a local Kafka broker for development and tests",
                                   description="Run a real single-node Apache Kafka broker (KRaft) on 127.0.0.1.")
    _add_actions(parser)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.local.broker",
                                     description="Run a real single-node Apache Kafka broker (KRaft) on 127.0.0.1.")
    _add_actions(parser)
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    return handler(args)
