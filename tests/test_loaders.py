"""Tests for rag.loaders: every format read with the real parsers, from files made in tmp_path."""

from __future__ import annotations

import datetime as dt
import json
import random
import warnings
from pathlib import Path

import pytest

from rag.errors import LoadError
from rag.loaders import SUPPORTED_SUFFIXES, Loaded, load_file, parse_date
from rag.types import Article

REPO = Path(__file__).resolve().parents[1]
CORPUS_ARTICLE = REPO / "corpus" / "north-korea-launches-missile-amid-blinken-visit-to-seoul.txt"
BENCHMARK = REPO.parent / "shared" / "benchmarks" / "multihop-rag" / "articles.jsonl"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def only(loaded: Loaded) -> Article:
    """The single article of a single-article file (whose key is "")."""
    assert [key for key, _ in loaded.articles] == [""]
    assert loaded.problems == ()
    return loaded.articles[0][1]


def load_error(path: Path) -> str:
    with pytest.raises(LoadError) as info:
        load_file(path)
    return str(info.value)


# ---------------------------------------------------------------------------------------- .txt


def test_corpus_article_headline_byline_and_verbatim_body() -> None:
    if not CORPUS_ARTICLE.exists():
        pytest.skip(f"{CORPUS_ARTICLE} not present")
    article = only(load_file(CORPUS_ARTICLE))
    raw = CORPUS_ARTICLE.read_text(encoding="utf-8").replace("\r\n", "\n")
    assert article.title == "North Korea Launches Missile Amid Blinken visit to Seoul"
    assert article.source == (
        "Department of Research, Strategic Studies, International Relations and News"
    )
    assert article.published == dt.date(2024, 1, 6)  # 06-01-2024 is day-first
    assert article.text.startswith("In a significant act of defiance")
    assert article.text in raw
    assert article.text == article.text.rstrip()
    assert article.doc_id == load_file(CORPUS_ARTICLE).articles[0][1].doc_id  # content-derived


@pytest.mark.parametrize(
    ("byline", "source", "author"),
    [
        ("Reuters 06/01/2024", "Reuters", ""),
        ("Reuters | 6.1.2024", "Reuters", ""),
        ("The Daily Planet - 2024-01-06", "The Daily Planet", ""),
        ("The Daily Planet \u2014 January 6, 2024", "The Daily Planet", ""),
        ("Associated Press, 6 January 2024", "Associated Press", ""),
        ("BBC News | Saturday, 6th Jan. 2024", "BBC News", ""),
        ("By Jane Doe, January 6, 2024", "", "Jane Doe"),
        ("By Jane Doe-Smith, Reuters | 6 January 2024", "Reuters", "Jane Doe-Smith"),
        ("06-01-2024", "", ""),
        ("Published on 6 January 2024", "", ""),
        ("Reuters | Updated: 2024-01-06", "Reuters", ""),
    ],
)
def test_byline_date_forms(tmp_path: Path, byline: str, source: str, author: str) -> None:
    path = write(tmp_path, "story.txt", f"Markets Rally\n{byline}\n\nStocks rose on Friday.\n")
    article = only(load_file(path))
    assert (article.title, article.source, article.author) == ("Markets Rally", source, author)
    assert article.published == dt.date(2024, 1, 6)
    assert article.text == "Stocks rose on Friday."


def test_body_keeps_inner_layout_and_drops_only_leading_blank_lines(tmp_path: Path) -> None:
    content = "Headline\nReuters 06-01-2024\n\n  \n  Indented first line.\n\n\nSecond  para.\n\n"
    article = only(load_file(write(tmp_path, "a.txt", content)))
    assert article.text == "  Indented first line.\n\n\nSecond  para."
    assert article.text in content


def test_headline_without_byline_date(tmp_path: Path) -> None:
    content = "Storm Hits the Coast\n\nWinds of 120 km/h were recorded.\nPower is out."
    article = only(load_file(write(tmp_path, "storm.txt", content)))
    assert article.title == "Storm Hits the Coast"
    assert article.published is None and article.source == ""
    assert article.text == "Winds of 120 km/h were recorded.\nPower is out."


def test_sentence_ending_in_a_date_is_not_a_byline(tmp_path: Path) -> None:
    content = "Summit Ends\nThe next summit is scheduled for 6 January 2024\nMore text.\n"
    article = only(load_file(write(tmp_path, "summit.txt", content)))
    assert (article.title, article.source, article.published) == ("Summit Ends", "", None)
    assert article.text == content.split("\n", 1)[1].strip()


