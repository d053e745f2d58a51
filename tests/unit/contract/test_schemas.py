"""The contract: schema files are valid, match the typed record model, and evolve by the written rules."""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator

from workers.contract import schemas
from workers.errors import HTTPStatusError, InvalidMessage
from workers.pipeline.entities import Entity, Mention
from workers.pipeline.extract import Block
from workers.pipeline.record import (
    ARTICLE_SCHEMA_VERSION,
    DEADLETTER_SCHEMA_VERSION,
    ArticleRecord,
    DeadLetter,
    content_hash,
    dead_letter,
    dumps,
)
from workers.pipeline.submission import Submission, decode_submission, encode_submission
from workers.pipeline.urls import article_id
from workers.processing.handler import _entity_messages

ROOT = Path(__file__).resolve().parents[3]
RELEASED = ROOT / "schemas" / "released"

# record.py types these lists loosely (list[Any]); the classes that actually fill them.
NESTED: dict[tuple[type, str], type] = {
    (ArticleRecord, "blocks"): Block,
    (ArticleRecord, "entities"): Entity,
    (ArticleRecord, "facts"): Entity,
}


def sample_article(**changes) -> ArticleRecord:
    text = "Antony Blinken arrived in Israel on Wednesday.\n\nHe met Benjamin Netanyahu."
    canonical = "https://news.example/world/blinken-visit"
    record = ArticleRecord(
        id=article_id(canonical),
        url="https://News.example/world/blinken-visit?utm_source=feed#top",
        canonical_url=canonical,
        final_url="https://news.example/world/blinken-visit",
        fetched_at="2024-02-07T10:00:00.123Z",
        http_status=200,
        title="Blinken visits Israel",
        authors=["Staff Reporter"],
        published="2024-02-07",
        site_name="The Daily Ledger",
        language="en",
        language_confidence=0.99,
        description=None,
        tags=["World"],
        image="https://news.example/img/lead.jpg",
        text=text,
        word_count=len(text.split()),
        blocks=[Block("paragraph", "Antony Blinken arrived in Israel on Wednesday."),
                Block("paragraph", "He met Benjamin Netanyahu.")],
        entities=[Entity("Antony Blinken", "PERSON", 2, 0.6, ["Blinken"],
                         [Mention("title", 0, 7), Mention("text", 0, 14)]),
                  Entity("Israel", "GPE", 2, 0.4, [], [Mention("title", 15, 21), Mention("text", 26, 32)])],
        facts=[Entity("Wednesday", "DATE", 1, 1.0, [], [Mention("text", 36, 45)])],
        entities_status="ok",
        removed={"title_repeats": 1, "duplicate_headings": 0, "duplicate_paragraphs": 0, "boilerplate_blocks": 2},
        content_hash=content_hash(text),
        source="e2e",
        submitted_at="2024-02-07T09:59:00Z",
        metadata={"title": "Feed title", "feed": {"id": 3}},
        feed_title="Feed title",
    )
    return dataclasses.replace(record, **changes)


def as_json(obj) -> dict:
    return orjson.loads(dumps(obj))


# -- the schema files themselves -----------------------------------------------------


@pytest.mark.parametrize("kind", schemas.KINDS)
def test_schema_passes_the_2020_12_metaschema(kind):
    schema = schemas.load_schema(kind)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    Draft202012Validator.check_schema(schemas.tolerant(schema))


@pytest.mark.parametrize("kind", schemas.KINDS)
def test_schema_id_names_kind_and_major_version(kind):
    schema = schemas.load_schema(kind)
    assert schema["$id"] == f"https://newswire.dev/schemas/{kind}/v1"
    assert schemas.schema_version(schema).startswith("1.")


def _property_nodes(node, path="(root)"):
    if isinstance(node, dict):
        for name, prop in node.get("properties", {}).items():
            yield f"{path}/{name}", prop
        for key, value in node.items():
            if key in ("properties", "$defs"):
                for name, child in value.items():
                    yield from _property_nodes(child, f"{path}/{name}")
            elif key in ("oneOf", "anyOf", "allOf"):
                for index, child in enumerate(value):
                    yield from _property_nodes(child, f"{path}/{key}{index}")
            elif key == "items":
                yield from _property_nodes(value, f"{path}[]")


