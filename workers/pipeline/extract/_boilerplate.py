"""Generic rules that recognise template blocks trafilatura lets through.

* **text rules** on one short block (at most 30-60 words, so a real paragraph
  that merely mentions a newsletter is kept): share/follow bars, subscribe and
  newsletter prompts, cookie notices, comment forms and moderation notes,
  "Read more:"/"Related:"/"Lesen Sie auch:" lead-ins (unless what follows is
  this article's own headline: that is the dedupe stage's title repeat),
  advertisement markers, copyright/reprint/citation notices, photo credits,
  contributor credit lines, contact lines with an e-mail address, prompts
  with a URL or @handle, bare URLs and timestamps, flattened tool bars.
* **section rules**: a label such as "Related stories", "Most read", "Top
  stories", "Partner news", "Comments" opens a template section; the lists,
  links, headings and (when no real prose follows) short teasers under it go
  too.  A list of 3+ headline links is a related-stories box wherever it is.
* **edge rules**: link lists, link-only lines and dangling headings after the
  last prose block; link-only labels before the first (breadcrumbs).

Nothing here is keyed to a site, host or URL.
"""

from __future__ import annotations

import re

from ._blocks import RawBlock, Removal
from .text import normalise, word_count

__all__ = ["boilerplate_rule", "is_boilerplate_text", "is_link_list", "is_tail_heading", "strip_boilerplate"]

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

# Rules anchored at the start of the block (tried with one ``match``: cheap).
_ANCHORED = [
    # comment forms
    r"\d+\s+(?:comments?|responses?|replies|thoughts? on)\b",
    r"(?:leave|post|add|write) a (?:reply|comment|response)\b",
    # share / follow / subscribe
    r"share (?:this|on|via|to)\b",
    r"(?:follow|like) us on\b",
    r"click to share on\b",
    r"(?:get|receive) (?:our|the) [\w\s]{0,40}newsletter",
    r"subscribe (?:now|today|for)\b",
    r"download (?:the|our) (?:app|\w+ app)\b",
    r"(?:follow|find) (?:us|@?\w+) on (?:facebook|twitter|instagram|linkedin|x|telegram|whatsapp|google news)\b",
    r"(?:have|got) a (?:news )?tip\b.*\b(?:email|contact|send)\b",
    # copyright, ads, update stamps
    r"(?:©|\(c\)|copyright)\s*(?:\d{4})?",
    r"advertisement\b",
    r"(?:story|article) continues (?:below|after)\b",
    r"(?:this (?:article|story) was )?(?:updated|last updated|first published|published|posted) "
    r"(?:on|at)?\s*[:\-]?\s*\w+ \d",
    r"citation:",
    # bylines that name no author we know of
    r"\W*(?:publicado|published|posted|written|publié|veröffentlicht|pubblicato|escrito)\s+(?:por|by|par|von|da)\b",
    # photo credits and captions that are only a credit
    r"(?:photo|photograph|image|picture|foto|bild|credit|crédit|crédito|source|fonte|quelle)s?\s*(?:credit)?\s*:\s*\S",
    r"(?:photo|image|picture|video)s? (?:by|courtesy of|via)\b",
    # contributor credit lines
    r"(?:additional reporting|reporting|writing|editing|compiled|contributing)\s*(?:by\b|:)",
    # calls to action
    r"click here\b",
    r"if you (?:enjoyed|liked|found|appreciate[d]?) (?:this|our) (?:article|story|post|journalism|reporting)\b",
    r"(?:support|become a member|donate)\b.{0,60}\b(?:journalism|reporting|member)\b",
]
_ANCHORED_RE = re.compile("|".join(f"(?:{p})" for p in _ANCHORED), re.IGNORECASE)

