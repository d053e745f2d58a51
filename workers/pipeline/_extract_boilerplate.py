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
    # article tools
    "order reprints", "reprints", "print article", "email article", "save for later", "gift article",
    "gift this article", "font size", "text size", "reading mode", "back to top", "top",
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
    r"\bsign up (?:for|to)\b.{0,60}\bnewsletters?\b",
    r"\bsubscribe (?:to|for)\b.{0,60}\bnewsletters?\b",
    r"\bnewsletters?\b.{0,80}\b(?:in|to|into) your inbox\b",
    r"\b(?:in|to|into) your inbox\b.{0,80}\bnewsletters?\b",
    r"\bby subscribing to\b.{0,40}\bnewsletters?\b",
    r"\bsubscribe to (?:our|the)\b.*\b(?:newsletter|channel|podcast|feed)",
    r"^(?:get|receive) (?:our|the) [\w\s]{0,40}newsletter",
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
    # reprint / licensing / citation notices
    r"\bthis copy is for your personal,? non-?commercial use only\b",
    r"\bthis (?:article|story) has been sent to\b",
    r"\ban error has occurred,? please try again\b",
    r"^citation:",
    r"\bretrieved \d{1,2} \w+ \d{4} from https?://",
    r"\bthis document is subject to copyright\b",
    r"\bfor (?:reprint|licensing) (?:and licensing )?(?:rights|requests|information)\b",
    # reader-comment moderation notes, in the languages of the pages we see most
    r"\b(?:comments?|comentários?|comentarios?|commentaires?|kommentare?|commenti|reacties)\b.{0,80}"
    r"\b(?:moderat\w*|approv\w*|aprovad\w*|aprobad\w*|freigeschaltet|publiés?|pubblicat\w*)",
    r"\bmoderat\w*\b.{0,40}\bcomments?\b",
    # bylines that name no author we know of
    r"^\W*(?:publicado|published|posted|written|publié|veröffentlicht|pubblicato|escrito)\s+(?:por|by|par|von|da)\b",
    # photo credits and captions that are only a credit
    r"^(?:photo|photograph|image|picture|foto|bild|credit|crédit|crédito|source|fonte|quelle)s?\s*(?:credit)?\s*:\s*\S",
    r"\b(?:photos?|images?|pictures?|fotos?)\s*(?:©|\(c\))",
    r"^(?:photo|image|picture|video)s? (?:by|courtesy of|via)\b",
    # contributor credit lines
    r"\bcontributed (?:reporting )?to this (?:report|story|article)\b",
    r"^(?:additional reporting|reporting|writing|editing|compiled|contributing)\s*(?:by\b|:)",
    # calls to action
    r"^click here\b",
    r"^if you (?:enjoyed|liked|found|appreciate[d]?) (?:this|our) (?:article|story|post|journalism|reporting)\b",
    r"^(?:support|become a member|donate)\b.{0,60}\b(?:journalism|reporting|member)\b",
]
_PATTERN_RE = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)

_SECTION_BREAK = re.compile(r"^\s*([_*#~=•·-])(?:\s*\1){2,}\s*$")
_BARE_URL = re.compile(r"^\s*(?:https?://|www\.)\S+\s*$", re.IGNORECASE)
_BARE_DATETIME = re.compile(r"^\s*\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?\s*$")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
# A short block with an e-mail address: "Write to Jane Doe at jane@example.com", "Contact: ..."
_MAX_WORDS_CONTACT = 16
# "Follow ... at https://...", "Email X at x@y.com or follow him @x": a prompt with an address
_PROMPT_WITH_ADDRESS = re.compile(
    r"^\s*(?:follow|reach|email|e-mail|write to|contact|more|read|see|for more|visit|get|subscribe|sign up|"
    r"download|send|join|listen|watch)\b.*(?:https?://|www\.|@)",
    re.IGNORECASE | re.DOTALL,
)
_MAX_WORDS_PROMPT = 40

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
    "à lire aussi", "sur le même sujet", "lee también", "leia também", "leggi anche", "explore further",
    "most read in", "something to consider", "more in this category", "in other news", "partner news",
    "partner content", "from our partners", "around the web", "promoted stories", "sponsored stories",
    "from the web", "paid content", "promoted content", "you may be interested in", "suggested reading",
}

# Short blocks only: a long paragraph that mentions a newsletter is article text.
_MAX_WORDS_TEXT_RULE = 60
_MAX_WORDS_LEADIN = 30
# Under a "Related"/"Top stories" label, blurbs up to this length are teasers.
_MAX_WORDS_TEASER = 30
_MIN_WORDS_PROSE = 20


