"""Turn raw NER spans into one entry per real-world entity (pure Python, no spaCy).

The steps, in order (each is a small function below so it can be tested alone):

1. **Normalise each span** (:func:`trim_span`) by moving its offsets, so a
   mention always points at exactly the text its alias shows: surrounding
   whitespace, quotes and brackets go; a possessive goes (``Israel's``,
   ``Israel’s``, ``Hamas’`` -> ``Israel``/``Hamas``); a leading article goes
   (``the United Nations`` -> ``United Nations``, ``l'Assemblée nationale`` ->
   ``Assemblée nationale``) unless it is a capitalised ``The``/``La``/``L'`` in
   the middle of a sentence, which marks the article as part of the name
   (``in The Hague``, ``L'Oréal``), or starts a person's name (``Le Pen``);
   for people, a leading honorific goes (``Mr.``, ``Dr``, ``M.``, ``Mme``).
   Spans left without a letter or digit are dropped.  PERSON spans also lose
   leading words that are no part of a name (:func:`trim_person_lead`): a
   capitalised function word or title anywhere (``After Neumann``, ``Selon
   Emmanuel Macron``, ``President Joe Biden``), an ``-ing`` word at a sentence
   start or in the title (``Hosting Cook``); the word lists are in
   :mod:`workers.pipeline.entities._name_words`.
2. **Group identical names** by a key that ignores case, dots, apostrophe
   style and spacing (``U.S.`` = ``US``, ``O’Brien`` = ``O'Brien``).
3. **Vote a label per group**: the majority label of its mentions wins; on a
   tie PERSON wins if the name is person-shaped (1-5 capitalised words, no
   digits), otherwise the label of the earliest mention.  So three "Blinken"
   PERSON mentions outvote one "Blinken" GPE.
4. **Merge partial person names**: a PERSON group whose words occur, in order
   and contiguously, inside a longer PERSON name merges into it only if
   exactly one such longer person exists in the article ("Blinken" ->
   "Antony Blinken").  With "Joe Biden" and "Hunter Biden" both present,
   "Biden" stays its own entity: guessing would attach mentions to the wrong
   person, which is worse for consumers than an unmerged surname.  Longer
   names are resolved first, so "Al Thani" can join a longer full name.
   When several names contain the words, the one that ends with them wins
   if it is the only such one ("Andreessen" joins "Marc Andreessen", not
   "Andreessen Horowitz", a firm the model typed PERSON).  Because step 1
   trimmed "Hosting Cook" to "Cook", a mis-spanned name no longer poses as a
   second person with the surname.
5. **Merge across labels**: the small models often type a surname used alone
   as ORG or GPE ("Neumann" ORG beside "Adam Neumann" PERSON).  A group of
   any other label merges into a person when its name, a leading honorific
   dropped ("Dr Haverkamp"), equals the **last** word or words of that
   person's full name ("Neumann", "Eriksson Ek" for "Joel Eriksson Ek") and
   of no other person in the article (so never for "Biden" beside "Joe Biden"
   and "Hunter Biden").  A first name or middle word does not qualify
   ("Paris" stays apart from "Paris Hilton").  A group seen right after a
   locative word ("in Jordan", "en Jordanie", ``LOCATIVE_WORDS``) is a place
   and stays apart, unless an honorific stands before one of its mentions
   ("Mr. Jordan").  NORP groups never merge (a nationality is no surname).
   Known limits: a company or place named like the person and never seen
   after a locative word merges ("Ford" the carmaker in an article naming
   Henry Ford), and so does a company after a mis-spanned PERSON that starts
   with a capitalised common word ("Samsung" into "Recent Samsung", seen once
   on the dev pages).
6. **Merge acronyms**: a one-word all-capitals name (dots ignored) merges into
   the one same-label multi-word name whose capitalised initials spell it
   ("UN" -> "United Nations", "U.S." -> "United States"); with no or several
   candidates it stays apart.
6b. **Drop words capitalised by position** (:func:`_drop_capitalised_common_words`):
   a one-word name seen only at a sentence or title start and used in
   lowercase in the article ("Retraites : ..." beside "des retraites").
   Titles and function words alone ("Première", "ministre du Travail") were
   already refused span by span (:func:`is_plausible_name`).
6c. **Recover untagged surnames** (:func:`_recover_surname_mentions`): a
   capitalised surname standing alone that the model did not tag ("Ives
   said") becomes a mention of the one person with that surname (particles
   included: "Le Maire"), never inside another span, next to another
   capitalised word, or as a month or day name.
7. **Name, label, count, rank** (all after the merges): the canonical
   ``name`` is the longest form seen (most words, then most characters, then
   most frequent, then earliest); ``aliases`` are the other distinct forms in
   order of first appearance; ``count`` is the number of mentions; the
   ``label`` is voted with the full-name mentions first
   (:func:`vote_entity_label`: each outweighs all shorter mentions together,
   so one "Adam Neumann" PERSON beats five "Neumann" ORG).  ``salience`` is
   the entity's share of the article's total mention weight, where a mention
   weighs 3.0 in the title, 2.0 in the lead (first paragraph, at most
   ``LEAD_MAX_CHARS``) and then decays linearly from 1.0 to 0.5 towards the
   end of the text; the saliences of one list sum to 1.  Entities are sorted
   by salience, ties by first appearance (title first).

Facts (DATE, MONEY, ...) go through steps 1-3 and 7 only: two dates are the
same fact only when they read the same.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ._name_words import (
    DETERMINERS,
    GERUND_FIRST_NAMES,
    HONORIFIC_BEFORE,
    LOCATIVE_WORDS,
    NOT_NAME_WORDS,
    SURNAME_PARTICLES,
)

__all__ = [
    "Mention",
    "Entity",
    "RawMention",
    "trim_span",
    "trim_person_lead",
    "is_plausible_name",
    "group_key",
    "is_person_shaped",
    "vote_label",
    "vote_entity_label",
    "merge_mentions",
    "TITLE_WEIGHT",
    "LEAD_WEIGHT",
    "LEAD_MAX_CHARS",
]

Field = Literal["title", "text"]

TITLE_WEIGHT = 3.0
LEAD_WEIGHT = 2.0
BODY_WEIGHT_START = 1.0
BODY_WEIGHT_END = 0.5
# A text without line breaks has no paragraph to call "the lead"; cap it.
LEAD_MAX_CHARS = 600


@dataclass(slots=True)
class Mention:
    field: Field
    start: int
    end: int


@dataclass(slots=True)
class Entity:
    name: str
    label: str
    count: int
    salience: float
    aliases: list[str] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)


@dataclass(slots=True)
class RawMention:
    """One span as NER found it, already mapped to the record's title or text."""

    text: str  # the surface form, exactly source[start:end]
    label: str
    field: Field
    start: int
    end: int