# Rules that may match anywhere in a short block, each with the literal words one
# of which must occur for it to match: a substring test skips the regex search
# on almost every block (the search is what costs).
_ANYWHERE: list[tuple[tuple[str, ...], str]] = [
    # comment forms and notes
    (("email address",), r"your email address will not be published"),
    (("required fields",), r"required fields are marked"),
    (("logged in",), r"you must be logged in to post a comment"),
    (("closed",), r"comments (?:are|have been) closed"),
    (("save my name",), r"save my name,? email,? and website"),
    (("notify me",), r"notify me of (?:follow-up|new) (?:comments|posts)"),
    (("akismet",), r"this site uses akismet"),
    (("share on", "share via"), r"\bshare (?:on|via) (?:facebook|twitter|x|linkedin|whatsapp|email|reddit)\b"),
    # subscribe / newsletter / paywall
    (("newsletter",), r"\bsign up (?:for|to)\b.{0,60}\bnewsletters?\b"),
    (("newsletter",), r"\bsubscribe (?:to|for)\b.{0,60}\bnewsletters?\b"),
    (("newsletter",), r"\bnewsletters?\b.{0,80}\b(?:in|to|into) your inbox\b"),
    (("newsletter",), r"\b(?:in|to|into) your inbox\b.{0,80}\bnewsletters?\b"),
    (("newsletter",), r"\bby subscribing to\b.{0,40}\bnewsletters?\b"),
    (("subscribe to",), r"\bsubscribe to (?:our|the)\b.*\b(?:newsletter|channel|podcast|feed)"),
    (("subscriber",), r"\balready (?:a )?subscriber\b"),
    (("subscribers",), r"\bthis (?:article|content|story) is (?:for|available to) subscribers\b"),
    # cookies / consent
    (("cookies",), r"\b(?:we|this (?:site|website)) uses? cookies\b"),
    (("cookie",), r"\bby (?:continuing to )?(?:using|browsing) (?:this|our) (?:site|website)\b"
                  r".*\b(?:cookie|agree|accept|privacy)"),
    (("cookies",), r"\baccept (?:all )?cookies\b"),
    (("cookie",), r"\bcookie (?:policy|settings|preferences)\b"),
    # copyright / reprints / citation notices
    (("rights reserved",), r"\ball rights reserved\b"),
    (("personal",), r"\bthis copy is for your personal,? non-?commercial use only\b"),
    (("been sent",), r"\bthis (?:article|story) has been sent to\b"),
    (("error",), r"\ban error has occurred,? please try again\b"),
    (("retrieved",), r"\bretrieved \d{1,2} \w+ \d{4} from https?://"),
    (("copyright",), r"\bthis document is subject to copyright\b"),
    (("reprint", "licensing"), r"\bfor (?:reprint|licensing) (?:and licensing )?(?:rights|requests|information)\b"),
    # reader-comment moderation notes, in the languages of the pages we see most
    (
        ("comment", "coment", "kommentar", "reacties"),
        (r"\b(?:comments?|comentários?|comentarios?|commentaires?|kommentare?|commenti|reacties)\b.{0,80}"
        r"\b(?:moderat\w*|approv\w*|aprovad\w*|aprobad\w*|freigeschaltet|publiés?|pubblicat\w*)"),
    ),
    (("moderat",), r"\bmoderat\w*\b.{0,40}\bcomments?\b"),
    # photo credits
    (("©", "(c)"), r"\b(?:photos?|images?|pictures?|fotos?)\s*(?:©|\(c\))"),
    # contributor credit lines
    (("contributed",), r"\bcontributed (?:reporting )?to this (?:report|story|article)\b"),
]
_BY_TRIGGER: dict[str, list[re.Pattern[str]]] = {}
for _triggers, _pattern in _ANYWHERE:
    for _trigger in _triggers:
        _BY_TRIGGER.setdefault(_trigger, []).append(re.compile(_pattern, re.IGNORECASE))


def _matches_text_rule(text: str) -> bool:
    if _ANCHORED_RE.match(text):
        return True
    lowered = text.lower()
    for trigger, patterns in _BY_TRIGGER.items():
        if trigger in lowered and any(p.search(text) for p in patterns):
            return True
    return False

