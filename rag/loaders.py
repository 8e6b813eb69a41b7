"""Files -> articles: .txt, .md, .html, .json/.jsonl and .pdf, each read into ``Article`` values.

``load_file`` returns the articles a file holds and the records it skipped, or raises
``LoadError`` with a short reason (callers print it next to the path; one bad file never stops a
run). Parsers are imported on first use, so importing this module for ``parse_date`` stays cheap.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.dates import BYLINE_DATE, parse_date
from rag.errors import LoadError
from rag.protocols import loaders, register_loader
from rag.types import Article

__all__ = [
    "SUPPORTED_SUFFIXES",
    "FunctionLoader",
    "Loaded",
    "load_file",
    "parse_date",
    "supported_suffixes",
]


@dataclass(frozen=True)
class Loaded:
    """What one file yielded.

    ``articles`` pairs each article with its key within the file: ``""`` for single-article
    files; for JSON/JSONL records the record's url (``f"{url}#{n}"`` when the url repeats in the
    file), else ``line-{n}`` (JSONL) or ``item-{n}`` (JSON), ``n`` being the record's 1-based
    line (JSONL) or item (JSON) number.
    ``problems`` names the records skipped, e.g. ``"line 3: invalid JSON (Expecting value)"``.
    ``notes`` names what was stored with a caveat, e.g. a date that was not understood.
    """

    articles: tuple[tuple[str, Article], ...]
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def load_file(path: Path) -> Loaded:
    """Read one file into articles; raise ``LoadError(reason)`` when it yields none.

    For example ``load_file(Path("corpus/story.txt")).articles[0][1].title``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in loaders:
        kind = repr(suffix) if suffix else "(no extension)"
        raise LoadError(
            f"unsupported file type {kind} (supported: {', '.join(supported_suffixes())})"
        )
    loader = loaders.get(suffix)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise LoadError(f"cannot read: {e.strerror or e}") from e
    if not data.strip():
        raise LoadError("empty file")
    return loader.load(path, data)


def supported_suffixes() -> tuple[str, ...]:
    """The file suffixes a loader is registered for (``rag.protocols.register_loader``)."""
    return tuple(loaders.names())


@dataclass(frozen=True)
class FunctionLoader:
    """A Loader made of a function ``(path, data) -> Loaded``."""

    read: Callable[[Path, bytes], Loaded]

    def load(self, path: Path, data: bytes) -> Loaded:
        return self.read(path, data)


# ---------------------------------------------------------------------------------------- bylines
_PUBLISHED_ON = re.compile(r"\b(?:published|updated|posted)(?:\s+on)?\s*:?$", re.IGNORECASE)
# The last word of a sentence that merely ends in a date, not of a byline's source.
_SENTENCE_END = re.compile(r"\b(?:on|for|of|in|at|by|from|to|since|until|before|after|and|the)$")


# ------------------------------------------------------------------------------------- decoding
def _decode(data: bytes) -> str:
    """File bytes -> text with ``\\n`` line endings; LoadError when binary or empty."""
    # UTF-16 is full of NULs: recognise it by its BOM before sniffing for binary.
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if b"\x00" in data[:8192] and not utf16:
        raise LoadError("binary file (not text)")
    try:
        text = data.decode("utf-16") if utf16 else data.removeprefix(codecs.BOM_UTF8).decode()
    except UnicodeDecodeError:
        if utf16:
            raise LoadError("binary file (not text)") from None
        text = _decode_legacy(data)
    if (nul := text.find("\x00")) >= 0:  # binary data further in than the first sniff
        raise LoadError(f"binary file (not text): a NUL byte at character {nul:,}")
    text = _newlines(text)
    if not text.strip():
        raise LoadError("empty file")
    return text


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_legacy(data: bytes) -> str:
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise LoadError("binary file (not text)")
    # On short Western text charset-normalizer cannot tell cp1252 from cp1250/cp1257 (equal
    # scores) and returns the first, turning "naïve" into "naďve". cp1252, a superset of
    # printable latin-1, is by far the likeliest undeclared encoding of news text: it wins ties.
    tied = (m for m in matches if m.encoding == "cp1252" and m.chaos <= best.chaos)
    return str(next((m for m in tied if m.coherence >= best.coherence), best))


