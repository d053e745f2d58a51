"""Why a Kafka client could not connect, in one line that names the cause.

aiokafka reports a failed start only as ``KafkaConnectionError("Unable to
bootstrap from [...]")``; the real cause (a wrong password, a certificate the
client does not trust, TLS spoken to a plaintext port ...) is merely logged.
:func:`diagnose` therefore connects once more to each bootstrap server with the
same options, through aiokafka's own connection code, and catches the cause
itself; :func:`explain` turns that exception into a sentence naming the cause
and the setting to fix.  Two causes look alike on the wire (a connection closed
without an answer), so for those :func:`diagnose` asks the port what it speaks
(a TLS handshake, a plaintext Kafka request) before :func:`explain` decides.

:func:`start_client` is what every component uses instead of ``client.start()``:
a failure becomes :class:`KafkaConnectError` (a :class:`ConfigError`, so
``newswire`` prints it as one line and exits 2).

Messages are built from the kind of failure and non-secret settings only
(server address, protocol, mechanism, CA file path); any text taken from an
exception is additionally masked against the secret settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from workers.errors import ConfigError
from workers.kafka.options import aiokafka_options
from workers.settings import Settings

__all__ = ["FATAL_CAUSES", "CredentialWatch", "KafkaConnectError", "connect_error", "diagnose", "explain",
           "mask_secrets", "start_client"]

_DIAGNOSE_TIMEOUT_S = 10.0
_AIOKAFKA_CLIENT_LOGGER = "aiokafka"  # aiokafka.client logs "Unable connect to ..." per server here
# Settings named in messages.
_PROTOCOL, _MECHANISM = "NEWSWIRE_SECURITY_PROTOCOL", "NEWSWIRE_SASL_MECHANISM"
_USER, _PASSWORD = "NEWSWIRE_SASL_USERNAME", "NEWSWIRE_SASL_PASSWORD"
_CAFILE, _CERTFILE, _KEYFILE = "NEWSWIRE_SSL_CAFILE", "NEWSWIRE_SSL_CERTFILE", "NEWSWIRE_SSL_KEYFILE"
_CHECK_HOSTNAME = "NEWSWIRE_SSL_CHECK_HOSTNAME"

# OpenSSL X509_V_ERR_* codes of a server certificate the client refuses.
_HOSTNAME_CODES = {62, 64}  # hostname / IP address mismatch
_EXPIRED_CODES = {9, 10}  # not yet valid / expired
# TLS alerts the broker sends when it refuses the client's certificate (or its absence).
_CLIENT_CERT_ALERTS = {"SSLV3_ALERT_CERTIFICATE_UNKNOWN", "TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE",
                       "SSLV3_ALERT_CERTIFICATE_EXPIRED", "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
                       "TLSV1_ALERT_ACCESS_DENIED", "TLSV13_ALERT_CERTIFICATE_REQUIRED"}
# TLS record types a TLS server answers with (alert, handshake); read by a plaintext
# client as the first byte of a Kafka frame size.
_TLS_RECORD_TYPES = {0x15, 0x16}


class KafkaConnectError(ConfigError):
    """A Kafka client could not connect; ``cause`` is a stable name for the reason (see :func:`explain`)."""

    code = "kafka_connect_failed"

    def __init__(self, detail: str, *, cause: str) -> None:
        super().__init__(detail)
        self.cause = cause


# -- explaining one failure ------------------------------------------------------------


def explain(exc: BaseException, settings: Settings, server: str, *, port_speaks: str | None = None) -> tuple[str, str]:
    """(cause, one-line message) for the failure ``exc`` of a connection to ``server``.

    ``port_speaks`` is what :func:`diagnose` found the port to speak when the
    exception alone is ambiguous: ``"tls"``, ``"kafka"`` (plaintext Kafka) or
    None (unknown).  Causes: ``sasl_auth_failed``, ``sasl_mechanism``,
    ``sasl_not_enabled``, ``sasl_required``, ``certificate_untrusted``,
    ``hostname_mismatch``, ``certificate_expired``, ``client_certificate_refused``,
    ``plaintext_to_tls``, ``tls_to_plaintext``, ``unresolvable``, ``unreachable``,
    ``timeout``, ``connection_failed``.
    """
    cause, reason = _classify(exc, settings, server, port_speaks)
    return cause, mask_secrets(f"cannot connect to Kafka at {server} ({settings.security_protocol}): {reason}",
                               settings)


def _classify(exc: BaseException, settings: Settings, server: str, port_speaks: str | None) -> tuple[str, str]:
    protocol = settings.security_protocol
    tls = protocol.endswith("SSL")
    chain = _chain(exc)
    for err in chain:
        if isinstance(err, SaslAuthenticationFailed):
            return "sasl_auth_failed", (f"SASL authentication failed ({settings.sasl_mechanism}): the broker "
                                        f"refused the user name or password; check {_USER} and {_PASSWORD} "
                                        f"(or their _FILE files)")
        if isinstance(err, UnsupportedSaslMechanismError):
            return "sasl_mechanism", (f"the broker does not offer SASL mechanism {settings.sasl_mechanism} on this "
                                      f"listener; set {_MECHANISM} to one it enables")
        if isinstance(err, IllegalSaslStateError):
            return "sasl_not_enabled", (f"this listener does not speak SASL; use {_PROTOCOL}="
                                        f"{'SSL' if tls else 'PLAINTEXT'} or the cluster's SASL listener")
        if isinstance(err, ssl.SSLCertVerificationError):
            return _certificate_problem(err, settings, server)
    for err in chain:
        if isinstance(err, ssl.SSLError) and getattr(err, "reason", None) in _CLIENT_CERT_ALERTS:
            return _client_certificate_problem(err, settings)
    for err in chain:
        if isinstance(err, asyncio.IncompleteReadError) and not tls and _looks_like_tls(err.expected):
            return _plaintext_to_tls(protocol)
        if isinstance(err, socket.gaierror):
            return "unresolvable", f"the host name does not resolve ({err.strerror}); check NEWSWIRE_BOOTSTRAP_SERVERS"
        if isinstance(err, ConnectionRefusedError):
            return "unreachable", "nothing listens there (connection refused); check NEWSWIRE_BOOTSTRAP_SERVERS"
        if isinstance(err, (asyncio.TimeoutError, TimeoutError)):
            return "timeout", ("no answer in time (firewall, wrong port, or a broker that is down); "
                               "check NEWSWIRE_BOOTSTRAP_SERVERS")
    # A connection closed or reset without a Kafka answer: what the port speaks decides.
    if _closed_without_answer(chain):
        if port_speaks == "tls" and not tls:
            return _plaintext_to_tls(protocol)
        if port_speaks == "kafka" and tls:
            plain = "SASL_PLAINTEXT" if protocol.startswith("SASL") else "PLAINTEXT"
            return "tls_to_plaintext", (f"the port speaks plaintext Kafka but {_PROTOCOL}={protocol} starts TLS; use "
                                        f"{_PROTOCOL}={plain} or the cluster's TLS listener")
        # TLS worked (or the port is not TLS) but the broker hung up on a plain Kafka request: a SASL listener.
        if not protocol.startswith("SASL") and port_speaks == ("tls" if tls else None):
            return "sasl_required", (f"the broker closed the connection without answering: the listener requires "
                                     f"SASL; use {_PROTOCOL}={'SASL_SSL' if tls else 'SASL_PLAINTEXT'} with "
                                     f"{_USER} and {_PASSWORD}")
    return "connection_failed", _describe(exc)


def _certificate_problem(err: ssl.SSLCertVerificationError, settings: Settings, server: str) -> tuple[str, str]:
    code = getattr(err, "verify_code", None)
    detail = getattr(err, "verify_message", None) or str(err)
    if code in _HOSTNAME_CODES:
        host = server.rsplit(":", 1)[0]
        return "hostname_mismatch", (f"the broker's TLS certificate does not name {host} ({detail}); connect by a name "
                                     f"the certificate lists, or (not advised) set {_CHECK_HOSTNAME}=false")
    if code in _EXPIRED_CODES:
        return "certificate_expired", f"the broker's TLS certificate is outside its validity period ({detail})"
    where = (f"{_CAFILE}={settings.ssl_cafile} does not hold the CA that signed it" if settings.ssl_cafile
             else f"the system CAs do not include its CA; set {_CAFILE} to the cluster's CA bundle (PEM)")
    return "certificate_untrusted", (f"the broker's TLS certificate is not trusted (certificate verify failed: "
                                     f"{detail}): {where}")


def _client_certificate_problem(err: ssl.SSLError, settings: Settings) -> tuple[str, str]:
    alert = getattr(err, "reason", "")
    if not settings.ssl_certfile:
        return "client_certificate_refused", (f"the broker requires a client certificate (mutual TLS, TLS alert "
                                              f"{alert}); set {_CERTFILE} and {_KEYFILE}")
    return "client_certificate_refused", (f"the broker refused the client certificate {settings.ssl_certfile} "
                                          f"(TLS alert {alert}): it must be signed by a CA the broker trusts and valid")


def _plaintext_to_tls(protocol: str) -> tuple[str, str]:
    wanted = "SASL_SSL" if protocol.startswith("SASL") else "SSL or SASL_SSL"
    return "plaintext_to_tls", (f"the port speaks TLS but {_PROTOCOL}={protocol} does not; set {_PROTOCOL}={wanted} "
                                f"(and {_CAFILE})")


def _looks_like_tls(frame_size: int | None) -> bool:
    """A plaintext client read a TLS record header as a Kafka frame size (e.g. 0x15030300: a TLS alert)."""
    if not frame_size:
        return False
    return (frame_size >> 24) in _TLS_RECORD_TYPES and (frame_size >> 16) & 0xFF == 0x03


def _closed_without_answer(chain: list[BaseException]) -> bool:
    for err in chain:
        if isinstance(err, asyncio.IncompleteReadError) and not err.partial:
            return True
        if isinstance(err, (ConnectionResetError, ssl.SSLEOFError, BrokenPipeError)):
            return True
    return False


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _describe(exc: BaseException) -> str:
    parts = []
    for err in _chain(exc):
        text = " ".join(str(err).split())
        parts.append(f"{type(err).__name__}: {text}" if text else type(err).__name__)
    return " <- ".join(parts)


def mask_secrets(text: str, settings: Settings) -> str:
    """``text`` with every non-empty secret setting value replaced by ``***``."""
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if f.metadata.get("secret") and isinstance(value, str) and value:
            text = text.replace(value, "***")
    return text


# -- finding the failure ---------------------------------------------------------------------


def _servers(settings: Settings) -> list[tuple[str, int]]:
    out = []
    for item in settings.bootstrap_servers.split(","):
        host, _, port = item.strip().rpartition(":")
        if host and port.isdigit():
            out.append((host.strip("[]"), int(port)))
    return out


async def diagnose(settings: Settings, *, timeout_s: float = _DIAGNOSE_TIMEOUT_S) -> KafkaConnectError | None:
    """Connect to each bootstrap server as the clients do; the first failure explained, or None if all answer."""
    from aiokafka.conn import create_conn
    from aiokafka.protocol.metadata import MetadataRequest

    options = aiokafka_options(settings)
    options.pop("bootstrap_servers")
    for host, port in _servers(settings):
        server = f"{host}:{port}"
        try:
            conn = await asyncio.wait_for(
                create_conn(host, port, request_timeout_ms=int(timeout_s * 1000), **options), timeout_s)
            try:
                await asyncio.wait_for(conn.send(MetadataRequest([])), timeout_s)
            finally:
                conn.close()
        except (TimeoutError, OSError, KafkaError, asyncio.IncompleteReadError) as exc:
            speaks = await _what_the_port_speaks(host, port, timeout_s) if _ambiguous(exc) else None
            cause, message = explain(exc, settings, server, port_speaks=speaks)
            return KafkaConnectError(message, cause=cause)
    return None


def _ambiguous(exc: BaseException) -> bool:
    return _closed_without_answer(_chain(exc))


async def _what_the_port_speaks(host: str, port: int, timeout_s: float) -> str | None:
    """``"tls"`` if a TLS handshake completes, ``"kafka"`` if plaintext Kafka answers, else None."""
    if await _completes_tls_handshake(host, port, timeout_s):
        return "tls"
    if await _answers_plaintext_kafka(host, port, timeout_s):
        return "kafka"
    return None


async def _completes_tls_handshake(host: str, port: int, timeout_s: float) -> bool:
    # Only asks whether the port speaks TLS: no certificate is trusted or sent on this connection.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), timeout_s)
    except (TimeoutError, OSError, asyncio.IncompleteReadError):
        return False
    writer.close()
    with contextlib.suppress(OSError):  # ssl.SSLError is an OSError
        await writer.wait_closed()
    return True


async def _answers_plaintext_kafka(host: str, port: int, timeout_s: float) -> bool:
    from aiokafka.conn import create_conn
    from aiokafka.protocol.metadata import MetadataRequest

    try:
        conn = await asyncio.wait_for(create_conn(host, port, request_timeout_ms=int(timeout_s * 1000)), timeout_s)
        try:
            await asyncio.wait_for(conn.send(MetadataRequest([])), timeout_s)
        finally:
            conn.close()
    except (TimeoutError, OSError, KafkaError, asyncio.IncompleteReadError):
        return False
    return True


# -- starting clients -------------------------------------------------------------------------


async def connect_error(settings: Settings, exc: BaseException) -> KafkaConnectError:
    """The error to raise for a client whose start failed with ``exc``."""
    if isinstance(exc, KafkaConnectionError) or not isinstance(exc, KafkaError):
        found = await diagnose(settings)
        if found is not None:
            return found
    server = settings.bootstrap_servers
    cause, message = explain(exc, settings, server)
    return KafkaConnectError(message, cause=cause)


async def start_client(client: Any, settings: Settings) -> None:
    """``await client.start()`` for an aiokafka producer, consumer or admin client built from ``settings``.

    On failure the client is closed and :class:`KafkaConnectError` raised, with
    the cause in one line (``newswire`` prints it and exits 2).
    """
    with _held_connection_logs() as held:
        try:
            await client.start()
        except (TimeoutError, OSError, KafkaError, asyncio.IncompleteReadError) as exc:
            held.clear()  # the error below says it better, in one line
            error = await connect_error(settings, exc)
            await _close_quietly(client)
            raise error from None


class _Hold(logging.Filter):
    """Keeps aiokafka's per-server connection complaints back while a client starts."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return False

    def clear(self) -> None:
        self.records.clear()


