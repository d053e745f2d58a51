"""Generic rules that recognise template blocks trafilatura lets through.

Two kinds of rule:

* **text rules** on a single short block: share bars, subscribe/newsletter
  prompts, cookie notices, comment-form labels, "Read more"/"Related" lead-ins,
  advertisement markers, copyright lines.  They only fire on *short* blocks
  (a real paragraph that merely mentions "newsletter" is long and kept).
* **tail rules**: the run of blocks after the article's last paragraph that
  is a "Related"/"More" heading plus link lists, or link lists alone.

Nothing here is keyed to a site, host or URL.
"""

from __future__ import annotations

import re

from workers.pipeline._extract_blocks import RawBlock
from workers.pipeline._extract_text import normalise, word_count

__all__ = ["is_boilerplate_text", "is_tail_heading", "is_link_list", "strip_boilerplate"]

# A block that is nothing but one of these (after normalisation) is template.
_EXACT = {
    # share bars
    "share", "share this", "share this article", "share this story", "share this post", "share this page",
    "share article", "share story", "share on facebook", "share on twitter", "share on linkedin",
    "share via email", "share via", "share on", "tweet", "email", "print", "pin", "whatsapp", "facebook",
    "twitter", "linkedin", "reddit", "pinterest", "copy link", "copy link to clipboard", "link copied",
    "save", "save article", "listen", "listen to this article", "comments", "comment", "print this page",
    "teilen", "partager", "compartir", "condividi", "delen", "dela",
    # comment forms
    "leave a reply", "leave a comment", "post comment", "submit comment", "add a comment", "add comment",
    "reply", "cancel reply", "join the conversation", "join the discussion", "comments are closed",
    "show comments", "view comments", "load comments", "no comments", "no comments yet", "be the first to comment",
    "comment on this article", "comment policy", "discussion", "what do you think",
    # read more / related
    "read more", "read more here", "see more", "more", "load more", "show more", "continue reading",
    "related", "related articles", "related stories", "related posts", "related content", "related news",
    "related coverage", "related topics", "related links", "related reading", "read next", "up next",
    "see also", "also read", "also see", "further reading", "more stories", "more news", "more on this",
    "more on this story", "more from", "you may also like", "you might also like", "recommended",
    "recommended for you", "recommended stories", "most read", "most popular", "popular", "trending",
    "trending now", "latest", "latest news", "latest stories", "top stories", "editor s picks", "don t miss",
    "what to read next", "keep reading", "previous article", "next article", "previous post", "next post",
    "tags", "topics", "categories", "filed under", "advertisement", "advertising", "sponsored",
    "sponsored content", "ad", "story continues below advertisement", "article continues below",
    "story continues below", "continue reading below", "skip advertisement", "scroll to continue with content",
    "lesen sie auch", "mehr zum thema", "weitere artikel", "lire aussi", "à lire aussi", "a lire aussi",
    "lee también", "leer más", "leia também", "leia mais", "leggi anche", "anzeige", "werbung", "publicité",
    "publicidad", "pubblicità",
    # subscribe
    "subscribe", "subscribe now", "sign up", "sign up now", "newsletter", "newsletters", "log in", "login",
    "sign in", "register", "follow us", "follow us on", "follow", "get the app",
}

# Lead-ins that make a short block template whatever follows them.
_LEADIN = re.compile(
    r"^\s*(?:read more|read also|also read|see also|related|related article|related story|more|"
    r"recommended|read next|up next|watch|watch now|listen|click here|don't miss|dont miss|must read|"
    r"lesen sie auch|mehr zum thema|lire aussi|à lire aussi|a lire aussi|voir aussi|lee también|"
    r"leer más|lea también|leia também|leia mais|leggi anche|vedi anche|zie ook|lees ook|läs också)"
    r"\s*(?::|>>|»|›|→|\||-|–|—)",
    re.IGNORECASE,
)