def test_txt_without_headline_uses_humanised_file_name(tmp_path: Path) -> None:
    content = "This is a plain note that starts with a sentence.\nIt has no headline.\n"
    article = only(load_file(write(tmp_path, "my-plain_note.txt", content)))
    assert article.title == "My plain note"
    assert article.text == content.strip()


def test_single_line_txt_is_the_whole_article(tmp_path: Path) -> None:
    article = only(load_file(write(tmp_path, "one-liner.txt", "Just one line")))
    assert (article.title, article.text) == ("One liner", "Just one line")


def test_headline_and_byline_without_body(tmp_path: Path) -> None:
    reason = load_error(write(tmp_path, "stub.txt", "Headline\nReuters 06-01-2024\n\n"))
    assert "no article text" in reason


# ------------------------------------------------------------------------------------ decoding


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_legacy_encodings_decode_exactly(tmp_path: Path, encoding: str) -> None:
    text = "Café naïve résumé, señor"
    if encoding == "cp1252":
        text = "Café – “quoted” naïve"
    path = write(tmp_path, "legacy-note.txt", text.encode(encoding))
    assert only(load_file(path)).text == text


def test_longer_cp1252_article_decodes_exactly(tmp_path: Path) -> None:
    content = "Café Opens\nLe Monde 06-01-2024\nThe café – “Chez Zoë” – serves crème brûlée.\n"
    article = only(load_file(write(tmp_path, "cafe.txt", content.encode("cp1252"))))
    assert article.title == "Café Opens"
    assert article.text == "The café – “Chez Zoë” – serves crème brûlée."


def test_bom_crlf_and_utf16_are_normalised(tmp_path: Path) -> None:
    content = "Headline\r\nReuters 06-01-2024\r\nLine one.\rLine two.\r\n"
    article = only(load_file(write(tmp_path, "bom.txt", b"\xef\xbb\xbf" + content.encode())))
    assert (article.title, article.text) == ("Headline", "Line one.\nLine two.")
    utf16 = only(load_file(write(tmp_path, "wide.txt", content.encode("utf-16"))))
    assert utf16 == article