# -- step 1: normalising one span -------------------------------------------

_OPENERS = "\"'“”‘’«»‹›„‚([{<*#•·-–—/\\|"
_CLOSERS = "\"'“”‘’«»‹›„‚>*#•·-–—/\\|,;:!?"
_POSSESSIVE = re.compile(r"['’`]s$|(?<=[sSzZ])['’`]$")
_OPENER_OF = {")": "(", "]": "[", "}": "{"}
_LEADING_POSSESSIVE = re.compile(r"['’`]s\s+")
_INNER_POSSESSIVE = re.compile(r"['’`]s?\s")
_ARTICLE = re.compile(r"(?:the|a|an|le|la|les)\s+", re.IGNORECASE)
# French elided article/preposition ("l'Assemblée nationale", "d'Emmanuel Macron"):
# only the lowercase form goes, since "L'Oréal" and "L'Équipe" carry it in the name.
_ELIDED = re.compile(r"[ld]['’](?=\w)")
# "région Île-de-France", "département du Var", "province of Quebec": a lowercase
# administrative noun is no part of the place's name ("mer Noire", "rue de Rivoli" keep theirs).
_ADMINISTRATIVE = re.compile(r"(?:région|département|ville|commune|province|canton|state|city|county)\s+"
                             r"(?:(?:de|du|des|de la|of)\s+|d['’])?(?=[^\W\d_])")