@contextlib.contextmanager
def _held_connection_logs() -> Iterator[_Hold]:
    """aiokafka logs each failed bootstrap server as an error before it gives up; on failure
    :class:`KafkaConnectError` replaces those lines, on success they are passed on unchanged."""
    logger = logging.getLogger(_AIOKAFKA_CLIENT_LOGGER)
    hold = _Hold()
    logger.addFilter(hold)
    try:
        yield hold
    finally:
        logger.removeFilter(hold)
        for record in hold.records:
            logger.handle(record)


async def _close_quietly(client: Any) -> None:
    close = getattr(client, "stop", None) or getattr(client, "close", None)
    if close is None:
        return
    with contextlib.suppress(Exception):  # already broken: closing is best effort
        await close()



# -- after start: credentials that stop working ----------------------------------------------

# Causes that retrying cannot fix: the worker must stop (non-zero) so that an operator, or
# the platform restarting it with a rotated secret, can.  Unreachable brokers are not among
# them: clients ride out broker restarts.
FATAL_CAUSES = frozenset({"sasl_auth_failed", "sasl_mechanism", "sasl_not_enabled", "sasl_required",
                          "certificate_untrusted", "hostname_mismatch", "certificate_expired",
                          "client_certificate_refused", "plaintext_to_tls", "tls_to_plaintext"})


