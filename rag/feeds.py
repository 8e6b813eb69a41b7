"""RSS 2.0 / Atom feeds and article URLs -> articles, synced like files.

What a URL gave is kept as a JSON-lines file of records under ``<index>/feeds/`` (one file per
feed, ``urls.jsonl`` for single article URLs) and that file is synced by the ordinary ingest
(``Index.ingest``): the manifest decides what is added, replaced or left alone, so a feed
article is stored once, an updated page replaces its old version, and a failed fetch
changes nothing stored. Records are keyed by the article's canonical URL.

Subscriptions live in the index's shared state (in Chroma), so every client of a Chroma
server sees the same list; each remembers its last fetch, its error and its ETag.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .dates import parse_date
from .errors import ConfigError
from .fetching import Fetcher, FetchError, FetchPolicy, Response
from .files import write_atomically
from .types import IngestReport

if TYPE_CHECKING:
    from .config import Settings
    from .index import Index

# Less text than this after extraction is a page without an article (an index, a paywall).
MIN_ARTICLE_CHARS = 200
URL_LIST_NAME = "urls.jsonl"
_URL = re.compile(r"^https?://\S+$", re.I)


def is_url(value: object) -> bool:
    return isinstance(value, str) and bool(re.match(r"^[a-z][a-z0-9+.-]*://", value, re.I))


def url_list(path: Path) -> list[str] | None:
    """The URLs of a text file that lists only URLs (one a line, ``#`` comments), else None."""
    if path.suffix.lower() not in (".txt", ".urls", ".list", "") or not path.is_file():
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    urls = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    return urls if urls and all(_URL.match(u) for u in urls) else None


def split_sources(paths: Any) -> tuple[list[str], Any]:
    """URLs (given, or listed in a file of URLs) apart from the other paths.

    The other paths come back in the form given (None when none were given at all).
    """
    if paths is None:
        return [], None
    items = [paths] if isinstance(paths, str | Path) else paths
    if not isinstance(items, Sequence) or isinstance(items, bytes):
        return [], paths
    urls: list[str] = []
    rest: list[Any] = []
    for item in items:
        if is_url(item):
            urls.append(str(item))
        elif isinstance(item, str | Path) and (listed := url_list(Path(item))) is not None:
            urls.extend(listed)
        else:
            rest.append(item)
    if not urls:
        return [], paths
    return urls, rest


def policy_from(settings: Settings) -> FetchPolicy:
    return FetchPolicy(
        timeout=settings.fetch_timeout,
        max_bytes=int(settings.fetch_max_mb * 1024 * 1024),
        host_delay=settings.fetch_delay,
        allow_private=settings.fetch_allow_private,
    )


# ---------------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class FeedItem:
    url: str
    title: str = ""
    summary: str = ""
    published: dt.date | None = None
    updated: str = ""  # the item's own updated stamp, to notice an edited article
    author: str = ""


@dataclass(frozen=True)
class Feed:
    url: str
    title: str
    items: tuple[FeedItem, ...]


class NotAFeedError(FetchError):
    """The URL answered, but with something that is not an RSS or Atom feed (an article
    page, perhaps: ``rag ingest URL`` reads it as one)."""


def _looks_like_html(body: bytes) -> bool:
    head = body[:2048].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:512]


def parse_feed(response: Response) -> Feed:
    """The feed in a response; FetchError when it is not an RSS or Atom feed."""
    import feedparser

    url = response.url
    parsed = feedparser.parse(response.body, response_headers={"content-location": url})
    version = str(parsed.get("version") or "")
    if not version:
        if _looks_like_html(response.body):
            raise NotAFeedError(url, "an HTML page, not an RSS or Atom feed")
        problem = parsed.get("bozo_exception")
        raise NotAFeedError(url, f"not an RSS or Atom feed (malformed XML: {problem})")
    items = []
    for entry in parsed.entries:
        link = str(entry.get("link") or "").strip()
        if not link:
            continue
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        summary = _html_text(str(entry.get("summary") or ""))
        items.append(
            FeedItem(
                url=urllib.parse.urljoin(url, link),
                title=str(entry.get("title") or "").strip(),
                summary=summary,
                published=dt.date(*stamp[:3]) if stamp else None,
                updated=str(entry.get("updated") or entry.get("published") or ""),
                author=str(entry.get("author") or "").strip(),
            )
        )
    if parsed.get("bozo") and not items:
        raise FetchError(url, f"malformed feed XML ({parsed.get('bozo_exception')})")
    return Feed(url=url, title=str(parsed.feed.get("title") or "").strip(), items=tuple(items))


