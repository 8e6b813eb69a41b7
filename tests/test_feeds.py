"""Feeds and article URLs against a real HTTP server on 127.0.0.1 that serves what each test wrote.

Real fetching (httpx), real feed parsing (feedparser), real extraction (trafilatura), a real
embedder and Chroma in a temporary folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Site

import rag
from rag.config import Settings
from rag.feeds import (
    FeedReader,
    add_feed,
    canonical_url,
    list_feeds,
    parse_every,
    remove_feed,
    watch,
)
from rag.fetching import Fetcher, FetchError, FetchPolicy, check_url
from rag.index import Index

LAUNCH = (
    "The Riverton Space Agency launched its first crewed capsule from the coastal pad at "
    "dawn on Tuesday. The capsule, named Heron, carried three astronauts into a low orbit "
    "where they will test docking equipment for a future station. Officials said the launch "
    "had been delayed twice by high winds and a faulty valve that engineers replaced last "
    "month. The mission commander, Ada Okafor, radioed that the crew was in good health."
)
FLOOD = (
    "Heavy rain flooded the lower districts of Marlow on Wednesday, closing the central "
    "bridge and forcing the evacuation of two schools. The city council said the river rose "
    "more than two metres in six hours, the fastest rise recorded since the flood barrier "
    "was built. Volunteers filled sandbags through the night while pumps were brought in "
    "from neighbouring towns. No injuries were reported, the fire service said."
)
FLOOD_UPDATE = FLOOD.replace("No injuries were reported", "Two people were treated for hypothermia")


def page(title: str, body: str, date: str = "2024-03-05", canonical: str = "") -> str:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    paragraphs = "".join(f"<p>{s.strip()}.</p>" for s in body.split(". ") if s.strip())
    return (
        f"<!doctype html><html><head><title>{title}</title>{link}"
        f'<meta property="og:title" content="{title}">'
        f'<meta property="og:site_name" content="Riverton Herald">'
        f'<meta property="article:published_time" content="{date}T08:00:00Z">'
        f"</head><body><nav><a href='/'>Home</a></nav><article><h1>{title}</h1>"
        f"{paragraphs}</article><footer>Contact us</footer></body></html>"
    )


def rss(items: list[tuple[str, str, str]], title: str = "Riverton Herald") -> str:
    """An RSS 2.0 feed of (title, link path, pubDate) items."""
    entries = "".join(
        f"<item><title>{t}</title><link>{link}</link><pubDate>{d}</pubDate>"
        f"<description>Summary of {t}.</description></item>"
        for t, link, d in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>http://example/</link><description>news</description>{entries}</channel></rss>"
    )


def fast_reader(index: Index, **policy: object) -> FeedReader:
    base = FetchPolicy(allow_private=True, host_delay=0.0, timeout=2.0, backoff=0.01)
    for key, value in policy.items():
        base = FetchPolicy(**{**base.__dict__, key: value})
    return FeedReader(index, Fetcher(base))


def stored(settings: Settings) -> list[rag.Article]:
    index = Index(settings)
    gen = index.active_generation()
    return [index.store.get_article(gen, d) for d in index.store.manifest(gen)]  # type: ignore[misc]


# ----------------------------------------------------------------------- no network needed
def test_only_http_and_public_addresses_by_default() -> None:
    for url in ("file:///etc/passwd", "ftp://example.com/x", "gopher://x"):
        with pytest.raises(FetchError, match="only http and https"):
            check_url(url)
    for url in (
        "http://127.0.0.1:8000/",
        "http://localhost/",
        "http://10.0.0.7/feed",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
    ):
        with pytest.raises(FetchError, match="private or local address"):
            check_url(url)
    assert check_url("http://127.0.0.1:8000/", allow_private=True)


def test_canonical_url_and_durations() -> None:
    assert (
        canonical_url("HTTP://News.Example/a?utm_source=x&id=3#top") == "http://news.example/a?id=3"
    )
    assert parse_every("15m") == 900 and parse_every("1h30m") == 5400 and parse_every("45") == 2700
    with pytest.raises(rag.RagError, match="duration"):
        parse_every("soon")


# ------------------------------------------------------------------ against the test server
def test_private_addresses_refused_unless_allowed(site: Site, settings: Settings) -> None:
    url = site.serve("/a.html", page("Heron launch", LAUNCH))
    report = rag.ingest(url, settings=settings)
    assert not report.added and "private or local address" in report.skipped[0][1]
    assert site.hits == {}, "nothing is requested from a refused address"


def test_article_url_then_feed_with_etag_and_update(site: Site, local: Settings) -> None:
    a = site.serve("/launch.html", page("Heron launch", LAUNCH), etag='"v1"')
    report = rag.ingest(a, settings=local)
    assert len(report.added) == 1, report
    (article,) = stored(local)
    assert article.title == "Heron launch" and article.source == "Riverton Herald"
    assert str(article.published) == "2024-03-05" and article.url == a
    assert "Ada Okafor" in article.text and "Contact us" not in article.text
    assert any("rag-news" in ua for ua in site.agents)

    site.serve("/flood.html", page("Marlow floods", FLOOD, "2024-03-06"), etag='"f1"')
    feed = site.serve(
        "/feed.xml",
        rss(
            [
                ("Heron launch", "/launch.html", "Tue, 05 Mar 2024 08:00:00 GMT"),
                ("Marlow floods", "/flood.html", "Wed, 06 Mar 2024 09:00:00 GMT"),
            ]
        ),
        content_type="application/rss+xml",
        etag='"feed1"',
    )
    report = rag.ingest(feed, settings=local)
    assert len(report.added) == 1, report  # the launch article is stored already
    assert site.hits["/launch.html"] == 1, "an article already stored is not fetched again"
    answer = rag.answer("Which bridge closed in Marlow?", settings=local)
    assert not answer.refused and "bridge" in answer.text

    # Subscribed: the pass sends the feed's ETag and gets 304, nothing is fetched or stored.
    idx = Index(local)
    reader = fast_reader(idx)
    add_feed(idx, feed, "herald", fetcher=reader.fetcher)
    first = reader.sync_feeds()
    assert not first.added and not first.updated
    second = reader.sync_feeds()
    assert not second.added and site.conditional.get("/feed.xml", 0) >= 1
    (sub,) = list_feeds(idx)
    assert sub["name"] == "herald" and sub["last_fetch"] and sub["last_error"] == ""

    # The flood article is edited: the feed says so (new date), the page has a new ETag.
    site.serve("/flood.html", page("Marlow floods", FLOOD_UPDATE, "2024-03-06"), etag='"f2"')
    site.serve(
        "/feed.xml",
        rss([("Marlow floods", "/flood.html", "Thu, 07 Mar 2024 10:00:00 GMT")]),
        content_type="application/rss+xml",
        etag='"feed2"',
    )
    third = fast_reader(Index(local)).sync_feeds()
    assert len(third.updated) == 1 and not third.added and not third.removed, third
    texts = [a.text for a in stored(local)]
    assert len(texts) == 2 and any("hypothermia" in t for t in texts)
    assert not any("No injuries" in t for t in texts), "the old version is replaced"

    assert remove_feed(idx, "herald")["url"] == feed and list_feeds(idx) == []


def test_bad_inputs_are_reported_and_touch_nothing(site: Site, local: Settings) -> None:
    good = site.serve("/launch.html", page("Heron launch", LAUNCH))
    rag.ingest(good, settings=local)
    before = {a.doc_id for a in stored(local)}
    nav = "<html><body><nav>" + "<a href='/x'>Section</a> " * 5 + "</nav></body></html>"
    cases = {
        site.base + "/missing.html": "HTTP 404",
        site.serve(
            "/broken.xml",
            "<rss version='2.0'><channel><item><title>x</ti",
            content_type="application/rss+xml",
        ): "malformed",
        site.serve("/empty.html", nav): "no article text",
        site.serve("/loop1", "", status=302, location="/loop2"): "redirect loop",
        site.serve("/huge.html", page("Huge", LAUNCH * 2000)): "limit",
        site.serve("/slow.html", page("Slow", LAUNCH), delay=2.0): "timed out",
        site.serve("/down.html", "oops", status=503): "HTTP 503",
        site.serve("/teapot.html", "no", status=418): "HTTP 418",
    }
    site.serve("/loop2", "", status=302, location="/loop1")
    reader = fast_reader(Index(local), max_bytes=200_000, timeout=0.5, retries=1)
    report = reader.ingest_urls(list(cases))
    reasons = dict(report.skipped)
    assert set(reasons) == set(cases), report.skipped
    for url, expected in cases.items():
        assert expected in reasons[url], (url, reasons[url])
    assert site.hits["/down.html"] == 2, "a 5xx is retried"
    assert site.hits["/teapot.html"] == 1, "a 4xx is not"
    assert not report.added and not report.updated and not report.removed
    assert {a.doc_id for a in stored(local)} == before

    # An HTML page is not a feed: subscribing to it says so and stores nothing.
    with pytest.raises(FetchError, match="HTML page, not an RSS or Atom feed"):
        add_feed(Index(local), good, fetcher=reader.fetcher)
    assert list_feeds(Index(local)) == []


def test_feed_item_kept_when_its_page_fails(site: Site, local: Settings) -> None:
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Marlow Gazette</title><id>urn:g</id><updated>2024-03-06T09:00:00Z</updated>"
        "<entry><title>Marlow bridge closed by flood</title><id>urn:1</id>"
        f'<link href="{site.base}/gone.html"/><updated>2024-03-06T09:00:00Z</updated>'
        "<summary>The central bridge in Marlow closed on Wednesday as the river rose two "
        "metres in six hours.</summary></entry></feed>"
    )
    feed = site.serve("/atom.xml", atom, content_type="application/atom+xml")
    report = rag.ingest(feed, settings=local)
    assert len(report.added) == 1 and "feed's summary" in report.notes[0][1]
    (article,) = stored(local)
    assert article.title == "Marlow bridge closed by flood"
    assert str(article.published) == "2024-03-06" and "two metres" in article.text
    assert article.source == "Marlow Gazette"


def test_a_file_listing_urls(site: Site, local: Settings, tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text(
        "# today's reading\n"
        + site.serve("/launch.html", page("Heron launch", LAUNCH))
        + "\n"
        + site.serve("/flood.html", page("Marlow floods", FLOOD))
        + "\n"
    )
    report = rag.ingest(str(listing), settings=local)
    assert len(report.added) == 2, report
    again = rag.ingest(str(listing), settings=local)
    assert not again.added and site.hits["/launch.html"] == 1


@pytest.mark.slow
def test_cli_feeds_and_watch(site: Site, local: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.cli import main

    site.serve("/launch.html", page("Heron launch", LAUNCH))
    feed = site.serve(
        "/feed.xml",
        rss([("Heron launch", "/launch.html", "Tue, 05 Mar 2024 08:00:00 GMT")]),
        content_type="application/rss+xml",
    )
    monkeypatch.setenv("RAG_FETCH_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("RAG_FETCH_DELAY", "0")
    index = ["--index", str(local.index_dir)]
    assert main([*index, "feeds", "add", feed, "--name", "herald"]) == 0
    assert main([*index, "feeds", "list"]) == 0
    assert main([*index, "watch", "--every", "1s", "--passes", "2"]) == 0
    (article,) = stored(local)
    assert article.title == "Heron launch"
    assert main([*index, "feeds", "remove", "herald"]) == 0
    assert main([*index, "feeds", "remove", "herald"]) == 2


def test_watch_passes_and_waits() -> None:
    waits: list[float] = []

    class Reader:
        _known = None
        passes = 0

        def sync_feeds(self) -> rag.IngestReport:
            Reader.passes += 1
            return rag.IngestReport()

    watch(Reader(), 60.0, passes=3, sleep=waits.append)  # type: ignore[arg-type]
    assert Reader.passes == 3 and len(waits) == 2 and all(55 < w <= 60 for w in waits)
