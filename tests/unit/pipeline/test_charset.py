from __future__ import annotations

import codecs

import pytest

from workers.pipeline.charset import decode_html, find_meta_charset, normalize_charset

RUSSIAN = ("Правительство России сегодня объявило о новых мерах поддержки экономики. "
           "Министр финансов заявил журналистам, что бюджет будет исполнен полностью. ") * 3
JAPANESE = ("東京都は本日、新しい交通政策を発表しました。市民の生活に大きな影響があると見られています。"
            "政府は来年度の予算案を閣議決定しました。") * 3
GERMAN = "Die Bundesregierung hat heute neue Maßnahmen für Bürger und Unternehmen angekündigt. Größere Änderungen. " * 3


def page(text: str, head: str = "") -> str:
    return f"<!doctype html><html><head>{head}<title>t</title></head><body><p>{text}</p></body></html>"


def test_header_charset_is_used():
    html = page(RUSSIAN)
    text, encoding = decode_html(html.encode("koi8-r"), "KOI8-R")
    assert text == html and encoding == "koi8-r"


@pytest.mark.parametrize("encoding, text", [
    ("windows-1251", RUSSIAN), ("shift_jis", JAPANESE), ("euc-jp", JAPANESE), ("utf-8", RUSSIAN),
    ("windows-1252", GERMAN),
])
def test_detection_without_any_declaration(encoding, text):
    html = page(text)
    decoded, _ = decode_html(html.encode(encoding))
    assert decoded == html


@pytest.mark.parametrize("meta", [
    '<meta charset="windows-1251">',
    "<meta charset=windows-1251>",
    '<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=windows-1251">',
    "<meta content='text/html; charset=windows-1251' http-equiv='content-type'>",
])
def test_meta_charset_is_used(meta):
    html = page("Привет", head=meta)  # too short to detect reliably: the meta must decide
    text, encoding = decode_html(html.encode("cp1251"))
    assert text == html and encoding == "cp1251"


def test_header_beats_meta():
    html = page(RUSSIAN, head='<meta charset="iso-8859-5">')
    text, encoding = decode_html(html.encode("cp1251"), "windows-1251")
    assert text == html and encoding == "cp1251"


def test_bom_beats_a_wrong_header():
    html = page(GERMAN)
    text, encoding = decode_html(codecs.BOM_UTF8 + html.encode("utf-8"), "iso-8859-1")
    assert text == html and encoding == "utf-8"


@pytest.mark.parametrize("bom, codec", [
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF32_LE, "utf-32-le"),
])
def test_utf16_and_utf32_boms(bom, codec):
    html = page(JAPANESE)
    text, _ = decode_html(bom + html.encode(codec))
    assert text == html


def test_latin1_label_means_windows_1252():
    html = page("“Quoted” – dash €")
    text, encoding = decode_html(html.encode("cp1252"), "ISO-8859-1")
    assert text == html and encoding == "cp1252"


def test_wrong_utf8_header_falls_back_to_a_meta_that_fits():
    html = page(RUSSIAN, head='<meta charset="windows-1251">')
    text, encoding = decode_html(html.encode("cp1251"), "utf-8")
    assert text == html and encoding == "cp1251"


def test_unknown_header_charset_is_ignored():
    html = page(RUSSIAN)
    text, _ = decode_html(html.encode("utf-8"), "no-such-charset")
    assert text == html


def test_bad_bytes_never_raise():
    body = page("ok").encode() + b"\xff\xfe\xc3\x28\xa0\xa1" + bytes(range(256))
    for declared in (None, "utf-8", "shift_jis", "utf-16", "bogus"):
        text, encoding = decode_html(body, declared)
        assert isinstance(text, str) and encoding
    text, _ = decode_html(b"caf\xe9 \xff", "utf-8")
    assert text.startswith("caf")


def test_empty_body():
    assert decode_html(b"") == ("", "utf-8")


def test_meta_declaring_utf16_means_utf8():
    assert find_meta_charset(b'<meta charset="utf-16">') == "utf-8"


def test_normalize_charset():
    assert normalize_charset(" UTF8 ") == "utf-8"
    assert normalize_charset('"windows-1251"') == "cp1251"
    assert normalize_charset("x-sjis") == "cp932"
    assert normalize_charset("gb2312") == "gb18030"
    assert normalize_charset("nonsense") is None
    assert normalize_charset(None) is None
