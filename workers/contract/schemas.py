"""The downstream contract in code: load the JSON Schemas in ``schemas/``, validate, document.

The schema files are the contract; this module only reads them:

* :func:`validate_record` checks one message (a dict, its JSON bytes, or the
  dataclass the code builds) against the *strict* producer schema of its kind
  and raises :class:`SchemaViolation` listing every problem.  Tests call it on
  everything newswire produces.
* :func:`tolerant` turns a strict schema into the form a *consumer* validates
  with: unknown properties allowed and extensible enums opened, so a consumer
  of v1.0 accepts the records of any later v1.x (see ``schemas/README.md``).
* :func:`minor_evolution_problems` checks that a new schema is a valid minor
  step from an older one of the same major (only optional properties added).
* :func:`fields_markdown` renders the field reference (``docs/fields.md``):
  ``python -m workers.contract.schemas --markdown > docs/fields.md``.

Formats are asserted with our own checkers (RFC 3339 ``date-time``, ISO
``date``, RFC 3986 ``uri``): jsonschema's defaults silently skip ``date-time``
and ``uri`` unless optional packages are installed, which would make the
producer-side check quietly weaker on some machines.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator, FormatChecker

__all__ = [
    "KINDS",
    "SCHEMA_DIR",
    "SchemaViolation",
    "fields_markdown",
    "format_checker",
    "load_schema",
    "main",
    "minor_evolution_problems",
    "record_errors",
    "schema_path",
    "schema_version",
    "tolerant",
    "validate_record",
    "validator",
]

# Every message newswire reads or writes, in the order the reference documents them.
KINDS: tuple[str, ...] = ("submission", "article", "deadletter", "entity", "feed", "feed-status")
CURRENT_MAJOR = 1

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
EXTENSIBLE_ENUM = "x-extensible-enum"
VERSION_KEYWORD = "x-schema-version"


class SchemaViolation(ValueError):
    """A message does not match its schema; ``problems`` lists each violation as 'path: message'."""

    def __init__(self, kind: str, problems: list[str]) -> None:
        self.kind = kind
        self.problems = problems
        super().__init__(f"{kind} record violates its schema: " + "; ".join(problems))


# -- loading ---------------------------------------------------------------------


def schema_path(kind: str, major: int = CURRENT_MAJOR, directory: Path | None = None) -> Path:
    if kind not in KINDS:
        raise KeyError(f"unknown message kind {kind!r}; expected one of {', '.join(KINDS)}")
    return (directory or SCHEMA_DIR) / f"{kind}.v{major}.json"


@cache
def _load(path: Path) -> dict[str, Any]:
    return orjson.loads(path.read_bytes())


def load_schema(kind: str, major: int = CURRENT_MAJOR) -> dict[str, Any]:
    """The schema of ``kind`` (a fresh copy: callers may change it)."""
    return copy.deepcopy(_load(schema_path(kind, major)))


def schema_version(schema: dict[str, Any]) -> str:
    """The ``major.minor`` a schema file describes (its ``x-schema-version``)."""
    return str(schema[VERSION_KEYWORD])


# -- formats ---------------------------------------------------------------------

_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# RFC 3986 absolute URI: a scheme, then only unreserved/reserved characters and %HH escapes.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # formats only constrain strings
    if not _DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI.match(value))


def format_checker() -> FormatChecker:
    """A checker that asserts date-time, date and uri with no optional dependencies."""
    checker = FormatChecker(formats=())
    checker.checks("date-time")(_is_date_time)
    checker.checks("date")(_is_date)
    checker.checks("uri")(_is_uri)
    return checker


# -- validating --------------------------------------------------------------------


def validator(kind_or_schema: str | dict[str, Any], *, consumer: bool = False) -> Draft202012Validator:
    """A validator for a kind's strict schema (or its tolerant consumer form), formats asserted."""
    schema = load_schema(kind_or_schema) if isinstance(kind_or_schema, str) else kind_or_schema
    if consumer:
        schema = tolerant(schema)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=format_checker())


@cache
def _strict_validator(kind: str) -> Draft202012Validator:
    return validator(kind)


def _as_json(obj: Any) -> Any:
    """The value as a consumer sees it: bytes are parsed, dataclasses go through orjson."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return orjson.loads(bytes(obj))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return orjson.loads(orjson.dumps(obj))
    return obj


def record_errors(kind: str, obj: Any, *, schema: dict[str, Any] | None = None,
                  consumer: bool = False) -> list[str]:
    """Every violation of ``obj`` against the schema of ``kind`` as 'path: message', sorted."""
    if schema is None and not consumer:
        check = _strict_validator(kind)
    else:
        check = validator(kind if schema is None else schema, consumer=consumer)
    problems = []
    for error in check.iter_errors(_as_json(obj)):
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        problems.append(f"{where}: {error.message}")
    return sorted(problems)


def validate_record(kind: str, obj: Any, *, consumer: bool = False) -> None:
    """Raise :class:`SchemaViolation` unless ``obj`` (dict, JSON bytes or dataclass) matches ``kind``'s schema."""
    problems = record_errors(kind, obj, consumer=consumer)
    if problems:
        raise SchemaViolation(kind, problems)