# ------------------------------------------------------------------------------ text, markdown
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")
_ATX_HEADING = re.compile(r"\s*#[ \t]+([^\n]+?)(?:[ \t]+#+)?[ \t]*(?:\n|\Z)")


def _body_after(text: str) -> str:
    """``text`` without leading blank lines and trailing whitespace: still a substring."""
    return _LEADING_BLANK_LINES.sub("", text).rstrip()


def _humanise(stem: str) -> str:
    """'my-article_name' -> 'My article name'."""
    words = re.sub(r"[\s_-]+", " ", stem).strip()
    return words[:1].upper() + words[1:]


def _split_byline(line: str) -> tuple[str, str, dt.date] | None:
    """'By Ann Lee, Reuters - 6 Jan 2024' -> ('Reuters', 'Ann Lee', date); None without a date."""
    m = BYLINE_DATE.search(line)
    if m is None or len(line) > 200 or (published := parse_date(m["date"])) is None:
        return None
    prefix = _PUBLISHED_ON.sub("", line[: m.start()].rstrip()).rstrip()
    if _SENTENCE_END.search(prefix):
        return None
    separators = re.compile(r"\s*(?:[,|\u2014\u2013]|\s-\s)\s*")
    prefix = prefix.strip().rstrip(",|-\u2014\u2013").strip()
    if by := re.match(r"by\s+", prefix, re.IGNORECASE):
        parts = separators.split(prefix[by.end() :], maxsplit=1)
        return (parts[1] if len(parts) > 1 else "").strip(), parts[0].strip(), published
    return prefix, "", published