def _default_on_failure(error: KafkaConnectError) -> None:
    """Log the cause once and stop the worker the graceful way (Faust's SIGTERM handling)."""
    logging.getLogger("newswire.kafka").critical(error.detail, extra={"stage": "kafka", "error": error.code})
    os.kill(os.getpid(), signal.SIGTERM)


class CredentialWatch(logging.Filter):
    """Stops a running worker whose Kafka connections are refused for good (password changed, CA rotated ...).

    aiokafka retries a refused login forever and only logs each attempt, so a
    worker whose credentials broke after start would spin while /readyz says
    ready.  This watch sits on the ``aiokafka`` logger as a filter that lets
    every record through (a filter, not a handler: the worker's logging
    dictConfig replaces the handlers of that logger, not its filters); a logged connection
    failure with a fatal cause (:data:`FATAL_CAUSES`) starts a check: fresh
    connections with the same settings (:func:`diagnose`), ``confirmations``
    times ``recheck_s`` apart, so a broker that refuses logins for a moment
    while restarting does not stop the worker (after a check that passed,
    refusals start no new one for ``cooldown_s``).  A confirmed failure is kept in
    :attr:`failure` and handed to ``on_failure`` (default: log one critical line
    and SIGTERM this process, i.e. Faust's graceful stop); ``newswire worker``
    then exits with code 2 and prints the cause (see docs/security.md).
    """

    def __init__(self, settings: Settings, *, on_failure: Callable[[KafkaConnectError], None] | None = None,
                 recheck_s: float = 5.0, confirmations: int = 2, cooldown_s: float = 30.0,
                 check: Callable[[Settings], Awaitable[KafkaConnectError | None]] = diagnose) -> None:
        super().__init__()
        self.cooldown_s = cooldown_s
        self._quiet_until = 0.0  # loop time before which refusals start no new check (the last one passed)
        self.settings = settings
        self.on_failure = on_failure or _default_on_failure
        self.check = check
        self.recheck_s = recheck_s
        self.confirmations = max(1, confirmations)
        self.failure: KafkaConnectError | None = None
        self._checking: asyncio.Task[None] | None = None

    def install(self, logger_name: str = _AIOKAFKA_CLIENT_LOGGER) -> CredentialWatch:
        """Start watching; returns the watch in charge (one already installed stays in charge: one stop, not two)."""
        # aiokafka.client logs each refused connection ("Unable connect to node ...") on this logger itself.
        logger = logging.getLogger(logger_name)
        for existing in logger.filters:
            if isinstance(existing, CredentialWatch):
                return existing
        logger.addFilter(self)
        return self

    def uninstall(self, logger_name: str = _AIOKAFKA_CLIENT_LOGGER) -> None:
        logging.getLogger(logger_name).removeFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            self._observe(record)
        return True  # only watching: every record is logged as before

    def _observe(self, record: logging.LogRecord) -> None:
        if self.failure is not None or (self._checking is not None and not self._checking.done()):
            return
        refused = [arg for arg in (record.args or ()) if isinstance(arg, BaseException)
                   and explain(arg, self.settings, "")[0] in FATAL_CAUSES] if isinstance(record.args, tuple) else []
        if not refused:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # logged outside the event loop: nothing to schedule on
            return
        if loop.time() < self._quiet_until:
            return
        self._checking = loop.create_task(self._confirm())

    async def _confirm(self) -> None:
        found: KafkaConnectError | None = None
        for attempt in range(self.confirmations):
            if attempt:
                await asyncio.sleep(self.recheck_s)
            found = await self.check(self.settings)
            if found is None or found.cause not in FATAL_CAUSES:
                # Fresh connections work (e.g. only a broker that is not a bootstrap server refuses):
                # keep going, and do not check on every one of aiokafka's retries.
                self._quiet_until = asyncio.get_running_loop().time() + self.cooldown_s
                return
        assert found is not None
        self.failure = found
        self.on_failure(found)