def _html_text(html: str) -> str:
    if "<" not in html:
        return html.strip()
    from bs4 import BeautifulSoup

    return BeautifulSoup(html, "lxml").get_text(" ", strip=True)


def parse_article(response: Response, item: FeedItem | None = None) -> dict[str, Any]:
    """An article record (title, body, source, published_at, url, author) from a page."""
    import trafilatura
    from bs4 import BeautifulSoup, Tag

    url = response.url
    if not response.body.strip():
        raise FetchError(url, "empty page")
    html = response.body.decode(_charset(response.content_type), errors="replace")
    try:
        doc = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False, favor_precision=True
        )
    except Exception as exc:  # trafilatura fails on odd markup in many ways
        raise FetchError(url, f"no article text could be extracted ({exc})") from None
    found: dict[str, Any] = doc if isinstance(doc, dict) else doc.as_dict() if doc else {}
    text = str(found.get("text") or "").strip()
    if len(text) < MIN_ARTICLE_CHARS:
        raise FetchError(url, f"no article text on the page ({len(text)} characters extracted)")
    soup = BeautifulSoup(html, "lxml")
    canonical = soup.find("link", rel="canonical")
    href = str(canonical.get("href") or "") if isinstance(canonical, Tag) else ""

    def meta(key: str) -> str:
        tag = soup.find("meta", attrs={"property": key}) or soup.find("meta", attrs={"name": key})
        return str(tag.get("content") or "").strip() if isinstance(tag, Tag) else ""

    published = (
        parse_date(meta("article:published_time"))
        or parse_date(found.get("date"))
        or (item.published if item else None)
    )
    return {
        "title": meta("og:title") or found.get("title") or (item.title if item else ""),
        "body": text,
        "source": meta("og:site_name") or found.get("sitename") or _host(url),
        "published_at": published.isoformat() if published else "",
        "url": canonical_url(urllib.parse.urljoin(url, href) if href else meta("og:url") or url),
        "author": found.get("author") or (item.author if item else ""),
    }


def _charset(content_type: str) -> str:
    m = re.search(r"charset=([\w-]+)", content_type or "", re.I)
    return m[1] if m else "utf-8"


def _host(url: str) -> str:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host.removeprefix("www.")


_TRACKING = re.compile(r"^(?:utm_\w+|fbclid|gclid|mc_cid|mc_eid|ref|cmpid)$", re.I)


def canonical_url(url: str) -> str:
    """The URL without fragment and tracking parameters, host lower-cased."""
    parts = urllib.parse.urlsplit(url.strip())
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, True) if not _TRACKING.match(k)]
    return urllib.parse.urlunsplit(
        (
            parts.scheme.lower(),
            parts.netloc.lower(),
            parts.path or "/",
            urllib.parse.urlencode(query),
            "",
        )
    )


# ------------------------------------------------------------------------- records on disk
def _records_path(index_dir: Path, feed_url: str | None) -> Path:
    if feed_url is None:
        return index_dir / "feeds" / URL_LIST_NAME
    digest = hashlib.sha256(feed_url.encode()).hexdigest()[:16]
    return index_dir / "feeds" / f"feed-{digest}.jsonl"


def _read_records(path: Path) -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                records[record["url"]] = record
    return records