# -- evolution -----------------------------------------------------------------------


def tolerant(schema: dict[str, Any]) -> dict[str, Any]:
    """The consumer form of a strict schema: what a reader of this version must accept.

    ``additionalProperties: false`` is dropped everywhere (later minor versions
    add properties) and enums marked ``x-extensible-enum`` lose their value list
    (later minor versions may add values).  Everything else, types, required
    properties, patterns and formats, stays: those are the promises.
    """
    out = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("additionalProperties") is False:
                del node["additionalProperties"]
            if node.get(EXTENSIBLE_ENUM):
                node.pop("enum", None)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(out)
    return out


def _major(schema: dict[str, Any]) -> str:
    return schema_version(schema).split(".")[0]


def minor_evolution_problems(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why ``new`` is not a valid minor evolution of ``old`` (empty list: it is).

    A minor version keeps the ``$id`` and major, keeps every property with an
    unchanged definition and the same required list, and only adds optional
    properties (objects nested under ``$defs`` follow the same rule).
    """
    problems: list[str] = []
    if old.get("$id") != new.get("$id"):
        problems.append(f"$id changed from {old.get('$id')} to {new.get('$id')}: that is a new major version")
    if _major(old) != _major(new):
        problems.append(f"major version changed from {schema_version(old)} to {schema_version(new)}")
    _compare_objects("(root)", old, new, problems)
    for name, old_def in old.get("$defs", {}).items():
        new_def = new.get("$defs", {}).get(name)
        if new_def is None:
            problems.append(f"$defs/{name} was removed")
        else:
            _compare_objects(f"$defs/{name}", old_def, new_def, problems)
    return problems


def _compare_objects(where: str, old: dict[str, Any], new: dict[str, Any], problems: list[str]) -> None:
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    if set(old.get("required", [])) != set(new.get("required", [])):
        added = sorted(set(new.get("required", [])) - set(old.get("required", [])))
        dropped = sorted(set(old.get("required", [])) - set(new.get("required", [])))
        problems.append(f"{where}: required changed (added {added}, dropped {dropped})")
    for name, definition in old_props.items():
        if name not in new_props:
            problems.append(f"{where}/{name}: property removed")
            continue
        before, after = _without_docs(definition), _without_docs(new_props[name])
        if before != after and not _only_enum_values_added(before, after):
            problems.append(f"{where}/{name}: definition changed")
    for key in ("type", "additionalProperties"):
        if old.get(key) != new.get(key):
            problems.append(f"{where}: {key} changed")


def _without_docs(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_docs(v) for k, v in node.items() if k not in ("description", "$comment", "examples")}
    if isinstance(node, list):
        return [_without_docs(v) for v in node]
    return node


def _only_enum_values_added(before: Any, after: Any) -> bool:
    if not (isinstance(before, dict) and isinstance(after, dict) and before.get(EXTENSIBLE_ENUM)):
        return False
    rest_before = {k: v for k, v in before.items() if k != "enum"}
    rest_after = {k: v for k, v in after.items() if k != "enum"}
    return rest_before == rest_after and set(before.get("enum", [])) <= set(after.get("enum", []))


# -- documentation ---------------------------------------------------------------------


def _type_text(node: dict[str, Any], schema: dict[str, Any]) -> str:
    if "$ref" in node:
        return _ref_name(node["$ref"])
    kinds = node.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds] if kinds else []
    parts = []
    for kind in kinds:
        if kind == "array" and isinstance(node.get("items"), dict):
            parts.append(f"array of {_type_text(node['items'], schema)}")
        else:
            parts.append(str(kind))
    text = " or ".join(parts) or "any"
    if "format" in node:
        text += f" ({node['format']})"
    return text


def _ref_name(ref: str) -> str:
    name = ref.rsplit("/", 1)[-1]
    return f"[{name}](#{name})"


def _constraints(node: dict[str, Any]) -> str:
    notes = []
    if "enum" in node:
        values = ", ".join(f"`{v}`" for v in node["enum"])
        notes.append(f"one of {values}" + (" (more may be added)" if node.get(EXTENSIBLE_ENUM) else ""))
    if "pattern" in node:
        notes.append(f"pattern `{node['pattern']}`")
    for key, word in (("minimum", "≥"), ("maximum", "≤"), ("minLength", "length ≥"), ("maxLength", "length ≤")):
        if key in node:
            notes.append(f"{word} {node[key]}")
    return "; ".join(notes)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _object_table(node: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    rows = ["| Field | Type | Required | Constraints | Meaning |", "|---|---|---|---|---|"]
    required = set(node.get("required", []))
    for name, prop in node.get("properties", {}).items():
        rows.append(f"| `{name}` | {_escape(_type_text(prop, schema))} | {'yes' if name in required else 'no'} | "
                    f"{_escape(_constraints(prop))} | {_escape(prop.get('description', ''))} |")
    extra = node.get("additionalProperties")
    if extra is False:
        rows.append("")
        rows.append("No other fields in this version (consumers must still ignore unknown fields: see "
                    "[evolution](../schemas/README.md)).")
    return rows


def _nested_objects(node: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    for name, prop in node.get("properties", {}).items():
        if prop.get("type") == "object" and prop.get("properties"):
            yield name, prop


def _kind_section(kind: str) -> list[str]:
    schema = load_schema(kind)
    lines = [f"## {schema.get('title', kind)} (`{kind}`)", "",
             f"- Schema: [`schemas/{schema_path(kind).name}`](../schemas/{schema_path(kind).name})",
             f"- `$id`: `{schema['$id']}`", f"- Version: {schema_version(schema)}", "",
             _escape(schema.get("description", "")), ""]
    variants = schema.get("oneOf")
    if variants:
        for variant in variants:
            lines += [f"**{_type_text(variant, schema)}**: {_escape(variant.get('description', ''))}", ""]
            if variant.get("type") == "object":
                lines += _object_table(variant, schema) + [""]
            elif _constraints(variant):
                lines += [f"Constraints: {_escape(_constraints(variant))}", ""]
        return lines
    lines += _object_table(schema, schema) + [""]
    for name, nested in _nested_objects(schema):
        lines += [f"### `{name}`", "", _escape(nested.get("description", "")), ""]
        lines += _object_table(nested, schema) + [""]
    for name, definition in schema.get("$defs", {}).items():
        lines += [f"### {name}", "", _escape(definition.get("description", "")), ""]
        lines += _object_table(definition, schema) + [""]
    return lines


def fields_markdown(kinds: Sequence[str] = KINDS) -> str:
    """The field reference of every message, generated from the schema files."""
    # The topic table comes from the same specs ensure_topics applies.
    from workers.contract.topics import topics_markdown

    generated = ("<!-- Generated by `python -m workers.contract.schemas --markdown > docs/fields.md`"
                 " from schemas/*.json."
                 " Do not edit by hand: a test compares this file with the schemas. -->")
    intro = ("Every message is UTF-8 JSON (orjson). Types are JSON types; `string or null` fields are always"
             " present and null when there is no value. See [consuming.md](consuming.md) for topics, keys,"
             " headers and replay, and [schemas/README.md](../schemas/README.md) for the evolution policy.")
    headers = ("Headers on every message newswire writes: `schema_version` (major.minor of the value's schema),"
               " `content_type` (`application/json`) and `trace_id` (copied from the submission's `trace_id`"
               " header, or a new random id).")
    lines = ["# Field reference", "", generated, "", intro, "", "## Topics", "", topics_markdown(), headers, ""]
    for kind in kinds:
        lines += _kind_section(kind)
    return "\n".join(lines).rstrip() + "\n"


# -- command line --------------------------------------------------------------------------


def _build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--markdown", action="store_true", help="print the field reference (docs/fields.md)")
    group.add_argument("--tolerant", metavar="KIND", choices=KINDS,
                       help="print the consumer (tolerant) form of a schema")
    group.add_argument("--validate", metavar="KIND", choices=KINDS,
                       help="validate JSON lines from stdin (e.g. `newswire tail`) against a schema")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.markdown:
        sys.stdout.write(fields_markdown())
        return 0
    if args.tolerant:
        sys.stdout.write(orjson.dumps(tolerant(load_schema(args.tolerant)), option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    bad = 0
    for number, line in enumerate(sys.stdin.buffer, 1):
        if not line.strip():
            continue
        problems = record_errors(args.validate, line)
        if problems:
            bad += 1
            print(f"line {number}: " + "; ".join(problems), file=sys.stderr)
    return 1 if bad else 0


def add_cli(subparsers: Any) -> None:
    """Register ``newswire schemas`` (same options as ``python -m workers.contract.schemas``)."""
    parser = subparsers.add_parser("schemas", help="print the field reference or a consumer schema; validate records")
    _build_parser(parser).set_defaults(handler=_run)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser(argparse.ArgumentParser(prog="python -m workers.contract.schemas",
                                                   description=__doc__.split("\n")[0]))
    return _run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