@pytest.mark.parametrize("content", [b"", b"   \n\t\r\n  ", "\ufeff \n".encode()])
def test_empty_files(tmp_path: Path, content: bytes) -> None:
    assert load_error(write(tmp_path, "empty.txt", content)) == "empty file"


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html", ".json", ".jsonl"])
def test_binary_file(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path, f"image{suffix}", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    assert "binary" in load_error(path)


# ------------------------------------------------------------------------------- paths, suffixes


def test_unsupported_suffix_names_it_and_lists_supported(tmp_path: Path) -> None:
    reason = load_error(write(tmp_path, "report.docx", "text"))
    assert "unsupported file type '.docx'" in reason
    assert all(suffix in reason for suffix in SUPPORTED_SUFFIXES)
    assert "no extension" in load_error(write(tmp_path, "README", "text"))


def test_suffix_is_case_insensitive(tmp_path: Path) -> None:
    assert only(load_file(write(tmp_path, "NOTE.TXT", "Title\n\nBody."))).text == "Body."


def test_unreadable_paths(tmp_path: Path) -> None:
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    assert load_error(folder).startswith("cannot read: ")
    dangling = tmp_path / "gone.txt"
    dangling.symlink_to(tmp_path / "missing.txt")
    reason = load_error(dangling)
    assert reason == "cannot read: No such file or directory"
    assert str(tmp_path) not in reason  # callers print the path themselves


def test_garbage_in_any_format_raises_only_load_error(tmp_path: Path) -> None:
    rng = random.Random(7)
    payloads = [b"%PDF-1.4\n", b"{[", b"<html><", b"---\n: :\n---\n", b"\xff\xfe\x00"]
    payloads += [bytes(rng.randrange(1, 256) for _ in range(300)) for _ in range(5)]
    for suffix in SUPPORTED_SUFFIXES:
        for n, payload in enumerate(payloads):
            try:
                load_file(write(tmp_path, f"junk{n}{suffix}", payload))
            except LoadError as e:
                assert str(e)


# ------------------------------------------------------------------------------------ markdown


def test_markdown_front_matter(tmp_path: Path) -> None:
    content = (
        "---\ntitle: Rates Held Steady\nsource: The Ledger\npublished: 2024-01-06\n"
        "url: https://ledger.example/rates\nauthor: Ann Lee\n---\n\n# Rates Held Steady\n\n"
        "The central bank kept rates unchanged.\n"
    )
    article = only(load_file(write(tmp_path, "rates.md", content)))
    assert article.title == "Rates Held Steady"
    assert (article.source, article.author) == ("The Ledger", "Ann Lee")
    assert article.published == dt.date(2024, 1, 6)
    assert article.url == "https://ledger.example/rates"
    assert article.text == "# Rates Held Steady\n\nThe central bank kept rates unchanged."


def test_markdown_date_keys_and_heading_title(tmp_path: Path) -> None:
    content = "---\ndate: '06/01/2024'\n---\n\n# Floods in the *North* ##\n\nRivers rose.\n"
    article = only(load_file(write(tmp_path, "floods.markdown", content)))
    assert article.title == "Floods in the *North*"
    assert article.published == dt.date(2024, 1, 6)
    assert article.text == "Rivers rose."


def test_markdown_heading_keeps_a_trailing_hash_that_is_part_of_it(tmp_path: Path) -> None:
    article = only(load_file(write(tmp_path, "c.md", "# Learning C#\nIt is fun.")))
    assert (article.title, article.text) == ("Learning C#", "It is fun.")


def test_markdown_without_front_matter_or_heading(tmp_path: Path) -> None:
    content = "Some notes.\n\n---\n\nMore notes after a rule.\n"
    article = only(load_file(write(tmp_path, "field-notes.md", content)))
    assert article.title == "Field notes"
    assert article.text == content.strip()


def test_markdown_broken_yaml(tmp_path: Path) -> None:
    content = "---\ntitle: Fine\nsource: [unclosed\nauthor: x\n---\nBody\n"
    reason = load_error(write(tmp_path, "bad.md", content))
    assert "invalid YAML front matter" in reason
    assert "line" in reason
    reason = load_error(write(tmp_path, "bad2.md", "---\ntitle: a: b\n---\nBody\n"))
    assert "mapping values are not allowed" in reason and "line 2" in reason


def test_markdown_unclosed_front_matter(tmp_path: Path) -> None:
    reason = load_error(write(tmp_path, "open.md", "---\ntitle: Open\n\nBody\n"))
    assert "not closed" in reason and "---" in reason


def test_markdown_with_only_front_matter(tmp_path: Path) -> None:
    assert "no text" in load_error(write(tmp_path, "stub.md", "---\ntitle: Stub\n---\n\n"))


# ---------------------------------------------------------------------------------------- html

HTML = """<!doctype html>
<html><head>
<title>Quake Shakes Region | The Daily</title>
<meta property="og:title" content="Quake Shakes Region">
<meta property="og:site_name" content="The Daily">
<meta name="author" content="Rita Moreno">
<meta property="article:published_time" content="2024-01-06T08:30:00+00:00">
<meta property="og:url" content="https://daily.example/quake">
<script>alert(1)</script><style>body { color: red }</style>
</head><body>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/login">Sign in</a></nav>
<article><h1>Quake Shakes Region</h1>
<p>A magnitude 6.1 earthquake struck the coastal region early on Saturday morning, officials
said, damaging older buildings and cutting power to thousands of homes.</p>
<script>document.write("injected tracking text")</script>
<p>Rescue teams worked through the day, and no deaths had been reported by evening.</p>
</article>
<footer>Copyright 2024 The Daily. All rights reserved.</footer>
</body></html>
"""


def test_html_main_text_and_metadata(tmp_path: Path) -> None:
    article = only(load_file(write(tmp_path, "quake.html", HTML)))
    assert article.title == "Quake Shakes Region"
    assert (article.source, article.author) == ("The Daily", "Rita Moreno")
    assert article.published == dt.date(2024, 1, 6)
    assert article.url == "https://daily.example/quake"
    assert "magnitude 6.1 earthquake" in article.text
    assert "no deaths had been reported" in article.text
    for junk in ("alert", "injected", "color: red", "Sign in", "Copyright", "<"):
        assert junk not in article.text


def test_html_fallback_metadata_sources(tmp_path: Path) -> None:
    html = (
        '<html><head><title>Budget Passes</title><meta name="publisher" content="Gazette">'
        '<link rel="canonical" href="https://gazette.example/budget"></head><body><main>'
        "<p>The budget passed by a narrow margin after a long debate in parliament today.</p>"
        '<p>Published <time datetime="2024-01-06">Saturday</time></p></main></body></html>'
    )
    article = only(load_file(write(tmp_path, "budget.htm", html)))
    assert (article.title, article.source) == ("Budget Passes", "Gazette")
    assert article.url == "https://gazette.example/budget"
    assert article.published == dt.date(2024, 1, 6)
    assert "narrow margin" in article.text


def test_html_beautifulsoup_fallback_when_trafilatura_finds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trafilatura

    monkeypatch.setattr(trafilatura, "bare_extraction", lambda *a, **k: None)
    article = only(load_file(write(tmp_path, "quake.html", HTML)))
    assert article.title == "Quake Shakes Region"
    assert "Rescue teams worked through the day" in article.text
    for junk in ("alert", "injected", "Sign in", "Copyright", "<"):
        assert junk not in article.text


def test_html_without_text(tmp_path: Path) -> None:
    html = "<html><head><script>var x = 1;</script></head><body> </body></html>"
    assert "no visible text" in load_error(write(tmp_path, "blank.html", html))


# ---------------------------------------------------------------------------------- json, jsonl


def record(n: int, **extra: object) -> dict[str, object]:
    return {"title": f"Story {n}", "body": f"Body of story {n}.", **extra}


def test_json_list_object_and_single_record(tmp_path: Path) -> None:
    records = [record(1, url="https://x.example/1"), record(2)]
    as_list = load_file(write(tmp_path, "list.json", json.dumps(records)))
    assert [k for k, _ in as_list.articles] == ["https://x.example/1", "item-2"]
    for key in ("articles", "data", "records", "items"):
        wrapped = load_file(write(tmp_path, f"{key}.json", json.dumps({key: records})))
        assert wrapped == as_list
    single = only(load_file(write(tmp_path, "one.json", json.dumps(record(3, date="6.1.2024")))))
    assert (single.title, single.text, single.published) == (
        "Story 3",
        "Body of story 3.",
        dt.date(2024, 1, 6),
    )


def test_json_field_variants(tmp_path: Path) -> None:
    rec = {
        "title": "Vote Count",
        "content": "Counting continued overnight.",
        "source": {"id": "ap", "name": "AP"},  # NewsAPI's shape
        "published": "January 6, 2024",
        "author": "Sam Roe",
    }
    article = only(load_file(write(tmp_path, "vote.json", json.dumps(rec))))
    assert (article.text, article.source, article.author) == (
        "Counting continued overnight.",
        "AP",
        "Sam Roe",
    )
    assert article.published == dt.date(2024, 1, 6)


def test_json_errors(tmp_path: Path) -> None:
    reason = load_error(write(tmp_path, "bad.json", '{"title": }'))
    assert reason.startswith("invalid JSON: Expecting value at line 1 column 11")
    assert "expected a list of records" in load_error(write(tmp_path, "num.json", "42"))
    reason = load_error(write(tmp_path, "nobody.json", '{"title": "x"}'))
    assert "no body/text/content" in reason
    reason = load_error(write(tmp_path, "nobodies.json", '[{"title": "x"}, {"body": " "}]'))
    assert reason == "no records with a body/text/content field"
    assert load_error(write(tmp_path, "none.json", "[]")) == "no records (empty list)"


def test_jsonl_malformed_line_is_a_problem_and_the_rest_load(tmp_path: Path) -> None:
    lines = [
        json.dumps(record(1, url="https://x.example/a")),
        "",
        '{"title": "broken", "body": ',
        json.dumps(record(4)),
        json.dumps({"title": "no body"}),
        json.dumps(["not", "an", "object"]),
        json.dumps(record(7, url="https://x.example/dup")),
        json.dumps(record(8, url="https://x.example/dup")),
    ]
    loaded = load_file(write(tmp_path, "feed.jsonl", "\n".join(lines) + "\n"))
    assert [key for key, _ in loaded.articles] == [
        "https://x.example/a",
        "line-4",
        "https://x.example/dup#7",
        "https://x.example/dup#8",
    ]
    assert [a.title for _, a in loaded.articles] == ["Story 1", "Story 4", "Story 7", "Story 8"]
    assert loaded.problems[0].startswith("line 3: invalid JSON (")
    assert loaded.problems[1:] == (
        "line 5: record has no body/text/content",
        "line 6: record is list, not an object",
    )


def test_jsonl_where_every_record_fails(tmp_path: Path) -> None:
    reason = load_error(write(tmp_path, "bad.jsonl", "{oops\n[1]\n"))
    assert reason.startswith("no valid records (2 problems: line 1: invalid JSON")


def test_benchmark_records(tmp_path: Path) -> None:
    if not BENCHMARK.exists():
        pytest.skip(f"{BENCHMARK} not present")
    with BENCHMARK.open(encoding="utf-8") as f:
        head = [next(f) for _ in range(5)]
    loaded = load_file(write(tmp_path, "head.jsonl", "".join(head)))
    assert loaded.problems == ()
    assert len(loaded.articles) == 5
    for line, (key, article) in zip(head, loaded.articles, strict=True):
        rec = json.loads(line)
        assert key == rec["url"] == article.url
        assert (article.title, article.source, article.author) == (
            rec["title"],
            rec["source"],
            rec["author"],
        )
        assert article.text == rec["body"].strip()
        assert article.published == dt.date.fromisoformat(rec["published_at"][:10])


# ----------------------------------------------------------------------------------------- pdf


def make_pdf(path: Path, pages: list[list[str]], title: str = "", password: str = "") -> Path:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    if title:
        pdf.setTitle(title)
        pdf.setAuthor("Ann Author")
    for lines in pages:
        for i, line in enumerate(lines):
            pdf.drawString(72, 720 - 20 * i, line)
        pdf.showPage()
    if password:
        pdf.setEncrypt(password)
    pdf.save()
    return path


def test_pdf_pages_and_metadata(tmp_path: Path) -> None:
    pages = [["Harvest Report", "Wheat yields rose this year."], [], ["Prices fell in spring."]]
    article = only(load_file(make_pdf(tmp_path / "r.pdf", pages, title="Harvest 2024")))
    assert article.title == "Harvest 2024"
    assert article.author == "Ann Author"
    assert isinstance(article.published, dt.date)  # reportlab's /CreationDate
    assert article.text == (
        "Harvest Report\nWheat yields rose this year.\n\nPrices fell in spring."
    )


def test_pdf_placeholder_metadata_is_ignored(tmp_path: Path) -> None:
    # reportlab writes /Title "untitled" and /Author "anonymous" when none is set.
    article = only(load_file(make_pdf(tmp_path / "r.pdf", [["First Line Title", "Body."]])))
    assert (article.title, article.author) == ("First Line Title", "")


def test_pdf_errors(tmp_path: Path) -> None:
    good = make_pdf(tmp_path / "good.pdf", [["Some text"]]).read_bytes()
    truncated = write(tmp_path, "broken.pdf", good[: len(good) // 3])
    assert "PDF" in load_error(truncated)
    assert "broken PDF" in load_error(write(tmp_path, "junk.pdf", b"not a pdf at all"))
    locked = make_pdf(tmp_path / "locked.pdf", [["Secret"]], password="s3cret")
    assert "encrypted PDF" in load_error(locked) and "password" in load_error(locked)
    blank = make_pdf(tmp_path / "blank.pdf", [[], []])
    assert load_error(blank) == "PDF has no extractable text (scanned? run OCR first)"


# ---------------------------------------------------------------------------------- parse_date


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.date(2024, 1, 6), dt.date(2024, 1, 6)),
        (dt.datetime(2024, 1, 6, 23, 59), dt.date(2024, 1, 6)),
        ("2024-01-06", dt.date(2024, 1, 6)),
        ("2024-01-06T17:01:22+00:00", dt.date(2024, 1, 6)),
        ("2024-01-06 23:30:00-05:00", dt.date(2024, 1, 6)),  # the date as written
        ("2024/1/6", dt.date(2024, 1, 6)),
        ("06-01-2024", dt.date(2024, 1, 6)),
        ("06/01/2024", dt.date(2024, 1, 6)),
        ("6.1.2024", dt.date(2024, 1, 6)),
        ("13/01/2024", dt.date(2024, 1, 13)),
        ("January 6, 2024", dt.date(2024, 1, 6)),
        ("6 January 2024", dt.date(2024, 1, 6)),
        ("Sat, 06 Jan 2024 10:00:00 +0000", dt.date(2024, 1, 6)),
        ("Jan 6 2024 10:00 EST", dt.date(2024, 1, 6)),  # unknown zone name: no warning
        ("D:20240106120000+00'00'", dt.date(2024, 1, 6)),
        ("20240106", dt.date(2024, 1, 6)),  # compact is year-first, even though dayfirst
        ("2024-01-06Z", dt.date(2024, 1, 6)),
        ("6-1-24", dt.date(2024, 1, 6)),
        ("Saturday, 6th January 2024", dt.date(2024, 1, 6)),
        ("  2024-01-06  ", dt.date(2024, 1, 6)),
        ("", None),
        ("   ", None),
        (None, None),
        (20240106, None),
        ("not a date", None),
        ("January 2024", None),  # no day: not guessed
        ("Monday", None),
        ("2024-02-30", None),
        ("31/02/2024", None),
        ("99999999999999999999", None),
        ("1704499200", None),
        ("today", None),
    ],
)
def test_parse_date(value: object, expected: dt.date | None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_date(value) == expected
