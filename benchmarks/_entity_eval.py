"""Scoring entity output against hand-annotated articles (used by benchmarks/entities.py).

An annotation (``benchmarks/data/entities/<lang>/<name>.json``) gives:

* ``title`` and ``text`` (English articles), or ``page`` (the HTML file of a
  French page beside it, run through the whole CPU pipeline: extract, dedupe,
  enrich) with ``must_not_contain`` (the headline and comment-form strings
  that must not reach the body);
* ``key``: the entities the article is about, ``[name, label]``; a key
  entity is found when an output entity has that name or alias (case, dots
  and spacing ignored) and a label of the same kind (PERSON; ORG; a place:
  GPE, LOC or FAC);
* ``other``: further legitimate names; any output entity matching neither
  ``key`` nor ``other`` counts as **junk** and is listed;
* ``merges``: ``{full name: [surname forms]}``: the merge happened when the
  full name's entity lists the form among its aliases and no other entity
  is named or aliased so;
* ``apart``: pairs of names that must stay separate entities (a false merge
  when one entity carries both); an alias that is another annotated name and
  not listed in ``merges`` or ``may_merge`` (``{full name: [forms]}``, e.g.
  a first name used alone) is a false merge as well.

The annotations were written for this benchmark, not taken from the
extraction-dev pages, and the merging rules were not tuned on them beyond the
cases the issue names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workers.pipeline.entities import Entity
from workers.pipeline.entities.merge import group_key

__all__ = ["Annotation", "Score", "load_annotations", "score", "KIND"]

KIND = {"PERSON": "person", "ORG": "org", "GPE": "place", "LOC": "place", "FAC": "place"}
TOP = 8


@dataclass
class Annotation:
    name: str
    language: str
    data: dict[str, Any]
    path: Path

    @property
    def page(self) -> Path | None:
        return self.path.with_name(self.data["page"]) if "page" in self.data else None


@dataclass
class Score:
    keys: int = 0
    found: int = 0
    top8: int = 0
    merges: int = 0
    merged: int = 0
    false_merges: list[str] = field(default_factory=list)
    junk: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    unmerged: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)  # must_not_contain strings found in the text

    def add(self, other: Score) -> None:
        self.keys += other.keys
        self.found += other.found
        self.top8 += other.top8
        self.merges += other.merges
        self.merged += other.merged
        for name in ("false_merges", "junk", "missed", "unmerged", "leaks"):
            getattr(self, name).extend(getattr(other, name))

    def summary(self) -> dict[str, Any]:
        return {
            "key_recall": round(self.found / self.keys, 3) if self.keys else None,
            "top8": round(self.top8 / self.keys, 3) if self.keys else None,
            "merge_recall": round(self.merged / self.merges, 3) if self.merges else None,
            "merges": f"{self.merged}/{self.merges}",
            "false_merges": self.false_merges,
            "junk": self.junk,
            "missed": self.missed,
            "unmerged": self.unmerged,
            "leaks": self.leaks,
        }


def load_annotations(root: Path, languages: Sequence[str]) -> list[Annotation]:
    return [Annotation(path.stem, language, json.loads(path.read_text(encoding="utf-8")), path)
            for language in languages for path in sorted((root / language).glob("*.json"))]


def _forms(entity: Entity) -> set[str]:
    return {group_key(entity.name), *(group_key(alias) for alias in entity.aliases)}


def score(annotation: Annotation, entities: list[Entity], text: str = "") -> Score:
    result = Score()
    data = annotation.data
    tag = annotation.name
    by_form: dict[str, list[tuple[int, Entity]]] = {}
    for rank, entity in enumerate(entities):
        for form in _forms(entity):
            by_form.setdefault(form, []).append((rank, entity))
    for name, label in data["key"]:
        result.keys += 1
        hits = [(rank, e) for rank, e in by_form.get(group_key(name), [])
                if KIND.get(e.label, e.label) == KIND.get(label, label)]
        if hits:
            result.found += 1
            result.top8 += min(rank for rank, _ in hits) < TOP
        else:
            result.missed.append(f"{tag}: {name} ({label})")
    legit = {group_key(name) for name, _ in data["key"]} | {group_key(name) for name in data.get("other", [])}
    legit |= {group_key(form) for forms in data.get("merges", {}).values() for form in forms}
    for entity in entities:
        if not _forms(entity) & legit:
            result.junk.append(f"{tag}: {entity.name} ({entity.label})")
    for full, forms in data.get("merges", {}).items():
        owner = next((e for e in entities if group_key(e.name) == group_key(full)), None)
        for form in forms:
            result.merges += 1
            key = group_key(form)
            elsewhere = [e for e in entities if e is not owner and key in _forms(e)]
            if owner is not None and key in {group_key(a) for a in owner.aliases} and not elsewhere:
                result.merged += 1
            else:
                apart = ", ".join(f"{e.name} ({e.label}, {e.count})" for e in elsewhere)
                result.unmerged.append(f"{tag}: {form} -> {full}" + (f" [apart: {apart}]" if apart else ""))
    # An alias that is another annotated entity's name, and not a form this
    # entity may take (``merges``, ``may_merge``), is a false merge too.
    names = {group_key(name) for name, _ in data["key"]} | {group_key(name) for name in data.get("other", [])}
    for entity in entities:
        allowed = {group_key(f) for f in data.get("merges", {}).get(entity.name, [])}
        allowed |= {group_key(f) for f in data.get("may_merge", {}).get(entity.name, [])}
        for alias in entity.aliases:
            if group_key(alias) in names and group_key(alias) not in allowed:
                result.false_merges.append(f"{tag}: {alias} into {entity.name}")
    for first, second in data.get("apart", []):
        for entity in entities:
            if {group_key(first), group_key(second)} <= _forms(entity):
                result.false_merges.append(f"{tag}: {first} + {second}")
    for needle in data.get("must_not_contain", []):
        if needle in text:
            result.leaks.append(f"{tag}: {needle!r}")
    return result