def is_boilerplate_text(text: str, title_keys: tuple[str, ...] = ()) -> bool:
    """True for a block that is template text.

    ``title_keys`` (the normalised headline forms) keep "Read more: <this
    headline>" for the dedupe stage, which counts it as a title repeat.
    """
    words = word_count(text)
    if words > _MAX_WORDS_TEXT_RULE and words > 80:
        return False  # every rule below is about short blocks; most paragraphs stop here
    key = normalise(text)
    if not key:
        # punctuation only: a section break ("___", "* * *") is part of the text, anything else is debris
        return not _SECTION_BREAK.match(text)
    if key in _EXACT:
        return True
    if _BARE_URL.match(text) or _BARE_DATETIME.match(text):
        return True
    if words <= _MAX_WORDS_LEADIN and _LEADIN.match(text):
        if not any(f" {t} " in f" {key} " for t in title_keys if t):
            return True
    if words <= _MAX_WORDS_CONTACT and _EMAIL.search(text):
        return True
    if words <= _MAX_WORDS_PROMPT and _PROMPT_WITH_ADDRESS.match(text):
        return True
    if "\n" in text and words <= 30 and all(normalise(line) in _EXACT for line in text.split("\n") if line.strip()):
        return True  # a flattened tool bar: "Order Reprints\nPrint Article"
    first_line = text.split("\n", 1)[0]
    if "\n" in text and normalise(first_line) in _TAIL_HEADINGS and words <= 80:
        return True  # "Tags\nfoo, bar, baz" - a labelled widget flattened into one block
    if words <= _MAX_WORDS_TEXT_RULE and _PATTERN_RE.search(text):
        return True
    return False


def is_tail_heading(text: str) -> bool:
    key = normalise(text)
    if key in _TAIL_HEADINGS:
        return True
    # "More from <section>", "Related: ...", "More on <topic>"
    return bool(
        re.match(r"^(?:more (?:from|on|about|in)|related|read more|latest (?:from|in)|other stories|most (?:read|popular|viewed|shared) (?:in|on|from)|top stories in)\b", key)
    ) and (
        word_count(text) <= 8
    )


def is_link_list(block: RawBlock) -> bool:
    """A list of links (navigation, tag clouds) or of link-led teasers ("related stories")."""
    if block.type != "list" or block.items < 2:
        return False
    if block.link_items >= 0.8 * block.items or block.link_ratio > 0.8:
        return True
    return block.lead_link_items == block.items


def is_headline_link_list(block: RawBlock) -> bool:
    """A list of at least three links that each read like a headline: a "related
    stories" box, wherever it sits.  (A list of short linked names is content.)"""
    if block.type != "list" or block.items < 3 or block.link_items < block.items:
        return False
    return word_count(block.text) >= 5 * block.items


def _is_link_line(block: RawBlock) -> bool:
    """A short paragraph or heading that is only a link: a teaser headline, a section label."""
    return block.type in ("paragraph", "heading") and block.link_ratio >= 0.9 and word_count(block.text) <= 25


def strip_boilerplate(blocks: list[RawBlock], title_keys: tuple[str, ...] = ()) -> tuple[list[RawBlock], int]:
    """Drop template blocks; return the kept blocks and how many were removed."""
    kept: list[RawBlock] = []
    removed = 0
    skipping_tail_section = False
    # prose_after[i]: a long prose paragraph occurs at or after block i; a label such
    # as "Most read" mid-article (its widget already gone) must not eat the article
    prose_after = [False] * (len(blocks) + 1)
    for i in range(len(blocks) - 1, -1, -1):
        b = blocks[i]
        prose_after[i] = prose_after[i + 1] or (
            b.type in ("paragraph", "quote") and b.link_ratio < 0.3 and word_count(b.text) > _MIN_WORDS_PROSE
        )
    for index, block in enumerate(blocks):
        if skipping_tail_section:
            # after a "Related"/"Comments"/... heading, drop until a heading that is not template
            if block.type == "heading" and not is_tail_heading(block.text) and not is_boilerplate_text(block.text):
                skipping_tail_section = False
            elif (
                block.type in ("list", "heading")
                or block.link_ratio > 0.5
                or (block.link_ratio >= 0.2 and not prose_after[index + 1])
                or (word_count(block.text) <= _MAX_WORDS_TEASER and not prose_after[index + 1])
                or is_boilerplate_text(block.text)
            ):
                removed += 1
                continue
            else:
                skipping_tail_section = False
        if (block.type == "heading" or (block.type == "paragraph" and word_count(block.text) <= 4)) and is_tail_heading(
            block.text
        ):
            skipping_tail_section = True
            removed += 1
            continue
        if block.type != "table" and is_boilerplate_text(block.text, title_keys):
            removed += 1
            continue
        if is_headline_link_list(block):
            removed += 1
            continue
        kept.append(block)
    # the article's edges: link lists, link-only lines and dangling headings after the
    # last prose block are related-links widgets; link-only lines before the first
    # are breadcrumbs and section labels
    while kept and (is_link_list(kept[-1]) or _is_link_line(kept[-1]) or kept[-1].type == "heading"):
        kept.pop()
        removed += 1
    start = 0
    while start < len(kept) - 1 and _is_link_line(kept[start]) and word_count(kept[start].text) <= 10:
        start += 1
    removed += start
    return kept[start:], removed
