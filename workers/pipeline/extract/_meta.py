"""Page metadata from one parsed tree: JSON-LD, <meta> tags, <link>, then the page.

Written here rather than taken from ``trafilatura.extract_metadata`` because
that call costs about a third of a whole extraction (it prunes copies of the
tree and loads the public-suffix list) and we need a few fields it does not
give (language as declared, canonical URL as declared, an author *list*).
Precedence per field is documented on each helper; every rule is generic.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml.html import HtmlElement

from .text import normalise

__all__ = ["PageMeta", "clean_authors", "read_metadata"]


@dataclass(slots=True)
class PageMeta:
    title: str | None = None
    title_variants: list[str] = field(default_factory=list)  # other declared forms of the headline
    h1: str | None = None
    authors: list[str] = field(default_factory=list)
    published: str | None = None  # ISO 8601: datetime with offset when declared so, else the date
    site_name: str | None = None
    language: str | None = None
    description: str | None = None
    canonical_url: str | None = None
    tags: list[str] = field(default_factory=list)
    image: str | None = None


# -- JSON-LD -------------------------------------------------------------------

_ARTICLE_TYPES = {
    "article",
    "newsarticle",
    "reportagenewsarticle",
    "analysisnewsarticle",
    "opinionnewsarticle",
    "reviewnewsarticle",
    "backgroundnewsarticle",
    "blogposting",
    "socialmediaposting",
    "liveblogposting",
    "report",
    "scholarlyarticle",
    "techarticle",
    "webpage",
    "creativework",
    "posting",
}


def _jsonld_objects(tree: HtmlElement) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        raw = (script.text or "").strip()
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            # common breakage: raw control characters inside strings
            try:
                data = json.loads(re.sub(r"[\x00-\x1f]+", " ", raw))
            except ValueError:
                continue
        stack: list[Any] = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(reversed(item))
            elif isinstance(item, dict):
                objects.append(item)
                graph = item.get("@graph")
                if isinstance(graph, list):
                    stack.extend(reversed(graph))
                main = item.get("mainEntity")
                if isinstance(main, dict):
                    stack.append(main)
    return objects


def _types(obj: dict[str, Any]) -> set[str]:
    value = obj.get("@type")
    if isinstance(value, str):
        return {value.lower()}
    if isinstance(value, list):
        return {v.lower() for v in value if isinstance(v, str)}
    return set()


def _article_object(objects: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The JSON-LD object that describes the article (prefer *Article over WebPage)."""
    best: dict[str, Any] | None = None
    best_rank = 99
    for obj in objects:
        types = _types(obj)
        if not types & _ARTICLE_TYPES:
            continue
        rank = 2 if types & {"webpage", "creativework"} else 0
        if "headline" not in obj and "articleBody" not in obj:
            rank += 1
        if rank < best_rank:
            best, best_rank = obj, rank
    return best


