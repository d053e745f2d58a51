"""The enrichment stage: named entities and the article's language.

``recognise`` runs spaCy per language and returns the :class:`Enrichment`;
``merge`` turns raw spans into one entity per name (every rule documented there);
``labels`` maps each model's label scheme onto one; ``language`` identifies the
text's language; ``_name_words`` is the word lists the merging rules read.
"""

from .recognise import (
    DEFAULT_MODELS,
    STATUS_DISABLED,
    STATUS_NO_TEXT,
    STATUS_OK,
    STATUS_UNSUPPORTED_LANGUAGE,
    Enrichment,
    Entity,
    EntityConfig,
    EntityRecognizer,
    Mention,
    NerModel,
    check_model_available,
    chunk_spans,
    enrich_batch_in_worker,
    enrich_in_worker,
    get_recognizer,
    init_worker,
    load_ner_pipeline,
    loaded_models_in_worker,
)

__all__ = [
    "DEFAULT_MODELS",
    "STATUS_DISABLED",
    "STATUS_NO_TEXT",
    "STATUS_OK",
    "STATUS_UNSUPPORTED_LANGUAGE",
    "Enrichment",
    "Entity",
    "EntityConfig",
    "EntityRecognizer",
    "Mention",
    "NerModel",
    "check_model_available",
    "chunk_spans",
    "enrich_batch_in_worker",
    "enrich_in_worker",
    "get_recognizer",
    "init_worker",
    "load_ner_pipeline",
    "loaded_models_in_worker",
]