# "M." (French Monsieur) needs its dot: a bare "M" is an initial.
_HONORIFIC = re.compile(r"(?:(?:mr|mrs|ms|mx|dr|prof|sir|dame|mme|mlle|mgr)\.?|m\.)\s+", re.IGNORECASE)
_SENTENCE_END = ".!?:;\n\"“”"
_HAS_WORD_CHAR = re.compile(r"\w")


def trim_span(source: str, start: int, end: int, label: str) -> tuple[int, int] | None:
    """Shrink ``source[start:end]`` to the name proper; ``None`` if nothing is left."""
    while True:
        before = (start, end)
        # Possessive first: a bare "’s" span must vanish, not leave an "s".
        possessive = _POSSESSIVE.search(source, start, end)
        if possessive and possessive.end() == end:
            end = possessive.start()
        # "the group’s Haqqani": NER sometimes starts a span at the possessive.
        leading = _LEADING_POSSESSIVE.match(source, start, end)
        if leading:
            start = leading.end()
        # "Ministry of Energy (MOTIE": an unclosed bracket ends the name; a
        # closing one without its opener is punctuation around the name.
        bracket = source.find("(", start, end)
        if bracket > start and source.find(")", bracket, end) < 0:
            end = bracket
        while end > start and source[end - 1] in ")]}" and _OPENER_OF[source[end - 1]] not in source[start:end]:
            end -= 1
        if label == "PERSON":
            # No one's name contains a possessive: "Robert Jordan’s Wheel".
            inner = _INNER_POSSESSIVE.search(source, start, end)
            if inner:
                end = inner.start()
        while start < end and (source[start].isspace() or source[start] in _OPENERS):
            start += 1
        while end > start and (source[end - 1].isspace() or source[end - 1] in _CLOSERS):
            end -= 1
        if end > start and source[end - 1] == "." and _is_sentence_period(source[start:end]):
            end -= 1
        article = _ARTICLE.match(source, start, end)
        # A capitalised article starts some surnames ("Le Pen", "Le Maire"): kept for people.
        if (article and article.end() < end and _article_is_not_part_of_name(source, start)
                and not (label == "PERSON" and source[start].isupper())):
            start = article.end()
        elided = _ELIDED.match(source, start, end)
        if elided and elided.end() < end:
            start = elided.end()
        if label in ("GPE", "LOC"):
            administrative = _ADMINISTRATIVE.match(source, start, end)
            if administrative and administrative.end() < end and source[administrative.end()].isupper():
                start = administrative.end()
        if label == "PERSON":
            honorific = _HONORIFIC.match(source, start, end)
            if honorific and honorific.end() < end:
                start = honorific.end()
        if (start, end) == before:
            break
    if start >= end or not _HAS_WORD_CHAR.search(source, start, end):
        return None
    return start, end


_WORD = re.compile(r"\S+")
_TRAILING_DOT = re.compile(r"\.$")


def trim_person_lead(source: str, start: int, end: int, *, anywhere_capitalised: bool = False) -> int:
    """New start of a PERSON span once leading words that are no part of a name are dropped.

    A capitalised function word or title ("After", "Selon", "President") goes
    wherever it stands; an "-ing" word ("Hosting Cook") goes where
    capitalisation says nothing: at a sentence start, or anywhere in a title
    (``anywhere_capitalised``).  At least one word always stays, so a wrong
    span still names someone.  Runs before ambiguity is decided, so a
    mis-spanned "Hosting Cook" cannot pose as a second person called Cook.
    (Dropping any sentence-initial word the article also uses in lowercase
    was tried: it split "Good Ventures" on the dev pages and fixed nothing.)
    """
    while True:
        words = list(_WORD.finditer(source, start, end))
        if len(words) < 2:
            return start
        first = words[0].group()
        word = _TRAILING_DOT.sub("", first).casefold()
        drop = word in NOT_NAME_WORDS
        if not drop and word.endswith("ing") and len(word) >= 6 and word not in GERUND_FIRST_NAMES:
            drop = anywhere_capitalised or _at_sentence_start(source, start)
        if not drop:
            return start
        start = words[1].start()


