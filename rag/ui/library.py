"""The handlers of the panels around the chat: uploads, the index status, the library (list,
search, ask only these, delete) and the article view."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import gradio as gr

import rag
from rag.config import Settings
from rag.feeds import NotAFeedError, is_url
from rag.uploads import UploadError, safe_filename, save_upload, uploads_dir

from . import panels, render

LIBRARY_PAGE = 15


class Library:
    """Uploads, status, the library and the article view, bound to one Settings value."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -- uploads ------------------------------------------------------------------------------

    def upload(
        self,
        files: list[str] | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[None, str, str, Any]:
        """Save uploads under corpus/uploads, index just those files, and report on them.

        A file that is not added (empty, unsupported, unreadable) is not kept, so it is not
        reported again by later uploads or syncs.
        """
        folder = uploads_dir(self.settings)
        rejected: list[tuple[str, str]] = []
        renamed: list[tuple[str, str]] = []  # (uploaded name, name saved under)
        saved: dict[Path, str] = {}  # saved path -> uploaded name
        before = set(folder.iterdir()) if folder.is_dir() else set()
        existed: set[Path] = set()  # the same file uploaded again: it kept its old name
        paths = files or []
        for i, path in enumerate(paths):
            progress((i, len(paths) + 1), desc="Saving files")
            name = Path(path).name
            try:
                target = save_upload(path, name, folder, self.settings.upload_max_mb)
            except (UploadError, OSError) as exc:
                rejected.append((name, str(exc)))
                continue
            if target in saved:
                continue
            if target in {b.resolve() for b in before}:
                existed.add(target)
            saved[target] = name
            if target.name != safe_filename(name):
                renamed.append((name, target.name))
        report: rag.IngestReport | None = None
        error = ""
        duplicates: list[tuple[str, str]] = []
        if saved:
            progress((len(paths), len(paths) + 1), desc="Indexing")
            try:
                report = rag.ingest(list(saved), settings=self.settings)
            except rag.RagError as exc:
                error = str(exc)
            if report is not None:
                bad = {str(Path(p).resolve()) for p, _ in report.skipped}
                for target in saved:
                    if str(target.resolve()) in bad and target not in existed:
                        with contextlib.suppress(OSError):
                            target.unlink()
                for doc in report.unchanged:
                    try:
                        title = rag.get_article(doc, settings=self.settings).title
                    except rag.RagError:
                        title = doc
                    duplicates.append(("", title))
        result = panels.ingest_report_html(report, rejected, folder, renamed, duplicates, error)
        choices = rag.outlets(settings=self.settings)
        return None, self.status(), result, gr.update(choices=choices)

    # -- feeds and article URLs ---------------------------------------------------------------

    def feeds(self) -> tuple[str, Any]:
        """The subscriptions table and the choices of the Remove list."""
        try:
            subs = rag.list_feeds(settings=self.settings)
        except rag.RagError as exc:
            return render.error_html(exc), gr.update(choices=[], value=None)
        return panels.feeds_html(subs), gr.update(choices=panels.feed_choices(subs), value=None)

    def add_url(
        self,
        url: str,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, str, str, Any, str, Any]:
        """A feed's URL is subscribed to and fetched; an article's page is fetched and indexed.

        (the URL box, the report, the status, the outlets, the feeds table, the Remove list);
        the box keeps the URL when nothing was added, so it can be corrected.
        """
        url = (url or "").strip()
        if not url:
            raise gr.Error("Paste the address of a feed or an article first (https://…).")
        if not is_url(url):
            raise gr.Error(
                f"“{url}” is not a web address: give the whole URL, starting with https:// "
                "(e.g. https://example.com/rss.xml)."
            )
        subscribed: dict[str, Any] | None = None
        report: rag.IngestReport | None = None
        error = ""
        try:
            progress(0.1, desc="Checking the address")
            try:
                subscribed = rag.add_feed(url, settings=self.settings)
            except NotAFeedError:  # a page, not a feed: indexed as an article
                progress(0.4, desc="Reading the article")
                report = rag.ingest([url], settings=self.settings)
            else:
                progress(0.4, desc="Fetching the feed's articles")
                report = rag.sync_feeds(settings=self.settings)
        except rag.RagError as exc:
            error = str(exc)
        added = bool(subscribed) or bool(report and (report.added or report.updated))
        table, choices = self.feeds()
        return (
            "" if added else url,
            panels.url_report_html(report, subscribed, error),
            self.status(),
            gr.update(choices=rag.outlets(settings=self.settings)),
            table,
            choices,
        )

    def remove_feed(self, url: str | None) -> tuple[str, str, Any]:
        """Unsubscribe from the chosen feed; its articles stay in the library."""
        if not url:
            raise gr.Error("Choose the subscription to remove first.")
        try:
            gone = rag.remove_feed(url, settings=self.settings)
        except rag.RagError as exc:
            raise gr.Error(str(exc)) from None
        note = (
            f"<p>Unsubscribed from {render.esc(gone.get('name') or url)}. Its articles stay in "
            "the library (delete them there).</p>"
        )
        table, choices = self.feeds()
        return note, table, choices

    def sync_feeds(self) -> tuple[str, str, Any, str, Any]:
        """Fetch every subscription once (what `rag ingest --feeds` does)."""
        report: rag.IngestReport | None = None
        error = ""
        try:
            report = rag.sync_feeds(settings=self.settings)
        except rag.RagError as exc:
            error = str(exc)
        table, choices = self.feeds()
        outlets = gr.update(choices=rag.outlets(settings=self.settings))
        return panels.url_report_html(report, None, error), self.status(), outlets, table, choices

    # -- status -------------------------------------------------------------------------------

    def status(self) -> str:
        try:
            return panels.status_html(rag.stats(settings=self.settings))
        except rag.RagError as exc:
            return panels.status_html(None, str(exc))

    def newest(self) -> str:
        page = rag.articles(page=1, page_size=1, settings=self.settings)
        return panels.date_help(page.items[0].published if page.items else None)

    def refresh(self) -> tuple[str, Any, str]:
        """Index status, outlet choices and the newest article's date (on page load)."""
        return self.status(), gr.update(choices=rag.outlets(settings=self.settings)), self.newest()

    # -- library ------------------------------------------------------------------------------

    def library(self, query: str, page: float | None) -> tuple[str, int, Any, Any]:
        """The library's table for ``query`` at ``page``, and the state of its page buttons."""
        try:
            found = rag.articles(
                query or "",
                page=max(1, int(page or 1)),
                page_size=LIBRARY_PAGE,
                settings=self.settings,
            )
        except rag.RagError as exc:
            return render.error_html(exc), 1, gr.update(), gr.update()
        return (
            panels.library_html(found),
            found.page,
            gr.update(interactive=found.page > 1),
            gr.update(interactive=found.page < found.pages),
        )

    def search_library(self, query: str) -> tuple[str, int, Any, Any]:
        return self.library(query, 1)

    def page_library(self, query: str, page: float, step: int) -> tuple[str, int, Any, Any]:
        return self.library(query, int(page or 1) + step)

    def ask_only(self, picked: str) -> tuple[list[str], Any, str]:
        """The checked articles become the "only these articles" filter."""
        docs = [d for d in (picked or "").split(",") if d]
        if not docs:
            raise gr.Error("Tick the articles to ask about first.")
        note = (
            f"Questions now search only {render.plural(len(docs), 'article')}; "
            "clear the filter next to the question box to search everything again."
        )
        return docs, gr.update(selected="chat"), note

    def delete(
        self, picked: str, query: str, page: float, docs: list[str] | None
    ) -> tuple[str, str, int, Any, Any, str, Any, list[str]]:
        """Delete the checked articles and say whether a sync would bring each back."""
        ids = [d for d in (picked or "").split(",") if d]
        if not ids:
            raise gr.Error("Tick the articles to delete first.")
        done: list[rag.Deletion] = []
        problems: list[str] = []
        for doc in ids:
            try:
                done.append(rag.delete_article(doc, settings=self.settings))
            except rag.RagError as exc:
                problems.append(str(exc))
        note = panels.deletion_html(done) + "".join(
            f'<p class="error-note">{render.esc(p)}</p>' for p in problems
        )
        table, page_no, prev, nxt = self.library(query, page)
        remaining = [d for d in docs or [] if d not in set(ids)]
        outlets = gr.update(choices=rag.outlets(settings=self.settings))
        return note, table, page_no, prev, nxt, self.status(), outlets, remaining

    # -- article view -------------------------------------------------------------------------

    def open_article(self, request: str) -> tuple[str, Any]:
        """The article view for ``doc:spans:active:nonce`` (from a "read the article" link)."""
        parts = (request or "").split(":")
        if len(parts) < 3:
            return "", gr.update(visible=False)
        doc = unquote(parts[0])
        spans = [_span(s) for s in parts[1].split(",") if s]
        active = _span(parts[2])
        try:
            article = rag.get_article(doc, settings=self.settings)
        except rag.RagError as exc:
            return render.error_html(exc), gr.update(visible=True)
        where = spans.index(active) if active in spans else -1
        return panels.article_html(article, spans, where), gr.update(visible=True)

    @staticmethod
    def close_article() -> Any:
        return gr.update(visible=False)


def _span(text: str) -> tuple[int, int]:
    a, _, b = text.partition("-")
    try:
        return int(a), int(b)
    except ValueError:
        return 0, 0
