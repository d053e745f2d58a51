"""The article from data embedded in the page, for pages whose HTML carries no article text.

Sites built with JavaScript frameworks often ship the article as data rather
than markup: JSON-LD ``articleBody``, Next.js ``__NEXT_DATA__``, Nuxt
``__NUXT__`` (a JavaScript object or function call) and ``__NUXT_DATA__`` (the
``devalue`` format), or a ``window.__INITIAL_STATE__ = {...}``-style blob.
:func:`embedded_article` reads them all, collects candidate bodies (one long
string, possibly HTML, or a list of paragraph objects such as rich-text
blocks) and chooses by length and prose-likeness, so a long JSON string of
CSS, a URL list or an id never wins.  Paragraphs are kept: an HTML body is
split on its block elements, a plain one on its line breaks.

Pure functions over the decoded HTML; no parsing of the whole page.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lxml import html as lxml_html

__all__ = ["EmbeddedArticle", "embedded_article", "jsonld_article", "prose_score", "MIN_BODY_WORDS"]

# Below this a candidate is a description or a teaser, not a body.
MIN_BODY_WORDS = 60
MIN_PROSE_SCORE = 0.6
_MAX_DEPTH = 40
_MAX_NODES = 200_000  # a bound on the walk, whatever the size of the blob
_MAX_JUDGED = 48  # candidates of one blob judged (parsed, scored), longest first
_MAX_ASSIGNMENTS = 8  # window.X = ... assignments read per script

_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.I | re.S)
_ATTR_TYPE = re.compile(r"\btype\s*=\s*[\"']?([^\"'\s>]+)", re.I)
_ATTR_ID = re.compile(r"\bid\s*=\s*[\"']?([^\"'\s>]+)", re.I)
# window.__NUXT__ = ..., window.__INITIAL_STATE__ = ..., __PRELOADED_STATE__, __APOLLO_STATE__, ...
_STATE_ASSIGN = re.compile(r"(?:window|self|globalThis)\s*(?:\.\s*|\[\s*[\"'])"
                           r"(__[A-Za-z0-9_]+__|[A-Za-z_]*(?:STATE|DATA|"
                           r"state|data|Store|store|Props|props|Context|context|CONTEXT)[A-Za-z_]*)"
                           r"(?:[\"']\s*\])?\s*=\s*")
_JSON_PARSE = re.compile(r"^JSON\.parse\(\s*(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')\s*\)", re.S)
_JS_STRING = re.compile(r"\"((?:[^\"\\\n]|\\.){80,})\"|'((?:[^'\\\n]|\\.){80,})'|`((?:[^`\\]|\\.){80,})`", re.S)
_HAS_TAG = re.compile(r"<(?:p|br|div|h[1-6]|li|blockquote|span|strong|em|a)\b", re.I)
_BLOCK_TAGS = ("p", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre")
_LINE_TAGS = frozenset({*_BLOCK_TAGS, "div", "section", "article", "h1", "ul", "ol", "table", "tr"})
_SENTENCE_END = re.compile(r"[.!?。！？…](?:[\"'”’)\]]*)(?:\s|$)")
_CODE_CHARS = re.compile(r"[{}<>=;|\\_/@#$%^*~`\[\]]")
# Keys whose string leaves are the text of a rich-text node (Portable Text, Slate, Draft.js, Contentful...).
_TEXT_KEYS = frozenset({"text", "content", "value", "html", "body", "children", "paragraph", "plaintext",
                        "plain_text", "markup", "data", "nodes", "spans", "leaves", "blocks", "elements"})
_BODY_KEYS = frozenset({"articlebody", "body", "content", "text", "html", "bodyhtml", "body_html", "articlehtml",
                        "contenthtml", "content_html", "fulltext", "full_text", "story", "storybody"})


@dataclass(frozen=True, slots=True)
class EmbeddedArticle:
    source: str  # "json-ld", "next", "nuxt", "state"
    paragraphs: list[tuple[str, str]]  # (block type "paragraph" | "heading", text)

    @property
    def words(self) -> int:
        return sum(len(text.split()) for _, text in self.paragraphs)


@dataclass(slots=True)
class _Candidate:
    source: str
    paragraphs: list[tuple[str, str]]
    score: float


def prose_score(text: str) -> float:
    """How much ``text`` reads like running prose, 0..1: words of letters, sentences, little code punctuation."""
    stripped = text.strip()
    if not stripped:
        return 0.0
    letters = sum(ch.isalpha() for ch in stripped)
    non_space = sum(not ch.isspace() for ch in stripped) or 1
    letter_share = letters / non_space
    code_share = len(_CODE_CHARS.findall(stripped)) / non_space
    words = stripped.split()
    # scripts without spaces (Chinese, Japanese, Thai) count characters as words
    spaced = len(words) >= len(stripped) / 40
    if spaced:
        mean = sum(len(w) for w in words) / len(words)
        word_shape = 1.0 if 2.5 <= mean <= 12 else 0.3
        sentences = len(_SENTENCE_END.findall(stripped))
        sentence_shape = min(1.0, (sentences + 1) * 30 / max(30, len(words)))
    else:
        word_shape = 1.0
        sentence_shape = 1.0 if _SENTENCE_END.search(stripped) else 0.5
    if "http://" in stripped or "https://" in stripped:
        url_chars = sum(len(m) for m in re.findall(r"https?://\S+", stripped))
        letter_share *= max(0.0, 1 - 2 * url_chars / len(stripped))
    score = min(1.0, letter_share / 0.8) * word_shape * sentence_shape * max(0.0, 1 - 4 * code_share)
    return round(score, 4)


def _word_count(text: str) -> int:
    words = text.split()
    return len(words) if len(words) >= len(text) / 40 else len(text) // 4


def _paragraphs_of(text: str) -> list[tuple[str, str]]:
    """Blocks of a body string: HTML split on its block elements, plain text on its line breaks."""
    if _HAS_TAG.search(text):
        try:
            fragment = lxml_html.fragment_fromstring(text, create_parent="div")
        except (ValueError, lxml_html.etree.ParserError):
            fragment = None
        if fragment is not None:
            for bad in fragment.xpath(".//script|.//style|.//figure|.//iframe"):
                bad.drop_tree()
            blocks: list[tuple[str, str]] = []
            for element in fragment.iter(*_BLOCK_TAGS):
                if any(a.tag in _BLOCK_TAGS for a in element.iterancestors()):
                    continue
                line = " ".join(element.text_content().split())
                if line:
                    blocks.append(("heading" if element.tag.startswith("h") else "paragraph", line))
            whole = len(" ".join(fragment.text_content().split()))
            if blocks and sum(len(text) + 1 for _, text in blocks) >= 0.8 * whole:
                return blocks
            # text outside block elements ("Intro<br><br>More", <div>s): lines from breaks and blocks
            for element in fragment.iter():
                if element.tag == "br" or element.tag in _LINE_TAGS:
                    element.tail = "\n" + (element.tail or "")
                if element.tag in _LINE_TAGS:
                    element.text = "\n" + (element.text or "")
            text = fragment.text_content()
    text = html_lib.unescape(text) if "&" in text else text
    parts = re.split(r"\n\s*\n|\r?\n", text)
    return [("paragraph", " ".join(p.split())) for p in parts if p.strip()]


def _candidate(source: str, paragraphs: list[tuple[str, str]], bonus: float = 1.0) -> _Candidate | None:
    text = "\n".join(t for _, t in paragraphs)
    words = _word_count(text)
    if words < MIN_BODY_WORDS:
        return None
    prose = prose_score(" ".join(t for kind, t in paragraphs if kind == "paragraph"))
    if prose < MIN_PROSE_SCORE:
        return None
    return _Candidate(source, paragraphs, words * prose * bonus)


# -- walking JSON ----------------------------------------------------------------------------


def _leaf_text(node: Any, depth: int = 0) -> str:
    """The text of a rich-text node: its string leaves under text-like keys, in order."""
    if depth > 8:
        return ""
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return "".join(_leaf_text(item, depth + 1) for item in node)
    if isinstance(node, dict):
        return "".join(_leaf_text(v, depth + 1) for k, v in node.items() if str(k).lower() in _TEXT_KEYS)
    return ""


def _element_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        return _leaf_text(item)
    return ""


def _json_candidates(data: Any, source: str) -> Iterator[_Candidate]:
    """Candidates in a JSON value: long strings (a body), and lists of paragraph-like elements.

    Collected first and judged longest first, at most ``_MAX_JUDGED``: a blob with
    thousands of long strings (comments, a catalogue) costs a bounded time."""
    raw: list[tuple[int, str, Any]] = []  # (length, key or "", str | list of paragraph texts)
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    visited = 0
    while stack and visited < _MAX_NODES:
        node, key, depth = stack.pop()
        visited += 1
        if depth > _MAX_DEPTH:
            continue
        if isinstance(node, str):
            if len(node) >= 300:
                raw.append((len(node), key, node))
        elif isinstance(node, dict):
            for k, v in node.items():
                stack.append((v, str(k), depth + 1))
        elif isinstance(node, list):
            texts = [_element_text(item) for item in node]
            paras = [t for t in texts if len(t.split()) >= 3]
            if len(paras) >= 3 and len(paras) >= len(node) / 3:
                raw.append((sum(len(t) for t in paras), "", paras))
            for item in node:
                stack.append((item, key, depth + 1))
    raw.sort(key=lambda r: r[0], reverse=True)
    for _length, key, payload in raw[:_MAX_JUDGED]:
        if isinstance(payload, str):
            bonus = 1.2 if key.lower() in _BODY_KEYS else 1.0
            found = _candidate(source, _paragraphs_of(payload), bonus)
        else:
            blocks: list[tuple[str, str]] = []
            for t in payload:
                blocks.extend(_paragraphs_of(t) if _HAS_TAG.search(t) else [("paragraph", " ".join(t.split()))])
            found = _candidate(source, blocks)
        if found is not None:
            yield found


def _jsonld_bodies(data: Any) -> Iterator[str]:
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for k, v in node.items():
                if k == "articleBody" and isinstance(v, str):
                    yield v
                elif isinstance(v, (dict, list)):
                    stack.append(v)


# -- devalue (Nuxt 3's __NUXT_DATA__) ------------------------------------------------------------

_DEVALUE_WRAPPERS = frozenset({"Reactive", "ShallowReactive", "Ref", "ShallowRef", "EmptyRef", "EmptyShallowRef",
                               "NuxtError", "Object"})


def revive_devalue(table: list[Any]) -> Any:
    """Rebuild the value of a devalue table (index 0 is the root; ints are references into the table)."""
    memo: dict[int, Any] = {}
    budget = [_MAX_NODES]

    def value(index: Any, depth: int) -> Any:
        if not isinstance(index, int) or isinstance(index, bool) or index < 0 or index >= len(table):
            return None
        if index in memo:
            return memo[index]
        budget[0] -= 1
        if depth > _MAX_DEPTH or budget[0] <= 0:
            return None
        raw = table[index]
        memo[index] = None  # cycles end here
        if isinstance(raw, list):
            if raw and isinstance(raw[0], str):
                if raw[0] in _DEVALUE_WRAPPERS and len(raw) == 2:
                    out: Any = value(raw[1], depth + 1)
                elif raw[0] in ("Set", "Map"):
                    out = [value(i, depth + 1) for i in raw[1:]]
                else:  # Date, RegExp, BigInt, null-prototype objects: no article text
                    out = None
            else:
                out = [value(i, depth + 1) for i in raw]
        elif isinstance(raw, dict):
            out = {k: value(v, depth + 1) for k, v in raw.items()}
        else:
            out = raw
        memo[index] = out
        return out

    return value(0, 0)


# -- JavaScript blobs --------------------------------------------------------------------------


def _js_unescape(body: str) -> str:
    try:
        decoded: str = json.loads('"' + body.replace("\n", "\\n") + '"')  # a JSON string literal
        return decoded
    except ValueError:
        try:
            return body.encode("utf-8", "surrogatepass").decode("unicode_escape", "ignore")
        except UnicodeError:
            return body


def _state_value(script: str, start: int) -> Any:
    """The value assigned at ``start``: JSON, JSON.parse("..."), or None for other JavaScript."""
    rest = script[start:].lstrip()
    parsed = _JSON_PARSE.match(rest)
    if parsed:
        literal = parsed.group(1)
        try:
            return json.loads(_js_unescape(literal[1:-1]))
        except ValueError:
            return None
    if rest[:1] in "{[":
        try:
            return json.JSONDecoder(strict=False).raw_decode(rest)[0]
        except ValueError:
            return None
    return None


def _js_string_candidates(script: str, source: str) -> Iterator[_Candidate]:
    """For JavaScript that is not JSON (Nuxt 2's function call, object literals): its long string
    literals one by one, and those that read as prose together, in order (a body split in paragraphs)."""
    literals = [_js_unescape(next(g for g in m.groups() if g is not None)) for m in _JS_STRING.finditer(script)]
    for literal in sorted(literals, key=len, reverse=True)[:_MAX_JUDGED]:
        found = _candidate(source, _paragraphs_of(literal))
        if found is not None:
            yield found
    prose = [literal for literal in literals[:_MAX_JUDGED * 8] if prose_score(literal) >= MIN_PROSE_SCORE]
    if len(prose) >= 3:
        blocks: list[tuple[str, str]] = []
        for literal in prose:
            blocks.extend(_paragraphs_of(literal))
        found = _candidate(source, blocks)
        if found is not None:
            yield found


# A JavaScript object literal that is JSON but for its bare keys, !0/!1 and void 0 (what bundlers write).
_BARE_KEY = re.compile(r"([{,]\s*)([A-Za-z_$][\w$]*)\s*:")
_JS_CONSTANTS = ((re.compile(r"(?<=[:\[,])\s*!0\b"), "true"), (re.compile(r"(?<=[:\[,])\s*!1\b"), "false"),
                 (re.compile(r"(?<=[:\[,])\s*(?:void 0|undefined)\b"), "null"))


def _js_object(text: str) -> Any:
    """The value of a JavaScript object literal at the start of ``text`` when it is JSON-like, else None."""
    if not text.startswith("{"):
        return None
    converted = _BARE_KEY.sub(lambda m: f'{m.group(1)}"{m.group(2)}":', text)
    for pattern, value in _JS_CONSTANTS:
        converted = pattern.sub(value, converted)
    try:
        return json.JSONDecoder(strict=False).raw_decode(converted)[0]
    except ValueError:
        return None


# -- the page --------------------------------------------------------------------------------


def embedded_article(markup: str) -> EmbeddedArticle | None:
    """The best article body embedded in ``markup``'s scripts, or None when there is none."""
    candidates: list[_Candidate] = []
    for match in _SCRIPT.finditer(markup):
        attrs, content = match.group(1), match.group(2)
        if not content.strip():
            continue
        type_match = _ATTR_TYPE.search(attrs)
        kind = type_match.group(1).lower() if type_match else ""
        id_match = _ATTR_ID.search(attrs)
        ident = id_match.group(1) if id_match else ""
        if kind == "application/ld+json":
            data = _loads(content)
            for body in _jsonld_bodies(data):
                found = _candidate("json-ld", _paragraphs_of(body), bonus=1.2)
                if found is not None:
                    candidates.append(found)
            continue
        if ident == "__NEXT_DATA__":
            candidates.extend(_json_candidates(_loads(content), "next"))
            continue
        if ident == "__NUXT_DATA__":
            data = _loads(content)
            if isinstance(data, list):
                candidates.extend(_json_candidates(revive_devalue(data), "nuxt"))
            continue
        if kind and kind not in ("text/javascript", "application/javascript", "module", "application/json"):
            continue
        if kind == "application/json":
            candidates.extend(_json_candidates(_loads(content), "state"))
            continue
        strings_read = False
        for assign in list(_STATE_ASSIGN.finditer(content))[:_MAX_ASSIGNMENTS]:
            source = "nuxt" if assign.group(1) == "__NUXT__" else "state"
            value = _state_value(content, assign.end())
            if value is None:
                value = _js_object(content[assign.end():].lstrip())
            if value is not None:
                candidates.extend(_json_candidates(value, source))
            elif not strings_read:  # the rest of the script's string literals, once
                candidates.extend(_js_string_candidates(content[assign.end():], source))
                strings_read = True
    if not candidates:
        return None
    best = max(candidates, key=lambda c: c.score)
    return EmbeddedArticle(best.source, _dedupe(best.paragraphs))


def jsonld_article(markup: str) -> EmbeddedArticle | None:
    """The JSON-LD ``articleBody`` of the page (the longest prose one), without looking at other data."""
    if "articleBody" not in markup:
        return None
    candidates: list[_Candidate] = []
    for match in _SCRIPT.finditer(markup):
        type_match = _ATTR_TYPE.search(match.group(1))
        if type_match and type_match.group(1).lower() == "application/ld+json":
            for body in _jsonld_bodies(_loads(match.group(2))):
                found = _candidate("json-ld", _paragraphs_of(body))
                if found is not None:
                    candidates.append(found)
    if not candidates:
        return None
    best = max(candidates, key=lambda c: c.score)
    return EmbeddedArticle(best.source, _dedupe(best.paragraphs))


def _loads(content: str) -> Any:
    text = content.strip()
    if text.startswith("<!--"):
        text = text[4:].rsplit("-->", 1)[0]
    try:
        return json.loads(text, strict=False)
    except ValueError:
        return None


def _dedupe(paragraphs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    out = []
    for kind, text in paragraphs:
        if text in seen:
            continue
        seen.add(text)
        out.append((kind, text))
    return out
