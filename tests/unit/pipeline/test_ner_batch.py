"""Batched NER: per-article failures in a batch task, and the pool's enrich stage batching real pages."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from tests.helpers.expectations import SEED_HTML
from workers.errors import EnrichError, NewswireError
from workers.pipeline.analyse import AnalyseOptions, PageInput, analyse_page
from workers.pipeline.entities import Enrichment, EntityConfig, get_recognizer
from workers.pipeline.ner_batch import enrich_isolated
from workers.pipeline.pool import CpuPool
from workers.pipeline.record import dumps

FRENCH_PAGES = sorted((Path(__file__).resolve().parents[3] / "benchmarks" / "data" / "entities" / "fr").glob("*.html"))


class PoisonedRecognizer:
    """Delegates to the real recognizer, but NER fails on any text containing POISON."""

    POISON = "\u2620"

    def __init__(self) -> None:
        self.real = get_recognizer(EntityConfig())
        self.batch_calls = 0

    def enrich_many(self, items):
        self.batch_calls += 1
        if any(self.POISON in text for _, text, _ in items):
            raise EnrichError("ValueError: poisoned")
        return self.real.enrich_many(items)

    def enrich(self, title, text, declared=None):
        return self.enrich_many([(title, text, declared)])[0]


ARTICLES = [
    ("Vote in Paris", "Emmanuel Macron met Olaf Scholz in Paris on Monday.", None),
    ("Strike", "Dockworkers in Rotterdam walked out, the union FNV said.", None),
    ("Visite", "Le président Emmanuel Macron a reçu Olaf Scholz à l'Élysée lundi.", None),
]


def test_a_batch_gives_each_article_its_own_enrichment_in_order():
    recognizer = PoisonedRecognizer()
    outcomes = enrich_isolated(recognizer, ARTICLES)  # type: ignore[arg-type]
    assert recognizer.batch_calls == 1  # one nlp.pipe pass for the whole batch
    alone = [recognizer.real.enrich(*item) for item in ARTICLES]
    assert [outcome[0] for outcome in outcomes] == alone  # type: ignore[index]
    assert [e.language for e, _ in outcomes] == ["en", "en", "fr"]  # type: ignore[misc]
    assert all(seconds > 0 for _, seconds in outcomes)  # type: ignore[misc]


def test_one_article_failing_ner_fails_alone_and_its_batch_mates_keep_their_entities():
    recognizer = PoisonedRecognizer()
    bad = ("Bad", "Text with " + PoisonedRecognizer.POISON + " in it, about Angela Merkel.", None)
    outcomes = enrich_isolated(recognizer, [ARTICLES[0], bad, ARTICLES[2]])  # type: ignore[arg-type]
    assert isinstance(outcomes[1], EnrichError) and "poisoned" in str(outcomes[1])
    good = [outcomes[0], outcomes[2]]
    assert all(isinstance(o, tuple) and isinstance(o[0], Enrichment) for o in good)
    assert "Emmanuel Macron" in {e.name for e in good[0][0].entities}  # type: ignore[index]
    assert "Emmanuel Macron" in {e.name for e in good[1][0].entities}  # type: ignore[index]


def test_an_unexpected_exception_becomes_that_articles_enrich_error():
    class Broken(PoisonedRecognizer):
        def enrich_many(self, items):
            if any("boom" in text for _, text, _ in items):
                raise KeyError("boom")
            return self.real.enrich_many(items)

    outcomes = enrich_isolated(Broken(), [ARTICLES[0], ("t", "boom", None)])  # type: ignore[arg-type]
    assert isinstance(outcomes[0], tuple)
    assert isinstance(outcomes[1], NewswireError) and outcomes[1].code == EnrichError("").code


def _page(body: bytes, name: str) -> PageInput:
    url = f"https://news.example/{name}"
    return PageInput(body=body, url=url, canonical_url=url, final_url=url, fetched_at="2024-01-01T00:00:00Z")


async def test_the_pool_batches_articles_waiting_for_ner_and_records_match_the_inline_pipeline():
    pages = [_page(SEED_HTML.read_bytes(), "seed")] + [_page(p.read_bytes(), p.name) for p in FRENCH_PAGES]
    options = AnalyseOptions(EntityConfig())
    pool = CpuPool(options, 1)
    try:
        results = await asyncio.gather(*(pool.analyse(page) for page in pages))
    finally:
        pool.close()
    # One process: NER batches queue behind the remaining extractions, so later articles share a batch.
    assert pool._ner.items_sent == len(pages) and pool._ner.batches_sent < len(pages)
    for page, (record, timings) in zip(pages, results, strict=True):
        assert set(timings) == {"extract", "dedupe", "enrich"} and timings["enrich"] > 0
        inline = analyse_page(page, options)
        assert record.entities_status == "ok" and record.entities
        batched, alone = orjson.loads(dumps(record)), orjson.loads(dumps(inline))
        assert batched.pop("processed_at") <= alone.pop("processed_at")
        assert batched == alone
    assert {record.language for record, _ in results} == {"en", "fr"}
    assert pool.pending == 0


async def test_when_a_process_dies_under_a_batch_only_the_article_that_kills_it_fails():
    from workers.errors import ExtractFailed

    class CrashingPool(CpuPool):
        """Stands in for the executor: a task holding a "crash" article loses its process."""

        submitted: list[int] = []

        async def _submit(self, task, *args, url, attempts=2):  # type: ignore[override]
            items = args[0]
            self.submitted.append(len(items))
            if any("crash" in text for _, text, _ in items):
                raise ExtractFailed("a pool process died twice while analysing this page", attempts=2)
            return [(Enrichment("en", 1.0), 0.0) for _ in items]

    pool = CrashingPool(AnalyseOptions(EntityConfig()), 1)
    outcomes = await pool._enrich_batch([ARTICLES[0], ("t", "crash", None), ARTICLES[1]])
    assert pool.submitted == [3, 1, 1, 1]  # the batch, then each article alone
    assert isinstance(outcomes[0], tuple) and isinstance(outcomes[2], tuple)
    assert isinstance(outcomes[1], ExtractFailed)