def _at_sentence_start(source: str, start: int) -> bool:
    if start > len(source):
        return False  # the source was not given: nothing is known about the position
    i = start - 1
    while i >= 0 and source[i] in " \t\"“”'‘’«»(":
        i -= 1
    return i < 0 or source[i] in ".!?:;\n—–-"


_URL_LIKE = re.compile(r"://|www\.|\w\.[a-z]{2,6}/|@\w")


def is_plausible_name(surface: str, label: str) -> bool:
    """Reject spans that cannot be names, whatever the model said.

    A name in a cased script has a capital letter ("n’t", "marijuana" do
    not; caseless scripts pass); a person's name has no digits ("P.O. Box
    69440"); URLs and handles are not names.
    """
    if any(ch.islower() for ch in surface) and not any(ch.isupper() for ch in surface):
        return False
    if label == "PERSON" and any(ch.isdigit() for ch in surface):
        return False
    words = surface.split()
    # "ministre du Travail", a lone "Première" or "President": a title or a
    # function word, not a name ("mer Noire", "rue de Rivoli" stay).
    if (words and (len(words) == 1 or words[0][:1].islower()) and words[0].casefold() in NOT_NAME_WORDS
            and not words[0].isupper()):  # "WHO" is an organisation, "Who" is not
        return False
    return not _URL_LIKE.search(surface)


def _is_sentence_period(surface: str) -> bool:
    """True when a trailing '.' closes the sentence rather than an abbreviation.

    "U.S." and "Inc." keep their dot; "Washington." loses it.  A last word
    with no other dot and at least five letters before it is no abbreviation.
    """
    last_word = surface.rsplit(None, 1)[-1][:-1]
    return "." not in last_word and len(last_word) >= 5 and not last_word.isupper()


def _article_is_not_part_of_name(source: str, start: int) -> bool:
    """A lowercase article is never part of a name; a capitalised "The" is,
    unless it merely starts the sentence ("The Hague" mid-sentence stays)."""
    if source[start].islower():
        return True
    i = start - 1
    while i >= 0 and source[i] in " \t":
        i -= 1
    return i < 0 or source[i] in _SENTENCE_END


# -- step 2-3: grouping and voting ------------------------------------------

_KEY_DROP = re.compile(r"[.\u00ad]")
_SPACES = re.compile(r"\s+")


def display_form(surface: str) -> str:
    """The surface form as shown in ``name``/``aliases``: whitespace collapsed."""
    return _SPACES.sub(" ", surface).strip()


def group_key(surface: str) -> str:
    """Identity of a name: case, dots, apostrophe style and spacing ignored."""
    key = _KEY_DROP.sub("", surface).replace("’", "'").replace("‘", "'")
    return _SPACES.sub(" ", key).strip().casefold()


_PERSON_WORD = re.compile(r"^(?:[^\W\d_][\w'’.\-]*|[^\W\d_]{1,3})$")


def is_person_shaped(name: str) -> bool:
    """1-5 words, the first and last capitalised, no digits ("Mohammed bin Salman", "Élisabeth Borne")."""
    words = name.split()
    if not 1 <= len(words) <= 5 or any(ch.isdigit() for ch in name):
        return False
    if not (words[0][:1].isupper() and words[-1][:1].isupper()):
        return False
    # Inner words: capitalised, or short particles ("bin", "de", "van").
    return all(_PERSON_WORD.match(w) and (w[:1].isupper() or len(w) <= 3) for w in words)


def vote_label(labels: Sequence[str], name: str) -> str:
    """Majority label; ties go to PERSON for person-shaped names, else the earliest."""
    counts = Counter(labels)
    best = max(counts.values())
    tied = [label for label in dict.fromkeys(labels) if counts[label] == best]
    if len(tied) > 1 and "PERSON" in tied and is_person_shaped(name):
        return "PERSON"
    return tied[0]


