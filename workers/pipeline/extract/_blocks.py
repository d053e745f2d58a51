"""Turn trafilatura's XML body (``<p>``, ``<head>``, ``<quote>``, ``<list>``,
``<table>`` ...) into ordered blocks.

Each block also carries how much of its text sat inside links, which the
boilerplate rules use (a list whose every item is a link is a link list:
"related stories", "more on this", tag clouds).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml.etree import _Element

from .text import clean_space, element_text, word_count

__all__ = ["RawBlock", "Removal", "body_to_blocks"]

_CONTAINERS = frozenset({"body", "div", "article", "section", "main", "doc"})
_SKIP = frozenset({"graphic", "fw", "note", "figure"})


@dataclass(slots=True, frozen=True)
class Removal:
    """A block (or part of one) a cleaning stage removed, and the rule that removed it."""

    stage: str  # "boilerplate" (extraction stage) or "dedupe"
    rule: str  # e.g. "template-phrase", "title-repeat"
    type: str  # the block's type
    text: str  # the text removed


@dataclass(slots=True)
class RawBlock:
    type: str  # "heading" | "paragraph" | "quote" | "list" | "table"
    text: str
    link_chars: int = 0
    items: int = 1  # list items / table rows
    link_items: int = 0  # list items whose text is (almost) entirely a link
    lead_link_items: int = 0  # list items that open with a link (teaser lists: "<a>Headline</a> blurb")
    level: int = 0  # heading level when known (h2 -> 2)
    words: int = -1  # word count, filled in once by body_to_blocks

    def __post_init__(self) -> None:
        if self.words < 0:
            self.words = word_count(self.text)

    @property
    def link_ratio(self) -> float:
        return self.link_chars / max(1, len(self.text))


def _inline_text(el: _Element, parts: list[str], links: list[int]) -> None:
    """Append the inline text of ``el`` (not its tail); ``lb`` becomes a line break.

    ``links[0]`` accumulates the characters that sit inside ``<ref>`` (links).
    """
    if el.text:
        parts.append(el.text)
    for child in el:
        tag = child.tag
        if tag == "lb":
            parts.append("\n")
        elif tag in _SKIP or not isinstance(tag, str):
            pass
        elif tag in ("list", "table", "p", "quote", "head", "item", "row"):
            parts.append("\n")
            _inline_text(child, parts, links)
            parts.append("\n")
        elif tag == "cell":
            parts.append(" | ")
            _inline_text(child, parts, links)
        elif tag == "ref":
            links[0] += len(element_text(child).strip())
            _inline_text(child, parts, [0])
        else:
            _inline_text(child, parts, links)
        if child.tail:
            parts.append(child.tail)


def _text_of(el: _Element) -> tuple[str, int]:
    parts: list[str] = []
    links = [0]
    _inline_text(el, parts, links)
    return clean_space("".join(parts)), links[0]


def _starts_with_link(el: _Element) -> bool:
    """True when the first visible text of ``el`` sits inside a link."""
    if el.text and el.text.strip():
        return False
    for child in el:
        if not isinstance(child.tag, str):
            continue
        has_text = bool(element_text(child).strip())
        if has_text:
            if child.tag == "ref":
                return True
            if child.tag in ("hi", "p", "head", "quote"):
                return _starts_with_link(child)
            return False
        if child.tail and child.tail.strip():
            return False
    return False


def _list_block(el: _Element) -> RawBlock | None:
    lines: list[str] = []
    link_chars = 0
    link_items = 0
    items = 0
    lead_links = 0
    for item in el.iter("item"):
        # nested lists are walked by iter(); take only the item's own text here
        parts: list[str] = []
        links = [0]
        if item.text:
            parts.append(item.text)
        for child in item:
            if child.tag == "list":
                if child.tail:
                    parts.append(child.tail)
                continue
            if child.tag == "lb":
                parts.append(" ")
            elif isinstance(child.tag, str) and child.tag not in _SKIP:
                if child.tag == "ref":
                    sub, _ = _text_of(child)
                    links[0] += len(sub)
                    parts.append(sub)
                else:
                    sub, inner_links = _text_of(child)
                    links[0] += inner_links
                    parts.append(sub)
            if child.tail:
                parts.append(child.tail)
        text = clean_space(" ".join("".join(parts).split("\n")))
        if not text:
            continue
        items += 1
        if _starts_with_link(item) and links[0] >= 0.2 * len(text):
            lead_links += 1
        link_chars += links[0]
        if links[0] >= 0.8 * len(text):
            link_items += 1
        lines.append(text)
    if not lines:
        return None
    return RawBlock("list", "\n".join(lines), link_chars, items, link_items, lead_links)


def _table_block(el: _Element) -> RawBlock | None:
    rows: list[str] = []
    link_chars = 0
    for row in el.iter("row"):
        cells = []
        for cell in row.iter("cell"):
            text, links = _text_of(cell)
            link_chars += links
            cells.append(" ".join(text.split()))
        if any(cells):
            rows.append(" | ".join(cells))
    if not rows:
        return None
    return RawBlock("table", "\n".join(rows), link_chars, len(rows))


_BLOCK_TAGS = frozenset({"p", "head", "list", "quote", "table"})


def _is_layout_table(el: _Element) -> bool:
    """A table used for page layout: some cell holds paragraphs/headings/lists."""
    return any(
        isinstance(child.tag, str) and child.tag in _BLOCK_TAGS
        for cell in el.iter("cell")
        for child in cell
    )


def _walk_layout_table(el: _Element, out: list[RawBlock]) -> None:
    """Each cell of a layout table is a container: its blocks join the article flow."""
    for cell in el.iter("cell"):
        row = cell.getparent()
        if row is not None and row.getparent() is not el:
            continue  # cells of nested tables are reached through their own table
        if any(isinstance(c.tag, str) and c.tag in _BLOCK_TAGS for c in cell):
            if cell.text and cell.text.strip():
                out.append(RawBlock("paragraph", clean_space(cell.text)))
            _walk(cell, out)
        else:
            text, links = _text_of(cell)
            if text:
                out.append(RawBlock("paragraph", text, links))


def _heading_level(el: _Element) -> int:
    rend = el.get("rend") or ""
    if len(rend) == 2 and rend[0] == "h" and rend[1].isdigit():
        return int(rend[1])
    return 0


def _walk(el: _Element, out: list[RawBlock]) -> None:
    for child in el:
        tag = child.tag
        if not isinstance(tag, str) or tag in _SKIP:
            continue
        block: RawBlock | None = None
        if tag == "head":
            text, links = _text_of(child)
            block = RawBlock("heading", " ".join(text.split()), links, level=_heading_level(child))
        elif tag == "list":
            block = _list_block(child)
        elif tag == "table" and _is_layout_table(child):
            _walk_layout_table(child, out)
        elif tag == "table":
            block = _table_block(child)
        elif tag == "quote":
            text, links = _text_of(child)
            block = RawBlock("quote", text, links)
        elif tag in _CONTAINERS and any(isinstance(c.tag, str) and c.tag not in ("hi", "ref", "lb") for c in child):
            if child.text and child.text.strip():
                out.append(RawBlock("paragraph", clean_space(child.text)))
            _walk(child, out)
        else:  # p, code, hi, ref, a loose container with inline content
            text, links = _text_of(child)
            block = RawBlock("paragraph", text, links)
        if block is not None and block.text:
            out.append(block)
        if child.tail and child.tail.strip():
            out.append(RawBlock("paragraph", clean_space(child.tail)))


def body_to_blocks(body: _Element | None) -> list[RawBlock]:
    """Blocks in document order from trafilatura's output tree."""
    if body is None:
        return []
    out: list[RawBlock] = []
    if body.text and body.text.strip():
        out.append(RawBlock("paragraph", clean_space(body.text)))
    _walk(body, out)
    return out