def _load_txt(path: Path, data: bytes) -> Loaded:
    text = _decode(data)
    first_line, _, rest = text.lstrip().partition("\n")
    byline, _, after_byline = rest.partition("\n")
    title, source, author, published, body = first_line.strip(), "", "", None, ""
    if parsed := _split_byline(byline):
        source, author, published = parsed
        body = _body_after(after_byline)
        if not body:
            raise LoadError("no article text after the headline and byline lines")
    elif len(title) < 200 and not title.endswith((".", ",", ";", ":")):  # looks like a headline
        body = _body_after(rest)
    if not body:  # no headline convention: the whole file is the article
        title, body = _humanise(path.stem), text.strip()
    return _single(
        Article.create(body, title=title, source=source, published=published, author=author)
    )


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split YAML front matter from the content: ``({}, text)`` when there is none."""
    import yaml
    from frontmatter.default_handlers import YAMLHandler

    handler = YAMLHandler()
    stripped = text.lstrip()
    if not handler.detect(stripped):
        return {}, text
    try:
        raw, content = handler.split(stripped)
    except ValueError:
        raise LoadError("front matter is not closed: add a '---' line after it") from None
    try:
        meta = handler.load(raw)
    except yaml.YAMLError as e:
        reason = f"invalid YAML front matter: {getattr(e, 'problem', None) or e}"
        if mark := getattr(e, "problem_mark", None):
            # The mark counts lines from the opening '---'; report the line in the file.
            skipped = text[: len(text) - len(stripped)].count("\n")
            reason += f" at line {skipped + mark.line + 1}"
        raise LoadError(reason) from e
    if not isinstance(meta, dict):  # empty front matter, or a '---' rule opening the text
        return {}, content if meta is None else text
    return meta, content


def _load_md(path: Path, data: bytes) -> Loaded:
    meta, content = _front_matter(_decode(data))
    title = _field(meta, "title")
    if not title and (heading := _ATX_HEADING.match(content)):
        title, content = heading[1], content[heading.end() :]
    body = content.strip()
    if not body:
        raise LoadError("no text after the front matter / heading")
    keys = ("published", "date", "published_at")
    article = Article.create(
        body,
        title=title or _humanise(path.stem),
        source=_field(meta, "source"),
        published=_first_date(meta, *keys),
        url=_field(meta, "url"),
        author=_field(meta, "author"),
    )
    note = _date_note(meta, keys)
    return Loaded((("", article),), notes=(note,) if note else ())


# ---------------------------------------------------------------------------------- json, jsonl
_NO_BODY = "record has no body/text/content"


def _field(record: Mapping[str, Any], *keys: str) -> str:
    """The first non-empty value under ``keys`` as text ({"name": ...} objects give the name)."""
    for key in keys:
        value = record.get(key)
        if isinstance(value, Mapping):
            value = value.get("name")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _first_date(record: Mapping[str, Any], *keys: str) -> dt.date | None:
    return next((d for k in keys if (d := parse_date(record.get(k))) is not None), None)


_RECORD_DATES = ("published_at", "published", "date")


def _date_note(record: object, keys: Sequence[str] = _RECORD_DATES) -> str | None:
    """Why a record that gives a date is stored without one, or None."""
    if not isinstance(record, Mapping) or _first_date(record, *keys) is not None:
        return None
    given = next(((k, record[k]) for k in keys if record.get(k) not in (None, "")), None)
    if given is None:
        return None
    key, value = given
    return (
        f"{key} {str(value)[:60]!r} is not a date this reader understands: the article is "
        f"stored without a date (write it as YYYY-MM-DD)"
    )


def _record_article(record: object) -> Article | str:
    """An Article from one JSON record, or the problem that keeps it from being one."""
    if not isinstance(record, dict):
        return f"record is {type(record).__name__}, not an object"
    body = _field(record, "body", "text", "content")
    if not body:
        return _NO_BODY
    return Article.create(
        _newlines(body),
        title=_field(record, "title"),
        source=_field(record, "source"),
        published=_first_date(record, *_RECORD_DATES),
        url=_field(record, "url"),
        author=_field(record, "author"),
    )


def _records(
    numbered: Sequence[tuple[int, Article | str]], label: str, records: Sequence[object] = ()
) -> Loaded:
    """Key the articles of a multi-record file; LoadError when none survived.

    ``records`` are the parsed records in the order of ``numbered``, for their notes.
    """
    problems = tuple(f"{label} {n}: {r}" for n, r in numbered if isinstance(r, str))
    found = [(n, r) for n, r in numbered if isinstance(r, Article)]
    if not found:
        if not problems:
            raise LoadError("no records (empty list)")
        if all(p.endswith(_NO_BODY) for p in problems):
            raise LoadError("no records with a body/text/content field")
        more = "; ..." if len(problems) > 1 else ""
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise LoadError(f"no valid records ({count}: {problems[0]}{more})")
    urls = Counter(a.url for _, a in found if a.url)
    keyed = tuple(
        ((a.url if urls[a.url] == 1 else f"{a.url}#{n}") if a.url else f"{label}-{n}", a)
        for n, a in found
    )
    notes = tuple(
        f"{label} {n}: {note}"
        for (n, article), record in zip(numbered, records, strict=False)
        if isinstance(article, Article) and (note := _date_note(record))
    )
    return Loaded(keyed, problems, notes)


def _load_jsonl(path: Path, data: bytes) -> Loaded:
    numbered: list[tuple[int, Article | str]] = []
    records: list[object] = []
    # split("\n"), not splitlines(): U+2028 and friends may sit raw inside JSON strings.
    for n, line in enumerate(_decode(data).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as e:
            numbered.append((n, f"invalid JSON ({getattr(e, 'msg', None) or e})"))
            records.append(None)
        else:
            numbered.append((n, _record_article(record)))
            records.append(record)
    return _records(numbered, "line", records)


def _load_json(path: Path, data: bytes) -> Loaded:
    try:
        doc = json.loads(_decode(data))
    except json.JSONDecodeError as e:
        raise LoadError(f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    except RecursionError as e:
        raise LoadError("invalid JSON: nested too deeply") from e
    if isinstance(doc, dict):
        keys = ("articles", "data", "records", "items")
        lists = [doc[k] for k in keys if isinstance(doc.get(k), list)]
        if not lists:  # the object is the one record
            article = _record_article(doc)
            if isinstance(article, str):
                raise LoadError(f"{article} field")
            note = _date_note(doc)
            return Loaded((("", article),), notes=(note,) if note else ())
        doc = lists[0]
    if not isinstance(doc, list):
        raise LoadError(
            f"JSON holds a {type(doc).__name__}; expected a list of records or an object"
        )
    numbered = [(n, _record_article(r)) for n, r in enumerate(doc, start=1)]
    return _records(numbered, "item", doc)


# ----------------------------------------------------------------------------------------- html
def _load_html(path: Path, data: bytes) -> Loaded:
    import trafilatura
    from bs4 import BeautifulSoup, Tag

    html = _decode(data)
    soup = BeautifulSoup(html, "lxml")

    def meta(*keys: str) -> str:
        for key in keys:
            for attr in ("property", "name", "itemprop"):
                tag = soup.find("meta", attrs={attr: re.compile(f"^{re.escape(key)}$", re.I)})
                if isinstance(tag, Tag) and (content := tag.get("content")):
                    return str(content).strip()
        return ""

    def first(name: str, attr: str | None = None) -> str:
        tag = soup.find(name, attrs={attr: True} if attr else {})
        if not isinstance(tag, Tag):
            return ""
        return str(tag.get(attr) or "").strip() if attr else tag.get_text(" ", strip=True)

    try:
        # Text only: no url, so nothing is fetched; reader comments are not the article.
        doc = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False)
    except Exception:  # a best-effort extractor: on any failure fall back to BeautifulSoup
        doc = None
    found: dict[str, Any] = doc if isinstance(doc, dict) else doc.as_dict() if doc else {}
    text = (found.get("text") or "").strip() or _visible_text(soup)
    if not text:
        raise LoadError("HTML has no visible text")
    canonical = soup.find("link", rel="canonical")
    return _single(
        Article.create(
            text,
            title=meta("og:title") or found.get("title") or first("title") or first("h1"),
            source=meta("og:site_name", "publisher", "source") or found.get("sitename") or "",
            published=parse_date(meta("article:published_time", "date", "datePublished"))
            or parse_date(first("time", "datetime"))
            or parse_date(found.get("date")),
            url=meta("og:url")
            or (str(canonical.get("href") or "") if isinstance(canonical, Tag) else "")
            or found.get("url")
            or "",
            author=meta("author") or found.get("author") or "",
        )
    )


def _visible_text(soup: Any) -> str:
    """The visible text of <article>, <main> or <body>, one block per line."""
    for junk in soup(["script", "style", "noscript", "template", "nav", "footer"]):
        junk.decompose()
    root = soup.find("article") or soup.find("main") or soup.find("body") or soup
    lines = (line.strip() for line in root.get_text("\n").split("\n"))
    return "\n".join(line for line in lines if line)


# ------------------------------------------------------------------------------------------ pdf
_PLACEHOLDERS = {"", "untitled", "anonymous", "unknown", "unspecified"}  # reportlab's defaults


def _load_pdf(path: Path, data: bytes) -> Loaded:
    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        # Many PDFs are "encrypted" with an empty user password only to restrict editing.
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("encrypted PDF: it needs a password; save an unencrypted copy")
        pages, info = list(reader.pages), reader.metadata
        title, author = (info.title, info.author) if info else (None, None)
        created = info.creation_date_raw if info else None
    except LoadError:
        raise
    except Exception as e:  # pypdf raises many exception types on malformed files
        # AES-encrypted files need the optional 'cryptography' package even to try a password.
        what = "encrypted PDF" if isinstance(e, pypdf.errors.DependencyError) else "broken PDF"
        raise LoadError(f"{what} ({type(e).__name__}: {e})") from e
    texts: list[str] = []
    problems: list[str] = []
    for n, page in enumerate(pages, start=1):
        try:
            texts.append(_newlines(page.extract_text() or "").strip())
        except Exception as e:  # one broken page should not lose the others
            problems.append(f"page {n}: cannot extract text ({e})")
    text = "\n\n".join(t for t in texts if t)
    if not text:
        raise LoadError("PDF has no extractable text (scanned? run OCR first)")
    title, author = (str(v or "").strip() for v in (title, author))
    article = Article.create(
        text,
        title=title if title.lower() not in _PLACEHOLDERS else text.split("\n", 1)[0].strip(),
        author=author if author.lower() not in _PLACEHOLDERS else "",
        published=parse_date(created),
    )
    return Loaded((("", article),), tuple(problems))


def _single(article: Article) -> Loaded:
    return Loaded((("", article),))


# The built-in loaders; a loader registered by the user for the same suffix wins.
for _read, _suffixes in (
    (_load_txt, (".txt",)),
    (_load_md, (".md", ".markdown")),
    (_load_html, (".html", ".htm")),
    (_load_json, (".json",)),
    (_load_jsonl, (".jsonl",)),
    (_load_pdf, (".pdf",)),
):
    register_loader(*_suffixes, replace=False)(FunctionLoader(_read))

# The suffixes registered when this module loaded; supported_suffixes() also sees later ones.
SUPPORTED_SUFFIXES: tuple[str, ...] = supported_suffixes()