def vote_entity_label(mentions: Sequence[tuple[str, str]], name: str) -> str:
    """Label of a merged entity from its ``(form, label)`` mentions, in text order.

    The mentions of the full name (forms equal to ``name`` up to case, dots
    and spacing) vote first: each outweighs every shorter mention together,
    since a surname alone is what the model mis-types ("Neumann" ORG beside
    "Adam Neumann" PERSON).  A tie among them goes to PERSON for a
    person-shaped name; the shorter mentions break any other tie, then the
    earliest label wins.
    """
    key = group_key(name)
    is_full = {form: group_key(form) == key for form in dict.fromkeys(form for form, _ in mentions)}
    full = Counter(label for form, label in mentions if is_full[form])
    every = Counter(label for _, label in mentions)
    order = list(dict.fromkeys(label for _, label in mentions))
    top = max(full.values(), default=0)
    tied = [label for label in order if full[label] == top]
    if len(tied) > 1 and "PERSON" in tied and is_person_shaped(name):
        return "PERSON"
    best = max(every[label] for label in tied)
    return next(label for label in tied if every[label] == best)


@dataclass(slots=True)
class _Group:
    """Mentions of one name (then of one entity, once groups are merged)."""

    mentions: list[RawMention]
    label: str = ""
    forms: list[str] = field(default_factory=list)  # display forms, one per mention
    # Merging asks every group about every person: cache per number of forms
    # (forms are only ever appended to).
    _cached: tuple[int, str, list[list[str]]] | None = None

    def _cache(self) -> tuple[int, str, list[list[str]]]:
        if self._cached is None or self._cached[0] != len(self.forms):
            words = [group_key(form).split() for form in dict.fromkeys(self.forms)]
            self._cached = (len(self.forms), _canonical(self.forms), words)
        return self._cached

    @property
    def longest_form(self) -> str:
        return self._cache()[1]

    def word_lists(self) -> list[list[str]]:
        return self._cache()[2]


def _canonical(forms: list[str]) -> str:
    counts = Counter(forms)
    first_seen = {form: i for i, form in reversed(list(enumerate(forms)))}
    return max(counts, key=lambda f: (len(f.split()), len(f), counts[f], -first_seen[f]))


# -- steps 4-5: merging groups ------------------------------------------------


def _contains_words(longer: list[str], shorter: list[str]) -> bool:
    n = len(shorter)
    return len(longer) > n and any(longer[i:i + n] == shorter for i in range(len(longer) - n + 1))


def _ends_with(longer: list[str], shorter: list[str]) -> bool:
    return len(longer) > len(shorter) and longer[-len(shorter):] == shorter


def _merge_partial_persons(groups: list[_Group]) -> list[_Group]:
    persons = [g for g in groups if g.label == "PERSON"]
    others = [g for g in groups if g.label != "PERSON"]
    # Longest names first, so each shorter name sees the full names as roots.
    persons.sort(key=lambda g: (-len(group_key(g.longest_form).split()), g.mentions[0].field != "title",
                                g.mentions[0].start))
    roots: list[_Group] = []
    for group in persons:
        words = group_key(group.longest_form).split()
        owners = [root for root in roots
                  if any(_contains_words(candidate, words) for candidate in root.word_lists())]
        if len(owners) > 1:
            # Where a surname sits is evidence: "Andreessen" is Marc Andreessen's
            # surname, not the one that starts "Andreessen Horowitz" (a firm the
            # model typed PERSON).  Only a single name ending in the words wins.
            owners = [root for root in owners if any(_ends_with(candidate, words) for candidate in root.word_lists())]
        if len(owners) == 1:
            owners[0].mentions.extend(group.mentions)
            owners[0].forms.extend(group.forms)
        else:
            roots.append(group)
    return others + roots


