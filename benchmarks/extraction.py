"""Extraction benchmark: newswire's text (page checks, extract, clean: what the worker publishes) against plain
trafilatura.

    python benchmarks/extraction.py [--data DIR] [--variants] [--worst N] [--harm N] [--repeat N] [--fast]

DIR has the layout of ``shared/data/extraction-dev``: ``html/<key>.html.gz``
and ``ground-truth.json`` (``{key: {"articleBody", "url"}}``).  Prints, for
newswire and for ``trafilatura.extract`` (defaults) on the same pages in the
same run:

* F1 / precision / recall with the metric of the data set's README
  (4-token shingle multisets, per-page means, F1 of the means), and accuracy;
* "headline left": the share of pages whose output still contains the
  page's headline (``_variants.page_headline``: og:title / h1 / <title>),
  compared normalised (case, punctuation, quotes, whitespace, unicode form),
  as a substring of the normalised text at word boundaries;
* the same F1 / P / R for English pages and for all other languages (language
  of the true text by py3langid);
* pages/s, and newswire's throughput as a ratio of trafilatura's (extractors
  alternate page by page; per page the fastest of ``--repeat`` passes counts);
  on the original pages also the extraction stage alone (``newswire extract
  only``: without the checks of ``workers.pipeline.extract.classify`` for bot walls,
  application shells, index pages and paywalls), so each cost shows.

* **harm** (the "do no harm" check on newswire's cleaning stages): per page,
  the text trafilatura returned (``extract_article(keep_base=True)``) against
  the published text: how many shingles cleaning removed, how many of those
  are article text (in the ground truth), and the pages where cleaning lowered
  recall by more than 0.05 (target: none); ``--harm N`` lists the N pages
  losing most article text with the rules that removed it;

``--variants`` repeats the table on copies of the pages with the headline
injected as a sticky bar, a mid-article <h2> and a "Read more:" line (see
``_variants``); the ground truth is unchanged because the article is.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable as a plain script from anywhere
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _variants import VARIANTS, make_variant, page_headline

from workers.errors import NewswireError
from workers.pipeline.dedupe import dedupe_article
from workers.pipeline.explain import Explanation, explain_extraction
from workers.pipeline.extract import extract_article, render_text
from workers.pipeline.extract.classify import extract_classified
from workers.pipeline.extract.text import normalise

DEFAULT_DATA = REPO.parent / "shared" / "data" / "extraction-dev"
_TOKEN = re.compile(r"\w+")


# -- metric (README of extraction-dev) -------------------------------------------


def shingles(text: str | None) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text or "")
    if not tokens:
        return Counter()
    if len(tokens) < 4:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i : i + 4]) for i in range(len(tokens) - 3))


@dataclass(slots=True)
class PageScore:
    precision: float | None  # None: empty prediction (left out of the precision mean)
    recall: float | None  # None: empty truth (left out of the recall mean)
    exact: bool


def score_page(predicted: str | None, truth: str | None) -> PageScore:
    pred, true = shingles(predicted), shingles(truth)
    tp = sum((pred & true).values())
    fp = sum(pred.values()) - tp
    fn = sum(true.values()) - tp
    precision = tp / (tp + fp) if pred else None
    recall = None if not true else (tp / (tp + fn) if pred else 0.0)
    exact = _TOKEN.findall(predicted or "") == _TOKEN.findall(truth or "")
    return PageScore(precision, recall, exact)


@dataclass(slots=True)
class Summary:
    f1: float
    precision: float
    recall: float
    accuracy: float


def summarise(scores: list[PageScore]) -> Summary:
    ps = [s.precision for s in scores if s.precision is not None]
    rs = [s.recall for s in scores if s.recall is not None]
    p = sum(ps) / len(ps) if ps else 0.0
    r = sum(rs) / len(rs) if rs else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return Summary(f1, p, r, sum(s.exact for s in scores) / max(1, len(scores)))


def headline_count(text: str | None, headline: str | None) -> int:
    """Occurrences of the normalised headline in the normalised text, at word boundaries."""
    if not text or not headline:
        return 0
    key = normalise(headline)
    return f" {normalise(text)} ".count(f" {key} ") if key else 0


def contains_headline(text: str | None, headline: str | None) -> bool:
    return headline_count(text, headline) > 0


# -- extractors --------------------------------------------------------------------


FAST = False  # --fast: extract_article(fast=True)


def newswire_stage_text(html: str, url: str | None) -> str:
    """The extraction stage alone (extract + clean), without the page checks of workers.pipeline.extract.classify."""
    try:
        article = extract_article(html, url, fast=FAST)
    except NewswireError:
        return ""
    return render_text(dedupe_article(article).blocks)


def newswire_text(html: str, url: str | None) -> str:
    """What the worker publishes as the text: the page classified and extracted, then cleaned."""
    try:
        article = extract_article(html, url, fast=True) if FAST else extract_classified(html, url).article
    except NewswireError:  # empty, or typed as no article (bot wall, app shell, index page)
        return ""
    return render_text(dedupe_article(article).blocks)


def trafilatura_text(html: str, url: str | None) -> str:
    import trafilatura

    return trafilatura.extract(html, url=url) or ""


# -- running ----------------------------------------------------------------------


@dataclass(slots=True)
class Page:
    key: str
    url: str | None
    html: str
    truth: str
    headline: str | None


def load_pages(data: Path) -> list[Page]:
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for key in sorted(truth):
        path = data / "html" / f"{key}.html.gz"
        if not path.exists():
            path = data / "html" / f"{key}.html"
            raw = path.read_text(encoding="utf-8")
        else:
            raw = gzip.decompress(path.read_bytes()).decode("utf-8")
        pages.append(Page(key, truth[key].get("url"), raw, truth[key].get("articleBody") or "", page_headline(raw)))
    return pages


@dataclass(slots=True)
class Run:
    outputs: dict[str, str]
    seconds: float


def run_interleaved(
    extractors: dict[str, Callable[[str, str | None], str]], pages: list[Page], repeat: int
) -> dict[str, Run]:
    """Run every extractor on every page, alternating extractors page by page so
    that load from other processes hits both alike; per page the fastest of
    ``repeat`` passes counts (outputs from the last pass)."""
    best: dict[str, dict[str, float]] = {name: {} for name in extractors}
    outputs: dict[str, dict[str, str]] = {name: {} for name in extractors}
    for _ in range(max(1, repeat)):
        for page in pages:
            for name, extractor in extractors.items():
                normalise.cache_clear()  # each page is new in production: no warm cache from an earlier pass
                started = time.perf_counter()
                outputs[name][page.key] = extractor(page.html, page.url)
                elapsed = time.perf_counter() - started
                best[name][page.key] = min(elapsed, best[name].get(page.key, float("inf")))
    return {name: Run(outputs[name], sum(best[name].values())) for name in extractors}


# -- harm: what cleaning removed from trafilatura's text -------------------------------

_HARM_RECALL_DROP = 0.05


@dataclass(slots=True)
class PageHarm:
    key: str
    removed: int  # shingles of the base text that cleaning removed
    removed_article: int  # ... of which the ground truth has
    recall_drop: float  # recall(base text) - recall(published text)
    explanation: Explanation | None


def page_harm(page: Page) -> PageHarm:
    try:
        explanation = explain_extraction(page.html, page.url, fast=FAST)
    except NewswireError:
        return PageHarm(page.key, 0, 0, 0.0, None)
    base, final, truth = shingles(explanation.base_text), shingles(explanation.text), shingles(page.truth)
    removed = base - final
    base_score, final_score = score_page(explanation.base_text, page.truth), score_page(explanation.text, page.truth)
    drop = (base_score.recall or 0.0) - (final_score.recall or 0.0)
    # article text removed: true shingles the base text matched and the published text no
    # longer does (a duplicate copy removed while one copy stays is not article text lost)
    lost = (base & truth) - (final & truth)
    return PageHarm(page.key, sum(removed.values()), sum(lost.values()), drop, explanation)


def report_harm(pages: list[Page], listed: int) -> None:
    harms = [page_harm(p) for p in pages]
    removed = sum(h.removed for h in harms)
    article = sum(h.removed_article for h in harms)
    harmed = [h for h in harms if h.recall_drop > _HARM_RECALL_DROP]
    share = article / removed if removed else 0.0
    print(
        f"harm: cleaning removed {removed} shingles, {article} of them article text ({share:.1%}); "
        f"pages where cleaning lowered recall by > {_HARM_RECALL_DROP}: {len(harmed)}"
        + (f" ({', '.join(h.key[:16] for h in harmed)})" if harmed else "")
    )
    by_rule: dict[str, list[int]] = {}  # rule -> [blocks, shingles, article shingles]
    for h in harms:
        if h.explanation is None:
            continue
        truth = next(p.truth for p in pages if p.key == h.key)
        # true shingles the published text misses: what a removal may have taken from the article
        missing = shingles(truth) - shingles(h.explanation.text)
        for removal in h.explanation.removals:
            counts = by_rule.setdefault(f"{removal.stage}:{removal.rule}", [0, 0, 0])
            removed_shingles = shingles(removal.text)
            counts[0] += 1
            counts[1] += sum(removed_shingles.values())
            counts[2] += sum((removed_shingles & missing).values())
    print("  by rule (blocks, shingles, of which in the true text): " + ", ".join(
        f"{rule} {b}/{n}/{a}" for rule, (b, n, a) in sorted(by_rule.items(), key=lambda kv: -kv[1][2])
    ))
    fallbacks = Counter(h.explanation.candidate for h in harms
                        if h.explanation and h.explanation.candidate != "default")
    print(f"  extraction looked incomplete and a candidate was used on {sum(fallbacks.values())} page(s)"
          + (f": {dict(fallbacks)}" if fallbacks else ""))
    for h in sorted(harms, key=lambda h: -h.removed_article)[:listed]:
        if not h.removed_article or h.explanation is None:
            continue
        print(f"  {h.key[:16]}  article shingles removed {h.removed_article}, recall -{h.recall_drop:.3f}")
        truth = next(p.truth for p in pages if p.key == h.key)
        missing = shingles(truth) - shingles(h.explanation.text)
        for removal in h.explanation.removals:
            if shingles(removal.text) & missing:
                print(f"    [{removal.stage}:{removal.rule}] {removal.text[:100]!r}")


STAGE_ONLY = "newswire extract only"


def report(title: str, pages: list[Page], repeat: int, worst: int, harm: int = 0,
           stage_only: bool = False) -> dict[str, Summary]:
    extractors = {"trafilatura.extract": trafilatura_text, "newswire": newswire_text}
    if stage_only:  # the extraction stage without the page checks (bot walls, shells, index pages, paywalls)
        extractors[STAGE_ONLY] = newswire_stage_text
    runs = run_interleaved(extractors, pages, repeat)
    print(f"\n## {title}  ({len(pages)} pages)")
    print(
        f"{'extractor':<22}{'F1':>7}{'P':>7}{'R':>7}{'acc':>7}{'headline left':>15}{'beyond truth':>14}"
        f"{'empty':>7}{'pages/s':>9}"
    )
    summaries = {}
    for name, result in runs.items():
        scores = [score_page(result.outputs[p.key], p.truth) for p in pages]
        summary = summarise(scores)
        summaries[name] = summary
        left = sum(contains_headline(result.outputs[p.key], p.headline) for p in pages)
        # the headline as often as the true text has it is the article's own use of those words
        beyond = sum(
            headline_count(result.outputs[p.key], p.headline) > headline_count(p.truth, p.headline) for p in pages
        )
        empty = sum(not result.outputs[p.key].strip() for p in pages)
        rate = len(pages) / result.seconds
        print(
            f"{name:<22}{summary.f1:7.3f}{summary.precision:7.3f}{summary.recall:7.3f}{summary.accuracy:7.3f}"
            f"{left:>8} ({left / len(pages):4.0%}){beyond:>8} ({beyond / len(pages):3.0%}){empty:>7}{rate:9.1f}"
        )
    _report_by_language(runs, pages)
    report_harm(pages, harm)
    ratio = runs["trafilatura.extract"].seconds / runs["newswire"].seconds
    print(f"throughput newswire / trafilatura.extract = {ratio:.2f}x")
    if STAGE_ONLY in runs:
        stage = runs["trafilatura.extract"].seconds / runs[STAGE_ONLY].seconds
        print(f"throughput {STAGE_ONLY} / trafilatura.extract = {stage:.2f}x (the page checks cost "
              f"{runs['newswire'].seconds / runs[STAGE_ONLY].seconds - 1:.0%} on top)")
    truth_left = sum(contains_headline(p.truth, p.headline) for p in pages)
    print(f"(ground truth itself contains the headline on {truth_left} page(s))")
    if worst:
        scored = []
        for p in pages:
            s = score_page(runs["newswire"].outputs[p.key], p.truth)
            scored.append((min(s.precision or 0.0, s.recall if s.recall is not None else 1.0), p.key, s))
        print(f"worst {worst} pages (newswire):")
        for _, key, s in sorted(scored)[:worst]:
            print(f"  {key[:16]}  P={s.precision}  R={s.recall}")
    return summaries


def _truth_language(page: Page) -> str:
    """Language of the true text (py3langid ships with trafilatura), "?" when unsure."""
    try:
        import py3langid
    except ImportError:  # pragma: no cover
        return "?"
    return str(py3langid.classify(page.truth)[0]) if page.truth.strip() else "?"


def _report_by_language(runs: dict[str, Run], pages: list[Page]) -> None:
    """F1 / P / R for English pages and for all other languages, per extractor."""
    groups: dict[str, list[Page]] = {}
    for page in pages:
        language = _truth_language(page)
        groups.setdefault("en" if language == "en" else "other", []).append(page)
    for group, members in sorted(groups.items()):
        languages = sorted({_truth_language(p) for p in members})
        cells = []
        for name, result in runs.items():
            s = summarise([score_page(result.outputs[p.key], p.truth) for p in members])
            cells.append(f"{name} {s.f1:.3f}/{s.precision:.3f}/{s.recall:.3f}")
        print(f"  {group} ({len(members)} pages: {', '.join(languages)}): " + "   ".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder in the extraction-dev layout")
    parser.add_argument("--variants", action="store_true", help="also score repeated-headline variants")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per page and extractor (fastest counts)")
    parser.add_argument("--worst", type=int, default=0, help="list the N worst pages for newswire")
    parser.add_argument("--harm", type=int, default=0, help="list the N pages where cleaning removed most article text")
    parser.add_argument("--fast", action="store_true", help="newswire with extract_article(fast=True)")
    args = parser.parse_args(argv)
    global FAST
    FAST = args.fast
    logging.disable(logging.WARNING)

    pages = load_pages(args.data)
    report(f"original pages: {args.data}", pages, args.repeat, args.worst, args.harm, stage_only=True)
    if args.variants:
        for kind in VARIANTS:
            variant_pages = [
                Page(p.key, p.url, make_variant(kind, p.html, p.headline, p.truth), p.truth, p.headline) for p in pages
            ]
            report(f"variant '{kind}': headline injected", variant_pages, args.repeat, args.worst, args.harm)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