_SECTION_BREAK = re.compile(r"^\s*([_*#~=•·-])(?:\s*\1){2,}\s*$")
_BARE_URL = re.compile(r"^\s*(?:https?://|www\.)\S+\s*$", re.IGNORECASE)
_BARE_DATETIME = re.compile(r"^\s*\d{4}-\d{2}-\d{2}"
                            r"(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?\s*$")
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
_INFORMATION_PROMPT = re.compile(
    r"^\s*(?:for more|more|read|see|visit|get|download|contact|reach|email|e-mail|write to)\b", re.IGNORECASE)

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
    "most read in", "more in this category", "in other news", "partner news",
    "partner content", "from our partners", "around the web", "promoted stories", "sponsored stories",
    "from the web", "paid content", "promoted content", "you may be interested in", "suggested reading",
}

# Short blocks only: a long paragraph that mentions a newsletter is article text.
_MAX_WORDS_TEXT_RULE = 60
_MAX_WORDS_LEADIN = 30
# Under a "Related"/"Top stories" label, blurbs up to this length are teasers.
_MAX_WORDS_TEASER = 30
_MIN_WORDS_PROSE = 20


def is_boilerplate_text(text: str, title_keys: tuple[str, ...] = (), words: int | None = None) -> bool:
    """True for a block that is template text (see ``boilerplate_rule``)."""
    return boilerplate_rule(text, title_keys, words) is not None


def boilerplate_rule(text: str, title_keys: tuple[str, ...] = (), words: int | None = None) -> str | None:
    """The name of the text rule that makes a block template, or None.

    ``title_keys`` (the normalised headline forms) keep "Read more: <this
    headline>" for the dedupe stage, which counts it as a title repeat.
    """
    if words is None:
        words = word_count(text)
    if words > _MAX_WORDS_TEXT_RULE and words > 80:
        return None  # every rule below is about short blocks; most paragraphs stop here
    key = normalise(text)
    if not key:
        # punctuation only: a section break ("___", "* * *") is part of the text, anything else is debris
        return None if _SECTION_BREAK.match(text) else "punctuation-only"
    if key in _EXACT:
        return "template-phrase"
    if _BARE_URL.match(text) or _BARE_DATETIME.match(text):
        return "bare-url-or-timestamp"
    if (
        words <= _MAX_WORDS_LEADIN
        and _LEADIN.match(text)
        and not any(f" {t} " in f" {key} " for t in title_keys if t)
    ):
        return "read-more-lead-in"
    if words <= _MAX_WORDS_TEXT_RULE and _CALL_TO_ACTION.match(text):
        return "call-to-action"
    if words <= _MAX_WORDS_TEXT_RULE and (_COPYRIGHT.match(text) or "rights reserved" in text.lower()):
        return "copyright-notice"
    if words <= _MAX_WORDS_CONTACT and _EMAIL.search(text):
        return "contact-email"
    if words <= _MAX_WORDS_PROMPT and _PROMPT_WITH_ADDRESS.match(text):
        # "Follow/Subscribe/Join ... at <address>" is a newsroom prompt whatever it names;
        # "For more information on <product>, visit ..." may be the article's own closing line
        return "prompt-with-address" if _INFORMATION_PROMPT.match(text) else "social-prompt-with-address"
    if "\n" in text and words <= 30 and all(normalise(line) in _EXACT for line in text.split("\n") if line.strip()):
        return "tool-bar"  # a flattened tool bar: "Order Reprints\nPrint Article"
    first_line = text.split("\n", 1)[0]
    if "\n" in text and normalise(first_line) in _TAIL_HEADINGS and words <= 80:
        return "labelled-widget"  # "Tags\nfoo, bar, baz" - a labelled widget flattened into one block
    if words <= _MAX_WORDS_TEXT_RULE and _matches_text_rule(text):
        return "template-sentence"
    return None