def _merge_into_persons(groups: list[_Group], sources: dict[str, str]) -> list[_Group]:
    """Cross-label merging: a non-PERSON group that names one person by surname joins them.

    A group merges into a PERSON when its name, honorific dropped ("Dr
    Haverkamp" -> "Haverkamp"), equals the last word or words of that
    person's full name ("Neumann" ORG -> "Adam Neumann", "Eriksson Ek" ORG ->
    "Joel Eriksson Ek") and of no other person's: with "Joe Biden" and
    "Hunter Biden" in one article, "Biden" stays apart.  A group seen after
    a locative word ("in Jordan") is a place and stays apart too, unless an
    honorific says it is a person ("Mr. Jordan").
    """
    roots = [g for g in groups if g.label == "PERSON"]
    kept: list[_Group] = []
    for group in groups:
        # NORP ("Armenian", "Democrats") names groups of people, never one person's surname.
        if group.label in ("PERSON", "NORP"):
            kept.append(group)
            continue
        form = group.longest_form
        honorific = _HONORIFIC.match(form)
        words = group_key(form[honorific.end():] if honorific else form).split()
        owners = ([root for root in roots if any(_ends_with(candidate, words) for candidate in root.word_lists())]
                  if 1 <= len(words) <= 3 else [])
        titled = honorific is not None or any(_after_honorific(m, sources) for m in group.mentions)
        if len(owners) != 1 or (not titled and any(_after_locative(m, sources) for m in group.mentions)):
            kept.append(group)
            continue
        for mention in group.mentions:
            if honorific is not None:
                mention = _drop_honorific(mention)
            owners[0].mentions.append(mention)
            owners[0].forms.append(display_form(mention.text))
    return kept


def _preceding(mention: RawMention, sources: dict[str, str], chars: int = 16) -> str:
    source = sources.get(mention.field, "")
    return source[max(0, mention.start - chars):mention.start]


def _after_honorific(mention: RawMention, sources: dict[str, str]) -> bool:
    return HONORIFIC_BEFORE.search(_preceding(mention, sources)) is not None


_LAST_WORD = re.compile(r"(\w+)\s+$")


def _after_locative(mention: RawMention, sources: dict[str, str]) -> bool:
    last = _LAST_WORD.search(_preceding(mention, sources))
    return last is not None and last.group(1).casefold() in LOCATIVE_WORDS


def _drop_honorific(mention: RawMention) -> RawMention:
    honorific = _HONORIFIC.match(mention.text)
    if honorific is None:
        return mention
    cut = honorific.end()
    return RawMention(mention.text[cut:], mention.label, mention.field, mention.start + cut, mention.end)


_MONTHS_AND_DAYS = frozenset("""
january february march april may june july august september october november december monday tuesday wednesday
thursday friday saturday sunday janvier février mars avril mai juin juillet août septembre octobre novembre
décembre lundi mardi mercredi jeudi vendredi samedi dimanche
""".split())
_NAME_CHAR = re.compile(r"[\w\-]")


def _recover_surname_mentions(groups: list[_Group], sources: dict[str, str],
                              occupied: Sequence[RawMention]) -> None:
    """Add the bare-surname mentions the model did not tag at all ("Ives said").

    For a person named in full (two or more words), every further
    capitalised occurrence of the surname (the last word, at least three
    letters) standing alone becomes a mention of that person, when:

    * no other person in the article shares the surname and no other entity
      goes by it (a "Jordan" kept apart as a place blocks "Jordan");
    * it overlaps no span the model tagged (names or facts);
    * it is no part of a longer capitalised name: the words right before and
      after it are not capitalised ("Capitol Hill", "Cook Islands" do not
      count for Fiona Hill or Tim Cook);
    * at a sentence start, where any word is capitalised, only if the
      article never uses the word in lowercase ("White smoke rose" is no
      mention of Jack White when "white" is used elsewhere).
    """
    persons = [g for g in groups if g.label == "PERSON"]
    surnames: Counter[str] = Counter()
    owner: dict[str, _Group] = {}
    for group in persons:
        for words in {tuple(w) for w in group.word_lists()}:
            if len(words) >= 2:
                surname = _surname_of(words)
                surnames[surname] += owner.get(surname) is not group
                owner[surname] = group
    taken = {" ".join(words) for g in groups for words in g.word_lists()
             if (g.label != "PERSON" or len(words) == 1) and owner.get(" ".join(words)) is not g}
    spans: dict[str, list[tuple[int, int]]] = {"title": [], "text": []}
    for mention in [m for g in groups for m in g.mentions] + list(occupied):
        spans.setdefault(mention.field, []).append((mention.start, mention.end))
    for key, count in surnames.items():
        group = owner[key]
        if count != 1 or key in taken or key in _MONTHS_AND_DAYS or key in NOT_NAME_WORDS or len(key) < 3:
            continue
        length = len(key.split())
        surface = next((" ".join(f.split()[-length:]) for f in group.forms
                        if len(f.split()) > length and group_key(" ".join(f.split()[-length:])) == key), None)
        if surface is None or not surface[:1].isupper():
            continue
        lowercase = surface.lower()
        for field_name, source in sources.items():
            used_lowercase = any(True for _ in _whole_words(source, lowercase))
            for start, end in _whole_words(source, surface):
                if start > 0 and source[start - 1] in "'’":
                    continue  # "l'Hidalgo"-like elisions and quotes glued to a word: not a clean mention
                if any(s < end and start < e for s, e in spans.get(field_name, [])):
                    continue
                if not _stands_alone(source, start, end, used_lowercase):
                    continue
                group.mentions.append(RawMention(surface, "PERSON", field_name, start, end))  # type: ignore[arg-type]
                group.forms.append(surface)
                spans[field_name].append((start, end))


