"""URL validation and canonicalisation.

The canonical form is what identifies an article: two submissions that differ
only in case of scheme/host, an explicit default port, a fragment or tracking
parameters are the same article and get the same :func:`article_id`.

Canonical form:

* scheme and host lower-case, internationalised host names in IDNA (punycode);
* a host written as a number the way browsers read it (``2130706433``,
  ``127.1``, ``0x7f.1``, ``0177.0.0.1``: WHATWG URL's IPv4 parser) is the
  IPv4 address it denotes, in dotted form (``127.0.0.1``), so that the address
  policy, the resolver and the HTTP request only ever see that form;
* default port (80 for http, 443 for https) dropped, other ports kept;
* path dot-segments resolved, percent-encoding normalised, empty path -> ``/``;
* fragment dropped;
* tracking parameters (``utm_*``, ``fbclid``, ``gclid`` ...) removed; the other
  parameters keep their submitted order and spelling (servers may depend on
  both, so they are never sorted or re-encoded beyond quoting);
* an empty query (``?`` alone, or only tracking parameters) is dropped.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from urllib.parse import unquote_plus

import yarl

from workers.errors import InvalidURL

__all__ = ["canonicalize_url", "article_id", "parse_fetchable_url", "numeric_ipv4_host", "TRACKING_PARAMS",
           "TRACKING_PREFIXES"]

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 8192
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_BAD_HOST_CHARS = re.compile(r"[ <>\"{}|\\^`%@/?#\[\]]")

# Exact parameter names (compared lower-case) that only track the visitor.
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gclsrc", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid",
    "li_fat_id", "igshid", "igsh", "mc_cid", "mc_eid", "mkt_tok", "_ga", "_gl", "_hsenc", "_hsmi",
    "__hssc", "__hstc", "__hsfp", "hsctatracking", "oly_anon_id", "oly_enc_id", "vero_id", "vero_conv",
    "wickedid", "rb_clickid", "s_cid", "ncid", "cmpid", "ocid", "sr_share", "ref_src", "ref_url",
    "spm", "scm", "at_medium", "at_campaign", "at_custom1", "at_custom2", "at_custom3", "at_custom4",
    "__twitter_impression", "_openstat", "fb_action_ids", "fb_action_types", "fb_ref", "fb_source",
    "action_object_map", "action_type_map", "action_ref_map", "guccounter", "guce_referrer",
    "guce_referrer_sig", "smid", "smtyp", "cvid", "mbid",
})
# Parameter name prefixes (compared lower-case) that only track the visitor.
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "matomo_", "piwik_", "hmb_", "ga_", "itm_", "stm_", "vgo_ee")


def parse_fetchable_url(url: str) -> yarl.URL:
    """Parse ``url`` and check that it may be fetched at all.

    Refuses bad syntax, schemes other than http(s), credentials in the URL and
    a missing host.  Raises :class:`InvalidURL`; says nothing about addresses
    (that is the fetcher's SSRF check, made at connect time).
    """
    if not isinstance(url, str):
        raise InvalidURL(f"not a string: {type(url).__name__}")
    text = url.strip()
    if not text:
        raise InvalidURL("empty URL")
    if len(text) > MAX_URL_LENGTH:
        raise InvalidURL(f"URL longer than {MAX_URL_LENGTH} characters")
    if _CONTROL_CHARS.search(text):
        raise InvalidURL("control character in URL")
    try:
        parsed = yarl.URL(text)
        scheme = parsed.scheme.lower()
        host = parsed.raw_host
        user, password = parsed.raw_user, parsed.raw_password
        port = parsed.explicit_port  # raises ValueError on a port out of range
    except (ValueError, TypeError, UnicodeError) as exc:
        raise InvalidURL(f"unparseable URL: {exc}") from None
    if scheme not in ALLOWED_SCHEMES:
        raise InvalidURL(f"scheme {scheme or '(none)'!r} is not http or https")
    if user is not None or password is not None:
        raise InvalidURL("credentials in URL are refused")
    if not host or host == ".":
        raise InvalidURL("URL has no host")
    if port == 0:
        raise InvalidURL("port 0")
    _check_host_syntax(host)
    dotted = numeric_ipv4_host(host)
    if dotted is not None and dotted != host:
        parsed = parsed.with_host(dotted)
    return parsed


def numeric_ipv4_host(host: str) -> str | None:
    """The dotted IPv4 address a numeric host denotes, or None for a host name (WHATWG URL, "IPv4 parser").

    A host whose last label is a number (decimal, ``0x`` hexadecimal, or
    octal with a leading ``0``) is an IPv4 address in browsers and in the URL
    standard: up to four parts, the last one filling the remaining bytes
    (``127.1`` is 127.0.0.1, ``2130706433`` is 127.0.0.1).  Such a host that
    does not denote an address (a part out of range, five parts, ``1.2.3.x9``)
    is not a valid URL: :class:`InvalidURL`.
    """
    if ":" in host:
        return None  # IPv6 literal
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # "127.1." is 127.1
    last = parts[-1]
    if not (last.isascii() and last.isdigit()) and _ipv4_number(last) is None:
        return None  # the last label is not a number: a host name
    if len(parts) > 4:
        raise InvalidURL(f"bad IPv4 address {host!r}: more than four parts")
    numbers = []
    for part in parts:
        number = _ipv4_number(part)
        if number is None:
            raise InvalidURL(f"bad IPv4 address {host!r}: {part!r} is not a number")
        numbers.append(number)
    if any(number > 255 for number in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise InvalidURL(f"bad IPv4 address {host!r}: a part is out of range")
    address = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        address += number * 256 ** (3 - index)
    return str(ipaddress.IPv4Address(address))


def _ipv4_number(part: str) -> int | None:
    """A WHATWG IPv4 number: decimal, ``0x`` hexadecimal or ``0``-prefixed octal; None if not one."""
    if not part:
        return None
    digits, base = part, 10
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        digits, base = part[1:], 8
    if digits == "":
        return 0  # "0x" alone is zero
    allowed = _IPV4_DIGITS[base]
    if not all(ch in allowed for ch in digits):
        return None
    return int(digits, base)


_IPV4_DIGITS = {10: frozenset("0123456789"), 8: frozenset("01234567"), 16: frozenset("0123456789abcdefABCDEF")}


def _check_host_syntax(host: str) -> None:
    if ":" in host:  # IPv6 literal; yarl has stripped the brackets
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise InvalidURL(f"bad IPv6 address {host!r}") from None
        return
    if _BAD_HOST_CHARS.search(host):
        raise InvalidURL(f"bad host name {host!r}")


def _is_tracking(name: str) -> bool:
    key = name.lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def _clean_query(raw_query: str) -> str:
    kept = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name = unquote_plus(part.split("=", 1)[0])
        if not _is_tracking(name):
            kept.append(part)
    return "&".join(kept)


def canonicalize_url(url: str) -> str:
    """The canonical form of ``url`` (see the module docstring); raises :class:`InvalidURL`."""
    parsed = parse_fetchable_url(url)
    scheme = parsed.scheme.lower()
    host = parsed.raw_host or ""
    host = host.rstrip(".") or host  # "example.com." is example.com
    netloc = f"[{host}]" if ":" in host else host
    port = parsed.explicit_port
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = parsed.raw_path or "/"
    query = _clean_query(parsed.raw_query_string)
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def article_id(canonical_url: str) -> str:
    """Stable id of an article: the first 32 hex digits of sha256 of its canonical URL."""
    return hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()[:32]
