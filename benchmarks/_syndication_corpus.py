"""The syndication benchmark's corpus: wire copies of the DEV articles and same-topic distinct pairs.

Every DEV article (ground-truth body) is an original story.  Each gets two
syndicated copies, built the way republishing sites change a wire story:

* copy 1: a dateline in front ("WASHINGTON (AP) — "), the last paragraph(s)
  cut (up to 30% of the words), one sentence edited, a "Related" block of
  other headlines appended;
* copy 2: another dateline, one sentence edited elsewhere, the last paragraph cut.

Copies get a new headline and, for the pipeline runs, a page template of their
own (:func:`copy_page`).  The edits are random but seeded by the article key,
so every run builds the same corpus.  The same-topic pairs are written by hand
(``data/syndication/same_topic.json``): two reports of one event that share
names, figures and a quote and must stay two stories.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _dev_data() -> Path:
    """shared/data/extraction-dev beside the checkout (or beside a worktree's parent)."""
    for parent in REPO.parents:
        candidate = parent / "shared" / "data" / "extraction-dev"
        if candidate.is_dir():
            return candidate
    raise SystemExit("shared/data/extraction-dev not found beside the checkout")


DEV = _dev_data()
SAME_TOPIC = Path(__file__).resolve().parent / "data" / "syndication" / "same_topic.json"

DATELINES = ["WASHINGTON (AP) — ", "LONDON (Reuters) - ", "NEW YORK (AP) — ", "PARIS (AFP) — ",
             "BERLIN (dpa) — ", "SYDNEY (AAP) - "]
RELATED = ["Related coverage", "More from our partners", "Related stories", "Read more"]
FILLER_HEADLINES = [
    "Markets close higher as tech shares rally", "Weather service warns of storms this weekend",
    "City council approves new budget after long debate", "Five things to know before you travel this summer",
    "Scientists report progress on battery recycling", "Local team advances to the regional final",
    "How to save on your energy bill this winter", "Museum reopens after two-year renovation",
]
EDIT_WORDS = ["reportedly", "also", "on Tuesday", "meanwhile", "however", "in a statement"]


@dataclass(frozen=True)
class Article:
    key: str        # unique per article
    story: str      # articles with the same story are one syndicated story
    title: str
    text: str       # paragraphs separated by blank lines
    original: str | None = None  # DEV key whose page this is (None: a page built from text)


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def _edit_sentence(paragraphs: list[str], rng: random.Random) -> list[str]:
    """Reword one sentence: a word dropped, a word replaced, a phrase inserted."""
    candidates = [i for i, p in enumerate(paragraphs) if len(p.split()) >= 12]
    if not candidates:
        return paragraphs
    i = rng.choice(candidates)
    words = paragraphs[i].split()
    start = rng.randrange(0, max(1, len(words) - 10))
    del words[start + 2]
    words[start + 5] = rng.choice(["said", "noted", "added", "stated"])
    words.insert(start + 7, rng.choice(EDIT_WORDS))
    out = list(paragraphs)
    out[i] = " ".join(words)
    return out


def _cut_tail(paragraphs: list[str], rng: random.Random, most: int) -> list[str]:
    """Drop 1..most trailing paragraphs while at most 30% of the words go (never all)."""
    total = sum(len(p.split()) for p in paragraphs)
    out = list(paragraphs)
    for _ in range(rng.randint(1, most)):
        if len(out) < 3 or sum(len(p.split()) for p in out[:-1]) < 0.7 * total:
            break
        out.pop()
    return out


def syndicated_copy(key: str, title: str, text: str, variant: int) -> Article:
    rng = random.Random(hashlib.sha256(f"{key}:{variant}".encode()).digest())
    paragraphs = _paragraphs(text)
    if variant == 1:
        paragraphs = _cut_tail(paragraphs, rng, 2)
        paragraphs = _edit_sentence(paragraphs, rng)
        related = rng.sample(FILLER_HEADLINES, 3)
        paragraphs = paragraphs + [rng.choice(RELATED)] + related
    else:
        paragraphs = _edit_sentence(paragraphs, rng)
        paragraphs = _cut_tail(paragraphs, rng, 1)
    paragraphs[0] = rng.choice(DATELINES) + paragraphs[0]
    prefix, suffix = rng.choice(['UPDATE: ', 'Wire: ', '', 'Report: ']), rng.choice(['', '| News', '- World'])
    new_title = f"{prefix}{title} {suffix}".strip()
    return Article(f"{key}~copy{variant}", key, new_title, "\n\n".join(paragraphs))


def _title(text: str) -> str:
    return " ".join(text.split()[:8])


def dev_articles() -> list[Article]:
    truth = json.loads((DEV / "ground-truth.json").read_text())
    return [Article(key, key, _title(value["articleBody"]), value["articleBody"], original=key)
            for key, value in sorted(truth.items())]


def same_topic_articles() -> list[Article]:
    pairs = json.loads(SAME_TOPIC.read_text())["pairs"]
    out = []
    for n, pair in enumerate(pairs):
        for side in ("a", "b"):
            out.append(Article(f"topic{n}{side}", f"topic{n}{side}", pair[side]["title"], pair[side]["text"]))
    return out


def corpus() -> list[Article]:
    """Originals, two copies of each, and the same-topic pairs."""
    originals = dev_articles()
    copies = [syndicated_copy(a.key, a.title, a.text, variant) for a in originals for variant in (1, 2)]
    return originals + copies + same_topic_articles()


def same_topic_pairs() -> list[tuple[str, str]]:
    return [(f"topic{n}a", f"topic{n}b") for n in range(len(json.loads(SAME_TOPIC.read_text())["pairs"]))]


def dev_page(key: str) -> bytes:
    return gzip.decompress((DEV / "html" / f"{key}.html.gz").read_bytes())


def copy_page(article: Article, site: int) -> bytes:
    """A page in one of three templates of our own: navigation, headline, byline, body, footer."""
    nav = "".join(f'<li><a href="/section/{s}">{s.title()}</a></li>' for s in ("world", "business", "sport", "culture"))
    body = "".join(f"<p>{html.escape(p)}</p>" for p in _paragraphs(article.text))
    if site == 0:
        main = f'<article><h1>{html.escape(article.title)}</h1><p class="byline">By Wire Staff</p>{body}</article>'
    elif site == 1:
        main = (f'<div class="story"><header><h1 class="headline">{html.escape(article.title)}</h1>'
                f'<time datetime="2026-12-01T10:00:00Z">1 December 2026</time></header>'
                f'<div class="story-body">{body}</div></div>')
    else:
        main = (f'<main><div class="post"><h2>{html.escape(article.title)}</h2>'
                f'<section class="entry-content">{body}</section>'
                '<div class="share">Share this article</div></div></main>')
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(article.title)}</title>'
            f'</head><body><nav><ul>{nav}</ul></nav>{main}'
            f'<footer><p>© 2026 Example Daily {site}. All rights reserved.</p>'
            f'<a href="/privacy">Privacy</a> <a href="/terms">Terms</a></footer></body></html>').encode()


def words(text: str) -> int:
    return len(re.findall(r"\w+", text))