def _write_records(path: Path, records: dict[str, dict[str, Any]]) -> None:
    lines = [json.dumps(r, ensure_ascii=False, sort_keys=True) for r in records.values()]
    write_atomically(path, ("\n".join(lines) + "\n").encode("utf-8"))


def _body_hash(body: str) -> str:
    return hashlib.sha256(" ".join(body.split()).encode()).hexdigest()[:16]


@dataclass
class _Known:
    """Everything already fetched, across every records file: by item URL, canonical URL, text."""

    by_url: dict[str, dict[str, Any]]
    texts: set[str]

    @classmethod
    def load(cls, index_dir: Path) -> _Known:
        by_url: dict[str, dict[str, Any]] = {}
        texts: set[str] = set()
        for path in sorted((index_dir / "feeds").glob("*.jsonl")):
            for record in _read_records(path).values():
                by_url[record["url"]] = record
                by_url.setdefault(record.get("item_url") or record["url"], record)
                texts.add(_body_hash(record.get("body", "")))
        return cls(by_url, texts)


# ---------------------------------------------------------------------------------- syncing
@dataclass
class FetchResult:
    """What one URL (a feed or an article) gave: records to store and problems met."""

    records: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    notes: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    not_modified: bool = False
    etag: str = ""
    last_modified: str = ""
    title: str = ""
    is_feed: bool = False


