"""What the versions table costs per article, and what one revision diff costs on the event loop.

    newswire extract --no-entities PAGES... > records.jsonl
    python benchmarks/revision_state.py records.jsonl [--runs 3]

For every record: the stored :class:`ArticleVersion` (hash, version, title,
fetch time, paragraphs zlib-compressed) against two baselines measured in the
same run -- the record's text alone, and a fingerprint-only state (hash,
version, title, 8 bytes per paragraph; what the state would be if revisions
did not name removed paragraphs by text).  Then the time of
:func:`diff_versions` for four edits of each article (typo fixed, paragraph
added, paragraph removed, every paragraph edited) against the time of ``content_hash`` of the same
text (a cost every record already pays).  Prints per-100,000-article figures
and ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workers.pipeline.record import content_hash  # noqa: E402
from workers.pipeline.revisions import ArticleVersion, diff_versions, paragraphs  # noqa: E402


def fingerprint_state(record: dict, paras: list[str]) -> bytes:
    fingerprints = b"".join(hashlib.sha256(p.encode()).digest()[:8] for p in paras)
    head = orjson.dumps({"version": 1, "content_hash": record["content_hash"], "title": record.get("title"),
                         "fetched_at": record["fetched_at"]})
    return head + fingerprints


def edits(paras: list[str]) -> list[list[str]]:
    typo = list(paras)
    longest = max(range(len(paras)), key=lambda i: len(paras[i]))
    word = typo[longest].split()[len(typo[longest].split()) // 2]
    typo[longest] = typo[longest].replace(word, word[:-1] + "x", 1)
    added = paras[:1] + ["An added paragraph with the latest figures from the officials, released this afternoon."] \
        + paras[1:]
    removed = paras[:-1] if len(paras) > 1 else paras
    # The worst case for the diff: every paragraph edited at once (e.g. a site's new typography).
    everywhere = [p.replace(" ", "  ", 1).replace("e", "\u00e9", 1) for p in paras]
    return [typo, added, removed, everywhere]


def run(records: list[dict]) -> dict[str, float]:
    state = text = fingerprints = 0
    diff_s = hash_s = worst_s = 0.0
    count = 0
    for record in records:
        paras = paragraphs(record["text"])
        version = ArticleVersion(1, record["content_hash"], record.get("title"), record["fetched_at"], tuple(paras))
        state += len(version.to_bytes())
        text += len(record["text"].encode())
        fingerprints += len(fingerprint_state(record, paras))
        for edited in edits(paras):
            started = time.perf_counter()
            diff_versions(record.get("title"), paras, record.get("title"), edited)
            elapsed = time.perf_counter() - started
            diff_s += elapsed
            worst_s = max(worst_s, elapsed)
            count += 1
            started = time.perf_counter()
            content_hash("\n\n".join(edited))
            hash_s += time.perf_counter() - started
    n = len(records)
    return {"state_bytes": state / n, "text_bytes": text / n, "fingerprint_bytes": fingerprints / n,
            "diff_ms": 1000 * diff_s / count, "hash_ms": 1000 * hash_s / count, "worst_ms": 1000 * worst_s}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", type=Path, help="JSON lines of article records (newswire extract output)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    records = [r for r in map(orjson.loads, args.records.read_bytes().splitlines()) if "text" in r and r["text"]]
    print(f"{len(records)} article records")
    results = [run(records) for _ in range(args.runs)]
    first = results[0]
    print(f"versions-table entry: {first['state_bytes']:.0f} B/article = {first['state_bytes'] * 1e5 / 2**20:.1f} MiB "
          f"per 100,000 articles (raw values; the in-memory store adds Python object overhead)")
    print(f"  vs the text alone: {first['text_bytes']:.0f} B (ratio {first['state_bytes'] / first['text_bytes']:.2f})")
    print(f"  vs fingerprints only: {first['fingerprint_bytes']:.0f} B "
          f"(ratio {first['state_bytes'] / first['fingerprint_bytes']:.2f})")
    for i, r in enumerate(results, 1):
        print(f"run {i}: diff {r['diff_ms']:.3f} ms/revision (slowest {r['worst_ms']:.1f} ms), "
              f"content_hash {r['hash_ms']:.3f} ms, ratio {r['diff_ms'] / r['hash_ms']:.1f}")
    print(f"median diff/content_hash ratio: {statistics.median(r['diff_ms'] / r['hash_ms'] for r in results):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
