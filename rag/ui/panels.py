"""HTML for the panels around the chat: status, filters, upload reports, the library, the
article view. Every string from an article or a user is escaped here or in :mod:`.render`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import rag
from rag.dates import parse_date

from .render import day, esc, long_day, plural, read_href, safe_url, text_html

# -- status, filters ----------------------------------------------------------------------------


def ago(moment: dt.datetime, now: dt.datetime | None = None) -> str:
    """``just now``, ``5 min ago``, ``3 h ago``, ``2 days ago``."""
    now = now or dt.datetime.now(dt.UTC)
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return plural(seconds // 86400, "day") + " ago"


def moment_html(raw: str, now: dt.datetime | None = None) -> str:
    """An ISO timestamp as "5 min ago" with the exact time on hover; "never" when empty."""
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        return "never"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    exact = moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f'<time datetime="{esc(raw)}" title="{esc(exact)}">{ago(moment, now)}</time>'


def status_html(stats: dict[str, Any] | None, error: str = "") -> str:
    """Articles, passages and last sync, in one line (the exact time on hover)."""
    if error:
        return f'<p class="status">Index unavailable: {esc(error)}</p>'
    if not stats or not stats.get("articles"):
        return '<p class="status">No articles indexed yet: add some below, or run `rag ingest`.</p>'
    synced = moment_html(str(stats.get("last_sync") or ""))
    return (
        f'<p class="status"><b>{plural(int(stats["articles"]), "article")}</b> · '
        f"<b>{plural(int(stats.get('chunks', 0)), 'passage')}</b> · last sync {synced}</p>"
        f"{date_facets_html(stats)}"
    )


def date_facets_html(stats: dict[str, Any]) -> str:
    """The span of publication dates and the articles per month (what `rag stats` shows),
    newest month first, each with a bar scaled to the busiest month."""
    first, last = stats.get("first_published") or "", stats.get("last_published") or ""
    months: dict[str, int] = stats.get("per_month") or {}
    if not first or not months:
        return ""
    top = max(months.values())
    rows = "".join(
        f'<tr><th scope="row">{esc(month)}</th><td class="num">{count:,}</td>'
        f'<td><span class="month-bar" style="width: {100 * count / top:.0f}%"></span></td></tr>'
        for month, count in sorted(months.items(), reverse=True)
    )
    span = esc(first) if first == last else f"{esc(first)} to {esc(last)}"
    undated = int(stats.get("articles") or 0) - sum(months.values())
    note = f" ({plural(undated, 'article')} without a date)" if undated > 0 else ""
    return (
        f'<details class="date-facets"><summary>Published {span}{note}</summary>'
        '<table class="per-month"><thead><tr><th scope="col">Month</th>'
        '<th scope="col">Articles</th><th scope="col"><span class="sr-only">share</span></th>'
        f"</tr></thead><tbody>{rows}</tbody></table></details>"
    )


def parse_day(value: str | None, label: str) -> tuple[str, str]:
    """(YYYY-MM-DD or "", error or "") for a date typed into a filter box."""
    text = (value or "").strip()
    if not text:
        return "", ""
    parsed = parse_date(text)
    if parsed is None:
        return "", (
            f"{label}: “{text}” is not a date. "
            "Use 2024-06-01, 01/06/2024 (day first) or 1 June 2024."
        )
    return parsed.isoformat(), ""


def filter_chips(filters: dict[str, Any] | None, titles: dict[str, str] | None = None) -> str:
    """The filters in force, as chips next to the question box (empty when none)."""
    if not filters:
        return ""
    chips: list[str] = []
    for name in filters.get("source") or ():
        chips.append(f"outlet: {esc(name)}")
    if filters.get("since"):
        chips.append(f"from {esc(long_day(dt.date.fromisoformat(filters['since'])))}")
    if filters.get("until"):
        chips.append(f"until {esc(long_day(dt.date.fromisoformat(filters['until'])))}")
    if filters.get("as_of"):
        chips.append(f"as of {esc(long_day(dt.date.fromisoformat(filters['as_of'])))}")
    docs = filters.get("doc_id") or ()
    if docs:
        names = [titles.get(d, d) for d in docs] if titles else list(docs)
        tip = "; ".join(names)
        chips.append(f'<span title="{esc(tip)}">only {plural(len(docs), "article")}</span>')
    items = "".join(f'<span class="chip">{c}</span>' for c in chips)
    return f'<div class="chips" aria-label="active filters">Filters: {items}</div>'


def date_help(newest: dt.date | None) -> str:
    if newest is None:
        return ""
    return f"Newest article: {long_day(newest)} ({newest.isoformat()})."


# -- uploads ------------------------------------------------------------------------------------


def _relative(path: str, folder: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(folder.resolve()))
    except ValueError:
        return Path(path).name


def ingest_report_html(
    report: rag.IngestReport | None,
    rejected: Sequence[tuple[str, str]],
    folder: Path,
    renamed: Sequence[tuple[str, str]] = (),
    duplicates: Sequence[tuple[str, str]] = (),
    error: str = "",
) -> str:
    """What one upload did (counted over the uploaded files only), with every file left out."""
    parts: list[str] = []
    if error:
        parts.append(f'<p class="error-note">Indexing failed: {esc(error)}</p>')
    if report is not None:
        parts.append(_counts_html(report))
    if duplicates:
        items = "".join(
            f"<li><code>{esc(name)}</code>: already in the library as “{esc(title)}”; "
            "nothing new was added</li>"
            for name, title in duplicates
        )
        parts.append(f'<ul class="duplicates">{items}</ul>')
    if renamed:
        items = "".join(
            f"<li><code>{esc(a)}</code> saved as <code>{esc(b)}</code>: an upload of that "
            f"name already holds another file</li>"
            for a, b in renamed
        )
        parts.append(f'<ul class="renamed">{items}</ul>')
    skipped = list(rejected)
    if report is not None:
        skipped += [(_relative(path, folder), reason) for path, reason in report.skipped]
    if skipped:
        items = "".join(f"<li><code>{esc(p)}</code>: {esc(r)}</li>" for p, r in skipped)
        parts.append(f'<p>Not added (the file was not kept):</p><ul class="skipped">{items}</ul>')
    return "".join(parts)


# -- feeds and URLs ------------------------------------------------------------------------------


def feeds_html(feeds: Sequence[dict[str, Any]], now: dt.datetime | None = None) -> str:
    """The feed subscriptions: name, address, last fetch (the exact time on hover), error."""
    if not feeds:
        return (
            '<p class="feeds-empty">No feed subscriptions yet: add a feed\'s URL above, '
            "or run <code>rag feeds add URL</code>.</p>"
        )
    rows = []
    for f in feeds:
        fetched = moment_html(str(f.get("last_fetch") or ""), now)
        url = str(f.get("url") or "")
        link = safe_url(url)
        shown = (
            f'<a href="{esc(link)}" target="_blank" rel="noopener noreferrer">{esc(url)}</a>'
            if link
            else esc(url)
        )
        error = str(f.get("last_error") or "")
        state = f'<span class="feed-error" role="alert">{esc(error)}</span>' if error else "ok"
        rows.append(
            f'<tr><td class="feed-name">{esc(f.get("name") or url)}</td>'
            f'<td class="feed-url">{shown}</td><td>{fetched}</td><td>{state}</td></tr>'
        )
    return (
        f'<table class="feeds"><caption>{plural(len(feeds), "feed subscription")}</caption>'
        '<thead><tr><th scope="col">Feed</th><th scope="col">Address</th>'
        '<th scope="col">Last fetch</th><th scope="col">Last error</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def url_report_html(
    report: rag.IngestReport | None, subscribed: dict[str, Any] | None = None, error: str = ""
) -> str:
    """What adding a URL (or fetching the feeds) did: the subscription, the counts, and every
    page or feed that failed with its reason (nothing stored was touched by those)."""
    parts: list[str] = []
    if error:
        parts.append(f'<p class="error-note" role="alert">Not added: {esc(error)}</p>')
    if subscribed:
        parts.append(f"<p>Subscribed to <b>{esc(subscribed.get('name') or '')}</b>.</p>")
    if report is not None:
        parts.append(_counts_html(report, unchanged=True))
        if report.skipped:
            items = "".join(f"<li><code>{esc(u)}</code>: {esc(r)}</li>" for u, r in report.skipped)
            parts.append(f'<p>Not added:</p><ul class="skipped">{items}</ul>')
        if report.notes:
            items = "".join(f"<li><code>{esc(u)}</code>: {esc(r)}</li>" for u, r in report.notes)
            parts.append(f'<ul class="notes">{items}</ul>')
    return "".join(parts)


def _counts_html(report: rag.IngestReport, unchanged: bool = False) -> str:
    """The counts line ("2 articles added, 1 updated"; with ``unchanged``, those already in)."""
    counts = [f"{plural(len(report.added), 'article')} added"]
    if report.updated:
        counts.append(f"{len(report.updated)} updated")
    if unchanged and report.unchanged:
        counts.append(f"{len(report.unchanged)} already in the library")
    return f"<p>{', '.join(counts)}.</p>"


def feed_choices(feeds: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """(label, url) of each subscription, for the Remove list."""
    return [(f"{f.get('name') or f['url']} ({f['url']})", str(f["url"])) for f in feeds]


# -- library and article view -------------------------------------------------------------------


def library_html(page: rag.ArticlePage, selected: Sequence[str] = ()) -> str:
    """The page of articles as a table with a checkbox per row (all text escaped)."""
    if not page.items:
        return '<p class="library-empty">No articles match.</p>'
    picked = set(selected)
    rows = []
    for a in page.items:
        check = " checked" if a.doc_id in picked else ""
        origin = ", ".join(a.origins) or "—"
        title = esc(a.title or "Untitled article")
        rows.append(
            f'<tr data-doc="{esc(a.doc_id)}">'
            f'<td><input type="checkbox" class="pick" value="{esc(a.doc_id)}"{check} '
            f'aria-label="select {title}"></td>'
            f'<td class="lib-title"><a class="read-article" '
            f'href="{esc(read_href(a.doc_id, [], (0, 0)))}">{title}</a></td>'
            f"<td>{esc(a.source)}</td><td>{esc(day(a.published))}</td>"
            f'<td class="num">{a.passages}</td><td class="origin">{esc(origin)}</td></tr>'
        )
    first = (page.page - 1) * page.page_size + 1
    last = first + len(page.items) - 1
    caption = (
        f"{first:,}–{last:,} of {plural(page.total, 'article')} · page {page.page} of {page.pages}"
    )
    return (
        f'<table class="library"><caption>{caption}</caption><thead><tr>'
        '<th scope="col"><span class="sr-only">select</span></th><th scope="col">Title</th>'
        '<th scope="col">Outlet</th><th scope="col">Date</th><th scope="col">Passages</th>'
        '<th scope="col">Origin</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def deletion_html(results: Sequence[rag.Deletion]) -> str:
    items = []
    for d in results:
        line = f"Deleted “{esc(d.title or d.doc_id)}”."
        if d.removed_files:
            line += f" Its upload {esc(', '.join(d.removed_files))} was deleted too."
        if d.kept_files:
            line += (
                f" The file {esc(', '.join(d.kept_files))} is still there, so the next sync "
                "of its folder (`rag ingest`) brings it back; delete or move the file to keep "
                "it out."
            )
        items.append(f"<li>{line}</li>")
    return f'<ul class="deleted">{"".join(items)}</ul>'


def article_html(article: rag.Article, spans: Sequence[tuple[int, int]], active: int) -> str:
    """The whole article with every cited span highlighted; span ``active`` is the one to show."""
    text = article.text
    good = sorted(
        {(a, b) for a, b in spans if 0 <= a < b <= len(text)}, key=lambda s: (s[0], -s[1])
    )
    wanted = spans[active] if 0 <= active < len(spans) else None
    out: list[str] = []
    pos = 0
    for a, b in good:
        if a < pos:
            continue  # overlaps the one before: shown inside it
        cls = "cited active" if (a, b) == wanted else "cited"
        out.append(text_html(text[pos:a]))
        out.append(f'<mark class="{cls}">{text_html(text[a:b])}</mark>')
        pos = b
    out.append(text_html(text[pos:]))
    meta = " · ".join(esc(x) for x in (article.source, day(article.published), article.author) if x)
    url = safe_url(article.url)
    link = (
        f' · <a href="{esc(url)}" target="_blank" rel="noopener noreferrer">open original</a>'
        if url
        else ""
    )
    count = f" · {plural(len(good), 'cited quote')} highlighted" if good else ""
    return (
        f'<article class="article-view"><h3>{esc(article.title or "Untitled article")}</h3>'
        f'<p class="src-meta">{meta}{link}{count}</p>'
        f'<div class="article-body">{"".join(out)}</div></article>'
    )
