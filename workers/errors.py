"""One exception hierarchy for everything that can stop a URL from becoming a record.

Each class carries the stable dead-letter ``code`` and the pipeline ``stage`` it
belongs to, so the code a consumer sees on the dead-letter topic is the code
that was raised; nothing downstream maps or renames it.  ``retryable`` tells
the fetch stage whether another attempt could succeed.

Codes are documented in README.md ("Dead-letter codes").
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "NewswireError",
    "DecodeError",
    "InvalidMessage",
    "InvalidURL",
    "FetchError",
    "HTTPStatusError",
    "FetchTimeout",
    "TooLarge",
    "TooManyRedirects",
    "NotHTML",
    "BlockedAddress",
    "RobotsDisallowed",
    "ConnectionFailed",
    "BotChallenge",
    "ExtractError",
    "EmptyText",
    "ExtractFailed",
    "JsRequired",
    "NotArticle",
    "EnrichError",
    "PublishError",
    "ConfigError",
    "CommandFailed",
]


class NewswireError(Exception):
    """Base class: a failure with a stable dead-letter code."""

    code: ClassVar[str] = "error"
    stage: ClassVar[str] = "pipeline"
    retryable: ClassVar[bool] = False

    def __init__(self, detail: str = "", *, attempts: int = 1) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        self.attempts = attempts

    @property
    def error_code(self) -> str:
        """The code written to the dead-letter record (may depend on the instance)."""
        return self.code

    def __str__(self) -> str:
        return f"{self.error_code}: {self.detail}" if self.detail else self.error_code

    def __reduce__(self) -> tuple[Any, ...]:  # errors cross process-pool boundaries: keep every attribute
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[NewswireError], args: tuple[Any, ...], state: dict[str, Any]) -> NewswireError:
    err: NewswireError = Exception.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class ConfigError(NewswireError):
    """A setting, an argument or the environment is wrong; raised at start-up or by a command, never per message.

    The command line exits 2 with one line (workers.cli.command).
    """

    code = "config_error"
    stage = "config"


class CommandFailed(NewswireError):
    """A command ran but what it did failed (the broker did not start, a worker did not answer): exit 1."""

    code = "command_failed"
    stage = "command"


# -- decode: the submission message itself is unusable ---------------------


class DecodeError(NewswireError):
    stage = "decode"


class InvalidMessage(DecodeError):
    """Not valid UTF-8, not JSON where JSON was meant, or missing a ``url``."""

    code = "invalid_message"


class InvalidURL(DecodeError):
    """A URL that cannot be fetched: bad syntax, scheme other than http(s), credentials."""

    code = "invalid_url"


# -- fetch ---------------------------------------------------------------------


class FetchError(NewswireError):
    stage = "fetch"


class HTTPStatusError(FetchError):
    """A non-2xx final status.  The code is ``http_<status>``; retried 5xx/429
    that never succeeded become ``http_5xx_exhausted`` / ``http_429_exhausted``."""

    code = "http_error"

    def __init__(self, status: int, detail: str = "", *, attempts: int = 1, exhausted: bool = False) -> None:
        super().__init__(detail or f"HTTP {status}", attempts=attempts)
        self.status = status
        self.exhausted = exhausted

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.status == 429 or self.status >= 500

    @property
    def error_code(self) -> str:
        if self.exhausted and self.status >= 500:
            return "http_5xx_exhausted"
        if self.exhausted and self.status == 429:
            return "http_429_exhausted"
        return f"http_{self.status}"


class FetchTimeout(FetchError):
    code = "timeout"
    retryable = True


class ConnectionFailed(FetchError):
    """DNS failure, refused or reset connection, TLS failure."""

    code = "connection_error"
    retryable = True


class TooLarge(FetchError):
    """The body (after decompression) exceeds the configured maximum."""

    code = "too_large"


class TooManyRedirects(FetchError):
    code = "too_many_redirects"


class NotHTML(FetchError):
    """The response is not HTML/XHTML; ``detail`` names the content type."""

    code = "not_html"


class BlockedAddress(FetchError):
    """The host resolves to a loopback, private, link-local, multicast or
    metadata address that is not allow-listed (SSRF protection)."""

    code = "blocked_address"


class RobotsDisallowed(FetchError):
    code = "robots_disallowed"


class BotChallenge(FetchError):
    """The site answered with an anti-bot or WAF interstitial (a JavaScript
    challenge, a captcha wall, a block page) instead of the document, whatever
    the HTTP status: 200, 403 or 503.

    Stage ``fetch`` although a 200 challenge is recognised in the CPU stages:
    the failure is that the site refused to serve us the page, not that the
    page could not be read, and what an operator does about it (the
    User-Agent, an allow-list with the site, the request rate) is fetch
    configuration.  ``detail`` names the vendor when it is recognisable.
    Not retried: a challenge answers every attempt alike.
    """

    code = "bot_challenge"


# -- extract / enrich / publish ----------------------------------------------


class ExtractError(NewswireError):
    stage = "extract"
    code = "extract_failed"


class ExtractFailed(ExtractError):
    """The extractor raised or could not parse the document."""

    code = "extract_failed"


class EmptyText(ExtractError):
    """The page parsed but no article text was found in it."""

    code = "empty_text"


class JsRequired(ExtractError):
    """An application shell: the page is rendered by JavaScript, its HTML holds
    no article text and no usable embedded article data (JSON-LD, Next.js,
    Nuxt or an initial-state blob)."""

    code = "js_required"


class NotArticle(ExtractError):
    """A section, index, tag or search page: many headline links with teasers
    and no article prose of its own."""

    code = "not_article"


class EnrichError(NewswireError):
    stage = "enrich"
    code = "enrich_failed"


class PublishError(NewswireError):
    stage = "publish"
    code = "publish_failed"