class FeedReader:
    """Fetches feeds and pages for one index and syncs what they gave into it."""

    def __init__(self, index: Index, fetcher: Fetcher | None = None) -> None:
        self.index = index
        self.settings = index.settings
        self.fetcher = fetcher or Fetcher(policy_from(index.settings))
        self._known: _Known | None = None

    @property
    def known(self) -> _Known:
        if self._known is None:
            self._known = _Known.load(self.settings.index_dir)
        return self._known

    def _article(self, url: str, item: FeedItem | None, result: FetchResult) -> None:
        """Fetch one article page into ``result`` (feed item text when the page fails)."""
        old = self.known.by_url.get(url) or self.known.by_url.get(canonical_url(url))
        # Stored already, and the feed does not say it changed since: not fetched again.
        stamps = ("", item.updated) if item else ("",)
        fresh = item is None or (old or {}).get("item_updated", "") in stamps
        if old is not None and not old.get("summary_only") and fresh:
            return
        try:
            response = self.fetcher.get(
                url,
                etag=(old or {}).get("etag", ""),
                last_modified=(old or {}).get("last_modified", ""),
            )
            if response.not_modified:
                return
            record = parse_article(response, item)
        except FetchError as exc:
            if item is None or not (item.summary or item.title):
                result.skipped.append((url, exc.reason))
                return
            # The feed's own title, date and summary stand in until the page can be fetched.
            result.notes.append((url, f"{exc.reason}; stored the feed's summary instead"))
            published = item.published.isoformat() if item.published else ""
            record = {
                "title": item.title,
                "body": item.summary or item.title,
                "source": "",
                "published_at": published,
                "url": canonical_url(url),
                "author": item.author,
                "summary_only": True,
            }
        else:
            record["etag"], record["last_modified"] = response.etag, response.last_modified
        digest = _body_hash(record["body"])
        if digest in self.known.texts and not (old and old.get("url") == record["url"]):
            result.notes.append((url, "the same text is stored already; not stored again"))
            return
        record["item_url"] = url
        record["item_updated"] = item.updated if item else ""
        record["fetched_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        result.records[record["url"]] = record
        self.known.by_url[record["url"]] = self.known.by_url[url] = record
        self.known.texts.add(digest)

    def read_feed(self, url: str, etag: str = "", last_modified: str = "") -> FetchResult:
        result = FetchResult()
        response = self.fetcher.get(url, etag=etag, last_modified=last_modified)
        if response.not_modified:
            return FetchResult(not_modified=True, etag=etag, last_modified=last_modified)
        feed = parse_feed(response)
        result.etag, result.last_modified, result.title = (
            response.etag,
            response.last_modified,
            feed.title,
        )
        for item in feed.items:
            self._article(item.url, item, result)
            if item.url in {r.get("item_url") for r in result.records.values()}:
                record = next(r for r in result.records.values() if r["item_url"] == item.url)
                record["source"] = record["source"] or feed.title or _host(item.url)
        return result

    def _store(self, path: Path, result: FetchResult) -> IngestReport | None:
        """Merge new records into ``path`` and sync that file; None when nothing is new."""
        if not result.records:
            return None
        records = _read_records(path)
        for record in result.records.values():
            stale = [k for k, r in records.items() if r.get("item_url") == record["item_url"]]
            for k in stale:  # the page moved to a new canonical URL: its new version wins
                records.pop(k)
            records[record["url"]] = record
        _write_records(path, records)
        return self.index.ingest([path])

    # -- public entry points ---------------------------------------------------------------

    def ingest_urls(self, urls: Sequence[str]) -> IngestReport:
        """``rag ingest URL...``: each a feed (all its items) or an article page."""
        reports: list[IngestReport] = []
        skipped: list[tuple[str, str]] = []
        notes: list[tuple[str, str]] = []
        for url in urls:
            try:
                result = self._read_any(url)
            except FetchError as exc:
                skipped.append((url, exc.reason))
                continue
            skipped += result.skipped
            notes += result.notes
            path = _records_path(self.settings.index_dir, url if result.is_feed else None)
            if (report := self._store(path, result)) is not None:
                reports.append(report)
        return merge_reports(reports, skipped, notes, self.index.store.location)

    def _read_any(self, url: str) -> FetchResult:
        old = self.known.by_url.get(url) or self.known.by_url.get(canonical_url(url))
        if old is not None:  # an article stored already is not fetched again
            result = FetchResult()
            result.notes.append((url, f"stored already (fetched {old.get('fetched_at', '')})"))
            return result
        response = self.fetcher.get(url)
        try:
            feed = parse_feed(response)
        except FetchError as not_feed:
            head = response.body[:200].lstrip().lower()
            if "xml" in response.content_type or head.startswith((b"<?xml", b"<rss", b"<feed")):
                raise  # meant as a feed: its own problem is the reason
            result = FetchResult()
            try:
                record = parse_article(response)
            except FetchError as exc:
                reason = f"neither a feed nor an article page ({exc.reason})"
                raise FetchError(url, reason) from not_feed
            if _body_hash(record["body"]) in self.known.texts:
                result.notes.append((url, "the same text is stored already; not stored again"))
                return result
            record.update(
                item_url=url,
                etag=response.etag,
                last_modified=response.last_modified,
                fetched_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            )
            result.records[record["url"]] = record
            return result
        result = FetchResult(title=feed.title, is_feed=True)
        for item in feed.items:
            self._article(item.url, item, result)
        for record in result.records.values():
            record["source"] = record["source"] or feed.title or _host(record["url"])
        return result

    def sync_feeds(self, on_feed: Callable[[str, str], None] | None = None) -> IngestReport:
        """One pass over every subscription (``rag ingest --feeds``)."""
        reports: list[IngestReport] = []
        skipped: list[tuple[str, str]] = []
        notes: list[tuple[str, str]] = []
        for sub in list_feeds(self.index):
            url = sub["url"]
            status: dict[str, Any] = {"last_fetch": _now()}
            try:
                result = self.read_feed(url, sub.get("etag", ""), sub.get("last_modified", ""))
            except FetchError as exc:
                skipped.append((url, exc.reason))
                _update_feed(self.index, url, last_error=exc.reason, **status)
                if on_feed:
                    on_feed(url, f"error: {exc.reason}")
                continue
            skipped += result.skipped
            notes += result.notes
            report = self._store(_records_path(self.settings.index_dir, url), result)
            if report is not None:
                reports.append(report)
            new = len(report.added) + len(report.updated) if report else 0
            _update_feed(
                self.index,
                url,
                last_error="",
                etag=result.etag,
                last_modified=result.last_modified,
                title=sub.get("title") or result.title,
                **status,
            )
            if on_feed:
                said = "not modified" if result.not_modified else f"{new} new or updated"
                on_feed(url, said)
        return merge_reports(reports, skipped, notes, self.index.store.location)


def merge_reports(
    reports: Iterable[IngestReport],
    skipped: Sequence[tuple[str, str]],
    notes: Sequence[tuple[str, str]],
    location: str,
) -> IngestReport:
    reports = list(reports)

    def cat(name: str) -> tuple[Any, ...]:
        return tuple(x for r in reports for x in getattr(r, name))

    return IngestReport(
        added=cat("added"),
        updated=cat("updated"),
        removed=cat("removed"),
        unchanged=cat("unchanged"),
        skipped=(*cat("skipped"), *skipped),
        embedded=sum(r.embedded for r in reports),
        seconds=sum(r.seconds for r in reports),
        index_dir=location,
        notes=(*cat("notes"), *notes),
        checked=sum(r.checked for r in reports),
    )


# ---------------------------------------------------------------------------- subscriptions
def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def list_feeds(index: Index) -> list[dict[str, Any]]:
    """Every subscription: url, name, added, last_fetch, last_error."""
    feeds = index.store.state().get("feeds") or {}
    return [dict(v, url=k) for k, v in sorted(feeds.items())]


def _update_feed(index: Index, url: str, **changes: Any) -> None:
    feeds = dict(index.store.state().get("feeds") or {})
    if url in feeds:
        feeds[url] = {**feeds[url], **changes}
        index.store.set_state(feeds=feeds)


def add_feed(
    index: Index, url: str, name: str = "", *, fetcher: Fetcher | None = None
) -> dict[str, Any]:
    """Subscribe to ``url`` after checking that it is a feed (nothing is stored yet)."""
    url = url.strip()
    reader = FeedReader(index, fetcher)
    feed = parse_feed(reader.fetcher.get(url))
    feeds = dict(index.store.state().get("feeds") or {})
    entry = {
        "name": name or feed.title or _host(url),
        "title": feed.title,
        "added": _now(),
        "last_fetch": "",
        "last_error": "",
    }
    feeds[url] = {**entry, **{k: v for k, v in feeds.get(url, {}).items() if k != "name"}}
    feeds[url]["name"] = name or feeds[url].get("name") or entry["name"]
    index.store.set_state(feeds=feeds)
    return dict(feeds[url], url=url)


def remove_feed(index: Index, url_or_name: str) -> dict[str, Any]:
    """Unsubscribe (by URL or name); its articles stay until ``purge`` removes them."""
    feeds = dict(index.store.state().get("feeds") or {})
    key = url_or_name if url_or_name in feeds else None
    if key is None:
        key = next((u for u, v in feeds.items() if v.get("name") == url_or_name), None)
    if key is None:
        listing = ", ".join(sorted(feeds)) or "none"
        raise ConfigError(f"no subscription {url_or_name!r}; subscriptions: {listing}")
    removed = feeds.pop(key)
    index.store.set_state(feeds=feeds)
    return dict(removed, url=key)


def parse_every(text: str) -> float:
    """Seconds in ``15m``, ``1h``, ``90s``, ``2h30m`` (a bare number is minutes)."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text) * 60
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhd])", text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise ConfigError(f"--every {text!r}: use a duration such as 15m, 1h or 90s")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(n) * unit[u] for n, u in parts)


def watch(
    reader: FeedReader,
    every: float,
    *,
    passes: int | None = None,
    on_pass: Callable[[IngestReport], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Sync every subscription, then wait ``every`` seconds, until stopped (or ``passes``)."""
    done = 0
    while passes is None or done < passes:
        started = time.monotonic()
        reader._known = None  # another process may have fetched meanwhile
        report = reader.sync_feeds()
        if on_pass:
            on_pass(report)
        done += 1
        if passes is not None and done >= passes:
            break
        sleep(max(0.0, every - (time.monotonic() - started)))