_PATTERNS = [
    # comment forms and notes
    r"your email address will not be published",
    r"required fields are marked",
    r"you must be logged in to post a comment",
    r"comments (?:are|have been) closed",
    r"save my name,? email,? and website",
    r"notify me of (?:follow-up|new) (?:comments|posts)",
    r"this site uses akismet",
    r"^\d+\s+(?:comments?|responses?|replies|thoughts? on)\b",
    r"^(?:leave|post|add|write) a (?:reply|comment|response)\b",
    # share / follow
    r"^share (?:this|on|via|to)\b",
    r"^(?:follow|like) us on\b",
    r"^click to share on\b",
    r"\bshare (?:on|via) (?:facebook|twitter|x|linkedin|whatsapp|email|reddit)\b",
    # subscribe / newsletter / paywall
    r"\bsign up (?:for|to) (?:our|the)\b.*\bnewsletter",
    r"\bsubscribe to (?:our|the)\b.*\b(?:newsletter|channel|podcast|feed)",
    r"^(?:get|receive) (?:our|the) [\w\s]{0,40}newsletter",
    r"\bnewsletter\b.*\b(?:sign up|subscribe|inbox|delivered)",
    r"\b(?:sign up|subscribe)\b.*\bnewsletter\b",
    r"^subscribe (?:now|today|for)\b",
    r"\balready (?:a )?subscriber\b",
    r"\bthis (?:article|content|story) is (?:for|available to) subscribers\b",
    # cookies / consent
    r"\b(?:we|this (?:site|website)) uses? cookies\b",
    r"\bby (?:continuing to )?(?:using|browsing) (?:this|our) (?:site|website)\b.*\b(?:cookie|agree|accept|privacy)",
    r"\baccept (?:all )?cookies\b",
    r"\bcookie (?:policy|settings|preferences)\b",
    # copyright / legal
    r"^(?:©|\(c\)|copyright)\s*(?:\d{4})?",
    r"\ball rights reserved\b",
    # ads
    r"^advertisement\b",
    r"^(?:story|article) continues (?:below|after)\b",
    # app / social prompts
    r"^download (?:the|our) (?:app|\w+ app)\b",
    r"^(?:follow|find) (?:us|\w+) on (?:facebook|twitter|instagram|linkedin|x|telegram|whatsapp|google news)\b",
    r"^(?:have|got) a (?:news )?tip\b.*\b(?:email|contact|send)\b",
    r"^(?:this (?:article|story) was )?(?:updated|last updated|first published|published|posted) (?:on|at)?\s*[:\-]?\s*\w+ \d",
]
_PATTERN_RE = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)

_TAIL_HEADINGS = {
    "related", "related articles", "related stories", "related posts", "related content", "related news",
    "related coverage", "related topics", "related links", "related reading", "read more", "read next",
    "more stories", "more news", "more on this", "more on this story", "more from", "see also", "also read",
    "further reading", "you may also like", "you might also like", "recommended", "recommended for you",
    "recommended stories", "most read", "most popular", "popular", "trending", "trending now", "latest",
    "latest news", "latest stories", "top stories", "editor s picks", "don t miss", "what to read next",
    "keep reading", "tags", "topics", "categories", "filed under", "comments", "leave a reply",
    "leave a comment", "join the conversation", "share this", "share this article", "share", "newsletter",
    "sign up", "subscribe", "about the author", "lesen sie auch", "mehr zum thema", "lire aussi",
    "à lire aussi", "sur le même sujet", "lee también", "leia também", "leggi anche",
}

# Short blocks only: a long paragraph that mentions a newsletter is article text.
_MAX_WORDS_TEXT_RULE = 40
_MAX_WORDS_LEADIN = 30


def is_boilerplate_text(text: str) -> bool:
    key = normalise(text)
    if not key:
        return True
    if key in _EXACT:
        return True
    words = word_count(text)
    if words <= _MAX_WORDS_LEADIN and _LEADIN.match(text):
        return True
    if words <= _MAX_WORDS_TEXT_RULE and _PATTERN_RE.search(text):
        return True
    return False


def is_tail_heading(text: str) -> bool:
    key = normalise(text)
    if key in _TAIL_HEADINGS:
        return True
    # "More from <section>", "Related: ...", "More on <topic>"
    return bool(re.match(r"^(?:more (?:from|on|about|in)|related|read more|latest from|other stories)\b", key)) and (
        word_count(text) <= 8
    )


def is_link_list(block: RawBlock) -> bool:
    """A list whose items are all links (or nearly): navigation, not prose."""
    if block.type != "list":
        return False
    if block.items >= 2 and block.link_items >= max(2, 0.8 * block.items):
        return True
    return block.link_ratio > 0.8 and block.items >= 2


def strip_boilerplate(blocks: list[RawBlock]) -> tuple[list[RawBlock], int]:
    """Drop template blocks; return the kept blocks and how many were removed."""
    kept: list[RawBlock] = []
    removed = 0
    skipping_tail_section = False
    for block in blocks:
        if skipping_tail_section:
            # after a "Related"/"Comments"/... heading, drop until a heading that is not template
            if block.type == "heading" and not is_tail_heading(block.text) and not is_boilerplate_text(block.text):
                skipping_tail_section = False
            elif block.type in ("list", "heading") or block.link_ratio > 0.5 or is_boilerplate_text(block.text):
                removed += 1
                continue
            else:
                skipping_tail_section = False
        if block.type == "heading" and is_tail_heading(block.text):
            skipping_tail_section = True
            removed += 1
            continue
        if block.type != "table" and is_boilerplate_text(block.text):
            removed += 1
            continue
        kept.append(block)
    # link lists at the very end (after the last prose block) are related-links widgets
    while kept and is_link_list(kept[-1]):
        kept.pop()
        removed += 1
    return kept, removed