def _names(value: Any) -> list[str]:
    """Names from a JSON-LD person/org value: string, dict or list of either."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        name = value.get("name")
        if isinstance(name, str):
            return [name]
        if isinstance(name, list):
            return [n for n in name if isinstance(n, str)]
        given, family = value.get("givenName"), value.get("familyName")
        if isinstance(given, str) and isinstance(family, str):
            return [f"{given} {family}"]
        return []
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            out.extend(_names(item))
        return out
    return []


def _first_str(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list):
        for item in value:
            got = _first_str(item)
            if got:
                return got
    if isinstance(value, dict):
        for key in ("url", "contentUrl", "@id", "name"):
            got = _first_str(value.get(key))
            if got:
                return got
    return None


# -- <meta> --------------------------------------------------------------------


def _meta_map(tree: HtmlElement) -> dict[str, list[str]]:
    """Lower-cased name/property/itemprop -> contents, in document order."""
    metas: dict[str, list[str]] = {}
    for meta in tree.iter("meta"):
        content = meta.get("content")
        if content is None or not content.strip():
            continue
        for attr in ("property", "name", "itemprop", "http-equiv"):
            key = meta.get(attr)
            if key:
                metas.setdefault(key.strip().lower(), []).append(content.strip())
    return metas


def _meta(metas: dict[str, list[str]], *keys: str) -> str | None:
    for key in keys:
        values = metas.get(key)
        if values:
            return values[0]
    return None


# -- authors -------------------------------------------------------------------

_BY_PREFIX = re.compile(
    r"^\s*(?:(?:written|posted|published|reported|text|words|story|photos?|report|analysis|opinion|commentary|"
    r"review|interview|column|video|illustrations?|reporting)\s+)?"
    r"(?:by|von|par|por|di|da|door|av|af|przez|от|автор|autor(?:a|in)?|author|bylined?)\s*[:\-]?\s+",
    re.IGNORECASE,
)
_ROLE_WORDS = {
    "reporter", "correspondent", "editor", "writer", "staff", "contributor", "columnist",
    "journalist", "producer", "analyst", "senior", "chief", "associate", "deputy", "managing",
    "political", "business", "sports", "technology", "tech", "science", "health", "news",
    "foreign", "special", "contributing", "freelance", "photographer", "photo", "video",
    "global", "national", "international", "investigative", "economics", "economy",
    "markets", "digital", "opinion", "culture", "reporting", "bureau", "desk", "and",
    "for", "the", "of", "in", "at", "a", "an", "with", "team", "agency", "agencies",
    "updated", "published", "data", "graphics", "research", "researcher", "intern",
    "host", "anchor", "critic", "commentator", "director", "head", "lead", "features",
    "feature", "editorial", "board", "newsroom", "wire", "services", "service",
}
# Conjunctions split only in lower case between spaces: "Bruce Y. Lee" is one name
_SPLIT = re.compile(r"\s*(?:,|;|\||\s&\s|\s(?:and|And|AND|und|et|y|e|i)\s|/|\n|•|·)\s*")
_EMAIL = re.compile(r"\S+@\S+")
_DATEISH = re.compile(
    r"\b(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}:\d{2}|(?:19|20)\d{2}"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}"
    r"|^(?:mon|tues|wednes|thurs|fri|satur|sun)day$)\b",
    re.IGNORECASE,
)
# Bylines flattened without spaces: "ERIC TUCKERAssociated Press", "Jeff FoustMonday"
_GLUED_CAPS = re.compile(r"(?<=[A-Z]{2})(?=[A-Z][a-z])")
_GLUED_DATE = re.compile(
    r"(?<=[a-z])(?=(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|January|February|March|April|June|July|August|"
    r"September|October|November|December|Updated|Published)"
)
# A segment holding one of these beside a name is a job title ("CNN Editor-at-large")
_STRONG_ROLES = {
    "reporter", "correspondent", "editor", "writer", "columnist", "contributor", "producer", "journalist",
    "photographer", "anchor", "critic", "commentator", "intern", "redakteur", "redakteurin", "journaliste",
    "periodista", "jornalista", "giornalista", "corresponsal", "correspondente",
}
_LONE_WORDS = {"by", "von", "par", "por", "di", "da", "door", "and", "und", "et", "y", "e", "staff", "author"}


def _is_role(segment: str) -> bool:
    words = re.findall(r"[^\W\d_]+", segment.lower())
    return bool(words) and all(w in _ROLE_WORDS for w in words)


def _is_credential(segment: str) -> bool:
    """"MS", "RDN", "PhD", "M.D.": a short abbreviation after a name."""
    letters = re.sub(r"[^\w]", "", segment)
    return 0 < len(letters) <= 4 and " " not in segment.strip() and (letters.isupper() or letters in ("PhD", "MSc"))


def _has_strong_role(segment: str) -> bool:
    return any(w in _STRONG_ROLES for w in re.findall(r"[^\W\d_]+", segment.lower()))


def clean_authors(raw: Iterable[str]) -> list[str]:
    """Author names cleaned of "By", roles, credentials, e-mails, dates and duplicates.

    A segment that is only role words ("Senior Correspondent"), a job title
    ("CNN Editor-at-large") or a credential ("RDN") is dropped when a name stands
    beside it; a byline that is only a role is kept ("Staff Reporter").
    """
    out: list[str] = []
    seen: set[str] = set()
    for value in raw:
        if not value or value.strip().lower().startswith(("http://", "https://", "www.")):
            continue
        value = _EMAIL.sub(" ", value)
        value = _GLUED_DATE.sub(", ", _GLUED_CAPS.sub(", ", value))
        value = _BY_PREFIX.sub("", value)
        segments = [s.strip(" .:-–—()[]\"'") for s in _SPLIT.split(value)]
        segments = [_BY_PREFIX.sub("", s).strip() for s in segments if s and not _DATEISH.search(s)]
        segments = [s for s in segments if s and s.lower() not in _LONE_WORDS or len(segments) == 1]
        names = [s for s in segments if not _is_role(s) and not _is_credential(s) and not _has_strong_role(s)]
        if not names:
            names = [s for s in segments if s][:1]
        for name in names:
            name = " ".join(name.split())
            if not name or len(name) > 60 or len(name.split()) > 6:
                continue
            if not any(ch.isalpha() for ch in name):
                continue
            if name.isupper() or name.islower():
                name = name.title()
            key = normalise(name)
            if key in seen:
                continue
            seen.add(key)
            out.append(name)
    return out


_BYLINE_XPATH = (
    '//*[@rel="author" or @itemprop="author" or contains(@class, "byline") or contains(@class, "uthor")]'
)
_BYLINE_CLASSES = re.compile(r"byline|author[-_]?name|authorname|author__name|^author$|\bauthor\b", re.IGNORECASE)


def _byline_from_page(tree: HtmlElement) -> list[str]:
    """Visible byline: rel=author links, then elements whose itemprop/class says author/byline.

    One XPath pass with cheap tests; the class filter is applied in Python.  Only
    the rel=author links of the first byline count (the same container): links
    elsewhere on the page name the authors of other stories or of comments."""
    rel_links: list[str] = []
    byline_box = None
    others: list[str] = []
    for el in tree.xpath(_BYLINE_XPATH):
        if el.tag in ("meta", "link", "script", "style", "body", "html", "article", "main", "section"):
            continue
        if el.get("rel") == "author":
            parent = el.getparent()
            box = parent.getparent() if parent is not None and parent.getparent() is not None else parent
            if byline_box is None:
                byline_box = box
            elif box is not byline_box:
                continue
            text = el.text_content().strip()
            if text:
                rel_links.append(text)
            continue
        if len(others) >= 2:
            continue
        if el.get("itemprop") != "author" and not _BYLINE_CLASSES.search(el.get("class") or ""):
            continue
        name = el.find('.//*[@itemprop="name"]')
        text = (name if name is not None else el).text_content().strip()
        if text and len(text) < 100:
            others.append(text)
    return rel_links or others[:1]


# -- dates ---------------------------------------------------------------------

_ISO = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?)?"
)


def _iso(value: str | None) -> tuple[str, str | None] | None:
    """(date, ISO datetime with offset or None) from an ISO-like string, or None."""
    if not value:
        return None
    m = _ISO.match(value)
    if not m:
        return _rfc2822(value)
    y, mo, d, hh, mm, ss, tz = m.groups()
    if not (1900 < int(y) < 2100 and 1 <= int(mo) <= 12 and 1 <= int(d) <= 31):
        return None
    date = f"{y}-{mo}-{d}"
    if hh is None:
        return date, None
    if not tz:
        return date, None  # a wall-clock time without offset is ambiguous: keep the date
    if tz != "Z" and ":" not in tz:
        tz = tz[:3] + ":" + tz[3:]
    return date, f"{date}T{hh}:{mm}:{ss or '00'}{'+00:00' if tz == 'Z' else tz}"


def _rfc2822(value: str) -> tuple[str, str | None] | None:
    """"Tue, 19 Nov 2019 05:45:00 GMT" (RSS-style dates some pages put in meta tags)."""
    if not re.match(r"^\s*(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}", value):
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if not 1900 < parsed.year < 2100:
        return None
    date = parsed.date().isoformat()
    return date, (parsed.isoformat() if parsed.tzinfo is not None else None)


def _page_date(tree: HtmlElement) -> tuple[str, str | None] | None:
    for el in tree.xpath("//time[@datetime] | //*[@itemprop='datePublished'][@datetime or @content]"):
        got = _iso(el.get("datetime") or el.get("content"))
        if got:
            return got
    return None


def _htmldate(tree: HtmlElement, url: str | None) -> tuple[str, str | None] | None:
    try:
        from htmldate import find_date
    except ImportError:  # pragma: no cover - htmldate ships with trafilatura
        return None
    try:
        found = find_date(tree, url=url, extensive_search=False, original_date=True, deferred_url_extractor=True)
    except Exception:  # noqa: BLE001 - htmldate is best effort; never fail the page over a date
        return None
    return _iso(found) if found else None


# -- language / urls / title ----------------------------------------------------

_LANG = re.compile(r"^\s*([A-Za-z]{2})(?:[-_][A-Za-z0-9]+)*\s*$")


def _lang(value: str | None) -> str | None:
    if not value:
        return None
    m = _LANG.match(value.split(",")[0])
    return m.group(1).lower() if m else None


def _absolute(href: str | None, base: str | None) -> str | None:
    if not href:
        return None
    href = href.strip()
    if href.startswith("//"):
        scheme = urlsplit(base).scheme if base else ""
        href = f"{scheme or 'https'}:{href}"
    if not urlsplit(href).scheme:
        if not base:
            return None
        href = urljoin(base, href)
    return href if urlsplit(href).scheme in ("http", "https") else None


_TITLE_SEPARATORS = re.compile(r"\s+(?:[|–—·•»:]|-{1,2}|::)\s+")


def _site_part(part: str, site_name: str | None, host: str | None) -> bool:
    key = normalise(part)
    if not key:
        return True
    if site_name and (key == normalise(site_name) or normalise(site_name).startswith(key)):
        return True
    if host:
        stem = normalise(host.split(".")[-2] if host.count(".") >= 1 else host)
        if stem and key.replace(" ", "") in (stem, normalise(host).replace(" ", "")):
            return True
    return False


def _strip_site_affix(title: str, site_name: str | None, host: str | None, *, fallback_longest: bool) -> str:
    """'Headline - Site' / 'Site | Headline' -> 'Headline'.

    Parts are dropped only when they name the site (og:site_name or the host);
    with ``fallback_longest`` (for <title>, which nearly always carries the
    site) the longest part is kept when no part names the site.
    """
    parts = _TITLE_SEPARATORS.split(title)
    if len(parts) == 1:
        return title
    kept = [p for p in parts if not _site_part(p, site_name, host)]
    if kept and len(kept) < len(parts):
        sep = _TITLE_SEPARATORS.search(title)
        joiner = sep.group(0) if sep else " - "
        return joiner.join(kept)
    return max(parts, key=len) if fallback_longest else title


def _clean_title(text: str | None) -> str | None:
    if not text:
        return None
    if "&" in text:  # double-escaped entities in meta content ("PG&amp;E")
        text = html_lib.unescape(text)
    text = " ".join(text.split())
    return text or None


def _overlap(a: str, b: str) -> float:
    """Share of the words of ``a`` that also occur in ``b``."""
    wa, wb = normalise(a).split(), set(normalise(b).split())
    return sum(w in wb for w in wa) / len(wa) if wa else 0.0


def _choose_title(
    og: str | None,
    ld: str | None,
    h1s: list[str],
    html_title: str | None,
    site_name: str | None,
    host: str | None,
) -> str | None:
    """The headline.

    An <h1> that agrees with a declared title (og:title, JSON-LD headline,
    <title>) wins: it is what readers see and what templates repeat.  Else the
    declared og:title / JSON-LD headline without a site affix, then <title>
    without it, then the first <h1>.
    """
    declared = [t for t in (og, ld, html_title) if t]
    for h1 in h1s[:3]:
        key = normalise(h1)
        if not key or _site_part(h1, site_name, host):
            continue
        for t in declared:
            tk = normalise(t)
            if key == tk or (len(key.split()) >= 3 and f" {key} " in f" {tk} "):
                return h1
            if len(key.split()) >= 4 and _overlap(h1, t) >= 0.8 and _overlap(t, h1) >= 0.8:
                return h1
    for declared_title in (og, ld):
        if declared_title:
            return _strip_site_affix(declared_title, site_name, host, fallback_longest=False)
    if html_title:
        for h1 in h1s[:3]:
            if (
                len(normalise(h1).split()) >= 2
                and not _site_part(h1, site_name, host)
                and _overlap(h1, html_title) >= 0.6
            ):
                return h1
        return _strip_site_affix(html_title, site_name, host, fallback_longest=True)
    return h1s[0] if h1s else None


_MIN_PART_WORDS = 5


def _title_variants(
    meta: PageMeta,
    metas: dict[str, list[str]],
    og_title: str | None,
    ld_title: str | None,
    h1s: list[str],
    html_title: str | None,
    host: str | None,
) -> list[str]:
    """Every other form in which the page declares its headline (og/twitter/JSON-LD
    titles, the first <h1>, <title> without the site), for the dedupe stage:
    templates repeat whichever form they were built with."""
    candidates = [og_title, ld_title, _clean_title(_meta(metas, "twitter:title"))]
    candidates += [_strip_site_affix(t, meta.site_name, host, fallback_longest=False) for t in candidates if t]
    if html_title:
        candidates.append(_strip_site_affix(html_title, meta.site_name, host, fallback_longest=True))
    if h1s:
        candidates.append(h1s[0])
    # "Kicker: Headline – 'Quote'" - each long enough part is a form of the headline too
    for text in [meta.title, *candidates]:
        if text:
            parts = _TITLE_SEPARATORS.split(text)
            if len(parts) > 1:
                candidates += [p for p in parts if len(normalise(p).split()) >= _MIN_PART_WORDS]
    seen = {normalise(meta.title)} if meta.title else set()
    variants: list[str] = []
    for text in candidates:
        if not text:
            continue
        key = normalise(text)
        # two words, or a long unspaced (CJK/Thai) string
        if not (len(key.split()) >= 2 or len(key) >= 8):
            continue
        if key in seen or _site_part(text, meta.site_name, host):
            continue
        seen.add(key)
        variants.append(text)
    return variants


# -- entry point -----------------------------------------------------------------


# Entity-type annotations some CMSs append to keywords ("Mark Esper GOVERNMENT_FIGURE PERSON")
_TYPE_TOKEN = re.compile(r"\b(?:[A-Z]+_[A-Z_]+|PERSON|ORGANIZATION|LOCATION|GEOGRAPHY|EVENT)\b")


def _clean_tag(tag: str) -> str:
    """A tag without entity-type annotations or internal markers ("@hp-top-stories" -> "")."""
    tag = html_lib.unescape(tag) if "&" in tag else tag
    if tag.lstrip().startswith(("@", "#!")):
        return ""
    return " ".join(_TYPE_TOKEN.sub(" ", tag).split())


def _split_keywords(value: Any) -> list[str]:
    if isinstance(value, list):
        out: list[str] = []
        for v in value:
            out.extend(_split_keywords(v))
        return out
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return []


def read_metadata(tree: HtmlElement, url: str | None) -> PageMeta:
    meta = PageMeta()
    metas = _meta_map(tree)
    objects = _jsonld_objects(tree)
    article = _article_object(objects) or {}

    # site name: og:site_name, JSON-LD publisher, WebSite name, else the host
    site = _meta(metas, "og:site_name")
    if not site:
        site = next(iter(_names(article.get("publisher"))), None)
    if not site:
        site = _meta(metas, "application-name")
    if not site:
        for obj in objects:
            if "website" in _types(obj) or "organization" in _types(obj) or "newsmediaorganization" in _types(obj):
                site = next(iter(_names(obj)), None)
                if site:
                    break
    if not site and url:
        site = (urlsplit(url).hostname or "").removeprefix("www.") or None
    if site and re.match(r"^\s*(?:https?://|www\.)", site):  # a URL given as the name: its host
        host_of_site = urlsplit(site if "://" in site else f"http://{site}").hostname or ""
        site = host_of_site.removeprefix("www.")
    meta.site_name = _clean_title(site)

    # title
    h1s = [text for text in (_clean_title(h.text_content()) for h in tree.iter("h1")) if text]
    meta.h1 = h1s[0] if h1s else None
    host = urlsplit(url).hostname if url else None
    title_el = tree.find(".//title")
    html_title = _clean_title(title_el.text_content()) if title_el is not None else None
    ld_title = article.get("headline") or article.get("name")
    og_title = _clean_title(_meta(metas, "og:title", "twitter:title", "dc.title"))
    ld_title = _clean_title(ld_title if isinstance(ld_title, str) else None)
    meta.title = _choose_title(og_title, ld_title, h1s, html_title, meta.site_name, host)
    meta.title_variants = _title_variants(meta, metas, og_title, ld_title, h1s, html_title, host)

    # authors: JSON-LD, <meta name=author>, article:author (names only), visible byline
    raw_authors = _names(article.get("author")) or _names(article.get("creator"))
    if not raw_authors:
        raw_authors = list(
            metas.get("author", []) or metas.get("article:author", []) or metas.get("dc.creator", [])
            or metas.get("parsely-author", []) or metas.get("sailthru.author", [])
        )
    authors = clean_authors(raw_authors)
    if not authors:
        authors = clean_authors(_byline_from_page(tree))
    meta.authors = authors

    # published: JSON-LD, meta tags, <time>, then htmldate's quick search
    got = None
    for value in (
        _first_str(article.get("datePublished")),
        _meta(metas, "article:published_time", "og:published_time", "datepublished", "pubdate",
              "publishdate", "publish-date", "date", "dc.date", "dc.date.issued", "dcterms.created",
              "dcterms.date", "sailthru.date", "parsely-pub-date", "cxenseparse:recs:publishtime",
              "article.published", "og:updated_time", "article:modified_time"),
        _first_str(article.get("dateCreated")),
        _first_str(article.get("dateModified")),
    ):
        got = _iso(value)
        if got:
            break
    if not got:
        got = _page_date(tree) or _htmldate(tree, url)
    if got:
        date, with_offset = got
        meta.published = with_offset or date

    # language as declared: <html lang>, content-language, og:locale, JSON-LD inLanguage
    root = tree.getroottree().getroot()
    meta.language = (
        _lang(root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang"))
        or _lang(_meta(metas, "content-language", "language", "dc.language"))
        or _lang(_meta(metas, "og:locale"))
        or _lang(_first_str(article.get("inLanguage")))
    )

    meta.description = _clean_title(
        _meta(metas, "og:description", "description", "twitter:description")
        or _first_str(article.get("description"))
    )

    canonical = None
    for link in tree.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        if "canonical" in rel and link.get("href"):
            canonical = link.get("href")
            break
    meta.canonical_url = _absolute(canonical, url) or _absolute(_meta(metas, "og:url"), url)

    meta.image = _absolute(
        _meta(metas, "og:image", "og:image:url", "twitter:image", "twitter:image:src")
        or _first_str(article.get("image")),
        url,
    )

    tags: list[str] = []
    tags += [t for value in metas.get("article:tag", []) for t in _split_keywords(value)]
    tags += _split_keywords(article.get("keywords"))
    tags += _split_keywords(article.get("articleSection"))
    tags += metas.get("article:section", [])
    if not tags:
        tags += _split_keywords(_meta(metas, "news_keywords", "keywords", "parsely-tags"))
    if not tags:
        for link in tree.xpath('//a[contains(concat(" ", normalize-space(@rel), " "), " tag ")]'):
            text = " ".join(link.text_content().split())
            if text:
                tags.append(text)
    seen: set[str] = set()
    for tag in tags:
        tag = _clean_tag(tag)
        key = normalise(tag)
        if key and key not in seen and len(tag) <= 80:
            seen.add(key)
            meta.tags.append(tag)
    return meta