# Rules that are judgement calls: the same line is template on one page and the
# article's own closing line on another ("For more information on <product>, visit
# ...", "Click here for the full results", "© 2019 <agency>" that the story credits).
# They remove only within a budget (``_DOUBTFUL_BUDGET``), and the calls to action
# among them only a generic line: one that names nothing the article's text names
# (see ``_is_specific``).  A copyright notice names its publisher, never the
# article's subject, so only the budget applies to it.  When in doubt, keep.
DOUBTFUL_RULES = frozenset({"call-to-action", "copyright-notice", "prompt-with-address"})
_SPECIFIC_KEEPS = frozenset({"call-to-action", "prompt-with-address"})
_CALL_TO_ACTION = re.compile(r"^\W*(?:click|tap) (?:here|for|to|on|the link)\b", re.IGNORECASE)
_COPYRIGHT = re.compile(r"^\W*(?:©|ⓒ|\(c\)|copyright\b)", re.IGNORECASE)
_TRAILING_CTA = re.compile(r"^\W*(?:click|tap|see|view|download|visit|watch|get|for (?:full|more|the full))\b",
                           re.IGNORECASE)
# Words any template line may use: they say nothing about this article.
_GENERIC_WORDS = frozenset(
    """
    click here tap link links more information info visit please download subscribe newsletter copyright rights
    reserved material published broadcast rewritten redistributed distributed reproduced without permission
    website site page pages story stories article articles news read follow share email contact full details
    today also this that these those with from your yours their there here what when where which will would
    could should have been being about into onto over under after before more most other others some such only
    than then them they were what while just like more find learn see view watch video videos photo photos
    image images gallery below above continue continues get our ours visit http https www com org net
    all any each every very much many can may might must shall the and for are but not you his her its
    online offer offers free app apps sign login account report reports latest update updates
    """.split()  # noqa: SIM905 - a word list reads better as words
)
# Judgement rules remove at most this share of the page's kept text.
_DOUBTFUL_BUDGET = 0.05
_CONTENT_WORD = re.compile(r"[^\W\d_]{4,}", re.UNICODE)


def _content_words(text: str) -> set[str]:
    return {w for w in _CONTENT_WORD.findall(normalise(text)) if w not in _GENERIC_WORDS}


def _text_vocabulary(blocks: list[RawBlock], rules: list[str | None]) -> set[str]:
    """Content words of the article's own text: blocks of 5+ words, few links, no rule against them."""
    words: set[str] = set()
    for block, rule in zip(blocks, rules, strict=True):
        if rule is None and block.type != "heading" and block.words >= 5 and block.link_ratio < 0.5:
            words |= _content_words(block.text)
    return words


class _LazyVocabulary:
    def __init__(self, blocks: list[RawBlock], rules: list[str | None]) -> None:
        self._blocks, self._rules = blocks, rules
        self._words: set[str] | None = None

    @property
    def words(self) -> set[str]:
        if self._words is None:
            self._words = _text_vocabulary(self._blocks, self._rules)
        return self._words


def _is_specific(block: RawBlock, vocabulary: _LazyVocabulary) -> bool:
    """The block names something the article's text names too: its product, result, people."""
    return not _content_words(block.text).isdisjoint(vocabulary.words)


def _restates_the_article(block: RawBlock, vocabulary: _LazyVocabulary) -> bool:
    """A list whose every line mostly uses the article's own words: the products, teams
    or people the text is about ("Sonora Loop 2 headphones, $89"), not other headlines."""
    lines = [line for line in block.text.split("\n") if line.strip()]
    if not lines or block.link_items < block.items:
        return False  # teasers with a blurb under the link are other stories
    for line in lines:
        words = _content_words(line)
        # 2+ content words: a tag cloud ("Instagram", "Privacy") restates the article too, but is a widget
        if len(words) < 2 or 2 * len(words & vocabulary.words) < len(words):
            return False
    return True