def _whole_words(source: str, word: str) -> Iterator[tuple[int, int]]:
    """Offsets of ``word`` in ``source`` as a whole word (str.find: no regex to compile per name)."""
    start = source.find(word)
    while start >= 0:
        end = start + len(word)
        if (start == 0 or not _NAME_CHAR.match(source[start - 1])) and (
                end == len(source) or not _NAME_CHAR.match(source[end])):
            yield start, end
        start = source.find(word, start + 1)


def _drop_capitalised_common_words(groups: list[_Group], sources: dict[str, str]) -> list[_Group]:
    """Drop one-word "names" that are common words capitalised by their position.

    A one-word entity whose every mention starts a sentence, a paragraph or
    the title, where any word is capitalised, and whose word the article
    also uses in lowercase, is that common word: "Retraites : Élisabeth Borne
    ..." (a headline kicker; "la réforme des retraites" in the text).
    """
    kept = []
    for group in groups:
        form = group.longest_form
        if " " in form or len(group.forms) != len(group.mentions):
            kept.append(group)
            continue
        positional = all(_at_sentence_start(sources.get(m.field, ""), m.start) for m in group.mentions)
        if positional and form[:1].isupper() and form[1:].islower() and any(
                any(True for _ in _whole_words(src, form.lower())) for src in sources.values()):
            continue
        kept.append(group)
    return kept


def _surname_of(words: tuple[str, ...]) -> str:
    """The last word with the particles before it ("le maire" of "bruno le maire"), first name excluded."""
    start = len(words) - 1
    while start > 1 and words[start - 1] in SURNAME_PARTICLES:
        start -= 1
    return " ".join(words[start:])


def _stands_alone(source: str, start: int, end: int, used_lowercase: bool) -> bool:
    after = re.match(r"[ \t]+(\S)", source[end:end + 3])
    if after and (after.group(1).isupper() or after.group(1).isdigit()):
        return False  # "Cook Islands", "Wi-Fi 6"
    i = start - 1
    while i >= 0 and source[i] in " \t":
        i -= 1
    if i < 0 or source[i] in ".!?\n:;\"“”«»—":
        return not used_lowercase  # a sentence start capitalises any word
    if source[i].isalpha():
        j = i
        while j > 0 and _NAME_CHAR.match(source[j - 1]):
            j -= 1
        previous = source[j:i + 1]
        # "Capitol Hill", "iPad Pro": part of a longer name; "a Wi-Fi upgrade": no person.
        return not any(ch.isupper() for ch in previous) and previous.casefold() not in DETERMINERS
    return True


def _initials(name: str) -> str:
    return "".join(word[0] for word in re.split(r"[\s\-]+", name) if word[:1].isupper())


