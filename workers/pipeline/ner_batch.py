"""The pool side of batched NER: several articles in one task, failures kept per article.

:class:`workers.pipeline.pool.CpuPool` collects the articles waiting for NER
on the event loop (:class:`workers.pipeline.batcher.MicroBatcher`) and sends
them here as one task: :meth:`EntityRecognizer.enrich_many` runs one
``nlp.pipe`` per language over all of them inside one ``memory_zone``, which
costs markedly less CPU per article than one spaCy call per article.

If the batch fails, each article is run again alone, so an article that makes
spaCy fail gets its own error and its batch-mates their entities: one bad
article never dead-letters the others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from time import perf_counter

from ..errors import EnrichError, NewswireError
from .entities import Enrichment, EntityRecognizer

__all__ = ["NerInput", "NerOutcome", "enrich_isolated"]

log = logging.getLogger(__name__)

# (title, text, declared language), as EntityRecognizer.enrich takes them.
NerInput = tuple[str | None, str, str | None]
# Per article: its enrichment and the NER seconds charged to it, or its error.
NerOutcome = tuple[Enrichment, float] | NewswireError


def enrich_isolated(recognizer: EntityRecognizer, items: Sequence[NerInput]) -> list[NerOutcome]:
    """One outcome per item, in order; never raises for one item's sake."""
    started = perf_counter()
    try:
        enrichments = recognizer.enrich_many(items)
    except Exception:
        if len(items) == 1:
            return [_alone(recognizer, items[0])]
        log.warning("NER failed on a batch of %d articles; running each alone", len(items), exc_info=True)
        return [_alone(recognizer, item) for item in items]
    # The batch's seconds shared by size: what each article cost the pool process.
    seconds = perf_counter() - started
    total = sum(len(text or "") + len(title or "") for title, text, _ in items) or 1
    return [(enrichment, seconds * (len(text or "") + len(title or "")) / total)
            for enrichment, (title, text, _) in zip(enrichments, items, strict=True)]


def _alone(recognizer: EntityRecognizer, item: NerInput) -> NerOutcome:
    started = perf_counter()
    try:
        return recognizer.enrich(*item), perf_counter() - started
    except NewswireError as exc:
        return exc
    except Exception as exc:  # a bug must become this article's dead letter, not a crash
        return EnrichError(f"{type(exc).__name__}: {exc}"[:500])
