"""The short human form of records, shared by `make demo` and `newswire tail --format short`."""

from __future__ import annotations

import subprocess
import sys

import orjson

from workers.cli.record_text import describe, describe_article, describe_dead_letter
from workers.cli.tail import as_json_line as _as_json_line
from workers.cli.tail import as_short_text as _as_short_text

ARTICLE = {
    "title": "Harbour bridge reopens", "site_name": "Example News", "language": "en", "published": "2026-05-01",
    "authors": ["A. Writer"], "word_count": 321, "removed": {"boilerplate": 2},
    "entities": [{"name": f"Name{n}", "label": "PERSON"} for n in range(8)],
    "text": "The bridge reopened on Monday.\n\nTraffic was light. " * 10,
}
LETTER = {"url": "https://x.example/gone", "stage": "fetch", "error": "http_404", "detail": "HTTP 404",
          "attempts": 1, "failed_at": "2026-05-01T00:00:00Z"}


def test_an_article_in_short_form():
    text = describe_article(ARTICLE)
    lines = text.splitlines()
    assert lines[0] == "[article] Harbour bridge reopens"
    assert lines[1] == "  site: Example News   language: en   published: 2026-05-01   authors: A. Writer"
    assert lines[2] == "  words: 321   removed: {'boilerplate': 2}"
    assert lines[3] == "  entities: " + ", ".join(f"Name{n} (PERSON)" for n in range(6))  # the top six
    assert lines[4].startswith("  text: The bridge reopened on Monday. Traffic was light.") and lines[4].endswith("...")
    assert describe(ARTICLE) == text


def test_a_dead_letter_in_short_form():
    assert describe_dead_letter(LETTER) == "[dead letter] https://x.example/gone\n  fetch/http_404: HTTP 404"
    assert describe(LETTER) == describe_dead_letter(LETTER)
    undecodable = {"url": None, "raw": "\ufffd\ufffd", "stage": "decode", "error": "invalid_message", "detail": "x"}
    assert describe(undecodable).startswith("[dead letter] \ufffd\ufffd\n  decode/invalid_message")


def test_other_messages_print_as_they_are():
    assert describe("https://x.example/a") == "https://x.example/a"
    assert describe({"url": "https://x.example/a", "source": "s"}) == '{"url":"https://x.example/a","source":"s"}'


def test_tail_lines_in_each_format():
    value = orjson.dumps(LETTER)
    assert _as_json_line(value) == value + b"\n"
    assert _as_short_text(value) == describe_dead_letter(LETTER).encode() + b"\n\n"
    assert _as_short_text(b"https://x.example/a") == b"https://x.example/a\n\n"
    assert _as_short_text(None) == b"(tombstone)\n\n"


def test_the_demo_prints_records_with_the_shared_form():
    import scripts.demo as demo

    assert demo.describe_article is describe_article and demo.describe_dead_letter is describe_dead_letter


def test_tail_follow_does_not_go_with_a_limit():
    result = subprocess.run([sys.executable, "-m", "workers", "tail", "--follow", "--max", "3"],
                            capture_output=True, timeout=60)
    assert result.returncode == 2
    assert b"--follow reads until interrupted" in result.stderr


def test_the_cli_commands_load_no_faust():
    # extract, submit, tail and config never need Faust: importing them (and running config) must not load it.
    probe = ("import sys, workers.cli.command as c, workers.cli.extract, workers.cli.submit, workers.cli.tail, "
             "workers.cli.config, workers.cli.status, workers.cli.progress, workers.cli.inputs, "
             "workers.cli.record_text; "
             "c.build_parser(); c.main(['config']); "
             "print(sorted(m for m in ('faust', 'mode') if m in sys.modules), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "NEWSWIRE_BOOTSTRAP_SERVERS=" in done.stdout  # config really ran
    assert done.stderr.strip() == "[]"
