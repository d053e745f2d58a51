"""Page classification benchmark: a confusion table on the typed test pages, and the DEV pages before/after.

    python benchmarks/pagekinds.py [--pages DIR] [--dev DIR] [--repeat N] [--no-dev]

1. ``--pages`` (default ``tests/fixtures/pagekinds``): every page of
   ``expected.json`` through what the worker does with it: a 403/503 through the
   fetch stage's challenge check, a 2xx through :func:`extract_classified`;
   prints the confusion table (expected outcome x outcome), the paywall flags,
   and for pages with an expected ``body`` the recall of that body (4-token
   shingles, the DEV metric) -- the target for embedded-data pages is >= 0.9.
2. ``--dev`` (default ``shared/data/extraction-dev``): the DEV pages through the
   extraction alone (``extract_article``, as before this change) and through
   ``extract_classified``, in the same run, pages alternating: pages
   dead-lettered by each, pages newly dead-lettered, F1/P/R of each, and the
   time ratio (per page the fastest of ``--repeat`` passes).
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from extraction import score_page, summarise  # noqa: E402

from workers.errors import NewswireError  # noqa: E402
from workers.pipeline.dedupe import dedupe_article  # noqa: E402
from workers.pipeline.extract import extract_article, render_text  # noqa: E402
from workers.pipeline.extract.classify import extract_classified  # noqa: E402
from workers.pipeline.extract.pagekind import challenge_vendor, is_paywalled  # noqa: E402
from workers.pipeline.extract.text import normalise  # noqa: E402
from workers.pipeline.fetch import CHALLENGE_STATUSES  # noqa: E402

DEFAULT_PAGES = REPO / "tests" / "fixtures" / "pagekinds"
# shared/ beside the checkout (/work/main) or beside its worktree folder (/work/wt/NAME)
DEFAULT_DEV = next((d for d in (REPO.parent / "shared" / "data" / "extraction-dev",
                                REPO.parent.parent / "shared" / "data" / "extraction-dev") if d.exists()),
                   REPO.parent / "shared" / "data" / "extraction-dev")
OUTCOMES = ("article", "bot_challenge", "js_required", "not_article", "empty_text", "other")


def outcome_of(html: str, status: int, url: str) -> tuple[str, str, bool | None]:
    """(outcome, text, paywalled) as the worker would decide for a page served with ``status``."""
    if not 200 <= status < 300:
        if status in CHALLENGE_STATUSES and challenge_vendor(html) is not None:
            return "bot_challenge", "", None
        return f"http_{status}", "", None
    try:
        page = extract_classified(html, url)
    except NewswireError as err:
        return err.error_code, "", None
    return "article", render_text(dedupe_article(page.article).blocks), page.paywalled


def run_pages(folder: Path) -> int:
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    table: Counter[tuple[str, str]] = Counter()
    wrong: list[str] = []
    recalls: list[tuple[str, float]] = []
    for name, want in sorted(expected.items()):
        html = (folder / name).read_text(encoding="utf-8")
        got, text, paywalled = outcome_of(html, want["status"], f"https://ledger.example/pages/{name}")
        table[(want["outcome"], got if got in OUTCOMES else "other")] += 1
        if got != want["outcome"]:
            wrong.append(f"{name}: expected {want['outcome']}, got {got}")
        elif got == "article" and paywalled != want.get("paywalled", False):
            wrong.append(f"{name}: paywalled {paywalled}, expected {want.get('paywalled', False)}")
        if got == "article" and want.get("body"):
            recalls.append((name, score_page(text, want["body"]).recall or 0.0))
    print(f"\n## typed test pages: {folder}  ({len(expected)} pages)")
    print("expected \\ got".ljust(16) + "".join(o[:13].rjust(14) for o in OUTCOMES))
    for row in OUTCOMES[:4]:
        print(row.ljust(16) + "".join(str(table[(row, col)]).rjust(14) for col in OUTCOMES))
    correct = sum(v for (a, b), v in table.items() if a == b)
    print(f"right: {correct}/{len(expected)}")
    flags = [(n, w) for n, w in expected.items() if w["outcome"] == "article"]
    flag_wrong = sum("paywalled" in line for line in wrong)
    print(f"paywall flags right on {len(flags) - flag_wrong}/{len(flags)} article pages "
          f"({sum(w.get('paywalled', False) for _, w in flags)} of them paywalled)")
    for name, recall in recalls:
        marker = "" if recall >= 0.9 else "   < 0.9"
        if name.startswith("embedded"):
            print(f"  body recall {recall:.3f}  {name}{marker}")
    low = [n for n, r in recalls if r < 0.9]
    print(f"body recall >= 0.9 on {len(recalls) - len(low)}/{len(recalls)} article pages with a body "
          f"(min {min((r for _, r in recalls), default=0):.3f})")
    for line in wrong:
        print("  WRONG", line)
    return len(wrong)


def load_dev(data: Path) -> list[tuple[str, str, str, str]]:
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for key in sorted(truth):
        html = gzip.decompress((data / "html" / f"{key}.html.gz").read_bytes()).decode("utf-8")
        pages.append((key, truth[key].get("url") or "", html, truth[key].get("articleBody") or ""))
    return pages


def _before(html: str, url: str) -> str | None:
    try:
        return render_text(dedupe_article(extract_article(html, url)).blocks)
    except NewswireError:
        return None


def _after(html: str, url: str) -> str | None:
    try:
        return render_text(dedupe_article(extract_classified(html, url).article).blocks)
    except NewswireError:
        return None


def run_dev(data: Path, repeat: int) -> int:
    pages = load_dev(data)
    outputs: dict[str, dict[str, str | None]] = {"before": {}, "after": {}}
    best: dict[str, dict[str, float]] = {"before": {}, "after": {}}
    for _ in range(max(1, repeat)):
        for key, url, html, _truth in pages:
            for name, fn in (("before", _before), ("after", _after)):
                normalise.cache_clear()
                started = time.perf_counter()
                outputs[name][key] = fn(html, url)
                elapsed = time.perf_counter() - started
                best[name][key] = min(elapsed, best[name].get(key, float("inf")))
    print(f"\n## DEV pages: {data}  ({len(pages)} pages)")
    for name in ("before", "after"):
        s = summarise([score_page(outputs[name][k] or "", t) for k, _, _, t in pages])
        dead = sum(v is None for v in outputs[name].values())
        print(f"{name:<8} F1 {s.f1:.4f}  P {s.precision:.4f}  R {s.recall:.4f}  dead-lettered {dead}")
    newly = [k for k, *_ in pages if outputs["after"][k] is None and outputs["before"][k] is not None]
    changed = [k for k, *_ in pages if outputs["after"][k] != outputs["before"][k]]
    print(f"newly dead-lettered: {len(newly)} {newly}")
    print(f"pages whose text changed: {len(changed)}")
    flagged = [k[:12] for k, url, html, _ in pages if outputs["after"][k] is not None and is_paywalled(html)]
    print(f"flagged paywalled (declared or shown): {len(flagged)} {flagged}")
    ratio = sum(best["after"].values()) / sum(best["before"].values())
    print(f"time after / before = {ratio:.3f}  (fastest of {repeat} passes per page)")
    return len(newly)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=Path, default=DEFAULT_PAGES)
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV)
    parser.add_argument("--no-dev", action="store_true")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    failures = run_pages(args.pages)
    if not args.no_dev and (args.dev / "ground-truth.json").exists():
        failures += run_dev(args.dev, args.repeat)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
