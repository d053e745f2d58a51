"""Readiness of a broker: a real Kafka client, aiokafka's admin client, asks it which brokers the cluster has.

A TCP connect alone is not enough: the port opens before the broker has
joined its controller quorum and can serve requests.  A broker is ready when
a client can log in the way clients will (TLS verified against our CA, SCRAM
over SASL_SSL, or a client certificate) and the cluster metadata it answers
lists at least the wanted number of brokers.

The sync functions run the client on a loop of their own in a short-lived
thread, so they work from plain code and from inside a running event loop
(an async test) alike; aiokafka's connection errors during that probe are
expected ("not up yet") and are kept out of the caller's log.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ...errors import ConfigError
from .config import BrokerConfig, required_secrets
from .layout import CLIENT_USER, SCRAM_MECHANISM, TLS_DIR

__all__ = ["BrokerNotReady", "ClientAccess", "broker_ids", "wait_brokers", "check", "probe", "client_accesses"]

_T = TypeVar("_T")


class BrokerNotReady(ConnectionError):
    """The broker did not answer as a ready cluster; the message says what was seen."""


@dataclass(frozen=True, slots=True)
class ClientAccess:
    """One client listener and how a client reaches it: plaintext, TLS, TLS with a SCRAM login."""

    bootstrap: str
    ssl_context: ssl.SSLContext | None = None
    sasl: tuple[str, str] | None = None  # (user, password) for SCRAM-SHA-512

    @property
    def security_protocol(self) -> str:
        if self.ssl_context is not None:
            return "SASL_SSL" if self.sasl is not None else "SSL"
        return "SASL_PLAINTEXT" if self.sasl is not None else "PLAINTEXT"


async def broker_ids(access: ClientAccess, *, timeout_s: float = 3.0) -> set[int]:
    """The node ids of the brokers the cluster lists now (a killed one stays listed until its session times out).

    Raises :class:`BrokerNotReady` when the listener cannot be reached, refuses
    the login, or does not answer within ``timeout_s``.
    """
    # Imported here: the `broker` commands are registered by every `newswire` invocation, which should not load
    # the Kafka client for that.
    from aiokafka.admin import AIOKafkaAdminClient

    login: dict[str, Any] = {}
    if access.sasl is not None:
        user, password = access.sasl
        login = {"sasl_mechanism": SCRAM_MECHANISM, "sasl_plain_username": user, "sasl_plain_password": password}
    admin = AIOKafkaAdminClient(bootstrap_servers=access.bootstrap, client_id="newswire-broker-probe",
                                request_timeout_ms=max(1, int(timeout_s * 1000)),
                                security_protocol=access.security_protocol, ssl_context=access.ssl_context, **login)
    try:
        async with asyncio.timeout(timeout_s):
            try:
                await admin.start()  # connect, ApiVersions, the login if any, a first metadata request
            except Exception as exc:  # aiokafka's KafkaError family, OSError, ssl.SSLError: not a broker we can use
                raise BrokerNotReady(f"{access.bootstrap} did not answer as a Kafka broker "
                                     f"({_describe(exc)})") from None
            try:
                described: dict[str, Any] = await admin.describe_cluster()
            except Exception as exc:  # e.g. no broker registered yet to send the request to
                raise BrokerNotReady(f"{access.bootstrap} answered, but no registered broker served the cluster "
                                     f"metadata ({_describe(exc)})") from None
    except TimeoutError:
        raise BrokerNotReady(f"{access.bootstrap} did not answer within {timeout_s:g} s") from None
    finally:
        await admin.close()
    return {int(broker["node_id"]) for broker in described.get("brokers") or ()}


def _describe(exc: BaseException) -> str:
    name, text = type(exc).__name__, str(exc)
    return text if text.startswith(name) else f"{name}: {text}" if text else name


async def wait_brokers(access: ClientAccess, brokers: int = 1, *, timeout_s: float = 3.0) -> set[int]:
    """:func:`broker_ids`, raising :class:`BrokerNotReady` unless at least ``brokers`` are listed."""
    listed = await broker_ids(access, timeout_s=timeout_s)
    if len(listed) < brokers:
        raise BrokerNotReady(f"{access.bootstrap} lists {len(listed)} of {brokers} brokers "
                             f"({', '.join(map(str, sorted(listed))) or 'none registered yet'})")
    return listed


def check(bootstrap: str, *, brokers: int = 1, timeout_s: float = 3.0, ssl_context: ssl.SSLContext | None = None,
          sasl: tuple[str, str] | None = None) -> set[int]:
    """Sync :func:`wait_brokers`: the listed broker ids, or :class:`BrokerNotReady` saying what was wrong.

    For a secure broker pass ``ssl_context`` (verifying its certificate, with
    a client certificate for mutual TLS) and ``sasl=(user, password)`` to log
    in with SCRAM-SHA-512 before asking for metadata.
    """
    access = ClientAccess(bootstrap, ssl_context, sasl)
    return _run_in_own_loop(lambda: wait_brokers(access, brokers, timeout_s=timeout_s))


def probe(bootstrap: str, *, brokers: int = 1, timeout_s: float = 3.0, ssl_context: ssl.SSLContext | None = None,
          sasl: tuple[str, str] | None = None) -> bool:
    """Whether the broker at ``bootstrap`` answers a logged-in metadata request listing ``brokers`` brokers."""
    try:
        check(bootstrap, brokers=brokers, timeout_s=timeout_s, ssl_context=ssl_context, sasl=sasl)
    except BrokerNotReady:
        return False
    return True


def client_accesses(dir: Path, config: BrokerConfig) -> list[ClientAccess]:
    """Each client listener of this directory's broker and how to reach it as a client.

    Secure mode: the SASL_SSL port with the CA and the client's SCRAM login,
    and the mTLS port with the CA and the client certificate (no login).
    """
    if not config.secure:
        return [ClientAccess(config.bootstrap)]
    secure = required_secrets(dir)
    tls = dir / TLS_DIR
    try:
        accesses = [ClientAccess(config.bootstrap, ssl.create_default_context(cafile=str(tls / "ca.crt")),
                                 (CLIENT_USER, secure.client_password))]
        if config.mtls_bootstrap is not None:
            with_certificate = ssl.create_default_context(cafile=str(tls / "ca.crt"))
            with_certificate.load_cert_chain(tls / "client.crt", tls / "client.key")
            accesses.append(ClientAccess(config.mtls_bootstrap, with_certificate))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"the TLS files in {tls} cannot be read ({exc}); remove {tls} to make them again") from None
    return accesses


# -- running the async client from sync code -------------------------------------------------------

_quiet_threads: set[int] = set()
_filter_lock = threading.Lock()
_filter_installed = False


class _DropProbeRecords(logging.Filter):
    """Drops aiokafka's records logged by a probe thread: refused connections are what "not ready" looks like."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread not in _quiet_threads


def _install_filter() -> None:
    """Installed on first use, not at import: a process that never probes (a worker) keeps aiokafka's loggers as is."""
    global _filter_installed
    with _filter_lock:
        if _filter_installed:
            return
        drop = _DropProbeRecords()
        for name in ("aiokafka", "aiokafka.admin.client", "aiokafka.client", "aiokafka.cluster", "aiokafka.conn"):
            # A logger's filters see only the records logged on that logger itself, hence each module's logger.
            logging.getLogger(name).addFilter(drop)
        _filter_installed = True


def _run_in_own_loop(make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    _install_filter()
    outcome: list[_T] = []
    failure: list[BaseException] = []

    def run() -> None:
        ident = threading.get_ident()
        _quiet_threads.add(ident)
        try:
            outcome.append(asyncio.run(make()))
        except BaseException as exc:  # handed to the caller's thread below
            failure.append(exc)
        finally:
            _quiet_threads.discard(ident)

    thread = threading.Thread(target=run, name="newswire-broker-probe", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
