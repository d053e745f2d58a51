"""What kind of page this is, when it is not simply an article: the checks behind
``bot_challenge``, ``js_required``, ``not_article`` and the ``paywalled`` flag.

Every check is structural.  A word anywhere in the text never decides: a
challenge needs a vendor's challenge markup (or a challenge title) *and* a page
with almost no visible text; an application shell needs a mount point, a
``<noscript>`` JavaScript notice or a page of scripts *and* no article text; an
index needs many headline cards *and* an extraction made of nothing but their
headlines and teasers.  So an article about captchas, a short story beside fifty
related links or a page with a newsletter box stays an article.

:func:`challenge_vendor` is cheap (regular expressions; the text is only
counted when a marker matched), so the fetch stage can call it on the body of a
403 or 503 on the event loop.  The other checks parse the page with lxml and run
in the CPU pool (:mod:`workers.pipeline.analyse`).
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from urllib.parse import urljoin

from lxml import html as lxml_html
from lxml.html import HtmlElement

from ._extract_text import normalise

__all__ = [
    "ChallengeCheck",
    "challenge_vendor",
    "is_paywalled",
    "ShellCheck",
    "app_shell_reason",
    "IndexCheck",
    "index_reason",
    "parse_page",
    "visible_words",
]

# -- anti-bot interstitials ------------------------------------------------------------------

# Markup that only a challenge or block page carries, lower-cased (the scripts these vendors inject
# into normal pages, such as Cloudflare's jsd beacon or DataDome's tags.js, are not here).
# Plain substrings: one lower-casing and a few ``in`` tests cost far less than case-blind regexes.
_VENDOR_MARKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cloudflare", ("_cf_chl_opt", "/orchestrate/chl_page", "/orchestrate/managed/", "/orchestrate/jsch/",
                    "cf-browser-verification", "id=\"cf-challenge", "cf-error-details", "cf-chl-widget")),
    ("datadome", ("captcha-delivery.com",)),
    ("perimeterx", ("id=\"px-captcha", "id='px-captcha", "captcha.px-cdn.net", "_pxcaptcha")),
    ("imperva", ("incapsula incident id", "pardon our interruption", "<iframe id=\"main-iframe\" src=\"/_incapsula_resource")),
    ("akamai", ("errors.edgesuite.net", "reference&#32;&#35;", "/_sec/cp_challenge/", "sec-if-cpt-container")),
    ("sucuri", ("sucuri website firewall", "cloudproxy@sucuri", "sucuri.net/privacy-policy")),
    ("aws-waf", ("awswafintegration", "gokuprops", "awswaf.com/")),
    ("kasada", ("kpsdk",)),
    ("ddos-guard", ("ddos-guard",)),
    ("radware", ("validate.perfdrive.com", "radware bot manager", "shieldsquare captcha")),
    ("reblaze", ("window.rbzns", "rbzns.rbzid")),
    ("fastly", ("/_fs-ch-",)),
    ("vercel", ("vercel security checkpoint",)),
)

# Titles of interstitials: the whole title is the phrase, or the phrase, a separator and a little more
# ("Attention Required! | Cloudflare"); "Blocked drains flood the town" is not one.
_CHALLENGE_TITLE = re.compile(
    r"^\s*(?:just a moment|attention required|access denied|access to this page has been denied|"
    r"pardon our interruption|are you a (?:robot|human)|robot or human|security check|one more step|"
    r"verifying you are human|checking your browser|please wait|bot verification|human verification|"
    r"client challenge|ddos protection|request blocked|you have been blocked|blocked|captcha)"
    r"\s*(?:[.…!?:|\-–—][^<]{0,40})?$",
    re.I,
)
_TITLE = re.compile(
    r"^\s*(?:just a moment|attention required|access denied|access to this page has been denied|"
    r"pardon our interruption|are you a (?:robot|human)|robot or human|security check|one more step|"
    r"verifying you are human|checking your browser|please wait|bot verification|human verification|"
    r"ddos protection|request blocked|you have been blocked|blocked|captcha)\b[^<]{0,40}$",
    re.I,
)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.S)
# A captcha widget on a page: only counts together with challenge wording.
_CAPTCHA_WIDGETS = ("g-recaptcha", "h-captcha", "cf-turnstile", "frc-captcha", "captcha-container")
_CHALLENGE_WORDING = (
    "verify you are human", "verify that you are human", "verify you are a human", "are you a robot",
    "not a robot", "checking your browser", "checking if the site connection is secure",
    "enable javascript and cookies to continue", "press & hold", "press &amp; hold", "unusual traffic",
    "complete the security check", "automated access", "automated requests", "automated queries",
)
# An interstitial says a sentence or two; a Cloudflare block page about 120 words.
CHALLENGE_MAX_WORDS = 250
# With no vendor markup (a challenge title, or a captcha widget and challenge wording), less text still.
GENERIC_CHALLENGE_MAX_WORDS = 150
_MAX_CHALLENGE_CHARS = 400_000  # larger documents are pages, not interstitials (which weigh 2-60 kB)
_MAX_CHALLENGE_PARAGRAPHS = 40  # an interstitial has a handful


@dataclass(frozen=True, slots=True)
class ChallengeCheck:
    vendor: str  # "cloudflare", ..., or "generic" (a challenge title or a captcha wall)
    words: int  # visible words on the page


_SCRIPT_STYLE = re.compile(r"<(script|style|template|svg|noscript)\b.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def visible_words(markup: str) -> int:
    """Words of text a reader sees in ``markup`` (scripts, styles and noscript left out); regex-only."""
    text = _TAG.sub(" ", _SCRIPT_STYLE.sub(" ", _COMMENT.sub(" ", markup)))
    return len(html_lib.unescape(text).split())


def challenge_vendor(markup: str) -> ChallengeCheck | None:
    """The interstitial in ``markup``, or None when it is not one.

    A challenge is (a vendor's challenge markup, or a challenge title, or a
    captcha widget with challenge wording) on a page of at most
    ``CHALLENGE_MAX_WORDS`` visible words.
    """
    if not markup or len(markup) > _MAX_CHALLENGE_CHARS:
        return None
    # Many paragraphs: a page of text, not an interstitial (and the cheap way to skip most articles).
    if markup.count("<p") + markup.count("<P") > _MAX_CHALLENGE_PARAGRAPHS:
        return None
    lowered = markup.lower()
    vendor = next((name for name, markers in _VENDOR_MARKERS if any(m in lowered for m in markers)), None)
    if vendor is None:
        title = _TITLE.search(lowered)
        title_text = html_lib.unescape(title.group(1)).strip() if title else ""
        if title_text and _CHALLENGE_TITLE.match(title_text):
            vendor = "generic"
        elif any(w in lowered for w in _CAPTCHA_WIDGETS) and any(w in lowered for w in _CHALLENGE_WORDING):
            vendor = "generic"
        else:
            return None
    words = visible_words(markup)
    if words > (GENERIC_CHALLENGE_MAX_WORDS if vendor == "generic" else CHALLENGE_MAX_WORDS):
        return None
    return ChallengeCheck(vendor, words)


# -- paywall ---------------------------------------------------------------------------------

# schema.org: "isAccessibleForFree": false (also "False"/"false" as strings), on the article or in hasPart.
_JSONLD_NOT_FREE = re.compile(r"[\"']isAccessibleForFree[\"']\s*:\s*(?:false\b|[\"']false[\"'])", re.I)
_META_TAGS = re.compile(r"<meta\b[^>]*>", re.I)
_JSONLD_BLOCK = re.compile(r"<script\b[^>]*application/ld\+json[^>]*>(.*?)</script", re.I | re.S)
_ATTR = re.compile(r"([a-z:_-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))", re.I)
# A visible paywall: a paywall element that asks the reader to subscribe or sign in.
_PAYWALL_ELEMENT = re.compile(
    r"<(?:div|section|aside|article|p)\b[^>]*\b(?:class|id)=[\"'][^\"']*"
    r"(?:paywall|pay-wall|regwall|reg-wall|subscriber-only|subscribers-only|premium-gate|meteredContent)"
    r"[^\"']*[\"'][^>]*>",
    re.I,
)
# Cheap case-sensitive pre-check for _PAYWALL_ELEMENT (class names are lower-case or camelCase).
_PAYWALL_WORDS = ("aywall", "AYWALL", "ay-wall", "egwall", "eg-wall", "ubscriber", "remium-gate", "eteredContent")
_SUBSCRIBE_PROMPT = re.compile(
    r"subscribe (?:now |today )?to (?:continue|keep|read)|subscribers? only|for subscribers|"
    r"(?:to )?continue reading,? (?:subscribe|sign in|log in)|already a subscriber|"
    r"(?:sign|log) in to (?:continue|read)|this (?:article|story|content) is (?:exclusive|reserved|available) (?:to|for) "
    r"(?:subscribers|members)|unlock (?:this|the full) (?:article|story)",
    re.I,
)


def _attrs(tag: str) -> dict[str, str]:
    return {m.group(1).lower(): (m.group(2) or m.group(3) or m.group(4) or "") for m in _ATTR.finditer(tag)}


def is_paywalled(markup: str) -> bool:
    """The page declares restricted access, or shows a recognisable paywall.

    Declared: schema.org ``isAccessibleForFree: false`` (JSON-LD, also in
    ``hasPart`` with a ``cssSelector``, or microdata), or
    ``article:content_tier`` ``locked``.  Shown: an element whose class or id
    names a paywall and which asks the reader to subscribe or sign in.
    """
    declared = "isAccessibleForFree" in markup or "isaccessibleforfree" in markup or "IsAccessibleForFree" in markup
    # in the page's JSON-LD only: an app's data blob may describe other (related) articles
    if declared and any(_JSONLD_NOT_FREE.search(block) for block in _JSONLD_BLOCK.findall(markup)):
        return True
    for tag in _META_TAGS.findall(markup) if declared or "content_tier" in markup else ():
        lowered = tag.lower()
        if "isaccessibleforfree" not in lowered and "content_tier" not in lowered:
            continue
        attrs = _attrs(tag)
        name = (attrs.get("itemprop") or attrs.get("property") or attrs.get("name") or "").lower()
        content = attrs.get("content", "").strip().lower()
        if name == "isaccessibleforfree" and content == "false":
            return True
        if name.endswith("content_tier") and content == "locked":
            return True
    if not any(word in markup for word in _PAYWALL_WORDS):
        return False
    for match in _PAYWALL_ELEMENT.finditer(markup):
        window = markup[match.end(): match.end() + 2000]
        if _SUBSCRIBE_PROMPT.search(visible_text_of(window)):
            return True
    return False


def visible_text_of(markup: str) -> str:
    return html_lib.unescape(_TAG.sub(" ", _SCRIPT_STYLE.sub(" ", markup)))


# -- parsed-page checks ----------------------------------------------------------------------


def parse_page(markup: str) -> HtmlElement | None:
    """The page as an lxml tree (None when it cannot be parsed)."""
    try:
        return lxml_html.document_fromstring(markup.encode("utf-8", "surrogatepass"))
    except (ValueError, TypeError, lxml_html.etree.ParserError):  # type: ignore[attr-defined]
        return None


_INVISIBLE = frozenset({"script", "style", "noscript", "template", "svg", "head", "iframe"})


def _word_counts(root: HtmlElement) -> dict[HtmlElement, int]:
    """Visible words under every element of ``root``, in one bottom-up pass (tails belong to the parent)."""
    counts: dict[HtmlElement, int] = {}
    for element in reversed(list(root.iter())):
        if not isinstance(element.tag, str) or element.tag in _INVISIBLE:
            counts[element] = 0
            continue
        total = len(element.text.split()) if element.text else 0
        for child in element:
            total += counts.get(child, 0)
            if child.tail:
                total += len(child.tail.split())
        counts[element] = total
    return counts


def _text_words(node: HtmlElement) -> int:
    return _word_counts(node)[node]


# Where single-page applications mount; empty (or nearly) in the HTML of a shell.
_MOUNT_IDS = frozenset({"root", "app", "__next", "__nuxt", "___gatsby", "svelte", "app-root", "main-app",
                        "react-root", "application", "q-app", "ember-application"})
_ENABLE_JS = re.compile(r"javascript", re.I)
# Text an application shell can have beside its mount point (a cookie notice, a footer line).
SHELL_MAX_WORDS = 120


@dataclass(frozen=True, slots=True)
class ShellCheck:
    reason: str  # what makes it a shell, for the dead letter's detail
    words: int


def app_shell_reason(tree: HtmlElement) -> ShellCheck | None:
    """An application shell: little visible text and a sign that JavaScript renders the page.

    Call it only for a page whose extraction found no article text: the
    signs alone (a ``<div id="root">``, a noscript notice) are on many
    server-rendered articles too.
    """
    body = tree.find("body")
    if body is None:
        body = tree
    words = _text_words(body)
    if words > SHELL_MAX_WORDS:
        return None
    for element in body.iter():
        if not isinstance(element.tag, str):
            continue
        ident = (element.get("id") or "").lower()
        if ident in _MOUNT_IDS or element.tag in ("app-root",) or element.get("data-reactroot") is not None:
            if _text_words(element) < 20:
                return ShellCheck(f"empty application mount point <{element.tag} id={ident!r}>", words)
    for element in body.iter("noscript"):
        if _ENABLE_JS.search(element.text_content() or ""):
            return ShellCheck("the page asks for JavaScript (<noscript>)", words)
    scripts = list(tree.iter("script"))
    script_chars = sum(len(s.text or "") for s in scripts) + 200 * sum(1 for s in scripts if s.get("src"))
    if script_chars >= 2000 and words < 60:
        return ShellCheck(f"{script_chars} characters of script and {words} words of text", words)
    if words <= 20 and any(s.get("src") for s in body.iter("script")):
        return ShellCheck(f"a body of scripts and {words} words of text", words)
    return None


# -- index / section / tag / search pages ----------------------------------------------------

_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# A card: a headline link and its teaser; grows up the tree while it stays this small.
_CARD_EXTRA_WORDS = 90
# An index has at least this many cards ...
INDEX_MIN_CARDS = 6
# ... and the extraction has less than this much text outside them.
INDEX_MAX_OWN_WORDS = 60


@dataclass(frozen=True, slots=True)
class IndexCheck:
    cards: int
    card_words: int  # words of the extraction found in cards
    own_words: int  # words of the extraction outside any card


def _headline_link(anchor: HtmlElement, own: set[str], base: str, words: dict[HtmlElement, int]) -> str | None:
    """The target of a headline link: a link in or around a heading, or one that stands on its own
    (most of its parent's text), of a few words; links inside running text are not headlines."""
    href = (anchor.get("href") or "").strip()
    if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
        return None
    link_words = words.get(anchor, 0)
    parent = anchor.getparent()
    in_heading = parent is not None and parent.tag in _HEADINGS
    has_heading = any(isinstance(child.tag, str) and child.tag in _HEADINGS for child in anchor)
    if not (in_heading and link_words >= 2 or has_heading or link_words >= 4):
        return None
    if not (in_heading or has_heading) and _in_running_text(anchor, parent, link_words, words):
        return None  # a link in a sentence
    try:
        target = urljoin(base, href) if base else href
    except ValueError:
        return None
    if target.split("#")[0].rstrip("/") in own:
        return None
    return href


def _in_running_text(anchor: HtmlElement, parent: HtmlElement | None, link_words: int,
                     words: dict[HtmlElement, int]) -> bool:
    """Text right before or after the link, or a paragraph mostly of other words: a link in a sentence."""
    if parent is None:
        return False
    before = anchor.getprevious()
    text_before = (before.tail if before is not None else parent.text) or ""
    if _WORDY.search(text_before) or _WORDY.search(anchor.tail or ""):
        return True
    return parent.tag == "p" and link_words < 0.6 * words.get(parent, 0)


_WORDY = re.compile(r"\w\w")


def _cards(tree: HtmlElement, own: set[str], base: str) -> list[HtmlElement]:
    body = tree.find("body")
    if body is None:
        body = tree
    words = _word_counts(body)
    links = [(a, href) for a in body.iter("a") if (href := _headline_link(a, own, base, words)) is not None]
    # per element: the one headline href under it, or "" for several distinct ones (absent: none)
    hrefs: dict[HtmlElement, str] = {}
    for anchor, href in links:
        hrefs[anchor] = href if hrefs.get(anchor, href) == href else ""
        for ancestor in anchor.iterancestors():
            mark = hrefs.get(ancestor)
            if mark is None:
                hrefs[ancestor] = href
            elif mark == href or mark == "":
                break  # an earlier walk went on from here: everything above is marked already
            else:
                hrefs[ancestor] = ""
    cards: dict[HtmlElement, None] = {}
    for anchor, href in links:
        node = anchor
        limit = words.get(anchor, 0) + _CARD_EXTRA_WORDS
        while True:
            parent = node.getparent()
            if parent is None or parent is body or words.get(parent, 0) > limit or hrefs.get(parent) != href:
                break
            node = parent
        cards[node] = None
    # drop cards inside other cards (a heading link and an image link to the same story)
    chosen_set = set(cards)
    return [c for c in cards if not any(a in chosen_set for a in c.iterancestors())]


def index_reason(tree: HtmlElement, extracted_lines: list[str], own_urls: tuple[str, ...]) -> IndexCheck | None:
    """An index page: at least ``INDEX_MIN_CARDS`` headline cards, and the extraction
    (its lines, ``extracted_lines``) has less than ``INDEX_MAX_OWN_WORDS`` words
    outside them and no more than inside them.  With no extraction at all, the
    page's own paragraphs outside the cards count instead.

    ``own_urls`` are the page's own addresses (the first is the base for
    relative links): a link to the page itself is not a headline.
    """
    own = {u.split("#")[0].rstrip("/") for u in own_urls if u}
    cards = _cards(tree, own, own_urls[0] if own_urls else "")
    if len(cards) < INDEX_MIN_CARDS:
        return None
    card_text = "\n".join(" " + normalise(c.text_content()) + " " for c in cards)
    inside = outside = 0
    if not extracted_lines:
        in_cards = {p for c in cards for p in c.iter("p")}
        for paragraph in tree.iter("p"):
            if paragraph not in in_cards:
                words = len(paragraph.text_content().split())
                outside += words if words >= 15 else 0
        if outside >= INDEX_MAX_OWN_WORDS:
            return None
        return IndexCheck(len(cards), 0, outside)
    for line in extracted_lines:
        key = normalise(line)
        if not key:
            continue
        words = len(key.split())
        if f" {key} " in card_text or (len(key) >= 30 and key in card_text):
            inside += words
        else:
            outside += words
    if outside >= INDEX_MAX_OWN_WORDS or outside > inside:
        return None
    return IndexCheck(len(cards), inside, outside)
