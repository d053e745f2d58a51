"""Decode an HTML body to text, choosing the character set the way browsers do.

Order of evidence:

1. a byte-order mark (BOM).  The WHATWG encoding standard puts the BOM before
   the HTTP header, because a BOM in a document is never an accident while a
   server-wide ``charset=`` default often is wrong;
2. the ``charset`` of the HTTP Content-Type header, if Python knows it and the
   body decodes with it cleanly;
3. ``<meta charset>`` or ``<meta http-equiv="Content-Type" content="...charset=...">``
   in the first bytes of the document;
4. strict UTF-8 (by far the most common encoding; cheap to check);
5. statistical detection by charset_normalizer.

A header or meta charset that does not decode the body cleanly is still used
if nothing later in the list does better.  Decoding never raises: undecodable
bytes become U+FFFD.  ``latin-1``/``ascii`` labels mean windows-1252, as in
browsers (servers say "iso-8859-1" for documents full of curly quotes).
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

__all__ = ["decode_html", "normalize_charset", "find_meta_charset"]

# How far into the document <meta charset> is looked for.  WHATWG says 1024
# bytes; news pages often put kilobytes of scripts first, so look further.
META_SCAN_BYTES = 16_384
# Detection on a prefix keeps the cost bounded on multi-megabyte pages.
DETECT_BYTES = 65_536

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Labels browsers map to a superset; see https://encoding.spec.whatwg.org/#names-and-labels
_ALIASES = {
    "latin_1": "cp1252", "iso8859_1": "cp1252", "ascii": "cp1252",
    "iso8859_9": "cp1254", "iso8859_11": "cp874", "gb2312": "gb18030", "gbk": "gb18030",
    "euc_kr": "cp949", "shift_jis": "cp932", "utf_8_sig": "utf-8",
}
# WHATWG labels Python's codec registry does not know.
_EXTRA_LABELS = {
    "x-sjis": "cp932", "windows-31j": "cp932", "x-euc-jp": "euc_jp", "x-gbk": "gb18030", "x-cp1250": "cp1250",
    "x-cp1251": "cp1251", "x-cp1252": "cp1252", "x-cp1253": "cp1253", "x-cp1254": "cp1254", "x-cp1255": "cp1255",
    "x-cp1256": "cp1256", "x-cp1257": "cp1257", "x-cp1258": "cp1258", "x-mac-roman": "mac_roman",
    "x-mac-cyrillic": "mac_cyrillic", "x-mac-ukrainian": "mac_cyrillic", "unicode-1-1-utf-8": "utf-8",
    "unicode11utf8": "utf-8", "unicode20utf8": "utf-8", "x-unicode20utf8": "utf-8", "x-user-defined": "cp1252",
    "dos-874": "cp874", "x-x-big5": "big5hkscs", "big5": "big5hkscs", "cn-big5": "big5hkscs",
}
# Pretty names for the codecs reported back (codecs.lookup gives "cp1251" etc.).
_PRETTY = {"utf_8": "utf-8", "utf_16": "utf-16", "utf_32": "utf-32", "utf-8-sig": "utf-8"}

_META_RE = re.compile(
    rb"""<meta\s[^>]*?charset\s*=\s*["']?\s*([a-zA-Z0-9_.:\-]+)""",
    re.IGNORECASE,
)


def normalize_charset(label: str | None) -> str | None:
    """The Python codec for a charset label, or None if the label is unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label == "replacement":
        return None
    label = _EXTRA_LABELS.get(label, label)
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError):
        return None
    name = _ALIASES.get(name.replace("-", "_"), name)
    return _PRETTY.get(name, name)


def find_meta_charset(body: bytes) -> str | None:
    """The charset named by a ``<meta>`` tag near the start of ``body``, if any."""
    head = body[:META_SCAN_BYTES]
    for match in _META_RE.finditer(head):
        charset = normalize_charset(match.group(1).decode("ascii", "replace"))
        if charset is None:
            continue
        # A meta tag readable as ASCII cannot be in UTF-16/32 (WHATWG: use UTF-8).
        if charset.startswith(("utf-16", "utf-32", "utf_16", "utf_32")):
            return "utf-8"
        return charset
    return None


def _decodes_cleanly(body: bytes, encoding: str) -> bool:
    try:
        codecs.decode(body, encoding, "strict")
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _detect(body: bytes) -> str | None:
    try:
        best = charset_normalizer.from_bytes(body[:DETECT_BYTES]).best()
    except Exception:  # detection is best effort; a bug in it must not stop extraction
        return None
    return normalize_charset(best.encoding) if best is not None else None


def decode_html(body: bytes, declared_charset: str | None = None) -> tuple[str, str]:
    """Decode ``body``; returns ``(text, encoding used)``.  Never raises on bad bytes."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return codecs.decode(body, encoding, "replace"), _PRETTY.get(encoding, encoding)

    fallback: str | None = None
    for candidate in (normalize_charset(declared_charset), find_meta_charset(body)):
        if candidate is None:
            continue
        if _decodes_cleanly(body, candidate):
            return codecs.decode(body, candidate, "replace"), candidate
        fallback = fallback or candidate

    if _decodes_cleanly(body, "utf-8"):
        return body.decode("utf-8"), "utf-8"
    if fallback is not None:
        # The document said what it is; a few bad bytes do not overrule that.
        return codecs.decode(body, fallback, "replace"), fallback
    detected = _detect(body) or "utf-8"
    return codecs.decode(body, detected, "replace"), detected