@pytest.mark.parametrize("kind", schemas.KINDS)
def test_every_field_is_described(kind):
    schema = schemas.load_schema(kind)
    undocumented = [path for path, prop in _property_nodes(schema) if not prop.get("description")]
    assert not undocumented
    assert schema.get("description") and schema.get("title")


def test_record_version_constants_match_the_schema_files():
    assert schemas.schema_version(schemas.load_schema("article")) == ARTICLE_SCHEMA_VERSION
    assert schemas.schema_version(schemas.load_schema("deadletter")) == DEADLETTER_SCHEMA_VERSION
    message = orjson.loads(_entity_messages(as_json(sample_article()))[0][1])
    assert message["schema_version"] == schemas.schema_version(schemas.load_schema("entity"))


# -- drift: the dataclasses and the schemas describe the same fields -----------------------

_JSON_TYPE = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null",
              list: "array", dict: "object"}


def _python_types(hint) -> tuple[set[str], object]:
    """JSON types a hint can serialise to, and the list item hint (if a list)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        found: set[str] = set()
        item = None
        for arg in typing.get_args(hint):
            kinds, arg_item = _python_types(arg)
            found |= kinds
            item = item or arg_item
        return found, item
    if origin is typing.Literal:
        return {_JSON_TYPE[type(v)] for v in typing.get_args(hint)}, None
    if origin is list:
        return {"array"}, typing.get_args(hint)[0]
    if origin is dict:
        return {"object"}, None
    return {_JSON_TYPE[hint]}, None


def _schema_types(node: dict) -> set[str]:
    kinds = node["type"]
    return set(kinds if isinstance(kinds, list) else [kinds])


def _resolve(node: dict, root: dict) -> dict:
    ref = node.get("$ref")
    if ref is None:
        return node
    assert ref.startswith("#/$defs/"), ref
    return root["$defs"][ref.rsplit("/", 1)[-1]]


def _drift(cls: type, node: dict, root: dict, where: str) -> list[str]:
    problems = []
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    props = node["properties"]
    if set(fields) != set(props):
        problems.append(f"{where}: only in the dataclass {sorted(set(fields) - set(props))}, "
                        f"only in the schema {sorted(set(props) - set(fields))}")
    # orjson writes every dataclass field, defaults and None included: all are required, except the
    # properties a later minor version added (a minor never changes `required`: records of x.0 lack them).
    first = _first_release_properties(where)
    added_later = set(props) - first if first is not None else set()
    if set(node.get("required", [])) != set(fields) - added_later:
        problems.append(f"{where}: required {sorted(node.get('required', []))} != fields {sorted(fields)} "
                        f"less those added after x.0 {sorted(added_later)}")
    if node.get("additionalProperties") is not False:
        problems.append(f"{where}: additionalProperties must be false so that an added field is caught")
    for name in set(fields) & set(props):
        prop = _resolve(props[name], root)
        kinds, item = _python_types(hints[name])
        if kinds != _schema_types(prop):
            problems.append(f"{where}.{name}: python {sorted(kinds)} vs schema {sorted(_schema_types(prop))}")
        literal = typing.get_args(hints[name]) if typing.get_origin(hints[name]) is typing.Literal else None
        if literal and set(literal) != set(prop.get("enum", [])):
            problems.append(f"{where}.{name}: Literal {sorted(literal)} vs enum {prop.get('enum')}")
        nested = NESTED.get((cls, name)) or (item if dataclasses.is_dataclass(item) else None)
        if nested is not None:
            problems += _drift(nested, _resolve(prop["items"], root), root, f"{where}.{name}[]")
        elif item is not None and item is not typing.Any:
            item_kinds, _ = _python_types(item)
            if item_kinds != _schema_types(_resolve(prop["items"], root)):
                problems.append(f"{where}.{name}[]: python {sorted(item_kinds)} vs schema items")
    return problems


_FIRST_RELEASE = {"ArticleRecord": "article", "DeadLetter": "deadletter"}


def _first_release_properties(where: str) -> set[str] | None:
    """Top-level properties of the x.0 release of the record at ``where`` (None for nested objects)."""
    kind = _FIRST_RELEASE.get(where)
    if kind is None:
        return None
    first = orjson.loads((RELEASED / f"{kind}.v1.0.json").read_bytes())
    return set(first["properties"])


@pytest.mark.parametrize("cls, kind", [(ArticleRecord, "article"), (DeadLetter, "deadletter")])
def test_dataclasses_and_schema_have_the_same_fields_types_and_nullability(cls, kind):
    schema = schemas.load_schema(kind)
    assert _drift(cls, schema, schema, cls.__name__) == []


def test_drift_check_notices_a_field_missing_from_the_schema():
    schema = schemas.load_schema("article")
    del schema["properties"]["duplicate_of"]
    schema["$defs"]["mention"]["properties"]["start"]["type"] = "number"
    problems = _drift(ArticleRecord, schema, schema, "ArticleRecord")
    assert any("only in the dataclass ['duplicate_of']" in p for p in problems)
    assert any("mentions[].start" in p for p in problems)


def test_a_record_with_an_unknown_field_fails_strict_validation():
    data = as_json(sample_article()) | {"sentiment": 0.2}
    assert any("sentiment" in p for p in schemas.record_errors("article", data))


# -- what the code builds validates ------------------------------------------------------------


def test_an_article_built_through_the_model_validates():
    record = sample_article()
    schemas.validate_record("article", record)            # the dataclass
    schemas.validate_record("article", dumps(record))     # its bytes
    schemas.validate_record("article", as_json(record))   # the parsed value


def test_an_article_with_every_optional_value_empty_validates():
    record = sample_article(title=None, authors=[], published=None, site_name=None, language=None,
                            language_confidence=0.0, tags=[], image=None, entities=[], facts=[],
                            entities_status="unsupported_language", source=None, submitted_at=None,
                            metadata={}, feed_title=None)
    schemas.validate_record("article", record)


def test_the_seed_page_through_the_cpu_stages_validates():
    from tests.helpers.expectations import SEED_HTML
    from workers.pipeline.analyse import AnalyseOptions, PageInput, analyse_page
    from workers.pipeline.entities import EntityConfig

    url = "https://news.example/2024/02/07/blinken"
    page = PageInput(body=SEED_HTML.read_bytes(), url=url, canonical_url=url, final_url=url,
                     fetched_at="2024-02-07T10:00:00.000Z", source="unit", metadata={"title": "t"})
    record = analyse_page(page, AnalyseOptions(EntityConfig(enabled=False)))
    schemas.validate_record("article", record)
    assert record.entities_status == "disabled"


def test_dead_letters_built_by_the_one_builder_validate():
    fetch = dead_letter(HTTPStatusError(404), url="https://e.com/x", article_id=article_id("https://e.com/x"),
                        source="feed")
    undecodable = dead_letter(InvalidMessage("not valid UTF-8"), url=None, raw=b"\xff\xfe not utf-8")
    tombstone = dead_letter(InvalidMessage("empty message (null value)"), url=None, raw=None)
    long_detail = dead_letter(InvalidMessage("x" * 5000), url="not a url")
    for letter in (fetch, undecodable, tombstone, long_detail):
        schemas.validate_record("deadletter", letter)


def test_entity_messages_validate_and_are_keyed_by_label_and_name():
    messages = _entity_messages(as_json(sample_article()))
    assert [key for key, _ in messages] == [b"PERSON:Antony Blinken", b"GPE:Israel"]
    for _, value in messages:
        schemas.validate_record("entity", value)


@pytest.mark.parametrize("value", [
    b'{"url": "https://e.com/a"}',
    (b'{"url": "https://e.com/a", "source": "feed", "submitted_at": "2024-02-07T10:00:00Z",'
     b' "metadata": {"title": "T", "published": "Wed, 07 Feb 2024", "x": [1]}}'),
    b'{"url": "https://e.com/a", "source": null, "metadata": null}',
    b'"https://e.com/a"',
])
def test_submissions_the_schema_accepts_are_decoded(value):
    schemas.validate_record("submission", value)
    assert decode_submission(value).url == "https://e.com/a"


@pytest.mark.parametrize("value", [b'{"url": 5}', b'{"source": "x"}', b'[1]',
                                   b'{"url": "https://e.com", "metadata": 3}'])
def test_submissions_the_schema_refuses_are_dead_lettered(value):
    assert schemas.record_errors("submission", value)
    with pytest.raises(InvalidMessage):
        decode_submission(value)


def test_newswire_submit_writes_valid_submissions():
    value = encode_submission(Submission(url="https://e.com/a", source="cli", submitted_at="2024-02-07T10:00:00Z"))
    schemas.validate_record("submission", value)


# -- formats are asserted, not just annotated ----------------------------------------------------


@pytest.mark.parametrize("field, value", [
    ("fetched_at", "2024-02-07 10:00:00"),       # no T
    ("fetched_at", "2024-02-07T10:00:00"),       # no offset
    ("processed_at", "2024-02-30T10:00:00Z"),    # no such day
    ("published", "2024-02-31"),
    ("published", "07/02/2024"),
    ("canonical_url", "https://e.com/a b"),
    ("canonical_url", "/relative/path"),
    ("id", "ABC"),
    ("content_hash", "md5:abc"),
    ("http_status", 404),
    ("language", "en-US"),
])
def test_bad_values_are_reported_with_their_field(field, value):
    problems = schemas.record_errors("article", as_json(sample_article()) | {field: value})
    assert problems and all(p.startswith(field) for p in problems), problems


def test_validate_record_raises_with_every_problem():
    data = as_json(sample_article())
    del data["title"]
    data["word_count"] = -1
    with pytest.raises(schemas.SchemaViolation) as caught:
        schemas.validate_record("article", data)
    assert len(caught.value.problems) == 2 and "title" in str(caught.value)


def test_unknown_kind_is_refused():
    with pytest.raises(KeyError):
        schemas.validate_record("articles", {})


# -- evolution ---------------------------------------------------------------------------------------


def next_minor(schema: dict, new_fields: dict[str, dict]) -> dict:
    """What a v1.(n+1) of ``schema`` looks like under the policy: optional fields added."""
    new = copy.deepcopy(schema)
    major, minor = schemas.schema_version(schema).split(".")
    new[schemas.VERSION_KEYWORD] = f"{major}.{int(minor) + 1}"
    new["properties"].update(new_fields)
    return new


def test_a_consumer_of_the_previous_minor_accepts_records_of_the_next():
    v1_0 = schemas.load_schema("article")
    v1_1 = next_minor(v1_0, {"sentiment": {"description": "Tone, -1 to 1.", "type": ["number", "null"]}})
    v1_1["$defs"]["block"]["properties"]["type"]["enum"].append("image")
    assert schemas.minor_evolution_problems(v1_0, v1_1) == []

    record = as_json(sample_article(schema_version="1.1")) | {"sentiment": -0.4}
    record["blocks"].append({"type": "image", "text": "A caption"})
    assert schemas.record_errors("article", record, schema=v1_1) == []
    # A v1.0 consumer validating with the tolerant form accepts it ...
    assert schemas.record_errors("article", record, schema=v1_0, consumer=True) == []
    # ... the strict producer form would not: that is why consumers must use the tolerant one.
    assert schemas.record_errors("article", record, schema=v1_0)
    # And a v1.1 consumer still accepts v1.0 records.
    assert schemas.record_errors("article", as_json(sample_article()), schema=v1_1, consumer=True) == []


def test_tolerant_form_keeps_the_promises():
    consumer = schemas.tolerant(schemas.load_schema("article"))
    record = as_json(sample_article())
    del record["id"]
    record["word_count"] = "many"
    problems = schemas.record_errors("article", record, schema=consumer)
    assert any("id" in p for p in problems) and any(p.startswith("word_count") for p in problems)


@pytest.mark.parametrize("change, expected", [
    (lambda s: s["properties"].pop("title"), "title: property removed"),
    (lambda s: s["properties"]["word_count"].update(type="number"), "word_count: definition changed"),
    (lambda s: s["required"].remove("title"), "required changed"),
    (lambda s: (s["properties"].update(x={"type": "string", "description": "x"}), s["required"].append("x")),
     "required changed"),
    (lambda s: s.update({"$id": "https://newswire.dev/schemas/article/v2"}), "new major version"),
    (lambda s: s["$defs"]["mention"]["properties"]["field"]["enum"].append("description"),
     "field: definition changed"),
])
def test_breaking_changes_are_not_minor(change, expected):
    old = schemas.load_schema("article")
    new = copy.deepcopy(old)
    change(new)
    problems = schemas.minor_evolution_problems(old, new)
    assert any(expected in p for p in problems), problems


def test_released_minor_versions_are_kept_and_current_schemas_extend_them():
    """schemas/released/ keeps every published minor; the current file must evolve from each of them."""
    released = sorted(RELEASED.glob("*.json"))
    kinds = {path.name.split(".")[0] for path in released}
    assert kinds == set(schemas.KINDS)
    for path in released:
        old = orjson.loads(path.read_bytes())
        kind, major = path.name.split(".")[0], int(schemas.schema_version(old).split(".")[0])
        current = schemas.load_schema(kind, major)
        assert path.name == f"{kind}.v{schemas.schema_version(old)}.json"
        assert schemas.minor_evolution_problems(old, current) == [], path.name
        old_minor = int(schemas.schema_version(old).split(".")[1])
        assert int(schemas.schema_version(current).split(".")[1]) >= old_minor


def test_consumers_of_every_released_minor_accept_current_records():
    current = {"article": as_json(sample_article()),
               "deadletter": as_json(dead_letter(HTTPStatusError(500, exhausted=True), url="https://e.com/")),
               "entity": orjson.loads(_entity_messages(as_json(sample_article()))[0][1])}
    for path in sorted(RELEASED.glob("*.json")):
        kind = path.name.split(".")[0]
        if kind in current:
            old = orjson.loads(path.read_bytes())
            assert schemas.record_errors(kind, current[kind], schema=old, consumer=True) == [], path.name


# -- generated reference -------------------------------------------------------------------------------


def test_field_reference_is_generated_from_the_schemas():
    on_disk = (ROOT / "docs" / "fields.md").read_text(encoding="utf-8")
    assert on_disk == schemas.fields_markdown(), (
        "docs/fields.md is out of date: run `python -m workers.contract.schemas --markdown > docs/fields.md`")


def test_field_reference_lists_every_property():
    text = schemas.fields_markdown()
    for kind in schemas.KINDS:
        for path, _prop in _property_nodes(schemas.load_schema(kind)):
            assert f"| `{path.rsplit('/', 1)[-1]}` |" in text, path


def test_cli_validates_json_lines(capsys, monkeypatch):
    import io

    good = dumps(sample_article())
    bad = orjson.dumps(as_json(sample_article()) | {"http_status": 500})
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(good + b"\n" + bad + b"\n")))
    assert schemas.main(["--validate", "article"]) == 1
    assert "line 2: http_status" in capsys.readouterr().err


def test_consumer_validation_of_a_kind_uses_its_tolerant_form():
    data = as_json(sample_article(schema_version="1.7")) | {"added_in_a_later_minor": {"x": 1}}
    schemas.validate_record("article", data, consumer=True)
    with pytest.raises(schemas.SchemaViolation):
        schemas.validate_record("article", data)
    with pytest.raises(schemas.SchemaViolation):
        schemas.validate_record("article", data | {"schema_version": "2.0"}, consumer=True)


def _formats(node) -> set[str]:
    if isinstance(node, dict):
        found = {node["format"]} if isinstance(node.get("format"), str) else set()
        return found.union(*(_formats(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_formats(v) for v in node))
    return set()


def test_every_format_the_schemas_use_is_really_checked():
    used = set().union(*(_formats(schemas.load_schema(kind)) for kind in schemas.KINDS))
    assert used == {"date-time", "date", "uri"}
    assert used <= set(schemas.format_checker().checkers)