def is_tail_heading(text: str) -> bool:
    """A label that opens a template section ("Related stories", "More from Politics").

    "Read more: <headline>" is one teaser line, not a label: it never opens a section."""
    if _LEADIN.match(text) and normalise(text) not in _TAIL_HEADINGS:
        return False
    key = normalise(text)
    if key in _TAIL_HEADINGS:
        return True
    # "More from <section>", "Related: ...", "More on <topic>"
    return bool(
        re.match(r"^(?:more (?:from|on|about|in)|related|read more|latest (?:from|in)|other stories|"
                 r"most (?:read|popular|viewed|shared) (?:in|on|from)|top stories in)\b", key)
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
    return block.words >= 5 * block.items


def _is_link_line(block: RawBlock) -> bool:
    """A short paragraph or heading that is only a link: a teaser headline, a section label."""
    return block.type in ("paragraph", "heading") and block.link_ratio >= 0.9 and block.words <= 25


def strip_boilerplate(
    blocks: list[RawBlock], title_keys: tuple[str, ...] = (), removals: list[Removal] | None = None
) -> tuple[list[RawBlock], int]:
    """Drop template blocks; return the kept blocks and how many were removed.

    ``removals``, when given, receives each removed block with the rule that removed it.
    """
    kept: list[RawBlock] = []
    trace: list[Removal] = removals if removals is not None else []

    def drop(block: RawBlock, rule: str) -> None:
        trace.append(Removal("boilerplate", rule, block.type, block.text))

    before = len(trace)
    rules = [boilerplate_rule(b.text, title_keys, b.words) if b.type != "table" else None for b in blocks]
    # the article's own words, read only when a rule needs them (rarely): most pages never pay for it
    vocabulary = _LazyVocabulary(blocks, rules)
    doubtful: list[tuple[RawBlock, str]] = []  # generic lines a judgement rule matched: removed within the budget
    skipping_tail_section = False
    # prose_after[i]: a long prose paragraph occurs at or after block i; a label such
    # as "Most read" mid-article (its widget already gone) must not eat the article
    prose_after = [False] * (len(blocks) + 1)
    for i in range(len(blocks) - 1, -1, -1):
        b = blocks[i]
        prose_after[i] = prose_after[i + 1] or (
            b.type in ("paragraph", "quote") and b.link_ratio < 0.3 and b.words > _MIN_WORDS_PROSE
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
                or (block.words <= _MAX_WORDS_TEASER and not prose_after[index + 1])
                or is_boilerplate_text(block.text, words=block.words)
            ):
                drop(block, "template-section")
                continue
            else:
                skipping_tail_section = False
        if (block.type == "heading" or (block.type == "paragraph" and block.words <= 4)) and is_tail_heading(
            block.text
        ):
            skipping_tail_section = True
            drop(block, "template-section-label")
            continue
        rule = rules[index]
        if rule in DOUBTFUL_RULES:
            if not (rule in _SPECIFIC_KEEPS and _is_specific(block, vocabulary)):
                doubtful.append((block, rule))
            kept.append(block)
            continue
        if rule is not None:
            drop(block, rule)
            continue
        if is_headline_link_list(block) and not _restates_the_article(block, vocabulary):
            drop(block, "headline-link-list")
            continue
        kept.append(block)
    # do no harm: judgement rules may take at most a small share of the text (on a
    # short article a closing line is a large share of it, and if it is the
    # article's own the loss is large); past that, they keep everything
    if doubtful and sum(len(b.text) for b, _ in doubtful) <= _DOUBTFUL_BUDGET * sum(len(b.text) for b in kept):
        for block, rule in doubtful:
            drop(block, rule)
        removed_ids = {id(b) for b, _ in doubtful}
        kept = [b for b in kept if id(b) not in removed_ids]
    # the article's edges: link lists, link-only lines and dangling headings after the
    # last prose block are related-links widgets; link-only lines before the first
    # are breadcrumbs and section labels
    while kept and (is_link_list(kept[-1]) or _is_link_line(kept[-1]) or kept[-1].type == "heading"):
        last = kept[-1]
        if _is_link_line(last) and _TRAILING_CTA.match(last.text) and _is_specific(last, vocabulary):
            break  # "Click for full results": this article's own pointer, not a related link
        if is_link_list(last) and _restates_the_article(last, vocabulary):
            break  # "Where to buy": links to the products the article reviews
        block = kept.pop()
        drop(block, "trailing-links-or-heading")
    start = 0
    while start < len(kept) - 1 and _is_link_line(kept[start]) and kept[start].words <= 10:
        drop(kept[start], "leading-link-line")
        start += 1
    return kept[start:], len(trace) - before