def _merge_acronyms(groups: list[_Group]) -> list[_Group]:
    merged: list[_Group] = []
    absorbed: set[int] = set()
    for group in groups:
        form = group.longest_form
        letters = form.replace(".", "")
        if not (" " not in form and 2 <= len(letters) <= 6 and letters.isalpha() and letters.isupper()):
            continue
        owners = [other for other in groups
                  if other is not group and other.label == group.label
                  and len(other.longest_form.split()) >= 2
                  and any(_initials(f) == letters for f in set(other.forms))]
        if len(owners) == 1:
            owners[0].mentions.extend(group.mentions)
            owners[0].forms.extend(group.forms)
            absorbed.add(id(group))
    merged = [g for g in groups if id(g) not in absorbed]
    return merged


# -- step 6: naming, counting, ranking ---------------------------------------


def _weight(mention: RawMention, text_length: int, lead_end: int) -> float:
    if mention.field == "title":
        return TITLE_WEIGHT
    if mention.start < lead_end:
        return LEAD_WEIGHT
    tail = max(1, text_length - lead_end)
    progress = min(1.0, max(0.0, (mention.start - lead_end) / tail))
    return BODY_WEIGHT_START - (BODY_WEIGHT_START - BODY_WEIGHT_END) * progress


def lead_end_of(text: str) -> int:
    """End offset of the lead: the first paragraph, at most LEAD_MAX_CHARS long."""
    body_start = len(text) - len(text.lstrip())
    newline = text.find("\n", body_start)
    end = len(text) if newline < 0 else newline
    return min(end, body_start + LEAD_MAX_CHARS)


def _order(mention: RawMention) -> tuple[int, int]:
    return (0 if mention.field == "title" else 1, mention.start)


def merge_mentions(raw: Iterable[RawMention], *, text: str, title: str = "",
                   merge_names: bool = True, occupied: Sequence[RawMention] = ()) -> list[Entity]:
    """Merge raw spans (already trimmed, see :func:`trim_span`) into entities.

    ``text`` is the record's text, used for the salience position weights;
    ``title`` and ``text`` give the words before a mention (honorifics,
    "in Jordan").  ``merge_names=False`` skips the person/acronym merging
    (used for facts).  ``occupied``: other spans (facts) that a recovered
    surname mention may not overlap.
    """
    by_key: dict[str, _Group] = {}
    for mention in sorted(raw, key=_order):
        form = display_form(mention.text)
        group = by_key.setdefault(group_key(form), _Group(mentions=[]))
        group.mentions.append(mention)
        group.forms.append(form)
    groups = list(by_key.values())
    for group in groups:
        group.label = vote_label([m.label for m in group.mentions], group.longest_form)
    if merge_names:
        groups = _merge_partial_persons(groups)
        groups = _merge_into_persons(groups, {"title": title, "text": text})
        groups = _merge_acronyms(groups)
        groups = _drop_capitalised_common_words(groups, {"title": title, "text": text})
        _recover_surname_mentions(groups, {"title": title, "text": text}, occupied)

    lead_end = lead_end_of(text)
    scored: list[tuple[float, tuple[int, int], Entity]] = []
    for group in groups:
        group.mentions.sort(key=_order)
        # Forms in mention order, so "earliest" in the canonical choice is the text order.
        forms = [display_form(m.text) for m in group.mentions]
        name = _canonical(forms)
        score = sum(_weight(m, len(text), lead_end) for m in group.mentions)
        entity = Entity(
            name=name,
            label=vote_entity_label([(form, m.label) for form, m in zip(forms, group.mentions, strict=True)], name),
            count=len(group.mentions),
            salience=score,
            aliases=[f for f in dict.fromkeys(forms) if f != name],
            mentions=[Mention(m.field, m.start, m.end) for m in group.mentions],
        )
        scored.append((score, _order(group.mentions[0]), entity))
    total = sum(score for score, _, _ in scored) or 1.0
    scored.sort(key=lambda item: (-item[0], item[1]))
    for score, _, entity in scored:
        entity.salience = round(score / total, 4)
    return [entity for _, _, entity in scored]
