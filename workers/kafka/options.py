"""The one place that turns settings into Kafka client connection options.

Every component that talks to Kafka (the Faust worker, ``submit``, ``tail``,
the topic admin, feeds, the benchmarks and examples) takes its connection
options from here, so security settings apply the same way everywhere and no
other module handles credentials.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

from workers.errors import ConfigError
from workers.settings import Settings

__all__ = ["aiokafka_options", "faust_broker_urls", "faust_credentials", "ssl_context"]


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """TLS context for SSL / SASL_SSL: the CA bundle, optional client certificate, hostname checks."""
    if not settings.security_protocol.endswith("SSL"):
        return None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.ssl_cafile or None)
        if settings.ssl_certfile:
            context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile or None,
                                    password=settings.ssl_key_password or None)
    except (OSError, ssl.SSLError) as exc:
        # The message names the file problem, never a password.
        raise ConfigError(f"cannot load the TLS files (NEWSWIRE_SSL_*): {exc.__class__.__name__}: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None
    context.check_hostname = settings.ssl_check_hostname
    return context


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer/Consumer/AdminClient."""
    options: dict[str, Any] = {"bootstrap_servers": settings.bootstrap_servers,
                               "security_protocol": settings.security_protocol}
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if settings.security_protocol.startswith("SASL"):
        options.update(sasl_mechanism=settings.sasl_mechanism,
                       sasl_plain_username=settings.sasl_username,
                       sasl_plain_password=settings.sasl_password)
    return options


def faust_broker_urls(settings: Settings) -> list[str]:
    return [f"kafka://{server.strip()}" for server in settings.bootstrap_servers.split(",") if server.strip()]


def faust_credentials(settings: Settings) -> Any:
    """Faust ``broker_credentials`` built from the same settings (None for PLAINTEXT).

    Faust hands them to every aiokafka client it makes (consumer, producers,
    transactional producers, topic admin) through the same keyword arguments
    as :func:`aiokafka_options`.
    """
    import faust

    context = ssl_context(settings)
    if settings.security_protocol.startswith("SASL"):
        return _masked_sasl_credentials(faust.SASLCredentials)(
            username=settings.sasl_username, password=settings.sasl_password,
            mechanism=settings.sasl_mechanism, ssl_context=context)
    if context is not None:
        return faust.SSLCredentials(context)
    return None


@functools.cache
def _masked_sasl_credentials(base: type) -> type:
    """Faust's SASLCredentials whose repr names the mechanism, not the user (the user name is a secret setting)."""

    class MaskedSASLCredentials(base):
        def __repr__(self) -> str:
            return f"<SASLCredentials: protocol={self.protocol.value} mechanism={self.mechanism.value} username=***>"

    return MaskedSASLCredentials
